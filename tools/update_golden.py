"""Regenerate the golden references in tests/golden/ after an intended change.

    .venv/bin/python tools/update_golden.py

builds every golden workbook (tests/golden.py `build_all`: a small consolidation of
branches 11, 13 and 27 with tests.builders.sample values, seed 0, through 2024-10; the
national workbook, the lists, 実施状況, branch 11's feedback workbook and branch 11's
template, all made at the fixed time tests.golden.CREATED in time zone UTC), renders each
as one text file per sheet (and per other part) and compares them with
tests/golden/<workbook>/. It prints every file that is new, changed (with its first
differing line) or gone, writes those (and deletes the gone ones) and leaves the others
untouched, so the command is safe to run at any time; review the printed differences
(`git diff tests/golden/`), then commit. `--check` only prints and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.golden import (  # noqa: E402
    GOLDEN_DIR,
    GOLDEN_WORKBOOKS,
    build_all,
    first_difference,
    read_golden,
    render_all,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing, exit 1 on a difference")
    args = parser.parse_args(argv)
    stale = total = 0
    with tempfile.TemporaryDirectory(prefix="kpisheet-golden-update-") as tmp:
        rendered = render_all(build_all(Path(tmp)))
    for workbook in GOLDEN_WORKBOOKS:
        folder = GOLDEN_DIR / workbook
        got, want = rendered[workbook], read_golden(workbook)
        total += len(got)
        for name in sorted(set(got) | set(want)):
            rel = f"tests/golden/{workbook}/{name}"
            if name not in want:
                print(f"new       {rel}")
            elif name not in got:
                print(f"gone      {rel}")
            elif got[name] != want[name]:
                print(f"changed   {rel}")
                print("    " + first_difference(workbook, name, got[name], want[name]).replace("\n", "\n    "))
            else:
                continue
            stale += 1
            if args.check:
                continue
            if name in got:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(got[name], encoding="utf-8")
            else:
                (folder / name).unlink()
    verb = "differ" if args.check else "written"
    print(f"{stale} golden file(s) {verb}; {total} files in {len(GOLDEN_WORKBOOKS)} workbooks.")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
