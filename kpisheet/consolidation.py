"""Stage 6 — consolidation: validated submissions → national figures, marks and ranks.

`consolidate(inbox, ...)` reads and validates every file of the inbox through
kpisheet.validation, then `build_consolidation` (pure) turns the submissions
and findings into a Consolidation: per branch status, per branch × KPI × month
values and marks, national values (Σ numerators ÷ Σ denominators, Σ counts;
never a mean of rates) with the branches each figure covers, self-ratings of
measures, the term-5 → term-6 table, and the findings of the run (validation
findings plus the rating consistency checks W501/W502).

A value is left out when an error finding points at its cell (or defined
name), when an error concerns its whole KPI, or when its file could not be
used at all (unreadable, wrong FY, wrong template...).  Everything else a
branch sent still counts.

A branch's status comes from the findings on its own files only: 提出済,
エラーあり, 提出あり・読込不可 (files came, none could be read: the stubs
validation makes for them, attributed by file name) or 未提出.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from . import __version__
from .catalogue import HQ_CODE, Catalogue, Kpi, Target, catalogue_for_fy, load_branches, load_mapping
from .findings import Finding, cell_order, excludes_whole_file, finding, makes_unreadable
from .fiscal import fiscal_months, month_key, wareki_fiscal_year
from .model import InputValue, KpiEntry, Submission
from .ratings import MARKS, MISSED, NO_RESULT, Rating, no_result, rate_kpi, resolve_target
from .reader import is_readable

if TYPE_CHECKING:  # pragma: no cover
    import pandas

NATIONAL_CODE = "ALL"  # branch_code of national rows in kpi_values_frame / CSV
STATUS_OK, STATUS_ERRORS, STATUS_MISSING = "提出済", "エラーあり", "未提出"
STATUS_UNREADABLE = "提出あり・読込不可"  # files came, none could be read: never 未提出
STATUSES = (STATUS_OK, STATUS_ERRORS, STATUS_UNREADABLE, STATUS_MISSING)


# ---------------------------------------------------------------- result records
@dataclass(frozen=True)
class MonthValue:
    """One branch's (or the nation's) year-to-date figure of one KPI in one month."""

    branch_code: str
    kpi_id: str
    month: str  # '2024-10'
    numerator: float | None
    denominator: float | None
    value: float | None  # rate (percent points / yen) or count
    status: str  # ok | missing | excluded | zero_denominator
    annual_target: float | None
    rating: Rating


@dataclass
class BranchKpi:
    """A branch's KPI at the reporting month: what the marks sheets show."""

    branch_code: str
    kpi_id: str
    judged_month: str | None  # reporting month, or the KPI's last month if it ended earlier
    branch_target: float | None
    baseline: float | None
    baseline_source: str  # 'ブック' | '前年度値ファイル' | ''
    annual_target: float | None
    target_basis: str
    numerator: float | None
    denominator: float | None
    value: float | None
    status: str
    rating: Rating
    text: str | None = None  # qualitative KPI result text
    rank: int | None = None


@dataclass
class NationalKpi:
    kpi_id: str
    judged_month: str | None
    numerator: float | None
    denominator: float | None
    value: float | None
    baseline: float | None
    annual_target: float | None
    target_basis: str
    rating: Rating
    covered: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]  # (branch code, reason)


@dataclass(frozen=True)
class MeasureRating:
    branch_code: str
    measure_id: str
    n: int
    text: str
    rating: str
    note: str


@dataclass(frozen=True)
class BranchStatus:
    code: str
    name: str  # 埼玉支部
    status: str
    files: tuple[str, ...]
    sha256: tuple[str, ...]
    saved_at: str | None
    saved_by: str | None
    errors: int
    warnings: int
    completeness: float | None  # share of the month's expected cells filled
    left_out: tuple[str, ...]  # what was left out and why (Japanese)


