"""Local-account sessions that outlast a reload: a signed cookie token, one-time sign-in tickets, revocation.

A local sign-in ends with the browser visiting `<base>/_tsunagari/session?ticket=…` (a route the launcher
adds, dashboard/__main__.py): the ticket is signed, lives TICKET_SECONDS and is redeemed once; the route
answers with an HttpOnly, SameSite=Strict cookie holding a signed token (user, issued-at, expiry, random
session id) and sends the browser back to the page it came from, query string kept. Every script run
checks the token's signature, expiry and the revoked list; sign-out revokes the session id and a second
ticket clears the cookie. Both signatures use one secret: $TSUNAGARI_SESSION_SECRET, else a file generated
beside the operational store (0600). No streamlit here (the route runs outside any script).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer

from warehouse.operations import store_path

LOG = logging.getLogger(__name__)
COOKIE_NAME = "tsunagari_session"
ROUTE = "_tsunagari/session"
# The query parameter of Streamlit's <base>/auth/login naming the page an OIDC sign-in comes back to (the
# launcher keeps it with the sign-in's state, dashboard/__main__.py; dashboard/auth.py sets it).
NEXT_PARAM = "next"
HOURS_ENV = "TSUNAGARI_SESSION_HOURS"
SECRET_ENV = "TSUNAGARI_SESSION_SECRET"  # noqa: S105 - the variable's name, not a secret
DEFAULT_HOURS = 8.0
MAX_HOURS = 24 * 31  # a month: longer is a configuration mistake
TICKET_SECONDS = 60  # from the sign-in form's success to the browser's visit of the route
CLOCK_SKEW_S = 60  # a token issued this far in the future (another server's clock) still counts
SECRET_FILE = "session_secret"  # noqa: S105 - the file's name, not a secret
REVOKED_FILE = "revoked_sessions"
DIR_MODE, FILE_MODE = 0o700, 0o600
MIN_SECRET_CHARS = 32
START, END = "start", "end"


@dataclass(frozen=True)
class Session:
    """A signed-in local account: user name, random session id, issued and expiry times (Unix seconds)."""

    user: str
    sid: str
    issued: int
    expires: int

    def alive(self, now: float | None = None) -> bool:
        """Not expired and not revoked."""
        moment = _clock() if now is None else now
        return self.issued <= moment + CLOCK_SKEW_S and moment < self.expires and not is_revoked(self.sid)


@dataclass(frozen=True)
class Ticket:
    """A redeemed ticket: START (set the cookie for `session`) or END (clear it), and where to go next."""

    kind: str
    session: Session | None
    next_path: str


def _clock() -> float:
    """Now, in Unix seconds."""
    return time.time()


def data_dir() -> Path:
    """Folder of the session secret and the revoked list: the operational store's folder."""
    return store_path().parent


def lifetime_seconds() -> int:
    """Session lifetime from $TSUNAGARI_SESSION_HOURS (default 8 h); an unusable value falls back to the default."""
    raw = os.environ.get(HOURS_ENV, "").strip()
    if not raw:
        return int(DEFAULT_HOURS * 3600)
    try:
        hours = float(raw)
    except ValueError:
        hours = float("nan")
    if not 0 < hours <= MAX_HOURS:
        LOG.error("%s=%r is not a number of hours in (0, %d]; using %g", HOURS_ENV, raw, MAX_HOURS, DEFAULT_HOURS)
        hours = DEFAULT_HOURS
    return int(hours * 3600)


def _owner_only_dir(folder: Path) -> None:
    """Create the folder 0700 when missing (the operational store's folder mode)."""
    if not folder.is_dir():
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def secret() -> str:
    """The signing secret: $TSUNAGARI_SESSION_SECRET, else the data folder's session_secret (made 0600 once)."""
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters")
        return configured
    path = data_dir() / SECRET_FILE
    _owner_only_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_SECRET_CHARS:
        raise ValueError(f"{path}: the session secret must be at least {MIN_SECRET_CHARS} characters")
    return value


def _serializer(purpose: str) -> URLSafeSerializer:
    """HMAC-SHA256 signer of one purpose (a token cannot pass as a ticket, nor the other way round)."""
    return URLSafeSerializer(secret(), salt=f"tsunagari.{purpose}", signer_kwargs={"digest_method": hashlib.sha256})


def new_session(user: str, now: float | None = None) -> Session:
    """A fresh session for `user` from now for the configured lifetime, with a random 128-bit id."""
    issued = int(_clock() if now is None else now)
    return Session(user=user, sid=secrets.token_urlsafe(16), issued=issued, expires=issued + lifetime_seconds())


def _claims(session: Session) -> dict[str, object]:
    return {"u": session.user, "sid": session.sid, "iat": session.issued, "exp": session.expires}


def _session(claims: object) -> Session | None:
    """A Session from signed claims, or None when they are not the expected shape."""
    if not isinstance(claims, dict):
        return None
    user, sid, issued, expires = (claims.get(name) for name in ("u", "sid", "iat", "exp"))
    if not (isinstance(user, str) and user and isinstance(sid, str) and sid):
        return None
    if not (isinstance(issued, int) and isinstance(expires, int)):
        return None
    return Session(user=user, sid=sid, issued=issued, expires=expires)


