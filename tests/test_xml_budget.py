"""A budget per file: bytes actually inflated (never the sizes the zip declares) and what is kept.

Each case builds its file inline: a member that inflates past its part budget, parts that
together pass the file budget, a zip whose declared sizes lie, millions of tiny shared
strings, too many cells, one huge text.  Each must end in E107 (or E110 for a lie the zip
layer itself catches) with reading stopped early, counted by the book's own budget.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

import kpisheet.read.xlsx_read as wx
from kpisheet.read.preflight import preflight
from kpisheet.read.xlsx_read import Book, BookError

from .test_workbook_xml import MAIN, central_header, package, rels_xml, workbook_xml, worksheet

SHEET = "xl/worksheets/sheet1.xml"


def cell_rows(n_rows: int, cols: int = 10) -> str:
    letters = "ABCDEFGHIJ"[:cols]
    return "".join(f'<row r="{r}">' + "".join(f'<c r="{c}{r}"><v>{r}</v></c>' for c in letters) + "</row>"
                   for r in range(1, n_rows + 1))


def read_all(path: Path) -> Book:
    """Open and read every part; the Book is returned (closed) so a test can look at its budget."""
    book = Book(path)
    try:
        book.strings(), book.formats()
        for title in book.sheetnames:
            book.sheet(title)
    finally:
        book.close()
    return book


def raises_e107(path: Path) -> tuple[BookError, Book]:
    book = Book(path)
    with pytest.raises(BookError) as info:
        try:
            book.strings(), book.formats()
            for title in book.sheetnames:
                book.sheet(title)
        finally:
            book.close()
    assert info.value.code == "E107", info.value
    return info.value, book


# ------------------------------------------------------------------ bytes inflated
def test_part_past_its_budget_stops_there(tmp_path: Path) -> None:
    """A legal worksheet bigger than the part budget (real limit: 50 MB; lowered here to stay fast)."""
    path = package(tmp_path, worksheet(cell_rows(8000)))  # ~2.4 MB of cells
    with zipfile.ZipFile(path) as z:
        assert z.getinfo(SHEET).file_size > 2 * 2**20
    limit = 512 * 1024
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wx, "MAX_PART_BYTES", limit)
        err, book = raises_e107(path)
    assert SHEET in err.reason and "unpacked" in err.reason and "展開後" in err.reason
    assert book._budget.unpacked <= limit + 2 * wx.CHUNK_BYTES  # the rest was never inflated
    assert read_all(path)._budget.cells == 80_000  # within the real budget it reads


def test_real_part_budget_on_a_member_inflating_past_50_mb(tmp_path: Path) -> None:
    """60 MB of legal XML (whitespace inside the root) deflates to ~60 KB: E107 at 50 MB, not after."""
    body = worksheet(cell_rows(2)).replace("</sheetData>", "</sheetData>" + " " * (60 * 2**20), 1)
    path = package(tmp_path, body)
    err, book = raises_e107(path)
    assert f"{SHEET}: 展開後 50 MB 超 / more than 50 MB unpacked" == err.reason
    assert book._budget.unpacked <= wx.MAX_PART_BYTES + 2 * wx.CHUNK_BYTES  # with the small parts read first


def test_parts_together_past_the_file_budget(tmp_path: Path) -> None:
    two = workbook_xml('<sheet name="S" sheetId="1" r:id="rId1"/><sheet name="T" sheetId="2" r:id="rId2"/>')
    path = package(tmp_path, worksheet(cell_rows(3000)), parts={
        "xl/workbook.xml": two,
        "xl/_rels/workbook.xml.rels": rels_xml({"rId1": "worksheets/sheet1.xml", "rId2": "worksheets/sheet2.xml"}),
        "xl/worksheets/sheet2.xml": worksheet(cell_rows(3000))})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wx, "MAX_FILE_BYTES_UNPACKED", 1536 * 1024)  # each sheet ~0.9 MB passes alone
        book = Book(path)
        assert len(book.sheet("S").cells) == 30_000
        with pytest.raises(BookError) as info:
            book.sheet("T")
        book.close()
    assert info.value.code == "E107" and "in all" in info.value.reason
    assert book._budget.unpacked <= 1536 * 1024 + wx.CHUNK_BYTES


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """Patch the uncompressed size a member declares, in its local header and the central directory."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local = z.getinfo(member).header_offset
    struct.pack_into("<I", out, local + 22, size)
    struct.pack_into("<I", out, central_header(data, member) + 24, size)
    return bytes(out)


