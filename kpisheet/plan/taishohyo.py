"""The 新旧対照表 workbook: a branch's plan beside last year's, changes underlined, ready for the 評議会.

Layout as the branches' own 新旧対照表（案） (「平成31年度 事業計画（鹿児島支部）新旧対照表（案）」): A4
landscape, 新 on the left and 旧 on the right, the document number (「資料 2-3」) top right, the title
with the branch and the year and 「（案）」 while the plan is a draft, the legend 「（傍線部分は変更部分）」,
then one row per aligned pair (kpisheet.plan.diff): pillar and measure headings, 小見出し, items,
《ＫＰＩ》 and its sentences.  The cell opposite an added or dropped entry stays empty (or says
「（新設）」「（削除）」 with `placeholders`).  Changed spans are underlined in the cell's own rich
text, so they print and copy into Word as marked; a renumbered heading is double-underlined on its
number only.  Title, legend and column heads repeat on every page; page breaks fall between rows,
before a measure's heading where the measure fits on the next page.

A second sheet 「変更の概要」 lists what changed (targets, measures, items, 対象者数・見込者数) and the
rate/count pairs that disagree at their printed precision.  `write_taishohyo_summary` writes HQ's
workbook across branches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Sequence

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from kpisheet import xlsx_write
from kpisheet.domain.catalogue import branch as branch_of
from kpisheet.domain.display import format_figure
from kpisheet.domain.findings import Finding, KpisheetError, finding
from kpisheet.domain.fiscal import wareki_fiscal_year, wareki_year
from kpisheet.domain.plan import PlanSubmission
from kpisheet.domain.settings import HqSettings
from kpisheet.fileio import OutputExistsError, atomic_path
from kpisheet.plan.reader import is_plan_read, read_plan
from kpisheet.plan.diff import (CHANGED, MOVED, Cell, ChangeSummary, DiffRow, PlanDiff, Span, cell_text,
                                change_summary, coalesce, diff_plans)
from kpisheet.write.report.layout import (FONT, Column, Sheet, Styles, lines_of, print_setup, row_height,
                                          workbook_options)

CODES = frozenset({"P701", "P702", "P703", "P704"})

SHEET = "新旧対照表"
SUMMARY_SHEET = "変更の概要"
DEFAULT_LEGEND = "（傍線部分は変更部分）"
DRAFT = "（案）"
ADDED, DROPPED = "（新設）", "（削除）"
TEXT_SIZE = 10.0
TEXT_WIDTH = 52.0  # each of the two columns: two of them print across A4 landscape at 100% (layout.PAGE_UNITS)
PAGE_POINTS = 400.0  # body height of a landscape A4 page below the repeated heading rows, with room to spare
ROW_LINES = 24  # a row holds at most this many lines (well within a page): a longer text goes on in the next row
CHANGE_JA = {"raised": "引上げ", "lowered": "引下げ", "unchanged": "据置き", "wording": "据置き（文の変更）",
             "reworded": "文言の変更",
             "kind": "目標の立て方の変更", "added": "新設", "dropped": "削除"}


@dataclass(frozen=True)
class TaishohyoOptions:
    label: str | None  # the document number printed top right (「資料 2-3」); None: none
    legend: str


def taishohyo_options(settings: HqSettings | None, *, label: str | None = None,
                      legend: str | None = None) -> TaishohyoOptions:
    """The document number and legend: the options given, else HQ's settings (`plan` section), else defaults."""
    plan = settings.plan if settings is not None else None
    return TaishohyoOptions(label if label is not None else (plan.taishohyo_label if plan else None) or None,
                            legend if legend is not None else (plan.taishohyo_legend if plan else DEFAULT_LEGEND))


def era_year(fiscal_year: int | None) -> str:
    """「7年度」 for FY2025: the year in its era without the era's name, as a 新旧対照表 heads its columns."""
    if fiscal_year is None:
        return "年度"
    return wareki_year(fiscal_year)[2:] + "年度"


def title_of(diff: PlanDiff, draft: bool) -> str:
    year = wareki_fiscal_year(diff.new.fiscal_year) if diff.new.fiscal_year else ""
    return f"{year} 事業計画（{_office(diff.branch_code, diff.branch_name)}）新旧対照表{DRAFT if draft else ''}"


