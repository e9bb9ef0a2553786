"""How the report states a figure: results with their data month, targets, 前年同月比.

Numbers themselves are rounded, printed and formatted by kpisheet.domain.display (re-exported here
as num_format, stored, change_format, change_ja for the report's modules).

Shared by the national workbook, the lists workbook, the 実施状況 sheets and branch feedback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from kpisheet.domain.catalogue import HQ_CODE, Kpi, load_branches
from kpisheet.domain.display import change_format  # noqa: F401 (re-exported for the report's modules)
from kpisheet.domain.display import excellent_threshold, format_value, stored
from kpisheet.domain.display import format_change as change_ja  # noqa: F401 (re-exported)
from kpisheet.domain.display import number_format as num_format  # noqa: F401 (re-exported; only 円 carries its unit)
from kpisheet.domain.fiscal import parse_month, wareki_fiscal_year, wareki_month
from kpisheet.domain.ratings import (
    MARK_LABELS_JA,
    MARKS,
    NO_RESULT,
    NO_RESULT_REASONS,
    TARGET_SOURCES,
    Rating,
    as_of_ja,
    with_month,
)

if TYPE_CHECKING:
    from kpisheet.consolidate.model import BranchKpi, Consolidation, NationalKpi, YearOnYear

# how a mark is decided, said wherever marks are shown (issue 9: nothing is pro-rated)
RULE_JA = "評価は、データが届いている最新月の実績を年間目標と比べて行います（按分しません）。進捗は参考値です。"
PROGRESS_JA = ("進捗（参考）＝実績÷（年間目標×データの月数÷12）。100%で年間目標のペース。"
               "年度の中で積み上がる指標（受診率・実施率・アクセス数）だけに示します。")
PROGRESS_FORMAT = "0%"
LEGEND_JA = "結果：" + "・".join(f"「{m}{MARK_LABELS_JA[m]}」" for m in MARKS[:4])


def dash_reasons_ja(ratings: Iterable[Rating]) -> str:
    """Why the 「—」 of a sheet: 「—は評価できない：前年度実績なし・未報告」, the reasons present, in a fixed order."""
    present = {r.reason_code for r in ratings if r.mark == NO_RESULT and r.reason_code}
    reasons = [ja for code, (ja, _) in NO_RESULT_REASONS.items() if code in present]
    return f"—は評価できない：{'・'.join(reasons)}" if reasons else "—は評価できない"


CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"  # how the plans number a measure's activities


def circled(n: int) -> str:
    """「③」 for 3; 「(21)」 past ⑳."""
    return CIRCLED[n - 1] if 1 <= n <= len(CIRCLED) else f"({n})"


def title_ja(cons: Consolidation, what: str) -> str:
    return f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画KPI {what}（{wareki_month(cons.month)}分）"


def branch_names() -> dict[str, str]:
    """'11' → '埼玉支部' (本部 is '本部')."""
    return {b.code: b.display_name for b in load_branches()}


def short_name(names: dict[str, str], code: str) -> str:
    """'埼玉' — a branch's name without 支部, for lists and narrow columns."""
    return names.get(code, code).removesuffix("支部")


def reporting_branches(cons: Consolidation) -> list[str]:
    """Codes of the prefectural branches, in code order (本部 left out)."""
    return [s.code for s in cons.statuses if s.code != HQ_CODE]


# ---------------------------------------------------------------- data months, targets, 進捗
def coverage_ja(kpi: Kpi, national: NationalKpi) -> str:
    """Beside a national mark: 「44/47支部」, 「集計中（44/47支部）」 where the mark waits for every branch,
    「44/47支部（同じ支部の前年度と比較）」 where a count was rated like for like, 「本部」 for a KPI only
    本部 reports; '' for a qualitative KPI (no national figure)."""
    if kpi.kind == "qualitative":
        return ""
    if kpi.scope != "branch":
        return "本部"
    n, of = national.coverage
    if national.branches_met is not None:  # K6-2-08 counts the branches judged on their own latest month
        n = national.branches_met[1]
    if national.rating.reason_code == "pending":
        return f"集計中（{n}/{of}支部）"
    if kpi.kind == "count" and 0 < n < of and national.rating.effective_target != national.annual_target:
        return f"{n}/{of}支部（同じ支部の前年度と比較）"
    return f"{n}/{of}支部"


