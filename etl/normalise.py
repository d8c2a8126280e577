"""Pure normalisers for the values cities type into their lists: names, counts, times, phones.

Text normalisation (nfkc, clean_text) is in common/text.py and dates, months and 年度 in
common/calendar.py, shared with the warehouse.

Every parser raises ValueError with a Japanese message and its English gloss in parentheses, so the
message can go straight into the quarantine table for the city to read.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from common.text import nfkc

_TIMESTAMP = re.compile(
    r"^(?P<y>\d{4})[/-](?P<mo>\d{1,2})[/-](?P<d>\d{1,2})[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?$"
)
_TIME = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")
_TIME_JA = re.compile(r"^(?P<h>\d{1,2})\s*時\s*(?:(?P<m>\d{1,2})\s*分)?$")

# Units a count is written with: people, cases, days, times.
_COUNT_SUFFIX = re.compile(r"\s*(?:名|人|件|日間|日|回)$")
# An approximate count (約60, 60名程度, 60以上) is not a figure a city can quote: refused, not rounded.
_APPROXIMATE = re.compile(
    r"^(?:約|およそ|ほぼ|概ね|大体|~|〜|∼)|(?:程度|くらい|ぐらい|前後|以上|以下|未満|余り|強|弱|超|\+|~|〜)$"
)
_YEN = re.compile(r"^[¥\\]\s*|\s*円$")
# A lone dash is how Japanese spreadsheets say "none" in a count column.
_DASHES = frozenset({"-", "‐", "−", "―", "ー", "—"})
_PHONE_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−ー"})
_NOT_PHONE = re.compile(r"[^0-9-]")
_DASH_RUN = re.compile(r"-{2,}")

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


class _KeepLettersDigitsMarks(dict):
    """str.translate table keeping a character of category L*, N* or M* and deleting any other.

    Filled per code point on first sight, so a name's characters cost a dict lookup in C each, not a
    unicodedata.category call in Python (≈ 5 million calls at 100k organisations).
    """

    def __missing__(self, code: int) -> int | None:
        kept = code if unicodedata.category(chr(code))[0] in "LNM" else None
        self[code] = kept
        return kept


_LETTERS_DIGITS_MARKS = _KeepLettersDigitsMarks()


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
    key = text.translate(_LETTERS_DIGITS_MARKS)
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
    kept = _DASH_RUN.sub("-", _NOT_PHONE.sub("", text)).strip("-")
    # Only ASCII digits and inner hyphens are left, so a non-empty result starts with a digit.
    return kept or None
