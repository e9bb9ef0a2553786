"""Feedback patching through a parser: branch files written by different programs, odd parts and odd names.

Each feedback file is opened with openpyxl, every XML part is parsed with namespaces
(every prefix bound), and where LibreOffice is installed it must load the file (all
files of this module in one soffice call, when the module's tests are done).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.parsers import expat

import openpyxl
import pytest
import xlsxwriter

from kpisheet.domain.findings import finding
from kpisheet.domain.model import Submission
from kpisheet.month import consolidate
from kpisheet.write.feedback.build import feedback_path, write_feedback
from kpisheet.write.feedback.patch import _PatchError, patch_workbook
from kpisheet.write.feedback.summary import ERROR_RGB

from .consolidate_helpers import e401_run, pointed
from .helpers import rewrite_zip
from .lo import convert, soffice_path

OCT24 = date(2024, 10, 1)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
X14AC = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"
XR = "http://schemas.microsoft.com/office/spreadsheetml/2014/revision"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A consolidation of one filled branch file with an E401 at a numerator cell."""
    return e401_run(tmp_path_factory.mktemp("fbpatch"), OCT24)


# Feedback files LibreOffice must load; converted together when the module's tests are done
# (one soffice start instead of one per test).
_FOR_LIBREOFFICE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def libreoffice_loads_every_feedback_file(tmp_path_factory):
    """At the end of the module: LibreOffice (where installed) loads every file assert_valid saw."""
    _FOR_LIBREOFFICE.clear()
    yield
    paths, soffice = list(_FOR_LIBREOFFICE), soffice_path()
    _FOR_LIBREOFFICE.clear()
    if paths and soffice:
        failed = convert_all(soffice, paths, tmp_path_factory.mktemp("lo"))
        assert not failed, f"LibreOffice could not load: {failed}"


def convert_all(soffice: str, paths: list[Path], work: Path) -> list[str]:
    """Convert every file to xlsx in one soffice call; the sources of outputs that did not appear."""
    inputs, outdir = work / "in", work / "out"
    inputs.mkdir()
    staged = []
    for i, path in enumerate(paths):  # feedback files of different tests share names
        staged.append(inputs / f"{i:03d}.xlsx")
        shutil.copyfile(path, staged[-1])
    profile = Path(tempfile.mkdtemp(prefix="kpisheet-lo-batch-"))
    try:
        subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                        "--convert-to", "xlsx", "--outdir", str(outdir), *map(str, staged)],
                       capture_output=True, timeout=600, check=False, stdin=subprocess.DEVNULL,
                       env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"})
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return [str(path) for path, src in zip(paths, staged, strict=True)
            if not (outdir / src.name).is_file() or (outdir / src.name).stat().st_size == 0]


def assert_valid(path: Path) -> openpyxl.Workbook:
    """openpyxl opens it and every XML part is namespace-well-formed; LibreOffice loads it at the module's end."""
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        for name in z.namelist():
            if name.endswith((".xml", ".rels", ".vml")):
                p = expat.ParserCreate(namespace_separator=" ")
                p.Parse(z.read(name), True)  # raises on an unbound prefix
    wb = openpyxl.load_workbook(path)
    assert ours(wb) in (["実施状況", "確認事項"], ["確認事項"])  # first, in this order
    _FOR_LIBREOFFICE.append(path)
    return wb


def ours(wb) -> list[str]:
    """The sheets feedback puts before the branch's own: 実施状況 (when the branch's values were used), 確認事項."""
    names = wb.sheetnames
    return names[:2] if names[:1] == ["実施状況"] else names[:1]


def feedback_of(cons, sub, tmp_path: Path) -> Path:
    return write_feedback(cons, sub, tmp_path / "out", force=True)


def assert_commented(wb: openpyxl.Workbook, f) -> None:
    cell = wb[f.sheet][f.cell]
    assert cell.fill.fgColor.rgb.endswith(ERROR_RGB)
    assert f.text_ja in cell.comment.text


# ------------------------------------------------------------------ branch files from different writers
_RESAVE = "import sys, openpyxl; openpyxl.load_workbook(sys.argv[1]).save(sys.argv[2])"