@dataclass(frozen=True)
class TermKpiRow:
    from_id: str | None
    from_label: str
    to_id: str | None
    to_label: str
    relation: str
    baseline_valid: bool
    note: str


@dataclass(frozen=True)
class TermMeasureRow:
    from_id: str | None
    from_label: str
    to_ids: tuple[str, ...]
    to_labels: str
    relation: str
    note: str


@dataclass
class Consolidation:
    fiscal_year: int
    month: date
    catalogue: Catalogue
    submissions: list[Submission]
    statuses: list[BranchStatus]
    findings: list[Finding]
    month_values: dict[tuple[str, str, str], MonthValue]  # (branch, kpi, month)
    branch_kpis: dict[tuple[str, str], BranchKpi]  # (branch, kpi)
    national: dict[str, NationalKpi]
    national_months: dict[tuple[str, str], MonthValue]  # (kpi, month)
    measure_ratings: list[MeasureRating]
    issues: list[tuple[str, str, str]]  # (branch, measure id, 課題 text)
    term_kpis: list[TermKpiRow]
    term_measures: list[TermMeasureRow]
    baselines: dict[tuple[str, str], float] = field(default_factory=dict)
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (file, sha256) of every input
    unattributed: list[tuple[str, int]] = field(default_factory=list)  # files no branch could be found for

    @property
    def month_key(self) -> str:
        return month_key(self.month)

    @property
    def months(self) -> list[date]:
        return [m for m in fiscal_months(self.fiscal_year) if m <= self.month]

    @property
    def kpis(self) -> list[Kpi]:
        return [k for k in self.catalogue.kpis if k.applies_to(self.fiscal_year)]

    @property
    def branch_codes(self) -> list[str]:
        return [s.code for s in self.statuses]

    def summary(self, outputs: Iterable[Path] = ()) -> dict[str, Any]:
        """The run summary (what `kpisheet consolidate --json` prints)."""
        counts = {status: 0 for status in STATUSES}
        for s in self.statuses:
            counts[s.status] += 1

        def codes(status: str) -> list[str]:
            return [s.code for s in self.statuses if s.status == status]

        def names(status: str) -> list[str]:
            return [f"{s.code} {s.name}" for s in self.statuses if s.status == status]

        return {
            "fiscal_year": self.fiscal_year, "fiscal_year_ja": wareki_fiscal_year(self.fiscal_year),
            "month": self.month_key, "kpisheet_version": __version__,
            "branches": {"submitted": counts[STATUS_OK], "with_errors": counts[STATUS_ERRORS],
                         "unreadable": counts[STATUS_UNREADABLE], "missing": counts[STATUS_MISSING],
                         "missing_codes": codes(STATUS_MISSING), "unreadable_codes": codes(STATUS_UNREADABLE),
                         "missing_names": names(STATUS_MISSING), "unreadable_names": names(STATUS_UNREADABLE)},
            "findings": {"errors": sum(1 for f in self.findings if f.is_error),
                         "warnings": sum(1 for f in self.findings if not f.is_error)},
            "national": [{"kpi_id": n.kpi_id, "value": n.value, "target": n.rating.effective_target,
                          "mark": n.rating.mark, "covered": len(n.covered)}
                         for n in self.national.values()],
            "inputs": [{"file": f, "sha256": h} for f, h in self.inputs],
            "outputs": [str(p) for p in outputs],
        }


# ---------------------------------------------------------------- reading the inbox
def consolidate(inbox: Path, *, fiscal_year: int, month: str | date,
                baseline_path: Path | None = None) -> Consolidation:
    """Read, validate and consolidate every workbook of `inbox` for the reporting month."""
    from .validation import validate

    as_of = _as_date(month)
    result = validate([Path(inbox)], fiscal_year=fiscal_year, as_of=as_of)
    files = [Path(f) for f in result.files]
    baselines, base_findings = read_baselines(baseline_path, fiscal_year)
    return build_consolidation(result.every_submission, [*result.findings, *base_findings],
                               fiscal_year=fiscal_year, month=as_of, baselines=baselines,
                               input_files=files)


