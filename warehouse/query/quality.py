"""Data-quality queries: runs, source-file lineage, expectation results, quarantined rows, trends."""

from __future__ import annotations

import duckdb
import polars as pl

from warehouse.masking import MASK, PERSONAL_COLUMNS, PERSONAL_ROLES, PERSONAL_SHEETS, mask_quarantine, mask_report_html, mask_validation
from warehouse.query import PUBLIC, Viewer, fetch, fetch_one

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
        "from etl_validation where " + " and ".join(fragments) + " order by table_name, expectation",
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
        "select file_name, sheet, row_number, column_name, value, reason, check_name from quarantine "
        "where " + " and ".join(fragments) + " order by file_name, sheet nulls first, row_number, column_name",
        params,
    )
    return mask_quarantine(frame, viewer.role)


def data_docs(con: duckdb.DuckDBPyConnection, run_id: str, viewer: Viewer = PUBLIC) -> str | None:
    """The validation report (HTML) written for one run, if any; failing values of personal tables masked for other roles."""
    row = fetch_one(con, "select html from etl_data_docs where run_id = ?", [run_id])
    return None if row is None else mask_report_html(row["html"], viewer.role)
