"""How kpisheet shows a number: the one rounding, its text, its Excel cell format, and text width.

Everything a person reads of a KPI value goes through `shown`: the value rounded half up at
the KPI's decimals (96.25 → 96.3, as Excel and LibreOffice display a number cell).  The mark
(ratings.mark_for) is decided on that shown value, the texts print it (`format_value`), the
report and feedback cells store it (`stored`, so the cell's own display cannot round it another
way), and the ◎ threshold printed on 概要 is the smallest (≥ KPIs) or largest (≤ KPIs) shown
value that gets ◎ (`excellent_threshold`).  So a shown result, a shown target, a shown threshold
and the mark never disagree.

The rounding is done in Decimal on the float's shortest repr (repr(0.1 + 0.2) is
'0.30000000000000004', repr(96.25) is '96.25'): what Python prints for a float is what is rounded,
not its binary expansion (where 96.25 may sit a hair below and round down).

Pure: no IO.  `kpi` here is anything with `decimals`, `display` ('percent' | 'yen' | 'count')
and `unit` — a catalogue.Kpi; `shown` also takes the number of decimals itself.
"""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol, Union


class Kpi(Protocol):
    """What display needs of a KPI (catalogue.Kpi has it); a Protocol, so display imports no catalogue."""

    @property
    def decimals(self) -> int: ...
    @property
    def display(self) -> str: ...  # percent | yen | count | text
    @property
    def unit(self) -> str: ...
    @property
    def direction(self) -> str: ...  # >= | <=
    @property
    def excellent_threshold(self) -> float: ...


Precision = Union[Kpi, int]


def _decimals(kpi_or_decimals: Precision) -> int:
    return kpi_or_decimals if isinstance(kpi_or_decimals, int) else kpi_or_decimals.decimals


