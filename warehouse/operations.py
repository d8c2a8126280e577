"""The operational store: in-app progress updates and notes, append-only, in SQLite beside the warehouse.

DuckDB lets one process hold a file read-write and then nobody else may open it, so in-app writes
cannot live in the published warehouse (they would block the ETL's publish and every reader). They go
to a separate SQLite file in WAL mode instead: one writer at a time (short BEGIN IMMEDIATE
transactions, busy_timeout), any number of readers on read-only connections that see whole
transactions only. Triggers in the database forbid UPDATE and DELETE, so history cannot be rewritten.
This module is the only writer; see docs/progress-updates.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from common.calendar import LOCAL_TZ, NendoMonth, parse_nendo_month
from common.roles import Viewer
from common.text import clean_text
from warehouse.query import warehouse_path

STORE_ENV = "TSUNAGARI_OPERATIONS"
MANAGER_ENV = "TSUNAGARI_MANAGER"
SEEDS_DIR = Path(__file__).resolve().parent / "seeds"
# How long a writer or reader waits for another writer's lock before giving up (milliseconds).
BUSY_TIMEOUT_MS = 10_000
NOTE_MAX_CHARS = 2_000
# The store holds who did what (audit) and staff names: readable by the app's own user only.
DIR_MODE, FILE_MODE = 0o700, 0o600
ACTIVE_STATUSES = ("in_progress", "done")
NOTE_KINDS = ("breakthrough", "issue", "change")

SCHEMA = (
    """
    create table if not exists progress_event (
        event_id integer primary key autoincrement,
        city_code text not null,
        step_code text not null,
        status_code text not null,
        start_label text,
        start_month text,
        start_precision text,
        end_label text,
        end_month text,
        note text,
        changed_by text not null check (length(changed_by) > 0),
        changed_at text not null,
        previous_source text check (previous_source in ('file', 'app')),
        previous_event_id integer,
        previous_status_code text,
        previous_start_label text,
        previous_start_month text,
        previous_start_precision text,
        previous_end_label text,
        previous_end_month text,
        previous_note text
    ) strict
    """,
    """
    create table if not exists note_event (
        event_id integer primary key autoincrement,
        city_code text not null,
        noted_on text not null,
        kind text not null check (kind in ('breakthrough', 'issue', 'change')),
        text text not null check (length(text) > 0),
        changed_by text not null check (length(changed_by) > 0),
        changed_at text not null
    ) strict
    """,
    *(
        statement
        for table in ("progress_event", "note_event")
        for statement in (
            (
                f"create trigger if not exists {table}_no_update before update on {table} "
                f"begin select raise(abort, '{table} is append-only: updates are not allowed'); end"
            ),
            (
                f"create trigger if not exists {table}_no_delete before delete on {table} "
                f"begin select raise(abort, '{table} is append-only: deletes are not allowed'); end"
            ),
            # INSERT OR REPLACE would delete the old row without a delete trigger unless recursive
            # triggers are on, so an insert that reuses an existing id is refused outright.
            (
                f"create trigger if not exists {table}_no_replace before insert on {table} "
                f"when exists (select 1 from {table} where event_id = new.event_id) "
                f"begin select raise(abort, '{table} is append-only: event ids are never reused'); end"
            ),
        )
    ),
)

_MONTH = pl.Date
_UTC = pl.Datetime("us", "UTC")
PROGRESS_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "city_code": pl.String,
    "step_code": pl.String,
    "status_code": pl.String,
    "start_label": pl.String,
    "start_month": _MONTH,
    "start_precision": pl.String,
    "end_label": pl.String,
    "end_month": _MONTH,
    "note": pl.String,
    "changed_by": pl.String,
    "changed_at": _UTC,
    "previous_source": pl.String,
    "previous_event_id": pl.Int64,
    "previous_status_code": pl.String,
    "previous_start_label": pl.String,
    "previous_start_month": _MONTH,
    "previous_start_precision": pl.String,
    "previous_end_label": pl.String,
    "previous_end_month": _MONTH,
    "previous_note": pl.String,
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
    "city_code": pl.String,
    "step_code": pl.String,
    "status_code": pl.String,
    "start_label": pl.String,
    "start_month": _MONTH,
    "start_precision": pl.String,
    "end_label": pl.String,
    "end_month": _MONTH,
    "note": pl.String,
    "updated_by": pl.String,
    "updated_on": pl.Date,
    "updated_at": _UTC,
    "source": pl.String,
    "event_id": pl.Int64,
}
_BASELINE_SCHEMA: dict[str, pl.DataType] = {
    "city_code": pl.String,
    "step_code": pl.String,
    "status_code": pl.String,
    "start_label": pl.String,
    "start_month": _MONTH,
    "start_precision": pl.String,
    "end_label": pl.String,
    "end_month": _MONTH,
    "note": pl.String,
    "recorded_by": pl.String,
    "recorded_on": pl.Date,
}
_STATE = ("status_code", "start_label", "start_month", "start_precision", "end_label", "end_month", "note")


# --- configuration -------------------------------------------------------------------------------


def store_path() -> Path:
    """Operational store: $TSUNAGARI_OPERATIONS, or operations.sqlite next to the published warehouse."""
    configured = os.environ.get(STORE_ENV, "").strip()
    return Path(configured) if configured else warehouse_path().parent / "operations.sqlite"


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


# --- the store -----------------------------------------------------------------------------------


def _utc_text(moment: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds and Z (sorts as text)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso(day: dt.date | None) -> str | None:
    """A date as ISO text, or None."""
    return None if day is None else day.isoformat()


def _frame(rows: Sequence[Sequence], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows read from SQLite (dates and times as ISO text) as a typed polars frame."""
    converted = []
    for row in rows:
        values = []
        for value, dtype in zip(row, schema.values(), strict=True):
            if value is not None and dtype == pl.Date:
                value = dt.date.fromisoformat(value)
            elif value is not None and dtype == _UTC:
                value = dt.datetime.fromisoformat(value)
            values.append(value)
        converted.append(values)
    return pl.DataFrame(converted, schema=dict(schema), orient="row")


