"""イベント実績 (Art-project events): exhibitions, workshops and the symposium in numbers, with targets and costs."""

from __future__ import annotations

from functools import partial

import polars as pl
import streamlit as st

from dashboard import data, state, vega, years_a
from dashboard.charts import events as charts
from dashboard.downloads import csv_bytes, download_button
from dashboard.format import display, number
from dashboard.provenance import admin_pointer, show_provenance
from dashboard.scope import page_scope
from warehouse import query
from warehouse.query import events as events_query

# The session table's columns (charts.sessions_table), for the CSV's labels.
SESSION_COLUMNS = (
    "date", "time", "kind", "title", "seq", "artist_or_programme", "venue", "city", "participants", "consultees",
    "visitors",
)  # fmt: skip

t = state.t
con, city, lang, viewer, download_year = page_scope()

# The queries depend only on the published build and their arguments (viewer, city): data.cached keeps
# each answer per warehouse version, so a visit after the first reads none of them again.
cities = data.cached(query.cities)
scope = t("app.all_cities") if city is None else cities.filter(cities["code"] == city)[query.NAME_COLUMN[lang]][0]
kpis = data.cached(events_query.kpis, city, viewer)
joint = kpis if city is None else data.cached(events_query.kpis, None, viewer)
events = data.cached(events_query.events, city, viewer)
# The session list's count and dates, its first SESSION_ROWS and the charted events' sessions and answers: a
# region with tens of thousands of sessions is never read whole for the page (the CSV reads it on the click).
span = data.cached(events_query.session_span, city, viewer)
sessions = data.cached(events_query.sessions, city, viewer, charts.SESSION_ROWS)
questions = data.cached(events_query.survey_questions, city, viewer)
comments = data.cached(events_query.comments, city, viewer, events_query.COMMENT_ROWS)
contracts = data.cached(events_query.contracts, viewer)
targets = data.cached(events_query.targets, city, viewer)
held = {"exhibition": kpis["exhibitions"], "workshop": kpis["workshops"], "symposium": kpis["symposia"]}
# The charts and the notes per event draw the first CHART_EVENTS events by date (the tables list every one): a
# region with thousands of events would otherwise send the browser a chart row and a note per event.
charted_events = events.head(charts.CHART_EVENTS)
charted_ids = tuple(charted_events["event_id"].to_list())
charted = data.cached(events_query.sessions, city, viewer, None, charted_ids)
charted_answers = data.cached(events_query.survey_answers, city, viewer, charted_ids)


def people(value: float | None) -> str:
    """A head count with its unit, or — when the scope held no event of the kind."""
    return "—" if value is None else t("events.unit.people", n=number(value))


def consultee_people(value: float | None) -> str:
    """A consultee head count, or the restricted notice when this viewer may not see it."""
    return t("events.user.restricted") if kpis["consultees_hidden"] else people(value)


def cost_caption(per: str, workshop: str, workshop_figure: str, total: str) -> None:
    """How a cost KPI (per contact or per person) is computed, with the joint figures it divides by."""
    st.caption(
        t(
            f"events.def.cost_per_{per}",
            contract=number(joint["art_contract_yen"]),
            visitors=number(joint["exhibition_visitors"] or 0),
            symposium=number(joint["symposium_participants"] or 0),
            total=number(joint[total]),
            cost=number(joint[f"cost_per_{per}_yen"]),
            **{workshop: number(joint[workshop_figure] or 0)},
        )
    )


def comments_csv(labels: dict[str, str]) -> bytes:
    """Every comment of the scope as CSV under the labels (made when the download is clicked)."""
    every = events_query.comments(con, city, viewer)
    return csv_bytes(
        every.select("title", "venue", pl.col(f"city_{lang}").alias("city"), "comment").rename(labels), download_year
    )


def sessions_csv(labels: dict[str, str], lang: str) -> bytes:
    """Every session of the scope as CSV under the labels (made when the download is clicked)."""
    every = events_query.sessions(con, city, viewer)
    return csv_bytes(charts.sessions_table(every, lang).rename(labels), download_year)


def table(frame: pl.DataFrame, key: str) -> None:
    """A display frame with translated column labels."""
    # As Arrow: Streamlit 1.67 serialises a pyarrow Table as it is and sends anything else (polars included)
    # through pandas first; to_arrow() is mostly zero-copy.
    st.dataframe(
        display(frame).to_arrow(),
        hide_index=True,
        width="stretch",
        key=key,
        column_config={c: t(f"events.col.{c}") for c in frame.columns},
    )


