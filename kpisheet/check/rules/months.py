"""E404 a year-to-date flow falling, E405 values after --as-of, W411 a level far from the
previous month, W413 months not reported (a gap — a blank month before a filled one — always;
given the run month, also a blank month older than the KPI's usual data lag), W421 a month
with a denominator but no numerator (the same two conditions: a later month's numerator is
filled, or the month is older than the data lag), W422 a file holding no figures for the
reporting month at all (`reporting_month`: one finding for the file, not one per KPI).

Flows (受診者数, 申請件数) are year-to-date totals and cannot fall; stocks (対象者数,
全被保険者数, 事業所数) are counts at a date and may move either way.  Data of some KPIs
arrive months late (Kpi.lag_months: health checks 1-3 months, claims by 診療月), so a blank
month within the lag is not a finding — unless a later month is filled (a gap).
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

from kpisheet.check.rules.base import at, month_text, num
from kpisheet.domain.catalogue import Catalogue, Kpi
from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.fiscal import month_key, parse_month
from kpisheet.domain.model import InputValue, KpiEntry, KpiMonth, Submission
from kpisheet.read.names import input_label, rate_label

CODES = frozenset({"E404", "E405", "W411", "W413", "W421", "W422"})

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
    if kpi.kind == "ratio":
        yield from _numerator_missing(sub, kpi, months, as_of)


def _future(sub: Submission, kpi: Kpi, months: list[KpiMonth], as_of: date) -> Iterator[Finding]:
    for m in months:
        month = parse_month(m.month)
        if month <= as_of:
            continue
        for iv in _filled(m):
            field = "num" if iv is m.numerator else "den" if iv is m.denominator else "val"
            yield at(sub, iv, "E405", kpi.id, label=input_label(kpi, field, month), value=num(iv.value),
                     month=month_text(m.month), month_en=m.month,
                     expected=month_text(f"{as_of:%Y-%m}"), expected_en=f"{as_of:%Y-%m}")


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
        yield at(sub, iv, "W413", kpi.id, label=input_label(kpi, field, month), month=month_text(m.month), month_en=m.month,
                 expected=what_ja, expected_en=what_en)


def _numerator_missing(sub: Submission, kpi: Kpi, months: list[KpiMonth], as_of: date | None) -> Iterator[Finding]:
    """W421: a denominator without its numerator, in a month a numerator is due: a later month's
    numerator is filled (the workbook's 入力チェック sees this too) or, given the run month, the
    month is older than the KPI's data lag.  (The reverse, a numerator without denominator, is E410.)"""
    due = _months_before(as_of, kpi.lag_months) if as_of is not None else None
    dated = [(parse_month(m.month), m) for m in months if as_of is None or parse_month(m.month) <= as_of]
    last_numerator = max((d for d, m in dated if _has(m.numerator)), default=None)
    for month, m in dated:
        if _has(m.numerator) or not isinstance(m.denominator.value, float):
            continue
        gap = last_numerator is not None and month < last_numerator
        overdue = due is not None and month <= due
        if not (gap or overdue):
            continue
        reason, reason_en = (("後の月の分子は入力済み", "a later month's numerator is filled") if gap else
                             ("データが届いているはずの月", "the month is past the KPI's data lag"))
        yield at(sub, m.numerator, "W421", kpi.id, label=input_label(kpi, "num", month),
                 value=num(m.denominator.value), month=month_text(m.month), month_en=m.month,
                 denominator_label=input_label(kpi, "den", month), reason=reason, reason_en=reason_en)


def _has(iv: InputValue) -> bool:
    return iv.value is not None or iv.raw is not None


def last_reported_month(sub: Submission, as_of: date | None = None) -> date | None:
    """The latest month (up to `as_of`) for which the file holds any figure of any KPI; None: none."""
    keys = {key for entry in sub.kpis.values() for key in entry.months}
    for month in sorted(map(parse_month, keys), reverse=True):  # the latest first: usually it holds figures
        if (as_of is None or month <= as_of) and holds_month(sub, month_key(month)):
            return month
    return None


def holds_month(sub: Submission, key: str) -> bool:
    """The file holds a figure (of any KPI) for the month `key` ('2024-10')."""
    return any(not _blank(m) for entry in sub.kpis.values() if (m := entry.months.get(key)) is not None)


def reporting_month(sub: Submission, cat: Catalogue, as_of: date) -> Iterator[Finding]:
    """W422 when the file holds no figure for the reporting month `as_of` although some KPI's lag
    puts one there (a KPI with no lag).  A month counts as reported when any KPI has a figure in it.
    The finding sits at the first such KPI's input of the month."""
    key = month_key(as_of)
    due: list[KpiMonth] = []
    for kpi_id, entry in sub.kpis.items():
        m = entry.months.get(key)
        if m is None or not cat.has_kpi(kpi_id):
            continue
        if not _blank(m):
            return  # the month is reported
        kpi = cat.kpi(kpi_id)
        if kpi.kind != "qualitative" and kpi.lag_months == 0:
            due.append(m)
    if not due:
        return
    first = due[0]
    iv = first.numerator if first.numerator.source is not None else first.value
    reached = last_reported_month(sub, as_of)
    reached_ja, reached_en = ((f"{reached.month}月分までのファイルです", f"the file reaches {month_key(reached)}")
                              if reached is not None else ("入力された月がありません", "no month is filled"))
    src = iv.source
    yield finding("W422", file=sub.path, branch=sub.branch_code, sheet=src.sheet if src else None,
                  cell=src.cell if src else None, name=src.name if src else None,
                  value=month_key(reached) if reached else None, month=f"{as_of.month}月", month_en=key,
                  reached=reached_ja, reached_en=reached_en)


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
                         value=num(iv.value), expected=num(prev[1]), month=month_text(m.month), month_en=m.month,
                         previous_month=month_text(prev[0]), previous_month_en=prev[0])
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
                     expected=kpi.format_value(prev[1]), month=month_text(m.month), month_en=m.month)
        prev = (m.month, level)


def _sharp(kpi: Kpi, before: float, now: float) -> bool:
    if kpi.is_percent:
        return abs(now - before) > JUMP_POINTS
    return abs(now - before) > JUMP_RELATIVE * max(abs(before), 1.0)
