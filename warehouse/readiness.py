"""Whether this instance can serve: the checks behind `<base>/_tsunagari/ready` and `python -m etl.health`.

Ready means the published warehouse opens read-only and names the run that published it, its schema
fingerprint is the code's (warehouse.fingerprint), and the operational store passes SQLite's quick_check at
this release's schema version (absent is fine while its folder is writable: the first write creates it). Every reason here is for a
public answer: it names no file or folder and no person; the command line adds the paths.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from warehouse.fingerprint import code_fingerprint, recorded_fingerprint
from warehouse.operations.store import schema_version
from warehouse.query import WarehouseMissing, connect

# The app's readiness route under its base URL (served by dashboard/__main__.py).
READY_PATH = "_tsunagari/ready"
# Characters of a fingerprint shown in an answer: enough to tell two versions apart.
SHORT = 12


@dataclass(frozen=True)
class Check:
    """One check: passed or not, why (no paths, no personal data), and facts worth showing."""

    ok: bool
    reason: str
    facts: dict = field(default_factory=dict)


def check_warehouse(path: Path) -> tuple[Check, Check]:
    """(warehouse, schema): the file opens read-only and holds a published run; it was built by this code's SQL."""
    unknown = Check(False, "no warehouse to compare")
    try:
        con = connect(path)
    except WarehouseMissing:
        return Check(False, "missing: no warehouse has been published"), unknown
    except duckdb.Error as error:
        return Check(False, f"unreadable ({type(error).__name__})"), unknown
    try:
        row = con.execute(
            "select run_id, finished_at from etl_run where status = 'published' "
            "order by started_at desc, run_id desc limit 1"
        ).fetchone()
        recorded = recorded_fingerprint(con)
    except duckdb.Error as error:
        return Check(False, f"no run record ({type(error).__name__})"), unknown
    finally:
        con.close()
    if row is None:
        return Check(False, "no published run"), unknown
    run_id, finished = row
    published = finished.replace(tzinfo=dt.UTC).isoformat() if finished else None
    warehouse = Check(True, "published", {"run_id": run_id, "published_at": published})
    code = code_fingerprint()
    facts = {"code": code[:SHORT], "warehouse": recorded[:SHORT] if recorded else None}
    if recorded != code:
        return warehouse, Check(False, "built by another schema version: run python -m etl upgrade", facts)
    return warehouse, Check(True, "matches the code", facts)


def check_store(path: Path) -> Check:
    """The operational store passes quick_check; absent, its folder must be writable for the first write."""
    if not path.exists():
        return writable(path.parent, Check(True, "not created yet"))
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
        try:
            result = con.execute("pragma quick_check").fetchone()[0]
            version = int(con.execute("pragma user_version").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error as error:
        return Check(False, f"unreadable ({type(error).__name__})")
    if result != "ok":
        return Check(False, "quick_check failed")
    facts = {"version": version, "code_version": schema_version()}
    if version > schema_version():
        return Check(False, "written by a newer release: run that release or restore the pre-upgrade backup", facts)
    if version < schema_version():
        # The launcher migrates before it serves; an older store here means the migration has not run.
        return Check(False, "not migrated to this release: run python -m warehouse.operations migrate", facts)
    return writable(path.parent, Check(True, "quick_check ok", facts))


def writable(folder: Path, passed: Check) -> Check:
    """passed, unless the nearest existing folder is not writable for this user (store, WAL files, archive)."""
    existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
    if not os.access(existing, os.W_OK):
        return Check(False, f"{passed.reason}; its folder is not writable for the service user", passed.facts)
    return passed


def readiness(warehouse: Path, store: Path) -> dict:
    """The answer: ready or not, each check with its reason, and the published run."""
    checks = dict(zip(("warehouse", "schema"), check_warehouse(warehouse), strict=True))
    checks["operations_store"] = check_store(store)
    return {
        "ready": all(check.ok for check in checks.values()),
        "checks": {name: {"ok": check.ok, "reason": check.reason, **check.facts} for name, check in checks.items()},
    }
