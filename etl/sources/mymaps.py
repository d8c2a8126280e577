"""resource_map.kmz — 地域資源マップ: the Google My Maps export (KMZ or plain KML), one pin per organisation."""

from __future__ import annotations

import codecs
import functools
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import polars as pl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse
from lxml import etree as lxml_etree

from common.calendar import parse_date
from common.text import clean_text, nfkc
from etl.errors import SourceError
from etl.normalise import org_name_key
from etl.sources.base import (
    DAMAGED,
    REQUIRED,
    Context,
    Dependants,
    Organizations,
    RowCheck,
    Transformed,
    check_file,
    check_zip,
    damaged,
    issue,
    parse_column,
    quarantine_frame,
    raw_frame,
    read_member,
    sniff,
    table,
    table_schema,
)
from etl.vocab import LINEAGE

FILE_NAME = "resource_map.kmz"
ALT_FILE_NAMES = ("resource_map.kml",)
KIND = "mymaps"
FIELDS = ["団体名", "住所", "電話番号", "活動時間", "最終確認日"]
PIN_COLUMNS = ["name", "description", "coordinates"]

LAT_RANGE = (35.40, 35.54)
LNG_RANGE = (139.35, 139.50)
NOT_LISTED = "配布リストにない団体 (not on the distribution list)"
SWAPPED = "緯度と経度が逆 (latitude and longitude swapped)"
OUTSIDE = "4市の範囲外 (outside the four-city area)"


@functools.lru_cache(maxsize=1024)
def _local(tag: Any) -> str:
    """Tag name without its XML namespace (cached: a KML has few distinct tags and a million elements)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(element: Element, name: str) -> str | None:
    """Text of the first direct child with this local name."""
    for child in element:
        if _local(child.tag) == name:
            return child.text
    return None


def _not_kml(file_name: str, data: bytes) -> None:
    """Refuse bytes that are another type of file (HTML, PDF, an image …) as not KML, not as an attack."""
    found = sniff(data[:1024])
    if found is not None:
        raise SourceError(
            file_name, f"KML ではありません（中身は {found[0]} です） (not a KML document: it is {found[1]})"
        )


def _kml_bytes(path: Path) -> bytes:
    """The KML document of a KMZ (doc.kml, else its first .kml) or of a plain KML file."""
    check_file(path)
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if not head.startswith(b"PK") and not zipfile.is_zipfile(path):
        _not_kml(path.name, head)
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip(archive, path.name)
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            kml = [n for n in names if n.lower().endswith(".kml")]
            if not kml:
                raise SourceError(path.name, "KMZ の中に KML がありません (no .kml inside the KMZ)")
            chosen = "doc.kml" if "doc.kml" in kml else sorted(kml, key=lambda n: (n.count("/"), n))[0]
            data = read_member(archive, chosen, path.name)
    except SourceError:
        raise
    except DAMAGED as exc:
        raise damaged(
            path.name,
            "KMZ として読めません（壊れているか途中で切れています）",
            "not a valid KMZ: damaged or truncated",
            exc,
        ) from exc
    _not_kml(path.name, data)
    return data


def _refused(file_name: str, exc: DefusedXmlException | ParseError) -> SourceError:
    """The file's error for XML the safe parser refused: unsafe (DTD, entities) or not well-formed."""
    if isinstance(exc, DefusedXmlException):
        return SourceError(
            file_name, f"安全でない XML です（DTD・実体参照は使えません） (unsafe XML: {type(exc).__name__})"
        )
    return SourceError(file_name, f"XML として読めません (not well-formed XML: {exc})")


def parse_kml(data: bytes, file_name: str) -> Element:
    """Parse KML bytes safely (no DTD, no entities, no external references) and check the root is <kml>."""
    _not_kml(file_name, data)
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise _refused(file_name, exc) from exc
    if _local(root.tag) != "kml":
        raise SourceError(file_name, f"KML ではありません（ルート要素 <{_local(root.tag)}>） (not a KML document)")
    return root


def _placemarks(element: Element, layer: str | None) -> Iterator[tuple[Element, str | None]]:
    """Every Placemark in document order with the name of the Folder (My Maps layer) holding it."""
    for child in element:
        tag = _local(child.tag)
        if tag == "Placemark":
            yield child, layer
        elif tag == "Folder":
            yield from _placemarks(child, nfkc(_child_text(child, "name")) or layer)
        else:
            yield from _placemarks(child, layer)


