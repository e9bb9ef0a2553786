"""The light .xlsx reader: one hardened streaming XML path, only real cells, every problem a BookError.

Real workbooks written by openpyxl, xlsxwriter and LibreOffice must read as openpyxl reads them;
odd but legal XML must keep its values; XML that only looks like cells (comments, processing
instructions, CDATA, foreign namespaces, extLst) must yield none; broken zips, parts and
references must raise BookError with the finding code the reader reports.
"""

from __future__ import annotations

import io
import struct
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.read.xlsx_read import Book, BookError, Cell, DefinedNameEntry, SheetEntry
from tests.builders.sample import sample_values

from .helpers import FY, fill, make_template
from .lo import convert, requires_soffice

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"


# ------------------------------------------------------------------ building packages inline
def workbook_xml(sheets: str = '<sheet name="S" sheetId="1" r:id="rId1"/>', names: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}">'
            f"<sheets>{sheets}</sheets>{f'<definedNames>{names}</definedNames>' if names else ''}</workbook>")


def rels_xml(targets: dict[str, str]) -> str:
    body = "".join(f'<Relationship Id="{rid}" Type="{REL}/worksheet" Target="{t}"/>' for rid, t in targets.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">{body}</Relationships>'


STYLES = (f'<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="0.0%"/></numFmts>'
          '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="3"/><xf numFmtId="14"/></cellXfs>'
          "</styleSheet>")
SHARED = (f'<sst xmlns="{MAIN}"><si><t>共有</t></si><si><r><t>リッチ</t></r><r><rPr><b/></rPr><t>文字</t></r>'
          '<rPh sb="0" eb="1"><t>りっち</t></rPh></si><si><t xml:space="preserve">  spaced  </t></si></sst>')


def package(tmp_path: Path, sheet: str | bytes, *, name: str = "book.xlsx", parts: dict[str, str | bytes | None]
            | None = None) -> Path:
    """A minimal .xlsx: workbook with one sheet "S" (xl/worksheets/sheet1.xml), styles, shared strings."""
    members: dict[str, str | bytes | None] = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        "xl/workbook.xml": workbook_xml(),
        "xl/_rels/workbook.xml.rels": rels_xml({"rId1": "worksheets/sheet1.xml"}),
        "xl/styles.xml": STYLES,
        "xl/sharedStrings.xml": SHARED,
        "xl/worksheets/sheet1.xml": sheet,
    }
    members.update(parts or {})
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in members.items():
            if data is not None:
                z.writestr(member, data)
    return path


def worksheet(rows: str, *, before: str = "", after: str = "", prefix: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns:{prefix}="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {ns}>{before}'
            f"<{p}sheetData>{rows}</{p}sheetData>{after}</{p}worksheet>")


def cells_of(tmp_path: Path, sheet: str | bytes, **kw: object) -> dict[tuple[int, int], Cell]:
    with Book(package(tmp_path, sheet, **kw)) as book:  # type: ignore[arg-type]
        return book.sheet("S").cells


def book_error(tmp_path: Path, sheet: str | bytes = worksheet(""), **kw: object) -> BookError:
    with pytest.raises(BookError) as info:
        with Book(package(tmp_path, sheet, **kw)) as book:  # type: ignore[arg-type]
            book.sheet("S")
    return info.value


