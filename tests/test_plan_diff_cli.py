"""`kpisheet plan diff OLD NEW -o DIR`: the shipped example plans give one 新旧対照表 per branch and HQ's
summary; a file that is no plan is P701, a branch of one year only P702; outputs are never overwritten
without --force; the document number comes from --label, else HQ's settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.plan.taishohyo import SHEET, PlanFileError, read_plan_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).parent / "data"


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_the_example_plans_give_one_table_per_branch_and_the_summary(tmp_path: Path):
    """令和6年度's plans as JSON, 令和7年度's as the 47 returned workbooks (examples/make_plans.py)."""
    code, out, _ = run("plan", "diff", str(EXAMPLES / "plans_FY2024"), str(EXAMPLES / "plans_FY2025"), "-o",
                       str(tmp_path), "--label", "資料 2-3")
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 48 and names[9] == "10_群馬支部_FY2025_新旧対照表.xlsx" and names[-1] == \
        "FY2025_新旧対照表_支部別の変更.xlsx"
    assert "10 群馬支部: 目標 引上げ 8・引下げ 1" in out  # 健康宣言事業所数 and 被扶養者の特定保健指導 too now
    ws = openpyxl.load_workbook(tmp_path / "46_鹿児島支部_FY2025_新旧対照表.xlsx")[SHEET]
    assert (ws["B1"].value, ws["A2"].value, ws["A4"].value, ws["B4"].value) == (
        "資料 2-3", "令和7年度 事業計画（鹿児島支部）新旧対照表（案）", "新（7年度）", "旧（6年度）")
    hq = openpyxl.load_workbook(tmp_path / "FY2025_新旧対照表_支部別の変更.xlsx")
    assert hq.sheetnames == ["支部別", "目標の変更", "率と人数"]
    rows = {r[0]: r[1:3] for r in hq["支部別"].iter_rows(min_row=4, max_col=3, values_only=True)}
    assert (rows["10 群馬支部"], rows["46 鹿児島支部"]) == ((8, 1), (8, 0))
    # the two example mistakes that break a rate/count pair: 東京's 58.9% for 60.0%, 岡山's 見込者数 above 対象者数
    assert [r[0].value for r in hq["率と人数"].iter_rows(min_row=3, max_col=1)] == ["13 東京支部", "33 岡山支部"]


def test_the_label_comes_from_hq_settings_and_final_drops_the_draft_mark(tmp_path: Path):
    settings = json.loads((EXAMPLES / "hq_settings.json").read_text(encoding="utf-8"))
    settings["plan"] = {"taishohyo_label": "資料 5", "taishohyo_legend": "（下線は変更箇所）"}
    (tmp_path / "s.json").write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    code, _, err = run("plan", "diff", str(DATA / "plan_kagoshima_h30.json"), str(DATA / "plan_kagoshima_h31.json"),
                       "-o", str(tmp_path / "out"), "--settings", str(tmp_path / "s.json"), "--final")
    assert code == 0, err
    ws = openpyxl.load_workbook(tmp_path / "out" / "46_鹿児島支部_FY2019_新旧対照表.xlsx")[SHEET]
    assert (ws["B1"].value, ws["A2"].value, ws["A3"].value) == ("資料 5", "令和元年度 事業計画（鹿児島支部）新旧対照表",
                                                               "（下線は変更箇所）")


def test_outputs_are_not_replaced_without_force(tmp_path: Path):
    args = ("plan", "diff", str(EXAMPLES / "plans_FY2024"), str(EXAMPLES / "plans_FY2025"), "-o", str(tmp_path))
    assert run(*args)[0] == 0
    first = (tmp_path / "10_群馬支部_FY2025_新旧対照表.xlsx").stat().st_mtime_ns
    code, _, err = run(*args)
    assert code == 1 and "--force" in err
    assert (tmp_path / "10_群馬支部_FY2025_新旧対照表.xlsx").stat().st_mtime_ns == first
    assert run(*args, "--force")[0] == 0


def test_a_file_that_is_no_plan_is_p701(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"measures\": 3}", encoding="utf-8")
    try:
        read_plan_file(bad)
    except PlanFileError as exc:
        [f] = exc.findings
        assert (f.code, f.file, f.cell) == ("P701", str(bad), None)
    else:
        raise AssertionError("no P701")
    code, _, err = run("plan", "diff", str(bad), str(DATA / "plan_kagoshima_h31.json"), "-o", str(tmp_path / "o"))
    assert code == 1 and "P701" in err and not (tmp_path / "o").exists()
    book = tmp_path / "plan.xlsx"
    book.write_bytes(b"PK")
    code, _, err = run("plan", "diff", str(book), str(DATA / "plan_kagoshima_h31.json"), "-o", str(tmp_path / "o"))
    assert code == 1 and "P701" in err and "E109" in err  # the reader's own finding says why
    other = tmp_path / "notes.txt"
    other.write_text("x", encoding="utf-8")
    code, _, err = run("plan", "diff", str(other), str(DATA / "plan_kagoshima_h31.json"), "-o", str(tmp_path / "o"))
    assert code == 1 and "P701" in err and "JSON" in err


def test_two_returned_plan_workbooks_give_the_table_with_the_changed_target_marked(tmp_path: Path):
    """The 群馬 plan typed into the 令和3年度 and 令和4年度 workbooks, 健診 raised from 61.0% to 62.5%."""
    from kpisheet.domain.settings import example_settings
    from kpisheet.plan import names as pn
    from kpisheet.plan.diff import diff_plans
    from kpisheet.plan.template import generate_plans
    from tests.builders.plan_book import gunma_values
    from tests.builders.sample import fill_by_names

    books = []
    for fy, rate in ((2021, 0.61), (2022, 0.625)):
        (blank,) = generate_plans(fy, tmp_path / f"blank{fy}", branches=["10"], settings=example_settings())
        values = {**gunma_values(typed=False), pn.kpi_key("K5-2-01", "target").name: rate}
        (tmp_path / f"in{fy}").mkdir()
        fill_by_names(blank, tmp_path / f"in{fy}" / blank.name, values)
        books.append(tmp_path / f"in{fy}" / blank.name)
    old, new = (read_plan_file(b) for b in books)
    changed = [r for r in diff_plans(old, new).rows if r.key == "K5-2-01" and r.status != "same"]
    assert changed and "62.5%" in changed[0].new_text and "61.0%" in changed[0].old_text
    code, out, err = run("plan", "diff", str(books[0].parent), str(books[1].parent), "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["10_群馬支部_FY2022_新旧対照表.xlsx",
                                                                "FY2022_新旧対照表_支部別の変更.xlsx"]


def test_a_branch_of_one_year_only_is_p702_and_the_others_are_written(tmp_path: Path):
    old = tmp_path / "old"
    shutil.copytree(EXAMPLES / "plans_FY2024", old)
    (old / "10_群馬支部_FY2024_事業計画.json").unlink()
    code, out, err = run("plan", "diff", str(old), str(EXAMPLES / "plans_FY2025"), "-o", str(tmp_path / "o"))
    assert code == 0 and "P702" in err and "10 群馬支部" in err
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert len(names) == 47 and "10_群馬支部_FY2025_新旧対照表.xlsx" not in names
    assert "FY2025_新旧対照表_支部別の変更.xlsx" in names
    from kpisheet.plan.taishohyo import plans_at, write_taishohyo_set

    result = write_taishohyo_set(plans_at(old), plans_at(EXAMPLES / "plans_FY2025"), tmp_path / "o2")
    [f] = result.findings
    assert (f.code, f.branch, f.cell, f.file) == ("P702", "10", None,
                                                 str(EXAMPLES / "plans_FY2025" / "10_群馬支部_FY2025_事業計画.xlsx"))


def test_a_plan_section_that_breaks_the_schema_is_d002(tmp_path: Path):
    settings = json.loads((EXAMPLES / "hq_settings.json").read_text(encoding="utf-8"))
    settings["plan"] = {"taishohyo_label": 3}
    (tmp_path / "s.json").write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    code, _, err = run("plan", "diff", str(DATA / "plan_kagoshima_h30.json"), str(DATA / "plan_kagoshima_h31.json"),
                       "-o", str(tmp_path / "out"), "--settings", str(tmp_path / "s.json"))
    assert code == 1 and "D002" in err and "$.plan.taishohyo_label" in err and not (tmp_path / "out").exists()


def test_the_readme_shows_what_the_command_prints(tmp_path: Path, monkeypatch):
    from tests.helpers import readme_example

    args, shown = readme_example("### 新旧対照表", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert args[:2] == ["plan", "diff"]
    code, out, _ = run(*args)
    assert code == 0 and out == shown


def test_two_plans_of_a_branch_on_a_side_are_p703_and_an_old_plan_not_older_is_p704(tmp_path: Path):
    from kpisheet.plan.taishohyo import plans_at, write_taishohyo_set

    new = tmp_path / "new"
    shutil.copytree(EXAMPLES / "plans_FY2025", new)
    shutil.copy(new / "10_群馬支部_FY2025_事業計画.xlsx", new / "10_群馬支部_FY2025_事業計画（修正）.xlsx")
    result = write_taishohyo_set(plans_at(EXAMPLES / "plans_FY2024"), plans_at(new), tmp_path / "o")
    [f] = result.findings
    assert (f.code, f.branch, f.cell, f.file) == ("P703", "10", None, str(new / "10_群馬支部_FY2025_事業計画.xlsx"))
    codes = [s.branch_code for s in result.summaries]
    assert len(codes) == 46 and "10" not in codes
    old, new_side = (tmp_path / "old25", tmp_path / "new24")  # two branches each side, swapped years
    for folder, year in ((old, 2025), (new_side, 2024)):
        folder.mkdir()
        for code in ("10", "46"):
            [src] = (EXAMPLES / f"plans_FY{year}").glob(f"{code}_*")
            shutil.copy(src, folder / src.name)
    code, _, err = run("plan", "diff", str(old), str(new_side), "-o", str(tmp_path / "swapped"))
    assert code == 1 and err.count("P704") == 2 and not (tmp_path / "swapped").exists()
    swapped = write_taishohyo_set(plans_at(old), plans_at(new_side), tmp_path / "s2")
    assert [(f.code, f.branch, f.cell) for f in swapped.findings] == [("P704", "10", None), ("P704", "46", None)]


def _ledger_with_example_plans(tmp_path: Path) -> Path:
    """FY2024's example plans of 群馬 and 鹿児島 recorded and approved, FY2025's recorded, only 鹿児島's approved."""
    from kpisheet.ledger.plans import approve_plans, record_plans

    book = tmp_path / "kpisheet.sqlite"
    for fy in (2024, 2025):
        plans = [read_plan_file(p) for code in ("10", "46") for p in (EXAMPLES / f"plans_FY{fy}").glob(f"{code}_*")]
        record_plans(book, plans, fy)
        assert not approve_plans(book, fy, None if fy == 2024 else ["46"]).refused
    return book


