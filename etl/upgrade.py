"""Start-time upgrade: `python -m etl upgrade [--warehouse PATH] [--source DIR] [--reference DIR]`.

Run before the dashboard starts: by the systemd unit's ExecStartPre and by `make run`. When the published
warehouse was built by other DDL or marts SQL than this release's (its etl_run.schema_fingerprint differs,
or it predates fingerprints), it is rebuilt from the sources of the run that published it
(etl_run.source_dir: the intake archive directory of a publish, or the bundle a CLI build was given),
else from --source; the build publishes atomically and carries the run history as every build does.
Without sources it says so and leaves the published file alone: the app keeps serving it and readiness
reports the mismatch. Neither case stops the start (exit 0); only a bad command line exits non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl import intake, intake_worker
from etl.errors import EtlError
from warehouse import operations
from warehouse.fingerprint import recorded_fingerprint, schema_fingerprint
from warehouse.query import WarehouseMissing, connect, warehouse_path

SHORT = 12  # characters of a fingerprint in a log line


@dataclass(frozen=True)
class Outcome:
    """What the upgrade did to the warehouse: absent, current, rebuilt or kept (mismatch left in place)."""

    action: str
    message: str
    run_id: str | None = None


def _silent(_: str) -> None:
    """Progress sink that discards messages."""


def published_state(warehouse: Path) -> tuple[str | None, Path | None]:
    """(recorded fingerprint, sources of the published run); (None, None) when the file cannot say."""
    try:
        con = connect(warehouse)
    except (WarehouseMissing, duckdb.Error):
        return None, None
    try:
        recorded = recorded_fingerprint(con)
        row = con.execute(
            "select source_dir from etl_run where status = 'published' order by started_at desc, run_id desc limit 1"
        ).fetchone()
    except duckdb.Error:
        return None, None
    finally:
        con.close()
    return recorded, intake_worker.resolve_source_dir(row[0]) if row else None


@contextlib.contextmanager
def publish_lock(warehouse: Path, progress) -> Iterator[None]:
    """The intake's lock: no publish or rollback from the page runs between reading the sources and the swap."""
    with open(intake.lock_path(warehouse), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("a publish of this warehouse is running; the upgrade follows it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rebuild_if_schema_changed(
    warehouse: Path,
    *,
    fallback_source: Path | None = None,
    reference_dir: Path | None = None,
    progress=_silent,
) -> Outcome:
    """Rebuild the published warehouse from its sources when its schema fingerprint is not this code's."""
    if not warehouse.exists():
        return Outcome("absent", f"{warehouse}: no published warehouse yet, nothing to upgrade")
    code = schema_fingerprint()
    with publish_lock(warehouse, progress):
        recorded, sources = published_state(warehouse)
        if recorded == code:
            return Outcome("current", f"{warehouse}: schema current ({code[:SHORT]})")
        was = recorded[:SHORT] if recorded else "none recorded"
        candidates = [path for path in (sources, fallback_source) if path is not None]
        source = next((path for path in candidates if path.is_dir()), None)
        if source is None:
            tried = ", ".join(str(path) for path in candidates) or "none recorded, no --source"
            return Outcome(
                "kept",
                f"WARNING: {warehouse} was built by another schema ({was}; this release {code[:SHORT]}) and no sources "
                f"to rebuild it are available ({tried} not found): it stays published as it is and readiness reports "
                "the mismatch. Rebuild it: python -m etl build --source DIR --warehouse " + str(warehouse),
            )
        progress(f"schema changed ({was} → {code[:SHORT]}): rebuild {warehouse} from {source}")
        try:
            # The same sources as published: figures that move do so because the code changed, not the data.
            result = _build(source, warehouse, reference_dir, progress)
        except EtlError as error:
            return Outcome(
                "kept",
                f"WARNING: the rebuild from {source} failed, {warehouse} stays published as it is and readiness "
                f"reports the mismatch: {error}",
            )
    for change in result.changes:
        progress(f"changed by the new code: {change}")
    return Outcome(
        "rebuilt",
        f"{warehouse}: rebuilt as run {result.run_id} from {source}: {result.rows_loaded} rows loaded, "
        f"{result.rows_quarantined} quarantined (schema {code[:SHORT]})",
        result.run_id,
    )


def _build(source: Path, warehouse: Path, reference_dir: Path | None, progress):
    """etl.pipeline.build, changes accepted (imported here: Great Expectations only when a rebuild is due)."""
    from etl.pipeline import build

    return build(
        source, warehouse, progress=lambda event: progress(str(event)), reference_dir=reference_dir, accept_changes=True
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The upgrade command's options."""
    parser.add_argument(
        "--warehouse", type=Path, default=None, help="published DuckDB file (default $TSUNAGARI_WAREHOUSE)"
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="bundle to rebuild from when the published run's sources are gone"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="reference geography for a rebuild (default $TSUNAGARI_REFERENCE or `reference` beside the warehouse)",
    )


def run(args: argparse.Namespace) -> int:
    """Every start-time step in order, each logged; 0 unless a step must stop the start."""
    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] upgrade: {message}", file=sys.stderr, flush=True)

    warehouse = args.warehouse or warehouse_path()
    # 1. The operational store at this release's schema (an online backup first when migrations are pending);
    #    a store newer than this release stops the start.
    try:
        progress(operations.migrate().summary())
    except operations.StoreVersionError as error:
        progress(f"error: {error}")
        return 1
    # 2. The warehouse, rebuilt when its schema changed.
    reference = args.reference if args.reference is not None else intake.reference_dir()
    outcome = rebuild_if_schema_changed(
        warehouse, fallback_source=args.source, reference_dir=reference, progress=progress
    )
    progress(outcome.message)
    return 0
