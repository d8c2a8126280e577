"""Role mapping (common/roles.py), local accounts (argon2, dashboard/roles.py) and the sign-in panel."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from common.roles import PUBLIC, RoleConfigError, Viewer, load_roles, viewer_for
from dashboard import roles

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
    mapping = load_roles(write(tmp_path / "roles.toml", ROLES))
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
    with pytest.raises(RoleConfigError) as failure:
        load_roles(write(tmp_path / "roles.toml", text))
    assert message in str(failure.value)
    assert "roles.toml, [[identity]] #" in str(failure.value)


def test_missing_role_file_means_public(tmp_path):
    assert load_roles(tmp_path / "none.toml") == {}
    assert viewer_for(None, {}) == PUBLIC
    assert viewer_for("stranger@example.jp", {}) == Viewer("public", None, "stranger@example.jp")


def test_local_password_path(tmp_path, secret_hash):
    users = roles.load_users(write(tmp_path / "users.toml", f'[users.Analyst]\npassword_hash = "{secret_hash}"\n'))
    assert roles.authenticate(users, "analyst", "つながり-2025") == "analyst"
    assert roles.authenticate(users, " ANALYST ", "つながり-2025") == "analyst"
    assert roles.authenticate(users, "analyst", "wrong") is None
    assert roles.authenticate(users, "nobody", "つながり-2025") is None


def test_plain_text_passwords_are_refused(tmp_path):
    with pytest.raises(RoleConfigError) as failure:
        roles.load_users(write(tmp_path / "users.toml", '[users.a]\npassword_hash = "hunter2"\n'))
    assert "must be an argon2 hash, never plain text" in str(failure.value)


def test_sign_in_panel_local_accounts(sample_warehouse, tmp_path, monkeypatch, secret_hash):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))  # the sign-in is audited
    monkeypatch.setenv("TSUNAGARI_ROLES", str(write(tmp_path / "roles.toml", ROLES)))
    monkeypatch.setenv(
        "TSUNAGARI_LOCAL_USERS", str(write(tmp_path / "u.toml", f'[users.analyst]\npassword_hash = "{secret_hash}"\n'))
    )
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


# --- a malformed role or account file fails safe (issue 17, finding 9) ----------------------------

BROKEN_ROLES = {
    "toml_syntax": '[[identity]\nid = "tester"\nrole = "admin"\n',
    "not_a_list": 'identity = "tester"\n',
    "entry_not_a_table": 'identity = ["tester"]\n',
    "id_not_text": '[[identity]]\nid = 3\nrole = "admin"\n',
    "unknown_role": '[[identity]]\nid = "tester"\nrole = "root"\n',
}
BROKEN_USERS = {
    "toml_syntax": "[users.tester\npassword_hash = 1\n",
    "users_not_a_table": 'users = ["tester"]\n',
    "entry_not_a_table": '[users]\ntester = "hunter2"\n',
    "hash_not_text": "[users.tester]\npassword_hash = 3\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN_ROLES))
def test_every_malformed_role_file_is_a_role_config_error(tmp_path, case):
    with pytest.raises(RoleConfigError) as failure:
        load_roles(write(tmp_path / "roles.toml", BROKEN_ROLES[case]))
    assert str(tmp_path / "roles.toml") in str(failure.value)


@pytest.mark.parametrize("case", sorted(BROKEN_USERS))
def test_every_malformed_account_file_is_a_role_config_error(tmp_path, case):
    with pytest.raises(RoleConfigError) as failure:
        roles.load_users(write(tmp_path / "users.toml", BROKEN_USERS[case]))
    assert str(tmp_path / "users.toml") in str(failure.value)


def test_a_file_that_is_not_utf8_is_a_role_config_error(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_bytes('[[identity]]\nid = "座間"\nrole = "admin"\n'.encode("cp932"))
    with pytest.raises(RoleConfigError, match="not UTF-8"):
        load_roles(path)


def page_text(at: AppTest) -> str:
    """Every markdown, caption, alert and exception text of a rendered app."""
    parts = [el.value for kind in ("markdown", "caption", "error", "warning", "info", "title") for el in at.get(kind)]
    parts += [str(el.value) + str(getattr(el, "stack_trace", "")) for el in at.exception]
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("broken", "text"),
    [
        ("roles", BROKEN_ROLES["toml_syntax"]),
        ("roles", BROKEN_ROLES["unknown_role"]),
        ("users", BROKEN_USERS["toml_syntax"]),
    ],
)
def test_a_malformed_config_file_runs_every_page_as_public(
    sample_warehouse, tmp_path, monkeypatch, secret_hash, caplog, broken, text
):
    good_roles = '[[identity]]\nid = "tester"\nrole = "admin"\n'
    good_users = f'[users.tester]\npassword_hash = "{secret_hash}"\n'
    roles_file = write(tmp_path / "roles.toml", text if broken == "roles" else good_roles)
    users_file = write(tmp_path / "users.toml", text if broken == "users" else good_users)
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.setenv("TSUNAGARI_ROLES", str(roles_file))
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(users_file))
    broken_file = roles_file if broken == "roles" else users_file
    for signed_in in (False, True):
        at = AppTest.from_file(APP, default_timeout=30)
        if signed_in:
            at.session_state["local_user"] = "tester"  # an admin's session when the file breaks
        with caplog.at_level("ERROR", logger="dashboard.auth"):
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.title, "the public page drew nothing"
        shown = page_text(at) + "\n".join(el.value for el in at.sidebar.caption)
        assert "ログインの設定に誤りがある" in shown
        assert str(tmp_path) not in shown and "Traceback" not in shown
        assert len(at.sidebar.text_input) == 0  # no local sign-in while the files are broken
        # A staff page is not offered: the admin's session runs as public.
        with pytest.raises(Exception, match="quality.py"):
            at.switch_page("pages/quality.py")
        at.switch_page("pages/activity.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert str(tmp_path) not in page_text(at)
    assert any(str(broken_file) in record.getMessage() for record in caplog.records), (
        "the operator's log names the file"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["--server.port", "8599"], ["--client.showErrorDetails", "type", "--server.port", "8599"]),
        (["--client.showErrorDetails=full"], ["--client.showErrorDetails=full"]),
    ],
)
def test_the_launcher_shows_visitors_no_traceback_unless_told(monkeypatch, given, expected):
    import dashboard.__main__ as launcher

    seen = {}
    monkeypatch.setattr("sys.argv", ["python -m dashboard", *given])
    monkeypatch.setattr(launcher.cli, "main", lambda: seen.setdefault("argv", list(launcher.sys.argv)) and 0)
    with pytest.raises(SystemExit):
        launcher.main()
    assert seen["argv"] == ["streamlit", "run", str(launcher.APP), *expected]
