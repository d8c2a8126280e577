"""transform_bundle: every source in order, organisations updated from the survey, file lineage."""

from __future__ import annotations

import hashlib
import zipfile

import polars as pl
import pytest

from etl import years
from etl.errors import SourceError
from etl.sources import SOURCES, FileStat, transform_bundle
from etl.sources.base import QUARANTINE_SCHEMA, TABLE_SCHEMAS, YEAR_COLUMNS
from etl.vocab import LINEAGE, SEED_FILES

from .builders import ROOT, SEEDS, survey_header, survey_row, write_bundle, write_csv

SAMPLE = ROOT / "data" / "sample"


def test_sources_in_load_order():
    assert [m.KIND for m in SOURCES] == ["cities", "distribution", "survey", "mymaps", "events", "progress", "targets"]
    for module in SOURCES:
        assert module.FILE_NAME and callable(module.extract) and callable(module.transform)


def test_tiny_bundle(tmp_path):
    bundle = transform_bundle(write_bundle(tmp_path / "bundle"), SEEDS)
    # The year tables come from etl.years, which merges the bundles of a source folder's years.
    assert sorted(bundle.tables) == sorted(set(TABLE_SCHEMAS) - {years.BUNDLE_TABLE, years.YEAR_ORGANIZATIONS})
    for name, frame in bundle.tables.items():
        columns = {column: dtype for column, dtype in TABLE_SCHEMAS[name].items() if column not in YEAR_COLUMNS}
        assert frame.schema == pl.Schema(columns | LINEAGE), name
    assert bundle.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert bundle.quarantine.height == 0
    assert bundle.tables["organization"].select(
        "name_key", "survey_answered", "pf_intent_code", "has_isolation_initiative"
    ).rows() == [
        ("サンプルさくら", True, "join", True),
        ("サンプルひかり会", False, None, None),
        ("サンプルあおぞらの会", False, None, None),
    ]
    assert bundle.tables["city"]["population"].to_list() == [244000, 137000, 131000, 84000]
    assert bundle.tables["location"]["organization_id"].to_list() == bundle.tables["organization"]["id"].to_list()[:1]
    kinds = [(f.file_name, f.kind, f.encoding, f.rows_read, f.rows_loaded, f.rows_quarantined) for f in bundle.files]
    assert kinds == [
        *[
            (file, "seed", "utf-8", n, n, 0)
            for file, n in zip(SEED_FILES.values(), [4, 9, 4, 3, 24, 10, 8, 4, 10, 4], strict=True)
        ],
        ("cities.csv", "cities", "utf-8", 4, 4, 0),
        ("distribution_list.xlsx", "distribution", None, 4, 4, 0),
        ("survey_answers.csv", "survey", "cp932", 1, 1, 0),
        ("resource_map.kmz", "mymaps", None, 1, 1, 0),
        ("events.xlsx", "events", None, 14, 14, 0),
        ("pf_progress.xlsx", "progress", None, 4, 4, 0),
        ("kpi_targets.csv", "targets", "utf-8", 1, 1, 0),
    ]
    survey_file = next(f for f in bundle.files if f.kind == "survey")
    data = survey_file.path.read_bytes()
    assert survey_file == FileStat(
        "survey_answers.csv", "survey", survey_file.path, hashlib.sha256(data).hexdigest(), len(data), "cp932", 1, 1, 0
    )


def test_quarantined_rows_are_counted_once_per_row(tmp_path):
    source = write_bundle(tmp_path / "bundle")
    write_csv(
        source / "survey_answers.csv",
        [
            survey_header(),
            # Two required values bad: one row set aside, two records.
            survey_row("2025/13/45 10:23:45", "（サンプル）NPO法人 さくら", city="横浜市"),
            survey_row("2025/01/16 10:00:00", "（サンプル）あおぞらの会", city="大和市"),
        ],
    )
    bundle = transform_bundle(source, SEEDS)
    stat = next(f for f in bundle.files if f.kind == "survey")
    assert (stat.rows_read, stat.rows_loaded, stat.rows_quarantined) == (2, 1, 1)
    assert bundle.quarantine.select("row_number", "column_name", "scope").rows() == [
        (2, "所在市", "row"),
        (2, "タイムスタンプ", "row"),
    ]
    assert bundle.tables["organization"].filter(pl.col("survey_answered"))["name_key"].to_list() == [
        "サンプルあおぞらの会"
    ]


def test_unknown_labels_of_a_multi_answer_cell_are_cell_records_and_the_answer_stays(tmp_path):
    source = write_bundle(tmp_path / "bundle")
    write_csv(
        source / "survey_answers.csv",
        [
            survey_header(),
            survey_row("2025/01/15 10:23:45", "（サンプル）NPO法人 さくら", form="宇宙旅行", target="宇宙人"),
            survey_row("2025/01/16 10:00:00", "（サンプル）あおぞらの会", city="大和市"),
        ],
    )
    bundle = transform_bundle(source, SEEDS)
    stat = next(f for f in bundle.files if f.kind == "survey")
    assert (stat.rows_read, stat.rows_loaded, stat.rows_quarantined) == (2, 2, 0)
    assert bundle.quarantine.select("row_number", "column_name", "value", "scope").rows() == [
        (2, "支援の形態（当てはまるものをすべて選択してください）", "宇宙旅行", "cell"),
        (2, "主な対象者（当てはまるものをすべて選択してください）", "宇宙人", "cell"),
    ]
    assert sorted(bundle.tables["organization"].filter(pl.col("survey_answered"))["name_key"].to_list()) == sorted(
        ["サンプルさくら", "サンプルあおぞらの会"]
    )


def test_plain_kml_is_accepted(tmp_path):
    source = write_bundle(tmp_path / "bundle")
    with zipfile.ZipFile(source / "resource_map.kmz") as archive:
        (source / "resource_map.kml").write_bytes(archive.read("doc.kml"))
    (source / "resource_map.kmz").unlink()
    bundle = transform_bundle(source, SEEDS)
    assert [f.file_name for f in bundle.files if f.kind == "mymaps"] == ["resource_map.kml"]
    assert bundle.tables["location"].height == 1


@pytest.mark.parametrize("missing", ["cities.csv", "distribution_list.xlsx", "resource_map.kmz", "pf_progress.xlsx"])
def test_missing_source_file(tmp_path, missing):
    source = write_bundle(tmp_path / "bundle")
    (source / missing).unlink()
    with pytest.raises(SourceError) as error:
        transform_bundle(source, SEEDS)
    assert str(error.value) == f"{missing}: ファイルがありません (file not found)"


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="data/sample has not been generated")
def test_sample_bundle():
    bundle = transform_bundle(SAMPLE, SEEDS)
    assert bundle.tables["organization"].height == 157
    assert bundle.tables["organization_source"].height == 171
    assert bundle.tables["survey_response"].height == 63
    assert bundle.tables["organization"]["survey_answered"].sum() == 63
    assert bundle.tables["location"].height == 150
    assert bundle.quarantine.height == 0
    assert all(f.rows_read == f.rows_loaded for f in bundle.files)
