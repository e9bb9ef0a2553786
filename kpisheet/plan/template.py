"""The 事業計画 workbook HQ sends each branch in January (`kpisheet plan generate`).

One .xlsx per branch (and 本部) and fiscal year, written by XlsxWriter like the monthly workbook
(kpisheet.template): every input is a workbook-level defined name (`pl_…`, kpisheet.plan.names),
only input cells are unlocked, every visible sheet is protected and the structure locked
(kpisheet.template.protection), and the workbook checks itself (入力チェック, the formulas of
kpisheet.check.selfcheck) with the count in the name `check_count`.

    入力の手引き      how to fill it in, the colours, the 入力チェック count, an example
    施策と事業内容    per catalogue measure the branch carries out: its numbering and heading, 担当グループ,
                      重点, 記載先 (this measure, or another one it is written under), then the activity
                      rows (番号 (1)/①/ア, 小見出し, 事業内容, 担当グループ, 区分 継続/新規/拡充/見直し);
                      after each pillar, blocks for the branch's own measures
    年間目標           per KPI: last year's value with its status and as-of text, the kind of target
                      (数値 / 対前年度以上), the target, 対象者数 and 見込者数 where the KPI takes them
                      (the rate shown live), 目標の考え方 and the sentence the plan will print
    _lists            (hidden) the drop-down lists
    _meta             (very hidden) format kpisheet-plan, plan template version, plan layout digest,
                      branch, FY, and what HQ prefilled

Prefilled from the catalogue (fixed targets, the rule's kind, qualitative wording, AP headings),
from last year's approved plan when given (`previous`: headings, numbering, groups and items,
区分 継続 with the origin of each item) and from last year's values when given (`results`).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import xlsxwriter

from kpisheet import PLAN_FORMAT, PLAN_TEMPLATE_VERSION, __version__
from kpisheet.check import selfcheck as sc
from kpisheet.domain.catalogue import HQ_CODE, Branch, Catalogue, Kpi, Measure, catalogue_for_fy, load_catalogue, load_mapping
from kpisheet.domain.catalogue import branch as branch_by_code
from kpisheet.domain.display import format_value, number_format, stored
from kpisheet.domain.findings import Finding, KpisheetError, has_errors
from kpisheet.domain.fiscal import wareki_date, wareki_fiscal_year
from kpisheet.domain.model import InputValue
from kpisheet.domain.plan import EXPECTED_STATUSES, ITEM_FLAGS, PlanItem, PlanMeasure, PlanSubmission
from kpisheet.domain.settings import HqSettings
from kpisheet.fileio import OutputExistsError, atomic_path
from kpisheet.plan import names as pn
from kpisheet.read.value_tables import ValueTable, read_value_table
from kpisheet.template.book import _STYLE_PARTS, TemplateLintError, _lines, _page_breaks, _page_rows_height, _Sheet
from kpisheet.template.build import _select_branches, template_settings, workbook_branches
from kpisheet.template.layout import CALC_FILL, FONT, INPUT_FILL, PREFILL_FILL
from kpisheet.template.protection import is_locked, lock_structure, locked_workbook
from kpisheet.xlsx_write import cell_reference

MIN_ITEM_ROWS = 10  # 事業内容 rows per measure at least (last year's longest measure + 3 when more)
BRANCH_MEASURES_PER_PILLAR = 2  # blocks for the branch's own measures after each pillar
DEFAULT_GROUPS = ("企画総務G", "保健G", "業務G", "レセプトG")
KIND_VALUE = "数値"
KIND_RULE = {">=": "対前年度以上", "<=": "対前年度以下"}
COVERED_HERE = "この施策に記載"
HELPER_COLUMNS = 6  # inputs sit in columns B..G
HELPER_OFFSET = 20  # an input's 入力チェック helper sits this many columns to its right (hidden)

# what the 確認 column says (plan-only checks; the rest are selfcheck's words)
OVER_POPULATION = "見込者数が対象者数を超えています。"
RATE_MISMATCH = "見込者数÷対象者数が年間目標と一致しません（表示の桁で確認）。"
RULE_WITH_NUMBER = "目標の種類が対前年度のときは年間目標を空欄に（数値で定めるときは種類を「数値」に）。"
BELOW_LAST_YEAR = "前年度の見込み・実績より低い目標です。目標の考え方を記入してください。"
LAXER_THAN_FIXED = "全国一律の目標より緩い目標です。目標の考え方を記入してください。"
EMPTY_MEASURE = "事業内容を1行以上記入してください（他の施策に含めて記載した場合は記載先を選択）。"
ITEM_WITHOUT_TEXT = "事業内容が空欄です。"

# column widths (B..) and where things sit
MEASURE_WIDTHS = (7, 16, 58, 12, 8, 34)  # B 番号 | C 小見出し | D 事業内容 | E 担当G | F 区分 | G 確認 (screen)
KPI_WIDTHS = (20, 13, 13, 13, 13, 26, 34)  # B 項目 | C..F values | G notes | H 確認 (screen)
MEASURE_CHECK_COL, KPI_CHECK_COL = 6, 7


@dataclass(frozen=True)
class _Prefill:
    value: Any
    prefilled: bool


class PlanBook:
    """The context of one plan workbook while it is written: formats, names, checks, page blocks."""

    def __init__(self, wb: xlsxwriter.Workbook, catalogue: Catalogue, fiscal_year: int, branch: Branch, *,
                 previous: PlanSubmission | None, results: Mapping[str, float], results_status: str,
                 results_as_of: str | None, password: str | None, generated_at: datetime, settings: HqSettings,
                 results_notes: Mapping[str, tuple[str, str | None]] | None = None):
        self.wb, self.cat, self.fy, self.branch = wb, catalogue, fiscal_year, branch
        self.previous, self.results = previous, results
        self.results_status, self.results_as_of = results_status, results_as_of
        self.results_notes = dict(results_notes or {})  # KPI id: (status, as of) of one value
        self.password, self.generated_at, self.settings = password, generated_at, settings
        self.kpis = catalogue.kpis_for(fiscal_year, branch.code)
        self.measures = catalogue.measures_for(branch.code)
        self.carried, self.dropped = carry_over(previous, catalogue)
        self.rows_per_measure = item_rows(self.carried)
        self.names: dict[str, str] = {}
        self.formats: dict[tuple[Any, ...], Any] = {}
        self.format_keys: dict[int, tuple[Any, ...]] = {}
        self.helpers: dict[str, list[str]] = {pn.SHEET_MEASURES: [], pn.SHEET_KPIS: []}
        self.row_helpers: dict[tuple[str, int], list[str]] = {}
        self.blocks: dict[str, list[tuple[int, int]]] = {pn.SHEET_MEASURES: [], pn.SHEET_KPIS: []}
        self.heights: dict[tuple[str, int], float] = {}
        self.validations: list[dict[str, Any]] = []
        self.prefilled: dict[str, Any] = {"targets": {}, "kinds": {}, "expected": {}, "headings": {}, "items": {}}
        self.dv_groups: dict[tuple[str, str], tuple[dict[str, Any], tuple[int, int], list[str]]] = {}
        self.sheets = {n: wb.add_worksheet(n, worksheet_class=_Sheet) for n in (pn.SHEET_GUIDE, pn.SHEET_MEASURES, pn.SHEET_KPIS,
                                                        pn.SHEET_LISTS, pn.SHEET_META)}
        self.title = f"{wareki_fiscal_year(fiscal_year)} 事業計画 作成シート（{branch.display_name}）"
        self.count_cells: dict[str, str] = {}
        self.shown: dict[tuple[str, str], str] = {}  # (helper cell, sheet) -> its cached value

    def fmt(self, *keys: str, **extra: Any) -> Any:
        cache_key = (keys, tuple(sorted(extra.items())))
        if cache_key not in self.formats:
            props: dict[str, Any] = {}
            for k in keys:
                props.update(_STYLE_PARTS[k])
            props.update(extra)
            self.formats[cache_key] = self.wb.add_format(props)
            self.format_keys[id(self.formats[cache_key])] = cache_key
        return self.formats[cache_key]

    def as_text(self, cell_format: Any) -> Any:
        """The same format as text (@): what a person types stays as typed — 「(1)」 is not -1, 「1」 not 1.0."""
        keys, extra = self.format_keys[id(cell_format)]
        return self.fmt(*keys, **{**dict(extra), "num_format": "@"})

    def height(self, ws: Any, row: int, height: float) -> None:
        ws.set_row(row, height)
        self.heights[(ws.name, row)] = height

    def input(self, ws: Any, row: int, col: int, key: pn.PlanKey, value: Any, cell_format: Any, *,
              merge_to: int | None = None, text: bool = False) -> str:
        """Write an input cell with its defined name; returns its A1 reference.  Text inputs are formatted
        as text (@), so Excel and LibreOffice keep what is typed there as typed."""
        if key.is_text or text:
            cell_format = self.as_text(cell_format)
        if merge_to is not None:
            ws.merge_range(row, col, row, merge_to, "", cell_format)
        if value is None:
            ws.write_blank(row, col, None, cell_format)
        elif isinstance(value, str):
            ws.write_string(row, col, value, cell_format)
        else:
            ws.write_number(row, col, value, cell_format)
        if key.name in self.names:
            raise TemplateLintError(f"defined name {key.name} used twice")
        self.names[key.name] = f"='{ws.name}'!{cell_reference(row, col, row_abs=True, col_abs=True)}"
        self.wb.define_name(key.name, self.names[key.name])
        return cell_reference(row, col)

    def check(self, ws: Any, row: int, col: int, reasons: list[sc.Reason], shows: str = "") -> None:
        """The input's 入力チェック helper (hidden, right of the print area); red while it says something.
        `shows`: what it says in the workbook as written (its cached value: LibreOffice shows cached values
        until a cell they depend on changes), so a fresh workbook counts its empty measures and targets."""
        if not reasons:
            return
        helper = cell_reference(row, col + HELPER_OFFSET)
        ws.write_formula(row, col + HELPER_OFFSET, sc.reasons_formula(reasons), None, shows)
        self.shown[helper, ws.name] = shows
        self.helpers[ws.name].append(helper)
        self.row_helpers.setdefault((ws.name, row), []).append(helper)
        ws.conditional_format(row, col, row, col, {"type": "formula", "criteria": f"=LEN({helper})>0",
                                                   "format": self.fmt("problem_cond")})

    def validate(self, ws: Any, row: int, col: int, options: dict[str, Any]) -> None:
        """Collect a validation; identical ones are written once over all their cells (as the monthly book does)."""
        group = self.dv_groups.setdefault((ws.name, repr(sorted(options.items()))), (options, (row, col), []))
        group[2].append(cell_reference(row, col))

    def write_validations(self) -> None:
        for (sheet, _), (options, first, refs) in self.dv_groups.items():
            self.validations.append(options)
            self.sheets[sheet].data_validation(first[0], first[1], first[0], first[1],
                                               {"ignore_blank": True, "show_input": True, "show_error": True,
                                                "error_type": "stop", **options, "multi_range": " ".join(refs)})

    def list_validation(self, ws: Any, row: int, col: int, list_name: str, title: str, *, strict: bool = True) -> None:
        self.validate(ws, row, col, {"validate": "list", "source": f"={list_name}", "input_title": title,
                                     "input_message": "リストから選択してください。" if strict else
                                     "リストから選ぶか、直接入力してください。",
                                     "error_title": "リストから選んでください",
                                     "error_message": "リストにある値を選んでください。",
                                     "error_type": "stop" if strict else "information"})

    def row_summaries(self, ws: Any, check_col: int) -> None:
        for (sheet, row), helpers in self.row_helpers.items():
            if sheet == ws.name:
                ws.write_formula(row, check_col, "=" + "&".join(helpers), self.fmt("check"),
                                 "".join(self.shown[h, sheet] for h in helpers))

    def shown_count(self, sheet: str) -> int:
        """How many of the sheet's helpers say something in the workbook as written."""
        return sum(1 for (_, s), text in self.shown.items() if s == sheet and text)

    def count_formula(self, first_row: int, last_row: int) -> str:
        """How many helpers of the sheet say something: they all sit in the hidden helper columns."""
        first = cell_reference(first_row, 1 + HELPER_OFFSET)
        last = cell_reference(last_row, HELPER_COLUMNS + HELPER_OFFSET)
        return f"=SUMPRODUCT((LEN({first}:{last})>0)*1)"

    def page_setup(self, ws: Any, last_col: int, last_row: int, widths: Iterable[float], repeat: tuple[int, int]) \
            -> None:
        page = _page_rows_height(widths)
        breaks = _page_breaks(self.blocks.get(ws.name, []), lambda r: self.heights.get((ws.name, r), 14.0),
                              repeat, page)
        if breaks:
            ws.set_h_pagebreaks(breaks)
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.center_horizontally()
        ws.set_footer(f"&L&10{self.branch.display_name}　{wareki_fiscal_year(self.fy)} 事業計画&C&10&P / &N ページ&R&10&A")
        ws.repeat_rows(*repeat)
        ws.print_area(1, 1, last_row, last_col)
        ws.hide_gridlines(1)
        ws.protect(self.password or "", {"format_columns": True, "format_rows": True,
                                         "select_locked_cells": True, "select_unlocked_cells": True})


