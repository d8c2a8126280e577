"""The browser stage: what a person waits for, measured in headless Chromium on the real app.

    .venv/bin/python -m benchmarks.browser --warehouse var/bench/warehouses/100000.duckdb [--rounds 4]

For one warehouse it starts the dashboard exactly as `make run` does (`python -m dashboard`, a fresh
process, so the first visits are the first after a build), signs in as an admin (a throwaway local
account, so every page is in the navigation) and measures, from the click until Streamlit's run has
finished and nothing on the page is stale:

- the first open of a new tab on a cold server, then of a new tab on the warm server;
- each page's first visit (the first after the build), then `rounds` more sidebar clicks through every
  page (median and p95 per page);
- the interactions that filter: the city switch, the language switch, and a facet change on
  データ・ダウンロード (median over `rounds`).

It drives the system Chromium through Playwright (no browser download). `benchmarks.run` calls it for
every size unless `--skip-browser`; the targets are in benchmarks.run.TARGETS. Never part of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("TSUNAGARI_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",  # WebGL (deck.gl) on the software rasteriser
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}
DEFAULT_ROUNDS = 4
SETTLE_TIMEOUT_MS = int(
    os.environ.get("TSUNAGARI_BENCH_TIMEOUT_MS", "120000")
)  # a page at 1M may be slow; a timeout is recorded, not raised
START_TIMEOUT_S = 180
ACCOUNT = "bench-admin"

# Counts finished script runs from the server's own messages, so a measurement (and the e2e suite, which
# uses this script too) waits for the run its own click caused. Watching data-test-script-state leave
# "running" misses runs: when the tab's main thread is busy, React renders "running" and "not running" in
# one batch and the attribute never changes (9 of 20 runs missed at a 8x CPU throttle). Each ForwardMsg is
# one WebSocket frame; a top-level field 6 (script_finished, ForwardMsg.proto of the pinned Streamlit) other
# than 2 (FINISHED_EARLY_FOR_RERUN) ends a run. The count moves once the tab is idle after that message, so
# Streamlit has rendered the run by then; __runsPending holds finishes not yet counted.
RUN_COUNTER = """
(() => {
  if (window.top !== window || window.__runs !== undefined) return;
  window.__runs = 0;
  window.__runsPending = 0;
  window.__runsDoc = Math.random();
  const finished = (bytes) => {
    let i = 0;
    const varint = () => {
      let value = 0, shift = 0, byte;
      do { byte = bytes[i++]; value += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
      return value;
    };
    while (i < bytes.length) {
      const key = varint(), field = Math.floor(key / 8), wire = key % 8;
      if (wire === 0) { const value = varint(); if (field === 6) return value !== 2; }
      else if (wire === 2) { const length = varint(); i += length; }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return false;
    }
    return false;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (!(event.data instanceof ArrayBuffer) || !finished(new Uint8Array(event.data))) return;
        window.__runsPending += 1;
        requestIdleCallback(() => { window.__runsPending -= 1; window.__runs += 1; }, {timeout: 5000});
      });
    }
  };
})();
"""
_APP = '[data-testid="stApp"]'
SETTLED = """() => !(window.__runsPending > 0) && !document.querySelector('[data-stale="true"]')
  && !/Running/i.test(document.querySelector('[data-testid="stStatusWidget"]')?.textContent ?? '')"""
# What the tab shows when a wait times out: which of settle()'s conditions did not hold.
STATE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return {
    url: location.href,
    runs: window.__runs ?? null,
    pending: window.__runsPending ?? null,
    script_state: app?.getAttribute('data-test-script-state') ?? null,
    connection: app?.getAttribute('data-test-connection-state') ?? null,
    stale: document.querySelectorAll('[data-stale="true"]').length,
    status: (document.querySelector('[data-testid="stStatusWidget"]')?.textContent ?? '').slice(0, 200),
    exceptions: [...document.querySelectorAll('[data-testid="stException"]')].map((e) => e.textContent.slice(0, 300)),
  };
}"""


def p95(values: list[float]) -> float:
    """95th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def summary(values: list[float]) -> dict[str, Any]:
    """Median, p95 and the raw seconds."""
    return {"median_s": statistics.median(values), "p95_s": p95(values), "runs_s": values} if values else {}


@contextlib.contextmanager
def dashboard(warehouse: Path, accounts: dict[str, str], log: Path) -> Iterator[str]:
    """`python -m dashboard` on a free port reading `warehouse`; yields its URL once healthy."""
    from benchmarks.peers import free_port

    port = free_port()
    command = [
        sys.executable, "-m", "dashboard",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    env = os.environ | {"TSUNAGARI_WAREHOUSE": str(warehouse)} | accounts
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            begin = time.monotonic()
            while time.monotonic() - begin < START_TIMEOUT_S:
                if process.poll() is not None:
                    raise RuntimeError(f"dashboard exited with {process.returncode}; see {log}")
                with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:  # noqa: S310 (our own http URL)
                    if answer.status == 200:
                        break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"dashboard not healthy after {START_TIMEOUT_S} s; see {log}")
            yield url
        finally:
            stop(process)


def stop(process: subprocess.Popen, wait_s: float = 15) -> None:
    """Terminate a server process, killing it when it does not exit within wait_s seconds."""
    process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def throwaway_account(folder: Path) -> tuple[dict[str, str], str]:
    """A local admin account for this run only (env for the dashboard, password)."""
    from dashboard.roles import hash_password

    password = secrets.token_urlsafe(12)
    (folder / "users.toml").write_text(
        f'[users.{ACCOUNT}]\npassword_hash = "{hash_password(password)}"\n', encoding="utf-8"
    )
    (folder / "roles.toml").write_text(f'[[identity]]\nid = "{ACCOUNT}"\nrole = "admin"\n', encoding="utf-8")
    return {
        "TSUNAGARI_LOCAL_USERS": str(folder / "users.toml"),
        "TSUNAGARI_ROLES": str(folder / "roles.toml"),
    }, password


def runs(page) -> tuple[int, float]:
    """Script runs finished so far in this document, and the document's id."""
    return tuple(page.evaluate("[window.__runs ?? 0, window.__runsDoc ?? 0]"))


