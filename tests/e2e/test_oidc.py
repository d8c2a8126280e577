"""OIDC sign-in (st.login) end to end against a real OpenID Connect provider started on localhost.

The provider is django-oauth-toolkit with OIDC on (tests/e2e/oidc_provider.py): its own sign-in form, an RS256
key made at start, PKCE, RP-initiated logout. The dashboard gets an [auth] secrets file naming it. A staff link
opened signed out leads through the provider back to that link (filters kept), the role comes from the e-mail
in the role file, a reload and a new tab keep the sign-in with one audit row, and signing out ends it at the
provider too. An e-mail the provider has not verified signs in without a role.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from .checks import assert_healthy, wait_for_app
from .conftest import new_tab
from .oidc_provider import Provider, running_provider, sign_in_at_provider
from .server import DASHBOARD_APP, ROOT, free_port, streamlit_server
from .test_journeys import metric_value

pytestmark = pytest.mark.e2e

SIDEBAR = '[data-testid="stSidebar"]'
MAIN = '[data-testid="stMain"]'
EXPLORER_LINK = "/data?x_table=organization&x_f_city_code=14218"
ANALYST = {"username": "hanako", "password": secrets.token_urlsafe(12), "email": "Hanako.Analyst@city.example.jp"}
UNVERIFIED = {
    "username": "taro",
    "password": secrets.token_urlsafe(12),
    "email": "taro.unverified@city.example.jp",
    "email_verified": False,
}


@dataclass(frozen=True)
class App:
    url: str
    store: Path
    provider: Provider


@pytest.fixture(scope="module")
def app(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The provider, and the dashboard signing in through it (both e-mails mapped to analyst in the role file)."""
    folder = tmp_path_factory.mktemp("oidc")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    try:
        with running_provider(folder, redirect_uris=[origin + "/oauth2callback"], users=[ANALYST, UNVERIFIED]) as idp:
            secrets_file = folder / "secrets.toml"
            secrets_file.write_text(
                "[auth]\n"
                f'redirect_uri = "{origin}/oauth2callback"\n'
                f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
                f'client_id = "{idp.client_id}"\n'
                f'client_secret = "{idp.client_secret}"\n'
                f'server_metadata_url = "{idp.metadata_url}"\n',
                encoding="utf-8",
            )
            roles_file = folder / "roles.toml"
            roles_file.write_text(
                "".join(f'[[identity]]\nid = "{user["email"]}"\nrole = "analyst"\n' for user in (ANALYST, UNVERIFIED)),
                encoding="utf-8",
            )
            store = folder / "operations.sqlite"
            env = {
                "TSUNAGARI_WAREHOUSE": str(warehouse),
                "TSUNAGARI_ROLES": str(roles_file),
                "TSUNAGARI_OPERATIONS": str(store),
                "STREAMLIT_SECRETS_FILES": str(secrets_file),
                # The provider speaks plain HTTP on 127.0.0.1; a real one is HTTPS.
                "AUTHLIB_INSECURE_TRANSPORT": "1",
            }
            with streamlit_server(
                DASHBOARD_APP, cwd=ROOT, log_path=folder / "dashboard.log", env=env, port=port
            ) as url:
                yield App(url, store, idp)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


def who(page: Page):
    """The sidebar's who-is-signed-in line."""
    return page.locator(SIDEBAR).get_by_text(re.compile("ログイン中|公開モード"))


def sign_in_through_provider(page: Page, app: App, user: dict, button) -> None:
    """Click the app's ログイン, sign in on the provider's own form, and wait for the app to load again."""
    button.click()
    sign_in_at_provider(page, app.provider, user)
    page.wait_for_url(re.compile("^" + re.escape(app.url) + r"/"))
    wait_for_app(page)


def audit(store: Path, identity: str) -> list[tuple[str, str]]:
    """(action, target) of every audit row of `identity`, oldest first."""
    with sqlite3.connect(store) as con:
        return con.execute(
            "select action, target from audit_event where identity = ? order by event_id", [identity]
        ).fetchall()


def test_a_staff_link_signs_in_through_the_provider_lasts_and_signs_out(browser: Browser, app: App) -> None:
    identity = ANALYST["email"].lower()
    for tab in new_tab(browser, app.url):
        page = tab.open(EXPLORER_LINK)
        main = page.locator(MAIN)
        expect(main.get_by_text("このページは職員向けです", exact=False)).to_be_visible()
        sign_in_through_provider(page, app, ANALYST, main.get_by_role("button", name="ログイン"))

        # Back on the link it began on, filters kept, with the e-mail's role from the role file.
        assert urlsplit(page.url).path == "/data", page.url
        query = parse_qs(urlsplit(page.url).query)
        assert (query.get("x_table"), query.get("x_f_city_code")) == (["organization"], ["14218"]), page.url
        expect(who(page)).to_have_text(re.compile(rf"^{re.escape(identity)}（分析担当）でログイン中"))
        expect(main.get_by_role("heading", name="データ・ダウンロード")).to_be_visible()
        expect(metric_value(page, "該当する行")).to_have_text("30 行")  # 綾瀬市's organisations only

        page.reload(wait_until="domcontentloaded")
        wait_for_app(page)
        expect(who(page)).to_have_text(re.compile(rf"^{re.escape(identity)}（分析担当）でログイン中"))
        second = page.context.new_page()
        second.goto(app.url + "/data-quality?lang=en", wait_until="domcontentloaded")
        wait_for_app(second)
        expect(second.locator(SIDEBAR).get_by_text(f"Signed in as {identity}")).to_be_visible()
        expect(second.locator(MAIN).get_by_role("heading", name="Data quality")).to_be_visible()
        second.close()
        # One sign-in: the reload and the new tab presented the same ID token again.
        assert audit(app.store, identity) == [("sign_in", "oidc")]

        page.locator(SIDEBAR).get_by_role("button", name="ログアウト").click()
        page.wait_for_url(re.compile(rf"^{re.escape(app.url)}/?(\?.*)?$"))
        wait_for_app(page)
        expect(who(page)).to_have_text(re.compile("^公開モード"))
        page.reload(wait_until="domcontentloaded")
        wait_for_app(page)
        expect(who(page)).to_have_text(re.compile("^公開モード"))
        assert audit(app.store, identity) == [("sign_in", "oidc"), ("sign_out", "oidc")]
        assert_healthy(page, tab.console)

        # Signed out at the provider too: signing in again asks for the password again.
        page.locator(SIDEBAR).get_by_role("button", name="ログイン").click()
        page.wait_for_url(re.compile(re.escape(app.provider.origin) + "/accounts/login/"))


def test_an_unverified_email_signs_in_without_a_role(browser: Browser, app: App) -> None:
    identity = UNVERIFIED["email"]
    for tab in new_tab(browser, app.url):
        page = tab.open("/data-quality")
        main = page.locator(MAIN)
        sign_in_through_provider(page, app, UNVERIFIED, main.get_by_role("button", name="ログイン"))
        assert urlsplit(page.url).path == "/data-quality", page.url
        # Mapped to analyst in the role file, but the provider does not vouch for the address: public.
        expect(who(page)).to_have_text(re.compile(rf"^{re.escape(identity)}（公開）でログイン中"))
        expect(main.get_by_text("公開の権限では開けません", exact=False)).to_be_visible()
        assert audit(app.store, identity) == [("sign_in", "oidc")]
        assert_healthy(page, tab.console)