# ================================================================ public API
def plan_filename(branch: Branch, fiscal_year: int) -> str:
    """'10_群馬支部_FY2021_事業計画.xlsx'."""
    return f"{branch.code}_{branch.display_name}_FY{fiscal_year}_事業計画.xlsx"


def carry_over(previous: PlanSubmission | None, catalogue: Catalogue) -> tuple[dict[str, PlanMeasure], list[str]]:
    """Last year's measures as this year's catalogue has them: ({measure id: measure}, [ids dropped]).

    The same id (or the branch's own B- measure) is carried as it was.  Across the term change the
    term mapping decides (templates/mapping_term5_term6.json): 継続 / 名称変更 / 統合 / 分離 carry the items
    to the (first) successor, 統合's with the old measure named in 小見出し 「（第5期 柔道整復…）」, under this
    year's action-plan heading; 廃止 drops them (listed in _meta).  Every carried item's origin is
    '<last year>:<its measure id there>:<n>'."""
    if previous is None:
        return {}, []
    ids = {m.id for m in catalogue.measures}
    mapping = load_mapping()
    links = {link.from_id: link for link in mapping.measures if link.from_id} \
        if mapping.to_term == catalogue.term else {}
    old = load_catalogue(mapping.from_term) if links else None
    out: dict[str, PlanMeasure] = {}
    dropped: list[str] = []
    for mid, m in previous.measures.items():
        def origin(item: PlanItem, mid: str = mid) -> str:
            return f"{previous.fiscal_year}:{mid}:{item.n}"

        if mid in ids or mid.startswith("B-"):
            out[mid] = replace(m, items=tuple(replace(i, origin=origin(i)) for i in m.items))
            continue
        link = links.get(mid)
        if link is None or not link.to_ids or link.relation in ("廃止", "新設"):
            dropped.append(mid)
            continue
        target = link.to_ids[0]
        named = link.relation == "統合" and old is not None and any(x.id == mid for x in old.measures)
        sub = f"（第{mapping.from_term}期 {old.measure(mid).label}）" if named and old is not None else None
        items = tuple(replace(i, subheading=i.subheading if i.subheading.value or sub is None else InputValue(sub),
                              origin=origin(i)) for i in m.items)
        known = out.get(target)
        if known is None:
            out[target] = PlanMeasure(target, group=m.group, focus=m.focus, items=items)
        else:
            out[target] = replace(known, items=known.items + items, focus=known.focus or m.focus)
    for mid, m in out.items():  # numbered in order again
        out[mid] = replace(m, items=tuple(replace(i, n=k) for k, i in enumerate(m.items, start=1)))
    return out, dropped


