"""Consolidation: a replayed year-end run, national sums by hand, coverage, exclusion by errors, targets."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.month import consolidate
from kpisheet.write.csvout import kpi_values_frame
from kpisheet.write.outputs import HQ_OUTPUTS, write_outputs
from tests.builders.sample import sample_values

from .consolidate_helpers import den, field, filled, mfield, num, val

MAR24 = date(2024, 3, 1)
OCT24 = date(2024, 10, 1)

# ---------------------------------------------------------------- a printed year-end report replayed
# 埼玉支部 令和5年度 事業計画実施状況 (FY2023, year end): KPI target, result and the mark the
# report printed.  Numerators / denominators are chosen to give the printed rates.
# (kpi id, target cell or None, baseline cell or None, numerator or count, denominator, target text,
#  result text, mark)
SAITAMA_FY2023 = [
    ("K5-1-01", None, None, 1000, 1000, "100.0%以上", "100.0%", "○"),       # サービススタンダード 100%
    ("K5-1-02", 0.965, None, 965, 1000, "96.5%以上", "96.5%", "○"),         # 郵送化率
    ("K5-1-03", None, 0.0031, 423, 100_000, "0.310%以上", "0.423%", "◎"),   # 査定率 (支払基金と合算)
    ("K5-1-04", None, 8364, 1_012_300, 100, "8,364円以上", "10,123円", "◎"),  # 再審査1件当たり査定額
    ("K5-1-05", None, 0.0094, 83, 10_000, "0.94%以下", "0.83%", "◎"),       # 柔整 (≤, 対前年度以下)
    ("K5-1-06", None, 0.8538, 8015, 10_000, "85.38%以上", "80.15%", "△"),   # 保険証回収率
    ("K5-1-07", None, 0.6024, 6662, 10_000, "60.24%以上", "66.62%", "◎"),   # 返納金債権回収率
    ("K5-1-08", 0.94, None, 858, 1000, "94.0%以上", "85.8%", "△"),          # 被扶養者確認書提出率
    ("K5-2-01", 0.538, None, 426, 1000, "53.8%以上", "42.6%", "△"),         # 生活習慣病予防健診
    ("K5-2-02", 0.18, None, 44, 1000, "18.0%以上", "4.4%", "△"),            # 事業者健診データ
    ("K5-2-03", 0.293, None, 139, 1000, "29.3%以上", "13.9%", "△"),         # 被扶養者特定健診
    ("K5-2-04", 0.369, None, 61, 1000, "36.9%以上", "6.1%", "△"),           # 被保険者特定保健指導
    ("K5-2-05", 0.151, None, 143, 1000, "15.1%以上", "14.3%", "△"),         # 被扶養者特定保健指導
    ("K5-2-06", 0.131, None, None, None, "13.1%以上", "—（年度終了後に集計）", "—"),  # 受診勧奨後3か月: no in-year figure
    ("K5-2-07", 1170, None, 893, None, "1,170事業所以上", "893事業所", "△"),  # 健康宣言事業所数
    ("K5-2-08", 0.819, None, 829, 1000, "81.9%以上", "82.9%", "○"),         # ジェネリック
    ("K5-2-09", 0.44, None, 441, 1000, "44.0%以上", "44.1%", "○"),          # 健康保険委員
    ("K5-3-01", None, None, 67, 1000, "20.0%以下", "6.7%", "◎"),            # 一者応札 ≤20%
]
OPINION = "病床機能報告定量基準分析結果に対して意見発信"  # K5-2-10, self-rated ○


def saitama_fy2023_values() -> dict:
    values: dict = {}
    for kpi_id, target, baseline, n, d, *_ in SAITAMA_FY2023:
        if target is not None:
            values[field(kpi_id, "target")] = target
        if baseline is not None:  # 対前年度: the workbook's target is last year's value too
            values[field(kpi_id, "baseline")] = baseline
            values[field(kpi_id, "target")] = baseline
        if n is None:
            continue
        if d is None:
            values[val(kpi_id, MAR24)] = n
        else:
            values[num(kpi_id, MAR24)], values[den(kpi_id, MAR24)] = n, d
    values[field("K5-2-10", "text")] = OPINION
    values[field("K5-2-10", "rating")] = "○"
    values[mfield("5-1-1", "text", 1)] = "評議会において丁寧な説明をしたうえで、保険料率に関する議論を行う"
    values[mfield("5-1-1", "rating", 1)] = "○"
    values[mfield("5-1-3", "text", 2)] = "限度額適用認定証の使用率の低い医療機関に対して利用促進の働きかけを行う"
    values[mfield("5-1-3", "rating", 2)] = "×"
    values[mfield("5-1-3", "note", 2)] = "オンライン資格確認の普及により実施を見送った"
    values[mfield("5-2-1-i", "text", 1)] = "健診・保健指導カルテ等から勧奨対象者を選定し受診を促進する"
    values[mfield("5-2-1-i", "rating", 1)] = "○"
    return values


@pytest.fixture(scope="module")
def saitama_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("saitama_fy2023")
    filled(root, root / "inbox", 2023, "11", saitama_fy2023_values())
    cons = consolidate(root / "inbox", fiscal_year=2023, month=MAR24)
    outputs = write_outputs(cons, root / "out", force=False).paths
    return cons, outputs


def test_saitama_fy2023_marks_in_the_consolidation(saitama_run):
    cons, _ = saitama_run
    got = {kpi_id: cons.branch_kpis[("11", kpi_id)].rating.mark for kpi_id, *_ in SAITAMA_FY2023}
    assert got == {row[0]: row[-1] for row in SAITAMA_FY2023}
    assert cons.branch_kpis[("11", "K5-2-06")].rating.reason_code == "after_year_end"
    assert cons.branch_kpis[("11", "K5-2-10")].rating.mark == "○"


def test_saitama_fy2023_rows_of_the_rated_table(saitama_run):
    """評価一覧 (lists workbook) has the printed report's columns and, per KPI, its target, result and mark;
    取組状況 the branch's activities with their self-rating."""
    _, outputs = saitama_run
    lists = next(p for p in outputs if p.name.startswith("全支部_評価一覧_"))
    wb = openpyxl.load_workbook(lists)
    rows = list(wb["評価一覧"].iter_rows(min_row=3, values_only=True))
    assert rows[0][3:9] == ("具体的な施策", "KPI ID", "事業内容（KPI）", "KPI目標", "KPI結果", "結果")
    by_kpi = {r[4]: r for r in rows[1:]}
    for kpi_id, *_rest, target_text, result_text, mark in SAITAMA_FY2023:
        row = by_kpi[kpi_id]
        assert row[:2] == ("11", "埼玉")
        said = "診療" if kpi_id == "K5-2-08" else "現在"  # ジェネリック: a month of care, 「（R6.3診療）」
        shown = result_text if result_text.startswith("—") else f"{result_text}（R6.3{said}）"  # its data month
        assert row[6:9] == (target_text, shown, mark), kpi_id
    assert by_kpi["K5-2-10"][6:9] == ("効果的な意見発信の実施", OPINION, "○")
    activities = list(wb["取組状況"].iter_rows(min_row=3, values_only=True))
    cross = [r for r in activities[1:] if r[5] and "限度額適用認定証の使用率" in r[5]][0]
    assert (cross[3], cross[6], cross[7]) == ("③ 限度額適用認定証の利用促進", "×",
                                              "オンライン資格確認の普及により実施を見送った")


