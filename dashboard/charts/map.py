"""Map builders for 地域資源マップ: pydeck Decks (points, density, city outlines, 地理院タイル) from polars frames.

No streamlit here. The basemap is drawn by deck.gl itself, one BitmapLayer per 地理院タイル tile over the
four-city area: Streamlit renders pydeck through @deck.gl/json, which cannot express the JavaScript
`renderSubLayers` a raster TileLayer needs (its default sub-layer is a GeoJsonLayer, which rejects images),
and `map_provider=None` keeps the Carto basemap away. Without a tile URL, or offline, the points and outlines
still draw on a blank background and a failed tile is not reported as an error (onError returns true).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import pydeck as pdk

from dashboard.charts import TEXT_DARK as TEXT_DARK_HEX
from dashboard.i18n import translate
from warehouse.macros import HEX_METRES

GSI_PALE = "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png"
GSI_CREDIT_URL = "https://maps.gsi.go.jp/development/ichiran.html"
# Layer ids: the selection event names the picked layer (event["selection"]["objects"][POINTS_LAYER]).
POINTS_LAYER = "organisations"
DENSITY_LAYER = "density"
OUTLINE_LAYER = "city-outlines"
OUTLINE_FILL_LAYER = "city-outline-fill"  # the highlighted city's tint, under the outlines
OUTLINE_CHOSEN_LAYER = "city-outline-chosen"  # the highlighted city's outline, over the others
SELECTED_LAYER = "selected"
HEX_RADIUS_M = HEX_METRES  # density hexagon radius, metres: the warehouse's grid (warehouse/macros.sql hex_metres)
POINT_RADIUS_M = 90  # pin radius on the ground, metres, kept between the pixel limits below
POINT_RADIUS_PX = (5, 14)
MAP_SIZE_PX = (720, 500)  # width, height the initial zoom is fitted to (the chart's default height is 500)
FIT_MARGIN = 0.85  # share of the map the pins may fill at the initial zoom
ZOOM_LIMITS = (9, 17)  # the user may zoom between these
PAD_DEG = 0.04  # basemap margin around the pins, degrees
TILE_SIZE_PX = 256
TEXT_DARK = (31, 41, 51)
HIGHLIGHT_FILL = (46, 117, 182, 28)  # the selected city's outline fill
SELECTED_RING = (214, 40, 40, 255)
# Density: light to dark blue, six classes of organisations per cell.
DENSITY_COLOURS = [[222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214], [49, 130, 189], [8, 81, 156]]
# pydeck turns every string argument into a deck.gl expression; a quoted string stays a literal.
PIXELS = '"pixels"'
# A deck's hover box (the map's and the coverage map's): white, dark text, at most 320 px wide.
TOOLTIP_STYLE = {"backgroundColor": "#ffffff", "color": TEXT_DARK_HEX, "fontSize": "12px", "maxWidth": "320px"}
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")

Bbox = tuple[float, float, float, float]  # west, south, east, north (degrees)


def rgba(colour_hex: str, alpha: int = 255) -> list[int]:
    """[r, g, b, a] of a #rrggbb colour."""
    if not _HEX.match(colour_hex):
        raise ValueError(f"not a #rrggbb colour: {colour_hex!r}")
    return [int(colour_hex[i : i + 2], 16) for i in (1, 3, 5)] + [alpha]


def _mercator_y(lat: float) -> float:
    """Web Mercator y of a latitude (radians of the projected plane)."""
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def bbox_of(extent: Mapping[str, float], pad: float = 0.0) -> Bbox:
    """(west, south, east, north) of a warehouse extent (min/max lat/lng), widened by pad degrees."""
    return (extent["min_lng"] - pad, extent["min_lat"] - pad, extent["max_lng"] + pad, extent["max_lat"] + pad)


def fit_view(bbox: Bbox, size_px: tuple[int, int] = MAP_SIZE_PX) -> pdk.ViewState:
    """View centred on bbox at the zoom where it fills FIT_MARGIN of a map of size_px (deck.gl: 512 px world at zoom 0)."""
    west, south, east, north = bbox
    width, height = size_px
    span_x = max(east - west, 1e-4) / 360  # share of the world's width
    span_y = max(_mercator_y(north) - _mercator_y(south), 1e-4) / (2 * math.pi)
    zoom = math.log2(FIT_MARGIN * min(width / span_x, height / span_y) / 512)
    centre_lat = math.degrees(math.atan(math.sinh((_mercator_y(north) + _mercator_y(south)) / 2)))
    return pdk.ViewState(
        latitude=round(centre_lat, 6),
        longitude=round((west + east) / 2, 6),
        zoom=round(zoom, 2),
        min_zoom=ZOOM_LIMITS[0],
        max_zoom=ZOOM_LIMITS[1],
    )


