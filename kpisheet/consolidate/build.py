"""Stage 6 — consolidation: validated submissions → national figures, marks and ranks.

`build_consolidation` (pure: it reads nothing but files' times and digests;
kpisheet.month reads and validates the inbox for it) turns the submissions and
findings into a Consolidation: per branch status, per branch × KPI × month
values and marks, national values (Σ numerators ÷ Σ denominators, Σ counts;
never a mean of rates) with the branches each figure covers, self-ratings of
measures, the term-5 → term-6 table, and the findings of the run (validation
findings).

A value is left out when an error finding points at its cell (or defined
name), when an error concerns its whole KPI, or when its file could not be
used at all (unreadable, wrong FY, wrong template...).  Everything else a
branch sent still counts.

A branch's status comes from the findings on its own files only: 提出済,
エラーあり, 報告月の入力なし (the file used holds no figure for the reporting
month, W422: it comes before エラーあり, since entering the month is what the
branch has to do first), 提出あり・読込不可 (files came, none could be read: the stubs
validation makes for them, attributed by file name) or 未提出.  `BranchStatus.last_month`
is the latest month the used file holds a figure for (最終報告月).

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

With HQ's settings (`build_consolidation(..., settings=...)`), a branch is late (`BranchStatus.late`)
when the file whose values count was last saved by the branch (the workbook's own saved time,
docProps) after the end of the deadline day in Japan Standard Time (`HqSettings.deadline
(reporting month)`, 23:59:59 JST).  Without a saved time — or with no usable file, for the
newest file it sent — the file's arrival counts: its modification time, unless
build_consolidation is told when it arrived, as a run rebuilt from the ledger is.  The
workbook's own time comes first because a file's time in the inbox changes whenever the file
is copied (or checked out), and HQ saving an e-mailed file a day later must not make a branch
late; a branch that saves in time and sends late is not caught (README, decisions).  Times
shown to people are JST text 「2024-11-07 14:03」 (fiscal.jst_text).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from kpisheet import __version__
from kpisheet.check.rules.identity import FUTURE_SAVED
from kpisheet.check.rules.months import last_reported_month
from kpisheet.domain.catalogue import HQ_CODE, Catalogue, Kpi, Target, catalogue_for_fy, load_branches, load_mapping
from kpisheet.domain.display import difference, shown
from kpisheet.domain.failures import failure_finding
from kpisheet.domain.findings import Finding, cell_order, excludes_whole_file, finding, makes_unreadable, sets_aside
from kpisheet.domain.fiscal import (
    JST,
    fiscal_months,
    jst_text,
    month_key,
    months_elapsed,
    parse_month,
    to_jst,
    wareki_fiscal_year,
)
from kpisheet.domain.model import InputValue, KpiEntry, Submission, is_readable
from kpisheet.domain.plan import PlanSubmission
from kpisheet.domain.ratings import (
    EXCELLENT,
    TARGET_SOURCES,
    MARKS,
    MET,
    MISSED,
    NO_RESULT,
    BASELINE_SOURCES,
    RATIO_CEILING,
    AnnualTarget,
    Rating,
    annual_target,
    bounded_ratio,
    follows_rule,
    implied_national_target,
    no_result,
    plan_target,
    previous_year_value,
    progress,
    rate_kpi,
    same_value,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from kpisheet.domain.settings import HqSettings

CODES = frozenset({"W425"})  # HQ's --targets value for a branch differs from its approved 事業計画's target
PLAN_PREFIX = "plan:"  # _meta prefill_sources: a target HQ prefilled from the branch's approved plan

DEFAULT_COVERAGE = "like_for_like"  # domain.settings.DEFAULT_COVERAGE, without importing the settings module

NATIONAL_CODE = "ALL"  # branch_code of national rows (csvout.kpi_values_frame, the CSV, the ledger)
STATUS_OK, STATUS_ERRORS, STATUS_MISSING = "提出済", "エラーあり", "未提出"
STATUS_UNREADABLE = "提出あり・読込不可"  # files came, none could be read: never 未提出
STATUS_NO_MONTH = "報告月の入力なし"  # the file used holds no figure for the reporting month (W422)
STATUSES = (STATUS_OK, STATUS_ERRORS, STATUS_NO_MONTH, STATUS_UNREADABLE, STATUS_MISSING)
REPORTING_MONTH_MISSING = "W422"


# ---------------------------------------------------------------- result records
@dataclass(frozen=True)
class MonthValue:
    """One branch's (or the nation's) year-to-date figure of one KPI in one month."""

    branch_code: str
    kpi_id: str
    month: str  # '2024-10'
    numerator: float | None
    denominator: float | None
    value: float | None  # rate (percent points / yen) or count
    status: str  # ok | missing | excluded | zero_denominator
    annual_target: float | None
    rating: Rating


@dataclass
class BranchKpi:
    """A branch's KPI at the reporting month: what the marks sheets show."""

    branch_code: str
    kpi_id: str
    judged_month: str | None  # reporting month, or the KPI's last month if it ended earlier
    branch_target: float | None  # what the workbook's target cell holds
    baseline: float | None
    baseline_source: str  # ratings.BASELINE_SOURCES value, '' without a previous-year value
    annual_target: float | None
    target_basis: str
    numerator: float | None
    denominator: float | None
    value: float | None  # the latest result the data reach (at data_month)
    status: str
    rating: Rating
    text: str | None = None  # qualitative KPI result text
    rank: int | None = None
    data_month: str | None = None  # the month the result's data reach ('2024-01'); None: no data
    target_source: str | None = None  # ratings.TARGET_SOURCES key
    progress: float | None = None  # 進捗 of a KPI that grows in the year (1.0 = on pace); not the mark
    achievement: float | None = None  # result ÷ target ('>='), target ÷ result ('<='); see the module docstring
    rank_of: int | None = None  # how many branches were ranked for the KPI; None when this one is not


