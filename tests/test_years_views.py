"""Cross-year views (issue #22): 活動分布's mix of two years, 広域カバレッジ's gaps closed or opened and 地域資源マップ's
organisations new this year — figures from both year folders' raw files, the manifest and the single-year builds."""

from __future__ import annotations

import csv
import zipfile
from collections import Counter
from xml.etree import ElementTree

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from test_activity import CITY, CONTENT, FORM, GROUP_OF, _key, _many

from common.calendar import fiscal_year_label
from dashboard.charts import years_b as charts
from dashboard.i18n import translate
from warehouse.query import coverage, years_mix

APP = "../dashboard/app.py"
FOLDERS = {2024: "R6", 2025: "R7"}
CONTENT_COLUMN = "活動内容（当てはまるものをすべて選択してください）"
FORM_COLUMN = "支援の形態（当てはまるものをすべて選択してください）"
KML = {"k": "http://www.opengis.net/kml/2.2"}


@pytest.fixture()
def con(years_warehouse):
    """Read-only connection to the two-year warehouse."""
    connection = duckdb.connect(str(years_warehouse), read_only=True)
    yield connection
    connection.close()


def raw_answers(folder) -> list[dict]:
    """One parsed answer per organisation of a year folder's survey CSV (the latest when one answered twice)."""
    with open(folder / "survey_answers.csv", encoding="cp932", newline="") as handle:
        rows = list(csv.DictReader(handle))
    latest = {_key(row["団体名"]): row for row in sorted(rows, key=lambda r: r["タイムスタンプ"])}
    return [
        {
            "city": CITY[_key(row["所在市"])],
            "content": _many(row[CONTENT_COLUMN], CONTENT),
            "form": _many(row[FORM_COLUMN], FORM),
        }
        for row in latest.values()
    ]


def raw_mix(answers: list[dict]) -> dict[tuple, int]:
    """(city or None, taxonomy, term code) → answering organisations that chose it, from parsed answers."""
    counts: Counter = Counter()
    for answer in answers:
        for scope in (answer["city"], None):
            counts.update((scope, "form", code) for code in answer["form"])
            counts.update((scope, "content", code) for code in answer["content"])
            # A field's term code is "group_" + the seed's group_code.
            counts.update((scope, "group", "group_" + g) for g in {GROUP_OF[code] for code in answer["content"]})
    return dict(counts)


def mart_mix(con, year: int) -> tuple[dict[tuple, int], dict]:
    """mart_year_mix of a year: the non-zero (city, taxonomy, term code) counts, and respondents per city."""
    rows = con.execute(
        "select m.city_code, m.taxonomy_id, t.code, m.orgs, m.respondents from mart_year_mix as m "
        "join taxonomy_term as t on t.id = m.term_id where m.fiscal_year = ?",
        [year],
    ).fetchall()
    return {(c, x, code): n for c, x, code, n, _ in rows if n}, {c: r for c, _, _, _, r in rows}


# --- marts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", list(FOLDERS))
def test_mix_mart_counts_each_years_raw_answers(con, years_bundle, year):
    answers = raw_answers(years_bundle[0] / FOLDERS[year])
    counts, respondents = mart_mix(con, year)
    assert counts == raw_mix(answers)
    assert respondents == dict(Counter(a["city"] for a in answers)) | {None: len(answers)}


def test_first_year_marts_equal_the_flat_r6_build(con, sample_con):
    # R6 in the two-year warehouse is what the flat R6 sample's latest-year marts count.
    counts, _ = mart_mix(con, 2024)
    flat = sample_con.execute(
        "select m.taxonomy_id, t.code, sum(m.orgs) from mart_activity_counts as m "
        "join taxonomy_term as t on t.id = m.term_id where m.target_id is null and m.taxonomy_id <> 'target' "
        "group by all"
    ).fetchall()
    assert {(x, code): n for x, code, n in flat} == {(x, code): n for (c, x, code), n in counts.items() if c is None}
    for year, build in ((2024, sample_con), (2025, con)):
        tally = build.execute(
            "select basis, city_code, form_code, sum(orgs) from mart_coverage_tally group by all"
        ).fetchall()
        by_year = con.execute(
            "select basis, city_code, form_code, orgs from mart_year_coverage where fiscal_year = ? and orgs > 0",
            [year],
        ).fetchall()
        assert sorted(by_year, key=str) == sorted(tally, key=str), year


# --- queries ----------------------------------------------------------------------------------------


