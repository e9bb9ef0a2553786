"""Stage 7 — the national workbook (xlsxwriter): 9 Japanese sheets for HQ planners.

概要 · 提出状況 · 全国KPI · 支部別KPI · 評価一覧 · 取組状況 · 月次推移 · 第5期→第6期対応表 · 検証結果 · 修正履歴

Every branch text is written with write_string on a workbook opened with
strings_to_formulas/strings_to_urls False, so "=1+1", "+81", "@x" and URLs stay
text.  The same Consolidation gives the same cells; only 概要 carries the
run's time, which is also the document's `created` property (pass `created`
for byte-identical output).  Percent KPIs are stored as real fractions with a
percent number format, so they sort, filter and chart as numbers.

Every result names the month its data reach: as text 「42.6%（R6.1現在）」 (評価一覧's
KPI結果, as seed 003 writes it), beside numbers as a 「データ時点」/「時点」 column ('R6.1').
Marks are the latest result against the annual target (RULE_JA); 進捗 is a separate
「進捗（参考）」 percent, only for KPIs that grow through the year.  Wherever a target is
shown, where it came from (目標の設定) and the term goal (第6期末目標（参考）) are shown too.
K6-2-08's national figure is the branches that met their own condition (「39/44支部」),
the pooled rate only beside it as 参考.

From the submission ledger (kpisheet.ledger): 全国KPI and 支部別KPI show each result beside the
same month of the previous fiscal year (前年同月, 前年差; no comparison where the term change
altered the KPI, with the reason), and 修正履歴 lists the month's revisions, 締め後 where the month
had been closed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from . import __version__
from .catalogue import Kpi, load_branches
from .consolidation import (NATIONAL_CODE, STATUS_ERRORS, STATUS_MISSING, STATUS_OK, STATUS_UNREADABLE, BranchKpi,
                            Consolidation, MonthValue, NationalKpi, YearOnYear)
from .fileio import atomic_path
from .fiscal import fiscal_months, month_key, month_label, parse_month, wareki_fiscal_year, wareki_month
from .ratings import MARK_LABELS_JA, MARKS, TARGET_SOURCES, as_of_ja, with_month

FONT = "游ゴシック"
SHEETS = ("概要", "提出状況", "全国KPI", "支部別KPI", "評価一覧", "取組状況", "月次推移", "第5期→第6期対応表",
          "検証結果", "修正履歴")
MARK_COLOURS = {"◎": "#C6EFCE", "○": "#DDEBF7", "△": "#FFC7CE", "×": "#F4B084", "—": "#EDEDED"}
HEAD_BG = "#1F4E78"
# how a mark is decided, said wherever marks are shown (issue 9: nothing is pro-rated)
RULE_JA = "評価は、データが届いている最新月の実績を年間目標と比べて行います（按分しません）。進捗は参考値です。"
PROGRESS_JA = ("進捗（参考）＝実績÷（年間目標×データの月数÷12）。100%で年間目標のペース。"
               "年度の中で積み上がる指標（受診率・実施率・アクセス数）だけに示します。")
PROGRESS_FORMAT = "0%"


def workbook_options() -> dict[str, Any]:
    """Options every kpisheet xlsxwriter workbook uses (branch text stays text)."""
    return {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
            "default_format_properties": {"font_name": FONT, "font_size": 10}}


class Styles:
    """Formats of one workbook, created once and cached by key."""

    def __init__(self, wb: Workbook):
        self.wb = wb
        self._cache: dict[tuple[Any, ...], Any] = {}
        base = {"font_name": FONT, "font_size": 10, "valign": "top"}
        self.base = base
        self.title = wb.add_format({**base, "bold": True, "font_size": 14})
        self.subtitle = wb.add_format({**base, "bold": True, "font_size": 11, "font_color": HEAD_BG})
        self.head = wb.add_format({**base, "bold": True, "font_color": "#FFFFFF", "bg_color": HEAD_BG,
                                   "border": 1, "text_wrap": True, "valign": "vcenter", "align": "center"})
        self.text = wb.add_format({**base, "border": 1})
        self.wrap = wb.add_format({**base, "border": 1, "text_wrap": True})
        self.label = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "border": 1})
        self.note = wb.add_format({**base, "font_color": "#595959"})
        self.int = wb.add_format({**base, "border": 1, "num_format": "#,##0"})
        self.pct = wb.add_format({**base, "border": 1, "num_format": "0.0%"})

    def fmt(self, num_format: str | None = None, mark: str | None = None, **extra: Any) -> Any:
        key = (num_format, mark, tuple(sorted(extra.items())))
        if key not in self._cache:
            props = {**self.base, "border": 1, **extra}
            if num_format:
                props["num_format"] = num_format
            if mark in MARK_COLOURS:
                props["bg_color"] = MARK_COLOURS[mark]
            self._cache[key] = self.wb.add_format(props)
        return self._cache[key]

    def mark(self, mark: str) -> Any:
        return self.fmt(None, mark, align="center", bold=True)


def num_format(kpi: Kpi) -> str:
    if kpi.display == "percent":
        return "0." + "0" * kpi.decimals + "%" if kpi.decimals else "0%"
    if kpi.display == "yen":
        return '#,##0"円"'
    return "#,##0"


def stored(kpi: Kpi, value: float | None) -> float | None:
    """A display value as the number stored in the cell (percent points → fraction)."""
    if value is None:
        return None
    return value / 100 if kpi.display == "percent" else value


def annual_target_cell(kpi: Kpi, national: NationalKpi) -> float | str | None:
    """The national annual target as stored in a cell, or its basis text when there is none."""
    if national.branches_met is not None:
        return "全支部"
    if national.annual_target is None:
        return national.target_basis
    return stored(kpi, national.annual_target)


# ---------------------------------------------------------------- data months, targets, 進捗
def data_month_ja(key: str | None) -> str:
    """'R6.1' — the month a result's data reach, for a 「データ時点」 column ('' when no data)."""
    return as_of_ja(parse_month(key)).removesuffix("現在") if key else ""


def result_ja(kpi: Kpi, value: float | None, key: str | None) -> str:
    """「42.6%（R6.1現在）」: a result as text always names the month of its data."""
    return with_month(kpi, value, parse_month(key) if key else None)


def term_goal_head(cons: Consolidation) -> str:
    return f"第{cons.catalogue.term}期末目標（参考）"