def item_rows(carried: Mapping[str, PlanMeasure]) -> int:
    """事業内容 rows per measure: 10, or the longest measure carried from last year + 3 when that is more."""
    longest = max((len(m.items) for m in carried.values()), default=0)
    return max(MIN_ITEM_ROWS, longest + 3)


def plan_layout_digest(catalogue: Catalogue, fiscal_year: int, branch_code: str, rows_per_measure: int) -> str:
    """The plan workbook's own digest: its measure ids, KPI ids and the KPIs' plan counts, and its rows.

    Independent of the monthly catalogue digest (labels and plan data do not change monthly workbooks)."""
    shape = {"measures": [m.id for m in catalogue.measures_for(branch_code)],
             "kpis": [[k.id, k.kind, bool(k.plan and k.plan.takes_counts), k.plan.shared_with if k.plan else None]
                      for k in catalogue.kpis_for(fiscal_year, branch_code)],
             "rows_per_measure": rows_per_measure, "branch_measures": BRANCH_MEASURES_PER_PILLAR}
    blob = json.dumps(shape, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def build_plan(catalogue: Catalogue, fiscal_year: int, branch: Branch | str, *,
               previous: PlanSubmission | None = None,
               results: ValueTable | Mapping[tuple[str, str], float] | None = None,
               results_status: str = "確定", results_as_of: str | None = None,
               password: str | None = None, generated_at: datetime | None = None,
               settings: HqSettings | None = None,
               results_notes: Mapping[tuple[str, str], tuple[str, str | None]] | None = None) -> bytes:
    """The plan workbook of one branch and FY, as the bytes of an .xlsx file.

    `previous`: the branch's approved plan of the year before (headings and items are carried);
    `results`: last year's values {(branch code, KPI id): value in display units} (a ValueTable as
    generate reads --baseline), shown as 令和N年度の値 with `results_status` and `results_as_of`, or, for a
    value `results_notes` has, with its own (status, as of) (values from the ledger: kpisheet.plan.prefill)."""
    settings = template_settings(settings)
    if isinstance(branch, str):
        branch = branch_by_code(branch)
    if results_status not in EXPECTED_STATUSES:
        raise ValueError(f"results_status must be one of {EXPECTED_STATUSES}")
    values = results.values if isinstance(results, ValueTable) else dict(results or {})
    mine = {kpi_id: v for (code, kpi_id), v in values.items() if code == branch.code}
    notes = {kpi_id: n for (code, kpi_id), n in (results_notes or {}).items() if code == branch.code}
    generated_at = generated_at or datetime.now().astimezone().replace(microsecond=0)
    buf = io.BytesIO()
    wb = locked_workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                               "strings_to_numbers": False,
                               "default_format_properties": {"font_name": FONT, "font_size": 10}}, password)
    book = PlanBook(wb, catalogue, fiscal_year, branch, previous=previous, results=mine,
                    results_status=results_status, results_as_of=results_as_of, password=password,
                    generated_at=generated_at, settings=settings, results_notes=notes)
    book.sheets[pn.SHEET_GUIDE].activate()
    _write_lists(book)
    _write_measures(book)
    _write_kpis(book)
    _write_guide(book)
    _write_meta(book)
    book.write_validations()
    _lint(book)
    wb.close()
    data = buf.getvalue()
    return data if is_locked(data) else lock_structure(data, password)


