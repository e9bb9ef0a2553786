"""E406: the annual target is missing where the branch must set one.

rule "branch": the branch types its own target, so an empty target is an error.
rule "baseline" / "generic_conditional" ("対前年度以上"): the target follows from
the previous year's value.  When HQ prefilled neither, the template asks the
branch to enter them; if both the target and the baseline are still empty,
nobody can judge the KPI, so that is an error at the target cell too.  An empty
target with a baseline present is fine (the target is the baseline).
"""

from __future__ import annotations

from typing import Iterator

from ..catalogue import Kpi
from ..findings import Finding
from ..model import KpiEntry, Submission
from .base import at


def check(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    if kpi.kind == "qualitative" or entry.target.value is not None or entry.target.raw is not None:
        return
    if entry.target.source is None:  # the cell itself is missing: already E301
        return
    rule = kpi.target.rule
    baseline_empty = entry.baseline.value is None and entry.baseline.raw is None
    if rule == "branch" or (rule in ("baseline", "generic_conditional") and baseline_empty):
        yield at(sub, entry.target, "E406", kpi.id, label=kpi.short_label)
