"""The shared context of one branch workbook while it is written (kpisheet.template.build).

`Book` holds the XlsxWriter workbook and its sheets, the cached cell formats, every defined
name and validation written (for the lint), the row heights and blocks the page breaks are
planned from, and the page set-up; the sheet modules (guide, kpi_sheet, measure_sheet, meta)
write through it.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

import xlsxwriter
from xlsxwriter.utility import quote_sheetname
from xlsxwriter.worksheet import CellFormulaTuple

from kpisheet import xlsx_write
from kpisheet.check import selfcheck as sc
from kpisheet.domain.catalogue import HQ_CODE, Branch, Catalogue
from kpisheet.domain.display import fits, text_width
from kpisheet.domain.fiscal import wareki_date, wareki_fiscal_year
from kpisheet.domain.plan import PlanSubmission
from kpisheet.domain.plan_layout import rows_per_measure
from kpisheet.domain.settings import HqSettings
from kpisheet.read.names import (
    KEY_COLUMN,
    RATING_NAME,
    ROWS_PER_MEASURE,
    SHEET_GUIDE,
    SHEET_KPI,
    SHEET_LISTS,
    SHEET_MEASURES,
    SHEET_META,
    InputKey,
)
from kpisheet.read.value_tables import ValueTable
from kpisheet.template.layout import (
    BLOCK_FILL,
    CALC_FILL,
    CHECK_OFFSET,
    CHECK_SEND_JA,
    DEFAULT_ROW_HEIGHT,
    HEAD_FILL,
    INPUT_FILL,
    KPI_WIDTHS,
    MEASURE_CHECK_OFFSET,
    OK_FILL,
    PAGE_FILL,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    POINTS_PER_COLUMN,
    POINTS_PER_WIDTH_UNIT,
    PREFILL_FILL,
    PROBLEM_FILL,
    PROBLEM_FONT,
    RATING_MEANINGS,
)
from kpisheet.xlsx_write import cell_reference


class TemplateLintError(Exception):
    """The workbook about to be written breaks one of Excel's limits (a kpisheet bug)."""


class _Values:
    """Baselines or targets from a ValueTable or a plain mapping."""

    def __init__(self, source: ValueTable | Mapping[tuple[str, str], float] | None):
        if isinstance(source, ValueTable):
            self.values, self.origins = source.values, source.origins
        else:
            self.values, self.origins = dict(source or {}), {}

    def get(self, code: str, kpi_id: str) -> float | None:
        return self.values.get((code, kpi_id))

    def origin(self, code: str, kpi_id: str) -> str | None:
        return self.origins.get((code, kpi_id))


SMALL_FONT_WIDTH = 1.15  # a 9pt line holds this many times the characters a 10pt column width counts
BODY_FONT_WIDTH = 1.05  # a 10pt line holds a little more than the column width counts (measured in LibreOffice)
GUIDE_TEXT_WIDTH = 100
PAGE_TEXT_SIZE = 10  # page footers


def _lines(text: str, width: float) -> int:
    """How many lines `text` wraps to in a column `width` characters wide (rough, for row heights)."""
    return sum(max(1, math.ceil(text_width(part) / max(width - 1, 1))) for part in text.split("\n"))


def _row_height(lines: int, per_line: float = 14.5) -> float:
    return round(lines * per_line + 4, 1)


class _Sheet(xlsx_write.Sheet):
    """A worksheet whose formulas are written as given.

    XlsxWriter runs ~30 regular expressions over every formula to prefix Excel 365's functions
    (_xlfn.); the 入力チェック writes ~2,000 formulas of Excel 2007 functions only (selfcheck.py,
    checked by tests/test_template.py), and those substitutions were half the time of a workbook.
    """

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        return formula[1:] if formula.startswith("=") else formula

    def _write_formula(self, row: int, col: int, formula: str, cell_format: Any = None, value: Any = 0) -> int:
        """XlsxWriter's own, but whether a formula holds a dynamic-array function is asked once per formula
        text (its regular expression over a 500-character 入力チェック formula was a sixth of a workbook's
        time, and the 47 branches' workbooks share their formulas); array and dynamic formulas, and an
        empty one, are XlsxWriter's to write."""
        if not formula or formula.startswith("{") or _is_dynamic(formula):
            return super()._write_formula(row, col, formula, cell_format, value)
        if self._check_dimensions(row, col):
            return -1
        formula = self._prepare_formula(formula)
        if self.constant_memory and row > self.previous_row:
            self._write_single_row(row)
        self.table[row][col] = CellFormulaTuple(formula, cell_format, value)
        return 0


