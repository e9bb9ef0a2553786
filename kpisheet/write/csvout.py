"""The analysts' table: one row per expected branch × KPI × month (and the nation's), written as a CSV
(UTF-8 with BOM, for programs) and as an xlsx copy of the same table (for spreadsheets).

Every column, its type, unit and meaning is in `COLUMNS` (and docs/analyst-data.md, which a test keeps
equal to it).  The choices:

- **Every expected branch has its rows**, whether it sent a file or not: a branch that did not submit
  (未提出), whose files could not be read (提出あり・読込不可) or whose file was not used gets a row per
  KPI and month with `status` saying so and no figures, so the table is a full panel (47 branches,
  本部 for the national-only KPIs, and `ALL` for the nation).
- **Branch codes stay codes.**  `branch_code` is the two-digit text '01'…'47' ('00' 本部, 'ALL' the
  nation).  A spreadsheet that opens a CSV guesses '01' to be the number 1 (Excel and LibreOffice
  both do; a CSV has no types), so `branch_label` repeats code and name as one text ('01 北海道支部'), which
  survives, and the xlsx copy holds the same table with the codes as text cells: the file to open in
  Excel or LibreOffice.  Writing the code as ="01" would survive in a spreadsheet but reach pandas and R
  as the text ="01".
- **One unit convention**: a percentage KPI's `value` and `annual_target` are in points (96.5 means
  96.5 %), and so are `achievement` and `progress` (100.0 means exactly on target / on pace); yen in
  yen, counts in their unit (`unit`).
- **Rounded as shown, raw beside it**: `value` and `annual_target` are rounded half up to the KPI's
  decimals exactly as every workbook shows them (display.shown); `value_raw` and `annual_target_raw`
  are the unrounded figures.  `achievement` and `progress` are rounded to 0.1 point.
- **Codes in English, labels in Japanese beside them** (`status` / `status_ja`, `submission` /
  `submission_ja`, `target_source` / `target_source_ja`); `basis` is Japanese text.

Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage return)
are prefixed with an apostrophe in the CSV (OWASP CSV injection); the xlsx writes every text as text.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpisheet.consolidate.model import NATIONAL_CODE, STATUS_ERRORS, STATUS_MISSING, STATUS_NO_MONTH, STATUS_OK, STATUS_UNREADABLE, Consolidation, MonthValue
from kpisheet.domain.catalogue import Kpi, load_branches
from kpisheet.domain.display import shown
from kpisheet.domain.fiscal import month_key, parse_month
from kpisheet.domain.ratings import NO_RESULT, TARGET_SOURCES, progress
from kpisheet.fileio import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_SHEET = "kpi_values"
DICTIONARY_SHEET = "列の説明"


@dataclass(frozen=True)
class Column:
    """One column of the analysts' table: name, type, unit and meaning (Japanese, then English)."""

    name: str
    type: str  # integer | text | number | month
    unit: str
    ja: str
    en: str


