"""Shared machinery of the source modules: safe file reading, raw frames, row checks, output frames."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import dataclasses
import datetime as dt
import io
import itertools
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import polars as pl
import pyarrow as pa
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, WorkSheetParser
from openpyxl.worksheet.cell_range import CellRange, MultiCellRange
from openpyxl.xml.constants import SHEET_MAIN_NS
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from common.text import nfkc
from etl.encoding import read_text
from etl.errors import EtlError, SourceError
from etl.vocab import LINEAGE, UnknownLabel, Vocabulary
from warehouse import schema as ddl

# Limits that stop a hostile or broken file before it can exhaust memory.
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
# Small members compress extremely well when they are mostly markup, so the ratio check only bites
# on members large enough to matter.
RATIO_CHECK_MIN_BYTES = 1024 * 1024
MAX_ARCHIVE_MEMBERS = 10_000

ISSUE = pl.Struct({"column": pl.String, "value": pl.String, "reason": pl.String, "check": pl.String})
ISSUES = pl.List(ISSUE)

# quarantine.scope is cell (the value became null, the row loaded), row (the row was set aside) or dependants
# (rows set aside because the row named in root_cause was; their number in dependants).
QUARANTINE_SCHEMA = ddl.quarantine_schema()
SCOPES = ("cell", "row", "dependants")


def row_label(file_name: Any, sheet: Any, row: Any) -> str:
    """How a quarantine record names a source row: 'file, sheet S, row R' (the root cause of its records)."""
    where = [str(file_name)]
    if sheet is not None:
        where.append(f"sheet {sheet}")
    if row is not None:
        where.append(f"row {row}")
    return ", ".join(where)


def dependants_record(
    file_name: str, sheet: str | None, column: str, root: str, count: int, what_ja: str, what_en: str
) -> dict[str, Any]:
    """One quarantine record for every row of a sheet set aside because its parent row (root) was."""
    return {
        "file_name": file_name,
        "sheet": sheet,
        "row_number": None,
        "column_name": column,
        "value": None,
        "reason": f"{root} の除外に伴い{what_ja} {count} 行を除外 ({count} dependent rows removed with {root}: {what_en})",
        "check_name": "match.dependants",
        "scope": "dependants",
        "root_cause": root,
        "dependants": count,
    }


# Every table a source fills, as its DDL states it; reference geography (ref_*) is etl/reference.py's.
TABLE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    name: columns for name, columns in ddl.frame_schemas().items() if not name.startswith("ref_")
}

REQUIRED = "必須項目が空です (required value is missing)"
FORMULA = "数式が入っています（値で貼り付けてください） (formula in cell)"


@dataclass
class Context:
    """What a transform may look up: the vocabularies and, once distribution is done, the organisations."""

    vocab: Vocabulary
    organizations: pl.DataFrame | None = None
    # Organisations the distribution list set aside (name key → the root cause naming their row), and
    # cities whose list sheet holds no data rows (city code → the root cause naming the sheet): answers
    # and pins that would match them are their dependants, not "not on the list".
    rejected_organizations: dict[str, str] = field(default_factory=dict)
    empty_cities: dict[str, str] = field(default_factory=dict)


@dataclass
class Transformed:
    """A source's warehouse rows (DDL columns plus _file/_sheet/_row), its quarantine and counts."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    rows_read: int
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Keys of rows set aside (name key or id → root cause), for the sources that match against them.
    rejected: dict[str, str] = field(default_factory=dict)
    # Sheets the file should have rows in but has none (sheet → root cause).
    empty_sheets: dict[str, str] = field(default_factory=dict)


def is_blank(value: Any) -> bool:
    """True for None and strings holding only whitespace."""
    # Same answer as `nfkc(value) is None` (NFKC maps no visible character to whitespace and none to
    # nothing; checked over every code point) without normalising each cell of a million rows.
    return value is None or (isinstance(value, str) and not value.strip())


def header_key(label: Any) -> str:
    """Comparison key of a header or sheet name: NFKC, casefolded, without whitespace."""
    return "".join((nfkc(label) or "").casefold().split())


@dataclass(frozen=True)
class Limits:
    """The size limits every reader enforces; defaults are the module constants, overridable per run."""

    max_file_bytes: int
    max_unpacked_bytes: int
    max_compression_ratio: int
    max_archive_members: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Limits from TSUNAGARI_MAX_* environment variables, else the defaults; a bad value raises EtlError."""
        environ = os.environ if environ is None else environ
        # Read at call time, so a monkeypatched module constant is the default.
        defaults = {
            "max_file_bytes": MAX_FILE_BYTES,
            "max_unpacked_bytes": MAX_UNCOMPRESSED_BYTES,
            "max_compression_ratio": MAX_COMPRESSION_RATIO,
            "max_archive_members": MAX_ARCHIVE_MEMBERS,
        }
        values = {}
        for name, default in defaults.items():
            raw = environ.get(LIMIT_SETTINGS[name][0])
            values[name] = default if raw in (None, "") else parse_limit(LIMIT_SETTINGS[name][0], raw)
        return cls(**values)

    def replace(self, **changes: int | None) -> Limits:
        """A copy with the given limits changed (None keeps the current value)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# Each limit's environment variable and CLI option (python -m etl build), named in the error that hits it.
