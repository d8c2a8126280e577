"""相談つなぎ: address resolver, ranked referrals, the printable sheet, the map builder and the page."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import unicodedata
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from defusedxml import ElementTree
from streamlit.testing.v1 import AppTest

from dashboard.charts import referral as charts
from dashboard.format import MISSING
from dashboard.referral_sheet import build_sheet
from etl.pipeline import SEEDS_DIR
from warehouse.query import referral

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SYNTHETIC = Path(__file__).parent / "fixtures" / "reference"
OFFICIAL = Path(os.environ.get("TSUNAGARI_TEST_REFERENCE", Path(__file__).parents[1].parent / "shared" / "reference"))
APP = "../dashboard/app.py"
TODAY = dt.date(2025, 3, 31)
CITIES_JA = {"14213": "大和市", "14215": "海老名市", "14216": "座間市", "14218": "綾瀬市"}
AYASE_TOWN = "14218:中央テスト一丁目"
HIKIKOMORI_IBASHO = referral.Need(contents=("content:hikikomori",), forms=("form:ibasho",))
# The sample's organisations that chose both ひきこもり and 居場所づくり (from survey_answers.csv).
TSUMUGI, SHIRASAGI, MOMIJI, YORISOI, OHISAMA = (
    "ORG-69c86054c80f",  # (サンプル)ひきこもり家族会 つむぎの会, 海老名市
    "ORG-5c6ff965f15f",  # (サンプル)しらさぎの会, 海老名市 (serves 海老名・座間・綾瀬)
    "ORG-97d287eb43a3",  # (サンプル)ひきこもり家族会 もみじの会, 座間市
    "ORG-3291b8b1588c",  # (サンプル)NPO法人 よりそい居場所ネット, 座間市
    "ORG-dc62e5bac7a1",  # (サンプル)おひさまの会, 大和市 (no pin on the map)
)
WHY = "支援の形態: 居場所づくり / 活動内容: ひきこもり"


@pytest.fixture(scope="module")
def ref_warehouse(reference_build) -> Path:
    """The sample built with the synthetic reference geography (towns like 中央テスト一丁目 around each centre)."""
    return reference_build.warehouse


@pytest.fixture(scope="module")
def ref_con(ref_warehouse):
    """Read-only connection to the warehouse with synthetic reference geography."""
    con = duckdb.connect(str(ref_warehouse), read_only=True)
    yield con
    con.close()


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance, computed here independently of the SQL."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def raw_pins() -> dict[str, tuple[float, float]]:
    """団体名 (NFKC) → (lat, lng) of each pin in the raw resource_map.kmz."""
    kml = zipfile.ZipFile(SAMPLE / "resource_map.kmz").read("doc.kml")
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    pins = {}
    for placemark in ElementTree.fromstring(kml).iter("{http://www.opengis.net/kml/2.2}Placemark"):
        fields = {
            d.get("name"): d.findtext("k:value", "", ns) for d in placemark.iter("{http://www.opengis.net/kml/2.2}Data")
        }
        name = fields.get("団体名") or placemark.findtext("k:name", "", ns)
        lng, lat = (float(v) for v in placemark.findtext(".//k:coordinates", "", ns).strip().split(",")[:2])
        pins[unicodedata.normalize("NFKC", name).strip()] = (lat, lng)
    return pins


def synthetic_town(city: str, town: str) -> tuple[float, float]:
    """(lat, lng) of a synthetic town, read from the fixture file itself."""
    records = json.loads((SYNTHETIC / "towns" / f"{city}.json").read_text(encoding="utf-8"))
    record = next(r for r in records if r["town"] == town)
    return record["lat"], record["lng"]


def origin_at(con, town_id: str) -> referral.Origin:
    """Origin at a town's representative point, with its city."""
    row = referral.town(con, town_id)
    return referral.Origin(row["latitude"], row["longitude"], row["city_code"])


# --- age rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (None, ()),
        (0, ("target:children",)),
        (14, ("target:children",)),
        (15, ("target:children", "target:youth")),
        (17, ("target:children", "target:youth")),
        (18, ("target:youth",)),
        (39, ("target:youth",)),
        (40, ()),
        (64, ()),
        (65, ("target:elderly",)),
        (90, ("target:elderly",)),
    ],
)
def test_age_targets(age, expected):
    assert referral.age_targets(age) == expected


# --- address resolver ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "kanji"), [(1, "一"), (9, "九"), (10, "十"), (11, "十一"), (20, "二十"), (21, "二十一"), (99, "九十九")]
)
def test_kanji_number(number, kanji):
    assert referral.kanji_number(number) == kanji


@pytest.mark.parametrize(
    ("address", "town_id", "reason"),
    [
        ("神奈川県綾瀬市中央テスト1-2-3", "14218:中央テスト一丁目", None),
        ("綾瀬市中央テスト１－２－３", "14218:中央テスト一丁目", None),
        ("綾瀬市中央テスト1丁目2番3号", "14218:中央テスト一丁目", None),
        ("神奈川県 綾瀬市 中央テスト一丁目 2-3", "14218:中央テスト一丁目", None),
        ("座間市中央テスト1", "14216:中央テスト一丁目", None),
        ("〒242-0001 神奈川県大和市北テスト町12番地", "14213:北テスト町", None),
        ("海老名市東テスト町3ー4", "14215:東テスト町", None),
        ("横浜市中区日本大通1", None, "no_city"),
        ("東京都新宿区西新宿2-8-1", None, "no_city"),
        ("綾瀬市西テスト町1", None, "no_town"),
        ("綾瀬市中央テスト2-1", None, "no_town"),
        ("綾瀬市座標なしテスト町1", None, "no_town"),
        ("", None, "empty"),
        ("　 ", None, "empty"),
    ],
)
def test_resolve_address_on_synthetic_towns(ref_con, address, town_id, reason):
    towns = referral.towns(ref_con, "ja")
    match = referral.resolve_address(address, towns, CITIES_JA)
    assert (match.town_id, match.reason) == (town_id, reason)
    if town_id:
        assert match.city_code == town_id.split(":")[0]


