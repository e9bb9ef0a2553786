"""Value tables HQ hands to kpisheet: previous-year baselines and annual targets.

A value table is CSV (UTF-8 with or without BOM, or Shift_JIS/cp932 as Excel
writes it on Japanese Windows) or xlsx, with a header row naming the columns
``branch, kpi_id, value`` (also 支部コード, KPI ID, 値); other columns are ignored.
A row whose branch is ``ALL`` (or 全国) holds the national value: the nation's annual target
in a targets file, last year's national value in a baseline file.

    branch,kpi_id,value
    10,K5-2-01,58.2%      # a term-5 id: carried to K6-2-01 (mapping: baseline_valid)
    10,K6-2-07,"1,170"
    11,K6-1-04,８，３６４円

Values are read the way a person writes them (NFKC, thousands commas, a unit
suffix, "96.5%").  Percentages are in points: "96.5" and "96.5%" both mean
96.5 %; in an xlsx cell formatted as a percentage, 0.965 means 96.5 %.  Nothing
is rescaled silently: "0.965" typed as text stays 0.965 % (査定率 values really
are that small) and is range-checked like any value.

Every malformed row becomes a G1xx finding with the file and line; the caller
decides whether to stop (``kpisheet generate`` writes nothing when any error is
found).  The consolidation stage reads its --baseline through the same function.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kpisheet.domain.catalogue import (
    CATALOGUE_FILES,
    Catalogue,
    Kpi,
    catalogue_for_fy,
    load_branches,
    load_catalogue,
    load_mapping,
)
from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.fiscal import parse_month, wareki_fiscal_year, wareki_month
from kpisheet.read.normalise import clean_number, is_percent_format, parse_number_text

CODES = frozenset({"G101", "G102", "G103", "G104", "G105", "G106", "G107", "G108", "G110", "G111"})
UNKNOWN_BRANCH = "G103"  # also for `generate --branch` (kpisheet.template.build)

Kind = Literal["baseline", "targets"]
Key = tuple[str, str]  # (branch code, KPI id of the FY's term)

HEADER_ALIASES = {
    "branch": {"branch", "branchcode", "支部コード", "支部", "支部番号", "コード"},
    "kpi_id": {"kpiid", "kpi", "id", "kpiコード", "指標id"},
    "value": {"value", "値", "数値", "実績", "実績値", "目標", "目標値", "前年度実績"},
}
_KPI_ID_RE = re.compile(r"^K(\d)-(\d)-(\d{1,2})$")
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ValueTable:
    """Values by (branch code, KPI id of the FY's term); findings about the file."""

    values: dict[Key, float]
    findings: list[Finding] = field(default_factory=list)
    origins: dict[Key, str] = field(default_factory=dict)  # KPI id the value was given under
    path: Path | None = None

    def get(self, branch_code: str, kpi_id: str) -> float | None:
        return self.values.get((branch_code, kpi_id))

    def origin(self, branch_code: str, kpi_id: str) -> str | None:
        return self.origins.get((branch_code, kpi_id))


@dataclass(frozen=True)
class _Cell:
    value: Any
    number_format: str | None = None


class _Unreadable(Exception):
    pass


# ---------------------------------------------------------------- public
def read_value_table(path: Path, fiscal_year: int, *, kind: Kind = "baseline") -> ValueTable:
    """Read a baseline or targets file for `fiscal_year`; malformed rows become findings.

    Baselines may use the previous term's KPI ids (FY2024's baselines are FY2023
    values, recorded under term-5 ids): they are carried to the successor KPI where
    the term mapping says the value is a valid baseline, otherwise G107 (warning)
    and the row is dropped.  Targets must use the FY's own term ids.
    """
    path = Path(path)
    catalogue = catalogue_for_fy(fiscal_year)
    try:
        header_line, header, rows = _read_rows(path)
    except _Unreadable as exc:
        return ValueTable({}, [finding("G101", file=path, reason=str(exc))], path=path)
    columns, missing = _locate_columns(header)
    if missing:
        return ValueTable({}, [finding("G102", file=path, line=header_line, missing=", ".join(missing))],
                          path=path)
    reader = _RowReader(path, fiscal_year, catalogue, kind)
    if kind == "baseline" and KPI_VALUES_MONTH in header:
        rows, found = _year_end_rows(path, fiscal_year, header, columns, rows)
        reader.findings.extend(found)
    for line, cells in rows:
        reader.add(line, *(cells[i] if i < len(cells) else _Cell(None) for i in columns))
    return ValueTable(reader.values, reader.findings, reader.origins, path)


# ---------------------------------------------------------------- kpisheet's own kpi_values CSV as a baseline
# header texts (as _header_text gives them) of kpisheet's analysts' table (kpisheet.write.csvout)
KPI_VALUES_MONTH, KPI_VALUES_DATA_MONTH, KPI_VALUES_RAW = "month", "datamonth", "valueraw"
_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})")


