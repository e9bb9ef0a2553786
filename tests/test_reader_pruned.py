"""Pruned reading: the input sheets' hidden 入力チェック formulas and blank cells are cut before expat sees
them (xlsx_read._Pruner), and what read_workbook returns is exactly what a full read returns."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.read import names as nm
from kpisheet.read import xlsx_read
from kpisheet.read.reader import read_workbook
from kpisheet.read.xlsx_read import Book, BookError
from tests import helpers as h
from tests.builders.sample import sample_values
from tests.lo import convert, requires_soffice
from tests.test_workbook_xml import package, worksheet


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), h.FY, "10")


def both_reads(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """read_workbook(path) pruned and in full, as JSON-ready dicts."""
    monkeypatch.setattr(xlsx_read, "PRUNE", True)
    pruned = read_workbook(path).to_dict()
    monkeypatch.setattr(xlsx_read, "PRUNE", False)
    full = read_workbook(path).to_dict()
    return pruned, full


def skipped_on_input_sheet(path: Path) -> int:
    """How many formula cells a pruned read of KPI入力 leaves out (0: not pruned)."""
    with Book(path) as book:
        return len(book.sheet(nm.SHEET_KPI, lambda r, c: r <= 5 or c <= 5).skipped)


def test_a_filled_workbook_reads_the_same_pruned(template: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A formula typed into an input cell (names intact) is kept: its place is named, nothing is read twice."""
    values = sample_values(catalogue_for_fy(h.FY), h.FY, "10", date(2024, 9, 1))
    h.fill(template, tmp_path / "f.xlsx", values)
    wb = openpyxl.load_workbook(tmp_path / "f.xlsx")
    sheet, ref = h.cell_of(template, "in_K6_2_07_val_202407")
    wb[sheet][ref] = "=1000+200"
    path = tmp_path / "10_filled.xlsx"
    wb.save(path)
    assert skipped_on_input_sheet(path) > 500  # the 入力チェック helpers are cut
    rereads: list[str] = []
    real = xlsx_read.Sheet._read_skipped
    monkeypatch.setattr(xlsx_read.Sheet, "_read_skipped", lambda ws: (rereads.append(ws.title), real(ws))[1])
    pruned, full = both_reads(path, monkeypatch)
    assert json.dumps(pruned, default=str) == json.dumps(full, default=str)
    assert rereads == []
    monkeypatch.setattr(xlsx_read, "PRUNE", True)
    sub = read_workbook(path)
    assert sub.kpis["K6-2-07"].months["2024-04"].value.value == values["in_K6_2_07_val_202404"]
    assert [(f.code, f.cell) for f in sub.findings if f.code == "W307"] == [("W307", ref)]