def read_baselines(path: Path | None, fiscal_year: int) -> tuple[dict[tuple[str, str], float], list[Finding]]:
    """The --baseline file as {(branch code, KPI id): value} (term-6 ids where the mapping allows)."""
    if path is None:
        return {}, []
    from .inputs import read_value_table

    table = read_value_table(Path(path), fiscal_year, kind="baseline")
    values = getattr(table, "values", table)
    findings = list(getattr(table, "findings", []))
    out: dict[tuple[str, str], float] = {}
    for key, value in dict(values).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[(str(key[0]), str(key[1]))] = float(value)
    return out, findings


def _as_date(month: str | date) -> date:
    if isinstance(month, date):
        return month.replace(day=1)
    from .fiscal import parse_month

    return parse_month(month)


# ---------------------------------------------------------------- exclusion by findings
@dataclass
class _Exclusions:
    """What the error findings of one file rule out."""

    whole_file: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    cells: set[tuple[str, str]] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)

    def hits(self, iv: InputValue) -> bool:
        src = iv.source
        if src is None:
            return False
        return (src.name is not None and src.name in self.names) or (src.sheet, src.cell) in self.cells


def _exclusions(findings: Iterable[Finding]) -> _Exclusions:
    ex = _Exclusions()
    for f in findings:
        if not f.is_error:
            continue
        if excludes_whole_file(f):
            ex.whole_file.append(f.code)
        elif f.name or f.cell:
            if f.name:
                ex.names.add(f.name)
            if f.sheet and f.cell:
                ex.cells.add((f.sheet, f.cell))
        else:
            ex.subjects.add(f.subject or "")
    return ex


def _number(iv: InputValue) -> float | None:
    v = iv.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _text(iv: InputValue) -> str:
    v = iv.value
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------- building
def build_consolidation(submissions: list[Submission], findings: list[Finding], *, fiscal_year: int,
                        month: date, baselines: dict[tuple[str, str], float] | None = None,
                        input_files: Iterable[Path] = ()) -> Consolidation:
    """Pure: consolidate already-read submissions and their findings.

    `submissions` may include stubs of files that could not be read (see
    validation.ValidationResult.unreadable): their values are never used, but they
    tell which branch sent something (status 提出あり・読込不可).  An exception while
    consolidating one branch's submission becomes E110 on its file: that branch's
    values are left out, the others go on.
    """
    cat = catalogue_for_fy(fiscal_year)
    baselines = dict(baselines or {})
    findings = list(findings)
    usable, exclusions = _usable_submissions(submissions, findings)
    cons = Consolidation(fiscal_year=fiscal_year, month=month, catalogue=cat, submissions=submissions,
                         statuses=[], findings=[], month_values={}, branch_kpis={}, national={},
                         national_months={}, measure_ratings=[], issues=[], term_kpis=[], term_measures=[],
                         baselines=baselines)
    # each KPI's reported months up to the reporting month, (date, '2024-10'), worked out once
    months = {k.id: [(m, month_key(m)) for m in k.months(fiscal_year) if m <= month] for k in cat.kpis}
    for code, sub in list(usable.items()):
        found = _branch_guarded(cons, sub, exclusions[id(sub)], months)
        findings.extend(found)
        if any(f.is_error for f in found):
            del usable[code]
    _rank(cons)
    _national(cons, usable)
    cons.findings = _sorted_findings(findings)
    cons.statuses = _statuses(cons, submissions, usable)
    cons.term_kpis, cons.term_measures = _term_rows()
    cons.inputs = _inputs(submissions, input_files)
    cons.unattributed = _unattributed(submissions, findings)
    return cons


