"""The rating rule (README "Ratings"): the latest result vs the annual target, no pro-rating;
○ met, ◎ beaten by the KPI's threshold, △ missed, — with a reason; decided at the shown precision."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from kpisheet.domain.catalogue import Target, load_catalogue
from kpisheet.domain.display import shown
from kpisheet.domain.ratings import (
    NO_RESULT_REASONS,
    annual_target,
    as_of_ja,
    mark_for,
    progress,
    rate_kpi,
    with_month,
)

T5, T6 = load_catalogue(5), load_catalogue(6)
MARCH_2024, OCT_2024 = date(2024, 3, 1), date(2024, 10, 1)


def final(kpi, result, target=None, baseline=None, data_month=MARCH_2024):
    return rate_kpi(kpi, result=result, target=annual_target(kpi, typed=target, baseline=baseline),
                    data_month=data_month)


# 埼玉支部 FY2023 year-end status report, as docs/domain-notes.md "Ratings" summarises it
@pytest.mark.parametrize("kpi_id, target, baseline, result, mark", [
    ("K5-1-03", None, 0.310, 0.423, "◎"),    # 査定率, 対前年度以上
    ("K5-1-04", None, 8364, 10123, "◎"),     # 再審査 円
    ("K5-1-07", None, 60.24, 66.62, "◎"),    # 返納金
    ("K5-1-05", None, 0.94, 0.83, "◎"),      # 柔整, 対前年度以下 (≤)
    ("K5-3-01", None, None, 6.7, "◎"),       # 一者応札 ≤20% fixed
    ("K5-2-08", 81.9, None, 82.9, "○"),      # ジェネリック
    ("K5-2-09", 44.0, None, 44.1, "○"),      # 健康保険委員
    ("K5-1-06", None, 85.38, 80.15, "△"),    # 保険証回収率
    ("K5-1-02", 96.5, None, 96.5, "○"),      # exactly on target
    ("K5-1-01", None, None, 100.0, "○"),     # サービススタンダード fixed 100
    ("K5-2-01", 53.8, None, 42.6, "△"),
    ("K5-2-07", 1170, None, 893, "△"),       # count
])
def test_marks_of_the_saitama_fy2023_status_report(kpi_id, target, baseline, result, mark):
    assert final(T5.kpi(kpi_id), result, target, baseline).mark == mark


def test_threshold_edges_greater_is_better():
    kpi = T5.kpi("K5-2-01")
    assert final(kpi, 55.0, target=50.0).mark == "◎"      # exactly +10 %
    assert final(kpi, 54.9, target=50.0).mark == "○"
    assert final(kpi, 54.96, target=50.0).mark == "◎"     # shown 55.0%: decided as shown
    assert final(kpi, 49.9, target=50.0).mark == "△"
    assert final(kpi, 49.96, target=50.0).mark == "○"     # shown 50.0%


def test_threshold_edges_less_is_better():
    kpi = T5.kpi("K5-3-01")  # ≤ 20 %
    assert final(kpi, 18.0).mark == "◎"                   # exactly 10 % under
    assert final(kpi, 18.1).mark == "○"
    assert final(kpi, 20.0).mark == "○"
    assert final(kpi, 20.04).mark == "○"                   # shown 20.0%
    assert final(kpi, 20.1).mark == "△"


def test_threshold_is_per_kpi():
    kpi = replace(T5.kpi("K5-2-01"), excellent_threshold=0.25)
    assert final(kpi, 60.0, target=50.0).mark == "○"
    assert final(kpi, 62.5, target=50.0).mark == "◎"


def test_float_noise_does_not_miss_the_target():
    kpi = T5.kpi("K5-1-02")
    assert final(kpi, 965 / 1000 * 100, target=96.5).mark == "○"


def test_no_pro_rating_in_the_mark_mid_year():
    """seed 003: 14.3% vs 15.1% is △ with data through December, not ◎ against 15.1 x 9/12."""
    kpi = T5.kpi("K5-2-05")
    r = final(kpi, 14.3, target=15.1, data_month=date(2023, 12, 1))
    assert (r.mark, r.effective_target) == ("△", 15.1)
    assert "R5.12現在の実績 14.3%" in r.basis_ja and "按分" not in r.basis_ja


def test_progress_is_a_separate_figure_for_growing_kpis_only():
    kpi = T6.kpi("K6-2-01")  # 受診者数 (flow) ÷ 対象者数 (stock)
    assert progress(kpi, 33.0, 56.4, 2024, OCT_2024) == pytest.approx(33.0 / (56.4 * 7 / 12))
    assert progress(T6.kpi("K6-2-11"), 49.0, 50.0, 2024, OCT_2024) is None  # a share at the month's end
    assert progress(T6.kpi("K6-1-02"), 96.0, 95.0, 2024, OCT_2024) is None  # flow over flow
    assert progress(T6.kpi("K6-3-01"), 10.0, 15.0, 2024, OCT_2024) is None  # lower is better


def test_a_result_names_its_data_month():
    kpi = T5.kpi("K5-2-01")
    assert with_month(kpi, 42.6, date(2024, 1, 1)) == "42.6%（R6.1現在）"
    assert as_of_ja(date(2019, 4, 1)) == "H31.4現在" and as_of_ja(date(2019, 5, 1)) == "R1.5現在"


def test_shown_value_never_contradicts_its_mark():
    kpi = T6.kpi("K6-1-01")  # 100.0% fixed, one decimal
    assert kpi.format_value(99.965) == "100.0%"
    assert final(kpi, 99.965, data_month=OCT_2024).mark == "○"
    assert final(kpi, 99.94, data_month=OCT_2024).mark == "△"  # shown 99.9%
    assert shown(T6.kpi("K6-1-03"), 0.3405) == Decimal("0.341")  # 査定率: three decimals, half up


@pytest.mark.parametrize("typed, prefilled, hq, baseline, value, source", [
    (57.0, None, 60.0, None, 57.0, "workbook_branch"),      # the branch's own plan value wins
    (56.4, 56.4, None, None, 56.4, "workbook_hq"),          # HQ prefilled it and the branch kept it
    (58.0, 56.4, None, None, 58.0, "workbook_changed"),     # changed: used (with W416 in validation)
    (None, None, 60.0, None, 60.0, "targets_file"),         # HQ's --targets
    (None, None, None, None, None, None),                   # 支部で設定 and nobody set it
])
def test_annual_target_order_for_a_branch_set_kpi(typed, prefilled, hq, baseline, value, source):
    t = annual_target(T6.kpi("K6-2-01"), typed=typed, prefilled=prefilled, hq_target=hq, baseline=baseline)
    assert (t.value, t.source) == (value, source)


def test_annual_target_by_rule():
    assert annual_target(T6.kpi("K6-1-02"), baseline=95.7).source == "previous_year"
    assert annual_target(T6.kpi("K6-1-02")).reason_code == "no_baseline"
    fixed = annual_target(T6.kpi("K6-2-09"))
    assert (fixed.value, fixed.source) == (25.0, "catalogue")
    assert annual_target(T5.kpi("K5-2-08"), baseline=81.9).value == 81.9  # ジェネリック 対前年度以上
    changed = annual_target(T6.kpi("K6-1-02"), typed=97.0, prefilled=95.7, baseline=95.7)
    assert (changed.value, changed.source) == (97.0, "workbook_changed") and "95.7%" in changed.basis_ja


def test_generic_conditional_target():
    kpi = T6.kpi("K6-2-08")
    assert annual_target(kpi, baseline=75.0).value == 80.0
    assert annual_target(kpi).value == 80.0
    assert annual_target(kpi, baseline=84.2).value == 84.2
    r = final(kpi, 83.0, baseline=84.2, data_month=OCT_2024)
    assert r.mark == "△" and "前年度" in r.basis_ja  # above 80 % but below its own last year
    assert final(kpi, 81.0, baseline=75.0, data_month=OCT_2024).mark == "○"


@pytest.mark.parametrize("kwargs, reason", [
    ({"result": None, "typed": 50.0}, "not_reported"),
    ({"result": 50.0, "typed": None}, "no_target"),
    ({"result": 50.0, "typed": 50.0, "excluded": True}, "excluded_error"),
])
def test_no_result_reasons_branch_target(kwargs, reason):
    typed = kwargs.pop("typed")
    r = rate_kpi(T6.kpi("K6-2-01"), target=annual_target(T6.kpi("K6-2-01"), typed=typed), data_month=OCT_2024,
                 **kwargs)
    assert (r.mark, r.reason_code) == ("—", reason)
    assert r.basis_ja.startswith(NO_RESULT_REASONS[reason][0])


def test_no_baseline_reason():
    r = final(T6.kpi("K6-1-02"), 96.0, data_month=OCT_2024)
    assert (r.mark, r.reason_code, r.basis_ja) == ("—", "no_baseline", "前年度実績なし")


def test_qualitative_is_self_rated_and_never_computed():
    kpi = T5.kpi("K5-2-10")
    assert rate_kpi(kpi, result=None, target=None, self_rating="○").mark == "○"
    assert rate_kpi(kpi, result=None, target=None).reason_code == "not_reported"


def test_cross_is_never_computed():
    kpi = T5.kpi("K5-2-01")
    marks = {final(kpi, v, target=50.0).mark for v in (0.0, 10.0, 49.0, 50.0, 80.0)}
    assert "×" not in marks


def test_mark_for_zero_target_less_is_better():
    kpi = replace(T5.kpi("K5-3-01"), target=Target("fixed", 0.0))
    assert mark_for(kpi, 0.0, 0.0) == "◎"
    assert mark_for(kpi, 0.1, 0.0) == "△"