LIMIT_SETTINGS = {
    "max_file_bytes": ("TSUNAGARI_MAX_FILE_BYTES", "--max-file-bytes"),
    "max_unpacked_bytes": ("TSUNAGARI_MAX_UNPACKED_BYTES", "--max-unpacked-bytes"),
    "max_compression_ratio": ("TSUNAGARI_MAX_COMPRESSION_RATIO", "--max-compression-ratio"),
    "max_archive_members": ("TSUNAGARI_MAX_ARCHIVE_MEMBERS", "--max-archive-members"),
}
_LIMITS: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("etl_limits", default=None)


def parse_limit(name: str, raw: str) -> int:
    """A limit setting as a positive whole number; anything else raises EtlError naming the setting."""
    try:
        value = int(str(raw).replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise EtlError(f"{name}: 正の整数を指定してください「{raw}」 (must be a positive whole number)")
    return value


def limits() -> Limits:
    """The limits of the running build (set by use_limits), else the environment's."""
    return _LIMITS.get() or Limits.from_env()


@contextlib.contextmanager
def use_limits(value: Limits | None) -> Iterator[None]:
    """Apply limits to every reader called inside the block (None: the environment's)."""
    token = _LIMITS.set(value)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def _setting(name: str) -> str:
    """How to raise one limit, as the error says it."""
    env, option = LIMIT_SETTINGS[name]
    return f"{env} or {option}"


# Leading bytes of the file types a city most often saves by mistake under a source's name: (bytes, ja, en).
_SIGNATURES = (
    (b"%PDF", "PDF", "a PDF"),
    (b"\x89PNG", "PNG 画像", "a PNG image"),
    (b"\xff\xd8\xff", "JPEG 画像", "a JPEG image"),
    (b"GIF8", "GIF 画像", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "旧形式の Excel/Word (.xls/.doc)", "an old .xls/.doc file"),
    (b"PK\x03\x04", "ZIP", "a ZIP archive"),
    (b"\x1f\x8b", "gzip", "a gzip archive"),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """What a file's first bytes say it is as (ja, en) — PDF, an image, HTML, ZIP … — or None."""
    for signature, ja, en in _SIGNATURES:
        if head.startswith(signature):
            return ja, en
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML", "an HTML page"
    # XHTML behind an XML declaration; a KML document (whose descriptions may hold HTML) is not one.
    if text.startswith(b"<?xml") and b"<html" in text[:512] and b"<kml" not in text[:512]:
        return "HTML", "an HTML page"
    return None


def check_file(path: Path) -> None:
    """Fail unless path is a regular file no larger than the file-size limit."""
    if not path.is_file():
        raise SourceError(path.name, "ファイルがありません (file not found)")
    size = path.stat().st_size
    limit = limits().max_file_bytes
    if size > limit:
        raise SourceError(
            path.name,
            f"ファイルが大きすぎます（{size} バイト） (file too large, limit {limit} bytes; "
            f"set {_setting('max_file_bytes')})",
        )
    if size == 0:
        raise SourceError(path.name, "ファイルが空です (empty file)")


def too_big(file_name: str, limit: int) -> SourceError:
    """The error of an archive that expands beyond the unpacked-size limit."""
    return SourceError(
        file_name,
        f"展開後のサイズが大きすぎます (archive expands beyond {limit} bytes; set {_setting('max_unpacked_bytes')})",
    )


def check_zip(archive: zipfile.ZipFile, file_name: str) -> None:
    """Reject archives with unsafe member paths, too many members or zip-bomb sizes."""
    limit = limits()
    members = archive.infolist()
    if len(members) > limit.max_archive_members:
        raise SourceError(
            file_name,
            f"圧縮ファイルの中身が多すぎます (too many archive members: {len(members)}, limit "
            f"{limit.max_archive_members}; set {_setting('max_archive_members')})",
        )
    total = 0
    for info in members:
        name = info.filename
        posix, windows = PurePosixPath(name), PureWindowsPath(name)
        if (
            posix.is_absolute()
            or windows.is_absolute()
            or windows.drive
            or ".." in posix.parts
            or ".." in windows.parts
        ):
            raise SourceError(file_name, f"圧縮ファイルに危険なパス「{name}」があります (unsafe path in archive)")
        total += info.file_size
        if total > limit.max_unpacked_bytes:
            raise too_big(file_name, limit.max_unpacked_bytes)
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > limit.max_compression_ratio * max(
            info.compress_size, 1
        ):
            raise SourceError(
                file_name,
                f"圧縮率が異常です「{name}」 (suspicious compression ratio, possible zip bomb; limit "
                f"{limit.max_compression_ratio}:1; set {_setting('max_compression_ratio')})",
            )


def read_member(archive: zipfile.ZipFile, name: str, file_name: str) -> bytes:
    """Read one archive member, never more than the unpacked-size limit whatever its header claims."""
    limit = limits().max_unpacked_bytes
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise too_big(file_name, limit)
    return data


def cell_text(value: Any) -> str | None:
    """A cell value as the raw string the transforms parse: dates as ISO, integral floats without .0."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _match_headers(
    labels: Sequence[Any],
    expected: Sequence[str],
    variants: Mapping[str, Sequence[str]],
    file_name: str,
    sheet: str | None,
) -> dict[int, str]:
    """Map header positions to canonical column names; missing or duplicated headers are SourceErrors."""
    accepted: dict[str, str] = {}
    for column in expected:
        for label in (column, *variants.get(column, ())):
            accepted[header_key(label)] = column
    positions: dict[int, str] = {}
    seen: set[str] = set()
    for index, label in enumerate(labels):
        text = nfkc(label)
        if text is None:
            continue
        name = accepted.get(header_key(text), text)
        if name in seen:
            raise SourceError(
                file_name, f"見出し「{name}」が重複しています (duplicated header)", sheet=sheet, row=1, column=name
            )
        seen.add(name)
        positions[index] = name
    missing = [c for c in expected if c not in seen]
    if missing:
        names = "」「".join(missing)
        raise SourceError(
            file_name,
            f"必須の見出し「{names}」がありません (missing required column)",
            sheet=sheet,
            column="、".join(missing),
        )
    return positions


def raw_frame(records: list[dict[str, Any]], columns: Iterable[str]) -> pl.DataFrame:
    """Raw frame: every source column as String, then lineage and extract issues."""
    schema = {c: pl.String for c in columns} | LINEAGE
    # Column by column: polars builds a frame from lists many times faster than from row dicts.
    frame = pl.DataFrame({c: [record.get(c) for record in records] for c in schema}, schema=schema)
    return frame.with_columns(issues_series([record.get("_issues") or [] for record in records]))


def issues_series(issues: Sequence[list[dict[str, Any]]]) -> pl.Series:
    """The _issues column from each row's list of issues, built from the few rows that have any (polars
    converts a list of structs one Python row at a time, seconds for a million empty lists)."""
    fields = list(ISSUE.to_schema())
    flat = [(i, *(found[k] for k in fields)) for i, row in enumerate(issues) for found in row]
    index = pl.DataFrame({"_i": range(len(issues))}, schema={"_i": pl.Int64})
    if not flat:
        return index.with_columns(_issues=pl.lit([], ISSUES))["_issues"]
    parts = pl.DataFrame(flat, schema={"_i": pl.Int64} | dict(ISSUE.to_schema()), orient="row")
    grouped = parts.group_by("_i", maintain_order=True).agg(_issues=pl.struct(*fields))
    joined = index.join(grouped, on="_i", how="left", maintain_order="left")
    return joined.select(pl.col("_issues").fill_null(pl.lit([], ISSUES)).cast(ISSUES)).to_series()


def raw_columns(
    values: Mapping[str, list[Any]],
    columns: Iterable[str],
    file_name: str,
    sheet: str | None,
    numbers: list[int],
    issues: list[list[dict[str, Any]]] | None = None,
) -> pl.DataFrame:
    """Raw frame from whole columns (the frame raw_frame makes of the same rows): every source column as
    String (one with no values null), then lineage and extract issues (none: every row's list empty)."""
    height = len(numbers)
    data = {c: values.get(c, [None] * height) for c in columns}
    data |= {"_file": [file_name] * height, "_sheet": [sheet] * height, "_row": numbers}
    schema = {c: pl.String for c in columns} | LINEAGE
    frame = pl.DataFrame(data, schema=schema)
    if issues is None:
        return frame.with_columns(_issues=pl.lit([], dtype=ISSUES))
    return frame.with_columns(issues_series(issues))


def issue(column: str | None, value: Any, reason: str, check: str) -> dict[str, str | None]:
    """One extract-time problem of a row, carried in the raw frame's _issues column."""
    return {"column": column, "value": None if value is None else str(value), "reason": reason, "check": check}


# What a damaged archive or XML part can raise inside zipfile, zlib, openpyxl and the XML parsers; a reader
# turns each into a SourceError naming the file. SyntaxError covers ElementTree's and lxml's parse errors.
DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    SyntaxError,
    InvalidFileException,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    OSError,
    UnicodeError,
    CalamineError,
)


def damaged(file_name: str, what_ja: str, what_en: str, exc: BaseException, *, sheet: str | None = None) -> SourceError:
    """A SourceError for a file whose bytes are damaged: what it is not, and the reader's own reason."""
    reason = str(exc) or type(exc).__name__
    return SourceError(file_name, f"{what_ja} ({what_en}: {reason})", sheet=sheet)


def not_a(what_ja: str, what_en: str, path: Path, *, zip_ok: bool = True) -> SourceError | None:
    """A SourceError when the file's first bytes show another type of file (HTML, PDF, an image …)."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    found = sniff(head)
    if found is None or (found[0] == "ZIP" and zip_ok):
        return None
    return SourceError(
        path.name, f"{what_ja}ではありません（中身は {found[0]} です） (not {what_en}: it is {found[1]})"
    )


def read_xlsx(
    path: Path,
    sheets: Mapping[str, Sequence[str]],
    variants: Mapping[str, Sequence[str]] | None = None,
) -> pl.DataFrame:
    """Read the expected sheets of a workbook into one raw frame (header on row 1; blank rows skipped)."""
    check_file(path)
    variants = variants or {}
    not_xlsx = not_a("Excel ファイル (.xlsx)", "an .xlsx workbook", path)
    if not_xlsx is not None:
        raise not_xlsx
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip(archive, path.name)
        workbook = _Workbook(path)
    except SourceError:
        raise
    except DAMAGED as exc:
        raise damaged(path.name, "Excel ファイルとして読めません", "not a valid .xlsx file", exc) from exc
    try:
        by_key = {header_key(title): title for title in workbook.sheets}
        frames = []
        for sheet, expected in sheets.items():
            title = sheet if sheet in workbook.sheets else by_key.get(header_key(sheet))
            if title is None:
                raise SourceError(path.name, f"シート「{sheet}」がありません (missing sheet)", sheet=sheet)
            try:
                frames.append(_read_sheet(workbook, _SheetSpec(title, sheet, expected, variants, path.name)))
            except SourceError:
                raise
            except DAMAGED as exc:
                # A member cut short, overwritten or failing its CRC shows only when its sheet is read.
                raise damaged(
                    path.name,
                    "Excel ファイルが壊れているか途中で切れています",
                    "damaged or truncated .xlsx file",
                    exc,
                    sheet=sheet,
                ) from exc
    finally:
        workbook.close()
    raw = pl.concat(frames, how="diagonal_relaxed")
    if raw.height == 0:
        raise SourceError(path.name, "データ行がありません (no data rows)")
    return raw


_INLINE_TEXT = f"{{{SHEET_MAIN_NS}}}t"


class _SheetParser(WorkSheetParser):
    """openpyxl's sheet parser with a shortcut for plain inline strings (<is><t>text</t></is>).

    openpyxl builds a rich-text object for each inline string to read its text; files written by
    openpyxl's write-only mode (and the city's exports) hold every text cell that way. The shortcut
    gives the same cell dict; any other cell (runs, phonetics, formulas, numbers) goes to openpyxl.
    """

    def parse_cell(self, element: Any) -> dict:
        """Parse one <c> element into openpyxl's cell dict."""
        if element.get("t") == "inlineStr" and element.find(FORMULA_TAG) is None:
            child = element.find(INLINE_STRING)
            if child is not None and len(child) == 1 and child[0].tag == _INLINE_TEXT:
                coordinate = element.get("r")
                if coordinate:
                    row, column = coordinate_to_tuple(coordinate)
                    self.col_counter = column
                else:
                    self.col_counter += 1
                    row, column = self.row_counter, self.col_counter
                style_id = element.get("s", 0)
                if style_id:
                    style_id = int(style_id)
                value = child[0].text or ""
                return {"row": row, "column": column, "value": value, "data_type": "s", "style_id": style_id}
        return super().parse_cell(element)