def _office(code: str | None, name: str | None) -> str:
    """「鹿児島支部」: the branch's name as its workbooks print it (a returned plan workbook states 「鹿児島支部」,
    a plan typed as JSON may state 「鹿児島」)."""
    try:
        return branch_of(code or "").display_name
    except KeyError:
        return "" if not name else name if name.endswith("支部") else f"{name}支部"


def _file_name(new: PlanSubmission) -> str:
    return f"{new.branch_code or 'xx'}_{_office(new.branch_code, new.branch_name)}_FY{new.fiscal_year}_新旧対照表.xlsx"


def file_name(diff: PlanDiff) -> str:
    """「46_鹿児島支部_FY2025_新旧対照表.xlsx」, named as the branch's input workbooks are."""
    return _file_name(diff.new)


class _Formats:
    def __init__(self, wb: Workbook):
        base = {"font_name": FONT, "font_size": TEXT_SIZE, "valign": "top", "text_wrap": True}
        side = {"left": 1, "right": 1}
        self.cell = wb.add_format({**base, **side})
        self.cell_under = wb.add_format({**base, **side, "underline": 1})
        self.head_cell = wb.add_format({**base, **side, "bold": True})
        self.head_under = wb.add_format({**base, **side, "bold": True, "underline": 1})
        self.pillar = wb.add_format({**base, **side, "bold": True, "top": 1})
        self.pillar_under = wb.add_format({**base, **side, "bold": True, "top": 1, "underline": 1})
        self.placeholder = wb.add_format({**base, **side, "font_color": "#595959"})
        self.run = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE})
        self.run_under = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE, "underline": 1})
        self.run_double = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE, "underline": 2})
        self.run_bold = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE, "bold": True})
        self.run_bold_under = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE, "bold": True, "underline": 1})
        self.run_bold_double = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE, "bold": True,
                                              "underline": 2})
        self.label = wb.add_format({"font_name": FONT, "font_size": 11, "align": "right"})
        self.title = wb.add_format({"font_name": FONT, "font_size": 14, "bold": True, "align": "center",
                                    "valign": "vcenter"})
        self.legend = wb.add_format({"font_name": FONT, "font_size": TEXT_SIZE, "align": "right"})
        self.head = wb.add_format({"font_name": FONT, "font_size": 11, "bold": True, "align": "center",
                                   "valign": "vcenter", "border": 1, "bg_color": "#F2F2F2"})
        self.end = wb.add_format({"top": 1})


def write_cell(ws: Worksheet, row: int, col: int, cell: Cell | None, f: _Formats, kind: str,
               placeholder: str | None = None) -> None:
    """One side of a row: plain text, wholly underlined text, or rich text with underlined runs."""
    bold = kind in ("pillar", "heading")
    plain_fmt = f.pillar if kind == "pillar" else f.head_cell if bold else f.cell
    under_fmt = f.pillar_under if kind == "pillar" else f.head_under if bold else f.cell_under
    spans = [s for s in cell or () if s.text]
    if not spans:
        if placeholder:
            ws.write_string(row, col, placeholder, f.placeholder)
        else:
            ws.write_blank(row, col, None, plain_fmt)
        return
    if len(spans) == 1 and spans[0].mark in (0, CHANGED):  # rich strings need two fragments
        ws.write_string(row, col, spans[0].text, under_fmt if spans[0].mark else plain_fmt)
        return
    runs = {0: f.run_bold if bold else f.run, CHANGED: f.run_bold_under if bold else f.run_under,
            MOVED: f.run_bold_double if bold else f.run_double}
    fragments: list[Any] = []
    for s in spans:
        fragments.extend((runs[s.mark], s.text))
    if len(spans) == 1:  # a lone double-underlined number: a second, empty-looking run is not allowed
        ws.write_string(row, col, spans[0].text, under_fmt)
        return
    ws.write_rich_string(row, col, *fragments, plain_fmt)


def _height(row: DiffRow) -> float:
    lines = max(lines_of(row.new_text or " ", TEXT_WIDTH), lines_of(row.old_text or " ", TEXT_WIDTH))
    return row_height(lines, TEXT_SIZE)


