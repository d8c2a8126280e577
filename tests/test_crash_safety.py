"""Crash safety: SIGKILL the ETL at random points 20 times; the published warehouse survives every kill.

After each kill the previously published file is still served intact (read-only open, same run, its
content checksum recomputes) — or, if the kill came after the atomic swap, the new file is complete —
the build lock is free (the kernel dropped the flock), and the next run succeeds, removes the killed
run's temp files and leaves none of its own.

Three kills hit the real `python -m etl build` (during start-up, during Great Expectations and during
the warehouse write). The other seventeen hit `etl.pipeline.build` in a child process whose extract
and validate stages return results computed beforehand by the real functions: everything from the
build lock to the rename is the production code, while a kill costs about a second instead of a
whole validation. Kill times are drawn with a fixed seed, skewed towards the end of the run, where
the temp file is written and swapped in.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest

# Minutes of real builds and kills: left out of `make test-fast`, always in `make test`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SEED = 20261126
FAST_KILLS = 17
TIMEOUT = 900  # seconds for one process; the machine may be heavily loaded, correctness is what counts


def make_variant(target: Path) -> Path:
    """The sample without one organisation (大和市 row 44): different content, same shape."""
    shutil.copytree(SAMPLE, target)
    path = target / "distribution_list.xlsx"
    book = openpyxl.load_workbook(path)
    book["大和市"].delete_rows(44)
    book.save(path)
    return target


def precompute(source: Path, out: Path) -> Path:
    """Run the real extract and validate stages once and pickle (bundle, outcome) for the fast children."""
    from etl import reference
    from etl.pipeline import SEEDS_DIR, add_reference
    from etl.sources import transform_bundle
    from etl.validate import load_suites, validate

    checked = transform_bundle(source, SEEDS_DIR)
    add_reference(checked, reference.empty())
    outcome = validate(checked.tables, load_suites())
    assert outcome.ok
    # build() adds the (empty) reference tables itself, so it gets the bundle as transform_bundle returns it.
    out.write_bytes(pickle.dumps((transform_bundle(source, SEEDS_DIR), outcome)))
    return out


def child_main(payload: str, source: str, warehouse: str) -> None:
    """Entry point of a fast child: the production build() with precomputed extract and validate results."""
    from etl import pipeline, sources
    from etl import validate as validation

    bundle, outcome = pickle.loads(Path(payload).read_bytes())
    sources.transform_bundle = lambda *_: bundle
    validation.validate = lambda *_: outcome
    pipeline.build(Path(source), Path(warehouse), progress=lambda message: print(message, flush=True))
    print("done", flush=True)


@dataclass
class Run:
    """A running ETL process and the progress lines it printed (with their arrival times)."""

    process: subprocess.Popen
    started: float
    other: Any = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: threading.Thread | None = None

    def wait_for(self, marker: str) -> bool:
        """Block until a progress line containing marker arrives; False if the process ended first."""
        while True:
            if any(marker in line for _, line in self.lines):
                return True
            if self.process.poll() is not None:
                self.reader.join(timeout=TIMEOUT)
                return any(marker in line for _, line in self.lines)
            if time.monotonic() - self.started > TIMEOUT:
                raise TimeoutError(f"no {marker!r} after {TIMEOUT} s")
            time.sleep(0.01)

    def finish(self) -> int:
        """Wait for the process and its output; return its exit status (negative = signal)."""
        code = self.process.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)
        return code

    def output(self) -> str:
        """Everything the process printed on its other stream (tracebacks, the CLI's result line)."""
        self.other.seek(0)
        return self.other.read()

    def phase(self) -> str:
        """The last progress message the process printed (where it was when it stopped)."""
        for _, line in reversed(self.lines):
            text = line.split("] ", 1)[-1]
            if text and not text.startswith(("published run", "done")):
                return text.split(":", 1)[0]
        return "start-up"


def start(command: list[str], stream: str) -> Run:
    """Start a process and collect its progress lines from stream ("stdout" or "stderr"); the other one is kept too."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    other = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the Run; read after the process ends)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE if stream == "stdout" else other,
        stderr=subprocess.PIPE if stream == "stderr" else other,
        text=True,
    )
    run = Run(process, time.monotonic(), other=other)

    def read() -> None:
        for line in getattr(process, stream):
            run.lines.append((time.monotonic(), line.rstrip("\n")))

    run.reader = threading.Thread(target=read, daemon=True)
    run.reader.start()
    return run


def fast_child(payload: Path, source: Path, warehouse: Path) -> Run:
    """A fast child process building into warehouse."""
    command = [sys.executable, str(Path(__file__)), "child", str(payload), str(source), str(warehouse)]
    return start(command, "stdout")


def cli(source: Path, warehouse: Path) -> Run:
    """The real command line build."""
    return start([sys.executable, "-m", "etl", "build", "--source", str(source), "--warehouse", str(warehouse)], "stderr")


def temp_files(warehouse: Path) -> list[str]:
    """Temp files of builds beside the published file (the pattern the pipeline cleans up)."""
    return sorted(p.name for p in warehouse.parent.glob(f".{warehouse.name}.*.tmp*"))


def lock_is_free(warehouse: Path) -> bool:
    """True when nobody holds the build lock (a killed build's flock was dropped by the kernel)."""
    with open(warehouse.with_name(warehouse.name + ".lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@dataclass(frozen=True)
class Served:
    """What the published file holds: its bytes' hash, the bundle it came from and its run history."""

    digest: str
    label: str
    run_ids: tuple[str, ...]


def served(warehouse: Path, checksums: dict[str, str]) -> Served:
    """Open the published file read-only as the dashboard does, recompute its checksum, name its bundle."""
    from etl.pipeline import content_checksum
    from warehouse import query

    digest = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    con = query.connect(warehouse)
    try:
        checksum = content_checksum(con)
        run_ids = tuple(r[0] for r in con.execute("select run_id from etl_run order by run_id").fetchall())
        recorded = {r[0] for r in con.execute("select content_checksum from etl_run").fetchall()}
    finally:
        con.close()
    labels = [label for label, expected in checksums.items() if expected == checksum]
    assert len(labels) == 1, f"published content matches no complete build: {checksum}"
    assert checksum in recorded
    return Served(digest, labels[0], run_ids)


def published_checksum(warehouse: Path) -> str:
    """The content checksum recorded by the run that published the file."""
    from warehouse import query

    con = query.connect(warehouse)
    try:
        return con.execute("select content_checksum from etl_run order by finished_at desc limit 1").fetchone()[0]
    finally:
        con.close()


def check_kill(run: Run, label: str, before: Served, warehouse: Path, checksums: dict[str, str]) -> tuple[Served, bool]:
    """After a kill: the old file intact, or the new one complete (only once it said publish); lock free."""
    code = run.finish()
    after = served(warehouse, checksums)
    if after.digest == before.digest:
        assert after == before
    else:
        # The swap happened: only after the whole file was written, and it is this run's bundle.
        assert any(line.split("] ", 1)[-1].startswith("publish:") for _, line in run.lines)
        assert after.label == label
        assert len(after.run_ids) == len(before.run_ids) + 1
        assert set(before.run_ids) < set(after.run_ids)
    assert lock_is_free(warehouse)
    return after, code < 0


def recover(payload: Path, source: Path, label: str, before: Served, warehouse: Path, checksums: dict[str, str]) -> tuple[Served, float]:
    """The next run after a kill: succeeds, removes stale temps, leaves none, publishes its bundle."""
    stale = temp_files(warehouse)
    run = fast_child(payload, source, warehouse)
    code = run.finish()
    assert code == 0, (run.lines, run.output())
    removed = {line.rsplit(": ", 1)[-1] for _, line in run.lines if "removed a stale temp file" in line}
    assert removed == set(stale)
    assert temp_files(warehouse) == []
    assert lock_is_free(warehouse)
    after = served(warehouse, checksums)
    assert after.label == label
    assert len(after.run_ids) == len(before.run_ids) + 1
    return after, run.lines[-1][0] - run.started


def test_sigkill_at_random_points_never_damages_the_published_warehouse(tmp_path, sample_build):
    rng = random.Random(SEED)
    sources = {"A": SAMPLE, "B": make_variant(tmp_path / "variant")}
    payloads = {label: precompute(source, tmp_path / f"{label}.pickle") for label, source in sources.items()}
    warehouse = tmp_path / "pub" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    other = {"A": "B", "B": "A"}

    # Two uncut runs: the fast child publishes exactly what the real pipeline does (the session's
    # sample build), the variant gets its own checksum, and the second run gives a duration to aim at.
    first = fast_child(payloads["A"], sources["A"], warehouse)
    assert first.finish() == 0
    assert served(warehouse, {"A": sample_build.content_checksum}).label == "A"
    second = fast_child(payloads["B"], sources["B"], warehouse)
    assert second.finish() == 0
    checksums = {"A": sample_build.content_checksum, "B": published_checksum(warehouse)}
    assert checksums["B"] != checksums["A"]
    current = served(warehouse, checksums)
    assert current.label == "B"
    duration = second.lines[-1][0] - second.started

    outcomes: list[tuple[str, str, bool, bool]] = []
    for kill in range(FAST_KILLS):
        label = other[current.label]
        # sqrt skews the delay late: most kills land while the temp file is written or swapped in.
        delay = duration * 1.1 * rng.random() ** 0.5
        run = fast_child(payloads[label], sources[label], warehouse)
        time.sleep(max(0.0, delay - (time.monotonic() - run.started)))
        run.process.kill()
        current, killed = check_kill(run, label, current, warehouse, checksums)
        outcomes.append((f"fast {kill + 1}", run.phase(), killed, bool(temp_files(warehouse))))
        after_kill = other[current.label]
        current, duration = recover(payloads[after_kill], sources[after_kill], after_kill, current, warehouse, checksums)

    # The real command line: killed during start-up, during Great Expectations, and while writing.
    for kill, marker, spread in (
        (1, None, 1.5),
        (2, "validate (Great Expectations)", 2.0),
        (3, "stage: load tables", duration * 1.2),
    ):
        label = other[current.label]
        run = cli(sources[label], warehouse)
        if marker is not None:
            assert run.wait_for(marker)
        time.sleep(rng.uniform(0, spread))
        run.process.kill()
        current, killed = check_kill(run, label, current, warehouse, checksums)
        outcomes.append((f"cli {kill}", run.phase(), killed, bool(temp_files(warehouse))))
        after_kill = other[current.label]
        current, duration = recover(payloads[after_kill], sources[after_kill], after_kill, current, warehouse, checksums)

    for name, phase, killed, torn_temp in outcomes:
        state = "killed" if killed else "had finished"
        print(f"{name}: last progress {phase!r}, {state}{', left its temp file' if torn_temp else ''}")
    assert len(outcomes) == 20
    # Not vacuous: most kills arrived while a build was running, many while its temp file was being
    # written (the killed run left it behind for the next run to remove).
    assert sum(killed for _, _, killed, _ in outcomes) >= 10
    assert sum(torn_temp for *_, torn_temp in outcomes) >= 5


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child_main(*sys.argv[2:5])
