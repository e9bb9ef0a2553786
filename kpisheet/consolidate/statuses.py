"""Each branch's status in a consolidation, its lateness and completeness.

A branch's status comes from the findings on its own files only: 提出済,
エラーあり, 報告月の入力なし (the file used holds no figure for the reporting
month, W422: it comes before エラーあり, since entering the month is what the
branch has to do first), 提出あり・読込不可 (files came, none could be read: the stubs
validation makes for them, attributed by file name) or 未提出.  `BranchStatus.last_month`
is the latest month the used file holds a figure for (最終報告月).

With HQ's settings (`build_consolidation(..., settings=...)`), a branch is late (`BranchStatus.late`)
when the file whose values count was last saved by the branch (the workbook's own saved time,
docProps) after the end of the deadline day in Japan Standard Time (`HqSettings.deadline
(reporting month)`, 23:59:59 JST).  Without a saved time — or with no usable file, for the
newest file it sent — the file's arrival counts: its modification time, unless
build_consolidation is told when it arrived, as a run rebuilt from the ledger is.  The
workbook's own time comes first because a file's time in the inbox changes whenever the file
is copied (or checked out), and HQ saving an e-mailed file a day later must not make a branch
late; a branch that saves in time and sends late is not caught (README, decisions).  Times
shown to people are JST text 「2024-11-07 14:03」 (fiscal.jst_text).
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from kpisheet.check.rules.identity import FUTURE_SAVED
from kpisheet.check.rules.months import last_reported_month
from kpisheet.domain.catalogue import HQ_CODE, Catalogue, load_branches, load_mapping
from kpisheet.domain.findings import Finding, cell_order, makes_unreadable
from kpisheet.domain.fiscal import (
    JST,
    jst_text,
    month_key,
    to_jst,
)
from kpisheet.domain.model import Submission, is_readable

if TYPE_CHECKING:  # pragma: no cover

    pass

from kpisheet.consolidate.model import BranchStatus, Consolidation, REPORTING_MONTH_MISSING, STATUS_ERRORS, STATUS_MISSING, STATUS_NO_MONTH, STATUS_OK, STATUS_UNREADABLE, TermKpiRow, TermMeasureRow


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.branch or "99", f.file or "", not f.is_error, f.sheet or "",
                                           cell_order(f.cell), f.code))


def _expected_codes(cat: Catalogue, fiscal_year: int) -> list[str]:
    hq = any(k.scope == "national" and k.applies_to(fiscal_year) for k in cat.kpis)
    return [b.code for b in load_branches() if b.code != HQ_CODE or hq]


def branch_statuses(cons: Consolidation, submissions: list[Submission], usable: dict[str, Submission],
              received_times: dict[str, str]) -> list[BranchStatus]:
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
            STATUS_NO_MONTH if sub is not None and any(f.code == REPORTING_MONTH_MISSING and f.file == sub.path
                                                       for f in mine) else
            STATUS_ERRORS if errors or sub is None else STATUS_OK)
        last = last_reported_month(sub, cons.month) if sub is not None else None
        shown_files = tuple(sorted(files or {f.file for f in mine if f.file}))
        received = _received_at([sub.path] if sub else list(shown_files), received_times)
        out.append(BranchStatus(
            code, names[code], status, shown_files, tuple(s.sha256 for s in subs),
            jst_text(sub.saved_at) if sub else None, sub.saved_by if sub else None, errors, len(mine) - errors,
            _completeness(cons, code) if sub else None, _left_out_list(cons, code, sub, mine),
            jst_text(received), _late(_trusted_saved(sub, mine), received, cons.deadline),
            month_key(last) if last else None))
    return out


def _received_at(paths: list[str], given: dict[str, str]) -> datetime | None:
    """When the newest of `paths` arrived: the time `given` for it, else its modification time
    (the Submission records no other)."""
    times = []
    for p in paths:
        at = to_jst(given.get(p))
        if at is None:
            try:
                at = datetime.fromtimestamp(os.stat(p).st_mtime, JST)
            except OSError:
                continue
        times.append(at)
    return max(times) if times else None


def _trusted_saved(sub: Submission | None, mine: list[Finding]) -> datetime | None:
    """The file's saved time, unless the run found it in the future (W423: the PC clock was wrong)."""
    if sub is None or not sub.saved_at or any(f.code == FUTURE_SAVED and f.file == sub.path for f in mine):
        return None
    return to_jst(sub.saved_at)


def _late(saved: datetime | None, received: datetime | None, deadline: date | None) -> bool:
    """Saved by the branch (else: arrived) after the deadline day ended in Japan Standard Time."""
    at = saved or received
    if at is None or deadline is None:
        return False
    return at >= datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=JST)


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


def term_rows() -> tuple[list[TermKpiRow], list[TermMeasureRow]]:
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
    from kpisheet.domain.catalogue import load_catalogue

    return load_catalogue(term)


def input_list(submissions: list[Submission], files: Iterable[Path]) -> list[tuple[str, str]]:
    from kpisheet.fileio import sha256_file

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


def unattributed_files(submissions: list[Submission], findings: list[Finding]) -> list[tuple[str, int]]:
    attributed = {s.path for s in submissions if s.branch_code}
    files: dict[str, int] = {}
    for f in findings:
        if f.file and not f.branch and f.file not in attributed and f.is_error:
            files[f.file] = files.get(f.file, 0) + 1
    return sorted(files.items())
