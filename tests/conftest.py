"""Shared fixtures: a real warehouse built once from the shipped sample bundle."""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import os
import pickle
import shutil
import sys
from importlib import metadata
from pathlib import Path

import duckdb
import pytest
from streamlit import config
from streamlit.components.v2 import manifest_scanner
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner.script_cache import ScriptCache

# Before any test module imports openpyxl: the project's xlsx bytes never depend on lxml being installed.
import common  # noqa: F401

# As `python -m dashboard` does for the server: dashboard/pages/ is not a legacy v1 pages folder.
PagesManager.uses_pages_directory = False


@functools.cache
def _installed_components() -> tuple:
    """Streamlit's scan of the installed packages for v2 component manifests, done once per process."""
    return tuple(_scan_component_manifests())


# Every AppTest scans the metadata of all ~400 installed packages for components on its first run (~0.2 CPU-s,
# hundreds of AppTests per run); the server scans once at startup, and the installed packages do not change.
_scan_component_manifests = manifest_scanner.scan_component_manifests
manifest_scanner.scan_component_manifests = lambda max_workers=None: list(_installed_components())


# The server compiles each page script once (one ScriptCache per runtime); AppTest makes a new ScriptCache on every
# run, so every run rewrote and compiled app.py and its page again (≈ 0.02–0.06 CPU-s per run). Compiled once per
# process instead, keyed by the file's mtime and size, so a script changed on disk is compiled afresh.
_get_bytecode = ScriptCache.get_bytecode


@functools.cache
def _bytecode(path: str, mtime_ns: int, size: int, magic: bool):
    """A script compiled as Streamlit compiles it (magic rewrite, then compile), once per file version."""
    return _get_bytecode(ScriptCache(), path)


def _cached_bytecode(self, script_path: str):
    """ScriptCache.get_bytecode served from the process-wide cache above."""
    stat = os.stat(script_path)
    path = os.path.abspath(script_path)
    return _bytecode(path, stat.st_mtime_ns, stat.st_size, bool(config.get_option("runner.magicEnabled")))


ScriptCache.get_bytecode = _cached_bytecode

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SYNTHETIC_REFERENCE = ROOT / "tests" / "fixtures" / "reference"
# The official geography (町丁目 points, city outlines) when the machine has it (see the Makefile's REFERENCE).
OFFICIAL_REFERENCE = Path(os.environ.get("TSUNAGARI_TEST_REFERENCE", ROOT.parent / "shared" / "reference"))


# What a build reads besides its bundle and reference folder: a change to any of these misses the cache.
BUILD_INPUTS = ("etl", "warehouse", "common", "expectations")
BUILD_PACKAGES = ("duckdb", "polars", "great_expectations", "openpyxl", "pandas")


def _digest_tree(digest, root: Path) -> None:
    """Feed every file under root (names and bytes, in a fixed order) into digest; skip bytecode caches."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        data = path.read_bytes()
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode() + data)


def build_key(source_dir: Path, reference_dir: Path | None, over: Path | None = None) -> str:
    """Digest of all a build of source_dir depends on: bundle, reference, code, SQL, suites, versions, prior file."""
    digest = hashlib.sha256(sys.version.encode())
    for package in BUILD_PACKAGES:
        digest.update(f"{package}={metadata.version(package)}\n".encode())
    for name in BUILD_INPUTS:
        digest.update(f"[{name}]".encode())
        _digest_tree(digest, ROOT / name)
    digest.update(b"[source]")
    _digest_tree(digest, Path(source_dir))
    if reference_dir is not None:
        digest.update(b"[reference]")
        _digest_tree(digest, Path(reference_dir))
    if over is not None:
        digest.update(b"[over]" + hashlib.sha256(Path(over).read_bytes()).digest())
    return digest.hexdigest()[:20]


def cached_build(
    cache_dir: Path, source_dir: Path, warehouse: Path, reference_dir: Path | None = None, *, over: Path | None = None
):
    """build(source_dir, warehouse) into a fresh path (or over a copy of the published file over), cached on disk.

    The first run (or worker) to need a key builds it under a lock and keeps the published file and its
    RunResult; later ones copy the file (mode kept) and get the RunResult with their own path. A hit gives the
    same content as a fresh build (same inputs, same code); only the run's id and timestamps are older.
    """
    from etl.pipeline import build

    warehouse = Path(warehouse)
    if warehouse.exists():
        raise ValueError(f"{warehouse}: cached_build only serves fresh builds")
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = build_key(source_dir, reference_dir, over)
    entry = cache_dir / key
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (entry / "result.pickle").exists():
            partial = cache_dir / f"{key}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(mode=0o700)
            if over is not None:
                shutil.copy2(over, partial / "warehouse.duckdb")
            built = build(source_dir, partial / "warehouse.duckdb", reference_dir=reference_dir)
            (partial / "result.pickle").write_bytes(pickle.dumps(built))
            os.replace(partial, entry)
    result = pickle.loads((entry / "result.pickle").read_bytes())
    warehouse.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(entry / "warehouse.duckdb", warehouse)
    (warehouse.parent / f"{warehouse.name}.lock").touch()  # as build_lock leaves it beside a published file
    return dataclasses.replace(result, warehouse=warehouse)


@pytest.fixture(scope="session")
def warehouse_cache(request) -> Path:
    """Folder of cached sample builds (under the pytest cache dir, so `pytest --cache-clear` empties it)."""
    return request.config.cache.mkdir("warehouses")


@pytest.fixture(scope="session")
def build_once(warehouse_cache):
    """cached_build bound to the run's cache: build_once(source_dir, warehouse, reference_dir=None, *, over=None)."""
    return functools.partial(cached_build, warehouse_cache)


