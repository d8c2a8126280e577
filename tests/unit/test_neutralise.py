"""xlsx_cell: formula-looking text stays text in a spreadsheet, shown as written (the report pack's sheets)."""

from __future__ import annotations

import io

import openpyxl

from warehouse.neutralise import FORMULA_STARTS, xlsx_cell


def test_formula_looking_text_is_a_quote_prefixed_text_cell_in_a_normal_sheet():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    values = ["=1+1", "+81 団体", "-団体", "@SUM(A1)", "居場所\x07", 12, None]
    sheet.append([xlsx_cell(sheet, value) for value in values])
    buffer = io.BytesIO()
    workbook.save(buffer)
    row = next(openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active.iter_rows())
    assert [cell.value for cell in row] == ["=1+1", "+81 団体", "-団体", "@SUM(A1)", "居場所", 12]
    assert [cell.quotePrefix for cell in row] == [True, True, True, True, False, False]
    assert all(cell.data_type != "f" for cell in row)


def test_every_formula_start_is_marked():
    sheet = openpyxl.Workbook().active
    assert all(xlsx_cell(sheet, start + "x").quotePrefix for start in FORMULA_STARTS)
    assert xlsx_cell(sheet, "x=1") == "x=1"
