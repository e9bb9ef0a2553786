"""Stage 2 — the branch input workbooks HQ mails out (`kpisheet generate`).

One .xlsx per branch and fiscal year, written by XlsxWriter (docs/excel-behaviour.md, "Writing workbooks"):

    入力の手引き   how to fill the workbook (Japanese, printable)
    KPI入力        one block per KPI: target, previous-year value, 4月…3月 inputs
    取組状況       per 具体的施策: 事業内容 rows with rating and remarks, and a 課題 cell
    _lists         (hidden) the rating list behind the defined name kpisheet_ratings
    _meta          (very hidden) format, version, catalogue digest, branch, FY

Every input cell carries its workbook-level defined name (kpisheet.read.names) and,
as a fallback, its row key in the hidden column A and its column key in the
hidden row 1.  Only input cells are unlocked; all visible sheets are protected
and the workbook structure is locked (zip patch; docs/excel-behaviour.md).

Values HQ already knows are prefilled — fixed targets from the catalogue,
previous-year values from --baseline, targets from --targets or derived from
the baseline ("対前年度以上").  Prefilled cells stay unlocked inputs with their
names (a branch may correct a baseline HQ got wrong, or set its own target: the
value in the cell is the one rated) but are shaded differently and labelled
本部記入済み.  What HQ prefilled as targets is recorded in _meta
(prefilled_targets), so the reader can tell a kept value from a changed one.

Every text a branch reads says what a monthly cell holds: a flow part
(受診者数, 申請件数) is 「4月から各月末までの累計」; a stock part is the year's
population (対象者数, same value every month) or the number at the month's end
(事業所数, 全被保険者数).  Level KPIs are never called 累計.
"""

from __future__ import annotations

import io
import json
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from kpisheet import TEMPLATE_FORMAT, TEMPLATE_VERSION, __version__
from kpisheet.check import selfcheck as sc
from kpisheet.check.rules.targets import no_comparable_last_year
from kpisheet.domain.catalogue import (
    HQ_CODE,
    Branch,
    Catalogue,
    Kpi,
    Measure,
    Part,
    catalogue_for_fy,
    prefecture_branches,
)
from kpisheet.domain.catalogue import branch as branch_by_code
from kpisheet.domain.findings import Finding, KpisheetError, finding, has_errors
from kpisheet.domain.fiscal import fiscal_months, month_compact, month_label, wareki_fiscal_year, wareki_year
from kpisheet.domain.settings import HqSettings, SettingsError, load_settings
from kpisheet.fileio import OutputExistsError, atomic_path
from kpisheet.read.names import (
    CHECK_COUNT_NAME,
    INFO_LABELS,
    KEY_COLUMN,
    KEY_ROW,
    RATING_NAME,
    RATINGS,
    ROWS_PER_MEASURE,
    SHEET_GUIDE,
    SHEET_KPI,
    SHEET_LISTS,
    SHEET_MEASURES,
    SHEET_META,
    TEXT_LIMITS,
    InputKey,
    info_key,
    kpi_key,
    measure_key,
)
from kpisheet.read.value_tables import ValueTable, read_value_table

# What a monthly cell holds, as a short tag after the row label (also in the heading and the guide).
TAG_FLOW, TAG_POPULATION, TAG_LEVEL = "累計", "年度の数", "月末時点"
FLOW_JA = "4月から各月末までの累計"
MONTHLY_TAGS = ((TAG_FLOW, f"{FLOW_JA}（例：10月の欄には4月〜10月の合計）"),
                (TAG_LEVEL, "その月末時点の数（4月から足し上げない）"),
                (TAG_POPULATION, "年度の対象者数など（4月から足し上げない。各月とも同じ値で可）"))
MONTHLY_JA = "項目名の末尾が" + "、".join(f"「{tag}」の行は{text}" for tag, text in MONTHLY_TAGS) + "を入力します。"
KPI_SHEET_NOTE = ("※割合（％）は「96.5%」のように％を付けて、人数・件数・金額は数字だけ（単位は付けない）で入力してください。"
                  f"月別の欄は、{MONTHLY_JA}詳しくは「入力の手引き」シートをご覧ください。")
OVERWRITE_JA = "支部の事業計画で別の目標を定めた場合は上書きしてください（上書きした値で評価します）"
RATING_MEANINGS = {"◎": "計画を大幅に上回る", "○": "計画通り", "△": "計画を下回る", "×": "未実施",
                   "—": "評価できない（実績がまだない等）"}
# The 入力チェック (kpisheet.check.selfcheck), as the top of each sheet explains it.
CHECK_SEND_JA = "0件になったら送付してください"
CHECK_HOW_JA = ("入力チェック：入力した値をブックが自動で確認します。問題のあるセルは赤くなり、同じ行の右端の「確認」欄に"
                f"理由が出ます。{CHECK_SEND_JA}。")
CHECK_RIGHT_JA = "値が正しいのに表示が消えないとき（実績が本当に通常の範囲外など）は、そのまま送付してください。"

FONT = "游ゴシック"
INPUT_FILL = "#FFF2CC"  # 入力欄
PREFILL_FILL = "#DDEBF7"  # 本部記入済み（修正可）
CALC_FILL = "#D9D9D9"  # 自動計算・対象外
HEAD_FILL = "#1F3864"  # 見出し（白文字）
BLOCK_FILL = "#D9E1F2"  # KPI・施策の見出し
PROBLEM_FILL, PROBLEM_FONT = "#FF9B9B", "#9C0006"  # 入力チェック: a cell with a problem (red)
OK_FILL = "#C6EFCE"  # 入力チェック: nothing found (green)

# KPI入力: A key | B ID | C 項目 | D 年間値 (column key "value") | E..P 4月…3月 | Q 確認
# and, hidden beyond the print area, each input's 入力チェック helper (its column + CHECK_OFFSET)
# and each month's last number so far (its column + CARRY_OFFSET, for the year-to-date check).
KPI_VALUE_COL = 3
KPI_FIRST_MONTH_COL = 4
KPI_CHECK_COL = KPI_FIRST_MONTH_COL + 12  # Q: what the row's problems are, in words
KPI_INFO_ROWS = (3, 4)  # 記入者, 連絡先 (with the 入力チェック's count beside them)
KPI_HEAD_ROWS = (7, 8)
KPI_FIRST_ROW = 9
CHECK_OFFSET = 15  # D..P -> S..AE
CARRY_OFFSET = 28  # E..P -> AG..AR
# 取組状況: A key | B 番号 | C 具体的施策 | D No. | E 事業内容 | F 評価 | G 備考 | H 確認 | (hidden) M..O helpers
MEASURE_COLS = {"text": 4, "rating": 5, "note": 6}
MEASURE_CHECK_COL = 7
MEASURE_CHECK_OFFSET = 8  # E..G -> M..O
MEASURE_HEAD_ROW = 6
MEASURE_FIRST_ROW = 7
MEASURE_COUNT_CELL = (5, MEASURE_COLS["text"] + MEASURE_CHECK_OFFSET)  # hidden: this sheet's 入力チェック count
# column widths of the printed columns B.. (characters of the default font)
KPI_WIDTHS = (8.5, 32, 12) + (10.5,) * 12 + (28,)
KPI_PRINT_WIDTH = sum(KPI_WIDTHS)
MEASURE_WIDTHS = (6, 30, 5, 56, 7, 40, 30)
QUALITATIVE_TEXT_HEIGHT = 110
DEFAULT_ROW_HEIGHT = 14.0  # a row left to its font (LibreOffice prints ~12.3 pt, Excel ~13.5 pt at 10 pt)
INPUT_ROW_HEIGHT = 15.0  # the rows of a KPI block (set, so that Excel and LibreOffice agree on the pages)
# A4 landscape (points) less the margins set in _page_setup, and what one column-width unit prints as
PAGE_WIDTH, PAGE_HEIGHT = 842 - 0.8 * 72, 595 - 1.1 * 72
POINTS_PER_WIDTH_UNIT, POINTS_PER_COLUMN = 7 * 0.75, 5 * 0.75
PAGE_FILL = 0.97  # plan pages this full (measured: LibreOffice prints the rows about 5% shorter than planned)

LINT_TITLE_MAX, LINT_MESSAGE_MAX, LINT_SHEET_NAME_MAX = 32, 255, 31


@dataclass(frozen=True)
class GenerateResult:
    paths: list[Path]
    findings: list[Finding] = field(default_factory=list)


class TemplateLintError(Exception):
    """The workbook about to be written breaks one of Excel's limits (a kpisheet bug)."""


# ================================================================ public API
def workbook_filename(branch: Branch, fiscal_year: int) -> str:
    """'10_群馬支部_FY2024_KPI入力.xlsx', '00_本部_FY2024_KPI入力.xlsx'."""
    return f"{branch.code}_{branch.display_name}_FY{fiscal_year}_KPI入力.xlsx"


def workbook_branches(catalogue: Catalogue, fiscal_year: int) -> list[Branch]:
    """The 47 branches, plus 本部 (00) first when the FY has national-only KPIs."""
    hq = [branch_by_code(HQ_CODE)] if catalogue.kpis_for(fiscal_year, HQ_CODE) else []
    return hq + prefecture_branches()


def expected_keys(catalogue: Catalogue, fiscal_year: int, branch_code: str) -> list[InputKey]:
    """Every input a workbook for this branch and FY has, in sheet order."""
    keys: list[InputKey] = [info_key("preparer"), info_key("contact")]
    for kpi in catalogue.kpis_for(fiscal_year, branch_code):
        keys += _kpi_keys(kpi, fiscal_year)
    for measure in catalogue.measures_for(branch_code):
        keys += [measure_key(measure.id, f, n) for n in range(1, ROWS_PER_MEASURE + 1) for f in ("text", "rating", "note")]
        keys.append(measure_key(measure.id, "issue"))
    return keys


