"""The national plan summary (全国_事業計画_FY2025.xlsx) and a branch's plan feedback, from 47 branches'
plans built directly (tests/builders/plan_summary.py): three missing, two with errors, targets below
last year with and without a reason, a measure left empty and one covered under another."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.domain.catalogue import PlanCounts, catalogue_for_fy
from kpisheet.domain.findings import finding
from kpisheet.domain.model import InputValue
from kpisheet.domain.plan import PlanKpi, PlanSubmission
from kpisheet.fileio import OutputExistsError
from kpisheet.plan.feedback import write_plan_feedback
from kpisheet.plan.summary import (
    BELOW_BG,
    MISSING_BG,
    REASON_BG,
    ImpliedTarget,
    implied_national_targets,
    summary_name,
    write_plan_summary,
)
from tests.builders.plan_summary import (
    FY,
    KPI_SHEET,
    national_plans,
    plan_workbook,
    previous_plans,
    target_cell,
)


@pytest.fixture(scope="module")
def plans() -> tuple[dict[str, PlanSubmission | None], dict[str, list[Any]]]:
    return national_plans()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory, plans: Any) -> Path:
    out = tmp_path_factory.mktemp("plan_summary")
    (path,) = write_plan_summary(plans[0], plans[1], FY, out, previous=previous_plans(plans[0]))
    return path


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    return [r for r in ws.iter_rows(values_only=True)]


def _row_of(ws: Any, first: Any, *, after: int = 0) -> int:
    """The first row (1-based) at or after `after` whose column A holds `first`."""
    return next(c.row for c in ws["A"] if c.row > after and c.value == first)


def _fill(cell: Any) -> str | None:
    rgb = cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type == "solid" else None
    return "#" + rgb[2:] if isinstance(rgb, str) else None


# ================================================================ the implied national target
def test_the_implied_national_target_pools_the_counts_and_sums_the_counts(plans: Any) -> None:
    got = implied_national_targets(plans[0], catalogue_for_fy(FY), fiscal_year=FY)
    given = [p for p in plans[0].values() if p is not None]
    population = sum(p.kpis["K6-2-01"].population.value for p in given)
    planned = sum(p.kpis["K6-2-01"].planned.value for p in given)
    assert 100 * planned / population == pytest.approx(54.0732, abs=1e-4)
    # at the KPI's shown precision, as a branch writes a target (and as the targets file and consolidation take it)
    assert got["K6-2-01"] == ImpliedTarget(54.1, 44, 47, "counts")
    # 健康宣言事業所数: Σ targets of the 44 plans (長野's 800 among them)
    assert got["K6-2-07"] == ImpliedTarget(56200.0, 44, 47, "sum")
    # a rate no plan gives counts for, a yen KPI: none
    assert got["K6-1-02"] == ImpliedTarget(None, 0, 47, "")
    assert got["K6-1-04"] == ImpliedTarget(None, 0, 47, "")
    # 対前年度 targets are no number to add up
    assert got["K6-2-12"] == ImpliedTarget(None, 0, 47, "sum")


def test_a_kpi_sharing_a_population_takes_the_other_kpis_count() -> None:
    """事業者健診データ shares 生活習慣病予防健診's 対象者数 (catalogue plan.shared_with): a plan that writes it once."""
    catalogue = catalogue_for_fy(FY)
    shared = PlanCounts("対象者数", "取得見込者数", shared_with="K6-2-01")
    kpis = tuple(dataclasses.replace(k, plan=shared) if k.id == "K6-2-02" else
                 dataclasses.replace(k, plan=PlanCounts("対象者数", "受診見込者数")) if k.id in ("K6-2-01", "K6-2-03")
                 else k
                 for k in catalogue.kpis)
    catalogue = dataclasses.replace(catalogue, kpis=kpis)
    plan = PlanSubmission("x.xlsx", None, FY, "10", "群馬支部", kpis={
        "K6-2-01": PlanKpi("K6-2-01", "value", InputValue(61.0), population=InputValue(259725.0),
                           planned=InputValue(158432.0)),
        "K6-2-02": PlanKpi("K6-2-02", "value", InputValue(10.0), planned=InputValue(25973.0))})
    got = implied_national_targets({"10": plan, "11": None}, catalogue, fiscal_year=FY)
    assert got["K6-2-02"] == ImpliedTarget(10.0, 1, 47, "counts")  # 25,973 ÷ 259,725 = 10.0002% → 10.0%
    assert got["K6-2-03"] == ImpliedTarget(None, 0, 47, "counts")  # takes counts; no plan gave them
    assert got["K6-2-04"] == ImpliedTarget(None, 0, 47, "counts")  # the catalogue's counts; no plan gave them
    assert got["K6-2-06"] == ImpliedTarget(None, 0, 47, "")  # no plan data in the catalogue, no counts given


