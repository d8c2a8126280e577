"""データ取込's worker: the job itself, run as `python -m etl.intake_worker dry-run|publish|rollback --job DIR`.

The page (through etl.intake) writes the job directory and starts this process; it reports typed
progress events (etl.steps.StepEvent) to DIR/progress.jsonl and writes DIR/result.json at the end.

- dry run: candidate bundle = the published run's sources (etl_run.source_dir of the latest run) with
  the uploaded file in place of its kind; `etl.pipeline.build` into a private file; diff against the
  published warehouse (files, quarantined rows, organisations, Home's figures). Nothing is published.
- publish: under the intake lock the candidate bundle is assembled from the then-latest published
  sources into the sources archive (`<archive>/<timestamp>-<sha12>/` with manifest.json) and built
  into the published path exactly as the CLI does, so the new run's source_dir is that archive
  directory; the warehouse it replaced and the new one are kept in `<warehouses>/<run_id>.duckdb`.
- rollback: an archived warehouse is copied beside the published path and os.replace()d under the
  build lock; the operational store records who, when, from which run to which.

See docs/intake.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from common.calendar import fiscal_year_label
from common.roles import Viewer
from etl import guard
from etl.errors import ChangesNeedConfirmation, EtlError, SourceError
from etl.intake import (
    ACTIONS,
    ARCHIVED_FILE,
    JOINT_ROLES,
    KINDS,
    ORG_FIELDS,
    PRIVATE_DIR,
    PRIVATE_FILE,
    PROGRESS_LOG,
    REQUEST,
    RESULT,
    ROLLBACK_ROLES,
    ROOT,
    SUBMIT_ROLES,
    Logged,
    NotOwner,
    Request,
    authorise,
    build_lock_path,
    check_year,
    is_locked,
    json_value,
    kept_runs,
    load_request,
    lock_path,
    masked_result,
    now_text,
    owner_viewer,
    private_dir,
    private_opener,
    published_years,
    read_progress,
    upload_path,
    write_json,
)
from etl.pipeline import SEEDS_DIR, build, build_lock, fsync_dir, temp_path
from etl.steps import Step, StepEvent

# Retention of archived source bundles and kept warehouses (docs/intake.md, "Retention"): how many of
# the newest to keep, and the age in days beyond which older ones go (0 = no age limit). What the
# published run or a kept warehouse (a rollback target) needs is never removed.
KEEP_WAREHOUSES_ENV = "TSUNAGARI_KEEP_WAREHOUSES"
KEEP_DAYS_ENV = "TSUNAGARI_KEEP_DAYS"
DEFAULT_KEEP_WAREHOUSES = 5
DEFAULT_KEEP_DAYS = 180
# Result lists are capped so result.json stays small; the totals are always given.
MAX_LISTED = 2000

# An archived bundle: the manifest of what was sent, the run it published, the bytes as sent (when merged).
MANIFEST = "manifest.json"
RUN_RECORD = "run.json"
SUBMITTED_DIR = "submitted"


# --- settings ------------------------------------------------------------------------------------


def _setting(name: str, default: int) -> int:
    """A whole-number setting from the environment (a blank or malformed value falls back to the default)."""
    configured = os.environ.get(name, "").strip()
    return int(configured) if configured.isdigit() else default


def keep_policy() -> tuple[int, int]:
    """(warehouses kept, days kept) from $TSUNAGARI_KEEP_WAREHOUSES and $TSUNAGARI_KEEP_DAYS."""
    return (
        max(1, _setting(KEEP_WAREHOUSES_ENV, DEFAULT_KEEP_WAREHOUSES)),
        _setting(KEEP_DAYS_ENV, DEFAULT_KEEP_DAYS),
    )


# --- the published state -------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """The run that built a warehouse file: its id, source bundle and checksum."""

    run_id: str
    source_dir: Path
    content_checksum: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    message: str | None


def resolve_source_dir(value: str) -> Path:
    """A recorded source_dir; relative ones (the CLI records what it was given) are from the repo root."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def latest_published(warehouse: Path) -> Published:
    """The latest published run recorded in a warehouse file (the run that built it)."""
    # ATTACH, not duckdb.connect(path): a connection this process still held would hand back the
    # instance of a file that has since been replaced (DuckDB's instance cache).
    con = duckdb.connect()
    try:
        con.execute("attach ? as published (read_only)", [str(warehouse)])
        row = con.execute(
            "select run_id, source_dir, content_checksum, started_at, finished_at, message from published.etl_run "
            "where status = 'published' order by started_at desc, run_id desc limit 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise EtlError(f"{warehouse}: no published run recorded")
    return Published(row[0], resolve_source_dir(row[1]), row[2], row[3], row[4], row[5])


def _checked_layout(request: Request, warehouse: Path, owner: Viewer) -> list[tuple[int, str | None]]:
    """The published years, once the request's 年度 is one its owner may send to (else YearRefused)."""
    layout = published_years(warehouse)
    check_year(request.fiscal_year, [year for year, _ in layout], request.past_year_confirmed, owner.role)
    return layout


def _year_outcome(assembly: Assembly) -> dict:
    """Where the upload went, for result.json and the manifest: its 年度, whether new, files carried forward."""
    return {
        "fiscal_year": assembly.fiscal_year,
        "new_year": assembly.new_year,
        "carried_forward": list(assembly.carried_forward),
    }


# --- candidate bundle ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Assembly:
    """A candidate bundle: its directory, the file written for the upload, and how it was made."""

    directory: Path
    file_name: str  # inside the bundle: R7/events.xlsx in a bundle of year folders
    merged: bool
    ignored_rows: int
    # For a per-city merge: sheet → last row that came from the upload (rows below are other cities').
    upload_rows: dict[str, int] | None = None
    # The 年度 the upload went to (None: a flat bundle's one year) and whether the submission made it.
    fiscal_year: int | None = None
    new_year: bool = False
    # Files of a new year copied from the latest published year until their own are sent (names in the bundle).
    carried_forward: tuple[str, ...] = ()


def year_folder_name(fiscal_year: int) -> str:
    """The folder a 年度 gets when the intake creates it: R7 (etl.years reads R7, R7年度, 2025 … alike)."""
    return fiscal_year_label(fiscal_year, "ja").removesuffix("年度")


def assemble(
    base: Path,
    kind: str,
    upload: Path,
    extension: str,
    dest: Path,
    *,
    city_code: str | None = None,
    fiscal_year: int | None = None,
    layout: list[tuple[int, str | None]] | None = None,
) -> Assembly:
    """Candidate bundle in dest: every source file of base, with the upload in place of its kind in one 年度.

    layout is the published bundle's years and folders (etl.intake.published_years; None: base is one flat
    year). The upload goes to fiscal_year (None: the latest); every other year's files are copied unchanged.
    A year not in layout is a new year: its folder starts from the latest year's other files (carried forward
    until their own are sent). A flat bundle that gains a year is laid out in year folders, its files unchanged.
    For a city-specific kind with a city, only that city's rows come from the upload (see merge_city_rows).
    """
    folders = dict(layout or [])
    latest = max(folders) if folders else None
    year = latest if fiscal_year is None else fiscal_year
    flat = all(folder is None for folder in folders.values())
    dest.parent.mkdir(parents=True, exist_ok=True)
    private_dir(dest)
    if not folders or (flat and (year is None or year in folders)):
        assembly = _assemble_year(base, kind, upload, extension, dest, city_code)
        return replace(assembly, fiscal_year=year)
    named = {known: folder or year_folder_name(known) for known, folder in folders.items()}
    for known, folder in named.items():
        if known != year:
            _copy_sources(base / folders[known] if folders[known] else base, private_dir(dest / folder), None)
    if year in folders:
        current = base / folders[year] if folders[year] else base
        assembly = _assemble_year(current, kind, upload, extension, private_dir(dest / named[year]), city_code)
        return replace(assembly, directory=dest, file_name=f"{named[year]}/{assembly.file_name}", fiscal_year=year)
    # A new year: the latest year's files of the other kinds carry forward until their own are sent.
    previous = base / folders[latest] if folders[latest] else base
    folder = year_folder_name(year)
    assembly = _assemble_year(previous, kind, upload, extension, private_dir(dest / folder), city_code)
    carried = sorted(f"{folder}/{path.name}" for path in (dest / folder).iterdir() if path.name != assembly.file_name)
    return replace(
        assembly,
        directory=dest,
        file_name=f"{folder}/{assembly.file_name}",
        fiscal_year=year,
        new_year=True,
        carried_forward=tuple(carried),
    )


def _copy_sources(source: Path, dest: Path, skip: str | None) -> None:
    """Copy one year's source files (every kind's names but skip's) from source into dest."""
    for other in KINDS.values():
        if other.code == skip:
            continue
        for name in other.file_names:
            if (source / name).is_file():
                shutil.copyfile(source / name, dest / name)


def _assemble_year(
    source: Path, kind: str, upload: Path, extension: str, dest: Path, city_code: str | None
) -> Assembly:
    """One year's files in dest: source's other kinds, and the upload (merged into source's for one city)."""
    spec = KINDS[kind]
    _copy_sources(source, dest, kind)
    target = dest / spec.file_name_for(extension)
    if spec.city_specific and city_code is not None:
        published = next((source / name for name in spec.file_names if (source / name).is_file()), None)
        upload_rows: dict[str, int] = {}
        ignored = merge_city_rows(published, upload, city_code, target, upload_rows)
        return Assembly(dest, target.name, True, ignored, upload_rows)
    shutil.copyfile(upload, target)
    return Assembly(dest, target.name, False, 0)


def _city_resolver() -> Callable[[Any], str | None]:
    """City code of a 市 cell, or None when blank or unknown (the ETL quarantines those)."""
    from etl.vocab import UnknownLabel, Vocabulary

    vocab = Vocabulary.load(SEEDS_DIR)

    def resolve(value: Any) -> str | None:
        if value is None or not str(value).strip():
            return None
        try:
            return vocab.city(value)
        except UnknownLabel:
            return None

    return resolve


def merge_city_rows(
    current: Path | None, upload: Path, city_code: str, dest: Path, upload_rows: dict[str, int] | None = None
) -> int:
    """Write dest: the upload's rows for city_code plus the current file's rows for every other city.

    The upload is kept as it is, except that rows naming another city are emptied (the ETL skips
    blank rows), so a quarantined row's number is still its row in the file the user sent. The
    current file's rows of the other cities are appended below, by header name. Rows whose 市
    cannot be read stay (the ETL quarantines them for the user). Returns the number of rows ignored;
    upload_rows, when given, receives each sheet's last row from the upload (as the sheet is titled).
    """
    import zipfile

    import openpyxl
    from openpyxl.cell.cell import MergedCell
    from openpyxl.utils.exceptions import InvalidFileException

    from etl.sources import progress
    from etl.sources.base import check_file, check_zip, header_key

    resolve = _city_resolver()
    check_file(upload)
    try:
        with zipfile.ZipFile(upload) as archive:
            check_zip(archive, upload.name)
        book = openpyxl.load_workbook(upload)
        old = openpyxl.load_workbook(current) if current is not None else None
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as error:
        raise SourceError(upload.name, f"Excel ファイルとして読めません (not a valid .xlsx file: {error})") from error
    city_key = header_key("市")
    ignored = 0
    for sheet in progress.SHEETS:
        sheets = {header_key(ws.title): ws for ws in book.worksheets}
        ws = sheets.get(header_key(sheet))
        if ws is None:
            continue  # the build reports the missing sheet
        positions = {header_key(cell.value): i for i, cell in enumerate(ws[1]) if cell.value is not None}
        if city_key not in positions:
            continue  # the build reports the missing column
        if upload_rows is not None:
            # Under both names: the sheet as the user titled it and as the source module names it.
            upload_rows[ws.title] = upload_rows[sheet] = ws.max_row
        for cells in ws.iter_rows(min_row=2):
            code = resolve(cells[positions[city_key]].value) if len(cells) > positions[city_key] else None
            if code is not None and code != city_code:
                ignored += 1
                for cell in cells:
                    if not isinstance(cell, MergedCell):
                        cell.value = None
        source = {header_key(w.title): w for w in old.worksheets}.get(header_key(sheet)) if old else None
        if source is None:
            continue
        old_positions = {header_key(cell.value): i for i, cell in enumerate(source[1]) if cell.value is not None}
        if city_key not in old_positions:
            continue
        width = max(positions.values()) + 1
        for cells in source.iter_rows(min_row=2):
            values = [cell.value for cell in cells]
            code = resolve(values[old_positions[city_key]]) if len(values) > old_positions[city_key] else None
            if code is None or code == city_code:
                continue
            row = [None] * width
            for key, index in positions.items():
                old_index = old_positions.get(key)
                if old_index is not None and old_index < len(values):
                    row[index] = values[old_index]
            ws.append(row)
    book.save(dest)
    return ignored


# --- comparing a candidate with the published warehouse ------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> list[dict]:
    """A bound query's rows as JSON-ready dicts, on its own cursor."""
    cursor = con.cursor()
    try:
        result = cursor.execute(sql, params)
        names = [column[0] for column in result.description]
        return [{name: json_value(value) for name, value in zip(names, row, strict=True)} for row in result.fetchall()]
    finally:
        cursor.close()


def _latest(con: duckdb.DuckDBPyConnection, alias: str) -> dict:
    """Latest published run of an attached warehouse (alias from this module)."""
    rows = _rows(
        con,
        f"select run_id, content_checksum from {alias}.etl_run where status = 'published' "
        "order by started_at desc, run_id desc limit 1",
    )
    return rows[0]


@dataclass(frozen=True)
class Scope:
    """What a city manager's dry run may list: the rows of the file they sent, and their city's organisations.

    upload_rows maps a sheet to the last row that came from their upload (a per-city merge appends
    the published rows of the other cities below it); a sheet not in it holds only their rows.
    """

    city_code: str
    file_name: str
    upload_rows: dict[str, int]

    def quarantine_sql(self) -> tuple[str, dict]:
        """SQL condition on quarantine alias q, with its named parameters (names from this method)."""
        params: dict[str, object] = {"own_file": self.file_name}
        below = []
        for index, (sheet, last) in enumerate(sorted(self.upload_rows.items())):
            params[f"own_sheet_{index}"], params[f"own_last_{index}"] = sheet, last
            below.append(f"(q.sheet = $own_sheet_{index} and q.row_number > $own_last_{index})")
        other = " or ".join(below) or "false"
        return f"q.file_name = $own_file and not coalesce({other}, false)", params


def compare(published: Path, candidate: Path, scope: Scope | None = None) -> dict:
    """What publishing the candidate would change: files, quarantined rows, organisations, Home's figures.

    With a scope (a city manager), quarantined rows and organisations are limited to theirs; the
    number of rows left out is given as quarantine_hidden.
    """
    con = duckdb.connect()
    try:
        con.execute("attach ? as pub (read_only)", [str(published)])
        con.execute("attach ? as cand (read_only)", [str(candidate)])
        before, after = _latest(con, "pub"), _latest(con, "cand")
        runs = {"pub_run": before["run_id"], "cand_run": after["run_id"]}
        files = _rows(
            con,
            "select c.file_name, c.kind, c.fiscal_year, c.rows_read, c.rows_loaded, c.rows_quarantined, c.sha256, "
            "p.rows_read as before_rows_read, p.rows_loaded as before_rows_loaded, "
            "p.rows_quarantined as before_rows_quarantined, p.sha256 as before_sha256, "
            "p.sha256 is distinct from c.sha256 as changed, "
            # Values read as blank (scope cell: the row loads without them), which rows_quarantined leaves out.
            "(select count(*) from cand.quarantine q where q.run_id = $cand_run and q.file_name = c.file_name "
            "and q.scope = 'cell') as values_left_out, "
            "case when p.file_name is not null then (select count(*) from pub.quarantine q where q.run_id = $pub_run "
            "and q.file_name = p.file_name and q.scope = 'cell') end as before_values_left_out "
            "from cand.etl_source_file c left join pub.etl_source_file p "
            "on p.run_id = $pub_run and p.kind = c.kind and p.fiscal_year is not distinct from c.fiscal_year "
            "and (c.kind <> 'reference' or p.file_name = c.file_name) "
            "where c.run_id = $cand_run and c.kind <> 'seed' order by c.kind = 'reference', c.file_name",
            runs,
        )
        dropped = _rows(
            con,
            "select p.file_name, p.kind from pub.etl_source_file p where p.run_id = $pub_run and p.kind <> 'seed' "
            "and not exists (select 1 from cand.etl_source_file c where c.run_id = $cand_run and c.kind = p.kind "
            "and c.fiscal_year is not distinct from p.fiscal_year "
            "and (p.kind <> 'reference' or c.file_name = p.file_name)) order by p.kind, p.file_name",
            runs,
        )
        every = "from cand.quarantine q where q.run_id = $cand_run"
        condition, scope_params = scope.quarantine_sql() if scope is not None else ("true", {})
        quarantine_where = f"{every} and {condition}"
        quarantined = _rows(
            con,
            "select q.file_name, q.sheet, q.row_number, q.column_name, q.value, q.reason, q.check_name, "
            "not exists (select 1 from pub.quarantine o where o.run_id = $pub_run and o.file_name = q.file_name "
            "and o.sheet is not distinct from q.sheet and o.row_number is not distinct from q.row_number "
            "and o.column_name is not distinct from q.column_name and o.reason = q.reason) as new "
            + quarantine_where
            + " order by q.file_name, q.sheet nulls first, q.row_number, q.column_name limit $limit",
            runs | scope_params | {"limit": MAX_LISTED},
        )
        cand_run = {"cand_run": after["run_id"]}
        quarantined_total = _rows(con, "select count(*) as n " + quarantine_where, cand_run | scope_params)[0]["n"]
        everyone_total = _rows(con, "select count(*) as n " + every, cand_run)[0]["n"]
        organisations = _organisation_changes(con, scope.city_code if scope is not None else None)
        kpis = _kpi_changes(con)
    finally:
        con.close()
    return {
        "base_run_id": before["run_id"],
        "candidate_run_id": after["run_id"],
        "unchanged": before["content_checksum"] == after["content_checksum"],
        "files": files,
        "files_dropped": dropped,
        "quarantine": quarantined,
        "quarantine_total": quarantined_total,
        "quarantine_hidden": everyone_total - quarantined_total,
        "organisations": organisations,
        "kpis": kpis,
    }


def _organisation_changes(con: duckdb.DuckDBPyConnection, city_code: str | None = None) -> dict:
    """Organisations added, removed, and changed field by field (ORG_FIELDS), by organization.id (one city's if given)."""
    pairs = ", ".join(f"b.{f} as before_{f}, a.{f} as after_{f}" for f in ORG_FIELDS)
    differs = " or ".join(f"b.{f} is distinct from a.{f}" for f in ORG_FIELDS)
    city = "" if city_code is None else " and (a.city_code = $city or b.city_code = $city)"
    rows = _rows(
        con,
        f"select coalesce(a.id, b.id) as id, b.id is null as added, a.id is null as removed, {pairs} "
        "from pub.organization b full outer join cand.organization a on a.id = b.id "
        f"where (b.id is null or a.id is null or {differs}){city} order by 1",
        None if city_code is None else {"city": city_code},
    )
    added, removed, changed = [], [], []
    for row in rows:
        if row["added"]:
            added.append({"id": row["id"], **{f: row[f"after_{f}"] for f in ORG_FIELDS}})
        elif row["removed"]:
            removed.append({"id": row["id"], **{f: row[f"before_{f}"] for f in ORG_FIELDS}})
        else:
            changed.extend(
                {
                    "id": row["id"],
                    "name": row["after_name"],
                    "field": f,
                    "before": row[f"before_{f}"],
                    "after": row[f"after_{f}"],
                }
                for f in ORG_FIELDS
                if row[f"before_{f}"] != row[f"after_{f}"]
            )
    return {
        "added": added[:MAX_LISTED],
        "removed": removed[:MAX_LISTED],
        "changed": changed[:MAX_LISTED],
        "counts": {"added": len(added), "removed": len(removed), "changed": len({r["id"] for r in changed})},
    }


def _kpi_changes(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Home's figures for the four cities (mart_city_kpis, city_code null) before and after."""
    query = "select * exclude (city_code) from {}.mart_city_kpis where city_code is null"
    before = _rows(con, query.format("pub"))
    after = _rows(con, query.format("cand"))
    old = before[0] if before else {}
    new = after[0] if after else {}
    columns = list(dict.fromkeys([*old, *new]))
    return [
        {"column": c, "before": old.get(c), "after": new.get(c), "changed": old.get(c) != new.get(c)} for c in columns
    ]


# --- the worker: progress, locks, the three actions ----------------------------------------------


class Reporter:
    """Appends the job's progress events to its progress.jsonl; also the pipeline's progress callback."""

    def __init__(self, job: Path) -> None:
        self.path = job / PROGRESS_LOG
        self.began = time.monotonic()

    def __call__(self, event: StepEvent) -> None:
        """Record an event of the worker or the pipeline, with the seconds since the job started."""
        entry = Logged(round(time.monotonic() - self.began, 1), event)
        with open(self.path, "a", encoding="utf-8", opener=private_opener) as handle:
            handle.write(entry.to_line() + "\n")


@contextlib.contextmanager
def intake_lock(warehouse: Path, report: Reporter) -> Iterator[None]:
    """Serialise publishes and rollbacks of one warehouse; report when this one has to wait."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(warehouse), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report(StepEvent(Step.WAIT_LOCK, "wait_publish"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if is_locked(build_lock_path(warehouse)):
                report(StepEvent(Step.WAIT_LOCK, "wait_build"))
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def keep_warehouse(warehouse: Path, kept: Path) -> str:
    """Copy the published warehouse to kept/<run_id>.duckdb (with <run_id>.json) unless kept already.

    Call under the build lock, so no build replaces the file mid-copy. Returns the run id.
    """
    run = latest_published(warehouse)
    target = kept / f"{run.run_id}.duckdb"
    if target.exists():
        return run.run_id
    private_dir(kept)
    tmp = kept / f".{run.run_id}.duckdb.tmp"
    shutil.copyfile(warehouse, tmp)
    tmp.chmod(PRIVATE_FILE)
    os.replace(tmp, target)
    manifest = run.source_dir / MANIFEST
    write_json(
        kept / f"{run.run_id}.json",
        {
            "run_id": run.run_id,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "source_dir": str(run.source_dir),
            "content_checksum": run.content_checksum,
            "message": run.message,
            "kept_at": now_text(),
            "submission": json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None,
        },
    )
    fsync_dir(kept)
    return run.run_id


def _new_archive_dir(root: Path, sha256: str) -> Path:
    """A fresh `<UTC timestamp>-<sha12>` directory under the archive root."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    private_dir(root)
    for attempt in range(1, 1000):
        path = root / (f"{stamp}-{sha256[:12]}" + (f"-{attempt}" if attempt > 1 else ""))
        if not path.exists():
            return path
    raise EtlError(f"{root}: cannot create an archive directory")


def remove_interrupted(root: Path, keep: Path) -> list[Path]:
    """Delete archive directories of publishes that never finished (no run.json), except `keep`.

    Call under the intake lock. `keep` is the published run's source directory, which must stay.
    """
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.iterdir()):
        finished = (path / RUN_RECORD).exists()
        if path.is_dir() and not path.name.startswith(".") and not finished and path.resolve() != keep.resolve():
            _make_writable(path)
            shutil.rmtree(path)
            removed.append(path)
    return removed


def _make_read_only(directory: Path) -> None:
    """Archived bundles are evidence and hold personal data: files read-only for the owner (0400), folders 0700."""
    directory.chmod(PRIVATE_DIR)
    for path in directory.rglob("*"):
        path.chmod(ARCHIVED_FILE if path.is_file() else PRIVATE_DIR)


def _make_writable(directory: Path) -> None:
    """Undo _make_read_only before removing a directory."""
    for path in directory.rglob("*"):
        if path.is_file():
            path.chmod(PRIVATE_FILE)


@dataclass(frozen=True)
class Pruned:
    """What prune() removed: kept warehouses (run ids) and archive directories (names)."""

    warehouses: list[str]
    archives: list[str]


def _expired(index: int, moment: dt.datetime, keep: int, days: int, now: dt.datetime) -> bool:
    """Whether the index-th newest item (0 = newest), from moment, falls outside the policy."""
    too_old = days > 0 and now - moment > dt.timedelta(days=days)
    return index >= keep or too_old


def prune(warehouse: Path, root: Path, kept: Path, now: dt.datetime | None = None) -> Pruned:
    """Remove kept warehouses and archived bundles outside the retention policy (keep_policy()).

    Call under the intake lock. Never removed: the published run's kept warehouse and its source
    bundle, and the source bundle of every warehouse still kept (a rollback to it starts the next dry
    run from that bundle). An archive of a CLI-built run has no bundle here and is not affected.
    """
    now = now or dt.datetime.now(dt.UTC)
    count, days = keep_policy()
    published = latest_published(warehouse)
    removed_runs = []
    records = kept_runs(kept)
    for index, record in enumerate(records):
        started = dt.datetime.fromisoformat(record["started_at"])
        started = started if started.tzinfo else started.replace(tzinfo=dt.UTC)
        if record["run_id"] == published.run_id or not _expired(index, started, count, days, now):
            continue
        (kept / f"{record['run_id']}.duckdb").unlink(missing_ok=True)
        (kept / f"{record['run_id']}.json").unlink(missing_ok=True)
        removed_runs.append(record["run_id"])
    needed = {published.source_dir.resolve()} | {
        resolve_source_dir(record["source_dir"]).resolve() for record in kept_runs(kept)
    }
    removed_archives = []
    if root.is_dir():
        finished = sorted(
            (path for path in root.iterdir() if path.is_dir() and (path / RUN_RECORD).is_file()),
            key=lambda path: path.name,
            reverse=True,
        )
        for index, path in enumerate(finished):
            moment = dt.datetime.fromtimestamp((path / RUN_RECORD).stat().st_mtime, dt.UTC)
            if path.resolve() in needed or not _expired(index, moment, count, days, now):
                continue
            _make_writable(path)
            shutil.rmtree(path)
            removed_archives.append(path.name)
    if removed_runs:
        fsync_dir(kept)
    return Pruned(removed_runs, removed_archives)


def _prune(warehouse: Path, root: Path, kept: Path, report: Reporter) -> None:
    """prune() after a publish or rollback, each removal in the job's progress log."""
    pruned = prune(warehouse, root, kept)
    for name in (*pruned.warehouses, *pruned.archives):
        report(StepEvent(Step.CLEANUP, "retention", file=name))


def _build(source: Path, warehouse: Path, request: Request, report: Reporter, accept_changes=False):
    """etl.pipeline.build exactly as the CLI runs it (Great Expectations is imported in this process only)."""
    reference = Path(request.reference_dir) if request.reference_dir else None
    return build(source, warehouse, progress=report, reference_dir=reference, accept_changes=accept_changes)


def _changes(changes: list[guard.Change]) -> list[dict]:
    """Change-guard changes as result.json holds them (key, subject, before, after, message_ja, message_en)."""
    return [asdict(change) for change in changes]


def _root_causes(candidate: Path, run_id: str, scope: Scope | None) -> list[dict]:
    """The candidate's quarantine grouped by root cause (names and counts only); a city manager's: their file's."""
    from warehouse.query import quality

    with duckdb.connect(str(candidate), read_only=True) as con:
        causes = quality.root_causes(con, run_id).to_dicts()
    if scope is not None:
        causes = [cause for cause in causes if str(cause["root_cause"]).startswith(scope.file_name)]
    return causes[:MAX_LISTED]


def _warnings(job: Path) -> list[str]:
    """The pipeline's warnings (ignored columns and the like) from the progress log."""
    return [entry.event.detail or "" for entry in read_progress(job) if entry.event.step == Step.WARNING]


def dry_run(request: Request, job: Path, report: Reporter, owner: Viewer) -> dict:
    """Build the candidate bundle into a private file and compare it with the published warehouse.

    The result is what its owner may see: a city manager's lists hold only their city's rows, and
    every role's personal values are masked (warehouse.masking) before result.json is written.
    """
    authorise(owner.role, owner.city_code, request.kind, request.city_code)
    warehouse = Path(request.warehouse)
    base = latest_published(warehouse)
    layout = _checked_layout(request, warehouse, owner)
    report(StepEvent(Step.ASSEMBLE, file=str(base.source_dir), run_id=base.run_id))
    bundle, candidate = job / "bundle", job / "candidate" / "warehouse.duckdb"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.rmtree(candidate.parent, ignore_errors=True)
    outcome: dict[str, Any] = {"base_run_id": base.run_id, "base_source_dir": str(base.source_dir)}
    try:
        assembly = assemble(
            base.source_dir, request.kind, upload_path(job, request), request.extension, bundle,
            city_code=request.city_code, fiscal_year=request.fiscal_year, layout=layout,
        )  # fmt: skip
        outcome |= {"file_name": assembly.file_name, "merged": assembly.merged, "ignored_rows": assembly.ignored_rows}
        outcome |= _year_outcome(assembly)
        built = _build(bundle, candidate, request, report)
        report(StepEvent(Step.DIFF))
        scope = None
        if owner.role not in JOINT_ROLES:
            scope = Scope(owner.city_code or "", assembly.file_name, assembly.upload_rows or {})
        outcome |= compare(warehouse, candidate, scope)
        # What the publish would stop on: its owner sees the list and confirms it before publishing.
        outcome["changes"] = _changes(guard.check_changes(warehouse, candidate))
        outcome["root_causes"] = _root_causes(candidate, built.run_id, scope)
    except EtlError as error:
        failed = outcome | {"status": "failed", "error": str(error), "warnings": _warnings(job)}
        return masked_result(failed, owner.role)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.rmtree(candidate.parent, ignore_errors=True)
    return masked_result(outcome | {"status": "ok", "warnings": _warnings(job)}, owner.role)


def _check_dry_run(request: Request, job: Path) -> None:
    """Refuse a publish whose dry run is missing, another identity's, or of other bytes."""
    dry = job.parent / (request.dry_run_job_id or "")
    if not request.dry_run_job_id or not (dry / REQUEST).is_file():
        raise NotOwner(f"publish {request.job_id} names no dry run of this server")
    checked = load_request(dry)
    if checked.submitted_by != request.submitted_by or checked.sha256 != request.sha256:
        raise NotOwner(f"dry run {checked.job_id} belongs to another identity or another file")


def publish(request: Request, job: Path, report: Reporter, owner: Viewer) -> dict:
    """Assemble under the intake lock from the latest published sources, archive, build and publish."""
    _check_dry_run(request, job)
    authorise(owner.role, owner.city_code, request.kind, request.city_code)
    warehouse, root, kept = Path(request.warehouse), Path(request.archive_root), Path(request.warehouses_dir)
    upload = upload_path(job, request)
    with intake_lock(warehouse, report):
        base = latest_published(warehouse)
        # The years as published now: another publish may have added the year since the dry run.
        layout = _checked_layout(request, warehouse, owner)
        for path in remove_interrupted(root, base.source_dir):
            report(StepEvent(Step.CLEANUP, "interrupted_archive", file=path.name))
        with build_lock(warehouse):
            # The warehouse about to be replaced stays available for rollback.
            keep_warehouse(warehouse, kept)
        archive = _new_archive_dir(root, request.sha256)
        report(
            StepEvent(
                Step.ASSEMBLE, "assemble_archive", file=str(base.source_dir), run_id=base.run_id, detail=str(archive)
            )
        )
        assembly = assemble(
            base.source_dir, request.kind, upload, request.extension, archive,
            city_code=request.city_code, fiscal_year=request.fiscal_year, layout=layout,
        )  # fmt: skip
        manifest = {
            "kind": request.kind,
            "file_name": assembly.file_name,
            "original_name": request.file_name,
            "sha256": request.sha256,
            "size_bytes": request.size_bytes,
            "bundle_sha256": hashlib.sha256((archive / assembly.file_name).read_bytes()).hexdigest(),
            "city_code": request.city_code,
            "merged": assembly.merged,
            "ignored_rows": assembly.ignored_rows,
            "submitted_by": request.submitted_by,
            "role": owner.role,
            "submitted_at": request.submitted_at,
            "dry_run_job_id": request.dry_run_job_id,
            "base_run_id": base.run_id,
            "base_source_dir": str(base.source_dir),
            "job_id": request.job_id,
            "past_year_confirmed": request.past_year_confirmed,
        } | _year_outcome(assembly)
        if assembly.merged:
            # The bundle holds the merged file; the bytes the user sent are kept beside it.
            private_dir(archive / SUBMITTED_DIR)
            shutil.copyfile(upload, archive / SUBMITTED_DIR / (request.file_name or upload.name))
        write_json(archive / MANIFEST, manifest)
        accepted = [tuple(pair) for pair in request.accepted_changes or []]
        try:
            result = _build(archive, warehouse, request, report, accept_changes=accepted)
        except EtlError as error:
            _make_writable(archive)
            shutil.rmtree(archive)
            failed = {"status": "failed", "error": str(error), "base_run_id": base.run_id, "warnings": _warnings(job)}
            if isinstance(error, ChangesNeedConfirmation):
                # Changes the dry run did not show (the published data moved since): a new dry run lists them.
                failed["changes"] = _changes(error.changes)
            return masked_result(failed, owner.role)
        report(StepEvent(Step.ARCHIVE, run_id=result.run_id))
        write_json(archive / RUN_RECORD, {"run_id": result.run_id, "published_at": now_text()})
        _make_read_only(archive)
        with build_lock(warehouse):
            keep_warehouse(warehouse, kept)
        _prune(warehouse, root, kept, report)
    return {
        "status": "ok",
        "run_id": result.run_id,
        "archive_dir": str(archive),
        "base_run_id": base.run_id,
        "file_name": assembly.file_name,
        **_year_outcome(assembly),
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "content_checksum": result.content_checksum,
        "warnings": _warnings(job),
    }


def rollback(request: Request, job: Path, report: Reporter, owner: Viewer) -> dict:
    """Make a kept earlier warehouse the published one again (copy beside it, os.replace under the build lock)."""
    if owner.role not in ROLLBACK_ROLES:
        raise PermissionError(f"role {owner.role!r} may not roll back")
    warehouse, kept = Path(request.warehouse), Path(request.warehouses_dir)
    target = request.target_run_id
    source = kept / f"{target}.duckdb"
    with intake_lock(warehouse, report):
        if not source.is_file():
            return {"status": "failed", "error": f"run {target} is not kept in {kept}", "to_run_id": target}
        report(StepEvent(Step.ROLLBACK, run_id=target))
        with build_lock(warehouse):
            current = keep_warehouse(warehouse, kept)
            tmp = temp_path(warehouse, f"rollback-{target}")
            try:
                shutil.copyfile(source, tmp)
                os.chmod(tmp, 0o600)  # personal data inside (pii schema): owner-only, as the build writes it
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, warehouse)
                fsync_dir(warehouse.parent)
            finally:
                tmp.unlink(missing_ok=True)
        now = latest_published(warehouse)
        if now.run_id == target:
            _prune(warehouse, Path(request.archive_root), kept, report)
    if now.run_id != target:
        return {"status": "failed", "error": f"published run is {now.run_id}, expected {target}", "to_run_id": target}
    return {"status": "ok", "from_run_id": current, "to_run_id": target, "source_dir": str(now.source_dir)}


