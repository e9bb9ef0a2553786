"""The workbook's own 入力チェック flags the cells `kpisheet validate` flags — computed by LibreOffice.

Each mistake a branch makes is typed into a copy of a clean, filled template (openpyxl writes
the values; LibreOffice computes the formulas when it converts the copies to CSV, all in one
soffice run).  For every copy the cells whose hidden helper holds a reason (so the cell is red
and its row's 確認 cell says why) are exactly the cells `validate` names, and the count the
sheet shows (the name `check_count`) is their number.  A clean fill shows 0.  Then a person
types the same kind of mistakes in LibreOffice itself (tests/lo.py lo_fill), and the saved
workbook says the same as the validator.
"""

from __future__ import annotations

import warnings
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.check.selfcheck import SELF_CHECK_CODES
from kpisheet.check.validation import validate
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.read import names as nm
from kpisheet.template.book import _page_breaks
from kpisheet.template.layout import CHECK_OFFSET, KPI_CHECK_COL, KPI_INFO_ROWS, MEASURE_CHECK_COL, MEASURE_CHECK_OFFSET
from tests import helpers as h
from tests.builders.sample import sample_values
from tests.lo import convert_many, lo_fill, requires_soffice, sheet_csvs

FY = 2024
CAT = catalogue_for_fy(FY)
THROUGH = date(2024, 9, 1)


def clean_values() -> dict[str, Any]:
    """A filled workbook through September that neither the validator nor the 入力チェック faults."""
    values = sample_values(CAT, FY, "10", THROUGH)
    for kpi in CAT.kpis_for(FY, "10"):
        if kpi.kind != "qualitative" and kpi.target.rule in ("baseline", "generic_conditional"):
            middle = (kpi.plausible.low + kpi.plausible.high) / 2 if kpi.plausible else 1000.0
            values[nm.kpi_key(kpi.id, "baseline").name] = middle / 100 if kpi.is_percent else middle
    values["in_info_preparer"], values["in_info_contact"] = "企画総務グループ 山田", "内線1234"
    return values


CLEAN = clean_values()


def _den(name: str, factor: float, plus: float = 0) -> float:
    return round(CLEAN[name.replace("_num_", "_den_")] * factor + plus)


# name: (changes to the clean values, the defined names of the cells both must flag)
MISTAKES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "numerator above denominator": ({"in_K6_2_01_num_202409": _den("in_K6_2_01_num_202409", 1, 1000)},
                                    ["in_K6_2_01_num_202409"]),
    "a year-to-date flow falls": ({"in_K6_2_01_num_202407": CLEAN["in_K6_2_01_num_202406"] - 1000},
                                  ["in_K6_2_01_num_202407"]),
    "査定率 typed 0.310 without % (31.0%)": ({"in_K6_1_03_target": 0.31}, ["in_K6_1_03_target"]),
    "ジェネリック 100 times too small": ({"in_K6_2_08_baseline": 0.00829}, ["in_K6_2_08_baseline"]),
    "a month's rate outside the range": ({"in_K6_2_01_num_202409": _den("in_K6_2_01_num_202409", 0.95)},
                                         ["in_K6_2_01_num_202409"]),
    "a blank month before a filled one (count)": ({"in_K6_2_07_val_202407": None}, ["in_K6_2_07_val_202407"]),
    "a blank month before a filled one (ratio)": ({"in_K6_1_02_num_202406": None, "in_K6_1_02_den_202406": None},
                                                  ["in_K6_1_02_num_202406"]),
    "a mark without 事業内容": ({"in_M_6_1_I_9_rating": "○"}, ["in_M_6_1_I_9_rating"]),
    "△ without 備考": ({"in_M_6_2_II_1_1_rating": "△", "in_M_6_2_II_1_1_note": None}, ["in_M_6_2_II_1_1_note"]),
    "× without 備考": ({"in_M_6_1_II_2_1_rating": "×", "in_M_6_1_II_2_1_note": None}, ["in_M_6_1_II_2_1_note"]),
    "numerator without denominator": ({"in_K6_1_02_den_202409": None}, ["in_K6_1_02_num_202409"]),
    # W421: the reverse — a denominator whose numerator is blank while a later month's numerator is filled
    "denominator without numerator": ({"in_K6_1_02_num_202406": None}, ["in_K6_1_02_num_202406"]),
    "a percent typed as points (53.8 in a % cell)": ({"in_K6_2_11_target": 53.8}, ["in_K6_2_11_target"]),
    "text in a number cell": ({"in_K6_2_07_val_202405": "1,170事業所"}, ["in_K6_2_07_val_202405"]),
    # text where a percent belongs: no #VALUE! may spread from the percent checks to the count
    "a percent pasted as text": ({"in_K6_2_11_target": "53.8%"}, ["in_K6_2_11_target"]),
    "a text target of a yen KPI": ({"in_K6_1_04_baseline": "約8千円"}, ["in_K6_1_04_baseline"]),
    "a negative value": ({"in_K6_2_01_num_202404": -5}, ["in_K6_2_01_num_202404"]),
    "the branch's target missing": ({"in_K6_2_01_target": None}, ["in_K6_2_01_target"]),
    "last year's value missing (対前年度以上)": ({"in_K6_1_02_baseline": None}, ["in_K6_1_02_baseline"]),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), FY, "10")


