"""pf_progress.xlsx: steps per city with 年度 months, and dated notes."""

from __future__ import annotations

import datetime as dt
from functools import partial

import polars as pl
import pytest

from etl.errors import SourceError
from etl.sources import progress

from .builders import lineage_of, progress_sheets, write_xlsx

FILE = "pf_progress.xlsx"


def run(tmp_path, ctx, sheets=None):
    """Write the workbook, extract and transform it."""
    return progress.transform(progress.extract(write_xlsx(tmp_path / FILE, sheets or progress_sheets())), ctx)


at = partial(lineage_of, FILE)


def test_happy_path(tmp_path, ctx):
    result = run(tmp_path, ctx)
    assert result.rows_read == 4
    assert result.quarantine.height == 0
    assert result.tables["pf_progress"].to_dicts() == [
        {
            "city_code": "14216",
            "step_code": "s1",
            "status_code": "done",
            "start_month": dt.date(2024, 8, 1),
            "start_precision": "month",
            "start_label": "R6年度8月~",
            "end_month": dt.date(2024, 10, 1),
            "end_label": "R6年度10月",
            "note": "担当を設定",
            "recorded_by": "地域福祉課",
            "recorded_on": dt.date(2025, 3, 31),
            "source_row": 2,
            **at("進捗", 2),
        },
        {
            "city_code": "14216",
            "step_code": "s4_2",
            "status_code": "in_progress",
            "start_month": dt.date(2025, 2, 1),
            "start_precision": "month",
            "start_label": "R6年度2月～",
            "end_month": None,
            "end_label": None,
            "note": None,
            "recorded_by": "地域福祉課",
            "recorded_on": dt.date(2025, 3, 31),
            "source_row": 3,
            **at("進捗", 3),
        },
        {
            "city_code": "14216",
            "step_code": "s8",
            "status_code": "undecided",
            "start_month": None,
            "start_precision": None,
            "start_label": "未定",
            "end_month": None,
            "end_label": None,
            "note": None,
            "recorded_by": None,
            "recorded_on": None,
            "source_row": 4,
            **at("進捗", 4),
        },
    ]
    assert result.tables["pf_note"].to_dicts() == [
        {
            "id": "14216-N2",
            "city_code": "14216",
            "noted_on": dt.date(2024, 8, 30),
            "kind": "issue",
            "text": "意思決定が難しい",
            **at("振り返り", 2),
        },
    ]


def test_fiscal_year_start(tmp_path, ctx):
    sheets = progress_sheets()
    sheets[progress.PROGRESS].append(["綾瀬市", "⑦", "未着手", "R7年度~", None, None, None, None])
    row = run(tmp_path, ctx, sheets).tables["pf_progress"].to_dicts()[-1]
    assert (row["start_month"], row["start_precision"], row["start_label"]) == (
        dt.date(2025, 4, 1),
        "fiscal_year",
        "R7年度~",
    )


def test_bad_rows_are_quarantined(tmp_path, ctx):
    sheets = progress_sheets()
    sheets[progress.PROGRESS] += [
        ["大和市", "①", "完了", "R6年度11月~", "R6年度10月", None, None, None],
        ["大和市", "②", "完了", "R6年度13月~", None, None, None, None],
        ["大和市", "⑩", "済", "R6年度8月~", None, None, None, None],
        ["座間市", "1", "完了", "R6年度8月~", None, None, None, None],
    ]
    sheets[progress.NOTES].append(["大和市", "令和6年2月30日", "感想", "x"])
    result = run(tmp_path, ctx, sheets)
    # Row 6's unreadable 開始 is not a key: the step loads without its start month or label.
    assert result.tables["pf_progress"].height == 4
    step = result.tables["pf_progress"].filter(pl.col("_row") == 6).row(0, named=True)
    assert (step["step_code"], step["start_month"], step["start_label"]) == ("s2", None, None)
    assert result.quarantine.filter(pl.col("scope") == "cell")["row_number"].to_list() == [6]
    assert result.tables["pf_note"].height == 1
    assert result.quarantine.select("sheet", "row_number", "column_name", "value", "reason", "check_name").rows() == [
        (
            "進捗",
            5,
            "完了",
            "R6年度10月",
            "完了が開始より前 (completed before it started)",
            "rule.completed_before_start",
        ),
        ("進捗", 6, "開始", "R6年度13月~", "存在しない月です「R6年度13月」 (invalid month)", "normalise.nendo_month"),
        ("進捗", 7, "ステップ", "⑩", "未知のステップ「10」 (unknown category: step)", "normalise.pf_step"),
        ("進捗", 8, "ステップ", "1", "同じ市・ステップの行が重複しています (duplicate city and step)", "dedupe.key"),
        (
            "振り返り",
            3,
            "日付",
            "令和6年2月30日",
            "存在しない日付です「令和6年2月30日」 (impossible date)",
            "normalise.date",
        ),
        ("振り返り", 3, "区分", "感想", "未知の区分「感想」 (unknown category: note kind)", "normalise.note_kind"),
    ]


def test_missing_header(tmp_path):
    sheets = progress_sheets()
    sheets[progress.PROGRESS][0] = ["市", "ステップ", "状態", "開始", "終了", "備考", "記入者", "記入日"]
    with pytest.raises(SourceError) as error:
        progress.extract(write_xlsx(tmp_path / FILE, sheets))
    assert (
        str(error.value)
        == f"{FILE}, sheet 進捗, column 完了: 必須の見出し「完了」がありません (missing required column)"
    )
