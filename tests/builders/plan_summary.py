"""Plans of all 47 branches for FY2025, built directly as PlanSubmissions (no workbook read), for the
national plan summary and the plan feedback tests.

Every branch sets a target for every branch KPI of term 6: 対前年度 where the catalogue's rule is
対前年度 (except a few that write a number), a number elsewhere; the health-check and guidance rates
with 対象者数 and 見込者数.  Deliberate oddities (the tests assert them):

- MISSING: three branches sent nothing;
- WITH_ERRORS: two branches have an error finding;
- BELOW: targets below last year's 見込み, with or without a reason (目標の考え方);
- 宮城 (04) wrote nothing for 6-2-II-4 and wrote 6-2-II-5's work under 6-2-II-1; 群馬 (10) marks 6-2-II-2 重点.
"""

from __future__ import annotations

from pathlib import Path

from kpisheet.domain.catalogue import Catalogue, catalogue_for_fy, prefecture_branches
from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.model import EMPTY, InputValue, Source
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanSubmission

FY = 2025
MISSING = ("05", "31", "47")  # 秋田, 鳥取, 沖縄
WITH_ERRORS = ("13", "27")  # 東京, 大阪
# (branch, kpi) -> (target, 見込み, reason or None): a target below last year
BELOW = {("08", "K6-2-01"): (55.0, 57.3, None),  # 茨城: no reason
         ("19", "K6-2-01"): (56.0, 58.1, "健診機関の減少により受診枠が減るため"),  # 山梨: with a reason
         ("20", "K6-2-07"): (800.0, 900.0, None)}  # 長野: 健康宣言事業所数 below its 見込み
# branches that wrote a number where the rule is 対前年度
NUMBER_FOR_RULE = {("11", "K6-1-02"): 95.4}
KPI_SHEET, MEASURE_SHEET = "KPI目標", "施策と事業内容"
# the cell of a KPI's target in the plan workbook, for findings and sources: one row per KPI from row 6
TARGET_COLUMN = "F"


def target_cell(catalogue: Catalogue, kpi_id: str) -> str:
    ids = [k.id for k in catalogue.kpis_for(FY, "01")]
    return f"{TARGET_COLUMN}{6 + ids.index(kpi_id)}"


def _counts(code: str, kpi_id: str, target: float) -> tuple[float, float]:
    """(対象者数, 見込者数) agreeing with the target at one decimal: 見込者数 = round(対象者数 × target%)."""
    population = 20000.0 + 1000 * int(code) + 100 * (int(kpi_id[-2:]) % 7)
    return population, float(round(population * target / 100))


def branch_plan(catalogue: Catalogue, code: str, name: str) -> PlanSubmission:
    kpis: dict[str, PlanKpi] = {}
    for kpi in catalogue.kpis_for(FY, code):
        src = Source(KPI_SHEET, target_cell(catalogue, kpi.id))
        expected = 50.0 + int(code) / 10 if kpi.display == "percent" else 1000.0 + int(code) * 10
        below = BELOW.get((code, kpi.id))
        reason = EMPTY
        if below is not None:
            target, expected, why = below
            reason = InputValue(why) if why else EMPTY
        elif kpi.target.rule == "baseline" and (code, kpi.id) not in NUMBER_FOR_RULE:
            kpis[kpi.id] = PlanKpi(kpi.id, "previous_year", InputValue("対前年度以上", src), InputValue(expected),
                                   InputValue("見込み"))
            continue
        elif (code, kpi.id) in NUMBER_FOR_RULE:
            target = NUMBER_FOR_RULE[(code, kpi.id)]
        elif kpi.display == "percent":
            step = 1 + (int(code) % 5) / 10
            target = round(expected + (step if kpi.direction == ">=" else -step), 1)
        else:
            target = expected + 50
        population = planned = EMPTY
        if kpi.id in ("K6-2-01", "K6-2-02", "K6-2-03", "K6-2-04", "K6-2-05"):
            p, n = _counts(code, kpi.id, target)
            population, planned = InputValue(p), InputValue(n)
        kpis[kpi.id] = PlanKpi(kpi.id, "value", InputValue(target, src), InputValue(expected), InputValue("見込み"),
                               EMPTY, population, planned, (), reason)
    measures: dict[str, PlanMeasure] = {}
    for m in catalogue.measures_for(code):
        items = tuple(PlanItem(n, InputValue(f"{m.label}の取組{n}"), InputValue(f"({n})"))
                      for n in range(1, 2 + len(m.id) % 3))
        covered = None
        if code == "04" and m.id == "6-2-II-4":
            items = ()
        if code == "04" and m.id == "6-2-II-5":
            items, covered = (), "6-2-II-1"
        measures[m.id] = PlanMeasure(m.id, InputValue("①"), InputValue(m.label), EMPTY,
                                     code == "10" and m.id == "6-2-II-2", covered, items)
    if code == "10":
        measures["B-2-1"] = PlanMeasure("B-2-1", InputValue("(5)"), InputValue("健康づくり推進協議会の開催"),
                                        items=(PlanItem(1, InputValue("協議会を年2回開催する")),))
    return PlanSubmission(f"{code}_{name}_FY{FY}_事業計画.xlsx", "ab" * 32, FY, code, name, catalogue.term,
                          measures=measures, kpis=kpis)


