"""E406: the annual target is missing where the branch must set one.

rule "branch": the branch types its own target, so an empty target is an error.
rule "baseline" ("対前年度以上"): the target follows from the previous year's
value.  With neither a target nor a baseline the KPI cannot be judged (its mark
is — 前年度値なし), but that is often nobody's mistake — a KPI whose definition
changed or that is new this term has no comparable last-year value — so it is a
warning (W415) at the baseline cell, asking for the value if the branch has it.
rule "generic_conditional" (K6-2-08): without a baseline the target is 80%, which is
wrong for a branch already at 80% or more, so an empty baseline is W418 (not silent).  An empty target with a baseline present is fine.

A typed target is what the mark uses (README, "Ratings"), so two warnings say when it
departs from what HQ expected: W416 when the branch changed the value HQ prefilled
(the workbook records HQ's values in _meta), W417 when a 対前年度以上 target is below the
previous-year value shown in the workbook.
"""

from __future__ import annotations

from typing import Iterator

from kpisheet.check.rules.base import at
from kpisheet.domain.catalogue import Kpi, no_comparable_last_year
from kpisheet.domain.findings import Finding
from kpisheet.domain.model import KpiEntry, Submission
from kpisheet.domain.ratings import same_value

CODES = frozenset({"E406", "W415", "W416", "W417", "W418"})


def check(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    if kpi.kind == "qualitative":
        return
    if isinstance(entry.target.value, float):
        yield from _typed(sub, kpi, entry, entry.target.value)
        return
    if entry.target.value is not None or entry.target.raw is not None:
        return
    if entry.target.source is None:  # the cell itself is missing: already E301
        return
    rule = kpi.target.rule
    baseline_empty = entry.baseline.value is None and entry.baseline.raw is None
    if rule == "branch":
        yield at(sub, entry.target, "E406", kpi.id, label=kpi.short_label)
    elif rule == "baseline" and baseline_empty and entry.baseline.source is not None \
            and not _no_comparable_last_year(sub, kpi):
        yield at(sub, entry.baseline, "W415", kpi.id, label=kpi.short_label)
    elif rule == "generic_conditional" and baseline_empty and entry.baseline.source is not None \
            and not _no_comparable_last_year(sub, kpi):
        yield at(sub, entry.baseline, "W418", kpi.id, label=kpi.short_label)


def _typed(sub: Submission, kpi: Kpi, entry: KpiEntry, typed: float) -> Iterator[Finding]:
    prefilled = getattr(sub, "prefilled_targets", {}).get(kpi.id)
    if prefilled is not None and not same_value(kpi, typed, prefilled):
        yield at(sub, entry.target, "W416", kpi.id, label=kpi.short_label, value=kpi.format_value(typed),
                 expected=kpi.format_value(prefilled))
    baseline = entry.baseline.value
    if not isinstance(baseline, float) or kpi.target.rule not in ("baseline", "generic_conditional"):
        return
    floor = kpi.target.value or 0.0
    if kpi.target.rule == "generic_conditional" and baseline < floor:
        return  # below 80 % last year: the target is 80 %, not last year's value
    worse = typed > baseline if kpi.direction == "<=" else typed < baseline
    if worse and not same_value(kpi, typed, baseline):
        yield at(sub, entry.target, "W417", kpi.id, label=kpi.short_label, value=kpi.format_value(typed),
                 expected=kpi.format_value(baseline), reason="以上" if kpi.direction == ">=" else "以下")


def _no_comparable_last_year(sub: Submission, kpi: Kpi) -> bool:
    return sub.fiscal_year is not None and no_comparable_last_year(sub.fiscal_year, kpi)

