"""Sign-in safety (issue 17, findings 4 and 6): failed local sign-ins are throttled per user name and per
client in the operational store and audited; signing out ends the session's state."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from common.roles import Viewer
from warehouse import operations as ops

NOW = dt.datetime(2025, 4, 10, 1, 0, tzinfo=dt.UTC)
CLIENT = "203.0.113.7"
PASSWORD = "つながり-2025"
WRONG = "まちがい-7Qz"


def seconds(n: float) -> dt.datetime:
    """NOW plus n seconds."""
    return NOW + dt.timedelta(seconds=n)


def audit(path) -> list[dict]:
    """The audit rows with their detail decoded."""
    return [row | {"detail": json.loads(row["detail"])} for row in ops.read_audit(path).to_dicts()]


# --- the throttle in the store ---------------------------------------------------------------------


def test_failures_of_one_name_lock_it_for_a_growing_time(tmp_path):
    path = tmp_path / "operations.sqlite"
    free = ops.SIGN_IN_FREE_FAILURES["user"]
    for _attempt in range(free):
        assert ops.sign_in_wait("admin", CLIENT, path=path, now=NOW) == 0
        assert ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=NOW) == 0
    first = ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=NOW)
    assert first == ops.SIGN_IN_FIRST_LOCK_S
    # A reload, another tab, another client: the name stays locked (the count lives in the store).
    assert ops.sign_in_wait("ADMIN ", "198.51.100.1", path=path, now=seconds(1)) == first - 1
    # Attempts while locked are audited but do not lengthen the lock.
    ops.record_sign_in_failure("admin", CLIENT, "locked", known_user=True, path=path, now=seconds(1))
    assert ops.sign_in_wait("admin", CLIENT, path=path, now=seconds(1)) == first - 1
    # After the lock, the next wrong password locks twice as long.
    second = ops.record_sign_in_failure(
        "admin", CLIENT, "wrong_password", known_user=True, path=path, now=seconds(first)
    )
    assert second == 2 * first
    # Other names are not locked by this one.
    assert ops.sign_in_wait("analyst", "198.51.100.1", path=path, now=seconds(first)) == 0


def test_the_lock_has_a_ceiling_and_failures_are_forgotten_after_a_quiet_hour(tmp_path):
    path = tmp_path / "operations.sqlite"
    free = ops.SIGN_IN_FREE_FAILURES["user"]
    assert [ops.sign_in_lock_seconds("user", n) for n in range(free, free + 4)] == [0, 30, 60, 120]
    assert ops.sign_in_lock_seconds("user", 1_000) == ops.SIGN_IN_MAX_LOCK_S
    for _ in range(free + 1):
        ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=NOW)
    later = seconds(ops.SIGN_IN_FORGET_S + 1)
    assert ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=later) == 0


def test_one_client_trying_many_names_is_locked(tmp_path):
    path = tmp_path / "operations.sqlite"
    free = ops.SIGN_IN_FREE_FAILURES["client"]
    for number in range(free):
        assert (
            ops.record_sign_in_failure(f"guess{number}", CLIENT, "wrong_password", known_user=False, path=path, now=NOW)
            == 0
        )
    assert ops.record_sign_in_failure("guess-last", CLIENT, "wrong_password", known_user=False, path=path, now=NOW) > 0
    assert ops.sign_in_wait("anyone-else", CLIENT, path=path, now=seconds(1)) > 0
    assert ops.sign_in_wait("anyone-else", "198.51.100.1", path=path, now=seconds(1)) == 0


def test_a_success_clears_the_name_but_not_the_client(tmp_path):
    path = tmp_path / "operations.sqlite"
    for _ in range(ops.SIGN_IN_FREE_FAILURES["user"] - 1):
        ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=NOW)
    ops.record_sign_in(Viewer("admin", None, "admin"), "local", client=CLIENT, path=path, now=NOW)
    # The count starts again: as many free failures as before.
    for _ in range(ops.SIGN_IN_FREE_FAILURES["user"]):
        assert ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=NOW) == 0


def test_failed_sign_ins_are_audited_without_the_password_or_unknown_names(tmp_path):
    path = tmp_path / "operations.sqlite"
    ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=NOW)
    ops.record_sign_in_failure(PASSWORD, CLIENT, "wrong_password", known_user=False, path=path, now=NOW)
    ops.record_sign_in(Viewer("admin", None, "admin"), "local", client=CLIENT, path=path, now=NOW)
    found = audit(path)
    assert [(r["action"], r["identity"], r["role"], r["detail"]) for r in found] == [
        (
            "sign_in_failed",
            "admin",
            "public",
            {"method": "local", "reason": "wrong_password", "client": CLIENT, "known_user": True},
        ),
        (
            "sign_in_failed",
            None,
            "public",
            {"method": "local", "reason": "wrong_password", "client": CLIENT, "known_user": False},
        ),
        ("sign_in", "admin", "admin", {"method": "local", "client": CLIENT}),
    ]
    # A password typed into the name field is nowhere in the store, not even in the throttle table.
    for member in (path, path.with_name(path.name + "-wal")):
        assert not member.exists() or PASSWORD.encode() not in member.read_bytes()
    with pytest.raises(ValueError, match="unknown sign-in failure reason"):
        ops.record_sign_in_failure("admin", CLIENT, "typo", known_user=True, path=path, now=NOW)


# --- the sign-in panel (AppTest) -------------------------------------------------------------------

APP = "../dashboard/app.py"
ACCOUNTS = {"admin": ("admin", None), "zama": ("city_manager", "14216")}


@pytest.fixture(scope="module")
def password_hash():
    """One argon2 hash for every account (hashing is deliberately slow)."""
    from dashboard import roles

    return roles.hash_password(PASSWORD)


@pytest.fixture()
def app(sample_warehouse, tmp_path, monkeypatch, password_hash):
    """The app with two local accounts (an admin, 座間市's city manager) and an empty operational store."""
    roles_text = "".join(
        f'[[identity]]\nid = "{name}"\nrole = "{role}"\n' + (f'city = "{city}"\n' if city else "")
        for name, (role, city) in ACCOUNTS.items()
    )
    (tmp_path / "roles.toml").write_text(roles_text, encoding="utf-8")
    users = "".join(f'[users.{name}]\npassword_hash = "{password_hash}"\n' for name in ACCOUNTS)
    (tmp_path / "users.toml").write_text(users, encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.setenv("TSUNAGARI_ROLES", str(tmp_path / "roles.toml"))
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(tmp_path / "users.toml"))
    monkeypatch.delenv("TSUNAGARI_MANAGER", raising=False)
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=60)


