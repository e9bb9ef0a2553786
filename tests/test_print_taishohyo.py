"""鹿児島's 新旧対照表 (the replay of its 平成31年度 document) printed by LibreOffice: A4 landscape, the
title, legend and column heads on every page, pages breaking only where kpisheet put the breaks (so no
row is split: LibreOffice needed no break of its own), no 「###」 and no text under 8 pt; HQ's summary
across branches likewise.  One soffice run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kpisheet.domain.plan import PlanSubmission
from kpisheet.plan.diff import change_summary, diff_plans
from kpisheet.plan.taishohyo import display_rows, page_breaks, write_taishohyo, write_taishohyo_summary
from tests.lo import convert_many, pdf_pages
from tests.printing import skip_without_printing, smallest_text_per_page

DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.soffice


def _plan(name: str) -> PlanSubmission:
    return PlanSubmission.from_dict(json.loads((DATA / name).read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path, int, Path]:
    skip_without_printing()
    diff = diff_plans(_plan("plan_kagoshima_h30.json"), _plan("plan_kagoshima_h31.json"))
    folder = tmp_path_factory.mktemp("taishohyo_print")
    xlsx = write_taishohyo(diff, folder / "taishohyo.xlsx", label="資料 2-3")
    hq = write_taishohyo_summary([change_summary(diff)], folder / "hq.xlsx")
    convert_many([xlsx, hq], "pdf", folder, timeout=300)
    pdf, hq_pdf = folder / "taishohyo.pdf", folder / "hq.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=120).stdout
    return text.split("\f")[:-1], pdf, len(page_breaks(display_rows(diff), 4)) + 1, hq_pdf


def test_every_page_is_a4_landscape(printed):
    _, pdf, _, _ = printed
    sizes = pdf_pages(pdf)
    assert sizes and all(abs(w - 842) < 2 and abs(h - 595) < 2 for w, h in sizes)


def test_the_table_breaks_only_where_kpisheet_broke_it_and_repeats_its_head(printed):
    pages, _, expected, _ = printed
    table = [p for p in pages if "新（元年度）" in p]
    assert len(table) == expected  # LibreOffice added no break: every page holds whole rows
    for p in table:
        assert "事業計画（鹿児島支部）新旧対照表（案）" in p and "（傍線部分は変更部分）" in p and "旧（30年度）" in p
        assert "資料 2-3" in p


def test_nothing_prints_as_hashes_or_under_8_points(printed):
    pages, pdf, _, hq_pdf = printed
    hq_text = subprocess.run(["pdftotext", "-layout", str(hq_pdf), "-"], capture_output=True, text=True, check=True,
                             timeout=120).stdout
    assert not any("###" in p for p in pages) and "###" not in hq_text and "46 鹿児島支部" in hq_text
    assert min(smallest_text_per_page(pdf)) >= 8.0 and min(smallest_text_per_page(hq_pdf)) >= 8.0