def _pin(placemark: Element) -> tuple[dict[str, str | None], list[dict[str, str | None]]]:
    """Raw values of one Placemark: name, description, coordinates and its ExtendedData fields."""
    values: dict[str, str | None] = {
        "name": _child_text(placemark, "name"),
        "description": _child_text(placemark, "description"),
        "coordinates": None,
    }
    issues = []
    for element in placemark.iter():
        tag = _local(element.tag)
        if tag == "Data":
            key = nfkc(element.get("name"))
            if key and key not in values:
                values[key] = _child_text(element, "value")
        elif tag == "SimpleData":
            key = nfkc(element.get("name"))
            if key and key not in values:
                values[key] = element.text
    point = next((e for e in placemark.iter() if _local(e.tag) == "Point"), None)
    if point is None:
        issues.append(
            issue("coordinates", None, "地点（ポイント）ではありません (placemark is not a point)", "extract.point")
        )
    else:
        values["coordinates"] = next((e.text for e in point.iter() if _local(e.tag) == "coordinates"), None)
    return values, issues


@functools.lru_cache(maxsize=1024)
def _field(label: str | None) -> str | None:
    """A Data or SimpleData field's key: its name attribute NFKC'd (cached: a map has few distinct fields)."""
    return nfkc(label)


def _lxml_pin(placemark: Any) -> tuple[dict[str, str | None], list[dict[str, str | None]]]:
    """_pin of an lxml Placemark of a _plain document, its fields and point found by lxml's tag filter (in C):
    the same values (fields in document order, the first of a repeated one kept) and the same issue."""
    values: dict[str, str | None] = {
        "name": _child_text(placemark, "name"),
        "description": _child_text(placemark, "description"),
        "coordinates": None,
    }
    point = None
    for element in placemark.iter("{*}Data", "{*}SimpleData", "{*}Point"):
        tag = _local(element.tag)
        if tag == "Point":
            if point is None:
                point = element
            continue
        key = _field(element.get("name"))
        if key and key not in values:
            values[key] = _child_text(element, "value") if tag == "Data" else element.text
    if point is None:
        issues = [
            issue("coordinates", None, "地点（ポイント）ではありません (placemark is not a point)", "extract.point")
        ]
        return values, issues
    values["coordinates"] = next((e.text for e in point.iter("{*}coordinates")), None)
    return values, []


def _stream_placemarks(data: bytes, file_name: str) -> Iterator[tuple[Element, list]]:
    """Every top-level Placemark in document order with its folder chain, parsed as a stream.

    The same placemarks and layers as parse_kml + _placemarks, but each Placemark is cleared once read,
    so a map of a million pins never sits in memory as one tree. A folder's layer is its first direct
    <name> child, which the stream may meet after the folder's placemarks: each placemark gets the
    chain of open folders ([name or None, parent chain]), resolved by _layer once the stream ends.
    """
    root_tag = None
    open_tags: list[str] = []
    folder: list | None = None
    depth = 0  # Placemarks open: one nested in another is part of the outer pin, not a pin itself.
    try:
        for event, element in iterparse(
            io.BytesIO(data), events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True
        ):
            tag = _local(element.tag)
            if event == "start":
                if root_tag is None:
                    root_tag = tag
                elif tag == "Folder" and depth == 0:
                    folder = [None, folder, False]
                elif tag == "Placemark":
                    depth += 1
                open_tags.append(tag)
                continue
            open_tags.pop()
            if tag == "Placemark":
                depth -= 1
                if depth == 0 and root_tag == "kml":
                    yield element, folder
                    element.clear()
            elif depth == 0 and tag == "Folder" and folder is not None:
                folder = folder[1]
            elif tag == "name" and depth == 0 and folder is not None and open_tags[-1:] == ["Folder"] and not folder[2]:
                folder[0], folder[2] = element.text, True
    except (DefusedXmlException, ParseError) as exc:
        raise _refused(file_name, exc) from exc
    except (ValueError, UnicodeError) as exc:
        raise damaged(file_name, "XML として読めません", "not well-formed XML", exc) from exc
    if root_tag != "kml":
        raise SourceError(file_name, f"KML ではありません（ルート要素 <{root_tag}>） (not a KML document)")


