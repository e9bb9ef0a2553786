"""The 確認事項 sheet of a branch's feedback, as data: its texts, its layout and what it says.

The cells (row, col, value, style key) are written by either way of making the copy
(kpisheet.write.feedback.patch as worksheet XML, kpisheet.write.feedback.fallback with openpyxl);
the 実施状況 sheet's cells come from kpisheet.write.report.plan_status.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpisheet.consolidate.model import rank_ja
from kpisheet.domain.catalogue import branch
from kpisheet.domain.display import CELL_MARGIN, difference, format_number, number_format, stored, width_for
from kpisheet.domain.findings import Finding
from kpisheet.domain.fiscal import next_month, wareki_fiscal_year, wareki_month
from kpisheet.domain.model import Submission
from kpisheet.domain.ratings import as_of_ja
from kpisheet.write.feedback.items import REPORTING_MONTH_MISSING, Highlight, Item, fold
from kpisheet.write.report import (
    PROGRESS_JA,
    RANK_NOTE_JA,
    RULE_JA,
    change_ja,
    coverage_ja,
    data_month_ja,
    kpi_result_text,
    plan_status,
    result_ja,
    source_ja,
    target_text,
    term_goal_ja,
    year_on_year_note,
)
from kpisheet.xlsx_cells import cell_coordinates

if TYPE_CHECKING:
    from kpisheet.consolidate.model import BranchKpi, Consolidation, NationalKpi
    from kpisheet.domain.catalogue import Kpi

SHEET = "確認事項"


# ================================================================ names
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """Text safe in any XML part and in openpyxl (lone surrogates from undecodable file names, controls)."""
    return _BAD_XML_CHARS.sub("", _SURROGATES.sub("\ufffd", text))


def _safe_name(text: str, limit: int = 40) -> str:
    """A piece of a file name any file system accepts (no separators, controls, Windows-reserved characters)."""
    text = _UNSAFE_IN_NAME.sub("_", _clean(text)).strip(" .")
    return text[:limit].strip(" .") or "_"


def _branch_name(sub: Submission) -> str:
    try:
        return branch(sub.branch_code or "").display_name
    except KeyError:
        return _safe_name(sub.branch_name or "不明", 20)


FOOTER_PAGES = "&P / &N ページ"


# ================================================================ the 確認事項 sheet, as data
Cell = tuple[int, int, Any, Any]  # (row, col, value, style key: "title" | "text" | "percent" | ("mark", "◎")
#                                   | ("number", number format) | ("wide", last column[, style]): text merged across
#                                   to the last column, in the style given ("text" without one))
# shared by the findings, revisions and year-on-year tables (6 columns) and the KPI table (13) below them; their
# sum keeps the KPI table on an A4 landscape page at 8 pt and more (10 pt printed at about 84%); 前年同月
# 「79.86%（R5.10現在）」 and 前年差 「+0.27ポイント」 fit on a line, and every number fits its column
# (`column_widths` widens a column where one would not)
WIDTHS: list[float] = [8, 24, 18, 18, 14, 7, 7, 6, 10, 9, 13, 6, 5]
NOTE_SPAN = (6, 9)  # 3. 前年同月との比較: its 注記 runs over the columns 評価 … 目標の設定 of the KPI table
MAX_LINES = 40  # a wrapped text's row grows to this many lines (the findings' texts are long)
FINDING_COLUMNS = ["No", "内容（直し方）", "シート", "セル", "コード", "重要度"]
KPI_COLUMNS = ["KPI ID", "KPI", "年間目標", "実績", "データ時点", "評価", "進捗（参考）", "順位", "目標の設定",
               "第{term}期末目標（参考）", "全国の実績", "全国のデータ時点", "全国の評価"]
PRINT_TITLE_ROWS = 1  # the title row repeats on every printed page


def summary_cells(cons: Consolidation, sub: Submission, findings: list[Finding],
                  notes: list[str] | tuple[str, ...] = ()) -> tuple[list[Cell], int]:
    """Cells of the 確認事項 sheet and the row its findings table starts on (frozen under)."""
    cells = _summary_cells(cons, sub, findings, notes)
    head_row = next(row for row, col, value, style in cells if style == "head")
    return [(r, c, _clean(v) if isinstance(v, str) else v, _across(s)) for r, c, v, s in cells], head_row + 1


def _across(style: Any) -> Any:
    """A line of explanation wraps across the whole table (text overflowing to the right would widen the
    printed page: LibreOffice prints the empty columns it runs into)."""
    return ("wide", len(WIDTHS), "plain_wrap") if style == "plain" else style


def _summary_cells(cons: Consolidation, sub: Submission, findings: list[Finding],
                   notes: list[str] | tuple[str, ...]) -> list[Cell]:
    cells: list[Cell] = [(1, 1, f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画KPI 確認事項"
                                f"（{_branch_name(sub)}・{wareki_month(cons.month)}分）", "title")]
    items = fold(findings, cons.catalogue)
    lines = [f"提出ファイル：{Path(sub.path).name}", outcome_ja(items), *hq_lines(cons), *notes]
    cells += [(2 + i, 1, line, "plain") for i, line in enumerate(lines)]
    row = len(lines) + 1
    if items:
        cells += [(row + 1, 1, "エラー", "error"), (row + 1, 2, ERROR_MEANS_JA, "plain"),
                  (row + 2, 1, "警告", "warning"), (row + 2, 2, WARNING_MEANS_JA, "plain")]
        row += 2
    row += 2
    cells.append((row, 1, "1. 指摘事項", "bold"))
    row += 1
    if items:
        cells += [(row, c, t, "head") for c, t in enumerate(FINDING_COLUMNS, 1)]
        for i, item in enumerate(items, 1):
            row += 1
            cells += _item_cells(row, i, item)
    else:
        cells.append((row, 1, "指摘事項はありません。", "plain"))
    row = _revision_cells(cons, sub, cells, row + 2)
    row = _year_on_year_cells(cons, sub, cells, row + 2)
    row += 2
    cells.append((row, 1, "4. 実績と評価（自支部と全国）", "bold"))
    for line in (f"{RULE_JA}実績の（{as_of_ja(cons.month)}）などは、データが届いている月です。", PROGRESS_JA,
                 RANK_NOTE_JA):
        row += 1
        cells.append((row, 1, line, "plain"))
    row += 1
    cells += [(row, c, t.format(term=cons.catalogue.term), "head") for c, t in enumerate(KPI_COLUMNS, 1)]
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        row += 1
        cells += [(row, c, value, style) for c, (value, style) in
                  enumerate(_kpi_cells(cons, kpi, cons.branch_kpis.get((code, kpi.id)), cons.national.get(kpi.id)), 1)]
    return cells


def _revision_cells(cons: Consolidation, sub: Submission, cells: list[Cell], row: int) -> int:
    """2. the branch's own revisions of values it reported before (from the ledger); the last row used."""
    cells.append((row, 1, "2. 前月までに報告した値の修正", "bold"))
    revisions = cons.revisions_of(sub.branch_code or "")
    row += 1
    if not revisions:
        cells.append((row, 1, "修正はありません。" if cons.previous_year is not None
                       else "台帳を使わずに集計したため、修正は確認していません。", "plain"))
        return row
    cells.append((row, 1, "締め後＝すでに締めた月の値の修正です。この集計には修正後の値を使い、締めた月の集計表はそのまま残します。",
                  "plain"))
    row += 1
    cells += [(row, c, t, "head") for c, t in enumerate(["対象月", "KPI（修正したファイル）", "修正前", "修正後", "締め",
                                                          "差"], 1)]
    for r in revisions:
        kpi = cons.catalogue.kpi(r.kpi_id)
        row += 1
        new = kpi.format_value(r.new_value) if r.new_value is not None else "（空欄または除外）"
        change = change_ja(kpi, difference(kpi, r.new_value, r.old_value))
        cells += [(row, 1, data_month_ja(r.month), "text"), (row, 2, f"{kpi.id} {kpi.label}\n（{r.file}）", "text"),
                  (row, 3, kpi.format_value(r.old_value), "text"), (row, 4, new, "text"),
                  (row, 5, "締め後" if r.after_close else "", "text"), (row, 6, change, "text")]
    return row


