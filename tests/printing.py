"""How many pages a workbook prints, in all and per sheet, measured by printing it to PDF with LibreOffice.

* :func:`printed_pages` converts the workbook with ``soffice --headless --convert-to pdf``
  (a private user profile per call, see ``tests/lo.py``) and reads the page count
  with ``pdfinfo``.
* :func:`pages_per_sheet` prints each visible sheet on its own: for each one it writes a
  copy of the workbook in which every other sheet is ``state="hidden"`` in
  xl/workbook.xml (hidden sheets are not printed) and counts that copy's pages. All
  copies are converted by one soffice run.
* LibreOffice 7.4 does print a hidden sheet that has a print area (measured); Excel
  never prints a hidden sheet. Both functions therefore print a copy without the
  hidden sheets' ``_xlnm.Print_Area`` names (:func:`printable_copy`), so they count
  what Excel prints, and the pages per sheet add up to the whole.
* :func:`print_title_sheets` lists the sheets that have repeated print titles
  (a ``_xlnm.Print_Titles`` defined name).

Tests using these call :func:`skip_without_printing` first: they are skipped only when
``soffice`` or ``pdfinfo`` is not installed.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest
from lxml import etree

from tests.lo import LibreOfficeError, convert, convert_many, soffice_path

__all__ = ["pages_per_sheet", "pdf_page_count", "print_title_sheets", "printable_copy", "printed_pages",
           "printed_pdfs", "text_size_in", "sheet_states", "skip_without_printing", "smallest_text_per_page",
           "smallest_text_per_sheet", "printed_words_per_sheet"]

TIMEOUT = 180
T = TypeVar("T")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def skip_without_printing() -> None:
    """pytest.skip when soffice or pdfinfo is absent."""
    if soffice_path() is None:
        pytest.skip("LibreOffice (soffice) not installed")
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler-utils) not installed")


def pdf_page_count(pdf: Path) -> int:
    """Pages of `pdf` as pdfinfo counts them."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False, timeout=60)
    found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    if info.returncode != 0 or not found:
        raise LibreOfficeError(f"pdfinfo gave no page count for {pdf}: {info.stderr.strip() or info.stdout}")
    return int(found.group(1))


def printed_pages(xlsx: Path, timeout: float = TIMEOUT) -> int:
    """Pages the whole workbook prints: every visible sheet, as Excel prints it (hidden sheets never)."""
    with tempfile.TemporaryDirectory(prefix="kpisheet-print-") as tmp:
        copy = printable_copy(Path(xlsx), Path(tmp) / "whole.xlsx")
        return pdf_page_count(convert(copy, "pdf", Path(tmp) / "pdf", timeout=timeout))


def pages_per_sheet(xlsx: Path, timeout: float = TIMEOUT) -> dict[str, int]:
    """{visible sheet name: pages it prints}, each sheet printed alone (one soffice run for all)."""
    return _per_sheet(xlsx, timeout, pdf_page_count)


def _per_sheet(xlsx: Path, timeout: float, measure: Callable[[Path], T]) -> dict[str, T]:
    """{visible sheet: measure(its PDF)}, each sheet printed alone as Excel would print it, all of them
    by one soffice run."""
    visible = [name for name, state in sheet_states(xlsx).items() if state == "visible"]
    with tempfile.TemporaryDirectory(prefix="kpisheet-print-sheets-") as tmp:
        copies = [printable_copy(Path(xlsx), Path(tmp) / f"sheet{i}.xlsx", only=name)
                  for i, name in enumerate(visible)]
        out = Path(tmp) / "pdf"
        convert_many(copies, "pdf", out, timeout=timeout)
        return {name: measure(out / f"{copy.stem}.pdf") for name, copy in zip(visible, copies, strict=True)}


