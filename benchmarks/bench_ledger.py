"""The submission ledger at scale: six fiscal years × 12 months × 48 branches, and what it costs a run.

    .venv/bin/python benchmarks/bench_ledger.py [--keep DIR] [--runs N]

1. Builds a ledger of FY2021-FY2026 (term 5 and term 6), every month, every
   workbook of the year (47 branches, and 本部 in term 6): for each fiscal year
   one set of filled workbooks through March is read once, and each month's
   run records the submissions cut at that month (months after it blank, a
   file of its own per branch and month, as HQ receives them) through
   `ledger.attach` and `ledger.record_run` — the CLI's path, minus the
   outputs.  FY2024-10 is left out: it is the run measured.
2. Reports the ledger's size and rows.
3. Measures the FY2024-10 consolidation of a real 48-file inbox (its figures
   up to September are the ones the ledger holds, so only October is new)
   with the ledger against without it:
   * in-process, the ledger's own work (open, BEGIN IMMEDIATE, attach, record
     the run with the sha256 of its 50 outputs, COMMIT) on a fresh copy of the
     ledger, median of --runs;
   * the CLI end to end, `--ledger COPY` against `--no-ledger`, interleaved
     (ABBA) on this noisy machine, median of --runs each.
   Target: the ledger adds at most 0.3 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.builders

from kpisheet.check.validation import validate
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.fiscal import fiscal_months, month_key
from kpisheet.domain.model import KpiEntry, Submission
from kpisheet import ledger as led
from kpisheet.template.build import generate
from tests.builders.sample import fill_by_names, sample_values

# `generate` refuses HQ settings that hold placeholders: measure with the shipped example settings
os.environ.setdefault("KPISHEET_HQ_SETTINGS", str(Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"))

YEARS = range(2021, 2027)
MEASURED_FY, MEASURED = 2024, date(2024, 10, 1)


def year_inbox(root: Path, fy: int) -> Path:
    """Every workbook of `fy` filled through March (FY2024: the months up to October as the measured inbox)."""
    cat = catalogue_for_fy(fy)
    inbox = root / f"year_{fy}"
    if inbox.is_dir() and any(inbox.glob("*.xlsx")):
        return inbox
    inbox.mkdir(parents=True, exist_ok=True)
    for tpl in generate(fy, None, root / f"templates_{fy}", force=True).paths:
        code = tpl.name[:2]
        values = sample_values(cat, fy, code, fiscal_months(fy)[-1])
        if fy == MEASURED_FY:
            values.update(sample_values(cat, fy, code, MEASURED))
        fill_by_names(tpl, inbox / tpl.name, values)
    return inbox


def measured_inbox(root: Path) -> Path:
    cat = catalogue_for_fy(MEASURED_FY)
    inbox = root / "inbox_2024-10"
    if inbox.is_dir() and any(inbox.glob("*.xlsx")):
        return inbox
    inbox.mkdir(parents=True, exist_ok=True)
    for tpl in generate(MEASURED_FY, None, root / f"templates_{MEASURED_FY}", force=True).paths:
        fill_by_names(tpl, inbox / tpl.name, sample_values(cat, MEASURED_FY, tpl.name[:2], MEASURED))
    return inbox


def cut(sub: Submission, month: date) -> Submission:
    """The submission as its branch would have sent it for `month`: later months blank, a file of its own."""
    key = month_key(month)
    kpis = {k: KpiEntry(e.kpi_id, e.target, e.baseline, {m: v for m, v in e.months.items() if m <= key},
                        e.text, e.rating) for k, e in sub.kpis.items()}
    digest = hashlib.sha256(f"{sub.sha256}-{key}".encode()).hexdigest()
    name = Path(sub.path).name.replace("KPI入力", f"KPI入力_{key}")
    return replace(sub, path=str(Path(sub.path).parent / name), sha256=digest, kpis=kpis)


def build_ledger(root: Path, path: Path) -> tuple[int, float]:
    """Record 6 × 12 monthly runs (all but the measured one); (runs recorded, seconds)."""
    runs, start = 0, time.perf_counter()
    for fy in YEARS:
        subs = validate([year_inbox(root, fy)], fiscal_year=fy).submissions
        for month in fiscal_months(fy):
            if (fy, month) == (MEASURED_FY, MEASURED):
                continue
            month_subs = [cut(s, month) for s in subs]
            cons = build_consolidation(month_subs, [f for s in month_subs for f in s.findings],
                                       fiscal_year=fy, month=month)
            with led.opened(path, create=True) as book, book.transaction():
                led.record_run(book, cons, led.attach(book, cons), [], {"benchmark": True})
            runs += 1
            print(f"  FY{fy} {month_key(month)} recorded", end="\r", flush=True)
    return runs, time.perf_counter() - start


def ledger_work(inbox: Path, path: Path, scratch: Path, runs: int) -> list[float]:
    """Seconds of the ledger's own work for the measured run, each on a fresh copy of the ledger."""
    from kpisheet.month import consolidate
    from kpisheet.write.outputs import write_outputs

    cons = consolidate(inbox, fiscal_year=MEASURED_FY, month=MEASURED)
    outputs = write_outputs(cons, scratch / "outputs", force=True).paths  # their sha256 is part of the work
    times = []
    for i in range(runs):
        copy = scratch / f"work_{i}.sqlite"
        shutil.copy(path, copy)
        t = time.perf_counter()
        with led.opened(copy) as book, book.transaction():
            plan = led.attach(book, cons)
            led.record_run(book, cons, plan, outputs, {"benchmark": True})
        times.append(time.perf_counter() - t)
    return times


