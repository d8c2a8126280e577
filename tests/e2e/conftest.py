"""Session fixtures: a warehouse built from data/sample (and one from the two-year bundle), the dashboard
served by `streamlit run`, one headless Chromium; per test a fresh browser context + page with a console watch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from benchmarks.browser import CHROMIUM_ARGS  # one set of launch flags for this machine's Chromium

from .checks import RUN_COUNTER_SCRIPT, ConsoleWatch, wait_for_app
from .server import ROOT, build_warehouse, streamlit_server

CHROMIUM = Path(os.environ.get("TSUNAGARI_E2E_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
VIEWPORT = {"width": 1400, "height": 1000}
ACTION_TIMEOUT_MS = 15_000  # any single click / wait / expect
NAVIGATION_TIMEOUT_MS = 30_000

expect.set_options(timeout=ACTION_TIMEOUT_MS)


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse built from data/sample by the ETL CLI."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    try:
        build_warehouse(ROOT / "data" / "sample", path)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    return path


@contextlib.contextmanager
def dashboard_server(warehouse: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The dashboard served from the repo root, reading `warehouse` (plus any extra env); yields the base URL."""
    with contextlib.ExitStack() as stack:
        try:
            base_url = stack.enter_context(
                streamlit_server(
                    Path("dashboard/app.py"),
                    cwd=ROOT,
                    log_path=log,
                    env={"TSUNAGARI_WAREHOUSE": str(warehouse), **(env or {})},
                )
            )
        except RuntimeError as error:
            pytest.fail(str(error), pytrace=False)
        yield base_url


ACCOUNT_PASSWORD = "e2e-つながり"
ACCOUNTS = {"e2e-analyst": "analyst", "e2e-admin": "admin"}


@pytest.fixture(scope="session")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Local accounts (argon2) and their roles for the e2e server: env for dashboard_server."""
    from dashboard.roles import hash_password

    folder = tmp_path_factory.mktemp("accounts")
    digest = hash_password(ACCOUNT_PASSWORD)
    (folder / "users.toml").write_text(
        "".join(f'[users.{name}]\npassword_hash = "{digest}"\n' for name in ACCOUNTS), encoding="utf-8"
    )
    (folder / "roles.toml").write_text(
        "".join(f'[[identity]]\nid = "{name}"\nrole = "{role}"\n' for name, role in ACCOUNTS.items()),
        encoding="utf-8",
    )
    return {"TSUNAGARI_LOCAL_USERS": str(folder / "users.toml"), "TSUNAGARI_ROLES": str(folder / "roles.toml")}


def submit_sign_in(page: Page, name: str, *, where: str = '[data-testid="stSidebar"]') -> None:
    """Fill in and send the sign-in form inside `where` (the sidebar, or a page's prompt) as `name`.

    A local sign-in ends with the browser visiting the session route (it sets the lasting cookie) and
    coming back to the same page and query string: a new page load, waited for here.
    """
    form = page.locator(f'{where} [data-testid="stForm"]')
    form.get_by_role("textbox", name="ユーザー名").fill(name)
    form.get_by_role("textbox", name="パスワード").fill(ACCOUNT_PASSWORD)
    with page.expect_navigation(wait_until="domcontentloaded"):
        form.get_by_role("button", name="ログイン").click()
    wait_for_app(page)
    expect(page.locator('[data-testid="stSidebar"]').get_by_text(f"{name}（", exact=False)).to_be_visible()


def sign_in(page: Page, role: str) -> None:
    """Sign in through the sidebar form as the e2e account that has `role` (it lasts: reloads and tabs keep it)."""
    submit_sign_in(page, next(name for name, granted in ACCOUNTS.items() if granted == role))


@pytest.fixture(scope="session")
def app_url(
    warehouse: Path, browser: Browser, accounts: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of the dashboard shared by the page suite and the journeys.

    One visit before the tests: the server's very first script run (imports, cache warm-up) is then
    not billed to whichever test comes first. The first-visitor behaviour itself is checked on a
    server of its own (test_journeys.py::test_first_visitor_first_click).
    """
    with dashboard_server(warehouse, tmp_path_factory.mktemp("streamlit") / "dashboard.log", env=accounts) as base_url:
        for tab in new_tab(browser, base_url):
            tab.open("/")
        yield base_url


@pytest.fixture(scope="session")
def years_e2e_warehouse(years_bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse built by the ETL CLI from the generated two-year bundle (R6 = data/sample, R7 derived)."""
    path = tmp_path_factory.mktemp("years-e2e-warehouse") / "warehouse.duckdb"
    try:
        build_warehouse(years_bundle[0], path)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    return path


@pytest.fixture(scope="session")
def years_app_url(
    years_e2e_warehouse: Path, browser: Browser, accounts: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a dashboard serving the two-year warehouse (as `make run` does), warmed up like app_url."""
    log = tmp_path_factory.mktemp("streamlit-years") / "dashboard.log"
    with dashboard_server(years_e2e_warehouse, log, env=accounts) as base_url:
        for tab in new_tab(browser, base_url):
            tab.open("/")
        yield base_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium (the system's, no Playwright download) for the whole session."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run ./tools/system-deps.sh browser", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A fresh page in its own context, its console watch, and the app it talks to."""

    page: Page
    console: ConsoleWatch
    base_url: str

    def open(self, route: str = "/") -> Page:
        self.page.goto(self.base_url + route, wait_until="domcontentloaded")
        wait_for_app(self.page)
        return self.page


def new_tab(browser: Browser, base_url: str) -> Iterator[Tab]:
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP", accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.add_init_script(RUN_COUNTER_SCRIPT)
    console = ConsoleWatch().attach(context)
    try:
        yield Tab(context.new_page(), console, base_url)
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser, app_url: str) -> Iterator[Tab]:
    """A fresh browser context and page on the dashboard."""
    yield from new_tab(browser, app_url)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
