"""Tests of etl/validate.py with real Great Expectations on small polars frames."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from etl import validate as validate_module
from etl.errors import EtlError, ValidationFailed
from etl.validate import LINEAGE, build_data_docs, load_suites, validate

ROOT = Path(__file__).resolve().parent.parent
VOCABULARIES = {
    "city",
    "legal_form",
    "channel",
    "pf_intent",
    "taxonomy",
    "taxonomy_term",
    "pf_phase",
    "pf_step",
    "pf_status",
}
ORG_A, ORG_B = "ORG-aaaaaaaaaaaa", "ORG-bbbbbbbbbbbb"
D = dt.date(2025, 1, 15)


def ddl_columns() -> dict[str, list[str]]:
    """Columns of every warehouse table, read from warehouse/ddl/*.sql."""
    ddl = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "warehouse/ddl").glob("*.sql")))
    columns = {}
    for match in re.finditer(r"create table ([\w.]+) \((.*?)\n\);", ddl, re.DOTALL):
        lines = [line.strip() for line in match.group(2).splitlines()]
        columns[match.group(1)] = [line.split()[0] for line in lines if line and not line.startswith("primary key")]
    return columns


COLUMNS = ddl_columns()
# Pipeline bookkeeping (runs, lineage, results) is written by the pipeline itself, never validated.
OPS_TABLES = set(re.findall(r"create table ([\w.]+)", (ROOT / "warehouse/ddl/090_ops.sql").read_text(encoding="utf-8")))


# Year columns (not null in the DDL) default to the sample's 年度 unless a row names them.
YEAR_DEFAULTS = {"fiscal_year": 2024, "first_fiscal_year": 2024, "last_fiscal_year": 2024}


def frame(
    table: str, rows: list[dict], file: str = "seed.csv", sheet: str | None = None, lineage: bool = True
) -> pl.DataFrame:
    """A frame with every DDL column (missing ones null) and lineage, data from row 2."""
    full = [{c: row.get(c, YEAR_DEFAULTS.get(c)) for c in COLUMNS[table]} for row in rows]
    if not lineage:
        return pl.DataFrame(full)
    full = [{**row, "_file": file, "_sheet": sheet, "_row": i + 2} for i, row in enumerate(full)]
    return pl.DataFrame(full, schema_overrides={"_file": pl.String, "_sheet": pl.String, "_row": pl.Int64})


def clean_tables() -> dict[str, pl.DataFrame]:
    """A small, fully consistent set of every warehouse table."""
    org = {
        "name_key": "k",
        "city_code": "14216",
        "first_source_list": "座間市",
        "source_count": 1,
        "survey_answered": True,
    }
    return {
        "city": frame(
            "city",
            [
                {
                    "code": "14213",
                    "name_ja": "大和市",
                    "name_en": "Yamato",
                    "sort_order": 1,
                    "population": 240000,
                    "population_date": D,
                },
                {
                    "code": "14216",
                    "name_ja": "座間市",
                    "name_en": "Zama",
                    "sort_order": 3,
                    "population": 130000,
                    "population_date": D,
                },
            ],
        ),
        "legal_form": frame("legal_form", [{"code": "npo", "name_ja": "NPO法人", "name_en": "NPO", "sort_order": 1}]),
        "channel": frame("channel", [{"code": "mail", "name_ja": "メール", "name_en": "Email", "sort_order": 1}]),
        "pf_intent": frame(
            "pf_intent", [{"code": "join", "name_ja": "参加したい", "name_en": "Join", "sort_order": 1}]
        ),
        "pf_status": frame("pf_status", [{"code": "done", "name_ja": "完了", "name_en": "Done", "sort_order": 3}]),
        "taxonomy": frame(
            "taxonomy",
            [
                {"id": "content", "name": "活動内容", "name_en": "Content"},
                {"id": "form", "name": "支援の形態", "name_en": "Form"},
            ],
        ),
        "taxonomy_term": frame(
            "taxonomy_term",
            [
                {
                    "id": "content:family",
                    "taxonomy_id": "content",
                    "code": "family",
                    "name": "家庭",
                    "name_en": "Family",
                    "sort_order": 1,
                },
                {
                    "id": "content:hikikomori",
                    "taxonomy_id": "content",
                    "code": "hikikomori",
                    "parent_id": "content:family",
                    "name": "ひきこもり",
                    "name_en": "Hikikomori",
                    "sort_order": 5,
                },
                {
                    "id": "form:ibasho",
                    "taxonomy_id": "form",
                    "code": "ibasho",
                    "name": "居場所づくり",
                    "name_en": "Places",
                    "sort_order": 3,
                    "gradient_rank": 3,
                    "color_hex": "#3f9fbf",
                },
            ],
        ),
        "pf_phase": frame(
            "pf_phase", [{"code": "a", "label": "(ア)", "name_ja": "初期段階", "name_en": "Initial", "sort_order": 1}]
        ),
        "pf_step": frame(
            "pf_step",
            [{"code": "s1", "label": "①", "name_ja": "主担当", "name_en": "Lead", "phase_code": "a", "sort_order": 1}],
        ),
        "organization": frame(
            "organization",
            [
                dict(
                    id=ORG_A,
                    name="（サンプル）A",
                    legal_form_code="npo",
                    distribution_channel_code="mail",
                    pf_intent_code="join",
                    **org,
                ),
                dict(id=ORG_B, name="（サンプル）B", **{**org, "survey_answered": False}),
            ],
            file="distribution_list.xlsx",
            sheet="座間市",
        ),
        "organization_year": frame(
            "organization_year",
            [
                {"organization_id": ORG_A, "name": "（サンプル）A", **org},
                {"organization_id": ORG_B, "name": "（サンプル）B", **{**org, "survey_answered": False}},
            ],
            file="distribution_list.xlsx",
            sheet="座間市",
        ),
        "fiscal_year_bundle": frame(
            "fiscal_year_bundle", [{"fiscal_year": 2024, "year_from": "default", "is_latest": True}], lineage=False
        ),
        "organization_source": frame(
            "organization_source",
            [
                {
                    "organization_id": ORG_A,
                    "source_list": "座間市",
                    "source_row": 2,
                    "name_as_listed": "A",
                    "city_code": "14216",
                },
                {
                    "organization_id": ORG_B,
                    "source_list": "座間市",
                    "source_row": 3,
                    "name_as_listed": "B",
                    "city_code": "14216",
                },
            ],
            file="distribution_list.xlsx",
            sheet="座間市",
        ),
        "service": frame(
            "service", [{"id": f"SVC-{ORG_A}", "organization_id": ORG_A, "name": "A"}], file="survey_answers.csv"
        ),
        "attribute": frame(
            "attribute",
            [
                {
                    "id": f"ATT-SVC-{ORG_A}-content:hikikomori",
                    "link_id": f"SVC-{ORG_A}",
                    "link_type": "content",
                    "link_entity": "service",
                    "taxonomy_term_id": "content:hikikomori",
                },
            ],
            file="survey_answers.csv",
        ),
        "service_area": frame(
            "service_area",
            [
                {"id": f"SA-SVC-{ORG_A}-14216", "service_id": f"SVC-{ORG_A}", "city_code": "14216", "name": "座間市"},
                {"id": f"SA-SVC-{ORG_A}-other", "service_id": f"SVC-{ORG_A}", "city_code": None, "name": "4市以外"},
            ],
            file="survey_answers.csv",
        ),
        "location": frame(
            "location",
            [
                {
                    "id": f"LOC-{ORG_A}",
                    "organization_id": ORG_A,
                    "name": "A",
                    "city_code": "14216",
                    "latitude": 35.49,
                    "longitude": 139.40,
                    "source_row": 1,
                },
                {
                    "id": f"LOC-{ORG_B}",
                    "organization_id": ORG_B,
                    "name": "B",
                    "city_code": "14216",
                    "latitude": 35.47,
                    "longitude": 139.41,
                    "source_row": 2,
                },
            ],
            file="resource_map.kmz",
            sheet="座間市",
        ),
        "survey_response": frame(
            "survey_response",
            [
                {
                    "id": f"RES-{ORG_A}",
                    "organization_id": ORG_A,
                    "submitted_at": dt.datetime(2025, 1, 15, 10, 23),
                    "city_code": "14216",
                    "legal_form_code": "npo",
                    "has_isolation_initiative": True,
                    "pf_intent_code": "join",
                    "source_row": 2,
                },
            ],
            file="survey_answers.csv",
        ),
        "event": frame(
            "event",
            [
                {
                    "id": "WS-1",
                    "kind": "workshop",
                    "title": "WS",
                    "city_code": "14216",
                    "venue": "会場",
                    "start_date": D,
                    "end_date": D,
                    "open_days": 1,
                },
            ],
            file="events.xlsx",
            sheet="イベント",
        ),
        "event_session": frame(
            "event_session",
            [
                {"id": "WS-1-1", "event_id": "WS-1", "seq": 1, "session_date": D, "participants": 10},
            ],
            file="events.xlsx",
            sheet="開催回",
        ),
        "event_survey_result": frame(
            "event_survey_result",
            [
                {"event_id": "WS-1", "question": "満足度", "choice": "満足", "choice_order": 1, "answers": 8},
            ],
            file="events.xlsx",
            sheet="アンケート集計",
        ),
        "event_comment": frame(
            "event_comment",
            [{"id": "WS-1-C2", "event_id": "WS-1", "comment": "よかった"}],
            file="events.xlsx",
            sheet="自由記述",
        ),
        "contract": frame(
            "contract",
            [
                {
                    "id": "C-1",
                    "project": "アート事業",
                    "contractor": "（サンプル）社",
                    "amount_yen": 1_000_000,
                    "period_start": dt.date(2024, 11, 1),
                    "period_end": dt.date(2025, 3, 1),
                },
            ],
            file="events.xlsx",
            sheet="契約",
        ),
        "pf_progress": frame(
            "pf_progress",
            [
                {
                    "city_code": "14216",
                    "step_code": "s1",
                    "status_code": "done",
                    "start_month": dt.date(2024, 8, 1),
                    "start_precision": "month",
                    "end_month": dt.date(2024, 9, 1),
                    "source_row": 2,
                },
            ],
            file="pf_progress.xlsx",
            sheet="進捗",
        ),
        "pf_note": frame(
            "pf_note",
            [{"id": "14216-N2", "city_code": "14216", "noted_on": D, "kind": "issue", "text": "課題"}],
            file="pf_progress.xlsx",
            sheet="振り返り",
        ),
        "pii.organization_contact": frame(
            "pii.organization_contact",
            [
                {"organization_id": ORG_A, "source_list": "座間市", "contact_name": "担当"},
            ],
            file="distribution_list.xlsx",
            sheet="座間市",
        ),
        "pii.survey_respondent": frame(
            "pii.survey_respondent",
            [
                {"response_id": f"RES-{ORG_A}", "organization_id": ORG_A, "respondent_name": "回答者"},
            ],
            file="survey_answers.csv",
        ),
        "pii.event_participant": frame(
            "pii.event_participant",
            [{"participant_id": "P001", "name": "参加者", "is_consultee": True}],
            file="events.xlsx",
            sheet="参加者名簿",
        ),
        "pii.event_attendance": frame(
            "pii.event_attendance",
            [{"participant_id": "P001", "session_id": "WS-1-1"}],
            file="events.xlsx",
            sheet="出欠",
        ),
        "pii.event_session_consultees": frame(
            "pii.event_session_consultees",
            [{"session_id": "WS-1-1", "consultees": 2}],
            file="events.xlsx",
            sheet="開催回",
        ),
        "kpi_target": frame(
            "kpi_target",
            [
                {
                    "id": "total_reach:all",
                    "kpi_code": "total_reach",
                    "target_value": 500.0,
                    "unit": "名",
                    "source_row": 2,
                },
                {
                    "id": "exhibition_visitors:14216",
                    "kpi_code": "exhibition_visitors",
                    "city_code": "14216",
                    "target_value": 300.0,
                    "unit": "名",
                    "source_row": 3,
                },
            ],
            file="kpi_targets.csv",
        ),
        "ref_town": frame(
            "ref_town",
            [
                {
                    "id": "14216:相模が丘",
                    "city_code": "14216",
                    "town": "相模が丘",
                    "name": "相模が丘",
                    "latitude": 35.49,
                    "longitude": 139.41,
                },
            ],
            file="towns/14216.csv",
        ),
        "ref_city_boundary": frame(
            "ref_city_boundary",
            [
                {"city_code": "14216", "name": "座間市", "geometry_geojson": '{"type":"Polygon","coordinates":[]}'},
            ],
            file="boundaries/N03.geojson",
        ),
        "ref_source": frame(
            "ref_source",
            [
                {
                    "dataset": "towns",
                    "location": "/ref",
                    "licence": "CC BY 4.0",
                    "credit": "Geolonia",
                    "sha256": "0" * 64,
                },
            ],
            lineage=False,
        ),
    }


def _same_frame(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Same columns, dtypes and values (nulls in the same places)."""
    return a.schema == b.schema and a.equals(b)


def _same_dangling(a: dict[int, pl.Series | None], b: dict[int, pl.Series | None]) -> bool:
    """Same rule indices, each with the same column of dangling values (or both without one)."""
    if a.keys() != b.keys():
        return False
    return all(
        (a[i] is None and b[i] is None)
        or (a[i] is not None and b[i] is not None and a[i].dtype == b[i].dtype and a[i].equals(b[i]))
        for i in a
    )


class GxMemo:
    """The GX answers for each (runner, table, exact input) this module has already had checked.

    Every scenario is the clean set with a table or two changed, and a full GX run over the 34 tables
    costs ~4 CPU-s: an input checked before (same runner, so the same definitions; equal frame and
    dangling values, compared exactly) gets that run's answer again, the rest run in GX as in a build.
    """

    def __init__(self) -> None:
        self.runs: dict[tuple[object, str], list[tuple[pl.DataFrame, dict, dict]]] = {}
        self.bypassed: set[str] | None = set()  # tables run in GX whatever the memo holds; None: every table
        self.hits = 0

    def wrap(self, run):
        """_GxRunner.run answering repeated inputs from this memo."""

        def memo_run(runner, table, frame, dangling):
            if self.bypassed is None or table in self.bypassed:
                return run(runner, table, frame, dangling)
            seen = self.runs.setdefault((runner, table), [])
            for old_frame, old_dangling, answer in seen:
                if _same_frame(frame, old_frame) and _same_dangling(dangling, old_dangling):
                    self.hits += 1
                    return answer
            answer = run(runner, table, frame, dangling)
            seen.append((frame, dict(dangling), answer))
            return answer

        return memo_run

    @contextlib.contextmanager
    def off(self, tables: set[str] | None = None):
        """Every validate() inside runs these tables (None: all its tables) in GX."""
        self.bypassed = None if tables is None else set(tables)
        try:
            yield
        finally:
            self.bypassed = set()


@pytest.fixture(scope="module", autouse=True)
def gx_memo():
    """GxMemo in place of re-running GX on inputs this module has had checked (validate() reads, never edits, them)."""
    memo = GxMemo()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validate_module._GxRunner, "run", memo.wrap(validate_module._GxRunner.run))
        yield memo


@pytest.fixture(scope="module")
def suites() -> dict[str, dict]:
    """The shipped suites, read once."""
    return load_suites()


@pytest.fixture(scope="module")
def clean_outcome(suites):
    """validate() on the clean set, run once for several assertions."""
    return validate(clean_tables(), suites)


def with_rows(tables: dict[str, pl.DataFrame], table: str, updates: dict[int, dict]) -> dict[str, pl.DataFrame]:
    """Copy of tables with some cells of one table replaced (row position → column values)."""
    rows = tables[table].to_dicts()
    for i, values in updates.items():
        rows[i].update(values)
    return {**tables, table: pl.DataFrame(rows, schema=tables[table].schema)}


def quarantined(outcome) -> list[dict]:
    """Quarantine entries as dicts (what each says; every one of them sets its own row aside)."""
    assert set(outcome.quarantine["scope"]) <= {"row"}
    assert outcome.quarantine["dependants"].null_count() == outcome.quarantine.height
    return outcome.quarantine.drop("scope", "root_cause", "dependants").to_dicts()


# --- the suites as data ---------------------------------------------------------------------------


def test_every_warehouse_table_has_a_suite_with_its_exact_columns(suites):
    assert set(suites) == set(COLUMNS) - OPS_TABLES
    for table, suite in suites.items():
        schema = [e for e in suite["expectations"] if e["type"] == "expect_table_columns_to_match_set"]
        assert len(schema) == 1 and schema[0]["meta"]["level"] == "table", table
        # Run metadata such as ref_source has no source rows, hence no lineage.
        assert schema[0]["kwargs"]["column_set"] in (COLUMNS[table], COLUMNS[table] + list(LINEAGE)), table
        assert schema[0]["kwargs"]["exact_match"] is True, table


def test_every_expectation_names_a_real_column_and_a_bilingual_reason(suites):
    for table, suite in suites.items():
        allowed = set(COLUMNS[table]) | set(LINEAGE)
        for exp in suite["expectations"]:
            kwargs = exp["kwargs"]
            named = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
            assert set(named + kwargs.get("column_list", [])) <= allowed, (table, exp)
            assert re.fullmatch(r"[^()]+ \([ -~]+\)", exp["meta"]["reason_ja"]), (table, exp)
            assert exp["meta"]["level"] in ("row", "table")
            if table in VOCABULARIES:
                assert exp["meta"]["level"] == "table", (table, exp)


def test_referential_rules_are_all_declared(suites):
    refs = {
        (table, exp["kwargs"]["column"], exp["kwargs"]["value_set"]["$ref"])
        for table, suite in suites.items()
        for exp in suite["expectations"]
        if isinstance(exp["kwargs"].get("value_set"), dict)
    }
    required = {
        ("organization", "city_code", "city.code"),
        ("organization", "legal_form_code", "legal_form.code"),
        ("organization", "distribution_channel_code", "channel.code"),
        ("organization", "pf_intent_code", "pf_intent.code"),
        ("organization_source", "organization_id", "organization.id"),
        ("service", "organization_id", "organization.id"),
        ("location", "organization_id", "organization.id"),
        ("survey_response", "organization_id", "organization.id"),
        ("pii.organization_contact", "organization_id", "organization.id"),
        ("attribute", "link_id", "service.id"),
        ("attribute", "taxonomy_term_id", "taxonomy_term.id"),
        ("service_area", "service_id", "service.id"),
        ("event", "city_code", "city.code"),
        ("event_session", "event_id", "event.id"),
        ("event_survey_result", "event_id", "event.id"),
        ("event_comment", "event_id", "event.id"),
        ("pf_progress", "city_code", "city.code"),
        ("pf_progress", "step_code", "pf_step.code"),
        ("pf_progress", "status_code", "pf_status.code"),
        ("pf_note", "city_code", "city.code"),
        ("pii.event_attendance", "session_id", "event_session.id"),
        ("pii.event_attendance", "participant_id", "pii.event_participant.participant_id"),
        ("pii.event_session_consultees", "session_id", "event_session.id"),
        ("taxonomy_term", "taxonomy_id", "taxonomy.id"),
    }
    assert required <= refs
    for _table, _column, ref in refs:
        parent, _, parent_column = ref.rpartition(".")
        assert parent_column in COLUMNS[parent], ref


def test_no_expectation_reads_personal_data(suites):
    personal = {
        "contact_name",
        "contact_email",
        "contact_phone",
        "respondent_name",
        "respondent_email",
        "respondent_phone",
        "name",
    }
    for table in ("pii.organization_contact", "pii.survey_respondent", "pii.event_participant"):
        for exp in suites[table]["expectations"]:
            assert exp["kwargs"].get("column") not in personal, (table, exp)


# --- validate() -----------------------------------------------------------------------------------


def test_clean_tables_pass_with_nothing_quarantined(clean_outcome, suites):
    tables = clean_tables()
    assert clean_outcome.fatal == []
    assert clean_outcome.ok
    assert clean_outcome.quarantine.to_dicts() == []
    assert clean_outcome.quarantine.columns == [
        "file_name",
        "sheet",
        "row_number",
        "column_name",
        "value",
        "reason",
        "check_name",
        "scope",
        "root_cause",
        "dependants",
    ]
    assert {t: f.to_dicts() for t, f in clean_outcome.tables.items()} == {t: f.to_dicts() for t, f in tables.items()}
    results = clean_outcome.results
    assert results.columns == [
        "table_name",
        "expectation",
        "column_name",
        "success",
        "element_count",
        "unexpected_count",
        "details",
    ]
    assert results.height == sum(len(s["expectations"]) for s in suites.values())
    assert results.filter(~pl.col("success")).to_dicts() == []
    assert results.filter(pl.col("unexpected_count") > 0).to_dicts() == []


def test_results_describe_each_expectation(clean_outcome):
    location = clean_outcome.results.filter(pl.col("table_name") == "location")
    assert location.head(4).to_dicts() == [
        {
            "table_name": "location",
            "expectation": "expect_table_columns_to_match_set(15 columns, exact)",
            "column_name": None,
            "success": True,
            "element_count": 2,
            "unexpected_count": None,
            "details": None,
        },
        {
            "table_name": "location",
            "expectation": "expect_table_row_count_to_be_between(min_value=1)",
            "column_name": None,
            "success": True,
            "element_count": 2,
            "unexpected_count": None,
            "details": None,
        },
        {
            "table_name": "location",
            "expectation": "expect_column_values_to_not_be_null(_file)",
            "column_name": "_file",
            "success": True,
            "element_count": 2,
            "unexpected_count": 0,
            "details": None,
        },
        {
            "table_name": "location",
            "expectation": "expect_column_values_to_not_be_null(fiscal_year)",
            "column_name": "fiscal_year",
            "success": True,
            "element_count": 2,
            "unexpected_count": 0,
            "details": None,
        },
    ]
    labels = set(location.get_column("expectation"))
    assert "expect_column_values_to_be_in_set(organization_id, in organization.id)" in labels
    assert "expect_column_values_to_be_between(latitude, min_value=35.4, max_value=35.54)" in labels
    # Parents are checked before their children, so cascades need no extra round in the common case.
    order = list(dict.fromkeys(clean_outcome.results.get_column("table_name")))
    assert order.index("organization") < order.index("service") < order.index("attribute")
    assert order.index("event_session") < order.index("pii.event_attendance")


def test_latitude_out_of_range_is_quarantined_and_the_rest_kept(suites):
    tables = with_rows(clean_tables(), "location", {1: {"latitude": 36.2}})
    outcome = validate(tables, suites)
    assert outcome.fatal == []
    assert quarantined(outcome) == [
        {
            "file_name": "resource_map.kmz",
            "sheet": "座間市",
            "row_number": 3,
            "column_name": "latitude",
            "value": "36.2",
            "reason": "緯度が4市の範囲外です (latitude outside the four-city area)",
            "check_name": "gx.expect_column_values_to_be_between",
        }
    ]
    assert outcome.tables["location"].to_dicts() == tables["location"].head(1).to_dicts()
    # Row-level failures leave the table passing once the row is set aside; the count stays visible.
    latitude = outcome.results.filter(
        pl.col("table_name") == "location",
        pl.col("expectation").str.starts_with("expect_column_values_to_be_between(latitude"),
    )
    assert latitude.to_dicts() == [
        {
            "table_name": "location",
            "expectation": "expect_column_values_to_be_between(latitude, min_value=35.4, max_value=35.54)",
            "column_name": "latitude",
            "success": True,
            "element_count": 2,
            "unexpected_count": 1,
            "details": "36.2 ×1",
        }
    ]


def test_dangling_organization_id_in_location_is_quarantined(suites):
    tables = with_rows(clean_tables(), "location", {0: {"organization_id": "ORG-cccccccccccc"}})
    outcome = validate(tables, suites)
    assert outcome.fatal == []
    assert quarantined(outcome) == [
        {
            "file_name": "resource_map.kmz",
            "sheet": "座間市",
            "row_number": 2,
            "column_name": "organization_id",
            "value": "ORG-cccccccccccc",
            "reason": "参照先の団体が見つかりません (organisation not found)",
            "check_name": "gx.expect_column_values_to_be_in_set",
        }
    ]
    assert outcome.tables["location"].to_dicts() == tables["location"].tail(1).to_dicts()


def test_rejected_parent_takes_its_children_with_it(suites):
    tables = with_rows(clean_tables(), "organization", {0: {"city_code": "99999"}})
    outcome = validate(tables, suites)
    # The only answer went with its organisation, which leaves two required tables empty.
    assert outcome.fatal == [
        (
            "service: データが1行もありません (the table has no rows) "
            "[expect_table_row_count_to_be_between(min_value=1)] observed: 0"
        ),
        (
            "survey_response: データが1行もありません (the table has no rows) "
            "[expect_table_row_count_to_be_between(min_value=1)] observed: 0"
        ),
    ]
    summary = outcome.quarantine.select("file_name", "row_number", "column_name", "value", "check_name").to_dicts()
    in_set = "gx.expect_column_values_to_be_in_set"
    assert summary == [
        {
            "file_name": "distribution_list.xlsx",
            "row_number": 2,
            "column_name": "city_code",
            "value": "99999",
            "check_name": in_set,
        },
        {
            "file_name": "distribution_list.xlsx",
            "row_number": 2,
            "column_name": "organization_id",
            "value": ORG_A,
            "check_name": in_set,
        },
        {
            "file_name": "resource_map.kmz",
            "row_number": 2,
            "column_name": "organization_id",
            "value": ORG_A,
            "check_name": in_set,
        },
        {
            "file_name": "survey_answers.csv",
            "row_number": 2,
            "column_name": "organization_id",
            "value": ORG_A,
            "check_name": in_set,
        },
        {
            "file_name": "survey_answers.csv",
            "row_number": 2,
            "column_name": "service_id",
            "value": f"SVC-{ORG_A}",
            "check_name": in_set,
        },
        {
            "file_name": "survey_answers.csv",
            "row_number": 2,
            "column_name": "response_id",
            "value": f"RES-{ORG_A}",
            "check_name": in_set,
        },
        {
            "file_name": "survey_answers.csv",
            "row_number": 2,
            "column_name": "link_id",
            "value": f"SVC-{ORG_A}",
            "check_name": in_set,
        },
        {
            "file_name": "survey_answers.csv",
            "row_number": 3,
            "column_name": "service_id",
            "value": f"SVC-{ORG_A}",
            "check_name": in_set,
        },
    ]
    for table in (
        "service",
        "attribute",
        "service_area",
        "survey_response",
        "pii.survey_respondent",
        "pii.organization_contact",
    ):
        assert outcome.tables[table].to_dicts() == [], table
    assert outcome.tables["organization"].get_column("id").to_list() == [ORG_B]
    assert outcome.tables["location"].get_column("organization_id").to_list() == [ORG_B]
    assert outcome.tables["organization_source"].get_column("organization_id").to_list() == [ORG_B]


def test_duplicate_id_keeps_the_first_and_quarantines_the_rest(suites):
    tables = clean_tables()
    location = tables["location"]
    tables["location"] = pl.concat([location, location.head(1).with_columns(pl.lit(9, pl.Int64).alias("_row"))])
    outcome = validate(tables, suites)
    assert outcome.fatal == []
    assert quarantined(outcome) == [
        {
            "file_name": "resource_map.kmz",
            "sheet": "座間市",
            "row_number": 9,
            # The key leads with the year (one bundle may hold several): the record names both.
            "column_name": "fiscal_year, id",
            "value": f"2024, LOC-{ORG_A}",
            "reason": "地点IDが重複しています (duplicate location id)",
            "check_name": "gx.expect_compound_columns_to_be_unique",
        }
    ]
    assert outcome.tables["location"].to_dicts() == location.to_dicts()


def test_duplicate_keeps_the_first_copy_that_passes_the_other_checks(suites):
    tables = clean_tables()
    location = tables["location"]
    copy = location.head(1).with_columns(pl.lit(9, pl.Int64).alias("_row"))
    tables["location"] = pl.concat(
        [location.with_columns(pl.lit(35.0).alias("latitude")).head(1), location.tail(1), copy]
    )
    outcome = validate(tables, suites)
    assert outcome.quarantine.select("row_number", "column_name", "check_name").to_dicts() == [
        {"row_number": 2, "column_name": "latitude", "check_name": "gx.expect_column_values_to_be_between"},
        {"row_number": 2, "column_name": "fiscal_year, id", "check_name": "gx.expect_compound_columns_to_be_unique"},
    ]
    assert outcome.tables["location"].get_column("_row").to_list() == [3, 9]


def test_compound_key_duplicate_is_quarantined(suites):
    tables = clean_tables()
    progress = tables["pf_progress"]
    tables["pf_progress"] = pl.concat([progress, progress.with_columns(pl.lit(7, pl.Int64).alias("_row"))])
    outcome = validate(tables, suites)
    assert quarantined(outcome) == [
        {
            "file_name": "pf_progress.xlsx",
            "sheet": "進捗",
            "row_number": 7,
            "column_name": "fiscal_year, city_code, step_code",
            "value": "2024, 14216, s1",
            "reason": "同じ市・ステップの行が重複しています (duplicate city and step)",
            "check_name": "gx.expect_compound_columns_to_be_unique",
        }
    ]
    assert outcome.tables["pf_progress"].to_dicts() == progress.to_dicts()


def test_missing_column_is_fatal(suites):
    tables = clean_tables()
    tables["location"] = tables["location"].drop("latitude")
    outcome = validate(tables, suites)
    assert outcome.fatal == [
        (
            "location: 列の構成が定義と一致しません (columns do not match the table definition) "
            "[expect_table_columns_to_match_set(15 columns, exact)] missing: latitude"
        )
    ]
    assert not outcome.ok
    assert quarantined(outcome) == []
    with pytest.raises(ValidationFailed, match="missing: latitude"):
        outcome.raise_if_fatal()


def test_missing_reference_column_is_fatal_once(suites):
    tables = clean_tables()
    tables["location"] = tables["location"].drop("organization_id")
    outcome = validate(tables, suites)
    assert outcome.fatal == [
        (
            "location: 列の構成が定義と一致しません (columns do not match the table definition) "
            "[expect_table_columns_to_match_set(15 columns, exact)] missing: organization_id"
        )
    ]
    failed = outcome.results.filter(pl.col("table_name") == "location", ~pl.col("success"))
    assert failed.get_column("column_name").to_list() == [None, "organization_id", "organization_id"]


def test_invalid_expectation_is_reported_with_its_file():
    suites = {
        "t": {
            "name": "t",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "n", "min_value": "x", "max_value": []},
                    "meta": {"reason_ja": "範囲外 (out of range)", "level": "row"},
                },
            ],
        }
    }
    with pytest.raises(EtlError, match=r"expectations/t.json: expectation 0 \(expect_column_values_to_be_between\)"):
        validate({"t": pl.DataFrame({"n": [1]})}, suites)


def test_unexpected_column_is_fatal(suites):
    tables = clean_tables()
    tables["event"] = tables["event"].with_columns(pl.lit("x").alias("memo"))
    assert validate(tables, suites).fatal == [
        (
            "event: 列の構成が定義と一致しません (columns do not match the table definition) "
            "[expect_table_columns_to_match_set(14 columns, exact)] unexpected: memo"
        )
    ]


def test_empty_required_table_is_fatal(suites):
    tables = clean_tables()
    tables["contract"] = tables["contract"].clear()
    outcome = validate(tables, suites)
    assert outcome.fatal == [
        (
            "contract: データが1行もありません (the table has no rows) "
            "[expect_table_row_count_to_be_between(min_value=1)] observed: 0"
        )
    ]


def test_table_emptied_by_quarantine_is_fatal(suites):
    tables = with_rows(clean_tables(), "contract", {0: {"amount_yen": 0}})
    outcome = validate(tables, suites)
    assert quarantined(outcome)[0]["value"] == "0"
    assert outcome.fatal == [
        (
            "contract: データが1行もありません (the table has no rows) "
            "[expect_table_row_count_to_be_between(min_value=1)] observed: 0"
        )
    ]


def test_bad_vocabulary_is_fatal_not_quarantined(suites):
    tables = with_rows(clean_tables(), "city", {1: {"population": 0}})
    outcome = validate(tables, suites)
    assert outcome.fatal == [
        (
            "city: 人口は正の数です (population must be positive) "
            "[expect_column_values_to_be_between(population, min_value=0, strict_min=True)] 0 ×1"
        )
    ]
    assert quarantined(outcome) == []
    assert outcome.tables["city"].height == 2


def test_ref_resolves_from_the_parent_table():
    suites = {
        "parent": {
            "name": "parent",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "n", "min_value": 0},
                    "meta": {"reason_ja": "負の数です (negative)", "level": "row"},
                },
            ],
        },
        "child": {
            "name": "child",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "parent_id", "value_set": {"$ref": "parent.id"}},
                    "meta": {"reason_ja": "親がありません (no parent)", "level": "row"},
                },
            ],
        },
    }
    lineage = {"_file": ["f.csv"] * 4, "_sheet": [None] * 4, "_row": [2, 3, 4, 5]}
    parent = pl.DataFrame(
        {"id": ["a", "b", "c", None], "n": [1, -1, 2, 3], **lineage}, schema_overrides={"_sheet": pl.String}
    )
    child = pl.DataFrame({"parent_id": ["a", "b", "z", None], **lineage}, schema_overrides={"_sheet": pl.String})
    outcome = validate({"child": child, "parent": parent}, suites)
    assert outcome.fatal == []
    # "b" is rejected in the parent, so its child goes too; "z" never existed; a null reference is allowed.
    assert outcome.tables["child"].get_column("parent_id").to_list() == ["a", None]
    assert outcome.quarantine.select("row_number", "value", "reason").to_dicts() == [
        {"row_number": 3, "value": "-1", "reason": "負の数です (negative)"},
        {"row_number": 3, "value": "b", "reason": "親がありません (no parent)"},
        {"row_number": 4, "value": "z", "reason": "親がありません (no parent)"},
    ]
    assert outcome.results.select("table_name", "expectation", "success", "unexpected_count").to_dicts() == [
        {
            "table_name": "parent",
            "expectation": "expect_column_values_to_be_between(n, min_value=0)",
            "success": True,
            "unexpected_count": 1,
        },
        {
            "table_name": "child",
            "expectation": "expect_column_values_to_be_in_set(parent_id, in parent.id)",
            "success": True,
            "unexpected_count": 2,
        },
    ]


def test_two_references_on_one_column_are_both_checked():
    def rule(ref, reason):
        return {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "code", "value_set": {"$ref": ref}},
            "meta": {"reason_ja": reason, "level": "row"},
        }

    suites = {
        "a": {"name": "a", "expectations": []},
        "b": {"name": "b", "expectations": []},
        "child": {
            "name": "child",
            "expectations": [rule("a.code", "aにない (not in a)"), rule("b.code", "bにない (not in b)")],
        },
    }
    lineage = {"_file": ["f.csv"] * 5, "_sheet": [None] * 5, "_row": [2, 3, 4, 5, 6]}
    child = pl.DataFrame({"code": ["x", "y", "z", "z", None], **lineage}, schema_overrides={"_sheet": pl.String})
    outcome = validate(
        {"a": pl.DataFrame({"code": ["x", "y"]}), "b": pl.DataFrame({"code": ["x", "z"]}), "child": child}, suites
    )
    assert outcome.fatal == []
    assert outcome.tables["child"].get_column("code").to_list() == ["x", None]
    assert outcome.quarantine.select("row_number", "column_name", "value", "reason").to_dicts() == [
        {"row_number": 3, "column_name": "code", "value": "y", "reason": "bにない (not in b)"},
        {"row_number": 4, "column_name": "code", "value": "z", "reason": "aにない (not in a)"},
        {"row_number": 5, "column_name": "code", "value": "z", "reason": "aにない (not in a)"},
    ]
    assert outcome.results.filter(pl.col("table_name") == "child").drop("table_name").to_dicts() == [
        {
            "expectation": "expect_column_values_to_be_in_set(code, in a.code)",
            "column_name": "code",
            "success": True,
            "element_count": 5,
            "unexpected_count": 2,
            "details": "z ×2",
        },
        {
            "expectation": "expect_column_values_to_be_in_set(code, in b.code)",
            "column_name": "code",
            "success": True,
            "element_count": 5,
            "unexpected_count": 1,
            "details": "y ×1",
        },
    ]


def test_missing_parent_table_and_unknown_table_are_fatal(suites):
    tables = clean_tables()
    del tables["event"]
    tables["scratch"] = pl.DataFrame({"x": [1]})
    fatal = validate(tables, suites).fatal
    assert fatal == [
        "scratch: 検証ルールがありません (no expectation suite for this table)",
        (
            "event_comment: 参照先の表 event がありません (parent table missing) "
            "[expect_column_values_to_be_in_set(event_id, in event.id)]"
        ),
        (
            "event_session: 参照先の表 event がありません (parent table missing) "
            "[expect_column_values_to_be_in_set(event_id, in event.id)]"
        ),
        (
            "event_survey_result: 参照先の表 event がありません (parent table missing) "
            "[expect_column_values_to_be_in_set(event_id, in event.id)]"
        ),
    ]


def test_load_suites_rejects_a_malformed_suite(tmp_path):
    (tmp_path / "x.json").write_text('{"name": "x", "expectations": [{"type": "t", "kwargs": {}, "meta": {}}]}')
    with pytest.raises(Exception, match="meta.level"):
        load_suites(tmp_path)


def test_data_docs_are_self_contained_html(clean_outcome, tmp_path):
    path = build_data_docs(clean_outcome, tmp_path / "docs")
    page = path.read_text(encoding="utf-8")
    assert path == tmp_path / "docs" / "index.html"
    assert f"{clean_outcome.results.height} checks, 0 failed, 0 quarantine entries" in page
    assert "expect_table_columns_to_match_set(15 columns, exact)" in page
    assert "http" not in page and "<script" not in page


def test_a_second_validate_with_the_same_rules_reuses_the_gx_runner_and_agrees(suites, gx_memo):
    tables = with_rows(clean_tables(), "location", {1: {"latitude": 36.2}})
    first = validate(tables, suites)
    runners = dict(validate_module._runners)
    # The reused runner itself must give the same answers: run again in GX on the changed table (a run of all 34
    # tables costs ~4 CPU-s; the others' answers are that same runner's for the same input, from the memo).
    with gx_memo.off({"location"}):
        second = validate(tables, suites)
    assert dict(validate_module._runners) == runners  # no new runner: the same rules, the same context
    assert quarantined(second) == quarantined(first)
    assert second.results.to_dicts() == first.results.to_dicts()
    # Other rules (a table's suite changed) get a runner of their own. Shown on the location table alone: a runner
    # for every table's rules costs ~2.5 CPU-s to set up and ~4 to run, one for a table's ~0.3.
    alone = {"location": tables["location"]}
    validate(alone, suites)
    held = {id(runner) for runner in validate_module._runners.values()}
    changed = {**suites, "location": {**suites["location"], "expectations": suites["location"]["expectations"][:-1]}}
    validate(alone, changed)
    assert len({id(runner) for runner in validate_module._runners.values()} - held) == 1
