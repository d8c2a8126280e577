"""Page table downloads carry the 年度 of the data they show (issue #22): label and fiscal_year appended last."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from test_access import RecordingManager

from dashboard.downloads import BOM, YearColumns, csv_bytes, year_columns

APP = "../dashboard/app.py"


def read_csv(data: bytes) -> list[list[str]]:
    """Rows of a page CSV (BOM, CRLF)."""
    assert data.startswith(BOM) and b"\r\n" in data
    return list(csv.reader(io.StringIO(data[len(BOM) :].decode("utf-8"), newline="")))


@pytest.fixture()
def years_con(years_warehouse):
    """Read-only connection to the two-year warehouse."""
    con = duckdb.connect(str(years_warehouse), read_only=True)
    yield con
    con.close()


def test_a_flat_bundle_is_r6_in_both_languages(sample_con):
    assert year_columns(sample_con, "ja") == YearColumns(2024, "R6年度", "年度")
    assert year_columns(sample_con, "en") == YearColumns(2024, "FY2024", "Fiscal year")


def test_two_years_show_the_latest_unless_the_connection_reads_one(years_bundle, years_warehouse, years_con, tmp_path):
    _, manifest = years_bundle
    years = sorted(manifest["fiscal_years"].values())
    assert year_columns(years_con, "ja").fiscal_year == years[-1]
    # A reader that shows only the earlier year's rows (as the 年度 selector's reader does) gets that year.
    with duckdb.connect(str(tmp_path / "scoped.duckdb")) as scoped:
        scoped.execute("attach ? as stored (read_only)", [str(years_warehouse)])
        scoped.execute(
            "create table organization_year as select * from stored.organization_year where fiscal_year = ?", [years[0]]
        )
        # The bundle's list of years stays whole: the rows read decide, not the bookkeeping.
        scoped.execute("create table fiscal_year_bundle as select * from stored.fiscal_year_bundle")
        scoped.execute("detach stored")
        assert year_columns(scoped, "ja") == YearColumns(years[0], "R6年度", "年度")


def test_csv_appends_the_year_after_the_table_columns():
    frame = pl.DataFrame({"市": ["大和市", "座間市"], "団体数": [45, 30]})
    rows = read_csv(csv_bytes(frame, YearColumns(2025, "R7年度", "年度")))
    assert rows == [
        ["市", "団体数", "年度", "fiscal_year"],
        ["大和市", "45", "R7年度", "2025"],
        ["座間市", "30", "R7年度", "2025"],
    ]
    assert csv_bytes(frame) == csv_bytes(frame, None), "without a year the CSV is as before"


def served(at: AppTest, file_name: str) -> bytes:
    """The bytes the page's download button named file_name serves (a deferred one made as a click does)."""
    manager = RecordingManager.latest
    for button in at.get("download_button"):
        proto = button.proto
        url = manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
        stored = manager.storage.get_file(Path(url).stem)
        if stored.filename == file_name:
            return stored.content
    raise AssertionError(f"no download named {file_name}")


@pytest.mark.parametrize("which", ["sample", "two years"])
def test_home_kpi_download_ends_with_the_year_it_shows(which, request, monkeypatch, tmp_path):
    warehouse = request.getfixturevalue("sample_warehouse" if which == "sample" else "years_warehouse")
    if which == "sample":
        expected = (2024, "R6年度")
    else:
        _, manifest = request.getfixturevalue("years_bundle")
        latest = max(manifest["fiscal_years"].values())
        expected = (latest, f"R{latest - 2018}年度")
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", RecordingManager)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    rows = read_csv(served(at, "tsunagari_kpis.csv"))
    assert rows[0][-2:] == ["年度", "fiscal_year"]
    assert len(rows) > 2 and {(int(row[-1]), row[-2]) for row in rows[1:]} == {expected}


@pytest.mark.parametrize("which", ["sample", "two years"])
def test_map_list_and_geojson_carry_the_year_the_map_shows(which, request, monkeypatch, tmp_path):
    warehouse = request.getfixturevalue("sample_warehouse" if which == "sample" else "years_warehouse")
    if which == "sample":
        year = 2024
    else:
        _, manifest = request.getfixturevalue("years_bundle")
        year = max(manifest["fiscal_years"].values())
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_TILE_URL", raising=False)
    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", RecordingManager)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at = at.switch_page("pages/resource_map.py").run()
    assert not at.exception
    rows = read_csv(served(at, "tsunagari_resource_map.csv"))
    assert rows[0][-2:] == ["年度", "fiscal_year"]
    assert {(row[-2], int(row[-1])) for row in rows[1:]} == {(f"R{year - 2018}年度", year)}
    features = json.loads(served(at, "tsunagari_resource_map.geojson"))["features"]
    assert len(features) == len(rows) - 1
    assert {(f["properties"]["fiscal_year"], f["properties"]["fiscal_year_label"]) for f in features} == {
        (year, f"R{year - 2018}年度")
    }
