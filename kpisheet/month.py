"""One month's run, top to bottom: what `kpisheet consolidate` does, callable from Python.

`run_month` (from the inbox):

1. with a ledger, a closed month is refused (L104) before anything is read;
2. every workbook of the inbox is read and validated, the --baseline / --targets files are read
   (`consolidate`), and `build_consolidation` turns them into a Consolidation;
3. nothing readable (NothingReadable), no workbook of the fiscal year (WrongFiscalYear), or
   a --month the workbooks do not hold (WrongMonth, E209: more than half of them hold figures
   after it, or none holds a figure for it) ends the run before anything is written;
4. with a ledger, in one transaction: the month is checked again (closed meanwhile?), the
   ledger's revisions and last year's figures are attached (a new Consolidation), every output
   is written into a staging folder, and the run is recorded; only after COMMIT are the outputs
   renamed into place (a run killed part way is completed by the next run into the folder, and
   `close_month` refuses the month until then, L117).  A ledger this run created is removed
   again when the run fails (and nothing else uses it).

`rebuild_month` (`kpisheet consolidate --from-ledger`) writes a month's national workbook and CSV
from the ledger alone.  Both return a MonthResult, whose `to_dict()` is what `--json` prints.

Failures are exceptions: KpisheetError (findings: a broken ledger, a closed month, ...),
NothingReadable, WrongFiscalYear, WrongMonth, OutputExistsError (kpisheet.fileio), OutputLockedError
(kpisheet.write.outputs), OutputWriteError (the disk is full, a folder cannot be written).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, Literal, Protocol

from kpisheet.consolidate.model import Consolidation
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.findings import Finding, KpisheetError, finding
from kpisheet.domain.fiscal import month_key, parse_month, wareki_month
from kpisheet.domain.model import is_readable
from kpisheet.fileio import sha256_file, sha256_or_empty
from kpisheet import ledger as led
from kpisheet.ledger.plans import approved_plans
from kpisheet.runtime import gc_paused
from kpisheet.template.meta import plan_version
from kpisheet.write import outputs
from kpisheet.write.outputs import OutputResult, run_summary

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from kpisheet.domain.plan import PlanSubmission
    from kpisheet.domain.settings import HqSettings

Progress = Callable[[str], None]


# ---------------------------------------------------------------- results and failures
@dataclass
class MonthResult:
    """What a month's run made: the consolidation (with what the ledger added), the outputs
    written and findings about writing them, and what the ledger recorded."""

    consolidation: Consolidation
    outputs: OutputResult
    record: led.RunRecord | None = None  # None: no ledger (or a rebuilt month)
    rebuilt_from: tuple[str, int] | None = None  # (ledger, run id) of a month rebuilt from the ledger
    mismatches: list[Finding] = field(default_factory=list)  # a rebuilt output differing from the record (L109)

    def to_dict(self) -> dict[str, Any]:
        """The run summary (`kpisheet consolidate --json`)."""
        summary = run_summary(self.consolidation, self.outputs)
        if self.record is not None:
            summary["ledger"] = self.record.to_dict()
        if self.rebuilt_from is not None:
            summary["rebuilt_from"] = {"ledger": self.rebuilt_from[0], "run_id": self.rebuilt_from[1],
                                       "findings": [f.to_dict() for f in self.mismatches]}
        return summary


class NothingReadable(Exception):
    """No workbook of the inbox could be read: nothing was written."""

    def __init__(self, inbox: Path, findings: list[Finding]):
        self.inbox, self.findings = Path(inbox), findings
        super().__init__(f"no readable workbook in {inbox}")


class WrongFiscalYear(Exception):
    """The inbox holds workbooks, but none of the fiscal year asked for: nothing was written."""

    def __init__(self, inbox: Path, fiscal_year: int, years: list[int]):
        self.inbox, self.fiscal_year, self.years = Path(inbox), fiscal_year, years
        super().__init__(f"the workbooks in {inbox} are for FY{years}, none for FY{fiscal_year}")


CODES = frozenset({"E209", "L117"})  # a --month the inbox's workbooks do not hold (WrongMonth); close_month

MONTH_GUARD_SHARE = 0.5  # WrongMonth when more than this share of the workbooks hold figures after --month


class WrongMonth(Exception):
    """--month does not match the inbox: most workbooks hold figures after it, or none holds one
    for it (`finding`: E209, naming the month they hold).  Nothing was written."""

    def __init__(self, inbox: Path, month: date, held: date, after: int, with_month: int, total: int):
        self.inbox, self.month, self.held = Path(inbox), month, held
        self.after, self.with_month, self.total = after, with_month, total
        if with_month == 0:
            reason = f"{wareki_month(month)}の値があるブックは{total}件中0件"
            reason_en = f"none of the {total} workbooks holds a figure for {month_key(month)}"
        else:
            reason = f"{total}件中{after}件のブックに{wareki_month(month)}より後の月の値があります"
            reason_en = f"{after} of {total} workbooks hold figures after {month_key(month)}"
        self.finding = finding("E209", file=str(inbox), value=month_key(month), reason=reason, reason_en=reason_en,
                               expected=wareki_month(held), expected_key=month_key(held))
        super().__init__(self.finding.message_en)


class OutputWriteError(Exception):
    """An output could not be written (`error`: the OSError, e.g. a full disk); nothing was written,
    unless `pending`: the run was recorded and its publication stopped part way, which the next run
    into the folder completes."""

    def __init__(self, outdir: Path, error: OSError, *, pending: bool = False):
        self.outdir, self.error, self.pending = Path(outdir), error, pending
        super().__init__(f"cannot write into {outdir}: {error}")


class Hooks(Protocol):
    """What a caller may show while a month runs (the CLI's progress on a terminal); RunHooks does nothing."""

    def reading(self) -> None: ...

    def consolidated(self, cons: Consolidation) -> None: ...

    def writing(self, steps: int) -> ContextManager[Progress | None]: ...


class RunHooks:
    """Hooks that show nothing (the default)."""

    def reading(self) -> None:
        """The inbox is about to be read."""

    def consolidated(self, cons: Consolidation) -> None:
        """The month is consolidated; nothing is written yet."""

    @contextlib.contextmanager
    def writing(self, steps: int) -> Iterator[Progress | None]:
        """The outputs are written in `steps` steps; yield what each finished step calls."""
        yield None


# ---------------------------------------------------------------- the run from the inbox
def run_month(inbox: Path, fiscal_year: int, month: str | date, out_dir: Path, *, baseline: Path | None = None,
              targets: Path | None = None, settings: HqSettings | None = None, ledger: Path | None = None,
              force: bool = False, hooks: Hooks | None = None, month_check: bool = True,
              plans: Mapping[str, PlanSubmission] | None = None) -> MonthResult:
    """Consolidate the month's workbooks in `inbox`, write every output into `out_dir` and, with
    `ledger`, record the run there (see the module docstring).  `settings` (HQ's settings file)
    give the deadline; without `force`, existing outputs raise OutputExistsError.  `month_check`
    False consolidates a month the workbooks do not match (an earlier month from later files).
    `plans` are the branches' approved 事業計画 by branch code (approved_plans_from_ledger): their
    targets and the national target they imply rate the month (target source 「事業計画の目標」)."""
    hooks = hooks or RunHooks()
    as_of = _as_date(month)
    if ledger is not None:
        check_month_open(Path(ledger), fiscal_year, as_of)
    with gc_paused():  # one pause from reading to the last output (see runtime.gc_paused)
        hooks.reading()
        cons = consolidate(inbox, fiscal_year=fiscal_year, month=as_of, baseline_path=baseline,
                           targets_path=targets, settings=settings, plans=plans)
        hooks.consolidated(cons)
        _check_usable(Path(inbox), cons)
        if month_check:
            check_month_held(Path(inbox), cons)
        options = {"inbox": str(inbox), "output": str(out_dir), "force": force,
                   "baseline": _file_option(baseline), "targets": _file_option(targets)}
        if cons.plans:  # which approved version of each branch's plan the run used
            options["plans"] = {code: plan_version(p) for code, p in sorted(cons.plans.items())}
        if ledger is None:
            return MonthResult(cons, _write(cons, Path(out_dir), force, hooks))
        return _write_and_record(cons, Path(out_dir), force, Path(ledger), options, hooks)


def check_month_open(ledger: Path, fiscal_year: int, month: date) -> None:
    """L104 when the ledger has closed `month` (a closed month is not consolidated again)."""
    if not ledger.exists():
        return  # created when the run is recorded
    with led.opened(ledger) as book:
        led.check_open(book, fiscal_year, month_key(month))


def consolidate(inbox: Path, *, fiscal_year: int, month: str | date, baseline_path: Path | None = None,
                targets_path: Path | None = None, settings: HqSettings | None = None,
                plans: Mapping[str, PlanSubmission] | None = None) -> Consolidation:
    """Read, validate and consolidate every workbook of `inbox` for the reporting month (no ledger,
    no output).  `settings` (HQ's settings file) gives the deadline late submissions are judged by;
    `plans` the branches' approved 事業計画 (by branch code)."""
    from kpisheet.check.validation import validate

    as_of = _as_date(month)
    result = validate([Path(inbox)], fiscal_year=fiscal_year, as_of=as_of)
    files = [Path(f) for f in result.files]
    baselines, base_findings = read_value_file(baseline_path, fiscal_year)
    targets, target_findings = read_value_file(targets_path, fiscal_year, kind="targets")
    return build_consolidation(result.every_submission, [*result.findings, *base_findings, *target_findings],
                               fiscal_year=fiscal_year, month=as_of, baselines=baselines, targets=targets,
                               input_files=files, settings=settings, plans=plans)


def approved_plans_from_ledger(ledger: Path, fiscal_year: int) -> dict[str, PlanSubmission]:
    """{branch code: approved PlanSubmission} of `fiscal_year` in `ledger` (for generate --plan and
    consolidate --plan)."""
    with led.opened(Path(ledger)) as book:
        return dict(approved_plans(book, fiscal_year))


def read_value_file(path: Path | None, fiscal_year: int, *, kind: Literal["baseline", "targets"] = "baseline"
                    ) -> tuple[dict[tuple[str, str], float], list[Finding]]:
    """A --baseline (or --targets) file as {(branch code, KPI id): value}; branch 'ALL' is the nation."""
    if path is None:
        return {}, []
    from kpisheet.read.value_tables import read_value_table

    table = read_value_table(Path(path), fiscal_year, kind=kind)
    out: dict[tuple[str, str], float] = {}
    for key, value in table.values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[(str(key[0]), str(key[1]))] = float(value)
    return out, list(table.findings)


def _as_date(month: str | date) -> date:
    return month.replace(day=1) if isinstance(month, date) else parse_month(month)


def _check_usable(inbox: Path, cons: Consolidation) -> None:
    """NothingReadable or WrongFiscalYear: the national workbook would say nothing."""
    sent = [s for s in cons.submissions if s.branch_code]
    if not sent:
        raise NothingReadable(inbox, cons.findings)
    readable = [s for s in sent if is_readable(s)]
    if readable and not any(s.fiscal_year == cons.fiscal_year for s in readable):
        raise WrongFiscalYear(inbox, cons.fiscal_year, sorted({s.fiscal_year for s in readable if s.fiscal_year}))
    # files of known branches that could not be read, and nothing else: the run goes on, each of those
    # branches is 提出あり・読込不可 and gets its feedback saying why (no year to name from them)


def check_month_held(inbox: Path, cons: Consolidation) -> None:
    """WrongMonth when the workbooks of the fiscal year mostly hold figures after the reporting month
    (more than MONTH_GUARD_SHARE of them), or none holds a figure for it while some hold figures."""
    from kpisheet.check.rules.months import holds_month, last_reported_month

    subs = [s for s in cons.submissions if s.branch_code and s.fiscal_year == cons.fiscal_year]
    last = [d for d in (last_reported_month(s) for s in subs) if d is not None]
    if not last:
        return  # no figures at all: nothing to say which month they hold
    with_month = sum(1 for s in subs if holds_month(s, cons.month_key))
    after = sum(1 for d in last if d > cons.month)
    if after > MONTH_GUARD_SHARE * len(subs) or with_month == 0:
        held = max(set(last), key=lambda d: (last.count(d), d))  # the month most files reach (the later on a tie)
        raise WrongMonth(inbox, cons.month, held, after, with_month, len(subs))


def _file_option(path: Path | None) -> dict[str, str] | None:
    return None if path is None else {"path": str(path), "sha256": sha256_file(path)}


def _write_and_record(cons: Consolidation, out_dir: Path, force: bool, ledger: Path, options: dict[str, Any],
                      hooks: Hooks) -> MonthResult:
    """Record the run, then publish its outputs: in the ledger's one transaction the outputs are
    written into a staging folder (what the ledger knows goes into them) and the run recorded; only
    after COMMIT are they renamed into place.  So a visible output is always a recorded run's: a run
    that fails or is killed before COMMIT (a full disk at COMMIT included: L115) publishes nothing,
    and one killed after COMMIT, part way through publishing, is completed by the next run into the
    folder (kpisheet.write.outputs.repair; `close` refuses the month until then, L117)."""
    created = led.create_ledger(ledger)
    token = secrets.token_hex(16)
    options = {**options, led.PUBLICATION_OPTION: token}
    try:
        with led.opened(ledger) as book, _output_errors(out_dir), \
                outputs.staging_for(cons, out_dir, force=force) as folder:
            with book.transaction():
                led.check_open(book, cons.fiscal_year, cons.month_key)  # closed meanwhile?
                plan = led.attach(book, cons)
                cons = led.with_changes(book, plan.applied_to(cons))
                staged = _stage(cons, folder, force, hooks)
                record = led.record_run(book, cons, plan, staged.finals, options, staged.staged_of)
                # the journal before COMMIT: a run killed after COMMIT is completed by the next one,
                # one killed before it (its token not in the ledger) is removed by the next one
                outputs.mark_ready(staged, ledger=ledger, token=token if record.run_id is not None else None)
            try:
                return MonthResult(cons, outputs.publish(staged), record)
            except OSError as exc:  # recorded: the staging folder is kept for the next run to complete
                raise OutputWriteError(out_dir, exc, pending=folder.keep) from exc
    except BaseException:
        if created:  # a ledger this failed run created holds nothing: leave no file
            led.remove_unused_ledger(ledger)
        raise


def _write(cons: Consolidation, out_dir: Path, force: bool, hooks: Hooks) -> OutputResult:
    with _output_errors(out_dir), outputs.staging_for(cons, out_dir, force=force) as folder:
        staged = _stage(cons, folder, force, hooks)
        outputs.mark_ready(staged)
        return outputs.publish(staged)


def _stage(cons: Consolidation, folder: outputs.StagingFolder, force: bool, hooks: Hooks) -> outputs.Staged:
    steps = 2 + sum(1 for s in cons.submissions if s.branch_code)
    with hooks.writing(steps) as progress:
        return outputs.stage(cons, folder, force=force, progress=progress)


@contextlib.contextmanager
def _output_errors(out_dir: Path) -> Iterator[None]:
    """An OSError writing or publishing the outputs (a full disk, a folder that cannot be written) as
    OutputWriteError; the ledger's own are findings already (L115, L116)."""
    try:
        yield
    except OSError as exc:
        raise OutputWriteError(out_dir, exc) from exc


# ---------------------------------------------------------------- a month from the ledger
def rebuild_month(fiscal_year: int, month: str | date, out_dir: Path, *, ledger: Path,
                  settings: HqSettings | None = None, force: bool = False) -> MonthResult:
    """The month's national workbook and CSV from the ledger alone, as its published run made them
    (HQ's `settings`, as for a run from the inbox, give the deadline the recorded arrivals are
    judged by).  A CSV that differs from the one recorded is an L109 finding in `mismatches`."""
    key = month_key(_as_date(month))
    with led.opened(Path(ledger)) as book:
        cons, run_id = led.rebuild(book, fiscal_year, key, settings=settings)
        recorded = led.recorded_outputs(book, run_id)
    try:
        written = outputs.write_rebuilt(cons, Path(out_dir), force=force, recorded=recorded)
    except OSError as exc:
        raise OutputWriteError(Path(out_dir), exc) from exc
    return MonthResult(cons, OutputResult(written.paths), rebuilt_from=(str(ledger), run_id),
                       mismatches=written.findings)


# ---------------------------------------------------------------- closing a month
def close_month(book: led.Ledger, fiscal_year: int, month: str) -> tuple[bool, str]:
    """Close a reporting month at its last recorded run (ledger.close_month), refusing (L117) while the
    outputs visible in that run's output folder are not the ones it recorded: its publication was
    cut short (a staging folder with a journal is still there), or the folder holds the analysts' CSV
    of another run, or none.  A folder that no longer exists (moved, or named relative to another
    working folder) cannot be checked and does not stop the close."""
    closed = book.query("SELECT 1 FROM closed_months WHERE fiscal_year = ? AND month = ?", [fiscal_year, month])
    if not closed:
        check_published(book, fiscal_year, month)
    return led.close_month(book, fiscal_year, month)


def check_published(book: led.Ledger, fiscal_year: int, month: str) -> None:
    """L117 when the month's last recorded run's outputs are not the ones visible (see close_month)."""
    import json

    rows = book.query("SELECT id, options FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? AND month = ? "
                      "ORDER BY id DESC LIMIT 1", [fiscal_year, month])
    if not rows:
        return  # ledger.close_month says so (L105)
    run_id, options = rows[0]
    try:
        folder = Path(str(json.loads(options).get("output") or ""))
    except (ValueError, AttributeError):
        return
    if not str(folder) or not folder.is_dir():
        return
    reason = _unpublished(book, int(run_id), folder, outputs.output_names(fiscal_year, parse_month(month))["csv"])
    if reason is not None:
        raise KpisheetError([finding("L117", path=str(book.path), folder=str(folder), fiscal_year=fiscal_year,
                                     month=month, value=run_id, reason=reason[0], reason_en=reason[1])])


def _unpublished(book: led.Ledger, run_id: int, folder: Path, csv_name: str) -> tuple[str, str] | None:
    """(ja, en) why the run's recorded outputs are not the ones in `folder`, or None when they are."""
    if outputs.publication_pending(folder):
        return ("出力の公開が途中で止まっています", "a publication was cut short")
    recorded = led.recorded_outputs(book, run_id).get(csv_name)
    if recorded is None:
        return None
    shown = sha256_or_empty(folder / csv_name)
    if not shown:
        return (f"{csv_name} がありません", f"{csv_name} is missing")
    if shown != recorded:
        return (f"{csv_name} が記録された集計のものではありません", f"{csv_name} is not the recorded run's")
    return None
