"""The light .xlsx reader: the fast regular-expression scan must read exactly what expat reads.

kpisheet.workbook_xml reads plain worksheets (UTF-8, no DTD/comment/CDATA) with a
regular-expression scan and everything else with an expat parser that refuses
DTDs.  These tests hold the two to the same cells, on generated XML of every
cell shape and on real workbooks written by openpyxl, xlsxwriter and LibreOffice.
"""

from __future__ import annotations

import random
import zipfile
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from defusedxml import DTDForbidden, EntitiesForbidden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpisheet.catalogue import catalogue_for_fy
from kpisheet.sample import sample_values
from kpisheet.workbook_xml import Book, Cell, _SheetParser, parse_xml, plain_xml_text, scan_cells

from .helpers import FY, fill, make_template
from .lo import convert, requires_soffice

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRINGS = ["共有文字列", "  spaced  ", "a&b<c>"]
FORMATS = ["General", "0.0%", "#,##0", "yyyy/m/d"]


def expat_cells(xml: str) -> dict[tuple[int, int], Cell]:
    return _SheetParser(STRINGS, FORMATS).parse_bytes(xml.encode("utf-8"))


def sheet_xml(cells: list[str], prefix: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns:{prefix}="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {ns}>'
            f'<{p}dimension ref="A1:C9"/><{p}sheetData><{p}row r="1">{"".join(cells)}</{p}row>'
            f'</{p}sheetData><{p}pageMargins left="0.7"/></{p}worksheet>')


# ------------------------------------------------------------------ generated cell shapes
texts = st.lists(st.sampled_from(list("ab 1.%&<>\"'\r\n\t９６．５％円—") + ["事業所", "=SUM(A1)"]),
                 max_size=8).map("".join)


@st.composite
def cell_xml(draw: st.DrawFn, ref: str, p: str) -> str:
    kind = draw(st.sampled_from(["n", "n_implicit", "s", "inline", "inline_rich", "str", "b", "e",
                                 "formula", "formula_nocache", "shared_formula", "empty", "styled_empty"]))
    style = draw(st.sampled_from([None, "0", "1", "2", "3"]))
    quote = draw(st.sampled_from(['"', "'"]))
    attrs = [("r", ref)] + ([("s", style)] if style is not None else [])
    number = draw(st.sampled_from(["1", "96.5", "0.965", "-3", "1E-3", "45500", ""]))
    text = escape(draw(texts))
    body = ""
    if kind in ("n", "formula", "formula_nocache", "shared_formula"):
        attrs.append(("t", "n")) if kind == "n" else None
        formula = {"formula": draw(st.sampled_from([f"<{p}f>SUM(A1:A2)&amp;\"x\"</{p}f>",
                                                    f'<{p}f>IF(A1="","",A1/B1)</{p}f>', f"<{p}f></{p}f>"])),
                   "formula_nocache": f"<{p}f>A1*2</{p}f>",
                   "shared_formula": f'<{p}f t="shared" si="0"/>'}.get(kind, "")
        empty_v = draw(st.sampled_from(["", f"<{p}v/>", f"<{p}v />", f"<{p}v></{p}v>"]))
        value = empty_v if kind == "formula_nocache" else f"<{p}v>{number}</{p}v>"
        body = formula + value
    elif kind == "n_implicit":
        body = f"<{p}v>{number}</{p}v>"
    elif kind == "s":
        attrs.append(("t", "s"))
        body = f"<{p}v>{draw(st.integers(0, 3))}</{p}v>"  # 3 is out of range: no value
    elif kind in ("inline", "inline_rich"):
        attrs.append(("t", "inlineStr"))
        space = ' xml:space="preserve"' if draw(st.booleans()) else ""
        if kind == "inline":
            body = f"<{p}is><{p}t{space}>{text}</{p}t></{p}is>"
        else:
            body = (f"<{p}is><{p}r><{p}rPr><{p}b/></{p}rPr><{p}t>{text}</{p}t></{p}r><{p}r><{p}t>&#x4E00;</{p}t></{p}r>"
                    f"<{p}rPh sb=\"0\" eb=\"1\"><{p}t>ふりがな</{p}t></{p}rPh></{p}is>")
    elif kind == "str":
        attrs.append(("t", "str"))
        formula = draw(st.sampled_from([f"<{p}f>A1&amp;\"円\"</{p}f>", f"<{p}f>TEXT(A1,\"0\")</{p}f>"]))
        body = formula + draw(st.sampled_from([f"<{p}v>{text}</{p}v>", f"<{p}v/>", f"<{p}v></{p}v>"]))
    elif kind == "b":
        attrs.append(("t", "b"))
        body = f"<{p}v>{draw(st.sampled_from(['0', '1']))}</{p}v>"
    elif kind == "e":
        attrs.append(("t", "e"))
        body = f"<{p}f>1/0</{p}f><{p}v>#DIV/0!</{p}v>"
    if draw(st.booleans()):
        random.Random(draw(st.integers(0, 9))).shuffle(attrs)
    attr_text = "".join(f" {k}={quote}{v}{quote}" for k, v in attrs)
    if kind in ("empty", "styled_empty") and draw(st.booleans()):
        return f"<{p}c{attr_text}{draw(st.sampled_from(['/>', ' />']))}"
    return f"<{p}c{attr_text}>{body}</{p}c>"


