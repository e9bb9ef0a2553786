"""The national plan summary HQ reads after collecting the branches' 事業計画: 全国_事業計画_FY<YEAR>.xlsx.

概要 · 支部別目標 · 施策の記載 · 検証結果

- 概要: who submitted, who submitted with errors and who has not, by name; per KPI the branches with
  a target, those that chose 対前年度以上, the targets below last year's value (by name, with or without
  a reason), the range and median of the numeric targets, and the implied national target — Σ見込者数
  ÷ Σ対象者数 for a rate whose plans give the counts, Σ targets for a count — with the branches it rests
  on, beside the 第6期末目標.
- 支部別目標: branches × KPIs, the target (a number, 「対前年度」 or 「文章」), coloured red for a target
  below last year without a reason, amber with one, grey where it is missing; ↑ → ↓ against last
  year's plan target when last year's plans are given.
- 施策の記載: branches × measures, the number of activities (★ 重点), 「→ measure」 where the branch
  wrote the measure's work under another one, 「—」 where a measure the plan must cover has nothing.
- 検証結果: every finding of every plan (file, sheet, cell, code, message).

Numbers are shown through kpisheet.domain.display (a percent target stored as its shown fraction,
formatted by display.number_format), tables are laid out by kpisheet.write.report.layout like the
national workbook, branch text is written as text, and the file is written atomically.
`implied_national_targets` is pure; it and the targets file (kpisheet.plan.season) take the national
target from kpisheet.domain.ratings.implied_national, as consolidation does.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from kpisheet import __version__, xlsx_write
from kpisheet.domain.catalogue import HQ_CODE, Catalogue, Kpi, Measure, catalogue_for_fy, prefecture_branches
from kpisheet.domain.display import format_value, number_format, shown, stored
from kpisheet.domain.findings import Finding
from kpisheet.domain.fiscal import wareki_fiscal_year
from kpisheet.domain.plan import PlanKpi, PlanMeasure, PlanSubmission
from kpisheet.domain.ratings import implied_national
from kpisheet.fileio import atomic_path
from kpisheet.write.report.layout import (
    Column,
    Sheet,
    Styles,
    lines_of,
    print_setup,
    row_height,
    workbook_options,
)
from kpisheet.write.report.national import finding_columns
from kpisheet.write.report.texts import branch_names, short_name, term_goal_ja

SHEETS = ("概要", "支部別目標", "施策の記載", "検証結果")
STATUS_OK, STATUS_ERRORS, STATUS_MISSING = "提出済", "エラーあり", "未提出"
# colours of 支部別目標 and 施策の記載
BELOW_BG = "#FFC7CE"  # below last year, no reason given
REASON_BG = "#FFEB9C"  # below last year, with the branch's reason
MISSING_BG = "#EDEDED"  # no target / nothing written / no plan
NAMES_SHOWN = 8  # branches named in one 概要 cell; more: how many more
# findings that mark a target as looser than its reference (plan validation): the target below its
# reference, laxer than the catalogue's fixed value, K6-2-08's condition
LOOSE_CODES = frozenset({"P402", "P403", "P407"})


def summary_name(fiscal_year: int) -> str:
    return f"全国_事業計画_FY{fiscal_year}.xlsx"


# ================================================================ the implied national target (pure)
@dataclass(frozen=True)
class ImpliedTarget:
    """What the branches' plans add up to for one KPI.

    value: display units (61.0 for 61.0%), unrounded — Σ見込者数 ÷ Σ対象者数 × 100 for a percent KPI,
    Σ targets for a count KPI; None when no plan gives what it needs.  branches: the plans it rests
    on; of: the branches the KPI applies to (the prefectural branches)."""

    value: float | None
    branches: int
    of: int
    basis: str  # "counts" (Σ見込者数 ÷ Σ対象者数) | "sum" (Σ targets) | "" (none defined for the KPI)


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def value_target(pk: PlanKpi | None) -> float | None:
    """The numeric target of a value-kind KPI, else None."""
    return _number(pk.target.value) if pk is not None and pk.kind == "value" else None


def implied_national_targets(plans: Mapping[str, PlanSubmission | None], catalogue: Catalogue, *,
                             fiscal_year: int | None = None) -> dict[str, ImpliedTarget]:
    """{kpi id: ImpliedTarget} for every branch KPI of the catalogue (of `fiscal_year` when given), as
    kpisheet.domain.ratings.implied_national decides it over the 47 branches' plans (本部's is left out):
    the one rule the targets file and consolidation take the national target from."""
    expected = [b.code for b in prefecture_branches()]
    out: dict[str, ImpliedTarget] = {}
    for kpi in catalogue.kpis:
        if kpi.scope != "branch" or (fiscal_year is not None and not kpi.applies_to(fiscal_year)):
            continue
        implied = implied_national(kpi, plans, expected)
        out[kpi.id] = ImpliedTarget(implied.value, len(implied.branches), len(expected), implied.basis)
    return out


def below_last_year(kpi: Kpi, pk: PlanKpi | None) -> bool:
    """A numeric target below last year's value as the plan states it (above it for a ≤ KPI), compared
    as shown."""
    target, expected = value_target(pk), _number(pk.expected.value) if pk is not None else None
    if target is None or expected is None:
        return False
    if kpi.direction == "<=":
        return shown(kpi, target) > shown(kpi, expected)
    return shown(kpi, target) < shown(kpi, expected)


def has_reason(pk: PlanKpi | None) -> bool:
    return pk is not None and isinstance(pk.reason.value, str) and pk.reason.value.strip() != ""


def change_arrow(kpi: Kpi, pk: PlanKpi | None, before: PlanKpi | None) -> str:
    """↑ ↓ → : this year's target against last year's plan target (numbers as shown; 対前年度 both years is →);
    '' when they cannot be compared."""
    if pk is None or before is None:
        return ""
    if pk.kind == "previous_year" and before.kind == "previous_year":
        return "→"
    new, old = value_target(pk), value_target(before)
    if new is None or old is None:
        return ""
    a, b = shown(kpi, new), shown(kpi, old)
    return "↑" if a > b else "↓" if a < b else "→"


# ================================================================ what the workbook states
@dataclass
class _Data:
    fiscal_year: int
    catalogue: Catalogue
    plans: dict[str, PlanSubmission | None]  # every prefectural branch (and 本部 when it sent one)
    findings: dict[str, list[Finding]]
    previous: Mapping[str, PlanSubmission]
    implied: dict[str, ImpliedTarget]
    names: dict[str, str]
    national_results: Mapping[str, float] = dataclasses.field(default_factory=dict)  # last year's, by KPI id

    @property
    def kpis(self) -> list[Kpi]:
        return [k for k in self.catalogue.kpis if k.scope == "branch" and k.applies_to(self.fiscal_year)]

    @property
    def measures(self) -> list[Measure]:
        return [m for m in self.catalogue.measures if m.scope != "hq"]

    @property
    def branches(self) -> list[str]:
        """The prefectural branches, in code order (本部's plan has only national KPIs)."""
        return [c for c in self.plans if c != HQ_CODE]

    def status(self, code: str) -> str:
        """提出済, エラーあり (errors in the plan, or a file sent that could not be read: no plan but
        findings), 未提出."""
        errors = any(f.is_error for f in self.findings.get(code, []))
        if self.plans.get(code) is None:
            return STATUS_ERRORS if errors else STATUS_MISSING
        return STATUS_ERRORS if errors else STATUS_OK

    def name(self, code: str) -> str:
        return short_name(self.names, code)

    def pk(self, code: str, kpi: Kpi) -> PlanKpi | None:
        plan = self.plans.get(code)
        return plan.kpis.get(kpi.id) if plan is not None else None

    def loose(self, code: str, kpi: Kpi) -> bool:
        """Below last year (from the plan's own figures) or flagged so by plan validation."""
        return below_last_year(kpi, self.pk(code, kpi)) or any(
            f.code in LOOSE_CODES and f.subject == kpi.id for f in self.findings.get(code, []))

    def all_findings(self) -> list[Finding]:
        return [f for code in sorted(self.findings) for f in self.findings[code]]


def _names_ja(names: list[str]) -> str:
    if not names:
        return "なし"
    more = f"、ほか{len(names) - NAMES_SHOWN}支部" if len(names) > NAMES_SHOWN else ""
    return "、".join(names[:NAMES_SHOWN]) + more


def _kpi_targets(d: _Data, kpi: Kpi) -> dict[str, PlanKpi]:
    """{branch: its PlanKpi} of the branches that set a target (a number, the rule, or a text)."""
    out = {}
    for code in d.branches:
        pk = d.pk(code, kpi)
        if pk is None:
            continue
        if (pk.kind == "previous_year" or value_target(pk) is not None
                or (pk.kind == "text" and isinstance(pk.target.value, str) and pk.target.value.strip())):
            out[code] = pk
    return out


def set_ja(d: _Data, kpi: Kpi) -> str:
    """「44支部\n数値 41\n対前年度 3」: how many branches set a target, then how many of each kind."""
    found = _kpi_targets(d, kpi)
    kinds = {"value": "数値", "previous_year": "対前年度", "text": "文章"}
    counts = [f"{label} {sum(1 for pk in found.values() if pk.kind == kind)}" for kind, label in kinds.items()
              if any(pk.kind == kind for pk in found.values())]
    return "\n".join([f"{len(found)}支部", *counts])


def rule_ja(d: _Data, kpi: Kpi) -> str:
    """The branches that chose 対前年度以上 (以下), by name; when most did, the others by name."""
    targets = _kpi_targets(d, kpi)
    found = [d.name(c) for c, pk in targets.items() if pk.kind == "previous_year"]
    others = [d.name(c) for c, pk in targets.items() if pk.kind != "previous_year"]
    if len(found) > NAMES_SHOWN and len(others) <= NAMES_SHOWN:  # most chose it: name the others
        return f"{len(found)}支部（ほかの支部：{'、'.join(others)}）" if others else f"{len(found)}支部（目標を設定した全支部）"
    return f"{len(found)}支部：{_names_ja(found)}" if found else "なし"


def below_ja(d: _Data, kpi: Kpi) -> str:
    """「山梨、長野（理由あり）」: the targets below last year's value (or flagged looser), by name."""
    found = [d.name(c) + ("（理由あり）" if has_reason(d.pk(c, kpi)) else "") for c in d.branches if d.loose(c, kpi)]
    return f"{len(found)}支部：{_names_ja(found)}" if found else "なし"


def range_ja(d: _Data, kpi: Kpi) -> str:
    """「58.0%〜70.2%\n中央値 63.1%」 of the numeric targets."""
    values = [v for pk in _kpi_targets(d, kpi).values() if (v := value_target(pk)) is not None]
    if not values:
        return "—"
    low, high = min(values), max(values)
    span = format_value(kpi, low) if low == high else f"{format_value(kpi, low)}〜{format_value(kpi, high)}"
    return f"{span}\n中央値 {format_value(kpi, statistics.median(values))}"


def implied_ja(d: _Data, kpi: Kpi) -> str:
    """「63.2%\n見込者数÷対象者数\n44/47支部」 or 「2,100事業所\n目標の合計\n44/47支部」, and last year's
    national result beneath when it is given."""
    t = d.implied.get(kpi.id)
    last = d.national_results.get(kpi.id)
    result = f"\n前年度の全国実績 {format_value(kpi, last)}" if last is not None else ""
    if t is None or not t.basis:
        return "—" + result
    how = "見込者数÷対象者数" if t.basis == "counts" else "目標の合計"
    if t.value is None:
        return "—（記入なし）" + result
    return f"{format_value(kpi, t.value)}\n{how}\n{t.branches}/{t.of}支部{result}"


# ================================================================ 概要
OVERVIEW_NOTE = ("※ 前年度を下回る目標：前年度の見込み（計画に記入した値）より低い目標（以下のKPIは高い目標）と、検証で"
                 "目標が緩いとされたもの。全国の目標（見込み）は、率のKPIは見込者数の合計÷対象者数の合計、件数のKPIは"
                 "数値目標の合計で、記入のあった支部だけから求めた参考値です（支部数を併記）。")


def overview_columns(d: _Data) -> list[Column]:
    return [Column("KPI", 16, lambda k: f"{k.id}\n{k.short_label}", "wrap"),
            Column("目標を設定した支部", 11, lambda k: set_ja(d, k), "wrap"),
            Column("対前年度を選んだ支部", 15, lambda k: rule_ja(d, k), "wrap"),
            Column("前年度を下回る目標", 18, lambda k: below_ja(d, k), "wrap"),
            Column("数値目標の範囲", 13, lambda k: range_ja(d, k), "wrap"),
            Column("全国の目標（見込み）", 20, lambda k: implied_ja(d, k), "wrap"),
            Column(f"第{d.catalogue.term}期末目標", 10, lambda k: term_goal_ja(k), "wrap")]


def overview_facts(d: _Data) -> list[tuple[str, str]]:
    by_status: dict[str, list[str]] = {STATUS_OK: [], STATUS_ERRORS: [], STATUS_MISSING: []}
    for code in d.branches:
        by_status[d.status(code)].append(d.name(code))
    every = d.all_findings()
    errors = sum(1 for f in every if f.is_error)
    submitted = len(by_status[STATUS_OK]) + len(by_status[STATUS_ERRORS])
    facts = [("提出状況", f"{len(d.branches)}支部中 提出 {submitted}（うち{STATUS_ERRORS} {len(by_status[STATUS_ERRORS])}）"
                       f" ／ {STATUS_MISSING} {len(by_status[STATUS_MISSING])}"),
             (STATUS_MISSING, "、".join(by_status[STATUS_MISSING]) or "なし"),
             (STATUS_ERRORS, ("、".join(by_status[STATUS_ERRORS]) or "なし")
              + f"（エラー {errors}件・警告 {len(every) - errors}件：「検証結果」シート）"),
             (STATUS_OK, "、".join(by_status[STATUS_OK]) or "なし")]
    if d.plans.get(HQ_CODE) is not None:
        facts.append(("本部", f"本部の計画：{d.status(HQ_CODE)}"))
    return facts


def sheet_overview(wb: Any, st: Styles, d: _Data) -> None:
    sheet = Sheet(wb, st, "概要", f"{wareki_fiscal_year(d.fiscal_year)} 事業計画 全国まとめ")
    columns = overview_columns(d)
    for i, c in enumerate(columns):
        sheet.set_width(i, i, c.width)
    last = len(columns) - 1
    text_width = sum(c.width for c in columns[1:])
    for label, text in overview_facts(d):
        sheet.ws.write_string(sheet.row, 0, label, st.label)
        sheet.ws.merge_range(sheet.row, 1, sheet.row, last, text, st.wrap)
        sheet.ws.set_row(sheet.row, row_height(max(lines_of(text, text_width), lines_of(label, columns[0].width))))
        sheet.row += 1
    sheet.skip()
    sheet.ws.write_string(sheet.row, 0, "KPIごとの目標", st.subtitle)
    sheet.ws.set_row(sheet.row, 24)
    sheet.row += 1
    sheet.note(OVERVIEW_NOTE, across=columns)
    head, _ = sheet.table(columns, d.kpis)
    sheet.note("※ 支部ごとの目標は「支部別目標」、施策ごとの記載は「施策の記載」シート。", across=columns)
    print_setup(sheet.ws, "概要", repeat=(head, head), scale=100)


# ================================================================ 支部別目標
MATRIX_NOTE = ("※ 数値は年間目標、「対前年度」は対前年度以上（以下のKPIは以下）、「文章」は文章の目標。"
               "赤＝前年度を下回る目標（目標の考え方なし）、黄＝同（考え方あり）、灰＝目標なし・未提出。")
ARROW_NOTE = "↑↓→は前年度の計画の目標との上下。"
NATION_ROW_NOTE = "「全国」の行は全国の目標（見込み：「概要」。＊は一部の支部から）。"
PARTIAL_MARK = "＊"  # after a national figure that rests on fewer than all branches


def _target_cell(d: _Data, code: str, kpi: Kpi) -> tuple[Any, str | None, str | None]:
    """(value, number format, background) of one matrix cell."""
    plan = d.plans.get(code)
    if plan is None:
        return "", None, MISSING_BG
    pk = plan.kpis.get(kpi.id)
    before = d.previous.get(code)
    arrow = change_arrow(kpi, pk, before.kpis.get(kpi.id) if before is not None else None)
    bg = (REASON_BG if has_reason(pk) else BELOW_BG) if d.loose(code, kpi) else None
    target = value_target(pk)
    if target is not None:
        return stored(kpi, target), number_format(kpi, suffix=arrow), bg
    if pk is not None and pk.kind == "previous_year":
        return "対前年度" + arrow, None, bg
    if pk is not None and pk.kind == "text" and isinstance(pk.target.value, str) and pk.target.value.strip():
        return "文章", None, bg
    return "未設定", None, MISSING_BG


def _kpi_column(d: _Data, kpi: Kpi) -> Column:
    def fmt(st: Styles, code: str) -> Any:
        if code == "":  # the nation's row
            t = d.implied.get(kpi.id)
            partial = PARTIAL_MARK if t is not None and t.branches < t.of else ""
            return st.fmt(number_format(kpi, suffix=partial) if t is not None and t.value is not None else None, None,
                          bold=True, align="right", bg_color="#F2F2F2")
        _value, num, bg = _target_cell(d, code, kpi)
        extra = {"bg_color": bg} if bg else {}
        return st.fmt(num, None, align="right", **extra)

    def cell(code: str) -> Any:
        if code == "":
            t = d.implied.get(kpi.id)
            return stored(kpi, t.value) if t is not None and t.value is not None else "—"
        return _target_cell(d, code, kpi)[0]

    head = f"{kpi.id.split('-', 1)[1]}\n{kpi.short_label}"
    return Column(head, 9, cell, fmt, wrap=False)


def matrix_key(d: _Data) -> list[Column]:
    return [Column("支部コード", 4.5, lambda c: c, "centre"),
            Column("支部", 7, lambda c: d.name(c) if c else "全国", "label"),
            Column("提出", 7, lambda c: d.status(c) if c else "",
                   lambda st, c: st.fmt(None, None, align="center", **({"bg_color": MISSING_BG}
                                                                      if c and d.status(c) == STATUS_MISSING else {})))]


def pillar_pages(ids: list[str], per_page: int) -> list[tuple[int, list[str]]]:
    """(pillar, ids) of each printed block: the ids of one pillar (ids 'K6-2-01', '6-2-II-1': the pillar is the
    second part) in blocks of at most `per_page`, balanced (13 in blocks of 7: 7 and 6)."""
    by_pillar: dict[int, list[str]] = {}
    for i in ids:
        by_pillar.setdefault(int(i.split("-")[1]), []).append(i)
    out: list[tuple[int, list[str]]] = []
    for pillar, members in by_pillar.items():
        pages = -(-len(members) // per_page)
        size = -(-len(members) // pages)
        for k in range(0, len(members), size):
            block = members[k:k + size]
            if out and len(block) < 3 and len(out[-1][1]) + len(block) <= per_page:  # a small pillar joins
                out[-1] = (out[-1][0], out[-1][1] + block)  # the block before (its title names both)
            else:
                out.append((pillar, block))
    return out


PAGE_SCALE = 85  # portrait pages printed at 85%: 10 pt text prints at 8.5 pt
BLOCK_ROW = 14.0  # one line of 10 pt text: a block's 47 branches and its head fit one portrait page


def stacked_blocks(sheet: Sheet, key: list[Column], blocks: list[tuple[str, list[Column]]], rows: list[str],
                   head_height: float) -> None:
    """Tables one under another, each on a printed page of its own: `key` columns (the branch) then the
    block's columns, under the block's subtitle.  Every page is a whole table with its head, portrait,
    at PAGE_SCALE (a matrix wider than a page is cut into blocks, never printed smaller)."""
    breaks = []
    for n, (subtitle, columns) in enumerate(blocks):
        if n:
            sheet.skip()
            breaks.append(sheet.row)
        sheet.ws.write_string(sheet.row, 0, subtitle, sheet.st.subtitle)
        sheet.ws.set_row(sheet.row, 24)
        sheet.row += 1
        head, last = sheet.table(key + columns, rows, head_height=head_height)
        for r in range(head + 1, last + 1):
            sheet.ws.set_row(r, BLOCK_ROW)
    sheet.ws.set_h_pagebreaks(breaks)
    print_setup(sheet.ws, sheet.name, landscape=False, scale=PAGE_SCALE)


def _head_lines(columns: list[Column]) -> float:
    return row_height(max(lines_of(c.title, c.width) for c in columns))


KPIS_PER_PAGE = 6  # 支部別目標: KPIs on one portrait page


def sheet_matrix(wb: Any, st: Styles, d: _Data) -> None:
    sheet = Sheet(wb, st, "支部別目標", f"{wareki_fiscal_year(d.fiscal_year)} 事業計画 支部別の年間目標")
    key, by_kpi = matrix_key(d), {k.id: _kpi_column(d, k) for k in d.kpis}
    blocks = [(_block_title(d, pillar, n, ids, pillar_pages([k.id for k in d.kpis], KPIS_PER_PAGE)),
               [by_kpi[i] for i in ids])
              for n, (pillar, ids) in enumerate(pillar_pages([k.id for k in d.kpis], KPIS_PER_PAGE))]
    page = key + [by_kpi[d.kpis[0].id]] * KPIS_PER_PAGE
    sheet.note(MATRIX_NOTE + (ARROW_NOTE if d.previous else "") + NATION_ROW_NOTE, across=page)
    stacked_blocks(sheet, key, blocks, [*d.branches, ""], _head_lines(list(by_kpi.values())))
    sheet.ws.freeze_panes(0, 3)


def _block_title(d: _Data, pillar: int, n: int, ids: list[str], pages: list[tuple[int, list[str]]]) -> str:
    """「2. 戦略的保険者機能の一層の発揮（2/2）」: the pillar of a block, and which of its blocks."""
    of_pillar = [i for i, (p, _ids) in enumerate(pages) if p == pillar]
    part = f"（{of_pillar.index(n) + 1}/{len(of_pillar)}）" if len(of_pillar) > 1 else ""
    more = sorted({int(i.split("-")[1]) for i in ids} - {pillar})
    return "／".join([f"{pillar}. {d.catalogue.pillar(pillar).label}{part}",
                     *(f"{p}. {d.catalogue.pillar(p).label}" for p in more)])


# ================================================================ 施策の記載
MEASURES_NOTE = ("※ 数字は事業内容の行数（★＝重点）、「→」は別の施策の中に記載（その施策のID）、「—」（赤）は記載なし。"
                 "灰は未提出。「独自」は支部独自の施策の数。列の見出しは施策IDの後半（1-I＝6-1-I）。")


def _short_id(measure_id: str) -> str:
    return measure_id.split("-", 1)[1] if "-" in measure_id else measure_id


def _measure_cell(d: _Data, code: str, m: Measure) -> tuple[Any, str | None, str | None]:
    """(value, number format, background) of one 施策の記載 cell."""
    plan = d.plans.get(code)
    if plan is None:
        return "", None, MISSING_BG
    pm: PlanMeasure | None = plan.measures.get(m.id)
    written = [i for i in pm.items if isinstance(i.text.value, str) and i.text.value.strip()] if pm else []
    if written:
        return len(written), '0"★"' if pm is not None and pm.focus else "0", None
    if pm is not None and pm.covered_by:
        return f"→{_short_id(pm.covered_by)}", None, None
    if m.plan_required:
        return "—", None, BELOW_BG
    return "", None, None


def _measure_column(d: _Data, m: Measure) -> Column:
    def fmt(st: Styles, code: str) -> Any:
        _v, num, bg = _measure_cell(d, code, m)
        return st.fmt(num, None, align="center", **({"bg_color": bg} if bg else {}))

    return Column(_short_id(m.id), 6, lambda code: _measure_cell(d, code, m)[0], fmt, wrap=False)


def _own_measures(d: _Data, code: str) -> int | str:
    plan = d.plans.get(code)
    return "" if plan is None else sum(1 for mid in plan.measures if mid.startswith("B-"))


MEASURES_PER_PAGE = 9  # 施策の記載: measures on one portrait page


def sheet_measures(wb: Any, st: Styles, d: _Data) -> None:
    sheet = Sheet(wb, st, "施策の記載", f"{wareki_fiscal_year(d.fiscal_year)} 事業計画 施策ごとの記載")
    key = [Column("支部コード", 4.5, lambda c: c, "centre"), Column("支部", 7, lambda c: d.name(c), "label")]
    by_id = {m.id: _measure_column(d, m) for m in d.measures}
    pages = pillar_pages([m.id for m in d.measures], MEASURES_PER_PAGE)
    blocks = [(_block_title(d, pillar, n, ids, pages), [by_id[i] for i in ids]) for n, (pillar, ids) in enumerate(pages)]
    blocks[-1][1].append(Column("独自", 5, lambda c: _own_measures(d, c), lambda st, c: st.fmt("0", None, align="center")))
    page = key + [by_id[d.measures[0].id]] * MEASURES_PER_PAGE
    sheet.note(MEASURES_NOTE, across=page)
    stacked_blocks(sheet, key, blocks, d.branches, row_height(2))
    sheet.note("※ 施策：" + _measure_legend(d), across=page)
    sheet.ws.freeze_panes(0, 2)


def _measure_legend(d: _Data) -> str:
    return "、".join(f"{_short_id(m.id)} {m.label}" for m in d.measures) + "。"


# ================================================================ 検証結果
def sheet_findings(wb: Any, st: Styles, d: _Data) -> None:
    sheet = Sheet(wb, st, "検証結果", f"{wareki_fiscal_year(d.fiscal_year)} 事業計画 検証結果")
    columns = finding_columns()
    sheet.note("各支部の計画を検証した結果です。エラーは直して再提出が必要、警告は確認のうえ値が正しければ対応不要です。",
               across=columns)
    head, _ = sheet.table(columns, d.all_findings(), name="検証結果")
    sheet.ws.freeze_panes(head + 1, 0)
    print_setup(sheet.ws, "検証結果", repeat=(head, head))


# ================================================================ writing
def build_summary(d: _Data, path: Path, created: datetime) -> None:
    wb = xlsx_write.Workbook(str(path), workbook_options())
    wb.set_properties({"title": f"{wareki_fiscal_year(d.fiscal_year)} 事業計画 全国まとめ", "author": "kpisheet",
                       "company": "全国健康保険協会", "created": created, "comments": f"kpisheet {__version__}"})
    wb.set_custom_property("kpisheet_report", f"plan_summary/FY{d.fiscal_year}")
    st = Styles(wb)
    sheet_overview(wb, st, d)
    sheet_matrix(wb, st, d)
    sheet_measures(wb, st, d)
    sheet_findings(wb, st, d)
    wb.worksheets()[0].activate()
    wb.close()


def summary_data(plans: Mapping[str, PlanSubmission | None], findings: Mapping[str, list[Finding]],
                 fiscal_year: int, *, previous: Mapping[str, PlanSubmission] | None = None,
                 national_results: Mapping[str, float] | None = None, catalogue: Catalogue | None = None) -> _Data:
    catalogue = catalogue or catalogue_for_fy(fiscal_year)
    every = {b.code: plans.get(b.code) for b in prefecture_branches()}
    if plans.get(HQ_CODE) is not None:
        every = {HQ_CODE: plans[HQ_CODE], **every}
    return _Data(fiscal_year, catalogue, every, {c: list(f) for c, f in findings.items()}, previous or {},
                 implied_national_targets(every, catalogue, fiscal_year=fiscal_year), branch_names(),
                 dict(national_results or {}))


def write_plan_summary(plans: Mapping[str, PlanSubmission | None], findings: Mapping[str, list[Finding]],
                       fiscal_year: int, out_dir: Path, *, previous: Mapping[str, PlanSubmission] | None = None,
                       national_results: Mapping[str, float] | None = None, force: bool = True,
                       created: datetime | None = None) -> list[Path]:
    """Write 全国_事業計画_FY<YEAR>.xlsx into out_dir (atomically); return the paths written.

    plans: by branch code, None for a branch that has not submitted (a branch absent from the mapping
    is not submitted either); findings: by branch code, every finding of the branch's plan.
    previous: last year's plans by branch code (the ↑→↓ of 支部別目標).  national_results: last year's
    national result by KPI id in display units (61.2 for 61.2%; the ledger's year-end values), shown
    under the implied national target on 概要."""
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    d = summary_data(plans, findings, fiscal_year, previous=previous, national_results=national_results)
    final = Path(out_dir) / summary_name(fiscal_year)
    with atomic_path(final, force=force) as tmp:
        build_summary(d, tmp, created)
    return [final]
