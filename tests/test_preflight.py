"""Pre-flight: every odd file gets exactly one E1xx finding, and a folder scan keeps going."""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from pathlib import Path

import pytest

import kpisheet.read.preflight as preflight_module
from kpisheet.check.inbox import list_inbox
from kpisheet.check.validation import validate
from kpisheet.read.preflight import preflight
from kpisheet.read.reader import read_workbook
from kpisheet.read.xlsx_read import Book, BookError
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
    files, listed = list_inbox([inbox])
    assert [p.name for p in files] == sorted([good.name, "10_群馬_empty.xlsx", "~$10_群馬.xlsx"])
    assert [(Path(f.file).name, f.code) for f in listed] == [("README.txt", "W101")]
    result = validate([inbox])
    by_file = {Path(f.file).name: f.code for f in result.findings if f.code.startswith("E1")}
    assert by_file == {"~$10_群馬.xlsx": "E102", "10_群馬_empty.xlsx": "E101"}
    assert len(result.submissions) == 1  # the good workbook was still read


# ------------------------------------------------------------------ never raises, never hangs
def test_fifo_directory_and_device_are_not_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "10_群馬.xlsx"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    folder = tmp_path / "folder.xlsx"
    folder.mkdir()
    for path in (fifo, folder, Path("/dev/null")):
        found = preflight(path)
        assert [f.code for f in found] == ["E110"]
        assert "not a regular file" in found[0].message_en


def test_missing_file_is_e110(tmp_path: Path) -> None:
    assert _codes(tmp_path / "nothing.xlsx") == ["E110"]


def test_unforeseen_exception_is_kpisheets_internal_error(tmp_path: Path, template: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(preflight_module.zipfile, "ZipFile", boom)
    found = preflight(template)
    assert [f.code for f in found] == ["E190"] and "KeyError" in found[0].message_en
    assert "支部のファイルの問題ではありません" in found[0].message_ja


def _set_member_fields(data: bytes, member: str, *, flags: int | None = None, method: int | None = None) -> bytes:
    """The general-purpose flags / compression method of one member, in its local and central headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local, offset = z.getinfo(member).header_offset, z.start_dir
    while out[offset:offset + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", out, offset + 28)
        if out[offset + 46:offset + 46 + n] == member.encode():
            break
        offset += 46 + n + m + k
    for header, field in ((local, 6), (offset, 8)):
        if flags is not None:
            struct.pack_into("<H", out, header + field, flags)
        if method is not None:
            struct.pack_into("<H", out, header + field + 2, method)
    return bytes(out)


@pytest.mark.parametrize("fields, words", [
    ({"method": 12}, "unsupported compression"),  # bzip2 inflates without a bound in zipfile
    ({"method": 14}, "unsupported compression"),  # LZMA
    ({"flags": 0x1}, "encrypted part"),
])
def test_members_zipfile_cannot_bound_or_read_are_e110(tmp_path: Path, template: Path, fields: dict,
                                                        words: str) -> None:
    path = tmp_path / "10_群馬.xlsx"
    path.write_bytes(_set_member_fields(template.read_bytes(), "xl/workbook.xml", **fields))
    found = preflight(path)
    assert [f.code for f in found] == ["E110"] and words in found[0].message_en
    assert [f.code for f in read_workbook(path).findings] == ["E110"]


def test_random_corruptions_never_raise(tmp_path: Path, template: Path) -> None:
    data = template.read_bytes()
    rng = random.Random(8)
    for i in range(60):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        path = tmp_path / f"10_群馬_{i}.xlsx"
        path.write_bytes(bytes(bad))
        found = preflight(path)  # raises nothing
        assert all(f.code.startswith("E1") for f in found)
        if not found:  # it got past the pre-flight: the reader turns any problem into a BookError
            try:
                with Book(path) as book:
                    book.custom_properties(), book.core_properties(), book.application()
                    for title in book.sheetnames:
                        book.sheet(title)
            except BookError as exc:
                assert exc.code in ("E107", "E108", "E110", "E112")


def test_dtd_past_the_head_scan_is_refused_by_the_parser(tmp_path: Path, template: Path) -> None:
    """The pre-flight looks at the first 4 KB of each part; the parser refuses a DTD anywhere."""
    with zipfile.ZipFile(template) as z:
        app = z.read("docProps/app.xml").decode("utf-8")
    late = app.replace("?>", "?>" + "<!-- " + "x" * 5000 + " -->"
                       '<!DOCTYPE Properties [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1).replace(
        "<Application>", "<Application>&e;", 1)
    path = h.rewrite_zip(template, tmp_path / "10_late.xlsx", {"docProps/app.xml": late.encode()})
    assert preflight(path) == []
    with Book(path) as book, pytest.raises(BookError) as info:
        book.application()
    assert info.value.code == "E108" and "docProps/app.xml" in info.value.reason


def test_a_file_over_the_size_limit_is_e111_and_never_opened(template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_: object, **__: object) -> None:
        raise AssertionError("opened")

    monkeypatch.setattr(preflight_module, "MAX_FILE_BYTES", 2**20)
    monkeypatch.setattr(preflight_module.zipfile, "ZipFile", never)
    big = template.parent / "big.xlsx"
    big.write_bytes(template.read_bytes() + bytes(2**20))
    try:
        found = preflight(big)
    finally:
        big.unlink()
    assert [f.code for f in found] == ["E111"] and "上限 1.0 MB" in found[0].message_ja
