"""E404 a year-to-date flow falling, E405 values after --as-of, W411 a level far from the
previous month, W413 months not reported (a gap — a blank month before a filled one — always;
given the run month, also a blank month older than the KPI's usual data lag).

Flows (受診者数, 申請件数) are year-to-date totals and cannot fall; stocks (対象者数,
全被保険者数, 事業所数) are counts at a date and may move either way.  Data of some KPIs
arrive months late (Kpi.lag_months: health checks 1-3 months, claims by 診療月), so a blank
month within the lag is not a finding — unless a later month is filled (a gap).
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

from kpisheet.check.rules.base import at, month_text, num
from kpisheet.domain.catalogue import Kpi
from kpisheet.domain.findings import Finding
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.model import InputValue, KpiEntry, KpiMonth, Submission
from kpisheet.read.names import input_label, rate_label

CODES = frozenset({"E404", "E405", "W411", "W413"})

JUMP_POINTS = 15.0  # W411: a level rate moving more than this many points in one month
JUMP_RELATIVE = 0.5  # W411: ... or a level count / yen rate moving more than 50%
JUMP_MIN_DENOMINATOR = 30.0  # W411: below this a rate moves by chance (1 of 3 bids -> 1 of 6)


def _filled(m: KpiMonth) -> list[InputValue]:
    return [iv for iv in (m.numerator, m.denominator, m.value) if iv.value is not None]


def check(sub: Submission, kpi: Kpi, entry: KpiEntry, as_of: date | None) -> Iterator[Finding]:
    months = list(entry.months.values())
    yield from _falling(sub, kpi, months)
    yield from _jumps(sub, kpi, months)
    if as_of is not None:
        yield from _future(sub, kpi, months, as_of)
    yield from _not_reported(sub, kpi, months, as_of)


def _future(sub: Submission, kpi: Kpi, months: list[KpiMonth], as_of: date) -> Iterator[Finding]:
    for m in months:
        month = parse_month(m.month)
        if month <= as_of:
            continue
        for iv in _filled(m):
            field = "num" if iv is m.numerator else "den" if iv is m.denominator else "val"
            yield at(sub, iv, "E405", kpi.id, label=input_label(kpi, field, month), value=num(iv.value),
                     month=month_text(m.month), expected=month_text(f"{as_of:%Y-%m}"))


def _blank(m: KpiMonth) -> bool:
    return not _filled(m) and not any(iv.raw is not None for iv in (m.numerator, m.denominator, m.value))


def _not_reported(sub: Submission, kpi: Kpi, months: list[KpiMonth], as_of: date | None) -> Iterator[Finding]:
    """W413 for a blank month followed by a filled month (a gap: the workbook's 入力チェック sees it
    too) and, given the run month `as_of`, for a blank month older than the KPI's data lag (never for a
    KPI with no in-year figure, Kpi.lag_annual: its value arrives after the year ends)."""
    due = _months_before(as_of, kpi.lag_months) if as_of is not None and not kpi.lag_annual else None
    dated = [(parse_month(m.month), m) for m in months if as_of is None or parse_month(m.month) <= as_of]
    last_filled = max((d for d, m in dated if not _blank(m)), default=None)
    for month, m in dated:
        gap = last_filled is not None and month < last_filled
        overdue = due is not None and month <= due
        if not _blank(m) or not (gap or overdue):
            continue
        field = "val" if kpi.kind == "count" else "num"
        iv = m.value if kpi.kind == "count" else m.numerator
        flow = (kpi.value_part if kpi.kind == "count" else kpi.numerator)
        since = "4月の値" if month.month == 4 else f"4月から{month.month}月までの累計"
        what_ja, what_en = ((since, f"the year-to-date total through {m.month}")
                            if flow is not None and flow.is_flow else
                            (f"{month.month}月末時点の値", f"the value at the end of {m.month}"))
        yield at(sub, iv, "W413", kpi.id, label=input_label(kpi, field, month), month=month_text(m.month),
                 expected=what_ja, expected_en=what_en)


def _months_before(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _falling(sub: Submission, kpi: Kpi, months: list[KpiMonth]) -> Iterator[Finding]:
    """E404: a flow part (a year-to-date total) smaller than the month before.  Stocks may fall."""
    parts = (("num", kpi.numerator), ("den", kpi.denominator)) if kpi.kind == "ratio" else (("val", kpi.value_part),)
    for field, part in parts:
        if part is None or not part.is_flow:
            continue
        prev: tuple[str, float] | None = None
        for m in months:
            iv = {"num": m.numerator, "den": m.denominator, "val": m.value}[field]
            if not isinstance(iv.value, float):
                continue
            if prev is not None and iv.value < prev[1]:
                yield at(sub, iv, "E404", kpi.id, label=input_label(kpi, field, parse_month(m.month)),
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
    """W411 for KPIs that do not grow by design: a sharp change month on month."""
    if kpi.grows_in_year or kpi.kind == "qualitative":
        return
    prev: tuple[str, float] | None = None
    for m in months:
        level = _level(kpi, m)
        if level is None:
            continue
        if prev is not None and _sharp(kpi, prev[1], level):
            month = parse_month(m.month)
            iv, label = ((m.value, input_label(kpi, "val", month)) if kpi.kind == "count"
                         else (m.numerator, rate_label(kpi, month)))  # the rate, placed at its numerator
            yield at(sub, iv, "W411", kpi.id, label=label, value=kpi.format_value(level),
                     expected=kpi.format_value(prev[1]), month=month_text(m.month))
        prev = (m.month, level)


def _sharp(kpi: Kpi, before: float, now: float) -> bool:
    if kpi.is_percent:
        return abs(now - before) > JUMP_POINTS
    return abs(now - before) > JUMP_RELATIVE * max(abs(before), 1.0)
