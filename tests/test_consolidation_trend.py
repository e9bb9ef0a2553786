"""月次推移: national figures beside the same figures over the branches that reported every month."""

from __future__ import annotations

from datetime import date

import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.month import consolidate
from tests.builders.sample import sample_values

from .consolidate_helpers import den, filled, num, val

OCT24 = date(2024, 10, 1)
JUL24, AUG24 = date(2024, 7, 1), date(2024, 8, 1)
CODES = ("10", "11", "13")
MONTHS = [date(2024, m, 1) for m in range(4, 11)]


@pytest.fixture(scope="module")
def inputs():
    cat = load_catalogue(6)
    values = {c: sample_values(cat, 2024, c, OCT24) for c in CODES}
    for name in (num("K6-2-03", JUL24), den("K6-2-03", JUL24), val("K6-2-07", JUL24)):
        del values["13"][name]  # 東京 skips July of 被扶養者特定健診 and 健康宣言事業所数
    for code in ("11", "13"):  # only 群馬 reaches October in 被保険者特定保健指導
        del values[code][num("K6-2-04", OCT24)], values[code][den("K6-2-04", OCT24)]
    return values


@pytest.fixture(scope="module")
def cons(tmp_path_factory, inputs):
    root = tmp_path_factory.mktemp("trend")
    for code in CODES:
        filled(root, root / "inbox", 2024, code, inputs[code], CODES)
    return consolidate(root / "inbox", fiscal_year=2024, month=OCT24)


def test_a_branch_missing_in_july_flags_july_and_august(cons):
    trend = cons.trend["K6-2-03"]
    assert trend.fixed == ("10", "11") and trend.data_month == "2024-10"
    july, august = trend.point("2024-07"), trend.point("2024-08")
    assert (july.reporting, july.left, july.joined, july.changed) == (("10", "11"), ("13",), (), True)
    assert (august.reporting, august.joined, august.left) == (("10", "11", "13"), ("13",), ())
    assert not trend.point("2024-06").changed and not trend.point("2024-04").changed
    assert [p.month for p in trend.points] == [f"2024-{m:02d}" for m in range(4, 11)]


def test_fixed_set_figure_is_the_sum_of_its_numerators_over_its_denominators(cons, inputs):
    trend = cons.trend["K6-2-03"]
    for month in MONTHS:
        n = sum(inputs[c][num("K6-2-03", month)] for c in ("10", "11"))
        d = sum(inputs[c][den("K6-2-03", month)] for c in ("10", "11"))
        point = trend.point(f"2024-{month.month:02d}")
        assert (point.fixed_numerator, point.fixed_denominator) == (n, d)
        assert point.fixed_value == pytest.approx(100 * n / d)
    october = trend.point("2024-10")
    national = cons.national["K6-2-03"]
    assert (october.value, october.numerator, october.denominator) == \
           (national.value, national.numerator, national.denominator)
    assert october.value != pytest.approx(october.fixed_value, abs=1e-9)  # 東京 moves the national figure
    assert october.annual_target == national.annual_target


def test_a_count_over_the_fixed_set_is_its_sum(cons, inputs):
    trend = cons.trend["K6-2-07"]
    assert trend.fixed == ("10", "11")
    july = trend.point("2024-07")
    assert july.value == july.fixed_value == sum(inputs[c][val("K6-2-07", JUL24)] for c in ("10", "11"))
    august = trend.point("2024-08")
    assert august.fixed_value == sum(inputs[c][val("K6-2-07", AUG24)] for c in ("10", "11"))
    assert august.value == august.fixed_value + inputs["13"][val("K6-2-07", AUG24)]
    assert (august.fixed_numerator, august.fixed_denominator) == (None, None)


def test_after_the_national_data_month_the_fixed_figure_needs_every_fixed_branch(cons):
    trend = cons.trend["K6-2-04"]  # only one branch of three reached October: the data month is September
    assert (trend.data_month, trend.fixed) == ("2024-09", CODES)
    october = trend.point("2024-10")
    assert (october.reporting, october.left) == (("10",), ("11", "13"))
    assert october.fixed_value is None and october.value is not None
    assert trend.point("2024-09").fixed_value == pytest.approx(trend.point("2024-09").value)


def test_every_quantitative_kpi_has_a_trend(cons):
    assert set(cons.trend) == {k.id for k in cons.kpis if k.kind != "qualitative"}
    assert cons.trend["K6-2-08"].fixed == CODES  # pooled rate over the fixed set, as information
    assert cons.trend["K6-2-10"].fixed == ()  # 本部's KPI: no 本部 workbook in this inbox
    assert all(p.fixed_value is None for p in cons.trend["K6-2-10"].points)
