"""Consultee figures (相談者, sensitive) live only in the pii schema and reach only the viewers one rule allows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest

from common.roles import PUBLIC, ROLES, Viewer
from etl import pipeline
from etl.errors import EtlError
from warehouse import docs, masking, schema
from warehouse.query import city_kpis_table, home_kpis, may_see_consultees
from warehouse.query import events as q

ROOT = Path(__file__).resolve().parent.parent
DDL_DIR = ROOT / "warehouse" / "ddl"
MARTS_DIR = ROOT / "warehouse" / "marts"
CITIES = ("14213", "14215", "14216", "14218")
SENSITIVE = re.compile(r"consultee|相談者", re.IGNORECASE)
# What only a pii mart may read: the consultee counts and the roster's consultee flag.
PII_SOURCES = ("pii.event_session_consultees", "is_consultee", "pii.mart_")


def test_consultee_counts_are_published_figures_every_role_sees():
    """The cities publish the counts (WS① 23 participants, 17 of them consultees): public, by masking.may_see."""
    assert masking.VISIBILITY["consultee_counts"] == masking.PUBLISHED
    viewers = [Viewer(role) for role in ROLES] + [Viewer("city_manager", c) for c in CITIES]
    assert all(may_see_consultees(viewer, city) for viewer in viewers for city in (*CITIES, None))


def test_a_stricter_rule_reaches_every_query(consultees_withheld):
    allowed = {
        (viewer.role, viewer.city_code, city)
        for viewer in [Viewer(role) for role in ROLES if role != "city_manager"]
        + [Viewer("city_manager", c) for c in CITIES]
        for city in (*CITIES, None)
        if may_see_consultees(viewer, city)
    }
    assert allowed == {("admin", None, city) for city in (*CITIES, None)} | {
        ("city_manager", city, city) for city in CITIES
    }
    # A city manager without a city (not allowed by roles.toml, but possible in code) sees nothing.
    assert not any(may_see_consultees(Viewer("city_manager"), city) for city in (*CITIES, None))


def test_no_main_schema_column_or_ddl_mentions_consultees(sample_con):
    published = sample_con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'main'"
    ).fetchall()
    assert len({table for table, _ in published}) >= 30
    assert [(t, c) for t, c in published if SENSITIVE.search(t) or SENSITIVE.search(c)] == []
    # The DDL itself: names and comments of every main-schema table and column.
    ddl = duckdb.connect()
    schema.create(ddl, DDL_DIR)
    catalogue = ddl.execute(
        "select t.table_name, t.comment, c.column_name, c.comment from duckdb_tables() as t "
        "join duckdb_columns() as c using (schema_name, table_name) where t.schema_name = 'main'"
    ).fetchall()
    assert [row for row in catalogue if any(SENSITIVE.search(text or "") for text in row)] == []
    # The positive control: the figures are in the pii schema.
    assert ddl.execute(
        "select column_name from duckdb_columns() where schema_name = 'pii' and table_name = 'event_session_consultees'"
    ).fetchall() == [("fiscal_year",), ("session_id",), ("consultees",)]


def test_main_marts_never_read_consultee_sources():
    for path in sorted(MARTS_DIR.glob("*.sql")):
        body = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("--"))
        assert [source for source in PII_SOURCES if source in body] == [], path.name
        header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("--   ")]
        assert [line for line in header if SENSITIVE.search(line.split()[1])] == [], path.name


def test_pii_marts_are_built_in_the_pii_schema(sample_con):
    stems = sorted(path.stem for path in (MARTS_DIR / "pii").glob("*.sql"))
    assert stems == [
        "mart_activity_follow_up_contact",
        "mart_city_consultees",
        "mart_event_consultee_targets",
        "mart_event_consultees",
    ]
    assert sample_con.execute(
        "select table_schema, table_name from information_schema.tables where table_name like 'mart%' "
        "and table_schema = 'pii' order by table_name"
    ).fetchall() == [("pii", stem) for stem in stems]
    assert sample_con.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name in (?, ?, ?, ?)",
        stems,
    ).fetchone() == (0,)
    text = docs.TARGET.read_text(encoding="utf-8")
    assert all(f"### `pii.{stem}`" in text for stem in stems)


def test_build_marts_creates_pii_marts_after_the_main_ones(tmp_path, monkeypatch):
    (tmp_path / "pii").mkdir()
    (tmp_path / "mart_a.sql").write_text("-- a\n-- grain: n\nselect 1 as n", encoding="utf-8")
    (tmp_path / "pii" / "mart_b.sql").write_text("-- b\n-- grain: n\nselect n + 1 as n from mart_a", encoding="utf-8")
    monkeypatch.setattr(pipeline, "MARTS_DIR", tmp_path)
    con = duckdb.connect()
    con.execute("create schema pii")
    assert pipeline.build_marts(con) == ["mart_a", "pii.mart_b"]
    assert con.execute("select n from pii.mart_b").fetchall() == [(2,)]
    (tmp_path / "pii" / "mart_c.sql").write_text("select nothing from nowhere", encoding="utf-8")
    broken = duckdb.connect()
    broken.execute("create schema pii")
    with pytest.raises(EtlError, match=r"^warehouse/marts/pii/mart_c\.sql: Catalog Error: Table with name nowhere"):
        pipeline.build_marts(broken)


@pytest.mark.parametrize("role", ["public", "analyst", "liaison"])
def test_viewers_without_the_right_never_read_the_pii_schema(sample_warehouse, tmp_path, role, consultees_withheld):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_warehouse, path)
    with duckdb.connect(str(path)) as con:
        con.execute("drop schema pii cascade")
    con = duckdb.connect(str(path), read_only=True)
    try:
        viewer = Viewer(role)
        for city in (*CITIES, None):
            assert home_kpis(con, city, viewer)["consultees_hidden"] is True
            assert q.kpis(con, city, viewer)["workshop_consultee_participations"] is None
            assert q.events(con, city, viewer)["consultee_participations"].null_count() == q.events(con, city).height
            assert q.sessions(con, city, viewer)["consultees"].null_count() == q.sessions(con, city).height
            assert q.targets(con, city, viewer)["actual_hidden"].sum() == 0
        assert city_kpis_table(con, "ja", viewer)["workshop_consultee_participations"].null_count() == 5
        # The same queries for an admin do read it, so the schema really is gone.
        with pytest.raises(duckdb.CatalogException):
            q.sessions(con, None, Viewer("admin"))
    finally:
        con.close()


def test_public_is_the_default_viewer(sample_con, consultees_withheld):
    assert q.kpis(sample_con, None) == q.kpis(sample_con, None, PUBLIC)
    assert q.kpis(sample_con, None)["consultees_hidden"] is True


def test_the_public_sees_the_event_level_consultee_counts(sample_con):
    """Each workshop session's consultee count as the events workbook records it, shown to a visitor not signed in."""
    workbook = openpyxl.load_workbook(ROOT / "data" / "sample" / "events.xlsx", read_only=True)
    rows = list(workbook["開催回"].iter_rows(values_only=True))
    workbook.close()
    raw = [dict(zip(rows[0], row, strict=True)) for row in rows[1:] if any(row)]
    recorded = {(r["イベントID"], r["回"]): r["うち相談者数"] for r in raw if r["うち相談者数"] is not None}
    assert recorded and max(recorded.values()) > 0
    sessions = q.sessions(sample_con, None, PUBLIC)
    shown = {
        (row["event_id"], row["seq"]): row["consultees"]
        for row in sessions.iter_rows(named=True)
        if row["consultees"] is not None
    }
    assert shown == recorded
    assert not sessions["consultees_hidden"].any()
    kpis = q.kpis(sample_con, None, PUBLIC)
    assert kpis["consultees_hidden"] is False
    assert kpis["workshop_consultee_participations"] == sum(recorded.values())
