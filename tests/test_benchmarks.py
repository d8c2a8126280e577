"""The scale generator (benchmarks/scale.py): deterministic, real source formats, and a 1k region builds.

No timing here: speed targets live in benchmarks/run.py, never in tests.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import duckdb
import openpyxl
import pytest
from defusedxml.ElementTree import fromstring

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SOURCE_FILES = sorted(path.name for path in SAMPLE.iterdir())
KML = "{http://www.opengis.net/kml/2.2}"
BAD_LEGAL = "不明な法人格"
SERIAL = re.compile(r"(\d+)$")


def generate(out: Path, orgs: int, seed: int) -> dict:
    """Run the generator's CLI and return its manifest."""
    subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--orgs", str(orgs), "--out", str(out), "--seed", str(seed)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def serial(name: str) -> int:
    """The organisation's serial number: the trailing digits of its name after NFKC (any spelling)."""
    return int(SERIAL.search(unicodedata.normalize("NFKC", name).strip()).group(1))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, dict]:
    """A 1,000-organisation region."""
    out = tmp_path_factory.mktemp("scale") / "bundle"
    return out, generate(out, 1000, seed=3)


@pytest.fixture(scope="module")
def raw(bundle) -> dict:
    """What the raw files say, read independently of the ETL."""
    out, _ = bundle
    workbook = openpyxl.load_workbook(out / "distribution_list.xlsx", read_only=True)
    sheets = {ws.title: list(ws.iter_rows(values_only=True)) for ws in workbook.worksheets}
    workbook.close()
    text = (out / "survey_answers.csv").read_bytes()
    survey = list(csv.reader(io.StringIO(text.decode("cp932"), newline="")))
    with zipfile.ZipFile(out / "resource_map.kmz") as archive:
        kml = fromstring(archive.read("doc.kml"))
    pins = [
        (
            folder.find(f"{KML}name").text,
            placemark.find(f"{KML}name").text,
            placemark.find(f".//{KML}coordinates").text.strip(),
        )
        for folder in kml.iter(f"{KML}Folder")
        for placemark in folder.iter(f"{KML}Placemark")
    ]
    events = openpyxl.load_workbook(out / "events.xlsx", read_only=True)
    event_rows = {ws.title: list(ws.iter_rows(min_row=2, values_only=True)) for ws in events.worksheets}
    events.close()
    return {"sheets": sheets, "survey_bytes": text, "survey": survey, "pins": pins, "events": event_rows}


# Generates or builds a whole region: make test only (the bundle's shape is checked in the fast tier).
@pytest.mark.slow
def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    first = generate(tmp_path / "a", 200, seed=5)
    second = generate(tmp_path / "b", 200, seed=5)
    other = generate(tmp_path / "c", 200, seed=6)
    assert first["files"] == second["files"]
    for name in SOURCE_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    changed = [name for name in SOURCE_FILES if first["files"][name]["sha256"] != other["files"][name]["sha256"]]
    assert "distribution_list.xlsx" in changed and "survey_answers.csv" in changed and "resource_map.kmz" in changed


def test_bundle_has_the_sample_files_sheets_and_headers(bundle, raw):
    out, manifest = bundle
    assert sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "manifest.json") == SOURCE_FILES
    sample = openpyxl.load_workbook(SAMPLE / "distribution_list.xlsx", read_only=True)
    expected = {ws.title: next(ws.iter_rows(max_row=1, values_only=True)) for ws in sample.worksheets}
    sample.close()
    assert {title: rows[0] for title, rows in raw["sheets"].items()} == expected
    sample_header = (SAMPLE / "survey_answers.csv").read_bytes().split(b"\r\n", 1)[0]
    assert raw["survey_bytes"].split(b"\r\n", 1)[0] == sample_header
    assert raw["survey_bytes"].count(b"\r\n") == manifest["survey_rows"] + 1
    for name in ("cities.csv", "kpi_targets.csv"):
        assert (out / name).read_bytes() == (SAMPLE / name).read_bytes()
    towns = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (out / "reference" / "towns").iterdir()}
    assert {name: len(records) for name, records in towns.items()} == {
        f"{city}.json": n for city, n in manifest["plan"]["towns"].items()
    }
    for records in towns.values():
        for record in records:
            assert set(record) == {"town", "koaza", "lat", "lng"}
            assert 35.40 < record["lat"] < 35.54 and 139.35 < record["lng"] < 139.50


