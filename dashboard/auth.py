"""Sign-in and the current viewer: OIDC when configured, local accounts as a fallback, else public.

A local sign-in lasts beyond the browser session: it ends with the browser visiting the launcher's session
route, which sets a signed, HttpOnly cookie (dashboard/sessions.py); a new tab or a reload adopts the
cookie's session, and every run drops a session that expired, was revoked by a sign-out or whose account
is gone. The role comes from config/roles.toml on every run, never from the cookie.

A session belongs to the identity signed in to it. Signing out (local or OIDC) audits it, forgets every
session key except the non-personal preferences in KEEP_KEYS, and has the browser start a new session
(st.logout; the session route for a local account); a change of identity or role inside a session
(guard_session) forgets the same keys. So a key a page adds later (a job, an upload, a selection) is
forgotten without being listed anywhere.
Failed local sign-ins are throttled per user name and per client in the operational store.

An OIDC sign-in (st.login) starts from the button through follow_sign_in, which sends the browser to
Streamlit's /auth/login with the page and query as `next` (the launcher brings it back there). The role is
the ID token's e-mail's in the role file, none for an e-mail the provider marks unverified; the audit log
gets one sign-in per ID token, however many sessions (reloads, tabs) present it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit import config
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.url_util import make_url_path
from streamlit.user_info import generate_login_redirect_url

from common.roles import PUBLIC, RoleConfigError, Viewer, load_roles, oidc_viewer, roles_path, users_path, viewer_for
from dashboard import roles, sessions, state
from dashboard.i18n import DEFAULT_LANGUAGE, LANGUAGES
from warehouse import operations

LOG = logging.getLogger(__name__)
LOCAL_USER_KEY = "local_user"
# The lasting session (sessions.Session) the local user signed in with, in this tab or through the cookie.
SESSION_KEY = "local_session"
# Set by a sign-in: the browser is still to visit the session route (follow_sign_in).
PENDING_COOKIE_KEY = "session_cookie_pending"
# Set once this session's OIDC ID token is in the audit log (the store is asked once per session, not per run).
SIGN_IN_AUDITED_KEY = "sign_in_audited"
# Set by the OIDC sign-in button: the browser is still to go to the provider (follow_sign_in).
PENDING_OIDC_KEY = "oidc_sign_in_pending"

# Who the session's state belongs to: (identity, role, city) of the viewer at the last run.
OWNER_KEY = "session_owner"
# What survives a sign-out or a change of identity: language and city, and the city selectbox per language.
KEEP_KEYS = frozenset({state.LANG_KEY, state.CITY_KEY, *(f"{state.CITY_KEY}__{code}" for code in LANGUAGES)})
# Behind a reverse proxy every request comes from the proxy: the operator names the header carrying the
# visitor's address (e.g. X-Forwarded-For, set by their own proxy); otherwise the connection's address.
CLIENT_HEADER_ENV = "TSUNAGARI_CLIENT_HEADER"


def oidc_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (Streamlit's native OIDC sign-in)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


@st.cache_data(ttl=60, show_spinner=False)
def _roles(path: str, mtime: float) -> tuple[dict[str, Viewer], bool]:
    """Role mapping and whether the file is usable, re-read when the file changes."""
    try:
        return load_roles(Path(path)), True
    except RoleConfigError as error:
        _config_broken(error)
        return {}, False


@st.cache_data(ttl=60, show_spinner=False)
def _users(path: str, mtime: float) -> tuple[dict[str, str], bool]:
    """Local accounts and whether the file is usable, re-read when the file changes."""
    try:
        return roles.load_users(Path(path)), True
    except RoleConfigError as error:
        _config_broken(error)
        return {}, False


def _config_broken(error: RoleConfigError) -> None:
    """Tell the operator (server log, once per file version and minute) that everyone runs as public."""
    LOG.error("%s. Until it is fixed every visitor is public and local sign-in is off.", error)


def _stamp(path) -> tuple[str, float]:
    """Cache key of a config file: its path and modification time (0 when absent)."""
    return str(path), path.stat().st_mtime if path.is_file() else 0.0


def _config() -> tuple[dict[str, Viewer], dict[str, str], bool]:
    """Role mapping, local accounts (none with OIDC), and whether both files are usable."""
    mapping, roles_ok = _roles(*_stamp(roles_path()))
    if oidc_configured():
        return mapping, {}, roles_ok
    users, users_ok = _users(*_stamp(users_path()))
    return mapping, users, roles_ok and users_ok


def viewer() -> Viewer:
    """The viewer of this session; public unless signed in and mapped in config/roles.toml.

    A malformed role or account file makes everyone public (fail safe) rather than stopping the page.
    """
    mapping, _, usable = _config()
    if not usable:
        return PUBLIC
    if oidc_configured():
        if st.user.is_logged_in:
            return oidc_viewer(st.user.to_dict(), mapping)
        return PUBLIC
    return viewer_for(st.session_state.get(LOCAL_USER_KEY), mapping)


def clear_session() -> None:
    """Forget every key of this session except the non-personal preferences in KEEP_KEYS."""
    for key in list(st.session_state.keys()):
        if key not in KEEP_KEYS:
            del st.session_state[key]


def _cookie_token() -> str | None:
    """The session cookie's value as the browser sent it when this session connected."""
    return st.context.cookies.get(sessions.COOKIE_NAME)


def _cookie_session() -> sessions.Session | None:
    """The live session of the browser's session cookie (signature, expiry and revocation checked), if any."""
    return sessions.decode(_cookie_token())


def refresh_local_session() -> None:
    """Adopt the cookie's session in a session signed in to nothing; end one that expired, was revoked or lost its account."""
    if oidc_configured():
        return
    _, users, usable = _config()
    current = st.session_state.get(SESSION_KEY)
    if current is None:
        if not st.session_state.get(LOCAL_USER_KEY):
            adopted = _cookie_session()
            if adopted is not None and usable and adopted.user in users:
                st.session_state[SESSION_KEY] = adopted
                st.session_state[LOCAL_USER_KEY] = adopted.user
        return
    if not current.alive() or (usable and current.user not in users):
        # Signed out in another tab, past its lifetime, or the account was removed: public from this run on.
        st.session_state.pop(SESSION_KEY, None)
        st.session_state.pop(LOCAL_USER_KEY, None)


def guard_session() -> None:
    """Start the session's state afresh when its viewer changes (another identity, role or city).

    Run first in every script run. Going from anonymous public to a sign-in keeps the state: a public
    session holds nothing personal, and it is the same person.
    """
    refresh_local_session()
    current = viewer()
    owner = (current.identity, current.role, current.city_code)
    previous = st.session_state.get(OWNER_KEY)
    if previous is not None and tuple(previous) != owner and tuple(previous) != (None, PUBLIC.role, None):
        kept = {key: st.session_state[key] for key in (LOCAL_USER_KEY, SESSION_KEY) if st.session_state.get(key)}
        clear_session()
        st.session_state.update(kept)
    st.session_state[OWNER_KEY] = owner


def client_address() -> str:
    """The visitor's address for throttling: the operator's proxy header if configured, else the connection's."""
    header = os.environ.get(CLIENT_HEADER_ENV, "").strip()
    if header:
        forwarded = st.context.headers.get(header)
        if isinstance(forwarded, str) and forwarded.strip():
            return forwarded.split(",")[0].strip()
    # Streamlit gives no address for connections from this machine (nor in AppTest).
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "local"


def _base_path() -> str:
    """The sub-path the app is served under ("" at the root)."""
    return config.get_option("server.baseUrlPath") or ""


def _redirect(url: str) -> None:
    """Send the browser to `url` (a path on this server), as st.login and st.logout do."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    message = ForwardMsg()
    message.auth_redirect.url = url
    ctx.enqueue(message)


def _ticket_url(kind: str, session: sessions.Session | None, next_path: str) -> str:
    """The session route with a fresh one-time ticket."""
    route = make_url_path(_base_path(), sessions.ROUTE)
    return f"{route}?{urlencode({'ticket': sessions.ticket(kind, session, next_path)})}"


def _query() -> str:
    """The current query string (repeated keys kept), with a leading "?" unless empty."""
    pairs = [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]
    return "?" + urlencode(pairs) if pairs else ""


def _sign_out(current: Viewer, method: str) -> None:
    """on_click of sign-out: audit it, end a lasting session, forget the session's state, start a new session."""
    operations.record_audit(current, "sign_out", method, {"method": method})
    if method == "local":
        # The tab's session and the cookie's (the same one unless the cookie is older) both end for good.
        ending = {st.session_state.get(SESSION_KEY), _cookie_session()} - {None}
        for session in ending:
            sessions.revoke(session)
        choices = {key: st.session_state.get(key) for key in (state.LANG_KEY, state.CITY_KEY)}
        clear_session()
        keep = {
            key: value for key, value in choices.items() if value and value not in (DEFAULT_LANGUAGE, state.ALL_CITIES)
        }
        start = make_url_path(_base_path(), "")
        # The route clears the cookie and opens the app's start in a new session, language and city kept.
        _redirect(_ticket_url(sessions.END, None, start + ("?" + urlencode(keep) if keep else "")))
        return
    clear_session()
    # Clears st.user and sends the browser through /auth/logout to the app's start: a new session, so
    # the browser's own widget state (uploads, typed text) goes too.
    st.logout()


def id_token_key(claims: Mapping) -> str | None:
    """A digest naming the ID token the claims came from (issuer, subject, issue time, nonce), None without them."""
    parts = [claims.get(name) for name in ("iss", "sub", "iat", "nonce")]
    if any(part is None for part in parts[:3]):
        return None
    return hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()


def oidc_login_url(login_url: str, next_path: str) -> str:
    """Streamlit's sign-in URL (<base>/auth/login?provider=…) with the page to come back to."""
    return f"{login_url}&{urlencode({sessions.NEXT_PARAM: next_path})}"


def _start_oidc_sign_in() -> None:
    """on_click of the OIDC sign-in: the browser goes to the provider once this run knows the page (follow_sign_in)."""
    st.session_state[PENDING_OIDC_KEY] = True


