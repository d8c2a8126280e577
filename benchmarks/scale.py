"""Synthetic scale bundles: N fictional organisations in the real source formats, deterministic from a seed.

Run ``python -m benchmarks.scale --orgs 100000 --out var/bench/bundles/100000 --seed 1``. The output is a
source bundle laid out like ``data/sample/`` (same file names, sheets, columns, encodings; see
docs/source-formats.md) plus a reference directory (``reference/towns/<市名>.json`` in the Geolonia
shape and ``reference/boundaries/synthetic_cities.geojson`` in the N03 shape) and ``manifest.json``.
Everything is invented: names start with （サンプル）, people come from data.generate_sample's People.

Proportions follow the shipped sample: organisations split over the four cities like the sample's
52/38/37/30; 22 % known only to the survey firm's own list; 9 % listed twice under another spelling;
about 40 % answer the survey (0.5 % of those twice, the earlier answer superseded); 95 % have an
address and so a map pin; 0.1 % of list rows carry an unknown 法人格 and are quarantined. The art
programme (6 events, 25 sessions, 60 participants) is repeated once per ``ORGS_PER_PROGRAMME``
organisations and the synthetic 町丁目 number one per ``ORGS_PER_TOWN`` organisations, split over the
cities like the organisations (so a 1M region has about as many 町丁目 as the real four cities' 421).

With ``--years 2`` the bundle holds two fiscal years the way data/generate_years.py makes the sample's:
``R6/`` is the one-year region above, ``R7/`` is derived from it (about two thirds of the organisations
continue, a few respelled as another list would write them, NEW_SHARE new ones join, the rest are gone;
dates a year on, a new survey round), ``reference/`` is shared, and manifest.json says per year what each
folder holds and under ``continuity`` how many continue, are new and are gone (mart_year_continuity's figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import math
import random
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from openpyxl.writer.excel import ExcelWriter

from data.generate_sample import (
    ALIAS_USES,
    ARCHETYPES,
    CHANNELS,
    CITIES,
    CITY_CENTRES,
    CONTENT_ORDER,
    DISTRIBUTION_END,
    DISTRIBUTION_HEADER,
    DISTRIBUTION_START,
    FORM_ORDER,
    INTENT_COUNTS,
    LATIN_WORDS,
    NEIGHBOURS,
    ORG_COUNT,
    OWN_LIST,
    POPULATIONS,
    SAMPLE_PREFIX,
    SHEETS,
    STALE_SHARE,
    TOWNS,
    VERIFIED_END,
    VERIFIED_FRESH_START,
    VERIFIED_STALE,
    WORDS,
    Archetype,
    People,
    Person,
    _pick_area,
    _pick_targets,
    _random_date,
    _variant_applies,
    _weighted,
    cities_bytes,
    dated_workbook,
    distribution_rows,
    events_sheets,
    map_layers,
    map_pin,
    progress_sheets,
    survey_row,
    targets_bytes,
    write_survey,
    zip_info,
)
from data.generate_sample import _variant as respell
from data.generate_years import FISCAL_YEARS, R6_FOLDER, R7_FOLDER, _csv_year_on, _next_year, r7_progress
from warehouse import kml

GENERATOR_VERSION = 2  # bump when the output for a given (orgs, seed) changes; run.py regenerates then
DEFAULT_SEED = 1
ORGS_PER_PROGRAMME = 1_000  # one copy of the sample's art programme per this many organisations
ORGS_PER_TOWN = 2_500  # one synthetic 町丁目 per this many organisations
MIN_TOWNS_PER_CITY = 2
OWN_LIST_SHARE = 0.22  # organisations known only to the survey firm's own list (sample: 22 %)
DUPLICATE_SHARE = 0.09  # organisations listed on a second sheet under another spelling (sample: 14/157)
ANSWER_SHARE = 0.40  # organisations that answer the survey (sample: 63/157)
REANSWER_SHARE = 0.005  # answering organisations that answered twice (the earlier one is superseded)
NO_ADDRESS_SHARE = 0.045  # organisations without an address, hence without a pin (sample: 7/157)
BAD_LEGAL_SHARE = 0.001  # list rows whose 法人格 is not in the vocabulary (the ETL quarantines that cell)
ALIAS_SHARE = 0.03  # survey labels written as one of the seed's aliases
PIN_RADIUS_KM = 3.0  # pins and towns scatter in a disc of this radius around the city centre
# The four-city box every pin and town must lie in (docs/source-formats.md, section 3).
LAT_BOX = (35.40, 35.54)
LNG_BOX = (139.35, 139.50)
DUPLICATE_KINDS = ("npo_long", "fuku", "kabu", "width", "nospace", "widespace", "dot")
MAP_NAME = "4市 地域資源マップ（合成・規模試験）"
# Synthetic city outlines: a box around each centre (degrees), enough for the pages to draw something.
OUTLINE_HALF = (0.03, 0.035)
KANJI_DIGITS = "〇一二三四五六七八九"
ZIP_CHUNK = 1 << 20
# The second year (--years 2), as data/generate_years.py derives the sample's R7 from R6.
CONTINUING_SHARE = 2 / 3  # organisations the next year's lists carry again
NEW_SHARE = 0.19  # new organisations, as a share of the first year's (sample: 30/157)
RENAME_SHARE = 0.03  # continuing organisations the next year's list spells another way (same matching key)
RENAME_KINDS = ("widespace", "width")  # full-width space, full-width digits: every synthetic name has both
YEAR_SHIFT = dt.timedelta(days=364)  # distribution a year on, on the same weekday
ANSWER_WINDOW = (dt.date(2024, 12, 10), dt.date(2025, 1, 31))  # when the first year's answers arrive


@dataclass(slots=True)
class Org:
    """One synthetic organisation (kept compact: a 1M region holds a million of these)."""

    serial: int
    city: str
    arch: Archetype
    name: str
    town: str
    address: str | None
    phone: str | None
    fax: str | None
    hours: str
    channel: str
    sent_on: dt.date
    contact: Person | None
    contact_email: bool
    contact_phone: bool
    sheets: tuple[str, ...]
    variant: str | None


@dataclass(frozen=True)
class Plan:
    """How many of each thing a region of a given size holds."""

    orgs: int
    programmes: int
    towns: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The plan as plain JSON values."""
        return {"orgs": self.orgs, "programmes": self.programmes, "towns": dict(self.towns)}


