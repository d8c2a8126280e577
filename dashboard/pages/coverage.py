"""広域カバレッジ: which support forms exist where across the four cities, the gaps, town coverage, the
organisations that reach beyond their own city, and the platform candidates for かながわつながりネットワーク.

The sidebar city highlights its row in the matrices, starts the drill-down there, narrows the town map and
the lists of single-source organisations and candidates to it; the cross-city parts always use all four cities.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import altair as alt
import polars as pl
import streamlit as st

from dashboard import data, state, vega, years_b
from dashboard.charts import coverage as charts
from dashboard.charts import map as map_charts
from dashboard.downloads import csv_bytes, download_button
from dashboard.format import display, number
from dashboard.provenance import admin_pointer, show_provenance
from dashboard.scope import page_scope
from warehouse import query
from warehouse.query import coverage, directory

if TYPE_CHECKING:
    import altair as alt

TILE_URL_ENV = "TSUNAGARI_TILE_URL"
BASIS_KEY = "coverage_basis"
CELL_CITY_KEY = "coverage_cell_city"
CELL_FORM_KEY = "coverage_cell_form"
MATRIX_KEY = "coverage_matrix"
TOWN_FORM_KEY = "coverage_town_form"
# Kept across pages by dashboard.app on every run (state.keep_widget_values).
RADIUS_KEY, INTERESTED_KEY, MAP_KEY, EVERY_PIN_KEY = state.KEPT_WIDGETS
LAST_CITY_KEY = "coverage_last_city"
RADIUS_RANGE_KM = (0.5, 10.0, 0.5)  # slider min, max, step

t = state.t
con, city, lang, viewer, download_year = page_scope()


def choose(key: str, value: str) -> None:
    """Set a localized selectbox's value (the language-neutral key and the current language's widget)."""
    st.session_state[key] = value
    st.session_state[f"{key}__{lang}"] = value


def pick_cell() -> None:
    """A click on a matrix cell chooses its city and form for the drill-down list."""
    cell = charts.selected_cell(st.session_state.get(MATRIX_KEY))
    if cell is not None:
        choose(CELL_CITY_KEY, cell[0])
        choose(CELL_FORM_KEY, cell[1])


def full_csv(full: Callable[[], pl.DataFrame], columns: dict[str, str], labels: dict[str, str]) -> bytes:
    """CSV of every row of a list, with the table's columns and labels (run when the download is clicked)."""
    return csv_bytes(full().select(list(columns)).rename(labels), download_year)


def table(
    frame: pl.DataFrame,
    columns: dict[str, str],
    name: str,
    key: str,
    total: int | None = None,
    full: Callable[[], pl.DataFrame] | None = None,
) -> None:
    """The frame's columns under translated labels (field → coverage.col key), and the CSV of the whole table.

    When total (the list's exact length) exceeds the frame's rows, the frame is the list's head: a caption says
    so, and the CSV of every row is built from full() only when the download button is clicked.
    """
    labels = {field: t(f"coverage.col.{label}") for field, label in columns.items()}
    shown = frame.select(list(columns)).rename(labels)
    # As Arrow: Streamlit sends anything else (polars included) through pandas first, the larger part of this
    # page's script time with four 1,000-row lists.
    st.dataframe(display(shown).to_arrow(), hide_index=True, width="stretch", key=f"{key}_table")
    rows = shown.height if total is None else total
    if rows > shown.height and full is not None:
        st.caption(t("coverage.list_head", total=number(rows), n=number(shown.height)))
        payload = partial(full_csv, full, columns, labels)
    else:
        payload = csv_bytes(shown, download_year)
    download_button(
        t("coverage.download"),
        data=payload,
        file_name=f"tsunagari_{name}.csv",
        mime="text/csv",
        what=name,
        rows=rows,
        key=f"{key}_download",
    )


