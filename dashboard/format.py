"""Display formatting of numbers, yen amounts and table cells; dates in 和暦 and 西暦 are in common/calendar.py."""

from __future__ import annotations

import polars as pl

MISSING = "—"


def number(value: float | int | None, digits: int = 0) -> str:
    """Thousands separators, fixed decimals; — for missing."""
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}"


def yen(value: float | int | None, lang: str) -> str:
    """A yen amount grouped in thousands: 7,700,000 円 (Japanese) or 7,700,000 yen (English); — for missing."""
    if value is None:
        return MISSING
    return f"{number(value)} 円" if lang == "ja" else f"{number(value)} yen"


def _cell(value: object) -> str:
    """One non-missing cell as text: numbers grouped in thousands, anything else as str()."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def display(frame: pl.DataFrame) -> pl.DataFrame:
    """A frame for st.dataframe with every missing cell shown as — (Streamlit would print "None")."""
    # Text columns fill natively; a number or date column holding a null becomes text, computed in plain
    # Python on the script thread (tables shown on a page are small; polars gets no Python callback).
    columns = []
    for name, dtype in frame.schema.items():
        column = frame[name]
        if column.null_count() == 0 or dtype.is_nested():
            columns.append(column)
        elif dtype == pl.String:
            columns.append(column.fill_null(MISSING))
        else:
            columns.append(pl.Series(name, [MISSING if v is None else _cell(v) for v in column.to_list()], pl.String))
    return pl.DataFrame(columns) if columns else frame