def encode(session: Session) -> str:
    """The cookie value: the session's claims, signed."""
    return _serializer("session").dumps(_claims(session))


def decode(token: str | None, now: float | None = None) -> Session | None:
    """The session of a cookie value if its signature is good and it is neither expired nor revoked."""
    if not token:
        return None
    try:
        claims = _serializer("session").loads(token)
    except BadData:
        return None
    session = _session(claims)
    return session if session is not None and session.alive(now) else None


# --- revocation ----------------------------------------------------------------------------------


@contextmanager
def _revoked_list() -> Iterator[Path]:
    """The revoked list's path, under an exclusive lock on its lock file (writers only)."""
    path = data_dir() / REVOKED_FILE
    _owner_only_dir(path.parent)
    lock = path.with_name(path.name + ".lock")
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(descriptor)


def _read_revoked(path: Path) -> dict[str, int]:
    """Revoked session id → its expiry (Unix seconds), from lines "<sid> <expiry>"."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return {}
    revoked = {}
    for line in text.splitlines():
        sid, _, expires = line.partition(" ")
        if sid and expires.isdigit():
            revoked[sid] = int(expires)
    return revoked


_cache_lock = threading.Lock()
_cache: tuple[tuple[str, int, int, int], frozenset[str]] | None = None


def revoked_ids() -> frozenset[str]:
    """Ids of revoked sessions, re-read when the file changes (a stat per call otherwise)."""
    global _cache
    path = data_dir() / REVOKED_FILE
    try:
        info = path.stat()
    except FileNotFoundError:
        return frozenset()
    stamp = (str(path), info.st_ino, info.st_mtime_ns, info.st_size)
    with _cache_lock:
        if _cache is not None and _cache[0] == stamp:
            return _cache[1]
        ids = frozenset(_read_revoked(path))
        _cache = (stamp, ids)
        return ids


def is_revoked(sid: str) -> bool:
    """Whether sign-out has ended this session id."""
    return sid in revoked_ids()


def revoke(session: Session, now: float | None = None) -> None:
    """End a session for good: add its id to the revoked list (0600), dropping entries already expired."""
    moment = int(_clock() if now is None else now)
    with _revoked_list() as path:
        kept = {sid: expires for sid, expires in _read_revoked(path).items() if expires > moment}
        kept[session.sid] = session.expires
        # Written whole to a temporary file and renamed: a reader sees the old list or the new one.
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.writelines(f"{sid} {expires}\n" for sid, expires in kept.items())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)


# --- tickets -------------------------------------------------------------------------------------

_used_lock = threading.Lock()
_used_tickets: dict[str, float] = {}  # ticket nonce → when it stops being valid (Unix seconds)


def safe_path(next_path: str, base_path: str) -> str:
    """`next_path` when it is a path on this app (under the base path), else the app's start."""
    start = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    parts = urlsplit(next_path)
    if parts.scheme or parts.netloc or next_path.startswith("//") or "\\" in next_path:
        return start
    if not (parts.path + "/").startswith(start):
        return start
    return next_path


def ticket(kind: str, session: Session | None, next_path: str, now: float | None = None) -> str:
    """A signed one-time ticket of `kind` for the route: START carries the session's claims (not its token)."""
    if kind not in (START, END):
        raise ValueError(f"unknown ticket kind {kind!r}")
    moment = int(_clock() if now is None else now)
    claims: dict[str, object] = {
        "k": kind,
        "id": secrets.token_urlsafe(16),
        "until": moment + TICKET_SECONDS,
        "n": next_path,
    }
    if kind == START:
        if session is None:
            raise ValueError("a start ticket needs a session")
        claims["s"] = _claims(session)
    return _serializer("ticket").dumps(claims)


def redeem(value: str | None, now: float | None = None) -> Ticket | None:
    """The ticket if it is signed, unexpired and not used before (then it is used); else None."""
    if not value:
        return None
    moment = _clock() if now is None else now
    try:
        claims = _serializer("ticket").loads(value)
    except BadData:
        return None
    if not isinstance(claims, dict) or claims.get("k") not in (START, END):
        return None
    nonce, until, next_path = claims.get("id"), claims.get("until"), claims.get("n")
    if not (isinstance(nonce, str) and isinstance(until, int) and isinstance(next_path, str)) or moment >= until:
        return None
    session = None
    if claims["k"] == START:
        session = _session(claims.get("s"))
        if session is None or not session.alive(moment):
            return None
    with _used_lock:
        for old in [key for key, ends in _used_tickets.items() if ends <= moment]:
            del _used_tickets[old]
        if nonce in _used_tickets:
            return None
        _used_tickets[nonce] = until
    return Ticket(kind=claims["k"], session=session, next_path=next_path)


def cookie_max_age(session: Session, now: float | None = None) -> int:
    """Seconds the cookie should live: until the session's expiry."""
    moment = _clock() if now is None else now
    return max(0, int(session.expires - moment))
