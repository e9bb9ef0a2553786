"""A light, read-only view of an .xlsx: the parts the reader needs, read by one hardened streaming parser.

Why not openpyxl.load_workbook: it builds an object for every cell, style and
defined name (a template has ~1,000 names) and needs a second load to see
formulas; this reads values, number formats, formula text, defined names,
sheet states and document properties in one pass at about a fifth of the cost
(benchmarks/bench_read_validate.py).  Nothing is evaluated.

One XML path.  Every part (workbook, relationships, styles, shared strings,
worksheets, document properties) is streamed from its zip member in chunks
through expat: DTDs, entity declarations and external entities are refused,
namespaces are resolved, and no element objects are built.  Each part has a
table of which element may stand inside which (`_edges`); anything else —
a foreign namespace, an `extLst`, a comment, a processing instruction — is
passed over with everything inside it, so a `<c>` only counts as a cell when it
is a SpreadsheetML `<c>` in a `<row>` of the `<sheetData>` of the worksheet the
workbook's relationships name.

Besides values, each worksheet keeps what decides whether a cell is seen (`Layout`: hidden
or zero-height rows, hidden or zero-width columns, merges, cells written in their fill colour),
and dates follow the workbook's date system (1900 or 1904).  A shared-string index past the
table is damage (E113), never a blank; a number cell's text with other than ASCII digits stays
text (float() would read Arabic-Indic digits).

A budget per file (`_Budget`) counts the bytes actually inflated (never the
sizes the zip declares) and what is kept in memory; past a limit reading stops
with E107.  Every problem is a `BookError` carrying its finding code.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, TypeVar
from urllib.parse import unquote
from xml.parsers import expat

from kpisheet.domain.failures import CORRUPT, DAMAGE
from kpisheet.worksheet_text import ATTRS, REF, WS, split_sheet_data
from kpisheet.xlsx_cells import (
    BUILTIN_FORMATS,
    EXCEL_MAX_COLUMN,
    EXCEL_MAX_ROW,
    column_letter,
    from_excel,
    is_date_format,
    sheet_cell,
)

# ------------------------------------------------------------------ limits of one file
# A filled template is ~100 KB zipped, ~1 MB unpacked, a few thousand cells, a few
# hundred shared strings and ~1,000 defined names.  The limits sit far above that
# and keep one hostile file to ~150 MB of a worker's memory, so a run with two
# workers and the parent stays under 500 MB whatever a branch sends.
MAX_PART_BYTES = 50 * 2**20  # bytes inflated from one zip member
MAX_FILE_BYTES_UNPACKED = 200 * 2**20  # bytes inflated from all members read, together
MAX_CELLS = 200_000  # cells kept per file (~250 bytes each in memory: ~50 MB)
MAX_SHARED_STRINGS = 200_000  # entries of sharedStrings.xml (~60 bytes each plus their text)
MAX_TEXT_CHARS = 10_000_000  # characters of text kept per file (strings, formulas, names): ≤ 40 MB
MAX_ENTRIES = 100_000  # sheets, defined names, relationships, styles and properties per file
CHUNK_BYTES = 64 * 1024  # read from a zip member and fed to the parser at a time
# One tag, comment or processing instruction (text is passed on as it comes): expat
# rescans an unfinished token each time a chunk arrives, so a 50 MB comment would
# cost minutes and a 50 MB attribute ~4x its size in memory.  Excel's longest
# attribute values (a formula, an sqref list) are a few KB.
MAX_TOKEN_BYTES = 2**20

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"  # Strict Open XML: refused (E112)
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
EXTENDED_NS = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
CORE_NS = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
WORKBOOK_PART = "xl/workbook.xml"


class Cell(NamedTuple):  # a tuple: thousands are made per sheet, a frozen dataclass costs 3x more
    value: Any  # float | str | bool | datetime | None
    number_format: str = "General"
    formula: str | None = None  # "=SUM(C5:C6)" when the cell holds a formula


EMPTY_CELL = Cell(None)


CODES = frozenset({"E107", "E108", "E112", "E113"})  # and E110 (CORRUPT, kpisheet.domain.failures)
TOO_LARGE, UNSAFE_XML = "E107", "E108"
STRING_PAST_TABLE = "E113"  # a cell's shared-string index past sharedStrings.xml: damage, never a blank  # also found by pre-flight, before a workbook is opened
# what reading a member of a damaged zip raises (encrypted part, unknown compression, bad data, cut short);
# anything else raised while parsing is a failure of kpisheet (E190), not of the file
ZIP_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, *DAMAGE)


class BookError(Exception):
    """Why a workbook cannot be read: a finding code (E107 budget, E108 unsafe XML, E110 corrupt,
    E112 Strict OOXML, E113 a shared-string index past the table) and a short reason for its message;
    `where` names the sheet and cell when the damage has one."""

    def __init__(self, code: str, reason: str, **where: str):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason, self.where = code, reason, where


class DefinedNameEntry(NamedTuple):
    """One <definedName> of workbook.xml, as written (duplicates and sheet-local names kept)."""

    name: str
    value: str
    local_sheet_id: int | None  # None: a workbook-level name
    hidden: bool


class SheetEntry(NamedTuple):
    """One <sheet> of workbook.xml, in tab order (duplicated titles kept)."""

    title: str
    state: str  # visible | hidden | veryHidden
    part: str  # zip member of the worksheet, "" when the relationship is missing


class Layout(NamedTuple):
    """What decides whether a cell is shown, besides its value: hidden or zero-height rows, hidden or
    zero-width columns, merged ranges, and the cells whose font colour is their fill colour."""

    hidden_rows: frozenset[int] = frozenset()
    hidden_columns: tuple[tuple[int, int], ...] = ()  # (first, last) column ranges
    merges: tuple[tuple[int, int, int, int], ...] = ()  # (top, left, bottom, right)
    invisible_ink: frozenset[tuple[int, int]] = frozenset()  # (row, col) written in its fill colour


NO_LAYOUT = Layout()


class Sheet:
    """The cells of one worksheet (and what decides whether they are seen).

    A sheet read with `keep` (Book.sheet) lacks the formula cells `keep` declined — `skipped`, their
    places; `cells` does not hold them, but `cell()` at one of those places reads the whole sheet
    again (`reread`) and from then on holds every cell.
    """

    def __init__(self, title: str, state: str, cells: dict[tuple[int, int], Cell],
                 layout: Layout = NO_LAYOUT, skipped: frozenset[tuple[int, int]] = frozenset(),
                 reread: Callable[[], "Sheet"] | None = None) -> None:
        self.title, self.state, self.cells, self.layout = title, state, cells, layout
        self.skipped, self._reread = skipped, reread
        self._column_hidden: dict[int, bool] = {}  # asked per column, per row: a hostile file may hold
        self._row_merges: dict[int, list[tuple[int, int, int]]] = {}  # 100,000 ranges; inputs sit in few
        self.max_row = max((r for r, _ in cells), default=0)
        self.max_column = max((c for _, c in cells), default=0)

    def cell(self, row: int, col: int) -> Cell:
        if self.skipped and (row, col) in self.skipped:
            self._read_skipped()
        return self.cells.get((row, col), EMPTY_CELL)

    def _read_skipped(self) -> None:
        assert self._reread is not None
        whole = self._reread()
        self.cells, self.layout, self.skipped, self._reread = whole.cells, whole.layout, frozenset(), None
        self.max_row, self.max_column = whole.max_row, whole.max_column

    def why_not_shown(self, row: int, col: int) -> str | None:
        """Why the cell's content cannot be seen on the sheet ('row', 'column', 'merge', 'ink',
        'format'), None when it is shown.  Read from the file, never from what a viewer would draw."""
        lay = self.layout
        if row in lay.hidden_rows:
            return "row"
        hidden = self._column_hidden.get(col)
        if hidden is None:
            hidden = self._column_hidden[col] = any(a <= col <= b for a, b in lay.hidden_columns)
        if hidden:
            return "column"
        merges = self._row_merges.get(row)
        if merges is None:  # (top, left, right) of the merges spanning this row
            merges = self._row_merges[row] = [(t, left, r) for t, left, b, r in lay.merges if t <= row <= b]
        if any(left <= col <= r and (row, col) != (t, left) for t, left, r in merges):
            return "merge"
        if (row, col) in lay.invisible_ink:
            return "ink"
        value, fmt, _ = self.cell(row, col)
        if value is not None and format_hides(fmt, value):
            return "format"
        return None


# ------------------------------------------------------------------ the budget
def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


class _Budget:
    """What one file has cost so far: bytes inflated, and cells, strings, characters, entries kept.

    The limits are read from the module constants when checked, so a test may lower them.
    """

    def __init__(self) -> None:
        self.unpacked = self.cells = self.strings = self.chars = self.entries = 0
        self.max_chars = MAX_TEXT_CHARS  # read in the hot text handler, kept here to save a global lookup

    def inflated(self, part: str, part_total: int, n: int) -> None:
        self.unpacked += n
        if part_total > MAX_PART_BYTES:
            raise BookError("E107", f"{part}: 展開後 {_mb(MAX_PART_BYTES)} 超 / more than "
                                    f"{_mb(MAX_PART_BYTES)} unpacked")
        if self.unpacked > MAX_FILE_BYTES_UNPACKED:
            raise BookError("E107", f"展開後の合計 {_mb(MAX_FILE_BYTES_UNPACKED)} 超 / more than "
                                    f"{_mb(MAX_FILE_BYTES_UNPACKED)} unpacked in all")

    def text(self, n: int) -> None:
        self.chars += n
        if self.chars > self.max_chars:
            raise self.too_much_text()

    def too_much_text(self) -> BookError:
        return BookError("E107", f"文字数 {self.max_chars:,} 超 / more than {self.max_chars:,} characters of text")

    def cell(self) -> None:
        self.cells += 1
        if self.cells > MAX_CELLS:
            raise BookError("E107", f"セル {MAX_CELLS:,} 個超 / more than {MAX_CELLS:,} cells")

    def string(self) -> None:
        self.strings += 1
        if self.strings > MAX_SHARED_STRINGS:
            raise BookError("E107", f"共有文字列 {MAX_SHARED_STRINGS:,} 個超 / more than "
                                    f"{MAX_SHARED_STRINGS:,} shared strings")

    def entry(self, part: str) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise BookError("E107", f"{part}: 要素 {MAX_ENTRIES:,} 個超 / more than {MAX_ENTRIES:,} entries")


# ------------------------------------------------------------------ the book
class WorkbookParse(NamedTuple):
    """What xl/workbook.xml holds for the reader."""

    seen_root: bool
    date1904: bool
    sheets: tuple[tuple[str, str, str], ...]  # (title, state, relationship id)
    names: tuple["DefinedNameEntry", ...]


# (part, its bytes, the limits in force) -> (what its parse gave, what it cost the budget: bytes inflated,
# entries, characters), for the last few parts read whole (Book._remembered)
_PARSES: dict[tuple[Any, ...], tuple[Any, tuple[int, int, int]]] = {}
_REMEMBERED_BYTES = 4 * 2**20
_R = TypeVar("_R")
_K = TypeVar("_K")
_V = TypeVar("_V")


def remember(memo: dict[_K, _V], key: _K, value: _V, size: int = 8) -> _V:
    """memo[key] = value, the oldest entries dropped beyond `size`: the per-process memos of reading
    (a run reads the workbooks of one or two templates)."""
    memo[key] = value
    while len(memo) > size:
        del memo[next(iter(memo))]
    return value


class Book:
    """Sheets (lazily parsed), workbook-level defined names, properties of one .xlsx."""

    def __init__(self, path: Path) -> None:
        self._budget = _Budget()
        try:
            self.zip = zipfile.ZipFile(path)
        except Exception as exc:
            raise _zip_error(exc, "") from exc
        try:
            self._names = set(self.zip.namelist())
            self._read_workbook()
        except BaseException:
            self.zip.close()
            raise
        self._strings: list[str] | None = None
        self._formats: list[str] | None = None
        self._invisible: frozenset[int] | None = None
        self._sheets: dict[str, Sheet] = {}

    def _read_workbook(self) -> None:
        if WORKBOOK_PART not in self._names:
            raise BookError(CORRUPT, f"{WORKBOOK_PART} がありません / {WORKBOOK_PART} is missing")
        wb = self.workbook_parse = self._workbook_parse()
        if not wb.seen_root:
            raise BookError(CORRUPT, f"{WORKBOOK_PART}: SpreadsheetML のブックではありません / "
                                    "not a SpreadsheetML workbook")
        rels = self._relationships("xl/_rels/workbook.xml.rels")
        self.sheetnames: list[str] = []
        self.sheet_entries: list[SheetEntry] = []
        self._parts: dict[str, str] = {}
        self._states: dict[str, str] = {}
        for title, state, rid in wb.sheets:
            entry = SheetEntry(title, state, self._member(rels[rid]) if rid in rels else "")
            self.sheet_entries.append(entry)
            if title not in self._parts:  # a duplicated title: the first one is the sheet Excel shows
                self.sheetnames.append(title)
                self._parts[title], self._states[title] = entry.part, entry.state
        self.date1904 = wb.date1904  # serial dates count from 1904-01-01 (workbookPr date1904)
        self.defined_name_entries: list[DefinedNameEntry] = list(wb.names)
        self.defined_names: dict[str, str] = {}  # workbook-level names; the first of duplicates
        for d in self.defined_name_entries:
            if d.local_sheet_id is None:
                self.defined_names.setdefault(d.name, d.value)

    def _workbook_parse(self) -> "WorkbookParse":
        """xl/workbook.xml parsed, the one parse of equal bytes in this process (see _remembered): the 47
        branches' workbooks made from one template carry one (~1,400 defined names, a sixth of reading one)."""

        def parse() -> WorkbookParse:
            wb = self._parse(WORKBOOK_PART, _WorkbookHandler(self._budget, WORKBOOK_PART))
            return WorkbookParse(wb.seen_root, wb.date1904, tuple(wb.sheets), tuple(wb.names))

        return self._remembered(WORKBOOK_PART, parse)

    def _remembered(self, part: str, parse: Callable[[], _R]) -> _R:
        """parse() of `part`, or what it gave for the same bytes (under the same limits) in this process,
        where the member can be read whole within the limits; what the parse cost the budget is charged
        again, so every limit holds as if it were parsed (where it would not, it is parsed, and says so)."""
        info, budget = self.zip.getinfo(part), self._budget
        key: tuple[Any, ...] | None = None
        if (info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and not info.flag_bits & 0x1
                and info.file_size <= _REMEMBERED_BYTES):
            try:
                key = (part, self.zip.read(part), MAX_PART_BYTES, MAX_FILE_BYTES_UNPACKED, MAX_ENTRIES, MAX_TEXT_CHARS)
            except ZIP_ERRORS:  # parsed below, which says what is wrong
                key = None
        known = _PARSES.get(key) if key is not None else None
        if known is not None:
            result, (unpacked, entries, chars) = known
            if (budget.unpacked + unpacked <= MAX_FILE_BYTES_UNPACKED and budget.entries + entries <= MAX_ENTRIES
                    and budget.chars + chars <= budget.max_chars):
                budget.unpacked, budget.entries, budget.chars = (budget.unpacked + unpacked, budget.entries + entries,
                                                                 budget.chars + chars)
                return result  # stored by the parse of the same part
        before = (budget.unpacked, budget.entries, budget.chars)
        result = parse()
        if key is not None:
            remember(_PARSES, key, (result, (budget.unpacked - before[0], budget.entries - before[1],
                                             budget.chars - before[2])))
        return result

    def close(self) -> None:
        self.zip.close()
        self._sheets.clear()  # a pruned sheet refers back to this book (to read it again): no cycle left behind

    def __enter__(self) -> "Book":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- parts
    def _parse(self, part: str, handler: _H, pruner: "_Pruner | None" = None) -> _H:
        """Stream one zip member through a hardened expat parser into `handler`, within the budget.

        The member is inflated CHUNK_BYTES at a time and each chunk counted before it is parsed,
        so a member that inflates past its budget stops there, whatever the zip declares.
        With a `pruner`, a member that ends within PRUNE_MAX_BYTES is held whole and pruned before
        it is parsed in one call; a longer one is streamed as it is.
        """
        parser = _new_parser(handler, part)
        try:
            info = self.zip.getinfo(part)
        except KeyError as exc:  # a part the package names is not in it
            raise _zip_error(exc, part) from exc
        try:
            _check_member(info)
            with self.zip.open(part) as f:
                total = 0
                held: list[bytes] | None = [] if pruner is not None else None
                while chunk := f.read(CHUNK_BYTES):
                    total += len(chunk)
                    self._budget.inflated(part, total, len(chunk))
                    if held is not None:
                        held.append(chunk)
                        if total <= PRUNE_MAX_BYTES:
                            continue
                        chunk, held = b"".join(held), None  # too long to hold: streamed unpruned
                    parser.Parse(chunk, False)
                    if total - max(parser.CurrentByteIndex, 0) > MAX_TOKEN_BYTES:
                        raise _token_too_long(part)
                if held is not None and pruner is not None:
                    parser.Parse(pruner.prune(b"".join(held)), False)
            parser.Parse(b"", True)
        except BookError:
            raise
        except expat.ExpatError as exc:
            raise BookError(CORRUPT, f"{part}: XML の誤り（{exc.lineno} 行 {exc.offset} 列）/ malformed XML at "
                                    f"line {exc.lineno}, column {exc.offset}: {expat.ErrorString(exc.code)}") from exc
        except ZIP_ERRORS as exc:  # the zip layer or the member's stream: the file is damaged
            raise _zip_error(exc, part) from exc
        return handler

    def _relationships(self, part: str) -> dict[str, str]:
        """Id → target (as written) of the internal relationships of a .rels part; {} if it is absent."""
        if part not in self._names:
            return {}
        return self._parse(part, _RelsHandler(self._budget, part)).targets

    def _member(self, target: str) -> str:
        """Zip member a relationship of xl/workbook.xml names; BookError when it points outside the package."""
        path = target.replace("\\", "/")
        joined = path[1:] if path.startswith("/") else f"xl/{path}"
        member = posixpath.normpath(joined) if joined else ""
        if member in ("", ".", "..") or member.startswith(("../", "/")):
            raise BookError(CORRUPT, f"リレーションシップの参照先がパッケージの外です / relationship target "
                                    f"outside the package: {target[:200]}")
        if member not in self._names and unquote(member) in self._names:  # a percent-encoded part name
            member = unquote(member)
        return member

    def strings(self) -> list[str]:
        if self._strings is None:
            part = "xl/sharedStrings.xml"
            self._strings = (self._parse(part, _StringsHandler(self._budget, part)).strings
                             if part in self._names else [])
        return self._strings

    def formats(self) -> list[str]:
        """Number format code of each cellXfs index (the `s` attribute of a cell)."""
        if self._formats is None:
            self._styles()
        assert self._formats is not None
        return self._formats

    def invisible_styles(self) -> frozenset[int]:
        """cellXfs indexes whose font colour is the colour of their fill (white on white)."""
        if self._invisible is None:
            self._styles()
        assert self._invisible is not None
        return self._invisible

    def _styles(self) -> None:
        part = "xl/styles.xml"
        if part in self._names:
            def parse() -> tuple[tuple[str, ...], frozenset[int]]:
                styles = self._parse(part, _StylesHandler(self._budget, part))
                return tuple(styles.formats()), styles.invisible()

            formats, self._invisible = self._remembered(part, parse)  # one template: one styles.xml
            self._formats = list(formats)
        else:
            self._formats, self._invisible = [], frozenset()

    def sheet(self, title: str, keep: Callable[[int, int], bool] | None = None) -> Sheet:
        """The worksheet `title`, parsed once.  With `keep` (row, column → whether a formula cell there
        may matter), formula cells it declines are not parsed: see _Pruner and Sheet."""
        if title not in self._sheets:
            self._sheets[title] = self._read_sheet(title, keep)
        return self._sheets[title]

    def _read_sheet(self, title: str, keep: Callable[[int, int], bool] | None) -> Sheet:
        if title not in self._parts:
            raise BookError(CORRUPT, f"シート {title[:100]} がありません / no sheet {title[:100]}")
        part = self._parts[title]
        if part not in self._names:
            raise BookError(CORRUPT, f"シート {title[:100]} のパート {part or '(リレーションなし)'} がありません / "
                                    f"the part of sheet {title[:100]} is missing")
        handler = _SheetHandler(self._budget, part, self.strings(), self.formats(), self.invisible_styles(),
                                self.date1904)
        pruner = _Pruner(keep) if keep is not None and PRUNE else None
        try:
            handler = self._parse(part, handler, pruner)
        except BookError as exc:
            if exc.code == STRING_PAST_TABLE:
                exc.where["sheet"] = title
            raise
        if pruner is None or not pruner.skipped:
            return Sheet(title, self._states[title], handler.cells, handler.layout())
        return Sheet(title, self._states[title], handler.cells, handler.layout(), frozenset(pruner.skipped),
                     lambda: self._read_sheet(title, None))

    def state(self, title: str) -> str:
        return self._states.get(title, "visible")

    # --- document properties
    def custom_properties(self) -> dict[str, str]:
        part = "docProps/custom.xml"
        return self._parse(part, _CustomHandler(self._budget, part)).props if part in self._names else {}

    def core_properties(self) -> dict[str, str]:
        part = "docProps/core.xml"
        return self._parse(part, _ItemsHandler(self._budget, part, _CORE)).items if part in self._names else {}

    def application(self) -> str | None:
        part = "docProps/app.xml"
        if part not in self._names:
            return None
        items = self._parse(part, _ItemsHandler(self._budget, part, _APP)).items
        return " ".join(x for x in (items.get("Application"), items.get("AppVersion")) if x) or None


