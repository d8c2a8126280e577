"""Switching the language keeps every page working and every choice made on it.

Each page of dashboard.registry.PAGES is opened in Japanese as a city manager (a role that may open every page
and gets the progress form), each of its own choice widgets is moved off its default, then the sidebar
language radio goes to English and back. No run may raise, and every widget must still hold its value: a
selectbox or multiselect whose option labels follow the language has to use state.localized_selectbox /
localized_multiselect, or Streamlit (which keeps such a value by its shown label) drops it.

These runs also validate every chart the pages draw against the Vega-Lite schema (dashboard/vega.py VALIDATE),
which the server skips: an invalid spec raises, and a run that raises fails here.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import vega
from dashboard.registry import PAGES

APP = "../dashboard/app.py"
CHOICE_WIDGETS = ("selectbox", "multiselect", "radio", "toggle")
SIDEBAR_KEYS = {"lang", "city"}


def neutral(key: str) -> str:
    """A widget key without the language suffix state.localized_* adds (key__ja / key__en)."""
    for lang in ("ja", "en"):
        if key.endswith(f"__{lang}"):
            return key[: -len(lang) - 2]
    return key


def page_widgets(at: AppTest) -> dict[str, object]:
    """The page's own keyed choice widgets (not the sidebar's): language-neutral key → widget."""
    found = {}
    for kind in CHOICE_WIDGETS:
        for widget in at.main.get(kind):
            if widget.key and neutral(widget.key) not in SIDEBAR_KEYS:
                found[neutral(widget.key)] = widget
    return found


def values(at: AppTest) -> dict[str, object]:
    """Language-neutral key → value of every page widget."""
    return {key: widget.value for key, widget in page_widgets(at).items()}


def move_off_default(at: AppTest, widget) -> bool:
    """Send what the browser sends when the user picks another value (False when there is none) and run."""
    # The browser sends a select widget's shown label; AppTest's own set_value would first run the page's
    # format_func on the value given, which a label is not.
    states = at._tree.get_widget_states()
    state = next(s for s in states.widgets if s.id == widget.id)
    options = list(getattr(widget, "options", []))
    if widget.disabled:
        return False
    if widget.type == "toggle":
        state.bool_value = not widget.value
    elif widget.type == "multiselect":
        if not options or widget.value:
            return False
        state.string_array_value.data[:] = [options[0]]
    elif len(options) < 2:
        return False
    else:
        state.string_value = options[-1] if state.string_value != options[-1] else options[0]
    at._run(states)
    return True


@pytest.fixture(autouse=True)
def validated_charts(monkeypatch):
    """Every chart drawn in this module's runs is validated against the Vega-Lite schema."""
    monkeypatch.setattr(vega, "VALIDATE", True)


@pytest.fixture()
def app(sample_warehouse, tmp_path, monkeypatch, sign_in):
    """The app over the sample warehouse as the city manager of 座間市 (every page opens for this role)."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_MANAGER", raising=False)
    return sign_in(AppTest.from_file(APP, default_timeout=60), "city_manager", "14216")


@pytest.mark.parametrize("spec", PAGES, ids=[spec.url_path for spec in PAGES])
def test_language_switch_keeps_the_page_and_its_choices(app, spec):
    at = app.run()
    assert spec.allows("city_manager")
    at.switch_page(spec.script).run()
    assert not at.exception, [e.value for e in at.exception]
    moved = []
    for key in list(page_widgets(at)):
        widget = page_widgets(at).get(key)
        if widget is not None and move_off_default(at, widget):
            assert not at.exception, (key, [e.value for e in at.exception])
            moved.append(key)
    chosen = values(at)
    title = at.title[0].value

    at.radio(key="lang").set_value("en").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value != title, "the page did not switch to English"
    assert values(at) == chosen, f"changed by the switch to English (moved: {moved})"

    at.radio(key="lang").set_value("ja").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == title
    assert values(at) == chosen, f"changed by the switch back to Japanese (moved: {moved})"
