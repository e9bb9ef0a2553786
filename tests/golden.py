"""Golden references: build the HQ workbooks, a template and a feedback file deterministically and
compare them, as readable text, with tests/golden/<workbook>/<file>.txt — one small file per sheet.

Rendering (:func:`golden_texts`): a workbook becomes ``{file name: text}``:

* ``<sheet>.txt`` per worksheet: one line per cell, ``A1 <value> [<style>]``, where the value is a
  string's ``repr`` (shared strings and inline strings resolved), a number as written, a formula
  as ``=<formula> → <cached value>``; the style is what the cell's format says beyond the
  workbook's default format (number format, font, fill, border, alignment, protection), resolved
  from styles.xml so an added style elsewhere does not renumber it. Rows with a height or
  another attribute get a ``row <n> …`` line. After the cells, the rest of the sheet's XML
  (columns, merged cells, validations, conditional formats, page set-up, protection …) and the
  parts the sheet refers to (tables, comments), one element per line, attributes sorted.
* ``<sheet> [drawing].txt`` per sheet with a drawing: the drawing and its charts (or VML).
* ``[workbook].txt`` (xl/workbook.xml: sheets, defined names), ``[styles].txt`` (xl/styles.xml),
  ``[docProps].txt`` and ``[package].txt`` (every other part: content types, relationships, the
  theme by sha256). Sheet names cannot contain ``[`` or ``]``, so these never clash with a sheet.

Volatile content is replaced by a fixed placeholder: ``dcterms:created`` / ``dcterms:modified``
of docProps/core.xml, ``AppVersion`` of docProps/app.xml and the kpisheet version wherever it
is written. Every part of the zip ends up in exactly one file, so nothing escapes comparison.

Comparing: :func:`golden_difference` names the workbook, the sheet (or part) and the first
differing line of each differing file, with a short unified diff of the first one.

Building: :func:`build_all` writes the golden workbooks (see :data:`GOLDEN_WORKBOOKS`) from a small
deterministic consolidation — tests.builders.sample values (seed 0) of BRANCHES through MONTH,
HQ's example settings, every file's time CREATED — with a fixed creation time, in a fixed time
zone. ``tests/test_golden.py`` renders them and compares with ``tests/golden/``;
``python tools/update_golden.py`` rewrites the files that changed after an intended change.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import os
import posixpath
import re
import shutil
import tempfile
import time
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from lxml import etree

GOLDEN_DIR = Path(__file__).resolve().with_name("golden")

#: Fixed creation time of every golden workbook (docProps and the 作成日 / 作成日時 cells).
CREATED = datetime(2024, 11, 5, 9, 30, 0, tzinfo=timezone.utc)
#: Time zone the goldens are built in (概要 shows 作成日時 in local time).
TIME_ZONE = "UTC"
FISCAL_YEAR = 2024
#: October: the first half-year is closed, so half-yearly KPIs and those with a data lag have results.
MONTH = date(2024, 10, 1)
#: Branches of the small consolidation; the feedback golden is that of FEEDBACK_BRANCH.
BRANCHES = ("11", "13", "27")
FEEDBACK_BRANCH = "11"
#: (branch, KPI) whose numerator exceeds its denominator in MONTH: the feedback lists a finding.
NUMERATOR_OVER = ("11", "K6-2-01")

#: The golden workbooks; each has its folder tests/golden/<name>/.
GOLDEN_WORKBOOKS = ("national", "lists", "plan_status", "template_11", "feedback_11")

PLACEHOLDER = "<volatile>"
_VOLATILE_TAGS = {
    "{http://purl.org/dc/terms/}created",
    "{http://purl.org/dc/terms/}modified",
    "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}AppVersion",
}
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DIFF_LINES = 24
WORKBOOK_FILE, STYLES_FILE, DOCPROPS_FILE, PACKAGE_FILE = "[workbook].txt", "[styles].txt", "[docProps].txt", "[package].txt"


# ================================================================ rendering
def golden_texts(path: Path, label: str | None = None) -> dict[str, str]:
    """{file name: text} of the workbook at `path` (see the module docstring); `label` names it in headers."""
    label = label or Path(path).name
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    used: set[str] = set()
    out: dict[str, str] = {}

    def take(part: str) -> bytes:
        used.add(part)
        return members[part]

    strings = _shared_strings(take("xl/sharedStrings.xml")) if "xl/sharedStrings.xml" in members else []
    styles = _Styles(etree.fromstring(take("xl/styles.xml"))) if "xl/styles.xml" in members else _Styles(None)
    for name, part, state in _sheets(members):
        head = f"# {label} sheet {name} ({part}{', ' + state if state else ''})"
        lines = [head, *_sheet_lines(take(part), strings, styles)]
        drawing: list[str] = []
        for rel_id, kind, target in _rels(members, part):
            used.add(_rels_name(part))
            lines.append(f"## relationship {rel_id} {kind} {target}")
            if target not in members:
                continue
            if kind in ("drawing", "vmlDrawing"):
                drawing += [f"## {kind} {target}", *_xml_lines(target, take(target))]
                for sub_id, sub_kind, sub_target in _rels(members, target):
                    used.add(_rels_name(target))
                    drawing.append(f"## relationship {sub_id} {sub_kind} {sub_target}")
                    if sub_target in members:
                        drawing += [f"## {sub_kind} {sub_target}", *_xml_lines(sub_target, take(sub_target))]
            else:
                lines += [f"## {kind} {target}", *_xml_lines(target, take(target))]
        out[f"{name}.txt"] = "\n".join(lines) + "\n"
        if drawing:
            out[f"{name} [drawing].txt"] = "\n".join([f"# {label} sheet {name}: drawing", *drawing]) + "\n"
    for file, parts, title in ((WORKBOOK_FILE, ["xl/workbook.xml"], "workbook.xml"),
                               (STYLES_FILE, ["xl/styles.xml"], "styles.xml"),
                               (DOCPROPS_FILE, sorted(p for p in members if p.startswith("docProps/")), "docProps")):
        lines = [f"# {label} {title}"]
        for part in parts:
            if part in members:
                lines += [f"## {part}", *_xml_lines(part, take(part))]
        out[file] = "\n".join(lines) + "\n"
    lines = [f"# {label} package (the other parts)"]
    for part in sorted(set(members) - used):
        lines += [f"## {part}", *_xml_lines(part, members[part])]
    out[PACKAGE_FILE] = "\n".join(lines) + "\n"
    return out


def _sheets(members: dict[str, bytes]) -> list[tuple[str, str, str]]:
    """(name, part, state) of every worksheet, in workbook order."""
    wb = etree.fromstring(members["xl/workbook.xml"])
    targets = {rel_id: target for rel_id, _, target in _rels(members, "xl/workbook.xml")}
    return [(s.get("name"), targets.get(s.get(f"{{{_NS_R}}}id"), ""), s.get("state") or "")
            for s in wb.iter("{*}sheet")]


def _rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _rels(members: dict[str, bytes], part: str) -> list[tuple[str, str, str]]:
    """(Id, type's last word, target part or external address) of the relationships of `part`."""
    data = members.get(_rels_name(part))
    if data is None:
        return []
    out = []
    for rel in etree.fromstring(data):
        target = rel.get("Target", "")
        if rel.get("TargetMode") != "External":
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(posixpath.dirname(part), target))
        out.append((rel.get("Id", ""), rel.get("Type", "").rsplit("/", 1)[-1], target))
    return sorted(out)