def test_proportions_follow_the_sample(bundle, raw):
    _, manifest = bundle
    list_rows = [row for rows in raw["sheets"].values() for row in rows[1:]]
    organisations = {serial(row[1]) for row in list_rows}
    assert organisations == set(range(1, 1001))
    assert len(list_rows) == manifest["distribution_rows"]
    answered = {serial(row[1]) for row in raw["survey"][1:]}
    assert len(raw["survey"]) - 1 == manifest["survey_rows"]
    assert 0.35 < len(answered) / 1000 < 0.45
    assert len(raw["pins"]) == manifest["pins"] and 0.9 < manifest["pins"] / 1000 < 0.99
    for _, _, coordinates in raw["pins"]:
        lng, lat, _ = (float(v) for v in coordinates.split(","))
        assert 35.40 < lat < 35.54 and 139.35 < lng < 139.50
    assert manifest["plan"]["programmes"] == 1
    assert len(raw["events"]["イベント"]) == 6


@pytest.fixture(scope="module")
def built_path(bundle, tmp_path_factory) -> Path:
    """The 1k region built through the real pipeline, with its synthetic reference geography."""
    from etl.pipeline import build

    out, _ = bundle
    warehouse = tmp_path_factory.mktemp("scale_warehouse") / "warehouse.duckdb"
    build(out, warehouse, reference_dir=out / "reference")
    return warehouse


@pytest.fixture(scope="module")
def built(built_path):
    """A read-only connection to the built 1k region."""
    con = duckdb.connect(str(built_path), read_only=True)
    yield con
    con.close()


@pytest.mark.slow  # builds the generated 1k region through the whole pipeline: make test only
def test_1k_region_builds_with_the_figures_of_its_raw_files(bundle, raw, built):
    _, manifest = bundle
    list_rows = [(title, row) for title, rows in raw["sheets"].items() for row in rows[1:]]
    # An unknown 法人格 is a cell-level quarantine: the organisation loads without a legal form.
    kept = {serial(row[1]) for _, row in list_rows}
    answers = Counter(serial(row[1]) for row in raw["survey"][1:])
    pinned = {serial(name) for _, name, _ in raw["pins"]}

    def scalar(sql: str) -> int:
        return built.execute(sql).fetchone()[0]

    assert scalar("select count(*) from organization") == len(kept)
    assert scalar("select count(*) from organization_source") == len(list_rows)
    assert scalar("select count(*) from organization where legal_form_code is null") == len(
        {serial(row[1]) for _, row in list_rows if row[2] == BAD_LEGAL}
    )
    assert scalar("select count(*) from survey_response") == len(set(answers) & kept)
    assert scalar("select count(*) from location") == len(pinned & kept)
    assert scalar("select count(*) from ref_town") == sum(manifest["plan"]["towns"].values())
    assert scalar("select count(*) from ref_city_boundary") == 4
    assert scalar("select count(*) from event") == 6 * manifest["plan"]["programmes"]
    quarantined = dict(built.execute("select check_name, count(*) from quarantine group by check_name").fetchall())
    assert quarantined == {
        name: count
        for name, count in {
            "normalise.legal_form": sum(1 for _, row in list_rows if row[2] == BAD_LEGAL),
            "dedupe.survey_response": sum(n - 1 for s, n in answers.items() if s in kept),
            "match.organization": sum(n for s, n in answers.items() if s not in kept)
            + sum(1 for _, name, _ in raw["pins"] if serial(name) not in kept),
        }.items()
        if count
    }


@pytest.mark.slow  # builds the generated 1k region through the whole pipeline: make test only
def test_every_timed_query_set_runs_on_the_built_region(built_path):
    """The benchmark's page sets, single queries and map payload run as the pages call them (no timing)."""
    from benchmarks import run
    from warehouse import query

    con = query.connect(built_path)
    try:
        ctx = run.make_context(con)
        for call in (*run.PAGES.values(), *run.QUERIES.values()):
            call(con, ctx)
        payload = run.map_payload(con)
        downloads = run.downloads(con, ctx)
    finally:
        con.close()
    with duckdb.connect(str(built_path), read_only=True) as raw:
        organisations = raw.execute("select count(*) from location").fetchone()[0]
        listed = raw.execute("select count(*) from organization").fetchone()[0]
        in_city = raw.execute("select count(*) from organization where city_code = ?", [ctx.city_codes[0]]).fetchone()[
            0
        ]
    assert (payload["organisations"], payload["mode"], payload["max_pins"]) == (organisations, "pins", organisations)
    assert {kind: entry["rows"] for kind, entry in downloads.items()} == {
        "all csv": listed, "all parquet": listed,
        "one city csv": in_city, "one city parquet": in_city, "one city xlsx": in_city,
    }  # fmt: skip


