"""The council papers (全支部_実施状況) of the README's main command, printed by LibreOffice, and the
dates in every workbook that command writes.

Printed once to PDF (one soffice run): 目次 on one page, then every expected branch in code order
(本部 last), each page naming its branch in the title row and the footer 「埼玉支部 2/6」 (numbered
from 1 in every branch), with the table's head, or one page 「未提出」/「読込不可」; no 「###」; no text
under 8 pt on any page (tests/printing.py smallest_text_per_page, the measure smallest_text_per_sheet
applies to each sheet printed alone, here on the whole PDF so the 49 sheets take one run).
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree

from tests.lo import convert
from tests.printing import skip_without_printing, smallest_text_per_page

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MIN_POINTS = 8.0


@pytest.fixture(scope="module")
def outputs(readme_books) -> Path:
    """The folder the README's main command writes (tests/books.readme_outputs, built once per session)."""
    return readme_books["plan_status"].parent


@pytest.fixture(scope="module")
def papers(outputs: Path) -> Path:
    return outputs / "全支部_実施状況_FY2024_2024-10.xlsx"


@pytest.fixture(scope="module")
def printed(papers: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The PDF LibreOffice prints of the whole workbook, and each page's text."""
    skip_without_printing()
    pdf = convert(papers, "pdf", tmp_path_factory.mktemp("council_pdf"), timeout=900)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=300).stdout
    return pdf, text.split("\f")[:-1]


def _contents(papers: Path) -> list[tuple[str, str, str, str, int]]:
    """(code, branch, sheet, status, pages) of each row of 目次."""
    ws = openpyxl.load_workbook(papers)["目次"]
    return [tuple(r) for r in ws.iter_rows(min_row=5, values_only=True)]  # type: ignore[misc]


def test_the_contents_list_every_branch_in_code_order(papers: Path) -> None:
    from kpisheet.domain.catalogue import load_branches

    rows = _contents(papers)
    codes = sorted(b.code for b in load_branches() if b.code != "00")
    assert [r[0] for r in rows] == codes + ["00"]  # 本部 last (it reports the national KPIs)
    assert openpyxl.load_workbook(papers, read_only=True).sheetnames == ["目次"] + [r[2] for r in rows]
    missing = {r[1]: r[3:] for r in rows if r[3] == "未提出"}
    assert missing == {"島根支部": ("未提出", 1), "沖縄支部": ("未提出", 1)}  # the README's two 未提出
    assert all(r[4] >= 2 for r in rows if r[3] != "未提出")


@pytest.mark.soffice
def test_every_page_names_its_branch_and_is_numbered_within_it(papers: Path, printed: tuple[Path, list[str]]) -> None:
    _, pages = printed
    rows = _contents(papers)
    assert len(pages) == 1 + sum(r[4] for r in rows)  # 目次 on one page, then the pages each sheet says
    assert "目次" in pages[0] and all(r[1] in pages[0] for r in rows)
    at = 1
    for _code, name, _sheet, status, count in rows:
        for k in range(1, count + 1):
            page = pages[at]
            assert f"令和6年度{name}事業計画実施状況（概要版）" in page, (at, name)
            assert re.search(rf"{name} {k}/{count}\s*$", page.rstrip()), (at, name, k)  # the footer, last
            if status == "未提出":
                assert "未提出" in page
            else:
                assert all(h in page for h in ("具体的な施策", "事業内容（KPI）", "KPI目標", "KPI結果", "結果"))
            at += 1
    assert not any("###" in page for page in pages)


@pytest.mark.soffice
def test_every_page_prints_at_8_points_or_more(printed: tuple[Path, list[str]]) -> None:
    pdf, _ = printed
    sizes = smallest_text_per_page(pdf)
    small = [(i + 1, round(s, 1)) for i, s in enumerate(sizes) if s < MIN_POINTS]
    assert not small, f"pages printed under {MIN_POINTS} pt: {small[:10]}"


