"""Reading what branches really send: sheet copies, percent cells, values not shown, odd dates and digits.

Each test builds one odd workbook from a filled one, puts it in an inbox beside a good workbook of
another branch and runs the monthly job through the library (consolidate, then write_outputs).  Each
asserts the finding (code, sheet, cell), the branch's status, that the national figures hold no value
the sheet does not show, and that the run went on (national workbook, CSV, every feedback workbook).
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Callable

import openpyxl
import pytest
from openpyxl.styles import Font
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from openpyxl.workbook.defined_name import DefinedName

from kpisheet.consolidate.model import STATUS_ERRORS, STATUS_NO_MONTH, STATUS_OK, STATUS_UNREADABLE, Consolidation
from kpisheet.domain.findings import Finding
from kpisheet.month import consolidate
from kpisheet.read import names as nm
from kpisheet.read.normalise import PERCENT, normalise_number, parse_number_text
from kpisheet.read.xlsx_read import Book, format_hides
from kpisheet.write.feedback.build import feedback_path
from kpisheet.write.outputs import write_outputs

from .consolidate_helpers import field, mfield, num, sample_inbox, val
from .helpers import cell_of, rewrite_zip

FY, MONTH = 2024, date(2024, 9, 1)
GOOD, BAD = "10", "11"
KPI = "K6-2-01"  # 特定健診 (ratio, percent)
COUNT_KPI = "K6-2-07"  # a count: read as typed
COPY = "KPI入力 (2)"  # the title Excel gives a copy of KPI入力
PLANTED = 999_999.0  # a value the sheet does not show


# ------------------------------------------------------------------ the run
@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(good file, bad branch's clean file): filled through September."""
    root = tmp_path_factory.mktemp("hostile-read")
    good, bad = sample_inbox(root, root / "clean", FY, [GOOD, BAD], MONTH)
    return good, bad


@pytest.fixture(scope="module")
def reference(clean: tuple[Path, Path]) -> Consolidation:
    """The consolidation of the two clean files: what a harmless oddity must leave unchanged."""
    return consolidate(clean[1].parent, fiscal_year=FY, month=MONTH)


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


def found(cons: Consolidation, path: Path, code: str) -> list[Finding]:
    return [f for f in cons.findings if f.file == str(path) and f.code == code]


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


def edited(clean_bad: Path, change: Callable[[openpyxl.Workbook], None]) -> Callable[[Path], Path]:
    def make(inbox: Path) -> Path:
        wb = openpyxl.load_workbook(clean_bad)
        change(wb)
        out = inbox / clean_bad.name
        wb.save(out)
        return out
    return make


def _kpi_part(path: Path) -> str:
    with Book(path) as book:
        return next(e.part for e in book.sheet_entries if e.title == nm.SHEET_KPI)


def sheet_patched(clean_bad: Path, change: Callable[[str], str]) -> Callable[[Path], Path]:
    """Rewrite the XML of KPI入力 of the clean file."""
    def make(inbox: Path) -> Path:
        part = _kpi_part(clean_bad)
        with zipfile.ZipFile(clean_bad) as z:
            xml = z.read(part).decode("utf-8")
        new = change(xml)
        assert new != xml
        return rewrite_zip(clean_bad, inbox / clean_bad.name, {part: new.encode("utf-8")})
    return make


def cell_xml(ref: str, inner: str, attrs: str = "") -> Callable[[str], str]:
    """Replace cell `ref` of a sheet's XML by <c r=ref attrs>inner</c> (its style kept)."""
    def change(xml: str) -> str:
        m = re.search(rf'<c r="{ref}"([^>]*?)(/>|>.*?</c>)', xml, flags=re.S)
        assert m is not None, ref
        style = re.search(r'\ss="\d+"', m.group(1))
        return xml[: m.start()] + f'<c r="{ref}"{style.group(0) if style else ""}{attrs}>{inner}</c>' + xml[m.end():]
    return change


def month_status(cons: Consolidation, kpi: str = KPI) -> str:
    return cons.month_values[(BAD, kpi, "2024-09")].status


