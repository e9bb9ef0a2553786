"""runtime.fork_map: forked workers that keep order, survive a dead child and never outlive a run."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from kpisheet.runtime import FAILED, fork_map

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
_PARENT = os.getpid()


def _square(n: int) -> int:
    return n * n


def _dies_on_seven(n: int) -> int:
    if n == 7 and os.getpid() != _PARENT:
        os._exit(3)  # what the out-of-memory killer looks like from the parent
    return n


def _slow(n: int) -> int:
    time.sleep(30)
    return n


def _children() -> list[int]:
    pids: list[int] = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            pids.extend(int(p) for p in f.read().split())
    return pids


def test_results_come_back_in_input_order():
    assert fork_map(_square, list(range(23)), 3) == [n * n for n in range(23)]
    assert fork_map(_square, [4], 3) == [16]
    assert _children() == []


def test_a_dead_child_fails_only_its_share():
    out = fork_map(_dies_on_seven, list(range(12)), 3)  # shares 0-3, 4-7, 8-11
    assert out[:4] == [0, 1, 2, 3] and out[8:] == [8, 9, 10, 11]
    assert out[4:8] == [FAILED] * 4
    assert _children() == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_an_interrupt_kills_and_reaps_the_children_and_leaves_no_thread():
    threads = threading.active_count()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fork_map(_slow, list(range(4)), 2)
    timer.join()
    assert time.monotonic() - started < 10  # the children were not waited for
    assert _children() == []  # killed and reaped: no zombie, no orphan
    assert threading.active_count() == threads  # nothing for the interpreter to join at exit
