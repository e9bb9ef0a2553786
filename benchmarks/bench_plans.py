"""Plans in the ledger at the scale of a year: 48 plans collected, collected again, one changed, approved.

    .venv/bin/python benchmarks/bench_plans.py [--runs N]

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
from kpisheet.plan.season import collect_plans
from tests.builders.plan_ledger import FY, nation, plan


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
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            for name, value in one_run(Path(tmp)).items():
                results.setdefault(name, []).append(value)
    for name, values in results.items():
        unit = "" if "KB" in name else " s"
        print(f"{name:28} {statistics.median(values):8.3f}{unit}  ({min(values):.3f}–{max(values):.3f})")


if __name__ == "__main__":
    main()
