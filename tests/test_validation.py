"""validate(): one bad workbook per identity / domain rule, each asserting the exact code and cell."""

from __future__ import annotations

import copy
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.check.rules import outliers_across_branches
from kpisheet.check.validation import names_from_path, schema_findings, validate, validate_submission
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.findings import flatten
from kpisheet.domain.model import InputValue
from kpisheet.read import names as nm
from kpisheet.read.reader import read_workbook
from tests import helpers as h
from tests.builders.sample import sample_values

FY, AS_OF = h.FY, "2024-09"
CAT = catalogue_for_fy(FY)


def clean_values() -> dict[str, Any]:
    """A plausible, error-free workbook through September (targets and baselines set)."""
    values = sample_values(CAT, FY, "10", date(2024, 9, 1))
    for kpi in CAT.kpis_for(FY, "10"):
        if kpi.target.rule in ("baseline", "generic_conditional") and kpi.kind != "qualitative":
            values[nm.kpi_key(kpi.id, "baseline").name] = _typical(kpi)
    return values


def _typical(kpi: Any) -> float:
    """A last-year value inside the KPI's plausible range (as a percent cell stores it)."""
    if kpi.plausible is not None:
        middle = (kpi.plausible.low + kpi.plausible.high) / 2
        return middle / 100 if kpi.is_percent else middle
    return 0.9 if kpi.is_percent else 1000.0


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), FY, "10")