def _branch_guarded(cons: Consolidation, sub: Submission, ex: _Exclusions,
                    months: dict[str, list[tuple[date, str]]]) -> list[Finding]:
    """One branch's values, measures and consistency findings; E110 and nothing of it if that raises."""
    code = sub.branch_code or ""
    n_ratings, n_issues = len(cons.measure_ratings), len(cons.issues)
    try:
        _branch_values(cons, sub, ex, months)
        _measures(cons, sub, ex)
        return _consistency(cons, {code: sub})
    except Exception as exc:  # a submission no rule foresaw: this branch only
        from .validation import error_finding

        for key in [k for k in cons.month_values if k[0] == code]:
            del cons.month_values[key]
        for key in [k for k in cons.branch_kpis if k[0] == code]:
            del cons.branch_kpis[key]
        del cons.measure_ratings[n_ratings:], cons.issues[n_issues:]
        return [replace(error_finding(sub.path, exc), branch=code)]


def _usable_submissions(submissions: list[Submission], findings: list[Finding]
                        ) -> tuple[dict[str, Submission], dict[int, _Exclusions]]:
    """Submissions whose values can be used, one per branch code, with what their errors exclude."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file or "", []).append(f)
    usable: dict[str, Submission] = {}
    exclusions: dict[int, _Exclusions] = {}
    for sub in submissions:
        ex = _exclusions([*sub.findings, *by_file.get(sub.path, [])])
        exclusions[id(sub)] = ex
        if ex.whole_file or not sub.branch_code or not is_readable(sub):
            continue
        if sub.branch_code in usable:  # two files for one branch: neither is trusted
            usable[sub.branch_code] = None  # type: ignore[assignment]
            continue
        usable[sub.branch_code] = sub
    return {c: s for c, s in sorted(usable.items()) if s is not None}, exclusions


def _judged_month(kpi: Kpi, fiscal_year: int, month: date) -> date | None:
    months = [m for m in kpi.months(fiscal_year) if m <= month]
    return months[-1] if months else None


def _baseline(cons: Consolidation, entry: KpiEntry | None, code: str, kpi: Kpi,
              ex: _Exclusions) -> tuple[float | None, str]:
    if entry is not None and not ex.hits(entry.baseline):
        v = _number(entry.baseline)
        if v is not None:
            return v, "ブック"
    v = cons.baselines.get((code, kpi.id))
    return (v, "前年度値ファイル") if v is not None else (None, "")


def _month_value(kpi: Kpi, entry: KpiEntry | None, key: str, ex: _Exclusions,
                 whole_kpi_excluded: bool) -> tuple[float | None, float | None, float | None, str]:
    """(numerator, denominator, value, status) of one month ('2024-10') of one branch."""
    km = entry.months.get(key) if entry else None
    if km is None:
        return None, None, None, "excluded" if whole_kpi_excluded else "missing"
    cells = [km.numerator, km.denominator] if kpi.kind == "ratio" else [km.value]
    if whole_kpi_excluded or any(ex.hits(iv) for iv in cells):
        return None, None, None, "excluded"
    if any(iv.value is not None and _number(iv) is None for iv in cells):
        return None, None, None, "excluded"  # text where a number belongs
    if kpi.kind == "ratio":
        num, den = _number(km.numerator), _number(km.denominator)
        if num is None or den is None:
            return None, None, None, "missing"
        if den == 0:
            return num, den, None, "zero_denominator"
        return num, den, kpi.rate(num, den), "ok"
    val = _number(km.value)
    return (None, None, val, "ok") if val is not None else (None, None, None, "missing")


def _rating_of(kpi: Kpi, value: float | None, status: str, month: date, fiscal_year: int,
               target: float | None, baseline: float | None, rule: Target | None = None) -> Rating:
    if status == "excluded":
        return no_result("excluded_error")
    if status == "zero_denominator":
        return no_result("not_reported", "分母が0", "denominator is 0")
    return rate_kpi(kpi, result=value, target=target, month=month, fiscal_year=fiscal_year,
                    baseline=baseline, rule=rule)


def _branch_values(cons: Consolidation, sub: Submission, ex: _Exclusions,
                   months: dict[str, list[tuple[date, str]]]) -> None:
    code = sub.branch_code or ""
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        entry = sub.kpis.get(kpi.id)
        whole = kpi.id in ex.subjects
        target_iv = entry.target if entry else InputValue(None)
        target = None if ex.hits(target_iv) else _number(target_iv)
        baseline, source = _baseline(cons, entry, code, kpi, ex)
        annual, basis = resolve_target(kpi, branch_target=target, baseline=baseline)
        kpi_months = months[kpi.id]
        judged = kpi_months[-1][0] if kpi_months else None
        last: tuple[float | None, float | None, float | None, str] = (None, None, None, "missing")
        last_rating = no_result("not_applicable")
        for m, key in kpi_months:
            num, den, val, status = _month_value(kpi, entry, key, ex, whole)
            rating = _rating_of(kpi, val, status, m, cons.fiscal_year, target, baseline)
            cons.month_values[(code, kpi.id, key)] = MonthValue(
                code, kpi.id, key, num, den, val, status, annual, rating)
            last, last_rating = (num, den, val, status), rating
        text = None
        if kpi.kind == "qualitative":
            text = _text(entry.text) if entry else ""
            self_rating = _text(entry.rating) if entry else ""
            excluded = whole or (entry is not None and (ex.hits(entry.rating) or ex.hits(entry.text)))
            last_rating = rate_kpi(kpi, result=None, target=None, month=cons.month,
                                   fiscal_year=cons.fiscal_year, excluded=excluded, self_rating=self_rating)
            last = (None, None, None, "excluded" if excluded else ("ok" if self_rating else "missing"))
        cons.branch_kpis[(code, kpi.id)] = BranchKpi(
            code, kpi.id, month_key(judged) if judged else None, target, baseline, source, annual, basis,
            last[0], last[1], last[2], last[3], last_rating, text)


def _rank(cons: Consolidation) -> None:
    """Competition ranking (1, 2, 2, 4) per KPI among branches with a value; best first."""
    for kpi in cons.kpis:
        rows = [b for (c, k), b in cons.branch_kpis.items() if k == kpi.id and b.value is not None
                and c != HQ_CODE]
        sign = -1 if kpi.direction == ">=" else 1
        rows.sort(key=lambda b: sign * (b.value or 0.0))
        for b in rows:
            b.rank = 1 + sum(1 for o in rows if sign * (o.value or 0.0) < sign * (b.value or 0.0) - 1e-12)


def _national(cons: Consolidation, usable: dict[str, Submission]) -> None:
    for kpi in cons.kpis:
        codes = [HQ_CODE] if kpi.scope == "national" else [c for c in usable if c != HQ_CODE]
        national_baseline = cons.baselines.get((HQ_CODE, kpi.id))
        rule = kpi.effective_national_target()
        if rule.rule == "branch":  # no national target given: compare with last year's national value
            rule = Target("baseline")
        annual, basis = resolve_target(kpi, branch_target=None, baseline=national_baseline, rule=rule)
        last: MonthValue | None = None
        for m in kpi.months(cons.fiscal_year):
            if m > cons.month:
                break
            last = _national_month(cons, kpi, m, codes, annual, national_baseline, rule)
            cons.national_months[(kpi.id, month_key(m))] = last
        judged = _judged_month(kpi, cons.fiscal_year, cons.month)
        expected = ([HQ_CODE] if kpi.scope == "national"
                    else [b.code for b in load_branches() if b.code != HQ_CODE])
        covered = tuple(c for c in expected
                        if last is not None and cons.month_values.get((c, kpi.id, last.month)) is not None
                        and cons.month_values[(c, kpi.id, last.month)].status == "ok")
        left_out = tuple((c, _left_out_reason(cons, c, kpi.id, last.month if last else None))
                         for c in expected if c not in covered)
        if kpi.kind == "qualitative":
            rating = Rating(NO_RESULT, "定性的KPI：支部ごとの自己評価（全国値なし）",
                            "qualitative KPI: self-rated per branch", None, None)
        elif last is None:
            rating = no_result("not_applicable")
        else:
            rating = last.rating
        cons.national[kpi.id] = NationalKpi(
            kpi.id, month_key(judged) if judged else None, last.numerator if last else None,
            last.denominator if last else None, last.value if last else None, national_baseline, annual,
            basis, rating, covered, left_out)


def _national_month(cons: Consolidation, kpi: Kpi, m: date, codes: list[str], annual: float | None,
                    national_baseline: float | None, rule: Target) -> MonthValue:
    rows = [cons.month_values.get((c, kpi.id, month_key(m))) for c in codes]
    ok = [r for r in rows if r is not None and r.status == "ok"]
    num = den = val = None
    status = "missing"
    if ok and kpi.kind == "ratio":
        num, den = sum(r.numerator or 0.0 for r in ok), sum(r.denominator or 0.0 for r in ok)
        val, status = kpi.rate(num, den), "ok"
    elif ok and kpi.kind == "count":
        val, status = sum(r.value or 0.0 for r in ok), "ok"
    rating = _rating_of(kpi, val, status, m, cons.fiscal_year, None, national_baseline, rule)
    return MonthValue(NATIONAL_CODE, kpi.id, month_key(m), num, den, val, status, annual, rating)


def _left_out_reason(cons: Consolidation, code: str, kpi_id: str, month: str | None) -> str:
    mv = cons.month_values.get((code, kpi_id, month)) if month else None
    if mv is None:
        return "未提出または読込不可"
    return {"missing": "未報告", "excluded": "エラーにより除外", "zero_denominator": "分母が0"}.get(
        mv.status, mv.status)


def _measures(cons: Consolidation, sub: Submission, ex: _Exclusions) -> None:
    code = sub.branch_code or ""
    for measure in cons.catalogue.measures:
        entry = sub.measures.get(measure.id)
        if entry is None:
            continue
        for row in entry.rows:
            text, mark, note = _text(row.text), _text(row.rating), _text(row.note)
            if not (text or mark or note):
                continue
            if mark not in MARKS or ex.hits(row.rating):
                mark = ""
            cons.measure_ratings.append(MeasureRating(code, measure.id, row.n, text, mark, note))
        issue = _text(entry.issue)
        if issue:
            cons.issues.append((code, measure.id, issue))


def _consistency(cons: Consolidation, usable: dict[str, Submission]) -> list[Finding]:
    """W501 (◎/○ self-rating while the measure's KPI is below target) and W502 (△/× without remark)."""
    out: list[Finding] = []
    for code, sub in usable.items():
        for measure in cons.catalogue.measures:
            entry = sub.measures.get(measure.id)
            if entry is None:
                continue
            missed = [cons.branch_kpis[(code, k.id)] for k in cons.catalogue.kpis_of_measure(measure.id)
                      if (code, k.id) in cons.branch_kpis and k.kind != "qualitative"
                      and cons.branch_kpis[(code, k.id)].rating.mark == MISSED]
            for row in entry.rows:
                mark = _text(row.rating)
                src = row.rating.source
                where = {"file": sub.path, "branch": code, "sheet": src.sheet if src else None,
                         "cell": src.cell if src else None, "name": src.name if src else None}
                if mark in ("◎", "○") and missed:
                    bk = missed[0]
                    kpi = cons.catalogue.kpi(bk.kpi_id)
                    out.append(finding("W501", subject=measure.heading, value=mark, kpi_id=bk.kpi_id,
                                       expected=kpi.format_value(bk.value), reason=bk.rating.mark, **where))
                if mark in ("△", "×") and not _text(row.note):
                    nsrc = row.note.source or src
                    where.update(sheet=nsrc.sheet if nsrc else None, cell=nsrc.cell if nsrc else None,
                                 name=nsrc.name if nsrc else None)
                    out.append(finding("W502", subject=measure.heading, value=mark, n=row.n, **where))
    return out


def _sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.branch or "99", f.file or "", not f.is_error, f.sheet or "",
                                           cell_order(f.cell), f.code))