def rank_ja(bk: BranchKpi | None) -> str:
    """「3/44」: the branch's rank among the branches ranked for the KPI; '' when not ranked."""
    if bk is None or bk.rank is None or bk.rank_of is None:
        return ""
    return f"{bk.rank}/{bk.rank_of}"


@dataclass
class NationalKpi:
    kpi_id: str
    judged_month: str | None
    numerator: float | None
    denominator: float | None
    value: float | None  # Σ numerators ÷ Σ denominators (or Σ counts) at data_month
    baseline: float | None
    annual_target: float | None
    target_basis: str
    rating: Rating
    covered: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]  # (branch code, reason)
    data_month: str | None = None  # the month the national figure is taken at
    progress: float | None = None
    branches_met: tuple[int, int] | None = None  # K6-2-08: (branches that met their condition, reporting)

    @property
    def coverage(self) -> tuple[int, int]:
        """(branches the figure covers, branches it should cover): (44, 47); (1, 1) for 本部 alone."""
        return len(self.covered), len(self.covered) + len(self.left_out)


@dataclass(frozen=True)
class MeasureRating:
    branch_code: str
    measure_id: str
    n: int
    text: str
    rating: str
    note: str


@dataclass(frozen=True)
class BranchStatus:
    code: str
    name: str  # 埼玉支部
    status: str
    files: tuple[str, ...]
    sha256: tuple[str, ...]
    saved_at: str | None
    saved_by: str | None
    errors: int
    warnings: int
    completeness: float | None  # share of the month's expected cells filled
    left_out: tuple[str, ...]  # what was left out and why (Japanese)
    received_at: str | None = None  # when the file arrived (its modification time), JST 「2024-11-08 14:03」
    late: bool = False  # saved (else arrived) after the deadline day, JST; always False without HQ's settings
    last_month: str | None = None  # 最終報告月: the latest month the used file holds a figure for ('2024-09')


@dataclass(frozen=True)
class TrendPoint:
    """One month of a KPI's trend (月次推移): the national figure and the figure over the fixed set."""

    month: str  # '2024-07'
    value: float | None  # the national figure of the month (as national_months has it)
    numerator: float | None
    denominator: float | None
    annual_target: float | None  # the nation's annual target
    reporting: tuple[str, ...]  # branches with a usable value this month
    fixed_value: float | None  # the same figure over KpiTrend.fixed; None if one of them has no value
    fixed_numerator: float | None
    fixed_denominator: float | None
    joined: tuple[str, ...]  # reporting this month, not in the KPI's previous month
    left: tuple[str, ...]  # reporting in the previous month, not this one

    @property
    def changed(self) -> bool:
        """The reporting branches differ from the previous month's: the national figure moved with them."""
        return bool(self.joined or self.left)


@dataclass(frozen=True)
class KpiTrend:
    kpi_id: str
    data_month: str | None  # the national data month the fixed set runs to
    fixed: tuple[str, ...]  # branches with a usable value in every month through data_month
    points: tuple[TrendPoint, ...]  # every month of the KPI up to the reporting month

    def point(self, month: str) -> TrendPoint | None:
        return next((p for p in self.points if p.month == month), None)


