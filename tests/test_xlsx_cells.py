"""kpisheet.xlsx_cells restates five openpyxl helpers (to keep openpyxl out of start-up): same answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.cell import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import from_excel

from kpisheet import xlsx_cells as xc


@given(st.integers(1, xc.MAX_COLUMN))
def test_column_letters_and_indexes_agree_with_openpyxl(n: int) -> None:
    assert xc.column_letter(n) == get_column_letter(n)
    assert xc.column_index(get_column_letter(n)) == n == column_index_from_string(get_column_letter(n))


@pytest.mark.parametrize("bad", ["", "A1", "AAAA", "ABCD", "Ａ", "1"])
def test_bad_column_names_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        xc.column_index(bad)


def test_cell_coordinates() -> None:
    assert xc.cell_coordinates("$C$5") == (5, 3)
    assert xc.cell_coordinates("aa10") == (10, 27)
    assert xc.cell_coordinates("C5:C6") is None
    assert xc.cell_coordinates("#REF!") is None


FORMATS = [*BUILTIN_FORMATS.values(), "0.0%", "#,##0\"円\"", 'yyyy"年"m"月"d"日"', "[$-ja-JP]ggge\"年\"m\"月\"",
           "[h]:mm", "[Red]0.0", '"day"0', "0_);[Red](0)", "\\d0", "ge.m.d", "[DBNum1]General", "@"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_date_formats_agree_with_openpyxl(fmt: str) -> None:
    assert xc.is_date_format(fmt) is is_date_format(fmt)


@given(st.floats(0, 2958465, allow_nan=False))
def test_serial_dates_agree_with_openpyxl(serial: float) -> None:
    assert xc.from_excel(serial) == from_excel(serial)