@pytest.mark.slow  # builds the generated 1k region through the whole pipeline: make test only
def test_replicated_region_copies_every_organisation_under_new_ids(built_path, tmp_path):
    from benchmarks import run

    target = tmp_path / "2k.duckdb"
    with duckdb.connect(str(built_path), read_only=True) as base:
        orgs = base.execute("select count(*) from organization").fetchone()[0]
        events = base.execute("select count(*) from event").fetchone()[0]
        directory_rows = base.execute("select count(*) from mart_org_directory").fetchone()[0]
    report = run.replicate_warehouse(built_path, 2 * orgs, target)
    assert (report["copies"], report["organisations"]) == (2, 2 * orgs)
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(distinct id), count(*) from organization").fetchone() == (2 * orgs, 2 * orgs)
        assert con.execute("select count(distinct id) from event").fetchone()[0] == 2 * events
        assert (
            con.execute(
                "select count(*) from location where organization_id not in (select id from organization)"
            ).fetchone()[0]
            == 0
        )
        assert con.execute("select count(*) from mart_org_directory").fetchone()[0] == 2 * directory_rows


def test_peer_versions_are_recorded_without_the_peers_installed(monkeypatch):
    from importlib import metadata

    from benchmarks import peers

    real = metadata.version

    def without_datasette(name: str) -> str:
        if name == "datasette":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", without_datasette)
    recorded = peers.environment()
    assert recorded["datasette"] is None and recorded["pandas"] and recorded["sqlite"]


# --- a region with two fiscal years (--years 2) ----------------------------------------------------------


@pytest.fixture(scope="module")
def two_years(tmp_path_factory) -> tuple[Path, dict]:
    """A 300-organisation region generated with two fiscal years."""
    out = tmp_path_factory.mktemp("scale_years") / "bundle"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--orgs", "300", "--out", str(out), "--seed", "5", "--years", "2"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def listed_names(folder: Path) -> dict[int, set[str]]:
    """Serial → the names a year's distribution list writes for it (every sheet)."""
    workbook = openpyxl.load_workbook(folder / "distribution_list.xlsx", read_only=True)
    names: dict[int, set[str]] = {}
    for sheet in workbook.worksheets:
        for row in list(sheet.iter_rows(values_only=True))[1:]:
            names.setdefault(serial(row[1]), set()).add(row[1])
    workbook.close()
    return names


def test_two_year_region_has_a_year_folder_each_and_the_continuity_of_its_raw_lists(two_years):
    out, manifest = two_years
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["R6", "R7", "reference"]
    assert not [p for p in out.iterdir() if p.is_file() and p.name != "manifest.json"], "no flat files beside years"
    for folder in ("R6", "R7"):
        assert sorted(p.name for p in (out / folder).iterdir()) == SOURCE_FILES
    assert manifest["fiscal_years"] == {"R6": 2024, "R7": 2025}
    first, second = listed_names(out / "R6"), listed_names(out / "R7")
    continuity = manifest["continuity"]
    assert (continuity["continuing"], continuity["new"], continuity["gone"]) == (
        len(first.keys() & second.keys()),
        len(second.keys() - first.keys()),
        len(first.keys() - second.keys()),
    )
    assert 0.6 < continuity["continuing"] / len(first) < 0.72 and continuity["new"] > 0
    # Respelled between the years (full-width space or digits) yet the same organisation after NFKC.
    respelled = [s for s in first.keys() & second.keys() if not second[s] <= first[s]]
    assert len(respelled) >= continuity["renamed"] > 0
    for s in respelled:
        assert {unicodedata.normalize("NFKC", name) for name in second[s]} <= {
            unicodedata.normalize("NFKC", name) for name in first[s]
        }
    for folder in ("R6", "R7"):
        with zipfile.ZipFile(out / folder / "resource_map.kmz") as archive:
            assert archive.read("doc.kml").count(b"<Placemark") == manifest["years"][folder]["pins"]
    survey = (out / "R7" / "survey_answers.csv").read_bytes().decode("cp932")
    assert "2025/" in survey or "2025-" in survey, "the second year's answers are dated a year on"


def test_one_year_region_is_unchanged_by_the_years_option(tmp_path):
    one = generate(tmp_path / "one", 120, seed=5)
    assert "continuity" not in one and "years" not in one
    assert sorted(p.name for p in (tmp_path / "one").iterdir() if p.is_file()) == sorted(
        SOURCE_FILES + ["manifest.json"]
    )


@pytest.mark.slow  # builds the two-year region through the whole pipeline: make test only
def test_two_year_region_builds_with_the_continuity_the_generator_made(two_years, tmp_path):
    from benchmarks import run
    from etl.pipeline import build

    out, manifest = two_years
    warehouse = tmp_path / "warehouse.duckdb"
    build(out, warehouse, reference_dir=out / "reference")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        checks = run.year_checks(con, manifest)
    assert len(checks) == 1 + 4 + 2 * 2
    assert run.year_mismatches(checks) == []
