"""A consolidation against the ledger: `attach` reads what the ledger knows about it (the month's
revisions, last year's figures) before the outputs are written, `record_run` stores the run after."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from kpisheet import __version__
from kpisheet.consolidate.model import NATIONAL_CODE, Consolidation, MonthValue, Revision
from kpisheet.domain.findings import sets_aside
from kpisheet.domain.model import Submission, is_readable
from kpisheet.fileio import sha256_or_empty
from kpisheet.ledger.store import (
    RECORD_FORMAT,
    Held,
    Key,
    Ledger,
    _file_facts,
    _inserted_id,
    _insert_run,
    _month_shift,
    _numbers_differ,
    _pack,
    _revision_order,
    _worth_recording,
    closed_through,
    comparable_ids,
    encode_submission,
    finding_dict,
    held,
    last_year,
    previous_year_values,
    revisions_of_month,
)


def _is_revision(held: Held | None, mv: MonthValue) -> bool:
    """A branch's published number changed (a first report, or one after an excluded value, is not)."""
    return mv.branch_code != NATIONAL_CODE and held is not None and held.has_numbers and _numbers_differ(held, mv)


@dataclass
class RunPlan:
    """What `attach` found before the outputs are written: what the consolidation gets from the
    ledger (`applied_to`) and what `record_run` will store."""

    held: dict[Key, Held]
    new_revisions: list[tuple[Revision, int]]  # (revision, id of the row it replaces)
    closed_through: str | None
    last_year_mark: int = 0  # the newest row of the previous fiscal year: last year's figures as used
    revisions: list[Revision] = field(default_factory=list)  # the month's revisions, earlier runs' and this one's
    previous_year: dict[Key, float] = field(default_factory=dict)  # last year's figures (Consolidation.previous_year)
    no_comparison: dict[str, tuple[str, str]] = field(default_factory=dict)  # KPI id -> why no 前年同月比

    def applied_to(self, cons: Consolidation) -> Consolidation:
        """A new Consolidation: `cons` with the ledger's revisions and last year's figures."""
        return replace(cons, revisions=self.revisions, previous_year=self.previous_year,
                       no_comparison=self.no_comparison)


# ---------------------------------------------------------------- a consolidation against the ledger
def attach(ledger: Ledger, cons: Consolidation) -> RunPlan:
    """What the ledger knows about `cons` — the month's revisions (earlier runs' and this one's) and
    last year's figures — and what `record_run` will store.  Reads only; `cons` is left as it is
    (`RunPlan.applied_to(cons)` is the consolidation with them)."""
    fy, month = cons.fiscal_year, cons.month_key
    now = held(ledger, fy, as_of=month)
    closed = closed_through(ledger, fy)
    names = file_names(ledger, [h.file_id for h in now.values()])
    found: list[tuple[Revision, int]] = []
    for mv in cons.month_values.values():
        h = now.get((mv.branch_code, mv.kpi_id, mv.month))
        if h is None or not _is_revision(h, mv):
            continue
        found.append((Revision(mv.branch_code, mv.kpi_id, mv.month, h.numerator, h.denominator, h.value,
                               mv.numerator, mv.denominator, mv.value, mv.status,
                               Path(cons.used.get(mv.branch_code, "")).name, names.get(h.file_id or -1, ""),
                               bool(closed and mv.month <= closed[0]), month), h.id))
    revisions = _revision_order([*revisions_of_month(ledger, fy, month), *(r for r, _ in found)])
    forward, no_comparison = comparable_ids(cons.catalogue, cons.kpis, fy)
    previous = previous_year_values(last_year(ledger, fy - 1, _month_shift(month, -1)), forward, month) \
        if forward else {}
    (mark,), = ledger.query("SELECT coalesce(max(id), 0) FROM kpi_values WHERE fiscal_year = ?", [fy - 1])
    return RunPlan(now, found, closed[0] if closed else None, int(mark), revisions, previous, no_comparison)