def test_saitama_fy2023_good_activity_under_a_missed_kpi_is_not_a_finding(saitama_run):
    """5-2-1-i's activity is self-rated ○ while its KPI 生活習慣病予防健診 is △ — seed 003:66-70
    does exactly this (six groups do): the activity was done as planned, the KPI fell short."""
    cons, _ = saitama_run
    assert cons.branch_kpis[("11", "K5-2-01")].rating.mark == "△"
    assert not [f for f in cons.findings if f.branch == "11" and f.sheet == "取組状況" and f.code != "W502"]


# ---------------------------------------------------------------- national sums by hand
CODES = ["10", "11", "13"]


@pytest.fixture(scope="module")
def national_inputs():
    cat = load_catalogue(6)
    values = {c: sample_values(cat, 2024, c, OCT24) for c in CODES}
    # 東京: October's numerator exceeds its denominator (E401) -> left out of K6-2-01 only
    values["13"][num("K6-2-01", OCT24)] = values["13"][den("K6-2-01", OCT24)] + 1
    return values


@pytest.fixture(scope="module")
def national_run(tmp_path_factory, national_inputs):
    root = tmp_path_factory.mktemp("national")
    for code in CODES:
        filled(root, root / "inbox", 2024, code, national_inputs[code], tuple(CODES))
    return consolidate(root / "inbox", fiscal_year=2024, month=OCT24)


