"""Year-over-year on 概要, イベント実績 and PF構築プロセス (issue #22): queries, chart builders and the pages.

Expected figures come from the raw files of the two-year bundle's R6/ and R7/ folders and from the
generator's manifest; the single-year sample must show no comparison at all.
"""

from __future__ import annotations

import csv
import zipfile
from collections import Counter
from pathlib import Path

import altair as alt
import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import common  # noqa: F401  (openpyxl's writer choice, before openpyxl is used)
from common.calendar import fiscal_year_label
from dashboard.charts import years_a as charts
from etl.pipeline import SEEDS_DIR
from warehouse.query import connect
from warehouse.query import progress as progress_query
from warehouse.query import years_home as query

APP = "../dashboard/app.py"
KINDS = {"展示": "exhibition", "ワークショップ": "workshop", "シンポジウム": "symposium"}
# Events held per kind, as event_years names the count.
HELD = {"exhibition": "exhibitions", "workshop": "workshops", "symposium": "symposia"}


def city_codes() -> dict[str, str]:
    """City name → code, from the seed."""
    with (SEEDS_DIR / "city.csv").open(encoding="utf-8", newline="") as handle:
        return {row["ja"]: row["code"] for row in csv.DictReader(handle)}


def sheet(path: Path, name: str) -> list[dict]:
    """A workbook sheet's rows as dicts under its header."""
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book[name].iter_rows(values_only=True))
    book.close()
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:] if any(cell is not None for cell in row)]


def raw_events(folder: Path, city: str | None = None) -> dict[str, int]:
    """Event figures of one year folder's events.xlsx (events hosted by city, 市 name; None = all)."""
    events = {
        row["イベントID"]: KINDS[row["種別"]]
        for row in sheet(folder / "events.xlsx", "イベント")
        if city in (None, row["市"])
    }
    figures = Counter()
    for kind in events.values():
        figures[HELD[kind]] += 1
    for row in sheet(folder / "events.xlsx", "開催回"):
        kind = events.get(row["イベントID"])
        if kind == "exhibition":
            figures["exhibition_visitors"] += row["来場者数"] or 0
        elif kind == "workshop":
            figures["workshop_sessions"] += 1
            figures["workshop_participations"] += row["参加者数"] or 0
        elif kind == "symposium":
            figures["symposium_participants"] += row["参加者数"] or 0
    return figures


def raw_listed(manifest: dict, city: str | None = None) -> dict[int, int]:
    """Organisations each year's lists carry (in city, by that year's city; None = all), from the manifest."""
    r6 = sum(1 for row in manifest["continuing"] if city in (None, row["r6_city"])) + sum(
        1 for row in manifest["gone"] if city in (None, row["city"])
    )
    r7 = sum(1 for row in manifest["continuing"] if city in (None, row["r7_city"])) + sum(
        1 for row in manifest["new"] if city in (None, row["city"])
    )
    return {2024: r6, 2025: r7}


