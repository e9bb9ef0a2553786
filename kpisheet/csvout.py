"""The analysts' CSV: one row per branch × KPI × month, UTF-8 with BOM so Excel opens it.

Text cells that a spreadsheet would run as a formula (starting with = + - @,
tab or carriage return) are prefixed with an apostrophe (OWASP CSV injection);
numbers are written as numbers.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from .consolidation import FRAME_COLUMNS, Consolidation, kpi_value_rows
from .fileio import atomic_path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell that cannot become a formula: text starting with =+-@ gets a leading apostrophe."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def write_kpi_values_csv(cons: Consolidation, path: Path, *, force: bool) -> Path:
    with atomic_path(Path(path), force=force) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(FRAME_COLUMNS)
            for row in kpi_value_rows(cons):
                w.writerow([safe_cell(v) for v in row])
    return Path(path)
