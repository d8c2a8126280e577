"""AppTest on the entry point and Home (概要), over a real warehouse built from the sample."""

from __future__ import annotations

import re

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from common.roles import PUBLIC, Viewer
from dashboard.charts import home as charts
from warehouse.query import city_kpis_table, home_kpis

APP = "../dashboard/app.py"
YAMATO, EBINA, ZAMA, AYASE = "14213", "14215", "14216", "14218"
# Workshop participations by consultees (WS相談者参加数, 延べ) per city, then the four together (None):
# 海老名市 WS② 9 + 8, 綾瀬市 WS① 17 + WS③ 6 + 5 + 5; the report's 50 in all.
CONSULTEES = {YAMATO: 0, EBINA: 17, ZAMA: 0, AYASE: 33, None: 50}
# Viewers who may not see 綾瀬市's consultee figures.
WITHOUT_THE_RIGHT = {
    "public": PUBLIC,
    "analyst": Viewer("analyst"),
    "liaison": Viewer("liaison"),
    "other-city manager": Viewer("city_manager", ZAMA),
}


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
    # Every check passed: "N / N" (the full sentence naming Great Expectations is in the metric's help).
    assert re.fullmatch(r"([\d,]+) / \1", shown["検証の合格"])
    assert "Great Expectations" in next(m for m in at.metric if m.label == "検証の合格").proto.help
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


def test_home_consultee_figure_follows_the_rule(sample_con):
    # Published figures: every viewer sees each city's and the four cities' count.
    for viewer in (PUBLIC, *WITHOUT_THE_RIGHT.values()):
        for city, count in CONSULTEES.items():
            row = home_kpis(sample_con, city, viewer)
            assert (row["workshop_consultee_participations"], row["consultees_hidden"]) == (count, False)


def test_home_consultee_figure_under_a_stricter_rule(sample_con, consultees_withheld):
    for city, count in CONSULTEES.items():
        assert home_kpis(sample_con, city, Viewer("admin"))["workshop_consultee_participations"] == count
    assert home_kpis(sample_con, AYASE, Viewer("city_manager", AYASE))["workshop_consultee_participations"] == 33
    for viewer in WITHOUT_THE_RIGHT.values():
        row = home_kpis(sample_con, AYASE, viewer)
        assert (row["workshop_consultee_participations"], row["consultees_hidden"]) == (None, True)
        assert row["workshop_participations"] == 61
    # The four cities' total would reveal the other cities' figures to a city manager.
    row = home_kpis(sample_con, None, Viewer("city_manager", AYASE))
    assert (row["workshop_consultee_participations"], row["consultees_hidden"]) == (None, True)


def test_city_table_and_csv_withhold_consultees(sample_con, consultees_withheld):
    column = ("city", "workshop_consultee_participations", "consultees_hidden")
    admin = city_kpis_table(sample_con, "ja", Viewer("admin"))
    assert admin.select(column).rows() == [
        ("大和市", 0, False), ("海老名市", 17, False), ("座間市", 0, False), ("綾瀬市", 33, False), ("4市全体", 50, False),
    ]  # fmt: skip
    # The CSV keeps its column order: the consultee figure follows the unique participants.
    assert (
        admin.columns.index("workshop_consultee_participations")
        == admin.columns.index("workshop_unique_participants") + 1
    )
    ayase = city_kpis_table(sample_con, "ja", Viewer("city_manager", AYASE))
    assert ayase["workshop_consultee_participations"].to_list() == [None, None, None, 33, None]
    for role in ("public", "analyst", "liaison"):
        table = city_kpis_table(sample_con, "ja", Viewer(role))
        assert table["workshop_consultee_participations"].to_list() == [None] * 5
        assert table["consultees_hidden"].to_list() == [True] * 5
        assert table["workshop_participations"].to_list() == [0, 41, 0, 61, 102]
    zama = city_kpis_table(sample_con, "ja", WITHOUT_THE_RIGHT["other-city manager"])
    assert zama["workshop_consultee_participations"].to_list() == [None, None, 0, None, None]
    csv = charts.city_kpis_download(ayase)
    assert "consultees_hidden" not in csv.columns
    # A withheld figure is empty in the CSV's number column, never a notice in words.
    assert csv["workshop_consultee_participations"].dtype == pl.Int64
    assert csv["workshop_consultee_participations"].to_list() == [None] * 3 + [33, None]
    assert charts.city_kpis_download(admin)["workshop_consultee_participations"].to_list() == [0, 17, 0, 33, 50]
    assert (
        charts.city_kpis_download(city_kpis_table(sample_con, "en"))["workshop_consultee_participations"].to_list()
        == [None] * 5
    )


@pytest.mark.parametrize("role, city", [("admin", None), ("city_manager", AYASE), ("analyst", None)])
def test_home_renders_for_signed_in_roles(app, sign_in, role, city):
    at = sign_in(app, role, city).run()
    assert not at.exception
    assert metrics(at)["WS参加（延べ）"] == "102 名"
    assert at.get("download_button")
