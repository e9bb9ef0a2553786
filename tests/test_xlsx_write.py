"""kpisheet.xlsx_write writes the same bytes as XlsxWriter itself, for every kind of cell."""

from __future__ import annotations

import io
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import pytest
import xlsxwriter
import xlsxwriter.exceptions

from kpisheet import xlsx_write

CREATED = datetime(2024, 11, 7, 14, 3)


def _fill(wb: xlsxwriter.Workbook) -> None:
    wb.set_properties({"created": CREATED})
    bold = wb.add_format({"bold": True})
    pct = wb.add_format({"num_format": "0.0%", "bg_color": "#FFEB9C"})
    date = wb.add_format({"num_format": "yyyy/m/d"})
    ws = wb.add_worksheet("表")
    ws.set_row(3, 30, bold)  # a row format: cells without their own take it
    ws.set_column(6, 6, 12, pct)  # a column format likewise
    texts = ["北海道支部", "A & B <c> \"d\"", " 前後に空白 ", "改行\nあり", "制御\x01文字", "=1+1", "https://example.jp"]
    for r, text in enumerate(texts):
        ws.write_string(r, 0, text, bold)
        ws.write_string(r, 1, text)
    numbers = [0, 1, -3, 62.5, 0.1 + 0.2, 1e-20, 123456789012345678, 1 / 3, 2**53 + 1]
    for r, number in enumerate(numbers):
        ws.write_number(r, 2, number, pct)
        ws.write_number(r, 3, number)
    ws.write_blank(0, 4, None, bold)
    ws.write_blank(1, 4, None)  # no format: no cell at all
    ws.write_string(3, 5, "行の書式")
    ws.write_number(4, 6, 0.5)  # the column's format
    ws.write_formula(0, 7, "=SUM(C1:C9)", bold, 7)
    ws.write_formula(1, 7, '=IF(A1="","",A1)', None, "北海道支部")
    ws.write_formula(10, 7, '=IF(A1<>"x&y",1,0)', pct)  # the result 0, as XlsxWriter stores it
    ws.write_formula(11, 7, "=1/3", pct, 1 / 3)
    ws.write_formula(12, 7, "=A1", bold, True)
    ws.write_formula(13, 7, "=A1", bold, "#N/A")
    ws.write_formula(14, 7, "=A1", bold, "北海道支部")
    ws.write_formula(15, 7, "=A1", bold, "")
    ws.write_formula(16, 7, "=B1", None, "")  # no format, an empty result: the 入力チェック helpers
    ws.write_formula(6, 6, "=1", None, 1)  # the column's format
    ws.write_formula(3, 8, "=1", None, 1)  # the row's format
    ws.write_array_formula(2, 7, 2, 7, "{=SUM(C1:C3*D1:D3)}", bold)
    ws.write_datetime(5, 7, datetime(2024, 10, 1), date)
    ws.write_boolean(6, 7, True, bold)
    ws.write_rich_string(7, 7, "普通", bold, "太字", "普通")
    ws.write_url(8, 7, "https://example.jp/x", bold, "リンク")
    ws.write_comment(9, 0, "コメント")
    ws.write_string("J1", "A1記法", bold)  # "A1" notation and keywords: XlsxWriter's own calls
    ws.write_number("J2", 5, pct)
    ws.write_blank("J3", None, bold)
    ws.write_formula("J4", "=1+1", bold, 2)
    ws.write_string(4, 9, "キーワード", cell_format=bold)
    ws.write_number(row=5, col=9, number=6)


def _bytes(cls: type[xlsxwriter.Workbook], folder: Path, **options: object) -> dict[str, bytes]:
    path = folder / f"{cls.__module__}.xlsx"  # a file: XlsxWriter keeps no constant_memory in memory
    wb = cls(str(path), options)
    _fill(wb)
    wb.close()
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


