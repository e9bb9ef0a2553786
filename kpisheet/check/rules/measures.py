"""E408: a 取組 row rated but without a description; W502: a △ or × without a remark in 備考.

(Ratings outside ◎○△×— (E407) and texts longer than names.TEXT_LIMITS (E409) are schema
errors: see rules.schema.SCHEMA_CODES.)  Both are checks the workbook's own 入力チェック makes
(kpisheet.template.measure_sheet), so a branch sees them before it sends the file.  Messages name the
measure as 取組状況 prints it (「II) ② サービス水準の向上 の3行目」), never by its id.
"""

from __future__ import annotations

from typing import Iterator

from kpisheet.check.rules.base import at
from kpisheet.domain.findings import Finding
from kpisheet.domain.model import MeasureEntry, Submission
from kpisheet.read.names import measure_heading

CODES = frozenset({"E408", "W502"})

NEEDS_REMARK = ("△", "×")  # 計画を下回る, 未実施: the reason goes in 備考


def check(sub: Submission, entry: MeasureEntry) -> Iterator[Finding]:
    heading = measure_heading(entry.measure_id)
    for row in entry.rows:
        mark = row.rating.value
        if mark not in (None, "—") and row.text.value is None:
            yield at(sub, row.rating, "E408", entry.measure_id, value=mark, n=row.n, measure=heading)
        if mark in NEEDS_REMARK and row.note.value is None:
            # the subject is the heading, as the consolidation's own W502 has always written it
            yield at(sub, row.note if row.note.source else row.rating, "W502", heading, value=mark, n=row.n)
