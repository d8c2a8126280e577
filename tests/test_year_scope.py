"""Year scopes (issue #22, stage 2): per-year marts, the year-scoped reader and the 年度 selector on every page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from common.calendar import fiscal_year_option
from common.roles import Viewer
from dashboard import state
from dashboard.format import number
from dashboard.i18n import translate
from warehouse import query, years
from warehouse.query import activity, coverage, directory, events, explore, progress, referral

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
ADMIN = Viewer("admin")
TODAY = dt.date(2025, 3, 1)
# Names whose rows are not one year's content, so an earlier year's reader shows them as stored:
# fiscal_year_bundle lists the bundle's years (two here, one in the flat sample), the etl_* tables and the
# quarantine record the run (this one read both years' files), and mart_year_* compare every year.
NOT_A_YEAR = ("fiscal_year_bundle", "etl_run", "etl_source_file", "etl_source_sheet", "etl_validation")
NOT_A_YEAR += ("etl_data_docs", "quarantine")
# Tables without fiscal_year hold the latest bundle's list for every year: city carries R7's cities.csv, whose
# population date the generator moved on a year (same populations).
NOT_A_YEAR += ("city",)


def differs_from_flat(name: str) -> bool:
    """Whether a name legitimately answers otherwise on the two-year warehouse's R6 reader than on the flat sample."""
    return name in NOT_A_YEAR or name.startswith(years.ALL_YEARS_PREFIX)


@pytest.fixture(scope="module")
def r6(years_warehouse):
    """The two-year warehouse read as R6年度 (2024), an earlier year."""
    con = query.connect(years_warehouse, 2024)
    yield con
    con.close()


@pytest.fixture(scope="module")
def flat(sample_warehouse):
    """The flat R6年度 sample warehouse, read as it is."""
    con = query.connect(sample_warehouse)
    yield con
    con.close()


@pytest.fixture(scope="module")
def r7(years_warehouse):
    """The two-year warehouse read as R7年度 (2025), its latest year."""
    con = query.connect(years_warehouse, 2025)
    yield con
    con.close()


@pytest.fixture(scope="module")
def r7_alone(r7_alone_build):
    """The R7 folder built alone (conftest's shared build, which test_years compares every mart with)."""
    con = query.connect(r7_alone_build.warehouse)
    yield con
    con.close()


def same(left, right) -> bool:
    """Equal answers: frames by value (column names, types, rows in order), anything else by ==."""
    if isinstance(left, pl.DataFrame):
        return isinstance(right, pl.DataFrame) and left.equals(right) and left.columns == right.columns
    if isinstance(left, dict):
        return isinstance(right, dict) and left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return left == right


def test_single_year_warehouse_has_no_year_schemas(sample_warehouse):
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        schemas = {row[0] for row in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
    assert schemas == {"main", "pii"}


def test_earlier_year_marts_equal_the_flat_build(years_warehouse, sample_warehouse):
    """Every model of fy2024 / fy2024_pii holds exactly the rows the flat R6 build's main / pii model holds."""
    with duckdb.connect(str(years_warehouse), read_only=True) as con:
        con.execute("attach ? as flat (read_only)", [str(sample_warehouse)])
        stored = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name in (?, ?) order by 1, 2",
            [years.year_schema(2024), years.year_schema(2024, "pii")],
        ).fetchall()
        flat_marts = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'flat' "
            "and table_name like 'mart\\_%' escape '\\' and table_name not like 'mart\\_year\\_%' escape '\\'"
        ).fetchall()
        # Every latest-year mart has its R6 copy, plus R6's own organisations.
        assert {(s.replace("fy2024_pii", "pii").replace("fy2024", "main"), t) for s, t in stored} == {
            *flat_marts,
            ("main", "organization"),
        }
        for schema, table in stored:
            here = f'"{schema}"."{table}"'
            there = f'flat."{"pii" if schema.endswith("_pii") else "main"}"."{table}"'
            differ = con.execute(
                f"select count(*) from ((select * from {here} except all select * from {there}) "
                f"union all (select * from {there} except all select * from {here}))"
            ).fetchone()[0]
            assert differ == 0, f"{schema}.{table}: {differ} rows differ from the flat R6 build"


