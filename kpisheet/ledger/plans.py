"""Branch plans (事業計画) in the ledger: recorded as versions, approved, reopened, given back.

The tables are the ledger's version 3 (kpisheet.ledger.store.MIGRATIONS); the monthly tables are not
touched.  Everything is only ever added:

* `record_plans` records the plans a `plan collect` read: every distinct workbook once (plan_files,
  by sha256, with what was read from it), and a new version of a branch's plan (plan_versions and its
  rows) only when the plan's content (PlanSubmission.content_sha256: the plan, not its cells or save
  time) differs from the branch's latest version.  The same files again record nothing.
* `approve_plans` makes a branch's latest version the one the year uses, by appending an 'approve'
  row to plan_log; `reopen_plan` appends a 'reopen' row with its reason.  The approved version is
  the one the last 'approve' row names, so it stays in force after a reopen until another version
  is approved, and a plan changed after approval is a new version, listed, not yet in force.
* `approved_plans` / `current_plans` give the versions back as PlanSubmissions rebuilt from the rows
  (sources None, path 'ledger:<version id>'), with the content_sha256 they were recorded with;
  `plan_versions` lists every version with its status.

Imports only kpisheet.domain and the ledger's store (never kpisheet.plan).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from kpisheet import __version__
from kpisheet.domain.catalogue import catalogue_for_fy, load_branches
from kpisheet.domain.findings import Finding, KpisheetError, finding, makes_unreadable
from kpisheet.domain.fiscal import wareki_fiscal_year
from kpisheet.domain.model import EMPTY, InputValue
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission
from kpisheet.ledger.store import (
    Ledger,
    _file_facts,
    _inserted_id,
    _now,
    _pack,
    _unpack,
    describe_codes,
    finding_dict,
    finding_from_dict,
    opened,
)

CODES = frozenset({"P602", "P603", "P604", "P605", "P606", "P607", "P608"})

ROLES = ("new_version", "unchanged", "set_aside", "other_year", "unreadable")  # plan_run_files.role
STATUSES = {  # plan_versions listed: status -> (Japanese, what it means)
    "approved": ("確定（使用中）", "the approved version the year uses"),
    "pending": ("未確定", "the latest version, not approved"),
    "superseded": ("確定（旧）", "approved once, another version approved since"),
    "replaced": ("差し替え済み", "never approved, a later version recorded"),
}


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class RecordedPlan:
    """What `record_plans` did with one plan it was given."""

    path: str
    branch_code: str | None
    role: str  # one of ROLES
    version_id: int | None = None  # the branch's version this plan is (new or unchanged)
    seq: int | None = None
    content_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "branch": self.branch_code, "role": self.role, "version_id": self.version_id,
                "seq": self.seq, "content_sha256": self.content_sha256}


@dataclass
class RecordedPlans:
    """What a `record_plans` call left in the ledger."""

    path: str  # the ledger
    fiscal_year: int
    run_id: int | None  # None: the same plan files as the year's last plan run, nothing recorded
    plans: list[RecordedPlan] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # P605, P607, P608
    new_files: int = 0
    known_files: int = 0

    @property
    def new_versions(self) -> list[RecordedPlan]:
        return [p for p in self.plans if p.role == "new_version"]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "fiscal_year": self.fiscal_year, "recorded": self.run_id is not None,
                "run_id": self.run_id, "new_files": self.new_files, "known_files": self.known_files,
                "new_versions": len(self.new_versions), "plans": [p.to_dict() for p in self.plans],
                "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class PlanVersion:
    """One recorded version of a branch's plan, as `plan_versions` lists it."""

    id: int
    fiscal_year: int
    branch_code: str
    seq: int
    content_sha256: str
    recorded_at: str
    file_name: str | None
    errors: int
    warnings: int
    error_codes: tuple[str, ...]
    status: str  # a STATUSES key
    approved_at: str | None = None  # when this version was (last) approved
    reopened: str | None = None  # the in-force version: the reason of the reopen after its approval

    @property
    def status_ja(self) -> str:
        return STATUSES[self.status][0]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fiscal_year": self.fiscal_year, "branch": self.branch_code, "seq": self.seq,
                "content_sha256": self.content_sha256, "recorded_at": self.recorded_at, "file": self.file_name,
                "errors": self.errors, "warnings": self.warnings, "error_codes": list(self.error_codes),
                "status": self.status, "status_ja": self.status_ja, "approved_at": self.approved_at,
                "reopened": self.reopened}


