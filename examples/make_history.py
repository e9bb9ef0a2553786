"""Rebuild examples/history_FY2023.csv: last year's monthly figures, for 前年同月比.

    python examples/make_history.py

The file is the kpi_values CSV kpisheet writes, from a consolidation of FY2023
(令和5年度, term 5) at its last month, 2024-03: every branch's figure of every
month, and the national figures (branch ALL) — kept to the columns the ledger
reads (KEPT), which makes it a quarter of the size.  The README's main command
imports it into the ledger (`kpisheet ledger import`) before consolidating
FY2024, so the national workbook shows each result beside the same month a
year earlier.

The branches' workbooks are filled with tests.builders.sample values whose March
figures are the year-end values of examples/baseline_FY2023.csv (the
previous-year values HQ gave the FY2024 workbooks), so both files tell the
same story.  Reproducible: the same baseline file gives the same CSV.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.builders

from kpisheet.domain.catalogue import Kpi, catalogue_for_fy, prefecture_branches
from kpisheet.month import consolidate
from kpisheet.read.names import kpi_key
from kpisheet.template.build import generate
from kpisheet.write.csvout import write_kpi_values_csv
from tests.builders.sample import fill_by_names, sample_values

# `generate` refuses HQ settings that hold placeholders: build with the shipped example settings
os.environ.setdefault("KPISHEET_HQ_SETTINGS", str(Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"))

HERE = Path(__file__).resolve().parent
FY = 2023
LAST = date(2024, 3, 1)
SEED = 2023
BASELINE = HERE / f"baseline_FY{FY}.csv"
HISTORY = HERE / f"history_FY{FY}.csv"
KEPT = ["branch_code", "branch_name", "kpi_id", "month", "numerator", "denominator", "value", "status"]


def year_end_values() -> dict[tuple[str, str], float]:
    with BASELINE.open(encoding="utf-8") as f:
        return {(r["branch"], r["kpi_id"]): float(r["value"]) for r in csv.DictReader(f)}


def _towards(kpi: Kpi, code: str, values: dict[str, Any], wanted: float | None) -> None:
    """Scale a KPI's monthly numerators (or counts) so that March shows `wanted`."""
    months = [m for m in kpi.months(FY) if m <= LAST]
    if wanted is None or not months:
        return
    if kpi.kind == "count":
        last = values.get(kpi_key(kpi.id, "val", months[-1]).name)
        factor = wanted / last if last else 1.0
        for m in months:
            name = kpi_key(kpi.id, "val", m).name
            values[name] = float(round(values[name] * factor))
        return
    num, den = (values.get(kpi_key(kpi.id, p, months[-1]).name) for p in ("num", "den"))
    rate = kpi.rate(num, den) if num and den else None
    factor = wanted / rate if rate else 1.0
    for m in months:
        n, d = kpi_key(kpi.id, "num", m).name, kpi_key(kpi.id, "den", m).name
        scaled = round(values[n] * factor)
        values[n] = float(min(scaled, values[d]) if kpi.display == "percent" else scaled)


def branch_values(code: str, year_end: dict[tuple[str, str], float]) -> dict[str, Any]:
    cat = catalogue_for_fy(FY)
    values = sample_values(cat, FY, code, LAST, seed=SEED)
    for kpi in cat.kpis_for(FY, code):
        if kpi.kind != "qualitative":
            _towards(kpi, code, values, year_end.get((code, kpi.id)))
    return values


def keep_columns(src: Path, dst: Path) -> None:
    """The CSV kpisheet wrote, with the KEPT columns only (same encoding and line ends)."""
    with src.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    with dst.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(KEPT)
        # `value` unrounded (the CSV's `value` is rounded as shown; `value_raw` is the figure itself), and
        # only the rows that hold figures (a branch without a file has rows with none)
        w.writerows([r["value_raw" if c == "value" else c] for c in KEPT] for r in rows
                    if r["status"] not in ("not_submitted", "unreadable", "not_used"))


def main() -> int:
    year_end = year_end_values()
    codes = [b.code for b in prefecture_branches()]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inbox = root / "inbox"
        inbox.mkdir()
        for template in generate(FY, codes, root / "templates").paths:
            fill_by_names(template, inbox / template.name, branch_values(template.name[:2], year_end))
        cons = consolidate(inbox, fiscal_year=FY, month=LAST)
        errors = [f for f in cons.findings if f.is_error]
        if errors:
            print("\n".join(f.message_en for f in errors[:10]), file=sys.stderr)
            return 1
        write_kpi_values_csv(cons, root / "kpi_values.csv", force=True)
        keep_columns(root / "kpi_values.csv", HISTORY)
    print(f"wrote {HISTORY.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