def _where(template: Path, names: list[str]) -> set[tuple[str, str]]:
    return {h.cell_of(template, n) for n in names}


def _validator_cells(path: Path) -> tuple[set[tuple[str, str]], set[str]]:
    findings = validate([path], fiscal_year=FY).findings
    return {(f.sheet, f.cell) for f in findings if f.cell}, {f.code for f in findings}


@lru_cache(maxsize=4)
def _input_names(path: Path) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(openpyxl.load_workbook(path, read_only=True).defined_names)


def _a1(ref: str) -> tuple[int, int]:
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    letters, row = coordinate_from_string(ref)
    return row, column_index_from_string(letters)


def _self_check(template: Path, sheets: dict[str, list[list[str]]]) -> tuple[set[tuple[str, str]], str, dict]:
    """(cells whose helper holds a reason, the count KPI入力 shows, {cell: its row's 確認 text})."""
    flagged, why = set(), {}
    for name in _input_names(template):
        key = nm.parse_name(name)
        if key is None or key.kind == "info":
            continue
        sheet, ref = h.cell_of(template, name)
        row, col = _a1(ref)
        offset, check_col = ((CHECK_OFFSET, KPI_CHECK_COL) if sheet == nm.SHEET_KPI
                             else (MEASURE_CHECK_OFFSET, MEASURE_CHECK_COL))
        rows = sheets[sheet]
        cells = rows[row - 1] if row - 1 < len(rows) else []
        helper = cells[col - 1 + offset] if col - 1 + offset < len(cells) else ""
        if helper:
            flagged.add((sheet, ref))
            why[ref] = cells[check_col]
    count = sheets[nm.SHEET_KPI][KPI_INFO_ROWS[1]][3]
    return flagged, count, why


