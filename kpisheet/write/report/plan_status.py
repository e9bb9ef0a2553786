"""実施状況: a branch's plan, measure by measure, laid out as 「令和5年度 埼玉支部事業計画実施状況（概要版）」.

One table 具体的な施策 | 事業内容（KPI） | KPI目標 | KPI結果 | 結果 under the title and the legend (its head
printed on every page, as the 埼玉 report repeats it on every page), each pillar's heading a band across it.  Under
each measure (its heading in the first column of its first row): the branch's activity rows
(「① …」, — —, the branch's self-rating), then one row per KPI (the KPI as a sentence built from
the catalogue, 「生活習慣病予防健診実施率を53.8%以上とする」, the annual target, the result with the
month its data reach, 「42.6%（R6.1現在）」, and the mark), then the branch's 課題.

`plan_status_rows` is the pure row model.  `plan_status_cells` turns it into cells with style
keys and row heights, which three writers render: xlsxwriter here and, in kpisheet.write.feedback.patch
and .fallback, the patched branch workbook and the openpyxl copy (the branch's feedback: one sheet,
its title rows repeated as print titles).

The all-branches workbook `write_all_plan_status` is the council papers: 目次, then one sheet per
expected branch in code order (本部 last).  `paginate` cuts a branch's rows into printed pages itself,
so that every page opens with the title, legend and head and the footer can say 「埼玉支部 2/6」 (a
fixed print scale and every row height written make the pages the same in Excel and LibreOffice); a
branch without a usable file gets one page 「未提出」 or 「読込不可」 (`status_rows`).

Measures a branch does not carry (scope "hq" for a prefectural branch) and KPIs that are not
the branch's (national ones) are left out; a measure the branch carries but left blank shows
「（記入なし）」, so a blank is never read as 未実施.

In the branch's own words where the consolidation has its approved 事業計画 (`cons.plans`): a
measure's heading and numbering are the plan's (「(4) 現金給付の適正化の推進」), a second heading the
branch gave the same action-plan measure opens its own rows (「(7) 債権管理回収業務の推進」), a 小見出し
(●被保険者 (生活習慣病予防健診)) stands in the first column of its first row, under a heading row of
its own, and activities carry the plan's numbering (restarting under each 小見出し).  Row n of a
measure's 取組状況 is the plan's n-th item there (kpisheet.domain.plan_layout.filed_items: the
workbook was prefilled in that order).  A KPI whose name an activity's text contains (its own
measure's activities: label or short label; another measure's: its full label) is printed in that
activity's row (its target, result and mark), as the 埼玉 report prints pillar 1; the others get rows
of their own: after the 小見出し group whose words their label holds (「事業者健診データ取得率」 after
●被保険者 (事業者健診データ)), else after the activities.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpisheet.consolidate.model import STATUS_MISSING
from kpisheet.domain.catalogue import HQ_CODE, branch
from kpisheet.domain.fiscal import wareki_fiscal_year, wareki_month
from kpisheet.domain.plan_layout import FiledItem, filed_items, heading_text
from kpisheet.domain.ratings import MARK_LABELS_JA, MARKS, NO_RESULT
from kpisheet.fileio import atomic_path
from kpisheet.write.report import (
    FONT,
    MARK_COLOURS,
    kpi_result_text,
    kpi_sentence_ja,
    lines_of,
    row_height,
    target_text,
    workbook_options,
)
from kpisheet.write.report.texts import CIRCLED

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

    from kpisheet.consolidate.model import BranchKpi, Consolidation
    from kpisheet.domain.catalogue import Kpi, Measure
    from kpisheet.domain.plan import PlanMeasure, PlanSubmission

SHEET = "実施状況"
COLUMNS = ("具体的な施策", "事業内容（KPI）", "KPI目標", "KPI結果", "結果")
WIDTHS = (24, 62, 13, 19, 6)  # A4 landscape at about 100%
LEGEND_JA = "結果：" + "・".join(f"「{m}{MARK_LABELS_JA[m]}」" for m in MARKS[:4])
NO_MARK_JA = "「—」は評価なし：KPIは実績が届いていない・目標がないなど（理由は実績の欄に記載）、事業内容は支部の評価の記入なし。"
TITLE_ROWS = 5  # title, 集計月, legend, 「—」, the table's head: repeated on every printed page of a branch's own sheet
BLANK_MEASURE_JA = "（記入なし）"
ISSUE_JA = "課題"
_DASH = NO_RESULT

Cells5 = tuple[str, str, str, str, str]
Cell = tuple[int, int, Any, Any]  # (row, col, value, style key), as kpisheet.write.feedback.summary's cell model


@dataclass(frozen=True)
class PlanRow:
    """One row of a branch's 実施状況.

    kind: title | note | legend | pillar | head | activity | kpi | issue | measure (a measure left
    blank) | heading (a plan heading above its 小見出し) | blank.  An activity row with a kpi_id prints
    that KPI's target, result and mark (a plan's activity that names it).  `cells` are the five columns; `mark` is the 結果 of an activity or KPI row.
    """

    kind: str
    cells: Cells5
    mark: str = ""
    measure_id: str | None = None
    kpi_id: str | None = None


def _row(kind: str, first: str, second: str = "", target: str = "", result: str = "", mark: str = "",
         measure_id: str | None = None, kpi_id: str | None = None) -> PlanRow:
    return PlanRow(kind, (first, second, target, result, mark), mark, measure_id, kpi_id)


# ================================================================ the row model
def title_ja(fiscal_year: int, code: str) -> str:
    """「令和5年度埼玉支部事業計画実施状況（概要版）」 (the 埼玉 report's title)."""
    return f"{wareki_fiscal_year(fiscal_year)}{branch_name(code)}事業計画実施状況（概要版）"


def branch_name(code: str) -> str:
    try:
        return branch(code).display_name
    except KeyError:
        return code


def plan_status_rows(cons: Consolidation, branch_code: str) -> list[PlanRow]:
    """The rows of one branch's 実施状況: title, notes, legend, the table's head, then each pillar's
    heading and its measures."""
    rows = [_row("title", title_ja(cons.fiscal_year, branch_code)),
            _row("note", f"{wareki_month(cons.month)}分の集計。実績の（R6.1現在）などはその値のデータが届いている月、（R6.6診療）はレセプトの診療月です。"),
            _row("legend", LEGEND_JA), _row("note", NO_MARK_JA), PlanRow("head", COLUMNS)]
    catalogue = cons.catalogue
    measures = catalogue.measures_for(branch_code)
    mine_of = _BranchIndex(cons, branch_code)  # one pass over the nation's ratings, not one per measure
    plan = getattr(cons, "plans", {}).get(branch_code)
    named = _named_kpis(cons, branch_code, measures, mine_of) if plan is not None else {}
    for pillar in catalogue.pillars:
        mine = [m for m in measures if m.pillar == pillar.no]
        if not mine:
            continue
        rows.append(_row("pillar", f"{pillar.no}、{pillar.label}"))
        for measure in mine:
            rows += measure_rows(cons, branch_code, measure, mine_of) if plan is None else \
                plan_measure_rows(cons, branch_code, measure, plan, mine_of, named)
    return rows


def _compact(text: str) -> str:
    return "".join(text.split())


def _named_kpis(cons: Consolidation, code: str, measures: list[Measure], index: _BranchIndex
                ) -> dict[tuple[str, int], str]:
    """{(measure id, row n): KPI id} of the activity rows that name one of the branch's quantitative KPIs:
    the first row of the KPI's own measure whose text holds its label or short label (spaces aside), else
    the first row of another measure holding its full label (a short label such as 「生活習慣病予防健診」
    also names other work there)."""
    rows = [(m.id, r.n, _compact(r.text)) for m in measures
            for r in sorted(index.ratings.get(m.id, []), key=lambda r: r.n)]
    out: dict[tuple[str, int], str] = {}
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        if kpi.kind == "qualitative" or kpi.id not in index.kpi_ids:
            continue
        names = [n for n in {_compact(kpi.label), _compact(kpi.short_label)} if n]
        own = [(mid, n) for mid, n, text in rows
               if mid == kpi.measure_id and (mid, n) not in out and any(x in text for x in names)]
        other = [(mid, n) for mid, n, text in rows
                 if mid != kpi.measure_id and (mid, n) not in out and _compact(kpi.label) in text]
        if own or other:
            out[(own or other)[0]] = kpi.id
    return out


_GROUP_SPLIT = re.compile(r"[\s()（）●◆■□・【】＜＞<>]+")


def _kpi_group(kpi: Kpi, groups: list[str]) -> str | None:
    """The 小見出し whose words the KPI's label holds most of (●被保険者 (事業者健診データ) for
    事業者健診データ取得率); None where none does."""
    label = _compact(kpi.label)
    best, most = None, 0
    for g in groups:
        hits = sum(1 for w in _GROUP_SPLIT.split(g) if len(w) >= 2 and w in label)
        if hits > most:
            best, most = g, hits
    return best


def _numbered(level: str | None, text: str) -> str:
    return f"{level} {text}" if level and not text.startswith(level) else text


def plan_measure_rows(cons: Consolidation, code: str, measure: Measure, plan: PlanSubmission,
                      index: _BranchIndex, named: dict[tuple[str, int], str]) -> list[PlanRow]:
    """A measure's rows in the branch's words (see the module docstring): its plan headings, 小見出し and
    numbering; the KPIs its activities name inside their rows, the others after them; its 課題."""
    filed = {f.n: f for f in filed_items(plan, measure.id)}
    own_number, own_heading = heading_text(plan.measures.get(measure.id))
    current: PlanMeasure | None = plan.measures.get(measure.id)
    subheading: str | None = None
    body: list[PlanRow] = []
    pending_heading = " ".join(t for t in (own_number or measure.number, own_heading or measure.label) if t)
    extra = 0
    group_end: dict[str, int] = {}  # 小見出し -> how many rows the body has at its group's last row
    for r in sorted(index.ratings.get(measure.id, []), key=lambda r: r.n):
        item: FiledItem | None = filed.get(r.n)
        if item is not None and item.heading is not current:
            current, subheading = item.heading, None
            pending_heading = " ".join(t for t in heading_text(current) if t)
        level = item.level if item is not None else None
        if item is None:  # a row the branch added beyond its plan: numbered on
            extra += 1
            level = CIRCLED[len(filed) + extra - 1] if len(filed) + extra <= len(CIRCLED) and filed else None
        sub = item.subheading if item is not None else subheading
        first = ""
        if sub and sub != subheading:
            if pending_heading:
                body.append(_row("heading", pending_heading, measure_id=measure.id))
                pending_heading = ""
            first, subheading = sub, sub
        elif pending_heading:
            first, pending_heading = pending_heading, ""
        text = _numbered(level, r.text)
        kpi_id = named.get((measure.id, r.n))
        bk = cons.branch_kpis.get((code, kpi_id)) if kpi_id else None
        if kpi_id and bk is not None:
            kpi = cons.catalogue.kpi(kpi_id)
            target = target_text(kpi, bk.annual_target, bk.target_basis) or _DASH
            body.append(_row("activity", first, text, target, kpi_result_text(kpi, bk), bk.rating.mark,
                             measure.id, kpi_id))
        else:
            body.append(_row("activity", first, text, _DASH, _DASH, r.rating or _DASH, measure.id))
        if subheading:
            group_end[subheading] = len(body)
    printed = set(named.values())
    kpis = [k for k in kpi_rows(cons, code, measure, index) if k.kpi_id not in printed]
    after_groups: list[tuple[int, PlanRow]] = []
    for k in list(kpis):  # a KPI that names a 小見出し's words closes that group, as the 埼玉 report prints 2、(1)
        group = _kpi_group(cons.catalogue.kpi(k.kpi_id or ""), list(group_end))
        if group is not None:
            after_groups.append((group_end[group], k))
            kpis.remove(k)
    for at, k in sorted(after_groups, key=lambda t: -t[0]):
        body.insert(at, k)
    if kpis and pending_heading:
        kpis[0] = PlanRow(kpis[0].kind, (pending_heading, *kpis[0].cells[1:]), kpis[0].mark, kpis[0].measure_id,
                          kpis[0].kpi_id)
        pending_heading = ""
    body += kpis
    if not body:
        body = [_row("measure", pending_heading, BLANK_MEASURE_JA, measure_id=measure.id)]
    body += [_row("issue", ISSUE_JA, text, measure_id=measure.id) for text in index.issues.get(measure.id, [])]
    return body


class _BranchIndex:
    """One branch's activity ratings and 課題 by measure, and its KPI ids, in the consolidation's order."""

    def __init__(self, cons: Consolidation, code: str):
        self.ratings: dict[str, list[Any]] = {}
        for r in cons.measure_ratings:
            if r.branch_code == code:
                self.ratings.setdefault(r.measure_id, []).append(r)
        self.issues: dict[str, list[str]] = {}
        for c, m, text in cons.issues:
            if c == code:
                self.issues.setdefault(m, []).append(text)
        self.kpi_ids = {k.id for k in cons.catalogue.kpis_for(cons.fiscal_year, code)}


def measure_rows(cons: Consolidation, code: str, measure: Measure, index: _BranchIndex | None = None) -> list[PlanRow]:
    """A measure's activity rows, KPI rows and 課題 row; its heading in the first column of the first."""
    index = index or _BranchIndex(cons, code)
    body = activity_rows(cons, code, measure, index) + kpi_rows(cons, code, measure, index)
    if not body:
        body = [_row("measure", "", BLANK_MEASURE_JA, measure_id=measure.id)]
    first = body[0]
    body[0] = PlanRow(first.kind, (measure.heading, *first.cells[1:]), first.mark, first.measure_id, first.kpi_id)
    issues = index.issues.get(measure.id, [])
    body += [_row("issue", ISSUE_JA, text, measure_id=measure.id) for text in issues]
    return body


def activity_rows(cons: Consolidation, code: str, measure: Measure, index: _BranchIndex | None = None) -> list[PlanRow]:
    """「① …」 — — and the self-rating; numbered only when the measure has more than one activity."""
    index = index or _BranchIndex(cons, code)
    ratings = sorted(index.ratings.get(measure.id, []), key=lambda r: r.n)
    numbered = len(ratings) > 1
    out = []
    for i, r in enumerate(ratings):
        text = r.text
        if numbered and i < len(CIRCLED) and not text.startswith(tuple(CIRCLED)):
            text = f"{CIRCLED[i]} {text}"
        mark = r.rating or _DASH
        out.append(_row("activity", "", text, _DASH, _DASH, mark, measure.id))
    return out


def kpi_rows(cons: Consolidation, code: str, measure: Measure, index: _BranchIndex | None = None) -> list[PlanRow]:
    ids = (index or _BranchIndex(cons, code)).kpi_ids
    out = []
    for kpi in cons.catalogue.kpis_of_measure(measure.id):
        if kpi.id not in ids:
            continue
        bk = cons.branch_kpis.get((code, kpi.id))
        target = target_text(kpi, bk.annual_target, bk.target_basis) if bk else _DASH
        result = kpi_result_text(kpi, bk) if bk else _DASH
        mark = bk.rating.mark if bk else _DASH
        out.append(_row("kpi", "", kpi_sentence(kpi, bk), target or _DASH, result, mark, measure.id, kpi.id))
    return out


def kpi_sentence(kpi: Kpi, bk: BranchKpi | None) -> str:
    """A branch's KPI as a sentence from the catalogue's rule (texts.kpi_sentence_ja): 「…を前年度（8,364円）
    以上とする」 for a 対前年度 KPI whoever filled its target, 「…を53.8%以上とする」 otherwise."""
    return kpi_sentence_ja(kpi, bk.annual_target if bk else None, bk.baseline if bk else None)


# ================================================================ cells, styles and heights
_STYLE_OF_KIND = {"title": "title", "note": "plain", "legend": "bold", "blank": "plain", "status": "status"}
TITLE_HEIGHT = 21.0


def plan_status_cells(rows: list[PlanRow], first_row: int = 1) -> tuple[list[Cell], dict[int, float]]:
    """(row, col, value, style key) of the rows from `first_row` (1-based), and each row's height in points.

    Style keys: title, plain, bold, pillar (a band), head, measure (the first column, bold), issue_label
    (「課題」, bold on grey), text (wrapped, boxed), kpi (a KPI's sentence, on grey), centre_wrap (targets,
    results), ("mark", m).  Heights fit every wrapped text in its column."""
    cells: list[Cell] = []
    heights: dict[int, float] = {}
    for i, r in enumerate(rows):
        row = first_row + i
        if r.kind == "pillar":  # a band across the table, the heading overflowing to the right
            cells += [(row, c, r.cells[0] if c == 1 else "", "pillar") for c in range(1, 6)]
            heights[row] = TITLE_HEIGHT
            continue
        if r.kind in _STYLE_OF_KIND:
            if r.cells[0]:
                cells.append((row, 1, r.cells[0], _STYLE_OF_KIND[r.kind]))
            if r.kind == "title":
                heights[row] = TITLE_HEIGHT
            continue
        styles = ["head"] * 5 if r.kind == "head" else [
            "issue_label" if r.kind == "issue" else "measure", "kpi" if r.kind == "kpi" else "text",
            "centre_wrap", "centre_wrap", ("mark", r.mark) if r.mark else "centre_wrap"]
        cells += [(row, c, value, style) for c, (value, style) in enumerate(zip(r.cells, styles, strict=True), 1)]
        lines = max(lines_of(value, WIDTHS[c]) if value else 1 for c, value in enumerate(r.cells))
        if lines > 1:
            heights[row] = row_height(lines)
    return cells, heights


# ================================================================ xlsxwriter
HEAD_BG, PILLAR_BG, ISSUE_BG, BOX = "#1F4E78", "#D9E1F2", "#F2F2F2", "#808080"


class XlsxFormats:
    """The xlsxwriter formats of one workbook's 実施状況 cells, made once per style."""

    def __init__(self, wb: Workbook):
        self.wb = wb
        self.made: dict[Any, Any] = {}

    def __call__(self, style: Any) -> Any:
        if style not in self.made:
            self.made[style] = self.wb.add_format(_format_props(style))
        return self.made[style]


def _format_props(style: Any) -> dict[str, Any]:
    """xlsxwriter format properties of a cell style (a name, or ('mark', mark))."""
    key, mark = (style[0], style[1]) if isinstance(style, tuple) else (style, None)
    props: dict[str, Any] = {"font_name": FONT, "font_size": 10, "valign": "top"}
    if key not in ("title", "plain", "bold", "pillar", "status", "note_wrap", "link"):
        props.update(border=1, border_color=BOX, text_wrap=True)
    by_key: dict[str, dict[str, Any]] = {
                  "title": {"bold": True, "font_size": 14}, "bold": {"bold": True},
                  "pillar": {"bold": True, "font_size": 12, "bg_color": PILLAR_BG, "valign": "vcenter"},
                  "head": {"bold": True, "font_color": "#FFFFFF", "bg_color": HEAD_BG, "align": "center",
                           "valign": "vcenter"},
                  "measure": {"bold": True}, "kpi": {"bg_color": ISSUE_BG}, "centre_wrap": {"align": "center"},
                  "issue_label": {"bold": True, "bg_color": ISSUE_BG},
                  "status": {"bold": True, "font_size": 20, "valign": "vcenter"},
                  "note_wrap": {"text_wrap": True},
                  "link": {"font_color": "#0563C1", "underline": 1, "border": 1, "border_color": BOX},
                  "missing": {"bold": True, "bg_color": MARK_COLOURS["△"]},
                  "mark": {"bold": True, "align": "center",
                           "bg_color": MARK_COLOURS.get(mark or "", "#FFFFFF")}}
    props.update(by_key.get(key, {}))
    return props


def write_cells(formats: XlsxFormats, ws: Worksheet, cells: list[Cell], heights: dict[int, float]) -> None:
    """Cells (1-based rows and columns) into an xlsxwriter sheet; text always as text."""
    for row, col, value, style in cells:
        fmt = formats(style)
        if isinstance(value, str) and value:
            ws.write_string(row - 1, col - 1, value, fmt)
        else:
            ws.write_blank(row - 1, col - 1, None, fmt)
    for row, points in heights.items():
        ws.set_row(row - 1, points)


def _sheet_setup(ws: Worksheet, header: str, footer: str) -> None:
    for col, width in enumerate(WIDTHS):
        ws.set_column(col, col, width)
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    ws.set_header(f"&L&\"{FONT}\"&9{_hf(header)}")
    ws.set_footer(f"&L&\"{FONT}\"&9{_hf(footer)}&C&\"{FONT}\"&9&P / &N ページ")


def _hf(text: str) -> str:
    """Text in a header or footer section: & doubled (a lone & starts a code)."""
    return text.replace("&", "&&")


def write_plan_status_sheet(wb: Workbook, ws_or_name: Worksheet | str, cons: Consolidation, code: str, *,
                            start_row: int = 1, formats: XlsxFormats | None = None) -> int:
    """Write one branch's 実施状況 from `start_row` (1-based); return the row after it.

    Given a sheet name, a sheet is added and set up for printing (A4 landscape, one page wide,
    title rows repeated, branch name and page numbers); given a worksheet, the rows are written
    into it as they are (the all-branches sheet sets itself up)."""
    rows = plan_status_rows(cons, code)
    cells, heights = plan_status_cells(rows, start_row)
    if isinstance(ws_or_name, str):
        ws = wb.add_worksheet(ws_or_name)
        _sheet_setup(ws, title_ja(cons.fiscal_year, code), branch_name(code))
        ws.repeat_rows(start_row - 1, start_row - 2 + TITLE_ROWS)
    else:
        ws = ws_or_name
    write_cells(formats or XlsxFormats(wb), ws, cells, heights)
    return start_row + len(rows)


def plan_status_codes(cons: Consolidation) -> list[str]:
    """Every expected branch (and any other branch with data), in branch-code order, 本部 last (its sheet
    holds the 本部-only measures and the national KPIs, read after the branches)."""
    codes = sorted({s.code for s in getattr(cons, "statuses", [])} | set(cons.used))
    return [c for c in codes if c != HQ_CODE] + [c for c in codes if c == HQ_CODE]


def plan_status_name(fiscal_year: int, month_key: str) -> str:
    return f"全支部_実施状況_FY{fiscal_year}_{month_key}.xlsx"


# ================================================================ the council papers: pages of a branch
CONTENTS = "目次"
PRINT_SCALE = 90  # %: the table (124 characters wide) fits A4 landscape in Excel and LibreOffice; 10 pt prints 9 pt
# rows a page holds: A4 landscape is 595 pt high, 502 pt without the 0.7 and 0.6 inch margins, 557 pt at 90%;
# a margin is left for a renderer that draws a row a little taller
PAGE_POINTS = 540.0
ONE_LINE = 16.0  # a one-line row; not the 15 pt default, so its height is written (custom) and no renderer re-fits it
CONTINUED_JA = "（続き）"
MISSING_JA, UNREADABLE_JA = "未提出", "読込不可"


@lru_cache(maxsize=16384)
def row_points(r: PlanRow) -> float | None:
    """The height a row needs (None: one line, the default): titles and pillar bands 21 pt, a wrapped
    row as many lines as its longest text in its column.  Remembered: pagination asks again for each row
    (20,000 asks for the 47 branches' 6,000 rows), and the feedback files ask for the same rows."""
    if r.kind in ("title", "pillar", "status"):
        return TITLE_HEIGHT if r.kind != "status" else 2 * TITLE_HEIGHT
    if r.kind in _STYLE_OF_KIND:
        return None
    lines = max(lines_of(value, WIDTHS[c]) if value else 1 for c, value in enumerate(r.cells))
    return row_height(lines) if lines > 1 else None


def _points(r: PlanRow) -> float:
    return row_points(r) or ONE_LINE


def sheet_name(code: str) -> str:
    """「11 埼玉」: a branch's sheet in the council papers (code first, so the tabs sort as the branches)."""
    return f"{code} {branch_name(code).removesuffix('支部')}"


def _blocks(body: list[PlanRow]) -> list[list[PlanRow]]:
    """The rows kept on one page when they fit: a measure's rows (its activities, KPIs and 課題), a pillar's
    band with the measure under it."""
    blocks: list[list[PlanRow]] = []
    for r in body:
        prev = blocks[-1][-1] if blocks else None
        joins = prev is not None and (prev.kind in ("pillar", "heading") or (
            r.kind != "pillar" and r.measure_id is not None and r.measure_id == prev.measure_id and not r.cells[0]
            or r.kind == "issue" and r.measure_id == prev.measure_id))
        if joins:
            blocks[-1].append(r)
        else:
            blocks.append([r])
    return blocks


def paginate(rows: list[PlanRow], budget: float = PAGE_POINTS) -> list[list[PlanRow]]:
    """A branch's rows cut into printed pages, as the association's 実施状況 is printed: every page opens
    with the branch's title, the legend and the table's head (the first page with the month and the 「—」
    note too); a page that starts inside a pillar repeats its band, one that starts inside a measure its
    heading, both marked 「（続き）」.  A measure moves whole to the next page when it fits there; a row
    taller than a page is cut to it.  No page's rows add up to more than `budget` points, so the page
    breaks written before each page are the only ones Excel or LibreOffice make (fit to width only shrinks)."""
    title = next(r for r in rows if r.kind == "title")
    legend = next(r for r in rows if r.kind == "legend")
    head = next(r for r in rows if r.kind == "head")
    top = rows[:TITLE_ROWS]
    pages: list[list[PlanRow]] = [list(top)]
    used, fresh = sum(_points(r) for r in top), True
    pillar: PlanRow | None = None
    heading = ""

    def new_page(continued: PlanRow | None) -> None:
        nonlocal used, fresh
        page = [title, legend, head]
        if continued is not None:
            page.append(_row("pillar", continued.cells[0] + CONTINUED_JA))
        pages.append(page)
        used, fresh = sum(_points(r) for r in page), True

    for block in _blocks(rows[TITLE_ROWS:]):
        if fresh is False and used + sum(_points(r) for r in block) > budget:
            new_page(pillar if block[0].kind != "pillar" else None)
        for r in block:
            if r.kind == "pillar":
                pillar = r
            elif r.cells[0] and r.kind != "issue":
                heading = r.cells[0]
            if not fresh and used + _points(r) > budget:
                new_page(pillar)
                if not r.cells[0] and heading:
                    r = PlanRow(r.kind, (heading + CONTINUED_JA, *r.cells[1:]), r.mark, r.measure_id, r.kpi_id)
            pages[-1].append(r)
            used += _points(r)
            fresh = False
    return pages


def status_rows(cons: Consolidation, code: str, status: str) -> list[PlanRow]:
    """The one page of a branch without a usable file: its title, 「未提出」 or 「読込不可」, and why."""
    month = wareki_month(cons.month)
    if status == STATUS_MISSING:
        word, why = MISSING_JA, f"{month}分の集計の時点で、この支部のファイルは届いていません。"
    else:
        word = UNREADABLE_JA
        why = (f"ファイルは届きましたが、集計に使えませんでした（{status}）。理由は全国集計表の「提出状況」"
               f"「検証結果」シートと、支部あての確認事項にあります。")
    return [_row("title", title_ja(cons.fiscal_year, code)), _row("note", f"{month}分の集計。"),
            _row("status", word), _row("note", why)]


def _write_rows(ws: Worksheet, formats: XlsxFormats, rows: list[PlanRow], first_row: int) -> int:
    """Rows from `first_row` (1-based), every height written; the row after them."""
    cells, _ = plan_status_cells(rows, first_row)
    write_cells(formats, ws, cells, {})
    for i, r in enumerate(rows):
        ws.set_row(first_row - 1 + i, min(_points(r), PAGE_POINTS - 4 * TITLE_HEIGHT))
    return first_row + len(rows)


def _branch_sheet(wb: Workbook, formats: XlsxFormats, cons: Consolidation, code: str, status: str,
                  doc_title: str) -> int:
    """One branch's sheet of the council papers; the pages it prints."""
    name = branch_name(code)
    ws = wb.add_worksheet(sheet_name(code))
    usable = code in cons.used
    pages = paginate(plan_status_rows(cons, code)) if usable else [status_rows(cons, code, status)]
    _sheet_setup(ws, doc_title, "")
    ws.set_print_scale(PRINT_SCALE)  # a fixed scale, so the rows of a page are known (fit to width could shrink more)
    # header and footer at 10 pt like the table: they print at 9 pt too
    ws.set_header(f"&L&\"{FONT}\"&10{_hf(doc_title)}&R&\"{FONT}\"&10{_hf(name)}")
    ws.set_footer(f"&C&\"{FONT}\"&10{_hf(name)} &P/{len(pages)}")
    ws.set_start_page(1)  # numbered from 1 in every branch: 「埼玉支部 2/5」
    row, breaks = 1, []
    for page in pages:
        if row > 1:
            breaks.append(row - 1)
        row = _write_rows(ws, formats, page, row)
    ws.set_h_pagebreaks(breaks)
    return len(pages)


def _contents_sheet(wb: Workbook, formats: XlsxFormats, title: str) -> Worksheet:
    ws = wb.add_worksheet(CONTENTS)
    for col, width in enumerate(CONTENTS_WIDTHS):
        ws.set_column(col, col, width)
    ws.set_paper(9)
    ws.fit_to_pages(1, 1)  # one page: 48 rows of 15 pt print at about 90% (&N would count every sheet's pages)
    ws.set_margins(left=0.6, right=0.6, top=0.7, bottom=0.6)
    ws.set_header(f"&L&\"{FONT}\"&10{_hf(title)}")
    ws.set_footer(f"&C&\"{FONT}\"&10{CONTENTS}")
    return ws


CONTENTS_COLUMNS = ("コード", "支部", "シート", "状況", "ページ数")
CONTENTS_WIDTHS = (7, 14, 13, 30, 9)
CONTENTS_NOTE_JA = ("支部ごとに1シート（支部コード順、本部は最後）。ページ番号は支部ごとに1から数えます（「埼玉支部 2/5」）。"
                    "集計に使えるファイルがない支部は「未提出」「読込不可」の1ページです。")


def build_all_plan_status(cons: Consolidation, path: Path, created: datetime | None = None) -> None:
    """The council papers: 目次, then one sheet per branch in branch-code order (本部 last), each printed
    on its own pages numbered from 1 with the branch's name and the table's head on every page; a branch
    without a usable file gets one page 「未提出」 or 「読込不可」.

    `created` is the document's creation time (default now): with it fixed, the same bytes."""

    from kpisheet import xlsx_write

    wb = xlsx_write.Workbook(str(path), workbook_options())
    title = f"{wareki_fiscal_year(cons.fiscal_year)} 事業計画実施状況（全支部・{wareki_month(cons.month)}分）"
    wb.set_properties({"title": title, "author": "kpisheet", "company": "全国健康保険協会",
                       "created": created or datetime.now(timezone.utc).replace(microsecond=0)})
    formats = XlsxFormats(wb)
    contents = _contents_sheet(wb, formats, title)
    statuses = {s.code: s.status for s in getattr(cons, "statuses", [])}
    listed = []
    for code in plan_status_codes(cons):
        status = statuses.get(code, STATUS_MISSING) if code not in cons.used else statuses.get(code, "提出済")
        pages = _branch_sheet(wb, formats, cons, code, status, title)
        listed.append((code, status, pages))
    contents.write_string(0, 0, f"{title} 目次", formats("title"))
    contents.set_row(0, TITLE_HEIGHT)
    contents.merge_range(1, 0, 1, len(CONTENTS_COLUMNS) - 1, CONTENTS_NOTE_JA, formats("note_wrap"))
    contents.set_row(1, row_height(lines_of(CONTENTS_NOTE_JA, sum(CONTENTS_WIDTHS))))
    for col, head in enumerate(CONTENTS_COLUMNS):
        contents.write_string(3, col, head, formats("head"))
    for i, (code, status, pages) in enumerate(listed, 4):
        usable = code in cons.used
        contents.write_string(i, 0, code, formats("centre_wrap"))
        contents.write_string(i, 1, branch_name(code), formats("text"))
        contents.write_url(i, 2, f"internal:'{sheet_name(code)}'!A1", formats("link"), sheet_name(code))
        shown = status if usable else MISSING_JA if status == STATUS_MISSING else f"{UNREADABLE_JA}（{status}）"
        contents.write_string(i, 3, shown, formats("text") if usable else formats("missing"))
        contents.write_number(i, 4, pages, formats("centre_wrap"))
    wb.close()


def write_all_plan_status(cons: Consolidation, path: Path, *, force: bool, created: datetime | None = None) -> Path:
    """Write 全支部_実施状況_FY<fy>_<month>.xlsx atomically; `path` is the file, or a folder to put it in.

    An existing file is replaced only with force."""
    path = Path(path)
    if path.is_dir():
        path = path / plan_status_name(cons.fiscal_year, cons.month_key)
    with atomic_path(path, force=force) as tmp:
        build_all_plan_status(cons, tmp, created)
    return path