def tiles_covering(bbox: Bbox, zoom: int) -> list[tuple[int, int, int]]:
    """(z, x, y) of every XYZ tile at zoom that intersects bbox, row by row from the north-west."""
    west, south, east, north = bbox
    count = 2**zoom

    def column(lng: float) -> int:
        return min(count - 1, max(0, math.floor((lng + 180) / 360 * count)))

    def row(lat: float) -> int:
        return min(count - 1, max(0, math.floor((1 - _mercator_y(lat) / math.pi) / 2 * count)))

    return [(zoom, x, y) for y in range(row(north), row(south) + 1) for x in range(column(west), column(east) + 1)]


def tile_bounds(z: int, x: int, y: int) -> list[float]:
    """[west, south, east, north] of an XYZ tile, degrees."""
    count = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / count))))

    return [x / count * 360 - 180, lat(y + 1), (x + 1) / count * 360 - 180, lat(y)]


def basemap_layers(url: str, region: Bbox, view: Bbox, zoom: float) -> list[pdk.Layer]:
    """地理院タイル as BitmapLayers: the region from ZOOM_LIMITS[0] to one level above the view's zoom, and one
    finer level over the view itself (finer tiles are drawn last, on top). An empty url gives no layers."""
    if not url:
        return []
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"tile URL must be http(s): {url!r}")
    top = min(math.floor(zoom) + 1, ZOOM_LIMITS[1])
    plan = [(region, z) for z in range(ZOOM_LIMITS[0], top + 1)] + [(view, top + 1)]
    tiles = list(dict.fromkeys(tile for area, z in plan for tile in tiles_covering(area, z)))
    return [
        pdk.Layer(
            "BitmapLayer",
            id=f"tile-{z}-{x}-{y}",
            image=url.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y)),
            bounds=tile_bounds(z, x, y),
            # A tile that cannot load (offline) is handled: deck.gl would otherwise log it as an error.
            on_error="true",
        )
        for z, x, y in tiles
    ]


def boundary_segments(geometry: Mapping[str, Any]) -> list[tuple[list[float], list[float]]]:
    """(from, to) of each edge of a GeoJSON (Multi)Polygon's rings or (Multi)LineString's lines, [lng, lat] each."""
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind == "LineString":
        lines = [coordinates]
    elif kind in ("MultiLineString", "Polygon"):
        lines = coordinates
    elif kind == "MultiPolygon":
        lines = [ring for polygon in coordinates for ring in polygon]
    else:
        raise ValueError(f"not a line or polygon geometry: {kind!r}")
    return [(start[:2], end[:2]) for line in lines for start, end in itertools.pairwise(line)]


def line_layer(layer_id: str, data: list[dict], **options: Any) -> pdk.Layer:
    """A LineLayer of records holding each edge's ends in "from" and "to", widths in pixels, not pickable.

    Outlines are drawn as edges rather than a GeoJsonLayer: its PathLayer is the costliest WebGL program of the
    maps (joins and caps), and each program is compiled again on every visit (docs/benchmarks.md).
    """
    return pdk.Layer(
        "LineLayer",
        id=layer_id,
        data=data,
        get_source_position="from",
        get_target_position="to",
        width_units=PIXELS,
        pickable=False,
        **options,
    )


