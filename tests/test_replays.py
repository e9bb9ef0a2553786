"""Replays: real reports re-run through kpisheet, each KPI's mark and data month as reported.

1. 埼玉支部 令和5年度 事業計画実施状況 (seed 003), as it was really reported: each result filled
   only up to the month its data reached (seed 003:94-96 and :202), consolidated at 2024-03.
   Every KPI row of the seed's table gets the seed's mark and names its data month.
2. A mid-year month: 群馬支部 FY2024 consolidated at 2024-12 with health checks through October,
   claims-based KPIs through August (診療月); marks derived by hand from the rule in the README.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.fiscal import fiscal_months, parse_month
from kpisheet.domain.ratings import with_month
from kpisheet.month import consolidate
from kpisheet.template.build import generate
from tests.builders.sample import fill_by_names

from .consolidate_helpers import den, field, filled, num, val

# (kpi id, target typed, baseline typed, numerator or count, denominator, data month, seed line, mark)
# Targets and results as seed 003 prints them; numerators / denominators give the printed rates.
SAITAMA_AS_REPORTED = [
    ("K5-1-01", None, None, 1000, 1000, "2024-03", 15, "○"),          # サービススタンダード 100%
    ("K5-1-02", 0.965, None, 965, 1000, "2024-03", 16, "○"),          # 郵送化率 96.5%以上
    ("K5-1-05", None, 0.0094, 83, 10_000, "2024-02", 32, "◎"),        # 柔整 0.83% (R6.2現在) vs ≤0.94%
    ("K5-1-03", None, 0.0031, 423, 100_000, "2024-03", 34, "◎"),      # 査定率 0.423% vs 0.310%
    ("K5-1-04", None, 8364, 1_012_300, 100, "2024-03", 35, "◎"),      # 再審査 10,123円 vs 8,364円
    ("K5-1-06", None, 0.8538, 8015, 10_000, "2024-03", 36, "△"),      # 保険証回収率 80.15% vs 85.38%
    ("K5-1-07", None, 0.6024, 6662, 10_000, "2024-03", 50, "◎"),      # 返納金 66.62% vs 60.24%
    ("K5-1-08", 0.94, None, 858, 1000, "2024-03", 51, "△"),           # 確認書提出率 85.8% vs 94.0%
    ("K5-2-01", 0.538, None, 426, 1000, "2024-01", 70, "△"),          # 生活習慣病予防健診 4月～1月
    ("K5-2-02", 0.18, None, 44, 1000, "2024-02", 75, "△"),            # 事業者健診 4月～2月
    ("K5-2-03", 0.293, None, 139, 1000, "2023-12", 89, "△"),          # 特定健診 4月～12月
    ("K5-2-04", 0.369, None, 61, 1000, "2023-12", 114, "△"),          # 被保険者の特定保健指導
    ("K5-2-05", 0.151, None, 143, 1000, "2023-12", 128, "△"),         # 被扶養者の特定保健指導 14.3 vs 15.1
    ("K5-2-07", 1170, None, 893, None, "2024-03", 158, "△"),          # 健康宣言事業所数
    ("K5-2-09", 0.44, None, 441, 1000, "2024-03", 189, "○"),          # 健康保険委員 44.1% vs 44.0%
    ("K5-2-08", None, 0.819, 829, 1000, "2023-11", 202, "○"),         # ジェネリック 82.9% (R5.11診療) vs 前年度 81.9%
    ("K5-3-01", None, None, 67, 1000, "2024-03", 274, "◎"),           # 一社応札 6.7% vs ≤20%
]
NOT_REPORTED = ("K5-2-06", 142)  # 受診勧奨後3か月以内: 「—」 in the seed
MARCH_2024 = date(2024, 3, 1)


def _ytd_series(kpi, n_final, d_final, months: list[date]) -> dict[date, tuple[float, float | None]]:
    """Month-by-month values ending at the reported figures: flows grow to their total, stocks stay."""
    out = {}
    k = len(months)
    for i, m in enumerate(months, 1):
        share = i / k
        parts = [kpi.numerator, kpi.denominator] if kpi.kind == "ratio" else [kpi.value_part]
        finals = [n_final, d_final] if kpi.kind == "ratio" else [n_final]
        values = [round(f * share) if p.is_flow and i < k else f for p, f in zip(parts, finals, strict=True)]
        if kpi.is_percent and values[0] > values[1]:
            values[0] = values[1]
        out[m] = (values[0], values[1] if kpi.kind == "ratio" else None)
    return out


def _fill_through(values: dict, kpi, n_final, d_final, data_month: str) -> None:
    last = parse_month(data_month)
    months = [m for m in fiscal_months(2023 if last < date(2024, 4, 1) else 2024) if m <= last]
    for m, (n, d) in _ytd_series(kpi, n_final, d_final, months).items():
        if kpi.kind == "count":
            values[val(kpi.id, m)] = n
        else:
            values[num(kpi.id, m)], values[den(kpi.id, m)] = n, d


def saitama_kpi_values() -> dict:
    """埼玉's FY2023 workbook inputs of seed 003's KPIs: targets, previous-year values and results,
    each result filled only up to its data month."""
    cat = catalogue_for_fy(2023)
    values: dict = {}
    for kpi_id, target, baseline, n, d, data_month, _line, _mark in SAITAMA_AS_REPORTED:
        if target is not None:
            values[field(kpi_id, "target")] = target
        if baseline is not None:
            values[field(kpi_id, "baseline")] = baseline
        _fill_through(values, cat.kpi(kpi_id), n, d, data_month)
    values[field(NOT_REPORTED[0], "target")] = 0.131
    return values


@pytest.fixture(scope="module")
def saitama_as_reported(tmp_path_factory):
    root = tmp_path_factory.mktemp("saitama_as_reported")
    filled(root, root / "inbox", 2023, "11", saitama_kpi_values())
    return consolidate(root / "inbox", fiscal_year=2023, month=MARCH_2024)


@pytest.mark.parametrize("kpi_id, data_month, line, mark",
                         [(r[0], r[5], r[6], r[7]) for r in SAITAMA_AS_REPORTED])
def test_saitama_as_reported_gets_the_seeds_mark_and_data_month(saitama_as_reported, kpi_id, data_month,
                                                                 line, mark):
    bk = saitama_as_reported.branch_kpis[("11", kpi_id)]
    assert (bk.rating.mark, bk.data_month) == (mark, data_month), f"seed 003:{line}"
    kpi = saitama_as_reported.catalogue.kpi(kpi_id)
    said = "診療" if kpi_id == "K5-2-08" else "現在"  # seed 003: 「82.9%（R5.11診療）」, the others 「（R6.1現在）」
    assert with_month(kpi, bk.value, parse_month(bk.data_month)) \
        .endswith(f"（R{int(data_month[:4]) - 2018}.{int(data_month[5:])}{said}）")


def test_saitama_as_reported_marks_what_the_seed_marks_with_a_dash(saitama_as_reported):
    bk = saitama_as_reported.branch_kpis[("11", NOT_REPORTED[0])]
    assert (bk.rating.mark, bk.rating.reason_code, bk.data_month) == ("—", "after_year_end", None)


def test_saitama_as_reported_blank_months_within_the_lag_are_not_findings(saitama_as_reported):
    """No warning is filtered: K5-2-06 has no in-year figure (the report prints 「—」 at year end), so its
    blank months are no W413 either."""
    assert [f for f in saitama_as_reported.findings if f.code == "W413"] == []
    assert not any(f.is_error for f in saitama_as_reported.findings if f.branch == "11")


def test_saitama_as_reported_uses_the_annual_target_not_a_pro_rated_one(saitama_as_reported):
    """14.3% vs 15.1% with data through December: △ as seed 003:128 (15.1 x 9/12 would give ◎)."""
    bk = saitama_as_reported.branch_kpis[("11", "K5-2-05")]
    assert bk.annual_target == pytest.approx(15.1) and bk.rating.effective_target == pytest.approx(15.1)
    assert bk.progress == pytest.approx(14.3 / (15.1 * 9 / 12))  # in-year pace: beside the mark, not in it


# ---------------------------------------------------------------- a mid-year month, marks by hand
DEC_2024 = date(2024, 12, 1)
# (kpi id, target typed (display units) or None, numerator or count, denominator, data month, mark, why)
GUNMA_DEC = [
    ("K6-1-01", None, 49_980, 50_000, "2024-12", "○", "99.96% is shown 100.0%: meets the fixed 100.0%"),
    ("K6-1-02", 96.0, 9_620, 10_000, "2024-12", "○", "96.2% vs the branch's 96.0% (HQ had sent 95.7%)"),
    ("K6-1-03", 0.250, 301, 100_000, "2024-12", "◎", "0.301% vs typed 0.250%: ≥ 0.275% is ◎"),
    ("K6-1-04", None, 700_000, 100, "2024-12", "△", "7,000円 vs last year's 7,215円"),
    ("K6-1-05", None, 600, 1_000, "2024-12", "—", "new definition, no previous-year value"),
    ("K6-1-06", None, 8_700, 10_000, "2024-12", "○", "87.0% vs last year's 86.27%"),
    ("K6-2-01", 61.0, 38_500, 100_000, "2024-10", "△", "38.5% (R6.10) vs 61.0%; 61.0 x 7/12 would be ○"),
    ("K6-2-02", 9.0, 950, 10_000, "2024-11", "○", "9.5% vs 9.0%: not 10% above"),
    ("K6-2-03", 30.0, 2_400, 10_000, "2024-10", "△", "24.0% vs 30.0%"),
    ("K6-2-04", 20.0, 2_250, 10_000, "2024-10", "◎", "22.5% ≥ 20.0% x 1.1"),
    ("K6-2-05", 15.0, 500, 10_000, "2024-10", "△", "5.0% vs 15.0%"),
    ("K6-2-06", None, 5_000, 10_000, "2024-09", "—", "new definition, no previous-year value"),
    ("K6-2-07", 1_200, 1_250, None, "2024-12", "○", "1,250 vs 1,200事業所"),
    ("K6-2-08", None, 8_390, 10_000, "2024-08", "△", "83.9% (R6.8診療) vs last year's 84.2% (≥ 80%)"),
    ("K6-2-09", None, 28, 100, "2024-08", "◎", "28.0% ≥ 25% x 1.1"),
    ("K6-2-11", 48.0, 4_800, 10_000, "2024-12", "○", "48.0% vs 48.0%"),
    ("K6-2-12", None, 5_100, None, "2024-12", "○", "5,100 vs last year's 5,000事業所"),
    ("K6-3-01", None, 136, 1_000, "2024-12", "○", "13.6% ≤ 15%, but not ≤ 13.5%"),
]
GUNMA_BASELINE = "branch,kpi_id,value\n10,K5-1-02,95.7%\n10,K5-1-04,7215\n10,K5-1-06,86.27%\n" \
                 "10,K5-2-08,84.2%\n10,K6-2-12,5000\n"


@pytest.fixture(scope="module")
def gunma_december(tmp_path_factory):
    root = tmp_path_factory.mktemp("gunma_dec")
    (root / "baseline.csv").write_text(GUNMA_BASELINE, encoding="utf-8")
    tpl = generate(2024, ["10"], root / "tpl", baseline_path=root / "baseline.csv", force=True).paths[0]
    cat = catalogue_for_fy(2024)
    values: dict = {}
    for kpi_id, target, n, d, data_month, _mark, _why in GUNMA_DEC:
        kpi = cat.kpi(kpi_id)
        if target is not None:
            values[field(kpi_id, "target")] = target / 100 if kpi.is_percent else target
        months = [m for m in kpi.months(2024) if m <= parse_month(data_month)]
        for m, (nv, dv) in _ytd_series(kpi, n, d, months).items():
            if kpi.kind == "count":
                values[val(kpi_id, m)] = nv
            else:
                values[num(kpi_id, m)], values[den(kpi_id, m)] = nv, dv
    (root / "inbox").mkdir()
    fill_by_names(Path(tpl), root / "inbox" / Path(tpl).name, values)
    return consolidate(root / "inbox", fiscal_year=2024, month=DEC_2024)


@pytest.mark.parametrize("kpi_id, data_month, mark, why", [(r[0], r[4], r[5], r[6]) for r in GUNMA_DEC])
def test_gunma_december_marks_by_hand(gunma_december, kpi_id, data_month, mark, why):
    bk = gunma_december.branch_kpis[("10", kpi_id)]
    assert bk.rating.mark == mark, why
    if mark != "—":
        assert bk.data_month == data_month


def test_gunma_december_target_sources(gunma_december):
    sources = {k: gunma_december.branch_kpis[("10", k)].target_source
               for k in ("K6-1-01", "K6-1-02", "K6-1-03", "K6-1-04", "K6-2-01", "K6-2-08")}
    # 対前年度 targets are the rule applied to HQ's previous-year value (never prefilled as numbers)
    assert sources == {"K6-1-01": "workbook_hq", "K6-1-02": "workbook_branch", "K6-1-03": "workbook_branch",
                       "K6-1-04": "previous_year", "K6-2-01": "workbook_branch", "K6-2-08": "generic_condition"}


def test_gunma_december_branch_target_above_last_year_is_used_without_a_warning(gunma_december):
    """HQ prefilled no 対前年度 target, so the branch's 96.0% (above last year's 95.7%) is its plan's
    own target: used, and neither W416 (no HQ value changed) nor W417 (not easier)."""
    assert [f for f in gunma_december.findings if f.code in ("W416", "W417")] == []
    bk = gunma_december.branch_kpis[("10", "K6-1-02")]
    assert (bk.annual_target, bk.baseline) == (pytest.approx(96.0), pytest.approx(95.7))


def test_gunma_december_lags_and_gaps(gunma_december):
    """Health checks through October (lag 2-3), claims through August (lag 4): no W413 —
    but 事業者健診 (lag 1) would be due for November, and it is filled."""
    assert [f for f in gunma_december.findings if f.code == "W413"] == []


def test_gunma_december_progress_beside_the_mark(gunma_december):
    bk = gunma_december.branch_kpis[("10", "K6-2-01")]
    assert bk.progress == pytest.approx(38.5 / (61.0 * 7 / 12))
    assert gunma_december.branch_kpis[("10", "K6-2-11")].progress is None
