"""A branch's 事業計画 for one fiscal year, as read from its plan workbook or kept in the ledger.

Produced by kpisheet.plan.reader.read_plan (from a plan workbook) and by the ledger (an approved or
recorded version, with sources None); consumed by plan validation, the national plan summary,
the 新旧対照表 (kpisheet.plan.diff) and, once approved, by generate --plan and consolidation.

Keys are catalogue ids, never printed numbering: a measure is its catalogue measure id
('6-1-II-2'), or 'B-<pillar>-<n>' for a measure of the branch's own; a KPI is its catalogue
KPI id ('K6-2-01').  Numbers are in display units, as in kpisheet.domain.model: a percent target
61.0 means 61.0%; 対象者数 and 見込者数 are people.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from kpisheet.domain.findings import Finding
from kpisheet.domain.model import EMPTY, InputValue, Source

# How a year's target is stated (plan_targets.kind in the ledger):
#   value         a number: 「…を61.0%以上とする」
#   previous_year the rule, no number frozen: 「…を対前年度以上とする」 (resolved against FY N-1's final value)
#   text          a qualitative KPI's wording: 「効果的な意見発信の実施」
TARGET_KINDS = ("value", "previous_year", "text")

# Status of last year's value as the plan states it (seed documents: 見込み, 暫定, 実績/確定)
EXPECTED_STATUSES = ("見込み", "暫定", "確定")

# 区分 of an activity row
ITEM_FLAGS = ("継続", "新規", "拡充", "見直し")


def _iv(d: dict[str, Any] | None) -> InputValue:
    if not d:
        return EMPTY
    src = d.get("source")
    return InputValue(d.get("value"), Source(src["sheet"], src["cell"], src.get("name")) if src else None,
                      d.get("raw"))


def _text(v: InputValue) -> str | None:
    return None if v.value is None else str(v.value)


@dataclass(frozen=True)
class PlanItem:
    """One activity row of a measure (事業内容), in the order the branch wrote them."""

    n: int  # 1-based position within the measure
    text: InputValue = EMPTY  # 事業内容
    level: InputValue = EMPTY  # the branch's numbering of the row: 「(1)」「①」「ア」
    subheading: InputValue = EMPTY  # 小見出し: 【資格点検】 ＜被保険者＞ ●被扶養者
    group: InputValue = EMPTY  # 担当グループ
    flag: InputValue = EMPTY  # 区分: 継続 | 新規 | 拡充 | 見直し
    origin: str | None = None  # '<fiscal_year>:<measure_id>:<n>' of last year's item this row was prefilled from

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "text": self.text.to_dict(), "level": self.level.to_dict(),
                "subheading": self.subheading.to_dict(), "group": self.group.to_dict(),
                "flag": self.flag.to_dict(), "origin": self.origin}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanItem:
        return cls(d["n"], _iv(d.get("text")), _iv(d.get("level")), _iv(d.get("subheading")),
                   _iv(d.get("group")), _iv(d.get("flag")), d.get("origin"))

    def content(self) -> dict[str, Any]:
        return {"n": self.n, "text": _text(self.text), "level": _text(self.level),
                "subheading": _text(self.subheading), "group": _text(self.group), "flag": _text(self.flag)}


@dataclass(frozen=True)
class PlanMeasure:
    """A measure (具体的施策) as the branch heads and fills it."""

    measure_id: str  # catalogue measure id, or 'B-<pillar>-<n>' for the branch's own measure
    numbering: InputValue = EMPTY  # the branch's printed number: 「⑤」「（3）」「ii）」
    heading: InputValue = EMPTY  # the branch's heading text (without the number)
    group: InputValue = EMPTY  # 担当グループ of the measure: 「保健G・企画総務G」
    focus: bool = False  # 重点
    covered_by: str | None = None  # another measure id when the branch wrote this one's work there
    items: tuple[PlanItem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"measure_id": self.measure_id, "numbering": self.numbering.to_dict(),
                "heading": self.heading.to_dict(), "group": self.group.to_dict(), "focus": self.focus,
                "covered_by": self.covered_by, "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanMeasure:
        return cls(d["measure_id"], _iv(d.get("numbering")), _iv(d.get("heading")), _iv(d.get("group")),
                   bool(d.get("focus")), d.get("covered_by"),
                   tuple(PlanItem.from_dict(i) for i in d.get("items", [])))

    def content(self) -> dict[str, Any]:
        return {"measure_id": self.measure_id, "numbering": _text(self.numbering),
                "heading": _text(self.heading), "group": _text(self.group), "focus": self.focus,
                "covered_by": self.covered_by, "items": [i.content() for i in self.items]}


@dataclass(frozen=True)
class PlanPart:
    """A 内訳 row of a KPI's volumes: 「協会保健師実施分」 with its own 対象者数 and 見込者数."""

    n: int
    label: InputValue = EMPTY
    population: InputValue = EMPTY
    planned: InputValue = EMPTY
    rate: InputValue = EMPTY  # the part's own rate where the plan prints one (「協会保健師実施分 16.0％」)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "label": self.label.to_dict(), "population": self.population.to_dict(),
                "planned": self.planned.to_dict(), "rate": self.rate.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanPart:
        return cls(d["n"], _iv(d.get("label")), _iv(d.get("population")), _iv(d.get("planned")),
                   _iv(d.get("rate")))

    def content(self) -> dict[str, Any]:
        return {"n": self.n, "label": _text(self.label), "population": self.population.value,
                "planned": self.planned.value, "rate": self.rate.value}


