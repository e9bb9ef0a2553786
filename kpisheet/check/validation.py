"""Stage 4 — validate returned workbooks: the runner of the identity, schema, domain and cross-file rules.

validate(paths) lists the inbox (kpisheet.check.inbox), reads every file
(kpisheet.read.reader), then for each submission checks who and what it is for
(E2xx, kpisheet.check.rules.identity), validates the record against
schemas/submission.schema.json (kpisheet.check.rules.schema), and runs the domain rules
(kpisheet.check.rules).  Across files it decides which of a branch's several
workbooks is used (rules.identity.resubmissions) and finds values far from the other
branches (W412).  Findings are returned as data; the CLI only prints them.

Every file fails alone: an exception while reading or checking one file (in
a worker process or here) becomes a finding on that file — E110 when the file is
damaged, E190 when kpisheet itself failed (kpisheet.domain.failures) — and the run
goes on with the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from kpisheet.check import rules
from kpisheet.check.rules.identity import (  # noqa: F401  (re-exported: the runner's interface)
    SUPPORTED_TEMPLATE_VERSIONS, Resubmissions, identity_findings, names_from_path, resubmissions)
from kpisheet.check.rules.schema import SUBMISSION_SCHEMA, schema_findings, schema_record  # noqa: F401
from kpisheet.check.inbox import LOCK_PREFIXES, list_inbox
from kpisheet.domain.catalogue import Catalogue, catalogue_for_fy, load_branches, load_catalogue
from kpisheet.domain.failures import CODES as FAILURE_CODES
from kpisheet.domain.failures import failure_finding
from kpisheet.domain.findings import Finding, KpisheetError, has_errors
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.model import Submission, is_readable
from kpisheet.read.reader import read_workbook
from kpisheet.runtime import FAILED, fork_cpus, share_map
from kpisheet.schema_check import is_valid


@dataclass
class ValidationResult:
    """The files read, their submissions and every finding of the run.

    `submissions` holds only the readable, checked submissions (in input order).
    `unreadable` holds one stub per file that could not be read or checked (E1xx,
    E201, or E110 / E190 for an exception): no values, `term`/`fiscal_year` None (so
    `model.is_readable` is False), `branch_code` from the file's content if that
    much was read, else from its file name (never for lock files), and the file's
    findings (with that branch).  The stubs let a run say which branch sent a
    file it could not read and tell that branch why.
    """

    submissions: list[Submission] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unreadable: list[Submission] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return has_errors(self.findings)

    @property
    def every_submission(self) -> list[Submission]:
        """Readable submissions and unreadable stubs together, in input order."""
        order = {f: i for i, f in enumerate(self.files)}
        return sorted([*self.submissions, *self.unreadable], key=lambda s: order.get(s.path, len(order)))

    def to_dict(self) -> dict[str, Any]:
        errors = sum(1 for f in self.findings if f.is_error)
        return {"files": self.files, "submissions": len(self.submissions),
                "errors": errors, "warnings": len(self.findings) - errors,
                "findings": [f.to_dict() for f in self.findings]}


# ------------------------------------------------------------------ public API
def validate(paths: Iterable[Path | str], *, fiscal_year: int | None = None,
             as_of: str | date | None = None) -> ValidationResult:
    """Read and validate files and folders of returned workbooks (see ValidationResult).

    Folders are listed by kpisheet.check.inbox.list_inbox; its W101/W102 findings about
    files not read come first.  Files are independent, so with many files and
    several CPUs they are read and checked in worker processes (fork); results
    come back in input order.
    """
    month = _as_month(as_of)
    files, listed = list_inbox(paths)
    result = ValidationResult(files=[str(p) for p in files], findings=list(listed))
    for sub, found in _map_files(files, fiscal_year, month):
        result.findings.extend(found)
        (result.submissions if is_readable(sub) else result.unreadable).append(sub)
    cross = cross_file_findings(result.submissions, as_of=month)
    result.findings.extend(cross)
    failed = {f.file: f for f in cross if f.code in FAILURE_CODES}
    if failed:  # checking one of them across files raised: it joins the unreadable ones
        result.unreadable.extend(unreadable_stub(s.path, s, [*s.findings, failed[s.path]])
                                 for s in result.submissions if s.path in failed)
        result.submissions = [s for s in result.submissions if s.path not in failed]
    return result


PARALLEL_MIN_FILES = 8
MAX_WORKERS = 4
CheckedFile = tuple[Submission, list[Finding]]


def _map_files(files: list[Path], fiscal_year: int | None, month: date | None) -> list[CheckedFile]:
    workers = min(fork_cpus(), MAX_WORKERS)
    if len(files) < PARALLEL_MIN_FILES or workers < 2:
        return [_check_file(p, fiscal_year, month) for p in files]
    _warm_caches(fiscal_year)  # once here, not once in every worker
    return _map_forked(files, fiscal_year, month, workers)


def _map_forked(files: list[Path], fiscal_year: int | None, month: date | None,
                workers: int) -> list[CheckedFile]:
    """_check_file of every file, here and in forked workers taking files from one queue
    (runtime.share_map); what a worker that died left undone is checked here.  An interrupt
    kills the workers before it propagates."""
    checked = share_map(partial(_check_file, fiscal_year=fiscal_year, month=month), files, workers)
    return [_check_file(path, fiscal_year, month) if result is FAILED else result
            for path, result in zip(files, checked, strict=True)]


def _warm_caches(fiscal_year: int | None) -> None:
    """Load the catalogue and compile the submission schema (~90 ms) before forking workers."""
    try:
        catalogue_for_fy(fiscal_year) if fiscal_year is not None else load_catalogue(6)
        is_valid(SUBMISSION_SCHEMA, {})
    except Exception:  # reported per file, where it matters
        return


def _check_file(path: Path, fiscal_year: int | None, month: date | None) -> CheckedFile:
    """Reader findings plus identity, schema and domain findings of one file; never raises.

    Returns the submission (a stub, see ValidationResult, when the file could not be read
    or checked) and every finding about the file.
    """
    sub: Submission | None = None
    try:
        sub = read_workbook(path)
        return _checked(sub, fiscal_year, month)
    except Exception as exc:  # whatever went wrong, it went wrong for this file only
        if os.environ.get("KPISHEET_DEBUG"):
            raise
        stub = unreadable_stub(path, sub, [*(sub.findings if sub else []), failure_finding(path, exc)])
        return stub, list(stub.findings)


def _checked(sub: Submission, fiscal_year: int | None, month: date | None) -> CheckedFile:
    found = list(sub.findings)
    if not is_readable(sub):
        stub = unreadable_stub(sub.path, sub, found)
        return stub, list(stub.findings)
    try:
        cat = load_catalogue(sub.term)
    except KpisheetError as exc:
        stub = unreadable_stub(sub.path, sub, found + exc.findings)
        return stub, list(stub.findings)
    found.extend(validate_submission(sub, cat, fiscal_year=fiscal_year, as_of=month))
    return sub, found


def branch_of_file(path: Path | str) -> str | None:
    """The branch code a file's name starts with, if it is a known one; never for lock files."""
    p = Path(path)
    if p.name.startswith(LOCK_PREFIXES):
        return None
    code = names_from_path(p)[0]
    return code if code in {b.code for b in load_branches()} else None