# The XML declaration the fast reader takes: version 1.0, UTF-8 or no encoding named, optional standalone.
_PLAIN_DECLARATION = re.compile(
    rb"<\?xml\s+version\s*=\s*(['\"])1\.0\1(?:\s+encoding\s*=\s*(['\"])(?i:utf-8)\2)?"
    rb"(?:\s+standalone\s*=\s*(['\"])(?:yes|no)\3)?\s*\?>"
)


def _plain(data: bytes) -> bool:
    """True for a document the fast reader gives exactly as the safe parser: UTF-8, and after its declaration
    no DTD, entity declaration, comment or processing instruction (a comment splits lxml's text where expat's
    tree joins it); every `<!` opens a CDATA section."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    found = _PLAIN_DECLARATION.match(body)
    rest = body[found.end() :] if found else body
    if not rest.lstrip(b" \t\r\n").startswith(b"<"):
        return False
    return b"<?" not in rest and rest.count(b"<!") == rest.count(b"<![CDATA[")


def _fast_placemarks(data: bytes) -> tuple[list, list] | None:
    """The pins (_lxml_pin of each) and folder chains _stream_placemarks gives, read by lxml (libxml2, C) with only
    Placemark and Folder events reaching Python; None when the document is not _plain, does not parse or its
    root is not <kml>: the safe parser then reads it and raises its own error.

    Safe as the reference: _plain refuses any DTD before libxml2 sees it, and the parser resolves no entity and
    fetches nothing. Each pin is removed from the tree once read, so a million pins never sit in memory.
    """
    if not _plain(data):
        return None
    pins: list = []
    folders: list = []
    folder: list | None = None
    depth = 0  # Placemarks open: one nested in another is part of the outer pin, not a pin itself.
    events = lxml_etree.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        tag=("{*}Placemark", "{*}Folder"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        for event, element in events:
            if _local(element.tag) == "Placemark":
                if event == "start":
                    depth += 1
                    continue
                depth -= 1
                if depth == 0:
                    pins.append(_lxml_pin(element))
                    folders.append(folder)
                    parent = element.getparent()
                    element.clear()
                    if parent is not None:
                        parent.remove(element)
            elif depth == 0 and event == "start":
                folder = [None, folder, False]
            elif depth == 0 and folder is not None:
                # A folder's layer is its first direct <name> child, wherever it stands among its pins.
                folder[0] = _child_text(element, "name")
                folder = folder[1]
    except (lxml_etree.LxmlError, ValueError, UnicodeError):
        return None
    if events.root is None or _local(events.root.tag) != "kml":
        return None
    return pins, folders


_WS = rb"[ \t\r\n]*"
# The tags that shape the layers, and CDATA sections skipped whole (a description may quote any markup).
_TOKEN = re.compile(rb"<!\[CDATA\[.*?\]\]>|<(/?)([A-Za-z_][\w.-]*:)?(Folder|Placemark)(?=[ \t\r\n/>])", re.DOTALL)
_FOLDER_NAME = re.compile(_WS + rb"<name>([^<]*)</name>")
# A My Maps pin as Google writes it: name, description (text or one CDATA section), style, Data fields, a point.
_PIN = re.compile(
    rb"<Placemark>"
    + _WS
    + rb"<name>([^<]*)</name>"
    + _WS
    + rb"(?:<description>(?:<!\[CDATA\[(.+?)\]\]>|([^<]*))</description>"
    + _WS
    + rb")?"
    + rb"(?:<styleUrl>[^<]*</styleUrl>"
    + _WS
    + rb")?"
    + rb"(?:<ExtendedData>((?:"
    + _WS
    + rb"<Data name=(?:\"[^\"<]*\"|'[^'<]*')>"
    + _WS
    + rb"<value>[^<]*</value>"
    + _WS
    + rb"</Data>)*)"
    + _WS
    + rb"</ExtendedData>"
    + _WS
    + rb")?"
    + rb"<Point>"
    + _WS
    + rb"<coordinates>([^<]*)</coordinates>"
    + _WS
    + rb"</Point>"
    + _WS
    + rb"</Placemark>",
    re.DOTALL,
)
_DATA = re.compile(rb"<Data name=(\"[^\"<]*\"|'[^'<]*')>" + _WS + rb"<value>([^<]*)</value>")
_ROOT = re.compile(_WS + rb"<(?:[A-Za-z_][\w.-]*:)?kml[ \t\r\n/>]")
_REFERENCE = re.compile(r"&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(lt|gt|amp|quot|apos));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _ref(match: re.Match) -> str:
    """The character of one character or predefined entity reference."""
    if match[1]:
        return chr(int(match[1], 16))
    if match[2]:
        return chr(int(match[2]))
    return _NAMED[match[3]]


def _xml_text(raw: bytes, *, cdata: bool = False, attribute: bool = False) -> str | None:
    """The text an XML parser gives for raw character data (None when empty): line ends as \n, references
    expanded (not in CDATA), in an attribute each whitespace character a space."""
    if not raw:
        return None
    text = raw.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if attribute:
        text = text.replace("\t", " ").replace("\n", " ")
    if not cdata and "&" in text:
        text = _REFERENCE.sub(_ref, text)
    return text


class _NoEvents:
    """A parser target that takes no events: libxml2 checks the document and builds nothing."""

    def close(self) -> None:
        """Nothing was built."""


def _well_formed(data: bytes) -> bool:
    """True when libxml2 reads the whole document (no entity resolved, nothing fetched) and its root is <kml>."""
    body = data.removeprefix(codecs.BOM_UTF8)
    declaration = _PLAIN_DECLARATION.match(body)
    if not _ROOT.match(body, declaration.end() if declaration else 0):
        return False
    parser = lxml_etree.XMLParser(target=_NoEvents(), resolve_entities=False, no_network=True, load_dtd=False)
    try:
        lxml_etree.fromstring(data, parser)
    except (lxml_etree.LxmlError, ValueError, UnicodeError):
        return False
    return True


def _scanned_pin(found: re.Match) -> tuple[dict[str, str | None], list]:
    """_pin of a Placemark _PIN matched."""
    values: dict[str, str | None] = {
        "name": _xml_text(found[1]),
        "description": _xml_text(found[2], cdata=True) if found[2] is not None else _xml_text(found[3] or b""),
        "coordinates": None,
    }
    for label, value in _DATA.findall(found[4] or b""):
        key = _field(_xml_text(label[1:-1], attribute=True))
        if key and key not in values:
            values[key] = _xml_text(value)
    values["coordinates"] = _xml_text(found[5])
    return values, []


def _scan_placemarks(data: bytes) -> tuple[list, list] | None:
    """The pins and folder chains of a _plain, well-formed map whose every folder starts with its name and
    every pin has _PIN's shape (a My Maps export), by regular expressions over the bytes; None for any other
    document, which _fast_placemarks or the safe parser then reads."""
    if not _plain(data) or not _well_formed(data):
        return None
    pins: list = []
    folders: list = []
    folder: list | None = None
    start = None  # where the open Placemark began
    for token in _TOKEN.finditer(data):
        if token[3] is None:
            continue
        if token[2] is not None:
            return None
        end = token.end()
        if token[1]:
            if token[3] == b"Folder":
                folder = folder[1]
                continue
            found = _PIN.fullmatch(data, start, end + 1)
            if found is None or (found[2] is not None and b"]]>" in found[2]):
                return None
            pins.append(_scanned_pin(found))
            folders.append(folder)
            start = None
        elif start is not None or data[end : end + 1] != b">":
            return None  # a pin inside a pin, a folder inside a pin, or a tag with attributes
        elif token[3] == b"Folder":
            name = _FOLDER_NAME.match(data, end + 1)
            if name is None:
                return None
            folder = [_xml_text(name[1]), folder, True]
        else:
            start = token.start()
    return pins, folders


def _layer(folder: list | None) -> str | None:
    """The layer of a placemark: the name of the nearest enclosing folder that has one."""
    while folder is not None:
        name = nfkc(folder[0])
        if name:
            return name
        folder = folder[1]
    return None


def extract(path: Path) -> pl.DataFrame:
    """Read every placemark of the map into a raw frame (layer in _sheet, placemark number in _row)."""
    data = _kml_bytes(path)
    fast = _scan_placemarks(data) or _fast_placemarks(data)
    if fast is None:
        stream = [(_pin(placemark), folder) for placemark, folder in _stream_placemarks(data, path.name)]
    else:
        stream = zip(*fast, strict=True)
    records = []
    folders = []
    columns = list(PIN_COLUMNS)
    for number, ((values, issues), folder) in enumerate(stream, start=1):
        columns += [c for c in values if c not in columns]
        records.append(values | {"_file": path.name, "_sheet": None, "_row": number, "_issues": issues})
        folders.append(folder)
    for record, folder in zip(records, folders, strict=True):
        record["_sheet"] = _layer(folder)
    if not records:
        raise SourceError(path.name, "データ行がありません（ピンが1つもありません） (no data rows: no placemarks)")
    return raw_frame(records, columns)


def parse_coordinates(value: Any) -> tuple[float, float]:
    """(latitude, longitude) of a KML "lng,lat[,alt]" coordinate."""
    text = nfkc(value) or ""
    parts = text.split()[0].split(",") if text else []
    try:
        lng, lat = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise ValueError(f"座標を読めません「{text}」 (unreadable coordinates)") from None
    return lat, lng


def _inside(lat: float, lng: float) -> bool:
    """True when the point lies in the four-city bounding box."""
    return LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LNG_RANGE[0] <= lng <= LNG_RANGE[1]


def _empty_city_root(ctx: Context, address: Any) -> str | None:
    """The root cause of an empty city sheet when a pin's address lies in that city (pins carry no city field)."""
    text = nfkc(address) or ""
    for code, root in ctx.empty_cities.items():
        if ctx.vocab.frames["city"].filter(pl.col("code") == code)["ja"].first() in text:
            return root
    return None