@pytest.fixture(scope="module")
def clean(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.fill(template, tmp_path_factory.mktemp("clean") / template.name, clean_values())


def at(template: Path, name: str) -> str:
    return h.cell_of(template, name)[1]


def run(path: Path, **kw: Any) -> list[list[Any]]:
    kw.setdefault("as_of", AS_OF)
    return flatten(validate([path], **kw).findings, ["code", "cell"])


def test_clean_workbook_has_no_findings(clean: Path) -> None:
    assert run(clean, fiscal_year=FY) == []


# ------------------------------------------------------------------ domain rules, one workbook each
CASES = {
    # name: (changes to the clean values, expected [(code, defined name)])
    # the numerator is a year-to-date flow, so July's true figure below June's typo also falls (E404)
    "E401 numerator > denominator": ({"in_K6_1_02_num_202406": 10**8},
                                     [("E401", "in_K6_1_02_num_202406"), ("W411", "in_K6_1_02_num_202406"),
                                      ("W411", "in_K6_1_02_num_202407"), ("E404", "in_K6_1_02_num_202407")]),
    "E402 percent target over 100": ({"in_K6_2_01_target": "150%"},
                                     [("E402", "in_K6_2_01_target"), ("W305", "in_K6_2_01_target")]),
    "W306 points in a percent cell": ({"in_K6_2_01_target": 53.8}, [("W306", "in_K6_2_01_target")]),
    "E403 negative count": ({"in_K6_2_07_val_202404": -3.0},
                            [("E403", "in_K6_2_07_val_202404"), ("W411", "in_K6_2_07_val_202405")]),
    "E404 a year-to-date flow falls": ({"in_K6_2_01_num_202406": 1.0}, [("E404", "in_K6_2_01_num_202406")]),
    # 健康宣言事業所数 is a stock: it may fall; only the sharp jump is worth a look
    "a stock may fall": ({"in_K6_2_07_val_202407": 1.0},
                         [("W411", "in_K6_2_07_val_202407"), ("W411", "in_K6_2_07_val_202408")]),
    "E405 value after --as-of": ({"in_K6_2_07_val_202410": 1500.0}, [("E405", "in_K6_2_07_val_202410")]),
    "E406 branch target missing": ({"in_K6_2_11_target": None}, [("E406", "in_K6_2_11_target")]),
    "W415 no baseline and no target": ({"in_K6_1_02_baseline": None}, [("W415", "in_K6_1_02_baseline")]),
    # a KPI new in term 6 (【新設】) is 対前年度以上 from the plan's first year: HQ computes FY2023 under the
    # new definition, so an empty value is asked for, never silenced
    "W415 for a KPI new this term": ({"in_K6_2_06_baseline": None}, [("W415", "in_K6_2_06_baseline")]),
    # 委嘱事業所数 is new to the plan but last year's count exists (seed 002:215): ask for it
    "W415 for a KPI whose last year's value exists": ({"in_K6_2_12_baseline": None},
                                                      [("W415", "in_K6_2_12_baseline")]),
    "E407 rating outside the list": ({"in_M_6_1_I_1_rating": "A"}, [("E407", "in_M_6_1_I_1_rating")]),
    "E408 rated without text": ({"in_M_6_1_I_5_rating": "○"}, [("E408", "in_M_6_1_I_5_rating")]),
    "E409 text too long": ({"in_M_6_1_I_1_text": "あ" * 1001}, [("E409", "in_M_6_1_I_1_text")]),
    "E409 issue too long": ({"in_M_6_1_I_issue": "い" * 2001}, [("E409", "in_M_6_1_I_issue")]),
    "E410 numerator without denominator": ({"in_K6_1_02_den_202405": None},
                                           [("E410", "in_K6_1_02_num_202405")]),
    "W411 level rate jumps": ({"in_K6_2_08_num_202407": 1000.0},
                              [("W411", "in_K6_2_08_num_202407"), ("W411", "in_K6_2_08_num_202408")]),
    "W413 month not reported": ({"in_K6_2_07_val_202409": None}, [("W413", "in_K6_2_07_val_202409")]),
    # 特定健診 data trail by up to 3 months (catalogue data_lag): blank recent months are no finding...
    "no W413 within the data lag": ({"in_K6_2_03_num_202409": None, "in_K6_2_03_den_202409": None,
                                     "in_K6_2_03_num_202408": None, "in_K6_2_03_den_202408": None}, []),
    # ...but a blank month before a filled one is a gap
    "W413 for a gap within the lag": ({"in_K6_2_03_num_202408": None, "in_K6_2_03_den_202408": None},
                                      [("W413", "in_K6_2_03_num_202408")]),
    # W421: a denominator whose numerator is blank, when a later numerator is filled (a gap) ...
    "W421 denominator without numerator before a filled month": ({"in_K6_1_02_num_202406": None},
                                                                [("W421", "in_K6_1_02_num_202406")]),
    # ... or in a month past the KPI's data lag (the run month is September; no lag)
    "W421 denominator without numerator in the run month": ({"in_K6_1_02_num_202409": None},
                                                            [("W421", "in_K6_1_02_num_202409")]),
    # 特定健診's numerator may trail its denominator within the lag: no finding
    "no W421 within the data lag": ({"in_K6_2_03_num_202409": None}, []),
    # K6-2-08 without last year's value is judged against 80%: wrong for a branch already above it
    "W418 generic target without last year": ({"in_K6_2_08_baseline": None, "in_K6_2_08_target": None},
                                              [("W418", "in_K6_2_08_baseline")]),
    "W416 HQ's prefilled target changed": ({"in_K6_1_01_target": 0.99}, [("W416", "in_K6_1_01_target")]),
    "W417 対前年度以上 target below last year": ({"in_K6_1_02_target": 0.6}, [("W417", "in_K6_1_02_target")]),
    # a KPI without a plausible range in the catalogue (バイオシミラー: 0% is possible) keeps W414
    "W414 percent typed as a fraction": ({"in_K6_2_09_baseline": 0.009}, [("W414", "in_K6_2_09_baseline")]),
    # the plausible range catches both 100x slips of percent entry: an annual value that only makes
    # sense x100 or /100 is refused at reading (E319, not W419 or W414)
    "E319 percent 100 times too small": ({"in_K6_2_11_target": 0.009}, [("E319", "in_K6_2_11_target")]),
    "E319 査定率 typed 0.310 without %": ({"in_K6_1_03_target": 0.31}, [("E319", "in_K6_1_03_target")]),
    # a month's rate above the top of the range (a KPI growing in the year: only the top counts)
    "W419 a month's rate above the range": ({"in_K6_2_01_num_202409": "<den>0.95"},
                                           [("W419", "in_K6_2_01_num_202409")]),
    "E304 text in a number cell": ({"in_K6_2_07_val_202405": "多数"}, [("E304", "in_K6_2_07_val_202405")]),
    "W305 typed with units": ({"in_K6_2_07_val_202405": "<same>事業所"}, [("W305", "in_K6_2_07_val_202405")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_domain_rule(case: str, template: Path, tmp_path: Path) -> None:
    changes, want = CASES[case]
    values = {**clean_values(), **changes}
    for name, value in changes.items():
        if isinstance(value, str) and value.startswith("<same>"):  # the clean value, typed with a unit
            values[name] = f"{clean_values()[name]:,.0f}" + value.removeprefix("<same>")
        if isinstance(value, str) and value.startswith("<den>"):  # a share of the month's denominator
            values[name] = round(values[name.replace("_num_", "_den_")] * float(value.removeprefix("<den>")))
    if case.startswith("W411"):  # keep the counts plausible: only the level rate jumps
        values["in_K6_2_08_num_202407"] = values["in_K6_2_08_den_202407"] * 0.5
    path = h.fill(template, tmp_path / template.name, values)
    got = sorted(map(tuple, run(path)))
    assert got == sorted((code, at(template, name)) for code, name in want)


# ------------------------------------------------------------------ identity
def _meta(src: Path, dst: Path, **fields: Any) -> Path:
    def change(wb: openpyxl.Workbook) -> None:
        for row in wb[nm.SHEET_META].iter_rows():
            if row[0].value in fields:
                row[1].value = fields[row[0].value]
    return h.edit(src, dst, change)


def test_e202_unknown_template_version(clean: Path, tmp_path: Path) -> None:
    assert run(_meta(clean, tmp_path / clean.name, template_version="9")) == [["E202", None]]


def test_e203_catalogue_changed(clean: Path, tmp_path: Path) -> None:
    assert run(_meta(clean, tmp_path / clean.name, catalogue_digest="0123456789abcdef")) == [["E203", None]]


def test_e204_fiscal_year_differs_from_fy_option(clean: Path) -> None:
    result = validate([clean], fiscal_year=2025, as_of="2025-09")
    assert [(f.code, f.sheet, f.value) for f in result.findings if f.code.startswith("E2")] == \
        [("E204", "_meta", "2024")]


def test_e205_fiscal_year_differs_from_file_name(clean: Path, tmp_path: Path) -> None:
    path = tmp_path / clean.name.replace("FY2024", "FY2025")
    shutil.copy(clean, path)
    assert run(path) == [["E205", None]]
    folder = tmp_path / "令和7年度"
    folder.mkdir()
    shutil.copy(clean, folder / "10_群馬.xlsx")
    assert run(folder / "10_群馬.xlsx") == [["E205", None]]


def test_e206_branch_differs_from_file_name(clean: Path, tmp_path: Path) -> None:
    path = tmp_path / clean.name.replace("10_群馬", "11_埼玉")
    shutil.copy(clean, path)
    result = validate([path], as_of=AS_OF)
    assert [(f.code, f.value, f.context["expected"]) for f in result.findings] == [("E206", "10 群馬支部", "11")]


def _saved(src: Path, dst: Path, when: str, mtime: int) -> Path:
    """A copy of `src` whose workbook says it was saved at `when` and whose file time is `mtime`."""
    import re
    import zipfile

    with zipfile.ZipFile(src) as z:
        core = z.read("docProps/core.xml").decode()
    core = re.sub(r"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rf"\g<1>{when}\g<2>", core)
    h.rewrite_zip(src, dst, {"docProps/core.xml": core.encode()})
    os.utime(dst, ns=(mtime, mtime))
    return dst


def test_w208_an_identical_copy_counts_once(clean: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(clean, inbox / clean.name)
    shutil.copy(clean, inbox / "10_群馬支部_再提出.xlsx")
    result = validate([inbox], as_of=AS_OF)
    assert [(Path(f.file).name, f.code, f.context["used"]) for f in result.findings] == \
        [("10_群馬支部_再提出.xlsx", "W208", clean.name)]


def test_w207_the_newer_saved_workbook_is_used_whatever_the_file_times(clean: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    newer = _saved(clean, inbox / "10_群馬支部_修正版.xlsx", "2024-10-05T01:00:00Z", 1_700_000_000 * 10**9)
    _saved(clean, inbox / clean.name, "2024-10-01T01:00:00Z", 1_800_000_000 * 10**9)  # copied later
    found = validate([inbox], as_of=AS_OF).findings
    assert [(Path(f.file).name, f.code, f.context["used"]) for f in found] == [(clean.name, "W207", newer.name)]
    assert "10_群馬支部_修正版.xlsx" in found[0].message_ja and not found[0].is_error


def test_w207_the_file_time_decides_between_equal_saved_times(clean: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _saved(clean, inbox / "10_群馬支部_修正版.xlsx", "2024-10-05T01:00:00Z", 1_700_000_000 * 10**9)
    _saved(clean, inbox / clean.name, "2024-10-05T01:00:00.000Z", 1_700_000_500 * 10**9)
    found = validate([inbox], as_of=AS_OF).findings
    assert [(Path(f.file).name, f.code) for f in found] == [("10_群馬支部_修正版.xlsx", "W207")]


def test_e207_when_no_file_is_the_newer(clean: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _saved(clean, inbox / "10_群馬支部_再提出.xlsx", "2024-10-05T01:00:00Z", 1_700_000_000 * 10**9)
    _saved(clean, inbox / clean.name, "2024-10-05T01:00:00+00:00", 1_700_000_000 * 10**9)
    result = validate([inbox], as_of=AS_OF)
    assert sorted((Path(f.file).name, f.code) for f in result.findings) == \
        sorted([("10_群馬支部_再提出.xlsx", "E207"), (clean.name, "E207")])


def test_names_from_path() -> None:
    assert names_from_path(Path("in/10_群馬支部_FY2024_KPI入力.xlsx")) == ("10", 2024)
    assert names_from_path(Path("令和6年度/07_福島.xlsx")) == ("07", 2024)
    assert names_from_path(Path("x/群馬_R7年度.xlsx")) == (None, 2025)
    assert names_from_path(Path("x/KPI_20241015.xlsx")) == (None, None)


# ------------------------------------------------------------------ schema errors at their cells
def test_schema_error_is_reported_at_its_cell(clean: Path) -> None:
    sub = read_workbook(clean)
    month = sub.kpis["K6-2-01"].months["2024-04"]
    src = month.numerator.source
    month.numerator = InputValue("many", src, "many")  # what a buggy reader could produce
    found = schema_findings(sub)
    assert [(f.code, f.sheet, f.cell, f.name) for f in found] == [("E309", src.sheet, src.cell, src.name)]
    assert "many" in found[0].message_en


def test_validate_submission_is_the_per_file_part(clean: Path) -> None:
    sub = read_workbook(clean)
    assert validate_submission(sub, CAT, fiscal_year=FY, as_of=date(2024, 9, 1)) == []
    assert [f.code for f in validate_submission(sub, CAT, fiscal_year=FY, expected_branch="11")] == ["E206"]


# ------------------------------------------------------------------ across branches
def test_w412_far_from_other_branches(clean: Path) -> None:
    base = read_workbook(clean)
    subs = []
    for i, code in enumerate(["11", "12", "13", "14", "15", "16", "17", "18", "19"]):
        sub = copy.deepcopy(base)
        sub.branch_code, sub.path = code, f"{code}.xlsx"
        m = sub.kpis["K6-2-11"].months["2024-06"]
        den = m.denominator.value
        rate = 0.05 if code == "19" else 0.50 + 0.01 * i
        m.numerator = InputValue(den * rate, m.numerator.source, den * rate)
        subs.append(sub)
    found = outliers_across_branches(subs)
    assert [(f.code, f.file, f.cell) for f in found] == \
        [("W412", "19.xlsx", base.kpis["K6-2-11"].months["2024-06"].numerator.source.cell)]


def test_a_month_in_a_message_is_wareki_in_japanese_and_the_month_key_in_english(template: Path, tmp_path: Path) -> None:
    """E405 (a value after --as-of): 令和 in the Japanese text, the month keys in the English."""
    path = h.fill(template, tmp_path / template.name, {**clean_values(), "in_K6_2_07_val_202410": 1500.0})
    [f] = [f for f in validate([path], as_of=AS_OF).findings if f.code == "E405"]
    assert "集計対象は令和6年9月までです" in f.text_ja and "2024" not in f.text_ja
    assert "2024-10" in f.text_en and "2024-09" in f.text_en and "令和" not in f.text_en
