"""How a run uses the machine: garbage collection paused, CPUs that forked workers may use."""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Any, Callable, Iterator, Sequence


def fork_cpus() -> int:
    """CPUs this process may use for forked workers; 1 where fork is unavailable (Windows)."""
    import multiprocessing  # not at import: the CLI's start-up does not pay for it

    if "fork" not in multiprocessing.get_all_start_methods():
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


def fork_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """[fn(item) for item in items] in `workers` forked children, in input order.

    Each child takes a contiguous share of `items`, computes it and sends the pickled list
    back through its own pipe.  A share whose child died or sent something unreadable comes
    back as FAILED items (the caller redoes them in this process).  No thread and no
    multiprocessing machinery is involved, so nothing is left to join at interpreter exit;
    on any BaseException (Ctrl-C, SIGTERM turned into an exception) the children are killed
    and reaped before it propagates.  Children end with os._exit: no atexit handler, no
    buffered output of the parent is written twice.
    """
    import pickle
    import selectors

    shares = _shares(len(items), workers)
    children: list[tuple[int, int]] = []  # (pid, read end)
    try:
        for start, stop in shares:
            children.append(_fork_share(fn, items[start:stop]))
        data = _read_all([fd for _, fd in children], selectors)
        for i, (pid, fd) in enumerate(children):
            os.close(fd)
            children[i] = (pid, -1)
        out: list[Any] = []
        for (start, stop), (pid, _), raw in zip(shares, children, data):
            _, status = os.waitpid(pid, 0)
            try:
                share = pickle.loads(raw) if os.waitstatus_to_exitcode(status) == 0 else None
            except Exception:  # noqa: BLE001 - a child killed mid-write
                share = None
            out.extend(share if isinstance(share, list) and len(share) == stop - start
                       else [FAILED] * (stop - start))
        children.clear()
        return out
    finally:
        _kill_children(children)


FAILED = object()  # what fork_map returns for an item whose child did not come back


def _shares(n: int, workers: int) -> list[tuple[int, int]]:
    size, extra = divmod(n, max(1, min(workers, n)))
    bounds, start = [], 0
    for i in range(max(1, min(workers, n))):
        stop = start + size + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _fork_share(fn: Callable[[Any], Any], share: Sequence[Any]) -> tuple[int, int]:
    import pickle
    import sys

    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        if stream is not None:
            stream.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's exit code
        code = 0
        try:
            os.close(read_end)
            payload = pickle.dumps([fn(item) for item in share], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:  # noqa: BLE001 - the parent redoes this share
            code = 1
        os._exit(code)
    os.close(write_end)
    return pid, read_end


def _read_all(fds: list[int], selectors: Any) -> list[bytes]:
    """Everything each pipe carries until its end (read together: a full pipe would block its child)."""
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


def _kill_children(children: list[tuple[int, int]]) -> None:
    import signal

    for pid, fd in children:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    for pid, _ in children:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    children.clear()
