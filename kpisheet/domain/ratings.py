"""Stage 5 — ratings: the annual target of a KPI, and the mark (◎ ○ △ —) of a result against it.

The rule is the association's own (「令和5年度 埼玉支部事業計画実施状況（概要版）」; README
"Ratings"): the latest result the data reach — whatever month that is — against the
**annual** target.  ○ when the target is met; ◎ when it is beaten by the KPI's
excellent_threshold relative to the target (≥ KPIs: result ≥ target × (1 + t); ≤ KPIs:
result ≤ target × (1 − t)); △ when missed; — when there is no result or no target, with
the reason.  Nothing is pro-rated: how far along the year a growing KPI is (進捗) is a
separate figure (`progress`), never the mark.  × is only ever a branch's self-rating.

The decision is taken on the values as shown (display.shown: half up at the KPI's decimals; a
99.965% shown as 100.0% meets a 100.0% target), and ◎ on the threshold as shown
(display.excellent_threshold), so a shown value or threshold never contradicts its mark.

The annual target comes, in order, from: what the workbook's target cell holds (typed by
the branch, or prefilled by HQ and kept — a kept value HQ prefilled from the branch's approved
事業計画 is the plan's); HQ's --targets file; the branch's approved 事業計画 (a `value` target);
the KPI's rule (対前年度以上 → the previous-year value; K6-2-08's condition); for fixed KPIs the
catalogue's value (the term goal).  Where it came from is kept (AnnualTarget.source).
A 対前年度 target is the rule applied at rating time, never a number frozen when the
workbook was made: HQ does not prefill its target cell, and the previous-year value is
HQ's (`previous_year_value`: the latest --baseline, else what HQ prefilled, else what
the branch typed where HQ had none), so a corrected previous-year value moves the target.

All functions are pure: no IO, no workbook, no catalogue loading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from kpisheet.domain.catalogue import Kpi, Target
from kpisheet.domain.display import excellent_threshold, same_shown, shown
from kpisheet.domain.fiscal import months_elapsed, wareki_short
from kpisheet.domain.plan import PlanSubmission

EXCELLENT, MET, MISSED, NOT_DONE, NO_RESULT = "◎", "○", "△", "×", "—"
MARKS = (EXCELLENT, MET, MISSED, NOT_DONE, NO_RESULT)
MARK_LABELS_JA = {EXCELLENT: "計画を大幅に上回る", MET: "計画通り", MISSED: "計画を下回る",
                  NOT_DONE: "未実施", NO_RESULT: "評価できない"}

# reason codes of a "—" mark, with what a person reads
NO_RESULT_REASONS = {
    "not_reported": ("未報告", "not yet reported"),
    "after_year_end": ("年度終了後に集計", "compiled after the fiscal year ends (no in-year figure)"),
    "no_baseline": ("前年度実績なし", "no previous-year value (baseline)"),
    "no_target": ("目標未設定", "no target set"),
    "excluded_error": ("エラーにより除外", "excluded by an error"),
    "not_applicable": ("対象外", "not applicable in this month"),
    "pending": ("集計中", "not every branch is counted yet"),  # a national count over fewer branches
}

# where an annual target came from (AnnualTarget.source), with what a person reads
TARGET_SOURCES = {
    "workbook_hq": ("本部記入済みの目標", "target prefilled by HQ in the workbook"),
    "workbook_branch": ("支部が入力した目標", "target typed by the branch"),
    "workbook_changed": ("支部が修正した目標", "HQ's prefilled target, changed by the branch"),
    "targets_file": ("本部の目標値ファイル", "HQ's --targets file"),
    "plan": ("事業計画の目標", "the target of the branch's approved 事業計画"),
    "previous_year": ("前年度実績（対前年度）", "previous-year value (対前年度)"),
    "generic_condition": ("80%以上／80%以上の支部は対前年度以上", "80%, or the previous year where at 80% already"),
    "catalogue": ("全国共通の目標", "the catalogue's fixed target"),
    "term_goal": ("期末目標（年度目標の指定なし）", "the term goal (no annual target given)"),
}

@dataclass(frozen=True)
class AnnualTarget:
    """The target a result is judged against this year, and how it was set."""

    value: float | None
    source: str | None  # a TARGET_SOURCES key; None when no target could be set
    basis_ja: str
    basis_en: str
    reason_code: str | None = None  # no_target | no_baseline when value is None

    @property
    def source_ja(self) -> str:
        return TARGET_SOURCES[self.source][0] if self.source else ""


@dataclass(frozen=True)
class Rating:
    mark: str
    basis_ja: str
    basis_en: str
    effective_target: float | None = None  # the annual target the mark used
    reason_code: str | None = None  # why "—" (see NO_RESULT_REASONS); None otherwise
    target_source: str | None = None  # TARGET_SOURCES key

    @property
    def reason_ja(self) -> str:
        return NO_RESULT_REASONS[self.reason_code][0] if self.reason_code else ""

    def to_dict(self) -> dict[str, object]:
        return {"mark": self.mark, "basis_ja": self.basis_ja, "basis_en": self.basis_en,
                "effective_target": self.effective_target, "reason_code": self.reason_code,
                "target_source": self.target_source}


def no_result(reason_code: str, detail_ja: str = "", detail_en: str = "",
              target: AnnualTarget | None = None) -> Rating:
    ja, en = NO_RESULT_REASONS[reason_code]
    return Rating(NO_RESULT, f"{ja}{'（' + detail_ja + '）' if detail_ja else ''}",
                  f"{en}{' (' + detail_en + ')' if detail_en else ''}",
                  target.value if target else None, reason_code, target.source if target else None)


# ---------------------------------------------------------------- the annual target
def _cmp(kpi: Kpi) -> str:
    return "以上" if kpi.direction == ">=" else "以下"


def same_value(kpi: Kpi, a: float, b: float) -> bool:
    """Equal at the KPI's shown precision (what a person compares)."""
    return same_shown(kpi, a, b)


