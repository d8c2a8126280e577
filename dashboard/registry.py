"""Every page of the app, in navigation order: adding a page is one entry here.

A url_path must differ from every file name in dashboard/pages/: because that folder exists,
Streamlit also registers each file as a v1 page keyed by its stem, and a clash would run the page
without the entry point (no sidebar, no shared state). tests/test_home.py guards this.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """A navigation entry: fixed Japanese title, script under dashboard/, URL path and icon."""

    title: str
    script: str
    url_path: str
    icon: str
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("概要", "pages/home.py", "overview", ":material/home:", default=True),
)