@lru_cache(maxsize=64)
def _step(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def _exact(value: float | Decimal) -> Decimal:
    """The value as the decimal Python prints for it (its shortest repr)."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


# ---------------------------------------------------------------- the one rounding
def shown(kpi_or_decimals: Precision, value: float | Decimal) -> Decimal:
    """The value as it is shown: rounded half up to the KPI's decimals (inf and nan are left as they are)."""
    q = _exact(value)
    if not q.is_finite():
        return q
    try:
        q = q.quantize(_step(_decimals(kpi_or_decimals)), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context holds: already far past any shown precision
        return q
    return q.copy_abs() if q.is_zero() else q  # never 「-0.0」


def same_shown(kpi_or_decimals: Precision, a: float, b: float) -> bool:
    """Equal as shown (what a person compares)."""
    return shown(kpi_or_decimals, a) == shown(kpi_or_decimals, b)


def excellent_threshold(kpi: Kpi, target: float | Decimal) -> Decimal:
    """The ◎ line at shown precision: for a ≥ KPI the smallest shown value at or above
    target × (1 + t), for a ≤ KPI the largest at or below target × (1 − t), where the target is
    taken as shown and t is the KPI's excellent_threshold.  A shown result gets ◎ exactly when it
    reaches this value, so printing it (「全国 70.6%以上」 for a 64.1% target) never contradicts a mark."""
    return _excellent_line(kpi.excellent_threshold or 0.0, kpi.direction, kpi.decimals, target)


@lru_cache(maxsize=4096)  # a branch's annual target is asked about for every month it rates
def _excellent_line(threshold: float, direction: str, decimals: int, target: float | Decimal) -> Decimal:
    t = _exact(threshold)
    goal = shown(decimals, target)
    if direction == "<=":
        line, rounding = goal * (1 - t), ROUND_FLOOR
    else:
        line, rounding = goal * (1 + t), ROUND_CEILING
    if not line.is_finite():
        return line
    try:
        return line.quantize(_step(decimals), rounding=rounding)
    except InvalidOperation:  # more digits than the context holds (a target of 1E+26): past any shown precision
        return line


def difference(kpi: Kpi, new: float | None, old: float | None) -> float | None:
    """new − old as shown: the difference of the two shown values (96.3% against 95.0% is +1.3 points)."""
    if new is None or old is None or not (math.isfinite(new) and math.isfinite(old)):
        return None
    return float(shown(kpi, new) - shown(kpi, old))


# ---------------------------------------------------------------- text
def format_value(kpi: Kpi, value: float | Decimal | None) -> str:
    """How a value is printed for people: '96.5%', '8,364円', '1,170事業所' ('—' for none)."""
    if value is None:
        return "—"
    q = shown(kpi, value)
    if not q.is_finite():
        return f"{float(q)}{'%' if kpi.display == 'percent' else kpi.unit}"
    if kpi.display == "percent":
        return f"{q:.{kpi.decimals}f}%"
    if kpi.display == "yen":
        return f"{q:,.{kpi.decimals}f}円"
    return f"{q:,.{kpi.decimals}f}{kpi.unit}"


def format_figure(value: float | Decimal | None) -> str:
    """A raw figure a branch typed (a numerator, a denominator, a value of no known KPI) as people read it:
    '633,757,123', '1,234.5', '0.296' — every digit typed, digits grouped, never an exponent ('—' for none)."""
    if value is None:
        return "—"
    q = _exact(value)
    if not q.is_finite():
        return str(float(q))
    if q == q.to_integral_value():
        return f"{q:,f}" if q.adjusted() >= 28 else f"{q.quantize(Decimal(1)):,}"  # quantize holds 28 digits
    return f"{q.normalize():,f}"


def format_change(kpi: Kpi, change: float | None) -> str:
    """「+1.4ポイント」「-120円」「+35」「±0.0ポイント」: a difference (already `difference`) as text."""
    if change is None:
        return ""
    q = shown(kpi.decimals if kpi.display == "percent" else 0, change)
    sign = "+" if q > 0 else "-" if q < 0 else "±"
    unit = "ポイント" if kpi.display == "percent" else "円" if kpi.display == "yen" else ""
    return f"{sign}{abs(q):,f}{unit}"


# ---------------------------------------------------------------- cells
def stored(kpi: Kpi, value: float | None) -> float | None:
    """The number a cell holds for a KPI value: the shown value (a percent as a fraction, 96.3% → 0.963),
    so Excel's own display rounding has nothing left to round."""
    if value is None:
        return None
    q = shown(kpi, value)
    if not q.is_finite():
        return float(value)
    return float(q.scaleb(-2) if kpi.display == "percent" else q)


def number_format(kpi: Kpi, *, unit: str = "yen", suffix: str = "") -> str:
    """The Excel number format of a KPI value: '0.0%', '#,##0"円"', '#,##0"事業所"'.

    unit: which KPIs carry their unit in the format — "yen" (円 only; the report's tables name the
    other units in their heads), "all" (feedback) or "none" (the template's input cells, where a
    branch types a plain number).  suffix: text after the number (「以上」 on a target).
    """
    digits = "." + "0" * kpi.decimals if kpi.decimals else ""
    if kpi.display == "percent":
        return f"0{digits}%" + (f'"{suffix}"' if suffix else "")
    label = {"all": "円" if kpi.display == "yen" else kpi.unit,
             "yen": "円" if kpi.display == "yen" else "", "none": ""}[unit] + suffix
    return f'#,##0{digits}' + (f'"{label}"' if label else "")


def change_format(kpi: Kpi) -> str:
    """Number format of a difference from last year: points for percent KPIs, yen, counts."""
    if kpi.display == "percent":
        d = "0." + "0" * kpi.decimals if kpi.decimals else "0"
        return f'+{d}"pt";-{d}"pt";{d}"pt"'
    if kpi.display == "yen":
        return '+#,##0"円";-#,##0"円";0"円"'
    return "+#,##0;-#,##0;0"


# ---------------------------------------------------------------- text width
def text_width(text: str) -> int:
    """Width in half-width characters: wide, full-width and ambiguous East Asian characters count 2.

    Ambiguous ones (○ ◎ △ × — ①) count 2 because the Japanese fonts kpisheet writes with (游ゴシック)
    and Japanese terminals draw them full width.  The one measure for column widths, row heights and
    the CLI's tables."""
    if text.isascii():
        return len(text)  # every ASCII character is narrow
    return _wide_width(text)


@lru_cache(maxsize=65536)
def _wide_width(text: str) -> int:
    # Remembered: the outputs measure the same labels and names tens of thousands of times.
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text)


# ---------------------------------------------------------------- a number through an Excel number format
_DATE_TOKENS = set("ymdhs")


def _sections(num_format: str) -> list[str]:
    """The ';'-separated sections of a number format (a ';' inside quotes or after '\\' is text)."""
    sections, current, quoted, escaped = [], "", False, False
    for ch in num_format:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            current, escaped = current + ch, True
        elif ch == '"':
            current, quoted = current + ch, not quoted
        elif ch == ";" and not quoted:
            sections.append(current)
            current = ""
        else:
            current += ch
    return [*sections, current]


def _parts(section: str) -> list[tuple[bool, str]]:
    """A section as (is literal text, text) pieces: quoted text, escaped characters and anything that is
    not a digit placeholder are literal; [Red] and [>=100] conditions are dropped."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            end = len(section) if end < 0 else end
            parts.append((True, section[i + 1:end]))
            i = end + 1
        elif ch == "\\" and i + 1 < len(section):
            parts.append((True, section[i + 1]))
            i += 2
        elif ch == "[":
            end = section.find("]", i)
            i = len(section) if end < 0 else end + 1
        elif ch in "_*" and i + 1 < len(section):  # _x: a space as wide as x; *x: fill (at least nothing)
            parts.append((True, " " if ch == "_" else ""))
            i += 2
        else:
            parts.append((ch not in "0#?,.%", ch))
            i += 1
    return parts


def _general(value: float) -> str:
    """Excel's General format: an integer as it is, else up to 10 significant digits (11 characters)."""
    if float(value).is_integer() and abs(value) < 1e11:
        return str(int(value))
    text = f"{value:.10g}"
    return text if len(text) <= 11 else f"{value:.5E}"


def format_number(value: float, num_format: str | None) -> str:
    """The text a spreadsheet shows for the number `value` in a cell of the Excel number format
    `num_format` ('#,##0"事業所以上"', '0.0%', '+0.0"pt";-0.0"pt";0.0"pt"', '0"/45"', General ...).

    The one place kpisheet renders a number through a cell format, so a column can be made (and
    tested) wide enough for what it shows.  Covers what kpisheet writes: sections for positive,
    negative and zero, quoted and escaped text, thousands separators, decimals, percent; a date
    format is shown as its pattern's own width (every token one digit per letter)."""
    if not num_format or num_format.lower() == "general":
        return _general(value)
    sections = _sections(num_format)
    negative = value < 0
    if len(sections) >= 3 and value == 0:
        section, sign = sections[2], ""
    elif len(sections) >= 2 and negative:
        section, sign = sections[1], ""
    else:
        section, sign = sections[0], "-" if negative else ""
    parts = _parts(section)
    pattern = "".join(text for literal, text in parts if not literal)
    bare = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", section).lower()
    if _DATE_TOKENS & set(bare):
        return "".join(text for _, text in parts)  # a date or time: as wide as its pattern
    if not pattern:
        return sign + "".join(text for _, text in parts)
    number = abs(Decimal(repr(float(value))))
    if "%" in pattern:
        number *= 100
    digits = pattern.replace("%", "")
    whole, _, fraction = digits.partition(".")
    decimals = sum(1 for ch in fraction if ch in "0#?")
    rounded = number.quantize(_step(decimals), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{decimals}f}" if "," in whole else f"{rounded:.{decimals}f}"
    if rounded < 1 and "0" not in whole:  # '#.0' shows 0.5 as '.5'
        text = text[1:] if text.startswith("0") else text
    body = sign + text
    out, placed = [], False
    for literal, piece in parts:
        if literal:
            out.append(piece)
        elif not placed:
            out.append(body)
            placed = True
        elif piece == "%":
            out.append("%")
    return "".join(out)


CELL_MARGIN = 0.71  # of a column's width as the file stores it: Excel's 5-pixel cell margin (xlsxwriter's
#                     set_column(w) stores w + 0.71), which no character may use


def fits(text: str, width: float) -> bool:
    """Whether `text` shows whole in a column (or merged range) of stored width `width`: its
    characters (full-width ones counted 2) take at most the width less the cell margin."""
    return text_width(text) <= width - CELL_MARGIN


def width_for(text: str) -> int:
    """The least width to give a column (xlsxwriter's set_column width) that shows `text` whole."""
    return text_width(text)


# Characters a terminal acts on instead of showing: controls (escape sequences, carriage return,
# backspace), format characters (bidirectional overrides reorder the rest of a line), separators.
_TERMINAL_ACTS_ON = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def printable(text: str) -> str:
    """Text for a terminal: control, format and separator characters (but newline and tab) written
    as \\u escapes (\\u001b, \\u202e), so a file name cannot clear the screen, recolour it or
    reorder a line; every other character as it is.  The escape is JSON's own, so JSON text stays
    JSON and reads back to the same name."""
    if text.isprintable():
        return text
    return "".join(f"\\u{ord(ch):04x}" if ch not in "\n\t" and unicodedata.category(ch) in _TERMINAL_ACTS_ON
                   else ch for ch in text)