@pytest.mark.parametrize("options", [{}, {"constant_memory": True}, {"strings_to_formulas": False}])
def test_every_part_is_the_bytes_xlsxwriter_writes(tmp_path: Path, options: dict[str, object]) -> None:
    ours, theirs = _bytes(xlsx_write.Workbook, tmp_path, **options), _bytes(xlsxwriter.Workbook, tmp_path, **options)
    assert ours.keys() == theirs.keys()
    for name in theirs:
        assert ours[name] == theirs[name], name
    if options.get("constant_memory"):  # inline strings: the one-step path stood aside
        assert '<c r="A1" s="1" t="inlineStr"><is><t>北海道支部</t>' in theirs["xl/worksheets/sheet1.xml"].decode()


def test_the_fast_path_writes_the_cells_it_takes(tmp_path: Path) -> None:
    """The sheet really holds the cells the one-step path writes (a guard that the comparison above
    is not of two empty sheets)."""
    sheet = _bytes(xlsx_write.Workbook, tmp_path)["xl/worksheets/sheet1.xml"].decode()
    assert '<c r="A1" s="2" t="s"><v>0</v></c>' in sheet  # a string with a format (bold: xf 2)
    assert '<c r="C5" s="1"><v>0.3</v></c>' in sheet  # a number (0.1 + 0.2 to 16 significant digits)
    assert '<c r="C7" s="1"><v>1.234567890123457E+17</v></c>' in sheet
    assert '<c r="E1" s="2"/>' in sheet  # a blank
    assert '<c r="B1" t="s"><v>0</v></c>' in sheet  # no format: XlsxWriter's path
    assert '<c r="F4" s="2" t="s"><v>7</v></c>' in sheet  # the row's format, where the cell has none
    assert '<c r="H11" s="1"><f>IF(A1&lt;&gt;"x&amp;y",1,0)</f><v>0</v></c>' in sheet  # a formula
    assert '<c r="H12" s="1"><f>1/3</f><v>0.3333333333333333</v></c>' in sheet
    assert '<c r="H13" s="2" t="b"><f>A1</f><v>1</v></c>' in sheet  # a truth value: XlsxWriter's path
    assert '<c r="J4" s="2"><f>1+1</f><v>2</v></c>' in sheet  # "A1" notation
    assert '<c r="J6"><v>6</v></c>' in sheet  # keywords
    assert '<c r="H17"><f>B1</f><v></v></c>' in sheet
    assert '<c r="G7" s="1"><f>1</f><v>1</v></c>' in sheet and '<c r="I4" s="2"><f>1</f><v>1</v></c>' in sheet


def test_a_workbook_sheet_is_the_fast_sheet() -> None:
    wb = xlsx_write.Workbook(io.BytesIO(), {"in_memory": True})
    assert isinstance(wb.add_worksheet("x"), xlsx_write.Sheet)


def _deflated_at(level: int, data: bytes) -> int:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw deflate, as zipfile writes it
    return len(packer.compress(data) + packer.flush())


@pytest.mark.parametrize("in_memory", [True, False])
def test_the_zip_is_deflated_at_level_one(tmp_path: Path, in_memory: bool) -> None:
    """Every member deflated at DEFLATE_LEVEL (XlsxWriter's default is 6), in memory or through
    XlsxWriter's temporary files; XlsxWriter's own workbooks keep their level."""
    path = tmp_path / "x.xlsx"
    wb = xlsx_write.Workbook(str(path), {"in_memory": in_memory})
    _fill(wb)
    wb.close()
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile  # put back after the store
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if i.file_size > 2000]
        assert infos
        for info in infos:
            assert info.compress_size == _deflated_at(1, z.read(info)), info.filename
    plain = tmp_path / "plain.xlsx"
    theirs = xlsxwriter.Workbook(str(plain))
    _fill(theirs)
    theirs.close()
    with zipfile.ZipFile(plain) as z:
        sheet = z.getinfo("xl/worksheets/sheet1.xml")
        assert sheet.compress_size == _deflated_at(6, z.read(sheet))


def test_a_failed_store_puts_xlsxwriters_zip_back(tmp_path: Path) -> None:
    wb = xlsx_write.Workbook(str(tmp_path / "missing" / "x.xlsx"))
    wb.add_worksheet("x")
    with pytest.raises(xlsxwriter.exceptions.FileCreateError):  # its folder does not exist
        wb.close()
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile
