"""PF構築プロセス: 年度 months, the warehouse baseline, the merged view, the charts and the page (AppTest)."""

from __future__ import annotations

import csv
import datetime as dt
import unicodedata
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.charts import progress as charts
from warehouse import operations as ops
from warehouse import query
from warehouse.query import progress as q

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "warehouse" / "seeds"
APP = "../dashboard/app.py"
D = dt.date


# --- 年度 months on the page (the calendar itself: tests/unit/test_calendar.py) -----------------------


@pytest.mark.parametrize(
    ("month", "lang", "precision", "text"),
    [
        (D(2025, 2, 1), "ja", "month", "R6年度2月 (2025-02)"),
        (D(2025, 2, 1), "en", "month", "FY2024 Feb (2025-02)"),
        (D(2025, 4, 1), "ja", "fiscal_year", "R7年度 (2025年度)"),
        (D(2025, 4, 1), "en", "fiscal_year", "FY2025"),
        (None, "ja", "month", "—"),
    ],
)
def test_month_label(month, lang, precision, text):
    assert charts.month_label(month, lang, precision) == text


def test_escape_markdown():
    assert charts.escape_markdown("**太字** [link](x) #1") == r"\*\*太字\*\* \[link\]\(x\) \#1"


# --- the warehouse baseline ----------------------------------------------------------------------