@lru_cache(maxsize=16384)
def _is_dynamic(formula: str) -> bool:
    return bool(_xlsxwriter_is_dynamic(formula))


def _xlsxwriter_is_dynamic(formula: str) -> bool:
    """XlsxWriter's own question, whichever way the installed version asks it: 3.3.2 and later have a
    function that skips string literals, earlier 3.x a regular expression."""
    import xlsxwriter.worksheet as xw

    asks = getattr(xw, "_has_dynamic_function", None)
    if asks is not None:
        return bool(asks(formula))
    return xw.re_dynamic_function.search(formula) is not None


class Book:
    """Writes one workbook; records every name and validation for the lint."""

    def __init__(self, wb: xlsxwriter.Workbook, catalogue: Catalogue, fiscal_year: int, branch: Branch,
                 baselines: _Values, targets: _Values, password: str | None, generated_at: datetime,
                 settings: HqSettings, plan: PlanSubmission | None = None):
        self.wb, self.catalogue, self.fy, self.branch = wb, catalogue, fiscal_year, branch
        self.plan = plan  # the branch's approved 事業計画 (generate --plan), or None
        self.rows_per_measure = rows_per_measure(plan, [m.id for m in catalogue.measures_for(branch.code)],
                                                 ROWS_PER_MEASURE)
        self.settings = settings
        self.baselines, self.targets, self.password, self.generated_at = baselines, targets, password, generated_at
        self.kpis = catalogue.kpis_for(fiscal_year, branch.code)
        self.names: dict[str, str] = {}
        self.validations: list[dict[str, Any]] = []
        self.dv_groups: dict[tuple[str, str], tuple[dict[str, Any], tuple[int, int], tuple[int, int], list[str]]] = {}
        self.row_keys: dict[tuple[str, int], str] = {}
        self.formats: dict[tuple[Any, ...], Any] = {}
        self.heights: dict[tuple[str, int], float] = {}  # (sheet, row) -> height set, for the page breaks
        self.blocks: dict[str, list[tuple[int, int]]] = {SHEET_KPI: [], SHEET_MEASURES: []}  # rows kept on one page
        self.manual_breaks: dict[str, list[int]] = {}
        self.row_helpers: dict[tuple[str, int], list[tuple[str, str]]] = {}  # 入力チェック helpers of each row
        self.sheets = {n: wb.add_worksheet(n, worksheet_class=_Sheet) for n in (SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES,
                                                                              SHEET_LISTS,
                                                         SHEET_META)}
        self.title = f"{wareki_fiscal_year(fiscal_year)} 事業計画KPI 入力シート（{branch.display_name}）"

    def fmt(self, *keys: str, **extra: Any) -> Any:
        """A cached format built from named style parts plus overrides."""
        cache_key = (keys, tuple(sorted(extra.items())))
        if cache_key not in self.formats:
            props: dict[str, Any] = {}
            for k in keys:
                props.update(_STYLE_PARTS[k])
            props.update(extra)
            self.formats[cache_key] = self.wb.add_format(props)
        return self.formats[cache_key]

    def cond(self, name: str) -> Any:
        """A format for a conditional-formatting rule (fill and font only)."""
        return self.fmt(f"{name}_cond")

    def input(self, sheet: str, row: int, col: int, key: InputKey, value: Any, cell_format: Any,
              *, merge_to: int | None = None) -> None:
        ws = self.sheets[sheet]
        self._row_key(sheet, row, key.sheet_key)
        if merge_to is not None:
            ws.merge_range(row, col, row, merge_to, "", cell_format)
        if value is None:
            ws.write_blank(row, col, None, cell_format)
        elif isinstance(value, str):
            ws.write_string(row, col, value, cell_format)
        else:
            ws.write_number(row, col, value, cell_format)
        if key.name in self.names:
            raise TemplateLintError(f"defined name {key.name} used twice")
        self.names[key.name] = f"='{sheet}'!{cell_reference(row, col, row_abs=True, col_abs=True)}"
        self.wb.define_name(key.name, self.names[key.name])

    def _row_key(self, sheet: str, row: int, text: str) -> None:
        known = self.row_keys.get((sheet, row))
        if known is None:
            self.row_keys[(sheet, row)] = text
            self.sheets[sheet].write_string(row, KEY_COLUMN - 1, text)
        elif known != text:
            raise TemplateLintError(f"row {row + 1} of {sheet} has two keys: {known}, {text}")

    def validate(self, sheet: str, first: tuple[int, int], last: tuple[int, int], options: dict[str, Any]) -> None:
        """Collect a validation; identical ones are written once over all their ranges (smaller, faster files)."""
        ref = cell_reference(*first) if first == last else \
            f"{cell_reference(*first)}:{cell_reference(*last)}"
        group = self.dv_groups.setdefault((sheet, repr(sorted(options.items()))), (options, first, last, []))
        group[3].append(ref)

    def write_validations(self) -> None:
        for (sheet, _), (options, first, last, refs) in self.dv_groups.items():
            self.validations.append(options)
            self.sheets[sheet].data_validation(first[0], first[1], last[0], last[1],
                                               {"ignore_blank": True, "show_input": True, "show_error": True,
                                                "error_type": "stop", **options, "multi_range": " ".join(refs)})

    def page_setup(self, ws: Any, last_col: int, repeat: tuple[int, int] | None, last_row: int,
                   widths: Iterable[float], *, second_page_col: int | None = None, scale: int | None = None,
                   side_margin: float = 0.4, second_rows: tuple[int, int] | None = None) -> None:
        """A4 landscape, headings repeated, page numbers; a page break before every KPI or measure block that
        would not fit on the page, so no block is split over two pages.  One page wide; or, with
        `second_page_col`, two pages wide at the print `scale` given: the columns from `second_page_col` on
        print after the first page's, with columns B:C (ID and 項目) repeated beside them, and only the rows
        `second_rows` (the table: its head to its last KPI) — the title block above and the notes below are
        written across the first page's columns and print there whole."""
        page = (PAGE_HEIGHT / (scale / 100) * PAGE_FILL) if scale else _page_rows_height(widths)
        breaks = self.manual_breaks.get(ws.name) or _page_breaks(
            self.blocks.get(ws.name, []), lambda r: self.heights.get((ws.name, r), DEFAULT_ROW_HEIGHT),
            repeat, page)
        if breaks:
            ws.set_h_pagebreaks(breaks)
        ws.set_paper(9)
        ws.set_landscape()
        if second_page_col is not None and scale:
            ws.set_print_scale(scale)
            ws.set_v_pagebreaks([second_page_col])
            ws.repeat_columns(1, 2)
            top, bottom = second_rows or (1, last_row)
            ws.print_area(1, 1, last_row, last_col)
            ws.print_area_range = (  # two ranges: each prints as pages of its own (Excel and LibreOffice)
                f"{quote_sheetname(ws.name)}!{xl_range_abs(1, 1, last_row, second_page_col - 1)},"
                f"{quote_sheetname(ws.name)}!{xl_range_abs(top, second_page_col, bottom, last_col)}")
        else:
            ws.print_area(1, 1, last_row, last_col)
            ws.fit_to_pages(1, 0)
        ws.set_margins(left=side_margin, right=side_margin, top=0.5, bottom=0.6)
        ws.center_horizontally()
        size = f"&{PAGE_TEXT_SIZE}"  # as large as the cells' text: the footer is scaled with the page
        ws.set_footer(f"&L{size}{self.branch.display_name}　{wareki_fiscal_year(self.fy)}&C{size}&P / &N ページ"
                      f"&R{size}&A")
        if repeat:
            ws.repeat_rows(*repeat)
        ws.hide_gridlines(1)
        ws.protect(self.password or "", {"format_columns": True, "format_rows": True,
                                         "select_locked_cells": True, "select_unlocked_cells": True})

    def title_rows(self, ws: Any) -> None:
        ws.write_string(1, 1, self.title, self.fmt("title"))
        self.height(ws, 1, 24)
        hq = self.settings
        send = "保存先：月次集計の受信フォルダ" if self.branch.code == HQ_CODE else f"返送先：{hq.department}（{hq.mail}）"
        ws.write_string(2, 1, f"作成日：{wareki_date(self.generated_at.date())}　　提出期限：{hq.deadline_ja()}　　{send}",
                        self.fmt("small"))

    def height(self, ws: Any, row: int, height: float) -> None:
        """Set a row's height and remember it (page breaks are planned from the heights)."""
        ws.set_row(row, height)
        self.heights[(ws.name, row)] = height

    def legend(self, ws: Any, row: int, label_col: int, swatches: list[tuple[int, int, str, str]]) -> None:
        """Colour swatches that explain themselves: 入力欄 / 本部記入済み / 自動計算 / 見出し."""
        ws.write_string(row, label_col, "凡例（セルの色）", self.fmt("small", bold=True, align="right"))
        for first, last, style, text in swatches:
            cell_format = self.fmt(style, "border", align="center", locked=True, font_size=9)
            if first == last:
                ws.write_string(row, first, text, cell_format)
            else:
                ws.merge_range(row, first, row, last, text, cell_format)

    def traffic_light(self, ws: Any, first: tuple[int, int], last: tuple[int, int], count: str) -> None:
        """Red while the 入力チェック counts a problem, green at 0."""
        for criteria, fmt in ((f"={count}>0", self.cond("problem")), (f"={count}=0", self.cond("ok"))):
            ws.conditional_format(*first, *last, {"type": "formula", "criteria": criteria, "format": fmt})

    def pillar_band(self, ws: Any, row: int, last_col: int, pillar: int) -> int:
        p = self.catalogue.pillar(pillar)
        text = f"{p.no}. {p.label}"
        fmt = self.fmt("pillar")
        if ws.name == SHEET_KPI:  # B:C print again beside 10月〜3月: the heading stays within them
            ws.merge_range(row, 1, row, 2, text, self.fmt("pillar", text_wrap=True))
            height = 18.0 if fits(text, sum(KPI_WIDTHS[:2])) else _row_height(_lines(text, sum(KPI_WIDTHS[:2])))
        else:
            ws.write_string(row, 1, text, fmt)
            ws.write_blank(row, 2, None, fmt)
            height = 18.0
        for c in range(3, last_col + 1):
            ws.write_blank(row, c, None, fmt)
        self.height(ws, row, height)
        return row + 1

    def check(self, ws: Any, row: int, col: int, label: str, reasons: list[sc.Reason]) -> None:
        """The input's 入力チェック helper (hidden, beyond the print area), listed for its row's 確認 cell."""
        helper = (row, col + CHECK_OFFSET) if ws.name == SHEET_KPI else (row, col + MEASURE_CHECK_OFFSET)
        ws.write_formula(*helper, sc.reasons_formula(reasons), None, "")
        self.row_helpers.setdefault((ws.name, row), []).append((label, cell_reference(*helper)))

    def row_summaries(self, ws: Any, check_col: int) -> None:
        for (sheet, row), helpers in self.row_helpers.items():
            if sheet == ws.name:
                ws.write_formula(row, check_col, sc.row_summary_formula(helpers), self.fmt("check"), "")


