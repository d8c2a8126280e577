"""Pure normalisers for the values cities type into their lists: text, names, dates, counts, phones.

Every parser raises ValueError with a Japanese message and its English gloss in parentheses, so the
message can go straight into the quarantine table for the city to read.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

# Eras a city document may still use, with the day each began. A date before its era's first day
# does not exist (平成1年1月7日 was 昭和64年), so it is rejected rather than silently shifted.
_ERAS: dict[str, tuple[int, dt.date]] = {
    "令和": (2018, dt.date(2019, 5, 1)),
    "平成": (1988, dt.date(1989, 1, 8)),
    "昭和": (1925, dt.date(1926, 12, 25)),
}
_ERA_LETTERS = {"r": "令和", "h": "平成", "s": "昭和"}
_ERA = r"(?P<era>令和|平成|昭和|[RHSrhs])\.?\s*(?P<ey>元|\d{1,2})"
_SEP_Y = r"\s*(?:年|[./-])\s*"
_SEP_M = r"\s*(?:月|[./-])\s*"
_WEEKDAY = r"(?:\s*\([月火水木金土日]\))?"
# A time after the date: midnight as cities type it, or any time as an Excel date cell with a time part
# arrives (cell_text gives "2024-10-01 14:30:00"); a date column keeps the date.
_MIDNIGHT = r"(?:[ T]+(?:0{1,2}:00(?::00)?|\d{2}:\d{2}:\d{2}(?:\.\d+)?))?"

_DATE_ERA = re.compile(rf"^{_ERA}{_SEP_Y}(?P<m>\d{{1,2}}){_SEP_M}(?P<d>\d{{1,2}})\s*日?{_WEEKDAY}$")
_DATE_AD = re.compile(rf"^(?P<y>\d{{4}}){_SEP_Y}(?P<m>\d{{1,2}}){_SEP_M}(?P<d>\d{{1,2}})\s*日?{_WEEKDAY}{_MIDNIGHT}$")
_MONTH_ERA = re.compile(rf"^{_ERA}{_SEP_Y}(?P<m>\d{{1,2}})\s*月?$")
_MONTH_AD = re.compile(r"^(?P<y>\d{4})\s*(?:年|[./-])\s*(?P<m>\d{1,2})\s*月?$")
_NENDO_ERA = re.compile(rf"^{_ERA}\s*年度\s*(?:(?P<m>\d{{1,2}})\s*月)?$")
_NENDO_AD = re.compile(r"^(?P<y>\d{4})\s*年度\s*(?:(?P<m>\d{1,2})\s*月)?$")
_NENDO_TRAILER = re.compile(r"\s*(?:[~〜∼]|から)\s*$")
_NONE_WORDS = frozenset({"未定"})

_TIMESTAMP = re.compile(
    r"^(?P<y>\d{4})[/-](?P<mo>\d{1,2})[/-](?P<d>\d{1,2})[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?$"
)
_TIME = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")
_TIME_JA = re.compile(r"^(?P<h>\d{1,2})\s*時\s*(?:(?P<m>\d{1,2})\s*分)?$")

# Units a count is written with: people, cases, days, times.
_COUNT_SUFFIX = re.compile(r"\s*(?:名|人|件|日間|日|回)$")
# An approximate count (約60, 60名程度, 60以上) is not a figure a city can quote: refused, not rounded.
_APPROXIMATE = re.compile(r"^(?:約|およそ|ほぼ|概ね|大体|~|〜|∼)|(?:程度|くらい|ぐらい|前後|以上|以下|未満|余り|強|弱|超|\+|~|〜)$")
_YEN = re.compile(r"^[¥\\]\s*|\s*円$")
# A lone dash is how Japanese spreadsheets say "none" in a count column.
_DASHES = frozenset({"-", "‐", "−", "―", "ー", "—"})
_PHONE_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−ー"})

_EN = {"日付": "date", "年月": "year and month", "年度・月": "fiscal-year month"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MULTI_SEPARATORS = re.compile(r"\s*(?:[,、，;；／/]|\r\n|\r|\n)\s*")

# Legal-form words as they are written inside organisation names (legal_form.csv ja + aliases,
# NFKC'd and casefolded). Generic nouns among the aliases (自治会, 行政, 企業, 地域包括支援センター,
# 公共施設, 市民団体, ボランティア団体) classify a group but are part of its own name, so removing
# them would merge distinct groups such as 中央自治会 and 中央地域包括支援センター.
_LEGAL_FORM_WORDS = tuple(
    sorted(
        {
            "npo法人",
            "特定非営利活動法人",
            "認定npo法人",
            "認定特定非営利活動法人",
            "社会福祉法人",
            "一般社団法人",
            "公益社団法人",
            "財団法人",
            "一般財団法人",
            "公益財団法人",
            "協同組合",
            "生活協同組合",
            "労働者協同組合",
            "ワーカーズコープ",
            "民間企業",
            "株式会社",
            "有限会社",
            "合同会社",
            "医療法人",
            "任意団体",
            "公的機関",
        },
        key=lambda w: (-len(w), w),
    )
)
# Bracketed abbreviations: (株) (福) (一社) …, unambiguous wherever they stand.
_LEGAL_FORM_BRACKETED = re.compile(r"\((?:株|有|合|福|社福|一社|一財|公社|公財|財|社|医|特非|npo|学|宗|生協)\)")
# Bare abbreviations are short enough to occur inside words (第一社会館), so they count only when
# they stand at the edge of the name or next to a bracket, space or punctuation.
_LEGAL_FORM_BARE = re.compile(r"(?:(?<![^\W_])(?:一社|社福|生協|認定))|(?:(?:一社|社福|生協|認定)(?![^\W_]))")


def nfkc(value: Any) -> str | None:
    """NFKC-normalise, trim and collapse whitespace runs to one space; blank becomes None."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    # ASCII is its own NFKC form; skipping normalize() matters at a million rows × a dozen columns.
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    # str.split() splits on exactly the characters regex \s matches (Py_UNICODE_ISSPACE), faster.
    return " ".join(text.split()) or None


