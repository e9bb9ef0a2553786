"""Speed and memory of the current tree against a git ref, side by side in one run, and against a floor.

    .venv/bin/python benchmarks/compare.py [--ref main] [--runs 5] [--inbox DIR] [--keep DIR] [--only NAME]

This machine's speed drifts by up to 2x within minutes, so figures measured at
different times cannot be compared.  This script checks the ref out into a
temporary git worktree (`git worktree add --detach`), builds one inbox, and runs
each benchmark command for both trees interleaved — ref, current, current, ref,
ref, current, ... (ABBA order cancels a steady drift) — after one unmeasured
warm-up run of each (byte-compiling the worktree, filling the page cache).

Both trees run with this interpreter (the venv's: the dependencies are the same)
as `python -P -m kpisheet ...` with PYTHONPATH set to the tree's root; -P and a
neutral working folder make sure the PYTHONPATH copy is the one imported, which
the script checks before measuring.  Benchmarks (all through the CLI):

* validate     — `kpisheet validate` of the 47-file inbox (benchlib.build_inbox,
                 filled through 2024-09, built once with the current tree);
* consolidate  — `kpisheet consolidate` of the same inbox end to end, into a new
                 output folder each run, `--force` (with the default ledger,
                 kpisheet.sqlite in the working folder: one per tree, since a newer
                 tree migrates a ledger an older one then refuses);
* generate     — `kpisheet generate --fy 2024` of all 48 workbooks into a new folder;
* examples     — the README's monthly command on the shipped examples/inbox_FY2024
                 (copied once, so both trees read the same files).

The floor.  validate and consolidate read the 47 files; what no Python program
reading them can beat by much is python-calamine (Rust) reading every cell of
every sheet of the same files, started as a process of its own
(`benchlib.py floor INBOX`, the `bench` extra).  It runs as a third side in the
same interleaved rounds as these two benchmarks (ref, current, floor, floor,
current, ref, ...), and each side's ratio to the floor is printed: median wall
time over the floor's median wall time of the same rounds (and the same for CPU).

CPU time (user + system of the command and the workers it waited for, from
os.wait4) is shown too: on a busy machine it drifts less than wall time.
Peak memory is that of the whole process tree (the CLI forks workers): the
summed proportional set size (Pss), polled, with in brackets the polled sum of
VmRSS over the tree ("tree", an upper bound: copy-on-write pages shared with
forked children count once per process) and the exact ru_maxrss of the largest
single process ("largest", from os.wait4); see benchlib.py.  Pss and the tree's
RSS are polled in each side's warm-up run only (the largest process's ru_maxrss is
the maximum over every run): reading /proc/PID/smaps_rollup every 10 ms takes the
measured process's memory-map lock and CPU of a two-CPU machine, and slowed the
timed runs by up to a tenth.  The worktree is removed at the end
(`git worktree remove --force`), also after an error or Ctrl-C.

Prints a markdown table that can be pasted into the README.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import benchlib
from benchlib import (
    REPO,
    Run,
    add_worktree,
    check_import,
    child_env,
    current_label,
    floor_cmd,
    fresh_dir,
    git,
    kpisheet_cmd,
    mb,
    measure,
    remove_worktree,
)

Args = Callable[[Path, Path, Path], list[str]]  # (inbox, examples folder, output folder) -> CLI args


def _validate(inbox: Path, _ex: Path, _out: Path) -> list[str]:
    return ["validate", str(inbox), "--fy", str(benchlib.FY), "--as-of", f"{benchlib.MONTH:%Y-%m}"]


def _consolidate(inbox: Path, _ex: Path, out: Path) -> list[str]:
    return ["consolidate", str(inbox), "--fy", str(benchlib.FY), "--month", f"{benchlib.MONTH:%Y-%m}",
            "-o", str(out), "--force"]


def _generate(_inbox: Path, _ex: Path, out: Path) -> list[str]:
    return ["generate", "--fy", str(benchlib.FY), "-o", str(out)]


def _examples(_inbox: Path, ex: Path, out: Path) -> list[str]:
    return ["consolidate", str(ex / "inbox_FY2024"), "--fy", "2024", "--month", "2024-10",
            "--baseline", str(ex / "baseline_FY2023.csv"), "-o", str(out), "--force"]


BENCHMARKS: dict[str, tuple[str, Args]] = {
    "validate": ("validate 47 workbooks", _validate),
    "consolidate": ("consolidate 47 workbooks (CLI, end to end)", _consolidate),
    "generate": ("generate 48 workbooks", _generate),
    "examples": ("consolidate examples/inbox_FY2024 (README command)", _examples),
}
WITH_FLOOR = ("validate", "consolidate")  # the benchmarks that read the 47-file inbox
FLOOR = "floor"


# ------------------------------------------------------------------ running
def run_interleaved(sides: dict[str, Path], args: Args, inbox: Path, ex: Path, root: Path,
                    runs: int, floor: list[str] | None = None) -> tuple[dict[str, list[Run]], dict[str, Run]]:
    """One warm-up per side, then `runs` measured runs per side in ABBA order; with `floor`
    (a command), the floor is a third side of the same rounds.  Returns the timed runs and, per
    side, the warm-up run: the only one whose memory is polled (polling slows what is timed)."""
    results: dict[str, list[Run]] = {side: [] for side in [*sides, *([FLOOR] if floor else [])]}
    warm_ups: dict[str, Run] = {}
    order = list(results)
    for i in range(runs + 1):
        for side in order if i % 2 == 0 else reversed(order):
            if side == FLOOR:
                run = measure(floor, child_env(REPO), root, poll=i == 0)
            else:  # each tree in a working folder of its own: its own default ledger (a newer tree migrates it)
                cwd = root / f"cwd-{side}"
                cwd.mkdir(exist_ok=True)
                run = measure(kpisheet_cmd(*args(inbox, ex, fresh_dir(root, "out-"))), child_env(sides[side]), cwd,
                              poll=i == 0)
            if i > 0:
                results[side].append(run)
            else:
                warm_ups[side] = run
    return results, warm_ups


def summary(runs: list[Run]) -> str:
    walls = [r.wall for r in runs]
    return f"{statistics.median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f})"


def cpu(runs: list[Run]) -> str:
    return f"{statistics.median(r.cpu for r in runs):.2f} s"


def memory(warm_up: Run, runs: list[Run]) -> str:
    """Pss and tree RSS polled in the warm-up run; the largest process's ru_maxrss over every run."""
    return (f"{mb(warm_up.pss_kb)} ({mb(warm_up.tree_kb)} / "
            f"{mb(max(r.largest_kb for r in [warm_up, *runs]))})")


