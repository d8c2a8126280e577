"""Check helpers shared by every e2e test (and proven to fail in test_checks_fail.py).

- `ConsoleWatch`: console errors and uncaught page errors of a whole browser context (all pages,
  all frames, iframes included), minus the small explicit `ALLOWED_CONSOLE_ERRORS` list.
- `wait_for_app` / `rerun`: wait until Streamlit is connected and its script run has finished.
- `assert_healthy`: no Streamlit exception box and a clean console.
- `assert_not_blank` / `check_not_blank`: a chart or map element really has drawn pixels.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, WebError

from benchmarks.browser import RUN_COUNTER, SETTLED

APP_TIMEOUT_MS = 30_000


# --- console -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """A harmless console error: a *failed resource load* whose URL matches `url`."""

    why: str
    url: str  # regular expression, searched in the failed resource's URL


# The ONLY console errors a test may produce. Each is a resource that cannot load offline or a probe
# Streamlit itself makes; a JavaScript error (uncaught exception, console.error) is never allowed.
ALLOWED_CONSOLE_ERRORS: tuple[Allowed, ...] = (
    Allowed("Material Symbols icons/font (page icon, widgets) come from Google Fonts: offline here",
            r"^https://fonts\.(gstatic|googleapis)\.com/"),
    Allowed("GSI map tiles (地理院タイル) are not reachable offline", r"^https://cyberjapandata\.gsi\.go\.jp/"),
    Allowed("browser's automatic favicon request", r"/favicon\.ico$"),
    Allowed("Streamlit probes <page>/_stcore/{health,host-config} to detect a base path when a page "
            "URL is opened directly; it gets 404 and falls back to the root",
            r"^http://127\.0\.0\.1:\d+/[^/?#]+/_stcore/(health|host-config)$"),
    Allowed("the same probe under the reverse proxy's sub-path (test_proxy.py; streamlit/streamlit#7074)",
            r"^https://localhost:\d+/tsunagari/[^/?#]+/_stcore/(health|host-config)$"),
)  # fmt: skip

_FAILED_LOAD = re.compile(r"^Failed to load resource\b")


@dataclass(frozen=True)
class ConsoleProblem:
    kind: str  # "console.error" or "uncaught"
    text: str
    url: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.text} ({self.url})"


def is_allowed(problem: ConsoleProblem) -> bool:
    """True when the problem is a failed resource load listed in ALLOWED_CONSOLE_ERRORS."""
    if problem.kind != "console.error" or not _FAILED_LOAD.match(problem.text):
        return False
    return any(re.search(entry.url, problem.url) for entry in ALLOWED_CONSOLE_ERRORS)


@dataclass
class ConsoleWatch:
    """Collects console errors and uncaught errors from every page and frame of a browser context."""

    problems: list[ConsoleProblem] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> ConsoleWatch:
        context.on("console", self._on_console)
        context.on("weberror", self._on_weberror)
        return self

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(ConsoleProblem("console.error", message.text, message.location.get("url", "")))

    def _on_weberror(self, error: WebError) -> None:
        page_url = error.page.url if error.page else ""
        self.problems.append(ConsoleProblem("uncaught", str(error.error), page_url))

    def unexpected(self) -> list[ConsoleProblem]:
        return [problem for problem in self.problems if not is_allowed(problem)]

    def assert_clean(self) -> None:
        """AssertionError listing every console error / uncaught error not on the allow-list."""
        found = self.unexpected()
        assert not found, "browser console errors:\n" + "\n".join(f"  {problem}" for problem in found)


# --- waiting for Streamlit -----------------------------------------------------------------------

# Counts finished script runs (window.__runs), so a test can wait for the rerun its own click caused instead
# of sleeping: the benchmark's counter, which reads the server's messages (why: benchmarks/browser.py).
RUN_COUNTER_SCRIPT = RUN_COUNTER

_APP = '[data-testid="stApp"]'


def wait_for_app(page: Page, *, after_runs: int | None = None, timeout_ms: int = APP_TIMEOUT_MS) -> None:
    """Wait until Streamlit is connected, no script run is pending, and the main block is shown.

    `after_runs`: additionally wait until more than that many runs have finished (see `rerun`).
    """
    page.wait_for_selector(f'{_APP}[data-test-connection-state="CONNECTED"]', state="attached", timeout=timeout_ms)
    if after_runs is not None:
        page.wait_for_function("n => window.__runs > n", arg=after_runs, timeout=timeout_ms)
    page.wait_for_selector(f'{_APP}[data-test-script-state="notRunning"]', state="attached", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stMainBlockContainer"]', timeout=timeout_ms)
    # Elements of the previous run are marked stale until the new run replaces or drops them;
    # the status widget shows "Running…" while a run is active.
    page.wait_for_function(SETTLED, timeout=timeout_ms)


def finished_runs(page: Page) -> int:
    return page.evaluate("window.__runs ?? 0")


@contextlib.contextmanager
def rerun(page: Page, timeout_ms: int = APP_TIMEOUT_MS) -> Iterator[None]:
    """`with rerun(page): <click a widget>` — returns once the rerun caused by the click has finished."""
    before = finished_runs(page)
    yield
    wait_for_app(page, after_runs=before, timeout_ms=timeout_ms)


# --- page health ---------------------------------------------------------------------------------


def assert_no_exception(page: Page) -> None:
    """AssertionError with the exception text when Streamlit shows an exception box."""
    boxes = page.locator('[data-testid="stException"]')
    if boxes.count():
        raise AssertionError("Streamlit exception on the page:\n" + "\n---\n".join(boxes.all_inner_texts()))


def assert_healthy(page: Page, console: ConsoleWatch) -> None:
    """The checks every e2e test ends with: no exception box, no unexpected console error."""
    assert_no_exception(page)
    console.assert_clean()


# --- pixels --------------------------------------------------------------------------------------

MIN_DRAWN_FRACTION = 0.01  # at least 1 % of the element's pixels differ from its background
MIN_COLOURS = 3  # background plus at least two drawn colours (anti-aliasing gives many more)
_TOLERANCE = 24  # per-channel difference below which a pixel counts as background


def drawn_fraction(image: Image.Image) -> tuple[float, int]:
    """(share of pixels that differ from the most common colour, number of distinct colours)."""
    rgb = image.convert("RGB")
    total = rgb.width * rgb.height
    if total == 0:
        return 0.0, 0
    colours = rgb.getcolors(maxcolors=total) or []
    background = max(colours)[1]
    drawn = sum(count for count, colour in colours if max(abs(a - b) for a, b in zip(colour, background)) > _TOLERANCE)
    return drawn / total, len(colours)


def check_not_blank(image: Image.Image, what: str = "image") -> None:
    """AssertionError when the image is (nearly) one flat colour."""
    fraction, colours = drawn_fraction(image)
    assert fraction >= MIN_DRAWN_FRACTION and colours >= MIN_COLOURS, (
        f"{what} looks blank: {fraction:.2%} drawn pixels (need ≥ {MIN_DRAWN_FRACTION:.0%}), "
        f"{colours} colours (need ≥ {MIN_COLOURS}), size {image.width}×{image.height}"
    )


def assert_not_blank(locator: Locator, what: str, timeout_ms: int = 15_000) -> float:
    """Screenshot the element until it has drawn pixels (charts paint asynchronously); returns the share."""
    locator.wait_for(state="visible", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        image = Image.open(io.BytesIO(locator.screenshot(timeout=timeout_ms, animations="disabled")))
        try:
            check_not_blank(image, what)
            return drawn_fraction(image)[0]
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.25)


def full_page_screenshot(page: Page, path) -> None:
    """Screenshot the whole app: Streamlit scrolls inside its main container, not the document,
    so the viewport is grown to the content height for the shot and restored afterwards."""
    viewport = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
                             '[data-testid="stSidebarContent"]']
                 .map(s => document.querySelector(s)?.scrollHeight ?? 0), document.body.scrollHeight)"""
    )
    page.set_viewport_size({"width": viewport["width"], "height": min(max(height, viewport["height"]), 8000)})
    try:
        page.wait_for_timeout(300)  # let Streamlit/vega re-layout at the new size
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size(viewport)


@contextlib.contextmanager
def screenshot_afterwards(page: Page, path) -> Iterator[None]:
    """Full-page screenshot once the block is done, whether it passed or failed (a failing screenshot
    never hides the block's own error)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            full_page_screenshot(page, path)
        raise
    full_page_screenshot(page, path)