def kind_heading(kind: str) -> bool:
    """The kind's subheader, and a notice instead of its figures when the scope held none; True when held."""
    st.subheader(t(f"events.{kind}"))
    if not held[kind]:
        st.info(t(f"events.none.{kind}", scope=scope))
    return bool(held[kind])


def chart_table(kind: str | None, key: str) -> None:
    """A chart's figures as a table, its text equivalent: the sessions it draws (one kind, or all)."""
    shown = charted if kind is None else charted.filter(pl.col("kind") == kind)
    with st.expander(t("events.chart_table", n=shown.height)):
        table(charts.sessions_table(shown, lang), key)


st.title(t("events.title"))
st.caption(t("events.subtitle", scope=scope))
not_held = [charts.kind_label(kind, lang) for kind, count in held.items() if count == 0]
if events.is_empty():
    st.info(t("events.no_events", scope=scope))
elif not_held:
    st.info(t("events.not_held", scope=scope, kinds=t("events.list_separator").join(not_held)))
if events.height > charted_events.height:
    st.caption(t("events.charts_first", n=number(charted_events.height), total=number(events.height)))

# An exhibition whose 開催日数 was unreadable (null): the summed days and the per-day mean are unknown.
days_unknown = events.filter((events["kind"] == "exhibition") & events["open_days"].is_null()).height
st.subheader(t("events.figures"))
cards = st.columns(4)
if held["exhibition"]:
    cards[0].metric(
        t("events.kpi.exhibition_visitors"),
        people(kpis["exhibition_visitors"]),
        help=t("events.help.exhibition_visitors_days_unknown", venues=kpis["exhibitions"])
        if days_unknown
        else t("events.help.exhibition_visitors", venues=kpis["exhibitions"], days=kpis["exhibition_open_days"]),
    )
if held["workshop"]:
    cards[1].metric(
        t("events.kpi.workshop_participations"),
        people(kpis["workshop_participations"]),
        help=t("events.help.workshop_participations", sessions=kpis["workshop_sessions"]),
    )
    cards[2].metric(
        t("events.kpi.workshop_unique_participants"),
        people(kpis["workshop_unique_participants"]),
        help=t("events.def.unique_participants"),
    )
if held["symposium"]:
    cards[3].metric(t("events.kpi.symposium_participants"), people(kpis["symposium_participants"]))
more = st.columns(4)
if held["workshop"]:
    more[0].metric(
        t("events.kpi.workshop_consultee_participations"),
        consultee_people(kpis["workshop_consultee_participations"]),
        help=t("events.help.restricted")
        if kpis["consultees_hidden"]
        else t("events.help.consultee_share", pct=number(kpis["workshop_consultee_share_pct"], 1)),
    )
    more[1].metric(
        t("events.kpi.workshop_unique_consultees"),
        consultee_people(kpis["workshop_unique_consultees"]),
        help=t("events.help.restricted") if kpis["consultees_hidden"] else t("events.def.unique_consultees"),
    )
if not events.is_empty():
    more[2].metric(t("events.kpi.total_reach"), people(kpis["total_reach"]), help=t("events.def.total_reach"))

years_a.events_comparison(data.every_year(), city, viewer, scope)

st.subheader(t("events.records"))
if events.is_empty():
    st.info(t("events.no_events", scope=scope))
else:
    table(charts.events_table(events, lang), "events_table")
    with st.expander(t("events.sessions_expander", n=span["sessions"])):
        # The screen lists the first SESSION_ROWS; the CSV is made on the click, with every row.
        table(charts.sessions_table(sessions, lang), "sessions_table")
        if span["sessions"] > charts.SESSION_ROWS:
            st.caption(t("events.sessions_first", n=number(charts.SESSION_ROWS), total=number(span["sessions"])))
        download_button(
            t("events.download"),
            data=partial(sessions_csv, {c: t(f"events.col.{c}") for c in SESSION_COLUMNS}, lang),
            file_name="tsunagari_event_sessions.csv",
            mime="text/csv",
            what="event_sessions",
            rows=span["sessions"],
            key="event_sessions_download",
        )

if kind_heading("exhibition"):
    vega.altair_chart(charts.exhibition_days_chart(charted, lang), width="stretch")
    chart_table("exhibition", "exhibition_days_table")
    st.caption(t("events.def.per_day"))
    for row in charted_events.filter(charted_events["kind"] == "exhibition").iter_rows(named=True):
        if row["open_days"] is None:
            st.caption(t("events.def.per_day_unknown", venue=row["venue"], visitors=number(row["visitors"])))
            continue
        st.caption(
            t(
                "events.def.per_day_example",
                venue=row["venue"],
                visitors=number(row["visitors"]),
                days=row["open_days"],
                exact=charts.unrounded(row["visitors_per_day_exact"]),
                shown=number(row["visitors_per_day"], row["visitors_per_day_decimals"]),
            )
        )

