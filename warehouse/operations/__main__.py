"""`python -m warehouse.operations migrate [--store PATH]`: bring the operational store to this release's schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from warehouse.operations.store import StoreVersionError, migrate, store_path


def main(argv: list[str] | None = None) -> int:
    """Run the pending migrations (backup first) and say what was done; 1 when the store cannot be used."""
    parser = argparse.ArgumentParser(prog="python -m warehouse.operations", description="Tsunagari operational store")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("migrate", help="apply pending schema migrations, after an online backup")
    run.add_argument("--store", type=Path, default=None, help="store file (default: $TSUNAGARI_OPERATIONS)")
    args = parser.parse_args(argv)
    try:
        result = migrate(args.store or store_path())
    except StoreVersionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
