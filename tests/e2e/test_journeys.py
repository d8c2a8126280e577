"""User journeys on the dashboard: language switch, city filter, CSV download, a progress update, a referral."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from .checks import assert_healthy, assert_no_exception, finished_runs, rerun, wait_for_app
from .conftest import dashboard_server, new_tab
from .server import ROOT, build_warehouse

pytestmark = pytest.mark.e2e

SIDEBAR = '[data-testid="stSidebar"]'
METRIC_LABELS = '[data-testid="stMain"] [data-testid="stMetricLabel"]'


def metric_value(page: Page, label: str):
    """The value element of the metric whose label is exactly `label`."""
    metric = page.locator('[data-testid="stMain"] [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    )
    return metric.locator('[data-testid="stMetricValue"]')


def switch_language(page: Page, label: str) -> None:
    with rerun(page):
        page.locator(f'{SIDEBAR} [data-testid="stRadio"]').get_by_text(label, exact=True).click()
    assert_no_exception(page)


def test_first_visitor_first_click(browser, warehouse, tmp_path) -> None:
    """On a freshly started server, the first visitor's first choice must take effect.

    Known pitfall: a folder named `pages/` next to the entry point (dashboard/pages/ beside
    dashboard/app.py) makes Streamlit run the server's first script run through its v1 multipage
    wrapper; the widgets get other ids in that run than in later ones, so the first session's first
    widget change is silently dropped (the rerun happens, the value snaps back).
    """
    with dashboard_server(warehouse, tmp_path / "dashboard.log") as base_url:
        for tab in new_tab(browser, base_url):
            page = tab.open("/")
            switch_language(page, "English")
            expect(
                page.locator(METRIC_LABELS).filter(has_text="Organisations surveyed"),
                "first click after server start was lost (is there a pages/ folder next to dashboard/app.py?)",
            ).to_have_count(1, timeout=5_000)
            assert_healthy(page, tab.console)


def test_language_switch_and_back(tab) -> None:
    page = tab.open("/")
    labels = page.locator(METRIC_LABELS)
    expect(labels.filter(has_text="配布団体数")).to_have_count(1)
    assert "lang=" not in page.url
    # A single-year warehouse (the flat sample) has nothing to choose: no 年度 selector (test_years.py has two).
    expect(page.locator(SIDEBAR).get_by_text("表示する年度", exact=True)).to_have_count(0)

    switch_language(page, "English")
    expect(labels.filter(has_text="Organisations surveyed")).to_have_count(1)
    expect(labels.filter(has_text="配布団体数")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]lang=en(&|$)"))
    expect(page.locator(SIDEBAR).get_by_text("City", exact=True)).to_be_visible()

    switch_language(page, "日本語")
    expect(labels.filter(has_text="配布団体数")).to_have_count(1)
    expect(labels.filter(has_text="Organisations surveyed")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"lang="))
    expect(page).not_to_have_url(re.compile(r"city="))  # the city choice (4市全体) is unchanged
    assert_healthy(page, tab.console)


def test_city_filter(tab) -> None:
    page = tab.open("/")
    distributed = metric_value(page, "配布団体数")
    expect(distributed).to_have_text("157 団体")

    select = page.locator(f'{SIDEBAR} [data-testid="stSelectbox"]').filter(has_text="表示する市")
    select.locator('[role="combobox"], input').first.click()
    with rerun(page):
        page.get_by_role("option", name="綾瀬市", exact=True).click()
    expect(distributed).to_have_text("30 団体")
    expect(page).to_have_url(re.compile(r"[?&]city=14218(&|$)"))
    assert_healthy(page, tab.console)

    # The choice survives a language switch (city names and 4市全体 are translated, the code is not).
    switch_language(page, "English")
    expect(metric_value(page, "Organisations surveyed")).to_have_text("30 orgs")
    expect(page).to_have_url(re.compile(r"[?&]city=14218(&|$)"))
    switch_language(page, "日本語")
    expect(distributed).to_have_text("30 団体")
    expect(page).to_have_url(re.compile(r"[?&]city=14218(&|$)"))
    assert_healthy(page, tab.console)

    # The URL reproduces the view in a new session.
    page.goto(page.url, wait_until="domcontentloaded")
    wait_for_app(page)
    expect(metric_value(page, "配布団体数")).to_have_text("30 団体")
    assert_healthy(page, tab.console)


def test_home_csv_download(tab, artifacts) -> None:
    """Home's download button whose label starts with "CSV": UTF-8 with BOM (for Excel), header, 157."""
    page = tab.open("/")
    button = page.locator('[data-testid="stDownloadButton"] button').filter(
        has=page.get_by_text(re.compile(r"^\s*CSV"))
    )
    expect(button, 'Home has no download button labelled "CSV…"').to_have_count(1)
    with page.expect_download() as info:
        button.click()
    download = info.value
    path = artifacts / f"download-{download.suggested_filename or 'home.csv'}"
    download.save_as(path)
    content = path.read_bytes()

    assert content.startswith(b"\xef\xbb\xbf"), f"no UTF-8 BOM: {content[:16]!r}"
    text = content[3:].decode("utf-8")
    assert "\r\n" in text, "rows should end with CRLF (CSV for Excel, docs/architecture.md)"
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert any(name in header for name in ("配布団体数", "organisations_distributed")), f"header: {header}"
    cells = [cell.strip().replace(",", "") for row in rows[1:] for cell in row]
    assert any(re.fullmatch(r"157(\.0+)?", cell) for cell in cells), "figure 157 not in the CSV"
    assert_healthy(page, tab.console)


