"""A light, read-only view of an .xlsx: the parts the reader needs, parsed safely and fast.

Why not openpyxl.load_workbook: it builds an object for every cell, style and
defined name (a template has ~1,000 names) and needs a second load to see
formulas; this reads values, number formats, formula text, defined names,
sheet states and document properties in one pass at about a fifth of the cost
(benchmarks/bench_read_validate.py).  Nothing is evaluated; DTDs and entities
are refused (see "fast paths" below); sizes were bounded by the pre-flight.
"""

from __future__ import annotations

import re
import zipfile
import xml.etree.ElementTree as StdET
from xml.parsers import expat
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from defusedxml import ElementTree as SafeET

from .xlsx_cells import BUILTIN_FORMATS, column_index, from_excel, is_date_format

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_REF_RE = re.compile(r"^([A-Z]{1,3})(\d+)$")


class Cell(NamedTuple):  # a tuple: thousands are made per sheet, a frozen dataclass costs 3x more
    value: Any  # float | str | bool | datetime | None
    number_format: str = "General"
    formula: str | None = None  # "=SUM(C5:C6)" when the cell holds a formula


EMPTY_CELL = Cell(None)


class BookError(Exception):
    """Why a workbook cannot be read: a finding code (E107 budget, E108 unsafe XML, E110 corrupt,
    E112 Strict OOXML) and a short reason for its message."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class DefinedNameEntry(NamedTuple):
    """One <definedName> of workbook.xml, as written (duplicates and sheet-local names kept)."""

    name: str
    value: str
    local_sheet_id: int | None  # None: a workbook-level name
    hidden: bool


class SheetEntry(NamedTuple):
    """One <sheet> of workbook.xml, in tab order (duplicated titles kept)."""

    title: str
    state: str  # visible | hidden | veryHidden
    part: str  # zip member of the worksheet, "" when the relationship is missing


class Sheet:
    def __init__(self, title: str, state: str, cells: dict[tuple[int, int], Cell]) -> None:
        self.title, self.state, self.cells = title, state, cells
        self.max_row = max((r for r, _ in cells), default=0)
        self.max_column = max((c for _, c in cells), default=0)

    def cell(self, row: int, col: int) -> Cell:
        return self.cells.get((row, col), EMPTY_CELL)


class Book:
    """Sheets (lazily parsed), workbook-level defined names, properties of one .xlsx."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path)
        self._names = set(self.zip.namelist())
        wb = self._xml("xl/workbook.xml")
        rels = self._rels("xl/_rels/workbook.xml.rels")
        self.sheetnames: list[str] = []
        self.sheet_entries: list[SheetEntry] = []
        self._parts: dict[str, str] = {}
        self._states: dict[str, str] = {}
        for s in wb.iter(f"{NS}sheet"):
            title = s.get("name", "")
            entry = SheetEntry(title, s.get("state", "visible"), rels.get(s.get(f"{REL_NS}id", ""), ""))
            self.sheet_entries.append(entry)
            if title not in self._parts:  # a duplicated title: the first one is the sheet Excel shows
                self.sheetnames.append(title)
                self._parts[title], self._states[title] = entry.part, entry.state
        self.defined_name_entries: list[DefinedNameEntry] = [
            DefinedNameEntry(d.get("name", ""), d.text or "",
                             int(d.get("localSheetId")) if (d.get("localSheetId") or "").isdigit() else None,
                             d.get("hidden") in ("1", "true"))
            for d in wb.iter(f"{NS}definedName")]
        self.defined_names: dict[str, str] = {}  # workbook-level names; the first of duplicates
        for d in self.defined_name_entries:
            if d.local_sheet_id is None:
                self.defined_names.setdefault(d.name, d.value)
        self._strings: list[str] | None = None
        self._formats: list[str] | None = None
        self._sheets: dict[str, Sheet] = {}

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> "Book":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- parts
    def _xml(self, name: str) -> Any:
        return parse_xml(self.zip.read(name))

    def _rels(self, name: str) -> dict[str, str]:
        if name not in self._names:
            return {}
        out = {}
        for r in self._xml(name).iter(f"{PKG_REL_NS}Relationship"):
            target = r.get("Target", "")
            out[r.get("Id", "")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        return out

    def strings(self) -> list[str]:
        if self._strings is None:
            self._strings = []
            part = "xl/sharedStrings.xml"
            if part in self._names:
                for si in self._xml(part).iter(f"{NS}si"):
                    self._strings.append(_text_of(si))
        return self._strings

    def formats(self) -> list[str]:
        """Number format code of each cellXfs index (the `s` attribute of a cell)."""
        if self._formats is None:
            self._formats = []
            if "xl/styles.xml" in self._names:
                root = self._xml("xl/styles.xml")
                custom = {int(n.get("numFmtId", "0")): n.get("formatCode", "General")
                          for n in root.iter(f"{NS}numFmt")}
                xfs = root.find(f"{NS}cellXfs")
                for xf in (xfs if xfs is not None else []):
                    fid = int(xf.get("numFmtId", "0"))
                    self._formats.append(custom.get(fid) or BUILTIN_FORMATS.get(fid, "General"))
        return self._formats

    def sheet(self, title: str) -> Sheet:
        if title not in self._sheets:
            part = self._parts.get(title, "")
            cells = self._cells(part) if part in self._names else {}
            self._sheets[title] = Sheet(title, self._states.get(title, "visible"), cells)
        return self._sheets[title]

    def state(self, title: str) -> str:
        return self._states.get(title, "visible")

    def _cells(self, part: str) -> dict[tuple[int, int], Cell]:
        data = self.zip.read(part)
        text = plain_xml_text(data)
        cells = scan_cells(text, self.strings(), self.formats()) if text is not None else None
        if cells is None:
            cells = _SheetParser(self.strings(), self.formats()).parse_bytes(data)
        return cells

    # --- document properties
    def custom_properties(self) -> dict[str, str]:
        part = "docProps/custom.xml"
        if part not in self._names:
            return {}
        out = {}
        for prop in self._xml(part):
            name = prop.get("name")
            if name is not None and len(prop):
                out[name] = prop[0].text or ""
        return out

    def core_properties(self) -> dict[str, str]:
        part = "docProps/core.xml"
        if part not in self._names:
            return {}
        return {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in self._xml(part)}

    def application(self) -> str | None:
        part = "docProps/app.xml"
        if part not in self._names:
            return None
        root = self._xml(part)
        app = next((e.text for e in root if e.tag.endswith("}Application")), None)
        version = next((e.text for e in root if e.tag.endswith("}AppVersion")), None)
        return " ".join(x for x in (app, version) if x) or None


class UnsafeXml(ValueError):
    """A DTD or entity declaration in a worksheet (refused, as defusedxml does)."""


class _SheetParser:
    """Streaming expat parse of one worksheet part: no element objects, ~3x faster than iterparse.

    DOCTYPE, entity declarations and external entities raise UnsafeXml, as defusedxml would.
    """

    def __init__(self, strings: list[str], formats: list[str]) -> None:
        self.strings, self.formats = strings, formats
        self.cells: dict[tuple[int, int], Cell] = {}
        self.row = self.col = 0
        self.kind, self.style = "n", 0
        self.v: str | None = None
        self.f: str | None = None
        self.inline: list[str] = []
        self.buf: list[str] | None = None
        self.in_phonetic = False

    def parse_bytes(self, data: bytes) -> dict[tuple[int, int], Cell]:
        p = expat.ParserCreate()
        p.StartDoctypeDeclHandler = p.EntityDeclHandler = p.ExternalEntityRefHandler = _refuse
        p.StartElementHandler, p.EndElementHandler = self.start, self.end
        p.CharacterDataHandler = self.text
        p.buffer_text = True
        p.Parse(data, True)
        return self.cells

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "c":
            ref = attrs.get("r")
            if ref and (m := _REF_RE.match(ref)):
                self.col, self.row = column_index(m.group(1)), int(m.group(2))
            else:
                self.col += 1
            self.kind, self.style = attrs.get("t", "n"), int(attrs.get("s", "0"))
            self.v = self.f = None
            self.inline = []
        elif local == "row":
            self.row, self.col = int(attrs.get("r") or self.row + 1), 0
        elif local in ("v", "f", "t"):
            self.buf = []
        elif local == "rPh":
            self.in_phonetic = True

    def text(self, data: str) -> None:
        if self.buf is not None:
            self.buf.append(data)

    def end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        if local == "v":
            self.v, self.buf = "".join(self.buf or []), None
        elif local == "f":
            self.f, self.buf = "".join(self.buf or []), None
        elif local == "t":
            if not self.in_phonetic:
                self.inline.append("".join(self.buf or []))
            self.buf = None
        elif local == "rPh":
            self.in_phonetic = False
        elif local == "c":
            self.finish_cell()

    def finish_cell(self) -> None:
        fmt = self.formats[self.style] if self.style < len(self.formats) else "General"
        formula = "=" + (self.f or "…") if self.f is not None else None
        if self.kind == "inlineStr":
            value: Any = "".join(self.inline)
        else:
            value = _convert(self.kind, self.v, self.strings, fmt)
        if value is not None or formula is not None:  # a cell that holds nothing is not kept
            self.cells[(self.row, self.col)] = Cell(value, fmt, formula)


# ------------------------------------------------------------------ fast paths
# The parts Excel, LibreOffice and openpyxl/xlsxwriter write are UTF-8 with no
# DTD, comment or CDATA.  Such a part cannot declare an entity, so the C parser
# (ElementTree) and, for worksheets, a regular-expression scan over <sheetData>
# read it safely and 5-20x faster than defusedxml's Python-level handlers.  Any
# part that is not that plain shape goes the careful way (defusedxml / expat
# with DTDs refused); tests check both ways give the same cells.

def plain_xml_text(data: bytes) -> str | None:
    """The part as text when it is plain UTF-8 XML without '<!' (DTD, comment, CDATA); else None."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "<!" in text else text


def parse_xml(data: bytes) -> Any:
    """Root element of an XML part: the C parser for plain parts, defusedxml for anything else."""
    text = plain_xml_text(data)
    if text is not None:
        return StdET.fromstring(text)  # str input: the declared encoding is ignored, no DTD possible
    return SafeET.fromstring(data)


_P = r"(?:[A-Za-z_][\w.-]*:)?"  # optional namespace prefix
_SHEET_DATA_RE = re.compile(rf"<{_P}sheetData(?=[\s/>])[^>]*>")
_SHEET_DATA_END_RE = re.compile(rf"</{_P}sheetData\s*>")
_CELL_RE = re.compile(
    # what Excel, LibreOffice, openpyxl and xlsxwriter write for a value, a shared or inline string,
    # a formula with or without its cached value, or an empty styled cell, with no entity inside:
    # taken apart by the groups alone
    r'<c r="(?P<col>[A-Z]{1,3})(?P<row>\d+)"(?: s="(?P<s>\d+)")?(?: t="(?P<t>[a-zA-Z]+)")?\s*(?:/>|>'
    r'(?:(?:<f>(?P<f>[^<&]*)</f>)?(?:<v>(?P<v>[^<&]*)</v>|(?P<v0><v\s*/>))?'
    r'|<is><t(?: xml:space="preserve")?>(?P<is>[^<&]*)</t></is>)</c>)'
    # anything else: attributes and content, read by the general scan below
    rf"|<{_P}c(?=[\s/>])(?P<attrs>[^>]*?)(?:/>|>(?P<inner>.*?)</{_P}c>)", re.S)
_ATTR_RE = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_V_RE = re.compile(rf"<{_P}v(?:\s[^>]*?)?(?:/>|>(.*?)</{_P}v>)", re.S)
_F_RE = re.compile(rf"<{_P}f(?=[\s/>])[^>]*?(?:/>|>(.*?)</{_P}f>)", re.S)
_T_RE = re.compile(rf"<{_P}t(?=[\s/>])[^>]*?(?:/>|>(.*?)</{_P}t>)", re.S)
_RPH_RE = re.compile(rf"<{_P}rPh(?=[\s/>]).*?</{_P}rPh>", re.S)
_ENTITY_RE = re.compile(r"&(?:#(\d+)|#x([0-9A-Fa-f]+)|(amp|lt|gt|quot|apos));")
_PREDEFINED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


class _NotPlain(Exception):
    """The worksheet has a shape the scan does not handle; the expat parser reads it instead."""


def scan_cells(text: str, strings: list[str], formats: list[str]) -> dict[tuple[int, int], Cell] | None:
    """Cells of a plain worksheet by regular expressions; None when the expat parser must read it."""
    body = _sheet_data(text)
    if body is None:
        return None
    cells: dict[tuple[int, int], Cell] = {}
    n_formats = len(formats)
    try:
        for c in _CELL_RE.finditer(body):
            letters, digits, s, kind, f, v, v0, inline, attr_text, inner = c.groups()
            if letters is None:  # an unusual shape: attributes and content read one by one
                attrs = {k: a + b for k, a, b in _ATTR_RE.findall(attr_text)}  # one of a, b is ""
                ref = _REF_RE.match(attrs.get("r", ""))
                if ref is None:
                    return None  # cells without references are placed by counting: expat does that
                cell = _scan_cell(attrs.get("t", "n"), int(attrs.get("s", "0")), inner or "", strings, formats)
                if cell is not None:
                    cells[(int(ref.group(2)), column_index(ref.group(1)))] = cell
                continue
            if v is None and v0 is None and inline is None and f is None and kind != "inlineStr":
                continue  # holds nothing
            style = int(s) if s else 0
            fmt = formats[style] if style < n_formats else "General"
            if kind == "inlineStr":
                value = inline or ""
            else:
                value = _convert(kind or "n", "" if v0 is not None else v, strings, fmt)
            formula = None if f is None else "=" + (f or "…")
            if value is not None or formula is not None:
                cells[(int(digits), column_index(letters))] = Cell(value, fmt, formula)
    except (_NotPlain, ValueError):
        return None
    return cells


def _sheet_data(text: str) -> str | None:
    """The text inside <sheetData>, end-of-lines normalised as an XML parser does; None if absent."""
    start = _SHEET_DATA_RE.search(text)
    if start is None:
        return None
    if start.group(0).endswith("/>"):
        return ""
    end = _SHEET_DATA_END_RE.search(text, start.end())
    if end is None:
        return None
    return text[start.end():end.start()].replace("\r\n", "\n").replace("\r", "\n")


def _scan_cell(kind: str, style: int, inner: str, strings: list[str], formats: list[str]) -> Cell | None:
    fmt = formats[style] if style < len(formats) else "General"
    formula = None
    if (f := _F_RE.search(inner)) is not None:
        formula = "=" + (_unescape(f.group(1) or "") or "…")
    if kind == "inlineStr":
        runs = _T_RE.findall(_RPH_RE.sub("", inner))
        value: Any = "".join(_unescape(t) for t in runs)
    else:
        v = _V_RE.search(inner)
        raw = None if v is None else _unescape(v.group(1) or "")
        value = _convert(kind, raw, strings, fmt)
    if value is not None or formula is not None:
        return Cell(value, fmt, formula)
    return None


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    out = _ENTITY_RE.sub(_entity, text)
    if "&" in _ENTITY_RE.sub("", text):
        raise _NotPlain("an entity the scan does not know")
    return out


def _entity(m: re.Match[str]) -> str:
    if m.group(3):
        return _PREDEFINED[m.group(3)]
    return chr(int(m.group(1)) if m.group(1) else int(m.group(2), 16))


def _refuse(*_: Any) -> None:
    raise UnsafeXml("DTD or entity declaration in a worksheet")


def _text_of(el: Any) -> str:
    """Text of a <si>/<is>: plain <t> plus rich-text runs, without phonetic (furigana) runs."""
    parts = []
    for child in el:
        name = child.tag.rsplit("}", 1)[-1]
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            t = child.find(f"{NS}t")
            parts.append(t.text or "" if t is not None else "")
    return "".join(parts)


def _convert(kind: str, text: str | None, strings: list[str], fmt: str) -> Any:
    if text is None or (text == "" and kind not in ("str", "s")):  # <v/>: a formula never calculated
        return None
    if kind == "s":
        i = int(text)
        return strings[i] if 0 <= i < len(strings) else None
    if kind in ("str", "e"):
        return text
    if kind == "b":
        return text.strip() in ("1", "true")
    if kind == "d":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return text
    try:
        number = float(text)
    except ValueError:
        return text
    if is_date_format(fmt):
        try:
            return from_excel(number)
        except (ValueError, OverflowError):
            return number
    return number
