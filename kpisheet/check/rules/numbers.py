"""E401 numerator > denominator, E402 percent outside 0–100, E403 negative, E410 numerator
without denominator, W419 a value outside the KPI's plausible range (catalogue `plausible`),
W414 a percent that looks typed as a fraction (KPIs without a plausible range).

The plausible range catches the 100× slips of percent entry (0.310 typed for 0.310% becomes
31.0%; 0.965 typed for 96.5% becomes 0.965%) on the annual target and last year's value, and
a digit too many in a month's numerator or denominator through the rate they give.  A KPI
that grows through the year (受診者数 ÷ 年度の対象者数) starts low, so its months are
checked against the top of the range only.
"""

from __future__ import annotations

from typing import Iterator

from kpisheet.check.rules.base import at, month_text, num
from kpisheet.check.rules.ceilings import rate_within
from kpisheet.domain.catalogue import Kpi
from kpisheet.domain.findings import Finding
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.model import InputValue, KpiEntry, KpiMonth, Submission
from kpisheet.read.names import input_label, rate_label

CODES = frozenset({"E401", "E402", "E403", "E410", "W414", "W419"})


def check(sub: Submission, kpi: Kpi, entry: KpiEntry) -> Iterator[Finding]:
    for field in ("target", "baseline"):
        yield from _annual(sub, kpi, field, getattr(entry, field))
    for m in entry.months.values():
        yield from _month(sub, kpi, m)


def _annual(sub: Submission, kpi: Kpi, field: str, iv: InputValue) -> Iterator[Finding]:
    v = iv.value
    if not isinstance(v, float):
        return
    label = input_label(kpi, field)
    if kpi.is_percent and not 0 <= v <= 100:
        yield at(sub, iv, "E402", kpi.id, label=label, value=num(v))
    elif v < 0:
        yield at(sub, iv, "E403", kpi.id, label=label, value=num(v))
    elif kpi.plausible is not None:
        if not kpi.plausible.holds(v):
            yield at(sub, iv, "W419", kpi.id, label=label, value=kpi.format_value(v), **_range(kpi),
                     **slip_hint(kpi, v))
    elif kpi.is_percent and 0 < v < 1 and kpi.decimals < 3:
        yield at(sub, iv, "W414", kpi.id, label=label, value=kpi.format_value(v),
                 example=kpi.format_value(v * 100))


def _month(sub: Submission, kpi: Kpi, m: KpiMonth) -> Iterator[Finding]:
    month = parse_month(m.month)
    for field, iv in (("num", m.numerator), ("den", m.denominator), ("val", m.value)):
        if isinstance(iv.value, float) and iv.value < 0:
            yield at(sub, iv, "E403", kpi.id, label=input_label(kpi, field, month), value=num(iv.value))
    n, d = m.numerator.value, m.denominator.value
    if not isinstance(n, float):
        return
    den_label = input_label(kpi, "den", month)
    if d is None or d == 0:
        if m.denominator.raw is None or d == 0:  # an unreadable denominator is already E304
            yield at(sub, m.numerator, "E410", kpi.id, label=input_label(kpi, "num", month),
                     value=num(n), month=month_text(m.month), month_en=m.month, denominator_label=den_label,
                     reason="0" if d == 0 else "空欄")
    elif kpi.is_percent and isinstance(d, float) and n > d >= 0:
        yield at(sub, m.numerator, "E401", kpi.id, label=input_label(kpi, "num", month),
                 value=num(n), expected=num(d), month=month_text(m.month), month_en=m.month, denominator_label=den_label)
    elif (isinstance(d, float) and 0 < d <= kpi.input_ceiling and 0 <= n <= kpi.input_ceiling
          and rate_within(kpi, n, d) and implausible_rate(kpi, kpi.rate(n, d))):  # beyond: E411, E412
        yield at(sub, m.numerator, "W419", kpi.id, label=rate_label(kpi, month),
                 value=kpi.format_value(kpi.rate(n, d)), **_range(kpi), hint="分子・分母の桁や単位に誤りがないか確認してください。",
                 hint_en="Check the numerator's and denominator's digits and units.")


def implausible_rate(kpi: Kpi, rate: float | None) -> bool:
    """A month's rate outside the plausible range (only above it for a KPI that grows in the year)."""
    if kpi.plausible is None or rate is None:
        return False
    if kpi.grows_in_year:
        return rate > kpi.plausible.high
    return not kpi.plausible.holds(rate)


def _range(kpi: Kpi) -> dict[str, str]:
    assert kpi.plausible is not None
    return {"low": kpi.format_value(kpi.plausible.low), "high": kpi.format_value(kpi.plausible.high)}


def slip_hint(kpi: Kpi, v: float) -> dict[str, str]:
    """What the value probably is when it is off by 100 (a percent typed without %, or typed twice)."""
    assert kpi.plausible is not None
    if kpi.is_percent and kpi.plausible.holds(v / 100):
        return {"hint": f"％を付けずに入力したため100倍になっている可能性があります。「{kpi.format_value(v / 100)}」のように％を付けて入力し直してください。",
                "hint_en": f"It may be 100 times too large (typed without %); enter it with a % sign, e.g. {kpi.format_value(v / 100)}."}
    if kpi.is_percent and kpi.plausible.holds(v * 100):
        return {"hint": f"100分の1になっている可能性があります。「{kpi.format_value(v * 100)}」のように％を付けて入力し直してください。",
                "hint_en": f"It may be 100 times too small; enter it with a % sign, e.g. {kpi.format_value(v * 100)}."}
    return {"hint": "桁や単位に誤りがないか確認してください。", "hint_en": "Check its digits and unit."}
