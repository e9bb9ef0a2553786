"""実施状況: the row model, the all-branches workbook and the sheet in each way feedback is written."""

from __future__ import annotations

import zipfile
from datetime import date

import openpyxl
import pytest

from kpisheet.fileio import OutputExistsError
from kpisheet.month import consolidate
from kpisheet.write.feedback import build as feedback
from kpisheet.write.feedback.build import write_feedback
from kpisheet.write.report import lines_of
from kpisheet.write.report.plan_status import (
    COLUMNS,
    LEGEND_JA,
    NO_MARK_JA,
    PlanRow,
    plan_status_cells,
    plan_status_name,
    plan_status_rows,
    write_all_plan_status,
)

from .consolidate_helpers import den, filled, mfield, num
from .lo import convert, pdf_pages, requires_soffice

OCT24 = date(2024, 10, 1)
CODES = ("11", "12")
LONG = "健康宣言事業所への訪問を行い、" * 20  # 300 characters: a row many lines high


def _values(code: str) -> dict:
    values = {mfield("6-1-I", "text", 1): "評議会で保険料率を議論した", mfield("6-1-I", "rating", 1): "○",
              mfield("6-1-II-2", "text", 1): "郵送化を勧奨した", mfield("6-1-II-2", "rating", 1): "○",
              mfield("6-1-II-2", "text", 2): "電話応対研修を実施した", mfield("6-1-II-2", "rating", 2): "△",
              mfield("6-1-II-2", "note", 2): "講師の都合で下期に延期", mfield("6-1-II-2", "issue"): "=1+1",
              mfield("6-1-III", "text", 1): LONG, mfield("6-1-III", "rating", 1): "○"}
    for month in range(4, 11):
        m = date(2024, month, 1)
        values[num("K6-1-01", m)], values[den("K6-1-01", m)] = 1000, 1000
    if code == "12":
        values[mfield("6-1-I", "text", 1)] = "保険料率の議論"
    return values


@pytest.fixture(scope="module")
def cons(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan_status")
    for code in CODES:
        filled(root, root / "inbox", 2024, code, _values(code), CODES)
    return consolidate(root / "inbox", fiscal_year=2024, month=OCT24)


def _rows(rows: list[PlanRow], kinds: tuple[str, ...] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.kind, r.cells) for r in rows if kinds is None or r.kind in kinds]


def test_rows_of_a_small_consolidation(cons):
    rows = plan_status_rows(cons, "11")
    assert _rows(rows)[:8] == [
        ("title", ("令和6年度埼玉支部事業計画実施状況（概要版）", "", "", "", "")),
        ("note", ("令和6年10月分の集計。実績の（R6.1現在）などは、その値のデータが届いている月です。", "", "", "", "")),
        ("legend", (LEGEND_JA, "", "", "", "")),
        ("note", (NO_MARK_JA, "", "", "", "")),
        ("head", COLUMNS),
        ("pillar", ("1、基盤的保険者機能の盤石化", "", "", "", "")),
        ("activity", ("I) 健全な財政運営", "評議会で保険料率を議論した", "—", "—", "○")),
        ("measure", ("II) ① 業務処理体制の強化と意識改革の徹底", "（記入なし）", "", "", "")),
    ]
    assert LEGEND_JA == "結果：「◎計画を大幅に上回る」・「○計画通り」・「△計画を下回る」・「×未実施」"
    service = [(r.kind, r.cells) for r in rows if r.measure_id == "6-1-II-2"]
    assert service == [
        ("activity", ("II) ② サービス水準の向上", "① 郵送化を勧奨した", "—", "—", "○")),
        ("activity", ("", "② 電話応対研修を実施した", "—", "—", "△")),
        ("kpi", ("", "サービススタンダードの達成状況を100.0%以上とする", "100.0%以上", "100.0%（R6.10現在）", "○")),
        ("kpi", ("", "【KPI】現金給付等の申請に係る郵送化率", "前年度実績なし", "—（未報告）", "—")),
        ("issue", ("課題", "=1+1", "", "", "")),
    ]
    assert [r.cells[0] for r in rows if r.kind == "pillar"] == [
        "1、基盤的保険者機能の盤石化", "2、戦略的保険者機能の一層の発揮", "3、保険者機能の強化を支える組織・運営体制等の整備"]
    assert [r.kind for r in rows].count("head") == 1  # printed on every page (the sheet's title rows)