def plan(orgs: int) -> Plan:
    """Counts for a region of `orgs` organisations (programmes and towns in proportion, at least a few)."""
    if orgs < 1:
        raise ValueError("--orgs must be at least 1")
    total_towns = max(MIN_TOWNS_PER_CITY * len(CITIES), round(orgs / ORGS_PER_TOWN))
    return Plan(
        orgs=orgs,
        programmes=max(1, round(orgs / ORGS_PER_PROGRAMME)),
        towns=_split(total_towns, ORG_COUNT, MIN_TOWNS_PER_CITY),
    )


def _split(total: int, weights: dict[str, int], minimum: int) -> dict[str, int]:
    """Split a total over the cities in proportion to weights (largest remainder), each at least minimum."""
    whole = sum(weights.values())
    exact = {city: total * weight / whole for city, weight in weights.items()}
    parts = {city: max(minimum, int(value)) for city, value in exact.items()}
    order = sorted(weights, key=lambda city: (int(exact[city]) - exact[city], CITIES.index(city)))
    for city in order[: max(0, total - sum(parts.values()))]:
        parts[city] += 1
    return parts


def kanji_number(number: int) -> str:
    """1–9999 in kanji as 町丁目 names write it (二十三, 百五)."""
    units = ((1000, "千"), (100, "百"), (10, "十"))
    text = ""
    for size, mark in units:
        digit, number = divmod(number, size)
        if digit:
            text += ("" if digit == 1 else KANJI_DIGITS[digit]) + mark
    return text + (KANJI_DIGITS[number] if number else "")


def _point(rng: random.Random, city: str) -> tuple[float, float]:
    """A point in a disc of PIN_RADIUS_KM around the city centre, inside the four-city box (6 decimals)."""
    lat0, lng0 = CITY_CENTRES[city]
    while True:
        radius = PIN_RADIUS_KM * math.sqrt(rng.random())
        theta = 2 * math.pi * rng.random()
        lat = round(lat0 + radius * math.sin(theta) / 110.574, 6)
        lng = round(lng0 + radius * math.cos(theta) / (111.320 * math.cos(math.radians(lat0))), 6)
        if LAT_BOX[0] < lat < LAT_BOX[1] and LNG_BOX[0] < lng < LNG_BOX[1]:
            return lat, lng


def _phone(serial: int, offset: int = 0) -> str:
    """An 046 number whose exchange starts with 0 (cannot reach a real line); unique up to 900k serials."""
    n = serial * 2 + offset
    return f"046-0{10 + n % 90}-{(n // 90) % 10000:04d}"


