"""Stage 3 — read a returned workbook into a Submission, whatever the branch did to it.

What is read is what is shown.  Values come only from the two input sheets
(KPI入力, 取組状況) as the branch sees them: the sheet with that title (or, if
renamed, the visible sheet its names or keys point to).  An input sheet that is
hidden is E314; two sheets claiming its name (same title, or equal once
NFKC-normalised, case-folded and without spaces: "KPI入力 ", "ＫＰＩ入力") are
E315; either way none of its values is used.

Each input is located by its defined name (kpisheet.read.names; references are
parsed, never compared as strings: LibreOffice drops the quotes) and the cell
is cross-checked against the hidden keys of the sheet (key column A, key row 1):
- name and keys agree (or the keys are gone): the value is read;
- the name is defined twice (any scope, any letter case): E313, value not used;
- the name points at another sheet, or at a cell whose keys say it holds
  another input (rows inserted by a tool that does not move names, a sort):
  E312, value not used — names and keys disagree and we do not guess;
- the name is missing or broken (#REF!, not a single cell): the input is found
  by its keys on the visible input sheet, with W302; found by neither: E301.
A refused input keeps its place (sheet, cell, name) with no value, so the
consolidation reports it excluded.

Names by scope: workbook-level names define the inputs.  Copying an input sheet (Excel
「移動またはコピー」, LibreOffice) copies its names as sheet-level names of the copy; those are
no second definition, only one W316 per sheet carrying them.  A visible copy of an input sheet
(its hidden keys say so) holding figures where the real sheet is blank is one E317 naming both
sheets; the copy's figures are not used.

Shown means visible: a value in a hidden or zero-height row, a hidden or zero-width column,
under a merged cell or written in its fill colour is E318 and not used; one whose number
format shows nothing (`;;;`) is W318 and read.  A percent KPI's target and 前年度実績 are read
by kind, not by the surviving format (kpisheet.read.normalise); exactly HQ's prefilled value ÷
100 is read as HQ's value (W317), a value that makes sense only ×100 or ÷100 is E319.

Values, number formats and formula text come from kpisheet.read.xlsx_read
(formulas' cached results are used, never evaluated) after the pre-flight
checks.  Nothing loops up to a row number: keys and _meta are read from the
cells that exist; the 事業内容 rows per measure are as many as _meta says (older
workbooks have 5, current ones 10) or, without it, as many as the names and keys
show.  _meta's prefilled_targets and prefilled_baselines (what HQ wrote into the
target and 前年度実績 cells, JSON) are read defensively: only this workbook's KPI ids with finite non-negative numbers
are kept, anything else is left out without a finding; a workbook older than
prefilled_baselines has its 対前年度 targets marked as following the rule
(Submission.rule_targets).  read_workbook never
raises: a workbook that cannot be read is one E1xx finding, anything unforeseen
is E110 (damaged file) or E190 (kpisheet's own failure) with the exception's text.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from kpisheet import PLAN_FORMAT, TEMPLATE_FORMAT
from kpisheet.domain.catalogue import Catalogue, load_catalogue
from kpisheet.domain.failures import failure_finding
from kpisheet.domain.findings import KpisheetError, finding
from kpisheet.domain.display import format_figure, format_value
from kpisheet.domain.fiscal import jst_text, month_key, wareki_fiscal_year
from kpisheet.domain.model import EMPTY, InputValue, KpiEntry, KpiMonth, MeasureEntry, MeasureRow, Source, Submission
from kpisheet.fileio import sha256_file
from kpisheet.read import names as nm
from kpisheet.read.names import InputKey, input_label, measure_label
from kpisheet.read.normalise import (
    PERCENT,
    PLAIN,
    Normalised,
    is_empty_mark,
    normalise_number,
    normalise_rating,
    normalise_text,
)
from kpisheet.read.preflight import preflight
from kpisheet.read.xlsx_read import Book, BookError, DefinedNameEntry, WorkbookParse, remember
from kpisheet.xlsx_cells import cell_coordinates, column_index, column_letter

# and the code a BookError of xlsx_read carries (E107, E108, E110, E112), and E110 / E190 (domain.failures)
CODES = frozenset({"E201", "E208", "P101", "E301", "E303", "E312", "E313", "E314", "E315", "W302", "W307", "W308",
                   "W316", "E317", "E318", "W318", "W317", "E319"})

META_FORMAT = TEMPLATE_FORMAT


class Reading:
    """The reading findings above by what they mean, for another reader of kpisheet workbooks on this
    path (kpisheet.plan.reader reads 事業計画 workbooks with them); their home stays this module."""

    NOT_OURS, METADATA = "E201", "E208"
    NAME_MISSING, NAME_ELSEWHERE, NAME_TWICE = "E301", "E312", "E313"
    SHEET_MISSING, SHEET_HIDDEN, SHEET_TWICE = "E303", "E314", "E315"
    NOT_SHOWN, FORMAT_HIDES = "E318", "W318"
    FORMULA_NO_VALUE, FORMULA_VALUE = "W307", "W308"
META_KEYS = ("format", "template_version", "kpisheet_version", "term", "catalogue_file",
             "catalogue_digest", "fiscal_year", "branch_code", "branch_name", "generated_at",
             "rows_per_measure", "prefilled_targets", "prefilled_baselines", "prefill_sources")
_META_ROWS, _META_COLUMNS = 60, 4  # the extent of a _meta sheet (key/value rows)
_MAX_ROWS_PER_MEASURE = 50  # more 事業内容 rows per measure than any template has
_MAX_PREFILLED_TEXT = 20_000  # characters of _meta's prefilled_targets read at most (a template writes ~1,000)


def meta_object(text: Any, limit: int = _MAX_PREFILLED_TEXT) -> dict[str, Any]:
    """A JSON object from a _meta cell ({} for anything else: not text, longer than `limit`, not JSON, not
    an object); never raises."""
    if not isinstance(text, str) or len(text) > limit:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
_SHEET_KEY_RE = re.compile(r"^[A-Za-z0-9-]+\|(target|baseline|num|den|val|text|rating|issue|\d+)$")


# ------------------------------------------------------------------ public API
def read_workbook(path: Path | str) -> Submission:
    """The submission record of one returned workbook; problems are in .findings, never raised.

    Whatever the file holds, the answer is a Submission: a workbook that cannot be
    read gets one E1xx finding (BookError carries its code), a shape no rule
    foresaw gets E110 when the file is damaged, E190 (kpisheet's own failure) otherwise, with the
    exception's type and message (kpisheet.domain.failures).
    """
    path = Path(path)
    sub = Submission(path=str(path), sha256="", template_version=None, catalogue_digest=None,
                     term=None, fiscal_year=None, branch_code=None, branch_name=None)
    try:
        _read_into(path, sub)
    except BookError as exc:
        _drop_values(sub)
        sub.findings.append(finding(exc.code, file=path, sheet=exc.where.get("sheet"),
                                    cell=exc.where.get("cell"), reason=exc.reason))
    except KpisheetError as exc:  # catalogue data broken: not the branch's fault, but reported
        sub.findings.extend(exc.findings)
    except Exception as exc:  # one finding, never a traceback: E110 for damage, E190 for a kpisheet failure
        if os.environ.get("KPISHEET_DEBUG"):
            raise
        _drop_values(sub)
        sub.findings.append(failure_finding(path, exc))
    return sub


def _read_into(path: Path, sub: Submission) -> None:
    """Pre-flight, open and read `path` into `sub`; may raise (read_workbook turns it into findings)."""
    problems = preflight(path)
    if problems:
        sub.findings.extend(problems)
        return
    sub.sha256 = sha256_file(path)
    book = Book(path)
    try:
        _Reader(path, book, sub).read()
    finally:
        book.close()


def _drop_values(sub: Submission) -> None:
    """A read that failed half way: keep no value of it."""
    sub.kpis.clear()
    sub.measures.clear()



def submission_text(sub: Submission) -> str:
    """A short human summary of a Submission (what `kpisheet read` prints without --json): the year in
    和暦, every number as the display module shows it (format_value for a KPI's target, baseline and value,
    format_figure for the numerator and denominator the branch typed), the saved time in JST."""
    year = (f"{wareki_fiscal_year(sub.fiscal_year)}（FY{sub.fiscal_year}）" if sub.fiscal_year else "年度不明")
    lines = [f"{Path(sub.path).name}: {sub.branch_name or '—'}（{sub.branch_code}） {year} "
             f"第{sub.term}期 様式v{sub.template_version}",
             f"  保存: {jst_text(sub.saved_at) or '—'}（日本時間） / {sub.saved_by or '—'}",
             f"  記入者: {sub.preparer or '—'} / 連絡先: {sub.contact or '—'}"]
    catalogue = _catalogue_of(sub)
    for entry in sub.kpis.values():
        kpi = catalogue.kpi(entry.kpi_id) if catalogue is not None and catalogue.has_kpi(entry.kpi_id) else None
        shown = partial(format_value, kpi) if kpi is not None else format_figure
        months = [m for m in entry.months.values()
                  if any(v.value is not None for v in (m.numerator, m.denominator, m.value))]
        last = months[-1] if months else None
        detail = "—"
        if last is not None:
            if last.value.value is not None:
                detail = f"{last.month}: {_shown_or_dash(shown, last.value.value)}"
            else:
                detail = (f"{last.month}: {_shown_or_dash(format_figure, last.numerator.value)} / "
                          f"{_shown_or_dash(format_figure, last.denominator.value)}")
        if entry.text.value is not None:
            detail = f"{entry.rating.value or '—'} {str(entry.text.value)[:30]}"
        lines.append(f"  {entry.kpi_id}  目標 {_shown_or_dash(shown, entry.target.value)}  "
                     f"前年度 {_shown_or_dash(shown, entry.baseline.value)}  {detail}")
    rated = sum(1 for m in sub.measures.values() for r in m.rows if r.rating.value is not None)
    lines.append(f"  取組: {len(sub.measures)}施策、評価入力 {rated}行")
    return "\n".join(lines)


def _catalogue_of(sub: Submission) -> Catalogue | None:
    """The catalogue of the submission's term (None when the workbook does not say or kpisheet has none)."""
    try:
        return load_catalogue(int(sub.term)) if sub.term is not None else None
    except (KpisheetError, KeyError, ValueError, TypeError):
        return None


def _shown_or_dash(shown: Callable[[Any], str], v: Any) -> str:
    """A target or baseline: a number as the display module shows it, a text (「支部で設定」) as typed."""
    if v is None:
        return "—"
    return shown(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


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
        row, col = self.rows.get(key.sheet_key), self.cols.get(key.column_key)
        return (row, col) if row and col else None


def _key_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


_KEY_SEARCH = 5  # a column inserted before A (a row above 1) moves the keys right (down): look this far
_KEY_ROW_WIDTH = 60  # columns searched for column keys


def _index_keys(ws: Any) -> _KeyIndex:
    """The hidden keys of a sheet, from the cells that exist (never a loop up to a row number)."""
    by_col: dict[int, list[tuple[int, str]]] = {}
    by_row: dict[int, list[tuple[int, str]]] = {}
    for (r, c), cell in ws.cells.items():
        if c > _KEY_ROW_WIDTH or (c > _KEY_SEARCH and r > _KEY_SEARCH):
            continue
        t = _key_text(cell.value)
        if not t:
            continue
        if c <= _KEY_SEARCH and _SHEET_KEY_RE.match(t):
            by_col.setdefault(c, []).append((r, t))
        if r <= _KEY_SEARCH and (_MONTH_KEY_RE.fullmatch(t) or t in _COLUMN_KEYS):
            by_row.setdefault(r, []).append((c, t))
    idx = _KeyIndex()
    if by_col:
        idx.key_col = min(by_col)
        for r, t in sorted(by_col[idx.key_col]):
            idx.rows.setdefault(t, r)
            idx.row_keys[r] = t
    if by_row:
        idx.key_row = min(by_row)
        for c, t in sorted(by_row[idx.key_row]):
            idx.cols.setdefault(t, c)
            idx.col_keys[c] = t
    return idx


_MONTH_KEY_RE = re.compile(r"\d{6}")
_COLUMN_KEYS = frozenset((nm.VALUE_COLUMN_KEY, "text", "rating", "note"))


_SIMPLE_REF_RE = re.compile(r"^=?(?:'((?:[^']|'')+)'|([^'!:]+))!\$?([A-Za-z]{1,3})\$?(\d+)$")


def name_destination(book: Book, value: str) -> tuple[str, int, int] | None:
    """(sheet, row, col) a single-cell defined name's value points to; None if broken (the plan reader's too)."""
    return _destination(book, value)


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


_NO_KEYS = _KeyIndex()


class _Name(NamedTuple):
    """One input's defined name as the workbook holds it."""

    text: str  # as written
    copies: int  # how many <definedName> carry it (workbook-level and sheet-local, any letter case)
    dest: tuple[str, int, int] | None  # (sheet, row, col) of the workbook-level one; None when broken
    local: bool  # only a sheet-local name carries it


class _Refused(NamedTuple):
    """An input whose value is not used: the finding code (E312, E313) and its context."""

    code: str
    context: dict[str, Any]


# a workbook.xml's parse (xlsx_read.WorkbookParse: one object for equal bytes) -> the input names it defines and
# the names it copies onto other sheets (_Reader._read_names, which depends on nothing else): worked out once
# for the branches' workbooks made from one template; read-only once made
_NAMES_OF: dict[int, tuple[WorkbookParse, dict[InputKey, "_Name"], dict[str, int]]] = {}


_PLACES: dict[tuple[int, str], tuple[dict[Any, Any], frozenset[tuple[int, int]]]] = {}


def _named_places(named: dict[InputKey, "_Name"], title: str) -> frozenset[tuple[int, int]]:
    """(row, column) of every input name pointing into sheet `title`; worked out once for the names of a
    workbook.xml the branches' workbooks share (reader._NAMES_OF hands them one dict)."""
    known = _PLACES.get((id(named), title))
    if known is not None and known[0] is named:
        return known[1]
    places = frozenset((d[1], d[2]) for n in named.values() if (d := n.dest) is not None and d[0] == title)
    return remember(_PLACES, (id(named), title), (named, places))[1]


def _keys_agree(idx: _KeyIndex, key: InputKey, row: int, col: int) -> bool:
    """True when the hidden keys at (row, col) say it holds `key` — or say nothing and know no other cell."""
    row_key, col_key = idx.row_keys.get(row), idx.col_keys.get(col)
    if row_key == key.sheet_key and col_key == key.column_key:
        return True
    if idx.find(key) is not None:  # the keys know the input's cell, and it is not this one
        return False
    return (row_key is None or row_key == key.sheet_key) and (col_key is None or col_key == key.column_key)


def _reference(sheet: str, row: int, col: int) -> str:
    """'KPI入力'!$C$5 — a cell as a defined name writes it."""
    quoted = sheet.replace("'", "''")
    return f"'{quoted}'!${column_letter(col)}${row}"


def _fold(title: str) -> str:
    """A sheet title as people read it: NFKC, case folded, without spaces or invisible characters."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")


# ------------------------------------------------------------------ the reader
class _Reader:
    def __init__(self, path: Path, book: Any, sub: Submission) -> None:
        self.path, self.book, self.sub = path, book, sub
        self.cat: Catalogue | None = None
        self.fy, self.code = 0, ""  # the workbook's fiscal year and branch, once _identity has read them
        self.named: dict[InputKey, _Name] | None = None
        self.copied_names: dict[str, int] = {}  # sheet → input names copied onto it as sheet-level names
        self.keys: dict[str, _KeyIndex] = {}

    def add(self, code: str, **kw: Any) -> None:
        self.sub.findings.append(finding(code, file=self.path, branch=self.sub.branch_code, **kw))

    # --- identity
    def read(self) -> None:
        meta = self._meta()
        if meta is None:
            self.add("E201")
            return
        if meta.get("format") == PLAN_FORMAT:  # a 事業計画 workbook: not a monthly submission, not a stranger
            self.add("P101", value=meta.get("branch_name"))
            return
        if not self._identity(meta):
            return
        self._saved()
        self.sub.prefilled_targets = self._prefilled_targets(meta.get("prefilled_targets"))
        if "prefilled_baselines" in meta:
            self.sub.prefilled_baselines = self._prefilled_targets(meta.get("prefilled_baselines"))
        else:
            self._frozen_rule_targets()
        self.sub.prefill_sources = self._prefill_sources(meta.get("prefill_sources"))
        kpi_sheet = self._input_sheet(nm.SHEET_KPI, "kpi")
        measure_sheet = self._input_sheet(nm.SHEET_MEASURES, "measure")
        self._copies(kpi_sheet, measure_sheet)
        self._read_kpis(kpi_sheet)
        self._read_measures(measure_sheet, self._rows_per_measure(meta, measure_sheet))
        self._read_info(kpi_sheet)

    def _frozen_rule_targets(self) -> None:
        """A workbook made before _meta recorded prefilled_baselines: for a 対前年度 KPI, HQ wrote last
        year's value into the target cell too (K6-2-08: the larger of it and 80%).  That target only
        restates the rule: kept unchanged it follows the rule (Submission.rule_targets), and a value
        above the floor is the baseline HQ prefilled."""
        assert self.cat is not None
        rule: list[str] = []
        for kpi in self.cat.kpis_for(self.sub.fiscal_year, self.sub.branch_code):  # type: ignore[arg-type]
            value = self.sub.prefilled_targets.get(kpi.id)
            if value is None or kpi.target.rule not in ("baseline", "generic_conditional"):
                continue
            rule.append(kpi.id)
            if kpi.target.rule == "baseline" or value > (kpi.target.value or 0.0):
                self.sub.prefilled_baselines[kpi.id] = value
        self.sub.rule_targets = tuple(rule)

    def _prefilled_targets(self, text: Any) -> dict[str, float]:
        """{kpi id: target (or baseline) HQ prefilled} from _meta; anything unreadable is left out, never raised.

        Only KPIs of this workbook with a target cell, and finite non-negative numbers, are kept.
        """
        data = meta_object(text)
        assert self.cat is not None
        ids = {k.id for k in self.cat.kpis_for(self.fy, self.code)
               if k.kind != "qualitative"}
        out = {kpi_id: _target_number(v) for kpi_id, v in data.items() if kpi_id in ids}
        return {kpi_id: v for kpi_id, v in out.items() if v is not None}

    def _prefill_sources(self, text: Any) -> dict[str, str]:
        """{kpi id: 'plan:<version>'} from _meta (workbooks generated with --plan); for prefilled targets only,
        anything unreadable left out, never raised."""
        data = meta_object(text)
        return {k: v[:100] for k, v in data.items()
                if k in self.sub.prefilled_targets and isinstance(v, str)}

    def _rows_per_measure(self, meta: dict[str, Any], sheet: str | None) -> int:
        """事業内容 rows per measure: as _meta says; if it does not (or says something absurd, which must
        not set a loop's length), as many as the workbook's names and keys show — older workbooks have fewer."""
        declared = _int(meta.get("rows_per_measure"))
        if declared is not None and 1 <= declared <= _MAX_ROWS_PER_MEASURE:
            return declared
        assert self.cat is not None
        measures = {m.id for m in self.cat.measures}
        found = [k.n for k in self._names() if k.kind == "measure" and k.n and k.subject in measures]
        for text in self.keys.get(sheet or "", _NO_KEYS).rows:
            subject, _, n = text.rpartition("|")
            if subject in measures and n.isdigit():
                found.append(int(n))
        return max((n for n in found if n <= _MAX_ROWS_PER_MEASURE), default=nm.ROWS_PER_MEASURE)

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
                if all(r <= _META_ROWS and c <= _META_COLUMNS for r, c in ws.cells):
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
        if not ok or sub.fiscal_year is None or sub.branch_code is None:
            return False
        self.fy, self.code = sub.fiscal_year, sub.branch_code
        try:
            self.cat = load_catalogue(sub.term)
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

    # --- the input sheets
    def _input_sheet(self, role: str, kind: str) -> str | None:
        """The visible sheet playing an input role, its keys indexed.

        None, with one finding, when there is no such sheet (E303), when two sheets
        claim its name (E315) or when it is hidden (E314): its values are not used.
        """
        title = self._sheet_for_role(role, kind)
        if title is None:
            self.add("E303", value=role)
            return None
        claims = {_fold(role), _fold(title)}
        claimants = [e.title for e in self.book.sheet_entries if _fold(e.title) in claims]
        if len(claimants) > 1:
            self.add("E315", sheet=title, value="、".join(f"「{t}」" for t in claimants))
            return None
        if self.book.state(title) != "visible":
            self.add("E314", sheet=title, value=title)
            return None
        self.keys[title] = _index_keys(self.book.sheet(title, self._may_matter(title)))
        return title

    def _may_matter(self, title: str) -> Callable[[int, int], bool]:
        """Where on input sheet `title` a formula cell may matter to the reader: the key rows and columns
        and the cells its input names point to.  The 入力チェック's hidden helper formulas elsewhere are
        not parsed (xlsx_read.Book.sheet); a cell the keys lead to instead is read when asked for."""
        named = _named_places(self._names(), title)
        return lambda row, col: row <= _KEY_SEARCH or col <= _KEY_SEARCH or (row, col) in named

    def _sheet_for_role(self, role: str, kind: str) -> str | None:
        """The sheet playing a role: by its title (however written), else by where its names point or
        by its keys — a visible sheet if one qualifies; a hidden one only so that it is reported."""
        titles = self.book.sheetnames
        if role in titles:
            return role
        same = [t for t in titles if _fold(t) == _fold(role)]
        if same:
            return same[0]
        visible = [t for t in titles if self.book.state(t) == "visible"]
        hidden = [t for t in titles if t not in visible]
        return self._claimed(visible, kind) or self._claimed(hidden, kind)

    def _claimed(self, titles: list[str], kind: str) -> str | None:
        """Of `titles`, the sheet most input names of `kind` point to, else the first holding such keys."""
        votes: dict[str, int] = {}
        for key, named in self._names().items():
            if key.kind == kind and named.dest is not None and named.dest[0] in titles:
                votes[named.dest[0]] = votes.get(named.dest[0], 0) + 1
        if votes:
            return max(votes, key=lambda t: votes[t])
        for title in titles:
            idx = _index_keys(self.book.sheet(title))
            if any(k.startswith("K") == (kind == "kpi") for k in idx.rows):
                return title
        return None

    def _copies(self, kpi_sheet: str | None, measure_sheet: str | None) -> None:
        """Copies of an input sheet: W316 once per sheet carrying copied input names; E317 once per
        visible copy holding figures where the real input sheet is blank (those figures are not used)."""
        self._names()
        inputs = {s for s in (kpi_sheet, measure_sheet) if s is not None}
        for title, count in self.copied_names.items():
            home = kpi_sheet if kpi_sheet is not None else nm.SHEET_KPI
            if title in inputs:
                continue
            self.add("W316", sheet=title, value=count, input_sheet=home)
        skip = inputs | {nm.SHEET_META, nm.SHEET_LISTS, nm.SHEET_GUIDE}
        for title in self.book.sheetnames:
            if title in skip or self.book.state(title) != "visible":
                continue
            for real, kind in ((kpi_sheet, "kpi"), (measure_sheet, "measure")):
                if real is not None:
                    self._copy_figures(title, real, kind)

    def _copy_figures(self, title: str, real: str, kind: str) -> None:
        idx = _index_keys(self.book.sheet(title))
        if not any(_key_kind(k) == kind for k in idx.rows):
            return  # not a copy of this input sheet
        real_idx, copy, shown = self.keys[real], self.book.sheet(title), self.book.sheet(real)
        extra: list[tuple[int, int]] = []
        for (r, c), cell in copy.cells.items():
            row_key, col_key = idx.row_keys.get(r), idx.col_keys.get(c)
            if row_key is None or col_key is None or _key_kind(row_key) != kind or cell.formula is not None:
                continue
            if is_empty_mark(cell.value) or (isinstance(cell.value, str) and not cell.value.strip()):
                continue
            at = real_idx.rows.get(row_key), real_idx.cols.get(col_key)
            if at[0] is None or at[1] is None:
                continue
            if is_empty_mark(shown.cell(at[0], at[1]).value):
                extra.append((r, c))
        if extra:
            r, c = min(extra)
            self.add("E317", sheet=title, cell=f"{column_letter(c)}{r}", value=len(extra), input_sheet=real)

    # --- locating one input
    def _names(self) -> dict[InputKey, _Name]:
        """Every input name of the workbook, with how often it is defined (any scope, any letter case).

        Workbook-level names define the inputs.  A sheet-level name scoped to another sheet than the
        one its workbook-level twin points to is what copying a sheet (Excel 「移動またはコピー」,
        LibreOffice) leaves behind: it is no second definition, only counted per sheet for W316.
        A sheet-level name on the input's own sheet is a second definition (E313), unless the
        workbook-level one is broken (#REF!: the original sheet was deleted and its copy kept).
        """
        if self.named is None:
            parse = self.book.workbook_parse
            known = _NAMES_OF.get(id(parse))
            if known is not None and known[0] is parse:  # a workbook.xml read before: its names too
                self.named = known[1]
                self.copied_names.update(known[2])
            else:
                self.named = self._read_names()
                remember(_NAMES_OF, id(parse), (parse, self.named, dict(self.copied_names)), size=4)
        return self.named

    def _read_names(self) -> dict[InputKey, _Name]:
        entries = self.book.defined_name_entries
        titles = [e.title for e in self.book.sheet_entries]
        folded = [e.name.casefold() for e in entries]  # each computed once: ~1,400 names per workbook
        keys = [nm.parse_name(e.name) for e in entries]
        dests: dict[str, tuple[str, int, int] | None] = {}

        def dest(value: str) -> tuple[str, int, int] | None:
            if value not in dests:
                dests[value] = _destination(self.book, value)
            return dests[value]

        workbook_sheet: dict[str, str | None] = {}
        for e, fold, key in zip(entries, folded, keys, strict=True):
            if e.local_sheet_id is None and key is not None:
                d = dest(e.value)
                workbook_sheet.setdefault(fold, None if d is None else d[0])
        kept: list[tuple[DefinedNameEntry, str, InputKey | None]] = []
        for e, fold, key in zip(entries, folded, keys, strict=True):
            scope = titles[e.local_sheet_id] if e.local_sheet_id is not None and \
                e.local_sheet_id < len(titles) else None
            home = workbook_sheet.get(fold)
            if scope is not None and home is not None and scope != home:
                self.copied_names[scope] = self.copied_names.get(scope, 0) + 1
                continue
            kept.append((e, fold, key))
        # a workbook-level name left #REF! (its sheet deleted) beside a sheet-level one that works — the
        # copy kept, the original deleted — is no second definition: the working one defines the input
        # (only names an input's workbook-level name shares: a sheet's print area or titles are
        # ranges, and parsing them would load openpyxl in every reading process for nothing)
        local = {fold for e, fold, _ in kept if e.local_sheet_id is not None
                 and fold in workbook_sheet and dest(e.value) is not None}
        kept = [(e, fold, key) for e, fold, key in kept
                if not (e.local_sheet_id is None and fold in local and workbook_sheet.get(fold) is None)]
        counts = Counter(fold for _, fold, _ in kept)
        named: dict[InputKey, _Name] = {}
        for e, fold, key in kept:
            if key is None:
                continue
            known = named.get(key)
            if known is None or (known.local and e.local_sheet_id is None):  # a workbook name first
                named[key] = _Name(e.name, counts[fold], dest(e.value), e.local_sheet_id is not None)
        return named

    def locate(self, key: InputKey, sheet: str) -> _Located | _Refused | None:
        """Where the input's value is, on the visible input sheet `sheet`.

        Its defined name decides, when the hidden keys agree (or are gone).  A missing or
        broken name is salvaged by the keys (W302); a duplicated name (E313) or one pointing
        anywhere else (E312) is refused: the value is not used, we do not guess.
        """
        named = (self.named if self.named is not None else self._names()).get(key)
        idx = self.keys.get(sheet, _NO_KEYS)
        if named is not None and named.copies == 1 and (dest := named.dest) is not None and dest[0] == sheet \
                and idx.row_keys.get(dest[1]) == key.sheet_key and idx.col_keys.get(dest[2]) == key.column_key:
            return _Located(sheet, dest[1], dest[2], named.text)  # the usual case: name and keys agree
        if named is not None and named.copies > 1:
            return self._refused("E313", key, sheet, idx, named.dest, value=named.copies)
        dest = named.dest if named is not None else None
        if dest is None:
            found = idx.find(key)
            return None if found is None else _Located(sheet, found[0], found[1], None if named is None
                                                       else named.text, by_key=True)
        if named is not None and dest[0] == sheet and _keys_agree(idx, key, dest[1], dest[2]):
            return _Located(dest[0], dest[1], dest[2], named.text)
        return self._refused("E312", key, sheet, idx, dest, value=_reference(*dest))

    @staticmethod
    def _refused(code: str, key: InputKey, sheet: str, idx: _KeyIndex,
                 dest: tuple[str, int, int] | None, **context: Any) -> _Refused:
        """A refusal placed at the input's own cell (the keys say where) so its exclusion finds it."""
        own = idx.find(key)
        if own is None and code == "E313" and dest is not None and dest[0] == sheet:
            own = (dest[1], dest[2])
        cell = None if own is None else f"{column_letter(own[1])}{own[0]}"
        expected = "—" if own is None else _reference(sheet, own[0], own[1])
        return _Refused(code, {"sheet": sheet, "cell": cell, "name": key.name, "subject": key.subject,
                               "expected": expected, **context})

    def value(self, key: InputKey, sheet: str | None, unit: str, label: Callable[[], str], *,
              required: bool = True) -> InputValue:
        """Locate, read and normalise one input; findings go to the submission.

        `label` names the input for people ('K6-2-01 … 10月 分子'); it is made only for a finding.
        """
        if sheet is None:
            return EMPTY
        loc = self.locate(key, sheet)
        if isinstance(loc, _Refused):  # no value, but its place: the consolidation reports it excluded
            self.add(loc.code, label=label(), **loc.context)
            cell = loc.context["cell"]
            return EMPTY if cell is None else InputValue(None, Source(sheet, cell, key.name), None)
        if loc is None:
            if required or key in self._names():
                self.add("E301", sheet=sheet, name=key.name, subject=key.subject, label=label())
            return EMPTY
        if loc.by_key:
            self.add("W302", label=label(), **self._where(loc, key))
        ws = self.book.sheet(loc.sheet)
        raw, fmt, formula = ws.cell(loc.row, loc.col)
        source = Source(loc.sheet, loc.cell, loc.name)
        why = ws.why_not_shown(loc.row, loc.col) if raw is not None or formula is not None else None
        if why == "format":  # only the display is lost: the value is read (by kind), and the cell named
            self.add("W318", label=label(), **self._where(loc, key))
        elif why is not None:  # the cell itself cannot be seen: what is not shown is not read
            self.add("E318", label=label(), **NOT_SHOWN[why], **self._where(loc, key))
            return InputValue(None, source, None)
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
        fy, code = self.fy, self.code
        for kpi in self.cat.kpis_for(fy, code):
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
                if unit == PERCENT:
                    entry.target = self._percent_sense(kpi, "target", entry.target, self.sub.prefilled_targets)
                    entry.baseline = self._percent_sense(kpi, "baseline", entry.baseline,
                                                         self.sub.prefilled_baselines)
                for month in kpi.months(fy):
                    km = KpiMonth(month_key(month))
                    fields = ("num", "den") if kpi.kind == "ratio" else ("val",)
                    got = {f: self.value(nm.kpi_key(kpi.id, f, month), sheet, PLAIN,
                                         partial(input_label, kpi, f, month)) for f in fields}
                    km.numerator, km.denominator = got.get("num", EMPTY), got.get("den", EMPTY)
                    km.value = got.get("val", EMPTY)
                    entry.months[km.month] = km
            self.sub.kpis[kpi.id] = entry

    def _percent_sense(self, kpi: Any, field_name: str, iv: InputValue, prefilled: dict[str, float]) -> InputValue:
        """A percent KPI's annual value weighed by its kind, not its format: exactly HQ's prefilled value
        ÷ 100 is read as that value (W317); one outside the plausible range that would be inside it
        ×100 or ÷100 is refused (E319), the two readings named."""
        v = iv.value
        if not isinstance(v, float) or v == 0:
            return iv
        where = {"sheet": iv.source.sheet if iv.source else None, "cell": iv.source.cell if iv.source else None,
                 "name": iv.source.name if iv.source else None, "subject": kpi.id,
                 "label": input_label(kpi, field_name)}
        plausible = kpi.plausible
        p = prefilled.get(kpi.id)
        if p and math.isclose(v, p / 100, rel_tol=1e-9) and (plausible is None or not plausible.holds(v)):
            self.add("W317", value=kpi.format_value(v), normalised=kpi.format_value(p), **where)
            return InputValue(p, iv.source, iv.raw)
        if plausible is None or plausible.holds(v) or not 0 <= v <= 100:
            return iv  # plausible, or out of 0–100 (E402 says so)
        others = [x for x in (v * 100, v / 100) if 0 <= x <= 100 and plausible.holds(x)]
        if len(others) == 1:
            self.add("E319", value=kpi.format_value(v), other=kpi.format_value(others[0]),
                     low=kpi.format_value(plausible.low), high=kpi.format_value(plausible.high), **where)
            return InputValue(None, iv.source, iv.raw)
        return iv

    def _read_measures(self, sheet: str | None, rows_per_measure: int) -> None:
        assert self.cat is not None
        for measure in self.cat.measures_for(self.code):
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

    def _read_info(self, sheet: str | None) -> None:
        """記入者 and 連絡先 (optional: workbooks made before them have neither)."""
        for f in nm.INFO_FIELDS:
            value = self.value(nm.info_key(f), sheet, PLAIN, partial(str, nm.INFO_LABELS[f]), required=False).value
            setattr(self.sub, f, value if isinstance(value, str) else None)


NOT_SHOWN = {  # why_not_shown's answer → the finding's words (E318)
    "row": {"reason_ja": "行が非表示（または高さ0）になっている", "reason_en": "its row is hidden or zero height",
            "fix_ja": "行を再表示して保存し直して送ってください。", "fix_en": "Unhide the row, save and resend."},
    "column": {"reason_ja": "列が非表示（または幅0）になっている", "reason_en": "its column is hidden or zero width",
               "fix_ja": "列を再表示して保存し直して送ってください。", "fix_en": "Unhide the column, save and resend."},
    "merge": {"reason_ja": "結合されたセルの下に隠れている", "reason_en": "it lies under a merged cell",
              "fix_ja": "セルの結合を解除し、入力欄に値を入力し直してください。",
              "fix_en": "Unmerge the cells and enter the value in the input cell again."},
    "ink": {"reason_ja": "文字の色が塗りつぶしの色と同じになっている", "reason_en": "its font colour is its fill colour",
            "fix_ja": "文字の色を「自動」に戻して保存し直して送ってください。",
            "fix_en": "Set the font colour back to Automatic, save and resend."},
}  # a number format that shows nothing is W318: the value is read, the cell named


def _key_kind(sheet_key: str) -> str:
    """'kpi' for a KPI input row's key ('K6-2-01|num'), 'info' for 記入者・連絡先, else 'measure'."""
    subject = sheet_key.partition("|")[0]
    if subject == "info":
        return "info"
    return "kpi" if re.fullmatch(r"K\d+-\d-\d{2}", subject) else "measure"


def _normalise(key: InputKey, raw: Any, fmt: str, unit: str) -> Normalised:
    if key.field == "rating":
        return normalise_rating(raw)
    if key.field in ("text", "note", "issue"):
        return normalise_text(raw)
    return normalise_number(raw, fmt, unit if key.field in ("target", "baseline") else PLAIN)


# ------------------------------------------------------------------ small parsers
def _int(v: Any) -> int | None:
    try:
        if isinstance(v, bool) or v is None:
            return None
        f = float(str(v).strip())
        return int(f) if f.is_integer() else None
    except ValueError:
        return None


def _target_number(v: Any) -> float | None:
    """A finite, non-negative JSON number as float; None for anything else (text, bool, 1e999, 10**400)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) and f >= 0 else None


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _branch_code(v: Any) -> str | None:
    from kpisheet.domain.catalogue import load_branches

    n = _int(v)
    if n is None:
        return None
    code = f"{n:02d}"
    return code if any(b.code == code for b in load_branches()) else None


def _key_values(ws: Any) -> dict[str, Any]:
    """Key/value rows of a _meta-like sheet: first non-empty cell is the key, the next its value."""
    rows: dict[int, list[tuple[int, Any]]] = {}
    for (r, c), cell in ws.cells.items():
        if r <= _META_ROWS and c <= _META_COLUMNS and cell.value is not None:
            rows.setdefault(r, []).append((c, cell.value))
    out: dict[str, Any] = {}
    for r in sorted(rows):
        cells = [v for _, v in sorted(rows[r], key=lambda cv: cv[0])]
        if len(cells) >= 2 and isinstance(cells[0], str) and cells[0].strip() in META_KEYS:
            out[cells[0].strip()] = cells[1]
    return out
