"""The Japanese calendar: the one era table, 年度 (April–March), parsing 和暦/西暦 and formatting them for display.

Parsers raise ValueError with a Japanese message and its English gloss in parentheses, so the message
can go straight into the quarantine table for the city to read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from common.text import nfkc

# 記入日 and the cities' calendar are Japanese dates; events are stored in UTC.
LOCAL_TZ = "Asia/Tokyo"
# Shown after every time of day, so no reader takes a Japan time for UTC or the reverse.
LOCAL_TZ_LABEL = "JST"
# 年度 runs April to March: January–March belong to the 年度 of the previous calendar year.
FISCAL_YEAR_FIRST_MONTH = 4


@dataclass(frozen=True)
class Era:
    """An era a city document may still use: its name, its letter (R, H, S) and its first day."""

    name: str
    letter: str
    start: dt.date

    @property
    def offset(self) -> int:
        """The western year of the era's year 0: western year = offset + era year."""
        return self.start.year - 1


# Newest first. A date before its era's first day does not exist (平成1年1月7日 was 昭和64年), so it is
# rejected rather than silently shifted.
ERAS = (
    Era("令和", "R", dt.date(2019, 5, 1)),
    Era("平成", "H", dt.date(1989, 1, 8)),
    Era("昭和", "S", dt.date(1926, 12, 25)),
)
# An era by its name or its letter (casefolded: r6.12.26 is written too).
_ERA_BY_TEXT = {era.name: era for era in ERAS} | {era.letter.casefold(): era for era in ERAS}

_ERA = rf"(?P<era>{'|'.join(era.name for era in ERAS)}|[{''.join(era.letter + era.letter.lower() for era in ERAS)}])"
_ERA_YEAR = rf"{_ERA}\.?\s*(?P<ey>元|\d{{1,2}})"
_SEP_Y = r"\s*(?:年|[./-])\s*"
_SEP_M = r"\s*(?:月|[./-])\s*"
_WEEKDAY = r"(?:\s*\([月火水木金土日]\))?"
# A time after the date: midnight as cities type it, or any time as an Excel date cell with a time part
# arrives (cell_text gives "2024-10-01 14:30:00"); a date column keeps the date.
_MIDNIGHT = r"(?:[ T]+(?:0{1,2}:00(?::00)?|\d{2}:\d{2}:\d{2}(?:\.\d+)?))?"

_DATE_ERA = re.compile(rf"^{_ERA_YEAR}{_SEP_Y}(?P<m>\d{{1,2}}){_SEP_M}(?P<d>\d{{1,2}})\s*日?{_WEEKDAY}$")
_DATE_AD = re.compile(rf"^(?P<y>\d{{4}}){_SEP_Y}(?P<m>\d{{1,2}}){_SEP_M}(?P<d>\d{{1,2}})\s*日?{_WEEKDAY}{_MIDNIGHT}$")
_MONTH_ERA = re.compile(rf"^{_ERA_YEAR}{_SEP_Y}(?P<m>\d{{1,2}})\s*月?$")
_MONTH_AD = re.compile(r"^(?P<y>\d{4})\s*(?:年|[./-])\s*(?P<m>\d{1,2})\s*月?$")
_NENDO_ERA = re.compile(rf"^{_ERA_YEAR}\s*年度\s*(?:(?P<m>\d{{1,2}})\s*月)?$")
_NENDO_AD = re.compile(r"^(?P<y>\d{4})\s*年度\s*(?:(?P<m>\d{1,2})\s*月)?$")
_NENDO_TRAILER = re.compile(r"\s*(?:[~〜∼]|から)\s*$")
_NONE_WORDS = frozenset({"未定"})
_EN = {"日付": "date", "年月": "year and month", "年度・月": "fiscal-year month"}


# --- eras and 年度 -------------------------------------------------------------------------------


def era_year(day: dt.date) -> tuple[Era, int]:
    """The era in force on a date and the era year (1 for 元年)."""
    for era in ERAS:
        if day >= era.start:
            return era, day.year - era.offset
    raise ValueError(f"date before 昭和: {day}")