def _expected_codes(cat: Catalogue, fiscal_year: int) -> list[str]:
    hq = any(k.scope == "national" and k.applies_to(fiscal_year) for k in cat.kpis)
    return [b.code for b in load_branches() if b.code != HQ_CODE or hq]


def _statuses(cons: Consolidation, submissions: list[Submission],
              usable: dict[str, Submission]) -> list[BranchStatus]:
    """Each expected branch's status, from its own files' findings only.

    Findings about other inputs (a --baseline file's row for the branch) never change it.
    """
    out: list[BranchStatus] = []
    names = {b.code: b.display_name for b in load_branches()}
    by_file: dict[str | None, list[Finding]] = {}
    for f in cons.findings:
        by_file.setdefault(f.file, []).append(f)
    for code in _expected_codes(cons.catalogue, cons.fiscal_year):
        subs = [s for s in submissions if s.branch_code == code]
        files = {s.path for s in subs}
        mine = [f for p in sorted(files) for f in by_file.get(p, [])]
        mine += [f for f in by_file.get(None, []) if f.branch == code]
        errors = sum(1 for f in mine if f.is_error)
        if not subs and not mine:
            out.append(BranchStatus(code, names[code], STATUS_MISSING, (), (), None, None, 0, 0, None, ()))
            continue
        sub = usable.get(code)
        unreadable = bool(subs) and all(_unreadable(s, by_file.get(s.path, [])) for s in subs)
        status = STATUS_UNREADABLE if sub is None and unreadable else (
            STATUS_ERRORS if errors or sub is None else STATUS_OK)
        out.append(BranchStatus(
            code, names[code], status,
            tuple(sorted(files or {f.file for f in mine if f.file})), tuple(s.sha256 for s in subs),
            sub.saved_at if sub else None, sub.saved_by if sub else None, errors, len(mine) - errors,
            _completeness(cons, code) if sub else None, _left_out_list(cons, code, sub, mine)))
    return out