def ratio(ref: list[Run], cur: list[Run]) -> str:
    medians = statistics.median(r.wall for r in cur) / statistics.median(r.wall for r in ref)
    paired = statistics.median(c.wall / r.wall for r, c in zip(ref, cur, strict=True))
    return f"{medians:.2f} ({paired:.2f})"


def to_floor(side: list[Run], floor: list[Run] | None) -> str:
    """Median wall time and median CPU time over the floor's (wall; CPU)."""
    if not floor:
        return "—"
    wall = statistics.median(r.wall for r in side) / statistics.median(r.wall for r in floor)
    cpu_ratio = statistics.median(r.cpu for r in side) / statistics.median(r.cpu for r in floor)
    return f"{wall:.1f}× ({cpu_ratio:.1f}×)"


def exit_notes(name: str, results: dict[str, list[Run]]) -> list[str]:
    notes = []
    for side, runs in results.items():
        codes = sorted({r.returncode for r in runs})
        if codes != [0]:
            failing = next(r for r in runs if r.returncode != 0)
            tail = " ".join(failing.stderr.strip().splitlines()[-2:])[:300]
            notes.append(f"{name}, {side}: exit {codes} — {tail}")
    return notes


def table(labels: dict[str, str], results: dict[str, dict[str, list[Run]]],
          warm_ups: dict[str, dict[str, Run]]) -> list[str]:
    ref, cur = labels["ref"], labels["current"]
    lines = [f"| benchmark | {ref} median (min–max) | {cur} median (min–max) | {cur} / {ref} "
             f"(medians; paired runs) | CPU {ref} / {cur} (medians) | floor median (CPU) "
             f"| {ref} / floor (CPU) | {cur} / floor (CPU) | peak memory {ref}: Pss (tree / largest) "
             f"| peak memory {cur}: Pss (tree / largest) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, res in results.items():
        floor = res.get(FLOOR)
        floor_text = f"{statistics.median(r.wall for r in floor):.2f} s ({cpu(floor)})" if floor else "—"
        lines.append(f"| {BENCHMARKS[name][0]} | {summary(res['ref'])} | {summary(res['current'])} | "
                     f"{ratio(res['ref'], res['current'])} | {cpu(res['ref'])} / {cpu(res['current'])} | {floor_text} | "
                     f"{to_floor(res['ref'], floor)} | {to_floor(res['current'], floor)} | "
                     f"{memory(warm_ups[name]['ref'], res['ref'])} | "
                     f"{memory(warm_ups[name]['current'], res['current'])} |")
    return lines


# ------------------------------------------------------------------ main
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.strip().splitlines()[1:]))
    ap.add_argument("--ref", default="main", help="git ref to compare against (default: main)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per side and benchmark (default 5)")
    ap.add_argument("--inbox", type=Path, help="reuse a 47-file inbox built before (DIR/inbox of --keep)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep the inbox and outputs")
    ap.add_argument("--only", action="append", choices=list(BENCHMARKS),
                    help="run only this benchmark (repeatable)")
    return ap.parse_args()


