"""distribution_list.xlsx — 調査票の配布リスト: one sheet per source list, de-duplicated into organisations."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from common.calendar import parse_date
from common.text import clean_text, nfkc
from etl.normalise import normalise_phone, org_name_key, parse_count, parse_email
from etl.sources.base import (
    REQUIRED,
    Context,
    RowCheck,
    Transformed,
    empty_sheet_root,
    is_blank,
    parse_column,
    read_xlsx,
    reader_result,
    select_table,
    sheet_rows,
    table,
)
from etl.vocab import LINEAGE, UnknownLabel

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
        "city_code": _city(check, ctx),
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


def _city(check: RowCheck, ctx: Context) -> str | None:
    """所在市 of a list row; unreadable or blank, the city its address or its sheet gives, as a cell record.

    The organisation needs a city to be counted anywhere: setting the row aside for one bad cell would also set
    aside its survey answer and map pin. With neither an address in one of the four cities nor a city's sheet
    (自主調査), or in a row already set aside, the row is set aside as before.
    """
    raw = check.row.get("所在市")
    try:
        city = None if is_blank(raw) else ctx.vocab.city(raw)
        reason, name = REQUIRED, "normalise.required"
    except UnknownLabel as exc:
        city, reason, name = None, str(exc), f"normalise.{exc.kind}"
    except ValueError as exc:
        city, reason, name = None, str(exc), "normalise.city"
    if city is not None:
        return city
    found = _located(check.row, ctx) if check.ok else None
    if found is None:
        check.fail("所在市", raw, reason, name)
        return None
    city, label, source = found
    taken = {
        "address": f"住所から{label}としました (city taken from the address)",
        "sheet": f"シート名から{label}としました (city taken from the sheet name)",
    }[source]
    check.fail("所在市", raw, f"{reason}: {taken}", name, cell=True)
    return city


def _located(row: dict[str, Any], ctx: Context) -> tuple[str, str, str] | None:
    """(city code, its Japanese name, "address" or "sheet"): the one city of the four the row's address is in,
    else its sheet's city."""
    address = nfkc(row.get("住所")) or ""
    names = dict(ctx.vocab.frames["city"].select("code", "ja").rows())
    # "神奈川県大和市…" or "大和市…", never "東京都東大和市…".
    named = [code for code, name in names.items() if address.startswith(name) or f"神奈川県{name}" in address]
    if len(named) == 1:
        return named[0], names[named[0]], "address"
    try:
        city = ctx.vocab.city(row.get("_sheet"))
    except (UnknownLabel, ValueError):
        return None
    return city, names[city], "sheet"


# The parsed columns of a list row, as _parse_row makes them (with source_list, id and lineage).
PARSED = {
    "name": pl.String,
    "name_key": pl.String,
    "name_as_listed": pl.String,
    "legal_form_code": pl.String,
    "city_code": pl.String,
    "address": pl.String,
    "phone": pl.String,
    "fax": pl.String,
    "contact_name": pl.String,
    "contact_email": pl.String,
    "contact_phone": pl.String,
    "distribution_channel_code": pl.String,
    "distributed_on": pl.Date,
    "source_list": pl.String,
    "id": pl.String,
} | LINEAGE


def _fields(ctx: Context) -> tuple[tuple[str, str | None, Callable[[Any], Any], bool, bool], ...]:
    """(column, parsed name, parser, few distinct values, required) of every value _parse_row checks, alike."""
    vocab = ctx.vocab
    return (
        ("No", None, parse_count, True, False),
        ("団体名", "name", nfkc, False, True),
        ("法人格", "legal_form_code", vocab.legal_form, True, False),
        ("所在市", "city_code", vocab.city, True, True),
        ("住所", "address", nfkc, False, False),
        ("電話番号", "phone", normalise_phone, False, False),
        ("FAX", "fax", normalise_phone, False, False),
        ("担当者名", "contact_name", nfkc, False, False),
        ("担当者メール", "contact_email", parse_email, False, False),
        ("担当者電話", "contact_phone", normalise_phone, False, False),
        ("配布方法", "distribution_channel_code", vocab.channel, True, False),
        ("配布日", "distributed_on", parse_date, True, False),
        # 備考 is only cleaned (clean_text never fails), so it is not read here.
    )


