"""Branch feedback: `feedback/<code>_<支部名>_FY2024_2024-10_確認事項.xlsx`.

A copy of the branch's own workbook with every finding's cell highlighted and a
comment saying what to fix, plus a first sheet 確認事項 that lists the findings
(sheet, cell, message) and the branch's own marks beside the national figures.

How the copy is made (see the module's README notes in the final report):
the original file is never touched; its bytes are loaded by openpyxl and the
result saved as a NEW file.  For kpisheet's own template this keeps the input
cells, values, defined names, data validations, sheet protection, hidden
sheets, print set-up and document properties (measured in
tests/test_feedback.py).  openpyxl does drop images and charts that a branch
may have pasted in, and Excel-2010 extension lists; when the original holds
such parts the 確認事項 sheet says so, and asks the branch to correct its own
original file rather than this copy.  When the file cannot be loaded at all,
the feedback workbook holds the 確認事項 sheet only.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .catalogue import branch
from .consolidation import Consolidation
from .fileio import atomic_path
from .findings import Finding
from .fiscal import wareki_fiscal_year, wareki_month
from .model import Submission
from .report import FONT, MARK_COLOURS, _body

SHEET = "確認事項"
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")
HEAD_FILL = PatternFill("solid", fgColor="1F4E78")
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
# parts openpyxl does not carry over when it loads and saves a workbook
_DROPPED_PARTS = ("xl/media/", "xl/charts/", "xl/drawings/drawing", "xl/pivot", "xl/slicer", "xl/vbaProject")


def feedback_path(cons: Consolidation, sub: Submission, outdir: Path) -> Path:
    code = sub.branch_code or "xx"
    try:
        name = branch(code).display_name
    except KeyError:
        name = sub.branch_name or "不明"
    return Path(outdir) / "feedback" / f"{code}_{name}_FY{cons.fiscal_year}_{cons.month_key}_確認事項.xlsx"


def branch_findings(cons: Consolidation, sub: Submission) -> list[Finding]:
    return [f for f in cons.findings if f.file == sub.path or (f.file is None and f.branch == sub.branch_code)]


def write_feedback(cons: Consolidation, sub: Submission, outdir: Path, *, force: bool) -> Path:
    """Write one branch's feedback workbook atomically; return its path."""
    final = feedback_path(cons, sub, outdir)
    findings = branch_findings(cons, sub)
    wb, dropped = _load_copy(Path(sub.path))
    annotated = _annotate(wb, findings) if len(wb.sheetnames) > 1 or dropped is not None else set()
    ws = wb.create_sheet(SHEET, 0)
    _summary_sheet(ws, cons, sub, findings, annotated, dropped)
    wb.active = 0
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False
    with atomic_path(final, force=force) as tmp:
        wb.save(tmp)
    return final


def _load_copy(path: Path) -> tuple[Any, list[str] | None]:
    """The branch workbook as an openpyxl object, and which kinds of parts the copy loses.

    dropped is None when the file could not be loaded (a fresh workbook is returned).
    """
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        wb = openpyxl.load_workbook(path, keep_vba=False, keep_links=False, rich_text=True)
    except Exception:  # noqa: BLE001 - any unreadable file: feedback lists the findings only
        wb = openpyxl.Workbook()
        return wb, None
    dropped = sorted({p for p in _DROPPED_PARTS for n in names if n.startswith(p)})
    return wb, dropped