def settle(page, after: tuple[int, float] | None = None) -> None:
    """Wait until connected, a run newer than `after` (runs, document) finished, and nothing is stale.

    A click that loads a new document (its counter starts again) counts once that document's first run
    has finished.
    """
    page.wait_for_selector(
        f'{_APP}[data-test-connection-state="CONNECTED"]', state="attached", timeout=SETTLE_TIMEOUT_MS
    )
    if after is not None:
        page.wait_for_function(
            "([n, doc]) => window.__runsDoc === doc ? window.__runs > n : window.__runs >= 1",
            arg=list(after),
            timeout=SETTLE_TIMEOUT_MS,
        )
    page.wait_for_selector(f'{_APP}[data-test-script-state="notRunning"]', state="attached", timeout=SETTLE_TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stMainBlockContainer"]', timeout=SETTLE_TIMEOUT_MS)
    page.wait_for_function(SETTLED, timeout=SETTLE_TIMEOUT_MS)


def timed(page, action: Callable[[], None], navigation: bool = False) -> float:
    """Seconds from `action` (a click) until the run it caused has settled."""
    before = runs(page)
    begin = time.perf_counter()
    action()
    settle(page, None if navigation else before)
    return time.perf_counter() - begin


def nav_link(page, url_path: str, default: bool):
    """The sidebar navigation link of a page, found by its URL path (titles follow the language)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    for i in range(links.count()):
        path = urllib.parse.urlparse(links.nth(i).get_attribute("href") or "").path.strip("/")
        if path.rsplit("/", 1)[-1] == ("" if default else url_path):  # the default page's link is the root
            return links.nth(i)
    raise LookupError(f"no navigation link for {url_path}")


def diagnose(page, name: str, server_log: Path, artifacts: Path | None) -> dict[str, Any]:
    """The tab's state after a wait timed out; with `artifacts`, its screenshot and the server's log kept there."""
    try:
        state = page.evaluate(STATE)
    except Exception as error:  # noqa: BLE001 (a tab that cannot answer is itself the finding)
        state = {"evaluate_error": f"{type(error).__name__}: {error}"[:300]}
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(artifacts / f"bench-{name}-timeout.png"), full_page=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(server_log, artifacts / f"bench-{name}-dashboard.log")
    return state


def measure(
    warehouse: Path,
    rounds: int = DEFAULT_ROUNDS,
    log: Callable[[str], None] = print,
    browser: Any = None,
    artifacts: Path | None = None,
) -> dict[str, Any]:
    """Every browser figure for one warehouse; `browser`: a Playwright Browser to use (default: a new Chromium).

    `artifacts`: a folder for a timed-out page's screenshot and the server log (the state is in the result).
    """
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            own = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                return measure(warehouse, rounds, log, own, artifacts)
            finally:
                own.close()
    from dashboard.registry import PAGES

    result: dict[str, Any] = {"rounds": rounds, "pages": {}, "interactions": {}}
    with tempfile.TemporaryDirectory(prefix="tsunagari-bench-") as tmp:
        accounts, password = throwaway_account(Path(tmp))
        server_log = Path(tmp) / "dashboard.log"
        with dashboard(warehouse, accounts, server_log) as url:

            def new_tab():
                context = browser.new_context(viewport=VIEWPORT, locale="ja-JP")
                context.add_init_script(RUN_COUNTER)
                return context, context.new_page()

            cold_context, page = new_tab()
            result["new_tab_cold_s"] = timed(page, lambda: page.goto(url + "/", wait_until="commit"), navigation=True)
            log(f"browser: cold server, new tab {result['new_tab_cold_s']:.2f} s")
            sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stForm"]')
            sidebar.get_by_role("textbox").nth(0).fill(ACCOUNT)
            sidebar.locator('input[type="password"]').fill(password)
            with page.expect_navigation(wait_until="commit"):
                sidebar.get_by_role("button").last.click()
            settle(page)
            first: dict[str, float] = {}
            clicks: dict[str, list[float]] = {spec.url_path: [] for spec in PAGES}
            # The sign-in lands on the default page, and clicking the page one is on runs nothing: each
            # round visits the other pages first and ends on the default one.
            order = [spec for spec in PAGES if not spec.default] + [spec for spec in PAGES if spec.default]
            failed: set[str] = set()
            for round_ in range(rounds + 1):
                for spec in order:
                    if spec.url_path in failed:
                        continue  # a page that did not settle once is not timed again: each try costs the timeout
                    link = nav_link(page, spec.url_path, spec.default)
                    try:
                        seconds = timed(page, link.click)
                    except Exception as error:  # noqa: BLE001 (a timeout is a result, recorded)
                        entry = result["pages"].setdefault(spec.url_path, {})
                        entry["error"] = f"{type(error).__name__}: {error}"[:300]
                        entry["state"] = diagnose(page, spec.url_path, server_log, artifacts)
                        log(f"browser: {spec.url_path} failed: {error}"[:300])
                        failed.add(spec.url_path)
                        # The tab may still be busy with that page: a fresh document, so the next page's
                        # figure is its own and not the wait for this one.
                        page.goto(url + "/", wait_until="commit")
                        settle(page)
                        continue
                    if round_ == 0 and spec.url_path not in first:
                        first[spec.url_path] = seconds
                    else:
                        clicks[spec.url_path].append(seconds)
                log(f"browser: round {round_} done")
            for spec in PAGES:
                entry = result["pages"].setdefault(spec.url_path, {})
                entry |= {"title": spec.title, "first_visit_s": first.get(spec.url_path)} | summary(
                    clicks[spec.url_path]
                )
            result["interactions"] = interactions(page, rounds, log)
            cold_context.close()
            warm_context, warm = new_tab()
            result["new_tab_warm_s"] = timed(warm, lambda: warm.goto(url + "/", wait_until="commit"), navigation=True)
            warm_context.close()
    return result


def interactions(page, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The filtering interactions: city switch, language switch, a facet on データ・ダウンロード."""
    from dashboard.i18n import translate
    from dashboard.registry import PAGES

    out: dict[str, list[float]] = {"city switch": [], "language switch": [], "facet change": []}
    errors: dict[str, str] = {}

    def attempt(name: str, pick: Callable[[], Any]) -> None:
        """Time one interaction (pick returns the element to click); a failure is recorded, not raised."""
        try:
            out[name].append(timed(page, pick().click))
        except Exception as error:  # noqa: BLE001 (recorded in the results)
            errors[name] = f"{type(error).__name__}: {error}"[:200]
            log(f"browser: {name} failed: {errors[name]}")
            page.keyboard.press("Escape")

    def option(n: int):
        """The n-th entry of the open dropdown list."""
        options = page.locator('[role="listbox"] [role="option"]')
        options.first.wait_for()
        return options.nth(n % options.count())

    overview = next(spec for spec in PAGES if spec.default)
    timed(page, nav_link(page, overview.url_path, True).click)
    sidebar = page.locator('[data-testid="stSidebar"]')
    for n in range(rounds):
        # City: the sidebar's first select box; option 0 is all four cities, 1–4 one city each.
        sidebar.locator('[data-testid="stSelectbox"]').first.click()
        attempt("city switch", lambda n=n: option(1 + n % 4))
        attempt(
            "language switch",
            lambda n=n: sidebar.locator('[data-testid="stRadioOption"]').nth((n + 1) % 2),
        )
    data = next((spec for spec in PAGES if spec.url_path == "data"), None)
    if data is not None:
        timed(page, nav_link(page, data.url_path, data.default).click)
        # A facet is a multiselect whose empty input shows the "any" placeholder (the column chooser is full).
        anything = ", ".join(
            f'[data-testid="stMultiSelect"]:has(input[placeholder="{translate(lang, "explore.any")}"])'
            for lang in ("ja", "en")
        )
        for _ in range(rounds):
            # Each round a facet still unset (showing the placeholder) gets its first option; a
            # multiselect stays open for more choices, so it is closed right after the click.
            facet = page.locator('[data-testid="stMain"]').locator(anything).first
            if not facet.count():
                break
            facet.locator("input").click()
            listbox = page.locator('[role="listbox"] [role="option"]').first
            with contextlib.suppress(Exception):
                listbox.wait_for(timeout=2_000)
            if not listbox.is_visible():
                # The click only closed the previous facet's list: the keyboard opens this one.
                facet.locator("input").press("ArrowDown")

            def choose() -> None:
                option(0).click()
                page.keyboard.press("Escape")

            try:
                out["facet change"].append(timed(page, choose))
            except Exception as error:  # noqa: BLE001 (recorded in the results)
                errors["facet change"] = f"{type(error).__name__}: {error}"[:200]
                log(f"browser: facet change failed: {errors['facet change']}")
    return {name: summary(values) for name, values in out.items() if values} | {"errors": errors}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: measure one warehouse and print the figures as JSON."""
    parser = argparse.ArgumentParser(description="Browser stage of the Tsunagari benchmark.")
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help=f"timed rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    result = measure(args.warehouse.resolve(), args.rounds, log=lambda m: print(m, file=sys.stderr, flush=True))
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