COLUMNS: tuple[Column, ...] = (
    Column("fiscal_year", "integer", "", "年度（西暦。2024＝令和6年度）", "fiscal year (2024 = FY2024, April–March)"),
    Column("month", "month", "YYYY-MM", "この行の月（年度累計の値はその月末まで）",
           "the month of the row (year-to-date figures run to its end)"),
    Column("branch_code", "text", "", "支部コード（2桁の文字列 01～47、00＝本部、ALL＝全国）",
           "branch code as text: '01'–'47', '00' HQ, 'ALL' the nation"),
    Column("branch_name", "text", "", "支部名（全国は「全国」）", "branch name (全国 for the nation)"),
    Column("branch_label", "text", "", "支部コードと支部名（「01 北海道支部」「ALL 全国」）。表計算ソフトでCSVを開くと"
           "branch_code の 01 は 1 になるが、この列はそのまま残る",
           "code and name as one text ('01 北海道支部'): a spreadsheet that opens the CSV turns branch_code "
           "01 into 1 but keeps this column as written"),
    Column("submission", "text", "", "その支部の今月の提出状況（コード）：submitted, with_errors, "
           "no_reporting_month, unreadable, not_submitted。全国の行は空欄",
           "the branch's submission this month (code); empty on national rows"),
    Column("submission_ja", "text", "", "提出状況（提出済、エラーあり、報告月の入力なし、提出あり・読込不可、未提出）",
           "the submission in Japanese"),
    Column("kpi_id", "text", "", "KPI ID（K6-2-01）", "KPI id"),
    Column("kpi_label", "text", "", "KPIの名称", "KPI label"),
    Column("unit", "text", "", "値の単位（%はポイントで表す）", "unit of value and annual_target (% in points)"),
    Column("numerator", "number", "件・人など", "分子（支部の入力のまま）。割合のKPIだけ",
           "numerator as the branch typed it (ratio KPIs only)"),
    Column("denominator", "number", "件・人など", "分母（支部の入力のまま）。割合のKPIだけ",
           "denominator as the branch typed it (ratio KPIs only)"),
    Column("value", "number", "unit", "実績。KPIの表示桁で四捨五入（ブックの表示と同じ）。%はポイント（96.5）",
           "result rounded half up to the KPI's decimals, as every workbook shows it; % in points"),
    Column("value_raw", "number", "unit", "実績（丸めない値）。%はポイント", "result unrounded; % in points"),
    Column("annual_target", "number", "unit", "評価に使った年間目標。表示桁で四捨五入。%はポイント",
           "the annual target the mark used, rounded as shown; % in points"),
    Column("annual_target_raw", "number", "unit", "年間目標（丸めない値）", "the annual target unrounded"),
    Column("target_source", "text", "", "年間目標の出どころ（コード）：" + ", ".join(TARGET_SOURCES),
           "where the annual target came from (code)"),
    Column("target_source_ja", "text", "", "年間目標の出どころ（日本語）", "where the annual target came from, Japanese"),
    Column("mark", "text", "", "評価（◎○△—）。実績を年間目標と比べたもの", "the mark: the result against the annual target"),
    Column("status", "text", "", "この月の値の状態（コード）：ok, missing, not_due, excluded, zero_denominator, "
           "not_submitted, unreadable, not_used", "state of the month's figure (code)"),
    Column("status_ja", "text", "", "値の状態（日本語）", "state of the month's figure, Japanese"),
    Column("basis", "text", "", "評価の根拠（日本語の文）", "why the mark (Japanese sentence)"),
    Column("data_month", "month", "YYYY-MM", "ブックが示す実績の月（データが届いている最新の月）。"
           "month がこれと同じ行が、ブックに載る実績", "the month of the result the workbooks show"),
    Column("achievement", "number", "ポイント", "達成度：実績÷年間目標×100（以下のKPIは年間目標÷実績×100）。"
           "100.0＝目標どおり。0.1ポイントに四捨五入。上限は100000.0（実績が0で「以下」のKPIはこの値）。month＝data_month の行だけ",
           "result ÷ annual target × 100 (target ÷ result for '<='); on the data_month row only"),
    Column("rank", "integer", "", "達成度（年度内に積み上がるKPIは進捗）による順位。month＝data_month の行だけ",
           "rank by achievement (pace for KPIs that grow in the year); data_month row only"),
    Column("rank_of", "integer", "", "順位を付けた支部の数（「3/44」の44）", "how many branches were ranked"),
    Column("progress", "number", "ポイント", "進捗：実績÷（年間目標×データの月数÷12）×100。100.0＝ペースどおり。"
           "年度内に積み上がるKPIだけ。0.1ポイントに四捨五入",
           "pace: result ÷ (target × months of data ÷ 12) × 100; KPIs that grow in the year only"),
)
CSV_COLUMNS = [c.name for c in COLUMNS]

SUBMISSIONS = {STATUS_OK: "submitted", STATUS_ERRORS: "with_errors", STATUS_NO_MONTH: "no_reporting_month",
               STATUS_UNREADABLE: "unreadable", STATUS_MISSING: "not_submitted"}
VALUE_STATUSES = {"ok": "報告あり", "missing": "未報告", "not_due": "集計待ち（データが届く時期の前）",
                  "excluded": "エラーにより除外",
                  "zero_denominator": "分母が0", "not_submitted": "未提出", "unreadable": "提出あり・読込不可",
                  "not_used": "提出ファイルを使用せず"}
# the month's status of a branch none of whose files was used, by its submission status
_NO_FILE_STATUS = {STATUS_MISSING: "not_submitted", STATUS_UNREADABLE: "unreadable"}