def scoped_list(
    what: str,
    head: pl.DataFrame,
    total: int,
    columns: dict[str, str],
    name: str,
    key: str,
    full: Callable[[], pl.DataFrame],
) -> None:
    """A list's caption (scope and length), then its table (see table), or the coverage.<what>_empty notice."""
    st.caption(t(f"coverage.{what}_scope", scope=scope, n=number(total)))
    if head.is_empty():
        st.info(t(f"coverage.{what}_empty", scope=scope))
    else:
        table(head, columns, name, key, total, full)


def heatmap(chart: alt.Chart, cells: pl.DataFrame, rows: str, columns: str, expander: str, corner: str) -> None:
    """A heat map of organisation counts, and under it an expander (coverage.<expander>) with its cross table."""
    vega.altair_chart(chart)
    with st.expander(t(f"coverage.{expander}")):
        st.dataframe(
            charts.cross_table(cells, rows, columns, "orgs", t(f"coverage.{corner}")).to_arrow(),
            hide_index=True,
            width="stretch",
        )


def list_total(head: pl.DataFrame, count: Callable[[], int]) -> int:
    """Exact length of a list whose first coverage.LIST_ROWS rows are head (count() runs only when head is full)."""
    return head.height if head.height < coverage.LIST_ROWS else count()


def town_map(towns: pl.DataFrame, town_form: str, pinned: int, radius: float) -> list[str]:
    """The town map (the form's pins, or hexagons when there are many), and its legend and tile credit lines."""
    # Above charts.HEXAGONS_ABOVE pins the map shows hexagons unless every pin is asked for; above the map's pin
    # limit always (the browser gets one record per hexagon, never every organisation).
    every_pin = charts.HEXAGONS_ABOVE < pinned <= directory.PIN_LIMIT and st.toggle(
        t("coverage.every_pin"), key=EVERY_PIN_KEY
    )
    hexagons = pinned > directory.PIN_LIMIT or (pinned > charts.HEXAGONS_ABOVE and not every_pin)
    cells = data.cached(coverage.form_cells, town_form, viewer) if hexagons else None
    pins = None if hexagons else data.cached(coverage.form_pins, town_form, lang, viewer)
    tile_url = os.environ.get(TILE_URL_ENV, map_charts.GSI_PALE).strip()
    west, south, east, north = bbox = charts.town_bbox(towns)
    pad = map_charts.PAD_DEG
    try:
        basemap = map_charts.basemap_layers(
            tile_url, (west - pad, south - pad, east + pad, north + pad), bbox, map_charts.fit_view(bbox).zoom
        )
    except ValueError:
        basemap = []
        st.warning(t("coverage.tile_invalid"))
    outlines = data.cached(coverage.boundaries, viewer)
    st.pydeck_chart(
        charts.town_deck(towns, pins, outlines, radius, lang=lang, basemap=basemap, highlight_city=city, cells=cells),
        key="coverage_town_map",
    )
    if cells is not None:
        limit = directory.PIN_LIMIT if pinned > directory.PIN_LIMIT else charts.HEXAGONS_ABOVE
        st.caption(t("coverage.pins_many", n=number(pinned), limit=number(limit), radius=number(radius, 1)))
    credits = [t("coverage.legend", radius=number(radius, 1))]
    if basemap:
        credits.append(f"[{t('coverage.tile_credit')}]({map_charts.GSI_CREDIT_URL})")
    elif not tile_url:
        credits.append(t("map.user.tile_off"))
    return credits


cities = data.cached(query.cities)
city_names = dict(zip(cities["code"], cities[query.NAME_COLUMN[lang]], strict=True))
form_list = data.cached(coverage.forms, lang, viewer)
form_names = dict(zip(form_list["code"], form_list["label"], strict=True))
scope = t("app.all_cities") if city is None else city_names[city]

st.title(t("coverage.title"))
st.caption(t("coverage.subtitle", scope=scope))

# The sidebar city, when it changes, becomes the drill-down's city.
if st.session_state.get(LAST_CITY_KEY, "") != (city or ""):
    st.session_state[LAST_CITY_KEY] = city or ""
    if city is not None:
        choose(CELL_CITY_KEY, city)