WORKERS = {"dry-run": dry_run, "publish": publish, "rollback": rollback}


def _record(request: Request, result: dict, owner: Viewer) -> None:
    """Write the job's outcome to the operational store's intake log or rollback audit."""
    from warehouse import operations as ops

    path = Path(request.operations) if request.operations else None
    outcome = "ok" if result["status"] == "ok" else "failed"
    if request.action in ("publish", "rollback"):
        # Who changed the published data, in the audit log beside downloads and sign-ins.
        publish = request.action == "publish"
        ops.record_audit(
            Viewer(owner.role, owner.city_code, request.submitted_by),
            "intake_publish" if publish else "intake_rollback",
            f"upload/{request.file_name if publish else request.target_run_id}",
            {
                "job_id": request.job_id,
                "outcome": outcome,
                "kind": request.kind,
                "city_code": request.city_code,
                "sha256": request.sha256,
                "base_run_id": result.get("base_run_id", result.get("from_run_id")),
                "run_id": result.get("run_id", result.get("to_run_id")),
            },
            path=path,
        )
    if request.action == "rollback":
        ops.record_rollback(
            ops.RollbackRecord(
                job_id=request.job_id,
                outcome=outcome,
                from_run_id=result.get("from_run_id"),
                to_run_id=request.target_run_id or "",
                rolled_back_by=request.submitted_by,
                role=owner.role,
                requested_at=request.submitted,
                message=result.get("error"),
            ),
            path=path,
        )
        return
    ops.record_intake(
        ops.IntakeRecord(
            job_id=request.job_id,
            action=request.action.replace("-", "_"),
            outcome=outcome,
            kind=request.kind or "",
            city_code=request.city_code,
            file_name=request.file_name or "",
            sha256=request.sha256,
            size_bytes=request.size_bytes,
            submitted_by=request.submitted_by,
            role=owner.role,
            submitted_at=request.submitted,
            base_run_id=result.get("base_run_id"),
            run_id=result.get("run_id"),
            archive_dir=result.get("archive_dir"),
            message=result.get("error"),
        ),
        path=path,
    )


