"""Serve the dashboard: `python -m dashboard [streamlit options]` runs `streamlit run dashboard/app.py`.

The project's layout keeps page scripts in dashboard/pages/, next to the entry point. Streamlit treats
such a folder as a legacy (v1) multipage app and wraps the server's first script run in it, so the
widgets of that run get other ids than later runs and the first visitor's first choice is dropped.
The app uses st.navigation only, so the legacy mode is switched off before the server starts.
Visitors never see a traceback (it names files and folders of the server): exceptions show their type
only, unless the operator passes another --client.showErrorDetails; the full trace goes to the log.

Streamlit also serves its server metrics (sessions, caches, memory) at /_stcore/metrics to anyone, and has
no setting to turn that off; the launcher answers that path with 404 instead (issue #17).

Streamlit's /_stcore/health is liveness only. The launcher adds readiness for a supervisor or load balancer
at <base>/_tsunagari/ready (issue #24): 200 with a small JSON when the app can serve, 503 with the reasons
otherwise (warehouse.readiness; no paths, no personal data). A change of state is logged once, not every poll.

Streamlit cannot set a cookie from a script, so the launcher adds one route beside Streamlit's own sign-in
routes: `<base>/_tsunagari/session?ticket=…` redeems a one-time ticket and sets or clears the local-account
session cookie (dashboard/sessions.py), then sends the browser back to the page.

Streamlit's OIDC sign-in always comes back to the app's start. The launcher wraps its /auth/login and
/oauth2callback routes so that it comes back to the page the sign-in began on (a staff link opened signed
out, its query string included): /auth/login takes that page as `next`, keeps it in the signed session
cookie Streamlit already uses for the sign-in's state, under that state; the callback sends the browser there
once the sign-in succeeded. A failed or replayed callback ends at the start as before.

Before the server starts, the operational store is brought to this release's schema (warehouse.operations
migrate: an online backup first when migrations are pending); a store newer than this release stops it. The
modules the first pages need (PRELOAD) are imported then too, so the first visitor does not wait for them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from streamlit import config
from streamlit.logger import get_logger
from streamlit.runtime.pages_manager import PagesManager
from streamlit.url_util import make_url_path
from streamlit.web import cli
from streamlit.web.server.starlette import starlette_app
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

from dashboard import sessions
from warehouse import operations, readiness
from warehouse.query import warehouse_path

APP = Path(__file__).resolve().with_name("app.py")
ERROR_DETAILS = "--client.showErrorDetails"
_streamlit_metrics_routes = starlette_app.create_metrics_routes
LOG = get_logger("dashboard.ready")
# The reasons of the last answer (None: ready), so a poller every few seconds does not repeat them in the log.
_last_reasons: list[str | None] = [None]
_streamlit_auth_routes = starlette_app.create_auth_routes
# Libraries imported before the server starts, so the first visitor's run does not wait for them (about a second:
# 概要's report-pack section loads vl-convert, python-docx, fpdf2 and openpyxl; the charts altair and pydeck). Only
# third-party modules: the project's own define Streamlit caches, which belong to the running server.
PRELOAD = ("polars", "altair", "pydeck", "vl_convert", "docx", "fpdf", "openpyxl", "PIL.Image")


async def _not_found(request: Request) -> Response:
    """404 for every method: the server's metrics are not for the public."""
    return Response(status_code=404)


def closed_metrics_routes(runtime: object, base_url: str | None) -> list[BaseRoute]:
    """Streamlit's metrics routes (same paths, base URL included), each answering 404."""
    return [
        Route(route.path, _not_found, methods=route.methods)
        for route in _streamlit_metrics_routes(runtime, base_url)
        if isinstance(route, Route)
    ]


def _log_change(report: dict) -> None:
    """Log when readiness is lost, its reasons change, or it comes back; nothing while it stays the same."""
    failed = [f"{name}: {check['reason']}" for name, check in report["checks"].items() if not check["ok"]]
    reasons = "; ".join(failed) or None
    if reasons == _last_reasons[0]:
        return
    if reasons:
        LOG.warning("not ready: %s", reasons)
    else:
        LOG.info("ready again")
    _last_reasons[0] = reasons


async def _ready(request: Request) -> Response:
    """200 and the readiness report when the app can serve, 503 and the reasons otherwise."""
    report = await run_in_threadpool(readiness.readiness, warehouse_path(), operations.store_path())
    _log_change(report)
    return JSONResponse(report, status_code=200 if report["ready"] else 503, headers={"Cache-Control": "no-store"})


def ready_path(base_url: str | None) -> str:
    """<base>/_tsunagari/ready, as Streamlit joins its own routes to server.baseUrlPath."""
    base = (config.get_option("server.baseUrlPath") if base_url is None else base_url) or ""
    return "/" + "/".join(part for part in (base.strip("/"), readiness.READY_PATH) if part)


def launcher_routes(runtime: object, base_url: str | None) -> list[BaseRoute]:
    """In place of Streamlit's metrics routes: those paths closed, and the readiness route."""
    return [*closed_metrics_routes(runtime, base_url), Route(ready_path(base_url), _ready, methods=["GET", "HEAD"])]


