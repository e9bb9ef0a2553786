"""Branch feedback: `feedback/<code>_<支部名>_FY2024_2024-10_確認事項.xlsx`.

A copy of the branch's own workbook with every finding's cell highlighted and a
comment saying what to fix, opening with two sheets: 実施状況 (kpisheet.write.report.plan_status: the
branch's plan measure by measure as seed 003 lays it out; only in the feedback of the file
whose values the consolidation used) and 確認事項, which lists the findings
(sheet, cell, message) and the branch's own KPI rows beside the national figures:
annual target, result with the month its data reach (「42.6%（R6.1現在）」), mark,
進捗 as a separate reference figure (KPIs that grow through the year only), where
the target came from, and the term goal as reference.  With a ledger it also lists
the branch's own revisions of values it reported before (締め後 where the month was
closed) and each result beside the same month of the previous fiscal year.

How the copy is made, each way tried only when the one before fails:

1. Patch the branch's zip.  The parts that change (workbook.xml, its rels,
   [Content_Types].xml, styles.xml, the flagged sheets and their rels) are
   parsed into element trees by a hardened lxml parser (no DOCTYPE, no
   entities, nothing fetched), edited by namespace and element name, written
   back with every namespace declaration where the branch's file had it (so
   the prefixes `mc:Ignorable` names stay declared) and parsed back before
   the zip is written.  Comment parts and the 実施状況 and 確認事項 sheets are added; every
   other member is copied unchanged (inflated, checked when it is XML, and
   deflated again by `zipfile`).  Images,
   charts and x14 extensions a branch's Excel may add survive.
2. openpyxl load, annotate and save (it drops images and charts; the
   確認事項 sheet says so).
3. A workbook with only the 実施状況 and 確認事項 sheets, saying in one line why the
   branch's own file could not be copied.  A file the reader could not read
   at all goes straight to this way.

The open tab is 確認事項 when the file has findings (what to fix comes first), else 実施状況.
Nothing about the branch's file makes `write_feedback` raise; only an OSError
writing the output does.
"""

from __future__ import annotations

import copy
import functools
import html
import io
import re
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from kpisheet.consolidate.build import rank_ja
from kpisheet.domain.catalogue import branch
from kpisheet.domain.findings import Finding, makes_unreadable
from kpisheet.domain.fiscal import next_month, wareki_fiscal_year, wareki_month
from kpisheet.domain.model import Submission
from kpisheet.domain.ratings import as_of_ja
from kpisheet.fileio import atomic_path
from kpisheet.read.xlsx_read import MAX_FILE_BYTES_UNPACKED, MAX_PART_BYTES
from kpisheet.write.feedback.items import Item, fold, highlights
from kpisheet.write.report import (
    FONT,
    MARK_COLOURS,
    PROGRESS_JA,
    RULE_JA,
    change_ja,
    data_month_ja,
    kpi_result_text,
    lines_of,
    plan_status,
    result_ja,
    row_height,
    source_ja,
    target_text,
    term_goal_ja,
    year_on_year_note,
)
from kpisheet.xlsx_cells import cell_coordinates, column_letter

if TYPE_CHECKING:
    from kpisheet.consolidate.build import BranchKpi, Consolidation, NationalKpi
    from kpisheet.domain.catalogue import Kpi

SHEET = "確認事項"
# What patching or openpyxl may inflate from one branch file: the reader's limits (declared
# sizes: zipfile never returns more than a member declares).
PART_BUDGET, FILE_BUDGET = MAX_PART_BYTES, MAX_FILE_BYTES_UNPACKED


# ================================================================ names
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """Text safe in any XML part and in openpyxl (lone surrogates from undecodable file names, controls)."""
    return _BAD_XML_CHARS.sub("", _SURROGATES.sub("\ufffd", text))


def _safe_name(text: str, limit: int = 40) -> str:
    """A piece of a file name any file system accepts (no separators, controls, Windows-reserved characters)."""
    text = _UNSAFE_IN_NAME.sub("_", _clean(text)).strip(" .")
    return text[:limit].strip(" .") or "_"


def _branch_name(sub: Submission) -> str:
    try:
        return branch(sub.branch_code or "").display_name
    except KeyError:
        return _safe_name(sub.branch_name or "不明", 20)


