"""Benchmark: generate all workbooks of FY2024 (47 branches + 本部) — target under 5 s.

    python benchmarks/bench_generate.py [--runs 5] [--fy 2024]

Prints the median wall time of N runs of `kpisheet.template.build.generate` (building,
zip-patching and atomically writing every file) and the machine it ran on.
Not a timed test: run it by hand or in CI and read the figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from kpisheet.template.build import generate

# `generate` refuses HQ settings that hold placeholders: measure with the shipped example settings
os.environ.setdefault("KPISHEET_HQ_SETTINGS", str(Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fy", type=int, default=2024)
    args = parser.parse_args()
    at = datetime(2024, 4, 1, tzinfo=timezone.utc)
    times: list[float] = []
    count = 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = generate(args.fy, None, Path(out), generated_at=at)
            times.append(time.perf_counter() - start)
            count = len(result.paths)
    median = statistics.median(times)
    print(f"generate FY{args.fy}: {count} workbooks, median {median:.2f} s over {args.runs} runs "
          f"(min {min(times):.2f} s, max {max(times):.2f} s; {median / count * 1000:.0f} ms per workbook)")
    print(f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
          f"target < 5 s: {'OK' if median < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