@dataclass
class ApproveResult:
    """What `approve_plans` did: versions approved now, versions already approved, refusals (P602–P604)."""

    path: str
    fiscal_year: int
    approved: list[PlanVersion] = field(default_factory=list)
    already: list[PlanVersion] = field(default_factory=list)
    refused: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "fiscal_year": self.fiscal_year,
                "approved": [v.to_dict() for v in self.approved], "already": [v.to_dict() for v in self.already],
                "refused": [f.to_dict() for f in self.refused]}


def _years(fiscal_year: int) -> dict[str, Any]:
    """The fiscal year as a finding's context: FY2025 in English, 令和7年度 in Japanese."""
    return {"fiscal_year": fiscal_year, "fiscal_year_ja": wareki_fiscal_year(fiscal_year)}


def _who(code: str | None) -> str:
    """'11 埼玉支部' (a code no branch has: as given)."""
    names = {b.code: b.display_name for b in load_branches()}
    return f"{code} {names[code]}" if code in names else str(code)


# ---------------------------------------------------------------- the ledger given
LedgerOrPath = Ledger | Path | str


@contextlib.contextmanager
def _book(ledger: LedgerOrPath, *, create: bool = False) -> Iterator[Ledger]:
    if isinstance(ledger, Ledger):
        yield ledger
    else:
        with opened(Path(ledger), create=create) as book:
            yield book


@contextlib.contextmanager
def _writing(book: Ledger) -> Iterator[None]:
    """The caller's transaction when it holds one (plan collect: committed with its outputs), else one of our own."""
    if book.conn.in_transaction:
        with book.guarded():
            yield
    else:
        with book.transaction(), book.guarded():
            yield


# ---------------------------------------------------------------- recording
def record_plans(conn_or_path: LedgerOrPath, plans: Sequence[PlanSubmission], fiscal_year: int, *,
                 options: Mapping[str, Any] | None = None,
                 findings: Mapping[str, Sequence[Finding]] | None = None) -> RecordedPlans:
    """Record the plans a collect read for `fiscal_year` (see the module docstring).

    `findings` are each plan's validation findings by its path (besides plan.findings, its reading
    findings): their errors are counted on the version, and approval refuses a version with any.
    A plan that could not be read (or names no branch or year) is kept as a file, not as a version; a
    plan of another fiscal year is P608; two plans of one branch: the one saved last is recorded, the
    other set aside (P607); a new version of a branch whose approved plan is in force is P605.
    Inside the caller's transaction when it holds one, else in one of its own."""
    with _book(conn_or_path, create=True) as book, _writing(book):
        return _record(book, list(plans), fiscal_year, dict(options or {}), findings or {})


def _errors_of(plan: PlanSubmission, given: Mapping[str, Sequence[Finding]]) -> list[Finding]:
    return [*plan.findings, *given.get(plan.path, ())]


def _readable(plan: PlanSubmission) -> bool:
    return (plan.branch_code is not None and plan.fiscal_year is not None
            and not any(makes_unreadable(f) for f in plan.findings))


def _saved_order(plan: PlanSubmission) -> tuple[str, str, str]:
    """Which of one branch's plans is its latest: saved last (the workbook's own time, else the file's)."""
    return (plan.saved_at or _file_facts(plan.path)[1] or "", _file_facts(plan.path)[1] or "", plan.path)


