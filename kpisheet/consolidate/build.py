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

The stages of the build live beside this module: `model` (the Consolidation and its records),
`branches` (a branch's values, marks, achievements and ranks), `national` (national figures,
coverage and the month-by-month trend), `statuses` (each branch's status, lateness and
completeness) and `changes` (who is behind, what changed since last month).
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from kpisheet.domain.catalogue import HQ_CODE, Catalogue, catalogue_for_fy, load_branches
from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.fiscal import (
    month_key,
)
from kpisheet.domain.model import Submission
from kpisheet.domain.plan import PlanSubmission
from kpisheet.domain.ratings import (
    implied_national_target,
    plan_target,
    same_value,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from kpisheet.domain.settings import HqSettings

from kpisheet.consolidate.model import Consolidation, NATIONAL_CODE
from kpisheet.consolidate.branches import branch_guarded, rank_branches, usable_submissions, without_set_aside_findings
from kpisheet.consolidate.national import national_figures
from kpisheet.consolidate.statuses import branch_statuses, input_list, sorted_findings, term_rows, unattributed_files


CODES = frozenset({"W425"})  # HQ's --targets value for a branch differs from its approved 事業計画's target


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
    findings = without_set_aside_findings(list(findings))
    usable, exclusions = usable_submissions(submissions, findings)
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
        found = branch_guarded(cons, sub, exclusions[id(sub)], months)
        findings.extend(found)
        if any(f.is_error for f in found):
            del usable[code]
    cons.used = {code: sub.path for code, sub in usable.items()}
    rank_branches(cons)
    national_figures(cons, usable)
    cons.findings = sorted_findings(findings)
    cons.statuses = branch_statuses(cons, submissions, usable, received or {})
    cons.term_kpis, cons.term_measures = term_rows()
    cons.inputs = input_list(submissions, input_files)
    cons.unattributed = unattributed_files(submissions, findings)
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