def csv_rows(cons: Consolidation) -> list[list[Any]]:
    """Rows of CSV_COLUMNS: every expected branch × KPI × month, then the nation's (branch 'ALL')."""
    names = {b.code: b.display_name for b in load_branches()}
    out: list[list[Any]] = []
    for status in cons.statuses:
        for kpi in cons.catalogue.kpis_for(cons.fiscal_year, status.code):
            for m in kpi.months(cons.fiscal_year):
                if m > cons.month:
                    break
                key = month_key(m)
                mv = cons.month_values.get((status.code, kpi.id, key))
                out.append(_row(cons, kpi, key, status.code, names.get(status.code, status.code),
                                status.status, mv))
    for kpi in cons.kpis:
        for m in kpi.months(cons.fiscal_year):
            if m > cons.month:
                break
            mv = cons.national_months.get((kpi.id, month_key(m)))
            if mv is not None:
                out.append(_row(cons, kpi, month_key(m), NATIONAL_CODE, "全国", None, mv))
    return out


def _row(cons: Consolidation, kpi: Kpi, month: str, code: str, name: str, submission: str | None,
         mv: MonthValue | None) -> list[Any]:
    head = [cons.fiscal_year, month, code, name, f"{code} {name}", SUBMISSIONS.get(submission or "", ""), submission or "",
            kpi.id, kpi.label, kpi.unit]
    if mv is None:
        status = _NO_FILE_STATUS.get(submission or "", "not_used")
        return [*head, None, None, None, None, None, None, None, None, NO_RESULT, status, VALUE_STATUSES[status],
                submission if status != "not_used" else VALUE_STATUSES[status], None, None, None, None, None]
    shown_kpi = cons.national.get(kpi.id) if code == NATIONAL_CODE else cons.branch_kpis.get((code, kpi.id))
    target = mv.rating.effective_target
    source = mv.rating.target_source
    pace = progress(kpi, mv.value, target, cons.fiscal_year, parse_month(month)) if mv.status == "ok" else None
    achievement, rank, rank_of = _ranked(shown_kpi, code, month)
    data_month = getattr(shown_kpi, "data_month", None)
    status = "not_due" if mv.status == "missing" and _not_due(cons, kpi, month, data_month) else mv.status
    return [*head, mv.numerator, mv.denominator, _rounded(kpi, mv.value), mv.value, _rounded(kpi, target), target,
            source, TARGET_SOURCES[source][0] if source in TARGET_SOURCES else "", mv.rating.mark, status,
            VALUE_STATUSES.get(status, status), mv.rating.basis_ja, data_month,
            _points(achievement), rank, rank_of, _points(pace)]


def _not_due(cons: Consolidation, kpi: Kpi, month: str, data_month: str | None) -> bool:
    """An empty month that is not yet due: after the latest month with a figure (not a gap) and within the
    KPI's usual data lag before the reporting month (health checks trail 1-3 months), or any month of a KPI
    whose value arrives after the year ends — the months W413 does not ask for."""
    if data_month is not None and month <= data_month:
        return False
    if kpi.lag_annual:
        return True
    index = cons.month.year * 12 + cons.month.month - 1 - kpi.lag_months  # the last month that is due
    return month > f"{index // 12:04d}-{index % 12 + 1:02d}"


def _rounded(kpi: Kpi, value: float | None) -> float | None:
    """The value as shown (display.shown: half up at the KPI's decimals), as a float."""
    return None if value is None else float(shown(kpi, value))


def _points(fraction: float | None) -> float | None:
    """A ratio as points rounded to 0.1 (1.0042 → 100.4); inf stays inf."""
    if fraction is None:
        return None
    if not math.isfinite(fraction):
        return fraction
    return float(shown(1, fraction * 100))


def _ranked(shown_kpi: Any, code: str, month: str) -> tuple[Any, Any, Any]:
    """(achievement, rank, rank_of) on the branch's shown row (month == data_month), else empty."""
    if code == NATIONAL_CODE or shown_kpi is None or shown_kpi.data_month != month:
        return None, None, None
    return shown_kpi.achievement, shown_kpi.rank, shown_kpi.rank_of


def kpi_values_frame(cons: Consolidation) -> "pandas.DataFrame":
    """The analysts' table as a pandas DataFrame: the CSV's rows and columns (branch_code as text)."""
    import pandas as pd

    return pd.DataFrame(csv_rows(cons), columns=CSV_COLUMNS)


