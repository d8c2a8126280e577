"""Charts only the report pack draws: the static resource map (city outlines and pins as on the map page).

The page's map is a pydeck deck drawn by the browser (WebGL over 地理院タイル) and has no static form. The
pack draws the same layers as a Vega-Lite chart instead: the city outlines as geoshapes and one circle per
organisation in the map page's colours, rendered by vl-convert like every other chart of the pack. No
tile server is contacted and nothing outside the project is needed; the basemap is left out.
"""

from __future__ import annotations

import json

import altair as alt
import polars as pl

from dashboard.i18n import translate

MAP_SIZE_PX = (560, 460)
OUTLINE_COLOUR = "#4a4a4a"
TEXT_DARK = "#1f2933"


def legend_label(row: dict, lang: str) -> str:
    """A legend row's name: the form's label, or the map page's words for off-gradient and unanswered pins."""
    return row["label"] or translate(lang, f"map.legend.{row['legend_group']}")


def map_chart(points: pl.DataFrame, boundaries: pl.DataFrame, legend: pl.DataFrame, lang: str) -> alt.LayerChart:
    """Outlines (GeoJSON per city) and pins coloured by legend group, Mercator, legend in the map page's order."""
    labels = {row["legend_group"]: legend_label(row, lang) for row in legend.iter_rows(named=True)}
    shown = legend.filter(pl.col("orgs") > 0)
    domain = [labels[group] for group in shown["legend_group"]]
    colours = shown["colour_hex"].to_list()
    pins = points.select(
        pl.col("longitude").cast(pl.Float64),
        pl.col("latitude").cast(pl.Float64),
        pl.col("legend_group").replace_strict(labels, default=None).alias("group"),
    )
    width, height = MAP_SIZE_PX
    dots = (
        alt.Chart(alt.Data(values=pins.to_dicts()))
        .mark_circle(size=46, opacity=0.9, stroke="#ffffff", strokeWidth=0.6)
        .encode(
            longitude="longitude:Q",
            latitude="latitude:Q",
            color=alt.Color(
                "group:N",
                scale=alt.Scale(domain=domain, range=colours),
                legend=alt.Legend(title=translate(lang, "pack.map.legend_title"), orient="right", labelLimit=260),
            ),
        )
    )
    layers: list[alt.Chart] = []
    if not boundaries.is_empty():
        features = [
            {"type": "Feature", "geometry": json.loads(row["geometry_geojson"]), "properties": {"name": row["name"]}}
            for row in boundaries.iter_rows(named=True)
        ]
        layers.append(
            alt.Chart(alt.Data(values=features))
            .mark_geoshape(fill="#f4f6f8", stroke=OUTLINE_COLOUR, strokeWidth=1.2)
            .encode()
        )
        layers.append(
            alt.Chart(alt.Data(values=features))
            .transform_calculate(lon="geoCentroid(null, datum)[0]", lat="geoCentroid(null, datum)[1]")
            .mark_text(fontSize=13, fontWeight="bold", color=TEXT_DARK, opacity=0.75)
            .encode(longitude="lon:Q", latitude="lat:Q", text="properties.name:N")
        )
    return alt.layer(*layers, dots).project(type="mercator").properties(width=width, height=height)