def prepare(root: Path, inbox: Path | None, worktree: Path) -> tuple[Path, Path]:
    """The 47-file inbox (built once, with the current tree, else the ref) and a copy of examples/."""
    if inbox is None:
        try:
            inbox = benchlib.build_inbox_with(root, REPO)
        except RuntimeError as exc:
            print(f"{exc}\n… building it with the ref instead", file=sys.stderr)
            inbox = benchlib.build_inbox_with(root, worktree)
    ex = root / "examples"
    if not ex.exists():
        shutil.copytree(REPO / "examples" / "inbox_FY2024", ex / "inbox_FY2024")
        shutil.copy2(REPO / "examples" / "baseline_FY2023.csv", ex)
    return inbox, ex


def main() -> None:
    args = parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kpisheet-compare-"))
    root.mkdir(parents=True, exist_ok=True)
    labels = {"ref": git("rev-parse", "--short", args.ref), "current": current_label()}
    worktree = add_worktree(args.ref, root)
    try:
        sides = {"ref": worktree, "current": REPO}
        for tree in sides.values():
            check_import(tree, root)
        inbox, ex = prepare(root, args.inbox, worktree)
        print(f"machine: {benchlib.machine()}")
        print(f"ref {labels['ref']} ({worktree}) vs current {labels['current']} ({REPO}); inbox {inbox}; "
              f"{args.runs} runs per side, interleaved\n")
        floor = floor_cmd(inbox)
        if floor is None:
            print("python-calamine is not installed (pip install -e '.[bench]'): no floor\n")
        results: dict[str, dict[str, list[Run]]] = {}
        warm_ups: dict[str, dict[str, Run]] = {}
        notes: list[str] = []
        for name in args.only or list(BENCHMARKS):
            results[name], warm_ups[name] = run_interleaved(sides, BENCHMARKS[name][1], inbox, ex, root, args.runs,
                                                            floor if name in WITH_FLOOR else None)
            notes += exit_notes(name, results[name])
            floor_note = f", floor {summary(results[name][FLOOR])}" if FLOOR in results[name] else ""
            print(f"  {name}: ref {summary(results[name]['ref'])}, "
                  f"current {summary(results[name]['current'])}{floor_note}", flush=True)
        print("\n" + "\n".join(table(labels, results, warm_ups)))
        print("\nmemory: Pss and tree = peak summed Pss and RSS of the process tree (polled every 10 ms in the "
              "warm-up run only; RSS an upper bound); largest = ru_maxrss of the largest single process (exact)")
        for note in notes:
            print(f"note: {note}")
    finally:
        remove_worktree(worktree)
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
