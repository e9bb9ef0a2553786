"""SIGTERM / SIGINT / SIGHUP during a real `python -m kpisheet consolidate` run.

The run is a subprocess in its own process group, so every worker and child it
forks can be found afterwards: none may outlive it, and it may leave no
temporary file, no staging folder and no partial output.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpisheet.write.outputs import HQ_OUTPUTS, LOCK_NAME, STAGING_PREFIX

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "examples" / "inbox_FY2024"

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not Path("/proc/self/stat").exists(),
                                reason="needs POSIX signals and /proc")


@pytest.fixture
def box(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED, tmp_path / "inbox")
    return tmp_path / "inbox"


def start(inbox: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "kpisheet", "consolidate", str(inbox), "--fy", "2024",
                             "--month", "2024-10", "-o", str(out), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and int(st[2]) == pgid and st[0] != "Z":
            out.append(int(entry.name))
    return out


def children(pid: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (st := _stat(int(e.name))) and int(st[1]) == pid and st[0] != "Z"]


def wait_until(proc: subprocess.Popen[bytes], ready, what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run ended (or took too long) before {what}: {proc.communicate()[1].decode()}")
        time.sleep(0.005)


def staging_exists(out: Path) -> bool:
    return out.is_dir() and any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())


def no_orphans(pgid: int) -> list[int]:
    """Members of the run's group still alive a moment after it ended (should be none)."""
    deadline = time.monotonic() + 10
    while (alive := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def outputs_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def leftovers(out: Path) -> list[str]:
    return [str(p) for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(STAGING_PREFIX)]


def test_sigterm_while_writing_leaves_the_previous_outputs_as_they_were(box, tmp_path):
    out = tmp_path / "out"
    first = start(box, out)
    assert first.wait(300) == 0, first.communicate()[1].decode()
    before = outputs_of(out)
    assert len(before) == len(HQ_OUTPUTS) + 2 + 46  # HQ workbooks, the CSV and its xlsx copy, 46 feedback files

    proc = start(box, out, "--force")
    wait_until(proc, lambda: staging_exists(out), "it started writing")
    seen = set(children(proc.pid))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err.decode()
    assert "中断しました（SIGTERM）" in err.decode() and "Traceback" not in err.decode()
    assert no_orphans(proc.pid) == []
    assert all(_stat(c) is None or _stat(c)[0] == "Z" for c in seen)  # type: ignore[index]
    assert leftovers(out) == []
    assert outputs_of(out) == before  # nothing replaced, nothing removed


def test_sigterm_while_reading_ends_the_worker_processes(box, tmp_path):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("files are read in worker processes only with two or more CPUs")
    out = tmp_path / "out"
    proc = start(box, out)
    wait_until(proc, lambda: bool(children(proc.pid)), "its workers started")
    workers = children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err.decode()
    assert "Traceback" not in err.decode()
    assert no_orphans(proc.pid) == []
    assert all(_stat(w) is None or _stat(w)[0] == "Z" for w in workers)  # type: ignore[index]
    assert not out.exists() or (outputs_of(out) == {} and leftovers(out) == [])


def test_sigint_exits_130_and_leaves_no_partial_output(box, tmp_path):
    out = tmp_path / "out"
    proc = start(box, out)
    wait_until(proc, lambda: staging_exists(out), "it started writing")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert "中断しました（SIGINT）" in err.decode() and "Traceback" not in err.decode()
    assert no_orphans(proc.pid) == []
    assert outputs_of(out) == {} and leftovers(out) == []


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs SIGHUP")
def test_sighup_while_writing_is_handled_like_sigterm(box, tmp_path):
    """The terminal the run was started from is closed: the run ends cleanly (exit 129), leaving the
    previous outputs as they were, no staging folder and no orphan."""
    out = tmp_path / "out"
    first = start(box, out)
    assert first.wait(300) == 0, first.communicate()[1].decode()
    before = outputs_of(out)
    proc = start(box, out, "--force")
    wait_until(proc, lambda: staging_exists(out), "it started writing")
    seen = set(children(proc.pid))
    os.killpg(proc.pid, signal.SIGHUP)  # a closed terminal hangs up its whole session
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGHUP, err.decode()
    assert "中断しました（SIGHUP）" in err.decode() and "Traceback" not in err.decode()
    assert no_orphans(proc.pid) == []
    assert all(_stat(c) is None or _stat(c)[0] == "Z" for c in seen)  # type: ignore[index]
    assert leftovers(out) == []
    assert outputs_of(out) == before


def test_a_signal_at_the_start_of_a_fork_callback_waits_for_the_fork(monkeypatch):
    """Raised inside os.fork's callbacks the interruption would only be printed (a traceback, and the
    run going on): the handler notes it and leaves it to _after_fork_in_parent to deliver again."""
    from types import SimpleNamespace

    from kpisheet import runtime

    monkeypatch.setattr(runtime, "_main_pid", os.getpid())
    monkeypatch.setattr(runtime, "_received", [])
    for hook in (runtime._before_fork, runtime._after_fork_in_parent):
        runtime._on_signal(signal.SIGINT, SimpleNamespace(f_code=hook.__code__))  # returns, does not raise
    assert runtime._received == [signal.SIGINT, signal.SIGINT]
    with pytest.raises(runtime.Interrupted):
        try:
            runtime._on_signal(signal.SIGINT, None)  # anywhere else: the run is interrupted at once
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
