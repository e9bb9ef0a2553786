"""The plan season at the scale of a year: the plan workbooks generated and the shipped ones collected;
48 plans in the ledger collected, collected again, one changed, approved.

    .venv/bin/python benchmarks/bench_plans.py [--runs N] [--workbook-runs N] [--only workbooks|ledger]

Workbooks (median of --workbook-runs runs, default 3), per run in a temporary folder:

* generate: `plan generate --fy 2025` for the 48 workbooks (47 branches and 本部), each prefilled
  with its branch's 令和6年度 plan of examples/plans_FY2024 (`generate_plans(previous=...)`);
* collect, step by step, of the 47 returned workbooks of examples/plans_FY2025, as `plan collect`
  runs them: read (kpisheet.plan.reader.read_plan), validate (kpisheet.plan.rules.validate_plans),
  record and write (collect_plans into a new ledger: the versions, the targets file, the national
  summary and 47 feedback workbooks).

Ledger (the rest of this docstring):

Plans are built in memory (tests/builders/plan_ledger.py), so this measures the ledger and the
targets file, not reading workbooks (`plan read` / `plan validate` have their own costs).  Per run,
on a fresh ledger in a temporary folder:

* collect: 48 plans recorded (48 versions) and plan_targets_FY2025.csv written, in one transaction
  committed with the output (`kpisheet.plan.season.collect_plans`);
* again: the same plans (nothing recorded, the outputs written again with --force);
* changed: one branch's plan changed (one new version);
* approve: every branch's latest version approved; approved_plans read back (48 rebuilt from rows).

Prints the median and min–max wall time of each step over --runs runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.builders

from kpisheet import ledger as led
from kpisheet.domain.settings import example_settings
from kpisheet.plan.reader import read_plan
from kpisheet.plan.rules import validate_plans
from kpisheet.plan.season import collect_plans
from kpisheet.plan.taishohyo import plans_at
from kpisheet.plan.template import generate_plans
from tests.builders.plan_ledger import FY, nation, plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def workbook_run(root: Path) -> dict[str, float]:
    previous = {str(p.branch_code): p for _, p in plans_at(EXAMPLES / "plans_FY2024")}
    times: dict[str, float] = {}
    start = time.perf_counter()
    written = generate_plans(FY, root / "generated", previous=previous, settings=example_settings())
    times[f"plan generate ({len(written)} workbooks)"] = time.perf_counter() - start
    files = sorted((EXAMPLES / "plans_FY2025").glob("*.xlsx"))
    start = time.perf_counter()
    plans = [read_plan(p) for p in files]
    times[f"collect: read {len(files)} workbooks"] = time.perf_counter() - start
    start = time.perf_counter()
    found = validate_plans(plans)
    times["collect: validate"] = time.perf_counter() - start
    start = time.perf_counter()
    result = collect_plans(plans, found, FY, root / "out", ledger=root / "kpisheet.sqlite")
    times["collect: record and write"] = time.perf_counter() - start
    assert result.recorded is not None and len(result.recorded.new_versions) == len(files)
    times["collect: total"] = sum(v for k, v in times.items() if k.startswith("collect"))
    return times


def one_run(root: Path) -> dict[str, float]:
    book, out = root / "kpisheet.sqlite", root / "out"
    plans = [*nation(), plan("00")]
    times: dict[str, float] = {}
    start = time.perf_counter()
    collect_plans(plans, {}, FY, out, ledger=book)
    times["collect 48 plans"] = time.perf_counter() - start
    start = time.perf_counter()
    again = collect_plans(plans, {}, FY, out, ledger=book, force=True)
    times["again (nothing recorded)"] = time.perf_counter() - start
    assert again.recorded is not None and again.recorded.run_id is None
    changed = [*plans[:-2], plan("47", target=55.5), plans[-1]]
    start = time.perf_counter()
    collect_plans(changed, {}, FY, out, ledger=book, force=True)
    times["one plan changed"] = time.perf_counter() - start
    start = time.perf_counter()
    led.approve_plans(book, FY)
    approved = led.approved_plans(book, FY)
    times["approve all, read back"] = time.perf_counter() - start
    assert len(approved) == 48
    times["ledger size (KB)"] = book.stat().st_size / 1024
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the ledger steps")
    parser.add_argument("--workbook-runs", type=int, default=3, help="runs of generate and collect of workbooks")
    parser.add_argument("--only", choices=("workbooks", "ledger"))
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    parts = [(workbook_run, args.workbook_runs, "workbooks"), (one_run, args.runs, "ledger")]
    for run, runs, part in parts:
        if args.only not in (None, part):
            continue
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                for name, value in run(Path(tmp)).items():
                    results.setdefault(name, []).append(value)
    for name, values in results.items():
        unit = "" if "KB" in name else " s"
        print(f"{name:36} {statistics.median(values):8.3f}{unit}  ({min(values):.3f}–{max(values):.3f})")


if __name__ == "__main__":
    main()