def safe_cell(value: Any) -> Any:
    """A CSV cell that cannot become a formula: text starting with =+-@ gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    if isinstance(value, float):  # each test once: ~160,000 cells a month
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
    return value


def write_kpi_values_csv(cons: Consolidation, path: Path, *, force: bool, rows: list[list[Any]] | None = None
                         ) -> Path:
    """The CSV (UTF-8 with BOM, CRLF); `rows` are csv_rows(cons) when the caller has them already."""
    with atomic_path(Path(path), force=force) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(CSV_COLUMNS)
            for row in csv_rows(cons) if rows is None else rows:
                w.writerow([safe_cell(v) for v in row])
    return Path(path)


def xlsx_copy_path(csv_path: Path) -> Path:
    """kpi_values_FY2024_2024-10.csv → kpi_values_FY2024_2024-10.xlsx (the same table, for spreadsheets)."""
    return Path(csv_path).with_suffix(".xlsx")


def write_kpi_values_xlsx(cons: Consolidation, path: Path, *, force: bool, created: datetime | None = None,
                          rows: list[list[Any]] | None = None) -> Path:
    """The CSV's table as an xlsx: codes and every text as text cells, numbers as numbers, a filter and
    frozen header; a second sheet 列の説明 describes every column.  `created` fixed gives the same bytes."""
    from kpisheet import xlsx_write

    with atomic_path(Path(path), force=force) as tmp:
        wb = xlsx_write.Workbook(str(tmp), {"strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False,
                                            "nan_inf_to_errors": True})
        wb.set_properties({"title": f"kpi_values FY{cons.fiscal_year} {cons.month_key}",
                           "created": created or datetime.now()})
        head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "font_name": "游ゴシック"})
        body = wb.add_format({"font_name": "游ゴシック"})
        ws = wb.add_worksheet(XLSX_SHEET)
        widths = {"branch_name": 12, "kpi_label": 40, "basis": 60, "submission_ja": 16, "target_source_ja": 22,
                  "status_ja": 16}
        for i, name in enumerate(CSV_COLUMNS):
            ws.set_column(i, i, widths.get(name, max(10, len(name) + 2)), body)
        ws.freeze_panes(1, 0)
        ws.set_landscape()  # a table for the screen; printed, at its own size with the head on every page
        ws.set_paper(9)
        ws.repeat_rows(0)
        ws.set_footer("&C&P / &N")
        rows = csv_rows(cons) if rows is None else rows
        ws.autofilter(0, 0, len(rows), len(CSV_COLUMNS) - 1)
        for col, name in enumerate(CSV_COLUMNS):
            ws.write_string(0, col, name, head)
        ws.write_number(1, 0, _ROWS_GO_HERE)  # replaced by the table's rows below (_put_rows)
        doc = wb.add_worksheet(DICTIONARY_SHEET)
        doc.set_column(0, 0, 20)
        doc.set_column(1, 2, 10)
        doc.set_column(3, 4, 70)
        for col, title in enumerate(("列", "型", "単位", "意味", "meaning")):
            doc.write_string(0, col, title, head)
        for r, c in enumerate(COLUMNS, start=1):
            for col, text in enumerate((c.name, c.type, c.unit, c.ja, c.en)):
                doc.write_string(r, col, text)
        wb.close()
        _put_rows(tmp, rows)
    return Path(path)


# The table's rows are written as sheet XML directly: through xlsxwriter, one cell costs ~25 µs
# (a 47-branch year, ~350,000 cells, took 4-5 s of CPU on every run; a test's 2-branch panel, 1 s);
# generated as text they cost ~2 µs.  xlsxwriter still writes everything else (styles, the filter,
# print titles, the column descriptions); the rows replace the one placeholder cell it wrote.
_ROWS_GO_HERE = 271828.18281828  # the placeholder cell's number
_XML_UNSAFE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                             **{chr(c): f"_x{c:04X}_" for c in range(32) if chr(c) not in "\t\n\r"}})


def _column_letters(n: int) -> list[str]:
    letters = []
    for i in range(n):
        name, i = "", i + 1
        while i:
            i, rem = divmod(i - 1, 26)
            name = chr(65 + rem) + name
        letters.append(name)
    return letters


@lru_cache(maxsize=8192)  # branch names, KPI labels and statuses recur in every row
def _inline(value: str) -> str:
    text = value.translate(_XML_UNSAFE)
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f' t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _row_xml(r: int, row: list[Any], letters: list[str], style: str) -> str:
    cells = []
    for letter, value in zip(letters, row, strict=False):
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        if isinstance(value, str):
            cells.append(f'<c r="{letter}{r}"{style}{_inline(value)}')
        else:
            cells.append(f'<c r="{letter}{r}"{style}><v>{int(value) if isinstance(value, int) else repr(float(value))}'
                         f'</v></c>')
    return f'<row r="{r}">{"".join(cells)}</row>'


def _put_rows(path: Path, rows: list[list[Any]]) -> None:
    """Replace the placeholder row of the table sheet (xl/worksheets/sheet1.xml) with `rows` (from row 2)."""
    import re
    import zipfile

    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as zin:
        members = [(info, zin.read(info.filename)) for info in zin.infolist()]
    xml = dict((info.filename, data) for info, data in members)[sheet].decode("utf-8")
    placeholder = re.search(r'<row r="2"[^>]*>.*?</row>', xml)
    assert placeholder and f"<v>{_ROWS_GO_HERE!r}</v>" in placeholder.group(0), "the placeholder is not row 2"
    xml = re.sub(r'(<dimension ref="A1:[A-Z]+)\d+"', lambda m: f'{m.group(1)}{len(rows) + 1}"', xml, count=1)
    placeholder = re.search(r'<row r="2"[^>]*>.*?</row>', xml)
    assert placeholder is not None
    style = re.search(r'<col [^>]*style="(\d+)"', xml)
    attr = f' s="{style.group(1)}"' if style else ""
    letters = _column_letters(len(CSV_COLUMNS))
    body = "".join(_row_xml(r, row, letters, attr) for r, row in enumerate(rows, start=2))
    xml = xml[:placeholder.start()] + body + xml[placeholder.end():]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in members:  # deflate level 1: level 6 took a tenth of a second more for a 47-branch year
            zout.writestr(info, xml.encode("utf-8") if info.filename == sheet else data, zipfile.ZIP_DEFLATED, 1)


# ---------------------------------------------------------------- next year's baseline from the ledger
BASELINE_COLUMNS = ["branch", "branch_name", "kpi_id", "kpi_label", "month", "value"]


@dataclass(frozen=True)
class BaselineFile:
    """What `write_baseline_from_ledger` wrote: the file, its rows and how many were taken before March."""

    path: Path
    fiscal_year: int
    rows: int
    before_march: int


def write_baseline_from_ledger(ledger_path: Path, fiscal_year: int, path: Path, *, force: bool) -> BaselineFile:
    """Write the year-end values of `fiscal_year` the ledger holds (ledger.year_end_values) as a baseline
    file for the next year's `--baseline`: columns BASELINE_COLUMNS, values as shown (display.shown; a
    percentage in points), UTF-8 with BOM.  OutputExistsError when `path` exists without `force`;
    KpisheetError (L106, G112, …) for the ledger."""
    from kpisheet import ledger
    from kpisheet.domain.catalogue import catalogue_for_fy

    with ledger.opened(Path(ledger_path)) as book:
        values = ledger.year_end_values(book, fiscal_year)
    cat = catalogue_for_fy(fiscal_year)
    names = {b.code: b.display_name for b in load_branches()}
    names[NATIONAL_CODE] = "全国"
    order = {c: i for i, c in enumerate([*names])}
    kpi_order = {k.id: i for i, k in enumerate(cat.kpis)}
    rows = sorted((r for r in values if cat.has_kpi(r[1])),
                  key=lambda r: (order.get(r[0], len(order)), kpi_order[r[1]]))
    march = f"{fiscal_year + 1}-03"
    with atomic_path(Path(path), force=force) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(BASELINE_COLUMNS)
            for code, kpi_id, month, value in rows:
                kpi = cat.kpi(kpi_id)
                w.writerow([safe_cell(v) for v in (code, names.get(code, code), kpi_id, kpi.label, month,
                                                    _rounded(kpi, value))])
    return BaselineFile(Path(path), fiscal_year, len(rows), sum(1 for r in rows if r[2] < march))