def _unreadable(sub: Submission, findings: list[Finding]) -> bool:
    """The file could not be read (or checked) at all: a stub, or an E1xx/E201 finding on it."""
    return not is_readable(sub) or any(makes_unreadable(f) for f in findings)


def _completeness(cons: Consolidation, code: str) -> float | None:
    expected = filled = 0
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        if bk is None or bk.judged_month is None:
            continue
        cells = 2 if kpi.kind == "ratio" else 1
        expected += cells + (1 if kpi.target.rule == "branch" else 0)
        if kpi.target.rule == "branch" and bk.branch_target is not None:
            filled += 1
        if kpi.kind == "qualitative":
            filled += 1 if bk.status == "ok" else 0
            continue
        mv = cons.month_values.get((code, kpi.id, bk.judged_month))
        if mv and mv.status in ("ok", "zero_denominator", "excluded"):
            filled += cells
        elif mv and kpi.kind == "ratio" and (mv.numerator is not None or mv.denominator is not None):
            filled += 1
    return filled / expected if expected else None


def _left_out_list(cons: Consolidation, code: str, sub: Submission | None, mine: list[Finding]) -> tuple[str, ...]:
    if sub is None:
        codes = sorted({f.code for f in mine if f.is_error})
        if any(makes_unreadable(f) for f in mine) and not any(f.code == "E207" for f in mine):
            return (f"ブックを読み込めないため全体を除外（{', '.join(codes)}）",)
        return (f"ブック全体を除外（{', '.join(codes) or '同一支部の複数ファイル'}）",)
    out = []
    for kpi in cons.catalogue.kpis_for(cons.fiscal_year, code):
        bk = cons.branch_kpis.get((code, kpi.id))
        if bk and bk.rating.reason_code == "excluded_error":
            out.append(f"{kpi.id} {kpi.short_label}：エラーにより除外")
    return tuple(out)


