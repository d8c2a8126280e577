"""Chart builders for 広域カバレッジ: city × form matrix with gaps, town coverage map and heat, cross-city flow.

No streamlit here. The town map is a pydeck Deck of ScatterplotLayers (one point per 町丁目 representative
point, coloured covered / not covered; rings of the chosen radius around the organisations offering the
form); the basemap tiles and city outlines come from the resource map's builders.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import altair as alt
import polars as pl
import pydeck as pdk

from dashboard.charts import TEXT_DARK, tooltips
from dashboard.charts.map import TOOLTIP_STYLE, density_layer, fit_view, outline_layers, scatter_layer
from dashboard.i18n import translate

# Name of the matrix's point selection: st.altair_chart reports event["selection"][SELECTION].
SELECTION = "cell"
LABEL_LIMIT = 240  # px before an axis label is cut with …
CELL_WIDTH_PX = 92
CELL_HEIGHT_PX = 34
GAP_COLOURS = {"none": "#d62728", "thin": "#ff7f0e"}  # outline of a gap cell: no organisation / thin
HOME_FILL = "#e4e7eb"  # flow cells of an organisation's own city
# Town map colours [r, g, b, a]: covered / not covered towns, organisations, their radius rings.
COVERED = [46, 117, 182, 230]
UNCOVERED = [224, 123, 57, 235]
PIN = [31, 41, 51, 255]
RING = [46, 117, 182, 28]
TOWN_RADIUS_M = 110  # town point radius on the ground, metres (kept between 4 and 12 px)
PIN_RADIUS_M = 60
# Above this many pinned organisations the page draws the town map as hexagons unless every pin is asked for
# (a browser without a GPU draws each pin and its ring in software: seconds at a few thousand).
HEXAGONS_ABOVE = 1_000
TOWNS_LAYER = "towns"
PINS_LAYER = "organisations"
RINGS_LAYER = "radius"


def _t(lang: str, key: str, **values: object) -> str:
    """Message of this page's catalogue."""
    return translate(lang, f"coverage.{key}", **values)


def _city_axis(highlight: str | None, **extra: Any) -> alt.Axis:
    """City axis with horizontal labels; the highlighted city's label is bold."""
    weight = (
        alt.condition(alt.datum.value == highlight, alt.value("bold"), alt.value("normal")) if highlight else "normal"
    )
    return alt.Axis(labelFontWeight=weight, labelAngle=0, **extra)


def gap_labels(lang: str, ratio_pct: float) -> dict[str, str]:
    """Gap code → label; ratio_pct is the gap rule's threshold (% of the four cities' rate)."""
    return {code: _t(lang, f"gap.{code}", ratio=f"{ratio_pct:g}") for code in GAP_COLOURS}


def matrix_data(matrix: pl.DataFrame, lang: str, ratio_pct: float) -> pl.DataFrame:
    """The matrix with the gap's label (null when the cell is no gap)."""
    return matrix.with_columns(
        gap_label=pl.col("gap").replace_strict(gap_labels(lang, ratio_pct), default=None, return_dtype=pl.String)
    )


