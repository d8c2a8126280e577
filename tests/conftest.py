"""Shared fixtures: a real warehouse built once from the shipped sample bundle."""

from __future__ import annotations

import fcntl
import os
import pickle
from pathlib import Path

import duckdb
import pytest
from streamlit.runtime.pages_manager import PagesManager

# Before any test module imports openpyxl: the project's xlsx bytes never depend on lxml being installed.
import common  # noqa: F401

# As `python -m dashboard` does for the server: dashboard/pages/ is not a legacy v1 pages folder.
PagesManager.uses_pages_directory = False

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SYNTHETIC_REFERENCE = ROOT / "tests" / "fixtures" / "reference"
# The official geography (町丁目 points, city outlines) when the machine has it (see the Makefile's REFERENCE).
OFFICIAL_REFERENCE = Path(os.environ.get("TSUNAGARI_TEST_REFERENCE", ROOT.parent / "shared" / "reference"))


def shared_build(tmp_path_factory, name: str, reference_dir: Path | None = None):
    """Build data/sample (with reference_dir's geography) once per run under name; returns the RunResult.

    Under pytest-xdist (make test-fast) the first worker to ask builds it and the others wait for it and
    read its RunResult: a build is the slowest fixture, and every test opens the file read-only.
    """
    from etl.pipeline import build

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(SAMPLE, tmp_path_factory.mktemp(name) / "warehouse.duckdb", reference_dir=reference_dir)
    shared = tmp_path_factory.getbasetemp().parent  # the run's temp directory, shared by its workers
    result = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            (shared / name).mkdir()
            built = build(SAMPLE, shared / name / "warehouse.duckdb", reference_dir=reference_dir)
            result.write_bytes(pickle.dumps(built))
    return pickle.loads(result.read_bytes())


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory):
    """Build var-like warehouse from data/sample once per run; returns the RunResult."""
    return shared_build(tmp_path_factory, "warehouse")


@pytest.fixture(scope="session")
def reference_build(tmp_path_factory):
    """The sample built with the synthetic reference geography (tests/fixtures/reference), once per run."""
    return shared_build(tmp_path_factory, "reference", SYNTHETIC_REFERENCE)


@pytest.fixture(scope="session")
def official_build(tmp_path_factory):
    """The sample built with the official reference geography (OFFICIAL_REFERENCE), once per run; skips without it."""
    if not (OFFICIAL_REFERENCE / "towns").is_dir():
        pytest.skip("official reference directory not configured")
    return shared_build(tmp_path_factory, "official", OFFICIAL_REFERENCE)


@pytest.fixture(scope="session")
def sample_warehouse(sample_build) -> Path:
    """Path of the warehouse built from the sample."""
    return sample_build.warehouse


@pytest.fixture()
def sample_con(sample_warehouse):
    """Read-only connection to the sample warehouse."""
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture()
def sign_in(tmp_path, monkeypatch):
    """A function that makes an AppTest session run as a role: a temp roles file + a signed-in local user."""

    def apply(at, role: str, city: str | None = None):
        path = tmp_path / "roles.toml"
        lines = ["[[identity]]", 'id = "tester"', f'role = "{role}"'] + ([f'city = "{city}"'] if city else [])
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        monkeypatch.setenv("TSUNAGARI_ROLES", str(path))
        at.session_state["local_user"] = "tester"
        return at

    return apply


@pytest.fixture()
def consultees_withheld(monkeypatch):
    """The visibility rule as if consultee counts were withheld: admins all cities, a city manager their own.

    The cities publish these counts, so warehouse/masking.py makes them public; the queries keep the
    withholding path (pii schema read only when allowed), and these tests keep proving it under a stricter rule.
    """
    from warehouse import masking

    monkeypatch.setitem(masking.VISIBILITY, "consultee_counts", masking.NAMED)
    monkeypatch.setattr(masking, "ALL_CITY_STAFF", ("admin",))


def _tier(item) -> int:
    """Run order: unit tests first, then integration, then the real-browser suite (slowest feedback last)."""
    parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
    if parts[0] == "unit":
        return 0
    if parts[0] == "e2e" or item.get_closest_marker("e2e"):
        return 2
    return 1


def pytest_collection_modifyitems(config, items):
    """Order the collected tests unit → integration → browser; browser tests get one retry."""
    items.sort(key=_tier)
    for item in items:
        if _tier(item) == 2:
            # A real browser against a real server on two shared cores: a click can land while Streamlit is
            # re-rendering and be lost. One retry (shown as R in the summary); a second failure fails the run.
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))
