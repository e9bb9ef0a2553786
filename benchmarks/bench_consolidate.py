"""Consolidating 47 branches (+ 本部) end to end, with the time of each stage.

    .venv/bin/python benchmarks/bench_consolidate.py [--keep DIR | --inbox DIR [--month 2024-09]] [--runs N]

Builds an FY2024 inbox through 2024-10 from the real templates (tests.builders.sample
values; --inbox reuses one built before, e.g. DIR/inbox of an earlier --keep
DIR), then times each stage of a consolidation in this process, as the CLI
runs them:

* read + validate (kpisheet.check.validation: the files read in forked workers);
* build consolidation (kpisheet.consolidate.build.build_consolidation, pure);
* ledger (a new ledger: `attach` before the outputs, `record_run` after them);
* each writer alone, one after the other: the national, lists and 実施状況
  workbooks, the CSV and the feedback workbooks (all of them, and per file);
* the outputs as the CLI writes them (write_outputs: the HQ workbooks in a
  forked child beside the CSV and the feedback files);

and finally the CLI itself end to end (`python -m kpisheet consolidate ...` as a
subprocess, median of --runs).  Stage lines show wall and CPU seconds; CPU is
this process's and that of the children it waited for (the read workers, the
writer of the HQ workbooks), so on a busy machine, where the wall time of a
parallel step says little, the CPU column still does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.builders

from kpisheet.check.validation import validate
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet import ledger as led
from kpisheet.month import read_value_file
from kpisheet.template.build import generate
from kpisheet.write.csvout import write_kpi_values_csv
from kpisheet.write.feedback.build import write_feedback
from kpisheet.write.outputs import write_outputs
from kpisheet.write.report import write_lists, write_national
from kpisheet.write.report.plan_status import write_all_plan_status
from tests.builders.sample import fill_by_names, sample_values

# `generate` refuses HQ settings that hold placeholders: measure with the shipped example settings
os.environ.setdefault("KPISHEET_HQ_SETTINGS", str(Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"))

FY, MONTH = 2024, date(2024, 10, 1)


def build_inbox(root: Path) -> Path:
    cat = catalogue_for_fy(FY)
    inbox = root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for path in generate(FY, None, root / "templates").paths:
        fill_by_names(path, inbox / path.name, sample_values(cat, FY, path.name[:2], MONTH))
    return inbox


def cpu_seconds() -> float:
    """User + system time of this process and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Stages:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def time(self, name: str, fn):  # noqa: ANN001, ANN201
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = fn()
        self.rows.append((name, time.perf_counter() - wall, cpu_seconds() - cpu))
        return result


def cli_runs(inbox: Path, out: Path, runs: int) -> list[float]:
    cmd = [sys.executable, "-m", "kpisheet", "consolidate", str(inbox), "--fy", str(FY), "--month",
           f"{MONTH:%Y-%m}", "-o", str(out), "--force"]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    global MONTH
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep", type=Path, help="build the inbox here and keep it")
    group.add_argument("--inbox", type=Path, help="use this inbox (built before) instead of building one")
    parser.add_argument("--runs", type=int, default=3, help="CLI runs (the median is reported)")
    parser.add_argument("--month", default=f"{MONTH:%Y-%m}",
                        help="month consolidated (default 2024-10; 2024-09 for the inbox of benchlib/compare.py)")
    args = parser.parse_args()
    MONTH = date.fromisoformat(args.month + "-01")
    root = args.keep or Path(tempfile.mkdtemp(prefix="kpisheet-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    inbox = args.inbox or build_inbox(root)
    out = Path(tempfile.mkdtemp(prefix="out-", dir=root))
    st = Stages()
    result = st.time("read + validate", lambda: validate([inbox], fiscal_year=FY, as_of=MONTH))
    baselines, _ = read_value_file(None, FY)
    cons = st.time("build consolidation", lambda: build_consolidation(
        result.every_submission, result.findings, fiscal_year=FY, month=MONTH, baselines=baselines,
        input_files=[Path(f) for f in result.files]))
    ledger_path = out / "kpisheet.sqlite"
    with led.opened(ledger_path, create=True) as book, book.transaction():
        plan = st.time("ledger: attach", lambda: led.attach(book, cons))
        st.time("national workbook", lambda: write_national(cons, out / "national.xlsx", force=True))
        st.time("lists workbook", lambda: write_lists(cons, out / "lists.xlsx", force=True))
        st.time("実施状況 workbook", lambda: write_all_plan_status(cons, out / "plan_status.xlsx", force=True))
        st.time("csv", lambda: write_kpi_values_csv(cons, out / "kpi_values.csv", force=True))
        subs = [s for s in cons.submissions if s.branch_code and Path(s.path).is_file()]
        st.time(f"feedback x{len(subs)}", lambda: [write_feedback(cons, sub, out, force=True) for sub in subs])
        written = st.time("outputs as the CLI", lambda: write_outputs(cons, out / "cli-like", force=True))
        st.time("ledger: record_run", lambda: led.record_run(book, cons, plan, written.paths, {"benchmark": True}))
    cli = cli_runs(inbox, root / "out-cli", args.runs)
    print(f"{len(result.files)} workbooks, {len(result.findings)} findings")
    print(f"  {'stage':<26} {'wall':>6}   {'cpu':>6}")
    for stage, wall, cpu in st.rows:
        print(f"  {stage:<26} {wall:6.2f} s {cpu:6.2f} s")
        if stage.startswith("feedback x") and subs:
            print(f"  {'  per feedback file':<26} {wall / len(subs) * 1000:6.0f} ms {cpu / len(subs) * 1000:6.0f} ms")
    as_cli = [r for r in st.rows if r[0] in ("read + validate", "build consolidation", "ledger: attach",
                                             "outputs as the CLI", "ledger: record_run")]
    print(f"  {'as the CLI runs them':<26} {sum(r[1] for r in as_cli):6.2f} s {sum(r[2] for r in as_cli):6.2f} s"
          "  (read, build, ledger and the outputs as the CLI writes them)")
    print(f"  {'CLI end to end':<26} {statistics.median(cli):6.2f} s  median of {len(cli)} "
          f"({', '.join(f'{t:.2f}' for t in cli)})")
    print(f"load average now: {os.getloadavg()[0]:.2f} (other jobs on the machine distort the wall times)")


if __name__ == "__main__":
    main()
