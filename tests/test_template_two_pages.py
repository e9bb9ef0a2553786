"""KPI入力 prints two pages wide: 4月〜9月, then 10月〜3月 with columns B:C (ID, 項目) repeated beside them.
What prints in the repeated columns must fit them: no title, note or label is cut at the edge of
column C on the 10月〜3月 pages.

The print area has two ranges: B..J for every row (the title block and the notes below the table
print whole on the first pages), and K..P for the table's rows only (its head to the last KPI), so
the 10月〜3月 pages hold the table and nothing written across the first page's columns.  Within the
table, what B:C hold fits them: the KPI's short label in C (wrapped when long), the pillar heading
merged over B:C and wrapped; the full label and the grey explanation are written from D.
"""

from __future__ import annotations

import math
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest

from kpisheet.domain.display import CELL_MARGIN, text_width
from kpisheet.domain.settings import load_settings
from kpisheet.read.names import SHEET_KPI
from kpisheet.template.build import generate
from kpisheet.template.layout import KPI_HEAD_ROWS, KPI_SECOND_PAGE_COL, KPI_WIDTHS
from tests.books import EXAMPLES
from tests.lo import convert
from tests.printing import printable_copy, skip_without_printing

JST = timezone(timedelta(hours=9))
LINE_POINTS = 14.5  # a wrapped line of the sheet's 10 pt text, as the template plans row heights
BC_WIDTH = {"B": KPI_WIDTHS[0], "C": KPI_WIDTHS[1]}


def _template(out: Path, fiscal_year: int) -> Path:
    result = generate(fiscal_year, ["11"], out, generated_at=datetime(fiscal_year, 4, 1, 9, tzinfo=JST),
                      settings=load_settings(EXAMPLES / "hq_settings.json"), force=True)
    (path,) = result.paths
    return path


@pytest.fixture(scope="module", params=[2023, 2024], ids=["term5", "term6"])
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory.mktemp(f"fy{request.param}"), request.param)


def _print_area(path: Path) -> list[str]:
    wb = openpyxl.load_workbook(path)
    return [str(r) for r in wb[SHEET_KPI].print_area] if isinstance(wb[SHEET_KPI].print_area, list) \
        else str(wb[SHEET_KPI].print_area).split(",")


def test_the_second_pages_print_the_table_only(template: Path) -> None:
    ws = openpyxl.load_workbook(template)[SHEET_KPI]
    first, second = [a.split("!")[-1].replace("$", "") for a in _print_area(template)]
    last = ws.max_row
    assert first == f"B2:J{_last_printed_row(ws)}"
    top, bottom = re.fullmatch(r"K(\d+):P(\d+)", second).groups()  # type: ignore[union-attr]
    assert int(top) == KPI_HEAD_ROWS[0] + 1  # the table head, then the KPIs
    below = [ws.cell(r, 2).value for r in range(int(bottom) + 1, last + 1) if ws.cell(r, 2).value]
    assert below and all(str(v).startswith("※") for v in below)  # the notes below the table stay on page 1
    assert re.fullmatch(r"K\d-\d-\d\d", str(_kpi_ids(ws)[-1]))


def _kpi_ids(ws: openpyxl.worksheet.worksheet.Worksheet) -> list[str]:
    return [str(ws.cell(r, 2).value) for r in range(1, ws.max_row + 1)
            if re.fullmatch(r"K\d-\d-\d\d", str(ws.cell(r, 2).value))]


def _last_printed_row(ws: openpyxl.worksheet.worksheet.Worksheet) -> int:
    return max(r for r in range(1, ws.max_row + 1) if any(ws.cell(r, c).value not in (None, "") for c in (2, 3)))


def test_what_the_repeated_columns_hold_fits_them(template: Path) -> None:
    ws = openpyxl.load_workbook(template)[SHEET_KPI]
    top, bottom = map(int, re.findall(r"\d+", _print_area(template)[1].split("!")[-1]))
    merged = {(m.min_row, m.min_col): m for m in ws.merged_cells.ranges}
    cut = []
    for row in range(top, bottom + 1):
        for col, letter in ((2, "B"), (3, "C")):
            value = ws.cell(row, col).value
            if not isinstance(value, str) or not value:
                continue
            span = merged.get((row, col))
            if span is not None and span.max_col > 3:
                cut.append((f"{letter}{row}", value, "merged past C"))
                continue
            width = sum(BC_WIDTH[chr(64 + c)] for c in range(col, (span.max_col if span else col) + 1))
            if not _shows_whole(ws, row, col, value, width):
                cut.append((f"{letter}{row}", value, f"{text_width(value)} > {width}"))
    assert cut == []


def _shows_whole(ws: openpyxl.worksheet.worksheet.Worksheet, row: int, col: int, value: str, width: float) -> bool:
    if not ws.cell(row, col).alignment.wrap_text:
        return text_width(value) <= width - CELL_MARGIN
    lines = sum(max(1, math.ceil(text_width(part) / (width - CELL_MARGIN))) for part in value.split("\n"))
    span = next((m for m in ws.merged_cells.ranges if (m.min_row, m.min_col) == (row, col)), None)
    rows = range(row, (span.max_row if span else row) + 1)
    height = sum(ws.row_dimensions[r].height or 15.0 for r in rows)
    return lines * 12.0 <= height  # 10 pt lines print ~12 pt apart in LibreOffice


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>')


@pytest.mark.soffice
def test_no_text_is_cut_at_column_c_on_the_october_pages(template: Path, tmp_path: Path) -> None:
    """Printed by LibreOffice: on every 10月〜3月 page, each word that starts in the repeated columns
    ends before the 10月 column (a clipped text is still in the PDF, past the clip)."""
    skip_without_printing()
    pdf = convert(printable_copy(template, tmp_path / "kpi.xlsx", only=SHEET_KPI), "pdf", tmp_path)
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                           check=True, timeout=120).stdout
    october_pages, cut = 0, []
    for n, page in enumerate(boxes.split("<page ")[1:], 1):
        words = [(float(x0), float(x1), w) for x0, x1, w in _WORD.findall(page)]
        oct_ = [(x0, x1) for x0, x1, w in words if w == "10月"]
        nov = [(x0, x1) for x0, x1, w in words if w == "11月"]
        if not oct_:
            continue
        october_pages += 1
        column = (sum(nov[0]) - sum(oct_[0])) / 2  # one month column's printed width
        edge = sum(oct_[0]) / 2 - column / 2  # the 10月 column's left edge = column C's right edge
        cut += [(n, w, round(x1 - edge, 1)) for x0, x1, w in words if x0 < edge - 2 and x1 > edge + 1]
    assert october_pages >= 3
    assert cut == []


def test_the_first_pages_still_name_each_kpi_in_full(template: Path) -> None:
    ws = openpyxl.load_workbook(template)[SHEET_KPI]
    rows = {ws.cell(r, 2).value: r for r in range(1, ws.max_row + 1)
            if re.fullmatch(r"K\d-\d-\d\d", str(ws.cell(r, 2).value))}
    assert rows
    from kpisheet.domain.catalogue import catalogue_for_fy

    fy = 2024 if "FY2024" in template.name else 2023
    for kpi in catalogue_for_fy(fy).kpis:
        if kpi.id in rows:
            r = rows[kpi.id]
            assert ws.cell(r, 3).value == kpi.short_label
            assert ws.cell(r, 4).value == (kpi.label if kpi.label != kpi.short_label else None)
    assert KPI_SECOND_PAGE_COL == 10  # K: the first column of the 10月〜3月 pages
