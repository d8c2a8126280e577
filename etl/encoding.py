"""Decode text source files whose encoding is not declared (CP932 from Excel users, UTF-8, UTF-8 with BOM)."""

from __future__ import annotations

import codecs
from pathlib import Path

from charset_normalizer import from_bytes

from etl.errors import SourceError

# Only encodings a Japanese city office plausibly produces; letting the detector pick among every
# codec would happily "decode" a CP932 file as Big5 or CP1252 garbage.
_CANDIDATES = ["cp932", "euc_jp", "iso2022_jp", "utf_16"]

# The detector reports the narrow codec it saw; CP932 is the superset Windows actually writes.
_CANONICAL = {
    "shift_jis": "cp932",
    "shift_jis_2004": "cp932",
    "shift_jisx0213": "cp932",
    "cp932": "cp932",
    "euc_jp": "euc-jp",
    "euc_jis_2004": "euc-jp",
    "iso2022_jp": "iso-2022-jp",
    "utf_16": "utf-16",
}


def decode_bytes(data: bytes, file_name: str) -> tuple[str, str]:
    """Decode bytes of a text file, returning (text without BOM, encoding name)."""
    if not data.strip(codecs.BOM_UTF8 + b" \t\r\n"):
        raise SourceError(file_name, "ファイルが空です (empty file)")
    if data.startswith(codecs.BOM_UTF8):
        text, encoding = _strict(data[len(codecs.BOM_UTF8) :], "utf-8", file_name), "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = _strict(data, "utf-16", file_name), "utf-16"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            _refuse_mixed(data, file_name)
            text, encoding = _detect(data, file_name)
    if "\x00" in text:
        raise SourceError(file_name, "文字コードを判別できません（バイナリファイル） (undecodable: binary file)")
    return text, encoding


def read_text(path: Path | str) -> tuple[str, str]:
    """Read a text file of unknown encoding, returning (text without BOM, encoding name)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(path.name, f"ファイルを読めません (cannot read file: {exc.strerror})") from exc
    return decode_bytes(data, path.name)


def _strict(data: bytes, encoding: str, file_name: str) -> str:
    """Decode with one codec or fail as a SourceError."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            file_name, f"文字コード {encoding} として読めません (undecodable as {encoding}, byte {exc.start})"
        ) from exc


def _refuse_mixed(data: bytes, file_name: str) -> None:
    """Fail, naming the line, when some lines are UTF-8 and others are not (a row pasted from another file).

    Decoding such a file with either codec would turn part of it into mojibake (CP932 bytes "decode"
    UTF-8 text without error), so the city is told which line to re-save instead.
    """
    if b"\x00" in data:
        return  # UTF-16 without a BOM: not a line-by-line mix of UTF-8 and a legacy code page
    utf8, other = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            other.append(number)
            continue
        # Japanese in UTF-8 takes 3 bytes; a line of 2-byte sequences only may be CP932 half-width kana.
        if any(ord(ch) > 0x7FF for ch in decoded):
            utf8.append(number)
    if utf8 and other:
        line = min(utf8, other, key=len)[0]
        raise SourceError(
            file_name,
            f"文字コードが混在しています（{line}行目が他の行と異なります。ファイル全体を CP932 か UTF-8 で保存し直してください） "
            f"(undecodable: mixed encodings, line {line} differs from the rest)",
        )


def _detect(data: bytes, file_name: str) -> tuple[str, str]:
    """Guess among the Japanese legacy encodings with charset-normalizer."""
    best = from_bytes(data, cp_isolation=_CANDIDATES).best()
    if best is not None:
        encoding = _CANONICAL.get(best.encoding, best.encoding)
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise SourceError(
            file_name,
            "文字コードを判別できません（CP932・UTF-8 で保存してください） (undecodable: save as CP932 or UTF-8)",
        ) from exc
