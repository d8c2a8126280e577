"""Printable referral sheet (紹介状): a standalone A4 HTML document of organisations' public contacts.

Pure function, no streamlit. Only the fields in SHEET_FIELDS are printed, so whatever else a row
carries (distance from the resident, matched need, coverage of the resident's city) never reaches
the paper: the sheet says nothing about the resident.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence

from common.calendar import date_label
from dashboard.i18n import translate

# Row field → message key of its label, in print order. The allow-list of what a sheet may show.
SHEET_FIELDS = (
    ("address", "address"),
    ("phone", "phone"),
    ("fax", "fax"),
    ("hours", "hours"),
    ("languages", "languages"),
    ("accessibility", "accessibility"),
    ("service_area", "service_area"),
)
FONT_STACK = (
    '"Noto Sans CJK JP", "Noto Sans JP", "Hiragino Kaku Gothic ProN", "Hiragino Sans", '
    '"Yu Gothic", "YuGothic", "Meiryo", sans-serif'
)
MISSING = "—"
STYLE = """
@page { size: A4 portrait; margin: 15mm 15mm 18mm 15mm; }
* { box-sizing: border-box; }
html { font-family: $FONT; font-size: 10.5pt; line-height: 1.55; color: #111; background: #fff; }
body { margin: 0 auto; max-width: 180mm; }
header h1 { font-size: 17pt; margin: 0 0 2mm; padding-bottom: 2mm; border-bottom: 0.6mm solid #222; }
header p { margin: 1mm 0; }
.issued { text-align: right; font-size: 9.5pt; }
.lead { margin: 3mm 0 5mm; }
.org { break-inside: avoid; page-break-inside: avoid; border: 0.3mm solid #777; border-radius: 2mm;
       padding: 3mm 4mm; margin: 0 0 4mm; }
.org h2 { font-size: 12.5pt; margin: 0 0 2mm; }
dl { display: grid; grid-template-columns: 30mm 1fr; gap: 1mm 3mm; margin: 0; }
dt { font-weight: bold; color: #333; }
dd { margin: 0; overflow-wrap: anywhere; }
.phone { font-size: 12pt; font-weight: bold; }
.note { white-space: pre-wrap; }
.issuer { margin: 5mm 0 0; padding: 2mm 4mm; border-left: 1mm solid #2e75b6; }
footer { margin-top: 6mm; padding-top: 2mm; border-top: 0.3mm solid #999; font-size: 8.5pt; color: #333; }
@media screen { body { padding: 10mm; } }
""".replace("$FONT", FONT_STACK)


def _t(lang: str, key: str, **values: object) -> str:
    """Message of the sheet's catalogue section."""
    return translate(lang, f"referral.sheet.{key}", **values)


def _text(value: object) -> str:
    """Escaped text of a value; — for missing or blank."""
    if value is None or not str(value).strip():
        return MISSING
    return html.escape(str(value).strip())


def build_sheet(
    organisations: Sequence[Mapping[str, object]],
    notes: Mapping[str, str],
    lang: str,
    issued_on: dt.date,
    issuer: str = "",
) -> str:
    """The referral sheet as one HTML document: each organisation's public contacts and the staff's note.

    organisations: rows with organization_id, name and the SHEET_FIELDS; notes: organization_id → note
    (printed as typed, escaped); issuer: the staff's own desk (printed at the end), optional.
    """
    sections = []
    for number, org in enumerate(organisations, start=1):
        rows = []
        for field, key in SHEET_FIELDS:
            value_class = ' class="phone"' if field == "phone" else ""
            rows.append(f"<dt>{_t(lang, key)}</dt><dd{value_class}>{_text(org.get(field))}</dd>")
        note = (notes.get(str(org.get("organization_id")), "") or "").strip()
        if note:
            rows.append(f'<dt>{_t(lang, "note")}</dt><dd class="note">{html.escape(note)}</dd>')
        sections.append(
            f'<section class="org"><h2>{number}. {_text(org.get("name"))}</h2><dl>{"".join(rows)}</dl></section>'
        )
    issuer_block = ""
    if issuer.strip():
        issuer_block = (
            f'<p class="issuer">{_t(lang, "issuer")}: <span class="note">{html.escape(issuer.strip())}</span></p>'
        )
    body = "\n".join(sections) if sections else f"<p>{_t(lang, 'empty')}</p>"
    title = _t(lang, "title")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        # No scripts, no external requests: the file is safe to open and print offline.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{title}</h1>"
        f'<p class="issued">{_t(lang, "issued", date=html.escape(date_label(issued_on, lang)))}</p>'
        f'<p class="lead">{_t(lang, "lead")}</p></header>\n'
        f"<main>\n{body}\n</main>\n"
        f"{issuer_block}\n"
        f"<footer><p>{_t(lang, 'source')}</p><p>{_t(lang, 'privacy')}</p></footer>\n"
        "</body>\n</html>\n"
    )