def _annotate(wb: Any, findings: list[Finding]) -> set[int]:
    """Highlight each finding's cell and comment on it; return the indexes of findings placed."""
    placed: set[int] = set()
    by_cell: dict[tuple[str, str], list[int]] = {}
    for i, f in enumerate(findings):
        if f.sheet and f.cell and f.sheet in wb.sheetnames:
            by_cell.setdefault((f.sheet, f.cell), []).append(i)
    for (sheet, ref), idx in by_cell.items():
        try:
            cell = wb[sheet][ref]
        except (ValueError, KeyError):
            continue
        items = [findings[i] for i in idx]
        cell.fill = ERROR_FILL if any(f.is_error for f in items) else WARNING_FILL
        text = "\n".join(f"【{f.code} {'エラー' if f.is_error else '警告'}】{_body(f.message_ja)}" for f in items)
        comment = Comment(text[:2000], "kpisheet")
        comment.width, comment.height = 360, min(60 + 18 * (len(text) // 24 + len(items)), 400)
        cell.comment = comment
        placed.update(idx)
    return placed


def _style(c: Any, *, head: bool = False, wrap: bool = False, fill: PatternFill | None = None,
           bold: bool = False, number_format: str | None = None) -> None:
    c.font = Font(name=FONT, size=10, bold=head or bold, color="FFFFFF" if head else None)
    c.border = BOX
    c.alignment = Alignment(wrap_text=wrap or head, vertical="top", horizontal="center" if head else None)
    if head:
        c.fill = HEAD_FILL
    elif fill is not None:
        c.fill = fill
    if number_format:
        c.number_format = number_format


def _put(ws: Worksheet, row: int, col: int, value: Any, **style: Any) -> None:
    c = ws.cell(row=row, column=col)
    c.value = value
    if isinstance(value, str):
        c.data_type = "s"  # branch text stays text ("=1+1" is not a formula)
    _style(c, **style)


def _summary_sheet(ws: Worksheet, cons: Consolidation, sub: Submission, findings: list[Finding],
                   annotated: set[int], dropped: list[str] | None) -> None:
    name = feedback_path(cons, sub, Path(".")).name.split("_")[1]
    title = f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画KPI 確認事項（{name}・{wareki_month(cons.month)}分）"
    ws["A1"] = title
    ws["A1"].font = Font(name=FONT, size=14, bold=True)
    n_err = sum(1 for f in findings if f.is_error)
    lines = [f"提出ファイル：{Path(sub.path).name}",
             f"エラー {n_err}件 ／ 警告 {len(findings) - n_err}件。エラーの値は全国集計から除外しています。"
             "該当セルは色付け（赤：エラー、黄：警告）し、コメントで直し方を記載しています。",
             "修正は支部の元のブックに行い、再提出してください。"]
    if dropped:
        lines.append("※ 元のブックにある図・グラフ等はこの確認用の写しには含まれていません（" + "、".join(dropped) + "）。")
    if dropped is None:
        lines.append("※ 提出ファイルを開けなかったため、確認事項のみを記載しています。")
    for i, line in enumerate(lines, start=2):
        _put(ws, i, 1, line)
        ws.cell(row=i, column=1).border = Border()
    row = len(lines) + 3
    _put(ws, row, 1, "1. 指摘事項", bold=True)
    ws.cell(row=row, column=1).border = Border()
    row += 1
    for col, t in enumerate(["No", "内容（直し方）", "シート", "セル", "コード", "重要度"], 1):
        _put(ws, row, col, t, head=True)
    head_row = row
    for i, f in enumerate(findings, 1):
        row += 1
        fill = ERROR_FILL if f.is_error else WARNING_FILL
        _put(ws, row, 1, i)
        _put(ws, row, 2, _body(f.message_ja), wrap=True)
        _put(ws, row, 3, f.sheet or "")
        _put(ws, row, 4, f.cell or "")
        _put(ws, row, 5, f.code)
        _put(ws, row, 6, "エラー" if f.is_error else "警告", fill=fill)
    if not findings:
        row += 1
        _put(ws, row, 1, "指摘事項はありません。")
    row += 2
    _put(ws, row, 1, "2. 自支部の結果と全国", bold=True)
    ws.cell(row=row, column=1).border = Border()
    row += 1
    for col, t in enumerate(["KPI ID", "KPI", "目標", "自支部の値", "結果", "順位", "全国値", "全国の結果"], 1):
        _put(ws, row, col, t, head=True)
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        n = cons.national.get(kpi.id)
        row += 1
        mark = bk.rating.mark if bk else "—"
        nmark = n.rating.mark if n else "—"
        _put(ws, row, 1, kpi.id)
        _put(ws, row, 2, kpi.label, wrap=True)
        target = (kpi.target.text or "") if kpi.kind == "qualitative" else (
            kpi.format_value(bk.annual_target) if bk and bk.annual_target is not None else
            (bk.target_basis if bk else "—"))
        _put(ws, row, 3, target, wrap=True)
        value = (bk.text or "—") if kpi.kind == "qualitative" and bk else kpi.format_value(bk.value if bk else None)
        _put(ws, row, 4, value, wrap=True)
        _put(ws, row, 5, mark, fill=PatternFill("solid", fgColor=MARK_COLOURS.get(mark, "#FFFFFF")[1:]), bold=True)
        _put(ws, row, 6, bk.rank if bk and bk.rank else "")
        _put(ws, row, 7, kpi.format_value(n.value) if n and kpi.kind != "qualitative" else "—")
        _put(ws, row, 8, nmark, fill=PatternFill("solid", fgColor=MARK_COLOURS.get(nmark, "#FFFFFF")[1:]), bold=True)
    for col, width in enumerate([8, 64, 14, 14, 8, 8, 14, 10], 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = ws.cell(row=head_row + 1, column=1)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    del annotated  # every finding is listed; placed ones also carry a comment in the sheet
