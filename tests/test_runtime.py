"""runtime.fork_map: forked workers that keep order, survive a dead child and never outlive a run."""

from __future__ import annotations

import os
import sys
import signal
import threading
import time

import pytest

from kpisheet.runtime import FAILED, ForkedCall, fork_map

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


_SIGNAL_FROM_A_FORK_CALLBACK: list[int] = []  # a test arms it: the next fork's parent callback sends it


def _signal_from_a_fork_callback() -> None:
    if _SIGNAL_FROM_A_FORK_CALLBACK:
        os.kill(os.getpid(), _SIGNAL_FROM_A_FORK_CALLBACK.pop())  # its handler runs inside this callback


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_parent=_signal_from_a_fork_callback)


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
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        timer.start()  # inside: on a busy machine the SIGINT may come before fork_map has even started
        fork_map(_slow, list(range(4)), 2)
    timer.join()
    assert time.monotonic() - started < 10  # the children were not waited for
    assert _children() == []  # killed and reaped: no zombie, no orphan
    assert threading.active_count() == threads  # nothing for the interpreter to join at exit


def _fork_then_interrupt(real_fork):
    def fork() -> int:
        pid = real_fork()
        if pid != 0:
            os.kill(os.getpid(), signal.SIGINT)  # its handler runs as this call returns, before pid is kept
        return pid
    return fork


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
@pytest.mark.parametrize("run", ["fork_map", "ForkedCall"])
@pytest.mark.parametrize("where", ["in a fork callback", "as os.fork returns"])
def test_an_interrupt_while_forking_is_raised_once_the_child_is_kept(where, run, monkeypatch):
    """A SIGINT that arrives while a child is forked (what the 0.5 s SIGINT above met late in the suite
    on a busy machine, where forking the big pytest process is slow).  Raised inside os.fork's Python
    callbacks (logging's, and kpisheet.runtime's once a CLI test ran in-process), Python only printed it and
    fork_map waited for the children's 30 s; raised as os.fork returned, it left a child nobody knew of.
    It is now held until the child is recorded."""
    handler = signal.getsignal(signal.SIGINT)
    if where == "in a fork callback":
        _SIGNAL_FROM_A_FORK_CALLBACK.append(signal.SIGINT)
    else:
        monkeypatch.setattr(os, "fork", _fork_then_interrupt(os.fork))
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            if run == "fork_map":
                fork_map(_slow, list(range(4)), 2)
            else:
                ForkedCall(_slow, 1).result()
    finally:
        _SIGNAL_FROM_A_FORK_CALLBACK.clear()
        monkeypatch.undo()
        left = _children()
        for pid in left:  # leave no child to the tests after this one, even when it fails
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert time.monotonic() - started < 10
    assert left == []
    assert signal.getsignal(signal.SIGINT) is handler  # put back


def test_a_work_queue_hands_each_number_out_once_across_a_fork() -> None:
    from kpisheet.runtime import ForkedCall, WorkQueue

    queue = WorkQueue(200)
    try:
        child = ForkedCall(lambda: list(queue))
        mine = list(queue)
        theirs = child.result()
    finally:
        queue.close()
    assert sorted(mine + theirs) == list(range(200))
    assert list(WorkQueue(0)) == []
    with pytest.raises(ValueError):
        WorkQueue(WorkQueue.MAX + 1)


def test_share_map_works_here_and_in_children_and_keeps_order() -> None:
    from kpisheet.runtime import share_map

    assert share_map(_square, list(range(23)), 3) == [n * n for n in range(23)]
    assert share_map(_square, [4], 2) == [16]
    assert share_map(_square, [], 2) == []


def _dies_in_a_child(n: int) -> int:
    if os.getpid() != _TEST_PID and n == 7:
        os._exit(3)
    return n * n


_TEST_PID = os.getpid()


def test_share_map_gives_failed_for_what_a_dead_child_took() -> None:
    from kpisheet.runtime import share_map

    out = share_map(_dies_in_a_child, list(range(12)), 2)
    assert all(r is FAILED or r == n * n for n, r in enumerate(out))
    assert out[7] is FAILED or out[7] == 49  # 49 when this process took it