def build_template(catalogue: Catalogue, fiscal_year: int, branch: Branch | str, *,
                   baselines: ValueTable | Mapping[tuple[str, str], float] | None = None,
                   targets: ValueTable | Mapping[tuple[str, str], float] | None = None,
                   password: str | None = None, generated_at: datetime | None = None,
                   settings: HqSettings | None = None) -> bytes:
    """The workbook for one branch and FY, as the bytes of an .xlsx file.

    `settings` give the deadline and HQ's contact the workbook shows (default: the
    settings file, see template_settings); SettingsError while they hold placeholders.
    """
    settings = template_settings(settings)
    if isinstance(branch, str):
        branch = branch_by_code(branch)
    generated_at = generated_at or _now()
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False,
                                   "default_format_properties": {"font_name": FONT, "font_size": 10}})
    book = _Book(wb, catalogue, fiscal_year, branch, _Values(baselines), _Values(targets), password,
                 generated_at, settings)
    book.write()
    _lint(book)
    wb.close()
    return lock_structure(buf.getvalue(), password)


def generate(fiscal_year: int, branch_codes: Iterable[str] | None, outdir: Path, *,
             baseline_path: Path | None = None, targets_path: Path | None = None,
             password: str | None = None, generated_at: datetime | None = None,
             progress: Callable[[Path], None] | None = None, force: bool = False,
             settings: HqSettings | None = None) -> GenerateResult:
    """Write the workbooks of `fiscal_year` into `outdir`; one atomic file per branch.

    HQ's `settings` (default: the settings file, see template_settings) must be
    filled in: while they hold 【要記入】 placeholders, SettingsError (D005 naming
    the file and the fields) is raised and nothing is written.
    Malformed inputs (unknown branch code, bad rows in --baseline/--targets)
    raise KpisheetError with every finding, before anything is written.
    Without `force`, workbooks that already exist in `outdir` (perhaps filled in
    and returned by a branch) raise OutputExistsError naming all of them, before
    anything is written.  Warnings (G107) come back in the result.
    """
    settings = template_settings(settings)
    catalogue = catalogue_for_fy(fiscal_year)
    findings: list[Finding] = []
    branches = _select_branches(catalogue, fiscal_year, branch_codes, findings)
    baselines = read_value_table(baseline_path, fiscal_year, kind="baseline") if baseline_path else None
    targets = read_value_table(targets_path, fiscal_year, kind="targets") if targets_path else None
    for table in (baselines, targets):
        if table is not None:
            findings += table.findings
    if has_errors(findings):
        raise KpisheetError(findings)
    finals = [Path(outdir) / workbook_filename(b, fiscal_year) for b in branches]
    existing = [p for p in finals if p.exists()]
    if existing and not force:
        raise OutputExistsError(*existing)
    generated_at = generated_at or _now()
    for b, final in zip(branches, finals):
        data = build_template(catalogue, fiscal_year, b, baselines=baselines, targets=targets,
                              password=password, generated_at=generated_at, settings=settings)
        with atomic_path(final, force=force) as tmp:
            tmp.write_bytes(data)
        if progress:
            progress(final)
    return GenerateResult(finals, findings)


def template_settings(settings: HqSettings | None = None) -> HqSettings:
    """The settings a workbook shows: `settings`, else load_settings() (--settings, $KPISHEET_HQ_SETTINGS or
    templates/hq_settings.json); SettingsError (D005) while they hold placeholders, D001/D002/D006 if unusable."""
    if settings is None:
        settings = load_settings()
    unfilled = settings.placeholder_finding()
    if unfilled is not None:
        raise SettingsError([unfilled])
    return settings


# ================================================================ structure lock
def lock_structure(xlsx: bytes, password: str | None = None) -> bytes:
    """Add <workbookProtection lockStructure="1"/> after <workbookPr/> (XlsxWriter cannot lock the structure itself)."""
    attrs = b' lockStructure="1"'
    if password:
        attrs = f' workbookPassword="{_password_hash(password)}"'.encode() + attrs
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data, n = re.subn(rb"(<workbookPr\b[^>]*/>)", rb"\1<workbookProtection" + attrs + rb"/>", data,
                                  count=1)
                if n != 1:
                    raise TemplateLintError("xl/workbook.xml has no <workbookPr/> to put the structure lock after")
            zout.writestr(info, data)
    return out.getvalue()


def _password_hash(password: str) -> str:
    """Excel's legacy 16-bit password hash (the one sheet protection uses too)."""
    h = 0
    for i, ch in enumerate(password, start=1):
        v = ord(ch) << i
        h ^= (v & 0x7FFF) | (v >> 15)
    h ^= len(password) ^ 0xCE4B
    return f"{h:X}"


# ================================================================ helpers
def _now() -> datetime:
    return datetime.now().astimezone().replace(microsecond=0)


def _select_branches(catalogue: Catalogue, fiscal_year: int, codes: Iterable[str] | None,
                     findings: list[Finding]) -> list[Branch]:
    if not codes:
        return workbook_branches(catalogue, fiscal_year)
    out: list[Branch] = []
    for raw in codes:
        code = raw.strip().zfill(2) if raw.strip().isdigit() else raw.strip()
        try:
            b = branch_by_code(code)
        except KeyError:
            findings.append(finding("G103", value=raw))
            continue
        if b.code == HQ_CODE and not catalogue.kpis_for(fiscal_year, HQ_CODE):
            findings.append(finding("G109", value=raw, fiscal_year=fiscal_year))
            continue
        if b not in out:
            out.append(b)
    return out


def _kpi_keys(kpi: Kpi, fiscal_year: int) -> list[InputKey]:
    if kpi.kind == "qualitative":
        return [kpi_key(kpi.id, "text"), kpi_key(kpi.id, "rating")]
    keys = [kpi_key(kpi.id, "target"), kpi_key(kpi.id, "baseline")]
    fields = ("num", "den") if kpi.kind == "ratio" else ("val",)
    for f in fields:
        keys += [kpi_key(kpi.id, f, m) for m in kpi.months(fiscal_year)]
    return keys


class _Values:
    """Baselines or targets from a ValueTable or a plain mapping."""

    def __init__(self, source: ValueTable | Mapping[tuple[str, str], float] | None):
        if isinstance(source, ValueTable):
            self.values, self.origins = source.values, source.origins
        else:
            self.values, self.origins = dict(source or {}), {}

    def get(self, code: str, kpi_id: str) -> float | None:
        return self.values.get((code, kpi_id))

    def origin(self, code: str, kpi_id: str) -> str | None:
        return self.origins.get((code, kpi_id))


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text)


SMALL_FONT_WIDTH = 1.15  # a 9pt line holds this many times the characters a 10pt column width counts
BODY_FONT_WIDTH = 1.05  # a 10pt line holds a little more than the column width counts (measured in LibreOffice)
GUIDE_TEXT_WIDTH = 100


def _lines(text: str, width: float) -> int:
    """How many lines `text` wraps to in a column `width` characters wide (rough, for row heights)."""
    return sum(max(1, math.ceil(_display_width(part) / max(width - 1, 1))) for part in text.split("\n"))


def _row_height(lines: int, per_line: float = 14.5) -> float:
    return round(lines * per_line + 4, 1)


def _wareki_date(d: date) -> str:
    return f"{wareki_year(d.year)}年{d.month}月{d.day}日"


# ================================================================ flows and stocks, as a branch reads them
def part_tag(kpi: Kpi, part: Part) -> str:
    """累計 | 年度の数 | 月末時点: what a monthly cell of `part` holds (the tag after its row label)."""
    if part.is_flow:
        return TAG_FLOW
    return TAG_POPULATION if kpi.grows_in_year else TAG_LEVEL


def part_entry_ja(kpi: Kpi, part: Part) -> str:
    """「4月から各月末までの累計」「年度の対象者数（各月とも同じ値で可）」「各月末時点の数（…）」."""
    tag = part_tag(kpi, part)
    if tag == TAG_FLOW:
        return FLOW_JA
    if tag == TAG_POPULATION:
        return f"年度の{part.label}（各月とも同じ値で可）"
    return "各月末時点の数（4月から足し上げない）"


def entry_ja(kpi: Kpi) -> str:
    """What to enter month by month, for the KPI's explanation line."""
    if kpi.kind == "qualitative":
        return "実施内容を文章で記入し、自己評価を選択"
    if kpi.kind == "count":
        assert kpi.value_part
        return f"{part_entry_ja(kpi, kpi.value_part)}を入力"
    assert kpi.numerator and kpi.denominator
    num, den = part_entry_ja(kpi, kpi.numerator), part_entry_ja(kpi, kpi.denominator)
    if num == den:
        return f"分子・分母とも{num}を入力（率は自動計算）"
    return (f"分子（{kpi.numerator.label}）は{num}、分母（{kpi.denominator.label}）は{den}を入力"
            "（率は自動計算）")


def part_prompt(kpi: Kpi, part: Part) -> tuple[str, str]:
    """(title, message) of the input prompt over a part's monthly cells."""
    later = "データが届いていない月は空欄のままで構いません。" if kpi.lag_months else ""
    tag = part_tag(kpi, part)
    if tag == TAG_FLOW:
        return "累計を入力", (f"{part.label}：4月から当月末までの累計を、数字だけで入力してください"
                            f"（単位は付けない）。{later}")
    if tag == TAG_POPULATION:
        return "年度の数を入力", (f"{part.label}：年度の{part.label}を、数字だけで入力してください"
                              f"（4月から足し上げない。各月とも同じ値で可。単位は付けない）。{later}")
    return "月末時点の数を入力", (f"{part.label}：当月末時点の数を、数字だけで入力してください"
                             f"（4月から足し上げない。単位は付けない）。{later}")


# The data a lagging KPI waits for, by a word of the catalogue's lag note (else just データ).
_LAG_SUBJECTS = (("診療月", "レセプトのデータ（診療月ベース）"), ("保健指導", "特定保健指導のデータ"),
                 ("健診", "健診データ"))


def lag_ja(kpi: Kpi) -> str | None:
    """「※健診データは通常2か月程度遅れて届きます。…」 for a KPI whose data trail the month; else None."""
    if not kpi.lag_months:
        return None
    subject = next((ja for word, ja in _LAG_SUBJECTS if word in (kpi.lag_note or "")), "この指標のデータ")
    return (f"※{subject}は通常{kpi.lag_months}か月程度遅れて届きます。届いた月まで入力し、"
            "以降の月は空欄のままで構いません。")


def branch_note(note: str) -> str:
    """A catalogue note as a branch reads it: bracketed source references (「（seed 002:214。…）」) left out."""
    out: list[str] = []
    depth = start = kept = 0
    for i, ch in enumerate(note):
        if ch == "（":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "）" and depth:
            depth -= 1
            if depth == 0 and "seed " in note[start:i]:
                out.append(note[kept:start])
                kept = i + 1
    out.append(note[kept:])
    return "".join(out).strip()