# What sends a sheet to openpyxl's parser: formula cells (<f>; their text, shared ones translated, is
# the cell's value), error cells (t="e") and merged ranges. Anything else calamine reads with the same
# values (a test reads every workbook of the repository both ways).
_NEEDS_OPENPYXL = re.compile(rb'<(?:\w+:)?f[\s>/]|\st="e"|<(?:\w+:)?mergeCell[\s>/]')
# Every match of _NEEDS_OPENPYXL contains one of these (a tag named f or mergeCell, with or without a prefix).
_NEEDS_MARKS = (b"<f", b":f", b't="e"', b"mergeCell")
# Bytes of XML read at a time while scanning a sheet part; the overlap keeps a tag split across chunks.
_SCAN_CHUNK = 1 << 20
_SCAN_OVERLAP = 32


class _Workbook:
    """An .xlsx opened for reading: its worksheets' titles and XML parts, read by calamine or openpyxl.

    Calamine (Rust) reads plain sheets: values and types are what openpyxl gives, many times faster. A
    sheet holding formulas, error cells or merged ranges is parsed with openpyxl's own sheet parser, the
    one a full load uses, so the formula text (data_type "f") and the merges come out as they always have.
    openpyxl's read_only mode would size every worksheet and, when a sheet has no <dimension> record
    (openpyxl's own write-only files), parse the whole sheet once more: only the workbook parts are read
    here, and the shared strings and styles only when a sheet needs openpyxl.
    """

    def __init__(self, path: Path) -> None:
        self.reader = ExcelReader(path, read_only=True, data_only=False, keep_links=False)
        self.book: CalamineWorkbook | None = None
        self._styled = False
        try:
            self.reader.read_manifest()
            self.reader.read_workbook()
            # Sheet titles → XML part, in workbook order; chartsheets hold no rows.
            self.sheets = {
                sheet.name: rel.target
                for sheet, rel in self.reader.parser.find_sheets()
                if rel.target in self.reader.valid_files and "chartsheet" not in rel.Type
            }
            self.book = CalamineWorkbook.from_path(str(path))
            self.plain_titles = {m.name for m in self.book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet}
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the archive and calamine's workbook."""
        self.reader.archive.close()
        if self.book is not None:
            self.book.close()

    def plain(self, title: str) -> bool:
        """True when calamine can read the sheet: no formula, error cell or merged range in its XML."""
        if title not in self.plain_titles:
            return False
        tail = b""
        with self.reader.archive.open(self.sheets[title]) as part:
            while chunk := part.read(_SCAN_CHUNK):
                # memchr-fast finds first: the regex runs only on a chunk that may hold one of its tags.
                window = tail + chunk
                if any(mark in window for mark in _NEEDS_MARKS) and _NEEDS_OPENPYXL.search(window):
                    return False
                tail = chunk[-_SCAN_OVERLAP:]
        return True

    def values(self, title: str) -> tuple[int, int, Iterator[list[Any]]]:
        """A plain sheet's (first row, first column, rows of values) from calamine; 1-based, "" = empty."""
        sheet = self.book.get_sheet_by_name(title)
        start = sheet.start or (0, 0)
        return start[0] + 1, start[1] + 1, sheet.iter_rows()

    def rows(self, title: str) -> tuple[Iterator[tuple[int, list[dict]]], _SheetParser]:
        """Stream a sheet's rows as (row number, cells); the parser's merged_cells fills once they are exhausted
        (<mergeCells> follows the rows in the XML)."""
        if not self._styled:
            self.reader.read_strings()
            apply_stylesheet(self.reader.archive, self.reader.wb)
            self._styled = True
        wb = self.reader.wb
        source = self.reader.archive.open(self.sheets[title])
        parser = _SheetParser(
            source,
            self.reader.shared_strings,
            data_only=False,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )

        def rows() -> Iterator[tuple[int, list[dict]]]:
            with source:
                yield from parser.parse()

        return rows(), parser


