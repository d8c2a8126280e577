"""The benchmark's browser stage (benchmarks/browser.py) runs through every page and interaction.

Speeds are never asserted here (they live in the benchmark); this proves the stage measures what it
says: every page of the registry, the first visits, both new-tab opens and the filtering interactions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import browser as bench_browser
from dashboard.registry import PAGES

# A real browser against a real server: the browser suite, not make test-fast.
pytestmark = pytest.mark.e2e

# Where a page that did not settle leaves its screenshot and the server log (gitignored, as the suite's).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


def test_browser_stage_measures_every_page_and_interaction(warehouse: Path, browser):
    # The suite's own Chromium: a second Playwright in this process would clash with its event loop.
    figures = bench_browser.measure(warehouse, rounds=1, log=lambda _: None, browser=browser, artifacts=ARTIFACTS)
    failed = {
        path: (entry["error"], entry.get("state")) for path, entry in figures["pages"].items() if "error" in entry
    }
    assert failed == {}
    for spec in PAGES:
        entry = figures["pages"][spec.url_path]
        assert entry["title"] == spec.title
        assert entry["first_visit_s"] > 0 and entry["median_s"] > 0 and len(entry["runs_s"]) == 1
    assert figures["new_tab_cold_s"] > 0 and figures["new_tab_warm_s"] > 0
    interactions = figures["interactions"]
    assert interactions["errors"] == {}
    assert {name for name in interactions if name != "errors"} == {"city switch", "language switch", "facet change"}
