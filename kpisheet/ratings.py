"""Stage 5 — ratings: the mark (◎ ○ △ —) of a KPI result against its target.

The rule (docs/domain-notes.md, "Ratings"): ○ when the target is met;
◎ when it is beaten by the KPI's excellent_threshold relative to the target
(≥ KPIs: result ≥ target × (1 + t); ≤ KPIs: result ≤ target × (1 − t));
△ when missed; — when there is no result, with the reason.  × is only ever a
branch's self-rating of a measure and is never computed here.

During the year, cumulative KPIs (a 実施率 that grows month by month) are
judged against the annual target pro-rated by the months elapsed; level KPIs
against the target itself.  March (month 12 of the FY) is the final
judgement.  Every Rating carries the basis of its mark in Japanese and English.

All functions are pure: no IO, no workbook, no catalogue loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from .catalogue import Kpi, Target
from .fiscal import months_elapsed

EXCELLENT, MET, MISSED, NOT_DONE, NO_RESULT = "◎", "○", "△", "×", "—"
MARKS = (EXCELLENT, MET, MISSED, NOT_DONE, NO_RESULT)
MARK_LABELS_JA = {EXCELLENT: "計画を大幅に上回る", MET: "計画通り", MISSED: "計画を下回る",
                  NOT_DONE: "未実施", NO_RESULT: "評価できない"}

# reason codes of a "—" mark, with what a person reads
NO_RESULT_REASONS = {
    "not_reported": ("未報告", "not yet reported"),
    "no_baseline": ("前年度値なし", "no previous-year value (baseline)"),
    "no_target": ("目標未設定", "no target set"),
    "excluded_error": ("エラーにより除外", "excluded by an error"),
    "not_applicable": ("対象外", "not applicable in this month"),
}

# relative tolerance for float noise of numerator ÷ denominator (96.5 vs 96.49999999999)
_EPS = 1e-9


@dataclass(frozen=True)
class Rating:
    mark: str
    basis_ja: str
    basis_en: str
    effective_target: float | None = None
    reason_code: str | None = None  # why "—" (see NO_RESULT_REASONS); None otherwise

    @property
    def reason_ja(self) -> str:
        return NO_RESULT_REASONS[self.reason_code][0] if self.reason_code else ""

    def to_dict(self) -> dict[str, object]:
        return {"mark": self.mark, "basis_ja": self.basis_ja, "basis_en": self.basis_en,
                "effective_target": self.effective_target, "reason_code": self.reason_code}


def no_result(reason_code: str, detail_ja: str = "", detail_en: str = "") -> Rating:
    ja, en = NO_RESULT_REASONS[reason_code]
    return Rating(NO_RESULT, f"{ja}{'（' + detail_ja + '）' if detail_ja else ''}",
                  f"{en}{' (' + detail_en + ')' if detail_en else ''}", None, reason_code)


def resolve_target(kpi: Kpi, *, branch_target: float | None, baseline: float | None,
                   rule: Target | None = None) -> tuple[float | None, str]:
    """The annual target a result is judged against, and how it was set (Japanese).

    rule defaults to the KPI's branch target rule; pass kpi.effective_national_target()
    for the national figure.  Returns (None, reason) when it cannot be set.
    """
    rule = rule or kpi.target
    cmp = "以上" if kpi.direction == ">=" else "以下"
    if rule.rule == "fixed":
        return rule.value, f"目標 {kpi.format_value(rule.value)}{cmp}（固定）"
    if rule.rule == "branch":
        if branch_target is None:
            return None, "目標未設定"
        return branch_target, f"目標 {kpi.format_value(branch_target)}{cmp}（支部設定）"
    if rule.rule == "baseline":
        if baseline is not None:
            return baseline, f"対前年度{cmp}（前年度 {kpi.format_value(baseline)}）"
        if branch_target is not None:  # the workbook asks the branch to type last year's value as target
            return branch_target, f"対前年度{cmp}（支部が入力した目標 {kpi.format_value(branch_target)}）"
        return None, "前年度値なし"
    if rule.rule == "generic_conditional":
        floor = rule.value or 0.0
        known = baseline if baseline is not None else branch_target
        if known is not None and known >= floor:
            what = "前年度" if baseline is not None else "支部が入力した目標"
            return known, (f"対前年度以上（{what} {kpi.format_value(known)} が"
                           f"{kpi.format_value(floor)}以上のため）")
        return floor, f"目標 {kpi.format_value(floor)}以上"
    return None, rule.text or "定性的目標"  # fixed_text: self-rated


_months_elapsed = lru_cache(maxsize=256)(months_elapsed)  # called per branch x KPI x month


def _period(kpi: Kpi, fiscal_year: int, month: date) -> tuple[float, str, str]:
    """Share of the annual target due by `month`, with the basis text (ja, en)."""
    elapsed = _months_elapsed(fiscal_year, month)
    if elapsed >= 12:
        return 1.0, "年度末（3月）の最終判定", "final judgement (March)"
    if not kpi.cumulative:
        return 1.0, (f"{month.month}月時点・水準の指標のため年間目標で判定"), (
            f"as of month {month.month}; level KPI judged against the annual target")
    return elapsed / 12, (f"{month.month}月時点・累計の指標のため年間目標の{elapsed}/12で判定"), (
        f"as of month {month.month}; cumulative KPI judged against {elapsed}/12 of the annual target")


def mark_for(kpi: Kpi, result: float, target: float) -> str:
    """◎ ○ △ of a result against an (already effective) target, by the KPI's direction."""
    t = kpi.excellent_threshold
    tol = _EPS * max(1.0, abs(target))
    if kpi.direction == "<=":
        if result <= target * (1 - t) + tol:
            return EXCELLENT
        return MET if result <= target + tol else MISSED
    if result >= target * (1 + t) - tol:
        return EXCELLENT
    return MET if result >= target - tol else MISSED