def _year_end_rows(path: Path, fiscal_year: int, header: list[str], columns: list[int],
                   rows: list[tuple[int, list[_Cell]]]) -> tuple[list[tuple[int, list[_Cell]]], list[Finding]]:
    """The rows of a kpi_values table (a row per branch × KPI × month, e.g. last March's run) that hold
    each branch's and KPI's year-end value: the shown result (month = data_month; none when that month
    was excluded), else the latest month with a value; the unrounded `value_raw` where there is one.  G110 (nothing used) when the
    months are not all of the previous fiscal year; G111 when they end before March."""
    month_at = header.index(KPI_VALUES_MONTH)
    data_at = header.index(KPI_VALUES_DATA_MONTH) if KPI_VALUES_DATA_MONTH in header else None
    raw_at = header.index(KPI_VALUES_RAW) if KPI_VALUES_RAW in header else None
    branch_at, kpi_at, value_at = columns

    def cell(cells: list[_Cell], i: int | None) -> Any:
        return cells[i].value if i is not None and i < len(cells) else None

    def month_of(cells: list[_Cell], i: int | None) -> str | None:
        value = cell(cells, i)
        m = _MONTH_RE.match(value.strftime("%Y-%m") if hasattr(value, "strftime") else _text(value))
        return f"{m.group(1)}-{int(m.group(2)):02d}" if m and 1 <= int(m.group(2)) <= 12 else None

    kept: list[tuple[int, list[_Cell]]] = []
    best: dict[tuple[str, str], tuple[tuple[bool, str], int, list[_Cell]]] = {}
    years: set[int] = set()
    no_result: set[tuple[str, str]] = set()
    last: str | None = None  # the file's last month (a March run's CSV has rows for March, filled or not)
    for line, cells in rows:
        month = month_of(cells, month_at)
        if month is None:
            kept.append((line, cells))  # read as it is: the row reader says what is wrong with it
            continue
        years.add(int(month[:4]) - (1 if int(month[5:]) < 4 else 0))
        last = month if last is None or month > last else last
        if raw_at is not None and not _blank(cell(cells, raw_at)):
            cells = [*cells]
            cells[value_at] = cells[raw_at]
        key = (_text(cell(cells, branch_at)), _text(cell(cells, kpi_at)).upper())
        shown_row = month == month_of(cells, data_at)
        if _blank(cell(cells, value_at)):
            if shown_row:
                no_result.add(key)  # the shown result was excluded (or 分母が0): no baseline, as no result
            continue
        rank = (shown_row, month)  # the shown result first, then the latest month
        if key not in best or rank > best[key][0]:
            best[key] = (rank, line, cells)
    expected = fiscal_year - 1
    expected_name = f"kpi_values_FY{expected}_{expected + 1}-03.csv"
    if years and years != {expected}:
        given = "・".join(str(y) for y in sorted(years))
        return [], [finding("G110", file=path, value=given, given=given,
                            given_ja="・".join(wareki_fiscal_year(y) for y in sorted(years)),
                            fiscal_year=fiscal_year, fiscal_year_ja=wareki_fiscal_year(fiscal_year),
                            expected=expected, expected_ja=wareki_fiscal_year(expected), expected_name=expected_name)]
    best = {k: v for k, v in best.items() if k not in no_result}
    chosen = [(line, cells) for _rank, line, cells in best.values()]
    found = []
    if last is not None and not last.endswith("-03"):
        found.append(finding("G111", file=path, value=last, last=last, last_ja=wareki_month(parse_month(last)),
                             expected_name=expected_name))
    return sorted([*kept, *chosen], key=lambda r: r[0]), found


