"""Domain rules on a Submission: small modules, each yielding Findings.

check_submission runs every per-workbook rule; outliers_across_branches compares
several branches' workbooks of one run (validation calls both through this package).
"""

from __future__ import annotations

from datetime import date

from kpisheet.check.rules import ceilings, measures, months, numbers, targets
from kpisheet.check.rules.outliers import outliers_across_branches  # noqa: F401  (part of this package's interface)
from kpisheet.domain.catalogue import Catalogue
from kpisheet.domain.findings import Finding
from kpisheet.domain.model import Submission


def check_submission(sub: Submission, cat: Catalogue, *, as_of: date | None = None) -> list[Finding]:
    out: list[Finding] = []
    for kpi_id, entry in sub.kpis.items():
        if not cat.has_kpi(kpi_id):
            continue
        kpi = cat.kpi(kpi_id)
        out.extend(numbers.check(sub, kpi, entry))
        out.extend(ceilings.check(sub, kpi, entry))
        out.extend(months.check(sub, kpi, entry, as_of))
        out.extend(targets.check(sub, kpi, entry))
    if as_of is not None:
        out.extend(months.reporting_month(sub, cat, as_of))
    for measure in sub.measures.values():
        out.extend(measures.check(sub, measure))
    return out
