"""Download payloads that open cleanly in Excel (no streamlit here)."""

from __future__ import annotations

import io

import polars as pl

BOM = "\ufeff".encode()
# A cell starting with one of these is run as a formula by Excel (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Prefix a formula-looking text with an apostrophe so spreadsheets show it as text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """Frame with every text cell neutralised; numbers stay numbers."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^[=+\-@\t\r]")).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """UTF-8 CSV with BOM and CRLF line ends, so Excel opens the Japanese cleanly."""
    buffer = io.BytesIO()
    neutralised(frame).write_csv(buffer, line_terminator="\r\n")
    return BOM + buffer.getvalue()