@st.composite
def worksheets(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "", "x"]))
    p = f"{prefix}:" if prefix else ""
    n = draw(st.integers(1, 12))
    cells = [draw(cell_xml(f"{'ABC'[i % 3]}{i // 3 + 1}", p)) for i in range(n)]
    return sheet_xml(cells, prefix)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worksheets())
def test_scan_reads_what_expat_reads(xml: str) -> None:
    scanned = scan_cells(plain_xml_text(xml.encode("utf-8")), STRINGS, FORMATS)
    assert scanned is not None  # every shape above is plain: the fast path must take it
    assert scanned == expat_cells(xml)


def test_scan_values_of_each_shape() -> None:
    xml = sheet_xml([
        '<c r="A1" t="s"><v>1</v></c>',
        '<c r="B1" s="1"><v>0.965</v></c>',
        '<c r="C1" t="inlineStr"><is><t xml:space="preserve"> 96.5% </t></is></c>',
        '<c r="D1" s="3"><v>45500</v></c>',
        '<c r="E1"><f>A1*2</f><v></v></c>',
        '<c r="F1" t="str"><f>"a"&amp;"b"</f><v>a&amp;b</v></c>',
        '<c r="G1" s="2"/>',
        '<c r="H1" t="inlineStr"><is><t>1\r\n2</t><rPh><t>ふり</t></rPh></is></c>',
    ])
    cells = scan_cells(xml, STRINGS, FORMATS)
    assert cells is not None
    assert cells[(1, 1)] == Cell("  spaced  ", "General")
    assert cells[(1, 2)] == Cell(0.965, "0.0%")
    assert cells[(1, 3)] == Cell(" 96.5% ", "General")
    assert cells[(1, 4)].value.date() == date(2024, 7, 27)
    assert cells[(1, 5)] == Cell(None, "General", "=A1*2")  # a formula never calculated
    assert cells[(1, 6)] == Cell("a&b", "General", '="a"&"b"')
    assert (1, 7) not in cells  # styled but empty: holds nothing
    assert cells[(1, 8)] == Cell("1\n2", "General")  # XML end-of-line handling, furigana left out


@pytest.mark.parametrize("odd", [
    '<!-- <c r="A1"><v>5</v></c> --><c r="B1"><v>1</v></c>',  # a comment: only expat knows to skip it
    '<c r="A1" t="inlineStr"><is><t><![CDATA[<b>]]></t></is></c>',
])
def test_parts_with_comments_or_cdata_go_the_careful_way(odd: str) -> None:
    xml = sheet_xml([odd])
    assert plain_xml_text(xml.encode("utf-8")) is None
    cells = expat_cells(xml)
    assert (1, 1) not in cells or cells[(1, 1)].value == "<b>"


def test_cells_without_references_are_left_to_expat() -> None:
    xml = sheet_xml(['<c t="inlineStr"><is><t>a</t></is></c>', "<c><v>2</v></c>"])
    assert scan_cells(xml, STRINGS, FORMATS) is None
    assert expat_cells(xml) == {(1, 1): Cell("a"), (1, 2): Cell(2.0)}


def test_unknown_entity_is_left_to_expat() -> None:
    xml = sheet_xml(['<c r="A1" t="inlineStr"><is><t>&nbsp;</t></is></c>'])
    assert scan_cells(xml, STRINGS, FORMATS) is None


# ------------------------------------------------------------------ other parts
def test_parse_xml_refuses_dtd_and_reads_other_encodings() -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'
    with pytest.raises((EntitiesForbidden, DTDForbidden)):
        parse_xml(laughs)
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><r a="支部">値</r>'.encode("utf-16")
    assert plain_xml_text(utf16) is None
    root = parse_xml(utf16)
    assert (root.get("a"), root.text) == ("支部", "値")
    assert parse_xml('<r>plain 値</r>'.encode("utf-8")).text == "plain 値"


# ------------------------------------------------------------------ real workbooks
def assert_same_both_ways(path: Path) -> int:
    with Book(path) as book, zipfile.ZipFile(path) as z:
        n = 0
        for title in book.sheetnames:
            data = z.read(book._parts[title])
            scanned = scan_cells(plain_xml_text(data) or "", book.strings(), book.formats())
            assert scanned is not None, f"{path.name}:{title} fell back to expat"
            assert scanned == _SheetParser(book.strings(), book.formats()).parse_bytes(data), title
            n += len(scanned)
    return n


def filled(tmp_path: Path) -> Path:
    template = make_template(tmp_path, FY, "13")
    values = sample_values(catalogue_for_fy(FY), FY, "13", date(2024, 10, 1))
    return fill(template, tmp_path / "filled.xlsx", values)


def test_generated_and_openpyxl_filled_workbooks_scan_like_expat(tmp_path: Path) -> None:
    template = make_template(tmp_path, FY, "13")
    assert assert_same_both_ways(template) > 100
    assert assert_same_both_ways(filled(tmp_path)) > 300


@requires_soffice
def test_libreoffice_saved_workbook_scans_like_expat(tmp_path: Path) -> None:
    saved = convert(filled(tmp_path), "xlsx", tmp_path / "lo")
    assert assert_same_both_ways(saved) > 300


def test_attribute_values_with_quotes_are_read(tmp_path: Path) -> None:
    xml = sheet_xml([f'<c r="A1" s={quoteattr("1")} t=\'n\'><v>0.5</v></c>'])
    assert scan_cells(xml, STRINGS, FORMATS) == {(1, 1): Cell(0.5, "0.0%")}
