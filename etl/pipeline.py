"""The one orchestrator: transform every source, validate, build a new warehouse file, swap it in."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from etl.errors import ChangesNeedConfirmation, EtlError, ValidationFailed
from etl.steps import Progress, Step, StepEvent, silent
from warehouse import macros, models, years
from warehouse import schema as ddl
from warehouse.fingerprint import schema_fingerprint
from warehouse.masking import personal_sql, strip_personal_reasons

ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = ROOT / "warehouse" / "seeds"
DDL_DIR = ROOT / "warehouse" / "ddl"
MARTS_DIR = ROOT / "warehouse" / "marts"
EXPECTATIONS_DIR = ROOT / "expectations"
LINEAGE_COLUMNS = ("_file", "_sheet", "_row")
# Tables whose rows make the published content; bookkeeping tables (etl_*, quarantine) are excluded
# so that the same sources give the same checksum on every run.
BOOKKEEPING = ("etl_run", "etl_source_file", "etl_source_sheet", "etl_validation", "quarantine", "etl_data_docs")
HISTORY_RUNS = 200  # runs of history carried into each new warehouse


@dataclass(frozen=True)
class RunResult:
    """What a successful build published."""

    run_id: str
    warehouse: Path
    content_checksum: str
    rows_loaded: int
    rows_quarantined: int
    # The quarantine grouped by root cause (warehouse.query.quality.root_causes rows), most rows removed first.
    root_causes: tuple[dict, ...] = ()
    # Changes the guard found against the published warehouse (published anyway: accept_changes=True).
    changes: tuple = ()


@contextlib.contextmanager
def build_lock(warehouse: Path) -> Iterator[None]:
    """Serialise builds of one warehouse; the kernel drops the lock if the process dies."""
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def temp_path(warehouse: Path, run_id: str) -> Path:
    """Where a run builds its new file: beside the published one, so os.replace is atomic."""
    return warehouse.with_name(f".{warehouse.name}.{run_id}.tmp")


def remove_stale_temps(warehouse: Path) -> list[Path]:
    """Delete temp files left by a killed build (called under the build lock)."""
    stale = sorted(warehouse.parent.glob(f".{warehouse.name}.*.tmp*"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def sources_digest(files: list) -> str:
    """Short digest over the names and hashes of every input file."""
    digest = hashlib.sha256()
    for stat in sorted(files, key=lambda s: s.file_name):
        digest.update(f"{stat.file_name}\0{stat.sha256}\n".encode())
    return digest.hexdigest()[:8]


def ddl_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Column names of a warehouse table, in DDL order."""
    schema, _, name = table.rpartition(".")
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema or "main", name],
    ).fetchall()
    return [r[0] for r in rows]


def quoted(table: str) -> str:
    """Quote a table name that came from the DDL catalogue (never from user input)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Insert a frame into a DDL table by column name, dropping lineage columns."""
    columns = ddl_columns(con, table)
    if not columns:
        raise EtlError(f"table {table} is not in the warehouse DDL")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EtlError(f"table {table}: the transform did not produce columns {missing}")
    data = frame.select(columns).to_arrow()
    con.register("_frame", data)
    try:
        con.execute(f"insert into {quoted(table)} select * from _frame")
    finally:
        con.unregister("_frame")
    return frame.height


def content_checksum(con: duckdb.DuckDBPyConnection) -> str:
    """sha256 over every content table's name, columns and an order-independent digest of its rows.

    Each table's rows are summarised inside DuckDB (row count, sum and xor of the 64-bit hash of
    each whole row), so no row crosses into Python; the sum keeps duplicate rows from cancelling
    out. The result depends only on the rows (as a multiset) and columns, not on their storage
    order or thread scheduling, so rebuilding the same sources gives the same checksum.
    """
    tables = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' order by 1"
    ).fetchall()
    digest = hashlib.sha256()
    for (table,) in tables:
        if table.split(".", 1)[1] in BOOKKEEPING:
            continue
        # The alias names the whole row as a struct; it cannot clash with a column (leading "__").
        count, total, mixed = con.execute(
            "select count(*), coalesce(sum(hash(__row)), 0), coalesce(bit_xor(hash(__row)), 0) "
            f"from {quoted(table)} as __row"
        ).fetchone()
        columns = ",".join(ddl_columns(con, table))
        digest.update(f"{table}\0{columns}\0{count}\0{total}\0{mixed}\n".encode())
    return digest.hexdigest()