# ---------------------------------------------------------------- reading rows
def _read_rows(path: Path) -> tuple[int, list[str], list[tuple[int, list[_Cell]]]]:
    """(header line, header texts, [(line, cells)]) of the first non-empty row onwards."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from None
    if len(data) > MAX_FILE_BYTES:
        raise _Unreadable(f"{len(data):,} bytes; limit {MAX_FILE_BYTES:,}")
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise _Unreadable("古い.xls形式または暗号化されたファイル / legacy .xls or encrypted file")
    rows = _xlsx_rows(data) if data[:2] == b"PK" else _csv_rows(data)
    for i, (line, cells) in enumerate(rows):
        if any(not _blank(c.value) for c in cells):
            header = [_header_text(c.value) for c in cells]
            body = [(ln, cs) for ln, cs in rows[i + 1:] if any(not _blank(c.value) for c in cs)]
            return line, header, body
    raise _Unreadable("空のファイル / empty file")


def _csv_rows(data: bytes) -> list[tuple[int, list[_Cell]]]:
    text = _decode(data)
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[_Cell]]] = []
    try:
        line = 1
        for row in reader:
            out.append((line, [_Cell(v) for v in row]))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _Unreadable(f"CSV: {exc}") from None
    return out


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _Unreadable("文字コードがUTF-8でもShift_JISでもありません / neither UTF-8 nor Shift_JIS")


def _xlsx_rows(data: bytes) -> list[tuple[int, list[_Cell]]]:
    import warnings
    import zipfile

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError) as exc:
        raise _Unreadable(f"xlsx: {exc}") from None
    try:
        sheet = next((ws for ws in wb.worksheets if ws.sheet_state == "visible"), wb.worksheets[0])
        sheet.reset_dimensions()
        return [(i, [_Cell(c.value, getattr(c, "number_format", None)) for c in cells])
                for i, cells in enumerate(sheet.iter_rows(min_row=1), start=1)]
    finally:
        wb.close()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_text(value: Any) -> str:
    text = unicodedata.normalize("NFKC", "" if value is None else str(value)).strip().lower()
    return re.sub(r"[\s_\-]", "", text)


def _locate_columns(header: list[str]) -> tuple[list[int], list[str]]:
    indexes: list[int] = []
    missing: list[str] = []
    for column, aliases in HEADER_ALIASES.items():
        found = next((i for i, h in enumerate(header) if h in aliases), None)
        if found is None:
            missing.append(column)
        else:
            indexes.append(found)
    return indexes, missing


# ---------------------------------------------------------------- interpreting rows
class _RowReader:
    """Turns (branch, kpi_id, value) cells into values and G1xx findings."""

    def __init__(self, path: Path, fiscal_year: int, catalogue: Catalogue, kind: Kind):
        self.path, self.fiscal_year, self.catalogue, self.kind = path, fiscal_year, catalogue, kind
        previous = catalogue.term - 1
        self.previous = load_catalogue(previous) if kind == "baseline" and previous in CATALOGUE_FILES else None
        self.mapping = load_mapping() if self.previous is not None else None
        self.branch_codes = _branch_lookup()
        self.values: dict[Key, float] = {}
        self.origins: dict[Key, str] = {}
        self.first_line: dict[Key, int] = {}
        self.findings: list[Finding] = []
        self.not_carried: dict[str, int] = {}  # term-5 id -> rows not carried over (G107 once per id)

    def add(self, line: int, branch_cell: _Cell, kpi_cell: _Cell, value_cell: _Cell) -> None:
        code = self._branch(line, branch_cell)
        resolved = self._kpi(line, kpi_cell, code)
        if code is None or resolved is None:
            return
        given_id, kpi = resolved
        if _blank(value_cell.value):
            return  # an empty value means "not known": nothing to prefill
        value = self._value(line, value_cell, kpi, code)
        if value is None:
            return
        key = (code, kpi.id)
        if key in self.values:
            self.findings.append(finding("G106", file=self.path, line=line, branch=code, subject=kpi.id,
                                         value=_shown(value_cell.value), first_line=self.first_line[key]))
            return
        self.values[key], self.origins[key], self.first_line[key] = value, given_id, line

    def _branch(self, line: int, cell: _Cell) -> str | None:
        text = _text(cell.value)
        code = self.branch_codes.get(text)
        if code is None:
            self.findings.append(finding("G103", file=self.path, line=line, value=_shown(cell.value)))
        return code

    def _kpi(self, line: int, cell: _Cell, code: str | None) -> tuple[str, Kpi] | None:
        given = _kpi_id(cell.value)
        if given and self.catalogue.has_kpi(given):
            return given, self.catalogue.kpi(given)
        if given and self.previous is not None and self.previous.has_kpi(given):
            link = self.mapping.successor(given) if self.mapping else None
            if link is not None and link.to_id and link.baseline_valid:
                return given, self.catalogue.kpi(link.to_id)
            # one warning per KPI id, not one per branch row (47 rows say the same thing)
            if given not in self.not_carried:
                self.not_carried[given] = 0
                self.findings.append(finding(
                    "G107", file=self.path, line=line, subject=given, value=None,
                    to=(link.to_id if link else None) or "—",
                    relation=link.relation if link else "—", note=(link.note if link else None) or "—"))
            self.not_carried[given] += 1
            return None
        self.findings.append(finding("G104", file=self.path, line=line, branch=code, value=_shown(cell.value),
                                     fiscal_year=self.fiscal_year))
        return None

    def _value(self, line: int, cell: _Cell, kpi: Kpi, code: str) -> float | None:
        raw = cell.value
        number: float | None
        if isinstance(raw, bool) or kpi.kind == "qualitative":
            number = None
        elif isinstance(raw, (int, float)):
            number = float(raw)
            if kpi.is_percent and is_percent_format(cell.number_format):
                number = clean_number(number * 100)
        else:
            number, had_percent = parse_number_text(str(raw))
            if had_percent and not kpi.is_percent:
                number = None
        if number is None or number != number:
            self.findings.append(finding("G105", file=self.path, line=line, branch=code, subject=kpi.id,
                                         value=_shown(raw)))
            return None
        high = 100.0 if kpi.is_percent else None
        if number < 0 or (high is not None and number > high):
            self.findings.append(finding("G108", file=self.path, line=line, branch=code, subject=kpi.id,
                                         value=_shown(raw), low=0, high="100" if high else "∞"))
            return None
        return clean_number(number)


def _branch_lookup() -> dict[str, str]:
    """'10', '10.0', '群馬', '群馬支部' → '10'; 'ALL' / '全国' → 'ALL' (the national figure)."""
    out: dict[str, str] = {"ALL": "ALL", "all": "ALL", "全国": "ALL"}
    for b in load_branches():
        for alias in (b.code, str(int(b.code)), f"{int(b.code)}.0", b.name, b.display_name):
            out[alias] = b.code
    return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip().replace(" ", "")


def _kpi_id(value: Any) -> str | None:
    text = _text(value).upper().replace("_", "-")
    m = _KPI_ID_RE.match(text)
    return f"K{m.group(1)}-{m.group(2)}-{int(m.group(3)):02d}" if m else None


def _shown(value: Any) -> str:
    return "" if value is None else str(value)

