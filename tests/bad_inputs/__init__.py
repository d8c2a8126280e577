"""Mutations of a copy of data/sample for the bad-input catalogue: each returns a function of Inputs."""

from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
REFERENCE = ROOT / "tests" / "fixtures" / "reference"

DISTRIBUTION = "distribution_list.xlsx"
SURVEY = "survey_answers.csv"
MAP = "resource_map.kmz"
EVENTS = "events.xlsx"
PROGRESS = "pf_progress.xlsx"
CITIES = "cities.csv"


@dataclass(frozen=True)
class Inputs:
    """A writable copy of the sample bundle and of the synthetic reference geography."""

    bundle: Path
    reference: Path


Mutation = Callable[[Inputs], None]


def fresh_inputs(root: Path) -> Inputs:
    """Copy data/sample and tests/fixtures/reference below root."""
    inputs = Inputs(root / "bundle", root / "reference")
    shutil.copytree(SAMPLE, inputs.bundle)
    shutil.copytree(REFERENCE, inputs.reference)
    return inputs


# --- xlsx -------------------------------------------------------------------------------------------


def workbook(file: str, edit: Callable[[Any], None]) -> Mutation:
    """Open a workbook of the bundle with openpyxl, let edit change it, save it."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / file
        book = openpyxl.load_workbook(path)
        edit(book)
        book.save(path)

    return apply


def cells(file: str, sheet: str, **values: Any) -> Mutation:
    """Set cells of one sheet: cells(EVENTS, "契約", D2=0)."""

    def edit(book: Any) -> None:
        for coordinate, value in values.items():
            book[sheet][coordinate] = value

    return workbook(file, edit)


def text_cell(file: str, sheet: str, coordinate: str, value: str) -> Mutation:
    """Set a cell to a string that openpyxl would otherwise store as a formula (typed as text in Excel)."""

    def edit(book: Any) -> None:
        cell = book[sheet][coordinate]
        cell.value = value
        cell.data_type = "s"

    return workbook(file, edit)


def merge(file: str, sheet: str, cell_range: str) -> Mutation:
    """Merge a range of cells (Excel keeps only the top-left value)."""
    return workbook(file, lambda book: book[sheet].merge_cells(cell_range))


def insert_blank_rows(file: str, sheet: str, before: int, count: int) -> Mutation:
    """Insert empty rows inside a sheet's table."""
    return workbook(file, lambda book: book[sheet].insert_rows(before, count))


def hide_sheet(file: str, sheet: str) -> Mutation:
    """Hide one of the expected sheets."""

    def edit(book: Any) -> None:
        book[sheet].sheet_state = "hidden"

    return workbook(file, edit)


def add_hidden_sheet(file: str, title: str, rows: list[list[Any]]) -> Mutation:
    """Add a hidden sheet that is not part of the contract."""

    def edit(book: Any) -> None:
        sheet = book.create_sheet(title)
        sheet.sheet_state = "hidden"
        for row in rows:
            sheet.append(row)

    return workbook(file, edit)


def rename_sheet(file: str, sheet: str, title: str) -> Mutation:
    """Rename a sheet."""

    def edit(book: Any) -> None:
        book[sheet].title = title

    return workbook(file, edit)


def append_row(file: str, sheet: str, row: list[Any]) -> Mutation:
    """Append one row below a sheet's table."""
    return workbook(file, lambda book: book[sheet].append(row))


def add_zip_member(file: str, name: str, data: bytes) -> Mutation:
    """Add a member to a zip container (xlsx or kmz) as it is."""

    def apply(inputs: Inputs) -> None:
        with zipfile.ZipFile(inputs.bundle / file, "a", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, data)

    return apply


# --- text files -------------------------------------------------------------------------------------


def text(file: str, edit: Callable[[str], str], encoding: str = "cp932") -> Mutation:
    """Decode a text file, edit the text and encode it back in the same encoding."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / file
        path.write_text(edit(path.read_bytes().decode(encoding)), encoding=encoding, newline="")

    return apply


def raw_bytes(file: str, edit: Callable[[bytes], bytes]) -> Mutation:
    """Edit a file's bytes."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / file
        path.write_bytes(edit(path.read_bytes()))

    return apply


