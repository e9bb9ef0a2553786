"""What is read is what is shown: a value the visible input sheet does not show is never used.

Each test builds one odd workbook from a generated template: an input's defined name moved
to a hidden sheet, defined twice, pointed at another input's cell; a second (very hidden)
sheet named like the input sheet; the input sheet itself hidden.  Each asserts the finding,
its place, and that the value that is not shown appears nowhere in the submission — nor in
the national figures of a consolidation.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

import openpyxl
import pytest

from kpisheet.domain.model import InputValue, Submission
from kpisheet.month import consolidate
from kpisheet.read import names as nm
from kpisheet.read.reader import read_workbook
from tests import consolidate_helpers as ch
from tests import helpers as h

NAME = "in_K6_2_07_val_202406"  # a count: read as typed, no unit conversion
OTHER = "in_K6_2_07_val_202407"  # the next month of the same KPI
MEASURE = "in_M_6_1_I_1_text"  # on the other input sheet
SHOWN, NOT_SHOWN, OTHER_VALUE = 1170.0, 987654.0, 555.0


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), h.FY, "10")


@pytest.fixture()
def filled(template: Path, tmp_path: Path) -> Path:
    return h.fill(template, tmp_path / "filled.xlsx", {NAME: SHOWN, OTHER: OTHER_VALUE, MEASURE: "実施した"})


# ------------------------------------------------------------------ helpers
def lookup(sub: Submission, name: str) -> InputValue:
    key = nm.parse_name(name)
    assert key is not None
    if key.kind == "measure":
        return getattr(sub.measures[key.subject].rows[key.n - 1], key.field)
    month = sub.kpis[key.subject].months[f"{key.month:%Y-%m}"]
    return {"num": month.numerator, "den": month.denominator, "val": month.value}[key.field]


def values(sub: Submission, keys: tuple[str, ...] = ("value", "raw")) -> list[Any]:
    """Every input value (and raw cell content) of the submission record, KPIs and measures."""
    def walk(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in keys and not isinstance(v, (dict, list)):
                    yield v
                else:
                    yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
    record = sub.to_dict()
    return [v for v in walk([record["kpis"], record["measures"]]) if v is not None]


def places(sub: Submission) -> list[tuple[Any, ...]]:
    return [(f.code, f.sheet, f.cell, f.name, f.value) for f in sub.findings]


def reference(sheet: str, cell: str) -> str:
    col, row = re.fullmatch(r"([A-Z]+)(\d+)", cell).groups()  # type: ignore[union-attr]
    return f"'{sheet}'!${col}${row}"


def patch_workbook_xml(src: Path, dst: Path, change: Callable[[str], str]) -> Path:
    """Copy `src` with xl/workbook.xml rewritten by `change` (what openpyxl cannot write)."""
    import zipfile

    with zipfile.ZipFile(src) as z:
        xml = z.read("xl/workbook.xml").decode()
    changed = change(xml)
    assert changed != xml, "the patch did not apply"
    return h.rewrite_zip(src, dst, {"xl/workbook.xml": changed.encode()})


def add_sheet(wb: openpyxl.Workbook, title: str, state: str, cells: dict[str, Any]) -> None:
    ws = wb.create_sheet(title)
    for ref, value in cells.items():
        ws[ref] = value
    ws.sheet_state = state


# ------------------------------------------------------------------ names pointing elsewhere
def test_name_moved_to_a_hidden_sheet_holding_another_value(template: Path, filled: Path, tmp_path: Path) -> None:
    sheet, cell = h.cell_of(template, NAME)

    def move(wb: openpyxl.Workbook) -> None:
        add_sheet(wb, "隠し", "hidden", {cell: NOT_SHOWN})
        wb.defined_names[NAME].value = reference("隠し", cell)

    sub = read_workbook(h.edit(filled, tmp_path / "10_hidden_name.xlsx", move))
    assert places(sub) == [("E312", sheet, cell, NAME, reference("隠し", cell))]
    assert sub.findings[0].context["expected"] == reference(sheet, cell)
    assert lookup(sub, NAME).value is None
    assert NOT_SHOWN not in values(sub) and SHOWN not in values(sub)
    assert lookup(sub, OTHER).value == OTHER_VALUE and lookup(sub, MEASURE).value == "実施した"


def test_name_pointing_at_another_inputs_cell(template: Path, filled: Path, tmp_path: Path) -> None:
    sheet, cell = h.cell_of(template, NAME)
    _, other_cell = h.cell_of(template, OTHER)

    def point(wb: openpyxl.Workbook) -> None:
        wb.defined_names[NAME].value = reference(sheet, other_cell)

    sub = read_workbook(h.edit(filled, tmp_path / "10_other_cell.xlsx", point))
    assert places(sub) == [("E312", sheet, cell, NAME, reference(sheet, other_cell))]
    assert lookup(sub, NAME).value is None
    assert lookup(sub, OTHER).value == OTHER_VALUE  # its own name still reads its own cell
    assert SHOWN not in values(sub) and values(sub, ("value",)).count(OTHER_VALUE) == 1


def test_name_pointing_at_a_label_cell_of_its_row(template: Path, filled: Path, tmp_path: Path) -> None:
    """Same row, but a column whose key is not the input's: not its cell either."""
    sheet, cell = h.cell_of(template, NAME)
    row = re.sub(r"[A-Z]", "", cell)

    def point(wb: openpyxl.Workbook) -> None:
        wb[sheet][f"B{row}"] = NOT_SHOWN
        wb.defined_names[NAME].value = reference(sheet, f"B{row}")

    sub = read_workbook(h.edit(filled, tmp_path / "10_label_cell.xlsx", point))
    assert places(sub) == [("E312", sheet, cell, NAME, reference(sheet, f"B{row}"))]
    assert lookup(sub, NAME).value is None and NOT_SHOWN not in values(sub)


