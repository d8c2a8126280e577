"""Data-quality queries: runs, source-file lineage, expectation results, quarantined rows, trends."""

from __future__ import annotations

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse.masking import (
    MASK,
    PERSONAL_COLUMNS,
    PERSONAL_ROLES,
    PERSONAL_SHEETS,
    mask_quarantine,
    mask_report_html,
    mask_validation,
)
from warehouse.query import fetch, fetch_one, where

__all__ = ["MASK", "PERSONAL_COLUMNS", "PERSONAL_ROLES", "PERSONAL_SHEETS"]

# Who sees which personal values, and how they are masked: warehouse.masking (re-exported here).


def runs(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Every recorded run, newest first, with file, row, check and quarantine totals."""
    return fetch(
        con,
        "select r.run_id, r.started_at, r.finished_at, r.status, r.message, "
        "date_diff('millisecond', r.started_at, r.finished_at) / 1000.0 as seconds, "
        "coalesce(f.files, 0) as files, coalesce(f.rows_read, 0) as rows_read, "
        "coalesce(f.rows_loaded, 0) as rows_loaded, coalesce(f.rows_quarantined, 0) as rows_quarantined, "
        "coalesce(v.checks, 0) as checks, coalesce(v.failed, 0) as checks_failed "
        "from etl_run r "
        "left join (select run_id, count(*) as files, sum(rows_read)::bigint as rows_read, "
        "  sum(rows_loaded)::bigint as rows_loaded, sum(rows_quarantined)::bigint as rows_quarantined "
        "  from etl_source_file group by run_id) f on f.run_id = r.run_id "
        "left join (select run_id, count(*) as checks, count(*) filter (where not success) as failed "
        "  from etl_validation group by run_id) v on v.run_id = r.run_id "
        "order by r.started_at desc, r.run_id desc",
    )


def source_files(con: duckdb.DuckDBPyConnection, run_id: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Lineage of one run: each file's kind, hash, size, encoding and row counts."""
    return fetch(
        con,
        "select file_name, kind, sha256, size_bytes, encoding, rows_read, rows_loaded, rows_quarantined "
        "from etl_source_file where run_id = ? order by kind = 'seed', kind = 'reference', file_name",
        [run_id],
    )


def expectations(
    con: duckdb.DuckDBPyConnection, run_id: str, failed_only: bool = False, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Every expectation's result of one run, per table; failing values of personal tables masked for other roles."""
    fragments, params = ["run_id = ?"], [run_id]
    if failed_only:
        fragments.append("not success")
    frame = fetch(
        con,
        "select table_name, expectation, column_name, success, element_count, unexpected_count, details "
        "from etl_validation" + where(fragments) + " order by table_name, expectation",
        params,
    )
    return mask_validation(frame, viewer.role)


def expectation_summary(con: duckdb.DuckDBPyConnection, run_id: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Per table: how many expectations ran and failed, and rows they flagged."""
    return fetch(
        con,
        "select table_name, count(*) as checks, count(*) filter (where not success) as failed, "
        "coalesce(sum(unexpected_count), 0)::bigint as unexpected_rows "
        "from etl_validation where run_id = ? group by table_name order by failed desc, table_name",
        [run_id],
    )


def quarantined(
    con: duckdb.DuckDBPyConnection, run_id: str, file_name: str | None = None, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Quarantined rows of one run (optionally one file); personal values masked in value and reason for other roles."""
    fragments, params = ["run_id = ?"], [run_id]
    if file_name is not None:
        fragments.append("file_name = ?")
        params.append(file_name)
    frame = fetch(
        con,
        "select file_name, sheet, row_number, column_name, value, reason, check_name from quarantine"
        + where(fragments)
        + " order by file_name, sheet nulls first, row_number, column_name",
        params,
    )
    return mask_quarantine(frame, viewer.role)


def data_docs(con: duckdb.DuckDBPyConnection, run_id: str, viewer: Viewer = PUBLIC) -> str | None:
    """The validation report (HTML) written for one run, if any; failing values of personal tables masked for other roles."""
    row = fetch_one(con, "select html from etl_data_docs where run_id = ?", [run_id])
    return None if row is None else mask_report_html(row["html"], viewer.role)


def _quarantine_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The quarantine table's columns: a warehouse written before scopes and root causes lacks some."""
    return {
        row[0]
        for row in fetch(
            con,
            "select column_name from information_schema.columns where table_schema = 'main' and table_name = 'quarantine'",
        ).iter_rows()
    }


# A quarantine table written before root causes were recorded: every record stands for its own row.
_LEGACY_ROOT = "file_name || coalesce(', sheet ' || sheet, '') || coalesce(', row ' || row_number::varchar, '')"


def root_causes(con: duckdb.DuckDBPyConnection, run_id: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """One run's quarantine grouped by root cause: rows it set aside, dependent rows, values left out.

    A root cause is a source row (or an empty sheet); its dependants are rows of other sheets or files set
    aside with it. Only names, counts, columns and checks are returned, never a value, so nothing here is
    personal. Ordered by the rows each cause removed, most first.
    """
    scoped = {"scope", "root_cause", "dependants"} <= _quarantine_columns(con)
    root = f"coalesce(root_cause, {_LEGACY_ROOT})" if scoped else _LEGACY_ROOT
    scope = "coalesce(scope, 'row')" if scoped else "'row'"
    dependants = "dependants" if scoped else "null::integer"
    return fetch(
        con,
        "with q as (select file_name, sheet, row_number, column_name, check_name, "
        f"  {root} as root_cause, {scope} as scope, {dependants} as dependants from quarantine where run_id = ?) "
        "select root_cause, "
        "  count(distinct coalesce(sheet, '') || '#' || row_number::varchar) "
        "    filter (where scope = 'row' and row_number is not null) as rows_set_aside, "
        "  coalesce(sum(dependants) filter (where scope = 'dependants'), 0)::bigint as dependent_rows, "
        "  string_agg(distinct coalesce(sheet, file_name), '、' order by coalesce(sheet, file_name)) "
        "    filter (where scope = 'dependants') as dependent_sheets, "
        "  count(*) filter (where scope = 'cell') as values_left_out, "
        "  string_agg(distinct column_name, '、' order by column_name) filter (where scope <> 'dependants') as columns, "
        "  string_agg(distinct check_name, ', ' order by check_name) as checks "
        "from q group by root_cause "
        "order by rows_set_aside + dependent_rows desc, values_left_out desc, root_cause",
        [run_id],
    )


def values_left_out(con: duckdb.DuckDBPyConnection, run_id: str, viewer: Viewer = PUBLIC) -> int:
    """How many values one run left out (null) while loading their rows: its cell-level quarantine records."""
    if "scope" not in _quarantine_columns(con):
        return 0
    return fetch_one(con, "select count(*) as n from quarantine where run_id = ? and scope = 'cell'", [run_id])["n"]