def _token_too_long(part: str) -> BookError:
    return BookError("E107", f"{part}: 1 つのタグ・コメントが {_mb(MAX_TOKEN_BYTES)} 超 / one tag or comment of more "
                             f"than {_mb(MAX_TOKEN_BYTES)}")


def _check_member(info: zipfile.ZipInfo) -> None:
    """Refuse a member zipfile would inflate without a bound (bzip2, LZMA: a few KB can expand to
    GBs in one call) or cannot read (encrypted); Excel only writes stored and deflated members."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BookError(CORRUPT, f"{info.filename}: 未対応の圧縮方式 / unsupported compression method "
                                f"{info.compress_type}")
    if info.flag_bits & 0x1:
        raise BookError(CORRUPT, f"{info.filename}: 暗号化されたパート / encrypted part")


def _zip_error(exc: BaseException, part: str) -> BookError:
    """A BookError (E110) for anything the zip layer or a member's stream raised."""
    where = f"{part}: " if part else ""
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        why = "暗号化されたパート / encrypted part"
    elif isinstance(exc, NotImplementedError):
        why = "未対応の圧縮方式 / unsupported compression method"
    elif isinstance(exc, zlib.error):
        why = "圧縮データの誤り / corrupt compressed data"
    elif isinstance(exc, EOFError):
        why = "ファイルが途中で切れています / truncated archive"
    elif isinstance(exc, zipfile.BadZipFile):
        why = f"zip の誤り / bad zip: {str(exc)[:200]}"
    else:
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
    return BookError(CORRUPT, where + why)