@dataclass(frozen=True)
class TermKpiRow:
    from_id: str | None
    from_label: str
    to_id: str | None
    to_label: str
    relation: str
    baseline_valid: bool
    note: str


@dataclass(frozen=True)
class TermMeasureRow:
    from_id: str | None
    from_label: str
    to_ids: tuple[str, ...]
    to_labels: str
    relation: str
    note: str


@dataclass(frozen=True)
class Revision:
    """A value a branch changed after the ledger had recorded it (kpisheet.ledger.record finds them)."""

    branch_code: str
    kpi_id: str
    month: str  # the month whose figure changed ('2024-08')
    old_numerator: float | None
    old_denominator: float | None
    old_value: float | None
    new_numerator: float | None
    new_denominator: float | None
    new_value: float | None
    new_status: str  # the MonthValue status now (ok, excluded, missing, zero_denominator)
    file: str  # name of the file that brought the new value
    old_file: str  # name of the file the old value came from
    after_close: bool  # the month was already closed (締め後): applied, the closed report stays as published
    reporting_month: str  # the run that found it ('2024-10')


@dataclass(frozen=True)
class YearOnYear:
    """A shown result beside the same month of the previous fiscal year (前年同月比)."""

    month: str | None  # this year's month of the result ('2024-08')
    previous_month: str | None  # the same month a year earlier ('2023-08')
    value: float | None
    previous: float | None
    change: float | None  # value - previous as shown (display.difference), in points, yen or a count
    reason_ja: str = ""  # why there is no comparison ('' when there is one)
    reason_en: str = ""


@dataclass(frozen=True)
class MarkChange:
    """A mark that moved since the previous month's recorded run (branch code, or NATIONAL_CODE)."""

    code: str
    kpi_id: str
    before: str
    after: str


@dataclass(frozen=True)
class MonthChanges:
    """What changed since the previous month's recorded run (概要's 「前月からの変化」).

    `previous_month` is None when the ledger holds no run of the month before (「前月の記録なし」)."""

    previous_month: str | None
    national: tuple[MarkChange, ...] = ()
    branches: tuple[MarkChange, ...] = ()
    newly_late: tuple[str, ...] = ()  # branch codes late this month, not late the month before
    newly_missing: tuple[str, ...] = ()  # branch codes 未提出 this month that were not the month before


