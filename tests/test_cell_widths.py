"""No cell shows 「###」 and no number is cut, in every workbook the README's main command writes and in
a branch template.

A number cell shows its value through its number format (kpisheet.domain.display.format_number);
the text must fit the column it stands in (a merged range: the sum of its columns), by
display.fits.  Only what a reader sees counts: visible sheets, rows and columns; formulas (whose
cached value is a placeholder) are left to LibreOffice, which prints every visible sheet to PDF
in the soffice test below and must print no 「###」.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from kpisheet.domain.display import fits, format_number, text_width
from tests.books import branch_template

DEFAULT_WIDTH = 8.43  # a column without a width of its own


@pytest.fixture(scope="module")
def outputs(readme_books: dict[str, Any]) -> dict[str, Any]:
    return readme_books


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return branch_template(tmp_path_factory.mktemp("cell_widths_template"))


def column_widths(ws: Any) -> dict[int, float]:
    """{column number: width} of the visible columns that have a width (hidden ones: 0)."""
    widths: dict[int, float] = {}
    for dim in ws.column_dimensions.values():
        if dim.min is None:
            continue
        for col in range(dim.min, (dim.max or dim.min) + 1):
            widths[col] = 0.0 if dim.hidden else (dim.width if dim.customWidth or dim.width else DEFAULT_WIDTH)
    return widths


def cut_numbers(path: Path) -> list[str]:
    """Every visible number cell of `path` whose shown text does not fit its column: 'sheet!B7 「text」 in 9.0'."""
    wb = openpyxl.load_workbook(path)
    cut = []
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        widths = column_widths(ws)
        merged = {(r.min_row, r.min_col): sum(widths.get(c, DEFAULT_WIDTH) for c in range(r.min_col, r.max_col + 1))
                  for r in ws.merged_cells.ranges}
        hidden_rows = {r for r, dim in ws.row_dimensions.items() if dim.hidden}
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, bool) or not isinstance(value, (int, float)) or cell.row in hidden_rows:
                    continue
                width = merged.get((cell.row, cell.column), widths.get(cell.column, DEFAULT_WIDTH))
                if width == 0:
                    continue
                text = format_number(value, cell.number_format)
                if not fits(text, width):
                    cut.append(f"{ws.title}!{get_column_letter(cell.column)}{cell.row} 「{text}」"
                               f"({text_width(text)}) in {width}")
    return cut


@pytest.mark.parametrize("key", ["national", "lists", "plan_status", "values_xlsx"])
def test_every_number_of_the_reports_fits_its_column(outputs: dict[str, Any], key: str) -> None:
    cut = cut_numbers(outputs[key])
    assert not cut, f"{outputs[key].name}: {len(cut)} cut, e.g. {cut[:8]}"


def test_every_number_of_every_branch_feedback_fits_its_column(outputs: dict[str, Any]) -> None:
    assert len(outputs["feedback"]) == 46
    cut = {p.name: c for p in outputs["feedback"] if (c := cut_numbers(p))}
    assert not cut, f"{len(cut)} feedback workbooks cut numbers, e.g. {dict(list(cut.items())[:3])}"


def test_every_number_of_the_branch_template_fits_its_column(template: Path) -> None:
    assert not cut_numbers(template)


def test_the_check_finds_the_count_that_showed_hashes(tmp_path: Path) -> None:
    """11,380 formatted 「#,##0"事業所以上"」 in a 13-wide column was 「###」; in 17 it fits."""
    import xlsxwriter

    path = tmp_path / "count.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("確認事項")
    ws.set_column(2, 2, 13)
    ws.set_column(3, 3, 17)
    count = wb.add_format({"num_format": '#,##0"事業所以上"'})
    ws.write_number(4, 2, 11380, count)
    ws.write_number(4, 3, 11380, count)
    ws.merge_range(6, 2, 6, 3, 1234567890, wb.add_format({"num_format": "#,##0"}))
    wb.close()
    assert cut_numbers(path) == ["確認事項!C5 「11,380事業所以上」(16) in 13.7109375"]


# ---------------------------------------------------------------- LibreOffice prints no 「###」
def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.mark.soffice
def test_libreoffice_prints_no_hashes(national_printed: dict[str, Any]) -> None:
    """The national workbook printed whole by LibreOffice, as Excel prints it (the session's national_printed,
    shared with tests/test_print.py) shows no 「###」."""
    # the lists workbook, the two feedback files and the template are printed by tests/test_print_books.py,
    # and 全支部_実施状況 by tests/test_print_plan_status.py, which look for 「###」 in the same pages
    text = pdf_text(national_printed["whole"])
    assert "###" not in text, f"「###」 printed {text.count('###')} times in the national workbook"