@dataclass(frozen=True)
class PlanKpi:
    """A KPI's target for the year, with what the branch based it on."""

    kpi_id: str
    kind: str = "value"  # one of TARGET_KINDS
    target: InputValue = EMPTY  # value kind: the number (display units); text kind: the wording
    expected: InputValue = EMPTY  # last year's value as the plan states it (display units)
    expected_status: InputValue = EMPTY  # one of EXPECTED_STATUSES
    expected_as_of: InputValue = EMPTY  # 「R7.1現在」「令和2年11月末時点」, free text
    population: InputValue = EMPTY  # 対象者数 (or 勧奨対象者数 …: the catalogue's plan.population.label)
    planned: InputValue = EMPTY  # 見込者数 (受診見込者数 / 実施見込者数 …)
    parts: tuple[PlanPart, ...] = ()  # 内訳
    reason: InputValue = EMPTY  # 目標の考え方
    # the KPI sentence as a document printed it, for a plan taken from a document made before kpisheet
    # (「…郵送化率 87.0％以上とする」, slips and all); empty: the sentence is generated from the catalogue
    sentence: InputValue = EMPTY

    def to_dict(self) -> dict[str, Any]:
        return {"kpi_id": self.kpi_id, "kind": self.kind, "target": self.target.to_dict(),
                "expected": self.expected.to_dict(), "expected_status": self.expected_status.to_dict(),
                "expected_as_of": self.expected_as_of.to_dict(), "population": self.population.to_dict(),
                "planned": self.planned.to_dict(), "parts": [p.to_dict() for p in self.parts],
                "reason": self.reason.to_dict(), "sentence": self.sentence.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanKpi:
        return cls(d["kpi_id"], d.get("kind", "value"), _iv(d.get("target")), _iv(d.get("expected")),
                   _iv(d.get("expected_status")), _iv(d.get("expected_as_of")), _iv(d.get("population")),
                   _iv(d.get("planned")), tuple(PlanPart.from_dict(p) for p in d.get("parts", [])),
                   _iv(d.get("reason")), _iv(d.get("sentence")))

    def content(self) -> dict[str, Any]:
        return {"kpi_id": self.kpi_id, "kind": self.kind, "target": self.target.value,
                "expected": self.expected.value, "expected_status": _text(self.expected_status),
                "expected_as_of": _text(self.expected_as_of), "population": self.population.value,
                "planned": self.planned.value, "parts": [p.content() for p in self.parts],
                "reason": _text(self.reason), "sentence": _text(self.sentence)}


@dataclass
class PlanSubmission:
    """What one branch's plan workbook (or a ledger version of it) says for one fiscal year."""

    path: str  # the workbook read, or 'ledger:<version id>' for a version from the ledger
    sha256: str | None
    fiscal_year: int | None
    branch_code: str | None
    branch_name: str | None
    term: int | None = None
    plan_template_version: int | None = None
    layout_digest: str | None = None  # the plan workbook's own digest (measure ids, KPI ids, plan counts)
    generated_at: str | None = None
    saved_at: str | None = None
    saved_by: str | None = None
    preparer: str | None = None
    contact: str | None = None
    # what HQ prefilled when it generated the workbook (_meta): {'targets': {kpi: v}, 'items': {...}, ...}
    prefilled: dict[str, Any] = field(default_factory=dict)
    measures: dict[str, PlanMeasure] = field(default_factory=dict)  # catalogue order, then B- measures
    kpis: dict[str, PlanKpi] = field(default_factory=dict)  # catalogue order
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "fiscal_year": self.fiscal_year,
                "branch_code": self.branch_code, "branch_name": self.branch_name, "term": self.term,
                "plan_template_version": self.plan_template_version, "layout_digest": self.layout_digest,
                "generated_at": self.generated_at, "saved_at": self.saved_at, "saved_by": self.saved_by,
                "preparer": self.preparer, "contact": self.contact, "prefilled": self.prefilled,
                "measures": [m.to_dict() for m in self.measures.values()],
                "kpis": [k.to_dict() for k in self.kpis.values()],
                "findings": [f.to_dict() for f in self.findings]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanSubmission:
        """The inverse of to_dict for everything but findings (a ledger record keeps them as dicts)."""
        measures = [PlanMeasure.from_dict(m) for m in d.get("measures", [])]
        kpis = [PlanKpi.from_dict(k) for k in d.get("kpis", [])]
        return cls(d["path"], d.get("sha256"), d.get("fiscal_year"), d.get("branch_code"),
                   d.get("branch_name"), d.get("term"), d.get("plan_template_version"),
                   d.get("layout_digest"), d.get("generated_at"), d.get("saved_at"), d.get("saved_by"),
                   d.get("preparer"), d.get("contact"), dict(d.get("prefilled") or {}),
                   {m.measure_id: m for m in measures}, {k.kpi_id: k for k in kpis})

    def content(self) -> dict[str, Any]:
        """The plan itself, without where it was read from: two workbooks that say the same plan
        have the same content (and the same content_sha256), whatever their cells or save times."""
        return {"fiscal_year": self.fiscal_year, "branch_code": self.branch_code,
                "measures": [m.content() for m in self.measures.values()],
                "kpis": [k.content() for k in self.kpis.values()]}

    def content_sha256(self) -> str:
        blob = json.dumps(self.content(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()
