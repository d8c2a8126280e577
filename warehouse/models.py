"""The header every model file (warehouse/marts/**/*.sql) opens with, and the check of its declared grain.

A header is the file's leading `--` lines: the purpose first, then `-- grain: col, col` (the columns whose
values identify one row), then `-- columns:` and one `--   name   meaning` line per column, in table order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

_COLUMN = re.compile(r"^--\s{2,}(\w+)\s+(.+)$")
_GRAIN = re.compile(r"^--\s?grain:\s*(.+)$")


@dataclass(frozen=True)
class Header:
    """What a model file says about itself."""

    purpose: str | None
    grain: tuple[str, ...]
    columns: dict[str, str]


def header(path: Path) -> Header:
    """Purpose, grain and column meanings from the leading comment lines of a model file."""
    purpose: str | None = None
    grain: tuple[str, ...] = ()
    columns: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        if purpose is None:
            purpose = line.lstrip("- ").strip() or None
        elif match := _GRAIN.match(line):
            grain = tuple(name.strip() for name in match[1].split(","))
        elif match := _COLUMN.match(line):
            columns[match[1]] = match[2].strip()
    return Header(purpose, grain, columns)


def _ident(name: str) -> str:
    """Quote an identifier from a model file or the build's own table name (never user input)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def duplicate_key(con: duckdb.DuckDBPyConnection, table: str, grain: tuple[str, ...]) -> tuple[dict, int] | None:
    """The most repeated grain key of a built table and how many rows share it, or None when every key is unique.

    Nulls compare equal here (one null city_code row is the four-city total; two would be a duplicate).
    """
    columns = ", ".join(_ident(name) for name in grain)
    row = con.execute(
        f"select {columns}, count(*) as __rows from {_ident(table)} group by all having count(*) > 1 "
        f"order by __rows desc, {columns} limit 1"
    ).fetchone()
    if row is None:
        return None
    return dict(zip(grain, row[:-1], strict=True)), row[-1]
