"""The one masking path for personal values: quarantined cells, their reasons, messages, diffs and logs.

Imported by the ETL (etl.pipeline stores reasons without personal values, etl.intake scopes and masks
dry-run results), by the query package (データ品質) and by the pages. It imports only the standard
library and polars, so neither etl/ nor warehouse/ gains an import cycle through it.

A personal value is a quarantined cell of a personal column (PERSONAL_COLUMNS: contact persons,
respondents, participants) or any cell of a personal sheet (PERSONAL_SHEETS: the participant roster).
Only PERSONAL_ROLES see them; everyone else sees MASK in the value and in every text that quoted it.

It also holds the visibility rule of the published data (VISIBILITY, may_see), which the pages, the
queries and the exports all ask: figures the city publishes are public, whatever names a person or is an
internal work list is staff's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

# Columns that hold personal data, as a quarantine record names them: the source header when the row
# failed while being read, the pii table's column when Great Expectations flagged it. A quarantined
# row has no reliable city yet, so a city manager cannot be limited to their own city's people: its
# value is shown to admins only (the reason, file, row and column stay visible to everyone).
PERSONAL_COLUMNS = (
    "担当者名",
    "担当者メール",
    "担当者メールアドレス",
    "担当者電話",
    "ご回答者のお名前",
    "ご連絡先メールアドレス",
    "ご連絡先電話番号",
    "氏名",
    "contact_name",
    "contact_email",
    "contact_phone",
    "respondent_name",
    "respondent_email",
    "respondent_phone",
)
PERSONAL_SHEETS = ("参加者名簿",)
# Validation results of these tables (warehouse schema `pii`) quote personal values in their details.
PERSONAL_TABLE_PREFIX = "pii."
PERSONAL_ROLES = ("admin",)
MASK = "＊＊＊"
# Shorter values are not searched for inside a text: masking every "1" or "a" would garble the message
# without protecting anything (characters).
MIN_REDACT_CHARS = 2


# Who sees what of the published data (issue 21). One rule for pages and exports:
# - PUBLISHED: figures the city publishes in its report are public, event-level consultee counts included
#   (e.g. WS① 23 participants, 17 of them consultees): a count names no one.
# - NAMED: anything naming a person (the contact persons of organisations) is staff's;
# - WORK_LIST: internal work lists (活動分布's survey follow-up list of non-responding organisations) are
#   staff's.
# Staff means a city manager for their own city, the liaison and admins for every city; analysts are not
# staff here (they see every published table, never names or work lists). Quarantined personal values are
# stricter still (PERSONAL_ROLES).
PUBLISHED, NAMED, WORK_LIST = "published", "named", "work_list"
VISIBILITY = {
    "consultee_counts": PUBLISHED,
    "organisation_contacts": NAMED,
    "follow_up_list": WORK_LIST,
    # Who recorded a progress update or note in the app: the signed-in account (with OIDC, a person's e-mail).
    "staff_accounts": NAMED,
}
# Warehouse datasets that are work lists: never in the public explorer or its exports.
WORK_LIST_DATASETS = {"mart_activity_follow_up": "follow_up_list"}
ALL_CITY_STAFF = ("liaison", "admin")
CITY_STAFF = ("city_manager",)
STAFF_ROLES = (*CITY_STAFF, *ALL_CITY_STAFF)


def may_see(what: str, role: str, viewer_city: str | None, city_code: str | None) -> bool:
    """Whether a role (of viewer_city) may see `what` (a VISIBILITY key) of a city; city_code None = the four together."""
    if VISIBILITY[what] == PUBLISHED:
        return True
    if role in ALL_CITY_STAFF:
        return True
    return role in CITY_STAFF and city_code is not None and city_code == viewer_city


def may_see_any(what: str, role: str) -> bool:
    """Whether a role may see `what` of at least one city (a city manager: their own)."""
    return VISIBILITY[what] == PUBLISHED or role in STAFF_ROLES


def may_see_everywhere(what: str, role: str) -> bool:
    """Whether a role may see `what` of every city at once (a dataset without a city filter, an export)."""
    return VISIBILITY[what] == PUBLISHED or role in ALL_CITY_STAFF


def masked_accounts(
    frame: pl.DataFrame, column: str, role: str, viewer_city: str | None, city_column: str = "city_code"
) -> pl.DataFrame:
    """frame with `column` (an account that recorded a change) as MASK in every row of a city whose staff_accounts
    the role (of viewer_city) may not see (may_see); an empty value stays empty."""
    cities = frame[city_column].unique().to_list()
    allowed = [city for city in cities if may_see("staff_accounts", role, viewer_city, city)]
    return frame.with_columns(
        pl.when(pl.col(column).is_null() | pl.col(city_column).is_in(allowed, nulls_equal=True))
        .then(pl.col(column))
        .otherwise(pl.lit(MASK))
        .alias(column)
    )


def may_see_personal(role: str) -> bool:
    """Whether a role may see personal values (admins only)."""
    return role in PERSONAL_ROLES


def is_personal(column_name: str | None, sheet: str | None) -> bool:
    """Whether a quarantined cell of this column and sheet holds a personal value."""
    return column_name in PERSONAL_COLUMNS or sheet in PERSONAL_SHEETS


def personal_expr() -> pl.Expr:
    """Polars predicate: the quarantine row's cell is personal (columns column_name and sheet)."""
    return pl.col("column_name").is_in(PERSONAL_COLUMNS) | pl.col("sheet").is_in(PERSONAL_SHEETS)


