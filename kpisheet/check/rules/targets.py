"""E406: the annual target is missing where the branch must set one.

rule "branch": the branch types its own target, so an empty target is an error.
rule "baseline" ("対前年度以上"): the target is the rule applied to the previous year's
value at rating time (README, "Ratings").  With neither a target nor a previous-year value
the KPI cannot be judged (its mark is — 前年度実績なし), so that is a warning (W415) at
the baseline cell, asking for the value — also for a KPI new or redefined this term: the
term-6 action plan sets 対前年度以上 from its first year, and HQ can compute last year's
value under the new definition.
rule "generic_conditional" (K6-2-08): without a baseline the target is 80%, which is
wrong for a branch already at 80% or more, so an empty baseline is W418 (not silent).  An empty target with a baseline present is fine.

A typed target is what the mark uses (README, "Ratings"), so two warnings say when it
departs from what HQ expected: W416 when the branch changed the value HQ prefilled
(the workbook records HQ's values in _meta), W417 when a 対前年度以上 target is below the
previous-year value.  The previous-year value is HQ's figure: W420 when the branch changed
the one HQ prefilled (recorded in _meta), naming HQ's value, which is the one used.
A target cell that only restates the rule (workbooks made before _meta recorded the
prefilled baselines froze last year's value there) follows the rule: no W416/W417.
A target HQ prefilled from the branch's approved 事業計画 (_meta prefill_sources 'plan:…') and changed
in the workbook is W424 instead of W416, naming the plan's value (the typed value is still used: the
workbook cell is the branch's statement).
"""

from __future__ import annotations

from typing import Iterator

from kpisheet.check.rules.base import at
from kpisheet.domain.catalogue import Kpi
from kpisheet.domain.findings import Finding
from kpisheet.domain.model import KpiEntry, Submission
from kpisheet.domain.ratings import follows_rule, same_value

CODES = frozenset({"E406", "W415", "W416", "W417", "W418", "W420", "W424"})


def check(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    if kpi.kind == "qualitative":
        return
    yield from _changed_baseline(sub, kpi, entry)
    typed = entry.target.value
    if isinstance(typed, float) and not follows_rule(kpi, typed, prefilled=sub.prefilled_targets.get(kpi.id),
                                                      rule_target=kpi.id in sub.rule_targets):
        yield from _typed(sub, kpi, entry, typed)
        return
    if entry.target.value is not None or entry.target.raw is not None:
        return
    if entry.target.source is None:  # the cell itself is missing: already E301
        return
    rule = kpi.target.rule
    baseline_empty = entry.baseline.value is None and entry.baseline.raw is None \
        and kpi.id not in sub.prefilled_baselines
    if rule == "branch":
        yield at(sub, entry.target, "E406", kpi.id, label=kpi.short_label)
    elif rule == "baseline" and baseline_empty and entry.baseline.source is not None:
        yield at(sub, entry.baseline, "W415", kpi.id, label=kpi.short_label)
    elif rule == "generic_conditional" and baseline_empty and entry.baseline.source is not None:
        yield at(sub, entry.baseline, "W418", kpi.id, label=kpi.short_label)


def _changed_baseline(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    """W420: the branch changed (or cleared) the previous-year value HQ prefilled; HQ's value is used."""
    hq = sub.prefilled_baselines.get(kpi.id)
    if hq is None or entry.baseline.source is None:
        return
    value = entry.baseline.value
    if isinstance(value, float) and same_value(kpi, value, hq):
        return
    if value is None and entry.baseline.raw is None:
        shown = "空欄"
    elif isinstance(value, float):
        shown = kpi.format_value(value)
    else:
        shown = str(entry.baseline.raw if entry.baseline.raw is not None else value)
    yield at(sub, entry.baseline, "W420", kpi.id, label=kpi.short_label, value=shown,
             expected=kpi.format_value(hq))


def _typed(sub: Submission, kpi: Kpi, entry: KpiEntry, typed: float) -> Iterator[Finding]:
    prefilled = sub.prefilled_targets.get(kpi.id)
    if prefilled is not None and not same_value(kpi, typed, prefilled):
        from_plan = sub.prefill_sources.get(kpi.id, "").startswith("plan:")
        yield at(sub, entry.target, "W424" if from_plan else "W416", kpi.id, label=kpi.short_label, value=kpi.format_value(typed),
                 expected=kpi.format_value(prefilled))
    baseline = sub.prefilled_baselines.get(kpi.id, entry.baseline.value)
    if not isinstance(baseline, float) or kpi.target.rule not in ("baseline", "generic_conditional"):
        return
    floor = kpi.target.value or 0.0
    if kpi.target.rule == "generic_conditional" and baseline < floor:
        return  # below 80 % last year: the target is 80 %, not last year's value
    worse = typed > baseline if kpi.direction == "<=" else typed < baseline
    if worse and not same_value(kpi, typed, baseline):
        yield at(sub, entry.target, "W417", kpi.id, label=kpi.short_label, value=kpi.format_value(typed),
                 expected=kpi.format_value(baseline), reason="以上" if kpi.direction == ">=" else "以下")