def _select(
    con: sqlite3.Connection, table: str, schema: Mapping[str, pl.DataType], where: str = "", params: Sequence = ()
) -> pl.DataFrame:
    """All columns of an event table in event order; table, columns and where come from this module."""
    sql = "select " + ", ".join(schema) + " from " + table + where + " order by event_id"
    return _frame(con.execute(sql, params).fetchall(), schema)


def _owner_only(path: Path) -> None:
    """Create the store owner-only (folder 0700, file 0600) and take group/other access off an older one.

    SQLite gives its -wal and -shm files the database file's mode, so they follow.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE))
    for member in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(member.stat().st_mode) & 0o077:
                member.chmod(FILE_MODE)


@contextmanager
def _write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A short BEGIN IMMEDIATE transaction on the store (created owner-only on first use), committed on success."""
    _owner_only(path)
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        con.execute("pragma busy_timeout = 10000")
        con.execute("pragma journal_mode = wal")
        # FULL: a committed event survives a power cut, not only a crash of the process.
        con.execute("pragma synchronous = full")
        con.execute("pragma recursive_triggers = on")
        con.execute("begin immediate")
        try:
            for statement in SCHEMA:
                con.execute(statement)
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
    finally:
        con.close()


@contextmanager
def _read_transaction(path: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection in one read transaction (one snapshot), or None before the first write."""
    if not path.exists():
        yield None
        return
    uri = path.resolve().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        con.execute("pragma busy_timeout = 10000")
        con.execute("begin")
        try:
            yield con
        finally:
            con.execute("rollback")
    finally:
        con.close()


def _has_table(con: sqlite3.Connection, table: str) -> bool:
    """Whether the store already has the table (a store is created by its first write)."""
    return con.execute("select 1 from sqlite_master where type = 'table' and name = ?", [table]).fetchone() is not None


def _read_table(table: str, schema: Mapping[str, pl.DataType], path: Path | None) -> pl.DataFrame:
    """A whole append-only table in append order, on a read-only connection (empty before its first write)."""
    with _read_transaction(path or store_path()) as con:
        if con is None or not _has_table(con, table):
            return pl.DataFrame(schema=schema)
        return _select(con, table, schema)


def read_progress_events(path: Path | None = None) -> pl.DataFrame:
    """Every progress event in append order, read on a read-only connection (empty before any write)."""
    return _read_table("progress_event", PROGRESS_EVENT_SCHEMA, path)


def read_note_events(path: Path | None = None) -> pl.DataFrame:
    """Every note event in append order, read on a read-only connection (empty before any write)."""
    return _read_table("note_event", NOTE_EVENT_SCHEMA, path)


def _now(now: dt.datetime | None) -> dt.datetime:
    """The given aware moment, or the current time, in UTC."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(dt.UTC)


def _local_today(moment: dt.datetime) -> dt.date:
    """The cities' calendar date at a moment."""
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).date()


