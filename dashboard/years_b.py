"""Cross-year sections of 活動分布, 広域カバレッジ and 地域資源マップ, drawn only when the warehouse holds several 年度."""

from __future__ import annotations

import duckdb
import polars as pl
import streamlit as st

from common.calendar import fiscal_year_label
from common.roles import PUBLIC, Viewer
from dashboard import state, vega
from dashboard.charts import years_b as charts
from dashboard.downloads import csv_download
from dashboard.format import display, number
from warehouse.query import years_mix

MIX_EARLIER_KEY = "years_mix_earlier"
MIX_LATER_KEY = "years_mix_later"
MIX_TAXONOMY_KEY = "years_mix_taxonomy"
GAP_EARLIER_KEY = "years_gap_earlier"
GAP_LATER_KEY = "years_gap_later"
GAP_BASIS_KEY = "years_gap_basis"
NEW_ONLY_KEY = "map_new_only"

t = state.t


def _year_pair(years: list[int], lang: str, earlier_key: str, later_key: str) -> tuple[int, int]:
    """Two year pickers side by side: an earlier and a later 年度, by default the previous and the latest year."""
    labels = {year: fiscal_year_label(year, lang) for year in years}
    left, right = st.columns(2)
    # Newest first, so the first option (the default) is the previous year, then the latest.
    earlier = state.localized_selectbox(
        t("years_b.earlier"), years[-2::-1], labels.__getitem__, earlier_key, container=left
    )
    later = state.localized_selectbox(
        t("years_b.later"),
        [year for year in reversed(years) if year > earlier],
        labels.__getitem__,
        later_key,
        container=right,
    )
    return earlier, later


def _table(frame: pl.DataFrame, columns: dict[str, str], name: str, key: str, filters: dict) -> None:
    """The frame's columns under their labels (field → years_b.col key) in an expander, and its CSV."""
    shown = frame.select(list(columns)).rename({field: t(f"years_b.col.{label}") for field, label in columns.items()})
    with st.expander(t("years_b.table")):
        st.dataframe(display(shown), hide_index=True, width="stretch")
    csv_download(t("years_b.download"), shown, f"tsunagari_{name}", what=name, key=key, filters=filters)


def mix_section(con: duckdb.DuckDBPyConnection, city: str | None, lang: str, viewer: Viewer = PUBLIC) -> None:
    """活動分布: the support-form or content mix of two years' answers (city selector respected), with the change."""
    years = years_mix.fiscal_years(con, viewer)
    if len(years) < 2:
        return
    st.subheader(t("years_b.mix_title"))
    st.caption(t("years_b.mix_caption"))
    earlier, later = _year_pair(years, lang, MIX_EARLIER_KEY, MIX_LATER_KEY)
    taxonomy_names = {code: t(f"years_b.taxonomy.{code}") for code in years_mix.MIX_TAXONOMIES}
    taxonomy = state.localized_selectbox(
        t("years_b.taxonomy_label"), list(taxonomy_names), taxonomy_names.__getitem__, MIX_TAXONOMY_KEY
    )
    mix = years_mix.mix_comparison(con, earlier, later, taxonomy, city, lang, viewer)
    earlier_label, later_label = fiscal_year_label(earlier, lang), fiscal_year_label(later, lang)
    earlier_n, later_n = (int(mix[column][0]) if mix.height else 0 for column in ("earlier_n", "later_n"))
    st.caption(
        t(
            "years_b.mix_n",
            earlier=earlier_label,
            later=later_label,
            earlier_n=number(earlier_n),
            later_n=number(later_n),
        )
    )
    if not earlier_n and not later_n:
        st.info(t("years_b.mix_empty"))
        return
    vega.altair_chart(charts.mix_chart(mix, lang, earlier_label, later_label), width="stretch")
    columns = {"term_label": "term"} | ({"group_label": "group"} if taxonomy == "content" else {})
    _table(
        mix,
        columns
        | {
            "earlier_orgs": "earlier_orgs",
            "earlier_share_pct": "earlier_share_pct",
            "later_orgs": "later_orgs",
            "later_share_pct": "later_share_pct",
            "change_orgs": "change_orgs",
            "change_pts": "change_pts",
        },
        f"activity_mix_{earlier}_{later}_{taxonomy}",
        "years_mix_download",
        {"city": city, "earlier": earlier, "later": later, "taxonomy": taxonomy},
    )


