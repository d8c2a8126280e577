"""warehouse/schema.py reads the DDL through DuckDB; frame schemas and structural expectations follow it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl.reference import BOUNDARY_COLUMNS, SOURCE_COLUMNS, TOWN_COLUMNS
from etl.sources.base import QUARANTINE_SCHEMA, TABLE_SCHEMAS
from etl.validate import EXPECTATIONS_DIR, REQUIRED_REASON, load_suites, validate
from etl.vocab import LINEAGE
from warehouse import schema

STRUCTURAL_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def test_conventional_columns_take_their_one_comment_unless_the_ddl_gives_its_own(tmp_path):
    (tmp_path / "010_a.sql").write_text(
        "create table a (fiscal_year integer, run_id varchar, note varchar);\n"
        "comment on column a.run_id is 'Its own meaning';\n"
        "create schema p;\n"
        "create table p.b (organization_id varchar, sort_order integer);\n",
        encoding="utf-8",
    )
    con = duckdb.connect()
    schema.create(con, tmp_path)
    comments = con.execute(
        "select schema_name || '.' || table_name || '.' || column_name, comment from duckdb_columns() "
        "where not internal order by table_oid, column_index"
    ).fetchall()
    assert comments == [
        ("main.a.fiscal_year", schema.CONVENTIONAL_COMMENTS["fiscal_year"]),
        ("main.a.run_id", "Its own meaning"),
        ("main.a.note", None),
        ("p.b.organization_id", "organization.id"),
        ("p.b.sort_order", "Display order"),
    ]


def test_every_ddl_column_has_a_comment():
    con = duckdb.connect()
    schema.create(con)
    assert (
        con.execute(
            "select table_name, column_name from duckdb_columns() where not internal and comment is null"
        ).fetchall()
        == []
    )


def test_the_ddl_read_by_duckdb():
    tables = schema.load()
    progress = tables["pf_progress"]
    assert progress.primary_key == ("fiscal_year", "city_code", "step_code")
    assert progress.not_null == ("fiscal_year", "city_code", "step_code", "status_code", "source_row")
    assert progress.polars["start_month"] == pl.Date and progress.polars["source_row"] == pl.Int32
    assert tables["survey_response"].polars["submitted_at"] == pl.Datetime("us")
    assert tables["contract"].polars["amount_yen"] == pl.Int64
    assert tables["event_session"].polars["start_time"] == pl.Time
    assert tables["location"].columns[6] == schema.Column("latitude", "DOUBLE", pl.Float64, True)
    assert tables["pii.event_participant"].keys == (("fiscal_year", "participant_id"),)
    assert tables["organization_source"].keys == ()
    assert list(tables["city"].polars) == ["code", "name_ja", "name_en", "sort_order", "population", "population_date"]
    assert schema.load() is tables  # cached: the DDL is read once per process


def test_frame_schemas_and_quarantine_schema_are_the_ddl():
    tables = schema.load()
    assert set(TABLE_SCHEMAS) == set(tables) - set(schema.OPS_TABLES) - {"ref_town", "ref_city_boundary", "ref_source"}
    assert TABLE_SCHEMAS["organization"] == tables["organization"].polars
    assert list(QUARANTINE_SCHEMA) == [c.name for c in tables["quarantine"].columns if c.name != "run_id"]
    assert tables["ref_town"].polars | LINEAGE == TOWN_COLUMNS
    assert tables["ref_city_boundary"].polars | LINEAGE == BOUNDARY_COLUMNS
    assert tables["ref_source"].polars == SOURCE_COLUMNS


def test_no_suite_repeats_a_rule_the_ddl_states():
    tables = schema.load()
    for path in sorted(EXPECTATIONS_DIR.glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        table = tables[suite["name"]]
        keys = {"+".join(key) for key in table.keys}
        assert set(suite["meta"]["structure"].get("key_reason_ja", {})) == keys, path.name
        for exp in suite["expectations"]:
            kind, kwargs = exp["type"], exp["kwargs"]
            assert kind != "expect_table_columns_to_match_set", path.name
            if kind == "expect_column_values_to_not_be_null":
                assert kwargs["column"] not in {*table.not_null, "_file"}, (path.name, kwargs)
            if kind in STRUCTURAL_TYPES:
                assert "+".join(kwargs.get("column_list") or [kwargs["column"]]) not in keys, (path.name, kwargs)


def test_every_ddl_rule_is_an_expectation():
    tables = schema.load()
    for name, suite in load_suites().items():
        expectations = suite["expectations"]
        not_null = [e["kwargs"]["column"] for e in expectations if e["type"] == "expect_column_values_to_not_be_null"]
        assert [c for c in not_null if c != "_file"] == list(tables[name].not_null), name
        (columns,) = [e["kwargs"] for e in expectations if e["type"] == "expect_table_columns_to_match_set"]
        assert columns["column_set"][: len(tables[name].columns)] == [c.name for c in tables[name].columns], name


def added_column(tmp_path: Path) -> Path:
    """A copy of warehouse/ddl whose event table has one more column, memo varchar not null."""
    ddl = tmp_path / "ddl"
    shutil.copytree(schema.DDL_DIR, ddl)
    events = ddl / "030_events.sql"
    text = events.read_text(encoding="utf-8")
    assert "    open_days integer,\n    primary key" in text
    events.write_text(
        text.replace(
            "    open_days integer,\n    primary key",
            "    open_days integer,\n    memo varchar not null,\n    primary key",
        )
    )
    return ddl


def city_and_event(memo: list[str | None] | None) -> dict[str, pl.DataFrame]:
    """A valid city and two events of it; with a memo column when memo is given."""
    lineage = {"_file": "x.csv", "_sheet": None}
    city = pl.DataFrame(
        [
            {
                "code": "14216",
                "name_ja": "座間市",
                "name_en": "Zama",
                "sort_order": 1,
                "population": 1,
                "population_date": None,
            }
            | lineage
            | {"_row": 2}
        ],
        schema=schema.load()["city"].polars | LINEAGE,
    )
    events = [
        {
            "fiscal_year": 2024,
            "id": f"WS-{i}",
            "kind": "workshop",
            "title": "t",
            "artist_or_programme": None,
            "city_code": "14216",
            "venue": "v",
            "venue_address": None,
            "start_date": dt.date(2025, 1, 1),
            "end_date": dt.date(2025, 1, 1),
            "open_days": 1,
        }
        | lineage
        | {"_row": i + 2}
        for i in range(2)
    ]
    event = pl.DataFrame(events, schema=schema.load()["event"].polars | LINEAGE)
    if memo is not None:
        event = event.insert_column(11, pl.Series("memo", memo, pl.String))
    return {"city": city, "event": event}


def test_a_column_added_to_the_ddl_is_in_the_schema_and_the_expectations(tmp_path):
    ddl = added_column(tmp_path)
    event = schema.load(ddl)["event"]
    assert event.polars["memo"] == pl.String and "memo" in event.not_null
    assert "memo" not in schema.load()["event"].polars
    suites = load_suites(EXPECTATIONS_DIR, ddl_dir=ddl)
    (columns,) = [e for e in suites["event"]["expectations"] if e["type"] == "expect_table_columns_to_match_set"]
    assert columns["kwargs"]["column_set"][-4:] == ["memo", "_file", "_sheet", "_row"]
    assert {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "memo"},
        "meta": {"reason_ja": REQUIRED_REASON, "level": "row"},
    } in suites["event"]["expectations"]
    suites = {name: suites[name] for name in ("city", "event")}

    missing = validate(city_and_event(None), suites)
    assert any("missing: memo" in message for message in missing.fatal)

    outcome = validate(city_and_event(["ok", None]), suites)
    assert outcome.ok, outcome.fatal
    assert outcome.quarantine.select("row_number", "column_name", "reason", "check_name").to_dicts() == [
        {
            "row_number": 3,
            "column_name": "memo",
            "reason": REQUIRED_REASON,
            "check_name": "gx.expect_column_values_to_not_be_null",
        }
    ]
    assert outcome.tables["event"].get_column("id").to_list() == ["WS-0"]


def test_a_suite_needs_the_reason_for_each_ddl_key(tmp_path):
    suite = json.loads((EXPECTATIONS_DIR / "event.json").read_text(encoding="utf-8"))
    del suite["meta"]["structure"]["key_reason_ja"]
    (tmp_path / "event.json").write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(Exception, match=r"key_reason_ja needs the reason for duplicates of fiscal_year\+id"):
        load_suites(tmp_path)