def _slice(cell: Cell, start: int, end: int) -> Cell:
    out, pos = [], 0
    for sp in cell:
        a, b = max(start, pos), min(end, pos + len(sp.text))
        if a < b:
            out.append(Span(sp.text[a - pos:b - pos], sp.mark))
        pos += len(sp.text)
    return coalesce(out)


def _fits(text: str, limit: int) -> bool:
    return lines_of(text, TEXT_WIDTH) <= limit


def _pieces(cell: Cell | None, limit: int = ROW_LINES) -> list[Cell | None]:
    """A cell cut into pieces of at most `limit` lines: after a 「。」 or a line break where one fits,
    else where the characters fill the piece (a sentence longer than a row)."""
    if cell is None:
        return [None]
    text = cell_text(cell)
    if _fits(text, limit):
        return [cell]
    cuts = [i + 1 for i, ch in enumerate(text) if ch in "。\n"]
    pieces: list[Cell | None] = []
    start = 0
    while start < len(text):
        end = max((c for c in cuts if start < c and _fits(text[start:c], limit)), default=None)
        if end is None:  # no sentence end fits: as many characters as fit
            lo, hi = start + 1, len(text)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if _fits(text[start:mid], limit) else (lo, mid - 1)
            end = lo
        pieces.append(_slice(cell, start, end))
        start = end
    return pieces


def display_rows(diff: PlanDiff) -> list[DiffRow]:
    """The table's rows as written: a pair whose text is longer than ROW_LINES goes on in continuation
    rows (kind 'continued'; the shorter side's cell empty, not 「（新設）」/「（削除）」)."""
    out: list[DiffRow] = []
    for r in diff.rows:
        new, old = _pieces(r.new), _pieces(r.old)
        out.append(DiffRow(r.kind, r.status, new[0], old[0], r.measure_id, r.key))
        for i in range(1, max(len(new), len(old))):
            out.append(DiffRow("continued", r.status, new[i] if i < len(new) else (),
                               old[i] if i < len(old) else (), r.measure_id, r.key))
    return out


def page_breaks(rows: Sequence[DiffRow], first: int, page: float = PAGE_POINTS) -> list[int]:
    """Sheet rows to break before: a page holds what fits; a measure that would not fit in what is
    left starts on the next page when it fits on one page (so its heading never ends a page)."""
    heights = [_height(r) for r in rows]
    blocks: list[tuple[int, int]] = []  # (first row index, last row index) of each measure's block
    start = 0
    for i, r in enumerate(rows):
        if i and r.kind in ("pillar", "heading") and rows[i - 1].kind not in ("pillar",):
            blocks.append((start, i - 1))
            start = i
    blocks.append((start, len(rows) - 1))
    breaks: list[int] = []
    used = 0.0
    for a, b in blocks:
        size = sum(heights[a:b + 1])
        if used and used + size > page and size <= page:
            breaks.append(first + a)
            used = 0.0
        for i in range(a, b + 1):
            if used and used + heights[i] > page:
                breaks.append(first + i)
                used = 0.0
            used += heights[i]
    return breaks


def _write_table(wb: Workbook, diff: PlanDiff, f: _Formats, *, options: TaishohyoOptions, draft: bool,
                 placeholders: bool) -> None:
    ws = wb.add_worksheet(SHEET)
    ws.set_column(0, 1, TEXT_WIDTH)
    ws.write_blank(0, 0, None)
    if options.label:
        ws.write_string(0, 1, options.label, f.label)
    ws.set_row(0, 18)
    ws.merge_range(1, 0, 1, 1, title_of(diff, draft), f.title)
    ws.set_row(1, 24)
    ws.merge_range(2, 0, 2, 1, options.legend, f.legend)
    ws.write_string(3, 0, f"新（{era_year(diff.new.fiscal_year)}）", f.head)
    ws.write_string(3, 1, f"旧（{era_year(diff.old.fiscal_year)}）", f.head)
    ws.set_row(3, 20)
    first = 4
    rows = display_rows(diff)
    for i, r in enumerate(rows):
        n = first + i
        write_cell(ws, n, 0, r.new, f, r.kind, ADDED if placeholders and r.new is None else None)
        write_cell(ws, n, 1, r.old, f, r.kind, DROPPED if placeholders and r.old is None else None)
        ws.set_row(n, _height(r))
    end = first + len(rows)
    ws.write_blank(end, 0, None, f.end)
    ws.write_blank(end, 1, None, f.end)
    ws.set_h_pagebreaks(page_breaks(rows, first))
    print_setup(ws, title_of(diff, draft), repeat=(0, 3), scale=100, top=0.6)
    ws.set_header("")
    ws.hide_gridlines(2)


