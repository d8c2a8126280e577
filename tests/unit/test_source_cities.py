"""cities.csv: populations filled onto the city vocabulary."""

from __future__ import annotations

import datetime as dt

import pytest

from etl.errors import SourceError
from etl.sources import cities

from .builders import cities_rows, write_csv

FILE = "cities.csv"


def run(tmp_path, ctx, rows=None):
    """Write the CSV, extract and transform it."""
    return cities.transform(cities.extract(write_csv(tmp_path / FILE, rows or cities_rows(), encoding="utf-8")), ctx)


def test_happy_path(tmp_path, ctx):
    result = run(tmp_path, ctx)
    assert result.rows_read == 4
    assert result.quarantine.height == 0
    assert result.tables["city"].to_dicts() == [
        {
            "code": "14213",
            "name_ja": "大和市",
            "name_en": "Yamato",
            "sort_order": 1,
            "population": 244000,
            "population_date": dt.date(2024, 1, 1),
            "_file": FILE,
            "_sheet": None,
            "_row": 2,
        },
        {
            "code": "14215",
            "name_ja": "海老名市",
            "name_en": "Ebina",
            "sort_order": 2,
            "population": 137000,
            "population_date": dt.date(2024, 1, 1),
            "_file": FILE,
            "_sheet": None,
            "_row": 3,
        },
        {
            "code": "14216",
            "name_ja": "座間市",
            "name_en": "Zama",
            "sort_order": 3,
            "population": 131000,
            "population_date": dt.date(2024, 1, 1),
            "_file": FILE,
            "_sheet": None,
            "_row": 4,
        },
        {
            "code": "14218",
            "name_ja": "綾瀬市",
            "name_en": "Ayase",
            "sort_order": 4,
            "population": 84000,
            "population_date": dt.date(2024, 1, 1),
            "_file": FILE,
            "_sheet": None,
            "_row": 5,
        },
    ]


def test_bad_rows_are_quarantined_and_their_city_keeps_the_seed(tmp_path, ctx):
    rows = cities_rows()
    rows[1] = ["14213", "大和市", "二十四万", "2024-01-01"]
    rows[2] = ["142158", "海老名市", "137000", "2024-01-01"]
    rows[3] = ["14216", "綾瀬市", "131000", "2024-01-01"]
    rows.append(["14218", "綾瀬市", "1", "2024-01-01"])
    result = run(tmp_path, ctx, rows)
    assert result.tables["city"].select("code", "population", "_file", "_row").rows() == [
        ("14213", None, "city.csv", 2),
        ("14215", 137000, FILE, 3),
        ("14216", None, "city.csv", 4),
        ("14218", 84000, FILE, 5),
    ]
    assert result.quarantine.select("row_number", "column_name", "value", "reason", "check_name").rows() == [
        (2, "人口", "二十四万", "数値として読めません「二十四万」 (not a number)", "normalise.count"),
        (
            4,
            "市名",
            "綾瀬市",
            "市区町村コードと市名が一致しません (city code and name disagree)",
            "rule.city_code_name",
        ),
        (6, "市区町村コード", "14218", "同じ市の行が重複しています (duplicate city)", "rule.duplicate"),
    ]


def test_missing_header_names_the_column(tmp_path):
    rows = cities_rows()
    rows[0] = ["市区町村コード", "市名", "住民数", "人口基準日"]
    with pytest.raises(SourceError) as error:
        cities.extract(write_csv(tmp_path / FILE, rows, encoding="utf-8"))
    assert str(error.value) == f"{FILE}, column 人口: 必須の見出し「人口」がありません (missing required column)"
    assert (error.value.file, error.value.column) == (FILE, "人口")


def test_encoding_is_reported(tmp_path):
    path = write_csv(tmp_path / FILE, cities_rows(), encoding="cp932")
    assert cities.encoding(path) == "cp932"