def test_every_name_reads_the_year(r6, flat):
    """Each table and mart a query can name (main and pii) answers on the R6 reader as on the flat sample."""
    names = r6.execute(
        "select schema_name, view_name from duckdb_views() where database_name = ? and not internal order by 1, 2",
        [years.SCOPE_CATALOG],
    ).fetchall()
    flat_names = set(
        flat.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = ? order by 1, 2",
            [query.WAREHOUSE_CATALOG],
        ).fetchall()
    )
    assert set(names) == flat_names
    compared, differing = 0, []
    for schema, name in names:
        if differs_from_flat(name):
            continue
        ours = query.fetch(r6, f'select * from "{schema}"."{name}"')
        theirs = query.fetch(flat, f'select * from "{schema}"."{name}"')
        assert ours.columns == theirs.columns, name
        if not ours.sort(ours.columns).equals(theirs.sort(theirs.columns)):
            differing.append(f"{schema}.{name}")
        compared += 1
    assert differing == []
    assert compared > 60


def page_calls(con) -> dict[str, object]:
    """The answers of the warehouse/query functions the pages call, with arguments as the pages pass them."""
    city = query.cities(con)["code"][0]
    no_filter = activity.ActivityFilter()
    city_filter = activity.ActivityFilter(city_code=city)
    intents = tuple(coverage.INTENTS)
    forms = coverage.forms(con, "ja")
    form = forms["code"][0] if forms.height else None
    organisation = query.fetch(con, "select id from organization order by id limit 1")["id"][0]
    grid = progress.progress_grid(con)
    calls = {
        "query.cities": query.cities(con),
        "query.home_kpis": query.home_kpis(con, None, ADMIN),
        "query.home_kpis city": query.home_kpis(con, city, ADMIN),
        "query.city_kpis_table": query.city_kpis_table(con, "en", ADMIN),
        "query.city_phases": query.city_phases(con),
        "progress.progress_grid": grid,
        "progress.phases": progress.phases(con),
        "progress.statuses": progress.statuses(con),
        "progress.notes": progress.notes(con),
        "activity.content_groups": activity.content_groups(con, "ja"),
        "activity.legal_forms": activity.legal_forms(con, "ja"),
        "activity.pf_intents": activity.pf_intents(con, "ja"),
        "activity.reach_total": activity.reach_total(con, no_filter),
        "activity.respondents": activity.respondents(con, city_filter),
        "activity.non_respondent_count": activity.non_respondent_count(con, no_filter),
        "activity.non_respondents": activity.non_respondents(con, city_filter, "ja", viewer=ADMIN),
        "activity.follow_up_count": activity.follow_up_count(con, no_filter, ADMIN),
        "activity.content_counts": activity.content_counts(con, no_filter, "ja"),
        "activity.form_counts": activity.form_counts(con, city_filter, "ja"),
        "activity.form_city_matrix": activity.form_city_matrix(con, no_filter, "ja"),
        "coverage.flow": coverage.flow(con, "ja"),
        "coverage.reach_summary": coverage.reach_summary(con, "ja"),
        "coverage.reach_organisation_count": coverage.reach_organisation_count(con),
        "coverage.single_source_summary": coverage.single_source_summary(con, "ja"),
        "coverage.candidate_matrix": coverage.candidate_matrix(con, intents, "ja"),
        "coverage.candidate_count": coverage.candidate_count(con, intents, city),
        "coverage.answering_with_forms": coverage.answering_with_forms(con),
        "coverage.form_pin_count": coverage.form_pin_count(con, form),
        "events.events": events.events(con, None),
        "events.kpis": events.kpis(con, None),
        "events.sessions": events.sessions(con, city),
        "events.targets": events.targets(con, None),
        "events.contracts": events.contracts(con),
        "events.comment_count": events.comment_count(con, None),
        "events.survey_questions": events.survey_questions(con, None),
        "events.survey_answers": events.survey_answers(con, None),
        "directory.organisations": directory.organisations(con, directory.DirectoryFilter(), "ja", TODAY),
        "directory.search": directory.search(con, "会", directory.DirectoryFilter(), "ja", TODAY),
        "directory.organisation_detail": directory.organisation_detail(con, organisation, "ja", TODAY),
        "directory.summary": directory.summary(con, directory.DirectoryFilter(), TODAY, ADMIN),
        "directory.facets": directory.facets(con, directory.DirectoryFilter(), "ja"),
        "referral.need_terms": referral.need_terms(con, "content", "ja"),
        "referral.mapped_count": referral.mapped_count(con, ADMIN),
    }
    for measure in activity.MEASURES:
        calls[f"activity.breakdown {measure}"] = activity.breakdown(con, no_filter, "ja", measure, "city")
    for basis in coverage.BASES:
        calls[f"coverage.form_matrix {basis}"] = coverage.form_matrix(con, basis, "ja")
    # The catalogue: every dataset's rows, but for the names whose rows are the run's or every year's.
    datasets = explore.catalogue(con, ADMIN)
    calls["explore.catalogue"] = {
        name: (d.kind, d.columns, d.rows) for name, d in datasets.items() if not differs_from_flat(name)
    }
    # Pages of a table and of a mart sorted by a column (on the year's reader: views, ordered without rowid).
    for name, sort in (("organization", "name"), ("mart_org_directory", "name")):
        view = explore.View(datasets[name], sort=sort)
        calls[f"explore.fetch_page {name} {sort}"] = explore.fetch_page(con, view, 2, page_size=25)
        calls[f"explore.count_rows {name}"] = explore.count_rows(con, view)
    # Unsorted, a table's rows come in storage order (rowid), a year's view's in column order: the same rows.
    whole = explore.fetch_page(con, explore.View(datasets["organization"]), 1, page_size=100_000)
    calls["explore.fetch_page organization, as a set"] = whole.sort(whole.columns)
    return calls


