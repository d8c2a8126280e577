"""A city manager makes the report pack on 概要 and downloads it; its first PDF page is rendered to an image."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from warehouse import operations

from .checks import assert_healthy
from .conftest import ACCOUNT_PASSWORD, dashboard_server, new_tab, submit_sign_in

pytestmark = pytest.mark.e2e

MANAGER, AYASE = "e2e-manager", "14218"
PACK_TIMEOUT_MS = 90_000  # generation on two shared cores, with the server's first chart render


def test_city_manager_downloads_the_pack(browser, warehouse, tmp_path, artifacts) -> None:
    from dashboard.roles import hash_password

    users, roles = tmp_path / "users.toml", tmp_path / "roles.toml"
    users.write_text(f'[users.{MANAGER}]\npassword_hash = "{hash_password(ACCOUNT_PASSWORD)}"\n', encoding="utf-8")
    roles.write_text(f'[[identity]]\nid = "{MANAGER}"\nrole = "city_manager"\ncity = "{AYASE}"\n', encoding="utf-8")
    store = tmp_path / "operations.sqlite"
    env = {"TSUNAGARI_LOCAL_USERS": str(users), "TSUNAGARI_ROLES": str(roles), "TSUNAGARI_OPERATIONS": str(store)}
    with dashboard_server(warehouse, tmp_path / "dashboard.log", env=env) as base_url:
        for tab in new_tab(browser, base_url):
            page = tab.open("/")
            expect(page.get_by_text("報告書用資料（Word・PDF・Excel）")).to_have_count(0)  # not for the public
            submit_sign_in(page, MANAGER)
            expect(page.get_by_text("報告書用資料（Word・PDF・Excel）")).to_be_visible()
            page.get_by_role("button", name="資料を作成").click()
            button = page.get_by_role("button", name="PDF", exact=True)
            expect(button).to_be_visible(timeout=PACK_TIMEOUT_MS)
            with page.expect_download() as info:
                button.click()
            download = info.value
            assert download.suggested_filename.endswith(".pdf")
            path = artifacts / f"report-pack-{download.suggested_filename}"
            download.save_as(path)
            assert_healthy(page, tab.console)

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages)
    assert "リソース調査" in text and "PF構築プロセス" in text
    # The first page and the art project's page as images, to be looked at (test-artifacts/e2e).
    for first in (1, 5):
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", "-f", str(first), "-l", str(first), str(path), str(path.with_suffix(""))],
            check=True,
        )
    assert len(list(artifacts.glob(f"{path.stem}-*.png"))) >= 2

    audit = operations.read_audit(store).to_dicts()
    made = [row for row in audit if row["target"].endswith("/report_pack")]
    assert [(row["identity"], row["action"]) for row in made] == [(MANAGER, "export")]
    assert json.loads(made[0]["detail"])["nendo"] and "city" in json.loads(made[0]["detail"])
    assert any(row["target"].endswith(".pdf") and row["identity"] == MANAGER for row in audit)