# ------------------------------------------------------------------ 1. names by scope
def _copy_with_names(wb: openpyxl.Workbook, *, names: bool = True) -> openpyxl.worksheet.worksheet.Worksheet:
    """What Excel's 「移動またはコピー」 makes of KPI入力: the sheet copied, and each workbook-level input name
    pointing at it copied as a name scoped to the copy, pointing at the copy's cell."""
    src = wb[nm.SHEET_KPI]
    copy = wb.copy_worksheet(src)
    copy.title = COPY
    if names:
        for name, dn in list(wb.defined_names.items()):
            if nm.parse_name(name) is None:
                continue
            dests = list(dn.destinations)
            if len(dests) == 1 and dests[0][0] == nm.SHEET_KPI:
                copy.defined_names.add(DefinedName(name, attr_text=f"'{COPY}'!{dests[0][1]}"))
    return copy


def test_a_copied_input_sheet_is_one_warning_and_the_values_come_from_the_real_sheet(
        clean, reference: Consolidation, tmp_path: Path):
    good, clean_bad = clean
    with Book(clean_bad) as book:
        on_kpi_sheet = sum(1 for e in book.defined_name_entries
                           if nm.parse_name(e.name) and e.value.lstrip("'").startswith(nm.SHEET_KPI))
    cons, bad, out = run(tmp_path, good, edited(clean_bad, _copy_with_names))
    copies = found(cons, bad, "W316")
    assert [(f.sheet, f.cell, f.value) for f in copies] == [(COPY, None, str(on_kpi_sheet))]
    assert copies[0].context["input_sheet"] == nm.SHEET_KPI
    assert "削除" in copies[0].message_ja
    assert not {"E313", "E312", "E317"} & codes_on(cons, bad)
    assert status(cons, BAD) == status(reference, BAD) == STATUS_OK
    assert cons.branch_kpis[(BAD, KPI)].value == reference.branch_kpis[(BAD, KPI)].value is not None
    assert cons.national[KPI].value == reference.national[KPI].value
    assert_run_went_on(cons, out)


def test_two_copies_are_one_warning_each(clean, reference: Consolidation, tmp_path: Path):
    good, clean_bad = clean

    def change(wb: openpyxl.Workbook) -> None:
        _copy_with_names(wb)
        _copy_with_names(wb).title = "KPI入力 (3)"
        wb[COPY].title = "控え"

    cons, bad, out = run(tmp_path, good, edited(clean_bad, change))
    assert sorted(f.sheet for f in found(cons, bad, "W316")) == sorted(["控え", "KPI入力 (3)"])
    assert not {"E313", "E317"} & codes_on(cons, bad)
    assert cons.branch_kpis[(BAD, KPI)].value == reference.branch_kpis[(BAD, KPI)].value
    assert status(cons, BAD) == STATUS_OK
    assert_run_went_on(cons, out)


@pytest.mark.parametrize("names", [True, False], ids=["with-names", "without-names"])
def test_figures_typed_only_on_a_copy_are_one_error_naming_both_sheets(names: bool, clean, tmp_path: Path):
    good, clean_bad = clean
    name = num(KPI, MONTH)
    _, ref = cell_of(clean_bad, name)

    def change(wb: openpyxl.Workbook) -> None:
        copy = _copy_with_names(wb, names=names)
        copy[ref] = wb[nm.SHEET_KPI][ref].value  # typed on the copy …
        wb[nm.SHEET_KPI][ref] = None  # … and not on the real sheet

    cons, bad, out = run(tmp_path, good, edited(clean_bad, change))
    extra = found(cons, bad, "E317")
    assert [(f.sheet, f.cell, f.value) for f in extra] == [(COPY, ref, "1")]
    assert extra[0].context["input_sheet"] == nm.SHEET_KPI
    assert nm.SHEET_KPI in extra[0].message_ja and COPY in extra[0].message_ja
    assert len(found(cons, bad, "W316")) == (1 if names else 0)
    assert "E313" not in codes_on(cons, bad)
    assert status(cons, BAD) == STATUS_ERRORS
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis[KPI].months["2024-09"].numerator.value is None  # the copy's figure is not used
    assert_run_went_on(cons, out)