def build_organisations(rng: random.Random, people: People, orgs: int, first: int = 1) -> list[Org]:
    """The region's organisations (serials first … first + orgs - 1) with names, addresses, lists and distribution."""
    arch_weights = [arch.count for arch in ARCHETYPES]
    city_weights = [ORG_COUNT[city] for city in CITIES]
    width = len(str(orgs))
    result = []
    for serial in range(first, first + orgs):
        city = rng.choices(CITIES, weights=city_weights)[0]
        arch = rng.choices(ARCHETYPES, weights=arch_weights)[0]
        town, highest = rng.choice(TOWNS[city])
        # The serial keeps every name key unique; the rest reads like the sample's names.
        body = rng.choice(arch.templates).format(w=rng.choice(WORDS), t=town, l=rng.choice(LATIN_WORDS))
        name = f"{SAMPLE_PREFIX}{body} {serial:0{width}d}"
        has_address = rng.random() >= NO_ADDRESS_SHARE
        if not has_address:
            address = None
        elif highest == 0:
            address = f"神奈川県{city}{town}{rng.randint(100, 3999)}"
        else:
            address = f"神奈川県{city}{town}{rng.randint(1, highest)}-{rng.randint(1, 30)}-{rng.randint(1, 25)}"
        phone = _phone(serial) if has_address or rng.random() < 0.5 else None
        fax = _phone(serial, 1) if rng.random() < 0.4 else None
        channel = _weighted(rng, CHANNELS) if has_address else rng.choice(("メール", "手渡し"))
        if channel == "FAX" and fax is None:
            fax = _phone(serial, 1)
        contact = None
        contact_email = contact_phone = False
        if channel == "メール" or rng.random() < 0.8:
            contact = people.new()
            contact_email = channel == "メール" or rng.random() < 0.5
            contact_phone = phone is None or rng.random() < 0.55
        sheets: tuple[str, ...] = (OWN_LIST,) if rng.random() < OWN_LIST_SHARE else (city,)
        variant = None
        if rng.random() < DUPLICATE_SHARE:
            variant = rng.choice([kind for kind in DUPLICATE_KINDS if _variant_applies(name, kind)])
            if sheets[0] == OWN_LIST:
                second = city
            else:
                second = OWN_LIST if rng.random() < 0.55 else rng.choice(NEIGHBOURS[city])
            sheets = tuple(sorted({sheets[0], second}, key=SHEETS.index))
        result.append(
            Org(
                serial=serial,
                city=city,
                arch=arch,
                name=name,
                town=town,
                address=address,
                phone=phone,
                fax=fax,
                hours=rng.choice(arch.hours),
                channel=channel,
                sent_on=_random_date(rng, DISTRIBUTION_START, DISTRIBUTION_END),
                contact=contact,
                contact_email=contact_email,
                contact_phone=contact_phone,
                sheets=sheets,
                variant=variant,
            )
        )
    return result


def _aliases() -> dict[tuple[str, str], str]:
    """(kind, label) → the seed alias the sample writes for it."""
    return {(kind, label): alias for kind, uses in ALIAS_USES.items() for label, alias, _ in uses}


def _spell(rng: random.Random, kind: str, labels: list[str], aliases: dict[tuple[str, str], str]) -> str:
    """Join a multi-answer cell, writing a few labels as their seed alias."""
    return ", ".join(
        aliases[(kind, label)] if (kind, label) in aliases and rng.random() < ALIAS_SHARE else label for label in labels
    )


def _answer_row(rng: random.Random, people: People, org: Org, submitted: dt.datetime, intent: str, aliases) -> list:
    """One Google Forms answer of an organisation, as the CSV row."""
    arch = org.arch
    contents = {arch.contents[0]} | {c for c in arch.contents[1:] if rng.random() < 0.4}
    if rng.random() < 0.15:
        contents.add(rng.choice(CONTENT_ORDER))
    forms = {arch.forms[0]} | {f for f in arch.forms[1:] if rng.random() < 0.45}
    if len(forms) < 3 and rng.random() < 0.1:
        forms.add(rng.choice(FORM_ORDER))
    return survey_row(rng, people, org, submitted, intent, lambda: [
        _spell(rng, "content", sorted(contents, key=CONTENT_ORDER.index), aliases),
        _spell(rng, "form", sorted(forms, key=FORM_ORDER.index), aliases),
        _spell(rng, "target", _pick_targets(rng, arch), aliases),
        ", ".join(_pick_area(rng, org.city)),
    ])  # fmt: skip


