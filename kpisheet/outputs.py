"""Writing a run's outputs: the national workbook, the analysts' CSV and the branch feedback files."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from .consolidation import Consolidation
from .csvout import write_kpi_values_csv
from .feedback import feedback_path, write_feedback
from .fileio import OutputExistsError
from .fiscal import month_key
from .model import Submission
from .report import write_national
from .runtime import fork_cpus


def output_names(fiscal_year: int, month: date) -> dict[str, str]:
    tag = f"FY{fiscal_year}_{month_key(month)}"
    return {"national": f"national_{tag}.xlsx", "csv": f"kpi_values_{tag}.csv", "tag": tag}


def write_outputs(cons: Consolidation, outdir: Path, *, force: bool,
                  progress: Callable[[str], None] | None = None, parallel: bool | None = None,
                  created: datetime | None = None) -> list[Path]:
    """Write the national workbook, the CSV and every branch's feedback workbook; return their paths.

    `created` is the national workbook's creation time (default: now); with it fixed, the same
    Consolidation gives the same bytes in every output.

    Existing outputs are checked before anything is written, so a refused run writes nothing.
    With two or more CPUs (and fork), the national workbook - the largest output - is written in a
    forked child process while this process writes the CSV and the feedback files; `parallel`
    forces either way.  Each file is written atomically either way.  In parallel, a failure of one
    part is raised once the other has finished (so the CSV and feedback files can exist although
    the national workbook could not be written).
    """
    outdir = Path(outdir)
    names = output_names(cons.fiscal_year, cons.month)
    national, csv_path = outdir / names["national"], outdir / names["csv"]
    feedback_subs = [s for s in cons.submissions if s.branch_code and Path(s.path).is_file()]
    planned = [national, csv_path, *(feedback_path(cons, s, outdir) for s in feedback_subs)]
    if not force:
        for p in planned:
            if p.exists():
                raise OutputExistsError(p)
    step = progress or (lambda _label: None)
    if parallel is None:
        parallel = fork_cpus() >= 2 and bool(feedback_subs)
    if parallel:
        outdir.mkdir(parents=True, exist_ok=True)
        job = _ForkedCall(write_national, cons, national, force=force, created=created)
        try:
            rest = _write_rest(cons, outdir, csv_path, feedback_subs, force, step,
                               write_kpi_values_csv, write_feedback)
        finally:
            national_written = job.result()  # waits, also when the rest failed
        step("national")
        return [national_written, *rest]
    written = [write_national(cons, national, force=force, created=created)]
    step("national")
    return written + _write_rest(cons, outdir, csv_path, feedback_subs, force, step,
                                 write_kpi_values_csv, write_feedback)


def _write_rest(cons: Consolidation, outdir: Path, csv_path: Path, feedback_subs: list[Submission],
                force: bool, step: Callable[[str], None], write_csv: Callable[..., Path],
                write_feedback: Callable[..., Path]) -> list[Path]:
    written = [write_csv(cons, csv_path, force=force)]
    step("csv")
    for sub in feedback_subs:
        written.append(write_feedback(cons, sub, outdir, force=force))
        step(sub.branch_code or "")
    return written


class _ForkedCall:
    """fn(*args, **kwargs) in a forked child (which shares the parent's memory: nothing is pickled
    but the result or the exception, sent back through a pipe)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        import multiprocessing
        import sys

        for stream in (sys.stdout, sys.stderr):  # the child flushes its copies on exit: no duplicates
            if stream is not None:
                stream.flush()
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_call_and_send, args=(send, fn, args, kwargs), daemon=True)
        self._proc.start()
        send.close()

    def result(self) -> Any:
        try:
            ok, payload = self._recv.recv()
        except EOFError:
            ok, payload = False, None
        finally:
            self._recv.close()
            self._proc.join()
        if not ok:
            if isinstance(payload, BaseException):
                raise payload
            raise RuntimeError(f"the process writing the national workbook ended with exit code "
                               f"{self._proc.exitcode}")
        return payload


def _call_and_send(send: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        result = (True, fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        result = (False, exc)
    try:
        send.send(result)
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled
        send.send((False, RuntimeError(f"{type(result[1]).__name__}: {result[1]}")))
    send.close()