# ------------------------------------------------------------------ pruning a worksheet
# A filled template's two input sheets hold ~1,900 formula cells of the 入力チェック (hidden helpers whose
# text the reader never uses) and ~2,300 styled blank cells: two thirds of the XML elements a read
# passes through Python.  The monthly reader names the places where a formula may matter (its input
# cells and the key rows and columns); the rest of the formula cells, and every cell with nothing in
# it, are cut out of the worksheet before expat sees it — by regular expressions, in C.
PRUNE = True  # tests switch it off to compare a pruned read with a full one
PRUNE_MAX_BYTES = 8 * 2**20  # a worksheet is pruned only when it ends within this (a template's: ~1 MB)

_COLUMN_IN_GRID = rb"(?:[A-Z]{1,2}|[A-W][A-Z]{2}|X[A-E][A-Z]|XF[A-D])"  # A to XFD
_ROW_IN_GRID = rb"(?:[1-9][0-9]{0,5}|10[0-3][0-9]{4}|104[0-7][0-9]{3}|1048[0-4][0-9]{2}|10485[0-6][0-9]|104857[0-6])"
# a cell holding nothing: never kept by _SheetHandler, whatever its attributes; its reference must lie
# in A1:XFD1048576 (one outside is damage, E110, and stays in for the handler to report)
_BLANK_CELL = re.compile(rb'<c r="' + _COLUMN_IN_GRID + _ROW_IN_GRID + rb'"' + ATTRS + rb"(?:/>|></c>)")
# a formula cell: <c r=".."…><f…>text</f> or <f…/>, then <v>text</v>, <v/> (<v /> as openpyxl writes it
# without lxml) or nothing, and no other child
_FORMULA_CELL = re.compile(rb'<c r="(' + REF + rb')"' + ATTRS + rb"><f" + ATTRS +
                           rb"(?:/>|>[^<]*+</f>)(?:<v>[^<]*+</v>|<v" + WS + rb"*/>)?</c>")


