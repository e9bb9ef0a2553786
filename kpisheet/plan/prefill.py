"""What the ledger gives a new year's plan workbooks: each branch's approved plan of the year before
(headings and activities carried) and last year's values with their status (`from_ledger`).

A value of the year before is the latest usable figure the ledger holds for the branch and KPI
(`ledger.year_end_values`, as `kpisheet baseline --from-ledger` writes it).  Its status: 確定 when its
month is the year's March and HQ has closed that month; otherwise 暫定, with the month it stands at
(「R6.11現在」) — plans are written in January to March, before the year closes, so most values are
a month's actual figure, not the branch's 見込み (which the branch types itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kpisheet import ledger as led
from kpisheet.domain.findings import KpisheetError
from kpisheet.domain.fiscal import parse_month, wareki_short
from kpisheet.domain.plan import PlanSubmission

FINAL, PROVISIONAL = "確定", "暫定"


@dataclass
class LedgerPrefill:
    """The ledger's part of a year's plan workbooks (empty parts where the ledger holds nothing)."""

    previous: dict[str, PlanSubmission] = field(default_factory=dict)  # branch code: approved plan of FY-1
    results: dict[tuple[str, str], float] = field(default_factory=dict)  # (branch, KPI): value of FY-1
    notes: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)  # (branch, KPI): status, as of


def from_ledger(ledger: Path, fiscal_year: int) -> LedgerPrefill:
    """The approved plans and the values of `fiscal_year - 1` in `ledger` for the plan workbooks of
    `fiscal_year`.  KpisheetError when the ledger cannot be opened."""
    year = fiscal_year - 1
    out = LedgerPrefill()
    with led.opened(Path(ledger)) as book:
        out.previous = dict(led.approved_plans(book, year))
        closed = led.closed_through(book, year)
        try:
            values = led.year_end_values(book, year)
        except KpisheetError:  # G112: no figure of that year recorded
            values = []
    march = f"{year + 1}-03"
    for code, kpi_id, month, value in values:
        out.results[(code, kpi_id)] = value
        final = month == march and closed is not None and closed[0] >= march
        out.notes[(code, kpi_id)] = (FINAL, None) if final else (PROVISIONAL, f"{wareki_short(parse_month(month))}現在")
    return out
