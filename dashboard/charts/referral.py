"""Map builder for 相談つなぎ: a clickable lattice of candidate points, organisations and the resident's point.

Many organisations are drawn as density hexagons aggregated in the warehouse (referral.directory_density), one
record per hexagon, so the Deck JSON stays small; the ranked results and the resident's point are always points.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import polars as pl
import pydeck as pdk
from pydeck.types import String

from dashboard.charts import map as map_charts
from dashboard.format import number
from dashboard.i18n import translate

# The four-city area (the resource map's accepted bounds): lat min, lat max, lng min, lng max.
AREA = (35.40, 35.54, 139.35, 139.50)
LATTICE_SPACING_M = 400  # distance between candidate points, metres
METRES_PER_DEGREE_LAT = 111_320  # metres per degree of latitude (spherical approximation)
# Layer ids: st.pydeck_chart reports a selection as event["selection"]["objects"][<layer id>].
LATTICE_LAYER = "referral-lattice"
ORGS_LAYER = "referral-organisations"
DENSITY_LAYER = "referral-density"
ORIGIN_LAYER = "referral-origin"
OUTLINE_LAYER = "referral-city-outlines"
RESULTS_LAYER = "referral-results"
RADIUS_LAYER = "referral-radius"
RANKS_LAYER = "referral-ranks"
RADIUS_COLOUR = [46, 117, 182]  # the search radius: a thin ring and a faint fill of the results' blue
# The size views are fitted to: the page's map height, and a width between the map at 1440 px and a phone's
# (about 360), so the four cities or the search radius also fit on a phone.
MAP_SIZE_PX = (420, 480)
TILE_ENV = "TSUNAGARI_TILE_URL"
DEFAULT_TILE_URL = "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png"
TILE_ZOOM = 13  # one fixed zoom of raster tiles laid over the area as bitmaps (16 tiles)
LNG_LAT = ("longitude", "latitude")  # the query frames' coordinate columns
# RGBA colours
LATTICE_COLOUR = [90, 90, 90, 55]
ORG_COLOUR = [120, 120, 120, 170]
MATCH_COLOUR = [46, 117, 182, 235]  # a full match
PARTIAL_COLOUR = [224, 123, 57, 235]  # a partial match (fallback list)
ORIGIN_COLOUR = [209, 73, 91, 255]
# Density hexagons: light to dark green (ColorBrewer Greens), six classes of organisations per hexagon; green keeps
# them apart from the blue and orange results, and translucent so the lattice's dots and the tiles show through.
DENSITY_COLOURS = [[229, 245, 224], [199, 233, 192], [161, 217, 155], [116, 196, 118], [65, 171, 93], [35, 139, 69]]
DENSITY_ALPHA = 150


def _t(lang: str, key: str, **values: object) -> str:
    """Message of this page's catalogue."""
    return translate(lang, f"referral.{key}", **values)


def tile_url() -> str | None:
    """Raster tile URL template from $TSUNAGARI_TILE_URL (default 地理院タイル pale); empty disables tiles."""
    value = os.environ.get(TILE_ENV, DEFAULT_TILE_URL).strip()
    return value or None


def lattice(spacing_m: float = LATTICE_SPACING_M, area: tuple[float, float, float, float] = AREA) -> pl.DataFrame:
    """Regular lattice of candidate points over the area (id "row-col", latitude, longitude; 6 decimals)."""
    lat_min, lat_max, lng_min, lng_max = area
    step_lat = spacing_m / METRES_PER_DEGREE_LAT
    mid = math.radians((lat_min + lat_max) / 2)
    step_lng = spacing_m / (METRES_PER_DEGREE_LAT * math.cos(mid))
    rows = int((lat_max - lat_min) / step_lat) + 1
    cols = int((lng_max - lng_min) / step_lng) + 1
    points = [
        {"id": f"{r}-{c}", "latitude": round(lat_min + r * step_lat, 6), "longitude": round(lng_min + c * step_lng, 6)}
        for r in range(rows)
        for c in range(cols)
    ]
    return pl.DataFrame(points, schema={"id": pl.String, "latitude": pl.Float64, "longitude": pl.Float64})


def selected_point(event: Any) -> dict | None:
    """The lattice point picked on the map ({id, latitude, longitude}) from a pydeck selection event, or None."""
    try:
        selection = event["selection"]
    except (KeyError, TypeError):
        return None
    if not selection:
        return None
    objects = (selection.get("objects") or {}).get(LATTICE_LAYER) or []
    if not objects:
        return None
    point = objects[0]
    try:
        return {"id": str(point["id"]), "latitude": float(point["latitude"]), "longitude": float(point["longitude"])}
    except (KeyError, TypeError, ValueError):
        return None


