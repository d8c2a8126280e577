"""データ品質: queries over run records, masking of personal values, trend chart, and the page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from common.roles import Viewer
from dashboard.charts.quality import trend_chart
from warehouse.query import quality

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
APP = "../dashboard/app.py"
BAD_EMAIL = "yamada-at-example"


@pytest.fixture(scope="module")
def broken_warehouse(tmp_path_factory, sample_warehouse, build_once) -> Path:
    """Sample with one respondent email that is not an address (quarantined), built over the sample for history."""
    root = tmp_path_factory.mktemp("quality")
    bundle = root / "bundle"
    shutil.copytree(SAMPLE, bundle)
    answers = bundle / "survey_answers.csv"
    rows = list(csv.reader(io.StringIO(answers.read_bytes().decode("cp932"))))
    rows[1][rows[0].index("ご連絡先メールアドレス")] = BAD_EMAIL
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    answers.write_bytes(out.getvalue().encode("cp932"))
    path = root / "w.duckdb"
    build_once(bundle, path, over=sample_warehouse)
    return path


@pytest.fixture()
def broken_con(broken_warehouse):
    """Read-only connection to the warehouse with history and one quarantined row."""
    con = duckdb.connect(str(broken_warehouse), read_only=True)
    yield con
    con.close()


def test_runs_keep_history_newest_first(broken_con):
    runs = quality.runs(broken_con)
    assert runs.height == 2
    assert runs["status"].to_list() == ["published", "published"]
    # The bad email is a cell-level record: its row loaded.
    assert runs["rows_quarantined"].to_list() == [0, 0]
    assert [quality.values_left_out(broken_con, r) for r in runs["run_id"]] == [1, 0]
    assert runs["checks_failed"].to_list() == [0, 0]


def test_source_files_of_the_latest_run(broken_con):
    latest = quality.runs(broken_con)["run_id"][0]
    files = quality.source_files(broken_con, latest).filter(pl.col("kind") != "seed")
    counts = {
        r["file_name"]: (r["rows_read"], r["rows_loaded"], r["rows_quarantined"]) for r in files.iter_rows(named=True)
    }
    assert counts.pop("survey_answers.csv") == (63, 63, 0)
    assert all(loaded == read and bad == 0 for read, loaded, bad in counts.values())


def test_quarantined_personal_value_is_masked_for_public(broken_con):
    latest = quality.runs(broken_con)["run_id"][0]
    public = quality.quarantined(broken_con, latest)
    assert public.select("file_name", "sheet", "row_number", "column_name", "value").to_dicts() == [
        {
            "file_name": "survey_answers.csv",
            "sheet": None,
            "row_number": 2,
            "column_name": "ご連絡先メールアドレス",
            "value": "＊＊＊",
        }
    ]
    admin = quality.quarantined(broken_con, latest, viewer=Viewer("admin"))
    assert admin["value"].to_list() == [BAD_EMAIL]
    assert quality.quarantined(broken_con, latest, "distribution_list.xlsx").is_empty()


def test_expectations_and_summary(sample_con):
    run_id = quality.runs(sample_con)["run_id"][0]
    summary = quality.expectation_summary(sample_con, run_id)
    assert summary["failed"].sum() == 0
    assert "organization" in summary["table_name"].to_list()
    every = quality.expectations(sample_con, run_id)
    assert every.height == summary["checks"].sum()
    assert quality.expectations(sample_con, run_id, failed_only=True).is_empty()
    assert "<html" in quality.data_docs(sample_con, run_id)
    assert quality.data_docs(sample_con, "no-such-run") is None


def test_trend_chart_spec():
    runs = pl.DataFrame(
        {
            "run_id": ["b", "a"],
            "started_at": [dt.datetime(2025, 3, 2), dt.datetime(2025, 3, 1)],
            "rows_read": [10, 9],
            "rows_quarantined": [1, 0],
            "checks_failed": [0, 2],
        }
    )
    labels = {"rows_read": "読込", "rows_quarantined": "隔離", "checks_failed": "不合格"}
    spec = trend_chart(runs, labels, "ja").to_dict()
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["field"] == "started_at"
    values = spec["datasets"][spec["data"]["name"]]
    assert [(v["run_id"], v["measure"], v["value"]) for v in values] == [
        ("a", "読込", 9),
        ("b", "読込", 10),
        ("a", "隔離", 0),
        ("b", "隔離", 1),
        ("a", "不合格", 2),
        ("b", "不合格", 0),
    ]


def test_quality_page_is_for_staff(broken_warehouse, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(broken_warehouse))
    at = AppTest.from_file(APP, default_timeout=30).run()
    with pytest.raises(Exception, match="quality"):
        at.switch_page("pages/quality.py").run()


def test_quality_page(broken_warehouse, monkeypatch, sign_in):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(broken_warehouse))
    at = sign_in(AppTest.from_file(APP, default_timeout=30), "analyst").run()
    at.switch_page("pages/quality.py").run()
    assert not at.exception
    assert at.title[0].value == "データ品質"
    shown = {m.label: m.value for m in at.metric}
    assert shown["隔離行数"] == "0"
    assert at.warning[0].value == "すべての行を取り込みましたが、読めない値 1 件を空欄にしました（隔離タブを参照）。"
    table = at.dataframe[3].value
    assert list(table["value"]) == ["＊＊＊"]
    causes = at.dataframe[4].value
    assert causes[["root_cause", "values_left_out"]].values.tolist() == [["survey_answers.csv, row 2", 1]]
    older = quality.runs(duckdb.connect(str(broken_warehouse), read_only=True))["run_id"][1]
    at.selectbox(key="quality_run__ja").select(older).run()
    assert {m.label: m.value for m in at.metric}["隔離行数"] == "0"
    assert at.success[0].value == "この取込はすべての検証に合格し、隔離した行はありません。"


@pytest.fixture()
def quarantine_con(tmp_path):
    """A real DuckDB with the warehouse DDL and quarantine records of both kinds (read-time and GX)."""
    path = tmp_path / "q.duckdb"
    with duckdb.connect(str(path)) as con:
        for ddl in sorted((Path(__file__).resolve().parent.parent / "warehouse" / "ddl").glob("*.sql")):
            con.execute(ddl.read_text(encoding="utf-8"))
        con.executemany(
            "insert into quarantine (run_id, file_name, sheet, row_number, column_name, value, reason, check_name) "
            "values ('r1', ?, ?, ?, ?, ?, 'bad', 'check')",
            [
                ["distribution_list.xlsx", "座間市", 3, "担当者メールアドレス", "a-at-b"],
                ["distribution_list.xlsx", "座間市", 4, "contact_phone", "0462-x"],
                ["survey_answers.csv", None, 5, "respondent_name", "山田花子"],
                ["events.xlsx", "参加者名簿", 6, "参加者ID", "P-1"],
                ["distribution_list.xlsx", "大和市", 7, "団体名", "つながり食堂"],
            ],
        )
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


@pytest.mark.parametrize(
    ("viewer", "shown"),
    [
        (Viewer(), {3: "＊＊＊", 4: "＊＊＊", 5: "＊＊＊", 6: "＊＊＊", 7: "つながり食堂"}),
        (Viewer("analyst"), {3: "＊＊＊", 4: "＊＊＊", 5: "＊＊＊", 6: "＊＊＊", 7: "つながり食堂"}),
        (Viewer("liaison"), {3: "＊＊＊", 4: "＊＊＊", 5: "＊＊＊", 6: "＊＊＊", 7: "つながり食堂"}),
        # A quarantined row's city is not known reliably, so no city manager sees another city's people.
        (Viewer("city_manager", "14216"), {3: "＊＊＊", 4: "＊＊＊", 5: "＊＊＊", 6: "＊＊＊", 7: "つながり食堂"}),
        (Viewer("admin"), {3: "a-at-b", 4: "0462-x", 5: "山田花子", 6: "P-1", 7: "つながり食堂"}),
    ],
)
def test_quarantined_personal_values_by_role(quarantine_con, viewer, shown):
    frame = quality.quarantined(quarantine_con, "r1", viewer=viewer)
    assert dict(zip(frame["row_number"], frame["value"], strict=True)) == shown


# --- one masking path: the reason never carries the personal value (issue 17, finding 1) ----------


def test_reason_of_a_quarantined_personal_value_is_masked_too(broken_con):
    latest = quality.runs(broken_con)["run_id"][0]
    for role in ("public", "analyst", "liaison", "city_manager"):
        viewer = Viewer(role, "14216" if role == "city_manager" else None)
        frame = quality.quarantined(broken_con, latest, viewer=viewer)
        assert BAD_EMAIL not in frame.write_csv(), role
        assert frame["reason"].to_list() == ["メールアドレスの形式ではありません「＊＊＊」 (not an email address)"]
    admin = quality.quarantined(broken_con, latest, viewer=Viewer("admin"))
    assert admin["value"].to_list() == [BAD_EMAIL]


def test_stored_reason_leaves_the_personal_value_to_its_column(broken_con):
    stored = broken_con.execute("select value, reason from quarantine").fetchall()
    assert stored == [(BAD_EMAIL, "メールアドレスの形式ではありません「＊＊＊」 (not an email address)")]


def test_history_with_unmasked_reasons_is_cleaned_on_the_next_build(broken_warehouse, build_once, tmp_path):
    # A warehouse written before the masking path: the reason quotes the value in full.
    old = tmp_path / "old.duckdb"
    shutil.copyfile(broken_warehouse, old)
    with duckdb.connect(str(old)) as con:
        con.execute(
            "update quarantine set reason = 'メールアドレスの形式ではありません「' || value || '」 (not an email address)'"
        )
        assert con.execute("select count(*) from quarantine where contains(reason, ?)", [BAD_EMAIL]).fetchone()[0] == 1
    # A build over a copy of old (cached by old's bytes: DuckDB writes the same file for the same update).
    rebuilt = build_once(SAMPLE, tmp_path / "rebuilt" / "warehouse.duckdb", over=old).warehouse
    with duckdb.connect(str(rebuilt), read_only=True) as con:
        assert con.execute("select count(*) from etl_run").fetchone()[0] == 3
        carried = con.execute("select value, reason from quarantine").fetchall()
    assert carried == [(BAD_EMAIL, "メールアドレスの形式ではありません「＊＊＊」 (not an email address)")]


def test_failing_values_of_personal_tables_are_masked_in_checks_and_report():
    frame = pl.DataFrame(
        {
            "table_name": ["pii.organization_contact", "organization"],
            "details": ["naoki@example ×1", "つながり食堂 ×1"],
        }
    )
    from warehouse import masking

    assert masking.mask_validation(frame, "analyst")["details"].to_list() == ["＊＊＊", "つながり食堂 ×1"]
    assert masking.mask_validation(frame, "admin")["details"].to_list() == ["naoki@example ×1", "つながり食堂 ×1"]
    html = (
        '<tr class="ng"><td>pii.organization_contact</td><td>expect_x</td><td>contact_email</td><td>False</td>'
        "<td>3</td><td>1</td><td>naoki@example ×1</td></tr>"
        "<li>pii.survey_respondent: bad [expect_y] naoki@example ×1</li>"
    )
    masked = masking.mask_report_html(html, "city_manager")
    assert "naoki" not in masked and masked.count("＊＊＊") == 2
    assert masking.mask_report_html(html, "admin") == html
