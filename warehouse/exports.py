"""Open exports of the resource directory: an Open Referral HSDS 3.1 tabular data package and GeoJSON.

Pure functions over a read-only connection; only public directory tables are read (never the pii schema).
CLI:
    python -m warehouse.exports hsds --warehouse PATH --out DIR [--fiscal-year R6]
    python -m warehouse.exports geojson --warehouse PATH --out FILE [--fiscal-year R6]
The HSDS package covers one 年度 (default: the latest), the GeoJSON every year (or the one named).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import re
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from common.calendar import fiscal_year_label, fiscal_year_of_folder, fiscal_year_start
from common.roles import PUBLIC, Viewer
from warehouse import kml
from warehouse.neutralise import neutralised
from warehouse.query import WarehouseMissing, connect, fetch, fetch_one, warehouse_path

HSDS_VERSION = "3.1"
# HSDS ids are UUIDs: each is uuid5(NAMESPACE, our id), so the same warehouse id always gives the same UUID.
NAMESPACE = uuid.UUID("5e2d25b3-40db-44d1-b226-aff13b4c0882")
CSV_LINE_END = "\r\n"  # RFC 4180, the Frictionless CSV dialect default


@dataclass(frozen=True)
class Field:
    """One HSDS 3.1 field as a Frictionless table-schema field."""

    name: str
    type: str = "string"
    format: str | None = None
    required: bool = False


def _uuid(name: str, required: bool = False) -> Field:
    """An identifier field (HSDS format uuid)."""
    return Field(name, "string", "uuid", required)


# HSDS 3.1 tables and their scalar fields in the specification's order (schema/*.json of
# openreferral/specification 3.1; DEPRECATED fields left out). `required` is the specification's
# constraint, except address.postal_code: the cities' files carry no 郵便番号, so it is left empty.
HSDS_TABLES: dict[str, tuple[str, tuple[Field, ...]]] = {
    "organization": (
        "organizations.csv",
        (
            _uuid("id", True),
            Field("name", required=True),
            Field("alternate_name"),
            Field("description", required=True),
            Field("email", format="email"),
            Field("website", format="uri"),
            Field("year_incorporated", "number"),
            Field("legal_status"),
            Field("logo"),
            Field("uri", format="uri"),
            _uuid("parent_organization_id"),
        ),
    ),
    "service": (
        "services.csv",
        (
            _uuid("id", True),
            _uuid("organization_id", True),
            _uuid("program_id"),
            Field("name", required=True),
            Field("alternate_name"),
            Field("description"),
            Field("url", format="uri"),
            Field("email", format="email"),
            Field("status", required=True),
            Field("interpretation_services"),
            Field("application_process"),
            Field("fees_description"),
            Field("accreditations"),
            Field("eligibility_description"),
            Field("minimum_age", "number"),
            Field("maximum_age", "number"),
            Field("assured_date"),
            Field("assurer_email", format="email"),
            Field("alert"),
            Field("last_modified", "datetime"),
        ),
    ),
    "location": (
        "locations.csv",
        (
            _uuid("id", True),
            Field("location_type", required=True),
            Field("url", format="uri"),
            _uuid("organization_id"),
            Field("name"),
            Field("alternate_name"),
            Field("description"),
            Field("transportation"),
            Field("latitude", "number"),
            Field("longitude", "number"),
            Field("external_identifier"),
            Field("external_identifier_type"),
        ),
    ),
    "address": (
        "addresses.csv",
        (
            _uuid("id", True),
            _uuid("location_id"),
            Field("attention"),
            Field("address_1", required=True),
            Field("address_2"),
            Field("city", required=True),
            Field("region"),
            Field("state_province", required=True),
            Field("postal_code"),
            Field("country", required=True),
            Field("address_type", required=True),
        ),
    ),
    "phone": (
        "phones.csv",
        (
            _uuid("id", True),
            _uuid("location_id"),
            _uuid("service_id"),
            _uuid("organization_id"),
            _uuid("contact_id"),
            _uuid("service_at_location_id"),
            Field("number", required=True),
            Field("extension", "number"),
            Field("type"),
            Field("description"),
        ),
    ),
    "service_area": (
        "service_areas.csv",
        (
            _uuid("id", True),
            _uuid("service_id"),
            _uuid("service_at_location_id"),
            Field("name"),
            Field("description"),
            Field("extent"),
            Field("extent_type"),
            Field("uri", format="uri"),
        ),
    ),
    "taxonomy": (
        "taxonomies.csv",
        (
            _uuid("id", True),
            Field("name", required=True),
            Field("description", required=True),
            Field("uri", format="uri"),
            Field("version"),
        ),
    ),
    "taxonomy_term": (
        "taxonomy_terms.csv",
        (
            _uuid("id", True),
            Field("code"),
            Field("name", required=True),
            Field("description", required=True),
            _uuid("parent_id"),
            Field("taxonomy"),
            Field("language"),
            _uuid("taxonomy_id"),
            Field("term_uri", format="uri"),
        ),
    ),
    "attribute": (
        "attributes.csv",
        (
            _uuid("id", True),
            _uuid("link_id", True),
            _uuid("taxonomy_term_id", True),
            Field("link_type"),
            Field("link_entity", required=True),
            Field("value"),
            Field("label"),
        ),
    ),
}

# (table, column) → referenced HSDS table; every link in the package, for the descriptor's foreignKeys.
FOREIGN_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "service": (("organization_id", "organization"),),
    "location": (("organization_id", "organization"),),
    "address": (("location_id", "location"),),
    "phone": (("organization_id", "organization"),),
    "service_area": (("service_id", "service"),),
    "taxonomy_term": (("parent_id", "taxonomy_term"), ("taxonomy_id", "taxonomy")),
    "attribute": (("link_id", "service"), ("taxonomy_term_id", "taxonomy_term")),
}

# One statement per HSDS table over the directory tables of one 年度 ($year): columns are named as in HSDS,
# ids are ours (turned into UUIDs afterwards) and fields not selected stay empty. The organisations are those
# the year's distribution lists carry (organization_year), so a package of any year reads as that year's directory.
_SQL = {
    "organization": (
        "select y.organization_id as id, y.name, c.name_ja || 'の' || coalesce(l.name_ja, '団体') as description, "
        "l.name_ja as legal_status "
        "from organization_year as y join city as c on c.code = y.city_code "
        "left join organization as o on o.id = y.organization_id "
        "left join legal_form as l on l.code = o.legal_form_code where y.fiscal_year = $year order by y.organization_id"
    ),
    "service": (
        "select s.id, s.organization_id, s.name, 'active' as status, "
        "strftime(r.submitted_at, '%Y-%m-%d') as assured_date "
        "from service as s left join survey_response as r "
        "on r.organization_id = s.organization_id and r.fiscal_year = s.fiscal_year "
        "where s.fiscal_year = $year order by s.id"
    ),
    "location": (
        "select id, 'physical' as location_type, organization_id, name, latitude, longitude from location "
        "where fiscal_year = $year order by id"
    ),
    "address": (
        "select 'ADR-' || l.id as id, l.id as location_id, l.address, c.name_ja as city_name "
        "from location as l left join city as c on c.code = l.city_code "
        "where l.fiscal_year = $year and l.address is not null order by l.id"
    ),
    "phone": (
        "with listed as (select o.* from organization as o join organization_year as y "
        "on y.organization_id = o.id and y.fiscal_year = $year) "
        "select 'TEL-' || id as id, id as organization_id, phone as number, 'voice' as type "
        "from listed where phone is not null "
        "union all select 'FAX-' || id, id, fax, 'fax' from listed where fax is not null order by id"
    ),
    "service_area": "select id, service_id, name from service_area where fiscal_year = $year order by id",
    "taxonomy": "select id, name, description from taxonomy order by id",
    "taxonomy_term": (
        "select t.id, t.code, t.name, t.name_en as description, t.parent_id, x.name as taxonomy, "
        "'ja' as language, t.taxonomy_id "
        "from taxonomy_term as t join taxonomy as x on x.id = t.taxonomy_id "
        "order by t.taxonomy_id, t.sort_order, t.id"
    ),
    "attribute": (
        "select id, link_id, taxonomy_term_id, link_type, link_entity from attribute "
        "where fiscal_year = $year order by id"
    ),
}
# The 年度 a package covers when none is asked for: the latest its connection shows (a connection scoped to one
# year shows only that one), so the export follows the data it reads, not the bundle's bookkeeping.
_LATEST_YEAR = (
    "select coalesce((select max(fiscal_year) from organization_year), "
    "(select max(fiscal_year) from fiscal_year_bundle)) as fiscal_year"
)

_PREFECTURE = re.compile(r"^(東京都|北海道|京都府|大阪府|\S{2,3}?県)")
_CITY = re.compile(r"^(\S+?市)")


def hsds_id(value: str | None) -> str | None:
    """The HSDS UUID of one of our ids (uuid5, stable across builds); None stays None."""
    return None if value is None else str(uuid.uuid5(NAMESPACE, value))


def split_address(text: str, city_name: str | None) -> tuple[str | None, str, str]:
    """(state_province, city, address_1) of a Japanese address such as 神奈川県座間市相模が丘3-12-16."""
    rest = text.strip()
    prefecture = None
    if match := _PREFECTURE.match(rest):
        prefecture, rest = match[1], rest[match.end() :]
    if city_name and rest.startswith(city_name):
        return prefecture, city_name, rest[len(city_name) :].strip() or rest
    if match := _CITY.match(rest):
        return prefecture, match[1], rest[match.end() :].strip() or rest
    return prefecture, city_name or "", rest


def data_year(con: duckdb.DuckDBPyConnection, fiscal_year: int | None = None) -> int | None:
    """The 年度 a package covers: the one asked for, else the latest whose directory the connection shows."""
    if fiscal_year is not None:
        return fiscal_year
    row = fetch_one(con, _LATEST_YEAR)
    return None if row is None else row["fiscal_year"]


def hsds_tables(
    con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, fiscal_year: int | None = None
) -> dict[str, pl.DataFrame]:
    """Every HSDS table of one 年度 (data_year) as a frame with exactly the HSDS 3.1 fields, in order, ids as UUIDs."""
    year = data_year(con, fiscal_year)
    tables: dict[str, pl.DataFrame] = {}
    for name, (_, fields) in HSDS_TABLES.items():
        sql = _SQL[name]
        frame = fetch(con, sql, {"year": year} if "$year" in sql else None)
        if name == "address":
            frame = _addresses(frame)
        columns = []
        for spec in fields:
            if spec.name not in frame.columns:
                dtype = pl.Float64 if spec.type == "number" else pl.String
                columns.append(pl.lit(None, dtype=dtype).alias(spec.name))
            elif spec.format == "uuid":
                # Plain Python on the caller's thread: no Python callback runs inside polars' worker threads,
                # which can deadlock the dashboard's server (issue #17).
                ids = [hsds_id(value) for value in frame[spec.name].to_list()]
                columns.append(pl.Series(spec.name, ids, dtype=pl.String))
            else:
                columns.append(pl.col(spec.name))
        tables[name] = frame.select(columns)
    return tables


def _addresses(frame: pl.DataFrame) -> pl.DataFrame:
    """Address rows split into HSDS parts (prefecture, city, street), in Japan, physical."""
    parts = [split_address(text, city) for text, city in zip(frame["address"], frame["city_name"], strict=True)]
    return frame.select("id", "location_id").with_columns(
        pl.Series("state_province", [p[0] for p in parts], dtype=pl.String),
        pl.Series("city", [p[1] for p in parts], dtype=pl.String),
        pl.Series("address_1", [p[2] for p in parts], dtype=pl.String),
        pl.lit("JP").alias("country"),
        pl.lit("physical").alias("address_type"),
    )


def year_metadata(fiscal_year: int) -> dict:
    """How an export names the 年度 it covers: the 西暦 start year, its labels and its first and last day."""
    start = fiscal_year_start(fiscal_year)
    return {
        "fiscal_year": fiscal_year,
        "label": fiscal_year_label(fiscal_year, "ja"),
        "label_en": fiscal_year_label(fiscal_year, "en"),
        "start": start.isoformat(),
        "end": (fiscal_year_start(fiscal_year + 1) - dt.timedelta(days=1)).isoformat(),
    }


def datapackage(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, fiscal_year: int | None = None) -> dict:
    """The Frictionless tabular-data-package descriptor (datapackage.json) of one 年度's HSDS tables."""
    year = data_year(con, fiscal_year)
    run = fetch_one(
        con, "select run_id, finished_at from etl_run where status = 'published' order by started_at desc limit 1"
    )
    resources = []
    for name, (path, fields) in HSDS_TABLES.items():
        schema: dict = {"fields": [_field_descriptor(spec) for spec in fields], "primaryKey": "id"}
        keys = [
            {"fields": column, "reference": {"resource": "" if target == name else target, "fields": "id"}}
            for column, target in FOREIGN_KEYS.get(name, ())
        ]
        if keys:
            schema["foreignKeys"] = keys
        resources.append(
            {
                "name": name,
                "path": path,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": {"delimiter": ",", "lineTerminator": CSV_LINE_END, "header": True},
                "schema": schema,
            }
        )
    covered = "" if year is None else f" {fiscal_year_label(year)}"
    descriptor = {
        "profile": "tabular-data-package",
        "name": "tsunagari-hsds" if year is None else f"tsunagari-hsds-{year}",
        "title": f"座間市・綾瀬市・大和市・海老名市 地域資源ディレクトリ{covered} (Open Referral HSDS 3.1)",
        "description": (
            "Organisations, services, map locations and their activity taxonomies from the resource survey "
            "and resource map of Zama, Ayase, Yamato and Ebina"
            + (
                ""
                if year is None
                else f", as listed in {fiscal_year_label(year, 'en')} (年度 {fiscal_year_label(year)})"
            )
            + ". No personal data."
        ),
        "hsds_version": HSDS_VERSION,
        "resources": resources,
    }
    if year is not None:
        # Every record of the package belongs to this one 年度 (HSDS has no year field; ids stay the same across years).
        descriptor["fiscal_year"] = year_metadata(year)
    if run is not None:
        descriptor["run_id"] = run["run_id"]  # the ETL run that built the warehouse (etl_run.run_id)
        if run["finished_at"] is not None:
            descriptor["created"] = run["finished_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    return descriptor


def _field_descriptor(spec: Field) -> dict:
    """One table-schema field: name, type, format when set, required when the specification requires it."""
    described: dict = {"name": spec.name, "type": spec.type}
    if spec.format:
        described["format"] = spec.format
    if spec.required:
        described["constraints"] = {"required": True}
    return described


def csv_text(frame: pl.DataFrame, raw: bool = False) -> bytes:
    """One HSDS CSV: UTF-8 without BOM, CRLF, header row; formula-looking text neutralised unless raw."""
    buffer = io.BytesIO()
    (frame if raw else neutralised(frame)).write_csv(buffer, line_terminator=CSV_LINE_END)
    return buffer.getvalue()


def hsds_files(
    con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, raw: bool = False, fiscal_year: int | None = None
) -> dict[str, bytes]:
    """File name → bytes of one 年度's package (datapackage.json plus one CSV per HSDS table).

    raw keeps values exactly as stored (for an interchange consumer that never opens the CSVs in a
    spreadsheet); the default neutralises them like every other CSV of the product.
    """
    year = data_year(con, fiscal_year)
    files = {"datapackage.json": _json_bytes(datapackage(con, fiscal_year=year))}
    for name, frame in hsds_tables(con, fiscal_year=year).items():
        files[HSDS_TABLES[name][0]] = csv_text(frame, raw)
    return files


def write_hsds(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    viewer: Viewer = PUBLIC,
    raw: bool = False,
    fiscal_year: int | None = None,
) -> list[Path]:
    """Write one 年度's package into out_dir (created if missing); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in hsds_files(con, raw=raw, fiscal_year=fiscal_year).items():
        path = out_dir / name
        path.write_bytes(data)
        written.append(path)
    return written


def hsds_zip(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, fiscal_year: int | None = None) -> bytes:
    """One 年度's package as one zip (files at its root), for a download button."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in hsds_files(con, fiscal_year=fiscal_year).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def geojson(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, fiscal_year: int | None = None) -> dict:
    """Locations of every 年度 the connection shows (or of fiscal_year) as a GeoJSON FeatureCollection (RFC 7946).

    Each feature carries its fiscal_year and 和暦 label (a GIS layer filters on them); within a year a feature's
    id (the location id, the same across years) is unique. The collection names its years (foreign member).
    """
    frame = fetch(
        con,
        "select l.fiscal_year, l.id, l.name, l.organization_id, l.city_code, c.name_ja as city, l.address, "
        "l.longitude, l.latitude, "
        "coalesce(list(t.name order by t.sort_order) filter (where t.id is not null), []) as forms, "
        "coalesce(list(t.code order by t.sort_order) filter (where t.id is not null), []) as form_codes "
        "from location as l left join city as c on c.code = l.city_code "
        "left join service as s on s.organization_id = l.organization_id and s.fiscal_year = l.fiscal_year "
        "left join attribute as a on a.link_id = s.id and a.fiscal_year = s.fiscal_year and a.link_type = 'form' "
        "left join taxonomy_term as t on t.id = a.taxonomy_term_id "
        "where $year is null or l.fiscal_year = $year "
        "group by l.fiscal_year, l.id, l.name, l.organization_id, l.city_code, c.name_ja, l.address, "
        "l.longitude, l.latitude "
        "order by l.fiscal_year, l.id",
        {"year": fiscal_year},
    )
    labels = {year: fiscal_year_label(year) for year in frame["fiscal_year"].unique().to_list()}
    features = (
        kml.feature(
            kml.point(row["longitude"], row["latitude"]),
            {
                "name": row["name"],
                "organization_id": row["organization_id"],
                "city_code": row["city_code"],
                "city": row["city"],
                "address": row["address"],
                "forms": row["forms"],
                "form_codes": row["form_codes"],
                "fiscal_year": row["fiscal_year"],
                "fiscal_year_label": labels[row["fiscal_year"]],
            },
            row["id"],
        )
        for row in frame.iter_rows(named=True)
    )
    return kml.feature_collection(features, {"fiscal_years": [year_metadata(year) for year in sorted(labels)]})


def geojson_bytes(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC, fiscal_year: int | None = None) -> bytes:
    """The GeoJSON as UTF-8 bytes (Japanese kept readable, indented)."""
    collection = geojson(con, fiscal_year=fiscal_year)
    return kml.geojson_bytes(collection["features"], indent=2, members={"fiscal_years": collection["fiscal_years"]})


def _json_bytes(value: dict) -> bytes:
    """Pretty UTF-8 JSON with a final newline."""
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _fiscal_year(text: str) -> int:
    """A --fiscal-year value (R6, R6年度, 令和6年度, 2024, FY2024) as its 西暦 start year."""
    year = fiscal_year_of_folder(text)
    if year is None:
        raise argparse.ArgumentTypeError(f"not a 年度: {text!r} (e.g. R6, 2024)")
    return year


def main(argv: list[str] | None = None) -> int:
    """CLI: write the HSDS package into a directory, or the GeoJSON into a file."""
    parser = argparse.ArgumentParser(prog="python -m warehouse.exports", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, target in (("hsds", "directory for datapackage.json and the CSVs"), ("geojson", "GeoJSON file")):
        sub = commands.add_parser(command)
        sub.add_argument("--warehouse", type=Path, default=None, help="warehouse file (default: the published one)")
        sub.add_argument("--out", type=Path, required=True, help=target)
        sub.add_argument(
            "--fiscal-year",
            type=_fiscal_year,
            default=None,
            help="年度 to export: R6, R6年度, 2024 … (default: hsds the latest, geojson every year)",
        )
        if command == "hsds":
            sub.add_argument(
                "--raw",
                action="store_true",
                help="values exactly as stored: no apostrophe before text starting with = + - @ (not for spreadsheets)",
            )
    args = parser.parse_args(argv)
    try:
        con = connect(args.warehouse or warehouse_path())
    except (WarehouseMissing, duckdb.Error) as error:  # say which file, exit non-zero
        print(f"error: cannot open the warehouse: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "hsds":
            written = write_hsds(con, args.out, raw=args.raw, fiscal_year=args.fiscal_year)
            print(f"wrote {len(written)} files to {args.out}")
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_bytes(geojson_bytes(con, fiscal_year=args.fiscal_year))
            print(f"wrote {args.out}")
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
