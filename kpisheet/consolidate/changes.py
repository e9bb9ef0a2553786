"""Who is behind on a KPI, and what changed since the previous month's consolidation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpisheet.domain.catalogue import HQ_CODE, Kpi

if TYPE_CHECKING:  # pragma: no cover

    pass

from kpisheet.consolidate.model import BranchKpi, Consolidation, MarkChange, MonthChanges, NATIONAL_CODE, STATUS_MISSING
from kpisheet.consolidate.branches import rank_basis


# ---------------------------------------------------------------- who is behind, what changed
def behind(cons: Consolidation, kpi: Kpi, share: float) -> tuple[str, list[BranchKpi]]:
    """The branches behind on a KPI, and by what: ('progress', those whose 進捗 is below `share` of the
    pace, slowest first) for a KPI that grows through the year (rank_basis), else ('mark', the △
    branches in code order).  HQ (00) is never among them."""
    rows = [cons.branch_kpis[(c, kpi.id)] for c in cons.branch_codes
            if c != HQ_CODE and (c, kpi.id) in cons.branch_kpis]
    if rank_basis(kpi) == "progress":
        slow = [b for b in rows if b.progress is not None and b.progress < share - 1e-9]
        return "progress", sorted(slow, key=lambda b: (b.progress or 0.0, b.branch_code))
    return "mark", [b for b in rows if b.rating.mark == "△"]


def month_changes(cons: Consolidation, previous: Consolidation | None, previous_month: str) -> MonthChanges:
    """Marks that moved (national and branch × KPI), branches newly late or 未提出, against `previous`
    — the Consolidation of the previous month's recorded run (None: the ledger holds none)."""
    if previous is None:
        return MonthChanges(None)
    national = tuple(MarkChange(NATIONAL_CODE, k.id, previous.national[k.id].rating.mark, n.rating.mark)
                     for k in cons.kpis if (n := cons.national.get(k.id)) is not None and k.id in previous.national
                     and previous.national[k.id].rating.mark != n.rating.mark)
    branches = tuple(MarkChange(code, kpi_id, old.rating.mark, b.rating.mark)
                     for (code, kpi_id), b in sorted(cons.branch_kpis.items(), key=lambda kv: (kv[0][1], kv[0][0]))
                     if code != HQ_CODE and (old := previous.branch_kpis.get((code, kpi_id))) is not None
                     and old.rating.mark != b.rating.mark)
    before = {s.code: s for s in previous.statuses}
    late = tuple(s.code for s in cons.statuses if s.late and not (before.get(s.code) and before[s.code].late))
    missing = tuple(s.code for s in cons.statuses if s.status == STATUS_MISSING
                    and not (before.get(s.code) and before[s.code].status == STATUS_MISSING))
    return MonthChanges(previous_month, national, branches, late, missing)
