"""Writing a run's outputs: the national workbook, the lists and 実施状況 workbooks, the analysts' CSV (and
its xlsx copy) and the branch feedback files.

One run at a time per output folder.  `write_outputs` holds an exclusive lock
(`fcntl.flock` on OUTDIR/.kpisheet.lock) while it checks and writes; a second
run waits up to `LOCK_WAIT` seconds, then gives up with OutputLockedError.
Where fcntl does not exist (Windows) there is no lock: there, never start two
consolidations into one folder at the same time.

All or nothing.  Every output is first written into a staging folder inside
OUTDIR (`.kpisheet-staging-*`) and renamed into place only when all of them
were written (with a ledger: only after the run is recorded), with
SIGINT/SIGTERM/SIGHUP held back during the renames; so a failed or interrupted
run leaves the folder as it was.  Before the renames the staging folder gets a
journal; a run killed part way through them (SIGKILL, a power cut) is completed
by the next run into the folder, and staging folders of runs killed before
that point are removed by it (`repair`, and the comment above JOURNAL).  The
staging folder is removed on every other way out.

One branch's feedback file that cannot be written (anything but a full disk)
becomes an E190 finding (E110 for an OSError) on that branch's file (see
kpisheet.domain.failures); the run goes on.

`write_rebuilt` writes a month rebuilt from the ledger (the national workbook,
the CSV and its xlsx copy only) under the same lock, staging and commit.

With force, outputs of the same fiscal year and month that this run did not
write - e.g. the feedback file of a branch whose workbook has left the inbox -
are removed.  Only names this module or `feedback.feedback_path` would write
for that month are ever removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from kpisheet.consolidate.model import Consolidation
from kpisheet.domain.failures import failure_finding, is_internal
from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.fiscal import month_key
from kpisheet.domain.model import Submission
from kpisheet.fileio import OutputExistsError, is_disk_full, sha256_or_empty
from kpisheet.runtime import STOP_SIGNALS, ForkedCall, WorkQueue, fork_cpus
from kpisheet.write.csvout import csv_rows, write_kpi_values_csv, write_kpi_values_xlsx
from kpisheet.write.feedback.build import feedback_name_pattern, feedback_path, write_feedback
from kpisheet.write.report import lists_name, write_lists, write_national
from kpisheet.write.report.plan_status import plan_status_name, write_all_plan_status

CODES = frozenset({"L109"})  # a rebuilt month differing from the ledger's record; and E110 / E190 (domain.failures)
LOCK_NAME = ".kpisheet.lock"
STAGING_PREFIX = ".kpisheet-staging-"
LOCK_WAIT = 5.0  # seconds a second run waits for the first one
FEEDBACK_DIR = "feedback"


class OutputLockedError(Exception):
    """Another run is writing into the same output folder."""

    def __init__(self, outdir: Path):
        self.outdir = Path(outdir)
        super().__init__(f"another kpisheet run is writing into {outdir}")


class OutputCollisionError(RuntimeError):
    """Two outputs of one run would get the same file name (a kpisheet bug, never hidden)."""


@dataclass
class OutputResult:
    """The files a run wrote (national workbook, CSV, feedback files) and findings about writing them."""

    paths: list[Path]
    findings: list[Finding] = field(default_factory=list)


def output_names(fiscal_year: int, month: date) -> dict[str, str]:
    tag = f"FY{fiscal_year}_{month_key(month)}"
    return {"national": f"national_{tag}.xlsx", "lists": lists_name(fiscal_year, month_key(month)),
            "plan_status": plan_status_name(fiscal_year, month_key(month)), "csv": f"kpi_values_{tag}.csv",
            "values_xlsx": f"kpi_values_{tag}.xlsx", "tag": tag}


def run_summary(cons: Consolidation, result: OutputResult) -> dict[str, Any]:
    """The run summary with the outputs and their findings (what `consolidate --json` prints)."""
    summary = cons.summary(result.paths)
    summary["output_findings"] = [f.to_dict() for f in result.findings]
    # failures inside kpisheet (E190), whichever stage met them: the run exits non-zero and names them
    summary["internal_errors"] = [f.to_dict() for f in [*cons.findings, *result.findings] if is_internal(f)]
    return summary


def feedback_submissions(cons: Consolidation) -> list[Submission]:
    """The submissions that get a feedback workbook."""
    return [s for s in cons.submissions if s.branch_code and Path(s.path).is_file()]


def planned_paths(cons: Consolidation, outdir: Path) -> list[Path]:
    """Every file `write_outputs` would write into `outdir`; raise OutputCollisionError on a clash."""
    names = output_names(cons.fiscal_year, cons.month)
    planned = [*(Path(outdir) / names[k] for k in HQ_OUTPUTS), *(Path(outdir) / names[k] for k in VALUE_OUTPUTS),
               *(feedback_path(cons, s, Path(outdir)) for s in feedback_submissions(cons))]
    seen: set[Path] = set()
    for p in planned:
        if p in seen:
            raise OutputCollisionError(f"two outputs of one run would both be written to {p}")
        seen.add(p)
    return planned


def write_outputs(cons: Consolidation, outdir: Path, *, force: bool,
                  progress: Callable[[str], None] | None = None, parallel: bool | None = None,
                  created: datetime | None = None, lock_wait: float | None = None) -> OutputResult:
    """Write the national workbook, the CSV and every branch's feedback workbook (see the module docstring).

    `created` is the national workbook's creation time (default: now); with it fixed, the same
    Consolidation gives the same bytes in every output.  Without `force`, existing outputs raise
    OutputExistsError (naming all of them) before anything is written.  With two or more CPUs (and
    fork) the national workbook is written in a forked child while this process writes the rest;
    `parallel` forces either way.  A run with a ledger stages, records, then publishes
    (`staging_for`, `stage`, `mark_ready`, `publish`); this is the same without the record.
    """
    with staging_for(cons, outdir, force=force, wait=lock_wait) as folder:
        staged = stage(cons, folder, force=force, progress=progress, parallel=parallel, created=created)
        mark_ready(staged)
        return publish(staged)


def write_rebuilt(cons: Consolidation, outdir: Path, *, force: bool, recorded: dict[str, str],
                  created: datetime | None = None) -> OutputResult:
    """Write the national workbook and the CSV (with its xlsx copy) of a month rebuilt from the ledger (no feedback: the
    branches' files are not the ledger's), all or nothing as write_outputs does.  `recorded` is
    {file name: sha256} of what the month's run wrote; a CSV that differs is an L109 finding."""
    outdir = Path(outdir)
    names = output_names(cons.fiscal_year, cons.month)
    finals = [outdir / names["national"], outdir / names["csv"], outdir / names["values_xlsx"]]
    with _staging(outdir, finals, force=force) as folder:
        staging = folder.path
        staged = [write_national(cons, staging / names["national"], force=True, created=created),
                  *write_value_tables(cons, staging, created)]
        findings = _compare_with_record(cons, staged[1], recorded)
        ready = Staged(folder, list(zip(staged, finals, strict=True)), [], findings)
        mark_ready(ready)
        return publish(ready)