def clean_text(value: Any) -> str | None:
    """NFKC-normalise free text keeping its line breaks, trimming each line; blank becomes None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value if isinstance(value, str) else str(value))
    lines = [
        re.sub(r"[^\S\n]+", " ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return "\n".join(lines).strip("\n") or None


def org_name_key(name: Any) -> str | None:
    """Matching key of an organisation name: NFKC, casefold, legal-form words, spaces and punctuation removed."""
    text = nfkc(name)
    if text is None:
        return None
    text = text.casefold()
    text = _LEGAL_FORM_BRACKETED.sub(" ", text)
    for word in _LEGAL_FORM_WORDS:
        text = text.replace(word, " ")
    text = _LEGAL_FORM_BARE.sub(" ", text)
    # Letters, digits and marks only: ー and 々 are letters (Lm) so they stay, ・「」() and spaces go.
    key = "".join(ch for ch in text if unicodedata.category(ch)[0] in "LNM")
    return key or None


def split_multi(value: Any) -> list[str]:
    """Split a multi-answer cell on , 、 ， ; ； ／ / and newlines, NFKC each part, drop blanks and repeats."""
    if value is None:
        return []
    raw = value if isinstance(value, str) else str(value)
    parts: list[str] = []
    for piece in _MULTI_SEPARATORS.split(unicodedata.normalize("NFKC", raw)):
        item = nfkc(piece)
        if item is not None and item not in parts:
            parts.append(item)
    return parts


def _era_year(era: str, year: str, raw: str, kind: str) -> tuple[int, dt.date]:
    """Western year of an era year (元 = 1) and the era's first day."""
    name = _ERA_LETTERS.get(era.casefold(), era)
    offset, start = _ERAS[name]
    number = 1 if year == "元" else int(year)
    if number < 1:
        raise ValueError(f"{kind}として読めません「{raw}」 (unrecognised {_EN[kind]})")
    return offset + number, start


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
        fiscal_year, _ = _era_year(match["era"], match["ey"], text, "年度・月")
    elif match := _NENDO_AD.match(text):
        fiscal_year = int(match["y"])
    elif any(p.match(text) for p in (_MONTH_ERA, _MONTH_AD, _DATE_ERA, _DATE_AD)):
        return NendoMonth(parse_wareki_month(text), "month", label)
    else:
        raise ValueError(f"年度・月として読めません「{text}」 (unrecognised fiscal-year month)")
    if match["m"] is None:
        return NendoMonth(dt.date(fiscal_year, 4, 1), "fiscal_year", label)
    month = int(match["m"])
    # 年度 runs April to March: January–March belong to the next calendar year.
    year = fiscal_year + 1 if month <= 3 else fiscal_year
    return NendoMonth(_make_month(year, month, text), "month", label)