def test_page_queries_answer_for_the_year(r6, flat):
    """The functions the pages call answer on the R6 reader exactly as on the flat sample."""
    ours, theirs = page_calls(r6), page_calls(flat)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert same(ours[name], theirs[name]), f"{name} differs on the R6 reader"


def test_latest_year_reader_is_the_stored_file(years_warehouse, r7):
    """2025 (the latest) reads the warehouse as stored: no scope, the same answers as connect() without a year."""
    latest = query.connect(years_warehouse)
    try:
        assert not r7.execute(
            "select count(*) from duckdb_databases() where database_name = ?", [years.SCOPE_CATALOG]
        ).fetchone()[0]
        assert query.home_kpis(r7, None) == query.home_kpis(latest, None)
    finally:
        latest.close()


def test_latest_year_answers_as_the_r7_folder_alone(r7, r7_alone):
    """Home's figures and the directory count of R7年度 are those of a build of the R7 folder alone."""
    for city in [None, *query.cities(r7)["code"]]:
        assert query.home_kpis(r7, city, ADMIN) == query.home_kpis(r7_alone, city, ADMIN)
    assert query.city_kpis_table(r7, "ja", ADMIN).equals(query.city_kpis_table(r7_alone, "ja", ADMIN))
    listed = directory.organisations(r7, directory.DirectoryFilter(), "ja", TODAY)
    alone = directory.organisations(r7_alone, directory.DirectoryFilter(), "ja", TODAY)
    assert listed.height == alone.height > 0
    assert listed.sort("organization_id").equals(alone.sort("organization_id"))


def test_fiscal_years_and_unknown_year(years_warehouse, sample_warehouse, r6):
    listed = query.fiscal_years(r6)
    with duckdb.connect(str(years_warehouse), read_only=True) as con:
        stored = [
            row[0] for row in con.execute("select fiscal_year from fiscal_year_bundle order by 1 desc").fetchall()
        ]
    assert listed["fiscal_year"].to_list() == stored
    assert listed["is_latest"].to_list() == [True] + [False] * (len(stored) - 1)
    assert listed["label_ja"].to_list() == [fiscal_year_option(y, "ja") for y in stored]
    assert fiscal_year_option(2024, "ja") == "R6年度（2024）" and fiscal_year_option(2024, "en") == "FY2024 (R6)"
    flat = query.connect(sample_warehouse)
    try:
        assert query.fiscal_years(flat)["fiscal_year"].to_list() == [2024]
    finally:
        flat.close()
    with pytest.raises(query.UnknownYear):
        query.connect(years_warehouse, 2019)


# --- the selector -------------------------------------------------------------------------------------


@pytest.fixture()
def app(years_warehouse, monkeypatch):
    """The app on the two-year warehouse."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(years_warehouse))
    return AppTest.from_file(APP, default_timeout=60)


def year_box(at: AppTest):
    """The 年度 selectbox, or None."""
    found = [box for box in at.selectbox if box.key == "year__ja"]
    return found[0] if found else None


def metric(at: AppTest, label: str) -> str:
    """A metric's shown value."""
    return next(m.value for m in at.metric if m.label == label)


