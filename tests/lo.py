"""LibreOffice helpers for tests: convert, render, inspect and "type like a person".

Import as ``from tests.lo import ...`` (or ``from lo import ...`` when ``tests/`` is
on ``sys.path``). Nothing here imports kpisheet.

Facts these helpers rely on (LibreOffice 7.4, Debian 12; measured here):

* ``soffice --convert-to`` exits 0 even when the source could not be loaded, so
  :func:`convert` checks that the output file exists.
* Every call uses its own temporary user profile, so calls may run in parallel.
* ``import uno`` only works under Debian's ``/usr/bin/python3``, never inside a
  virtualenv; :func:`lo_fill` therefore runs ``tests/lo_uno_fill.py`` with that
  interpreter as a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CSV_FILTER",
    "LibreOfficeError",
    "LockedCellError",
    "SYSTEM_PYTHON",
    "UNO_FILL_SCRIPT",
    "convert",
    "convert_many",
    "lo_fill",
    "lo_values_csv",
    "pdf_pages",
    "render_png",
    "requires_soffice",
    "sheet_csvs",
    "skip_without_soffice",
    "soffice_path",
    "uno_available",
]

#: Filter for ``--convert-to``: comma separated (44), quote " (34), UTF-8 (76),
#: one CSV per sheet (final -1). Token 9 "save cell contents as shown" is false,
#: so numbers come out in a standard form: 1170 (not "1,170"), percent cells
#: still as "96.5%", dates in the profile locale's default date format.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"

#: The only interpreter where ``import uno`` works on Debian.
SYSTEM_PYTHON = "/usr/bin/python3"

#: The standalone UNO script run by :func:`lo_fill`.
UNO_FILL_SCRIPT = Path(__file__).resolve().with_name("lo_uno_fill.py")


class LibreOfficeError(RuntimeError):
    """LibreOffice failed to do what was asked (output missing, crash, timeout...)."""


class LockedCellError(LibreOfficeError):
    """:func:`lo_fill` was asked to type into cells a person could not edit.

    ``names`` lists the defined names that point to locked cells on protected sheets.
    """

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


def soffice_path() -> str | None:
    """Return the path of ``soffice`` (or ``libreoffice``) on PATH, or None."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return None


def uno_available() -> bool:
    """True if ``/usr/bin/python3 -c 'import uno'`` works (needed by :func:`lo_fill`)."""
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import uno"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


class _MarkPair(list):  # type: ignore[type-arg]
    """Two pytest marks usable as one decorator *and* as a module ``pytestmark``.

    * ``@requires_soffice`` on a test function or class applies both marks.
    * ``pytestmark = requires_soffice`` works (pytest accepts a list there).
    * Inside another list write ``pytestmark = [*requires_soffice, other]``;
      a bare ``[requires_soffice, other]`` keeps only the skip condition
      (via :attr:`mark`).
    """

    def __call__(self, obj: Any) -> Any:
        for decorator in self:
            obj = decorator(obj)
        return obj

    @property
    def mark(self) -> Any:
        """The ``skipif`` Mark, for code that expects a single MarkDecorator."""
        return self[-1].mark


#: The bare skip condition: a ``pytest.mark.skipif`` MarkDecorator that skips
#: ONLY when soffice is absent.
skip_without_soffice = pytest.mark.skipif(
    soffice_path() is None, reason="LibreOffice (soffice) not installed"
)

#: Decorator / ``pytestmark`` for tests that need LibreOffice: marks them
#: ``soffice`` and skips them ONLY when soffice is absent. A missing
#: ``python3-uno`` or poppler-utils makes such tests fail, not skip: CI installs
#: them together with LibreOffice, and a silent skip would hide a broken setup.
requires_soffice = _MarkPair([pytest.mark.soffice, skip_without_soffice])


def _need_soffice() -> str:
    path = soffice_path()
    if path is None:
        raise LibreOfficeError("LibreOffice (soffice) not installed")
    return path


def _lo_env() -> dict[str, str]:
    env = dict(os.environ)
    # soffice writes nothing useful to a terminal; keep it quiet and headless.
    env.setdefault("SAL_USE_VCLPLUGIN", "svp")
    return env


def _output_name(src: Path, fmt: str) -> str:
    ext = fmt.split(":", 1)[0].strip()
    return f"{src.stem}.{ext}"