class _Pruner:
    """Cuts out of a worksheet's <sheetData> the cells holding nothing and the formula cells at places
    `keep` declines; `skipped` lists the places of the formula cells cut.

    Only whole elements are cut, and only where that cannot change what the handler reads: nothing is
    cut from a worksheet holding a comment, CDATA, a DTD or a processing instruction (a match could
    straddle one), nor from one with a cell whose reference is not its first attribute (a cell without
    `r` stands after the previous cell).  What a cut formula holds is not looked at: a damaged entity
    or value inside a hidden helper formula goes unnoticed, as it goes unused.
    """

    def __init__(self, keep: Callable[[int, int], bool]) -> None:
        self.keep = keep
        self.skipped: set[tuple[int, int]] = set()

    def prune(self, data: bytes) -> bytes:
        cut = split_sheet_data(data)
        if cut is None:
            return data
        return cut.head + _FORMULA_CELL.sub(self._formula_cell, _BLANK_CELL.sub(b"", cut.body)) + cut.tail

    def _formula_cell(self, m: re.Match[bytes]) -> bytes:
        at = sheet_cell(m.group(1).decode("ascii"))
        if at is None or self.keep(*at):
            return m.group(0)
        self.skipped.add(at)
        return b""


# ------------------------------------------------------------------ the parser
def _new_parser(handler: "_Handler", part: str) -> Any:
    """An expat parser with namespaces resolved ("uri local" names) that refuses any DTD or entity."""
    p = expat.ParserCreate(namespace_separator=" ")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: Any) -> NoReturn:
        raise BookError("E108", f"{part}: DTD またはエンティティ宣言 / DTD or entity declaration")

    p.StartDoctypeDeclHandler = p.EntityDeclHandler = p.UnparsedEntityDeclHandler = refuse
    p.ExternalEntityRefHandler = p.NotationDeclHandler = refuse
    p.StartElementHandler, p.EndElementHandler = handler.start, handler.end
    p.CharacterDataHandler = handler.text
    p.buffer_text = True
    return p


