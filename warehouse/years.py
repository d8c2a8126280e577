"""Year scopes the marts build in and the dashboard reads: each year table read through a view of one year's rows.

The latest year's marts are the warehouse's own (schemas main and pii). When the bundle holds more than one
year, every earlier year Y has its own copy of every model but the mart_year_* ones, built in Y's scope into
schemas fy<Y> and fy<Y>_pii (e.g. fy2024, fy2024_pii), beside fy<Y>.organization (the organisations as Y's
own bundle listed them). A reader of year Y sees, under the usual names, Y's rows and Y's marts.
"""

from __future__ import annotations

import duckdb

# Marts named so read every year from the tables as stored; they build before the scope is set.
ALL_YEARS_PREFIX = "mart_year_"
# Intermediate models named so serve those marts: they too read every year and build before the scope is set.
ALL_YEARS_INTERMEDIATE_PREFIX = "int_year_"
YEAR_COLUMN = "fiscal_year"
# organization holds every year's organisations once; the latest year's are those it last listed.
LATEST_ORGANIZATIONS = "last_fiscal_year"
# Tables holding the bundle's years or the run's record, not one year's content: never filtered by year.
UNSCOPED = ("fiscal_year_bundle", "etl_source_file")
# The in-memory catalogue an earlier year's views live in (attached only while a scope is in use).
SCOPE_CATALOG = "fiscal_year_scope"
SCHEMAS = ("main", "pii")


def _quoted(*parts: str) -> str:
    """Quote an identifier taken from the catalogue (never from user input)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def year_schema(fiscal_year: int, schema: str = "main") -> str:
    """The schema holding an earlier year's models of schema main (fy2024) or pii (fy2024_pii)."""
    # int(): the year is part of an identifier, so only a number may reach it.
    return f"fy{int(fiscal_year)}" + ("" if schema == "main" else f"_{schema}")