def _text(el: etree._Element) -> str:
    """The text of a string item (<si>, <is>): its <t> elements, phonetic runs left out."""
    return "".join(t.text or "" for t in el.iter("{*}t") if etree.QName(t.getparent()).localname != "rPh")


def _shared_strings(data: bytes) -> list[str]:
    """The shared strings as cell values: repr of the text, with the runs' formats when it is rich text."""
    out = []
    for si in etree.fromstring(data):
        runs = si.findall("{*}r")
        value = repr(_text(si))
        if runs:
            value += " rich(" + " | ".join(
                f"{_tokens(r.find('{*}rPr'))} {_text(r)!r}".strip() for r in runs) + ")"
        out.append(value)
    return out


def _token(el: etree._Element) -> str:
    """A compact token of an element: <sz val="14"/> → sz=14, <color rgb="FF…"/> → color=rgb:FF… (rich text runs)."""
    name = etree.QName(el).localname
    attrs = sorted(el.attrib.items())
    if [k for k, _ in attrs] == ["val"]:
        head = f"{name}={attrs[0][1]}"
    elif attrs:
        head = f"{name}=" + ",".join(f"{etree.QName(k).localname}:{v}" for k, v in attrs)
    else:
        head = name
    inner = _tokens(el)
    return f"{head}({inner})" if inner else head