def test_from_the_ledger_each_branch_s_plan_is_compared_with_last_year_s(tmp_path: Path):
    book = _ledger_with_example_plans(tmp_path)
    code, out, err = run("plan", "diff", "--fy", "2025", "--ledger", str(book), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "10_群馬支部_FY2025_新旧対照表.xlsx", "46_鹿児島支部_FY2025_新旧対照表.xlsx", "FY2025_新旧対照表_支部別の変更.xlsx"]
    titles = {name: openpyxl.load_workbook(tmp_path / "out" / name)[SHEET]["A2"].value
              for name in ("10_群馬支部_FY2025_新旧対照表.xlsx", "46_鹿児島支部_FY2025_新旧対照表.xlsx")}
    # 群馬's FY2025 plan is not approved yet: still （案）; 鹿児島's is
    assert titles == {"10_群馬支部_FY2025_新旧対照表.xlsx": "令和7年度 事業計画（群馬支部）新旧対照表（案）",
                      "46_鹿児島支部_FY2025_新旧対照表.xlsx": "令和7年度 事業計画（鹿児島支部）新旧対照表"}
    # the same tables as from the two years' files
    code, from_files, _ = run("plan", "diff", str(EXAMPLES / "plans_FY2024"), str(EXAMPLES / "plans_FY2025"),
                              "-o", str(tmp_path / "files"))
    lines = [line.split(" → ")[0] for line in from_files.splitlines()]
    assert [line.split(" → ")[0] for line in out.splitlines()[:2]] == [lines[9], lines[45]]


def test_from_the_ledger_one_branch_and_the_usage_errors(tmp_path: Path):
    book = _ledger_with_example_plans(tmp_path)
    code, _, err = run("plan", "diff", "--fy", "2025", "--branch", "46", "--ledger", str(book), "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["46_鹿児島支部_FY2025_新旧対照表.xlsx",
                                                                 "FY2025_新旧対照表_支部別の変更.xlsx"]
    code, _, err = run("plan", "diff", "-o", str(tmp_path / "x"))
    assert code == 2 and "OLD と NEW の2つ、または --fy YEAR" in err
    code, _, err = run("plan", "diff", str(EXAMPLES / "plans_FY2024"), str(EXAMPLES / "plans_FY2025"), "--fy", "2025",
                       "-o", str(tmp_path / "y"))
    assert code == 2 and not (tmp_path / "y").exists()
