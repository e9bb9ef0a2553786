"""The lists workbook HQ filters on screen: `全支部_評価一覧_FY2024_2024-10.xlsx`.

評価一覧 (every branch's KPI rows), 取組状況 (every activity a branch reported, with its
self-rating), 課題, 施策別の結果 (◎○△×— counts per measure across branches) and 前年度実績と目標.
One Excel table per sheet with filters, the pillar named on every row, wrapped text in rows
tall enough to show it, headings repeated on every printed page.  These lists run to thousands
of rows, so they live apart from the national workbook, which is for reading and printing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xlsxwriter.workbook import Workbook

from kpisheet import __version__, xlsx_write
from kpisheet.consolidate.model import BranchKpi, Consolidation, MeasureRating
from kpisheet.domain.catalogue import HQ_CODE, Kpi
from kpisheet.domain.ratings import MARKS
from kpisheet.fileio import atomic_path
from kpisheet.write.report.layout import (
    Column,
    Sheet,
    Styles,
    mark_format,
    number_format,
    print_setup,
    workbook_options,
)
from kpisheet.write.report.texts import (
    LEGEND_JA,
    PROGRESS_FORMAT,
    RULE_JA,
    branch_names,
    circled,
    kpi_result_text,
    num_format,
    pillar_ja,
    short_name,
    source_ja,
    stored,
    target_text,
    term_goal_head,
    term_goal_ja,
    title_ja,
)

SHEETS = ("評価一覧", "取組状況", "課題", "施策別の結果", "前年度実績と目標")


def lists_name(fiscal_year: int, month_key: str) -> str:
    return f"全支部_評価一覧_FY{fiscal_year}_{month_key}.xlsx"


# ---------------------------------------------------------------- 評価一覧
def ratings_columns(cons: Consolidation) -> list[Column]:
    names = branch_names()
    term = cons.catalogue.term

    def kpi(b: BranchKpi) -> Kpi:
        return cons.catalogue.kpi(b.kpi_id)

    # 136 characters in all: one A4 landscape page wide at about 84% (10 pt prints at 8.4 pt); long texts wrap
    return [Column("支部コード", 5, lambda b: b.branch_code, "centre"),
            Column("支部", 7, lambda b: short_name(names, b.branch_code)),
            Column("柱", 9, lambda b: pillar_ja(cons, kpi(b).measure_id), "wrap"),
            Column("具体的な施策", 13, lambda b: cons.catalogue.measure(kpi(b).measure_id).heading, "wrap"),
            Column("KPI ID", 8, lambda b: b.kpi_id),
            Column("事業内容（KPI）", 18, lambda b: kpi(b).label, "wrap"),
            Column("KPI目標", 11, lambda b: target_text(kpi(b), b.annual_target, b.target_basis), "wrap"),
            Column("KPI結果", 13, lambda b: kpi_result_text(kpi(b), b), "wrap"),
            Column("結果", 5, lambda b: b.rating.mark, mark_format(lambda b: b.rating.mark)),
            Column("順位", 6, lambda b: b.rank,
                   lambda st, b: st.fmt(f'0"/{b.rank_of}"' if b.rank_of else "0", None, align="center")),
            Column("進捗（参考）", 7, lambda b: b.progress, number_format(lambda b: PROGRESS_FORMAT)),
            Column("目標の設定", 9, lambda b: "" if kpi(b).kind == "qualitative" else source_ja(b.target_source, term),
                   "wrap"),
            Column(term_goal_head(cons), 9, lambda b: "" if kpi(b).kind == "qualitative" else term_goal_ja(kpi(b)),
                   "wrap"),
            Column("判定の根拠", 16, lambda b: b.rating.basis_ja, "wrap")]


def branch_order(code: str) -> tuple[bool, str]:
    """Branches in code order, 本部 after them (its rows are the national-only KPIs and measures)."""
    return code == HQ_CODE, code


def ratings_rows(cons: Consolidation) -> list[BranchKpi]:
    order = {k.id: i for i, k in enumerate(cons.kpis)}
    return sorted(cons.branch_kpis.values(), key=lambda b: (branch_order(b.branch_code), order[b.kpi_id]))


# ---------------------------------------------------------------- 取組状況 · 課題 · 施策別の結果
def activity_columns(cons: Consolidation) -> list[Column]:
    names = branch_names()

    def heading(r: MeasureRating) -> str:
        return cons.catalogue.measure(r.measure_id).heading

    # 125 characters in all: one A4 landscape page wide at about 93%
    return [Column("支部コード", 5, lambda r: r.branch_code, "centre"),
            Column("支部", 7, lambda r: short_name(names, r.branch_code)),
            Column("柱", 12, lambda r: pillar_ja(cons, r.measure_id), "wrap"),
            Column("具体的な施策", 20, heading, "wrap"),
            Column("No", 4, lambda r: circled(r.n), "centre"),
            Column("事業内容", 42, lambda r: r.text, "wrap"),
            Column("結果", 5, lambda r: r.rating or "—", mark_format(lambda r: r.rating or "—")),
            Column("備考", 30, lambda r: r.note, "wrap")]


def activity_rows(cons: Consolidation) -> list[MeasureRating]:
    order = {m.id: i for i, m in enumerate(cons.catalogue.measures)}
    return sorted(cons.measure_ratings, key=lambda r: (branch_order(r.branch_code), order[r.measure_id], r.n))


def issue_columns(cons: Consolidation) -> list[Column]:
    names = branch_names()
    return [Column("支部コード", 6, lambda t: t[0], "centre"), Column("支部", 8, lambda t: short_name(names, t[0])),
            Column("柱", 16, lambda t: pillar_ja(cons, t[1]), "wrap"),
            Column("具体的な施策", 26, lambda t: cons.catalogue.measure(t[1]).heading, "wrap"),
            Column("課題", 70, lambda t: t[2], "wrap")]


def measure_counts(cons: Consolidation) -> list[tuple[str, dict[str, int]]]:
    """(measure id, {mark: activities}) over every branch, in catalogue order; measures with activities only."""
    counts: dict[str, dict[str, int]] = {}
    for r in cons.measure_ratings:
        counts.setdefault(r.measure_id, {m: 0 for m in MARKS})[r.rating or "—"] += 1
    return [(m.id, counts[m.id]) for m in cons.catalogue.measures if m.id in counts]


def _count_column(mark: str) -> Column:
    """How many results of a measure have `mark`."""
    return Column(mark, 6, lambda t: t[1][mark],
                  lambda st, t: st.fmt("#,##0", mark if t[1][mark] else None, align="center"))


def count_columns(cons: Consolidation) -> list[Column]:
    cols = [Column("柱", 16, lambda t: pillar_ja(cons, t[0]), "wrap"),
            Column("具体的な施策", 34, lambda t: cons.catalogue.measure(t[0]).heading, "wrap")]
    cols += [_count_column(m) for m in MARKS]
    return cols + [Column("計", 7, lambda t: sum(t[1].values()), "int")]


# ---------------------------------------------------------------- 前年度実績と目標
def baseline_columns(cons: Consolidation) -> list[Column]:
    names = branch_names()
    term = cons.catalogue.term

    def kpi(b: BranchKpi) -> Kpi:
        return cons.catalogue.kpi(b.kpi_id)

    def nf(b: BranchKpi) -> str:
        return num_format(kpi(b))

    return [Column("支部コード", 6, lambda b: b.branch_code, "centre"),
            Column("支部", 8, lambda b: short_name(names, b.branch_code)),
            Column("KPI ID", 8, lambda b: b.kpi_id), Column("KPI", 24, lambda b: kpi(b).short_label, "wrap"),
            Column("前年度実績", 11, lambda b: stored(kpi(b), b.baseline), number_format(nf)),
            Column("前年度実績の出典", 14, lambda b: b.baseline_source),
            Column("年間目標", 11, lambda b: stored(kpi(b), b.annual_target), number_format(nf)),
            Column("目標の設定", 18, lambda b: source_ja(b.target_source, term), "wrap"),
            Column("実績", 11, lambda b: stored(kpi(b), b.value), number_format(nf)),
            Column("結果", 5, lambda b: b.rating.mark, mark_format(lambda b: b.rating.mark))]


# ---------------------------------------------------------------- writing
def _list_sheet(wb: Workbook, st: Styles, cons: Consolidation, name: str, note: str, columns: list[Column],
                rows: list[Any], freeze_cols: int = 2) -> None:
    sheet = Sheet(wb, st, name, title_ja(cons, name))
    sheet.note(note, across=columns)
    head, _ = sheet.table(columns, rows, name=name)
    sheet.ws.freeze_panes(head + 1, freeze_cols)
    print_setup(sheet.ws, name, repeat=(head, head))


def build_lists(cons: Consolidation, path: Path, created: datetime) -> None:
    wb = xlsx_write.Workbook(str(path), workbook_options())
    wb.set_properties({"title": title_ja(cons, "全支部の評価一覧"), "author": "kpisheet",
                       "company": "全国健康保険協会", "created": created, "comments": f"kpisheet {__version__}"})
    st = Styles(wb)
    _list_sheet(wb, st, cons, "評価一覧", LEGEND_JA + "　KPIの結果は自動判定です。" + RULE_JA,
                ratings_columns(cons), ratings_rows(cons))
    _list_sheet(wb, st, cons, "取組状況", LEGEND_JA + "　事業内容と結果は支部の記入（自己評価）です。",
                activity_columns(cons), activity_rows(cons))
    _list_sheet(wb, st, cons, "課題", "支部が施策ごとに記入した課題です。",
                issue_columns(cons), sorted(cons.issues, key=lambda t: (branch_order(t[0]), _measure_order(cons)[t[1]])))
    _list_sheet(wb, st, cons, "施策別の結果", "施策ごとの事業内容の結果（支部の自己評価）の件数。全支部の合計です。",
                count_columns(cons), measure_counts(cons), freeze_cols=0)
    _list_sheet(wb, st, cons, "前年度実績と目標", "前年度実績と、その出典（支部のブック、または本部が渡した前年度実績のファイル）、年間目標の設定。",
                baseline_columns(cons), [b for b in ratings_rows(cons) if b.baseline is not None])
    wb.close()


def _measure_order(cons: Consolidation) -> dict[str, int]:
    return {m.id: i for i, m in enumerate(cons.catalogue.measures)}


def write_lists(cons: Consolidation, path: Path, *, force: bool, created: datetime | None = None) -> Path:
    """Write the lists workbook atomically; an existing file is replaced only with force."""
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    with atomic_path(Path(path), force=force) as tmp:
        build_lists(cons, tmp, created)
    return Path(path)
