"""Branch feedback: `feedback/<code>_<支部名>_FY2024_2024-10_確認事項.xlsx`.

A copy of the branch's own workbook with every finding's cell highlighted and a
comment saying what to fix, plus a first sheet 確認事項 that lists the findings
(sheet, cell, message) and the branch's own marks beside the national figures.

How the copy is made.  The branch's file is never modified.  Its bytes are
copied and patched as a zip (see "patching the original bytes" below): only
styles.xml, the flagged sheets, workbook.xml, the rels and the content types
change, and comment parts plus the 確認事項 sheet are added.  Everything else
the branch's Excel or LibreOffice wrote (images, charts, extensions, data
validations, protection, defined names) stays byte for byte, and it takes a few
milliseconds per file.  openpyxl load-and-save was measured first: about 0.3 s
per file (15 s for 47 branches) and it drops images, charts and x14 extension
lists a branch's Excel may add.  It remains only as a fallback for a workbook
whose XML is not shaped as expected; then the 確認事項 sheet says what the copy
lacks.
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from .catalogue import branch
from .consolidation import Consolidation
from .fileio import atomic_path
from .findings import Finding
from .fiscal import wareki_fiscal_year, wareki_month
from .model import Submission
from .report import FONT, MARK_COLOURS, text_lines
from .xlsx_cells import column_letter

SHEET = "確認事項"


def feedback_path(cons: Consolidation, sub: Submission, outdir: Path) -> Path:
    code = sub.branch_code or "xx"
    try:
        name = branch(code).display_name
    except KeyError:
        name = sub.branch_name or "不明"
    return Path(outdir) / "feedback" / f"{code}_{name}_FY{cons.fiscal_year}_{cons.month_key}_確認事項.xlsx"


def branch_findings(cons: Consolidation, sub: Submission) -> list[Finding]:
    return [f for f in cons.findings if f.file == sub.path or (f.file is None and f.branch == sub.branch_code)]


def write_feedback(cons: Consolidation, sub: Submission, outdir: Path, *, force: bool) -> Path:
    """Write one branch's feedback workbook atomically; return its path."""
    final = feedback_path(cons, sub, outdir)
    findings = branch_findings(cons, sub)
    try:
        data = patch_workbook(Path(sub.path).read_bytes(), cons, sub, findings)
    except (_PatchError, zipfile.BadZipFile, KeyError, ValueError, OSError):
        data = None
    with atomic_path(final, force=force) as tmp:
        if data is not None:
            tmp.write_bytes(data)
        else:
            _openpyxl_feedback(cons, sub, findings, tmp)
    return final


# ================================================================ the 確認事項 sheet, as data
Cell = tuple[int, int, Any, Any]  # (row, col, value, style key: "title" | "text" | ("mark", "◎") ...)
WIDTHS = [8, 64, 14, 14, 8, 8, 14, 10]