def run_job(job: Path) -> dict:
    """Run a job directory's request and write its result.json; returns the result."""
    request = load_request(job)
    report = Reporter(job)
    report(StepEvent(Step.QUEUED, "started", detail=request.action, counts={"pid": os.getpid()}))
    owner = Viewer()  # masks everything until the role file confirms who this is
    try:
        # The role of the identity that created the job, as the role file says now (not as recorded).
        owner = owner_viewer(request.submitted_by)
        if owner.role not in SUBMIT_ROLES:
            raise PermissionError(f"{request.submitted_by} (role {owner.role}) may not send files")
        result = WORKERS[request.action](request, job, report, owner)
    except Exception as error:  # noqa: BLE001 - the worker's boundary: every failure must reach result.json
        result = masked_result({"status": "failed", "error": f"{type(error).__name__}: {error}"}, owner.role)
        # The frames, then the masked message: the job's log never quotes a personal value an error carried.
        sys.stderr.write("".join(traceback.format_tb(error.__traceback__)))
        print(result["error"], file=sys.stderr)
    result = {"action": request.action, "job_id": request.job_id} | result
    try:
        _record(request, result, owner)
    except (OSError, ValueError) as error:
        # The published state is what it is; a full disk for the log must not hide the outcome.
        result["record_error"] = str(error)
    write_json(job / RESULT, result)
    ok = result["status"] == "ok"
    report(StepEvent(Step.DONE) if ok else StepEvent(Step.FAILED, detail=result.get("error") or ""))
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m etl.intake_worker dry-run|publish|rollback --job DIR` (started by the page)."""
    parser = argparse.ArgumentParser(prog="python -m etl.intake_worker", description="Tsunagari in-app intake worker")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--job", type=Path, required=True, help="job directory written by the page")
    args = parser.parse_args(argv)
    request = load_request(args.job)
    if request.action != args.action:
        parser.error(f"{args.job} holds a {request.action} request, not {args.action}")
    from warehouse import operations

    # The store at this release's schema before the job writes to it (the app's launcher has usually done it).
    try:
        operations.migrate(Path(request.operations) if request.operations else None)
    except operations.StoreVersionError as error:
        # A store written by a newer release: the job fails with that reason where the page reads it, and the
        # store is left as it is (no traceback: this is a deployment state, not a bug).
        result = {"action": request.action, "job_id": request.job_id, "status": "failed", "error": str(error)}
        write_json(args.job / RESULT, result)
        Reporter(args.job)(StepEvent(Step.FAILED, detail=str(error)))
        print(error, file=sys.stderr)
        return 1
    return 0 if run_job(args.job)["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
