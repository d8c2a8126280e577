"""The app as the cities run it: under /tsunagari/ behind nginx with TLS (deploy/nginx/tsunagari.conf) and the
service's Streamlit settings (deploy/systemd/tsunagari.env); sign in (local and OIDC), every page, a CSV, a deep link."""

from __future__ import annotations

import csv
import io
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from .checks import RUN_COUNTER_SCRIPT, ConsoleWatch, assert_healthy, rerun, wait_for_app
from .conftest import ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, VIEWPORT, Tab, sign_in
from .oidc_provider import running_provider, sign_in_at_provider
from .pages import PAGES
from .proxy import Proxy, nginx_proxy
from .server import DASHBOARD_APP, ROOT, build_warehouse, free_port, streamlit_server
from .test_journeys import metric_value, pick

pytestmark = pytest.mark.e2e

SERVICE_ENV = ROOT / "deploy" / "systemd" / "tsunagari.env"
BASE_PATH = "/tsunagari"


def service_settings() -> dict[str, str]:
    """The STREAMLIT_* settings of the service's environment file (sub-path, headless, limits)."""
    settings = {}
    for line in SERVICE_ENV.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("STREAMLIT_"):
            settings[key.strip()] = value.strip()
    return settings


@pytest.fixture(scope="module")
def proxy_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The proxied dashboard's log (dashboard.log) and nginx's private prefix (nginx/)."""
    return tmp_path_factory.mktemp("proxy")


@pytest.fixture(scope="module")
def proxied(warehouse: Path, accounts: dict[str, str], proxy_folder: Path) -> Iterator[Proxy]:
    """The dashboard with the service's settings on a free port, nginx with the site file in front of it."""
    settings = service_settings()
    assert "/" + settings.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/") == BASE_PATH, (
        f"{SERVICE_ENV} must serve the app under {BASE_PATH} (the site file's location)"
    )
    folder = proxy_folder
    env = {"TSUNAGARI_WAREHOUSE": str(warehouse), **accounts, **settings}
    try:
        with (
            streamlit_server(
                DASHBOARD_APP, cwd=ROOT, log_path=folder / "dashboard.log", env=env, base_path=BASE_PATH
            ) as direct,
            nginx_proxy(urlsplit(direct).port, folder / "nginx") as proxy,
        ):
            yield proxy
    except (RuntimeError, ValueError) as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def proxied_tab(browser: Browser, proxied: Proxy) -> Iterator[tuple[Tab, list[str]]]:
    """A browser tab on https://localhost:PORT/tsunagari (self-signed certificate accepted) and every URL it requested."""
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP", accept_downloads=True, ignore_https_errors=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.add_init_script(RUN_COUNTER_SCRIPT)
    console = ConsoleWatch().attach(context)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        yield Tab(context.new_page(), console, proxied.https + BASE_PATH), requested
    finally:
        context.close()


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _status(url: str) -> tuple[int, str]:
    """(status, Location) of one GET without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=_unverified()))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


def test_proxy_routes(proxied: Proxy) -> None:
    """Plain HTTP redirects to HTTPS; /tsunagari gets its slash; health answers through the proxy, the root does not serve the app."""
    status, location = _status(proxied.http + BASE_PATH + "/")
    assert status == 301 and location.startswith("https://"), (status, location)
    status, location = _status(proxied.https + BASE_PATH)
    assert status == 301 and location.endswith(BASE_PATH + "/"), (status, location)
    assert _status(proxied.https + BASE_PATH + "/_stcore/health")[0] == 200
    assert _status(proxied.https + "/_stcore/health")[0] == 404


def test_sign_in_every_page_download_and_deep_link(
    proxied: Proxy, proxied_tab, proxy_folder: Path, artifacts: Path
) -> None:
    """Through nginx: sign in (local account), open every page from the navigation, download Home's CSV, follow a deep link."""
    tab, requested = proxied_tab
    page = tab.open("/")
    sign_in(page, "admin")
    # The lasting sign-in's cookie is scoped to the sub-path and Secure behind TLS; a reload keeps it.
    [cookie] = [c for c in page.context.cookies() if c["name"] == "tsunagari_session"]
    assert (cookie["path"], cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (
        BASE_PATH + "/",
        True,
        True,
        "Strict",
    )
    page.reload(wait_until="domcontentloaded")
    wait_for_app(page)
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("e2e-admin（", exact=False)).to_be_visible()
    nav = page.locator('[data-testid="stSidebarNav"]')
    main = page.locator('[data-testid="stMain"]')
    for case in PAGES:
        link = nav.locator("a").filter(has_text=case.title).first
        href = urlsplit(link.get_attribute("href") or "")
        assert href.path.startswith(BASE_PATH + "/"), f"{case.title}: link {href.geturl()!r} leaves {BASE_PATH}/"
        with rerun(page):
            link.click()
        expect(page).to_have_url(re.compile(re.escape(proxied.https + BASE_PATH + case.route.rstrip("/"))))
        for text in case.key_texts:
            expect(main.get_by_text(text, exact=True).first, f"{case.url_path}: key text {text!r}").to_be_visible()
        assert_healthy(page, tab.console)

    with rerun(page):
        nav.locator("a").filter(has_text=PAGES[0].title).first.click()
    button = main.locator('[data-testid="stDownloadButton"] button').filter(
        has=page.get_by_text(re.compile(r"^\s*CSV"))
    )
    expect(button).to_have_count(1)
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert urlsplit(download.url).path.startswith(BASE_PATH + "/"), f"download served from {download.url}"
    path = artifacts / "proxy-download.csv"
    download.save_as(path)
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf"), f"no UTF-8 BOM: {content[:16]!r}"
    cells = [cell.replace(",", "") for row in csv.reader(io.StringIO(content[3:].decode("utf-8"))) for cell in row]
    assert any(re.fullmatch(r"157(\.0+)?", cell) for cell in cells), "figure 157 not in the CSV"

    # A link someone was sent: English, 綾瀬市 only, opened fresh (a new session) through the proxy.
    page.goto(proxied.https + BASE_PATH + "/?lang=en&city=14218", wait_until="domcontentloaded")
    wait_for_app(page)
    expect(metric_value(page, "Organisations surveyed")).to_have_text("30 orgs")
    expect(page).to_have_url(re.compile(re.escape(BASE_PATH) + r"/?\?.*city=14218"))
    assert_healthy(page, tab.console)

    origin = proxied.https
    outside = [
        url for url in requested if url.startswith(origin) and not urlsplit(url).path.startswith(BASE_PATH + "/")
    ]
    assert not outside, f"requests outside {BASE_PATH}/: {outside[:5]}"
    access = proxied.access_log.read_text(encoding="utf-8", errors="replace")
    assert re.search(rf'"GET {re.escape(BASE_PATH)}/_stcore/stream[^"]*" 101 ', access), (
        "no WebSocket upgrade (101) for /_stcore/stream in nginx's access log"
    )
    # The service's journal stays readable: no Streamlit call from polars' worker threads (one warning per row).
    log = (proxy_folder / "dashboard.log").read_text(encoding="utf-8", errors="replace")
    assert "missing ScriptRunContext" not in log, "Streamlit called outside the script thread:\n" + "\n".join(
        sorted({line.split(" ", 2)[-1] for line in log.splitlines() if "ScriptRunContext" in line})
    )