def sign_in(at, name: str, password: str = PASSWORD):
    """Fill in and submit the sidebar's local sign-in form."""
    at.sidebar.text_input(key="local_sign_in_user").input(name)
    at.sidebar.text_input(key="local_sign_in_password").input(password)
    next(b for b in at.sidebar.button if b.label in ("ログイン", "Sign in")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def signed_in_as(at) -> str:
    """The sidebar's who-is-signed-in line."""
    marks = ("ログイン中", "Signed in", "公開モード", "Public mode")
    return next(c.value for c in at.sidebar.caption if any(mark in c.value for mark in marks))


def test_signing_out_forgets_everything_the_admin_left_in_the_session(app, tmp_path):
    at = app.run()
    at.sidebar.radio(key="lang").set_value("en").run()
    sign_in(at, "admin")
    assert signed_in_as(at) == "Signed in as admin (Administrator)"
    # What the admin's work leaves behind: データ取込's job and process (dashboard/pages/intake.py keys),
    # an upload's widget key, and a key some page adds in future.
    at.session_state["intake_job"] = str(tmp_path / "jobs" / "admin-dry-run")
    at.session_state["intake_proc"] = "the admin's worker process"
    at.session_state["intake_file_distribution"] = "配布リスト.xlsx"
    at.session_state["a_key_added_next_year"] = "someone's phone number"
    at.run()
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert signed_in_as(at).startswith("Public mode")
    left = set(at.session_state)
    assert not {"intake_job", "intake_proc", "intake_file_distribution", "a_key_added_next_year"} & left
    assert at.session_state["lang"] == "en", "the language is a preference, not personal"
    # 座間市's manager signs in in the same tab and finds none of it.
    sign_in(at, "zama")
    assert signed_in_as(at) == "Signed in as zama (City manager)"
    assert "intake_job" not in at.session_state and "a_key_added_next_year" not in at.session_state
    assert [(r["action"], r["identity"]) for r in audit(tmp_path / "operations.sqlite")] == [
        ("sign_in", "admin"),
        ("sign_out", "admin"),
        ("sign_in", "zama"),
    ]


def test_a_new_identity_or_role_in_a_running_session_starts_it_afresh(app, tmp_path, monkeypatch):
    at = app
    at.session_state["local_user"] = "admin"
    at.run()
    at.session_state["intake_job"] = "admin's job"
    at.run()
    assert "intake_job" in at.session_state, "the state stays while the viewer stays"
    # Another identity arrives in the session (e.g. a sign-in that lasts, made in another tab).
    at.session_state["local_user"] = "zama"
    at.run()
    assert "intake_job" not in at.session_state
    assert signed_in_as(at) == "zama（市担当）でログイン中"
    # The same identity with another role (roles.toml edited): afresh too, still signed in.
    at.session_state["intake_job"] = "zama's job"
    at.run()
    demoted = tmp_path / "roles-demoted.toml"
    demoted.write_text('[[identity]]\nid = "zama"\nrole = "analyst"\n', encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_ROLES", str(demoted))
    at.run()
    assert "intake_job" not in at.session_state
    assert signed_in_as(at) == "zama（分析担当）でログイン中"


def test_twelve_wrong_passwords_then_the_right_one_is_refused(app, tmp_path):
    at = app.run()
    for _ in range(12):
        sign_in(at, "admin", WRONG)
    sign_in(at, "admin")
    assert signed_in_as(at).startswith("公開モード"), "the right password must not get through a lock"
    assert any("秒後まで受け付けません" in error.value for error in at.sidebar.error)
    # A reload is a new session: the lock is in the store, not in the session.
    again = sign_in(type(app).from_file(APP, default_timeout=60).run(), "admin")
    assert signed_in_as(again).startswith("公開モード")
    found = audit(tmp_path / "operations.sqlite")
    failed = [r for r in found if r["action"] == "sign_in_failed"]
    assert len(failed) == 14 and not [r for r in found if r["action"] == "sign_in"]
    free = ops.SIGN_IN_FREE_FAILURES["user"]
    assert [r["detail"]["reason"] for r in failed] == ["wrong_password"] * (free + 1) + ["locked"] * (13 - free)
    assert all(r["identity"] == "admin" and r["detail"]["client"] == "local" for r in failed)
    for member in (tmp_path / "operations.sqlite", tmp_path / "operations.sqlite-wal"):
        assert not member.exists() or WRONG.encode() not in member.read_bytes()


def test_an_oidc_sign_out_forgets_the_session_too(app, tmp_path, monkeypatch):
    roles_file = tmp_path / "roles-oidc.toml"
    roles_file.write_text('[[identity]]\nid = "admin@city.example.jp"\nrole = "admin"\n', encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_ROLES", str(roles_file))
    at = app
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}
    at.user = {"is_logged_in": True, "email": "admin@city.example.jp"}
    at.run()
    assert signed_in_as(at) == "admin@city.example.jp（管理者）でログイン中"
    at.session_state["intake_job"] = "the admin's job"
    at.session_state["a_key_added_next_year"] = "someone's phone number"
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "intake_job" not in at.session_state and "a_key_added_next_year" not in at.session_state
    assert signed_in_as(at).startswith("公開モード")
    assert [(r["action"], r["identity"], r["target"]) for r in audit(tmp_path / "operations.sqlite")] == [
        ("sign_in", "admin@city.example.jp", "oidc"),
        ("sign_out", "admin@city.example.jp", "oidc"),
    ]


# --- sign-ins that last (issue 21): the cookie's session in new sessions -------------------------


def with_cookie(app, monkeypatch, token: str | None):
    """A fresh AppTest of the app whose browser sends `token` as the session cookie."""
    from dashboard import auth

    monkeypatch.setattr(auth, "_cookie_token", lambda: token)
    return type(app).from_file(APP, default_timeout=60)


def test_a_sign_in_lasts_into_new_sessions_until_sign_out_revokes_it(app, tmp_path, monkeypatch):
    from dashboard import auth, sessions

    at = sign_in(app.run(), "zama")
    session = at.session_state[auth.SESSION_KEY]
    assert session.user == "zama" and session.expires - session.issued == 8 * 3600
    token = sessions.encode(session)  # what the session route puts in the cookie
    # A reload or a new tab: a new session with the cookie is signed in, role from roles.toml.
    tab = with_cookie(app, monkeypatch, token).run()
    assert signed_in_as(tab) == "zama（市担当）でログイン中"
    other_tab = with_cookie(app, monkeypatch, token).run()
    assert signed_in_as(other_tab) == "zama（市担当）でログイン中"
    tab.sidebar.button(key="sign_out").click().run()
    assert signed_in_as(tab).startswith("公開モード")
    # The old cookie value replayed in a new session is refused; the other open tab is public at its next run.
    assert signed_in_as(with_cookie(app, monkeypatch, token).run()).startswith("公開モード")
    assert signed_in_as(other_tab.run()).startswith("公開モード")
    assert [(r["action"], r["identity"]) for r in audit(tmp_path / "operations.sqlite")] == [
        ("sign_in", "zama"),
        ("sign_out", "zama"),
    ]


def test_forged_expired_and_orphaned_cookies_are_refused(app, tmp_path, monkeypatch):
    from dashboard import sessions

    now = sessions._clock()
    forged = sessions.encode(sessions.new_session("zama", now=now))
    payload, signature = forged.rsplit(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) | {"u": "admin"}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + "." + signature
    expired = sessions.encode(sessions.new_session("admin", now=now - 9 * 3600))
    unknown = sessions.encode(sessions.new_session("nobody", now=now))
    for token in (forged, expired, unknown):
        assert signed_in_as(with_cookie(app, monkeypatch, token).run()).startswith("公開モード"), token
    # A session that expires while its tab is open is public from the next run on.
    monkeypatch.setenv(sessions.HOURS_ENV, "0.001")  # 3.6 s
    short = sessions.new_session("admin")
    at = with_cookie(app, monkeypatch, sessions.encode(short)).run()
    assert signed_in_as(at).startswith("admin（")
    at.session_state["intake_job"] = "the admin's job"
    monkeypatch.setattr(sessions, "_clock", lambda: short.expires + 1)
    at.run()
    assert signed_in_as(at).startswith("公開モード") and "intake_job" not in at.session_state


def test_every_page_prompt_shows_the_pages_own_title_in_both_languages():
    """The sign-in prompt at a staff page's URL is titled as the page itself would be (registry title_key)."""
    from pathlib import Path

    from dashboard.i18n import catalogue
    from dashboard.registry import PAGES

    folder = Path(__file__).resolve().parent.parent / "dashboard"
    for spec in PAGES:
        assert f'st.title(t("{spec.title_key}"))' in (folder / spec.script).read_text(encoding="utf-8"), spec.script
        assert all(spec.title_key in catalogue(lang) for lang in ("ja", "en")), spec.title_key
