"""Lasting local sign-ins (issue 21): the session token and the one-time tickets of dashboard/sessions.py.

A token is accepted only with a good signature, inside its lifetime and while its session id is not revoked;
a ticket only once, within TICKET_SECONDS. The secret and the revoked list are owner-only files.
"""

from __future__ import annotations

import base64
import json
import stat

import pytest

from dashboard import sessions

NOW = 1_744_246_800  # 2025-04-10 01:00 UTC, Unix seconds
HOUR = 3600


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """An empty data folder (the operational store's) and no configured secret or lifetime."""
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "var" / "operations.sqlite"))
    monkeypatch.delenv(sessions.SECRET_ENV, raising=False)
    monkeypatch.delenv(sessions.HOURS_ENV, raising=False)
    return tmp_path / "var"


def test_a_token_carries_user_times_and_a_random_id_and_round_trips():
    session = sessions.new_session("admin", now=NOW)
    assert (session.user, session.issued, session.expires) == ("admin", NOW, NOW + 8 * HOUR)
    assert len(session.sid) >= 20 and session.sid != sessions.new_session("admin", now=NOW).sid
    assert sessions.decode(sessions.encode(session), now=NOW + 1) == session


def test_the_lifetime_is_configurable_and_a_bad_value_falls_back(monkeypatch, caplog):
    monkeypatch.setenv(sessions.HOURS_ENV, "0.5")
    assert sessions.lifetime_seconds() == 1800
    for bad in ("0", "-3", "eight", "nan", "100000"):
        monkeypatch.setenv(sessions.HOURS_ENV, bad)
        assert sessions.lifetime_seconds() == 8 * HOUR, bad
    assert sessions.HOURS_ENV in caplog.text


def test_an_expired_token_is_refused():
    session = sessions.new_session("admin", now=NOW)
    token = sessions.encode(session)
    assert sessions.decode(token, now=session.expires - 1) == session
    assert sessions.decode(token, now=session.expires) is None
    # Nor one issued in the future beyond the allowed clock skew.
    assert sessions.decode(token, now=NOW - sessions.CLOCK_SKEW_S - 1) is None


def _tampered(token: str, **changes) -> str:
    """The token with its payload changed and the old signature kept."""
    payload, signature = token.rsplit(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps(claims | changes, separators=(",", ":")).encode()).rstrip(b"=")
    return forged.decode() + "." + signature


def test_a_forged_token_is_refused(monkeypatch):
    session = sessions.new_session("analyst", now=NOW)
    token = sessions.encode(session)
    assert sessions.decode(_tampered(token), now=NOW) == session, "the helper must keep an unchanged payload valid"
    assert sessions.decode(_tampered(token, u="admin"), now=NOW) is None
    assert sessions.decode(_tampered(token, exp=NOW + 1000 * HOUR), now=NOW) is None
    assert sessions.decode(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), now=NOW) is None
    assert sessions.decode("", now=NOW) is None and sessions.decode("garbage", now=NOW) is None
    # A ticket is signed for another purpose: it does not pass as a token.
    assert sessions.decode(sessions.ticket(sessions.START, session, "/", now=NOW), now=NOW) is None
    # Signed with another secret (e.g. a copied token from another installation).
    monkeypatch.setenv(sessions.SECRET_ENV, "s" * 40)
    other = sessions.encode(session)
    monkeypatch.setenv(sessions.SECRET_ENV, "t" * 40)
    assert sessions.decode(other, now=NOW) is None
    assert sessions.decode(sessions.encode(session), now=NOW) == session


def test_a_revoked_session_is_refused_and_only_that_one(data_dir):
    ended, other = sessions.new_session("admin", now=NOW), sessions.new_session("admin", now=NOW)
    token = sessions.encode(ended)
    sessions.revoke(ended, now=NOW + 10)
    assert sessions.decode(token, now=NOW + 11) is None, "the old cookie value is replayed after sign-out"
    assert sessions.decode(sessions.encode(other), now=NOW + 11) == other
    revoked = data_dir / sessions.REVOKED_FILE
    assert stat.S_IMODE(revoked.stat().st_mode) == 0o600
    # Entries are dropped once their token has expired anyway (the list does not grow for ever).
    sessions.revoke(other, now=ended.expires + 1)
    assert ended.sid not in revoked.read_text() and other.sid in revoked.read_text()


def test_the_secret_is_generated_owner_only_once_or_taken_from_the_environment(data_dir, monkeypatch):
    first = sessions.secret()
    path = data_dir / sessions.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert sessions.secret() == first and len(first) >= sessions.MIN_SECRET_CHARS
    monkeypatch.setenv(sessions.SECRET_ENV, "x" * 40)
    assert sessions.secret() == "x" * 40
    monkeypatch.setenv(sessions.SECRET_ENV, "short")
    with pytest.raises(ValueError, match=sessions.SECRET_ENV):
        sessions.secret()


def test_a_ticket_is_redeemed_once_and_only_while_fresh():
    session = sessions.new_session("admin", now=NOW)
    value = sessions.ticket(sessions.START, session, "/data?x_table=organization", now=NOW)
    found = sessions.redeem(value, now=NOW + 5)
    assert found == sessions.Ticket(sessions.START, session, "/data?x_table=organization")
    assert sessions.redeem(value, now=NOW + 6) is None, "a ticket is one-time"
    late = sessions.ticket(sessions.START, session, "/", now=NOW)
    assert sessions.redeem(late, now=NOW + sessions.TICKET_SECONDS) is None
    assert sessions.redeem(_tampered(sessions.ticket(sessions.END, None, "/", now=NOW), k="start"), now=NOW) is None
    # A ticket of a session revoked before the browser used it sets no cookie.
    revoked = sessions.ticket(sessions.START, session, "/", now=NOW)
    sessions.revoke(session, now=NOW)
    assert sessions.redeem(revoked, now=NOW + 1) is None
    assert sessions.redeem(sessions.ticket(sessions.END, None, "/", now=NOW), now=NOW + 1).kind == sessions.END


def test_the_way_back_stays_on_this_app():
    assert (
        sessions.safe_path("/tsunagari/data?x_table=organization", "/tsunagari")
        == "/tsunagari/data?x_table=organization"
    )
    assert sessions.safe_path("/tsunagari/", "tsunagari") == "/tsunagari/"
    assert sessions.safe_path("/data?x=1", "") == "/data?x=1"
    for outside in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/other/data", "data"):
        assert sessions.safe_path(outside, "/tsunagari") == "/tsunagari/", outside
    assert sessions.safe_path("https://evil.example/", "") == "/"
