"""Start and stop processes the suite needs: the ETL build and `streamlit run` servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_APP = ROOT / "dashboard" / "app.py"
SERVER_START_TIMEOUT_S = 60
BUILD_TIMEOUT_S = 300


def free_port() -> int:
    """A local TCP port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def build_warehouse(source: Path, warehouse: Path, reference: Path | None = None) -> None:
    """Run the ETL CLI exactly as a user would; raise RuntimeError with its output when it fails."""
    extra = [] if reference is None else ["--reference", str(reference)]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "etl", "build", "--source", str(source), "--warehouse", str(warehouse), *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"warehouse build took longer than {BUILD_TIMEOUT_S} s") from error
    if done.returncode != 0 or not warehouse.exists():
        raise RuntimeError(
            f"warehouse build failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


def _stop(process: subprocess.Popen) -> None:
    """Terminate the server's whole process group (SIGTERM, then SIGKILL after 10 s)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Children that outlived the leader (none expected) still carry the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def streamlit_server(
    script: Path,
    *,
    cwd: Path,
    log_path: Path,
    env: dict[str, str] | None = None,
    base_path: str = "",
    port: int | None = None,
) -> Iterator[str]:
    """`streamlit run SCRIPT` on a free local port; yields the base URL once /_stcore/health answers ok.

    base_path: the sub-path the server was configured with (e.g. "/tsunagari" through `env`), part of every URL.
    port: a port chosen beforehand (an OIDC redirect URI names it before the server starts); else a free one.
    """
    port = port or free_port()
    # The dashboard starts through its launcher (python -m dashboard), exactly as `make run` does.
    launcher = ["-m", "dashboard"] if script.resolve() == DASHBOARD_APP else ["-m", "streamlit", "run", str(script)]
    command = [
        sys.executable, *launcher,
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        # Others edit the sources while the suite runs: no "source changed" reruns mid-test.
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}" + ("/" + base_path.strip("/") if base_path.strip("/") else "")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stopped as a whole
        )
        try:
            _wait_healthy(process, base_url, log_path)
            yield base_url
        finally:
            _stop(process)


def _wait_healthy(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode} before serving:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit not healthy after {SERVER_START_TIMEOUT_S} s:\n{tail(log_path)}")
