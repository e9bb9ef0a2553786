"""A branch file with a part too large to parse into a tree: the feedback step stays within bounded memory.

A flagged sheet larger than patch.PATCH_PART_BYTES is copied unpatched (its tab unselected by a
byte edit, no colours, no comments) with a note on 確認事項; a part patching must edit (styles)
that large gives the 確認事項-only workbook, and openpyxl (which loads every part whole) is not
tried.  The threshold is lowered here so that the template's own sheets count as large; the
memory a really large sheet costs is measured by benchmarks/bench_memory.py (flagged-sheet).
"""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.month import consolidate
from kpisheet.write.feedback import build, patch
from kpisheet.write.feedback.build import write_feedback
from tests.builders.sample import sample_values

from .consolidate_helpers import filled

FY, OCT = 2024, date(2024, 10, 1)
INPUT = "xl/worksheets/sheet2.xml"  # KPI入力 in the generated template


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """A branch file with a text in a numeric input (E304 on KPI入力!E15), saved with KPI入力's tab selected."""
    root = tmp_path_factory.mktemp("big")
    values = sample_values(load_catalogue(6), FY, "13", OCT)
    values["in_K6_1_01_num_202404"] = "abc"
    made = filled(root, root / "made", FY, "13", values)
    path = root / "inbox" / made.name
    path.parent.mkdir()
    with zipfile.ZipFile(made) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == INPUT:
                body = body.replace(b'<sheetView workbookViewId="0">', b'<sheetView tabSelected="1" workbookViewId="0">', 1)
            zout.writestr(info, body)
    cons = consolidate(root / "inbox", fiscal_year=FY, month=OCT)
    sub = next(s for s in cons.submissions if s.branch_code == "13")
    assert ("E304", "KPI入力", "E15") in {(f.code, f.sheet, f.cell) for f in cons.findings}
    return cons, sub, path


def summary_texts(path: Path) -> list[str]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return [str(v) for row in wb["確認事項"].iter_rows(values_only=True) for v in row if v is not None]


def test_a_flagged_sheet_too_large_to_parse_is_copied_unpatched_with_a_note(flagged, tmp_path, monkeypatch):
    cons, sub, src = flagged
    with zipfile.ZipFile(src) as z:
        original = z.read(INPUT)
        styles_size = z.getinfo("xl/styles.xml").file_size
    assert b'tabSelected="1"' in original and styles_size < len(original)
    monkeypatch.setattr(patch, "PATCH_PART_BYTES", len(original) - 1)  # the input sheet only is too large
    out = write_feedback(cons, sub, tmp_path, force=True)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        copied = z.read(INPUT)
    assert copied == original.replace(b' tabSelected="1"', b"")  # byte for byte, its tab unselected
    assert not any("kpisheet_comments_sheet2" in n for n in names)  # no comments on it
    texts = summary_texts(out)
    assert any("シート「KPI入力」は大きすぎる" in t and "そのまま複製しました" in t for t in texts)
    assert any("E15" in t for t in texts)  # the finding is still listed with its cell
    wb = openpyxl.load_workbook(out)
    assert "KPI入力" in wb.sheetnames and wb["確認事項"].sheet_view.tabSelected
    assert not wb["KPI入力"].sheet_view.tabSelected  # one tab selected: the sheets are not grouped


def test_a_styles_part_too_large_gives_the_findings_only_and_never_loads_it_whole(flagged, tmp_path, monkeypatch):
    cons, sub, src = flagged
    with zipfile.ZipFile(src) as z:
        styles_size = z.getinfo("xl/styles.xml").file_size

    tried: list[bool] = []

    def no_openpyxl(*args, **kwargs):
        tried.append(True)  # openpyxl would load every part whole
        raise RuntimeError("not to be tried")

    monkeypatch.setattr(patch, "PATCH_PART_BYTES", styles_size - 1)
    monkeypatch.setattr(build, "_openpyxl_feedback", no_openpyxl)
    out = write_feedback(cons, sub, tmp_path, force=True)
    assert tried == []
    wb = openpyxl.load_workbook(out)
    assert "KPI入力" not in wb.sheetnames  # no copy of the branch's file
    texts = summary_texts(out)
    assert any("ブックの一部が大きすぎます" in t for t in texts)
    assert any("E15" in t for t in texts)


def test_too_big_to_load_reads_the_declared_sizes(flagged, monkeypatch):
    _, _, src = flagged
    data = src.read_bytes()
    assert not patch.too_big_to_load(data)
    monkeypatch.setattr(patch, "PATCH_PART_BYTES", 1000)
    assert patch.too_big_to_load(data)
    assert not patch.too_big_to_load(b"not a zip")