def _require_city(manager: Manager, city_code: str) -> None:
    """A manager may only write for their own city."""
    if city_code != manager.city_code:
        raise PermissionError(f"{manager.name} may update city {manager.city_code}, not {city_code}")


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
    moment = _now(now)
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
    with _write_transaction(path or store_path()) as con:
        for update, result in checked:
            key = (update.city_code, update.step_code)
            same_step = " where city_code = ? and step_code = ?"
            stored = _select(con, "progress_event", PROGRESS_EVENT_SCHEMA, same_step, key)
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
                    _iso(result.start.month if result.start else None),
                    result.start.precision if result.start else None,
                    _label(update.end_label),
                    _iso(result.end.month if result.end else None),
                    clean_text(update.note),
                    manager.name,
                    _utc_text(moment),
                    before["source"],
                    before["event_id"],
                    before["status_code"],
                    before["start_label"],
                    _iso(before["start_month"]),
                    before["start_precision"],
                    before["end_label"],
                    _iso(before["end_month"]),
                    before["note"],
                ],
            )
            ids.append(int(cursor.lastrowid))
            _append_audit(
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
    moment = _now(now)
    _require_city(manager, note.city_code)
    errors = check_note(note, _local_today(moment))
    if errors:
        raise ValidationError(errors)
    with _write_transaction(path or store_path()) as con:
        cursor = con.execute(
            "insert into note_event (city_code, noted_on, kind, text, changed_by, changed_at) "
            "values (?, ?, ?, ?, ?, ?)",
            [note.city_code, _iso(note.noted_on), note.kind, clean_text(note.text), manager.name, _utc_text(moment)],
        )
        _append_audit(
            con,
            _acting(viewer, manager),
            "note",
            f"platform/note_event/{cursor.lastrowid}",
            {"event_id": cursor.lastrowid, "city_code": note.city_code, "kind": note.kind, "manager": manager.name},
            moment,
        )
        return int(cursor.lastrowid)


# --- データ取込: the intake log and the rollback audit -----------------------------------------------
# Written by etl/intake.py (and by the page for uploads refused before any parsing). Same rules as the
# progress tables: append-only, enforced by triggers; each write one short BEGIN IMMEDIATE transaction.

INTAKE_ACTIONS = ("refused", "dry_run", "publish")
INTAKE_OUTCOMES = ("ok", "failed", "refused")
ROLLBACK_OUTCOMES = ("ok", "failed")


def _append_only(table: str) -> tuple[str, ...]:
    """Triggers refusing UPDATE, DELETE and an INSERT that reuses an event id (table from this module)."""
    return (
        (
            f"create trigger if not exists {table}_no_update before update on {table} "
            f"begin select raise(abort, '{table} is append-only: updates are not allowed'); end"
        ),
        (
            f"create trigger if not exists {table}_no_delete before delete on {table} "
            f"begin select raise(abort, '{table} is append-only: deletes are not allowed'); end"
        ),
        (
            f"create trigger if not exists {table}_no_replace before insert on {table} "
            f"when exists (select 1 from {table} where event_id = new.event_id) "
            f"begin select raise(abort, '{table} is append-only: event ids are never reused'); end"
        ),
    )


INTAKE_SCHEMA = (
    """
    create table if not exists intake_submission (
        event_id integer primary key autoincrement,
        job_id text not null,
        action text not null check (action in ('refused', 'dry_run', 'publish')),
        outcome text not null check (outcome in ('ok', 'failed', 'refused')),
        kind text not null,
        city_code text,
        file_name text not null,
        sha256 text,
        size_bytes integer,
        submitted_by text not null check (length(submitted_by) > 0),
        role text not null,
        submitted_at text not null,
        recorded_at text not null,
        base_run_id text,
        run_id text,
        archive_dir text,
        message text
    ) strict
    """,
    """
    create table if not exists intake_rollback (
        event_id integer primary key autoincrement,
        job_id text not null,
        outcome text not null check (outcome in ('ok', 'failed')),
        from_run_id text,
        to_run_id text not null,
        rolled_back_by text not null check (length(rolled_back_by) > 0),
        role text not null,
        requested_at text not null,
        recorded_at text not null,
        message text
    ) strict
    """,
    *_append_only("intake_submission"),
    *_append_only("intake_rollback"),
)

INTAKE_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "job_id": pl.String,
    "action": pl.String,
    "outcome": pl.String,
    "kind": pl.String,
    "city_code": pl.String,
    "file_name": pl.String,
    "sha256": pl.String,
    "size_bytes": pl.Int64,
    "submitted_by": pl.String,
    "role": pl.String,
    "submitted_at": _UTC,
    "recorded_at": _UTC,
    "base_run_id": pl.String,
    "run_id": pl.String,
    "archive_dir": pl.String,
    "message": pl.String,
}
ROLLBACK_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "job_id": pl.String,
    "outcome": pl.String,
    "from_run_id": pl.String,
    "to_run_id": pl.String,
    "rolled_back_by": pl.String,
    "role": pl.String,
    "requested_at": _UTC,
    "recorded_at": _UTC,
    "message": pl.String,
}


