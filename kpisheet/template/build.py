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

This module holds the entry points (generate, build_template) and the lint.  Each sheet
is written by its own module (guide, kpi_sheet, measure_sheet, and meta for _lists, _meta
and the document properties) through the shared context in book.py (formats, names,
validations, page set-up); layout.py holds positions, widths and colours, protection.py
the structure lock.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Mapping

from kpisheet.domain.catalogue import HQ_CODE, Branch, Catalogue, Kpi, catalogue_for_fy, prefecture_branches
from kpisheet.domain.catalogue import branch as branch_by_code
from kpisheet.domain.findings import Finding, KpisheetError, finding, has_errors
from kpisheet.domain.fiscal import wareki_fiscal_year
from kpisheet.domain.plan import PlanSubmission
from kpisheet.domain.settings import HqSettings, SettingsError, load_settings
from kpisheet.fileio import OutputExistsError, atomic_path
from kpisheet.read.names import (
    CHECK_COUNT_NAME,
    RATING_NAME,
    ROWS_PER_MEASURE,
    SHEET_GUIDE,
    InputKey,
    info_key,
    kpi_key,
    measure_key,
)
from kpisheet.read.value_tables import UNKNOWN_BRANCH, ValueTable, read_value_table
from kpisheet.runtime import ForkedCall, fork_cpus
from kpisheet.template.book import Book, TemplateLintError, _Values
from kpisheet.template.guide import write_guide_sheet
from kpisheet.template.kpi_sheet import write_kpi_sheet
from kpisheet.template.layout import FONT
from kpisheet.template.measure_sheet import write_measure_sheet
from kpisheet.template.meta import write_lists_sheet, write_meta_sheet, write_properties
from kpisheet.template.protection import is_locked, lock_structure, locked_workbook

CODES = frozenset({"G109", "P601", "P620"})  # and G103 (kpisheet.read.value_tables) for --branch

LINT_TITLE_MAX, LINT_MESSAGE_MAX, LINT_SHEET_NAME_MAX = 32, 255, 31


@dataclass(frozen=True)
class GenerateResult:
    paths: list[Path]
    findings: list[Finding] = field(default_factory=list)


# ================================================================ public API
def workbook_filename(branch: Branch, fiscal_year: int) -> str:
    """'10_群馬支部_FY2024_KPI入力.xlsx', '00_本部_FY2024_KPI入力.xlsx'."""
    return f"{branch.code}_{branch.display_name}_FY{fiscal_year}_KPI入力.xlsx"


def workbook_branches(catalogue: Catalogue, fiscal_year: int) -> list[Branch]:
    """The 47 branches, plus 本部 (00) first when the FY has national-only KPIs."""
    hq = [branch_by_code(HQ_CODE)] if catalogue.kpis_for(fiscal_year, HQ_CODE) else []
    return hq + prefecture_branches()


def expected_keys(catalogue: Catalogue, fiscal_year: int, branch_code: str,
                  rows_per_measure: int = ROWS_PER_MEASURE) -> list[InputKey]:
    """Every input a workbook for this branch and FY has, in sheet order (`rows_per_measure`: as its
    _meta says; a workbook generated with --plan may have more)."""
    keys: list[InputKey] = [info_key("preparer"), info_key("contact")]
    for kpi in catalogue.kpis_for(fiscal_year, branch_code):
        keys += _kpi_keys(kpi, fiscal_year)
    for measure in catalogue.measures_for(branch_code):
        keys += [measure_key(measure.id, f, n) for n in range(1, rows_per_measure + 1) for f in ("text", "rating", "note")]
        keys.append(measure_key(measure.id, "issue"))
    return keys


def build_template(catalogue: Catalogue, fiscal_year: int, branch: Branch | str, *,
                   baselines: ValueTable | Mapping[tuple[str, str], float] | None = None,
                   targets: ValueTable | Mapping[tuple[str, str], float] | None = None,
                   password: str | None = None, generated_at: datetime | None = None,
                   settings: HqSettings | None = None, plan: PlanSubmission | None = None) -> bytes:
    """The workbook for one branch and FY, as the bytes of an .xlsx file.

    `settings` give the deadline and HQ's contact the workbook shows (default: the
    settings file, see template_settings); SettingsError while they hold placeholders.
    `plan`, the branch's approved 事業計画, prefills the year's targets (its `value` targets) and the
    取組状況 rows (its headings and items); without it the workbook is as it always was.
    """
    settings = template_settings(settings)
    if isinstance(branch, str):
        branch = branch_by_code(branch)
    generated_at = generated_at or _now()
    buf = io.BytesIO()
    wb = locked_workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                               "strings_to_numbers": False,
                               "default_format_properties": {"font_name": FONT, "font_size": 10}}, password)
    book = Book(wb, catalogue, fiscal_year, branch, _Values(baselines), _Values(targets), password,
                generated_at, settings, plan)
    _write(book)
    _lint(book)
    wb.close()
    data = buf.getvalue()
    return data if is_locked(data) else lock_structure(data, password)