def test_formulas_where_only_the_keys_find_the_input_are_read_on_demand(
        template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names deleted: the keys lead to the cells, which pruning had cut as formula cells of no interest;
    reading one of them reads the whole sheet again, so W302 and W308 / W307 come as in a full read."""
    typed = {"in_K6_2_07_val_202406": "=1000+170", "in_K6_2_07_val_202407": "=1000+200"}  # columns G, H
    wb = openpyxl.load_workbook(template)
    for name, formula in typed.items():
        sheet, ref = h.cell_of(template, name)
        wb[sheet][ref] = formula
        del wb.defined_names[name]
    wb.save(tmp_path / "f.xlsx")
    cell_a, cell_b = (h.cell_of(template, n)[1] for n in typed)
    path = h.set_cached_value(tmp_path / "f.xlsx", tmp_path / "10_formula_keys.xlsx", cell_a, "1170")
    with Book(path) as book:
        ws = book.sheet(nm.SHEET_KPI, lambda r, c: r <= 5 or c <= 5)
        assert ws.skipped and cell_a not in _refs(ws.cells)
        assert ws.cell(*_at(cell_a)).formula == "=1000+170"  # read on demand
        assert not ws.skipped and cell_a in _refs(ws.cells)
    pruned, full = both_reads(path, monkeypatch)
    assert pruned == full
    got = sorted((f["code"], f["cell"]) for f in pruned["findings"])
    assert got == sorted([("W302", cell_a), ("W308", cell_a), ("W302", cell_b), ("W307", cell_b)])
    assert read_workbook(path).kpis["K6-2-07"].months["2024-06"].value.value == 1170.0


def test_a_read_workbook_is_freed_at_once(template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pruned sheet can read its book again; closing the book breaks that cycle, so a run reading with
    the garbage collector paused (runtime.gc_paused) frees each workbook as soon as it is read."""
    import gc
    import weakref

    books: list[weakref.ref[Book]] = []
    real_init = Book.__init__

    def init(book: Book, path: Path) -> None:
        real_init(book, path)
        books.append(weakref.ref(book))

    monkeypatch.setattr(Book, "__init__", init)
    gc.disable()
    try:
        read_workbook(template)
        assert len(books) == 1 and books[0]() is None
    finally:
        gc.enable()


@requires_soffice
def test_a_workbook_saved_by_libreoffice_reads_the_same_pruned(template: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    filled = h.fill(template, tmp_path / "src" / template.name,
                    {"in_K6_2_11_target": 0.5, "in_K6_2_07_val_202404": 1170.0, "in_M_6_1_I_1_text": "実施した"})
    saved = convert(filled, "xlsx", tmp_path / "lo")
    assert skipped_on_input_sheet(saved) > 500  # LibreOffice writes <f aca="false">: cut all the same
    pruned, full = both_reads(saved, monkeypatch)
    assert pruned == full
    assert pruned["findings"] == []


# ------------------------------------------------------------------ the pruner on worksheet XML
def sheet_xml(rows: str) -> bytes:
    return worksheet(rows).encode()


ROWS = ('<row r="1"><c r="A1" t="inlineStr"><is><t>key</t></is></c><c r="B1" s="1"/></row>'
        '<row r="10"><c r="F10"><v>5</v></c><c r="S10" s="2" t="str"><f>IF(F10&gt;0,"","x")</f><v></v></c>'
        '<c r="T10" t="str"><f aca="false">1+1</f><v>2</v></c><c r="U10" s="3" t="n"></c></row>')


def test_the_pruner_cuts_blank_cells_and_the_formulas_keep_declines() -> None:
    pruner = xlsx_read._Pruner(lambda r, c: (r, c) == (10, 20))
    out = pruner.prune(sheet_xml(ROWS))
    assert out == sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t>key</t></is></c></row>'
                            '<row r="10"><c r="F10"><v>5</v></c><c r="T10" t="str"><f aca="false">1+1</f>'
                            "<v>2</v></c></row>")
    assert pruner.skipped == {(10, 19)}


@pytest.mark.parametrize("rows", [
    ROWS.replace('<c r="F10">', '<!-- a comment --><c r="F10">'),  # a comment (or CDATA) may hide a cut
    ROWS.replace('<c r="B1" s="1"/>', '<c s="1" r="B1"/>'),  # a reference that is not the first attribute
    ROWS.replace('<c r="B1" s="1"/>', '<c s="1"/>'),  # a cell without one stands after the previous cell
    ROWS.replace('<c r="F10">', '<?pi x?><c r="F10">'),  # a processing instruction
], ids=["comment", "reference-second", "no-reference", "processing-instruction"])
def test_the_pruner_leaves_a_worksheet_it_cannot_cut_safely_as_it_is(rows: str) -> None:
    pruner = xlsx_read._Pruner(lambda r, c: False)
    data = sheet_xml(rows)
    assert pruner.prune(data) == data
    assert pruner.skipped == set()


def test_formula_cells_as_openpyxl_writes_them_without_lxml_are_cut_too() -> None:
    pruner = xlsx_read._Pruner(lambda r, c: False)
    out = pruner.prune(sheet_xml('<row r="10"><c r="S10" t="str"><f>1</f><v /></c><c r="T10" s="1" /></row>'))
    assert out == sheet_xml('<row r="10"></row>') and pruner.skipped == {(10, 19)}


def test_an_attribute_value_holding_a_tag_end_is_read_whole(tmp_path: Path) -> None:
    """A quoted value may hold '/>' (legal XML): the pattern takes the value whole, so the cell holding a
    value is not mistaken for an empty one and cut in the middle."""
    rows = '<row r="9"><c r="F9" foo="x/>y"><v>7</v></c><c r="G9" s="1"/></row>'
    pruner = xlsx_read._Pruner(lambda r, c: False)
    assert pruner.prune(sheet_xml(rows)) == sheet_xml('<row r="9"><c r="F9" foo="x/>y"><v>7</v></c></row>')
    with Book(package(tmp_path, sheet_xml(rows))) as book:
        assert book.sheet("S", lambda r, c: False).cell(9, 6).value == 7.0


def test_a_cell_written_another_way_is_kept_for_expat() -> None:
    """Only cells written as the pattern expects are cut: `</v\\n>` (legal XML) is left for expat to read."""
    pruner = xlsx_read._Pruner(lambda r, c: False)
    odd = '<c r="T10" t="str"><f>1+1</f><v>2</v\n></c>'
    out = pruner.prune(sheet_xml(f'<row r="10"><c r="S10"><f>1</f><v>1</v></c>{odd}</row>'))
    assert out == sheet_xml(f'<row r="10">{odd}</row>') and pruner.skipped == {(10, 19)}


def test_a_blank_cell_outside_the_grid_is_still_damage_when_pruned(tmp_path: Path) -> None:
    path = package(tmp_path, sheet_xml('<row r="1"><c r="A1"><v>1</v></c><c r="XFE1" s="1"/></row>'))
    with Book(path) as book, pytest.raises(BookError) as err:
        book.sheet("S", lambda r, c: False)
    assert err.value.code == "E110" and "XFE1" in err.value.reason


# ------------------------------------------------------------------ helpers
def _refs(cells: dict[tuple[int, int], Any]) -> set[str]:
    from kpisheet.xlsx_cells import column_letter

    return {f"{column_letter(c)}{r}" for r, c in cells}


def _at(ref: str) -> tuple[int, int]:
    from kpisheet.xlsx_cells import sheet_cell

    at = sheet_cell(ref)
    assert at is not None
    return at