OIDC_USER = {"username": "e2e-oidc", "password": "e2e-oidc-つながり", "email": "e2e-oidc@city.example.jp"}


def test_oidc_sign_in_under_the_sub_path(warehouse: Path, browser: Browser, tmp_path: Path) -> None:
    """OIDC through the proxy: the provider knows only https://…/tsunagari/oauth2callback, the user comes back signed in."""
    https_port = free_port()
    origin = f"https://localhost:{https_port}"
    # The provider (django-oauth-toolkit, tests/e2e/oidc_provider.py) refuses any other redirect URI.
    redirect_uri = f"{origin}{BASE_PATH}/oauth2callback"
    try:
        with running_provider(tmp_path, redirect_uris=[redirect_uri], users=[OIDC_USER]) as idp:
            secrets_file = tmp_path / "secrets.toml"
            secrets_file.write_text(
                "[auth]\n"
                f'redirect_uri = "{redirect_uri}"\n'
                f'cookie_secret = "{idp.client_secret}-cookie"\n'
                f'client_id = "{idp.client_id}"\n'
                f'client_secret = "{idp.client_secret}"\n'
                f'server_metadata_url = "{idp.metadata_url}"\n',
                encoding="utf-8",
            )
            roles_file = tmp_path / "roles.toml"
            roles_file.write_text(f'[[identity]]\nid = "{OIDC_USER["email"]}"\nrole = "analyst"\n', encoding="utf-8")
            env = {
                "TSUNAGARI_WAREHOUSE": str(warehouse),
                "TSUNAGARI_ROLES": str(roles_file),
                **service_settings(),
                "STREAMLIT_SECRETS_FILES": str(secrets_file),
                # The test provider speaks plain HTTP on 127.0.0.1; a real one is HTTPS.
                "AUTHLIB_INSECURE_TRANSPORT": "1",
            }
            log = tmp_path / "dashboard.log"
            with (
                streamlit_server(DASHBOARD_APP, cwd=ROOT, log_path=log, env=env, base_path=BASE_PATH) as direct,
                nginx_proxy(urlsplit(direct).port, tmp_path / "nginx", https_port=https_port) as proxy,
            ):
                context = browser.new_context(viewport=VIEWPORT, locale="ja-JP", ignore_https_errors=True)
                context.set_default_timeout(ACTION_TIMEOUT_MS)
                context.add_init_script(RUN_COUNTER_SCRIPT)
                console = ConsoleWatch().attach(context)
                try:
                    tab = Tab(context.new_page(), console, proxy.https + BASE_PATH)
                    page = tab.open("/")
                    sidebar = page.locator('[data-testid="stSidebar"]')
                    sidebar.get_by_role("button", name="ログイン").click()
                    sign_in_at_provider(page, idp, OIDC_USER)
                    page.wait_for_url(re.compile(re.escape(origin + BASE_PATH + "/")))
                    wait_for_app(page)
                    expect(sidebar.get_by_text(f"{OIDC_USER['email']}（", exact=False)).to_be_visible()
                    staff = next(case for case in PAGES if case.role == "analyst")
                    with rerun(page):
                        page.locator('[data-testid="stSidebarNav"] a').filter(has_text=staff.title).first.click()
                    for text in staff.key_texts:
                        expect(
                            page.locator('[data-testid="stMain"]').get_by_text(text, exact=True).first
                        ).to_be_visible()
                    assert_healthy(page, console)
                finally:
                    context.close()
    except (RuntimeError, ValueError) as error:
        log = tmp_path / "dashboard.log"
        pytest.fail(f"{error}\n{log.read_text(errors='replace')[-3000:] if log.exists() else ''}", pytrace=False)


