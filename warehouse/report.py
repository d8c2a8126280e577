"""The report pack's figures (報告書用資料): every number read through the pages' own queries, none computed again.

One call gathers what the pack shows for a city (None = the four together) and a 年度, as the viewer may
see it: consultee figures follow may_see_consultees through the event queries, and no personal value is
read (the map part keeps only each pin's city, position and colour; progress rows blank who updated them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import duckdb
import polars as pl

from common.calendar import fiscal_year
from common.roles import PUBLIC, Viewer
from warehouse import operations
from warehouse.query import activity, cities, directory, events, latest_run, progress

# The only columns of the map's organisations a pack keeps: no name, address, phone or hours.
MAP_COLUMNS = ("city_code", "latitude", "longitude", "legend_group", "colour_hex")
# Progress columns a pack blanks: who made an update (a staff identity; the charts' tooltips would carry it).
PROGRESS_BLANKED = ("updated_by",)


class NoSuchYear(LookupError):
    """The published warehouse holds no figures for the asked 年度."""


@dataclass(frozen=True)
class Scope:
    """What a pack is of and for: a city (None = the four) and 年度, in lang, as viewer may see it on today."""

    city_code: str | None
    nendo: int
    lang: str
    viewer: Viewer = PUBLIC
    _: KW_ONLY
    today: dt.date
    # The operations store whose progress updates the pack shows (None: the configured one).
    store: Path | None = None


@dataclass(frozen=True)
class ReportFigures:
    """Everything a pack shows, as the pages' queries return it (frames in display order)."""

    city_code: str | None
    nendo: int
    lang: str
    cities: pl.DataFrame
    run: dict | None
    reach_total: dict
    reach_city: pl.DataFrame
    reach_legal_form: pl.DataFrame
    respondents: int
    content_counts: pl.DataFrame
    form_counts: pl.DataFrame
    map_points: pl.DataFrame
    map_legend: pl.DataFrame
    boundaries: pl.DataFrame
    boundary_credit: str | None
    event_kpis: dict
    joint_event_kpis: dict
    events: pl.DataFrame
    sessions: pl.DataFrame
    survey_answers: pl.DataFrame
    survey_questions: pl.DataFrame
    contracts: pl.DataFrame
    progress: pl.DataFrame
    statuses: pl.DataFrame
    phases_reached: pl.DataFrame

    @property
    def as_of(self) -> dt.datetime | None:
        """When the published warehouse was built (the figures' as-of time)."""
        return None if self.run is None else self.run["finished_at"]


def fiscal_years(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> list[int]:
    """The 年度 the published data covers: those its events were held in, newest first.

    The warehouse holds one round of the survey and of the art project; the 年度 is read from the event dates
    (the survey and progress rows carry no 年度 of their own), so a pack is offered only for those years.
    """
    days = events.sessions(con, None, viewer)["session_date"].drop_nulls().to_list()
    return sorted({fiscal_year(day) for day in days}, reverse=True)


def figures(con: duckdb.DuckDBPyConnection, scope: Scope) -> ReportFigures:
    """The pack's figures for the scope's city and 年度, through the pages' queries, as its viewer sees them."""
    city_code, nendo, lang, viewer = scope.city_code, scope.nendo, scope.lang, scope.viewer
    if nendo not in fiscal_years(con, viewer):
        raise NoSuchYear(nendo)
    filters = activity.ActivityFilter(city_code=city_code)
    pin_filter = directory.DirectoryFilter(city=(city_code,) if city_code else ())
    pins = directory.organisations(con, pin_filter, lang, scope.today, viewer)
    grid = progress.progress_grid(con, city_code, viewer)
    statuses = progress.statuses(con, viewer)
    view = progress.progress_view(grid, operations.read_progress_events(scope.store), statuses)
    reach = activity.reaches(con, filters, lang, viewer)
    return ReportFigures(
        city_code=city_code,
        nendo=nendo,
        lang=lang,
        cities=cities(con),
        run=latest_run(con, viewer),
        reach_total=activity.reach_total(con, filters, viewer),
        reach_city=activity.reach_of(reach, "city"),
        reach_legal_form=activity.reach_of(reach, "legal_form"),
        respondents=activity.respondents(con, filters, viewer),
        content_counts=activity.content_counts(con, filters, lang, viewer),
        form_counts=activity.form_counts(con, filters, lang, viewer),
        map_points=pins.select(MAP_COLUMNS),
        map_legend=directory.legend(con, pin_filter, lang, viewer),
        boundaries=directory.boundaries(con, viewer),
        boundary_credit=directory.boundary_credit(con, viewer),
        event_kpis=events.kpis(con, city_code, viewer),
        joint_event_kpis=events.kpis(con, None, viewer),
        events=events.events(con, city_code, viewer),
        sessions=events.sessions(con, city_code, viewer),
        survey_answers=events.survey_answers(con, city_code, viewer),
        survey_questions=events.survey_questions(con, city_code, viewer),
        contracts=events.contracts(con, viewer),
        progress=view.with_columns(pl.lit(None, pl.String).alias(column) for column in PROGRESS_BLANKED),
        statuses=statuses,
        phases_reached=progress.phases_reached(view, progress.phases(con, viewer)),
    )
