"""National figures of a consolidation: Σ numerators ÷ Σ denominators, Σ counts (never a mean of
rates), their marks and the month-by-month trend.

National coverage (`national_mark`, the one rule for every national mark: 概要, 全国KPI, the CSV's
national rows and the feedback all read it).  A rate pooled from numerators and denominators is
comparable whatever branches it covers.  A count KPI of the branches is a sum, and its national
target (last year's national total, a term goal, HQ's --targets 'ALL') is a total over all 47
branches; summed over fewer branches it would be △ for the missing ones.  So, when a month's sum
covers fewer than all branches, with HQ's `national_coverage` (settings; default like_for_like):
like_for_like rates it against the previous-year values of the same branches where the national
target is last year's total (and every covered branch has one), else — 集計中（n/47支部）;
pending always gives — 集計中（n/47支部） until every branch is in.

The month-by-month trend (月次推移, `Consolidation.trend`, one KpiTrend per quantitative
KPI) shows the national figure beside the same figure over a fixed set of branches, so a
branch missing in one month does not read as a national rise or fall:

- the fixed set is the branches that count for the national figure (本部 alone for a
  national-scope KPI) with a usable value ('ok') in every month the KPI is reported, from
  its first month of the year (April) through the KPI's national data month
  (`NationalKpi.data_month`); empty when there is no national data month;
- each TrendPoint (every month of the KPI up to the reporting month) carries the national
  figure as `national_months` has it, the branches with a usable value that month
  (`reporting`), the figure over the fixed set (Σ numerators ÷ Σ denominators, or Σ
  counts, exactly like the national figure; None for a month in which a branch of the set
  has no usable value, i.e. only after the data month), and which branches joined or left
  the reporting set since the KPI's previous month (nothing for the first month);
- K6-2-08 is judged nationally by how many branches meet their own condition; its trend
  shows the pooled rate over the fixed set all the same, as information.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Iterable

from kpisheet.domain.catalogue import HQ_CODE, Kpi, Target, load_branches
from kpisheet.domain.fiscal import (
    month_key,
    parse_month,
)
from kpisheet.domain.model import Submission
from kpisheet.domain.ratings import (
    EXCELLENT,
    TARGET_SOURCES,
    MET,
    MISSED,
    NO_RESULT,
    AnnualTarget,
    Rating,
    annual_target,
    no_result,
    progress,
    rate_kpi,
)

if TYPE_CHECKING:  # pragma: no cover

    pass

from kpisheet.consolidate.model import Consolidation, DEFAULT_COVERAGE, KpiTrend, MonthValue, NATIONAL_CODE, NationalKpi, TrendPoint
from kpisheet.consolidate.branches import month_judged, rating_of


# ---------------------------------------------------------------- national figures
# The national figure of a KPI is taken at the latest month that at least this share of the
# branches reporting the KPI this year have reached: one late branch does not hold the nation
# back, one early branch does not make a national figure of itself (README, decisions).
NATIONAL_MONTH_SHARE = 0.5


def national_figures(cons: Consolidation, usable: dict[str, Submission]) -> None:
    for kpi in cons.kpis:
        codes = [HQ_CODE] if kpi.scope == "national" else [c for c in usable if c != HQ_CODE]
        national_baseline = cons.baselines.get((NATIONAL_CODE, kpi.id), cons.baselines.get((HQ_CODE, kpi.id)))
        annual = _national_target(cons, kpi, national_baseline)
        expected = ([HQ_CODE] if kpi.scope == "national"
                    else [b.code for b in load_branches() if b.code != HQ_CODE])
        for m in kpi.months(cons.fiscal_year):
            if m > cons.month:
                break
            cons.national_months[(kpi.id, month_key(m))] = _national_month(cons, kpi, m, codes, annual,
                                                                            len(expected))
        judged = month_judged(kpi, cons.fiscal_year, cons.month)
        data_month = _national_data_month(cons, kpi, codes)
        last = cons.national_months.get((kpi.id, data_month)) if data_month else None
        covered = tuple(c for c in expected if data_month is not None
                        and (mv := cons.month_values.get((c, kpi.id, data_month))) is not None and mv.status == "ok")
        left_out = tuple((c, _left_out_reason(cons, c, kpi.id, data_month or (month_key(judged) if judged else None)))
                         for c in expected if c not in covered)
        rating, met = _national_rating(cons, kpi, last, annual, judged, codes)
        if last is not None and data_month is not None:  # one national mark: the CSV's row at the data month
            cons.national_months[(kpi.id, data_month)] = replace(last, rating=rating)
        if kpi.kind != "qualitative":
            cons.trend[kpi.id] = _trend(cons, kpi, codes, data_month)
        pace = progress(kpi, last.value, last.rating.effective_target, cons.fiscal_year, parse_month(data_month)) \
            if last is not None and data_month else None
        cons.national[kpi.id] = NationalKpi(
            kpi.id, month_key(judged) if judged else None, last.numerator if last else None,
            last.denominator if last else None, last.value if last else None, national_baseline, annual.value,
            annual.basis_ja, rating, covered, left_out, data_month, pace, met)


def _national_target(cons: Consolidation, kpi: Kpi, national_baseline: float | None) -> AnnualTarget:
    """The nation's annual target: HQ's --targets row 'ALL'; else the target the branches' approved
    事業計画 imply (every branch's plan: Σ見込者数 ÷ Σ対象者数, Σ targets); else the term goal's rule
    (a fixed term goal is the default, a 対前年度 goal uses the national previous-year value)."""
    rule = kpi.term_goal
    if rule.rule == "generic_conditional":  # K6-2-08: a condition on every branch, not a national rate
        return AnnualTarget(None, "generic_condition", "全支部において80%以上（80%以上の支部は対前年度以上）",
                            "every branch meets its own condition")
    if rule.rule == "branch":  # no national goal printed: compare with last year's national value
        rule = Target("baseline")
    given = cons.targets.get((NATIONAL_CODE, kpi.id))
    implied = cons.plan_targets.get((NATIONAL_CODE, kpi.id))
    if given is None and implied is not None:
        how = "全支部の見込者数の合計÷対象者数の合計" if kpi.kind != "count" else "全支部の目標の合計"
        return AnnualTarget(implied, "plan", f"目標 {kpi.format_value(implied)}{'以上' if kpi.direction == '>=' else '以下'}"
                                             f"（事業計画の目標：{how}）",
                            f"target {implied:g} (implied by every branch's approved 事業計画)")
    annual = annual_target(kpi, hq_target=given, baseline=national_baseline, rule=rule)
    if annual.reason_code == "no_baseline":
        annual = replace(annual, basis_ja="前年度実績なし（前年度値ファイルに全国（branch ALL）の行がありません）")
    if given is None and rule.rule == "fixed" and annual.value is not None:
        goal = f"第{cons.catalogue.term}期末目標"
        annual = replace(annual, source="term_goal", basis_ja=annual.basis_ja.replace("全国共通の目標", f"{goal}。年度目標の指定なし"),
                         basis_en=f"{annual.basis_en}; the term goal, no annual national target given")
    return annual


def _national_data_month(cons: Consolidation, kpi: Kpi, codes: list[str]) -> str | None:
    months = [month_key(m) for m in kpi.months(cons.fiscal_year) if m <= cons.month]
    counts = {key: sum(1 for c in codes if (mv := cons.month_values.get((c, kpi.id, key))) is not None
                       and mv.status == "ok") for key in months}
    reporting = sum(1 for c in codes if any((mv := cons.month_values.get((c, kpi.id, key))) is not None
                                            and mv.status == "ok" for key in months))
    if reporting == 0:
        return None
    reached = [key for key in months if counts[key] >= NATIONAL_MONTH_SHARE * reporting]
    return reached[-1] if reached else None


def _national_rating(cons: Consolidation, kpi: Kpi, last: MonthValue | None, annual: AnnualTarget,
                     judged: date | None, codes: list[str]) -> tuple[Rating, tuple[int, int] | None]:
    if kpi.kind == "qualitative":
        return Rating(NO_RESULT, "定性的KPI：支部ごとの自己評価（全国値なし）",
                      "qualitative KPI: self-rated per branch", None, None), None
    if kpi.term_goal.rule == "generic_conditional":
        return _branches_meeting(cons, kpi, codes)
    if judged is None:
        return no_result("not_applicable"), None
    if last is None:
        return no_result("not_reported", target=annual), None
    return last.rating, None


def _branches_meeting(cons: Consolidation, kpi: Kpi, codes: list[str]) -> tuple[Rating, tuple[int, int] | None]:
    """K6-2-08 nationally (the term-6 KPI一覧 2. III) ① 「全支部において…」, reference 44支部): how many branches
    met their own condition, out of those reporting, rated against all of them."""
    marks = [bk.rating.mark for c in codes if (bk := cons.branch_kpis.get((c, kpi.id))) is not None
             and bk.value is not None and bk.rating.mark in (EXCELLENT, MET, MISSED)]
    return _meeting(kpi, marks)


def _meeting(kpi: Kpi, marks: list[str]) -> tuple[Rating, tuple[int, int] | None]:
    """○ when every reporting branch met its condition, else △ (the count is in the basis)."""
    if not marks:
        return no_result("not_reported"), None
    met = sum(1 for m in marks if m in (EXCELLENT, MET))
    mark = MET if met == len(marks) else MISSED
    basis = (f"全支部で条件（80%以上、80%以上の支部は対前年度以上）を満たすこと。"
             f"報告のあった{len(marks)}支部のうち{met}支部が達成")
    return Rating(mark, basis, f"{met} of {len(marks)} reporting branches met their condition; "
                               f"target: all branches", None, None, "generic_condition"), \
        (met, len(marks))


def _national_month(cons: Consolidation, kpi: Kpi, m: date, codes: list[str], annual: AnnualTarget,
                    expected: int) -> MonthValue:
    rows = _usable_rows(cons, kpi.id, month_key(m), codes)
    num, den, val, status = _pooled(kpi, rows)
    if kpi.term_goal.rule == "generic_conditional":  # K6-2-08: the branches meeting their condition that month
        rating = _meeting(kpi, [r.rating.mark for r in rows if r.rating.mark in (EXCELLENT, MET, MISSED)])[0]
    else:
        rating = national_mark(cons, kpi, rows, val, status, annual, m, expected)
    return MonthValue(NATIONAL_CODE, kpi.id, month_key(m), num, den, val, status, annual.value, rating)


def coverage_rule(cons: Consolidation) -> str:
    """HQ's `national_coverage` (like_for_like | pending); like_for_like without settings."""
    return getattr(cons.settings, "national_coverage", None) or DEFAULT_COVERAGE