# ================================================================ 概要
def test_the_overview_names_who_submitted_and_sums_up_each_kpi(book: Path) -> None:
    ws = openpyxl.load_workbook(book)["概要"]
    assert ws["A1"].value == "令和7年度 事業計画 全国まとめ"
    facts = {r[0]: r[1] for r in _rows(ws)[1:5]}
    assert facts == {"提出状況": "47支部中 提出 44（うちエラーあり 2） ／ 未提出 3",
                     "未提出": "秋田、鳥取、沖縄",
                     "エラーあり": "東京、大阪（エラー 2件・警告 0件：「検証結果」シート）",
                     "提出済": facts["提出済"]}
    assert "茨城" in facts["提出済"] and "東京" not in facts["提出済"] and facts["提出済"].count("、") == 41
    head = _row_of(ws, "KPI")
    assert [c.value for c in ws[head]] == ["KPI", "目標を設定した支部", "対前年度を選んだ支部", "前年度を下回る目標",
                                           "数値目標の範囲", "全国の目標（見込み）", "第6期末目標"]
    rows = {r[0].split("\n")[0]: r[1:] for r in _rows(ws)[head:] if r[0] and r[0].startswith("K6-")}
    assert rows["K6-2-01"] == ("44支部\n数値 44", "なし", "2支部：茨城、山梨（理由あり）", "51.2%〜56.0%\n中央値 53.8%",
                               "54.1%\n見込者数÷対象者数\n44/47支部", "64.8%以上")
    assert rows["K6-2-07"] == ("44支部\n数値 44", "なし", "1支部：長野", "800事業所〜1,510事業所\n中央値 1,285事業所",
                               "56,200事業所\n目標の合計\n44/47支部", "110,000事業所以上")
    assert rows["K6-1-02"][:2] == ("44支部\n数値 1\n対前年度 43", "43支部（ほかの支部：埼玉）")
    assert rows["K6-1-03"][1] == "44支部（目標を設定した全支部）"
    assert rows["K6-1-02"][3:] == ("95.4%\n中央値 95.4%", "—", "対前年度以上")
    assert len(rows) == 17  # every branch KPI of FY2025 (K6-1-06 ended in 2024, K6-2-10 is national only)


def test_a_few_branches_choosing_the_rule_are_named_and_hqs_plan_is_noted(tmp_path: Path, plans: Any) -> None:
    changed = dict(plans[0])
    for code in ("01", "02", "03"):
        plan = dataclasses.replace(changed[code])
        plan.kpis = {**plan.kpis, "K6-2-09": PlanKpi("K6-2-09", "previous_year")}
        changed[code] = plan
    changed["00"] = PlanSubmission("00_本部.xlsx", None, FY, "00", "本部")
    (path,) = write_plan_summary(changed, plans[1], FY, tmp_path)
    ws = openpyxl.load_workbook(path)["概要"]
    rows = {r[0].split("\n")[0]: r for r in _rows(ws) if isinstance(r[0], str)}
    assert rows["K6-2-09"][1:3] == ("44支部\n数値 41\n対前年度 3", "3支部：北海道、青森、岩手")
    assert rows["本部"][1] == "本部の計画：提出済"
    assert rows["提出状況"][1] == "47支部中 提出 44（うちエラーあり 2） ／ 未提出 3"  # 本部 is not a branch