def parse_count(value: Any) -> int | None:
    """Parse a non-negative whole number (12, 12.0, "1,234", "１２名", "3人", "8日"); blank or a lone dash → None; 約60 raises."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"数値として読めません「{value}」 (not a number)")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"整数ではありません「{value}」 (not a whole number)")
        number = int(value)
    else:
        text = nfkc(value)
        if text is None or text in _DASHES:
            return None
        bare = _COUNT_SUFFIX.sub("", text)
        if _APPROXIMATE.search(bare):
            raise ValueError(f"概数は数として読めません「{text}」 (approximate count: enter the exact number)")
        digits = bare.replace(",", "").replace(" ", "")
        if not re.fullmatch(r"[+-]?\d+(?:\.\d+)?", digits):
            raise ValueError(f"数値として読めません「{text}」 (not a number)")
        if "." in digits:
            whole, fraction = digits.split(".")
            if fraction.strip("0"):
                raise ValueError(f"整数ではありません「{text}」 (not a whole number)")
            digits = whole
        number = int(digits)
    if number < 0:
        raise ValueError(f"負の数です「{value}」 (negative number)")
    return number


def parse_yen(value: Any) -> int | None:
    """Parse an amount in yen ("1,234,000", "¥1,234,000", "1234000円"); blank → None."""
    if isinstance(value, str):
        text = nfkc(value)
        value = None if text is None else _YEN.sub("", text)
    return parse_count(value)


def parse_time(value: Any) -> dt.time | None:
    """Parse a clock time (14:00, １４：００, 14:00:00, 14時30分, Excel time cells); blank → None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    text = nfkc(value)
    if text is None:
        return None
    match = _TIME.match(text) or _TIME_JA.match(text)
    if match is None:
        raise ValueError(f"時刻として読めません「{text}」 (unrecognised time)")
    seconds = match.groupdict().get("s")
    try:
        return dt.time(int(match["h"]), int(match["m"] or 0), int(seconds or 0))
    except ValueError:
        raise ValueError(f"存在しない時刻です「{text}」 (impossible time)") from None


def parse_timestamp(value: Any) -> dt.datetime:
    """Parse a Google Forms timestamp (2025/01/15 10:23:45, 2025/1/5 9:03:00) to a naive local datetime."""
    if isinstance(value, dt.datetime):
        return value
    text = nfkc(value)
    if text is None:
        raise ValueError("日時が空です (empty timestamp)")
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"日時として読めません「{text}」 (unrecognised timestamp)")
    try:
        return dt.datetime(
            int(match["y"]), int(match["mo"]), int(match["d"]), int(match["h"]), int(match["mi"]), int(match["s"] or 0)
        )
    except ValueError:
        raise ValueError(f"存在しない日時です「{text}」 (impossible timestamp)") from None


def parse_yes_no(value: Any) -> bool | None:
    """Parse はい / いいえ (also yes / no); blank → None."""
    text = nfkc(value)
    if text is None:
        return None
    folded = text.casefold()
    if folded in {"はい", "yes", "true", "あり"}:
        return True
    if folded in {"いいえ", "no", "false", "なし"}:
        return False
    raise ValueError(f"「はい」か「いいえ」ではありません「{text}」 (expected はい or いいえ)")


def parse_email(value: Any) -> str | None:
    """NFKC an email address; anything not shaped user@domain.tld raises ValueError; blank → None."""
    text = nfkc(value)
    if text is not None and not _EMAIL.fullmatch(text):
        raise ValueError(f"メールアドレスの形式ではありません「{text}」 (not an email address)")
    return text


def normalise_phone(value: Any) -> str | None:
    """NFKC a phone number and keep only digits and hyphens; None when no digit is left."""
    text = nfkc(value)
    if text is None:
        return None
    text = text.translate(_PHONE_DASHES)
    kept = re.sub(r"-{2,}", "-", re.sub(r"[^0-9-]", "", text)).strip("-")
    return kept if any(ch.isdigit() for ch in kept) else None
