"""Streamlit and the session stay on the script thread (issue #17, finding 3: the server froze).

Polars runs Python callbacks (`map_elements`, `map_batches`, …) on its own worker threads. Page code did
that with labels from `t()`, which reads the session: every call logged "missing ScriptRunContext", got
the default language instead of the viewer's, and under load the callbacks, waiting for the GIL inside
polars' pool, froze the whole server. So the product hands polars no Python callback at all, and the
session-reading helpers refuse to run off the script thread.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state

ROOT = Path(__file__).resolve().parent.parent
# Everything that runs in the dashboard's process (etl.intake is imported by データ取込, warehouse and common by every page).
PACKAGES = ("dashboard", "warehouse", "etl", "common")
# Methods that run a Python function inside polars (or row-wise in pandas).
CALLBACK_METHODS = frozenset({"map_elements", "map_batches", "map_rows", "map_groups", "apply"})


def callback_calls(source: str, name: str = "<source>") -> list[str]:
    """'file:line .method(' for every call of a CALLBACK_METHODS method in the source."""
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLBACK_METHODS
    ]
    return [f"{name}:{node.lineno} .{node.func.attr}(" for node in sorted(calls, key=lambda n: n.lineno)]


def test_the_scan_finds_callbacks() -> None:
    """The scan below would see each way the freeze was written (so its silence means something)."""
    source = (
        "frame.select(pl.col('a').map_elements(lambda a: t(a), return_dtype=pl.String))\n"
        "pl.struct('a', 'b').map_elements(label)\n"
        "frame.map_rows(lambda row: row)\n"
        "pl.col('a').map_batches(f)\n"
        "pdf['a'].apply(lambda a: a)\n"
        "frame.select(pl.col('a').replace_strict(mapping))\n"
    )
    assert [found.split(" ")[1] for found in callback_calls(source)] == [
        ".map_elements(",
        ".map_elements(",
        ".map_rows(",
        ".map_batches(",
        ".apply(",
    ]


def test_no_python_callbacks_handed_to_polars() -> None:
    """No module of the product passes a Python function to polars (or pandas) to run per row or batch."""
    found = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in callback_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not found, (
        "Python callbacks run on polars worker threads (no session there; they froze the server, issue #17). "
        "Use a native expression (replace_strict with a dict built on the script thread, pl.when, str.*) or "
        "plain Python over the rows:\n" + "\n".join(found)
    )


def test_translation_refused_off_the_script_thread() -> None:
    """t(), lang() and city() outside any script run raise instead of logging and guessing the language."""
    for call in (lambda: state.t("app.all_cities"), state.lang, state.city):
        with pytest.raises(state.OffScriptThread):
            call()
    refused: list[BaseException] = []

    def worker() -> None:
        try:
            state.t("app.all_cities")
        except state.OffScriptThread as error:
            refused.append(error)

    thread = threading.Thread(target=worker, name="pool-worker")
    thread.start()
    thread.join()
    assert len(refused) == 1 and "pool-worker" in str(refused[0])


def _probe_script() -> None:
    """An app run: t() on its script thread, then in a thread the run starts."""
    import threading

    import streamlit as st

    from dashboard import state

    st.session_state["lang"] = "en"
    st.text("script: " + state.t("app.all_cities"))
    outcome: list[str] = []

    def worker() -> None:
        try:
            outcome.append(state.t("app.all_cities"))
        except state.OffScriptThread:
            outcome.append("refused")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    st.text("thread: " + outcome[0])


def test_translation_on_the_script_thread_only() -> None:
    """Inside an app run t() answers in the viewer's language on the script thread and refuses elsewhere."""
    at = AppTest.from_function(_probe_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [element.value for element in at.text]
    assert texts[0] == "script: " + state.translate("en", "app.all_cities")
    assert texts[1] == "thread: refused"