def test_national_rate_is_sum_of_numerators_over_sum_of_denominators(national_run, national_inputs):
    n = national_run.national["K6-2-01"]
    nums = [national_inputs[c][num("K6-2-01", OCT24)] for c in ("10", "11")]
    dens = [national_inputs[c][den("K6-2-01", OCT24)] for c in ("10", "11")]
    assert (n.numerator, n.denominator) == (sum(nums), sum(dens))
    assert n.value == pytest.approx(100 * sum(nums) / sum(dens))
    mean_of_rates = 100 * (nums[0] / dens[0] + nums[1] / dens[1]) / 2
    assert n.value != pytest.approx(mean_of_rates, abs=1e-6)
    assert n.covered == ("10", "11")
    assert ("13", "エラーにより除外") in n.left_out
    assert ("01", "未提出または読込不可") in n.left_out


def test_national_ratio_by_hand_for_every_month(national_run, national_inputs):
    for m in range(4, 10):
        month = date(2024, m, 1)
        n = sum(national_inputs[c][num("K6-2-03", month)] for c in CODES)
        d = sum(national_inputs[c][den("K6-2-03", month)] for c in CODES)
        assert national_run.national_months[("K6-2-03", f"2024-{m:02d}")].value == pytest.approx(100 * n / d)


def test_national_count_is_the_sum(national_run, national_inputs):
    n = national_run.national["K6-2-07"]
    assert n.value == sum(national_inputs[c][val("K6-2-07", OCT24)] for c in CODES)
    assert n.covered == ("10", "11", "13")


def test_national_mark_uses_the_term_goal_when_no_annual_target_is_given(national_run):
    n = national_run.national["K6-2-01"]  # term goal 64.8 %, no --targets row ALL: never pro-rated
    assert n.rating.effective_target == pytest.approx(64.8) and n.rating.target_source == "term_goal"
    expected = "◎" if n.value >= 64.8 * 1.1 else "○" if n.value >= 64.8 else "△"
    assert n.rating.mark == expected and "第6期末目標" in n.target_basis
    assert n.data_month == "2024-10"
    assert n.progress == pytest.approx(n.value / (64.8 * 7 / 12))


def test_targets_file_sets_branch_and_national_targets(national_run):
    from kpisheet.consolidate.build import build_consolidation

    cons = build_consolidation(national_run.submissions, [], fiscal_year=2024, month=OCT24,
                               targets={("10", "K6-1-05"): 55.0, ("ALL", "K6-2-01"): 58.0})
    bk = cons.branch_kpis[("10", "K6-1-05")]  # new definition: no baseline; HQ's --targets gives the target
    assert (bk.annual_target, bk.target_source) == (55.0, "targets_file")
    assert "本部の目標値ファイル" in bk.target_basis
    n = cons.national["K6-2-01"]
    assert (n.annual_target, n.rating.target_source) == (58.0, "targets_file")


def test_generic_nationally_counts_the_branches_that_met_their_condition(national_run):
    """K6-2-08 「全支部において…80%以上」 (seed 002:214): met / reporting, rated against all of them."""
    n = national_run.national["K6-2-08"]
    marks = [national_run.branch_kpis[(c, "K6-2-08")].rating.mark for c in CODES]
    met = sum(1 for m in marks if m in ("◎", "○"))
    assert n.branches_met == (met, len(CODES))
    assert n.rating.mark == ("○" if met == len(CODES) else "△")
    assert n.value is not None  # the pooled rate stays beside it as information


def test_national_without_baseline_is_dash_with_reason(national_run):
    n = national_run.national["K6-1-02"]  # 対前年度以上, no --baseline given
    assert (n.rating.mark, n.rating.reason_code) == ("—", "no_baseline")


def test_error_value_is_excluded_but_the_branch_still_counts_elsewhere(national_run, national_inputs):
    bk = national_run.branch_kpis[("13", "K6-2-01")]
    assert (bk.rating.mark, bk.rating.reason_code) == ("—", "excluded_error")
    assert national_run.branch_kpis[("13", "K6-2-07")].value == national_inputs["13"][val("K6-2-07", OCT24)]
    e401 = [f for f in national_run.findings if f.code == "E401" and f.branch == "13"]
    assert e401 and e401[0].name == num("K6-2-01", OCT24)
    status = {s.code: s for s in national_run.statuses}
    assert status["13"].status == "エラーあり"
    assert any("K6-2-01" in t for t in status["13"].left_out)
    assert status["12"].status == "未提出"
    assert status["10"].errors == sum(1 for f in national_run.findings if f.branch == "10" and f.is_error)
    assert status["10"].status == ("エラーあり" if status["10"].errors else "提出済")