def term_goal_ja(kpi: Kpi) -> str:
    """「64.8%以上」「対前年度以上」: the plan term's goal, shown beside a target as reference."""
    return kpi.term_goal.describe_ja(kpi)


def source_ja(key: str | None, term: int) -> str:
    """Where a target came from: 「支部が入力した目標」「第6期末目標（年度目標の指定なし）」 …"""
    if not key or key not in TARGET_SOURCES:
        return ""
    name = TARGET_SOURCES[key][0]
    return f"第{term}{name}" if key == "term_goal" else name


def national_value(kpi: Kpi, national: NationalKpi) -> float | str | None:
    """The national figure as stored in a cell: a number, or 「39/44支部」 where the nation is
    judged by the branches that met their own condition (K6-2-08)."""
    if national.branches_met is not None:
        met, reporting = national.branches_met
        return f"{met}/{reporting}支部"
    return stored(kpi, national.value)


def pooled_note(kpi: Kpi, national: NationalKpi) -> str:
    """「参考：全国のジェネリック使用割合 81.2%（R6.10現在）」 beside a 39/44支部 figure; '' otherwise."""
    if national.branches_met is None or national.value is None:
        return ""
    return (f"参考：全国の{kpi.short_label} {result_ja(kpi, national.value, national.data_month)}"
            f"（{len(national.covered)}支部の分子・分母の合計から算出）")


# ---------------------------------------------------------------- 前年同月比
def change_format(kpi: Kpi) -> str:
    """Number format of a difference from last year: points for percent KPIs, yen, counts."""
    if kpi.display == "percent":
        d = "0." + "0" * kpi.decimals if kpi.decimals else "0"
        return f'+{d}"pt";-{d}"pt";{d}"pt"'
    if kpi.display == "yen":
        return '+#,##0"円";-#,##0"円";0"円"'
    return "+#,##0;-#,##0;0"


def change_ja(kpi: Kpi, change: float | None) -> str:
    """「+1.4ポイント」「-120円」「+35」: a difference from last year as text."""
    if change is None:
        return ""
    digits = kpi.decimals if kpi.display == "percent" else 0
    text = f"{abs(change):,.{digits}f}"
    sign = "+" if change > 0 and text.strip("0.,") else "-" if change < 0 and text.strip("0.,") else "±"
    unit = "ポイント" if kpi.display == "percent" else "円" if kpi.display == "yen" else ""
    return f"{sign}{text}{unit}"


def year_on_year_note(yoy: YearOnYear) -> str:
    """「R5.8と比較」, or why there is no comparison."""
    if yoy.previous is not None:
        return f"{data_month_ja(yoy.previous_month)}と比較"
    return yoy.reason_ja


def no_comparison_note(cons: Consolidation) -> str:
    """The KPIs without 前年同月比 and why, for a sheet's foot ('' when every KPI compares)."""
    if cons.previous_year is None:
        return "※ 前年同月：台帳を使わずに集計したため表示していません。"
    items = [f"{k}（{ja}）" for k, (ja, _en) in cons.no_comparison.items() if cons.catalogue.kpi(k).kind != "qualitative"]
    head = "※ 前年同月はデータ時点と同じ月の前年度の実績（台帳の記録）。前年差は今年度の実績－前年同月の実績（％の指標はポイント）。"
    return head + (f"比較しないKPI：{'、'.join(items)}" if items else "")


# column widths and wrapped-text line counts per worksheet, to set row heights
# (xlsxwriter cannot autofit, and LibreOffice does not grow rows of xlsx files)
_WIDTHS: dict[tuple[int, int], float] = {}
_LINES: dict[int, dict[int, int]] = {}
LINE_HEIGHT = 13.5


def display_width(text: str) -> int:
    """Width in half-width characters: CJK (3 UTF-8 bytes) counts 2, ASCII 1."""
    return len(text) + (len(text.encode("utf-8")) - len(text)) // 2


