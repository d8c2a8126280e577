"""The warehouse schema as the DDL states it: every table's columns, types, not-null and key columns.

warehouse/ddl/*.sql is the only place a table is defined. This module runs the DDL in an in-memory
DuckDB and reads DuckDB's own catalogue (duckdb_columns, duckdb_constraints), so nothing here parses
SQL; polars dtypes come from DuckDB's Arrow export of each type, not from a type table of ours.
The ETL's frame schemas, the quarantine schema and the structural expectations are derived from it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

DDL_DIR = Path(__file__).resolve().parent / "ddl"
# Bookkeeping tables of warehouse/ddl/090_ops.sql: written by the pipeline itself, never by a source.
OPS_TABLES = ("etl_run", "etl_source_file", "etl_source_sheet", "etl_validation", "quarantine", "etl_data_docs")
# Columns whose name carries one meaning in every table: create() comments each one the DDL leaves uncommented,
# so the meaning is written once (a table whose column means something else comments it in its DDL).
CONVENTIONAL_COMMENTS = {
    "fiscal_year": "年度: the 西暦 year its fiscal year starts (2024 = R6年度), from the bundle folder the file came from",
    "organization_id": "organization.id",
    "run_id": "etl_run.run_id",
    "sort_order": "Display order",
}


@dataclass(frozen=True)
class Column:
    """One column of a DDL table."""

    name: str
    duckdb_type: str
    dtype: pl.DataType
    not_null: bool


@dataclass(frozen=True)
class Table:
    """One DDL table: its columns in DDL order and its primary key and unique column groups."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    unique: tuple[tuple[str, ...], ...]

    @property
    def polars(self) -> dict[str, pl.DataType]:
        """Column name → polars dtype, in DDL order (a frame schema)."""
        return {c.name: c.dtype for c in self.columns}

    @property
    def not_null(self) -> tuple[str, ...]:
        """Columns the DDL declares not null (primary-key columns included), in DDL order."""
        return tuple(c.name for c in self.columns if c.not_null)

    @property
    def keys(self) -> tuple[tuple[str, ...], ...]:
        """Column groups whose values must be unique: the primary key first, then unique constraints."""
        return ((self.primary_key,) if self.primary_key else ()) + self.unique


def qualified(schema: str, table: str) -> str:
    """A table's name as the project writes it: bare in main, 'pii.organization_contact' elsewhere."""
    return table if schema == "main" else f"{schema}.{table}"


def create(con: duckdb.DuckDBPyConnection, ddl_dir: Path = DDL_DIR) -> None:
    """Run the DDL files in order, then give the conventional columns they leave uncommented their one comment."""
    for path in sorted(Path(ddl_dir).glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))
    names = list(CONVENTIONAL_COMMENTS)
    for schema, table, column in con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() where database_name = current_database() "
        "and not internal and comment is null and list_contains(?, column_name) order by table_oid, column_index",
        [names],
    ).fetchall():
        target = ".".join(_identifier(part) for part in (schema, table, column))
        text = CONVENTIONAL_COMMENTS[column].replace("'", "''")
        con.execute(f"comment on column {target} is '{text}'")


def _identifier(name: str) -> str:
    """A catalogue name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def load(ddl_dir: Path = DDL_DIR) -> dict[str, Table]:
    """Every table of the DDL in ddl_dir, keyed by qualified name in DDL order (cached per directory)."""
    return _load(Path(ddl_dir).resolve())


@functools.cache
def _load(ddl_dir: Path) -> dict[str, Table]:
    """load() for a resolved directory: the DDL does not change while a process runs."""
    con = duckdb.connect()
    try:
        create(con, ddl_dir)
        columns: dict[str, list[tuple[str, str, bool]]] = {}
        for schema, table, column, data_type, nullable in con.execute(
            "select schema_name, table_name, column_name, data_type, is_nullable from duckdb_columns() "
            "where not internal order by table_oid, column_index"
        ).fetchall():
            columns.setdefault(qualified(schema, table), []).append((column, data_type, nullable))
        keys: dict[str, dict[str, list[tuple[str, ...]]]] = {}
        for schema, table, kind, names in con.execute(
            "select schema_name, table_name, constraint_type, constraint_column_names from duckdb_constraints() "
            "where constraint_type in ('PRIMARY KEY', 'UNIQUE') order by table_oid, constraint_index"
        ).fetchall():
            keys.setdefault(qualified(schema, table), {}).setdefault(kind, []).append(tuple(names))
        # One empty row through DuckDB's Arrow export gives the polars dtype of every column's DuckDB type.
        flat = [(name, column, data_type) for name, specs in columns.items() for column, data_type, _ in specs]
        probe = ", ".join(f"cast(null as {data_type}) as c{i}" for i, (_, _, data_type) in enumerate(flat))
        dtypes = dict(
            zip(((n, c) for n, c, _ in flat), pl.from_arrow(con.sql(f"select {probe}").to_arrow_table()).dtypes)
        )
        tables = {}
        for name, specs in columns.items():
            primary = keys.get(name, {}).get("PRIMARY KEY", [()])[0]
            tables[name] = Table(
                name=name,
                columns=tuple(Column(c, t, dtypes[name, c], not nullable) for c, t, nullable in specs),
                primary_key=primary,
                unique=tuple(keys.get(name, {}).get("UNIQUE", [])),
            )
        return tables
    finally:
        con.close()


def frame_schemas(ddl_dir: Path = DDL_DIR) -> dict[str, dict[str, pl.DataType]]:
    """Polars schema of every table a source fills (every DDL table but the bookkeeping ones)."""
    return {name: table.polars for name, table in load(ddl_dir).items() if name not in OPS_TABLES}


def quarantine_schema(ddl_dir: Path = DDL_DIR) -> dict[str, pl.DataType]:
    """Polars schema of a quarantine frame: the quarantine table's columns but run_id (set when stored)."""
    return {c: t for c, t in load(ddl_dir)["quarantine"].polars.items() if c != "run_id"}


def results_schema(ddl_dir: Path = DDL_DIR) -> dict[str, pl.DataType]:
    """Polars schema of a validation results frame: etl_validation's columns but run_id (set when stored)."""
    return {c: t for c, t in load(ddl_dir)["etl_validation"].polars.items() if c != "run_id"}