def copy_history(con: duckdb.DuckDBPyConnection, previous: Path, run_id: str) -> None:
    """Carry the last runs' bookkeeping rows from the published warehouse into the new one.

    A run with this run_id already in the history (same sources, started in the same second) is left
    out: this run records itself again, and its key must stay unique. Columns are named (this file's
    DDL, as far as the previous file has them), so values never shift between columns. Carried
    quarantine rows are migrated: a personal value quoted in a reason (warehouses built before
    warehouse.masking) is removed, as this build stores its own (strip_personal_reasons).
    """
    if not previous.exists():
        return
    # Before ATTACH: information_schema then lists the previous file's tables too.
    table_columns = {table: ddl_columns(con, table) for table in BOOKKEEPING}
    try:
        con.execute("attach ? as prev (read_only)", [str(previous)])
    except duckdb.Error:
        # An unreadable previous file must not block a rebuild; history restarts from this run.
        return
    try:
        kept = "select run_id from prev.etl_run where run_id <> ? order by started_at desc limit ?"
        window = [run_id, HISTORY_RUNS - 1]
        # Columns both files have, by name: a warehouse written before a bookkeeping table or column existed
        # still carries the history it has (the new column stays null there).
        previous_columns: dict[str, set[str]] = {}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_catalog = 'prev' and table_schema = 'main'"
        ).fetchall():
            previous_columns.setdefault(table, set()).add(column)
        for table, names in table_columns.items():
            shared = [name for name in names if name in previous_columns.get(table, ())]
            if not shared:
                continue
            columns = ", ".join(quoted(name) for name in shared)
            if table == "quarantine":
                personal, personal_params = personal_sql()
                con.execute(
                    f"insert into {quoted(table)} ({columns}) select {columns} from prev.{quoted(table)} "
                    f"where run_id in ({kept}) and not {personal}",
                    [*window, *personal_params],
                )
                carried = con.sql(
                    f"select {columns} from prev.{quoted(table)} where run_id in ({kept}) and {personal}",
                    params=[*window, *personal_params],
                ).pl()
                con.register("_carried", strip_personal_reasons(carried).to_arrow())
                try:
                    con.execute(f"insert into {quoted(table)} ({columns}) select {columns} from _carried")
                finally:
                    con.unregister("_carried")
                continue
            con.execute(
                f"insert into {quoted(table)} ({columns}) select {columns} from prev.{quoted(table)} "
                f"where run_id in ({kept})",
                window,
            )
    finally:
        con.execute("detach prev")


# A model reads another by naming it; comments are left out, because headers mention the models that read them.
_MART_NAME = re.compile(r"\b(?:mart|int)_\w+")
_SQL_COMMENT = re.compile(r"--[^\n]*")


def mart_order(paths: list[Path]) -> list[Path]:
    """The mart files in build order: every mart after the marts of the same folder it reads, else by name."""
    by_name = {path.stem: path for path in sorted(paths)}
    reads = {
        name: set(_MART_NAME.findall(_SQL_COMMENT.sub("", path.read_text(encoding="utf-8"))))
        & (by_name.keys() - {name})
        for name, path in by_name.items()
    }
    ordered: list[Path] = []
    built: set[str] = set()
    while len(built) < len(by_name):
        ready = [name for name in by_name if name not in built and reads[name] <= built]
        if not ready:
            cycle = sorted(name for name in by_name if name not in built)
            raise EtlError(f"warehouse/marts: marts read each other in a cycle: {', '.join(cycle)}")
        # One at a time, by name: the order stays the same from build to build.
        built.add(ready[0])
        ordered.append(by_name[ready[0]])
    return ordered


def store_year_organizations(con: duckdb.DuckDBPyConnection, organizations: dict[int, pl.DataFrame]) -> None:
    """fy<year>.organization for every earlier year: its organisations as its own bundle listed them.

    organization keeps one row per key with the latest year's columns (address, answer …); an earlier year's
    marts read that year's own row instead (warehouse/years.py). Only organisations organization_year keeps
    for the year (those validation let through) are stored.
    """
    for fiscal_year, frame in sorted(organizations.items()):
        schema = quoted(years.year_schema(fiscal_year))
        con.execute(f"create schema {schema}")
        con.execute(f"create table {schema}.organization as select * from organization where false")
        insert_frame(con, f"{years.year_schema(fiscal_year)}.organization", frame)
        con.execute(
            f"delete from {schema}.organization where id not in "
            "(select organization_id from organization_year where fiscal_year = ?)",
            [fiscal_year],
        )


