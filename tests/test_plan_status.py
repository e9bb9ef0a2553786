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
    TITLE_ROWS,
    PlanRow,
    paginate,
    plan_status_cells,
    plan_status_name,
    plan_status_rows,
    sheet_name,
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
    (root / "inbox" / "13_東京支部_FY2024_KPI入力.xlsx").write_bytes(b"not a workbook")  # 提出あり・読込不可
    return consolidate(root / "inbox", fiscal_year=2024, month=OCT24)


def _rows(rows: list[PlanRow], kinds: tuple[str, ...] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.kind, r.cells) for r in rows if kinds is None or r.kind in kinds]


def test_rows_of_a_small_consolidation(cons):
    rows = plan_status_rows(cons, "11")
    assert _rows(rows)[:8] == [
        ("title", ("令和6年度埼玉支部事業計画実施状況（概要版）", "", "", "", "")),
        ("note", ("令和6年10月分の集計。実績の（R6.1現在）などはその値のデータが届いている月、（R6.6診療）はレセプトの診療月です。", "", "", "", "")),
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
        ("kpi", ("", "現金給付等の申請に係る郵送化率を対前年度以上とする", "前年度実績なし", "—（未報告）", "—")),
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


def _codes() -> list[str]:
    from kpisheet.domain.catalogue import load_branches

    codes = sorted(b.code for b in load_branches() if b.code != "00")
    assert len(codes) == 47
    return codes


def test_all_branches_a_contents_sheet_then_a_sheet_per_branch_in_code_order(cons, all_branches):
    assert all_branches.name == plan_status_name(2024, "2024-10") == "全支部_実施状況_FY2024_2024-10.xlsx"
    wb = openpyxl.load_workbook(all_branches)
    codes = [c for c in _codes() if c != "00"] + (["00"] if "00" in {s.code for s in cons.statuses} else [])
    assert wb.sheetnames == ["目次"] + [sheet_name(c) for c in codes]
    assert wb.sheetnames[1:4] == ["01 北海道", "02 青森", "03 岩手"] and "11 埼玉" in wb.sheetnames
    toc = wb["目次"]
    assert toc["A1"].value == "令和6年度 事業計画実施状況（全支部・令和6年10月分） 目次"
    assert [c.value for c in toc[4]] == ["コード", "支部", "シート", "状況", "ページ数"]
    listed = {r[0]: r[1:] for r in toc.iter_rows(min_row=5, values_only=True)}
    assert list(listed) == codes
    status = {s.code: s.status for s in cons.statuses}
    assert listed["11"][:3] == ("埼玉支部", "11 埼玉", status["11"]) and listed["11"][3] >= 2
    assert status["01"] == "未提出" and status["13"] == "提出あり・読込不可"
    assert listed["01"] == ("北海道支部", "01 北海道", "未提出", 1)
    assert listed["13"] == ("東京支部", "13 東京", "読込不可（提出あり・読込不可）", 1)
    assert toc["C7"].hyperlink.location == "'03 岩手'!A1"
    assert toc.sheet_properties.pageSetUpPr.fitToPage and toc.page_setup.fitToHeight in (None, 1)  # 1 is the default


def test_a_branch_without_a_usable_file_has_one_page_saying_so(all_branches):
    wb = openpyxl.load_workbook(all_branches)
    missing = [r[0] for r in wb["01 北海道"].iter_rows(values_only=True)]
    assert missing == ["令和6年度北海道支部事業計画実施状況（概要版）", "令和6年10月分の集計。", "未提出",
                       "令和6年10月分の集計の時点で、この支部のファイルは届いていません。"]
    unreadable = [r[0] for r in wb["13 東京"].iter_rows(values_only=True)]
    assert unreadable[2] == "読込不可" and "（提出あり・読込不可）" in unreadable[3]
    assert wb["01 北海道"].oddFooter.center.text.endswith("北海道支部 &P/1")


def test_each_branch_sheet_pages_name_the_branch_and_repeat_the_head(cons, all_branches):
    ws = openpyxl.load_workbook(all_branches)["11 埼玉"]
    pages = paginate(plan_status_rows(cons, "11"))
    assert len(pages) >= 2  # the long activity makes it two pages at least
    starts = [1] + [b.id + 1 for b in ws.row_breaks.brk]  # <brk id=n>: the page ends after row n
    assert len(starts) == len(pages)
    for start in starts:
        assert ws.cell(start, 1).value == "令和6年度埼玉支部事業計画実施状況（概要版）"
        head = next(r for r in range(start, start + 6) if ws.cell(r, 1).value == "具体的な施策")
        assert [ws.cell(head, c).value for c in range(1, 6)] == list(COLUMNS)
    assert ws.oddFooter.center.text.endswith(f"埼玉支部 &P/{len(pages)}")  # 「埼玉支部 2/5」, from 1 in every sheet
    assert ws.page_setup.useFirstPageNumber and ws.page_setup.firstPageNumber in (None, 1)  # 1 is the default
    assert "埼玉支部" in ws.oddHeader.right.text
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
    assert ws.page_setup.scale == 90 and not ws.sheet_properties.pageSetUpPr.fitToPage
    assert all(ws.row_dimensions[r].height for r in range(1, ws.max_row + 1))  # every height is written


def test_pages_hold_at_most_a_page_of_rows_and_continue_a_cut_measure(cons):
    from kpisheet.write.report.plan_status import ONE_LINE, PAGE_POINTS, row_points

    rows = plan_status_rows(cons, "11")
    long = next(r for r in rows if r.cells[1] == LONG)
    tall = [PlanRow("activity", ("", f"{i} " + "あ" * 200, "—", "—", "○"), "○", long.measure_id) for i in range(8)]
    at = rows.index(long) + 1
    pages = paginate(rows[:at] + tall + rows[at:])
    for page in pages:
        assert page[0].kind == "title" and [r.kind for r in page[:5]].count("head") == 1
        assert sum(row_points(r) or ONE_LINE for r in page) <= PAGE_POINTS
    continued = [p for p in pages if any(r.cells[0].endswith("（続き）") and r.kind == "activity" for r in p)]
    assert continued and continued[0][3].kind == "pillar" and continued[0][3].cells[0] == "1、基盤的保険者機能の盤石化（続き）"
    heading = next(r for r in continued[0] if r.kind == "activity").cells[0]
    assert heading == "III) 現金給付の適正化の推進（続き）" or heading.endswith("（続き）")
    body = [r for p in pages for r in p[TITLE_ROWS if p is pages[0] else 0:] if r.kind not in ("title", "legend", "head")
            and not r.cells[0].endswith("（続き）")]
    assert len(body) >= len(rows) - TITLE_ROWS  # nothing lost


def test_all_branches_text_is_text_and_rows_fit(all_branches):
    wb = openpyxl.load_workbook(all_branches)
    cells = [(ws, c) for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    issue = [c for _, c in cells if c.value == "=1+1"]
    assert len(issue) == 2 and all(c.data_type == "s" for c in issue)  # each branch's 課題, never a formula
    long_cells = [(ws, c) for ws, c in cells if c.value == LONG]
    assert long_cells and all(ws.row_dimensions[c.row].height >= lines_of(LONG, 62) * 15 for ws, c in long_cells)
    assert all(c.alignment.wrap_text for _, c in long_cells)


def test_an_existing_file_is_kept_without_force(cons, all_branches):
    before = all_branches.read_bytes()
    with pytest.raises(OutputExistsError):
        write_all_plan_status(cons, all_branches, force=False)
    assert all_branches.read_bytes() == before


@requires_soffice
def test_libreoffice_prints_the_pages_the_contents_sheet_counts(all_branches, tmp_path):
    toc = openpyxl.load_workbook(all_branches)["目次"]
    counted = sum(r[4] for r in toc.iter_rows(min_row=5, values_only=True))
    pages = pdf_pages(convert(all_branches, "pdf", tmp_path))
    assert len(pages) == 1 + counted  # 目次 on one page, then each branch's pages as written
    width, height = pages[1]
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


# ---------------------------------------------------------------- KPI sentences and results, from the rule
def _k(kpi_id: str):
    from kpisheet.domain.catalogue import load_catalogue

    return load_catalogue(int(kpi_id[1])).kpi(kpi_id)


@pytest.mark.parametrize("kpi_id, annual, baseline, sentence", [
    # 対前年度: the previous-year value whoever filled the target (here HQ prefilled 7,267円)
    ("K6-1-04", 7267.0, 8364.0, "協会の再審査レセプト1件当たりの査定額を前年度（8,364円）以上とする"),
    ("K6-1-04", 9391.0, 9391.0, "協会の再審査レセプト1件当たりの査定額を前年度（9,391円）以上とする"),
    ("K6-1-02", None, None, "現金給付等の申請に係る郵送化率を対前年度以上とする"),
    # ジェネリック: 年度末時点で for a branch at 80% already, 80% below it
    ("K6-2-08", 81.8, 81.8, "ジェネリック医薬品使用割合を年度末時点で前年度（81.8%）以上とする"),
    ("K6-2-08", 80.0, 79.0, "ジェネリック医薬品使用割合を80.0%以上とする"),
    ("K5-2-08", 81.9, 81.9, "ジェネリック医薬品使用割合を年度末時点で前年度（81.9%）以上とする"),  # as the FY2023 埼玉 report
    # any other rule: the annual target; none: the label
    ("K6-2-01", 55.5, None, "生活習慣病予防健診実施率を55.5%以上とする"),
    ("K6-2-01", None, None, "【KPI】生活習慣病予防健診実施率"),
])
def test_kpi_sentences_are_written_from_the_rule(kpi_id, annual, baseline, sentence):
    from types import SimpleNamespace

    from kpisheet.write.report import kpi_sentence_ja
    from kpisheet.write.report.plan_status import kpi_sentence

    assert kpi_sentence_ja(_k(kpi_id), annual, baseline) == sentence
    for source in ("workbook_hq", "previous_year", "targets_file"):  # never from where the number came
        bk = SimpleNamespace(annual_target=annual, baseline=baseline, target_source=source)
        assert kpi_sentence(_k(kpi_id), bk) == sentence  # type: ignore[arg-type]


@pytest.mark.parametrize("kpi_id, value, month, text", [
    ("K6-2-08", 84.8, "2024-06", "84.8%（R6.6診療）"),
    ("K5-2-08", 82.9, "2023-11", "82.9%（R5.11診療）"),  # as the FY2023 埼玉 report writes it
    ("K6-2-09", 27.5, "2024-06", "27.5%（R6.6診療）"),
    ("K6-2-01", 42.6, "2024-01", "42.6%（R6.1現在）"),
    ("K6-1-04", 9699.0, "2024-10", "9,699円（R6.10現在）"),
])
def test_claims_month_results_say_shinryo(kpi_id, value, month, text):
    from kpisheet.write.report import result_ja

    assert result_ja(_k(kpi_id), value, month) == text
    assert _k(kpi_id).lag_claims == text.endswith("診療）")


def test_dates_are_wareki_from_one_function():
    from kpisheet.domain.catalogue import load_catalogue
    from kpisheet.domain.catalogue_view import catalogue_text
    from kpisheet.domain.fiscal import wareki_date
    from kpisheet.domain.settings import load_settings

    assert wareki_date(date(2024, 12, 2)) == "令和6年12月2日"
    assert wareki_date(date(2024, 11, 8), weekday=True) == "令和6年11月8日（金）"
    assert wareki_date(date(2019, 5, 1)) == "令和元年5月1日" and wareki_date(date(2019, 4, 30)) == "平成31年4月30日"
    text = catalogue_text(load_catalogue(6), 2024)
    assert "令和6年12月1日まで" in text and "2024-12-01" not in text
    assert "令和6年12月2日" in _k("K6-1-06").note
    assert load_settings().deadline_ja(OCT24).startswith("令和6年11月")