def _summary_rows(s: ChangeSummary) -> dict[str, list[dict[str, Any]]]:
    targets = [{"kpi": t.label, "old": t.old, "new": t.new, "change": CHANGE_JA[t.change]}
               for group in (s.raised, s.lowered, s.targets_added, s.targets_dropped, s.reworded, s.wording,
                             s.unchanged)
               for t in group]
    measures = [{"what": what, "new": m.new_label, "old": m.old_label}
                for what, group in (("新設", s.measures_added), ("削除", s.measures_dropped),
                                    ("番号の変更", s.measures_renumbered), ("見出しの変更", s.measures_reworded))
                for m in group]
    counts = [{"kpi": c.label, "what": c.what, "old": c.old, "new": c.new,
               "change": (c.new - c.old) if c.new is not None and c.old is not None else None} for c in s.counts]
    pairs = [{"side": "新" if p.side == "new" else "旧", "what": p.label, "text": p.describe_ja()}
             for p in s.inconsistent]
    return {"targets": targets, "measures": measures, "counts": counts, "pairs": pairs}


def _figure(v: float | None) -> str:
    return "" if v is None else format_figure(v)


def _signed(v: float | None) -> str:
    return "" if v is None else ("+" if v > 0 else "") + format_figure(v)


def _write_summary(wb: Workbook, st: Styles, diff: PlanDiff, s: ChangeSummary, draft: bool) -> None:
    sh = Sheet(wb, st, SUMMARY_SHEET, f"{title_of(diff, draft)} 変更の概要")
    rows = _summary_rows(s)
    counts_line = (f"目標：引上げ {len(s.raised)}、引下げ {len(s.lowered)}、据置き {s.targets_kept}、"
                   f"新設 {len(s.targets_added)}、削除 {len(s.targets_dropped)}、文言の変更 {len(s.reworded)}、"
                   f"据置きのうち文の変更 {len(s.wording)}　"
                   f"施策：新設 {len(s.measures_added)}、削除 {len(s.measures_dropped)}、"
                   f"番号の変更 {len(s.measures_renumbered)}、見出しの変更 {len(s.measures_reworded)}　"
                   f"事業内容：追加 {s.items_added}、削除 {s.items_dropped}、変更 {s.items_changed}")
    widths = (50, 22, 22, 16)
    for i, w in enumerate(widths):
        sh.set_width(i, i, w)
    sh.note(counts_line, across=len(widths))
    sh.skip()
    sh.ws.write_string(sh.row, 0, "KPIの目標", st.subtitle)
    sh.row += 1
    sh.table([Column("KPI", 50, lambda r: r["kpi"], "wrap"), Column("旧", 22, lambda r: r["old"], "wrap"),
              Column("新", 22, lambda r: r["new"], "wrap"), Column("変更", 16, lambda r: r["change"], "centre")],
             rows["targets"])
    sh.skip()
    sh.ws.write_string(sh.row, 0, "施策", st.subtitle)
    sh.row += 1
    sh.table([Column("新", 50, lambda r: r["new"], "wrap"), Column("旧", 22, lambda r: r["old"], "wrap"),
              Column("変更", 22, lambda r: r["what"], "centre")], rows["measures"] or [{"what": "なし", "new": "",
                                                                                       "old": ""}])
    sh.skip()
    sh.ws.write_string(sh.row, 0, "対象者数・見込者数", st.subtitle)
    sh.row += 1
    sh.table([Column("KPI", 50, lambda r: r["kpi"], "wrap"), Column("項目", 22, lambda r: r["what"], "wrap"),
              Column("旧 → 新", 22, lambda r: f"{_figure(r['old'])} → {_figure(r['new'])}", "text"),
              Column("増減", 16, lambda r: _signed(r["change"]), "text")],
             rows["counts"] or [{"kpi": "変更なし", "what": "", "old": None, "new": None, "change": None}])
    sh.skip()
    sh.ws.write_string(sh.row, 0, f"率と人数が合わない組（表示の桁で照合、{s.pairs_checked}組のうち）", st.subtitle)
    sh.row += 1
    sh.table([Column("どの組", 50, lambda r: r["what"], "wrap"), Column("新／旧", 22, lambda r: r["side"], "centre"),
              Column("率（見込者数 ÷ 対象者数 = 計算上の率）", 38, lambda r: r["text"], "wrap")],
             rows["pairs"] or [{"what": "なし", "side": "", "text": ""}])
    print_setup(sh.ws, SUMMARY_SHEET, landscape=True)