@dataclass(frozen=True)
class IntakeRecord:
    """One submission step: a refused upload, a dry run or a publish, with its outcome."""

    job_id: str
    action: str
    outcome: str
    kind: str
    file_name: str
    submitted_by: str
    role: str
    submitted_at: dt.datetime
    city_code: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    base_run_id: str | None = None
    run_id: str | None = None
    archive_dir: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RollbackRecord:
    """An admin's return of the published warehouse to an earlier run (from → to)."""

    job_id: str
    outcome: str
    to_run_id: str
    rolled_back_by: str
    role: str
    requested_at: dt.datetime
    from_run_id: str | None = None
    message: str | None = None


def _insert_event(path: Path, table: str, schema: Mapping[str, pl.DataType], values: Mapping[str, object]) -> int:
    """Append one row to an intake table in its own write transaction; returns its event id."""
    columns = [name for name in schema if name != "event_id"]
    with _write_transaction(path) as con:
        for statement in INTAKE_SCHEMA:
            con.execute(statement)
        cursor = con.execute(
            "insert into " + table + " (" + ", ".join(columns) + ") values (" + ", ".join("?" * len(columns)) + ")",
            [values[name] for name in columns],
        )
        return int(cursor.lastrowid)


def record_intake(record: IntakeRecord, *, path: Path | None = None, now: dt.datetime | None = None) -> int:
    """Append one submission step to the intake log; returns its event id."""
    if record.action not in INTAKE_ACTIONS:
        raise ValueError(f"unknown intake action {record.action!r}")
    if record.outcome not in INTAKE_OUTCOMES:
        raise ValueError(f"unknown intake outcome {record.outcome!r}")
    values = {
        **{name: getattr(record, name) for name in INTAKE_COLUMNS if hasattr(record, name)},
        "submitted_at": _utc_text(_now(record.submitted_at)),
        "recorded_at": _utc_text(_now(now)),
    }
    return _insert_event(path or store_path(), "intake_submission", INTAKE_COLUMNS, values)


def record_rollback(record: RollbackRecord, *, path: Path | None = None, now: dt.datetime | None = None) -> int:
    """Append one rollback (who, when, from run, to run) to the audit; returns its event id."""
    if record.outcome not in ROLLBACK_OUTCOMES:
        raise ValueError(f"unknown rollback outcome {record.outcome!r}")
    values = {
        **{name: getattr(record, name) for name in ROLLBACK_COLUMNS if hasattr(record, name)},
        "requested_at": _utc_text(_now(record.requested_at)),
        "recorded_at": _utc_text(_now(now)),
    }
    return _insert_event(path or store_path(), "intake_rollback", ROLLBACK_COLUMNS, values)


def read_intake(path: Path | None = None) -> pl.DataFrame:
    """Every intake log entry in append order (empty before the first)."""
    return _read_table("intake_submission", INTAKE_COLUMNS, path)


def read_rollbacks(path: Path | None = None) -> pl.DataFrame:
    """Every rollback audit entry in append order (empty before the first)."""
    return _read_table("intake_rollback", ROLLBACK_COLUMNS, path)


# --- the audit log -------------------------------------------------------------------------------
# Who downloaded or exported what, who signed in, and who changed progress: the audit log, not personal
# data (an identity is the sign-in name or e-mail of staff; public readers have none). Append-only like
# the tables above. Progress updates and notes write their audit row inside their own transaction
# (_append_audit), so an update is never stored without it; everything else goes through record_audit.

AUDIT_ACTIONS = (
    "download",
    "export",
    "progress_update",
    "note",
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "view_personal",
    "intake_publish",
    "intake_rollback",
)