# ================================================================ the workbook
class _Sheet(Worksheet):
    """A worksheet whose formulas are written as given.

    XlsxWriter runs ~30 regular expressions over every formula to prefix Excel 365's functions
    (_xlfn.); the 入力チェック writes ~2,000 formulas of Excel 2007 functions only (selfcheck.py,
    checked by tests/test_template.py), and those substitutions were half the time of a workbook.
    """

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        return formula[1:] if formula.startswith("=") else formula


@dataclass
class _Prefill:
    value: float | None
    note: str
    prefilled: bool


class _Book:
    """Writes one workbook; records every name and validation for the lint."""

    def __init__(self, wb: xlsxwriter.Workbook, catalogue: Catalogue, fiscal_year: int, branch: Branch,
                 baselines: _Values, targets: _Values, password: str | None, generated_at: datetime,
                 settings: HqSettings):
        self.wb, self.catalogue, self.fy, self.branch = wb, catalogue, fiscal_year, branch
        self.settings = settings
        self.baselines, self.targets, self.password, self.generated_at = baselines, targets, password, generated_at
        self.kpis = catalogue.kpis_for(fiscal_year, branch.code)
        self.names: dict[str, str] = {}
        self.validations: list[dict[str, Any]] = []
        self.dv_groups: dict[tuple[str, str], tuple[dict[str, Any], tuple[int, int], tuple[int, int], list[str]]] = {}
        self.row_keys: dict[tuple[str, int], str] = {}
        self.formats: dict[tuple[Any, ...], Any] = {}
        self.heights: dict[tuple[str, int], float] = {}  # (sheet, row) -> height set, for the page breaks
        self.blocks: dict[str, list[tuple[int, int]]] = {SHEET_KPI: [], SHEET_MEASURES: []}  # rows kept on one page
        self.manual_breaks: dict[str, list[int]] = {}
        self.row_helpers: dict[tuple[str, int], list[tuple[str, str]]] = {}  # 入力チェック helpers of each row
        self.sheets = {n: wb.add_worksheet(n, worksheet_class=_Sheet) for n in (SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES,
                                                                              SHEET_LISTS,
                                                         SHEET_META)}
        self.title = f"{wareki_fiscal_year(fiscal_year)} 事業計画KPI 入力シート（{branch.display_name}）"

    # ------------------------------------------------------------ formats
    def fmt(self, *keys: str, **extra: Any) -> Any:
        """A cached format built from named style parts plus overrides."""
        cache_key = (keys, tuple(sorted(extra.items())))
        if cache_key not in self.formats:
            props: dict[str, Any] = {}
            for k in keys:
                props.update(_STYLE_PARTS[k])
            props.update(extra)
            self.formats[cache_key] = self.wb.add_format(props)
        return self.formats[cache_key]

    def cond(self, name: str) -> Any:
        """A format for a conditional-formatting rule (fill and font only)."""
        return self.fmt(f"{name}_cond")

    # ------------------------------------------------------------ writing
    def write(self) -> None:
        self.sheets[SHEET_GUIDE].activate()
        self._kpi_sheet()
        self._measure_sheet()
        self._guide_sheet()
        self._lists_sheet()
        self._meta_sheet()
        self._write_validations()
        self._properties()

    def _properties(self) -> None:
        self.wb.set_properties({
            "title": self.title, "subject": f"{TEMPLATE_FORMAT} v{TEMPLATE_VERSION}",
            "author": "全国健康保険協会 本部", "company": "全国健康保険協会",
            "comments": f"kpisheet {__version__} で作成", "created": self.generated_at,
        })
        for name, value in (("kpisheet_format", TEMPLATE_FORMAT),
                            ("kpisheet_template_version", str(TEMPLATE_VERSION)),
                            ("kpisheet_branch_code", self.branch.code),
                            ("kpisheet_fiscal_year", str(self.fy)),
                            ("kpisheet_catalogue_digest", self.catalogue.digest)):
            self.wb.set_custom_property(name, value, "text")

    def _input(self, sheet: str, row: int, col: int, key: InputKey, value: Any, cell_format: Any,
               *, merge_to: int | None = None) -> None:
        ws = self.sheets[sheet]
        self._row_key(sheet, row, key.sheet_key)
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
        self.names[key.name] = f"='{sheet}'!{xl_rowcol_to_cell(row, col, row_abs=True, col_abs=True)}"
        self.wb.define_name(key.name, self.names[key.name])

    def _row_key(self, sheet: str, row: int, text: str) -> None:
        known = self.row_keys.get((sheet, row))
        if known is None:
            self.row_keys[(sheet, row)] = text
            self.sheets[sheet].write_string(row, KEY_COLUMN - 1, text)
        elif known != text:
            raise TemplateLintError(f"row {row + 1} of {sheet} has two keys: {known}, {text}")

    def _validate(self, sheet: str, first: tuple[int, int], last: tuple[int, int], options: dict[str, Any]) -> None:
        """Collect a validation; identical ones are written once over all their ranges (smaller, faster files)."""
        ref = xl_rowcol_to_cell(*first) if first == last else \
            f"{xl_rowcol_to_cell(*first)}:{xl_rowcol_to_cell(*last)}"
        group = self.dv_groups.setdefault((sheet, repr(sorted(options.items()))), (options, first, last, []))
        group[3].append(ref)

    def _write_validations(self) -> None:
        for (sheet, _), (options, first, last, refs) in self.dv_groups.items():
            self.validations.append(options)
            self.sheets[sheet].data_validation(first[0], first[1], last[0], last[1],
                                               {"ignore_blank": True, "show_input": True, "show_error": True,
                                                "error_type": "stop", **options, "multi_range": " ".join(refs)})

    def _page_setup(self, ws: Any, last_col: int, repeat: tuple[int, int] | None, last_row: int,
                    widths: Iterable[float]) -> None:
        """A4 landscape, one page wide, headings repeated, page numbers; a page break before every KPI or measure
        block that would not fit on the page, so no block is split over two pages."""
        breaks = self.manual_breaks.get(ws.name) or _page_breaks(
            self.blocks.get(ws.name, []), lambda r: self.heights.get((ws.name, r), DEFAULT_ROW_HEIGHT),
            repeat, _page_rows_height(widths))
        if breaks:
            ws.set_h_pagebreaks(breaks)
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.center_horizontally()
        ws.set_footer(f"&L&8{self.branch.display_name}　{wareki_fiscal_year(self.fy)}&C&P / &N ページ&R&8&A")
        if repeat:
            ws.repeat_rows(*repeat)
        ws.print_area(1, 1, last_row, last_col)
        ws.hide_gridlines(1)
        ws.protect(self.password or "", {"format_columns": True, "format_rows": True,
                                         "select_locked_cells": True, "select_unlocked_cells": True})

    def _title_rows(self, ws: Any) -> None:
        ws.write_string(1, 1, self.title, self.fmt("title"))
        self._height(ws, 1, 24)
        hq = self.settings
        send = "保存先：月次集計の受信フォルダ" if self.branch.code == HQ_CODE else f"返送先：{hq.department}（{hq.mail}）"
        ws.write_string(2, 1, f"作成日：{_wareki_date(self.generated_at.date())}　　提出期限：{hq.deadline_ja()}　　{send}",
                        self.fmt("small"))

    def _height(self, ws: Any, row: int, height: float) -> None:
        """Set a row's height and remember it (page breaks are planned from the heights)."""
        ws.set_row(row, height)
        self.heights[(ws.name, row)] = height

    def _legend(self, ws: Any, row: int, label_col: int, swatches: list[tuple[int, int, str, str]]) -> None:
        """Colour swatches that explain themselves: 入力欄 / 本部記入済み / 自動計算 / 見出し."""
        ws.write_string(row, label_col, "凡例（セルの色）", self.fmt("small", bold=True, align="right"))
        for first, last, style, text in swatches:
            cell_format = self.fmt(style, "border", align="center", locked=True, font_size=9)
            if first == last:
                ws.write_string(row, first, text, cell_format)
            else:
                ws.merge_range(row, first, row, last, text, cell_format)

    # ------------------------------------------------------------ KPI入力
    def _kpi_sheet(self) -> None:
        ws = self.sheets[SHEET_KPI]
        months = fiscal_months(self.fy)
        last_col = KPI_FIRST_MONTH_COL + len(months) - 1
        self._kpi_columns(ws, months)
        self._title_rows(ws)
        self._info_rows(ws)
        self._legend(ws, 5, 2, [(3, 4, "input_plain", "入力欄（入力してください）"),
                                (5, 6, "prefill_plain", "本部記入済み（修正可）"),
                                (7, 8, "calc_plain", "自動計算・対象外"), (9, 10, "problem_plain", "要確認（入力チェック）"),
                                (11, 12, "head", "見出し")])
        ws.merge_range(6, 1, 6, KPI_CHECK_COL, KPI_SHEET_NOTE, self.fmt("note"))
        self._height(ws, 6, _row_height(_lines(KPI_SHEET_NOTE, KPI_PRINT_WIDTH * SMALL_FONT_WIDTH), 12))
        self._kpi_heads(ws, months, last_col)
        row, pillar = KPI_FIRST_ROW, None
        if not self.kpis:
            ws.write_string(row, 2, "この年度に入力するKPIはありません。", self.fmt("note"))
            row += 1
        for kpi in self.kpis:
            measure = self.catalogue.measure(kpi.measure_id)
            first = row
            if measure.pillar != pillar:
                pillar = measure.pillar
                row = self._pillar_band(ws, row, KPI_CHECK_COL, pillar)
            row = self._kpi_block(ws, row, kpi, months)
            self.blocks[SHEET_KPI].append((first, row - 1))
        last_input = max(row - 1, KPI_FIRST_ROW)
        row = self._kpi_footnotes(ws, row + 1, KPI_CHECK_COL)
        self._kpi_check_area(ws, last_input)
        ws.freeze_panes(KPI_FIRST_ROW, KPI_VALUE_COL)
        self._page_setup(ws, KPI_CHECK_COL, KPI_HEAD_ROWS, row, KPI_WIDTHS)

    def _kpi_columns(self, ws: Any, months: list[date]) -> None:
        ws.set_column(0, 0, 14, None, {"hidden": True})
        for col, width in enumerate(KPI_WIDTHS, 1):
            ws.set_column(col, col, width)
        ws.set_column(KPI_CHECK_COL + 1, KPI_CHECK_COL + CARRY_OFFSET, 8, None, {"hidden": True})
        ws.set_row(KEY_ROW - 1, None, None, {"hidden": True})
        ws.write_string(KEY_ROW - 1, KEY_COLUMN - 1, "key")
        ws.write_string(KEY_ROW - 1, KPI_VALUE_COL - 1, "info")
        ws.write_string(KEY_ROW - 1, KPI_VALUE_COL, "value")
        for i, m in enumerate(months):
            ws.write_string(KEY_ROW - 1, KPI_FIRST_MONTH_COL + i, month_compact(m))

    def _kpi_heads(self, ws: Any, months: list[date], last_col: int) -> None:
        head = self.fmt("head")
        h0, h1 = KPI_HEAD_ROWS
        ws.merge_range(h0, 1, h1, 1, "KPI ID", head)
        ws.merge_range(h0, 2, h1, 2, "項目（単位・入力する値）", head)
        ws.merge_range(h0, 3, h1, 3, "年間目標\n前年度実績", head)
        ws.merge_range(h0, KPI_FIRST_MONTH_COL, h0, last_col,
                       f"月別実績（項目名の「{TAG_FLOW}」「{TAG_LEVEL}」「{TAG_POPULATION}」のとおりに入力）", head)
        for i, m in enumerate(months):
            ws.write_string(h1, KPI_FIRST_MONTH_COL + i, month_label(m), head)
        ws.merge_range(h0, KPI_CHECK_COL, h1, KPI_CHECK_COL, "確認\n（入力チェック）", head)
        self._height(ws, h0, 18)
        self._height(ws, h1, 18)

    def _info_rows(self, ws: Any) -> None:
        """記入者 and 連絡先 (inputs, read back), and beside them the 入力チェック's count of problems."""
        for row, field in zip(KPI_INFO_ROWS, ("preparer", "contact")):
            ws.write_string(row, 1, INFO_LABELS[field], self.fmt("label", "center", bold=True))
            self._input(SHEET_KPI, row, 2, info_key(field), None, self.fmt("input", "text"))
            self._validate(SHEET_KPI, (row, 2), (row, 2), _info_validation(field))
            self._height(ws, row, 18)
        top, bottom = KPI_INFO_ROWS
        ws.write_string(top, 3, "入力チェック", self.fmt("head", font_size=9))
        kpi_count = xl_rowcol_to_cell(top, KPI_CHECK_COL + 1)
        measure_count = f"'{SHEET_MEASURES}'!{xl_rowcol_to_cell(*MEASURE_COUNT_CELL, row_abs=True, col_abs=True)}"
        ws.write_formula(bottom, 3, f"={kpi_count}+{measure_count}", self.fmt("count"), "")
        total = xl_rowcol_to_cell(bottom, 3)
        self.wb.define_name(CHECK_COUNT_NAME, f"='{SHEET_KPI}'!{xl_rowcol_to_cell(bottom, 3, row_abs=True, col_abs=True)}")
        ws.merge_range(top, 4, top, KPI_CHECK_COL, CHECK_HOW_JA, self.fmt("note", valign="vcenter"))
        ws.merge_range(bottom, 4, bottom, KPI_CHECK_COL, "", self.fmt("summary"))
        ws.write_formula(bottom, 4, _summary_formula(total, [("KPI入力", kpi_count), ("取組状況", measure_count)]),
                         self.fmt("summary"), "")
        self._traffic_light(ws, (bottom, 3), (bottom, KPI_CHECK_COL), total)

    def _traffic_light(self, ws: Any, first: tuple[int, int], last: tuple[int, int], count: str) -> None:
        """Red while the 入力チェック counts a problem, green at 0."""
        for criteria, fmt in ((f"={count}>0", self.cond("problem")), (f"={count}=0", self.cond("ok"))):
            ws.conditional_format(*first, *last, {"type": "formula", "criteria": criteria, "format": fmt})

    def _pillar_band(self, ws: Any, row: int, last_col: int, pillar: int) -> int:
        p = self.catalogue.pillar(pillar)
        ws.write_string(row, 1, f"{p.no}. {p.label}", self.fmt("pillar"))
        for c in range(2, last_col + 1):
            ws.write_blank(row, c, None, self.fmt("pillar"))
        self._height(ws, row, 18)
        return row + 1

    def _kpi_block(self, ws: Any, row: int, kpi: Kpi, months: list[date]) -> int:
        band = self.fmt("block")
        ws.write_string(row, 1, kpi.id, band)
        ws.write_string(row, 2, kpi.label, band)
        for c in range(3, KPI_CHECK_COL + 1):
            ws.write_blank(row, c, None, band)
        self._height(ws, row, 18)
        row += 1
        info = self._kpi_info(kpi)
        ws.merge_range(row, 2, row, KPI_CHECK_COL, info, self.fmt("info"))
        ws.write_blank(row, 1, None, self.fmt("info"))
        self._height(ws, row, _row_height(_lines(info, (KPI_PRINT_WIDTH - 8.5) * SMALL_FONT_WIDTH), 13))
        row += 1
        if kpi.kind == "qualitative":
            return self._qualitative_rows(ws, row, kpi) + 1
        row = self._annual_rows(ws, row, kpi)
        valid = [m for m in months if kpi.applies_in(m)]
        if kpi.kind == "ratio":
            assert kpi.numerator and kpi.denominator
            rows = {"num": row, "den": row + 1}
            self._month_row(ws, row, kpi, "num", "分子", kpi.numerator, months, valid, rows)
            self._month_row(ws, row + 1, kpi, "den", "分母", kpi.denominator, months, valid, rows)
            self._rate_row(ws, row + 2, kpi, row, row + 1, months, set(valid))
            row += 3
        else:
            assert kpi.value_part
            self._month_row(ws, row, kpi, "val", "実績", kpi.value_part, months, valid, {"val": row})
            row += 1
        self._height(ws, row, 6)
        return row + 1

    def _kpi_info(self, kpi: Kpi) -> str:
        """The grey explanation line of a KPI block: target (with the term goal), direction, what to enter."""
        direction = "高いほど良い（目標以上で達成）" if kpi.direction == ">=" else "低いほど良い（目標以下で達成）"
        parts = [f"目標：{self._target_ja(kpi)}", f"評価の向き：{direction}", entry_ja(kpi)]
        if kpi.kind == "qualitative":
            parts = [f"目標：{self._target_ja(kpi)}", entry_ja(kpi)]
        text = "　／　".join(parts)
        if (lag := lag_ja(kpi)) is not None:
            text += f"\n{lag}"
        if kpi.valid_until:
            last = kpi.months(self.fy)[-1] if kpi.months(self.fy) else None
            if last:
                text += f"\n※{last.year}年{last.month}月分まで入力（それ以降の月は対象外）"
        if kpi.note:
            text += f"\n※{branch_note(kpi.note)}"
        return text

    def _target_ja(self, kpi: Kpi) -> str:
        """「支部で設定（第6期末目標 64.8%以上）」: the year's target rule, with the term goal as reference."""
        year = kpi.target.describe_ja(kpi)
        if kpi.kind == "qualitative" or kpi.term_goal.rule == "branch":
            return year
        goal = kpi.term_goal.describe_ja(kpi)
        nation = "全国の" if kpi.kind == "count" and kpi.term_goal.rule == "fixed" else ""
        term = f"{nation}第{self.catalogue.term}期末目標"
        return f"{year}（{term}と同じ）" if goal == year else f"{year}（{term} {goal}）"

    def _annual_rows(self, ws: Any, row: int, kpi: Kpi) -> int:
        target, baseline = self._prefill(kpi)
        unit = f"（{kpi.unit_label}）"
        target_cell = xl_rowcol_to_cell(row, KPI_VALUE_COL)
        for offset, (fieldname, label, pre) in enumerate((("target", f"年間目標{unit}", target),
                                                          ("baseline", f"前年度実績{unit}", baseline))):
            r = row + offset
            ws.write_string(r, 1, "目標" if fieldname == "target" else "前年度", self.fmt("label", "center"))
            self._height(ws, r, INPUT_ROW_HEIGHT)
            ws.write_string(r, 2, label, self.fmt("label"))
            cell_value = None if pre.value is None else (pre.value / 100 if kpi.is_percent else pre.value)
            self._input(SHEET_KPI, r, KPI_VALUE_COL, kpi_key(kpi.id, fieldname), cell_value,
                        self._number_format(kpi, prefilled=pre.prefilled, annual=True))
            self._validate(SHEET_KPI, (r, KPI_VALUE_COL), (r, KPI_VALUE_COL), self._number_validation(kpi, True))
            ws.write_string(r, KPI_VALUE_COL + 1, pre.note, self.fmt("hint"))
            cells = sc.AnnualCells(xl_rowcol_to_cell(r, KPI_VALUE_COL), target_cell)
            reasons = sc.annual_reasons(kpi, fieldname, cells, asks_baseline=self._asks_baseline(kpi))
            self._check(ws, r, KPI_VALUE_COL, "", reasons)
        return row + 2

    def _asks_baseline(self, kpi: Kpi) -> bool:
        """W415 / W418: the target follows from last year's value, and a comparable one exists."""
        return kpi.target.rule in ("baseline", "generic_conditional") and not no_comparable_last_year(self.fy, kpi)

    def _check(self, ws: Any, row: int, col: int, label: str, reasons: list[sc.Reason]) -> None:
        """The input's 入力チェック helper (hidden, beyond the print area), listed for its row's 確認 cell."""
        helper = (row, col + CHECK_OFFSET) if ws.name == SHEET_KPI else (row, col + MEASURE_CHECK_OFFSET)
        ws.write_formula(*helper, sc.reasons_formula(reasons), None, "")
        self.row_helpers.setdefault((ws.name, row), []).append((label, xl_rowcol_to_cell(*helper)))

    def _prefill(self, kpi: Kpi) -> tuple[_Prefill, _Prefill]:
        code = self.branch.code
        base = self.baselines.get(code, kpi.id)
        previous = wareki_fiscal_year(self.fy - 1)
        rule = kpi.target.rule
        if base is not None:
            origin = self.baselines.origin(code, kpi.id)
            via = f"、{origin}（第{self.catalogue.term - 1}期）の値を引継ぎ" if origin and origin != kpi.id else ""
            baseline = _Prefill(base, f"← 本部記入済み（{previous}実績{via}）。誤りがあれば修正してください", True)
        else:
            uses = "（目標にも使います）" if rule in ("baseline", "generic_conditional") else ""
            baseline = _Prefill(None, f"← {previous}の実績を入力してください{uses}{self._baseline_caveat(kpi)}", False)
        given = self.targets.get(code, kpi.id)
        if given is not None:
            target = _Prefill(given, f"← 本部記入済み（本部から提示された目標値）。{OVERWRITE_JA}", True)
        elif rule == "fixed" and kpi.target.value is not None:
            target = _Prefill(kpi.target.value, f"← 本部記入済み（全国共通の目標）。{OVERWRITE_JA}", True)
        elif rule == "baseline" and base is not None:
            target = _Prefill(base, f"← 本部記入済み（対前年度以上：前年度実績と同じ値）。{OVERWRITE_JA}", True)
        elif rule == "generic_conditional" and kpi.target.value is not None and base is not None:
            floor = kpi.format_value(kpi.target.value)
            why = f"前年度{floor}以上のため対前年度以上" if base >= kpi.target.value else f"前年度{floor}未満のため{floor}"
            target = _Prefill(max(kpi.target.value, base), f"← 本部記入済み（{why}）。{OVERWRITE_JA}", True)
        elif rule == "baseline":
            target = _Prefill(None, "← 空欄のままで構いません（下の前年度実績を目標として評価します）。"
                                    "支部の事業計画で別の目標を定めた場合は入力してください", False)
        elif rule == "generic_conditional":
            floor = kpi.format_value(kpi.target.value or 0)
            target = _Prefill(None, f"← 空欄のままで構いません（前年度実績が{floor}以上ならその値、未満なら{floor}を"
                                    "目標として評価します）", False)
        else:
            target = _Prefill(None, f"← 支部の事業計画の年間目標を入力してください（例：{self._example(kpi)}）", False)
        return target, baseline

    def _baseline_caveat(self, kpi: Kpi) -> str:
        if self.catalogue.term != 6 or self.fy != self.catalogue.first_fy:
            return ""
        from kpisheet.domain.catalogue import load_mapping
        link = load_mapping().predecessor(kpi.id)
        if link is None or link.relation == "新設":
            return "（今期の新しいKPI。分かる範囲で）"
        if not link.baseline_valid:
            return f"（前期の{link.from_id}とは定義が異なるため、新しい定義で）"
        return ""

    @staticmethod
    def _example(kpi: Kpi) -> str:
        """A value as the branch would type it: the fixed target, else one in the plausible range (96.5%)."""
        if not kpi.is_percent:
            return "8364" if kpi.display == "yen" else "1170"
        if kpi.target.rule == "fixed" and kpi.target.value is not None:
            return kpi.format_value(kpi.target.value)
        if kpi.decimals > 2:
            return "0.310%"
        if kpi.plausible is not None and not kpi.plausible.holds(96.5):
            return kpi.format_value(float(f"{(kpi.plausible.low + kpi.plausible.high) / 2:.2g}"))
        return f"{96.5:.{max(kpi.decimals, 1)}f}%"

    def _number_format(self, kpi: Kpi, *, prefilled: bool, annual: bool) -> Any:
        style = "prefill" if prefilled else "input"
        if annual and kpi.is_percent:
            return self.fmt(style, "number", num_format="0." + "0" * kpi.decimals + "%" if kpi.decimals else "0%")
        return self.fmt(style, "number", num_format="#,##0")

    def _number_validation(self, kpi: Kpi, annual: bool) -> dict[str, Any]:
        if annual and kpi.plausible is not None:
            return self._plausible_validation(kpi)
        if annual and kpi.is_percent:
            example = self._example(kpi)
            return {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 1,
                    "input_title": "割合（％）を入力",
                    "input_message": f"「{example}」のように％を付けて入力してください（0%〜100%）。",
                    "error_title": "割合を入力してください",
                    "error_message": f"0%〜100%の割合を「{example}」のように％を付けて入力してください。"
                                     "％を付けずに数字だけを入力すると、このエラーになることがあります。"}
        unit = "円" if kpi.display == "yen" else (kpi.unit_label if annual else "単位")
        return {"validate": "decimal", "criteria": ">=", "value": 0,
                "input_title": "数値を入力",
                "input_message": f"数字だけを入力してください（{unit}や文字は付けない。例：{self._example_plain(kpi)}）。",
                "error_title": "数字を入力してください",
                "error_message": "0以上の数値を、数字だけで入力してください（「円」「人」「事業所」などの単位や文字は付けません）。"}

    def _plausible_validation(self, kpi: Kpi) -> dict[str, Any]:
        """The KPI's plausible range (catalogue) as a warning: Excel asks before it keeps a value outside it,
        so a 100x slip of percent entry (0.310 → 31.0%) is caught while typing; a real outlier can still go in."""
        assert kpi.plausible is not None
        scale = 100 if kpi.is_percent else 1
        low, high = kpi.format_value(kpi.plausible.low), kpi.format_value(kpi.plausible.high)
        how = (f"「{self._example(kpi)}」のように％を付けて入力してください" if kpi.is_percent
               else f"数字だけを入力してください（円は付けない。例：{self._example_plain(kpi)}）")
        return {"validate": "decimal", "criteria": "between", "minimum": kpi.plausible.low / scale,
                "maximum": kpi.plausible.high / scale, "error_type": "warning",
                "input_title": "割合（％）を入力" if kpi.is_percent else "金額を入力",
                "input_message": f"{how}。通常は{low}〜{high}です。",
                "error_title": "通常の範囲外の値です",
                "error_message": f"このKPIの値は通常{low}〜{high}です。％の付け方や桁を確認してください"
                                 "（例：「0.310」と入力すると31.0%になります）。正しい値であれば「はい」で続けてください。"}

    @staticmethod
    def _example_plain(kpi: Kpi) -> str:
        return "8364" if kpi.display == "yen" else "1170"

    def _month_row(self, ws: Any, row: int, kpi: Kpi, fieldname: str, role: str, part: Part,
                   months: list[date], valid: list[date], rows: dict[str, int]) -> None:
        label = f"{part.label}（{part.unit}・{part_tag(kpi, part)}）"
        ws.write_string(row, 1, role, self.fmt("label", "center"))
        ws.write_string(row, 2, label, self.fmt("label"))
        self._height(ws, row, max(INPUT_ROW_HEIGHT, _row_height(_lines(label, KPI_WIDTHS[1])) - 4))
        ws.write_blank(row, KPI_VALUE_COL, None, self.fmt("calc_plain", "border"))
        cell_format = self.fmt("input", "number", num_format="#,##0")
        cols = []
        for i, m in enumerate(months):
            col = KPI_FIRST_MONTH_COL + i
            if m in valid:
                self._input(SHEET_KPI, row, col, kpi_key(kpi.id, fieldname, m), None, cell_format)
                cols.append(col)
            else:
                ws.write_string(row, col, "対象外", self.fmt("calc_plain", "border", align="center"))
        for k, (m, col) in enumerate(zip(valid, cols)):
            self._month_check(ws, kpi, fieldname, row, col, cols[k + 1:], rows, m, first=k == 0)
        if cols:
            options = self._number_validation(kpi, annual=False)
            options["input_title"], options["input_message"] = part_prompt(kpi, part)
            self._validate(SHEET_KPI, (row, cols[0]), (row, cols[-1]), options)

    def _month_check(self, ws: Any, kpi: Kpi, fieldname: str, row: int, col: int, later: list[int],
                     rows: dict[str, int], month: date, *, first: bool) -> None:
        """One monthly cell's 入力チェック: its helper, and for a year-to-date flow its carry (last number so far)."""
        cell = xl_rowcol_to_cell(row, col)
        previous = None
        part = {"num": kpi.numerator, "den": kpi.denominator, "val": kpi.value_part}[fieldname]
        if part is not None and part.is_flow:  # only a flow is compared with the month before (E404)
            previous = None if first else xl_rowcol_to_cell(row, col - 1 + CARRY_OFFSET)
            ws.write_formula(row, col + CARRY_OFFSET, sc.carry_formula(cell, previous), None, "")
        parts = [rows[f] for f in ("num", "den", "val") if f in rows]
        later_ranges = tuple(f"{xl_rowcol_to_cell(r, later[0])}:{xl_rowcol_to_cell(r, later[-1])}"
                             for r in parts) if later else ()
        cells = sc.MonthCells(cell, previous,
                              numerator=xl_rowcol_to_cell(rows["num"], col) if "num" in rows else None,
                              denominator=xl_rowcol_to_cell(rows["den"], col) if "den" in rows else None,
                              later=later_ranges)
        self._check(ws, row, col, month_label(month), sc.month_reasons(kpi, fieldname, cells))

    def _rate_row(self, ws: Any, row: int, kpi: Kpi, num_row: int, den_row: int, months: list[date],
                  valid: set[date]) -> None:
        ws.write_string(row, 1, "計算", self.fmt("calc_plain", "border", align="center"))
        self._height(ws, row, INPUT_ROW_HEIGHT)
        ws.write_string(row, 2, f"{kpi.short_label}（{kpi.unit_label}）", self.fmt("calc_plain", "border",
                                                                                text_wrap=True))
        ws.write_blank(row, KPI_VALUE_COL, None, self.fmt("calc_plain", "border"))
        num_format = ("0." + "0" * kpi.decimals + "%") if kpi.is_percent else "#,##0"
        calc = self.fmt("calc", num_format=num_format)
        for i, m in enumerate(months):
            col = KPI_FIRST_MONTH_COL + i
            if m not in valid:
                ws.write_string(row, col, "対象外", self.fmt("calc_plain", "border", align="center"))
                continue
            n = xl_rowcol_to_cell(num_row, col)
            d = xl_rowcol_to_cell(den_row, col)
            ws.write_formula(row, col, f'=IF(OR({n}="",{d}=""),"",IFERROR({n}/{d},""))', calc, "")

    def _qualitative_rows(self, ws: Any, row: int, kpi: Kpi) -> int:
        ws.write_string(row, 1, "実施内容", self.fmt("label", "center"))
        ws.write_string(row, 2, "実施内容・結果（文章で記入）", self.fmt("label"))
        limit = TEXT_LIMITS["text"]
        last_col = KPI_FIRST_MONTH_COL + 11
        self._input(SHEET_KPI, row, KPI_VALUE_COL, kpi_key(kpi.id, "text"), None, self.fmt("input", "text"),
                    merge_to=last_col)
        self._validate(SHEET_KPI, (row, KPI_VALUE_COL), (row, last_col), _text_validation(limit))
        self._height(ws, row, QUALITATIVE_TEXT_HEIGHT)
        row += 1
        ws.write_string(row, 1, "自己評価", self.fmt("label", "center"))
        ws.write_string(row, 2, "自己評価（◎ ○ △ × —）", self.fmt("label"))
        self._input(SHEET_KPI, row, KPI_VALUE_COL, kpi_key(kpi.id, "rating"), None, self.fmt("input", "rating"))
        self._validate(SHEET_KPI, (row, KPI_VALUE_COL), (row, KPI_VALUE_COL), _rating_validation())
        ws.write_string(row, KPI_VALUE_COL + 1, "← リストから選択：" + "　".join(f"{r} {t}" for r, t in RATING_MEANINGS.items()),
                        self.fmt("hint"))
        row += 1
        self._height(ws, row, 6)
        return row

    def _kpi_footnotes(self, ws: Any, row: int, last_col: int) -> int:
        notes = ["※黄色のセルに入力してください。青色のセルは本部で記入済みです（誤りがあれば修正してください。"
                 "目標を上書きした場合は、上書きした値で評価します）。灰色のセルは自動計算または対象外のため入力不要です。",
                 f"※赤いセルは入力チェックで問題が見つかったセルです。理由は同じ行の「確認」欄にあります。{CHECK_SEND_JA}。"
                 f"{CHECK_RIGHT_JA}",
                 "※割合の月別の値は入力不要です（分子・分母から自動計算されます）。",
                 "※データが遅れて届くKPI（健診・ジェネリックなど）は、届いた月まで入力し、以降の月は空欄のままで構いません。",
                 "※行・列の挿入や削除、シート名の変更はしないでください。貼り付けは「値の貼り付け」を使ってください。"]
        for text in notes:
            ws.merge_range(row, 1, row, last_col, text, self.fmt("note"))
            self._height(ws, row, _row_height(_lines(text, KPI_PRINT_WIDTH * SMALL_FONT_WIDTH), 12))
            row += 1
        return row - 1

    def _kpi_check_area(self, ws: Any, last_row: int) -> None:
        """確認 cells (the row's problems in words), the red rule over the inputs and the sheet's count."""
        self._row_summaries(ws, KPI_CHECK_COL)
        first_helper = xl_rowcol_to_cell(KPI_FIRST_ROW, KPI_VALUE_COL + CHECK_OFFSET)
        ws.conditional_format(KPI_FIRST_ROW, KPI_VALUE_COL, last_row, KPI_FIRST_MONTH_COL + 11,
                              {"type": "formula", "criteria": f"=LEN({first_helper})>0", "format": self.cond("problem")})
        helpers = xl_range_abs(KPI_FIRST_ROW, KPI_VALUE_COL + CHECK_OFFSET, last_row,
                               KPI_FIRST_MONTH_COL + 11 + CHECK_OFFSET)
        ws.write_formula(KPI_INFO_ROWS[0], KPI_CHECK_COL + 1, sc.count_formula([helpers]), None, "")

    def _row_summaries(self, ws: Any, check_col: int) -> None:
        for (sheet, row), helpers in self.row_helpers.items():
            if sheet == ws.name:
                ws.write_formula(row, check_col, sc.row_summary_formula(helpers), self.fmt("check"), "")

    # ------------------------------------------------------------ 取組状況
    def _measure_sheet(self) -> None:
        ws = self.sheets[SHEET_MEASURES]
        last_col = MEASURE_CHECK_COL
        ws.set_column(0, 0, 14, None, {"hidden": True})
        for col, width in enumerate(MEASURE_WIDTHS, 1):
            ws.set_column(col, col, width)
        ws.set_column(last_col + 1, last_col + MEASURE_CHECK_OFFSET, 8, None, {"hidden": True})
        ws.set_row(KEY_ROW - 1, None, None, {"hidden": True})
        ws.write_string(KEY_ROW - 1, KEY_COLUMN - 1, "key")
        for fieldname, col in MEASURE_COLS.items():
            ws.write_string(KEY_ROW - 1, col, fieldname)
        self._title_rows(ws)
        self._legend(ws, 3, 2, [(4, 4, "input_plain", "入力欄（黄色のセルに入力してください）"),
                                (5, 6, "problem_plain", "要確認（入力チェック）"), (7, 7, "head", "見出し")])
        note = ("※具体的施策ごとに、支部の事業内容（取組やKPIの実施状況）を1行に1件ずつ記入し、評価をリストから選び、"
                f"評価の理由（特に△・×の理由）を備考に記入してください（1施策{ROWS_PER_MEASURE}行まで）。"
                "施策全体の課題は「課題」欄に記入します。")
        ws.merge_range(4, 1, 4, last_col, note, self.fmt("note"))
        self._height(ws, 4, _row_height(_lines(note, sum(MEASURE_WIDTHS) * SMALL_FONT_WIDTH), 12))
        self._measure_summary(ws, last_col)
        head = self.fmt("head")
        for col, text in ((1, "番号"), (2, "具体的施策"), (3, "No."), (4, "事業内容（取組・KPIの実施状況）"),
                          (5, "評価"), (6, "備考（評価の理由・計画を下回った理由など）"), (7, "確認（入力チェック）")):
            ws.write_string(MEASURE_HEAD_ROW, col, text, head)
        self._height(ws, MEASURE_HEAD_ROW, 20)
        row = MEASURE_FIRST_ROW
        pillar = section = None
        for measure in self.catalogue.measures_for(self.branch.code):
            first = row
            if measure.pillar != pillar:
                pillar, section = measure.pillar, None
                row = self._pillar_band(ws, row, last_col, pillar)
            if measure.section and measure.section != section:
                section = measure.section
                ws.write_string(row, 1, section, self.fmt("block"))
                for c in range(2, last_col + 1):
                    ws.write_blank(row, c, None, self.fmt("block"))
                self._height(ws, row, 15)
                row += 1
            elif not measure.section:
                section = None
            row = self._measure_block(ws, row, measure)
            self.blocks[SHEET_MEASURES].append((first, row - 1))
        self._measure_check_area(ws, max(row - 1, MEASURE_FIRST_ROW))
        ws.freeze_panes(MEASURE_FIRST_ROW, 0)
        self._page_setup(ws, last_col, (MEASURE_HEAD_ROW, MEASURE_HEAD_ROW), row - 1, MEASURE_WIDTHS)

    def _measure_summary(self, ws: Any, last_col: int) -> None:
        """The 入力チェック's count for the whole workbook (this sheet's part in a hidden cell)."""
        ws.merge_range(5, 1, 5, last_col, "", self.fmt("summary"))
        this = xl_rowcol_to_cell(*MEASURE_COUNT_CELL)
        kpi = f"'{SHEET_KPI}'!{xl_rowcol_to_cell(KPI_INFO_ROWS[0], KPI_CHECK_COL + 1, row_abs=True, col_abs=True)}"
        ws.write_formula(5, 1, _summary_formula(CHECK_COUNT_NAME, [("KPI入力", kpi), ("取組状況", this)]),
                         self.fmt("summary"), "")
        self._height(ws, 5, 20)
        self._traffic_light(ws, (5, 1), (5, last_col), CHECK_COUNT_NAME)

    def _measure_block(self, ws: Any, row: int, measure: Measure) -> int:
        first = row
        related = self.catalogue.kpis_of_measure(measure.id)
        label = measure.label
        if related:
            label += "\n関連KPI：" + "、".join(k.short_label for k in related)
        ws.merge_range(first, 1, first + ROWS_PER_MEASURE, 1, measure.number, self.fmt("label", "top", align="center"))
        ws.merge_range(first, 2, first + ROWS_PER_MEASURE, 2, label, self.fmt("label", "top"))
        text_fmt, rating_fmt = self.fmt("input", "text"), self.fmt("input", "rating")
        for n in range(1, ROWS_PER_MEASURE + 1):
            ws.write_number(row, 3, n, self.fmt("label", "center"))
            for fieldname, col in MEASURE_COLS.items():
                key = measure_key(measure.id, fieldname, n)
                self._input(SHEET_MEASURES, row, col, key, None, rating_fmt if fieldname == "rating" else text_fmt)
            cell = {f: xl_rowcol_to_cell(row, c) for f, c in MEASURE_COLS.items()}
            self._check(ws, row, MEASURE_COLS["rating"], "", sc.rating_reasons(cell["text"], cell["rating"]))
            self._check(ws, row, MEASURE_COLS["note"], "", sc.note_reasons(cell["rating"], cell["note"]))
            row += 1
        self._validate(SHEET_MEASURES, (first, MEASURE_COLS["text"]), (row - 1, MEASURE_COLS["text"]),
                       _text_validation(TEXT_LIMITS["text"]))
        self._validate(SHEET_MEASURES, (first, MEASURE_COLS["rating"]), (row - 1, MEASURE_COLS["rating"]),
                       _rating_validation())
        self._validate(SHEET_MEASURES, (first, MEASURE_COLS["note"]), (row - 1, MEASURE_COLS["note"]),
                       _text_validation(TEXT_LIMITS["note"]))
        ws.write_string(row, 3, "課題", self.fmt("label", "center", bold=True))
        # one cell, no merge: its row grows with the text (Excel and LibreOffice fit a wrapped row's height)
        self._input(SHEET_MEASURES, row, MEASURE_COLS["text"], measure_key(measure.id, "issue"), None,
                    self.fmt("input", "text"))
        for col in (MEASURE_COLS["rating"], MEASURE_COLS["note"], MEASURE_CHECK_COL):
            ws.write_blank(row, col, None, self.fmt("calc_plain", "border"))
        self._validate(SHEET_MEASURES, (row, MEASURE_COLS["text"]), (row, MEASURE_COLS["text"]),
                       _text_validation(TEXT_LIMITS["issue"]))
        return row + 1

    def _measure_check_area(self, ws: Any, last_row: int) -> None:
        self._row_summaries(ws, MEASURE_CHECK_COL)
        first = MEASURE_COLS["text"]
        first_helper = xl_rowcol_to_cell(MEASURE_FIRST_ROW, first + MEASURE_CHECK_OFFSET)
        ws.conditional_format(MEASURE_FIRST_ROW, first, last_row, MEASURE_COLS["note"],
                              {"type": "formula", "criteria": f"=LEN({first_helper})>0", "format": self.cond("problem")})
        helpers = xl_range_abs(MEASURE_FIRST_ROW, MEASURE_COLS["rating"] + MEASURE_CHECK_OFFSET, last_row,
                               MEASURE_COLS["note"] + MEASURE_CHECK_OFFSET)
        ws.write_formula(*MEASURE_COUNT_CELL, sc.count_formula([helpers]), None, "")

    # ------------------------------------------------------------ 入力の手引き
    def _guide_sheet(self) -> None:
        ws = self.sheets[SHEET_GUIDE]
        ws.set_column(0, 0, 2)
        ws.set_column(1, 1, 24)
        ws.set_column(2, 2, GUIDE_TEXT_WIDTH)
        ws.write_string(1, 1, f"{self.title}　入力の手引き", self.fmt("title"))
        self._height(ws, 1, 24)
        ws.write_string(2, 1, f"作成日：{_wareki_date(self.generated_at.date())}", self.fmt("small"))
        ws.write_string(3, 1, "入力チェック", self.fmt("head"))
        kpi = f"'{SHEET_KPI}'!{xl_rowcol_to_cell(KPI_INFO_ROWS[0], KPI_CHECK_COL + 1, row_abs=True, col_abs=True)}"
        measures = f"'{SHEET_MEASURES}'!{xl_rowcol_to_cell(*MEASURE_COUNT_CELL, row_abs=True, col_abs=True)}"
        ws.write_formula(3, 2, _summary_formula(CHECK_COUNT_NAME, [("KPI入力", kpi), ("取組状況", measures)]),
                         self.fmt("summary", "border"), "")
        self._height(ws, 3, 22)
        self._traffic_light(ws, (3, 2), (3, 2), CHECK_COUNT_NAME)
        row = 5
        breaks: list[int] = []
        for heading, items in self._guide_sections():
            if heading.startswith(("3", "4")):
                breaks.append(row)  # 入力のしかた with its 入力例, and さわらないでください with 提出, each start a page
            ws.merge_range(row, 1, row, 2, heading, self.fmt("head", align="left"))
            self._height(ws, row, 18)
            row += 1
            for label, text in items:
                ws.write_string(row, 1, label, self.fmt("label", "top", bold=True))
                ws.write_string(row, 2, text, self.fmt("label", "top"))
                self._height(ws, row, _row_height(_lines(text, GUIDE_TEXT_WIDTH * BODY_FONT_WIDTH)))
                row += 1
            if heading.startswith("3"):
                row = self._guide_example(ws, row + 1)
            row += 1
        self.manual_breaks[SHEET_GUIDE] = breaks
        self._page_setup(ws, 2, None, row, (24, GUIDE_TEXT_WIDTH))

    def _guide_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        fy = wareki_fiscal_year(self.fy)
        national = any(k.scope == "national" for k in self.kpis)
        who = ("本部が入力する全国のみの指標（例：ホームページアクセス数）を入力します。" if national else
               f"{self.branch.display_name}の{fy}のKPIと取組状況を入力します。")
        ratings = "　".join(f"{r}：{t}" for r, t in RATING_MEANINGS.items())
        return [
            ("1. このブックについて", [
                ("対象", f"{fy}（{self._plan_title()}）　{self.branch.display_name}（支部コード {self.branch.code}）"),
                ("目的", f"{who}本部はこのブックを集計して全国の状況をまとめます。"),
                ("シート", "「KPI入力」：KPIごとの年間目標・前年度実績と、4月〜3月の月別実績。\n"
                          "「取組状況」：具体的施策ごとの事業内容・評価・備考と、施策ごとの課題。"),
            ]),
            ("2. 入力するもの", [
                ("年間目標", "支部の事業計画の年間目標を入力します。全国共通の目標や、前年度実績から決まる目標（対前年度以上）は"
                            "本部で記入済み（青色）です。誤りがあるとき、または支部の事業計画で別の目標を定めたときは"
                            "上書きしてください（上書きした値で評価します）。各KPIの説明にある"
                            f"第{self.catalogue.term}期末目標は参考です（年間目標とは別です）。"
                            "目標が「対前年度以上」で前年度実績が記入済みでないKPIは、前年度実績だけを入力してください"
                            "（年間目標は空欄のままで、前年度実績を目標として評価します）。"),
                ("前年度実績", "前年度の年度末の実績です。本部で記入済みの場合は確認のみで結構です。"),
                ("月別実績", "毎月、前月末までの実績を入力します。何を入力するかは、各行の項目名の末尾に書いてあります。\n"
                            + "".join(f"・「{tag}」：{text}\n" for tag, text in MONTHLY_TAGS) +
                            "データが遅れて届くKPI（健診・ジェネリックなど）は、届いた月まで入力し、以降の月は空欄のままで"
                            "構いません（各KPIの説明に書いてあります）。"
                            "割合のKPIは分子と分母をそれぞれ入力すると、率が自動計算されます（灰色の行）。"),
                ("取組状況", f"具体的施策ごとに、事業内容を1行に1件（最大{ROWS_PER_MEASURE}件）記入し、評価を選び、"
                            "評価の理由（特に△・×の理由）を備考に記入します。施策全体の課題は「課題」欄へ。"),
                ("評価", f"リストから選択します。{ratings}"),
                ("記入者・連絡先", "「KPI入力」シートの上部に、入力した方の所属・氏名と連絡先（内線・メール）を入力してください。"
                                 "内容の確認のため本部から連絡することがあります。"),
            ]),
            ("3. 入力のしかた", [
                ("割合（％）", "「96.5%」のように、必ず％を付けて入力します。セルは％表示になっています。"
                             "％を付けずに「96.5」とだけ入力すると9650％に、「0.310」とだけ入力すると31.0％になることが"
                             "あります。査定率のように小数第3位まである割合は「0.310%」のように入力します。"
                             "KPIごとに通常ありえる範囲を外れると、確認のメッセージが出て、セルが赤くなります。"),
                ("人数・件数・金額", "数字だけを入力します（「1170」または「1,170」）。「人」「件」「事業所」「円」などの単位や、"
                                 "「約」「見込み」などの文字は付けません。全角数字でも入力できますが、半角を推奨します。"),
                ("文章", "事業内容・備考・課題・実施内容は文章で記入します。セル内で改行するときは Alt＋Enter を押します。"),
                ("分からない値", "空欄のままにしてください。「－」や「不明」などは入力しないでください。"),
                ("入力チェック", "入力した値はブックが自動で確認します（分子が分母を超えている、累計が前の月より小さい、"
                               "通常ありえる範囲の外、途中の月が空欄、評価があるのに事業内容が空欄、△・×なのに備考が空欄 など）。"
                               "問題のあるセルは赤くなり、同じ行の右端の「確認」欄に理由が出ます。このシートの上と各シートの上に"
                               f"件数が出ます。{CHECK_SEND_JA}。{CHECK_RIGHT_JA}"
                               "本部の集計でも同じ確認を行い、指摘を「確認事項」としてお返しします。"),
            ]),
            ("4. さわらないでください", [
                ("灰色のセル", "自動計算や対象外の欄です。入力は不要です（保護されていて入力できません）。"),
                ("行・列・シート", "行や列の挿入・削除、セルの結合、シート名の変更、シートの追加・削除はしないでください。"
                                "本部の集計はセルの位置と名前で値を読み取ります。"),
                ("貼り付け", "他のファイルから貼り付けるときは「値の貼り付け」を使ってください（書式や入力規則が壊れるため）。"),
                ("非表示のシート", "管理用の非表示シートがあります。表示したり変更したりしないでください。"),
                ("ファイル", "ファイル名を変えずに、Excelブック（*.xlsx）形式のまま保存してください。"
                            "パスワードの設定やマクロ付きブック（*.xlsm）での保存はしないでください。"),
            ]),
            ("5. 提出", self._submission_items()),
        ]

    def _plan_title(self) -> str:
        """「第6期保険者機能強化アクションプラン」: the catalogue's title, with its term only once."""
        term = f"第{self.catalogue.term}期"
        return self.catalogue.title if self.catalogue.title.startswith(term) else f"{term} {self.catalogue.title}"

    def _submission_items(self) -> list[tuple[str, str]]:
        hq = self.settings
        deadline = self.deadline_text()
        if self.branch.code == HQ_CODE:  # 本部 fills its own workbook: nothing to send to itself
            return [("提出期限", deadline),
                    ("保存先", f"入力したブックは、月次集計の受信フォルダに保存してください（{hq.department}）。")]
        return [("提出期限", deadline),
                ("返送先", f"{hq.contact_ja()}　（{CHECK_SEND_JA}。メールに添付して返送してください。）"),
                ("お問い合わせ", f"入力方法が分からないときや、記入済みの値に誤りがあるときは、{hq.department}の"
                                f"{hq.contact_person}（電話：{hq.phone}、メール：{hq.mail}）までご連絡ください。")]

    def deadline_text(self) -> str:
        """「翌月10日（土日の場合は前の金曜日）まで。例：4月分は令和6年5月10日（金）まで」: the rule and its first month."""
        first = fiscal_months(self.fy)[0]
        return (f"各月の実績を{self.settings.deadline_ja()}までに提出してください。"
                f"例：{month_label(first)}分は{self.settings.deadline_ja(first)}まで")

    def _guide_example(self, ws: Any, row: int) -> int:
        ws.merge_range(row, 1, row, 2, "入力例（10月分を入力する場合：生活習慣病予防健診実施率と健康宣言事業所数）", self.fmt("block"))
        row += 1
        example = (("年間目標（％）", "「61.0%」と入力（％を付ける）", "input_plain"),
                   ("受診者数（人）", "10月の欄に、4月〜10月の累計「158432」または「158,432」と入力（「人」は付けない）",
                    "input_plain"),
                   ("対象者数（人）", "10月の欄に、年度の対象者数「259725」と入力（4月から足し上げない。各月とも同じ値で可）",
                    "input_plain"),
                   ("実施率（％）", "自動計算で「61.0%」と表示されます（入力不要）", "calc_plain"),
                   ("健康宣言事業所数", "（月末時点の数のKPI）10月の欄に、10月末時点の事業所数「1170」と入力（4月から足し上げない）",
                    "input_plain"),
                   ("評価（取組状況）", "リストから「○」を選択し、備考に理由を記入", "input_plain"),
                   ("入力チェック", "分子に分母より大きい数を入れると、そのセルが赤くなり、右端の「確認」欄に"
                                  "「10月：分子が分母を超えています。」と出ます（直すと消えます）", "problem_plain"))
        for label, text, style in example:
            ws.write_string(row, 1, label, self.fmt(style, "border", locked=True))
            ws.write_string(row, 2, text, self.fmt("label"))
            row += 1
        return row

    # ------------------------------------------------------------ _lists, _meta
    def _lists_sheet(self) -> None:
        ws = self.sheets[SHEET_LISTS]
        for i, r in enumerate(RATINGS):
            ws.write_string(i, 0, r)
            ws.write_string(i, 1, RATING_MEANINGS[r])
        self.wb.define_name(RATING_NAME, f"='{SHEET_LISTS}'!$A$1:$A${len(RATINGS)}")
        ws.protect(self.password or "")
        ws.hide()

    def _meta_sheet(self) -> None:
        ws = self.sheets[SHEET_META]
        for i, (key, value) in enumerate(self.meta().items()):
            ws.write_string(i, 0, key)
            ws.write_string(i, 1, value)
        ws.set_column(0, 1, 30)
        ws.protect(self.password or "")
        ws.very_hidden()

    def meta(self) -> dict[str, str]:
        return {"format": TEMPLATE_FORMAT, "template_version": str(TEMPLATE_VERSION),
                "kpisheet_version": __version__, "term": str(self.catalogue.term),
                "catalogue_file": self.catalogue.source_file, "catalogue_digest": self.catalogue.digest,
                "fiscal_year": str(self.fy), "branch_code": self.branch.code,
                "branch_name": self.branch.display_name, "generated_at": self.generated_at.isoformat(),
                "rows_per_measure": str(ROWS_PER_MEASURE),
                "prefilled_targets": json.dumps(self.prefilled_targets(), ensure_ascii=True, separators=(",", ":"))}

    def prefilled_targets(self) -> dict[str, float | int]:
        """{KPI id: target HQ wrote into its target cell}, display units (the reader's Submission.prefilled_targets)."""
        out: dict[str, float | int] = {}
        for kpi in self.kpis:
            if kpi.kind == "qualitative":
                continue
            target, _ = self._prefill(kpi)
            if target.prefilled and target.value is not None:
                out[kpi.id] = int(target.value) if float(target.value).is_integer() else target.value
        return out


