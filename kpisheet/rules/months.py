"""E404/W404 year-to-date values falling, E405 values after --as-of, W411 a month far from
the previous month, W413 months up to --as-of not reported."""

from __future__ import annotations

from datetime import date
from typing import Iterator

from ..catalogue import Kpi
from ..findings import Finding
from ..fiscal import parse_month
from ..model import InputValue, KpiEntry, KpiMonth, Submission
from ..names import input_label
from .base import at, month_text, num

JUMP_POINTS = 15.0  # W411: a level rate moving more than this many points in one month
JUMP_RELATIVE = 0.5  # W411: ... or a level count / yen rate moving more than 50%
JUMP_MIN_DENOMINATOR = 30.0  # W411: below this a rate moves by chance (1 of 3 bids -> 1 of 6)


def _filled(m: KpiMonth) -> list[InputValue]:
    return [iv for iv in (m.numerator, m.denominator, m.value) if iv.value is not None]


def check(sub: Submission, kpi: Kpi, entry: KpiEntry, as_of: date | None) -> Iterator[Finding]:
    months = list(entry.months.values())
    yield from _falling(sub, kpi, months)
    yield from _jumps(sub, kpi, months)
    if as_of is None:
        return
    for m in months:
        month = parse_month(m.month)
        if month > as_of:
            for iv in _filled(m):
                field = "num" if iv is m.numerator else "den" if iv is m.denominator else "val"
                yield at(sub, iv, "E405", kpi.id, label=input_label(kpi, field, month), value=num(iv.value),
                         month=month_text(m.month), expected=month_text(f"{as_of:%Y-%m}"))
        elif not _filled(m) and not any(iv.raw is not None for iv in (m.numerator, m.denominator, m.value)):
            field = "val" if kpi.kind == "count" else "num"
            iv = m.value if kpi.kind == "count" else m.numerator
            yield at(sub, iv, "W413", kpi.id, label=input_label(kpi, field, month), month=month_text(m.month))


def _falling(sub: Submission, kpi: Kpi, months: list[KpiMonth]) -> Iterator[Finding]:
    """Cumulative KPIs: YTD numerators / counts must not fall (E404); level counts: W404."""
    if kpi.kind == "ratio" and not kpi.cumulative:
        return
    field = "num" if kpi.kind == "ratio" else "val"
    code = "E404" if kpi.cumulative else "W404"
    prev: tuple[str, float] | None = None
    for m in months:
        iv = m.numerator if field == "num" else m.value
        if not isinstance(iv.value, float):
            continue
        if prev is not None and iv.value < prev[1]:
            yield at(sub, iv, code, kpi.id, label=input_label(kpi, field, parse_month(m.month)),
                     value=num(iv.value), expected=num(prev[1]), month=month_text(m.month),
                     previous_month=month_text(prev[0]))
        prev = (m.month, iv.value)


def _level(kpi: Kpi, m: KpiMonth) -> float | None:
    if kpi.kind == "count":
        return m.value.value if isinstance(m.value.value, float) else None
    n, d = m.numerator.value, m.denominator.value
    if isinstance(n, float) and isinstance(d, float) and d >= JUMP_MIN_DENOMINATOR:
        return kpi.rate(n, d)
    return None


def _jumps(sub: Submission, kpi: Kpi, months: list[KpiMonth]) -> Iterator[Finding]:
    """W411 for level KPIs (cumulative ones grow by design): a sharp change month on month."""
    if kpi.cumulative or kpi.kind == "qualitative":
        return
    prev: tuple[str, float] | None = None
    for m in months:
        level = _level(kpi, m)
        if level is None:
            continue
        if prev is not None and _sharp(kpi, prev[1], level):
            iv = m.value if kpi.kind == "count" else m.numerator
            field = "val" if kpi.kind == "count" else "num"
            yield at(sub, iv, "W411", kpi.id, label=input_label(kpi, field, parse_month(m.month)),
                     value=kpi.format_value(level), expected=kpi.format_value(prev[1]),
                     month=month_text(m.month))
        prev = (m.month, level)


def _sharp(kpi: Kpi, before: float, now: float) -> bool:
    if kpi.is_percent:
        return abs(now - before) > JUMP_POINTS
    return abs(now - before) > JUMP_RELATIVE * max(abs(before), 1.0)