def generate_plans(fiscal_year: int, out_dir: Path, *, branches: Iterable[str] | None = None,
                   previous: Mapping[str, PlanSubmission] | None = None,
                   results: ValueTable | Mapping[tuple[str, str], float] | None = None,
                   baseline_path: Path | None = None, results_status: str = "確定",
                   results_as_of: str | None = None, password: str | None = None, force: bool = False,
                   generated_at: datetime | None = None, settings: HqSettings | None = None,
                   progress: Callable[[Path], None] | None = None,
                   results_notes: Mapping[tuple[str, str], tuple[str, str | None]] | None = None) -> list[Path]:
    """Write the plan workbooks of `fiscal_year` into `out_dir`, one atomic file per branch (and 本部 when
    the FY has national-only KPIs); the paths written, in order.

    `previous` is last year's approved plan per branch code; `results` (or `baseline_path`, read as
    `kpisheet generate --baseline` reads it) last year's values, `results_notes` a value's own status and
    as-of text (kpisheet.plan.prefill.from_ledger gives all three).  An unknown branch code or a bad
    baseline row raises KpisheetError before anything is written; existing files raise
    OutputExistsError unless `force`."""
    settings = template_settings(settings)
    catalogue = catalogue_for_fy(fiscal_year)
    findings: list[Finding] = []
    chosen = _select_branches(catalogue, fiscal_year, branches, findings) if branches \
        else workbook_branches(catalogue, fiscal_year)
    if baseline_path is not None:
        table = read_value_table(baseline_path, fiscal_year, kind="baseline")
        findings += table.findings
        results = table
    if has_errors(findings):
        raise KpisheetError(findings)
    finals = [Path(out_dir) / plan_filename(b, fiscal_year) for b in chosen]
    existing = [p for p in finals if p.exists()]
    if existing and not force:
        raise OutputExistsError(*existing)
    generated_at = generated_at or datetime.now().astimezone().replace(microsecond=0)
    for b, final in zip(chosen, finals, strict=True):
        data = build_plan(catalogue, fiscal_year, b, previous=(previous or {}).get(b.code), results=results,
                          results_status=results_status, results_as_of=results_as_of, password=password,
                          results_notes=results_notes,
                          generated_at=generated_at, settings=settings)
        with atomic_path(final, force=force) as tmp:
            tmp.write_bytes(data)
        if progress:
            progress(final)
    return finals


# ================================================================ _lists
def _write_lists(book: PlanBook) -> None:
    ws = book.sheets[pn.SHEET_LISTS]
    covered = [COVERED_HERE] + [covered_choice(m) for m in book.measures]
    lists: list[tuple[str, list[str]]] = [
        (pn.LIST_NAMES["group"], list(DEFAULT_GROUPS)), (pn.LIST_NAMES["flag"], list(ITEM_FLAGS)),
        (pn.LIST_NAMES["status"], list(EXPECTED_STATUSES)), (pn.LIST_NAMES["focus"], ["○"]),
        (pn.LIST_NAMES["covered"], covered),
        ("pl_list_kind_ge", [KIND_VALUE, KIND_RULE[">="]]), ("pl_list_kind_le", [KIND_VALUE, KIND_RULE["<="]])]
    for col, (name, values) in enumerate(lists):
        for r, v in enumerate(values):
            ws.write_string(r, col, v)
        ref = f"='{pn.SHEET_LISTS}'!{cell_reference(0, col, True, True)}:{cell_reference(len(values) - 1, col, True, True)}"
        book.wb.define_name(name, ref)
    ws.protect(book.password or "")
    ws.hide()


def covered_choice(measure: Measure) -> str:
    """「5-3-I-2 人事評価制度の適正な運用に含めて記載」: the 記載先 entry naming another measure."""
    return f"{measure.id} {measure.label}に含めて記載"


# ================================================================ 施策と事業内容
def _write_measures(book: PlanBook) -> None:
    ws = book.sheets[pn.SHEET_MEASURES]
    ws.set_column(0, 0, 2)
    for i, w in enumerate(MEASURE_WIDTHS, start=1):
        ws.set_column(i, i, w)
    ws.set_column(1 + HELPER_OFFSET, HELPER_COLUMNS + HELPER_OFFSET, None, None, {"hidden": True})
    ws.write_string(1, 1, book.title, book.fmt("title"))
    book.height(ws, 1, 24)
    ws.write_string(2, 1, f"{wareki_fiscal_year(book.fy)}に支部が行う施策と事業内容を、施策ごとに記入します。"
                          "目標は「年間目標」シートに記入します。", book.fmt("small"))
    for r, (f, label) in enumerate((("preparer", "記入者"), ("contact", "連絡先")), start=3):
        ws.write_string(r, 1, label, book.fmt("label", "center", font_size=9))
        book.input(ws, r, 2, pn.info_key(f), None, book.fmt("input"), merge_to=3)
    count = cell_reference(3, 1 + HELPER_OFFSET)
    book.count_cells[pn.SHEET_MEASURES] = count
    ws.write_string(3, 4, "入力チェック", book.fmt("label", "center", font_size=9))
    ws.write_formula(3, 5, f"={count}", book.fmt("count", font_size=12), "")
    heads = ("番号", "小見出し", "事業内容", "担当G", "区分", "確認")
    for c, h in enumerate(heads, start=1):
        ws.write_string(6, c, h, book.fmt("head", font_size=9))
    row = 7
    for pillar in sorted({m.pillar for m in book.measures}):
        p = book.cat.pillar(pillar)
        ws.merge_range(row, 1, row, 5, f"{p.no}. {p.label}", book.fmt("pillar"))
        book.height(ws, row, 18)
        row += 1
        for m in (m for m in book.measures if m.pillar == pillar):
            row = _measure_block(book, ws, row, m.id, m)
        for n in range(1, BRANCH_MEASURES_PER_PILLAR + 1):
            row = _measure_block(book, ws, row, pn.branch_measure_id(pillar, n), None)
    book.row_summaries(ws, MEASURE_CHECK_COL)
    n = book.shown_count(pn.SHEET_MEASURES)
    ws.write_formula(3, 1 + HELPER_OFFSET, book.count_formula(7, row - 1), None, n)
    ws.write_formula(3, 5, f"={count}", book.fmt("count", font_size=12), n)
    ws.freeze_panes(7, 0)
    book.page_setup(ws, 5, row - 1, MEASURE_WIDTHS[:5], (6, 6))


