"""Stage 3 — read a returned workbook into a Submission, whatever the branch did to it.

Inputs are located by their workbook-level defined names (kpisheet.names),
resolved through DefinedName.destinations (LibreOffice drops the quotes, so
parsed references are compared, never strings).  Each name's cell is
cross-checked against the hidden sheet keys (key column A, key row 1): when
the name is missing, `#REF!`, or points at a cell whose keys say it holds
something else (rows inserted by a tool that does not update names, a sort),
the input is found by its keys instead and W302 says so.  An input found by
neither is E301; a missing sheet is one E303.

Values, number formats and formula text come from one light pass over the
sheet XML (kpisheet.workbook_xml, DTDs refused; formulas' cached results are
used, never evaluated) after the pre-flight checks.
read_workbook never raises for bad input: problems are findings.
"""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache, partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple


from . import TEMPLATE_FORMAT
from . import names as nm
from .catalogue import Catalogue, Kpi, load_catalogue
from .fileio import sha256_file
from .findings import KpisheetError, finding, makes_unreadable
from .fiscal import month_key, month_label
from .model import EMPTY, InputValue, KpiEntry, KpiMonth, MeasureEntry, MeasureRow, Source, Submission
from .names import InputKey
from .normalise import PERCENT, PLAIN, Normalised, normalise_number, normalise_rating, normalise_text
from .preflight import preflight
from .workbook_xml import Book
from .xlsx_cells import cell_coordinates, column_index, column_letter

META_FORMAT = TEMPLATE_FORMAT
META_KEYS = ("format", "template_version", "kpisheet_version", "term", "catalogue_file",
             "catalogue_digest", "fiscal_year", "branch_code", "branch_name", "generated_at",
             "rows_per_measure")
_SHEET_KEY_RE = re.compile(r"^[A-Za-z0-9-]+\|(target|baseline|num|den|val|text|rating|issue|\d+)$")


# ------------------------------------------------------------------ public API
def read_workbook(path: Path | str) -> Submission:
    """The submission record of one returned workbook; problems are in .findings, never raised."""
    path = Path(path)
    sub = Submission(path=str(path), sha256="", template_version=None, catalogue_digest=None,
                     term=None, fiscal_year=None, branch_code=None, branch_name=None)
    problems = preflight(path)
    if problems:
        sub.findings.extend(problems)
        return sub
    sub.sha256 = sha256_file(path)
    try:
        book = Book(path)
    except Exception as exc:  # broken parts raise many types; all mean "corrupt"
        code = "E108" if "Entit" in type(exc.__cause__ or exc).__name__ or "entit" in str(exc).lower() else "E110"
        sub.findings.append(finding(code, file=path, reason=_short(exc)))
        return sub
    try:
        _Reader(path, book, sub).read()
    except KpisheetError as exc:  # catalogue data broken: not the branch's fault, but reported
        sub.findings.extend(exc.findings)
    except Exception as exc:  # a workbook shape no rule foresaw: one finding, never a traceback
        if os.environ.get("KPISHEET_DEBUG"):
            raise
        sub.findings.append(finding("E110", file=path, reason=f"{type(exc).__name__}: {_short(exc)}"))
    finally:
        book.close()
    return sub


def is_readable(sub: Submission) -> bool:
    """False when the file could not be read as a kpisheet workbook (pre-flight or identity failed)."""
    if any(makes_unreadable(f) for f in sub.findings):
        return False
    return sub.fiscal_year is not None and sub.branch_code is not None and sub.term is not None