def survey_rows(
    rng: random.Random, people: People, orgs: list[Org], window: tuple[dt.date, dt.date] = ANSWER_WINDOW
) -> list[list]:
    """Survey answers of about ANSWER_SHARE of the organisations, in submission order (dates within window)."""
    aliases = _aliases()
    intents = [label for label, _ in INTENT_COUNTS]
    intent_weights = [count for _, count in INTENT_COUNTS]
    answers: list[tuple[dt.datetime, int, list]] = []
    for org in orgs:
        if rng.random() >= ANSWER_SHARE:
            continue
        start = max(org.sent_on + dt.timedelta(days=1), window[0])
        times = 2 if rng.random() < REANSWER_SHARE else 1
        for _ in range(times):
            day = _random_date(rng, start, window[1])
            moment = dt.datetime.combine(day, dt.time(rng.randint(8, 22), rng.randint(0, 59), rng.randint(0, 59)))
            intent = rng.choices(intents, weights=intent_weights)[0]
            answers.append((moment, org.serial, _answer_row(rng, people, org, moment, intent, aliases)))
    answers.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, row in answers]


def write_kmz(rng: random.Random, orgs: list[Org], path: Path) -> int:
    """resource_map.kmz (doc.kml streamed into the zip): one folder per city, a pin per addressed organisation."""
    pins = 0

    def city_pins(city: str):
        """The city's pins, drawn from rng as the file is written."""
        nonlocal pins
        for org in orgs:
            if org.city == city and org.address:
                stale = rng.random() < STALE_SHARE
                lat, lng = _point(rng, org.city)
                verified = VERIFIED_STALE if stale else _random_date(rng, VERIFIED_FRESH_START, VERIFIED_END)
                pins += 1
                yield map_pin(org, lat, lng, verified, org.arch.forms[:2])

    description = "架空の団体による規模試験用データです。/ Fictional scale-test data."
    with (
        zipfile.ZipFile(path, "w", allowZip64=True) as archive,
        archive.open(zip_info("doc.kml", zipfile.ZIP_DEFLATED), "w", force_zip64=True) as member,
    ):
        writer = io.TextIOWrapper(member, encoding="utf-8", newline="\n")
        for chunk in kml.kml_chunks(MAP_NAME, description, map_layers(city_pins), my_maps=True):
            writer.write(chunk)
        writer.flush()
        writer.detach()
    return pins


def programme_sheets(rng: random.Random, people: People, copies: int) -> dict[str, tuple[tuple[str, ...], list[list]]]:
    """events.xlsx: the sample's art programme repeated `copies` times with distinct event and participant ids."""
    merged: dict[str, tuple[tuple[str, ...], list[list]]] = {}
    for copy in range(1, copies + 1):
        suffix = f"-{copy:05d}"
        for sheet, (header, rows) in events_sheets(rng, people).items():
            renamed = []
            for row in rows:
                row = list(row)
                if sheet == "出欠":
                    row[0], row[1] = row[0] + suffix, row[1] + suffix
                else:
                    # The first column of every other sheet is an event, participant or contract id.
                    row[0] = row[0] + suffix
                renamed.append(row)
            merged.setdefault(sheet, (header, []))[1].extend(renamed)
    return merged


def towns_json(rng: random.Random, counts: dict[str, int]) -> dict[str, list[dict]]:
    """Synthetic 町丁目 per city in the Geolonia per-city JSON shape (town, koaza, lat, lng)."""
    result = {}
    for city in CITIES:
        bases = [name for name, _ in TOWNS[city]]
        records = []
        for index in range(counts[city]):
            base = bases[index % len(bases)]
            chome = index // len(bases) + 1
            lat, lng = _point(rng, city)
            records.append({"town": f"{base}{kanji_number(chome)}丁目", "koaza": "", "lat": lat, "lng": lng})
        result[city] = records
    return result