# The allowed actions are a CHECK of the table; a store made with another list is rebuilt (see _audit_table).
AUDIT_TABLE = (
    "create table audit_event (\n"
    "    event_id integer primary key autoincrement,\n"
    "    at text not null,\n"
    "    identity text,\n"
    "    role text not null,\n"
    "    city_code text,\n"
    "    action text not null check (action in (" + ", ".join(f"'{action}'" for action in AUDIT_ACTIONS) + ")),\n"
    "    target text not null check (length(target) > 0),\n"
    "    detail text not null check (json_valid(detail))\n"
    ") strict"
)
AUDIT_SCHEMA = (AUDIT_TABLE, *_append_only("audit_event"))

AUDIT_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "at": _UTC,
    "identity": pl.String,
    "role": pl.String,
    "city_code": pl.String,
    "action": pl.String,
    "target": pl.String,
    "detail": pl.String,
}


def _acting(viewer: Viewer | None, manager: Manager) -> Viewer:
    """Who an in-app update is logged as: the session's viewer (named after the manager when anonymous)."""
    if viewer is None:
        return Viewer("city_manager", manager.city_code, manager.name)
    return viewer if viewer.identity else Viewer(viewer.role, viewer.city_code, manager.name)


def _audit_table(con: sqlite3.Connection) -> None:
    """Create audit_event, or rebuild one made with an older list of actions, keeping every row and id.

    SQLite cannot change a CHECK in place: inside the caller's write transaction the old table is renamed,
    the new one created, the rows copied with their event ids, and the old table (and its triggers) dropped.
    """
    found = con.execute("select sql from sqlite_master where type = 'table' and name = 'audit_event'").fetchone()
    # SQLite stores the statement with its CREATE TABLE keywords upper-cased: compare what follows them.
    if found is not None and found[0].partition("audit_event")[2] == AUDIT_TABLE.partition("audit_event")[2]:
        return
    if found is not None:
        con.execute("alter table audit_event rename to audit_event_old")
        # The renamed table keeps its triggers under their names: drop them so the new table gets its own.
        for suffix in ("no_update", "no_delete", "no_replace"):
            con.execute(f"drop trigger if exists audit_event_{suffix}")
    for statement in AUDIT_SCHEMA:
        con.execute(statement)
    if found is not None:
        columns = ", ".join(AUDIT_COLUMNS)
        con.execute("insert into audit_event (" + columns + ") select " + columns + " from audit_event_old")
        con.execute("drop table audit_event_old")


def _append_audit(
    con: sqlite3.Connection, viewer: Viewer, action: str, target: str, detail: Mapping, moment: dt.datetime
) -> int:
    """Insert one audit row inside the caller's write transaction; returns its event id."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    _audit_table(con)
    cursor = con.execute(
        "insert into audit_event (at, identity, role, city_code, action, target, detail) values (?, ?, ?, ?, ?, ?, ?)",
        [
            _utc_text(moment),
            viewer.identity,
            viewer.role,
            viewer.city_code,
            action,
            target,
            json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, default=str),
        ],
    )
    return int(cursor.lastrowid)


def record_audit(
    viewer: Viewer,
    action: str,
    target: str,
    detail: Mapping | None = None,
    *,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Append one audit row (who, when, action, target, detail as JSON) in its own transaction; returns its id."""
    with _write_transaction(path or store_path()) as con:
        return _append_audit(con, viewer, action, target, detail or {}, _now(now))


def read_audit(path: Path | None = None) -> pl.DataFrame:
    """Every audit row in append order, read on a read-only connection (empty before the first)."""
    return _read_table("audit_event", AUDIT_COLUMNS, path)


# --- sign-in throttling --------------------------------------------------------------------------
# Failed local sign-ins are counted per user name and per client (remote address) in the store, so a
# reload or a new tab does not reset them. After the free failures each further one locks that name or
# client for a growing time; attempts while locked are refused without checking the password (no
# argon2 work) and are audited, but do not lengthen the lock. A success clears its user name's count; a
# count is forgotten after a quiet period. This table is a counter, not history: the history of every
# attempt is audit_event ('sign_in_failed', 'sign_in'). User names are kept as SHA-256 digests only
# (a password typed into the name field must not be stored).

# Free failures before the first lock: per user name, and per client (several staff may share an address).
SIGN_IN_FREE_FAILURES = {"user": 5, "client": 20}
SIGN_IN_FIRST_LOCK_S = 30  # the first lock, doubled by each further failure (seconds)
SIGN_IN_MAX_LOCK_S = 900  # the longest lock (seconds)
SIGN_IN_FORGET_S = 3600  # failures of a name or client are forgotten after this long without one (seconds)
SIGN_IN_FAILURE_REASONS = ("wrong_password", "locked")

