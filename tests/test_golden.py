"""The HQ workbooks, a branch template and a feedback workbook match their goldens sheet by sheet.

tests/golden/<workbook>/<sheet>.txt holds one sheet as text (one cell a line, with its format);
[workbook].txt, [styles].txt, [docProps].txt and [package].txt hold the rest (see tests/golden.py).
After an intended change: `.venv/bin/python tools/update_golden.py`, review what it prints
(the files it rewrote) and commit tests/golden/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.golden import (
    GOLDEN_DIR,
    GOLDEN_WORKBOOKS,
    STYLES_FILE,
    build_all,
    build_template,
    fixed_time_zone,
    golden_difference,
    golden_texts,
    read_golden,
    render_all,
    rewrite_part,
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return render_all(build_all(tmp_path_factory.mktemp("golden_built")))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with fixed_time_zone():
        return build_template(tmp_path_factory.mktemp("golden_template"))


@pytest.mark.parametrize("workbook", GOLDEN_WORKBOOKS)
def test_workbook_matches_its_golden_sheets(rendered: dict[str, dict[str, str]], workbook: str) -> None:
    golden = read_golden(workbook)
    assert golden, f"tests/golden/{workbook}/ is missing: run .venv/bin/python tools/update_golden.py"
    message = golden_difference(workbook, rendered[workbook], golden)
    assert not message, message + "\n(after an intended change: .venv/bin/python tools/update_golden.py)"


def test_the_golden_folder_holds_only_the_golden_workbooks() -> None:
    assert sorted(p.name for p in GOLDEN_DIR.iterdir()) == sorted(GOLDEN_WORKBOOKS)


def test_two_builds_render_equal(rendered: dict[str, dict[str, str]], tmp_path: Path) -> None:
    again = render_all(build_all(tmp_path))
    for name in GOLDEN_WORKBOOKS:
        assert golden_difference(name, again[name], rendered[name]) == "", name


def test_every_sheet_and_part_has_its_own_small_file(template: Path) -> None:
    texts = golden_texts(template, "template_11.xlsx")
    assert {"入力の手引き.txt", "KPI入力.txt", "取組状況.txt", "_lists.txt", "_meta.txt", "[workbook].txt",
            "[styles].txt", "[docProps].txt", "[package].txt"} == set(texts)
    assert texts["KPI入力.txt"].startswith("# template_11.xlsx sheet KPI入力 (xl/worksheets/sheet2.xml)\n## cells\n")
    assert "## xl/sharedStrings.xml" not in texts["[package].txt"]  # resolved into the cells
    assert "## xl/theme/theme1.xml\n<a:theme" in texts["[package].txt"]


def test_a_cell_is_one_line_with_its_value_and_format(template: Path) -> None:
    lines = golden_texts(template, "template_11.xlsx")["KPI入力.txt"].splitlines()
    assert "B2 '令和6年度 事業計画KPI 入力シート（埼玉支部）' [b 14pt]" in lines  # a shared string, a bold title
    assert "D5 =R4+'取組状況'!$M$6 [fmt='0\"件\"' b 14pt border=thin:FF808080 center vcenter]" in lines  # a formula
    assert any(re.match(r"[A-Z]+\d+ .*\[.*unlocked.*\]$", line) for line in lines)  # an input cell


def test_a_changed_cell_value_names_workbook_sheet_and_line(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "cell.xlsx", "xl/worksheets/sheet2.xml",
                           lambda xml: re.sub(rb'(<c r="B4"[^>]*><v>)(\d+)', rb"\g<1>0", xml, count=1))
    message = golden_difference("template_11", golden_texts(changed, "template_11.xlsx"),
                                golden_texts(template, "template_11.xlsx"))
    assert "template_11.xlsx, sheet KPI入力: tests/golden/template_11/KPI入力.txt differs at line" in message
    assert re.search(r"^    golden: B4 .+$", message, re.M) and re.search(r"^    actual: B4 .+$", message, re.M)
    assert message.count("differs at line") == 1  # no other file changed


def test_a_changed_style_names_the_styles_and_the_cells_that_use_it(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "style.xlsx", "xl/styles.xml",
                           lambda xml: xml.replace(b'<sz val="14"/>', b'<sz val="15"/>', 1))
    got, want = golden_texts(changed, "template_11.xlsx"), golden_texts(template, "template_11.xlsx")
    message = golden_difference("template_11", got, want)
    assert f"template_11.xlsx, styles: tests/golden/template_11/{STYLES_FILE} differs at line" in message
    assert re.search(r'^    golden: +<sz val="14">$', message, re.M), message
    assert re.search(r'^    actual: +<sz val="15">$', message, re.M), message
    changed_sheets = [name for name in want if got[name] != want[name] and not name.startswith("[")]
    assert changed_sheets and all("15pt" in got[name] and "15pt" not in want[name] for name in changed_sheets)


def test_a_removed_sheet_names_the_missing_file(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "removed.xlsx", "xl/workbook.xml",
                           lambda xml: re.sub(rb'<sheet name="[^"]*" sheetId="3"[^>]*/>', b"", xml))
    message = golden_difference("template_11", golden_texts(changed, "template_11.xlsx"),
                                golden_texts(template, "template_11.xlsx"))
    assert "missing (in golden only): ['取組状況.txt']" in message
    assert "template_11.xlsx, workbook.xml: tests/golden/template_11/[workbook].txt differs at line" in message


def test_volatile_document_dates_and_version_are_ignored(template: Path, tmp_path: Path) -> None:
    changed = rewrite_part(template, tmp_path / "dates.xlsx", "docProps/core.xml",
                           lambda xml: re.sub(rb"20\d\d-\d\d-\d\dT", b"2031-01-01T", xml))
    texts = golden_texts(template, "template_11.xlsx")
    assert golden_difference("template_11", golden_texts(changed, "template_11.xlsx"), texts) == ""
    assert "'<volatile>'" in texts["[docProps].txt"]
    from kpisheet import __version__

    assert all(f"kpisheet {__version__}" not in text for text in texts.values())