RANK_NOTE_JA = ("順位は、年度の中で積み上がる指標（受診率・実施率）は進捗（年間目標に対する月割りの達成度）で比較し、"
                "データが1か月早く止まっている支部も届いている月数で比べます。それ以外の指標は達成度"
                "（実績÷年間目標。≦の指標は年間目標÷実績）で比較します。")


def data_month_ja(key: str | None) -> str:
    """'R6.1' — the month a result's data reach, for a 「データ時点」 column ('' when no data)."""
    return as_of_ja(parse_month(key)).removesuffix("現在") if key else ""


def result_ja(kpi: Kpi, value: float | None, key: str | None) -> str:
    """「42.6%（R6.1現在）」: a result as text always names the month of its data."""
    return with_month(kpi, value, parse_month(key) if key else None)


def term_goal_head(cons: Consolidation) -> str:
    return f"第{cons.catalogue.term}期末目標（参考）"


def term_goal_ja(kpi: Kpi) -> str:
    """「64.8%以上」「対前年度以上」: the plan term's goal, shown as reference beside a target."""
    return kpi.term_goal.describe_ja(kpi)


def source_ja(key: str | None, term: int) -> str:
    """Where a target came from: 「支部が入力した目標」「第6期末目標（年度目標の指定なし）」 …"""
    if not key or key not in TARGET_SOURCES:
        return ""
    name = TARGET_SOURCES[key][0]
    return f"第{term}{name}" if key == "term_goal" else name


def target_text(kpi: Kpi, annual: float | None, basis: str) -> str:
    """KPI目標 as the 埼玉 status report writes it: 「53.8%以上」「20%以下」, or the basis when there is no number."""
    if kpi.kind == "qualitative":
        return kpi.target.text or ""
    if annual is None:
        return basis
    return f"{kpi.format_value(annual)}{'以上' if kpi.direction == '>=' else '以下'}"


def kpi_sentence_ja(kpi: Kpi, annual: float | None, baseline: float | None) -> str:
    """The KPI as the association's 実施状況 states it, written from the catalogue's rule (never from where
    the number came from: HQ's prefilled target, the branch's, --targets):

    * 対前年度 (rule baseline): 「…の査定額を前年度（8,364円）以上とする」 with last year's value, 「…を対前年度
      以下とする」 without one; 「…を年度末時点で前年度（81.9%）以上とする」 where the rule says 年度末時点で;
    * ジェネリック (generic_conditional): last year at 80% or above → 「…を年度末時点で前年度（81.8%）以上とする」,
      below (or unknown) → 「…を80.0%以上とする」;
    * any other rule: the annual target, 「生活習慣病予防健診実施率を53.8%以上とする」;
    * no target at all: 「【KPI】<label>」; a qualitative KPI: its label (already a sentence)."""
    if kpi.kind == "qualitative":
        return kpi.label
    side = "以上" if kpi.direction == ">=" else "以下"
    rule = kpi.target
    when = "年度末時点で" if rule.year_end else ""
    if rule.rule == "baseline":
        if baseline is not None:
            return f"{kpi.label}を{when}前年度（{kpi.format_value(baseline)}）{side}とする"
        return f"{kpi.label}を{when}対前年度{side}とする"
    if rule.rule == "generic_conditional" and rule.value is not None:
        if baseline is not None and baseline >= rule.value:  # as ratings.annual_target decides
            return f"{kpi.label}を{when}前年度（{kpi.format_value(baseline)}）{side}とする"
        return f"{kpi.label}を{kpi.format_value(rule.value)}{side}とする"
    if annual is None:
        return f"【KPI】{kpi.label}"
    return f"{kpi.label}を{kpi.format_value(annual)}{side}とする"


