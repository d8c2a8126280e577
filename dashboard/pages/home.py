"""概要 (Home): the four cities' joint figures, each city's phase, and data freshness."""

from __future__ import annotations

import streamlit as st

from common.calendar import moment_label, short_moment
from dashboard import data, pack_section, state, vega, years_a
from dashboard.charts import home as charts
from dashboard.downloads import csv_download
from dashboard.format import number
from dashboard.i18n import with_phase_markers
from dashboard.provenance import show_provenance
from dashboard.scope import page_scope
from dashboard.tables import data_table
from warehouse import query

t = state.t
con, city, lang, viewer, download_year = page_scope()

# Every query here depends only on the published build and its arguments: kept per warehouse version.
kpis = data.cached(query.home_kpis, city, viewer)
# Changes from the previous 年度 (none when the warehouse holds one year).
delta = years_a.home_deltas(data.every_year(), city, viewer, state.shown_year())
phases = data.cached(query.city_phases, viewer)
run = data.cached(query.latest_run, viewer)
cities = data.cached(query.cities)
scope = (
    t("app.all_cities")
    if city is None
    else cities.filter(cities["code"] == city)["name_ja" if lang == "ja" else "name_en"][0]
)

st.title(t("home.title"))
st.caption(t("home.subtitle", scope=scope))

st.subheader(t("home.survey"))
survey = st.columns(4)
survey[0].metric(
    t("home.distributed"),
    t("unit.orgs", n=number(kpis["organisations_distributed"])),
    **delta["organisations_distributed"],
)
survey[1].metric(
    t("home.answered"), t("unit.orgs", n=number(kpis["organisations_answered"])), **delta["organisations_answered"]
)
survey[2].metric(t("home.rate"), t("unit.pct", n=number(kpis["response_rate_pct"], 1)), **delta["response_rate_pct"])
survey[3].metric(
    t("home.mapped"), t("unit.orgs", n=number(kpis["organisations_mapped"])), **delta["organisations_mapped"]
)

st.subheader(t("home.events"))
events = st.columns(4)
events[0].metric(
    t("home.visitors"),
    t("unit.people", n=number(kpis["exhibition_visitors"])),
    help=t("home.visitors_help_days_unknown")
    if kpis["exhibition_open_days"] is None
    else t("home.visitors_help", days=kpis["exhibition_open_days"]),
    **delta["exhibition_visitors"],
)
events[1].metric(
    t("home.ws_participations"),
    t("unit.people", n=number(kpis["workshop_participations"])),
    help=t("home.ws_participations_help"),
    **delta["workshop_participations"],
)
events[2].metric(
    t("home.ws_unique"),
    t("unit.people", n=number(kpis["workshop_unique_participants"])),
    help=t("home.ws_unique_help"),
)
events[3].metric(
    t("home.symposium"), t("unit.people", n=number(kpis["symposium_participants"])), **delta["symposium_participants"]
)

years_a.home_continuity(data.every_year(), city, viewer, state.shown_year())

table = charts.city_kpis_download(data.cached(query.city_kpis_table, lang, viewer))
csv_download(
    t("home.download"),
    table.rename({c: t(f"kpi.{c}") for c in table.columns}),
    "tsunagari_kpis",
    what="city_kpis",
    year=download_year,
)

st.subheader(t("home.phase"))
shown = phases if city is None else phases.filter(phases["city_code"] == city)
vega.altair_chart(charts.phase_chart(shown, lang), width="stretch")
phase_name = "phase_name_ja" if lang == "ja" else "phase_name_en"
data_table(
    with_phase_markers(shown, lang)
    .select(
        ("name_ja" if lang == "ja" else "name_en"),
        "phase_label",
        phase_name,
        "steps_done",
        "steps_in_progress",
        "steps_total",
    )
    .to_arrow(),  # Streamlit serialises a pyarrow Table as it is; polars would go through pandas first
    {
        "name_ja": t("col.city"),
        "name_en": t("col.city"),
        "phase_label": t("col.phase_label"),
        phase_name: t("col.phase"),
        "steps_done": t("col.steps_done"),
        "steps_in_progress": t("col.steps_in_progress"),
        "steps_total": t("col.steps_total"),
    },
)

st.subheader(t("home.freshness"))
if run is None:
    st.warning(t("home.no_run"))
else:
    fresh = st.columns(3)
    # The store keeps UTC; people read Japan time, labelled so no one takes it for UTC.
    fresh[0].metric(
        t("home.user.last_build"),
        short_moment(run["finished_at"]),
        help=t("home.user.last_build_help", moment=moment_label(run["finished_at"], lang)),
    )
    passed = run["expectations"] - run["expectations_failed"]
    fresh[1].metric(
        t("home.user.checks"),
        t("home.user.checks_value", passed=number(passed), total=number(run["expectations"])),
        help=t("home.user.checks_help", passed=number(passed), total=number(run["expectations"])),
    )
    fresh[2].metric(t("home.quarantined"), t("unit.rows", n=number(run["quarantined"])))
    status = "home.status_ok" if run["expectations_failed"] == 0 and run["quarantined"] == 0 else "home.status_warn"
    (st.success if status == "home.status_ok" else st.warning)(t(status, run_id=run["run_id"]))

pack_section.render(con)

show_provenance("overview")
