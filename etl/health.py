"""Readiness of a Tsunagari instance for a supervisor or a monitor: `python -m etl.health [--url URL]`.

Liveness is Streamlit's own `<base>/_stcore/health` ("ok" while the server runs); the running app answers
readiness itself at `<base>/_tsunagari/ready` (dashboard/__main__.py). This command runs the same checks
(warehouse.readiness: the published warehouse opens read-only and holds a published run built by this
code's schema, the operational store passes SQLite's quick_check) on the machine, naming the files, and
also checks that the sources archive is writable for the service user.
Prints one JSON object; exit status 0 when ready, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from etl.intake import archive_root
from warehouse import operations
from warehouse import readiness as checks
from warehouse.query import warehouse_path

HTTP_TIMEOUT_S = 5


def check_warehouse(path: Path) -> tuple[tuple[bool, str], tuple[bool, str]]:
    """(warehouse, schema) as (ok, detail), the detail naming the file and what to do."""
    warehouse, schema = checks.check_warehouse(path)
    detail = f"{path}: {warehouse.reason}"
    if warehouse.reason.startswith("missing"):
        detail += f" (build it: python -m etl build --source DIR --warehouse {path})"
    elif warehouse.ok:
        detail += f" run {warehouse.facts['run_id']} at {warehouse.facts['published_at']}"
    facts = ", ".join(f"{key} {value}" for key, value in schema.facts.items())
    return (warehouse.ok, detail), (schema.ok, f"{path}: {schema.reason}" + (f" ({facts})" if facts else ""))


def check_store(path: Path) -> tuple[bool, str]:
    """The operational store passes quick_check (absent is fine: the first write creates it)."""
    result = checks.check_store(path)
    return result.ok, f"{path}: {result.reason}"


def check_archive(path: Path) -> tuple[bool, str]:
    """The sources archive (or the nearest existing folder above it) is writable for this user."""
    result = checks.writable(path, checks.Check(True, "writable"))
    return result.ok, f"{path}: {result.reason}"


def check_url(url: str) -> tuple[bool, str]:
    """The running app's own readiness route under its base URL answers 200 (liveness included)."""
    ready = url.rstrip("/") + "/" + checks.READY_PATH
    if not ready.startswith(("http://", "https://")):
        return False, f"{ready}: not an http(s) address"
    try:
        # The scheme is checked just above: an operator's http(s) address, never file: or a custom scheme.
        with urllib.request.urlopen(ready, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
            return response.status == 200, f"{ready}: {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"{ready}: {error.code} {error.read(2000).decode('utf-8', 'replace')}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{ready}: {error}"


def readiness(url: str | None = None) -> dict:
    """Every check with its outcome and message, and whether all passed."""
    warehouse, schema = check_warehouse(warehouse_path())
    results = {
        "warehouse": warehouse,
        "schema": schema,
        "operations_store": check_store(operations.store_path()),
        "archive": check_archive(archive_root()),
    }
    if url:
        results["http"] = check_url(url)
    return {
        "ready": all(ok for ok, _ in results.values()),
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Print the readiness report as JSON; 0 when ready."""
    parser = argparse.ArgumentParser(prog="python -m etl.health", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", help="also ask the running app, <URL>/_tsunagari/ready, e.g. http://127.0.0.1:8501/tsunagari"
    )
    args = parser.parse_args(argv)
    report = readiness(args.url)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ready"] else 1


if __name__ == "__main__":
    sys.exit(main())