def _record(book: Ledger, plans: list[PlanSubmission], fiscal_year: int, options: dict[str, Any],
            given: Mapping[str, Sequence[Finding]]) -> RecordedPlans:
    conn = book.conn
    result = RecordedPlans(str(book.path), fiscal_year, None)
    roles: dict[int, str] = {}
    chosen: dict[str, int] = {}  # branch -> index of the plan recorded for it
    for i, plan in enumerate(plans):
        if not _readable(plan):
            roles[i] = "unreadable"
        elif plan.fiscal_year != fiscal_year:
            roles[i] = "other_year"
            result.findings.append(finding("P608", file=plan.path, branch=plan.branch_code, value=plan.fiscal_year,
                                           value_ja=wareki_fiscal_year(int(plan.fiscal_year or 0)),
                                           **_years(fiscal_year)))
        else:
            code = str(plan.branch_code)
            if code in chosen and _saved_order(plans[chosen[code]]) >= _saved_order(plan):
                roles[i] = "set_aside"
                continue
            if code in chosen:
                roles[chosen[code]] = "set_aside"
            chosen[code] = i
            roles[i] = "new_version"
    for i, plan in enumerate(plans):
        if roles[i] == "set_aside":
            used = plans[chosen[str(plan.branch_code)]]
            result.findings.append(finding("P607", file=plan.path, branch=plan.branch_code,
                                           used=Path(used.path).name, value=Path(plan.path).name))
    latest = {code: _latest(book, fiscal_year, code) for code in chosen}
    for code, i in chosen.items():
        held = latest[code]
        if held is not None and held[2] == plans[i].content_sha256():
            roles[i] = "unchanged"
    fingerprint = _fingerprint(fiscal_year, plans)
    last = book.query("SELECT fingerprint FROM plan_runs WHERE fiscal_year = ? ORDER BY id DESC LIMIT 1",
                      [fiscal_year])
    if last and last[0][0] == fingerprint:
        result.known_files = sum(1 for p in plans if p.sha256)
        result.plans = [RecordedPlan(p.path, p.branch_code, roles[i],
                                     *(_version_of(latest.get(str(p.branch_code))) if roles[i] == "unchanged"
                                       else (None, None)), p.content_sha256() if _readable(p) else None)
                        for i, p in enumerate(plans)]
        return result
    describe_codes(conn)  # names and labels as the catalogues now say them (plan_target_list joins them)
    cur = conn.execute(
        "INSERT INTO plan_runs (kind, fiscal_year, started_at, kpisheet_version, catalogue_digest, options, "
        "fingerprint) VALUES ('collect', ?, ?, ?, ?, ?, ?)",
        (fiscal_year, _now(), __version__, catalogue_for_fy(fiscal_year).digest,
         json.dumps(options, ensure_ascii=False, default=str, sort_keys=True), fingerprint))
    run_id = result.run_id = _inserted_id(cur)
    approved = {code: _approved_id(book, fiscal_year, code) for code in chosen}
    for i, plan in enumerate(plans):
        file_id = _file_row(book, plan, run_id, given, result)
        if file_id is not None:
            conn.execute("INSERT OR REPLACE INTO plan_run_files (plan_run_id, plan_file_id, path, role) "
                         "VALUES (?, ?, ?, ?)", (run_id, file_id, plan.path, roles[i]))
        code = str(plan.branch_code)
        if roles[i] == "new_version":
            held = latest[code]
            seq = (held[1] if held else 0) + 1
            version_id = _insert_version(book, plan, seq, file_id, run_id, _errors_of(plan, given))
            result.plans.append(RecordedPlan(plan.path, code, "new_version", version_id, seq, plan.content_sha256()))
            if approved[code] is not None:
                result.findings.append(finding("P605", file=plan.path, branch=code, value=seq,
                                               **_years(fiscal_year), approved=_seq_of(book, approved[code]),
                                               who=_who(code)))
        elif roles[i] == "unchanged":
            result.plans.append(RecordedPlan(plan.path, code, "unchanged", *_version_of(latest[code]),
                                             plan.content_sha256()))
        else:
            result.plans.append(RecordedPlan(plan.path, plan.branch_code, roles[i], None, None,
                                             plan.content_sha256() if _readable(plan) else None))
    return result


def _version_of(held: tuple[int, int, str] | None) -> tuple[int | None, int | None]:
    return (held[0], held[1]) if held else (None, None)