def xl_range_abs(first_row: int, first_col: int, last_row: int, last_col: int) -> str:
    return (f"{xl_rowcol_to_cell(first_row, first_col, row_abs=True, col_abs=True)}:"
            f"{xl_rowcol_to_cell(last_row, last_col, row_abs=True, col_abs=True)}")


def _summary_formula(total: str, parts: list[tuple[str, str]]) -> str:
    """What the top of a sheet says about the 入力チェック, with the count of each input sheet."""
    detail = "&\"・\"&".join(f'"{sheet} "&{cell}&"件"' for sheet, cell in parts)
    return (f'=IF({total}=0,"入力チェック：問題は見つかりません（0件）。このまま送付できます。",'
            f'"入力チェック：要確認 "&{total}&" 件（"&{detail}&"）。赤いセルを直してください。{CHECK_SEND_JA}。")')


def _info_validation(field: str) -> dict[str, Any]:
    what = "入力した方の所属・氏名（例：企画総務グループ 山田）" if field == "preparer" else "連絡先の内線・電話・メールアドレス"
    return {"validate": "length", "criteria": "<=", "value": 100, "input_title": f"{INFO_LABELS[field]}を入力",
            "input_message": f"{what}を入力してください。", "error_title": "文字数が多すぎます",
            "error_message": "100文字以内で入力してください。"}