def follow_sign_in(page_path: str) -> None:
    """After a sign-in in this run: send the browser on, so that it comes back to this page and query.

    A local sign-in goes through the session route (the lasting cookie); an OIDC sign-in to the provider
    through Streamlit's /auth/login with the page as `next`. Called by the entry point before the page
    runs, with the page's URL path ("" for the default page).
    """
    here = make_url_path(_base_path(), page_path) + _query()
    if st.session_state.pop(PENDING_OIDC_KEY, False) and oidc_configured():
        _redirect(oidc_login_url(generate_login_redirect_url("default"), here))
        return
    if not st.session_state.pop(PENDING_COOKIE_KEY, False):
        return
    session = st.session_state.get(SESSION_KEY)
    if session is not None:
        _redirect(_ticket_url(sessions.START, session, here))


def _sign_in_local(users: dict[str, str], mapping: dict[str, Viewer], name: str, password: str) -> None:
    """Check a local sign-in against the throttle and the hash; audit the outcome; sign in on success."""
    t = state.t
    client = client_address()
    known = name.strip().lower() in users
    wait = operations.sign_in_wait(name, client)
    if wait > 0:
        # Locked: the password is not checked (no argon2 work) and the lock is not lengthened.
        operations.record_sign_in_failure(name, client, "locked", known_user=known)
        st.error(t("auth.locked", seconds=math.ceil(wait)))
        return
    user = roles.authenticate(users, name, password)
    if user is None:
        wait = operations.record_sign_in_failure(name, client, "wrong_password", known_user=known)
        st.error(t("auth.wrong"))
        if wait > 0:
            st.error(t("auth.locked", seconds=math.ceil(wait)))
        return
    st.session_state[LOCAL_USER_KEY] = user
    st.session_state[SESSION_KEY] = sessions.new_session(user)
    st.session_state[PENDING_COOKIE_KEY] = True
    operations.record_sign_in(viewer_for(user, mapping), "local", client=client)
    st.rerun()


def _sign_in_form(users: dict[str, str], mapping: dict[str, Viewer], prefix: str) -> None:
    """The local sign-in form; `prefix` keeps the widget keys of the sidebar's and a page's form apart."""
    t = state.t
    with st.form(prefix, clear_on_submit=True):
        name = st.text_input(t("auth.user"), key=f"{prefix}_user")
        password = st.text_input(t("auth.password"), type="password", key=f"{prefix}_password")
        if st.form_submit_button(t("auth.sign_in")):
            _sign_in_local(users, mapping, name, password)


def restricted_page(title_key: str) -> Callable[[], None]:
    """What a staff page's URL shows a viewer whose role may not open it: a sign-in prompt in the UI language.

    The entry point registers it under the page's own URL path, hidden from the navigation; after a
    sign-in the browser comes back to the same URL (query string kept) and the real page runs.
    """

    def page() -> None:
        t = state.t
        st.title(t(title_key))
        current = viewer()
        if current.identity:
            st.warning(t("auth.page_not_for_role", role=t(f"auth.role_{current.role}")))
            return
        st.info(t("auth.page_needs_sign_in"))
        mapping, users, usable = _config()
        if not usable:
            st.caption(t("auth.config_broken"))
        elif oidc_configured():
            st.button(t("auth.sign_in"), on_click=_start_oidc_sign_in, key="page_sign_in")
        elif users:
            _sign_in_form(users, mapping, "page_sign_in")
        else:
            st.caption(t("auth.sign_in_unavailable"))

    return page


def sign_in_panel(*, form: bool = True) -> None:
    """Sidebar block: who is signed in with which role, and the sign-in / sign-out controls.

    form: False on a page that shows the sign-in form itself (restricted_page).
    """
    t = state.t
    current = viewer()
    mapping, users, usable = _config()
    if current.identity:
        st.caption(t("auth.signed_in", who=current.identity, role=t(f"auth.role_{current.role}")))
    else:
        st.caption(t("auth.public_mode"))
    if not usable:
        st.caption(t("auth.config_broken"))
    if oidc_configured():
        if st.user.is_logged_in:
            if usable and not st.session_state.get(SIGN_IN_AUDITED_KEY):
                # A reload or a new tab is a new session with the same ID token: one audit row per token.
                key = id_token_key(st.user.to_dict())
                operations.record_sign_in(current, "oidc", client=client_address(), sign_in_id=key)
                st.session_state[SIGN_IN_AUDITED_KEY] = True
            st.button(t("auth.sign_out"), on_click=_sign_out, args=(current, "oidc"), key="sign_out")
        elif usable and form:
            st.button(t("auth.sign_in"), on_click=_start_oidc_sign_in, key="sign_in")
        return
    if st.session_state.get(LOCAL_USER_KEY):
        # With a broken role file the viewer is public: the sign-out is still recorded under the account.
        leaving = current if current.identity else Viewer(identity=st.session_state[LOCAL_USER_KEY])
        st.button(t("auth.sign_out"), on_click=_sign_out, args=(leaving, "local"), key="sign_out")
        return
    if not usable or not users or not form:
        return
    _sign_in_form(users, mapping, "local_sign_in")