def cli_pair(inbox: Path, path: Path, scratch: Path, runs: int) -> tuple[list[float], list[float]]:
    """CLI wall times without and with the ledger, interleaved ABBA."""
    base = [sys.executable, "-m", "kpisheet", "consolidate", str(inbox), "--fy", str(MEASURED_FY), "--month",
            month_key(MEASURED), "-o", str(scratch / "out"), "--force"]
    without: list[float] = []
    with_: list[float] = []
    order = [False, True, True, False] * ((runs + 1) // 2)
    for i, use in enumerate(order[:2 * runs]):
        if use:
            copy = scratch / f"cli_{i}.sqlite"
            shutil.copy(path, copy)
            cmd = [*base, "--ledger", str(copy)]
        else:
            cmd = [*base, "--no-ledger"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (with_ if use else without).append(time.perf_counter() - t)
    return without, with_


def describe(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("runs", "files", "run_files", "kpi_values", "revisions")}
    return ", ".join(f"{t} {n:,}" for t, n in counts.items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="build everything here and keep it (reused when run again)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each kind (the median is reported)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kpisheet-bench-ledger-"))
    root.mkdir(parents=True, exist_ok=True)
    path = root / "ledger.sqlite"
    if not path.exists():
        runs, seconds = build_ledger(root, path)
        print(f"built {runs} monthly runs in {seconds:.0f} s" + " " * 20)
    size = path.stat().st_size
    print(f"ledger: {size / 2**20:.1f} MiB ({describe(path)})")
    inbox = measured_inbox(root)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=root))
    try:
        work = ledger_work(inbox, path, scratch, args.runs)
        without, with_ = cli_pair(inbox, path, scratch, args.runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")
    print(f"ledger's own work (attach + record + commit), median of {len(work)}: {statistics.median(work):.3f} s "
          f"({', '.join(f'{t:.3f}' for t in work)})")
    print(f"CLI without ledger: median {statistics.median(without):.2f} s ({', '.join(f'{t:.2f}' for t in without)})")
    print(f"CLI with ledger:    median {statistics.median(with_):.2f} s ({', '.join(f'{t:.2f}' for t in with_)})")
    print(f"difference of medians: {statistics.median(with_) - statistics.median(without):+.2f} s (target <= 0.3 s)")


if __name__ == "__main__":
    main()
