"""Each kind of damaged or misleading branch file, in a real monthly run.

For every class of file a careless or hostile sender can produce, one test puts
it in an inbox beside a good workbook of another branch and runs the monthly
job through the library (consolidate, then write_outputs).  Each asserts the
finding on that file, the branch's status, and that the run went on: the
national workbook is written, the good branch is consolidated and every branch
that sent a file gets its feedback workbook.
"""

from __future__ import annotations

import re
import struct
import zipfile
from datetime import date
from pathlib import Path
from typing import Callable

import openpyxl
import pytest

from kpisheet.consolidate.model import STATUS_ERRORS, STATUS_OK, STATUS_UNREADABLE, Consolidation
from kpisheet.month import consolidate
from kpisheet.read import names as nm
from kpisheet.read.xlsx_read import Book
from kpisheet.write.feedback.build import feedback_path
from kpisheet.write.outputs import write_outputs

from .consolidate_helpers import num, sample_inbox
from .helpers import rewrite_zip

FY, MONTH = 2024, date(2024, 9, 1)
GOOD, BAD = "10", "11"
KPI = "K6-2-01"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


# ------------------------------------------------------------------ the run
@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(good file, bad branch's clean file): filled through September."""
    root = tmp_path_factory.mktemp("hostile")
    good, bad = sample_inbox(root, root / "clean", FY, [GOOD, BAD], MONTH)
    return good, bad


def run(tmp_path: Path, good: Path, make_bad: Callable[[Path], Path]) -> tuple[Consolidation, Path, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / good.name).write_bytes(good.read_bytes())
    bad = make_bad(inbox)
    cons = consolidate(inbox, fiscal_year=FY, month=MONTH)
    out = tmp_path / "out"
    write_outputs(cons, out, force=False)
    return cons, bad, out


def status(cons: Consolidation, code: str) -> str:
    return next(s.status for s in cons.statuses if s.code == code)


def codes_on(cons: Consolidation, path: Path) -> set[str]:
    return {f.code for f in cons.findings if f.file == str(path)}


def assert_run_went_on(cons: Consolidation, out: Path) -> None:
    assert (out / f"national_FY{FY}_2024-09.xlsx").is_file()
    assert (out / f"kpi_values_FY{FY}_2024-09.csv").is_file()
    assert status(cons, GOOD) == STATUS_OK
    assert cons.branch_kpis[(GOOD, KPI)].value is not None
    for sub in cons.submissions:
        if sub.branch_code in (GOOD, BAD):
            fb = feedback_path(cons, sub, out)
            assert fb.is_file(), fb
            openpyxl.load_workbook(fb).close()
    assert not list(out.rglob("*.tmp")) and not list(out.glob(".kpisheet-*"))


# ------------------------------------------------------------------ zip-level damage
def _kpi_part(path: Path) -> str:
    with Book(path) as book:
        return next(e.part for e in book.sheet_entries if e.title == nm.SHEET_KPI)


def _patch_headers(data: bytearray, member: str, *, flag_or: int = 0, method: int | None = None,
                   size: int | None = None) -> None:
    """Change a member's flags, compression method or declared size in both zip headers."""
    encoded = member.encode()
    with zipfile.ZipFile(__import__("io").BytesIO(bytes(data))) as z:
        local = z.getinfo(member).header_offset
    central = data.index(b"PK\x01\x02")  # the first central directory entry
    while data[central + 46: central + 46 + len(encoded)] != encoded:
        central = data.index(b"PK\x01\x02", central + 4)
    for base, flag_at, method_at, size_at in ((local, 6, 8, 22), (central, 8, 10, 24)):
        flags = struct.unpack_from("<H", data, base + flag_at)[0]
        struct.pack_into("<H", data, base + flag_at, flags | flag_or)
        if method is not None:
            struct.pack_into("<H", data, base + method_at, method)
        if size is not None:
            struct.pack_into("<I", data, base + size_at, size)


def zip_damage(clean_bad: Path, **change: int) -> Callable[[Path], Path]:
    def make(inbox: Path) -> Path:
        data = bytearray(clean_bad.read_bytes())
        _patch_headers(data, _kpi_part(clean_bad), **change)
        out = inbox / clean_bad.name
        out.write_bytes(bytes(data))
        return out
    return make


def corrupt_deflate(clean_bad: Path) -> Callable[[Path], Path]:
    def make(inbox: Path) -> Path:
        data = bytearray(clean_bad.read_bytes())
        with zipfile.ZipFile(clean_bad) as z:
            info = z.getinfo(_kpi_part(clean_bad))
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        middle = start + info.compress_size // 2
        data[middle: middle + 24] = b"\xff" * 24
        out = inbox / clean_bad.name
        out.write_bytes(bytes(data))
        return out
    return make


def parts_changed(clean_bad: Path, change: Callable[[str, str], str], name: str | None = None
                  ) -> Callable[[Path], Path]:
    """Rewrite text parts of the clean file: change(part name, text) -> new text."""
    def make(inbox: Path) -> Path:
        with zipfile.ZipFile(clean_bad) as z:
            texts = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith((".xml", ".rels"))}
        new = {n: change(n, t).encode("utf-8") for n, t in texts.items() if change(n, t) != t}
        return rewrite_zip(clean_bad, inbox / (name or clean_bad.name), new)
    return make