def annual_target(kpi: Kpi, *, typed: float | None = None, prefilled: float | None = None,
                  hq_target: float | None = None, baseline: float | None = None,
                  rule: Target | None = None, plan_target: float | None = None,
                  prefilled_from_plan: bool = False) -> AnnualTarget:
    """This year's target of one branch (or, with rule=national rule, the nation).

    typed: the workbook's target cell; prefilled: what HQ wrote into that cell when it
    generated the workbook (None if unknown); prefilled_from_plan: HQ took that value from the
    branch's approved 事業計画 (_meta prefill_sources); hq_target: HQ's --targets file;
    plan_target: the approved 事業計画's target (value kind); baseline: the previous-year value.
    """
    rule = rule or kpi.target
    fmt, cmp = kpi.format_value, _cmp(kpi)
    if rule.rule == "fixed_text":
        return AnnualTarget(None, None, rule.text or "定性的目標", "qualitative target")
    if typed is not None:
        if prefilled is not None and same_value(kpi, typed, prefilled):
            src = "plan" if prefilled_from_plan else "workbook_hq"
        elif prefilled is not None:
            src = "workbook_changed"
        else:
            src = "workbook_branch"
        extra = ""
        if src == "workbook_changed":
            extra = f"。{'事業計画の目標' if prefilled_from_plan else '本部の送付値'}は {fmt(prefilled)}"
        return AnnualTarget(typed, src, f"目標 {fmt(typed)}{cmp}（{TARGET_SOURCES[src][0]}{extra}）",
                            f"target {typed:g} ({TARGET_SOURCES[src][1]})")
    if hq_target is not None:
        return AnnualTarget(hq_target, "targets_file", f"目標 {fmt(hq_target)}{cmp}（本部の目標値ファイル）",
                            f"target {hq_target:g} (HQ's --targets file)")
    if plan_target is not None:
        return AnnualTarget(plan_target, "plan", f"目標 {fmt(plan_target)}{cmp}（事業計画の目標）",
                            f"target {plan_target:g} (the branch's approved 事業計画)")
    return _by_rule(kpi, rule, baseline)


# ---------------------------------------------------------------- targets from approved plans
def plan_target(plan: PlanSubmission | None, kpi_id: str) -> float | None:
    """The approved 事業計画's target of one KPI, display units: a `value` target that is a number;
    None for a 対前年度 (`previous_year`) or `text` target, or where the plan says none."""
    pk = plan.kpis.get(kpi_id) if plan is not None else None
    if pk is None or pk.kind != "value":
        return None
    v = pk.target.value
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _count(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        return None
    return float(v)


def plan_counts(plan: PlanSubmission | None, kpi: Kpi) -> tuple[float, float] | None:
    """(対象者数, 見込者数) of a KPI in a plan whose target is a number, when they can enter a national sum:
    a population above 0 and planned people from 0 to the population (a plan with 見込者数 above its
    対象者数 is P405, an error).  A KPI sharing another's population (catalogue plan.shared_with) takes
    that KPI's 対象者数 when its own is blank."""
    pk = plan.kpis.get(kpi.id) if plan is not None else None
    if plan is None or pk is None or pk.kind != "value":
        return None
    population = _count(pk.population.value)
    if population is None and kpi.plan is not None and kpi.plan.shared_with:
        shared = plan.kpis.get(kpi.plan.shared_with)
        population = _count(shared.population.value) if shared is not None else None
    planned = _count(pk.planned.value)
    if population is None or planned is None or population <= 0 or planned > population:
        return None
    return population, planned


@dataclass(frozen=True)
class ImpliedNational:
    """What the branches' plans imply for the nation's target of one KPI (the one rule: the plan summary,
    the targets file and consolidation all take it from `implied_national`).

    basis: "counts" (Σ見込者数 ÷ Σ対象者数, a percent KPI that takes them), "sum" (Σ targets, a count KPI),
    "" (none defined: yen per case, a rate without counts, qualitative).  value: display units at the
    KPI's shown precision (as a branch writes a target), over `branches`, the plans that give the
    figures; None when none does."""

    basis: str
    value: float | None
    branches: tuple[str, ...] = ()
    population: float | None = None
    planned: float | None = None

    def covers(self, expected: Sequence[str]) -> bool:
        """Every branch of `expected` gives the figures (so the value speaks for the nation)."""
        return bool(expected) and set(expected) <= set(self.branches)


def implied_national(kpi: Kpi, plans: Mapping[str, PlanSubmission | None], expected: Sequence[str]
                     ) -> ImpliedNational:
    """The nation's target the plans of the `expected` branches imply (see ImpliedNational)."""
    if kpi.kind == "count":
        targets = {c: t for c in expected if (t := plan_target(plans.get(c), kpi.id)) is not None}
        total = float(shown(kpi, sum(targets.values()))) if targets else None
        return ImpliedNational("sum", total, tuple(targets))
    takes = kpi.plan.takes_counts if kpi.plan is not None else any(plan_counts(plans.get(c), kpi) for c in expected)
    if kpi.kind != "ratio" or not kpi.is_percent or not takes:
        return ImpliedNational("", None)
    counts = {c: n for c in expected if (n := plan_counts(plans.get(c), kpi)) is not None}
    population = sum(n for n, _ in counts.values())
    planned = sum(p for _, p in counts.values())
    rate = kpi.rate(planned, population) if counts else None
    return ImpliedNational("counts", None if rate is None else float(shown(kpi, rate)), tuple(counts),
                           population if counts else None, planned if counts else None)


def implied_national_target(kpi: Kpi, plans: Mapping[str, PlanSubmission], expected: list[str]
                            ) -> tuple[float | None, int]:
    """(the nation's target the branches' approved plans imply, how many branches it rests on): the
    value of `implied_national` only where every branch in `expected` gives the figures (None
    otherwise, with the count of branches that do): a national result over all branches is not judged
    against a target that speaks for some of them (README, decisions)."""
    implied = implied_national(kpi, plans, expected)
    return (implied.value if implied.covers(expected) else None), len(implied.branches)


def _by_rule(kpi: Kpi, rule: Target, baseline: float | None) -> AnnualTarget:
    fmt, cmp = kpi.format_value, _cmp(kpi)
    if rule.rule == "fixed" and rule.value is not None:
        return AnnualTarget(rule.value, "catalogue", f"目標 {fmt(rule.value)}{cmp}（全国共通の目標）",
                            f"target {rule.value:g} (fixed in the catalogue)")
    if rule.rule == "baseline":
        if baseline is None:
            return AnnualTarget(None, None, "前年度実績なし", "no previous-year value", "no_baseline")
        return AnnualTarget(baseline, "previous_year", f"対前年度{cmp}（前年度実績 {fmt(baseline)}）",
                            f"previous year's value {baseline:g}")
    if rule.rule == "generic_conditional":
        floor = rule.value or 0.0
        if baseline is not None and baseline >= floor:
            return AnnualTarget(baseline, "generic_condition",
                                f"対前年度以上（前年度実績 {fmt(baseline)} が{fmt(floor)}以上のため）",
                                f"previous year's value {baseline:g} (already at {floor:g} or more)")
        why = "前年度実績が80%未満のため" if baseline is not None else "前年度実績がないため"
        return AnnualTarget(floor, "generic_condition", f"目標 {fmt(floor)}以上（{why}）",
                            f"target {floor:g} (previous year below it or unknown)")
    return AnnualTarget(None, None, "目標未設定", "no target set", "no_target")


# where the previous-year value a rating uses came from (BranchKpi.baseline_source), as a person reads it
BASELINE_SOURCES = {"hq_file": "本部の前年度値ファイル", "prefilled": "本部記入済み（ブック）",
                    "workbook": "支部が入力（ブック）"}


def previous_year_value(*, hq_file: float | None, prefilled: float | None,
                        workbook: float | None) -> tuple[float | None, str]:
    """(value, BASELINE_SOURCES key or '') of the previous-year value in force at rating time.

    The previous-year value is HQ's figure: HQ's latest --baseline wins, then the value HQ
    prefilled when it generated the workbook; the branch's own value only where HQ has none.
    A branch's change to a prefilled value is warned about (W420), never used: lowering it
    would make the branch's own target easier."""
    for value, key in ((hq_file, "hq_file"), (prefilled, "prefilled"), (workbook, "workbook")):
        if value is not None:
            return value, key
    return None, ""


def follows_rule(kpi: Kpi, typed: float | None, *, prefilled: float | None, rule_target: bool) -> bool:
    """A target cell that only restates the 対前年度 rule: in a workbook made before _meta recorded
    prefilled baselines, HQ froze last year's value there; kept unchanged, it means "follows the rule"."""
    return (rule_target and typed is not None and prefilled is not None
            and kpi.target.rule in ("baseline", "generic_conditional") and same_value(kpi, typed, prefilled))


# ---------------------------------------------------------------- the mark
def mark_for(kpi: Kpi, result: float, target: float) -> str:
    """◎ ○ △ of a result against a target, by the KPI's direction, on the shown values:
    ◎ from the shown ◎ threshold on, ○ from the shown target on (display.shown, excellent_threshold)."""
    r, goal, line = shown(kpi, result), shown(kpi, target), excellent_threshold(kpi, target)
    if r.is_nan() or goal.is_nan():
        return MISSED
    if kpi.direction == "<=":
        return EXCELLENT if r <= line else MET if r <= goal else MISSED
    return EXCELLENT if r >= line else MET if r >= goal else MISSED


def as_of_ja(month: date, kpi: Kpi | None = None) -> str:
    """'R6.1現在' — how the association's 実施状況 names the month a result's data reach; 'R5.11診療' for a
    KPI whose months are months of care (claims data, the catalogue's data_lag.claims_month), as the
    令和5年度 埼玉支部事業計画実施状況 writes 「82.9%（R5.11診療）」."""
    return f"{wareki_short(month)}{'診療' if kpi is not None and kpi.lag_claims else '現在'}"


def with_month(kpi: Kpi, value: float | None, month: date | None) -> str:
    """「42.6%（R6.1現在）」「84.8%（R6.6診療）」: a result always names the month of its data."""
    if value is None:
        return "—"
    return f"{kpi.format_value(value)}（{as_of_ja(month, kpi)}）" if month else kpi.format_value(value)


def _threshold_ja(kpi: Kpi) -> str:
    return f"目標を{kpi.excellent_threshold:.0%}{'以上上回る' if kpi.direction == '>=' else '以上下回る'}と◎"


def rate_kpi(kpi: Kpi, *, result: float | None, target: AnnualTarget | None, data_month: date | None = None,
             excluded: bool = False, self_rating: str | None = None) -> Rating:
    """Mark of one KPI: its latest result (data through data_month) against the annual target.

    Qualitative KPIs carry the branch's self_rating.  excluded=True: the value was left
    out because of an error.
    """
    if kpi.kind == "qualitative":
        if excluded:
            return no_result("excluded_error")
        if self_rating in MARKS and self_rating != NO_RESULT:
            return Rating(self_rating, "定性的KPI：支部の自己評価", "qualitative KPI: self-rated")
        return no_result("not_reported", "定性的KPI：自己評価なし", "qualitative KPI: no self-rating")
    if excluded:
        return no_result("excluded_error", target=target)
    if result is None:
        return no_result("after_year_end" if kpi.lag_annual else "not_reported", target=target)
    if target is None or target.value is None:
        return no_result(target.reason_code if target and target.reason_code else "no_target", target=target)
    mark = mark_for(kpi, result, target.value)
    when = f"{as_of_ja(data_month, kpi)}{'分' if kpi.lag_claims else ''}の実績 {kpi.format_value(result)}" if data_month else \
        f"実績 {kpi.format_value(result)}"
    basis_ja = f"{target.basis_ja}。{when}で判定。基準：{_threshold_ja(kpi)}"
    basis_en = (f"{target.basis_en}; result {result:g}"
                f"{' as of ' + f'{data_month:%Y-%m}' if data_month else ''}; "
                f"◎ when beaten by {kpi.excellent_threshold:.0%}")
    return Rating(mark, basis_ja, basis_en, target.value, None, target.source)


# ---------------------------------------------------------------- in-year pace (not the mark)
def progress(kpi: Kpi, result: float | None, target: float | None, fiscal_year: int,
             data_month: date | None) -> float | None:
    """進捗: for KPIs that grow through the year, result ÷ (target × months of data ÷ 12).

    1.0 means on pace.  None for level KPIs, ≤ KPIs and where anything is missing.
    """
    if not kpi.grows_in_year or kpi.direction != ">=" or result is None or not target or data_month is None:
        return None
    months = months_elapsed(fiscal_year, data_month)
    if months <= 0:
        return None
    return bounded_ratio(result, target * months / 12)


# The largest achievement or 進捗 kpisheet states: a result a thousand times its target (100,000%).
# A '<=' KPI's result of 0, or a target of 1E-300, would otherwise give inf, which no workbook,
# CSV or rank can hold; every result beyond it ties there (README, decisions).
RATIO_CEILING = 1000.0


def bounded_ratio(numerator: float, denominator: float) -> float | None:
    """numerator ÷ denominator for achievement and 進捗: never inf or nan, at most RATIO_CEILING.

    None for a denominator of 0 or less, or for an input that is not a finite number; a
    non-negative numerator over a denominator so small that the quotient would pass the ceiling
    (0 included, for a '<=' KPI's result of 0) gives RATIO_CEILING."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator < 0:
        return None
    if denominator == 0:
        return RATIO_CEILING if numerator >= 0 else None
    if numerator > RATIO_CEILING * denominator:  # also where the quotient itself would overflow
        return RATIO_CEILING
    return numerator / denominator


def progress_ja(value: float | None, fiscal_year: int, data_month: date | None) -> str:
    """「進捗 98%（7/12か月分の目標に対して）」."""
    if value is None or data_month is None:
        return ""
    return f"進捗 {value:.0%}（{months_elapsed(fiscal_year, data_month)}/12か月分の目標に対して）"
