"""XlsxWriter's workbook and worksheet with the innermost loop of writing a sheet done in one step.

When a workbook is closed, XlsxWriter writes every stored cell through `Worksheet._write_cell`:
the cell's reference, its format's index (or its row's or column's), then the element, each
attribute escaped by a regular expression.  Almost every cell kpisheet writes is a string, a number,
a blank or a formula whose cached result is a number or empty; their elements are always the same
text, and `Sheet` writes them in one f-string, exactly as XlsxWriter would (tests/test_xlsx_write.py
compares the bytes with XlsxWriter's own for every kind of cell).  Everything else — a date, a rich
string, a truth value, a formula with a text, truth-value or error result, constant-memory mode's
inline strings — is XlsxWriter's to write.  The HQ workbooks hold ~90,000 such cells: a fifth of
their writing time went there.
"""

from __future__ import annotations

import threading
import zipfile
from functools import lru_cache
from typing import Any

import xlsxwriter
import xlsxwriter.workbook
from xlsxwriter.utility import xl_rowcol_to_cell, xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import Worksheet

try:  # XlsxWriter's cell records (namedtuples, 3.x); without them every cell is XlsxWriter's to write
    from xlsxwriter.worksheet import CellBlankTuple, CellFormulaTuple, CellNumberTuple, CellStringTuple
except ImportError:  # pragma: no cover - a future XlsxWriter that renamed them
    CellBlankTuple = CellFormulaTuple = CellNumberTuple = CellStringTuple = None


def _at_numbers(name: str) -> Any:
    """Worksheet method `name` that calls XlsxWriter's undecorated `_name` (as the subclass has it) when the
    cell is given as (row, column) numbers without keywords, else XlsxWriter's own `name`."""
    decorated, direct = getattr(Worksheet, name), f"_{name}"

    def write(self: Worksheet, *args: Any, **kwargs: Any) -> Any:
        if kwargs or not args or args[0].__class__ is not int:
            return decorated(self, *args, **kwargs)
        return getattr(self, direct)(*args)

    write.__name__ = write.__qualname__ = name
    return write


class Sheet(Worksheet):
    """A worksheet whose string, number, blank and plain formula cells are written in one step."""

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = cell.__class__
        if self.constant_memory:  # strings written inline
            return super()._write_cell(row, col, cell)
        if kind is CellStringTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}"{self._style(row, col, cell.format)} t="s">'
                          f'<v>{cell.string}</v></c>')
        elif kind is CellNumberTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}"{self._style(row, col, cell.format)}>'
                          f'<v>{cell.number:.16G}</v></c>')
        elif kind is CellBlankTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}"{self._style(row, col, cell.format)}/>')
        elif kind is CellFormulaTuple and (cell.value.__class__ in _PLAIN_RESULTS or cell.value == ""):
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}"{self._style(row, col, cell.format)}>'
                          f'<f>{self._formula_xml(cell.formula)}</f><v>{cell.value}</v></c>')
        else:
            super()._write_cell(row, col, cell)
        return None

    def _style(self, row: int, col: int, fmt: Any) -> str:
        """The cell's s attribute as XlsxWriter chooses it: its format, else its row's, else its column's."""
        if not fmt:
            info = self.row_info.get(row)
            if info is not None and info.row_format:
                fmt = info.row_format
            elif col in self.col_info:
                fmt = self.col_info[col].column_format
                if fmt is None:
                    return ""
            else:
                return ""
        return f' s="{fmt._get_xf_index()}"'

    def _formula_xml(self, formula: str) -> str:
        """The formula escaped as XlsxWriter escapes it, remembered: the 47 branches' workbooks share their
        ~2,000 入力チェック formulas."""
        text = _FORMULA_XML.get(formula)
        if text is None:
            if len(_FORMULA_XML) >= _FORMULA_XML_MAX:
                _FORMULA_XML.clear()
            text = _FORMULA_XML[formula] = self._escape_data(formula)
        return text

    # A cell written at (row, column) numbers, without keywords, skips XlsxWriter's decorator that reads
    # "A1" notation (it tries int() on the first argument of every call); anything else is XlsxWriter's.
    write_string = _at_numbers("write_string")
    write_number = _at_numbers("write_number")
    write_blank = _at_numbers("write_blank")
    write_formula = _at_numbers("write_formula")


# a formula's cached result written as it is: a number (a text, a truth value or an error is XlsxWriter's)
_PLAIN_RESULTS = (int, float)
_FORMULA_XML: dict[str, str] = {}
_FORMULA_XML_MAX = 1 << 16


@lru_cache(maxsize=1 << 16)
def cell_reference(row: int, col: int, row_abs: bool = False, col_abs: bool = False) -> str:
    """XlsxWriter's xl_rowcol_to_cell ("E12", "$E$12"), remembered: a template's formulas and names refer
    to the same ~10,000 cells in every branch's workbook."""
    return str(xl_rowcol_to_cell(row, col, row_abs, col_abs))


class Workbook(xlsxwriter.Workbook):
    """An XlsxWriter workbook whose worksheets are `Sheet`s, deflated at level 1.

    XlsxWriter deflates at zlib's default level 6: the parts of a branch's workbook take 16.5 ms
    there and 4.9 ms at level 1 (generate spends an eighth less CPU), and a branch's template grows
    from ~105 to ~129 KB.  Feedback copies and the analysts' xlsx copy were already written at
    level 1.  XlsxWriter has no option for the level, so its zip is made by `_LevelOneZip` while
    this workbook is stored: XlsxWriter's `_store_workbook` calls the name ZipFile of its module,
    which is swapped for that one call, under a lock, so two of these workbooks stored at once in
    two threads take turns (a plain XlsxWriter workbook stored in another thread at that moment
    would be deflated at level 1 too).
    """

    worksheet_class = Sheet

    def _store_workbook(self) -> None:
        with _STORING:
            module, original = xlsxwriter.workbook, xlsxwriter.workbook.ZipFile
            module.ZipFile = _LevelOneZip
            try:
                super()._store_workbook()
            finally:
                module.ZipFile = original


DEFLATE_LEVEL = 1
_STORING = threading.Lock()


class _LevelOneZip(zipfile.ZipFile):
    """A zip whose members are deflated at DEFLATE_LEVEL, also those given as a ZipInfo (which
    zipfile would deflate at the default level whatever the ZipFile's own level)."""

    def __init__(self, file: Any, mode: Any = "r", compression: int = zipfile.ZIP_STORED, allowZip64: bool = True,
                 compresslevel: int | None = None, **kwargs: Any) -> None:
        super().__init__(file, mode, compression, allowZip64, DEFLATE_LEVEL, **kwargs)

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: int | None = None,
                 compresslevel: int | None = None) -> None:
        super().writestr(zinfo_or_arcname, data, compress_type,
                         DEFLATE_LEVEL if compresslevel is None else compresslevel)