def unreadable_stub(path: Path | str, read: Submission | None, findings: list[Finding]) -> Submission:
    """A Submission without values for a file that could not be read or checked.

    Its branch is the one its content named, if read that far, else its file name's;
    its findings carry that branch.  `model.is_readable` is False for it (no term).
    """
    branches = {b.code: b for b in load_branches()}
    code = read.branch_code if read is not None and read.branch_code in branches else branch_of_file(path)
    return Submission(path=str(path), sha256=(read.sha256 if read is not None else "") or _digest(path),
                      template_version=None, catalogue_digest=None, term=None, fiscal_year=None,
                      branch_code=code, branch_name=branches[code].display_name if code else None,
                      findings=[f if f.branch or not code else replace(f, branch=code) for f in findings])


def _digest(path: Path | str) -> str:
    from kpisheet.fileio import sha256_file

    try:
        return sha256_file(Path(path)) if Path(path).is_file() else ""
    except OSError:
        return ""


def validate_submission(sub: Submission, catalogue: Catalogue, *, fiscal_year: int | None = None,
                        as_of: date | None = None, expected_branch: str | None = None) -> list[Finding]:
    """Identity, schema and domain findings of one submission (reader findings not repeated)."""
    out = identity_findings(sub, catalogue, fiscal_year=fiscal_year, expected_branch=expected_branch)
    out.extend(schema_findings(sub))
    out.extend(rules.check_submission(sub, catalogue, as_of=as_of))
    return out


def cross_file_findings(subs: list[Submission], *, as_of: date | None = None) -> list[Finding]:
    """Resubmissions (W207, W208, E207 when none is newer) and W412 for values far from the other branches.

    The outlier check looks at the files that are used (see `resubmissions`).  Never raises: a
    submission the outlier check fails on gets E110 and is left out of it.
    """
    chosen = resubmissions(subs)
    out = chosen.findings
    left_out = {id(s) for s in chosen.not_used}
    out.extend(_outliers_guarded([s for s in subs if id(s) not in left_out]))
    return out


def _outliers_guarded(subs: list[Submission]) -> list[Finding]:
    try:
        return rules.outliers_across_branches(subs)
    except Exception:  # find the submissions it fails on, by adding one at a time
        if os.environ.get("KPISHEET_DEBUG"):
            raise
    kept: list[Submission] = []
    found: list[Finding] = []
    failed: list[Finding] = []
    for sub in subs:
        try:
            found = rules.outliers_across_branches([*kept, sub])
        except Exception as exc:
            failed.append(failure_finding(sub.path, exc, branch=sub.branch_code))
            continue
        kept.append(sub)
    return [*found, *failed]  # found: the outliers among the submissions kept


# ------------------------------------------------------------------ CLI
def _as_month(as_of: str | date | None) -> date | None:
    if as_of is None or isinstance(as_of, date):
        return as_of.replace(day=1) if isinstance(as_of, date) else None
    return parse_month(as_of)
