"""The plan record: what is read equals what the ledger gives back, and its content ignores where it was read."""

from __future__ import annotations

from kpisheet.domain.model import InputValue, Source
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission


def _plan(cell: str) -> PlanSubmission:
    src = Source("KPI目標", cell, "pl_K6_2_01_target")
    kpi = PlanKpi("K6-2-01", "value", InputValue(61.0, src, "61.0%"), InputValue(58.9), InputValue("見込み"),
                  InputValue("R3.1現在"), InputValue(259725.0), InputValue(158432.0),
                  (PlanPart(1, InputValue("協会保健師実施分"), InputValue(30000.0), InputValue(4890.0)),))
    item = PlanItem(1, InputValue("健診の受診勧奨を行う"), InputValue("①"), InputValue("＜被保険者＞"),
                    InputValue("保健G"), InputValue("継続"), "2020:6-2-I-1:1")
    measure = PlanMeasure("6-2-I-1", InputValue("①"), InputValue("特定健診実施率の向上"), InputValue("保健G"),
                          True, None, (item,))
    return PlanSubmission("x.xlsx", "ab" * 32, 2021, "10", "群馬", 5, measures={measure.measure_id: measure},
                          kpis={kpi.kpi_id: kpi})


def test_a_plan_survives_its_dict_form() -> None:
    plan = _plan("F12")
    back = PlanSubmission.from_dict(plan.to_dict())
    assert back.to_dict() == plan.to_dict()
    assert back.kpis["K6-2-01"].target.source == Source("KPI目標", "F12", "pl_K6_2_01_target")
    assert back.measures["6-2-I-1"].items[0].origin == "2020:6-2-I-1:1"


def test_the_same_plan_in_other_cells_has_the_same_content() -> None:
    assert _plan("F12").content_sha256() == _plan("G40").content_sha256()


def test_a_changed_target_changes_the_content() -> None:
    a, b = _plan("F12"), _plan("F12")
    b.kpis["K6-2-01"] = PlanKpi("K6-2-01", "value", InputValue(61.5))
    assert a.content_sha256() != b.content_sha256()
