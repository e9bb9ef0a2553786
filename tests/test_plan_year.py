"""The plan drives the year: generate --plan, targets from the approved 事業計画, 実施状況 in the branch's words.

Replay: 埼玉支部's FY2023 plan (tests/data/plan_saitama_r5.json, typed from 「令和5年度 埼玉支部事業計画
実施状況（概要版）」: its headings, 小見出し, activities and KPI targets, each with its line there) is the
approved plan; the workbook generated with it is filled with that report's results
(tests/data/seed003_saitama.json through tests/test_replays.py's values) and consolidated at 2024-03.
The marks are the report's, the targets' source is 「事業計画の目標」, and 実施状況 prints 埼玉's own
headings, 小見出し and numbering, with pillar 1's KPIs inside the activity rows that name them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from kpisheet.consolidate.build import build_consolidation, plan_targets_of
from kpisheet.domain.catalogue import catalogue_for_fy, load_branches
from kpisheet.domain.model import InputValue
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanSubmission
from kpisheet.domain.plan_layout import filed_items
from kpisheet.domain.display import shown
from kpisheet.domain.ratings import annual_target, implied_national_target
from kpisheet.month import consolidate, rebuild_month, run_month
from kpisheet.read.reader import read_workbook
from kpisheet.template.build import generate
from kpisheet.write.report.plan_status import plan_status_rows
from tests.builders.sample import fill_by_names

from .consolidate_helpers import field, mfield
from .test_replays import SAITAMA_AS_REPORTED, saitama_kpi_values

DATA = Path(__file__).parent / "data"
PLAN_JSON = json.loads((DATA / "plan_saitama_r5.json").read_text(encoding="utf-8"))
SEED = json.loads((DATA / "seed003_saitama.json").read_text(encoding="utf-8"))
FY, SAITAMA = 2023, "11"
MARCH = date(2024, 3, 1)
MARKS = {r[0]: r[7] for r in SAITAMA_AS_REPORTED}
VALUE_KPIS = [k["kpi_id"] for k in PLAN_JSON["kpis"] if k["kind"] == "value"]


def saitama_plan() -> PlanSubmission:
    return PlanSubmission.from_dict(PLAN_JSON)


def _iv(v: object) -> InputValue:
    return InputValue(v)


def small_plan(code: str, targets: dict[str, float], *, counts: dict[str, tuple[int, int]] | None = None,
               items: dict[str, list[str]] | None = None, fy: int = FY) -> PlanSubmission:
    """A plan built directly: value targets, (対象者数, 見込者数) pairs, activity texts per measure."""
    kpis = {k: PlanKpi(k, "value", _iv(v)) for k, v in targets.items()}
    for k, (pop, planned) in (counts or {}).items():
        kpis[k] = replace(kpis.get(k, PlanKpi(k, "value")), population=_iv(pop), planned=_iv(planned))
    measures = {m: PlanMeasure(m, _iv("（1）"), _iv(f"{m}の見出し"),
                               items=tuple(PlanItem(n, _iv(t)) for n, t in enumerate(texts, 1)))
                for m, texts in (items or {}).items()}
    return PlanSubmission(f"ledger:{code}-1", None, fy, code, None, measures=measures, kpis=kpis)


def _meta(path: Path) -> dict[str, str]:
    wb = openpyxl.load_workbook(path)
    return {r[0].value: r[1].value for r in wb["_meta"].iter_rows() if r[0].value}


def _named_cell(path: Path, name: str):
    wb = openpyxl.load_workbook(path)
    (sheet, ref), = wb.defined_names[name].destinations
    return wb[sheet], wb[sheet][ref.replace("$", "")]


# ================================================================ generate --plan
@pytest.fixture(scope="module")
def saitama_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan_generate")
    result = generate(FY, [SAITAMA], out, plans={SAITAMA: saitama_plan()})
    assert result.findings == []
    return result.paths[0]


def test_value_targets_are_prefilled_from_the_plan_with_a_note_naming_it(saitama_book):
    ws, cell = _named_cell(saitama_book, field("K5-1-02", "target"))
    assert cell.value == pytest.approx(0.965)
    note = ws.cell(cell.row, cell.column + 1).value
    assert "令和5年度事業計画の目標" in note
    _, count = _named_cell(saitama_book, field("K5-2-07", "target"))
    assert count.value == 1170


def test_previous_year_targets_keep_the_rule_and_meta_names_the_plans_targets(saitama_book):
    _, cell = _named_cell(saitama_book, field("K5-1-03", "target"))  # 対前年度以上 in the plan
    assert cell.value is None
    meta = _meta(saitama_book)
    sources = json.loads(meta["prefill_sources"])
    assert sorted(sources) == sorted(VALUE_KPIS)
    assert set(sources.values()) == {"plan:saitama-r5-1"} and meta["plan"] == "plan:saitama-r5-1"
    assert json.loads(meta["prefilled_targets"])["K5-1-02"] == 96.5


def test_activity_rows_hold_the_plans_items_with_its_headings_and_enough_rows(saitama_book):
    plan = saitama_plan()
    block = filed_items(plan, "5-2-2")  # (5) 広報… and (6) 健康保険委員…: 7 + 3 items in one block
    assert len(block) == 10
    meta = _meta(saitama_book)
    assert int(meta["rows_per_measure"]) == 12  # the largest block (10) and two spare rows
    for f in block:
        ws, cell = _named_cell(saitama_book, mfield("5-2-2", "text", f.n))
        assert cell.value == f.text
    ws, first_b = _named_cell(saitama_book, mfield("5-2-2", "text", 8))  # a band above it names its heading
    assert (ws.cell(first_b.row - 1, 4).value, ws.cell(first_b.row, 4).value) == ("(6) 健康保険委員と連携した事業の推進", "①")
    _, before = _named_cell(saitama_book, mfield("5-2-2", "text", 7))
    assert before.row == first_b.row - 2
    ws, sub = _named_cell(saitama_book, mfield("5-2-1-i", "text", 4))
    assert (ws.cell(sub.row - 1, 4).value, ws.cell(sub.row, 4).value) == ("●被保険者 (事業者健診データ)", "①")
    ws, top = _named_cell(saitama_book, mfield("5-2-1-i", "text", 1))
    assert ws.cell(top.row - 1, 4).value == "●被保険者 (生活習慣病予防健診)"
    ws, heading = _named_cell(saitama_book, mfield("5-1-8", "text", 1))
    merged = next(r for r in ws.merged_cells.ranges if r.min_row <= heading.row <= r.max_row and r.min_col == 3)
    assert ws.cell(merged.min_row, 3).value.startswith(
        "返納金債権発生防止のための保険証回収強化\n（⑧ 返納金債権発生防止のための保険証回収強化、債権回収業務の推進）")
    assert ws.cell(merged.min_row, 2).value == "(6)"
    _, spare = _named_cell(saitama_book, mfield("5-2-2", "text", 12))
    assert spare.value is None


def test_the_plan_workbook_reads_back_with_its_sources_and_rows(saitama_book):
    sub = read_workbook(saitama_book)
    assert not [f for f in sub.findings if f.is_error]
    assert sub.prefill_sources["K5-2-01"] == "plan:saitama-r5-1"
    assert len(sub.measures["5-2-2"].rows) == 12
    assert sub.measures["5-1-8"].rows[2].text.value == "定期催告を計画的に実施する"  # (7)'s first item, after (6)'s two


def test_a_branch_without_an_approved_plan_gets_p601_and_todays_workbook(tmp_path):
    result = generate(FY, ["10", SAITAMA], tmp_path, plans={SAITAMA: saitama_plan()})
    gunma = tmp_path / result.paths[0].name
    [p601] = result.findings
    assert (p601.code, p601.file, p601.branch, p601.cell) == ("P601", str(gunma), "10", None)
    assert "群馬支部" in p601.message_ja and "承認" in p601.message_ja
    meta = _meta(gunma)
    assert "prefill_sources" not in meta and meta["rows_per_measure"] == "10"


def test_a_plan_of_another_year_is_not_used(tmp_path):
    result = generate(FY, [SAITAMA], tmp_path, plans={SAITAMA: small_plan(SAITAMA, {"K5-1-02": 97.0}, fy=2024)})
    assert [f.code for f in result.findings] == ["P601"]


# ================================================================ target order (pure)
def test_target_order_workbook_targets_file_plan_rule():
    kpi = catalogue_for_fy(FY).kpi("K5-1-02")
    assert annual_target(kpi, typed=96.5, prefilled=96.5, prefilled_from_plan=True).source == "plan"
    assert annual_target(kpi, typed=96.5, prefilled=96.5).source == "workbook_hq"
    changed = annual_target(kpi, typed=95.0, prefilled=96.5, prefilled_from_plan=True)
    assert (changed.source, changed.value) == ("workbook_changed", 95.0)
    assert "事業計画の目標は 96.5%" in changed.basis_ja
    assert annual_target(kpi, hq_target=97.0, plan_target=96.5).source == "targets_file"
    from_plan = annual_target(kpi, plan_target=96.5)
    assert (from_plan.source, from_plan.value, from_plan.basis_ja) == ("plan", 96.5, "目標 96.5%以上（事業計画の目標）")
    fixed = catalogue_for_fy(FY).kpi("K5-3-01")
    assert annual_target(fixed, plan_target=15.0).value == 15.0  # the plan before the catalogue
    assert annual_target(fixed).source == "catalogue"


# ================================================================ the implied national target
def _all_plans(kpi_id: str, counts: dict[str, tuple[int, int]]) -> dict[str, PlanSubmission]:
    return {c: small_plan(c, {kpi_id: round(p / n * 100, 1)}, counts={kpi_id: (n, p)}) for c, (n, p) in counts.items()}


def _branches() -> list[str]:
    return [b.code for b in load_branches() if b.code != "00"]


def test_implied_national_rate_is_planned_over_population_only_with_every_branch():
    kpi = catalogue_for_fy(FY).kpi("K5-2-01")
    counts = {c: (10_000 + i * 100, 5_000 + i * 70) for i, c in enumerate(_branches())}
    plans = _all_plans("K5-2-01", counts)
    value, n = implied_national_target(kpi, plans, _branches())
    assert n == 47
    exact = 100 * sum(p for _, p in counts.values()) / sum(d for d, _ in counts.values())
    assert value == float(shown(kpi, exact)) and abs(value - exact) <= 0.05  # at the KPI's shown precision
    del plans["13"]
    assert implied_national_target(kpi, plans, _branches()) == (None, 46)


def test_implied_national_count_is_the_sum_of_targets():
    kpi = catalogue_for_fy(FY).kpi("K5-2-07")
    plans = {c: small_plan(c, {"K5-2-07": 100 + i}) for i, c in enumerate(_branches())}
    assert implied_national_target(kpi, plans, _branches()) == (sum(100 + i for i in range(47)), 47)


def test_the_nations_target_is_the_implied_one_else_the_term_goal():
    counts = {c: (10_000, 6_000) for c in _branches()}
    cons = build_consolidation([], [], fiscal_year=FY, month=MARCH, plans=_all_plans("K5-2-01", counts))
    nat = cons.national["K5-2-01"]
    assert (nat.annual_target, nat.rating.target_source) == (pytest.approx(60.0), "plan")
    assert nat.target_basis == "目標 60.0%以上（事業計画の目標：全支部の見込者数の合計÷対象者数の合計）"
    partial = dict(_all_plans("K5-2-01", counts))
    del partial["01"]
    cons = build_consolidation([], [], fiscal_year=FY, month=MARCH, plans=partial)
    assert cons.national["K5-2-01"].rating.target_source != "plan"
    assert ("ALL", "K5-2-01") not in cons.plan_targets
    given = build_consolidation([], [], fiscal_year=FY, month=MARCH, plans=_all_plans("K5-2-01", counts),
                                targets={("ALL", "K5-2-01"): 58.0})
    assert given.national["K5-2-01"].annual_target == 58.0  # --targets 'ALL' first


# ================================================================ the replay: 埼玉 R5
def _replay_values() -> dict:
    """seed 003's results and self-ratings typed into the plan-prefilled workbook: targets as the report
    prints them (the plan's values again), activities kept as prefilled, marks in the plan's order."""
    values = saitama_kpi_values()
    plan = saitama_plan()
    by_measure: dict[str, list[dict]] = {}
    for m in SEED["measures"]:
        by_measure.setdefault(m["catalogue_measure"], []).extend(r for r in m["rows"] if r["kind"] == "activity")
    for m in SEED["measures"]:
        for r in m["rows"]:
            if r.get("kpi") == "K5-2-10":
                values[field("K5-2-10", "text")], values[field("K5-2-10", "rating")] = r["result"], r["mark"]
    for measure_id in by_measure:
        marks = {r["text"]: r["mark"] for r in by_measure[measure_id]}
        for f in filed_items(plan, measure_id):
            values[mfield(measure_id, "rating", f.n)] = marks[f.text]
        for m in SEED["measures"]:
            if m["catalogue_measure"] == measure_id and m["issues"]:
                values[mfield(measure_id, "issue")] = "\n".join(dict.fromkeys(
                    t for s in SEED["measures"] if s["catalogue_measure"] == measure_id for t in s["issues"]))
    return values


@pytest.fixture(scope="module")
def replay(tmp_path_factory, saitama_book):
    root = tmp_path_factory.mktemp("plan_replay")
    inbox = root / "inbox"
    inbox.mkdir()
    fill_by_names(saitama_book, inbox / saitama_book.name, _replay_values())
    cons = consolidate(inbox, fiscal_year=FY, month=MARCH, plans={SAITAMA: saitama_plan()})
    return cons, plan_status_rows(cons, SAITAMA)


@pytest.mark.parametrize("kpi_id", [r[0] for r in SAITAMA_AS_REPORTED])
def test_replay_gives_the_reports_marks(replay, kpi_id):
    cons, _ = replay
    assert cons.branch_kpis[(SAITAMA, kpi_id)].rating.mark == MARKS[kpi_id]


def test_replay_targets_come_from_the_plan(replay):
    cons, _ = replay
    for kpi_id in VALUE_KPIS:
        bk = cons.branch_kpis[(SAITAMA, kpi_id)]
        assert bk.target_source == "plan", kpi_id
        assert bk.target_basis.endswith("（事業計画の目標）"), kpi_id
    assert cons.branch_kpis[(SAITAMA, "K5-1-06")].target_source == "previous_year"  # 対前年度（85.38%）以上
    assert not [f for f in cons.findings if f.code in ("W416", "W424", "W425")]
    assert cons.plan_targets[(SAITAMA, "K5-2-05")] == 15.1


def _firsts(rows) -> list[str]:
    return [r.cells[0] for r in rows if r.cells[0] and r.kind in ("activity", "kpi", "heading", "measure")]


def test_replay_status_rows_stand_under_saitamas_own_headings(replay):
    _, rows = replay
    firsts = _firsts(rows)
    for m in SEED["measures"]:
        assert m["seed_heading"] in firsts, m["seed_heading"]
    order = [f for f in firsts if f in {m["seed_heading"] for m in SEED["measures"]}]
    # the report's order but for 2-(9) filed with 2-(7) (one action-plan measure) and 3-(7) with 3-(1)
    assert order.index("(7) 債権管理回収業務の推進") == order.index("(6) 返納金債権発生防止のための保険証回収強化") + 1
    assert order.index("(9) 医療費適正化の取組みの推進") == order.index("(7) ジェネリック医薬品のさらなる使用促進") + 1


def test_replay_status_rows_carry_the_subgroups_and_numbering(replay):
    _, rows = replay
    i = next(k for k, r in enumerate(rows) if r.cells[0] == "(1) 特定健診実施率・事業者健診データ取得率の向上")
    assert rows[i].kind == "heading"
    assert (rows[i + 1].cells[0], rows[i + 1].cells[1]) == ("●被保険者 (生活習慣病予防健診)",
                                                           "① 健診・保健指導カルテ等から勧奨対象者を選定し受診を促進する")
    sub = next(r for r in rows if r.cells[0] == "◆被扶養者 (特定健診)")
    assert sub.cells[1] == "① 自治体と連携し集団健診の実施を推進する" and sub.mark == "○"


@pytest.mark.parametrize("kpi_id, target, mark", [("K5-1-02", "96.5%以上", "○"), ("K5-1-06", "85.38%以上", "△"),
                                                  ("K5-1-08", "94.0%以上", "△")])
def test_replay_pillar_1_kpis_print_inside_the_activity_row_that_names_them(replay, kpi_id, target, mark):
    cons, rows = replay
    [row] = [r for r in rows if r.kpi_id == kpi_id]
    assert row.kind == "activity"
    seed = next(r for m in SEED["measures"] for r in m["rows"] if r.get("kpi") == kpi_id)
    assert seed["text"] in row.cells[1]
    assert (row.cells[2], row.mark) == (target, mark), f"seed 003:{seed['line']}"


# ================================================================ changes against the plan
def test_a_branch_that_changes_a_plan_target_gets_w424_naming_the_plans_value(tmp_path, saitama_book):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    values = _replay_values()
    values[field("K5-2-01", "target")] = 0.5
    fill_by_names(saitama_book, inbox / saitama_book.name, values)
    cons = consolidate(inbox, fiscal_year=FY, month=MARCH, plans={SAITAMA: saitama_plan()})
    [w] = [f for f in cons.findings if f.code in ("W416", "W424")]
    _, cell = _named_cell(saitama_book, field("K5-2-01", "target"))
    assert (w.code, w.sheet, w.cell, w.subject) == ("W424", "KPI入力", cell.coordinate, "K5-2-01")
    assert "事業計画の目標 53.8% から 50.0% に変更" in w.message_ja
    assert "このままで構いません" not in w.message_ja
    bk = cons.branch_kpis[(SAITAMA, "K5-2-01")]
    assert (bk.annual_target, bk.target_source) == (50.0, "workbook_changed")


def test_targets_file_disagreeing_with_the_plan_is_w425_and_wins(replay):
    cons, _ = replay
    again = build_consolidation(cons.submissions, cons.given_findings, fiscal_year=FY, month=MARCH,
                                targets={(SAITAMA, "K5-1-07"): 70.0, (SAITAMA, "K5-2-09"): 45.0,
                                         (SAITAMA, "K5-2-05"): 15.1},
                                plans={SAITAMA: saitama_plan()})
    [w] = [f for f in again.findings if f.code == "W425"]
    assert (w.branch, w.subject, w.cell, w.value) == (SAITAMA, "K5-2-09", None, "45.0%")
    assert "埼玉支部" in w.message_ja and "44.0%" in w.message_ja


def test_targets_without_plans_keep_working(replay):
    cons, _ = replay
    plain = build_consolidation(cons.submissions, cons.given_findings, fiscal_year=FY, month=MARCH,
                                targets={(SAITAMA, "K5-1-06"): 90.0})
    assert plain.plan_targets == {}
    bk = plain.branch_kpis[(SAITAMA, "K5-1-06")]
    assert (bk.annual_target, bk.target_source, bk.rating.mark) == (90.0, "targets_file", "△")
    # the workbook still says its kept value is the plan's (_meta prefill_sources), with or without plans
    assert plain.branch_kpis[(SAITAMA, "K5-1-02")].target_source == "plan"


# ================================================================ reproducibility
def test_plan_targets_enter_the_fingerprint_and_the_rebuild(tmp_path, replay, saitama_book):
    cons, _ = replay
    assert cons.plan_targets and plan_targets_of(cons.catalogue, FY, cons.plans) == cons.plan_targets
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fill_by_names(saitama_book, inbox / saitama_book.name, _replay_values())
    ledger = tmp_path / "kpisheet.sqlite"
    first = run_month(inbox, FY, MARCH, tmp_path / "out", ledger=ledger, plans={SAITAMA: saitama_plan()})
    assert first.record is not None and first.record.run_id is not None
    changed = small_plan(SAITAMA, {"K5-2-01": 60.0})
    again = run_month(inbox, FY, MARCH, tmp_path / "out2", ledger=ledger, plans={SAITAMA: changed})
    assert again.record is not None and again.record.run_id is not None  # another plan target: a new run
    rebuilt = rebuild_month(FY, MARCH, tmp_path / "rebuilt", ledger=ledger)
    assert rebuilt.consolidation.plan_targets == again.consolidation.plan_targets
    assert rebuilt.mismatches == []


# ================================================================ the CLI's --plan
def _ledger_with_saitamas_plan(tmp_path: Path) -> tuple[Path, PlanSubmission]:
    """A ledger holding 埼玉's plan of the year, recorded and approved as plan collect / approve do."""
    from kpisheet.ledger.plans import approve_plans, approved_plans, record_plans

    ledger = tmp_path / "plans.sqlite"
    record_plans(ledger, [saitama_plan()], FY)
    assert approve_plans(ledger, FY).approved
    return ledger, approved_plans(ledger, FY)[SAITAMA]


def test_generate_plan_takes_the_approved_plans_from_the_ledger(tmp_path):
    from click.testing import CliRunner

    from kpisheet.cli import cli

    ledger, approved = _ledger_with_saitamas_plan(tmp_path)
    result = CliRunner().invoke(cli, ["generate", "--fy", str(FY), "--branch", "10", "--branch", SAITAMA,
                                      "--plan", "--ledger", str(ledger), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "P601" in result.output and "群馬支部" in result.output
    sources = json.loads(_meta(tmp_path / "out" / "11_埼玉支部_FY2023_KPI入力.xlsx")["prefill_sources"])
    assert approved.path.startswith("ledger:")
    assert sources["K5-1-02"] == "plan:" + approved.path.removeprefix("ledger:")


def test_plan_needs_a_ledger(tmp_path):
    from click.testing import CliRunner

    from kpisheet.cli import cli

    result = CliRunner().invoke(cli, ["consolidate", str(tmp_path), "--fy", str(FY), "--month", "2024-03",
                                      "--plan", "--no-ledger", "-o", str(tmp_path / "cons")])
    assert result.exit_code == 2 and "--no-ledger" in result.output


def test_replay_feedback_sheet_prints_saitamas_headings(replay, tmp_path):
    from kpisheet.write.feedback.build import write_feedback

    cons, _ = replay
    sub = next(s for s in cons.submissions if s.branch_code == SAITAMA)
    path = write_feedback(cons, sub, tmp_path / "out", force=False)
    ws = openpyxl.load_workbook(path)["実施状況"]
    firsts = [row[0] for row in ws.iter_rows(values_only=True) if row[0]]
    assert "(7) 債権管理回収業務の推進" in firsts and "◆被扶養者" in firsts
    row = next(r for r in ws.iter_rows(values_only=True) if r[1] and "郵送化率を96.5%以上とする" in str(r[1]))
    assert row[2:5] == ("96.5%以上", "96.5%（R6.3現在）", "○")


def test_a_plan_measure_of_the_branchs_own_with_no_place_is_p620(tmp_path):
    plan = saitama_plan()
    own = PlanMeasure("B-3-9", _iv("(8)"), _iv("支部独自の取組"), items=(PlanItem(1, _iv("独自の事業")),))
    covered = replace(plan.measures["5-1-6"] if "5-1-6" in plan.measures else PlanMeasure("5-1-6"), covered_by="5-1-4")
    plan.measures = {**plan.measures, "5-1-6": covered, "B-3-9": own}
    result = generate(FY, [SAITAMA], tmp_path, plans={SAITAMA: plan})
    [p620] = result.findings
    assert (p620.code, p620.file, p620.branch, p620.subject, p620.cell) == (
        "P620", str(result.paths[0]), SAITAMA, "B-3-9", None)
    assert "(8) 支部独自の取組" in p620.message_ja
    ws, cell = _named_cell(result.paths[0], mfield("5-1-6", "text", 1))
    merged = next(r for r in ws.merged_cells.ranges if r.min_row <= cell.row <= r.max_row and r.min_col == 3)
    assert "※事業計画では「(4) 現金給付の適正化の推進」に記載" in ws.cell(merged.min_row, 3).value


@pytest.mark.parametrize("measure_id", ["5-2-1-i", "5-2-1-ii"])
def test_replay_kpi_rows_close_their_subgroup_as_the_report_prints_them(replay, measure_id):
    _, rows = replay
    shown = [r.kpi_id or r.cells[1].split(" ", 1)[1] for r in rows
             if r.measure_id == measure_id and r.kind in ("activity", "kpi")]
    seed = next(m for m in SEED["measures"] if m["catalogue_measure"] == measure_id)
    assert shown == [r.get("kpi") if r["kind"] == "kpi" else r["text"] for r in seed["rows"]]
