"""Sign-in throttling: failed local sign-ins counted per user name and per client, with a growing lock.

Counted in the store, so a reload or a new tab does not reset them. After the free failures each further
one locks that name or client for a growing time; attempts while locked are refused without checking the
password (no argon2 work) and are audited, but do not lengthen the lock. A success clears its user name's
count; a count is forgotten after a quiet period. sign_in_throttle is a counter, not history: the history
of every attempt is audit_event ('sign_in_failed', 'sign_in'). User names are kept as SHA-256 digests only
(a password typed into the name field must not be stored).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from common.roles import Viewer
from warehouse.operations.audit import append_audit
from warehouse.operations.store import has_table, read_transaction, store_path, utc_now, utc_text, write_transaction

# Free failures before the first lock: per user name, and per client (several staff may share an address).
SIGN_IN_FREE_FAILURES = {"user": 5, "client": 20}
SIGN_IN_FIRST_LOCK_S = 30  # the first lock, doubled by each further failure (seconds)
SIGN_IN_MAX_LOCK_S = 900  # the longest lock (seconds)
SIGN_IN_FORGET_S = 3600  # failures of a name or client are forgotten after this long without one (seconds)
SIGN_IN_FAILURE_REASONS = ("wrong_password", "locked")


def _throttle_keys(user_name: str, client: str) -> list[tuple[str, str]]:
    """(scope, key) of an attempt: the digest of the lower-cased user name, and the client address."""
    digest = hashlib.sha256(user_name.strip().lower().encode("utf-8")).hexdigest()
    return [("user", digest), ("client", client)]


def sign_in_lock_seconds(scope: str, failures: int) -> int:
    """How long a scope is locked after its n-th failure in a row (0 while failures are still free)."""
    excess = failures - SIGN_IN_FREE_FAILURES[scope]
    if excess <= 0:
        return 0
    return min(SIGN_IN_MAX_LOCK_S, SIGN_IN_FIRST_LOCK_S * 2 ** min(excess - 1, 16))


def sign_in_wait(user_name: str, client: str, *, path: Path | None = None, now: dt.datetime | None = None) -> float:
    """Seconds until this user name from this client may try again (0: now)."""
    moment = utc_now(now)
    with read_transaction(path or store_path()) as con:
        if con is None or not has_table(con, "sign_in_throttle"):
            return 0.0
        waits = [0.0]
        for scope, key in _throttle_keys(user_name, client):
            row = con.execute(
                "select locked_until from sign_in_throttle where scope = ? and key = ?", [scope, key]
            ).fetchone()
            if row is not None and row[0] is not None:
                waits.append((dt.datetime.fromisoformat(row[0]) - moment).total_seconds())
    return max(waits)


def record_sign_in_failure(
    user_name: str,
    client: str,
    reason: str,
    *,
    known_user: bool,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> float:
    """Audit a failed sign-in and, for a wrong password, count it; returns the seconds until the next try.

    The audit row names the account only when it exists (an unknown name may be a mistyped password)
    and never holds the password.
    """
    if reason not in SIGN_IN_FAILURE_REASONS:
        raise ValueError(f"unknown sign-in failure reason {reason!r}")
    moment = utc_now(now)
    wait = 0
    with write_transaction(path or store_path()) as con:
        for scope, key in _throttle_keys(user_name, client):
            row = con.execute(
                "select failures, last_failure_at, locked_until from sign_in_throttle where scope = ? and key = ?",
                [scope, key],
            ).fetchone()
            if reason == "wrong_password":
                recent = (
                    row is not None and (moment - dt.datetime.fromisoformat(row[1])).total_seconds() < SIGN_IN_FORGET_S
                )
                failures = row[0] + 1 if recent else 1
                lock = sign_in_lock_seconds(scope, failures)
                locked_until = utc_text(moment + dt.timedelta(seconds=lock)) if lock else None
                con.execute(
                    "insert into sign_in_throttle (scope, key, failures, last_failure_at, locked_until) "
                    "values (?, ?, ?, ?, ?) on conflict (scope, key) do update set failures = excluded.failures, "
                    "last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
                    [scope, key, failures, utc_text(moment), locked_until],
                )
                wait = max(wait, lock)
            elif row is not None and row[2] is not None:
                wait = max(wait, (dt.datetime.fromisoformat(row[2]) - moment).total_seconds())
        who = Viewer(identity=user_name.strip().lower() if known_user else None)
        append_audit(
            con,
            who,
            "sign_in_failed",
            "local",
            {"method": "local", "reason": reason, "client": client, "known_user": known_user},
            moment,
        )
    return float(wait)


def record_sign_in(
    viewer: Viewer,
    method: str,
    *,
    client: str | None = None,
    sign_in_id: str | None = None,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> int | None:
    """Audit a successful sign-in and forget its user name's failures; returns the audit event id.

    sign_in_id: a digest naming the ID token of an OIDC sign-in (kept as detail.id_token_digest). Every reload
    and new tab presents the same token again; only its first presentation is a sign-in, so a token already
    audited adds no row (None).
    """
    moment = utc_now(now)
    with write_transaction(path or store_path()) as con:
        if sign_in_id is not None:
            seen = con.execute(
                "select 1 from audit_event where action = 'sign_in' and target = ? and identity is ? "
                "and json_extract(detail, '$.id_token_digest') = ? limit 1",
                [method, viewer.identity, sign_in_id],
            ).fetchone()
            if seen is not None:
                return None
        if viewer.identity:
            scope, key = _throttle_keys(viewer.identity, "")[0]
            con.execute("delete from sign_in_throttle where scope = ? and key = ?", [scope, key])
        detail = (
            {"method": method}
            | ({"client": client} if client is not None else {})
            | ({"id_token_digest": sign_in_id} if sign_in_id is not None else {})
        )
        return append_audit(con, viewer, "sign_in", method, detail, moment)