if kind_heading("workshop"):
    vega.altair_chart(charts.workshop_sessions_chart(charted, lang), width="stretch")
    chart_table("workshop", "workshop_sessions_table")
    st.caption(t("events.def.participations"))
    st.caption(t("events.def.unique_participants"))
    st.caption(t("events.def.unique_consultees"))

if kind_heading("symposium"):
    for row in charted_events.filter(charted_events["kind"] == "symposium").iter_rows(named=True):
        st.metric(
            t("events.symposium_metric", title=row["title"]),
            people(row["participations"]),
            help=row["artist_or_programme"],
        )

st.subheader(t("events.timeline"))
if not span["sessions"]:
    st.info(t("events.no_events", scope=scope))
else:
    st.caption(
        t(
            "events.timeline_range",
            first=charts.month_label(span["first_date"], lang),
            last=charts.month_label(span["last_date"], lang),
            n=span["sessions"],
        )
    )
    vega.altair_chart(charts.timeline_chart(charted, lang), width="stretch")
    chart_table(None, "timeline_table")

st.subheader(t("events.survey"))
# survey_questions has a row for each question any answer of the scope was given to: empty exactly when no answer is.
if questions.is_empty():
    st.info(t("events.none.survey", scope=scope))
else:
    # Each question on its own, with its text: the events asked different questions (no share mixes them).
    for line in charts.survey_question_lines(questions, lang):
        st.markdown("- " + line)
    vega.altair_chart(
        charts.survey_chart(charted_answers, questions, lang),
        width="stretch",
    )
    st.caption(t("events.def.survey_positive"))
    table(charts.survey_table(charted_answers, lang), "survey_table")

st.subheader(t("events.targets"))
if targets.is_empty():
    st.info(t("events.user.no_targets", scope=scope))
    admin_pointer("docs/source-formats.md")
else:
    vega.altair_chart(charts.targets_chart(targets, lang), width="stretch")
    st.caption(t("events.user.targets"))
    table(charts.targets_table(targets, lang), "targets_table")

st.subheader(t("events.costs"))
if city is not None:
    st.caption(t("events.joint_contract"))
table(charts.contracts_table(contracts, lang), "contracts_table")
# An art contract whose amount was unreadable (null) makes the costs unknown, not absent.
if joint["cost_per_contact_yen"] is None and (contracts["is_art"] & contracts["amount_yen"].is_null()).any():
    st.info(t("events.none.costs_unknown"))
elif joint["cost_per_contact_yen"] is None:
    st.info(t("events.none.costs"))
else:
    costs = st.columns(2)
    costs[0].metric(t("events.kpi.cost_per_contact_yen"), t("events.unit.yen", n=number(joint["cost_per_contact_yen"])))
    costs[1].metric(t("events.kpi.cost_per_person_yen"), t("events.unit.yen", n=number(joint["cost_per_person_yen"])))
    cost_caption("contact", "participations", "workshop_participations", "total_reach")
    cost_caption("person", "unique", "workshop_unique_participants", "total_people")

st.subheader(t("events.comments"))
if comments.is_empty():
    st.info(t("events.none.comments", scope=scope))
else:
    st.caption(t("events.comments_note"))
    for row in comments.iter_rows(named=True):
        with st.container(border=True):
            # st.text: the comment is shown as written, never parsed as Markdown or HTML.
            st.text(f"“{row['comment']}”")
            st.text(t("events.comment_source", venue=row["venue"], title=row["title"], city=row[f"city_{lang}"]))
    # Only a longer list than the page quotes is counted, and its CSV made on the click.
    total = data.cached(events_query.comment_count, city, viewer) if comments.height == events_query.COMMENT_ROWS else 0
    if total > comments.height:
        st.caption(t("events.comments_first", n=number(comments.height), total=number(total)))
        download_button(
            t("events.comments_download"),
            data=partial(comments_csv, {c: t(f"events.col.{c}") for c in ("title", "venue", "city", "comment")}),
            file_name="tsunagari_event_comments.csv",
            mime="text/csv",
            what="event_comments",
            rows=total,
            key="event_comments_download",
        )

show_provenance("art-events")
