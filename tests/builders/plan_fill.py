"""A `PlanSubmission` typed into a generated plan workbook, by defined name (openpyxl).

`plan_values(plan)` gives {defined name: value} as Excel stores what a branch types (a percent target
as its fraction, counts as numbers, list cells as the list's words); `fill_plan(blank, out, plan)`
writes them into a copy of a workbook `generate_plans` wrote, clearing the activity rows HQ prefilled
from last year's plan beyond the plan's own items.  `typed` replaces single values afterwards (a
string is written as text: 「４５．０％」 typed into a number cell).  Used by examples/make_plans.py (the
shipped example plans) and the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import openpyxl

from kpisheet.domain.catalogue import Catalogue, catalogue_for_fy
from kpisheet.domain.plan import PlanSubmission
from kpisheet.plan import names as pn
from tests.builders.sample import write_by_names
from kpisheet.plan.template import COVERED_HERE, KIND_RULE, KIND_VALUE, covered_choice


def plan_values(plan: PlanSubmission, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """{defined name: stored value} of everything `plan` states (None: an empty cell)."""
    assert plan.fiscal_year is not None
    cat = catalogue or catalogue_for_fy(plan.fiscal_year)
    out: dict[str, Any] = {pn.info_key("preparer").name: plan.preparer, pn.info_key("contact").name: plan.contact}
    for mid, m in plan.measures.items():
        out[pn.measure_key(mid, "numbering").name] = m.numbering.value
        out[pn.measure_key(mid, "heading").name] = m.heading.value
        out[pn.measure_key(mid, "group").name] = m.group.value
        out[pn.measure_key(mid, "focus").name] = "○" if m.focus else None
        if not mid.startswith("B-"):
            out[pn.measure_key(mid, "covered").name] = \
                covered_choice(cat.measure(m.covered_by)) if m.covered_by else COVERED_HERE
        for n, item in enumerate(m.items, start=1):
            out[pn.item_key(mid, n, "level").name] = item.level.value
            out[pn.item_key(mid, n, "sub").name] = item.subheading.value
            out[pn.item_key(mid, n, "text").name] = item.text.value
            out[pn.item_key(mid, n, "group").name] = item.group.value
            out[pn.item_key(mid, n, "flag").name] = item.flag.value
    for kid, k in plan.kpis.items():
        kpi = cat.kpi(kid)
        if k.kind == "text":
            out[pn.kpi_key(kid, "target").name] = k.target.value
            continue
        out[pn.kpi_key(kid, "kind").name] = KIND_VALUE if k.kind == "value" else KIND_RULE[kpi.direction]
        out[pn.kpi_key(kid, "target").name] = _stored(k.target.value, kpi.is_percent) if k.kind == "value" else None
        out[pn.kpi_key(kid, "expected").name] = _stored(k.expected.value, kpi.is_percent)
        out[pn.kpi_key(kid, "expected_status").name] = k.expected_status.value
        out[pn.kpi_key(kid, "expected_as_of").name] = k.expected_as_of.value
        out[pn.kpi_key(kid, "reason").name] = k.reason.value
        if kpi.plan is not None and kpi.plan.takes_counts:
            if not kpi.plan.shared_with:
                out[pn.kpi_key(kid, "pop").name] = k.population.value
            out[pn.kpi_key(kid, "planned").name] = k.planned.value
    return out


def _stored(value: Any, percent: bool) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and percent:
        return round(float(value) / 100, 10)
    return value


def fill_plan(blank: Path, out: Path, plan: PlanSubmission, *, typed: Mapping[str, Any] | None = None,
              catalogue: Catalogue | None = None) -> Path:
    """Copy the generated plan workbook `blank` to `out` with `plan` typed into it (see the module docstring).
    A name `plan` needs that the workbook lacks raises KeyError (a builder bug, not user input)."""
    wb = openpyxl.load_workbook(blank)
    values = plan_values(plan, catalogue)
    for mid, m in plan.measures.items():  # last year's activities beyond this year's: cleared
        n = len(m.items) + 1
        while pn.item_key(mid, n, "text").name in wb.defined_names:
            for field in pn.ITEM_FIELDS:
                values[pn.item_key(mid, n, field).name] = None
            n += 1
    values.update(typed or {})
    write_by_names(wb, values, blank, absent_blank_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out
