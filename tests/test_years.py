"""Fiscal years (issue #22, stage 1): year folders, continuity from the raw files, latest-year marts, flat bundles."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from common.calendar import fiscal_year_label, fiscal_year_of_folder
from common.text import nfkc
from data import generate_years
from etl import years
from etl.errors import EtlError
from etl.pipeline import SEEDS_DIR

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
# Columns a merged (two-year) warehouse has other values in than a build of the latest year alone.
YEAR_COLUMNS = ("fiscal_year", "first_fiscal_year")


@pytest.fixture(scope="module")
def two_years(years_bundle, years_build):
    """The generated two-year bundle, its manifest and its warehouse (conftest's shared build)."""
    return years_bundle[0], years_bundle[1], years_build


@pytest.fixture()
def con(two_years):
    """Read-only connection to the two-year warehouse."""
    connection = duckdb.connect(str(two_years[2].warehouse), read_only=True)
    yield connection
    connection.close()


def city_codes() -> dict[str, str]:
    """City name → code, from the seed."""
    with (SEEDS_DIR / "city.csv").open(encoding="utf-8", newline="") as handle:
        return {row["ja"]: row["code"] for row in csv.DictReader(handle)}


def test_folder_names_give_fiscal_years():
    assert [
        fiscal_year_of_folder(n) for n in ("R6", "r7", "Ｒ７", "令和6年度", "R6年度", "2024", "FY2025", "2024年度")
    ] == [
        2024,
        2025,
        2025,
        2024,
        2024,
        2024,
        2025,
        2024,
    ]
    assert fiscal_year_of_folder("reference") is None and fiscal_year_of_folder("old") is None
    assert (fiscal_year_label(2024), fiscal_year_label(2025, "en")) == ("R6年度", "FY2025")


def test_flat_bundle_is_one_default_year(monkeypatch):
    monkeypatch.delenv(years.FISCAL_YEAR_ENV, raising=False)
    assert years.year_folders(SAMPLE) == [years.YearFolder(2024, SAMPLE, None, "default")]
    monkeypatch.setenv(years.FISCAL_YEAR_ENV, "R7")
    assert years.year_folders(SAMPLE)[0].fiscal_year == 2025
    monkeypatch.setenv(years.FISCAL_YEAR_ENV, "next year")
    with pytest.raises(EtlError, match=years.FISCAL_YEAR_ENV):
        years.year_folders(SAMPLE)


def test_year_folders_are_sorted_and_checked(tmp_path):
    for name in ("R7", "2024", "notes"):
        (tmp_path / name).mkdir()
    found = years.year_folders(tmp_path)
    assert [(y.fiscal_year, y.folder, y.year_from) for y in found] == [(2024, "2024", "folder"), (2025, "R7", "folder")]
    (tmp_path / "令和7年度").mkdir()
    with pytest.raises(EtlError, match="same fiscal year 2025"):
        years.year_folders(tmp_path)
    (tmp_path / "令和7年度").rmdir()
    shutil.copy(SAMPLE / "events.xlsx", tmp_path / "events.xlsx")
    with pytest.raises(EtlError, match="events.xlsx"):
        years.year_folders(tmp_path)


def test_generator_is_deterministic_and_keeps_r6(tmp_path, two_years):
    bundle, manifest, _ = two_years
    again = generate_years.generate(tmp_path / "again")
    assert again == manifest
    for path in sorted(bundle.rglob("*")):
        if path.is_file():
            assert (tmp_path / "again" / path.relative_to(bundle)).read_bytes() == path.read_bytes(), path
    for path in sorted(SAMPLE.iterdir()):
        assert (bundle / "R6" / path.name).read_bytes() == path.read_bytes(), path.name


def test_continuity_counts_equal_the_manifest(con, two_years, sample_con):
    counts = two_years[1]["counts"]
    codes = city_codes()
    rows = con.execute(
        "select city_code, continuing, new, gone, organisations_listed, previous_fiscal_year "
        "from mart_year_continuity where fiscal_year = 2025"
    ).fetchall()
    by_city = {city: figures for city, *figures in rows}
    assert by_city[None] == [
        counts["continuing"],
        counts["new"],
        counts["gone"],
        counts["continuing"] + counts["new"],
        2024,
    ]
    for city, expected in counts["per_city"].items():
        assert by_city[codes[city]][:3] == [expected["continuing"], expected["new"], expected["gone"]], city
    moved = con.execute(
        "select sum(moved_in), sum(moved_out) from mart_year_continuity where fiscal_year = 2025 and city_code is not null"
    ).fetchone()
    assert moved == (counts["moved"], counts["moved"])
    # The bundle's first year has nothing to compare with: every organisation of the R6 sample is just listed.
    (r6_listed,) = sample_con.execute(
        "select organisations_distributed from mart_city_kpis where city_code is null"
    ).fetchone()
    assert con.execute(
        "select sum(continuing + new + gone), sum(organisations_listed) from mart_year_continuity "
        "where fiscal_year = 2024 and city_code is null"
    ).fetchone() == (0, r6_listed)


def test_renamed_organisation_counts_as_continuing(con, two_years):
    renamed = [row for row in two_years[1]["continuing"] if row["change"].startswith("renamed")]
    kinds = {row["change"] for row in renamed}
    assert {"renamed:kabu", "renamed:widespace"} <= kinds
    # 株式会社 ↔ （株） differs even after NFKC: only the legal-form words of the matching key join the two.
    assert any(nfkc(row["r6_name"]) != nfkc(row["r7_name"]) for row in renamed if row["change"] == "renamed:kabu")
    for row in renamed:
        assert row["r6_name"] != row["r7_name"]
        ids = [
            con.execute(
                "select distinct organization_id from organization_source where fiscal_year = ? and name_as_listed = ?",
                [year, name],
            ).fetchall()
            for year, name in ((2024, row["r6_name"]), (2025, row["r7_name"]))
        ]
        assert ids[0] == ids[1] and len(ids[0]) == 1, row
        status = con.execute(
            "select continuity from mart_year_org_status where fiscal_year = 2025 and organization_id = ?", ids[0][0]
        ).fetchone()
        assert status == ("continuing",), row
        first_last = con.execute(
            "select first_fiscal_year, last_fiscal_year from organization where id = ?", ids[0][0]
        ).fetchone()
        assert first_last == (2024, 2025)


def test_lineage_records_each_files_year(con, two_years):
    run_id = two_years[2].run_id
    files = con.execute(
        "select file_name, fiscal_year, fiscal_year_from from etl_source_file where run_id = ? and kind <> 'seed'",
        [run_id],
    ).fetchall()
    names = sorted(path.name for path in SAMPLE.iterdir())
    assert sorted(files) == sorted(
        [(f"R6/{name}", 2024, "folder") for name in names] + [(f"R7/{name}", 2025, "folder") for name in names]
    )
    assert con.execute("select * from fiscal_year_bundle order by 1").fetchall() == [
        (2024, "R6", "folder", False),
        (2025, "R7", "folder", True),
    ]


def test_year_survey_matches_each_years_raw_answers(con, two_years, sample_con):
    bundle = two_years[0]
    for year, folder in ((2024, "R6"), (2025, "R7")):
        with (bundle / folder / "survey_answers.csv").open(encoding="cp932", newline="") as handle:
            answers = sum(1 for _ in csv.DictReader(handle))
        assert con.execute(
            "select organisations_answered from mart_year_survey where fiscal_year = ? and city_code is null", [year]
        ).fetchone() == (answers,)
    # R6 per year equals what the single-year sample shows, city by city.
    assert (
        con.execute(
            "select city_code, organisations_distributed, organisations_answered, response_rate_pct "
            "from mart_year_survey where fiscal_year = 2024 order by city_code nulls first"
        ).fetchall()
        == sample_con.execute(
            "select city_code, organisations_distributed, organisations_answered, response_rate_pct "
            "from mart_city_kpis order by city_code nulls first"
        ).fetchall()
    )


def test_existing_marts_show_the_latest_year(two_years, r7_alone_build):
    """Every mart but mart_year_* equals a build of the R7 folder alone, apart from the year columns."""
    alone = r7_alone_build
    with duckdb.connect(str(two_years[2].warehouse), read_only=True) as merged:
        merged.execute("attach ? as alone (read_only)", [str(alone.warehouse)])
        marts = merged.execute(
            # The latest year's marts (main, pii); the earlier years' (fy2024, fy2024_pii): tests/test_year_scope.py.
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema in ('main', 'pii') "
            "and table_name like 'mart\\_%' escape '\\' and table_name not like 'mart\\_year\\_%' escape '\\'"
        ).fetchall()
        assert len(marts) > 20
        for schema, table in marts:
            columns = [
                name
                for (name,) in merged.execute(
                    "select column_name from information_schema.columns where table_catalog = current_database() "
                    "and table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in YEAR_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            here, there = f'"{schema}"."{table}"', f'alone."{schema}"."{table}"'
            differ = merged.execute(
                f"select count(*) from ((select {listed} from {here} except all select {listed} from {there}) "
                f"union all (select {listed} from {there} except all select {listed} from {here}))"
            ).fetchone()[0]
            assert differ == 0, f"{schema}.{table}"


def test_flat_bundle_records_its_default_year(sample_con, sample_build):
    assert sample_con.execute(
        "select distinct fiscal_year, fiscal_year_from from etl_source_file where run_id = ? and kind <> 'seed'",
        [sample_build.run_id],
    ).fetchall() == [(2024, "default")]
    assert sample_con.execute("select * from fiscal_year_bundle").fetchall() == [(2024, None, "default", True)]
    assert sample_con.execute("select min(first_fiscal_year), max(last_fiscal_year) from organization").fetchone() == (
        2024,
        2024,
    )


def test_manifest_is_json_on_disk(two_years):
    on_disk = json.loads((two_years[0] / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["counts"]["continuing"] == two_years[1]["counts"]["continuing"]