# Hand-made towns for the tricky prefixes: 中央 / 中央林間 / 中央林間西, 深谷 / 深谷中一丁目 / 深谷中十一丁目, ケ/ヶ.
TRICKY = pl.DataFrame(
    {
        "id": ["14213:中央一丁目", "14213:中央林間一丁目", "14213:中央林間西一丁目", "14218:深谷", "14218:深谷中一丁目",
               "14218:深谷中十一丁目", "14216:緑ケ丘一丁目"],
        "city_code": ["14213", "14213", "14213", "14218", "14218", "14218", "14216"],
        "name": ["中央一丁目", "中央林間一丁目", "中央林間西一丁目", "深谷", "深谷中一丁目", "深谷中十一丁目", "緑ケ丘一丁目"],
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("address", "town_id", "reason"),
    [
        ("大和市中央1-2-3", "14213:中央一丁目", None),
        ("大和市中央一丁目2番3号", "14213:中央一丁目", None),
        ("大和市中央林間1-2-3", "14213:中央林間一丁目", None),
        ("大和市中央林間西1丁目", "14213:中央林間西一丁目", None),
        ("綾瀬市深谷中1-1-1", "14218:深谷中一丁目", None),
        ("綾瀬市深谷中11-1", "14218:深谷中十一丁目", None),
        ("綾瀬市深谷1234", "14218:深谷", None),
        ("綾瀬市大字深谷1234番地", "14218:深谷", None),
        ("綾瀬市深谷中2-1", None, "no_town"),
        ("座間市緑ヶ丘1ー2ー3", "14216:緑ケ丘一丁目", None),
        ("大和市深谷中1-1-1", None, "no_town"),
    ],
)
def test_resolve_address_prefers_the_longest_town(address, town_id, reason):
    match = referral.resolve_address(address, TRICKY, CITIES_JA)
    assert (match.town_id, match.reason) == (town_id, reason)


def test_resolve_address_without_reference_explains():
    empty = TRICKY.clear()
    assert referral.resolve_address("綾瀬市深谷中1-1-1", empty, CITIES_JA) == referral.AddressMatch(reason="no_towns")


@pytest.mark.skipif(not (OFFICIAL / "towns").is_dir(), reason="official reference geography not available")
@pytest.mark.parametrize(
    ("address", "town_id"),
    [
        ("神奈川県綾瀬市深谷中1-1-1", "14218:深谷中一丁目"),
        ("海老名市中央1-4-1 ビナウォーク3番館", "14215:中央一丁目"),
        ("大和市鶴間1-31-7", "14213:鶴間一丁目"),
        ("大和市中央林間3-1", "14213:中央林間三丁目"),
        ("座間市緑ヶ丘1-1-1", "14216:緑ケ丘一丁目"),
    ],
)
def test_resolve_address_on_official_towns(sample_con, address, town_id):
    """Integration: the official 町丁目 list resolves real addresses, and the search runs from the town."""
    from etl import reference
    from etl.vocab import Vocabulary

    towns = reference.load(OFFICIAL, Vocabulary.load(SEEDS_DIR)).tables["ref_town"]
    match = referral.resolve_address(address, towns, CITIES_JA)
    assert match.town_id == town_id
    row = towns.filter(pl.col("id") == town_id).row(0, named=True)
    found = referral.find_referrals(
        sample_con, HIKIKOMORI_IBASHO, referral.Origin(row["latitude"], row["longitude"], row["city_code"]), 10.0, TODAY
    )
    assert found.frame.height > 0
    assert set(found.frame["organization_id"]) <= {TSUMUGI, SHIRASAGI, MOMIJI, YORISOI, OHISAMA} | set(
        found.frame.filter(~pl.col("full_match"))["organization_id"]
    )


# --- find_referrals ------------------------------------------------------------------------------

COLUMNS = ["organization_id", "city_code", "distance_km", "covers_city", "full_match", "why"]


def test_hikikomori_ibasho_from_ayase_crosses_city_borders(ref_con):
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 5.0, TODAY)
    assert not found.fallback
    assert found.frame.select(COLUMNS).to_dicts() == [
        {"organization_id": TSUMUGI, "city_code": "14215", "distance_km": 3.10, "covers_city": False, "full_match": True, "why": WHY},
        {"organization_id": SHIRASAGI, "city_code": "14215", "distance_km": 3.53, "covers_city": True, "full_match": True, "why": WHY},
        {"organization_id": OHISAMA, "city_code": "14213", "distance_km": None, "covers_city": False, "full_match": True, "why": WHY},
    ]  # fmt: skip
    assert found.frame["city_code"].n_unique() > 1


def test_wider_radius_adds_zama_in_distance_order(ref_con):
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 10.0, TODAY)
    assert found.frame.select("organization_id", "city", "distance_km", "service_area").rows() == [
        (TSUMUGI, "海老名市", 3.10, "海老名市"),
        (SHIRASAGI, "海老名市", 3.53, "海老名市・座間市・綾瀬市"),
        (MOMIJI, "座間市", 5.89, "座間市"),
        (YORISOI, "座間市", 6.41, "座間市"),
        (OHISAMA, "大和市", None, "大和市・4市以外"),
    ]
    assert set(found.frame["city"]) == {"海老名市", "座間市", "大和市"}