def summary_cells(cons: Consolidation, sub: Submission, findings: list[Finding],
                  notes: list[str] = ()) -> tuple[list[Cell], int]:
    """Cells of the 確認事項 sheet and the row its findings table starts on (frozen under)."""
    name = feedback_path(cons, sub, Path(".")).name.split("_")[1]
    cells: list[Cell] = [(1, 1, f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画KPI 確認事項"
                                f"（{name}・{wareki_month(cons.month)}分）", "title")]
    n_err = sum(1 for f in findings if f.is_error)
    lines = [f"提出ファイル：{Path(sub.path).name}",
             f"エラー {n_err}件 ／ 警告 {len(findings) - n_err}件。エラーの値は全国集計から除外しています。"
             "該当セルを色付けし（赤：エラー、黄：警告）、セルのコメントに直し方を書いています。",
             "修正は支部の元のブックで行い、再提出してください。", *notes]
    cells += [(2 + i, 1, line, "plain") for i, line in enumerate(lines)]
    row = len(lines) + 3
    cells.append((row, 1, "1. 指摘事項", "bold"))
    row += 1
    cells += [(row, c, t, "head") for c, t in enumerate(["No", "内容（直し方）", "シート", "セル", "コード", "重要度"], 1)]
    head_row = row
    for i, f in enumerate(findings, 1):
        row += 1
        cells += [(row, 1, i, "text"), (row, 2, f.text_ja, "text"), (row, 3, f.sheet or "", "text"),
                  (row, 4, f.cell or "", "text"), (row, 5, f.code, "text"),
                  (row, 6, "エラー" if f.is_error else "警告", "error" if f.is_error else "warning")]
    if not findings:
        row += 1
        cells.append((row, 1, "指摘事項はありません。", "plain"))
    row += 2
    cells.append((row, 1, "2. 自支部の結果と全国", "bold"))
    row += 1
    cells += [(row, c, t, "head") for c, t in
              enumerate(["KPI ID", "KPI", "目標", "自支部の値", "結果", "順位", "全国値", "全国の結果"], 1)]
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        n = cons.national.get(kpi.id)
        mark = bk.rating.mark if bk else "—"
        nmark = n.rating.mark if n else "—"
        if kpi.kind == "qualitative":
            target, value, national = kpi.target.text or "", (bk.text if bk else "") or "—", "—"
        else:
            target = (kpi.format_value(bk.annual_target) if bk and bk.annual_target is not None
                      else (bk.target_basis if bk else "—"))
            value = kpi.format_value(bk.value) if bk else "—"
            if bk and bk.value is None and bk.rating.reason_code:
                value = f"—（{bk.rating.reason_ja}）"
            national = kpi.format_value(n.value) if n else "—"
        row += 1
        cells += [(row, 1, kpi.id, "text"), (row, 2, kpi.label, "text"), (row, 3, target, "text"),
                  (row, 4, value, "text"), (row, 5, mark, ("mark", mark)),
                  (row, 6, bk.rank if bk and bk.rank else "", "centre"), (row, 7, national, "text"),
                  (row, 8, nmark, ("mark", nmark))]
    return cells, head_row + 1


# ================================================================ fallback: openpyxl
# (imported only here: the patch path below needs no openpyxl, and the CLI's start-up should not pay for it)
ERROR_RGB, WARNING_RGB, HEAD_RGB, BOX_RGB = "FFC7CE", "FFEB9C", "1F4E78", "808080"
# parts openpyxl does not carry over when it loads and saves a workbook
_DROPPED_PARTS = ("xl/media/", "xl/charts/", "xl/drawings/drawing", "xl/pivot", "xl/slicer", "xl/vbaProject")


def _openpyxl_feedback(cons: Consolidation, sub: Submission, findings: list[Finding], out: Path) -> None:
    import openpyxl

    notes: list[str] = []
    try:
        with zipfile.ZipFile(sub.path) as z:
            names = z.namelist()
        wb = openpyxl.load_workbook(sub.path, keep_vba=False, keep_links=False, rich_text=True)
        dropped = sorted({p for p in _DROPPED_PARTS for n in names if n.startswith(p)})
        if dropped:
            notes.append("※ 元のブックにある図・グラフ等はこの確認用の写しには含まれていません（" + "、".join(dropped) + "）。")
        _annotate(wb, findings)
    except Exception:  # noqa: BLE001 - any unreadable file: the feedback lists the findings only
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        notes.append("※ 提出ファイルを開けなかったため、確認事項のみを記載しています。")
    ws = wb.create_sheet(SHEET, 0)
    cells, freeze = summary_cells(cons, sub, findings, notes)
    for row, col, value, style in cells:
        c = ws.cell(row=row, column=col)
        c.value = value
        if isinstance(value, str):
            c.data_type = "s"  # branch text stays text ("=1+1" is not a formula)
        _openpyxl_style(c, style)
    for col, width in enumerate(WIDTHS, 1):
        ws.column_dimensions[column_letter(col)].width = width
    ws.freeze_panes = f"A{freeze}"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", 9
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.active = 0
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False
    wb.save(out)


def _openpyxl_style(c: Any, style: Any) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    key, mark = (style[0], style[1]) if isinstance(style, tuple) else (style, None)
    c.font = Font(name=FONT, size=14 if key == "title" else 10, bold=key in ("title", "bold", "head", "mark"),
                  color="FFFFFF" if key == "head" else None)
    if key in ("title", "plain", "bold"):
        return
    thin = Side(style="thin", color=BOX_RGB)
    c.border = Border(left=thin, right=thin, top=thin, bottom=thin)
    c.alignment = Alignment(wrap_text=True, vertical="top",
                            horizontal="center" if key in ("head", "mark", "centre") else None)
    fills = {"head": HEAD_RGB, "error": ERROR_RGB, "warning": WARNING_RGB}
    colour = MARK_COLOURS.get(mark or "", "")[1:] if key == "mark" else fills.get(key)
    if colour:
        c.fill = PatternFill("solid", fgColor=colour)