def outline_layers(boundaries: pl.DataFrame, highlight_city: str | None) -> list[pdk.Layer]:
    """City outlines (GeoJSON geometry text per city) as edges; the highlighted city is bolder, on top and tinted.

    Empty when no reference geography is loaded. Each edge carries only its ends (the style is the layer's), and
    only a highlighted city gets a fill layer (each layer type is one more WebGL program to build on every visit).
    """
    if boundaries.is_empty():
        return []
    fill: list[dict] = []
    edges: dict[bool, list[dict]] = {False: [], True: []}
    for code, text in boundaries.select("city_code", "geometry_geojson").iter_rows():
        geometry = json.loads(text)
        chosen = code == highlight_city
        edges[chosen] += [{"from": start, "to": end} for start, end in boundary_segments(geometry)]
        if chosen and geometry["type"] in ("Polygon", "MultiPolygon"):
            polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
            fill += [{"polygon": polygon} for polygon in polygons]
    layers: list[pdk.Layer] = []
    if fill:
        layers.append(
            pdk.Layer(
                "SolidPolygonLayer",
                id=OUTLINE_FILL_LAYER,
                data=fill,
                get_polygon="polygon",
                get_fill_color=list(HIGHLIGHT_FILL),
                pickable=False,
            )
        )
    layers.append(line_layer(OUTLINE_LAYER, edges[False], get_color=[*TEXT_DARK, 120], get_width=1.5))
    if edges[True]:
        layers.append(line_layer(OUTLINE_CHOSEN_LAYER, edges[True], get_color=[*TEXT_DARK, 230], get_width=3))
    return layers


def point_records(points: pl.DataFrame, highlight_city: str | None) -> list[dict]:
    """One record per pin: id, name, lng/lat (floats), colours and the tooltip's text fields."""
    return [
        {
            "organization_id": row["organization_id"],
            "name": row["name"],
            "lng": float(row["longitude"]),
            "lat": float(row["latitude"]),
            "fill": rgba(row["colour_hex"], 235),
            "line": [*TEXT_DARK, 255] if row["city_code"] == highlight_city else [255, 255, 255, 255],
            "line_width": 2 if row["city_code"] == highlight_city else 1,
            "colour_label": row["colour_label"],
            "city": row["city"],
            "verified": row["verified_label"],
        }
        for row in points.iter_rows(named=True)
    ]


def scatter_layer(
    layer_id: str, data: Any, radius_m: float, *, lng_lat: tuple[str, str] = ("lng", "lat"), **options: Any
) -> pdk.Layer:
    """A ScatterplotLayer of records placed by their lng_lat fields, each a circle of radius_m metres on the ground."""
    return pdk.Layer(
        "ScatterplotLayer", id=layer_id, data=data, get_position=list(lng_lat), get_radius=radius_m, **options
    )


def points_layer(points: pl.DataFrame, highlight_city: str | None) -> pdk.Layer:
    """Pins coloured along the support gradient; the highlighted city's pins get a dark outline."""
    return pdk.Layer(
        "ScatterplotLayer",
        id=POINTS_LAYER,
        data=point_records(points, highlight_city),
        get_position=["lng", "lat"],
        get_fill_color="fill",
        get_line_color="line",
        get_line_width="line_width",
        line_width_units=PIXELS,
        get_radius=POINT_RADIUS_M,
        radius_min_pixels=POINT_RADIUS_PX[0],
        radius_max_pixels=POINT_RADIUS_PX[1],
        stroked=True,
        filled=True,
        pickable=True,
        auto_highlight=True,
    )


