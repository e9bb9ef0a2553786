"""The plan workbook's defined names and sheet titles.

Every input of a plan workbook is a workbook-level defined name starting `pl_`, so the monthly
reader's patterns (kpisheet.read.names: `in_…`) never match one, and a plan input cannot be taken
for a monthly one or the other way round.  Ids are the catalogue's, with '-' written '_':

    pl_K5_2_01_target       a KPI's field (KPI_FIELDS)
    pl_M_5_2_1_i_heading    a catalogue measure's field (MEASURE_FIELDS)
    pl_M_5_2_1_i_r3_text    item 3 of the measure (ITEM_FIELDS); 'r' keeps the item number apart
                            from the measure id (5-1-1 item 3 vs a measure 5-1-1-3)
    pl_B_2_1_heading        the branch's own measure 1 of pillar 2 (measure id 'B-2-1')
    pl_info_preparer        記入者 / 連絡先

Lists behind the drop-downs are named `pl_list_…` (not inputs; parse_plan_name gives None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLAN_PREFIX = "pl_"
SHEET_GUIDE = "入力の手引き"
SHEET_MEASURES = "施策と事業内容"
SHEET_KPIS = "年間目標"
SHEET_LISTS = "_lists"
SHEET_META = "_meta"
INPUT_SHEETS = (SHEET_MEASURES, SHEET_KPIS)

KPI_FIELDS = ("expected", "expected_status", "expected_as_of", "kind", "target", "pop", "planned", "reason")
MEASURE_FIELDS = ("numbering", "heading", "group", "focus", "covered")
ITEM_FIELDS = ("level", "sub", "text", "group", "flag")
INFO_FIELDS = ("preparer", "contact")
TEXT_FIELDS = frozenset({"expected_status", "expected_as_of", "kind", "reason", "numbering", "heading", "group",
                         "focus", "covered", "level", "sub", "text", "flag", "preparer", "contact"})

LIST_NAMES = {"group": "pl_list_groups", "flag": "pl_list_flags", "status": "pl_list_status",
              "focus": "pl_list_focus", "covered": "pl_list_covered"}  # and pl_list_kind_<direction>
CHECK_COUNT_NAME = "check_count"


@dataclass(frozen=True)
class PlanKey:
    """One input of a plan workbook: kind 'kpi' | 'measure' | 'item' | 'info'."""

    kind: str
    subject: str  # KPI id, measure id ('5-2-1-i', 'B-2-1') or 'info'
    field: str
    n: int | None = None  # item number (kind 'item')

    @property
    def name(self) -> str:
        sid = self.subject.replace("-", "_")
        if self.kind == "kpi":
            return f"{PLAN_PREFIX}{sid}_{self.field}"
        if self.kind == "info":
            return f"{PLAN_PREFIX}info_{self.field}"
        head = sid if self.subject.startswith("B-") else f"M_{sid}"
        if self.kind == "item":
            return f"{PLAN_PREFIX}{head}_r{self.n}_{self.field}"
        return f"{PLAN_PREFIX}{head}_{self.field}"

    @property
    def is_text(self) -> bool:
        return self.field in TEXT_FIELDS


def kpi_key(kpi_id: str, field: str) -> PlanKey:
    assert field in KPI_FIELDS, field
    return PlanKey("kpi", kpi_id, field)


def measure_key(measure_id: str, field: str) -> PlanKey:
    assert field in MEASURE_FIELDS, field
    return PlanKey("measure", measure_id, field)


def item_key(measure_id: str, n: int, field: str) -> PlanKey:
    assert field in ITEM_FIELDS, field
    return PlanKey("item", measure_id, field, n)


def info_key(field: str) -> PlanKey:
    assert field in INFO_FIELDS, field
    return PlanKey("info", "info", field)


def branch_measure_id(pillar: int, n: int) -> str:
    """'B-2-1': the branch's own measure n of pillar `pillar`."""
    return f"B-{pillar}-{n}"


_KPI_RE = re.compile(r"^pl_(K\d+_\d_\d{2})_(" + "|".join(KPI_FIELDS) + r")$")
_ITEM_RE = re.compile(r"^pl_(M_.+|B_\d+_\d+)_r(\d+)_(" + "|".join(ITEM_FIELDS) + r")$")
_MEASURE_RE = re.compile(r"^pl_(M_.+|B_\d+_\d+)_(" + "|".join(MEASURE_FIELDS) + r")$")
_INFO_RE = re.compile(r"^pl_info_(" + "|".join(INFO_FIELDS) + r")$")


def _measure_id(s: str) -> str:
    return s.removeprefix("M_").replace("_", "-")


def parse_plan_name(name: str) -> PlanKey | None:
    """The inverse of PlanKey.name; None for any other name (monthly inputs, lists, check_count)."""
    if m := _KPI_RE.match(name):
        return PlanKey("kpi", m.group(1).replace("_", "-"), m.group(2))
    if m := _ITEM_RE.match(name):
        return PlanKey("item", _measure_id(m.group(1)), m.group(3), int(m.group(2)))
    if m := _MEASURE_RE.match(name):
        return PlanKey("measure", _measure_id(m.group(1)), m.group(2))
    if m := _INFO_RE.match(name):
        return info_key(m.group(1))
    return None