_Table = dict[str, dict[str, str]]  # state of the parent → {"namespace local" of a child: its state}
_NOWHERE: dict[str, str] = {}
_ANY = "*"  # a table key matching any child element


def _edges(ns: str, *edges: tuple[str, str, str]) -> _Table:
    """A table from (parent state, local name of the child in `ns`, child state) triples.

    "^" is the state before the root; an element with no edge gets state "" and everything
    inside it is passed over.  A Strict-OOXML root ends the parse with E112.
    """
    table: _Table = {"^": {f"{STRICT_NS} {edges[0][1]}": "strict"}}
    for parent, local, state in edges:
        table.setdefault(parent, {})[local if local == _ANY else f"{ns} {local}"] = state
    return table


_H = TypeVar("_H", bound="_Handler")


class _Handler:
    """Start/end/text handlers that follow an element table; subclasses act on the states they know."""

    table: _Table = {}

    def __init__(self, budget: _Budget, part: str) -> None:
        self.budget, self.part = budget, part
        self.stack = ["^"]
        self.buf: list[str] | None = None  # text being collected, when inside an element that has some

    def start(self, name: str, attrs: dict[str, str]) -> None:
        children = self.table.get(self.stack[-1], _NOWHERE)
        state = children.get(name) or children.get(_ANY, "")
        self.stack.append(state)
        if state == "strict":
            raise _strict(self.part)
        if state:
            self.open(state, name, attrs)

    def end(self, name: str) -> None:
        state = self.stack.pop()
        if state:
            self.close(state, name)

    def text(self, data: str) -> None:
        if self.buf is not None:
            self.buf.append(data)
            budget = self.budget
            budget.chars += len(data)  # inline, not budget.text(): called for every run of text
            if budget.chars > budget.max_chars:
                raise budget.too_much_text()

    def take_text(self) -> str:
        text, self.buf = "".join(self.buf or ()), None
        return text

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        pass

    def close(self, state: str, name: str) -> None:
        pass


def _strict(part: str) -> BookError:
    return BookError("E112", f"{part}: Strict Open XML")


class _WorkbookHandler(_Handler):
    table = _edges(MAIN_NS, ("^", "workbook", "wb"), ("wb", "sheets", "sheets"), ("sheets", "sheet", "sheet"),
                   ("wb", "definedNames", "names"), ("names", "definedName", "name"), ("wb", "workbookPr", "pr"))

    def __init__(self, budget: _Budget, part: str) -> None:
        super().__init__(budget, part)
        self.seen_root = False
        self.date1904 = False
        self.sheets: list[tuple[str, str, str]] = []  # (title, state, relationship id)
        self.names: list[DefinedNameEntry] = []
        self.name_attrs: dict[str, str] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:  # ~1,000 names per template: inline
        state = self.table.get(self.stack[-1], _NOWHERE).get(name, "")
        self.stack.append(state)
        if state == "name":
            self.name_attrs, self.buf = attrs, []
        elif state:
            self.open(state, name, attrs)

    def end(self, name: str) -> None:
        if self.stack.pop() == "name":
            self.close("name", name)

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        if state == "strict":
            raise _strict(self.part)
        if state == "wb":
            self.seen_root = True
        elif state == "pr":
            self.date1904 = attrs.get("date1904", "").strip().lower() in ("1", "true")
        elif state == "sheet":
            self.budget.entry(self.part)
            self.sheets.append((attrs.get("name", ""), attrs.get("state", "visible"), attrs.get(f"{REL_NS} id", "")))
        elif state == "name":
            self.name_attrs, self.buf = attrs, []

    def close(self, state: str, name: str) -> None:
        if state == "name":
            self.budget.entry(self.part)
            a = self.name_attrs
            local = a.get("localSheetId", "")
            self.names.append(DefinedNameEntry(a.get("name", ""), self.take_text(),
                                               int(local) if local.isascii() and local.isdigit() else None,
                                               a.get("hidden") in ("1", "true")))