def xl_range_abs(first_row: int, first_col: int, last_row: int, last_col: int) -> str:
    return (f"{cell_reference(first_row, first_col, row_abs=True, col_abs=True)}:"
            f"{cell_reference(last_row, last_col, row_abs=True, col_abs=True)}")


def _summary_formula(total: str, parts: list[tuple[str, str]]) -> str:
    """What the top of a sheet says about the 入力チェック, with the count of each input sheet."""
    detail = "&\"・\"&".join(f'"{sheet} "&{cell}&"件"' for sheet, cell in parts)
    return (f'=IF({total}=0,"入力チェック：問題は見つかりません（0件）。このまま送付できます。",'
            f'"入力チェック：要確認 "&{total}&" 件（"&{detail}&"）。赤いセルを直してください。{CHECK_SEND_JA}。")')


def _page_rows_height(widths: Iterable[float]) -> float:
    """How many points of rows one printed page holds when the columns are fitted to the page width."""
    printed = sum(w * POINTS_PER_WIDTH_UNIT + POINTS_PER_COLUMN for w in widths)
    scale = min(1.0, PAGE_WIDTH / printed)
    return PAGE_HEIGHT / scale * PAGE_FILL


def _page_breaks(blocks: list[tuple[int, int]], height: Callable[[int], float], repeat: tuple[int, int] | None,
                 page: float) -> list[int]:
    """Rows to break the page before, so that no block (first row, last row) is split between pages.

    The first page also holds everything above the first block; every page holds the repeated headings."""
    if not blocks:
        return []
    heading = sum(height(r) for r in range(repeat[0], repeat[1] + 1)) if repeat else 0.0
    used = sum(height(r) for r in range(1, blocks[0][0])) - heading
    breaks: list[int] = []
    for first, last in blocks:
        size = sum(height(r) for r in range(first, last + 1))
        if used + size > page - heading and used > 0:
            breaks.append(first)
            used = 0.0
        used += size
    return breaks


