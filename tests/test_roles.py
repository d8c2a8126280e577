"""Role mapping, local accounts (argon2) and the sign-in panel."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import roles
from warehouse.query import PUBLIC, Viewer

APP = "../dashboard/app.py"
ROLES = """
[[identity]]
id = "Zama@City.Example.jp"
role = "city_manager"
city = "14216"

[[identity]]
id = "analyst"
role = "analyst"
"""


@pytest.fixture(scope="module")
def secret_hash():
    """One argon2 hash, made once (hashing is deliberately slow)."""
    return roles.hash_password("つながり-2025")


def write(path, text):
    """Write a UTF-8 file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def test_load_roles(tmp_path):
    mapping = roles.load_roles(write(tmp_path / "roles.toml", ROLES))
    assert mapping == {
        "zama@city.example.jp": Viewer("city_manager", "14216", "zama@city.example.jp"),
        "analyst": Viewer("analyst", None, "analyst"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[identity]]\nid = "a"\nrole = "king"\n', "unknown role 'king'"),
        ('[[identity]]\nid = "a"\nrole = "city_manager"\n', "a city_manager needs city"),
        ('[[identity]]\nrole = "admin"\n', "id is missing"),
        ('[[identity]]\nid = "a"\nrole = "admin"\n[[identity]]\nid = "A"\nrole = "analyst"\n', "a is mapped twice"),
    ],
)
def test_bad_role_files_name_the_entry(tmp_path, text, message):
    with pytest.raises(roles.RoleConfigError) as failure:
        roles.load_roles(write(tmp_path / "roles.toml", text))
    assert message in str(failure.value)
    assert "roles.toml, [[identity]] #" in str(failure.value)


def test_missing_role_file_means_public(tmp_path):
    assert roles.load_roles(tmp_path / "none.toml") == {}
    assert roles.viewer_for(None, {}) == PUBLIC
    assert roles.viewer_for("stranger@example.jp", {}) == Viewer("public", None, "stranger@example.jp")


def test_local_password_path(tmp_path, secret_hash):
    users = roles.load_users(write(tmp_path / "users.toml", f'[users.Analyst]\npassword_hash = "{secret_hash}"\n'))
    assert roles.authenticate(users, "analyst", "つながり-2025") == "analyst"
    assert roles.authenticate(users, " ANALYST ", "つながり-2025") == "analyst"
    assert roles.authenticate(users, "analyst", "wrong") is None
    assert roles.authenticate(users, "nobody", "つながり-2025") is None


def test_plain_text_passwords_are_refused(tmp_path):
    with pytest.raises(roles.RoleConfigError) as failure:
        roles.load_users(write(tmp_path / "users.toml", '[users.a]\npassword_hash = "hunter2"\n'))
    assert "must be an argon2 hash, never plain text" in str(failure.value)


def test_sign_in_panel_local_accounts(sample_warehouse, tmp_path, monkeypatch, secret_hash):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))  # the sign-in is audited
    monkeypatch.setenv("TSUNAGARI_ROLES", str(write(tmp_path / "roles.toml", ROLES)))
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(write(tmp_path / "u.toml", f'[users.analyst]\npassword_hash = "{secret_hash}"\n')))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert "公開モード" in at.sidebar.caption[-1].value
    at.sidebar.text_input(key="local_sign_in_user").input("analyst")
    at.sidebar.text_input(key="local_sign_in_password").input("wrong")
    at.sidebar.button[0].click().run()
    assert at.sidebar.error[0].value == "ユーザー名またはパスワードが違います。"
    at.sidebar.text_input(key="local_sign_in_user").input("analyst")
    at.sidebar.text_input(key="local_sign_in_password").input("つながり-2025")
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert at.sidebar.caption[-1].value == "analyst（分析担当）でログイン中"


def test_no_accounts_configured_shows_public_mode_only(sample_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_ROLES", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(tmp_path / "none.toml"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "公開モード" in at.sidebar.caption[-1].value
    assert len(at.sidebar.text_input) == 0
