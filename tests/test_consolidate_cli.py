"""`kpisheet consolidate`: exit codes, messages, --json equals the library's summary."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.settings import load_settings
from kpisheet.month import consolidate, run_month
from kpisheet.write.outputs import output_names
from tests.builders.sample import sample_values

from .consolidate_helpers import filled

OCT24 = date(2024, 10, 1)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    filled(root, root / "inbox", 2024, "10", sample_values(load_catalogue(6), 2024, "10", OCT24))
    (root / "inbox" / "~$10_群馬支部_FY2024_KPI入力.xlsx").write_bytes(b"lock")
    return root / "inbox"


def invoke(*args: str):
    return CliRunner().invoke(cli, ["consolidate", *args])


def test_writes_outputs_and_exits_0(inbox, tmp_path):
    out = tmp_path / "out"
    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out))
    assert result.exit_code == 0, result.output
    names = output_names(2024, OCT24)
    assert (out / names["national"]).is_file() and (out / names["csv"]).is_file()
    assert (out / "feedback" / "10_群馬支部_FY2024_2024-10_確認事項.xlsx").is_file()
    assert "提出済" in result.output and "未提出" in result.output


def test_json_equals_run_month_to_dict(inbox, tmp_path):
    """`--json` prints exactly what a Python caller of run_month gets from to_dict() (the same
    inputs, each run into a folder and a fresh ledger of its own)."""
    cli_dir, lib_dir = tmp_path / "cli", tmp_path / "lib"
    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(cli_dir / "out"),
                    "--ledger", str(cli_dir / "kpisheet.sqlite"), "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    library = run_month(inbox, 2024, "2024-10", lib_dir / "out", settings=load_settings(),  # the file the CLI read
                        ledger=lib_dir / "kpisheet.sqlite").to_dict()
    assert printed == json.loads(json.dumps(library, ensure_ascii=False).replace(str(lib_dir), str(cli_dir)))
    assert printed["ledger"]["recorded"] and printed["ledger"]["new_files"] == 2  # the workbook and the lock file
    assert printed["outputs"][0].endswith("national_FY2024_2024-10.xlsx")


def test_lock_file_is_a_finding_not_a_failure(inbox, tmp_path):
    out = tmp_path / "out"
    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["findings"]["errors"] >= 1


def test_existing_output_without_force_exits_1_naming_the_file(inbox, tmp_path):
    out = tmp_path / "out"
    assert invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out)).exit_code == 0
    national = out / "national_FY2024_2024-10.xlsx"
    before = national.read_bytes()
    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out))
    assert result.exit_code == 1
    assert str(national) in result.output and "--force" in result.output
    assert "Traceback" not in result.output
    assert national.read_bytes() == before
    assert invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out), "--force").exit_code == 0


def test_nothing_readable_exits_1(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "notes.txt").write_text("hello")
    result = invoke(str(tmp_path / "inbox"), "--fy", "2024", "--month", "2024-10", "-o", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "読み込めるブックがありません" in result.output
    assert not (tmp_path / "o").exists()


def test_unwritable_output_exits_1(inbox, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(blocker / "out"))
    assert result.exit_code == 1
    assert "出力を書き込めません" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["--fy", "2024", "--month", "2024-13", "-o", "o"],
    ["--fy", "2024", "-o", "o"],
    ["--fy", "twenty", "--month", "2024-10", "-o", "o"],
])
def test_usage_problems_exit_2(inbox, args):
    assert invoke(str(inbox), *args).exit_code == 2


def test_missing_inbox_is_a_usage_problem(tmp_path):
    result = invoke(str(tmp_path / "nope"), "--fy", "2024", "--month", "2024-10", "-o", str(tmp_path / "o"))
    assert result.exit_code == 2


def test_csv_is_utf8_with_bom_and_injection_safe(inbox, tmp_path):
    out = tmp_path / "out"
    invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out))
    data = (out / "kpi_values_FY2024_2024-10.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header = data[3:].split(b"\r\n", 1)[0].decode()
    assert header.startswith("fiscal_year,month,branch_code,branch_name,")
    assert header.endswith(",data_month,achievement,rank,rank_of,progress")


def test_csv_rows_carry_the_data_month_progress_and_target_source(inbox, tmp_path):
    out = tmp_path / "out"
    invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(out))
    with open(out / "kpi_values_FY2024_2024-10.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    cons = consolidate(inbox, fiscal_year=2024, month=OCT24)
    mine = [r for r in rows if r["branch_code"] == "10" and r["kpi_id"] == "K6-2-02"]
    bk = cons.branch_kpis[("10", "K6-2-02")]
    assert {r["data_month"] for r in mine} == {bk.data_month}
    shown = next(r for r in mine if r["month"] == r["data_month"])
    assert float(shown["value_raw"]) == pytest.approx(bk.value)
    assert float(shown["progress"]) == pytest.approx(bk.progress * 100, abs=0.05)  # in points
    assert shown["target_source"] == bk.target_source and shown["mark"] == bk.rating.mark
    level = [r for r in rows if r["branch_code"] == "10" and r["kpi_id"] == "K6-2-07"]
    assert level and all(r["progress"] == "" for r in level)  # a level KPI has no in-year pace
    national = [r for r in rows if r["branch_code"] == "ALL" and r["kpi_id"] == "K6-2-02"]
    assert {r["data_month"] for r in national} == {cons.national["K6-2-02"].data_month}


def test_csv_cells_cannot_become_formulas():
    from kpisheet.write.csvout import safe_cell

    assert [safe_cell(v) for v in ["=1+1", "+81", "-x", "@a", "\tx", "ok", -5.0, 12.5, None]] == [
        "'=1+1", "'+81", "'-x", "'@a", "'\tx", "ok", -5, 12.5, ""]


# ---------------------------------------------------------------- branches named, HQ's settings
@pytest.fixture(scope="module")
def inbox_with_an_error(tmp_path_factory):
    """10 群馬 clean, 11 埼玉 with text in a number cell (E304, エラーあり); everyone else missing."""
    root = tmp_path_factory.mktemp("cli_named")
    cat = load_catalogue(6)
    filled(root, root / "inbox", 2024, "10", sample_values(cat, 2024, "10", OCT24), ("10", "11"))
    saitama = {**sample_values(cat, 2024, "11", OCT24), "in_K6_1_01_num_202410": "たくさん"}
    filled(root, root / "inbox", 2024, "11", saitama, ("10", "11"))
    return root / "inbox"


def test_summary_names_the_branches_with_errors_and_the_missing_ones(inbox_with_an_error, tmp_path):
    result = invoke(str(inbox_with_an_error), "--fy", "2024", "--month", "2024-10", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.stdout.splitlines() if "エラーあり" in x]
    assert ("提出済 1 / エラーあり 1（11 埼玉支部） / 提出あり・読込不可 0 / "
            "未提出 46（00 本部, 01 北海道支部, 02 青森支部") in line
    assert "47 沖縄支部）" in line and "10 群馬支部" not in line


def test_summary_shows_the_deadline_of_the_settings(inbox_with_an_error, tmp_path):
    result = invoke(str(inbox_with_an_error), "--fy", "2024", "--month", "2024-10", "-o", str(tmp_path / "out"))
    # the example settings: 翌月10日, a Sunday in November 2024 -> Friday 8th; the files were written today
    assert "  提出期限 令和6年11月8日（金） / 期限後の提出 2（10 群馬支部, 11 埼玉支部）" in result.stdout.splitlines()


def test_placeholder_settings_are_one_warning_and_the_run_goes_on(inbox, tmp_path):
    from kpisheet.domain.settings import DEFAULT_SETTINGS_PATH

    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(tmp_path / "out"),
                    "--settings", str(DEFAULT_SETTINGS_PATH))
    assert result.exit_code == 0, result.output
    warnings = [x for x in result.stderr.splitlines() if x.startswith("D005")]
    assert len(warnings) == 1 and warnings[0].startswith("D005 警告: 本部の設定ファイル " + str(DEFAULT_SETTINGS_PATH))
    assert (tmp_path / "out" / output_names(2024, OCT24)["national"]).is_file()


def test_a_broken_settings_file_exits_1_before_reading(inbox, tmp_path):
    bad = tmp_path / "hq.json"
    bad.write_text("{}", encoding="utf-8")
    result = invoke(str(inbox), "--fy", "2024", "--month", "2024-10", "-o", str(tmp_path / "out"),
                    "--settings", str(bad))
    assert result.exit_code == 1 and "D002" in result.stderr
    assert not (tmp_path / "out").exists()


def test_validate_names_the_branch_of_each_file(inbox_with_an_error):
    result = CliRunner().invoke(cli, ["validate", str(inbox_with_an_error / "11_埼玉支部_FY2024_KPI入力.xlsx")])
    assert result.exit_code == 1
    heads = [x for x in result.stdout.splitlines() if x.startswith("■")]
    assert heads and heads[0].startswith("■ 11_埼玉支部_FY2024_KPI入力.xlsx（11 埼玉支部）  エラー ")


def test_validate_names_the_branch_even_when_the_file_was_renamed(inbox_with_an_error, tmp_path):
    import shutil

    renamed = tmp_path / "返送分.xlsx"
    shutil.copy(inbox_with_an_error / "11_埼玉支部_FY2024_KPI入力.xlsx", renamed)
    result = CliRunner().invoke(cli, ["validate", str(renamed)])
    assert "■ 返送分.xlsx（11 埼玉支部）  エラー " in result.stdout
