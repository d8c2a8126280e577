"""Sign-in safety (issue 17, findings 4 and 6): failed local sign-ins are throttled per user name and per
client in the operational store and audited; signing out ends the session's state."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from warehouse import operations as ops
from warehouse.query import Viewer

NOW = dt.datetime(2025, 4, 10, 1, 0, tzinfo=dt.UTC)
CLIENT = "203.0.113.7"
PASSWORD = "つながり-2025"


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
    for attempt in range(free):
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
    second = ops.record_sign_in_failure("admin", CLIENT, "wrong_password", known_user=True, path=path, now=seconds(first))
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
        assert ops.record_sign_in_failure(f"guess{number}", CLIENT, "wrong_password", known_user=False, path=path, now=NOW) == 0
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
        ("sign_in_failed", "admin", "public", {"method": "local", "reason": "wrong_password", "client": CLIENT, "known_user": True}),
        ("sign_in_failed", None, "public", {"method": "local", "reason": "wrong_password", "client": CLIENT, "known_user": False}),
        ("sign_in", "admin", "admin", {"method": "local", "client": CLIENT}),
    ]
    # A password typed into the name field is nowhere in the store, not even in the throttle table.
    for member in (path, path.with_name(path.name + "-wal")):
        assert not member.exists() or PASSWORD.encode() not in member.read_bytes()
    with pytest.raises(ValueError, match="unknown sign-in failure reason"):
        ops.record_sign_in_failure("admin", CLIENT, "typo", known_user=True, path=path, now=NOW)