def year_text(number: int) -> str:
    """An era year as written: 元 for the first year, else the number."""
    return "元" if number == 1 else str(number)


def fiscal_year(day: dt.date) -> int:
    """The 年度 (April–March) a date falls in: 2025-02-01 → 2024."""
    return day.year - 1 if day.month < FISCAL_YEAR_FIRST_MONTH else day.year


def calendar_year(fiscal: int, month: int) -> int:
    """The calendar year of a month of a 年度: 2024年度2月 → 2025."""
    return fiscal + 1 if month < FISCAL_YEAR_FIRST_MONTH else fiscal


def fiscal_year_start(fiscal: int) -> dt.date:
    """The first day of a 年度: 2025 → 2025-04-01."""
    return dt.date(fiscal, FISCAL_YEAR_FIRST_MONTH, 1)


def _fiscal_era(fiscal: int) -> tuple[Era, int]:
    """A 年度's era and era year, by the era in force after its first month (令和元年度 = April 2019 – March 2020)."""
    return era_year(dt.date(fiscal, FISCAL_YEAR_FIRST_MONTH + 1, 1))


_FOLDER_ERA = re.compile(rf"^{_ERA_YEAR}\s*(?:年度)?$")
_FOLDER_AD = re.compile(r"^(?:FY)?\s*(?P<y>\d{4})\s*(?:年度)?$", re.IGNORECASE)


def fiscal_year_of_folder(name: str) -> int | None:
    """The 年度 a bundle sub-folder names (R6, R6年度, 令和6年度, 2024, 2024年度, FY2024 → 2024), else None."""
    text = (nfkc(name) or "").strip()
    if match := _FOLDER_AD.match(text):
        return int(match["y"])
    if match := _FOLDER_ERA.match(text):
        era = _ERA_BY_TEXT[match["era"].casefold() if len(match["era"]) == 1 else match["era"]]
        return era.offset + (1 if match["ey"] == "元" else int(match["ey"]))
    return None


def fiscal_year_label(fiscal: int, lang: str = "ja") -> str:
    """A 年度 as shown: R6年度 (ja) or FY2024 (en)."""
    if lang == "en":
        return f"FY{fiscal}"
    era, year = _fiscal_era(fiscal)
    return f"{era.letter}{year}年度"


def fiscal_year_option(fiscal: int, lang: str = "ja") -> str:
    """A 年度 in both calendars, as the year selector offers it: R6年度（2024） (ja) or FY2024 (R6) (en)."""
    era, year = _fiscal_era(fiscal)
    if lang == "en":
        return f"FY{fiscal} ({era.letter}{year})"
    return f"{era.letter}{year}年度（{fiscal}）"


# --- display ---------------------------------------------------------------------------------------


def _era_text(day: dt.date, short: bool) -> str:
    """A date's era and year: 令和7 (short: R7), 元 for the first year."""
    era, year = era_year(day)
    return f"{era.letter if short else era.name}{year_text(year)}"


def wareki(day: dt.date) -> str:
    """令和7年3月31日 (元 for the first year)."""
    return f"{_era_text(day, short=False)}年{day.month}月{day.day}日"


def wareki_short(day: dt.date) -> str:
    """Short 和暦 of a date: R7.2.21 (R元 for the first year)."""
    return f"{_era_text(day, short=True)}.{day.month}.{day.day}"


def wareki_month(day: dt.date) -> str:
    """和暦 of a calendar month: 令和6年11月 (元 for the first year)."""
    return f"{_era_text(day, short=False)}年{day.month}月"


def wareki_month_short(day: dt.date) -> str:
    """Short 和暦 of a calendar month: R6.11 (R元 for the first year)."""
    return f"{_era_text(day, short=True)}.{day.month}"


