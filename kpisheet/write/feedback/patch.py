"""The first way of making a branch's feedback workbook: the branch's own zip, patched.

The parts that change are parsed by a hardened lxml parser, edited by namespace and
element name and parsed back before the zip is written (kpisheet.write.feedback.build's
docstring tells the whole story); raises for anything it cannot patch, and the caller falls back.
"""

from __future__ import annotations

import copy
import html
import io
import re
import secrets
import zipfile
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Sequence

from lxml import etree

from kpisheet.domain.findings import Finding
from kpisheet.domain.model import Submission
from kpisheet.read.xlsx_read import MAX_FILE_BYTES_UNPACKED, MAX_PART_BYTES
from kpisheet.worksheet_text import ATTR, ATTRS, split_sheet_data
from kpisheet.write.feedback.items import Highlight, highlights
from kpisheet.write.feedback.summary import (
    COMMENT_AUTHOR,
    ERROR_RGB,
    FOOTER_PAGES,
    HEAD_RGB,
    PILLAR_RGB,
    PRINT_TITLE_ROWS,
    SHEET,
    MAX_LINES,
    WARNING_RGB,
    _branch_name,
    _by_cell,
    _clean,
    _comment_text,
    _plan_cells,
    cell_width,
    column_widths,
    spans,
    summary_cells,
    wide_style,
)
from kpisheet.write.report import FONT, MARK_COLOURS, lines_of, plan_status, row_height
from kpisheet.xlsx_cells import cell_coordinates, column_letter

if TYPE_CHECKING:
    from kpisheet.consolidate.model import Consolidation

# What patching or openpyxl may inflate from one branch file: the reader's limits (declared
# sizes: zipfile never returns more than a member declares).
PART_BUDGET, FILE_BUDGET = MAX_PART_BYTES, MAX_FILE_BYTES_UNPACKED

# The largest part parsed into an lxml tree.  A tree costs some 30 times its XML (a 45 MB sheet of
# empty styled cells, within every reading budget, took 1.4 GB), and a template's input sheet is
# under 1 MB: a flagged sheet larger than this is copied unpatched (its tab unselected by a byte
# edit of its head, no colours, no comments) with a note on 確認事項; any other part larger than
# this that patching must edit (styles, workbook, relationships, content types) makes the file
# TooBigToPatch, and the feedback then lists the findings without a copy (openpyxl, which loads
# every part whole, is not tried either).
PATCH_PART_BYTES = 8 * 2**20


class TooBigToPatch(Exception):
    """A part patching must edit is larger than PATCH_PART_BYTES (see there)."""


def too_big_to_load(data: bytes) -> bool:
    """A member of the zip declares more than PATCH_PART_BYTES: loading it whole (openpyxl) would
    cost too much memory."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return any(i.file_size > PATCH_PART_BYTES for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


# ================================================================ XML parts as trees
# Parts are parsed by lxml, which keeps every element's and attribute's prefix and
# every namespace declaration on the element that wrote it, so a part written back
# still declares what the branch's file declared (the prefixes `mc:Ignorable` names
# included).  Elements and attributes are looked up by namespace URI, never by a
# prefix assumed; a new element takes whatever prefix is in scope for its namespace.
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
REL_WS = REL_NS + "/worksheet"
REL_STYLES = REL_NS + "/styles"
REL_COMMENTS = REL_NS + "/comments"
REL_VML = REL_NS + "/vmlDrawing"
REL_OFFICE = REL_NS + "/officeDocument"
CT_WS = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ID = f"{{{REL_NS}}}id"
_IGNORABLE = f"{{{MC_NS}}}Ignorable"

# No entities expanded, nothing fetched, libxml2's size and depth limits kept; a part
# with a DOCTYPE is refused after parsing (see parse_part).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                          dtd_validation=False, remove_blank_text=False)


class _PatchError(Exception):
    """The workbook is not shaped as patching expects; the next way is tried."""


def tag(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def parse_part(data: bytes) -> Any:
    """One part as an lxml tree, names and declarations as written; a DOCTYPE is refused.

    Raises etree.XMLSyntaxError for XML that is not namespace-well-formed (an unbound prefix too).
    """
    root = etree.fromstring(data, _PARSER)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _PatchError("DOCTYPE in an XML part")
    return root


def serialise(root: Any) -> bytes:
    """The part as UTF-8 bytes with the usual declaration (comments and PIs around the root kept)."""
    return _DECLARATION + etree.tostring(root.getroottree(), encoding="UTF-8", xml_declaration=False)


class _Verdict:
    """Parse target that builds nothing: checking a part only needs libxml2's verdict."""

    def doctype(self, *_: Any) -> None:
        raise _PatchError("DOCTYPE in an XML part")

    def close(self) -> None:
        return None


# The same hardening, without a tree: about three times faster than parsing into one.
_CHECKER = etree.XMLParser(target=_Verdict(), resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False, dtd_validation=False)


def check_part(data: bytes) -> None:
    """A part must be namespace-well-formed (every prefix bound), have no DOCTYPE, and declare
    on its root element the prefixes its mc:Ignorable names."""
    etree.fromstring(data, _CHECKER)  # raises XMLSyntaxError for what is not XML at all
    errors = _CHECKER.error_log.filter_from_errors()  # an unbound prefix is logged, not raised
    if errors:
        raise _PatchError(f"XML part not namespace-well-formed: {errors[0].message}")
    if b"Ignorable" not in data:
        return
    root = _root_element(data)
    missing = set((root.get(_IGNORABLE) or "").split()) - set(root.nsmap)
    if missing:
        raise _PatchError(f"mc:Ignorable names undeclared prefixes {sorted(missing)}")


