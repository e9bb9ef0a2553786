"""A branch's plan feedback: its 事業計画 workbook with every finding's cell coloured and commented, and a
確認事項 sheet first that lists what to fix and the targets as HQ read them.

The copy is made the way the monthly feedback makes it (kpisheet.write.feedback): the branch's zip
patched, else loaded and saved by openpyxl, else a workbook with the 確認事項 sheet alone that says why
(and straight away for a file that could not be read at all).  Findings are folded into items as
there (kpisheet.write.feedback.items: every finding on one cell is one item) and the sheet's cells
are of kpisheet.write.feedback.summary's kind, in widths of its own.  Nothing about the branch's file
makes write_plan_feedback raise; only an OSError writing the output does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpisheet.domain.catalogue import Catalogue, Kpi, branch, catalogue_for_fy
from kpisheet.domain.display import format_figure, format_value
from kpisheet.domain.findings import Finding, KpisheetError
from kpisheet.domain.fiscal import wareki_fiscal_year
from kpisheet.domain.plan import PlanKpi, PlanSubmission
from kpisheet.fileio import atomic_path
from kpisheet.write.feedback.build import copy_with_fallbacks
from kpisheet.write.feedback.fallback import openpyxl_with_summary
from kpisheet.write.feedback.items import Item, fold, highlights
from kpisheet.write.feedback.patch import patch_with_summary
from kpisheet.write.feedback.summary import Cell, _clean, column_widths, outcome_ja

# No, 内容（直し方）, シート, セル, コード, 重要度 — the targets table below uses the same columns as
# KPI ID, KPI, 年間目標, 前年度（見込み）, 対象者数, 見込者数.  Their sum prints on A4 landscape at about 96%.
WIDTHS: list[float] = [8.5, 46, 13, 19, 11, 10]
FINDING_COLUMNS = ["No", "内容（直し方）", "シート", "セル", "コード", "重要度"]
TARGET_COLUMNS = ["KPI ID", "KPI（目標の考え方）", "年間目標", "前年度（見込み）", "対象者数", "見込者数"]
ERROR_MEANS_JA = "直して再提出してください。"
WARNING_MEANS_JA = "確認してください。正しければ対応は不要です（前年度を下回る目標などは目標の考え方を記入してください）。"


def _branch_name(plan: PlanSubmission) -> str:
    try:
        return branch(plan.branch_code or "").display_name
    except KeyError:
        return _clean(plan.branch_name or "支部不明")


def _catalogue(plan: PlanSubmission) -> Catalogue | None:
    try:
        return catalogue_for_fy(plan.fiscal_year) if plan.fiscal_year is not None else None
    except KpisheetError:
        return None


def target_ja(kpi: Kpi | None, pk: PlanKpi) -> str:
    """「61.0%以上」「対前年度以上」, the text target, or 「未設定」."""
    cmp = "以下" if kpi is not None and kpi.direction == "<=" else "以上"
    if pk.kind == "previous_year":
        return f"対前年度{cmp}"
    value = pk.target.value
    if value is None or (isinstance(value, str) and not value.strip()):
        return "未設定"
    if pk.kind == "value" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return (format_value(kpi, value) if kpi is not None else format_figure(value)) + cmp
    return str(value)


def _figure(kpi: Kpi | None, value: Any, *, people: bool = False) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if people:
            return f"{format_figure(value)}人"
        return format_value(kpi, value) if kpi is not None else format_figure(value)
    return str(value)


def plan_summary_cells(plan: PlanSubmission, findings: list[Finding],
                       notes: list[str] | tuple[str, ...] = ()) -> tuple[list[Cell], int, list[float]]:
    """The 確認事項 sheet of a plan's feedback: (cells, the row frozen under, column widths)."""
    catalogue = _catalogue(plan)
    last = len(WIDTHS)
    cells: list[Cell] = [(1, 1, f"{wareki_fiscal_year(plan.fiscal_year or 0)} 事業計画 確認事項（{_branch_name(plan)}）"
                          if plan.fiscal_year else f"事業計画 確認事項（{_branch_name(plan)}）", "title")]
    items = fold(findings, catalogue)
    lines = [f"提出ファイル：{Path(plan.path).name}", outcome_ja(items), *notes]
    cells += [(2 + i, 1, line, ("wide", last, "plain_wrap")) for i, line in enumerate(lines)]
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
    freeze = next(r for r, _c, _v, s in cells if s == "head") + 1 if items else row + 1
    row += 2
    cells.append((row, 1, "2. 読み取った年間目標", "bold"))
    row += 1
    cells += [(row, c, t, "head") for c, t in enumerate(TARGET_COLUMNS, 1)]
    for pk in plan.kpis.values():
        kpi = catalogue.kpi(pk.kpi_id) if catalogue is not None and catalogue.has_kpi(pk.kpi_id) else None
        row += 1
        label = kpi.label if kpi is not None else ""
        reason = pk.reason.value if isinstance(pk.reason.value, str) and pk.reason.value.strip() else ""
        expected = _figure(kpi, pk.expected.value)
        status = pk.expected_status.value if isinstance(pk.expected_status.value, str) else ""
        cells += [(row, 1, pk.kpi_id, "text"), (row, 2, label + (f"\n（考え方）{reason}" if reason else ""), "text"),
                  (row, 3, target_ja(kpi, pk), "text"),
                  (row, 4, expected + (f"（{status}）" if expected and status else ""), "text"),
                  (row, 5, _figure(kpi, pk.population.value, people=True), "text"),
                  (row, 6, _figure(kpi, pk.planned.value, people=True), "text")]
    out = [(r, c, _clean(v) if isinstance(v, str) else v, s) for r, c, v, s in cells]
    return out, freeze, column_widths(out, WIDTHS)


def _item_cells(row: int, no: int, item: Item) -> list[Cell]:
    severity = "error" if item.is_error else "warning"
    return [(row, 1, no, "centre"), (row, 2, item.text_ja, "text"), (row, 3, item.finding.sheet or "", "text"),
            (row, 4, item.cells_ja, "text"), (row, 5, item.codes, "text"),
            (row, 6, "エラー" if item.is_error else "警告", severity)]


def plan_feedback_bytes(plan: PlanSubmission, findings: list[Finding]) -> bytes:
    """The feedback workbook as bytes: the plan workbook patched, else copied by openpyxl, else the
    確認事項 sheet alone (kpisheet.write.feedback.build.copy_with_fallbacks)."""
    marks = highlights(findings, _catalogue(plan))
    footer = f"{_branch_name(plan)} 事業計画 確認事項"

    def summary(notes: list[str]) -> tuple[list[Cell], int, list[float]]:
        return plan_summary_cells(plan, findings, notes)

    return copy_with_fallbacks(plan.path, findings, lambda data: patch_with_summary(data, marks, summary, footer),
                               lambda data: openpyxl_with_summary(data, marks, summary, footer),
                               lambda notes: openpyxl_with_summary(None, marks, summary, footer, notes))


def write_plan_feedback(plan: PlanSubmission, findings: list[Finding], out_path: Path, *,
                        force: bool = True) -> Path:
    """Write one branch's plan feedback workbook to out_path atomically; return the path."""
    data = plan_feedback_bytes(plan, findings)
    with atomic_path(Path(out_path), force=force) as tmp:
        tmp.write_bytes(data)
    return Path(out_path)