def _tile_xy(latitude: float, longitude: float, zoom: int) -> tuple[int, int]:
    """Web-Mercator tile x, y holding a point."""
    n = 2**zoom
    x = int((longitude + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(latitude))) / math.pi) / 2 * n)
    return x, y


def _tile_bounds(x: int, y: int, zoom: int) -> list[float]:
    """[west, south, east, north] of a tile in degrees."""
    n = 2**zoom

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return [x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)]


def tile_layers(url: str, area: tuple[float, float, float, float] = AREA, zoom: int = TILE_ZOOM) -> list[pdk.Layer]:
    """The raster tiles covering the area as BitmapLayers (pydeck's JSON cannot build a TileLayer's sub-layers)."""
    lat_min, lat_max, lng_min, lng_max = area
    x0, y0 = _tile_xy(lat_max, lng_min, zoom)
    x1, y1 = _tile_xy(lat_min, lng_max, zoom)
    layers = []
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            image = url.replace("{z}", str(zoom)).replace("{x}", str(x)).replace("{y}", str(y))
            layers.append(
                pdk.Layer(
                    "BitmapLayer",
                    id=f"tile-{zoom}-{x}-{y}",
                    image=String(image),  # a plain string: pydeck would read it as an expression
                    bounds=_tile_bounds(x, y, zoom),
                    # A tile that cannot load (offline) only leaves the background blank: an onError returning
                    # true marks the error handled, so deck.gl does not log it as a console error.
                    on_error="true",  # pydeck sends it as the expression "@@=true"
                )
            )
    return layers


def radius_layer(origin: Mapping[str, float], radius_km: float) -> pdk.Layer:
    """The search radius around the resident's point: a ring on the ground (metres), not pickable."""
    return pdk.Layer(
        "ScatterplotLayer",
        id=RADIUS_LAYER,
        data=[{"latitude": origin["latitude"], "longitude": origin["longitude"]}],
        get_position=["longitude", "latitude"],
        get_radius=radius_km * 1000,
        filled=True,
        get_fill_color=[*RADIUS_COLOUR, 22],
        stroked=True,
        get_line_color=[*RADIUS_COLOUR, 220],
        line_width_min_pixels=2,
        pickable=False,
    )


def ranks_layer(located: pl.DataFrame) -> pdk.Layer:
    """The results' rank numbers (1, 2, …) drawn on their pins, so the map and the table can be read together."""
    return pdk.Layer(
        "TextLayer",
        id=RANKS_LAYER,
        data=located.select("latitude", "longitude", rank=pl.col("rank").cast(pl.String)).to_dicts(),
        get_position=["longitude", "latitude"],
        get_text="rank",
        get_size=12,
        get_color=[255, 255, 255, 255],
        font_weight=700,
        get_text_anchor=String("middle"),
        get_alignment_baseline=String("center"),
        pickable=False,
    )


def marker_layer(
    layer_id: str,
    data: list[dict],
    colour: list[int],
    *,
    line_px: float,
    radius_m: float,
    radius_px: tuple[float, float],
    pickable: bool,
) -> pdk.Layer:
    """Filled markers with a white outline (the ranked results, the resident's point) at latitude/longitude."""
    return map_charts.scatter_layer(
        layer_id,
        data,
        radius_m,
        lng_lat=LNG_LAT,
        get_fill_color=colour,
        get_line_color=[255, 255, 255, 255],
        stroked=True,
        line_width_min_pixels=line_px,
        radius_min_pixels=radius_px[0],
        radius_max_pixels=radius_px[1],
        pickable=pickable,
    )


def radius_view(origin: Mapping[str, float], radius_km: float) -> pdk.ViewState:
    """The view that holds the whole search radius around the resident's point."""
    half_lat = radius_km * 1000 / METRES_PER_DEGREE_LAT
    half_lng = half_lat / math.cos(math.radians(origin["latitude"]))
    bbox = (
        origin["longitude"] - half_lng,
        origin["latitude"] - half_lat,
        origin["longitude"] + half_lng,
        origin["latitude"] + half_lat,
    )
    return map_charts.fit_view(bbox, MAP_SIZE_PX)


def density_layer(cells: pl.DataFrame, lang: str) -> pdk.Layer:
    """Hexagons of the warehouse's grid (HEX_RADIUS_M), coloured by organisations per hexagon, with a count tooltip.

    cells: referral.directory_density (longitude, latitude of each hexagon's centre, orgs). The classes are the
    resource map's (charts.map.density_classes); the hexagons are flat-topped like the grid (ColumnLayer's disk).
    """
    return map_charts.density_layer(
        cells,
        lambda n: _t(lang, "map_hex_tooltip", n=number(n)),
        tip_field="tooltip",
        colours=DENSITY_COLOURS,
        alpha=DENSITY_ALPHA,
        layer_id=DENSITY_LAYER,
    )