# ------------------------------------------------------------------ names defined twice
def test_name_defined_twice_first_one_on_a_hidden_sheet(template: Path, filled: Path, tmp_path: Path) -> None:
    sheet, cell = h.cell_of(template, NAME)
    step = h.edit(filled, tmp_path / "step.xlsx", lambda wb: add_sheet(wb, "隠し", "hidden", {cell: NOT_SHOWN}))
    twin = f'<definedName name="{NAME}">{reference("隠し", cell).replace(chr(39), "&apos;")}</definedName>'
    path = patch_workbook_xml(step, tmp_path / "10_twice.xlsx",
                              lambda xml: xml.replace("<definedNames>", f"<definedNames>{twin}", 1))
    sub = read_workbook(path)
    assert places(sub) == [("E313", sheet, cell, NAME, "2")]
    assert lookup(sub, NAME).value is None
    assert NOT_SHOWN not in values(sub) and SHOWN not in values(sub)


def test_sheet_local_name_beside_the_workbook_name(template: Path, filled: Path, tmp_path: Path) -> None:
    sheet, cell = h.cell_of(template, NAME)
    _, other_cell = h.cell_of(template, OTHER)
    local = f'<definedName name="{NAME}" localSheetId="1">{reference(sheet, other_cell)}</definedName>'
    path = patch_workbook_xml(filled, tmp_path / "10_local.xlsx",
                              lambda xml: xml.replace("</definedNames>", f"{local}</definedNames>", 1))
    sub = read_workbook(path)
    assert places(sub) == [("E313", sheet, cell, NAME, "2")]
    assert lookup(sub, NAME).value is None and SHOWN not in values(sub)
    assert lookup(sub, OTHER).value == OTHER_VALUE


def test_name_twice_in_other_letter_case(template: Path, filled: Path, tmp_path: Path) -> None:
    """Names are case-insensitive in Excel: IN_K6_… and in_K6_… are the same name."""
    sheet, cell = h.cell_of(template, NAME)
    _, other_cell = h.cell_of(template, OTHER)
    twin = f'<definedName name="{NAME.upper()}">{reference(sheet, other_cell)}</definedName>'
    path = patch_workbook_xml(filled, tmp_path / "10_case.xlsx",
                              lambda xml: xml.replace("<definedNames>", f"<definedNames>{twin}", 1))
    sub = read_workbook(path)
    assert places(sub) == [("E313", sheet, cell, NAME, "2")]


# ------------------------------------------------------------------ sheets
@pytest.mark.parametrize("title", ["KPI入力", "KPI入力 ", "ＫＰＩ入力", "kpi入力"],
                         ids=["same", "trailing-space", "full-width", "lower-case"])
