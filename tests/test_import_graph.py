"""Imports go one way: common ← etl, warehouse ← dashboard; read from the source with ast, not by importing it.

Every import counts: module-level, inside functions (lazy imports), relative ones, and
importlib.import_module / __import__ calls with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "etl", "warehouse", "dashboard")
# (package the importer lives in, top-level modules it must not import, why)
RULES = (
    ("common", ("etl", "warehouse", "dashboard"), "common/ is shared by all three and imports none of them"),
    ("warehouse", ("etl", "dashboard"), "warehouse/ imports nothing from etl/ or dashboard/"),
    ("etl", ("dashboard",), "etl/ imports nothing from dashboard/"),
    ("dashboard", ("great_expectations",), "the dashboard never imports great_expectations"),
    ("dashboard.charts", ("streamlit",), "chart builders never import streamlit"),
)


def module_name(path: Path) -> str:
    """Dotted module name of a source file under ROOT (a package's __init__ is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a source, at any depth, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import sub` may import the submodule pkg.sub: name both.
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _within(name: str, package: str) -> bool:
    """Whether a dotted name is the package or inside it."""
    return name == package or name.startswith(package + ".")


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every rule a module's source breaks, as "module:line imports target (rule)"."""
    broken: dict[tuple[int, str], str] = {}
    for line, target in imports(source, module, is_package):
        for importer, forbidden, why in RULES:
            if _within(module, importer) and any(_within(target, name) for name in forbidden):
                # One message per statement and rule: `from etl.normalise import a, b` names etl.normalise once.
                broken.setdefault((line, why), f"{module}:{line} imports {target} ({why})")
    return [broken[key] for key in sorted(broken)]


def sources() -> list[Path]:
    """Every .py file of the product's packages."""
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_every_package_has_sources():
    found = {module_name(path).split(".")[0] for path in sources()}
    assert found == set(PACKAGES)
    assert any(module_name(path).startswith("dashboard.charts.") for path in sources())


def test_imports_go_one_way():
    broken = []
    for path in sources():
        broken += violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert broken == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("common.calendar", "from etl.normalise import nfkc\n", "common.calendar:1 imports etl.normalise"),
        ("common.text", "def f():\n    import warehouse.query\n", "common.text:2 imports warehouse.query"),
        ("warehouse.operations", "from etl import normalise\n", "warehouse.operations:1 imports etl"),
        ("warehouse.query", "from etl.normalise import *\n", "warehouse.query:1 imports etl.normalise"),
        (
            "etl.intake",
            "def f():\n    from dashboard.roles import load_roles\n",
            "etl.intake:2 imports dashboard.roles",
        ),
        (
            "etl.backup",
            "import importlib\nimportlib.import_module('dashboard.auth')\n",
            "etl.backup:2 imports dashboard.auth",
        ),
        (
            "dashboard.pages.quality",
            "import great_expectations as gx\n",
            "dashboard.pages.quality:1 imports great_expectations",
        ),
        (
            "dashboard.charts.events",
            "def f():\n    import streamlit as st\n",
            "dashboard.charts.events:2 imports streamlit",
        ),
    ],
)
def test_a_violating_source_is_caught(module, source, expected):
    assert any(found.startswith(expected + " (") for found in violations(source, module)), violations(source, module)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("etl.intake", "from common.roles import viewer_for\nfrom warehouse.query import warehouse_path\n"),
        ("dashboard.pages.progress", "import streamlit as st\nfrom etl import intake\n"),
        ("dashboard.charts.progress", "from . import activity\nfrom .. import format\nimport altair as alt\n"),
        ("common.calendar", "from common.text import nfkc\nimport calendar\n"),
    ],
)
def test_an_allowed_source_passes(module, source):
    assert violations(source, module) == []
