"""Every printed page of the lists workbook, of branches' feedback and of a branch template is readable: its
smallest text prints at 8 pt or more in LibreOffice (A4, as each sheet's page set-up says).

The workbooks are those of the README's main command (tests/books.py runs it through the library)
and `kpisheet generate` for 埼玉.  Each visible sheet is printed alone and every page measured
(tests/printing.py: a full-width character is one em wide, so its printed width is its size).
They print readably by layout — columns narrowed so a page is fitted to the paper's width at 84% or
more, long texts wrapped onto more pages, headings repeated, KPI入力 on two pages wide — never by a
smaller font.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.books import branch_template
from tests.printing import printed_words_per_sheet, skip_without_printing

MIN_POINTS = 8.0
FEEDBACK_BRANCHES = ("11_", "13_")  # 埼玉 (warnings), 東京 (the largest figures)

pytestmark = pytest.mark.soffice


@pytest.fixture(scope="module")
def outputs(readme_books: dict[str, Any]) -> dict[str, Any]:
    skip_without_printing()
    return readme_books


def _too_small(xlsx: Path) -> dict[str, list[tuple[int, float]]]:
    """{sheet: [(page, smallest points)] of the pages under MIN_POINTS}; every visible sheet must print, and
    no page may show 「###」 (a number its column cannot show)."""
    printed = printed_words_per_sheet(xlsx, timeout=600)
    hashes = {sheet: sum("###" in w for w in words) for sheet, (_, words) in printed.items()
              if any("###" in w for w in words)}
    assert not hashes, f"{xlsx.name}: 「###」 printed on {hashes}"  # a number its column cannot show
    sizes = {sheet: pages for sheet, (pages, _) in printed.items()}
    assert sizes and all(sizes.values()), f"{xlsx.name}: a visible sheet printed no page: {sizes}"
    print(f"\n{xlsx.name}: " + ", ".join(f"{s} {len(p)}頁 min {min(p):.1f}pt" for s, p in sizes.items()))
    return {sheet: small for sheet, pages in sizes.items()
            if (small := [(i, round(pt, 2)) for i, pt in enumerate(pages, 1) if pt < MIN_POINTS])}


def test_every_page_of_the_lists_workbook_prints_at_8_points(outputs: dict[str, Any]) -> None:
    assert not _too_small(outputs["lists"])


@pytest.mark.parametrize("branch", FEEDBACK_BRANCHES)
def test_every_page_of_a_branch_feedback_prints_at_8_points(outputs: dict[str, Any], branch: str) -> None:
    (feedback,) = [p for p in outputs["feedback"] if p.name.startswith(branch)]
    assert not _too_small(feedback)


def test_every_page_of_a_branch_template_prints_at_8_points(tmp_path: Path) -> None:
    skip_without_printing()
    template = branch_template(tmp_path)
    assert not _too_small(template)
