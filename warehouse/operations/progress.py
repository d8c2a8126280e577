"""Progress updates and notes: who may write them, the rules they must pass, the merge with the ETL's file.

A city manager (configured by $TSUNAGARI_MANAGER or secrets) updates the steps of their own city and adds
dated notes; each update is checked, appended to progress_event or note_event with the state it replaced,
and audited in the same transaction. current_progress merges these events with the warehouse's rows.
See docs/progress-updates.md.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from common.calendar import LOCAL_TZ, NendoMonth, parse_nendo_month
from common.roles import Viewer
from common.text import clean_text
from warehouse.operations.audit import append_audit
from warehouse.operations.store import (
    UTC_TYPE,
    iso_date,
    read_table,
    select_events,
    store_path,
    utc_now,
    utc_text,
    write_transaction,
)

MANAGER_ENV = "TSUNAGARI_MANAGER"
SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
NOTE_MAX_CHARS = 2_000
ACTIVE_STATUSES = ("in_progress", "done")
NOTE_KINDS = ("breakthrough", "issue", "change")

_MONTH = pl.Date
_UTC = UTC_TYPE
# A step's state as a manager sets it: the columns every progress schema below shares, in this order.
_STATE_SCHEMA: dict[str, pl.DataType] = {
    "status_code": pl.String,
    "start_label": pl.String,
    "start_month": _MONTH,
    "start_precision": pl.String,
    "end_label": pl.String,
    "end_month": _MONTH,
    "note": pl.String,
}
_STEP_SCHEMA: dict[str, pl.DataType] = {"city_code": pl.String, "step_code": pl.String, **_STATE_SCHEMA}
PROGRESS_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    **_STEP_SCHEMA,
    "changed_by": pl.String,
    "changed_at": _UTC,
    "previous_source": pl.String,
    "previous_event_id": pl.Int64,
    **{f"previous_{name}": dtype for name, dtype in _STATE_SCHEMA.items()},
}
NOTE_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "city_code": pl.String,
    "noted_on": pl.Date,
    "kind": pl.String,
    "text": pl.String,
    "changed_by": pl.String,
    "changed_at": _UTC,
}
CURRENT_SCHEMA: dict[str, pl.DataType] = {
    **_STEP_SCHEMA,
    "updated_by": pl.String,
    "updated_on": pl.Date,
    "updated_at": _UTC,
    "source": pl.String,
    "event_id": pl.Int64,
}
_BASELINE_SCHEMA: dict[str, pl.DataType] = {**_STEP_SCHEMA, "recorded_by": pl.String, "recorded_on": pl.Date}
_STATE = tuple(_STATE_SCHEMA)


# --- configuration -------------------------------------------------------------------------------


@cache
def _seed_codes(name: str) -> tuple[str, ...]:
    """Codes of one vocabulary seed (warehouse/seeds/<name>.csv), in file order."""
    with open(SEEDS_DIR / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return tuple(row["code"] for row in csv.DictReader(handle))


@dataclass(frozen=True)
class Manager:
    """The configured city manager: a department name and the one city it may update."""

    name: str
    city_code: str


class ManagerConfigError(ValueError):
    """A manager is configured but the setting cannot be used (code: format or unknown_city)."""

    def __init__(self, code: str, value: str) -> None:
        super().__init__(f"{code}: {value!r}")
        self.code = code
        self.value = value


def _manager(name: object, city: object, raw: str) -> Manager:
    """A Manager from configured name and city code, checked against the city seed."""
    name_text = str(name or "").strip()
    city_text = str(city or "").strip()
    if not name_text or not city_text:
        raise ManagerConfigError("format", raw)
    if city_text not in _seed_codes("city"):
        raise ManagerConfigError("unknown_city", city_text)
    return Manager(name_text, city_text)


def manager_from_config(environ: Mapping[str, str], secrets: Mapping | None = None) -> Manager | None:
    """Manager from $TSUNAGARI_MANAGER ("name:city_code") or secrets [manager] name/city; None if neither."""
    raw = environ.get(MANAGER_ENV, "").strip()
    if raw:
        name, separator, city = raw.rpartition(":")
        if not separator:
            raise ManagerConfigError("format", raw)
        return _manager(name, city, raw)
    section = secrets.get("manager") if secrets else None
    if not section:
        return None
    return _manager(section.get("name"), section.get("city"), str(dict(section)))


# --- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why a field was refused: a message code (catalogue key progress.error.<code>) and the value."""

    code: str
    value: str | None = None