@dataclass
class Consolidation:
    fiscal_year: int
    month: date
    catalogue: Catalogue
    submissions: list[Submission]
    statuses: list[BranchStatus]
    findings: list[Finding]
    month_values: dict[tuple[str, str, str], MonthValue]  # (branch, kpi, month)
    branch_kpis: dict[tuple[str, str], BranchKpi]  # (branch, kpi)
    national: dict[str, NationalKpi]
    national_months: dict[tuple[str, str], MonthValue]  # (kpi, month)
    measure_ratings: list[MeasureRating]
    issues: list[tuple[str, str, str]]  # (branch, measure id, 課題 text)
    term_kpis: list[TermKpiRow]
    term_measures: list[TermMeasureRow]
    baselines: dict[tuple[str, str], float] = field(default_factory=dict)
    targets: dict[tuple[str, str], float] = field(default_factory=dict)  # HQ's --targets (branch or 'ALL', KPI)
    # the approved 事業計画's targets (branch or 'ALL' for the implied national target, KPI), display units:
    # what the run used, kept in the run's fingerprint and snapshot (a rebuild reproduces the month)
    plan_targets: dict[tuple[str, str], float] = field(default_factory=dict)
    plans: dict[str, PlanSubmission] = field(default_factory=dict)  # approved plans by branch code (not rebuilt)
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (file, sha256) of every input
    unattributed: list[tuple[str, int]] = field(default_factory=list)  # files no branch could be found for
    used: dict[str, str] = field(default_factory=dict)  # branch code -> path of the file whose values count
    given_findings: list[Finding] = field(default_factory=list)  # the findings build_consolidation was given
    # From the submission ledger (kpisheet.ledger.record.attach); empty without one:
    revisions: list[Revision] = field(default_factory=list)  # the month's revisions (修正履歴)
    # last year's value of the same month: (branch code or 'ALL', this year's KPI id, this year's month)
    previous_year: dict[tuple[str, str, str], float] | None = None  # None: no ledger was used
    no_comparison: dict[str, tuple[str, str]] = field(default_factory=dict)  # KPI id -> (ja, en) why not
    trend: dict[str, KpiTrend] = field(default_factory=dict)  # KPI id -> 月次推移 (quantitative KPIs)
    settings: HqSettings | None = None  # HQ's settings (deadline, contact); None: none given
    # 前月からの変化 against the previous month's recorded run (month_changes); None: no ledger was used
    changes: MonthChanges | None = None

    @property
    def deadline(self) -> date | None:
        """The reporting month's due date from HQ's settings; None without settings."""
        return self.settings.deadline(self.month) if self.settings is not None else None

    @property
    def month_key(self) -> str:
        return month_key(self.month)

    @property
    def months(self) -> list[date]:
        return [m for m in fiscal_months(self.fiscal_year) if m <= self.month]

    @property
    def kpis(self) -> list[Kpi]:
        return [k for k in self.catalogue.kpis if k.applies_to(self.fiscal_year)]

    @property
    def branch_codes(self) -> list[str]:
        return [s.code for s in self.statuses]

    def year_on_year(self, code: str, kpi_id: str) -> YearOnYear:
        """The shown result of a branch (or the nation, 'ALL') beside the same month last year."""
        shown = self.national.get(kpi_id) if code == NATIONAL_CODE else self.branch_kpis.get((code, kpi_id))
        month = getattr(shown, "data_month", None)
        value = getattr(shown, "value", None)
        earlier = _year_before(month)
        if self.previous_year is None:
            return YearOnYear(month, earlier, value, None, None, "台帳なし", "no ledger")
        if kpi_id in self.no_comparison:
            return YearOnYear(month, earlier, value, None, None, *self.no_comparison[kpi_id])
        if month is None or value is None:
            return YearOnYear(month, earlier, value, None, None, "今年度の値なし", "no result this year")
        previous = self.previous_year.get((code, kpi_id, month))
        if previous is None or not math.isfinite(previous):  # a ledger filled before import refused inf/nan
            return YearOnYear(month, earlier, value, None, None, "前年同月の値なし", "no value a year earlier")
        return YearOnYear(month, earlier, value, previous, difference(self.catalogue.kpi(kpi_id), value, previous))

    def revisions_of(self, code: str) -> list[Revision]:
        return [r for r in self.revisions if r.branch_code == code]

    def summary(self, outputs: Iterable[Path] = ()) -> dict[str, Any]:
        """The run summary (what `kpisheet consolidate --json` prints)."""
        counts = {status: 0 for status in STATUSES}
        for s in self.statuses:
            counts[s.status] += 1

        def codes(status: str) -> list[str]:
            return [s.code for s in self.statuses if s.status == status]

        def names(status: str) -> list[str]:
            return [f"{s.code} {s.name}" for s in self.statuses if s.status == status]

        late = [s for s in self.statuses if s.late]

        return {
            "fiscal_year": self.fiscal_year, "fiscal_year_ja": wareki_fiscal_year(self.fiscal_year),
            "month": self.month_key, "kpisheet_version": __version__,
            "branches": {"submitted": counts[STATUS_OK], "with_errors": counts[STATUS_ERRORS],
                         "no_reporting_month": counts[STATUS_NO_MONTH],
                         "no_reporting_month_codes": codes(STATUS_NO_MONTH),
                         "no_reporting_month_names": names(STATUS_NO_MONTH),
                         "unreadable": counts[STATUS_UNREADABLE], "missing": counts[STATUS_MISSING],
                         "missing_codes": codes(STATUS_MISSING), "unreadable_codes": codes(STATUS_UNREADABLE),
                         "missing_names": names(STATUS_MISSING), "unreadable_names": names(STATUS_UNREADABLE),
                         "with_errors_codes": codes(STATUS_ERRORS), "with_errors_names": names(STATUS_ERRORS),
                         "late": len(late), "late_codes": [s.code for s in late],
                         "late_names": [f"{s.code} {s.name}" for s in late]},
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "findings": {"errors": sum(1 for f in self.findings if f.is_error),
                         "warnings": sum(1 for f in self.findings if not f.is_error)},
            "national": [{"kpi_id": n.kpi_id, "value": n.value, "data_month": n.data_month,
                          "target": n.rating.effective_target, "target_source": n.rating.target_source,
                          "mark": n.rating.mark, "progress": n.progress, "covered": len(n.covered),
                          "branches_met": list(n.branches_met) if n.branches_met else None}
                         for n in self.national.values()],
            "inputs": [{"file": f, "sha256": h} for f, h in self.inputs],
            "set_aside": [{"file": f.file, "branch": f.branch, "code": f.code,
                           "used": f.context.get("used")} for f in self.findings if sets_aside(f)],
            "revisions": len(self.revisions),
            "revisions_after_close": sum(1 for r in self.revisions if r.after_close),
            "outputs": [str(p) for p in outputs],
        }