def _compare_with_record(cons: Consolidation, csv_path: Path, recorded: dict[str, str]) -> list[Finding]:
    want = recorded.get(csv_path.name)
    if want is None or want == sha256_or_empty(csv_path):
        return []
    return [finding("L109", file=str(csv_path), month=cons.month_key, value=csv_path.name,
                    reason="sha256が記録と異なります / sha256 differs from the record")]


# ---------------------------------------------------------------- staging, publishing, repairing
# A run's outputs become visible in three steps, so that a run killed at any moment (SIGKILL, a
# power cut: nothing runs on the way out) leaves either the previous outputs or its own, never a
# mix, once the next run into the folder has started:
#
# 1. every output is written into a staging folder `.kpisheet-staging-*` inside the output folder;
# 2. the staging folder gets a journal (JOURNAL: which staged file becomes which output, which
#    outputs of the month are then stale, and - with a ledger - the run's publication token),
#    written and flushed to disk; with a ledger the run is then committed (kpisheet.month);
# 3. the staged files are renamed into place (SIGINT/SIGTERM/SIGHUP held back), stale ones
#    removed, and the staging folder with its journal removed.
#
# The next run into the folder (under its lock, before anything else) looks at every staging
# folder left there: one with a journal whose run was committed (or that needs no ledger) is a
# publication cut short, and is completed - the renames not yet done are done; any other was
# never committed (killed while writing, or before the ledger's COMMIT) and is removed.
JOURNAL = ".publish.json"


