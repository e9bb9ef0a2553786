"""W412: a branch's monthly level far from the other branches' median (several files validated).

Only rates of ratio KPIs (percent points or yen per case) are compared: counts
scale with the size of the prefecture, so their spread says nothing.  "Far" = more than 4 scaled median absolute deviations and more than
25% of the median away, with at least 8 branches reporting that month.
"""

from __future__ import annotations

import statistics
from typing import Iterator

from kpisheet.check.rules.base import at, month_text
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.findings import Finding
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.model import Submission
from kpisheet.read.names import rate_label

CODES = frozenset({"W412"})

MIN_BRANCHES = 8
MAD_FACTOR = 4.0
MIN_RELATIVE = 0.25


def outliers_across_branches(subs: list[Submission]) -> list[Finding]:
    return list(_outliers(subs))


def _outliers(subs: list[Submission]) -> Iterator[Finding]:
    groups: dict[tuple[int, str, str], list[tuple[Submission, float]]] = {}
    for sub in subs:
        term = sub.term
        if term is None:  # its _meta was unreadable: it has no KPI values either
            continue
        cat = load_catalogue(term)
        for kpi_id, entry in sub.kpis.items():
            if not cat.has_kpi(kpi_id) or cat.kpi(kpi_id).kind != "ratio":
                continue
            kpi = cat.kpi(kpi_id)
            for m in entry.months.values():
                n, d = m.numerator.value, m.denominator.value
                rate = kpi.rate(n, d) if isinstance(n, float) and isinstance(d, float) and d > 0 else None
                if rate is not None:
                    groups.setdefault((term, kpi_id, m.month), []).append((sub, rate))
    for (term, kpi_id, month), rows in groups.items():
        if len(rows) < MIN_BRANCHES:
            continue
        kpi = load_catalogue(term).kpi(kpi_id)
        levels = [v for _, v in rows]
        median = statistics.median(levels)
        mad = statistics.median(abs(v - median) for v in levels) * 1.4826
        for sub, v in rows:
            if abs(v - median) > MAD_FACTOR * mad and abs(v - median) > MIN_RELATIVE * max(abs(median), 1e-9):
                iv = sub.kpis[kpi_id].months[month].numerator
                yield at(sub, iv, "W412", kpi_id, label=rate_label(kpi, parse_month(month)),
                         value=kpi.format_value(v), expected=kpi.format_value(median),
                         month=month_text(month), month_en=month)