def convert(src: Path, fmt: str, outdir: Path, timeout: float = 120, infilter: str | None = None) -> Path:
    """Convert ``src`` with ``soffice --headless --convert-to fmt`` into ``outdir``.

    ``fmt`` is anything ``--convert-to`` accepts, e.g. ``"pdf"``, ``"xlsx"`` or
    :data:`CSV_FILTER`. A fresh user profile is created per call and removed
    afterwards. Returns the output path (for multi-sheet CSV, the path soffice
    would use for a single file; the per-sheet files are ``<stem>-<Sheet>.csv``).

    Raises :class:`LibreOfficeError` (with soffice's output) if soffice fails,
    times out or, as happens with unloadable input, exits 0 without output.
    ``infilter`` is passed as ``--infilter`` (e.g. ``"CSV:44,34,76,1"``: a UTF-8 CSV, as
    LibreOffice's import dialog offers it for a file with a BOM).
    """
    soffice = _need_soffice()
    src = Path(src).resolve()
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if not src.is_file():
        raise LibreOfficeError(f"no such file: {src}")
    expected = outdir / _output_name(src, fmt)
    before = set(outdir.iterdir())
    profile = Path(tempfile.mkdtemp(prefix="kpisheet-lo-convert-"))
    cmd = [
        soffice,
        "--headless",
        "--norestore",
        f"-env:UserInstallation={profile.as_uri()}",
        *([f"--infilter={infilter}"] if infilter else []),
        "--convert-to",
        fmt,
        "--outdir",
        str(outdir),
        str(src),
    ]
    try:
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                env=_lo_env(),
            )
        except subprocess.TimeoutExpired as exc:
            raise LibreOfficeError(
                f"soffice timed out after {timeout}s converting {src.name} to {fmt}: "
                f"stdout={exc.stdout!r} stderr={exc.stderr!r}"
            ) from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    produced = sorted(set(outdir.iterdir()) - before)
    if expected.exists():
        return expected
    # Multi-sheet CSV export names files <stem>-<Sheet>.csv instead.
    if produced and fmt.startswith("csv"):
        return expected
    raise LibreOfficeError(
        f"soffice produced no {expected.name} (exit code {proc.returncode}) for {src}:\n"
        f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}"
    )


def convert_many(srcs: list[Path], fmt: str, outdir: Path, timeout: float = 300) -> None:
    """Convert several files with ONE soffice run (start-up is most of a conversion's 2-5 s).

    Same as :func:`convert` for each file, except that outputs are only checked to exist
    for single-file formats (a multi-sheet CSV writes ``<stem>-<Sheet>.csv`` per sheet).
    Raises :class:`LibreOfficeError` if soffice fails or an expected output is missing.
    """
    soffice = _need_soffice()
    paths = [Path(s).resolve() for s in srcs]
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise LibreOfficeError(f"no such file: {missing[0]}")
    if len({p.stem for p in paths}) != len(paths):
        raise LibreOfficeError("convert_many needs distinct file stems (outputs are named by stem)")
    profile = Path(tempfile.mkdtemp(prefix="kpisheet-lo-convert-"))
    cmd = [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
           "--convert-to", fmt, "--outdir", str(outdir), *map(str, paths)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL, env=_lo_env())
    except subprocess.TimeoutExpired as exc:
        raise LibreOfficeError(f"soffice timed out after {timeout}s converting {len(paths)} files") from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    for p in paths:
        produced = list(outdir.glob(f"{glob_escape(p.stem)}*"))
        if not produced:
            raise LibreOfficeError(f"soffice produced nothing for {p.name} (exit {proc.returncode}):\n"
                                   f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}")


