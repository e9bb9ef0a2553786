"""Regenerate the golden reference workbooks in tests/golden/ after an intended change.

    .venv/bin/python tools/update_golden.py

builds every golden workbook (tests/golden.py `build_all`: a small consolidation of
branches 11, 13 and 27 with tests.builders.sample values, seed 0, through 2024-10; the
national workbook, branch 11's feedback workbook and branch 11's template, all made
at the fixed time tests.golden.CREATED in time zone UTC), compares each with the
stored one part by part and prints, per workbook, "new", "unchanged" or "changed"
with the first differing part and a short diff. Only new or changed workbooks are
written, so the command is safe to run at any time; review the printed differences,
then commit tests/golden/. `--check` only prints and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.golden import GOLDEN_DIR, GOLDEN_NAMES, build_all, workbook_difference  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing, exit 1 on a difference")
    args = parser.parse_args(argv)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    stale = 0
    with tempfile.TemporaryDirectory(prefix="kpisheet-golden-update-") as tmp:
        built = build_all(Path(tmp))
        for name in GOLDEN_NAMES:
            golden = GOLDEN_DIR / name
            if not golden.exists():
                state, detail = "new", ""
            else:
                detail = workbook_difference(built[name], golden)
                state = "changed" if detail else "unchanged"
            print(f"{state:9} tests/golden/{name}")
            if detail:
                print("    " + detail.replace("\n", "\n    "))
            if state != "unchanged":
                stale += 1
                if not args.check:
                    shutil.copyfile(built[name], golden)
    verb = "differ" if args.check else "written"
    print(f"{stale} of {len(GOLDEN_NAMES)} golden workbooks {verb}.")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
