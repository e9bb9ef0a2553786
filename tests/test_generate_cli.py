"""`kpisheet generate` through click, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.domain.findings import CODES
from kpisheet.read.reader import read_workbook


def _run(*args: str):
    return CliRunner().invoke(cli, ["generate", *args])


def test_one_branch_of_a_term5_year(tmp_path: Path) -> None:
    result = _run("--fy", "2023", "--branch", "11", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    path = tmp_path / "11_埼玉支部_FY2023_KPI入力.xlsx"
    assert result.stdout.splitlines()[0] == str(path)
    assert "1件のブックを作成しました（令和5年度・第5期）" in result.stderr
    assert openpyxl.load_workbook(path).sheetnames[:3] == ["入力の手引き", "KPI入力", "取組状況"]
    assert "ブックを作成中" not in result.output  # no progress bar when stderr is not a terminal


def test_all_branches_plus_hq_by_default(tmp_path: Path) -> None:
    result = _run("--fy", "2024", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 48 and names[0] == "00_本部_FY2024_KPI入力.xlsx"
    assert names[-1] == "47_沖縄支部_FY2024_KPI入力.xlsx"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_malformed_baseline_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("branch,kpi_id,value\n10,K5-2-01,58.2\n10,K5-2-01,abc\n", encoding="utf-8")
    out = tmp_path / "out"
    result = _run("--fy", "2024", "--baseline", str(baseline), "-o", str(out))
    assert result.exit_code == 1
    assert "G105 エラー: 【baseline.csv › 3行目】" in result.stderr
    assert not out.exists()


def test_warnings_are_printed_but_the_files_are_written(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("branch,kpi_id,value\n10,K5-1-03,0.42\n", encoding="utf-8")
    result = _run("--fy", "2024", "--branch", "10", "--baseline", str(baseline), "-o", str(tmp_path / "o"))
    assert result.exit_code == 0
    assert "G107 警告" in result.stderr
    assert (tmp_path / "o" / "10_群馬支部_FY2024_KPI入力.xlsx").exists()


def test_unknown_branch_hq_without_national_kpis_and_unknown_year(tmp_path: Path) -> None:
    result = _run("--fy", "2024", "--branch", "48", "-o", str(tmp_path))
    assert result.exit_code == 1 and "G103" in result.stderr and "「48」" in result.stderr
    result = _run("--fy", "2023", "--branch", "00", "-o", str(tmp_path))
    assert result.exit_code == 1 and "G109" in result.stderr
    result = _run("--fy", "2030", "-o", str(tmp_path))
    assert result.exit_code == 2 and "2030年度に対応するKPIカタログがありません" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert _run("--fy", "2024").exit_code == 2  # -o is required: a usage error


def test_branch_codes_may_be_written_without_the_leading_zero(tmp_path: Path) -> None:
    result = _run("--fy", "2024", "--branch", "1", "--branch", "01", "-o", str(tmp_path))
    assert result.exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["01_北海道支部_FY2024_KPI入力.xlsx"]
    assert "G109" in CODES


def test_what_hq_prefilled_reaches_the_reader(tmp_path: Path) -> None:
    """--targets and fixed targets prefill target cells, --baseline the 前年度実績 cells; a 対前年度 target is
    never frozen (its cell stays empty: the rule is applied when rating); the reader knows what HQ sent."""
    baseline, targets = tmp_path / "baseline.csv", tmp_path / "targets.csv"
    baseline.write_text("branch,kpi_id,value\n11,K6-1-02,95.7%\n11,K6-2-08,78.4%\n11,K6-1-04,\"8,012\"\n"
                        "11,K6-2-01,56.0%\n", encoding="utf-8")
    targets.write_text("branch,kpi_id,value\n11,K6-2-01,58.5%\n11,K6-2-07,\"1,650\"\n", encoding="utf-8")
    result = _run("--fy", "2024", "--branch", "11", "--baseline", str(baseline), "--targets", str(targets),
                  "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "11_埼玉支部_FY2024_KPI入力.xlsx"
    sent = {"K6-1-01": 100.0, "K6-2-01": 58.5, "K6-2-07": 1650.0, "K6-2-09": 25.0, "K6-3-01": 15.0}
    bases = {"K6-1-02": 95.7, "K6-1-04": 8012.0, "K6-2-01": 56.0, "K6-2-08": 78.4}
    sub = read_workbook(path)
    assert sub.findings == [] and sub.prefilled_targets == pytest.approx(sent)
    assert sub.prefilled_baselines == pytest.approx(bases) and sub.rule_targets == ()
    assert {k: sub.kpis[k].target.value for k in sent} == pytest.approx(sent)  # the cells hold the same
    assert {k: sub.kpis[k].baseline.value for k in bases} == pytest.approx(bases)
    assert [sub.kpis[k].target.value for k in ("K6-1-02", "K6-1-04", "K6-2-08")] == [None] * 3  # follow the rule
    wb = openpyxl.load_workbook(path)
    (sheet, ref), = wb.defined_names["in_K6_1_02_target"].destinations
    wb[sheet][ref.replace("$", "")].value = 0.97  # the branch sets its own target
    wb.save(path)
    changed = read_workbook(path)
    assert changed.kpis["K6-1-02"].target.value == pytest.approx(97.0)
    assert "K6-1-02" not in changed.prefilled_targets
