"""Branch feedback: the branch's own workbook, patched with highlights, comments and a 確認事項 sheet."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.display import shown
from kpisheet.domain.ratings import TARGET_SOURCES
from kpisheet.month import consolidate
from kpisheet.read.names import parse_name
from kpisheet.write.feedback.build import feedback_path, write_feedback
from kpisheet.write.feedback.items import fold
from tests.builders.sample import sample_values

from .consolidate_helpers import den, field, filled, mfield, num
from .lo import convert, requires_soffice

OCT24 = date(2024, 10, 1)
INPUT_FILLS = ("FFF2CC", "DDEBF7")  # the branch workbook's input and prefilled cells


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    values = sample_values(load_catalogue(6), 2024, "11", OCT24)
    values[num("K6-2-01", OCT24)] = values[den("K6-2-01", OCT24)] + 5  # E401 at the numerator
    values[mfield("6-1-I", "text", 1)] = "=1+1"
    values[mfield("6-1-I", "rating", 1)] = "×"  # W502: no remark
    values.pop(mfield("6-1-I", "note", 1), None)
    src = filled(root, root / "inbox", 2024, "11", values)
    cons = consolidate(root / "inbox", fiscal_year=2024, month=OCT24)
    before = src.read_bytes()
    path = write_feedback(cons, cons.submissions[0], root / "out", force=False)
    return cons, src, before, path


def test_file_name_and_input_untouched(run):
    cons, src, before, path = run
    assert path.name == "11_埼玉支部_FY2024_2024-10_確認事項.xlsx"
    assert path.parent.name == "feedback"
    assert src.read_bytes() == before


def test_first_sheet_lists_findings_and_marks(run):
    cons, _, _, path = run
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:2] == ["実施状況", "確認事項"]
    assert wb.active.title == "確認事項"  # the branch has findings: what to fix opens first
    rows = list(wb["確認事項"].values)
    listed = {(r[2], r[3], r[4].split("（")[0]) for r in rows if isinstance(r[4], str) and r[4][:4] in ("E401", "W502")}
    e401 = next(f for f in cons.findings if f.code == "E401")
    w502 = next(f for f in cons.findings if f.code == "W502")
    assert (e401.sheet, e401.cell, "E401") in listed and (w502.sheet, w502.cell, "W502") in listed
    kpi_row = next(r for r in rows if r[0] == "K6-2-11")
    bk, n = cons.branch_kpis[("11", "K6-2-11")], cons.national["K6-2-11"]
    assert kpi_row[5] == bk.rating.mark and kpi_row[12] == n.rating.mark


def _kpi_rows(wb) -> tuple[list, dict[str, dict]]:
    rows = list(wb["確認事項"].values)
    at = next(i for i, r in enumerate(rows) if r[0] == "KPI ID")
    head = list(rows[at])
    return head, {r[0]: dict(zip(head, r, strict=True)) for r in rows[at + 1:] if r[0]}


def test_kpi_rows_name_the_data_month_target_source_and_term_goal(run):
    cons, *_, path = run
    head, rows = _kpi_rows(openpyxl.load_workbook(path))
    assert head == ["KPI ID", "KPI", "年間目標", "実績", "データ時点", "評価", "進捗（参考）", "順位", "目標の設定",
                    "第6期末目標（参考）", "全国の実績", "全国のデータ時点", "全国の評価"]
    row, bk, n = rows["K6-2-02"], cons.branch_kpis[("11", "K6-2-02")], cons.national["K6-2-02"]
    kpi = cons.catalogue.kpi("K6-2-02")  # numbers, not text, holding the values as shown (0.0%: 3.1% → 0.031)
    assert row["実績"] == pytest.approx(float(shown(kpi, bk.value)) / 100) and row["データ時点"] == "R6.10"
    assert row["年間目標"] == pytest.approx(float(shown(kpi, bk.annual_target)) / 100)
    assert row["目標の設定"] == TARGET_SOURCES[bk.target_source][0]
    assert row["第6期末目標（参考）"] == "9.2%以上"
    assert row["順位"] == "1/1"  # the only branch of this inbox: rank of ranked branches
    assert row["全国の実績"] == pytest.approx(float(shown(kpi, n.value)) / 100) and row["全国のデータ時点"] == "R6.10"
    excluded = rows["K6-2-01"]  # the E401 month is its latest: left out, said why
    assert excluded["実績"].startswith("—（") and excluded["評価"] == "—"


def test_numbers_are_numbers_with_their_formats(run):
    *_, path = run
    ws = openpyxl.load_workbook(path)["確認事項"]
    head_row = next(r for r in ws.iter_rows() if r[0].value == "KPI ID")[0].row
    cells = {ws.cell(r, 1).value: [ws.cell(r, c) for c in range(1, 14)] for r in range(head_row + 1, ws.max_row + 1)}
    target, result = cells["K6-2-02"][2], cells["K6-2-02"][3]
    assert (target.number_format, result.number_format) == ('0.0%"以上"', "0.0%")
    yen = cells["K6-1-04"]
    assert yen[3].number_format == '#,##0"円"' and isinstance(yen[3].value, (int, float))
    count = cells["K6-2-07"]
    assert count[2].number_format == '#,##0"事業所以上"' and isinstance(count[2].value, (int, float))
    assert cells["K6-1-03"][3].number_format == "0.000%"  # 査定率: three decimals


def test_progress_is_a_percent_beside_the_mark_only_for_growing_kpis(run):
    cons, *_, path = run
    wb = openpyxl.load_workbook(path)
    _, rows = _kpi_rows(wb)
    for kpi_id, row in rows.items():
        kpi, bk = cons.catalogue.kpi(kpi_id), cons.branch_kpis[("11", kpi_id)]
        if kpi.grows_in_year and bk.progress is not None:
            assert row["進捗（参考）"] == pytest.approx(bk.progress), kpi_id
            assert row["評価"] == bk.rating.mark
        else:
            assert row["進捗（参考）"] is None, kpi_id
    assert rows["K6-2-02"]["進捗（参考）"] is not None and rows["K6-1-01"]["進捗（参考）"] is None
    ws = wb["確認事項"]
    progress = [c for r in ws.iter_rows() for c in r if c.column == 7 and isinstance(c.value, float)]
    assert progress and all(c.number_format == "0%" for c in progress)


def test_generic_national_figure_is_branches_meeting_their_condition(run):
    cons, *_, path = run
    _, rows = _kpi_rows(openpyxl.load_workbook(path))
    n = cons.national["K6-2-08"]
    met, reporting = n.branches_met
    assert rows["K6-2-08"]["全国の実績"].startswith(f"{met}/{reporting}支部\n参考：全国のジェネリック使用割合 ")
    assert rows["K6-2-08"]["全国の評価"] == n.rating.mark


def test_feedback_says_marks_are_not_pro_rated(run):
    *_, path = run
    texts = [v for r in openpyxl.load_workbook(path)["確認事項"].values for v in r if isinstance(v, str)]
    assert any(t.startswith("評価は、データが届いている最新月の実績を年間目標と比べて行います（按分しません）。") for t in texts)
    assert not [t for t in texts if "按分" in t and "按分しません" not in t]


def test_finding_cells_highlighted_with_a_comment(run):
    cons, _, _, path = run
    e401 = next(f for f in cons.findings if f.code == "E401")
    cell = openpyxl.load_workbook(path)[e401.sheet][e401.cell]
    assert cell.fill.fgColor.rgb.endswith("FF9B9B")
    assert "E401" in cell.comment.text and "分母" in cell.comment.text
    assert cell.comment.author == "本部"  # no program name
    assert cell.protection.locked is False  # still an input cell


def test_branch_content_is_kept(run):
    _, src, _, path = run
    a, b = openpyxl.load_workbook(src), openpyxl.load_workbook(path)
    assert b.sheetnames[2:] == a.sheetnames
    assert set(a.defined_names) == set(b.defined_names)
    for name in a.sheetnames:
        assert a[name].sheet_state == b[name].sheet_state
        assert a[name].protection.sheet == b[name].protection.sheet
        assert len(a[name].data_validations.dataValidation) == len(b[name].data_validations.dataValidation)
    text_cell = b["取組状況"][a.defined_names[mfield("6-1-I", "text", 1)].attr_text.split("!")[1].replace("$", "")]
    assert (text_cell.value, text_cell.data_type) == ("=1+1", "s")
    with zipfile.ZipFile(src) as za, zipfile.ZipFile(path) as zb:
        unchanged = [n for n in za.namelist() if n.startswith(("xl/theme", "docProps"))]
        assert all(za.read(n) == zb.read(n) for n in unchanged)


def test_no_feedback_for_a_branch_that_sent_nothing(run, tmp_path):
    cons, *_ = run
    from kpisheet.write.outputs import write_outputs

    outputs = write_outputs(cons, tmp_path, force=False)
    outputs = getattr(outputs, "paths", outputs)
    assert [p.name for p in outputs if p.parent.name == "feedback"] == [
        feedback_path(cons, cons.submissions[0], tmp_path).name]


def test_openpyxl_fallback_when_the_xml_is_unexpected(run, tmp_path, monkeypatch):
    cons, *_ = run
    from kpisheet.write.feedback import build as feedback

    def refuse(*args, **kwargs):
        raise feedback._PatchError("test")

    monkeypatch.setattr(feedback, "patch_workbook", refuse)
    path = write_feedback(cons, cons.submissions[0], tmp_path, force=False)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:2] == ["実施状況", "確認事項"] and wb.active.title == "確認事項"
    e401 = next(f for f in cons.findings if f.code == "E401")
    assert "E401" in wb[e401.sheet][e401.cell].comment.text
    plan = wb["実施状況"]
    assert plan.print_title_rows == "$1:$5" and plan.page_setup.paperSize == 9 and plan.page_setup.fitToWidth == 1
    assert plan["A1"].value == "令和6年度埼玉支部事業計画実施状況（概要版）"
    _, rows = _kpi_rows(wb)
    progress = wb["確認事項"].cell(row=next(i for i, r in enumerate(wb["確認事項"].values, 1) if r[0] == "K6-2-02"),
                                  column=7)
    assert progress.value == pytest.approx(cons.branch_kpis[("11", "K6-2-02")].progress)
    assert progress.number_format == "0%"
    assert rows["K6-2-02"]["データ時点"] == "R6.10" and isinstance(rows["K6-2-02"]["実績"], float)
    ws = wb["確認事項"]
    assert ws.print_title_rows == "$1:$1" and "&P" in ws.oddFooter.center.text


@requires_soffice
def test_opens_in_libreoffice(run, tmp_path):
    *_, path = run
    assert convert(path, "pdf", tmp_path).stat().st_size > 10_000


class _Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek back on: it writes sizes after each member (flag bit 3)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # noqa: ANN001
        return self.buf.write(b)


def test_branch_zip_written_by_a_streaming_writer_is_patched_intact(run, tmp_path):
    """Members are copied as compressed bytes: a source with data descriptors and stored members too."""
    cons, src, _, _ = run
    stream = _Unseekable()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(stream, "w") as zout:
        for i, info in enumerate(zin.infolist()):
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type = zipfile.ZIP_STORED if i % 3 == 0 else zipfile.ZIP_DEFLATED
            with zout.open(copy, "w") as member:
                member.write(zin.read(info))
    streamed = tmp_path / "inbox" / src.name
    streamed.parent.mkdir()
    streamed.write_bytes(stream.buf.getvalue())
    with zipfile.ZipFile(streamed) as z:
        assert all(i.flag_bits & 0x08 for i in z.infolist())  # really sizes-after-data
    cons = consolidate(streamed.parent, fiscal_year=2024, month=OCT24)
    path = write_feedback(cons, cons.submissions[0], tmp_path / "out", force=False)
    with zipfile.ZipFile(streamed) as za, zipfile.ZipFile(path) as zb:
        assert zb.testzip() is None
        for name in za.namelist():
            if name.startswith(("xl/theme", "docProps", "xl/worksheets/sheet")) and name in zb.namelist():
                if not name.startswith("xl/worksheets/"):
                    assert za.read(name) == zb.read(name), name
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:2] == ["実施状況", "確認事項"]
    e401 = next(f for f in cons.findings if f.code == "E401")
    assert "E401" in wb[e401.sheet][e401.cell].comment.text


# ------------------------------------------------------------------ what a branch acts on
def _typical_baselines(code: str) -> dict:
    out = {}
    for kpi in load_catalogue(6).kpis_for(2024, code):
        if kpi.kind != "qualitative" and kpi.target.rule in ("baseline", "generic_conditional"):
            middle = (kpi.plausible.low + kpi.plausible.high) / 2 if kpi.plausible else 1000.0
            out[field(kpi.id, "baseline")] = middle / 100 if kpi.is_percent else middle
    return out


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """12 sends a clean file, 13 stopped after June, 14 typed one 郵送化率 numerator ten times too big."""
    root = tmp_path_factory.mktemp("three")
    codes = ("12", "13", "14")
    cat = load_catalogue(6)
    for code, through in (("12", OCT24), ("13", date(2024, 6, 1)), ("14", OCT24)):
        values = {**sample_values(cat, 2024, code, through), **_typical_baselines(code)}
        if code == "14":
            values[num("K6-1-02", date(2024, 8, 1))] *= 10
        filled(root, root / "inbox", 2024, code, values, codes)
    cons = consolidate(root / "inbox", fiscal_year=2024, month=OCT24)
    out = root / "out"
    paths = {s.branch_code: write_feedback(cons, s, out, force=False) for s in cons.submissions}
    return cons, paths


def _listed(path) -> list[tuple]:
    rows = list(openpyxl.load_workbook(path)["確認事項"].values)
    at = next(i for i, r in enumerate(rows) if r[0] == "No")
    return [r for r in rows[at + 1:] if isinstance(r[0], int)]


def test_a_file_without_findings_says_so_and_asks_for_nothing(three):
    cons, paths = three
    assert not [f for f in cons.findings if f.branch == "12"]
    texts = [v for r in openpyxl.load_workbook(paths["12"])["確認事項"].values for v in r if isinstance(v, str)]
    assert "指摘事項はありません。このままで結構です（再提出は不要です）。" in texts
    assert not [t for t in texts if "再提出してください" in t or t in ("エラー", "警告")]


def test_one_typo_is_one_item_with_what_it_caused_folded_in(three):
    cons, paths = three
    found = [f for f in cons.findings if f.branch == "14"]
    aug, sep = (h_cell(cons, "14", num("K6-1-02", date(2024, m, 1))) for m in (8, 9))
    assert {f.cell for f in found} == {aug, sep} and len(found) >= 3  # E401 (+W411) in August, E404 (+W411) after
    (item,) = _listed(paths["14"])
    no, text, sheet, cells, codes, severity = item[:6]
    assert (cells, severity) == (aug, "エラー") and codes.startswith("E401（") and "E404" in codes
    assert "9月の欄にも確認が出ています" in text
    wb = openpyxl.load_workbook(paths["14"])
    assert wb[sheet][aug].fill.fgColor.rgb.endswith("FF9B9B")
    assert wb[sheet][sep].comment is None and not wb[sheet][sep].fill.fgColor.rgb.endswith(("FF9B9B", "F9B26B"))


def h_cell(cons, code: str, name: str) -> str:
    """The cell the reader read input `name` of branch `code` from."""
    sub = next(s for s in cons.submissions if s.branch_code == code)
    key = parse_name(name)
    m = sub.kpis[key.subject].months[f"{key.month:%Y-%m}"]
    return {"num": m.numerator, "den": m.denominator, "val": m.value}[key.field].source.cell


def test_missing_months_are_one_row_per_kpi(three):
    cons, _ = three
    missing = [f for f in cons.findings if f.branch == "13" and f.code == "W413"]
    items = fold(missing, cons.catalogue)  # the W413 alone: a file that has the reporting month
    assert len(items) == len({f.subject for f in missing}) < len(missing)
    assert all(i.finding.code == "W413" for i in items)
    k207 = next(i for i in items if "K6-2-07" in i.text_ja)
    assert "7月〜10月が未入力です（4か月）" in k207.text_ja and k207.cells_ja.count("・") == 3


def test_a_file_that_stopped_before_the_reporting_month_is_one_row(three):
    cons, paths = three
    missing = [f for f in cons.findings if f.branch == "13" and f.code == "W413"]
    rows = _listed(paths["13"])
    assert len(rows) == 1 and rows[0][4] == "W422（W413）"
    assert rows[0][1].startswith("10月分が入力されていません（6月分までのファイルです）。10月分を入力して再提出してください。")
    wb = openpyxl.load_workbook(paths["13"])
    for f in missing:  # every missing cell is still marked, in the warning colour
        assert wb[f.sheet][f.cell].fill.fgColor.rgb.endswith("F9B26B")


def test_colours_differ_from_the_input_colours_and_are_explained(three):
    _, paths = three
    wb = openpyxl.load_workbook(paths["14"])
    ws = wb["確認事項"]
    legend = {ws.cell(r, 1).value: (ws.cell(r, 1).fill.fgColor.rgb, ws.cell(r, 2).value) for r in range(1, 10)}
    (error_fill, error_text), (warning_fill, _) = legend["エラー"], legend["警告"]
    assert "再提出" in error_text
    for fill in (error_fill, warning_fill):
        assert not fill.endswith(INPUT_FILLS)
    assert ws.print_title_rows == "$1:$1" and "&P" in ws.oddFooter.center.text


def test_a_file_without_findings_opens_on_its_plan_status(three):
    cons, paths = three
    clean, flagged = openpyxl.load_workbook(paths["12"]), openpyxl.load_workbook(paths["14"])
    assert clean.sheetnames[:2] == flagged.sheetnames[:2] == ["実施状況", "確認事項"]
    assert (clean.active.title, flagged.active.title) == ("実施状況", "確認事項")
    assert [bool(ws.sheet_view.tabSelected) for ws in clean.worksheets[:2]] == [True, False]
    assert clean["実施状況"]["A1"].value == "令和6年度千葉支部事業計画実施状況（概要版）"


def test_feedback_names_the_next_deadline_and_hqs_contact_from_the_settings(run):
    """From HQ's settings: the next report's deadline and whom to ask; nothing while they hold placeholders."""
    from dataclasses import replace

    from kpisheet.domain.settings import example_settings
    from kpisheet.write.feedback.summary import hq_lines

    cons, *_ = run
    settings = example_settings()
    lines = hq_lines(replace(cons, settings=settings))
    assert lines == [f"次回（令和6年11月分）の提出期限：{settings.deadline_ja(date(2024, 11, 1))}",
                     f"お問い合わせ・再提出先：{settings.contact_ja()}"]
    assert hq_lines(replace(cons, settings=replace(settings, phone="【要記入】"))) == []
    assert hq_lines(replace(cons, settings=None)) == []
