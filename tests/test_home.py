"""AppTest on the entry point and Home (概要), over a real warehouse built from the sample."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

APP = "../dashboard/app.py"


@pytest.fixture()
def app(sample_warehouse, monkeypatch):
    """The app pointed at the sample warehouse."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    return AppTest.from_file(APP, default_timeout=30)


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → shown value."""
    return {m.label: m.value for m in at.metric}


def test_home_shows_joint_figures(app):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "概要"
    shown = metrics(at)
    assert {k: shown[k] for k in ("配布団体数", "回答団体数", "回答率", "地域資源マップ掲載")} == {
        "配布団体数": "157 団体",
        "回答団体数": "63 団体",
        "回答率": "40.1 %",
        "地域資源マップ掲載": "150 団体",
    }
    assert {k: shown[k] for k in ("展示会来場者", "WS参加（延べ）", "WS参加（実人数）", "シンポジウム参加者")} == {
        "展示会来場者": "3,198 名",
        "WS参加（延べ）": "102 名",
        "WS参加（実人数）": "60 名",
        "シンポジウム参加者": "126 名",
    }
    assert shown["検証（Great Expectations）"].endswith("合格")
    assert shown["隔離した行"] == "0 行"


def test_city_selection_filters_and_reaches_the_url(app):
    at = app.run()
    at.selectbox(key="city__ja").select("14218").run()
    assert not at.exception
    assert metrics(at)["配布団体数"] == "30 団体"
    assert at.query_params["city"] == "14218"
    assert "綾瀬市" in at.caption[0].value


def test_city_comes_from_the_url(app):
    app.query_params["city"] = "14216"
    at = app.run()
    assert metrics(at)["配布団体数"] == "37 団体"


def test_english_switch(app):
    at = app.run()
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert metrics(at)["Organisations surveyed"] == "157 orgs"
    assert at.query_params["lang"] == "en"


def test_city_survives_language_switches(app):
    at = app.run()
    at.selectbox(key="city__ja").select("14218").run()
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert metrics(at)["Organisations surveyed"] == "30 orgs"
    assert at.selectbox(key="city__en").value == "14218"
    at.radio(key="lang").set_value("ja").run()
    assert not at.exception
    assert metrics(at)["配布団体数"] == "30 団体"
    assert at.query_params["city"] == "14218"


def test_phase_table_shows_each_city(app):
    at = app.run()
    table = at.dataframe[0].value
    assert list(table["name_ja"]) == ["大和市", "海老名市", "座間市", "綾瀬市"]
    assert list(table["phase_label"]) == ["(ウ)"] * 4


def test_missing_warehouse_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(tmp_path / "none.duckdb"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "まだありません" in at.error[0].value


def test_url_paths_never_clash_with_page_file_names():
    from pathlib import Path

    from dashboard.registry import PAGES

    stems = {p.stem for p in (Path(__file__).parent.parent / "dashboard" / "pages").glob("*.py")}
    assert {spec.url_path for spec in PAGES} & stems == set()