def _root_element(data: bytes, chunk: int = 2048) -> Any:
    """The root element with its attributes and declarations, parsed no further than its start tag."""
    pull = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False)
    for at in range(0, len(data), chunk):
        pull.feed(data[at: at + chunk])
        for _, element in pull.read_events():
            return element
    raise _PatchError("XML part without an element")


def find(parent: Any, ns: str, local: str) -> Any:
    """The first child element (ns, local) of `parent`, whatever its prefix; None if there is none."""
    return parent.find(tag(ns, local))


def children(parent: Any, ns: str, local: str) -> list[Any]:
    """The child elements (ns, local) of `parent` (comments, PIs and other names skipped)."""
    return list(parent.iterchildren(tag(ns, local)))


def new_element(parent: Any, ns: str, local: str, attrs: dict[str, str]) -> Any:
    """An element (ns, local) to insert under `parent`; attribute keys are names or Clark names {ns}local.

    A namespace an attribute needs that no prefix in scope binds is declared on the element
    (as `r` for relationships, or the first free r1, r2, ...).
    """
    scope = parent.nsmap
    nsmap: dict[str, str] = {}
    for key in attrs:
        if key.startswith("{"):
            uri = key[1:].partition("}")[0]
            if uri not in scope.values() and uri not in nsmap.values():
                prefix, n = {REL_NS: "r"}.get(uri, "ns"), 0
                while f"{prefix}{n or ''}" in scope or f"{prefix}{n or ''}" in nsmap:
                    n += 1
                nsmap[f"{prefix}{n or ''}"] = uri
    return parent.makeelement(tag(ns, local), attrs, nsmap=nsmap or None)


def _fragment(xml: str) -> Any:
    """One element of the main namespace from our own constant XML text (takes the prefix in scope once inserted)."""
    return etree.fromstring(f'<x xmlns="{MAIN_NS}">{xml}</x>', _PARSER)[0]


@lru_cache(maxsize=8192)  # the 確認事項 and 実施状況 sheets repeat their labels in every branch's file
def _esc(text: str) -> str:
    return html.escape(_clean(text), quote=True)


# ================================================================ patching the branch's zip
class _Package:
    """The branch's zip: parts parsed on demand, parts replaced or added, written back by zipfile."""

    def __init__(self, data: bytes):
        self.zin = zipfile.ZipFile(io.BytesIO(data))
        self.infos = self.zin.infolist()
        names = [i.filename for i in self.infos]
        if len({n.lower() for n in names}) != len(names):
            raise _PatchError("two members with one name")
        _check_budget(self.infos)
        self.names = {n.lower() for n in names}
        self.trees: dict[str, Any] = {}
        self.added: dict[str, bytes] = {}
        self.sizes = {i.filename: i.file_size for i in self.infos}
        self.kept: dict[str, bytes] = {}  # parts read to look at, not to edit: copied without a second inflate
        self.rows: dict[str, bytes] = {}  # worksheets edited hollow: the rows of <sheetData>, kept as bytes

    def has(self, name: str) -> bool:
        return name.lower() in self.names or name in self.trees or name in self.added

    def raw(self, name: str) -> bytes:
        """A member's bytes; the first few megabytes of what is read are kept for the copy (read once)."""
        if name in self.kept:
            return self.kept[name]
        data = self.zin.read(name)
        if sum(map(len, self.kept.values())) + len(data) <= _KEEP_BYTES:
            self.kept[name] = data
        return data

    def xml(self, name: str) -> Any:
        """The part's root element, to edit in place (written back serialised); TooBigToPatch for a
        part larger than PATCH_PART_BYTES."""
        if name not in self.trees:
            if self.size(name) > PATCH_PART_BYTES:
                raise TooBigToPatch(f"{name}: {self.size(name):,} bytes")
            self.trees[name] = parse_part(self.kept.pop(name, b"") or self.zin.read(name))
        return self.trees[name]

    def worksheet(self, name: str) -> Any:
        """A worksheet's root element to edit, like xml(); where its cells can be found by their text
        (kpisheet.worksheet_text), hollow: its <sheetData> holds _ROWS in the tree, and the rows stay bytes
        (self.rows) to restyle by text (restyle_rows) and splice back when the part is written.  A
        template's input sheet is ~750 KB of rows: parsing and serialising them was most of a copy's time."""
        if name in self.trees:
            return self.trees[name]
        if self.size(name) > PATCH_PART_BYTES:
            raise TooBigToPatch(f"{name}: {self.size(name):,} bytes")
        data = self.kept.pop(name, b"") or self.zin.read(name)
        cut = split_sheet_data(data) if _declared_utf8(data) else None
        if cut is not None and b"xmlns" not in cut.body and b"sheetData" not in cut.body:
            root = parse_part(cut.head + _ROWS + cut.tail)
            holder = find(root, MAIN_NS, "sheetData")
            if holder is not None and holder.text == _ROWS.decode() and not len(holder):
                self.rows[name] = cut.body
                self.trees[name] = root
                return root
        self.trees[name] = parse_part(data)
        return self.trees[name]

    def restyle_rows(self, name: str, fills: dict[str, int], styles: _Styles) -> bool:
        """Give the flagged cells of a hollow worksheet's rows a copy of their cell format with another fill
        (reference -> fill id); False, changing nothing, where the sheet is not hollow or a flagged cell's
        format is written in a way only an XML parser reads (an entity)."""
        body = self.rows.get(name)
        if body is None:
            return False
        found = _cell_tags(body, set(fills))
        if found is None:
            return False
        pieces, at = [], 0
        for ref, (match, style) in sorted(found.items(), key=lambda item: item[1][0].start()):
            new = styles.with_fill(int(style) if style.isdigit() else 0, fills[ref])
            pieces += [body[at:match.start()], _with_style(match, new)]
            at = match.end()
        self.rows[name] = b"".join(pieces) + body[at:]
        return True

    def reparse(self, name: str) -> Any:
        """A hollow worksheet parsed whole after all (its rows back in the tree); edits to the hollow tree are lost."""
        self.trees.pop(name, None)
        self.rows.pop(name, None)
        self.trees[name] = parse_part(self.zin.read(name))
        return self.trees[name]

    def size(self, name: str) -> int:
        """The part's declared (inflated) size; 0 for one added by patching."""
        return self.sizes.get(name, 0)

    def unselect_raw(self, name: str) -> None:
        """Drop tabSelected from the sheet views of a part too large to parse: a byte edit of the
        part's head (everything before <sheetData>), the rest copied as it is."""
        data = self.zin.read(name)
        body = _SHEET_DATA.search(data)
        cut = body.start() if body else min(len(data), 1 << 16)
        head = _TAB_SELECTED.sub(b"", data[:cut])
        if len(head) != cut:
            self.added[name] = head + data[cut:]

    def put(self, name: str, root: Any) -> None:
        self.trees[name] = root

    def add(self, name: str, data: str) -> None:
        self.added[name] = data.encode("utf-8")

    def unique(self, stem: str, suffix: str) -> str:
        name, n = f"{stem}{suffix}", 1
        while self.has(name):
            n += 1
            name = f"{stem}{n}{suffix}"
        return name

    def write(self) -> bytes:
        """The new zip.  Every changed or added part is parsed back before it goes in, and every
        copied XML part is checked too (a broken part the branch sent would break the copy)."""
        changed = {name: self._serialise(name, root) for name, root in self.trees.items()}
        changed.update(self.added)
        for part in changed.values():
            check_part(part)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for info in self.infos:
                body = changed.get(info.filename)
                if body is None:
                    body = self.kept.pop(info.filename, b"") or self.zin.read(info.filename)
                    if info.filename.endswith((".xml", ".rels")):
                        check_part(body)
                z.writestr(_member(info.filename, info.date_time), body, zipfile.ZIP_DEFLATED, 1)
            for name in sorted(set(changed) - {i.filename for i in self.infos}):
                z.writestr(_member(name, _NEW_MEMBER_TIME), changed[name], zipfile.ZIP_DEFLATED, 1)
        return out.getvalue()


    def _serialise(self, name: str, root: Any) -> bytes:
        data = serialise(root)
        if name not in self.rows:
            return data
        if data.count(_ROWS) != 1:
            raise _PatchError("the rows' place lost in a worksheet")
        return data.replace(_ROWS, self.rows[name])


# the text standing in a hollow worksheet's <sheetData> for its rows (see _Package.worksheet): no part holds it
_ROWS = f"kpisheet-rows-{secrets.token_hex(16)}".encode()
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*["']([^"']*)["']""")


def _declared_utf8(data: bytes) -> bool:
    """The part is UTF-8 (no declaration, or one naming UTF-8): its rows can be spliced into a UTF-8 serialisation."""
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not text.startswith(b"<?xml"):
        return not text.startswith((b"\xfe\xff", b"\xff\xfe"))
    declared = _ENCODING.search(text, 0, max(text.find(b"?>"), 0))
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")


def _cell_tags(body: bytes, refs: set[str]) -> dict[str, tuple[re.Match[bytes], str]] | None:
    """The start tag of each cell at `refs` in a hollow worksheet's rows, with its cell format (s, as written;
    "0" if none); the last where a reference repeats, as a tree's walk finds it.  None if a format holds an
    entity or character reference (which only an XML parser decodes)."""
    pattern = re.compile(rb'<c r="(' + b"|".join(re.escape(ref.encode("ascii")) for ref in sorted(refs))
                         + rb')"(' + ATTRS + rb")(/?>)")
    found: dict[str, tuple[re.Match[bytes], str]] = {}
    for match in pattern.finditer(body):
        value = next((a.group(4)[1:-1] for a in ATTR.finditer(match.group(2)) if a.group(2) == b"s"), b"0")
        if b"&" in value:
            return None
        found[match.group(1).decode("ascii")] = (match, value.decode("utf-8", "replace") or "0")
    return found


def _with_style(match: re.Match[bytes], style: int) -> bytes:
    """A cell's start tag with its s attribute set to `style` (added after the others if it has none)."""
    attrs, done = [], False
    for a in ATTR.finditer(match.group(2)):
        if a.group(2) == b"s":
            quote = a.group(4)[:1]
            attrs.append(a.group(1) + b"s" + a.group(3) + quote + str(style).encode() + quote)
            done = True
        else:
            attrs.append(a.group(0))
    if not done:
        attrs.append(f' s="{style}"'.encode())
    return b'<c r="' + match.group(1) + b'"' + b"".join(attrs) + match.group(3)


_NEW_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)
_SHEET_DATA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheetData\b")
_TAB_SELECTED = re.compile(rb"""\s+tabSelected\s*=\s*(["'])(?:1|true)\1""")
_KEEP_BYTES = 8_000_000