def referral_map(
    organisations: pl.DataFrame | None,
    results: pl.DataFrame | None,
    origin: Mapping[str, float] | None,
    lang: str,
    *,
    candidates: pl.DataFrame | None = None,
    outlines: pl.DataFrame | None = None,
    tiles: str | None = None,
    fallback: bool = False,
    cells: pl.DataFrame | None = None,
    radius_km: float | None = None,
) -> pdk.Deck:
    """Map: optional tiles and city outlines, the clickable lattice (candidates), mapped organisations, results, origin.

    organisations: directory_points (organization_id, name, city, latitude, longitude); results: the
    ranked referrals (drawn larger, numbered by rank in the tooltip); origin: {latitude, longitude};
    outlines: city_outlines (GeoJSON geometries), drawn as lines when the reference geography has them.
    With cells (directory_density) and organisations None, density hexagons replace the organisations'
    pins and lie under the outlines and the lattice, so a click on a lattice dot still picks the resident's
    point (a click on a hexagon, like one on an organisation, keeps the point chosen before).
    With an origin and radius_km the search radius is drawn as a ring and the view fits it; located results
    carry their rank number on the pin.
    """
    if organisations is None and cells is None:
        raise ValueError("the map needs the organisations' points or their density cells")
    layers: list[pdk.Layer] = tile_layers(tiles) if tiles else []
    if organisations is None:
        # Under the outlines (the city borders stay crisp) and under the lattice (its dots stay clickable).
        layers.append(density_layer(cells, lang))
    if outlines is not None and outlines.height:
        edges = [
            {"from": start, "to": end}
            for geometry in outlines["geometry_geojson"]
            for start, end in map_charts.boundary_segments(json.loads(geometry))
        ]
        layers.append(map_charts.line_layer(OUTLINE_LAYER, edges, get_color=[60, 60, 60, 170], get_width=1.5))
    if origin is not None and radius_km is not None:
        layers.append(radius_layer(origin, radius_km))
    if candidates is not None:
        data = candidates.with_columns(tooltip=pl.lit(_t(lang, "map_pick_tooltip"))).to_dicts()
        layers.append(
            # A fifth of the spacing, never under 2.5 px: small, yet easy to hit with a click.
            map_charts.scatter_layer(
                LATTICE_LAYER,
                data,
                80,
                lng_lat=LNG_LAT,
                get_fill_color=LATTICE_COLOUR,
                radius_min_pixels=2.5,
                radius_max_pixels=10,
                pickable=True,
                auto_highlight=True,
                highlight_color=ORIGIN_COLOUR,
            )
        )
    ranked = set()
    if results is not None and results.height:
        ranked = set(results["organization_id"])
    if organisations is not None:
        others = organisations.filter(~pl.col("organization_id").is_in(list(ranked)))
        layers.append(
            map_charts.scatter_layer(
                ORGS_LAYER,
                others.select(
                    "latitude", "longitude", tooltip=pl.col("name") + pl.lit("（") + pl.col("city") + pl.lit("）")
                ).to_dicts(),
                60,
                lng_lat=LNG_LAT,
                get_fill_color=ORG_COLOUR,
                radius_min_pixels=3,
                radius_max_pixels=8,
                pickable=True,
            )
        )
    if ranked:
        located = results.with_row_index("rank", offset=1).filter(pl.col("latitude").is_not_null())
        colour = PARTIAL_COLOUR if fallback else MATCH_COLOUR
        tooltip = (
            pl.col("rank").cast(pl.String)
            + pl.lit(". ")
            + pl.col("name")
            + pl.lit("（")
            + pl.col("city")
            + pl.lit("）")
        )
        # Large enough to carry a two-digit rank.
        layers.append(
            marker_layer(
                RESULTS_LAYER,
                located.select("latitude", "longitude", tooltip=tooltip).to_dicts(),
                colour,
                line_px=1,
                radius_m=120,
                radius_px=(10, 16),
                pickable=True,
            )
        )
        layers.append(ranks_layer(located))
    if origin is not None:
        point = {"latitude": origin["latitude"], "longitude": origin["longitude"]}
        layers.append(
            marker_layer(
                ORIGIN_LAYER,
                [point | {"tooltip": _t(lang, "map_origin_tooltip")}],
                ORIGIN_COLOUR,
                line_px=2,
                radius_m=150,
                radius_px=(8, 16),
                pickable=False,
            )
        )
    return pdk.Deck(
        layers=layers,
        initial_view_state=radius_view(origin, radius_km)
        if origin is not None and radius_km is not None
        else map_charts.fit_view((AREA[2], AREA[0], AREA[3], AREA[1]), MAP_SIZE_PX),
        map_provider=None,
        tooltip={"text": "{tooltip}"},
    )