@dataclass(frozen=True)
class _SheetSpec:
    """One sheet a reader expects: its title in the workbook, the name the contract gives it, its columns."""

    title: str
    sheet: str
    expected: Sequence[str]
    variants: Mapping[str, Sequence[str]]
    file_name: str


def _read_sheet(
    workbook: _Workbook,
    spec: _SheetSpec,
) -> pl.DataFrame:
    """Read one worksheet: header row 1, data from row 2, merged cells and formulas flagged per row."""
    if workbook.plain(spec.title):
        return _scan_plain(workbook, spec)
    records, merges = _scan_sheet(workbook, spec, None)
    if merges:
        # Merges are listed after the rows, so a sheet that has any is read a second time knowing
        # them (rare: merged cells are a data-entry fault the city is told to fix).
        records, _ = _scan_sheet(workbook, spec, merges)
    return records


def _scan_plain(
    workbook: _Workbook,
    spec: _SheetSpec,
) -> pl.DataFrame:
    """A sheet without formulas, error cells or merges, through calamine: the records _scan_sheet makes."""
    first_row, first_column, rows = workbook.values(spec.title)
    first = next(rows, None) if first_row == 1 else None
    # Calamine reads every number as a float; openpyxl gives a whole number in the XML as an int.
    header: list[Any] = [None] * (first_column - 1) + [
        None if v == "" else int(v) if isinstance(v, float) and v.is_integer() else v for v in first or ()
    ]
    positions = _match_headers(header, spec.expected, spec.variants, spec.file_name, spec.sheet)
    # (index in a calamine row, column name) of the expected columns, in sheet order.
    wanted = [(index - first_column + 1, name) for index, name in positions.items() if index >= first_column - 1]
    indexes = [index for index, _ in wanted]
    columns: list[list[Any]] = [[] for _ in wanted]
    numbers: list[int] = []
    # Row 1 is the header when the sheet starts there; otherwise the header is missing and rows count on.
    number = first_row + 1 if first_row == 1 else first_row
    for row in rows:
        width = len(row)
        values = [
            None if i >= width or (value := row[i]) == "" else value if type(value) is str else cell_text(value)
            for i in indexes
        ]
        if not all(v is None or not v.strip() for v in values):
            for column, value in zip(columns, values, strict=True):
                column.append(value)
            numbers.append(number)
        number += 1
    return raw_columns(
        dict(zip((name for _, name in wanted), columns, strict=True)),
        positions.values(),
        spec.file_name,
        spec.sheet,
        numbers,
    )