def _annotate(wb: Any, findings: list[Finding]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    for (sheet, ref), items in _by_cell(findings, wb.sheetnames).items():
        try:
            cell = wb[sheet][ref]
        except (ValueError, KeyError):
            continue
        cell.fill = PatternFill("solid", fgColor=ERROR_RGB if any(f.is_error for f in items) else WARNING_RGB)
        text = _comment_text(items)
        comment = Comment(text, "kpisheet")
        comment.width, comment.height = 360, min(60 + 18 * (len(text) // 24 + len(items)), 400)
        cell.comment = comment


def _by_cell(findings: list[Finding], sheets: list[str]) -> dict[tuple[str, str], list[Finding]]:
    out: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.sheet and f.cell and f.sheet in sheets and re.fullmatch(r"[A-Z]{1,3}[1-9][0-9]{0,6}", f.cell):
            out.setdefault((f.sheet, f.cell), []).append(f)
    return out


def _comment_text(items: list[Finding]) -> str:
    text = "\n".join(f"【{f.code} {'エラー' if f.is_error else '警告'}】{f.text_ja}" for f in items)
    return text[:2000]


# ================================================================ patching the original bytes
# The fast, lossless path: the branch's own file is copied byte for byte and only
# these parts change: styles.xml (fills/fonts/borders/xfs appended), the sheets
# with findings (the s= style of flagged cells; a legacyDrawing for comments),
# new comments/VML parts, workbook.xml (+ the 確認事項 sheet first, localSheetId
# shifted by one), its rels and [Content_Types].xml.  Images, charts, pivot
# tables and anything else the branch added stay untouched.  Anything
# unexpected raises _PatchError and write_feedback falls back to openpyxl.

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
REL_WS = REL_NS + "/worksheet"
REL_COMMENTS = REL_NS + "/comments"
REL_VML = REL_NS + "/vmlDrawing"
CT_WS = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class _PatchError(Exception):
    """The workbook's XML is not shaped as expected; use the openpyxl path instead."""


def _esc(text: str) -> str:
    return html.escape(_BAD_XML_CHARS.sub("", text), quote=True)


def _attr(tag: str, name: str) -> str | None:
    m = re.search(rf'\s{name}="([^"]*)"', tag)
    return html.unescape(m.group(1)) if m else None


def _set_attr(tag: str, name: str, value: str) -> str:
    if re.search(rf'\s{name}="[^"]*"', tag):
        return re.sub(rf'(\s{name}=)"[^"]*"', rf'\g<1>"{value}"', tag, count=1)
    end = "/>" if tag.endswith("/>") else ">"
    return tag[: -len(end)].rstrip() + f' {name}="{value}"' + end


class _Styles:
    """Appends fills, fonts, borders and cell formats to styles.xml."""

    def __init__(self, xml: str):
        self.xml = xml
        self.xfs = self._items("cellXfs", "xf")
        self.new_xfs: list[str] = []
        self.added: dict[str, list[str]] = {"fonts": [], "fills": [], "borders": []}
        self.base = {"fonts": len(self._items("fonts", "font")), "fills": len(self._items("fills", "fill")),
                     "borders": len(self._items("borders", "border"))}
        self._clones: dict[tuple[int, int], int] = {}

    def _block(self, name: str) -> re.Match[str]:
        m = re.search(rf"<{name}\b[^>]*>(.*?)</{name}>", self.xml, re.S)
        if not m:
            raise _PatchError(f"styles.xml has no <{name}>")
        return m

    def _items(self, block: str, item: str) -> list[str]:
        body = self._block(block).group(1)
        return re.findall(rf"<{item}\b(?:[^>]*/>|[^>]*>.*?</{item}>)", body, re.S)

    def add(self, kind: str, xml: str) -> int:
        self.added[kind].append(xml)
        return self.base[kind] + len(self.added[kind]) - 1

    def xf(self, xml: str) -> int:
        self.new_xfs.append(xml)
        return len(self.xfs) + len(self.new_xfs) - 1

    def with_fill(self, s: int, fill_id: int) -> int:
        """A copy of cell format s with another fill (kept number format, font, protection)."""
        key = (s, fill_id)
        if key not in self._clones:
            if s >= len(self.xfs):
                raise _PatchError(f"style index {s} out of range")
            src = self.xfs[s]
            head = re.match(r"<xf\b[^>]*>", src)
            assert head is not None
            tag = _set_attr(_set_attr(head.group(0), "fillId", str(fill_id)), "applyFill", "1")
            self._clones[key] = self.xf(tag + src[head.end():])
        return self._clones[key]

    def render(self) -> str:
        xml = self.xml
        for block, item in (("fonts", "fonts"), ("fills", "fills"), ("borders", "borders")):
            xml = self._append(xml, block, self.added[item], self.base[item])
        return self._append(xml, "cellXfs", self.new_xfs, len(self.xfs))

    @staticmethod
    def _append(xml: str, block: str, items: list[str], before: int) -> str:
        if not items:
            return xml
        m = re.search(rf"(<{block}\b[^>]*>)(.*?)(</{block}>)", xml, re.S)
        assert m is not None
        open_tag = _set_attr(m.group(1), "count", str(before + len(items)))
        return xml[: m.start()] + open_tag + m.group(2) + "".join(items) + m.group(3) + xml[m.end():]


def _font(size: int = 10, bold: bool = False, colour: str | None = None) -> str:
    colour_xml = f'<color rgb="FF{colour}"/>' if colour else ""
    bold_xml = "<b/>" if bold else ""
    return f'<font>{bold_xml}<sz val="{size}"/>{colour_xml}<name val="{FONT}"/><charset val="128"/></font>'


def _fill(rgb: str) -> str:
    return f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/></patternFill></fill>'


_BOX = ('<border><left style="thin"><color rgb="FF808080"/></left><right style="thin"><color rgb="FF808080"/></right>'
        '<top style="thin"><color rgb="FF808080"/></top><bottom style="thin"><color rgb="FF808080"/></bottom>'
        '<diagonal/></border>')


class _SummaryStyles:
    """Cell format ids for the 確認事項 sheet and the highlight fills."""

    def __init__(self, st: _Styles):
        f_text, f_bold = st.add("fonts", _font()), st.add("fonts", _font(bold=True))
        f_head, f_title = st.add("fonts", _font(bold=True, colour="FFFFFF")), st.add("fonts", _font(14, True))
        box = st.add("borders", _BOX)
        self.error_fill, self.warning_fill = st.add("fills", _fill("FFC7CE")), st.add("fills", _fill("FFEB9C"))
        head_fill = st.add("fills", _fill("1F4E78"))
        top = '<alignment vertical="top" wrapText="1"/>'

        def xf(font: int, fill: int = 0, border: int = 0, align: str = top) -> int:
            return st.xf(f'<xf numFmtId="0" fontId="{font}" fillId="{fill}" borderId="{border}" xfId="0" '
                         f'applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1">{align}</xf>')

        self.title, self.plain, self.bold = xf(f_title, align=""), xf(f_text, align=""), xf(f_bold, align="")
        self.centre = xf(f_text, border=box, align='<alignment horizontal="center" vertical="top"/>')
        self.text = xf(f_text, border=box)
        self.head = xf(f_head, head_fill, box, '<alignment horizontal="center" vertical="center" wrapText="1"/>')
        self.error, self.warning = xf(f_text, self.error_fill, box), xf(f_text, self.warning_fill, box)
        centre = '<alignment horizontal="center" vertical="top"/>'
        self.marks = {m: xf(f_bold, st.add("fills", _fill(c[1:])), box, centre) for m, c in MARK_COLOURS.items()}


class _SheetXml:
    """The rows of the 確認事項 sheet as worksheet XML (inline strings: text stays text)."""

    def __init__(self) -> None:
        self.rows: dict[int, list[str]] = {}
        self.heights: dict[int, int] = {}

    def put(self, row: int, col: int, value: Any, style: int, width: float | None = None) -> None:
        ref = f"{column_letter(col)}{row}"
        if width and isinstance(value, str):
            self.heights[row] = max(self.heights.get(row, 1), min(10, text_lines(value, width)))
        if value is None or value == "":
            cell = f'<c r="{ref}" s="{style}"/>'
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            cell = f'<c r="{ref}" s="{style}"><v>{value}</v></c>'
        else:
            cell = (f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{_esc(str(value))}'
                    f"</t></is></c>")
        self.rows.setdefault(row, []).append(cell)

    def _height(self, row: int) -> str:
        lines = self.heights.get(row, 1)
        return f' ht="{13.5 * lines}" customHeight="1"' if lines > 1 else ""

    def render(self, widths: list[float], freeze_row: int | None) -> str:
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, 1))
        pane = (f'<pane ySplit="{freeze_row - 1}" topLeftCell="A{freeze_row}" activePane="bottomLeft" '
                f'state="frozen"/>' if freeze_row else "")
        rows = "".join(f'<row r="{r}"{self._height(r)}>{"".join(cells)}</row>' for r, cells in sorted(self.rows.items()))
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'xmlns:r="{REL_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
                f'<sheetViews><sheetView tabSelected="1" workbookViewId="0">{pane}</sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>{rows}</sheetData>'
                '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
                '<pageSetup paperSize="9" orientation="landscape" fitToHeight="0"/></worksheet>')