class _RelsHandler(_Handler):
    table = _edges(PKG_REL_NS, ("^", "Relationships", "rels"), ("rels", "Relationship", "rel"))

    def __init__(self, budget: _Budget, part: str) -> None:
        super().__init__(budget, part)
        self.targets: dict[str, str] = {}

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        if state == "rel" and attrs.get("TargetMode", "Internal") == "Internal":
            self.budget.entry(self.part)
            self.budget.text(len(attrs.get("Target", "")))
            self.targets.setdefault(attrs.get("Id", ""), attrs.get("Target", ""))


# Colours as a cell shows them: rgb as six hex digits; the theme's first two slots and the legacy
# palette's black and white resolved, so white font on no fill compares equal to white on white.
_BLACK, _WHITE = "000000", "FFFFFF"
_PALETTE = {0: _BLACK, 1: _WHITE, 2: "FF0000", 3: "00FF00", 4: "0000FF", 5: "FFFF00", 6: "FF00FF", 7: "00FFFF",
            8: _BLACK, 9: _WHITE, 10: "FF0000", 11: "00FF00", 12: "0000FF", 13: "FFFF00", 14: "FF00FF",
            15: "00FFFF", 64: _BLACK, 65: _WHITE}
_THEME = {0: _WHITE, 1: _BLACK}  # lt1 (background 1) and dk1 (text 1), as cell colours number them


def _colour(attrs: dict[str, str], default: str) -> str:
    """One colour element (<color>, <fgColor>) as comparable text; `default` for automatic or absent."""
    if attrs.get("auto") in ("1", "true"):
        return default
    tint = attrs.get("tint", "")
    tinted = bool(tint) and tint.strip() not in ("0", "0.0")
    if rgb := attrs.get("rgb"):
        return rgb.strip().upper()[-6:] if not tinted else f"rgb:{rgb}:{tint}"
    if (theme := attrs.get("theme")) is not None:
        n = int(theme) if theme.isascii() and theme.isdigit() else -1
        return _THEME[n] if n in _THEME and not tinted else f"theme:{theme}:{tint}"
    if (indexed := attrs.get("indexed")) is not None:
        n = int(indexed) if indexed.isascii() and indexed.isdigit() else -1
        return _PALETTE.get(n, f"indexed:{indexed}")
    return default


class _StylesHandler(_Handler):
    table = _edges(MAIN_NS, ("^", "styleSheet", "ss"), ("ss", "numFmts", "nfs"), ("nfs", "numFmt", "nf"),
                   ("ss", "cellXfs", "xfs"), ("xfs", "xf", "xf"), ("ss", "fonts", "fonts"), ("fonts", "font", "font"),
                   ("font", "color", "fcolor"), ("ss", "fills", "fills"), ("fills", "fill", "fill"),
                   ("fill", "patternFill", "pf"), ("pf", "fgColor", "fg"))

    def __init__(self, budget: _Budget, part: str) -> None:
        super().__init__(budget, part)
        self.custom: dict[int, str] = {}
        self.xf_formats: list[int] = []
        self.font_colours: list[str] = []  # of each <font>: its text colour
        self.fill_colours: list[str] = []  # of each <fill>: the background it paints (white when none)
        self.xf_looks: list[tuple[int, int]] = []  # (fontId, fillId) of each cellXfs entry

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        if state == "nf":
            self.budget.entry(self.part)
            code = attrs.get("formatCode", "General")
            self.budget.text(len(code))
            self.custom[self.number(attrs)] = code
        elif state == "xf":
            self.budget.entry(self.part)
            self.xf_formats.append(self.number(attrs))
            self.xf_looks.append((self.index(attrs, "fontId"), self.index(attrs, "fillId")))
        elif state == "font":
            self.budget.entry(self.part)
            self.font_colours.append(_BLACK)
        elif state == "fcolor" and self.font_colours:
            self.font_colours[-1] = _colour(attrs, _BLACK)
        elif state == "fill":
            self.budget.entry(self.part)
            self.fill_colours.append(_WHITE)
        elif state == "pf" and self.fill_colours:
            self.fill_colours[-1] = "" if attrs.get("patternType", "none") == "solid" else _WHITE
        elif state == "fg" and self.fill_colours and self.fill_colours[-1] == "":
            self.fill_colours[-1] = _colour(attrs, _WHITE)

    def number(self, attrs: dict[str, str]) -> int:
        fid = attrs.get("numFmtId", "0")
        if not (fid.isascii() and fid.isdigit()):
            raise BookError(CORRUPT, f"{self.part}: numFmtId {fid[:20]!r}")
        return int(fid)

    @staticmethod
    def index(attrs: dict[str, str], key: str) -> int:
        text = attrs.get(key, "0")
        return int(text) if text.isascii() and text.isdigit() else 0

    def formats(self) -> list[str]:
        return [self.custom.get(fid) or BUILTIN_FORMATS.get(fid, "General") for fid in self.xf_formats]

    def invisible(self) -> frozenset[int]:
        """cellXfs indexes whose text colour is the colour of their background."""
        fills = [c or _WHITE for c in self.fill_colours]
        out = set()
        for i, (font, fill) in enumerate(self.xf_looks):
            ink = self.font_colours[font] if font < len(self.font_colours) else _BLACK
            paper = fills[fill] if fill < len(fills) else _WHITE
            if ink == paper:
                out.add(i)
        return frozenset(out)


