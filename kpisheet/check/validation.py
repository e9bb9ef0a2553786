"""Stage 4 — validate returned workbooks: identity, schema, domain rules, cross-file checks.

validate(paths) lists the inbox (kpisheet.check.inbox), reads every file
(kpisheet.read.reader), then for each submission checks who and what it is for
(E2xx), validates the record against schemas/submission.schema.json and maps
each schema error back to the cell it came from, and runs the domain rules
(kpisheet.check.rules).  Across files it decides which of a branch's several
workbooks is used (the newest; W207 / W208 on the others, E207 when none is
newer) and finds values far from the other branches (W412).  Findings are returned as data;
the CLI only prints them.

Every file fails alone: an exception while reading or checking one file (in
a worker process or here) becomes an E110 finding on that file and the run
goes on with the others.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from kpisheet import TEMPLATE_VERSION
from kpisheet.check import rules
from kpisheet.check.inbox import LOCK_PREFIXES, list_inbox
from kpisheet.domain.catalogue import Catalogue, catalogue_for_fy, load_branches, load_catalogue
from kpisheet.domain.failures import CODES as FAILURE_CODES
from kpisheet.domain.failures import failure_finding
from kpisheet.domain.findings import Finding, KpisheetError, finding, has_errors
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.model import InputValue, Submission
from kpisheet.read.reader import is_readable, read_workbook
from kpisheet.runtime import FAILED, fork_cpus, fork_map
from kpisheet.schema_check import is_valid, iter_errors

SUPPORTED_TEMPLATE_VERSIONS = (TEMPLATE_VERSION,)
_BRANCH_IN_NAME = re.compile(r"^(\d{2})(?=[_\-\s.　]|$)")
_FY_PATTERNS = (re.compile(r"(?<!\d)(?:FY|fy)?(20\d{2})(?:年度)(?!\d)"),
                re.compile(r"(?<![A-Za-z\d])FY(20\d{2})(?!\d)", re.IGNORECASE),
                re.compile(r"令和(元|\d{1,2})年度"),
                re.compile(r"(?<![A-Za-z])R(\d{1,2})年度"))


@dataclass
class ValidationResult:
    """The files read, their submissions and every finding of the run.

    `submissions` holds only the readable, checked submissions (in input order).
    `unreadable` holds one stub per file that could not be read or checked (E1xx,
    E201, or E110 for an exception): no values, `term`/`fiscal_year` None (so
    `reader.is_readable` is False), `branch_code` from the file's content if that
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
    """_check_file of every file in forked workers (runtime.fork_map); what a worker that died
    left undone is checked here.  An interrupt kills the workers before it propagates."""
    checked = fork_map(partial(_check_file, fiscal_year=fiscal_year, month=month), files, workers)
    return [_check_file(path, fiscal_year, month) if result is FAILED else result
            for path, result in zip(files, checked)]


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
        stub = unreadable_stub(path, sub, [*(sub.findings if sub else []), error_finding(path, exc)])
        return stub, list(stub.findings)


def _checked(sub: Submission, fiscal_year: int | None, month: date | None) -> CheckedFile:
    found = list(sub.findings)
    if not is_readable(sub):
        stub = unreadable_stub(sub.path, sub, found)
        return stub, list(stub.findings)
    try:
        cat = load_catalogue(sub.term)  # type: ignore[arg-type]
    except KpisheetError as exc:
        stub = unreadable_stub(sub.path, sub, found + exc.findings)
        return stub, list(stub.findings)
    found.extend(validate_submission(sub, cat, fiscal_year=fiscal_year, as_of=month))
    return sub, found


def error_finding(path: Path | str, exc: BaseException) -> Finding:
    """E110 (damaged file) or E190 (kpisheet failed) on `path` for an exception raised while reading or
    checking it (see kpisheet.domain.failures)."""
    return failure_finding(path, exc)


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
    its findings carry that branch.  `reader.is_readable` is False for it (no term).
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


# ------------------------------------------------------------------ identity
def names_from_path(path: Path) -> tuple[str | None, int | None]:
    """(branch code, FY) that the file name — or its folder's name — says, if any."""
    branch = m.group(1) if (m := _BRANCH_IN_NAME.match(path.name)) else None
    fy = _fy_in(path.stem) or _fy_in(path.parent.name)
    return branch, fy