def _tokens(el: etree._Element | None) -> str:
    return "" if el is None else " ".join(_token(c) for c in el if isinstance(c.tag, str))


def _color(el: etree._Element | None) -> str:
    """FF1F4E78, theme1, theme1+0.4, indexed10; '' for automatic / system colours."""
    if el is None or el.get("auto") or el.get("indexed") == "64":
        return ""
    tint = f"{float(el.get('tint')):+g}" if el.get("tint") else ""
    for key in ("rgb", "theme", "indexed"):
        if el.get(key) is not None:
            return (el.get(key) if key == "rgb" else f"{key}{el.get(key)}") + tint
    return ""


def _font_tokens(font: etree._Element) -> list[str]:
    out = []
    for child in font:
        if not isinstance(child.tag, str):
            continue
        tag, val = etree.QName(child).localname, child.get("val")
        if tag in ("family", "scheme", "charset"):  # the font's classification; stays in [styles].txt
            continue
        if tag == "color":
            out.append(f"color={_color(child) or 'auto'}")
        elif tag in ("b", "i", "strike", "outline", "shadow") and val in (None, "1", "true"):
            out.append(tag)
        elif tag in ("b", "i", "strike", "outline", "shadow"):
            continue
        elif tag == "sz":
            out.append(f"{val}pt")
        elif tag == "name":
            out.append(f"font={val}")
        else:
            out.append(f"{tag}={val}" if val is not None else tag)
    return out


def _fill_tokens(fill: etree._Element) -> list[str]:
    pattern = fill.find("{*}patternFill")
    if pattern is None:
        return [f"fill({_tokens(fill)})"] if len(fill) else []
    kind = pattern.get("patternType") or "none"
    if kind in ("none", "gray125"):
        return []
    fg, bg = _color(pattern.find("{*}fgColor")), _color(pattern.find("{*}bgColor"))
    if kind == "solid":
        return [f"fill={fg or 'auto'}"]
    return [f"fill={kind}:{fg or 'auto'}/{bg or 'auto'}"]


def _border_tokens(border: etree._Element) -> list[str]:
    sides = {}
    for child in border:
        if isinstance(child.tag, str) and child.get("style"):
            color = _color(child.find("{*}color"))
            sides[etree.QName(child).localname] = child.get("style") + (f":{color}" if color else "")
    flags = [f"{k}={v}" for k, v in sorted(border.attrib.items())]
    box = ("left", "right", "top", "bottom")
    if all(side in sides for side in box) and len({sides[side] for side in box}) == 1:
        return [f"border={sides['left']}"] + [f"{k}={v}" for k, v in sides.items() if k not in box] + flags
    return [f"{k}={v}" for k, v in sides.items()] + flags


_ALIGN = {"horizontal": "", "vertical": "v", "wrapText": "wrap", "shrinkToFit": "shrink"}


def _align_tokens(alignment: etree._Element | None) -> list[str]:
    if alignment is None:
        return []
    out = []
    for k, v in sorted(alignment.attrib.items()):
        if k in ("wrapText", "shrinkToFit"):
            if v in ("1", "true"):
                out.append(_ALIGN[k])
        elif k in ("horizontal", "vertical"):
            out.append(_ALIGN[k] + v)
        else:
            out.append(f"{k}={v}")
    return out


def _protection_tokens(protection: etree._Element | None) -> list[str]:
    if protection is None:
        return []
    out = []
    if protection.get("locked") in ("0", "false"):
        out.append("unlocked")
    if protection.get("hidden") in ("1", "true"):
        out.append("hidden")
    return out


def _key(token: str) -> str:
    """What a style token sets: 'color' for color=FF0000, 'size' for 12pt, the token itself for a flag."""
    return "size" if token.endswith("pt") and token[:-2].replace(".", "").isdigit() else token.split("=", 1)[0]