def feedback_path(cons: Consolidation, sub: Submission, outdir: Path) -> Path:
    """`<code>_<支部名>_FY<fy>_<month>_確認事項.xlsx`; with the file's stem when one branch sent several files.

    Files of no known branch always carry their stem; two stems that clean to the same text get -1, -2, ...
    """
    head = f"{sub.branch_code or 'xx'}_{_branch_name(sub)}_FY{cons.fiscal_year}_{cons.month_key}"
    group = [s for s in cons.submissions if s.branch_code == sub.branch_code]
    if not any(s is sub for s in group):
        group.append(sub)
    if sub.branch_code is not None and len(group) == 1:
        return Path(outdir) / "feedback" / f"{head}_確認事項.xlsx"
    stems = [_safe_name(Path(s.path).stem) for s in group]
    mine = next(i for i, s in enumerate(group) if s is sub)
    stem = stems[mine]
    if stems.count(stem) > 1:
        stem += f"-{stems[:mine + 1].count(stem)}"
    return Path(outdir) / "feedback" / f"{head}_{stem}_確認事項.xlsx"


def feedback_name_pattern(fiscal_year: int, month_key: str) -> re.Pattern[str]:
    """Every name feedback_path can give a feedback file of this fiscal year and month."""
    return re.compile(rf"(?:\d{{2}}|xx)_.+_FY{fiscal_year}_{re.escape(month_key)}(?:_.+)?_確認事項\.xlsx")


def branch_findings(cons: Consolidation, sub: Submission) -> list[Finding]:
    return [f for f in cons.findings if f.file == sub.path or (f.file is None and f.branch == sub.branch_code)]


# ================================================================ writing, with its fallbacks
def write_feedback(cons: Consolidation, sub: Submission, outdir: Path, *, force: bool) -> Path:
    """Write one branch's feedback workbook atomically; return its path.

    Whatever the branch's file holds, a workbook is written (see the module docstring);
    only an OSError writing it (disk full, permission) propagates.
    """
    final = feedback_path(cons, sub, outdir)
    data = feedback_bytes(cons, sub, branch_findings(cons, sub))
    with atomic_path(final, force=force) as tmp:
        tmp.write_bytes(data)
    return final


NOTE_UNREADABLE = "※ 提出ファイルを読み込めなかったため、確認事項のみを記載しています（理由は下の指摘事項のとおりです）。"


def feedback_bytes(cons: Consolidation, sub: Submission, findings: list[Finding]) -> bytes:
    """The feedback workbook: patched copy, else openpyxl copy, else the 確認事項 sheet alone."""
    if any(makes_unreadable(f) for f in findings):
        return _scratch_feedback(cons, sub, findings, [NOTE_UNREADABLE])
    data: bytes | None = None
    try:
        data = Path(sub.path).read_bytes()
        return patch_workbook(data, cons, sub, findings)
    except Exception as exc:  # noqa: BLE001 - anything in the branch's file: try the next way
        why = exc
    if data is not None:
        try:
            return _openpyxl_feedback(cons, sub, findings, data)
        except Exception:  # noqa: BLE001 - the first reason is the one worth telling
            pass
    return _scratch_feedback(cons, sub, findings, [
        f"※ 提出ファイルを確認用の写しに複製できなかったため、確認事項のみを記載しています（{_why_ja(why)}）。"])


FOOTER_PAGES = "&P / &N ページ"


def _why_ja(exc: Exception) -> str:
    kinds: list[tuple[type[BaseException], str]] = [
        (_PatchError, "ブックの構成が想定外です"), (zipfile.BadZipFile, "zipファイルとして壊れています"),
        (zlib.error, "圧縮データが壊れています"), (NotImplementedError, "未対応の圧縮形式の部分があります"),
        (RuntimeError, "暗号化などで読めない部分があります"), (etree.XMLSyntaxError, "XMLが壊れています"),
        (OSError, "ファイルを読めません")]
    label = next((text for kind, text in kinds if isinstance(exc, kind)), "読み込めない部分があります")
    detail = _clean(str(exc)).replace("\n", " ")[:60]
    return f"{label}：{detail}" if detail else label


