"""Read + validate 47 filled branch workbooks, and compare cell-value readers.

    python benchmarks/bench_read_validate.py [--keep DIR]

Builds 47 templates (kpisheet.template.build.generate), fills each with plausible values
through September (tests.builders.sample), then times:
  * the cell-value readers alone on every file: openpyxl (normal, data_only),
    openpyxl read_only, python-calamine + names from xl/workbook.xml (defusedxml),
    and kpisheet.read.xlsx_read (values + number formats + formulas in one pass);
  * where one file's time goes, in one process: opening the package and reading
    xl/workbook.xml (its ~1,400 defined names), parsing the worksheets, the reader's
    own work (names, keys, values, normalising), and the validation rules (of which
    the submission schema);
  * kpisheet.check.validation.validate on the folder (read + identity + schema + rules).
Prints medians; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
from defusedxml import ElementTree as SafeET

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.builders

from kpisheet.check.validation import validate
from kpisheet.domain.catalogue import catalogue_for_fy, prefecture_branches
from kpisheet.read import names as nm
from kpisheet.read.xlsx_read import Book
from kpisheet.template.build import generate
from tests.builders.sample import fill_by_names, sample_values

# `generate` refuses HQ settings that hold placeholders: measure with the shipped example settings
os.environ.setdefault("KPISHEET_HQ_SETTINGS", str(Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"))

FY = 2024


def build(folder: Path) -> list[Path]:
    cat = catalogue_for_fy(FY)
    codes = [b.code for b in prefecture_branches()]
    result = generate(FY, codes, folder / "templates", force=True)  # --keep DIR may hold a previous run
    inbox = folder / "inbox"
    inbox.mkdir(exist_ok=True)
    out = []
    for tpl, code in zip(sorted(result.paths), sorted(codes), strict=True):
        values = sample_values(cat, FY, code, date(2024, 9, 1))
        for kpi in cat.kpis_for(FY, code):
            if kpi.target.rule in ("baseline", "generic_conditional") and kpi.kind != "qualitative":
                values[nm.kpi_key(kpi.id, "baseline").name] = 0.9 if kpi.is_percent else 1000.0
        fill_by_names(Path(tpl), inbox / Path(tpl).name, values)
        out.append(inbox / Path(tpl).name)
    return out


def read_openpyxl(path: Path, read_only: bool) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, data_only=True, read_only=read_only)
    n = sum(1 for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None)
    _ = list(wb.defined_names.items())
    wb.close()
    return n


def read_calamine(path: Path) -> int:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    n = sum(1 for s in wb.sheet_names for row in wb.get_sheet_by_name(s).to_python() for v in row if v != "")
    with zipfile.ZipFile(path) as z, z.open("xl/workbook.xml") as f:
        names = [d.get("name") for d in SafeET.parse(f).getroot().iter() if d.tag.endswith("definedName")]
    return n + 0 * len(names)


def read_light(path: Path) -> int:
    with Book(path) as book:
        return sum(1 for s in book.sheetnames for c in book.sheet(s).cells.values() if c.value is not None)


def stages(paths: list[Path]) -> dict[str, float]:
    """Milliseconds per file of each stage of reading and checking one workbook, in this process."""
    from kpisheet.check.rules import schema
    from kpisheet.check.validation import validate_submission
    from kpisheet.domain.catalogue import load_catalogue
    from kpisheet.read import xlsx_read
    from kpisheet.read.reader import read_workbook
    from kpisheet.runtime import gc_paused

    spent = {"open + workbook.xml": 0.0, "worksheets": 0.0, "read_workbook (all)": 0.0,
             "validation rules (all)": 0.0, "of which the submission schema": 0.0}
    real_init, real_sheet = xlsx_read.Book.__init__, xlsx_read.Book.sheet

    def init(book: Book, path: Path) -> None:
        t0 = time.perf_counter()
        real_init(book, path)
        spent["open + workbook.xml"] += time.perf_counter() - t0

    def sheet(book: Book, title: str, keep: Callable[[int, int], bool] | None = None) -> xlsx_read.Sheet:
        if title in book._sheets:  # parsed already: the reader asks for a sheet once per input
            return book._sheets[title]
        t0 = time.perf_counter()
        try:
            return real_sheet(book, title, keep)
        finally:
            spent["worksheets"] += time.perf_counter() - t0

    cat = load_catalogue(6)
    xlsx_read.Book.__init__, xlsx_read.Book.sheet = init, sheet  # type: ignore[method-assign]
    try:
        with gc_paused():  # as a run reads its inbox
            for p in paths:
                t0 = time.perf_counter()
                sub = read_workbook(p)
                t1 = time.perf_counter()
                validate_submission(sub, cat, fiscal_year=FY, as_of=date(2024, 9, 1))
                t2 = time.perf_counter()
                schema.schema_findings(sub)
                spent["read_workbook (all)"] += t1 - t0
                spent["validation rules (all)"] += t2 - t1
                spent["of which the submission schema"] += time.perf_counter() - t2
    finally:
        xlsx_read.Book.__init__, xlsx_read.Book.sheet = real_init, real_sheet  # type: ignore[method-assign]
    spent["the reader's own work"] = spent["read_workbook (all)"] - spent["open + workbook.xml"] - spent["worksheets"]
    return {k: v * 1000 / len(paths) for k, v in spent.items()}


def timed(fn, paths: list[Path], repeat: int = 3) -> float:  # noqa: ANN001
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in paths:
            fn(p)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="build the 47 workbooks here and keep them")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="kpisheet-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = build(folder)
    print(f"built {len(paths)} filled workbooks in {time.perf_counter() - t0:.1f} s ({folder})")
    readers = {"openpyxl data_only (normal)": lambda p: read_openpyxl(p, False),
               "openpyxl data_only read_only": lambda p: read_openpyxl(p, True),
               "kpisheet.read.xlsx_read (values+formats+formulas)": read_light}
    try:
        import python_calamine  # noqa: F401
        readers["python-calamine + names via defusedxml"] = read_calamine
    except ImportError:
        print("python-calamine not installed: pip install -e '.[bench]'")
    print("cell values of all sheets, 47 files (median of 3):")
    for label, fn in readers.items():
        print(f"  {label:50s} {timed(fn, paths):6.2f} s")
    print("one file, stage by stage (ms per file, one process):")
    for label, ms in stages(paths).items():
        print(f"  {label:50s} {ms:6.1f} ms")
    import kpisheet.check.validation as validation

    for mode, threshold in (("one process", 10**9), ("worker processes", validation.PARALLEL_MIN_FILES)):
        validation.PARALLEL_MIN_FILES = threshold
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            result = validate([folder / "inbox"], fiscal_year=FY, as_of="2024-09")
            runs.append(time.perf_counter() - t0)
        errors = sum(1 for f in result.findings if f.is_error)
        print(f"kpisheet validate, 47 files, {mode}: {statistics.median(runs):.2f} s median of 3 "
              f"({len(result.submissions)} read, {errors} errors, {len(result.findings) - errors} warnings)")
    print(f"load average now: {os.getloadavg()[0]:.2f} (other jobs on the machine distort these figures)")


if __name__ == "__main__":
    sys.exit(main())
