"""A month rebuilt from the ledger alone (`--from-ledger`): the Consolidation of its published run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from kpisheet.consolidate.model import Consolidation
from kpisheet.consolidate.changes import month_changes
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.fiscal import month_key, parse_month
from kpisheet.domain.model import Submission
from kpisheet.ledger.store import (
    Ledger,
    _last_run,
    _month_shift,
    _revision_order,
    _unpack,
    comparable_ids,
    decode_submission,
    finding_from_dict,
    last_year,
    previous_year_values,
    revisions_of_month,
)


def published_run(ledger: Ledger, fiscal_year: int, month: str) -> int:
    """The run a month's report is rebuilt from: the one it was closed at, else its last one."""
    rows = ledger.query("SELECT run_id FROM closed_months WHERE fiscal_year = ? AND month = ?", [fiscal_year, month])
    return int(rows[0][0]) if rows else _last_run(ledger, fiscal_year, month)



# ---------------------------------------------------------------- rebuilding a month
def _received_times(ledger: Ledger, subs: list[Submission]) -> dict[str, str]:
    """Submission path → the arrival time the ledger recorded for its file."""
    digests = [s.sha256 for s in subs if s.sha256]
    if not digests:
        return {}
    marks = ",".join("?" * len(digests))
    seen = dict(ledger.query(f"SELECT sha256, received_at FROM files WHERE sha256 IN ({marks})", digests))
    return {s.path: seen[s.sha256] for s in subs if seen.get(s.sha256)}


def with_changes(ledger: Ledger, cons: Consolidation, before_run: int | None = None) -> Consolidation:
    """`cons` with 前月からの変化 (Consolidation.changes): its marks and statuses against those of the
    previous month's recorded run (the run it was closed at, else its last one; with `before_run`, only
    runs recorded before that run), rebuilt from the ledger with the same HQ settings.  April compares
    with nothing: the fiscal year (and its targets) starts again."""
    previous_key = month_key(parse_month(cons.month_key).replace(day=1) - timedelta(days=1))
    run = _previous_run(ledger, cons.fiscal_year, previous_key, before_run) if cons.month.month != 4 else None
    previous = _rebuilt(ledger, cons.fiscal_year, previous_key, run, cons.settings) if run is not None else None
    return replace(cons, changes=month_changes(cons, previous, previous_key))


def _previous_run(ledger: Ledger, fiscal_year: int, month: str, before_run: int | None) -> int | None:
    limit = before_run if before_run is not None else 1 << 62
    closed = ledger.query("SELECT run_id FROM closed_months WHERE fiscal_year = ? AND month = ? AND run_id < ?",
                          [fiscal_year, month, limit])
    if closed:
        return int(closed[0][0])
    rows = ledger.query("SELECT id FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? AND month = ? "
                        "AND id < ? ORDER BY id DESC LIMIT 1", [fiscal_year, month, limit])
    return int(rows[0][0]) if rows else None


def rebuild(ledger: Ledger, fiscal_year: int, month: str, settings: Any = None) -> tuple[Consolidation, int]:
    """The Consolidation of a month's published run, from the ledger alone: (consolidation, run id).

    Files' arrival times are the ones the ledger recorded when it first saw them; `settings`
    (kpisheet.domain.settings.HqSettings) gives the deadline that marks late submissions."""
    run_id = published_run(ledger, fiscal_year, month)
    cons = _rebuilt(ledger, fiscal_year, month, run_id, settings)
    return with_changes(ledger, cons, before_run=run_id), run_id


def _rebuilt(ledger: Ledger, fiscal_year: int, month: str, run_id: int, settings: Any) -> Consolidation:
    """The Consolidation run `run_id` made for `month` (without 前月からの変化)."""
    (blob,), = ledger.query("SELECT snapshot FROM runs WHERE id = ?", [run_id])
    snap = _unpack(blob)
    records = _file_records(ledger, [fid for fid, _, inline in snap["submissions"] if inline is None])
    subs = [decode_submission(inline if inline is not None else records[fid], path)
            for fid, path, inline in snap["submissions"]]
    cons = build_consolidation(subs, [finding_from_dict(d) for d in snap["findings"]], fiscal_year=fiscal_year,
                               month=parse_month(month), baselines={(b, k): v for b, k, v in snap["baselines"]},
                               targets={(b, k): v for b, k, v in snap["targets"]}, settings=settings,
                               plan_targets={(b, k): v for b, k, v in snap.get("plan_targets", [])},
                               received=_received_times(ledger, subs))
    forward, _ = comparable_ids(cons.catalogue, cons.kpis, fiscal_year)
    previous = previous_year_values(last_year(ledger, fiscal_year - 1, _month_shift(month, -1), run_id),
                                    forward, month) if forward else {}
    return replace(cons, inputs=[(f, h) for f, h in snap["inputs"]], previous_year=previous,
                   no_comparison={k: (v[0], v[1]) for k, v in snap["no_comparison"].items()},
                   revisions=_revision_order(revisions_of_month(ledger, fiscal_year, month, up_to_run=run_id)))


def _file_records(ledger: Ledger, ids: list[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update((r[0], _unpack(r[1])) for r in
                   ledger.query(f"SELECT id, record FROM files WHERE id IN ({marks})", chunk))
    return out


def recorded_outputs(ledger: Ledger, run_id: int) -> dict[str, str]:
    """{file name: sha256} of what a run wrote."""
    return {Path(r[0]).name: r[1] for r in ledger.query("SELECT path, sha256 FROM run_outputs WHERE run_id = ?",
                                                        [run_id])}


