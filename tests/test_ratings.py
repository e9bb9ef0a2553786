"""The rating rule (docs/domain-notes.md): ○ met, ◎ beaten by the KPI's threshold, △ missed, — with a reason."""

from dataclasses import replace
from datetime import date

import pytest

from kpisheet.catalogue import Target, load_catalogue
from kpisheet.ratings import NO_RESULT_REASONS, mark_for, rate_kpi, resolve_target

T5, T6 = load_catalogue(5), load_catalogue(6)
MARCH_2024, OCT_2024 = date(2024, 3, 1), date(2024, 10, 1)


def final(kpi, result, target=None, baseline=None, fy=2023):
    return rate_kpi(kpi, result=result, target=target, baseline=baseline, month=date(fy + 1, 3, 1),
                    fiscal_year=fy)


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
    assert final(kpi, 54.99, target=50.0).mark == "○"
    assert final(kpi, 49.99, target=50.0).mark == "△"


def test_threshold_edges_less_is_better():
    kpi = T5.kpi("K5-3-01")  # ≤ 20 %
    assert final(kpi, 18.0).mark == "◎"                   # exactly 10 % under
    assert final(kpi, 18.01).mark == "○"
    assert final(kpi, 20.0).mark == "○"
    assert final(kpi, 20.01).mark == "△"


def test_threshold_is_per_kpi():
    kpi = replace(T5.kpi("K5-2-01"), excellent_threshold=0.25)
    assert final(kpi, 60.0, target=50.0).mark == "○"
    assert final(kpi, 62.5, target=50.0).mark == "◎"


def test_float_noise_does_not_miss_the_target():
    kpi = T5.kpi("K5-1-02")
    assert final(kpi, 965 / 1000 * 100, target=96.5).mark == "○"


def test_cumulative_kpi_is_pro_rated_before_march():
    kpi = T6.kpi("K6-2-01")  # cumulative, branch target
    r = rate_kpi(kpi, result=33.0, target=56.4, month=OCT_2024, fiscal_year=2024)
    assert r.effective_target == pytest.approx(56.4 * 7 / 12)
    assert r.mark == "○"  # 33.0 vs 32.9 due by October: met, not beaten by 10 %
    assert rate_kpi(kpi, result=36.2, target=56.4, month=OCT_2024, fiscal_year=2024).mark == "◎"
    assert rate_kpi(kpi, result=32.0, target=56.4, month=OCT_2024, fiscal_year=2024).mark == "△"
    assert "7/12" in r.basis_ja and "累計" in r.basis_ja


def test_level_kpi_is_judged_against_the_annual_target_during_the_year():
    kpi = T6.kpi("K6-2-11")  # level (not cumulative)
    r = rate_kpi(kpi, result=49.0, target=50.0, month=OCT_2024, fiscal_year=2024)
    assert (r.mark, r.effective_target) == ("△", 50.0)
    assert "水準" in r.basis_ja


def test_march_is_final():
    kpi = T6.kpi("K6-2-01")
    r = rate_kpi(kpi, result=56.4, target=56.4, month=date(2025, 3, 1), fiscal_year=2024)
    assert (r.mark, r.effective_target) == ("○", 56.4)
    assert "最終" in r.basis_ja


def test_generic_conditional_target():
    kpi = T6.kpi("K6-2-08")
    assert resolve_target(kpi, branch_target=None, baseline=75.0)[0] == 80.0
    assert resolve_target(kpi, branch_target=None, baseline=None)[0] == 80.0
    assert resolve_target(kpi, branch_target=None, baseline=84.2)[0] == 84.2
    r = rate_kpi(kpi, result=83.0, target=None, baseline=84.2, month=OCT_2024, fiscal_year=2024)
    assert r.mark == "△" and "前年度" in r.basis_ja  # above 80 % but below its own last year
    assert rate_kpi(kpi, result=81.0, target=None, baseline=75.0, month=OCT_2024, fiscal_year=2024).mark == "○"


def test_national_rule_override():
    kpi = T6.kpi("K6-2-01")
    r = rate_kpi(kpi, result=64.8, target=None, month=date(2025, 3, 1), fiscal_year=2024,
                 rule=kpi.effective_national_target())
    assert (r.mark, r.effective_target) == ("○", 64.8)


@pytest.mark.parametrize("kwargs, reason", [
    ({"result": None, "target": 50.0}, "not_reported"),
    ({"result": 50.0, "target": None}, "no_target"),
    ({"result": 50.0, "target": 50.0, "excluded": True}, "excluded_error"),
])
def test_no_result_reasons_branch_target(kwargs, reason):
    r = rate_kpi(T6.kpi("K6-2-01"), month=OCT_2024, fiscal_year=2024, **kwargs)
    assert (r.mark, r.reason_code) == ("—", reason)
    assert r.basis_ja.startswith(NO_RESULT_REASONS[reason][0])


def test_no_baseline_reason():
    r = rate_kpi(T6.kpi("K6-1-02"), result=96.0, target=None, baseline=None, month=OCT_2024, fiscal_year=2024)
    assert (r.mark, r.reason_code, r.basis_ja) == ("—", "no_baseline", "前年度値なし")


def test_qualitative_is_self_rated_and_never_computed():
    kpi = T5.kpi("K5-2-10")
    assert rate_kpi(kpi, result=None, target=None, month=MARCH_2024, fiscal_year=2023,
                    self_rating="○").mark == "○"
    assert rate_kpi(kpi, result=None, target=None, month=MARCH_2024, fiscal_year=2023).reason_code == "not_reported"


def test_cross_is_never_computed():
    kpi = T5.kpi("K5-2-01")
    marks = {final(kpi, v, target=50.0).mark for v in (0.0, 10.0, 49.0, 50.0, 80.0)}
    assert "×" not in marks


def test_mark_for_zero_target_less_is_better():
    kpi = replace(T5.kpi("K5-3-01"), target=Target("fixed", 0.0))
    assert mark_for(kpi, 0.0, 0.0) == "◎"
    assert mark_for(kpi, 0.1, 0.0) == "△"