# ------------------------------------------------------------------ the cases
UNREADABLE_CASES = {
    "corrupt deflate stream": (corrupt_deflate, "E110"),
    "encrypted zip member": (lambda p: zip_damage(p, flag_or=0x1), "E110"),
    "unsupported compression": (lambda p: zip_damage(p, method=99), "E110"),
    "declared size lies": (lambda p: zip_damage(p, size=1000), "E110"),
    "relationship target outside the package": (
        lambda p: parts_changed(p, lambda n, t: re.sub(
            rf'Target="/?(xl/)?{re.escape(_kpi_part(p).removeprefix("xl/"))}"', 'Target="../../../etc/passwd"', t)
            if n == "xl/_rels/workbook.xml.rels" else t), "E110"),
    "cell at row 200,000,000": (
        lambda p: parts_changed(p, lambda n, t: t.replace(
            "</sheetData>", '<row r="200000000"><c r="A200000000"><v>1</v></c></row></sheetData>')
            if n == _kpi_part(p) else t), "E110"),
    "Strict Open XML": (
        lambda p: parts_changed(p, lambda n, t: t.replace(MAIN_NS, "http://purl.oclc.org/ooxml/spreadsheetml/main")
                                .replace(REL_NS, "http://purl.oclc.org/ooxml/officeDocument/relationships")), "E112"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE_CASES))
def test_an_unreadable_file_is_its_branchs_status_and_the_run_goes_on(case: str, clean, tmp_path: Path):
    good, clean_bad = clean
    make, code = UNREADABLE_CASES[case]
    cons, bad, out = run(tmp_path, good, make(clean_bad))
    assert code in codes_on(cons, bad), (case, codes_on(cons, bad))
    assert status(cons, BAD) == STATUS_UNREADABLE
    assert (BAD, KPI) not in cons.branch_kpis or cons.branch_kpis[(BAD, KPI)].value is None
    assert_run_went_on(cons, out)


def _sheet_xml(path: Path) -> tuple[str, str]:
    part = _kpi_part(path)
    with zipfile.ZipFile(path) as z:
        return part, z.read(part).decode("utf-8")


def _input_ref(path: Path, name: str) -> str:
    with Book(path) as book:
        return book.defined_names[name].split("!")[1].replace("$", "")


def test_a_cell_inside_a_processing_instruction_is_not_read(clean, tmp_path: Path):
    good, clean_bad = clean
    name = num(KPI, MONTH)
    ref = _input_ref(clean_bad, name)
    part, xml = _sheet_xml(clean_bad)
    # the input cell itself emptied; a "cell" holding 9999 hidden in a processing instruction
    body = re.sub(rf'<c r="{ref}"([^>]*?)(?:/>|>.*?</c>)', rf'<c r="{ref}"\1/>', xml, count=1, flags=re.S)
    body = body.replace("<sheetData>", f'<sheetData><?kpi <c r="{ref}"><v>9999</v></c>?>', 1)
    cons, bad, out = run(tmp_path, good, lambda inbox: rewrite_zip(clean_bad, inbox / clean_bad.name,
                                                                     {part: body.encode()}))
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis[KPI].months["2024-09"].numerator.value is None
    assert status(cons, BAD) in (STATUS_OK, STATUS_ERRORS)
    assert cons.month_values[(BAD, KPI, "2024-09")].numerator is None
    assert_run_went_on(cons, out)


def test_whitespace_inside_an_end_tag_loses_no_value(clean, tmp_path: Path):
    good, clean_bad = clean
    part, xml = _sheet_xml(clean_bad)
    assert "</v>" in xml
    cons, bad, out = run(tmp_path, good, lambda inbox: rewrite_zip(
        clean_bad, inbox / clean_bad.name, {part: xml.replace("</v>", "</v\n  >").encode()}))
    reference = consolidate(clean_bad.parent, fiscal_year=FY, month=MONTH)
    assert cons.branch_kpis[(BAD, KPI)].value == reference.branch_kpis[(BAD, KPI)].value is not None
    assert status(cons, BAD) == status(reference, BAD)
    assert_run_went_on(cons, out)


def _workbook_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("xl/workbook.xml").decode("utf-8")


