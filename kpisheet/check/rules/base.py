"""What every rule needs: a finding placed at the cell an input value came from."""

from __future__ import annotations

from typing import Any

from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.fiscal import parse_month, wareki_month
from kpisheet.domain.model import InputValue, Submission


def at(sub: Submission, iv: InputValue, code: str, subject: str, **context: Any) -> Finding:
    src = iv.source
    return finding(code, file=sub.path, branch=sub.branch_code, sheet=src.sheet if src else None,
                   cell=src.cell if src else None, name=src.name if src else None, subject=subject,
                   **context)


def month_text(month: str) -> str:
    """'2024-10' → '令和6年10月' (和暦, as every date a user reads; the English message takes the key itself
    from a `month_en`-style context field)."""
    return wareki_month(parse_month(month))


def num(v: float | str | None) -> str:
    """A value for a message: a number as typed (grouped from 1,000), text as it is, — for none."""
    if v is None or isinstance(v, str):
        return "—" if v is None else v
    return f"{v:,.10g}" if abs(v) >= 1000 else f"{v:.10g}"