def test_selector_absent_on_a_single_year_warehouse(sample_warehouse, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert year_box(at) is None and "year" not in at.query_params


def test_selector_shows_the_year_and_round_trips_the_url(years_warehouse, sample_warehouse, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    flat_orgs = metric(AppTest.from_file(APP, default_timeout=60).run(), "配布団体数")
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(years_warehouse))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    box = year_box(at)
    assert box.value == 2025 and box.options == [fiscal_year_option(2025, "ja"), fiscal_year_option(2024, "ja")]
    latest_orgs = metric(at, "配布団体数")
    at = box.select(2024).run()
    assert at.query_params["year"] == "2024"
    # R6年度 shows what the flat R6 sample shows; R7年度 something else (its own list).
    assert metric(at, "配布団体数") == flat_orgs != latest_orgs
    at = year_box(at).select(2025).run()
    assert "year" not in at.query_params and metric(at, "配布団体数") == latest_orgs


def test_year_comes_from_the_url(app):
    app.query_params["year"] = "2024"
    at = app.run()
    assert not at.exception and year_box(at).value == 2024 and at.query_params["year"] == "2024"


@pytest.mark.parametrize("raw", ["1999", "all", "R6", ""])
def test_a_year_the_warehouse_lacks_falls_back_to_the_latest(app, raw):
    app.query_params["year"] = raw
    at = app.run()
    assert not at.exception and year_box(at).value == 2025 and "year" not in at.query_params


def test_only_the_explorer_offers_all_years():
    from dashboard.registry import PAGES

    # The one page that can show every year at once: year tables with every year's rows, the mart_year_* marts.
    assert [spec.script for spec in PAGES if spec.all_years] == ["pages/explore.py"]


def stored_rows(warehouse: Path, table: str) -> dict[int, int]:
    """Rows of a year table per fiscal_year, read from the warehouse file as stored."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute(f"select fiscal_year, count(*) from {table} group by all").fetchall())


def explorer_rows(at: AppTest) -> str:
    """The explorer's 全行数 as shown."""
    return metric(at, translate("ja", "explore.rows_total"))


def rows_label(n: int) -> str:
    """A row count as the explorer shows it."""
    return translate("ja", "unit.rows", n=number(n))


def test_explorer_shows_every_year_with_all_years(app, sign_in, years_warehouse, sample_warehouse):
    per_year = stored_rows(years_warehouse, "organization_year")
    flat = sum(stored_rows(sample_warehouse, "organization_year").values())
    at = sign_in(app, "analyst").run()
    at.switch_page("pages/explore.py").run()
    assert year_box(at).options[-1] == translate("ja", "app.all_years")
    at = at.selectbox(key="x_table__ja").set_value("organization_year").run()
    # The latest year: its own rows only.
    assert explorer_rows(at) == rows_label(per_year[2025])
    at = year_box(at).select(state.ALL_YEARS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["year"] == state.ALL_YEARS
    assert explorer_rows(at) == rows_label(sum(per_year.values())) and len(per_year) == 2
    # Every year's marts are listed, a per-year mart (one year's figures) is not.
    tables = at.selectbox(key="x_table__ja")
    assert any(o.endswith("（mart_year_mix）") for o in tables.options)
    assert not any(o.endswith("（mart_org_directory）") for o in tables.options)
    at = year_box(at).select(2024).run()
    assert explorer_rows(at) == rows_label(flat)
    assert any(o.endswith("（mart_org_directory）") for o in at.selectbox(key="x_table__ja").options)
    # A per-year mart open when 全年度 is chosen gives way to the directory's table.
    at = at.selectbox(key="x_table__ja").set_value("mart_org_directory").run()
    at = year_box(at).select(state.ALL_YEARS).run()
    assert not at.exception and at.selectbox(key="x_table__ja").value == "organization"


def test_all_years_falls_back_to_the_latest_on_other_pages(app, sign_in):
    at = sign_in(app, "analyst").run()
    at.switch_page("pages/explore.py").run()
    at = year_box(at).select(state.ALL_YEARS).run()
    assert year_box(at).value == state.ALL_YEARS
    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert year_box(at).value == 2025 and "year" not in at.query_params
    assert translate("ja", "app.all_years") not in year_box(at).options
    at.switch_page("pages/explore.py").run()
    assert year_box(at).value == 2025


def _year_from_url() -> None:
    """A script that keeps the 年度 as app.py does for a page offering all years or not (ALL_YEARS_PAGE)."""
    import streamlit as st

    from dashboard import state

    state.init_year([2025, 2024], all_years=st.session_state["ALL_YEARS_PAGE"])


@pytest.mark.parametrize(("offered", "kept"), [(True, "all"), (False, 2025)])
def test_all_years_from_the_url_is_kept_only_where_offered(offered, kept):
    # AppTest cannot open a registered url_path on a session's first run, so the rule is run on its own.
    at = AppTest.from_function(_year_from_url)
    at.session_state["ALL_YEARS_PAGE"] = offered
    at.query_params["year"] = state.ALL_YEARS
    at.run()
    assert not at.exception and at.session_state[state.YEAR_KEY] == kept


@pytest.mark.parametrize("year", [2024, 2025])
def test_every_page_runs_in_each_year(app, sign_in, year):
    from dashboard.registry import PAGES

    at = sign_in(app, "admin").run()
    at = year_box(at).select(year).run()
    for spec in PAGES:
        at.switch_page(spec.script).run()
        assert not at.exception, (spec.script, year, [e.value for e in at.exception])
        assert at.title, f"{spec.title} drew no title in {year}"
        assert year_box(at).value == year
        assert (at.query_params.get("year") == str(year)) == (year == 2024)


# Ten fresh sessions (~2.7 CPU-s): make test only. AppTest opens 概要 first whatever the URL, so in the fast tier
# test_year_comes_from_the_url (the year taken from the URL) and test_every_page_runs_in_each_year[2024] (every page
# in that year, kept across page switches) cover what each of these sessions does.
@pytest.mark.slow
def test_every_page_runs_from_a_year_url(years_warehouse, sign_in, monkeypatch):
    from dashboard.registry import PAGES

    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(years_warehouse))
    for spec in PAGES:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["year"] = "2024"
        at = sign_in(at, "admin").run()
        at.switch_page(spec.script).run()
        assert not at.exception, (spec.script, [e.value for e in at.exception])
        assert year_box(at).value == 2024


# --- the comparisons under the selector ---------------------------------------------------------------

# Page script → the subheader of its cross-year section, which must read every year whatever is selected.
COMPARISONS = {
    "pages/events.py": "年度比較",
    "pages/progress.py": "年度ごとの推移",
    "pages/activity.py": "年度比較：支援の形態と活動内容",
    "pages/coverage.py": "年度比較：空白の解消と新たな空白",
}


@pytest.mark.parametrize("year", [2024, 2025])
def test_comparisons_read_every_year_under_either_selection(app, sign_in, year):
    at = sign_in(app, "admin").run()
    at = year_box(at).select(year).run()
    for script, title in COMPARISONS.items():
        at.switch_page(script).run()
        assert not at.exception, (script, [e.value for e in at.exception])
        assert title in [h.value for h in at.subheader], (script, year)


def test_home_changes_follow_the_selected_year(app, years_warehouse):
    at = app.run()
    distributed = next(m for m in at.metric if m.label == "配布団体数")
    # R7年度 against R6年度: the change is the difference of the two years' lists, read from the warehouse.
    with duckdb.connect(str(years_warehouse), read_only=True) as con:
        counts = dict(con.execute("select fiscal_year, count(*) from organization_year group by all").fetchall())
    assert distributed.delta and str(abs(counts[2025] - counts[2024])) in distributed.delta
    # R6年度 is the bundle's first year: nothing to compare with, so no change is shown.
    at = year_box(at).select(2024).run()
    assert not next(m for m in at.metric if m.label == "配布団体数").delta


def test_new_only_switch_is_offered_for_a_year_with_a_previous_one(app):
    at = app.run()
    at.switch_page("pages/resource_map.py").run()
    assert [toggle for toggle in at.toggle if toggle.key == "map_new_only"]
    at = year_box(at).select(2024).run()
    assert not at.exception
    assert not [toggle for toggle in at.toggle if toggle.key == "map_new_only"]


def test_all_years_downloads_carry_every_years_rows(years_warehouse):
    import io

    from openpyxl import load_workbook

    from dashboard.downloads import xlsx_from_batches

    per_year = stored_rows(years_warehouse, "attribute")
    con = query.connect(years_warehouse)
    try:
        views = {}
        for every_year, years_kept in ((True, set(per_year)), (False, {max(per_year)})):
            chosen = explore.catalogue(con, ADMIN, every_year=every_year)["attribute"]
            views[every_year] = view = explore.View(chosen)
            frame = pl.concat([pl.from_arrow(batch) for batch in explore.stream(con, view)])
            assert set(frame["fiscal_year"]) == years_kept
            assert frame.height == chosen.rows == explore.count_rows(con, view) == sum(per_year[y] for y in years_kept)
        # The Excel file of every year opens: one row per stored row under the header, fiscal_year as numbers.
        sheet = load_workbook(io.BytesIO(xlsx_from_batches(explore.stream(con, views[True])))).active
        rows = list(sheet.iter_rows(values_only=True))
        assert len(rows) == sum(per_year.values()) + 1
        column = rows[0].index("fiscal_year")
        assert {row[column] for row in rows[1:]} == set(per_year)
    finally:
        con.close()
