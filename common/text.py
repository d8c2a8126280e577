"""Text normalisation shared by the ETL and the operational store: NFKC, trimmed, blank becomes None."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_LINE_SPACE = re.compile(r"[^\S\n]+")


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
    lines = [_LINE_SPACE.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n") or None


def display_width(value: object) -> int:
    """Width of a value in Excel character units: full-width (CJK) characters count two."""
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


_KANJI_DIGITS = {d: i for i, d in enumerate("〇一二三四五六七八九")}
# A kanji numeral (十一, 二十, 百三) only where a 丁目, 番, 号 or 条 follows: inside a name (一之宮, 四谷) it stays text.
_KANJI_NUMBER = re.compile(r"([〇一二三四五六七八九十百千]+)(?=丁目|番|号|条)")
_DIGITS = re.compile(r"(\d+)")
# Wide enough for any 丁目 or lot number; zero-padded numbers sort as numbers in a plain string sort.
_PAD = 8


def kanji_number(text: str) -> int:
    """A kanji numeral as written in 丁目 names: 十一 → 11, 二十 → 20, 百三 → 103, 一〇 → 10."""
    total, digits = 0, 0
    for char in text:
        if char in _KANJI_DIGITS:
            digits = digits * 10 + _KANJI_DIGITS[char]
            continue
        unit = {"十": 10, "百": 100, "千": 1000}[char]
        total += (digits or 1) * unit
        digits = 0
    return total + digits


def town_sort_key(name: str | None) -> str:
    """A key that orders 町丁目 by number, not by character: 一, 二, 三 … 十, 十一 (and 2丁目 before 10丁目)."""
    text = nfkc(name) or ""
    text = _KANJI_NUMBER.sub(lambda match: str(kanji_number(match[1])), text)
    return _DIGITS.sub(lambda match: match[1].zfill(_PAD), text)
