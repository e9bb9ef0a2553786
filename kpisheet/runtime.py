"""How a run uses the machine: garbage collection paused, CPUs that forked workers may use, forked
children, and SIGINT/SIGTERM/SIGHUP turned into a clean end of a command."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import threading
from functools import partial
from typing import Any, Callable, Iterator, NoReturn, Sequence

# The signals that end a run cleanly: Ctrl-C, `kill`, and SIGHUP - the terminal (or the remote
# session) the run was started from was closed.  Where a signal does not exist (Windows has no
# SIGHUP) it is left out.
STOP_SIGNALS: tuple[int, ...] = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                                      if hasattr(signal, name))


def fork_cpus() -> int:
    """CPUs this process may use for forked workers; 1 where fork is unavailable (Windows)."""
    if not hasattr(os, "fork"):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Set by the console entry point (kpisheet.cli.main): this process ends when its command is done.
ONE_SHOT_PROCESS = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while reading the inbox or writing the outputs.

    Reading makes ~1,000 input values per workbook, writing a tuple or two per
    cell (~95,000 cells in the national workbook), and nothing cyclic worth
    collecting; but every allocation burst triggers collections that walk every
    live object - all submissions with every input value - again and again:
    about a tenth of reading's and a fifth of the national workbook's time.
    Collection resumes (and catches up) afterwards — except in a process that ends with its command
    (ONE_SHOT_PROCESS): there the catch-up, a walk of every object the month made (~0.12 s), would
    come just before the exit frees them all, so collection stays off and, at exit, every object is
    frozen out of the interpreter's last collection too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if ONE_SHOT_PROCESS:
            atexit.register(gc.freeze)
        elif was_enabled:
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
            _fork(partial(_map_share, fn, items[start:stop]), children)
        outcomes = _collect(children)
        out: list[Any] = []
        for (start, stop), outcome in zip(shares, outcomes, strict=True):
            ok, share = outcome if outcome is not None else (False, None)
            out.extend(share if ok and isinstance(share, list) and len(share) == stop - start
                       else [FAILED] * (stop - start))
        return out
    finally:
        _kill(children)


def share_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """[fn(item) for item in items] by this process and `workers` - 1 forked children, in input order.

    All take items one at a time from one WorkQueue, so a process that is given slow items, or
    less of the CPU, simply takes fewer; this process works too instead of waiting, and what it
    works out is not pickled.  A child sends each result as soon as it is made, and this process
    unpickles what has come between its own items: done at the end, the children's pickling and
    its unpickling (~5 ms and ~4 ms for a month's submission) kept one CPU idle for a tenth of a
    second.  An item a child took but did not bring back (it died, failed or sent something
    unreadable) comes back FAILED (the caller redoes it).  Longer lists than a WorkQueue holds go
    to fork_map.
    """
    if len(items) > WorkQueue.MAX:
        return fork_map(fn, items, workers)
    queue = WorkQueue(len(items))
    children: list[_Child] = []
    out: list[Any] = [FAILED] * len(items)
    try:
        for _ in range(max(0, workers - 1)):
            _fork(partial(_send_each, fn, items, queue), children)
        streams = {fd: bytearray() for _, fd in children}
        for fd in streams:
            os.set_blocking(fd, False)
        for i in queue:
            out[i] = fn(items[i])
            _take_sent(streams, out, wait=False)
        _take_sent(streams, out, wait=True)
        _reap(children)
    finally:
        _kill(children)
        queue.close()
    return out


# A frame of share_map's stream: b"R", the item's index (4 bytes) and the pickle's length (8 bytes), the pickle.
_FRAME, _FRAME_HEAD = 0x52, 13
_stream_fd = -1  # in a forked child: the write end of its pipe to the parent


def _send_each(fn: Callable[[Any], Any], items: Sequence[Any], queue: "WorkQueue") -> None:
    """A child's share of a share_map: each result framed and sent as soon as it is made."""
    import fcntl
    import pickle

    with contextlib.suppress(OSError, AttributeError):  # room for a few results while the parent is busy (Linux)
        fcntl.fcntl(_stream_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    for i in queue:
        data = pickle.dumps(fn(items[i]), protocol=pickle.HIGHEST_PROTOCOL)
        frame = memoryview(bytes([_FRAME]) + i.to_bytes(4, "little") + len(data).to_bytes(8, "little") + data)
        while frame:
            frame = frame[os.write(_stream_fd, frame):]


def _take_sent(streams: dict[int, bytearray], out: list[Any], *, wait: bool) -> None:
    """Unpickle into `out` the whole frames the children have sent: what is there now, or (wait) all until
    each child closes its pipe.  What follows the last whole frame (the child's final outcome, or a frame
    cut short by its death) is left unread."""
    if wait:
        for fd in streams:
            os.set_blocking(fd, True)
        for fd, rest in zip(streams, _read_all(list(streams)), strict=True):
            streams[fd] += rest
    else:
        for fd, buffer in streams.items():
            with contextlib.suppress(BlockingIOError):
                while block := os.read(fd, 1 << 20):
                    buffer += block
    for buffer in streams.values():
        at = 0
        while len(buffer) - at >= _FRAME_HEAD and buffer[at] == _FRAME:
            i = int.from_bytes(buffer[at + 1: at + 5], "little")
            end = at + _FRAME_HEAD + int.from_bytes(buffer[at + 5: at + _FRAME_HEAD], "little")
            if end > len(buffer):
                break
            if 0 <= i < len(out):
                out[i] = _unpickled(bytes(buffer[at + _FRAME_HEAD: end]))
            at = end
        del buffer[:at]


def _unpickled(data: bytes) -> Any:
    import pickle

    try:
        return pickle.loads(data)
    except Exception:  # noqa: BLE001 - sent damaged: the caller redoes the item
        return FAILED


def _reap(children: list[_Child]) -> list[int]:
    """Close the pipes of children whose output has been read to its end, and reap them: their wait statuses."""
    statuses = []
    for i, (pid, fd) in enumerate(children):
        os.close(fd)
        children[i] = (pid, -1)
        statuses.append(os.waitpid(pid, 0)[1])
        children[i] = (-1, -1)  # reaped: its pid may be reused, never signal it again
    children.clear()
    return statuses


class ForkedCall:
    """fn(*args, **kwargs) in a forked child, which shares this process's memory: only the result
    or the exception comes back.  `result()` waits for it; `stop()` ends the child if it still runs."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self._children: list[_Child] = []
        try:
            _fork(partial(fn, *args, **kwargs), self._children)
        except BaseException:  # an interrupt while forking: the caller never gets this object to stop
            _kill(self._children)
            raise

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


class WorkQueue:
    """The numbers 0..n-1, each handed out once to whichever process asks first.

    A pipe filled and closed for writing before the fork, so the parent and its forked
    children read from one queue; a read takes one whole 4-byte number (the pipe hands out
    its bytes in order, one reader at a time) and an empty pipe reads as the end.  For work
    whose pieces cost unlike amounts, shared out as each process becomes free.  At most MAX
    numbers (they must fit in the pipe before anyone reads)."""

    MAX = 4096

    def __init__(self, n: int):
        if not 0 <= n <= self.MAX:
            raise ValueError(f"a WorkQueue holds 0 to {self.MAX} numbers, not {n}")
        self._fd, write_end = os.pipe()
        try:
            data = b"".join(i.to_bytes(4, "little") for i in range(n))
            while data:
                data = data[os.write(write_end, data):]
        finally:
            os.close(write_end)

    def __iter__(self) -> Iterator[int]:
        while self._fd >= 0:
            block = os.read(self._fd, 4)
            if len(block) != 4:
                return
            yield int.from_bytes(block, "little")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


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


def _fork(work: Callable[[], Any], children: list[_Child]) -> None:
    """Fork a child that runs `work`; it is in `children` before an interrupt can be raised here."""

    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        if stream is not None:
            stream.flush()
    with _signals_held() as held:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:
            _child(work, read_end, write_end, held)
        os.close(write_end)
        children.append((pid, read_end))


def _child(work: Callable[[], Any], read_end: int, write_end: int, held: list[int]) -> NoReturn:
    """The forked child: run `work`, send its outcome to the parent and leave (never returns)."""
    import pickle

    global _stream_fd
    code = 0
    try:
        os.close(read_end)
        _stream_fd = write_end
        for signum in STOP_SIGNALS:  # die of them at once, not run on as an orphan
            signal.signal(signum, signal.SIG_DFL)
        for noted in held[:1]:  # noted while forking (here or before the fork): die of it now
            os.kill(os.getpid(), noted)
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


class _Held:
    """The STOP_SIGNALS handler while a child is forked and recorded: it notes the signal."""

    def __init__(self, replaced: dict[int, Callable[[int, Any], Any]]):
        self.replaced = replaced
        self.noted: list[int] = []
        self.active = True

    def __call__(self, signum: int, frame: Any) -> None:
        if self.active:
            self.noted.append(signum)
        else:  # left in place by a restore that a signal cut short: act as the handler it stands for
            self.replaced[signum](signum, frame)


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """STOP_SIGNALS arriving inside the block are handled at its end, by their own handlers.

    Between os.fork() and recording the child, an exception raised by a signal handler
    (KeyboardInterrupt, Interrupted) would leave a child that nobody kills; raised inside
    os.fork's Python callbacks (logging's, and this module's once `interruptible` ran) Python
    only prints it, and the interrupt is lost.  A slow fork (a big process on a busy machine)
    makes either likely for a signal sent while forking.  So inside the block the Python
    handlers of both signals are replaced by one that notes them; the first noted goes to its
    own handler when the block ends.  Yields the noted signals (the child sees them too).
    Handlers run in the main thread only: elsewhere, and for SIG_DFL / SIG_IGN, nothing is
    replaced.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    replaced: dict[int, Callable[[int, Any], Any]] = {
        s: h for s in STOP_SIGNALS if callable(h := signal.getsignal(s))}
    held = _Held(replaced)
    installed: list[int] = []
    try:
        for signum in replaced:
            signal.signal(signum, held)
            installed.append(signum)
        yield held.noted
    finally:
        try:
            for signum in installed:
                signal.signal(signum, replaced[signum])  # notes what is pending before it switches
        finally:
            held.active = False
    if held.noted:
        replaced[held.noted[0]](held.noted[0], None)


def _collect(children: list[_Child]) -> list[tuple[bool, Any] | None]:
    """Each child's outcome (None when it died or sent something unreadable); the children are reaped."""
    import pickle

    data = _read_all([fd for _, fd in children])
    outcomes: list[tuple[bool, Any] | None] = []
    for raw, status in zip(data, _reap(children), strict=True):
        try:
            outcome = pickle.loads(raw) if os.waitstatus_to_exitcode(status) == 0 else None
        except Exception:  # noqa: BLE001 - a child killed mid-write
            outcome = None
        outcomes.append(outcome if isinstance(outcome, tuple) and len(outcome) == 2 else None)
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


# ------------------------------------------------------------------ signals
class Interrupted(BaseException):
    """One of STOP_SIGNALS arrived in the main process (a BaseException: no `except Exception` eats it)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


_main_pid: int | None = None
_received: list[int] = []  # signals that arrived during the current command
_forking: list[bool] = []  # [True] while os.fork runs its Python callbacks
_prctl: Any = None  # libc's prctl on Linux, loaded before any fork
_fork_hooks: list[bool] = []  # [True] once the fork callbacks are registered


def _on_signal(signum: int, frame: Any) -> None:
    if os.getpid() != _main_pid:  # a forked child before _after_fork_in_child ran: die by default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _received.append(signum)
    if _forking or _in_fork_callback(frame):  # an exception inside fork's callbacks would be printed and
        return                                  # lost: _after_fork_in_parent delivers it again after the fork
    for other in STOP_SIGNALS:  # a second signal must not interrupt the clean-up
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signum)  # runtime's fork helpers kill and reap their children as it propagates


def _before_fork() -> None:
    _forking.append(True)


def _after_fork_in_parent() -> None:
    _forking.clear()
    if _received and _main_pid == os.getpid():
        # Delivered again a moment later from another thread: raised here, inside fork's callbacks,
        # the exception would only be printed.
        threading.Timer(0.05, os.kill, (os.getpid(), _received[-1])).start()


def _in_fork_callback(frame: Any) -> bool:
    """The signal came at the very start of _before_fork / _after_fork_in_parent, before they marked it."""
    return frame is not None and frame.f_code in (_before_fork.__code__, _after_fork_in_parent.__code__)


def _after_fork_in_child() -> None:
    """Children of a command (validation workers, the output child) die of STOP_SIGNALS and with it.

    The parent also ends its children on the way out; dying with the parent
    (Linux: PR_SET_PDEATHSIG) covers a child forked at the very moment the
    signal came, before the parent knew of it.
    """
    _forking.clear()
    if _main_pid is None:
        return
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != _main_pid:  # the parent died before prctl
            os._exit(128 + signal.SIGTERM)


def _prepare_children() -> None:
    global _prctl
    if _prctl is None and sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
    if not _fork_hooks and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)
        _fork_hooks.append(True)


@contextlib.contextmanager
def interruptible(interrupted: Callable[[int], None]) -> Iterator[None]:
    """Run a command body with STOP_SIGNALS (SIGINT, SIGTERM, SIGHUP) turned into `interrupted(signum)`
    (which exits).

    The body is interrupted at once (Interrupted propagates, and the fork helpers below kill
    and reap their children on the way); forked children die of the signal and with this
    process.  Outside the main thread the body runs as it is."""
    global _main_pid
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        yield
        return
    _main_pid = os.getpid()
    _received.clear()
    _prepare_children()
    old = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    try:
        yield
    except (Interrupted, Exception) as exc:
        if not _received:  # an ordinary failure
            raise
        interrupted(exc.signum if isinstance(exc, Interrupted) else _received[0])
    finally:
        _main_pid = None
        for s, handler in old.items():
            signal.signal(s, handler)
    if _received:  # the exception was lost somewhere (e.g. in a callback) and the run went on
        interrupted(_received[0])
