"""The national workbook, a branch template and a feedback workbook match their goldens part by part.

After an intended change to any of them: `.venv/bin/python tools/update_golden.py`,
review what it prints and commit tests/golden/ (see tests/golden.py).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from tests.golden import (
    GOLDEN_DIR,
    GOLDEN_NAMES,
    assert_same_workbook,
    build_all,
    build_template,
    fixed_time_zone,
    rewrite_part,
    workbook_difference,
    xlsx_parts,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("golden_built"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with fixed_time_zone():
        return build_template(tmp_path_factory.mktemp("golden_template"))


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_workbook_matches_its_golden(built: dict[str, Path], name: str) -> None:
    golden = GOLDEN_DIR / name
    assert golden.exists(), f"tests/golden/{name} is missing: run .venv/bin/python tools/update_golden.py"
    assert_same_workbook(built[name], golden)


def test_two_builds_compare_equal(built: dict[str, Path], tmp_path: Path) -> None:
    again = build_all(tmp_path)
    for name in GOLDEN_NAMES:
        assert workbook_difference(again[name], built[name]) == "", name


def test_a_changed_cell_value_names_its_part_sheet_and_cell(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "cell.xlsx", "xl/worksheets/sheet2.xml",
                           lambda xml: re.sub(rb'(<c r="B4"[^>]*><v>)(\d+)', rb"\g<1>0", xml, count=1))
    message = workbook_difference(changed, template)
    assert "part xl/worksheets/sheet2.xml (sheet KPI入力)" in message
    assert 'c[r="B4"]/v' in message
    assert "other differing parts" not in message


def test_a_changed_style_names_the_styles_part(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "style.xlsx", "xl/styles.xml",
                           lambda xml: xml.replace(b'<sz val="14"/>', b'<sz val="15"/>', 1))
    with pytest.raises(AssertionError) as failed:
        assert_same_workbook(changed, template)
    message = str(failed.value)
    assert "part xl/styles.xml differs at styleSheet/fonts/font/sz" in message
    assert re.search(r'^-\s+<sz val="14">$', message, re.M) and re.search(r'^\+\s+<sz val="15">$', message, re.M)


def test_a_removed_sheet_names_the_missing_part(template: Path, tmp_path: Path) -> None:
    no_sheet = rewrite_part(template, tmp_path / "step.xlsx", "xl/worksheets/sheet3.xml", None)
    changed = rewrite_part(no_sheet, tmp_path / "removed.xlsx", "xl/workbook.xml",
                           lambda xml: re.sub(rb'<sheet name="[^"]*" sheetId="3"[^>]*/>', b"", xml))
    message = workbook_difference(changed, template)
    assert "missing (in golden only): ['xl/worksheets/sheet3.xml']" in message
    assert "extra (not in golden): []" in message


def test_volatile_document_dates_are_ignored(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "dates.xlsx", "docProps/core.xml",
                           lambda xml: re.sub(rb"20\d\d-\d\d-\d\dT", b"2031-01-01T", xml))
    assert b"2031-01-01T" in _member(changed, "docProps/core.xml")
    assert workbook_difference(changed, template) == ""


def test_parts_are_normalised_one_element_a_line_with_sorted_attributes(template: Path) -> None:
    parts = xlsx_parts(template)
    assert "docProps/core.xml" in parts and "xl/workbook.xml" in parts
    assert '<dcterms:created xsi:type="dcterms:W3CDTF">' in parts["docProps/core.xml"]
    assert "'<volatile>'" in parts["docProps/core.xml"]
    assert '    <sheet name="KPI入力" sheetId="2" r:id="rId2">' in parts["xl/workbook.xml"].splitlines()


def _member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)
