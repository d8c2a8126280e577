"""Concurrent readers: while `python -m etl build` publishes again and again, readers see whole runs only.

Eight threads and two processes read the published warehouse through `warehouse.query` as the
dashboard does: half open a read-only connection per check, half share one read-only connection per
published file (the dashboard caches one per file identity) with one cursor per query. Each check
reads, on one connection, the publishing run, the organisation count and a mart total, then the
publishing run again: all four must belong to one run (0 torn reads), and no read may fail (no
"Conflicting lock": a build never opens the published file for writing, it swaps a new file in).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest

# Minutes of real builds and kills: left out of `make test-fast`, always in `make test`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
THREADS = 8
PROCESSES = 2
MIN_SECONDS = 20.0
PAUSE = 0.01  # seconds between two checks of one reader
GRACE = 5.0  # seconds every reader goes on after the last publish, so each one meets the final run
BUILDS = ("B", "A")  # published in this order over the initial A warehouse
TIMEOUT = 1800  # seconds for the whole writer; a loaded machine makes builds slow, never wrong

LATEST_RUN = "select run_id from etl_run order by finished_at desc, started_at desc limit 1"
ORGANISATIONS = "select count(*) as n from organization"
MART_TOTAL = "select organisations_distributed as n from mart_city_kpis where city_code is null"


def make_variant(target: Path) -> Path:
    """The sample without one organisation (大和市 row 44): 156 organisations instead of 157."""
    shutil.copytree(SAMPLE, target)
    path = target / "distribution_list.xlsx"
    book = openpyxl.load_workbook(path)
    book["大和市"].delete_rows(44)
    book.save(path)
    return target


def consistent_read(con: duckdb.DuckDBPyConnection) -> tuple[str, int, int, str]:
    """Run id, organisation count, mart total and run id again, each query on its own cursor of con."""
    from warehouse.query import fetch_one

    first = fetch_one(con, LATEST_RUN)["run_id"]
    organisations = fetch_one(con, ORGANISATIONS)["n"]
    total = fetch_one(con, MART_TOTAL)["n"]
    again = fetch_one(con, LATEST_RUN)["run_id"]
    return first, organisations, total, again


class SharedConnections:
    """As dashboard.data.connection: one read-only connection per published file identity, shared by threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cache: dict[tuple[int, int], duckdb.DuckDBPyConnection] = {}

    def get(self, path: Path) -> duckdb.DuckDBPyConnection:
        """The connection of the file now published; older ones are dropped, never closed under a reader."""
        from warehouse import query

        identity = query.file_identity(path)
        with self.lock:
            if identity not in self.cache:
                # Two entries, like st.cache_resource(max_entries=2) in dashboard/data.py.
                self.cache = dict(list(self.cache.items())[-1:]) | {identity: query.connect(path)}
            return self.cache[identity]

    def close_all(self) -> None:
        """Close every cached connection (once no reader uses them)."""
        with self.lock:
            for con in self.cache.values():
                con.close()
            self.cache = {}


def read_until(
    path: Path, stop: Callable[[], bool], expected: dict[str, int], shared: SharedConnections | None
) -> dict[str, Any]:
    """Check the published file until stop(); return counts, errors, torn reads and the runs seen."""
    from warehouse import query

    report: dict[str, Any] = {"checks": 0, "errors": [], "torn": [], "runs": set()}
    while not stop():
        try:
            if shared is not None:
                first, organisations, total, again = consistent_read(shared.get(path))
            else:
                con = query.connect(path)
                try:
                    first, organisations, total, again = consistent_read(con)
                finally:
                    con.close()
        except Exception as error:  # noqa: BLE001 (every failure counts; the test asserts there are none)
            report["errors"].append(f"{type(error).__name__}: {error}")
            continue
        report["checks"] += 1
        report["runs"].add(first)
        # A pause like a user's next click: readers must not starve the builds of CPU (ms).
        time.sleep(PAUSE)
        if first != again or organisations != total or organisations != expected.get(first.rsplit("-", 1)[-1]):
            report["torn"].append([first, organisations, total, again])
    return report


def reader_process(path: str, stop_file: str, expected: str, shared: str) -> None:
    """Entry point of a reader process: read until the stop file exists, print the report as JSON."""
    connections = SharedConnections() if shared == "shared" else None
    report = read_until(Path(path), Path(stop_file).exists, json.loads(expected), connections)
    if connections is not None:
        connections.close_all()
    print(json.dumps(report | {"runs": sorted(report["runs"])}))


