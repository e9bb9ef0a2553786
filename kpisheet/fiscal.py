"""Japanese fiscal-year calendar: FY runs April to March; era (和暦) names."""

from __future__ import annotations

import re
from datetime import date

FISCAL_MONTH_ORDER = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)


def fiscal_months(fiscal_year: int) -> list[date]:
    """First day of each month of the fiscal year, April first."""
    return [date(fiscal_year + (1 if m < 4 else 0), m, 1) for m in FISCAL_MONTH_ORDER]


def month_key(day: date) -> str:
    """'2024-10' — how months are written in JSON and on the command line."""
    return f"{day.year:04d}-{day.month:02d}"


def month_compact(day: date) -> str:
    """'202410' — how months are written inside defined names."""
    return f"{day.year:04d}{day.month:02d}"


def month_label(day: date) -> str:
    """'10月' — how months are shown to people."""
    return f"{day.month}月"


_MONTH_RE = re.compile(r"^(\d{4})-?(\d{2})$")


def parse_month(text: str) -> date:
    """Parse '2024-10' or '202410' into the first day of that month."""
    m = _MONTH_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return date(int(m.group(1)), int(m.group(2)), 1)


def wareki_year(year: int) -> str:
    """Era name for a (fiscal) year number: 2024 -> '令和6', 2019 -> '令和元'."""
    if year >= 2019:
        n, era = year - 2018, "令和"
    elif year >= 1989:
        n, era = year - 1988, "平成"
    else:
        raise ValueError(f"year before 平成 not supported: {year}")
    return f"{era}{'元' if n == 1 else n}"


def wareki_fiscal_year(fiscal_year: int) -> str:
    """'令和6年度' for FY2024."""
    return f"{wareki_year(fiscal_year)}年度"


def wareki_month(day: date) -> str:
    """'令和6年10月' for 2024-10 (calendar year of the month, not the FY)."""
    return f"{wareki_year(day.year)}年{day.month}月"


def months_elapsed(fiscal_year: int, as_of: date) -> int:
    """How many months of the FY have results by as_of's month (0..12)."""
    months = fiscal_months(fiscal_year)
    return sum(1 for m in months if m <= as_of)