def outline_features() -> list[dict]:
    """Synthetic city outlines as N03-shaped GeoJSON features (a box around each city centre)."""
    codes = {name: code for code, name, _ in POPULATIONS}
    features = []
    for city in CITIES:
        lat, lng = CITY_CENTRES[city]
        dlat, dlng = OUTLINE_HALF
        ring = [
            [round(lng - dlng, 6), round(lat - dlat, 6)],
            [round(lng + dlng, 6), round(lat - dlat, 6)],
            [round(lng + dlng, 6), round(lat + dlat, 6)],
            [round(lng - dlng, 6), round(lat + dlat, 6)],
            [round(lng - dlng, 6), round(lat - dlat, 6)],
        ]
        properties = {"N03_001": "神奈川県", "N03_004": city, "N03_007": codes[city]}
        features.append(kml.feature({"type": "Polygon", "coordinates": [ring]}, properties))
    return features


def write_outlines(path: Path) -> None:
    """The synthetic city outlines as a GeoJSON file (reference/boundaries/)."""
    path.write_bytes(kml.geojson_bytes(outline_features()))


def _repack(source: Path, target: Path) -> None:
    """Copy a zip member by member (streamed) with fixed headers: openpyxl stamps members with the clock."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", allowZip64=True) as new:
        for member in old.infolist():
            info = zip_info(member.filename, zipfile.ZIP_DEFLATED)
            with old.open(member) as reader, new.open(info, "w", force_zip64=True) as writer:
                shutil.copyfileobj(reader, writer, ZIP_CHUNK)


def write_xlsx(sheets: dict[str, tuple[tuple[str, ...], list[list]]], path: Path) -> None:
    """A workbook written with openpyxl's write-only mode (constant memory per row), one sheet per entry."""
    workbook = dated_workbook("Tsunagari scale generator", write_only=True)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(header))
        for row in rows:
            sheet.append(row)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        raw = Path(scratch) / "raw.xlsx"
        # ExcelWriter directly: Workbook.save() would overwrite properties.modified with the clock.
        ExcelWriter(workbook, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
        _repack(raw, path)


def _sha256(path: Path) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(ZIP_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def next_year(rng: random.Random, people: People, orgs: list[Org]) -> tuple[list[Org], dict[str, Any]]:
    """The second year's organisations (continuing, a few respelled, new ones) and what changed, per city."""
    continuing = sorted(rng.sample(range(len(orgs)), round(len(orgs) * CONTINUING_SHARE)))
    kept = [replace(orgs[i], sent_on=orgs[i].sent_on + YEAR_SHIFT) for i in continuing]
    # A respelling keeps the matching key; organisations already listed twice keep their one variant.
    plain = [i for i, org in enumerate(kept) if org.variant is None]
    renamed = sorted(rng.sample(plain, min(len(plain), round(len(kept) * RENAME_SHARE))))
    for i in renamed:
        kept[i] = replace(kept[i], name=respell(kept[i].name, rng.choice(RENAME_KINDS)))
    new = [
        replace(org, sent_on=org.sent_on + YEAR_SHIFT)
        for org in build_organisations(rng, people, round(len(orgs) * NEW_SHARE), first=len(orgs) + 1)
    ]
    left = set(continuing)
    gone = [org for i, org in enumerate(orgs) if i not in left]
    continuity = {
        "continuing": len(kept),
        "new": len(new),
        "gone": len(gone),
        "renamed": len(renamed),
        "per_city": {
            city: {
                "continuing": sum(org.city == city for org in kept),
                "new": sum(org.city == city for org in new),
                "gone": sum(org.city == city for org in gone),
            }
            for city in CITIES
        },
    }
    return kept + new, continuity


def write_year(
    rng: random.Random,
    people: People,
    organisations: list[Org],
    folder: Path,
    programmes: int,
    label: str,
    later: bool = False,
    progress=print,
) -> dict[str, Any]:
    """One year's source files into folder; later writes dates, 令和 years and R年度 a year on. Returns its counts."""
    folder.mkdir(parents=True, exist_ok=True)
    progress(f"[scale {label}] distribution_list.xlsx")
    distribution = distribution_rows(rng, organisations, BAD_LEGAL_SHARE)
    write_xlsx(
        {sheet: (DISTRIBUTION_HEADER, rows) for sheet, rows in distribution.items()}, folder / "distribution_list.xlsx"
    )
    rows_per_sheet = {sheet: len(rows) for sheet, rows in distribution.items()}
    del distribution
    progress(f"[scale {label}] survey_answers.csv")
    window = (ANSWER_WINDOW[0] + YEAR_SHIFT, ANSWER_WINDOW[1] + YEAR_SHIFT) if later else ANSWER_WINDOW
    answers = survey_rows(rng, people, organisations, window)
    with (folder / "survey_answers.csv").open("w", encoding="cp932", newline="") as handle:
        write_survey(answers, handle)
    progress(f"[scale {label}] resource_map.kmz")
    pins = write_kmz(rng, organisations, folder / "resource_map.kmz")
    progress(f"[scale {label}] events.xlsx, pf_progress.xlsx, cities.csv, kpi_targets.csv")
    programme = programme_sheets(rng, people, programmes)
    steps = progress_sheets()
    if later:
        programme = {
            sheet: (header, [[_next_year(cell) for cell in row] for row in rows])
            for sheet, (header, rows) in programme.items()
        }
        steps = r7_progress(steps)
    write_xlsx(programme, folder / "events.xlsx")
    write_xlsx(steps, folder / "pf_progress.xlsx")
    (folder / "cities.csv").write_bytes(_csv_year_on(cities_bytes()) if later else cities_bytes())
    (folder / "kpi_targets.csv").write_bytes(_csv_year_on(targets_bytes()) if later else targets_bytes())
    return {
        "organisations_per_city": dict(Counter(org.city for org in organisations)),
        "distribution_rows": sum(rows_per_sheet.values()),
        "rows_per_sheet": rows_per_sheet,
        "survey_rows": len(answers),
        "pins": pins,
        "event_rows": {sheet: len(rows) for sheet, (_, rows) in programme.items()},
    }


def generate(orgs: int, out: Path, seed: int = DEFAULT_SEED, progress=print, years: int = 1) -> dict[str, Any]:
    """Write the bundle for `orgs` organisations into out (and out/reference), return the manifest.

    years=2 writes out/R6 (the one-year region) and out/R7 (next_year of it); the manifest adds each year's
    counts under "years" and the continuity the generator made; its top-level counts are both years' sums.
    """
    if years not in (1, 2):
        raise ValueError("--years must be 1 or 2")
    started = time.perf_counter()
    counts = plan(orgs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    rng = random.Random(f"tsunagari-scale:{seed}:{orgs}")
    people = People(rng)

    progress(f"[scale {orgs}] organisations")
    organisations = build_organisations(rng, people, orgs)
    folder = out / R6_FOLDER if years == 2 else out
    first = write_year(rng, people, organisations, folder, counts.programmes, str(orgs), False, progress)

    progress(f"[scale {orgs}] reference/towns, reference/boundaries")
    reference = out / "reference"
    (reference / "towns").mkdir(parents=True, exist_ok=True)
    (reference / "boundaries").mkdir(parents=True, exist_ok=True)
    for city, records in towns_json(rng, counts.towns).items():
        (reference / "towns" / f"{city}.json").write_text(
            json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    write_outlines(reference / "boundaries" / "synthetic_cities.geojson")

    summary = dict(first)
    extra: dict[str, Any] = {}
    if years == 2:
        # The second year draws after everything of the first, so a one-year bundle stays byte for byte as before.
        progress(f"[scale {orgs}] {R7_FOLDER}: organisations")
        second_orgs, continuity = next_year(rng, people, organisations)
        label = f"{orgs} {R7_FOLDER}"
        second = write_year(rng, people, second_orgs, out / R7_FOLDER, counts.programmes, label, True, progress)
        for key in ("distribution_rows", "survey_rows", "pins"):
            summary[key] = first[key] + second[key]
        extra = {"fiscal_years": FISCAL_YEARS, "years": {R6_FOLDER: first, R7_FOLDER: second}, "continuity": continuity}

    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "plan": counts.as_dict(),
        "organisations_per_city": summary["organisations_per_city"],
        "distribution_rows": summary["distribution_rows"],
        "rows_per_sheet": summary["rows_per_sheet"],
        "survey_rows": summary["survey_rows"],
        "pins": summary["pins"],
        "event_rows": summary["event_rows"],
        **extra,
        "files": {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    progress(f"[scale {orgs}] done in {manifest['seconds']} s")
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Write a synthetic source bundle of N organisations.")
    parser.add_argument("--orgs", type=int, required=True, help="number of organisations (e.g. 10000, 1000000)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (a source bundle)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--years", type=int, choices=(1, 2), default=1, help="fiscal years: 1 (a flat bundle) or 2 (R6/ and R7/)"
    )
    args = parser.parse_args(argv)
    manifest = generate(args.orgs, args.out, args.seed, years=args.years)
    summary = {k: v for k, v in manifest.items() if k != "files"}
    print(json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