# ================================================================ the 確認事項 sheet, as data
Cell = tuple[int, int, Any, Any]  # (row, col, value, style key: "title" | "text" | "percent" | ("mark", "◎")
#                                   | ("number", number format) ...)
# shared by the findings table (No … 重要度) and the KPI table (KPI ID … 全国の評価) below it
WIDTHS = [8, 70, 13, 13, 11, 7, 9, 6, 18, 16, 13, 9, 8]
FINDING_COLUMNS = ["No", "内容（直し方）", "シート", "セル", "コード", "重要度"]
KPI_COLUMNS = ["KPI ID", "KPI", "年間目標", "実績", "データ時点", "評価", "進捗（参考）", "順位", "目標の設定",
               "第{term}期末目標（参考）", "全国の実績", "全国のデータ時点", "全国の評価"]
PRINT_TITLE_ROWS = 1  # the title row repeats on every printed page


def summary_cells(cons: Consolidation, sub: Submission, findings: list[Finding],
                  notes: list[str] | tuple[str, ...] = ()) -> tuple[list[Cell], int]:
    """Cells of the 確認事項 sheet and the row its findings table starts on (frozen under)."""
    cells = _summary_cells(cons, sub, findings, notes)
    head_row = next(row for row, col, value, style in cells if style == "head")
    return [(r, c, _clean(v) if isinstance(v, str) else v, s) for r, c, v, s in cells], head_row + 1


def _summary_cells(cons: Consolidation, sub: Submission, findings: list[Finding],
                   notes: list[str] | tuple[str, ...]) -> list[Cell]:
    cells: list[Cell] = [(1, 1, f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画KPI 確認事項"
                                f"（{_branch_name(sub)}・{wareki_month(cons.month)}分）", "title")]
    items = fold(findings, cons.catalogue)
    lines = [f"提出ファイル：{Path(sub.path).name}", outcome_ja(items), *hq_lines(cons), *notes]
    cells += [(2 + i, 1, line, "plain") for i, line in enumerate(lines)]
    row = len(lines) + 1
    if items:
        cells += [(row + 1, 1, "エラー", "error"), (row + 1, 2, ERROR_MEANS_JA, "plain"),
                  (row + 2, 1, "警告", "warning"), (row + 2, 2, WARNING_MEANS_JA, "plain")]
        row += 2
    row += 2
    cells.append((row, 1, "1. 指摘事項", "bold"))
    row += 1
    if items:
        cells += [(row, c, t, "head") for c, t in enumerate(FINDING_COLUMNS, 1)]
        for i, item in enumerate(items, 1):
            row += 1
            cells += _item_cells(row, i, item)
    else:
        cells.append((row, 1, "指摘事項はありません。", "plain"))
    row = _revision_cells(cons, sub, cells, row + 2)
    row = _year_on_year_cells(cons, sub, cells, row + 2)
    row += 2
    cells.append((row, 1, "4. 実績と評価（自支部と全国）", "bold"))
    for line in (f"{RULE_JA}実績の（{as_of_ja(cons.month)}）などは、データが届いている月です。", PROGRESS_JA):
        row += 1
        cells.append((row, 1, line, "plain"))
    row += 1
    cells += [(row, c, t.format(term=cons.catalogue.term), "head") for c, t in enumerate(KPI_COLUMNS, 1)]
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        row += 1
        cells += [(row, c, value, style) for c, (value, style) in
                  enumerate(_kpi_cells(cons, kpi, cons.branch_kpis.get((code, kpi.id)), cons.national.get(kpi.id)), 1)]
    return cells


def _revision_cells(cons: Consolidation, sub: Submission, cells: list[Cell], row: int) -> int:
    """2. the branch's own revisions of values it reported before (from the ledger); the last row used."""
    cells.append((row, 1, "2. 前月までに報告した値の修正", "bold"))
    revisions = cons.revisions_of(sub.branch_code or "")
    row += 1
    if not revisions:
        cells.append((row, 1, "修正はありません。" if cons.previous_year is not None
                       else "台帳を使わずに集計したため、修正は確認していません。", "plain"))
        return row
    cells.append((row, 1, "締め後＝すでに締めた月の値の修正です。この集計には修正後の値を使い、締めた月の集計表はそのまま残します。",
                  "plain"))
    row += 1
    cells += [(row, c, t, "head") for c, t in enumerate(["対象月", "KPI（修正したファイル）", "修正前", "修正後", "締め",
                                                          "差"], 1)]
    for r in revisions:
        kpi = cons.catalogue.kpi(r.kpi_id)
        row += 1
        new = kpi.format_value(r.new_value) if r.new_value is not None else "（空欄または除外）"
        change = change_ja(kpi, r.new_value - r.old_value) if None not in (r.new_value, r.old_value) else ""
        cells += [(row, 1, data_month_ja(r.month), "text"), (row, 2, f"{kpi.id} {kpi.label}\n（{r.file}）", "text"),
                  (row, 3, kpi.format_value(r.old_value), "text"), (row, 4, new, "text"),
                  (row, 5, "締め後" if r.after_close else "", "text"), (row, 6, change, "text")]
    return row


