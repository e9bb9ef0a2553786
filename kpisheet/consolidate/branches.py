"""A branch's values, marks, achievements and ranks in a consolidation.

Ranks (順位, shown 「3/44」 by `rank_ja`) compare achievement, never raw values, so a
count KPI does not simply follow branch size:

- `BranchKpi.achievement` = result ÷ annual target for a '>=' KPI, annual target ÷ result
  for a '<=' KPI (1.0 = exactly on target, higher is better either way), both taken at
  the KPI's shown precision (display.shown) as the marks are.  The result is the branch's
  latest one (at its `data_month`), the target its annual target (K6-2-08's own
  condition included).  Achievement is at most ratings.RATIO_CEILING (a result a thousand
  times its target): a '<=' KPI with result 0 has exactly that, the best possible, tied with
  every other 0 — never inf, which no workbook or CSV could hold.  None — and no rank — without a result or a target,
  for a '>=' KPI whose target is 0 or less, for a negative value, and for qualitative KPIs.
- What is ranked (`rank_basis`): a KPI that grows through the year (受診率 of a year-to-date flow
  over the year's population) is ranked by its 進捗 (`BranchKpi.progress`: the result against
  the annual target pro-rated to the months its data reach), so a branch whose data stop a
  month earlier is compared with the others on the months it has, not ranked last for a
  shorter year; every other KPI (levels, rates of two flows, '<=' KPIs) by achievement, since
  its value does not grow with the months and its latest month is like for like.
- `BranchKpi.rank` is the competition ranking (1, 2, 2, 4) among the branches of the KPI
  with an achievement, best first; HQ (本部, code 00) is never ranked.  Achievements equal
  to within one part in 10⁹ tie.  `BranchKpi.rank_of` is how many branches were ranked for
  the KPI (None when the branch is not ranked).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterable

from kpisheet.check.rules.identity import FUTURE_SAVED
from kpisheet.domain.catalogue import HQ_CODE, Kpi
from kpisheet.domain.failures import failure_finding
from kpisheet.domain.findings import Finding, excludes_whole_file, sets_aside
from kpisheet.domain.fiscal import (
    month_key,
    months_elapsed,
    parse_month,
)
from kpisheet.domain.model import InputValue, KpiEntry, Submission, is_readable
from kpisheet.domain.ratings import (
    MARKS,
    BASELINE_SOURCES,
    RATIO_CEILING,
    AnnualTarget,
    Rating,
    annual_target,
    follows_rule,
    no_result,
    previous_year_value,
    progress,
    rate_kpi,
)

if TYPE_CHECKING:  # pragma: no cover

    pass

from kpisheet.consolidate.model import BranchKpi, Consolidation, MeasureRating, MonthValue, PLAN_PREFIX, achievement


# ---------------------------------------------------------------- exclusion by findings
@dataclass
class _Exclusions:
    """What the error findings of one file rule out."""

    whole_file: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    cells: set[tuple[str, str]] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)

    def hits(self, iv: InputValue) -> bool:
        src = iv.source
        if src is None:
            return False
        return (src.name is not None and src.name in self.names) or (src.sheet, src.cell) in self.cells


def _exclusions(findings: Iterable[Finding]) -> _Exclusions:
    ex = _Exclusions()
    for f in findings:
        if not f.is_error:
            continue
        if excludes_whole_file(f):
            ex.whole_file.append(f.code)
        elif f.name or f.cell:
            if f.name:
                ex.names.add(f.name)
            if f.sheet and f.cell:
                ex.cells.add((f.sheet, f.cell))
        else:
            ex.subjects.add(f.subject or "")
    return ex


def _number(iv: InputValue) -> float | None:
    """The input's number; None for text, and for inf or nan (a value no figure can hold: left out)."""
    v = iv.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _text(iv: InputValue) -> str:
    v = iv.value
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def branch_guarded(cons: Consolidation, sub: Submission, ex: _Exclusions,
                    months: dict[str, list[tuple[date, str]]]) -> list[Finding]:
    """One branch's values and measures; E190 (see domain.failures) and nothing of it if that raises.

    No consistency findings of its own: W502 (△/× without a remark) is the validator's rule."""
    code = sub.branch_code or ""
    n_ratings, n_issues = len(cons.measure_ratings), len(cons.issues)
    try:
        _branch_values(cons, sub, ex, months)
        _measures(cons, sub, ex)
        return []
    except Exception as exc:  # a submission no rule foresaw: this branch only
        for mv_key in [k for k in cons.month_values if k[0] == code]:
            del cons.month_values[mv_key]
        for bk_key in [k for k in cons.branch_kpis if k[0] == code]:
            del cons.branch_kpis[bk_key]
        del cons.measure_ratings[n_ratings:], cons.issues[n_issues:]
        return [failure_finding(sub.path, exc, branch=code)]