def recode(file: str, encoding: str, *, source: str = "cp932", bom: bool = False) -> Mutation:
    """Re-encode a text file (EUC-JP has no ～: it gets 〜, as an EUC-JP editor would type it)."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / file
        content = path.read_bytes().decode(source)
        if encoding.replace("-", "_").lower() == "euc_jp":
            content = content.replace("\uff5e", "\u301c")
        path.write_bytes((codecs.BOM_UTF8 if bom else b"") + content.encode(encoding))

    return apply


def utf8_line(file: str, line: int) -> Mutation:
    """Re-encode one physical line of a CP932 file as UTF-8 (a row pasted from another tool)."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / file
        lines = path.read_bytes().split(b"\r\n")
        lines[line - 1] = lines[line - 1].decode("cp932").encode("utf-8")
        path.write_bytes(b"\r\n".join(lines))

    return apply


def csv_records(file: str, edit: Callable[[list[list[str]]], None], encoding: str = "cp932") -> Mutation:
    """Parse a CSV into records (index 0 = header = row 1), edit them, write back with CRLF."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / file
        records = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))
        edit(records)
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(records)
        path.write_bytes(out.getvalue().encode(encoding))

    return apply


def csv_cells(file: str, values: Mapping[tuple[int, str], str], encoding: str = "cp932") -> Mutation:
    """Set CSV cells by (row number as the quarantine counts it, header label)."""

    def edit(records: list[list[str]]) -> None:
        header = records[0]
        for (row, column), value in values.items():
            records[row - 1][header.index(column)] = value

    return csv_records(file, edit, encoding)


def csv_extra_column(file: str, header: str, value: str, encoding: str = "cp932") -> Mutation:
    """Append a column that is not part of the contract, with the same value in every record."""

    def edit(records: list[list[str]]) -> None:
        records[0].append(header)
        for record in records[1:]:
            record.append(value)

    return csv_records(file, edit, encoding)


def sparse(file: str, size: int) -> Mutation:
    """Make a file huge without writing its bytes (a sparse file; its size is what a check sees)."""

    def apply(inputs: Inputs) -> None:
        with open(inputs.bundle / file, "r+b") as handle:
            handle.truncate(size)

    return apply


# --- My Maps ----------------------------------------------------------------------------------------


def kml(edit: Callable[[str], str]) -> Mutation:
    """Edit doc.kml inside resource_map.kmz."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / MAP
        with zipfile.ZipFile(path) as archive:
            document = archive.read("doc.kml").decode("utf-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("doc.kml", edit(document))

    return apply


def kmz(members: Mapping[str, str | bytes], *, keep_doc: bool = False) -> Mutation:
    """Replace resource_map.kmz by an archive of the given members (optionally keeping doc.kml)."""

    def apply(inputs: Inputs) -> None:
        path = inputs.bundle / MAP
        with zipfile.ZipFile(path) as archive:
            document = archive.read("doc.kml")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            if keep_doc:
                archive.writestr("doc.kml", document)
            for name, data in members.items():
                archive.writestr(name, data)

    return apply


def plain_kml(inputs: Inputs) -> None:
    """Replace resource_map.kmz by the plain resource_map.kml it holds."""
    path = inputs.bundle / MAP
    with zipfile.ZipFile(path) as archive:
        document = archive.read("doc.kml")
    path.unlink()
    (inputs.bundle / "resource_map.kml").write_bytes(document)


# --- reference geography ----------------------------------------------------------------------------


def reference_file(relative: str, content: str | bytes) -> Mutation:
    """Overwrite a file of the reference directory."""

    def apply(inputs: Inputs) -> None:
        path = inputs.reference / relative
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    return apply


def reference_json(relative: str, edit: Callable[[Any], Any]) -> Mutation:
    """Load a JSON file of the reference directory, edit the value, write it back (UTF-8)."""

    def apply(inputs: Inputs) -> None:
        path = inputs.reference / relative
        path.write_text(
            json.dumps(edit(json.loads(path.read_text(encoding="utf-8"))), ensure_ascii=False), encoding="utf-8"
        )

    return apply