def generate(fiscal_year: int, branch_codes: Iterable[str] | None, outdir: Path, *,
             baseline_path: Path | None = None, targets_path: Path | None = None,
             password: str | None = None, generated_at: datetime | None = None,
             progress: Callable[[Path], None] | None = None, force: bool = False,
             settings: HqSettings | None = None,
             plans: Mapping[str, PlanSubmission] | None = None) -> GenerateResult:
    """Write the workbooks of `fiscal_year` into `outdir`; one atomic file per branch.

    HQ's `settings` (default: the settings file, see template_settings) must be
    filled in: while they hold 【要記入】 placeholders, SettingsError (D005 naming
    the file and the fields) is raised and nothing is written.
    Malformed inputs (unknown branch code, bad rows in --baseline/--targets)
    raise KpisheetError with every finding, before anything is written.
    Without `force`, workbooks that already exist in `outdir` (perhaps filled in
    and returned by a branch) raise OutputExistsError naming all of them, before
    anything is written.  Warnings (G107) come back in the result.
    `plans` (generate --plan: the approved 事業計画 by branch code, approved_plans_from_ledger) prefill
    each branch's workbook from its plan; a branch without one gets P601 and today's workbook.
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
    of_branch: dict[str, PlanSubmission] = {}
    if plans is not None:
        for b, final in zip(branches, finals, strict=True):
            plan = plans.get(b.code)
            if plan is not None and plan.fiscal_year in (None, fiscal_year) and plan.branch_code in (None, b.code):
                of_branch[b.code] = plan
                findings += _unplaced_measures(catalogue, plan, b, final)
            else:
                findings.append(finding("P601", file=final, branch=b.code, branch_name=b.display_name,
                                        fiscal_year=fiscal_year, fiscal_year_ja=wareki_fiscal_year(fiscal_year)))
    base_build = partial(build_template, catalogue, fiscal_year, baselines=baselines, targets=targets,
                         password=password, generated_at=generated_at, settings=settings)

    def build(b: Branch) -> bytes:
        return base_build(b, plan=of_branch.get(b.code))

    # With two CPUs a forked child builds the second half while this process builds and writes the
    # first; the child's workbooks come back as bytes and are written here, in order, after them.
    # A workbook the child could not build is built again here, so its error is raised from here
    # with the files before it written, as one process would.
    half = len(branches) // 2 if len(branches) >= 4 and fork_cpus() >= 2 else len(branches)
    job = ForkedCall(_build_each, build, branches[half:]) if half < len(branches) else None
    try:
        for b, final in zip(branches[:half], finals[:half], strict=True):
            _write_workbook(final, build(b), force, progress)
        built: list[bytes] = []
        if job is not None:
            try:
                built = job.result()
            except Exception:  # noqa: BLE001 - the child died: its share is built here
                built = []
        for k, (b, final) in enumerate(zip(branches[half:], finals[half:], strict=True)):
            _write_workbook(final, built[k] if k < len(built) else build(b), force, progress)
    finally:
        if job is not None:
            job.stop()
    return GenerateResult(finals, findings)


def _unplaced_measures(catalogue: Catalogue, plan: PlanSubmission, branch: Branch, final: Path) -> list[Finding]:
    """P620: a measure of the branch's own in its plan ('B-…') that names no action-plan measure of the
    branch's workbook to be written under (covered_by): the monthly workbook has no rows for its items."""
    mine = {m.id for m in catalogue.measures_for(branch.code)}
    out = []
    for mid, m in plan.measures.items():
        if mid.startswith("B-") and m.covered_by not in mine:
            heading = " ".join(str(v.value).strip() for v in (m.numbering, m.heading) if v.value) or mid
            out.append(finding("P620", file=final, branch=branch.code, subject=mid, value=heading,
                               branch_name=branch.display_name))
    return out


def _build_each(build: Callable[[Branch], bytes], branches: list[Branch]) -> list[bytes]:
    """The workbooks of `branches` in order, up to the first that cannot be built (built again by the caller)."""
    out = []
    for b in branches:
        try:
            out.append(build(b))
        except Exception:  # noqa: BLE001 - raised again where it is built once more
            break
    return out


def _write_workbook(final: Path, data: bytes, force: bool, progress: Callable[[Path], None] | None) -> None:
    with atomic_path(final, force=force) as tmp:
        tmp.write_bytes(data)
    if progress:
        progress(final)


def template_settings(settings: HqSettings | None = None) -> HqSettings:
    """The settings a workbook shows: `settings`, else load_settings() (--settings, $KPISHEET_HQ_SETTINGS or
    templates/hq_settings.json); SettingsError (D005) while they hold placeholders, D001/D002/D006 if unusable."""
    if settings is None:
        settings = load_settings()
    unfilled = settings.placeholder_finding()
    if unfilled is not None:
        raise SettingsError([unfilled])
    return settings


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
            findings.append(finding(UNKNOWN_BRANCH, value=raw))
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


# ================================================================ the workbook, sheet by sheet
def _write(book: Book) -> None:
    book.sheets[SHEET_GUIDE].activate()
    write_kpi_sheet(book)
    write_measure_sheet(book)
    write_guide_sheet(book)
    write_lists_sheet(book)
    write_meta_sheet(book)
    book.write_validations()
    write_properties(book)


def _lint(book: Book) -> None:
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