def raw_answers(folder: Path) -> int:
    """Rows of one year folder's survey answers."""
    with (folder / "survey_answers.csv").open(encoding="cp932", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def raw_pins(folder: Path) -> int:
    """Placemarks of one year folder's resource map."""
    with zipfile.ZipFile(folder / "resource_map.kmz") as kmz:
        return sum(kmz.read(name).decode("utf-8").count("<Placemark") for name in kmz.namelist())


def raw_progress(folder: Path) -> dict[tuple[str, str], str]:
    """(市, ステップ) → 状態 of one year folder's progress file."""
    # 座間市 writes ④‐1 with U+2010 (HYPHEN), which the ETL reads as the step ④-1.
    return {
        (row["市"], row["ステップ"].replace("\u2010", "-")): row["状態"]
        for row in sheet(folder / "pf_progress.xlsx", "進捗")
    }


@pytest.fixture()
def years_con(years_warehouse):
    """The dashboard's read connection to the two-year warehouse."""
    con = connect(years_warehouse)
    yield con
    con.close()


@pytest.fixture()
def flat_con(sample_warehouse):
    """The dashboard's read connection to the single-year sample warehouse."""
    con = connect(sample_warehouse)
    yield con
    con.close()


# --- queries ---------------------------------------------------------------------------------------


def test_home_changes_equal_the_raw_files(years_con, years_bundle):
    folder, manifest = years_bundle
    changes = query.home_changes(years_con, None, 2025)
    assert changes["previous_fiscal_year"] == 2024
    listed = raw_listed(manifest)
    answered = {2024: raw_answers(folder / "R6"), 2025: raw_answers(folder / "R7")}
    events = {2024: raw_events(folder / "R6"), 2025: raw_events(folder / "R7")}
    expected_previous = {
        "organisations_distributed": listed[2024],
        "organisations_answered": answered[2024],
        "response_rate_pct": round(100 * answered[2024] / listed[2024], 1),
        "organisations_mapped": raw_pins(folder / "R6"),
        **{k: events[2024][k] for k in ("exhibition_visitors", "workshop_participations", "symposium_participants")},
    }
    expected_current = {
        "organisations_distributed": listed[2025],
        "organisations_answered": answered[2025],
        "response_rate_pct": round(100 * answered[2025] / listed[2025], 1),
        "organisations_mapped": manifest["counts"]["pins"],
        **{k: events[2025][k] for k in ("exhibition_visitors", "workshop_participations", "symposium_participants")},
    }
    for figure, value in expected_previous.items():
        assert changes["previous"][figure] == value, figure
        assert changes["current"][figure] == expected_current[figure], figure
        change = expected_current[figure] - value
        assert changes["change"][figure] == pytest.approx(change, abs=0.05), figure
    counts = manifest["counts"]
    assert {k: changes["current"][k] for k in ("continuing", "new", "gone")} == {
        k: counts[k] for k in ("continuing", "new", "gone")
    }
    # R6 is the bundle's first year: nothing was compared then, so continuity has no change to show.
    assert {k: changes["change"][k] for k in ("continuing", "new", "gone")} == {
        "continuing": None,
        "new": None,
        "gone": None,
    }
    assert changes["change"]["organisations_listed"] == listed[2025] - listed[2024]


def test_home_changes_respect_the_city(years_con, years_bundle):
    folder, manifest = years_bundle
    codes = city_codes()
    for city, expected in manifest["counts"]["per_city"].items():
        changes = query.home_changes(years_con, codes[city], 2025)
        listed = raw_listed(manifest, city)
        assert changes["change"]["organisations_distributed"] == listed[2025] - listed[2024], city
        assert {k: changes["current"][k] for k in ("continuing", "new", "gone")} == expected, city
        hosted = {year: raw_events(folder / name, city) for year, name in ((2024, "R6"), (2025, "R7"))}
        assert changes["change"]["workshop_participations"] == (
            hosted[2025]["workshop_participations"] - hosted[2024]["workshop_participations"]
        ), city


def test_latest_year_equals_what_the_page_shows(years_con):
    # The metric shows mart_city_kpis (the latest year); its delta's current side must be the same figure.
    for city in (None, *city_codes().values()):
        shown = years_con.execute("select * from mart_city_kpis where city_code is not distinct from ?", [city])
        row = dict(zip([c[0] for c in shown.description], shown.fetchone(), strict=True))
        current = query.home_changes(years_con, city, 2025)["current"]
        for figure in query.HOME_FIGURES[:7]:
            assert current[figure] == row[figure], (city, figure)


def test_earliest_year_and_single_year_have_no_previous(years_con, flat_con):
    assert query.home_changes(years_con, None, 2024) is None
    assert query.fiscal_years(flat_con) == [2024]
    assert query.home_changes(flat_con, None, 2024) is None
    assert query.event_years(flat_con, None).height == 1


def test_event_years_equal_the_raw_files_and_the_mart(years_con, years_bundle):
    folder = years_bundle[0]
    years = query.event_years(years_con, None)
    assert years["fiscal_year"].to_list() == [2024, 2025]
    for row, name in zip(years.iter_rows(named=True), ("R6", "R7"), strict=True):
        raw = raw_events(folder / name)
        for figure in ("exhibitions", "workshops", "symposia", "exhibition_visitors", "workshop_sessions",
                       "workshop_participations", "symposium_participants"):  # fmt: skip
            assert row[figure] == raw[figure], (name, figure)
        assert row["total_reach"] == (
            raw["exhibition_visitors"] + raw["workshop_participations"] + raw["symposium_participants"]
        )
    mart = years_con.execute(
        "select fiscal_year, sum(events), sum(visitors), sum(participations) from mart_year_events group by 1 order by 1"
    ).fetchall()
    assert mart == [
        (r["fiscal_year"], r["exhibitions"] + r["workshops"] + r["symposia"], r["exhibition_visitors"],
         r["workshop_participations"] + r["symposium_participants"])
        for r in years.iter_rows(named=True)
    ]  # fmt: skip


def test_progress_years_equal_the_raw_files_and_the_mart(years_con, years_bundle):
    folder = years_bundle[0]
    raw = {2024: raw_progress(folder / "R6"), 2025: raw_progress(folder / "R7")}
    progress = query.progress_years(years_con, None)
    assert {
        (r["fiscal_year"], r["city_name_ja"], r["step_label"]): r["status_name_ja"]
        for r in progress.iter_rows(named=True)
    } == {(year, city, step): status for year, cells in raw.items() for (city, step), status in cells.items()}
    counts = query.progress_year_counts(years_con)
    for row in counts.iter_rows(named=True):
        statuses = Counter(s for (city, step), s in raw[row["fiscal_year"]].items() if step == row["step_label"])
        assert (row["cities_done"], row["cities_in_progress"]) == (statuses["完了"], statuses["進行中"]), row
    assert query.progress_years(years_con, "14218")["city_name_ja"].unique().to_list() == ["綾瀬市"]


# --- chart builders --------------------------------------------------------------------------------


def test_event_table_and_chart(years_con):
    years = query.event_years(years_con, None)
    table = charts.event_years_table(years, query.EVENT_FIGURES, "ja")
    assert table.columns == ["figure", "R6年度（2024）", "R7年度（2025）", "change"]
    row = table.row(query.EVENT_FIGURES.index("exhibition_visitors"), named=True)
    assert row["change"] == row["R7年度（2025）"] - row["R6年度（2024）"]
    chart = charts.event_years_chart(years, "en")
    assert isinstance(chart, alt.FacetChart)
    spec = chart.to_dict()
    assert {d["year"] for d in next(iter(spec["datasets"].values()))} == {"FY2024 (R6)", "FY2025 (R7)"}


def test_progress_table_and_chart(years_con):
    progress = query.progress_years(years_con, None)
    statuses = progress_query.statuses(years_con)
    chart = charts.progress_years_chart(progress, statuses, "ja")
    assert isinstance(chart, alt.FacetChart)
    cells = next(iter(chart.to_dict()["datasets"].values()))
    assert len(cells) == progress.height and {c["year"] for c in cells} == {"R6年度（2024）", "R7年度（2025）"}
    table = charts.progress_years_table(progress, "en")
    assert table.columns == ["step", "Yamato", "Ebina", "Zama", "Ayase"]
    assert all(" → " in cell and cell.startswith("FY2024 ") for cell in table["Zama"])


# --- pages (AppTest) -------------------------------------------------------------------------------


def app_on(warehouse: Path, monkeypatch, tmp_path) -> AppTest:
    """The app pointed at a warehouse, with an empty operational store and no manager."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_MANAGER", raising=False)
    return AppTest.from_file(APP, default_timeout=60)


def metric(at: AppTest, label: str):
    """The metric under a label."""
    return next(m for m in at.metric if m.label == label)


def test_home_shows_changes_on_two_years(years_warehouse, years_bundle, monkeypatch, tmp_path):
    folder, manifest = years_bundle
    at = app_on(years_warehouse, monkeypatch, tmp_path).run()
    assert not at.exception
    listed = raw_listed(manifest)
    before = fiscal_year_label(2024, "ja")
    assert metric(at, "配布団体数").value == f"{listed[2025]} 団体"
    assert metric(at, "配布団体数").proto.delta == f"{listed[2025] - listed[2024]:+,} 団体（{before}比）"
    visitors = raw_events(folder / "R7")["exhibition_visitors"] - raw_events(folder / "R6")["exhibition_visitors"]
    assert metric(at, "展示会来場者").proto.delta == f"{visitors:+,} 名（{before}比）"
    # The 実人数 has no per-year figure: no change shown.
    assert not metric(at, "WS参加（実人数）").proto.delta
    counts = manifest["counts"]
    assert metric(at, "継続団体").value == f"{counts['continuing']} 団体"
    assert metric(at, "新規団体").value == f"{counts['new']} 団体"
    assert metric(at, "掲載終了").value == f"{counts['gone']} 団体"
    # The city selector: 綾瀬市's own change.
    at.selectbox(key="city__ja").select(city_codes()["綾瀬市"]).run()
    assert not at.exception
    own = raw_listed(manifest, "綾瀬市")
    assert metric(at, "配布団体数").proto.delta == f"{own[2025] - own[2024]:+,} 団体（{before}比）".replace("+0", "±0")
    assert metric(at, "継続団体").value == f"{counts['per_city']['綾瀬市']['continuing']} 団体"
    # English: the same change, the previous year as FY2024.
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert metric(at, "Organisations surveyed").proto.delta == (
        f"{own[2025] - own[2024]:+,} orgs vs FY2024".replace("+0", "±0")
    )
    assert metric(at, "Continuing").value == f"{counts['per_city']['綾瀬市']['continuing']} orgs"


def test_home_shows_no_change_on_one_year(sample_warehouse, monkeypatch, tmp_path):
    at = app_on(sample_warehouse, monkeypatch, tmp_path).run()
    assert not at.exception
    assert not any(m.proto.delta for m in at.metric)
    assert "継続団体" not in {m.label for m in at.metric}


def year_table(at: AppTest) -> pl.DataFrame | None:
    """The comparison table of イベント実績 (its first column is the figure), if shown."""
    found = [d.value for d in at.dataframe if "figure" in d.value.columns]
    return pl.from_pandas(found[0]) if found else None


def test_events_page_compares_years(years_warehouse, years_bundle, monkeypatch, tmp_path):
    folder = years_bundle[0]
    at = app_on(years_warehouse, monkeypatch, tmp_path).run().switch_page("pages/events.py").run()
    assert not at.exception
    assert "年度比較" in [h.value for h in at.subheader]
    table = year_table(at)
    r6, r7 = raw_events(folder / "R6"), raw_events(folder / "R7")
    visitors = table.row(query.EVENT_FIGURES.index("exhibition_visitors"), named=True)
    assert visitors["figure"] == "展示会来場者数"
    assert (visitors["R6年度（2024）"], visitors["R7年度（2025）"]) == (
        r6["exhibition_visitors"],
        r7["exhibition_visitors"],
    )
    workshops = table.row(query.EVENT_FIGURES.index("workshops"), named=True)
    assert workshops["change"] == r7["workshops"] - r6["workshops"]


def test_events_page_shows_no_comparison_on_one_year(sample_warehouse, monkeypatch, tmp_path):
    at = app_on(sample_warehouse, monkeypatch, tmp_path).run().switch_page("pages/events.py").run()
    assert not at.exception
    assert "年度比較" not in [h.value for h in at.subheader]
    assert year_table(at) is None


def test_progress_page_shows_the_years(years_warehouse, years_bundle, monkeypatch, tmp_path):
    folder = years_bundle[0]
    at = app_on(years_warehouse, monkeypatch, tmp_path).run().switch_page("pages/progress.py").run()
    assert not at.exception
    assert "年度ごとの推移" in [h.value for h in at.subheader]
    table = next(d.value for d in at.dataframe if "step" in d.value.columns and "座間市" in d.value.columns)
    r6, r7 = raw_progress(folder / "R6"), raw_progress(folder / "R7")
    step = next(row for row in table["step"] if row.startswith("④-2") or row.startswith("⑤"))
    label = step.split(" ")[0]
    cell = table.loc[table["step"] == step, "座間市"].iloc[0]
    assert cell == f"R6年度 {r6[('座間市', label)]} → R7年度 {r7[('座間市', label)]}"


def test_progress_page_shows_no_years_on_one_year(sample_warehouse, monkeypatch, tmp_path):
    at = app_on(sample_warehouse, monkeypatch, tmp_path).run().switch_page("pages/progress.py").run()
    assert not at.exception
    assert "年度ごとの推移" not in [h.value for h in at.subheader]


def test_pages_compare_one_city(years_warehouse, years_bundle, monkeypatch, tmp_path):
    folder = years_bundle[0]
    ayase = city_codes()["綾瀬市"]
    at = app_on(years_warehouse, monkeypatch, tmp_path)
    at.query_params["city"] = ayase
    at.run().switch_page("pages/events.py").run()
    assert not at.exception
    table = year_table(at)
    hosted = {
        label: raw_events(folder / name, "綾瀬市")
        for label, name in (("R6年度（2024）", "R6"), ("R7年度（2025）", "R7"))
    }
    row = table.row(query.EVENT_FIGURES.index("workshop_participations"), named=True)
    assert {label: int(row[label]) for label in hosted} == {
        label: figures["workshop_participations"] for label, figures in hosted.items()
    }
    at.switch_page("pages/progress.py").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "step" in d.value.columns and "綾瀬市" in d.value.columns)
    assert "座間市" not in table.columns
