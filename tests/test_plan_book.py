"""The 事業計画 workbook: catalogue plan data, `plan generate`, `read_plan`, `plan read` / `plan validate`,
and the 群馬 令和3年度 事業計画 typed into it and read back (tests/data/plan_gunma_r3.json)."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet import PLAN_FORMAT
from kpisheet.cli import cli
from kpisheet.domain.catalogue import catalogue_for_fy, load_catalogue
from kpisheet.domain.model import InputValue
from kpisheet.domain.plan import PlanItem, PlanMeasure, PlanSubmission
from kpisheet.domain.settings import example_settings
from kpisheet.fileio import OutputExistsError
from kpisheet.plan import names as pn
from kpisheet.plan.reader import is_plan_read, read_plan
from kpisheet.plan.template import build_plan, generate_plans, plan_layout_digest, plan_sentence
from kpisheet.read.names import parse_name
from kpisheet.read.reader import read_workbook
from kpisheet.template.protection import is_locked
from tests.builders.plan_book import assert_gunma, gunma, gunma_values
from tests.builders.sample import fill_by_names
from tests.helpers import make_template

FY = 2021
GENERATED = datetime(2021, 1, 12, 9, 0, tzinfo=timezone.utc)
# the monthly workbooks' layout digests as they were before the catalogue had plan data
MONTHLY_DIGEST = {5: "956f7aac2f5cee23f2f1d33f0e0e68df825f4615e4bea6d1b1a1faeb1521d173",
                  6: "5aa1c5d40666716432100a9212198bc8434ba4d6025d2a43ecf25dae345b8484"}


@pytest.fixture(scope="module")
def plan_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    (path,) = generate_plans(FY, out, branches=["10"], generated_at=GENERATED, settings=example_settings())
    return path


@pytest.fixture(scope="module")
def gunma_plan(plan_book: Path, tmp_path_factory: pytest.TempPathFactory) -> PlanSubmission:
    filled = tmp_path_factory.mktemp("gunma") / plan_book.name
    fill_by_names(plan_book, filled, gunma_values(typed=False))
    return read_plan(filled)


def _cell(path: Path, name: str) -> tuple[str, str]:
    wb = openpyxl.load_workbook(path)
    ((sheet, ref),) = wb.defined_names[name].destinations
    return sheet, ref.replace("$", "")


def _cell_of(book: Path, name: str) -> str:
    ((_, ref),) = openpyxl.load_workbook(book).defined_names[name].destinations
    return ref.replace("$", "")


def _edit(src: Path, dst: Path, values: dict[str, Any], fn: Any = None) -> Path:
    wb = openpyxl.load_workbook(src)
    for name, value in values.items():
        ((sheet, ref),) = wb.defined_names[name].destinations
        cell = wb[sheet][ref.replace("$", "")]
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"
    if fn is not None:
        fn(wb)
    wb.save(dst)
    return dst


# ------------------------------------------------------------------ 1. catalogue data
def test_catalogue_says_which_kpis_take_counts_with_the_documents_labels() -> None:
    cat = load_catalogue(5)
    labels = {k.id: (k.plan.population_label, k.plan.planned_label, k.plan.shared_with)
              for k in cat.kpis if k.plan is not None and k.plan.takes_counts}
    assert labels == {"K5-2-01": ("対象者数", "受診見込者数", None),
                      "K5-2-02": ("対象者数", "取得見込者数", "K5-2-01"),
                      "K5-2-03": ("対象者数", "実施見込者数", None),
                      "K5-2-04": ("対象者数", "実施見込者数", None),
                      "K5-2-05": ("対象者数", "実施見込者数", None),
                      "K5-2-06": ("勧奨対象者数", "実施見込者数", None)}
    generic = cat.kpi("K5-2-08")
    assert generic.plan is not None and not generic.plan.takes_counts
    assert plan_sentence(generic, "value", 80.7) == "ジェネリック医薬品使用割合を年度末時点で80.7%以上とする。"
    assert plan_sentence(generic, "previous_year", None) == "ジェネリック医薬品使用割合を年度末時点で対前年度以上とする。"
    assert plan_sentence(cat.kpi("K5-1-01"), "value", 100.0) == "サービススタンダードの達成状況を100%とする。"
    assert plan_sentence(cat.kpi("K5-2-07"), "value", 1100.0) == "健康宣言事業所数を1,100事業所以上とする。"
    six = load_catalogue(6)
    assert [k.id for k in six.kpis if k.plan is not None and k.plan.takes_counts] == \
        ["K6-2-01", "K6-2-02", "K6-2-03", "K6-2-04", "K6-2-05"]
    assert six.kpi("K6-2-02").plan.shared_with == "K6-2-01"  # type: ignore[union-attr]
    assert [m.id for m in cat.measures if not m.plan_required] == ["5-3-III-2"]
    assert all(m.plan_required for m in six.measures)


def test_catalogue_plan_data_names_its_documents() -> None:
    for term in (5, 6):
        data = json.loads((Path(__file__).parents[1] / "templates" / f"catalogue_term{term}.json").read_text("utf-8"))
        for k in data["kpis"]:
            if "plan" in k:
                assert "事業計画" in k["plan"]["evidence"] or "説明資料" in k["plan"]["evidence"], k["id"]
                assert "seed" not in k["plan"]["evidence"]


@pytest.mark.parametrize("term", [5, 6])
def test_plan_data_leaves_the_monthly_layout_digest_unchanged(term: int) -> None:
    assert load_catalogue(term).digest == MONTHLY_DIGEST[term]


# ------------------------------------------------------------------ names
def test_plan_names_round_trip_and_never_read_as_monthly_inputs(plan_book: Path) -> None:
    for key in (pn.kpi_key("K5-2-01", "pop"), pn.measure_key("5-2-1-i", "heading"), pn.item_key("5-1-1", 3, "text"),
                pn.item_key("B-2-1", 10, "group"), pn.measure_key("B-3-2", "numbering"), pn.info_key("contact")):
        assert pn.parse_plan_name(key.name) == key
    assert pn.item_key("5-1-1", 3, "text").name == "pl_M_5_1_1_r3_text"
    wb = openpyxl.load_workbook(plan_book)
    names = list(wb.defined_names)
    assert len([n for n in names if n.startswith("pl_")]) > 1000
    assert [n for n in names if parse_name(n) is not None] == []
    assert sorted(n for n in names if not n.startswith("pl_")) == ["check_count"]


# ------------------------------------------------------------------ 2. generate
def test_generate_writes_one_protected_workbook_per_branch(plan_book: Path) -> None:
    assert plan_book.name == "10_群馬支部_FY2021_事業計画.xlsx"
    assert is_locked(plan_book.read_bytes())
    wb = openpyxl.load_workbook(plan_book)
    assert wb.sheetnames == ["入力の手引き", "施策と事業内容", "年間目標", "_lists", "_meta"]
    assert [wb[s].sheet_state for s in wb.sheetnames] == ["visible", "visible", "visible", "hidden", "veryHidden"]
    assert all(wb[s].protection.sheet for s in wb.sheetnames)
    for name in ("pl_K5_2_01_target", "pl_M_5_1_1_heading", "pl_M_5_1_1_r1_text", "pl_info_preparer"):
        sheet, ref = _cell(plan_book, name)
        assert wb[sheet][ref].protection.locked is False, name
    sheet, ref = _cell(plan_book, "pl_K5_2_01_target")
    assert wb[sheet][ref].number_format == "0.0%"
    kind_sheet, kind_ref = _cell(plan_book, "pl_K5_2_01_kind")
    lists = {dv.formula1: dv for dv in wb[kind_sheet].data_validations.dataValidation}
    assert kind_ref in lists["pl_list_kind_ge"].sqref and kind_ref not in lists["pl_list_kind_le"].sqref
    flag_sheet, flag_ref = _cell(plan_book, "pl_M_5_1_1_r7_flag")
    assert flag_ref in {dv.formula1: dv for dv in wb[flag_sheet].data_validations.dataValidation}["pl_list_flags"].sqref
    for s in ("施策と事業内容", "年間目標"):
        assert wb[s].page_setup.paperSize == 9 and wb[s].page_setup.orientation == "landscape"
    meta = {r[0].value: r[1].value for r in wb["_meta"].iter_rows() if r[0].value}
    cat = catalogue_for_fy(FY)
    assert meta["format"] == PLAN_FORMAT and meta["plan_template_version"] == "1"
    assert meta["fiscal_year"] == "2021" and meta["branch_code"] == "10" and meta["term"] == "5"
    assert meta["layout_digest"] == plan_layout_digest(cat, FY, "10", 10)
    assert json.loads(meta["prefilled"])["targets"] == {"K5-1-01": 100.0, "K5-2-10": "効果的な意見発信の実施",
                                                        "K5-3-01": 20.0}


def test_a_fresh_workbook_counts_what_is_left_to_write(plan_book: Path) -> None:
    """The cached 入力チェック (what LibreOffice shows before anything is typed): the 30 measures a plan must
    cover, none written yet, and the 10 KPIs whose target the branch sets."""
    wb = openpyxl.load_workbook(plan_book, data_only=True)
    ((sheet, ref),) = wb.defined_names["check_count"].destinations
    assert wb[sheet][ref.replace("$", "")].value == 40
    cat = catalogue_for_fy(FY)
    assert len([m for m in cat.measures_for("10") if m.plan_required]) == 30
    assert len([k for k in cat.kpis_for(FY, "10") if k.target.rule == "branch"]) == 10


def test_the_plan_layout_digest_is_its_own() -> None:
    cat = catalogue_for_fy(FY)
    digest = plan_layout_digest(cat, FY, "10", 10)
    assert digest != cat.digest[:16]
    assert plan_layout_digest(cat, FY, "10", 13) != digest  # more item rows: another layout


def test_generate_refuses_to_overwrite_and_unknown_branches(plan_book: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputExistsError):
        generate_plans(FY, plan_book.parent, branches=["10"], settings=example_settings())
    from kpisheet.domain.findings import KpisheetError

    with pytest.raises(KpisheetError) as exc:
        generate_plans(FY, tmp_path, branches=["99"], settings=example_settings())
    assert [f.code for f in exc.value.findings] == ["G103"]
    assert list(tmp_path.iterdir()) == []


def _previous() -> PlanSubmission:
    items = (PlanItem(1, InputValue("健診・保健指導カルテ等を活用した受診勧奨"), InputValue("①"), group=InputValue("保健G")),
             PlanItem(2, InputValue("自治体との連携による、がん検診との同時実施の拡大"), InputValue("②"),
                      subheading=InputValue("＜被保険者＞")))
    return PlanSubmission(path="ledger:1", sha256=None, fiscal_year=2020, branch_code="10", branch_name="群馬支部",
                          measures={"5-2-1-i": PlanMeasure("5-2-1-i", InputValue("（1）"),
                                                           InputValue("特定健診実施率・事業者健診データ取得の向上"),
                                                           InputValue("保健G"), True, None, items),
                                    "5-3-I-3": PlanMeasure("5-3-I-3", covered_by="5-3-I-2")})


def test_prefill_from_last_years_plan_and_values_reads_back_with_its_origin(tmp_path: Path) -> None:
    data = build_plan(catalogue_for_fy(FY), FY, "10", previous=_previous(), results={("10", "K5-2-07"): 1016.0,
                                                                                    ("11", "K5-2-07"): 5.0},
                      results_status="見込み", results_as_of="R2.11現在", generated_at=GENERATED,
                      settings=example_settings())
    path = tmp_path / "plan.xlsx"
    path.write_bytes(data)
    plan = read_plan(path)
    assert plan.findings == []
    m = plan.measures["5-2-1-i"]
    assert (m.numbering.value, m.heading.value, m.group.value, m.focus) == \
        ("（1）", "特定健診実施率・事業者健診データ取得の向上", "保健G", True)
    assert [(i.n, i.level.value, i.text.value, i.flag.value, i.origin) for i in m.items] == [
        (1, "①", "健診・保健指導カルテ等を活用した受診勧奨", "継続", "2020:5-2-1-i:1"),
        (2, "②", "自治体との連携による、がん検診との同時実施の拡大", "継続", "2020:5-2-1-i:2")]
    assert m.items[1].subheading.value == "＜被保険者＞" and m.items[0].group.value == "保健G"
    assert plan.measures["5-3-I-3"].covered_by == "5-3-I-2"
    assert plan.measures["5-1-1"].heading.value == "健全な財政運営"  # no plan last year: the AP's heading
    k = plan.kpis["K5-2-07"]
    assert (k.expected.value, k.expected_status.value, k.expected_as_of.value) == (1016.0, "見込み", "R2.11現在")
    assert plan.kpis["K5-2-01"].expected.value is None
    assert plan.prefilled["expected"] == {"K5-2-07": 1016.0}
    assert plan.prefilled["items"]["5-2-1-i"][:3] == ["2020:5-2-1-i:1", "2020:5-2-1-i:2", None]


def test_prefilled_kinds_follow_the_catalogue_rule(plan_book: Path) -> None:
    plan = read_plan(plan_book)
    assert is_plan_read(plan) and plan.findings == []
    kinds = {k.kpi_id: k.kind for k in plan.kpis.values()}
    assert [k for k, v in kinds.items() if v == "previous_year"] == ["K5-1-03", "K5-1-04", "K5-1-05", "K5-1-06",
                                                                     "K5-1-07", "K5-2-08"]
    assert kinds["K5-2-10"] == "text" and kinds["K5-2-01"] == "value"
    assert plan.kpis["K5-1-01"].target.value == 100.0 and plan.kpis["K5-2-01"].target.value is None


def test_hq_workbook_for_a_year_with_national_kpis(tmp_path: Path) -> None:
    paths = generate_plans(2024, tmp_path, branches=["00"], settings=example_settings())
    assert [p.name for p in paths] == ["00_本部_FY2024_事業計画.xlsx"]
    plan = read_plan(paths[0])
    assert plan.findings == [] and "6-3-IV-1" in plan.measures  # 本部 carries out the system measures


# ------------------------------------------------------------------ 3. read: the 群馬 replay (openpyxl)
def test_gunma_plan_reads_back_every_target_and_count(gunma_plan: PlanSubmission) -> None:
    assert gunma_plan.findings == []
    assert (gunma_plan.fiscal_year, gunma_plan.branch_code, gunma_plan.term) == (2021, "10", 5)
    assert_gunma(gunma_plan)


def test_gunma_plan_leaves_exactly_these_measures_empty(gunma_plan: PlanSubmission) -> None:
    cat = load_catalogue(5)
    empty = [mid for mid, m in gunma_plan.measures.items() if not mid.startswith("B-") and not m.items
             and m.covered_by is None]
    assert empty == gunma()["empty_measures"] == ["5-2-5", "5-3-I-1", "5-3-I-4", "5-3-I-5", "5-3-III-2"]
    assert [mid for mid in empty if cat.measure(mid).plan_required] == ["5-2-5", "5-3-I-1", "5-3-I-4", "5-3-I-5"]
    assert [mid for mid in gunma_plan.measures if mid.startswith("B-")] == ["B-2-1", "B-2-2"]


def test_gunma_plan_passes_the_plan_rules_but_for_the_measures_it_does_not_cover(gunma_plan: PlanSubmission) -> None:
    """No consistency finding (all six 対象者数/見込者数 pairs agree at the printed precision): the rules name
    exactly the measures the plan must cover and does not, each at its heading cell."""
    from kpisheet.plan.rules import validate_plan

    found = validate_plan(gunma_plan)
    assert [(f.code, f.subject) for f in found] == [("P501", m) for m in ["5-2-5", "5-3-I-1", "5-3-I-4", "5-3-I-5"]]
    assert all(f.sheet == pn.SHEET_MEASURES and f.cell for f in found)


def test_gunma_plan_json_round_trips(gunma_plan: PlanSubmission) -> None:
    again = PlanSubmission.from_dict(json.loads(json.dumps(gunma_plan.to_dict())))
    assert again.content_sha256() == gunma_plan.content_sha256()
    assert again.kpis["K5-2-01"].target.source is not None
    assert again.kpis["K5-2-01"].target.source.name == "pl_K5_2_01_target"


# ------------------------------------------------------------------ reading findings
def test_a_plan_workbook_among_monthly_workbooks_is_p101_not_e201(plan_book: Path) -> None:
    sub = read_workbook(plan_book)
    assert [(f.code, f.severity) for f in sub.findings] == [("P101", "warning")]
    assert sub.fiscal_year is None


def test_kpisheet_validate_of_a_plan_workbook_says_p101_only(plan_book: Path) -> None:
    from kpisheet.check.validation import validate

    result = validate([plan_book])
    assert [(f.code, f.severity) for f in result.findings] == [("P101", "warning")]
    assert not result.has_errors


def test_a_monthly_workbook_given_as_a_plan_is_p102(tmp_path: Path) -> None:
    monthly = make_template(tmp_path, 2024, "11")
    plan = read_plan(monthly)
    assert [(f.code, f.severity) for f in plan.findings] == [("P102", "warning")]
    assert not is_plan_read(plan) and plan.kpis == {}


def test_something_else_is_e201_and_a_csv_e109(tmp_path: Path) -> None:
    other = tmp_path / "other.xlsx"
    openpyxl.Workbook().save(other)
    assert [f.code for f in read_plan(other).findings] == ["E201"]
    csv = tmp_path / "x.xlsx"
    csv.write_text("a,b\n1,2\n")
    assert [f.code for f in read_plan(csv).findings] == ["E109"]


def test_unreadable_list_values_are_p103_to_p106_at_their_cells(plan_book: Path, tmp_path: Path) -> None:
    names = {"pl_K5_2_01_kind": "目標値", "pl_K5_2_01_target": 0.61, "pl_K5_2_07_expected_status": "見込",
             "pl_M_5_3_I_3_covered": "人事のところ", "pl_M_5_1_1_r1_text": "財政運営", "pl_M_5_1_1_r1_flag": "新"}
    plan = read_plan(_edit(plan_book, tmp_path / "odd.xlsx", names))
    got = [(f.code, f.severity, f.cell) for f in plan.findings]
    assert got == [("P106", "warning", _cell(plan_book, "pl_M_5_1_1_r1_flag")[1]),
                   ("P105", "warning", _cell(plan_book, "pl_M_5_3_I_3_covered")[1]),
                   ("P103", "error", _cell(plan_book, "pl_K5_2_01_kind")[1]),
                   ("P104", "warning", _cell(plan_book, "pl_K5_2_07_expected_status")[1])]
    assert plan.kpis["K5-2-01"].target.value is None  # a target whose kind is unknown is not used
    assert plan.measures["5-1-1"].items[0].flag.value is None
    assert plan.measures["5-3-I-3"].covered_by is None


def test_reading_findings_of_the_monthly_reader_apply(plan_book: Path, tmp_path: Path) -> None:
    target_sheet, target_cell = _cell(plan_book, "pl_K5_2_03_target")
    row = int("".join(ch for ch in target_cell if ch.isdigit()))

    def damage(wb: Any) -> None:
        wb["年間目標"].row_dimensions[row].hidden = True
        del wb.defined_names["pl_K5_2_04_planned"]

    plan = read_plan(_edit(plan_book, tmp_path / "damaged.xlsx", {"pl_K5_2_03_target": 0.301,
                                                                  "pl_K5_2_02_target": "10.0%"}, damage))
    got = [(f.code, f.cell, f.name) for f in plan.findings]
    assert ("E318", target_cell, "pl_K5_2_03_target") in got
    assert ("E301", None, "pl_K5_2_04_planned") in got
    assert ("W305", _cell(plan_book, "pl_K5_2_02_target")[1], "pl_K5_2_02_target") in got
    assert plan.kpis["K5-2-03"].target.value is None and plan.kpis["K5-2-02"].target.value == 10.0
    assert target_sheet == "年間目標"


def test_a_hidden_input_sheet_is_e314(plan_book: Path, tmp_path: Path) -> None:
    def hide(wb: Any) -> None:
        wb["年間目標"].sheet_state = "hidden"

    plan = read_plan(_edit(plan_book, tmp_path / "hidden.xlsx", {}, hide))
    assert [(f.code, f.sheet) for f in plan.findings] == [("E314", "年間目標")]
    assert all(k.target.value is None for k in plan.kpis.values())


def test_a_broken_zip_never_raises(tmp_path: Path, plan_book: Path) -> None:
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(plan_book.read_bytes()[:5000])
    plan = read_plan(cut)
    assert [f.code for f in plan.findings] == ["E110"]
    with zipfile.ZipFile(plan_book) as z:
        assert "xl/workbook.xml" in z.namelist()


# ------------------------------------------------------------------ CLI
def test_cli_plan_generate_read_and_validate(tmp_path: Path, gunma_plan: PlanSubmission) -> None:
    settings = tmp_path / "hq.json"
    from kpisheet.domain.settings import settings_json

    settings.write_text(settings_json(example_settings()), encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(cli, ["plan", "generate", "--fy", "2021", "--branch", "10", "--branch", "11",
                                 "-o", str(out), "--settings", str(settings)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["10_群馬支部_FY2021_事業計画.xlsx", "11_埼玉支部_FY2021_事業計画.xlsx"]
    again = runner.invoke(cli, ["plan", "generate", "--fy", "2021", "--branch", "10", "-o", str(out),
                                "--settings", str(settings)])
    assert again.exit_code != 0
    read = runner.invoke(cli, ["plan", "read", gunma_plan.path])
    assert read.exit_code == 0
    assert "K5-2-01  生活習慣病予防健診実施率を61.0%以上とする。（対象者数 259,725・見込者数 158,432）" in read.output
    as_json = runner.invoke(cli, ["plan", "read", gunma_plan.path, "--json"])
    assert json.loads(as_json.output)["kpis"][8]["planned"]["value"] == 158432
    valid = runner.invoke(cli, ["plan", "validate", str(out), "--json"])
    found = json.loads(valid.output)["findings"]
    # blank plans read cleanly (no reading finding) and are refused for what is not written yet
    assert valid.exit_code == 1 and {f["code"] for f in found} == {"P401", "P501"}
    assert {"code": "P401", "sheet": "年間目標", "cell": "D17"}.items() <= next(
        f for f in found if f["code"] == "P401" and f["file"].startswith(str(out / "10_"))).items()
    monthly = make_template(tmp_path, 2024, "11")
    wrong = runner.invoke(cli, ["plan", "read", str(monthly)])
    assert wrong.exit_code == 1 and "P102" in wrong.output


def test_cli_plan_validate_exits_1_on_a_reading_error(gunma_plan: PlanSubmission, tmp_path: Path) -> None:
    """The filled 群馬 plan with one target kind typed over: that one error, not also a missing target."""
    good = CliRunner().invoke(cli, ["plan", "validate", gunma_plan.path, "--json"])
    before = [(f["code"], f["cell"]) for f in json.loads(good.output)["findings"]]
    bad = _edit(Path(gunma_plan.path), tmp_path / Path(gunma_plan.path).name, {"pl_K5_2_01_kind": "目標値"})
    result = CliRunner().invoke(cli, ["plan", "validate", str(bad), "--json"])
    after = [(f["code"], f["cell"]) for f in json.loads(result.output)["findings"]]
    assert result.exit_code == 1
    assert [a for a in after if a not in before] == [("P103", _cell_of(bad, "pl_K5_2_01_kind"))]


@pytest.mark.parametrize("seed", range(40))
def test_a_damaged_plan_never_raises_nor_blames_kpisheet(seed: int, gunma_plan: PlanSubmission, tmp_path: Path) -> None:
    """The filled 群馬 plan damaged in the fuzz test's ways (tests/test_fuzz_reader.py): read_plan answers with a
    plan whose findings all come from the catalogue, none of them E190 (kpisheet's own failure)."""
    from kpisheet.domain.failures import is_internal
    from kpisheet.domain.findings import CODES
    from tests.test_fuzz_reader import corrupt

    mode, data = corrupt(Path(gunma_plan.path).read_bytes(), seed, tmp_path)
    path = tmp_path / f"damaged_{seed}.xlsx"
    path.write_bytes(data)
    plan = read_plan(path)
    assert all(f.code in CODES and not is_internal(f) for f in plan.findings), (mode, plan.findings)
    assert plan.findings or is_plan_read(plan), mode


def test_across_the_term_change_items_follow_the_mapping(tmp_path: Path) -> None:
    """A FY2024 plan (term 6) prefilled from the FY2023 plan (term 5): 統合 carries 柔道整復's items to
    現金給付等の適正化の推進 with the old measure named in 小見出し, 継続 carries 特定健診's, 廃止 drops 限度額's."""
    def item(n: int, text: str) -> PlanItem:
        return PlanItem(n, InputValue(text), InputValue(f"({n})"))

    previous = PlanSubmission(path="ledger:7", sha256=None, fiscal_year=2023, branch_code="11", branch_name="埼玉支部",
                              term=5, measures={
                                  "5-1-4": PlanMeasure("5-1-4", heading=InputValue("現金給付の適正化の推進"),
                                                       items=(item(1, "傷病手当金と障害年金等との併給調整"),)),
                                  "5-1-6": PlanMeasure("5-1-6", items=(item(1, "多部位・頻回の申請の照会"),
                                                                       item(2, "施術者への指導"))),
                                  "5-1-3": PlanMeasure("5-1-3", items=(item(1, "限度額適用認定証の広報"),)),
                                  "5-2-1-i": PlanMeasure("5-2-1-i", heading=InputValue("特定健診実施率の向上"),
                                                         items=(item(1, "集団健診の拡大"),))})
    path = tmp_path / "fy2024.xlsx"
    path.write_bytes(build_plan(catalogue_for_fy(2024), 2024, "11", previous=previous, settings=example_settings()))
    plan = read_plan(path)
    assert plan.findings == []
    merged = plan.measures["6-1-II-3"]
    assert merged.heading.value == "現金給付等の適正化の推進"  # this year's action-plan heading
    assert [(i.n, i.text.value, i.subheading.value, i.origin) for i in merged.items] == [
        (1, "傷病手当金と障害年金等との併給調整", "（第5期 現金給付の適正化の推進）", "2023:5-1-4:1"),
        (2, "多部位・頻回の申請の照会", "（第5期 柔道整復施術療養費の照会業務の強化）", "2023:5-1-6:1"),
        (3, "施術者への指導", "（第5期 柔道整復施術療養費の照会業務の強化）", "2023:5-1-6:2")]
    assert [(i.text.value, i.subheading.value, i.flag.value) for i in plan.measures["6-2-II-2"].items] == \
        [("集団健診の拡大", None, "継続")]
    wb = openpyxl.load_workbook(path)
    meta = {r[0].value: r[1].value for r in wb["_meta"].iter_rows() if r[0].value}
    assert meta["dropped_measures"] == "5-1-3"