def test_declared_small_size_that_inflates_to_far_more(tmp_path: Path) -> None:
    """Declared 4 KB, inflates to 100 MB: zipfile never inflates more than the declared bytes, and
    the lie ends in a CRC error (E110), in the pre-flight's head scan and in the reader alike."""
    body = worksheet(cell_rows(2)).replace("</sheetData>", "</sheetData>" + " " * (100 * 2**20), 1)
    path = package(tmp_path, body, name="10_lie.xlsx")
    path.write_bytes(_declare_size(path.read_bytes(), SHEET, 4096))
    found = preflight(path)
    assert [f.code for f in found] == ["E110"] and "CRC" in found[0].message_en
    book = Book(path)
    with pytest.raises(BookError) as info:
        book.sheet("S")
    book.close()
    assert info.value.code == "E110" and "CRC" in info.value.reason
    assert book._budget.unpacked <= 4096


def test_declared_huge_size_is_caught_before_reading(tmp_path: Path) -> None:
    path = package(tmp_path, worksheet(cell_rows(10)), name="10_huge.xlsx")
    path.write_bytes(_declare_size(path.read_bytes(), SHEET, 3 * 2**30))
    assert [f.code for f in preflight(path)] == ["E107"]


# ------------------------------------------------------------------ what is kept
def test_millions_of_tiny_shared_strings(tmp_path: Path) -> None:
    sst = f'<sst xmlns="{MAIN}">' + "<si><t>a</t></si>" * 1_000_000 + "</sst>"
    err, book = raises_e107(package(tmp_path, worksheet(""), parts={"xl/sharedStrings.xml": sst}))
    assert "shared strings" in err.reason and "共有文字列" in err.reason
    assert book._budget.strings == wx.MAX_SHARED_STRINGS + 1  # stopped at the first one past the limit


def test_too_many_cells(tmp_path: Path) -> None:
    path = package(tmp_path, worksheet(cell_rows(300)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wx, "MAX_CELLS", 1000)
        err, book = raises_e107(path)
    assert "more than 1,000 cells" in err.reason
    assert book._budget.cells == 1001


def test_one_huge_text_stops_while_it_is_read(tmp_path: Path) -> None:
    text = "支" * (2 * 2**20)  # 6 MB of UTF-8 in one <t>
    path = package(tmp_path, worksheet(f'<row r="1"><c r="A1" t="inlineStr"><is><t>{text}</t></is></c></row>'))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wx, "MAX_TEXT_CHARS", 100_000)
        err, book = raises_e107(path)
    assert "characters of text" in err.reason
    assert book._budget.chars < 200_000 and book._budget.unpacked < 2 * 2**20


def test_too_many_defined_names(tmp_path: Path) -> None:
    """Also where the same workbook.xml was read before under the real limits (Book._remembered):
    a lowered limit is not passed by the remembered parse."""
    names = "".join(f'<definedName name="n{i}">S!$A$1</definedName>' for i in range(300))
    path = package(tmp_path, worksheet(""), parts={"xl/workbook.xml": workbook_xml(names=names)})
    Book(path).close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wx, "MAX_ENTRIES", 200)
        with pytest.raises(BookError) as info:
            Book(path)
    assert info.value.code == "E107" and "xl/workbook.xml" in info.value.reason


def test_limits_sit_far_above_a_filled_template(tmp_path: Path) -> None:
    from .test_workbook_xml import filled

    book = read_all(filled(tmp_path))
    b = book._budget
    assert b.cells * 20 < wx.MAX_CELLS and b.entries * 20 < wx.MAX_ENTRIES and b.chars * 20 < wx.MAX_TEXT_CHARS
    assert b.unpacked * 20 < wx.MAX_FILE_BYTES_UNPACKED and b.strings * 20 <= wx.MAX_SHARED_STRINGS