def seed(name: str) -> list[dict]:
    """Rows of a seed CSV."""
    with open(SEEDS / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def file_rows() -> list[tuple]:
    """(city, step, status, start label, end label, 記入者) per row of sheet 進捗, read straight from the xlsx."""
    city = {row["ja"]: row["code"] for row in seed("city")}
    step = {
        unicodedata.normalize("NFKC", alias): row["code"]
        for row in seed("pf_step")
        for alias in [row["label"], *row["aliases"].split("|")]
    }
    status = {row["ja"]: row["code"] for row in seed("pf_status")}
    sheet = openpyxl.load_workbook(ROOT / "data" / "sample" / "pf_progress.xlsx", read_only=True)["進捗"]
    rows = []
    for values in list(sheet.iter_rows(values_only=True))[1:]:
        name, step_label, state, start, end, _note, author, _day = values
        rows.append((city[name], step[unicodedata.normalize("NFKC", step_label)], status[state], start, end, author))
    return sorted(rows)


def test_progress_grid_is_the_file_for_every_city_and_step(sample_con):
    grid = q.progress_grid(sample_con)
    assert grid.height == 4 * 10
    assert grid.select("city_code", "step_code").unique().height == 40
    listed = grid.filter(pl.col("status_code").is_not_null())
    assert (
        sorted(listed.select("city_code", "step_code", "status_code", "start_label", "end_label", "recorded_by").rows())
        == file_rows()
    )
    assert grid["step_label"].to_list()[:10] == ["①", "②", "③", "④-1", "④-2", "⑤", "⑥", "⑦", "⑧", "⑨"]
    assert grid["city_name_ja"].unique(maintain_order=True).to_list() == ["大和市", "海老名市", "座間市", "綾瀬市"]
    zama_s42 = grid.filter((pl.col("city_code") == "14216") & (pl.col("step_code") == "s4_2")).row(0, named=True)
    assert {k: zama_s42[k] for k in ("phase_label", "status_code", "start_month", "end_month", "recorded_on")} == {
        "phase_label": "(イ)",
        "status_code": "in_progress",
        "start_month": D(2025, 2, 1),
        "end_month": None,
        "recorded_on": D(2025, 3, 31),
    }


def test_progress_grid_for_one_city(sample_con):
    grid = q.progress_grid(sample_con, "14218")
    assert set(grid["city_code"]) == {"14218"}
    assert grid.height == 10


def test_phases_reached_without_events_matches_the_mart(sample_con):
    view = q.progress_view(
        q.progress_grid(sample_con), pl.DataFrame(schema=ops.PROGRESS_EVENT_SCHEMA), q.statuses(sample_con)
    )
    reached = q.phases_reached(view, q.phases(sample_con))
    mart = query.city_phases(sample_con)
    columns = ["city_code", "phase_code", "phase_label", "steps_total", "steps_done", "steps_in_progress"]
    assert reached.select(columns).to_dicts() == mart.select(columns).to_dicts()
    assert reached["phase_label"].to_list() == ["(ウ)"] * 4


def events(*rows: dict) -> pl.DataFrame:
    """Progress events as the store returns them."""
    return pl.DataFrame(
        [dict.fromkeys(ops.PROGRESS_EVENT_SCHEMA) | row for row in rows], schema=ops.PROGRESS_EVENT_SCHEMA
    )


def test_an_event_moves_a_city_to_the_next_phase(sample_con):
    later = dt.datetime(2025, 5, 1, 1, tzinfo=dt.UTC)
    update = events(
        {
            "event_id": 1,
            "city_code": "14216",
            "step_code": "s9",
            "status_code": "in_progress",
            "start_label": "R7年度4月",
            "start_month": D(2025, 4, 1),
            "start_precision": "month",
            "changed_by": "座間市地域福祉課",
            "changed_at": later,
        }
    )
    view = q.progress_view(q.progress_grid(sample_con), update, q.statuses(sample_con))
    reached = q.phases_reached(view, q.phases(sample_con))
    assert dict(zip(reached["city_code"], reached["phase_label"], strict=True)) == {
        "14213": "(ウ)", "14215": "(ウ)", "14216": "(エ)", "14218": "(ウ)",
    }  # fmt: skip
    cell = view.filter((pl.col("city_code") == "14216") & (pl.col("step_code") == "s9")).row(0, named=True)
    assert (cell["status_name_ja"], cell["source"], cell["updated_on"]) == ("進行中", "app", D(2025, 5, 1))


def test_history_lists_file_rows_then_events_newest_first(sample_con):
    grid = q.progress_grid(sample_con, "14216")
    update = events(
        {
            "event_id": 7,
            "city_code": "14216",
            "step_code": "s4_2",
            "status_code": "done",
            "start_label": "R6年度2月~",
            "start_month": D(2025, 2, 1),
            "start_precision": "month",
            "end_label": "R7年度3月",
            "end_month": D(2026, 3, 1),
            "changed_by": "座間市地域福祉課",
            "changed_at": dt.datetime(2026, 4, 1, 0, 30, tzinfo=dt.UTC),
            "previous_source": "file",
            "previous_status_code": "in_progress",
            "previous_start_label": "R6年度2月~",
            "previous_start_month": D(2025, 2, 1),
            "previous_start_precision": "month",
        },
        {
            "event_id": 8,
            "city_code": "14213",
            "step_code": "s1",
            "status_code": "done",
            "changed_by": "大和市健康福祉総務課",
            "changed_at": dt.datetime(2026, 4, 2, tzinfo=dt.UTC),
        },
    )
    history = q.progress_history(grid, update)
    assert history.height == 11, "10 file rows of 座間市 and its one event; 大和市's event is not in this grid"
    first = history.row(0, named=True)
    assert {k: first[k] for k in ("source", "event_id", "changed_on", "changed_by", "from_status_code", "to_status_code",
                                  "from_end_month", "to_end_month")} == {
        "source": "app", "event_id": 7, "changed_on": D(2026, 4, 1), "changed_by": "座間市地域福祉課",
        "from_status_code": "in_progress", "to_status_code": "done", "from_end_month": None, "to_end_month": D(2026, 3, 1),
    }  # fmt: skip
    assert history["source"].to_list()[1:] == ["file"] * 10
    assert history["step_label"].to_list()[1:4] == ["①", "②", "③"]
    table = charts.history_table(history, q.statuses(sample_con), "ja")
    assert table.row(0, named=True) == {
        "changed": "令和8年4月1日（2026-04-01） 09:30 JST",
        "city": "座間市",
        "step": "④-2 連携PFの企画・設計",
        "changed_by": "座間市地域福祉課",
        "source": "アプリで更新",
        "status_from": "進行中",
        "status_to": "完了",
        "start_from": "R6年度2月 (2025-02)",
        "start_to": "R6年度2月 (2025-02)",
        "end_from": "—",
        "end_to": "R7年度3月 (2026-03)",
        "note": "—",
    }
    assert table.row(1, named=True)["status_from"] == "—"
    assert table.row(8, named=True)["start_to"] == "R7年度 (2025年度)"


def test_notes_from_file_and_app(sample_con):
    file_notes = q.notes(sample_con, "14216")
    assert file_notes.select("noted_on", "kind").rows() == [
        (D(2024, 8, 30), "issue"),
        (D(2024, 10, 15), "breakthrough"),
        (D(2024, 10, 28), "breakthrough"),
        (D(2024, 12, 20), "change"),
    ]
    added = pl.DataFrame(
        [
            {
                "event_id": 1,
                "city_code": "14216",
                "noted_on": D(2024, 10, 15),
                "kind": "change",
                "text": "追加",
                "changed_by": "座間市地域福祉課",
                "changed_at": dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
            },
            {
                "event_id": 2,
                "city_code": "14218",
                "noted_on": D(2024, 1, 1),
                "kind": "issue",
                "text": "他市",
                "changed_by": "綾瀬市福祉総務課",
                "changed_at": dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
            },
        ],
        schema=ops.NOTE_EVENT_SCHEMA,
    )
    merged = q.notes_view(file_notes, added, "14216")
    assert merged.select("noted_on", "kind", "source").rows() == [
        (D(2024, 8, 30), "issue", "file"),
        (D(2024, 10, 15), "breakthrough", "file"),
        (D(2024, 10, 15), "change", "app"),
        (D(2024, 10, 28), "breakthrough", "file"),
        (D(2024, 12, 20), "change", "file"),
    ]


# --- chart builders ------------------------------------------------------------------------------


@pytest.fixture()
def sample_view(sample_con):
    """The merged view of the sample with no in-app events."""
    return q.progress_view(
        q.progress_grid(sample_con), pl.DataFrame(schema=ops.PROGRESS_EVENT_SCHEMA), q.statuses(sample_con)
    )


def test_matrix_table(sample_view):
    table = charts.matrix_table(sample_view, "ja")
    assert table.columns == ["step", "phase", "14213", "14215", "14216", "14218"]
    assert table.row(4, named=True) == {
        "step": "④-2 連携PFの企画・設計",
        "phase": "(イ) 準備段階",
        "14213": "進行中: R6年度2月 (2025-02) →",
        "14215": "進行中: R6年度2月 (2025-02) →",
        "14216": "進行中: R6年度2月 (2025-02) →",
        "14218": "進行中: R6年度2月 (2025-02) →",
    }
    zama = table["14216"].to_list()
    assert zama[0] == "完了: R6年度8月 (2024-08) → R6年度10月 (2024-10)"
    assert zama[7:] == ["未着手: R7年度 (2025年度) 予定", "未定", "未着手: R7年度 (2025年度) 予定"]
    assert charts.matrix_table(sample_view, "en")["14216"][0] == "Done: FY2024 Aug (2024-08) → FY2024 Oct (2024-10)"


def test_status_grid_spec(sample_con, sample_view):
    spec = charts.status_grid(sample_view, q.statuses(sample_con), "ja").to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "text"]
    cells = spec["layer"][0]["encoding"]
    assert cells["color"]["scale"] == {
        "domain": ["未着手", "進行中", "完了", "未定"],
        "range": ["#e7e6e6", "#9dc3e6", "#2e75b6", "#fbe5d6"],
    }
    assert cells["x"]["sort"] == ["大和市", "海老名市", "座間市", "綾瀬市"]
    assert cells["y"]["sort"][0] == "① 主担当部署・主担当者の設定"
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 40
    assert spec["layer"][1]["encoding"]["text"]["field"] == "status"
    assert [t["title"] for t in cells["tooltip"]] == [
        "市",
        "ステップ",
        "段階",
        "状態",
        "開始",
        "完了",
        "備考",
        "最終更新",
    ]


