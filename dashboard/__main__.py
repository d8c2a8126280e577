"""Serve the dashboard: `python -m dashboard [streamlit options]` runs `streamlit run dashboard/app.py`.

The project's layout keeps page scripts in dashboard/pages/, next to the entry point. Streamlit treats
such a folder as a legacy (v1) multipage app and wraps the server's first script run in it, so the
widgets of that run get other ids than later runs and the first visitor's first choice is dropped.
The app uses st.navigation only, so the legacy mode is switched off before the server starts.
Visitors never see a traceback (it names files and folders of the server): exceptions show their type
only, unless the operator passes another --client.showErrorDetails; the full trace goes to the log.

Streamlit also serves its server metrics (sessions, caches, memory) at /_stcore/metrics to anyone, and has
no setting to turn that off; the launcher answers that path with 404 instead (issue #17).

Before the server starts, the operational store is brought to this release's schema (warehouse.operations
migrate: an online backup first when migrations are pending); a store newer than this release stops it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli
from streamlit.web.server.starlette import starlette_app

from warehouse import operations

APP = Path(__file__).resolve().with_name("app.py")
ERROR_DETAILS = "--client.showErrorDetails"
_streamlit_metrics_routes = starlette_app.create_metrics_routes


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


def main() -> None:
    """Migrate the store, then start Streamlit on dashboard/app.py (legacy pages-folder mode off, metrics closed)."""
    try:
        print(operations.migrate().summary(), file=sys.stderr)
    except operations.StoreVersionError as error:
        sys.exit(f"error: {error}")
    except OSError as error:
        # A data folder the app may not write: pages still read; every write will say why it failed.
        print(f"warning: operations store not migrated: {error}", file=sys.stderr)
    PagesManager.uses_pages_directory = False
    starlette_app.create_metrics_routes = closed_metrics_routes
    options = sys.argv[1:]
    if not any(option.split("=")[0] == ERROR_DETAILS for option in options):
        options = [ERROR_DETAILS, "type", *options]
    sys.argv = ["streamlit", "run", str(APP), *options]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
