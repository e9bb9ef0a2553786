"""Pre-flight: every odd file gets exactly one E1xx finding, and a folder scan keeps going."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpisheet.preflight import iter_workbook_files, preflight
from kpisheet.reader import read_workbook
from kpisheet.validation import validate
from tests import helpers as h


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), h.FY, "10")


def _codes(path: Path) -> list[str]:
    return [f.code for f in preflight(path)]


@pytest.mark.parametrize("build, code", [
    (h.empty_file, "E101"),
    (h.lock_file, "E102"),
    (h.csv_renamed, "E109"),
    (h.ods_like, "E109"),
    (h.docx_like, "E109"),
    (h.zip_bomb, "E107"),
    (lambda d: h.ole_blob(d, encrypted=True, name="10_群馬.xlsx"), "E105"),
    (lambda d: h.ole_blob(d, encrypted=False, name="10_群馬.xls"), "E104"),
])
def test_odd_file_has_one_finding(tmp_path: Path, build, code: str) -> None:
    path = build(tmp_path)
    assert _codes(path) == [code]
    sub = read_workbook(path)  # the reader reports the same finding and never raises
    assert [f.code for f in sub.findings] == [code]
    assert sub.findings[0].file == str(path) and sub.findings[0].message_ja


@pytest.mark.parametrize("build, code", [
    (h.xlsm_with_macros, "E106"),
    (h.billion_laughs, "E108"),
    (h.broken_zip, "E110"),
])
def test_odd_xlsx_from_template(tmp_path: Path, template: Path, build, code: str) -> None:
    path = build(tmp_path, template)
    assert [f.code for f in read_workbook(path).findings] == [code]


def test_xlsm_extension_and_wrong_extension(tmp_path: Path, template: Path) -> None:
    xlsm = tmp_path / "10_群馬.xlsm"
    xlsm.write_bytes(template.read_bytes())
    assert _codes(xlsm) == ["E106"]
    other = tmp_path / "10_群馬.zip"
    other.write_bytes(template.read_bytes())
    assert _codes(other) == ["E103"]


def test_generated_template_passes(template: Path) -> None:
    assert preflight(template) == []


def test_missing_part_workbook_xml(tmp_path: Path, template: Path) -> None:
    path = h.rewrite_zip(template, tmp_path / "10_nowb.xlsx", {"xl/workbook.xml": None})
    assert _codes(path) == ["E109"]


def test_entity_in_worksheet_part(tmp_path: Path, template: Path) -> None:
    path = h.rewrite_zip(template, tmp_path / "10_xxe.xlsx", {"docProps/app.xml": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Properties>&e;</Properties>')})
    assert _codes(path) == ["E108"]


def test_folder_scan_skips_hidden_keeps_lock_files(tmp_path: Path, template: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "Thumbs.db").write_bytes(b"x")
    (inbox / "desktop.ini").write_text("x")
    (inbox / ".hidden.xlsx").write_bytes(b"x")
    (inbox / "README.txt").write_text("x")
    h.lock_file(inbox)
    good = inbox / template.name
    good.write_bytes(template.read_bytes())
    h.empty_file(inbox)
    names = [p.name for p in iter_workbook_files([inbox])]
    assert names == sorted([good.name, "10_群馬_empty.xlsx", "~$10_群馬.xlsx"])
    result = validate([inbox])
    by_file = {Path(f.file).name: f.code for f in result.findings if f.code.startswith("E1")}
    assert by_file == {"~$10_群馬.xlsx": "E102", "10_群馬_empty.xlsx": "E101"}
    assert len(result.submissions) == 1  # the good workbook was still read