def submission_text(sub: Submission) -> str:
    """A short human summary of a Submission (what `kpisheet read` prints without --json)."""
    lines = [f"{Path(sub.path).name}: {sub.branch_name or '—'}（{sub.branch_code}） {sub.fiscal_year}年度 "
             f"第{sub.term}期 様式v{sub.template_version}",
             f"  保存: {sub.saved_at or '—'} / {sub.saved_by or '—'}"]
    for entry in sub.kpis.values():
        months = [m for m in entry.months.values()
                  if any(v.value is not None for v in (m.numerator, m.denominator, m.value))]
        last = months[-1] if months else None
        detail = "—"
        if last is not None:
            if last.value.value is not None:
                detail = f"{last.month}: {last.value.value:g}"
            else:
                detail = f"{last.month}: {_g(last.numerator.value)} / {_g(last.denominator.value)}"
        if entry.text.value is not None:
            detail = f"{entry.rating.value or '—'} {str(entry.text.value)[:30]}"
        lines.append(f"  {entry.kpi_id}  目標 {_g(entry.target.value)}  前年度 {_g(entry.baseline.value)}  {detail}")
    rated = sum(1 for m in sub.measures.values() for r in m.rows if r.rating.value is not None)
    lines.append(f"  取組: {len(sub.measures)}施策、評価入力 {rated}行")
    return "\n".join(lines)


def _g(v: Any) -> str:
    return "—" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


# ------------------------------------------------------------------ locating cells
class _Located(NamedTuple):
    sheet: str
    row: int
    col: int
    name: str | None
    by_key: bool = False

    @property
    def cell(self) -> str:
        return f"{column_letter(self.col)}{self.row}"


@dataclass
class _KeyIndex:
    """Hidden keys of one sheet: row key → row, column key → column."""

    key_col: int | None = None
    key_row: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    cols: dict[str, int] = field(default_factory=dict)
    row_keys: dict[int, str] = field(default_factory=dict)  # row → key text in the key column
    col_keys: dict[int, str] = field(default_factory=dict)  # column → key text in the key row

    def find(self, key: InputKey) -> tuple[int, int] | None:
        row, col = self.rows.get(key.sheet_key), self.cols.get(nm.column_key(key))
        return (row, col) if row and col else None


def _key_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _index_keys(ws: Any) -> _KeyIndex:
    idx = _KeyIndex()
    max_row, max_col = ws.max_row, min(ws.max_column, 60)
    for col in range(1, min(max_col, 5) + 1):  # a column inserted before A moves the keys right
        rows, row_keys = {}, {}
        for r in range(1, max_row + 1):
            t = _key_text(ws.cell(r, col).value)
            if t and _SHEET_KEY_RE.match(t):
                rows.setdefault(t, r)
                row_keys[r] = t
        if rows:
            idx.key_col, idx.rows, idx.row_keys = col, rows, row_keys
            break
    for r in range(1, min(max_row, 5) + 1):  # likewise rows inserted above row 1
        cols, col_keys = {}, {}
        for c in range(1, max_col + 1):
            t = _key_text(ws.cell(r, c).value)
            if t and (re.fullmatch(r"\d{6}", t) or t in (nm.VALUE_COLUMN_KEY, "text", "rating", "note")):
                cols.setdefault(t, c)
                col_keys[c] = t
        if cols:
            idx.key_row, idx.cols, idx.col_keys = r, cols, col_keys
            break
    return idx


_SIMPLE_REF_RE = re.compile(r"^=?(?:'((?:[^']|'')+)'|([^'!:]+))!\$?([A-Za-z]{1,3})\$?(\d+)$")


def _destination(book: Book, value: str) -> tuple[str, int, int] | None:
    """(sheet, row, col) a single-cell defined name points to; None if broken (#REF!, range, no sheet)."""
    dest = _parse_reference(value)
    return dest if dest is not None and dest[0] in book.sheetnames else None


@lru_cache(maxsize=16384)  # the same references recur in every branch's workbook
def _parse_reference(value: str) -> tuple[str, int, int] | None:
    """(sheet, row, col) of a single-cell reference; None for #REF!, ranges and anything else.

    The common shapes ('KPI入力'!$C$5, KPI入力!$C$5 as LibreOffice writes it) are parsed
    directly; anything else goes through openpyxl's DefinedName.destinations.
    """
    value = value.strip()
    if "#REF" in value:
        return None
    if m := _SIMPLE_REF_RE.match(value):
        sheet = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
        return sheet, int(m.group(4)), column_index(m.group(3).upper())
    from openpyxl.workbook.defined_name import DefinedName  # rare shapes only: openpyxl is slow to import

    try:
        dests = list(DefinedName(name="x", value=value).destinations)
    except Exception:
        return None
    if len(dests) != 1:
        return None
    sheet, ref = dests[0]
    first, _, last = ref.partition(":")
    if last and cell_coordinates(last) != cell_coordinates(first):
        return None  # a range of several cells is not an input
    coordinates = cell_coordinates(first)
    return None if coordinates is None else (sheet, coordinates[0], coordinates[1])