def test_a_branch_whose_file_could_not_be_read_is_one_with_errors(tmp_path: Path, plans: Any) -> None:
    findings = {**plans[1], "05": [finding("E103", file="05_秋田支部.xlsx", branch="05")]}
    (path,) = write_plan_summary(plans[0], findings, FY, tmp_path)
    wb = openpyxl.load_workbook(path)
    facts = {r[0]: r[1] for r in _rows(wb["概要"])[1:5]}
    assert facts["未提出"] == "鳥取、沖縄"
    assert facts["エラーあり"] == "秋田、東京、大阪（エラー 3件・警告 0件：「検証結果」シート）"
    ws = wb["支部別目標"]
    head, cols = _block(ws, "2-01")
    akita = _row_of(ws, "05", after=head)
    assert ws.cell(akita, 3).value == "エラーあり" and _fill(ws.cell(akita, cols["2-01"])) == MISSING_BG


# ================================================================ 支部別目標
def _block(ws: Any, kpi_head: str) -> tuple[int, dict[str, int]]:
    """(head row, {KPI id's short form: column}) of the block whose head names `kpi_head`."""
    for row in ws.iter_rows():
        heads = {str(c.value).split("\n")[0]: c.column for c in row if isinstance(c.value, str) and "\n" in c.value}
        if kpi_head in heads:
            return row[0].row, heads
    raise AssertionError(kpi_head)


def test_the_target_matrix_shows_each_target_its_colour_and_its_change(book: Path) -> None:
    ws = openpyxl.load_workbook(book)["支部別目標"]
    head, cols = _block(ws, "2-01")
    assert list(cols) == ["2-01", "2-02", "2-03", "2-04", "2-05", "2-06"]

    def cell(code: str, kpi: str) -> Any:
        return ws.cell(_row_of(ws, code, after=head), cols[kpi])

    below, reason = cell("08", "2-01"), cell("19", "2-01")  # 茨城 no reason, 山梨 with one
    assert (below.value, below.number_format, _fill(below)) == (0.55, '0.0%"↑"', BELOW_BG)
    assert (reason.value, _fill(reason)) == (0.56, REASON_BG)
    assert (cell("11", "2-01").number_format, cell("10", "2-01").number_format) == ('0.0%"→"', '0.0%"↓"')
    assert _fill(cell("09", "2-01")) is None
    assert (cell("05", "2-01").value, _fill(cell("05", "2-01"))) == (None, MISSING_BG)  # 秋田: no plan
    assert ws.cell(_row_of(ws, "05", after=head), 3).value == "未提出"
    assert ws.cell(_row_of(ws, "13", after=head), 3).value == "エラーあり"
    assert cell("09", "2-06").value == "対前年度→"
    nation = next(r for r in range(head, ws.max_row + 1) if ws.cell(r, 2).value == "全国")
    assert round(ws.cell(nation, cols["2-01"]).value, 3) == 0.541
    assert ws.cell(nation, cols["2-01"]).number_format == '0.0%"＊"'  # 44 of 47 plans: marked as partial
    assert ws.cell(nation, cols["2-06"]).value == "—"
    head1, cols1 = _block(ws, "1-02")
    saitama = ws.cell(_row_of(ws, "11", after=head1), cols1["1-02"])  # a number where the rule is 対前年度
    assert (saitama.value, saitama.number_format) == (0.954, '0.0%"↑"')
    head3, cols3 = _block(ws, "2-07")
    nagano = ws.cell(_row_of(ws, "20", after=head3), cols3["2-07"])  # last year's 799.5 shows as 800: →
    assert (nagano.value, nagano.number_format, _fill(nagano)) == (800, '#,##0"→"', BELOW_BG)
    assert ws.cell(_row_of(ws, "21", after=head3), cols3["2-07"]).number_format == '#,##0"↑"'


def test_last_years_national_result_is_shown_under_the_implied_target(tmp_path: Path, plans: Any) -> None:
    (path,) = write_plan_summary(plans[0], plans[1], FY, tmp_path, national_results={"K6-2-01": 53.25,
                                                                                   "K6-1-02": 95.04})
    ws = openpyxl.load_workbook(path)["概要"]
    rows = {r[0].split("\n")[0]: r for r in _rows(ws) if isinstance(r[0], str) and r[0].startswith("K6-")}
    assert rows["K6-2-01"][5] == "54.1%\n見込者数÷対象者数\n44/47支部\n前年度の全国実績 53.3%"
    assert rows["K6-1-02"][5] == "—\n前年度の全国実績 95.0%"
    assert rows["K6-2-07"][5] == "56,200事業所\n目標の合計\n44/47支部"