@pytest.fixture(scope="module")
def saved_by_openpyxl(run, tmp_path_factory):
    """The branch file loaded and saved by openpyxl with lxml and, in a child process, without it."""
    _, src, _ = run
    folder = tmp_path_factory.mktemp("openpyxl")
    saved = {}
    for lxml in (True, False):
        saved[lxml] = folder / f"openpyxl_lxml_{lxml}.xlsx"
        env = {**os.environ, "OPENPYXL_LXML": str(lxml)}  # openpyxl reads it when imported
        subprocess.run([sys.executable, "-c", _RESAVE, str(src), str(saved[lxml])], env=env, check=True)
    return saved


def _workbook_root_and_first_sheet(path: Path) -> tuple[str, str]:
    """The start tags of workbook.xml's root and of its first <sheet>, as written."""
    with zipfile.ZipFile(path) as z:
        text = z.read("xl/workbook.xml").decode()
    root = re.search(r"<workbook\b[^>]*>", text)
    sheet = re.search(r"<sheet\b[^>]*>", text)
    assert root and sheet
    return root.group(), sheet.group()


def test_openpyxl_with_and_without_lxml_declare_the_relationship_prefix_differently(saved_by_openpyxl):
    with_root, with_sheet = _workbook_root_and_first_sheet(saved_by_openpyxl[True])
    without_root, without_sheet = _workbook_root_and_first_sheet(saved_by_openpyxl[False])
    assert "xmlns:r=" in with_sheet and "xmlns:r=" not in with_root
    assert "xmlns:r=" in without_root and "xmlns:r=" not in without_sheet


@pytest.mark.parametrize("lxml", [True, False], ids=["with_lxml", "without_lxml"])
def test_file_saved_by_openpyxl(run, saved_by_openpyxl, tmp_path, lxml):
    cons, _, e401 = run
    cons2, sub = pointed(cons, saved_by_openpyxl[lxml])
    out = feedback_of(cons2, sub, tmp_path)
    assert_commented(assert_valid(out), e401)
    assert_patched(out)