def test_limit_returns_the_first_rows_and_counts_them_all(ref_con):
    origin = origin_at(ref_con, AYASE_TOWN)
    every = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin, 10.0, TODAY)
    for limit in (1, 2, 5, 6):
        head = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin, 10.0, TODAY, "ja", limit)
        assert (head.fallback, head.total) == (False, every.frame.height) == (False, 5)
        assert head.frame.equals(every.frame.head(limit))
    assert every.total == 5
    with pytest.raises(ValueError):
        referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin, 10.0, TODAY, "ja", 0)


def test_page_lists_the_nearest_and_says_how_many_fit(ref_warehouse, monkeypatch):
    monkeypatch.setattr(referral, "RESULT_ROWS", 2)
    at = open_page(ref_warehouse, monkeypatch)
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.selectbox(key="referral_town__ja").set_value(AYASE_TOWN).run()
    assert not at.exception
    assert (
        at.success[0].value
        == "半径 5.0 km 以内に、条件をすべて満たす団体が 3 件あります。近い順に 2 件を表示します（1 市）。"
    )
    assert list(at.dataframe[0].value["name"]) == ["(サンプル)ひきこもり家族会 つむぎの会", "(サンプル)しらさぎの会"]


def test_distances_agree_with_the_raw_files(ref_con):
    """The SQL haversine from the fixture town to each raw KMZ pin, recomputed here."""
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 10.0, TODAY)
    lat, lng = synthetic_town("綾瀬市", "中央テスト一丁目")
    pins = raw_pins()
    expected = [round(haversine_km(lat, lng, *pins[name]), 2) if name in pins else None for name in found.frame["name"]]
    assert found.frame["distance_km"].to_list() == expected
    assert expected == [3.10, 3.53, 5.89, 6.41, None]


def test_english_why_and_areas(ref_con):
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 5.0, TODAY, "en")
    assert found.frame.select("city", "why", "service_area").row(1) == (
        "Ebina",
        "Support forms: Places to belong / Activity contents: Social withdrawal (hikikomori)",
        "Ebina, Zama, Ayase",
    )


def test_nothing_within_radius_gives_nearest_partial_matches(ref_con):
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 1.0, TODAY)
    assert found.fallback
    frame = found.frame
    assert frame.height == referral.FALLBACK_LIMIT
    # Full matches at any distance first (pinned by distance, then the one without a pin) ...
    assert frame.head(5).select("organization_id", "distance_km", "full_match").rows() == [
        (TSUMUGI, 3.10, True), (SHIRASAGI, 3.53, True), (MOMIJI, 5.89, True), (YORISOI, 6.41, True), (OHISAMA, None, True),
    ]  # fmt: skip
    # ... then the nearest that match one of the two facets.
    partial = frame.tail(5)
    assert partial["facets_matched"].to_list() == [1] * 5
    assert not partial["full_match"].any()
    assert partial["distance_km"].to_list() == sorted(partial["distance_km"].to_list())
    assert partial.select("organization_id", "distance_km", "why").rows() == [
        ("ORG-c53322a13b44", 3.15, "活動内容: ひきこもり"),
        ("ORG-32f7d77001e9", 3.25, "支援の形態: 居場所づくり"),
        ("ORG-d0d289dd379a", 3.48, "活動内容: ひきこもり"),
        ("ORG-578643e419ee", 3.63, "支援の形態: 居場所づくり"),
        ("ORG-60089c0afcee", 4.19, "支援の形態: 居場所づくり"),
    ]


def test_no_full_match_anywhere_lists_partial_matches_nearest_first(ref_con):
    need = referral.Need(contents=("content:addiction",), forms=("form:nature_people",), targets=("target:foreign",))
    found = referral.find_referrals(ref_con, need, origin_at(ref_con, AYASE_TOWN), 5.0, TODAY)
    assert found.fallback
    assert not found.frame["full_match"].any()
    assert found.frame.select("organization_id", "distance_km", "facets_matched", "why").head(3).rows() == [
        ("ORG-678c6d13cf41", 0.56, 2, "活動内容: 依存症 / 対象者: 誰でも"),
        ("ORG-e07943c734dd", 5.5, 2, "支援の形態: 自然や人と接する機会 / 対象者: 誰でも"),
        ("ORG-d7823ae0a55d", 5.55, 2, "活動内容: 依存症 / 対象者: 誰でも"),
    ]


def test_age_is_a_soft_preference(ref_con):
    origin = origin_at(ref_con, AYASE_TOWN)
    plain = referral.find_referrals(ref_con, referral.Need(forms=("form:ibasho",)), origin, 5.0, TODAY)
    child = referral.find_referrals(ref_con, referral.Need(forms=("form:ibasho",), age=10), origin, 5.0, TODAY)
    # Same organisations (nothing filtered out), those for children (or anyone) first.
    assert sorted(plain.frame["organization_id"]) == sorted(child.frame["organization_id"])
    assert plain.frame["age_fit"].to_list() == [None] * plain.frame.height
    assert child.frame.select("organization_id", "distance_km", "age_fit").rows() == [
        ("ORG-32f7d77001e9", 3.25, True),
        ("ORG-578643e419ee", 3.63, True),
        ("ORG-60089c0afcee", 4.19, True),
        ("ORG-cc863fa52367", None, True),
        (TSUMUGI, 3.10, False),
        (SHIRASAGI, 3.53, False),
        (OHISAMA, None, False),
    ]


