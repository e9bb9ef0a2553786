"""The second and third ways of making a branch's feedback workbook, with openpyxl.

2. the branch's workbook loaded, annotated and saved by openpyxl (images and charts are lost);
3. a workbook with only the 実施状況 and 確認事項 sheets (kpisheet.write.feedback.build says when).
"""

from __future__ import annotations

import copy
import functools
import io
import zipfile
from typing import TYPE_CHECKING, Any, Callable

from kpisheet.domain.findings import Finding
from kpisheet.domain.model import Submission
from kpisheet.write.feedback.items import Highlight, highlights
from kpisheet.write.feedback.patch import _check_budget
from kpisheet.write.feedback.summary import (
    BOX_RGB,
    COMMENT_AUTHOR,
    ERROR_RGB,
    FOOTER_PAGES,
    HEAD_RGB,
    PERCENT_FORMAT,
    PILLAR_RGB,
    PRINT_TITLE_ROWS,
    SHEET,
    WARNING_RGB,
    Cell,
    _branch_name,
    _by_cell,
    _comment_text,
    _plan_cells,
    column_widths,
    spans,
    summary_cells,
    wide_style,
)
from kpisheet.write.report import FONT, MARK_COLOURS, plan_status
from kpisheet.xlsx_cells import column_letter

if TYPE_CHECKING:
    from kpisheet.consolidate.model import Consolidation


# ================================================================ openpyxl: the second and third ways
# (imported only here: the patch path needs no openpyxl, and the CLI's start-up should not pay for it)
# parts openpyxl does not carry over when it loads and saves a workbook
_DROPPED_PARTS = ("xl/media/", "xl/charts/", "xl/drawings/drawing", "xl/pivot", "xl/slicer", "xl/vbaProject")


def _openpyxl_feedback(cons: Consolidation, sub: Submission, findings: list[Finding], data: bytes) -> bytes:
    """The branch's workbook loaded, annotated and saved by openpyxl (images and charts are lost)."""
    wb, notes = _openpyxl_marked(data, highlights(findings, cons.catalogue))
    return _save_with_summary(wb, cons, sub, findings, notes)


def _openpyxl_marked(data: bytes, marks: list[Highlight]) -> tuple[Any, list[str]]:
    """The branch's workbook loaded by openpyxl with `marks` coloured and commented, and the notes for the
    確認事項 sheet (what the copy lost)."""
    import openpyxl

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        _check_budget(z.infolist())
        names = z.namelist()
    wb = openpyxl.load_workbook(io.BytesIO(data), keep_vba=False, keep_links=False, rich_text=True)
    notes = []
    dropped = sorted({p for p in _DROPPED_PARTS for n in names if n.startswith(p)})
    if dropped:
        notes.append("※ 元のブックにある図・グラフ等はこの確認用の写しには含まれていません（" + "、".join(dropped) + "）。")
    _annotate(wb, marks)
    return wb, notes


def openpyxl_with_summary(data: bytes | None, marks: list[Highlight],
                          summary: Callable[[list[str]], tuple[list[Cell], int, list[float]]], footer_left: str,
                          notes: list[str] | tuple[str, ...] = ()) -> bytes:
    """The second and third ways for any feedback: the branch's workbook (`data`) loaded by openpyxl and
    marked, or (data None) an empty workbook; a 確認事項 sheet first, from summary(notes)."""
    import openpyxl

    if data is not None:
        wb, lost = _openpyxl_marked(data, marks)
    else:
        wb, lost = openpyxl.Workbook(), []
        wb.remove(wb.active)
    cells, freeze, widths = summary([*notes, *lost])
    ws = wb.create_sheet(SHEET, 0)
    _summary_sheet(ws, cells, freeze, widths, footer_left)
    wb.active = 0
    for i, other in enumerate(wb.worksheets):
        other.sheet_view.tabSelected = i == 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _summary_sheet(ws: Any, cells: list[Cell], freeze: int, widths: list[float], footer_left: str) -> None:
    _openpyxl_cells(ws, cells)
    for row, first, last, _style in spans(cells):
        ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
    for col, width in enumerate(widths, 1):
        ws.column_dimensions[column_letter(col)].width = width
    ws.freeze_panes = f"A{freeze}"
    _openpyxl_print(ws, PRINT_TITLE_ROWS, footer_left)


