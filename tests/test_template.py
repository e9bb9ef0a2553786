"""The generated branch workbooks, opened the way the reader and HQ open them (openpyxl)."""

from __future__ import annotations

import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest

from kpisheet import TEMPLATE_FORMAT, TEMPLATE_VERSION
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.read.names import (
    CHECK_COUNT_NAME,
    KEY_COLUMN,
    KEY_ROW,
    RATING_NAME,
    RATINGS,
    ROWS_PER_MEASURE,
    SHEET_GUIDE,
    SHEET_KPI,
    SHEET_LISTS,
    SHEET_MEASURES,
    SHEET_META,
    TEXT_LIMITS,
    column_key,
    parse_name,
)
from kpisheet.template.build import (
    TemplateLintError,
    _lint,
    build_template,
    expected_keys,
    generate,
    workbook_branches,
    workbook_filename,
)
from kpisheet.template.layout import KPI_FIRST_MONTH_COL, KPI_HEAD_ROWS, MEASURE_COLS
from tests.lo import convert, lo_fill, pdf_pages, requires_soffice

AT = datetime(2024, 4, 1, 9, 0, tzinfo=timezone.utc)
BASELINE_CSV = """branch,kpi_id,value
10,K5-2-01,58.2%
10,K5-1-02,96.5
10,K5-1-03,0.423%
10,K5-2-08,82.9%
10,K5-1-04,"8,364"
10,K6-2-07,"1,170"
00,K6-2-10,"130,000,000"
"""


