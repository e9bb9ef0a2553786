"""The records of a consolidation (kpisheet.consolidate.build makes them): per branch × KPI × month
values and marks, national figures, statuses, the trend, the term table and what changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from kpisheet import __version__
from kpisheet.domain.catalogue import Catalogue, Kpi
from kpisheet.domain.display import difference, shown
from kpisheet.domain.findings import Finding, sets_aside
from kpisheet.domain.fiscal import (
    fiscal_months,
    month_key,
    wareki_fiscal_year,
)
from kpisheet.domain.model import Submission
from kpisheet.domain.plan import PlanSubmission
from kpisheet.domain.ratings import (
    Rating,
    bounded_ratio,
)

if TYPE_CHECKING:  # pragma: no cover

    from kpisheet.domain.settings import HqSettings



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
