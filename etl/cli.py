"""Command line: python -m etl build --source DIR --warehouse PATH."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from etl.errors import EtlError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the command and return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m etl", description="Tsunagari ETL")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build and publish the warehouse from a source bundle")
    build.add_argument("--source", type=Path, required=True, help="source bundle directory")
    build.add_argument("--warehouse", type=Path, required=True, help="published DuckDB file")
    args = parser.parse_args(argv)

    from etl.pipeline import build as run_build

    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        result = run_build(args.source, args.warehouse, progress=progress)
    except EtlError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    print(
        f"published run {result.run_id} to {result.warehouse}: "
        f"{result.rows_loaded} rows loaded, {result.rows_quarantined} quarantined "
        f"(checksum {result.content_checksum[:12]})"
    )
    return 0