def _check_pin(
    row: dict[str, Any],
    ctx: Context,
    organizations: dict[str, dict[str, Any]],
    locations: dict[str, dict[str, Any]],
    dependants: Dependants,
) -> RowCheck:
    """Check one pin as its own row: its records in the check, the location added to locations when it loads."""
    check = RowCheck(row)
    name_column = "団体名" if nfkc(row.get("団体名")) else "name"
    name = check.get(name_column)
    organization = None
    if name is None:
        check.fail("団体名", None, REQUIRED, "normalise.required")
    else:
        key = org_name_key(name) or ""
        organization = organizations.get(key)
        root = ctx.rejected_organizations.get(key) or _empty_city_root(ctx, row.get("住所"))
        if organization is None and root is not None:
            check.depend(root)
        elif organization is None:
            check.fail(name_column, row.get(name_column), NOT_LISTED, "match.organization")
    point = check.get("coordinates", parse_coordinates, check="normalise.coordinates", required=True)
    if point is not None and not _inside(*point):
        reason = SWAPPED if _inside(point[1], point[0]) else OUTSIDE
        check.fail("coordinates", nfkc(row.get("coordinates")), reason, "range.coordinates")
    location = {
        "name": check.get("name") or name,
        "address": check.get("住所"),
        "hours": check.get("活動時間", clean_text),
        "last_verified": check.get("最終確認日", parse_date, check="normalise.date"),
    }
    if check.root is not None:
        dependants.add(check, name_column, "地図のピン", "map pins")
    if check.ok and organization["id"] in locations:
        check.fail(
            name_column,
            row.get(name_column),
            "同じ団体のピンが重複しています (duplicate pin for the same organisation)",
            "dedupe.location",
        )
    if check.ok:
        locations[organization["id"]] = (
            location
            | {
                "id": f"LOC-{organization['id']}",
                "organization_id": organization["id"],
                "city_code": organization["city_code"],
                "latitude": point[0],
                "longitude": point[1],
                "map_layer": row["_sheet"],
                "source_row": row["_row"],
            }
            | check.lineage
        )
    return check