def _fy_in(text: str) -> int | None:
    for i, pattern in enumerate(_FY_PATTERNS):
        if m := pattern.search(text):
            n = m.group(1)
            if i >= 2:
                return 2018 + (1 if n == "元" else int(n))
            return int(n)
    return None


def identity_findings(sub: Submission, catalogue: Catalogue, *, fiscal_year: int | None,
                      expected_branch: str | None = None) -> list[Finding]:
    where = {"file": sub.path, "branch": sub.branch_code, "sheet": "_meta"}
    out: list[Finding] = []
    if sub.template_version not in SUPPORTED_TEMPLATE_VERSIONS:
        out.append(finding("E202", value=sub.template_version,
                           expected=", ".join(map(str, SUPPORTED_TEMPLATE_VERSIONS)), **where))
    if sub.catalogue_digest and not catalogue.digest.startswith(sub.catalogue_digest[:12]):
        out.append(finding("E203", value=sub.catalogue_digest[:12], expected=catalogue.short_digest, **where))
    if fiscal_year is not None and sub.fiscal_year != fiscal_year:
        out.append(finding("E204", value=sub.fiscal_year, expected=fiscal_year, **where))
    name_branch, name_fy = names_from_path(Path(sub.path))
    if name_fy is not None and sub.fiscal_year != name_fy:
        out.append(finding("E205", value=sub.fiscal_year, expected=name_fy, **where))
    expected = expected_branch or name_branch
    if expected is not None and sub.branch_code != expected:
        out.append(finding("E206", value=f"{sub.branch_code} {sub.branch_name or ''}".strip(),
                           expected=expected, **where))
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


@dataclass
class Resubmissions:
    """Which file of each branch (and fiscal year) is used when a branch sent several.

    Identical files (same sha256) count once: the one that came first is kept, the others get W208.
    Of different files the newest is used — by the workbook's own saved time (docProps), then
    the file's modification time — and the others get W207 naming it.  When the newest cannot be
    told (the same times), every file of the branch gets E207 and none is used.
    """

    findings: list[Finding] = field(default_factory=list)
    not_used: list[Submission] = field(default_factory=list)


def resubmissions(subs: list[Submission]) -> Resubmissions:
    out = Resubmissions()
    by_branch: dict[tuple[str | None, int | None], list[Submission]] = {}
    for sub in subs:
        by_branch.setdefault((sub.branch_code, sub.fiscal_year), []).append(sub)
    for (code, _), group in by_branch.items():
        if len(group) > 1 and code:
            _choose_newest(code, group, out)
    return out


def _choose_newest(code: str, group: list[Submission], out: Resubmissions) -> None:
    where = {"branch": code, "sheet": "_meta"}
    distinct: dict[str, Submission] = {}
    # of identical copies the one that came first is kept (then the shorter name): later copies are the extras
    for sub in sorted(group, key=lambda s: (_mtime_ns(s.path), len(Path(s.path).name), Path(s.path).name)):
        kept = distinct.setdefault(sub.sha256 or sub.path, sub)
        if kept is not sub:
            out.findings.append(finding("W208", file=sub.path, used=Path(kept.path).name, **where))
            out.not_used.append(sub)
    if len(distinct) < 2:
        return
    key = _newness(list(distinct.values()))
    ranked = sorted(distinct.values(), key=key, reverse=True)
    if key(ranked[0]) == key(ranked[1]):
        for sub in ranked:
            others = ", ".join(Path(o.path).name for o in ranked if o is not sub)
            out.findings.append(finding("E207", file=sub.path, others=others, **where))
        out.not_used.extend(ranked)
        return
    used = ranked[0]
    for sub in ranked[1:]:
        out.findings.append(finding("W207", file=sub.path, used=Path(used.path).name, value=_saved_text(sub),
                                    expected=_saved_text(used), **where))
        out.not_used.append(sub)