def test_ranks_best_achievement_first(national_run, national_inputs):
    def achievement(code: str) -> float:
        return national_inputs[code][val("K6-2-07", OCT24)] / national_inputs[code][field("K6-2-07", "target")]

    best_first = sorted(CODES, key=lambda c: -achievement(c))
    ranks = {c: national_run.branch_kpis[(c, "K6-2-07")].rank for c in CODES}
    assert ranks == {c: i for i, c in enumerate(best_first, 1)}
    assert {national_run.branch_kpis[(c, "K6-2-07")].rank_of for c in CODES} == {3}


def test_kpi_values_frame_one_row_per_branch_kpi_month(national_run):
    frame = kpi_values_frame(national_run)
    row = frame[(frame.branch_code == "11") & (frame.kpi_id == "K6-2-01") & (frame.month == "2024-10")]
    assert len(row) == 1
    n, d = row.iloc[0]["numerator"], row.iloc[0]["denominator"]
    assert row.iloc[0]["value_raw"] == pytest.approx(100 * n / d)
    shown_value = row.iloc[0]["value"]  # as shown (K6-2-01: one decimal)
    assert shown_value == round(shown_value, 1) and abs(shown_value - 100 * n / d) <= 0.05
    national = frame[(frame.branch_code == "ALL") & (frame.kpi_id == "K6-2-01") & (frame.month == "2024-10")]
    assert national.iloc[0]["value_raw"] == pytest.approx(national_run.national["K6-2-01"].value)
    assert set(frame.month) == {f"2024-{m:02d}" for m in range(4, 11)}


def test_baseline_file_gives_the_target(tmp_path, national_run):
    from kpisheet.consolidate.build import build_consolidation

    cons = build_consolidation(national_run.submissions, [], fiscal_year=2024, month=OCT24,
                               baselines={("10", "K6-1-02"): 90.0, ("00", "K6-1-02"): 94.0})
    bk = cons.branch_kpis[("10", "K6-1-02")]
    assert (bk.baseline, bk.baseline_source, bk.annual_target) == (90.0, "本部の前年度値ファイル", 90.0)
    assert bk.rating.mark in ("○", "◎")
    assert cons.national["K6-1-02"].annual_target == 94.0


# ---------------------------------------------------------------- writing in two processes
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".kpisheet.lock"}  # the run's lock stays, empty


def test_parallel_and_serial_writes_give_the_same_bytes(tmp_path, national_run):
    """The national workbook written in a forked child equals the one written in-process."""
    from datetime import datetime, timezone

    created = datetime(2024, 11, 5, 9, 30, tzinfo=timezone.utc)
    serial = write_outputs(national_run, tmp_path / "serial", force=False, parallel=False, created=created).paths
    parallel = write_outputs(national_run, tmp_path / "parallel", force=False, parallel=True,
                             created=created).paths
    assert [p.relative_to(tmp_path / "serial") for p in serial] == \
           [p.relative_to(tmp_path / "parallel") for p in parallel]
    assert serial[0].name == "national_FY2024_2024-10.xlsx" and len(serial) == len(HQ_OUTPUTS) + 2 + len(CODES)  # + the CSV and its xlsx
    a, b = _tree(tmp_path / "serial"), _tree(tmp_path / "parallel")
    assert a == b and len(a) == len(serial)  # no temporary files left either


def test_parallel_write_reports_the_national_workbook_failure(tmp_path, national_run, monkeypatch):
    from kpisheet.write import outputs

    def refuse(cons, path, *, force, created=None):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(outputs, "write_national", refuse)
    with pytest.raises(PermissionError) as info:
        write_outputs(national_run, tmp_path, force=False, parallel=True)
    assert Path(info.value.filename).name == "national_FY2024_2024-10.xlsx"
    # no partial output: neither the CSV nor any feedback file is left behind
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".kpisheet.lock"] == []


# ---------------------------------------------------------------- late submissions, times in JST
def _settings(deadline_day: int) -> Any:
    """HQ's settings: the report for October is due on `deadline_day` of November."""
    from kpisheet.domain.settings import HqSettings

    return HqSettings("本部 企画部", "担当者", "03-0000-0000", "hq@example.jp", deadline_day, "keep", "test")


def _late_run(path: Path, utc: datetime, submissions: list, saved: str | None = None) -> tuple[Any, Any]:
    """Consolidate with the file arrived at `utc` and the workbook last saved at `saved` (ISO, or none)."""
    from dataclasses import replace

    from kpisheet.consolidate.build import build_consolidation

    os.utime(path, (utc.timestamp(), utc.timestamp()))
    cons = build_consolidation([replace(s, saved_at=saved) for s in submissions], [], fiscal_year=2024,
                               month=OCT24, settings=_settings(8))  # 2024-11-08 is a Friday
    return cons, {s.code: s for s in cons.statuses}["11"]


