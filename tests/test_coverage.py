"""National marks that missing branches cannot make △, and ranks that a shorter year cannot make last.

Inline consolidations (no workbooks): 44 of the 47 branches report, 3 are missing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kpisheet.consolidate.model import NATIONAL_CODE
from kpisheet.consolidate.branches import rank_basis
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.catalogue import HQ_CODE, catalogue_for_fy, load_branches
from kpisheet.domain.model import InputValue, KpiEntry, KpiMonth, Submission
from kpisheet.domain.ratings import MET, MISSED, NO_RESULT
from kpisheet.domain.settings import example_settings
from kpisheet.write.csvout import CSV_COLUMNS, csv_rows
from kpisheet.write.feedback.summary import KPI_COLUMNS, summary_cells
from kpisheet.write.report import build_national

OCT = date(2024, 10, 1)
CODES = [b.code for b in load_branches() if b.code != HQ_CODE]
MISSING = set(CODES[-3:])  # three branches have sent nothing
REPORTING = [c for c in CODES if c not in MISSING]


def _count(kpi_id: str, value: float, baseline: float | None, target: float | None = None) -> KpiEntry:
    return KpiEntry(kpi_id, target=InputValue(target), baseline=InputValue(baseline),
                    months={"2024-10": KpiMonth("2024-10", value=InputValue(value))})


def _ratio(kpi_id: str, target: float, by_month: dict[str, tuple[float, float]]) -> KpiEntry:
    return KpiEntry(kpi_id, target=InputValue(target),
                    months={k: KpiMonth(k, numerator=InputValue(n), denominator=InputValue(d))
                            for k, (n, d) in by_month.items()})


def _submission(code: str, kpis: list[KpiEntry]) -> Submission:
    return Submission(f"{code}.xlsx", code.zfill(64), 3, None, 6, 2024, code, None,
                      kpis={e.kpi_id: e for e in kpis})


# K6-2-12 委嘱事業所数 (a count, 対前年度): every reporting branch grew 1.7 % on its own last year, but the
# 44 of them are below the 47-branch national total of last year.  K6-2-07 (a count against the fixed
# term goal, 110,000 事業所) cannot be compared like for like.
LAST_YEAR = {c: 6000.0 for c in CODES}
NATIONAL_LAST_YEAR = sum(LAST_YEAR.values())  # all 47 branches


def _consolidation(codes: list[str], settings=None):
    subs = [_submission(c, [_count("K6-2-12", LAST_YEAR[c] * 1.017, LAST_YEAR[c]),
                            _count("K6-2-07", 2400.0, None, 2300.0)]) for c in codes]
    return build_consolidation(subs, [], fiscal_year=2024, month=OCT, settings=settings,
                               baselines={(NATIONAL_CODE, "K6-2-12"): NATIONAL_LAST_YEAR})


@pytest.fixture(scope="module")
def partial():
    return _consolidation(REPORTING)


def test_the_partial_sum_is_below_last_years_national_total(partial):
    n = partial.national["K6-2-12"]
    assert n.coverage == (44, 47)
    assert n.value < NATIONAL_LAST_YEAR  # rated against the 47-branch total it would be △


def test_a_count_short_of_branches_is_rated_against_the_same_branches_last_year(partial):
    n = partial.national["K6-2-12"]
    assert n.rating.mark == MET
    assert n.rating.effective_target == pytest.approx(6000.0 * 44)
    assert "集計できた44/47支部の前年度実績の合計" in n.rating.basis_ja
    assert n.annual_target == NATIONAL_LAST_YEAR  # the national target itself is unchanged


def test_a_count_against_a_national_total_that_cannot_be_split_is_pending(partial):
    n = partial.national["K6-2-07"]
    assert n.rating.mark == NO_RESULT and n.rating.reason_code == "pending"
    assert n.rating.basis_ja.startswith("集計中（44/47支部。")
    assert n.rating.effective_target is None and n.rating.target_source == "term_goal"
    assert n.progress is None  # no pace of a partial sum against the national total


def test_hq_can_choose_pending_for_every_count_short_of_branches():
    cons = _consolidation(REPORTING, replace(example_settings(), national_coverage="pending"))
    for kpi_id in ("K6-2-12", "K6-2-07"):
        assert cons.national[kpi_id].rating.mark == NO_RESULT
        assert cons.national[kpi_id].rating.reason_code == "pending"


def test_with_every_branch_in_the_national_target_is_used_as_it_is():
    cons = _consolidation(CODES)
    n = cons.national["K6-2-12"]
    assert n.coverage == (47, 47)
    assert n.rating.effective_target == NATIONAL_LAST_YEAR and n.rating.mark == MET


def test_without_last_year_for_a_covered_branch_the_count_is_pending():
    subs = [_submission(c, [_count("K6-2-12", 6100.0, None if c == REPORTING[0] else 6000.0)]) for c in REPORTING]
    cons = build_consolidation(subs, [], fiscal_year=2024, month=OCT,
                               baselines={(NATIONAL_CODE, "K6-2-12"): NATIONAL_LAST_YEAR})
    assert cons.national["K6-2-12"].rating.reason_code == "pending"


def test_csv_and_feedback_carry_the_same_national_mark(partial):
    at = {c: i for i, c in enumerate(CSV_COLUMNS)}
    rows = {(r[at["kpi_id"]], r[at["month"]]): r for r in csv_rows(partial) if r[at["branch_code"]] == NATIONAL_CODE}
    for kpi_id in ("K6-2-12", "K6-2-07"):
        n = partial.national[kpi_id]
        assert rows[(kpi_id, n.data_month)][at["mark"]] == n.rating.mark
    cells, _ = summary_cells(partial, partial.submissions[0], [])
    head = next(r for r, c, v, s in cells if v == "全国の評価")
    mark_col = KPI_COLUMNS.index("全国の評価") + 1
    by_row = {(r, c): v for r, c, v, s in cells}
    rows_of = {v: r for (r, c), v in by_row.items() if c == 1 and r > head}
    assert by_row[(rows_of["K6-2-12"], mark_col)] == MET
    assert by_row[(rows_of["K6-2-07"], mark_col)] == NO_RESULT
    assert "集計中（44/47支部）" in by_row[(rows_of["K6-2-07"], mark_col - 2)]


def test_overview_shows_the_coverage_where_it_decides_the_national_mark(partial, tmp_path: Path):
    """概要 (portrait, 9 pt) says the coverage under the national result where it decides the mark —
    集計中, or like for like —; 全国KPI's 集計支部数 has it for every KPI."""
    path = tmp_path / "national.xlsx"
    build_national(partial, path, datetime(2024, 11, 8, tzinfo=timezone.utc))
    wb = load_workbook(path, read_only=True)
    rows = [list(r) for r in wb["概要"].iter_rows(values_only=True)]
    head = next(r for r in rows if r[0] == "KPI")
    mark, result = head.index("評価"), head.index("全国の実績（データ時点）・年間目標")
    kpi_rows = {str(r[0]).split(" ")[0]: r for r in rows[rows.index(head) + 1:] if r[0] and str(r[0]).startswith("K")}
    assert kpi_rows["K6-2-12"][mark] == MET
    assert kpi_rows["K6-2-12"][result].endswith("\n44/47支部（同じ支部の前年度と比較）")
    assert kpi_rows["K6-2-07"][mark] == NO_RESULT and kpi_rows["K6-2-07"][result].endswith("\n集計中（44/47支部）")
    assert kpi_rows["K6-1-01"][result].count("\n") == 1  # a pooled rate: its coverage does not decide its mark
    national = [list(r) for r in wb["全国KPI"].iter_rows(values_only=True)]
    nhead = next(r for r in national if r[0] == "KPI ID")
    covered = nhead.index("集計支部数")
    cat = catalogue_for_fy(2024)
    counted = {r[0]: r[covered] for r in national[national.index(nhead) + 1:] if r[0] and str(r[0]).startswith("K")}
    assert all(counted[k.id] is not None for k in cat.kpis if k.kind != "qualitative" and k.scope == "branch")