_NOT_NAMED: tuple[None, None] = (None, None)
_NO_KEYS = _KeyIndex()


# ------------------------------------------------------------------ the reader
class _Reader:
    def __init__(self, path: Path, book: Any, sub: Submission) -> None:
        self.path, self.book, self.sub = path, book, sub
        self.cat: Catalogue | None = None
        self.named: dict[InputKey, tuple[str, tuple[str, int, int] | None]] = {}
        self.keys: dict[str, _KeyIndex] = {}

    def add(self, code: str, **kw: Any) -> None:
        self.sub.findings.append(finding(code, file=self.path, branch=self.sub.branch_code, **kw))

    # --- identity
    def read(self) -> None:
        meta = self._meta()
        if meta is None:
            self.add("E201")
            return
        if not self._identity(meta):
            return
        self._saved()
        kpi_sheet = self._sheet_for_role(nm.SHEET_KPI, "kpi")
        measure_sheet = self._sheet_for_role(nm.SHEET_MEASURES, "measure")
        for role, sheet in ((nm.SHEET_KPI, kpi_sheet), (nm.SHEET_MEASURES, measure_sheet)):
            if sheet is None:
                self.add("E303", value=role)
            else:
                self.keys[sheet] = _index_keys(self.book.sheet(sheet))
        rows_per_measure = _int(meta.get("rows_per_measure")) or nm.ROWS_PER_MEASURE
        self._read_kpis(kpi_sheet)
        self._read_measures(measure_sheet, rows_per_measure)

    def _meta(self) -> dict[str, Any] | None:
        props = {k.removeprefix("kpisheet_"): v for k, v in self.book.custom_properties().items()
                 if k.startswith("kpisheet_")}
        for ws in self._meta_candidates():
            meta = _key_values(ws)
            if meta.get("format") == META_FORMAT or (ws.title == nm.SHEET_META and meta):
                return {**props, **meta}
        return props if props.get("format") == META_FORMAT or "fiscal_year" in props else None

    def _meta_candidates(self) -> Iterable[Any]:
        if nm.SHEET_META in self.book.sheetnames:
            yield self.book.sheet(nm.SHEET_META)
        for title in self.book.sheetnames:  # renamed: found by its content
            if title not in (nm.SHEET_META, nm.SHEET_KPI, nm.SHEET_MEASURES, nm.SHEET_GUIDE):
                ws = self.book.sheet(title)
                if ws.max_row <= 60 and ws.max_column <= 4:
                    yield ws

    def _identity(self, meta: dict[str, Any]) -> bool:
        sub = self.sub
        sub.template_version = _int(meta.get("template_version"))
        sub.catalogue_digest = _str(meta.get("catalogue_digest"))
        sub.generated_at = _str(meta.get("generated_at"))
        sub.branch_name = _str(meta.get("branch_name"))
        ok = True
        for key, attr, conv in (("term", "term", _int), ("fiscal_year", "fiscal_year", _int),
                                ("branch_code", "branch_code", _branch_code)):
            value = conv(meta.get(key))
            if value is None:
                self.add("E208", sheet=nm.SHEET_META, field=key, value=meta.get(key))
                ok = False
            setattr(sub, attr, value)
        if sub.template_version is None:
            self.add("E208", sheet=nm.SHEET_META, field="template_version", value=meta.get("template_version"))
        if not ok:
            return False
        try:
            self.cat = load_catalogue(sub.term)  # type: ignore[arg-type]
        except KpisheetError:
            self.add("E208", sheet=nm.SHEET_META, field="term", value=sub.term)
            return False
        return True

    def _saved(self) -> None:
        core = self.book.core_properties()
        created, modified = core.get("created"), core.get("modified")
        self.sub.saved_at = modified or None
        app = self.book.application()
        if created and created == modified and (app or "").startswith("Microsoft Excel"):
            app = "kpisheet"  # XlsxWriter writes 'Microsoft Excel'; never re-saved since generation
        self.sub.saved_by = app or core.get("lastModifiedBy") or None

    def _sheet_for_role(self, title: str, kind: str) -> str | None:
        """The sheet playing a role: by its usual title, else where its names point, else by its keys."""
        if title in self.book.sheetnames:
            return title
        votes: dict[str, int] = {}
        for dn_name, dn in self.book.defined_names.items():
            key = nm.parse_name(dn_name)
            if key is not None and key.kind == kind and (dest := _destination(self.book, dn)):
                votes[dest[0]] = votes.get(dest[0], 0) + 1
        if votes:
            return max(votes, key=lambda s: votes[s])
        for title in self.book.sheetnames:
            idx = _index_keys(self.book.sheet(title))
            if any(k.startswith("K") == (kind == "kpi") for k in idx.rows):
                return title
        return None

    # --- locating one input
    def _names(self) -> dict[InputKey, tuple[str, tuple[str, int, int] | None]]:
        if not self.named:
            for dn_name, dn in self.book.defined_names.items():
                key = nm.parse_name(dn_name)
                if key is not None:
                    self.named[key] = (dn_name, _destination(self.book, dn))
        return self.named

    def locate(self, key: InputKey, sheet: str) -> _Located | None:
        name, dest = self._names().get(key, _NOT_NAMED)
        if dest is not None:  # the usual case, inline: the name's cell, if its keys agree
            at = self.keys.get(dest[0])
            if (at is None or at.key_col is None or at.key_row is None
                    or (at.row_keys.get(dest[1]) == key.sheet_key and at.col_keys.get(dest[2]) == nm.column_key(key))):
                return _Located(dest[0], dest[1], dest[2], name)
        idx = self.keys.get(sheet, _NO_KEYS)
        found = idx.find(key)
        if found is not None:
            return _Located(sheet, found[0], found[1], name, by_key=True)
        if dest is not None:  # the keys are gone; trust the name
            return _Located(dest[0], dest[1], dest[2], name)
        return None

    def value(self, key: InputKey, sheet: str | None, unit: str, label: Callable[[], str], *,
              required: bool = True) -> InputValue:
        """Locate, read and normalise one input; findings go to the submission.

        `label` names the input for people ('K6-2-01 … 10月 分子'); it is made only for a finding.
        """
        if sheet is None:
            return EMPTY
        loc = self.locate(key, sheet)
        if loc is None:
            if required or key in self._names():
                self.add("E301", sheet=sheet, name=key.name, subject=key.subject, label=label())
            return EMPTY
        if loc.by_key:
            self.add("W302", label=label(), **self._where(loc, key))
        raw, fmt, formula = self.book.sheet(loc.sheet).cell(loc.row, loc.col)
        source = Source(loc.sheet, loc.cell, loc.name)
        if formula is not None:
            if raw is None:
                self.add("W307", label=label(), **self._where(loc, key))
                return InputValue(None, source, raw)
            self.add("W308", label=label(), value=formula[:60], normalised=raw, **self._where(loc, key))
        if raw is None:
            return InputValue(None, source, None)
        norm = _normalise(key, raw, fmt, unit)
        for note in norm.notes:
            self.add(note.code, label=label(), value=note.value, **note.context, **self._where(loc, key))
        return InputValue(norm.value, source, raw)

    @staticmethod
    def _where(loc: _Located, key: InputKey) -> dict[str, Any]:
        return {"sheet": loc.sheet, "cell": loc.cell, "name": key.name, "subject": key.subject}

    # --- KPIs and measures
    def _read_kpis(self, sheet: str | None) -> None:
        assert self.cat is not None
        fy, code = self.sub.fiscal_year, self.sub.branch_code
        for kpi in self.cat.kpis_for(fy, code):  # type: ignore[arg-type]
            entry = KpiEntry(kpi.id)
            unit = PERCENT if kpi.is_percent else PLAIN
            if kpi.kind == "qualitative":
                entry.text = self.value(nm.kpi_key(kpi.id, "text"), sheet, PLAIN, partial(input_label, kpi, "text"))
                entry.rating = self.value(nm.kpi_key(kpi.id, "rating"), sheet, PLAIN,
                                          partial(input_label, kpi, "rating"))
            else:
                entry.target = self.value(nm.kpi_key(kpi.id, "target"), sheet, unit,
                                          partial(input_label, kpi, "target"), required=kpi.target.rule == "branch")
                entry.baseline = self.value(nm.kpi_key(kpi.id, "baseline"), sheet, unit,
                                            partial(input_label, kpi, "baseline"),
                                            required=kpi.target.rule in ("baseline", "generic_conditional"))
                for month in kpi.months(fy):  # type: ignore[arg-type]
                    km = KpiMonth(month_key(month))
                    fields = ("num", "den") if kpi.kind == "ratio" else ("val",)
                    got = {f: self.value(nm.kpi_key(kpi.id, f, month), sheet, PLAIN,
                                         partial(input_label, kpi, f, month)) for f in fields}
                    km.numerator, km.denominator = got.get("num", EMPTY), got.get("den", EMPTY)
                    km.value = got.get("val", EMPTY)
                    entry.months[km.month] = km
            self.sub.kpis[kpi.id] = entry

    def _read_measures(self, sheet: str | None, rows_per_measure: int) -> None:
        assert self.cat is not None
        for measure in self.cat.measures:
            entry = MeasureEntry(measure.id)
            for n in range(1, rows_per_measure + 1):
                row = MeasureRow(n)
                for f in nm.MEASURE_FIELDS:
                    key = nm.measure_key(measure.id, f, n)
                    setattr(row, f, self.value(key, sheet, PLAIN, partial(measure_label, measure.id, f, n)))
                entry.rows.append(row)
            entry.issue = self.value(nm.measure_key(measure.id, "issue"), sheet, PLAIN,
                                     partial(measure_label, measure.id, "issue"))
            self.sub.measures[measure.id] = entry