def write_taishohyo(diff: PlanDiff, out_path: Path | str, *, label: str | None = None, draft: bool = True,
                    legend: str = DEFAULT_LEGEND, placeholders: bool = False, force: bool = True) -> Path:
    """Write the 新旧対照表 of `diff` (and its 変更の概要) to `out_path`; returns the path."""
    out = Path(out_path)
    options = TaishohyoOptions(label, legend)
    with atomic_path(out, force=force) as tmp:
        wb = xlsx_write.Workbook(str(tmp), workbook_options())
        f = _Formats(wb)
        st = Styles(wb)
        _write_table(wb, diff, f, options=options, draft=draft, placeholders=placeholders)
        _write_summary(wb, st, diff, change_summary(diff), draft)
        wb.close()
    return out


def _branch_label(code: str | None, name: str | None) -> str:
    if code:
        try:
            return f"{code} {branch_of(code).display_name}"
        except KeyError:
            pass
    return f"{code or ''} {name or ''}".strip()


def write_taishohyo_summary(summaries: Sequence[ChangeSummary], out_path: Path | str, *,
                            fiscal_year: int | None = None, force: bool = True) -> Path:
    """HQ's view across branches: per branch the counts of each kind of change, every target change,
    and every rate/count pair that disagrees."""
    out = Path(out_path)
    year = fiscal_year or next((s.new_year for s in summaries if s.new_year), None)
    title = f"{wareki_fiscal_year(year) if year else ''} 事業計画 新旧対照表 支部別の変更"
    with atomic_path(out, force=force) as tmp:
        wb = xlsx_write.Workbook(str(tmp), workbook_options())
        st = Styles(wb)
        sh = Sheet(wb, st, "支部別", title)
        sh.note("目標の引上げ・引下げは表示の桁で比べます。率と人数が合わない組は、見込者数 ÷ 対象者数 を率の表示の桁に"
                "丸めて、書かれた率と違うものです。", across=14)
        cols = [Column("支部", 14, lambda s: _branch_label(s.branch_code, s.branch_name), "text"),
                Column("目標 引上げ", 8, lambda s: len(s.raised), "int"),
                Column("目標 引下げ", 8, lambda s: len(s.lowered), "int"),
                Column("目標 据置き", 8, lambda s: s.targets_kept, "int"),
                Column("目標 新設", 8, lambda s: len(s.targets_added), "int"),
                Column("目標 削除", 8, lambda s: len(s.targets_dropped), "int"),
                Column("施策 新設", 8, lambda s: len(s.measures_added), "int"),
                Column("施策 削除", 8, lambda s: len(s.measures_dropped), "int"),
                Column("施策 番号の変更", 8, lambda s: len(s.measures_renumbered), "int"),
                Column("施策 見出しの変更", 8, lambda s: len(s.measures_reworded), "int"),
                Column("事業内容 追加", 8, lambda s: s.items_added, "int"),
                Column("事業内容 削除", 8, lambda s: s.items_dropped, "int"),
                Column("対象者数・見込者数の変更", 10, lambda s: len(s.counts), "int"),
                Column("率と人数が合わない組", 10, lambda s: len(s.inconsistent), "int")]
        head, last = sh.table(cols, list(summaries))
        print_setup(sh.ws, "支部別", repeat=(head, head))
        tg = Sheet(wb, st, "目標の変更", f"{title}：KPIの目標")
        trows = [(s, t) for s in summaries for group in (s.raised, s.lowered, s.targets_added, s.targets_dropped,
                                                          s.reworded, s.wording) for t in group]
        head, _ = tg.table([Column("支部", 14, lambda r: _branch_label(r[0].branch_code, r[0].branch_name), "text"),
                            Column("KPI", 50, lambda r: r[1].label, "wrap"),
                            Column("旧", 16, lambda r: r[1].old, "wrap"), Column("新", 16, lambda r: r[1].new, "wrap"),
                            Column("変更", 12, lambda r: CHANGE_JA[r[1].change], "centre")], trows)
        print_setup(tg.ws, "目標の変更", repeat=(head, head))
        pr = Sheet(wb, st, "率と人数", f"{title}：率と人数が合わない組")
        prows = [(s, p) for s in summaries for p in s.inconsistent]
        head, _ = pr.table([Column("支部", 14, lambda r: _branch_label(r[0].branch_code, r[0].branch_name), "text"),
                            Column("新／旧", 8, lambda r: "新" if r[1].side == "new" else "旧", "centre"),
                            Column("率（見込者数 ÷ 対象者数 = 計算上の率）", 70, lambda r: r[1].describe_ja(), "wrap")],
                           prows)
        print_setup(pr.ws, "率と人数", repeat=(head, head))
        wb.close()
    return out