def matrix_heatmap(
    matrix: pl.DataFrame, lang: str, ratio_pct: float, highlight_city: str | None = None
) -> alt.LayerChart:
    """Heat table: support forms (rows) × cities (columns); colour = organisations per 10,000 residents,
    text = organisations (upper) and that rate (lower), red/orange outline = gap (ratio_pct is the gap rule's
    threshold, % of the four cities' rate). Cells are clickable (point selection SELECTION on city_code and
    form_code). matrix comes from query.coverage.form_matrix."""
    data = matrix_data(matrix, lang, ratio_pct)
    labels = gap_labels(lang, ratio_pct)
    forms = data.sort("form_order")["form_label"].unique(maintain_order=True).to_list()
    cities = data.sort("city_order")["city_label"].unique(maintain_order=True).to_list()
    highlight = data.filter(pl.col("city_code") == highlight_city)["city_label"].first() if highlight_city else None
    top = data["per_10k"].max() or 0
    pick = alt.selection_point(name=SELECTION, fields=["city_code", "form_code"], on="click")
    base = alt.Chart(data).encode(
        x=alt.X("city_label:N", sort=cities, title=None, axis=_city_axis(highlight, orient="top")),
        y=alt.Y("form_label:N", sort=forms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
    )
    tooltip = tooltips(
        lang,
        "coverage.col",
        "city_label:N",
        "form_label:N",
        "orgs:Q",
        "per_10k:Q",
        "four_city_per_10k:Q",
        "index_pct:Q",
        "gap_label:N",
    )
    cells = (
        base.mark_rect(stroke="white", strokeWidth=1, cursor="pointer")
        .encode(
            color=alt.Color("per_10k:Q", title=_t(lang, "col.per_10k"), scale=alt.Scale(scheme="blues", domainMin=0)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
            tooltip=tooltip,
        )
        .add_params(pick)
    )
    gaps = (
        base.transform_filter("isValid(datum.gap)")
        .mark_rect(filled=False, strokeWidth=3)
        .encode(
            stroke=alt.Stroke(
                "gap_label:N",
                title=_t(lang, "col.gap"),
                scale=alt.Scale(domain=list(labels.values()), range=list(GAP_COLOURS.values())),
                legend=alt.Legend(orient="bottom", labelLimit=LABEL_LIMIT * 2),
            ),
            tooltip=tooltip,
        )
    )
    ink = alt.condition(alt.datum.per_10k > top / 2, alt.value("white"), alt.value(TEXT_DARK))
    count = base.mark_text(fontSize=12, fontWeight="bold", dy=-7).encode(
        text=alt.Text("orgs:Q"), color=ink, tooltip=tooltip
    )
    rate = base.mark_text(fontSize=10, dy=8).encode(
        text=alt.Text("per_10k:Q", format=".2f"), color=ink, tooltip=tooltip
    )
    return alt.layer(cells, gaps, count, rate).properties(
        width=alt.Step(CELL_WIDTH_PX), height=alt.Step(CELL_HEIGHT_PX)
    )


def selected_cell(event: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(city_code, form_code) of the clicked matrix cell, from st.altair_chart's selection event (None if none)."""
    if not event:
        return None
    points = (event.get("selection") or {}).get(SELECTION) or []
    cells = [(p.get("city_code"), p.get("form_code")) for p in points if p.get("city_code") and p.get("form_code")]
    return cells[0] if cells else None


def coverage_heatmap(coverage: pl.DataFrame, lang: str, highlight_city: str | None = None) -> alt.LayerChart:
    """Heat table: support forms (rows) × cities and the four together (columns); colour and text = share of
    towns within the radius (%). coverage comes from query.coverage.town_coverage."""
    forms = coverage["form_label"].unique(maintain_order=True).to_list()
    cities = coverage["city_label"].unique(maintain_order=True).to_list()
    highlight = coverage.filter(pl.col("city_code") == highlight_city)["city_label"].first() if highlight_city else None
    base = alt.Chart(coverage).encode(
        x=alt.X("city_label:N", sort=cities, title=None, axis=_city_axis(highlight, orient="top")),
        y=alt.Y("form_label:N", sort=forms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "share_pct:Q", title=_t(lang, "col.share_pct"), scale=alt.Scale(scheme="blues", domain=[0, 100])
        ),
        tooltip=tooltips(lang, "coverage.col", "city_label:N", "form_label:N", "towns:Q", "covered:Q", "share_pct:Q"),
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("share_pct:Q", format=".0f"),
        color=alt.condition(alt.datum.share_pct > 50, alt.value("white"), alt.value(TEXT_DARK)),
    )
    return (cells + text).properties(width=alt.Step(CELL_WIDTH_PX), height=alt.Step(26))


def flow_heatmap(flow: pl.DataFrame, lang: str, highlight_city: str | None = None) -> alt.LayerChart:
    """From × to matrix: city where organisations are located (rows) × area they serve (columns, 4市以外 last);
    text = organisations. Cells of another area are coloured by count; the own-city diagonal is grey.
    flow comes from query.coverage.flow."""
    sources = flow.sort("from_order")["from_label"].unique(maintain_order=True).to_list()
    targets = flow.sort("to_order")["to_label"].unique(maintain_order=True).to_list()
    highlight = flow.filter(pl.col("from_code") == highlight_city)["from_label"].first() if highlight_city else None
    base = alt.Chart(flow).encode(
        x=alt.X(
            "to_label:N",
            sort=targets,
            title=_t(lang, "flow_to"),
            axis=_city_axis(highlight, orient="top"),
        ),
        y=alt.Y(
            "from_label:N",
            sort=sources,
            title=_t(lang, "flow_from"),
            axis=_city_axis(highlight),
        ),
        tooltip=[
            alt.Tooltip("from_label:N", title=_t(lang, "flow_from")),
            alt.Tooltip("to_label:N", title=_t(lang, "flow_to")),
            alt.Tooltip("orgs:Q", title=_t(lang, "col.orgs")),
        ],
    )
    beyond = (
        base.transform_filter(~alt.datum.is_home)
        .mark_rect(stroke="white")
        .encode(
            color=alt.Color("orgs:Q", title=_t(lang, "flow_beyond"), scale=alt.Scale(scheme="oranges", domainMin=0))
        )
    )
    home = base.transform_filter(alt.datum.is_home).mark_rect(stroke="white", color=HOME_FILL)
    top = flow.filter(~pl.col("is_home"))["orgs"].max() or 0
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("orgs:Q"),
        color=alt.condition((alt.datum.orgs > top / 2) & ~alt.datum.is_home, alt.value("white"), alt.value(TEXT_DARK)),
    )
    return alt.layer(beyond, home, text).properties(width=alt.Step(CELL_WIDTH_PX), height=alt.Step(CELL_HEIGHT_PX))


def count_heatmap(matrix: pl.DataFrame, lang: str, highlight_city: str | None = None) -> alt.LayerChart:
    """Heat table of organisations per support form (rows) and city (columns), e.g. platform candidates
    (query.coverage.candidate_matrix)."""
    forms = matrix.sort("form_order")["form_label"].unique(maintain_order=True).to_list()
    cities = matrix.sort("city_order")["city_label"].unique(maintain_order=True).to_list()
    highlight = matrix.filter(pl.col("city_code") == highlight_city)["city_label"].first() if highlight_city else None
    top = matrix["orgs"].max() or 0
    base = alt.Chart(matrix).encode(
        x=alt.X("city_label:N", sort=cities, title=None, axis=_city_axis(highlight, orient="top")),
        y=alt.Y("form_label:N", sort=forms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("orgs:Q", title=_t(lang, "col.orgs"), scale=alt.Scale(scheme="greens", domainMin=0)),
        tooltip=tooltips(lang, "coverage.col", "city_label:N", "form_label:N", "orgs:Q"),
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("orgs:Q"),
        color=alt.condition(alt.datum.orgs > top / 2, alt.value("white"), alt.value(TEXT_DARK)),
    )
    return (cells + text).properties(width=alt.Step(CELL_WIDTH_PX), height=alt.Step(26))


def town_bbox(towns: pl.DataFrame) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the towns' representative points, degrees."""
    return (
        float(towns["longitude"].min()),
        float(towns["latitude"].min()),
        float(towns["longitude"].max()),
        float(towns["latitude"].max()),
    )


def _km(value: float | None, lang: str) -> str:
    """A distance for the tooltip (— when there is none)."""
    return "—" if value is None else _t(lang, "km", km=f"{value:.3f}")


def town_records(towns: pl.DataFrame, lang: str) -> list[dict]:
    """One record per town: position, colour and an escaped tooltip (name, city, nearest organisation, km)."""
    return [
        {
            "town_id": row["town_id"],
            "lng": float(row["longitude"]),
            "lat": float(row["latitude"]),
            "fill": COVERED if row["covered"] else UNCOVERED,
            "tip": "<b>{}</b>（{}）<br/>{}<br/>{}".format(
                html.escape(row["town_name"]),
                html.escape(row["city"]),
                html.escape(_t(lang, "covered_yes" if row["covered"] else "covered_no")),
                html.escape(_t(lang, "nearest_tip", km=_km(row["nearest_km"], lang), name=row["nearest_name"] or "—")),
            ),
        }
        for row in towns.iter_rows(named=True)
    ]


def pin_records(pins: pl.DataFrame) -> list[dict]:
    """One record per organisation offering the form: position and an escaped tooltip."""
    return [
        {
            "organization_id": row["organization_id"],
            "lng": float(row["longitude"]),
            "lat": float(row["latitude"]),
            "tip": f"<b>{html.escape(row['name'])}</b><br/>{html.escape(row['city'])}",
        }
        for row in pins.iter_rows(named=True)
    ]


def town_deck(
    towns: pl.DataFrame,
    pins: pl.DataFrame,
    boundaries: pl.DataFrame,
    radius_km: float,
    *,
    lang: str,
    basemap: Iterable[pdk.Layer] = (),
    highlight_city: str | None = None,
    cells: pl.DataFrame | None = None,
) -> pdk.Deck:
    """Town coverage map: basemap, city outlines, radius rings around the organisations offering the form,
    towns coloured covered / not covered, then the organisations. towns from query.coverage.town_nearest,
    pins from query.coverage.form_pins; the view fits the towns.

    With cells (query.coverage.form_cells, for more pins than a browser should get) the organisations are
    drawn as density hexagons and the rings are centred on the hexagons (within 0.5 km of each organisation;
    whether a town is covered is still computed exactly in the warehouse).
    """
    layers: list[pdk.Layer] = [*basemap, *outline_layers(boundaries, highlight_city)]
    if cells is not None:
        points = [
            {"lng": float(lng), "lat": float(lat)} for lng, lat in cells.select("longitude", "latitude").iter_rows()
        ]
    else:
        points = pin_records(pins)
    # The rings need positions only (no tooltip): the organisations' records are sent once, with the pins.
    rings = [{"lng": p["lng"], "lat": p["lat"]} for p in points] if cells is None else points
    # Radius in metres on the ground.
    layers.append(
        scatter_layer(RINGS_LAYER, rings, radius_km * 1000, get_fill_color=RING, stroked=False, pickable=False)
    )
    layers.append(
        scatter_layer(
            TOWNS_LAYER,
            town_records(towns, lang),
            TOWN_RADIUS_M,
            get_fill_color="fill",
            get_line_color=[255, 255, 255, 255],
            radius_min_pixels=4,
            radius_max_pixels=12,
            line_width_min_pixels=1,
            stroked=True,
            pickable=True,
        )
    )
    if cells is not None:
        layers.append(density_layer(cells, tip=lambda n: html.escape(_t(lang, "hex_tip", n=f"{n:,}"))))
    else:
        layers.append(
            scatter_layer(
                PINS_LAYER,
                points,
                PIN_RADIUS_M,
                get_fill_color=PIN,
                radius_min_pixels=2,
                radius_max_pixels=6,
                pickable=True,
            )
        )
    tooltip = {"html": "{tip}", "style": TOOLTIP_STYLE}
    return pdk.Deck(layers=layers, initial_view_state=fit_view(town_bbox(towns)), map_provider=None, tooltip=tooltip)


def cross_table(frame: pl.DataFrame, rows: str, columns: str, values: str, corner: str) -> pl.DataFrame:
    """A heat map's figures as a table (its text equivalent): one row per `rows` label, one column per `columns` label."""
    order = frame[columns].unique(maintain_order=True).to_list()
    table = frame.pivot(on=columns, index=rows, values=values, sort_columns=False, aggregate_function="sum")
    return table.select(rows, *order).rename({rows: corner})
