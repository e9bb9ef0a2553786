"""The 取組状況 sheet: per 具体的施策, 事業内容 rows with rating and remarks, and a 課題 cell."""

from __future__ import annotations

from typing import Any


from kpisheet.check import selfcheck as sc
from kpisheet.domain.catalogue import Measure
from kpisheet.domain.plan import PlanMeasure
from kpisheet.domain.plan_layout import FiledItem, filed_items, heading_text
from kpisheet.read.names import (
    CHECK_COUNT_NAME,
    KEY_COLUMN,
    KEY_ROW,
    SHEET_KPI,
    SHEET_MEASURES,
    TEXT_LIMITS,
    measure_key,
)
from kpisheet.template.book import (
    SMALL_FONT_WIDTH,
    Book,
    _lines,
    _rating_validation,
    _row_height,
    _summary_formula,
    _text_validation,
    xl_range_abs,
)
from kpisheet.template.layout import (
    DEFAULT_ROW_HEIGHT,
    KPI_CHECK_COL,
    KPI_INFO_ROWS,
    MEASURE_CHECK_COL,
    MEASURE_CHECK_OFFSET,
    MEASURE_COLS,
    MEASURE_COUNT_CELL,
    MEASURE_FIRST_ROW,
    MEASURE_HEAD_ROW,
    MEASURE_WIDTHS,
)
from kpisheet.xlsx_write import cell_reference


def write_measure_sheet(book: Book) -> None:
    ws = book.sheets[SHEET_MEASURES]
    last_col = MEASURE_CHECK_COL
    ws.set_column(0, 0, 14, None, {"hidden": True})
    for col, width in enumerate(MEASURE_WIDTHS, 1):
        ws.set_column(col, col, width)
    ws.set_column(last_col + 1, last_col + MEASURE_CHECK_OFFSET, 8, None, {"hidden": True})
    ws.set_row(KEY_ROW - 1, None, None, {"hidden": True})
    ws.write_string(KEY_ROW - 1, KEY_COLUMN - 1, "key")
    for fieldname, col in MEASURE_COLS.items():
        ws.write_string(KEY_ROW - 1, col, fieldname)
    book.title_rows(ws)
    book.legend(ws, 3, 2, [(4, 4, "input_plain", "入力欄（黄色のセルに入力してください）"),
                           (5, 6, "problem_plain", "要確認（入力チェック）"), (7, 7, "head", "見出し")])
    note = ("※具体的施策ごとに、支部の事業内容（取組やKPIの実施状況）を1行に1件ずつ記入し、評価をリストから選び、"
            f"評価の理由（特に△・×の理由）を備考に記入してください（1施策{book.rows_per_measure}行まで）。"
            "施策全体の課題は「課題」欄に記入します。")
    if book.plan is not None:
        note += "水色の行は事業計画の事業内容です（本部記入済み。評価と備考を記入してください）。"
    ws.merge_range(4, 1, 4, last_col - 1, note, book.fmt("note"))
    book.height(ws, 4, _row_height(_lines(note, sum(MEASURE_WIDTHS[:-1]) * SMALL_FONT_WIDTH), 12))
    _measure_summary(book, ws, last_col)
    head = book.fmt("head")
    for col, text in ((1, "番号"), (2, "具体的施策"), (3, "No."), (4, "事業内容（取組・KPIの実施状況）"),
                      (5, "評価"), (6, "備考（評価の理由・計画を下回った理由など）"), (7, "確認（入力チェック）")):
        ws.write_string(MEASURE_HEAD_ROW, col, text, head)
    book.height(ws, MEASURE_HEAD_ROW, 20)
    row = MEASURE_FIRST_ROW
    pillar = section = None
    for measure in book.catalogue.measures_for(book.branch.code):
        first = row
        if measure.pillar != pillar:
            pillar, section = measure.pillar, None
            row = book.pillar_band(ws, row, last_col, pillar)
        if measure.section and measure.section != section:
            section = measure.section
            ws.write_string(row, 1, section, book.fmt("block"))
            for c in range(2, last_col + 1):
                ws.write_blank(row, c, None, book.fmt("block"))
            book.height(ws, row, 15)
            row += 1
        elif not measure.section:
            section = None
        row = _measure_block(book, ws, row, measure)
        book.blocks[SHEET_MEASURES].append((first, row - 1))
    _measure_check_area(book, ws, max(row - 1, MEASURE_FIRST_ROW))
    ws.freeze_panes(MEASURE_FIRST_ROW, 0)
    book.page_setup(ws, last_col - 1, (MEASURE_HEAD_ROW, MEASURE_HEAD_ROW), row - 1, MEASURE_WIDTHS[:-1])


def _measure_summary(book: Book, ws: Any, last_col: int) -> None:
    """The 入力チェック's count for the whole workbook (this sheet's part in a hidden cell)."""
    ws.merge_range(5, 1, 5, last_col - 1, "", book.fmt("summary"))
    this = cell_reference(*MEASURE_COUNT_CELL)
    kpi = f"'{SHEET_KPI}'!{cell_reference(KPI_INFO_ROWS[0], KPI_CHECK_COL + 1, row_abs=True, col_abs=True)}"
    ws.write_formula(5, 1, _summary_formula(CHECK_COUNT_NAME, [("KPI入力", kpi), ("取組状況", this)]),
                     book.fmt("summary"), "")
    book.height(ws, 5, 20)
    book.traffic_light(ws, (5, 1), (5, last_col - 1), CHECK_COUNT_NAME)


def plan_heading(measure: Measure, planned: PlanMeasure | None) -> tuple[str, str]:
    """(number, heading) of a measure as the branch's approved 事業計画 heads it: 「(4)」「現金給付の適正化の推進」;
    the catalogue's where the plan gives none."""
    number, heading = heading_text(planned)
    return number or measure.number, heading or measure.label


