"""distribution_list.xlsx — 調査票の配布リスト: one sheet per source list, de-duplicated into organisations."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from common.calendar import parse_date
from common.text import clean_text
from etl.normalise import normalise_phone, org_name_key, parse_count, parse_email
from etl.sources.base import (
    Context,
    RowCheck,
    Transformed,
    empty_sheet_root,
    extra_columns,
    quarantine_frame,
    read_xlsx,
    sheet_rows,
    table,
)

FILE_NAME = "distribution_list.xlsx"
KIND = "distribution"
SHEETS = ["座間市", "綾瀬市", "大和市", "海老名市", "自主調査"]
COLUMNS = [
    "No",
    "団体名",
    "法人格",
    "所在市",
    "住所",
    "電話番号",
    "FAX",
    "担当者名",
    "担当者メール",
    "担当者電話",
    "配布方法",
    "配布日",
    "備考",
]
VARIANTS = {
    "No": ["No.", "番号", "№"],
    "FAX": ["FAX番号", "ファックス"],
    "担当者メール": ["担当者メールアドレス"],
}


def organization_id(name_key: str) -> str:
    """Stable organisation id: "ORG-" + the first 12 hex digits of sha1(name_key)."""
    return "ORG-" + hashlib.sha1(name_key.encode("utf-8")).hexdigest()[:12]


def extract(path: Path) -> pl.DataFrame:
    """Read the five list sheets into one raw frame of strings with lineage."""
    return read_xlsx(path, {sheet: COLUMNS for sheet in SHEETS}, VARIANTS)


def _parse_row(check: RowCheck, ctx: Context) -> dict[str, Any]:
    """Parse every column of one list row."""
    vocab = ctx.vocab
    check.get("No", parse_count, check="normalise.count")
    name = check.get("団体名", required=True)
    key = org_name_key(name) if name else None
    if name is not None and key is None:
        check.fail("団体名", name, "団体名に文字がありません (name has no letters or digits)", "normalise.name_key")
    parsed = {
        "name": name,
        "name_key": key,
        "name_as_listed": (check.row.get("団体名") or "").strip(),
        "legal_form_code": check.get("法人格", vocab.legal_form),
        "city_code": check.get("所在市", vocab.city, required=True),
        "address": check.get("住所"),
        "phone": check.get("電話番号", normalise_phone),
        "fax": check.get("FAX", normalise_phone),
        "contact_name": check.get("担当者名"),
        "contact_email": check.get("担当者メール", parse_email, check="normalise.email"),
        "contact_phone": check.get("担当者電話", normalise_phone),
        "distribution_channel_code": check.get("配布方法", vocab.channel),
        "distributed_on": check.get("配布日", parse_date, check="normalise.date"),
    }
    check.get("備考", clean_text)
    return parsed


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """Organisations (first sheet wins), every source row, and contact persons kept apart as PII."""
    rows: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    empty: dict[str, str] = {}
    for sheet in SHEETS:
        found = sheet_rows(raw, sheet)
        if not found:
            empty[sheet] = empty_sheet_root(FILE_NAME if raw.is_empty() else raw["_file"][0], sheet)
        for row in found:
            check = RowCheck(row)
            parsed = _parse_row(check, ctx)
            if check.ok:
                rows.append(parsed | {"source_list": sheet, "id": organization_id(parsed["name_key"])} | check.lineage)
            elif parsed["name_key"] is not None:
                failed.setdefault(parsed["name_key"], check.label)
            quarantine.extend(check.problems)
    loaded = {row["name_key"] for row in rows}

    first: dict[str, dict[str, Any]] = {}
    lists: dict[str, list[str]] = {}
    for row in rows:
        first.setdefault(row["id"], row)
        sources = lists.setdefault(row["id"], [])
        if row["source_list"] not in sources:
            sources.append(row["source_list"])
    organizations = [
        row
        | {
            "first_source_list": row["source_list"],
            "source_count": len(lists[row["id"]]),
            "survey_answered": False,
            "pf_intent_code": None,
            "has_isolation_initiative": None,
        }
        for row in first.values()
    ]
    sources = [row | {"organization_id": row["id"], "source_row": row["_row"]} for row in rows]
    contacts = [
        row | {"organization_id": row["id"]}
        for row in rows
        if any(row[c] is not None for c in ("contact_name", "contact_email", "contact_phone"))
    ]
    return Transformed(
        tables={
            "organization": table("organization", organizations),
            "organization_source": table("organization_source", sources),
            "pii.organization_contact": table("pii.organization_contact", contacts),
        },
        quarantine=quarantine_frame(quarantine),
        rows_read=raw.height,
        warnings=extra_columns(raw, {sheet: COLUMNS for sheet in SHEETS}),
        rejected={key: root for key, root in failed.items() if key not in loaded},
        empty_sheets=empty,
    )
