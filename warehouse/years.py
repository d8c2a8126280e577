"""The latest-year scope the marts build in: each year table read through a view of its latest year's rows."""

from __future__ import annotations

import duckdb

# Marts named so read every year from the tables as stored; they build before the scope is set.
ALL_YEARS_PREFIX = "mart_year_"
# Intermediate models named so serve those marts: they too read every year and build before the scope is set.
ALL_YEARS_INTERMEDIATE_PREFIX = "int_year_"
YEAR_COLUMN = "fiscal_year"
# organization holds every year's organisations once; the latest year's are those it last listed.
LATEST_ORGANIZATIONS = "last_fiscal_year"


def _quoted(*parts: str) -> str:
    """Quote an identifier taken from the catalogue (never from user input)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


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
