"""The browser suite per 年度 (issue #22): every page with R6年度 and R7年度, and the comparisons' journey."""

from __future__ import annotations

import re
from collections.abc import Iterator

import duckdb
import pytest
from playwright.sync_api import Page, expect

from common.calendar import fiscal_year_label, fiscal_year_option

from .checks import assert_healthy, assert_no_exception, rerun, wait_for_app
from .conftest import Tab, new_tab, sign_in
from .pages import PAGES, PageCase
from .test_journeys import SIDEBAR, metric_value, switch_language

pytestmark = pytest.mark.e2e

NAV = '[data-testid="stSidebarNav"] a'
YEAR_LABEL = {"ja": "表示する年度", "en": "Fiscal year"}  # the selector's label (dashboard/locales)


@pytest.fixture(scope="module")
def counts(years_e2e_warehouse) -> dict[int, int]:
    """Organisations on each year's distribution lists, read from the two-year warehouse."""
    with duckdb.connect(str(years_e2e_warehouse), read_only=True) as con:
        return dict(con.execute("select fiscal_year, count(*) from organization_year group by all").fetchall())


@pytest.fixture(scope="module")
def years(counts) -> tuple[int, int]:
    """(the earlier year, the latest year) of the two-year warehouse: R6 (2024) and R7 (2025)."""
    earlier, latest = sorted(counts)
    assert (earlier, latest) == (2024, 2025), sorted(counts)
    return earlier, latest


@pytest.fixture
def years_tab(browser, years_app_url) -> Iterator[Tab]:
    """A fresh browser context and page on the two-year dashboard."""
    yield from new_tab(browser, years_app_url)


def year_select(page: Page, lang: str = "ja"):
    return page.locator(f'{SIDEBAR} [data-testid="stSelectbox"]').filter(has_text=YEAR_LABEL[lang])


def choose_year(page: Page, year: int) -> None:
    """Pick a 年度 in the sidebar selector (Japanese) and wait for the rerun."""
    year_select(page).locator('[role="combobox"], input').first.click()
    with rerun(page):
        page.get_by_role("option", name=fiscal_year_option(year, "ja"), exact=True).click()
    assert_no_exception(page)


def expect_year(page: Page, year: int, latest: int, lang: str = "ja") -> None:
    """The selector shows `year`, and the URL carries ?year= exactly when it is not the latest."""
    expect(year_select(page, lang).get_by_role("combobox")).to_have_value(fiscal_year_option(year, lang))
    if year == latest:
        expect(page).not_to_have_url(re.compile(r"[?&]year="))
    else:
        expect(page).to_have_url(re.compile(rf"[?&]year={year}(&|$)"))


def expect_page(page: Page, tab: Tab, case: PageCase, year: int, latest: int) -> None:
    """The page settled healthy, shows its title, and the year is kept."""
    assert_healthy(page, tab.console)
    main = page.locator('[data-testid="stMain"]')
    expect(main.locator("h1").filter(has_text=case.title).first, f"{case.title} in {year}").to_be_visible()
    expect(main.locator('[data-testid="stAlertContentError"]'), f"{case.title} in {year}").to_have_count(0)
    expect_year(page, year, latest)
    assert_healthy(page, tab.console)


@pytest.mark.parametrize("how", ["selector", "url"])
@pytest.mark.parametrize("which", ["R6", "R7"])
def test_every_page_in_each_year(years_tab, years, which: str, how: str) -> None:
    """Every page of pages.PAGES (signed in as admin, so all show) with the year chosen in the sidebar or the URL."""
    earlier, latest = years
    year = earlier if which == "R6" else latest
    if how == "selector":
        page = years_tab.open("/")
        sign_in(page, "admin")
        expect_year(page, latest, latest)  # the default: the latest year
        if year == latest:  # choosing the shown year reruns nothing: go to R6 and back
            choose_year(page, earlier)
            expect_year(page, earlier, latest)
        choose_year(page, year)
        expect_year(page, year, latest)
        for case in PAGES:
            with rerun(page):
                page.locator(NAV).filter(has_text=case.title).first.click()
            expect_page(page, years_tab, case, year, latest)
    else:
        # The sign-in lasts (a cookie), so each page can then be opened from its own URL in a new session.
        page = years_tab.open(f"/?year={year}")
        sign_in(page, "admin")
        for case in PAGES:
            years_tab.open(f"{case.route}?year={year}")
            expect_page(page, years_tab, case, year, latest)


def delta_text(change: int, unit: str, before: str) -> str:
    """A metric's change as 概要 shows it: sign first (±0 for none), grouped digits, the year it compares with."""
    signed = ("+" if change > 0 else "±" if change == 0 else "") + f"{change:,}"
    return f"{signed} {unit}（{before}比）"