def national_mark(cons: Consolidation, kpi: Kpi, ok: list[MonthValue], value: float | None, status: str,
                  annual: AnnualTarget, m: date, expected: int) -> Rating:
    """The national mark of one month of a KPI: the one rule (module docstring, "National coverage").

    `ok` are the branches' usable values pooled into `value`; `expected` how many branches the
    national target covers.  Only a count of the branches summed over fewer than all of them is
    treated apart: like for like against the same branches' previous-year values, or — 集計中."""
    if kpi.kind != "count" or kpi.scope != "branch" or status != "ok" or len(ok) >= expected:
        return rating_of(kpi, value, status, annual, m)
    n = len(ok)
    pending = replace(no_result("pending", f"{n}/{expected}支部。全国の目標は{expected}支部の合計のため評価しません",
                                f"{n} of {expected} branches; the national target covers all {expected}"),
                      target_source=annual.source)  # where the target came from; no target the sum is judged by
    if coverage_rule(cons) != "like_for_like" or annual.source != "previous_year" or annual.value is None:
        return pending
    before = [bk.baseline if (bk := cons.branch_kpis.get((r.branch_code, kpi.id))) is not None else None
              for r in ok]
    if any(b is None for b in before):
        return pending
    total = finite_sum(before)
    if total is None:
        return pending
    fmt = kpi.format_value
    same = AnnualTarget(total, "previous_year",
                        f"対前年度以上（集計できた{n}/{expected}支部の前年度実績の合計 {fmt(total)}と比較。"
                        f"全国の前年度実績 {fmt(annual.value)}は{expected}支部の合計のため、同じ支部どうしで比較）",
                        f"previous-year values of the same {n} of {expected} branches, {total:g} "
                        f"(the national {annual.value:g} covers all {expected}); {TARGET_SOURCES['previous_year'][1]}")
    return rate_kpi(kpi, result=value, target=same, data_month=m)