def test_measures_only_hq_carries_out_are_left_out_of_a_branch(cons):
    ids = {r.measure_id for r in plan_status_rows(cons, "11") if r.measure_id}
    assert "6-3-IV-1" not in ids and "6-3-II-6" in ids
    assert {m.id for m in cons.catalogue.measures_for("11")} == ids  # every other measure is there, blank or not


def test_row_heights_grow_with_text(cons):
    rows = plan_status_rows(cons, "11")
    cells, heights = plan_status_cells(rows)
    at = {r.cells[1]: i + 1 for i, r in enumerate(rows)}
    long_row = at[LONG]
    assert heights[long_row] >= lines_of(LONG, 62) * 15 > 15 * 4
    assert at["② 電話応対研修を実施した"] not in heights  # one line everywhere: the default height
    huge = [PlanRow("issue", ("課題", "あ" * 2000, "", "", ""))]
    assert plan_status_cells(huge)[1] == {1: 409.0}  # Excel's highest row, not more


@pytest.fixture(scope="module")
def all_branches(cons, tmp_path_factory):
    out = tmp_path_factory.mktemp("all_plan")
    return write_all_plan_status(cons, out, force=False)


def test_all_branches_one_sheet_a_page_break_per_branch(cons, all_branches):
    assert all_branches.name == plan_status_name(2024, "2024-10") == "全支部_実施状況_FY2024_2024-10.xlsx"
    wb = openpyxl.load_workbook(all_branches)
    assert wb.sheetnames == ["実施状況"]
    ws = wb["実施状況"]
    titles = [r for r in range(1, ws.max_row + 1) if str(ws.cell(r, 1).value).endswith("事業計画実施状況（概要版）")]
    assert [ws.cell(r, 1).value for r in titles] == ["令和6年度埼玉支部事業計画実施状況（概要版）",
                                                      "令和6年度千葉支部事業計画実施状況（概要版）"]
    assert [b.id + 1 for b in ws.row_breaks.brk] == titles[1:]  # <brk id=n>: the page ends after row n
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)  # 1 is the default
    assert ws.page_setup.fitToHeight == 0
    assert "&P" in ws.oddFooter.center.text


def test_all_branches_text_is_text_and_rows_fit(all_branches):
    ws = openpyxl.load_workbook(all_branches)["実施状況"]
    issue = [c for row in ws.iter_rows() for c in row if c.value == "=1+1"]
    assert len(issue) == 2 and all(c.data_type == "s" for c in issue)  # each branch's 課題, never a formula
    long_cells = [c for row in ws.iter_rows() for c in row if c.value == LONG]
    assert long_cells and all(ws.row_dimensions[c.row].height >= lines_of(LONG, 62) * 15 for c in long_cells)
    assert all(c.alignment.wrap_text for c in long_cells)


def test_an_existing_file_is_kept_without_force(cons, all_branches):
    before = all_branches.read_bytes()
    with pytest.raises(OutputExistsError):
        write_all_plan_status(cons, all_branches, force=False)
    assert all_branches.read_bytes() == before


@requires_soffice
def test_libreoffice_prints_a_page_per_branch_or_more(all_branches, tmp_path):
    pages = pdf_pages(convert(all_branches, "pdf", tmp_path))
    assert len(pages) >= len(CODES)
    width, height = pages[0]
    assert round(width) == 842 and round(height) == 595  # A4 landscape, points


