"""The suite can fail: the same helpers the page suite uses must report a broken page.

A second, tiny Streamlit app (written into a temp dir, no hooks in the production code) has a page
that raises in Python, pages whose iframe throws or logs a console error in JavaScript, and a page
with a blank canvas; each check must raise AssertionError there, and pass on the healthy page.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from .checks import (
    ConsoleProblem,
    assert_healthy,
    assert_no_exception,
    assert_not_blank,
    check_not_blank,
    finished_runs,
    is_allowed,
    rerun,
)
from .conftest import new_tab
from .server import streamlit_server

pytestmark = pytest.mark.e2e

BROKEN_APP = textwrap.dedent(
    """
    import streamlit as st

    def fine():
        st.title("fine")
        st.write("nothing wrong here")

    def python_error():
        st.write("before the error")
        raise RuntimeError("e2e: deliberate Python error")

    def js_error():
        st.write("an iframe that throws")
        st.iframe("<p>iframe</p><script>throw new Error('e2e: deliberate JS error')</script>", height=60)

    def console_error():
        st.write("an iframe that logs an error")
        st.iframe("<p>iframe</p><script>console.error('e2e: deliberate console.error')</script>", height=60)

    def blank_canvas():
        st.write("an empty canvas")
        st.html('<canvas id="empty" width="300" height="150" style="background:#fff"></canvas>')

    def counted():
        if st.button("go"):
            st.session_state.clicks = st.session_state.get("clicks", 0) + 1
        st.write(f"clicks {st.session_state.get('clicks', 0)}")
        for row in range(40):
            st.write(f"row {row}")

    st.navigation([
        st.Page(fine, title="fine", url_path="fine", default=True),
        st.Page(counted, title="counted", url_path="counted"),
        st.Page(python_error, title="python error", url_path="python-error"),
        st.Page(js_error, title="js error", url_path="js-error"),
        st.Page(console_error, title="console error", url_path="console-error"),
        st.Page(blank_canvas, title="blank canvas", url_path="blank-canvas"),
    ]).run()
    """
)


@pytest.fixture(scope="module")
def broken_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("broken_app")
    (folder / "broken_app.py").write_text(BROKEN_APP, encoding="utf-8")
    with streamlit_server(Path("broken_app.py"), cwd=folder, log_path=folder / "streamlit.log") as url:
        yield url


@pytest.fixture
def broken_tab(browser, broken_app_url):
    yield from new_tab(browser, broken_app_url)


def test_healthy_page_passes(broken_tab) -> None:
    """No false alarm: the checks accept a healthy page."""
    page = broken_tab.open("/")
    assert_healthy(page, broken_tab.console)


def test_python_exception_is_reported(broken_tab) -> None:
    page = broken_tab.open("/python-error")
    with pytest.raises(AssertionError, match="deliberate Python error"):
        assert_no_exception(page)
    with pytest.raises(AssertionError, match="deliberate Python error"):
        assert_healthy(page, broken_tab.console)


def test_uncaught_js_error_in_iframe_is_reported(broken_tab) -> None:
    page = broken_tab.open("/js-error")
    page.wait_for_timeout(500)  # the iframe's script runs after the app's run has finished
    assert_no_exception(page)  # the Python side is fine …
    with pytest.raises(AssertionError, match="deliberate JS error"):  # … the console check is not
        assert_healthy(page, broken_tab.console)


def test_console_error_in_iframe_is_reported(broken_tab) -> None:
    page = broken_tab.open("/console-error")
    page.wait_for_timeout(500)
    with pytest.raises(AssertionError, match="deliberate console.error"):
        assert_healthy(page, broken_tab.console)


def test_blank_canvas_is_reported(broken_tab) -> None:
    page = broken_tab.open("/blank-canvas")
    assert_healthy(page, broken_tab.console)  # a healthy page opened by its own URL (not "/")
    with pytest.raises(AssertionError, match="looks blank"):
        assert_not_blank(page.locator("canvas#empty"), "empty canvas", timeout_ms=1_000)


def test_every_rerun_is_seen_when_the_tab_is_busy(broken_tab) -> None:
    """`rerun` returns once its click's run is on screen, also when the tab is too busy to show "running".

    At an 8x CPU throttle React rendered "running" and "not running" in one batch for about half the runs, so
    a counter watching data-test-script-state missed them and the suite's waits timed out (the flaky
    journeys); the counter reads the server's script_finished messages instead.
    """
    page = broken_tab.open("/counted")
    main = page.locator('[data-testid="stMain"]')
    session = page.context.new_cdp_session(page)
    session.send("Emulation.setCPUThrottlingRate", {"rate": 8})
    for click in range(1, 9):
        before = finished_runs(page)
        with rerun(page, timeout_ms=20_000):
            main.get_by_role("button", name="go").click()
        assert finished_runs(page) == before + 1
        # Read at once, without Playwright's auto-wait: the run's output is already rendered.
        assert main.get_by_text(f"clicks {click}", exact=True).count() == 1
    session.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    assert_healthy(page, broken_tab.console)


def test_blank_image_is_reported() -> None:
    with pytest.raises(AssertionError, match="looks blank"):
        check_not_blank(Image.new("RGB", (400, 300), "white"))
    with pytest.raises(AssertionError, match="looks blank"):  # a few stray pixels are still blank
        image = Image.new("RGB", (400, 300), "white")
        for x in range(50):
            image.putpixel((x, 10), (0, 0, 0))
        check_not_blank(image)
    drawn = Image.new("RGB", (400, 300), "white")
    drawn.paste((46, 117, 182), (20, 20, 300, 80))
    drawn.paste((31, 41, 51), (20, 100, 200, 160))
    check_not_blank(drawn)


def test_allow_list_only_covers_failed_loads() -> None:
    """Allowed: listed hosts' failed loads. Not allowed: JS errors from them, other hosts' failures."""
    gstatic = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/home/default/24px.svg"
    assert is_allowed(ConsoleProblem("console.error", "Failed to load resource: net::ERR_NAME_NOT_RESOLVED", gstatic))
    assert not is_allowed(ConsoleProblem("console.error", "TypeError: x is undefined", gstatic))
    assert not is_allowed(ConsoleProblem("uncaught", "Failed to load resource", gstatic))
    assert not is_allowed(
        ConsoleProblem(
            "console.error",
            "Failed to load resource: the server responded with a status of 500",
            "http://127.0.0.1:8501/_stcore/stream",
        )
    )