def _measure_block(book: PlanBook, ws: Any, row: int, mid: str, measure: Measure | None) -> int:
    first = row
    prev = book.carried.get(mid)
    if measure is not None:
        kpis = "・".join(k.short_label for k in book.cat.kpis_of_measure(mid) if k in book.kpis)
        optional = "" if measure.plan_required else "（記載は任意）"
        band = f"{measure.id}　{measure.heading}{optional}" + (f"　　KPI：{kpis}（目標は「年間目標」シート）" if kpis else "")
    else:
        band = f"支部独自の施策（アクションプランにない施策があれば記入。{mid}）"
    ws.merge_range(row, 1, row, 5, band, book.fmt("block", font_size=9, text_wrap=True))
    book.height(ws, row, 16 if len(band) < 70 else 28)
    row += 1
    # heading row: numbering | heading (C:D) | group | 重点
    numbering = _text(prev.numbering.value) if prev and prev.heading.value else (measure.number if measure else None)
    heading = _text(prev.heading.value) if prev and prev.heading.value else (measure.label if measure else None)
    group = _text(prev.group.value) if prev else None
    if heading is not None:
        book.prefilled["headings"][mid] = heading
    pre = "prefill" if prev or measure else "input"
    refs = {}
    refs["numbering"] = book.input(ws, row, 1, pn.measure_key(mid, "numbering"), numbering,
                                   book.fmt(pre if numbering else "input", align="center"))
    refs["heading"] = book.input(ws, row, 2, pn.measure_key(mid, "heading"), heading,
                                 book.fmt(pre if heading else "input", "text", bold=True), merge_to=3)
    refs["group"] = book.input(ws, row, 4, pn.measure_key(mid, "group"), group,
                               book.fmt("prefill" if group else "input", font_size=9, shrink=True))
    book.list_validation(ws, row, 4, pn.LIST_NAMES["group"], "担当グループ", strict=False)
    refs["focus"] = book.input(ws, row, 5, pn.measure_key(mid, "focus"), "○" if prev and prev.focus else None,
                               book.fmt("input", align="center"))
    book.list_validation(ws, row, 5, pn.LIST_NAMES["focus"], "重点施策なら○")
    book.height(ws, row, 18)
    heading_row = row
    row += 1
    ws.write_string(row, 1, "記載先", book.fmt("label", "center", font_size=9))
    covered = None
    if prev and prev.covered_by and any(m.id == prev.covered_by for m in book.measures):
        covered = covered_choice(book.cat.measure(prev.covered_by))
    if measure is not None:
        refs["covered"] = book.input(ws, row, 2, pn.measure_key(mid, "covered"), covered or COVERED_HERE,
                                     book.fmt("prefill", font_size=9), merge_to=3)
        book.list_validation(ws, row, 2, pn.LIST_NAMES["covered"], "記載先")
    else:
        ws.merge_range(row, 2, row, 3, "（支部独自の施策は、見出しと事業内容を記入）", book.fmt("info"))
    ws.merge_range(row, 4, row, 5, "担当G・重点は上の行", book.fmt("info"))
    row += 1
    items = list(prev.items) if prev else []
    text_cells: list[str] = []
    written: list[str] = []  # the activities prefilled
    origins: list[str | None] = []
    for n in range(1, book.rows_per_measure + 1):
        item = items[n - 1] if n <= len(items) else None
        pre_item = "prefill" if item is not None else "input"
        level = book.input(ws, row, 1, pn.item_key(mid, n, "level"), _text(item.level.value) if item else None,
                           book.fmt(pre_item, align="center", font_size=9))
        sub = book.input(ws, row, 2, pn.item_key(mid, n, "sub"), _text(item.subheading.value) if item else None,
                         book.fmt(pre_item, "text", font_size=9))
        text = _text(item.text.value) if item else None
        tcell = book.input(ws, row, 3, pn.item_key(mid, n, "text"), text, book.fmt(pre_item, "text"))
        book.validate(ws, row, 3, {"validate": "length", "criteria": "<=", "value": 1000,
                                   "input_title": "事業内容", "input_message": "1000文字以内。セル内の改行は Alt＋Enter です。",
                                   "error_title": "文字数が多すぎます", "error_message": "1000文字以内にまとめてください。"})
        book.input(ws, row, 4, pn.item_key(mid, n, "group"), _text(item.group.value) if item else None,
                   book.fmt(pre_item, font_size=9, shrink=True))
        book.list_validation(ws, row, 4, pn.LIST_NAMES["group"], "担当グループ", strict=False)
        book.input(ws, row, 5, pn.item_key(mid, n, "flag"), "継続" if item is not None and text else None,
                   book.fmt(pre_item, align="center", font_size=9))
        book.list_validation(ws, row, 5, pn.LIST_NAMES["flag"], "区分")
        book.check(ws, row, 3, [(f"AND({sc.blank(tcell)},OR(NOT({sc.blank(level)}),NOT({sc.blank(sub)})))",
                                 ITEM_WITHOUT_TEXT)])
        text_cells.append(tcell)
        if text:
            written.append(text)
        origins.append(item.origin if item is not None else None)
        if text:  # an empty row keeps no set height: Excel and LibreOffice fit it to what is typed
            book.height(ws, row, max(16.0, min(120.0, _lines(text, MEASURE_WIDTHS[2] * 1.05) * 13.0 + 4)))
        row += 1
    if any(origins):
        book.prefilled["items"][mid] = origins
    if measure is not None and measure.plan_required:
        cov = refs["covered"]
        empty = "+".join(f"LEN({c})" for c in text_cells)
        book.check(ws, heading_row, 2, [(f"AND({empty}=0,OR(LEN({cov})=0,{cov}=\"{COVERED_HERE}\"))",
                                         EMPTY_MEASURE)],
                   shows=EMPTY_MEASURE if not any(written) and covered is None else "")
    book.blocks[pn.SHEET_MEASURES].append((first, row - 1))
    return row


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