def _term_rows() -> tuple[list[TermKpiRow], list[TermMeasureRow]]:
    mapping = load_mapping()
    old, new = catalogue_for_fy_term(mapping.from_term), catalogue_for_fy_term(mapping.to_term)
    kpis = [TermKpiRow(k.from_id, old.kpi(k.from_id).label if k.from_id else "", k.to_id,
                       new.kpi(k.to_id).label if k.to_id else "", k.relation, k.baseline_valid, k.note or "")
            for k in mapping.kpis]
    measures = [TermMeasureRow(m.from_id, old.measure(m.from_id).heading if m.from_id else "", m.to_ids,
                               "／".join(new.measure(t).heading for t in m.to_ids), m.relation, m.note or "")
                for m in mapping.measures]
    return kpis, measures


def catalogue_for_fy_term(term: int) -> Catalogue:
    from .catalogue import load_catalogue

    return load_catalogue(term)


def _inputs(submissions: list[Submission], files: Iterable[Path]) -> list[tuple[str, str]]:
    from .fileio import sha256_file

    known = {s.path: s.sha256 for s in submissions}
    out = []
    for p in files:
        digest = known.get(str(p))
        if digest is None:
            try:
                digest = sha256_file(Path(p))
            except OSError:
                digest = ""
        out.append((str(p), digest))
    for path, digest in sorted(known.items()):
        if path not in {f for f, _ in out}:
            out.append((path, digest))
    return out