def printed_pdfs(xlsx: Path, folder: Path, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Print `xlsx` as Excel prints it, whole and each visible sheet alone, with one soffice run; keep
    the PDFs in `folder`: {"whole": PDF of the workbook, "sheets": {visible sheet: PDF of it alone}}.
    For the tests that measure one workbook in several ways (pages, text sizes, printed words)."""
    visible = [name for name, state in sheet_states(xlsx).items() if state == "visible"]
    copies = folder / "copies"
    copies.mkdir(parents=True, exist_ok=True)
    whole = printable_copy(Path(xlsx), copies / "whole.xlsx")
    alone = [printable_copy(Path(xlsx), copies / f"sheet{i}.xlsx", only=name) for i, name in enumerate(visible)]
    out = folder / "pdf"
    convert_many([whole, *alone], "pdf", out, timeout=timeout)
    return {"whole": out / "whole.pdf",
            "sheets": {name: out / f"{copy.stem}.pdf" for name, copy in zip(visible, alone, strict=True)}}


def text_size_in(pdf: Path, words: tuple[str, ...]) -> float:
    """The printed size in points of the first of `words` (all-CJK, each character one em wide) found in
    `pdf`: its width divided by its characters."""
    boxes = _bbox(pdf)
    for word in words:
        found = re.search(rf'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">{word}</word>', boxes)
        if found:
            return (float(found.group(2)) - float(found.group(1))) / len(word)
    raise AssertionError(f"none of {words} printed in {pdf.name}")


def sheet_states(xlsx: Path) -> dict[str, str]:
    """{sheet name: "visible" | "hidden" | "veryHidden"} in workbook order."""
    with zipfile.ZipFile(xlsx) as zf:
        root = etree.fromstring(zf.read("xl/workbook.xml"))
    return {s.get("name"): s.get("state", "visible") for s in root.iter(f"{{{_MAIN}}}sheet")}


def printable_copy(xlsx: Path, dst: Path, only: str | None = None) -> Path:
    """Copy `xlsx` to `dst` so that LibreOffice prints what Excel would: no hidden sheet's print area
    (LibreOffice 7.4 prints a hidden sheet that has one). With `only`, every other sheet is hidden too
    and `only` is the active tab."""
    with zipfile.ZipFile(xlsx) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = _printable(data, only)
            zout.writestr(info, data)
    return dst


def _printable(workbook_xml: bytes, only: str | None) -> bytes:
    root = etree.fromstring(workbook_xml)
    sheets = list(root.iter(f"{{{_MAIN}}}sheet"))
    if only is not None:
        for s in sheets:
            if s.get("name") == only:
                s.attrib.pop("state", None)
            elif s.get("state") != "veryHidden":
                s.set("state", "hidden")
        index = str(next(i for i, s in enumerate(sheets) if s.get("name") == only))
        for view in root.iter(f"{{{_MAIN}}}workbookView"):
            view.set("activeTab", index)
            view.set("firstSheet", index)
    hidden = {str(i) for i, s in enumerate(sheets) if s.get("state") in ("hidden", "veryHidden")}
    for name in list(root.iter(f"{{{_MAIN}}}definedName")):
        if name.get("name") == "_xlnm.Print_Area" and name.get("localSheetId") in hidden:
            name.getparent().remove(name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def print_title_sheets(xlsx: Path) -> set[str]:
    """Names of the sheets that have a _xlnm.Print_Titles defined name (rows or columns repeated on every page)."""
    with zipfile.ZipFile(xlsx) as zf:
        root = etree.fromstring(zf.read("xl/workbook.xml"))
    names = [s.get("name") for s in root.iter(f"{{{_MAIN}}}sheet")]
    return {names[int(d.get("localSheetId"))] for d in root.iter(f"{{{_MAIN}}}definedName")
            if d.get("name") == "_xlnm.Print_Titles" and d.get("localSheetId") is not None}


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
# Height of a printed line of text (pdftotext's word box) per point of font size, for pages that
# print no full-width character; measured on LibreOffice 7.4's PDFs with IPA fonts (5.07 / 3.90).
_HEIGHT_PER_POINT = 1.30


def _full_width(word: str) -> bool:
    return bool(word) and all(unicodedata.east_asian_width(ch) in ("W", "F") for ch in word)


def _bbox(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def smallest_text_per_page(pdf: Path, boxes: str | None = None) -> list[float]:
    """For each page of `pdf`, the size in points of its smallest printed text.

    A full-width character (kanji, kana, full-width punctuation) is one em wide, so a word made
    only of them measures its font size exactly: width / characters, after any fit-to-page
    scaling. A page without such a word is measured by its lowest word box (height / 1.30).
    A page without any text counts as 0.0 (nothing readable on it). `boxes`: pdftotext -bbox's
    output of `pdf`, when the caller has it already."""
    sizes: list[float] = []
    for page in (boxes if boxes is not None else _bbox(pdf)).split("<page ")[1:]:
        words = [(float(x0), float(y0), float(x1), float(y1), text) for x0, y0, x1, y1, text in _WORD.findall(page)]
        wide = [(x1 - x0) / len(text) for x0, _, x1, _, text in words if _full_width(text)]
        if wide:
            sizes.append(min(wide))
        elif words:
            sizes.append(min(y1 - y0 for _, y0, _, y1, _ in words) / _HEIGHT_PER_POINT)
        else:
            sizes.append(0.0)
    return sizes


def printed_words_per_sheet(xlsx: Path, timeout: float = TIMEOUT) -> dict[str, tuple[list[float], list[str]]]:
    """{visible sheet: ([smallest text size in points on each page], [every printed word])}, each sheet
    printed alone as Excel would print it (one soffice run for all sheets)."""
    def measure(pdf: Path) -> tuple[list[float], list[str]]:
        boxes = _bbox(pdf)
        return smallest_text_per_page(pdf, boxes), [w[-1] for w in _WORD.findall(boxes)]

    return _per_sheet(xlsx, timeout, measure)


def smallest_text_per_sheet(xlsx: Path, timeout: float = TIMEOUT) -> dict[str, list[float]]:
    """{visible sheet: [smallest text size in points on each page it prints]}, each sheet printed
    alone as Excel would print it (one soffice run for all sheets)."""
    return {name: sizes for name, (sizes, _) in printed_words_per_sheet(xlsx, timeout).items()}