def test_referral_sheet_through_the_proxy(browser: Browser, tmp_path: Path, artifacts: Path) -> None:
    """相談つなぎ under /tsunagari/: pick a need and a town, tick a result, download the printable sheet, print it."""
    warehouse = tmp_path / "warehouse.duckdb"
    try:
        build_warehouse(ROOT / "data" / "sample", warehouse, reference=ROOT / "tests" / "fixtures" / "reference")
        env = {"TSUNAGARI_WAREHOUSE": str(warehouse), **service_settings()}
        log = tmp_path / "dashboard.log"
        with (
            streamlit_server(DASHBOARD_APP, cwd=ROOT, log_path=log, env=env, base_path=BASE_PATH) as direct,
            nginx_proxy(urlsplit(direct).port, tmp_path / "nginx") as proxy,
        ):
            context = browser.new_context(
                viewport=VIEWPORT, locale="ja-JP", accept_downloads=True, ignore_https_errors=True
            )
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.add_init_script(RUN_COUNTER_SCRIPT)
            console = ConsoleWatch().attach(context)
            try:
                tab = Tab(context.new_page(), console, proxy.https + BASE_PATH)
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
                    main.locator('[data-testid="stSelectbox"]').filter(has_text="町丁目"),
                    "中央テスト一丁目",
                    "綾瀬市",
                    multi=False,
                )
                results = main.locator('[data-testid="stDataFrame"]').first
                results.scroll_into_view_if_needed()
                box = results.bounding_box()
                assert box is not None
                with rerun(page):
                    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection checkbox
                button = main.locator('[data-testid="stDownloadButton"] button').filter(has_text="紹介状をダウンロード")
                with page.expect_download() as info:
                    button.click()
                assert urlsplit(info.value.url).path.startswith(BASE_PATH + "/"), info.value.url
                sheet_path = artifacts / "proxy-referral-sheet.html"
                info.value.save_as(sheet_path)
                sheet = sheet_path.read_text(encoding="utf-8")
                assert "(サンプル)" in sheet, "the ticked organisation is not on the sheet"
                assert_healthy(page, console)
                printed = context.new_page()
                printed.set_content(sheet, wait_until="load")
                assert printed.pdf(format="A4").startswith(b"%PDF")
            finally:
                context.close()
    except (RuntimeError, ValueError) as error:
        pytest.fail(str(error), pytrace=False)