# ---------------------------------------------------------------- in the branch's feedback, three ways
def _sheet_rows(ws) -> list[tuple]:
    return [tuple("" if v is None else v for v in row[:5]) for row in ws.iter_rows(values_only=True)]


def _model_rows(cons) -> list[tuple]:
    cells, _ = plan_status_cells(plan_status_rows(cons, "11"))
    table: dict[int, list] = {}
    for row, col, value, _style in cells:
        table.setdefault(row, [""] * 5)[col - 1] = value
    return [tuple(table.get(r, [""] * 5)) for r in range(1, max(table) + 1)]


def _refuse(*args, **kwargs):
    raise feedback._PatchError("test")


@pytest.mark.parametrize("way", ["patched", "openpyxl", "scratch"])
def test_feedback_opens_with_the_same_plan_status_each_way(cons, tmp_path, monkeypatch, way):
    if way != "patched":
        monkeypatch.setattr(feedback, "patch_workbook", _refuse)
    if way == "scratch":
        monkeypatch.setattr(feedback, "_openpyxl_feedback", _refuse)
    sub = next(s for s in cons.submissions if s.branch_code == "11")
    path = write_feedback(cons, sub, tmp_path, force=False)
    with zipfile.ZipFile(path) as z:
        assert ("xl/worksheets/kpisheet_feedback2.xml" in z.namelist()) == (way == "patched")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:2] == ["実施状況", "確認事項"]
    assert (len(wb.sheetnames) == 2) == (way == "scratch")
    assert wb.active.title == "確認事項"  # the file has findings (months not filled): what to fix opens first
    ws = wb["実施状況"]
    assert _sheet_rows(ws) == _model_rows(cons)
    issue = next(c for row in ws.iter_rows() for c in row if c.value == "=1+1")
    assert issue.data_type == "s"
    assert ws.print_title_rows == "$1:$5" and ws["A5"].value == "具体的な施策" and ws.page_setup.paperSize == 9
    assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0  # 1 is the default
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.orientation == "landscape"
    assert "埼玉支部" in ws.oddFooter.left.text and "&P" in ws.oddFooter.center.text
    long_cell = next(c for row in ws.iter_rows() for c in row if c.value == LONG)
    assert ws.row_dimensions[long_cell.row].height >= lines_of(LONG, 62) * 15
    mark = next(c for row in ws.iter_rows() for c in row if c.value == "△" and c.column == 5)
    assert mark.fill.fgColor.rgb.endswith("FFC7CE")


@requires_soffice
def test_libreoffice_opens_the_feedback_with_plan_status(cons, tmp_path):
    sub = next(s for s in cons.submissions if s.branch_code == "11")
    path = write_feedback(cons, sub, tmp_path, force=False)
    assert convert(path, "pdf", tmp_path).stat().st_size > 10_000


def test_one_branch_sheet_by_name_is_set_up_for_printing(cons, tmp_path):
    from xlsxwriter import Workbook

    from kpisheet.write.report import workbook_options
    from kpisheet.write.report.plan_status import write_plan_status_sheet

    path = tmp_path / "one.xlsx"
    wb = Workbook(str(path), workbook_options())
    after = write_plan_status_sheet(wb, "実施状況", cons, "11")
    wb.close()
    ws = openpyxl.load_workbook(path)["実施状況"]
    assert after == len(plan_status_rows(cons, "11")) + 1 and ws.max_row == after - 1
    assert ws.print_title_rows == "$1:$5" and "埼玉支部" in ws.oddFooter.left.text
    assert "令和6年度埼玉支部事業計画実施状況（概要版）" in ws.oddHeader.left.text


def test_hq_comes_after_the_branches_in_code_order():
    from types import SimpleNamespace

    from kpisheet.write.report.plan_status import plan_status_codes

    assert plan_status_codes(SimpleNamespace(used={"00": "a.xlsx", "13": "b.xlsx", "01": "c.xlsx"})) == ["01", "13", "00"]