class _Styles:
    """Cell formats (xf) as short summaries of what differs from the default format (xf 0), e.g.
    ``fmt='0.0%' b 12pt color=FF1F4E78 fill=FFF2F2F2 border=thin vtop wrap unlocked``."""

    def __init__(self, root: etree._Element | None) -> None:
        self.summaries: list[str] = []
        if root is None:
            return
        from openpyxl.styles.numbers import BUILTIN_FORMATS

        def items(tag: str) -> list[etree._Element]:
            box = root.find(f"{{*}}{tag}")
            return [] if box is None else [c for c in box if isinstance(c.tag, str)]

        formats = {int(f.get("numFmtId")): f.get("formatCode") for f in items("numFmts")}
        fonts, fills, borders = items("fonts"), items("fills"), items("borders")

        def pick(elements: list[etree._Element], index: str | None) -> etree._Element | None:
            i = int(index or 0)
            return elements[i] if i < len(elements) else None

        def tokens(xf: etree._Element) -> list[str]:
            fmt_id = int(xf.get("numFmtId", "0"))
            out = [f"fmt={formats.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id) or f'#{fmt_id}'!r}"]
            font, fill, border = pick(fonts, xf.get("fontId")), pick(fills, xf.get("fillId")), pick(
                borders, xf.get("borderId"))
            out += _font_tokens(font) if font is not None else []
            out += _fill_tokens(fill) if fill is not None else []
            out += _border_tokens(border) if border is not None else []
            out += _align_tokens(xf.find("{*}alignment")) + _protection_tokens(xf.find("{*}protection"))
            out += [f"{k}={v}" for k, v in sorted(xf.attrib.items())  # quotePrefix, pivotButton when set
                    if not k.startswith("apply") and k not in ("numFmtId", "fontId", "fillId", "borderId", "xfId")
                    and v not in ("0", "false")]
            return out

        xfs = items("cellXfs")
        default = tokens(xfs[0]) if xfs else []
        for xf in xfs:
            mine = tokens(xf)
            keys = {_key(t) for t in mine}  # 12pt replaces the default 10pt: no "-10pt"
            self.summaries.append(" ".join([t for t in mine if t not in default]
                                           + [f"-{t}" for t in default if t not in mine and _key(t) not in keys]))

    def summary(self, index: str | None) -> str:
        """' [<summary>]', or '' for the default format."""
        i = int(index or 0)
        text = self.summaries[i] if i < len(self.summaries) else f"style {i}?"
        return f" [{text}]" if text else ""