# ================================================================ 年間目標
def sentence_template(kpi: Kpi) -> str:
    """The KPI sentence with {target}: the catalogue's `plan.sentence`, else 「{label}を{target}以上とする。」."""
    if kpi.plan is not None and kpi.plan.sentence:
        return kpi.plan.sentence
    cmp = "以上" if kpi.direction == ">=" else "以下"
    return f"{kpi.label}を{{target}}{cmp}とする。"


def plan_sentence(kpi: Kpi, kind: str, target: float | str | None) -> str:
    """The sentence as the plan prints it: 「生活習慣病予防健診実施率を61.0%以上とする。」,
    「…を対前年度以上とする。」, a qualitative KPI's own wording; '' without a target."""
    if kind == "text":
        return "" if target is None else str(target)
    if kind == "previous_year":
        return sentence_template(kpi).replace("{target}", "対前年度")
    if target is None or isinstance(target, str):
        return ""
    if _is_whole(kpi, float(target)):
        return sentence_template(kpi).replace("{target}以上", "100%")
    return sentence_template(kpi).replace("{target}", format_value(kpi, float(target)))


def _is_whole(kpi: Kpi, target: float) -> bool:
    """A percent KPI's target of 100%: 「…を100%とする。」, as the documents write it (not 「100.0%以上」)."""
    return kpi.is_percent and kpi.direction == ">=" and target >= 100


def _write_kpis(book: PlanBook) -> None:
    ws = book.sheets[pn.SHEET_KPIS]
    ws.set_column(0, 0, 2)
    for i, w in enumerate(KPI_WIDTHS, start=1):
        ws.set_column(i, i, w)
    ws.set_column(1 + HELPER_OFFSET, HELPER_COLUMNS + HELPER_OFFSET, None, None, {"hidden": True})
    ws.write_string(1, 1, f"{wareki_fiscal_year(book.fy)} 年間目標（{book.branch.display_name}）", book.fmt("title"))
    book.height(ws, 1, 24)
    ws.write_string(2, 1, "KPIごとに、前年度の見込み・実績と年間目標を記入します。割合は「61.0%」のように％を付けて入力します。"
                          "対象者数・見込者数のあるKPIは、見込者数÷対象者数が年間目標と一致するように記入します。", book.fmt("small"))
    count = cell_reference(3, 1 + HELPER_OFFSET)
    book.count_cells[pn.SHEET_KPIS] = count
    ws.write_string(3, 5, "入力チェック", book.fmt("label", "center", font_size=9))
    ws.write_formula(3, 6, f"={count}", book.fmt("count", font_size=12), "")
    for c, h in enumerate(("項目", "入力欄", "", "", "", "", "確認"), start=1):
        ws.write_string(5, c, h, book.fmt("head", font_size=9))
    row = 6
    pops: dict[str, str] = {}
    pillar_of = {k.id: book.cat.measure(k.measure_id).pillar for k in book.kpis}
    for pillar in sorted(set(pillar_of.values())):
        p = book.cat.pillar(pillar)
        ws.merge_range(row, 1, row, 6, f"{p.no}. {p.label}", book.fmt("pillar"))
        book.height(ws, row, 18)
        row += 1
        for kpi in (k for k in book.kpis if pillar_of[k.id] == pillar):
            row = _kpi_block(book, ws, row, kpi, pops)
    book.row_summaries(ws, KPI_CHECK_COL)
    n = book.shown_count(pn.SHEET_KPIS)
    ws.write_formula(3, 1 + HELPER_OFFSET, book.count_formula(6, row - 1), None, n)
    ws.write_formula(3, 6, f"={count}", book.fmt("count", font_size=12), n)
    ws.freeze_panes(6, 0)
    book.page_setup(ws, 6, row - 1, KPI_WIDTHS[:6], (5, 5))