def _parse_sheet(
    part: pl.DataFrame, sheet: str, ctx: Context, failed: dict[str, str], quarantine: list[dict[str, Any]]
) -> pl.DataFrame:
    """The loaded rows of one sheet (PARSED columns, in row order); rows with any problem go through _parse_row.

    Each column is parsed whole by the same parsers; a row any of whose values fails, lacks a required value,
    has no name key or carries an extract issue is parsed again by _parse_row, which writes its records.
    """
    height = part.height
    parsed: dict[str, list[Any]] = {}
    slow: set[int] = set()
    for column, name, parse, repeats, required in _fields(ctx):
        values, bad = parse_column(part[column].to_list(), parse, repeats=repeats)
        slow |= bad
        if required:
            slow.update(i for i, value in enumerate(values) if value is None)
        if name is not None:
            parsed[name] = values
    parsed["name_key"] = [org_name_key(name) if name else None for name in parsed["name"]]
    slow.update(
        i for i, (name, key) in enumerate(zip(parsed["name"], parsed["name_key"], strict=True)) if name and key is None
    )
    slow.update(i for i, issues in enumerate(part["_issues"].list.len().to_list()) if issues)
    parsed["name_as_listed"] = [(value or "").strip() for value in part["団体名"].to_list()]
    parsed["source_list"] = [sheet] * height
    for name in LINEAGE:
        parsed[name] = part[name].to_list()
    keep = [i not in slow for i in range(height)]
    columns = {c: parsed[c] for c in PARSED if c != "id"}
    fast = pl.DataFrame(columns, schema={c: t for c, t in PARSED.items() if c != "id"}).filter(
        pl.Series(keep, dtype=pl.Boolean)
    )
    loaded = []
    for row in part[sorted(slow)].to_dicts() if slow else []:
        check = RowCheck(row)
        values = _parse_row(check, ctx)
        if check.ok:
            loaded.append(values | {"source_list": sheet} | check.lineage)
        elif values["name_key"] is not None:
            failed.setdefault(values["name_key"], check.label)
        quarantine.extend(check.problems)
    rows = pl.concat([fast, pl.DataFrame(loaded, schema=fast.schema, orient="row")]).sort("_row") if loaded else fast
    return rows.with_columns(
        id=pl.Series([organization_id(key) for key in rows["name_key"].to_list()], dtype=pl.String)
    )


TABLES = ("organization", "organization_source", "pii.organization_contact")


def _result(
    make: Callable[[str, Any], pl.DataFrame],
    rows: tuple[Any, Any, Any],
    raw: pl.DataFrame,
    quarantine: list[dict[str, Any]],
    failed: dict[str, str],
    loaded: set[str],
    empty: dict[str, str],
) -> Transformed:
    """Both transforms' result: the TABLES from their rows (made by make) and what was set aside or read."""
    return reader_result(
        raw,
        {sheet: COLUMNS for sheet in SHEETS},
        {name: make(name, part) for name, part in zip(TABLES, rows, strict=True)},
        quarantine,
        rejected={key: root for key, root in failed.items() if key not in loaded},
        empty_sheets=empty,
    )


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """Organisations (first sheet wins), every source row, and contact persons kept apart as PII."""
    quarantine: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    empty: dict[str, str] = {}
    parts = []
    for sheet in SHEETS:
        part = raw.filter(pl.col("_sheet") == sheet).sort("_row") if "_sheet" in raw.columns else raw.clear()
        if part.is_empty():
            empty[sheet] = empty_sheet_root(FILE_NAME if raw.is_empty() else raw["_file"][0], sheet)
            continue
        parts.append(_parse_sheet(part, sheet, ctx, failed, quarantine))
    rows = pl.concat(parts) if parts else pl.DataFrame(schema=PARSED)
    loaded = set(rows["name_key"].to_list())
    organizations = (
        rows.unique("id", keep="first", maintain_order=True)
        .join(rows.group_by("id").agg(source_count=pl.col("source_list").n_unique()), on="id", maintain_order="left")
        .with_columns(
            first_source_list=pl.col("source_list"),
            survey_answered=pl.lit(False),
            pf_intent_code=pl.lit(None, pl.String),
            has_isolation_initiative=pl.lit(None, pl.Boolean),
        )
    )
    sources = rows.with_columns(organization_id=pl.col("id"), source_row=pl.col("_row"))
    contacts = rows.filter(
        pl.any_horizontal(pl.col(c).is_not_null() for c in ("contact_name", "contact_email", "contact_phone"))
    ).with_columns(organization_id=pl.col("id"))
    return _result(select_table, (organizations, sources, contacts), raw, quarantine, failed, loaded, empty)


def transform_by_row(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """The reference transform: every row through _parse_row (the tests hold transform to it)."""
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
    return _result(table, (organizations, sources, contacts), raw, quarantine, failed, loaded, empty)