def bundle_years(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[int]:
    """The years fiscal_year_bundle lists, oldest first (read from catalog, default the current database)."""
    (catalog,) = (catalog,) if catalog else con.execute("select current_database()").fetchone()
    return [
        row[0]
        for row in con.execute(
            f"select fiscal_year from {_quoted(catalog, 'main', 'fiscal_year_bundle')} order by 1"
        ).fetchall()
    ]


def earlier_years(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[int]:
    """Every year of the bundle but the latest (empty for a single-year bundle)."""
    return bundle_years(con, catalog)[:-1]


def scoped_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(table, column) of every main-schema table the latest-year scope filters, from the DDL's columns."""
    return [
        tuple(row)
        for row in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() and table_schema = 'main' and column_name in (?, ?) "
            "and table_name <> 'fiscal_year_bundle' order by table_name",
            [YEAR_COLUMN, LATEST_ORGANIZATIONS],
        ).fetchall()
    ]


def install_latest_scope(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Shadow each year table with a temporary view of the bundle's latest year; returns the views made.

    DuckDB resolves an unqualified name in the temp catalogue first, so every model built meanwhile reads only
    the latest year (with one year: everything, as before years existed). The view names the table through
    its catalogue, which the temp catalogue does not shadow. pii tables cannot be shadowed (the temp catalogue
    has only schema main): the models reading them join them to a scoped table on fiscal_year.
    """
    (catalog,) = con.execute("select current_database()").fetchone()
    latest = f"(select max(fiscal_year) from {_quoted(catalog, 'main', 'fiscal_year_bundle')})"
    made = []
    for table, column in scoped_tables(con):
        con.execute(
            f"create or replace temp view {_quoted(table)} as "
            f"select * from {_quoted(catalog, 'main', table)} where {_quoted(column)} = {latest}"
        )
        made.append(table)
    return made


def drop_latest_scope(con: duckdb.DuckDBPyConnection, views: list[str]) -> None:
    """Remove the scope's views, so later reads see the stored tables again."""
    for table in views:
        con.execute(f"drop view if exists temp.main.{_quoted(table)}")


def _base_tables(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> list[tuple[str, str | None, bool]]:
    """(name, comment, has a fiscal_year column) of every base table of catalog.schema."""
    return [
        tuple(row)
        for row in con.execute(
            "select t.table_name, t.comment, exists (select 1 from duckdb_columns() c where c.database_name = t.database_name "
            "and c.schema_name = t.schema_name and c.table_name = t.table_name and c.column_name = ?) "
            "from duckdb_tables() t where t.database_name = ? and t.schema_name = ? and not t.temporary order by 1",
            [YEAR_COLUMN, catalog, schema],
        ).fetchall()
    ]


def _year_source(catalog: str, schema: str, table: str, has_year: bool, fiscal_year: int, own: set[str]) -> str | None:
    """The select a view of `table` shows in year fiscal_year's scope, or None when the scope leaves it out.

    own: the tables the year's schema holds (its marts, its organisations). A mart of every year (mart_year_*)
    and a table without fiscal_year are the same in every year; other models are the year's own or absent.
    """
    if table in own:
        return f"select * from {_quoted(catalog, year_schema(fiscal_year, schema), table)}"
    if table.startswith(ALL_YEARS_PREFIX) or not table.startswith(("mart_", "int_")):
        if has_year and table not in UNSCOPED and not table.startswith(ALL_YEARS_PREFIX):
            return f"select * from {_quoted(catalog, schema, table)} where {_quoted(YEAR_COLUMN)} = {int(fiscal_year)}"
        return f"select * from {_quoted(catalog, schema, table)}"
    return None


def install_year_scope(con: duckdb.DuckDBPyConnection, catalog: str, fiscal_year: int, *, with_marts: bool) -> str:
    """Attach SCOPE_CATALOG with a view per table of catalog showing fiscal_year's rows; returns its search path.

    with_marts (a reader): the marts too, each the year's own (fy<Y>, fy<Y>_pii) or, for mart_year_*, the
    stored one, and every view carries its table's comments, so the catalogue reads as the warehouse's own.
    Without (a build): only the tables, so the year's models are built into the scope (qualified pii.* names
    resolve in the first catalogue of the search path that has schema pii: the scope's).
    """
    con.execute(f"attach ':memory:' as {_quoted(SCOPE_CATALOG)}")
    con.execute(f"create schema {_quoted(SCOPE_CATALOG, 'pii')}")
    for schema in SCHEMAS:
        own = {name for name, _, _ in _base_tables(con, catalog, year_schema(fiscal_year, schema))}
        for table, comment, has_year in _base_tables(con, catalog, schema):
            if not with_marts and table.startswith(("mart_", "int_")):
                continue
            source = _year_source(
                catalog, schema, table, has_year, fiscal_year, own if with_marts or table == "organization" else set()
            )
            if source is None:
                continue
            view = _quoted(SCOPE_CATALOG, schema, table)
            con.execute(f"create view {view} as {source}")
            if with_marts:
                _copy_comments(con, catalog, schema, table, view, comment)
    return f"{SCOPE_CATALOG}.main,{_quoted(catalog)}.main"


def _copy_comments(con, catalog: str, schema: str, table: str, view: str, comment: str | None) -> None:
    """Give a scope's view its table's comment and column comments (the data catalogue shows them)."""
    if comment is not None:
        con.execute(f"comment on view {view} is {_literal(comment)}")
    for column, text in con.execute(
        "select column_name, comment from duckdb_columns() where database_name = ? and schema_name = ? "
        "and table_name = ? and comment is not null",
        [catalog, schema, table],
    ).fetchall():
        con.execute(f"comment on column {view}.{_quoted(column)} is {_literal(text)}")


def _literal(text: str) -> str:
    """A SQL string literal of a catalogue comment (COMMENT ON takes no bound value)."""
    return "'" + text.replace("'", "''") + "'"


def drop_year_scope(con: duckdb.DuckDBPyConnection) -> None:
    """Detach the scope's catalogue (its views and any model built in it go with it)."""
    con.execute(f"detach database if exists {_quoted(SCOPE_CATALOG)}")


def store_year_models(con: duckdb.DuckDBPyConnection, catalog: str, fiscal_year: int, names: list[str]) -> None:
    """Copy the models built in the scope (name or pii.name) into catalog's fy<Y> / fy<Y>_pii schemas."""
    for name in names:
        schema, _, table = name.rpartition(".")
        target = year_schema(fiscal_year, schema or "main")
        con.execute(f"create schema if not exists {_quoted(catalog, target)}")
        con.execute(
            f"create table {_quoted(catalog, target, table)} as "
            f"select * from {_quoted(SCOPE_CATALOG, schema or 'main', table)}"
        )
