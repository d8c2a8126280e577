"""Year-over-year sections of 概要, イベント実績 and PF構築プロセス; each draws nothing for a single-year warehouse."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import polars as pl
import streamlit as st

from common.calendar import fiscal_year_label
from common.roles import Viewer
from dashboard import state, vega
from dashboard.charts import years_a as charts
from dashboard.format import display, number
from dashboard.tables import data_table
from warehouse.query import progress as progress_query
from warehouse.query import years_home as query

# The unit each home figure's change is shown in, and whether a rise is bad news (掲載終了).
_UNITS = {
    "response_rate_pct": "yoy.unit.points",
    "exhibition_visitors": "unit.people",
    "workshop_participations": "unit.people",
    "symposium_participants": "unit.people",
}
_INVERSE = ("gone",)


def shown_year(con: duckdb.DuckDBPyConnection, fiscal_year: int | None) -> int | None:
    """The 年度 a comparison is about (None = the latest); None when the warehouse holds a single year."""
    years = query.fiscal_years(con)
    if len(years) < 2:
        return None
    return years[-1] if fiscal_year is None else fiscal_year


def _signed(value: float | int, digits: int) -> str:
    """A change with its sign first (st.metric reads the direction from a leading minus): +479, -22, ±0."""
    return ("+" if value > 0 else "±" if value == 0 else "") + number(value, digits)


def home_deltas(
    con: duckdb.DuckDBPyConnection, city: str | None, viewer: Viewer, fiscal_year: int | None = None
) -> defaultdict[str, dict]:
    """st.metric keyword arguments (delta, delta_color, delta_arrow) per home figure; empty for one year."""
    deltas: defaultdict[str, dict] = defaultdict(dict)
    year = shown_year(con, fiscal_year)
    changes = None if year is None else query.home_changes(con, city, year, viewer)
    if changes is None:
        return deltas
    before = fiscal_year_label(changes["previous_fiscal_year"], state.lang())
    for figure, change in changes["change"].items():
        if change is None:
            continue
        digits = 1 if figure == "response_rate_pct" else 0
        text = state.t(_UNITS.get(figure, "unit.orgs"), n=_signed(change, digits))
        deltas[figure] = {
            "delta": state.t("yoy.delta", change=text, year=before),
            "delta_color": "off" if change == 0 else "inverse" if figure in _INVERSE else "normal",
            "delta_arrow": "off" if change == 0 else "auto",
        }
    return deltas


def home_continuity(
    con: duckdb.DuckDBPyConnection, city: str | None, viewer: Viewer, fiscal_year: int | None = None
) -> None:
    """概要's continuity row: organisations listed, continuing, new and no longer listed against the previous year."""
    year = shown_year(con, fiscal_year)
    changes = None if year is None else query.home_changes(con, city, year, viewer)
    if changes is None:
        return
    t, lang = state.t, state.lang()
    deltas = home_deltas(con, city, viewer, year)
    labels = {"this": fiscal_year_label(year, lang), "before": fiscal_year_label(changes["previous_fiscal_year"], lang)}
    st.subheader(t("yoy.continuity", **labels))
    cards = st.columns(4)
    for card, figure in zip(cards, ("organisations_listed", "continuing", "new", "gone"), strict=True):
        card.metric(
            t(f"yoy.home.{figure}"),
            t("unit.orgs", n=number(changes["current"][figure])),
            help=t(f"yoy.home.{figure}_help", **labels),
            **deltas[figure],
        )


def events_comparison(
    con: duckdb.DuckDBPyConnection, city: str | None, viewer: Viewer, scope: str, key: str = "yoy_events"
) -> None:
    """イベント実績's comparison: each year's event figures (table, change of the last year) and a chart."""
    years = query.event_years(con, city, viewer)
    if years.height < 2:
        return
    t, lang = state.t, state.lang()
    st.subheader(t("yoy.events_title"))
    st.caption(t("yoy.events_caption", scope=scope))
    vega.altair_chart(charts.event_years_chart(years, lang), width="stretch")
    table = charts.event_years_table(years, query.EVENT_FIGURES, lang)
    data_table(
        display(table).to_arrow(),
        {"figure": t("yoy.col.figure"), "change": t("yoy.col.change")},
        key=key,
    )


def progress_comparison(con: duckdb.DuckDBPyConnection, city: str | None, viewer: Viewer) -> None:
    """PF構築プロセス's timeline across years: the status each year's progress file recorded, per step and city."""
    if len(query.fiscal_years(con, viewer)) < 2:
        return
    t, lang = state.t, state.lang()
    progress = query.progress_years(con, city, viewer)
    st.subheader(t("yoy.progress_title"))
    st.caption(t("yoy.progress_caption"))
    vega.altair_chart(charts.progress_years_chart(progress, progress_query.statuses(con), lang), width="content")
    table = charts.progress_years_table(progress, lang)
    data_table(table.to_arrow(), {"step": t("yoy.col.step")}, key="yoy_progress_table")
    if city is None:
        counts = query.progress_year_counts(con, viewer)
        with st.expander(t("yoy.progress_counts")):
            data_table(
                counts.select(
                    pl.concat_str("step_label", pl.lit(" "), f"step_name_{'ja' if lang == 'ja' else 'en'}").alias(
                        "step"
                    ),
                    pl.col("fiscal_year").replace_strict(
                        {y: charts.year_label(y, lang) for y in counts["fiscal_year"].unique()}, return_dtype=pl.String
                    ),
                    "cities_done",
                    "cities_in_progress",
                    "cities_not_started",
                    "cities_undecided",
                ).to_arrow(),
                {
                    c: t(f"yoy.col.{c}")
                    for c in (
                        "step",
                        "fiscal_year",
                        "cities_done",
                        "cities_in_progress",
                        "cities_not_started",
                        "cities_undecided",
                    )
                },  # fmt: skip
                key="yoy_progress_counts",
            )
