"""pf_progress.xlsx — PF構築プロセスの進捗: each city's status per platform-building step, and dated notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from common.calendar import parse_date, parse_nendo_month
from common.text import clean_text, nfkc
from etl.sources.base import (
    Context,
    RowCheck,
    Transformed,
    read_xlsx,
    reader_result,
    sheet_rows,
    table,
)

FILE_NAME = "pf_progress.xlsx"
KIND = "progress"
PROGRESS, NOTES = "進捗", "振り返り"
SHEETS = {
    PROGRESS: ["市", "ステップ", "状態", "開始", "完了", "備考", "記入者", "記入日"],
    NOTES: ["市", "日付", "区分", "内容"],
}
NOTE_KINDS = {
    "ブレイクスルー要因": "breakthrough",
    "ブレイクスルー": "breakthrough",
    "取り組み課題": "issue",
    "取組課題": "issue",
    "課題": "issue",
    "その後の変化": "change",
    "変化": "change",
}


def extract(path: Path) -> pl.DataFrame:
    """Read the 進捗 and 振り返り sheets into one raw frame of strings with lineage."""
    return read_xlsx(path, SHEETS)


def _note_kind(value: Any) -> str:
    """Note kind code from its Japanese label or code."""
    text = nfkc(value) or ""
    kinds = NOTE_KINDS | {code: code for code in NOTE_KINDS.values()}
    if text.casefold() not in kinds:
        raise ValueError(f"未知の区分「{text}」 (unknown category: note kind)")
    return kinds[text.casefold()]


def _label(value: Any) -> str | None:
    """A cell exactly as written, trimmed; blank → None."""
    return (value.strip() or None) if isinstance(value, str) else None


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """pf_progress (one row per city and step) and pf_note; a step completed before it started is quarantined."""
    vocab = ctx.vocab
    progress: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for row in sheet_rows(raw, PROGRESS):
        check = RowCheck(row)
        start = check.get("開始", parse_nendo_month, check="normalise.nendo_month")
        end = check.get("完了", parse_nendo_month, check="normalise.nendo_month")
        # A month that cannot be read is left out (a cell-level record), its label with it.
        unread = {p["column_name"] for p in check.problems}
        record = {
            "city_code": check.get("市", vocab.city, required=True),
            "step_code": check.get("ステップ", vocab.pf_step, required=True),
            "status_code": check.get("状態", vocab.pf_status, required=True),
            "start_month": start.month if start else None,
            "start_precision": start.precision if start else None,
            "start_label": None if "開始" in unread else _label(row.get("開始")),
            "end_month": end.month if end else None,
            "end_label": None if "完了" in unread else _label(row.get("完了")),
            "note": check.get("備考", clean_text),
            "recorded_by": check.get("記入者"),
            "recorded_on": check.get("記入日", parse_date, check="normalise.date"),
            "source_row": row["_row"],
        }
        if start and end and end.month < start.month:
            check.fail(
                "完了", row.get("完了"), "完了が開始より前 (completed before it started)", "rule.completed_before_start"
            )
        key = (record["city_code"], record["step_code"])
        if check.ok and key in seen:
            check.fail(
                "ステップ",
                row.get("ステップ"),
                "同じ市・ステップの行が重複しています (duplicate city and step)",
                "dedupe.key",
            )
        if check.ok:
            seen.add(key)
            progress.append(record | check.lineage)
        quarantine.extend(check.problems)

    for row in sheet_rows(raw, NOTES):
        check = RowCheck(row)
        city = check.get("市", vocab.city, required=True)
        note = {
            "id": f"{city}-N{row['_row']}",
            "city_code": city,
            "noted_on": check.get("日付", parse_date, check="normalise.date", required=True),
            "kind": check.get("区分", _note_kind, check="normalise.note_kind", required=True),
            "text": check.get("内容", clean_text, required=True),
        }
        if check.ok:
            notes.append(note | check.lineage)
        quarantine.extend(check.problems)

    return reader_result(
        raw, SHEETS, {"pf_progress": table("pf_progress", progress), "pf_note": table("pf_note", notes)}, quarantine
    )
