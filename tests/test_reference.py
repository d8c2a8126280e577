"""Reference geography: parsing, loading into the warehouse, and the official files when configured."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import duckdb
import pytest

from etl import reference
from etl.errors import SourceError
from etl.pipeline import SEEDS_DIR
from etl.vocab import Vocabulary

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SYNTHETIC = Path(__file__).parent / "fixtures" / "reference"
OFFICIAL = Path(os.environ.get("TSUNAGARI_TEST_REFERENCE", ROOT.parent / "shared" / "reference"))


@pytest.fixture(scope="module")
def vocab():
    """Vocabulary from the seeds."""
    return Vocabulary.load(SEEDS_DIR)


def test_parse_towns_keeps_points_and_quarantines_missing_coordinates():
    data = json.dumps(
        [
            {"town": "中央一丁目", "koaza": "", "lat": 35.48, "lng": 139.45, "zip": "2420021"},
            {"town": "上和田", "koaza": "字東", "lat": 35.43, "lng": 139.47},
            {"town": "基地内", "koaza": "", "lat": None, "lng": None},
        ],
        ensure_ascii=False,
    ).encode()
    towns, bad = reference.parse_towns(data, "towns/大和市.json", "14213")
    assert towns.drop("_file", "_sheet", "_row").to_dicts() == [
        {
            "id": "14213:中央一丁目",
            "city_code": "14213",
            "town": "中央一丁目",
            "koaza": None,
            "name": "中央一丁目",
            "latitude": 35.48,
            "longitude": 139.45,
            "postal_code": "2420021",
        },
        {
            "id": "14213:上和田字東",
            "city_code": "14213",
            "town": "上和田",
            "koaza": "字東",
            "name": "上和田字東",
            "latitude": 35.43,
            "longitude": 139.47,
            "postal_code": None,
        },
    ]
    assert bad.to_dicts() == [
        {
            "file_name": "towns/大和市.json",
            "sheet": None,
            "row_number": 3,
            "column_name": "lat",
            "value": "基地内",
            "reason": "代表点の座標がありません (town has no coordinates)",
            "check_name": "reference.town",
            "scope": "row",
            "root_cause": None,
            "dependants": None,
        }
    ]


def test_parse_towns_rejects_non_array():
    with pytest.raises(SourceError) as failure:
        reference.parse_towns(b'{"towns": []}', "towns/座間市.json", "14216")
    assert (
        str(failure.value)
        == "towns/座間市.json: 町丁目の一覧（JSON 配列）ではありません (expected a JSON array of towns)"
    )


def test_parse_boundaries_from_zip_merges_parts_and_ignores_other_cities():
    square = [[[139.0, 35.0], [139.1, 35.0], [139.1, 35.1], [139.0, 35.0]]]
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"N03_004": "座間市", "N03_007": "14216"},
                "geometry": {"type": "Polygon", "coordinates": square},
            },
            {
                "type": "Feature",
                "properties": {"N03_004": "座間市", "N03_007": "14216"},
                "geometry": {"type": "Polygon", "coordinates": square},
            },
            {
                "type": "Feature",
                "properties": {"N03_004": "横浜市", "N03_007": "14100"},
                "geometry": {"type": "Polygon", "coordinates": square},
            },
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("N03-20240101_14.geojson", json.dumps(collection))
        archive.writestr("N03-20240101_14.shp", b"binary")
    frame = reference.parse_boundaries(buffer.getvalue(), "boundaries/n03.zip", {"14216", "14213"})
    assert frame.select("city_code", "name").to_dicts() == [{"city_code": "14216", "name": "座間市"}]
    assert json.loads(frame["geometry_geojson"][0]) == {"type": "MultiPolygon", "coordinates": [square, square]}


def test_load_synthetic_directory(vocab):
    loaded = reference.load(SYNTHETIC, vocab)
    assert loaded.tables["ref_town"].height == 16
    assert loaded.quarantine.height == 4
    assert sorted(loaded.tables["ref_city_boundary"]["city_code"]) == ["14213", "14215", "14216", "14218"]
    assert loaded.tables["ref_source"].select("dataset", "credit").to_dicts() == [
        {"dataset": "towns", "credit": reference.CREDITS["towns"][1]},
        {"dataset": "boundaries", "credit": reference.CREDITS["boundaries"][1]},
    ]


def test_missing_directory_is_a_clear_error(vocab, tmp_path):
    with pytest.raises(SourceError) as failure:
        reference.load(tmp_path / "nowhere", vocab)
    assert "reference directory not found" in str(failure.value)


def test_build_without_reference_has_empty_geography(sample_con):
    assert sample_con.execute(
        "select (select count(*) from ref_town), (select count(*) from ref_city_boundary), (select count(*) from ref_source)"
    ).fetchone() == (0, 0, 0)


def test_build_with_synthetic_reference(reference_build):
    result = reference_build
    con = duckdb.connect(str(result.warehouse), read_only=True)
    assert con.execute("select count(*) from ref_town").fetchone() == (16,)
    assert con.execute(
        "select file_name, kind, rows_read, rows_loaded, rows_quarantined from etl_source_file "
        "where kind = 'reference' order by file_name"
    ).fetchall() == [
        ("boundaries/synthetic_squares.geojson", "reference", 4, 4, 0),
        ("towns/大和市.json", "reference", 5, 4, 1),
        ("towns/座間市.json", "reference", 5, 4, 1),
        ("towns/海老名市.json", "reference", 5, 4, 1),
        ("towns/綾瀬市.json", "reference", 5, 4, 1),
    ]
    con.close()


def test_fetch_offline_fails_cleanly(vocab, tmp_path):
    with pytest.raises(OSError):
        reference.fetch(
            tmp_path / "cache",
            vocab,
            towns_url="http://127.0.0.1:9/{pref}/{city}.json",
            n03_url="http://127.0.0.1:9/n03.zip",
        )
    assert list((tmp_path / "cache" / "towns").glob("*.json")) == []


@pytest.mark.skipif(not (OFFICIAL / "towns").is_dir(), reason="official reference directory not configured")
def test_official_reference_directory(official_build):
    result = official_build
    con = duckdb.connect(str(result.warehouse), read_only=True)
    assert con.execute("select city_code, count(*) from ref_town group by 1 order by 1").fetchall() == [
        ("14213", 122),
        ("14215", 103),
        ("14216", 67),
        ("14218", 118),
    ]
    assert con.execute("select city_code, name from ref_city_boundary order by 1").fetchall() == [
        ("14213", "大和市"),
        ("14215", "海老名市"),
        ("14216", "座間市"),
        ("14218", "綾瀬市"),
    ]
    con.close()