def density_classes(orgs: list[int]) -> list[int]:
    """Colour class (0 … len(DENSITY_COLOURS) - 1) of each cell count: equal steps between the fewest and most."""
    if not orgs:
        return []
    low, high = min(orgs), max(orgs)
    steps = len(DENSITY_COLOURS)
    return [min(steps - 1, (n - low) * steps // (high - low + 1)) for n in orgs]


def density_layer(
    cells: pl.DataFrame,
    tip: Callable[[int], str] | None = None,
    *,
    tip_field: str = "tip",
    colours: Sequence[Sequence[int]] = DENSITY_COLOURS,
    alpha: int = 190,
    layer_id: str = DENSITY_LAYER,
) -> pdk.Layer:
    """Hexagons of HEX_RADIUS_M metres, aggregated in the warehouse, coloured by how many organisations fall in each.

    cells needs longitude, latitude (the hexagon's centre) and orgs: one record per hexagon reaches the browser,
    never one per organisation. The hexagons are flat-topped, as the warehouse's grid (ColumnLayer's disk).
    tip, when given, writes each hexagon's tooltip text (field tip_field) from its count; colours holds one RGB
    per density class (density_classes), alpha their opacity (0–255).
    """
    orgs = cells["orgs"].to_list()
    records = [
        {"lng": round(float(lng), 6), "lat": round(float(lat), 6), "count": n, "fill": [*colours[k], alpha]}
        for (lng, lat, n), k in zip(
            cells.select("longitude", "latitude", "orgs").iter_rows(), density_classes(orgs), strict=True
        )
    ]
    if tip is not None:
        records = [record | {tip_field: tip(record["count"])} for record in records]
    return pdk.Layer(
        "ColumnLayer",
        id=layer_id,
        data=records,
        get_position=["lng", "lat"],
        get_fill_color="fill",
        radius=HEX_RADIUS_M,
        disk_resolution=6,
        coverage=0.92,
        extruded=False,
        pickable=True,
    )


def selected_layer(points: pl.DataFrame, organization_id: str | None) -> pdk.Layer | None:
    """A red ring around the chosen organisation's pin, or None."""
    chosen = points.filter(pl.col("organization_id") == organization_id) if organization_id else points.clear()
    if chosen.is_empty():
        return None
    return pdk.Layer(
        "ScatterplotLayer",
        id=SELECTED_LAYER,
        data=[{"lng": float(chosen["longitude"][0]), "lat": float(chosen["latitude"][0])}],
        get_position=["lng", "lat"],
        get_radius=POINT_RADIUS_M * 2,
        radius_min_pixels=POINT_RADIUS_PX[1],
        stroked=True,
        filled=False,
        get_line_color=list(SELECTED_RING),
        line_width_min_pixels=3,
        pickable=False,
    )


def selected_organisation(event: Mapping | None) -> str | None:
    """organization_id of the pin picked on the map, from the chart's state {"selection": {"objects": {...}}}."""
    selection = (event or {}).get("selection") or {}
    objects = (selection.get("objects") or {}).get(POINTS_LAYER) or []
    return objects[0].get("organization_id") if objects else None


def map_deck(
    points: pl.DataFrame,
    boundaries: pl.DataFrame,
    *,
    lang: str,
    view: pdk.ViewState,
    basemap: Iterable[pdk.Layer] = (),
    highlight_city: str | None = None,
    selected: str | None = None,
    density: bool = False,
    cells: pl.DataFrame | None = None,
) -> pdk.Deck:
    """The resource map: basemap tiles, city outlines, then pins (or density hexagons) and the chosen pin's ring.

    points needs organization_id, name, latitude, longitude, colour_hex, city_code, city, colour_label and
    verified_label (the tooltip shows the last four); with density, cells (directory.density) are drawn instead
    and points only needs to hold the selected organisation, for its ring.
    """
    if density and cells is None:
        raise ValueError("density needs the warehouse's cells (directory.density)")
    layers: list[pdk.Layer] = [*basemap, *outline_layers(boundaries, highlight_city)]
    layers.append(density_layer(cells) if density else points_layer(points, highlight_city))
    ring = selected_layer(points, selected)
    if ring is not None:
        layers.append(ring)
    if density:
        tooltip = {"html": translate(lang, "map.hex_tooltip", n="{count}")}
    else:
        tooltip = {"html": "<b>{name}</b><br/>{colour_label}<br/>{city}<br/>{verified}"}
    tooltip["style"] = TOOLTIP_STYLE
    return pdk.Deck(layers=layers, initial_view_state=view, map_provider=None, tooltip=tooltip)


def legend_html(legend: pl.DataFrame) -> str:
    """The colour key as inline HTML: a dot, the label and the count of shown organisations per colour.

    legend needs label, colour_hex and orgs; labels are escaped, colours must be #rrggbb.
    """
    items = []
    for row in legend.iter_rows(named=True):
        colour = row["colour_hex"] if _HEX.match(row["colour_hex"] or "") else "#000000"
        items.append(
            # inline-block, not nowrap: a long label wraps inside its own item on a narrow screen.
            '<span style="display:inline-block;max-width:100%;margin-right:0.9em">'
            f'<span style="display:inline-block;width:0.75em;height:0.75em;border-radius:50%;'
            f'background:{colour};border:1px solid #5f6b7a;margin-right:0.3em;vertical-align:middle"></span>'
            f"{html.escape(row['label'])} ({row['orgs']})</span>"
        )
    return '<div style="line-height:1.9">' + " ".join(items) + "</div>"
