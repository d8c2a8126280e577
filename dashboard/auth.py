"""Sign-in and the current viewer: OIDC when configured, local accounts as a fallback, else public."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard import roles, state
from warehouse import operations
from warehouse.query import PUBLIC, Viewer

LOG = logging.getLogger(__name__)
LOCAL_USER_KEY = "local_user"
# Set once the audit log has this session's OIDC sign-in (a sign-in arrives as a new session).
SIGN_IN_AUDITED_KEY = "sign_in_audited"


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
        return roles.load_roles(Path(path)), True
    except roles.RoleConfigError as error:
        _config_broken(error)
        return {}, False


@st.cache_data(ttl=60, show_spinner=False)
def _users(path: str, mtime: float) -> tuple[dict[str, str], bool]:
    """Local accounts and whether the file is usable, re-read when the file changes."""
    try:
        return roles.load_users(Path(path)), True
    except roles.RoleConfigError as error:
        _config_broken(error)
        return {}, False


def _config_broken(error: roles.RoleConfigError) -> None:
    """Tell the operator (server log, once per file version and minute) that everyone runs as public."""
    LOG.error("%s. Until it is fixed every visitor is public and local sign-in is off.", error)


def _stamp(path) -> tuple[str, float]:
    """Cache key of a config file: its path and modification time (0 when absent)."""
    return str(path), path.stat().st_mtime if path.is_file() else 0.0


def _config() -> tuple[dict[str, Viewer], dict[str, str], bool]:
    """Role mapping, local accounts (none with OIDC), and whether both files are usable."""
    mapping, roles_ok = _roles(*_stamp(roles.roles_path()))
    if oidc_configured():
        return mapping, {}, roles_ok
    users, users_ok = _users(*_stamp(roles.users_path()))
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
            return roles.viewer_for(st.user.get("email"), mapping)
        return PUBLIC
    return roles.viewer_for(st.session_state.get(LOCAL_USER_KEY), mapping)


def sign_in_panel() -> None:
    """Sidebar block: who is signed in with which role, and the sign-in / sign-out controls."""
    t = state.t
    current = viewer()
    mapping, users, usable = _config()
    if not usable:
        st.caption(t("auth.public_mode"))
        st.caption(t("auth.config_broken"))
        return
    if current.identity:
        st.caption(t("auth.signed_in", who=current.identity, role=t(f"auth.role_{current.role}")))
    else:
        st.caption(t("auth.public_mode"))
    if oidc_configured():
        if st.user.is_logged_in:
            if not st.session_state.get(SIGN_IN_AUDITED_KEY):
                operations.record_audit(current, "sign_in", "oidc", {"method": "oidc"})
                st.session_state[SIGN_IN_AUDITED_KEY] = True
            st.button(t("auth.sign_out"), on_click=st.logout, key="sign_out")
        else:
            st.button(t("auth.sign_in"), on_click=st.login, key="sign_in")
        return
    if not users:
        return
    if st.session_state.get(LOCAL_USER_KEY):
        if st.button(t("auth.sign_out"), key="sign_out"):
            del st.session_state[LOCAL_USER_KEY]
            st.rerun()
        return
    with st.form("local_sign_in", clear_on_submit=True):
        name = st.text_input(t("auth.user"), key="local_sign_in_user")
        password = st.text_input(t("auth.password"), type="password", key="local_sign_in_password")
        if st.form_submit_button(t("auth.sign_in")):
            user = roles.authenticate(users, name, password)
            if user is None:
                st.error(t("auth.wrong"))
            else:
                st.session_state[LOCAL_USER_KEY] = user
                signed_in = roles.viewer_for(user, mapping)
                operations.record_audit(signed_in, "sign_in", "local", {"method": "local"})
                st.rerun()
