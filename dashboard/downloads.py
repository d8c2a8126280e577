"""Download payloads that open cleanly in Excel, and the app's one download button (each click is audited)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import streamlit as st
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from common.calendar import fiscal_year_label
from common.roles import Viewer
from common.text import display_width
from dashboard import auth, state
from dashboard.i18n import translate
from warehouse import exports, operations
from warehouse.neutralise import FORMULA_STARTS, neutralise, neutralised, xlsx_cell

BOM = "\ufeff".encode()
# Session key holding the url_path of the page being run (set by app.py): the audit target's first part.
PAGE_KEY = "current_page"
ACTIONS = ("download", "export")
# Media type of each kind of file the pages hand out, by file extension.
MIME_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "kml": "application/vnd.google-earth.kml+xml",
    "kmz": "application/vnd.google-earth.kmz",
    "geojson": "application/geo+json",
    "zip": "application/zip",
    "html": "text/html",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
__all__ = ["FORMULA_STARTS", "neutralise", "neutralised"]


def _json_text(value: object) -> str | None:
    """A nested cell (list or struct) as JSON text, Japanese kept readable; None stays None."""
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def flattened(frame: pl.DataFrame) -> pl.DataFrame:
    """Frame with nested columns (lists, arrays, structs) as JSON text: CSV and Excel cells hold only text."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    # Plain Python on the calling (script) thread, not a polars callback on its worker threads (issue #17).
    return frame.with_columns(
        pl.Series(c, [_json_text(value) for value in frame[c].to_list()], dtype=pl.String) for c in nested
    )


@dataclass(frozen=True)
class YearColumns:
    """The 年度 a page's table shows, as its download names it: the year's label under header, then fiscal_year."""

    fiscal_year: int
    label: str  # R6年度 (ja) or FY2024 (en)
    header: str  # 年度 / Fiscal year

    def appended(self, frame: pl.DataFrame) -> pl.DataFrame:
        """frame with the year's two columns after its own (its columns keep their order)."""
        return frame.with_columns(
            pl.lit(self.label, dtype=pl.String).alias(self.header),
            pl.lit(self.fiscal_year, dtype=pl.Int32).alias("fiscal_year"),
        )


def year_columns(con: duckdb.DuckDBPyConnection, lang: str) -> YearColumns | None:
    """The 年度 of what the page's connection shows (the data's year, whichever year the page reads), in lang.

    Resolved on the script thread (a deferred download runs later, outside it); None for a warehouse without years.
    """
    year = exports.data_year(con)
    if year is None:
        return None
    return YearColumns(year, fiscal_year_label(year, lang), translate(lang, "download.fiscal_year"))


def csv_bytes(frame: pl.DataFrame, year: YearColumns | None = None) -> bytes:
    """UTF-8 CSV with BOM and CRLF line ends, so Excel opens the Japanese cleanly; with year, its 年度 columns last."""
    if year is not None:
        frame = year.appended(frame)
    buffer = io.BytesIO()
    neutralised(flattened(frame)).write_csv(buffer, line_terminator="\r\n")
    return BOM + buffer.getvalue()


# Exports of a whole filtered view arrive as Arrow batches (warehouse.query.explore.stream): each writer
# below holds one batch at a time plus the file it is writing, never the whole view as a frame.
XLSX_MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows minus the header row
XLSX_MIN_WIDTH, XLSX_MAX_WIDTH = 8, 60  # column widths in Excel character units


def csv_from_batches(batches: Iterable[pa.RecordBatch]) -> bytes:
    """The same bytes as csv_bytes(whole view), written batch by batch (header once)."""
    buffer = io.BytesIO()
    buffer.write(BOM)
    for index, batch in enumerate(batches):
        frame = neutralised(flattened(pl.from_arrow(batch)))
        frame.write_csv(buffer, include_header=index == 0, line_terminator="\r\n")
    return buffer.getvalue()