def build_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every mart: warehouse/marts/*.sql as <stem>, then warehouse/marts/pii/*.sql as pii.<stem>.

    The SQL macros (warehouse/macros.sql) come first, then the intermediate models
    (warehouse/marts/intermediate/*.sql) as temporary tables: the marts read them, the content checksum and
    the published file never see them (dropped at the end). int_year_* build with mart_year_* from every
    year's stored tables, the other intermediates in the latest-year scope. Within each folder a model is built after the
    models it reads (mart_order). Marts aggregating sensitive data (consultee figures) live in the pii schema
    like the tables they read; they are built after the main marts, so they may read them but never the other
    way round. Every model's declared grain is checked: a duplicate key fails the build.

    A bundle of several years then builds the same models (all but mart_year_*) once per earlier year, in that
    year's scope, into schemas fy<year> and fy<year>_pii (warehouse/years.py); one year builds nothing more.
    """
    macros.install(con)
    intermediate = mart_order(list((MARTS_DIR / "intermediate").glob("*.sql")))
    main = [(path, path.stem) for path in mart_order(list(MARTS_DIR.glob("*.sql")))]
    pii = [(path, f"pii.{path.stem}") for path in mart_order(list((MARTS_DIR / "pii").glob("*.sql")))]
    # mart_year_* compare years, so they read the stored tables; every other model the latest year (warehouse.years).
    every_year = [(path, name) for path, name in main if name.startswith(years.ALL_YEARS_PREFIX)]
    latest = [(path, name) for path, name in main + pii if (path, name) not in every_year]
    # int_year_* serve mart_year_*: built like them from the stored tables, before the scope.
    every_year_intermediate = [
        path for path in intermediate if path.stem.startswith(years.ALL_YEARS_INTERMEDIATE_PREFIX)
    ]
    views: list[str] = []
    try:
        for path in every_year_intermediate:
            _build_model(con, path, path.stem, "temp table")
        for path, name in every_year:
            _build_model(con, path, name, "table")
        views = years.install_latest_scope(con)
        for path in intermediate:
            if path not in every_year_intermediate:
                _build_model(con, path, path.stem, "temp table")
        for path, name in latest:
            _build_model(con, path, name, "table")
    finally:
        for path in intermediate:
            con.execute(f"drop table if exists temp.main.{quoted(path.stem)}")
        years.drop_latest_scope(con, views)
    (catalog,) = con.execute("select current_database()").fetchone()
    for fiscal_year in years.earlier_years(con):
        _build_year(con, catalog, fiscal_year, intermediate, latest)
    return [name for _, name in every_year + latest]


def _build_year(con, catalog: str, fiscal_year: int, intermediate: list[Path], models: list[tuple[Path, str]]) -> None:
    """Build the models in an earlier year's scope and store them in its fy<year> schemas."""
    search_path = years.install_year_scope(con, catalog, fiscal_year, with_marts=False)
    try:
        # SET takes no bound value; the path is made of catalogue names (warehouse/years.py).
        con.execute("set search_path = '" + search_path.replace("'", "''") + "'")
        for path in intermediate:
            _build_model(con, path, path.stem, "table")
        for path, name in models:
            _build_model(con, path, name, "table")
        years.store_year_models(con, catalog, fiscal_year, [name for _, name in models])
    finally:
        con.execute("reset search_path")
        years.drop_year_scope(con)


def _build_model(con: duckdb.DuckDBPyConnection, path: Path, name: str, kind: str) -> None:
    """Create one model and check its `-- grain:` header; any failure is an EtlError naming the file."""
    where = f"warehouse/marts/{path.relative_to(MARTS_DIR).as_posix()}"
    try:
        con.execute(f"create {kind} {quoted(name)} as {path.read_text(encoding='utf-8')}")
    except duckdb.Error as error:
        raise EtlError(f"{where}: {error}") from error
    grain = models.header(path).grain
    if not grain:
        raise EtlError(f"{where}: no grain declared (a header line `-- grain: column, column`)")
    try:
        duplicate = models.duplicate_key(con, name, grain)
    except duckdb.Error as error:
        raise EtlError(f"{where}: grain ({', '.join(grain)}): {error}") from error
    if duplicate:
        key, rows = duplicate
        shown = ", ".join(f"{column}={value!r}" for column, value in key.items())
        raise EtlError(f"{where}: grain ({', '.join(grain)}) is not unique: {rows} rows have {shown}")


def add_reference(bundle, geography) -> None:
    """Merge reference tables, quarantine and file lineage into the bundle (kind "reference")."""
    from etl.sources import FileStat

    bundle.tables.update(geography.tables)
    bundle.quarantine = pl.concat([bundle.quarantine, geography.quarantine], how="vertical_relaxed")
    per_file = geography.quarantine.group_by("file_name").len()
    bad = dict(per_file.iter_rows())
    loaded = {}
    for table in ("ref_town", "ref_city_boundary"):
        for name, count in geography.tables[table].group_by("_file").len().iter_rows():
            loaded[name] = count
    for name, data in geography.files:
        rows_read = loaded.get(name, 0) + bad.get(name, 0)
        bundle.files.append(
            FileStat(
                file_name=name,
                kind="reference",
                path=Path(name),
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                encoding=None,
                rows_read=rows_read,
                rows_loaded=rows_read - bad.get(name, 0),
                rows_quarantined=bad.get(name, 0),
            )
        )


def now_utc() -> dt.datetime:
    """Current UTC time without tzinfo (DuckDB TIMESTAMP)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def build(
    source_dir: Path,
    warehouse: Path,
    *,
    progress: Progress = silent,
    reference_dir: Path | None = None,
    seeds_dir: Path = SEEDS_DIR,
    expectations_dir: Path = EXPECTATIONS_DIR,
    limits=None,
    accept_changes: bool | Collection[tuple[str, str]] = False,
    max_change_share: float | None = None,
) -> RunResult:
    """Build the warehouse from a source bundle and publish it atomically; raise EtlError on failure.

    limits (etl.sources.base.Limits) overrides the readers' size limits (default: TSUNAGARI_MAX_* or the
    built-in values). Before the swap the change guard compares the new file with the published one: any
    change beyond max_change_share (default TSUNAGARI_CHANGE_SHARE or etl.guard.DEFAULT_MAX_SHARE) raises
    ChangesNeedConfirmation and publishes nothing, unless accept_changes is True or lists every change found
    as (key, subject) (what a dry run showed and someone confirmed); the changes are in RunResult.changes.
    """
    from etl import guard, reference, years
    from etl.sources.base import use_limits
    from etl.validate import load_suites, prepare, validate
    from etl.vocab import Vocabulary

    source_dir = Path(source_dir)
    warehouse = Path(warehouse)
    started = now_utc()
    share = guard.max_share_from_env() if max_change_share is None else max_change_share
    if not source_dir.is_dir():
        raise EtlError(f"{source_dir}: source directory not found")
    suites = load_suites(expectations_dir)
    progress(StepEvent(Step.EXTRACT, file=str(source_dir)))
    # GX's import and setup (seconds, whatever the data) run while the sources are read; validate() waits for it.
    with ThreadPoolExecutor(1, thread_name_prefix="gx-prepare") as preparing:
        ready = preparing.submit(prepare, suites)
        try:
            with use_limits(limits):
                # One bundle per year sub-folder (R6/, R7/ …) or a flat single-year bundle (etl/years.py).
                bundle = years.transform_years(source_dir, seeds_dir)
        finally:
            # A failed setup is not reported here: validate() sets the runner up again and raises its own error.
            ready.exception()
    # Ignored extra columns are not errors, but the city must hear about them (they may hold data).
    for warning in bundle.warnings:
        progress(StepEvent(Step.WARNING, detail=warning))
    if reference_dir is None:
        progress(StepEvent(Step.REFERENCE, "reference_none"))
        geography = reference.empty()
    else:
        progress(StepEvent(Step.REFERENCE, file=str(reference_dir)))
        with use_limits(limits):
            geography = reference.load(Path(reference_dir), Vocabulary.load(seeds_dir))
    add_reference(bundle, geography)
    progress(StepEvent(Step.VALIDATE))
    outcome = validate(bundle.tables, suites)
    # The cleaned tables are outcome.tables; the bundle's own (the same frames where nothing was set aside, else
    # the uncleaned ones) are not read again, so a million-row bundle does not hold both through the load.
    bundle.tables.clear()
    if outcome.fatal:
        lines = [_naming_file(message, bundle.table_files) for message in outcome.fatal]
        raise ValidationFailed("validation failed, nothing published:\n- " + "\n- ".join(lines))
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + sources_digest(bundle.files)
    quarantine = pl.concat([bundle.quarantine, outcome.quarantine], how="vertical_relaxed")
    warehouse.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with build_lock(warehouse):
        for path in remove_stale_temps(warehouse):
            progress(StepEvent(Step.CLEANUP, "stale_temp", file=path.name))
        tmp = temp_path(warehouse, run_id)
        try:
            result = _write(tmp, warehouse, run_id, started, source_dir, bundle, outcome, quarantine, progress)
            progress(StepEvent(Step.GUARD))
            with duckdb.connect(str(tmp), read_only=True) as con:
                after = guard.figures(con, run_id)
            before = guard.read_figures(warehouse)
            changes = guard.compare(before, after, share)
            for change in changes:
                progress(StepEvent(Step.CHANGE, detail=str(change)))
            if changes and not guard.accepted(changes, accept_changes):
                raise ChangesNeedConfirmation(changes, guard.changed_files(before, after))
            result = dataclasses.replace(result, changes=tuple(changes))
            progress(StepEvent(Step.SWAP, file=str(warehouse)))
            # The warehouse holds the pii schema (contact persons, respondents): owner-only, like the store.
            os.chmod(tmp, 0o600)
            os.replace(tmp, warehouse)
            fsync_dir(warehouse.parent)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return result


def _naming_file(message: str, table_files: dict[str, str]) -> str:
    """A table-level failure ("table: reason") prefixed with the source file the table's rows come from."""
    table = message.split(":", 1)[0]
    source = table_files.get(table)
    return f"{source}, {message}" if source else message


def _write(tmp, warehouse, run_id, started, source_dir, bundle, outcome, quarantine, progress) -> RunResult:
    """Write everything into the new file and close it; the published file is untouched."""
    from warehouse.query import quality

    con = duckdb.connect(str(tmp))
    try:
        ddl.create(con, DDL_DIR)
        progress(StepEvent(Step.STAGE))
        rows_loaded = 0
        # Each frame is let go once it is in the file, so the marts do not run beside a copy of every table.
        for table in list(outcome.tables):
            rows_loaded += insert_frame(con, table, outcome.tables.pop(table))
        store_year_organizations(con, bundle.year_organizations)
        bundle.year_organizations.clear()
        progress(StepEvent(Step.MARTS))
        build_marts(con)
        checksum = content_checksum(con)
        copy_history(con, warehouse, run_id)
        quarantined_rows = _record(con, run_id, started, source_dir, bundle, outcome, quarantine, checksum)
        con.execute("checkpoint")
        causes = tuple(quality.root_causes(con, run_id).to_dicts())
    finally:
        con.close()
    return RunResult(run_id, warehouse, checksum, rows_loaded, quarantined_rows, causes)


def _record(con, run_id, started, source_dir, bundle, outcome, quarantine, checksum) -> int:
    """Insert this run's lineage, validation results, quarantine and run row."""
    from etl.sources.base import rows_set_aside

    bad_rows = rows_set_aside(quarantine)
    files = pl.DataFrame(
        [
            {
                "run_id": run_id,
                "file_name": s.file_name,
                "kind": s.kind,
                "sha256": s.sha256,
                "size_bytes": s.size_bytes,
                "encoding": s.encoding,
                "rows_read": s.rows_read,
                "rows_loaded": s.rows_read - bad_rows.get(s.file_name, 0),
                "rows_quarantined": bad_rows.get(s.file_name, 0),
                "fiscal_year": bundle.file_years.get(s.file_name, (None, None))[0],
                "fiscal_year_from": bundle.file_years.get(s.file_name, (None, None))[1],
            }
            for s in bundle.files
        ],
        schema_overrides={"fiscal_year": pl.Int32, "fiscal_year_from": pl.String},
    )
    insert_frame(con, "etl_source_file", files)
    sheets = pl.DataFrame(
        [{"run_id": run_id, "file_name": f, "sheet": sh, "rows_read": n} for f, sh, n in bundle.sheets],
        schema={"run_id": pl.String, "file_name": pl.String, "sheet": pl.String, "rows_read": pl.Int32},
    )
    insert_frame(con, "etl_source_sheet", sheets)
    insert_frame(con, "etl_validation", outcome.results.with_columns(run_id=pl.lit(run_id)))
    # A reason never repeats a personal value: the value is kept in its own column only (warehouse.masking).
    insert_frame(con, "quarantine", strip_personal_reasons(quarantine).with_columns(run_id=pl.lit(run_id)))
    con.execute("insert into etl_data_docs values (?, ?)", [run_id, data_docs_html(outcome)])
    total_bad = sum(bad_rows.values())
    message = f"{sum(s.rows_read for s in bundle.files)} rows read, {total_bad} quarantined"
    con.execute(
        "insert into etl_run (run_id, started_at, finished_at, status, source_dir, content_checksum, message, "
        "schema_fingerprint) values (?, ?, ?, 'published', ?, ?, ?, ?)",
        [run_id, started, now_utc(), str(source_dir), checksum, message, schema_fingerprint()],
    )
    return total_bad


def data_docs_html(outcome) -> str:
    """The run's validation report as one HTML page (stored in the warehouse, shown on データ品質)."""
    from etl.validate import build_data_docs

    with tempfile.TemporaryDirectory() as tmp:
        return build_data_docs(outcome, Path(tmp)).read_text(encoding="utf-8")


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename into it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