def gap_section(con: duckdb.DuckDBPyConnection, city: str | None, lang: str, viewer: Viewer = PUBLIC) -> None:
    """広域カバレッジ: the city × support form gaps that closed or opened between two years, per city."""
    years = years_mix.fiscal_years(con, viewer)
    if len(years) < 2:
        return
    st.subheader(t("years_b.gap_title"))
    st.caption(t("years_b.gap_caption", ratio=number(years_mix.GAP_RATIO * 100)))
    earlier, later = _year_pair(years, lang, GAP_EARLIER_KEY, GAP_LATER_KEY)
    basis_names = {code: t(f"coverage.bases.{code}") for code in years_mix.BASES}
    basis = state.localized_selectbox(t("coverage.basis"), list(basis_names), basis_names.__getitem__, GAP_BASIS_KEY)
    counts = years_mix.gap_change_counts(con, earlier, later, basis, lang, viewer)
    totals = dict(counts.group_by("change").agg(pl.col("cells").sum()).iter_rows())
    figures = st.columns(len(years_mix.GAP_CHANGES))
    for column, change in zip(figures, years_mix.GAP_CHANGES, strict=True):
        column.metric(t(f"years_b.change.{change}"), number(totals.get(change, 0)))
    vega.altair_chart(charts.gap_change_chart(counts, lang), width="stretch")
    cells = years_mix.gap_changes(con, earlier, later, basis, city, lang, viewer)
    if cells.is_empty():
        st.info(t("years_b.gap_empty"))
        return
    gap_words = {code: t(f"years_b.gap.{code}") for code in ("none", "thin")}
    change_words = {code: t(f"years_b.change.{code}") for code in years_mix.GAP_CHANGES}
    shown = cells.with_columns(
        pl.col("earlier_gap").replace_strict(gap_words, default=None, return_dtype=pl.String),
        pl.col("later_gap").replace_strict(gap_words, default=None, return_dtype=pl.String),
        pl.col("change").replace_strict(change_words, return_dtype=pl.String),
    )
    _table(
        shown,
        {
            "city_label": "city",
            "form_label": "form",
            "earlier_orgs": "earlier_orgs",
            "earlier_gap": "earlier_gap",
            "later_orgs": "later_orgs",
            "later_gap": "later_gap",
            "change": "change",
        },
        f"coverage_gap_changes_{earlier}_{later}_{basis}",
        "years_gap_download",
        {"city": city, "earlier": earlier, "later": later, "basis": basis},
    )


def new_only_year(
    con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, fiscal_year: int | None = None
) -> int | None:
    """地域資源マップ: the 年度 whose new organisations the map can show (the sidebar's), or None (no switch then).

    None on a single-year warehouse and for the bundle's first year, which has nothing to be new against.
    """
    years = years_mix.fiscal_years(con, viewer)
    year = years[-1] if fiscal_year is None or fiscal_year not in years else fiscal_year
    return None if len(years) < 2 or year == years[0] else year


def new_only_ids(con: duckdb.DuckDBPyConnection, year: int | None, viewer: Viewer = PUBLIC) -> tuple[str, ...] | None:
    """The mapped organisations new in year when the switch is on (read before it is drawn, so the facet counts and
    the legend can count them), else None."""
    if year is None or not st.session_state.get(NEW_ONLY_KEY):
        return None
    return tuple(years_mix.new_organisation_ids(con, year, viewer))


def new_only_toggle(
    con: duckdb.DuckDBPyConnection, year: int | None, lang: str, viewer: Viewer = PUBLIC, container=st
) -> None:
    """The 'new this year' switch (drawn only when new_only_year offers a year)."""
    if year is None:
        return
    new = years_mix.new_organisation_count(con, year, viewer)
    container.toggle(
        t("years_b.new_only", year=fiscal_year_label(year, lang)),
        key=NEW_ONLY_KEY,
        help=t("years_b.new_only_help", listed=number(new["listed"]), mapped=number(new["mapped"])),
    )


def new_only_rows(rows: pl.DataFrame, new_ids: tuple[str, ...]) -> tuple[pl.DataFrame, dict]:
    """The map's listed organisations kept to the new ones, and the summary the page's figures read from them."""
    kept = rows.filter(pl.col("organization_id").is_in(list(new_ids)))
    summary = {
        "shown": kept.height,
        "answered": int(kept["survey_answered"].sum()),
        "stale": int(kept["stale"].sum()),
    }
    return kept, summary


def new_only_note(year: int, shown: int, lang: str) -> None:
    """The line saying the map shows only the year's new organisations, and how many."""
    st.caption(t("years_b.new_only_caption", year=fiscal_year_label(year, lang), n=number(shown)))
