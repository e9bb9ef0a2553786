"""`kpisheet plan generate --ledger`: last year's approved plan carries its headings and activities, and
last year's values come from the ledger with their status — 確定 for March of a closed year, else 暫定 at
the month they stand at (「R6.11現在」); --no-ledger and --baseline leave the ledger's values out."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kpisheet import ledger as led
from kpisheet.cli import cli
from kpisheet.domain.settings import example_settings, settings_json
from kpisheet.ledger.plans import approve_plans, record_plans
from kpisheet.plan.prefill import from_ledger
from kpisheet.plan.reader import read_plan
from tests.builders.plan_ledger import plan

VALUES = """branch_code,kpi_id,month,numerator,denominator,value,status
10,K6-2-01,2024-10,1000,2000,50.0,ok
10,K6-2-01,2024-11,1180,2000,59.0,ok
10,K6-1-02,2025-03,964,1000,96.4,ok
11,K6-2-01,2024-11,900,2000,45.0,ok
"""


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "kpisheet.sqlite"
    csv = tmp_path / "values_FY2024.csv"
    csv.write_text(VALUES, encoding="utf-8")
    with led.opened(path, create=True) as book:
        led.import_values(book, csv)
        with book.transaction():  # March closed, as `kpisheet close` records it (the import's run standing for the consolidation)
            book.conn.execute("INSERT INTO closed_months (fiscal_year, month, closed_at, run_id) "
                              "VALUES (2024, '2025-03', '2025-05-10T10:00:00+09:00', (SELECT MAX(id) FROM runs))")
    record_plans(path, [plan("10", fy=2024)], 2024)
    assert approve_plans(path, 2024).approved
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    path = tmp_path / "hq.json"
    path.write_text(settings_json(example_settings()), encoding="utf-8")
    return path


def test_from_ledger_gives_each_value_its_status(ledger: Path):
    got = from_ledger(ledger, 2025)
    assert sorted(got.previous) == ["10"]
    assert got.results[("10", "K6-2-01")] == 59.0 and got.results[("10", "K6-1-02")] == 96.4
    assert got.notes[("10", "K6-2-01")] == ("暫定", "R6.11現在")
    assert got.notes[("10", "K6-1-02")] == ("確定", None)
    with led.opened(ledger) as book:
        led.reopen_month(book, 2024, "2025-03", "訂正")
    assert from_ledger(ledger, 2025).notes[("10", "K6-1-02")] == ("暫定", "R7.3現在")


def test_plan_generate_takes_last_years_plan_and_values_from_the_ledger(ledger, settings, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["plan", "generate", "--fy", "2025", "--branch", "10", "--branch", "11",
                                 "--ledger", str(ledger), "--settings", str(settings), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "前年度の承認済み事業計画 1支部、前年度の値 3件" in r.stderr
    gunma = read_plan(out / "10_群馬支部_FY2025_事業計画.xlsx")
    k = gunma.kpis["K6-2-01"]
    assert (k.expected.value, k.expected_status.value, k.expected_as_of.value) == (59.0, "暫定", "R6.11現在")
    k = gunma.kpis["K6-1-02"]
    assert (k.expected.value, k.expected_status.value, k.expected_as_of.value) == (96.4, "確定", None)
    measure = gunma.measures["6-2-I-1"]
    assert measure.heading.value == "特定健診実施率の向上"
    assert [i.text.value for i in measure.items][:2] == ["健診の受診勧奨を行う", "GISで受診率の低い地域に勧奨する"]
    saitama = read_plan(out / "11_埼玉支部_FY2025_事業計画.xlsx")  # no plan last year: values only
    assert saitama.kpis["K6-2-01"].expected.value == 45.0 and not saitama.measures["6-2-I-1"].items


def test_no_ledger_and_baseline_leave_the_ledgers_values_out(ledger, settings, tmp_path):
    r = CliRunner().invoke(cli, ["plan", "generate", "--fy", "2025", "--branch", "10", "--ledger", str(ledger),
                                 "--no-ledger", "--settings", str(settings), "-o", str(tmp_path / "a")])
    assert r.exit_code == 2 and "--no-ledger" in r.output
    r = CliRunner().invoke(cli, ["plan", "generate", "--fy", "2025", "--branch", "10", "--no-ledger",
                                 "--settings", str(settings), "-o", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert read_plan(tmp_path / "b" / "10_群馬支部_FY2025_事業計画.xlsx").kpis["K6-2-01"].expected.value is None
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("branch,kpi_id,value\n10,K6-2-01,61.5\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["plan", "generate", "--fy", "2025", "--branch", "10", "--ledger", str(ledger),
                                 "--baseline", str(baseline), "--settings", str(settings), "-o", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    k = read_plan(tmp_path / "c" / "10_群馬支部_FY2025_事業計画.xlsx").kpis["K6-2-01"]
    assert (k.expected.value, k.expected_status.value) == (61.5, "確定")  # the file's value, its given status
    assert read_plan(tmp_path / "c" / "10_群馬支部_FY2025_事業計画.xlsx").measures["6-2-I-1"].items  # plan still carried