def _page_rows_height(widths: Iterable[float]) -> float:
    """How many points of rows one printed page holds when the columns are fitted to the page width."""
    printed = sum(w * POINTS_PER_WIDTH_UNIT + POINTS_PER_COLUMN for w in widths)
    scale = min(1.0, PAGE_WIDTH / printed)
    return PAGE_HEIGHT / scale * PAGE_FILL


def _page_breaks(blocks: list[tuple[int, int]], height: Callable[[int], float], repeat: tuple[int, int] | None,
                 page: float) -> list[int]:
    """Rows to break the page before, so that no block (first row, last row) is split between pages.

    The first page also holds everything above the first block; every page holds the repeated headings."""
    if not blocks:
        return []
    heading = sum(height(r) for r in range(repeat[0], repeat[1] + 1)) if repeat else 0.0
    used = sum(height(r) for r in range(1, blocks[0][0])) - heading
    breaks: list[int] = []
    for first, last in blocks:
        size = sum(height(r) for r in range(first, last + 1))
        if used + size > page - heading and used > 0:
            breaks.append(first)
            used = 0.0
        used += size
    return breaks


def _text_validation(limit: int) -> dict[str, Any]:
    return {"validate": "length", "criteria": "<=", "value": limit,
            "input_title": "文章で記入",
            "input_message": f"{limit}文字以内で記入してください。セル内の改行は Alt＋Enter です。",
            "error_title": "文字数が多すぎます",
            "error_message": f"{limit}文字以内にまとめてください。"}