@pytest.mark.parametrize("token", ["<!--{}-->", '<sheetPr codeName="{}"/>', "<?pi {}?>"])
def test_one_huge_tag_or_comment_stops_early(tmp_path: Path, token: str) -> None:
    """expat keeps an unfinished token and rescans it per chunk: 40 MB would cost minutes and GBs."""
    xml = worksheet(cell_rows(1)).replace("<sheetData>", token.format("x" * (40 * 2**20)) + "<sheetData>", 1)
    err, book = raises_e107(package(tmp_path, xml))
    assert "one tag or comment" in err.reason and SHEET in err.reason
    assert book._budget.unpacked <= wx.MAX_TOKEN_BYTES + 4 * wx.CHUNK_BYTES


# ------------------------------------------------------------------ workbook.xml parsed once per process
def test_equal_workbook_xml_is_parsed_once_and_charged_again(tmp_path: Path) -> None:
    """Two files with one workbook.xml share its parse (Book._workbook_parse), and the second is charged
    what the parse cost: the same budget as the first, so a later part overruns a limit at the same
    place (here the text limit, reached only by the shared strings after the names)."""
    names = "".join(f'<definedName name="name_{i}">S!$A$1</definedName>' for i in range(50))
    parts = {"xl/workbook.xml": workbook_xml(names=names)}
    a = package(tmp_path, worksheet(cell_rows(3)), name="a.xlsx", parts=parts)
    b = package(tmp_path, worksheet(cell_rows(3)), name="b.xlsx", parts=parts)
    first, second = read_all(a), read_all(b)
    assert second.workbook_parse is first.workbook_parse  # not parsed again
    assert (first._budget.unpacked, first._budget.entries, first._budget.chars) == \
        (second._budget.unpacked, second._budget.entries, second._budget.chars)
    assert second.defined_name_entries == first.defined_name_entries
    assert second.defined_name_entries is not first.defined_name_entries  # each book its own list
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wx, "MAX_TEXT_CHARS", first._budget.chars - 1)  # the names fit; the strings do not
        for path in (a, b):  # parsed under the new limit, then remembered
            error, _ = raises_e107(path)
            assert "characters" in error.reason


def test_a_different_workbook_xml_gets_its_own_parse(tmp_path: Path) -> None:
    one = package(tmp_path, worksheet(""), name="one.xlsx",
                  parts={"xl/workbook.xml": workbook_xml(names='<definedName name="a">S!$A$1</definedName>')})
    two = package(tmp_path, worksheet(""), name="two.xlsx",
                  parts={"xl/workbook.xml": workbook_xml(names='<definedName name="b">S!$A$2</definedName>')})
    with Book(one) as a, Book(two) as b:
        assert a.defined_names == {"a": "S!$A$1"} and b.defined_names == {"b": "S!$A$2"}
        assert a.workbook_parse is not b.workbook_parse


def test_a_remembered_part_whose_charge_would_pass_a_limit_is_parsed_and_refused(tmp_path: Path) -> None:
    """styles.xml remembered from a small file; a second file with the same styles but more names
    would pass the entry limit with them: its styles are parsed again and refused there, exactly as
    in a process that never saw the first file."""
    many = "".join(f'<definedName name="n{i}">S!$A$1</definedName>' for i in range(40))
    small = package(tmp_path, worksheet(""), name="small.xlsx")
    large = package(tmp_path, worksheet(""), name="large.xlsx", parts={"xl/workbook.xml": workbook_xml(names=many)})
    with pytest.MonkeyPatch.context() as mp:
        limit = read_all(large)._budget.entries - 1  # the names fit, the styles do not
        mp.setattr(wx, "MAX_ENTRIES", limit)
        read_all(small)  # remembered under this limit
        error, _ = raises_e107(large)
        mp.setattr(wx, "_PARSES", {})
        fresh, _ = raises_e107(large)
    assert error.reason == fresh.reason and "styles.xml" in error.reason