def _kpi_block(book: PlanBook, ws: Any, row: int, kpi: Kpi, pops: dict[str, str]) -> int:
    first = row
    label = book.fmt("label", font_size=9)
    ws.merge_range(row, 1, row, 6, f"{kpi.id}　{kpi.label}", book.fmt("block", font_size=9, text_wrap=True))
    book.height(ws, row, 16 if len(kpi.label) < 50 else 28)
    row += 1
    ws.write_string(row, 1, "目標の定め方", label)
    rule = _rule_ja(book, kpi)
    ws.merge_range(row, 2, row, 6, rule, book.fmt("info"))
    row += 1
    fy_prev, fy = wareki_fiscal_year(book.fy - 1), wareki_fiscal_year(book.fy)
    if kpi.kind == "qualitative":
        ws.write_string(row, 1, f"{fy}の目標（文章）", label)
        text = kpi.target.text or kpi.label
        book.prefilled["targets"][kpi.id] = text
        tcell = book.input(ws, row, 2, pn.kpi_key(kpi.id, "target"), text, book.fmt("prefill", "text"), merge_to=6,
                           text=True)
        book.check(ws, row, 2, [(sc.blank(tcell), sc.TARGET_MISSING)])
        book.height(ws, row, 44)
        row += 1
        ws.write_string(row, 1, "目標の考え方", label)
        book.input(ws, row, 2, pn.kpi_key(kpi.id, "reason"), None, book.fmt("input", "text"), merge_to=6)
        book.height(ws, row, 30)
        row += 1
        book.blocks[pn.SHEET_KPIS].append((first, row - 1))
        return row
    num = number_format(kpi, unit="none")
    # last year's value
    ws.write_string(row, 1, f"{fy_prev}の値・区分", label)
    expected = book.results.get(kpi.id)
    if expected is not None:
        book.prefilled["expected"][kpi.id] = expected
    ecell = book.input(ws, row, 2, pn.kpi_key(kpi.id, "expected"), stored(kpi, expected),
                       book.fmt("prefill" if expected is not None else "input", "number", num_format=num))
    status, as_of = book.results_notes.get(kpi.id, (book.results_status, book.results_as_of))
    book.input(ws, row, 3, pn.kpi_key(kpi.id, "expected_status"),
               status if expected is not None else None,
               book.fmt("prefill" if expected is not None else "input", align="center", font_size=9))
    book.list_validation(ws, row, 3, pn.LIST_NAMES["status"], "見込み・暫定・確定")
    ws.write_string(row, 4, "時点・注記", book.fmt("label", "center", font_size=9))
    as_of = as_of if expected is not None else None
    book.input(ws, row, 5, pn.kpi_key(kpi.id, "expected_as_of"), as_of,
               book.fmt("prefill" if as_of else "input", font_size=9), merge_to=6)
    book.check(ws, row, 2, _number_reasons(kpi, ecell))
    row += 1
    # target
    ws.write_string(row, 1, f"{fy} 年間目標", label)
    kind_pre, target_pre = _target_prefill(kpi)
    book.prefilled["kinds"][kpi.id] = kind_pre
    if target_pre is not None:
        book.prefilled["targets"][kpi.id] = target_pre
    kcell = book.input(ws, row, 2, pn.kpi_key(kpi.id, "kind"), kind_pre, book.fmt("prefill", align="center", font_size=9))
    book.list_validation(ws, row, 2, "pl_list_kind_ge" if kpi.direction == ">=" else "pl_list_kind_le", "目標の種類")
    tcell = book.input(ws, row, 3, pn.kpi_key(kpi.id, "target"), stored(kpi, target_pre),
                       book.fmt("prefill" if target_pre is not None else "input", "number", num_format=num))
    ws.merge_range(row, 4, row, 6, f"← 種類が「{KIND_VALUE}」なら年間目標を入力", book.fmt("hint"))
    reason_row = row + (2 if kpi.plan is not None and kpi.plan.takes_counts else 1)
    rcell = cell_reference(reason_row, 2)
    reasons = _number_reasons(kpi, tcell)
    reasons.append((f"AND({kcell}=\"{KIND_VALUE}\",{sc.blank(tcell)})", sc.TARGET_MISSING))
    reasons.append((f"AND({kcell}<>\"{KIND_VALUE}\",ISNUMBER({tcell}))", RULE_WITH_NUMBER))
    lower = "<" if kpi.direction == ">=" else ">"
    reasons.append((f"IF(AND(ISNUMBER({tcell}),ISNUMBER({ecell})),AND({tcell}{lower}{ecell},{sc.blank(rcell)}),FALSE)",
                    BELOW_LAST_YEAR))
    if kpi.target.rule in ("fixed", "generic_conditional") and kpi.target.value is not None:
        fixed = stored(kpi, kpi.target.value)
        reasons.append((f"IF(ISNUMBER({tcell}),AND({tcell}{lower}{fixed!r},{sc.blank(rcell)}),FALSE)",
                        LAXER_THAN_FIXED))
    row += 1
    pcell = qcell = None
    if kpi.plan is not None and kpi.plan.takes_counts:
        counts = book.fmt("input", "number", num_format="#,##0")
        ws.write_string(row, 1, kpi.plan.population_label or "対象者数", label)
        shared = kpi.plan.shared_with
        if shared and shared in pops:
            pcell = pops[shared]
            ws.write_formula(row, 2, f"={pcell}", book.fmt("calc", num_format="#,##0"), "")
        else:
            pcell = book.input(ws, row, 2, pn.kpi_key(kpi.id, "pop"), None, counts)
            pops[kpi.id] = pcell
        ws.write_string(row, 3, kpi.plan.planned_label or "見込者数", book.fmt("label", font_size=9, shrink=True))
        qcell = book.input(ws, row, 4, pn.kpi_key(kpi.id, "planned"), None, counts)
        rate_fmt = number_format(kpi, unit="none")
        ws.write_formula(row, 5, f'=IF(AND(ISNUMBER({pcell}),ISNUMBER({qcell})),IF({pcell}>0,{qcell}/{pcell},""),"")',
                         book.fmt("calc", num_format=rate_fmt), "")
        ws.write_string(row, 6, "← 見込者数÷対象者数", book.fmt("hint"))
        d = kpi.decimals + (2 if kpi.is_percent else 0)
        book.check(ws, row, 4, [(sc.number(qcell, f"IF(ISNUMBER({pcell}),{qcell}>{pcell},FALSE)"), OVER_POPULATION)])
        reasons.append((f"IF(AND(ISNUMBER({pcell}),ISNUMBER({qcell}),ISNUMBER({tcell}),{kcell}=\"{KIND_VALUE}\"),"
                        f"IF({pcell}>0,ROUND({qcell}/{pcell},{d})<>ROUND({tcell},{d}),FALSE),FALSE)", RATE_MISMATCH))
        row += 1
    book.check(ws, row - (2 if qcell else 1), 3, reasons,
               shows=sc.TARGET_MISSING if kind_pre == KIND_VALUE and target_pre is None else "")
    ws.write_string(row, 1, "目標の考え方", label)
    book.input(ws, row, 2, pn.kpi_key(kpi.id, "reason"), None, book.fmt("input", "text"), merge_to=6)
    book.height(ws, row, 30)
    row += 1
    ws.write_string(row, 1, "計画に載る文", label)
    ws.merge_range(row, 2, row, 6, "", book.fmt("calc", "text", align="left"))
    ws.write_formula(row, 2, _sentence_formula(kpi, kcell, tcell), book.fmt("calc", "text", align="left"),
                     plan_sentence(kpi, "value" if kind_pre == KIND_VALUE else "previous_year", target_pre))
    book.height(ws, row, 28 if len(kpi.label) > 30 else 16)
    row += 1
    book.blocks[pn.SHEET_KPIS].append((first, row - 1))
    return row


def _number_reasons(kpi: Kpi, cell: str) -> list[sc.Reason]:
    out: list[sc.Reason] = [(sc.is_text(cell), sc.TEXT_AS_TEXT)]
    if kpi.is_percent:
        out.append((sc.number(cell, f"ABS({cell})>1"), sc.NO_PERCENT_SIGN))
    else:
        out.append((sc.number(cell, f"{cell}<0"), sc.NEGATIVE))
    return out


def _sentence_formula(kpi: Kpi, kcell: str, tcell: str) -> str:
    template = sentence_template(kpi)
    head, _, tail = template.partition("{target}")
    shown = f'TEXT({tcell},"{number_format(kpi, unit="none")}")'
    if not kpi.is_percent:
        shown += f'&"{"円" if kpi.display == "yen" else kpi.unit}"'
    q = lambda s: '"' + s.replace('"', '""') + '"'  # noqa: E731
    value = f"{q(head)}&{shown}&{q(tail)}"
    if kpi.is_percent and kpi.direction == ">=" and tail.startswith("以上"):
        value = f'IF({tcell}>=1,{q(head + "100%" + tail.removeprefix("以上"))},{value})'
    return (f'=IF({kcell}="{KIND_VALUE}",IF(ISNUMBER({tcell}),{value},""),'
            f'{q(head)}&"対前年度"&{q(tail)})')


