"""The national workbook of the README's main command prints on a few dozen pages, each page readable.

HQ prints the monthly national workbook for the meeting, so its printed length and its type size
are part of its design: every printed page of every sheet at 8 pt or more (概要 at 9 pt or more,
portrait, on at most two pages), at most PAGE_BUDGET pages in all, the marks matrix 支部別評価 on at
most two, and a sheet whose table runs onto a second page repeats its header rows (print titles).
Pages and type sizes are measured by printing to PDF with LibreOffice (tests/printing.py).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.lo import convert
from tests.printing import (
    pages_per_sheet,
    pdf_page_count,
    print_title_sheets,
    printed_pages,
    skip_without_printing,
    smallest_text_per_page,
    text_size_in,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# 25 pages when the tables were shrunk to 4–7 pt to fit; at 8 pt and more the same tables need about
# 46 (支部別KPI two KPIs per portrait page, 全国KPI two landscape pages wide, the 検証結果 rows as they come)
PAGE_BUDGET = 50
MIN_POINTS = 8.0  # the least an office document is read at
OVERVIEW_POINTS = 9.0
OVERVIEW_PAGES = 2
OVERVIEW = "概要"
MARKS_MATRIX = "支部別評価"

pytestmark = pytest.mark.soffice


@pytest.fixture(scope="module")
def national(readme_books) -> Path:
    """The national workbook of `kpisheet ledger import examples/history_FY2023.csv` followed by
    `kpisheet consolidate examples/inbox_FY2024 --fy 2024 --month 2024-10
    --baseline examples/baseline_FY2023.csv` (README), run through the library as cli.py does
    (tests/books.readme_outputs, built once per session)."""
    skip_without_printing()
    return readme_books["national"]


@pytest.fixture(scope="module")
def sheet_sizes(national_printed: dict[str, Any]) -> dict[str, list[float]]:
    """{visible sheet: [smallest printed text in points on each page it prints]}, each sheet printed
    alone as Excel prints it (the session's national_printed: one soffice run for the whole workbook
    and every sheet alone, shared with tests/test_cell_widths.py)."""
    started = time.monotonic()
    sizes = {name: smallest_text_per_page(pdf) for name, pdf in national_printed["sheets"].items()}
    print(f"\nmeasured sheet by sheet in {time.monotonic() - started:.1f} s: "
          + ", ".join(f"{name} {len(s)}p {min(s, default=0):.1f}pt" for name, s in sizes.items()))
    return sizes


@pytest.fixture(scope="module")
def sheet_pages(sheet_sizes: dict[str, list[float]]) -> dict[str, int]:
    """{visible sheet: pages it prints alone}.

    Printing the sheets one by one takes about 60% of the time of printing the whole
    workbook at once (measured on 217 pages: 19 s against 30 s), and their pages add up
    to the whole (test_each_sheet_is_counted_alone_and_hidden_sheets_not_at_all), so the
    whole workbook is printed only to confirm a total within the budget.
    """
    return {name: len(sizes) for name, sizes in sheet_sizes.items()}


def test_every_printed_page_reads_at_8_points_and_the_overview_at_9(sheet_sizes: dict[str, list[float]]) -> None:
    """Measured to a tenth of a point (the page footer is 9 pt: 8.99 in the PDF's word boxes)."""
    small = {name: [round(p, 1) for p in sizes] for name, sizes in sheet_sizes.items()
             if not sizes or round(min(sizes), 1) < (OVERVIEW_POINTS if name == OVERVIEW else MIN_POINTS)}
    assert OVERVIEW in sheet_sizes and len(sheet_sizes) >= 10, f"sheets printed: {list(sheet_sizes)}"
    assert not small, (f"pages printing below {MIN_POINTS} pt ({OVERVIEW} below {OVERVIEW_POINTS} pt), "
                       f"smallest text per page: {small}")


def test_the_whole_workbook_prints_within_the_page_budget(sheet_pages: dict[str, int],
                                                         national_printed: dict[str, Any]) -> None:
    by_sheet = ", ".join(f"{name} {n}" for name, n in sheet_pages.items())
    total = sum(sheet_pages.values())
    if total <= PAGE_BUDGET:
        total = pdf_page_count(national_printed["whole"])
    assert total <= PAGE_BUDGET, (f"the national workbook prints {total} pages (budget {PAGE_BUDGET}); "
                                  f"per sheet: {by_sheet}")


def test_the_overview_prints_portrait_on_at_most_two_pages(sheet_pages: dict[str, int], national: Path) -> None:
    pages = sheet_pages.get(OVERVIEW)
    assert pages is not None and 1 <= pages <= OVERVIEW_PAGES, f"{OVERVIEW} prints {pages} pages (sheets: {sheet_pages})"
    with zipfile.ZipFile(national) as zf:
        assert 'orientation="portrait"' in zf.read("xl/worksheets/sheet1.xml").decode()


def test_the_marks_matrix_prints_on_at_most_two_pages(sheet_pages: dict[str, int]) -> None:
    assert MARKS_MATRIX in sheet_pages, f"no visible sheet {MARKS_MATRIX} (sheets: {list(sheet_pages)})"
    assert sheet_pages[MARKS_MATRIX] <= 2, f"{MARKS_MATRIX} prints {sheet_pages[MARKS_MATRIX]} pages"


def test_the_marks_matrix_prints_at_8_points_or_more(national_printed: dict[str, Any]) -> None:
    """Fitted to one page wide and two tall, its branch names print at 8 pt or more (measured in the PDF
    of the sheet printed alone)."""
    size = text_size_in(national_printed["sheets"][MARKS_MATRIX], ("北海道", "神奈川", "鹿児島"))
    assert 8 <= size < 12, f"{MARKS_MATRIX} prints its branch names at {size:.1f} pt"


def test_every_table_longer_than_a_page_repeats_its_header_rows(sheet_pages: dict[str, int], national: Path) -> None:
    long_sheets = {name for name, n in sheet_pages.items() if n > 1}
    missing = sorted(long_sheets - print_title_sheets(national))
    assert not missing, f"sheets printing on more than one page without print titles (_xlnm.Print_Titles): {missing}"


# ---------------------------------------------------------------- the measuring itself
def _three_sheets(path: Path) -> Path:
    """概要 on one page, 明細 on three (rows broken by hand after rows 10 and 20), 範囲 on one page
    within its print area, 作業 hidden (with a print area: LibreOffice would print it)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("概要").write_string(0, 0, "概要")
    detail = wb.add_worksheet("明細")
    for row in range(30):
        detail.write_string(row, 0, f"行{row + 1}")
    detail.set_h_pagebreaks([10, 20])
    detail.repeat_rows(0)
    ranged = wb.add_worksheet("範囲")
    for row in range(60):
        ranged.write_string(row, 0, f"行{row + 1}")
    ranged.print_area(0, 0, 4, 0)
    hidden = wb.add_worksheet("作業")
    hidden.write_string(0, 0, "印刷しない")
    hidden.print_area(0, 0, 0, 0)
    hidden.hide()
    wb.close()
    return path


def test_each_sheet_is_counted_alone_and_hidden_sheets_not_at_all(tmp_path: Path) -> None:
    skip_without_printing()
    book = _three_sheets(tmp_path / "three.xlsx")
    assert pages_per_sheet(book) == {"概要": 1, "明細": 3, "範囲": 1}
    assert printed_pages(book) == 5


def test_libreoffice_alone_would_print_a_hidden_sheet_with_a_print_area(tmp_path: Path) -> None:
    """Why printable_copy drops hidden sheets' print areas: without it 作業 is printed."""
    skip_without_printing()
    book = _three_sheets(tmp_path / "three.xlsx")
    pdf = convert(book, "pdf", tmp_path / "pdf")
    assert pdf_page_count(pdf) == 5 + 1
    assert print_title_sheets(book) == {"明細"}