def _usable_rows(cons: Consolidation, kpi_id: str, key: str, codes: Iterable[str]) -> list[MonthValue]:
    """The month's usable ('ok') values of `codes`, in their order."""
    rows = [cons.month_values.get((c, kpi_id, key)) for c in codes]
    return [r for r in rows if r is not None and r.status == "ok"]


def _pooled(kpi: Kpi, ok: list[MonthValue]) -> tuple[float | None, float | None, float | None, str]:
    """(numerator, denominator, value, status) over usable values: Σ num ÷ Σ den, or Σ counts."""
    if ok and kpi.kind == "ratio":
        num, den = finite_sum(r.numerator for r in ok), finite_sum(r.denominator for r in ok)
        if num is None or den is None:
            return None, None, None, "missing"
        return num, den, kpi.rate(num, den), "ok"
    if ok and kpi.kind == "count":
        total = finite_sum(r.value for r in ok)
        return (None, None, total, "ok") if total is not None else (None, None, None, "missing")
    return None, None, None, "missing"


def finite_sum(values: Iterable[float | None]) -> float | None:
    """Σ of the values (None counts 0); None when it is not a finite number.

    Inputs are within their KPI's ceiling (E411), so a sum over the branches never overflows;
    this is the guard that keeps a Σ finite even so: a figure is missing, never inf."""
    total = sum((v or 0.0 for v in values), 0.0)
    return total if math.isfinite(total) else None