def test_unknown_city_leaves_coverage_open(ref_con):
    row = referral.town(ref_con, AYASE_TOWN)
    found = referral.find_referrals(
        ref_con, HIKIKOMORI_IBASHO, referral.Origin(row["latitude"], row["longitude"]), 5.0, TODAY
    )
    assert found.frame["covers_city"].to_list() == [None, None, None]


def test_target_anyone_fits_any_target_group(ref_con):
    need = referral.Need(contents=("content:hikikomori",), targets=("target:elderly",))
    found = referral.find_referrals(ref_con, need, origin_at(ref_con, AYASE_TOWN), 10.0, TODAY)
    assert found.frame.filter(pl.col("organization_id") == YORISOI)["why"].to_list() == [
        "活動内容: ひきこもり / 対象者: 高齢者・誰でも"
    ]


def test_stale_pins_are_flagged_against_today(ref_con):
    origin = origin_at(ref_con, AYASE_TOWN)
    fresh = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin, 5.0, dt.date(2025, 3, 31))
    later = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin, 5.0, dt.date(2026, 3, 31))
    assert fresh.frame.select("last_verified", "stale").rows() == [
        (dt.date(2025, 1, 5), False),
        (dt.date(2024, 11, 5), False),
        (None, None),
    ]
    assert later.frame["stale"].to_list() == [True, True, None]


def test_empty_need_is_refused(ref_con):
    with pytest.raises(ValueError, match="at least one"):
        referral.find_referrals(ref_con, referral.Need(age=30), origin_at(ref_con, AYASE_TOWN), 5.0, TODAY)


def test_nearest_town_and_reference_tables(ref_con, sample_con):
    assert referral.nearest_town(ref_con, 35.4372, 139.4270)["id"] == AYASE_TOWN
    assert referral.nearest_town(ref_con, 35.60, 139.60) is None
    assert referral.towns(ref_con, "ja").height == 16
    assert referral.city_outlines(ref_con).height == 4
    assert referral.towns(sample_con, "ja").is_empty()
    assert referral.nearest_town(sample_con, 35.4372, 139.4270) is None


def test_contacts_hold_public_fields_in_the_given_order(ref_con):
    rows = referral.contacts(ref_con, [SHIRASAGI, OHISAMA], "ja").to_dicts()
    assert [row["organization_id"] for row in rows] == [SHIRASAGI, OHISAMA]
    assert set(rows[0]) == {
        "organization_id", "name", "address", "phone", "fax", "hours", "languages", "accessibility", "service_area"
    }  # fmt: skip
    assert rows[0]["name"] == "(サンプル)しらさぎの会"
    assert rows[0]["phone"] == "046-013-0159"
    assert rows[0]["service_area"] == "海老名市・座間市・綾瀬市"


# --- the printable sheet -------------------------------------------------------------------------


def test_sheet_holds_ticked_contacts_and_notes_only(ref_con):
    origin = origin_at(ref_con, AYASE_TOWN)
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin, 5.0, TODAY)
    # Even rows that carry distance, match reasons and coverage print only the allowed contact fields.
    ticked = found.frame.filter(pl.col("organization_id").is_in([TSUMUGI, OHISAMA])).to_dicts()
    notes = {TSUMUGI: "火曜の午後が静かです <b>", OHISAMA: ""}
    sheet = build_sheet(ticked, notes, "ja", TODAY, issuer="綾瀬市 福祉総務課")
    contacts = {row["organization_id"]: row for row in referral.contacts(ref_con, [TSUMUGI, OHISAMA], "ja").to_dicts()}
    assert sheet.startswith("<!DOCTYPE html>")
    assert '<html lang="ja">' in sheet
    assert "@page { size: A4 portrait;" in sheet
    assert '"Noto Sans CJK JP"' in sheet
    assert "default-src 'none'" in sheet  # no scripts, no external requests
    assert "<title>ご紹介先のご案内</title>" in sheet
    assert "作成日: 令和7年3月31日（2025-03-31）" in sheet
    for org in contacts.values():
        assert f"{org['name']}</h2>" in sheet
        for field in ("address", "phone", "fax", "hours"):
            if org[field]:
                assert org[field] in sheet
    assert contacts[TSUMUGI]["phone"] == "046-097-4280"
    assert "火曜の午後が静かです &lt;b&gt;" in sheet
    assert "<b>" not in sheet
    assert "綾瀬市 福祉総務課" in sheet
    assert "(サンプル)しらさぎの会" not in sheet  # not ticked
    # Nothing about the resident: no town, no point, no distance, no need.
    row = referral.town(ref_con, AYASE_TOWN)
    for resident in (
        "中央テスト",
        str(row["latitude"]),
        str(row["longitude"]),
        "km",
        "支援の形態",
        "活動内容",
        "対象者",
        "3.1",
    ):
        assert resident not in sheet


def test_sheet_in_english_and_empty():
    sheet = build_sheet([], {}, "en", TODAY)
    assert '<html lang="en">' in sheet
    assert "<title>Where to go for support</title>" in sheet
    assert "Issued: 2025-03-31 (R7)" in sheet
    assert "No organisation chosen." in sheet


# --- map builder ---------------------------------------------------------------------------------


def test_lattice_is_regular_over_the_area():
    points = charts.lattice()
    assert points.height == 39 * 34
    assert points["latitude"].min() == 35.40 and points["latitude"].max() <= 35.54
    assert points["longitude"].min() == 139.35 and points["longitude"].max() <= 139.50
    first = points.filter(pl.col("id") == "0-0").row(0, named=True)
    east = points.filter(pl.col("id") == "0-1").row(0, named=True)
    north = points.filter(pl.col("id") == "1-0").row(0, named=True)
    for neighbour in (east, north):
        spacing = haversine_km(first["latitude"], first["longitude"], neighbour["latitude"], neighbour["longitude"])
        assert abs(spacing - 0.4) < 0.005