# ------------------------------------------------------------------ values of each cell shape
def test_values_of_each_cell_shape(tmp_path: Path) -> None:
    cells = cells_of(tmp_path, worksheet(
        '<row r="1"><c r="A1" t="s"><v>2</v></c><c r="B1" s="1"><v>0.965</v></c>'
        '<c r="C1" t="inlineStr"><is><t xml:space="preserve"> 96.5% </t></is></c><c r="D1" s="3"><v>45500</v></c>'
        '<c r="E1"><f>A1*2</f><v></v></c><c r="F1" t="str"><f>"a"&amp;"b"</f><v>a&amp;b</v></c><c r="G1" s="2"/>'
        '<c r="H1" t="inlineStr"><is><t>1\r\n2</t><rPh><t>ふり</t></rPh></is></c><c r="I1" t="s"><v>1</v></c>'
        '<c r="J1" t="b"><v>1</v></c><c r="K1" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        '<c r="M1" t="d"><v>2024-10-01T00:00:00</v></c><c r="N1" s="2"><f t="shared" si="0"/><v>3</v></c></row>'))
    assert cells == {
        (1, 1): Cell("  spaced  "),
        (1, 2): Cell(0.965, "0.0%"),
        (1, 3): Cell(" 96.5% "),
        (1, 4): Cell(datetime(2024, 7, 27), "mm-dd-yy"),
        (1, 5): Cell(None, "General", "=A1*2"),  # a formula never calculated
        (1, 6): Cell("a&b", "General", '="a"&"b"'),
        (1, 8): Cell("1\n2"),  # XML end-of-line handling, furigana left out
        (1, 9): Cell("リッチ文字"),  # rich-text runs joined, phonetic run left out
        (1, 10): Cell(True),
        (1, 11): Cell("#DIV/0!", "General", "=1/0"),
        (1, 13): Cell(datetime(2024, 10, 1)),
        (1, 14): Cell(3.0, "#,##0", "=…"),  # a shared formula's dependent cell
    }  # G1 styled but empty holds nothing


def test_a_shared_string_index_past_the_table_is_damage(tmp_path: Path) -> None:
    """Never a blank: a table cut short shifts every text after it (E113, naming the cell)."""
    err = book_error(tmp_path, worksheet('<row r="1"><c r="A1" t="s"><v>2</v></c><c r="L1" t="s"><v>9</v></c></row>'))
    assert (err.code, err.where) == ("E113", {"cell": "L1", "sheet": "S"})


def test_non_ascii_digits_in_a_number_cell_are_text(tmp_path: Path) -> None:
    """float() reads Arabic-Indic digits; the reader keeps them as text, so they are refused as a number."""
    cells = cells_of(tmp_path, worksheet('<row r="1"><c r="A1"><v>\u0661\u0662</v></c></row>'))
    assert cells == {(1, 1): Cell("\u0661\u0662")}


@pytest.mark.parametrize("xml, expected", [
    ('<row r="1"><c r="A1"><v>5</v\n></c></row>', 5.0),  # whitespace inside an end tag
    ("<row r='1'><c r='A1' s='1' t='n'><v>0.5</v></c></row>", 0.5),  # single-quoted attributes
    ('<row r="1"><c r="A1"><v>&#49;&#x32;</v></c></row>', 12.0),  # character references
    ('<row r="1"><c r="A1" t="inlineStr"><is><t xml:space="preserve">  a&amp;b  </t></is></c></row>', "  a&b  "),
    ('<row r="1"><c r="A1" t="inlineStr"><is><r><t>富</t></r><r><rPr><i/></rPr><t>士</t></r>'
     '<rPh sb="0" eb="2"><t>ふじ</t></rPh></is></c></row>', "富士"),
    ('<row r="1"><c r="A1"><v>7<!-- a comment inside --></v></c></row>', 7.0),
    ('<row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[<c r="B1"><v>9</v></c>]]></t></is></c></row>',
     '<c r="B1"><v>9</v></c>'),  # CDATA is text, never a cell
])
def test_legal_xml_shapes_keep_their_values(tmp_path: Path, xml: str, expected: object) -> None:
    cells = cells_of(tmp_path, worksheet(xml))
    assert list(cells) == [(1, 1)]
    assert cells[(1, 1)].value == expected


def test_prefixed_main_namespace_and_utf16_part(tmp_path: Path) -> None:
    prefixed = worksheet('<x:row r="2"><x:c r="B2"><x:v>4</x:v></x:c></x:row>', prefix="x")
    assert cells_of(tmp_path, prefixed) == {(2, 2): Cell(4.0)}
    utf16 = worksheet('<row r="1"><c r="A1" t="inlineStr"><is><t>支部</t></is></c></row>').replace(
        'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert cells_of(tmp_path, utf16, name="u16.xlsx") == {(1, 1): Cell("支部")}


def test_cells_without_references_follow_the_previous_one(tmp_path: Path) -> None:
    cells = cells_of(tmp_path, worksheet('<row><c t="inlineStr"><is><t>a</t></is></c><c><v>2</v></c></row>'
                                         '<row><c r="C2"><v>3</v></c><c><v>4</v></c></row>'))
    assert cells == {(1, 1): Cell("a"), (1, 2): Cell(2.0), (2, 3): Cell(3.0), (2, 4): Cell(4.0)}


def test_last_cell_of_the_grid_is_read(tmp_path: Path) -> None:
    with Book(package(tmp_path, worksheet('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'))) as book:
        sheet = book.sheet("S")
    assert sheet.cells == {(1048576, 16384): Cell(1.0)}
    assert (sheet.max_row, sheet.max_column) == (1048576, 16384)


# ------------------------------------------------------------------ what is not a cell
@pytest.mark.parametrize("odd", [
    '<row r="1"><!-- <c r="A1"><v>9</v></c> --></row>',
    '<row r="1"><?foo <c r="A1"><v>9</v></c>?></row>',
    '<?foo <c r="A1"><v>9</v></c>?>',
    '<row r="1"><x:c xmlns:x="urn:other" r="A1"><x:v>9</x:v></x:c></row>',
    '<row r="1"><y:wrap xmlns:y="urn:other"><c r="A1"><v>9</v></c></y:wrap></row>',
    '<row r="1"><extLst><ext uri="{X}"><c r="A1"><v>9</v></c></ext></extLst></row>',
    '<x:row xmlns:x="urn:other" r="1"><c r="A1"><v>9</v></c></x:row>',
    '<c r="A1"><v>9</v></c>',  # a cell outside any row
])
def test_things_that_look_like_cells_are_not(tmp_path: Path, odd: str) -> None:
    cells = cells_of(tmp_path, worksheet(odd + '<row r="2"><c r="B2"><v>1</v></c></row>'))
    assert cells == {(2, 2): Cell(1.0)}


def test_cells_outside_sheet_data_are_not_read(tmp_path: Path) -> None:
    xml = worksheet('<row r="2"><c r="B2"><v>1</v></c></row>',
                    before='<c r="A1"><v>9</v></c>',
                    after='<extLst><ext uri="{X}"><sheetData><row r="1"><c r="A1"><v>9</v></c></row>'
                          "</sheetData></ext></extLst>")
    assert cells_of(tmp_path, xml) == {(2, 2): Cell(1.0)}
    foreign_root = f'<w:worksheet xmlns:w="urn:other"><sheetData xmlns="{MAIN}"><row r="1"><c r="A1"><v>9</v></c>' \
                   "</row></sheetData></w:worksheet>"
    assert cells_of(tmp_path, foreign_root, name="foreign.xlsx") == {}


def test_only_the_part_the_relationships_name_is_read(tmp_path: Path) -> None:
    decoy = worksheet('<row r="1"><c r="A1"><v>9</v></c></row>')
    real = worksheet('<row r="1"><c r="A1"><v>1</v></c></row>')
    path = package(tmp_path, decoy, parts={"xl/worksheets/real.xml": real,
                                           "xl/_rels/workbook.xml.rels": rels_xml({"rId1": "/xl/worksheets/real.xml"})})
    with Book(path) as book:
        assert book.sheet_entries == [SheetEntry("S", "visible", "xl/worksheets/real.xml")]
        assert book.sheet("S").cells == {(1, 1): Cell(1.0)}


# ------------------------------------------------------------------ references out of the grid
@pytest.mark.parametrize("ref", ["A0", "XFE1", "A1048577", "1A", "a1", "", "A01", "$A$1", "AAAA1", "A1:B2"])
def test_cell_reference_outside_the_grid_is_e110(tmp_path: Path, ref: str) -> None:
    err = book_error(tmp_path, worksheet(f'<row r="1"><c r="{ref}"><v>1</v></c></row>'))
    assert err.code == "E110"
    assert repr(ref) in err.reason and "xl/worksheets/sheet1.xml" in err.reason


@pytest.mark.parametrize("row", ["0", "1048577", "200000000", "x", "-1"])
def test_row_number_outside_the_grid_is_e110(tmp_path: Path, row: str) -> None:
    err = book_error(tmp_path, worksheet(f'<row r="{row}"><c><v>1</v></c></row>'))
    assert err.code == "E110" and "row number" in err.reason


def test_cell_without_reference_past_column_xfd_is_e110(tmp_path: Path) -> None:
    xml = worksheet('<row r="1"><c r="XFD1"><v>1</v></c><c><v>2</v></c></row>')
    assert book_error(tmp_path, xml).code == "E110"


def test_bad_style_and_shared_string_index_are_e110(tmp_path: Path) -> None:
    assert "style index" in book_error(tmp_path, worksheet('<row r="1"><c r="A1" s="x"><v>1</v></c></row>')).reason
    err = book_error(tmp_path, worksheet('<row r="1"><c r="A1" t="s"><v>one</v></c></row>'), name="s.xlsx")
    assert err.code == "E110" and "A1" in err.reason


# ------------------------------------------------------------------ unsafe and broken XML
@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/sharedStrings.xml",
                                  "xl/styles.xml", "xl/_rels/workbook.xml.rels"])
def test_dtd_in_any_part_is_e108(tmp_path: Path, part: str) -> None:
    laughs = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
              f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is>'
              "</c></row></sheetData></worksheet>")
    xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>'
    for i, bad in enumerate((laughs, xxe)):
        with pytest.raises(BookError) as info:
            with Book(package(tmp_path, worksheet(""), name=f"{i}.xlsx", parts={part: bad})) as book:
                book.strings(), book.formats(), book.sheet("S")
        assert info.value.code == "E108" and part in info.value.reason


