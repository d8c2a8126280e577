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