def _comments_xml(items: list[tuple[str, str]]) -> str:
    body = "".join(f'<comment ref="{ref}" authorId="0"><text><r><rPr><sz val="9"/><rFont val="{FONT}"/></rPr>'
                   f'<t xml:space="preserve">{_esc(text)}</t></r></text></comment>' for ref, text in items)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<authors><author>kpisheet</author></authors><commentList>{body}</commentList></comments>")


def _vml_xml(items: list[tuple[str, str]], block: int) -> str:
    shapes = []
    for k, (ref, text) in enumerate(items, 1):
        col = sum((ord(ch) - 64) * 26 ** i for i, ch in enumerate(reversed(re.sub(r"\d", "", ref)))) - 1
        row = int(re.sub(r"\D", "", ref)) - 1
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


def _rels_add(xml: str | None, rels: list[tuple[str, str, str]]) -> str:
    xml = xml or ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                  "</Relationships>")
    items = "".join(f'<Relationship Id="{i}" Type="{t}" Target="{target}"/>' for i, t, target in rels)
    if "</Relationships>" not in xml:
        raise _PatchError("rels without </Relationships>")
    return xml.replace("</Relationships>", items + "</Relationships>", 1)


def _part_path(target: str, base: str = "xl/") -> str:
    if target.startswith("/"):
        return target[1:]
    parts: list[str] = []
    for piece in (base + target).split("/"):
        if piece == "..":
            parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


