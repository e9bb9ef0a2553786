"""Collecting the year's plans: record them in the ledger, write the targets file (and, once they land,
the national plan summary and each branch's feedback), all or nothing.

`collect_plans` takes plans already read and validated (`read_plan_inbox` reads an inbox) and, with a
ledger, in the ledger's one write transaction: records them (kpisheet.ledger.plans.record_plans: a new
version only when a plan's content changed), writes every output into a staging folder of the output
folder, records the outputs; only after COMMIT are the outputs renamed into place.  It reuses the
monthly run's lock, staging, journal and publication (kpisheet.write.outputs), so a run killed part
way is completed or removed by the next run into the folder, as a month's is.

`plan_targets_rows` turns plans into the rows of `plan_targets_FY<year>.csv`, in the `--targets` format
kpisheet reads (kpisheet.read.value_tables: columns branch, kpi_id, value; the other columns are for
people and ignored there):

* a branch row for every `value`-kind target with a number (`previous_year` and `text` targets are
  not exported: the catalogue's rule and `--baseline` handle 対前年度, a text has no number);
* an `ALL` row, the implied national target of a KPI whose annual target the branches set (catalogue
  rule `branch`; the others keep their rule for the nation too): Σ見込者数 ÷ Σ対象者数 (shown at the
  KPI's decimals) for a percent KPI whose plans carry the counts, Σ targets for a count KPI — only when
  every branch that carries the KPI gave the figures (`national_min_branches`, default all): a
  national target resting on some branches would be a sum or a rate of a part of the nation.  How
  many branches each rests on is in the `branches` column and in `PlanTargets.national`.
"""

from __future__ import annotations

import csv
import io
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from kpisheet import ledger as led
from kpisheet.domain.catalogue import HQ_CODE, Branch, Kpi, branch, catalogue_for_fy, prefecture_branches
from kpisheet.domain.findings import Finding, makes_unreadable
from kpisheet.domain.fiscal import wareki_fiscal_year
from kpisheet.domain.plan import PlanKpi, PlanSubmission
from kpisheet.domain.ratings import implied_national
from kpisheet.fileio import atomic_path, sha256_or_empty
from kpisheet.check.inbox import list_inbox
from kpisheet.ledger.plans import RecordedPlans, approved_plans, current_plans, plans_in_use, record_outputs, record_plans
from kpisheet.plan.reader import read_plan
from kpisheet.plan.rules import validate_plans
from kpisheet.write import outputs
from kpisheet.write.csvout import safe_cell

NATIONAL = "ALL"  # the branch column of an implied national target (value_tables reads it as the nation)
TARGET_COLUMNS = ("branch", "kpi_id", "value", "basis", "branches", "population", "planned", "source")
BASES = {  # TargetRow.basis -> Japanese
    "plan": "支部の事業計画の目標",
    "planned_over_population": "Σ見込者数÷Σ対象者数",
    "sum_of_targets": "各支部の目標の合計",
}


def targets_name(fiscal_year: int) -> str:
    return f"plan_targets_FY{fiscal_year}.csv"


# ---------------------------------------------------------------- the targets file
@dataclass(frozen=True)
class TargetRow:
    """One row of the targets file."""

    branch: str  # branch code, or 'ALL'
    kpi_id: str
    value: float
    basis: str  # a BASES key
    branches: int  # how many branches' plans it rests on (1 for a branch row)
    population: float | None = None  # 対象者数 (Σ for ALL)
    planned: float | None = None  # 見込者数 (Σ for ALL)
    source: str = ""  # the plan it came from: its file name, or 'ledger:<version id>'

    def cells(self) -> list[str]:
        return [self.branch, self.kpi_id, _number(self.value), self.basis, str(self.branches),
                _number(self.population), _number(self.planned), self.source]

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(TARGET_COLUMNS, [self.branch, self.kpi_id, self.value, self.basis, self.branches,
                                         self.population, self.planned, self.source], strict=True))