def test_without_last_years_plans_there_are_no_arrows(tmp_path: Path, plans: Any) -> None:
    (path,) = write_plan_summary(plans[0], plans[1], FY, tmp_path)
    ws = openpyxl.load_workbook(path)["支部別目標"]
    head, cols = _block(ws, "2-01")
    assert ws.cell(_row_of(ws, "08", after=head), cols["2-01"]).number_format == "0.0%"
    assert ws.cell(_row_of(ws, "09", after=head), cols["2-06"]).value == "対前年度"


# ================================================================ 施策の記載
def _measure_cell(ws: Any, code: str, measure: str) -> Any:
    """The cell of a branch in the column headed `measure` (each block has its own head row)."""
    head = next(c for row in ws.iter_rows() for c in row if c.value == measure)
    return ws.cell(_row_of(ws, code, after=head.row), head.column)


def test_the_measures_matrix_counts_items_and_marks_what_is_missing(book: Path) -> None:
    ws = openpyxl.load_workbook(book)["施策の記載"]
    empty = _measure_cell(ws, "04", "2-II-4")  # 宮城 wrote nothing
    assert (empty.value, _fill(empty)) == ("—", BELOW_BG)
    assert _measure_cell(ws, "04", "2-II-5").value == "→2-II-1"
    focus = _measure_cell(ws, "10", "2-II-2")  # 群馬's 重点
    assert (focus.value, focus.number_format, _fill(focus)) == (3, '0"★"', None)
    assert _measure_cell(ws, "09", "2-II-2").number_format == "0"
    assert (_measure_cell(ws, "05", "2-II-2").value, _fill(_measure_cell(ws, "05", "2-II-2"))) == (None, MISSING_BG)
    assert (_measure_cell(ws, "10", "独自").value, _measure_cell(ws, "04", "独自").value) == (1, 0)


# ================================================================ 検証結果, text, writing
def test_every_finding_is_listed_with_its_file_sheet_and_cell(book: Path) -> None:
    ws = openpyxl.load_workbook(book)["検証結果"]
    head = _row_of(ws, "支部コード")
    rows = [r for r in _rows(ws)[head:] if r[0]]
    cell = target_cell(catalogue_for_fy(FY), "K6-2-07")
    assert [(r[0], r[1], r[3], r[4], r[5], r[6]) for r in rows] == [
        ("13", "東京", KPI_SHEET, cell, "E409", "エラー"), ("27", "大阪", KPI_SHEET, cell, "E409", "エラー")]
    assert rows[0][2] == "13_東京支部_FY2025_事業計画.xlsx"


def test_branch_text_is_written_as_text(tmp_path: Path) -> None:
    plan = PlanSubmission("=HYPERLINK(\"http://x\").xlsx", None, FY, "01", "北海道支部")
    bad = finding("E409", file=plan.path, branch="01", sheet=KPI_SHEET, cell="F6", value="=1+1", label="=SUM(A1)",
                  expected=10)
    (path,) = write_plan_summary({"01": plan}, {"01": [bad]}, FY, tmp_path)
    with zipfile.ZipFile(path) as z:
        sheets = b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert b"<f>" not in sheets
    ws = openpyxl.load_workbook(path)["検証結果"]
    values = [c for row in ws.iter_rows() for c in row if c.value == "=1+1"]
    assert values and all(c.data_type == "s" for c in values)


