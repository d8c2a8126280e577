"""The pack as an xlsx workbook: one sheet per table, numbers as numbers, dates as dates, sources last."""

from __future__ import annotations

import io
import re

# The dashboard package (imported first) pins openpyxl to the standard library's XML writer.
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from common.text import display_width
from dashboard.report_pack.model import Pack, Table, sources_table
from warehouse.neutralise import xlsx_cell

# Excel number formats per column kind (model.KINDS); values stay numbers and dates.
NUMBER_FORMATS = {
    "int": "#,##0",
    "dec1": "#,##0.0",
    "pct": "0.0",
    "yen": "#,##0",
    "man_yen": "#,##0.0",
    "date": "yyyy-mm-dd",
}
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
MAX_WIDTH = 60


def _sheet_name(name: str, taken: set[str]) -> str:
    """A legal, unique sheet name (31 characters, no []:*?/\\)."""
    base = _SHEET_FORBIDDEN.sub("_", name)[:31]
    candidate, n = base, 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


def _fill(sheet, table: Table) -> None:
    """Header row (bold, frozen, filtered), then the typed rows; widths from the longest text."""
    sheet.append([column.label for column in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in table.rows:
        sheet.append([xlsx_cell(sheet, value) for value in values])
    for index, column in enumerate(table.columns, start=1):
        number_format = NUMBER_FORMATS.get(column.kind)
        letter = get_column_letter(index)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                if not isinstance(cell.value, str):
                    cell.number_format = number_format
        widest = max([display_width(column.label), *(display_width(row[index - 1]) for row in table.rows)])
        sheet.column_dimensions[letter].width = min(widest + 2, MAX_WIDTH)
    sheet.freeze_panes = "A2"
    if table.rows:
        sheet.auto_filter.ref = sheet.dimensions


def write(pack: Pack) -> bytes:
    """The .xlsx bytes: a sheet per table in reading order, then the sources-and-definitions sheet."""
    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    for table in [*pack.tables(), sources_table(pack)]:
        _fill(book.create_sheet(_sheet_name(table.sheet, taken)), table)
    book.properties.title = pack.title
    book.properties.creator = "Tsunagari"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
