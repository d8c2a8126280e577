"""広域カバレッジ: exact matrix, distance and coverage figures recomputed here in plain Python, chart specs,
and the page in AppTest with and without reference geography."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from dashboard.charts import coverage as charts
from warehouse.query import coverage as query

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SYNTHETIC = ROOT / "tests" / "fixtures" / "reference"
OFFICIAL = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
APP = "../dashboard/app.py"
PAGE = "pages/coverage.py"
EARTH_RADIUS_KM = 6371.0088
FORMS = (
    "outreach", "consultation", "ibasho", "employment", "volunteer",
    "nature_people", "safe_time", "life_support", "information", "other",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Independent figures: plain Python over the raw reference files and the warehouse's base tables.


def half_up(value: float, digits: int) -> float:
    """Round half away from zero (as DuckDB's round does) at the given decimals."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in km on a sphere of the mean Earth radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def city_codes() -> dict[str, str]:
    """City name → code, from the seed file."""
    with open(ROOT / "warehouse" / "seeds" / "city.csv", encoding="utf-8") as handle:
        return {row["ja"]: row["code"] for row in csv.DictReader(handle)}


def raw_towns(directory: Path) -> list[dict]:
    """Towns with coordinates from towns/<市名>.json (rows without coordinates are left out, as the ETL does)."""
    towns = []
    for name, code in city_codes().items():
        path = directory / "towns" / f"{name}.json"
        for record in json.loads(path.read_text(encoding="utf-8")):
            if record.get("lat") is None or record.get("lng") is None:
                continue
            town = record["town"].strip() + (record.get("koaza") or "").strip()
            towns.append({"town_id": f"{code}:{town}", "city_code": code, "lat": record["lat"], "lng": record["lng"]})
    return towns


def offered(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Support form code → answering organisations that chose it (base tables: attribute → service)."""
    rows = con.execute(
        "select distinct t.code, s.organization_id from attribute as a join service as s on s.id = a.link_id "
        "join taxonomy_term as t on t.id = a.taxonomy_term_id join organization as o on o.id = s.organization_id "
        "where a.link_type = 'form' and o.survey_answered"
    ).fetchall()
    forms: dict[str, set[str]] = {code: set() for code in FORMS}
    for code, organisation in rows:
        forms[code].add(organisation)
    return forms


def nearest(con: duckdb.DuckDBPyConnection, towns: list[dict]) -> dict[tuple[str, str], tuple[float, str] | None]:
    """(town_id, form) → (distance km, organisation id) of the nearest organisation with a pin offering the form."""
    pins = {
        org: (lat, lng)
        for org, lat, lng in con.execute("select organization_id, latitude, longitude from location").fetchall()
    }
    result = {}
    for form, organisations in offered(con).items():
        candidates = [(org, *pins[org]) for org in organisations if org in pins]
        for town in towns:
            distances = sorted((haversine_km(town["lat"], town["lng"], lat, lng), org) for org, lat, lng in candidates)
            result[(town["town_id"], form)] = distances[0] if distances else None
    return result


def organisation_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """organization.id → name."""
    return dict(con.execute("select id, name from organization").fetchall())


def populations(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """City code → population, as loaded into the city table."""
    return dict(con.execute("select code, population from city order by sort_order").fetchall())


def areas(con: duckdb.DuckDBPyConnection) -> dict[str, set[str | None]]:
    """Answering organisation → areas it serves (city codes; None = 4市以外)."""
    served: dict[str, set[str | None]] = defaultdict(set)
    for organisation, city in con.execute(
        "select s.organization_id, a.city_code from service_area as a join service as s on s.id = a.service_id "
        "join organization as o on o.id = s.organization_id where o.survey_answered"
    ).fetchall():
        served[organisation].add(city)
    return served


def located(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """organization.id → city where it is located."""
    return dict(con.execute("select id, city_code from organization").fetchall())


def expected_matrix(con: duckdb.DuckDBPyConnection, basis: str) -> list[dict]:
    """The city × form matrix recomputed: counts, per 10,000 residents and the gap rule."""
    people = populations(con)
    where = located(con)
    served = areas(con)
    total_people = sum(people.values())
    rows = []
    forms = offered(con)
    for city, population in people.items():
        for form in FORMS:
            if basis == "located":
                members = {org for org in forms[form] if where[org] == city}
                everyone = forms[form]
            else:
                members = {org for org in forms[form] if city in served[org]}
                everyone = {org for org in forms[form] if served[org] - {None}}
            rate, four = len(members) / population, len(everyone) / total_people
            gap = "none" if not members else ("thin" if rate < query.GAP_RATIO * four else None)
            rows.append(
                {
                    "city_code": city,
                    "form_code": form,
                    "orgs": len(members),
                    "per_10k": half_up(len(members) * 10_000 / population, 2),
                    "four_city_orgs": len(everyone),
                    "four_city_per_10k": half_up(len(everyone) * 10_000 / total_people, 2),
                    "gap": gap,
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------------
# Warehouses


@pytest.fixture(scope="module")
def reference_warehouse(reference_build) -> Path:
    """The sample built with the synthetic town set (tests/fixtures/reference, ours)."""
    return reference_build.warehouse


@pytest.fixture()
def ref_con(reference_warehouse):
    """Read-only connection to the warehouse with reference geography."""
    con = duckdb.connect(str(reference_warehouse), read_only=True)
    yield con
    con.close()


# ---------------------------------------------------------------------------------------------------
# City × support form


@pytest.mark.parametrize("basis", ["located", "served"])
def test_matrix_counts_per_capita_and_gaps(sample_con, basis):
    matrix = query.form_matrix(sample_con, basis, "ja")
    shown = matrix.select("city_code", "form_code", "orgs", "per_10k", "four_city_orgs", "four_city_per_10k", "gap")
    assert shown.to_dicts() == expected_matrix(sample_con, basis)
    # Populations are the loaded city table's, which is cities.csv's.
    with open(SAMPLE / "cities.csv", encoding="utf-8") as handle:
        raw = {row["市区町村コード"]: int(row["人口"]) for row in csv.DictReader(handle)}
    assert dict(matrix.select("city_code", "population").unique(maintain_order=True).iter_rows()) == raw


def test_matrix_located_known_cells(sample_con):
    matrix = query.form_matrix(sample_con, "located", "ja")
    cell = matrix.filter((pl.col("city_code") == "14213") & (pl.col("form_code") == "ibasho")).row(0, named=True)
    # 大和市: 10 of the 20 居場所づくり organisations, 244,000 residents; the four cities 596,000.
    assert (cell["orgs"], cell["per_10k"], cell["four_city_orgs"], cell["four_city_per_10k"]) == (10, 0.41, 20, 0.34)
    assert cell["index_pct"] == half_up(100 * (10 / 244_000) / (20 / 596_000), 1) == 122.1
    assert matrix.filter(pl.col("gap").is_not_null()).select("city_label", "form_label", "gap").to_dicts() == [
        {"city_label": "大和市", "form_label": "アウトリーチ", "gap": "thin"},
        {"city_label": "大和市", "form_label": "その他", "gap": "none"},
        {"city_label": "座間市", "form_label": "自然や人と接する機会", "gap": "none"},
        {"city_label": "綾瀬市", "form_label": "居場所づくり", "gap": "none"},
        {"city_label": "綾瀬市", "form_label": "ボランティア・役割のある場", "gap": "none"},
        {"city_label": "綾瀬市", "form_label": "その他", "gap": "none"},
    ]


@pytest.mark.parametrize("basis", ["located", "served"])
def test_every_cell_drills_down_to_its_organisations(sample_con, basis):
    matrix = query.form_matrix(sample_con, basis, "ja")
    for row in matrix.iter_rows(named=True):
        listed = query.cell_organisations(sample_con, row["city_code"], row["form_code"], basis, "ja")
        assert listed.height == row["orgs"], (row["city_code"], row["form_code"])


def test_cell_list_is_public_contact_only(sample_con):
    listed = query.cell_organisations(sample_con, "14216", "ibasho", "served", "ja")
    assert listed.columns == ["name", "city", "legal_form", "phone", "forms", "areas", "has_pin"]
    served = areas(sample_con)
    names = organisation_names(sample_con)
    expected = {names[org] for org in offered(sample_con)["ibasho"] if "14216" in served[org]}
    assert set(listed["name"]) == expected and listed.height == 9
    assert listed.filter(pl.col("name") == "(サンプル)しらさぎの会").row(0, named=True) == {
        "name": "(サンプル)しらさぎの会",
        "city": "海老名市",
        "legal_form": "任意団体",
        "phone": "046-013-0159",
        "forms": "居場所づくり",
        "areas": "海老名市、座間市、綾瀬市",
        "has_pin": True,
    }


# ---------------------------------------------------------------------------------------------------
# Town coverage


def test_no_reference_means_no_towns(sample_con):
    assert query.reference_status(sample_con) == {
        "towns": 0,
        "boundaries": 0,
        "town_credit": None,
        "boundary_credit": None,
    }
    assert query.town_nearest(sample_con, "ibasho", 2.0, None, "ja").is_empty()
    assert query.town_coverage(sample_con, 2.0, "ja").is_empty()


def test_nearest_distances_match_plain_haversine(ref_con):
    towns = raw_towns(SYNTHETIC)
    assert len(towns) == 16  # four per city; the fixture's rows without coordinates are not towns
    expected_nearest = nearest(ref_con, towns)
    names = organisation_names(ref_con)
    for form in FORMS:
        frame = query.town_nearest(ref_con, form, 2.0, None, "ja")
        expected = []
        for town in sorted(towns, key=lambda t: (list(city_codes().values()).index(t["city_code"]), t["town_id"])):
            found = expected_nearest[(town["town_id"], form)]
            expected.append(
                {
                    "town_id": town["town_id"],
                    "nearest_km": None if found is None else half_up(found[0], 3),
                    "covered": found is not None and found[0] <= 2.0,
                    "nearest_name": None if found is None else names[found[1]],
                }
            )
        assert frame.select("town_id", "nearest_km", "covered", "nearest_name").to_dicts() == expected, form


def test_nearest_known_values(ref_con):
    frame = query.town_nearest(ref_con, "ibasho", 2.0, "14218", "ja")
    # 綾瀬市 has no 居場所づくり organisation: its towns' nearest ones are in 海老名市 and 大和市.
    assert frame.select("town_name", "nearest_km", "covered", "nearest_city").to_dicts() == [
        {"town_name": "中央テスト一丁目", "nearest_km": 3.1, "covered": False, "nearest_city": "海老名市"},
        {"town_name": "北テスト町", "nearest_km": 3.072, "covered": False, "nearest_city": "海老名市"},
        {"town_name": "南テスト町", "nearest_km": 4.122, "covered": False, "nearest_city": "海老名市"},
        {"town_name": "東テスト町", "nearest_km": 4.725, "covered": False, "nearest_city": "大和市"},
    ]
    assert query.town_nearest(ref_con, "ibasho", 3.2, "14218", "ja")["covered"].to_list() == [True, True, False, False]


@pytest.mark.parametrize("radius", [1.0, 2.0, 3.5])
def test_coverage_shares_per_city_and_form(ref_con, radius):
    towns = raw_towns(SYNTHETIC)
    found = nearest(ref_con, towns)
    order = list(city_codes().values())
    counts: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0])
    for town in towns:
        for form in FORMS:
            hit = found[(town["town_id"], form)]
            for scope in (town["city_code"], None):
                counts[(scope, form)][0] += 1
                counts[(scope, form)][1] += int(hit is not None and hit[0] <= radius)
    expected = [
        {"city_code": city, "form_code": form, "towns": n, "covered": k, "share_pct": half_up(100 * k / n, 1)}
        for city in [*sorted({t["city_code"] for t in towns}, key=order.index), None]
        for form in FORMS
        for n, k in [counts[(city, form)]]
    ]
    frame = query.town_coverage(ref_con, radius, "ja")
    assert frame.select("city_code", "form_code", "towns", "covered", "share_pct").to_dicts() == expected
    assert frame.filter(pl.col("city_code").is_null())["city_label"].unique().to_list() == ["4市全体"]


def test_form_pins_are_the_pinned_organisations_offering_the_form(ref_con):
    pins = query.form_pins(ref_con, "outreach", "ja")
    with_pin = {org for (org,) in ref_con.execute("select organization_id from location").fetchall()}
    assert set(pins["organization_id"]) == offered(ref_con)["outreach"] & with_pin
    assert pins.schema["latitude"] == pl.Float64 and pins.schema["longitude"] == pl.Float64


@pytest.mark.skipif(not (OFFICIAL / "towns").is_dir(), reason="official reference directory not configured")
def test_official_towns_nearest_and_coverage(official_build):
    warehouse = official_build.warehouse
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        towns = raw_towns(OFFICIAL)
        assert query.reference_status(con)["towns"] == len(towns) == 410
        found = nearest(con, towns)
        for form in ("ibasho", "consultation"):
            frame = query.town_nearest(con, form, 2.0, None, "ja")
            got = {row["town_id"]: row["nearest_km"] for row in frame.iter_rows(named=True)}
            assert got == {t["town_id"]: half_up(found[(t["town_id"], form)][0], 3) for t in towns}
            shares = query.town_coverage(con, 2.0, "ja").filter(
                pl.col("city_code").is_null() & (pl.col("form_code") == form)
            )
            covered = sum(found[(t["town_id"], form)][0] <= 2.0 for t in towns)
            assert shares.select("towns", "covered").row(0) == (410, covered)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------------
# Cross-city reach and single-source organisations


def test_flow_counts_location_to_area(sample_con):
    served, where = areas(sample_con), located(sample_con)
    frame = query.flow(sample_con, "ja")
    order = list(populations(sample_con))
    expected = [
        {
            "from_code": origin,
            "to_code": target,
            "orgs": sum(
                1
                for org, cities in served.items()
                if where[org] == origin and (None if target == "outside" else target) in cities
            ),
            "is_home": origin == target,
        }
        for origin in order
        for target in [*order, "outside"]
    ]
    assert frame.select("from_code", "to_code", "orgs", "is_home").to_dicts() == expected
    assert frame.filter(pl.col("to_code") == "outside")["to_label"].unique().to_list() == ["4市以外"]


def test_reach_summary_and_list(sample_con):
    served, where = areas(sample_con), located(sample_con)
    names = organisation_names(sample_con)
    beyond = {org for org, cities in served.items() if cities - {where[org]}}
    summary = query.reach_summary(sample_con, "ja")
    expected = []
    for city in populations(sample_con):
        mine = [org for org in served if where[org] == city]
        reaching = sum(1 for org in mine if org in beyond)
        expected.append(
            {
                "city_code": city,
                "orgs": len(mine),
                "reaching_beyond": reaching,
                "share_pct": half_up(100 * reaching / len(mine), 1),
                "inbound": sum(1 for org, cities in served.items() if city in cities and where[org] != city),
            }
        )
    assert summary.select("city_code", "orgs", "reaching_beyond", "share_pct", "inbound").to_dicts() == expected
    assert summary["reaching_beyond"].sum() == len(beyond) == 48

    listed = query.reach_organisations(sample_con, "ja")
    assert sorted(listed["name"]) == sorted(names[org] for org in beyond)
    assert listed["areas_served"].to_list() == sorted(listed["areas_served"].to_list(), reverse=True)
    # "unaware": cities served whose list did not carry the organisation.
    lists = defaultdict(set)
    code_of = city_codes()
    for org, source in sample_con.execute("select organization_id, source_list from organization_source").fetchall():
        if source in code_of:
            lists[org].add(code_of[source])
    by_name = {names[org]: org for org in beyond}
    for row in listed.iter_rows(named=True):
        org = by_name[row["name"]]
        unaware = {c for c in served[org] if c is not None and c != where[org] and c not in lists[org]}
        assert row["unaware_cities"] == len(unaware), row["name"]
    top = listed.row(0, named=True)
    assert (top["name"], top["areas"], top["unaware"]) == (
        "(サンプル)陽だまり生活協同組合",
        "海老名市、座間市、綾瀬市、4市以外",
        "座間市、綾瀬市",
    )


def test_single_source_organisations(sample_con):
    code_of = city_codes()
    lists: dict[str, set[str]] = defaultdict(set)
    for org, source in sample_con.execute("select organization_id, source_list from organization_source").fetchall():
        lists[org].add(source)
    where = located(sample_con)
    city_lists = {org: [code_of[s] for s in sources if s in code_of] for org, sources in lists.items()}
    one_city = {org: codes[0] for org, codes in city_lists.items() if len(codes) == 1}
    survey_only = {org for org, sources in lists.items() if sources == {"自主調査"}}
    summary = query.single_source_summary(sample_con, "ja")
    assert summary.select(
        "city_code", "listed", "only_this_list", "only_this_list_elsewhere", "survey_only"
    ).to_dicts() == [
        {
            "city_code": code,
            "listed": sum(1 for sources in lists.values() if name in sources),
            "only_this_list": sum(1 for c in one_city.values() if c == code),
            "only_this_list_elsewhere": sum(1 for org, c in one_city.items() if c == code and where[org] != code),
            "survey_only": sum(1 for org in survey_only if where[org] == code),
        }
        for name, code in sorted(code_of.items(), key=lambda item: list(populations(sample_con)).index(item[1]))
    ]
    everyone = query.single_source(sample_con, None, "ja")
    assert everyone.height == len(one_city) + len(survey_only) == 150
    ayase = query.single_source(sample_con, "14218", "ja")
    assert ayase.height == 30
    assert ayase.group_by("known_by").len().sort("known_by").rows() == [("one_city", 21), ("survey_only", 9)]
    assert set(ayase["list_city_code"]) == {"14218"}


# ---------------------------------------------------------------------------------------------------
# Platform candidates


def test_candidates_join_and_interested(sample_con):
    intents = dict(sample_con.execute("select id, pf_intent_code from organization").fetchall())
    names = organisation_names(sample_con)
    join = query.candidates(sample_con, ("join",), None, "ja")
    assert join.columns == ["name", "city", "legal_form", "phone", "forms", "pf_intent"]
    assert sorted(join["name"]) == sorted(names[o] for o, code in intents.items() if code == "join")
    assert join.height == 20 and set(join["pf_intent"]) == {"参加したい"}
    both = query.candidates(sample_con, ("join", "interested"), None, "ja")
    assert both.height == 45
    zama = query.candidates(sample_con, ("join",), "14216", "ja")
    assert set(zama["city"]) == {"座間市"} and zama.height == sum(
        1 for o, code in intents.items() if code == "join" and located(sample_con)[o] == "14216"
    )
    with pytest.raises(ValueError):
        query.candidates(sample_con, ("not_now",), None, "ja")
    matrix = query.candidate_matrix(sample_con, ("join",), "ja")
    forms = offered(sample_con)
    assert matrix.select("city_code", "form_code", "orgs").to_dicts() == [
        {
            "city_code": city,
            "form_code": form,
            "orgs": sum(1 for o in forms[form] if intents[o] == "join" and located(sample_con)[o] == city),
        }
        for city in populations(sample_con)
        for form in FORMS
    ]


def test_candidates_carry_no_personal_data(sample_con):
    shown = query.candidates(sample_con, ("join", "interested"), None, "ja")
    personal = set()
    for row in sample_con.execute(
        "select contact_name, contact_email, contact_phone from pii.organization_contact "
        "union all select respondent_name, respondent_email, respondent_phone from pii.survey_respondent"
    ).fetchall():
        personal.update(value for value in row if value)
    public_phones = {phone for (phone,) in sample_con.execute("select phone from organization").fetchall() if phone}
    cells = {value for column in shown.columns for value in shown[column].to_list() if isinstance(value, str)}
    assert cells & (personal - public_phones) == set()


# ---------------------------------------------------------------------------------------------------
# Long lists: the page shows their head and counts them exactly


def test_list_heads_and_counts(sample_con):
    lists = [
        (
            lambda limit, city=city, form=form, basis=basis: query.cell_organisations(
                sample_con, city, form, basis, "ja", limit
            ),
            # The page's total is the matrix cell's count (mart_coverage_tally): it must equal the list's length.
            query.form_matrix(sample_con, basis, "ja")
            .filter((pl.col("city_code") == city) & (pl.col("form_code") == form))
            .item(0, "orgs"),
            height,
        )
        for city, form, basis, height in [
            ("14216", "ibasho", "located", 5),
            ("14216", "ibasho", "served", 9),
            ("14218", "ibasho", "located", 0),
        ]
    ]
    reach = query.reach_organisation_count(sample_con)
    lists.append((lambda limit: query.reach_organisations(sample_con, "en", limit), reach, 48))
    for city, height in [(None, 150), ("14218", 30)]:
        lists.append(
            (
                lambda limit, city=city: query.single_source(sample_con, city, "ja", limit),
                query.single_source_count(sample_con, city),
                height,
            )
        )
    for intents, city, height in [(("join",), None, 20), (("join", "interested"), None, 45), (("join",), "14218", 3)]:
        lists.append(
            (
                lambda limit, intents=intents, city=city: query.candidates(sample_con, intents, city, "ja", limit),
                query.candidate_count(sample_con, intents, city),
                height,
            )
        )
    for listing, count, height in lists:
        everyone = listing(None)
        assert everyone.height == count == height
        assert listing(3).to_dicts() == everyone.head(3).to_dicts()
        assert listing(height + 1).to_dicts() == everyone.to_dicts()
    with pytest.raises(ValueError):
        query.reach_organisations(sample_con, "ja", -1)
    with pytest.raises(ValueError):
        query.candidate_count(sample_con, ("not_now",), None)


def test_cell_heads_built_with_the_warehouse_are_the_lists_heads(sample_con):
    # mart_coverage_cell_head keeps CELL_HEAD_ROWS rows per cell; the query reads it for a head no longer than that.
    sql = (ROOT / "warehouse" / "marts" / "mart_coverage_cell_head.sql").read_text(encoding="utf-8")
    assert f"cell_rank <= {query.CELL_HEAD_ROWS}" in sql
    cells = 0
    for basis in query.BASES:
        matrix = query.form_matrix(sample_con, basis, "ja")
        for city, form, orgs in matrix.select("city_code", "form_code", "orgs").iter_rows():
            for lang in ("ja", "en"):
                everyone = query.cell_organisations(sample_con, city, form, basis, lang)
                assert everyone.height == orgs
                for limit in (0, 2, query.CELL_HEAD_ROWS):
                    head = query.cell_organisations(sample_con, city, form, basis, lang, limit)
                    assert head.to_dicts() == everyone.head(limit).to_dicts()
            cells += 1
    assert cells == 2 * 4 * 10
    for city in (None, "14213", "14215", "14216", "14218"):
        assert query.single_source_count(sample_con, city) == query.single_source(sample_con, city, "en").height


# ---------------------------------------------------------------------------------------------------
# Chart builders


def test_matrix_heatmap_spec(sample_con):
    matrix = query.form_matrix(sample_con, "located", "ja")
    spec = charts.matrix_heatmap(matrix, "ja", 50, "14216").to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "rect", "text", "text"]
    assert spec["params"][0]["name"] == charts.SELECTION == "cell"
    assert spec["params"][0]["select"]["fields"] == ["city_code", "form_code"]
    cells = spec["layer"][0]["encoding"]
    assert (cells["x"]["field"], cells["y"]["field"], cells["color"]["field"]) == (
        "city_label",
        "form_label",
        "per_10k",
    )
    assert cells["x"]["axis"]["labelFontWeight"]["condition"]["test"] == "(datum.value === '座間市')"
    gaps = spec["layer"][1]
    assert gaps["encoding"]["stroke"]["scale"] == {
        "domain": ["空白（0団体）", "手薄（4市全体の 50 % 未満）"],
        "range": ["#d62728", "#ff7f0e"],
    }
    (data,) = spec["datasets"].values()
    assert len(data) == 40 and sum(1 for row in data if row["gap_label"]) == 6


def test_selected_cell_reads_the_event():
    assert charts.selected_cell(None) is None
    assert charts.selected_cell({"selection": {"cell": []}}) is None
    assert charts.selected_cell({"selection": {"cell": [{"city_code": "14218", "form_code": "ibasho"}]}}) == (
        "14218",
        "ibasho",
    )


def test_flow_and_coverage_heatmaps(sample_con, ref_con):
    flow = charts.flow_heatmap(query.flow(sample_con, "en"), "en").to_dict()
    assert [layer["mark"]["type"] for layer in flow["layer"]] == ["rect", "rect", "text"]
    assert flow["layer"][0]["encoding"]["x"]["sort"] == ["Yamato", "Ebina", "Zama", "Ayase", "Outside the four cities"]
    shares = charts.coverage_heatmap(query.town_coverage(ref_con, 2.0, "ja"), "ja").to_dict()
    assert shares["layer"][0]["encoding"]["color"]["field"] == "share_pct"
    assert shares["layer"][0]["encoding"]["x"]["sort"] == ["大和市", "海老名市", "座間市", "綾瀬市", "4市全体"]


def test_town_deck_layers_and_colours(ref_con):
    towns = query.town_nearest(ref_con, "ibasho", 2.0, None, "ja")
    pins = query.form_pins(ref_con, "ibasho", "ja")
    deck = charts.town_deck(towns, pins, query.boundaries(ref_con), 2.0, lang="ja")
    spec = json.loads(deck.to_json())
    assert [layer["id"] for layer in spec["layers"]] == ["city-outlines", "radius", "towns", "organisations"]
    rings, points = spec["layers"][1], spec["layers"][2]
    assert rings["getRadius"] == 2000 and len(rings["data"]) == pins.height
    fills = [record["fill"] for record in points["data"]]
    assert fills.count(charts.COVERED) == int(towns["covered"].sum()) == 12
    assert fills.count(charts.UNCOVERED) == 4
    assert "<b>東テスト町</b>（綾瀬市）" in points["data"][-1]["tip"] and "4.725 km" in points["data"][-1]["tip"]
    assert deck.map_provider is None and deck.map_style is not None


def test_form_cells_count_the_pins_per_hexagon(ref_con):
    pins = query.form_pins(ref_con, "ibasho", "ja")
    rows = ref_con.execute("select organization_id, cell_q, cell_r from mart_org_directory").fetchall()
    cell_of = {organisation: (q, r) for organisation, q, r in rows}
    expected = Counter(cell_of[organisation] for organisation in pins["organization_id"])
    cells = query.form_cells(ref_con, "ibasho")
    assert query.form_pin_count(ref_con, "ibasho") == pins.height == sum(expected.values()) > 0
    assert dict(zip(zip(cells["cell_q"], cells["cell_r"], strict=True), cells["orgs"], strict=True)) == dict(expected)
    assert cells["orgs"].to_list() == sorted(cells["orgs"].to_list(), reverse=True)
    assert query.form_pin_count(ref_con, "no-such-form") == 0 and query.form_cells(ref_con, "no-such-form").is_empty()


def test_town_deck_with_hexagons_sends_no_organisation(ref_con):
    towns = query.town_nearest(ref_con, "ibasho", 2.0, None, "ja")
    cells = query.form_cells(ref_con, "ibasho")
    deck = charts.town_deck(towns, None, query.boundaries(ref_con), 2.0, lang="ja", cells=cells)
    spec = json.loads(deck.to_json())
    assert [layer["id"] for layer in spec["layers"]] == ["city-outlines", "radius", "towns", "density"]
    rings, hexagons = spec["layers"][1], spec["layers"][3]
    assert len(rings["data"]) == len(hexagons["data"]) == cells.height
    assert [record["count"] for record in hexagons["data"]] == cells["orgs"].to_list()
    assert hexagons["data"][0]["tip"] == f"この六角形（半径 500 m）に {cells['orgs'][0]} 団体"
    assert "organization_id" not in deck.to_json()


# ---------------------------------------------------------------------------------------------------
# The page in AppTest


class RecordingStorage(MemoryMediaFileStorage):
    """AppTest's media storage, remembered so a test can read what a download button would serve."""

    latest: RecordingStorage | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordingStorage.latest = self


def open_page(warehouse: Path, monkeypatch, tile_url: str | None = None) -> AppTest:
    """The 広域カバレッジ page over a warehouse."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    if tile_url is None:
        monkeypatch.delenv("TSUNAGARI_TILE_URL", raising=False)
    else:
        monkeypatch.setenv("TSUNAGARI_TILE_URL", tile_url)
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page(PAGE).run()


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → value."""
    return {m.label: m.value for m in at.metric}


def frame_with(at: AppTest, column: str) -> pl.DataFrame:
    """The first table on the page that has the column."""
    for element in at.dataframe:
        if column in element.value.columns:
            return pl.from_pandas(element.value)
    raise AssertionError(f"no table with column {column!r}")


def tables_with(at: AppTest, column: str) -> list[pl.DataFrame]:
    """Every table on the page that has the column."""
    return [pl.from_pandas(element.value) for element in at.dataframe if column in element.value.columns]


def click_cell(at: AppTest, city: str, form: str) -> AppTest:
    """Send what the browser sends when a matrix cell is clicked (AppTest has no click API for charts)."""
    chart = at.get("vega_lite_chart")[0]
    states: WidgetStates = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps({"selection": {"cell": [{"city_code": city, "form_code": form}]}})
    return at._run(states)


def chart_data(chart) -> pl.DataFrame:
    """The one dataset Streamlit sends beside a Vega-Lite spec (Arrow IPC bytes)."""
    (dataset,) = chart.proto.datasets
    return pl.read_ipc_stream(io.BytesIO(dataset.data.data))


def download_payload(at: AppTest, key: str) -> pl.DataFrame:
    """The CSV a download button serves, as text cells (BOM and CRLF checked)."""
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    payload = RecordingStorage.latest.get_file(Path(button.proto.url).stem).content
    assert payload.startswith("\ufeff".encode()) and b"\r\n" in payload
    return pl.read_csv(io.BytesIO(payload[3:]), infer_schema_length=0)


def test_page_without_reference_explains_and_keeps_the_rest(sample_warehouse, monkeypatch):
    at = open_page(sample_warehouse, monkeypatch)
    assert not at.exception
    assert at.title[0].value == "広域カバレッジ"
    assert metrics(at) == {
        "回答団体（支援の形態あり）": "63 団体",
        "空白・手薄なセル": "6 / 40 セル",
        "市域を越えて活動": "48 団体",
        "PF参加を希望": "20 団体",
    }
    notice = [info.value for info in at.info if "参照地理データ" in info.value]
    assert len(notice) == 1 and "README" not in notice[0] and "--reference" not in notice[0]
    assert at.get("deck_gl_json_chart") == []
    assert len(at.get("vega_lite_chart")) == 3  # matrix, flow, candidates
    assert frame_with(at, "把握していない市").height == 48
    assert frame_with(at, "PF参画意向").height == 20


def test_clicking_a_cell_lists_its_organisations(sample_warehouse, monkeypatch, sample_con):
    at = open_page(sample_warehouse, monkeypatch)
    at = click_cell(at, "14216", "ibasho")
    assert not at.exception
    assert at.session_state["coverage_cell_city"] == "14216" and at.session_state["coverage_cell_form"] == "ibasho"
    assert at.selectbox(key="coverage_cell_city__ja").value == "14216"
    assert any(c.value == "座間市 ×「居場所づくり」: 5 団体（人口1万人あたり 0.38、4市全体 0.34）" for c in at.caption)
    listed = frame_with(at, "地図に位置あり")
    expected = query.cell_organisations(sample_con, "14216", "ibasho", "located", "ja")
    assert listed["団体名"].to_list() == expected["name"].to_list()

    at.selectbox(key="coverage_basis__ja").select("served").run()
    assert not at.exception
    assert frame_with(at, "地図に位置あり").height == 9  # 座間市 served by 9 居場所づくり organisations
    at.selectbox(key="coverage_cell_city__ja").select("14218").run()
    assert frame_with(at, "地図に位置あり").height == 8


def test_empty_cell_is_explained(sample_warehouse, monkeypatch):
    at = open_page(sample_warehouse, monkeypatch)
    at = click_cell(at, "14218", "ibasho")
    assert any(info.value == "綾瀬市で「居場所づくり」に当てはまる団体はありません（空白のセル）。" for info in at.info)


def test_sidebar_city_narrows_lists_but_not_cross_city_parts(sample_warehouse, monkeypatch):
    at = open_page(sample_warehouse, monkeypatch)
    at.selectbox(key="city__ja").select("14218").run()
    assert not at.exception
    assert at.session_state["coverage_cell_city"] == "14218"
    assert frame_with(at, "把握").height == 30
    assert frame_with(at, "PF参画意向").height == 3
    assert set(frame_with(at, "PF参画意向")["所在市"]) == {"綾瀬市"}
    # Cross-city parts keep all four cities.
    assert frame_with(at, "把握していない市").height == 48
    assert frame_with(at, "他市から来て活動する団体")["市"].to_list() == ["大和市", "海老名市", "座間市", "綾瀬市"]
    flow = chart_data(at.get("vega_lite_chart")[1])
    assert flow.height == 20 and flow.filter(pl.col("from_code") == "14218").height == 5
    spec = json.loads(at.get("vega_lite_chart")[1].proto.spec)
    assert (
        spec["layer"][0]["encoding"]["y"]["axis"]["labelFontWeight"]["condition"]["test"]
        == "(datum.value === '綾瀬市')"
    )


# The PF candidates' CSV: the list's columns, then the 年度 of the data (label and 西暦 year) last.
CANDIDATE_COLUMNS = [
    "団体名",
    "所在市",
    "法人格",
    "電話番号（団体）",
    "支援の形態",
    "PF参画意向",
    "年度",
    "fiscal_year",
]


def test_interested_toggle_and_candidate_download(sample_warehouse, monkeypatch):
    at = open_page(sample_warehouse, monkeypatch)
    at.toggle(key="coverage_interested").set_value(True).run()
    assert not at.exception
    table = frame_with(at, "PF参画意向")
    assert table.height == 45 and set(table["PF参画意向"]) == {"参加したい", "関心がある"}
    downloaded = download_payload(at, "coverage_candidates_download")
    assert downloaded.columns == CANDIDATE_COLUMNS
    assert downloaded.height == 45
    assert downloaded["団体名"].to_list() == table["団体名"].to_list()


class RecordingManager(MediaFileManager):
    """AppTest's media file manager, remembered so a test can run a deferred download as a click does."""

    latest: RecordingManager | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordingManager.latest = self


def deferred_payload(at: AppTest, key: str) -> pl.DataFrame:
    """The CSV a download button builds on its click (a deferred download), as text cells."""
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    assert button.proto.deferred_file_id and not button.proto.url
    url = RecordingManager.latest.execute_deferred(button.proto.deferred_file_id)
    payload = RecordingStorage.latest.get_file(Path(url).stem).content
    assert payload.startswith("\ufeff".encode()) and b"\r\n" in payload
    return pl.read_csv(io.BytesIO(payload[3:]), infer_schema_length=0)


def test_long_lists_show_their_head_and_download_in_full(sample_warehouse, monkeypatch, sample_con):
    monkeypatch.setattr(query, "LIST_ROWS", 3)
    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", RecordingManager)
    at = open_page(sample_warehouse, monkeypatch)
    assert not at.exception
    captions = [c.value for c in at.caption]
    for total in (48, 150, 20):
        assert f"全 {total} 件のうち先頭 3 件を表示しています。すべては CSV でダウンロードできます。" in captions
    assert "4市全体: 150 団体" in captions and "4市全体: 20 団体" in captions
    assert metrics(at)["PF参加を希望"] == "20 団体"
    for column in ("把握していない市", "把握", "PF参画意向"):
        assert frame_with(at, column).height == 3
    everyone = query.candidates(sample_con, ("join",), None, "ja")
    assert frame_with(at, "PF参画意向")["団体名"].to_list() == everyone["name"].to_list()[:3]
    downloaded = deferred_payload(at, "coverage_candidates_download")
    assert downloaded.columns == CANDIDATE_COLUMNS
    assert downloaded["団体名"].to_list() == everyone["name"].to_list()
    single = deferred_payload(at, "coverage_single_download")
    assert single.height == 150 and set(single["把握"]) == {"1市のリストのみ", "自主調査のみ"}
    assert deferred_payload(at, "coverage_reaching_download").height == 48

    at = click_cell(at, "14216", "ibasho")
    assert not at.exception
    assert any(
        c.value == "全 5 件のうち先頭 3 件を表示しています。すべては CSV でダウンロードできます。" for c in at.caption
    )
    assert frame_with(at, "地図に位置あり").height == 3
    expected = query.cell_organisations(sample_con, "14216", "ibasho", "located", "ja")
    assert deferred_payload(at, "coverage_cell_download")["団体名"].to_list() == expected["name"].to_list()

    at.toggle(key="coverage_interested").set_value(True).run()
    assert "全 45 件のうち先頭 3 件を表示しています。すべては CSV でダウンロードできます。" in [
        c.value for c in at.caption
    ]
    assert deferred_payload(at, "coverage_candidates_download").height == 45
    at.toggle(key="coverage_interested").set_value(False).run()

    at.selectbox(key="city__ja").select("14218").run()  # 綾瀬市: 3 candidates fit, so no caption and a plain CSV
    assert not at.exception
    assert "綾瀬市: 3 団体" in [c.value for c in at.caption]
    assert download_payload(at, "coverage_candidates_download").height == 3

    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert "Showing the first 3 of 48 rows. Download the CSV for all of them." in [c.value for c in at.caption]


def test_english(sample_warehouse, monkeypatch):
    at = open_page(sample_warehouse, monkeypatch)
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Regional coverage"
    assert metrics(at)["Empty or thin cells"] == "6 / 40 cells"
    assert any("no reference geography" in info.value for info in at.info)


def show_map(at: AppTest) -> AppTest:
    """Turn the town map on (it is drawn only on request)."""
    return at.toggle(key="coverage_show_map").set_value(True).run()


def test_page_with_reference_shows_town_coverage(reference_warehouse, monkeypatch, ref_con):
    at = open_page(reference_warehouse, monkeypatch)
    assert not at.exception
    assert not any("参照地理データ（町丁目の代表点）が倉庫に" in info.value for info in at.info)
    assert at.get("deck_gl_json_chart") == []  # the map waits for the toggle; the figures do not
    assert any("参照地理データ: " in c.value for c in at.caption)  # the towns' credit stays with the figures
    at = show_map(at)
    assert not at.exception
    decks = at.get("deck_gl_json_chart")
    assert len(decks) == 1
    spec = json.loads(decks[0].proto.json)
    ids = [layer["id"] for layer in spec["layers"]]
    assert ids[-4:] == ["city-outlines", "radius", "towns", "organisations"]
    assert any(i.startswith("tile-") for i in ids)  # 地理院タイル by default
    assert any("国土地理院" in c.value for c in at.caption)
    first_form = at.session_state["coverage_town_form"]
    expected = query.town_nearest(ref_con, first_form, 2.0, None, "ja")
    assert metrics(at)["カバーされている町丁目"] == f"{int(expected['covered'].sum())} / 16"
    shares = frame_with(at, "カバー率（%）")
    assert shares.height == 50

    at.selectbox(key="coverage_town_form__ja").select("ibasho").run()
    assert metrics(at)["カバーされている町丁目"] == "12 / 16"
    assert metrics(at)["カバー率"] == "75.0 %"
    at.slider(key="coverage_radius").set_value(3.5).run()
    assert not at.exception
    assert metrics(at)["カバーされている町丁目"] == "14 / 16"
    assert frame_with(at, "最寄りまでの距離（km）")["最寄りまでの距離（km）"].to_list()[:2] == [4.725, 4.122]

    at.selectbox(key="city__ja").select("14218").run()
    assert metrics(at)["カバーされている町丁目"] == "2 / 4"
    towns = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert len(next(layer for layer in towns["layers"] if layer["id"] == "towns")["data"]) == 4


def test_tiles_can_be_switched_off(reference_warehouse, monkeypatch):
    at = show_map(open_page(reference_warehouse, monkeypatch, tile_url=""))
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert not any(layer["id"].startswith("tile-") for layer in spec["layers"])
    assert any("背景地図は表示していません" in c.value for c in at.caption)


def test_many_pins_are_drawn_as_hexagons(reference_warehouse, monkeypatch, ref_con):
    from warehouse.query import directory

    monkeypatch.setattr(directory, "PIN_LIMIT", 3)
    at = open_page(reference_warehouse, monkeypatch)
    assert not at.exception
    pinned = query.form_pin_count(ref_con, query.forms(ref_con, "ja")["code"][0])  # the page's default form
    assert pinned > 3
    assert metrics(at)["この形態の団体（位置あり）"] == f"{pinned} 団体"
    at = show_map(at)
    assert any("六角形にまとめて表示" in caption.value and f"{pinned} 件" in caption.value for caption in at.caption)
    assert not any(w.label.startswith("団体を1件ずつ") for w in at.toggle)  # above the pin limit: hexagons only
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert [layer["id"] for layer in spec["layers"]][-1] == "density"


def test_above_the_hexagon_threshold_every_pin_is_on_request(reference_warehouse, monkeypatch, ref_con):
    monkeypatch.setattr(charts, "HEXAGONS_ABOVE", 3)
    at = show_map(open_page(reference_warehouse, monkeypatch))
    assert not at.exception
    form = at.session_state["coverage_town_form"]
    pinned = query.form_pin_count(ref_con, form)
    assert pinned > 3
    assert any("3 件を超えるため" in c.value and f"{pinned} 件" in c.value for c in at.caption)
    hexagons = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert [layer["id"] for layer in hexagons["layers"]][-1] == "density"
    assert "organization_id" not in at.get("deck_gl_json_chart")[0].proto.json

    at.toggle(key="coverage_every_pin").set_value(True).run()
    assert not at.exception
    assert not any("六角形にまとめて表示" in c.value for c in at.caption)
    # Every pin as the map drew it before the threshold: the same Deck town_deck builds from form_pins.
    expected = charts.town_deck(
        query.town_nearest(ref_con, form, 2.0, None, "ja"),
        query.form_pins(ref_con, form, "ja"),
        query.boundaries(ref_con),
        2.0,
        lang="ja",
    )
    pins = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    drawn = [layer for layer in pins["layers"] if not layer["id"].startswith("tile-")]
    assert drawn == [layer for layer in json.loads(expected.to_json())["layers"]]


def test_radius_is_kept_across_pages_without_a_widget_state_warning(reference_warehouse, monkeypatch, caplog):
    # Streamlit logs a warning with a stack dump when a widget is given a default value while its key was just set
    # through st.session_state (the page re-assigns the radius to keep it across pages); the server runs with a
    # runtime, which AppTest lacks, so the check is made to run here.
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies.runtime, "exists", lambda: True)
    at = open_page(reference_warehouse, monkeypatch)
    at.selectbox(key="coverage_town_form__ja").select("ibasho").run()
    at.slider(key="coverage_radius").set_value(3.5).run()
    at.switch_page("pages/home.py").run()
    with caplog.at_level("WARNING", logger="streamlit"):
        at.switch_page(PAGE).run()
    assert not at.exception
    assert at.slider(key="coverage_radius").value == 3.5  # and the town figures are for that radius
    assert metrics(at)["カバーされている町丁目"] == "14 / 16"
    assert not [r for r in caplog.records if "Session State API" in r.getMessage()]