def test_a_name_moved_to_a_hidden_sheet_is_refused(clean, tmp_path: Path):
    good, clean_bad = clean
    name = num(KPI, MONTH)

    def make(inbox: Path) -> Path:
        wb = openpyxl.load_workbook(clean_bad)
        hidden = wb.create_sheet("控え")
        hidden["C5"] = 999999
        hidden.sheet_state = "hidden"
        wb.defined_names[name].attr_text = "'控え'!$C$5"
        out = inbox / clean_bad.name
        wb.save(out)
        return out

    cons, bad, out = run(tmp_path, good, make)
    refused = [f for f in cons.findings if f.file == str(bad) and f.code == "E312"]
    assert [f.name for f in refused] == [name]
    assert status(cons, BAD) == STATUS_ERRORS
    assert cons.month_values[(BAD, KPI, "2024-09")].status == "excluded"
    assert cons.national[KPI].numerator is not None and cons.national[KPI].numerator < 999999
    assert_run_went_on(cons, out)


def test_a_name_defined_twice_is_refused(clean, tmp_path: Path):
    good, clean_bad = clean
    name = num(KPI, MONTH)

    def double(part: str, text: str) -> str:
        if part != "xl/workbook.xml":
            return text
        m = re.search(rf'<definedName name="{name}"[^>]*>[^<]*</definedName>', text)
        assert m is not None
        twin = re.sub(r"\$(\d+)<", lambda r: f"${int(r.group(1)) + 1}<", m.group(0))
        return text[: m.end()] + twin + text[m.end():]

    cons, bad, out = run(tmp_path, good, parts_changed(clean_bad, double))
    assert [f.name for f in cons.findings if f.file == str(bad) and f.code == "E313"] == [name]
    assert status(cons, BAD) == STATUS_ERRORS
    assert cons.month_values[(BAD, KPI, "2024-09")].status == "excluded"
    assert_run_went_on(cons, out)


@pytest.mark.parametrize("title", ["KPI入力 ", "ＫＰＩ入力"])
def test_a_second_very_hidden_sheet_named_like_the_input_sheet_is_refused(title: str, clean, tmp_path: Path):
    good, clean_bad = clean

    def make(inbox: Path) -> Path:
        wb = openpyxl.load_workbook(clean_bad)
        ws = wb.create_sheet(title)
        ws["C5"] = 12345
        ws.sheet_state = "veryHidden"
        out = inbox / clean_bad.name
        wb.save(out)
        return out

    cons, bad, out = run(tmp_path, good, make)
    assert "E315" in codes_on(cons, bad)
    assert status(cons, BAD) == STATUS_ERRORS
    assert (BAD, KPI) not in cons.branch_kpis or cons.branch_kpis[(BAD, KPI)].value is None
    assert_run_went_on(cons, out)


def test_a_workbook_binding_the_relationship_prefix_on_each_sheet_gets_a_valid_feedback(clean, tmp_path: Path):
    """What openpyxl writes when lxml is installed: xmlns:r declared on every <sheet>."""
    good, clean_bad = clean

    def per_sheet(part: str, text: str) -> str:
        if part != "xl/workbook.xml":
            return text
        text = text.replace(f' xmlns:r="{REL_NS}"', "")  # wherever the writer put it
        return text.replace("<sheet ", f'<sheet xmlns:r="{REL_NS}" ')

    cons, bad, out = run(tmp_path, good, parts_changed(clean_bad, per_sheet))
    assert status(cons, BAD) in (STATUS_OK, STATUS_ERRORS)
    assert not {"E110", "E112"} & codes_on(cons, bad)
    assert_run_went_on(cons, out)
    sub = next(s for s in cons.submissions if s.path == str(bad))
    wb = openpyxl.load_workbook(feedback_path(cons, sub, out))
    assert wb.sheetnames[:2] == ["実施状況", "確認事項"] and nm.SHEET_KPI in wb.sheetnames


def test_a_bracket_in_the_file_name_keeps_every_message_whole(clean, tmp_path: Path):
    good, clean_bad = clean
    name = clean_bad.name.replace(".xlsx", "【修正版】.xlsx")
    cons, bad, out = run(tmp_path, good, parts_changed(
        clean_bad, lambda n, t: re.sub(rf'(<definedName name="{nm.kpi_key(KPI, "target").name}"[^>]*>)[^<]*',
                                       r"\1#REF!", t)
        if n == "xl/workbook.xml" else t, name=name))
    mine = [f for f in cons.findings if f.file == str(bad)]
    assert mine
    for f in mine:
        assert f.message_ja.endswith(f.text_ja) and "【修正版】" not in f.text_ja
    sub = next(s for s in cons.submissions if s.path == str(bad))
    ws = openpyxl.load_workbook(feedback_path(cons, sub, out))["確認事項"]
    shown = {c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert all(f.text_ja in shown for f in mine)
    assert_run_went_on(cons, out)
