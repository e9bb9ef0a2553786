"""Tests of the LibreOffice test harness (tests/lo.py) itself.

These build their own small workbook with XlsxWriter and do not use kpisheet.
Tests that drive LibreOffice are marked ``soffice`` and skipped only when
soffice is not installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from tests.lo import (
    LibreOfficeError,
    LockedCellError,
    _typed_spec,
    convert,
    lo_fill,
    lo_values_csv,
    pdf_pages,
    render_png,
    requires_soffice,
    soffice_path,
)

SHEET = "入力"
PASSWORD_SHEET = "保護PW"

# name -> (cell on SHEET, xlsxwriter format key)
INPUTS = {
    "in_test_pct": ("C2", "pct"),
    "in_test_num": ("C3", "num"),
    "in_test_pct_raw": ("C4", "pct"),  # "96.5" typed into a percent cell
    "in_test_fullwidth": ("C5", "plain"),  # full-width digits
    "in_test_float": ("C6", "plain"),  # setValue
    "in_test_clear": ("C7", "plain"),  # pre-filled, cleared with None
    "in_test_valid": ("C8", "pct"),  # decimal 0..1 validation with a stop alert
}


def build_workbook(path: Path) -> Path:
    """A small template: protected input sheet, names, a very hidden _meta sheet."""
    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_formulas": False, "strings_to_urls": False}
    )
    fmts = {
        "pct": wb.add_format({"locked": False, "num_format": "0.0%", "bg_color": "#FFF2CC"}),
        "num": wb.add_format({"locked": False, "num_format": "#,##0", "bg_color": "#FFF2CC"}),
        "plain": wb.add_format({"locked": False, "bg_color": "#FFF2CC"}),
    }
    ws = wb.add_worksheet(SHEET)
    ws.write_string("A1", "項目")
    ws.write_string("C1", "入力")
    for name, (ref, key) in INPUTS.items():
        ws.write_string(ref.replace("C", "A"), name)
        if name == "in_test_clear":
            ws.write_number(ref, 42, fmts[key])
        else:
            ws.write_blank(ref, None, fmts[key])
        wb.define_name(name, f"='{SHEET}'!${ref[0]}${ref[1:]}")
    ws.data_validation("C8", {"validate": "decimal", "criteria": "between", "minimum": 0,
                              "maximum": 1, "error_type": "stop",
                              "error_message": "0%〜100%の範囲で入力してください"})
    ws.write_string("A9", "計算値（ロック）")
    ws.write_number("C9", 7)  # default format: locked
    wb.define_name("in_test_locked", f"='{SHEET}'!$C$9")
    ws.protect()
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)

    pw = wb.add_worksheet(PASSWORD_SHEET)
    pw.write_string("A1", "パスワード付き")
    pw.write_blank("B2", None, fmts["num"])
    wb.define_name("in_test_pw", f"='{PASSWORD_SHEET}'!$B$2")
    pw.protect("pw")

    meta = wb.add_worksheet("_meta")
    meta.write_string("A1", '{"template": "test", "version": 1}')
    meta.very_hidden()
    wb.close()
    return path


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return openpyxl.load_workbook(path, data_only=True)


def destination(wb: openpyxl.Workbook, name: str) -> tuple[str, str]:
    """(sheet, ref) that a workbook-level defined name points to."""
    dests = list(wb.defined_names[name].destinations)
    assert len(dests) == 1, dests
    return dests[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("tpl") / "template.xlsx")


# ---------------------------------------------------------------- no soffice


def test_requires_soffice_marks() -> None:
    @requires_soffice
    def dummy() -> None:  # pragma: no cover - never run
        pass

    marks = {m.name: m for m in dummy.pytestmark}
    assert set(marks) == {"soffice", "skipif"}
    assert marks["skipif"].args == (soffice_path() is None,)
    assert marks["skipif"].kwargs["reason"] == "LibreOffice (soffice) not installed"
    # usable as a whole-module pytestmark too
    assert all(hasattr(d, "mark") for d in requires_soffice)


def test_typed_spec() -> None:
    assert _typed_spec("a", "96.5%") == {"kind": "string", "value": "96.5%"}
    assert _typed_spec("a", 3) == {"kind": "value", "value": 3.0}
    assert _typed_spec("a", None) == {"kind": "clear"}
    with pytest.raises(TypeError):
        _typed_spec("a", True)


def test_template_as_written(template: Path) -> None:
    wb = load(template)
    assert wb["_meta"].sheet_state == "veryHidden"
    assert destination(wb, "in_test_pct") == (SHEET, "$C$2")


# ------------------------------------------------------------- with soffice


@requires_soffice
def test_lo_fill_types_like_a_person(template: Path, tmp_path: Path) -> None:
    out = tmp_path / "filled.xlsx"
    lo_fill(
        template,
        out,
        {
            "in_test_pct": "96.5%",
            "in_test_num": "1,170",
            "in_test_pct_raw": "96.5",
            "in_test_fullwidth": "１，１７０",
            "in_test_float": 0.5,
            "in_test_clear": None,
            "in_test_valid": "150",
        },
    )
    wb = load(out)
    values = {}
    for name in INPUTS:
        sheet, ref = destination(wb, name)  # names still resolve
        assert sheet == SHEET
        values[name] = wb[sheet][ref.replace("$", "")].value
    assert values["in_test_pct"] == pytest.approx(0.965)
    assert values["in_test_num"] == 1170
    # Measured LibreOffice behaviour: no "automatic percent entry" as in Excel.
    assert values["in_test_pct_raw"] == pytest.approx(96.5)
    # With the ja-JP locale Calc parses full-width digits and separators.
    assert values["in_test_fullwidth"] == 1170
    assert values["in_test_float"] == 0.5
    assert values["in_test_clear"] is None
    # Measured: .uno:EnterString does NOT apply data validation (no stop alert
    # headless), so lo_fill can store values the Calc UI would reject.
    assert values["in_test_valid"] == 150

    ws = wb[SHEET]
    assert ws["C2"].number_format == "0.0%"
    assert ws.protection.sheet is True
    assert ws["C9"].protection.locked is True and ws["C2"].protection.locked is False
    assert ws["C9"].value == 7
    assert [str(dv.sqref) for dv in ws.data_validations.dataValidation] == ["C8"]
    assert wb["_meta"].sheet_state in ("hidden", "veryHidden")
    assert wb[PASSWORD_SHEET].protection.sheet is True


@requires_soffice
def test_lo_fill_refuses_locked_cell(template: Path, tmp_path: Path) -> None:
    out = tmp_path / "never.xlsx"
    with pytest.raises(LockedCellError) as info:
        lo_fill(template, out, {"in_test_pct": "50%", "in_test_locked": "1"})
    assert info.value.names == ["in_test_locked"]
    assert "in_test_locked" in str(info.value)
    assert not out.exists()


@requires_soffice
def test_lo_fill_rename_sheet(template: Path, tmp_path: Path) -> None:
    out = tmp_path / "renamed.xlsx"
    new = "入力 (東京)"  # space and parentheses: quoted in references
    lo_fill(
        template,
        out,
        {"in_test_num": "12"},
        sheet_ops=[{"op": "rename_sheet", "old": SHEET, "new": new}],
    )
    wb = load(out)
    assert SHEET not in wb.sheetnames and new in wb.sheetnames
    for name in [*INPUTS, "in_test_locked"]:
        assert destination(wb, name)[0] == new
    assert destination(wb, "in_test_num") == (new, "$C$3")
    assert wb[new]["C3"].value == 12
    assert wb[new].protection.sheet is True


@requires_soffice
def test_lo_fill_insert_rows(template: Path, tmp_path: Path) -> None:
    out = tmp_path / "inserted.xlsx"
    lo_fill(
        template,
        out,
        {"in_test_pct": "80%", "in_test_pw": "3"},
        sheet_ops=[
            {"op": "insert_rows", "sheet": SHEET, "before_row": 2, "count": 3},
            {"op": "insert_rows", "sheet": PASSWORD_SHEET, "before_row": 1, "count": 1,
             "password": "pw"},
        ],
    )
    wb = load(out)
    assert destination(wb, "in_test_pct") == (SHEET, "$C$5")  # was C2
    assert destination(wb, "in_test_locked") == (SHEET, "$C$12")  # was C9
    assert wb[SHEET]["C5"].value == pytest.approx(0.8)
    assert wb[SHEET]["A5"].value == "in_test_pct"
    assert wb[SHEET].protection.sheet is True
    assert destination(wb, "in_test_pw") == (PASSWORD_SHEET, "$B$3")
    assert wb[PASSWORD_SHEET]["B3"].value == 3
    assert wb[PASSWORD_SHEET].protection.sheet is True


@requires_soffice
def test_lo_fill_wrong_sheet_password(template: Path, tmp_path: Path) -> None:
    with pytest.raises(LibreOfficeError, match="wrong password"):
        lo_fill(
            template,
            tmp_path / "x.xlsx",
            {},
            sheet_ops=[{"op": "insert_rows", "sheet": PASSWORD_SHEET, "before_row": 1,
                        "count": 1, "password": "nope"}],
        )
    assert not (tmp_path / "x.xlsx").exists()  # refused before anything was saved


@requires_soffice
def test_convert_pdf_and_png(template: Path, tmp_path: Path) -> None:
    pdf = convert(template, "pdf", tmp_path)
    assert pdf == tmp_path / "template.pdf" and pdf.read_bytes()[:5] == b"%PDF-"
    pages = pdf_pages(pdf)
    # Only the visible sheets print: 入力 (A4 landscape) and the password sheet.
    assert len(pages) >= 1
    width, height = pages[0]
    assert width == pytest.approx(842, abs=2) and height == pytest.approx(595, abs=2)

    pngs = render_png(pdf, tmp_path / "png")
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@requires_soffice
def test_convert_non_spreadsheet_raises(tmp_path: Path) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_text("これはExcelではありません\n", encoding="utf-8")
    # Measured: soffice exits 0 and prints "Error: source file could not be loaded".
    with pytest.raises(LibreOfficeError, match="could not be loaded"):
        convert(fake, "pdf", tmp_path / "out")
    assert not (tmp_path / "out" / "fake.pdf").exists()


@requires_soffice
def test_lo_values_csv(template: Path, tmp_path: Path) -> None:
    sheets = lo_values_csv(template, tmp_path)
    assert set(sheets) == {f"template-{SHEET}", f"template-{PASSWORD_SHEET}", "template-_meta"}
    rows = sheets[f"template-{SHEET}"]
    assert rows[0][:3] == ["項目", "", "入力"]
    assert rows[6][2] == "42" and rows[8][2] == "7"
    assert sheets["template-_meta"] == [['{"template": "test", "version": 1}']]