def _year_before(month: str | None) -> str | None:
    """'2024-08' -> '2023-08'."""
    return f"{int(month[:4]) - 1:04d}{month[4:]}" if month else None


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


# ---------------------------------------------------------------- building
def build_consolidation(submissions: list[Submission], findings: list[Finding], *, fiscal_year: int,
                        month: date, baselines: dict[tuple[str, str], float] | None = None,
                        targets: dict[tuple[str, str], float] | None = None,
                        input_files: Iterable[Path] = (), settings: HqSettings | None = None,
                        received: dict[str, str] | None = None,
                        plans: Mapping[str, PlanSubmission] | None = None,
                        plan_targets: Mapping[tuple[str, str], float] | None = None) -> Consolidation:
    """Consolidate already-read submissions and their findings (reads only files' times and digests).

    `submissions` may include stubs of files that could not be read (see
    validation.ValidationResult.unreadable): their values are never used, but they
    tell which branch sent something (status 提出あり・読込不可).  An exception while
    consolidating one branch's submission becomes E190 (E110 when the cause is a damaged file) on its file: that branch's
    values are left out, the others go on.  `received` gives when files arrived (path →
    ISO time, e.g. the ledger's record of a rebuilt run); any other file's time is its mtime.
    `plans` are the branches' approved 事業計画 (by branch code): their targets rate the branches whose
    workbook and --targets give none (target source 「事業計画の目標」), and the nation's target is the
    one they imply.  A rebuild passes the `plan_targets` its run recorded instead.
    """
    cat = catalogue_for_fy(fiscal_year)
    baselines = _finite(baselines)
    findings = _without_set_aside_findings(list(findings))
    usable, exclusions = _usable_submissions(submissions, findings)
    cons = Consolidation(fiscal_year=fiscal_year, month=month, catalogue=cat, submissions=submissions,
                         statuses=[], findings=[], month_values={}, branch_kpis={}, national={},
                         national_months={}, measure_ratings=[], issues=[], term_kpis=[], term_measures=[],
                         baselines=baselines, targets=_finite(targets), given_findings=list(findings),
                         settings=settings)
    cons.plans = {c: p for c, p in (plans or {}).items()
                  if p.fiscal_year in (None, fiscal_year) and p.branch_code in (None, c)}
    cons.plan_targets = _finite(dict(plan_targets)) if plan_targets is not None else \
        plan_targets_of(cat, fiscal_year, cons.plans)
    findings.extend(_targets_against_plans(cons))
    # each KPI's reported months up to the reporting month, (date, '2024-10'), worked out once
    months = {k.id: [(m, month_key(m)) for m in k.months(fiscal_year) if m <= month] for k in cat.kpis}
    for code, sub in list(usable.items()):
        found = _branch_guarded(cons, sub, exclusions[id(sub)], months)
        findings.extend(found)
        if any(f.is_error for f in found):
            del usable[code]
    cons.used = {code: sub.path for code, sub in usable.items()}
    _rank(cons)
    _national(cons, usable)
    cons.findings = _sorted_findings(findings)
    cons.statuses = _statuses(cons, submissions, usable, received or {})
    cons.term_kpis, cons.term_measures = _term_rows()
    cons.inputs = _inputs(submissions, input_files)
    cons.unattributed = _unattributed(submissions, findings)
    return cons


def plan_targets_of(cat: Catalogue, fiscal_year: int, plans: Mapping[str, PlanSubmission]
                    ) -> dict[tuple[str, str], float]:
    """{(branch code, KPI id): target} of the approved plans' `value` targets, and {('ALL', KPI id): target}
    where the plans imply a national one (ratings.implied_national_target)."""
    out: dict[tuple[str, str], float] = {}
    if not plans:
        return out
    for code, plan in sorted(plans.items()):
        for kpi in cat.kpis_for(fiscal_year, code):
            value = plan_target(plan, kpi.id)
            if value is not None:
                out[(code, kpi.id)] = value
    expected = [b.code for b in load_branches() if b.code != HQ_CODE]
    for kpi in cat.kpis:
        if kpi.applies_to(fiscal_year) and kpi.scope != "national":
            value, _ = implied_national_target(kpi, dict(plans), expected)
            if value is not None:
                out[(NATIONAL_CODE, kpi.id)] = value
    return out


