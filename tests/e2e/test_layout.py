"""Layout at a desktop and a phone size (issue #21): the resource map within the first screen at 1440×900, no
page wider than a 390 px phone, the maps within the first two phone screens; screenshots of every page at both
sizes in both languages, saved to test-artifacts/screenshots/<url_path>-<lang>-<width>x<height>.png. The server
reads the sample data with the reference geography, as a city runs it (相談つなぎ then offers its town search)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from .checks import assert_healthy, full_page_screenshot, wait_for_app
from .conftest import Tab, dashboard_server, new_tab, sign_in
from .pages import PAGES, PYDECK, PageCase
from .server import ROOT, build_warehouse

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Pages whose map is the point of the page: on a phone it has to show within the first two screens.
MAP_FIRST = {"map", "tsunagi"}
# Where a page is laid out: Streamlit scrolls inside stMain, so the document alone would never look too wide.
MEASURE = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const map = document.querySelector('[data-testid="stDeckGlJsonChart"]');
  const box = map && map.getBoundingClientRect();
  return {
    documentWidth: document.documentElement.scrollWidth,
    mainWidth: main.scrollWidth,
    mapTop: box ? box.top + main.scrollTop : null,
    mapBottom: box ? box.bottom + main.scrollTop : null,
  };
}"""


@pytest.fixture(scope="module")
def layout_url(browser: Browser, accounts: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard as a city runs it: the sample data with the reference geography (towns, city outlines)."""
    folder = tmp_path_factory.mktemp("layout")
    warehouse = folder / "warehouse.duckdb"
    try:
        build_warehouse(ROOT / "data" / "sample", warehouse, reference=ROOT / "tests" / "fixtures" / "reference")
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    with dashboard_server(warehouse, folder / "dashboard.log", env=accounts) as base_url:
        for tab in new_tab(browser, base_url):
            tab.open("/")  # the server's first run (imports, caches) is billed to no test
        yield base_url


@pytest.fixture
def layout_tab(browser: Browser, layout_url: str) -> Iterator[Tab]:
    """A fresh browser context and page on that dashboard."""
    yield from new_tab(browser, layout_url)


def settle(page: Page, viewport: dict[str, int]) -> dict:
    """Resize, let the page lay itself out again (charts re-measure on resize), and measure it."""
    page.set_viewport_size(viewport)
    page.locator('[data-testid="stMain"]').evaluate("main => main.scrollTo(0, 0)")
    page.wait_for_timeout(800)
    wait_for_app(page)
    return page.evaluate(MEASURE)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("case", PAGES, ids=[case.url_path for case in PAGES])
def test_page_at_desktop_and_phone_sizes(layout_tab: Tab, case: PageCase, lang: str) -> None:
    tab = layout_tab
    page = tab.page
    page.set_viewport_size(DESKTOP)
    if case.role is not None:
        # The local sign-in lasts (a cookie), so the page's own URL can then be opened directly.
        tab.open("/")
        sign_in(page, case.role)
    tab.open(case.route + ("?lang=en" if lang == "en" else ""))
    assert_healthy(page, tab.console)
    if case.chart == PYDECK:
        page.locator(PYDECK).first.wait_for(state="visible")

    shots = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        shots[name] = settle(page, viewport)
        full_page_screenshot(page, SCREENSHOTS / f"{case.url_path}-{lang}-{viewport['width']}x{viewport['height']}.png")
    assert_healthy(page, tab.console)

    desktop, phone = shots["desktop"], shots["phone"]
    if case.url_path == "map":
        assert desktop["mapTop"] is not None, "the resource map is not drawn"
        assert desktop["mapTop"] < DESKTOP["height"], f"map starts at y={desktop['mapTop']:.0f} at 1440×900"
    assert phone["documentWidth"] <= PHONE["width"], f"{case.url_path}: document {phone['documentWidth']} px wide"
    assert phone["mainWidth"] <= PHONE["width"], f"{case.url_path}: page content {phone['mainWidth']} px wide at 390"
    if case.url_path in MAP_FIRST:
        assert phone["mapTop"] is not None, f"{case.url_path}: no map at 390 px"
        assert phone["mapBottom"] <= 2 * PHONE["height"], (
            f"{case.url_path}: map spans y={phone['mapTop']:.0f}–{phone['mapBottom']:.0f}, past two phone screens"
        )