def file_names(ledger: Ledger, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update((r[0], r[1]) for r in ledger.query(f"SELECT id, name FROM files WHERE id IN ({marks})", chunk))
    return out


@dataclass
class RunRecord:
    """What a run left in the ledger (the CLI's summary line)."""

    path: str
    run_id: int | None  # None: the same inputs as the month's last run, nothing recorded
    new_files: int = 0
    known_files: int = 0
    values: int = 0
    revisions: int = 0
    revisions_after_close: int = 0
    previous_year: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "recorded": self.run_id is not None, "run_id": self.run_id,
                "new_files": self.new_files, "known_files": self.known_files, "values": self.values,
                "revisions": self.revisions, "revisions_after_close": self.revisions_after_close,
                "previous_year": self.previous_year}


def _role(cons: Consolidation, sub: Submission, aside: dict[str, str]) -> str:
    if not is_readable(sub):
        return "unreadable"
    if sub.branch_code and cons.used.get(sub.branch_code) == sub.path:
        return "used"
    return {"W207": "set_aside", "W208": "identical"}.get(aside.get(sub.path, ""), "not_used")


def _fingerprint(cons: Consolidation, roles: list[tuple[str, str]], plan: RunPlan) -> str:
    """Everything a run's outputs depend on: the same fingerprint again records nothing."""
    data = {"fy": cons.fiscal_year, "month": cons.month_key, "version": __version__,
            "digest": cons.catalogue.digest, "files": sorted(roles),
            "baselines": sorted(cons.baselines.items()), "targets": sorted(cons.targets.items()),
            "last_year": plan.last_year_mark}
    if cons.plan_targets:  # the approved plans' targets the run used (absent without plans: fingerprints stay)
        data["plan_targets"] = sorted(cons.plan_targets.items())
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()


def record_run(ledger: Ledger, cons: Consolidation, plan: RunPlan, outputs: Iterable[Path],
               options: dict[str, Any], staged: dict[Path, Path] | None = None) -> RunRecord:
    """Store the run (inside the caller's transaction): files, changed figures, revisions, outputs,
    snapshot.  Nothing when the month's last run had the same fingerprint.  `staged` maps an output
    not yet published to the staged file its sha256 is read from (the run is recorded first)."""
    aside = {f.file or "": f.code for f in cons.findings if sets_aside(f)}
    roles = [(sub.sha256 or sub.path, _role(cons, sub, aside)) for sub in cons.submissions]
    fingerprint = _fingerprint(cons, roles, plan)
    record = RunRecord(str(ledger.path), None, previous_year=bool(plan.previous_year))
    last = ledger.query("SELECT fingerprint FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? AND month = ? "
                        "ORDER BY id DESC LIMIT 1", [cons.fiscal_year, cons.month_key])
    if last and last[0][0] == fingerprint:
        record.known_files = len(cons.submissions)
        return record
    with ledger.guarded():
        run_id = _insert_run(ledger, "consolidate", cons.fiscal_year, cons.month_key, cons.catalogue.digest,
                             options, fingerprint)
        record.run_id = run_id
        file_ids = _record_files(ledger, cons, run_id, [r for _, r in roles], record)
        record.values = _record_values(ledger, cons, plan, run_id, file_ids)
        record.revisions = len(plan.new_revisions)
        record.revisions_after_close = sum(1 for r, _ in plan.new_revisions if r.after_close)
        _record_outputs(ledger, run_id, outputs, staged or {})
        ledger.conn.execute("UPDATE runs SET snapshot = ? WHERE id = ?", (_snapshot(cons, file_ids), run_id))
    return record


def _record_files(ledger: Ledger, cons: Consolidation, run_id: int, roles: list[str],
                  record: RunRecord) -> list[int | None]:
    """A files row for every new file (its record kept when it was read), run_files for all.
    Returns each submission's file id (None for a file without content, e.g. a folder)."""
    ids: list[int | None] = []
    known = _known_files(ledger, [s.sha256 for s in cons.submissions if s.sha256])
    for sub in cons.submissions:
        row = known.get(sub.sha256) if sub.sha256 else None
        if not sub.sha256:
            ids.append(None)
        elif row is None:
            file_id = _insert_file(ledger, sub, run_id)
            ids.append(file_id)
            known[sub.sha256] = (file_id, not is_readable(sub))  # an identical copy later in the run
            record.new_files += 1
        else:
            if row[1] and is_readable(sub):  # first seen unreadable, read now
                ledger.conn.execute("UPDATE files SET record = ? WHERE id = ?", (_pack(encode_submission(sub)), row[0]))
            ids.append(row[0])
            record.known_files += 1
    ledger.conn.executemany("INSERT OR REPLACE INTO run_files (run_id, file_id, path, role) VALUES (?, ?, ?, ?)",
                            [(run_id, fid, sub.path, role) for sub, fid, role in zip(cons.submissions, ids, roles, strict=True)
                             if fid is not None])
    return ids


