"""Feedback edits a worksheet hollow — its rows kept as bytes, flagged cells restyled by text — and
the result is the XML a whole-tree edit gives, part by part (canonical XML compared); where the text
is not safe to edit that way (a comment, another encoding, a cell without a reference, a format
written as a character reference), the whole tree is edited instead."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from lxml import etree

from kpisheet.write.feedback import patch
from kpisheet.write.feedback.build import branch_findings

from .consolidate_helpers import e401_run, pointed
from .helpers import rewrite_zip
from .lo import convert, soffice_path
from .test_workbook_xml import MAIN, PKG_REL, REL


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return e401_run(tmp_path_factory.mktemp("hollow"))


def sheet_part(src: Path, title: str) -> str:
    """The zip member of the worksheet named `title`."""
    with zipfile.ZipFile(src) as z:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    rid = next(s.get(f"{{{REL}}}id") for s in wb.iter(f"{{{MAIN}}}sheet") if s.get("name") == title)
    target = next(r.get("Target") for r in rels.iter(f"{{{PKG_REL}}}Relationship") if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def patched(cons, sub, data: bytes, monkeypatch, *, hollow: bool) -> tuple[bytes, list[bool]]:
    """The feedback bytes, and whether each worksheet restyle went by text (True) or by the tree (False)."""
    with monkeypatch.context() as m:
        if not hollow:
            m.setattr(patch, "split_sheet_data", lambda data: None)
        by_text: list[bool] = []
        restyle = patch._Package.restyle_rows

        def spy(self, name, fills, styles):
            by_text.append(restyle(self, name, fills, styles))
            return by_text[-1]

        m.setattr(patch._Package, "restyle_rows", spy)
        return patch.patch_workbook(data, cons, sub, branch_findings(cons, sub)), by_text


def canonical(data: bytes) -> dict[str, bytes]:
    """Each member of the zip; XML parts in canonical form (attribute order and empty-element forms aside)."""
    out = {}
    with zipfile.ZipFile(BytesIO(data)) as z:
        for name in z.namelist():
            body = z.read(name)
            if name.endswith((".xml", ".rels")):
                body = etree.tostring(etree.fromstring(body), method="c14n")
            out[name] = body
    return out


def assert_same_as_whole_tree(cons, sub, data: bytes, monkeypatch) -> list[bool]:
    hollow, by_text = patched(cons, sub, data, monkeypatch, hollow=True)
    whole, by_tree = patched(cons, sub, data, monkeypatch, hollow=False)
    assert by_tree and not any(by_tree)
    a, b = canonical(hollow), canonical(whole)
    assert list(a) == list(b)
    for name in a:
        assert a[name] == b[name], name
    return by_text


def spoilt(cons, src: Path, tmp_path: Path, sheet: str, edit) -> tuple:
    """The consolidation pointed at a copy of the branch's file whose `sheet` part went through `edit`."""
    part = sheet_part(src, sheet)
    with zipfile.ZipFile(src) as z:
        xml = z.read(part)
    changed = edit(xml)
    assert changed != xml
    path = rewrite_zip(src, tmp_path / "odd.xlsx", {part: changed})
    return (*pointed(cons, path), path.read_bytes())


def test_a_template_filled_by_openpyxl_is_restyled_by_text_and_matches_the_whole_tree(run, monkeypatch):
    cons, src, e401 = run
    sub = cons.submissions[0]
    by_text = assert_same_as_whole_tree(cons, sub, src.read_bytes(), monkeypatch)
    assert by_text == [True]
    out, _ = patched(cons, sub, src.read_bytes(), monkeypatch, hollow=True)
    with zipfile.ZipFile(BytesIO(out)) as z:
        xml = z.read(sheet_part(src, e401.sheet)).decode()
    tag = xml[xml.index(f'<c r="{e401.cell}"'):]
    assert ' s="' in tag[: tag.index(">")]  # a format of its own, with the error fill


def _start_tag(xml: bytes, cell: str) -> tuple[int, int]:
    at = xml.index(f'<c r="{cell}"'.encode())
    return at, xml.index(b">", at)