# ---------------------------------------------------------------- ranks at one data month
# K6-2-01 生活習慣病予防健診 grows through the year (受診者数 ÷ 年度の対象者数), target 60 %.
# 新潟 (15) is exactly on pace but its data stop in September; the others reach October.
PACE = {"10": 0.95, "11": 0.98, "13": 1.02, "15": 1.00}


def _checkups(code: str) -> KpiEntry:
    through = 6 if code == "15" else 7  # September (6 months) vs October (7 months)
    months = {f"2024-{4 + i:02d}": (60.0 * PACE[code] * (i + 1) / 12 * 100, 10000.0) for i in range(through)}
    return _ratio("K6-2-01", 60.0, months)


def test_a_branch_whose_data_stop_a_month_earlier_is_not_ranked_last_for_a_shorter_year():
    cons = build_consolidation([_submission(c, [_checkups(c)]) for c in PACE], [], fiscal_year=2024, month=OCT)
    niigata = cons.branch_kpis[("15", "K6-2-01")]
    assert niigata.data_month == "2024-09"
    assert niigata.achievement == min(cons.branch_kpis[(c, "K6-2-01")].achievement for c in PACE)  # lowest raw
    assert rank_basis(catalogue_for_fy(2024).kpi("K6-2-01")) == "progress"
    assert niigata.rank == 2 and niigata.rank_of == 4  # on pace: behind 東京 (102 %), ahead of 群馬 and 埼玉
    assert cons.branch_kpis[("10", "K6-2-01")].rank == 4


def test_a_level_kpi_is_still_ranked_by_achievement():
    assert rank_basis(catalogue_for_fy(2024).kpi("K6-2-12")) == "achievement"
    assert rank_basis(catalogue_for_fy(2024).kpi("K6-3-01")) == "achievement"  # '<=': no pace


def test_a_mark_is_still_the_result_against_the_annual_target():
    cons = build_consolidation([_submission(c, [_checkups(c)]) for c in PACE], [], fiscal_year=2024, month=OCT)
    assert all(cons.branch_kpis[(c, "K6-2-01")].rating.mark == MISSED for c in PACE)
