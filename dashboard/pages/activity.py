"""活動分布: activity contents (sunburst with drill-down), support forms, breakdowns and survey reach."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import audit, data, state, vega, years_b
from dashboard.charts import activity as charts
from dashboard.downloads import csv_bytes, csv_download, download_button
from dashboard.format import display, number
from dashboard.provenance import show_provenance
from dashboard.scope import page_scope
from warehouse import query
from warehouse.query import activity

# Filters shared with the resource map (same keys there), holding legal_form / pf_intent codes.
FILTER_LEGAL_FORM = "filter_legal_form"
FILTER_PF_INTENT = "filter_pf_intent"
GROUP_KEY = "activity_group"
ALL = "all"

t = state.t
con, city, lang, viewer, download_year = page_scope()


def show_table(frame: pl.DataFrame, columns: dict[str, str], name: str) -> None:
    """Expander with the table, then the CSV of exactly that table (field → message key; "" keeps the name)."""
    shown = frame.select(list(columns)).rename({field: t(key) if key else field for field, key in columns.items()})
    with st.expander(t("activity.table")):
        # As Arrow: Streamlit sends a pyarrow Table as it is and anything else (polars included) through pandas.
        st.dataframe(display(shown).to_arrow(), hide_index=True, width="stretch")
    csv_download(
        t("activity.download"),
        shown,
        f"tsunagari_{name}",
        what=name,
        year=download_year,
        key=f"activity_download_{name}",
        filters=audit_filters,
    )


def drill_from_chart(chart_key: str) -> None:
    """Sunburst click: drill into the clicked field; clicking the field already shown (or nothing) goes back."""
    clicked = charts.selected_group(st.session_state.get(chart_key))
    current = st.session_state.get(GROUP_KEY, ALL)
    choice = ALL if clicked is None or clicked == current else clicked
    state.set_choice(GROUP_KEY, choice)


# The queries depend only on the published build and their arguments (viewer, filters, language): data.cached
# keeps each answer per warehouse version, so a visit after the first reads none of them again.
cities = data.cached(query.cities)
scope = t("app.all_cities") if city is None else cities.filter(cities["code"] == city)[query.NAME_COLUMN[lang]][0]
st.title(t("activity.title"))
st.caption(t("activity.subtitle", scope=scope))

legal_forms = data.cached(activity.legal_forms, lang)
intents = data.cached(activity.pf_intents, lang)
legal_names = dict(zip(legal_forms["code"], legal_forms["label"], strict=True))
intent_names = dict(zip(intents["code"], intents["label"], strict=True))
left, right, figure = st.columns([2, 2, 1])
chosen_forms = state.localized_multiselect(
    t("activity.filter_legal_form"), legal_names, legal_names.__getitem__, FILTER_LEGAL_FORM, container=left
)
chosen_intents = state.localized_multiselect(
    t("activity.filter_pf_intent"), intent_names, intent_names.__getitem__, FILTER_PF_INTENT, container=right
)
filters = activity.ActivityFilter(city_code=city, legal_forms=tuple(chosen_forms), pf_intents=tuple(chosen_intents))
audit_filters = {"legal_form": list(chosen_forms), "pf_intent": list(chosen_intents)}
n = data.cached(activity.respondents, filters, viewer)
figure.metric(t("activity.n_label"), f"N={n}", help=t("activity.n_help"))
st.caption(t("activity.filter_note"))

# 活動内容: sunburst with drill-down into one field
st.subheader(t("activity.content_title"))
st.caption(t("activity.content_caption", n=n))
groups = data.cached(activity.content_groups, lang)
group_names = dict(zip(groups["code"], groups["label"], strict=True))
# Labels are looked up now, in this run's language (AppTest calls format_func outside the run).
drill_names = {ALL: t("activity.all_groups")} | group_names
drill = state.localized_selectbox(t("activity.drill"), drill_names, drill_names.__getitem__, GROUP_KEY)
st.caption(t("activity.drill_help"))
group = None if drill == ALL else drill
counts = data.cached(activity.content_counts, filters, lang, viewer)
shown = counts if group is None else counts.filter(pl.col("group_code") == group)
if n == 0:
    st.info(t("activity.empty"))
elif shown.is_empty():
    st.info(t("activity.group_empty", group=group_names[group]))
else:
    if group is not None:
        st.caption(t("activity.drill_caption", group=group_names[group], orgs=shown["group_orgs"][0], n=n))
    # A fresh widget per drill level, so its first click always reports a change.
    chart_key = f"activity_sunburst_{group or ALL}"
    vega.altair_chart(
        charts.sunburst_chart(counts, n, lang, group),
        key=chart_key,
        on_select=lambda: drill_from_chart(chart_key),
        selection_mode=charts.SELECTION,
    )
    show_table(
        shown,
        {
            "group_label": "activity.col.group",
            "group_orgs": "activity.col.group_orgs",
            "group_share_pct": "activity.col.group_share_pct",
            "category_label": "activity.col.category",
            "category_orgs": "activity.col.category_orgs",
            "category_share_pct": "activity.col.category_share_pct",
        },
        "activity_contents",
    )

# 支援の形態: ranking and city × form heat table
st.subheader(t("activity.forms_title"))
st.caption(t("activity.forms_caption"))
if n == 0:
    st.info(t("activity.empty"))
else:
    forms = data.cached(activity.form_counts, filters, lang, viewer)
    vega.altair_chart(charts.form_ranking_chart(forms, lang), width="stretch")
    show_table(
        forms,
        {
            "rank": "activity.col.rank",
            "form_label": "activity.col.form",
            "orgs": "activity.col.orgs",
            "share_pct": "activity.col.share_pct",
        },
        "support_forms",
    )
    st.markdown(f"**{t('activity.heat_title')}**")
    st.caption(t("activity.heat_caption"))
    matrix = data.cached(activity.form_city_matrix, filters, lang, viewer)
    vega.altair_chart(charts.form_city_heatmap(matrix, lang))
    heat = matrix.pivot(on="city_label", index="form_label", values="orgs", sort_columns=False)
    show_table(heat, {"form_label": "activity.col.form"} | dict.fromkeys(heat.columns[1:], ""), "support_forms_by_city")

# 年度比較 (only on a warehouse of several 年度)
years_b.mix_section(data.every_year(), city, lang, viewer)

# 内訳: by city, legal form or target group, optionally as small multiples
st.subheader(t("activity.breakdown_title"))
st.caption(t("activity.breakdown_caption"))
measure_col, by_col, multiples_col = st.columns(3)
measure_names = {code: t(f"activity.measures.{code}") for code in activity.MEASURES}
by_names = {code: t(f"activity.by.{code}") for code in activity.BREAKDOWNS}
measure = state.localized_selectbox(
    t("activity.measure"), measure_names, measure_names.__getitem__, "activity_measure", container=measure_col
)
by = state.localized_selectbox(
    t("activity.breakdown_by"), by_names, by_names.__getitem__, "activity_by", container=by_col
)
small_multiples = multiples_col.toggle(t("activity.small_multiples"), key="activity_small_multiples")
if n == 0:
    st.info(t("activity.empty"))
else:
    split = data.cached(activity.breakdown, filters, lang, measure, by, viewer)
    vega.altair_chart(charts.breakdown_chart(split, by, lang, small_multiples), width="stretch")
    show_table(
        split,
        {
            "by_label": f"activity.by.{by}",
            "respondents": "activity.col.respondents",
            "term_label": f"activity.measures.{measure}",
            "orgs": "activity.col.orgs",
            "share_pct": "activity.col.share_pct",
        },
        "breakdown",
    )

# 調査の回収状況: distributed vs answered, and who to follow up
st.subheader(t("activity.reach_title"))
st.caption(t("activity.reach_caption"))
total = data.cached(activity.reach_total, filters, viewer)
if total["distributed"] == 0:
    st.info(t("activity.reach_empty"))
else:
    reach_figures = st.columns(3)
    reach_figures[0].metric(t("activity.distributed"), t("unit.orgs", n=number(total["distributed"])))
    reach_figures[1].metric(t("activity.answered"), t("unit.orgs", n=number(total["answered"])))
    reach_figures[2].metric(t("activity.rate"), t("unit.pct", n=number(total["rate_pct"], 1)))
    st.markdown(
        t(
            "activity.reach_flow",
            distributed=number(total["distributed"]),
            answered=number(total["answered"]),
            rate=number(total["rate_pct"], 1),
        )
    )
    tabs = st.tabs([t(f"activity.by.{d}") for d in activity.REACH_DIMENSIONS])
    every_reach = data.cached(activity.reaches, filters, lang, viewer)
    for tab, dimension in zip(tabs, activity.REACH_DIMENSIONS, strict=True):
        with tab:
            reach = activity.reach_of(every_reach, dimension)
            vega.altair_chart(charts.reach_chart(reach, lang), width="stretch")
            show_table(
                reach,
                {
                    "label": f"activity.by.{dimension}",
                    "distributed": "activity.col.distributed",
                    "answered": "activity.col.answered",
                    "rate_pct": "activity.col.rate_pct",
                },
                f"survey_reach_{dimension}",
            )

    st.markdown(f"**{t('activity.non_respondents_title')}**")
    missing_total = data.cached(activity.non_respondent_count, filters, viewer)
    if not missing_total:
        st.info(t("activity.no_non_respondents"))
    else:
        st.caption(t("activity.non_respondents_caption", n=number(missing_total)))
    listed = 0  # rows of the follow-up list this viewer may see
    if missing_total and not activity.may_see_follow_up(viewer):
        st.caption(t("activity.follow_up_staff_only"))
    elif missing_total:
        listed = data.cached(activity.follow_up_count, filters, viewer)
        if viewer.role == "city_manager":
            # The count above is the view's; the list is the manager's own city's, so both numbers are said.
            cities = data.latest(query.cities)
            own = dict(zip(cities["code"], cities["name_ja" if lang == "ja" else "name_en"], strict=True))
            own_city = own.get(viewer.city_code, viewer.city_code)
            st.caption(
                t("activity.follow_up_own_city", city=own_city, listed=number(listed), total=number(missing_total))
            )
    if listed:
        # The screen lists the first rows; a longer list's CSV is made on the click, with every row. Contact
        # persons are read for this run only, never kept in the process-wide cache other sessions share.
        missing = activity.non_respondents_head(data.connection(), filters, lang, activity.NON_RESPONDENT_ROWS, viewer)
        labels = {c: t(f"activity.col.{c}") for c in missing.columns}
        follow_up = missing.rename(labels)
        st.dataframe(display(follow_up).to_arrow(), hide_index=True, width="stretch")
        audit.personal_view(
            "non_respondent_contacts", missing.height, roles=activity.CONTACT_ROLES, filters=audit_filters
        )
        if listed > missing.height:
            st.caption(t("activity.non_respondents_first", n=number(missing.height)))
        download_button(
            t("activity.download"),
            data=csv_bytes(follow_up, download_year)
            if listed == missing.height
            else lambda: csv_bytes(activity.non_respondents(con, filters, lang, viewer).rename(labels), download_year),
            file_name="tsunagari_non_respondents.csv",
            mime="text/csv",
            what="non_respondents",
            rows=listed,
            key="activity_download_non_respondents",
            filters=audit_filters,
        )

show_provenance("activities")