def _sheet_lines(data: bytes, strings: list[str], styles: _Styles) -> list[str]:
    """A worksheet: its cells one a line, then its other elements normalised."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True))
    cells: list[str] = []
    rest: list[str] = []
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).localname != "sheetData":
            _lines(child, 0, rest)
            continue
        for row in child:
            attrs = {k: v for k, v in row.attrib.items() if k not in ("r", "spans")}
            if "s" in attrs:
                attrs["s"] = f"[{styles.summary(attrs['s']).strip(' []')}]"
            if attrs:
                cells.append(f"row {row.get('r')} " + " ".join(f"{k}={v}" for k, v in sorted(attrs.items())))
            for c in row:
                cells.append(_unversioned(_cell_line(c, strings, styles)))
    return ["## cells", *cells, "## sheet XML besides the cells", *(_unversioned(line) for line in rest)]


def _cell_line(c: etree._Element, strings: list[str], styles: _Styles) -> str:
    kind = c.get("t", "n")
    f, v, inline = c.find("{*}f"), c.find("{*}v"), c.find("{*}is")
    value = ""
    if kind == "s" and v is not None:
        i = int(v.text or 0)
        value = strings[i] if i < len(strings) else f"<shared string {i}?>"
    elif kind == "inlineStr" and inline is not None:
        value = repr(_text(inline))
    elif v is not None:
        value = repr(v.text or "") if kind == "str" else f"{'#' if kind == 'e' else ''}{v.text or ''}"
        if kind == "b":
            value = "TRUE" if v.text == "1" else "FALSE"
    if f is not None:
        extra = "".join(f" {{{k}={val}}}" for k, val in sorted(f.attrib.items()))
        value = f"={f.text or ''}{extra} → {value}" if value else f"={f.text or ''}{extra}"
    others = "".join(f" {{{k}={val}}}" for k, val in sorted(c.attrib.items()) if k not in ("r", "s", "t"))
    return f"{c.get('r')} {value}{others}{styles.summary(c.get('s'))}".replace("  ", " ").rstrip()


def _xml_lines(name: str, data: bytes) -> list[str]:
    """A part one element a line (attributes sorted, volatile text masked); not XML: its sha256."""
    if not name.endswith(_XML_SUFFIXES):
        return [f"sha256 {hashlib.sha256(data).hexdigest()} ({len(data)} bytes)"]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:  # not well-formed (legacy VML can be): compare its lines as written
        return [_unversioned(line) for line in data.decode("utf-8", "replace").splitlines()]
    lines: list[str] = []
    _lines(root, 0, lines)
    return [_unversioned(line) for line in lines]


def _lines(el: etree._Element, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    attrs = " ".join(f'{_qname(el, k)}="{v}"' for k, v in sorted(el.attrib.items()))
    out.append(f"{pad}<{_qname(el, el.tag)}{' ' + attrs if attrs else ''}>")
    text = PLACEHOLDER if el.tag in _VOLATILE_TAGS else el.text
    if text is not None and (text.strip() or len(el) == 0):
        out.append(f"{pad}  {text!r}")
    for child in el:
        if isinstance(child.tag, str):
            _lines(child, depth + 1, out)


def _qname(el: etree._Element, tag: str) -> str:
    """`{ns}local` as `prefix:local` with the prefix the document gives the namespace."""
    q = etree.QName(tag)
    if q.namespace is None:
        return q.localname
    prefix = next((p for p, uri in el.nsmap.items() if uri == q.namespace), None)
    if prefix is None and q.namespace == "http://www.w3.org/XML/1998/namespace":
        prefix = "xml"
    return f"{prefix}:{q.localname}" if prefix else q.localname if el.nsmap.get(None) == q.namespace else tag


def _unversioned(line: str) -> str:
    from kpisheet import __version__

    return line.replace(f"kpisheet {__version__}", "kpisheet <version>")


# ================================================================ comparing
def read_golden(workbook: str, golden_dir: Path = GOLDEN_DIR) -> dict[str, str]:
    """{file name: text} stored in golden_dir/<workbook>/ ({} when there is none)."""
    folder = Path(golden_dir) / workbook
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}


def golden_difference(workbook: str, actual: dict[str, str], golden: dict[str, str]) -> str:
    """'' when the rendered files `actual` of `workbook` equal `golden`; else a readable account naming the
    workbook, each differing sheet or part and its first differing line."""
    missing, extra = sorted(set(golden) - set(actual)), sorted(set(actual) - set(golden))
    differing = [name for name in golden if name in actual and actual[name] != golden[name]]
    if not (missing or extra or differing):
        return ""
    out = [f"{workbook}.xlsx differs from tests/golden/{workbook}/"]
    if missing:
        out.append(f"  missing (in golden only): {_few(missing)}")
    if extra:
        out.append(f"  extra (not in golden): {_few(extra)}")
    for name in differing:
        out.append("  " + first_difference(workbook, name, actual[name], golden[name]))
    if differing:
        first = differing[0]
        diff = list(difflib.unified_diff(golden[first].splitlines(), actual[first].splitlines(),
                                         f"golden/{workbook}/{first}", f"actual/{workbook}/{first}", n=2,
                                         lineterm=""))
        out += diff[:DIFF_LINES] + (["  ..."] if len(diff) > DIFF_LINES else [])
    return "\n".join(out)


def first_difference(workbook: str, name: str, actual: str, golden: str) -> str:
    """'<workbook>.xlsx, sheet <sheet>: line <n> …' for the first line where two renderings differ."""
    got, want = actual.splitlines(), golden.splitlines()
    n = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    what = describe(name)
    section = next((line for line in reversed(want[:n + 1]) if line.startswith("## ")), "")
    where = f" in {section[3:]}" if section and section != "## cells" and name not in (WORKBOOK_FILE, STYLES_FILE) else ""
    return (f"{workbook}.xlsx, {what}{where}: tests/golden/{workbook}/{name} differs at line {n + 1}\n"
            f"    golden: {want[n] if n < len(want) else '<end of file>'}\n"
            f"    actual: {got[n] if n < len(got) else '<end of file>'}")


def describe(name: str) -> str:
    """What a golden file holds: 'sheet 概要', 'sheet 月次推移 (drawing)', 'styles', …"""
    special = {WORKBOOK_FILE: "workbook.xml", STYLES_FILE: "styles", DOCPROPS_FILE: "document properties",
               PACKAGE_FILE: "package parts"}
    if name in special:
        return special[name]
    stem = name.removesuffix(".txt")
    return f"sheet {stem.removesuffix(' [drawing]')} (drawing)" if stem.endswith(" [drawing]") else f"sheet {stem}"


def _few(names: list[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{names[:shown]}{more}"


def rewrite_part(src: Path, dst: Path, part: str | None, change: Callable[[bytes], bytes] | None) -> Path:
    """Copy the zip `src` to `dst` with `part` changed by `change` (or left out when `change` is None)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                if change is None:
                    continue
                data = change(data)
            zout.writestr(info, data)
    return dst


