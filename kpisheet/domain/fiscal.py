"""Japanese fiscal-year calendar: FY runs April to March; era (和暦) names; times in JST."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

FISCAL_MONTH_ORDER = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)


def fiscal_months(fiscal_year: int) -> list[date]:
    """First day of each month of the fiscal year, April first."""
    months = _FISCAL_MONTHS.get(fiscal_year) if type(fiscal_year) is int else None
    if months is None:  # asked tens of thousands of times a run, for one or two years
        months = tuple(date(fiscal_year + (1 if m < 4 else 0), m, 1) for m in FISCAL_MONTH_ORDER)
        if type(fiscal_year) is int:
            _FISCAL_MONTHS[fiscal_year] = months
    return list(months)


_FISCAL_MONTHS: dict[int, tuple[date, ...]] = {}


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


def next_month(day: date) -> date:
    """The first day of the month after `day`'s (December → January of the next year)."""
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@lru_cache(maxsize=1024)
def parse_month(text: str) -> date:
    """Parse '2024-10' or '202410' into the first day of that month (remembered: a month's run parses its
    ~40 month keys some 70,000 times)."""
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


WEEKDAYS_JA = "月火水木金土日"
REIWA = date(2019, 5, 1)


def wareki_date(day: date, *, weekday: bool = False) -> str:
    """'令和6年12月2日' (with weekday: '令和6年11月8日（金）') — the one way a date is shown to people."""
    era = wareki_year(day.year) if day >= REIWA or day.year < 2019 else "平成31"  # 令和 began on 1 May 2019
    text = f"{era}年{day.month}月{day.day}日"
    return f"{text}（{WEEKDAYS_JA[day.weekday()]}）" if weekday else text


@lru_cache(maxsize=1024)
def wareki_short(day: date) -> str:
    """'R6.1' — how the association's 実施状況 names a data month (R = 令和, H = 平成)."""
    if day.year == 2019 and day.month < 5:  # 令和 began on 1 May 2019
        return f"H31.{day.month}"
    era = wareki_year(day.year)  # '令和6', '令和元', '平成30'
    return f"{'R' if era.startswith('令和') else 'H'}{era[2:].replace('元', '1')}.{day.month}"


def months_elapsed(fiscal_year: int, as_of: date) -> int:
    """How many months of the FY have results by as_of's month (0..12)."""
    months = fiscal_months(fiscal_year)
    return sum(1 for m in months if m <= as_of)


# ---------------------------------------------------------------- Japan Standard Time
def _tokyo() -> tzinfo:
    """Asia/Tokyo; a fixed +09:00 where the time-zone database is missing (Japan has no DST)."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Tokyo")
    except Exception:  # ZoneInfoNotFoundError, or no zoneinfo module at all
        return timezone(timedelta(hours=9), "JST")


JST = _tokyo()


def to_jst(value: str | datetime | None) -> datetime | None:
    """An instant in Japan Standard Time.

    Text is ISO 8601 as docProps/core.xml and the ledger write it ('2024-11-07T05:03:00Z',
    '2024-11-07T14:03:00+09:00'); a time without an offset (text or datetime) is taken as UTC,
    as core.xml's W3CDTF means.  None for None, empty or unreadable text.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(JST)


def jst_text(value: str | datetime | None) -> str | None:
    """「2024-11-07 14:03」: the instant in Japan Standard Time, to the minute.

    None for None or empty text; text that is not an ISO time comes back unchanged (stripped),
    so nothing a workbook said is lost.
    """
    at = to_jst(value)
    if at is not None:
        return at.strftime("%Y-%m-%d %H:%M")
    text = value.strip() if isinstance(value, str) else ""
    return text or None


def jst_label(value: str | datetime | None) -> str | None:
    """「2024-11-08 17:05 JST」: jst_text with the zone named, as every command line and message showing an
    instant prints it (the ledger stores times with their UTC offset, whatever the machine's zone)."""
    text = jst_text(value)
    return f"{text} JST" if text is not None and to_jst(value) is not None else text
