"""Display formatting: 和暦 with 西暦, numbers with separators."""

from __future__ import annotations

import datetime as dt

# (first day, era name, short letter), newest first
ERAS = (
    (dt.date(2019, 5, 1), "令和", "R"),
    (dt.date(1989, 1, 8), "平成", "H"),
    (dt.date(1926, 12, 25), "昭和", "S"),
)


def wareki_year(day: dt.date) -> tuple[str, str, int]:
    """Era name, era letter and era year of a date."""
    for start, name, letter in ERAS:
        if day >= start:
            return name, letter, day.year - start.year + 1
    raise ValueError(f"date before 昭和: {day}")


def wareki(day: dt.date) -> str:
    """令和7年3月31日 (元年 for the first year)."""
    name, _, year = wareki_year(day)
    year_text = "元" if year == 1 else str(year)
    return f"{name}{year_text}年{day.month}月{day.day}日"


def date_label(value: dt.date | dt.datetime | None, lang: str) -> str:
    """A date in 和暦 and 西暦, e.g. 令和7年3月31日（2025-03-31）; English puts 西暦 first."""
    if value is None:
        return "—"
    day = value.date() if isinstance(value, dt.datetime) else value
    clock = f" {value:%H:%M}" if isinstance(value, dt.datetime) else ""
    _, letter, year = wareki_year(day)
    if lang == "ja":
        return f"{wareki(day)}（{day.isoformat()}）{clock}".rstrip()
    return f"{day.isoformat()} ({letter}{year}){clock}"


def number(value: float | int | None, digits: int = 0) -> str:
    """Thousands separators, fixed decimals; — for missing."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"