def assert_patched(path: Path) -> None:
    """The branch's own file was patched (not the openpyxl copy, not 確認事項 alone)."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert "xl/worksheets/kpisheet_feedback.xml" in names and "xl/worksheets/kpisheet_feedback2.xml" in names, names


def assert_not_patched(data: bytes, cons, sub, findings) -> None:
    with pytest.raises(_PatchError):
        patch_workbook(data, cons, sub, findings)


def _r_on_each_sheet(xml: bytes) -> bytes:
    """workbook.xml as openpyxl with lxml writes it: xmlns:r on every <sheet>, not on the root."""
    text = xml.decode()
    text = re.sub(r'\sxmlns:r="[^"]*"', "", text)
    text = re.sub(r"<sheet\b", f'<sheet xmlns:r="{REL}"', text)
    return text.encode()


def test_relationship_prefix_declared_on_each_sheet(run, tmp_path):
    cons, src, e401 = run
    with zipfile.ZipFile(src) as z:
        wb_xml = _r_on_each_sheet(z.read("xl/workbook.xml"))
    assert b'<sheet xmlns:r="' in wb_xml
    odd = rewrite_zip(src, tmp_path / "r_per_sheet.xlsx", {"xl/workbook.xml": wb_xml})
    cons2, sub = pointed(cons, odd)
    out = feedback_of(cons2, sub, tmp_path)
    assert_commented(assert_valid(out), e401)
    assert_patched(out)
    with zipfile.ZipFile(out) as z:
        root = ET.fromstring(z.read("xl/workbook.xml"))
    first, second = root.find(f"{{{MAIN}}}sheets")[:2]
    assert (first.get("name"), second.get("name")) == ("実施状況", "確認事項")
    assert first.get(f"{{{REL}}}id") and second.get(f"{{{REL}}}id")


@pytest.mark.soffice
def test_file_resaved_by_libreoffice(run, tmp_path):
    if not soffice_path():
        pytest.skip("soffice is not installed")
    cons, src, e401 = run
    resaved = convert(src, "xlsx", tmp_path / "resaved")
    cons2, sub = pointed(cons, resaved)
    out = feedback_of(cons2, sub, tmp_path)
    assert_commented(assert_valid(out), e401)
    assert_patched(out)


def _data_bar_workbook(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("バー")
    for i in range(10):
        ws.write_number(i, 0, i * 10)
    ws.conditional_format("A1:A10", {"type": "data_bar", "data_bar_2010": True})
    wb.close()
    return path


def test_legacy_drawing_lands_before_extlst_not_inside_a_data_bar_rule(run, tmp_path):
    cons, _, _ = run
    src = _data_bar_workbook(tmp_path / "databar.xlsx")
    with zipfile.ZipFile(src) as z:
        assert b"<extLst>" in z.read("xl/worksheets/sheet1.xml")  # the x14 data bar extension is there
    flagged = finding("E401", file=str(src), branch="11", sheet="バー", cell="A2", subject="K6-2-01")
    cons2, sub = pointed(cons, src, [flagged])
    out = feedback_of(cons2, sub, tmp_path)
    wb = assert_valid(out)
    assert_patched(out)
    assert flagged.text_ja in wb["バー"]["A2"].comment.text
    with zipfile.ZipFile(out) as z:
        part = next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        root = ET.fromstring(z.read(part))
    tags = [child.tag for child in root]
    legacy, ext = tags.index(f"{{{MAIN}}}legacyDrawing"), tags.index(f"{{{MAIN}}}extLst")
    assert legacy < ext and tags.count(f"{{{MAIN}}}legacyDrawing") == 1
    assert all(e.tag.rpartition("}")[2] != "legacyDrawing" for rule in root.iter()
               if rule.tag.endswith("}cfRule") for e in rule.iter())


def _with_ignorable(xml: bytes) -> bytes:
    """The root element declares x14ac and xr (used nowhere) and names them in mc:Ignorable, as Excel does."""
    text = xml.decode()
    m = re.search(r"<(workbook|worksheet|styleSheet)\b", text)
    assert m
    extra = f' xmlns:mc="{MC}" mc:Ignorable="x14ac xr" xmlns:x14ac="{X14AC}" xmlns:xr="{XR}"'
    return (text[: m.end()] + extra + text[m.end():]).encode()


def test_prefixes_named_by_mc_ignorable_stay_declared(run, tmp_path):
    cons, src, e401 = run
    with zipfile.ZipFile(src) as z:
        wb_name, flagged_part = "xl/workbook.xml", None
        for name in z.namelist():
            if name.startswith("xl/worksheets/") and f'name="{e401.sheet}"'.encode() in z.read(wb_name):
                flagged_part = name  # any sheet: all of them get the declarations below
        changed = {n: _with_ignorable(z.read(n)) for n in z.namelist()
                   if n in (wb_name, "xl/styles.xml") or n.startswith("xl/worksheets/sheet")}
    assert flagged_part
    odd = rewrite_zip(src, tmp_path / "ignorable.xlsx", changed)
    cons2, sub = pointed(cons, odd)
    out = feedback_of(cons2, sub, tmp_path)
    assert_commented(assert_valid(out), e401)
    assert_patched(out)
    with zipfile.ZipFile(out) as z:
        for name in changed:
            head = z.read(name)[:2000]
            assert b'mc:Ignorable="x14ac xr"' in head, name
            assert f'xmlns:x14ac="{X14AC}"'.encode() in head and f'xmlns:xr="{XR}"'.encode() in head, name


def _with_doctype(xml: bytes) -> bytes:
    """The part with an internal DTD declaring an entity, after its XML declaration if it has one."""
    text = xml.decode()
    m = re.match(r"<\?xml[^>]*\?>\s*", text)
    head = m.group() if m else ""
    return (head + '<!DOCTYPE x [<!ENTITY boom "BOOM">]>' + text[len(head):]).encode()


def _with_unbound_prefix(xml: bytes) -> bytes:
    """An element with a prefix nothing declares, just before the root's end tag."""
    text = xml.decode().rstrip()
    end = text.rindex("</")
    return (text[:end] + "<q:odd/>" + text[end:]).encode()


def _ignoring_undeclared(xml: bytes) -> bytes:
    """mc:Ignorable on the root naming a prefix nothing declares."""
    text = xml.decode()
    m = re.search(r"<[A-Za-z][^\s/>]*", text)
    assert m
    return (text[: m.end()] + f' xmlns:mc="{MC}" mc:Ignorable="zz"' + text[m.end():]).encode()