@dataclass
class StagingFolder:
    """The staging folder of one run; `keep` leaves it (and its journal) for the next run to complete."""

    path: Path
    outdir: Path
    keep: bool = False


@dataclass
class Staged:
    """The outputs of a run, written into its staging folder and not yet visible."""

    folder: StagingFolder
    pairs: list[tuple[Path, Path]]  # (staged file, the output it becomes)
    stale: list[Path]  # outputs of the month this run did not write, removed when it publishes (force)
    findings: list[Finding] = field(default_factory=list)

    @property
    def finals(self) -> list[Path]:
        return [final for _, final in self.pairs]

    @property
    def staged_of(self) -> dict[Path, Path]:
        """{output: its staged file} (what a ledger records the sha256 of before it is published)."""
        return {final: staged for staged, final in self.pairs}


@contextlib.contextmanager
def staging_for(cons: Consolidation, outdir: Path, *, force: bool, wait: float | None = None
                ) -> Iterator[StagingFolder]:
    """The folder's lock and a staging folder for the run's outputs (see `_staging`)."""
    outdir = Path(outdir)
    with _staging(outdir, planned_paths(cons, outdir), force=force, wait=wait) as folder:
        yield folder


@contextlib.contextmanager
def staging_in(outdir: Path, planned: list[Path], *, force: bool, wait: float | None = None
               ) -> Iterator[StagingFolder]:
    """The folder's lock and a staging folder for outputs that are not a month's (`plan collect`): what
    killed runs left is completed or removed, existing `planned` outputs without force raise
    OutputExistsError (see `_staging`); fill it, then `Staged(folder, pairs, [])`, `mark_ready`, `publish`."""
    with _staging(Path(outdir), planned, force=force, wait=wait) as folder:
        yield folder


def stage(cons: Consolidation, folder: StagingFolder, *, force: bool, progress: Callable[[str], None] | None = None,
          parallel: bool | None = None, created: datetime | None = None) -> Staged:
    """Write every output of `cons` into the staging folder (nothing visible yet)."""
    staged, findings = _write_staged(cons, folder.path, progress or (lambda _label: None), parallel, created)
    pairs = [(p, folder.outdir / p.relative_to(folder.path)) for p in staged]
    stale = stale_outputs(cons, folder.outdir, [final for _, final in pairs]) if force else []
    return Staged(folder, pairs, stale, findings)


def mark_ready(staged: Staged, *, ledger: Path | None = None, token: str | None = None) -> None:
    """Write the staging folder's journal and flush it to disk: from here on the next run completes
    this publication if it is cut short - with `token`, only when the ledger at `ledger` recorded a
    run with that publication token (the run committed)."""
    folder = staged.folder
    data = {"pairs": [[str(s.relative_to(folder.path)), str(f.relative_to(folder.outdir))] for s, f in staged.pairs],
            "stale": [str(p.relative_to(folder.outdir)) for p in staged.stale],
            "ledger": None if ledger is None else str(Path(ledger).resolve()), "token": token}
    path = folder.path / JOURNAL
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(folder.path)


def publish(staged: Staged) -> OutputResult:
    """Rename the staged outputs into place and remove the stale ones, with SIGINT/SIGTERM/SIGHUP held
    back; the journal goes last (with the staging folder).  An OSError part way (the folder became
    read-only, ...) keeps the staging folder: the next run completes the publication."""
    try:
        with signals_deferred():
            written = _commit(staged.pairs)
            for stale in staged.stale:
                stale.unlink(missing_ok=True)
    except OSError:
        staged.folder.keep = (staged.folder.path / JOURNAL).exists()
        raise
    return OutputResult(written, staged.findings)


def repair(outdir: Path, committed: Callable[[str, str], bool | None] | None = None) -> list[Path]:
    """Complete or remove what runs killed in `outdir` left (caller holds the folder's lock): a staging
    folder whose journal needs no ledger, or whose run `committed(ledger, token)` says was recorded,
    is published; one the ledger cannot tell about (None: unreadable just now) is left for later;
    every other one is removed.  Returns the outputs this published."""
    committed = committed or _committed
    done: list[Path] = []
    for folder in sorted(Path(outdir).glob(STAGING_PREFIX + "*")):
        if not folder.is_dir():
            continue
        journal = _read_journal(folder / JOURNAL)
        if journal is not None:
            verdict = _verdict(journal, committed)
            if verdict is None:
                continue
            if verdict:
                done += _complete(folder, Path(outdir), journal)
        shutil.rmtree(folder, ignore_errors=True)
    return done