def _year_on_year_cells(cons: Consolidation, sub: Submission, cells: list[Cell], row: int) -> int:
    """3. each KPI's result beside the same month of the previous fiscal year; the last row used."""
    cells.append((row, 1, "3. 前年同月との比較", "bold"))
    row += 1
    if cons.previous_year is None:
        cells.append((row, 1, "台帳を使わずに集計したため、前年同月の値はありません。", "plain"))
        return row
    cells += [(row, c, t, "head") for c, t in enumerate(["ID", "KPI", "実績", "前年同月", "前年差"], 1)]
    cells.append((row, NOTE_SPAN[0], "注記", ("wide", NOTE_SPAN[1], "head")))
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        if kpi.kind == "qualitative" or bk is None:
            continue
        yoy = cons.year_on_year(code, kpi.id)
        row += 1
        previous = result_ja(kpi, yoy.previous, yoy.previous_month) if yoy.previous is not None else "—"
        cells += [(row, 1, kpi.id, "text"), (row, 2, kpi.label, "text"), (row, 3, kpi_result_text(kpi, bk), "text"),
                  (row, 4, previous, "text"), (row, 5, change_ja(kpi, yoy.change), "text"),
                  (row, NOTE_SPAN[0], year_on_year_note(yoy), ("wide", NOTE_SPAN[1]))]
    return row


