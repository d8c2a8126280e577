"""Readiness of a Tsunagari instance for a supervisor or a monitor: `python -m etl.health [--url URL]`.

Liveness is Streamlit's own `<base>/_stcore/health` ("ok" while the server runs). Ready means more:
the published warehouse opens read-only and holds a published run, the operational store (when it
exists) passes SQLite's quick_check, and the data directories are writable for the service user.
Prints one JSON object; exit status 0 when ready, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path

import duckdb

from etl.intake import archive_root
from warehouse import operations
from warehouse.query import WarehouseMissing, connect, warehouse_path

HTTP_TIMEOUT_S = 5


def check_warehouse(path: Path) -> tuple[bool, str]:
    """The published warehouse opens read-only and names the run that built it."""
    try:
        con = connect(path)
    except WarehouseMissing:
        return False, f"{path}: missing (build it: python -m etl build --source DIR --warehouse {path})"
    except duckdb.Error as error:
        return False, f"{path}: unreadable ({error})"
    try:
        row = con.execute(
            "select run_id, source_dir from etl_run where status = 'published' "
            "order by started_at desc, run_id desc limit 1"
        ).fetchone()
    except duckdb.Error as error:
        return False, f"{path}: no run record ({error})"
    finally:
        con.close()
    return (True, f"{path}: run {row[0]}, sources {row[1]}") if row else (False, f"{path}: no published run")


def check_store(path: Path) -> tuple[bool, str]:
    """The operational store passes quick_check (absent is fine: the first write creates it)."""
    if not path.exists():
        return _writable(path.parent, f"{path}: not created yet")
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
        try:
            result = con.execute("pragma quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as error:
        return False, f"{path}: unreadable ({error})"
    if result != "ok":
        return False, f"{path}: quick_check says {result}"
    return _writable(path.parent, f"{path}: quick_check ok")


def _writable(folder: Path, message: str) -> tuple[bool, str]:
    """The service must be able to write beside its data (new store, WAL files, archived submissions)."""
    existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
    if not os.access(existing, os.W_OK):
        return False, f"{message}; {existing} is not writable for this user"
    return True, message


def check_url(url: str) -> tuple[bool, str]:
    """Streamlit's liveness endpoint under the app's base URL answers "ok"."""
    health = url.rstrip("/") + "/_stcore/health"
    try:
        with urllib.request.urlopen(health, timeout=HTTP_TIMEOUT_S) as response:
            body = response.read(64).decode("utf-8", "replace").strip()
            return response.status == 200 and body == "ok", f"{health}: {response.status} {body}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{health}: {error}"


def readiness(url: str | None = None) -> dict:
    """Every check with its outcome and message, and whether all passed."""
    checks = {
        "warehouse": check_warehouse(warehouse_path()),
        "operations_store": check_store(operations.store_path()),
        "archive": _writable(archive_root(), f"{archive_root()}"),
    }
    if url:
        checks["http"] = check_url(url)
    return {
        "ready": all(ok for ok, _ in checks.values()),
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Print the readiness report as JSON; 0 when ready."""
    parser = argparse.ArgumentParser(prog="python -m etl.health", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="also poll <URL>/_stcore/health, e.g. http://127.0.0.1:8501/tsunagari")
    args = parser.parse_args(argv)
    report = readiness(args.url)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ready"] else 1


if __name__ == "__main__":
    sys.exit(main())