def _newness(group: list[Submission]) -> Any:
    """Sort key: (saved time, file time) when every file has a saved time, else the file time alone."""
    saved = {id(s): _saved_time(s) for s in group}
    use_saved = all(saved.values())

    def key(sub: Submission) -> tuple[Any, ...]:
        mtime = _mtime_ns(sub.path)
        return (saved[id(sub)], mtime) if use_saved else (mtime,)
    return key


def _saved_time(sub: Submission) -> Any:
    from datetime import datetime, timezone

    try:
        t = datetime.fromisoformat((sub.saved_at or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _saved_text(sub: Submission) -> str:
    """The saved time as people read it (local time), else the file's time, said so."""
    from datetime import datetime

    t = _saved_time(sub)
    if t is not None:
        return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    mtime = _mtime_ns(sub.path)
    return datetime.fromtimestamp(mtime / 1e9).strftime("%Y-%m-%d %H:%M:%S（ファイルの日時）") if mtime else "不明"


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
            failed.append(replace(error_finding(sub.path, exc), branch=sub.branch_code))
            continue
        kept.append(sub)
    return [*found, *failed]  # found: the outliers among the submissions kept


# ------------------------------------------------------------------ schema
def _blank(*inputs: InputValue) -> bool:
    return all(iv.value is None and iv.raw is None for iv in inputs)


def schema_record(sub: Submission) -> dict[str, Any]:
    """Submission.to_dict() without the months / 取組 rows whose inputs are all blank.

    Those carry nothing typed by a branch, only the coordinates the reader itself wrote,
    and they are ~80% of a record; leaving them out keeps jsonschema at ~10 ms per file.
    """
    record = sub.to_dict(kpis=False, measures=False)
    record["kpis"] = [{**k.to_dict(months=False),
                       "months": [m.to_dict() for m in k.months.values()
                                  if not _blank(m.numerator, m.denominator, m.value)]}
                      for k in sub.kpis.values()]
    record["measures"] = [{**m.to_dict(rows=False),
                           "rows": [r.to_dict() for r in m.rows if not _blank(r.text, r.rating, r.note)]}
                          for m in sub.measures.values()]
    return record


SUBMISSION_SCHEMA = "submission.schema.json"
SCHEMA_CODES = {"enum": "E407", "maxLength": "E409"}


def schema_findings(sub: Submission) -> list[Finding]:
    """Each jsonschema error of the record as a finding at the cell the offending value came from."""
    record = schema_record(sub)
    out: list[Finding] = []
    errors = iter_errors(SUBMISSION_SCHEMA, record)
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        node = _input_node(record, path)
        source = (node or {}).get("source") or {}
        value = (node or {}).get("value")
        label = _label_for(record, path)
        code = SCHEMA_CODES.get(str(error.validator), "E309")
        context: dict[str, Any] = {"label": label, "reason": error.message[:200]}
        if code == "E409":
            context.update(expected=error.validator_value)
            value = len(value) if isinstance(value, str) else value
        out.append(finding(code, file=sub.path, branch=sub.branch_code, sheet=source.get("sheet"),
                           cell=source.get("cell"), name=source.get("name"), subject=_subject(record, path),
                           value=value if code != "E309" else _short(value), **context))
    return out


def _input_node(record: dict[str, Any], path: list[Any]) -> dict[str, Any] | None:
    """The innermost {value, raw, source} object on the path of a schema error."""
    node: Any = record
    found = None
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "source" in node and "value" in node:
            found = node
    return found


def _subject(record: dict[str, Any], path: list[Any]) -> str | None:
    if len(path) >= 2 and path[0] in ("kpis", "measures"):
        item = record[path[0]][path[1]]
        return item.get("kpi_id") or item.get("measure_id")
    return None


def _label_for(record: dict[str, Any], path: list[Any]) -> str:
    subject = _subject(record, path) or ""
    tail = ".".join(str(p) for p in path[2:] if not isinstance(p, int) and p != "value")
    return f"{subject} {tail}".strip() or ".".join(map(str, path)) or "record"


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:40]


# ------------------------------------------------------------------ CLI
def _as_month(as_of: str | date | None) -> date | None:
    if as_of is None or isinstance(as_of, date):
        return as_of.replace(day=1) if isinstance(as_of, date) else None
    return parse_month(as_of)
