"""The pack as a PDF (fpdf2): the same content as the Word file, Japanese text selectable, the font embedded."""

from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import WrapMode
from fpdf.fonts import FontFace
from PIL import Image

from dashboard.report_pack.model import Figure, Pack, Table, Text, display, sources_table

FONT = "pack"
PAGE_WIDTH_MM = 180  # A4 portrait less 15 mm margins
MAX_IMAGE_HEIGHT_MM = 150
HEADER_FILL = (226, 232, 240)
NUMERIC = ("int", "dec1", "pct", "yen", "man_yen")


class _Document(FPDF):
    """A4 portrait with the title in the running head and page numbers in the foot."""

    def __init__(self, running_head: str, lang: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.running_head = running_head
        # Japanese has no spaces to break lines at: wrap at any character (English wraps at words).
        self.wrap = WrapMode.CHAR if lang == "ja" else WrapMode.WORD
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=15)

    def header(self) -> None:
        """The pack's title, small and grey, above every page but the first."""
        if self.page_no() > 1:
            self.set_font(FONT, size=7)
            self.set_text_color(110)
            self.cell(0, 5, self.running_head, align="L", new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0)

    def footer(self) -> None:
        """Page n / total."""
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 5, f"{self.page_no()} / {{nb}}", align="C")


def _widths(table: Table, lang: str) -> tuple[float, ...]:
    """Column widths in proportion to each column's longest text (header included), each at least 8 %."""
    lengths = []
    for index, column in enumerate(table.columns):
        texts = [column.label, *(display(row[index], column.kind, lang) for row in table.rows)]
        lengths.append(min(max(len(text) for text in texts), 40))
    total = sum(lengths)
    shares = [max(length / total, 0.08) for length in lengths]
    scale = sum(shares)
    return tuple(share / scale * 100 for share in shares)


def _table(pdf: _Document, table: Table, lang: str) -> None:
    """Caption above, then the table: header shaded and repeated on each page, numbers right-aligned."""
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(0, 5, table.caption, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
    columns = len(table.columns)
    pdf.set_font(FONT, size=9 if columns <= 5 else 8 if columns <= 8 else 6.5)
    align = tuple("RIGHT" if column.kind in NUMERIC else "LEFT" for column in table.columns)
    with pdf.table(
        col_widths=_widths(table, lang),
        width=PAGE_WIDTH_MM,
        text_align=align,
        headings_style=FontFace(fill_color=HEADER_FILL),
        line_height=pdf.font_size * 1.6,
        repeat_headings=1,
        wrapmode=pdf.wrap,
    ) as grid:
        heading = grid.row()
        for column in table.columns:
            heading.cell(column.label, align="CENTER")
        for values in table.rows:
            row = grid.row()
            for column, value in zip(table.columns, values, strict=True):
                row.cell(display(value, column.kind, lang))
    pdf.ln(4)


def _figure(pdf: _Document, figure: Figure, image: bytes) -> None:
    """The chart at the text width (or shorter when tall), centred, caption below."""
    with Image.open(io.BytesIO(image)) as picture:
        width_px, height_px = picture.size
    width = PAGE_WIDTH_MM
    height = width * height_px / width_px
    if height > MAX_IMAGE_HEIGHT_MM:
        height = MAX_IMAGE_HEIGHT_MM
        width = height * width_px / height_px
    if pdf.get_y() + height + 12 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(image), x=pdf.l_margin + (PAGE_WIDTH_MM - width) / 2, w=width, h=height)
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(0, 5, figure.caption, align="C", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
    pdf.ln(3)


def write(pack: Pack, images: dict[str, bytes], font: Path) -> bytes:
    """The .pdf bytes, with the TrueType font embedded (subset) so every glyph shows and copies as text."""
    pdf = _Document(pack.title, pack.lang)
    pdf.add_font(FONT, "", str(font))
    pdf.set_title(pack.title)
    pdf.set_lang(pack.lang)
    pdf.set_creator("Tsunagari")
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.multi_cell(0, 9, pack.title, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 6, pack.subtitle, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
    pdf.multi_cell(0, 6, pack.as_of, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
    for part in pack.sections:
        pdf.ln(4)
        pdf.set_font(FONT, size=14)
        pdf.multi_cell(0, 8, part.title, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
        for block in part.blocks:
            if isinstance(block, Text):
                pdf.set_font(FONT, size=11 if block.key else 10)
                pdf.multi_cell(0, 6, block.text, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
                pdf.ln(1)
            elif isinstance(block, Figure):
                _figure(pdf, block, images[block.name])
            else:
                _table(pdf, block, pack.lang)
    closing = sources_table(pack)
    pdf.add_page()
    pdf.set_font(FONT, size=14)
    pdf.multi_cell(0, 8, closing.title, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode=pdf.wrap)
    _table(pdf, closing, pack.lang)
    return bytes(pdf.output())
