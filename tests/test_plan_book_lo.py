"""The 群馬 令和3年度 事業計画 typed into the plan workbook in LibreOffice, as a person types it, read back;
and every printed page of the plan workbook readable (8 pt or more, no 「###」).

LibreOffice is the second writer: 「61.0%」 typed into a 0.0% cell, 「259,725」 into a count cell, the
activities as text (tests/lo.py lo_fill).  The saved workbook's 入力チェック, computed by LibreOffice,
counts the four measures 群馬 wrote nothing for that a plan must cover.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import unicodedata

import openpyxl
import pytest

from kpisheet.domain.settings import example_settings
from kpisheet.plan.reader import read_plan
from kpisheet.plan.template import generate_plans
from tests.builders.plan_book import assert_gunma, gunma_values
from kpisheet.plan import template as tp
from tests.builders.sample import fill_by_names
from tests.lo import CSV_FILTER, convert, lo_fill, requires_soffice, sheet_csvs
from tests.printing import _WORD, _bbox, _per_sheet, skip_without_printing

pytestmark = pytest.mark.soffice
MIN_POINTS = 8.0


@pytest.fixture(scope="module")
def typed_in_libreoffice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("plan_lo")
    (plan_book,) = generate_plans(2021, d / "out", branches=["10"], settings=example_settings(),
                                  generated_at=datetime(2021, 1, 12, tzinfo=timezone.utc))
    out = d / "10_群馬支部_FY2021_事業計画_typed.xlsx"
    lo_fill(plan_book, out, gunma_values(typed=True), timeout=600)
    return out


@requires_soffice
def test_gunma_typed_in_libreoffice_reads_back_with_every_target_and_count(typed_in_libreoffice: Path) -> None:
    plan = read_plan(typed_in_libreoffice)
    assert [(f.code, f.cell) for f in plan.findings] == []
    assert plan.saved_by is not None and "LibreOffice" in plan.saved_by
    assert_gunma(plan)


@requires_soffice
def test_the_workbook_counts_the_measures_left_empty(typed_in_libreoffice: Path) -> None:
    wb = openpyxl.load_workbook(typed_in_libreoffice, data_only=True)  # LibreOffice saved what it computed
    ((sheet, ref),) = wb.defined_names["check_count"].destinations
    assert wb[sheet][ref.replace("$", "")].value == 4  # 5-2-5, 5-3-I-1, 5-3-I-4, 5-3-I-5 (5-3-III-2 is optional)
    ws = wb["施策と事業内容"]
    said = [c.value for row in ws.iter_rows(min_col=7, max_col=7) for c in row if c.value]
    assert len([s for s in said if s.startswith("事業内容を1行以上記入してください")]) == 4
    kpis = [c.value for row in wb["年間目標"].iter_rows(min_col=8, max_col=8) for c in row if c.value]
    assert kpis == ["確認"]  # every rate agrees with its 見込者数 ÷ 対象者数: nothing to say
    sentences = [c.value for row in wb["年間目標"].iter_rows(min_col=3, max_col=3) for c in row
                 if isinstance(c.value, str) and c.value.endswith("とする。")]
    assert "生活習慣病予防健診実施率を61.0%以上とする。" in sentences
    assert "ジェネリック医薬品使用割合を年度末時点で80.7%以上とする。" in sentences
    assert "健康宣言事業所数を1,100事業所以上とする。" in sentences
    assert "サービススタンダードの達成状況を100%とする。" in sentences


def _kanji(word: str) -> bool:
    return len(word) >= 2 and all(unicodedata.name(ch, "").startswith("CJK UNIFIED") for ch in word)


def _measure(pdf: Path) -> tuple[list[float], list[str]]:
    """([smallest printed size on each page], [every word]): sizes from words of kanji only, each one em
    wide.  (LibreOffice compresses Japanese punctuation and small kana at line ends — 「る。」 prints
    narrower than two ems — so words holding them would measure a 9 pt line as 6 pt.)"""
    boxes = _bbox(pdf)
    sizes = []
    for page in boxes.split("<page ")[1:]:
        widths = [(float(x1) - float(x0)) / len(t) for x0, _, x1, _, t in _WORD.findall(page) if _kanji(t)]
        sizes.append(min(widths) if widths else 0.0)
    return sizes, [w[-1] for w in _WORD.findall(boxes)]


@requires_soffice
def test_every_page_of_the_plan_workbook_prints_at_8_points(typed_in_libreoffice: Path) -> None:
    skip_without_printing()
    printed = _per_sheet(typed_in_libreoffice, 600, _measure)
    hashes = {sheet: [w for w in words if "###" in w] for sheet, (_, words) in printed.items()
              if any("###" in w for w in words)}
    assert not hashes, f"「###」 printed on {hashes}"
    sizes = {sheet: pages for sheet, (pages, _) in printed.items()}
    assert set(sizes) == {"入力の手引き", "施策と事業内容", "年間目標"} and all(sizes.values())
    small = {sheet: [(i, round(pt, 2)) for i, pt in enumerate(pages, 1) if pt < MIN_POINTS]
             for sheet, pages in sizes.items()}
    assert not any(small.values()), small


# mistakes a branch makes, each in its own KPI or measure, in one copy of the filled 群馬 plan
MISTAKES: dict[str, str | float | None] = {
    "pl_K5_2_04_target": 0.25, "pl_K5_2_04_pop": 29003.0, "pl_K5_2_04_planned": 7289.0,  # 7,289÷29,003 = 25.1%
    "pl_K5_2_05_planned": 2000.0,  # more than its 対象者数 1,958 (and so not 8.0%)
    "pl_K5_1_02_expected": 0.97,  # last year 97.0%, target 96.9%, no 目標の考え方
    "pl_K5_3_01_target": 0.25,  # 25% where the national target is 20%以下
    "pl_K5_1_08_target": 92.7,  # typed without %
    "pl_K5_2_09_target": None,  # 数値 and no target
    "pl_K5_1_03_target": 0.3,  # a number where the kind is 対前年度以上
    "pl_M_5_1_1_r3_level": "(3)",  # a numbered row without 事業内容
}


@requires_soffice
def test_the_workbook_flags_each_mistake_in_words(tmp_path: Path) -> None:
    (plan_book,) = generate_plans(2021, tmp_path / "out", branches=["10"], settings=example_settings())
    filled = tmp_path / "mistakes.xlsx"
    fill_by_names(plan_book, filled, {**gunma_values(typed=False), **MISTAKES})
    convert(filled, CSV_FILTER, tmp_path / "csv")
    sheets = sheet_csvs(tmp_path / "csv", filled.stem)
    said = [row[7] for row in sheets["年間目標"] if len(row) > 7 and row[7] and row[7] != "確認"]
    said += [row[6] for row in sheets["施策と事業内容"] if len(row) > 6 and row[6] and row[6] != "確認"]
    words = "".join(said)
    for text, times in ((tp.RATE_MISMATCH, 2), (tp.OVER_POPULATION, 1), (tp.BELOW_LAST_YEAR, 1),
                        (tp.LAXER_THAN_FIXED, 1), ("％が付いていません", 1), ("年間目標を入力してください。", 1),
                        (tp.RULE_WITH_NUMBER, 1), (tp.ITEM_WITHOUT_TEXT, 1), (tp.EMPTY_MEASURE, 4)):
        assert words.count(text) == times, (text, said)
    guide = sheets["入力の手引き"]
    assert guide[4][2] in ("13", "13件")  # the 4 empty measures and the 9 cells above