def _text_validation(limit: int) -> dict[str, Any]:
    return {"validate": "length", "criteria": "<=", "value": limit,
            "input_title": "文章で記入",
            "input_message": f"{limit}文字以内で記入してください。セル内の改行は Alt＋Enter です。",
            "error_title": "文字数が多すぎます",
            "error_message": f"{limit}文字以内にまとめてください。"}


def _rating_validation() -> dict[str, Any]:
    return {"validate": "list", "source": f"={RATING_NAME}",
            "input_title": "評価を選択",
            "input_message": "リストから選択：" + "／".join(f"{r} {t}" for r, t in RATING_MEANINGS.items()),
            "error_title": "リストから選んでください",
            "error_message": "評価は ◎ ○ △ × — のいずれかをリストから選んでください。"}


_STYLE_PARTS: dict[str, dict[str, Any]] = {
    "title": {"bold": True, "font_size": 14},
    "small": {"font_size": 9},
    "note": {"font_size": 9, "text_wrap": True, "valign": "top", "font_color": "#404040"},
    "hint": {"font_size": 9, "font_color": "#1F4E79"},
    "info": {"font_size": 9, "text_wrap": True, "valign": "top", "bg_color": "#F2F2F2", "font_color": "#262626"},
    "head": {"bold": True, "font_color": "#FFFFFF", "bg_color": HEAD_FILL, "border": 1, "border_color": "#808080",
             "align": "center", "valign": "vcenter", "text_wrap": True},
    "pillar": {"bold": True, "font_color": "#FFFFFF", "bg_color": "#2F5597", "valign": "vcenter"},
    "block": {"bold": True, "bg_color": BLOCK_FILL, "valign": "vcenter", "top": 1, "top_color": "#808080"},
    "label": {"text_wrap": True, "valign": "vcenter", "border": 1, "border_color": "#A6A6A6"},
    "center": {"align": "center"},
    "top": {"valign": "top"},
    "border": {"border": 1, "border_color": "#A6A6A6"},
    "number": {"align": "right", "shrink": True},
    "input": {"locked": False, "bg_color": INPUT_FILL, "border": 1, "border_color": "#A6A6A6", "valign": "vcenter"},
    "prefill": {"locked": False, "bg_color": PREFILL_FILL, "border": 1, "border_color": "#A6A6A6",
                "valign": "vcenter"},
    "input_plain": {"bg_color": INPUT_FILL},
    "prefill_plain": {"bg_color": PREFILL_FILL},
    "calc_plain": {"bg_color": CALC_FILL},
    "calc": {"bg_color": CALC_FILL, "border": 1, "border_color": "#A6A6A6", "align": "right", "shrink": True},
    "text": {"text_wrap": True, "valign": "top"},
    "rating": {"align": "center", "font_size": 12},
    "problem_plain": {"bg_color": PROBLEM_FILL, "font_color": PROBLEM_FONT},
    "problem_cond": {"bg_color": PROBLEM_FILL, "font_color": PROBLEM_FONT},
    "ok_cond": {"bg_color": OK_FILL, "font_color": "#006100"},
    "check": {"font_size": 9, "font_color": PROBLEM_FONT, "shrink": True, "valign": "vcenter", "border": 1,
              "border_color": "#A6A6A6"},
    "count": {"bold": True, "font_size": 14, "align": "center", "valign": "vcenter", "num_format": '0"件"',
              "border": 1, "border_color": "#808080"},
    "summary": {"bold": True, "valign": "vcenter", "text_wrap": True, "border": 1, "border_color": "#808080"},
}