# ================================================================ building
@contextlib.contextmanager
def fixed_time_zone(name: str = TIME_ZONE) -> Iterator[None]:
    """Run the body with TZ=`name` (restored afterwards), so local-time cells do not depend on the machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def build_template(outdir: Path) -> Path:
    """The FY2024 template of branch FEEDBACK_BRANCH, made at CREATED."""
    from kpisheet.domain.settings import example_settings
    from kpisheet.template.build import generate

    result = generate(FISCAL_YEAR, [FEEDBACK_BRANCH], Path(outdir), generated_at=CREATED, force=True,
                      settings=example_settings())
    return result.paths[0]


def build_inbox(work: Path) -> Path:
    """work/inbox: the BRANCHES' templates filled with tests.builders.sample values (seed 0) through MONTH."""
    from kpisheet.domain.catalogue import catalogue_for_fy
    from kpisheet.domain.settings import example_settings
    from kpisheet.read.names import kpi_key
    from kpisheet.template.build import generate
    from tests.builders.sample import fill_by_names, sample_values

    templates = generate(FISCAL_YEAR, list(BRANCHES), work / "templates", generated_at=CREATED, force=True,
                         settings=example_settings())
    inbox = work / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    cat = catalogue_for_fy(FISCAL_YEAR)
    stamp = CREATED.timestamp()
    for tpl in templates.paths:
        code = tpl.name[:2]
        values = sample_values(cat, FISCAL_YEAR, code, MONTH, seed=0)
        if code == NUMERATOR_OVER[0]:
            kpi_id = NUMERATOR_OVER[1]
            values[kpi_key(kpi_id, "num", MONTH).name] = values[kpi_key(kpi_id, "den", MONTH).name] + 5
        out = inbox / tpl.name
        fill_by_names(tpl, out, values)
        _settle(out)
        os.utime(out, (stamp, stamp))
    return inbox


def _settle(path: Path) -> None:
    """Give a workbook saved by openpyxl fixed zip timestamps and document dates (its sha256 is shown)."""
    stamp = CREATED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, body)
            zout.writestr(zipfile.ZipInfo(info.filename, CREATED.timetuple()[:6]), body, zipfile.ZIP_DEFLATED)


def build_outputs(work: Path) -> dict[str, Path]:
    """The HQ workbooks and the feedback workbook of FEEDBACK_BRANCH of the small consolidation, under `work`,
    by golden workbook name."""
    from kpisheet.month import consolidate
    from kpisheet.domain.settings import example_settings
    from kpisheet.write.outputs import write_outputs

    inbox = build_inbox(work)
    cons = consolidate(inbox, fiscal_year=FISCAL_YEAR, month=MONTH, settings=example_settings())
    written = write_outputs(cons, work / "out", force=True, parallel=False, created=CREATED)
    def named(prefix: str) -> Path:
        return next(p for p in written.paths if p.parent.name == "out" and p.name.startswith(prefix))

    return {"national": named("national_"), "lists": named("全支部_評価一覧_"),
            "plan_status": named("全支部_実施状況_"),
            "feedback_11": next(p for p in written.paths
                                     if p.parent.name == "feedback" and p.name.startswith(FEEDBACK_BRANCH))}


def build_all(outdir: Path) -> dict[str, Path]:
    """Build every golden workbook into `outdir` as {workbook: path of <workbook>.xlsx} (see GOLDEN_WORKBOOKS)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kpisheet-golden-"))
    try:
        with fixed_time_zone():
            built = build_outputs(work)
            built["template_11"] = build_template(work / "template")
            return {name: Path(shutil.copyfile(built[name], outdir / f"{name}.xlsx")) for name in GOLDEN_WORKBOOKS}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render_all(built: dict[str, Path]) -> dict[str, dict[str, str]]:
    """{workbook: {file name: text}} of the workbooks `build_all` made."""
    return {name: golden_texts(path, f"{name}.xlsx") for name, path in built.items()}
