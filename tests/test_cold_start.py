"""The dashboard process never imports Great Expectations (about 3 s of import time, build-side only)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboard"

# In a fresh interpreter: import every module the dashboard's code imports, then run the app with AppTest
# signed in as an admin (who sees every page) and open every registered page; report which modules ended
# up loaded and any page exception.
PROBE = """
import importlib, json, sys
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
PagesManager.uses_pages_directory = False
names, app = json.loads(sys.argv[1]), sys.argv[2]
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        pass  # "from package import function" names a function, not a module
from dashboard.registry import PAGES
at = AppTest.from_file(app, default_timeout=120)
at.session_state["local_user"] = "cold-start"
at.run()
errors = [str(e.value)[:200] for e in at.exception]
for page in PAGES:
    at.switch_page(page.script).run()
    errors += [f"{page.script}: {str(e.value)[:200]}" for e in at.exception]
print(json.dumps({"gx": sorted(m for m in sys.modules if m.split(".")[0] == "great_expectations"),
                  "loaded": sorted(m for m in names if m in sys.modules), "pages": len(PAGES), "errors": errors}))
"""


def imported_modules() -> list[str]:
    """Every module named in an import statement of dashboard/**/*.py (entry point, pages, charts)."""
    names: set[str] = set()
    for path in sorted(DASHBOARD.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module != "__future__":
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(names)


def test_dashboard_imports_are_found():
    names = imported_modules()
    assert {"streamlit", "warehouse.query", "dashboard.state", "dashboard.charts.map", "pydeck"} <= set(names)
    forbidden = ("great_expectations", "etl.validate", "etl.pipeline", "etl.intake_worker")
    assert not [name for name in names if name.startswith(forbidden)]


# A whole app run in a fresh interpreter: make test only (fast: test_dashboard_imports_are_found above and
# tests/test_import_graph.py check the same imports statically).
@pytest.mark.slow
def test_dashboard_process_never_imports_great_expectations(sample_warehouse, tmp_path):
    roles = tmp_path / "roles.toml"
    roles.write_text('[[identity]]\nid = "cold-start"\nrole = "admin"\n', encoding="utf-8")
    env = os.environ | {"TSUNAGARI_WAREHOUSE": str(sample_warehouse), "TSUNAGARI_ROLES": str(roles)}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(imported_modules()), str(DASHBOARD / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["pages"] >= 9
    assert "warehouse.query" in report["loaded"] and "streamlit" in report["loaded"]
    assert report["gx"] == []