@dataclass(frozen=True)
class NationalTarget:
    """The implied national target of one KPI and what it rests on (written as an ALL row when `complete`)."""

    kpi_id: str
    basis: str  # planned_over_population | sum_of_targets
    value: float | None  # over the branches it has (None: none)
    branches: tuple[str, ...]  # the branches whose plans give the figures
    expected: tuple[str, ...]  # the branches that carry the KPI
    population: float | None = None
    planned: float | None = None
    complete: bool = False  # enough branches (national_min_branches): written as the ALL row

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c for c in self.expected if c not in self.branches)

    def to_dict(self) -> dict[str, Any]:
        return {"kpi_id": self.kpi_id, "basis": self.basis, "value": self.value, "branches": len(self.branches),
                "expected": len(self.expected), "missing": list(self.missing), "population": self.population,
                "planned": self.planned, "written": self.complete}


@dataclass
class PlanTargets:
    """The rows of the targets file, and every implied national target with what it rests on."""

    fiscal_year: int
    rows: list[TargetRow] = field(default_factory=list)
    national: list[NationalTarget] = field(default_factory=list)
    path: Path | None = None  # the file written (export_plan_targets)

    def to_dict(self) -> dict[str, Any]:
        return {"fiscal_year": self.fiscal_year, "path": None if self.path is None else str(self.path),
                "rows": [r.to_dict() for r in self.rows], "national": [n.to_dict() for n in self.national]}


