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
    build.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="reference geography directory (towns/<市名>.json, boundaries/*.geojson|zip); optional",
    )
    fetch = commands.add_parser("fetch-reference", help="download the official reference geography into a cache")
    fetch.add_argument("--out", type=Path, required=True, help="cache directory")
    args = parser.parse_args(argv)

    if args.command == "fetch-reference":
        return fetch_reference(args.out)

    from etl.pipeline import build as run_build

    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        result = run_build(args.source, args.warehouse, progress=progress, reference_dir=args.reference)
    except EtlError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    print(
        f"published run {result.run_id} to {result.warehouse}: "
        f"{result.rows_loaded} rows loaded, {result.rows_quarantined} quarantined "
        f"(checksum {result.content_checksum[:12]})"
    )
    return 0


def fetch_reference(out: Path) -> int:
    """Download the official reference geography once; offline it explains and exits 1."""
    from etl import reference
    from etl.pipeline import SEEDS_DIR
    from etl.vocab import Vocabulary

    try:
        reference.fetch(out, Vocabulary.load(SEEDS_DIR))
    except OSError as error:
        print(
            f"reference geography could not be downloaded ({error}); the app works without it, "
            "but town search and coverage stay unavailable. Point REFERENCE at a local copy instead.",
            file=sys.stderr,
        )
        return 1
    print(f"reference geography cached in {out}")
    return 0