def _scan_sheet(
    workbook: _Workbook,
    spec: _SheetSpec,
    merges: list[CellRange] | None,
) -> tuple[pl.DataFrame, list[CellRange]]:
    """One pass over a sheet; with the sheet's merges known, cells hidden by a merge read as empty
    (as a full load makes them) and every row a merge covers carries a merged-cells issue."""
    rows, parser = workbook.rows(spec.title)
    first = next(rows, None)
    header: list[Any] = []
    if first is not None and first[0] == 1:
        for cell in first[1]:
            header.extend([None] * (cell["column"] - len(header)))
            header[cell["column"] - 1] = cell["value"]
    positions = _match_headers(header, spec.expected, spec.variants, spec.file_name, spec.sheet)
    hidden: set[tuple[int, int]] = set()
    anchors: dict[tuple[int, int], Any] = {}
    spans: list[tuple[CellRange, str]] = []
    for cells in merges or ():
        columns = [positions[i] for i in range(cells.min_col - 1, cells.max_col) if i in positions]
        hidden.update(
            (row, col)
            for row in range(cells.min_row, cells.max_row + 1)
            for col in range(cells.min_col, cells.max_col + 1)
            if (row, col) != (cells.min_row, cells.min_col)
        )
        anchors[cells.min_row, cells.min_col] = None
        # Merges in the header row or beside the table (notes, decoration) do not hide any value.
        if cells.max_row >= 2 and columns:
            spans.append((cells, columns[0]))
    chained = rows if first is None or first[0] == 1 else itertools.chain([first], rows)
    if first is not None and first[0] == 1:
        for cell in first[1]:
            if (1, cell["column"]) in anchors:
                anchors[1, cell["column"]] = cell["value"]
    records = []
    for row_number, cells in chained:
        values: dict[str, Any] = {}
        formulas = []
        for cell in cells:
            key = (row_number, cell["column"])
            if key in anchors:
                anchors[key] = cell["value"]
            column = positions.get(cell["column"] - 1)
            if column is None or key in hidden:
                continue
            value = cell["value"]
            if cell["data_type"] == "f":
                value = getattr(value, "text", value)
                formulas.append(issue(column, value, FORMULA, "extract.formula"))
            values[column] = cell_text(value)
        if all(is_blank(v) for v in values.values()):
            continue
        issues = [
            issue(
                column,
                cell_text(anchors[span.min_row, span.min_col]),
                f"結合セルがあります（{span.coord}） (merged cells)",
                "extract.merged_cells",
            )
            for span, column in spans
            if span.min_row <= row_number <= span.max_row
        ]
        lineage = {"_file": spec.file_name, "_sheet": spec.sheet, "_row": row_number}
        records.append(values | lineage | {"_issues": issues + formulas})
    found = [CellRange(merge.ref) for merge in parser.merged_cells.mergeCell] if parser.merged_cells else []
    # The same set openpyxl's full load iterates (worksheet.merged_cells.ranges), in the same order.
    return raw_frame(records, positions.values()), list(MultiCellRange(found).ranges)


