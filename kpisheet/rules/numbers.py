"""E401 numerator > denominator, E402 percent outside 0–100, E403 negative, E410 numerator
without denominator, W414 a percent that looks typed as a fraction."""

from __future__ import annotations

from typing import Iterator

from ..catalogue import Kpi
from ..findings import Finding
from ..fiscal import parse_month
from ..model import KpiEntry, Submission
from ..names import input_label
from .base import at, month_text, num


def check(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    for field in ("target", "baseline"):
        iv = getattr(entry, field)
        v = iv.value
        if not isinstance(v, float):
            continue
        label = input_label(kpi, field)
        if kpi.is_percent and not 0 <= v <= 100:
            yield at(sub, iv, "E402", kpi.id, label=label, value=num(v))
        elif v < 0:
            yield at(sub, iv, "E403", kpi.id, label=label, value=num(v))
        elif kpi.is_percent and 0 < v < 1 and kpi.decimals < 3:
            yield at(sub, iv, "W414", kpi.id, label=label, value=num(v))
    for m in entry.months.values():
        month = parse_month(m.month)
        for field, iv in (("num", m.numerator), ("den", m.denominator), ("val", m.value)):
            if isinstance(iv.value, float) and iv.value < 0:
                yield at(sub, iv, "E403", kpi.id, label=input_label(kpi, field, month), value=num(iv.value))
        n, d = m.numerator.value, m.denominator.value
        if not isinstance(n, float):
            continue
        den_label = input_label(kpi, "den", month)
        if d is None or d == 0:
            if m.denominator.raw is None or d == 0:  # an unreadable denominator is already E304
                yield at(sub, m.numerator, "E410", kpi.id, label=input_label(kpi, "num", month),
                         value=num(n), month=month_text(m.month), denominator_label=den_label,
                         reason="0" if d == 0 else "空欄")
        elif kpi.is_percent and isinstance(d, float) and n > d >= 0:
            yield at(sub, m.numerator, "E401", kpi.id, label=input_label(kpi, "num", month),
                     value=num(n), expected=num(d), month=month_text(m.month), denominator_label=den_label)