def test_readers_never_see_an_error_or_a_torn_read_while_builds_publish(tmp_path, sample_build):
    from etl.pipeline import SEEDS_DIR, sources_digest
    from etl.sources import transform_bundle

    sources = {"A": SAMPLE, "B": make_variant(tmp_path / "variant")}
    digests = {label: sources_digest(transform_bundle(source, SEEDS_DIR).files) for label, source in sources.items()}
    assert sample_build.run_id.endswith("-" + digests["A"])
    expected = {digests["A"]: 157, digests["B"]: 156}
    warehouse = tmp_path / "pub" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(sample_build.warehouse, warehouse)

    stop_file = tmp_path / "stop"
    writer_done = threading.Event()
    began = time.monotonic()
    finished: list[float] = []

    def stop() -> bool:
        now = time.monotonic()
        return writer_done.is_set() and now - began >= MIN_SECONDS and now - finished[0] >= GRACE

    builds: list[subprocess.CompletedProcess] = []

    def write() -> None:
        try:
            for label in BUILDS:
                builds.append(
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "etl",
                            "build",
                            "--source",
                            str(sources[label]),
                            "--warehouse",
                            str(warehouse),
                        ],
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                        timeout=TIMEOUT,
                        check=False,
                    )
                )
        finally:
            finished.append(time.monotonic())
            writer_done.set()

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__)), "reader", str(warehouse), str(stop_file), json.dumps(expected), mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in ("own", "shared")[:PROCESSES]
    ]
    reports: list[dict[str, Any]] = [{} for _ in range(THREADS)]
    connections = SharedConnections()
    threads = [
        threading.Thread(
            target=lambda i=i: reports.__setitem__(
                i, read_until(warehouse, stop, expected, connections if i % 2 else None)
            )
        )
        for i in range(THREADS)
    ]
    writer = threading.Thread(target=write)
    for thread in [*threads, writer]:
        thread.start()
    writer.join(timeout=TIMEOUT)
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    connections.close_all()
    stop_file.touch()
    for process in processes:
        output, _ = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0
        report = json.loads(output)
        reports.append(report | {"runs": set(report["runs"])})

    assert [b.returncode for b in builds] == [0] * len(BUILDS), [b.stderr for b in builds]
    errors = [e for r in reports for e in r["errors"]]
    torn = [t for r in reports for t in r["torn"]]
    assert errors == []
    assert torn == []
    assert all(r["checks"] > 0 for r in reports)
    # Every run ever published was seen by some reader: the swaps really happened under their feet.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        published = {r[0] for r in con.execute("select run_id from etl_run").fetchall()}
    assert len(published) == len(BUILDS) + 1
    # Every reader, whether it opens a connection per check or keeps one per file identity (in this
    # process or another), met every published run: a swap is seen by the next connection opened.
    assert [r["runs"] for r in reports] == [published] * (THREADS + PROCESSES)
    assert [name for name in os.listdir(warehouse.parent) if ".tmp" in name] == []
    print(f"{sum(r['checks'] for r in reports)} consistent checks in {time.monotonic() - began:.0f} s")


if __name__ == "__main__" and sys.argv[1:2] == ["reader"]:
    reader_process(*sys.argv[2:6])


def test_a_connection_opened_after_a_publish_sees_the_new_run_while_the_old_one_is_cached(tmp_path, sample_build):
    # duckdb.connect(path) returns the instance this process already holds for that path — the
    # replaced file while dashboard.data still caches a connection to it (duckdb/duckdb#15912);
    # warehouse.query.connect must open the file published now.
    from warehouse import query

    published = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_build.warehouse, published)
    newer = tmp_path / ".warehouse.duckdb.next.tmp"
    shutil.copy(sample_build.warehouse, newer)
    with duckdb.connect(str(newer)) as con:
        con.execute(
            "insert into etl_run select 'newer-run', started_at, finished_at + interval 1 hour, status, "
            "source_dir, content_checksum, message, schema_fingerprint from etl_run"
        )
    cached = query.connect(published)
    try:
        assert query.fetch_one(cached, LATEST_RUN)["run_id"] == sample_build.run_id
        os.replace(newer, published)
        fresh = query.connect(published)
        try:
            assert query.fetch_one(fresh, LATEST_RUN)["run_id"] == "newer-run"
        finally:
            fresh.close()
    finally:
        cached.close()