class _StringsHandler(_Handler):
    """sharedStrings.xml: the text of each <si> (plain and rich-text runs, without phonetic runs)."""

    table = _edges(MAIN_NS, ("^", "sst", "sst"), ("sst", "si", "si"), ("si", "t", "t"), ("si", "r", "run"),
                   ("run", "t", "t"), ("si", "rPh", "ph"), ("ph", "t", "furigana"))

    def __init__(self, budget: _Budget, part: str) -> None:
        super().__init__(budget, part)
        self.strings: list[str] = []
        self.runs: list[str] = []

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        if state == "t":
            self.buf = []
        elif state == "si":
            self.budget.string()
            self.runs = []

    def close(self, state: str, name: str) -> None:
        if state == "t":
            self.runs.append(self.take_text())
        elif state == "si":
            self.strings.append("".join(self.runs))


class _CustomHandler(_Handler):
    """docProps/custom.xml: name → text of the property's value element (vt:lpwstr, vt:i4…)."""

    table = _edges(CUSTOM_NS, ("^", "Properties", "props"), ("props", "property", "prop"), ("prop", _ANY, "value"))

    def __init__(self, budget: _Budget, part: str) -> None:
        super().__init__(budget, part)
        self.props: dict[str, str] = {}
        self.name: str | None = None

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        if state == "prop":
            self.budget.entry(self.part)
            self.name = attrs.get("name")
        elif state == "value" and self.name is not None and self.name not in self.props:
            self.buf = []

    def close(self, state: str, name: str) -> None:
        if state == "value" and self.buf is not None and self.name is not None:
            self.props[self.name] = self.take_text()


_CORE = _edges(CORE_NS, ("^", "coreProperties", "root"), ("root", _ANY, "item"))
_APP = _edges(EXTENDED_NS, ("^", "Properties", "root"), ("root", "Application", "item"),
              ("root", "AppVersion", "item"))


class _ItemsHandler(_Handler):
    """Local name → text of each child of the root (core and extended document properties)."""

    def __init__(self, budget: _Budget, part: str, table: _Table) -> None:
        super().__init__(budget, part)
        self.table = table
        self.items: dict[str, str] = {}

    def open(self, state: str, name: str, attrs: dict[str, str]) -> None:
        if state == "item":
            self.budget.entry(self.part)
            self.buf = []

    def close(self, state: str, name: str) -> None:
        if state == "item":
            self.items[name.rpartition(" ")[2]] = self.take_text()


_TEXT_STATES = frozenset(("v", "f", "t"))


class _SheetHandler(_Handler):
    """A worksheet: the cells of <sheetData>, with values converted by cell type and number format.

    The hot path of a read: a cell's attributes are only looked at when it holds something,
    and the text of <v>, <f> and inline <t> runs is gathered straight into the cell's lists.
    """

    table = _edges(MAIN_NS, ("^", "worksheet", "ws"), ("ws", "sheetData", "data"), ("data", "row", "row"),
                   ("row", "c", "c"), ("c", "v", "v"), ("c", "f", "f"), ("c", "is", "is"),
                   ("is", "t", "t"), ("is", "r", "run"), ("run", "t", "t"), ("is", "rPh", "ph"),
                   ("ph", "t", "furigana"), ("ws", "cols", "cols"), ("cols", "col", "col"),
                   ("ws", "mergeCells", "merges"), ("merges", "mergeCell", "merge"))

    def __init__(self, budget: _Budget, part: str, strings: list[str], formats: list[str],
                 invisible: frozenset[int] = frozenset(), date1904: bool = False) -> None:
        super().__init__(budget, part)
        self.strings, self.formats, self.invisible, self.date1904 = strings, formats, invisible, date1904
        self.hidden_rows: set[int] = set()
        self.hidden_columns: list[tuple[int, int]] = []
        self.merges: list[tuple[int, int, int, int]] = []
        self.invisible_ink: set[tuple[int, int]] = set()
        self.cells: dict[tuple[int, int], Cell] = {}
        self.row = 0
        self.at = (0, 0)  # (row, column) of the current cell
        self.attrs: dict[str, str] = {}  # of the current cell
        self.v: list[str] | None = None  # text of its <v>, <f> and inline-string runs, when present
        self.f: list[str] | None = None
        self.inline: list[str] | None = None
        self.format_of: dict[str | None, str] = {}  # `s` attribute → number format

    def start(self, name: str, attrs: dict[str, str]) -> None:
        state = self.table.get(self.stack[-1], _NOWHERE).get(name, "")
        self.stack.append(state)
        if state == "c":
            ref = attrs.get("r")
            at = sheet_cell(ref) if ref is not None else self.next_cell()
            if at is None:
                raise self.bad_ref(ref)
            self.at, self.attrs = at, attrs
            self.v = self.f = self.inline = None
        elif state == "v":
            self.v = self.buf = []
        elif state == "t":
            self.buf = self.inline  # runs of an inline string are joined at the end of the cell
        elif state == "is":
            self.inline = []
        elif state == "f":
            self.f = self.buf = []
        elif state == "row":
            self.start_row(attrs.get("r"))
            if attrs.get("hidden") in ("1", "true") or _zero(attrs.get("ht")):
                self.hidden_rows.add(self.row)
        elif state == "col":
            self.budget.entry(self.part)
            if attrs.get("hidden") in ("1", "true") or _zero(attrs.get("width")):
                first, last = attrs.get("min", ""), attrs.get("max", "")
                if first.isascii() and first.isdigit() and last.isascii() and last.isdigit():
                    self.hidden_columns.append((int(first), int(last)))
        elif state == "merge":
            self.budget.entry(self.part)
            first, _, last = attrs.get("ref", "").partition(":")
            a, b = sheet_cell(first), sheet_cell(last or first)
            if a is not None and b is not None:
                self.merges.append((min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])))
        elif state == "strict":
            raise _strict(self.part)

    def end(self, name: str) -> None:
        state = self.stack.pop()
        if state == "c":
            if self.v is not None or self.f is not None or self.inline is not None:
                self.finish_cell()  # else the cell holds nothing (a styled blank) and is not kept
        elif state in _TEXT_STATES:
            self.buf = None

    def start_row(self, r: str | None) -> None:
        if r is None:
            row = self.row + 1
        elif r.isascii() and r.isdigit():
            row = int(r)
        else:
            row = 0
        if not 1 <= row <= EXCEL_MAX_ROW:
            raise BookError(CORRUPT, f"{self.part}: 行番号 {str(r or row)[:20]!r} が範囲外 / row number out of "
                                    f"range (1 to {EXCEL_MAX_ROW:,})")
        self.row, self.at = row, (row, 0)

    def next_cell(self) -> tuple[int, int] | None:
        """Where a cell without a reference stands: after the previous one in its row."""
        row, col = self.at
        if self.row == 0 or col >= EXCEL_MAX_COLUMN:
            return None
        return row, col + 1

    def bad_ref(self, ref: str | None) -> BookError:
        where = ref if ref is not None else f"R{self.at[0]}C{self.at[1] + 1}"
        return BookError(CORRUPT, f"{self.part}: セル番地 {where[:20]!r} が範囲外 / cell reference {where[:20]!r} "
                                 "outside A1:XFD1048576")

    def finish_cell(self) -> None:
        attrs = self.attrs
        s = attrs.get("s")
        fmt = self.format_of.get(s) or self.format(s)
        formula = None if self.f is None else "=" + ("".join(self.f) or "…")
        kind = attrs.get("t", "n")
        if kind == "inlineStr":
            value: Any = "".join(self.inline or ())
        else:
            v = None if self.v is None else "".join(self.v)
            try:
                value = _convert(kind, v, self.strings, fmt, self.date1904)
            except IndexError:
                ref = _ref(self.at)
                raise BookError(STRING_PAST_TABLE, f"{self.part}: セル {ref} の共有文字列の番号 {(v or '')[:20]} が"
                                f"表（{len(self.strings):,} 個）の外 / shared-string index past the table",
                                cell=ref) from None
            except ValueError:
                ref = attrs.get("r", "")
                raise BookError(CORRUPT, f"{self.part}: セル {ref} の値 / value of cell {ref}: {(v or '')[:20]!r}") from None
        if value is not None or formula is not None:
            self.budget.cell()
            self.cells[self.at] = Cell(value, fmt, formula)
            if s is not None and self.invisible and s.isascii() and s.isdigit() and int(s) in self.invisible:
                self.invisible_ink.add(self.at)

    def layout(self) -> Layout:
        return Layout(frozenset(self.hidden_rows), tuple(self.hidden_columns), tuple(self.merges),
                      frozenset(self.invisible_ink))

    def format(self, s: str | None) -> str:
        """Number format of a style index `s` (General when absent or past the styles); remembered."""
        if s is None:
            i = 0
        elif s.isascii() and s.isdigit():
            i = int(s)
        else:
            raise BookError(CORRUPT, f"{self.part}: 書式番号 / style index {s[:20]!r}")
        fmt = self.formats[i] if i < len(self.formats) else "General"
        self.format_of[s] = fmt
        return fmt


