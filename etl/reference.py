"""Reference geography: 町丁目 points (Geolonia 住所データ) and city outlines (国土数値情報 N03).

The product never ships these files. `fetch()` downloads them once from the official sources into a
cache directory (with a CREDITS.md); `load()` reads such a directory — the cache, or any directory
laid out the same way (`towns/<市名>.json`, `boundaries/*.geojson` or `*.zip` of N03).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etl.errors import SourceError
from etl.sources import base
from etl.sources.base import QUARANTINE_SCHEMA
from etl.vocab import LINEAGE, Vocabulary
from warehouse import schema as ddl

TOWNS_URL = "https://geolonia.github.io/japanese-addresses/api/ja/{pref}/{city}.json"
N03_URL = "https://nlftp.mlit.go.jp/ksj/gml/data/N03/N03-2024/N03-20240101_14_GML.zip"
PREFECTURE = "神奈川県"
CREDITS = {
    "towns": ("CC BY 4.0", "「Geolonia 住所データ」（国土交通省 位置参照情報を元に作成）"),
    "boundaries": (
        "国土数値情報利用約款 (CC BY 4.0 互換)",
        "出典：国土数値情報（行政区域データ）（国土交通省）を加工して作成",
    ),
}
FETCH_TIMEOUT = 20  # seconds per download; offline machines fail fast and build without reference
# The official N03 zip for a prefecture holds shapefiles and a GeoJSON of tens of MB; only the GeoJSON
# member is read, into memory, and never extracted to disk (so member paths cannot escape).
MAX_GEOJSON_BYTES = 400 * 1024 * 1024

TOWN_COLUMNS = ddl.load()["ref_town"].polars | LINEAGE
BOUNDARY_COLUMNS = ddl.load()["ref_city_boundary"].polars | LINEAGE
# Run metadata: no source rows, hence no lineage.
SOURCE_COLUMNS = ddl.load()["ref_source"].polars


@dataclass
class Reference:
    """Reference tables ready for validation, plus quarantined rows and the files read."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    files: list[tuple[str, bytes]] = field(default_factory=list)


def empty() -> Reference:
    """No reference geography: empty tables so pages can say so instead of failing."""
    return Reference(
        tables={
            "ref_town": pl.DataFrame(schema=TOWN_COLUMNS),
            "ref_city_boundary": pl.DataFrame(schema=BOUNDARY_COLUMNS),
            "ref_source": pl.DataFrame(schema=SOURCE_COLUMNS),
        },
        quarantine=pl.DataFrame(schema=QUARANTINE_SCHEMA),
    )


def digest(files: list[tuple[str, bytes]]) -> str:
    """sha256 over file names and bytes, in name order."""
    hasher = hashlib.sha256()
    for name, data in sorted(files):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return hasher.hexdigest()


