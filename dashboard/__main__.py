"""Serve the dashboard: `python -m dashboard [streamlit options]` runs `streamlit run dashboard/app.py`.

The project's layout keeps page scripts in dashboard/pages/, next to the entry point. Streamlit treats
such a folder as a legacy (v1) multipage app and wraps the server's first script run in it, so the
widgets of that run get other ids than later runs and the first visitor's first choice is dropped.
The app uses st.navigation only, so the legacy mode is switched off before the server starts.
Visitors never see a traceback (it names files and folders of the server): exceptions show their type
only, unless the operator passes another --client.showErrorDetails; the full trace goes to the log.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

APP = Path(__file__).resolve().with_name("app.py")
ERROR_DETAILS = "--client.showErrorDetails"


def main() -> None:
    """Start Streamlit on dashboard/app.py with the given options, legacy pages-folder mode off."""
    PagesManager.uses_pages_directory = False
    options = sys.argv[1:]
    if not any(option.split("=")[0] == ERROR_DETAILS for option in options):
        options = [ERROR_DETAILS, "type", *options]
    sys.argv = ["streamlit", "run", str(APP), *options]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