_BEFORE_LEGACY = ("<legacyDrawingHF", "<picture", "<oleObjects", "<controls", "<webPublishItems", "<tableParts",
                  "<extLst", "</worksheet>")


def _patch_sheet(xml: str, flagged: dict[str, list[Finding]], st: _Styles, ss: _SummaryStyles,
                 legacy_rid: str | None) -> str:
    for ref, items in flagged.items():
        m = re.search(rf'<c r="{ref}"(?=[\s/>])[^>]*?/?>', xml)
        if not m:
            continue  # an empty, unstyled cell has no element; the comment still marks it
        tag = m.group(0)
        s = int(_attr(tag, "s") or 0)
        fill = ss.error_fill if any(f.is_error for f in items) else ss.warning_fill
        xml = xml[: m.start()] + _set_attr(tag, "s", str(st.with_fill(s, fill))) + xml[m.end():]
    if legacy_rid:
        pos = min((i for i in (xml.find(t) for t in _BEFORE_LEGACY) if i >= 0), default=-1)
        if pos < 0:
            raise _PatchError("worksheet without </worksheet>")
        xml = xml[:pos] + f'<legacyDrawing xmlns:r="{REL_NS}" r:id="{legacy_rid}"/>' + xml[pos:]
    return xml


def patch_workbook(data: bytes, cons: Consolidation, sub: Submission, findings: list[Finding]) -> bytes:
    """The feedback workbook as bytes: the branch's file patched with highlights, comments and 確認事項."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    parts = _LazyParts(zin)
    text = {n: parts[n].decode("utf-8") for n in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                                                  "[Content_Types].xml", "xl/styles.xml")}
    wb_xml = text["xl/workbook.xml"]
    sheets_open = re.search(r"<sheets>", wb_xml)
    sheet_tags = re.findall(r"<sheet\b[^>]*/>", wb_xml)
    if not sheets_open or not sheet_tags:
        raise _PatchError("workbook.xml without <sheets>")
    prefix_m = re.search(r"\s(\w+):id=\"", sheet_tags[0])
    if not prefix_m:
        raise _PatchError("sheet without r:id")
    prefix = prefix_m.group(1)
    targets = {m.group(2): m.group(1) for m in re.finditer(
        r'<Relationship\b(?=[^>]*\bTarget="([^"]*)")(?=[^>]*\bId="([^"]*)")[^>]*/>', text["xl/_rels/workbook.xml.rels"])}
    sheet_parts = {_attr(t, "name") or "": _part_path(targets[_attr(t, f"{prefix}:id") or ""]) for t in sheet_tags}
    st = _Styles(text["xl/styles.xml"])
    ss = _SummaryStyles(st)
    changed: dict[str, str] = {}
    content_types = text["[Content_Types].xml"]
    by_cell = _by_cell(findings, list(sheet_parts))
    for block, (sheet, part) in enumerate(sheet_parts.items(), start=1):
        original = parts[part].decode("utf-8")
        xml = re.sub(r'\stabSelected="(1|true)"', "", original)
        flagged = {ref: items for (s, ref), items in by_cell.items() if s == sheet}
        legacy = None
        if flagged and "<legacyDrawing " not in xml and "<legacyDrawing>" not in xml:
            legacy = "rIdKpisheetVml"
            name = part.rsplit("/", 1)[1].removesuffix(".xml")
            comments = [(ref, _comment_text(items)) for ref, items in flagged.items()]
            changed[f"xl/kpisheet_comments_{name}.xml"] = _comments_xml(comments)
            changed[f"xl/drawings/kpisheet_vml_{name}.vml"] = _vml_xml(comments, block)
            rels_path = part.rsplit("/", 1)[0] + f"/_rels/{name}.xml.rels"
            old = parts.get(rels_path)
            changed[rels_path] = _rels_add(old.decode("utf-8") if old else None, [
                ("rIdKpisheetComments", REL_COMMENTS, f"/xl/kpisheet_comments_{name}.xml"),
                (legacy, REL_VML, f"/xl/drawings/kpisheet_vml_{name}.vml")])
            content_types = content_types.replace("</Types>", f'<Override PartName="/xl/kpisheet_comments_{name}.xml" '
                                                  f'ContentType="{CT_COMMENTS}"/></Types>')
            if 'Extension="vml"' not in content_types:
                content_types = content_types.replace("</Types>", f'<Default Extension="vml" ContentType="{CT_VML}"/>'
                                                      "</Types>")
        if flagged or xml != original:
            changed[part] = _patch_sheet(xml, flagged, st, ss, legacy)
    # the 確認事項 sheet, first
    sheet_name = SHEET if SHEET not in sheet_parts else f"{SHEET}（kpisheet）"
    cells, freeze = summary_cells(cons, sub, findings)
    sx = _SheetXml()
    for row, col, value, style in cells:
        sid = ss.marks.get(style[1], ss.text) if isinstance(style, tuple) else getattr(ss, style)
        sx.put(row, col, value, sid, WIDTHS[col - 1] if style in ("text", "error", "warning") else None)
    changed["xl/worksheets/kpisheet_feedback.xml"] = sx.render(WIDTHS, freeze)
    next_id = 1 + max(int(_attr(t, "sheetId") or 0) for t in sheet_tags)
    wb_xml = re.sub(r'localSheetId="(\d+)"', lambda m: f'localSheetId="{int(m.group(1)) + 1}"', wb_xml)
    wb_xml = re.sub(r'\s(activeTab|firstSheet)="\d+"', "", wb_xml)
    wb_xml = wb_xml.replace("<sheets>", f'<sheets><sheet name="{_esc(sheet_name)}" sheetId="{next_id}" '
                            f'{prefix}:id="rIdKpisheetFeedback"/>', 1)
    changed["xl/workbook.xml"] = wb_xml
    changed["xl/_rels/workbook.xml.rels"] = _rels_add(text["xl/_rels/workbook.xml.rels"], [
        ("rIdKpisheetFeedback", REL_WS, "/xl/worksheets/kpisheet_feedback.xml")])
    changed["[Content_Types].xml"] = content_types.replace(
        "</Types>", f'<Override PartName="/xl/worksheets/kpisheet_feedback.xml" ContentType="{CT_WS}"/></Types>')
    changed["xl/styles.xml"] = st.render()
    return _rezip(data, zin, changed)


class _LazyParts:
    """Members of the branch's zip, inflated only when asked for (most are copied as they are)."""

    def __init__(self, zin: zipfile.ZipFile):
        self.zin = zin
        self._read: dict[str, bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self._read:
            self._read[name] = self.zin.read(name)
        return self._read[name]

    def get(self, name: str) -> bytes | None:
        try:
            return self[name]
        except KeyError:
            return None


# ---------------------------------------------------------------- writing the zip
# Unchanged members are copied as their compressed bytes (no inflate + deflate:
# that was half the time of a feedback file); changed and new members are
# deflated.  The zip is written here rather than through zipfile because
# zipfile can only add members by compressing them.  Dates: a replaced member
# keeps the original's, a new one gets 1980-01-01, so the same inputs give the
# same bytes.
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_NEW_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)


