"""Shared helpers of the benchmark scripts: the 47-file inbox, timed and memory-measured runs.

    python benchmarks/benchlib.py build-inbox DIR     # builds DIR/templates and DIR/inbox
    python benchmarks/benchlib.py floor DIR           # reads every cell of DIR/*.xlsx with python-calamine

Not a module of the package: the scripts in benchmarks/ import it from their own
folder.  Everything here drives kpisheet through its public entry points (the
CLI as a subprocess, `kpisheet.template.build.generate` and `tests.builders.sample` to build
the inbox), so the scripts keep working while the package changes.

Memory of a run (`measure`) is reported two ways, because the CLI forks worker
processes (validation workers, the national workbook written in a child):

* **tree** — the peak over time of the sum of VmRSS of the process and all its
  descendants, polled from /proc every ~10 ms.  Pages shared copy-on-write
  between a parent and its forked children are counted once per process, so
  this is an upper bound of what the run occupies; a spike shorter than the
  polling interval can be missed.
* **largest** — `ru_maxrss` from `os.wait4` on the child: the kernel's exact
  high-water mark of the single largest process among the child and the
  descendants it waited for.  It misses nothing short, but does not add up
  processes that were alive at the same time.

* **pss** — the peak over time of the sum of the proportional set size (Pss,
  /proc/<pid>/smaps_rollup) of the process and its descendants, polled with
  the tree figure: a page shared by n processes counts 1/n in each, so the sum
  is what the run really occupies.  This is the headline figure; a budget such
  as "under 150 MB" is met when it is under it.

The tree and largest figures bracket it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

# `generate` refuses HQ settings that hold placeholders: measure with the shipped example settings
os.environ.setdefault("KPISHEET_HQ_SETTINGS", str(Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"))

REPO = Path(__file__).resolve().parent.parent
FY = 2024
MONTH = date(2024, 9, 1)  # the inbox is filled through September
POLL_SECONDS = 0.01
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ------------------------------------------------------------------ the inbox
def build_inbox(root: Path) -> Path:
    """47 filled branch workbooks (no 本部) in root/inbox, as bench_read_validate.py builds them.

    Uses whatever `kpisheet` is importable (the current tree when run with the
    project's venv, or PYTHONPATH).  Baselines are filled so the files are what
    a branch returns at the end of September.
    """
    from kpisheet.domain.catalogue import catalogue_for_fy, prefecture_branches
    from kpisheet.read import names as nm
    from kpisheet.template.build import generate

    sys.path.insert(0, str(REPO))  # tests.builders: the example generator lives beside the tests
    from tests.builders.sample import fill_by_names, sample_values

    cat = catalogue_for_fy(FY)
    codes = [b.code for b in prefecture_branches()]
    templates = sorted(Path(p) for p in generate(FY, codes, root / "templates").paths)
    inbox = root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for tpl, code in zip(templates, sorted(codes), strict=True):
        values = sample_values(cat, FY, code, MONTH)
        for kpi in cat.kpis_for(FY, code):
            if kpi.target.rule in ("baseline", "generic_conditional") and kpi.kind != "qualitative":
                values[nm.kpi_key(kpi.id, "baseline").name] = 0.9 if kpi.is_percent else 1000.0
        fill_by_names(tpl, inbox / tpl.name, values)
    return inbox


def build_inbox_with(root: Path, pythonpath: Path) -> Path:
    """Build the inbox in a subprocess importing kpisheet from `pythonpath` (raises on failure)."""
    cmd = [sys.executable, "-P", str(Path(__file__).resolve()), "build-inbox", str(root)]
    done = subprocess.run(cmd, env=child_env(pythonpath), cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the inbox with {pythonpath} failed:\n{done.stderr[-2000:]}")
    return root / "inbox"


# ------------------------------------------------------------------ the floor
def read_every_cell(inbox: Path) -> int:
    """Every cell of every sheet of every .xlsx in `inbox`, read with python-calamine (Rust): the floor.

    What no Python reader of the same files can beat by much: unzip, parse the XML of every
    sheet and shared string, make a Python value of every cell.  Returns the cells read.
    """
    from python_calamine import CalamineWorkbook

    cells = 0
    for path in sorted(Path(inbox).glob("*.xlsx")):
        wb = CalamineWorkbook.from_path(str(path))
        for name in wb.sheet_names:
            cells += sum(len(row) for row in wb.get_sheet_by_name(name).to_python())
    return cells


def floor_cmd(inbox: Path) -> list[str] | None:
    """The floor as a command (`benchlib.py floor INBOX`), or None without python-calamine."""
    try:
        import python_calamine  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-P", str(Path(__file__).resolve()), "floor", str(inbox)]


# ------------------------------------------------------------------ running the CLI
def child_env(pythonpath: Path) -> dict[str, str]:
    """The environment of a CLI run: kpisheet imported from `pythonpath`, nothing else changed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KPISHEET"))}
    env["PYTHONPATH"] = str(pythonpath)
    env["KPISHEET_HQ_SETTINGS"] = os.environ["KPISHEET_HQ_SETTINGS"]  # the example settings (see above)
    return env


def kpisheet_cmd(*args: str) -> list[str]:
    """`python -P -m kpisheet ARGS`: -P keeps the working folder off sys.path, so PYTHONPATH decides."""
    return [sys.executable, "-P", "-m", "kpisheet", *args]


@dataclass
class Run:
    wall: float
    returncode: int
    tree_kb: int  # peak of the summed VmRSS of the process tree (polled)
    largest_kb: int  # ru_maxrss of the largest single process (exact)
    processes: int  # most processes seen alive at once
    pss_kb: int = 0  # peak of the summed Pss of the process tree (polled)
    cpu: float = 0.0  # user + system seconds of the process and the descendants it waited for
    stdout: str = ""
    stderr: str = ""


@dataclass
class _Poll:
    root: int
    peak_kb: int = 0
    pss_kb: int = 0
    processes: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return pids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _poll(state: _Poll) -> None:
    while not state.stop.is_set():
        pids = _tree(state.root)
        state.peak_kb = max(state.peak_kb, sum(_rss_kb(p) for p in pids))
        state.pss_kb = max(state.pss_kb, sum(_pss_kb(p) for p in pids))
        state.processes = max(state.processes, len(pids))
        state.stop.wait(POLL_SECONDS)


def measure(cmd: list[str], env: dict[str, str], cwd: Path, *, keep_output: bool = False,
            poll: bool = True) -> Run:
    """Run `cmd` once; wall time, exit code and peak memory (see the module docstring).

    `poll=False` leaves the process tree alone (no Pss or tree RSS, only ru_maxrss): reading
    /proc/PID/smaps_rollup every 10 ms takes the process's memory-map lock and CPU of a small
    machine, which slows what is being timed by up to a tenth.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out if keep_output else subprocess.DEVNULL, stderr=err)
        state = _Poll(proc.pid)
        poller = threading.Thread(target=_poll, args=(state,), daemon=True)
        if poll:
            poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        state.stop.set()
        if poll:
            poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(wall, proc.returncode, max(state.peak_kb, usage.ru_maxrss), usage.ru_maxrss,
                   state.processes, state.pss_kb, usage.ru_utime + usage.ru_stime, out.read().decode(errors="replace"),
                   err.read().decode(errors="replace"))


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


# ------------------------------------------------------------------ git
def git(*args: str) -> str:
    """Run git in the repository; its stdout, stripped."""
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def current_label() -> str:
    """HEAD's short hash, with "+uncommitted" when the package or its data differ from it."""
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "kpisheet", "templates", "schemas")
    return f"{head}+uncommitted" if dirty else head