@lru_cache(maxsize=65536)
def text_lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column of `width` characters (at most 15)."""
    chars = int(max(width - 1, 1))
    return min(15, sum(max(1, -(-display_width(line) // chars)) for line in text.split("\n")))


def set_width(ws: Worksheet, first: int, last: int, width: float) -> None:
    ws.set_column(first, last, width)
    for c in range(first, last + 1):
        _WIDTHS[(id(ws), c)] = width


def _track_lines(ws: Worksheet, row: int, col: int, text: str) -> None:
    lines = text_lines(text, _WIDTHS.get((id(ws), col), 8.43))
    if lines > 1:
        rows = _LINES.setdefault(id(ws), {})
        rows[row] = max(rows.get(row, 1), lines)


def fit_rows(ws: Worksheet) -> None:
    """Give rows with wrapped text the height of their longest cell."""
    for row, lines in sorted(_LINES.pop(id(ws), {}).items()):
        if lines > 1:
            ws.set_row(row, LINE_HEIGHT * lines)


def put(ws: Worksheet, row: int, col: int, value: Any, fmt: Any = None) -> None:
    """Write one cell: text always as a string (never a formula or link), numbers as numbers.

    Called for every one of the ~95,000 cells, so the common cases come first.
    """
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, str):
        if fmt is not None and fmt.text_wrap:
            _track_lines(ws, row, col, value)
        ws.write_string(row, col, value, fmt)
    elif isinstance(value, bool):
        ws.write_string(row, col, "はい" if value else "いいえ", fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    else:
        text = str(value)
        if text and fmt is not None and fmt.text_wrap:
            _track_lines(ws, row, col, text)
        ws.write_string(row, col, text, fmt)


def header(ws: Worksheet, row: int, st: Styles, columns: list[tuple[str, float]], first_col: int = 0) -> None:
    for i, (title, width) in enumerate(columns):
        ws.write_string(row, first_col + i, title, st.head)
        set_width(ws, first_col + i, first_col + i, width)
    ws.set_row(row, 30)


def print_setup(ws: Worksheet, repeat_row: int | None, title: str) -> None:
    fit_rows(ws)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    if repeat_row is not None:
        ws.repeat_rows(0, repeat_row)
    ws.set_header(f"&L&\"{FONT}\"&9{title}")
    ws.set_footer(f"&C&\"{FONT}\"&9&P / &N ページ")


def branch_names() -> dict[str, str]:
    return {b.code: b.display_name for b in load_branches()}


def _title(cons: Consolidation, what: str) -> str:
    return f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画KPI {what}（{wareki_month(cons.month)}分）"


# ---------------------------------------------------------------- 概要
OVERVIEW_COLUMNS = [("KPI ID", 9), ("KPI", 40), ("全国の実績", 12), ("データ時点", 8), ("年間目標", 12), ("評価", 6),
                    ("進捗（参考）", 10), ("{term}期末目標（参考）", 17), ("集計支部数", 8), ("判定の根拠", 62)]


def sheet_overview(wb: Workbook, st: Styles, cons: Consolidation, created: datetime) -> None:
    ws = wb.add_worksheet("概要")
    last = len(OVERVIEW_COLUMNS) - 1
    ws.write_string(0, 0, _title(cons, "全国集計表"), st.title)
    summary = cons.summary()
    b = summary["branches"]
    facts = [("年度", f"{wareki_fiscal_year(cons.fiscal_year)}（FY{cons.fiscal_year}）"),
             ("集計月", f"{wareki_month(cons.month)}（{cons.month_key}）。各KPIの結果は、データが届いている最新月の"
                     f"実績です（データ時点「{data_month_ja(cons.month_key)}」は{wareki_month(cons.month)}分までのデータ）"),
             ("評価の方法", RULE_JA),
             ("提出状況", f"{STATUS_OK} {b['submitted']} ／ {STATUS_ERRORS} {b['with_errors']} ／ "
                      f"{STATUS_UNREADABLE} {b['unreadable']} ／ {STATUS_MISSING} {b['missing']}"),
             ("検証結果", f"エラー {summary['findings']['errors']}件 ／ 警告 {summary['findings']['warnings']}件"
                       "（「検証結果」シート）"),
             ("作成日時", created.astimezone().strftime("%Y-%m-%d %H:%M:%S %z")),
             ("作成ツール", f"kpisheet {__version__}（KPI一覧 第{cons.catalogue.term}期 "
                        f"{cons.catalogue.short_digest}）")]
    columns = [(t.format(term=f"第{cons.catalogue.term}"), w) for t, w in OVERVIEW_COLUMNS]
    for i, (k, v) in enumerate(facts, start=2):
        ws.write_string(i, 0, k, st.label)
        ws.merge_range(i, 1, i, 9, v, st.text)
    row = 2 + len(facts) + 1
    ws.write_string(row, 0, "全国KPI", st.subtitle)
    legend = "結果：" + "・".join(f"「{m}{MARK_LABELS_JA[m]}」" for m in MARKS)
    ws.write_string(row, 1, legend, st.note)
    row += 1
    header(ws, row, st, columns)
    head_row = row
    for kpi in cons.kpis:
        n = cons.national[kpi.id]
        row += 1
        nf = num_format(kpi)
        basis = "\n".join(t for t in (n.rating.basis_ja, pooled_note(kpi, n)) if t)
        for col, (value, fmt) in enumerate([
                (kpi.id, st.text), (kpi.label, st.wrap), (national_value(kpi, n), st.fmt(nf, align="right")),
                (data_month_ja(n.data_month), st.fmt(None, align="center")), (annual_target_cell(kpi, n), st.fmt(nf)),
                (n.rating.mark, st.mark(n.rating.mark)), (n.progress, st.fmt(PROGRESS_FORMAT)),
                (term_goal_ja(kpi), st.wrap), (len(n.covered), st.int), (basis, st.wrap)]):
            put(ws, row, col, value, fmt)
    row += 1
    ws.write_string(row, 0, PROGRESS_JA, st.note)
    row += 2
    ws.write_string(row, 0, "入力ファイル（sha256）", st.subtitle)
    row += 1
    header(ws, row, st, [("No", 9), ("ファイル", 40)], 0)
    ws.merge_range(row, 2, row, last, "sha256", st.head)
    for i, (file, digest) in enumerate(cons.inputs, 1):
        row += 1
        put(ws, row, 0, i, st.int)
        put(ws, row, 1, Path(file).name, st.text)
        ws.merge_range(row, 2, row, last, "", st.text)
        put(ws, row, 2, digest, st.text)
    ws.freeze_panes(head_row + 1, 2)
    print_setup(ws, None, "概要")


def month_label_of(key: str | None) -> str:
    if not key:
        return "—"
    y, m = key.split("-")
    return f"{int(m)}月"


# ---------------------------------------------------------------- 提出状況
def sheet_status(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("提出状況")
    ws.write_string(0, 0, _title(cons, "提出状況"), st.title)
    cols = [("支部コード", 8), ("支部", 12), ("状況", 17), ("ファイル", 36), ("sha256", 20), ("ブックの保存日時", 19),
            ("保存したアプリ", 16), ("エラー", 7), ("警告", 7), ("入力率", 8), ("集計から除外した値", 60),
            ("記入者", 14), ("連絡先", 24)]
    used = {s.branch_code: s for s in cons.submissions if s.branch_code and cons.used.get(s.branch_code) == s.path}
    header(ws, 2, st, cols)
    status_fmt = {STATUS_OK: st.mark("○"), STATUS_ERRORS: st.mark("△"), STATUS_UNREADABLE: st.mark("×"),
                  STATUS_MISSING: st.mark("—")}
    row = 2
    for s in cons.statuses:
        row += 1
        put(ws, row, 0, s.code, st.text)
        put(ws, row, 1, s.name, st.text)
        put(ws, row, 2, s.status, status_fmt[s.status])
        put(ws, row, 3, "\n".join(Path(f).name for f in s.files), st.wrap)
        put(ws, row, 4, "\n".join(h[:16] for h in s.sha256), st.wrap)
        put(ws, row, 5, s.saved_at, st.text)
        put(ws, row, 6, s.saved_by, st.text)
        put(ws, row, 7, s.errors if s.files else None, st.int)
        put(ws, row, 8, s.warnings if s.files else None, st.int)
        put(ws, row, 9, s.completeness, st.pct)
        put(ws, row, 10, "\n".join(s.left_out), st.wrap)
        sub = used.get(s.code)
        put(ws, row, 11, sub.preparer if sub else None, st.text)  # branch text: written as text
        put(ws, row, 12, sub.contact if sub else None, st.text)
    ws.autofilter(2, 0, row, len(cols) - 1)
    if cons.unattributed:
        row += 2
        ws.write_string(row, 0, "支部を特定できなかったファイル（内容は「検証結果」シート）", st.subtitle)
        for file, n in cons.unattributed:
            row += 1
            put(ws, row, 3, Path(file).name, st.text)
            put(ws, row, 7, n, st.int)
    ws.freeze_panes(3, 2)
    print_setup(ws, 2, "提出状況")


# ---------------------------------------------------------------- 全国KPI
def sheet_national(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("全国KPI")
    names = branch_names()
    ws.write_string(0, 0, _title(cons, "全国KPI"), st.title)
    ws.write_string(1, 0, "全国の実績は支部の分子の合計÷分母の合計（件数は合計）。支部の率の平均ではありません。"
                    "全国の実績のデータ時点は、報告のあった支部の半数以上にデータが届いている最新月です。", st.note)
    ws.write_string(2, 0, f"{RULE_JA}{PROGRESS_JA}", st.note)
    cols = [("KPI ID", 10), ("具体的な施策", 24), ("KPI", 36), ("分子（合計）", 16), ("分母（合計）", 16),
            ("全国の実績", 12), ("データ時点", 8), ("年間目標", 12), ("目標の設定", 18), (term_goal_head(cons), 17),
            ("評価", 6), ("進捗（参考）", 10), ("前年同月", 12), ("前年差", 10), ("前年同月比の注記", 24),
            ("判定の根拠", 50), ("集計支部数", 8), ("集計した支部", 40), ("集計から外れた支部（理由）", 50)]
    header(ws, 3, st, cols)
    row = 3
    for kpi in cons.kpis:
        n = cons.national[kpi.id]
        nf = num_format(kpi)
        row += 1
        basis = "\n".join(t for t in (n.rating.basis_ja, pooled_note(kpi, n)) if t)
        yoy = cons.year_on_year(NATIONAL_CODE, kpi.id)
        for col, (value, fmt) in enumerate([
                (kpi.id, st.text), (cons.catalogue.measure(kpi.measure_id).heading, st.wrap), (kpi.label, st.wrap),
                (n.numerator, st.int), (n.denominator, st.int), (national_value(kpi, n), st.fmt(nf, align="right")),
                (data_month_ja(n.data_month), st.fmt(None, align="center")), (annual_target_cell(kpi, n), st.fmt(nf)),
                (_national_source(cons, kpi, n), st.wrap), (term_goal_ja(kpi), st.wrap),
                (n.rating.mark, st.mark(n.rating.mark)), (n.progress, st.fmt(PROGRESS_FORMAT)),
                (stored(kpi, yoy.previous), st.fmt(nf)), (yoy.change, st.fmt(change_format(kpi))),
                (year_on_year_note(yoy), st.wrap), (basis, st.wrap), (len(n.covered), st.int), ("、".join(names[c].removesuffix("支部") for c in n.covered), st.wrap),
                ("、".join(f"{names[c].removesuffix('支部')}（{r}）" for c, r in n.left_out), st.wrap)]):
            put(ws, row, col, value, fmt)
    ws.autofilter(3, 0, row, len(cols) - 1)
    ws.write_string(row + 2, 0, no_comparison_note(cons), st.note)
    ws.freeze_panes(4, 3)
    print_setup(ws, 3, "全国KPI")


def _national_source(cons: Consolidation, kpi: Kpi, national: NationalKpi) -> str:
    if national.branches_met is not None:
        return f"全支部が各支部の条件（{kpi.target.describe_ja(kpi)}）を満たすこと"
    return source_ja(national.rating.target_source, cons.catalogue.term)


# ---------------------------------------------------------------- 支部別KPI
MATRIX_COLUMNS = (("実績", 11), ("時点", 6), ("評価", 5), ("順位", 5), ("前年同月", 10), ("前年差", 9))
# per KPI; 時点 = data month of the value; 前年同月 = that month a year earlier (ledger)
MATRIX_NOTE = ("※ 値のセルは結果の色（◎緑・○青・△赤・—灰）。時点はその値のデータが届いている月（R6.1＝令和6年1月）。"
               "順位は値の良い順（≦の指標は小さい順）。")


def sheet_branch_matrix(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("支部別KPI")
    ws.write_string(0, 0, _title(cons, "支部別KPI（値・時点・結果・順位）"), st.title)
    kpis = [k for k in cons.kpis if k.kind != "qualitative" and k.scope == "branch"]
    qual = [k for k in cons.kpis if k.kind == "qualitative"]
    step = len(MATRIX_COLUMNS)
    ws.set_column(0, 0, 7)
    ws.set_column(1, 1, 11)
    ws.write_string(2, 0, "コード", st.head)
    ws.write_string(2, 1, "支部", st.head)
    ws.merge_range(3, 0, 3, 1, "", st.head)
    col = 2
    for kpi in kpis:
        ws.merge_range(2, col, 2, col + step - 1, f"{kpi.id} {kpi.short_label}（{kpi.unit_label}）", st.head)
        for i, (sub, width) in enumerate(MATRIX_COLUMNS):
            ws.write_string(3, col + i, sub, st.head)
            ws.set_column(col + i, col + i, width)
        col += step
    for kpi in qual:
        ws.merge_range(2, col, 3, col, f"{kpi.id} {kpi.short_label}（自己評価）", st.head)
        ws.set_column(col, col, 12)
        col += 1
    ws.set_row(2, 42)
    row = 4
    put(ws, row, 0, "全国", st.label)
    put(ws, row, 1, "全国", st.label)
    centre = st.fmt(None, align="center")
    for i, kpi in enumerate(kpis):
        n = cons.national[kpi.id]
        c = 2 + step * i
        put(ws, row, c, national_value(kpi, n), st.fmt(num_format(kpi), n.rating.mark, bold=True, align="right"))
        put(ws, row, c + 1, data_month_ja(n.data_month), centre)
        put(ws, row, c + 2, n.rating.mark, st.mark(n.rating.mark))
        put(ws, row, c + 3, None, st.text)
        _matrix_year_on_year(ws, st, row, c + 4, kpi, cons.year_on_year(NATIONAL_CODE, kpi.id))
    for j, _kpi in enumerate(qual):
        put(ws, row, 2 + step * len(kpis) + j, "—", st.mark("—"))
    names = branch_names()
    for s in cons.statuses:
        if s.code == "00":
            continue
        row += 1
        put(ws, row, 0, s.code, st.text)
        put(ws, row, 1, names[s.code].removesuffix("支部"), st.text)
        for i, kpi in enumerate(kpis):
            bk = cons.branch_kpis.get((s.code, kpi.id))
            mark = bk.rating.mark if bk else "—"
            c = 2 + step * i
            put(ws, row, c, stored(kpi, bk.value) if bk else None, st.fmt(num_format(kpi), mark))
            put(ws, row, c + 1, data_month_ja(bk.data_month) if bk and bk.value is not None else "", centre)
            put(ws, row, c + 2, mark, st.mark(mark))
            put(ws, row, c + 3, bk.rank if bk else None, st.fmt("0", None, align="center"))
            _matrix_year_on_year(ws, st, row, c + 4, kpi, cons.year_on_year(s.code, kpi.id))
        for j, kpi in enumerate(qual):
            bk = cons.branch_kpis.get((s.code, kpi.id))
            mark = bk.rating.mark if bk else "—"
            put(ws, row, 2 + step * len(kpis) + j, mark, st.mark(mark))
    ws.autofilter(3, 0, row, col - 1)
    ws.freeze_panes(5, 2)
    ws.write_string(row + 2, 0, MATRIX_NOTE + RULE_JA, st.note)
    ws.write_string(row + 3, 0, no_comparison_note(cons), st.note)
    if any(cons.national[k.id].branches_met is not None for k in kpis):
        ws.write_string(row + 4, 0, "※ 全国の「n/m支部」は、報告のあったm支部のうち各支部の条件を満たした支部の数です"
                        "（全支部が満たすと○）。", st.note)
    print_setup(ws, 3, "支部別KPI")


def _matrix_year_on_year(ws: Worksheet, st: Styles, row: int, col: int, kpi: Kpi, yoy: YearOnYear) -> None:
    put(ws, row, col, stored(kpi, yoy.previous), st.fmt(num_format(kpi)))
    put(ws, row, col + 1, yoy.change, st.fmt(change_format(kpi)))


# ---------------------------------------------------------------- 評価一覧
def target_text(kpi: Kpi, annual: float | None, basis: str) -> str:
    if kpi.kind == "qualitative":
        return kpi.target.text or ""
    if annual is None:
        return basis
    return f"{kpi.format_value(annual)}{'以上' if kpi.direction == '>=' else '以下'}"


# 具体的な施策 … 結果 are seed 003's table; what follows is kpisheet's explanation of a KPI row
RATINGS_COLUMNS = [("支部コード", 7), ("支部", 10), ("具体的な施策", 26), ("事業内容（KPI）", 48), ("KPI目標", 14),
                   ("KPI結果", 21), ("結果", 6), ("判定の根拠・備考", 50), ("進捗（参考）", 10), ("目標の設定", 20),
                   ("{term}期末目標（参考）", 17)]


def sheet_ratings(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("評価一覧")
    ws.write_string(0, 0, _title(cons, "評価一覧"), st.title)
    ws.write_string(1, 0, "結果：" + "・".join(f"「{m}{MARK_LABELS_JA[m]}」" for m in MARKS)
                    + "　KPIの結果は自動判定、KPIのない事業内容は支部の自己評価です。KPI結果の"
                    f"（{as_of_ja(cons.month)}）などは、データが届いている月です。", st.note)
    ws.write_string(2, 0, RULE_JA + PROGRESS_JA, st.note)
    cols = [(t.format(term=f"第{cons.catalogue.term}"), w) for t, w in RATINGS_COLUMNS]
    header(ws, 3, st, cols)
    row = 3
    names = branch_names()
    ratings_by: dict[tuple[str, str], list[Any]] = {}
    for r in cons.measure_ratings:
        ratings_by.setdefault((r.branch_code, r.measure_id), []).append(r)
    with_kpis = {code for code, _kpi in cons.branch_kpis}
    of_measure = {m.id: cons.catalogue.kpis_of_measure(m.id) for m in cons.catalogue.measures}
    for s in cons.statuses:
        if s.code not in with_kpis:
            continue
        for measure in cons.catalogue.measures:
            rows = ratings_by.get((s.code, measure.id), [])
            kpis = [k for k in of_measure[measure.id] if (s.code, k.id) in cons.branch_kpis]
            for r in rows:
                row += 1
                _ratings_row(ws, st, row, [s.code, names[s.code], measure.heading, f"{_circled(r.n)} {r.text}".strip(),
                                           "—", "—", r.rating or "—", r.note])
            for kpi in kpis:
                row += 1
                _ratings_row(ws, st, row, [s.code, names[s.code], measure.heading, f"【KPI】{kpi.label}",
                                           *_kpi_rating_cells(cons, kpi, cons.branch_kpis[(s.code, kpi.id)])])
    ws.autofilter(3, 0, max(row, 4), len(cols) - 1)
    ws.freeze_panes(4, 2)
    print_setup(ws, 3, "評価一覧")


def kpi_result_text(kpi: Kpi, bk: BranchKpi) -> str:
    """KPI結果 as seed 003 writes it: 「42.6%（R6.1現在）」; 「—（未報告）」 without a result."""
    if kpi.kind == "qualitative":
        return bk.text or "—"
    if bk.value is None:
        return f"—（{bk.rating.reason_ja}）" if bk.rating.reason_ja else "—"
    return result_ja(kpi, bk.value, bk.data_month)


def _kpi_rating_cells(cons: Consolidation, kpi: Kpi, bk: BranchKpi) -> list[Any]:
    """KPI目標 … 期末目標 of one branch's KPI row."""
    qualitative = kpi.kind == "qualitative"
    return [target_text(kpi, bk.annual_target, bk.target_basis), kpi_result_text(kpi, bk), bk.rating.mark,
            bk.rating.basis_ja, bk.progress, "" if qualitative else source_ja(bk.target_source, cons.catalogue.term),
            "" if qualitative else term_goal_ja(kpi)]


