"""The national workbook of the README's main command prints on a few dozen pages, each table legibly.

HQ prints the monthly national workbook for the meeting, so its printed length is part of
its design: at most PAGE_BUDGET pages in all, 概要 on one page, the marks matrix 支部別評価
on at most two, and a sheet whose table runs onto a second page repeats its header rows
(print titles). Pages are counted by printing to PDF with LibreOffice (tests/printing.py).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from tests.lo import convert
from tests.printing import (
    pages_per_sheet,
    pdf_page_count,
    print_title_sheets,
    printed_pages,
    printed_text_size,
    skip_without_printing,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PAGE_BUDGET = 40
OVERVIEW = "概要"
MARKS_MATRIX = "支部別評価"

pytestmark = pytest.mark.soffice


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The national workbook of `kpisheet ledger import examples/history_FY2023.csv` followed by
    `kpisheet consolidate examples/inbox_FY2024 --fy 2024 --month 2024-10
    --baseline examples/baseline_FY2023.csv` (README), run through the library as cli.py does."""
    skip_without_printing()
    from kpisheet.month import consolidate
    from kpisheet.domain.settings import load_settings
    from kpisheet import ledger
    from kpisheet.write.outputs import output_names, write_outputs

    out = tmp_path_factory.mktemp("print_national")
    book_path = out / "kpisheet.sqlite"
    with ledger.opened(book_path, create=True) as book:
        ledger.import_values(book, EXAMPLES / "history_FY2023.csv")
    cons = consolidate(EXAMPLES / "inbox_FY2024", fiscal_year=2024, month=date(2024, 10, 1),
                       baseline_path=EXAMPLES / "baseline_FY2023.csv", settings=load_settings())
    with ledger.opened(book_path) as book, book.transaction():
        plan = ledger.attach(book, cons)
        cons = plan.applied_to(cons)
        written = write_outputs(cons, out, force=True)
        ledger.record_run(book, cons, plan, written.paths, options={})
    national = out / output_names(2024, date(2024, 10, 1))["national"]
    assert national in written.paths
    return national


@pytest.fixture(scope="module")
def sheet_pages(national: Path) -> dict[str, int]:
    """{visible sheet: pages it prints alone}: one soffice run for all sheets.

    Printing the sheets one by one takes about 60% of the time of printing the whole
    workbook at once (measured on 217 pages: 19 s against 30 s), and their pages add up
    to the whole (test_each_sheet_is_counted_alone_and_hidden_sheets_not_at_all), so the
    whole workbook is printed only to confirm a total within the budget.
    """
    started = time.monotonic()
    pages = pages_per_sheet(national)
    print(f"\nprinted sheet by sheet in {time.monotonic() - started:.1f} s: {pages}")
    return pages


def test_the_whole_workbook_prints_within_the_page_budget(sheet_pages: dict[str, int], national: Path) -> None:
    by_sheet = ", ".join(f"{name} {n}" for name, n in sheet_pages.items())
    total = sum(sheet_pages.values())
    if total <= PAGE_BUDGET:
        total = printed_pages(national)
    assert total <= PAGE_BUDGET, (f"the national workbook prints {total} pages (budget {PAGE_BUDGET}); "
                                  f"per sheet: {by_sheet}")


def test_the_overview_prints_on_one_page(sheet_pages: dict[str, int]) -> None:
    pages = sheet_pages.get(OVERVIEW)
    assert pages == 1, f"{OVERVIEW} prints {pages} pages (sheets: {sheet_pages})"


def test_the_marks_matrix_prints_on_at_most_two_pages(sheet_pages: dict[str, int]) -> None:
    assert MARKS_MATRIX in sheet_pages, f"no visible sheet {MARKS_MATRIX} (sheets: {list(sheet_pages)})"
    assert sheet_pages[MARKS_MATRIX] <= 2, f"{MARKS_MATRIX} prints {sheet_pages[MARKS_MATRIX]} pages"


def test_the_marks_matrix_prints_at_8_points_or_more(national: Path, tmp_path: Path) -> None:
    """Fitted to one page wide and two tall, its branch names print at 8 pt or more (measured in the PDF)."""
    size = printed_text_size(national, MARKS_MATRIX, ("北海道", "神奈川", "鹿児島"), tmp_path)
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