def sheet_csvs(outdir: Path, stem: str) -> dict[str, list[list[str]]]:
    """{sheet name: rows} of the per-sheet CSV files LibreOffice wrote for ``stem`` (see :data:`CSV_FILTER`)."""
    out: dict[str, list[list[str]]] = {}
    for path in Path(outdir).glob(f"{glob_escape(stem)}-*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            out[path.stem[len(stem) + 1:]] = list(csv.reader(fh))
    return out


def pdf_pages(pdf: Path) -> list[tuple[float, float]]:
    """Return (width, height) in points for every page of ``pdf`` (via ``pdfinfo``).

    A4 landscape is about (842, 595); A4 portrait about (595, 842).
    """
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        raise LibreOfficeError("pdfinfo (poppler-utils) not installed")
    info = subprocess.run(
        [pdfinfo, str(pdf)], capture_output=True, text=True, check=False, timeout=60
    )
    if info.returncode != 0:
        raise LibreOfficeError(f"pdfinfo failed on {pdf}: {info.stderr.strip()}")
    m = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    if not m:
        raise LibreOfficeError(f"pdfinfo gave no page count for {pdf}: {info.stdout}")
    n = int(m.group(1))
    if n == 0:
        return []
    detail = subprocess.run(
        [pdfinfo, "-f", "1", "-l", str(n), str(pdf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    sizes = [
        (float(w), float(h))
        for w, h in re.findall(
            r"^Page\s+\d+\s+size:\s+([\d.]+)\s+x\s+([\d.]+)\s+pts", detail.stdout, re.MULTILINE
        )
    ]
    if len(sizes) != n:
        raise LibreOfficeError(f"pdfinfo listed {len(sizes)} page sizes for {n} pages: {detail.stdout}")
    return sizes


def render_png(src: Path, outdir: Path, first_page_only: bool = True) -> list[Path]:
    """Render a workbook (or any document soffice opens) to PNG page images.

    ``src`` is converted to PDF with :func:`convert`, then ``pdftoppm -png -r 80``
    writes ``<stem>-<page>.png`` files into ``outdir``. Returns them in page order.
    """
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise LibreOfficeError("pdftoppm (poppler-utils) not installed")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    pdf = Path(src) if Path(src).suffix.lower() == ".pdf" else convert(Path(src), "pdf", outdir)
    prefix = outdir / pdf.stem
    cmd = [pdftoppm, "-png", "-r", "80"]
    if first_page_only:
        cmd += ["-f", "1", "-l", "1"]
    cmd += [str(pdf), str(prefix)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftoppm failed on {pdf}: {proc.stderr.strip()}")
    pages = sorted(
        outdir.glob(f"{glob_escape(pdf.stem)}-*.png"),
        key=lambda p: int(p.stem.rsplit("-", 1)[1]),
    )
    if not pages:
        raise LibreOfficeError(f"pdftoppm wrote no PNG for {pdf}")
    return pages


def glob_escape(text: str) -> str:
    """Escape glob metacharacters in a literal file-name part."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def lo_values_csv(src: Path, outdir: Path) -> dict[str, list[list[str]]]:
    """Export every sheet of ``src`` to CSV with LibreOffice; return ``{stem: rows}``.

    Cells come out in LibreOffice's standard text form (see :data:`CSV_FILTER`):
    e.g. ``"1170"`` for 1170 shown as "1,170", ``"96.5%"`` for a 0.0% cell.
    Keys are the CSV file stems LibreOffice writes, ``<src stem>-<sheet name>``
    (hidden sheets included), or ``<src stem>`` for a one-sheet workbook.
    """
    src = Path(src)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.glob("*.csv"))
    convert(src, CSV_FILTER, outdir)
    produced = sorted(set(outdir.glob("*.csv")) - before) or sorted(
        p for p in outdir.glob("*.csv") if p.stem == src.stem or p.stem.startswith(src.stem + "-")
    )
    result: dict[str, list[list[str]]] = {}
    for path in produced:
        with path.open(encoding="utf-8", newline="") as fh:
            result[path.stem] = [row for row in csv.reader(fh)]
    if not result:
        raise LibreOfficeError(f"LibreOffice wrote no CSV for {src}")
    return result


def _typed_spec(name: str, value: str | float | None) -> dict[str, Any]:
    if value is None:
        return {"kind": "clear"}
    if isinstance(value, bool):
        raise TypeError(f"{name}: type a string such as 'TRUE' instead of a bool")
    if isinstance(value, str):
        return {"kind": "string", "value": value}
    if isinstance(value, (int, float)):
        return {"kind": "value", "value": float(value)}
    raise TypeError(f"{name}: cannot type {value!r} ({type(value).__name__})")


def lo_fill(
    src: Path,
    dst: Path,
    typed: dict[str, str | float | None],
    sheet_ops: list[dict[str, Any]] | None = None,
    *,
    locale: str = "ja-JP",
    timeout: float = 180,
) -> None:
    """Simulate a branch employee filling ``src`` in LibreOffice Calc; save as ``dst``.

    ``typed`` maps a workbook-level defined name to what the person enters:

    * ``str``: typed through Calc's own input handling (``.uno:GoToCell`` then
      ``.uno:EnterString``), so the cell's number format and the ``locale``
      apply: "96.5%" in a ``0.0%`` cell stores 0.965, "1,170" stores 1170,
      while "96.5" in a ``0.0%`` cell stores 96.5.
    * ``float``/``int``: stored as-is with ``cell.setValue``.
    * ``None``: contents cleared (formatting kept), like the Delete key.

    ``sheet_ops`` are done first, through the UNO API (Calc updates defined names
    itself, as Excel does); protected sheets are unprotected for the op (with
    ``op["password"]`` or no password) and protected again afterwards:

    * ``{"op": "rename_sheet", "old": "入力", "new": "入力2"}``
    * ``{"op": "insert_rows", "sheet": "入力", "before_row": 3, "count": 2}`` (1-based)
    * ``{"op": "delete_rows", "sheet": "入力", "row": 3, "count": 1}`` (1-based)
    * ``{"op": "copy_sheet", "sheet": "入力", "new": "入力_2"}`` (placed last, or at ``position``)

    Not simulated: data validation. ``.uno:EnterString`` stores a value that the
    Calc UI would reject with a "stop" alert (measured: "150" into a 0..1
    decimal cell, "x" into a ◎○△× list cell), much like pasting in Excel. Hidden
    sheets are not refused either.

    Strings are typed after all floats/clears, and the file is stored right
    after the last one: headless soffice 7.4 aborts (SIGABRT from a scheduler
    timer) a few hundred ms after the last dispatcher call, so nothing else may
    happen in between. A crash before saving is retried once.

    ``locale`` is Calc's locale setting (Tools > Options > Language Settings),
    which decides how typed text is parsed; branch PCs run ``ja-JP``.

    Raises :class:`LockedCellError` (nothing saved) if a name points to a locked
    cell on a protected sheet, since a person could not type there, and
    :class:`LibreOfficeError` for any other failure.
    """
    if soffice_path() is None:
        raise LibreOfficeError("LibreOffice (soffice) not installed")
    if not os.path.exists(SYSTEM_PYTHON):
        raise LibreOfficeError(f"{SYSTEM_PYTHON} not found (needed for import uno)")
    src = Path(src).resolve()
    dst = Path(dst).resolve()
    if not src.is_file():
        raise LibreOfficeError(f"no such file: {src}")
    job_dir = Path(tempfile.mkdtemp(prefix="kpisheet-lo-fill-"))
    try:
        result_path = job_dir / "result.json"
        # Work on a private copy: soffice leaves a .~lock.<name># file next to
        # what it opens (stale after a crash, and then the next load fails).
        work_src = job_dir / ("src" + src.suffix)
        shutil.copyfile(src, work_src)
        job = {
            "src": str(work_src),
            "dst": str(dst),
            "result": str(result_path),
            "locale": locale,
            "typed": {name: _typed_spec(name, value) for name, value in typed.items()},
            "sheet_ops": list(sheet_ops or []),
            "connect_timeout": 30,
        }
        job_path = job_dir / "job.json"
        job_path.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
        env = _lo_env()
        # The UNO script must not pick up the venv's site-packages or PYTHONPATH.
        for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(var, None)
        # One retry if soffice itself crashed before saving (headless 7.4 can
        # abort from a scheduler timer; see lo_uno_fill.py).
        for attempt in (1, 2):
            result_path.unlink(missing_ok=True)
            try:
                proc = subprocess.run(
                    [SYSTEM_PYTHON, str(UNO_FILL_SCRIPT), str(job_path)],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            except subprocess.TimeoutExpired as exc:
                raise LibreOfficeError(
                    f"lo_fill timed out after {timeout}s: stdout={exc.stdout!r} stderr={exc.stderr!r}"
                ) from exc
            result: dict[str, Any] = {}
            if result_path.exists():
                result = json.loads(result_path.read_text(encoding="utf-8"))
            crashed = "Binary URP bridge" in str(result.get("error", ""))
            if proc.returncode == 0 or not crashed or attempt == 2:
                break
        if proc.returncode == 2 and result.get("refused"):
            raise LockedCellError(result.get("error", "refused"), list(result["refused"]))
        if proc.returncode != 0 or not result.get("ok"):
            raise LibreOfficeError(
                f"lo_fill failed (exit {proc.returncode}): {result.get('error', '')}\n"
                f"{result.get('traceback', '')}\nstdout: {proc.stdout.strip()}\n"
                f"stderr: {proc.stderr.strip()}"
            )
        if not dst.exists():
            raise LibreOfficeError(f"lo_fill reported success but {dst} does not exist")
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
