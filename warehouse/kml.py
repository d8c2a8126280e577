"""KML/KMZ in Google My Maps' own export shape, and GeoJSON, for the resource map's filtered set (pure functions).

A KML written here re-imports into Google My Maps (one layer per <Folder>, at most MY_MAPS_MAX_LAYERS) and
into our own ETL (etl.sources.mymaps: <name>, <ExtendedData> fields MY_MAPS_FIELDS, Point lng,lat,0).
Coordinates are written with repr(float), the shortest text that reads back as the same double.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

KML_NS = "http://www.opengis.net/kml/2.2"
# The ExtendedData fields of the My Maps export that etl.sources.mymaps reads (same names, same order).
MY_MAPS_FIELDS = ("団体名", "住所", "電話番号", "活動時間", "最終確認日")
MY_MAPS_MAX_LAYERS = 10  # Google My Maps imports at most ten layers
MY_MAPS_ICON = "https://www.gstatic.com/mapspro/images/stock/503-wht-blank_maps.png"
KMZ_DATE = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamp: the same pins give the same bytes
# Characters XML 1.0 cannot hold (C0 controls other than tab, newline, carriage return).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# What ElementTree escapes in an attribute value, in its order.
_ATTRIBUTE_ENTITIES = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("\r", "&#13;"),
    ("\n", "&#10;"),
    ("\t", "&#09;"),
)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
# Directory columns shown in a pin's popup, in order (the page supplies their labels).
POPUP_COLUMNS = ("address", "phone", "fax", "forms", "contents", "targets", "area", "hours", "last_verified")


@dataclass(frozen=True)
class Pin:
    """One placemark: name, position (WGS84 degrees), ExtendedData fields and popup lines (label, value)."""

    name: str
    latitude: float
    longitude: float
    fields: tuple[tuple[str, str], ...] = ()
    popup: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layer:
    """One My Maps layer (<Folder>): its name, pin colour (#rrggbb) and pins."""

    name: str
    colour_hex: str
    pins: Iterable[Pin]  # a generator only for kml_chunks (written once)


def _text(value: object) -> str:
    """Text safe for XML 1.0 (None → empty)."""
    return _NOT_XML.sub("", "" if value is None else str(value))


def style_id(colour_hex: str) -> str:
    """My Maps' style id for a pin colour: icon-1899-RRGGBB."""
    if not _HEX.match(colour_hex):
        raise ValueError(f"not a #rrggbb colour: {colour_hex!r}")
    return f"icon-1899-{colour_hex[1:].upper()}"


def kml_colour(colour_hex: str) -> str:
    """KML colour aabbggrr (opaque) of #rrggbb."""
    if not _HEX.match(colour_hex):
        raise ValueError(f"not a #rrggbb colour: {colour_hex!r}")
    red, green, blue = colour_hex[1:3], colour_hex[3:5], colour_hex[5:7]
    return f"ff{blue}{green}{red}".lower()


def _escape(text: str) -> str:
    """XML character data: &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    """An XML attribute value in double quotes, escaped as ElementTree writes it."""
    for char, entity in _ATTRIBUTE_ENTITIES:
        text = text.replace(char, entity)
    return f'"{text}"'


def _leaf(depth: int, tag: str, value: object, *, my_maps: bool, cdata: bool = False) -> str:
    """One element holding text on its own line (an empty one as <tag />, as ElementTree writes it)."""
    pad, text = "  " * depth, _text(value)
    if my_maps and cdata:
        return f"{pad}<{tag}><![CDATA[{text}]]></{tag}>\n"
    if not text and not my_maps:
        return f"{pad}<{tag} />\n"
    return f"{pad}<{tag}>{_escape(text)}</{tag}>\n"


def _styles(colour_hex: str, *, my_maps: bool) -> str:
    """My Maps' normal/highlight Style pair and StyleMap for one pin colour."""
    ident = style_id(colour_hex)
    close = "/>" if my_maps else " />"
    text = ""
    for state, label_scale in (("normal", "0"), ("highlight", "1")):
        text += (
            f"    <Style id={_attribute(f'{ident}-{state}')}>\n"
            "      <IconStyle>\n"
            f"        <color>{kml_colour(colour_hex)}</color>\n"
            "        <scale>1</scale>\n"
            "        <Icon>\n"
            f"          <href>{_escape(MY_MAPS_ICON)}</href>\n"
            "        </Icon>\n"
            f'        <hotSpot x="32" xunits="pixels" y="64" yunits="insetPixels"{close}\n'
            "      </IconStyle>\n"
            "      <LabelStyle>\n"
            f"        <scale>{label_scale}</scale>\n"
            "      </LabelStyle>\n"
            "    </Style>\n"
        )
    text += f"    <StyleMap id={_attribute(ident)}>\n"
    for state in ("normal", "highlight"):
        text += (
            f"      <Pair>\n        <key>{state}</key>\n        <styleUrl>#{ident}-{state}</styleUrl>\n      </Pair>\n"
        )
    return text + "    </StyleMap>\n"


def _placemark(pin: Pin, colour_hex: str, *, my_maps: bool) -> str:
    """One Placemark: name, popup, style, ExtendedData fields and the point."""
    data = "".join(
        f"          <Data name={_attribute(field_name)}>\n"
        + _leaf(6, "value", value, my_maps=my_maps)
        + "          </Data>\n"
        for field_name, value in pin.fields
        if value or my_maps
    )
    extended = f"        <ExtendedData>\n{data}        </ExtendedData>\n" if data else "        <ExtendedData />\n"
    if my_maps:
        lng_lat = f"{pin.longitude:.6f},{pin.latitude:.6f},0"
        point = f"          <coordinates>\n            {lng_lat}\n          </coordinates>\n"
    else:
        point = f"          <coordinates>{float(pin.longitude)!r},{float(pin.latitude)!r},0</coordinates>\n"
    return (
        "      <Placemark>\n"
        + _leaf(4, "name", pin.name, my_maps=my_maps)
        + _leaf(4, "description", _description(pin.popup), my_maps=my_maps, cdata=True)
        + f"        <styleUrl>#{style_id(colour_hex)}</styleUrl>\n"
        + extended
        + f"        <Point>\n{point}        </Point>\n"
        + "      </Placemark>\n"
    )


def _description(popup: Sequence[tuple[str, str]]) -> str:
    """Popup HTML (My Maps renders a description as HTML): label：value lines, values escaped."""
    return "<br>".join(f"{html.escape(label)}：{html.escape(_text(value))}" for label, value in popup if value)


def kml_chunks(title: str, description: str, layers: Sequence[Layer], *, my_maps: bool = False) -> Iterator[str]:
    """A KML document in pieces (a Placemark each): one Folder per layer, in order, My Maps styles per colour.

    A layer's pins may be a generator: a map of a million pins streams into a file without being held.
    my_maps writes the layout Google My Maps exports (descriptions as CDATA, every field even when empty,
    coordinates to 6 decimals on their own line); otherwise ElementTree's indented layout, empty fields
    left out and coordinates as repr(float).
    """
    if len(layers) > MY_MAPS_MAX_LAYERS:
        raise ValueError(f"{len(layers)} layers: Google My Maps imports at most {MY_MAPS_MAX_LAYERS}")
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns={_attribute(KML_NS)}>\n  <Document>\n'
    yield _leaf(2, "name", title, my_maps=my_maps) + _leaf(2, "description", description, my_maps=my_maps, cdata=True)
    for colour in dict.fromkeys(layer.colour_hex for layer in layers):
        yield _styles(colour, my_maps=my_maps)
    for layer in layers:
        yield "    <Folder>\n" + _leaf(3, "name", layer.name, my_maps=my_maps)
        for pin in layer.pins:
            yield _placemark(pin, layer.colour_hex, my_maps=my_maps)
        yield "    </Folder>\n"
    yield "  </Document>\n</kml>\n"


def kml_bytes(title: str, description: str, layers: Sequence[Layer], *, my_maps: bool = False) -> bytes:
    """A KML document (see kml_chunks) as UTF-8 bytes."""
    return "".join(kml_chunks(title, description, layers, my_maps=my_maps)).encode()


def kmz_bytes(kml: bytes) -> bytes:
    """A KMZ: a zip holding the KML as doc.kml (deflated, fixed timestamp)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("doc.kml", date_time=KMZ_DATE), kml, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def feature(geometry: Mapping[str, object], properties: Mapping[str, object], feature_id: object = None) -> dict:
    """A GeoJSON Feature (RFC 7946), with its id when it has one."""
    identified = {} if feature_id is None else {"id": feature_id}
    return {"type": "Feature", **identified, "geometry": dict(geometry), "properties": dict(properties)}


def point(longitude: float, latitude: float) -> dict:
    """A GeoJSON Point: [longitude, latitude] in WGS84 degrees."""
    return {"type": "Point", "coordinates": [float(longitude), float(latitude)]}


def feature_collection(features: Iterable[Mapping[str, object]], members: Mapping[str, object] | None = None) -> dict:
    """A GeoJSON FeatureCollection of features; members are foreign members (RFC 7946 §6.1) written after them."""
    return {"type": "FeatureCollection", "features": list(features), **(members or {})}


def geojson_bytes(
    features: Iterable[Mapping[str, object]], *, indent: int | None = None, members: Mapping[str, object] | None = None
) -> bytes:
    """A FeatureCollection as UTF-8 JSON, Japanese kept readable, dates as ISO 8601; indented ends in a newline."""
    text = json.dumps(feature_collection(features, members), ensure_ascii=False, indent=indent, default=_json_value)
    return (text + "\n" if indent is not None else text).encode()


def _json_value(value: object) -> object:
    """JSON for dates (ISO 8601)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _display(value: object) -> str:
    """A directory cell as popup text: lists joined with 、, dates as YYYY/MM/DD."""
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    if isinstance(value, dt.date):
        return value.strftime("%Y/%m/%d")
    return "" if value is None else str(value)


def directory_pins(rows: pl.DataFrame, popup_labels: Mapping[str, str]) -> list[tuple[str, Pin]]:
    """(legend_group, Pin) per directory row (warehouse.query.directory.organisations), rows in their order.

    ExtendedData carries MY_MAPS_FIELDS: name, address, phone, the pin's 活動時間 (else the survey's hours)
    and 最終確認日; the popup shows POPUP_COLUMNS with popup_labels (column → label).
    """
    pins = []
    for row in rows.iter_rows(named=True):
        values = (row["name"], row["address"], row["phone"], row["pin_hours"] or row["hours"], row["last_verified"])
        pins.append(
            (
                row["legend_group"],
                Pin(
                    name=row["name"],
                    latitude=row["latitude"],
                    longitude=row["longitude"],
                    fields=tuple(zip(MY_MAPS_FIELDS, (_display(v) for v in values), strict=True)),
                    popup=tuple((popup_labels[c], _display(row[c])) for c in POPUP_COLUMNS),
                ),
            )
        )
    return pins


def directory_layers(rows: pl.DataFrame, legend: pl.DataFrame, popup_labels: Mapping[str, str]) -> list[Layer]:
    """One layer per map colour that has pins, in legend order (the seven gradient forms, then the greys).

    An organisation sits in one layer only, its primary form's (the lowest on the gradient), so the layers
    match the map's colours and stay within My Maps' ten. legend needs legend_group, label, colour_hex.
    """
    grouped: dict[str, list[Pin]] = {}
    for group, pin in directory_pins(rows, popup_labels):
        grouped.setdefault(group, []).append(pin)
    return [
        Layer(name=entry["label"], colour_hex=entry["colour_hex"], pins=tuple(grouped[entry["legend_group"]]))
        for entry in legend.iter_rows(named=True)
        if entry["legend_group"] in grouped
    ]


def directory_features(rows: pl.DataFrame) -> list[dict]:
    """GeoJSON point features of directory rows: every public column except the coordinates and map internals."""
    skip = {"latitude", "longitude", "verified_days_ago", "stale", "gradient_rank", "legend_group"}
    return [
        feature(point(row["longitude"], row["latitude"]), {k: v for k, v in row.items() if k not in skip})
        for row in rows.iter_rows(named=True)
    ]
