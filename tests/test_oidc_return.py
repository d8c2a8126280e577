"""OIDC sign-in details (issue 21): back to the page it began on, one audit row per ID token, no role for an
unverified e-mail. The whole journey against a real provider is tests/e2e/test_oidc.py."""

from __future__ import annotations

import json
import secrets

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from streamlit import config
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

from common.roles import Viewer, email_unverified, load_roles, oidc_viewer
from dashboard import auth, sessions
from dashboard.__main__ import callback_to_next, login_keeping_next
from warehouse import operations as ops

# --- the launcher's wrappers around Streamlit's /auth/login and /oauth2callback ----------------------

PROVIDER = "https://idp.example.jp/authorize"


async def streamlit_login(request: Request) -> Response:
    """Stands in for Streamlit's login route: keeps a state in the session, redirects to the provider."""
    state = request.query_params["tab"] + "-state"
    request.session[f"_state_default_{state}"] = {"nonce": "n"}
    return RedirectResponse(f"{PROVIDER}?client_id=c&state={state}", status_code=302)


async def streamlit_callback(request: Request) -> Response:
    """Stands in for Streamlit's callback: to the start, with the identity cookie only when the code is good."""
    response = RedirectResponse("/", status_code=302)
    if request.query_params.get("code") == "good":
        response.set_cookie(USER_COOKIE_NAME, "signed-identity", httponly=True)
    else:
        response.delete_cookie(USER_COOKIE_NAME)
    return response


@pytest.fixture
def client():
    app = Starlette(
        routes=[
            Route("/auth/login", login_keeping_next(streamlit_login)),
            Route("/oauth2callback", callback_to_next(streamlit_callback)),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=secrets.token_hex(16))],
    )
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def base_path():
    """Set server.baseUrlPath for one test."""
    before = config.get_option("server.baseUrlPath")

    def set_base(value: str) -> None:
        config.set_option("server.baseUrlPath", value)

    yield set_base
    config.set_option("server.baseUrlPath", before)


def login(client, tab: str, next_path: str | None) -> None:
    params = {"provider": "token", "tab": tab} | ({sessions.NEXT_PARAM: next_path} if next_path is not None else {})
    response = client.get("/auth/login", params=params)
    assert response.status_code == 302 and response.headers["location"].startswith(PROVIDER)


def callback(client, tab: str, code: str = "good") -> str:
    response = client.get("/oauth2callback", params={"code": code, "state": tab + "-state"})
    assert response.status_code == 302
    return response.headers["location"]


def test_a_sign_in_comes_back_to_the_page_and_query_it_began_on(client):
    login(client, "a", "/data?x_table=organization&x_f_city_code=14218&lang=en")
    assert callback(client, "a") == "/data?x_table=organization&x_f_city_code=14218&lang=en"


def test_two_tabs_signing_in_at_once_each_come_back_to_their_own_page(client):
    login(client, "a", "/data?x_table=organization")
    login(client, "b", "/data-quality")
    assert callback(client, "b") == "/data-quality"
    assert callback(client, "a") == "/data?x_table=organization"


def test_a_failed_or_replayed_callback_ends_at_the_start(client):
    login(client, "a", "/data")
    assert callback(client, "a", code="bad") == "/"
    # The state's page was taken by the first callback: replaying it does not lead there.
    assert callback(client, "a") == "/"


def test_no_next_or_a_next_off_the_app_ends_at_the_start(client, base_path):
    login(client, "a", None)
    assert callback(client, "a") == "/"
    for outside in ("https://evil.example/", "//evil.example/data", "/\\evil.example"):
        login(client, "a", outside)
        assert callback(client, "a") == "/", outside
    base_path("tsunagari")
    login(client, "a", "/elsewhere/data")
    assert callback(client, "a") == "/tsunagari/"
    login(client, "a", "/tsunagari/data?x_page=2")
    assert callback(client, "a") == "/tsunagari/data?x_page=2"


def test_the_login_url_carries_the_page():
    url = auth.oidc_login_url("/auth/login?provider=abc", "/data?x_table=organization&lang=en")
    assert url == "/auth/login?provider=abc&next=%2Fdata%3Fx_table%3Dorganization%26lang%3Den"


# --- role mapping by e-mail -----------------------------------------------------------------------


