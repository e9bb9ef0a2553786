"""Ranks by achievement (result ÷ target, target ÷ result for '<='), shown 「3/44」."""

from __future__ import annotations

from datetime import date

import pytest

from kpisheet.consolidate.model import achievement, rank_ja
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.ratings import RATIO_CEILING
from kpisheet.month import consolidate
from kpisheet.write.csvout import CSV_COLUMNS, csv_rows
from tests.builders.sample import sample_values

from .consolidate_helpers import den, field, filled, num, val

APR24, MAY24 = date(2024, 4, 1), date(2024, 5, 1)  # ratios are year-to-date: April = May here
CODES = ("10", "11", "13", "14")  # 群馬, 埼玉, 東京 (the biggest), 神奈川

# K6-2-07 健康宣言事業所数 (count, '>='): (value in October, the branch's target)
DECLARED = {"10": (120.0, 100.0), "11": (500.0, 500.0), "13": (900.0, 1000.0), "14": (240.0, 200.0)}
# K6-3-01 一者応札割合 ('<=', fixed target 15.0 %): (numerator, denominator) in October
SINGLE_BID = {"10": (30, 200), "11": (6, 100), "13": (0, 50), "14": (12, 100)}
# K6-2-02 事業者健診データ: (numerator, denominator, target); 神奈川 sets no target
EMPLOYER_DATA = {"10": (50, 100, 0.40), "11": (45, 100, 0.50), "13": (30, 100, 0.30), "14": (60, 100, None)}


def _values(code: str) -> dict:
    values = sample_values(load_catalogue(6), 2024, code, MAY24)
    count, target = DECLARED[code]
    values[val("K6-2-07", MAY24)], values[field("K6-2-07", "target")] = count, target
    n, d, target = EMPLOYER_DATA[code]
    values[field("K6-2-02", "target")] = target
    for month in (APR24, MAY24):
        values[num("K6-3-01", month)], values[den("K6-3-01", month)] = SINGLE_BID[code]
        values[num("K6-2-02", month)], values[den("K6-2-02", month)] = n, d
        if code in ("10", "11"):  # 64.84 % shows as 64.8 %: on target exactly, like 64.8 %
            values[num("K6-2-01", month)], values[den("K6-2-01", month)] = \
                (6484, 10000) if code == "10" else (648, 1000)
    if code in ("10", "11"):
        values[field("K6-2-01", "target")] = 0.648
    return values


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranks")
    for code in CODES:
        filled(root, root / "inbox", 2024, code, _values(code), CODES)
    return consolidate(root / "inbox", fiscal_year=2024, month=MAY24)


def _ranks(cons, kpi_id):
    return {c: cons.branch_kpis[(c, kpi_id)].rank for c in CODES}


def test_a_big_branch_below_its_target_ranks_low_on_a_count(ranked):
    bks = {c: ranked.branch_kpis[(c, "K6-2-07")] for c in CODES}
    assert max(CODES, key=lambda c: bks[c].value) == "13"  # 東京 has the most by far
    assert {c: bk.achievement for c, bk in bks.items()} == {"10": 1.2, "11": 1.0, "13": 0.9, "14": 1.2}
    assert _ranks(ranked, "K6-2-07") == {"10": 1, "14": 1, "11": 3, "13": 4}  # 1, 1, 3: a tie
    assert rank_ja(bks["13"]) == "4/4" and rank_ja(bks["10"]) == "1/4"


def test_a_lower_is_better_kpi_ranks_the_smaller_result_first(ranked):
    bks = {c: ranked.branch_kpis[(c, "K6-3-01")] for c in CODES}
    assert bks["13"].achievement == RATIO_CEILING  # 0 %: the best possible, and a finite number
    assert bks["11"].achievement == pytest.approx(15.0 / 6.0)
    assert bks["10"].achievement == pytest.approx(1.0)
    assert _ranks(ranked, "K6-3-01") == {"13": 1, "11": 2, "14": 3, "10": 4}


def test_rank_of_counts_only_the_ranked_branches(ranked):
    bks = {c: ranked.branch_kpis[(c, "K6-2-02")] for c in CODES}
    assert (bks["14"].achievement, bks["14"].rank, bks["14"].rank_of) == (None, None, None)
    assert rank_ja(bks["14"]) == ""
    assert _ranks(ranked, "K6-2-02") == {"10": 1, "13": 2, "11": 3, "14": None}
    assert {bks[c].rank_of for c in ("10", "11", "13")} == {3}
    assert rank_ja(bks["11"]) == "3/3"


def test_achievement_is_compared_at_the_shown_precision(ranked):
    a, b = ranked.branch_kpis[("10", "K6-2-01")], ranked.branch_kpis[("11", "K6-2-01")]
    assert a.value == pytest.approx(64.84) and b.value == pytest.approx(64.8)
    assert a.achievement == b.achievement == 1.0
    assert a.rank == b.rank


def test_the_generic_kpi_ranks_against_each_branch_own_target(ranked):
    bks = [ranked.branch_kpis[(c, "K6-2-08")] for c in CODES]
    assert all(bk.annual_target is not None and bk.rank is not None for bk in bks)
    assert {bk.rank_of for bk in bks} == {4}


def test_no_achievement_without_a_meaningful_target():
    cat = load_catalogue(6)
    assert achievement(cat.kpi("K6-2-07"), 10.0, 0.0) is None  # '>=' target 0: no ratio
    assert achievement(cat.kpi("K6-2-07"), None, 100.0) is None
    assert achievement(cat.kpi("K6-2-07"), 10.0, None) is None
    assert achievement(cat.kpi("K6-3-01"), 0.0, 0.0) == RATIO_CEILING
    assert achievement(cat.kpi("K6-3-01"), 1e-300, 15.0) == RATIO_CEILING  # never inf
    assert achievement(cat.kpi("K6-2-07"), 9e307, 1.0) == RATIO_CEILING
    assert achievement(cat.kpi("K6-3-01"), 20.0, 0.0) == 0.0
    assert achievement(load_catalogue(5).kpi("K5-2-10"), 1.0, 1.0) is None  # qualitative (意見発信)


def test_csv_carries_achievement_and_rank_on_the_shown_row(ranked):
    at = {name: i for i, name in enumerate(CSV_COLUMNS)}
    assert CSV_COLUMNS[at["rank"] - 1:at["rank"] + 2] == ["achievement", "rank", "rank_of"]
    rows = [r for r in csv_rows(ranked) if r[at["branch_code"]] == "13" and r[at["kpi_id"]] == "K6-2-07"]
    by_month = {r[at["month"]]: r for r in rows}
    shown = by_month["2024-05"]
    assert (shown[at["achievement"]], shown[at["rank"]], shown[at["rank_of"]]) == (90.0, 4, 4)  # in points
    earlier = by_month["2024-04"]
    assert (earlier[at["achievement"]], earlier[at["rank"]], earlier[at["rank_of"]]) == (None, None, None)
    national = [r for r in csv_rows(ranked) if r[at["branch_code"]] == "ALL" and r[at["kpi_id"]] == "K6-2-07"]
    assert national and all(r[at["rank"]] is None for r in national)
