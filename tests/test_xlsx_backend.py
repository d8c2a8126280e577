"""openpyxl writes the same bytes whether or not lxml (python-docx's dependency) is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_lxml_is_installed_so_the_guard_matters():
    import lxml  # noqa: F401


@pytest.mark.parametrize(
    "module", ["dashboard.downloads", "data.generate_sample", "etl.sources.base", "benchmarks.scale"]
)
def test_every_xlsx_module_loads_openpyxl_without_lxml(module: str):
    env = {key: value for key, value in os.environ.items() if key != "OPENPYXL_LXML"}
    code = f"import {module}, openpyxl; print(openpyxl.LXML)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