def _normalise(key: InputKey, raw: Any, fmt: str, unit: str) -> Normalised:
    if key.field == "rating":
        return normalise_rating(raw)
    if key.field in ("text", "note", "issue"):
        return normalise_text(raw)
    return normalise_number(raw, fmt, unit if key.field in ("target", "baseline") else PLAIN)


# ------------------------------------------------------------------ labels for messages
FIELD_LABELS = {"target": "目標", "baseline": "前年度実績", "text": "実施内容", "rating": "評価",
                "note": "備考", "issue": "課題", "num": "分子", "den": "分母", "val": "実績"}


def input_label(kpi: Kpi, field_name: str, month: Any = None) -> str:
    """'K6-2-01 生活習慣病予防健診実施率 10月 分子（受診者数）' — how an input is named to people."""
    part = FIELD_LABELS[field_name]
    if field_name == "num" and kpi.numerator:
        part = f"分子（{kpi.numerator.label}）"
    elif field_name == "den" and kpi.denominator:
        part = f"分母（{kpi.denominator.label}）"
    when = f" {month_label(month)}" if month is not None else ""
    return f"{kpi.id} {kpi.short_label}{when} {part}"


def measure_label(measure_id: str, field_name: str, n: int | None = None) -> str:
    row = f" {n}行目" if n else ""
    return f"施策 {measure_id}{row} {FIELD_LABELS[field_name]}"


# ------------------------------------------------------------------ small parsers
def _int(v: Any) -> int | None:
    try:
        if isinstance(v, bool) or v is None:
            return None
        f = float(str(v).strip())
        return int(f) if f.is_integer() else None
    except ValueError:
        return None


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _branch_code(v: Any) -> str | None:
    from .catalogue import load_branches

    n = _int(v)
    if n is None:
        return None
    code = f"{n:02d}"
    return code if any(b.code == code for b in load_branches()) else None


def _key_values(ws: Any) -> dict[str, Any]:
    """Key/value rows of a _meta-like sheet: first non-empty cell is the key, the next its value."""
    out: dict[str, Any] = {}
    for r in range(1, min(ws.max_row, 60) + 1):
        cells = [ws.cell(r, c).value for c in range(1, 5) if ws.cell(r, c).value is not None]
        if len(cells) >= 2 and isinstance(cells[0], str) and cells[0].strip() in META_KEYS:
            out[cells[0].strip()] = cells[1]
    return out
