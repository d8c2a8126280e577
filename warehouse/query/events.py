"""Queries of the page イベント実績 (art-project events): KPIs, events, sessions, surveys, contracts, targets.

Personal data (pii.event_participant, pii.event_attendance) is never read here: the marts publish only
its aggregates. Consultee figures (相談者) are sensitive: they live in the pii schema
(pii.event_session_consultees and the pii marts) and are returned only where may_see_consultees allows,
null elsewhere with consultees_hidden (actual_hidden for targets) set; a viewer allowed none never
reads them.
"""

from __future__ import annotations

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse.query import city_consultees, city_figures, city_filter, consultee_join, fetch, fetch_one, where

# Event kinds in display order (event.kind).
KINDS = ("exhibition", "workshop", "symposium")
# Order of kinds inside one day, so the timeline and tables read exhibitions, workshops, symposium.
_KIND_ORDER = "case e.kind when 'exhibition' then 1 when 'workshop' then 2 else 3 end"
_CITY_NAMES = "c.name_ja as city_ja, c.name_en as city_en"
# KPIs computed from consultee figures (pii.mart_city_consultees), in the order kpis() returns them.
CONSULTEE_KPIS = ("workshop_consultee_participations", "workshop_unique_consultees", "workshop_consultee_share_pct")


def kpis(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> dict:
    """The art-project KPIs of one city, or of the four cities together when city_code is None.

    The CONSULTEE_KPIS are null and consultees_hidden is true unless may_see_consultees(viewer, city_code).
    """
    row = city_figures(con, "mart_event_kpis", city_code)
    found = city_consultees(con, viewer, city_code, CONSULTEE_KPIS)
    return row | {k: (found or {}).get(k) for k in CONSULTEE_KPIS} | {"consultees_hidden": found is None}


def events(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """One row per event held in the city (all four when None), by start date, with its figures.

    consultee_participations and unique_consultees come from pii.mart_event_consultees, only for events
    of the cities may_see_consultees allows; consultees_hidden marks the other rows.
    """
    fragments, params = city_filter("e.city_code", city_code)
    k = consultee_join(
        con,
        viewer,
        "e.city_code",
        "pii.mart_event_consultees",
        "k.event_id = e.event_id",
        figures="k.consultee_participations, k.unique_consultees",
        hidden="null::bigint as consultee_participations, null::bigint as unique_consultees",
    )
    return k.fetch(
        con,
        f"select e.*, {_CITY_NAMES}, {k.figures}, not {k.shown} as consultees_hidden "
        "from mart_event_summary as e join city as c on c.code = e.city_code",
        fragments,
        params,
        f" order by e.start_date, {_KIND_ORDER}, e.event_id",
    )


def sessions(
    con: duckdb.DuckDBPyConnection,
    city_code: str | None,
    viewer: Viewer = PUBLIC,
    limit: int | None = None,
    event_ids: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """Every session or exhibition open day of the events in the city, in date order: the first `limit` when
    given, only the sessions of event_ids when given.

    consultees (うち相談者数) comes from pii.event_session_consultees, only for sessions of the cities
    may_see_consultees allows; consultees_hidden marks the other rows.
    """
    # mart_event_session_list holds the sessions joined to their events and numbered in this order at build
    # time, so a head or a few events' sessions skip joining and sorting all of them (25,000 at 1M organisations).
    fragments, params = city_filter("s.city_code", city_code)
    if event_ids is not None:
        fragments.append("list_contains(?::varchar[], s.event_id)")
        params.append(list(event_ids))
    if limit is not None:
        # The scope's first `limit` places (the mart is stored in list order); the subquery's s is the inner table.
        fragments = [
            "s.list_order in (select s.list_order from mart_event_session_list as s"
            + where(fragments)
            + " order by s.list_order limit ?)"
        ]
        params = [*params, limit]
    k = consultee_join(
        con,
        viewer,
        "s.city_code",
        "pii.event_session_consultees",
        "k.session_id = s.id",
        figures="k.consultees::integer",
        hidden="null::integer",
    )
    return k.fetch(
        con,
        "select s.id as session_id, s.event_id, s.kind, s.title, s.artist_or_programme, s.city_code, "
        f"{_CITY_NAMES}, s.venue, s.start_date as event_start, s.seq, s.session_date, s.start_time, s.end_time, "
        f"s.participants, {k.figures} as consultees, s.visitors, not {k.shown} as consultees_hidden "
        "from mart_event_session_list as s join city as c on c.code = s.city_code",
        fragments,
        params,
        " order by s.list_order",
    )


def session_span(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> dict:
    """How many rows sessions lists for the city (None = the four cities), and their first and last date."""
    fragments, params = city_filter("s.city_code", city_code)
    return fetch_one(
        con,
        "select count(*) as sessions, min(s.session_date) as first_date, max(s.session_date) as last_date "
        "from mart_event_session_list as s join city as c on c.code = s.city_code" + where(fragments),
        params,
    )


def survey_answers(
    con: duckdb.DuckDBPyConnection,
    city_code: str | None,
    viewer: Viewer = PUBLIC,
    event_ids: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """Venue-survey tallies per event and choice (counts, shares, polarity) for the city's events (only those of
    event_ids when given)."""
    fragments, params = city_filter("a.city_code", city_code)
    if event_ids is not None:
        fragments.append("list_contains(?::varchar[], a.event_id)")
        params.append(list(event_ids))
    return fetch(
        con,
        f"select a.*, {_CITY_NAMES}, e.start_date from mart_event_answers as a "
        "join event as e on e.id = a.event_id join city as c on c.code = a.city_code"
        + where(fragments)
        + f" order by e.start_date, {_KIND_ORDER}, a.event_id, a.question, a.choice_order",
        params,
    )


def survey_questions(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Venue-survey figures per question over the city's events: answers, positive answers and their share.

    Each question stands alone: the events asked different questions, so one share over all of them would
    mix answers to different questions. Questions in the order their first event was held.
    """
    fragments, params = city_filter("a.city_code", city_code)
    return fetch(
        con,
        "select a.question, count(distinct a.event_id)::bigint as events, sum(a.answers)::bigint as answers, "
        "coalesce(sum(a.answers) filter (where a.polarity = 'positive'), 0)::bigint as positive, "
        "round(100.0 * coalesce(sum(a.answers) filter (where a.polarity = 'positive'), 0) "
        "/ nullif(sum(a.answers), 0), 1)::double as positive_pct "
        "from mart_event_answers as a join event as e on e.id = a.event_id"
        + where(fragments)
        + " group by a.question order by min(e.start_date), a.question",
        params,
    )


# Comments quoted on the page (its first COMMENT_ROWS, in order); the CSV carries every one.
COMMENT_ROWS = 50


def _comment_rows(city_code: str | None) -> tuple[str, list]:
    """FROM and WHERE of comments (events and cities joined) and their parameters."""
    fragments, params = city_filter("e.city_code", city_code)
    return (
        " from event_comment as m join event as e on e.id = m.event_id join city as c on c.code = e.city_code"
        + where(fragments),
        params,
    )


def comments(
    con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC, limit: int | None = None
) -> pl.DataFrame:
    """Free-text survey comments of the city's events, in the order the workbook lists them (the first `limit`)."""
    rows, params = _comment_rows(city_code)
    return fetch(
        con,
        "select m.id as comment_id, m.event_id, e.kind, e.title, coalesce(m.venue, e.venue) as venue, "
        f"e.city_code, {_CITY_NAMES}, m.comment"
        + rows
        # The id ends in the workbook row (EX-ZAMA-C4); compare it as a number so C10 follows C9.
        + f" order by e.start_date, {_KIND_ORDER}, m.event_id, "
        "try_cast(regexp_extract(m.id, '-C(\\d+)$', 1) as integer), m.id" + ("" if limit is None else " limit ?"),
        params if limit is None else [*params, limit],
    )


def comment_count(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> int:
    """How many rows comments lists for the city (None = the four cities)."""
    rows, params = _comment_rows(city_code)
    return fetch(con, "select count(*) as n" + rows, params)["n"][0]


def contracts(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """The pilot projects' contracts: contractor, amount in yen and 万円, period; is_art marks the art contract."""
    return fetch(
        con,
        "select id, project, contractor, amount_yen, amount_yen / 10000.0 as amount_man_yen, "
        "period_start, period_end, project like '%アート%' as is_art "
        "from contract order by amount_yen desc, id",
    )


def targets(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """KPI targets beside their actual values: every target for 4市全体 (None), else the city's own targets.

    A consultee KPI's actual (with achieved and attainment_pct) is filled from pii.mart_event_consultee_targets
    only where may_see_consultees allows the target's city; elsewhere it stays null and actual_hidden is true.
    """
    fragments, params = ([], []) if city_code is None else city_filter("t.city_code", city_code)
    k = consultee_join(
        con,
        viewer,
        "t.city_code",
        "pii.mart_event_consultee_targets",
        "k.target_id = t.target_id",
        figures=(
            " replace (case when k.target_id is null then t.actual else k.actual end as actual, "
            "case when k.target_id is null then t.achieved else k.achieved end as achieved, "
            "case when k.target_id is null then t.attainment_pct else k.attainment_pct end as attainment_pct)"
        ),
        hidden="",
    )
    return k.fetch(
        con,
        f"select t.*{k.figures}, {_CITY_NAMES}, "
        f"(list_contains(?::varchar[], t.kpi_code) and not {k.shown}) as actual_hidden "
        "from mart_event_targets as t left join city as c on c.code = t.city_code",
        fragments,
        params,
        " order by t.sort_order, c.sort_order nulls first",
        first=(list(CONSULTEE_KPIS),),
    )