def _served_over_https(request: Request) -> bool:
    """Whether the browser reached us over https (directly, or per the reverse proxy's X-Forwarded-Proto)."""
    # A forged header only adds Secure to the visitor's own cookie: nothing to gain from it.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


async def session_route(request: Request) -> Response:
    """Redeem a sign-in or sign-out ticket: set or clear the session cookie, then back to the page."""
    base = config.get_option("server.baseUrlPath") or ""
    start = make_url_path(base, "")
    found = sessions.redeem(request.query_params.get("ticket"))
    target = sessions.safe_path(found.next_path, base) if found else start
    response = RedirectResponse(target, status_code=303)
    # The ticket is in this URL: neither cached nor passed on as a Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    if found is None:
        return response
    # The cookie goes with every request under the app's path, the WebSocket included (st.context.cookies).
    if found.kind == sessions.START and found.session is not None:
        response.set_cookie(
            sessions.COOKIE_NAME,
            sessions.encode(found.session),
            max_age=sessions.cookie_max_age(found.session),
            path=start,
            secure=_served_over_https(request),
            httponly=True,
            samesite="strict",
        )
    else:
        response.delete_cookie(
            sessions.COOKIE_NAME, path=start, secure=_served_over_https(request), httponly=True, samesite="strict"
        )
    return response


Endpoint = Callable[[Request], Awaitable[Response]]
# Key of the page to come back to in Streamlit's session cookie, per sign-in state (tabs may sign in at once).
NEXT_SESSION_PREFIX = "tsunagari_next_"


def _oauth_state(url: str) -> str | None:
    """The `state` parameter of a URL (the provider's authorize URL Streamlit redirects to)."""
    values = parse_qs(urlsplit(url).query).get("state")
    return values[0] if values else None


def _signed_in(response: Response) -> bool:
    """Whether Streamlit's callback set the identity cookie (a failed callback sets none or clears it)."""
    prefix = USER_COOKIE_NAME + "="
    for header in response.headers.getlist("set-cookie"):
        value = header[len(prefix) :].split(";", 1)[0] if header.startswith(prefix) else ""
        if value.strip('"'):
            return True
    return False


def login_keeping_next(login: Endpoint) -> Endpoint:
    """Streamlit's /auth/login, which also keeps `next` (a path on this app) for the callback, under the sign-in's state."""

    async def endpoint(request: Request) -> Response:
        response = await login(request)
        base = config.get_option("server.baseUrlPath") or ""
        wanted = request.query_params.get(sessions.NEXT_PARAM)
        state = _oauth_state(response.headers.get("location", ""))
        if wanted and state and response.status_code in (302, 303, 307):
            request.session[NEXT_SESSION_PREFIX + state] = sessions.safe_path(wanted, base)
        return response

    return endpoint


def callback_to_next(callback: Endpoint) -> Endpoint:
    """Streamlit's /oauth2callback, which sends a successful sign-in to the page it began on."""

    async def endpoint(request: Request) -> Response:
        state = request.query_params.get("state")
        # Taken out whatever the outcome: a state is redeemed once.
        wanted = request.session.pop(NEXT_SESSION_PREFIX + state, None) if state else None
        response = await callback(request)
        if wanted and _signed_in(response) and "location" in response.headers:
            response.headers["location"] = sessions.safe_path(wanted, config.get_option("server.baseUrlPath") or "")
        return response

    return endpoint


def auth_and_session_routes(base_url: str | None) -> list[BaseRoute]:
    """Streamlit's own sign-in routes (login and callback coming back to the page) plus the session route."""
    base = base_url or ""
    wrappers = {
        make_url_path(base, "auth/login"): login_keeping_next,
        make_url_path(base, "oauth2callback"): callback_to_next,
    }
    routes: list[BaseRoute] = []
    for route in _streamlit_auth_routes(base_url):
        wrap = wrappers.get(route.path) if isinstance(route, Route) else None
        routes.append(Route(route.path, wrap(route.endpoint), methods=route.methods) if wrap else route)
    return [*routes, Route(make_url_path(base, sessions.ROUTE), session_route, methods=["GET"])]


def main() -> None:
    """Migrate the store, then start Streamlit on dashboard/app.py (legacy pages off, metrics closed, own routes)."""
    try:
        print(operations.migrate().summary(), file=sys.stderr)
    except operations.StoreVersionError as error:
        sys.exit(f"error: {error}")
    except OSError as error:
        # A data folder the app may not write: pages still read; every write will say why it failed.
        print(f"warning: operations store not migrated: {error}", file=sys.stderr)
    PagesManager.uses_pages_directory = False
    starlette_app.create_metrics_routes = launcher_routes
    starlette_app.create_auth_routes = auth_and_session_routes
    options = sys.argv[1:]
    if not any(option.split("=")[0] == ERROR_DETAILS for option in options):
        options = [ERROR_DETAILS, "type", *options]
    sys.argv = ["streamlit", "run", str(APP), *options]
    for name in PRELOAD:
        importlib.import_module(name)
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
