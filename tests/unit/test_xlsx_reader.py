"""The calamine reader gives exactly the raw frames openpyxl's parser gives, on real and awkward workbooks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook
from polars.testing import assert_frame_equal

from etl.errors import SourceError
from etl.sources import base, distribution, events, progress

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
SOURCES = {"distribution_list.xlsx": distribution, "events.xlsx": events, "pf_progress.xlsx": progress}

# Values of every type a city's list holds or could hold, one per cell, under the distribution list's columns.
AWKWARD = [
    [
        1,
        "（サンプル）社会福祉法人 みどり会",
        "社会福祉法人",
        "座間市",
        " 神奈川県座間市相模が丘3-12-16 ",
        "046-037-5424",
    ],
    [2.0, "ＮＰＯ法人　全角", None, "綾瀬市", "改行\nあり", 4620375424, "", "検証 陽子", "a@example.jp", 0.1 + 0.2],
    [3.5, "日付", "任意団体", "大和市", dt.date(2025, 2, 21), dt.datetime(2025, 2, 21, 9, 30), dt.time(17, 0)],
    [-4, "真偽", True, False, 1e20, 123456789012345, -0.0, 1 / 3, dt.datetime(2024, 12, 31, 23, 59, 59)],
    [],
    [None, None, None, None, None, None, None, None, None, None, None, None, "空行の後"],
    [
        6,
        "列の外",
        "NPO法人",
        "海老名市",
        "住所",
        "電話",
        "FAX",
        "担当",
        "mail",
        "tel",
        "郵送",
        "令和6年10月1日",
        "備考",
        "余り",
    ],
]
# The distribution list's header, its first column under a variant spelling the reader accepts.
HEADER = [distribution.VARIANTS["No"][0], *distribution.COLUMNS[1:]]


def both(monkeypatch: pytest.MonkeyPatch, read, path: Path):
    """(calamine's result, openpyxl's result) of read(path): frames, or the SourceError each raised."""
    results = []
    for plain in (True, False):
        if not plain:
            monkeypatch.setattr(base._Workbook, "plain", lambda self, title: False)
        try:
            results.append(read(path))
        except SourceError as error:
            results.append(str(error))
    return results


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_sample_workbooks_read_the_same(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    fast, slow = both(monkeypatch, SOURCES[name].extract, SAMPLE / name)
    assert fast.height > 0
    assert_frame_equal(fast, slow)


@pytest.mark.parametrize("write_only", [False, True])
def test_every_value_type_reads_the_same(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_only: bool) -> None:
    book = Workbook(write_only=write_only)
    if not write_only:
        book.remove(book.active)
    for title in distribution.SHEETS:
        sheet = book.create_sheet(title)
        for row in [HEADER, *AWKWARD]:
            sheet.append(row)
    if not write_only:
        formats = book["座間市"]
        formats["J3"].number_format = "0.0%"
        formats["G4"].number_format = "[h]:mm"
        formats["F3"].number_format = "@"
        formats["E4"].number_format = "yyyy/mm/dd"
    path = tmp_path / "list.xlsx"
    book.save(path)
    fast, slow = both(monkeypatch, distribution.extract, path)
    assert isinstance(fast, type(slow)) and not isinstance(fast, str), fast
    assert_frame_equal(fast, slow)


def test_a_sheet_not_starting_at_a1_reads_the_same(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    for title in distribution.SHEETS:
        sheet = book.create_sheet(title)
        sheet["C3"] = "団体名"
        sheet["C4"] = "ずれた表"
    book.save(tmp_path / "shifted.xlsx")
    fast, slow = both(monkeypatch, distribution.extract, tmp_path / "shifted.xlsx")
    # No header on row 1: both readers refuse the sheet with the same message.
    assert isinstance(fast, str) and fast == slow and "missing required column" in fast, (fast, slow)


def test_formulas_and_merges_still_go_through_openpyxl(tmp_path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    for title in distribution.SHEETS:
        sheet = book.create_sheet(title)
        sheet.append(HEADER)
        sheet.append([1, "団体"])
    book["座間市"]["A2"] = "=1+1"
    book["綾瀬市"].merge_cells("B2:C2")
    book.save(tmp_path / "faults.xlsx")
    workbook = base._Workbook(tmp_path / "faults.xlsx")
    try:
        assert {title: workbook.plain(title) for title in workbook.sheets} == {
            "座間市": False,
            "綾瀬市": False,
            "大和市": True,
            "海老名市": True,
            "自主調査": True,
        }
    finally:
        workbook.close()
    raw = distribution.extract(tmp_path / "faults.xlsx")
    checks = {issue["check"] for issues in raw["_issues"].to_list() for issue in issues}
    assert {"extract.formula", "extract.merged_cells"} <= checks