# ---------------------------------------------------------------- 和暦 in every user text
WESTERN = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2}")
# data, not text: a time of record as kpisheet stores it (提出状況's 受信日時, a file's saved time)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}| JST|（ファイルの日時）)?")
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def user_texts(xlsx: Path) -> list[tuple[str, str]]:
    """(where, text) of every text a person sees in `xlsx`: the cells of its visible sheets, their
    headers and footers, and cell comments.  Hidden sheets (kpisheet's own records) are left out."""
    found: list[tuple[str, str]] = []
    with zipfile.ZipFile(xlsx) as z:
        names = set(z.namelist())
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = etree.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(si.itertext()) for si in root.iterfind("m:si", _NS)]
        book = etree.fromstring(z.read("xl/workbook.xml"))
        rels = etree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_REL}Relationship")}
        for sheet in book.iterfind("m:sheets/m:sheet", _NS):
            if sheet.get("state") in ("hidden", "veryHidden"):
                continue
            part = target[sheet.get(f"{{{_NS['r']}}}id")].lstrip("/")
            part = part if part.startswith("xl/") else f"xl/{part}"
            root = etree.fromstring(z.read(part))
            label = sheet.get("name")
            for c in root.iter(f"{{{_NS['m']}}}c"):
                kind = c.get("t")
                if kind == "s":
                    v = c.find("m:v", _NS)
                    found.append((f"{label}!{c.get('r')}", shared[int(v.text)]))
                elif kind in ("inlineStr", "str"):
                    found.append((f"{label}!{c.get('r')}", "".join(c.itertext())))
            for hf in root.iterfind("m:headerFooter/*", _NS):
                found.append((f"{label} header/footer", hf.text or ""))
        for name in sorted(names):
            if "comments" in name and name.endswith(".xml"):
                found.append((name, "".join(etree.fromstring(z.read(name)).itertext())))
    return found


# A feedback file carries the branch's own workbook as the branch sent it (the examples' were made by an
# earlier template): its sheets are the input, data here; a template made today is checked below.
BRANCH_SHEETS = ("入力の手引き", "KPI入力", "取組状況")


def _western(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(where, text[:80]) for where, text in found if WESTERN.search(TIMESTAMP.sub("", text))]


def test_no_user_text_carries_a_western_date(outputs: Path) -> None:
    books = sorted(outputs.rglob("*.xlsx"))
    assert len(books) >= 3 + 45  # national, lists, 実施状況 and the feedback files
    western = [(book.name, *hit) for book in books for hit in _western(
        [(w, t) for w, t in user_texts(book) if not (book.parent.name == "feedback" and w.split("!")[0] in BRANCH_SHEETS)])]
    assert western == []


def test_a_template_made_today_carries_no_western_date(tmp_path: Path) -> None:
    from tests.consolidate_helpers import template

    found = user_texts(template(tmp_path, 2024, "11"))
    assert any("令和6年12月2日" in text for _, text in found)  # the 一体化 note of K6-1-06
    assert any("令和6年12月分まで入力" in text for _, text in found)  # the last month of K6-1-06
    assert _western(found) == []


def test_the_check_finds_a_western_date(tmp_path: Path) -> None:
    from xlsxwriter import Workbook

    path = tmp_path / "dates.xlsx"
    wb = Workbook(str(path))
    ws = wb.add_worksheet("見える")
    ws.write_string(0, 0, "期限は2024年12月2日です")
    ws.set_footer("&C2024-12-01まで")
    hidden = wb.add_worksheet("_meta")
    hidden.write_string(0, 0, "2024-04-01")
    hidden.hide()
    ws.write_string(1, 0, "受信 2024-11-07 17:30")  # a time of record: data
    wb.close()
    western = [where for where, text in user_texts(path) if WESTERN.search(TIMESTAMP.sub("", text))]
    assert western == ["見える!A1", "見える header/footer"]
