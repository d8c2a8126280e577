"""Session-wide choices (language, city, 年度) kept in session state and mirrored in the URL query string."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate

LANG_KEY = "lang"
CITY_KEY = "city"
ALL_CITIES = "all"
# 広域カバレッジ's radius, candidate and map switches: a person expects them back after visiting another page, but
# Streamlit forgets a widget's value at the end of any run that does not draw it unless the value was last set
# through st.session_state, so keep_widget_values re-assigns them on every run, whichever page it draws.
KEPT_WIDGETS = ("coverage_radius", "coverage_interested", "coverage_show_map", "coverage_every_pin")
YEAR_KEY = "year"
# "All years": offered only on pages whose registry entry says they can show it (PageSpec.all_years).
ALL_YEARS = "all"
# The warehouse's latest year this run (the default; dropped from the URL like 4市全体).
LATEST_YEAR_KEY = "_latest_year"


def init_from_url(city_codes: list[str]) -> None:
    """On a session's first run, take language and city from the query string when they are valid."""
    params = st.query_params
    if LANG_KEY not in st.session_state:
        lang = params.get(LANG_KEY, DEFAULT_LANGUAGE)
        st.session_state[LANG_KEY] = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    if CITY_KEY not in st.session_state:
        city = params.get(CITY_KEY, ALL_CITIES)
        st.session_state[CITY_KEY] = city if city in city_codes else ALL_CITIES


def init_year(years: Sequence[int], all_years: bool = False) -> None:
    """Keep a valid 年度 in session state: the URL's on the first run, else the kept one, else the latest.

    years: the warehouse's, newest first. all_years: whether the page offers ALL_YEARS. A year a new build
    no longer holds, or "all" on a page without it, falls back to the latest.
    """
    script_thread()
    latest = years[0] if years else None
    st.session_state[LATEST_YEAR_KEY] = latest
    valid = set(years) | ({ALL_YEARS} if all_years and len(years) > 1 else set())
    if YEAR_KEY not in st.session_state:
        raw = st.query_params.get(YEAR_KEY)
        st.session_state[YEAR_KEY] = _year_value(raw)
    if st.session_state[YEAR_KEY] not in valid:
        st.session_state[YEAR_KEY] = latest


def _year_value(raw: str | None) -> int | str | None:
    """A ?year= value as kept in session state: a 西暦 year as int, "all", or None when it is neither."""
    if raw == ALL_YEARS:
        return ALL_YEARS
    return int(raw) if raw and raw.isascii() and raw.isdigit() else None


def fiscal_year() -> int | None:
    """The selected 年度 to read, or None for the latest (also for "all years": its pages read mart_year_*)."""
    script_thread()
    value = st.session_state.get(YEAR_KEY)
    if value in (None, ALL_YEARS) or value == st.session_state.get(LATEST_YEAR_KEY):
        return None
    return value


def shown_year() -> int | None:
    """The 年度 the page shows, the latest included (None before init_year or on a warehouse without years)."""
    script_thread()
    value = st.session_state.get(YEAR_KEY)
    return value if isinstance(value, int) else st.session_state.get(LATEST_YEAR_KEY)


def all_years() -> bool:
    """Whether "all years" is selected (only ever on a page that offers it)."""
    script_thread()
    return st.session_state.get(YEAR_KEY) == ALL_YEARS


def sync_url() -> None:
    """Write the current choices back to the query string so a link reproduces the view."""
    lang, city = st.session_state[LANG_KEY], st.session_state[CITY_KEY]
    year = st.session_state.get(YEAR_KEY)
    if year is None or year == st.session_state.get(LATEST_YEAR_KEY):
        st.query_params.pop(YEAR_KEY, None)
    else:
        st.query_params[YEAR_KEY] = str(year)
    if lang == DEFAULT_LANGUAGE:
        st.query_params.pop(LANG_KEY, None)
    else:
        st.query_params[LANG_KEY] = lang
    if city == ALL_CITIES:
        st.query_params.pop(CITY_KEY, None)
    else:
        st.query_params[CITY_KEY] = city


class OffScriptThread(RuntimeError):
    """Session state was asked for from a thread that runs no script (a polars worker, a thread pool)."""


def script_thread() -> None:
    """Raise OffScriptThread unless the calling thread runs a Streamlit script (and so has the session)."""
    # Elsewhere Streamlit logs "missing ScriptRunContext" and hands back an empty state: the default
    # language instead of the viewer's, and callbacks in polars threads that froze the server (issue #17).
    if get_script_run_ctx(suppress_warning=True) is None:
        raise OffScriptThread(
            f"session state read on thread {threading.current_thread().name!r}: only the script thread may; "
            "compute labels before handing data to polars or a thread pool"
        )


def lang() -> str:
    """Current UI language."""
    script_thread()
    return st.session_state.get(LANG_KEY, DEFAULT_LANGUAGE)