THROTTLE_SCHEMA = """
    create table if not exists sign_in_throttle (
        scope text not null check (scope in ('user', 'client')),
        key text not null,
        failures integer not null check (failures > 0),
        last_failure_at text not null,
        locked_until text,
        primary key (scope, key)
    ) strict
"""


def _throttle_keys(user_name: str, client: str) -> list[tuple[str, str]]:
    """(scope, key) of an attempt: the digest of the lower-cased user name, and the client address."""
    digest = hashlib.sha256(user_name.strip().lower().encode("utf-8")).hexdigest()
    return [("user", digest), ("client", client)]


def sign_in_lock_seconds(scope: str, failures: int) -> int:
    """How long a scope is locked after its n-th failure in a row (0 while failures are still free)."""
    excess = failures - SIGN_IN_FREE_FAILURES[scope]
    if excess <= 0:
        return 0
    return min(SIGN_IN_MAX_LOCK_S, SIGN_IN_FIRST_LOCK_S * 2 ** min(excess - 1, 16))


def sign_in_wait(user_name: str, client: str, *, path: Path | None = None, now: dt.datetime | None = None) -> float:
    """Seconds until this user name from this client may try again (0: now)."""
    moment = _now(now)
    with _read_transaction(path or store_path()) as con:
        if con is None or not _has_table(con, "sign_in_throttle"):
            return 0.0
        waits = [0.0]
        for scope, key in _throttle_keys(user_name, client):
            row = con.execute(
                "select locked_until from sign_in_throttle where scope = ? and key = ?", [scope, key]
            ).fetchone()
            if row is not None and row[0] is not None:
                waits.append((dt.datetime.fromisoformat(row[0]) - moment).total_seconds())
    return max(waits)


def record_sign_in_failure(
    user_name: str,
    client: str,
    reason: str,
    *,
    known_user: bool,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> float:
    """Audit a failed sign-in and, for a wrong password, count it; returns the seconds until the next try.

    The audit row names the account only when it exists (an unknown name may be a mistyped password)
    and never holds the password.
    """
    if reason not in SIGN_IN_FAILURE_REASONS:
        raise ValueError(f"unknown sign-in failure reason {reason!r}")
    moment = _now(now)
    wait = 0
    with _write_transaction(path or store_path()) as con:
        con.execute(THROTTLE_SCHEMA)
        for scope, key in _throttle_keys(user_name, client):
            row = con.execute(
                "select failures, last_failure_at, locked_until from sign_in_throttle where scope = ? and key = ?",
                [scope, key],
            ).fetchone()
            if reason == "wrong_password":
                recent = row is not None and (
                    moment - dt.datetime.fromisoformat(row[1])
                ).total_seconds() < SIGN_IN_FORGET_S
                failures = row[0] + 1 if recent else 1
                lock = sign_in_lock_seconds(scope, failures)
                locked_until = _utc_text(moment + dt.timedelta(seconds=lock)) if lock else None
                con.execute(
                    "insert into sign_in_throttle (scope, key, failures, last_failure_at, locked_until) "
                    "values (?, ?, ?, ?, ?) on conflict (scope, key) do update set failures = excluded.failures, "
                    "last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
                    [scope, key, failures, _utc_text(moment), locked_until],
                )
                wait = max(wait, lock)
            elif row is not None and row[2] is not None:
                wait = max(wait, (dt.datetime.fromisoformat(row[2]) - moment).total_seconds())
        who = Viewer(identity=user_name.strip().lower() if known_user else None)
        _append_audit(
            con,
            who,
            "sign_in_failed",
            "local",
            {"method": "local", "reason": reason, "client": client, "known_user": known_user},
            moment,
        )
    return float(wait)


def record_sign_in(
    viewer: Viewer, method: str, *, client: str | None = None, path: Path | None = None, now: dt.datetime | None = None
) -> int:
    """Audit a successful sign-in and forget its user name's failures; returns the audit event id."""
    moment = _now(now)
    with _write_transaction(path or store_path()) as con:
        con.execute(THROTTLE_SCHEMA)
        if viewer.identity:
            scope, key = _throttle_keys(viewer.identity, "")[0]
            con.execute("delete from sign_in_throttle where scope = ? and key = ?", [scope, key])
        detail = {"method": method} | ({"client": client} if client is not None else {})
        return _append_audit(con, viewer, "sign_in", method, detail, moment)