def _insert_file(ledger: Ledger, sub: Submission, run_id: int) -> int:
    size, received = _file_facts(sub.path)
    blob = _pack(encode_submission(sub)) if is_readable(sub) else None
    cur = ledger.conn.execute(
        "INSERT INTO files (sha256, name, size, branch_code, fiscal_year, saved_at, saved_by, received_at, "
        "first_run_id, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sub.sha256, Path(sub.path).name, size, sub.branch_code, sub.fiscal_year, sub.saved_at, sub.saved_by,
         received, run_id, blob))
    return _inserted_id(cur)


def _known_files(ledger: Ledger, digests: list[str]) -> dict[str, tuple[int, bool]]:
    """{sha256: (file id, its record is missing)} of the files the ledger has already seen."""
    out: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(digests), 500):
        chunk = digests[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update((r[0], (r[1], bool(r[2]))) for r in ledger.conn.execute(
            f"SELECT sha256, id, record IS NULL FROM files WHERE sha256 IN ({marks})", chunk))
    return out


def _record_values(ledger: Ledger, cons: Consolidation, plan: RunPlan, run_id: int,
                   file_ids: list[int | None]) -> int:
    by_path = {sub.path: fid for sub, fid in zip(cons.submissions, file_ids, strict=True)}
    file_of = {code: by_path.get(path) for code, path in cons.used.items()}
    rows = []
    for mv in [*cons.month_values.values(), *cons.national_months.values()]:
        if _worth_recording(plan.held.get((mv.branch_code, mv.kpi_id, mv.month)), mv):
            rows.append((cons.fiscal_year, mv.branch_code, mv.kpi_id, mv.month, mv.numerator, mv.denominator,
                         mv.value, mv.status, run_id, cons.month_key, file_of.get(mv.branch_code)))
    ledger.conn.executemany(
        "INSERT INTO kpi_values (fiscal_year, branch_code, kpi_id, month, numerator, denominator, value, status, "
        "run_id, run_month, file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    new_ids = {(r[0], r[1], r[2]): r[3] for r in ledger.conn.execute(
        "SELECT branch_code, kpi_id, month, id FROM kpi_values WHERE run_id = ?", (run_id,))}
    ledger.conn.executemany(
        "INSERT INTO revisions (run_id, fiscal_year, branch_code, kpi_id, month, old_value_id, new_value_id, "
        "after_close) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, cons.fiscal_year, r.branch_code, r.kpi_id, r.month, old_id,
          new_ids[(r.branch_code, r.kpi_id, r.month)], int(r.after_close)) for r, old_id in plan.new_revisions])
    return len(rows)


def _record_outputs(ledger: Ledger, run_id: int, outputs: Iterable[Path], staged: dict[Path, Path]) -> None:
    ledger.conn.executemany("INSERT OR REPLACE INTO run_outputs (run_id, path, sha256) VALUES (?, ?, ?)",
                            [(run_id, str(p), sha256_or_empty(Path(staged.get(Path(p), p)))) for p in outputs])


def _snapshot(cons: Consolidation, file_ids: list[int | None]) -> bytes:
    """What `rebuild` needs besides the files' records: stubs of unreadable files, the findings the
    consolidation was given, --baseline / --targets values, the inputs list, why KPIs have no 前年同月比."""
    subs = [[fid, sub.path, None if fid is not None and is_readable(sub) else encode_submission(sub)]
            for sub, fid in zip(cons.submissions, file_ids, strict=True)]
    return _pack({"format": RECORD_FORMAT, "fiscal_year": cons.fiscal_year, "month": cons.month_key,
                  "submissions": subs, "findings": [finding_dict(f) for f in cons.given_findings],
                  "baselines": [[*k, v] for k, v in cons.baselines.items()],
                  "targets": [[*k, v] for k, v in cons.targets.items()],
                  "plan_targets": [[*k, v] for k, v in cons.plan_targets.items()],
                  "inputs": [list(x) for x in cons.inputs],
                  "no_comparison": {k: list(v) for k, v in cons.no_comparison.items()}})