@pytest.mark.skipif(not hasattr(signal, "SIGHUP") or not os.path.isdir("/proc/self/task"), reason="needs SIGHUP and /proc")
def test_sighup_inside_interruptible_ends_the_body_like_sigterm_and_kills_the_children():
    """The terminal was closed: SIGHUP interrupts the command body, its forked children are killed and
    reaped, `interrupted` gets SIGHUP, and the handlers are put back."""
    from kpisheet.runtime import STOP_SIGNALS, interruptible

    assert signal.SIGHUP in STOP_SIGNALS
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    got: list[int] = []

    def interrupted(signum: int) -> None:  # as the CLI's: note it and exit
        got.append(signum)
        raise SystemExit(128 + signum)

    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGHUP))
    started = time.monotonic()
    with pytest.raises(SystemExit) as exited, interruptible(interrupted):
        timer.start()
        fork_map(_slow, list(range(4)), 2)
    timer.join()
    assert got == [signal.SIGHUP] and exited.value.code == 129
    assert time.monotonic() - started < 10 and _children() == []
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before


def test_gc_paused_resumes_collection_in_a_library_caller_and_not_in_the_cli_process(monkeypatch):
    import atexit
    import gc

    from kpisheet import runtime

    registered = []
    monkeypatch.setattr(atexit, "register", lambda fn: registered.append(fn))
    was = gc.isenabled()
    gc.enable()
    try:
        with runtime.gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() and registered == []  # a library caller gets collection back
        monkeypatch.setattr(runtime, "ONE_SHOT_PROCESS", True)
        with runtime.gc_paused():
            pass
        assert not gc.isenabled()  # the CLI's process: no catch-up walk before its exit
        assert registered == [gc.freeze]  # and nothing for the interpreter's last collection to walk
    finally:
        gc.enable() if was else gc.disable()


def test_the_console_entry_point_marks_its_process_as_ending_with_the_command(monkeypatch):
    from kpisheet import cli, runtime

    monkeypatch.setattr(runtime, "ONE_SHOT_PROCESS", False)
    monkeypatch.setattr(sys, "argv", ["kpisheet", "--version"])
    with pytest.raises(SystemExit):
        cli.main()
    assert runtime.ONE_SHOT_PROCESS is True


def _frame(i: int, value) -> bytes:
    import pickle

    data = pickle.dumps(value)
    return b"R" + i.to_bytes(4, "little") + len(data).to_bytes(8, "little") + data


def test_share_map_takes_each_result_as_it_comes_and_ignores_a_frame_cut_short() -> None:
    """A child's results arrive one frame at a time: the whole ones are unpickled between this process's
    own items, a frame not yet whole waits for the rest, and one cut short by the child's end is left
    FAILED (the caller redoes that item)."""
    import pickle

    from kpisheet.runtime import _take_sent

    read_end, write_end = os.pipe()
    try:
        streams = {read_end: bytearray()}
        os.set_blocking(read_end, False)
        out = [FAILED] * 4
        third = _frame(2, "c")
        os.write(write_end, _frame(0, "a") + _frame(3, "d") + third[:20])
        _take_sent(streams, out, wait=False)
        assert out == ["a", FAILED, FAILED, "d"]
        _take_sent(streams, out, wait=False)  # nothing new: nothing blocks
        os.write(write_end, third[20:] + _frame(1, "b")[:9] + pickle.dumps((True, None)))
        os.close(write_end)
        write_end = -1
        _take_sent(streams, out, wait=True)
        assert out == ["a", FAILED, "c", "d"]
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def _dies_after_its_first(n: int) -> int:
    time.sleep(0.02)  # both processes take items
    if os.getpid() != _TEST_PID:
        with open(_TAKEN[0], "a") as taken:  # the child's items, for the test to see
            taken.write(f"{n}\n")
        if len(open(_TAKEN[0]).read().split()) > 1:
            os._exit(3)  # the child's second item
    return n * n


_TAKEN: list[str] = []


def test_share_map_keeps_what_a_child_sent_before_it_died(tmp_path) -> None:
    from kpisheet.runtime import share_map

    _TAKEN[:] = [str(tmp_path / "taken")]
    out = share_map(_dies_after_its_first, list(range(20)), 2)
    taken = [int(n) for n in (tmp_path / "taken").read_text().split()] if (tmp_path / "taken").exists() else []
    assert all(r == n * n for n, r in enumerate(out) if n not in taken[1:])  # the child's first came back
    assert all(out[n] is FAILED for n in taken[1:])  # the one it died on did not
