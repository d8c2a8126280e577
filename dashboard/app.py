"""Entry point: sidebar (language, city), navigation, then the selected page."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard import auth, data, downloads, state, style
from dashboard.registry import PAGES
from warehouse import query

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="つながり Tsunagari", page_icon=":material/diversity_3:", layout="wide")
style.inject()

try:
    # The year list from the latest year's reader: the session's year is checked against it before any read.
    years = data.latest(query.fiscal_years)
    cities = data.latest(query.cities)
except query.WarehouseMissing as missing:
    # The path and the fix are for the operator (server log), not for the visitor.
    logging.getLogger(__name__).error("no published warehouse at %s: build one (README)", missing)
    st.error(state.translate("ja", "app.user.no_warehouse"))
    st.stop()

state.init_from_url(cities["code"].to_list())
# Before any page or widget: a session whose viewer changed forgets what the previous one left in it.
auth.guard_session()
state.keep_widget_values()

# A page a role may not open keeps its URL but runs a sign-in prompt instead, hidden from the navigation
# (so a staff link opened signed out is no "Page not found"); the queries behind every page enforce the
# same rules on their own.
role = auth.viewer().role
navigation = st.navigation(
    [
        st.Page(
            str(HERE / spec.script),
            title=state.t(spec.nav_key),
            url_path=spec.url_path,
            icon=spec.icon,
            default=spec.default,
        )
        if spec.allows(role)
        else st.Page(
            auth.restricted_page(spec.title_key),
            title=state.t(spec.nav_key),
            url_path=spec.url_path,
            icon=spec.icon,
            visibility="hidden",
        )
        for spec in PAGES
    ]
)
# The audit log names the page a download came from (dashboard/downloads.py); titles are unique in each
# language, and the registry's url_path also names the default page (whose StreamlitPage.url_path is "").
spec = next(spec for spec in PAGES if state.t(spec.nav_key) == navigation.title)
st.session_state[downloads.PAGE_KEY] = spec.url_path
state.init_year(years["fiscal_year"].to_list(), all_years=spec.all_years)

with st.sidebar:
    st.radio(
        "言語 / Language",
        options=["ja", "en"],
        format_func=lambda code: {"ja": "日本語", "en": "English"}[code],
        key=state.LANG_KEY,
        horizontal=True,
    )
    name_column = "name_ja" if state.lang() == "ja" else "name_en"
    # Labels are resolved now, in this run's language (format_func may be called after the run).
    labels = {
        state.ALL_CITIES: state.t("app.all_cities"),
        **dict(zip(cities["code"], cities[name_column], strict=True)),
    }
    state.localized_selectbox(
        state.t("app.city"), options=list(labels), format_func=labels.__getitem__, key=state.CITY_KEY
    )
    # A single-year warehouse has nothing to choose: the sidebar stays as it was before years existed.
    if years.height > 1:
        year_labels = {
            **({state.ALL_YEARS: state.t("app.all_years")} if spec.all_years else {}),
            **dict(zip(years["fiscal_year"], years["label_" + state.lang()], strict=True)),
        }
        # Newest first, so the default (the latest) is the first choice.
        options = [*list(year_labels)[1:], state.ALL_YEARS] if spec.all_years else list(year_labels)
        state.localized_selectbox(
            state.t("app.year"), options=options, format_func=year_labels.__getitem__, key=state.YEAR_KEY
        )
    st.caption(state.t("app.sample_notice"))
    st.divider()
    # The prompt page shows the sign-in form itself.
    auth.sign_in_panel(form=spec.allows(role))

state.sync_url()
auth.follow_sign_in(navigation.url_path)
navigation.run()