def number_text(value: Any, style: Any) -> str | None:
    """What a number cell of the sheet shows (display.format_number through its style's format); None for text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if style == "percent":
        return format_number(value, PERCENT_FORMAT)
    return format_number(value, style[1] if isinstance(style, tuple) and style[0] == "number" else None)


def column_widths(cells: list[Cell], base: list[float] | None = None) -> list[float]:
    """`base` (WIDTHS), each widened where a number of that column would not show whole (「###」)."""
    widths: list[float] = list(WIDTHS if base is None else base)
    for _row, col, value, style in cells:
        text = number_text(value, style)
        if text is not None and col <= len(widths):
            widths[col - 1] = max(widths[col - 1], width_for(text) + CELL_MARGIN)
    return widths


def spans(cells: list[Cell]) -> list[tuple[int, int, int, str]]:
    """(row, first column, last column, style) of every text merged across columns (style ("wide", …))."""
    return [(row, col, style[1], wide_style(style)) for row, col, _value, style in cells
            if isinstance(style, tuple) and style[0] == "wide"]


def wide_style(style: tuple[Any, ...]) -> str:
    """The style of a ("wide", last column[, style]) cell."""
    return style[2] if len(style) > 2 else "text"


def cell_width(widths: list[float], col: int, style: Any) -> float:
    """The width a cell's text wraps in: its column's, or the sum over the columns it is merged across."""
    last = style[1] if isinstance(style, tuple) and style[0] == "wide" else col
    return sum(widths[col - 1:last])


def hq_lines(cons: Consolidation) -> list[str]:
    """The next deadline and HQ's contact, from HQ's settings (nothing while they hold placeholders)."""
    settings = cons.settings
    if settings is None or settings.placeholders():
        return []
    following = next_month(cons.month)
    return [f"次回（{wareki_month(following)}分）の提出期限：{settings.deadline_ja(following)}",
            f"お問い合わせ・再提出先：{settings.contact_ja()}"]


ERROR_MEANS_JA = "直して再提出してください（エラーの値は全国集計から除外しています）。"
WARNING_MEANS_JA = "確認してください。値が正しければ対応は不要です。（黄色・青色は、元のブックの入力欄の色です。）"


def outcome_ja(items: list[Item]) -> str:
    """What the branch has to do: resubmit (errors), look (warnings only) or nothing."""
    errors = sum(1 for i in items if i.is_error)
    warnings = len(items) - errors
    where = "該当するセルには色を付け、セルのコメントにも書いています。"
    month = next((i.finding for i in items if i.finding.code == REPORTING_MONTH_MISSING), None)
    if month is not None:  # the one thing to do: enter the month and send the file again
        others = f"ほかにエラー {errors}件 ／ 警告 {warnings - 1}件があります。" if errors or warnings > 1 else ""
        return (f"{month.context.get('month', '報告月')}分が入力されていません。{month.context.get('month', '報告月')}分を"
                f"入力して再提出してください。{others}{where}")
    if errors:
        return (f"エラー {errors}件 ／ 警告 {warnings}件。エラーの欄を支部の元のブックで直して、再提出してください。"
                f"警告は、値が正しければ対応は不要です。{where}")
    if warnings:
        return (f"エラーはありません（警告 {warnings}件）。警告は、値が正しければ対応は不要です。誤りがあれば元のブックで直し、"
                f"次回の提出に反映してください（再提出は不要です）。{where}")
    return "指摘事項はありません。このままで結構です（再提出は不要です）。"


def _item_cells(row: int, no: int, item: Item) -> list[Cell]:
    severity = "error" if item.is_error else "warning"
    return [(row, 1, no, "centre"), (row, 2, item.text_ja, "text"), (row, 3, item.finding.sheet or "", "text"),
            (row, 4, item.cells_ja, "text"), (row, 5, item.codes, "text"),
            (row, 6, "エラー" if item.is_error else "警告", severity)]


def _number(kpi: Kpi, value: float | None, *, target: bool = False) -> tuple[Any, Any] | None:
    """(cell value, style) of a KPI value as a number (a percent as a fraction), None without one."""
    if value is None:
        return None
    suffix = ("以上" if kpi.direction == ">=" else "以下") if target else ""
    return stored(kpi, value), ("number", number_format(kpi, unit="all", suffix=suffix))


def _kpi_cells(cons: Consolidation, kpi: Kpi, bk: BranchKpi | None, n: NationalKpi | None) -> list[tuple[Any, Any]]:
    """(value, style) of one KPI row of the 確認事項 sheet: the branch's result beside the nation's, as numbers."""
    mark = bk.rating.mark if bk else "—"
    nmark = n.rating.mark if n else "—"
    if kpi.kind == "qualitative":
        target, result = (kpi.target.text or "", "text"), ((bk.text if bk else None) or "—", "text")
        source, goal, national = "", "", ("—", "text")
    else:
        target = (_number(kpi, bk.annual_target, target=True) if bk else None) or (
            (target_text(kpi, None, bk.target_basis) if bk else "—"), "text")
        result = (_number(kpi, bk.value) if bk else None) or ((kpi_result_text(kpi, bk) if bk else "—"), "text")
        source = source_ja(bk.target_source, cons.catalogue.term) if bk else ""
        goal = term_goal_ja(kpi)
        national = ((_number(kpi, n.value) if n is not None and n.branches_met is None
                     and not _short_of_branches(kpi, n) else None)
                    or (_national_text(kpi, n), "text"))
    month = data_month_ja(bk.data_month) if bk else ""
    national_month = data_month_ja(n.data_month) if n is not None and n.branches_met is None else ""
    return [(kpi.id, "text"), (kpi.label, "text"), target, result, (month, "centre"),
            (mark, ("mark", mark)), (bk.progress if bk else None, "percent"),
            (rank_ja(bk), "centre"), (source, "text"), (goal, "text"), national,
            (national_month, "centre"), (nmark, ("mark", nmark))]


def _short_of_branches(kpi: Kpi, n: NationalKpi) -> bool:
    """A national count summed over fewer branches than it should cover: shown with its coverage."""
    covered, of = n.coverage
    return kpi.kind == "count" and kpi.scope == "branch" and covered < of


def _national_text(kpi: Kpi, n: NationalKpi | None) -> str:
    """「35.7%（R6.10現在）」, or 「39/44支部」 with the pooled rate as reference (K6-2-08)."""
    if n is None:
        return "—"
    if n.branches_met is not None:
        met, reporting = n.branches_met
        pooled = f"\n参考：全国の{kpi.short_label} {result_ja(kpi, n.value, n.data_month)}" if n.value is not None else ""
        return f"{met}/{reporting}支部{pooled}"
    if n.value is None:
        return f"—（{n.rating.reason_ja}）" if n.rating.reason_ja else "—"
    if _short_of_branches(kpi, n):
        return f"{result_ja(kpi, n.value, n.data_month)}\n{coverage_ja(kpi, n)}"
    return result_ja(kpi, n.value, n.data_month)


def _plan_cells(cons: Consolidation, sub: Submission) -> tuple[list[Cell], dict[int, float]] | None:
    """The 実施状況 sheet's cells and row heights; None unless this file's values are the branch's in
    the consolidation (a file set aside for a newer one, or one that could not be read, has none)."""
    code = sub.branch_code
    if not code or cons.used.get(code) != sub.path:
        return None
    cells, heights = plan_status.plan_status_cells(plan_status.plan_status_rows(cons, code))
    return [(r, c, _clean(v) if isinstance(v, str) else v, s) for r, c, v, s in cells], heights


# ================================================================ colours and comments (both ways of making the copy)
# red and orange: neither is an input colour of the branch's workbook (yellow FFF2CC, blue DDEBF7)
ERROR_RGB, WARNING_RGB, HEAD_RGB, BOX_RGB = "FF9B9B", "F9B26B", "1F4E78", "808080"
PILLAR_RGB = plan_status.PILLAR_BG[1:]
COMMENT_AUTHOR = "本部"  # shown before every comment in Excel
PERCENT_FORMAT = "0%"  # 進捗（参考）; built-in number format 9


def _by_cell(findings: list[Highlight], sheets: list[str]) -> dict[tuple[str, str], list[Highlight]]:
    """Highlights by (sheet, cell) for cells of sheets the workbook has."""
    out: dict[tuple[str, str], list[Highlight]] = {}
    for f in findings:
        if f.sheet and f.cell and f.sheet in sheets and f.cell == f.cell.upper() and "$" not in f.cell:
            rc = cell_coordinates(f.cell)
            if rc and rc[0] <= 1_048_576 and rc[1] <= 16_384:
                out.setdefault((f.sheet, f.cell), []).append(f)
    return out


def _comment_text(items: list[Highlight]) -> str:
    text = "\n".join(f"【{f.code} {'エラー' if f.is_error else '警告'}】{f.text_ja}" for f in items)
    return _clean(text[:2000])