def test_progress_update_flow(browser, warehouse, tmp_path) -> None:
    """A configured manager (座間市) completes step ⑥ on PF構築プロセス and sees the new state."""
    env = {
        "TSUNAGARI_MANAGER": "座間市地域福祉課:14216",
        "TSUNAGARI_OPERATIONS": str(tmp_path / "operations.sqlite"),
    }
    with dashboard_server(warehouse, tmp_path / "dashboard.log", env=env) as base_url:
        for tab in new_tab(browser, base_url):
            page = tab.open("/platform")
            expect(page.get_by_text("座間市地域福祉課（座間市）として更新します", exact=False)).to_be_visible()

            step = page.locator('[data-testid="stSelectbox"]').filter(has_text="更新するステップ")
            step.locator("input").first.click()
            step.locator("input").first.press_sequentially("⑥")
            with rerun(page):
                page.get_by_role("option").filter(has_text="⑥").first.click()

            form = page.locator('[data-testid="stForm"]').first
            form.locator('[data-testid="stSelectbox"]').filter(has_text="状態").locator("input").first.click()
            page.get_by_role("option").filter(has_text=re.compile(r"^完了$")).first.click()
            form.get_by_role("textbox", name="完了（年度・月）").fill("R6年度3月")
            with rerun(page):
                form.get_by_role("button", name="更新を記録").click()

            expect(page.get_by_text(re.compile(r"⑥.*を「完了」に更新しました"))).to_be_visible()
            expect(page.get_by_text("R6年度3月 (2025-03)", exact=False).first).to_be_visible()
            assert_healthy(page, tab.console)


def pick(page: Page, widget, text: str, option: str | re.Pattern, *, multi: bool) -> None:
    """Type into a selectbox/multiselect, click the first option matching `option`, wait for the rerun."""
    box = widget.locator("input").first
    box.click()
    box.press_sequentially(text)
    runs = finished_runs(page)
    page.get_by_role("option").filter(has_text=option).first.click()
    if multi:
        page.keyboard.press("Escape")  # a multiselect stays open for more choices
    wait_for_app(page, after_runs=runs)


def test_referral_and_printed_sheet(browser, tmp_path, artifacts) -> None:
    """相談つなぎ: ひきこもり + 居場所づくり from a 綾瀬市 town, tick the nearest, print its sheet to PDF."""
    warehouse = tmp_path / "warehouse.duckdb"
    build_warehouse(ROOT / "data" / "sample", warehouse, reference=ROOT / "tests" / "fixtures" / "reference")
    with dashboard_server(warehouse, tmp_path / "dashboard.log") as base_url:
        for tab in new_tab(browser, base_url):
            page = tab.open("/tsunagi")
            main = page.locator('[data-testid="stMain"]')
            pick(
                page,
                main.locator('[data-testid="stMultiSelect"]').filter(has_text="活動内容"),
                "ひきこもり",
                "ひきこもり",
                multi=True,
            )
            pick(
                page,
                main.locator('[data-testid="stMultiSelect"]').filter(has_text="支援の形態"),
                "居場所づくり",
                "居場所づくり",
                multi=True,
            )
            pick(
                page,
                main.locator('[data-testid="stSelectbox"]').filter(has_text="町丁目"),
                "中央テスト一丁目",
                "綾瀬市",
                multi=False,
            )

            results = main.locator('[data-testid="stDataFrame"]').first
            results.scroll_into_view_if_needed()
            expect(results).to_be_visible()
            box = results.bounding_box()
            assert box is not None
            # Tick the first result: the row-selection checkbox sits at the left of the first data row.
            with rerun(page):
                page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
            button = main.locator('[data-testid="stDownloadButton"] button').filter(has_text="紹介状をダウンロード")
            expect(button).to_have_count(1)
            with page.expect_download() as info:
                button.click()
            sheet_path = artifacts / "referral-sheet.html"
            info.value.save_as(sheet_path)
            sheet = sheet_path.read_text(encoding="utf-8")
            assert "(サンプル)" in sheet, "the ticked organisation is not on the sheet"
            assert "中央テスト一丁目" not in sheet, "the resident's town must not be printed"
            assert_healthy(page, tab.console)

            printed = tab.page.context.new_page()
            printed.set_content(sheet, wait_until="load")
            pdf = printed.pdf(format="A4")
            (artifacts / "referral-sheet.pdf").write_bytes(pdf)
            assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
            printed.close()
