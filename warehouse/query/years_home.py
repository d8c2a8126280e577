"""Cross-year figures for 概要, イベント実績 and PF構築プロセス: every 年度 the warehouse holds, side by side.

The year marts (mart_year_*) and the year tables hold every year, so these answer whatever year a page
shows; a function given fiscal_year compares that year with the bundle's year before it. No consultee or
other personal figure is read here.
"""

from __future__ import annotations

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse.query import city_filter, fetch, where

# Home's headline figures that have a value per year, in display order.
HOME_FIGURES = (
    "organisations_distributed",
    "organisations_answered",
    "response_rate_pct",
    "organisations_mapped",
    "exhibition_visitors",
    "workshop_participations",
    "symposium_participants",
    "organisations_listed",
    "continuing",
    "new",
    "gone",
)
# Continuity counts compare a year with the one before it: only comparable when that year had one too.
CONTINUITY = ("continuing", "new", "gone")
# イベント実績's figures per year, in display order.
EVENT_FIGURES = (
    "exhibitions",
    "exhibition_open_days",
    "exhibition_visitors",
    "workshops",
    "workshop_sessions",
    "workshop_participations",
    "symposia",
    "symposium_participants",
    "total_reach",
)


def fiscal_years(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> list[int]:
    """Every 年度 the warehouse holds (西暦 start years), oldest first."""
    return fetch(con, "select fiscal_year from fiscal_year_bundle order by fiscal_year")["fiscal_year"].to_list()


def previous_year(years: list[int], fiscal_year: int) -> int | None:
    """The bundle's year before fiscal_year, or None for its first year."""
    earlier = [year for year in years if year < fiscal_year]
    return max(earlier) if earlier else None


def home_years(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Home's figures (HOME_FIGURES) per 年度 for one city, or the four together when city_code is None.

    Survey and continuity from mart_year_survey and mart_year_continuity; organisations with a map pin
    counted per year like mart_city_kpis (each year's listed organisations by that year's city); event
    figures summed like mart_year_events, over the events the city hosted.
    """
    pins_filter, pins_params = city_filter("o.city_code", city_code)
    events_filter, events_params = city_filter("e.city_code", city_code)
    return fetch(
        con,
        "with mapped as ("
        " select o.fiscal_year, count(distinct l.organization_id) as organisations_mapped"
        " from organization_year as o join location as l"
        " on l.organization_id = o.organization_id and l.fiscal_year = o.fiscal_year"
        + where(pins_filter)
        + " group by o.fiscal_year), "
        "art as ("
        " select e.fiscal_year,"
        " sum(s.visitors) filter (where e.kind = 'exhibition')::bigint as exhibition_visitors,"
        " sum(s.participants) filter (where e.kind = 'workshop')::bigint as workshop_participations,"
        " sum(s.participants) filter (where e.kind = 'symposium')::bigint as symposium_participants"
        " from event_session as s join event as e on e.id = s.event_id and e.fiscal_year = s.fiscal_year"
        + where(events_filter)
        + " group by e.fiscal_year) "
        "select v.fiscal_year, c.previous_fiscal_year, v.organisations_distributed, v.organisations_answered, "
        "v.response_rate_pct, coalesce(m.organisations_mapped, 0) as organisations_mapped, "
        "coalesce(a.exhibition_visitors, 0) as exhibition_visitors, "
        "coalesce(a.workshop_participations, 0) as workshop_participations, "
        "coalesce(a.symposium_participants, 0) as symposium_participants, "
        "c.organisations_listed, c.continuing, c.new, c.gone "
        "from mart_year_survey as v "
        "join mart_year_continuity as c on c.fiscal_year = v.fiscal_year "
        "and c.city_code is not distinct from v.city_code "
        "left join mapped as m on m.fiscal_year = v.fiscal_year "
        "left join art as a on a.fiscal_year = v.fiscal_year "
        "where v.city_code is not distinct from ? order by v.fiscal_year",
        [*pins_params, *events_params, city_code],
    )


def home_changes(
    con: duckdb.DuckDBPyConnection, city_code: str | None, fiscal_year: int, viewer: Viewer = PUBLIC
) -> dict | None:
    """fiscal_year's HOME_FIGURES beside the previous year's, and each change; None when there is no previous year.

    Returns {"fiscal_year", "previous_fiscal_year", "current": {...}, "previous": {...}, "change": {...}};
    a continuity change is None when the previous year was the bundle's first (nothing compared then).
    """
    years = home_years(con, city_code, viewer)
    before = previous_year(years["fiscal_year"].to_list(), fiscal_year)
    if before is None:
        return None
    current = years.filter(pl.col("fiscal_year") == fiscal_year).row(0, named=True)
    previous = years.filter(pl.col("fiscal_year") == before).row(0, named=True)
    change = {}
    for figure in HOME_FIGURES:
        if (figure in CONTINUITY and previous["previous_fiscal_year"] is None) or None in (
            current[figure],
            previous[figure],
        ):
            change[figure] = None
        elif figure == "response_rate_pct":
            change[figure] = round(current[figure] - previous[figure], 1)
        else:
            change[figure] = current[figure] - previous[figure]
    return {
        "fiscal_year": fiscal_year,
        "previous_fiscal_year": before,
        "current": {figure: current[figure] for figure in HOME_FIGURES},
        "previous": {figure: previous[figure] for figure in HOME_FIGURES},
        "change": change,
    }


def event_years(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """イベント実績's figures (EVENT_FIGURES) per 年度 the warehouse holds, for the events one city hosted (None = all).

    Counted as mart_year_events counts them (its four-city totals per kind); a year without events has zeros.
    """
    fragments, params = city_filter("e.city_code", city_code)
    return fetch(
        con,
        "with events as ("
        " select e.fiscal_year,"
        " count(*) filter (where e.kind = 'exhibition') as exhibitions,"
        " sum(e.open_days) filter (where e.kind = 'exhibition')::bigint as exhibition_open_days,"
        " count(*) filter (where e.kind = 'workshop') as workshops,"
        " count(*) filter (where e.kind = 'symposium') as symposia"
        " from event as e" + where(fragments) + " group by e.fiscal_year), "
        "sessions as ("
        " select e.fiscal_year,"
        " sum(s.visitors) filter (where e.kind = 'exhibition')::bigint as exhibition_visitors,"
        " count(*) filter (where e.kind = 'workshop') as workshop_sessions,"
        " sum(s.participants) filter (where e.kind = 'workshop')::bigint as workshop_participations,"
        " sum(s.participants) filter (where e.kind = 'symposium')::bigint as symposium_participants"
        " from event_session as s join event as e on e.id = s.event_id and e.fiscal_year = s.fiscal_year"
        + where(fragments)
        + " group by e.fiscal_year) "
        "select b.fiscal_year, coalesce(e.exhibitions, 0) as exhibitions, e.exhibition_open_days, "
        "coalesce(s.exhibition_visitors, 0) as exhibition_visitors, coalesce(e.workshops, 0) as workshops, "
        "coalesce(s.workshop_sessions, 0) as workshop_sessions, "
        "coalesce(s.workshop_participations, 0) as workshop_participations, coalesce(e.symposia, 0) as symposia, "
        "coalesce(s.symposium_participants, 0) as symposium_participants, "
        "coalesce(s.exhibition_visitors, 0) + coalesce(s.workshop_participations, 0) "
        "+ coalesce(s.symposium_participants, 0) as total_reach "
        "from fiscal_year_bundle as b left join events as e on e.fiscal_year = b.fiscal_year "
        "left join sessions as s on s.fiscal_year = b.fiscal_year order by b.fiscal_year",
        [*params, *params],
    )


def progress_years(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Each year's progress file per city and step (one city, or all when None): the status it recorded that 年度.

    The files' baselines only (mart_year_progress counts them per step); in-app updates belong to the current
    state on the page, not to a past year.
    """
    fragments, params = city_filter("p.city_code", city_code)
    return fetch(
        con,
        "select p.fiscal_year, p.city_code, c.name_ja as city_name_ja, c.name_en as city_name_en, "
        "c.sort_order as city_order, p.step_code, s.label as step_label, s.name_ja as step_name_ja, "
        "s.name_en as step_name_en, s.sort_order as step_order, p.status_code, t.name_ja as status_name_ja, "
        "t.name_en as status_name_en, t.sort_order as status_order "
        "from pf_progress as p join city as c on c.code = p.city_code join pf_step as s on s.code = p.step_code "
        "join pf_status as t on t.code = p.status_code"
        + where(fragments)
        + " order by c.sort_order, s.sort_order, p.fiscal_year",
        params,
    )


def progress_year_counts(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """mart_year_progress with step labels: per 年度 and step, how many cities had it done, in progress, … ."""
    return fetch(
        con,
        "select m.*, s.label as step_label, s.name_ja as step_name_ja, s.name_en as step_name_en, "
        "s.sort_order as step_order from mart_year_progress as m join pf_step as s on s.code = m.step_code "
        "order by s.sort_order, m.fiscal_year",
    )