def _member(name: str, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    """Entry for one member: the original's date (new ones 1980-01-01), so the same inputs give the same bytes."""
    try:
        return zipfile.ZipInfo(name, date_time)
    except ValueError:
        return zipfile.ZipInfo(name, _NEW_MEMBER_TIME)


def _check_budget(infos: list[zipfile.ZipInfo]) -> None:
    if any(i.file_size > PART_BUDGET for i in infos) or sum(i.file_size for i in infos) > FILE_BUDGET:
        raise _PatchError("members larger than the budget for one file")


def _part_path(target: str, base: str) -> str:
    """The zip member a relationship target names, relative to the folder `base` of its source part."""
    path = target[1:] if target.startswith("/") else f"{base}/{target}" if base else target
    parts: list[str] = []
    for piece in path.split("/"):
        if piece == "..":
            if not parts:
                raise _PatchError(f"relationship target outside the package: {target}")
            parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _rels_path(part: str) -> str:
    """`xl/workbook.xml` -> `xl/_rels/workbook.xml.rels`; the package's own rels for ''."""
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _relationships(pkg: _Package, part: str) -> Any:
    """The rels part of `part`, to add to (a new one if it has none)."""
    name = _rels_path(part)
    if name not in pkg.trees and not pkg.has(name):
        pkg.put(name, etree.Element(tag(PKG_REL_NS, "Relationships"), nsmap={None: PKG_REL_NS}))
    return pkg.xml(name)


def _targets(pkg: _Package, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, zip member) of `part`'s internal relationships."""
    name = _rels_path(part)
    if not pkg.has(name):
        return {}
    base = part.rpartition("/")[0]
    out = {}
    for rel in children(pkg.xml(name), PKG_REL_NS, "Relationship"):
        target, rid = rel.get("Target"), rel.get("Id")
        if rel.get("TargetMode") != "External" and rid and target:
            out[rid] = (rel.get("Type", ""), _part_path(target, base))
    return out


def _add_relationship(rels: Any, rel_type: str, target: str, hint: str) -> str:
    taken = {r.get("Id") for r in rels.iterchildren(etree.Element)}
    rid, n = hint, 1
    while rid in taken:
        n += 1
        rid = f"{hint}{n}"
    rels.append(new_element(rels, PKG_REL_NS, "Relationship", {"Id": rid, "Type": rel_type, "Target": target}))
    return rid


def _add_content_type(pkg: _Package, part: str, content_type: str) -> None:
    root = pkg.xml("[Content_Types].xml")
    root.append(new_element(root, CT_NS, "Override", {"PartName": "/" + part, "ContentType": content_type}))


class _Styles:
    """styles.xml as a tree: fonts, fills, borders and cell formats appended, counts kept right."""

    BLOCKS = {"fonts": "font", "fills": "fill", "borders": "border", "cellXfs": "xf"}

    def __init__(self, root: Any):
        self.blocks: dict[str, Any] = {}
        for block in self.BLOCKS:
            found = find(root, MAIN_NS, block)
            if found is None:
                raise _PatchError(f"styles.xml has no <{block}>")
            self.blocks[block] = found
        self.xfs = self._items("cellXfs")
        self.counts = {block: len(self._items(block)) for block in self.BLOCKS}
        self._clones: dict[tuple[int, int], int] = {}

    def _items(self, block: str) -> list[Any]:
        return children(self.blocks[block], MAIN_NS, self.BLOCKS[block])

    def _append(self, block: str, element: Any) -> int:
        index = self.counts[block]
        self.counts[block] += 1
        parent = self.blocks[block]
        parent.append(element)
        parent.set("count", str(index + 1))
        return index

    def add(self, block: str, xml: str) -> int:
        return self._append(block, _fragment(xml))

    def with_fill(self, s: int, fill_id: int) -> int:
        """A copy of cell format s with another fill (kept number format, font, protection)."""
        key = (s, fill_id)
        if key not in self._clones:
            if not 0 <= s < len(self.xfs):
                raise _PatchError(f"style index {s} out of range")
            clone = copy.deepcopy(self.xfs[s])
            clone.tail = None
            clone.set("fillId", str(fill_id))
            clone.set("applyFill", "1")
            self._clones[key] = self._append("cellXfs", clone)
        return self._clones[key]

    def number_format(self, code: str) -> int:
        """The id of a custom number format (added to <numFmts>, made if the file has none)."""
        formats = find(self.blocks["fonts"].getparent(), MAIN_NS, "numFmts")
        if formats is None:
            formats = self.blocks["fonts"].makeelement(tag(MAIN_NS, "numFmts"), {"count": "0"})
            self.blocks["fonts"].addprevious(formats)
        items = children(formats, MAIN_NS, "numFmt")
        for item in items:
            if item.get("formatCode") == code and (item.get("numFmtId") or "").isdigit():
                return int(item.get("numFmtId"))
        ids = [int(i.get("numFmtId")) for i in items if (i.get("numFmtId") or "").isdigit()]
        new_id = max([163, *ids]) + 1
        formats.append(new_element(formats, MAIN_NS, "numFmt", {"numFmtId": str(new_id), "formatCode": code}))
        formats.set("count", str(len(items) + 1))
        return new_id


def _font(size: int = 10, bold: bool = False, colour: str | None = None) -> str:
    colour_xml = f'<color rgb="FF{colour}"/>' if colour else ""
    bold_xml = "<b/>" if bold else ""
    return f'<font>{bold_xml}<sz val="{size}"/>{colour_xml}<name val="{FONT}"/><charset val="128"/></font>'


def _fill(rgb: str) -> str:
    return f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/></patternFill></fill>'


_BOX = ('<border><left style="thin"><color rgb="FF808080"/></left><right style="thin"><color rgb="FF808080"/></right>'
        '<top style="thin"><color rgb="FF808080"/></top><bottom style="thin"><color rgb="FF808080"/></bottom>'
        '<diagonal/></border>')


def _xf(st: _Styles, font: int, fill: int, border: int, align: str, num_fmt: int = 0) -> int:
    number = ' applyNumberFormat="1"' if num_fmt else ""
    return st.add("cellXfs", f'<xf numFmtId="{num_fmt}" fontId="{font}" fillId="{fill}" borderId="{border}" '
                             f'xfId="0" applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"{number}>'
                             f'{align}</xf>')


class _SummaryStyles:
    """Cell format ids for the 確認事項 sheet and the highlight fills."""

    def __init__(self, st: _Styles):
        f_text, f_bold = st.add("fonts", _font()), st.add("fonts", _font(bold=True))
        f_head, f_title = st.add("fonts", _font(bold=True, colour="FFFFFF")), st.add("fonts", _font(14, True))
        box = st.add("borders", _BOX)
        self.error_fill, self.warning_fill = st.add("fills", _fill(ERROR_RGB)), st.add("fills", _fill(WARNING_RGB))
        head_fill = st.add("fills", _fill(HEAD_RGB))
        top = '<alignment vertical="top" wrapText="1"/>'

        def xf(font: int, fill: int = 0, border: int = 0, align: str = top, num_fmt: int = 0) -> int:
            return _xf(st, font, fill, border, align, num_fmt)

        self.title, self.plain, self.bold = xf(f_title, align=""), xf(f_text, align=""), xf(f_bold, align="")
        self.plain_wrap = xf(f_text)
        self.centre = xf(f_text, border=box, align='<alignment horizontal="center" vertical="top"/>')
        self.text = xf(f_text, border=box)
        self.head = xf(f_head, head_fill, box, '<alignment horizontal="center" vertical="center" wrapText="1"/>')
        self.error, self.warning = xf(f_text, self.error_fill, box), xf(f_text, self.warning_fill, box)
        self.percent = xf(f_text, border=box, num_fmt=9)  # built-in 9 is PERCENT_FORMAT, 0%
        # the 実施状況 sheet's own (kpisheet.write.report.plan_status style keys)
        self.measure = xf(f_bold, border=box)
        grey = st.add("fills", _fill(plan_status.ISSUE_BG[1:]))
        self.issue_label, self.kpi = xf(f_bold, grey, box), xf(f_text, grey, box)
        self.centre_wrap = xf(f_text, border=box, align='<alignment horizontal="center" vertical="top" wrapText="1"/>')
        self.pillar = xf(st.add("fonts", _font(12, True)), st.add("fills", _fill(PILLAR_RGB)), align="")
        centre = '<alignment horizontal="center" vertical="top"/>'
        self.marks = {m: xf(f_bold, st.add("fills", _fill(c[1:])), box, centre) for m, c in MARK_COLOURS.items()}
        self._st, self._font, self._box = st, f_text, box
        self._numbers: dict[str, int] = {}

    def number(self, code: str) -> int:
        """A bordered, right-aligned cell format with the number format `code` (made once per code)."""
        if code not in self._numbers:
            self._numbers[code] = _xf(self._st, self._font, 0, self._box,
                                      '<alignment horizontal="right" vertical="top"/>', self._st.number_format(code))
        return self._numbers[code]

    def of(self, style: Any) -> int:
        """The cell format id of a 確認事項 style key."""
        if isinstance(style, tuple):
            if style[0] == "wide":
                return self.of(wide_style(style))
            return self.number(style[1]) if style[0] == "number" else self.marks.get(style[1], self.text)
        return getattr(self, style)


# the children of <worksheet> that must follow <legacyDrawing>, in the order the schema gives
_AFTER_LEGACY = {tag(MAIN_NS, name) for name in ("legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls",
                                                 "webPublishItems", "tableParts", "extLst")}
_ALTERNATE = tag(MC_NS, "AlternateContent")


def _kind(element: Any) -> str:
    """Clark name of a <worksheet> child; for mc:AlternateContent, of the first element it wraps."""
    if element.tag == _ALTERNATE:
        for choice in element.iterchildren(etree.Element):
            for wrapped in choice.iterchildren(etree.Element):
                return _kind(wrapped)
        return ""
    return element.tag


def _insert_legacy_drawing(root: Any, rid: str) -> None:
    """<legacyDrawing r:id> as a direct child of <worksheet>, where the schema puts it."""
    element = new_element(root, MAIN_NS, "legacyDrawing", {_ID: rid})
    for position, child in enumerate(root):
        if isinstance(child.tag, str) and _kind(child) in _AFTER_LEGACY:
            root.insert(position, element)
            return
    root.append(element)


_ROW, _C = tag(MAIN_NS, "row"), tag(MAIN_NS, "c")


def _cells(root: Any, wanted: set[str]) -> dict[str, Any]:
    """The <c> elements of <sheetData> at the wanted references (cells without r= placed by counting)."""
    found: dict[str, Any] = {}
    data = find(root, MAIN_NS, "sheetData")
    if data is None:
        return found
    row_no = 0
    for row in data.iterchildren(_ROW):
        r = row.get("r")
        row_no = int(r) if r and r.isdigit() else row_no + 1
        col = 0
        since: list[str] = []  # references written since `col` was last worked out
        for c in row.iterchildren(_C):
            ref = c.get("r")
            if ref:  # its column matters only if a later cell of the row has no reference
                since.append(ref)
            else:
                for written in since:
                    rc = cell_coordinates(written)
                    col = rc[1] if rc else col + 1
                since.clear()
                col += 1
                if col <= 18_278:
                    ref = f"{column_letter(col)}{row_no}"
            if ref in wanted:
                found[ref] = c
    return found


def _unselect(root: Any) -> None:
    """No tabSelected on the sheet's views: the 確認事項 sheet is the one selected."""
    views = find(root, MAIN_NS, "sheetViews")
    for view in children(views, MAIN_NS, "sheetView") if views is not None else ():
        view.attrib.pop("tabSelected", None)


def _patch_sheet(pkg: _Package, part: str, name: str, flagged: dict[str, list[Highlight]], st: _Styles,
                 ss: _SummaryStyles, block: int) -> str | None:
    """Unselect the sheet's tab, highlight flagged cells and comment them; a note if comments could not
    go in, or if the sheet is too large to patch (PATCH_PART_BYTES: copied unpatched)."""
    if pkg.size(part) > PATCH_PART_BYTES:
        pkg.unselect_raw(part)
        if not flagged:
            return None
        return (f"※ シート「{name}」は大きすぎる（展開後 {pkg.size(part) / 2**20:.0f} MB）ため、色とコメントを付けずに"
                f"そのまま複製しました。指摘のセルはこの一覧でお知らせします。")
    if not flagged and b"tabSelected" not in pkg.raw(part):
        return None
    root = pkg.worksheet(part)
    _unselect(root)
    if not flagged or root.tag != tag(MAIN_NS, "worksheet"):
        return None
    fills = {ref: ss.error_fill if any(f.is_error for f in items) else ss.warning_fill for ref, items in flagged.items()}
    if not pkg.restyle_rows(part, fills, st):
        if part in pkg.rows:
            root = pkg.reparse(part)
            _unselect(root)
        for ref, c in _cells(root, set(fills)).items():
            s = c.get("s") or "0"
            c.set("s", str(st.with_fill(int(s) if s.isdigit() else 0, fills[ref])))
    if find(root, MAIN_NS, "legacyDrawing") is not None:
        return f"※ シート「{name}」には元からコメントがあるため、指摘はセルの色とこの一覧でお知らせします。"
    comments = [(ref, _comment_text(items)) for ref, items in flagged.items()]
    stem = part.rpartition("/")[2].removesuffix(".xml")
    comments_part = pkg.unique(f"xl/kpisheet_comments_{stem}", ".xml")
    vml_part = pkg.unique(f"xl/drawings/kpisheet_vml_{stem}", ".vml")
    pkg.add(comments_part, _comments_xml(comments))
    pkg.add(vml_part, _vml_xml(comments, block))
    rels = _relationships(pkg, part)
    _add_relationship(rels, REL_COMMENTS, "/" + comments_part, "rIdKpisheetComments")
    _insert_legacy_drawing(root, _add_relationship(rels, REL_VML, "/" + vml_part, "rIdKpisheetVml"))
    _add_content_type(pkg, comments_part, CT_COMMENTS)
    types = pkg.xml("[Content_Types].xml")
    if not any(e.get("Extension", "").lower() == "vml" for e in children(types, CT_NS, "Default")):
        types.append(new_element(types, CT_NS, "Default", {"Extension": "vml", "ContentType": CT_VML}))
    return None


def _workbook_part(pkg: _Package) -> str:
    for rel_type, target in _targets(pkg, "").values():
        if rel_type == REL_OFFICE:
            return target
    raise _PatchError("no officeDocument relationship")


def _sheet_parts(pkg: _Package, wb_part: str) -> tuple[Any, list[tuple[str, str, int]]]:
    """<sheets> of the workbook and (name, zip member, sheetId) of each sheet, in tab order."""
    sheets = find(pkg.xml(wb_part), MAIN_NS, "sheets")
    if sheets is None:
        raise _PatchError("workbook.xml without <sheets>")
    targets = _targets(pkg, wb_part)
    out = []
    for sheet in children(sheets, MAIN_NS, "sheet"):
        rid = sheet.get(_ID)  # whatever prefix binds the relationships namespace, here or above
        if rid not in targets or not pkg.has(targets[rid][1]):
            raise _PatchError(f"sheet {sheet.get('name')!r} has no part")
        out.append((sheet.get("name") or "", targets[rid][1], int(sheet.get("sheetId") or 0)))
    if not out:
        raise _PatchError("workbook without sheets")
    return sheets, out


def _add_first_sheet(pkg: _Package, wb_part: str, sheets: Any, xml: str, base_name: str, title_rows: int) -> None:
    """A sheet of ours first in the workbook, its title rows printed on every page; sheet-local names shifted."""
    part = pkg.unique("xl/worksheets/kpisheet_feedback", ".xml")
    pkg.add(part, xml)
    _add_content_type(pkg, part, CT_WS)
    rid = _add_relationship(_relationships(pkg, wb_part), REL_WS, "/" + part, "rIdKpisheetFeedback")
    existing = children(sheets, MAIN_NS, "sheet")
    taken = {(s.get("name") or "").casefold() for s in existing}
    title, n = base_name, 1
    while title.casefold() in taken:
        n += 1
        title = f"{base_name}{n}"
    next_id = max(int(s.get("sheetId")) if (s.get("sheetId") or "").isdigit() else 0 for s in existing) + 1
    sheets.insert(0, new_element(sheets, MAIN_NS, "sheet", {"name": title, "sheetId": str(next_id), _ID: rid}))
    root = pkg.xml(wb_part)
    for names in children(root, MAIN_NS, "definedNames"):
        for dn in _SHEET_LOCAL(names):  # a few of ~1,400 names: found in C
            local_id = dn.get("localSheetId")
            if local_id is not None and local_id.isdigit():
                dn.set("localSheetId", str(int(local_id) + 1))
    for views in children(root, MAIN_NS, "bookViews"):
        for view in views.iterchildren(etree.Element):
            view.attrib.pop("activeTab", None)
            view.attrib.pop("firstSheet", None)
    _add_print_titles(root, title, title_rows)


_SHEET_LOCAL = etree.XPath("*[@localSheetId]")  # the children of <definedNames> scoped to a sheet


def _set_active_tab(pkg: _Package, wb_part: str, index: int) -> None:
    """The tab open when the workbook opens (0, the first, when no activeTab is written)."""
    for views in children(pkg.xml(wb_part), MAIN_NS, "bookViews"):
        for view in views.iterchildren(etree.Element):
            if index:
                view.set("activeTab", str(index))
            else:
                view.attrib.pop("activeTab", None)


# what may follow <definedNames> in workbook.xml (the schema's order)
_AFTER_NAMES = {tag(MAIN_NS, name) for name in ("calcPr", "oleSize", "customWorkbookViews", "pivotCaches",
                                                "smartTagPr", "smartTagTypes", "webPublishing", "fileRecoveryPr",
                                                "webPublishObjects", "extLst")}


def _add_print_titles(root: Any, title: str, rows: int) -> None:
    """The first sheet's title rows repeat on every printed page (a sheet-local _xlnm.Print_Titles)."""
    names = find(root, MAIN_NS, "definedNames")
    if names is None:
        names = new_element(root, MAIN_NS, "definedNames", {})
        after = next((c for c in root if isinstance(c.tag, str) and _kind(c) in _AFTER_NAMES), None)
        if after is not None:
            after.addprevious(names)
        else:
            root.append(names)
    quoted = title.replace("'", "''")
    name = new_element(names, MAIN_NS, "definedName", {"name": "_xlnm.Print_Titles", "localSheetId": "0"})
    name.text = f"'{quoted}'!$1:${rows}"
    names.insert(0, name)


def _open_and_mark(data: bytes, marks: list[Highlight]) -> tuple[_Package, str, Any, _SummaryStyles, list[str]]:
    """The branch's zip with every flagged cell coloured and commented: (package, workbook part, <sheets>,
    the 確認事項 styles, notes for the 確認事項 sheet about what could not be marked)."""
    pkg = _Package(data)
    wb_part = _workbook_part(pkg)
    sheets, parts = _sheet_parts(pkg, wb_part)
    styles = next((t for rel_type, t in _targets(pkg, wb_part).values() if rel_type == REL_STYLES), None)
    if styles is None or not pkg.has(styles):
        raise _PatchError("workbook without styles")
    st = _Styles(pkg.xml(styles))
    ss = _SummaryStyles(st)
    by_cell = _by_cell(marks, [name for name, _, _ in parts])
    notes = []
    for block, (name, part, _) in enumerate(parts, start=1):
        flagged = {ref: items for (sheet, ref), items in by_cell.items() if sheet == name}
        note = _patch_sheet(pkg, part, name, flagged, st, ss, block)
        if note:
            notes.append(note)
    return pkg, wb_part, sheets, ss, notes


def _summary_xml(ss: _SummaryStyles, cells: list[Any], freeze: int, widths: list[float], footer_left: str,
                 selected: bool) -> str:
    """A 確認事項 sheet (cells of kpisheet.write.feedback.summary's kind) as worksheet XML."""
    sx = _SheetXml()
    for row, col, value, style in cells:
        wraps = style in ("text", "error", "warning", "head") or (isinstance(style, tuple) and style[0] == "wide")
        sx.put(row, col, value, ss.of(style), cell_width(widths, col, style) if wraps else None)
    for row, first, last, style in spans(cells):
        for col in range(first + 1, last + 1):
            sx.put(row, col, None, ss.of(style))
        sx.merges.append(f"{column_letter(first)}{row}:{column_letter(last)}{row}")
    return sx.render(widths, freeze, _footer_xml(footer_left), selected=selected)


def patch_with_summary(data: bytes, marks: list[Highlight],
                       summary: Callable[[list[str]], tuple[list[Any], int, list[float]]], footer_left: str) -> bytes:
    """The branch's file patched with `marks` (coloured, commented) and a 確認事項 sheet first, whose
    (cells, frozen row, column widths) `summary(notes)` gives.  Raises for anything it cannot patch."""
    pkg, wb_part, sheets, ss, notes = _open_and_mark(data, marks)
    cells, freeze, widths = summary(notes)
    _add_first_sheet(pkg, wb_part, sheets, _summary_xml(ss, cells, freeze, widths, footer_left, True), SHEET,
                     PRINT_TITLE_ROWS)
    return pkg.write()


def patch_workbook(data: bytes, cons: Consolidation, sub: Submission, findings: list[Finding]) -> bytes:
    """The feedback workbook as bytes: the branch's file patched with highlights, comments and 確認事項.

    Raises for anything it cannot patch (zip, XML or package shape); the caller falls back.
    """
    pkg, wb_part, sheets, ss, notes = _open_and_mark(data, highlights(findings, cons.catalogue))
    cells, freeze = summary_cells(cons, sub, findings, notes)
    plan = _plan_cells(cons, sub)
    summary_active = plan is None or bool(findings)
    xml = _summary_xml(ss, cells, freeze, column_widths(cells), f"{_branch_name(sub)} 確認事項", summary_active)
    _add_first_sheet(pkg, wb_part, sheets, xml, SHEET, PRINT_TITLE_ROWS)
    if plan is not None:
        px = _SheetXml()
        plan_cells, heights = plan
        for row, col, value, style in plan_cells:
            px.put(row, col, value, ss.of(style))
        px.fixed.update(heights)
        header = f"&amp;L{_esc(plan_status.title_ja(cons.fiscal_year, sub.branch_code or '').replace('&', '&&'))}"
        xml = px.render(list(plan_status.WIDTHS), None, _footer_xml(f"{_branch_name(sub)} {plan_status.SHEET}"),
                        selected=not summary_active, header=header)
        _add_first_sheet(pkg, wb_part, sheets, xml, plan_status.SHEET, plan_status.TITLE_ROWS)
        _set_active_tab(pkg, wb_part, 1 if summary_active else 0)
    return pkg.write()


def _footer_xml(left: str) -> str:
    """A header or footer as XML text: `left` on the left, page numbers in the centre."""
    return f"&amp;L{_esc(left.replace('&', '&&'))}&amp;C{FOOTER_PAGES.replace('&', '&amp;')}"


_SELECTED = ' tabSelected="1"'


class _SheetXml:
    """The rows of the 確認事項 sheet as worksheet XML (inline strings: text stays text)."""

    def __init__(self) -> None:
        self.rows: dict[int, list[str]] = {}
        self.heights: dict[int, int] = {}
        self.fixed: dict[int, float] = {}  # row -> points, where the caller worked the height out
        self.merges: list[str] = []  # "F12:I12"

    def put(self, row: int, col: int, value: Any, style: int, width: float | None = None) -> None:
        ref = f"{column_letter(col)}{row}"
        if width and isinstance(value, str):
            self.heights[row] = max(self.heights.get(row, 1), min(MAX_LINES, lines_of(value, width)))
        if value is None or value == "":
            cell = f'<c r="{ref}" s="{style}"/>'
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            cell = f'<c r="{ref}" s="{style}"><v>{value}</v></c>'
        else:
            cell = (f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{_esc(str(value))}'
                    f"</t></is></c>")
        self.rows.setdefault(row, []).append(cell)

    def _height(self, row: int) -> str:
        if row in self.fixed:
            return f' ht="{self.fixed[row]}" customHeight="1"'
        lines = self.heights.get(row, 1)
        return f' ht="{row_height(lines)}" customHeight="1"' if lines > 1 else ""

    def render(self, widths: Sequence[float], freeze_row: int | None, footer: str = "", *, selected: bool = True,
               header: str = "") -> str:
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, 1))
        pane = (f'<pane ySplit="{freeze_row - 1}" topLeftCell="A{freeze_row}" activePane="bottomLeft" '
                f'state="frozen"/>' if freeze_row else "")
        rows = "".join(f'<row r="{r}"{self._height(r)}>{"".join(cells)}</row>' for r, cells in sorted(self.rows.items()))
        merges = (f'<mergeCells count="{len(self.merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in self.merges)
                  + "</mergeCells>") if self.merges else ""
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
                f'<sheetViews><sheetView{_SELECTED if selected else ""} workbookViewId="0">{pane}'
                '</sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>{rows}</sheetData>{merges}'
                '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
                '<pageSetup paperSize="9" orientation="landscape" fitToHeight="0"/>'
                f'<headerFooter>{f"<oddHeader>{header}</oddHeader>" if header else ""}'
                f'<oddFooter>{footer}</oddFooter></headerFooter></worksheet>')