def test_mix_comparison_counts_shares_and_change(con, years_bundle):
    earlier, later = (raw_mix(raw_answers(years_bundle[0] / FOLDERS[y])) for y in (2024, 2025))
    n = {y: len(raw_answers(years_bundle[0] / FOLDERS[y])) for y in FOLDERS}
    forms = years_mix.mix_comparison(con, 2024, 2025, "form", None, "ja")
    assert forms.height == len({code for code in FORM.values()})
    for row in forms.iter_rows(named=True):
        a, b = earlier.get((None, "form", row["term_code"]), 0), later.get((None, "form", row["term_code"]), 0)
        assert (row["earlier_orgs"], row["later_orgs"], row["change_orgs"]) == (a, b, b - a)
        assert row["earlier_share_pct"] == round(100 * a / n[2024], 1)
        assert row["later_share_pct"] == round(100 * b / n[2025], 1)
        assert row["change_pts"] == round(row["later_share_pct"] - row["earlier_share_pct"], 1)
    # The city selector narrows to that year's answers of the city.
    city = next(iter(sorted({c for c, _, _ in later if c})))
    groups = years_mix.mix_comparison(con, 2024, 2025, "group", city, "en")
    expected = {code: later.get((city, "group", code), 0) for code in groups["term_code"]}
    assert dict(zip(groups["term_code"], groups["later_orgs"], strict=True)) == expected
    with pytest.raises(ValueError):
        years_mix.mix_comparison(con, 2025, 2024, "form", None, "ja")
    with pytest.raises(ValueError):
        years_mix.mix_comparison(con, 2024, 2025, "target", None, "ja")


@pytest.mark.parametrize("basis", list(coverage.BASES))
def test_gaps_closed_and_opened_follow_each_years_coverage_matrix(con, sample_con, basis):
    # Each year's gaps are what 広域カバレッジ's own matrix says: R6 on the flat R6 build, R7 on the latest year.
    def gaps(build) -> dict[tuple, str | None]:
        matrix = coverage.form_matrix(build, basis, "ja")
        return {(c, f): g for c, f, g in matrix.select("city_code", "form_code", "gap").iter_rows()}

    before, after = gaps(sample_con), gaps(con)
    expected = {}
    for cell in before:
        if before[cell] and not after[cell]:
            expected[cell] = "closed"
        elif after[cell] and not before[cell]:
            expected[cell] = "opened"
        elif before[cell]:
            expected[cell] = "remaining"
    changes = years_mix.gap_changes(con, 2024, 2025, basis, None, "ja")
    assert dict(zip(zip(changes["city_code"], changes["form_code"]), changes["change"], strict=True)) == expected
    assert {"closed", "opened"} <= set(expected.values()) or basis == "served"
    counts = years_mix.gap_change_counts(con, 2024, 2025, basis, "ja")
    assert counts.height == 4 * len(years_mix.GAP_CHANGES)
    assert dict(Counter(expected.values())) == {
        change: n for change, n in counts.group_by("change").agg(pl.col("cells").sum()).iter_rows() if n
    }
    one_city = years_mix.gap_changes(con, 2024, 2025, basis, "14216", "en")
    assert set(one_city["city_code"]) <= {"14216"}
    assert one_city.height == sum(1 for city, _ in expected if city == "14216")


def r7_new_with_pin(years_bundle) -> set[str]:
    """Names (NFKC) of the manifest's new organisations that R7's My Maps file has a placemark for."""
    folder, manifest = years_bundle
    with zipfile.ZipFile(folder / "R7" / "resource_map.kmz") as archive:
        root = ElementTree.fromstring(archive.read("doc.kml"))  # noqa: S314 (the generator's own file)
    pinned = {_key(p.findtext("k:name", "", KML)) for p in root.iter(f"{{{KML['k']}}}Placemark")}
    return {_key(org["name"]) for org in manifest["new"]} & pinned


def test_new_organisations_on_the_map_are_the_manifests_new_ones_with_a_pin(con, years_bundle, sample_con):
    expected = r7_new_with_pin(years_bundle)
    assert expected
    ids = years_mix.new_organisation_ids(con, 2025)
    names = {
        _key(name)
        for (name,) in con.execute("select name from organization where list_contains(?, id)", [ids]).fetchall()
    }
    assert names == expected
    assert years_mix.new_organisation_count(con, 2025) == {
        "listed": len(years_bundle[1]["new"]),
        "mapped": len(expected),
    }
    # In a single-year warehouse every organisation is first listed in its only year: nothing is "new".
    assert years_mix.fiscal_years(sample_con) == [2024]


# --- charts -----------------------------------------------------------------------------------------