@pytest.fixture
def roles(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(
        '[[identity]]\nid = "Manager@City.example.jp"\nrole = "city_manager"\ncity = "14216"\n', encoding="utf-8"
    )
    return load_roles(path)


def test_the_role_comes_from_the_email_in_the_role_file(roles):
    claims = {"email": "manager@city.EXAMPLE.jp ", "email_verified": True, "sub": "42"}
    assert oidc_viewer(claims, roles) == Viewer("city_manager", "14216", "manager@city.example.jp")
    # A provider that omits email_verified vouches for its addresses (staff directories usually do).
    assert oidc_viewer({"email": "manager@city.example.jp"}, roles).role == "city_manager"
    assert oidc_viewer({"email": "someone@city.example.jp"}, roles) == Viewer(identity="someone@city.example.jp")
    assert oidc_viewer({"sub": "42"}, roles) == Viewer()


@pytest.mark.parametrize("verified", [False, "false", "False "])
def test_an_unverified_email_grants_no_role(roles, verified):
    claims = {"email": "manager@city.example.jp", "email_verified": verified}
    assert email_unverified(claims)
    assert oidc_viewer(claims, roles) == Viewer(identity="manager@city.example.jp")


# --- one audit row per ID token -------------------------------------------------------------------

TOKEN = {"iss": "https://idp.example.jp", "sub": "42", "iat": 1764720000, "nonce": "abc", "email": "a@b.jp"}


def test_the_id_token_key_names_one_token():
    key = auth.id_token_key(TOKEN)
    assert key == auth.id_token_key(dict(TOKEN, email_verified=True, name="A"))  # the same token
    assert key != auth.id_token_key(dict(TOKEN, iat=TOKEN["iat"] + 1))  # signed in again
    assert key != auth.id_token_key(dict(TOKEN, nonce="other"))
    assert auth.id_token_key({"email": "a@b.jp"}) is None
    assert TOKEN["nonce"] not in key


def test_a_token_presented_again_adds_no_audit_row(tmp_path):
    path = tmp_path / "operations.sqlite"
    viewer = Viewer("analyst", identity="a@b.jp")
    first = ops.record_sign_in(viewer, "oidc", client="local", sign_in_id="t1", path=path)
    assert first is not None
    assert ops.record_sign_in(viewer, "oidc", client="local", sign_in_id="t1", path=path) is None
    assert ops.record_sign_in(viewer, "oidc", client="local", sign_in_id="t2", path=path) is not None
    # Without a token (a local sign-in) every call is a sign-in.
    ops.record_sign_in(viewer, "local", path=path)
    ops.record_sign_in(viewer, "local", path=path)
    rows = ops.read_audit(path).to_dicts()
    assert [(r["target"], json.loads(r["detail"]).get("id_token_digest")) for r in rows] == [
        ("oidc", "t1"),
        ("oidc", "t2"),
        ("local", None),
        ("local", None),
    ]


# --- in the app ----------------------------------------------------------------------------------

APP = "../dashboard/app.py"


@pytest.fixture
def app(sample_warehouse, tmp_path, monkeypatch):
    """The app with OIDC configured and a.analyst@city.example.jp mapped to analyst."""
    (tmp_path / "roles.toml").write_text(
        '[[identity]]\nid = "a.analyst@city.example.jp"\nrole = "analyst"\n', encoding="utf-8"
    )
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.setenv("TSUNAGARI_ROLES", str(tmp_path / "roles.toml"))
    from streamlit.testing.v1 import AppTest

    def signed_in(claims: dict) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}
        at.user = {"is_logged_in": True, **claims}
        return at.run()

    return signed_in


def signed_in_as(at) -> str:
    return next(c.value for c in at.sidebar.caption if "ログイン中" in c.value or "公開モード" in c.value)


def test_reloads_and_tabs_with_one_token_are_one_sign_in(app, tmp_path):
    claims = TOKEN | {"email": "a.analyst@city.example.jp", "email_verified": True}
    for _session in range(3):  # the first visit, a reload, a new tab
        at = app(claims)
        assert signed_in_as(at) == "a.analyst@city.example.jp（分析担当）でログイン中"
        at.run()  # reruns ask the session, not the store
    app(claims | {"iat": TOKEN["iat"] + 3600, "nonce": "next-day"})  # signed in again the next day
    rows = ops.read_audit(tmp_path / "operations.sqlite").to_dicts()
    assert [(r["action"], r["identity"]) for r in rows] == [("sign_in", "a.analyst@city.example.jp")] * 2


def test_an_unverified_email_is_signed_in_as_public(app):
    at = app(TOKEN | {"email": "a.analyst@city.example.jp", "email_verified": False})
    assert signed_in_as(at) == "a.analyst@city.example.jp（公開）でログイン中"