def parse_towns(data: bytes, file_name: str, city_code: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Geolonia per-city JSON → town rows; rows without coordinates are quarantined."""
    try:
        records = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourceError(file_name, f"JSON として読めません (not valid JSON): {error}") from error
    if not isinstance(records, list):
        raise SourceError(file_name, "町丁目の一覧（JSON 配列）ではありません (expected a JSON array of towns)")
    rows, bad = [], []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SourceError(file_name, "町丁目の形式ではありません (town entry is not an object)", row=number)
        town = str(record.get("town") or "").strip()
        koaza = str(record.get("koaza") or "").strip() or None
        lat, lng = record.get("lat"), record.get("lng")
        if not town or lat is None or lng is None:
            column = "town" if not town else "lat" if lat is None else "lng"
            bad.append(
                _town_issue(
                    file_name, number, column, town or None, "代表点の座標がありません (town has no coordinates)"
                )
            )
            continue
        coordinates = _coordinates(lat, lng)
        if isinstance(coordinates, str):
            value = lat if coordinates == "lat" else lng
            bad.append(
                _town_issue(
                    file_name, number, coordinates, str(value), "座標が数値ではありません (coordinate is not a number)"
                )
            )
            continue
        lat, lng = coordinates
        name = town + (koaza or "")
        rows.append(
            {
                "id": f"{city_code}:{name}",
                "city_code": city_code,
                "town": town,
                "koaza": koaza,
                "name": name,
                "latitude": lat,
                "longitude": lng,
                "postal_code": record.get("zip") or None,
                "_file": file_name,
                "_sheet": None,
                "_row": number,
            }
        )
    return pl.DataFrame(rows, schema=TOWN_COLUMNS), pl.DataFrame(bad, schema=QUARANTINE_SCHEMA)


def _town_issue(file_name: str, number: int, column: str, value: str | None, reason: str) -> dict:
    """One quarantined town entry (row = position in the JSON array, from 1)."""
    return {
        "file_name": file_name,
        "sheet": None,
        "row_number": number,
        "column_name": column,
        "value": value,
        "reason": reason,
        "check_name": "reference.town",
        # The town entry is set aside whole: without a point it cannot be placed.
        "scope": "row",
    }


def _coordinates(lat: object, lng: object) -> tuple[float, float] | str:
    """Both coordinates as finite floats, or the name of the first one that is not a number."""
    values = []
    for column, value in (("lat", lat), ("lng", lng)):
        # JSON booleans are ints to Python, and a string like "35.48" is not what Geolonia ships.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return column
        values.append(float(value))
    return values[0], values[1]


def parse_boundaries(data: bytes, file_name: str, city_codes: set[str]) -> pl.DataFrame:
    """N03 GeoJSON (or a zip holding one) → one outline per city; parts of a city become a MultiPolygon."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".geojson")]
            if not members:
                raise SourceError(file_name, "zip に GeoJSON がありません (no .geojson inside the zip)")
            if members[0].file_size > MAX_GEOJSON_BYTES:
                raise SourceError(file_name, "展開後のサイズが大きすぎます (GeoJSON member too large)")
            data = archive.read(members[0])
    try:
        collection = json.loads(data.decode("utf-8-sig"))
        features = collection["features"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise SourceError(
            file_name, f"GeoJSON FeatureCollection として読めません (not a FeatureCollection): {error}"
        ) from error
    polygons: dict[str, list] = {}
    names: dict[str, str] = {}
    if not isinstance(features, list):
        raise SourceError(file_name, "features が配列ではありません (features is not an array)")
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            raise SourceError(file_name, "Feature の形式ではありません (feature is not an object)", row=number)
        props = feature.get("properties") or {}
        code = str(props.get("N03_007") or "")
        geometry = feature.get("geometry") or {}
        if code not in city_codes or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        if not isinstance(geometry.get("coordinates"), list) or not geometry["coordinates"]:
            raise SourceError(file_name, "境界の座標がありません (feature has no coordinates)", row=number)
        parts = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        polygons.setdefault(code, []).extend(parts)
        names[code] = props.get("N03_004") or code
    rows = []
    for number, code in enumerate(sorted(polygons), start=1):
        parts = polygons[code]
        geometry = (
            {"type": "Polygon", "coordinates": parts[0]}
            if len(parts) == 1
            else {"type": "MultiPolygon", "coordinates": parts}
        )
        rows.append(
            {
                "city_code": code,
                "name": names[code],
                "geometry_geojson": json.dumps(geometry, separators=(",", ":")),
                "_file": file_name,
                "_sheet": None,
                "_row": number,
            }
        )
    return pl.DataFrame(rows, schema=BOUNDARY_COLUMNS)


def load(directory: Path, vocab: Vocabulary) -> Reference:
    """Read a reference directory (towns/<市名>.json, boundaries/*.geojson|*.zip); missing parts stay empty."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceError(str(directory), "参照データのディレクトリがありません (reference directory not found)")
    result = empty()
    cities = vocab.tables()["city"].select("code", "name_ja")
    towns, quarantined, town_files = [], [], []
    for code, name in cities.iter_rows():
        path = directory / "towns" / f"{name}.json"
        if path.is_file():
            data = _read(path, f"towns/{path.name}")
            town_files.append((f"towns/{path.name}", data))
            frame, bad = parse_towns(data, f"towns/{path.name}", code)
            towns.append(frame)
            quarantined.append(bad)
    boundary_paths = [
        p for p in sorted((directory / "boundaries").glob("*")) if p.suffix.lower() in (".geojson", ".json", ".zip")
    ]
    boundary_files = [(f"boundaries/{p.name}", _read(p, f"boundaries/{p.name}")) for p in boundary_paths]
    boundaries = [parse_boundaries(data, name, set(cities["code"])) for name, data in boundary_files]
    sources = []
    if towns:
        result.tables["ref_town"] = pl.concat(towns)
        result.quarantine = pl.concat(quarantined)
        sources.append(("towns", town_files))
    if boundaries:
        frame = pl.concat(boundaries).unique("city_code", keep="first", maintain_order=True)
        result.tables["ref_city_boundary"] = frame
        sources.append(("boundaries", boundary_files))
    result.tables["ref_source"] = pl.DataFrame(
        [
            {
                "dataset": dataset,
                "location": str(directory),
                "licence": CREDITS[dataset][0],
                "credit": CREDITS[dataset][1],
                "sha256": digest(files),
            }
            for dataset, files in sources
        ],
        schema=SOURCE_COLUMNS,
    )
    result.files = town_files + boundary_files
    return result


def _read(path: Path, name: str) -> bytes:
    """A reference file's bytes, refused (SourceError naming it) above the sources' size limit."""
    try:
        base.check_file(path)
    except SourceError as error:
        raise SourceError(name, error.message) from error
    return path.read_bytes()


def fetch(cache: Path, vocab: Vocabulary, *, towns_url: str = TOWNS_URL, n03_url: str = N03_URL) -> Path:
    """Download the official sources once into cache (towns/, boundaries/, CREDITS.md); raises OSError offline."""
    cache = Path(cache)
    (cache / "towns").mkdir(parents=True, exist_ok=True)
    (cache / "boundaries").mkdir(parents=True, exist_ok=True)
    for name in vocab.tables()["city"]["name_ja"]:
        target = cache / "towns" / f"{name}.json"
        if not target.exists():
            url = towns_url.format(pref=urllib.parse.quote(PREFECTURE), city=urllib.parse.quote(name))
            _download(url, target)
    n03 = cache / "boundaries" / Path(urllib.parse.urlparse(n03_url).path).name
    if not n03.exists():
        _download(n03_url, n03)
    lines = ["# Reference geography credits", ""]
    lines += [f"- {dataset}: {credit} ({licence})" for dataset, (licence, credit) in CREDITS.items()]
    lines += ["", f"- towns: {towns_url}", f"- boundaries: {n03_url}"]
    (cache / "CREDITS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cache


def _download(url: str, target: Path) -> None:
    """Fetch url into target atomically (a half-downloaded file never looks complete)."""
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 (fixed https URLs)
        partial.write_bytes(response.read())
    partial.replace(target)