def shared_build(tmp_path_factory, build_once, name: str, reference_dir: Path | None = None):
    """data/sample built (with reference_dir's geography) into this run's temp dir under name; the RunResult."""
    return build_once(SAMPLE, tmp_path_factory.mktemp(name) / "warehouse.duckdb", reference_dir)


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory, build_once):
    """The warehouse built from data/sample, once per run (and cached across runs); returns the RunResult."""
    return shared_build(tmp_path_factory, build_once, "warehouse")


@pytest.fixture(scope="session")
def reference_build(tmp_path_factory, build_once):
    """The sample built with the synthetic reference geography (tests/fixtures/reference), once per run."""
    return shared_build(tmp_path_factory, build_once, "reference", SYNTHETIC_REFERENCE)


@pytest.fixture(scope="session")
def official_build(tmp_path_factory, build_once):
    """The sample built with the official reference geography (OFFICIAL_REFERENCE), once per run; skips without it."""
    if not (OFFICIAL_REFERENCE / "towns").is_dir():
        pytest.skip("official reference directory not configured")
    return shared_build(tmp_path_factory, build_once, "official", OFFICIAL_REFERENCE)


@pytest.fixture(scope="session")
def altered_sample(request):
    """altered_sample(name, alter): data/sample copied and changed in place by alter(folder), kept in the cache dir.

    Kept by the digest of its files under the pytest cache dir, not a run's temp dir: a cached build of it
    (build_once) records its source folder, which an intake dry run on that warehouse reads again in a later run.
    alter must write the same bytes each time (xlsx through data.generate_sample.workbook_bytes), or every run
    keeps a new copy and builds it afresh.
    """
    root = request.config.cache.mkdir("altered_samples")

    def make(name: str, alter) -> Path:
        partial = root / f"{name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(SAMPLE, partial)
        alter(partial)
        digest = hashlib.sha256()
        _digest_tree(digest, partial)
        folder = root / f"{name}-{digest.hexdigest()[:20]}"
        with open(root / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if folder.exists():
                shutil.rmtree(partial)
            else:
                os.replace(partial, folder)
        return folder

    return make


@pytest.fixture(scope="session")
def years_bundle(request):
    """The generated two-year bundle (R6 = data/sample, R7 derived) and its manifest: (folder, manifest).

    Written once per generator version into the pytest cache dir, not a run's temp dir: a cached build of it
    (years_build) records its source folder (etl_run.source_dir), which a later run's dry runs read again.
    """
    import json

    from data import generate_years

    digest = hashlib.sha256()
    for path in (ROOT / "data" / "generate_years.py", ROOT / "data" / "generate_sample.py"):
        digest.update(path.read_bytes())
    _digest_tree(digest, SAMPLE)
    root = request.config.cache.mkdir("years_bundle")
    folder = root / digest.hexdigest()[:20]
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "manifest.json").exists():
            partial = root / "partial"
            shutil.rmtree(partial, ignore_errors=True)
            generate_years.generate(partial)
            os.replace(partial, folder)
    return folder, json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def years_build(tmp_path_factory, build_once, years_bundle):
    """The two-year bundle built once per run (and cached across runs, like the sample); returns the RunResult."""
    return build_once(years_bundle[0], tmp_path_factory.mktemp("years-warehouse") / "warehouse.duckdb")