def city() -> str | None:
    """Selected city code, or None for 4市全体."""
    script_thread()
    value = st.session_state.get(CITY_KEY, ALL_CITIES)
    return None if value == ALL_CITIES else value


def t(key: str, **values: object) -> str:
    """Message in the current language."""
    return translate(lang(), key, **values)


def _widget_key(key: str) -> str:
    """Widget key for the current language (see localized_selectbox)."""
    return f"{key}__{lang()}"


def localized_selectbox(
    label: str,
    options: Sequence[Any],
    format_func: Callable[[Any], str],
    key: str,
    container: Any = st,
    **widget_options: Any,
) -> Any:
    """A selectbox whose option labels follow the language; the chosen value is kept under `key`.

    Streamlit keeps a selectbox's value by its shown label, so a label that changes with the language
    would lose the choice (or return the label itself). The widget therefore gets one key per
    language, seeded from the language-neutral value in session_state[key].
    """
    options = list(options)
    widget_key = _widget_key(key)
    current = st.session_state.get(key)
    if st.session_state.get(widget_key) not in options:
        st.session_state[widget_key] = current if current in options else options[0]
    # Streamlit's own placeholder is English ("Choose an option") in both languages.
    widget_options.setdefault("placeholder", t("app.choose_one"))
    value = container.selectbox(label, options, format_func=format_func, key=widget_key, **widget_options)
    st.session_state[key] = value
    return value


def localized_value(key: str) -> Any:
    """The value a localized widget holds now: its widget's state this run, else the value kept under key."""
    widget_key = _widget_key(key)
    return st.session_state[widget_key] if widget_key in st.session_state else st.session_state.get(key)


def localized_multiselect(
    label: str,
    options: Sequence[Any],
    format_func: Callable[[Any], str],
    key: str,
    container: Any = st,
    **widget_options: Any,
) -> list:
    """A multiselect whose option labels follow the language; the chosen values are kept under `key`."""
    options = list(options)
    widget_key = _widget_key(key)
    current = [value for value in st.session_state.get(key, []) if value in options]
    if widget_key not in st.session_state or any(v not in options for v in st.session_state[widget_key]):
        st.session_state[widget_key] = current
    # Streamlit's own placeholder is English ("Choose options") in both languages.
    widget_options.setdefault("placeholder", t("app.choose"))
    values = container.multiselect(label, options, format_func=format_func, key=widget_key, **widget_options)
    st.session_state[key] = list(values)
    return list(values)


def _css_string(text: str) -> str:
    """A CSS string literal of text (for content:)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def file_uploader_texts() -> None:
    """Put the file uploader's own texts (its button and drop-zone line) in the current language.

    Streamlit 1.67 has no parameter for them (they are English in every language), so a style replaces the
    text with a CSS content string, and a small script gives the button the same text as its accessible name
    (generated content is not a name that every assistive technology or axe-core reads). The widget's label,
    in the catalogue, states the file types and size limit.
    """
    dropzone = '[data-testid="stFileUploaderDropzone"]'
    instructions = '[data-testid="stFileUploaderDropzoneInstructions"]'
    st.html(
        "<style>"
        f'{dropzone} button [data-testid="stMarkdownContainer"] p {{ display: none; }}'
        f'{dropzone} button [data-testid="stMarkdownContainer"]::after {{ content: {_css_string(t("app.upload_button"))}; }}'
        f"{instructions} span {{ display: none; }}"
        f"{instructions} > div::after {{ content: {_css_string(t('app.upload_drop'))}; }}"
        "</style>"
    )
    # One observer per browser tab (reruns only change the text it applies): uploaders drawn later get it too.
    script = (
        "<script>(() => {"
        f"window.__tsunagariUploadLabel = {json.dumps(t('app.upload_button'))};"
        # Only the browse button (the one showing the replaced text), not a chosen file's remove button.
        f"const apply = () => document.querySelectorAll('{dropzone} button:has([data-testid=\"stMarkdownContainer\"])')"
        ".forEach((b) => { if (b.getAttribute('aria-label') !== window.__tsunagariUploadLabel)"
        " b.setAttribute('aria-label', window.__tsunagariUploadLabel); });"
        "apply();"
        "if (!window.__tsunagariUploadObserver) {"
        "window.__tsunagariUploadObserver = new MutationObserver(apply);"
        "window.__tsunagariUploadObserver.observe(document.body, {subtree: true, childList: true}); }"
        "})();</script>"
    )
    st.html(script, unsafe_allow_javascript=True)


def set_choice(key: str, value: Any) -> None:
    """Set a localized widget's value from code (e.g. a chart click) before the widget is drawn."""
    st.session_state[key] = value
    st.session_state[_widget_key(key)] = value


def keep_widget_values() -> None:
    """Re-assign KEPT_WIDGETS' values before the page runs, so that a page which does not draw them keeps them."""
    for key in KEPT_WIDGETS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