def _year_on_year_cells(cons: Consolidation, sub: Submission, cells: list[Cell], row: int) -> int:
    """3. each KPI's result beside the same month of the previous fiscal year; the last row used."""
    cells.append((row, 1, "3. 前年同月との比較", "bold"))
    row += 1
    if cons.previous_year is None:
        cells.append((row, 1, "台帳を使わずに集計したため、前年同月の値はありません。", "plain"))
        return row
    cells += [(row, c, t, "head") for c, t in enumerate(["ID", "KPI", "実績", "前年同月", "前年差", "注記"], 1)]
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        if kpi.kind == "qualitative" or bk is None:
            continue
        yoy = cons.year_on_year(code, kpi.id)
        row += 1
        previous = result_ja(kpi, yoy.previous, yoy.previous_month) if yoy.previous is not None else "—"
        cells += [(row, 1, kpi.id, "text"), (row, 2, kpi.label, "text"), (row, 3, kpi_result_text(kpi, bk), "text"),
                  (row, 4, previous, "text"), (row, 5, change_ja(kpi, yoy.change), "text"),
                  (row, 6, year_on_year_note(yoy), "text")]
    return row


def hq_lines(cons: Consolidation) -> list[str]:
    """The next deadline and HQ's contact, from HQ's settings (nothing while they hold placeholders)."""
    settings = cons.settings
    if settings is None or settings.placeholders():
        return []
    following = next_month(cons.month)
    return [f"次回（{wareki_month(following)}分）の提出期限：{settings.deadline_ja(following)}",
            f"お問い合わせ・再提出先：{settings.contact_ja()}"]


ERROR_MEANS_JA = "直して再提出してください（エラーの値は全国集計から除外しています）。"
WARNING_MEANS_JA = "確認してください。値が正しければ対応は不要です。（黄色・青色は、元のブックの入力欄の色です。）"


def outcome_ja(items: list[Item]) -> str:
    """What the branch has to do: resubmit (errors), look (warnings only) or nothing."""
    errors = sum(1 for i in items if i.is_error)
    warnings = len(items) - errors
    where = "該当するセルには色を付け、セルのコメントにも書いています。"
    if errors:
        return (f"エラー {errors}件 ／ 警告 {warnings}件。エラーの欄を支部の元のブックで直して、再提出してください。"
                f"警告は、値が正しければ対応は不要です。{where}")
    if warnings:
        return (f"エラーはありません（警告 {warnings}件）。警告は、値が正しければ対応は不要です。誤りがあれば元のブックで直し、"
                f"次回の提出に反映してください（再提出は不要です）。{where}")
    return "指摘事項はありません。このままで結構です（再提出は不要です）。"


def _item_cells(row: int, no: int, item: Item) -> list[Cell]:
    severity = "error" if item.is_error else "warning"
    return [(row, 1, no, "centre"), (row, 2, item.text_ja, "text"), (row, 3, item.finding.sheet or "", "text"),
            (row, 4, item.cells_ja, "text"), (row, 5, item.codes, "text"),
            (row, 6, "エラー" if item.is_error else "警告", severity)]


def number_format(kpi: Kpi, *, target: bool = False) -> str:
    """The cell format of a KPI's value: 0.0% / #,##0"円" / #,##0"事業所", with 以上・以下 for a target."""
    decimals = "." + "0" * kpi.decimals if kpi.decimals else ""
    suffix = ("以上" if kpi.direction == ">=" else "以下") if target else ""
    if kpi.is_percent:
        return f'0{decimals}%' + (f'"{suffix}"' if suffix else "")
    unit = "円" if kpi.display == "yen" else kpi.unit
    return f'#,##0{decimals}"{unit}{suffix}"'