@pytest.fixture(scope="module")
def computed(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """Every mistake (and the clean fill) in its own copy, computed by LibreOffice in one run."""
    d = tmp_path_factory.mktemp("mistakes")
    files = {"clean": h.fill(template, d / "m00.xlsx", CLEAN)}
    for i, (case, (changes, _)) in enumerate(MISTAKES.items(), 1):
        files[case] = h.fill(template, d / f"m{i:02d}.xlsx", {**CLEAN, **changes})
    out = d / "csv"
    convert_many(list(files.values()), "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
                 out)
    return {case: (path, sheet_csvs(out, path.stem)) for case, path in files.items()}


@requires_soffice
def test_a_clean_fill_shows_0_and_validates_clean(template: Path, computed: dict) -> None:
    path, sheets = computed["clean"]
    flagged, count, _ = _self_check(template, sheets)
    assert (flagged, count) == (set(), "0")
    assert _validator_cells(path) == (set(), set())
    guide = "".join(sheets[nm.SHEET_GUIDE][3])
    assert "問題は見つかりません（0件）" in guide


@requires_soffice
@pytest.mark.parametrize("case", list(MISTAKES))
def test_each_mistake_is_flagged_in_the_cell_and_by_validate(case: str, template: Path, computed: dict) -> None:
    path, sheets = computed[case]
    flagged, count, why = _self_check(template, sheets)
    cells, codes = _validator_cells(path)
    expected = _where(template, MISTAKES[case][1])
    assert flagged == expected, case
    assert cells == expected, (case, codes)
    assert codes <= SELF_CHECK_CODES, codes
    assert count == str(len(expected))
    assert all(why[ref] for _, ref in expected)  # the row says why in words
    summary = "".join(sheets[nm.SHEET_KPI][KPI_INFO_ROWS[1]])
    assert f"要確認 {len(expected)} 件" in summary and "0件になったら送付してください" in summary


@requires_soffice
def test_the_words_say_what_is_wrong(template: Path, computed: dict) -> None:
    texts = {case: _self_check(template, computed[case][1])[2] for case in MISTAKES}

    def said(case: str) -> str:
        return next(iter(texts[case].values()))

    assert said("numerator above denominator") == "9月：分子が分母を超えています。"
    assert said("a year-to-date flow falls").startswith("7月：前の月より小さい")
    assert "0.100%〜1.000%" in said("査定率 typed 0.310 without % (31.0%)")
    assert said("a blank month before a filled one (count)").startswith("7月：空欄です")
    assert said("denominator without numerator") == "6月：分母はありますが分子が空欄です（後の月の分子は入力済み）。"
    assert said("a mark without 事業内容") == "事業内容が空欄です。"
    assert said("△ without 備考") == "△・×の理由を備考に記入してください。"


@requires_soffice
def test_a_person_typing_in_libreoffice_sees_what_validate_reports(template: Path, tmp_path: Path) -> None:
    """Typed through Calc's own input handling: the saved workbook's computed 入力チェック and `validate`
    flag the same cells, and `check_count` holds their number."""
    base = h.fill(template, tmp_path / "base.xlsx", CLEAN)
    typed = {"in_K6_1_03_target": "0.310",  # no %: Calc stores 0.31, shown 31.000%
             "in_K6_2_11_target": "53.8",  # no %: stored 53.8 (5380.0%), read as points
             "in_K6_2_01_num_202409": str(_den("in_K6_2_01_num_202409", 1, 1000)),
             "in_K6_2_07_val_202407": None,  # Delete key: a gap before August
             "in_K6_2_01_num_202407": str(CLEAN["in_K6_2_01_num_202406"] - 1000),  # below June's total
             "in_K6_2_01_num_202404": "-5",
             "in_K6_1_02_den_202409": None,  # a numerator without its denominator
             "in_K6_2_07_val_202405": "1,170事業所",  # stays text in a number cell
             "in_M_6_1_I_9_rating": "○",  # a mark on a row without 事業内容
             "in_M_6_2_II_1_1_rating": "△", "in_M_6_2_II_1_1_note": None}
    out = tmp_path / "10_typed.xlsx"
    lo_fill(base, out, typed)
    expected = _where(template, ["in_K6_1_03_target", "in_K6_2_11_target", "in_K6_2_01_num_202409",
                                 "in_K6_2_07_val_202407", "in_K6_2_01_num_202407", "in_K6_2_01_num_202404",
                                 "in_K6_1_02_num_202409", "in_K6_2_07_val_202405", "in_M_6_1_I_9_rating",
                                 "in_M_6_2_II_1_1_note"])
    wb = openpyxl.load_workbook(out, data_only=True)  # LibreOffice saved the values it computed
    sheets = {ws.title: [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
              for ws in wb.worksheets}
    flagged, count, _ = _self_check(template, sheets)
    assert flagged == expected
    assert _validator_cells(out)[0] == expected
    (sheet, ref), = wb.defined_names[nm.CHECK_COUNT_NAME].destinations
    assert wb[sheet][ref.replace("$", "")].value == len(expected) and count in ("10", "10.0")


def test_page_breaks_keep_every_block_on_one_page() -> None:
    heights = {r: 15.0 for r in range(200)}
    blocks = [(10, 19), (20, 29), (30, 39), (40, 49)]
    # a page holds 30 rows of 15 pt with its 2 heading rows: blocks of 10 rows, 2 per page after the top 8 rows
    breaks = _page_breaks(blocks, heights.__getitem__, (7, 8), page=30 * 15.0)
    assert breaks == [30]
    for first, last in blocks:
        assert not any(first < b <= last for b in breaks)