def test_timeline_spec(sample_con, sample_view):
    spec = charts.timeline(sample_view, q.statuses(sample_con), "ja", D(2025, 3, 31)).to_dict()
    assert spec["facet"]["row"]["field"] == "city"
    layers = spec["spec"]["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["bar", "point", "point", "rule"]
    x = layers[0]["encoding"]["x"]
    assert (x["field"], x["type"], x["scale"]["type"], x["axis"]["labelExpr"]) == (
        "bar_start", "temporal", "utc", charts.month_axis_label("ja"),
    )  # fmt: skip
    assert layers[0]["encoding"]["x2"]["field"] == "bar_end"
    assert layers[3]["transform"] == [{"calculate": "utc(2025, 2, 31)", "as": "today"}]
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 36, "every step with a start month: all but ⑧ (未定) in the four cities"
    zama = {(r["step_label"], r["kind"], r["bar_start"], r["bar_end"]) for r in rows if r["city_code"] == "14216"}
    assert ("④-2", "open", "2025-02-01", "2025-03-31") in zama, "in progress: open to today"
    assert ("③", "bar", "2024-11-01", "2025-02-01") in zama, "done in R6年度1月: to the end of January 2025"
    assert ("⑦", "planned", "2025-04-01", "2025-04-01") in zama


# --- the page (AppTest) --------------------------------------------------------------------------


@pytest.fixture()
def app(sample_warehouse, monkeypatch, tmp_path):
    """The app on the sample warehouse, an empty operational store, and no manager configured."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_MANAGER", raising=False)
    return AppTest.from_file(APP, default_timeout=60)


def open_page(at: AppTest) -> AppTest:
    """Run the app and switch to PF構築プロセス."""
    at.run()
    return at.switch_page("pages/progress.py").run()


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → shown value."""
    return {m.label: m.value for m in at.metric}


def test_page_shows_matrix_phases_and_history(app):
    at = open_page(app)
    assert not at.exception
    assert at.title[0].value == "PF構築プロセス"
    assert metrics(at) == {"大和市": "(ウ)", "海老名市": "(ウ)", "座間市": "(ウ)", "綾瀬市": "(ウ)"}
    matrix = at.dataframe[0].value
    assert list(matrix.columns) == ["step", "phase", "14213", "14215", "14216", "14218"]
    assert list(matrix["14216"])[4] == "進行中: R6年度2月 (2025-02) →"
    history = at.dataframe[1].value
    assert len(history) == 40
    assert set(history["source"]) == {"取込ファイル"}
    assert "担当者がログインすると" in at.info[0].value
    assert not [b for b in at.button if (b.key or "").startswith("pf_submit")], "no form without a manager"


def test_manager_updates_a_step_and_the_matrix_changes(app, monkeypatch, tmp_path):
    monkeypatch.setenv("TSUNAGARI_MANAGER", "座間市地域福祉課:14216")
    at = open_page(app)
    assert any("座間市地域福祉課（座間市）として更新します" in c.value for c in at.caption)
    at.selectbox(key="pf_step__ja").select("s4_2").run()
    at.selectbox(key="pf_status_s4_2__ja").select("done")
    at.text_input(key="pf_end_s4_2").input("R7年度3月")
    at.text_area(key="pf_note_s4_2").input("県の協力を得て設計を終えた")
    at.button(key="pf_submit_s4_2").click().run()
    assert not at.exception
    assert at.success[0].value == "④-2 連携PFの企画・設計 を「完了」に更新しました（記録番号 1）。"
    matrix = at.dataframe[0].value
    assert list(matrix["14216"])[4] == "完了: R6年度2月 (2025-02) → R7年度3月 (2026-03)"
    assert list(matrix["14213"])[4] == "進行中: R6年度2月 (2025-02) →", "other cities unchanged"
    latest = at.dataframe[1].value.iloc[0]
    assert (latest["changed_by"], latest["status_from"], latest["status_to"], latest["end_to"]) == (
        "座間市地域福祉課", "進行中", "完了", "R7年度3月 (2026-03)",
    )  # fmt: skip
    stored = ops.read_progress_events(tmp_path / "operations.sqlite")
    assert stored.select(
        "city_code", "step_code", "status_code", "end_month", "note", "previous_status_code"
    ).rows() == [("14216", "s4_2", "done", D(2026, 3, 1), "県の協力を得て設計を終えた", "in_progress")]


def test_an_update_can_move_the_phase(app, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_MANAGER", "座間市地域福祉課:14216")
    at = open_page(app)
    at.selectbox(key="pf_step__ja").select("s9").run()
    at.selectbox(key="pf_status_s9__ja").select("in_progress")
    at.text_input(key="pf_start_s9").input("R7年度4月")
    at.button(key="pf_submit_s9").click().run()
    assert metrics(at)["座間市"] == "(エ)"
    assert metrics(at)["綾瀬市"] == "(ウ)"


def test_invalid_update_shows_the_error_at_the_field_and_writes_nothing(app, monkeypatch, tmp_path):
    monkeypatch.setenv("TSUNAGARI_MANAGER", "座間市地域福祉課:14216")
    at = open_page(app)
    at.selectbox(key="pf_step__ja").select("s4_2").run()
    at.selectbox(key="pf_status_s4_2__ja").select("done")
    at.text_input(key="pf_end_s4_2").input("R6年度1月")
    at.button(key="pf_submit_s4_2").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "入力に誤りがあるため、記録していません。",
        "完了月「R6年度1月」が開始月より前です。開始前に完了することはできません。",
    ]
    assert list(at.dataframe[0].value["14216"])[4] == "進行中: R6年度2月 (2025-02) →"
    assert ops.read_progress_events(tmp_path / "operations.sqlite").is_empty()
    at.text_input(key="pf_end_s4_2").input("")
    at.button(key="pf_submit_s4_2").click().run()
    assert [e.value for e in at.error][1] == "完了にするには完了月を入力してください。"


def test_manager_from_secrets(app):
    app.secrets["manager"] = {"name": "綾瀬市福祉総務課", "city": "14218"}
    at = open_page(app)
    assert any("綾瀬市福祉総務課（綾瀬市）として更新します" in c.value for c in at.caption)
    assert at.selectbox(key="pf_step__ja").options == [
        "① 主担当部署・主担当者の設定",
        "② 担当者の初動",
        "③ 地域の現状把握",
        "④-1 取組テーマ決定",
        "④-2 連携PFの企画・設計",
        "⑤ 関係団体のリストアップ・初期メンバーへの声掛け",
        "⑥ 域内住民・団体への情報発信",
        "⑦ 連携PFの運営",
        "⑧ 地域協議会の設置",
        "⑨ PFの拡大・活性化",
    ]


def test_unusable_manager_setting_is_explained(app, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_MANAGER", "座間市地域福祉課")
    at = open_page(app)
    assert not at.exception
    assert (
        at.warning[0].value
        == "担当者の設定「座間市地域福祉課」を読めません。「担当部署名:市区町村コード」の形で設定してください。"
    )
    assert not [b for b in at.button if (b.key or "").startswith("pf_submit")]


def test_manager_adds_a_note(app, monkeypatch, tmp_path):
    monkeypatch.setenv("TSUNAGARI_MANAGER", "座間市地域福祉課:14216")
    at = open_page(app)
    at.selectbox(key="pf_note_kind__ja").select("breakthrough")
    at.text_area(key="pf_note_text").input("県のネットワーク会議で4市の取組を紹介できた")
    at.button(key="pf_note_submit").click().run()
    assert not at.exception
    assert "振り返りを記録しました（記録番号 1）。" in [s.value for s in at.success]
    assert "県のネットワーク会議で4市の取組を紹介できた" in [m.value for m in at.markdown]
    stored = ops.read_note_events(tmp_path / "operations.sqlite")
    assert stored.select("city_code", "kind", "changed_by").rows() == [("14216", "breakthrough", "座間市地域福祉課")]
    at.button(key="pf_note_submit").click().run()
    assert "内容を入力してください。" in [e.value for e in at.error]
    assert ops.read_note_events(tmp_path / "operations.sqlite").height == 1


def test_city_selection_and_english(app):
    at = open_page(app)
    at.selectbox(key="city__ja").select("14218").run()
    assert not at.exception
    assert list(at.dataframe[0].value.columns) == ["step", "phase", "14218"]
    assert list(metrics(at)) == ["綾瀬市"]
    assert set(at.dataframe[1].value["city"]) == {"綾瀬市"}
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Platform-building process"
    assert at.dataframe[0].value["14218"].iloc[0] == "Done: FY2024 Aug (2024-08) → FY2024 Oct (2024-10)"


def test_the_chosen_step_survives_a_language_switch(app, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_MANAGER", "座間市地域福祉課:14216")
    at = open_page(app)
    at.selectbox(key="pf_step__ja").select("s4_2").run()
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.selectbox(key="pf_step__en").value == "s4_2"
    assert at.selectbox(key="pf_status_s4_2__en").value == "in_progress"
    assert at.selectbox(key="pf_status_s4_2__en").options == ["Not started", "In progress", "Done", "Undecided"]


def test_who_recorded_an_app_update_is_shown_to_staff_only(app, sign_in, monkeypatch):
    from warehouse.masking import MASK

    at = open_page(sign_in(app, "city_manager", "14216"))  # signed in as the account "tester"
    at.selectbox(key="pf_step__ja").select("s4_2").run()
    at.selectbox(key="pf_status_s4_2__ja").select("done")
    at.text_input(key="pf_end_s4_2").input("R7年度3月")
    at.button(key="pf_submit_s4_2").click().run()
    at.selectbox(key="pf_note_kind__ja").select("breakthrough")
    at.text_area(key="pf_note_text").input("県の会議で紹介できた")
    at.button(key="pf_note_submit").click().run()
    assert not at.exception
    assert at.dataframe[1].value.iloc[0]["changed_by"] == "tester"  # their own city's: staff

    def seen_by(role: str | None, city: str | None = None) -> tuple[str, list[str]]:
        """The newest history row's recorder and the captions of 座間市's notes, as role sees them."""
        session = AppTest.from_file(APP, default_timeout=60)
        session = open_page(sign_in(session, role, city) if role else session)
        assert not session.exception
        notes = [c.value for c in session.caption if "追加）" in c.value]  # progress.note_from_app
        return session.dataframe[1].value.iloc[0]["changed_by"], notes

    for role, city in ((None, None), ("analyst", None), ("city_manager", "14218")):
        who, notes = seen_by(role, city)
        assert who == MASK, role
        assert len(notes) == 1 and MASK in notes[0] and "tester" not in notes[0], role
    who, notes = seen_by("liaison")
    assert who == "tester"
    assert len(notes) == 1 and "tester" in notes[0]