def _number(kpi: Kpi, value: float | None, *, target: bool = False) -> tuple[Any, Any] | None:
    """(cell value, style) of a KPI value as a number (a percent as a fraction), None without one."""
    if value is None:
        return None
    return (value / 100 if kpi.is_percent else value), ("number", number_format(kpi, target=target))


def _kpi_cells(cons: Consolidation, kpi: Kpi, bk: BranchKpi | None, n: NationalKpi | None) -> list[tuple[Any, Any]]:
    """(value, style) of one KPI row of the 確認事項 sheet: the branch's result beside the nation's, as numbers."""
    mark = bk.rating.mark if bk else "—"
    nmark = n.rating.mark if n else "—"
    if kpi.kind == "qualitative":
        target, result = (kpi.target.text or "", "text"), ((bk.text if bk else None) or "—", "text")
        source, goal, national = "", "", ("—", "text")
    else:
        target = (_number(kpi, bk.annual_target, target=True) if bk else None) or (
            (target_text(kpi, None, bk.target_basis) if bk else "—"), "text")
        result = (_number(kpi, bk.value) if bk else None) or ((kpi_result_text(kpi, bk) if bk else "—"), "text")
        source = source_ja(bk.target_source, cons.catalogue.term) if bk else ""
        goal = term_goal_ja(kpi)
        national = ((_number(kpi, n.value) if n is not None and n.branches_met is None else None)
                    or (_national_text(kpi, n), "text"))
    month = data_month_ja(bk.data_month) if bk else ""
    national_month = data_month_ja(n.data_month) if n is not None and n.branches_met is None else ""
    return [(kpi.id, "text"), (kpi.label, "text"), target, result, (month, "centre"),
            (mark, ("mark", mark)), (bk.progress if bk else None, "percent"),
            (rank_ja(bk), "centre"), (source, "text"), (goal, "text"), national,
            (national_month, "centre"), (nmark, ("mark", nmark))]


def _national_text(kpi: Kpi, n: NationalKpi | None) -> str:
    """「35.7%（R6.10現在）」, or 「39/44支部」 with the pooled rate as reference (K6-2-08)."""
    if n is None:
        return "—"
    if n.branches_met is not None:
        met, reporting = n.branches_met
        pooled = f"\n参考：全国の{kpi.short_label} {result_ja(kpi, n.value, n.data_month)}" if n.value is not None else ""
        return f"{met}/{reporting}支部{pooled}"
    if n.value is None:
        return f"—（{n.rating.reason_ja}）" if n.rating.reason_ja else "—"
    return result_ja(kpi, n.value, n.data_month)


# ================================================================ openpyxl: the second and third ways
# (imported only here: the patch path needs no openpyxl, and the CLI's start-up should not pay for it)
# red and orange: neither is an input colour of the branch's workbook (yellow FFF2CC, blue DDEBF7)
ERROR_RGB, WARNING_RGB, HEAD_RGB, BOX_RGB = "FF9B9B", "F9B26B", "1F4E78", "808080"
PILLAR_RGB = plan_status.PILLAR_BG[1:]
COMMENT_AUTHOR = "本部"  # shown before every comment in Excel
PERCENT_FORMAT = "0%"  # 進捗（参考）; built-in number format 9
# parts openpyxl does not carry over when it loads and saves a workbook
_DROPPED_PARTS = ("xl/media/", "xl/charts/", "xl/drawings/drawing", "xl/pivot", "xl/slicer", "xl/vbaProject")


def _openpyxl_feedback(cons: Consolidation, sub: Submission, findings: list[Finding], data: bytes) -> bytes:
    """The branch's workbook loaded, annotated and saved by openpyxl (images and charts are lost)."""
    import openpyxl

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        _check_budget(z.infolist())
        names = z.namelist()
    wb = openpyxl.load_workbook(io.BytesIO(data), keep_vba=False, keep_links=False, rich_text=True)
    notes = []
    dropped = sorted({p for p in _DROPPED_PARTS for n in names if n.startswith(p)})
    if dropped:
        notes.append("※ 元のブックにある図・グラフ等はこの確認用の写しには含まれていません（" + "、".join(dropped) + "）。")
    _annotate(wb, highlights(findings, cons.catalogue))
    return _save_with_summary(wb, cons, sub, findings, notes)


