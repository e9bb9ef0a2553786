"""The fiscal calendar, era names and the defined-name scheme."""

from __future__ import annotations

from datetime import date

import pytest

from kpisheet.domain import fiscal
from kpisheet.read.names import column_key, kpi_key, measure_key, parse_name


def test_fiscal_months_run_april_to_march():
    months = fiscal.fiscal_months(2024)
    assert [fiscal.month_label(m) for m in months] == [f"{m}月" for m in (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)]
    assert months[0] == date(2024, 4, 1) and months[-1] == date(2025, 3, 1)


@pytest.mark.parametrize("fy,text", [(2024, "令和6年度"), (2019, "令和元年度"), (2018, "平成30年度"), (2021, "令和3年度")])
def test_wareki_fiscal_year(fy, text):
    assert fiscal.wareki_fiscal_year(fy) == text


def test_months_elapsed_and_parse():
    assert fiscal.months_elapsed(2024, fiscal.parse_month("2024-10")) == 7
    assert fiscal.months_elapsed(2024, fiscal.parse_month("202503")) == 12
    with pytest.raises(ValueError):
        fiscal.parse_month("2024-13")


@pytest.mark.parametrize("key,name,sheet_key,col", [
    (kpi_key("K6-2-01", "target"), "in_K6_2_01_target", "K6-2-01|target", "value"),
    (kpi_key("K6-2-01", "num", date(2024, 10, 1)), "in_K6_2_01_num_202410", "K6-2-01|num", "202410"),
    (kpi_key("K6-2-07", "val", date(2025, 3, 1)), "in_K6_2_07_val_202503", "K6-2-07|val", "202503"),
    (kpi_key("K5-2-10", "rating"), "in_K5_2_10_rating", "K5-2-10|rating", "value"),
    (measure_key("6-1-II-2", "text", 1), "in_M_6_1_II_2_1_text", "6-1-II-2|1", "text"),
    (measure_key("5-2-1-iv", "note", 5), "in_M_5_2_1_iv_5_note", "5-2-1-iv|5", "note"),
    (measure_key("6-3-III", "issue"), "in_M_6_3_III_issue", "6-3-III|issue", "text"),
])
def test_name_scheme_round_trips(key, name, sheet_key, col):
    assert key.name == name and parse_name(name) == key
    assert key.sheet_key == sheet_key and column_key(key) == col
    assert "_" in name  # never mistaken for a cell reference


@pytest.mark.parametrize("name", ["kpisheet_ratings", "in_K6_2_01_num_202413", "Print_Titles", "in_K6_2_01_foo"])
def test_foreign_names_are_not_inputs(name):
    assert parse_name(name) is None