def _circled(n: int) -> str:
    return chr(0x2460 + n - 1) if 1 <= n <= 20 else f"({n})"


def _ratings_row(ws: Worksheet, st: Styles, row: int, values: list[Any]) -> None:
    """One row of 評価一覧: code, branch, measure, content, target, result, mark, basis/note[, 進捗, source, goal]."""
    values = values + [None] * (len(RATINGS_COLUMNS) - len(values))
    fmts = [st.text, st.text, st.wrap, st.wrap, st.wrap, st.wrap, st.mark(values[6]), st.wrap,
            st.fmt(PROGRESS_FORMAT), st.wrap, st.wrap]
    for col, (v, f) in enumerate(zip(values, fmts)):
        put(ws, row, col, v, f)


# ---------------------------------------------------------------- 取組状況
def sheet_measures(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("取組状況")
    names = branch_names()
    ws.write_string(0, 0, _title(cons, "取組状況"), st.title)
    ws.write_string(1, 0, "左：支部が記入した事業内容・自己評価・備考　中：施策別・支部別の結果の件数　右：課題", st.note)
    header(ws, 3, st, [("支部コード", 7), ("支部", 10), ("具体的な施策", 26), ("No", 4), ("事業内容", 50),
                       ("結果", 6), ("備考", 36)])
    row = 3
    order = {m.id: i for i, m in enumerate(cons.catalogue.measures)}
    headings = {m.id: m.heading for m in cons.catalogue.measures}
    rows = sorted(cons.measure_ratings, key=lambda r: (r.branch_code, order[r.measure_id], r.n))
    for r in rows:
        row += 1
        heading = headings[r.measure_id]
        for col, (v, f) in enumerate([(r.branch_code, st.text), (names[r.branch_code], st.text),
                                      (heading, st.wrap), (r.n, st.int), (r.text, st.wrap),
                                      (r.rating or "—", st.mark(r.rating or "—")), (r.note, st.wrap)]):
            put(ws, row, col, v, f)
    ws.autofilter(3, 0, max(row, 4), 6)
    # counts per measure and branch
    c0 = 8
    header(ws, 3, st, [("具体的な施策", 26), ("支部", 10), *((m, 5) for m in MARKS), ("計", 5)], c0)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in cons.measure_ratings:
        counts.setdefault((r.measure_id, r.branch_code), {m: 0 for m in MARKS})[r.rating or "—"] += 1
    crow = 3
    for (mid, code), c in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        crow += 1
        put(ws, crow, c0, headings[mid], st.wrap)
        put(ws, crow, c0 + 1, names[code], st.text)
        for i, m in enumerate(MARKS):
            put(ws, crow, c0 + 2 + i, c[m] or None, st.fmt("0", m if c[m] else None, align="center"))
        put(ws, crow, c0 + 2 + len(MARKS), sum(c.values()), st.int)
    # 課題
    k0 = c0 + 3 + len(MARKS) + 1
    header(ws, 3, st, [("支部", 10), ("具体的な施策", 26), ("課題", 60)], k0)
    krow = 3
    for code, mid, text in sorted(cons.issues, key=lambda t: (t[0], order[t[1]])):
        krow += 1
        put(ws, krow, k0, names[code], st.text)
        put(ws, krow, k0 + 1, headings[mid], st.wrap)
        put(ws, krow, k0 + 2, text, st.wrap)
    ws.freeze_panes(4, 0)
    print_setup(ws, 3, "取組状況")


# ---------------------------------------------------------------- 月次推移
def sheet_trend(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("月次推移")
    ws.write_string(0, 0, _title(cons, "月次推移"), st.title)
    ws.write_string(1, 0, "上：全国（実績と年間目標）　下：支部別　右：グラフ（全国の推移／支部別の値と目標）。"
                    "各月の値はその月末までのデータによる実績です（受診者数などは4月からの累計、"
                    "事業所数などはその月末の数）。" + RULE_JA, st.note)
    months = fiscal_months(cons.fiscal_year)
    kpis = [k for k in cons.kpis if k.kind != "qualitative"]
    cols = [("KPI ID", 9), ("KPI", 26), ("区分", 12), *((month_label(m), 10) for m in months),
            ("年間目標", 12)]
    header(ws, 3, st, cols)
    m0 = 3  # first month column
    row = 3
    national_rows: dict[str, int] = {}
    for kpi in kpis:
        nf = st.fmt(num_format(kpi))
        row += 1
        national_rows[kpi.id] = row
        _trend_row(ws, st, row, kpi, "全国 実績", [cons.national_months.get((kpi.id, month_key(m)))
                                                 for m in months], nf, m0, value=True)
        row += 1
        _trend_row(ws, st, row, kpi, "全国 年間目標", [cons.national_months.get((kpi.id, month_key(m)))
                                                   for m in months], nf, m0, value=False)
    row += 2
    ws.write_string(row, 0, "支部別", st.subtitle)
    row += 1
    header(ws, row, st, cols)
    branch_head = row
    branch_rows: dict[str, tuple[int, int]] = {}
    names = branch_names()
    for kpi in kpis:
        codes = [s.code for s in cons.statuses if (s.code, kpi.id) in cons.branch_kpis]
        if not codes:
            continue
        first = row + 1
        nf = st.fmt(num_format(kpi))
        for code in codes:
            row += 1
            bk = cons.branch_kpis[(code, kpi.id)]
            _trend_row(ws, st, row, kpi, names[code].removesuffix("支部"),
                       [cons.month_values.get((code, kpi.id, month_key(m))) for m in months], nf, m0, value=True)
            put(ws, row, m0 + 12, stored(kpi, bk.annual_target), nf)
        branch_rows[kpi.id] = (first, row)
    ws.autofilter(branch_head, 0, max(row, branch_head + 1), len(cols) - 1)
    ws.freeze_panes(4, 3)
    _trend_charts(wb, ws, cons, kpis, national_rows, branch_rows, m0, len(cols) + 1)
    print_setup(ws, 3, "月次推移")


def _trend_row(ws: Worksheet, st: Styles, row: int, kpi: Kpi, label: str, values: list[MonthValue | None],
               nf: Any, m0: int, *, value: bool) -> None:
    put(ws, row, 0, kpi.id, st.text)
    put(ws, row, 1, kpi.short_label, st.text)
    put(ws, row, 2, label, st.text)
    for i, mv in enumerate(values):
        v = None if mv is None else (mv.value if value else mv.annual_target)
        put(ws, row, m0 + i, stored(kpi, v), nf)
    if value:
        put(ws, row, m0 + 12, None, nf)


def _trend_charts(wb: Workbook, ws: Worksheet, cons: Consolidation, kpis: list[Kpi], national_rows: dict[str, int],
                  branch_rows: dict[str, tuple[int, int]], m0: int, chart_col: int) -> None:
    sheet = "月次推移"
    for i, kpi in enumerate(kpis):
        top = 3 + i * 18
        r = national_rows[kpi.id]
        line = wb.add_chart({"type": "line"})
        line.add_series({"name": "全国 実績", "categories": [sheet, 3, m0, 3, m0 + 11],
                         "values": [sheet, r, m0, r, m0 + 11], "marker": {"type": "circle", "size": 5},
                         "line": {"color": HEAD_BG, "width": 2.25}})
        line.add_series({"name": "年間目標", "categories": [sheet, 3, m0, 3, m0 + 11],
                         "values": [sheet, r + 1, m0, r + 1, m0 + 11],
                         "line": {"color": "#C00000", "dash_type": "dash", "width": 1.5}})
        _chart_style(line, f"{kpi.id} {kpi.short_label}（全国・月次）", kpi)
        ws.insert_chart(top, chart_col, line, {"x_scale": 1.0, "y_scale": 1.1})
        if kpi.id not in branch_rows:
            continue
        first, last = branch_rows[kpi.id]
        n = cons.national[kpi.id]
        shown = n.data_month or n.judged_month or cons.month_key  # the month the national figure is taken at
        col = m0 + [month_key(m) for m in fiscal_months(cons.fiscal_year)].index(shown)
        bars = wb.add_chart({"type": "column"})
        bars.add_series({"name": f"{month_label_of(shown)}の値", "categories": [sheet, first, 2, last, 2],
                         "values": [sheet, first, col, last, col], "fill": {"color": "#5B9BD5"}, "gap": 40})
        target = wb.add_chart({"type": "line"})
        target.add_series({"name": "年間目標", "categories": [sheet, first, 2, last, 2],
                           "values": [sheet, first, m0 + 12, last, m0 + 12],
                           "line": {"none": True}, "marker": {"type": "dash", "size": 7,
                                                              "fill": {"color": "#C00000"},
                                                              "border": {"color": "#C00000"}}})
        bars.combine(target)
        _chart_style(bars, f"{kpi.id} {kpi.short_label}（支部別・{data_month_ja(shown)}時点）", kpi)
        bars.set_x_axis({"num_font": {"name": FONT, "size": 7, "rotation": -90}})
        ws.insert_chart(top, chart_col + 8, bars, {"x_scale": 1.6, "y_scale": 1.1})


def _chart_style(chart: Any, title: str, kpi: Kpi) -> None:
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": 10, "bold": True}})
    chart.set_legend({"position": "bottom", "font": {"name": FONT, "size": 8}})
    chart.set_y_axis({"num_format": num_format(kpi), "num_font": {"name": FONT, "size": 8},
                      "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
    chart.set_x_axis({"num_font": {"name": FONT, "size": 8}})


# ---------------------------------------------------------------- 第5期→第6期対応表
def sheet_terms(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("第5期→第6期対応表")
    ws.write_string(0, 0, "第5期→第6期 KPI・施策の対応表", st.title)
    ws.write_string(1, 0, "「前年度実績を目標に使えるか」が「いいえ」のKPIは定義が変わったため、前年度実績を対前年度目標に使いません。",
                    st.note)
    cols = [("第5期KPI", 9), ("第5期KPI名", 34), ("第6期KPI", 9), ("第6期KPI名", 34), ("関係", 9),
            ("前年度実績を目標に使えるか", 11), ("備考", 40), ("全国の前年度実績", 13), ("全国の年間目標", 13),
            (term_goal_head(cons), 14), ("全国の実績", 13), ("データ時点", 7), ("評価", 6)]
    header(ws, 3, st, cols)
    row = 3
    cat = cons.catalogue
    for t in cons.term_kpis:
        row += 1
        for col, v in enumerate([t.from_id, t.from_label, t.to_id, t.to_label, t.relation,
                                 t.baseline_valid, t.note]):
            put(ws, row, col, v, st.wrap)
        this_id = t.to_id if cat.term == 6 else t.from_id
        n = cons.national.get(this_id or "")
        kpi = cat.kpi(this_id) if n and this_id else None
        if kpi and n:
            nf = st.fmt(num_format(kpi))
            for col, (v, f) in enumerate([
                    (stored(kpi, n.baseline), nf), (annual_target_cell(kpi, n), nf), (term_goal_ja(kpi), st.wrap),
                    (national_value(kpi, n), st.fmt(num_format(kpi), align="right")),
                    (data_month_ja(n.data_month), st.fmt(None, align="center")),
                    (n.rating.mark, st.mark(n.rating.mark))], start=7):
                put(ws, row, col, v, f)
        else:
            for col in range(7, len(cols)):
                put(ws, row, col, None, st.text)
    ws.autofilter(3, 0, row, len(cols) - 1)
    row += 2
    ws.write_string(row, 0, "施策の対応", st.subtitle)
    row += 1
    for col, title in enumerate(["第5期施策ID", "第5期の施策", "第6期施策ID", "第6期の施策", "関係"]):
        ws.write_string(row, col, title, st.head)
    ws.merge_range(row, 5, row, 6, "備考", st.head)
    for t in cons.term_measures:
        row += 1
        for col, v in enumerate([t.from_id, t.from_label, "／".join(t.to_ids), t.to_labels, t.relation]):
            put(ws, row, col, v, st.wrap)
        ws.merge_range(row, 5, row, 6, "", st.wrap)
        put(ws, row, 5, t.note, st.wrap)
    rows = [b for b in cons.branch_kpis.values() if b.baseline is not None]
    if rows:
        row += 2
        ws.write_string(row, 0, "支部別の前年度実績と年間目標・実績・評価", st.subtitle)
        row += 1
        for col, title in enumerate(["支部コード", "支部", "KPI", "KPI名", "前年度実績", "前年度実績の出典", "年間目標",
                                     "目標の設定", "実績", "データ時点", "評価"]):
            ws.write_string(row, col, title, st.head)
        names = branch_names()
        order = {k.id: i for i, k in enumerate(cat.kpis)}
        for b in sorted(rows, key=lambda b: (b.branch_code, order[b.kpi_id])):
            kpi = cat.kpi(b.kpi_id)
            nf = st.fmt(num_format(kpi))
            row += 1
            for col, (v, f) in enumerate([(b.branch_code, st.text), (names[b.branch_code], st.text),
                                          (kpi.id, st.text), (kpi.short_label, st.wrap),
                                          (stored(kpi, b.baseline), nf), (b.baseline_source, st.text),
                                          (stored(kpi, b.annual_target), nf),
                                          (source_ja(b.target_source, cat.term), st.wrap), (stored(kpi, b.value), nf),
                                          (data_month_ja(b.data_month) if b.value is not None else "",
                                           st.fmt(None, align="center")),
                                          (b.rating.mark, st.mark(b.rating.mark))]):
                put(ws, row, col, v, f)
    ws.freeze_panes(4, 0)
    print_setup(ws, 3, "第5期→第6期対応表")


# ---------------------------------------------------------------- 検証結果
FINDING_COLUMNS = [("支部コード", 7), ("支部", 10), ("ファイル", 28), ("シート", 10), ("セル", 7), ("コード", 7),
                   ("重要度", 7), ("内容", 80), ("対象", 14), ("値", 14)]


def sheet_findings(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("検証結果")
    ws.write_string(0, 0, _title(cons, "検証結果"), st.title)
    ws.write_string(1, 0, "エラーの値は集計から除外しています。警告の値は集計に含めています。", st.note)
    header(ws, 3, st, FINDING_COLUMNS)
    names = branch_names()
    row = 3
    sev = {"error": ("エラー", st.mark("△")), "warning": ("警告", st.fmt(None, None, bg_color="#FFF2CC"))}
    for f in cons.findings:
        row += 1
        label, fmt = sev[f.severity]
        for col, (v, fm) in enumerate([(f.branch, st.text), (names.get(f.branch or "", ""), st.text),
                                       (Path(f.file).name if f.file else "", st.wrap), (f.sheet, st.text),
                                       (f.cell, st.text), (f.code, st.text), (label, fmt),
                                       (f.text_ja, st.wrap), (f.subject, st.wrap), (f.value, st.wrap)]):
            put(ws, row, col, v, fm)
    ws.autofilter(3, 0, max(row, 4), len(FINDING_COLUMNS) - 1)
    ws.freeze_panes(4, 0)
    print_setup(ws, 3, "検証結果")


# ---------------------------------------------------------------- 修正履歴
REVISION_COLUMNS = [("支部コード", 7), ("支部", 10), ("KPI ID", 9), ("KPI", 32), ("対象月", 8), ("修正前", 12),
                    ("修正後", 12), ("差", 10), ("修正前（分子／分母）", 22), ("修正後（分子／分母）", 22),
                    ("締め", 8), ("修正したファイル", 36), ("修正前のファイル", 36), ("見つけた集計", 10)]
REVISIONS_NOTE = ("前回までに台帳に記録した値を、支部が後のファイルで変えたものです（同じ内容で再集計しても増えません）。"
                  "「締め後」は締めた月までの値の修正：この集計には修正後の値を使い、締めた月の集計表は締めたときのまま"
                  "残しています（`kpisheet consolidate --from-ledger` で再作成できます）。")


def sheet_revisions(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    ws = wb.add_worksheet("修正履歴")
    ws.write_string(0, 0, _title(cons, "修正履歴"), st.title)
    ws.write_string(1, 0, REVISIONS_NOTE, st.note)
    header(ws, 3, st, REVISION_COLUMNS)
    names = branch_names()
    row = 3
    for r in cons.revisions:
        kpi = cons.catalogue.kpi(r.kpi_id)
        nf = num_format(kpi)
        row += 1
        after = "締め後" if r.after_close else ""
        change = r.new_value - r.old_value if r.new_value is not None and r.old_value is not None else None
        for col, (value, fmt) in enumerate([
                (r.branch_code, st.text), (names.get(r.branch_code, r.branch_code), st.text), (kpi.id, st.text),
                (kpi.label, st.wrap), (data_month_ja(r.month), st.fmt(None, align="center")),
                (stored(kpi, r.old_value), st.fmt(nf)), (_revised_value(kpi, r.new_value, r.new_status), st.fmt(nf)),
                (change, st.fmt(change_format(kpi))), (_parts(r.old_numerator, r.old_denominator), st.text),
                (_parts(r.new_numerator, r.new_denominator), st.text), (after, st.mark("△") if after else st.text),
                (r.file, st.wrap), (r.old_file, st.wrap), (data_month_ja(r.reporting_month), st.text)]):
            put(ws, row, col, value, fmt)
    if not cons.revisions:
        ws.write_string(row + 1, 0, "この月の修正はありません。" if cons.previous_year is not None else
                        "台帳を使わずに集計したため、修正は記録していません。", st.note)
    ws.autofilter(3, 0, max(row, 4), len(REVISION_COLUMNS) - 1)
    ws.freeze_panes(4, 2)
    print_setup(ws, 3, "修正履歴")


def _revised_value(kpi: Kpi, value: float | None, status: str) -> float | str | None:
    if value is not None:
        return stored(kpi, value)
    return {"excluded": "（エラーにより除外）", "missing": "（空欄）", "zero_denominator": "（分母が0）"}.get(status, "")


def _parts(numerator: float | None, denominator: float | None) -> str:
    def n(x: float | None) -> str:
        return "—" if x is None else f"{x:,.0f}" if float(x).is_integer() else f"{x:,}"
    return "" if numerator is None and denominator is None else f"{n(numerator)}／{n(denominator)}"


# ---------------------------------------------------------------- writing
def build_national(cons: Consolidation, path: Path, created: datetime) -> None:
    wb = xlsxwriter.Workbook(str(path), workbook_options())
    wb.set_properties({"title": _title(cons, "全国集計表"), "author": "kpisheet", "company": "全国健康保険協会",
                       "created": created, "comments": f"kpisheet {__version__}"})
    wb.set_custom_property("kpisheet_report", f"national/FY{cons.fiscal_year}/{cons.month_key}")
    st = Styles(wb)
    sheet_overview(wb, st, cons, created)
    sheet_status(wb, st, cons)
    sheet_national(wb, st, cons)
    sheet_branch_matrix(wb, st, cons)
    sheet_ratings(wb, st, cons)
    sheet_measures(wb, st, cons)
    sheet_trend(wb, st, cons)
    sheet_terms(wb, st, cons)
    sheet_findings(wb, st, cons)
    sheet_revisions(wb, st, cons)
    wb.close()


def write_national(cons: Consolidation, path: Path, *, force: bool, created: datetime | None = None) -> Path:
    """Write the national workbook atomically; an existing file is replaced only with force."""
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    with atomic_path(Path(path), force=force) as tmp:
        build_national(cons, tmp, created)
    return Path(path)


__all__ = ["SHEETS", "write_national", "build_national", "workbook_options", "put", "num_format", "stored",
           "xl_rowcol_to_cell", "xl_col_to_name"]
