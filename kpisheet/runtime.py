"""How a run uses the machine: garbage collection paused, CPUs that forked workers may use."""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Iterator


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
