"""Soak: six visitors and a staff member on データ取込 for a bounded time, while the server keeps answering.

Issue #17 (finding 3): under exactly this use the whole server froze (`/_stcore/health` silent for minutes)
and its log filled with "missing ScriptRunContext" warnings, because page code ran Python callbacks inside
polars worker threads. Here six browser contexts click 地域資源マップ → イベント実績 → 概要 → 相談つなぎ in
loops and a staff member sends a file to a dry run and switches the file kind while the page polls the
job. The freeze was seen with a city manager doing that; since four-city files became admin-only (finding
5) a city manager has one kind to choose, so an administrator plays the part: the same page, the same
polling and the same reruns on every switch. A separate process asks `/_stcore/health` every HEALTH_EVERY_S; every answer must come within
HEALTH_LIMIT_S, and the server log must carry no ScriptRunContext warning and no flood of warnings.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from .checks import assert_no_exception, wait_for_app
from .conftest import CHROMIUM, CHROMIUM_ARGS, dashboard_server, new_tab
from .server import ROOT, build_warehouse, tail

pytestmark = pytest.mark.e2e

SOAK_SECONDS = 150  # load phase; with the build and the server start the test takes about 3 minutes
HEALTH_EVERY_S = 0.5
HEALTH_LIMIT_S = 2.0
VISITORS = 6
VISITOR_PAGES = ("地域資源マップ", "イベント実績", "概要", "相談つなぎ")
# A visitor clicks on when its page has finished, or after this long on a page that is still running (s).
PATIENCE_S = 20.0
# The manager switches the file kind this often while the dry run is polled (s).
SWITCH_EVERY_S = 2.0
MANAGER, PASSWORD = "soak-admin", "soak-つながり"
PROGRESS_KIND = "PF構築プロセスの進捗"
OTHER_KINDS = ("調査票の配布リスト", "アンケート回答", "アート事業の実績")
PROGRESS_FILE = ROOT / "data" / "sample" / "pf_progress.xlsx"
DRY_RUN_DONE = re.compile("試験取込が終わりました|このファイルは取り込めません|処理が途中で止まりました")
WARNINGS_ALLOWED = 20  # warning lines the server may log in the whole soak (not a flood)
# Streamlit's default log format carries no level; this one does, so warnings can be counted.
LOG_FORMAT = {"STREAMLIT_LOGGER_MESSAGE_FORMAT": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
QUICK_MS = 5_000  # one click or fill during the soak


# The prober runs in a process of its own, so the timing is not disturbed by this process (Playwright's
# driver loop holds its GIL). One line per probe: "<seconds since start> <seconds taken> <ok|problem>".
PROBE = """
import sys, time, urllib.request
url, every, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
begun = time.monotonic()
while True:
    asked = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=limit) as response:
            response.read()
            outcome = "ok" if response.status == 200 else f"status-{response.status}"
    except Exception as error:
        outcome = type(error).__name__
    took = time.monotonic() - asked
    print(f"{asked - begun:.1f} {took:.3f} {outcome}", flush=True)
    time.sleep(max(0.0, every - took))