def without_set_aside_findings(findings: list[Finding]) -> list[Finding]:
    """A file set aside for its branch's newer (or identical) one keeps only the finding saying so,
    and W423 (its saved time is in the future: why it did not count as the newest): what else is
    wrong in it no longer concerns the month."""
    aside = {f.file for f in findings if sets_aside(f)}
    return [f for f in findings if f.file not in aside or sets_aside(f) or f.code == FUTURE_SAVED]


def usable_submissions(submissions: list[Submission], findings: list[Finding]
                        ) -> tuple[dict[str, Submission], dict[int, _Exclusions]]:
    """Submissions whose values can be used, one per branch code, with what their errors exclude.

    A file set aside for a newer one of its branch (W207, W208) is never used.
    """
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file or "", []).append(f)
    usable: dict[str, Submission | None] = {}
    exclusions: dict[int, _Exclusions] = {}
    for sub in submissions:
        ex = _exclusions([*sub.findings, *by_file.get(sub.path, [])])
        exclusions[id(sub)] = ex
        if ex.whole_file or not sub.branch_code or not is_readable(sub):
            continue
        if any(sets_aside(f) for f in by_file.get(sub.path, [])):
            continue
        if sub.branch_code in usable:  # two files for one branch: neither is trusted
            usable[sub.branch_code] = None
            continue
        usable[sub.branch_code] = sub
    return {c: s for c, s in sorted(usable.items()) if s is not None}, exclusions


def month_judged(kpi: Kpi, fiscal_year: int, month: date) -> date | None:
    months = [m for m in kpi.months(fiscal_year) if m <= month]
    return months[-1] if months else None


def _baseline(cons: Consolidation, sub: Submission, entry: KpiEntry | None, code: str, kpi: Kpi,
              ex: _Exclusions) -> tuple[float | None, str]:
    """The previous-year value in force now (ratings.previous_year_value) and where it came from."""
    typed = _number(entry.baseline) if entry is not None and not ex.hits(entry.baseline) else None
    value, key = previous_year_value(hq_file=cons.baselines.get((code, kpi.id)),
                                     prefilled=sub.prefilled_baselines.get(kpi.id), workbook=typed)
    return value, BASELINE_SOURCES.get(key, "")


def _month_value(kpi: Kpi, entry: KpiEntry | None, key: str, ex: _Exclusions,
                 whole_kpi_excluded: bool) -> tuple[float | None, float | None, float | None, str]:
    """(numerator, denominator, value, status) of one month ('2024-10') of one branch."""
    km = entry.months.get(key) if entry else None
    if km is None:
        return None, None, None, "excluded" if whole_kpi_excluded else "missing"
    cells = [km.numerator, km.denominator] if kpi.kind == "ratio" else [km.value]
    if whole_kpi_excluded or any(ex.hits(iv) for iv in cells):
        return None, None, None, "excluded"
    if any(iv.value is not None and _number(iv) is None for iv in cells):
        return None, None, None, "excluded"  # text where a number belongs
    if kpi.kind == "ratio":
        num, den = _number(km.numerator), _number(km.denominator)
        if num is None or den is None:
            return None, None, None, "missing"
        if den == 0:
            return num, den, None, "zero_denominator"
        rate = kpi.rate(num, den)
        return (num, den, rate, "ok") if rate is not None else (None, None, None, "excluded")  # E412
    val = _number(km.value)
    return (None, None, val, "ok") if val is not None else (None, None, None, "missing")


def _branch_values(cons: Consolidation, sub: Submission, ex: _Exclusions,
                   months: dict[str, list[tuple[date, str]]]) -> None:
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        entry = sub.kpis.get(kpi.id)
        whole = kpi.id in ex.subjects
        target_iv = entry.target if entry else InputValue(None)
        typed = None if ex.hits(target_iv) else _number(target_iv)
        prefilled = sub.prefilled_targets.get(kpi.id)
        if follows_rule(kpi, typed, prefilled=prefilled, rule_target=kpi.id in sub.rule_targets):
            typed = prefilled = None
        baseline, source = _baseline(cons, sub, entry, code, kpi, ex)
        from_plan = sub.prefill_sources.get(kpi.id, "").startswith(PLAN_PREFIX)
        annual = annual_target(kpi, typed=typed, prefilled=prefilled,
                               hq_target=cons.targets.get((code, kpi.id)), baseline=baseline,
                               plan_target=cons.plan_targets.get((code, kpi.id)), prefilled_from_plan=from_plan)
        kpi_months = months[kpi.id]
        judged = kpi_months[-1][0] if kpi_months else None
        latest: tuple[date, tuple[float | None, float | None, float | None, str]] | None = None
        for m, key in kpi_months:
            num, den, val, status = _month_value(kpi, entry, key, ex, whole)
            cons.month_values[(code, kpi.id, key)] = MonthValue(
                code, kpi.id, key, num, den, val, status, annual.value,
                rating_of(kpi, val, status, annual, m))
            if status != "missing":
                latest = (m, (num, den, val, status))
        bk = _branch_kpi(cons, kpi, entry, ex, whole, code, annual, judged, latest)
        bk.branch_target, bk.baseline, bk.baseline_source = typed, baseline, source
        cons.branch_kpis[(code, kpi.id)] = bk