def personal_sql(column: str = "column_name", sheet: str = "sheet") -> tuple[str, list[str]]:
    """SQL predicate (with its bound parameters) for a personal quarantine row; names from the caller's code."""
    columns = ", ".join("?" * len(PERSONAL_COLUMNS))
    sheets = ", ".join("?" * len(PERSONAL_SHEETS))
    return (
        f"(coalesce({column} in ({columns}), false) or coalesce({sheet} in ({sheets}), false))",
        [*PERSONAL_COLUMNS, *PERSONAL_SHEETS],
    )


def variants(value: Any) -> list[str]:
    """The forms a value may take inside a message: as sent, trimmed, NFKC with whitespace collapsed; longest first."""
    if value is None:
        return []
    text = str(value)
    forms = {text, text.strip(), unicodedata.normalize("NFKC", text).strip()}
    forms.add(" ".join(unicodedata.normalize("NFKC", text).split()))
    forms.add(" ".join(text.split()))
    return sorted((form for form in forms if len(form) >= MIN_REDACT_CHARS), key=len, reverse=True)


def redact(text: str | None, values: Iterable[Any], replacement: str = MASK) -> str | None:
    """Text with every form of every value replaced (longest first, so a value is never half-masked)."""
    if not text:
        return text
    forms = sorted({form for value in values for form in variants(value)}, key=len, reverse=True)
    if not forms:
        return text
    pattern = re.compile("|".join(re.escape(form) for form in forms))
    return pattern.sub(replacement, text)


def strip_personal_reasons(frame: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows with personal values removed from their reasons (the value stays in its own column).

    Applied when a build records its quarantine and to run history carried over from earlier
    warehouses, so a stored reason never repeats a personal value.
    """
    if frame.is_empty():
        return frame
    personal = frame.select(personal_expr().fill_null(False)).to_series().to_list()
    reasons = frame["reason"].to_list()
    values = frame["value"].to_list()
    cleaned = [
        redact(reason, [value]) if hit else reason for hit, reason, value in zip(personal, reasons, values, strict=True)
    ]
    return frame.with_columns(pl.Series("reason", cleaned, dtype=pl.String))


def mask_quarantine(frame: pl.DataFrame, role: str) -> pl.DataFrame:
    """Quarantine rows as a role may see them: personal values and any reason quoting them masked."""
    if may_see_personal(role) or frame.is_empty():
        return frame
    stripped = strip_personal_reasons(frame)
    return stripped.with_columns(
        pl.when(personal_expr().fill_null(False) & pl.col("value").is_not_null())
        .then(pl.lit(MASK))
        .otherwise(pl.col("value"))
        .alias("value")
    )


def mask_quarantine_rows(rows: list[Mapping[str, Any]], role: str) -> list[dict[str, Any]]:
    """mask_quarantine for rows as dicts (a dry run's result.json)."""
    if may_see_personal(role):
        return [dict(row) for row in rows]
    masked = []
    for row in rows:
        row = dict(row)
        if is_personal(row.get("column_name"), row.get("sheet")) and row.get("value") is not None:
            row["reason"] = redact(row.get("reason"), [row["value"]])
            row["value"] = MASK
        masked.append(row)
    return masked


def personal_values(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The personal values among quarantine rows (to mask them wherever else a text quotes them)."""
    return [
        str(row["value"])
        for row in rows
        if row.get("value") is not None and is_personal(row.get("column_name"), row.get("sheet"))
    ]


def mask_text(text: str | None, role: str, values: Iterable[Any]) -> str | None:
    """A message, log line or error as a role may see it: the given personal values masked unless allowed."""
    if may_see_personal(role):
        return text
    return mask_validation_message(redact(text, values), role)


def mask_validation_message(text: str | None, role: str) -> str | None:
    """A validation failure message with the failing values of personal tables left out, unless allowed.

    A fatal table-level message reads `<table>: <reason> [<check>] <failing values>`; for a pii table the
    part after the check is personal data.
    """
    if not text or may_see_personal(role):
        return text
    lines = []
    for line in text.split("\n"):
        body = line.removeprefix("- ")
        if body.startswith(PERSONAL_TABLE_PREFIX) and "] " in body:
            line = line[: line.index("] ") + 1] + " " + MASK
        lines.append(line)
    return "\n".join(lines)


def mask_validation(frame: pl.DataFrame, role: str) -> pl.DataFrame:
    """Validation results as a role may see them: the failing values of personal tables masked."""
    if may_see_personal(role) or frame.is_empty() or "details" not in frame.columns:
        return frame
    return frame.with_columns(
        pl.when(pl.col("table_name").str.starts_with(PERSONAL_TABLE_PREFIX) & pl.col("details").is_not_null())
        .then(pl.lit(MASK))
        .otherwise(pl.col("details"))
        .alias("details")
    )


# A row of the validation report (etl.validate.build_data_docs): seven cells, details last.
_REPORT_ROW = re.compile(
    r'(<tr class="\w+"><td>'
    + re.escape(PERSONAL_TABLE_PREFIX)
    + r"[^<]*</td>(?:<td>[^<]*</td>){5})<td>[^<]+</td>(</tr>)"
)
_REPORT_FATAL = re.compile(r"(<li>" + re.escape(PERSONAL_TABLE_PREFIX) + r"[^<\]]*\])[^<]*(</li>)")


def mask_report_html(html: str | None, role: str) -> str | None:
    """The validation report as a role may see it: failing values of personal tables masked."""
    if not html or may_see_personal(role):
        return html
    return _REPORT_FATAL.sub(r"\1 " + MASK + r"\2", _REPORT_ROW.sub(r"\1<td>" + MASK + r"</td>\2", html))
