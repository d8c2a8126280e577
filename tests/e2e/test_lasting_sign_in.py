"""Sign-ins that last and links that work signed out, in a real browser (issue 21, items 1 and 2).

A local sign-in survives a reload and a new tab through an HttpOnly, SameSite=Strict cookie that page
scripts cannot read; sign-out ends it, and the old cookie value replayed in a fresh browser is refused, as is
an expired one. A staff page's link opened signed out shows a sign-in prompt on that page, in the app's
language, and after signing in there the page opens with the link's filters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import sessions

from .checks import assert_healthy, wait_for_app
from .conftest import ACCOUNTS, Tab, dashboard_server, new_tab, sign_in, submit_sign_in
from .test_journeys import metric_value

pytestmark = pytest.mark.e2e

SIDEBAR = '[data-testid="stSidebar"]'
MAIN = '[data-testid="stMain"]'
ANALYST = next(name for name, role in ACCOUNTS.items() if role == "analyst")
EXPLORER_LINK = "/data?x_table=organization&x_f_city_code=14218"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operational store of this module's server; the session secret is generated beside it."""
    return tmp_path_factory.mktemp("sessions") / "operations.sqlite"


@pytest.fixture(scope="module")
def server(warehouse: Path, accounts: dict[str, str], store: Path) -> Iterator[str]:
    """A dashboard of its own (its own secret and revoked list) with the e2e accounts."""
    with dashboard_server(
        warehouse, store.with_name("dashboard.log"), env={**accounts, "TSUNAGARI_OPERATIONS": str(store)}
    ) as url:
        yield url


@pytest.fixture
def same_secret(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process signs tokens with the server's secret (the file the server generated beside its store)."""
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(store))
    monkeypatch.delenv(sessions.SECRET_ENV, raising=False)


def who(page: Page):
    """The sidebar's who-is-signed-in line."""
    return page.locator(SIDEBAR).get_by_text(re.compile("ログイン中|公開モード"))


def session_cookies(page: Page) -> list[dict]:
    return [cookie for cookie in page.context.cookies() if cookie["name"] == sessions.COOKIE_NAME]


def open_with_cookie(browser: Browser, base_url: str, value: str) -> Iterator[Tab]:
    """A fresh browser whose session cookie is `value` (as if copied from another browser)."""
    for tab in new_tab(browser, base_url):
        host = urlsplit(base_url).hostname
        tab.page.context.add_cookies(
            [
                {
                    "name": sessions.COOKIE_NAME,
                    "value": value,
                    "domain": host,
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Strict",
                }
            ]
        )
        tab.open("/")
        yield tab


def test_a_sign_in_survives_reload_and_new_tab_and_sign_out_ends_it(browser: Browser, server: str, same_secret) -> None:
    for tab in new_tab(browser, server):
        page = tab.open("/")
        sign_in(page, "analyst")
        [cookie] = session_cookies(page)
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/"), cookie
        assert cookie["expires"] > 0, "a lasting cookie, not one that ends with the browser"
        assert sessions.COOKIE_NAME not in page.evaluate("document.cookie"), "page scripts must not read the token"
        assert sessions.decode(cookie["value"]).user == ANALYST

        page.reload(wait_until="domcontentloaded")
        wait_for_app(page)
        expect(who(page)).to_have_text(re.compile(rf"^{ANALYST}（分析担当）でログイン中"))
        second = page.context.new_page()
        second.goto(server + "/data-quality?lang=en", wait_until="domcontentloaded")
        wait_for_app(second)
        expect(second.locator(SIDEBAR).get_by_text(f"Signed in as {ANALYST}")).to_be_visible()
        expect(second.locator(MAIN).get_by_role("heading", name="Data quality")).to_be_visible()
        second.close()

        page.locator(SIDEBAR).get_by_role("button", name="ログアウト").click()
        page.wait_for_url(re.compile(rf"^{re.escape(server)}/?(\?.*)?$"))
        wait_for_app(page)
        expect(who(page)).to_have_text(re.compile("^公開モード"))
        assert session_cookies(page) == [], "sign-out clears the cookie"
        page.reload(wait_until="domcontentloaded")
        wait_for_app(page)
        expect(who(page)).to_have_text(re.compile("^公開モード"))
        assert_healthy(page, tab.console)
        old = cookie["value"]

    # The old value replayed in another browser: refused (revoked server-side), while a live token is taken.
    for tab in open_with_cookie(browser, server, old):
        expect(who(tab.page)).to_have_text(re.compile("^公開モード"))
    for tab in open_with_cookie(browser, server, sessions.encode(sessions.new_session(ANALYST))):
        expect(who(tab.page)).to_have_text(re.compile(rf"^{ANALYST}（分析担当）でログイン中"))
    expired = sessions.new_session(ANALYST, now=sessions._clock() - sessions.lifetime_seconds() - 1)
    for tab in open_with_cookie(browser, server, sessions.encode(expired)):
        expect(who(tab.page)).to_have_text(re.compile("^公開モード"))


def test_a_signed_out_staff_link_prompts_for_sign_in_then_opens_with_its_filters(browser: Browser, server: str) -> None:
    for tab in new_tab(browser, server):
        page = tab.open(EXPLORER_LINK)
        main = page.locator(MAIN)
        expect(main.get_by_role("heading", name="データ・ダウンロード")).to_be_visible()
        expect(main.get_by_text("このページは職員向けです", exact=False)).to_be_visible()
        expect(page.get_by_text("Page not found", exact=False)).to_have_count(0)
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_role("link", name="概要")).to_be_visible()
        expect(nav.get_by_role("link", name="データ・ダウンロード")).to_have_count(0)
        expect(page.locator(f'{SIDEBAR} [data-testid="stForm"]')).to_have_count(0)  # one form: the page's
        assert parse_qs(urlsplit(page.url).query) == {"x_table": ["organization"], "x_f_city_code": ["14218"]}

        submit_sign_in(page, ANALYST, where=MAIN)
        assert urlsplit(page.url).path == "/data", page.url
        query = parse_qs(urlsplit(page.url).query)
        assert (query.get("x_table"), query.get("x_f_city_code")) == (["organization"], ["14218"]), page.url
        expect(main.get_by_role("heading", name="データ・ダウンロード")).to_be_visible()
        expect(metric_value(page, "該当する行")).to_have_text("30 行")  # 綾瀬市's organisations only
        expect(nav.get_by_role("link", name="データ・ダウンロード")).to_be_visible()
        # A page the role may not open says so, in the same place.
        page.goto(server + "/upload", wait_until="domcontentloaded")
        wait_for_app(page)
        expect(main.get_by_text("分析担当の権限では開けません", exact=False)).to_be_visible()
        assert_healthy(page, tab.console)

    for tab in new_tab(browser, server):
        page = tab.open("/data-quality?lang=en")
        main = page.locator(MAIN)
        expect(main.get_by_role("heading", name="Data quality")).to_be_visible()
        expect(main.get_by_text("This page is for staff", exact=False)).to_be_visible()
        expect(main.get_by_role("button", name="Sign in")).to_be_visible()
        assert_healthy(page, tab.console)
