"""Formula neutralising for every CSV and spreadsheet the product writes (the page downloads and the HSDS package).

No streamlit here: dashboard/downloads.py and warehouse/exports.py both import it.
"""

from __future__ import annotations

import polars as pl

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