def rate_kpi(kpi: Kpi, *, result: float | None, target: float | None, month: date,
             fiscal_year: int, baseline: float | None = None, excluded: bool = False,
             rule: Target | None = None, self_rating: str | None = None) -> Rating:
    """Mark of one KPI result (year-to-date through `month`).

    target is the target typed by the branch (used when the rule is "branch"),
    baseline the previous-year value (rules "baseline" and "generic_conditional");
    rule overrides the KPI's target rule (national figures).  excluded=True means
    the value was left out because of an error.  Qualitative KPIs carry the
    branch's self_rating.
    """
    if kpi.kind == "qualitative":
        if excluded:
            return no_result("excluded_error")
        if self_rating in MARKS and self_rating != NO_RESULT:
            return Rating(self_rating, "定性的KPI：支部の自己評価", "qualitative KPI: self-rated")
        return no_result("not_reported", "定性的KPI：自己評価なし", "qualitative KPI: no self-rating")
    if excluded:
        return no_result("excluded_error")
    if result is None:
        return no_result("not_reported")
    annual, how = resolve_target(kpi, branch_target=target, baseline=baseline, rule=rule)
    if annual is None:
        code = "no_baseline" if how == "前年度値なし" else "no_target"
        return no_result(code)
    share, when_ja, when_en = _period(kpi, fiscal_year, month)
    effective = annual * share
    mark = mark_for(kpi, result, effective)
    basis_ja = f"{how}。{when_ja}"
    if share != 1.0:
        basis_ja += f"（判定目標 {kpi.format_value(effective)}）"
    basis_ja += f"。基準：目標の{kpi.excellent_threshold:.0%}{'以上上回る' if kpi.direction == '>=' else '以上下回る'}と◎"
    basis_en = (f"target {annual:g} ({(rule or kpi.target).rule}); {when_en}; effective target {effective:g}; "
                f"◎ when beaten by {kpi.excellent_threshold:.0%}")
    return Rating(mark, basis_ja, basis_en, effective, None)