def _target_prefill(kpi: Kpi) -> tuple[str, float | None]:
    """(kind shown, target) HQ writes: a fixed value, the 対前年度 rule, or a number for the branch to type."""
    if kpi.target.rule == "fixed":
        return KIND_VALUE, kpi.target.value
    if kpi.target.rule == "baseline":
        return KIND_RULE[kpi.direction], None
    return KIND_VALUE, None


def _rule_ja(book: PlanBook, kpi: Kpi) -> str:
    year = kpi.target.describe_ja(kpi)
    if kpi.kind == "qualitative" or kpi.term_goal.rule == "branch":
        return year
    goal = kpi.term_goal.describe_ja(kpi)
    term = f"第{book.cat.term}期末目標"
    return f"{year}（{term}と同じ）" if goal == year else f"{year}（{term} {goal}）"


# ================================================================ 入力の手引き
def _write_guide(book: PlanBook) -> None:
    ws = book.sheets[pn.SHEET_GUIDE]
    ws.set_column(0, 0, 2)
    ws.set_column(1, 1, 18)
    ws.set_column(2, 2, 100)
    ws.write_string(1, 1, book.title, book.fmt("title"))
    book.height(ws, 1, 24)
    hq = book.settings
    send = "保存先：本部の事業計画フォルダ" if book.branch.code == HQ_CODE else f"返送先：{hq.department}（{hq.mail}）"
    ws.write_string(2, 1, f"作成日：{wareki_date(book.generated_at.date())}　　{send}", book.fmt("small"))
    total = "+".join(f"'{s}'!{c}" for s, c in book.count_cells.items())
    ws.write_string(4, 1, "入力チェック", book.fmt("label", "center"))
    ws.write_formula(4, 2, f"={total}", book.fmt("count", align="left"),
                     sum(book.shown_count(s) for s in book.count_cells))
    book.wb.define_name(pn.CHECK_COUNT_NAME, f"='{pn.SHEET_GUIDE}'!$C$5")
    lines = [
        ("このブック", f"{wareki_fiscal_year(book.fy)}の事業計画を、アクションプランの施策ごとに記入するブックです。"
                      "「施策と事業内容」と「年間目標」の2つのシートに記入し、入力チェックが0件になったら送付してください。"),
        ("施策と事業内容", "施策ごとに、支部の番号・見出し・担当グループ・重点（○）を確認し、事業内容を1行に1つずつ記入します。"
                          "番号の欄には (1)・①・ア など支部の書き方で記入します。区分は 継続・新規・拡充・見直し から選びます。"
                          "他の施策にまとめて記載した施策は、記載先でその施策を選びます。"),
        ("年間目標", "前年度の見込み・実績（見込み・暫定・確定と、その時点）、目標の種類（数値・対前年度以上）と年間目標を記入します。"
                   "対象者数・見込者数のあるKPIは両方を記入すると、見込者数÷対象者数が表示されます。"
                   "前年度の見込み・実績より低い目標には「目標の考え方」を記入してください。"),
        ("入力例", "生活習慣病予防健診実施率：年間目標 61.0%、対象者数 259,725、受診見込者数 158,432"
                   "（見込者数÷対象者数＝61.0%）。計画に載る文：「生活習慣病予防健診実施率を61.0%以上とする。」"),
        ("問い合わせ", hq.contact_ja()),
    ]
    row = 6
    for head, text in lines:
        ws.write_string(row, 1, head, book.fmt("label", bold=True))
        ws.write_string(row, 2, text, book.fmt("label"))
        book.height(ws, row, max(18.0, _lines(text, 100) * 14.5 + 4))
        row += 1
    row += 1
    ws.write_string(row, 1, "凡例（セルの色）", book.fmt("small", bold=True))
    for i, (fill, text) in enumerate(((INPUT_FILL, "入力欄"), (PREFILL_FILL, "本部記入済み（修正可）"),
                                      (CALC_FILL, "自動計算・参考"))):
        ws.write_string(row + 1 + i, 1, text, book.fmt("border", "center", bg_color=fill, font_size=9))
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.print_area(1, 1, row + 3, 2)
    ws.hide_gridlines(1)
    ws.protect(book.password or "", {"select_locked_cells": True, "select_unlocked_cells": True})


# ================================================================ _meta
def _write_meta(book: PlanBook) -> None:
    ws = book.sheets[pn.SHEET_META]
    meta = {"format": PLAN_FORMAT, "plan_template_version": str(PLAN_TEMPLATE_VERSION),
            "kpisheet_version": __version__, "term": str(book.cat.term),
            "catalogue_digest": book.cat.digest,
            "layout_digest": plan_layout_digest(book.cat, book.fy, book.branch.code, book.rows_per_measure),
            "fiscal_year": str(book.fy), "branch_code": book.branch.code, "branch_name": book.branch.display_name,
            "generated_at": book.generated_at.isoformat(), "rows_per_measure": str(book.rows_per_measure),
            "branch_measures_per_pillar": str(BRANCH_MEASURES_PER_PILLAR),
            "dropped_measures": ",".join(book.dropped),
            "prefilled": json.dumps(book.prefilled, ensure_ascii=True, separators=(",", ":"))}
    for i, (key, value) in enumerate(meta.items()):
        ws.write_string(i, 0, key)
        ws.write_string(i, 1, value)
    ws.protect(book.password or "")
    ws.very_hidden()
    book.wb.set_properties({"title": book.title, "subject": f"{PLAN_FORMAT} v{PLAN_TEMPLATE_VERSION}",
                            "author": "全国健康保険協会 本部", "company": "全国健康保険協会",
                            "comments": f"kpisheet {__version__} で作成", "created": book.generated_at})


def _lint(book: PlanBook) -> None:
    problems = [f"defined name {n} is not a plan name" for n in book.names if not n.startswith(pn.PLAN_PREFIX)]
    if len({n.lower() for n in book.names}) != len(book.names):
        problems.append("defined names are not unique (ignoring case)")
    for v in book.validations:
        for key, limit in (("input_title", 32), ("error_title", 32), ("input_message", 255), ("error_message", 255)):
            if len(v.get(key, "")) > limit:
                problems.append(f"validation {key} longer than {limit}: {v[key]!r}")
    if problems:
        raise TemplateLintError("; ".join(problems))
