"""Cell addresses, built-in number formats and serial dates as Excel defines them.

The reader needs five small helpers that openpyxl also has (column letters,
A1 ranges, the built-in format table, "is this a date format", serial → date).
Importing any part of openpyxl loads the whole package (~110 ms, a tenth of a
monthly run), so they are restated here after openpyxl 3.1 (MIT) and tested
against it (tests/test_xlsx_cells.py).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from functools import lru_cache

MAX_COLUMN = 18278  # ZZZ, as openpyxl allows (Excel itself stops at XFD = 16384)
EXCEL_MAX_ROW = 1_048_576  # the grid of a worksheet: A1:XFD1048576
EXCEL_MAX_COLUMN = 16_384  # XFD

BUILTIN_FORMATS = {
    0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00",
    5: '"$"#,##0_);("$"#,##0)', 6: '"$"#,##0_);[Red]("$"#,##0)',
    7: '"$"#,##0.00_);("$"#,##0.00)', 8: '"$"#,##0.00_);[Red]("$"#,##0.00)',
    9: "0%", 10: "0.00%", 11: "0.00E+00", 12: "# ?/?", 13: "# ??/??",
    14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM",
    19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm",
    37: "#,##0_);(#,##0)", 38: "#,##0_);[Red](#,##0)", 39: "#,##0.00_);(#,##0.00)",
    40: "#,##0.00_);[Red](#,##0.00)",
    41: r'_(* #,##0_);_(* \(#,##0\);_(* "-"_);_(@_)',
    42: r'_("$"* #,##0_);_("$"* \(#,##0\);_("$"* "-"_);_(@_)',
    43: r'_(* #,##0.00_);_(* \(#,##0.00\);_(* "-"??_);_(@_)',
    44: r'_("$"* #,##0.00_)_("$"* \(#,##0.00\)_("$"* "-"??_)_(@_)',
    45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0", 48: "##0.0E+0", 49: "@",
}

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_COLUMN_RE = re.compile(r"^[A-Za-z]{1,3}$")
_CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_SHEET_REF_RE = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
# quoted literals, and [..] sections other than elapsed [h] [m] [s], say nothing about dates
_STRIP_RE = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_PART_RE = re.compile(r"(?<![_\\])[dmhysDMHYS]")
WINDOWS_EPOCH = datetime(1899, 12, 30)


@lru_cache(maxsize=None)
def column_index(letters: str) -> int:
    """'A' → 1, 'AA' → 27, 'ZZZ' → 18278; ValueError for anything else."""
    if not _COLUMN_RE.match(letters):
        raise ValueError(f"{letters!r} is not a column name (A to ZZZ)")
    n = 0
    for ch in letters.upper():
        n = n * 26 + _LETTERS.index(ch) + 1
    if n > MAX_COLUMN:
        raise ValueError(f"{letters!r} is not a column name (A to ZZZ)")
    return n


@lru_cache(maxsize=None)
def column_letter(index: int) -> str:
    """1 → 'A', 27 → 'AA'."""
    if not 1 <= index <= MAX_COLUMN:
        raise ValueError(f"column {index} is out of range")
    out = ""
    while index:
        index, rest = divmod(index - 1, 26)
        out = _LETTERS[rest] + out
    return out


def cell_coordinates(ref: str) -> tuple[int, int] | None:
    """(row, column) of 'C5' or '$C$5'; None for ranges and anything else."""
    m = _CELL_RE.match(ref.strip())
    if m is None:
        return None
    try:
        return int(m.group(2)), column_index(m.group(1))
    except ValueError:
        return None


@lru_cache(maxsize=1 << 16)  # the same addresses recur in every sheet of every branch's workbook
def sheet_cell(ref: str) -> tuple[int, int] | None:
    """(row, column) of the `r` of a worksheet cell ('C5'); None unless it lies in A1:XFD1048576.

    Stricter than cell_coordinates: no '$', upper case, Excel's grid (a cell reference
    in sheet XML is always written that way).
    """
    m = _SHEET_REF_RE.fullmatch(ref)
    if m is None:
        return None
    row, col = int(m.group(2)), column_index(m.group(1))
    return (row, col) if row <= EXCEL_MAX_ROW and col <= EXCEL_MAX_COLUMN else None


@lru_cache(maxsize=1024)
def is_date_format(fmt: str | None) -> bool:
    """Whether a number format shows a date or time (first section only, as Excel decides)."""
    if fmt is None:
        return False
    return _DATE_PART_RE.search(_STRIP_RE.sub("", fmt.split(";")[0])) is not None


def from_excel(serial: float) -> datetime | time:
    """A 1900-system serial as a datetime (a time of day for 0 <= serial < 1), to the millisecond."""
    day, fraction = divmod(serial, 1)
    diff = timedelta(milliseconds=round(fraction * 86400 * 1000))
    if 0 <= serial < 1 and diff.days == 0:
        minutes, seconds = divmod(diff.seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return time(hours, minutes, seconds, diff.microseconds)
    if 0 < serial < 60:  # Excel's phantom 1900-02-29
        day += 1
    return WINDOWS_EPOCH + timedelta(days=day) + diff