"""


@dataclass
class HealthWatch:
    """Asks /_stcore/health every HEALTH_EVERY_S from its own process; keeps answers late or missing."""

    url: str
    samples: int = 0
    slowest_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    _process: subprocess.Popen | None = None
    _reader: threading.Thread | None = None

    def start(self) -> HealthWatch:
        self._process = subprocess.Popen(
            [sys.executable, "-c", PROBE, self.url, str(HEALTH_EVERY_S), str(HEALTH_LIMIT_S)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="health-watch", daemon=True)
        self._reader.start()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            at, took, outcome = line.split()
            self.samples += 1
            self.slowest_s = max(self.slowest_s, float(took))
            if outcome != "ok" or float(took) > HEALTH_LIMIT_S:
                self.failures.append(f"at {float(at):6.1f} s: {outcome} after {float(took):.2f} s")


@dataclass
class Visitor:
    """A public visitor clicking through VISITOR_PAGES in a loop, one page after the other."""

    page: Page
    next_page: int
    clicked_at: float = 0.0
    clicks: int = 0
    stalls: int = 0

    def step(self) -> None:
        """Click the next page once the current one has finished (or has run for PATIENCE_S)."""
        now = time.monotonic()
        script = self.page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state", timeout=QUICK_MS)
        if script == "running" and now - self.clicked_at < PATIENCE_S:
            return
        if script == "running":
            self.stalls += 1
        title = VISITOR_PAGES[self.next_page % len(VISITOR_PAGES)]
        self.page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click(timeout=QUICK_MS)
        self.next_page += 1
        self.clicks += 1
        self.clicked_at = now


@dataclass
class Manager:
    """The staff member on データ取込: send the progress file to a dry run, switch kinds while it is polled.

    One action per round (choose the kind, attach the file, start the dry run, switch the kind), so the
    visitors are never kept waiting by the manager's page.
    """

    page: Page
    phase: str = "send"
    seen_running: bool = False
    switched_at: float = 0.0
    dry_runs: int = 0
    finished: int = 0
    switches: int = 0

    def choose_kind(self, label: str) -> None:
        """Pick a file kind without waiting for the rerun (the page keeps polling meanwhile)."""
        box = self.page.locator('[data-testid="stSelectbox"]').filter(has_text="ファイルの種類").locator("input").first
        box.click(timeout=QUICK_MS)
        box.fill(label, timeout=QUICK_MS)
        self.page.get_by_role("option", name=label, exact=True).first.click(timeout=QUICK_MS)

    def step(self) -> None:
        page = self.page
        if self.phase == "poll":
            if page.get_by_text("試験取込を実行中", exact=False).count():
                self.seen_running = True
            elif self.seen_running and page.get_by_text(DRY_RUN_DONE).count():
                self.finished += 1
                self.phase = "send"
                return
            if self.seen_running and time.monotonic() - self.switched_at >= SWITCH_EVERY_S:
                self.choose_kind(OTHER_KINDS[self.switches % len(OTHER_KINDS)])
                self.switches += 1
                self.switched_at = time.monotonic()
            return
        # The chosen kind shows as the caption naming its file (the selectbox keeps it in an input's value).
        if not page.get_by_text(f"ファイル名: {PROGRESS_FILE.name}", exact=False).count():
            self.choose_kind(PROGRESS_KIND)
            return
        if not page.locator('[data-testid="stFileChipName"]', has_text=PROGRESS_FILE.name).count():
            # The uploader of the progress kind (its label names .xlsx), not a stale one of the previous kind.
            uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text=".xlsx")
            uploader.locator('input[type="file"]').set_input_files(PROGRESS_FILE, timeout=QUICK_MS)
            return
        button = page.get_by_role("button", name="試験取込（ドライラン）")
        if button.is_enabled(timeout=QUICK_MS):
            button.click(timeout=QUICK_MS)
            self.dry_runs += 1
            self.phase, self.seen_running, self.switched_at = "poll", False, time.monotonic()


def say(*parts) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def _manager_accounts(folder: Path) -> dict[str, str]:
    """A local administrator account (argon2) and the env that points the server at it."""
    from dashboard.roles import hash_password

    (folder / "users.toml").write_text(
        f'[users.{MANAGER}]\npassword_hash = "{hash_password(PASSWORD)}"\n', encoding="utf-8"
    )
    (folder / "roles.toml").write_text(f'[[identity]]\nid = "{MANAGER}"\nrole = "admin"\n', encoding="utf-8")
    return {"TSUNAGARI_LOCAL_USERS": str(folder / "users.toml"), "TSUNAGARI_ROLES": str(folder / "roles.toml")}


def _sign_in(page: Page) -> None:
    """Sign in through the sidebar form as the soak's administrator."""
    form = page.locator('[data-testid="stSidebar"] [data-testid="stForm"]')
    form.get_by_role("textbox", name="ユーザー名").fill(MANAGER)
    form.get_by_role("textbox", name="パスワード").fill(PASSWORD)
    # The sign-in ends with a page load through the session route (it sets the lasting cookie).
    with page.expect_navigation(wait_until="domcontentloaded", timeout=30_000):
        form.get_by_role("button", name="ログイン").click()
    upload = page.locator('[data-testid="stSidebarNavLink"]', has_text="データ取込").first
    upload.click(timeout=30_000)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="ファイルの種類").wait_for(timeout=30_000)


def _warning_lines(log: str) -> list[str]:
    """Lines of the server log at WARNING level or above (LOG_FORMAT), and Python warnings."""
    return [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Warning:", line)]


SOAK_BROWSER_FLAG = "--disable-3d-apis"  # also marks the soak browser's processes in /proc


@pytest.fixture
def light_browser(browser: Browser) -> Iterator[Browser]:
    """A second Chromium for the soak's seven tabs, without WebGL."""
    # The seven tabs stand for seven people's own computers but share the server's two cores here: without
    # WebGL they do not draw deck.gl maps on the software rasteriser. The server's work is the same whether
    # or not the browser draws the map.
    args = [arg for arg in CHROMIUM_ARGS if "swiftshader" not in arg] + [SOAK_BROWSER_FLAG]
    light = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args, headless=True)
    try:
        yield light
    finally:
        light.close()