# Labels are resolved now, in this run's language (format_func may be called after the run).
basis_names = {code: t(f"coverage.bases.{code}") for code in coverage.BASES}
basis = state.localized_selectbox(t("coverage.basis"), list(basis_names), basis_names.__getitem__, BASIS_KEY)
matrix = data.cached(coverage.form_matrix, basis, lang, viewer)
answering = data.cached(coverage.answering_with_forms, viewer)
reach = data.cached(coverage.reach_summary, lang, viewer)
joining = data.cached(coverage.candidate_count, ("join",), None, viewer)
gaps = matrix.filter(pl.col("gap").is_not_null())

figures = st.columns(4)
figures[0].metric(t("coverage.answering"), t("unit.orgs", n=number(answering)), help=t("coverage.answering_help"))
figures[1].metric(
    t("coverage.gap_cells"),
    t("coverage.gap_cells_value", n=number(gaps.height), total=number(matrix.height)),
    help=t("coverage.user.gap_rule", ratio=number(coverage.GAP_RATIO * 100)),
)
figures[2].metric(
    t("coverage.reaching"), t("unit.orgs", n=number(reach["reaching_beyond"].sum())), help=t("coverage.reaching_help")
)
figures[3].metric(t("coverage.joining"), t("unit.orgs", n=number(joining)), help=t("coverage.joining_help"))

# 1. City × support form
st.subheader(t("coverage.matrix_title"))
st.caption(t(f"coverage.basis_caption.{basis}"))
st.caption(t("coverage.user.gap_rule", ratio=number(coverage.GAP_RATIO * 100)))
if answering == 0:
    st.info(t("coverage.no_answers"))
else:
    vega.altair_chart(
        charts.matrix_heatmap(matrix, lang, coverage.GAP_RATIO * 100, city),
        key=MATRIX_KEY,
        on_select=pick_cell,
        selection_mode=charts.SELECTION,
    )
    with st.expander(t("coverage.matrix_table")):
        table(
            matrix.with_columns(
                pl.col("gap").replace_strict(
                    charts.gap_labels(lang, coverage.GAP_RATIO * 100), default="", return_dtype=pl.String
                )
            ),
            {
                "city_label": "city",
                "form_label": "form",
                "orgs": "orgs",
                "population": "population",
                "per_10k": "per_10k",
                "four_city_per_10k": "four_city_per_10k",
                "index_pct": "index_pct",
                "gap": "gap",
            },
            f"coverage_matrix_{basis}",
            "coverage_matrix",
        )

    st.markdown(f"**{t('coverage.drill_title')}**")
    st.caption(t("coverage.drill_help"))
    left, right = st.columns(2)
    cell_city = state.localized_selectbox(
        t("coverage.col.city"), list(city_names), city_names.__getitem__, CELL_CITY_KEY, container=left
    )
    cell_form = state.localized_selectbox(
        t("coverage.col.form"), list(form_names), form_names.__getitem__, CELL_FORM_KEY, container=right
    )
    cell = matrix.filter((pl.col("city_code") == cell_city) & (pl.col("form_code") == cell_form)).row(0, named=True)
    listed = data.cached(coverage.cell_organisations, cell_city, cell_form, basis, lang, coverage.LIST_ROWS, viewer)
    st.caption(
        t(
            "coverage.drill_caption",
            city=city_names[cell_city],
            form=form_names[cell_form],
            n=number(cell["orgs"]),
            rate=number(cell["per_10k"], 2),
            four=number(cell["four_city_per_10k"], 2),
        )
    )
    if listed.is_empty():
        st.info(t("coverage.drill_empty", city=city_names[cell_city], form=form_names[cell_form]))
    else:
        table(
            listed,
            {
                "name": "name",
                "city": "located",
                "legal_form": "legal_form",
                "phone": "phone",
                "forms": "forms",
                "areas": "areas",
                "has_pin": "has_pin",
            },
            f"coverage_cell_{cell_city}_{cell_form}",
            "coverage_cell",
            # The cell's count is the list's length (the same organisations, counted in mart_coverage_tally).
            cell["orgs"],
            partial(coverage.cell_organisations, con, cell_city, cell_form, basis, lang, None, viewer),
        )