def publication_pending(outdir: Path) -> bool:
    """A publication cut short waits in `outdir` for the next run to complete it: a staging folder
    whose journal needs no ledger or names a run the ledger recorded (or cannot tell about now)."""
    folder = Path(outdir)
    if not folder.is_dir():
        return False
    for staging in folder.glob(STAGING_PREFIX + "*"):
        journal = _read_journal(staging / JOURNAL) if staging.is_dir() else None
        if journal is not None and _verdict(journal, _committed) is not False:
            return True
    return False


def _verdict(journal: dict[str, Any], committed: Callable[[str, str], bool | None]) -> bool | None:
    """Whether a journal's publication is to be completed (None: its ledger cannot tell now)."""
    token = journal.get("token")
    return True if token is None else committed(str(journal.get("ledger")), str(token))


def _read_journal(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none (killed before it was written) or cut short while writing: never committed
    return data if isinstance(data, dict) and isinstance(data.get("pairs"), list) else None


def _complete(folder: Path, outdir: Path, journal: dict[str, Any]) -> list[Path]:
    """The renames of a publication cut short that were not done yet (a staged file already renamed
    is gone from the staging folder), then its stale outputs removed."""
    pairs = []
    for staged, final in journal["pairs"]:
        source, target = folder / staged, outdir / final
        if _inside(source, folder) and _inside(target, outdir) and source.is_file():
            pairs.append((source, target))
    with signals_deferred():
        written = _commit(pairs)
        for stale in journal.get("stale") or []:
            if _inside(outdir / stale, outdir):
                (outdir / stale).unlink(missing_ok=True)
    return written


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.normpath(path)).is_relative_to(os.path.normpath(folder))


def _committed(ledger: str, token: str) -> bool | None:
    """Whether the ledger recorded the run of publication `token` (None: it cannot be read now)."""
    from kpisheet.ledger import publication_recorded

    return publication_recorded(Path(ledger), token)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every system lets a folder be opened (Windows)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _staging(outdir: Path, planned: list[Path], *, force: bool, wait: float | None = None) -> Iterator[StagingFolder]:
    """Under the folder's lock: what killed runs left is completed or removed (`repair`), then
    OutputExistsError for outputs that exist (without force), else a staging folder inside `outdir`,
    removed on every way out unless a publication cut short must be completed by the next run."""
    outdir.mkdir(parents=True, exist_ok=True)
    with output_lock(outdir, LOCK_WAIT if wait is None else wait):
        repair(outdir)
        existing = [p for p in planned if p.exists()]
        if existing and not force:
            raise OutputExistsError(*existing)
        folder: StagingFolder | None = None
        try:
            with signals_deferred():  # a signal between creating the folder and owning it would leave it
                folder = StagingFolder(Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=outdir)), outdir)
            yield folder
        finally:
            if folder is not None and not folder.keep:
                shutil.rmtree(folder.path, ignore_errors=True)


def _write_staged(cons: Consolidation, staging: Path, step: Callable[[str], None], parallel: bool | None,
                  created: datetime | None) -> tuple[list[Path], list[Finding]]:
    names = output_names(cons.fiscal_year, cons.month)
    hq = [staging / names[k] for k in HQ_OUTPUTS]
    subs = feedback_submissions(cons)
    findings: list[Finding] = []
    if parallel is None:
        parallel = fork_cpus() >= 2 and bool(subs)
    if not parallel:
        write_hq_workbooks(cons, hq, created)
        step("national")
        return [*hq, *_write_rest(cons, staging, subs, step, findings, created)], findings
    # The child writes the HQ workbooks, then joins this process in writing the feedback files,
    # taking them one at a time from a shared queue, so both finish at about the same time.
    queue = WorkQueue(len(subs) if len(subs) <= WorkQueue.MAX else 0)
    job = ForkedCall(_hq_then_feedback, cons, hq, created, staging, subs, queue)
    try:
        rest = write_value_tables(cons, staging, created)
        step("csv")
        done: dict[int, tuple[Path | None, Finding | None]] = {}
        for i in queue:
            done[i] = feedback_guarded(cons, subs[i], staging)
            step(subs[i].branch_code or "")
        theirs = job.result()
    finally:
        job.stop()  # already ended unless the rest failed or the run was interrupted
        queue.close()
    for i in sorted(theirs):
        step(subs[i].branch_code or "")
    done.update(theirs)
    for i, sub in enumerate(subs):
        if i not in done:  # a queue too long for the pipe (thousands of files): written here
            done[i] = feedback_guarded(cons, sub, staging)
            step(sub.branch_code or "")
        path, failed = done[i]
        rest += [path] if path is not None else []
        findings += [failed] if failed is not None else []
    step("national")
    return [*hq, *rest], findings