def test_selected_point_reads_the_lattice_layer_only():
    point = {"id": "3-4", "latitude": 35.41, "longitude": 139.37}
    assert (
        charts.selected_point(
            {"selection": {"indices": {charts.LATTICE_LAYER: [140]}, "objects": {charts.LATTICE_LAYER: [point]}}}
        )
        == point
    )
    assert (
        charts.selected_point({"selection": {"indices": {}, "objects": {charts.ORGS_LAYER: [{"name": "x"}]}}}) is None
    )
    assert charts.selected_point({"selection": {"indices": {}, "objects": {}}}) is None
    assert charts.selected_point(None) is None


def test_map_has_no_basemap_and_draws_layers(ref_con):
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 5.0, TODAY)
    deck = charts.referral_map(
        referral.directory_points(ref_con, "ja"),
        found.frame,
        {"latitude": 35.4372, "longitude": 139.4267},
        "ja",
        candidates=charts.lattice(),
        outlines=referral.city_outlines(ref_con),
        tiles=charts.DEFAULT_TILE_URL,
    )
    spec = json.loads(deck.to_json())
    assert deck.map_provider is None and "mapProvider" not in spec  # no basemap service
    assert deck.map_style is not None  # map_style=None would make the browser fetch Carto's style
    layers = {layer["id"]: layer for layer in spec["layers"]}
    tiles = [layer for layer in spec["layers"] if layer["@@type"] == "BitmapLayer"]
    assert len(tiles) == 25
    assert tiles[0]["image"] == "https://cyberjapandata.gsi.go.jp/xyz/pale/13/7266/3229.png"
    assert tiles[0]["onError"] == "@@=true"
    assert layers[charts.LATTICE_LAYER]["pickable"] is True
    assert len(layers[charts.LATTICE_LAYER]["data"]) == charts.lattice().height
    assert [row["tooltip"] for row in layers[charts.RESULTS_LAYER]["data"]] == [
        "1. (サンプル)ひきこもり家族会 つむぎの会（海老名市）",
        "2. (サンプル)しらさぎの会（海老名市）",
    ]
    assert layers[charts.ORIGIN_LAYER]["data"][0]["latitude"] == 35.4372
    outline = layers[charts.OUTLINE_LAYER]
    assert outline["@@type"] == "LineLayer" and outline["getColor"] == [60, 60, 60, 170]
    # Every edge of the four outlines, each ring closed: as many edges as vertices less one per ring.
    geometries = [json.loads(g) for g in referral.city_outlines(ref_con)["geometry_geojson"]]
    rings = [r for g in geometries for r in (g["coordinates"] if g["type"] == "Polygon" else sum(g["coordinates"], []))]
    assert len(outline["data"]) == sum(len(ring) - 1 for ring in rings) > 4
    # Every mapped organisation is drawn once: the two results plus all the others.
    assert len(layers[charts.ORGS_LAYER]["data"]) == referral.directory_points(ref_con, "ja").height - 2


# The mart's density grid, restated here: a plane tangent at 35.45°N, flat-top hexagons of 500 m radius.
GRID_X = 111320.0 * math.cos(math.radians(35.45))  # metres per degree of longitude
GRID_Y = 110574.0  # metres per degree of latitude
GRID_M = 500.0


def hex_centre(q: int, r: int) -> tuple[float, float]:
    """(x, y) metres of the centre of axial hexagon (q, r) on a flat-top grid."""
    return GRID_M * 1.5 * q, GRID_M * math.sqrt(3) * (r + q / 2)


def nearest_hexagon(lat: float, lng: float) -> tuple[int, int]:
    """The hexagon holding a point, found as the nearest centre (not by the mart's cube rounding)."""
    x, y = lng * GRID_X, lat * GRID_Y
    q0 = round(x / (GRID_M * 1.5))
    candidates = [
        (q, r)
        for q in range(q0 - 2, q0 + 3)
        for r in range(round(y / (GRID_M * math.sqrt(3)) - q / 2) - 2, round(y / (GRID_M * math.sqrt(3)) - q / 2) + 3)
    ]
    return min(candidates, key=lambda cell: math.dist((x, y), hex_centre(*cell)))


def test_directory_density_counts_the_points_per_hexagon(sample_con):
    points = referral.directory_points(sample_con, "ja")
    counts: dict[tuple[int, int], int] = {}
    for lat, lng in points.select("latitude", "longitude").iter_rows():
        cell = nearest_hexagon(lat, lng)
        counts[cell] = counts.get(cell, 0) + 1
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    cells = referral.directory_density(sample_con)
    assert cells.columns == ["cell_q", "cell_r", "longitude", "latitude", "orgs"]
    assert cells.select("cell_q", "cell_r", "orgs").rows() == [(q, r, n) for (q, r), n in expected]
    assert referral.mapped_count(sample_con) == points.height == sum(counts.values()) == 58
    for q, r, lng, lat, _ in cells.iter_rows():
        x, y = hex_centre(q, r)
        assert (lng, lat) == (pytest.approx(x / GRID_X, abs=1e-9), pytest.approx(y / GRID_Y, abs=1e-9))
    # The sample is far below the pin limit: its map keeps one pin per organisation.
    assert referral.mapped_count(sample_con) <= referral.PIN_LIMIT