def read_csv(
    path: Path, expected: Sequence[str], variants: Mapping[str, Sequence[str]] | None = None
) -> tuple[pl.DataFrame, str]:
    """Read a CSV of unknown encoding into a raw frame and report its encoding (record 1 is the header)."""
    check_file(path)
    not_csv = not_a("CSV ファイル", "a CSV file", path, zip_ok=False)
    if not_csv is not None:
        raise not_csv
    text, encoding = read_text(path)
    rows: list[list[str]] = []
    # strict: a quote left open would otherwise swallow every later record into one cell, silently.
    try:
        rows.extend(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise SourceError(
            path.name,
            f'CSV として読めません（引用符 " の閉じ忘れなど） (malformed CSV: {exc})',
            row=len(rows) + 1,
        ) from exc
    if not rows:
        raise SourceError(path.name, "ファイルが空です (empty file)")
    positions = _match_headers(rows[0], expected, variants or {}, path.name, None)
    width = len(rows[0])
    columns: dict[str, list[Any]] = {column: [] for column in positions.values()}
    wanted = [(i, columns[column]) for i, column in positions.items()]
    numbers: list[int] = []
    issues: list[list[dict[str, Any]]] = []
    for record_number, row in enumerate(rows[1:], start=2):
        if all(is_blank(v) for v in row):
            continue
        found = []
        if len(row) > width and any(not is_blank(v) for v in row[width:]):
            found.append(
                issue(
                    None,
                    ",".join(row[width:]),
                    "見出しより列が多い行です (more fields than headers)",
                    "extract.csv_fields",
                )
            )
        if len(row) >= width:
            for i, values in wanted:
                values.append(row[i])
        else:
            for i, values in wanted:
                values.append(row[i] if i < len(row) else None)
        numbers.append(record_number)
        issues.append(found)
    rows.clear()
    if not numbers:
        raise SourceError(path.name, "データ行がありません (no data rows)")
    return raw_columns(columns, positions.values(), path.name, None, numbers, issues), encoding


def extra_columns(raw: pl.DataFrame, sheets: Mapping[str | None, Sequence[str]]) -> list[str]:
    """Warnings naming source columns that hold data but are not part of the contract."""
    warnings = []
    for sheet, expected in sheets.items():
        rows = raw.filter(pl.col("_sheet").is_null() if sheet is None else pl.col("_sheet") == sheet)
        if rows.height == 0:
            continue
        extra = [
            c for c in rows.columns if not c.startswith("_") and c not in expected and rows[c].drop_nulls().len() > 0
        ]
        if extra:
            where = rows["_file"][0] + (f", sheet {sheet}" if sheet else "")
            warnings.append(f"{where}: 余分な列を無視しました「{'」「'.join(extra)}」 (extra columns ignored)")
    return warnings


class RowCheck:
    """The values of one raw row, parsed one column at a time, with every problem recorded.

    A problem in a key (an id or name the row is matched by, a required value or parent reference, a
    rule between values) sets the row aside; a bad value in any other column, also a needed one,
    becomes null and the row loads with a cell-level record.
    """

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row
        self.problems: list[dict[str, Any]] = []
        self.row_failed = False
        self.root: str | None = None
        self.label = row_label(row.get("_file"), row.get("_sheet"), row.get("_row"))
        for found in row.get("_issues") or []:
            self.fail(found["column"], found["value"], found["reason"], found["check"])

    @property
    def ok(self) -> bool:
        """True while no key of the row has failed (bad non-key values leave it loadable)."""
        return not self.row_failed

    @property
    def lineage(self) -> dict[str, Any]:
        """The row's _file, _sheet and _row."""
        return {name: self.row.get(name) for name in LINEAGE}

    def fail(self, column: str | None, value: Any, reason: str, check: str, *, cell: bool = False) -> None:
        """Record one problem of this row: the row's (set aside), or with cell=True one value's (set to null)."""
        if not cell:
            self.row_failed = True
            # Earlier cell problems of a row now set aside are part of why it is out: they stay its records.
            for problem in self.problems:
                problem["scope"] = "row"
        self.problems.append(
            {
                "file_name": self.row.get("_file"),
                "sheet": self.row.get("_sheet"),
                "row_number": self.row.get("_row"),
                "column_name": column,
                "value": None if value is None else str(value),
                "reason": reason,
                "check_name": check,
                "scope": "row" if self.row_failed else "cell",
                "root_cause": self.label,
                "dependants": None,
            }
        )

    def get(
        self,
        column: str,
        parse: Callable[[Any], Any] = nfkc,
        *,
        check: str = "normalise.text",
        required: bool = False,
        key: bool = False,
        needed: bool = False,
    ) -> Any:
        """Parse one column; a problem returns None, and sets the row aside only for a key or required column.

        needed: a value the row should have but is not matched by; missing or unreadable, it is a cell record.
        """
        raw = self.row.get(column)
        cell = not (required or key)
        value = None
        if not is_blank(raw):
            try:
                value = parse(raw)
            except UnknownLabel as exc:
                self.fail(column, raw, str(exc), f"normalise.{exc.kind}", cell=cell)
                return None
            except ValueError as exc:
                self.fail(column, raw, str(exc), check, cell=cell)
                return None
        if value is None and (required or needed):
            self.fail(column, raw, REQUIRED, "normalise.required", cell=not required)
        return value

    def depend(self, root: str) -> None:
        """Set the row aside because the row named by root was: it is counted under that root cause."""
        self.row_failed = True
        self.root = root
        for problem in self.problems:
            problem["scope"] = "row"

    def get_many(self, column: str, split: Callable[[Any], list[str]], lookup: Callable[[str], Any]) -> list[Any]:
        """Look up each label of a multi-answer cell: known labels are kept, each unknown one is a cell record."""
        raw = self.row.get(column)
        found: list[Any] = []
        for label in split(raw) if not is_blank(raw) else []:
            try:
                value = lookup(label)
            except UnknownLabel as exc:
                self.fail(column, label, str(exc), f"normalise.{exc.kind}", cell=True)
                continue
            if value not in found:
                found.append(value)
        return found


class Dependants:
    """Rows set aside because their parent row was, counted per (sheet, column, root cause)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str | None, str, str, str, str], int] = {}

    def add(self, check: RowCheck, column: str, what_ja: str, what_en: str) -> None:
        """Count a row whose check depends on a rejected parent (check.root)."""
        key = (check.row.get("_file"), check.row.get("_sheet"), column, check.root, what_ja, what_en)
        self.counts[key] = self.counts.get(key, 0) + 1

    def records(self) -> list[dict[str, Any]]:
        """One quarantine record per root cause and dependent sheet."""
        return [
            dependants_record(file_name, sheet, column, root, count, what_ja, what_en)
            for (file_name, sheet, column, root, what_ja, what_en), count in self.counts.items()
        ]


def empty_sheet_root(file_name: str, sheet: str | None) -> str:
    """The root cause of a sheet that holds only its header row."""
    return f"{row_label(file_name, sheet, None)}: データ行がありません (sheet has no data rows)"


def rows_set_aside(quarantine: pl.DataFrame) -> dict[str, int]:
    """Rows each file lost: distinct rows with a row-level record plus the dependants counted under a root.

    Cell-level records lose no row. Records without a scope (older warehouses, reference data) count as rows.
    """
    scope = pl.col("scope").fill_null("row") if "scope" in quarantine.columns else pl.lit("row")
    rows = (
        quarantine.filter((scope == "row") & pl.col("row_number").is_not_null())
        .select("file_name", "sheet", "row_number")
        .unique()
        .group_by("file_name")
        .len()
    )
    counts = dict(rows.iter_rows())
    if "dependants" in quarantine.columns:
        for name, extra in (
            quarantine.filter(scope == "dependants").group_by("file_name").agg(pl.col("dependants").sum()).iter_rows()
        ):
            counts[name] = counts.get(name, 0) + int(extra or 0)
    return counts


def quarantine_frame(records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Quarantine records as a frame with the quarantine columns."""
    rows = list(records)
    return pl.DataFrame({c: [row.get(c) for row in rows] for c in QUARANTINE_SCHEMA}, schema=QUARANTINE_SCHEMA)


def reader_result(
    raw: pl.DataFrame,
    sheets: Mapping[str | None, Sequence[str]],
    tables: dict[str, pl.DataFrame],
    quarantine: Iterable[Mapping[str, Any]],
    **more: Any,
) -> Transformed:
    """A reader's result: its tables, its quarantine records as a frame, the rows read and extra-column warnings."""
    return Transformed(
        tables=tables,
        quarantine=quarantine_frame(quarantine),
        rows_read=raw.height,
        warnings=extra_columns(raw, sheets),
        **more,
    )


# Set per bundle year after the transform (etl.years): a reader does not know which 年度 its file is.
YEAR_COLUMNS = ("fiscal_year", "first_fiscal_year", "last_fiscal_year")


def table_schema(name: str) -> dict[str, pl.DataType]:
    """A reader's output columns of warehouse table name: its DDL columns but the year columns, plus lineage."""
    return {column: dtype for column, dtype in TABLE_SCHEMAS[name].items() if column not in YEAR_COLUMNS} | LINEAGE


def table(name: str, records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Output frame of warehouse table name: its DDL columns (but the year columns) and dtypes plus lineage."""
    schema = table_schema(name)
    rows = list(records)
    return pl.DataFrame({c: [record.get(c) for record in rows] for c in schema}, schema=schema, strict=False)


class Organizations:
    """The organisations by name key, each made a dict only when asked for (a million to_dicts cost seconds)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.columns = frame.columns
        self.rows = dict(zip(frame["name_key"].to_list(), frame.rows(), strict=True))

    def get(self, key: str) -> dict[str, Any] | None:
        """The organisation with this name key, or None."""
        row = self.rows.get(key)
        return None if row is None else dict(zip(self.columns, row, strict=True))


_MISSING = object()


def parse_column(values: Sequence[Any], parse: Callable[[Any], Any], *, repeats: bool = False) -> tuple[list, set[int]]:
    """Parse a whole column as RowCheck.get parses each cell: the values (None where blank or failed) and the
    positions whose parse raised. repeats: parse each distinct value once (a column of few distinct labels)."""
    out: list[Any] = []
    failed: set[int] = set()
    memo: dict[Any, Any] = {}
    append = out.append
    for index, raw in enumerate(values):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            append(None)
            continue
        if repeats:
            found = memo.get(raw, _MISSING)
            if found is not _MISSING:
                if found is _FAILED:
                    failed.add(index)
                    append(None)
                else:
                    append(found)
                continue
        try:
            value = parse(raw)
        except ValueError:
            failed.add(index)
            value = None
            if repeats:
                memo[raw] = _FAILED
        else:
            if repeats:
                memo[raw] = value
        append(value)
    return out, failed


_FAILED = object()


def string_lists(rows: Sequence[Sequence[str | None] | None]) -> pl.Series:
    """A List(String) column of Python lists (None: a null row), made from one flat array and its offsets.

    polars builds a Series per inner list from a list of lists (≈ 0.1 ms each, seconds at 100k answers).
    """
    offsets = [0]
    flat: list[str | None] = []
    nulls: list[bool] = []
    for row in rows:
        nulls.append(row is None)
        if row is not None:
            flat.extend(row)
        offsets.append(len(flat))
    mask = pa.array(nulls, pa.bool_()) if any(nulls) else None
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.large_string()), mask=mask)
    return pl.Series(lists, dtype=pl.List(pl.String))


def select_table(name: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Output frame of warehouse table name from a frame: its DDL columns (but the year columns) and dtypes plus
    lineage (missing → null)."""
    schema = table_schema(name)
    return rows.select(
        (pl.col(c) if c in rows.columns else pl.lit(None)).cast(dtype).alias(c) for c, dtype in schema.items()
    )


def sheet_rows(raw: pl.DataFrame, sheet: str) -> list[dict[str, Any]]:
    """The raw rows of one sheet, in file order."""
    return raw.filter(pl.col("_sheet") == sheet).sort("_row").to_dicts() if "_sheet" in raw.columns else []