def _hq_then_feedback(cons: Consolidation, hq: list[Path], created: datetime | None, staging: Path,
                      subs: list[Submission], queue: WorkQueue) -> dict[int, tuple[Path | None, Finding | None]]:
    """In the forked child: the HQ workbooks, then feedback files from the queue until it is empty."""
    write_hq_workbooks(cons, hq, created)
    return {i: feedback_guarded(cons, subs[i], staging) for i in queue}


# the workbooks HQ reads, written together (in a forked child when there are two CPUs)
HQ_OUTPUTS = ("national", "lists", "plan_status")


def write_hq_workbooks(cons: Consolidation, paths: list[Path], created: datetime | None) -> None:
    """The national workbook, the lists workbook and every branch's 実施状況, in HQ_OUTPUTS order."""
    national, lists, plan_status = paths
    write_national(cons, national, force=True, created=created)
    write_lists(cons, lists, force=True, created=created)
    write_all_plan_status(cons, plan_status, force=True, created=created)


# the analysts' table: the CSV and its xlsx copy
VALUE_OUTPUTS = ("csv", "values_xlsx")


def write_value_tables(cons: Consolidation, staging: Path, created: datetime | None) -> list[Path]:
    """The analysts' CSV and its xlsx copy (VALUE_OUTPUTS order)."""
    names = output_names(cons.fiscal_year, cons.month)
    rows = csv_rows(cons)
    return [write_kpi_values_csv(cons, staging / names["csv"], force=True, rows=rows),
            write_kpi_values_xlsx(cons, staging / names["values_xlsx"], force=True, created=created, rows=rows)]


def _write_rest(cons: Consolidation, staging: Path, subs: list[Submission],
                step: Callable[[str], None], findings: list[Finding], created: datetime | None) -> list[Path]:
    written = write_value_tables(cons, staging, created)
    step("csv")
    for sub in subs:
        path, failed = feedback_guarded(cons, sub, staging)
        written.extend([path] if path is not None else [])
        findings.extend([failed] if failed is not None else [])
        step(sub.branch_code or "")
    return written


def feedback_guarded(cons: Consolidation, sub: Submission, outdir: Path) -> tuple[Path | None, Finding | None]:
    """One branch's feedback file, or the finding on its file (E190, E110 for an OSError) when writing
    it raised; only a full disk propagates."""
    try:
        return write_feedback(cons, sub, outdir, force=True), None
    except Exception as exc:  # noqa: BLE001 - one branch's feedback never stops the run
        if is_disk_full(exc):
            raise
        return None, failure_finding(sub.path, exc, branch=sub.branch_code)


def _commit(pairs: list[tuple[Path, Path]]) -> list[Path]:
    for staged, final in pairs:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
    return [final for _, final in pairs]


def stale_outputs(cons: Consolidation, outdir: Path, written: list[Path]) -> list[Path]:
    """Outputs of this fiscal year and month in `outdir` that are not among `written`."""
    names = output_names(cons.fiscal_year, cons.month)
    pattern = feedback_name_pattern(cons.fiscal_year, cons.month_key)
    candidates = [*(Path(outdir) / names[k] for k in (*HQ_OUTPUTS, *VALUE_OUTPUTS))]
    folder = Path(outdir) / FEEDBACK_DIR
    if folder.is_dir():
        candidates += sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))
    keep = set(written)
    return [p for p in candidates if p not in keep and p.is_file()]


# ---------------------------------------------------------------- one run per folder
@contextlib.contextmanager
def output_lock(outdir: Path, wait: float) -> Iterator[None]:
    """Hold OUTDIR/.kpisheet.lock exclusively; raise OutputLockedError after `wait` seconds."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock (see the module docstring)
        yield
        return
    fd = os.open(Path(outdir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputLockedError(outdir) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait until the block has finished (no-op where signals cannot be masked)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
