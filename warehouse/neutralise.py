"""Formula neutralising for every CSV and spreadsheet the product writes (the page downloads and the HSDS package).

No streamlit here: dashboard/downloads.py, dashboard/report_pack and warehouse/exports.py import it.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# A cell starting with one of these is run as a formula by Excel (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = r"^[=+\-@\t\r]"


def neutralise(value: str) -> str:
    """Prefix a formula-looking text with an apostrophe so spreadsheets show it as text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """Frame with every text cell neutralised; numbers stay numbers."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_PATTERN)).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def xlsx_cell(worksheet: Any, value: object) -> object:
    """A value for an openpyxl sheet: formula-looking text as a text cell marked quotePrefix, XML-illegal
    characters removed; other values as they are.

    A CSV has no types, so its text gets a visible apostrophe; an xlsx cell can say "text" itself. quotePrefix is
    what Excel stores when a person types a leading ': the cell shows the text as it is and stays text when edited
    (openpyxl alone would write a leading = as a live formula).
    """
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not text.startswith(FORMULA_STARTS):
        return text
    cell = WriteOnlyCell(worksheet, value=text)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell
