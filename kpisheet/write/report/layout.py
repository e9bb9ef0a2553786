"""How report sheets are laid out: tables described as columns, one width/row-height helper, print set-up.

A table is a list of `Column`s (title, width, value, format) and a list of rows; `Sheet.table`
writes the header, every cell (text always as text, never a formula or link), the row heights
wrapped text needs, and — by default — an Excel table with filters over it.  Nothing here keeps
state between workbooks: a `Sheet` knows its own widths, a `Styles` its own workbook's formats.

Row heights: xlsxwriter cannot autofit and LibreOffice does not grow rows of an xlsx file, so the
height of a row is computed from the longest wrapped text of the row and its column's width
(`lines_of`, `row_height`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from kpisheet.domain.display import format_number, text_width, width_for

FONT = "游ゴシック"
FONT_SIZE = 10
HEAD_BG = "#1F4E78"
MARK_COLOURS = {"◎": "#C6EFCE", "○": "#DDEBF7", "△": "#FFC7CE", "×": "#F4B084", "—": "#EDEDED"}
A4 = 9
PAGE_TEXT_SIZE = 10  # the page header and footer: scaled with the page as the cells are, so as large as them
MAX_LINES = 40  # a row never grows beyond this many lines
MAX_ROW_POINTS = 409.0  # Excel's highest row (409.5 points): a longer text scrolls within its cell


def workbook_options() -> dict[str, Any]:
    """Options every kpisheet xlsxwriter workbook uses (branch text stays text)."""
    return {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
            "default_format_properties": {"font_name": FONT, "font_size": FONT_SIZE}}


# ---------------------------------------------------------------- widths and heights
def lines_of(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column `width` characters wide."""
    return _lines(str(text), int(max(width - 1, 1)))


@lru_cache(maxsize=65536)
def _lines(text: str, chars: int) -> int:
    # Remembered: a table measures the same few texts (marks, statuses, labels) in every row.
    return min(MAX_LINES, sum(max(1, -(-text_width(line) // chars)) for line in text.split("\n")))


def row_height(lines: int, font_size: float = FONT_SIZE) -> float:
    """Points a row of `lines` lines of text needs (line pitch 1.5 × the font size, and a margin),
    at most Excel's highest row.  The one rule for every wrapped row kpisheet writes: the national
    and lists workbooks, 実施状況 and 確認事項."""
    return min(round(lines * font_size * 1.5 + 3, 1), MAX_ROW_POINTS)


def number_width(value: float, cell_format: Any) -> int:
    """The column width a number needs to show whole through its cell format (display.format_number)."""
    code = getattr(cell_format, "num_format", None)
    return width_for(format_number(value, code if isinstance(code, str) and code else None))


# ---------------------------------------------------------------- formats
class Styles:
    """Formats of one workbook, created once and cached by key."""

    def __init__(self, wb: Workbook, font_size: float = FONT_SIZE):
        self.wb = wb
        self._cache: dict[tuple[Any, ...], Any] = {}
        base = {"font_name": FONT, "font_size": font_size, "valign": "top"}
        self.base = base
        self.title = wb.add_format({**base, "bold": True, "font_size": 14})
        self.subtitle = wb.add_format({**base, "bold": True, "font_size": 11, "font_color": HEAD_BG})
        self.head = wb.add_format({**base, "bold": True, "font_color": "#FFFFFF", "bg_color": HEAD_BG,
                                   "border": 1, "text_wrap": True, "valign": "vcenter", "align": "center"})
        self.text = wb.add_format({**base, "border": 1})
        self.wrap = wb.add_format({**base, "border": 1, "text_wrap": True})
        self.centre = wb.add_format({**base, "border": 1, "align": "center"})
        self.label = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "border": 1, "text_wrap": True})
        self.note = wb.add_format({**base, "font_color": "#595959"})
        self.note_wrap = wb.add_format({**base, "font_color": "#595959", "text_wrap": True})
        self.int = wb.add_format({**base, "border": 1, "num_format": "#,##0"})
        self.pct = wb.add_format({**base, "border": 1, "num_format": "0.0%"})  # 入力率 (not a KPI value)

    def fmt(self, num_format: str | None = None, mark: str | None = None, **extra: Any) -> Any:
        key = (num_format, mark, tuple(sorted(extra.items())))
        if key not in self._cache:
            props = {**self.base, "border": 1, **extra}
            if num_format:
                props["num_format"] = num_format
            if mark in MARK_COLOURS:
                props["bg_color"] = MARK_COLOURS[mark]
            self._cache[key] = self.wb.add_format(props)
        return self._cache[key]

    def mark(self, mark: str | None) -> Any:
        return self.fmt(None, mark or None, align="center", bold=True)

    def named(self, name: str) -> Any:
        return getattr(self, name)


# ---------------------------------------------------------------- cells
def put(ws: Worksheet, row: int, col: int, value: Any, fmt: Any = None) -> None:
    """Write one cell: text always as a string (never a formula or link), numbers as numbers."""
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, str):
        ws.write_string(row, col, value, fmt)
    elif isinstance(value, bool):
        ws.write_string(row, col, "はい" if value else "いいえ", fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    else:
        ws.write_string(row, col, str(value), fmt)


Format = Callable[[Styles, Any], Any]


@dataclass(frozen=True)
class Column:
    """One column of a table: its heading, width, how a row gives its value and its format.

    `format` is a Styles attribute name ('text', 'wrap', 'int', 'centre' …) or a function of
    (styles, row) giving a format — for marks coloured by the row's mark, or a KPI's number format.
    """

    title: str
    width: float
    value: Callable[[Any], Any]
    format: str | Format = "text"
    wrap: bool | None = None  # None: wrapped when the format is 'wrap'

    def cell_format(self, st: Styles, row: Any) -> Any:
        return st.named(self.format) if isinstance(self.format, str) else self.format(st, row)

    @property
    def wraps(self) -> bool:
        return self.wrap if self.wrap is not None else self.format in ("wrap", "label", "note_wrap")


def mark_format(mark_of: Callable[[Any], str | None]) -> Format:
    """A column format: centred bold, coloured by the row's mark."""
    return lambda st, row: st.mark(mark_of(row))


def number_format(num_format_of: Callable[[Any], str | None], **extra: Any) -> Format:
    return lambda st, row: st.fmt(num_format_of(row), None, **extra)


# ---------------------------------------------------------------- sheets
@dataclass
class Sheet:
    """One worksheet being written top to bottom: title, notes, tables, print set-up."""

    wb: Workbook
    st: Styles
    name: str
    title: str
    row: int = 0
    widths: dict[int, float] = field(default_factory=dict)
    heads: list[int] = field(default_factory=list)  # header rows of the tables written
    ws: Any = None

    def __post_init__(self) -> None:
        self.ws = self.wb.add_worksheet(self.name)
        self.ws.write_string(0, 0, self.title, self.st.title)
        self.ws.set_row(0, 21)
        self.row = 1

    def set_width(self, first: int, last: int, width: float) -> None:
        self.ws.set_column(first, last, width)
        for c in range(first, last + 1):
            self.widths[c] = width

    def note(self, text: str, *, across: Sequence[Column] | int | None = None) -> None:
        """A grey line of explanation, wrapped across the table's columns (`across`: the columns,
        or how many of the columns already set) so it never widens the printed page."""
        if across is None:
            self.ws.write_string(self.row, 0, text, self.st.note)
        else:
            if isinstance(across, int):
                widths = [self.widths.get(c, 8.43) for c in range(across)]
            else:
                widths = [max(c.width, self.widths.get(i, 0)) for i, c in enumerate(across)]  # never narrows a
                for i, w in enumerate(widths):  # column a table widened for its numbers
                    self.set_width(i, i, w)
            if len(widths) > 1:
                self.ws.merge_range(self.row, 0, self.row, len(widths) - 1, text, self.st.note_wrap)
            else:
                self.ws.write_string(self.row, 0, text, self.st.note_wrap)
            self.ws.set_row(self.row, row_height(lines_of(text, sum(widths))))
        self.row += 1

    def skip(self, rows: int = 1) -> None:
        self.row += rows

    def table(self, columns: Sequence[Column], rows: Iterable[Any], *, name: str | None = None,
              first_col: int = 0, head_height: float | None = None) -> tuple[int, int]:
        """Write a table at the current row; an Excel table with filters when `name` is given.

        Returns (header row, last row)."""
        ws, st = self.ws, self.st
        head = self.row
        for i, col in enumerate(columns):
            self.set_width(first_col + i, first_col + i, col.width)
        r = head
        numbers: dict[int, int] = {}  # column -> width its widest shown number needs
        for item in rows:
            r += 1
            lines = 1
            for i, col in enumerate(columns):
                value = col.value(item)
                cell_format = col.cell_format(st, item)
                put(ws, r, first_col + i, value, cell_format)
                if col.wraps and isinstance(value, str) and value:
                    lines = max(lines, lines_of(value, col.width))
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    numbers[i] = max(numbers.get(i, 0), number_width(value, cell_format))
            if lines > 1:
                ws.set_row(r, row_height(lines))
        for i, needed in numbers.items():  # a number never shows as 「###」: its column grows to fit it
            if needed > columns[i].width:
                self.set_width(first_col + i, first_col + i, needed)
        last = r
        if name:
            if last == head:  # an Excel table needs a data row
                last += 1
                for i in range(len(columns)):
                    ws.write_blank(last, first_col + i, None, st.text)
            ws.add_table(head, first_col, last, first_col + len(columns) - 1,
                         {"name": name, "style": "Table Style Light 1", "autofilter": True,
                          "columns": [{"header": c.title, "header_format": st.head} for c in columns]})
        else:
            for i, col in enumerate(columns):
                ws.write_string(head, first_col + i, col.title, st.head)
        height = head_height or row_height(max(lines_of(c.title, c.width) for c in columns))
        ws.set_row(head, max(height, 21))
        self.heads.append(head)
        self.row = last + 1
        return head, last


# Character units of column width that print across an A4 page at 100% (margins 0.4 inch), as
# LibreOffice prints an xlsx file written with the 10 pt default font (measured: a table 150 units
# wide fitted to a landscape page prints at 70%).  Excel's units are narrower, so a page laid out for
# LibreOffice fits Excel too.
PAGE_UNITS = {True: 104.0, False: 71.0}  # landscape, portrait
READABLE_SCALE = 80  # 10 pt text printed at 80% is 8 pt, the least an office document is read at


def readable_scale(widths: Sequence[float], landscape: bool = True) -> int:
    """The print scale (%) at which columns `widths` wide print on one page's width, at most 100."""
    return max(10, min(100, int(100 * PAGE_UNITS[landscape] / max(sum(widths), 1.0))))


def column_pages(ws: Worksheet, title: str, groups: Sequence[int], widths: Sequence[float], *,
                 repeat: tuple[int, int] | None = None, landscape: bool = True) -> None:
    """Print a wide table as pages side by side: `groups` = how many columns each group has; the first
    group (the row's key, e.g. KPI ID and name) repeats at the left of every page, each following group
    is a page of its own, all at one scale chosen so the widest page fits (vertical page breaks)."""
    key = groups[0]
    breaks, first = [], key
    page_widths = []
    for n in groups[1:]:
        if first > key:
            breaks.append(first)
        page_widths.append(sum(widths[:key]) + sum(widths[first:first + n]))
        first += n
    ws.set_v_pagebreaks(breaks)
    if key:
        ws.repeat_columns(0, key - 1)
    print_setup(ws, title, repeat=repeat, landscape=landscape,
                scale=min(readable_scale([w], landscape) for w in page_widths))


def print_setup(ws: Worksheet, title: str, *, repeat: tuple[int, int] | None = None, landscape: bool = True,
                pages_wide: int = 1, pages_tall: int = 0, scale: int | None = None,
                margins: float = 0.4, top: float = 0.6) -> None:
    """A4, margins, the sheet's name in the page header, 「n / m ページ」 in the footer, the
    rows that repeat on every page (`repeat` = first and last row)."""
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(A4)
    if scale:
        ws.set_print_scale(scale)
    else:
        ws.fit_to_pages(pages_wide, pages_tall)
    ws.set_margins(left=margins, right=margins, top=top, bottom=top)
    if repeat is not None:
        ws.repeat_rows(*repeat)
    ws.set_header(f"&L&\"{FONT}\"&{PAGE_TEXT_SIZE}{title}")
    ws.set_footer(f"&C&\"{FONT}\"&{PAGE_TEXT_SIZE}&P / &N ページ")