# 年度比較 (only on a warehouse of several 年度)
years_b.gap_section(data.every_year(), city, lang, viewer)

# 2. Town coverage (reference geography)
st.subheader(t("coverage.towns_title"))
status = data.cached(coverage.reference_status, viewer)
if status["towns"] == 0:
    st.info(t("coverage.user.no_reference"))
    admin_pointer("README.md")
else:
    st.caption(t("coverage.towns_caption"))
    left, right = st.columns(2)
    town_form = state.localized_selectbox(
        t("coverage.town_form"), list(form_names), form_names.__getitem__, TOWN_FORM_KEY, container=left
    )
    # The default goes in through session_state, not value=: the key is re-assigned on every run to keep the
    # radius across pages, and a widget given both logs Streamlit's duplicate-state warning with a stack dump.
    st.session_state.setdefault(RADIUS_KEY, coverage.RADIUS_KM)
    radius = right.slider(
        t("coverage.radius"),
        min_value=RADIUS_RANGE_KM[0],
        max_value=RADIUS_RANGE_KM[1],
        step=RADIUS_RANGE_KM[2],
        format="%.1f km",
        key=RADIUS_KEY,
    )
    towns = data.cached(coverage.town_nearest, town_form, radius, city, lang, viewer)
    pinned = data.cached(coverage.form_pin_count, town_form, viewer)
    covered = int(towns["covered"].sum())
    town_figures = st.columns(3)
    town_figures[0].metric(
        t("coverage.towns_covered"),
        t("coverage.towns_covered_value", covered=number(covered), towns=number(towns.height)),
    )
    town_figures[1].metric(
        t("coverage.towns_share"), t("unit.pct", n=number(100 * covered / towns.height if towns.height else None, 1))
    )
    town_figures[2].metric(t("coverage.pins"), t("unit.orgs", n=number(pinned)), help=t("coverage.pins_help"))
    if not pinned:
        st.info(t("coverage.no_pins", form=form_names[town_form]))
    if towns.is_empty():
        st.info(t("coverage.no_city_towns", scope=scope))
    else:
        # Drawn only when asked: without a GPU the browser draws deck.gl in software, seconds per visit.
        credits = town_map(towns, town_form, pinned, radius) if st.toggle(t("coverage.show_map"), key=MAP_KEY) else []
        credits += [
            t("coverage.data_credit", credit=c) for c in (status["town_credit"], status["boundary_credit"]) if c
        ]
        if credits:
            st.caption("  \n".join(credits))
        with st.expander(t("coverage.town_table")):
            table(
                towns.sort("covered", "nearest_km", nulls_last=True, descending=[False, True]),
                {
                    "city": "city",
                    "town_name": "town",
                    "nearest_km": "nearest_km",
                    "covered": "covered",
                    "nearest_name": "nearest_name",
                    "nearest_city": "nearest_city",
                },
                f"coverage_towns_{town_form}",
                "coverage_towns",
            )

    st.markdown(f"**{t('coverage.share_title', radius=number(radius, 1))}**")
    shares = data.cached(coverage.town_coverage, radius, lang, viewer)
    vega.altair_chart(charts.coverage_heatmap(shares, lang, city))
    with st.expander(t("coverage.share_table")):
        table(
            shares,
            {
                "city_label": "city",
                "form_label": "form",
                "towns": "towns",
                "covered": "covered_towns",
                "share_pct": "share_pct",
            },
            "coverage_town_share",
            "coverage_share",
        )

# 3. Cross-city reach (always the four cities)
st.subheader(t("coverage.reach_title"))
st.caption(t("coverage.reach_caption"))
if reach["orgs"].sum() == 0:
    st.info(t("coverage.no_areas"))
