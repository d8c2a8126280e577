"""In a real browser, every page ends with its provenance block: data as of in Japan time labelled JST, the
page's sources and the reference geography line (tests/test_provenance.py checks their content)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.provenance import BLOCK_KEY

from .checks import assert_healthy, rerun
from .conftest import sign_in
from .pages import PAGES, PageCase

pytestmark = pytest.mark.e2e

# "データの時点: 令和8年12月3日（2026-12-03） 15:32 JST": a 西暦 date, a time, the label.
AS_OF = re.compile(r"データの時点: .*（\d{4}-\d{2}-\d{2}） \d{2}:\d{2} JST")


@pytest.mark.parametrize("case", PAGES, ids=[case.url_path for case in PAGES])
def test_provenance_block(tab, case: PageCase) -> None:
    page = tab.page
    if case.role is None:
        tab.open(case.route)
    else:
        tab.open("/")
        sign_in(page, case.role)
        with rerun(page):
            page.locator('[data-testid="stSidebarNav"] a').filter(has_text=case.title).first.click()
    assert_healthy(page, tab.console)
    block = page.locator(f".st-key-{BLOCK_KEY}")
    block.scroll_into_view_if_needed()
    expect(block).to_be_visible()
    expect(block).to_contain_text("出典とデータの時点")
    expect(block).to_contain_text(AS_OF)
    expect(block).to_contain_text("参照地理データ:")
    # The block is read, not scrolled sideways: its text fits the main column.
    main_width = page.locator('[data-testid="stMain"]').bounding_box()["width"]
    assert block.bounding_box()["width"] <= main_width
