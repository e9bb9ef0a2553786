"""Fill a generated template the way a test or the examples script needs: by defined names.

This writes with openpyxl into a copy of kpisheet's OWN template (never into a
branch's file); it exists for tests and for examples/, not for production data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl


def fill_by_names(template: Path, out: Path, values: dict[str, Any]) -> None:
    """Copy `template` to `out`, putting values[name] into the cell each defined name points at.

    A value of None clears the cell.  Strings are written as text (data_type 's'),
    so '=1+1' stays text.  Unknown names raise KeyError (a test bug, not user input).
    """
    wb = openpyxl.load_workbook(template)
    for name, value in values.items():
        if name not in wb.defined_names:
            raise KeyError(f"no defined name {name!r} in {template}")
        (sheet, ref), = wb.defined_names[name].destinations
        cell = wb[sheet][ref.replace("$", "")]
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"
    wb.save(out)
