"""A report pack made off the script thread: the page starts a job, then polls its progress and takes its files.

Everything the job needs (viewer, city, 年度, language, today, file paths) is read on the script thread and
handed over in a PackRequest; the job's thread never calls Streamlit nor reads the session (architecture.md,
"Threads"). It opens its own read-only warehouse connection. One pack is made at a time in the process
(PACK_SLOTS): a second request waits for the slot, so packs never take more than one core from other users.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from dashboard.report_pack import build
from warehouse import query, report

LOG = logging.getLogger(__name__)
PACK_SLOTS = threading.BoundedSemaphore(1)
# How often the page re-reads a running job's progress (s).
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class PackRequest:
    """What to make and for whom (the scope) and the warehouse to read, fixed on the script thread."""

    scope: report.Scope
    warehouse: Path


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of a job: current step, steps done of total, and its end (files or the error's kind)."""

    step: str = "waiting"
    done: int = 0
    total: int = len(build.STEPS)
    finished: bool = False
    error: str | None = None
    result: build.PackFiles | None = None


class PackJob:
    """One pack being made on a daemon thread; status() is safe to call from any thread."""

    def __init__(self, request: PackRequest) -> None:
        self.request = request
        self._lock = threading.Lock()
        self._status = JobStatus()
        self._thread = threading.Thread(target=self._run, name="report-pack", daemon=True)
        self.started = time.monotonic()

    def start(self) -> PackJob:
        """Start the thread; returns the job."""
        self._thread.start()
        return self

    def status(self) -> JobStatus:
        """The latest snapshot."""
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job ends (for the command line and tests); returns its last status."""
        self._thread.join(timeout)
        return self.status()

    def _set(self, **changes: object) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _progress(self, step: str, done: int, total: int) -> None:
        self._set(step=step, done=done, total=total)

    def _run(self) -> None:
        request = self.request
        try:
            with PACK_SLOTS:
                con = query.connect(request.warehouse)
                try:
                    files = build.make(con, request.scope, progress=self._progress)
                finally:
                    con.close()
            self._set(finished=True, result=files, step="done")
        except Exception as error:  # any failure ends the job and is shown by the page, not raised on a dead thread
            LOG.exception("report pack for city %s, 年度 %s failed", request.scope.city_code, request.scope.nendo)
            self._set(finished=True, error=type(error).__name__)