def add_worktree(ref: str, root: Path) -> Path:
    """Check `ref` out, detached, into a new worktree under `root`."""
    path = root / f"ref-{git('rev-parse', '--short', ref)}"
    git("worktree", "add", "--detach", str(path), ref)
    return path


def remove_worktree(path: Path) -> None:
    try:
        git("worktree", "remove", "--force", str(path))
    except subprocess.CalledProcessError as exc:
        print(f"could not remove the worktree {path}: {exc.stderr.strip()}", file=sys.stderr)


def check_import(tree: Path, cwd: Path) -> None:
    """Exit if `import kpisheet` with PYTHONPATH=tree does not load that tree's package."""
    cmd = [sys.executable, "-P", "-c", "import kpisheet; print(kpisheet.__file__)"]
    done = subprocess.run(cmd, env=child_env(tree), cwd=cwd, capture_output=True, text=True)
    loaded = Path(done.stdout.strip() or "?").resolve()
    if not loaded.is_relative_to(tree.resolve()):
        sys.exit(f"PYTHONPATH={tree} imports kpisheet from {loaded} ({done.stderr.strip()[-300:]})")


# ------------------------------------------------------------------ the machine
def machine() -> str:
    """One line: CPU model and count, memory, Python, date — for the header of a report."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
        memory = f", {mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = ""
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({model}){memory}, "
            f"Python {platform.python_version()}, {datetime.now():%Y-%m-%d %H:%M}, "
            f"load average {os.getloadavg()[0]:.2f}")


def fresh_dir(parent: Path, prefix: str) -> Path:
    """A new, empty output folder for one run (never reused, so no run sees another's files)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("build-inbox", "floor"):
        sys.exit("\n".join(line.strip() for line in __doc__.strip().splitlines()[2:4]))
    print(build_inbox(Path(sys.argv[2])) if sys.argv[1] == "build-inbox" else read_every_cell(Path(sys.argv[2])))