def kpi_result_text(kpi: Kpi, bk: BranchKpi) -> str:
    """KPI結果 as the 埼玉 status report writes it: 「42.6%（R6.1現在）」; 「—（未報告）」 without a result."""
    if kpi.kind == "qualitative":
        return bk.text or "—"
    if bk.value is None:
        return f"—（{bk.rating.reason_ja}）" if bk.rating.reason_ja else "—"
    return result_ja(kpi, bk.value, bk.data_month)


def excellent_ja(kpi: Kpi, national_target: float | None = None) -> str:
    """The ◎ threshold: 「目標×1.1以上」 (and the national figure it means: 「全国 71.3%以上」).

    The national figure is display.excellent_threshold: the first shown value that gets ◎ (target
    64.1% → 「全国 70.6%以上」, since 70.5% is ○), never target × 1.1 rounded to the nearest."""
    t = kpi.excellent_threshold
    if kpi.kind == "qualitative" or not t:
        return "—"
    factor = 1 + t if kpi.direction == ">=" else 1 - t
    side = "以上" if kpi.direction == ">=" else "以下"
    text = f"目標×{factor:g}{side}"
    if national_target is not None:
        text += f"（全国 {format_value(kpi, excellent_threshold(kpi, national_target))}{side}）"
    return text


def annual_target_cell(kpi: Kpi, national: NationalKpi) -> float | str | None:
    """The national annual target as stored in a cell, or its basis text when there is none."""
    if national.branches_met is not None:
        return "全支部"
    if national.annual_target is None:
        return national.target_basis
    return stored(kpi, national.annual_target)


def national_value(kpi: Kpi, national: NationalKpi) -> float | str | None:
    """The national figure as stored in a cell: a number, or 「39/44支部」 where the nation is
    judged by the branches that met their own condition (K6-2-08)."""
    if national.branches_met is not None:
        met, reporting = national.branches_met
        return f"{met}/{reporting}支部"
    return stored(kpi, national.value)


def national_result_ja(kpi: Kpi, national: NationalKpi) -> str:
    """「62.1%（R6.8現在）」 or 「26/45支部（R6.8現在）」."""
    if national.branches_met is not None:
        met, reporting = national.branches_met
        month = f"（{as_of_ja(parse_month(national.data_month), kpi)}）" if national.data_month else ""
        return f"{met}/{reporting}支部{month}"
    if national.value is None:
        return "—"
    return result_ja(kpi, national.value, national.data_month)


def pooled_note(kpi: Kpi, national: NationalKpi) -> str:
    """「参考：全国のジェネリック使用割合 81.2%（R6.10現在）」 beside a 39/44支部 figure; '' otherwise."""
    if national.branches_met is None or national.value is None:
        return ""
    return (f"参考：全国の{kpi.short_label} {result_ja(kpi, national.value, national.data_month)}"
            f"（{len(national.covered)}支部の分子・分母の合計から算出）")


# ---------------------------------------------------------------- 前年同月比
def year_on_year_note(yoy: YearOnYear) -> str:
    """「R5.8と比較」, or why there is no comparison."""
    if yoy.previous is not None:
        return f"{data_month_ja(yoy.previous_month)}と比較"
    return yoy.reason_ja


def no_comparison_note(cons: Consolidation) -> str:
    """The KPIs without 前年同月比 and why, for a sheet's foot."""
    if cons.previous_year is None:
        return "※ 前年同月：台帳を使わずに集計したため表示していません。"
    items = [f"{k}（{ja}）" for k, (ja, _en) in cons.no_comparison.items()
             if cons.catalogue.kpi(k).kind != "qualitative"]
    head = "※ 前年同月はデータ時点と同じ月の前年度の実績（台帳の記録）。前年差は今年度の実績－前年同月の実績（％の指標はポイント）。"
    return head + (f"比較しないKPI：{'、'.join(items)}" if items else "")


def pillar_ja(cons: Consolidation, measure_id: str) -> str:
    """「1 基盤的保険者機能の盤石化」: the pillar a measure belongs to, named on every row of a list."""
    pillar = cons.catalogue.pillar(cons.catalogue.measure(measure_id).pillar)
    return f"{pillar.no} {pillar.label}"