def test_charts_show_both_years_and_every_change(con):
    mix = years_mix.mix_comparison(con, 2024, 2025, "form", None, "en")
    spec = charts.mix_chart(mix, "en", "FY2024", "FY2025").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == ["FY2024", "FY2025"]
    assert len(charts.mix_long(mix, "FY2024", "FY2025")) == 2 * mix.height
    counts = years_mix.gap_change_counts(con, 2024, 2025, "located", "ja")
    spec = charts.gap_change_chart(counts, "ja").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == [
        translate("ja", f"years_b.change.{c}") for c in years_mix.GAP_CHANGES
    ]


# --- pages ------------------------------------------------------------------------------------------


def open_page(warehouse, monkeypatch, page: str) -> AppTest:
    """A page of the app over a warehouse, in AppTest."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    at = AppTest.from_file(APP, default_timeout=90).run()
    return at.switch_page(page).run()


def subheaders(at: AppTest) -> list[str]:
    """Every subheader of the run."""
    return [s.value for s in at.subheader]


def test_activity_page_compares_two_years(years_warehouse, monkeypatch, years_bundle):
    at = open_page(years_warehouse, monkeypatch, "pages/activity.py")
    assert not at.exception
    assert translate("ja", "years_b.mix_title") in subheaders(at)
    # Default: the previous year against the latest.
    assert at.selectbox(key="years_mix_earlier__ja").value == 2024
    assert at.selectbox(key="years_mix_later__ja").value == 2025
    n = {y: len(raw_answers(years_bundle[0] / FOLDERS[y])) for y in FOLDERS}
    caption = translate(
        "ja",
        "years_b.mix_n",
        earlier=fiscal_year_label(2024),
        later=fiscal_year_label(2025),
        earlier_n=n[2024],
        later_n=n[2025],
    )
    assert caption in [c.value for c in at.caption]


def test_coverage_page_lists_gaps_closed_and_opened(years_warehouse, monkeypatch, con):
    at = open_page(years_warehouse, monkeypatch, "pages/coverage.py")
    assert not at.exception
    assert translate("ja", "years_b.gap_title") in subheaders(at)
    counts = years_mix.gap_change_counts(con, 2024, 2025, "located", "ja")
    totals = dict(counts.group_by("change").agg(pl.col("cells").sum()).iter_rows())
    shown = {m.label: m.value for m in at.metric}
    for change in years_mix.GAP_CHANGES:
        assert shown[translate("ja", f"years_b.change.{change}")] == str(totals[change])


def test_map_shows_only_new_organisations_when_asked(years_warehouse, monkeypatch, years_bundle):
    at = open_page(years_warehouse, monkeypatch, "pages/resource_map.py")
    assert not at.exception
    at.toggle(key="map_new_only").set_value(True).run()
    assert not at.exception
    expected = len(r7_new_with_pin(years_bundle))
    note = translate("ja", "years_b.new_only_caption", year=fiscal_year_label(2025), n=expected)
    assert note in [c.value for c in at.caption]
    # The pick list holds exactly the new organisations (and "none").
    assert len(at.selectbox(key="map_org").options) == expected + 1


@pytest.mark.parametrize("page", ["pages/activity.py", "pages/coverage.py", "pages/resource_map.py"])
def test_single_year_pages_show_no_cross_year_view(sample_warehouse, monkeypatch, page):
    at = open_page(sample_warehouse, monkeypatch, page)
    assert not at.exception
    titles = {translate("ja", "years_b.mix_title"), translate("ja", "years_b.gap_title")}
    assert not titles & set(subheaders(at))
    assert "map_new_only" not in [t.key for t in at.toggle]
    assert not [s.key for s in at.selectbox if str(s.key).startswith("years_")]


@pytest.mark.parametrize(
    ("page", "choice", "value", "title"),
    [
        ("pages/activity.py", "years_mix_taxonomy", "content", "years_b.mix_title"),
        ("pages/coverage.py", "years_gap_basis", "served", "years_b.gap_title"),
    ],
)
def test_cross_year_views_keep_their_choices_in_english(years_warehouse, monkeypatch, page, choice, value, title):
    at = open_page(years_warehouse, monkeypatch, page)
    at.selectbox(key=f"{choice}__ja").set_value(value).run()
    assert not at.exception
    at.radio(key="lang").set_value("en").run()
    assert not at.exception, [e.value for e in at.exception]
    assert translate("en", title) in subheaders(at)
    assert at.selectbox(key=f"{choice}__en").value == value
    assert at.selectbox(key="years_mix_earlier__en" if "mix" in title else "years_gap_earlier__en").value == 2024