def _fingerprint(fiscal_year: int, plans: list[PlanSubmission]) -> str:
    """The plan files a run read (their bytes, not where they lay): the same again records nothing."""
    data = {"fy": fiscal_year, "version": __version__, "digest": catalogue_for_fy(fiscal_year).digest,
            "files": sorted(p.sha256 or f"path:{p.path}" for p in plans)}
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _file_row(book: Ledger, plan: PlanSubmission, run_id: int, given: Mapping[str, Sequence[Finding]],
              result: RecordedPlans) -> int | None:
    """The plan_files row of the plan's bytes (added when new); None for a plan without bytes."""
    if not plan.sha256:
        return None
    rows = book.conn.execute("SELECT id FROM plan_files WHERE sha256 = ?", (plan.sha256,)).fetchall()
    if rows:
        result.known_files += 1
        return int(rows[0][0])
    record = plan.to_dict()
    record["findings"] = [finding_dict(f) for f in _errors_of(plan, given)]  # with their context: restorable
    size, received = _file_facts(plan.path)
    cur = book.conn.execute(
        "INSERT INTO plan_files (sha256, name, size, branch_code, fiscal_year, saved_at, saved_by, received_at, "
        "first_plan_run_id, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (plan.sha256, Path(plan.path).name, size, plan.branch_code, plan.fiscal_year, plan.saved_at, plan.saved_by,
         received, run_id, _pack(record)))
    result.new_files += 1
    return _inserted_id(cur)


def _text(v: InputValue) -> str | None:
    return None if v.value is None else str(v.value)


def _stored(v: InputValue) -> Any:
    """A value as the untyped columns keep it: a number or text as read (61 and 61.0 stay apart)."""
    x = v.value
    return x if x is None or isinstance(x, (int, float, str)) else str(x)


def _insert_version(book: Ledger, plan: PlanSubmission, seq: int, file_id: int | None, run_id: int,
                    found: list[Finding]) -> int:
    conn = book.conn
    errors = [f for f in found if f.is_error]
    cur = conn.execute(
        "INSERT INTO plan_versions (fiscal_year, branch_code, seq, content_sha256, plan_file_id, plan_run_id, "
        "recorded_at, errors, warnings, error_codes, branch_name, term, plan_template_version, layout_digest, "
        "generated_at, saved_at, saved_by, preparer, contact, prefilled) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (plan.fiscal_year, plan.branch_code, seq, plan.content_sha256(), file_id, run_id, _now(), len(errors),
         len(found) - len(errors), json.dumps(sorted({f.code for f in errors})), plan.branch_name, plan.term,
         plan.plan_template_version, plan.layout_digest, plan.generated_at, plan.saved_at, plan.saved_by,
         plan.preparer, plan.contact, json.dumps(plan.prefilled, ensure_ascii=False, default=str, sort_keys=True)))
    vid = _inserted_id(cur)
    conn.executemany(
        "INSERT INTO plan_measures (version_id, measure_id, ord, numbering, heading, group_name, focus, covered_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(vid, m.measure_id, o, _text(m.numbering), _text(m.heading), _text(m.group), int(m.focus), m.covered_by)
         for o, m in enumerate(plan.measures.values())])
    conn.executemany(
        "INSERT INTO plan_items (version_id, measure_id, ord, n, text, level, subheading, group_name, flag, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(vid, m.measure_id, o, it.n, _text(it.text), _text(it.level), _text(it.subheading), _text(it.group),
          _text(it.flag), it.origin) for m in plan.measures.values() for o, it in enumerate(m.items)])
    conn.executemany(
        "INSERT INTO plan_targets (version_id, kpi_id, ord, kind, target, expected, expected_status, expected_as_of, "
        "population, planned, reason, sentence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(vid, k.kpi_id, o, k.kind, _stored(k.target), _stored(k.expected), _text(k.expected_status),
          _text(k.expected_as_of), _stored(k.population), _stored(k.planned), _text(k.reason), _text(k.sentence))
         for o, k in enumerate(plan.kpis.values())])
    conn.executemany(
        "INSERT INTO plan_target_parts (version_id, kpi_id, ord, n, label, population, planned, rate) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(vid, k.kpi_id, o, p.n, _text(p.label), _stored(p.population), _stored(p.planned), _stored(p.rate))
         for k in plan.kpis.values() for o, p in enumerate(k.parts)])
    back = _rebuild(book, vid)
    if back.content_sha256() != plan.content_sha256():  # a value the rows cannot hold: never record it wrong
        raise RuntimeError(f"plan version {vid} of {plan.path} does not read back as recorded")
    return vid