def _targets_against_plans(cons: Consolidation) -> list[Finding]:
    """W425: HQ's --targets gives a branch a target other than its approved 事業計画's (the --targets value is used)."""
    out = []
    for (code, kpi_id), value in sorted(cons.targets.items()):
        planned = cons.plan_targets.get((code, kpi_id))
        if code == NATIONAL_CODE or planned is None:
            continue
        try:
            kpi = cons.catalogue.kpi(kpi_id)
        except KeyError:
            continue
        if not same_value(kpi, value, planned):
            out.append(finding("W425", branch=code, subject=kpi_id, label=kpi.short_label, branch_name=_name(code),
                               value=kpi.format_value(value), expected=kpi.format_value(planned)))
    return out


def _name(code: str) -> str:
    return next((b.display_name for b in load_branches() if b.code == code), code)


def _finite(values: dict[tuple[str, str], float] | None) -> dict[tuple[str, str], float]:
    """HQ's previous-year values or targets without inf and nan (the ledger and the reading of
    --baseline refuse them; this keeps a figure finite whatever a caller passes)."""
    return {k: v for k, v in (values or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _branch_guarded(cons: Consolidation, sub: Submission, ex: _Exclusions,
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


def _without_set_aside_findings(findings: list[Finding]) -> list[Finding]:
    """A file set aside for its branch's newer (or identical) one keeps only the finding saying so,
    and W423 (its saved time is in the future: why it did not count as the newest): what else is
    wrong in it no longer concerns the month."""
    aside = {f.file for f in findings if sets_aside(f)}
    return [f for f in findings if f.file not in aside or sets_aside(f) or f.code == FUTURE_SAVED]


def _usable_submissions(submissions: list[Submission], findings: list[Finding]
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


def _judged_month(kpi: Kpi, fiscal_year: int, month: date) -> date | None:
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
                _rating_of(kpi, val, status, annual, m))
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
                         None, status, _rating_of(kpi, None, status, annual, judged), target_source=annual.source)
    data_month, (num, den, val, status) = latest
    rating = _rating_of(kpi, val, status, annual, data_month)
    pace = progress(kpi, val, annual.value, cons.fiscal_year, data_month) if status == "ok" else None
    return BranchKpi(code, kpi.id, judged_key, None, None, "", annual.value, annual.basis_ja, num, den, val,
                     status, rating, None, data_month=month_key(data_month), target_source=annual.source,
                     progress=pace)


def _rating_of(kpi: Kpi, value: float | None, status: str, target: AnnualTarget | None,
               data_month: date) -> Rating:
    if status == "excluded":
        return no_result("excluded_error", target=target)
    if status == "zero_denominator":
        return no_result("not_reported", "分母が0", "denominator is 0", target=target)
    return rate_kpi(kpi, result=value, target=target, data_month=data_month)


def achievement(kpi: Kpi, value: float | None, target: float | None) -> float | None:
    """Result ÷ target ('>='), target ÷ result ('<='), at the shown precision; see the module docstring."""
    if kpi.kind == "qualitative" or value is None or target is None:
        return None
    result, goal = float(shown(kpi, value)), float(shown(kpi, target))
    if not (math.isfinite(result) and math.isfinite(goal)) or result < 0 or goal < 0:
        return None
    if kpi.direction == "<=":
        return bounded_ratio(goal, result)  # a result of 0: RATIO_CEILING, the best there is
    return bounded_ratio(result, goal) if goal > 0 else None


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


def _rank(cons: Consolidation) -> None:
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


# ---------------------------------------------------------------- national figures
# The national figure of a KPI is taken at the latest month that at least this share of the
# branches reporting the KPI this year have reached: one late branch does not hold the nation
# back, one early branch does not make a national figure of itself (README, decisions).
NATIONAL_MONTH_SHARE = 0.5


def _national(cons: Consolidation, usable: dict[str, Submission]) -> None:
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
        judged = _judged_month(kpi, cons.fiscal_year, cons.month)
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
        return _rating_of(kpi, value, status, annual, m)
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


def _sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.branch or "99", f.file or "", not f.is_error, f.sheet or "",
                                           cell_order(f.cell), f.code))


def _expected_codes(cat: Catalogue, fiscal_year: int) -> list[str]:
    hq = any(k.scope == "national" and k.applies_to(fiscal_year) for k in cat.kpis)
    return [b.code for b in load_branches() if b.code != HQ_CODE or hq]