def test_a_copy_kept_and_its_original_deleted_is_read_from_the_copys_names(clean, reference: Consolidation,
                                                                         tmp_path: Path):
    """Excel leaves the workbook-level names #REF! when the original sheet is deleted; the copy's own
    sheet-level names (renamed back to KPI入力) then define the inputs: no E313, no E301."""
    good, clean_bad = clean

    def change(wb: openpyxl.Workbook) -> None:
        copy = _copy_with_names(wb)
        for name, dn in list(wb.defined_names.items()):
            dests = list(dn.destinations) if nm.parse_name(name) else []
            if len(dests) == 1 and dests[0][0] == nm.SHEET_KPI:
                dn.attr_text = f"#REF!{dests[0][1]}"
        wb.remove(wb[nm.SHEET_KPI])
        copy.title = nm.SHEET_KPI
        for dn in list(copy.defined_names.values()):
            dn.attr_text = dn.attr_text.replace(f"'{COPY}'", f"'{nm.SHEET_KPI}'")

    cons, bad, out = run(tmp_path, good, edited(clean_bad, change))
    assert not {"E313", "E312", "E301", "W316", "E317"} & codes_on(cons, bad)
    sub = next(s for s in cons.submissions if s.path == str(bad))
    ref = next(s for s in reference.submissions if s.branch_code == BAD)
    assert sub.kpis[KPI].months["2024-09"].numerator.value == ref.kpis[KPI].months["2024-09"].numerator.value
    assert cons.branch_kpis[(BAD, KPI)].value == reference.branch_kpis[(BAD, KPI)].value is not None
    assert status(cons, BAD) == STATUS_OK
    assert_run_went_on(cons, out)


def test_text_typed_only_on_a_copy_of_the_measures_sheet_is_one_error(clean, tmp_path: Path):
    good, clean_bad = clean
    name = mfield("6-1-I", "text", 9)
    sheet, ref = cell_of(clean_bad, name)
    assert sheet == nm.SHEET_MEASURES

    def change(wb: openpyxl.Workbook) -> None:
        copy = wb.copy_worksheet(wb[sheet])
        copy.title = "取組状況 (2)"
        copy[ref] = "健診の案内を郵送した"
        wb[sheet][ref] = None

    cons, bad, out = run(tmp_path, good, edited(clean_bad, change))
    extra = found(cons, bad, "E317")
    assert [(f.sheet, f.cell, f.context["input_sheet"]) for f in extra] == [("取組状況 (2)", ref, sheet)]
    assert status(cons, BAD) == STATUS_ERRORS
    assert_run_went_on(cons, out)


@pytest.mark.soffice
def test_a_sheet_copied_in_libreoffice_is_one_warning(clean, reference: Consolidation, tmp_path: Path):
    from .lo import lo_fill, soffice_path

    if soffice_path() is None:
        pytest.skip("LibreOffice (soffice) not installed")
    good, clean_bad = clean

    def make(inbox: Path) -> Path:
        out = inbox / clean_bad.name
        lo_fill(clean_bad, out, {}, [{"op": "copy_sheet", "sheet": nm.SHEET_KPI, "new": "KPI入力_2"}])
        with Book(out) as book:  # LibreOffice copies every input name as a name of the copy
            titles = [e.title for e in book.sheet_entries]
            local = [e for e in book.defined_name_entries
                     if e.local_sheet_id is not None and nm.parse_name(e.name) is not None]
            assert local and {titles[e.local_sheet_id] for e in local} == {"KPI入力_2"}
        return out

    cons, bad, out = run(tmp_path, good, make)
    assert [(f.code, f.sheet, f.cell) for f in found(cons, bad, "W316")] == [("W316", "KPI入力_2", None)]
    assert not {"E313", "E312", "E317"} & codes_on(cons, bad)
    assert cons.branch_kpis[(BAD, KPI)].value == reference.branch_kpis[(BAD, KPI)].value is not None
    assert_run_went_on(cons, out)


# ------------------------------------------------------------------ 2. percent by kind, not by format
def _without_styles(clean_bad: Path) -> Callable[[Path], Path]:
    """What a writer without a styles part sends: no xl/styles.xml, nor any reference to it."""
    def make(inbox: Path) -> Path:
        with zipfile.ZipFile(clean_bad) as z:
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
            types = z.read("[Content_Types].xml").decode("utf-8")
        rels = re.sub(r'<Relationship [^>]*Target="[^"]*styles\.xml"[^>]*/>', "", rels)
        types = re.sub(r'<Override [^>]*PartName="/xl/styles\.xml"[^>]*/>', "", types)
        return rewrite_zip(clean_bad, inbox / clean_bad.name, {
            "xl/styles.xml": None, "xl/_rels/workbook.xml.rels": rels.encode(),
            "[Content_Types].xml": types.encode()})
    return make