def date_label(value: dt.date | dt.datetime | None, lang: str) -> str:
    """A date in 和暦 and 西暦, e.g. 令和7年3月31日（2025-03-31）; English puts 西暦 first."""
    if value is None:
        return "—"
    day = value.date() if isinstance(value, dt.datetime) else value
    clock = f" {value:%H:%M}" if isinstance(value, dt.datetime) else ""
    era, year = era_year(day)
    if lang == "ja":
        return f"{wareki(day)}（{day.isoformat()}）{clock}".rstrip()
    return f"{day.isoformat()} ({era.letter}{year}){clock}"


def local_moment(value: dt.datetime | str | None) -> dt.datetime | None:
    """A moment (naive = UTC, as DuckDB stores it; aware; or ISO text) as a naive Japan time."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).replace(tzinfo=None)


def moment_label(value: dt.datetime | str | None, lang: str) -> str:
    """A moment in Japan time in 和暦 and 西暦, labelled: 令和7年3月31日（2025-03-31） 14:30 JST; — when missing."""
    local = local_moment(value)
    return "—" if local is None else f"{date_label(local, lang)} {LOCAL_TZ_LABEL}"


def short_moment(value: dt.datetime | str | None) -> str:
    """moment_label's short form for narrow places (metric values): 2025-03-31 14:30 JST."""
    local = local_moment(value)
    return "—" if local is None else f"{local:%Y-%m-%d %H:%M} {LOCAL_TZ_LABEL}"


def fy_label(month: dt.date | None, precision: str = "month") -> str | None:
    """English of nendo_label: 2025-02-01 → "FY2024 Feb"; precision fiscal_year → "FY2025"."""
    if month is None:
        return None
    fiscal = f"FY{fiscal_year(month)}"
    return fiscal if precision == "fiscal_year" else f"{fiscal} {month:%b}"


def nendo_label(month: dt.date | None, precision: str = "month", lang: str = "ja") -> str | None:
    """A date back as the file writes it: 2025-02-01 → "R6年度2月"; precision fiscal_year → "R7年度"; English FY2024 Feb."""
    if month is None:
        return None
    if lang != "ja":
        return fy_label(month, precision)
    era, year = _fiscal_era(fiscal_year(month))
    nendo = f"{era.letter}{year_text(year)}年度"
    return nendo if precision == "fiscal_year" else f"{nendo}{month.month}月"


def _vega_fiscal_year(value: str) -> str:
    """Vega expression of the 年度 (western year) of a UTC date expression."""
    month = f"utcmonth({value})"  # 0 = January
    return f"({month} < {FISCAL_YEAR_FIRST_MONTH - 1} ? utcyear({value}) - 1 : utcyear({value}))"


def vega_nendo_label(value: str, lang: str = "ja") -> str:
    """Vega expression of nendo_label for a UTC date expression (e.g. datum.value): "R6年度2月" / "FY2024 Feb"."""
    fiscal = _vega_fiscal_year(value)
    if lang != "ja":
        return f"'FY' + {fiscal} + ' ' + utcFormat({value}, '%b')"
    month = f"utcmonth({value})"  # 0 = January
    expr = "''"
    for era in reversed(ERAS):
        first = (
            era.start.year
            if era.start <= dt.date(era.start.year, FISCAL_YEAR_FIRST_MONTH + 1, 1)
            else era.start.year + 1
        )
        year = f"({fiscal} == {era.start.year} ? '元' : {fiscal} - {era.offset})"
        expr = f"({fiscal} >= {first} ? '{era.letter}' + {year} : {expr})"
    return f"{expr} + '年度' + ({month} + 1) + '月'"


# --- parsing ---------------------------------------------------------------------------------------


def _era_year(era: str, year: str, raw: str, kind: str) -> tuple[int, dt.date]:
    """Western year of an era year (元 = 1) and the era's first day."""
    found = _ERA_BY_TEXT[era.casefold()]
    number = 1 if year == "元" else int(year)
    if number < 1:
        raise ValueError(f"{kind}として読めません「{raw}」 (unrecognised {_EN[kind]})")
    return found.offset + number, found.start


