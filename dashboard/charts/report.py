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

from dashboard.charts import TEXT_DARK
from dashboard.i18n import translate

MAP_SIZE_PX = (560, 460)
OUTLINE_COLOUR = "#4a4a4a"


def _signed_area(ring: list[list[float]]) -> float:
    """Shoelace area of a lon/lat ring: positive when counter-clockwise."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1, *_), (x2, y2, *_) in zip(ring, ring[1:] + ring[:1])) / 2


def _polygon_for_d3(rings: list) -> list:
    """Exterior ring clockwise, holes counter-clockwise: d3-geo (Vega's projection) reads the GeoJSON
    right-hand rule the other way round and would otherwise fill the whole globe but the city."""
    return [ring[::-1] if (_signed_area(ring) > 0) == (index == 0) else ring for index, ring in enumerate(rings)]


def d3_geometry(geometry: dict) -> dict:
    """A Polygon or MultiPolygon with its rings wound as d3-geo expects; other geometries unchanged."""
    if geometry.get("type") == "Polygon":
        return {**geometry, "coordinates": _polygon_for_d3(geometry["coordinates"])}
    if geometry.get("type") == "MultiPolygon":
        return {**geometry, "coordinates": [_polygon_for_d3(polygon) for polygon in geometry["coordinates"]]}
    return geometry


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
            {
                "type": "Feature",
                "geometry": d3_geometry(json.loads(row["geometry_geojson"])),
                "properties": {"name": row["name"]},
            }
            for row in boundaries.iter_rows(named=True)
        ]
        layers.append(
            alt.Chart(alt.Data(values=features))
            .mark_geoshape(fill="#f4f6f8", stroke=OUTLINE_COLOUR, strokeWidth=1.2)
            .encode()
        )
    layers.append(dots)
    if not boundaries.is_empty():
        # City names last, over the pins.
        layers.append(
            alt.Chart(alt.Data(values=features))
            .transform_calculate(lon="geoCentroid(null, datum)[0]", lat="geoCentroid(null, datum)[1]")
            .mark_text(fontSize=13, fontWeight="bold", color=TEXT_DARK, opacity=0.75)
            .encode(longitude="lon:Q", latitude="lat:Q", text="properties.name:N")
        )
    return alt.layer(*layers).project(type="mercator").properties(width=width, height=height)