def test_percent_targets_read_by_kind_when_the_styles_part_is_missing(clean, reference: Consolidation,
                                                                      tmp_path: Path):
    good, clean_bad = clean
    cons, bad, out = run(tmp_path, good, _without_styles(clean_bad))
    sub = next(s for s in cons.submissions if s.path == str(bad))
    ref = next(s for s in reference.submissions if s.branch_code == BAD)
    with Book(bad) as book:
        assert book.formats() == []  # no % format survived
    assert sub.kpis[KPI].target.value == ref.kpis[KPI].target.value == pytest.approx(61.8)  # 0.618 stored
    for kpi_id, entry in ref.kpis.items():
        assert sub.kpis[kpi_id].target.value == entry.target.value, kpi_id
    assert not {"W306", "E402", "W414", "W419", "E319"} & codes_on(cons, bad)
    assert status(cons, BAD) == status(reference, BAD)
    assert cons.national[KPI].value == reference.national[KPI].value
    assert_run_went_on(cons, out)


@pytest.mark.parametrize("fmt", [";;;", "General", "0.0"])
def test_a_percent_cells_fraction_is_points_whatever_its_format(fmt: str):
    assert normalise_number(0.644, fmt, PERCENT).value == pytest.approx(64.4)
    assert normalise_number(64.4, fmt, PERCENT).value == pytest.approx(64.4)


def test_hqs_prefilled_value_divided_by_100_is_read_as_that_value(clean, tmp_path: Path):
    """K6-2-09 (バイオシミラー, 25% fixed by HQ, no plausible range): 0.25% is HQ's 25% ÷ 100."""
    good, clean_bad = clean
    name = field("K6-2-09", "target")
    sheet, ref = cell_of(clean_bad, name)
    cons, bad, out = run(tmp_path, good, edited(clean_bad, lambda wb: wb[sheet].__setitem__(ref, 0.0025)))
    slips = found(cons, bad, "W317")
    assert [(f.sheet, f.cell, f.name) for f in slips] == [(sheet, ref, name)]
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis["K6-2-09"].target.value == 25.0
    assert status(cons, BAD) == STATUS_OK
    assert_run_went_on(cons, out)


def test_a_target_that_only_makes_sense_times_100_is_an_error(clean, reference: Consolidation, tmp_path: Path):
    """K6-2-11 (plausible 10–90%): 0.537% typed for 53.7%."""
    good, clean_bad = clean
    name = field("K6-2-11", "target")
    sheet, ref = cell_of(clean_bad, name)
    cons, bad, out = run(tmp_path, good, edited(clean_bad, lambda wb: wb[sheet].__setitem__(ref, 0.00537)))
    slips = found(cons, bad, "E319")
    assert [(f.sheet, f.cell, f.name, f.value) for f in slips] == [(sheet, ref, name, "0.5%")]
    assert slips[0].context["other"] == "53.7%"
    assert "W419" not in codes_on(cons, bad)
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis["K6-2-11"].target.value is None
    assert status(cons, BAD) == STATUS_ERRORS
    assert cons.branch_kpis[(BAD, KPI)].value == reference.branch_kpis[(BAD, KPI)].value
    assert_run_went_on(cons, out)


# ------------------------------------------------------------------ 3. shown means visible
def _hide_row(wb: openpyxl.Workbook, ref: str) -> None:
    wb[nm.SHEET_KPI].row_dimensions[int(re.sub(r"\D", "", ref))].hidden = True


def _zero_height(wb: openpyxl.Workbook, ref: str) -> None:
    wb[nm.SHEET_KPI].row_dimensions[int(re.sub(r"\D", "", ref))].height = 0.001  # made 0 in the XML (see below)


def _zero_height_xml(xml: str, ref: str) -> str:
    """A row height of 0 as Excel writes it (openpyxl leaves a 0 height out)."""
    row = re.sub(r"\D", "", ref)
    return re.sub(rf'(<row r="{row}"[^>]*?)\sht="0\.001"', r'\1 ht="0"', xml, count=1)


def _hide_column(wb: openpyxl.Workbook, ref: str) -> None:
    ws = wb[nm.SHEET_KPI]
    letter = re.sub(r"\d", "", ref)
    index = openpyxl.utils.column_index_from_string(letter)
    for key in list(ws.column_dimensions):  # split any range holding the column, then hide it alone
        dim = ws.column_dimensions[key]
        if dim.min is not None and dim.max is not None and dim.min <= index <= dim.max and dim.min != dim.max:
            dim.min = dim.max = openpyxl.utils.column_index_from_string(key)
    ws.column_dimensions[letter].hidden = True