@pytest.mark.parametrize("member,spoil,whole_copy", [
    ("xl/workbook.xml", _with_doctype, None),  # a part patching edits: openpyxl decides what comes next
    ("docProps/app.xml", _with_doctype, True),  # a part patching copies: openpyxl does not need it
    ("docProps/app.xml", _with_unbound_prefix, True),
    ("docProps/app.xml", _ignoring_undeclared, True),
], ids=["doctype_in_an_edited_part", "doctype_in_a_copied_part", "unbound_prefix_in_a_copied_part",
        "ignorable_names_an_undeclared_prefix_in_a_copied_part"])
def test_a_part_patching_must_not_pass_on_falls_back(run, tmp_path, member, spoil, whole_copy):
    cons, src, e401 = run
    with zipfile.ZipFile(src) as z:
        odd = rewrite_zip(src, tmp_path / "odd.xlsx", {member: spoil(z.read(member))})
    cons2, sub = pointed(cons, odd)
    assert_not_patched(odd.read_bytes(), cons2, sub, cons2.findings)
    out = feedback_of(cons2, sub, tmp_path)
    wb = assert_valid(out)
    with zipfile.ZipFile(out) as z:
        assert "xl/worksheets/kpisheet_feedback.xml" not in z.namelist()
        assert all(b"BOOM" not in z.read(name) for name in z.namelist())
    if whole_copy:
        assert_commented(wb, e401)