def _markers(filed: list[FiledItem]) -> dict[int, str]:
    """{row n: the label a band above that row shows}: a second heading of the branch's where its items
    begin (「(7) 債権管理回収業務の推進」), a 小見出し where its group begins (●被保険者 (生活習慣病予防健診))."""
    out: dict[int, str] = {}
    for i, row in enumerate(filed):
        previous = filed[i - 1] if i else None
        marks = []
        if previous is not None and row.heading is not previous.heading:
            marks.append(" ".join(t for t in heading_text(row.heading) if t))
        if row.subheading and (previous is None or previous.subheading != row.subheading or marks):
            marks.append(row.subheading)
        if marks:
            out[row.n] = "　".join(m for m in marks if m)
    return out


def _measure_block(book: Book, ws: Any, row: int, measure: Measure) -> int:
    first = row
    rows = book.rows_per_measure
    related = book.catalogue.kpis_of_measure(measure.id)
    planned = book.plan.measures.get(measure.id) if book.plan is not None else None
    number, label = plan_heading(measure, planned)
    if label != measure.label:  # the branch's own heading, with the action plan's measure it stands for
        label += f"\n（{measure.number} {measure.label}）"
    if planned is not None and planned.covered_by and book.plan is not None:  # written under another heading
        other = book.plan.measures.get(planned.covered_by)
        where = " ".join(t for t in heading_text(other) if t) if other is not None else planned.covered_by
        label += f"\n※事業計画では「{where}」に記載"
    if related:
        label += "\n関連KPI：" + "、".join(k.short_label for k in related)
    filed = filed_items(book.plan, measure.id)
    markers = _markers(filed)
    ws.merge_range(first, 1, first + rows + len(markers), 1, number, book.fmt("label", "top", align="center"))
    ws.merge_range(first, 2, first + rows + len(markers), 2, label, book.fmt("label", "top"))
    text_fmt, rating_fmt = book.fmt("input", "text"), book.fmt("input", "rating")
    for n in range(1, rows + 1):
        item = filed[n - 1] if n <= len(filed) else None
        text = item.text if item is not None else None
        if n in markers:  # a band of its own above the row: the branch's heading or 小見出し (no input)
            ws.merge_range(row, 3, row, MEASURE_COLS["note"], markers[n], book.fmt("label", "small", bold=True))
            ws.write_blank(row, MEASURE_CHECK_COL, None, book.fmt("label"))
            book.height(ws, row, 15)
            row += 1
        if item is not None and item.level:
            ws.write_string(row, 3, item.level, book.fmt("label", "center"))
        else:
            ws.write_number(row, 3, n, book.fmt("label", "center"))
        for fieldname, col in MEASURE_COLS.items():
            key = measure_key(measure.id, fieldname, n)
            if fieldname == "text" and text is not None:
                book.input(SHEET_MEASURES, row, col, key, text, book.fmt("prefill", "text"))
                book.height(ws, row, max(DEFAULT_ROW_HEIGHT, _row_height(_lines(text, MEASURE_WIDTHS[3]))))
                continue
            book.input(SHEET_MEASURES, row, col, key, None, rating_fmt if fieldname == "rating" else text_fmt)
        cell = {f: cell_reference(row, c) for f, c in MEASURE_COLS.items()}
        book.check(ws, row, MEASURE_COLS["rating"], "", sc.rating_reasons(cell["text"], cell["rating"]))
        book.check(ws, row, MEASURE_COLS["note"], "", sc.note_reasons(cell["rating"], cell["note"]))
        row += 1
    book.validate(SHEET_MEASURES, (first, MEASURE_COLS["text"]), (row - 1, MEASURE_COLS["text"]),
                  _text_validation(TEXT_LIMITS["text"]))
    book.validate(SHEET_MEASURES, (first, MEASURE_COLS["rating"]), (row - 1, MEASURE_COLS["rating"]),
                  _rating_validation())
    book.validate(SHEET_MEASURES, (first, MEASURE_COLS["note"]), (row - 1, MEASURE_COLS["note"]),
                  _text_validation(TEXT_LIMITS["note"]))
    ws.write_string(row, 3, "課題", book.fmt("label", "center", bold=True))
    # one cell, no merge: its row grows with the text (Excel and LibreOffice fit a wrapped row's height)
    book.input(SHEET_MEASURES, row, MEASURE_COLS["text"], measure_key(measure.id, "issue"), None,
               book.fmt("input", "text"))
    for col in (MEASURE_COLS["rating"], MEASURE_COLS["note"], MEASURE_CHECK_COL):
        ws.write_blank(row, col, None, book.fmt("calc_plain", "border"))
    book.validate(SHEET_MEASURES, (row, MEASURE_COLS["text"]), (row, MEASURE_COLS["text"]),
                  _text_validation(TEXT_LIMITS["issue"]))
    return row + 1


def _measure_check_area(book: Book, ws: Any, last_row: int) -> None:
    book.row_summaries(ws, MEASURE_CHECK_COL)
    first = MEASURE_COLS["text"]
    first_helper = cell_reference(MEASURE_FIRST_ROW, first + MEASURE_CHECK_OFFSET)
    ws.conditional_format(MEASURE_FIRST_ROW, first, last_row, MEASURE_COLS["note"],
                          {"type": "formula", "criteria": f"=LEN({first_helper})>0", "format": book.cond("problem")})
    helpers = xl_range_abs(MEASURE_FIRST_ROW, MEASURE_COLS["rating"] + MEASURE_CHECK_OFFSET, last_row,
                           MEASURE_COLS["note"] + MEASURE_CHECK_OFFSET)
    ws.write_formula(*MEASURE_COUNT_CELL, sc.count_formula([helpers]), None, "")