# ---------------------------------------------------------------- reading versions back
_VERSION_COLUMNS = ("v.id, v.fiscal_year, v.branch_code, v.seq, v.content_sha256, v.branch_name, v.term, "
                    "v.plan_template_version, v.layout_digest, v.generated_at, v.saved_at, v.saved_by, v.preparer, "
                    "v.contact, v.prefilled, f.sha256, f.record")


def _iv(x: Any) -> InputValue:
    return EMPTY if x is None else InputValue(x)


def _rebuild(book: Ledger, version_id: int) -> PlanSubmission:
    """The PlanSubmission a version's rows hold (sources None; path 'ledger:<version id>'), with the
    findings its workbook had when first recorded (reading and validation; their file is the workbook's path then)."""
    (row,) = book.conn.execute(f"SELECT {_VERSION_COLUMNS} FROM plan_versions v "
                               "LEFT JOIN plan_files f ON f.id = v.plan_file_id WHERE v.id = ?", (version_id,))
    (vid, fy, code, _seq, _sha, name, term, tversion, digest, generated, saved, saved_by, preparer, contact,
     prefilled, file_sha, record) = row
    items: dict[str, list[PlanItem]] = {}
    for mid, n, text, level, sub, group, flag, origin in book.conn.execute(
            "SELECT measure_id, n, text, level, subheading, group_name, flag, origin FROM plan_items "
            "WHERE version_id = ? ORDER BY measure_id, ord", (vid,)):
        items.setdefault(mid, []).append(PlanItem(n, _iv(text), _iv(level), _iv(sub), _iv(group), _iv(flag), origin))
    measures = {}
    for mid, numbering, heading, group, focus, covered in book.conn.execute(
            "SELECT measure_id, numbering, heading, group_name, focus, covered_by FROM plan_measures "
            "WHERE version_id = ? ORDER BY ord", (vid,)):
        measures[mid] = PlanMeasure(mid, _iv(numbering), _iv(heading), _iv(group), bool(focus), covered,
                                    tuple(items.get(mid, ())))
    parts: dict[str, list[PlanPart]] = {}
    for kid, n, label, population, planned, rate in book.conn.execute(
            "SELECT kpi_id, n, label, population, planned, rate FROM plan_target_parts WHERE version_id = ? "
            "ORDER BY kpi_id, ord", (vid,)):
        parts.setdefault(kid, []).append(PlanPart(n, _iv(label), _iv(population), _iv(planned), _iv(rate)))
    kpis = {}
    for kid, kind, target, expected, status, as_of, population, planned, reason, sentence in book.conn.execute(
            "SELECT kpi_id, kind, target, expected, expected_status, expected_as_of, population, planned, reason, "
            "sentence FROM plan_targets WHERE version_id = ? ORDER BY ord", (vid,)):
        kpis[kid] = PlanKpi(kid, kind, _iv(target), _iv(expected), _iv(status), _iv(as_of), _iv(population),
                            _iv(planned), tuple(parts.get(kid, ())), _iv(reason), _iv(sentence))
    found = [finding_from_dict(d) for d in (_unpack(record).get("findings") or [])] if record else []
    return PlanSubmission(f"ledger:{vid}", file_sha, fy, code, name, term, tversion, digest, generated, saved,
                          saved_by, preparer, contact, json.loads(prefilled) if prefilled else {}, measures, kpis,
                          found)