def _open(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gen")
    baseline = out / "baseline.csv"
    baseline.write_text(BASELINE_CSV, encoding="utf-8")
    r24 = generate(2024, ["10", "00"], out / "fy2024", baseline_path=baseline, generated_at=AT)
    r23 = generate(2023, ["11"], out / "fy2023", generated_at=AT)
    assert [f.code for f in r24.findings] == ["G107"]  # K5-1-03: 査定率 changed definition
    return {"10": r24.paths[0], "00": r24.paths[1], "11": r23.paths[0]}


def _cell(wb: openpyxl.Workbook, name: str):
    (sheet, ref), = wb.defined_names[name].destinations
    return wb[sheet], wb[sheet][ref.replace("$", "")]


def _input_names(wb: openpyxl.Workbook) -> list[str]:
    return [n for n in wb.defined_names if n not in (RATING_NAME, CHECK_COUNT_NAME)]


def test_file_names_and_branch_set() -> None:
    cat24, cat23 = catalogue_for_fy(2024), catalogue_for_fy(2023)
    codes24 = [b.code for b in workbook_branches(cat24, 2024)]
    assert codes24[0] == "00" and len(codes24) == 48 and codes24[1:] == [f"{i:02d}" for i in range(1, 48)]
    assert "00" not in [b.code for b in workbook_branches(cat23, 2023)]  # term 5 has no national-only KPI
    assert workbook_filename(workbook_branches(cat24, 2024)[10], 2024) == "10_群馬支部_FY2024_KPI入力.xlsx"
    assert workbook_filename(workbook_branches(cat24, 2024)[0], 2024) == "00_本部_FY2024_KPI入力.xlsx"


@pytest.mark.parametrize("code,fy", [("10", 2024), ("00", 2024), ("11", 2023)])
def test_every_name_is_one_unlocked_cell_matching_the_sheet_keys(books: dict[str, Path], code: str, fy: int) -> None:
    wb = _open(books[code])
    expected = {k.name: k for k in expected_keys(catalogue_for_fy(fy), fy, code)}
    assert sorted(_input_names(wb)) == sorted(expected)
    seen: set[tuple[str, str]] = set()
    for name in _input_names(wb):
        assert "_" in name
        key = parse_name(name)
        assert key == expected[name]
        ws, cell = _cell(wb, name)
        assert ws.title == (SHEET_MEASURES if key.kind == "measure" else SHEET_KPI)
        assert cell.protection.locked is False, name
        assert ws.cell(cell.row, KEY_COLUMN).value == key.sheet_key, name
        assert ws.cell(KEY_ROW, cell.column).value == column_key(key), name
        assert (ws.title, cell.coordinate) not in seen
        seen.add((ws.title, cell.coordinate))
    # the (row key, column key) pair identifies one cell: no row key appears twice on a sheet
    for title in (SHEET_KPI, SHEET_MEASURES):
        keys = [c.value for c in wb[title]["A"][KEY_ROW:] if c.value]
        assert len(keys) == len(set(keys)), title


def test_only_input_cells_are_unlocked(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    named = {(_cell(wb, n)[0].title, _cell(wb, n)[1].coordinate) for n in _input_names(wb)}
    merged_extra = set()
    for title in (SHEET_KPI, SHEET_MEASURES):
        for rng in wb[title].merged_cells.ranges:
            if (title, rng.start_cell.coordinate) in named:
                merged_extra |= {(title, c.coordinate) for row in wb[title].iter_rows(
                    min_row=rng.min_row, max_row=rng.max_row, min_col=rng.min_col, max_col=rng.max_col) for c in row}
    for title in (SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES):
        for row in wb[title].iter_rows():
            for c in row:
                if c.has_style and c.protection.locked is False:
                    assert (title, c.coordinate) in named | merged_extra, (title, c.coordinate)


def test_number_formats_and_validations_fit_the_kind_of_input(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    ws = wb[SHEET_KPI]
    dvs = ws.data_validations.dataValidation

    def validation(name: str):
        _, cell = _cell(wb, name)
        found = [dv for dv in dvs if cell.coordinate in dv.sqref]
        assert len(found) == 1, name
        return found[0]

    assert _cell(wb, "in_K6_2_01_target")[1].number_format == "0.0%"
    assert _cell(wb, "in_K6_1_03_target")[1].number_format == "0.000%"  # 査定率: three decimals
    assert _cell(wb, "in_K6_1_05_baseline")[1].number_format == "0.00%"
    assert _cell(wb, "in_K6_1_04_target")[1].number_format == "#,##0"  # 円
    assert _cell(wb, "in_K6_2_07_val_202410")[1].number_format == "#,##0"
    assert _cell(wb, "in_K6_2_01_num_202410")[1].number_format == "#,##0"
    # a percent with a plausible range (catalogue): a warning outside it, with how to type a percent
    pct = validation("in_K6_2_01_target")
    assert (pct.type, pct.formula1, pct.formula2) == ("decimal", "0.2", "0.9")
    assert pct.operator in (None, "between")  # "between" is the default and is left out of the XML
    assert pct.errorStyle == "warning" and "20.0%〜90.0%" in pct.error and "％" in pct.prompt
    rate = validation("in_K6_1_03_target")  # 査定率: 0.1%-1%, so 0.310 typed without % (31.0%) is questioned
    assert (rate.formula1, rate.formula2) == ("0.001", "0.01") and "0.310%" in rate.prompt
    # without a range (バイオシミラー: 0% is possible) the cell keeps 0%-100%, refused outside
    bio = validation("in_K6_2_09_target")
    assert (bio.formula1, bio.formula2) == ("0", "1") and bio.errorStyle in (None, "stop") and "25.0%" in bio.error
    num = validation("in_K6_2_01_den_202503")
    assert (num.type, num.operator, num.formula1) == ("decimal", "greaterThanOrEqual", "0")
    assert validation("in_K6_1_04_target").type == "decimal"
    for dv in dvs:
        assert len(dv.promptTitle or "") <= 32 and len(dv.prompt or "") <= 255 and len(dv.error or "") <= 255
    mdvs = wb[SHEET_MEASURES].data_validations.dataValidation
    rating_cell = _cell(wb, "in_M_6_1_II_2_3_rating")[1].coordinate
    rating = [dv for dv in mdvs if rating_cell in dv.sqref]
    assert len(rating) == 1 and rating[0].type == "list" and rating[0].formula1 == RATING_NAME
    issue_cell = _cell(wb, "in_M_6_1_II_2_issue")[1].coordinate
    issue = [dv for dv in mdvs if issue_cell in dv.sqref]
    assert issue[0].type == "textLength" and issue[0].formula1 == str(TEXT_LIMITS["issue"])
    assert wb.defined_names[RATING_NAME].attr_text == f"'{SHEET_LISTS}'!$A$1:$A${len(RATINGS)}"
    assert [c.value for c in wb[SHEET_LISTS]["A"]] == list(RATINGS)


def test_rate_row_is_a_guarded_formula(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    ws, num = _cell(wb, "in_K6_2_01_num_202410")
    _, den = _cell(wb, "in_K6_2_01_den_202410")
    rate = ws.cell(den.row + 1, den.column)
    assert rate.value == f'=IF(OR({num.coordinate}="",{den.coordinate}=""),"",IFERROR({num.coordinate}/{den.coordinate},""))'
    assert rate.protection.locked is not False and rate.number_format == "0.0%"


def test_protection_sheet_states_and_order(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    assert wb.sheetnames == [SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES, SHEET_LISTS, SHEET_META]
    assert [wb[s].sheet_state for s in wb.sheetnames] == ["visible", "visible", "visible", "hidden", "veryHidden"]
    for title in (SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES):
        ws = wb[title]
        assert ws.protection.sheet is True and not ws.protection.password
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
        if title == SHEET_KPI:  # two pages wide at a set scale: 4月〜9月, then 10月〜3月 with ID and 項目 again
            assert not ws.sheet_properties.pageSetUpPr or not ws.sheet_properties.pageSetUpPr.fitToPage
            assert ws.page_setup.scale == 90 and [b.id for b in ws.col_breaks.brk] == [10]
            assert ws.print_title_cols == "$B:$C"
            # B:J whole, then 10月〜3月 for the table's rows only (tests/test_template_two_pages.py)
            assert ws.print_area.startswith(f"'KPI入力'!$B$2:$J${ws.max_row},'KPI入力'!$K$8:$P$")
        else:
            assert ws.sheet_properties.pageSetUpPr.fitToPage is True
            assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0  # 1 is the default
        assert "&P" in ws.oddFooter.center.text
    assert wb.security.lockStructure is True
    assert wb[SHEET_KPI].freeze_panes == "D10" and wb[SHEET_KPI].print_title_rows == "$8:$9"
    assert wb[SHEET_KPI].column_dimensions["A"].hidden and wb[SHEET_KPI].row_dimensions[1].hidden
    assert wb[SHEET_KPI]["B2"].value == "令和6年度 事業計画KPI 入力シート（群馬支部）"
    assert wb[SHEET_KPI]["B3"].value.startswith("作成日：令和6年4月1日　　提出期限：")
    assert wb[SHEET_KPI]["B2"].font.name == "游ゴシック"


def test_password_protects_sheets_and_structure(tmp_path: Path) -> None:
    data = build_template(catalogue_for_fy(2024), 2024, "13", password="kpi", generated_at=AT)
    path = tmp_path / "13.xlsx"
    path.write_bytes(data)
    wb = _open(path)
    assert wb[SHEET_KPI].protection.password and wb[SHEET_MEASURES].protection.password
    assert wb.security.lockStructure is True and wb.security.workbookPassword


def test_metadata_and_document_properties(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    meta = {r[0].value: r[1].value for r in wb[SHEET_META].iter_rows()}
    cat = catalogue_for_fy(2024)
    assert list(meta) == ["format", "template_version", "kpisheet_version", "term", "catalogue_file",
                          "catalogue_digest", "fiscal_year", "branch_code", "branch_name", "generated_at",
                          "rows_per_measure", "prefilled_targets", "prefilled_baselines"]
    assert meta["format"] == TEMPLATE_FORMAT and meta["template_version"] == str(TEMPLATE_VERSION)
    assert (meta["term"], meta["catalogue_digest"], meta["fiscal_year"]) == ("6", cat.digest, "2024")
    assert (meta["branch_code"], meta["branch_name"]) == ("10", "群馬支部")
    assert meta["generated_at"] == "2024-04-01T09:00:00+00:00"
    assert meta["rows_per_measure"] == str(ROWS_PER_MEASURE) == "10"
    # every target cell HQ prefilled, in display units: fixed targets only — a 対前年度 target (K6-1-02,
    # K6-1-04, K6-2-08) is the rule applied when rating, never frozen here; not K6-2-01 / K6-2-07 (the branch's)
    assert json.loads(meta["prefilled_targets"]) == {"K6-1-01": 100, "K6-2-09": 25, "K6-3-01": 15}
    # every previous-year value HQ prefilled (the rating uses it; a branch's change is W420)
    bases = json.loads(meta["prefilled_baselines"])
    assert {k: bases[k] for k in ("K6-1-02", "K6-1-04", "K6-2-08")} == {"K6-1-02": 96.5, "K6-1-04": 8364,
                                                                         "K6-2-08": 82.9}
    hq = {r[0].value: r[1].value for r in _open(books["00"])[SHEET_META].iter_rows()}
    assert json.loads(hq["prefilled_targets"]) == {"K6-2-10": 142000000}
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props == {"kpisheet_format": TEMPLATE_FORMAT, "kpisheet_template_version": str(TEMPLATE_VERSION),
                     "kpisheet_branch_code": "10", "kpisheet_fiscal_year": "2024",
                     "kpisheet_catalogue_digest": cat.digest}


def test_term5_year_gets_term5_kpis_and_the_qualitative_inputs(books: dict[str, Path]) -> None:
    wb = _open(books["11"])
    names = _input_names(wb)
    assert not [n for n in names if n.startswith("in_K6")]
    assert "in_K5_2_10_text" in names and "in_K5_2_10_rating" in names
    assert "in_K5_2_10_target" not in names and "in_K5_2_10_num_202310" not in names
    assert "in_K5_2_01_num_202304" in names and "in_M_5_2_1_i_5_note" in names
    _, rating = _cell(wb, "in_K5_2_10_rating")
    dv = [d for d in wb[SHEET_KPI].data_validations.dataValidation if rating.coordinate in d.sqref]
    assert dv[0].type == "list" and dv[0].formula1 == RATING_NAME
    assert wb[SHEET_KPI]["B2"].value == "令和5年度 事業計画KPI 入力シート（埼玉支部）"


def test_k6_1_06_has_no_inputs_after_paper_cards_ended(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    months = sorted(n[-6:] for n in _input_names(wb) if n.startswith("in_K6_1_06_num_"))
    assert months == ["202404", "202405", "202406", "202407", "202408", "202409", "202410", "202411", "202412"]
    ws, dec = _cell(wb, "in_K6_1_06_num_202412")
    after = ws.cell(dec.row, dec.column + 1)
    assert ws.cell(KEY_ROW, after.column).value == "202501"
    assert after.protection.locked is not False and after.value == "対象外"
    assert "in_K6_2_01_num_202503" in _input_names(wb)


def test_national_only_kpi_is_only_in_the_hq_workbook(books: dict[str, Path]) -> None:
    hq, gunma = _open(books["00"]), _open(books["10"])
    assert {n.split("_")[1:4] == ["K6", "2", "10"] for n in _input_names(hq) if n.startswith("in_K")} == {True}
    assert not [n for n in _input_names(gunma) if n.startswith("in_K6_2_10")]
    assert _cell(hq, "in_K6_2_10_target")[1].value == 142000000
    assert _cell(hq, "in_K6_2_10_baseline")[1].value == 130000000


def test_prefilled_values_follow_the_catalogue_and_the_mapping(books: dict[str, Path]) -> None:
    wb = _open(books["10"])

    def value(name: str):
        return _cell(wb, name)[1].value

    assert value("in_K6_1_01_target") == 1.0  # fixed 100%
    assert value("in_K6_2_09_target") == 0.25 and value("in_K6_3_01_target") == 0.15
    assert value("in_K6_2_01_baseline") == pytest.approx(0.582)  # K5-2-01 carried (継続)
    assert value("in_K6_2_01_target") is None  # set by the branch
    assert value("in_K6_1_02_baseline") == pytest.approx(0.965) and value("in_K6_1_02_target") is None  # the rule
    assert value("in_K6_1_03_baseline") is None and value("in_K6_1_03_target") is None  # 定義変更: not carried
    assert value("in_K6_2_08_baseline") == pytest.approx(0.829) and value("in_K6_2_08_target") is None
    assert value("in_K6_1_04_baseline") == 8364 and value("in_K6_2_07_baseline") == 1170
    # prefilled cells stay unlocked inputs, shaded differently from empty inputs
    _, pre = _cell(wb, "in_K6_2_01_baseline")
    _, empty = _cell(wb, "in_K6_2_01_target")
    assert pre.protection.locked is False and empty.protection.locked is False
    assert pre.fill.fgColor.rgb != empty.fill.fgColor.rgb


def _info_row(ws, kpi_id: str) -> int:
    """The grey explanation row under a KPI's band (the band holds the id in column B)."""
    return next(c.row for c in ws["B"] if c.value == kpi_id) + 1


def _block_rows(ws, kpi_id: str) -> range:
    """The rows of a KPI's block: band, explanation, target, baseline and month rows."""
    band = _info_row(ws, kpi_id) - 1
    end = band + 1
    while end <= ws.max_row and (ws.cell(end, KEY_COLUMN).value or "").startswith(f"{kpi_id}|") or end == band + 1:
        end += 1
    return range(band, end)


def _prompt(wb: openpyxl.Workbook, name: str) -> str:
    ws, cell = _cell(wb, name)
    found = [dv for dv in ws.data_validations.dataValidation if cell.coordinate in dv.sqref]
    assert len(found) == 1, name
    return found[0].prompt or ""


def _parts(kpi) -> list[tuple[str, object]]:
    return [("num", kpi.numerator), ("den", kpi.denominator)] if kpi.kind == "ratio" else [("val", kpi.value_part)]


@pytest.mark.parametrize("code,fy", [("10", 2024), ("11", 2023), ("00", 2024)])
def test_flows_are_called_cumulative_and_stocks_never(books: dict[str, Path], code: str, fy: int) -> None:
    """Only a flow part (受診者数, 申請件数) is 累計: its prompt and its row label say so; a stock part
    (対象者数, 全被保険者数, 事業所数) never; and no text of a level KPI's block says 累計."""
    wb = _open(books[code])
    ws = wb[SHEET_KPI]
    seen = {True: 0, False: 0}
    for kpi in catalogue_for_fy(fy).kpis_for(fy, code):
        if kpi.kind == "qualitative":
            continue
        first = kpi.months(fy)[0]
        for fieldname, part in _parts(kpi):
            name = f"in_{kpi.id.replace('-', '_')}_{fieldname}_{first:%Y%m}"
            prompt, label = _prompt(wb, name), ws.cell(_cell(wb, name)[1].row, 3).value
            assert ("累計" in prompt) is part.is_flow, (name, prompt)
            assert ("累計" in label) is part.is_flow and label.startswith(part.label), (name, label)
            seen[part.is_flow] += 1
        if kpi.is_level:
            texts = [str(c.value) for r in _block_rows(ws, kpi.id) for c in ws[r] if c.value is not None]
            texts += [_prompt(wb, f"in_{kpi.id.replace('-', '_')}_{f}_{first:%Y%m}") for f, _ in _parts(kpi)]
            assert not [t for t in texts if "累計" in t], kpi.id
    assert seen[True] and (seen[False] or code == "00")


def test_a_population_is_entered_as_the_year_s_number(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    ws = wb[SHEET_KPI]
    den = _prompt(wb, "in_K6_2_01_den_202404")
    assert "年度の対象者数" in den and "各月とも同じ値で可" in den and "足し上げない" in den
    assert "月末時点" in _prompt(wb, "in_K6_2_07_val_202404")
    info = ws.cell(_info_row(ws, "K6-2-01"), 4).value  # C names the row, D:J explain (C prints again beside 10月)
    assert "分子（受診者数）は4月から各月末までの累計、分母（対象者数）は年度の対象者数（各月とも同じ値で可）" in info
    assert "分子・分母とも4月から各月末までの累計" in ws.cell(_info_row(ws, "K6-1-01"), 4).value
    heading = ws.cell(KPI_HEAD_ROWS[0] + 1, KPI_FIRST_MONTH_COL + 1).value
    assert heading.startswith("月別実績") and "各月末までの累計" not in heading
    assert all(f"「{tag}」" in heading for tag in ("累計", "月末時点", "年度の数"))


def test_explanation_shows_the_term_goal_the_data_lag_and_no_source_references(books: dict[str, Path]) -> None:
    ws = _open(books["10"])[SHEET_KPI]
    info = {k: ws.cell(_info_row(ws, k), 4).value for k in ("K6-1-01", "K6-2-01", "K6-2-07", "K6-2-08")}
    assert info["K6-2-01"].startswith("目標：支部で設定（第6期末目標 64.8%以上）")
    assert "目標：支部で設定（全国の第6期末目標 110,000事業所以上）" in info["K6-2-07"]
    assert info["K6-1-01"].startswith("目標：100.0%以上（第6期末目標と同じ）")
    assert "※健診データは通常2か月程度遅れて届きます。届いた月まで入力し、以降の月は空欄のままで構いません。" \
        in info["K6-2-01"]
    assert "4か月程度遅れて" in info["K6-2-08"] and "遅れて" not in info["K6-1-01"] + info["K6-2-07"]
    assert "データが届いていない月は空欄のままで構いません" in _prompt(_open(books["10"]), "in_K6_2_01_num_202404")
    assert not [c.coordinate for row in ws.iter_rows() for c in row if "seed" in str(c.value or "")]


def test_a_prefilled_target_says_it_may_be_overwritten(books: dict[str, Path]) -> None:
    ws, target = _cell(_open(books["10"]), "in_K6_1_01_target")
    hint = ws.cell(target.row, target.column + 1).value
    assert hint.startswith("← 本部記入済み（全国共通の目標）")
    assert "上書きしてください（上書きした値で評価します）" in hint


def test_a_previous_year_target_follows_the_rule(books: dict[str, Path]) -> None:
    """対前年度以上: the target cell stays empty and says the previous-year value is the target; the
    prefilled previous-year value says HQ's value is used."""
    ws, target = _cell(_open(books["10"]), "in_K6_1_02_target")
    assert target.value is None
    assert "下の前年度実績を目標として評価します" in ws.cell(target.row, target.column + 1).value
    _, base = _cell(_open(books["10"]), "in_K6_1_02_baseline")
    assert "評価には本部の値を使います" in ws.cell(base.row, base.column + 1).value
    _, generic = _cell(_open(books["10"]), "in_K6_2_08_target")
    assert generic.value is None and "80.0%以上ならその値" in ws.cell(generic.row, generic.column + 1).value


def test_guide_explains_the_three_kinds_of_monthly_value(books: dict[str, Path]) -> None:
    texts = "\n".join(str(c.value) for row in _open(books["10"])[SHEET_GUIDE].iter_rows() for c in row if c.value)
    assert "・「累計」：4月から各月末までの累計（例：10月の欄には4月〜10月の合計）" in texts
    assert "・「月末時点」：その月末時点の数（4月から足し上げない）" in texts
    assert "・「年度の数」：年度の対象者数など（4月から足し上げない。各月とも同じ値で可）" in texts
    assert "4月から前月末までの累計を入力します" not in texts
    assert "上書きした値で評価します" in texts and "第6期末目標は参考です" in texts


def test_ten_activity_rows_per_measure(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    ws = wb[SHEET_MEASURES]
    for measure in catalogue_for_fy(2024).measures_for("10"):
        mid = measure.id.replace("-", "_")
        rows = [_cell(wb, f"in_M_{mid}_{n}_text")[1].row for n in range(1, ROWS_PER_MEASURE + 1)]
        assert rows == list(range(rows[0], rows[0] + 10)), measure.id
        assert [ws.cell(r, MEASURE_COLS["text"]).value for r in rows] == list(range(1, 11))  # the No. column
        assert _cell(wb, f"in_M_{mid}_issue")[1].row == rows[-1] + 1
        assert f"in_M_{mid}_11_text" not in wb.defined_names
    assert "1施策10行まで" in ws["B5"].value


def test_generic_target_below_80_is_not_frozen_either(tmp_path: Path) -> None:
    data = build_template(catalogue_for_fy(2024), 2024, "10", baselines={("10", "K6-2-08"): 78.0},
                          targets={("10", "K6-2-01"): 61.0}, generated_at=AT)
    path = tmp_path / "b.xlsx"
    path.write_bytes(data)
    wb = _open(path)
    assert _cell(wb, "in_K6_2_08_target")[1].value is None  # 80% is the rule's, applied when rating
    assert _cell(wb, "in_K6_2_08_baseline")[1].value == pytest.approx(0.78)
    assert _cell(wb, "in_K6_2_01_target")[1].value == pytest.approx(0.61)


def test_same_generated_at_gives_the_same_bytes() -> None:
    cat = catalogue_for_fy(2024)
    a = build_template(cat, 2024, "10", generated_at=AT)
    b = build_template(cat, 2024, "10", generated_at=AT)
    c = build_template(cat, 2024, "10", generated_at=datetime(2024, 4, 2, tzinfo=timezone.utc))
    assert a == b and a != c


def test_input_names_are_recorded_as_xlsxwriter_records_them(tmp_path: Path) -> None:
    """The workbook's fast path for its own input names gives XlsxWriter's entries; other names are
    still XlsxWriter's to check (one that looks like a cell is refused, with its warning)."""
    import io

    import xlsxwriter

    from kpisheet.template.protection import locked_workbook

    ours, theirs = locked_workbook(io.BytesIO(), {}), xlsxwriter.Workbook(io.BytesIO())
    for wb in (ours, theirs):
        wb.add_worksheet("KPI入力")
        for name, ref in (("in_K6_2_01_num_202404", "='KPI入力'!$E$13"), ("in_M_6_1_I_1_text", "='KPI入力'!$E$9"),
                          ("kpisheet_ratings", "=_lists!$A$1:$A$5"), ("KPI入力!local", "=$A$1")):
            assert wb.define_name(name, ref) == 0
        with pytest.warns(UserWarning, match="looks like a cell"):
            assert wb.define_name("AB12", "=$A$1") == -1
    assert ours.defined_names == theirs.defined_names


def test_the_fast_paths_write_the_bytes_xlsxwriter_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template's shortcuts through XlsxWriter (input names recorded directly, a formula's dynamic-array
    check asked once per text) change nothing in the file: with XlsxWriter's own methods the bytes are the same."""
    from kpisheet.template import book, protection

    cat = catalogue_for_fy(2024)
    fast = [build_template(cat, 2024, code, generated_at=AT) for code in ("10", "00")]
    monkeypatch.delattr(book._Sheet, "_write_formula")
    monkeypatch.delattr(protection._LockedWorkbook, "define_name")
    assert [build_template(cat, 2024, code, generated_at=AT) for code in ("10", "00")] == fast


def test_every_guide_text_gets_the_lines_it_wraps_to(books: dict[str, Path]) -> None:
    """Column C of 入力の手引き (its items and the 入力例): a text wrapping to two lines gets a row two lines
    high — the 入力例's last row once printed its second line over the border below."""
    from kpisheet.template.book import BODY_FONT_WIDTH, GUIDE_TEXT_WIDTH, _lines

    ws = _open(books["10"])[SHEET_GUIDE]
    rows = [(r, ws.cell(r, 3).value) for r in range(5, ws.max_row + 1)
            if isinstance(ws.cell(r, 3).value, str) and ws.cell(r, 2).value]
    assert any("分母を超えています" in text for _, text in rows)
    for r, text in rows:
        lines = _lines(text, GUIDE_TEXT_WIDTH * BODY_FONT_WIDTH)
        assert (ws.row_dimensions[r].height or 15.0) >= 14.5 * lines, (r, text[:20])


def test_lint_rejects_what_excel_would_repair() -> None:
    ok = SimpleNamespace(names={"in_K6_2_01_target": "x"}, validations=[{"input_title": "t"}], sheets={"KPI入力": 0})
    _lint(ok)  # type: ignore[arg-type]
    for bad in (SimpleNamespace(names={"KPI1": "x"}, validations=[], sheets={}),
                SimpleNamespace(names={}, validations=[{"input_message": "あ" * 256}], sheets={}),
                SimpleNamespace(names={}, validations=[{"error_title": "x" * 33}], sheets={}),
                SimpleNamespace(names={}, validations=[], sheets={"あ" * 32: 0})):
        with pytest.raises(TemplateLintError):
            _lint(bad)  # type: ignore[arg-type]


@requires_soffice
def test_libreoffice_converts_it_to_a4_landscape_pages(books: dict[str, Path], tmp_path: Path) -> None:
    pdf = convert(books["10"], "pdf", tmp_path)
    pages = pdf_pages(pdf)
    assert len(pages) >= 3  # 手引き, KPI入力 and 取組状況 all print
    for width, height in pages:
        assert width == pytest.approx(841.9, abs=2) and height == pytest.approx(595.3, abs=2)


@requires_soffice
def test_a_branch_can_type_into_the_inputs_in_libreoffice(books: dict[str, Path], tmp_path: Path) -> None:
    filled = tmp_path / "filled.xlsx"
    lo_fill(books["10"], filled, {"in_K6_2_01_target": "61.0%", "in_K6_2_01_num_202410": "158,432",
                                  "in_K6_2_01_den_202410": "259725", "in_K6_1_01_target": "99.5%",
                                  "in_M_6_1_II_2_1_text": "郵送化の勧奨", "in_M_6_1_II_2_1_rating": "○"})
    wb = openpyxl.load_workbook(filled, data_only=True)
    assert _cell(wb, "in_K6_2_01_target")[1].value == pytest.approx(0.61)
    assert _cell(wb, "in_K6_1_01_target")[1].value == pytest.approx(0.995)  # prefilled but correctable
    assert _cell(wb, "in_K6_2_01_num_202410")[1].value == 158432
    assert _cell(wb, "in_M_6_1_II_2_1_rating")[1].value == "○"
    ws, den = _cell(wb, "in_K6_2_01_den_202410")
    assert ws.cell(den.row + 1, den.column).value == pytest.approx(158432 / 259725)  # LO recalculated the rate


# ------------------------------------------------------------------ what the branch enters (issue 11)
def test_measures_only_hq_carries_out_are_only_in_the_hq_workbook(books: dict[str, Path]) -> None:
    cat = catalogue_for_fy(2024)
    hq_only = [m.id for m in cat.measures if m.scope == "hq"]
    assert {"6-3-IV-1", "6-3-IV-4", "6-3-III"} <= set(hq_only)
    gunma, hq = _input_names(_open(books["10"])), _input_names(_open(books["00"]))
    for mid in hq_only:
        stem = f"in_M_{mid.replace('-', '_')}_"
        assert not [n for n in gunma if n.startswith(stem)] and f"{stem}1_text" in hq
    texts = [str(c.value) for row in _open(books["10"])[SHEET_MEASURES].iter_rows() for c in row if c.value]
    assert not [t for t in texts if "システム整備" in t or "広報基本方針" in t]


def test_preparer_and_contact_are_named_inputs_at_the_top(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    for name, label in (("in_info_preparer", "記入者"), ("in_info_contact", "連絡先")):
        ws, cell = _cell(wb, name)
        assert ws.title == SHEET_KPI and cell.row < KPI_HEAD_ROWS[0] and cell.protection.locked is False
        assert ws.cell(cell.row, cell.column - 1).value == label


def test_check_count_is_a_workbook_name_shown_on_three_sheets(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    (sheet, ref), = wb.defined_names[CHECK_COUNT_NAME].destinations
    count = wb[sheet][ref.replace("$", "")]
    assert sheet == SHEET_KPI and count.value.startswith("=") and count.protection.locked is not False
    for title in (SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES):
        formulas = [c.value for row in wb[title].iter_rows(max_row=7) for c in row
                    if isinstance(c.value, str) and c.value.startswith("=")]
        assert any("0件になったら送付してください" in f for f in formulas), title
    # portable formulas only: no dynamic arrays, LET/LAMBDA, or functions newer than Excel 2007
    for title in (SHEET_KPI, SHEET_MEASURES):
        for row in wb[title].iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("="):
                    assert not re.search(r"_xlfn|LET\(|LAMBDA\(|FILTER\(|XLOOKUP|TEXTJOIN|IFS\(", c.value), c.coordinate


def test_last_year_s_value_is_typed_once_where_the_target_follows_from_it(books: dict[str, Path]) -> None:
    ws, target = _cell(_open(books["10"]), "in_K6_1_03_target")  # 対前年度以上, no value HQ could carry over
    hint = ws.cell(target.row, target.column + 1).value
    assert hint.startswith("← 空欄のままで構いません（下の前年度実績を目標として評価します）")
    assert "前年度実績と同じ値を入力" not in hint


def test_the_guide_names_the_plan_once_and_explains_the_check(books: dict[str, Path]) -> None:
    texts = "\n".join(str(c.value) for row in _open(books["10"])[SHEET_GUIDE].iter_rows() for c in row if c.value)
    assert "（第6期保険者機能強化アクションプラン）" in texts and "第6期 第6期" not in texts
    assert "入力チェック" in texts and "0件になったら送付してください" in texts
    hq = "\n".join(str(c.value) for row in _open(books["00"])[SHEET_GUIDE].iter_rows() for c in row if c.value)
    assert "返送先" not in hq and "保存先" in hq  # 本部 does not return its workbook to itself
    # the settings' department (tests run with kpisheet.domain.settings.example_settings(), see conftest)
    assert "入力したブックは、月次集計の受信フォルダに保存してください（本部 企画部 事業計画グループ）。" in hq
    assert "kpi-plan@example.jp" in texts and "【要記入】" not in texts + hq


def test_the_issue_cell_is_one_cell_that_grows_with_its_text(books: dict[str, Path]) -> None:
    wb = _open(books["10"])
    ws, issue = _cell(wb, "in_M_6_1_II_2_issue")
    assert not [r for r in ws.merged_cells.ranges if issue.coordinate in r]
    assert issue.alignment.wrap_text and not ws.row_dimensions[issue.row].customHeight


@requires_soffice
def test_printed_pages_never_split_a_kpi_block(books: dict[str, Path], tmp_path: Path) -> None:
    """Each KPI入力 page holds whole blocks: every KPI id printed on a page has its last row (計算 for a
    ratio, 実績 for a count) on the same page.  The sheet prints two pages wide (4月〜9月, then 10月〜3月
    with ID and 項目 repeated), so every block prints whole twice."""
    import subprocess

    pdf = convert(books["10"], "pdf", tmp_path)
    kinds = {k.id: k.kind for k in catalogue_for_fy(2024).kpis_for(2024, "10")}
    seen: dict[str, int] = {}
    for page in range(1, len(pdf_pages(pdf)) + 1):
        words = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
                               capture_output=True, text=True, check=True).stdout.split()
        ids = [w for w in words if w in kinds]
        if not ids:
            continue
        for i in ids:
            seen[i] = seen.get(i, 0) + 1
        ratio = sum(1 for i in ids if kinds[i] == "ratio")
        assert words.count("計算") == ratio, (page, ids)
        assert words.count("実績") == len(ids) - ratio, (page, ids)
    assert seen == {k: 2 for k in kinds}


@pytest.mark.parametrize("password", [None, "s3cret&<"])
def test_the_workbook_written_locked_is_the_one_lock_structure_would_make(password, monkeypatch) -> None:
    """build_template writes the structure lock with the workbook (template.protection.locked_workbook);
    the bytes are those of a plain XlsxWriter workbook patched by lock_structure, the way it was done."""
    import xlsxwriter

    from kpisheet.template import build, protection

    cat = catalogue_for_fy(2024)
    at = datetime(2024, 4, 1, tzinfo=timezone.utc)
    locked = build.build_template(cat, 2024, "13", generated_at=at, password=password)
    assert protection.is_locked(locked)
    monkeypatch.setattr(build, "locked_workbook", lambda buf, options, password=None: xlsxwriter.Workbook(buf, options))
    patched = build.build_template(cat, 2024, "13", generated_at=at, password=password)  # falls back to lock_structure
    assert patched == locked


def test_the_dynamic_array_question_is_xlsxwriters_whichever_way_it_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """XlsxWriter 3.3.2 and later ask with _has_dynamic_function, earlier versions with re_dynamic_function:
    the template asks whichever the installed version has."""
    import xlsxwriter.worksheet as xw

    from kpisheet.template.book import _xlsxwriter_is_dynamic

    if not hasattr(xw, "_has_dynamic_function"):
        assert _xlsxwriter_is_dynamic("=SORT(A1:A3)") and not _xlsxwriter_is_dynamic("=SUM(A1:A3)")
    asked: list[str] = []
    monkeypatch.setattr(xw, "_has_dynamic_function", lambda formula: asked.append(formula) or True, raising=False)
    assert _xlsxwriter_is_dynamic("=SUM(A1:A3)") and asked == ["=SUM(A1:A3)"]