def unboost_browser() -> int:
    """Set the soak browser's threads that Chromium raised above normal priority back to nice 0; how many."""
    # Run as root, Chromium gives its browser and GPU threads nice -8, above the server (nice 0) that the
    # test measures. Lowering one's own threads' priority needs no privilege.
    lowered = 0
    for process in Path("/proc").glob("[0-9]*"):
        try:
            if SOAK_BROWSER_FLAG.encode() not in (process / "cmdline").read_bytes():
                continue
            for task in (process / "task").iterdir():
                if os.getpriority(os.PRIO_PROCESS, int(task.name)) < 0:
                    os.setpriority(os.PRIO_PROCESS, int(task.name), 0)
                    lowered += 1
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # a process or thread that ended meanwhile
    return lowered


def test_soak_server_keeps_answering(light_browser: Browser, tmp_path: Path) -> None:
    """Six visitors + one manager for SOAK_SECONDS: health always answers in time, no ScriptRunContext warning."""
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    build_warehouse(ROOT / "data" / "sample", warehouse, reference=ROOT / "tests" / "fixtures" / "reference")
    env = {**LOG_FORMAT, **_manager_accounts(tmp_path), "TSUNAGARI_OPERATIONS": str(tmp_path / "operations.sqlite")}
    log_path = tmp_path / "dashboard.log"
    tabs = []
    with dashboard_server(warehouse, log_path, env=env) as base_url:
        try:
            visitors = []
            for number in range(VISITORS):
                tabs.append(new_tab(light_browser, base_url))
                tab = next(tabs[-1])
                tab.open("/")
                visitors.append(Visitor(tab.page, next_page=number))
                say("visitor", number)
            tabs.append(new_tab(light_browser, base_url))
            manager_tab = next(tabs[-1])
            _sign_in(manager_tab.open("/"))
            say("manager on upload")
            manager = Manager(manager_tab.page)

            say("browser threads set back to normal priority:", unboost_browser())
            health = HealthWatch(f"{base_url}/_stcore/health").start()
            errors: list[str] = []
            try:
                ends = time.monotonic() + SOAK_SECONDS
                while time.monotonic() < ends and not health.failures:
                    for actor in (*visitors, manager):
                        try:
                            actor.step()
                        except PlaywrightError as error:
                            # A click that found no target in time (a page mid-rerun) is retried on the next
                            # round; only the health watch and the log decide the test.
                            errors.append(f"{type(actor).__name__}: {str(error).splitlines()[0]}")
                            say("error", errors[-1])
                        if health.failures:
                            break
            finally:
                health.stop()

            assert not health.failures, (
                f"/_stcore/health did not answer within {HEALTH_LIMIT_S} s ({len(health.failures)} of "
                f"{health.samples} probes):\n"
                + "\n".join(health.failures[:20])
                + f"\n--- server log:\n{tail(log_path)}"
            )
            # The load really happened: every visitor went round its pages, the manager's dry runs ran and were
            # polled while the kind changed.
            assert all(v.clicks >= len(VISITOR_PAGES) for v in visitors), [v.clicks for v in visitors]
            assert manager.dry_runs >= 1 and manager.finished >= 1, (manager, errors[-10:])
            assert manager.switches >= 3, (manager, errors[-10:])
            for visitor in visitors:
                wait_for_app(visitor.page)
                assert_no_exception(visitor.page)
        finally:
            for opened in tabs:
                opened.close()

    log = log_path.read_text(errors="replace")
    context_warnings = log.count("missing ScriptRunContext")
    assert context_warnings == 0, f"{context_warnings} 'missing ScriptRunContext' warnings in the server log"
    warnings = _warning_lines(log)
    assert len(warnings) <= WARNINGS_ALLOWED, f"{len(warnings)} warning lines in the server log:\n" + "\n".join(
        warnings[:20]
    )
    print(
        f"soak: {health.samples} health probes, slowest {health.slowest_s:.2f} s; visitor clicks "
        f"{[v.clicks for v in visitors]} (stalls {sum(v.stalls for v in visitors)}); manager {manager.dry_runs} dry "
        f"runs, {manager.finished} finished, {manager.switches} kind switches; {len(errors)} retried clicks"
    )