def test_the_summary_is_written_atomically_and_kept_without_force(tmp_path: Path, plans: Any) -> None:
    (path,) = write_plan_summary(plans[0], plans[1], FY, tmp_path)
    assert path == tmp_path / summary_name(FY) == tmp_path / "全国_事業計画_FY2025.xlsx"
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_plan_summary(plans[0], plans[1], FY, tmp_path, force=False)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# ================================================================ a branch's plan feedback
def _tokyo(tmp_path: Path, plans: Any) -> tuple[PlanSubmission, list[Any]]:
    plan = dataclasses.replace(plans[0]["13"])
    plan.path = str(plan_workbook(tmp_path / "13_東京支部_事業計画.xlsx", plan))
    return plan, [dataclasses.replace(f, file=plan.path) for f in plans[1]["13"]]


def test_the_plan_feedback_marks_the_cell_and_lists_what_to_fix(tmp_path: Path, plans: Any) -> None:
    plan, found = _tokyo(tmp_path, plans)
    before = Path(plan.path).read_bytes()
    out = write_plan_feedback(plan, found, tmp_path / "feedback" / "13_東京支部_FY2025_事業計画_確認事項.xlsx")
    assert Path(plan.path).read_bytes() == before  # the branch's file is never changed
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["確認事項", "施策と事業内容", "KPI目標"]
    cell = target_cell(catalogue_for_fy(FY), "K6-2-07")
    marked = wb[KPI_SHEET][cell]
    assert marked.value == 1180 and _fill(marked) == "#FF9B9B"
    assert marked.comment is not None and marked.comment.text.startswith("【E409 エラー】「健康宣言事業所数の目標の考え方」")
    ws = wb["確認事項"]
    assert ws["A1"].value == "令和7年度 事業計画 確認事項（東京支部）"
    assert ws["A2"].value == "提出ファイル：13_東京支部_事業計画.xlsx"
    assert ws["A3"].value.startswith("エラー 1件 ／ 警告 0件。")
    head = _row_of(ws, "No")
    assert [c.value for c in ws[head + 1]] == [
        1, "「健康宣言事業所数の目標の考え方」の文章が1200文字あり、上限の1000文字を超えています。要点を1000文字以内に"
           "まとめてください。", KPI_SHEET, cell, "E409", "エラー"]
    targets = _row_of(ws, "KPI ID")
    rows = {r[0]: r[1:] for r in _rows(ws)[targets:] if r[0]}
    assert rows["K6-2-01"] == ("生活習慣病予防健診実施率", "52.6%以上", "51.3%（見込み）", "33,100人", "17,411人")
    assert rows["K6-1-02"][1] == "対前年度以上"


def test_a_reason_is_shown_beside_its_target_as_text(tmp_path: Path, plans: Any) -> None:
    plan = dataclasses.replace(plans[0]["19"])  # 山梨: below last year, with a reason
    plan.kpis = dict(plan.kpis)
    plan.kpis["K6-2-02"] = dataclasses.replace(plan.kpis["K6-2-02"], reason=InputValue("=1+1"))
    plan.path = str(plan_workbook(tmp_path / "19.xlsx", plan))
    wb = openpyxl.load_workbook(write_plan_feedback(plan, [], tmp_path / "fb.xlsx"))
    ws = wb["確認事項"]
    assert ws["A3"].value == "指摘事項はありません。このままで結構です（再提出は不要です）。"
    rows = {r[0]: r for r in _rows(ws) if r[0]}
    assert rows["K6-2-01"][1] == "生活習慣病予防健診実施率\n（考え方）健診機関の減少により受診枠が減るため"
    assert rows["K6-2-02"][1].endswith("（考え方）=1+1")
    assert [c for row in ws.iter_rows() for c in row if c.value and "=1+1" in str(c.value)][0].data_type == "s"


def test_a_plan_file_that_cannot_be_copied_gets_the_list_alone(tmp_path: Path, plans: Any) -> None:
    plan, found = _tokyo(tmp_path, plans)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    plan.path = str(broken)
    wb = openpyxl.load_workbook(write_plan_feedback(plan, found, tmp_path / "fb.xlsx"))
    assert wb.sheetnames == ["確認事項"]
    notes = [c.value for c in wb["確認事項"]["A"] if isinstance(c.value, str) and c.value.startswith("※")]
    assert notes and notes[0].startswith("※ 提出ファイルを確認用の写しに複製できなかったため、確認事項のみを記載しています（zip")
    plan.path = "ledger:17"  # a version from the ledger: no file to copy
    wb = openpyxl.load_workbook(write_plan_feedback(plan, found, tmp_path / "fb2.xlsx"))
    assert wb.sheetnames == ["確認事項"]


