"""Signing out ends the session in a real browser (issue 17, finding 4), and tables offer no toolbar export.

An admin signs in, types a consultee's address on 相談つなぎ and picks a file on データ取込, signs out;
座間市's city manager then signs in in the same tab and finds neither, while the audit log has the sign-out.
"""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import Page, expect

from warehouse import operations as ops

from .checks import assert_no_exception, rerun, wait_for_app
from .conftest import ACCOUNT_PASSWORD, dashboard_server, new_tab, submit_sign_in
from .server import ROOT, build_warehouse

pytestmark = pytest.mark.e2e

SIDEBAR = '[data-testid="stSidebar"]'
ACCOUNTS = {"e2e-admin": 'role = "admin"', "e2e-zama": 'role = "city_manager"\ncity = "14216"'}
ADDRESS = "綾瀬市深谷中1-1-1"
UPLOAD = "admin-only-upload.xlsx"


def go(page: Page, title: str) -> None:
    """Open a page through the sidebar navigation (a link click keeps the session; a new URL would not)."""
    with rerun(page):
        page.locator(f'{SIDEBAR} [data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    assert_no_exception(page)


def uploaded(page: Page):
    """The file uploader's chip of the admin's file (its name is shortened on screen, not in the button)."""
    return page.get_by_role("button", name=f"Remove {UPLOAD}")


def address_box(page: Page):
    return page.locator('[data-testid="stMain"]').get_by_role("textbox", name="住所")


def test_sign_out_ends_the_session(browser, tmp_path) -> None:
    from dashboard.roles import hash_password

    # With reference towns, so that 相談つなぎ offers the typed address.
    warehouse = tmp_path / "warehouse.duckdb"
    build_warehouse(ROOT / "data" / "sample", warehouse, reference=ROOT / "tests" / "fixtures" / "reference")

    digest = hash_password(ACCOUNT_PASSWORD)
    (tmp_path / "users.toml").write_text(
        "".join(f'[users.{name}]\npassword_hash = "{digest}"\n' for name in ACCOUNTS), encoding="utf-8"
    )
    (tmp_path / "roles.toml").write_text(
        "".join(f'[[identity]]\nid = "{name}"\n{grant}\n' for name, grant in ACCOUNTS.items()), encoding="utf-8"
    )
    upload = tmp_path / UPLOAD
    shutil.copyfile(ROOT / "data" / "sample" / "distribution_list.xlsx", upload)
    store = tmp_path / "operations.sqlite"
    env = {
        "TSUNAGARI_LOCAL_USERS": str(tmp_path / "users.toml"),
        "TSUNAGARI_ROLES": str(tmp_path / "roles.toml"),
        "TSUNAGARI_OPERATIONS": str(store),
    }
    with dashboard_server(warehouse, tmp_path / "dashboard.log", env=env) as base_url:
        for tab in new_tab(browser, base_url):
            page = tab.open("/")
            # No table offers the toolbar's own CSV download (it would leave no audit row).
            table = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first
            table.hover()
            toolbar = page.locator('[data-testid="stElementToolbar"]').first
            expect(toolbar.get_by_role("button").first).to_be_visible()
            expect(page.get_by_role("button", name=re.compile("Download as CSV", re.IGNORECASE))).to_have_count(0)

            submit_sign_in(page, "e2e-admin")
            go(page, "相談つなぎ")
            with rerun(page):
                page.locator('[data-testid="stMain"] [data-testid="stRadio"]').get_by_text("住所を入力する").click()
            with rerun(page):
                address_box(page).fill(ADDRESS)
                address_box(page).press("Enter")
            expect(address_box(page)).to_have_value(ADDRESS)
            go(page, "データ取込")
            with rerun(page):
                page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(upload))
            expect(uploaded(page)).to_be_visible()

            # Sign out: the browser is sent through the session route (the cookie is cleared) to a new session
            # at the app's start.
            page.locator(SIDEBAR).get_by_role("button", name="ログアウト").click()
            page.wait_for_url(re.compile(rf"^{re.escape(base_url)}/?(\?.*)?$"))
            wait_for_app(page)
            expect(page.locator(SIDEBAR).get_by_text("公開モード", exact=False)).to_be_visible()

            submit_sign_in(page, "e2e-zama")
            go(page, "相談つなぎ")
            expect(address_box(page)).to_have_count(0)  # back to the default way (町丁目), nothing typed
            with rerun(page):
                page.locator('[data-testid="stMain"] [data-testid="stRadio"]').get_by_text("住所を入力する").click()
            expect(address_box(page)).to_have_value("")
            go(page, "データ取込")
            expect(page.locator('[data-testid="stFileUploader"]').first).to_be_visible()
            expect(uploaded(page)).to_have_count(0)
            assert [(r["action"], r["identity"]) for r in ops.read_audit(store).to_dicts()] == [
                ("sign_in", "e2e-admin"),
                ("sign_out", "e2e-admin"),
                ("sign_in", "e2e-zama"),
            ]