def test_a_workbook_without_a_saved_time_is_late_when_it_came_after_the_deadline_day(tmp_path):
    values = sample_values(load_catalogue(6), 2024, "11", OCT24)
    path = filled(tmp_path, tmp_path / "inbox", 2024, "11", values)
    subs = consolidate(tmp_path / "inbox", fiscal_year=2024, month=OCT24).submissions
    cons, status = _late_run(path, datetime(2024, 11, 8, 14, 59, tzinfo=timezone.utc), subs)  # 23:59 JST
    assert (status.received_at, status.late, cons.deadline) == ("2024-11-08 23:59", False, date(2024, 11, 8))
    assert cons.summary()["branches"]["late_codes"] == [] and cons.summary()["deadline"] == "2024-11-08"
    cons, status = _late_run(path, datetime(2024, 11, 8, 15, 0, tzinfo=timezone.utc), subs)  # 0:00 JST the 9th
    assert (status.received_at, status.late) == ("2024-11-09 00:00", True)
    branches = cons.summary()["branches"]
    assert (branches["late"], branches["late_codes"], branches["late_names"]) == (1, ["11"], ["11 埼玉支部"])


def test_the_workbooks_own_saved_time_decides_not_the_file_time(tmp_path):
    """A file saved by the branch on the 8th and saved into the inbox by HQ on the 12th is on time;
    one saved on the 9th is late even when its file time says the 7th (a copy kept the old time)."""
    path = filled(tmp_path, tmp_path / "inbox", 2024, "11", sample_values(load_catalogue(6), 2024, "11", OCT24))
    subs = consolidate(tmp_path / "inbox", fiscal_year=2024, month=OCT24).submissions
    _, status = _late_run(path, datetime(2024, 11, 12, 1, 0, tzinfo=timezone.utc), subs, "2024-11-08T05:00:00Z")
    assert (status.saved_at, status.received_at, status.late) == ("2024-11-08 14:00", "2024-11-12 10:00", False)
    _, status = _late_run(path, datetime(2024, 11, 7, 1, 0, tzinfo=timezone.utc), subs, "2024-11-08T15:30:00Z")
    assert (status.saved_at, status.late) == ("2024-11-09 00:30", True)


def test_a_time_of_arrival_given_overrides_the_file_time(tmp_path):
    from dataclasses import replace

    from kpisheet.consolidate.build import build_consolidation

    path = filled(tmp_path, tmp_path / "inbox", 2024, "11", sample_values(load_catalogue(6), 2024, "11", OCT24))
    early = datetime(2024, 11, 1, tzinfo=timezone.utc).timestamp()
    os.utime(path, (early, early))
    subs = [replace(s, saved_at=None) for s in consolidate(tmp_path / "inbox", fiscal_year=2024,
                                                             month=OCT24).submissions]
    cons = build_consolidation(subs, [], fiscal_year=2024, month=OCT24, settings=_settings(8),
                               received={str(path): "2024-11-09T09:30:00+09:00"})
    status = {s.code: s for s in cons.statuses}["11"]
    assert (status.received_at, status.late) == ("2024-11-09 09:30", True)


def test_without_settings_nobody_is_late_and_saved_at_is_shown_in_jst(national_run):
    from kpisheet.consolidate.build import build_consolidation

    subs = [replace(s, saved_at="2024-11-07T05:03:00Z") if s.branch_code == "10" else s
            for s in national_run.submissions]
    cons = build_consolidation(subs, [], fiscal_year=2024, month=OCT24)
    status = {s.code: s for s in cons.statuses}
    assert status["10"].saved_at == "2024-11-07 14:03"
    assert not any(s.late for s in cons.statuses) and cons.deadline is None
    assert status["10"].received_at is not None and status["12"].received_at is None  # 12 sent nothing
    assert cons.summary()["deadline"] is None


def test_times_are_shown_in_japan_standard_time(monkeypatch):
    import zoneinfo

    from kpisheet.domain import fiscal
    from kpisheet.domain.fiscal import jst_text

    assert jst_text("2024-11-07T05:03:00Z") == "2024-11-07 14:03"  # docProps/core.xml writes UTC
    assert jst_text("2024-11-07T23:03:00+09:00") == "2024-11-07 23:03"
    assert jst_text(datetime(2024, 3, 31, 15, 0)) == "2024-04-01 00:00"  # no offset: UTC
    assert (jst_text(None), jst_text(" "), jst_text("昨日")) == (None, None, "昨日")

    def no_database(key):
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", no_database)
    fixed = fiscal._tokyo()
    assert datetime(2024, 11, 7, 5, 3, tzinfo=timezone.utc).astimezone(fixed).hour == 14