def test_an_unreadable_plan_file_gets_the_list_alone_saying_so(tmp_path: Path, plans: Any) -> None:
    plan, _found = _tokyo(tmp_path, plans)
    unreadable = finding("E101", file=plan.path, branch="13")
    wb = openpyxl.load_workbook(write_plan_feedback(plan, [unreadable], tmp_path / "fb.xlsx"))
    assert wb.sheetnames == ["確認事項"]
    assert wb["確認事項"]["A4"].value == "※ 提出ファイルを読み込めなかったため、確認事項のみを記載しています（理由は下の指摘事項のとおりです）。"
    head = _row_of(wb["確認事項"], "No")
    assert wb["確認事項"].cell(head + 1, 5).value == "E101"


# ================================================================ widths and print (LibreOffice)
def test_every_number_of_the_summary_and_the_feedback_fits_its_column(book: Path, tmp_path: Path,
                                                                       plans: Any) -> None:
    from tests.test_cell_widths import cut_numbers

    plan, found = _tokyo(tmp_path, plans)
    feedback = write_plan_feedback(plan, found, tmp_path / "fb.xlsx")
    assert cut_numbers(book) == [] and cut_numbers(feedback) == []


def test_the_width_check_sees_a_count_its_column_cuts(tmp_path: Path, plans: Any) -> None:
    """The check above can fail: a nation's sum of 健康宣言事業所数 too wide for a KPI column would be cut."""
    from tests.test_cell_widths import cut_numbers

    big = dict(plans[0])
    plan = dataclasses.replace(big["01"])
    plan.kpis = {**plan.kpis, "K6-2-07": dataclasses.replace(plan.kpis["K6-2-07"], target=InputValue(1e12))}
    big["01"] = plan
    (path,) = write_plan_summary(big, plans[1], FY, tmp_path)
    assert cut_numbers(path) == []  # the column grew for it
    wb = openpyxl.load_workbook(path)
    ws = wb["支部別目標"]
    head, cols = _block(ws, "2-07")
    ws.column_dimensions[openpyxl.utils.get_column_letter(cols["2-07"])].width = 9
    wb.save(tmp_path / "narrowed.xlsx")
    assert any("「1,000,000,000,000」" in c for c in cut_numbers(tmp_path / "narrowed.xlsx"))


@pytest.mark.soffice
def test_the_summary_and_the_feedback_print_readably_on_a4(book: Path, tmp_path: Path, plans: Any) -> None:
    """Each sheet printed alone by LibreOffice: 概要 at 9 pt or more, every other page at 8 pt or more, no
    「###」, 支部別目標 one page per block (3), the feedback's 確認事項 (patched copy and sheet alone) on A4."""
    from tests.printing import pages_per_sheet, printed_words_per_sheet, skip_without_printing

    skip_without_printing()
    plan, found = _tokyo(tmp_path, plans)
    feedback = write_plan_feedback(plan, found, tmp_path / "fb.xlsx")
    plan.path = "ledger:17"  # no file to copy: the 確認事項 sheet alone, written by openpyxl
    alone = write_plan_feedback(plan, found, tmp_path / "alone.xlsx")
    for path, least in ((book, {"概要": 9.0}), (feedback, {}), (alone, {})):
        printed = printed_words_per_sheet(path, timeout=600)
        if path != book:  # the branch's own sheets (here a stand-in) print as the branch laid them out
            printed = {"確認事項": printed["確認事項"]}
        assert not {s: w for s, (_, words) in printed.items() if (w := [x for x in words if "###" in x])}
        small = {s: [round(pt, 2) for pt in pages if pt < least.get(s, 8.0)] for s, (pages, _) in printed.items()}
        assert all(pages for pages, _ in printed.values()) and not any(small.values()), small
    pages = pages_per_sheet(book, timeout=600)
    assert pages["支部別目標"] == 3 and pages["施策の記載"] <= 6 and pages["概要"] <= 4, pages
