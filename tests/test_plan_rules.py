"""The checks on a 事業計画 (kpisheet.plan.rules): each P code and E409 at the cell its value was read from.

Plans are built inline as PlanSubmissions, as the plan reader would return them (each value with the
sheet and cell it came from).  `clean_plan` is a plan with nothing to find; each test changes one
thing in it and asserts the exact findings.  Figures typed from the source documents name them:
「令和3年度 事業計画（群馬支部）」 (2 戦略的保険者機能関係, its （内訳）) and 「平成31年度 事業計画（鹿児島支部）
新旧対照表（案）」 (ii) 特定保健指導).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpisheet.domain.catalogue import PlanCounts, catalogue_for_fy, load_catalogue
from kpisheet.domain.findings import Finding, flatten
from kpisheet.domain.model import EMPTY, InputValue, Source
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission
from kpisheet.plan.rules import validate_plans, CODES, validate_plan
from kpisheet.read.names import ROWS_PER_MEASURE, TEXT_LIMITS

FY = 2025
BRANCH = "10"
KPI_SHEET, MEASURE_SHEET = "KPI目標", "施策と事業内容"
CAT = catalogue_for_fy(FY)


# ---------------------------------------------------------------- building plans
def iv(value: Any, cell: str | None = None, sheet: str = KPI_SHEET) -> InputValue:
    return InputValue(value, Source(sheet, cell, None) if cell else None)


def _cells(row: int) -> dict[str, str]:
    return {"target": f"F{row}", "expected": f"D{row}", "reason": f"F{row + 3}", "population": f"F{row + 1}",
            "planned": f"F{row + 2}"}


ROWS = {k.id: 10 + 6 * i for i, k in enumerate(CAT.kpis_for(FY, BRANCH))}


def kpi(kpi_id: str, target: Any = None, *, kind: str = "value", expected: Any = None, population: Any = None,
        planned: Any = None, reason: Any = None, parts: tuple[PlanPart, ...] = (), status: str | None = None) -> PlanKpi:
    c = _cells(ROWS.get(kpi_id, 200))
    return PlanKpi(kpi_id, kind, iv(target, c["target"]), iv(expected, c["expected"]),
                   iv(status, None) if status else EMPTY, EMPTY, iv(population, c["population"]),
                   iv(planned, c["planned"]), parts, iv(reason, c["reason"]))


def _clean_target(k: Any) -> tuple[str, Any]:
    if k.kind == "qualitative":
        return "text", k.target.text
    if k.target.rule in ("fixed", "generic_conditional") and k.target.value is not None:
        return "value", max(k.target.value, 82.0) if k.target.rule == "generic_conditional" else k.target.value
    if k.target.rule == "baseline":
        return "previous_year", None
    return "value", 1200.0 if k.kind == "count" else 50.0


def clean_plan(fy: int = FY, branch: str = BRANCH, **changes: PlanKpi) -> PlanSubmission:
    """Every KPI of the year with a target and every measure with one activity: nothing to find."""
    cat = catalogue_for_fy(fy)
    kpis = {}
    for k in cat.kpis_for(fy, branch):
        kind, target = _clean_target(k)
        kpis[k.id] = kpi(k.id, target, kind=kind)
    kpis.update(changes)
    measures = {m.id: measure(m.id, 1) for m in cat.measures_for(branch)}
    return PlanSubmission(f"/in/{branch}_FY{fy}_事業計画.xlsx", "0" * 64, fy, branch, "test", term=cat.term,
                          measures=measures, kpis=kpis)


def measure(measure_id: str, n_items: int, *, covered_by: str | None = None, row: int = 20) -> PlanMeasure:
    items = tuple(PlanItem(n, iv(f"事業内容{n}", f"D{row + n}", MEASURE_SHEET)) for n in range(1, n_items + 1))
    return PlanMeasure(measure_id, heading=iv("見出し", f"C{row}", MEASURE_SHEET), covered_by=covered_by, items=items)


def with_measure(plan: PlanSubmission, pm: PlanMeasure) -> PlanSubmission:
    return replace(plan, measures={**plan.measures, pm.measure_id: pm})


def rows(findings: list[Finding]) -> list[list[Any]]:
    return flatten(findings, ["code", "sheet", "cell", "subject"])


def cell(kpi_id: str, field: str) -> str:
    return _cells(ROWS[kpi_id])[field]


# ---------------------------------------------------------------- a clean plan
def test_a_clean_plan_has_no_findings():
    assert validate_plan(clean_plan()) == []


def test_the_codes_are_the_plan_rules_range():
    assert all(c.startswith("P") and 401 <= int(c[1:]) <= 599 for c in CODES)
    assert {"P401", "P402", "P403", "P404", "P405", "P406", "P407", "P408", "P409", "P501", "P502"} == CODES


# ---------------------------------------------------------------- P401
def test_p401_a_target_the_branch_sets_is_empty():
    f = validate_plan(clean_plan(**{"K6-2-01": kpi("K6-2-01", None)}))
    assert rows(f) == [["P401", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert f[0].is_error and "第6期末目標 64.8%以上" in f[0].text_ja and "年間目標が未入力" in f[0].text_ja


def test_p401_a_rule_kpi_with_kind_value_but_no_number():
    f = validate_plan(clean_plan(**{"K6-1-02": kpi("K6-1-02", None, kind="value")}))
    assert rows(f) == [["P401", KPI_SHEET, cell("K6-1-02", "target"), "K6-1-02"]]
    assert "「対前年度以上」" in f[0].text_ja


def test_p401_a_branch_kpi_stated_as_the_previous_year_rule():
    f = validate_plan(clean_plan(**{"K6-2-07": kpi("K6-2-07", None, kind="previous_year")}))
    assert rows(f) == [["P401", KPI_SHEET, cell("K6-2-07", "target"), "K6-2-07"]]
    assert "数値で定めます" in f[0].text_ja


def test_no_p401_for_previous_year_rules_fixed_kpis_or_text():
    plan = clean_plan(**{"K6-1-03": kpi("K6-1-03", None, kind="previous_year"),  # 対前年度以上: the rule
                         "K6-1-01": kpi("K6-1-01", None),  # fixed 100%: the catalogue's value applies
                         "K6-2-08": kpi("K6-2-08", None, kind="previous_year")})
    assert validate_plan(plan) == []


def test_an_unreadable_target_is_the_readers_finding_not_p401():
    typed = InputValue(None, Source(KPI_SHEET, cell("K6-2-01", "target")), raw="未定")
    plan = clean_plan(**{"K6-2-01": replace(kpi("K6-2-01"), target=typed)})
    assert validate_plan(plan) == []


# ---------------------------------------------------------------- P402
def test_p402_below_the_branchs_expected_value_without_a_reason():
    f = validate_plan(clean_plan(**{"K6-2-01": kpi("K6-2-01", 55.0, expected=56.2, status="見込み")}))
    assert rows(f) == [["P402", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert f[0].text_ja.startswith("K6-2-01「生活習慣病予防健診」の年間目標 55.0% は、令和6年度見込み 56.2% より低い水準です。")
    assert f[0].context["reason_given"] is False and "目標の考え方にその理由を記入" in f[0].text_ja
    dated = replace(kpi("K6-2-01", 55.0, expected=56.2, status="暫定"), expected_as_of=iv("R7.1現在"))
    (g,) = validate_plan(clean_plan(**{"K6-2-01": dated}))
    assert "令和6年度暫定（R7.1現在） 56.2% より低い水準です" in g.text_ja and g.cell == cell("K6-2-01", "target")


def test_p402_with_a_reason_is_listed_with_it_and_asks_nothing():
    f = validate_plan(clean_plan(**{"K6-2-01": kpi("K6-2-01", 55.0, expected=56.2, reason="対象者数の増加を見込む")}))
    assert rows(f) == [["P402", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert f[0].context["reason_given"] is True and f[0].context["reason"] == "対象者数の増加を見込む"
    assert "対応は不要です" in f[0].text_ja and not f[0].is_error


def test_p402_falls_back_on_the_final_value_of_the_year_before():
    plan = clean_plan(**{"K6-2-01": kpi("K6-2-01", 55.0)})
    assert validate_plan(plan) == []  # no 見込み, no final: nothing to judge against
    f = validate_plan(plan, finals={"K6-2-01": 55.4})
    assert rows(f) == [["P402", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert "令和5年度実績 55.4%" in f[0].text_ja


def test_p402_compares_as_shown_and_by_direction():
    # 55.04 shows as 55.0%: the same as a 見込み of 55.0%
    assert validate_plan(clean_plan(**{"K6-2-01": kpi("K6-2-01", 55.0, expected=55.04)})) == []
    # a 以下 KPI (一者応札割合, fixed 15%以下): a target above the 見込み is the easier one
    f = validate_plan(clean_plan(**{"K6-3-01": kpi("K6-3-01", 14.0, expected=12.0)}))
    assert rows(f) == [["P402", KPI_SHEET, cell("K6-3-01", "target"), "K6-3-01"]]
    assert validate_plan(clean_plan(**{"K6-3-01": kpi("K6-3-01", 11.0, expected=12.0)})) == []


def test_p402_for_a_number_written_on_a_previous_year_rule_kpi():
    # 鹿児島 wrote 保険証回収率 as a number (95.4%) though its rule is 対前年度以上; here 返納金債権回収率
    f = validate_plan(clean_plan(**{"K6-1-05": kpi("K6-1-05", 60.0, expected=60.24)}))
    assert rows(f) == [["P402", KPI_SHEET, cell("K6-1-05", "target"), "K6-1-05"]]
    assert "令和6年度見込み 60.24%" in f[0].text_ja


def test_no_p402_for_previous_year_kinds_whatever_the_expected_value():
    plan = clean_plan(**{"K6-1-02": kpi("K6-1-02", None, kind="previous_year", expected=95.7)})
    assert validate_plan(plan, finals={"K6-1-02": 96.0}) == []


# ---------------------------------------------------------------- P403
def test_p403_laxer_than_the_fixed_national_target():
    f = validate_plan(clean_plan(**{"K6-1-01": kpi("K6-1-01", 99.0, expected=99.5)}))
    assert rows(f) == [["P403", KPI_SHEET, cell("K6-1-01", "target"), "K6-1-01"]]  # not also P402
    assert f[0].text_ja == ("K6-1-01「サービススタンダード」の年間目標 99.0% は、全国共通の目標 100.0% より低い水準です。"
                            "全国共通の目標（100.0%）と同じかそれより厳しい目標にするか、目標の考え方にその理由を記入してください。")
    f = validate_plan(clean_plan(**{"K6-3-01": kpi("K6-3-01", 16.0)}))  # 15%以下
    assert rows(f) == [["P403", KPI_SHEET, cell("K6-3-01", "target"), "K6-3-01"]]
    f = validate_plan(clean_plan(**{"K6-2-09": kpi("K6-2-09", 20.0)}))  # バイオシミラー 25%
    assert rows(f) == [["P403", KPI_SHEET, cell("K6-2-09", "target"), "K6-2-09"]]


def test_no_p403_for_a_stricter_or_equal_as_shown_target():
    assert validate_plan(clean_plan(**{"K6-3-01": kpi("K6-3-01", 12.0)})) == []
    assert validate_plan(clean_plan(**{"K6-1-01": kpi("K6-1-01", 99.96)})) == []  # shown 100.0%


# ---------------------------------------------------------------- P404 / P405 / P406
def test_gunma_r3_volumes_agree_with_their_targets():
    """「令和3年度 事業計画（群馬支部）」, 2 戦略的保険者機能関係 and its （内訳）: every pair agrees."""
    cat = load_catalogue(5)
    typed = {"K5-2-01": (61.0, 259725, 158432), "K5-2-02": (10.0, 259725, 25973), "K5-2-03": (30.1, 73087, 21999),
             "K5-2-04": (22.2, 39463, 8749), "K5-2-05": (8.0, 1958, 157), "K5-2-06": (11.8, 7893, 932)}
    plan = clean_plan(2021, **{k: kpi(k, t, population=p, planned=n) for k, (t, p, n) in typed.items()})
    assert [f for f in validate_plan(plan, catalogue=cat) if f.code in ("P404", "P405", "P406")] == []


def test_p404_kagoshima_rate_and_count_disagree_at_the_shown_precision():
    """「平成31年度 事業計画（鹿児島支部）新旧対照表（案）」 ii) 特定保健指導: 7,289 ÷ 29,003 = 25.13% is 25.1%, not 25.0%."""
    f = validate_plan(clean_plan(**{"K6-2-04": kpi("K6-2-04", 25.0, population=29003, planned=7289)}))
    assert rows(f) == [["P404", KPI_SHEET, cell("K6-2-04", "target"), "K6-2-04"]]
    assert "（7,289 ÷ 29,003 = 25.1%）が年間目標 25.0% と一致しません" in f[0].text_ja
    ok = validate_plan(clean_plan(**{"K6-2-04": kpi("K6-2-04", 25.0, population=30698, planned=7675)}))
    assert ok == []


def test_p404_rounds_half_up_as_every_number_is_shown():
    # 49 ÷ 400 = 12.25%: shown 12.3% (half up), where round() would say 12.2
    assert validate_plan(clean_plan(**{"K6-2-05": kpi("K6-2-05", 12.3, population=400, planned=49)})) == []
    f = validate_plan(clean_plan(**{"K6-2-05": kpi("K6-2-05", 12.2, population=400, planned=49)}))
    assert rows(f) == [["P404", KPI_SHEET, cell("K6-2-05", "target"), "K6-2-05"]]
    assert "= 12.3%）が年間目標 12.2%" in f[0].text_ja


def test_p404_uses_the_catalogues_labels_and_the_shared_population():
    counts = {"K6-2-01": PlanCounts("対象者数", "受診見込者数"),
              "K6-2-02": PlanCounts("対象者数", "取得見込者数", shared_with="K6-2-01")}
    cat = replace(CAT, kpis=tuple(replace(k, plan=counts.get(k.id)) for k in CAT.kpis))
    plan = clean_plan(**{"K6-2-01": kpi("K6-2-01", 61.0, population=259725, planned=158432),
                         "K6-2-02": kpi("K6-2-02", 10.5, planned=25973)})  # 対象者数 from K6-2-01: 10.0%
    f = validate_plan(plan, catalogue=cat)
    assert rows(f) == [["P404", KPI_SHEET, cell("K6-2-02", "target"), "K6-2-02"]]
    assert f[0].text_ja.startswith("K6-2-02「事業者健診データ」の取得見込者数÷対象者数（25,973 ÷ 259,725 = 10.0%）")


def test_p405_planned_people_exceed_the_population():
    f = validate_plan(clean_plan(**{"K6-2-04": kpi("K6-2-04", 25.0, population=7000, planned=7289)}))
    assert rows(f) == [["P405", KPI_SHEET, cell("K6-2-04", "planned"), "K6-2-04"]]  # not also P404 (104.1%)
    assert f[0].is_error and "見込者数（7,289）が対象者数（7,000）を超えています" in f[0].text_ja


def test_p405_within_a_breakdown_row():
    part = PlanPart(1, iv("協会保健師実施分"), iv(100, "H20"), iv(120, "I20"))
    f = validate_plan(clean_plan(**{"K6-2-04": kpi("K6-2-04", 25.0, population=30698, planned=7675, parts=(part,))}))
    p405 = [x for x in f if x.code == "P405"]
    assert rows(p405) == [["P405", KPI_SHEET, "I20", "K6-2-04"]] and "協会保健師実施分" in p405[0].text_ja


def test_p406_kagoshima_breakdown_adds_up_and_a_slip_does_not():
    """鹿児島 H31: 協会保健師実施分 4,890 + アウトソーシング分 2,785 = 7,675 of one population of 30,698."""
    def parts(second: int) -> tuple[PlanPart, ...]:
        return (PlanPart(1, iv("協会保健師実施分"), iv(30698, "H20"), iv(4890, "I20")),
                PlanPart(2, iv("アウトソーシング分"), iv(30698, "H21"), iv(second, "I21")))
    good = kpi("K6-2-04", 25.0, population=30698, planned=7675, parts=parts(2785))
    assert validate_plan(clean_plan(**{"K6-2-04": good})) == []
    f = validate_plan(clean_plan(**{"K6-2-04": replace(good, parts=parts(2358))}))
    assert rows(f) == [["P406", KPI_SHEET, cell("K6-2-04", "planned"), "K6-2-04"]]
    assert "内訳の実施見込者数の合計（7,248）が全体の実施見込者数（7,675）と一致しません" in f[0].text_ja


def test_p406_populations_that_split_must_add_up():
    split = (PlanPart(1, iv("A"), iv(20000, "H20"), iv(5000, "I20")), PlanPart(2, iv("B"), iv(9000, "H21"), iv(2289, "I21")))
    f = validate_plan(clean_plan(**{"K6-2-04": kpi("K6-2-04", 25.1, population=29003, planned=7289, parts=split)}))
    assert rows(f) == [["P406", KPI_SHEET, cell("K6-2-04", "population"), "K6-2-04"]]
    fixed = (split[0], replace(split[1], population=iv(9003, "H21")))
    assert validate_plan(clean_plan(**{"K6-2-04": kpi("K6-2-04", 25.1, population=29003, planned=7289,
                                                     parts=fixed)})) == []


# ---------------------------------------------------------------- P407
def test_p407_generic_below_its_value():
    f = validate_plan(clean_plan(**{"K6-2-08": kpi("K6-2-08", 79.5, expected=78.0)}))
    assert rows(f) == [["P407", KPI_SHEET, cell("K6-2-08", "target"), "K6-2-08"]]  # not also P402
    assert "「80.0%以上（80.0%以上の支部は対前年度以上）」を満たしていません（80.0%未満）" in f[0].text_ja


def test_p407_generic_below_the_expected_value_already_above_80():
    f = validate_plan(clean_plan(**{"K6-2-08": kpi("K6-2-08", 81.0, expected=82.3)}))
    assert rows(f) == [["P407", KPI_SHEET, cell("K6-2-08", "target"), "K6-2-08"]]
    assert "令和6年度見込み 82.3% が80.0%以上のため、目標は 82.3% 以上" in f[0].text_ja
    assert validate_plan(clean_plan(**{"K6-2-08": kpi("K6-2-08", 80.0, expected=76.0)})) == []  # below 80: 80 will do


def test_p407_reads_the_value_from_the_catalogue():
    cat = replace(CAT, kpis=tuple(replace(k, target=replace(k.target, value=85.0)) if k.id == "K6-2-08" else k
                                  for k in CAT.kpis))
    f = validate_plan(clean_plan(**{"K6-2-08": kpi("K6-2-08", 82.0)}), catalogue=cat)
    assert rows(f) == [["P407", KPI_SHEET, cell("K6-2-08", "target"), "K6-2-08"]] and "85.0%未満" in f[0].text_ja


# ---------------------------------------------------------------- P408 / P409
def test_p408_below_last_years_approved_plan_target():
    last = clean_plan(2024, **{"K6-2-01": kpi("K6-2-01", 57.0), "K6-2-07": kpi("K6-2-07", 1300.0)})
    plan = clean_plan(**{"K6-2-01": kpi("K6-2-01", 56.5), "K6-2-07": kpi("K6-2-07", 1350.0)})
    assert validate_plan(plan) == []  # the branch's own check does not know last year's plan
    f = validate_plan(plan, previous=last)
    assert rows(f) == [["P408", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert "前年度の事業計画の目標 57.0%" in f[0].text_ja


def test_p408_across_the_term_change_only_where_the_value_carries_over():
    # 継続 K5-2-01 → K6-2-01 compares; K5-2-06 (3か月以内) → K6-2-06 (10か月以内) is redefined: it does not
    last = clean_plan(2023, **{"K5-2-01": kpi("K5-2-01", 60.0), "K5-2-06": kpi("K5-2-06", 40.0)})
    plan = clean_plan(2024, **{"K6-2-01": kpi("K6-2-01", 58.0), "K6-2-06": kpi("K6-2-06", 12.0)})
    assert rows(validate_plan(plan, previous=last)) == [["P408", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]


def test_validate_plans_gives_each_branch_its_own_last_plan_and_leaves_unread_files_out():
    last = {BRANCH: clean_plan(2024, **{"K6-2-01": kpi("K6-2-01", 57.0)}),
            "11": clean_plan(2024, branch="11", **{"K6-2-01": kpi("K6-2-01", 50.0)})}
    mine = clean_plan(**{"K6-2-01": kpi("K6-2-01", 56.5)})
    theirs = replace(clean_plan(branch="11", **{"K6-2-01": kpi("K6-2-01", 56.5)}), path="/in/11.xlsx")
    unread = replace(clean_plan(), path="/in/broken.xlsx", fiscal_year=None)
    got = validate_plans([mine, theirs, unread], previous=last)
    assert sorted(got) == sorted([mine.path, theirs.path])
    assert rows(got[mine.path]) == [["P408", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert got[theirs.path] == []  # 56.5% is above its own 50.0%


def test_p409_a_target_far_from_the_other_branches():
    def branch_plan(code: str, target: float) -> PlanSubmission:
        return clean_plan(branch=code, **{"K6-2-01": kpi("K6-2-01", target)})
    others = [branch_plan(f"{n:02d}", 55.0 + n % 5) for n in range(11, 21)]
    plan = branch_plan(BRANCH, 6.1)  # 61.0% typed without its digit
    f = validate_plan(plan, others=others)
    assert rows(f) == [["P409", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"]]
    assert "他支部の目標の中央値（57.0%、11支部）" in f[0].text_ja
    assert validate_plan(branch_plan(BRANCH, 58.0), others=others) == []
    assert validate_plan(plan, others=others[:5]) == []  # fewer than W412's 8 branches: no median to trust


# ---------------------------------------------------------------- P501 / P502 / E409
def test_p501_a_measure_with_nothing_written():
    plan = with_measure(clean_plan(), measure("6-1-II-2", 0, row=40))
    f = validate_plan(plan)
    assert rows(f) == [["P501", MEASURE_SHEET, "C40", "6-1-II-2"]]
    assert f[0].text_ja.startswith("II) ② サービス水準の向上 に事業内容が記入されていません。")


def test_p501_points_at_the_first_activity_row_when_it_is_there():
    blank = PlanMeasure("6-1-II-2", heading=iv("見出し", "C40", MEASURE_SHEET),
                        items=(PlanItem(1, iv(None, "D41", MEASURE_SHEET)), PlanItem(2, iv("  ", "D42", MEASURE_SHEET))))
    assert rows(validate_plan(with_measure(clean_plan(), blank))) == [["P501", MEASURE_SHEET, "D41", "6-1-II-2"]]


def test_no_p501_when_covered_elsewhere_or_not_required():
    covered = with_measure(clean_plan(), measure("6-1-II-2", 0, covered_by="6-1-II-1"))
    assert validate_plan(covered) == []
    nowhere = with_measure(clean_plan(), measure("6-1-II-2", 0, covered_by="9-9-9"))
    assert [f.code for f in validate_plan(nowhere)] == ["P501"]
    optional = replace(CAT, measures=tuple(replace(m, plan_required=False) if m.id == "6-1-II-2" else m
                                           for m in CAT.measures))
    assert validate_plan(with_measure(clean_plan(), measure("6-1-II-2", 0)), catalogue=optional) == []


def test_no_p501_for_hq_measures_in_a_branch_plan():
    plan = clean_plan()
    plan.measures.pop("6-3-IV-1", None)
    assert "6-3-IV-1" not in {m.id for m in CAT.measures_for(BRANCH)}
    assert validate_plan(with_measure(plan, measure("6-3-IV-1", 0))) == []


def test_p502_more_activities_than_the_monthly_rows():
    plan = with_measure(clean_plan(), measure("6-2-II-2", ROWS_PER_MEASURE + 2, row=60))
    f = validate_plan(plan)
    assert rows(f) == [["P502", MEASURE_SHEET, f"D{60 + ROWS_PER_MEASURE + 1}", "6-2-II-2"]]
    assert f"事業内容が{ROWS_PER_MEASURE + 2}行あり、毎月の取組状況の行数（1施策{ROWS_PER_MEASURE}行）を超えています" in f[0].text_ja
    assert validate_plan(with_measure(clean_plan(), measure("6-2-II-2", ROWS_PER_MEASURE))) == []


def test_e409_an_activity_or_a_reason_too_long():
    long_item = PlanMeasure("6-1-II-2", heading=iv("見出し", "C40", MEASURE_SHEET),
                            items=(PlanItem(1, iv("あ" * (TEXT_LIMITS["text"] + 1), "D41", MEASURE_SHEET)),))
    plan = with_measure(clean_plan(**{"K6-2-07": kpi("K6-2-07", 1200.0, reason="い" * (TEXT_LIMITS["note"] + 5))}),
                        long_item)
    f = validate_plan(plan)
    assert sorted(rows(f)) == sorted([["E409", MEASURE_SHEET, "D41", "6-1-II-2"],
                                      ["E409", KPI_SHEET, cell("K6-2-07", "reason"), "K6-2-07"]])
    item = next(x for x in f if x.cell == "D41")
    assert item.text_ja == ("「II) ② サービス水準の向上 の1行目の事業内容」の文章が1001文字あり、上限の1000文字を超えています。"
                            "要点を1000文字以内にまとめてください。")


# ---------------------------------------------------------------- no false findings
def test_qualitative_and_previous_year_kpis_give_no_number_findings():
    plan = clean_plan(**{"K6-1-03": kpi("K6-1-03", "対前年度以上", kind="previous_year", expected=0.31),
                         "K6-1-04": kpi("K6-1-04", None, kind="previous_year", expected=8364.0, population=5,
                                        planned=9)})
    assert validate_plan(plan, finals={"K6-1-03": 0.5}) == []
    term5 = clean_plan(2021, **{"K5-2-10": kpi("K5-2-10", "効果的な意見発信の実施", kind="text", expected=3.0)})
    assert validate_plan(term5) == []


def test_a_plan_of_a_year_no_catalogue_covers_gives_nothing_here():
    assert validate_plan(replace(clean_plan(), fiscal_year=1990, term=None)) == []


@pytest.mark.parametrize("fiscal_year", [None, 0, -5, 1988, 1990, 99999, True])
@pytest.mark.parametrize("branch_code", [None, "00", "99", ""])
def test_odd_identities_never_raise(fiscal_year, branch_code):
    plan = replace(clean_plan(**{"K6-2-01": kpi("K6-2-01", 55.0, expected=58.0)}), fiscal_year=fiscal_year,
                   branch_code=branch_code)
    found = validate_plan(plan, catalogue=CAT, previous=clean_plan(2024), others=[clean_plan(branch="11")] * 9)
    assert all(f.code in CODES for f in found)
    if fiscal_year == 1990 and branch_code == "99":
        assert ["P402", KPI_SHEET, cell("K6-2-01", "target"), "K6-2-01"] in rows(found)


def test_findings_have_no_cell_for_a_plan_from_the_ledger():
    plan = clean_plan(**{"K6-2-01": PlanKpi("K6-2-01", "value")})
    (f,) = validate_plan(plan)
    assert (f.code, f.cell, f.subject) == ("P401", None, "K6-2-01") and "K6-2-01" in f.message_ja


def test_a_plan_that_says_nothing_of_a_kpi_or_a_measure():
    plan = clean_plan()
    for kpi_id in ("K6-2-01", "K6-1-02", "K6-2-08", "K6-1-01"):  # 支部で設定, 対前年度, K6-2-08, fixed 100%
        del plan.kpis[kpi_id]
    del plan.measures["6-2-II-5"]
    assert rows(validate_plan(plan)) == [["P401", None, None, "K6-2-01"], ["P501", None, None, "6-2-II-5"]]
    term5 = clean_plan(2021)
    del term5.kpis["K5-2-10"]  # qualitative: nothing to state as a number
    assert validate_plan(term5) == []


ODD = st.one_of(st.none(), st.text(max_size=5), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                st.floats(allow_nan=False, allow_infinity=True), st.sampled_from([1e308, -1e308, 1e-300, 0.0, -0.0]))
KINDS = st.sampled_from(["value", "previous_year", "text", "", "謎"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.tuples(KINDS, ODD, ODD, ODD, ODD, ODD), min_size=4, max_size=4),
       parts=st.lists(st.tuples(ODD, ODD), max_size=3), final=ODD, items=st.integers(0, 13))
@example(values=[("value", 1e308, 1e-300, 1e-300, 1e308, None)] * 4, parts=[(1e308, -1e308)], final=1e308, items=12)
def test_validate_plan_never_raises_on_odd_values(values, parts, final, items):
    ids = ["K6-2-01", "K6-2-02", "K6-2-08", "K6-3-01"]
    pparts = tuple(PlanPart(i + 1, iv("p"), iv(a, "H1"), iv(b, "I1")) for i, (a, b) in enumerate(parts))
    changes = {k: kpi(k, t, kind=kind, expected=e, population=p, planned=n, reason=r, parts=pparts)
               for k, (kind, t, e, p, n, r) in zip(ids, values, strict=True)}
    plan = with_measure(clean_plan(**changes), measure("6-2-II-2", items))
    others = [clean_plan(branch=f"{n:02d}", **{k: kpi(k, v[1]) for k, v in zip(ids, values, strict=True)}) for n in range(11, 19)]
    found = validate_plan(plan, previous=clean_plan(2024, **changes), others=others,
                          finals={k: final for k in ids})
    assert all(f.code in CODES | {"E409"} for f in found)
    for f in found:  # every message renders, and no number in it is inf or nan
        assert f.text_ja and f.text_en and "nan" not in f.text_ja.lower()
    assert not any(isinstance(f.value, float) and not math.isfinite(f.value) for f in found)
