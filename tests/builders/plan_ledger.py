"""Plans built inline for the ledger's tests and benchmark: what kpisheet.plan.reader.read_plan gives
for a filled plan workbook, without the workbook."""

from __future__ import annotations

from kpisheet.domain.catalogue import prefecture_branches
from kpisheet.domain.model import InputValue, Source
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission

FY = 2025


def plan(code: str = "10", *, fy: int = FY, target: float = 61.0, population: object = 259725,
         planned: object = 158432, count_target: object = 1100, item: str = "健診の受診勧奨を行う",
         sha: str | None = None, saved_at: str | None = "2025-02-10T10:00:00+09:00",
         path: str | None = None, findings: list | None = None) -> PlanSubmission:
    """A plan as the reader gives it: 群馬's R3 figures (生活習慣病予防健診 61.0% of 259,725 → 158,432)."""
    src = Source("KPI目標", "F12", "pl_K6_2_01_target")
    kpis = {
        "K6-2-01": PlanKpi("K6-2-01", "value", InputValue(target, src, f"{target}%"), InputValue(58.9),
                           InputValue("見込み"), InputValue("R7.1現在"), InputValue(population), InputValue(planned),
                           (PlanPart(1, InputValue("協会保健師実施分"), InputValue(30000), InputValue(4890.0)),),
                           InputValue(None)),
        "K6-1-02": PlanKpi("K6-1-02", "previous_year", expected=InputValue(96.1), expected_status=InputValue("暫定")),
        "K6-2-07": PlanKpi("K6-2-07", "value", InputValue(count_target)),
        "K6-2-09": PlanKpi("K6-2-09", "text", InputValue("バイオシミラーの使用促進に取り組む")),
    }
    items = (PlanItem(1, InputValue(item), InputValue("①"), InputValue("＜被保険者＞"), InputValue("保健G"),
                      InputValue("継続"), "2024:6-2-I-1:1"),
             PlanItem(2, InputValue("GISで受診率の低い地域に勧奨する"), InputValue("②"), flag=InputValue("新規")))
    measures = {"6-2-I-1": PlanMeasure("6-2-I-1", InputValue("（1）"), InputValue("特定健診実施率の向上"),
                                       InputValue("保健G"), True, None, items),
                "6-2-I-2": PlanMeasure("6-2-I-2", covered_by="6-2-I-1"),
                "B-2-1": PlanMeasure("B-2-1", InputValue("（5）"), InputValue("健康づくり推進協議会の開催"))}
    return PlanSubmission(path or f"/inbox/{code}_FY{fy}_事業計画.xlsx", sha or f"{code}{target}{item}{count_target}",
                          fy, code, "群馬支部", 6, 1, "digest", "2025-01-10T09:00:00+09:00", saved_at, "Microsoft Excel",
                          "企画総務G 山田", "027-000-0000", {"targets": {"K6-2-01": 60.5}}, measures, kpis,
                          list(findings or []))


def nation(fy: int = FY, **overrides: object) -> list[PlanSubmission]:
    """A plan for each of the 47 branches: 1,000 of 2,000 planned (50.0%), 100 事業所 each."""
    return [plan(b.code, fy=fy, target=50.0, population=2000, planned=1000, count_target=100, **overrides)  # type: ignore[arg-type]
            for b in prefecture_branches()]