def _trend(cons: Consolidation, kpi: Kpi, codes: list[str], data_month: str | None) -> KpiTrend:
    """The KPI's 月次推移: the national figure and the figure over a fixed set of branches."""
    keys = [month_key(m) for m in kpi.months(cons.fiscal_year) if m <= cons.month]
    reporting = {key: tuple(r.branch_code for r in _usable_rows(cons, kpi.id, key, codes)) for key in keys}
    through = keys[:keys.index(data_month) + 1] if data_month in keys else []
    fixed = tuple(c for c in codes if through and all(c in reporting[key] for key in through))
    points, previous = [], None
    for key in keys:
        nat = cons.national_months[(kpi.id, key)]
        now = reporting[key]
        complete = bool(fixed) and all(c in now for c in fixed)
        f_num, f_den, f_val, _ = _pooled(kpi, _usable_rows(cons, kpi.id, key, fixed)) if complete \
            else (None, None, None, "missing")
        joined = tuple(c for c in now if c not in previous) if previous is not None else ()
        left = tuple(c for c in previous if c not in now) if previous is not None else ()
        points.append(TrendPoint(key, nat.value, nat.numerator, nat.denominator, nat.annual_target, now,
                                 f_val, f_num, f_den, joined, left))
        previous = now
    return KpiTrend(kpi.id, data_month, fixed, tuple(points))


def _left_out_reason(cons: Consolidation, code: str, kpi_id: str, month: str | None) -> str:
    mv = cons.month_values.get((code, kpi_id, month)) if month else None
    if mv is None:
        return "未提出または読込不可"
    return {"missing": "未報告", "excluded": "エラーにより除外", "zero_denominator": "分母が0"}.get(
        mv.status, mv.status)
