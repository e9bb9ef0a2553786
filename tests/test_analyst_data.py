"""The analysts' data: the kpi_values CSV and its xlsx copy, kpisheet's own CSV (and the ledger) as next
year's --baseline, and the ledger's branch and KPI tables."""

from __future__ import annotations

import csv
import re
import sqlite3
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet import ledger as led
from kpisheet.cli import cli
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.display import shown
from kpisheet.ledger.store import APPLICATION_ID, MIGRATIONS, _statements
from kpisheet.month import run_month
from kpisheet.read.reader import read_workbook
from kpisheet.read.value_tables import read_value_table
from kpisheet.template.build import generate
from kpisheet.write.csvout import COLUMNS, CSV_COLUMNS, csv_rows
from kpisheet.write.outputs import output_names
from tests.builders.sample import sample_values

from .consolidate_helpers import den, filled, num, sample_inbox
from .lo import convert, lo_values_csv, requires_soffice

ROOT = Path(__file__).resolve().parents[1]
OCT24, MAR25 = date(2024, 10, 1), date(2025, 3, 1)
CODES = ["10", "11"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def october(tmp_path_factory):
    """An October run of 10 群馬, whose K6-2-01 runs to August (its data trail two months), and 11 埼玉,
    who left K6-1-01's October empty (everyone else 未提出):
    (result, out folder)."""
    root = tmp_path_factory.mktemp("october")
    sep24 = date(2024, 9, 1)
    gunma = {**sample_values(load_catalogue(6), 2024, "10", OCT24),  # K6-2-01 through August (data trail)
             **{name(k, m): None for name in (num, den) for k, m in (("K6-2-01", sep24), ("K6-2-01", OCT24))}}
    filled(root, root / "inbox", 2024, "10", gunma, ("10", "11"))
    saitama = {**sample_values(load_catalogue(6), 2024, "11", OCT24), num("K6-1-01", OCT24): None,
               den("K6-1-01", OCT24): None}
    filled(root, root / "inbox", 2024, "11", saitama, ("10", "11"))
    out = root / "out"
    return run_month(root / "inbox", 2024, "2024-10", out, ledger=root / "kpisheet.sqlite"), out


@pytest.fixture(scope="module")
def march(tmp_path_factory):
    """FY2024 consolidated at March 2025 for 10 and 11, with its ledger: (result, out folder, ledger)."""
    root = tmp_path_factory.mktemp("march")
    sample_inbox(root, root / "inbox", 2024, CODES, MAR25)
    ledger = root / "kpisheet.sqlite"
    return run_month(root / "inbox", 2024, "2025-03", root / "out", ledger=ledger), root / "out", ledger


# ---------------------------------------------------------------- the CSV
def test_every_expected_branch_has_a_row_per_kpi_and_month_with_its_status(october):
    result, out = october
    rows = read_csv(out / output_names(2024, OCT24)["csv"])
    assert list(rows[0]) == CSV_COLUMNS
    assert {r["fiscal_year"] for r in rows} == {"2024"}
    codes = {r["branch_code"] for r in rows}
    assert codes == {f"{i:02d}" for i in range(48)} | {"ALL"}  # 00 本部 … 47, and the nation
    okinawa = [r for r in rows if r["branch_code"] == "47"]
    cat = load_catalogue(6)
    expected = sum(len([m for m in k.months(2024) if m <= OCT24]) for k in cat.kpis_for(2024, "47"))
    assert len(okinawa) == expected
    assert {(r["submission"], r["submission_ja"], r["status"], r["status_ja"], r["mark"], r["value"])
            for r in okinawa} == {("not_submitted", "未提出", "not_submitted", "未提出", "—", "")}
    gunma = [r for r in rows if r["branch_code"] == "10" and r["month"] == "2024-10"]
    assert {r["submission"] for r in gunma} == {"submitted"}
    assert {r["status_ja"] for r in gunma if r["status"] == "ok"} == {"報告あり"}


def test_an_empty_month_within_the_data_lag_is_not_due_and_an_overdue_one_is_missing(october):
    result, out = october
    rows = read_csv(out / output_names(2024, OCT24)["csv"])
    kpi = load_catalogue(6).kpi("K6-2-01")
    assert kpi.lag_months >= 1
    gunma = {r["month"]: r for r in rows if (r["branch_code"], r["kpi_id"]) == ("10", "K6-2-01")}
    data_month = result.consolidation.branch_kpis[("10", "K6-2-01")].data_month
    assert data_month == "2024-08"
    assert {m: r["status"] for m, r in gunma.items() if m > data_month} == {
        m: "not_due" for m in gunma if m > data_month}
    assert {r["status_ja"] for m, r in gunma.items() if m > data_month} == {"集計待ち（データが届く時期の前）"}
    assert gunma[data_month]["status"] == "ok"
    saitama = next(r for r in rows if (r["branch_code"], r["kpi_id"], r["month"]) == ("11", "K6-1-01", "2024-10"))
    assert (saitama["status"], saitama["status_ja"]) == ("missing", "未報告")  # no lag: October is due
    assert any(f.code == "W413" and f.branch == "11" and f.subject == "K6-1-01"
               for f in result.consolidation.findings)


def test_values_are_rounded_as_shown_beside_the_raw_figures_and_rates_are_in_points(october):
    result, out = october
    cons = result.consolidation
    rows = read_csv(out / output_names(2024, OCT24)["csv"])
    row = next(r for r in rows if (r["branch_code"], r["kpi_id"]) == ("10", "K6-2-02") and r["month"] == r["data_month"])
    bk = cons.branch_kpis[("10", "K6-2-02")]
    kpi = cons.catalogue.kpi("K6-2-02")
    assert row["value"] == str(shown(kpi, bk.value)) and float(row["value_raw"]) == pytest.approx(bk.value)
    assert len(row["value"].split(".")[-1]) == kpi.decimals
    assert float(row["progress"]) == float(shown(1, bk.progress * 100))  # 進捗 in points, like value
    assert float(row["achievement"]) == float(shown(1, bk.achievement * 100))
    assert 20 < float(row["progress"]) < 500
    assert row["target_source"] == bk.target_source
    assert row["target_source_ja"] == {"workbook_hq": "本部記入済みの目標", "workbook_branch": "支部が入力した目標",
                                       "previous_year": "前年度実績（対前年度）"}.get(bk.target_source, row["target_source_ja"])
    assert row["target_source_ja"] and not re.search(r"\d\.\d{6,}", ",".join(v for k, v in row.items()
                                                                          if not k.endswith("_raw")))


def test_the_xlsx_copy_holds_the_same_table_with_codes_as_text(october):
    result, out = october
    names = output_names(2024, OCT24)
    assert (out / names["values_xlsx"]) in result.outputs.paths
    ws = openpyxl.load_workbook(out / names["values_xlsx"], read_only=True)["kpi_values"]
    sheet = list(ws.iter_rows())
    assert [c.value for c in sheet[0]] == CSV_COLUMNS
    at = CSV_COLUMNS.index("branch_code")
    assert {c[at].value for c in sheet[1:]} == {r[at] for r in csv_rows(result.consolidation)}
    assert {c[at].data_type for c in sheet[1:]} == {"s"}
    assert len(sheet) - 1 == len(read_csv(out / names["csv"]))


def test_the_data_dictionary_describes_every_column():
    doc = (ROOT / "docs" / "analyst-data.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z_]+)` \| (?:integer|number|text|month) \|", doc, re.MULTILINE)
    assert documented == [c.name for c in COLUMNS]
    assert "docs/analyst-data.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@requires_soffice
def test_libreoffice_opens_the_xlsx_copy_with_codes_01_to_47_intact(october, tmp_path):
    _, out = october
    sheets = lo_values_csv(out / output_names(2024, OCT24)["values_xlsx"], tmp_path)
    table = next(rows for stem, rows in sheets.items() if stem.endswith("kpi_values"))
    at = table[0].index("branch_code")
    assert {r[at] for r in table[1:]} == {f"{i:02d}" for i in range(48)} | {"ALL"}


@requires_soffice
def test_libreoffice_opening_the_csv_keeps_branch_label_with_its_codes(october, tmp_path):
    """A spreadsheet opening the CSV makes branch_code 01 the number 1 (documented); branch_label keeps
    「01 北海道支部」 as written, so every code 00…47 can still be read off the sheet."""
    _, out = october
    book = convert(out / output_names(2024, OCT24)["csv"], "xlsx", tmp_path, infilter="CSV:44,34,76,1")
    ws = openpyxl.load_workbook(book, read_only=True).worksheets[0]
    sheet = [[c.value for c in row] for row in ws.iter_rows()]
    at = sheet[0].index("branch_label")
    labels = {r[at] for r in sheet[1:]}
    assert {label.split(" ")[0] for label in labels} == {f"{i:02d}" for i in range(48)} | {"ALL"}
    assert "01 北海道支部" in labels and "ALL 全国" in labels
    assert 1 in {r[sheet[0].index("branch_code")] for r in sheet[1:]}  # why branch_label is there


# ---------------------------------------------------------------- kpisheet's CSV as next year's baseline
def year_end(rows: list[dict[str, str]]) -> dict[tuple[str, str], float]:
    """The expected baseline: each branch's and KPI's shown result (month = data_month), unrounded."""
    return {(r["branch_code"], r["kpi_id"]): float(r["value_raw"]) for r in rows
            if r["month"] == r["data_month"] and r["value_raw"] and r["branch_code"] != "ALL"}


def test_a_march_csv_is_next_years_baseline_without_duplicate_rows(march, tmp_path):
    _, out, _ = march
    path = out / output_names(2024, MAR25)["csv"]
    rows = read_csv(path)
    table = read_value_table(path, 2025)
    assert table.findings == []  # once: thousands of G106 (a row per month)
    want = year_end(rows)
    assert {k: v for k, v in table.values.items() if k[0] in CODES} == pytest.approx(want)
    assert ("ALL", "K6-2-01") in table.values  # the nation's value too
    made = generate(2025, ["11"], tmp_path / "配布", baseline_path=path)
    sub = read_workbook(made.paths[0])
    asked = {k.id for k in load_catalogue(6).kpis_for(2025, "11")}  # K6-1-06 ended in December 2024
    assert sub.prefilled_baselines == pytest.approx({k: v for (c, k), v in want.items() if c == "11" and k in asked})
    assert len(sub.prefilled_baselines) >= 15
    assert sub.kpis["K6-2-01"].baseline.value == pytest.approx(want[("11", "K6-2-01")])
    copy = read_value_table(out / output_names(2024, MAR25)["values_xlsx"], 2025)  # the xlsx copy reads the same
    assert copy.findings == [] and copy.values == pytest.approx(table.values)


def test_generate_takes_the_march_csv_on_the_command_line(march, tmp_path):
    _, out, _ = march
    path = out / output_names(2024, MAR25)["csv"]
    done = CliRunner().invoke(cli, ["generate", "--fy", "2025", "--branch", "10", "--baseline", str(path),
                                    "-o", str(tmp_path / "配布")])
    assert done.exit_code == 0, done.output
    assert "G106" not in done.output and "G1" not in done.output
    assert (tmp_path / "配布" / "10_群馬支部_FY2025_KPI入力.xlsx").is_file()


def test_the_baseline_command_writes_the_ledgers_year_end_values(march, tmp_path):
    _, out, ledger = march
    target = tmp_path / "FY2024実績.csv"
    done = CliRunner().invoke(cli, ["baseline", "--from-ledger", "--fy", "2024", "-o", str(target),
                                    "--ledger", str(ledger)])
    assert done.exit_code == 0, done.output
    assert "令和6年度" in done.output and "kpisheet generate --fy 2025 --baseline" in done.output
    rows = read_csv(target)
    assert list(rows[0]) == ["branch", "branch_name", "kpi_id", "kpi_label", "month", "value"]
    table = read_value_table(target, 2025)
    assert table.findings == []
    expected = year_end(read_csv(out / output_names(2024, MAR25)["csv"]))
    cat = load_catalogue(6)
    assert {k: v for k, v in table.values.items() if k[0] in CODES} == pytest.approx(
        {k: float(shown(cat.kpi(k[1]), v)) for k, v in expected.items()})
    again = CliRunner().invoke(cli, ["baseline", "--from-ledger", "--fy", "2024", "-o", str(target),
                                     "--ledger", str(ledger)])
    assert again.exit_code == 1 and "--force" in again.output


def test_a_year_the_ledger_does_not_hold_is_g112(march, tmp_path):
    _, _, ledger = march
    done = CliRunner().invoke(cli, ["baseline", "--from-ledger", "--fy", "2023", "-o", str(tmp_path / "x.csv"),
                                    "--ledger", str(ledger)])
    assert done.exit_code == 1 and "G112" in done.output and "令和5年度" in done.output
    assert not (tmp_path / "x.csv").exists()


def test_the_year_end_value_is_the_shown_result_and_an_excluded_one_gives_none(tmp_path):
    path = tmp_path / "kpi_values_FY2024_2025-03.csv"
    path.write_text(
        "fiscal_year,month,branch_code,kpi_id,value,value_raw,status,data_month\n"
        "2024,2024-04,11,K6-2-01,10.0,10.04,ok,2025-01\n"
        "2024,2025-01,11,K6-2-01,60.0,59.96,ok,2025-01\n"
        "2024,2025-03,11,K6-2-01,,,not_due,2025-01\n"          # within the data lag: not the year end
        "2024,2024-12,10,K6-2-01,40.0,40.0,ok,2025-01\n"
        "2024,2025-01,10,K6-2-01,,,excluded,2025-01\n"          # the shown result was excluded
        "2024,2025-03,10,K6-2-02,,,not_submitted,\n"
        "2024,2025-03,ALL,K6-2-01,55.1,55.12,ok,2025-01\n", encoding="utf-8")
    table = read_value_table(path, 2025)
    assert table.findings == []  # the file reaches March
    assert table.values == {("11", "K6-2-01"): 59.96, ("ALL", "K6-2-01"): 55.12}


def test_a_kpi_values_csv_of_the_same_year_is_g110_and_nothing_is_used(march):
    _, out, _ = march
    path = out / output_names(2024, MAR25)["csv"]
    table = read_value_table(path, 2024)
    assert [(f.code, f.file, f.value) for f in table.findings] == [("G110", str(path), "2024")]
    assert table.values == {}
    assert "kpi_values_FY2023_2024-03.csv" in table.findings[0].message_ja


def test_an_october_csv_gives_its_latest_values_with_g111(october):
    _, out = october
    path = out / output_names(2024, OCT24)["csv"]
    table = read_value_table(path, 2025)
    assert [(f.code, f.file, f.value) for f in table.findings] == [("G111", str(path), "2024-10")]
    assert "令和6年10月" in table.findings[0].message_ja
    assert table.values[("10", "K6-2-02")] == pytest.approx(year_end(read_csv(path))[("10", "K6-2-02")])


# ---------------------------------------------------------------- the ledger
def test_the_ledger_names_branches_and_kpis(march):
    _, _, ledger = march
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("SELECT display_name FROM branches WHERE code = '01'").fetchone() == ("北海道支部",)
        assert conn.execute("SELECT name FROM branches WHERE code = 'ALL'").fetchone() == ("全国",)
        assert conn.execute("SELECT label, unit, term FROM kpis WHERE kpi_id = 'K6-2-01'").fetchone() == (
            load_catalogue(6).kpi("K6-2-01").label, "%", 6)
        named = conn.execute("SELECT branch_name, kpi_label FROM current_values_named "
                             "WHERE branch_code = '11' AND kpi_id = 'K6-2-01' LIMIT 1").fetchone()
    assert named == ("埼玉支部", load_catalogue(6).kpi("K6-2-01").label)


def test_a_version_1_ledger_is_migrated_with_its_figures_kept(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (id, kind, fiscal_year, month, started_at, kpisheet_version, catalogue_digest, "
                 "options, fingerprint) VALUES (1, 'import', 2024, '2024-10', 't', 'v', 'd', '{}', 'f')")
    conn.execute("INSERT INTO kpi_values (fiscal_year, branch_code, kpi_id, month, value, status, run_id, run_month) "
                 "VALUES (2024, '11', 'K6-2-01', '2024-10', 42.5, 'ok', 1, '2024-10')")
    conn.close()
    with led.opened(path) as book:
        assert book.query("PRAGMA user_version") == [(led.SCHEMA_VERSION,)]
        assert book.query("SELECT branch_name, kpi_label, value FROM current_values_named") == [
            ("埼玉支部", load_catalogue(6).kpi("K6-2-01").label, 42.5)]
        assert book.query("SELECT count(*) FROM kpis") == [(len(load_catalogue(5).kpis) + len(load_catalogue(6).kpis),)]


def test_importing_the_new_csv_records_the_raw_values_and_skips_branches_without_a_file(october, tmp_path):
    _, out = october
    path = out / output_names(2024, OCT24)["csv"]
    rows = read_csv(path)
    with led.opened(tmp_path / "fresh.sqlite", create=True) as book:
        result = led.import_values(book, path)
        held = led.held(book, 2024)
    assert result.added == sum(1 for r in rows if r["status"] not in ("not_submitted", "missing")
                               and (r["value_raw"] or r["numerator"] or r["denominator"]))
    assert not any(code == "47" for code, _, _ in held)
    row = next(r for r in rows if (r["branch_code"], r["kpi_id"], r["month"]) == ("10", "K6-2-02", "2024-10"))
    assert held[("10", "K6-2-02", "2024-10")].value == pytest.approx(float(row["value_raw"]), rel=1e-15)
