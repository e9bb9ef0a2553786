"""E411 a value beyond what the KPI could ever be, E412 a month's rate too large to be a number.

A plausible range (W419, kpisheet.check.rules.numbers) only warns: a real value may lie
outside it.  A ceiling is different: no real input of the KPI can be larger (the
catalogue's `ceiling`, else catalogue.INPUT_CEILING, see Kpi.input_ceiling), so a value
above it — 9E+307, a row of nines, a count larger than all of the association's offices —
is a slip, refused where it was typed and left out of every figure (an error finding
names its cell, and consolidation leaves out the value it points at).  Below the ceilings
every Σ over the branches and the months is a finite number.

E412: a ratio month whose numerator and denominator are each within the ceiling can still
give a rate beyond it, or one no number can hold (a denominator of 1E-300); the denominator
is refused.
"""

from __future__ import annotations

import math
from typing import Iterator

from kpisheet.check.rules.base import at, num
from kpisheet.domain.catalogue import Kpi
from kpisheet.domain.findings import Finding
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.model import InputValue, KpiEntry, Submission
from kpisheet.read.names import input_label

CODES = frozenset({"E411", "E412"})


def check(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    for field in ("target", "baseline"):
        if not kpi.is_percent:  # a percent's are 0–100 (E402)
            yield from _beyond(sub, kpi, getattr(entry, field), input_label(kpi, field))
    for m in entry.months.values():
        month = parse_month(m.month)
        for field, iv in (("num", m.numerator), ("den", m.denominator), ("val", m.value)):
            yield from _beyond(sub, kpi, iv, input_label(kpi, field, month))
        n, d = m.numerator.value, m.denominator.value
        if (kpi.kind == "ratio" and isinstance(n, float) and isinstance(d, float)
                and _within(kpi, n) and _within(kpi, d) and d > 0 and n >= 0 and not rate_within(kpi, n, d)):
            yield at(sub, m.denominator, "E412", kpi.id, label=input_label(kpi, "den", month), value=num(d),
                     numerator=num(n))


def rate_within(kpi: Kpi, n: float, d: float) -> bool:
    """The month's rate is a number no larger than the KPI's ceiling (a percent's are E401's)."""
    rate = kpi.rate(n, d)
    return rate is not None and (kpi.is_percent or rate <= kpi.input_ceiling)


def _within(kpi: Kpi, v: float) -> bool:
    return math.isfinite(v) and v <= kpi.input_ceiling  # below 0 is E403


def _beyond(sub: Submission, kpi: Kpi, iv: InputValue, label: str) -> Iterator[Finding]:
    v = iv.value
    if isinstance(v, float) and not _within(kpi, v):
        yield at(sub, iv, "E411", kpi.id, label=label, value=num(v), high=kpi.format_value(kpi.input_ceiling))
