"""The submission record: what one returned workbook says, with where each value came from.

Produced by kpisheet.read.reader.read_workbook, checked by kpisheet.check.validation,
consumed by kpisheet.consolidate.build.  Numbers are in display units: percent
KPIs' targets and baselines in percentage points (96.5 means 96.5%), yen in
yen, counts as counts; monthly numerators / denominators / values as typed.
The JSON form (Submission.to_dict) conforms to schemas/submission.schema.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpisheet.domain.findings import Finding, makes_unreadable

Value = float | str | None


@dataclass(frozen=True)
class Source:
    """Where a value was read: sheet, A1 cell and defined name (if it had one)."""

    sheet: str
    cell: str
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "cell": self.cell, "name": self.name}


@dataclass(frozen=True)
class InputValue:
    value: Value
    source: Source | None = None
    raw: Any = None  # what the cell held before normalisation (for messages)

    def to_dict(self) -> dict[str, Any]:
        raw = self.raw if isinstance(self.raw, (int, float, str, type(None))) else str(self.raw)
        return {"value": self.value, "raw": raw,
                "source": self.source.to_dict() if self.source else None}


EMPTY = InputValue(None)


@dataclass
class KpiMonth:
    month: str  # '2024-10'
    numerator: InputValue = EMPTY
    denominator: InputValue = EMPTY
    value: InputValue = EMPTY  # count KPIs

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.month, "numerator": self.numerator.to_dict(),
                "denominator": self.denominator.to_dict(), "value": self.value.to_dict()}


@dataclass
class KpiEntry:
    kpi_id: str
    target: InputValue = EMPTY
    baseline: InputValue = EMPTY
    months: dict[str, KpiMonth] = field(default_factory=dict)  # keyed '2024-10'
    text: InputValue = EMPTY  # qualitative KPIs
    rating: InputValue = EMPTY  # qualitative KPIs

    def to_dict(self, *, months: bool = True) -> dict[str, Any]:
        return {"kpi_id": self.kpi_id, "target": self.target.to_dict(), "baseline": self.baseline.to_dict(),
                "months": [m.to_dict() for m in self.months.values()] if months else [],
                "text": self.text.to_dict(), "rating": self.rating.to_dict()}


@dataclass
class MeasureRow:
    n: int
    text: InputValue = EMPTY
    rating: InputValue = EMPTY
    note: InputValue = EMPTY

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "text": self.text.to_dict(), "rating": self.rating.to_dict(),
                "note": self.note.to_dict()}


@dataclass
class MeasureEntry:
    measure_id: str
    rows: list[MeasureRow] = field(default_factory=list)
    issue: InputValue = EMPTY

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        return {"measure_id": self.measure_id, "rows": [r.to_dict() for r in self.rows] if rows else [],
                "issue": self.issue.to_dict()}


@dataclass
class Submission:
    path: str
    sha256: str
    template_version: int | None
    catalogue_digest: str | None
    term: int | None
    fiscal_year: int | None
    branch_code: str | None
    branch_name: str | None
    generated_at: str | None = None
    saved_at: str | None = None  # the workbook's own last-saved time (docProps/core.xml)
    saved_by: str | None = None  # application that last saved it (Excel, LibreOffice, kpisheet)
    # what HQ wrote into each KPI's target cell when it generated the workbook (_meta), display units
    prefilled_targets: dict[str, float] = field(default_factory=dict)
    # what HQ wrote into each KPI's previous-year (前年度実績) cell (_meta), display units
    prefilled_baselines: dict[str, float] = field(default_factory=dict)
    # KPIs whose target cell holds a value that only restates the rule (対前年度以上): workbooks made
    # before _meta recorded prefilled_baselines froze last year's value there; kept, it follows the rule
    rule_targets: tuple[str, ...] = ()
    # where HQ took a prefilled target from (_meta prefill_sources): {KPI id: 'plan:<plan version>'}; only
    # workbooks generated with --plan have it
    prefill_sources: dict[str, str] = field(default_factory=dict)
    preparer: str | None = None  # 記入者, as typed at the top of KPI入力 (workbooks before it: None)
    contact: str | None = None  # 連絡先
    kpis: dict[str, KpiEntry] = field(default_factory=dict)
    measures: dict[str, MeasureEntry] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # found while reading

    def to_dict(self, *, kpis: bool = True, measures: bool = True) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "template_version": self.template_version,
                "catalogue_digest": self.catalogue_digest, "term": self.term,
                "fiscal_year": self.fiscal_year, "branch_code": self.branch_code,
                "branch_name": self.branch_name, "generated_at": self.generated_at,
                "saved_at": self.saved_at, "saved_by": self.saved_by,
                "prefilled_targets": dict(self.prefilled_targets),
                "prefilled_baselines": dict(self.prefilled_baselines),
                "rule_targets": list(self.rule_targets),
                "prefill_sources": dict(self.prefill_sources),
                "preparer": self.preparer, "contact": self.contact,
                "kpis": [k.to_dict() for k in self.kpis.values()] if kpis else [],
                "measures": [m.to_dict() for m in self.measures.values()] if measures else [],
                "findings": [f.to_dict() for f in self.findings]}

def is_readable(sub: Submission) -> bool:
    """False when the file could not be read as a kpisheet workbook (pre-flight or identity failed)."""
    if any(makes_unreadable(f) for f in sub.findings):
        return False
    return sub.fiscal_year is not None and sub.branch_code is not None and sub.term is not None
