"""Crash safety: SIGKILL the ETL at every named step of a build; the published warehouse survives every kill.

After each kill the previously published file is still served intact (read-only open, same run, its
content checksum recomputes) — or, if the kill came after the atomic swap, the new file is complete —
the build lock is free (the kernel dropped the flock), and the next run succeeds, removes the killed
run's temp files and leaves none of its own.

The kill points are named, not timed: the child process arms one (see `arm`) and sends itself SIGKILL
when the build reaches it, so each run dies at the same step on a fast or a loaded machine, and the test
knows beforehand whether that step comes before or after the swap and whether a temp file is left.
Three kills hit the real `python -m etl build` (at start-up, inside Great Expectations and while the
tables are written). The others hit `etl.pipeline.build` in a child process whose extract and validate
stages return results computed beforehand by the real functions: everything from the build lock to the
rename is the production code, while a kill costs about a second instead of a whole validation.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest

# Minutes of real builds and kills: left out of `make test-fast`, always in `make test`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
TIMEOUT = 900  # seconds for one process; the machine may be heavily loaded, correctness is what counts


@dataclass(frozen=True)
class KillPoint:
    """A step of a build where the process kills itself, and what the build has done to the files by then."""

    point: str
    swapped: bool  # the new file has replaced the published one
    temp_left: bool  # the run's temp file is on disk for the next run to remove


# In the order a build reaches them: every step from taking the build lock to returning from build().
# "after:NAME#N": right after the N-th call of etl.pipeline.NAME (or os.replace) returns;
# "progress:TEXT": when the build reports a step starting with TEXT (before the step runs).
FAST_KILLS = (
    KillPoint("after:remove_stale_temps", swapped=False, temp_left=False),  # lock held, no temp file yet
    KillPoint("progress:stage: load tables", swapped=False, temp_left=True),  # temp file holds the DDL only
    KillPoint("after:insert_frame#1", swapped=False, temp_left=True),
    KillPoint("after:insert_frame#8", swapped=False, temp_left=True),
    KillPoint("progress:marts", swapped=False, temp_left=True),
    KillPoint("after:build_marts", swapped=False, temp_left=True),
    KillPoint("after:content_checksum", swapped=False, temp_left=True),
    KillPoint("after:copy_history", swapped=False, temp_left=True),
    KillPoint("after:_record", swapped=False, temp_left=True),  # before the checkpoint: rows in the WAL
    KillPoint("progress:change guard", swapped=False, temp_left=True),  # temp file complete and closed
    KillPoint("progress:publish", swapped=False, temp_left=True),
    KillPoint("after:os.replace", swapped=True, temp_left=False),  # swapped, directory not yet flushed
    KillPoint("after:fsync_dir", swapped=True, temp_left=False),
    KillPoint("after:build", swapped=True, temp_left=False),  # lock released, temp names cleaned up
)
# The real command line: during start-up, inside Great Expectations (before its third validation),
# and while the tables are written.
CLI_KILLS = (
    KillPoint("progress:extract", swapped=False, temp_left=False),
    KillPoint("gx:3", swapped=False, temp_left=False),
    KillPoint("after:insert_frame#5", swapped=False, temp_left=True),
)


def die() -> None:
    """SIGKILL this process, as the OOM killer or a power-off would: no cleanup, no finally blocks."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    """Make this process kill itself when the build reaches point (see FAST_KILLS)."""
    from etl import pipeline

    kind, _, spec = point.partition(":")
    name, _, nth = spec.partition("#")
    calls = 0

    def count() -> bool:
        nonlocal calls
        calls += 1
        return calls == int(nth or 1)

    if kind == "progress":
        real_build = pipeline.build

        def build(*args, progress=lambda _: None, **kwargs):
            def watched(event) -> None:
                progress(event)
                # The event's English text (etl.steps.TEXT), as the CLI prints it.
                if str(event).startswith(spec):
                    die()

            return real_build(*args, progress=watched, **kwargs)

        pipeline.build = build
    elif kind == "after":
        owner, attr = (os, "replace") if name == "os.replace" else (pipeline, name)
        real = getattr(owner, attr)

        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)
            if count():
                die()
            return result

        setattr(owner, attr, wrapped)
    elif kind == "gx":
        import great_expectations as gx

        real_run = gx.ValidationDefinition.run

        def run(self, *args, **kwargs):
            if count():
                die()
            return real_run(self, *args, **kwargs)

        gx.ValidationDefinition.run = run
    else:
        raise ValueError(f"unknown kill point {point!r}")


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
    from etl.validate import load_suites, validate
    from etl.years import transform_years

    checked = transform_years(source, SEEDS_DIR)
    add_reference(checked, reference.empty())
    outcome = validate(checked.tables, load_suites())
    assert outcome.ok
    # build() adds the (empty) reference tables itself, so it gets the bundle as transform_years returns it.
    out.write_bytes(pickle.dumps((transform_years(source, SEEDS_DIR), outcome)))
    return out


def child_main(point: str, payload: str, source: str, warehouse: str) -> None:
    """Entry point of a fast child: the production build() with precomputed extract and validate results."""
    from etl import pipeline, years
    from etl import validate as validation

    bundle, outcome = pickle.loads(Path(payload).read_bytes())
    years.transform_years = lambda *_: bundle
    validation.validate = lambda *_: outcome
    if point:
        arm(point)
    pipeline.build(Path(source), Path(warehouse), progress=lambda message: print(message, flush=True))
    print("done", flush=True)


def cli_main(point: str, *args: str) -> None:
    """Entry point of an armed `python -m etl`: the whole command line, killed at point."""
    arm(point)
    sys.argv = ["etl", *args]
    runpy.run_module("etl", run_name="__main__", alter_sys=True)


@dataclass
class Run:
    """A running ETL process and the progress lines it printed."""

    process: subprocess.Popen
    other: Any = None
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def finish(self) -> int:
        """Wait for the process and its output; return its exit status (negative = signal)."""
        code = self.process.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)
        return code

    def output(self) -> str:
        """Everything the process printed on its other stream (tracebacks, the CLI's result line)."""
        self.other.seek(0)
        return self.other.read()


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
    run = Run(process, other=other)

    def read() -> None:
        for line in getattr(process, stream):
            run.lines.append(line.rstrip("\n"))

    run.reader = threading.Thread(target=read, daemon=True)
    run.reader.start()
    return run


def fast_child(payload: Path, source: Path, warehouse: Path, point: str = "") -> Run:
    """A fast child process building into warehouse (killed at point, if one is given)."""
    command = [sys.executable, str(Path(__file__)), "child", point, str(payload), str(source), str(warehouse)]
    return start(command, "stdout")


def cli(source: Path, warehouse: Path, point: str) -> Run:
    """The real command line build, killed at point."""
    args = ["build", "--source", str(source), "--warehouse", str(warehouse)]
    return start([sys.executable, str(Path(__file__)), "cli", point, *args], "stderr")


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


def check_kill(
    run: Run, kill: KillPoint, label: str, before: Served, warehouse: Path, checksums: dict[str, str]
) -> Served:
    """After a kill: the old file intact before the swap, the new one complete after it; temp as expected; lock free."""
    code = run.finish()
    assert code == -signal.SIGKILL, (kill, code, run.lines, run.output())
    after = served(warehouse, checksums)
    if kill.swapped:
        assert after.label == label
        assert len(after.run_ids) == len(before.run_ids) + 1
        assert set(before.run_ids) < set(after.run_ids)
    else:
        assert after == before
    assert bool(temp_files(warehouse)) == kill.temp_left, (kill, temp_files(warehouse))
    assert lock_is_free(warehouse)
    return after


def recover(
    payload: Path, source: Path, label: str, before: Served, warehouse: Path, checksums: dict[str, str]
) -> Served:
    """The next run after a kill: succeeds, removes stale temps, leaves none, publishes its bundle."""
    stale = temp_files(warehouse)
    run = fast_child(payload, source, warehouse)
    code = run.finish()
    assert code == 0, (run.lines, run.output())
    removed = {line.rsplit(": ", 1)[-1] for line in run.lines if "removed a stale temp file" in line}
    assert removed == set(stale)
    assert temp_files(warehouse) == []
    assert lock_is_free(warehouse)
    after = served(warehouse, checksums)
    assert after.label == label
    assert len(after.run_ids) == len(before.run_ids) + 1
    return after


def test_sigkill_at_every_build_step_never_damages_the_published_warehouse(tmp_path, sample_build):
    sources = {"A": SAMPLE, "B": make_variant(tmp_path / "variant")}
    payloads = {label: precompute(source, tmp_path / f"{label}.pickle") for label, source in sources.items()}
    warehouse = tmp_path / "pub" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    other = {"A": "B", "B": "A"}

    # Two uncut runs: the fast child publishes exactly what the real pipeline does (the session's
    # sample build), and the variant gets its own checksum.
    assert fast_child(payloads["A"], sources["A"], warehouse).finish() == 0
    assert served(warehouse, {"A": sample_build.content_checksum}).label == "A"
    assert fast_child(payloads["B"], sources["B"], warehouse).finish() == 0
    checksums = {"A": sample_build.content_checksum, "B": published_checksum(warehouse)}
    assert checksums["B"] != checksums["A"]
    current = served(warehouse, checksums)
    assert current.label == "B"

    for kill, via_cli in [(k, False) for k in FAST_KILLS] + [(k, True) for k in CLI_KILLS]:
        label = other[current.label]
        if via_cli:
            run = cli(sources[label], warehouse, kill.point)
        else:
            run = fast_child(payloads[label], sources[label], warehouse, kill.point)
        current = check_kill(run, kill, label, current, warehouse, checksums)
        after_kill = other[current.label]
        current = recover(payloads[after_kill], sources[after_kill], after_kill, current, warehouse, checksums)


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child_main(*sys.argv[2:6])
elif __name__ == "__main__" and sys.argv[1:2] == ["cli"]:
    cli_main(*sys.argv[2:])