def _single_quoted(cell):
    def edit(xml: bytes) -> bytes:
        at, end = _start_tag(xml, cell)
        tag = xml[at:end].replace(b'"', b"'").replace(f"r='{cell}'".encode(), f'r="{cell}"'.encode())
        return xml[:at] + tag + xml[end:]
    return edit


def _without_format(cell):
    def edit(xml: bytes) -> bytes:
        at, end = _start_tag(xml, cell)
        tag = xml[at:end]
        start = tag.index(b' s="')
        stop = tag.index(b'"', start + 4) + 1
        return xml[:at] + tag[:start] + tag[stop:] + xml[end:]
    return edit


def _format_as_reference(cell):
    def edit(xml: bytes) -> bytes:
        at, end = _start_tag(xml, cell)
        tag = xml[at:end]
        start = tag.index(b' s="') + 4
        stop = tag.index(b'"', start)
        digits = tag[start:stop].decode()
        return xml[:at] + tag[:start] + "".join(f"&#{ord(d)};" for d in digits).encode() + tag[stop:] + xml[end:]
    return edit


def _apostrophe_in_a_value(cell):
    """Another attribute of the flagged cell whose double-quoted value holds an apostrophe: kept whole."""
    def edit(xml: bytes) -> bytes:
        at, _ = _start_tag(xml, cell)
        head = f'<c r="{cell}"'.encode()
        return xml[:at] + head + b' ph="it\'s"' + xml[at + len(head):]
    return edit


def _comment_in_rows(cell):
    return lambda xml: xml.replace(b"<sheetData>", b"<sheetData><!-- </sheetData> -->", 1)


def _cell_without_reference(cell):
    """The first cell of the rows loses its reference (it then stands in column A by counting)."""
    def edit(xml: bytes) -> bytes:
        rows = xml.index(b"<sheetData>")
        return xml[:rows] + re.sub(rb'<c r="A[0-9]+"', b"<c", xml[rows:], count=1)
    return edit


def _shift_jis(cell):
    def edit(xml: bytes) -> bytes:
        text = re.sub(r"^<\?xml[^>]*\?>\s*", "", xml.decode("utf-8"))
        row = re.search(r'<row r="([0-9]+)"[^>]*>', text)
        assert row
        japanese = f'<c r="XFD{row.group(1)}" t="inlineStr"><is><t>支部の記入</t></is></c>'  # bytes differ in the two
        text = text.replace("</row>", japanese + "</row>", 1)
        return ('<?xml version="1.0" encoding="Shift_JIS"?>\n' + text).encode("cp932", "xmlcharrefreplace")
    return edit


@pytest.mark.parametrize("edit, by_text", [
    (_single_quoted, [True]),
    (_without_format, [True]),
    (_apostrophe_in_a_value, [True]),
    (_format_as_reference, [False]),
    (_comment_in_rows, [False]),
    (_cell_without_reference, [False]),
    (_shift_jis, [False]),
], ids=["single_quotes", "no_format", "apostrophe_in_a_value", "format_as_reference", "comment_in_rows",
                             "cell_without_reference", "shift_jis"])
def test_odd_sheet_text_gives_the_whole_tree_result(run, tmp_path, monkeypatch, edit, by_text):
    cons, src, e401 = run
    cons2, sub, data = spoilt(cons, src, tmp_path, e401.sheet, edit(e401.cell))
    assert assert_same_as_whole_tree(cons2, sub, data, monkeypatch) == by_text


@pytest.mark.soffice
def test_a_file_saved_by_libreoffice_is_restyled_by_text_and_matches_the_whole_tree(run, tmp_path, monkeypatch):
    if not soffice_path():
        pytest.skip("soffice is not installed")
    cons, src, _ = run
    resaved = convert(src, "xlsx", tmp_path / "resaved")
    cons2, sub = pointed(cons, resaved)
    assert assert_same_as_whole_tree(cons2, sub, resaved.read_bytes(), monkeypatch) == [True]