def xlsx_from_batches(batches: Iterable[pa.RecordBatch], sheet: str = "data") -> bytes:
    """An .xlsx of the view (openpyxl write-only): bold header row, frozen, columns sized from the first batch."""
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    rows = 0
    for index, batch in enumerate(batches):
        frame = flattened(pl.from_arrow(batch))
        if index == 0:
            # Write-only sheets take widths and panes only before the first row.
            for number, name in enumerate(frame.columns, start=1):
                sample = [display_width(value) for value in frame[name].head(200).to_list()]
                width = max([display_width(name), *sample]) + 2
                worksheet.column_dimensions[get_column_letter(number)].width = min(
                    XLSX_MAX_WIDTH, max(XLSX_MIN_WIDTH, width)
                )
            worksheet.freeze_panes = "A2"
            header = []
            for name in frame.columns:
                cell = WriteOnlyCell(worksheet, value=ILLEGAL_CHARACTERS_RE.sub("", neutralise(name)))
                cell.font = Font(bold=True)
                header.append(cell)
            worksheet.append(header)
        rows += frame.height
        if rows > XLSX_MAX_ROWS:
            raise ValueError(f"{rows:,} rows do not fit in one Excel sheet ({XLSX_MAX_ROWS:,} at most)")
        for row in frame.iter_rows():
            worksheet.append([xlsx_cell(worksheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parquet_from_batches(batches: Iterable[pa.RecordBatch]) -> bytes:
    """A Parquet file of the view with its DuckDB types (values as stored: Parquet is not run by spreadsheets)."""
    buffer = io.BytesIO()
    writer: pq.ParquetWriter | None = None
    for batch in batches:
        if writer is None:
            writer = pq.ParquetWriter(buffer, batch.schema, compression="zstd")
        writer.write_batch(batch)
    if writer is not None:
        writer.close()
    return buffer.getvalue()


def _audit(viewer: Viewer, action: str, target: str, detail: dict) -> None:
    """on_click of every download button: append who downloaded what to the audit log."""
    operations.record_audit(viewer, action, target, detail)


def download_button(
    label: str,
    data: Any,
    file_name: str,
    mime: str,
    *,
    what: str,
    rows: int | None = None,
    key: str | None = None,
    action: str = "download",
    filters: Mapping[str, object] | None = None,
    container: Any = None,
    **kwargs: Any,
) -> bool:
    """st.download_button whose click appends an audit row: viewer, page/file name, what, rows, city, filters.

    data may be a callable (Streamlit's deferred download: nothing is generated until the click).
    action is "download" (a table shown on a page) or "export" (an open-data or map file).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown download action {action!r}")
    target = f"{st.session_state.get(PAGE_KEY, '')}/{file_name}"
    detail = {"what": what, "rows": rows, "file_name": file_name, "city": state.city(), "lang": state.lang()}
    if filters:
        detail["filters"] = dict(filters)
    return (container or st).download_button(
        label,
        data=data,
        file_name=file_name,
        mime=mime,
        key=key,
        on_click=_audit,
        args=(auth.viewer(), action, target, detail),
        **kwargs,
    )


def csv_download(
    label: str, frame: pl.DataFrame, stem: str, *, what: str, year: YearColumns | None = None, **kwargs: Any
) -> bool:
    """The download button of a table shown on a page: frame as Excel-ready CSV (csv_bytes, with its 年度), stem.csv."""
    data = csv_bytes(frame, year)
    return download_button(
        label, data=data, file_name=f"{stem}.csv", mime=MIME_TYPES["csv"], what=what, rows=frame.height, **kwargs
    )


def html_download(label: str, html: str, file_name: str, *, what: str, **kwargs: Any) -> bool:
    """The download button of a page we render as HTML (a report, a sheet to print), as UTF-8."""
    data = html.encode("utf-8")
    return download_button(label, data=data, file_name=file_name, mime=MIME_TYPES["html"], what=what, **kwargs)


def download_row(
    buttons: Sequence[tuple[str, str, Any]],
    stem: str,
    *,
    what: str,
    suffixed: bool = False,
    key: str | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> None:
    """One file in several formats: a button per (label, extension, data) side by side, named stem.EXT.

    The buttons share the audit detail (kwargs: rows, filters, action, icon …); with suffixed, the audited
    `what` and the widget key (if given) end in _EXT. options adds keywords to one format's button.
    """
    for column, (label, extension, data) in zip(st.columns(len(buttons)), buttons, strict=True):
        download_button(
            label,
            data=data,
            file_name=f"{stem}.{extension}",
            mime=MIME_TYPES[extension],
            what=f"{what}_{extension}" if suffixed else what,
            key=f"{key}_{extension}" if key and suffixed else key,
            container=column,
            **kwargs,
            **(options or {}).get(extension, {}),
        )
