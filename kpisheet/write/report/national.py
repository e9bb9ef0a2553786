"""Stage 7 — the national workbook HQ reads and prints (xlsxwriter), at most 40 A4 pages.

概要 · 提出状況 · 全国KPI · 支部別評価 · 支部別KPI · 月次推移 · 第5期→第6期対応表 ·
第5期→第6期施策対応 · 検証結果 · 修正履歴 · 実行情報 (hidden: does not print)

- 概要 answers on one page what HQ asks each month: who has not sent, and per KPI the national
  result with its data month, the year's target, the term goal, the mark, the ◎○△— counts across
  branches, the △ branches and the ◎ threshold.
- 支部別評価 is the marks matrix (branches × KPIs, marks only, coloured) printed on at most two
  landscape pages at 9 pt; 支部別KPI is the value matrix for the screen, printed by pillar.
- Ranks are by achievement (result ÷ target, direction-aware) and read 「3/44」.
- The long lists (評価一覧, 取組状況, 課題, 前年度実績と目標) are in the lists workbook
  (kpisheet.write.report.lists) and each branch's 実施状況 in the 実施状況 workbook (kpisheet.write.report.plan_status).

Every sheet is written table-driven (kpisheet.write.report.layout: columns of title, width, value,
format); branch text is written with write_string on a workbook opened with
strings_to_formulas/strings_to_urls False.  The same Consolidation gives the same bytes when
`created` is passed; only 実行情報 and the document properties carry the run's time (JST).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from xlsxwriter.workbook import Workbook

from kpisheet import __version__, xlsx_write
from kpisheet.consolidate.model import NATIONAL_CODE, STATUS_ERRORS, STATUS_MISSING, STATUS_NO_MONTH, STATUS_OK, STATUS_UNREADABLE, BranchKpi, Consolidation, MarkChange, NationalKpi
from kpisheet.consolidate.national import coverage_rule
from kpisheet.consolidate.changes import behind
from kpisheet.domain.catalogue import Kpi
from kpisheet.domain.display import difference, format_value, text_width
from kpisheet.domain.settings import DEFAULT_BEHIND_PACE_SHARE
from kpisheet.domain.fiscal import JST, month_label, parse_month, wareki_month
from kpisheet.domain.ratings import NO_RESULT, Rating
from kpisheet.fileio import atomic_path
from kpisheet.write.report.layout import (
    Column,
    Sheet,
    Styles,
    lines_of,
    mark_format,
    number_format,
    column_pages,
    print_setup,
    put,
    row_height,
    workbook_options,
)
from kpisheet.write.report.texts import (
    LEGEND_JA,
    PROGRESS_FORMAT,
    PROGRESS_JA,
    RULE_JA,
    annual_target_cell,
    branch_names,
    change_format,
    coverage_ja,
    dash_reasons_ja,
    data_month_ja,
    excellent_ja,
    national_result_ja,
    national_value,
    no_comparison_note,
    num_format,
    pooled_note,
    reporting_branches,
    short_name,
    source_ja,
    stored,
    term_goal_head,
    target_text,
    term_goal_ja,
    title_ja,
    year_on_year_note,
)
from kpisheet.write.report.trend import write_trend

SHEETS = ("概要", "提出状況", "全国KPI", "支部別評価", "支部別KPI", "月次推移", "第5期→第6期対応表",
          "第5期→第6期施策対応", "検証結果", "修正履歴", "実行情報")
RUN_SHEET = "実行情報"
KPI_MARKS = ("◎", "○", "△", NO_RESULT)  # a KPI is never ×（未実施 is for activities）
NAMES_ON_OVERVIEW = 12  # more branches behind than this: the first ones, how many more and where to look
PACE_NOTE_JA = "遅れている支部：積み上がるKPIは進捗{share}未満（低い順）、ほかは△（{names}支部を超えると数）。"


def coverage_note_ja(cons: Consolidation) -> str:
    """How national marks treat branches not yet in (HQ's `national_coverage`), under 概要 and 全国KPI."""
    counts = ("※ 集計支部は全国の実績に入った支部の数。件数のKPIは全国の目標が全支部の合計のため、"
              "そろっていない支部の分で△にならないよう、")
    if coverage_rule(cons) == "pending":
        counts += "全支部がそろうまで「集計中」とし評価しません。"
    else:
        counts += "集計できた支部の前年度実績の合計と比べます（比べられないときは「集計中」で評価なし）。"
    return counts + "率のKPIは分子の合計÷分母の合計なので、そのまま目標と比べます。"


def jst(moment: datetime) -> str:
    """「2024-11-05 18:30:00 JST」."""
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


def _branch_kpis(cons: Consolidation, kpi: Kpi) -> list[BranchKpi]:
    return [cons.branch_kpis[(c, kpi.id)] for c in reporting_branches(cons) if (c, kpi.id) in cons.branch_kpis]


def _matrix_kpis(cons: Consolidation) -> list[Kpi]:
    """KPIs a branch reports (the national-only ones have no branch column)."""
    return [k for k in cons.kpis if k.scope == "branch"]


def mark_counts(cons: Consolidation, kpi: Kpi) -> dict[str, int]:
    """◎ ○ △ — across the prefectural branches (a branch without a value counts as —)."""
    counts = {m: 0 for m in KPI_MARKS}
    if kpi.scope != "branch":
        return counts
    for code in reporting_branches(cons):
        bk = cons.branch_kpis.get((code, kpi.id))
        mark = bk.rating.mark if bk else NO_RESULT
        counts[mark if mark in counts else NO_RESULT] += 1
    return counts


# ---------------------------------------------------------------- 概要
def _names_of(cons: Consolidation, status: str, names: dict[str, str]) -> str:
    found = [short_name(names, s.code) for s in cons.statuses if s.status == status]
    return "、".join(found) if found else "なし"


def _no_month_ja(cons: Consolidation, names: dict[str, str]) -> str:
    """「新潟（9月分まで）」: the branches whose file holds no figure for the reporting month, with the month it reaches."""
    found = [f"{short_name(names, s.code)}（{last_month_ja(s.last_month)}）"
             for s in cons.statuses if s.status == STATUS_NO_MONTH]
    return "、".join(found) if found else "なし"


def last_month_ja(key: str | None) -> str:
    """「9月分まで」 for '2024-09'; 「入力なし」 when the file holds no month at all."""
    return f"{parse_month(key).month}月分まで" if key else "入力なし"


def _late_ja(cons: Consolidation, names: dict[str, str]) -> str:
    settings = cons.settings
    if settings is None or settings.placeholders():
        return "（提出期限が設定されていないため判定していません）"
    late = [short_name(names, s.code) for s in cons.statuses if s.late]
    due = settings.deadline_ja(cons.month)
    return f"{'、'.join(late) if late else 'なし'}（提出期限：{due}）"


def overview_facts(cons: Consolidation) -> list[tuple[str, str]]:
    names = branch_names()
    summary = cons.summary()
    b, f = summary["branches"], summary["findings"]
    facts = [("集計月", f"{wareki_month(cons.month)}分。" + RULE_JA.removesuffix("進捗は参考値です。")),
             ("提出状況", f"{STATUS_OK} {b['submitted']} ／ {STATUS_ERRORS} {b['with_errors']} ／ "
                      f"{STATUS_NO_MONTH} {b['no_reporting_month']} ／ "
                      f"{STATUS_UNREADABLE} {b['unreadable']} ／ {STATUS_MISSING} {b['missing']}"),
             (STATUS_MISSING, _names_of(cons, STATUS_MISSING, names)),
             (STATUS_NO_MONTH, _no_month_ja(cons, names)),
             (STATUS_UNREADABLE, _names_of(cons, STATUS_UNREADABLE, names)),
             (STATUS_ERRORS, _names_of(cons, STATUS_ERRORS, names) + f"（エラー {f['errors']}件・警告 {f['warnings']}件："
                                                                     "「検証結果」シート）"),
             ("期限後の提出", _late_ja(cons, names))]
    settings = cons.settings
    if settings is not None and not settings.placeholders():
        facts.append(("本部の連絡先", settings.contact_ja()))
    return facts


def behind_share(cons: Consolidation) -> float:
    """HQ's `behind_pace_share` (95% unless HQ's settings say otherwise)."""
    return cons.settings.behind_pace_share if cons.settings is not None else DEFAULT_BEHIND_PACE_SHARE


def behind_head(cons: Consolidation) -> str:
    return "遅れている支部"


def behind_ja(cons: Consolidation, kpi: Kpi, names: dict[str, str]) -> str:
    """「進捗95%未満：新潟 88%、福島 93%」 or 「△：山梨、長野」, at most NAMES_ON_OVERVIEW names."""
    if kpi.scope != "branch":
        return "（全国のみのKPI）"
    basis, found = behind(cons, kpi, behind_share(cons))
    if not found:
        return f"{'進捗' + format(behind_share(cons), '.0%') + '未満' if basis == 'progress' else '△'}：なし"
    if basis == "progress":
        shown = [f"{short_name(names, b.branch_code)} {b.progress:.0%}" for b in found[:NAMES_ON_OVERVIEW]]
        more = f"、ほか{len(found) - NAMES_ON_OVERVIEW}支部" if len(found) > NAMES_ON_OVERVIEW else ""
        return f"進捗{behind_share(cons):.0%}未満：{'、'.join(shown)}{more}"
    if len(found) > NAMES_ON_OVERVIEW:
        return f"△：{len(found)}支部"
    return f"△：{'、'.join(short_name(names, b.branch_code) for b in found)}"


def _result_and_target_ja(kpi: Kpi, national: NationalKpi) -> str:
    """「99.5%（R6.10現在）」 and 「目標 100.0%以上」 on two lines, and a third where the branches covered
    decide the mark: 「集計中（44/47支部）」, 「44/47支部（同じ支部の前年度と比較）」 (every coverage is in
    全国KPI's 集計支部数)."""
    if national.branches_met is not None:
        target = "全支部が条件を満たすこと"
    elif national.annual_target is None:
        target = "—"
    else:
        target = target_text(kpi, national.annual_target, national.target_basis)
    coverage = coverage_ja(kpi, national)
    deciding = "集計中" in coverage or "同じ支部" in coverage
    return f"{national_result_ja(kpi, national)}\n目標 {target}" + (f"\n{coverage}" if deciding else "")


def overview_columns(cons: Consolidation) -> list[Column]:
    """概要's KPI table: portrait, readable at 9 pt (the 第6期末目標, 集計支部 and ◎の基準 are in 全国KPI)."""
    names = branch_names()

    def n(kpi: Kpi) -> NationalKpi:
        return cons.national[kpi.id]

    cols = [Column("KPI", 20, lambda k: f"{k.id} {k.short_label}", "wrap"),
            Column("全国の実績（データ時点）・年間目標", 20, lambda k: _result_and_target_ja(k, n(k)), "wrap"),
            Column("評価", 4, lambda k: n(k).rating.mark, mark_format(lambda k: n(k).rating.mark))]
    cols += [_mark_count_column(cons, m, 3.2) for m in KPI_MARKS]
    cols += [Column(behind_head(cons), 21, lambda k: behind_ja(cons, k, names), "wrap")]
    return cols


def changes_head(cons: Consolidation) -> str:
    """The block's heading, naming the run it compares with."""
    changes = cons.changes
    if changes is None or changes.previous_month is None:
        return "前月からの変化"
    return f"前月からの変化（{wareki_month(parse_month(changes.previous_month))}分の集計と比べて）"


def changes_facts(cons: Consolidation) -> list[tuple[str, str]]:
    """「前月からの変化」: marks that moved since the previous month's recorded run, revisions, branches
    newly late or 未提出 (from the ledger: Consolidation.changes)."""
    changes = cons.changes
    if changes is None:
        return [("前月との比較", "台帳を使わずに集計したため、前月とは比べていません。")]
    names = branch_names()
    after_close = sum(1 for r in cons.revisions if r.after_close)
    revisions = ("修正", f"{len(cons.revisions)}件（うち締め後 {after_close}件）：「修正履歴」シート"
                 if cons.revisions else "なし")
    if changes.previous_month is None:
        why = "4月は年度の初月のため比べません" if cons.month.month == 4 else "台帳に前月の集計がありません"
        return [("前月との比較", f"前月の記録なし（{why}）。"), revisions]
    return [("全国の評価の変化",
             "、".join(f"{c.kpi_id} {c.before}→{c.after}" for c in changes.national) or "なし"),
            ("支部の評価の変化", _branch_changes_ja(changes.branches, names)),
            revisions,
            ("新たな遅れ・未提出",
             f"期限後：{'、'.join(short_name(names, c) for c in changes.newly_late) or 'なし'}"
             f"　未提出：{'、'.join(short_name(names, c) for c in changes.newly_missing) or 'なし'}")]


CHANGED_KPIS_SHOWN = 4  # KPIs whose branch marks moved, one line each; more: how many more KPIs
CHANGED_NAMES_SHOWN = 3  # branches named per KPI; more: how many more


def _branch_changes_ja(found: tuple[MarkChange, ...], names: dict[str, str]) -> str:
    """「65件（12KPI）」, then a line per KPI 「K6-1-01：岩手 ○→△、宮城 △→○、秋田 △→○ ほか13支部」
    (at most CHANGED_KPIS_SHOWN lines; the marks of every branch are in 支部別評価)."""
    if not found:
        return "なし"
    by_kpi: dict[str, list[str]] = {}
    for c in found:
        by_kpi.setdefault(c.kpi_id, []).append(f"{short_name(names, c.code)} {c.before}→{c.after}")
    lines = [f"{k}：{'、'.join(v[:CHANGED_NAMES_SHOWN])}" + (f" ほか{len(v) - CHANGED_NAMES_SHOWN}支部"
                                                          if len(v) > CHANGED_NAMES_SHOWN else "")
             for k, v in list(by_kpi.items())[:CHANGED_KPIS_SHOWN]]
    if len(by_kpi) > CHANGED_KPIS_SHOWN:
        lines.append(f"ほか{len(by_kpi) - CHANGED_KPIS_SHOWN}KPI（各支部の評価は「支部別評価」シート）")
    return "\n".join([f"{len(found)}件（{len(by_kpi)}KPI）", *lines])


def _facts_rows(sheet: Sheet, st: Styles, facts: list[tuple[str, str]], last: int, label_width: float,
                text_width: float) -> None:
    for label, text in facts:
        sheet.ws.write_string(sheet.row, 0, label, st.label)
        sheet.ws.merge_range(sheet.row, 1, sheet.row, last, text, st.wrap)
        lines = max(lines_of(text, text_width), lines_of(label, label_width))
        sheet.ws.set_row(sheet.row, row_height(lines))
        sheet.row += 1


SUBTITLE_ROW = 24  # a subtitle row: room above its 11 pt text, in place of a blank row


def sheet_overview(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "概要", title_ja(cons, "全国集計表"))
    columns = overview_columns(cons)
    for i, c in enumerate(columns):
        sheet.set_width(i, i, c.width)
    last = len(columns) - 1
    text_width = sum(c.width for c in columns[1:])
    _facts_rows(sheet, st, overview_facts(cons), last, columns[0].width, text_width)
    sheet.ws.write_string(sheet.row, 0, changes_head(cons), st.subtitle)
    sheet.ws.set_row(sheet.row, SUBTITLE_ROW)
    sheet.row += 1
    _facts_rows(sheet, st, changes_facts(cons), last, columns[0].width, text_width)
    sheet.ws.write_string(sheet.row, 0, "KPIごとの結果", st.subtitle)
    sheet.ws.set_row(sheet.row, SUBTITLE_ROW)
    sheet.row += 1
    sheet.note(LEGEND_JA + f"　◎○△—の数は{len(reporting_branches(cons))}支部の結果"
               f"（{dash_reasons_ja(_all_ratings(cons))}）。" + PACE_NOTE_JA.format(share=f"{behind_share(cons):.0%}",
                                                                              names=NAMES_ON_OVERVIEW),
               across=columns)
    head, _ = sheet.table(columns, cons.kpis)
    sheet.note("※ 第6期末目標・集計支部（件数のKPIの扱い）・◎の基準は「全国KPI」シート。入力ファイルのハッシュ値・"
               "作成日時・ツールの版は非表示の「実行情報」シート（シート見出しを右クリック→「再表示」）。", across=columns)
    # the KPI table, last, runs onto page 2: its head repeats there
    print_setup(sheet.ws, "概要", landscape=False, repeat=(head, head), top=0.5)


# ---------------------------------------------------------------- 提出状況
def status_columns(cons: Consolidation) -> list[Column]:
    used = {s.branch_code: s for s in cons.submissions if s.branch_code and cons.used.get(s.branch_code) == s.path}
    status_mark = {STATUS_OK: "○", STATUS_ERRORS: "△", STATUS_NO_MONTH: "△", STATUS_UNREADABLE: "×",
                   STATUS_MISSING: "—"}

    def sub(s: Any) -> Any:
        return used.get(s.code)

    return [Column("支部コード", 4.5, lambda s: s.code, "centre"),
            Column("支部", 8.5, lambda s: s.name, "wrap"),
            Column("状況", 11, lambda s: s.status, mark_format(lambda s: status_mark[s.status]), wrap=True),
            Column("最終報告月", 7, lambda s: month_label(parse_month(s.last_month)) if s.last_month else None,
                   "centre"),
            Column("期限後", 5.5, lambda s: "期限後" if s.late else "", "centre"),
            Column("受信日時", 15, lambda s: s.received_at),
            Column("エラー", 5, lambda s: s.errors if s.files else None, "int"),
            Column("警告", 5, lambda s: s.warnings if s.files else None, "int"),
            Column("入力率", 6.5, lambda s: s.completeness, "pct"),
            Column("集計から除外した値", 30, lambda s: "\n".join(s.left_out), "wrap"),
            Column("記入者", 10, lambda s: sub(s).preparer if sub(s) else None, "wrap"),
            Column("連絡先", 15.5, lambda s: sub(s).contact if sub(s) else None, "wrap"),
            # on the screen only (right of the print area)
            Column("ブックの保存日時", 16, lambda s: s.saved_at),
            Column("保存したアプリ", 30, lambda s: s.saved_by, "wrap"),
            Column("ファイル", 34, lambda s: "\n".join(Path(f).name for f in s.files), "wrap")]


STATUS_PRINTED = 12  # 提出状況's columns on paper; the file facts to their right are for the screen


def sheet_status(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "提出状況", title_ja(cons, "提出状況"))
    columns = status_columns(cons)
    sheet.note("日時は日本時間。受信日時は受信フォルダにファイルが置かれた日時、保存日時はブックが最後に保存された日時です。"
               "ブックの保存日時・保存したアプリ・ファイル名は画面のみ（印刷範囲の右）。", across=columns[:STATUS_PRINTED])
    head, last = sheet.table(columns, cons.statuses, name="提出状況")
    if cons.unattributed:
        sheet.skip()
        sheet.ws.write_string(sheet.row, 0, "支部を特定できなかったファイル（内容は「検証結果」シート）", st.subtitle)
        for file, n in cons.unattributed:
            sheet.row += 1
            put(sheet.ws, sheet.row, 1, Path(file).name, st.text)
            put(sheet.ws, sheet.row, 6, n, st.int)  # under エラー
    sheet.ws.freeze_panes(head + 1, 2)
    print_setup(sheet.ws, "提出状況", repeat=(head, head))
    sheet.ws.print_area(0, 0, sheet.row, STATUS_PRINTED - 1)


# ---------------------------------------------------------------- 全国KPI
def national_columns(cons: Consolidation) -> list[list[Column]]:
    """全国KPI's columns by printed page: the KPI (repeated at the left of every page), its results, the
    reasons; then the measure and the sums behind the national figure, on the screen only."""
    names = branch_names()

    def n(kpi: Kpi) -> NationalKpi:
        return cons.national[kpi.id]

    def yoy(kpi: Kpi) -> Any:
        return cons.year_on_year(NATIONAL_CODE, kpi.id)

    def nf(kpi: Kpi) -> str:
        return num_format(kpi)

    key = [Column("KPI ID", 7.5, lambda k: k.id), Column("KPI", 20, lambda k: k.label, "wrap")]
    results = [Column("全国の実績", 10, lambda k: national_value(k, n(k)), number_format(nf, align="right")),
               Column("データ時点", 6, lambda k: data_month_ja(n(k).data_month), "centre"),
               Column("年間目標", 11, lambda k: annual_target_cell(k, n(k)), number_format(nf, text_wrap=True),
                      wrap=True),
               Column("目標の設定", 13, lambda k: _national_source(cons, k, n(k)), "wrap"),
               Column(term_goal_head(cons), 11, lambda k: term_goal_ja(k), "wrap"),
               Column("評価", 4.5, lambda k: n(k).rating.mark, mark_format(lambda k: n(k).rating.mark)),
               Column("進捗（参考）", 7, lambda k: n(k).progress, number_format(lambda k: PROGRESS_FORMAT)),
               Column("前年同月", 10, lambda k: stored(k, yoy(k).previous), number_format(nf)),
               Column("前年差", 8.5, lambda k: yoy(k).change, number_format(change_format)),
               Column("集計支部数", 8, lambda k: n(k).coverage[0],
                      lambda st, k: st.fmt(f'0"/{n(k).coverage[1]}支部"', None, align="center"))]
    reasons = [Column("判定の根拠", 40, lambda k: "\n".join(t for t in (n(k).rating.basis_ja, pooled_note(k, n(k)))
                                                        if t), "wrap"),
               Column("◎の基準", 16, lambda k: excellent_ja(k, n(k).annual_target if n(k).branches_met is None
                                                         else None), "wrap"),
               Column("前年同月比の注記", 15, lambda k: year_on_year_note(yoy(k)), "wrap"),
               Column("集計から外れた支部（理由）", 26,
                      lambda k: "、".join(f"{short_name(names, c)}（{r}）" for c, r in n(k).left_out), "wrap")]
    sums = [Column("具体的な施策", 20, lambda k: cons.catalogue.measure(k.measure_id).heading, "wrap"),
            Column("分子（合計）", _sum_width(cons, "numerator"), lambda k: n(k).numerator, "int"),
            Column("分母（合計）", _sum_width(cons, "denominator"), lambda k: n(k).denominator, "int")]
    return [key, results, reasons, sums]


def _sum_width(cons: Consolidation, part: str) -> float:
    """Width of the 分子／分母 sums: the widest 「10,380,733,543」 of the sheet."""
    sums = [getattr(n, part) for n in cons.national.values() if getattr(n, part) is not None]
    return max([12.0, *(len(f"{v:,.0f}") + 1.5 for v in sums)])


def _national_source(cons: Consolidation, kpi: Kpi, national: NationalKpi) -> str:
    if national.branches_met is not None:
        return f"全支部が各支部の条件（{kpi.target.describe_ja(kpi)}）を満たすこと"
    return source_ja(national.rating.target_source, cons.catalogue.term)


def sheet_national(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "全国KPI", title_ja(cons, "全国KPI"))
    key, *pages, screen = national_columns(cons)
    columns = key + [c for page in pages for c in page] + screen
    for i, c in enumerate(columns):
        sheet.set_width(i, i, c.width)
    first_page = len(key) + len(pages[0])
    sheet.note("全国の実績は支部の分子の合計÷分母の合計（件数は合計）。支部の率の平均ではありません。"
               "全国の実績のデータ時点は、報告のあった支部の半数以上にデータが届いている最新月です。"
               + RULE_JA + PROGRESS_JA + "　印刷は2ページ幅（結果・判定の根拠）で、各ページにKPIを繰り返します。"
               "具体的な施策と分子・分母の合計は画面のみ（印刷範囲の右）。",
               across=first_page)
    head, _ = sheet.table(columns, cons.kpis, name="全国KPI")
    sheet.note(no_comparison_note(cons), across=first_page)
    sheet.note(coverage_note_ja(cons), across=first_page)
    sheet.ws.freeze_panes(head + 1, 2)
    column_pages(sheet.ws, "全国KPI", [len(c) for c in (key, *pages)], [c.width for c in columns],
                 repeat=(head, head))
    sheet.ws.print_area(0, 0, sheet.row - 1, len(key) + sum(len(p) for p in pages) - 1)


# ---------------------------------------------------------------- 支部別評価 (marks matrix)
MATRIX_FONT = 10  # fitted to one page wide and two tall it prints at about 8.5 pt (a test measures it)


def marks_rows(cons: Consolidation) -> list[tuple[str, str]]:
    """(code, name) rows of the marks matrix: 全国 first, then the branches in code order."""
    names = branch_names()
    return [(NATIONAL_CODE, "全国")] + [(c, short_name(names, c)) for c in reporting_branches(cons)]


def _mark_of(cons: Consolidation, code: str, kpi: Kpi) -> str | None:
    if code == NATIONAL_CODE:
        return cons.national[kpi.id].rating.mark
    if kpi.scope != "branch":
        return None
    bk = cons.branch_kpis.get((code, kpi.id))
    return bk.rating.mark if bk else NO_RESULT


def _mark_count_column(cons: Consolidation, mark: str, width: float = 4) -> Column:
    """How many branches have `mark` for a KPI (blank for a KPI only HQ reports)."""

    def count(k: Kpi) -> int | None:
        return mark_counts(cons, k)[mark] if k.scope == "branch" else None

    return Column(mark, width, count, lambda st, k: st.fmt("0", mark if count(k) else None, align="center"))


def _kpi_mark_column(cons: Consolidation, kpi: Kpi) -> Column:
    """One KPI's mark per branch row of 支部別評価."""

    def mark_of(r: Any) -> str | None:
        return _mark_of(cons, r[0], kpi)

    return Column(kpi.id.split('-', 1)[1], 4.6, lambda r: mark_of(r) or "",
                  lambda st, r: st.mark(mark_of(r)), wrap=False)


def marks_columns(cons: Consolidation) -> list[Column]:
    cols = [Column("支部コード", 4.5, lambda r: "" if r[0] == NATIONAL_CODE else r[0], "centre"),
            Column("支部", 7.5, lambda r: r[1], "label")]
    cols += [_kpi_mark_column(cons, kpi) for kpi in cons.kpis]
    for m in KPI_MARKS:
        cols.append(Column(m, 3.8, partial(_row_count_of, cons, mark=m),
                           lambda st, r: st.fmt("0", None, align="center"), wrap=False))
    return cols


def _row_count_of(cons: Consolidation, row: Any, mark: str) -> int | None:
    return _row_count(cons, row[0], mark)


def _all_ratings(cons: Consolidation) -> list[Rating]:
    """Every mark the national workbook shows: the nation's and each branch's."""
    return [*(n.rating for n in cons.national.values()), *(b.rating for b in cons.branch_kpis.values())]


def _row_count(cons: Consolidation, code: str, mark: str) -> int | None:
    if code == NATIONAL_CODE:
        return sum(1 for k in cons.kpis if cons.national[k.id].rating.mark == mark)
    return sum(1 for k in _matrix_kpis(cons) if _mark_of(cons, code, k) == mark)


def _kpi_legend(cons: Consolidation) -> str:
    """「1-01 サービススタンダード、1-02 郵送化率、…」: the marks matrix's column heads spelled out."""
    return "、".join(f"{k.id.split('-', 1)[1]} {k.short_label}" for k in cons.kpis) + "。"


def sheet_marks(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    small = Styles(wb, MATRIX_FONT)
    sheet = Sheet(wb, small, "支部別評価", title_ja(cons, "支部別評価"))
    columns = marks_columns(cons)
    sheet.note(f"{LEGEND_JA}　{dash_reasons_ja(_all_ratings(cons))}（各支部の理由は評価一覧の「判定の根拠」）。{RULE_JA}",
               across=columns)
    head_lines = max(lines_of(c.title, c.width) for c in columns)
    head, last = sheet.table(columns, marks_rows(cons), head_height=row_height(head_lines, MATRIX_FONT))
    r = last
    for m in KPI_MARKS:
        r += 1
        put(sheet.ws, r, 1, f"{m}の支部数", small.label)
        for i, kpi in enumerate(cons.kpis):
            put(sheet.ws, r, 2 + i, mark_counts(cons, kpi)[m] if kpi.scope == "branch" else None,
                small.fmt("0", None, align="center"))
    sheet.row = r + 1
    sheet.note("※ 全国の行は全国の実績の評価（「全国KPI」シート）。右端の◎○△—は各支部の数。"
               "値・進捗・順位は「支部別KPI」シート。列の見出しはKPI IDの後半（1-01＝K6-1-01）：" + _kpi_legend(cons),
               across=columns)
    sheet.ws.freeze_panes(head + 1, 2)
    print_setup(sheet.ws, "支部別評価", repeat=(head, head), pages_wide=1, pages_tall=2, margins=0.3)


# ---------------------------------------------------------------- 支部別KPI (values, for the screen)
MATRIX_COLUMNS = (("実績", 8.5), ("時点", 5), ("評価", 3.5), ("進捗", 6), ("順位", 5.5), ("前年差", 8))
MATRIX_NOTE = ("※ 値のセルは結果の色（◎緑・○青・△赤・—灰）。時点はデータが届いている月（R6.1＝令和6年1月）。"
               "評価は年間目標と比べます（按分しません）。進捗（参考）は年度の中で積み上がるKPIの、年間目標の月割りに対する"
               "達成度（100%でペースどおり）。「3/44」は44支部中3位（積み上がるKPIは進捗、ほかは達成度で比較）。"
               "前年差は前年同月との差（前年同月の値は表の右、画面のみ）。")
KPIS_PER_PAGE = 2  # portrait, two KPIs side by side per printed page, all branches on one page


def rank_format(st: Styles, kpi: Kpi, rank_of: int | None) -> Any:
    """A rank stored as a number and shown 「3/44」 (it still sorts as a number)."""
    return st.fmt(f'0"/{rank_of}"' if rank_of else "0", None, align="center")


def _rank_of(cons: Consolidation, kpi: Kpi) -> int | None:
    """How many branches are ranked on a KPI (the m of 「n/m」)."""
    return next((b.rank_of for b in _branch_kpis(cons, kpi) if b.rank_of), None)


def _value_width(cons: Consolidation, kpi: Kpi) -> float:
    """Width of a KPI's 実績 column: its widest shown value (the table head names the unit, 円 aside)."""
    values = [cons.national[kpi.id].value] + [b.value for (c, k), b in cons.branch_kpis.items() if k == kpi.id]
    unit = "" if kpi.display in ("percent", "yen") else kpi.unit
    widths = [text_width(format_value(kpi, v).removesuffix(unit) if unit else format_value(kpi, v))
              for v in values if v is not None]
    return max([MATRIX_COLUMNS[0][1], *(w + 1.5 for w in widths)])


def sheet_branch_matrix(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "支部別KPI", title_ja(cons, "支部別KPI"))
    ws = sheet.ws
    kpis = _matrix_kpis(cons)
    step = len(MATRIX_COLUMNS)
    sheet.set_width(0, 0, 4.5)
    sheet.set_width(1, 1, 6.5)
    for i, kpi in enumerate(kpis):
        for j, (_sub, width) in enumerate(MATRIX_COLUMNS):
            sheet.set_width(2 + step * i + j, 2 + step * i + j, _value_width(cons, kpi) if j == 0 else width)
    # notes above the table (below it they would add a printed page to every column of pages),
    # wrapped across the first printed page's width
    page = 2 + step * KPIS_PER_PAGE
    met = ("全国の「n/m支部」は報告のあったm支部のうち各支部の条件を満たした支部の数（全支部が満たすと○）。"
           if any(cons.national[k.id].branches_met is not None for k in kpis) else "")
    sheet.note(MATRIX_NOTE + met + "前年差のないKPIとその理由は「全国KPI」シートの注記。", across=page)
    top = sheet.row + 1
    ws.write_string(top, 0, "支部コード", st.head)
    ws.write_string(top, 1, "支部", st.head)
    ws.write_blank(top + 1, 0, None, st.head)
    ws.write_blank(top + 1, 1, None, st.head)
    groups = [2]
    for i, kpi in enumerate(kpis):
        col = 2 + step * i
        ws.merge_range(top, col, top, col + step - 1, f"{kpi.id} {kpi.short_label}（{kpi.unit_label}）", st.head)
        for j, (sub, _width) in enumerate(MATRIX_COLUMNS):
            ws.write_string(top + 1, col + j, sub, st.head)
        if i % KPIS_PER_PAGE == 0:
            groups.append(step)
        else:
            groups[-1] += step
    # 前年同月 of every KPI to the right of the print area (on the screen; 前年差 is printed)
    extra = 2 + step * len(kpis)
    ws.merge_range(top, extra, top, extra + len(kpis) - 1, "前年同月（画面のみ）", st.head)
    for i, kpi in enumerate(kpis):
        sheet.set_width(extra + i, extra + i, max(_value_width(cons, kpi), 10))
        ws.write_string(top + 1, extra + i, kpi.id, st.head)
    ws.set_row(top, 30)
    row = top + 1
    names = branch_names()
    ranks = {k.id: _rank_of(cons, k) for k in kpis}
    for code in [NATIONAL_CODE] + reporting_branches(cons):
        row += 1
        national = code == NATIONAL_CODE
        put(ws, row, 0, "" if national else code, st.label if national else st.centre)
        put(ws, row, 1, "全国" if national else short_name(names, code), st.label)
        for i, kpi in enumerate(kpis):
            _matrix_cells(sheet, st, cons, row, 2 + step * i, kpi, code, ranks[kpi.id])
            put(ws, row, extra + i, stored(kpi, cons.year_on_year(code, kpi.id).previous), st.fmt(num_format(kpi)))
        ws.set_row(row, MATRIX_ROW)
    ws.autofilter(top + 1, 0, row, extra + len(kpis) - 1)
    ws.freeze_panes(top + 2, 2)
    column_pages(ws, "支部別KPI", groups, [sheet.widths.get(c, 8.43) for c in range(2 + step * len(kpis))],
                 repeat=(top, top + 1), landscape=False)
    ws.print_area(0, 0, row, 1 + step * len(kpis))


MATRIX_ROW = 14.0  # one line of 10 pt text: the 47 branches fit one portrait page


def _matrix_cells(sheet: Sheet, st: Styles, cons: Consolidation, row: int, col: int, kpi: Kpi, code: str,
                  rank_of: int | None) -> None:
    ws = sheet.ws
    nf = num_format(kpi)
    yoy = cons.year_on_year(code, kpi.id)
    if code == NATIONAL_CODE:
        n = cons.national[kpi.id]
        value, month, mark, rank, progress = national_value(kpi, n), n.data_month, n.rating.mark, None, n.progress
        fmt = st.fmt(nf, mark, bold=True, align="right")
    else:
        bk = cons.branch_kpis.get((code, kpi.id))
        value = stored(kpi, bk.value) if bk else None
        month = bk.data_month if bk and bk.value is not None else None
        mark, rank = (bk.rating.mark, bk.rank) if bk else (NO_RESULT, None)
        progress = bk.progress if bk else None
        fmt = st.fmt(nf, mark)
    put(ws, row, col, value, fmt)
    put(ws, row, col + 1, data_month_ja(month), st.centre)
    put(ws, row, col + 2, mark, st.mark(mark))
    put(ws, row, col + 3, progress, st.fmt(PROGRESS_FORMAT, None, align="right"))
    put(ws, row, col + 4, rank, rank_format(st, kpi, rank_of))
    put(ws, row, col + 5, yoy.change, st.fmt(change_format(kpi)))


# ---------------------------------------------------------------- 第5期→第6期
def terms_columns(cons: Consolidation) -> list[Column]:
    cat = cons.catalogue

    def this(t: Any) -> tuple[Kpi | None, NationalKpi | None]:
        kid = t.to_id if cat.term == 6 else t.from_id
        n = cons.national.get(kid or "")
        return (cat.kpi(kid), n) if n and kid else (None, None)

    def val(fn: Any) -> Any:
        return lambda t: fn(*this(t)) if this(t)[0] else None

    def national_mark(t: Any) -> str | None:
        n = this(t)[1]
        return n.rating.mark if n else None

    def fmt_of(t: Any) -> str | None:
        k, _n = this(t)
        return num_format(k) if k else None

    return [Column("第5期KPI", 20, lambda t: _id_and_label(t.from_id, t.from_label), "wrap"),
            Column("第6期KPI", 20, lambda t: _id_and_label(t.to_id, t.to_label), "wrap"),
            Column("関係", 6, lambda t: t.relation, "centre"),
            Column("前年度実績を目標に使えるか", 8, lambda t: t.baseline_valid, "centre"),
            Column("備考", 27, lambda t: t.note, "wrap"),
            Column("全国の前年度実績", 9.5, val(lambda k, n: stored(k, n.baseline)), number_format(fmt_of)),
            Column("全国の年間目標", 9.5, val(annual_target_cell), number_format(fmt_of, text_wrap=True), wrap=True),
            Column("全国の実績", 9.5, val(national_value), number_format(fmt_of, align="right")),
            Column("データ時点", 5.5, val(lambda k, n: data_month_ja(n.data_month)), "centre"),
            Column("評価", 4, val(lambda k, n: n.rating.mark), mark_format(national_mark))]


def _id_and_label(code: str | None, label: str | None) -> str:
    """「K6-1-01」 and its name on the next line (one narrow column instead of two)."""
    return "\n".join(t for t in (code, label) if t)


def sheet_terms(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "第5期→第6期対応表", "第5期→第6期 KPIの対応表")
    columns = terms_columns(cons)
    sheet.note("「前年度実績を目標に使えるか」が「いいえ」のKPIは定義が変わったため、前年度実績を対前年度目標に使いません。"
               "施策の対応は「第5期→第6期施策対応」シート、支部別の前年度実績は全支部の一覧ブックにあります。",
               across=columns)
    head, _ = sheet.table(columns, cons.term_kpis, name="KPI対応表")
    sheet.ws.freeze_panes(head + 1, 0)
    print_setup(sheet.ws, "第5期→第6期対応表", repeat=(head, head))


def sheet_term_measures(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "第5期→第6期施策対応", "第5期→第6期 施策の対応表")
    cols = [Column("第5期の施策", 30, lambda t: _id_and_label(t.from_id, t.from_label), "wrap"),
            Column("第6期の施策", 30, lambda t: _id_and_label("／".join(t.to_ids), t.to_labels), "wrap"),
            Column("関係", 6, lambda t: t.relation, "centre"),
            Column("備考", 46, lambda t: t.note, "wrap")]
    head, _ = sheet.table(cols, cons.term_measures, name="施策対応表")
    sheet.ws.freeze_panes(head + 1, 0)
    print_setup(sheet.ws, "第5期→第6期施策対応", repeat=(head, head))


# ---------------------------------------------------------------- 検証結果
def finding_columns() -> list[Column]:
    names = branch_names()
    severity = {"error": "エラー", "warning": "警告"}
    return [Column("支部コード", 4.5, lambda f: f.branch or "", "centre"),
            Column("支部", 7, lambda f: short_name(names, f.branch) if f.branch else "", "wrap"),
            Column("ファイル", 14, lambda f: Path(f.file).name if f.file else "", "wrap"),
            Column("シート", 8, lambda f: f.sheet, "wrap"), Column("セル", 6, lambda f: f.cell, "wrap"),
            Column("コード", 6, lambda f: f.code), Column("重要度", 5.5, lambda f: severity[f.severity],
                                                         lambda st, f: st.mark("△") if f.is_error
                                                         else st.fmt(None, None, bg_color="#FFF2CC")),
            Column("内容", 46, lambda f: f.text_ja, "wrap"), Column("対象", 10, lambda f: f.subject, "wrap"),
            Column("値", 10, lambda f: f.value, "wrap")]


def sheet_findings(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "検証結果", title_ja(cons, "検証結果"))
    columns = finding_columns()
    sheet.note("エラーの値は集計から除外しています。警告の値は集計に含めています。", across=columns)
    head, _ = sheet.table(columns, cons.findings, name="検証結果")
    sheet.ws.freeze_panes(head + 1, 0)
    print_setup(sheet.ws, "検証結果", repeat=(head, head))


# ---------------------------------------------------------------- 修正履歴
REVISIONS_NOTE = ("前回までに台帳に記録した値を、支部が後のファイルで変えたものです（同じ内容で再集計しても増えません）。"
                  "「締め後」は締めた月までの値の修正：この集計には修正後の値を使い、締めた月の集計表は締めたときのまま"
                  "残しています（`kpisheet consolidate --from-ledger` で再作成できます）。")


def revision_columns(cons: Consolidation) -> list[Column]:
    names = branch_names()

    def kpi(r: Any) -> Kpi:
        return cons.catalogue.kpi(r.kpi_id)

    def change(r: Any) -> float | None:
        return difference(kpi(r), r.new_value, r.old_value)

    return [Column("支部コード", 4.5, lambda r: r.branch_code, "centre"),
            Column("支部", 7, lambda r: short_name(names, r.branch_code), "wrap"),
            Column("KPI ID", 7.5, lambda r: r.kpi_id), Column("KPI", 16, lambda r: kpi(r).label, "wrap"),
            Column("対象月", 6, lambda r: data_month_ja(r.month), "centre"),
            Column("修正前", 10, lambda r: stored(kpi(r), r.old_value), number_format(lambda r: num_format(kpi(r)))),
            Column("修正後", 11, lambda r: _revised_value(kpi(r), r.new_value, r.new_status),
                   number_format(lambda r: num_format(kpi(r)), text_wrap=True), wrap=True),
            Column("差", 9, change, number_format(lambda r: change_format(kpi(r)))),
            Column("修正前（分子／分母）", 13, lambda r: _parts(r.old_numerator, r.old_denominator), "wrap"),
            Column("修正後（分子／分母）", 13, lambda r: _parts(r.new_numerator, r.new_denominator), "wrap"),
            Column("締め", 5.5, lambda r: "締め後" if r.after_close else "",
                   lambda st, r: st.mark("△") if r.after_close else st.text),
            Column("見つけた集計", 7, lambda r: data_month_ja(r.reporting_month)),
            # on the screen only (right of the print area)
            Column("修正したファイル", 28, lambda r: r.file, "wrap"),
            Column("修正前のファイル", 28, lambda r: r.old_file, "wrap")]


REVISIONS_PRINTED = 12  # 修正履歴's columns on paper; the file names to their right are for the screen


def sheet_revisions(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    sheet = Sheet(wb, st, "修正履歴", title_ja(cons, "修正履歴"))
    columns = revision_columns(cons)
    printed = columns[:REVISIONS_PRINTED]
    sheet.note(REVISIONS_NOTE + "ファイル名は画面のみ（印刷範囲の右）。", across=printed)
    if not cons.revisions:
        sheet.note("この月の修正はありません。" if cons.previous_year is not None else
                   "台帳を使わずに集計したため、修正は記録していません。", across=printed)
    head, last = sheet.table(columns, cons.revisions, name="修正履歴")
    sheet.ws.freeze_panes(head + 1, 2)
    print_setup(sheet.ws, "修正履歴", repeat=(head, head))
    sheet.ws.print_area(0, 0, last, REVISIONS_PRINTED - 1)


def _revised_value(kpi: Kpi, value: float | None, status: str) -> float | str | None:
    if value is not None:
        return stored(kpi, value)
    return {"excluded": "（エラーにより除外）", "missing": "（空欄）", "zero_denominator": "（分母が0）"}.get(status, "")


def _parts(numerator: float | None, denominator: float | None) -> str:
    def n(x: float | None) -> str:
        return "—" if x is None else f"{x:,.0f}" if float(x).is_integer() else f"{x:,}"
    return "" if numerator is None and denominator is None else f"{n(numerator)}／{n(denominator)}"


# ---------------------------------------------------------------- 実行情報 (hidden)
def sheet_run(wb: Workbook, st: Styles, cons: Consolidation, created: datetime) -> None:
    sheet = Sheet(wb, st, RUN_SHEET, title_ja(cons, "実行情報"))
    settings = cons.settings
    facts = [("作成日時", jst(created)),
             ("作成ツール", f"kpisheet {__version__}"),
             ("KPI一覧", f"第{cons.catalogue.term}期 {Path(cons.catalogue.source_file).name}（{cons.catalogue.short_digest}）"),
             ("本部の設定", Path(settings.source).name if settings is not None else "（指定なし）")]
    for label, text in facts:
        put(sheet.ws, sheet.row, 0, label, st.label)
        put(sheet.ws, sheet.row, 1, text, st.text)
        sheet.row += 1
    sheet.skip()
    cols = [Column("No", 5, lambda r: r[0], "int"), Column("入力ファイル", 44, lambda r: Path(r[1]).name, "wrap"),
            Column("sha256", 70, lambda r: r[2])]
    head, _ = sheet.table(cols, [(i, f, h) for i, (f, h) in enumerate(cons.inputs, 1)], name="入力ファイル")
    sheet.ws.hide()
    print_setup(sheet.ws, RUN_SHEET, repeat=(head, head))


# ---------------------------------------------------------------- writing
def build_national(cons: Consolidation, path: Path, created: datetime) -> None:
    wb = xlsx_write.Workbook(str(path), workbook_options())
    wb.set_properties({"title": title_ja(cons, "全国集計表"), "author": "kpisheet", "company": "全国健康保険協会",
                       "created": created, "comments": f"kpisheet {__version__}"})
    wb.set_custom_property("kpisheet_report", f"national/FY{cons.fiscal_year}/{cons.month_key}")
    st = Styles(wb)
    sheet_overview(wb, st, cons)
    sheet_status(wb, st, cons)
    sheet_national(wb, st, cons)
    sheet_marks(wb, st, cons)
    sheet_branch_matrix(wb, st, cons)
    write_trend(wb, st, cons)
    sheet_terms(wb, st, cons)
    sheet_term_measures(wb, st, cons)
    sheet_findings(wb, st, cons)
    sheet_revisions(wb, st, cons)
    sheet_run(wb, st, cons, created)
    wb.worksheets()[0].activate()
    wb.close()


def write_national(cons: Consolidation, path: Path, *, force: bool, created: datetime | None = None) -> Path:
    """Write the national workbook atomically; an existing file is replaced only with force."""
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    with atomic_path(Path(path), force=force) as tmp:
        build_national(cons, tmp, created)
    return Path(path)