def _comments_xml(items: list[tuple[str, str]]) -> str:
    body = "".join(f'<comment ref="{ref}" authorId="0"><text><r><rPr><sz val="9"/><rFont val="{FONT}"/></rPr>'
                   f'<t xml:space="preserve">{_esc(text)}</t></r></text></comment>' for ref, text in items)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<comments xmlns="{MAIN_NS}">'
            f"<authors><author>{COMMENT_AUTHOR}</author></authors><commentList>{body}</commentList></comments>")


def _vml_xml(items: list[tuple[str, str]], block: int) -> str:
    shapes = []
    for k, (ref, text) in enumerate(items, 1):
        rc = cell_coordinates(ref)
        assert rc is not None  # _by_cell keeps only plain references
        row, col = rc[0] - 1, rc[1] - 1
        lines = min(22, 3 + len(text) // 22)
        shapes.append(
            f'<v:shape id="_x0000_s{block * 1024 + k}" type="#_x0000_t202" style="position:absolute;'
            f'margin-left:59.25pt;margin-top:1.5pt;width:270pt;height:{lines * 13}pt;z-index:{k};visibility:hidden" '
            'fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" '
            'obscured="t"/><v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"></div></v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/>'
            f"<x:SizeWithCells/><x:Anchor>{col + 1}, 15, {row}, 10, {col + 6}, 15, {row + lines}, 4</x:Anchor>"
            f"<x:AutoFill>False</x:AutoFill><x:Row>{row}</x:Row><x:Column>{col}</x:Column></x:ClientData>"
            "</v:shape>")
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel">'
            f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{block}"/></o:shapelayout>'
            '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
            '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
            + "".join(shapes) + "</xml>")