def _statuses(cons: Consolidation, submissions: list[Submission], usable: dict[str, Submission],
              received_times: dict[str, str]) -> list[BranchStatus]:
    """Each expected branch's status, from its own files' findings only.

    Findings about other inputs (a --baseline file's row for the branch) never change it.
    """
    out: list[BranchStatus] = []
    names = {b.code: b.display_name for b in load_branches()}
    by_file: dict[str | None, list[Finding]] = {}
    for f in cons.findings:
        by_file.setdefault(f.file, []).append(f)
    for code in _expected_codes(cons.catalogue, cons.fiscal_year):
        subs = [s for s in submissions if s.branch_code == code]
        files = {s.path for s in subs}
        mine = [f for p in sorted(files) for f in by_file.get(p, [])]
        mine += [f for f in by_file.get(None, []) if f.branch == code]
        errors = sum(1 for f in mine if f.is_error)
        if not subs and not mine:
            out.append(BranchStatus(code, names[code], STATUS_MISSING, (), (), None, None, 0, 0, None, ()))
            continue
        sub = usable.get(code)
        unreadable = bool(subs) and all(_unreadable(s, by_file.get(s.path, [])) for s in subs)
        status = STATUS_UNREADABLE if sub is None and unreadable else (
            STATUS_NO_MONTH if sub is not None and any(f.code == REPORTING_MONTH_MISSING and f.file == sub.path
                                                       for f in mine) else
            STATUS_ERRORS if errors or sub is None else STATUS_OK)
        last = last_reported_month(sub, cons.month) if sub is not None else None
        shown_files = tuple(sorted(files or {f.file for f in mine if f.file}))
        received = _received_at([sub.path] if sub else list(shown_files), received_times)
        out.append(BranchStatus(
            code, names[code], status, shown_files, tuple(s.sha256 for s in subs),
            jst_text(sub.saved_at) if sub else None, sub.saved_by if sub else None, errors, len(mine) - errors,
            _completeness(cons, code) if sub else None, _left_out_list(cons, code, sub, mine),
            jst_text(received), _late(_trusted_saved(sub, mine), received, cons.deadline),
            month_key(last) if last else None))
    return out


def _received_at(paths: list[str], given: dict[str, str]) -> datetime | None:
    """When the newest of `paths` arrived: the time `given` for it, else its modification time
    (the Submission records no other)."""
    times = []
    for p in paths:
        at = to_jst(given.get(p))
        if at is None:
            try:
                at = datetime.fromtimestamp(os.stat(p).st_mtime, JST)
            except OSError:
                continue
        times.append(at)
    return max(times) if times else None


def _trusted_saved(sub: Submission | None, mine: list[Finding]) -> datetime | None:
    """The file's saved time, unless the run found it in the future (W423: the PC clock was wrong)."""
    if sub is None or not sub.saved_at or any(f.code == FUTURE_SAVED and f.file == sub.path for f in mine):
        return None
    return to_jst(sub.saved_at)


def _late(saved: datetime | None, received: datetime | None, deadline: date | None) -> bool:
    """Saved by the branch (else: arrived) after the deadline day ended in Japan Standard Time."""
    at = saved or received
    if at is None or deadline is None:
        return False
    return at >= datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=JST)


def _unreadable(sub: Submission, findings: list[Finding]) -> bool:
    """The file could not be read (or checked) at all: a stub, or an E1xx/E201 finding on it."""
    return not is_readable(sub) or any(makes_unreadable(f) for f in findings)


def _completeness(cons: Consolidation, code: str) -> float | None:
    expected = filled = 0
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        if bk is None or bk.judged_month is None:
            continue
        cells = 2 if kpi.kind == "ratio" else 1
        expected += cells + (1 if kpi.target.rule == "branch" else 0)
        if kpi.target.rule == "branch" and bk.branch_target is not None:
            filled += 1
        if kpi.kind == "qualitative":
            filled += 1 if bk.status == "ok" else 0
            continue
        mv = cons.month_values.get((code, kpi.id, bk.judged_month))
        if mv and mv.status in ("ok", "zero_denominator", "excluded"):
            filled += cells
        elif mv and kpi.kind == "ratio" and (mv.numerator is not None or mv.denominator is not None):
            filled += 1
    return filled / expected if expected else None


