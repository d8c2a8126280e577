"""Display formatting of numbers; dates in 和暦 and 西暦 are in common/calendar.py."""

from __future__ import annotations


def number(value: float | int | None, digits: int = 0) -> str:
    """Thousands separators, fixed decimals; — for missing."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"
