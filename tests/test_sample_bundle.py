"""The committed sample bundle is reproducible and carries the figures it promises."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
FILES = (
    "cities.csv",
    "distribution_list.xlsx",
    "events.xlsx",
    "kpi_targets.csv",
    "pf_progress.xlsx",
    "resource_map.kmz",
    "survey_answers.csv",
)
SHEETS = ["座間市", "綾瀬市", "大和市", "海老名市", "自主調査"]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The bundle generated afresh into a temporary directory."""
    out = tmp_path_factory.mktemp("sample")
    subprocess.run(
        [sys.executable, "-m", "data.generate_sample", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def _distribution_rows() -> list[tuple[str, tuple]]:
    """(sheet, row) for every data row of distribution_list.xlsx."""
    workbook = openpyxl.load_workbook(SAMPLE / "distribution_list.xlsx", read_only=True)
    rows = [
        (sheet.title, row)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(min_row=2, values_only=True)
        if row[1] is not None
    ]
    workbook.close()
    return rows


def test_sample_holds_exactly_the_bundle_files():
    assert sorted(path.name for path in SAMPLE.iterdir()) == sorted(FILES)


@pytest.mark.parametrize("name", FILES)
def test_regeneration_is_byte_identical(regenerated: Path, name: str):
    assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes()


def test_distribution_list_has_171_rows_on_the_five_lists():
    workbook = openpyxl.load_workbook(SAMPLE / "distribution_list.xlsx", read_only=True)
    assert workbook.sheetnames == SHEETS
    workbook.close()
    rows = _distribution_rows()
    assert len(rows) == 171
    assert all(row[1].startswith("（サンプル）") for _, row in rows)


def test_survey_answers_are_cp932_crlf_with_63_rows():
    raw = (SAMPLE / "survey_answers.csv").read_bytes()
    text = raw.decode("cp932")
    assert raw.count(b"\r\n") == raw.count(b"\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][0] == "タイムスタンプ"
    assert len(rows) - 1 == 63
    assert len({row[1] for row in rows[1:]}) == 63


def test_resource_map_has_a_pin_per_organisation_with_an_address():
    with zipfile.ZipFile(SAMPLE / "resource_map.kmz") as archive:
        kml = archive.read("doc.kml").decode("utf-8")
    assert kml.count("<Folder>") == 4
    # 157 organisations, 7 of which have no street address.
    assert kml.count("<Placemark>") == 150
    for lng, lat in re.findall(r"([\d.]+),([\d.]+),0", kml):
        assert 35.40 <= float(lat) <= 35.54 and 139.35 <= float(lng) <= 139.50


def test_events_attendance_matches_the_report():
    workbook = openpyxl.load_workbook(SAMPLE / "events.xlsx", read_only=True)
    roster = list(workbook["参加者名簿"].iter_rows(min_row=2, values_only=True))
    attendance = list(workbook["出欠"].iter_rows(min_row=2, values_only=True))
    workbook.close()
    consultees = {pid for pid, _, kind in roster if kind == "相談者"}
    assert len(roster) == 60
    assert len(attendance) == 102
    assert len({pid for pid, _, _ in attendance}) == 60
    assert sum(pid in consultees for pid, _, _ in attendance) == 50