def _unattributed(submissions: list[Submission], findings: list[Finding]) -> list[tuple[str, int]]:
    attributed = {s.path for s in submissions if s.branch_code}
    files: dict[str, int] = {}
    for f in findings:
        if f.file and not f.branch and f.file not in attributed and f.is_error:
            files[f.file] = files.get(f.file, 0) + 1
    return sorted(files.items())


# ---------------------------------------------------------------- analyst view
FRAME_COLUMNS = ["branch_code", "branch_name", "kpi_id", "kpi_label", "month", "numerator", "denominator",
                 "value", "annual_target", "target", "mark", "status", "basis"]


def kpi_value_rows(cons: Consolidation) -> list[list[Any]]:
    """Rows of FRAME_COLUMNS: one per branch × KPI × month (national rows have branch_code 'ALL')."""
    names = {b.code: b.display_name for b in load_branches()}
    names[NATIONAL_CODE] = "全国"
    rows = []
    for mv in [*cons.month_values.values(), *cons.national_months.values()]:
        kpi = cons.catalogue.kpi(mv.kpi_id)
        rows.append([mv.branch_code, names.get(mv.branch_code, mv.branch_code), kpi.id, kpi.label, mv.month,
                     mv.numerator, mv.denominator, mv.value, mv.annual_target, mv.rating.effective_target,
                     mv.rating.mark, mv.status, mv.rating.basis_ja])
    order = {c: i for i, c in enumerate([b.code for b in load_branches()] + [NATIONAL_CODE])}
    kpi_order = {k.id: i for i, k in enumerate(cons.catalogue.kpis)}
    rows.sort(key=lambda r: (order.get(r[0], 99), kpi_order[r[2]], r[4]))
    return rows


def kpi_values_frame(cons: Consolidation) -> "pandas.DataFrame":
    """The analysts' table as a pandas DataFrame (same rows as the CSV)."""
    import pandas as pd

    return pd.DataFrame(kpi_value_rows(cons), columns=FRAME_COLUMNS)