def _scratch_feedback(cons: Consolidation, sub: Submission, findings: list[Finding], notes: list[str]) -> bytes:
    """A workbook with only the 確認事項 sheet."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    return _save_with_summary(wb, cons, sub, findings, notes)


def _save_with_summary(wb: Any, cons: Consolidation, sub: Submission, findings: list[Finding],
                       notes: list[str]) -> bytes:
    """The 確認事項 sheet (and 実施状況 before it, when the branch's values were used) into an openpyxl
    workbook, first; its bytes."""
    ws = wb.create_sheet(SHEET, 0)
    cells, freeze = summary_cells(cons, sub, findings, notes)
    _summary_sheet(ws, cells, freeze, column_widths(cells), f"{_branch_name(sub)} 確認事項")
    plan = _plan_cells(cons, sub)
    if plan is not None:
        ps = wb.create_sheet(plan_status.SHEET, 0)
        _openpyxl_cells(ps, plan[0])
        for row, points in plan[1].items():
            ps.row_dimensions[row].height = points
        for col, width in enumerate(plan_status.WIDTHS, 1):
            ps.column_dimensions[column_letter(col)].width = width
        _openpyxl_print(ps, plan_status.TITLE_ROWS, f"{_branch_name(sub)} {plan_status.SHEET}")
        ps.oddHeader.left.text = plan_status.title_ja(cons.fiscal_year, sub.branch_code or "").replace("&", "&&")
    active = 1 if plan is not None and findings else 0
    wb.active = active
    for i, other in enumerate(wb.worksheets):
        other.sheet_view.tabSelected = i == active
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _openpyxl_cells(ws: Any, cells: list[Cell]) -> None:
    styled: dict[Any, Any] = {}  # style key -> first cell given it
    for row, col, value, style in cells:
        c = ws.cell(row=row, column=col)
        c.value = value
        if isinstance(value, str):
            c.data_type = "s"  # branch text stays text ("=1+1" is not a formula)
        key = style if isinstance(style, str) else tuple(style)
        if key in styled:
            c._style = copy.copy(styled[key]._style)  # openpyxl's own way to share a format, far faster
        else:
            _openpyxl_style(c, style)
            styled[key] = c


def _openpyxl_print(ws: Any, title_rows: int, footer_left: str) -> None:
    """A4 landscape, one page wide, the title rows on every page, name and page numbers in the footer."""
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", 9
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{title_rows}"
    ws.oddFooter.left.text, ws.oddFooter.center.text = footer_left.replace("&", "&&"), FOOTER_PAGES


def _openpyxl_style(c: Any, style: Any) -> None:
    if isinstance(style, tuple) and style[0] == "wide":
        style = wide_style(style)
    font, border, alignment, fill = _openpyxl_style_objects(style if isinstance(style, str) else tuple(style))
    c.font = font
    if style == "percent":
        c.number_format = PERCENT_FORMAT
    elif isinstance(style, tuple) and style[0] == "number":
        c.number_format = style[1]
    if border is not None:
        c.border = border
    if alignment is not None:
        c.alignment = alignment
    if fill is not None:
        c.fill = fill


@functools.lru_cache(maxsize=None)
def _openpyxl_style_objects(style: Any) -> tuple[Any, Any, Any, Any]:
    """(font, border, alignment, fill) of a style key, made once (openpyxl is slow to build them per cell)."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    key, mark = (style[0], style[1]) if isinstance(style, tuple) else (style, None)
    font = Font(name=FONT, size={"title": 14, "pillar": 12}.get(key, 10),
                bold=key in ("title", "bold", "head", "mark", "pillar", "measure", "issue_label"),
                color="FFFFFF" if key == "head" else None)
    if key in ("title", "plain", "bold"):
        return font, None, None, None
    if key == "plain_wrap":
        return font, None, Alignment(wrap_text=True, vertical="top"), None
    if key == "pillar":
        return font, None, None, PatternFill("solid", fgColor=PILLAR_RGB)
    thin = Side(style="thin", color=BOX_RGB)
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    alignment = Alignment(wrap_text=key != "number", vertical="top",
                          horizontal="center" if key in ("head", "mark", "centre", "centre_wrap")
                          else "right" if key == "number" else None)
    fills = {"head": HEAD_RGB, "error": ERROR_RGB, "warning": WARNING_RGB, "issue_label": plan_status.ISSUE_BG[1:],
             "kpi": plan_status.ISSUE_BG[1:]}
    colour = MARK_COLOURS.get(mark or "", "")[1:] if key == "mark" else fills.get(key)
    return font, border, alignment, PatternFill("solid", fgColor=colour) if colour else None


def _annotate(wb: Any, findings: list[Highlight]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    for (sheet, ref), items in _by_cell(findings, wb.sheetnames).items():
        try:
            cell = wb[sheet][ref]
        except (ValueError, KeyError, AttributeError):
            continue  # a chart sheet has no cells
        cell.fill = PatternFill("solid", fgColor=ERROR_RGB if any(f.is_error for f in items) else WARNING_RGB)
        text = _comment_text(items)
        comment = Comment(text, COMMENT_AUTHOR)
        comment.width, comment.height = 360, min(60 + 18 * (len(text) // 24 + len(items)), 400)
        cell.comment = comment