def _spoil_member(src: Path, dst: Path, member: str, *, method: int | None = None, encrypt: bool = False) -> Path:
    """A copy whose `member` claims another compression method or the encryption flag (local and central)."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
    central = next(i for i in _all(data, b"PK\x01\x02")
                   if data[i + 46: i + 46 + len(member.encode())] == member.encode())
    for flags_at, method_at in ((info.header_offset + 6, info.header_offset + 8), (central + 8, central + 10)):
        if method is not None:
            struct.pack_into("<H", data, method_at, method)
        if encrypt:
            struct.pack_into("<H", data, flags_at, struct.unpack_from("<H", data, flags_at)[0] | 1)
    dst.write_bytes(bytes(data))
    return dst


def _all(data: bytearray, needle: bytes):
    i = data.find(needle)
    while i >= 0:
        yield i
        i = data.find(needle, i + 1)


@pytest.mark.parametrize("member,how,whole_copy", [
    ("docProps/app.xml", "method", True),  # openpyxl does not need it: its copy, with the branch's sheets
    ("docProps/app.xml", "encrypt", True),
    ("xl/styles.xml", "method", False),  # openpyxl needs it too: 確認事項 alone, saying why
])
def test_unreadable_member_falls_back_to_a_valid_workbook(run, tmp_path, member, how, whole_copy):
    cons, src, e401 = run
    odd = _spoil_member(src, tmp_path / "odd.xlsx", member, method=99 if how == "method" else None,
                        encrypt=how == "encrypt")
    with zipfile.ZipFile(odd) as z, pytest.raises((NotImplementedError, RuntimeError)):
        z.read(member)
    cons2, sub = pointed(cons, odd)
    wb = assert_valid(feedback_of(cons2, sub, tmp_path))
    if whole_copy:
        assert len(wb.sheetnames) > 1
        assert_commented(wb, e401)
    else:  # the branch's values were read and used: 実施状況 and 確認事項, none of the branch's sheets
        assert wb.sheetnames == ["実施状況", "確認事項"]
        text = "\n".join(str(v) for row in wb["確認事項"].values for v in row if v)
        assert "複製できなかった" in text and e401.text_ja in text


# ------------------------------------------------------------------ names, messages, unreadable files
def _summary_text(wb) -> list[tuple]:
    return list(wb["確認事項"].values)


@pytest.mark.parametrize("name", [
    "11_埼玉支部_FY2024_KPI入力【修正版】.xlsx",
    "11 埼玉&<>\"'】😀 支部.xlsx",
])
def test_any_file_name_keeps_messages_whole(run, tmp_path, name):
    cons, src, _ = run
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copyfile(src, inbox / name)
    cons2 = consolidate(inbox, fiscal_year=2024, month=OCT24)
    sub = cons2.submissions[0]
    e401 = next(f for f in cons2.findings if f.code == "E401")
    assert e401.text_ja and not e401.text_ja.startswith("【") and e401.message_ja.endswith(e401.text_ja)
    out = write_feedback(cons2, sub, tmp_path / "out", force=False)
    assert out.name == "11_埼玉支部_FY2024_2024-10_確認事項.xlsx"
    wb = assert_valid(out)
    rows = _summary_text(wb)
    assert rows[1][0] == f"提出ファイル：{name}"
    listed = next(r for r in rows if r[4] == "E401")
    assert listed[1] == e401.text_ja and (listed[2], listed[3]) == (e401.sheet, e401.cell)
    assert wb[e401.sheet][e401.cell].comment.text == f"【E401 エラー】{e401.text_ja}"


def test_two_files_of_one_branch_get_two_feedback_files(run, tmp_path):
    cons, src, _ = run
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copyfile(src, inbox / "11_埼玉支部_FY2024_KPI入力.xlsx")
    shutil.copyfile(src, inbox / "11_埼玉支部_FY2024_KPI入力【修正版】.xlsx")
    shutil.copyfile(src, inbox / "11_埼玉支部_FY2024_KPI入力【修正版】.XLSX")  # same stem, other suffix
    cons2 = consolidate(inbox, fiscal_year=2024, month=OCT24)
    subs = [s for s in cons2.submissions if s.branch_code == "11"]
    assert len(subs) == 3
    paths = [feedback_path(cons2, s, tmp_path) for s in subs]
    assert len(set(paths)) == 3
    assert all(p.name.startswith("11_埼玉支部_FY2024_2024-10_") and p.name.endswith("_確認事項.xlsx") for p in paths)
    assert any("KPI入力【修正版】" in p.name for p in paths)
    for sub in subs:
        assert write_feedback(cons2, sub, tmp_path / "out", force=False).exists()


@pytest.mark.parametrize("code", ["11", None])
def test_a_file_that_could_not_be_read_gets_a_feedback_of_its_findings(run, tmp_path, code):
    cons, _, _ = run
    bad = tmp_path / "11_埼玉支部_FY2024_KPI入力.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    broken = finding("E110", file=str(bad), branch=code, reason="zlib.error: invalid stored block lengths")
    sub = Submission(path=str(bad), sha256="0" * 64, template_version=None, catalogue_digest=None, term=None,
                     fiscal_year=None, branch_code=code, branch_name=None, findings=[broken])
    cons2 = dataclasses.replace(cons, submissions=[sub], findings=[broken])
    out = write_feedback(cons2, sub, tmp_path / "out", force=False)
    assert out.name == ("11_埼玉支部_FY2024_2024-10_確認事項.xlsx" if code
                        else "xx_不明_FY2024_2024-10_11_埼玉支部_FY2024_KPI入力_確認事項.xlsx")
    wb = assert_valid(out)
    assert wb.sheetnames == ["確認事項"]  # its values were not used: no 実施状況
    text = "\n".join(str(v) for row in wb["確認事項"].values for v in row if v)
    assert "ブックが壊れていて読み込めません" in text and "読み込めなかった" in text
    assert broken.text_ja in text


def test_a_file_gone_from_the_inbox_still_gets_feedback(run, tmp_path):
    cons, _, _ = run
    cons2, sub = pointed(cons, tmp_path / "gone.xlsx")
    wb = assert_valid(feedback_of(cons2, sub, tmp_path))
    assert wb.sheetnames == ["実施状況", "確認事項"]  # the values consolidated from it are still shown


def test_same_inputs_give_the_same_bytes(run, tmp_path):
    cons, src, _ = run
    sub = cons.submissions[0]
    a = write_feedback(cons, sub, tmp_path / "a", force=False).read_bytes()
    b = write_feedback(cons, sub, tmp_path / "b", force=False).read_bytes()
    assert a == b
    with zipfile.ZipFile(src) as zs, zipfile.ZipFile(tmp_path / "a" / "feedback" / feedback_path(cons, sub, tmp_path).name) as zf:
        original = {i.filename: i.date_time for i in zs.infolist()}
        for info in zf.infolist():
            assert info.date_time == original.get(info.filename, (1980, 1, 1, 0, 0, 0))