def summary_file_name(fiscal_year: int | None) -> str:
    return f"FY{fiscal_year}_新旧対照表_支部別の変更.xlsx"



# ---------------------------------------------------------------- plan files in, one workbook per branch out
PLAN_BOOK_SUFFIXES = (".xlsx", ".xlsm")


class PlanFileError(KpisheetError):
    """A plan file `plan diff` was given cannot be read (P701)."""


def read_plan_file(path: Path) -> PlanSubmission:
    """A plan from a returned plan workbook (.xlsx, kpisheet.plan.reader.read_plan) or a plan JSON file
    (PlanSubmission.to_dict's form); PlanFileError (P701) when it is neither or cannot be read."""
    path = Path(path)
    if path.suffix.lower() in PLAN_BOOK_SUFFIXES:
        return _plan_from_book(path)
    if path.suffix.lower() != ".json":
        raise PlanFileError([finding("P701", file=path, data_file=str(path),
                                     reason="事業計画の作成シート（.xlsx）でもJSONファイル（.json）でもありません")])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        plan = PlanSubmission.from_dict(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError([finding("P701", file=path, data_file=str(path), reason=str(exc))]) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PlanFileError([finding("P701", file=path, data_file=str(path),
                                     reason=f"事業計画の形ではありません: {type(exc).__name__} {exc}")]) from None
    if not plan.branch_code or not plan.fiscal_year:
        raise PlanFileError([finding("P701", file=path, data_file=str(path),
                                     reason="支部（branch_code）または年度（fiscal_year）がありません")])
    return plan


def _plan_from_book(path: Path) -> PlanSubmission:
    plan = read_plan(path)
    if not is_plan_read(plan):
        why = "、".join(dict.fromkeys(f"{f.code} {f.text_ja}" for f in plan.findings)) or "事業計画の作成シートではありません"
        raise PlanFileError([finding("P701", file=path, data_file=str(path), reason=why)])
    return plan


def plans_at(path: Path) -> list[tuple[Path, PlanSubmission]]:
    """The plans of a plan file, or of every plan file (*.json, *.xlsx; not Excel's ~$ lock files) in a
    folder, in name order."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", *PLAN_BOOK_SUFFIXES)
                   and not p.name.startswith("~$")) if path.is_dir() else [path]
    if not files:
        raise PlanFileError([finding("P701", file=path, data_file=str(path), reason="事業計画のファイルがありません")])
    return [(f, read_plan_file(f)) for f in files]


@dataclass
class DiffRun:
    written: list[Path] = field(default_factory=list)  # one 新旧対照表 per branch
    summary: Path | None = None  # HQ's workbook across branches
    summaries: list[ChangeSummary] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # P702: a branch in one year only


def _by_branch(plans: Sequence[tuple[Path, PlanSubmission]], side: str, side_en: str,
               findings: list[Finding]) -> dict[str | None, tuple[Path, PlanSubmission]]:
    """The plans of one side by branch code; a branch with two plans on the side is P703 and left out."""
    groups: dict[str | None, list[tuple[Path, PlanSubmission]]] = {}
    for f, p in plans:
        groups.setdefault(p.branch_code, []).append((f, p))
    out = {}
    for code, found in groups.items():
        if len(found) > 1:
            findings.append(finding("P703", file=found[0][0], branch=code, side=side, side_en=side_en,
                                    branch_label=_branch_label(code, found[0][1].branch_name),
                                    files="、".join(str(f) for f, _ in found)))
        else:
            out[code] = found[0]
    return out


def write_taishohyo_set(old: Sequence[tuple[Path, PlanSubmission]], new: Sequence[tuple[Path, PlanSubmission]],
                        out_dir: Path | str, *, label: str | None = None, legend: str = DEFAULT_LEGEND,
                        draft: bool = True, placeholders: bool = False, strict: bool = False,
                        force: bool = False, final: Collection[str] = ()) -> DiffRun:
    """Each branch's 新旧対照表 (new against old, paired by branch code) and HQ's summary into `out_dir`.
    `final`: branches whose new plan is the approved one (no 「（案）」 in their title even with `draft`)."""
    out = Path(out_dir)
    run = DiffRun()
    old_by = _by_branch(old, "旧", "old", run.findings)
    new_by = _by_branch(new, "新", "new", run.findings)
    for code in sorted(set(old_by) & set(new_by), key=lambda c: c or ""):
        (_, o), (f, n) = old_by[code], new_by[code]
        if o.fiscal_year is not None and n.fiscal_year is not None and o.fiscal_year >= n.fiscal_year:
            run.findings.append(finding("P704", file=f, branch=code, branch_label=_branch_label(code, n.branch_name),
                                        old_year=o.fiscal_year, new_year=n.fiscal_year))
            del old_by[code], new_by[code]
    both = sorted(set(old_by) & set(new_by), key=lambda c: c or "")
    if not force:  # nothing is written when any output is there already
        paths = [out / _file_name(new_by[c][1]) for c in both]
        if both:
            paths.append(out / summary_file_name(new_by[both[0]][1].fiscal_year))
        existing = [p for p in paths if p.exists()]
        if existing:
            raise OutputExistsError(*existing)
    for code in sorted(set(old_by) ^ set(new_by), key=lambda c: c or ""):  # a branch of one side only
        if any(f.branch == code for f in run.findings):
            continue  # already named (P703)
        side, (f, p) = ("新", new_by[code]) if code in new_by else ("旧", old_by[code])
        run.findings.append(finding("P702", file=f, branch=code, data_file=str(f),
                                    branch_label=_branch_label(code, p.branch_name), side=side,
                                    side_en="new" if side == "新" else "old"))
    for code in both:
        diff = diff_plans(old_by[code][1], new_by[code][1], strict=strict)
        run.written.append(write_taishohyo(diff, out / file_name(diff), label=label, draft=draft and code not in final,
                                           legend=legend, placeholders=placeholders))
        run.summaries.append(change_summary(diff))
    if run.summaries:
        year = run.summaries[0].new_year
        run.summary = write_taishohyo_summary(run.summaries, out / summary_file_name(year), fiscal_year=year)
    return run


@dataclass
class LedgerSides:
    """The two sides of `plan diff --fy` as the ledger holds them."""

    old: list[tuple[Path, PlanSubmission]]
    new: list[tuple[Path, PlanSubmission]]
    final: set[str]  # branches whose new side is the approved version (their title has no 「（案）」)


def ledger_sides(ledger: Path, fiscal_year: int, branches: Collection[str] | None = None) -> LedgerSides:
    """Each branch's plan of `fiscal_year` against its plan of the year before, from the ledger: the
    approved version of each year where there is one, else the latest (kpisheet.ledger.plans)."""
    from kpisheet.ledger.plans import approved_plans, current_plans

    def year(fy: int) -> tuple[dict[str, PlanSubmission], set[str]]:
        approved = approved_plans(ledger, fy)
        plans = {**current_plans(ledger, fy), **approved}
        wanted = {c: p for c, p in plans.items() if branches is None or c in branches}
        return wanted, set(approved)

    new, approved = year(fiscal_year)
    old, _ = year(fiscal_year - 1)
    return LedgerSides([(Path(p.path), p) for p in old.values()], [(Path(p.path), p) for p in new.values()],
                       approved & set(new))