@pytest.fixture(scope="session")
def r7_alone_build(tmp_path_factory, build_once, years_bundle):
    """The two-year bundle's R7 folder built alone (its year given as R7), once per run; returns the RunResult."""
    from etl import years

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(years.FISCAL_YEAR_ENV, "R7")
        return build_once(years_bundle[0] / "R7", tmp_path_factory.mktemp("r7-alone") / "warehouse.duckdb")


@pytest.fixture(scope="session")
def years_warehouse(years_build) -> Path:
    """Path of the warehouse built from the two-year bundle."""
    return years_build.warehouse


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


def roles_file(path: Path, role: str, city: str | None = None) -> Path:
    """A roles file at path that gives the local user "tester" the role (of the city)."""
    lines = ["[[identity]]", 'id = "tester"', f'role = "{role}"'] + ([f'city = "{city}"'] if city else [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def sign_in(tmp_path, monkeypatch):
    """A function that makes an AppTest session run as a role: a temp roles file + a signed-in local user."""

    def apply(at, role: str, city: str | None = None):
        monkeypatch.setenv("TSUNAGARI_ROLES", str(roles_file(tmp_path / "roles.toml", role, city)))
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


# ---------------------------------------------------------------------------------------------------
# CPU seconds per test: on a shared machine wall time says little, CPU time is what a change saves.


def pytest_addoption(parser):
    """--cpu-times FILE: append each test's CPU seconds (setup to teardown; this process plus reaped children)."""
    parser.addoption("--cpu-times", metavar="FILE", help="append 'cpu-seconds<TAB>test id' lines to FILE")


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended and been waited for."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With --cpu-times: one line per test, setup to teardown (xdist workers append to the same file)."""
    path = item.config.getoption("--cpu-times")
    if not path:
        return (yield)
    start = _cpu_seconds()
    result = yield
    # One short append per test: lines from parallel workers do not interleave.
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"{_cpu_seconds() - start:.3f}\t{item.nodeid}\n")
    return result


# ---------------------------------------------------------------------------------------------------
# Page runs shared by a module's tests that only read them.


class PageRuns:
    """Pages rendered in AppTest once per (page, role, city, language) and handed to every test that asks.

    A page run costs 0.1–0.5 CPU-s; tests that only read what a page drew share one. Each run is made with env
    (name → value, None = unset) and the role's roles file set, both restored afterwards: a shared AppTest is for
    reading only, and a test that clicks, types or changes state makes its own.
    """

    def __init__(self, folder: Path, env: dict[str, str | None]) -> None:
        self.folder, self.env, self.runs = folder, env, {}

    def __call__(self, script: str, role: str = "public", city: str | None = None, lang: str = "ja"):
        """The AppTest after opening the app as role (of city) in lang and switching to script."""
        from streamlit.testing.v1 import AppTest

        from dashboard.registry import PAGES

        key = (script, role, city, lang)
        if key not in self.runs:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in self.env.items():
                    patch.setenv(name, value) if value is not None else patch.delenv(name, raising=False)
                at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=90)
                if lang != "ja":
                    at.query_params["lang"] = lang
                if role != "public":
                    roles = roles_file(self.folder / f"roles-{role}-{city}.toml", role, city)
                    patch.setenv("TSUNAGARI_ROLES", str(roles))
                    at.session_state["local_user"] = "tester"
                at.run()
                if script not in [spec.script for spec in PAGES if spec.default]:  # the first run drew it
                    at.switch_page(script).run()
                assert not at.exception, [e.value for e in at.exception]
            self.runs[key] = at
        return self.runs[key]


@pytest.fixture(scope="session")
def page_runs():
    """PageRuns, for a module-scoped fixture: page_runs(folder, env) gives the module's shared page runs."""
    return PageRuns