class ValidationError(ValueError):
    """An update broke a rule; errors maps each refused field to its Problem. Nothing was written."""

    def __init__(self, errors: Mapping[str, Problem]) -> None:
        super().__init__("; ".join(f"{name}: {problem.code}" for name, problem in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class ProgressUpdate:
    """A manager's new state for one step of one city (labels as typed, e.g. "R7年度4月")."""

    city_code: str
    step_code: str
    status_code: str
    start_label: str | None = None
    end_label: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ProgressCheck:
    """Result of checking an update: field errors, and the parsed start and end months."""

    errors: dict[str, Problem] = field(default_factory=dict)
    start: NendoMonth | None = None
    end: NendoMonth | None = None


def _label(value: str | None) -> str | None:
    """A typed label trimmed; blank → None."""
    text = (value or "").strip()
    return text or None


def _month(value: str | None, name: str, errors: dict[str, Problem]) -> NendoMonth | None:
    """Parse a 年度 month with the ETL's parser; an unreadable label becomes an invalid_month error."""
    label = _label(value)
    try:
        return parse_nendo_month(label)
    except ValueError:
        errors[name] = Problem("invalid_month", label)
        return None


def check_progress(update: ProgressUpdate, today: dt.date) -> ProgressCheck:
    """Check an update against the rules (one error per field; today is the local date)."""
    errors: dict[str, Problem] = {}
    if update.step_code not in _seed_codes("pf_step"):
        errors["step"] = Problem("unknown_step", update.step_code)
    if update.status_code not in _seed_codes("pf_status"):
        errors["status"] = Problem("unknown_status", update.status_code)
    start = _month(update.start_label, "start", errors)
    end = _month(update.end_label, "end", errors)
    this_month = today.replace(day=1)
    active = update.status_code in ACTIVE_STATUSES
    if "start" not in errors:
        if active and start is None:
            errors["start"] = Problem("start_required")
        elif active and start is not None and start.month > this_month:
            errors["start"] = Problem("start_in_future", start.label)
    if "end" not in errors:
        if update.status_code == "done" and end is None:
            errors["end"] = Problem("end_required")
        elif end is not None and update.status_code != "done":
            errors["end"] = Problem("end_without_done", end.label)
        elif end is not None and start is not None and end.month < start.month:
            errors["end"] = Problem("end_before_start", end.label)
        elif end is not None and end.month > this_month:
            errors["end"] = Problem("end_in_future", end.label)
    note = clean_text(update.note)
    if note is not None and len(note) > NOTE_MAX_CHARS:
        errors["note"] = Problem("note_too_long", str(NOTE_MAX_CHARS))
    return ProgressCheck(errors, start, end)


@dataclass(frozen=True)
class NoteUpdate:
    """A dated note (breakthrough, issue or change) a manager adds for their city."""

    city_code: str
    noted_on: dt.date | None
    kind: str
    text: str | None


def check_note(note: NoteUpdate, today: dt.date) -> dict[str, Problem]:
    """Field errors of a note: known kind, a date not in the future, non-empty text within the limit."""
    errors: dict[str, Problem] = {}
    if note.kind not in NOTE_KINDS:
        errors["kind"] = Problem("unknown_kind", note.kind)
    if note.noted_on is None:
        errors["noted_on"] = Problem("date_required")
    elif note.noted_on > today:
        errors["noted_on"] = Problem("date_in_future", note.noted_on.isoformat())
    text = clean_text(note.text)
    if text is None:
        errors["text"] = Problem("text_required")
    elif len(text) > NOTE_MAX_CHARS:
        errors["text"] = Problem("note_too_long", str(NOTE_MAX_CHARS))
    return errors


# --- the merge rule ------------------------------------------------------------------------------


def current_progress(baseline: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Current state per (city, step): the later of the file's row (記入日) and the latest in-app event.

    The latest event of a (city, step) is the one with the highest event_id (append order). It
    replaces the file's row when its local date (Asia/Tokyo) is on or after the row's 記入日: a tie
    goes to the event, since a manager updating on the day of the file has seen it. A file row
    whose 記入日 is later than the event wins (a newer file was imported). Rows without a status
    (a city × step the file does not list) are not states.
    """
    key = ["city_code", "step_code"]
    from_file = baseline.filter(pl.col("status_code").is_not_null()).select(
        *key,
        *_STATE,
        pl.col("recorded_by").alias("updated_by"),
        pl.col("recorded_on").alias("updated_on"),
        pl.lit(None, _UTC).alias("updated_at"),
        pl.lit("file").alias("source"),
        pl.lit(None, pl.Int64).alias("event_id"),
        pl.lit(0).alias("_rank"),
    )
    from_app = (
        events.sort("event_id")
        .unique(subset=key, keep="last", maintain_order=True)
        .select(
            *key,
            *_STATE,
            pl.col("changed_by").alias("updated_by"),
            pl.col("changed_at").dt.convert_time_zone(LOCAL_TZ).dt.date().alias("updated_on"),
            pl.col("changed_at").alias("updated_at"),
            pl.lit("app").alias("source"),
            pl.col("event_id"),
            pl.lit(1).alias("_rank"),
        )
    )
    schema = {**CURRENT_SCHEMA, "_rank": pl.Int32}
    both = pl.concat([frame.cast(schema) for frame in (from_file, from_app)], how="vertical")
    return (
        both.sort(["updated_on", "_rank"], nulls_last=False, maintain_order=True)
        .unique(subset=key, keep="last", maintain_order=True)
        .select(list(CURRENT_SCHEMA))
        .sort(key)
    )


# --- the event tables ---------------------------------------------------------------------------


def read_progress_events(path: Path | None = None) -> pl.DataFrame:
    """Every progress event in append order, read on a read-only connection (empty before any write)."""
    return read_table("progress_event", PROGRESS_EVENT_SCHEMA, path)


def read_note_events(path: Path | None = None) -> pl.DataFrame:
    """Every note event in append order, read on a read-only connection (empty before any write)."""
    return read_table("note_event", NOTE_EVENT_SCHEMA, path)


def _local_today(moment: dt.datetime) -> dt.date:
    """The cities' calendar date at a moment."""
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).date()


def _require_city(manager: Manager, city_code: str) -> None:
    """A manager may only write for their own city."""
    if city_code != manager.city_code:
        raise PermissionError(f"{manager.name} may update city {manager.city_code}, not {city_code}")


def _acting(viewer: Viewer | None, manager: Manager) -> Viewer:
    """Who an in-app update is logged as: the session's viewer (named after the manager when anonymous)."""
    if viewer is None:
        return Viewer("city_manager", manager.city_code, manager.name)
    return viewer if viewer.identity else Viewer(viewer.role, viewer.city_code, manager.name)


_PROGRESS_INSERT = (
    "insert into progress_event (city_code, step_code, status_code, start_label, start_month, start_precision, "
    "end_label, end_month, note, changed_by, changed_at, previous_source, previous_event_id, previous_status_code, "
    "previous_start_label, previous_start_month, previous_start_precision, previous_end_label, previous_end_month, "
    "previous_note) values (" + ", ".join("?" * 20) + ")"
)


def record_progress_events(
    updates: Sequence[ProgressUpdate],
    manager: Manager,
    *,
    baseline: pl.DataFrame | None = None,
    path: Path | None = None,
    now: dt.datetime | None = None,
    viewer: Viewer | None = None,
) -> list[int]:
    """Append several progress events in ONE transaction (all or none); returns their event ids.

    Every update must be for the manager's own city (PermissionError) and pass check_progress
    (ValidationError); both are checked before the store is touched. The state each update replaces
    (previous_*) is computed under the write lock with current_progress over baseline (the
    warehouse's mart_pf_progress_grid or pf_progress rows) and the events already stored. Each event
    gets its audit_event row ('progress_update', by viewer) in the same transaction.
    """
    moment = utc_now(now)
    today = _local_today(moment)
    checked = []
    for update in updates:
        _require_city(manager, update.city_code)
        result = check_progress(update, today)
        if result.errors:
            raise ValidationError(result.errors)
        checked.append((update, result))
    file_rows = baseline if baseline is not None else pl.DataFrame(schema=_BASELINE_SCHEMA)
    ids: list[int] = []
    with write_transaction(path or store_path()) as con:
        for update, result in checked:
            key = (update.city_code, update.step_code)
            same_step = " where city_code = ? and step_code = ?"
            stored = select_events(con, "progress_event", PROGRESS_EVENT_SCHEMA, same_step, key)
            own_file_rows = file_rows.filter(
                (pl.col("city_code") == update.city_code) & (pl.col("step_code") == update.step_code)
            )
            current = current_progress(own_file_rows, stored)
            before = current.row(0, named=True) if current.height else dict.fromkeys([*_STATE, "source", "event_id"])
            cursor = con.execute(
                _PROGRESS_INSERT,
                [
                    update.city_code,
                    update.step_code,
                    update.status_code,
                    _label(update.start_label),
                    iso_date(result.start.month if result.start else None),
                    result.start.precision if result.start else None,
                    _label(update.end_label),
                    iso_date(result.end.month if result.end else None),
                    clean_text(update.note),
                    manager.name,
                    utc_text(moment),
                    before["source"],
                    before["event_id"],
                    before["status_code"],
                    before["start_label"],
                    iso_date(before["start_month"]),
                    before["start_precision"],
                    before["end_label"],
                    iso_date(before["end_month"]),
                    before["note"],
                ],
            )
            ids.append(int(cursor.lastrowid))
            append_audit(
                con,
                _acting(viewer, manager),
                "progress_update",
                f"platform/progress_event/{cursor.lastrowid}",
                {
                    "event_id": cursor.lastrowid,
                    "city_code": update.city_code,
                    "step_code": update.step_code,
                    "status_code": update.status_code,
                    "previous_status_code": before["status_code"],
                    "manager": manager.name,
                },
                moment,
            )
    return ids


def record_progress_event(
    update: ProgressUpdate,
    manager: Manager,
    *,
    baseline: pl.DataFrame | None = None,
    path: Path | None = None,
    now: dt.datetime | None = None,
    viewer: Viewer | None = None,
) -> int:
    """Append one progress event (the form's path); see record_progress_events for the rules."""
    return record_progress_events([update], manager, baseline=baseline, path=path, now=now, viewer=viewer)[0]


def record_note_event(
    note: NoteUpdate,
    manager: Manager,
    *,
    path: Path | None = None,
    now: dt.datetime | None = None,
    viewer: Viewer | None = None,
) -> int:
    """Append one dated note for the manager's own city, and its audit_event row in the same transaction."""
    moment = utc_now(now)
    _require_city(manager, note.city_code)
    errors = check_note(note, _local_today(moment))
    if errors:
        raise ValidationError(errors)
    with write_transaction(path or store_path()) as con:
        cursor = con.execute(
            "insert into note_event (city_code, noted_on, kind, text, changed_by, changed_at) "
            "values (?, ?, ?, ?, ?, ?)",
            [note.city_code, iso_date(note.noted_on), note.kind, clean_text(note.text), manager.name, utc_text(moment)],
        )
        append_audit(
            con,
            _acting(viewer, manager),
            "note",
            f"platform/note_event/{cursor.lastrowid}",
            {"event_id": cursor.lastrowid, "city_code": note.city_code, "kind": note.kind, "manager": manager.name},
            moment,
        )
        return int(cursor.lastrowid)
