"""The shipped example plans (examples/make_plans.py): `plan collect` on the 47 branches' returned 令和7年度
workbooks finds exactly the five branches' typical mistakes and writes the summary, the feedback and a
targets file that `consolidate --targets` uses; `plan diff` of the two years writes 47 tables and the summary."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.domain.catalogue import catalogue_for_fy, prefecture_branches
from kpisheet.domain.display import shown
from kpisheet.month import read_value_file, run_month
from kpisheet.read.names import kpi_key
from tests.builders.sample import sample_values
from tests.helpers import fill, make_template, readme_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FY = 2025

# (code, file, sheet, cell) of every finding the example plans give: the mistakes make_plans.py documents
MISTAKES = {
    ("P401", "01_北海道支部_FY2025_事業計画.xlsx", "年間目標", "D56"),  # 被扶養者の特定健診: 数値 target left empty
    ("P404", "13_東京支部_FY2025_事業計画.xlsx", "年間目標", "D42"),  # 生活習慣病予防健診: 58.9% of the people for 60.0%
    ("P501", "27_大阪支部_FY2025_事業計画.xlsx", "施策と事業内容", "C428"),  # 災害への対応: nothing written
    ("P405", "33_岡山支部_FY2025_事業計画.xlsx", "年間目標", "E71"),  # 被扶養者の特定保健指導: 見込者数 > 対象者数
    ("W305", "40_福岡支部_FY2025_事業計画.xlsx", "年間目標", "D101"),  # 健康保険委員: 「４５．０％」 typed as text
}


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("plan_examples")
    code, out, err = run("plan", "collect", str(EXAMPLES / "plans_FY2025"), "--fy", str(FY), "-o", str(root / "out"),
                         "--ledger", str(root / "kpisheet.sqlite"), "--json")
    assert code == 0, err
    return root / "out", json.loads(out)


def test_the_shipped_folders_hold_a_year_of_plans_each():
    codes = sorted(b.code for b in prefecture_branches())
    old = sorted(EXAMPLES.joinpath("plans_FY2024").iterdir())
    new = sorted(EXAMPLES.joinpath("plans_FY2025").iterdir())
    assert [p.name[:2] for p in old] == codes and {p.suffix for p in old} == {".json"}
    assert [p.name[:2] for p in new] == codes and {p.suffix for p in new} == {".xlsx"}  # no branch twice (P703)
    assert max(p.stat().st_size for p in new) < 100_000


def test_collect_finds_exactly_the_documented_mistakes(collected):
    _, result = collected
    items = result["findings"]["items"]
    got = {(f["code"], Path(f["file"]).name, f["sheet"], f["cell"]) for f in items}
    assert got == MISTAKES and len(items) == len(MISTAKES)
    assert {f["code"]: f["severity"] for f in items} == {"P401": "error", "P404": "warning", "P501": "warning",
                                                         "P405": "error", "W305": "warning"}
    branches = result["branches"]
    assert branches["submitted"] == sorted(b.code for b in prefecture_branches())
    assert branches["with_errors"] == ["01", "33"]
    assert branches["missing"] == []  # every branch sent one (本部 is counted only when it sends a plan)
    assert (result["ledger"]["recorded"], result["ledger"]["new_versions"]) == (True, 47)


def test_a_percent_typed_as_full_width_text_is_read_as_the_number(collected):
    from kpisheet.plan.reader import read_plan

    plan = read_plan(EXAMPLES / "plans_FY2025" / "40_福岡支部_FY2025_事業計画.xlsx")
    target = plan.kpis["K6-2-11"].target
    assert (target.value, target.raw) == (pytest.approx(45.0), "４５．０％")


def test_collect_writes_the_summary_the_feedback_and_the_targets_file(collected):
    out, result = collected
    assert (out / "全国_事業計画_FY2025.xlsx").is_file()
    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(feedback) == 47 and feedback[0] == "01_北海道支部_FY2025_事業計画_確認事項.xlsx"
    summary = openpyxl.load_workbook(out / "全国_事業計画_FY2025.xlsx", read_only=True)
    checks = [[c for c in row] for row in summary["検証結果"].iter_rows(values_only=True)]
    assert sum(1 for row in checks if "P401" in row) == 1 and sum(1 for row in checks if "P501" in row) == 1
    assert str(out / "plan_targets_FY2025.csv") in result["outputs"]


def test_the_targets_file_reads_as_a_targets_file_with_the_implied_national_targets(collected):
    out, _ = collected
    path = out / "plan_targets_FY2025.csv"
    values, findings = read_value_file(path, FY, kind="targets")
    assert findings == []
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    national = {r["kpi_id"]: r for r in rows if r["branch"] == "ALL"}
    # the KPIs whose annual target the branches set and every branch gave the figures for; 被扶養者の特定保健指導
    # rests on 46 (岡山's 見込者数 above its 対象者数 is an error), 健康保険委員 has no counts: no ALL row
    assert sorted(national) == ["K6-2-01", "K6-2-02", "K6-2-03", "K6-2-04", "K6-2-07"]
    cat = catalogue_for_fy(FY)
    for kpi_id in ("K6-2-01", "K6-2-02", "K6-2-03", "K6-2-04"):
        r = national[kpi_id]
        assert (r["basis"], r["branches"]) == ("planned_over_population", "47")
        rate = float(r["planned"]) / float(r["population"]) * 100
        assert values[("ALL", kpi_id)] == pytest.approx(float(shown(cat.kpi(kpi_id), rate)))
    mine = {r["branch"]: r for r in rows if r["branch"] != "ALL" and r["kpi_id"] == "K6-2-07"}
    assert float(national["K6-2-07"]["value"]) == sum(float(r["value"]) for r in mine.values()) and len(mine) == 47
    assert values[("10", "K6-2-01")] == pytest.approx(59.5)  # 群馬's 令和7年度 target
    assert ("01", "K6-2-03") not in values  # 北海道 left it empty


def test_the_summary_the_targets_file_and_consolidation_imply_one_national_target(collected):
    """One rule (ratings.implied_national): the summary workbook's 全国 figure, the targets file's ALL row and
    the national target consolidation would take from the same plans are the same number on the same branches."""
    from kpisheet.domain.ratings import implied_national_target
    from kpisheet.ledger.plans import current_plans
    from kpisheet.plan.summary import implied_national_targets

    out, result = collected
    plans = current_plans(out.parent / "kpisheet.sqlite", FY)
    cat = catalogue_for_fy(FY)
    summary = implied_national_targets(plans, cat, fiscal_year=FY)
    expected = [b.code for b in prefecture_branches()]
    checked = 0
    for n in result["targets"]["national"]:
        kpi = cat.kpi(n["kpi_id"])
        assert (summary[kpi.id].value, summary[kpi.id].branches) == (n["value"], n["branches"]), kpi.id
        assert implied_national_target(kpi, plans, expected) == (n["value"] if n["written"] else None, n["branches"])
        checked += 1
    assert checked == 6 and summary["K6-2-05"].branches == 46  # 岡山's 見込者数 above its 対象者数 is left out everywhere
    ws = openpyxl.load_workbook(out / "全国_事業計画_FY2025.xlsx")["支部別目標"]
    nation = [row for row in ws.iter_rows() if row[1].value == "全国"]
    formats = {c.number_format for row in nation for c in row if isinstance(c.value, float)}
    assert '0.0%"＊"' in formats and "0.0%" in formats  # 被扶養者特定保健指導 over 46 branches, the others over 47


def test_consolidate_takes_a_branch_target_from_the_targets_file(collected, tmp_path: Path):
    out, _ = collected
    cat = catalogue_for_fy(FY)
    template = make_template(tmp_path, FY, "10")
    values = sample_values(cat, FY, "10", date(2025, 6, 1))
    values[kpi_key("K6-2-01", "target").name] = None  # the branch left its target empty: --targets decides
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fill(template, inbox / template.name, values)
    result = run_month(inbox, FY, "2025-06", tmp_path / "month", targets=out / "plan_targets_FY2025.csv")
    cons = result.consolidation
    gunma = cons.branch_kpis[("10", "K6-2-01")]
    assert (gunma.target_source, gunma.annual_target) == ("targets_file", pytest.approx(59.5))
    assert "59.5%" in gunma.target_basis
    nation = cons.national["K6-2-01"]
    assert (nation.rating.target_source, nation.annual_target) == ("targets_file", pytest.approx(59.7))


def test_diff_of_the_two_years_writes_a_table_per_branch_and_the_summary(tmp_path: Path):
    code, out, err = run("plan", "diff", str(EXAMPLES / "plans_FY2024"), str(EXAMPLES / "plans_FY2025"), "-o",
                         str(tmp_path))
    assert code == 0, err
    assert "P702" not in err and "P703" not in err
    tables = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith("_新旧対照表.xlsx") and p.name[:2].isdigit())
    assert len(tables) == 47 and (tmp_path / "FY2025_新旧対照表_支部別の変更.xlsx").is_file()
    lines = out.splitlines()
    assert len(lines) == 48
    assert "13 東京支部:" in lines[12] and lines[12].split("、")[-1].startswith("率と人数の合わない組 1")
    assert "46 鹿児島支部:" in lines[45] and "施策 新設 1" in lines[45]


def test_the_readme_shows_what_collect_prints(tmp_path: Path, monkeypatch):
    args, shown_output = readme_example("### The season on the shipped examples", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert args[:2] == ["plan", "collect"]
    code, out, _ = run(*args)
    assert code == 0 and out == shown_output


def _make_plans():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_plans", EXAMPLES / "make_plans.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("code", ["10", "46"])
def test_a_shipped_workbook_reads_back_as_the_plan_typed_into_it(code):
    """fill_plan (tests/builders/plan_fill.py) typed the branch's plan by name; the reader gives it back, and
    the shipped file is the script's current output."""
    from kpisheet.domain.catalogue import branch
    from kpisheet.plan.reader import read_plan

    make_plans = _make_plans()
    want = make_plans.plan(branch(code), FY)
    [path] = (EXAMPLES / "plans_FY2025").glob(f"{code}_*.xlsx")
    got = read_plan(path)
    assert got.findings == [] and (got.fiscal_year, got.branch_code) == (FY, code)
    for kpi_id, k in want.kpis.items():
        g = got.kpis[kpi_id]
        assert g.kind == k.kind, kpi_id
        if k.kind == "value":
            assert g.target.value == pytest.approx(k.target.value), kpi_id
        assert (g.population.value, g.planned.value) == (k.population.value, k.planned.value), kpi_id
    for mid, m in want.measures.items():
        assert [i.text.value for i in got.measures[mid].items] == [i.text.value for i in m.items], mid
    assert ("B-2-1" in got.measures) == (code == "46")
    # carried activities name last year's item they were prefilled from
    assert got.measures["6-2-II-2"].items[0].origin == "2024:6-2-II-2:1"