def test_comparisons_journey(years_tab, years, counts, warehouse) -> None:
    """概要's change against R6, R6 as the report has it, the map's new-only switch, the year labels in English."""
    earlier, latest = years
    with duckdb.connect(str(warehouse), read_only=True) as con:  # the flat R6 sample: the report's figures
        (report_distributed,) = con.execute("select count(*) from organization").fetchone()
    page = years_tab.open("/")
    distributed = page.locator('[data-testid="stMain"] [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(r"^\s*配布団体数\s*$"))
    )

    # R7年度 (the default): its own list, and the change against R6年度 derived from the warehouse.
    expect_year(page, latest, latest)
    expect(metric_value(page, "配布団体数")).to_have_text(f"{counts[latest]:,} 団体")
    change = counts[latest] - counts[earlier]
    expect(distributed.locator('[data-testid="stMetricDelta"]')).to_have_text(
        delta_text(change, "団体", fiscal_year_label(earlier, "ja"))
    )

    # R6年度: the report's figure, and no change (nothing before it to compare with).
    choose_year(page, earlier)
    expect_year(page, earlier, latest)
    expect(metric_value(page, "配布団体数")).to_have_text(f"{report_distributed:,} 団体")
    expect(distributed.locator('[data-testid="stMetricDelta"]')).to_have_count(0)
    assert_healthy(page, years_tab.console)

    # 地域資源マップ: the new-only switch is offered for R7年度 (it has a year before it), not for R6年度.
    with rerun(page):
        page.locator(NAV).filter(has_text="地域資源マップ").first.click()
    main = page.locator('[data-testid="stMain"]')
    new_only = main.locator('[data-testid="stCheckbox"]').filter(has_text="新規団体のみ")
    expect_year(page, earlier, latest)
    expect(main.get_by_text("表示中の団体", exact=True).first).to_be_visible()
    expect(new_only).to_have_count(0)
    choose_year(page, latest)
    expect_year(page, latest, latest)
    expect(new_only).to_have_count(1)
    expect(new_only).to_contain_text(f"{fiscal_year_label(latest, 'ja')}の新規団体のみ")
    assert_healthy(page, years_tab.console)

    # English: the selector, the switch and 概要's change name the years as FY2025 / FY2024.
    switch_language(page, "English")
    expect_year(page, latest, latest, "en")
    expect(main.locator('[data-testid="stCheckbox"]').filter(has_text="Only organisations new in")).to_contain_text(
        f"Only organisations new in {fiscal_year_label(latest, 'en')}"
    )
    with rerun(page):
        page.locator(NAV).filter(has_text="Overview").first.click()
    english = page.locator('[data-testid="stMain"] [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(r"^\s*Organisations surveyed\s*$"))
    )
    expect(english.locator('[data-testid="stMetricDelta"]')).to_contain_text(f"vs {fiscal_year_label(earlier, 'en')}")
    year_select(page, "en").locator('[role="combobox"], input').first.click()
    expect(page.get_by_role("option", name=fiscal_year_option(earlier, "en"), exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    wait_for_app(page)
    assert_healthy(page, years_tab.console)


def test_all_years_on_the_explorer_only(years_tab, years, years_e2e_warehouse) -> None:
    """データ・ダウンロード offers 全年度 (?year=all): the directory then lists every year's organisations; 概要 does not."""
    earlier, latest = years
    with duckdb.connect(str(years_e2e_warehouse), read_only=True) as con:
        (every,) = con.execute("select count(*) from organization").fetchone()
        (current,) = con.execute("select count(*) from organization where last_fiscal_year = ?", [latest]).fetchone()
    assert every > current  # some organisations were listed in R6年度 only
    explorer = next(case for case in PAGES if case.title == "データ・ダウンロード")
    # Signed in on 概要 (the sign-in lasts), then the explorer opened from its own URL.
    sign_in(years_tab.open("/"), "admin")
    page = years_tab.open(f"{explorer.route}?year=all")
    main = page.locator('[data-testid="stMain"]')
    expect(year_select(page).get_by_role("combobox")).to_have_value("全年度")
    expect(page).to_have_url(re.compile(r"[?&]year=all(&|$)"))
    expect(main.get_by_text(f"{every:,} 行", exact=True).first).to_be_visible()
    assert_healthy(page, years_tab.console)

    # Another page has no 全年度: it shows the latest year, and so does the explorer when it is opened again.
    with rerun(page):
        page.locator(NAV).filter(has_text="概要").first.click()
    expect_year(page, latest, latest)
    with rerun(page):
        page.locator(NAV).filter(has_text="データ・ダウンロード").first.click()
    expect_year(page, latest, latest)
    expect(main.get_by_text(f"{current:,} 行", exact=True).first).to_be_visible()
    assert_healthy(page, years_tab.console)