def _ink_like_fill(wb: openpyxl.Workbook, ref: str) -> None:
    cell = wb[nm.SHEET_KPI][ref]
    assert cell.fill.fgColor.rgb not in (None, "00000000")
    cell.font = Font(color=cell.fill.fgColor.rgb)


NOT_SHOWN = {
    "hidden row": _hide_row,
    "zero-height row": _zero_height,
    "hidden column": _hide_column,
    "font colour of its fill": _ink_like_fill,
}


@pytest.mark.parametrize("case", list(NOT_SHOWN))
def test_an_input_the_sheet_does_not_show_is_an_error_and_not_used(case: str, clean, reference: Consolidation,
                                                                   tmp_path: Path):
    good, clean_bad = clean
    name = num(KPI, MONTH)
    sheet, ref = cell_of(clean_bad, name)

    def change(wb: openpyxl.Workbook) -> None:
        wb[sheet][ref] = PLANTED
        NOT_SHOWN[case](wb, ref)

    make = edited(clean_bad, change)
    if case == "zero-height row":
        def make(inbox: Path, first: Callable[[Path], Path] = make) -> Path:
            path = first(inbox)
            part = _kpi_part(path)
            with zipfile.ZipFile(path) as z:
                xml = z.read(part).decode("utf-8")
            new = _zero_height_xml(xml, ref)
            assert new != xml
            staged = rewrite_zip(path, inbox.parent / path.name, {part: new.encode("utf-8")})
            return staged.replace(path)

    cons, bad, out = run(tmp_path, good, make)
    hidden = found(cons, bad, "E318")
    assert (sheet, ref, name) in [(f.sheet, f.cell, f.name) for f in hidden]
    row, column = re.sub(r"\D", "", ref), re.sub(r"\d", "", ref)
    if "row" in case:  # every filled month of the numerator's row
        assert {re.sub(r"\D", "", f.cell) for f in hidden} == {row} and len(hidden) == 6
    elif "column" in case:  # every filled input of September
        assert {re.sub(r"\d", "", f.cell) for f in hidden} == {column} and len(hidden) > 6
    else:
        assert len(hidden) == 1
    # no figure of September is shown at all: the branch's status says the reporting month is missing
    assert status(cons, BAD) == (STATUS_NO_MONTH if "column" in case else STATUS_ERRORS)
    assert month_status(cons) == "excluded"
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis[KPI].months["2024-09"].numerator.value is None
    assert PLANTED not in (sub.kpis[KPI].months["2024-09"].numerator.raw, cons.national[KPI].numerator)
    assert (cons.national[KPI].numerator or 0) < PLANTED
    assert_run_went_on(cons, out)


def test_an_input_under_a_merged_cell_is_an_error_and_not_used(clean, tmp_path: Path):
    good, clean_bad = clean
    name = num(KPI, MONTH)
    sheet, ref = cell_of(clean_bad, name)
    _, left = cell_of(clean_bad, num(KPI, date(2024, 8, 1)))  # August, left of September: shown

    def change(xml: str) -> str:
        xml = cell_xml(ref, f"<v>{PLANTED:g}</v>")(xml)
        merge = f'<mergeCell ref="{left}:{ref}"/>'
        if "<mergeCells" in xml:
            return re.sub(r"(<mergeCells[^>]*>)", rf"\1{merge}", xml, count=1)
        return xml.replace("</sheetData>", f"</sheetData><mergeCells>{merge}</mergeCells>", 1)

    cons, bad, out = run(tmp_path, good, sheet_patched(clean_bad, change))
    assert [(f.sheet, f.cell, f.name) for f in found(cons, bad, "E318")] == [(sheet, ref, name)]
    assert status(cons, BAD) == STATUS_ERRORS
    assert month_status(cons) == "excluded"
    assert (cons.national[KPI].numerator or 0) < PLANTED
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis[KPI].months["2024-08"].numerator.value is not None  # the merge's own cell is shown
    assert_run_went_on(cons, out)


def test_a_value_its_format_hides_is_named_and_read_by_kind(clean, reference: Consolidation, tmp_path: Path):
    """`;;;` loses only the display: the cell is named (W318) and 0.618 in a percent target is 61.8%."""
    good, clean_bad = clean
    name = field(KPI, "target")
    sheet, ref = cell_of(clean_bad, name)
    cons, bad, out = run(tmp_path, good, edited(
        clean_bad, lambda wb: setattr(wb[sheet][ref], "number_format", ";;;")))
    hidden = found(cons, bad, "W318")
    assert [(f.sheet, f.cell, f.name) for f in hidden] == [(sheet, ref, name)]
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis[KPI].target.value == pytest.approx(61.8)
    assert not {"E318", "W306", "E319", "W419"} & codes_on(cons, bad)
    assert status(cons, BAD) == status(reference, BAD) == STATUS_OK
    assert cons.branch_kpis[(BAD, KPI)].rating == reference.branch_kpis[(BAD, KPI)].rating
    assert cons.national[KPI].value == reference.national[KPI].value
    assert_run_went_on(cons, out)


