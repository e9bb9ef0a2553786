"""E408: a 取組 row rated but without a description.  (Ratings outside ◎○△×— (E407) and
texts longer than names.TEXT_LIMITS (E409) are schema errors: see validation.SCHEMA_CODES.)"""

from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..model import MeasureEntry, Submission
from .base import at


def check(sub: Submission, entry: MeasureEntry) -> Iterator[Finding]:
    for row in entry.rows:
        if row.rating.value not in (None, "—") and row.text.value is None:
            yield at(sub, row.rating, "E408", entry.measure_id, value=row.rating.value, n=row.n)
