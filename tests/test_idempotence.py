"""Idempotence: the same sources give the same warehouse, row for row, whether built fresh or over a previous run."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from etl.pipeline import BOOKKEEPING, build, content_checksum, quoted

# A second full build of the sample: make test, not make test-fast.
pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def base_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table of a warehouse as schema.name, sorted."""
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def content_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables whose rows make the published content (bookkeeping excluded)."""
    return [t for t in base_tables(con) if t.split(".", 1)[1] not in BOOKKEEPING]


def rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """All rows of a table in a total order."""
    return con.execute(f"select * from {quoted(table)} order by all").fetchall()


def test_two_builds_of_the_same_sources_have_identical_content_tables(tmp_path, sample_build):
    # Built over a copy of the first warehouse: the second run also carries the first one's history.
    published = tmp_path / "w.duckdb"
    shutil.copy(sample_build.warehouse, published)
    again = build(SAMPLE, published)
    assert again.run_id != sample_build.run_id
    assert again.content_checksum == sample_build.content_checksum

    with (
        duckdb.connect(str(sample_build.warehouse), read_only=True) as first,
        duckdb.connect(str(published), read_only=True) as second,
    ):
        assert base_tables(first) == base_tables(second)
        tables = content_tables(first)
        # Every DDL table and every mart takes part, personal-data tables included.
        assert {"main.organization", "main.location", "main.mart_city_kpis", "pii.survey_respondent"} <= set(tables)
        assert all(rows(first, t) for t in ("main.organization", "main.survey_response", "main.event_session"))
        for table in tables:
            assert rows(first, table) == rows(second, table), table
        assert content_checksum(first) == content_checksum(second) == sample_build.content_checksum
        # Only the bookkeeping grows: the second warehouse records both runs, with equal checksums.
        assert second.execute("select run_id, content_checksum from etl_run order by started_at").fetchall() == [
            (sample_build.run_id, sample_build.content_checksum),
            (again.run_id, again.content_checksum),
        ]
        assert first.execute("select count(*) from etl_run").fetchone() == (1,)