else:
    table(
        reach,
        {
            "city_label": "city",
            "orgs": "orgs_with_area",
            "reaching_beyond": "reaching_beyond",
            "share_pct": "reach_share",
            "inbound": "inbound",
        },
        "coverage_reach_by_city",
        "coverage_reach_summary",
    )
    st.markdown(f"**{t('coverage.flow_title')}**")
    st.caption(t("coverage.flow_caption"))
    flows = data.cached(coverage.flow, lang, viewer)
    heatmap(charts.flow_heatmap(flows, lang, city), flows, "from_label", "to_label", "flow_table", "flow_from")
    st.markdown(f"**{t('coverage.reaching_title')}**")
    st.caption(t("coverage.reaching_caption"))
    reaching = data.cached(coverage.reach_organisations, lang, coverage.LIST_ROWS, viewer)
    table(
        reaching,
        {
            "name": "name",
            "city": "located",
            "areas": "areas",
            "cities_served": "cities_served",
            "serves_outside": "serves_outside",
            "unaware": "unaware",
            "forms": "forms",
            "legal_form": "legal_form",
            "phone": "phone",
        },
        "coverage_reaching",
        "coverage_reaching",
        list_total(reaching, lambda: data.cached(coverage.reach_organisation_count, viewer)),
        partial(coverage.reach_organisations, con, lang, None, viewer),
    )

st.markdown(f"**{t('coverage.single_title')}**")
st.caption(t("coverage.single_caption"))
table(
    data.cached(coverage.single_source_summary, lang, viewer),
    {
        "city_label": "city",
        "listed": "listed",
        "only_this_list": "only_this_list",
        "only_this_list_elsewhere": "only_this_list_elsewhere",
        "survey_only": "survey_only",
    },
    "coverage_single_source_by_city",
    "coverage_single_summary",
)
known_by = {code: t(f"coverage.known_by.{code}") for code in coverage.KNOWN_BY}


def single_source(limit: int | None) -> pl.DataFrame:
    """The single-source list (its first `limit` rows, or all for None) with known_by in words."""
    # The page's head is kept per warehouse version; the whole list (for the CSV) is read on the click.
    if limit is None:
        frame = coverage.single_source(con, city, lang, None, viewer)
    else:
        frame = data.cached(coverage.single_source, city, lang, limit, viewer)
    return frame.with_columns(pl.col("known_by").replace_strict(known_by))


single = single_source(coverage.LIST_ROWS)
single_total = list_total(single, lambda: data.cached(coverage.single_source_count, city, viewer))
scoped_list(
    "single",
    single,
    single_total,
    {
        "known_by": "known_by",
        "known_city": "known_city",
        "name": "name",
        "city": "located",
        "legal_form": "legal_form",
        "phone": "phone",
        "survey_answered": "survey_answered",
    },
    "coverage_single_source",
    "coverage_single",
    partial(single_source, None),
)

# 4. Platform candidates
st.subheader(t("coverage.candidates_title"))
st.caption(t("coverage.candidates_caption"))
interested = st.toggle(t("coverage.include_interested"), key=INTERESTED_KEY)
intents = ("join", "interested") if interested else ("join",)
chosen = data.cached(coverage.candidates, intents, city, lang, coverage.LIST_ROWS, viewer)
# The default view (join only, the four cities) is the list the "PF参加を希望" figure already counted.
chosen_total = list_total(
    chosen,
    lambda: (
        joining
        if (intents, city) == (("join",), None)
        else data.cached(coverage.candidate_count, intents, city, viewer)
    ),
)
candidate_cells = data.cached(coverage.candidate_matrix, intents, lang, viewer)
heatmap(
    charts.count_heatmap(candidate_cells, lang, city),
    candidate_cells,
    "form_label",
    "city_label",
    "candidates_matrix_table",
    "col.form",
)
scoped_list(
    "candidates",
    chosen,
    chosen_total,
    {
        "name": "name",
        "city": "located",
        "legal_form": "legal_form",
        "phone": "phone",
        "forms": "forms",
        "pf_intent": "pf_intent",
    },
    "pf_candidates" if city is None else f"pf_candidates_{city}",
    "coverage_candidates",
    partial(coverage.candidates, con, intents, city, lang, None, viewer),
)
if not chosen.is_empty():
    st.caption(t("coverage.candidates_note"))

show_provenance("coverage-map")
