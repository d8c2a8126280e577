"""Command line: python -m etl build --source DIR --warehouse PATH."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from etl.errors import EtlError
from etl.sources.base import LIMIT_SETTINGS
from etl.steps import StepEvent

LIMIT_HELP = {
    "max_file_bytes": "largest source file, bytes",
    "max_unpacked_bytes": "largest unpacked size of an archive (xlsx, KMZ), bytes",
    "max_compression_ratio": "largest compression ratio of an archive member",
    "max_archive_members": "most members an archive may hold",
}


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
    build.add_argument(
        "--accept-changes",
        action="store_true",
        help="publish even when the change guard finds changes from the published warehouse (after checking them)",
    )
    build.add_argument(
        "--change-share",
        default=None,
        help="share a headline figure may move by without confirmation (0.2 or 20%%; env TSUNAGARI_CHANGE_SHARE)",
    )
    for name, (env, option) in LIMIT_SETTINGS.items():
        build.add_argument(option, dest=name, default=None, help=f"{LIMIT_HELP[name]} (env {env})")
    upgrade = commands.add_parser(
        "upgrade", help="before a start: rebuild the published warehouse when its schema changed (docs/operations.md)"
    )
    from etl.upgrade import add_arguments
    from etl.upgrade import run as run_upgrade

    add_arguments(upgrade)
    fetch = commands.add_parser("fetch-reference", help="download the official reference geography into a cache")
    fetch.add_argument("--out", type=Path, required=True, help="cache directory")
    args = parser.parse_args(argv)

    if args.command == "fetch-reference":
        return fetch_reference(args.out)
    if args.command == "upgrade":
        return run_upgrade(args)

    from etl.guard import parse_share
    from etl.pipeline import build as run_build
    from etl.sources.base import Limits, parse_limit

    began = time.perf_counter()

    def progress(event: StepEvent) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {event}", file=sys.stderr, flush=True)

    try:
        # Options override the environment, which overrides the built-in limits.
        options = {
            name: parse_limit(option, getattr(args, name))
            for name, (_, option) in LIMIT_SETTINGS.items()
            if getattr(args, name) is not None
        }
        limits = Limits.from_env().replace(**options)
        share = None if args.change_share is None else parse_share(args.change_share)
        result = run_build(
            args.source,
            args.warehouse,
            progress=progress,
            reference_dir=args.reference,
            limits=limits,
            accept_changes=args.accept_changes,
            max_change_share=share,
        )
    except EtlError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    print(
        f"published run {result.run_id} to {result.warehouse}: "
        f"{result.rows_loaded} rows loaded, {result.rows_quarantined} quarantined "
        f"(checksum {result.content_checksum[:12]})"
    )
    for line in root_cause_lines(result.root_causes):
        print(line)
    for change in result.changes:
        print(f"accepted change: {change}")
    return 0


def root_cause_lines(causes) -> list[str]:
    """The build summary's quarantine, one line per root cause with what it removed."""
    if not causes:
        return ["quarantine: none (隔離なし)"]
    lines = [f"quarantine by root cause ({len(causes)}):"]
    for cause in causes:
        parts = []
        if cause["rows_set_aside"]:
            parts.append(f"{cause['rows_set_aside']} row(s) set aside")
        if cause["dependent_rows"]:
            parts.append(f"{cause['dependent_rows']} dependent row(s) in {cause['dependent_sheets']}")
        if cause["values_left_out"]:
            parts.append(f"{cause['values_left_out']} value(s) left out")
        columns = f" [{cause['columns']}]" if cause["columns"] else ""
        lines.append(f"- {cause['root_cause']}: {', '.join(parts)}{columns} ({cause['checks']})")
    return lines


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