def _number(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _figure(v: Any) -> float | None:
    """A plan's number (target, 対象者数, 見込者数), or None when it holds none (blank, text, inf)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _target(kpi: Kpi, entry: PlanKpi | None) -> float | None:
    """The value-kind target a --targets file can carry for `kpi` (in range, as value_tables accepts it)."""
    if entry is None or entry.kind != "value" or kpi.kind == "qualitative":
        return None
    value = _figure(entry.target.value)
    if value is None or value < 0 or (kpi.is_percent and value > 100):
        return None
    return value


def plan_targets_rows(plans: Mapping[str, PlanSubmission], fiscal_year: int, *,
                      national_min_branches: int | None = None) -> PlanTargets:
    """The targets file of `plans` ({branch code: plan}, e.g. `current_plans` or `approved_plans`):
    the branches' value targets and the implied national targets (see the module docstring).
    `national_min_branches`: how many branches an ALL row must rest on (default: every branch that
    carries the KPI)."""
    cat = catalogue_for_fy(fiscal_year)
    result = PlanTargets(fiscal_year)
    for code in sorted(plans):
        plan = plans[code]
        for kpi in cat.kpis_for(fiscal_year, code):
            entry = plan.kpis.get(kpi.id)
            value = _target(kpi, entry)
            if value is None or entry is None:
                continue
            result.rows.append(TargetRow(code, kpi.id, value, "plan", 1, _figure(entry.population.value),
                                         _figure(entry.planned.value), _source(plan)))
    prefectures = [b.code for b in prefecture_branches()]
    for kpi in cat.kpis:
        if kpi.scope != "branch" or kpi.kind == "qualitative" or kpi.target.rule != "branch":
            continue  # the nation's target of a fixed, 対前年度 or conditional KPI is the catalogue's rule
        expected = tuple(c for c in prefectures if kpi in cat.kpis_for(fiscal_year, c))
        if not expected:
            continue
        national = _national(kpi, expected, plans)
        if national is None:
            continue
        need = len(expected) if national_min_branches is None else min(national_min_branches, len(expected))
        complete = national.value is not None and len(national.branches) >= max(need, 1)
        national = NationalTarget(national.kpi_id, national.basis, national.value, national.branches,
                                  national.expected, national.population, national.planned, complete)
        result.national.append(national)
        if complete and national.value is not None:
            result.rows.append(TargetRow(NATIONAL, kpi.id, national.value, national.basis, len(national.branches),
                                         national.population, national.planned, ""))
    return result


BASES = {"counts": "planned_over_population", "sum": "sum_of_targets"}  # the targets file's words


def _national(kpi: Kpi, expected: tuple[str, ...], plans: Mapping[str, PlanSubmission]) -> NationalTarget | None:
    """Σ見込者数 ÷ Σ対象者数 (percent KPIs), Σ targets (count KPIs), over the branches giving the figures:
    kpisheet.domain.ratings.implied_national, the rule the plan summary and consolidation use."""
    implied = implied_national(kpi, plans, expected)
    if not implied.basis:
        return None  # no national figure defined (yen per case, a rate no plan gives counts for)
    return NationalTarget(kpi.id, BASES[implied.basis], implied.value, implied.branches, expected,
                          implied.population, implied.planned)


def _source(plan: PlanSubmission) -> str:
    return plan.path if plan.path.startswith("ledger:") else Path(plan.path).name


def targets_csv_text(targets: PlanTargets) -> str:
    """The targets file's text: CSV, header TARGET_COLUMNS (a cell a spreadsheet would run is written as text)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(TARGET_COLUMNS)
    writer.writerows([safe_cell(c) for c in r.cells()] for r in targets.rows)
    return buf.getvalue()


def write_plan_targets_csv(targets: PlanTargets, path: Path) -> Path:
    """Write the targets file (UTF-8 with BOM, so Excel on Japanese Windows opens it as UTF-8)."""
    path = Path(path)
    path.write_text(targets_csv_text(targets), encoding="utf-8-sig", newline="")
    return path


def export_plan_targets(ledger: Path, fiscal_year: int, path: Path, *, approved_only: bool = False,
                        force: bool = False, national_min_branches: int | None = None) -> PlanTargets:
    """`plan export-targets`: the targets file of the ledger's plans of the year — every branch's latest
    version, or (`approved_only`) the approved ones only — written atomically.  P603 when the ledger
    holds none; OutputExistsError when `path` exists without `force`."""
    plans = plans_in_use(ledger, fiscal_year, approved_only=approved_only)
    targets = plan_targets_rows(plans, fiscal_year, national_min_branches=national_min_branches)
    with atomic_path(Path(path), force=force) as tmp:
        write_plan_targets_csv(targets, tmp)
    targets.path = Path(path)
    return targets


# ---------------------------------------------------------------- the collect
class PlanWriteError(Exception):
    """An output could not be written (`error`: the OSError); nothing was written, unless `pending`: the
    plans were recorded and the publication stopped part way (the next run into the folder completes it)."""

    def __init__(self, outdir: Path, error: OSError, *, pending: bool = False):
        self.outdir, self.error, self.pending = Path(outdir), error, pending
        super().__init__(f"cannot write into {outdir}: {error}")


class NoPlans(Exception):
    """Not one plan of the fiscal year could be read: nothing was recorded or written (`findings`: why)."""

    def __init__(self, fiscal_year: int, findings: list[Finding], years: list[int]):
        self.fiscal_year, self.findings, self.years = fiscal_year, findings, years
        super().__init__(f"no readable plan of FY{fiscal_year}")


@dataclass
class PlanCollectResult:
    """What `plan collect` did: the plans, every finding, what the ledger recorded, the targets and the outputs."""

    fiscal_year: int
    plans: list[PlanSubmission]
    findings: list[Finding]
    targets: PlanTargets
    outputs: list[Path] = field(default_factory=list)
    recorded: RecordedPlans | None = None  # None: no ledger
    held: dict[str, PlanSubmission] = field(default_factory=dict)  # the plans the outputs are of, by branch

    def branches(self) -> dict[str, list[str]]:
        """Branch codes: submitted (a plan of the year read), with_errors (among them), missing (a prefectural
        branch with no plan held)."""
        mine = [p for p in self.plans if p.branch_code and p.fiscal_year == self.fiscal_year]
        submitted = sorted({str(p.branch_code) for p in mine})
        failing = {f.file for f in self.findings if f.is_error}
        errors = sorted({str(p.branch_code) for p in mine if p.path in failing})
        # the 47 branches, as the plan summary counts them (本部 only when it sent a plan)
        missing = [b.code for b in prefecture_branches() if b.code not in self.held and b.code not in submitted]
        return {"submitted": submitted, "with_errors": errors, "missing": missing}

    def to_dict(self) -> dict[str, Any]:
        errors = sum(1 for f in self.findings if f.is_error)
        out: dict[str, Any] = {
            "fiscal_year": self.fiscal_year, "fiscal_year_ja": wareki_fiscal_year(self.fiscal_year),
            "plans": len(self.plans), "branches": self.branches(),
            "findings": {"errors": errors, "warnings": len(self.findings) - errors,
                         "items": [f.to_dict() for f in self.findings]},
            "targets": self.targets.to_dict(), "outputs": [str(p) for p in self.outputs]}
        if self.recorded is not None:
            out["ledger"] = self.recorded.to_dict()
        return out


def collect_plans(plans: Sequence[PlanSubmission], findings_by_plan: Mapping[str, Sequence[Finding]],
                  fiscal_year: int, out_dir: Path, *, ledger: Path | None = None, force: bool = False,
                  options: Mapping[str, Any] | None = None,
                  national_min_branches: int | None = None) -> PlanCollectResult:
    """Record `plans` (already read; `findings_by_plan`: each plan's validation findings by its path)
    in `ledger` and write the outputs into `out_dir`, all or nothing (see the module docstring).

    Without a ledger the outputs are of the plans given; with one, of every branch's latest version
    (this run's and earlier runs').  Raises OutputExistsError (existing outputs, without `force`),
    OutputLockedError (another run writes into `out_dir`), PlanWriteError, KpisheetError (the ledger), and
    NoPlans, before anything is recorded or written, when not one plan of `fiscal_year` could be read."""
    out_dir = Path(out_dir)
    given = list(plans)
    findings = [*(f for p in given for f in p.findings), *(f for p in given for f in findings_by_plan.get(p.path, ()))]
    readable = [p for p in given if p.branch_code and p.fiscal_year is not None
                and not any(makes_unreadable(f) for f in p.findings)]
    if not any(p.fiscal_year == fiscal_year for p in readable):
        raise NoPlans(fiscal_year, findings, sorted({int(p.fiscal_year) for p in readable if p.fiscal_year}))
    run_options = {**dict(options or {}), "output": str(out_dir), "force": force}
    if ledger is None:
        held = _latest_given(given, fiscal_year)
        targets = plan_targets_rows(held, fiscal_year, national_min_branches=national_min_branches)
        try:
            with outputs.staging_in(out_dir, _planned_paths(fiscal_year, out_dir), force=force) as box:
                staged = _stage(given, held, findings, targets, fiscal_year, box)
                outputs.mark_ready(staged)
                written = outputs.publish(staged).paths
        except OSError as exc:
            raise PlanWriteError(out_dir, exc) from exc
        return PlanCollectResult(fiscal_year, given, findings, targets, written, None, held)
    created = led.create_ledger(ledger)
    token = secrets.token_hex(16)
    run_options[led.PUBLICATION_OPTION] = token
    folder: outputs.StagingFolder | None = None
    try:
        with led.opened(ledger) as book, outputs.staging_in(out_dir, _planned_paths(fiscal_year, out_dir),
                                                            force=force) as folder:
            with book.transaction():
                recorded = record_plans(book, given, fiscal_year, options=run_options, findings=findings_by_plan)
                held = current_plans(book, fiscal_year)
                targets = plan_targets_rows(held, fiscal_year, national_min_branches=national_min_branches)
                here = {p.branch_code for p in given}
                earlier = [f for code, p in held.items() if code not in here for f in p.findings]  # earlier runs'
                staged = _stage(given, held, [*findings, *recorded.findings, *earlier], targets, fiscal_year,
                                folder)
                if recorded.run_id is not None:
                    record_outputs(book, recorded.run_id, {final: sha256_or_empty(s) for s, final in staged.pairs})
                outputs.mark_ready(staged, ledger=ledger, token=token if recorded.run_id is not None else None)
            written = outputs.publish(staged).paths
    except OSError as exc:
        if created:
            led.remove_unused_ledger(ledger)
        raise PlanWriteError(out_dir, exc, pending=bool(folder and folder.keep)) from exc
    except BaseException:
        if created:  # a ledger this failed run created holds nothing: leave no file
            led.remove_unused_ledger(ledger)
        raise
    return PlanCollectResult(fiscal_year, given, [*findings, *recorded.findings], targets, written, recorded, held)


def _latest_given(plans: list[PlanSubmission], fiscal_year: int) -> dict[str, PlanSubmission]:
    """{branch: its plan} of the plans given (no ledger): the last one of a branch as given."""
    return {str(p.branch_code): p for p in plans if p.branch_code and p.fiscal_year == fiscal_year}


def _planned_paths(fiscal_year: int, out_dir: Path) -> list[Path]:
    """Every output `collect_plans` writes that must not be replaced without --force (the feedback
    workbooks are each branch's own: a branch that sends again gets a new one)."""
    from kpisheet.plan.summary import summary_name

    return [out_dir / targets_name(fiscal_year), out_dir / summary_name(fiscal_year)]


def _stage(given: list[PlanSubmission], held: dict[str, PlanSubmission], findings: list[Finding],
           targets: PlanTargets, fiscal_year: int, folder: outputs.StagingFolder) -> outputs.Staged:
    """Write every output into the staging folder (nothing visible yet)."""
    written = [write_plan_targets_csv(targets, folder.path / targets_name(fiscal_year))]
    targets.path = folder.outdir / targets_name(fiscal_year)  # where it is published
    written += write_summary_and_feedback(given, held, findings, fiscal_year, folder.path)
    return outputs.Staged(folder, [(p, folder.outdir / p.relative_to(folder.path)) for p in written], [])


def write_summary_and_feedback(given: list[PlanSubmission], held: dict[str, PlanSubmission],
                               findings: list[Finding], fiscal_year: int, staging: Path) -> list[Path]:
    """The national plan summary (kpisheet.plan.summary) and each branch's plan feedback
    (kpisheet.plan.feedback), written into `staging`.

    `held`: every branch's plan the outputs are of (with a ledger: each branch's latest version,
    rebuilt from the ledger with the findings it was recorded with; without: the plans read now);
    `findings`: this run's (reading, validation, P6xx) and, with a ledger, those of branches not
    in this run.  A feedback workbook is written for each plan read now (it is patched into the
    branch's own file, whose cells the findings name)."""
    from kpisheet.plan.feedback import write_plan_feedback
    from kpisheet.plan.summary import write_plan_summary

    by_branch = _findings_by_branch(given, held, findings)
    plans: dict[str, PlanSubmission | None] = {b.code: held.get(b.code) for b in expected_branches()}
    paths = write_plan_summary(plans, by_branch, fiscal_year, staging)
    for plan in given:
        if plan.branch_code is None or not Path(plan.path).is_file():
            continue
        mine = [f for f in findings if f.file == plan.path]
        paths.append(write_plan_feedback(plan, mine, staging / feedback_name(plan, fiscal_year)))
    return paths


def expected_branches() -> list[Branch]:
    """本部 and the 47 branches: every plan the summary expects."""
    return [branch(HQ_CODE), *prefecture_branches()]


def feedback_name(plan: PlanSubmission, fiscal_year: int) -> str:
    """feedback/<code>_<支部名>_FY<year>_事業計画_確認事項.xlsx"""
    code = plan.branch_code or "??"
    try:
        name = branch(code).display_name
    except KeyError:
        name = plan.branch_name or ""
    return f"feedback/{code}_{name}_FY{fiscal_year}_事業計画_確認事項.xlsx"


def _findings_by_branch(given: list[PlanSubmission], held: dict[str, PlanSubmission],
                        findings: list[Finding]) -> dict[str, list[Finding]]:
    """Each finding under the branch whose plan it is about: by its file (a plan read now or held),
    else by the branch it names."""
    code_of = {p.path: p.branch_code for p in [*given, *held.values()] if p.branch_code}
    out: dict[str, list[Finding]] = {}
    for f in findings:
        code = code_of.get(f.file or "") or f.branch
        if code:
            out.setdefault(code, []).append(f)
    return out


# ---------------------------------------------------------------- reading an inbox
def read_plan_inbox(inbox: Path, fiscal_year: int, *, ledger: Path | None = None
                    ) -> tuple[list[PlanSubmission], dict[str, list[Finding]]]:
    """Every plan workbook of `inbox`, read (kpisheet.plan.reader.read_plan) and validated
    (kpisheet.plan.rules.validate_plans: with the other plans of the inbox and, with a ledger, each
    branch's approved plan of the year before): (plans, {path: findings of the rules})."""
    files, _ = list_inbox([Path(inbox)])
    plans = [read_plan(p) for p in files]
    previous = _approved_or_none(ledger, fiscal_year - 1)
    found = validate_plans([p for p in plans if p.fiscal_year == fiscal_year], previous=previous)
    return plans, found


def _approved_or_none(ledger: Path | None, fiscal_year: int) -> dict[str, PlanSubmission]:
    """The approved plans of `fiscal_year` in the ledger ({} without one, or when it has none yet)."""
    if ledger is None or not Path(ledger).exists():
        return {}
    return approved_plans(ledger, fiscal_year)

