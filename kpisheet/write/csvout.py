"""The analysts' CSV: one row per branch × KPI × month, UTF-8 with BOM so Excel opens it.

Columns are FRAME_COLUMNS (branch × KPI × month, `kpi_value_rows`) and then:

- `achievement`, `rank`, `rank_of`: the branch's achievement of the KPI (result ÷ target,
  target ÷ result for a '<=' KPI; `inf` for a '<=' result of 0), its rank by achievement
  and how many branches were ranked (shown 「3/44」; consolidation's module docstring has
  the rule).  Only on the row whose `month` equals `data_month` (the result that is
  ranked); empty on the branch's other months, on national rows and when not ranked.

- `data_month`: the month the branch's (or, for branch_code 'ALL', the nation's) result of
  the KPI is taken at — the latest month its data reach, the same on every row of the
  branch × KPI; empty when there is no result.  The row whose `month` equals `data_month`
  is the result the workbooks show (「42.6%（R6.1現在）」).
- `progress`: 進捗 of that month's value, 1.0 = on pace for the annual target (value ÷
  (target × months of data ÷ 12)); only KPIs that grow through the year, else empty.  A
  reference figure: the mark (`mark`) is always the value against the annual target.
- `target_source`: where the annual target came from (ratings.TARGET_SOURCES key:
  workbook_hq, workbook_branch, workbook_changed, targets_file, previous_year,
  generic_condition, catalogue, term_goal).

Text cells that a spreadsheet would run as a formula (starting with = + - @,
tab or carriage return) are prefixed with an apostrophe (OWASP CSV injection);
numbers are written as numbers.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpisheet.consolidate.build import NATIONAL_CODE, Consolidation
from kpisheet.domain.catalogue import load_branches
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.ratings import progress
from kpisheet.fileio import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FRAME_COLUMNS = ["branch_code", "branch_name", "kpi_id", "kpi_label", "month", "numerator", "denominator",
                 "value", "annual_target", "target", "mark", "status", "basis"]
CSV_COLUMNS = [*FRAME_COLUMNS, "achievement", "rank", "rank_of", "data_month", "progress", "target_source"]


def kpi_value_rows(cons: Consolidation) -> list[list[Any]]:
    """Rows of FRAME_COLUMNS: one per branch × KPI × month (national rows have branch_code 'ALL')."""
    names = {b.code: b.display_name for b in load_branches()}
    names[NATIONAL_CODE] = "全国"
    rows: list[list[Any]] = []
    for mv in [*cons.month_values.values(), *cons.national_months.values()]:
        kpi = cons.catalogue.kpi(mv.kpi_id)
        rows.append([mv.branch_code, names.get(mv.branch_code, mv.branch_code), kpi.id, kpi.label, mv.month,
                     mv.numerator, mv.denominator, mv.value, mv.annual_target, mv.rating.effective_target,
                     mv.rating.mark, mv.status, mv.rating.basis_ja])
    order = {c: i for i, c in enumerate([b.code for b in load_branches()] + [NATIONAL_CODE])}
    kpi_order = {k.id: i for i, k in enumerate(cons.catalogue.kpis)}
    rows.sort(key=lambda r: (order.get(r[0], 99), kpi_order[r[2]], r[4]))
    return rows


def kpi_values_frame(cons: Consolidation) -> "pandas.DataFrame":
    """The analysts' table as a pandas DataFrame: the CSV's rows and columns."""
    import pandas as pd

    return pd.DataFrame(csv_rows(cons), columns=CSV_COLUMNS)


def safe_cell(value: Any) -> Any:
    """A CSV cell that cannot become a formula: text starting with =+-@ gets a leading apostrophe."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def csv_rows(cons: Consolidation) -> list[list[Any]]:
    """Rows of CSV_COLUMNS: the DataFrame's rows with the ranked achievement, each row's data month,
    進捗 and target source."""
    at = {name: i for i, name in enumerate(FRAME_COLUMNS)}
    out = []
    for row in kpi_value_rows(cons):
        code, kpi_id, month = row[at["branch_code"]], row[at["kpi_id"]], row[at["month"]]
        kpi = cons.catalogue.kpi(kpi_id)
        shown = cons.national.get(kpi_id) if code == NATIONAL_CODE else cons.branch_kpis.get((code, kpi_id))
        mv = (cons.national_months.get((kpi_id, month)) if code == NATIONAL_CODE
              else cons.month_values.get((code, kpi_id, month)))
        pace = progress(kpi, mv.value, mv.rating.effective_target, cons.fiscal_year, parse_month(month)) \
            if mv is not None and mv.status == "ok" else None
        source = mv.rating.target_source if mv is not None else None
        out.append([*row, *_ranked(shown, code, month), getattr(shown, "data_month", None), pace, source])
    return out


def _ranked(shown: Any, code: str, month: str) -> tuple[Any, Any, Any]:
    """(achievement, rank, rank_of) on the branch's shown row (month == data_month), else empty."""
    if code == NATIONAL_CODE or shown is None or shown.data_month != month:
        return None, None, None
    return shown.achievement, shown.rank, shown.rank_of


def write_kpi_values_csv(cons: Consolidation, path: Path, *, force: bool) -> Path:
    with atomic_path(Path(path), force=force) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(CSV_COLUMNS)
            for row in csv_rows(cons):
                w.writerow([safe_cell(v) for v in row])
    return Path(path)