def _branch_kpi(cons: Consolidation, kpi: Kpi, entry: KpiEntry | None, ex: _Exclusions, whole: bool,
                code: str, annual: AnnualTarget, judged: date | None,
                latest: tuple[date, tuple[float | None, float | None, float | None, str]] | None) -> BranchKpi:
    """The branch's KPI as the marks sheets show it: its latest result, at the month its data reach."""
    judged_key = month_key(judged) if judged else None
    if kpi.kind == "qualitative":
        text = _text(entry.text) if entry else ""
        self_rating = _text(entry.rating) if entry else ""
        excluded = whole or (entry is not None and (ex.hits(entry.rating) or ex.hits(entry.text)))
        rating = rate_kpi(kpi, result=None, target=annual, excluded=excluded, self_rating=self_rating)
        status = "excluded" if excluded else ("ok" if self_rating else "missing")
        return BranchKpi(code, kpi.id, judged_key, None, None, "", None, annual.basis_ja, None, None, None,
                         status, rating, text, target_source=None)
    if judged is None:
        return BranchKpi(code, kpi.id, None, None, None, "", annual.value, annual.basis_ja, None, None, None,
                         "missing", no_result("not_applicable", target=annual), target_source=annual.source)
    if latest is None:
        status = "excluded" if whole else "missing"
        return BranchKpi(code, kpi.id, judged_key, None, None, "", annual.value, annual.basis_ja, None, None,
                         None, status, rating_of(kpi, None, status, annual, judged), target_source=annual.source)
    data_month, (num, den, val, status) = latest
    rating = rating_of(kpi, val, status, annual, data_month)
    pace = progress(kpi, val, annual.value, cons.fiscal_year, data_month) if status == "ok" else None
    return BranchKpi(code, kpi.id, judged_key, None, None, "", annual.value, annual.basis_ja, num, den, val,
                     status, rating, None, data_month=month_key(data_month), target_source=annual.source,
                     progress=pace)


def rating_of(kpi: Kpi, value: float | None, status: str, target: AnnualTarget | None,
               data_month: date) -> Rating:
    if status == "excluded":
        return no_result("excluded_error", target=target)
    if status == "zero_denominator":
        return no_result("not_reported", "分母が0", "denominator is 0", target=target)
    return rate_kpi(kpi, result=value, target=target, data_month=data_month)


def _better(a: float, b: float) -> bool:
    """Achievement a beats b by more than float noise (inf ties with inf)."""
    return a > b + 1e-9 * max(1.0, abs(b))


RANK_BASES = {  # what a KPI's branches are ranked by, as the sheets say it
    "progress": ("順位は進捗（年間目標に対する月割りの達成度）で比較",
                 "ranked by pace: the result against the annual target pro-rated to its months of data"),
    "achievement": ("順位は達成度（実績÷年間目標。≦の指標は年間目標÷実績）で比較",
                    "ranked by achievement: result ÷ annual target (target ÷ result for '<=')"),
}


def rank_basis(kpi: Kpi) -> str:
    """'progress' for a KPI that grows through the year and has a pace (進捗), else 'achievement'."""
    return "progress" if kpi.grows_in_year and kpi.direction == ">=" else "achievement"


def _pace(cons: Consolidation, b: BranchKpi, achieved: float) -> float:
    """進捗 at the shown precision: achievement × 12 ÷ the months its data cover (as ratings.progress)."""
    months = months_elapsed(cons.fiscal_year, parse_month(b.data_month)) if b.data_month else 12
    return min(achieved * 12 / months, RATIO_CEILING) if months > 0 else achieved


def rank_branches(cons: Consolidation) -> None:
    """Achievement and competition ranking (1, 2, 2, 4) per KPI by `rank_basis`; best first, HQ never ranked."""
    for kpi in cons.kpis:
        rows = [b for (c, k), b in cons.branch_kpis.items() if k == kpi.id]
        for b in rows:
            b.achievement = achievement(kpi, b.value, b.annual_target)
        by_pace = rank_basis(kpi) == "progress"
        ranked = [(b, _pace(cons, b, b.achievement) if by_pace else b.achievement) for b in rows
                  if b.branch_code != HQ_CODE and b.achievement is not None]
        for b, mine in ranked:
            b.rank = 1 + sum(1 for _, other in ranked if _better(other, mine))
            b.rank_of = len(ranked)


def _measures(cons: Consolidation, sub: Submission, ex: _Exclusions) -> None:
    code = sub.branch_code or ""
    for measure in cons.catalogue.measures:
        entry = sub.measures.get(measure.id)
        if entry is None:
            continue
        for row in entry.rows:
            text, mark, note = _text(row.text), _text(row.rating), _text(row.note)
            if not (text or mark or note):
                continue
            if mark not in MARKS or ex.hits(row.rating):
                mark = ""
            cons.measure_ratings.append(MeasureRating(code, measure.id, row.n, text, mark, note))
        issue = _text(entry.issue)
        if issue:
            cons.issues.append((code, measure.id, issue))
