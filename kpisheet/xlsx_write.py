"""XlsxWriter's workbook and worksheet with the innermost loop of writing a sheet done in one step.

When a workbook is closed, XlsxWriter writes every stored cell through `Worksheet._write_cell`:
the cell's reference, its format's index, then the element, each attribute escaped by a regular
expression.  Almost every cell kpisheet writes has a format of its own and is a string, a number,
a blank or a formula whose cached result is a number; their elements are always the same text, and
`Sheet` writes them in one f-string, exactly as XlsxWriter would (tests/test_xlsx_write.py compares
the bytes with XlsxWriter's own for every kind of cell).  Everything else — a cell without a format
(it takes its row's or column's), a date, a rich string, a formula with a text or truth-value
result, constant-memory mode's inline strings — is XlsxWriter's to write.  The HQ workbooks hold
~90,000 such cells: a fifth of their writing time went there.
"""

from __future__ import annotations

from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import Worksheet

try:  # XlsxWriter's cell records (namedtuples, 3.x); without them every cell is XlsxWriter's to write
    from xlsxwriter.worksheet import CellBlankTuple, CellFormulaTuple, CellNumberTuple, CellStringTuple
except ImportError:  # pragma: no cover - a future XlsxWriter that renamed them
    CellBlankTuple = CellFormulaTuple = CellNumberTuple = CellStringTuple = None


class Sheet(Worksheet):
    """A worksheet whose string, number, blank and formula cells with a format are written in one step."""

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind, fmt = cell.__class__, cell.format
        if not fmt or self.constant_memory:
            return super()._write_cell(row, col, cell)  # the row's or column's format; inline strings
        if kind is CellStringTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}" t="s">'
                          f'<v>{cell.string}</v></c>')
        elif kind is CellNumberTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}">'
                          f'<v>{cell.number:.16G}</v></c>')
        elif kind is CellBlankTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}"/>')
        elif kind is CellFormulaTuple and cell.value.__class__ in _PLAIN_RESULTS:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}">'
                          f'<f>{self._formula_xml(cell.formula)}</f><v>{cell.value}</v></c>')
        else:
            super()._write_cell(row, col, cell)
        return None

    def _formula_xml(self, formula: str) -> str:
        """The formula escaped as XlsxWriter escapes it, remembered: the 47 branches' workbooks share their
        ~2,000 入力チェック formulas."""
        text = _FORMULA_XML.get(formula)
        if text is None:
            if len(_FORMULA_XML) >= _FORMULA_XML_MAX:
                _FORMULA_XML.clear()
            text = _FORMULA_XML[formula] = self._escape_data(formula)
        return text


# a formula's cached result written as it is: a number (a text, a truth value or an error is XlsxWriter's)
_PLAIN_RESULTS = (int, float)
_FORMULA_XML: dict[str, str] = {}
_FORMULA_XML_MAX = 1 << 16


class Workbook(xlsxwriter.Workbook):
    """An XlsxWriter workbook whose worksheets are `Sheet`s."""

    worksheet_class = Sheet