def test_malformed_xml_is_e110_with_line_and_column(tmp_path: Path) -> None:
    err = book_error(tmp_path, worksheet('<row r="1">\n<c r="A1"><v>1</c></row>'))
    assert err.code == "E110"
    assert "line 3, column" in err.reason and "mismatched tag" in err.reason
    assert book_error(tmp_path, worksheet('<row r="1"><c r="A1" t="inlineStr"><is><t>&nbsp;</t></is></c></row>'),
                      name="ent.xlsx").code == "E110"  # an entity no DTD declares


def test_strict_open_xml_is_e112(tmp_path: Path) -> None:
    """A generated template rewritten to the Strict namespaces, as Excel's 'Strict Open XML' saves it."""
    template = make_template(tmp_path, FY, "13")
    strict = tmp_path / "strict.xlsx"
    with zipfile.ZipFile(template) as zin, zipfile.ZipFile(strict, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith((".xml", ".rels")):
                data = data.replace(MAIN.encode(), STRICT_MAIN.encode()).replace(REL.encode(), STRICT_REL.encode())
            zout.writestr(info.filename, data)
    with pytest.raises(BookError) as info:
        Book(strict)
    assert info.value.code == "E112" and "Strict" in info.value.reason
    with Book(template) as book:  # the same template in the usual namespaces reads
        assert len(book.sheet_entries) > 1
    only_sheet_strict = worksheet('<row r="1"><c r="A1"><v>1</v></c></row>').replace(MAIN, STRICT_MAIN)
    assert book_error(tmp_path, only_sheet_strict, name="s2.xlsx").code == "E112"


# ------------------------------------------------------------------ broken packages
def test_relationship_target_outside_the_package_is_e110(tmp_path: Path) -> None:
    for i, target in enumerate(["../../etc/passwd", "../../../x.xml", "//etc/passwd", "/../secret.xml"]):
        path = package(tmp_path, worksheet(""), name=f"r{i}.xlsx",
                       parts={"xl/_rels/workbook.xml.rels": rels_xml({"rId1": target})})
        with pytest.raises(BookError) as info:
            Book(path)
        assert info.value.code == "E110" and "outside the package" in info.value.reason


def test_missing_parts_are_e110(tmp_path: Path) -> None:
    absolute = package(tmp_path, worksheet(""), name="abs.xlsx",
                       parts={"xl/_rels/workbook.xml.rels": rels_xml({"rId1": "/etc/passwd"})})
    with Book(absolute) as book:  # inside the package's name space, but no such part
        assert book.sheet_entries == [SheetEntry("S", "visible", "etc/passwd")]
        with pytest.raises(BookError, match="E110"):
            book.sheet("S")
    no_rel = package(tmp_path, worksheet(""), name="norel.xlsx", parts={"xl/_rels/workbook.xml.rels": rels_xml({})})
    with Book(no_rel) as book:
        assert book.sheet_entries == [SheetEntry("S", "visible", "")]
        with pytest.raises(BookError, match="E110"):
            book.sheet("S")
        with pytest.raises(BookError, match="E110"):
            book.sheet("no such sheet")
    with pytest.raises(BookError, match="E110"):
        Book(package(tmp_path, worksheet(""), name="nowb.xlsx", parts={"xl/workbook.xml": None}))
    not_a_workbook = package(tmp_path, worksheet(""), name="root.xlsx", parts={"xl/workbook.xml": "<other/>"})
    with pytest.raises(BookError, match="E110"):
        Book(not_a_workbook)


def central_header(data: bytes, member: str) -> int:
    """Offset of `member`'s entry in the central directory."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        offset = z.start_dir
    while data[offset:offset + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", data, offset + 28)
        if data[offset + 46:offset + 46 + n] == member.encode():
            return offset
        offset += 46 + n + m + k
    raise KeyError(member)


def patch_member(data: bytes, member: str, *, method: int | None = None, flags: int | None = None,
                 body: bytes | None = None) -> bytes:
    """Rewrite a member's compression method / flags in both headers, or the start of its compressed bytes."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local = z.getinfo(member).header_offset
    if body is not None:
        name_len, extra_len = struct.unpack_from("<HH", out, local + 26)
        start = local + 30 + name_len + extra_len
        out[start:start + len(body)] = body
    for offset, field in ((local, 6), (central_header(data, member), 8)):  # flags, then the method
        if flags is not None:
            struct.pack_into("<H", out, offset + field, flags)
        if method is not None:
            struct.pack_into("<H", out, offset + field + 2, method)
    return bytes(out)


@pytest.mark.parametrize("change, words", [
    ({"method": 12}, "unsupported compression"),  # bzip2: zipfile would inflate it without a bound
    ({"method": 99}, "unsupported compression"),
    ({"flags": 0x1}, "encrypted"),
    ({"body": b"\xff" * 64}, ""),  # a corrupt deflate stream
])
def test_zip_member_problems_are_e110(tmp_path: Path, change: dict, words: str) -> None:
    rows = "".join(f'<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>' for i in range(1, 500))
    path = package(tmp_path, worksheet(rows))
    path.write_bytes(patch_member(path.read_bytes(), "xl/worksheets/sheet1.xml", **change))
    with pytest.raises(BookError) as info:
        with Book(path) as book:
            book.sheet("S")
    assert info.value.code == "E110" and words in info.value.reason


def test_not_a_zip_and_truncated_zip_are_e110(tmp_path: Path) -> None:
    path = package(tmp_path, worksheet(""))
    for i, data in enumerate((b"kpi,value\n", path.read_bytes()[:300], path.read_bytes()[:-30])):
        bad = tmp_path / f"bad{i}.xlsx"
        bad.write_bytes(data)
        with pytest.raises(BookError) as info:
            Book(bad)
        assert info.value.code == "E110"


# ------------------------------------------------------------------ workbook, strings, properties
def test_sheets_names_and_states_as_written(tmp_path: Path) -> None:
    wb = workbook_xml(
        '<sheet name="S" sheetId="1" r:id="rId1"/><sheet name="H" sheetId="2" state="hidden" r:id="rId1"/>'
        '<sheet name="S" sheetId="3" state="veryHidden" r:id="rId1"/>',
        '<definedName name="a">S!$A$1</definedName><definedName name="a">H!$A$1</definedName>'
        '<definedName name="b" localSheetId="1" hidden="1">H!$B$2</definedName>'
        '<x:definedName xmlns:x="urn:other" name="c">S!$C$3</x:definedName>')
    with Book(package(tmp_path, worksheet(""), parts={"xl/workbook.xml": wb})) as book:
        assert book.sheetnames == ["S", "H"]
        assert [e.state for e in book.sheet_entries] == ["visible", "hidden", "veryHidden"]
        assert book.state("H") == "hidden" and book.state("S") == "visible"
        assert book.defined_names == {"a": "S!$A$1"}
        assert book.defined_name_entries == [DefinedNameEntry("a", "S!$A$1", None, False),
                                             DefinedNameEntry("a", "H!$A$1", None, False),
                                             DefinedNameEntry("b", "H!$B$2", 1, True)]
        assert book.strings() == ["共有", "リッチ文字", "  spaced  "]
        assert book.formats() == ["General", "0.0%", "#,##0", "mm-dd-yy"]


def test_document_properties(tmp_path: Path) -> None:
    custom = ('<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
              'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
              '<property fmtid="{D5}" pid="2" name="kpisheet_branch_code"><vt:lpwstr>13</vt:lpwstr></property>'
              '<property fmtid="{D5}" pid="3" name="n"><vt:i4>7</vt:i4></property></Properties>')
    core = ('<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/">'
            "<dc:creator>本部</dc:creator><dcterms:modified>2024-10-01T00:00:00Z</dcterms:modified>"
            "</cp:coreProperties>")
    app = ('<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
           "<Application>Microsoft Excel</Application><AppVersion>16.0300</AppVersion></Properties>")
    path = package(tmp_path, worksheet(""), parts={"docProps/custom.xml": custom, "docProps/core.xml": core,
                                                   "docProps/app.xml": app})
    with Book(path) as book:
        assert book.custom_properties() == {"kpisheet_branch_code": "13", "n": "7"}
        assert book.core_properties() == {"creator": "本部", "modified": "2024-10-01T00:00:00Z"}
        assert book.application() == "Microsoft Excel 16.0300"
    with Book(package(tmp_path, worksheet(""), name="none.xlsx")) as book:
        assert (book.custom_properties(), book.core_properties(), book.application()) == ({}, {}, None)


# ------------------------------------------------------------------ real workbooks against openpyxl
def assert_reads_like_openpyxl(path: Path) -> int:
    """Every sheet: our values and number formats equal openpyxl's (cached values), formulas where it has them."""
    values = openpyxl.load_workbook(path, data_only=True)
    formulas = openpyxl.load_workbook(path)
    n = 0
    with Book(path) as book:
        assert book.sheetnames == values.sheetnames
        for title in book.sheetnames:
            ours = book.sheet(title).cells
            ws, wf = values[title], formulas[title]
            theirs = {(c.row, c.column): c for row in ws.iter_rows() for c in row
                      if c.value is not None or isinstance(wf.cell(c.row, c.column).value, str)
                      and wf.cell(c.row, c.column).value.startswith("=")}
            for (r, c), cell in ours.items():
                if cell.value is None:
                    assert ws.cell(r, c).value is None, (title, r, c)
                    continue
                assert (r, c) in theirs, (title, r, c, cell)
            for (r, c), oc in theirs.items():
                assert (r, c) in ours, (title, r, c, oc.value)
                mine = ours[(r, c)]
                assert mine.value == oc.value or mine.value == "" and oc.value is None, (title, r, c)
                assert mine.number_format == oc.number_format, (title, r, c)
                f = wf.cell(r, c).value
                assert (mine.formula is not None) == (isinstance(f, str) and f.startswith("=")), (title, r, c)
                if mine.formula not in (None, "=…"):
                    assert mine.formula == f, (title, r, c)
            n += len(ours)
    return n


def filled(tmp_path: Path) -> Path:
    template = make_template(tmp_path, FY, "13")
    values = sample_values(catalogue_for_fy(FY), FY, "13", date(2024, 10, 1))
    return fill(template, tmp_path / "filled.xlsx", values)


def test_generated_template_and_openpyxl_filled_workbook_read_like_openpyxl(tmp_path: Path) -> None:
    assert assert_reads_like_openpyxl(make_template(tmp_path / "t", FY, "13")) > 100
    assert assert_reads_like_openpyxl(filled(tmp_path)) > 300


def test_openpyxl_written_workbook_reads_like_openpyxl(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "値"
    ws["A1"], ws["B1"], ws["C1"], ws["D1"] = "共有文字列", 96.5, True, datetime(2024, 10, 1)
    ws["B2"], ws["B2"].number_format = 0.965, "0.0%"
    ws["C3"] = "=SUM(B1:B2)"
    ws["A5"] = "  spaced & <tagged>  "
    wb.create_sheet("隠し").sheet_state = "hidden"
    wb["隠し"]["Z100"] = 42
    path = tmp_path / "openpyxl.xlsx"
    wb.save(path)
    assert assert_reads_like_openpyxl(path) == 8


def test_xlsxwriter_written_workbook_reads_like_openpyxl(tmp_path: Path) -> None:
    path = tmp_path / "xlsxwriter.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("KPI入力")
    pct, day = wb.add_format({"num_format": "0.0%"}), wb.add_format({"num_format": "yyyy/m/d"})
    ws.write_string(0, 0, "事業所")
    ws.write_number(0, 1, 0.965, pct)
    ws.write_datetime(1, 1, datetime(2024, 10, 1), day)
    ws.write_formula(2, 1, "=B1*2", None, 1.93)
    ws.write_boolean(3, 1, False)
    ws.write_rich_string(4, 0, "富", wb.add_format({"bold": True}), "士")
    ws.write_blank(5, 5, None, pct)
    wb.add_worksheet("空")
    wb.close()
    assert assert_reads_like_openpyxl(path) == 6


@requires_soffice
def test_libreoffice_saved_workbook_reads_like_openpyxl(tmp_path: Path) -> None:
    saved = convert(filled(tmp_path), "xlsx", tmp_path / "lo")
    assert assert_reads_like_openpyxl(saved) > 300

