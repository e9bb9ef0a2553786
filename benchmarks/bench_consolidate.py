"""Consolidating 47 branches (+ 本部) end to end, with the time of each stage.

    /work/venv/bin/python benchmarks/bench_consolidate.py [--keep DIR]

Builds an FY2024 inbox through 2024-10 from the real templates (kpisheet.sample
values), then times: read + validate (kpisheet.validation), consolidation
(pure), the national workbook, the CSV and the 48 feedback workbooks.  Target:
under 3 s end to end on the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from kpisheet.catalogue import catalogue_for_fy
from kpisheet.consolidation import build_consolidation, read_baselines
from kpisheet.csvout import write_kpi_values_csv
from kpisheet.feedback import write_feedback
from kpisheet.report import write_national
from kpisheet.sample import fill_by_names, sample_values
from kpisheet.template import generate
from kpisheet.validation import validate

FY, MONTH = 2024, date(2024, 10, 1)


def build_inbox(root: Path) -> Path:
    cat = catalogue_for_fy(FY)
    inbox = root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for path in generate(FY, None, root / "templates").paths:
        fill_by_names(path, inbox / path.name, sample_values(cat, FY, path.name[:2], MONTH))
    return inbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="build the inbox here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kpisheet-bench-"))
    inbox = build_inbox(root)
    out = root / "out"
    times: dict[str, float] = {}
    start = t = time.perf_counter()
    result = validate([inbox], fiscal_year=FY, as_of=MONTH)
    times["read + validate"] = time.perf_counter() - t
    t = time.perf_counter()
    baselines, _ = read_baselines(None, FY)
    cons = build_consolidation(result.submissions, result.findings, fiscal_year=FY, month=MONTH,
                               baselines=baselines, input_files=[Path(f) for f in result.files])
    times["consolidate"] = time.perf_counter() - t
    t = time.perf_counter()
    write_national(cons, out / "national.xlsx", force=True)
    times["national workbook"] = time.perf_counter() - t
    t = time.perf_counter()
    write_kpi_values_csv(cons, out / "kpi_values.csv", force=True)
    times["csv"] = time.perf_counter() - t
    t = time.perf_counter()
    for sub in cons.submissions:
        write_feedback(cons, sub, out, force=True)
    times[f"feedback x{len(cons.submissions)}"] = time.perf_counter() - t
    total = time.perf_counter() - start
    print(f"{len(result.files)} workbooks, {len(result.findings)} findings")
    for stage, seconds in times.items():
        print(f"  {stage:<20} {seconds:6.2f} s")
    print(f"  {'total':<20} {total:6.2f} s  (target < 3 s)")


if __name__ == "__main__":
    main()