def test_density_map_keeps_results_as_pins_under_the_lattice(ref_con):
    found = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 5.0, TODAY)
    cells = referral.directory_density(ref_con)
    deck = charts.referral_map(
        None,
        found.frame,
        {"latitude": 35.4372, "longitude": 139.4267},
        "ja",
        candidates=charts.lattice(),
        outlines=referral.city_outlines(ref_con),
        cells=cells,
    )
    spec = json.loads(deck.to_json())
    # Hexagons under the outlines and the clickable lattice; no organisation pins; results and origin on top.
    assert [layer["id"] for layer in spec["layers"]] == [
        charts.DENSITY_LAYER, charts.OUTLINE_LAYER, charts.LATTICE_LAYER, charts.RESULTS_LAYER, charts.RANKS_LAYER,
        charts.ORIGIN_LAYER,
    ]  # fmt: skip
    hexagons = spec["layers"][0]
    assert hexagons["@@type"] == "ColumnLayer" and hexagons["radius"] == 500 and hexagons["diskResolution"] == 6
    assert [row["tooltip"] for row in hexagons["data"]] == [f"この範囲の団体: {n}" for n in cells["orgs"]]
    assert [(row["lng"], row["lat"]) for row in hexagons["data"]] == [
        (round(lng, 6), round(lat, 6)) for lng, lat in cells.select("longitude", "latitude").iter_rows()
    ]
    # The busiest hexagon is darkest, the emptiest lightest.
    assert hexagons["data"][0]["fill"] == [*charts.DENSITY_COLOURS[-1], charts.DENSITY_ALPHA]
    assert hexagons["data"][-1]["fill"] == [*charts.DENSITY_COLOURS[0], charts.DENSITY_ALPHA]
    assert [row["tooltip"] for row in spec["layers"][3]["data"]] == [
        "1. (サンプル)ひきこもり家族会 つむぎの会（海老名市）",
        "2. (サンプル)しらさぎの会（海老名市）",
    ]
    with pytest.raises(ValueError):
        charts.referral_map(None, None, None, "ja")


def test_tile_url_from_environment(monkeypatch):
    monkeypatch.delenv(charts.TILE_ENV, raising=False)
    assert charts.tile_url() == charts.DEFAULT_TILE_URL
    monkeypatch.setenv(charts.TILE_ENV, "")
    assert charts.tile_url() is None
    monkeypatch.setenv(charts.TILE_ENV, "https://tiles.example.org/{z}/{x}/{y}.png")
    assert charts.tile_url() == "https://tiles.example.org/{z}/{x}/{y}.png"


# --- the page ------------------------------------------------------------------------------------