def _left_out_list(cons: Consolidation, code: str, sub: Submission | None, mine: list[Finding]) -> tuple[str, ...]:
    if sub is None:
        codes = sorted({f.code for f in mine if f.is_error})
        if any(makes_unreadable(f) for f in mine) and not any(f.code == "E207" for f in mine):
            return (f"ブックを読み込めないため全体を除外（{', '.join(codes)}）",)
        return (f"ブック全体を除外（{', '.join(codes) or '同一支部の複数ファイル'}）",)
    out = []
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        if bk and bk.rating.reason_code == "excluded_error":
            out.append(f"{kpi.id} {kpi.short_label}：エラーにより除外")
    return tuple(out)


def _term_rows() -> tuple[list[TermKpiRow], list[TermMeasureRow]]:
    mapping = load_mapping()
    old, new = catalogue_for_fy_term(mapping.from_term), catalogue_for_fy_term(mapping.to_term)
    kpis = [TermKpiRow(k.from_id, old.kpi(k.from_id).label if k.from_id else "", k.to_id,
                       new.kpi(k.to_id).label if k.to_id else "", k.relation, k.baseline_valid, k.note or "")
            for k in mapping.kpis]
    measures = [TermMeasureRow(m.from_id, old.measure(m.from_id).heading if m.from_id else "", m.to_ids,
                               "／".join(new.measure(t).heading for t in m.to_ids), m.relation, m.note or "")
                for m in mapping.measures]
    return kpis, measures


def catalogue_for_fy_term(term: int) -> Catalogue:
    from kpisheet.domain.catalogue import load_catalogue

    return load_catalogue(term)


def _inputs(submissions: list[Submission], files: Iterable[Path]) -> list[tuple[str, str]]:
    from kpisheet.fileio import sha256_file

    known = {s.path: s.sha256 for s in submissions}
    out = []
    for p in files:
        digest = known.get(str(p))
        if digest is None:
            try:
                digest = sha256_file(Path(p))
            except OSError:
                digest = ""
        out.append((str(p), digest))
    for path, digest in sorted(known.items()):
        if path not in {f for f, _ in out}:
            out.append((path, digest))
    return out


def _unattributed(submissions: list[Submission], findings: list[Finding]) -> list[tuple[str, int]]:
    attributed = {s.path for s in submissions if s.branch_code}
    files: dict[str, int] = {}
    for f in findings:
        if f.file and not f.branch and f.file not in attributed and f.is_error:
            files[f.file] = files.get(f.file, 0) + 1
    return sorted(files.items())


# ---------------------------------------------------------------- who is behind, what changed
def behind(cons: Consolidation, kpi: Kpi, share: float) -> tuple[str, list[BranchKpi]]:
    """The branches behind on a KPI, and by what: ('progress', those whose 進捗 is below `share` of the
    pace, slowest first) for a KPI that grows through the year (rank_basis), else ('mark', the △
    branches in code order).  HQ (00) is never among them."""
    rows = [cons.branch_kpis[(c, kpi.id)] for c in cons.branch_codes
            if c != HQ_CODE and (c, kpi.id) in cons.branch_kpis]
    if rank_basis(kpi) == "progress":
        slow = [b for b in rows if b.progress is not None and b.progress < share - 1e-9]
        return "progress", sorted(slow, key=lambda b: (b.progress or 0.0, b.branch_code))
    return "mark", [b for b in rows if b.rating.mark == "△"]


def month_changes(cons: Consolidation, previous: Consolidation | None, previous_month: str) -> MonthChanges:
    """Marks that moved (national and branch × KPI), branches newly late or 未提出, against `previous`
    — the Consolidation of the previous month's recorded run (None: the ledger holds none)."""
    if previous is None:
        return MonthChanges(None)
    national = tuple(MarkChange(NATIONAL_CODE, k.id, previous.national[k.id].rating.mark, n.rating.mark)
                     for k in cons.kpis if (n := cons.national.get(k.id)) is not None and k.id in previous.national
                     and previous.national[k.id].rating.mark != n.rating.mark)
    branches = tuple(MarkChange(code, kpi_id, old.rating.mark, b.rating.mark)
                     for (code, kpi_id), b in sorted(cons.branch_kpis.items(), key=lambda kv: (kv[0][1], kv[0][0]))
                     if code != HQ_CODE and (old := previous.branch_kpis.get((code, kpi_id))) is not None
                     and old.rating.mark != b.rating.mark)
    before = {s.code: s for s in previous.statuses}
    late = tuple(s.code for s in cons.statuses if s.late and not (before.get(s.code) and before[s.code].late))
    missing = tuple(s.code for s in cons.statuses if s.status == STATUS_MISSING
                    and not (before.get(s.code) and before[s.code].status == STATUS_MISSING))
    return MonthChanges(previous_month, national, branches, late, missing)