def _dos_time(dt: tuple[int, ...]) -> tuple[int, int]:
    return (dt[3] << 11 | dt[4] << 5 | dt[5] // 2), ((dt[0] - 1980) << 9 | dt[1] << 5 | dt[2])


def _deflate(raw: bytes) -> bytes:
    # level 1: a third of level 6's time for ~20% larger files (~55 KB instead of ~45 KB per branch)
    z = zlib.compressobj(1, zlib.DEFLATED, -15)
    return z.compress(raw) + z.flush()


def _rezip(data: bytes, zin: zipfile.ZipFile, changed: dict[str, str]) -> bytes:
    members: list[tuple[str, tuple[int, ...], int, int, int, bytes]] = []  # name, time, method, crc, size, bytes
    for info in zin.infolist():
        if info.filename in changed:
            raw = changed.pop(info.filename).encode("utf-8")
            members.append((info.filename, info.date_time, 8, zlib.crc32(raw), len(raw), _deflate(raw)))
            continue
        if info.flag_bits & 0x1 or info.compress_type not in (0, 8):
            raise _PatchError(f"{info.filename}: encrypted or unusual compression")
        head = data[info.header_offset: info.header_offset + _LOCAL.size]
        if len(head) < _LOCAL.size or head[:4] != b"PK\x03\x04":
            raise _PatchError(f"{info.filename}: no local header")
        name_len, extra_len = struct.unpack("<2H", head[26:30])
        start = info.header_offset + _LOCAL.size + name_len + extra_len
        members.append((info.filename, info.date_time, info.compress_type, info.CRC, info.file_size,
                        data[start: start + info.compress_size]))
    for name, xml in changed.items():
        raw = xml.encode("utf-8")
        members.append((name, _NEW_MEMBER_TIME, 8, zlib.crc32(raw), len(raw), _deflate(raw)))
    if len(members) >= 0xFFFF or any(m[4] >= 0xFFFFFFFF for m in members) or len(data) >= 0x7FFFFFFF:
        raise _PatchError("zip64 workbook")
    out = io.BytesIO()
    central = []
    for name, dt, method, crc, size, body in members:
        offset = out.tell()
        encoded = name.encode("utf-8")
        flags = 0 if encoded.isascii() else 0x800
        dos_time, dos_date = _dos_time(dt)
        out.write(_LOCAL.pack(b"PK\x03\x04", 20, flags, method, dos_time, dos_date, crc, len(body), size,
                              len(encoded), 0))
        out.write(encoded)
        out.write(body)
        central.append(_CENTRAL.pack(b"PK\x01\x02", 20, 20, flags, method, dos_time, dos_date, crc, len(body),
                                     size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(_END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), start, 0))
    return out.getvalue()