# ------------------------------------------------------------------ values
def _zero(text: str | None) -> bool:
    """A row height or column width of 0 (the row or column cannot be seen)."""
    try:
        return text is not None and float(text) == 0
    except ValueError:
        return False


def _ref(at: tuple[int, int]) -> str:
    return f"{column_letter(at[1])}{at[0]}"


# Days from 1899-12-30 (the 1900 system's day 0) to 1904-01-01 (the 1904 system's day 0).
DAYS_1900_TO_1904 = 1462


_FORMAT_NOISE = re.compile(r'\[[^\]]*\]|""')  # colours, conditions and empty literals show nothing


def format_hides(fmt: str | None, value: Any) -> bool:
    """Whether number format `fmt` shows nothing for `value`: ';;;', or the value's own section empty
    (text: the fourth section; a number: the first, second or third by its sign)."""
    if not fmt or ";" not in fmt:
        return False
    sections: list[str] = []
    part: list[str] = []
    quoted = False
    for ch in fmt:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            sections.append("".join(part))
            part = []
        else:
            part.append(ch)
    sections.append("".join(part))
    if isinstance(value, str):
        if len(sections) < 4:
            return False
        section = sections[3]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        index = 0 if value > 0 else 1 if value < 0 else 2
        section = sections[index] if index < len(sections) else sections[0]
        if index == 1 and len(sections) < 2:
            section = sections[0]
    else:
        return False
    bare = _FORMAT_NOISE.sub("", section)
    return not bare.strip()


def _convert(kind: str, text: str | None, strings: list[str], fmt: str, date1904: bool = False) -> Any:
    """The value of a cell's <v> by its type `t`; ValueError for a shared-string index that is not a
    number, IndexError for one past the table (damage: E113, never read as a blank)."""
    if text is None or (text == "" and kind not in ("str", "s")):  # <v/>: a formula never calculated
        return None
    if kind == "s":
        index = text.strip()
        if not (index.isascii() and index.isdigit()):
            raise ValueError(text)
        i = int(index)
        if i >= len(strings):
            raise IndexError(i)
        return strings[i]
    if kind in ("str", "e"):
        return text
    if kind == "b":
        return text.strip() in ("1", "true")
    if kind == "d":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return text
    if not text.isascii():  # float() reads Arabic-Indic and other digits: kept as text, refused as a number
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if is_date_format(fmt):
        try:
            if date1904 and number >= 1:  # a time of day (below 1) is the same in both systems
                return from_excel(number + DAYS_1900_TO_1904)
            return from_excel(number)
        except (ValueError, OverflowError):
            return number
    return number


__all__ = ["Book", "BookError", "Cell", "Layout", "WorkbookParse", "remember", "format_hides", "DefinedNameEntry", "EMPTY_CELL", "Sheet", "SheetEntry",
           "MAX_PART_BYTES", "MAX_FILE_BYTES_UNPACKED", "MAX_CELLS", "MAX_SHARED_STRINGS", "MAX_TEXT_CHARS",
           "MAX_ENTRIES", "MAX_TOKEN_BYTES"]
