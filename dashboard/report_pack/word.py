"""The pack as an editable Word file (python-docx): headings, chart images, real tables, captions."""

from __future__ import annotations

import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from dashboard.report_pack.model import Figure, Pack, Table, Text, display, sources_table

# A font every Japanese Office has (Windows and Mac), so the file opens the same everywhere without embedding.
EAST_ASIAN_FONT = "游ゴシック"
LATIN_FONT = "Yu Gothic"
TEXT_WIDTH_CM = 16.0
NUMERIC = ("int", "dec1", "pct", "yen", "man_yen")


def _set_font(style, size: float) -> None:
    """Latin and East Asian font of a style (python-docx sets only the Latin one)."""
    style.font.name = LATIN_FONT
    style.font.size = Pt(size)
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)


def _repeat_header(row) -> None:
    """Mark a table's first row to repeat on every page the table runs over."""
    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


def _table(document, table: Table, lang: str) -> None:
    """Caption above (as municipal reports do), then a Table Grid table, header bold and repeated."""
    document.add_paragraph(table.caption, style="Caption")
    grid = document.add_table(rows=1, cols=len(table.columns))
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = grid.rows[0]
    _repeat_header(header)
    for cell, column in zip(header.cells, table.columns, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(column.label)
        run.bold = True
    for values in table.rows:
        cells = grid.add_row().cells
        for cell, column, value in zip(cells, table.columns, values, strict=True):
            cell.text = display(value, column.kind, lang)
            if column.kind in NUMERIC and not isinstance(value, str):
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    document.add_paragraph()


def write(pack: Pack, images: dict[str, bytes]) -> bytes:
    """The .docx bytes: title, as-of line, then each section's texts, figures (caption below) and tables."""
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.0))
    _set_font(document.styles["Normal"], 10.5)
    _set_font(document.styles["Caption"], 9)
    for name, size in (("Title", 18), ("Heading 1", 14), ("Heading 2", 12)):
        _set_font(document.styles[name], size)
    document.core_properties.title = pack.title
    document.core_properties.language = pack.lang
    document.add_heading(pack.title, level=0)
    document.add_paragraph(pack.subtitle)
    document.add_paragraph(pack.as_of)
    for part in pack.sections:
        document.add_heading(part.title, level=1)
        for block in part.blocks:
            if isinstance(block, Text):
                paragraph = document.add_paragraph()
                paragraph.add_run(block.text).bold = block.key
            elif isinstance(block, Figure):
                document.add_picture(io.BytesIO(images[block.name]), width=Cm(TEXT_WIDTH_CM))
                document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
                document.add_paragraph(block.caption, style="Caption")
            else:
                _table(document, block, pack.lang)
    closing = sources_table(pack)
    document.add_heading(closing.title, level=1)
    _table(document, closing, pack.lang)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