def _make_date(year: int, month: int, day: int, raw: str) -> dt.date:
    """Build a date or raise the impossible-date message."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"存在しない日付です「{raw}」 (impossible date)") from None


def parse_date(value: Any) -> dt.date:
    """Parse 和暦 (令和6年12月26日, R6.12.26, 令和元年…), western (2024/12/26, 2024-12-26, 2024年12月26日) or Excel dates."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = nfkc(value)
    if text is None:
        raise ValueError("日付が空です (empty date)")
    if match := _DATE_ERA.match(text):
        year, start = _era_year(match["era"], match["ey"], text, "日付")
        day = _make_date(year, int(match["m"]), int(match["d"]), text)
        if day < start:
            raise ValueError(f"元号の開始より前の日付です「{text}」 (date before the start of the era)")
        return day
    if match := _DATE_AD.match(text):
        return _make_date(int(match["y"]), int(match["m"]), int(match["d"]), text)
    raise ValueError(f"日付として読めません「{text}」 (unrecognised date)")


def _make_month(year: int, month: int, raw: str) -> dt.date:
    """First day of a month or raise the invalid-month message."""
    if not 1 <= month <= 12:
        raise ValueError(f"存在しない月です「{raw}」 (invalid month)")
    return dt.date(year, month, 1)


def parse_wareki_month(value: Any) -> dt.date:
    """Parse a month (令和6年11月, R6年11月, R7.3, 2024年11月, 2024/11, a full date) to its first day."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.replace(day=1)
    text = nfkc(value)
    if text is None:
        raise ValueError("年月が空です (empty month)")
    if match := _MONTH_ERA.match(text):
        year, start = _era_year(match["era"], match["ey"], text, "年月")
        month = _make_month(year, int(match["m"]), text)
        if month < start.replace(day=1):
            raise ValueError(f"元号の開始より前の年月です「{text}」 (month before the start of the era)")
        return month
    if match := _MONTH_AD.match(text):
        return _make_month(int(match["y"]), int(match["m"]), text)
    # A full date (an Excel date cell arrives as 2024-11-01) stands for its month.
    if _DATE_ERA.match(text) or _DATE_AD.match(text):
        return parse_date(text).replace(day=1)
    raise ValueError(f"年月として読めません「{text}」 (unrecognised year and month)")


@dataclass(frozen=True)
class NendoMonth:
    """A 年度 month as written: its calendar month (first day), precision and original label."""

    month: dt.date
    precision: str
    label: str


def parse_nendo_month(value: Any) -> NendoMonth | None:
    """Parse 年度 months (R6年度2月~ → 2025-02, R7年度 → 2025-04 fiscal_year) or calendar months; 未定/blank → None."""
    if isinstance(value, (dt.date, dt.datetime)):
        month = parse_wareki_month(value)
        return NendoMonth(month, "month", month.strftime("%Y-%m"))
    label = value.strip() if isinstance(value, str) else (None if value is None else str(value))
    text = nfkc(value)
    if text is None or label is None or text in _NONE_WORDS:
        return None
    text = _NENDO_TRAILER.sub("", text)
    if not text or text in _NONE_WORDS:
        return None
    if match := _NENDO_ERA.match(text):
        fiscal, _ = _era_year(match["era"], match["ey"], text, "年度・月")
    elif match := _NENDO_AD.match(text):
        fiscal = int(match["y"])
    elif any(p.match(text) for p in (_MONTH_ERA, _MONTH_AD, _DATE_ERA, _DATE_AD)):
        return NendoMonth(parse_wareki_month(text), "month", label)
    else:
        raise ValueError(f"年度・月として読めません「{text}」 (unrecognised fiscal-year month)")
    if match["m"] is None:
        return NendoMonth(fiscal_year_start(fiscal), "fiscal_year", label)
    month = int(match["m"])
    return NendoMonth(_make_month(calendar_year(fiscal, month), month, text), "month", label)