def _warnings(raw: pl.DataFrame) -> list[str]:
    """The extra-fields warning of a map whose pins carry fields outside the contract."""
    extra = [
        c
        for c in raw.columns
        if not c.startswith("_") and c not in PIN_COLUMNS + FIELDS and raw[c].drop_nulls().len() > 0
    ]
    return (
        [f"{raw['_file'][0]}: 余分な項目を無視しました「{'」「'.join(extra)}」 (extra fields ignored)"] if extra else []
    )


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """Locations matched to organisations by name key, with coordinates checked against the four cities.

    Each column is parsed whole by the same parsers; a pin any of whose values fails, that matches no
    organisation, lies outside the four cities, repeats an organisation or carries an extract issue is
    checked again by _check_pin (the reference, transform_by_row's), which writes its records.
    """
    if ctx.organizations is None:
        raise ValueError("mymaps transform needs Context.organizations from the distribution list")
    raw = raw.sort("_row")
    height = raw.height
    organizations = Organizations(ctx.organizations)

    def column(name: str) -> list[Any]:
        """A raw column's values (a field no pin has is all blank)."""
        return raw[name].to_list() if name in raw.columns else [None] * height

    listed = [nfkc(value) for value in column("団体名")]
    pin_names = [nfkc(value) for value in column("name")]
    names = [a if a else b for a, b in zip(listed, pin_names, strict=True)]
    found = [organizations.get(org_name_key(name) or "") if name is not None else None for name in names]
    points, slow = parse_column(column("coordinates"), parse_coordinates)
    address, _ = parse_column(column("住所"), nfkc)
    hours, _ = parse_column(column("活動時間"), clean_text)
    verified, bad = parse_column(column("最終確認日"), parse_date, repeats=True)
    slow |= bad
    issues = raw["_issues"].list.len().to_list()
    for i in range(height):
        if found[i] is None or points[i] is None or issues[i] or not _inside(*points[i]):
            slow.add(i)
    slow_rows = dict(zip(sorted(slow), raw[sorted(slow)].to_dicts(), strict=True)) if slow else {}
    locations: dict[str, dict[str, Any]] = {}
    loaded: list[int] = []
    quarantine: list[dict[str, Any]] = []
    dependants = Dependants()
    for i in range(height):
        if i not in slow and found[i]["id"] not in locations:
            # A clean pin: its location is built from the parsed columns below.
            locations[found[i]["id"]] = None
            loaded.append(i)
            continue
        row = slow_rows.get(i) or raw.row(i, named=True)
        quarantine.extend(_check_pin(row, ctx, organizations, locations, dependants).problems)
    fast = pl.DataFrame(
        {
            "id": [f"LOC-{found[i]['id']}" for i in loaded],
            "organization_id": [found[i]["id"] for i in loaded],
            "name": [pin_names[i] or names[i] for i in loaded],
            "address": [address[i] for i in loaded],
            "city_code": [found[i]["city_code"] for i in loaded],
            "latitude": [points[i][0] for i in loaded],
            "longitude": [points[i][1] for i in loaded],
            "hours": [hours[i] for i in loaded],
            "last_verified": [verified[i] for i in loaded],
            "map_layer": raw["_sheet"].gather(loaded).to_list() if loaded else [],
            "source_row": raw["_row"].gather(loaded).to_list() if loaded else [],
            **{c: raw[c].gather(loaded).to_list() if loaded else [] for c in LINEAGE},
        },
        schema=table_schema("location"),
        strict=False,
    )
    checked = table("location", [location for location in locations.values() if location is not None])
    return Transformed(
        tables={"location": pl.concat([fast, checked]).sort("_row")},
        quarantine=quarantine_frame(quarantine + dependants.records()),
        rows_read=raw.height,
        warnings=_warnings(raw),
    )


def transform_by_row(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """The reference transform: every pin through _check_pin (the tests hold transform to it)."""
    if ctx.organizations is None:
        raise ValueError("mymaps transform needs Context.organizations from the distribution list")
    organizations = {row["name_key"]: row for row in ctx.organizations.to_dicts()}
    locations: dict[str, dict[str, Any]] = {}
    quarantine: list[dict[str, Any]] = []
    dependants = Dependants()
    for row in raw.sort("_row").to_dicts():
        quarantine.extend(_check_pin(row, ctx, organizations, locations, dependants).problems)
    return Transformed(
        tables={"location": table("location", locations.values())},
        quarantine=quarantine_frame(quarantine + dependants.records()),
        rows_read=raw.height,
        warnings=_warnings(raw),
    )
