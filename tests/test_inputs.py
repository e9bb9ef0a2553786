"""--baseline / --targets value tables: CSV in the encodings Excel writes, xlsx, and malformed rows."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from kpisheet.domain.findings import flatten
from kpisheet.read.value_tables import read_value_table


def _csv(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "values.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_in_every_encoding_excel_writes(tmp_path: Path, encoding: str) -> None:
    path = _csv(tmp_path, "支部コード,KPI ID,値,備考\n10,K6-2-01,61.0%,群馬\n11,K6-1-04,８，３６４円,\n"
                          "群馬支部,K6-2-07,\"1,170\",\n", encoding)
    table = read_value_table(path, 2025, kind="targets")
    assert table.findings == []
    assert table.values == {("10", "K6-2-01"): 61.0, ("11", "K6-1-04"): 8364.0, ("10", "K6-2-07"): 1170.0}


@pytest.mark.parametrize("raw,expected", [("96.5%", 96.5), ("96.5", 96.5), ("９６．５％", 96.5), (" 0.310% ", 0.31),
                                          ("0.965", 0.965)])
def test_percent_values_are_points_and_never_rescaled(tmp_path: Path, raw: str, expected: float) -> None:
    path = _csv(tmp_path, f"branch,kpi_id,value\n01,K6-1-02,{raw}\n")
    assert read_value_table(path, 2025, kind="baseline").values == {("01", "K6-1-02"): expected}


def test_term5_baselines_are_carried_only_where_the_mapping_allows(tmp_path: Path) -> None:
    path = _csv(tmp_path, "branch,kpi_id,value\n10,K5-2-01,58.2\n10,K5-1-03,0.423\n10,K5-2-09,44.1\n"
                          "10,K5-1-05,0.83\n")
    table = read_value_table(path, 2024, kind="baseline")
    assert table.values == {("10", "K6-2-01"): 58.2, ("10", "K6-2-11"): 44.1}
    assert table.origin("10", "K6-2-11") == "K5-2-09"
    assert flatten(table.findings, ["line", "code", "subject", "severity"]) == [
        [3, "G107", "K5-1-03", "warning"], [5, "G107", "K5-1-05", "warning"]]
    assert "K6-1-03" in table.findings[0].message_ja and "新設" in table.findings[0].message_ja  # KPI一覧 prints 【新設】


def test_targets_must_use_the_fiscal_years_own_ids(tmp_path: Path) -> None:
    path = _csv(tmp_path, "branch,kpi_id,value\n10,K5-2-01,60\n")
    table = read_value_table(path, 2024, kind="targets")
    assert table.values == {}
    assert flatten(table.findings, ["line", "code", "value"]) == [[2, "G104", "K5-2-01"]]


def test_malformed_rows_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "branch,kpi_id,value\n99,K6-2-01,50\n10,K6-9-99,50\n10,K6-2-01,abc\n"
                          "10,K6-2-01,120%\n10,K6-2-07,-5\n10,K6-2-07,1170\n10,K6-2-07,1171\n10,K6-2-07,3%\n"
                          "\n10,K6-2-02,\n")
    table = read_value_table(path, 2024, kind="baseline")
    assert flatten(table.findings, ["line", "code"]) == [
        [2, "G103"], [3, "G104"], [4, "G105"], [5, "G108"], [6, "G108"], [8, "G106"], [9, "G105"]]
    assert all(f.file == str(path) and f.is_error for f in table.findings)
    assert "values.csv › 8行目" in table.findings[5].message_ja and "7行目" in table.findings[5].message_ja
    assert table.values == {("10", "K6-2-07"): 1170.0}  # an empty value (line 11) is simply unknown


def test_missing_columns_and_unreadable_files(tmp_path: Path) -> None:
    no_value = _csv(tmp_path, "branch,kpi_id,amount\n10,K6-2-01,5\n")
    assert flatten(read_value_table(no_value, 2024).findings, ["line", "code", "severity"]) == [[1, "G102", "error"]]
    binary = tmp_path / "old.xls"
    binary.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    assert [f.code for f in read_value_table(binary, 2024).findings] == ["G101"]
    latin = _csv(tmp_path, "branch,kpi_id,value\n10,K6-2-01,5\n", name="x.csv")
    latin.write_bytes(b"branch,kpi_id,value\n10,K6-2-01,\x81\x7f\xff\n")
    assert [f.code for f in read_value_table(latin, 2024).findings] == ["G101"]
    assert [f.code for f in read_value_table(tmp_path / "missing.csv", 2024).findings] == ["G101"]


def test_xlsx_with_percent_formatted_cells(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["支部コード", "KPI ID", "値"])
    ws.append([10, "K6-1-02", 0.965])
    ws["C2"].number_format = "0.0%"
    ws.append(["10", "k6_2_07", 1170])
    ws.append([11, "K6-1-02", 95.1])  # plain number in a percent KPI: points
    ws.append([12, "K6-1-02", "x"])
    path = tmp_path / "values.xlsx"
    wb.save(path)
    table = read_value_table(path, 2025, kind="baseline")
    assert table.values == {("10", "K6-1-02"): 96.5, ("10", "K6-2-07"): 1170.0, ("11", "K6-1-02"): 95.1}
    assert flatten(table.findings, ["line", "code"]) == [[5, "G105"]]
