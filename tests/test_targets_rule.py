"""A 対前年度 target is the rule applied to the previous-year value in force at rating time (README,
"Ratings"): HQ's latest --baseline, else the value HQ prefilled; a branch's change to a prefilled
previous-year value is W420 and is not used; a target an older workbook froze follows the rule."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from kpisheet.check.validation import validate
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.read.names import SHEET_META
from kpisheet.read.reader import read_workbook
from kpisheet.template.build import generate
from kpisheet.write.report.plan_status import kpi_sentence
from tests.builders.sample import fill_by_names, sample_values

from . import helpers as h
from .consolidate_helpers import den, field, num

OCT24 = date(2024, 10, 1)
KPI = "K6-1-04"  # 再審査レセプト1件当たりの査定額: 対前年度以上, yen


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rule")
    base = root / "baseline.csv"
    base.write_text(f"branch,kpi_id,value\n11,{KPI},9391\n11,K6-2-08,82.1%\n", encoding="utf-8")
    return generate(2024, ["11"], root / "tpl", baseline_path=base, force=True).paths[0]


def _filled(template: Path, out: Path, **cells) -> Path:
    values = sample_values(load_catalogue(6), 2024, "11", OCT24)
    d = values[den(KPI, OCT24)]
    values[num(KPI, OCT24)] = 9699 * d  # 9,699円 in October
    values.update({field(KPI, k): v for k, v in cells.items()})
    fill_by_names(template, out, values)
    return out


def _rate(path: Path, baselines: dict | None = None):
    result = validate([path], fiscal_year=2024, as_of=OCT24)
    cons = build_consolidation(result.every_submission, result.findings, fiscal_year=2024, month=OCT24,
                               baselines=baselines or {})
    return cons.branch_kpis[("11", KPI)], [f for f in result.findings if f.subject == KPI]


def test_the_target_follows_the_previous_year_value_in_force(template, tmp_path):
    """埼玉 K6-1-04: HQ prefilled 9,391円, the result is 9,699円.  When HQ's final previous-year value
    (10,000円) arrives as --baseline, the target moves with it and the mark is △."""
    path = _filled(template, tmp_path / template.name)
    sub = read_workbook(path)
    assert sub.kpis[KPI].target.value is None and sub.prefilled_baselines[KPI] == 9391
    bk, found = _rate(path)
    assert (bk.annual_target, bk.baseline_source, bk.target_source, bk.rating.mark) == (
        9391, "本部記入済み（ブック）", "previous_year", "○")
    assert found == []
    assert kpi_sentence(load_catalogue(6).kpi(KPI), bk).endswith("を前年度（9,391円）以上とする")
    bk, _ = _rate(path, {("11", KPI): 10000.0})
    assert (bk.annual_target, bk.baseline_source, bk.rating.mark) == (10000, "本部の前年度値ファイル", "△")
    assert kpi_sentence(load_catalogue(6).kpi(KPI), bk).endswith("を前年度（10,000円）以上とする")


@pytest.mark.parametrize("typed, shown", [(9000, "9,000円"), (None, "空欄")])
def test_a_branch_cannot_move_hqs_previous_year_value(template, tmp_path, typed, shown):
    """Lowering (or clearing) the prefilled 前年度実績 is W420 naming HQ's value; HQ's value is used."""
    path = _filled(template, tmp_path / template.name, baseline=typed)
    bk, found = _rate(path)
    assert [f.code for f in found] == ["W420"]
    assert "本部が記入した 9,391円 から " + shown in found[0].message_ja
    assert "本部の値 9,391円 を使います" in found[0].message_ja
    assert (bk.annual_target, bk.rating.mark) == (9391, "○")


def test_a_result_below_hqs_value_stays_below_whatever_the_branch_types(template, tmp_path):
    """The branch lowers 前年度実績 below its result: still △ against HQ's latest value, with W420."""
    path = _filled(template, tmp_path / template.name, baseline=9000)
    bk, found = _rate(path, {("11", KPI): 9800.0})
    assert (bk.annual_target, bk.rating.mark) == (9800, "△") and [f.code for f in found] == ["W420"]


def test_generic_k6_2_08_follows_its_condition_and_says_at_year_end(template, tmp_path):
    path = _filled(template, tmp_path / template.name)
    result = validate([path], fiscal_year=2024, as_of=OCT24)
    cons = build_consolidation(result.every_submission, result.findings, fiscal_year=2024, month=OCT24)
    bk = cons.branch_kpis[("11", "K6-2-08")]
    assert (bk.annual_target, bk.target_source) == (82.1, "generic_condition")
    assert kpi_sentence(load_catalogue(6).kpi("K6-2-08"), bk) == \
        "ジェネリック医薬品使用割合を年度末時点で前年度（82.1%）以上とする"


def _older(src: Path, dst: Path) -> Path:
    """As a workbook made before this change: target cell = the prefilled baseline, recorded as a
    prefilled target, no prefilled_baselines row in _meta."""
    def put(wb: openpyxl.Workbook) -> None:
        for row in wb[SHEET_META].iter_rows():
            if row[0].value == "prefilled_targets":
                row[1].value = json.dumps({**json.loads(row[1].value), KPI: 9391})
            if row[0].value == "prefilled_baselines":
                row[0].value = row[1].value = None
        (sheet, ref), = wb.defined_names[field(KPI, "target")].destinations
        wb[sheet][ref.replace("$", "")].value = 9391
    return h.edit(src, dst, put)


def test_an_older_workbooks_frozen_target_follows_the_rule(template, tmp_path):
    (tmp_path / "src").mkdir()
    path = _older(_filled(template, tmp_path / "src" / template.name), tmp_path / template.name)
    sub = read_workbook(path)
    assert sub.rule_targets == (KPI,) and sub.prefilled_baselines == {KPI: 9391}
    bk, found = _rate(path, {("11", KPI): 10000.0})
    assert (bk.annual_target, bk.target_source, bk.rating.mark) == (10000, "previous_year", "△")
    assert found == []  # the kept target is no W416/W417
    bk, _ = _rate(path)
    assert (bk.annual_target, bk.target_source, bk.rating.mark) == (9391, "previous_year", "○")


def test_a_kpi_with_no_in_year_figure_is_dash_compiled_after_year_end():
    """K5-2-06 / K6-2-06 (data_lag annual): no result in-year is 「— 年度終了後に集計」, not 未報告."""
    from kpisheet.domain.ratings import AnnualTarget, rate_kpi

    for term, kpi_id in ((5, "K5-2-06"), (6, "K6-2-06")):
        kpi = load_catalogue(term).kpi(kpi_id)
        assert kpi.lag_annual
        rating = rate_kpi(kpi, result=None, target=AnnualTarget(13.1, "previous_year", "", ""))
        assert (rating.mark, rating.reason_ja) == ("—", "年度終了後に集計")
    assert not load_catalogue(6).kpi("K6-2-01").lag_annual
