"""How a run uses the machine: garbage collection paused, CPUs that forked workers may use."""

from __future__ import annotations

import contextlib
import gc
import os
from functools import partial
from typing import Any, Callable, Iterator, Sequence


def fork_cpus() -> int:
    """CPUs this process may use for forked workers; 1 where fork is unavailable (Windows)."""
    if not hasattr(os, "fork"):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while reading the inbox or writing the outputs.

    Reading makes ~1,000 input values per workbook, writing a tuple or two per
    cell (~95,000 cells in the national workbook), and nothing cyclic worth
    collecting; but every allocation burst triggers collections that walk every
    live object - all submissions with every input value - again and again:
    about a tenth of reading's and a fifth of the national workbook's time.
    Collection resumes (and catches up) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ------------------------------------------------------------------ forked children
# One way to fork: a child runs a piece of work, pickles its outcome - (True, result) or
# (False, exception) - into a pipe of its own and leaves with os._exit (no atexit handler, no
# buffered output of the parent written twice).  No thread and no multiprocessing machinery is
# involved, so nothing is left to join at interpreter exit, and on any BaseException (Ctrl-C,
# SIGTERM turned into an exception) the parent kills and reaps its children before it propagates.
_Child = tuple[int, int]  # (pid, read end of its pipe; -1 once closed)
FAILED = object()  # what fork_map returns for an item whose child did not come back


def fork_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """[fn(item) for item in items] in `workers` forked children, in input order.

    Each child takes a contiguous share of `items`.  A share whose child died, failed or sent
    something unreadable comes back as FAILED items (the caller redoes them in this process).
    """
    shares = _shares(len(items), workers)
    children: list[_Child] = []
    try:
        for start, stop in shares:
            children.append(_fork(partial(_map_share, fn, items[start:stop])))
        outcomes = _collect(children)
        out: list[Any] = []
        for (start, stop), outcome in zip(shares, outcomes, strict=True):
            ok, share = outcome if outcome is not None else (False, None)
            out.extend(share if ok and isinstance(share, list) and len(share) == stop - start
                       else [FAILED] * (stop - start))
        return out
    finally:
        _kill(children)


class ForkedCall:
    """fn(*args, **kwargs) in a forked child, which shares this process's memory: only the result
    or the exception comes back.  `result()` waits for it; `stop()` ends the child if it still runs."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self._children = [_fork(partial(fn, *args, **kwargs))]

    def result(self) -> Any:
        (outcome,) = _collect(self._children)
        if outcome is None:
            raise RuntimeError("the forked process ended without a result")
        ok, payload = outcome
        if not ok:
            raise payload
        return payload

    def stop(self) -> None:
        _kill(self._children)


def _map_share(fn: Callable[[Any], Any], share: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in share]


def _shares(n: int, workers: int) -> list[tuple[int, int]]:
    count = max(1, min(workers, n))
    size, extra = divmod(n, count)
    bounds, start = [], 0
    for i in range(count):
        stop = start + size + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _fork(work: Callable[[], Any]) -> _Child:
    import pickle
    import signal
    import sys

    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        if stream is not None:
            stream.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(write_end)
        return pid, read_end
    code = 0  # the child from here on: never returns
    try:
        os.close(read_end)
        for signum in (signal.SIGINT, signal.SIGTERM):  # die of them at once, not run on as an orphan
            signal.signal(signum, signal.SIG_DFL)
        try:
            outcome: tuple[bool, Any] = (True, work())
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            outcome = (False, exc)
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - a result or exception that cannot be pickled
            payload = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} ({exc})")))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # noqa: BLE001
        code = 1
    os._exit(code)


def _collect(children: list[_Child]) -> list[tuple[bool, Any] | None]:
    """Each child's outcome (None when it died or sent something unreadable); the children are reaped."""
    import pickle

    data = _read_all([fd for _, fd in children])
    outcomes: list[tuple[bool, Any] | None] = []
    for i, ((pid, fd), raw) in enumerate(zip(children, data, strict=True)):
        os.close(fd)
        children[i] = (pid, -1)
        _, status = os.waitpid(pid, 0)
        children[i] = (-1, -1)  # reaped: its pid may be reused, never signal it again
        try:
            outcome = pickle.loads(raw) if os.waitstatus_to_exitcode(status) == 0 else None
        except Exception:  # noqa: BLE001 - a child killed mid-write
            outcome = None
        outcomes.append(outcome if isinstance(outcome, tuple) and len(outcome) == 2 else None)
    children.clear()
    return outcomes


def _read_all(fds: list[int]) -> list[bytes]:
    """Everything each pipe carries until its end (read together: a full pipe would block its child)."""
    import selectors

    chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        open_fds = set(fds)
        while open_fds:
            for key, _ in sel.select():
                block = os.read(key.fd, 1 << 20)
                if block:
                    chunks[key.fd].append(block)
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
    return [b"".join(chunks[fd]) for fd in fds]


def _kill(children: list[_Child]) -> None:
    """Kill and reap children that have not been collected (no-op for collected ones)."""
    import signal

    for pid, fd in children:
        if pid > 0:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    for pid, _ in children:
        if pid > 0:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
    children.clear()