def test_very_hidden_second_sheet_named_like_the_input_sheet(template: Path, filled: Path, tmp_path: Path,
                                                             title: str) -> None:
    """The twin comes first in workbook.xml and holds another value at the input's cell."""
    sheet, cell = h.cell_of(template, NAME)
    step = h.edit(filled, tmp_path / "step.xlsx", lambda wb: add_sheet(wb, "偽物", "veryHidden", {cell: NOT_SHOWN}))

    def twin_first(xml: str) -> str:
        twin = re.search(r'<sheet\b[^>]*\bname="偽物"[^>]*/>', xml).group(0)  # type: ignore[union-attr]
        xml = xml.replace(twin, "").replace("<sheets>", "<sheets>" + twin.replace("偽物", title), 1)
        return xml

    sub = read_workbook(patch_workbook_xml(step, tmp_path / "10_twin.xlsx", twin_first))
    assert [(f.code, f.sheet, f.cell, f.name) for f in sub.findings] == [("E315", sheet, None, None)]
    assert sub.findings[0].value == f"「{title}」、「{sheet}」"
    assert lookup(sub, NAME).value is None and lookup(sub, OTHER).value is None
    assert NOT_SHOWN not in values(sub) and SHOWN not in values(sub) and OTHER_VALUE not in values(sub)
    assert lookup(sub, MEASURE).value == "実施した"  # the other input sheet is read as usual


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_hidden_input_sheet(filled: Path, tmp_path: Path, state: str) -> None:
    def hide(wb: openpyxl.Workbook) -> None:
        wb.active = 0
        wb[nm.SHEET_KPI].sheet_state = state

    sub = read_workbook(h.edit(filled, tmp_path / "10_hidden_sheet.xlsx", hide))
    assert places(sub) == [("E314", nm.SHEET_KPI, None, None, nm.SHEET_KPI)]
    assert SHOWN not in values(sub) and OTHER_VALUE not in values(sub)
    assert lookup(sub, MEASURE).value == "実施した"


def test_renamed_and_hidden_input_sheet_is_still_e314(filled: Path, tmp_path: Path) -> None:
    """Found by its names under another title, but hidden: reported, not read."""
    def rename_and_hide(wb: openpyxl.Workbook) -> None:
        wb.active = 0
        wb[nm.SHEET_KPI].title = "控え"
        wb["控え"].sheet_state = "hidden"
        for dn in wb.defined_names.values():
            dn.value = dn.value.replace(f"'{nm.SHEET_KPI}'", "'控え'")

    sub = read_workbook(h.edit(filled, tmp_path / "10_renamed_hidden.xlsx", rename_and_hide))
    assert places(sub) == [("E314", "控え", None, None, "控え")]
    assert SHOWN not in values(sub)


def test_renamed_input_sheet_with_a_hidden_copy_reads_the_visible_one(filled: Path, tmp_path: Path) -> None:
    """Renamed (names follow) beside a hidden sheet that also has keys: the visible one is the input sheet."""
    def rename_and_copy(wb: openpyxl.Workbook) -> None:
        copy = wb.copy_worksheet(wb[nm.SHEET_KPI])
        copy.title, copy.sheet_state = "控え", "hidden"
        wb[nm.SHEET_KPI].title = "KPI入力(群馬)"
        for dn in wb.defined_names.values():
            dn.value = dn.value.replace(f"'{nm.SHEET_KPI}'", "'KPI入力(群馬)'")

    sub = read_workbook(h.edit(filled, tmp_path / "10_renamed_copy.xlsx", rename_and_copy))
    assert sub.findings == []
    assert lookup(sub, NAME).value == SHOWN and lookup(sub, NAME).source.sheet == "KPI入力(群馬)"


# ------------------------------------------------------------------ the national figures
OCT24 = date(2024, 10, 1)


def test_consolidation_leaves_out_a_value_that_is_not_shown(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    paths = ch.sample_inbox(tmp_path, inbox, 2024, ["10", "11"], OCT24)
    target = next(p for p in paths if p.name.startswith("10"))
    name = ch.val("K6-2-07", OCT24)
    sheet, cell = h.cell_of(target, name)

    def move(wb: openpyxl.Workbook) -> None:
        add_sheet(wb, "隠し", "veryHidden", {cell: NOT_SHOWN})
        wb.defined_names[name].value = reference("隠し", cell)

    edited = h.edit(target, tmp_path / "edited.xlsx", move)
    edited.replace(target)
    cons = consolidate(inbox, fiscal_year=2024, month=OCT24)
    e312 = [f for f in cons.findings if f.code == "E312"]
    assert [(f.branch, f.name, f.sheet, f.cell) for f in e312] == [("10", name, sheet, cell)]
    assert cons.month_values[("10", "K6-2-07", "2024-10")].status == "excluded"
    eleven = cons.month_values[("11", "K6-2-07", "2024-10")]
    assert eleven.status == "ok"
    national = cons.national_months[("K6-2-07", "2024-10")]
    assert national.value == eleven.value
    assert cons.national["K6-2-07"].covered == ("11",)
