"""Branch feedback: the branch's own workbook, patched with highlights, comments and a 確認事項 sheet."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import openpyxl
import pytest

from kpisheet.catalogue import load_catalogue
from kpisheet.consolidation import consolidate
from kpisheet.feedback import feedback_path, write_feedback
from kpisheet.ratings import TARGET_SOURCES
from kpisheet.sample import sample_values

from .consolidate_helpers import den, filled, mfield, num
from .lo import convert, requires_soffice

OCT24 = date(2024, 10, 1)


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
    assert wb.sheetnames[0] == "確認事項" and wb.active.title == "確認事項"
    rows = list(wb["確認事項"].values)
    listed = {(r[2], r[3], r[4]) for r in rows if r[4] in ("E401", "W502")}
    e401 = next(f for f in cons.findings if f.code == "E401")
    w502 = next(f for f in cons.findings if f.code == "W502")
    assert (e401.sheet, e401.cell, "E401") in listed and (w502.sheet, w502.cell, "W502") in listed
    kpi_row = next(r for r in rows if r[0] == "K6-2-11")
    bk, n = cons.branch_kpis[("11", "K6-2-11")], cons.national["K6-2-11"]
    assert kpi_row[4] == bk.rating.mark and kpi_row[10] == n.rating.mark


def _kpi_rows(wb) -> tuple[list, dict[str, dict]]:
    rows = list(wb["確認事項"].values)
    at = next(i for i, r in enumerate(rows) if r[0] == "KPI ID")
    head = list(rows[at])
    return head, {r[0]: dict(zip(head, r)) for r in rows[at + 1:] if r[0]}


def test_kpi_rows_name_the_data_month_target_source_and_term_goal(run):
    cons, *_, path = run
    head, rows = _kpi_rows(openpyxl.load_workbook(path))
    assert head == ["KPI ID", "KPI", "年間目標", "自支部の実績", "結果", "進捗（参考）", "順位", "目標の設定",
                    "第6期末目標（参考）", "全国値", "全国の結果"]
    row, bk = rows["K6-2-02"], cons.branch_kpis[("11", "K6-2-02")]
    assert re.fullmatch(r"\d+\.\d%（R6\.10現在）", row["自支部の実績"])
    assert row["年間目標"] == f"{bk.annual_target:.1f}%以上"
    assert row["目標の設定"] == TARGET_SOURCES[bk.target_source][0]
    assert row["第6期末目標（参考）"] == "9.2%以上"
    assert row["全国値"].endswith("（R6.10現在）")
    excluded = rows["K6-2-01"]  # the E401 month is its latest: left out, said why
    assert excluded["自支部の実績"].startswith("—（") and excluded["結果"] == "—"


def test_progress_is_a_percent_beside_the_mark_only_for_growing_kpis(run):
    cons, *_, path = run
    wb = openpyxl.load_workbook(path)
    _, rows = _kpi_rows(wb)
    for kpi_id, row in rows.items():
        kpi, bk = cons.catalogue.kpi(kpi_id), cons.branch_kpis[("11", kpi_id)]
        if kpi.grows_in_year and bk.progress is not None:
            assert row["進捗（参考）"] == pytest.approx(bk.progress), kpi_id
            assert row["結果"] == bk.rating.mark
        else:
            assert row["進捗（参考）"] is None, kpi_id
    assert rows["K6-2-02"]["進捗（参考）"] is not None and rows["K6-1-01"]["進捗（参考）"] is None
    ws = wb["確認事項"]
    percent = [c for r in ws.iter_rows() for c in r if isinstance(c.value, float)]
    assert percent and all(c.number_format == "0%" for c in percent)


def test_generic_national_figure_is_branches_meeting_their_condition(run):
    cons, *_, path = run
    _, rows = _kpi_rows(openpyxl.load_workbook(path))
    n = cons.national["K6-2-08"]
    met, reporting = n.branches_met
    assert rows["K6-2-08"]["全国値"].startswith(f"{met}/{reporting}支部\n参考：全国のジェネリック使用割合 ")
    assert rows["K6-2-08"]["全国の結果"] == n.rating.mark


def test_feedback_says_marks_are_not_pro_rated(run):
    *_, path = run
    texts = [v for r in openpyxl.load_workbook(path)["確認事項"].values for v in r if isinstance(v, str)]
    assert any(t.startswith("評価は、データが届いている最新月の実績を年間目標と比べて行います（按分しません）。") for t in texts)
    assert not [t for t in texts if "按分" in t and "按分しません" not in t]


def test_finding_cells_highlighted_with_a_comment(run):
    cons, _, _, path = run
    e401 = next(f for f in cons.findings if f.code == "E401")
    cell = openpyxl.load_workbook(path)[e401.sheet][e401.cell]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert "E401" in cell.comment.text and "分母" in cell.comment.text
    assert cell.protection.locked is False  # still an input cell


def test_branch_content_is_kept(run):
    _, src, _, path = run
    a, b = openpyxl.load_workbook(src), openpyxl.load_workbook(path)
    assert b.sheetnames[1:] == a.sheetnames
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
    try:
        from kpisheet.outputs import write_outputs
    except ImportError:  # before output writing had its own module
        from kpisheet.consolidation import write_outputs

    outputs = write_outputs(cons, tmp_path, force=False)
    outputs = getattr(outputs, "paths", outputs)
    assert [p.name for p in outputs if p.parent.name == "feedback"] == [
        feedback_path(cons, cons.submissions[0], tmp_path).name]


def test_openpyxl_fallback_when_the_xml_is_unexpected(run, tmp_path, monkeypatch):
    cons, *_ = run
    from kpisheet import feedback

    def refuse(*args, **kwargs):
        raise feedback._PatchError("test")

    monkeypatch.setattr(feedback, "patch_workbook", refuse)
    path = write_feedback(cons, cons.submissions[0], tmp_path, force=False)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == "確認事項"
    e401 = next(f for f in cons.findings if f.code == "E401")
    assert "E401" in wb[e401.sheet][e401.cell].comment.text
    _, rows = _kpi_rows(wb)
    progress = wb["確認事項"].cell(row=next(i for i, r in enumerate(wb["確認事項"].values, 1) if r[0] == "K6-2-02"),
                                  column=6)
    assert progress.value == pytest.approx(cons.branch_kpis[("11", "K6-2-02")].progress)
    assert progress.number_format == "0%"
    assert rows["K6-2-02"]["自支部の実績"].endswith("（R6.10現在）")


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
    assert wb.sheetnames[0] == "確認事項"
    e401 = next(f for f in cons.findings if f.code == "E401")
    assert "E401" in wb[e401.sheet][e401.cell].comment.text