def test_format_hides_reads_each_section():
    assert format_hides(";;;", 5.0) and format_hides(";;;", "text") and format_hides('"";""', -1.0)
    assert format_hides("[Red];;;", 5.0) and format_hides("0;-0;;@", 0.0)
    assert not format_hides("0.0%", 0.5) and not format_hides("0;-0;;@", 1.0) and not format_hides("0;;", "text")
    assert not format_hides('0.0" ;;; "', 1.0)  # a quoted literal is shown


# ------------------------------------------------------------------ 4. dates, digits, strings
def test_a_1904_dated_workbook_quotes_its_dates_as_they_are(clean, tmp_path: Path):
    good, clean_bad = clean
    name = val(COUNT_KPI, MONTH)
    sheet, ref = cell_of(clean_bad, name)

    def change(wb: openpyxl.Workbook) -> None:
        wb.epoch = CALENDAR_MAC_1904
        wb[sheet][ref] = datetime(2024, 9, 30)
        wb[sheet][ref].number_format = "yyyy/mm/dd"

    cons, bad, out = run(tmp_path, good, edited(clean_bad, change))
    with zipfile.ZipFile(bad) as z:
        assert 'date1904="1"' in z.read("xl/workbook.xml").decode()
    dates = found(cons, bad, "E310")
    assert [(f.sheet, f.cell, f.name) for f in dates] == [(sheet, ref, name)]
    assert dates[0].value.startswith("2024-09-30")  # not 2020-09-29, the 1900 reading of the serial
    assert status(cons, BAD) == STATUS_ERRORS
    assert_run_went_on(cons, out)


ARABIC_INDIC = "١١٧٠"  # 1170 in Arabic-Indic digits


@pytest.mark.parametrize("how", ["typed text", "number cell"])
def test_arabic_indic_digits_are_not_a_number(how: str, clean, tmp_path: Path):
    good, clean_bad = clean
    name = val(COUNT_KPI, MONTH)
    sheet, ref = cell_of(clean_bad, name)
    make = (edited(clean_bad, lambda wb: wb[sheet].__setitem__(ref, ARABIC_INDIC)) if how == "typed text"
            else sheet_patched(clean_bad, cell_xml(ref, f"<v>{ARABIC_INDIC}</v>")))
    cons, bad, out = run(tmp_path, good, make)
    refused = found(cons, bad, "E304")
    assert [(f.sheet, f.cell, f.name, f.value) for f in refused] == [(sheet, ref, name, ARABIC_INDIC)]
    sub = next(s for s in cons.submissions if s.path == str(bad))
    assert sub.kpis[COUNT_KPI].months["2024-09"].value.value is None
    assert status(cons, BAD) == STATUS_ERRORS
    assert month_status(cons, COUNT_KPI) == "excluded"
    assert_run_went_on(cons, out)


@pytest.mark.parametrize("text", [ARABIC_INDIC, "۱۱۷۰", "१११७०", "１１７０"])
def test_only_ascii_and_full_width_digits_are_numbers(text: str):
    number, _ = parse_number_text(text)
    assert number == (1170.0 if text == "１１７０" else None)


def test_a_shared_string_index_past_the_table_is_damage(clean, tmp_path: Path):
    good, clean_bad = clean
    name = val(COUNT_KPI, MONTH)
    sheet, ref = cell_of(clean_bad, name)
    cons, bad, out = run(tmp_path, good, sheet_patched(clean_bad, cell_xml(ref, "<v>99999</v>", ' t="s"')))
    damage = found(cons, bad, "E113")
    assert [(f.sheet, f.cell) for f in damage] == [(sheet, ref)]
    assert "99999" in damage[0].context["reason"]
    assert status(cons, BAD) == STATUS_UNREADABLE
    assert (BAD, KPI) not in cons.branch_kpis or cons.branch_kpis[(BAD, KPI)].value is None
    assert_run_went_on(cons, out)
