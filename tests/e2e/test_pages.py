"""Every page in pages.PAGES: opens without error, shows its key figures, draws its chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dashboard.registry import PAGES as REGISTRY

from .checks import assert_healthy, assert_not_blank, rerun, screenshot_afterwards
from .conftest import sign_in
from .pages import PAGES, PageCase

pytestmark = pytest.mark.e2e


def test_table_matches_registry() -> None:
    """pages.PAGES has exactly one entry per registered page, with the registry's title."""
    registered = {spec.url_path: spec.title for spec in REGISTRY}
    tested = {case.url_path: case.title for case in PAGES}
    assert len(tested) == len(PAGES), "duplicate url_path in tests/e2e/pages.py"
    missing = sorted(set(registered) - set(tested))
    assert not missing, f"pages without an e2e entry in tests/e2e/pages.py: {missing}"
    unknown = sorted(set(tested) - set(registered))
    assert not unknown, f"e2e entries for pages not in dashboard/registry.py: {unknown}"
    assert tested == registered, "titles in tests/e2e/pages.py differ from dashboard/registry.py"


@pytest.mark.parametrize("case", PAGES, ids=[case.url_path for case in PAGES])
def test_page(tab, artifacts, case: PageCase) -> None:
    page = tab.page
    # Screenshot after the checks (the page has finished drawing), also when one of them fails.
    with screenshot_afterwards(page, artifacts / f"{case.url_path}.png"):
        if case.role is None:
            tab.open(case.route)
        else:
            # A reload starts a new Streamlit session, so a signed-in user moves through the navigation.
            tab.open("/")
            sign_in(page, case.role)
            with rerun(page):
                page.locator('[data-testid="stSidebarNav"] a').filter(has_text=case.title).first.click()
        assert_healthy(page, tab.console)
        if len(REGISTRY) > 1:  # Streamlit shows the navigation only when there are several pages
            nav = page.locator('[data-testid="stSidebarNav"]')
            expect(nav.locator("a").filter(has_text=case.title).first).to_be_visible()
        main = page.locator('[data-testid="stMain"]')
        for text in case.key_texts:
            expect(main.get_by_text(text, exact=True).first, f"key text {text!r}").to_be_visible()
        if case.chart:
            assert_not_blank(main.locator(case.chart).first, f"{case.url_path} chart ({case.chart})")
        assert_healthy(page, tab.console)