def _latest(book: Ledger, fiscal_year: int, code: str) -> tuple[int, int, str] | None:
    """(id, seq, content_sha256) of the branch's latest version."""
    rows = book.conn.execute("SELECT id, seq, content_sha256 FROM plan_versions WHERE fiscal_year = ? "
                             "AND branch_code = ? ORDER BY seq DESC LIMIT 1", (fiscal_year, code)).fetchall()
    return (int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None


def _log(book: Ledger, fiscal_year: int, code: str) -> list[tuple[str, str, str | None, int]]:
    """The branch's plan_log rows (action, at, reason, version id), oldest first."""
    return [(r[0], r[1], r[2], int(r[3])) for r in book.conn.execute(
        "SELECT action, at, reason, version_id FROM plan_log WHERE fiscal_year = ? AND branch_code = ? ORDER BY id",
        (fiscal_year, code))]


def _approved_id(book: Ledger, fiscal_year: int, code: str) -> int | None:
    approvals = [vid for action, _, _, vid in _log(book, fiscal_year, code) if action == "approve"]
    return approvals[-1] if approvals else None


def _seq_of(book: Ledger, version_id: int | None) -> int | None:
    rows = book.conn.execute("SELECT seq FROM plan_versions WHERE id = ?", (version_id,)).fetchall()
    return int(rows[0][0]) if rows else None


def approved_plans(ledger: LedgerOrPath, fiscal_year: int) -> dict[str, PlanSubmission]:
    """{branch code: the approved version of its plan} for a fiscal year (branches without one left out)."""
    with _book(ledger) as book, book.guarded():
        ids = [int(r[0]) for r in book.conn.execute(
            "SELECT id FROM approved_plans WHERE fiscal_year = ? ORDER BY branch_code", (fiscal_year,))]
        return {str(p.branch_code): p for p in (_rebuild(book, vid) for vid in ids)}


def current_plans(ledger: LedgerOrPath, fiscal_year: int) -> dict[str, PlanSubmission]:
    """{branch code: the latest version of its plan, approved or not} for a fiscal year."""
    with _book(ledger) as book, book.guarded():
        ids = [int(r[0]) for r in book.conn.execute(
            "SELECT id FROM current_plans WHERE fiscal_year = ? ORDER BY branch_code", (fiscal_year,))]
        return {str(p.branch_code): p for p in (_rebuild(book, vid) for vid in ids)}


def plans_in_use(ledger: LedgerOrPath, fiscal_year: int, *, approved_only: bool = False) -> dict[str, PlanSubmission]:
    """`approved_plans` (approved_only) or `current_plans`; P603 when the ledger holds none of the year."""
    with _book(ledger) as book:
        plans = approved_plans(book, fiscal_year) if approved_only else current_plans(book, fiscal_year)
        if not plans:
            raise KpisheetError([finding("P603", file=str(book.path), **_years(fiscal_year), value="—",
                                         who="全支部（確定した計画）" if approved_only else "全支部")])
        return plans


def plan_version(ledger: LedgerOrPath, version_id: int) -> PlanSubmission:
    """One recorded version, rebuilt from its rows."""
    with _book(ledger) as book, book.guarded():
        return _rebuild(book, version_id)


def plan_versions(ledger: LedgerOrPath, fiscal_year: int, branch: str | None = None) -> list[PlanVersion]:
    """Every recorded version of the fiscal year's plans (of one branch), by branch and version number."""
    with _book(ledger) as book, book.guarded():
        return _versions(book, fiscal_year, branch)


def _versions(book: Ledger, fiscal_year: int, branch: str | None) -> list[PlanVersion]:
    sql = ("SELECT v.id, v.branch_code, v.seq, v.content_sha256, v.recorded_at, f.name, v.errors, v.warnings, "
           "v.error_codes FROM plan_versions v LEFT JOIN plan_files f ON f.id = v.plan_file_id "
           "WHERE v.fiscal_year = ?")
    params: list[Any] = [fiscal_year]
    if branch is not None:
        sql += " AND v.branch_code = ?"
        params.append(branch)
    rows = book.conn.execute(sql + " ORDER BY v.branch_code, v.seq", params).fetchall()
    out = []
    for code in dict.fromkeys(r[1] for r in rows):
        log = _log(book, fiscal_year, code)
        approvals = [(vid, at) for action, at, _, vid in log if action == "approve"]
        in_force = approvals[-1][0] if approvals else None
        reopened = log[-1][2] if log and log[-1][0] == "reopen" else None
        ever = {vid: at for vid, at in approvals}
        mine = [r for r in rows if r[1] == code]
        last_seq = max(r[2] for r in mine)
        for vid, _, seq, sha, at, name, errors, warnings, codes in mine:
            status = ("approved" if vid == in_force else "pending" if seq == last_seq
                      else "superseded" if vid in ever else "replaced")
            out.append(PlanVersion(vid, fiscal_year, code, seq, sha, at, name, errors, warnings,
                                   tuple(json.loads(codes)), status, ever.get(vid),
                                   reopened if vid == in_force else None))
    return out


# ---------------------------------------------------------------- approving and reopening
def approve_plans(ledger: LedgerOrPath, fiscal_year: int, branches: Sequence[str] | None = None) -> ApproveResult:
    """Approve each branch's latest version (every branch with a recorded plan when `branches` is None).

    Each branch is decided on its own, in one transaction: refused, with the reason as a finding, a
    branch with no version (P603), whose latest version has errors (P602), or whose approved plan is
    in force and not reopened while a later version waits (P604: `reopen_plan` first, with a reason).
    A branch whose latest version is already approved is left as it is (`already`)."""
    with _book(ledger) as book:
        result = ApproveResult(str(book.path), fiscal_year)
        with book.transaction(), book.guarded():
            versions = _versions(book, fiscal_year, None)
            codes = list(branches) if branches is not None else list(dict.fromkeys(v.branch_code for v in versions))
            if not codes:
                result.refused.append(finding("P603", file=str(book.path), **_years(fiscal_year), value="—", who="全支部"))
            for code in codes:
                mine = [v for v in versions if v.branch_code == code]
                if not mine:
                    result.refused.append(finding("P603", file=str(book.path), branch=code, value=code,
                                                  **_years(fiscal_year), who=_who(code)))
                    continue
                latest = mine[-1]
                in_force = next((v for v in mine if v.status == "approved"), None)
                if latest.errors:
                    result.refused.append(finding("P602", file=latest.file_name, branch=code, value=latest.errors,
                                                  seq=latest.seq, codes="・".join(latest.error_codes),
                                                  **_years(fiscal_year), who=_who(code)))
                elif in_force is latest and not latest.reopened:
                    result.already.append(latest)
                elif in_force is not None and not in_force.reopened:
                    result.refused.append(finding("P604", file=latest.file_name, branch=code, value=latest.seq,
                                                  approved=in_force.seq, **_years(fiscal_year), who=_who(code)))
                else:
                    at = _now()
                    book.conn.execute("INSERT INTO plan_log (fiscal_year, branch_code, action, at, reason, version_id) "
                                      "VALUES (?, ?, 'approve', ?, NULL, ?)", (fiscal_year, code, at, latest.id))
                    result.approved.append(PlanVersion(latest.id, fiscal_year, code, latest.seq, latest.content_sha256,
                                                       latest.recorded_at, latest.file_name, 0, latest.warnings, (),
                                                       "approved", at))
        return result


def reopen_plan(ledger: LedgerOrPath, fiscal_year: int, branch: str, reason: str) -> PlanVersion:
    """Reopen a branch's approved plan, logging why: the approved version stays in force until another
    is approved (`approve_plans`).  P606 when the branch has no approved plan, or it is reopened already."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a reopen needs a reason")
    with _book(ledger) as book:
        with book.transaction(), book.guarded():
            mine = _versions(book, fiscal_year, branch)
            in_force = next((v for v in mine if v.status == "approved"), None)
            if in_force is None or in_force.reopened:
                why = ("確定した版がありません", "no version is approved") if in_force is None else \
                      ("確定はすでに解除されています", "it is reopened already")
                raise KpisheetError([finding("P606", file=str(book.path), branch=branch, value=branch,
                                             **_years(fiscal_year), reason=why[0], reason_en=why[1],
                                             who=_who(branch))])
            at = _now()
            book.conn.execute("INSERT INTO plan_log (fiscal_year, branch_code, action, at, reason, version_id) "
                              "VALUES (?, ?, 'reopen', ?, ?, ?)", (fiscal_year, branch, at, reason, in_force.id))
        return PlanVersion(in_force.id, fiscal_year, branch, in_force.seq, in_force.content_sha256,
                           in_force.recorded_at, in_force.file_name, in_force.errors, in_force.warnings,
                           in_force.error_codes, "approved", in_force.approved_at, reason)


def record_outputs(book: Ledger, run_id: int, outputs: Mapping[Path, str]) -> None:
    """The files a plan run wrote, with their sha256 (inside the run's transaction)."""
    book.conn.executemany("INSERT OR REPLACE INTO plan_run_outputs (plan_run_id, path, sha256) VALUES (?, ?, ?)",
                          [(run_id, str(p), sha) for p, sha in outputs.items()])