def _scratch_feedback(cons: Consolidation, sub: Submission, findings: list[Finding], notes: list[str]) -> bytes:
    """A workbook with only the 確認事項 sheet."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    return _save_with_summary(wb, cons, sub, findings, notes)


def _save_with_summary(wb: Any, cons: Consolidation, sub: Submission, findings: list[Finding],
                       notes: list[str]) -> bytes:
    """The 確認事項 sheet (and 実施状況 before it, when the branch's values were used) into an openpyxl
    workbook, first; its bytes."""
    ws = wb.create_sheet(SHEET, 0)
    cells, freeze = summary_cells(cons, sub, findings, notes)
    _openpyxl_cells(ws, cells)
    for col, width in enumerate(WIDTHS, 1):
        ws.column_dimensions[column_letter(col)].width = width
    ws.freeze_panes = f"A{freeze}"
    _openpyxl_print(ws, PRINT_TITLE_ROWS, f"{_branch_name(sub)} 確認事項")
    plan = _plan_cells(cons, sub)
    if plan is not None:
        ps = wb.create_sheet(plan_status.SHEET, 0)
        _openpyxl_cells(ps, plan[0])
        for row, points in plan[1].items():
            ps.row_dimensions[row].height = points
        for col, width in enumerate(plan_status.WIDTHS, 1):
            ps.column_dimensions[column_letter(col)].width = width
        _openpyxl_print(ps, plan_status.TITLE_ROWS, f"{_branch_name(sub)} {plan_status.SHEET}")
        ps.oddHeader.left.text = plan_status.title_ja(cons.fiscal_year, sub.branch_code or "").replace("&", "&&")
    active = 1 if plan is not None and findings else 0
    wb.active = active
    for i, other in enumerate(wb.worksheets):
        other.sheet_view.tabSelected = i == active
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _openpyxl_cells(ws: Any, cells: list[Cell]) -> None:
    styled: dict[Any, Any] = {}  # style key -> first cell given it
    for row, col, value, style in cells:
        c = ws.cell(row=row, column=col)
        c.value = value
        if isinstance(value, str):
            c.data_type = "s"  # branch text stays text ("=1+1" is not a formula)
        key = style if isinstance(style, str) else tuple(style)
        if key in styled:
            c._style = copy.copy(styled[key]._style)  # openpyxl's own way to share a format, far faster
        else:
            _openpyxl_style(c, style)
            styled[key] = c


def _openpyxl_print(ws: Any, title_rows: int, footer_left: str) -> None:
    """A4 landscape, one page wide, the title rows on every page, name and page numbers in the footer."""
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", 9
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{title_rows}"
    ws.oddFooter.left.text, ws.oddFooter.center.text = footer_left.replace("&", "&&"), FOOTER_PAGES


def _openpyxl_style(c: Any, style: Any) -> None:
    font, border, alignment, fill = _openpyxl_style_objects(style if isinstance(style, str) else tuple(style))
    c.font = font
    if style == "percent":
        c.number_format = PERCENT_FORMAT
    elif isinstance(style, tuple) and style[0] == "number":
        c.number_format = style[1]
    if border is not None:
        c.border, c.alignment = border, alignment
    if fill is not None:
        c.fill = fill


@functools.lru_cache(maxsize=None)
def _openpyxl_style_objects(style: Any) -> tuple[Any, Any, Any, Any]:
    """(font, border, alignment, fill) of a style key, made once (openpyxl is slow to build them per cell)."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    key, mark = (style[0], style[1]) if isinstance(style, tuple) else (style, None)
    font = Font(name=FONT, size={"title": 14, "pillar": 12}.get(key, 10),
                bold=key in ("title", "bold", "head", "mark", "pillar", "measure", "issue_label"),
                color="FFFFFF" if key == "head" else None)
    if key in ("title", "plain", "bold"):
        return font, None, None, None
    if key == "pillar":
        return font, None, None, PatternFill("solid", fgColor=PILLAR_RGB)
    thin = Side(style="thin", color=BOX_RGB)
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    alignment = Alignment(wrap_text=key != "number", vertical="top",
                          horizontal="center" if key in ("head", "mark", "centre", "centre_wrap")
                          else "right" if key == "number" else None)
    fills = {"head": HEAD_RGB, "error": ERROR_RGB, "warning": WARNING_RGB, "issue_label": plan_status.ISSUE_BG[1:],
             "kpi": plan_status.ISSUE_BG[1:]}
    colour = MARK_COLOURS.get(mark or "", "")[1:] if key == "mark" else fills.get(key)
    return font, border, alignment, PatternFill("solid", fgColor=colour) if colour else None


def _annotate(wb: Any, findings: list[Finding]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    for (sheet, ref), items in _by_cell(findings, wb.sheetnames).items():
        try:
            cell = wb[sheet][ref]
        except (ValueError, KeyError, AttributeError):
            continue  # a chart sheet has no cells
        cell.fill = PatternFill("solid", fgColor=ERROR_RGB if any(f.is_error for f in items) else WARNING_RGB)
        text = _comment_text(items)
        comment = Comment(text, COMMENT_AUTHOR)
        comment.width, comment.height = 360, min(60 + 18 * (len(text) // 24 + len(items)), 400)
        cell.comment = comment


def _by_cell(findings: list[Finding], sheets: list[str]) -> dict[tuple[str, str], list[Finding]]:
    """Findings by (sheet, cell) for cells of sheets the workbook has."""
    out: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.sheet and f.cell and f.sheet in sheets and f.cell == f.cell.upper() and "$" not in f.cell:
            rc = cell_coordinates(f.cell)
            if rc and rc[0] <= 1_048_576 and rc[1] <= 16_384:
                out.setdefault((f.sheet, f.cell), []).append(f)
    return out


def _comment_text(items: list[Finding]) -> str:
    text = "\n".join(f"【{f.code} {'エラー' if f.is_error else '警告'}】{f.text_ja}" for f in items)
    return _clean(text[:2000])


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
        self.kept: dict[str, bytes] = {}  # parts read to look at, not to edit: copied without a second inflate

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
        """The part's root element, to edit in place (written back serialised)."""
        if name not in self.trees:
            self.trees[name] = parse_part(self.kept.pop(name, None) or self.zin.read(name))
        return self.trees[name]

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
        changed = {name: serialise(root) for name, root in self.trees.items()}
        changed.update(self.added)
        for body in changed.values():
            check_part(body)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for info in self.infos:
                body = changed.get(info.filename)
                if body is None:
                    body = self.kept.pop(info.filename, None) or self.zin.read(info.filename)
                    if info.filename.endswith((".xml", ".rels")):
                        check_part(body)
                z.writestr(_member(info.filename, info.date_time), body, zipfile.ZIP_DEFLATED, 1)
            for name in sorted(set(changed) - {i.filename for i in self.infos}):
                z.writestr(_member(name, _NEW_MEMBER_TIME), changed[name], zipfile.ZIP_DEFLATED, 1)
        return out.getvalue()


_NEW_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)
_KEEP_BYTES = 8_000_000


def _member(name: str, date_time: tuple[int, ...]) -> zipfile.ZipInfo:
    """Entry for one member: the original's date (new ones 1980-01-01), so the same inputs give the same bytes."""
    try:
        return zipfile.ZipInfo(name, tuple(date_time))  # type: ignore[arg-type]
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
        for c in row.iterchildren(_C):
            ref = c.get("r")
            rc = cell_coordinates(ref) if ref else None
            col = rc[1] if rc else col + 1
            if not ref and col <= 18_278:
                ref = f"{column_letter(col)}{row_no}"
            if ref in wanted:
                found[ref] = c
    return found


def _unselect(root: Any) -> None:
    """No tabSelected on the sheet's views: the 確認事項 sheet is the one selected."""
    views = find(root, MAIN_NS, "sheetViews")
    for view in children(views, MAIN_NS, "sheetView") if views is not None else ():
        view.attrib.pop("tabSelected", None)


def _patch_sheet(pkg: _Package, part: str, name: str, flagged: dict[str, list[Finding]], st: _Styles,
                 ss: _SummaryStyles, block: int) -> str | None:
    """Unselect the sheet's tab, highlight flagged cells and comment them; a note if comments could not go in."""
    if not flagged and b"tabSelected" not in pkg.raw(part):
        return None
    root = pkg.xml(part)
    _unselect(root)
    if not flagged or root.tag != tag(MAIN_NS, "worksheet"):
        return None
    for ref, c in _cells(root, set(flagged)).items():
        fill = ss.error_fill if any(f.is_error for f in flagged[ref]) else ss.warning_fill
        s = c.get("s") or "0"
        c.set("s", str(st.with_fill(int(s) if s.isdigit() else 0, fill)))
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
        for dn in names.iterchildren(etree.Element):
            local_id = dn.get("localSheetId")
            if local_id is not None and local_id.isdigit():
                dn.set("localSheetId", str(int(local_id) + 1))
    for views in children(root, MAIN_NS, "bookViews"):
        for view in views.iterchildren(etree.Element):
            view.attrib.pop("activeTab", None)
            view.attrib.pop("firstSheet", None)
    _add_print_titles(root, title, title_rows)


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


def patch_workbook(data: bytes, cons: Consolidation, sub: Submission, findings: list[Finding]) -> bytes:
    """The feedback workbook as bytes: the branch's file patched with highlights, comments and 確認事項.

    Raises for anything it cannot patch (zip, XML or package shape); the caller falls back.
    """
    pkg = _Package(data)
    wb_part = _workbook_part(pkg)
    sheets, parts = _sheet_parts(pkg, wb_part)
    styles = next((t for rel_type, t in _targets(pkg, wb_part).values() if rel_type == REL_STYLES), None)
    if styles is None or not pkg.has(styles):
        raise _PatchError("workbook without styles")
    st = _Styles(pkg.xml(styles))
    ss = _SummaryStyles(st)
    by_cell = _by_cell(highlights(findings, cons.catalogue), [name for name, _, _ in parts])
    notes = []
    for block, (name, part, _) in enumerate(parts, start=1):
        flagged = {ref: items for (sheet, ref), items in by_cell.items() if sheet == name}
        note = _patch_sheet(pkg, part, name, flagged, st, ss, block)
        if note:
            notes.append(note)
    cells, freeze = summary_cells(cons, sub, findings, notes)
    plan = _plan_cells(cons, sub)
    summary_active = plan is None or bool(findings)
    sx = _SheetXml()
    for row, col, value, style in cells:
        sx.put(row, col, value, ss.of(style), WIDTHS[col - 1] if style in ("text", "error", "warning") else None)
    footer = _footer_xml(f"{_branch_name(sub)} 確認事項")
    _add_first_sheet(pkg, wb_part, sheets, sx.render(WIDTHS, freeze, footer, selected=summary_active), SHEET,
                     PRINT_TITLE_ROWS)
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


def _plan_cells(cons: Consolidation, sub: Submission) -> tuple[list[Cell], dict[int, float]] | None:
    """The 実施状況 sheet's cells and row heights; None unless this file's values are the branch's in
    the consolidation (a file set aside for a newer one, or one that could not be read, has none)."""
    code = sub.branch_code
    if not code or cons.used.get(code) != sub.path:
        return None
    cells, heights = plan_status.plan_status_cells(plan_status.plan_status_rows(cons, code))
    return [(r, c, _clean(v) if isinstance(v, str) else v, s) for r, c, v, s in cells], heights


_SELECTED = ' tabSelected="1"'


class _SheetXml:
    """The rows of the 確認事項 sheet as worksheet XML (inline strings: text stays text)."""

    def __init__(self) -> None:
        self.rows: dict[int, list[str]] = {}
        self.heights: dict[int, int] = {}
        self.fixed: dict[int, float] = {}  # row -> points, where the caller worked the height out

    def put(self, row: int, col: int, value: Any, style: int, width: float | None = None) -> None:
        ref = f"{column_letter(col)}{row}"
        if width and isinstance(value, str):
            self.heights[row] = max(self.heights.get(row, 1), min(10, lines_of(value, width)))
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

    def render(self, widths: list[float], freeze_row: int | None, footer: str = "", *, selected: bool = True,
               header: str = "") -> str:
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, 1))
        pane = (f'<pane ySplit="{freeze_row - 1}" topLeftCell="A{freeze_row}" activePane="bottomLeft" '
                f'state="frozen"/>' if freeze_row else "")
        rows = "".join(f'<row r="{r}"{self._height(r)}>{"".join(cells)}</row>' for r, cells in sorted(self.rows.items()))
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
                f'<sheetViews><sheetView{_SELECTED if selected else ""} workbookViewId="0">{pane}'
                '</sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>{rows}</sheetData>'
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