def _rating_validation() -> dict[str, Any]:
    return {"validate": "list", "source": f"={RATING_NAME}",
            "input_title": "評価を選択",
            "input_message": "リストから選択：" + "／".join(f"{r} {t}" for r, t in RATING_MEANINGS.items()),
            "error_title": "リストから選んでください",
            "error_message": "評価は ◎ ○ △ × — のいずれかをリストから選んでください。"}


_STYLE_PARTS: dict[str, dict[str, Any]] = {
    "title": {"bold": True, "font_size": 14},
    "small": {"font_size": 9},
    "note": {"font_size": 9, "text_wrap": True, "valign": "top", "font_color": "#404040"},
    "hint": {"font_size": 9, "font_color": "#1F4E79"},
    "info": {"font_size": 9, "text_wrap": True, "valign": "top", "bg_color": "#F2F2F2", "font_color": "#262626"},
    "head": {"bold": True, "font_color": "#FFFFFF", "bg_color": HEAD_FILL, "border": 1, "border_color": "#808080",
             "align": "center", "valign": "vcenter", "text_wrap": True},
    "pillar": {"bold": True, "font_color": "#FFFFFF", "bg_color": "#2F5597", "valign": "vcenter"},
    "block": {"bold": True, "bg_color": BLOCK_FILL, "valign": "vcenter", "top": 1, "top_color": "#808080"},
    "label": {"text_wrap": True, "valign": "vcenter", "border": 1, "border_color": "#A6A6A6"},
    "center": {"align": "center"},
    "top": {"valign": "top"},
    "border": {"border": 1, "border_color": "#A6A6A6"},
    "number": {"align": "right", "shrink": True},
    "input": {"locked": False, "bg_color": INPUT_FILL, "border": 1, "border_color": "#A6A6A6", "valign": "vcenter"},
    "prefill": {"locked": False, "bg_color": PREFILL_FILL, "border": 1, "border_color": "#A6A6A6",
                "valign": "vcenter"},
    "input_plain": {"bg_color": INPUT_FILL},
    "prefill_plain": {"bg_color": PREFILL_FILL},
    "calc_plain": {"bg_color": CALC_FILL},
    "calc": {"bg_color": CALC_FILL, "border": 1, "border_color": "#A6A6A6", "align": "right", "shrink": True},
    "text": {"text_wrap": True, "valign": "top"},
    "rating": {"align": "center", "font_size": 12},
    "problem_plain": {"bg_color": PROBLEM_FILL, "font_color": PROBLEM_FONT},
    "problem_cond": {"bg_color": PROBLEM_FILL, "font_color": PROBLEM_FONT},
    "ok_cond": {"bg_color": OK_FILL, "font_color": "#006100"},
    "check": {"font_size": 9, "font_color": PROBLEM_FONT, "shrink": True, "valign": "vcenter", "border": 1,
              "border_color": "#A6A6A6"},
    "count": {"bold": True, "font_size": 14, "align": "center", "valign": "vcenter", "num_format": '0"件"',
              "border": 1, "border_color": "#808080"},
    "summary": {"bold": True, "valign": "vcenter", "text_wrap": True, "border": 1, "border_color": "#808080"},
}


def _lint(book: _Book) -> None:
    """Excel's limits that XlsxWriter does not fully enforce (docs/excel-behaviour.md, "Names, sheets and limits")."""
    problems: list[str] = []
    for name in book.names:
        if "_" not in name:
            problems.append(f"defined name {name} has no '_' (could read as a cell reference)")
    if len({n.lower() for n in book.names} | {RATING_NAME.lower(), CHECK_COUNT_NAME.lower()}) != len(book.names) + 2:
        problems.append("defined names are not unique (ignoring case)")
    for v in book.validations:
        for key, limit in (("input_title", LINT_TITLE_MAX), ("error_title", LINT_TITLE_MAX),
                           ("input_message", LINT_MESSAGE_MAX), ("error_message", LINT_MESSAGE_MAX)):
            if len(v.get(key, "")) > limit:
                problems.append(f"validation {key} longer than {limit}: {v[key]!r}")
    for sheet in book.sheets:
        if len(sheet.encode("utf-16-le")) // 2 > LINT_SHEET_NAME_MAX:
            problems.append(f"sheet name {sheet} longer than {LINT_SHEET_NAME_MAX}")
    if problems:
        raise TemplateLintError("; ".join(problems))