def national_plans() -> tuple[dict[str, PlanSubmission | None], dict[str, list[Finding]]]:
    """The 47 branches' plans (None for MISSING) and their findings."""
    catalogue = catalogue_for_fy(FY)
    plans: dict[str, PlanSubmission | None] = {}
    findings: dict[str, list[Finding]] = {}
    for b in prefecture_branches():
        if b.code in MISSING:
            plans[b.code] = None
            continue
        plan = branch_plan(catalogue, b.code, b.display_name)
        plans[b.code] = plan
        findings[b.code] = []
        if b.code in WITH_ERRORS:
            findings[b.code].append(finding("E409", file=plan.path, branch=b.code, sheet=KPI_SHEET,
                                            cell=target_cell(catalogue, "K6-2-07"), subject="K6-2-07",
                                            value=1200, label="健康宣言事業所数の目標の考え方", expected=1000))
    return plans, findings


def previous_plans(plans: dict[str, PlanSubmission | None]) -> dict[str, PlanSubmission]:
    """Last year's plans: every numeric target lower (0.5 points, 10 事業所), so this year's is ↑; but 埼玉's
    K6-2-01 the same (→), 群馬's K6-2-01 higher (↓) and 長野's K6-2-07 799.5, which shows as this year's 800 (→)."""
    special = {("11", "K6-2-01"): 0.0, ("10", "K6-2-01"): 0.5, ("20", "K6-2-07"): -0.5}
    out = {}
    for code, plan in plans.items():
        if plan is None:
            continue
        kpis = {}
        for kid, pk in plan.kpis.items():
            value = pk.target.value
            if pk.kind == "value" and isinstance(value, float):
                value += special.get((code, kid), -10.0 if kid == "K6-2-07" else -0.5)
            kpis[kid] = PlanKpi(kid, pk.kind, InputValue(value))
        out[code] = PlanSubmission(f"ledger:{code}", None, FY - 1, code, plan.branch_name, kpis=kpis)
    return out


def plan_workbook(path: Path, plan: PlanSubmission) -> Path:
    """A stand-in for a branch's plan workbook (the two sheets, a KPI per row from row 6 with its target in
    column F, as target_cell says), written by xlsxwriter: what the feedback copies and marks."""
    import xlsxwriter

    catalogue = catalogue_for_fy(FY)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet(MEASURE_SHEET)
    ws.write_string(0, 0, f"令和7年度 事業計画（{plan.branch_name}）")
    row = 4
    for m in plan.measures.values():
        ws.write_string(row, 0, m.measure_id)
        ws.write_string(row, 1, str(m.heading.value or ""))
        for item in m.items:
            row += 1
            ws.write_string(row, 2, str(item.text.value or ""))
        row += 1
    ks = wb.add_worksheet(KPI_SHEET)
    ks.write_row(4, 0, ["KPI ID", "KPI", "前年度", "状況", "", "年間目標"])
    for kid, pk in plan.kpis.items():
        r = int(target_cell(catalogue, kid)[1:]) - 1
        ks.write_string(r, 0, kid)
        ks.write_string(r, 1, catalogue.kpi(kid).label)
        value = pk.target.value
        if isinstance(value, float):
            ks.write_number(r, 5, value)
        elif value is not None:
            ks.write_string(r, 5, str(value))
    wb.close()
    return path