def open_page(warehouse: Path, monkeypatch) -> AppTest:
    """The app on the referral page, over the given warehouse."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    monkeypatch.setenv(charts.TILE_ENV, "")
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page("pages/referral.py").run()


def deck_spec(at: AppTest) -> dict:
    """The pydeck spec the page drew."""
    return json.loads(at.get("deck_gl_json_chart")[0].proto.json)


def test_page_from_a_town_to_a_printed_sheet(ref_warehouse, monkeypatch):
    at = open_page(ref_warehouse, monkeypatch)
    assert not at.exception
    assert at.title[0].value == "相談つなぎ"
    assert "保存されず" in at.info[0].value
    assert [i.value for i in at.info][1] == "活動内容・支援の形態・対象者のうち、少なくとも1つを選んでください。"
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.selectbox(key="referral_town__ja").set_value(AYASE_TOWN).run()
    assert not at.exception
    assert at.success[0].value == (
        "半径 5.0 km 以内に、条件をすべて満たす団体が 3 件（2 市）見つかりました。"
        "地図上の位置がない 1 件は距離がわからないため、最後に並べています。"
    )
    table = at.dataframe[0].value
    assert list(table["name"]) == [
        "(サンプル)ひきこもり家族会 つむぎの会",
        "(サンプル)しらさぎの会",
        "(サンプル)おひさまの会",
    ]
    assert list(table["city"]) == ["海老名市", "海老名市", "大和市"]
    assert list(table["phone"])[2] == MISSING  # おひさまの会 gives no phone: —, as every empty cell, not None
    assert list(table["covers_city"]) == [False, True, False]
    assert "age_fit" not in table.columns
    spec = deck_spec(at)
    assert {layer["id"] for layer in spec["layers"]} >= {charts.ORGS_LAYER, charts.RESULTS_LAYER, charts.ORIGIN_LAYER}
    assert charts.LATTICE_LAYER not in {layer["id"] for layer in spec["layers"]}
    assert not at.get("download_button")

    # A wider radius brings in 座間市.
    at.slider(key="referral_radius").set_value(10.0).run()
    assert list(at.dataframe[0].value["city"]) == ["海老名市", "海老名市", "座間市", "座間市", "大和市"]

    # Tick two organisations (rows 0 and 4), write a note, and the sheet is offered and previewed.
    at.session_state["referral_results"] = {"selection": {"rows": [0, 4], "columns": [], "cells": []}}
    at.run()
    assert [area.label for area in at.text_area] == [
        "メモ: (サンプル)ひきこもり家族会 つむぎの会",
        "メモ: (サンプル)おひさまの会",
    ]
    at.text_area(key=f"referral_note_{TSUMUGI}").input("火曜の午後に見学できます").run()
    assert not at.exception
    download = at.get("download_button")[0]
    assert download.proto.label == "紹介状をダウンロード（HTML）"
    assert download.proto.url.endswith(".html")
    sheet = at.get("iframe")[0].proto.srcdoc
    assert "(サンプル)ひきこもり家族会 つむぎの会</h2>" in sheet
    assert "(サンプル)おひさまの会</h2>" in sheet
    assert "(サンプル)しらさぎの会" not in sheet
    assert "火曜の午後に見学できます" in sheet
    assert "中央テスト" not in sheet and "綾瀬市　" not in sheet


def test_page_resolves_a_typed_address(ref_warehouse, monkeypatch):
    at = open_page(ref_warehouse, monkeypatch)
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.radio(key="referral_method__ja").set_value("address").run()
    at.text_input(key="referral_address").input("神奈川県綾瀬市中央テスト1-2-3").run()
    assert not at.exception
    assert at.success[0].value == "「綾瀬市　中央テスト一丁目」の代表点から探します。"
    assert at.dataframe[0].value["name"][0] == "(サンプル)ひきこもり家族会 つむぎの会"
    at.text_input(key="referral_address").input("横浜市中区日本大通1").run()
    assert at.warning[0].value.startswith("座間市・綾瀬市・大和市・海老名市のいずれかの市名から")
    assert not at.dataframe


def test_page_shows_the_fallback_note(ref_warehouse, monkeypatch):
    at = open_page(ref_warehouse, monkeypatch)
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.selectbox(key="referral_town__ja").set_value(AYASE_TOWN)
    at.slider(key="referral_radius").set_value(1.0).run()
    assert at.warning[0].value == (
        "半径 1.0 km 以内に、条件をすべて満たす団体はありません。代わりに、一部の条件に合う近い団体を 10 件表示します"
        "（合う条件の多い順、次に近い順）。"
    )
    assert at.dataframe[0].value.shape[0] == 10


def test_page_without_reference_works_from_a_map_click(sample_warehouse, monkeypatch):
    at = open_page(sample_warehouse, monkeypatch)
    assert not at.exception
    notice = at.info[1].value
    assert notice.startswith("参照地理データ（町丁目の代表点）が読み込まれていないため")
    # How to load the geography is for administrators (README), never told to a visitor.
    assert "--reference" not in notice and "README" not in notice
    assert [radio.key for radio in at.radio if radio.key.startswith("referral_method")] == []  # only the map is offered
    spec = deck_spec(at)
    lattice = next(layer for layer in spec["layers"] if layer["id"] == charts.LATTICE_LAYER)
    assert lattice["pickable"] is True
    # Inject a click on the lattice point nearest to the synthetic 綾瀬市 centre (as the browser would report it).
    lat, lng = 35.4372, 139.4267
    point = min(lattice["data"], key=lambda p: haversine_km(lat, lng, p["latitude"], p["longitude"]))
    index = lattice["data"].index(point)
    at.session_state["referral_map"] = {
        "selection": {"indices": {charts.LATTICE_LAYER: [index]}, "objects": {charts.LATTICE_LAYER: [point]}}
    }
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"]).run()
    assert not at.exception
    chosen = f"選んだ場所: 地図の点（緯度 {point['latitude']:.4f}、経度 {point['longitude']:.4f}）"
    assert chosen in [caption.value for caption in at.caption]
    table = at.dataframe[0].value
    assert list(table["name"])[:2] == ["(サンプル)ひきこもり家族会 つむぎの会", "(サンプル)しらさぎの会"]
    assert table["covers_city"].isna().all()  # no town list to guess the city: unknown until staff choose it
    at.selectbox(key=f"referral_click_city_{point['id']}__ja").set_value("14218").run()
    assert list(at.dataframe[0].value["covers_city"]) == [False, True, False]
    origin = next(layer for layer in deck_spec(at)["layers"] if layer["id"] == charts.ORIGIN_LAYER)
    assert (origin["data"][0]["latitude"], origin["data"][0]["longitude"]) == (point["latitude"], point["longitude"])
    # A click on an organisation afterwards keeps the chosen place.
    at.session_state["referral_map"] = {
        "selection": {"indices": {charts.ORGS_LAYER: [0]}, "objects": {charts.ORGS_LAYER: [{"tooltip": "x"}]}}
    }
    at.run()
    assert chosen in [caption.value for caption in at.caption]
    assert at.dataframe[0].value.shape[0] == 3


def test_page_draws_density_above_the_pin_limit(ref_warehouse, ref_con, monkeypatch):
    monkeypatch.setattr(referral, "PIN_LIMIT", 10)
    at = open_page(ref_warehouse, monkeypatch)
    assert not at.exception
    assert "地図上の位置がある団体が 58 団体あり、点で示せる上限（10 団体）を超えるため" in at.caption[1].value
    assert at.caption[2].value.startswith(
        "赤: お住まいの場所　青: 条件をすべて満たす団体　橙: 一部の条件に合う団体　緑の六角形:"
    )
    ids = [layer["id"] for layer in deck_spec(at)["layers"]]
    assert ids == [charts.DENSITY_LAYER, charts.OUTLINE_LAYER]  # hexagons and outlines only: no organisation pins
    hexagons = deck_spec(at)["layers"][0]["data"]
    assert sum(int(row["tooltip"].removeprefix("この範囲の団体: ")) for row in hexagons) == 58

    # The search and its ranking do not depend on how the map draws the other organisations.
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.selectbox(key="referral_town__ja").set_value(AYASE_TOWN).run()
    assert not at.exception
    expected = referral.find_referrals(ref_con, HIKIKOMORI_IBASHO, origin_at(ref_con, AYASE_TOWN), 5.0, TODAY).frame
    assert (
        at.session_state["referral_results_ids"]
        == expected["organization_id"].to_list()
        == [TSUMUGI, SHIRASAGI, OHISAMA]
    )
    assert list(at.dataframe[0].value["name"]) == expected["name"].to_list()
    layers = {layer["id"]: layer for layer in deck_spec(at)["layers"]}
    assert charts.ORGS_LAYER not in layers
    assert [row["tooltip"] for row in layers[charts.RESULTS_LAYER]["data"]] == [
        "1. (サンプル)ひきこもり家族会 つむぎの会（海老名市）",
        "2. (サンプル)しらさぎの会（海老名市）",
    ]

    # A click on a lattice dot still picks the resident's point; a click on a hexagon keeps it.
    at.radio(key="referral_method__ja").set_value("map").run()
    lattice = next(layer for layer in deck_spec(at)["layers"] if layer["id"] == charts.LATTICE_LAYER)
    assert [layer["id"] for layer in deck_spec(at)["layers"]][:3] == [
        charts.DENSITY_LAYER, charts.OUTLINE_LAYER, charts.LATTICE_LAYER
    ]  # fmt: skip
    lat, lng = 35.4372, 139.4267
    point = min(lattice["data"], key=lambda p: haversine_km(lat, lng, p["latitude"], p["longitude"]))
    at.session_state["referral_map"] = {
        "selection": {
            "indices": {charts.LATTICE_LAYER: [lattice["data"].index(point)]},
            "objects": {charts.LATTICE_LAYER: [point]},
        }
    }
    at.run()
    chosen = f"選んだ場所: 地図の点（緯度 {point['latitude']:.4f}、経度 {point['longitude']:.4f}）・最寄りの町丁目: "
    assert any(caption.value.startswith(chosen) for caption in at.caption)
    names = list(at.dataframe[0].value["name"])
    assert names[:2] == ["(サンプル)ひきこもり家族会 つむぎの会", "(サンプル)しらさぎの会"]
    at.session_state["referral_map"] = {
        "selection": {"indices": {charts.DENSITY_LAYER: [0]}, "objects": {charts.DENSITY_LAYER: [hexagons[0]]}}
    }
    at.run()
    assert not at.exception
    assert any(caption.value.startswith(chosen) for caption in at.caption)
    assert list(at.dataframe[0].value["name"]) == names


def test_page_keeps_every_choice_across_a_language_switch(ref_warehouse, monkeypatch):
    at = open_page(ref_warehouse, monkeypatch)
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.multiselect(key="referral_targets__ja").set_value(["target:youth"])
    at.selectbox(key="referral_town__ja").set_value(AYASE_TOWN).run()
    names = list(at.dataframe[0].value["name"])
    assert names
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.multiselect(key="referral_contents__en").value == ["content:hikikomori"]
    assert at.multiselect(key="referral_forms__en").value == ["form:ibasho"]
    assert at.multiselect(key="referral_targets__en").value == ["target:youth"]
    assert at.radio(key="referral_method__en").value == "town"
    assert at.selectbox(key="referral_town__en").value == AYASE_TOWN
    assert list(at.dataframe[0].value["name"]) == names
    at.radio(key="referral_method__en").set_value("address").run()
    at.radio(key="lang").set_value("ja").run()
    assert not at.exception
    assert at.radio(key="referral_method__ja").value == "address"
    assert at.session_state["referral_contents"] == ["content:hikikomori"]
    at.radio(key="referral_method__ja").set_value("town").run()
    assert at.selectbox(key="referral_town__ja").value == AYASE_TOWN
    assert list(at.dataframe[0].value["name"]) == names


def test_map_draws_the_radius_and_ranks_and_the_table_reads_without_scrolling(ref_warehouse, ref_con, monkeypatch):
    at = open_page(ref_warehouse, monkeypatch)
    at.multiselect(key="referral_contents__ja").set_value(["content:hikikomori"])
    at.multiselect(key="referral_forms__ja").set_value(["form:ibasho"])
    at.selectbox(key="referral_town__ja").set_value(AYASE_TOWN).run()
    assert not at.exception
    town = referral.town(ref_con, AYASE_TOWN)
    layers = {layer["id"]: layer for layer in deck_spec(at)["layers"]}
    ring = layers[charts.RADIUS_LAYER]
    assert ring["data"] == [{"latitude": town["latitude"], "longitude": town["longitude"]}]
    assert ring["getRadius"] == referral.DEFAULT_RADIUS_KM * 1000 and ring["pickable"] is False
    # The two located results carry their ranks; the third (no pin) is listed but not drawn.
    table = at.dataframe[0].value
    located = [i for i, km in enumerate(table["distance_km"]) if km != "—"]
    assert [r["rank"] for r in layers[charts.RANKS_LAYER]["data"]] == [str(i + 1) for i in located]
    assert [r["tooltip"].split(".")[0] for r in layers[charts.RESULTS_LAYER]["data"]] == [str(i + 1) for i in located]
    view = deck_spec(at)["initialViewState"]
    assert abs(view["latitude"] - town["latitude"]) < 1e-3 and abs(view["longitude"] - town["longitude"]) < 1e-3
    # The fields a referral needs come first; distance is "—" (never None) for the organisation without a pin.
    assert list(table.columns)[:5] == ["rank", "name", "distance_km", "phone", "last_verified"]
    assert list(table["rank"]) == [1, 2, 3]
    assert table["distance_km"][2] == "—" and table["name"][2] == "(サンプル)おひさまの会"
    assert all(re.fullmatch(r"\d+\.\d\d km", km) for km in table["distance_km"][:2])
    config = json.loads(at.dataframe[0].proto.columns)
    widths = {name: config[name].get("width") for name in ("rank", "name", "distance_km", "phone", "last_verified")}
    assert all(isinstance(width, int) for width in widths.values()), widths
    assert widths["name"] >= 15 * max(len(name) for name in table["name"])  # the longest name is not cut
    # Together they fit the main column of a 1440 px screen with the sidebar open (about 980 px).
    assert sum(widths.values()) <= 980
    at.radio(key="lang").set_value("en").run()
    assert at.dataframe[0].value["distance_km"][2] == "—"
