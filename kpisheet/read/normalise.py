"""Value normalisation: what a branch typed → the number or text kpisheet means.

People type "96.5%", "９６．５", "1,170事業所", "8,364円" or "—" for nothing.
Each cell is normalised from its own content, its number format and the kind
of input (percent target, count, yen, text, rating).  Every change is
reported (W305); whatever stays ambiguous is reported too (W306); nothing is
rescaled silently.  Findings are returned as *codes with context*; the reader
adds file, sheet and cell.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

CODES = frozenset({"E304", "E310", "W305", "W306", "W311"})

EMPTY_MARKS = {"", "—", "-", "－", "ー", "―", "‐", "−", "–", "─", "ｰ", "なし", "無し", "該当なし", "n/a", "N/A"}
RATING_ALIASES = {"〇": "○", "◯": "○", "o": "○", "O": "○", "◎": "◎", "◉": "◎", "x": "×", "X": "×",
                  "✕": "×", "✖": "×", "╳": "×", "▲": "△", "ー": "—", "-": "—", "－": "—", "―": "—",
                  "─": "—", "–": "—", "‐": "—", "−": "—"}
UNIT_SUFFIXES = ("事業所", "件", "人", "名", "円", "社", "回", "点", "％", "%", "ポイント", "pt")
_NUMBER_RE = re.compile(r"^[+-]?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?$|^[+-]?\.[0-9]+$")  # ASCII digits only
PERCENT = "percent"  # unit kinds of a numeric input
PLAIN = "plain"


@dataclass(frozen=True)
class Note:
    """A finding to report about one cell: code plus message context (no location yet)."""

    code: str
    value: Any = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Normalised:
    value: float | str | None
    notes: tuple[Note, ...] = ()


def is_percent_format(number_format: str | None) -> bool:
    """True for '0.0%', '0.000%', '#,##0.0%' — not for '0.0"%"' (a literal % sign)."""
    if not number_format:
        return False
    unquoted = re.sub(r'"[^"]*"|\\.', "", number_format)
    return "%" in unquoted


def clean_number(value: float) -> float:
    """Round away float noise from unit conversions (0.965*100 → 96.5, not 96.49999999999999)."""
    return float(f"{value:.12g}") + 0.0  # 12 significant digits: float noise gone, small values kept


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e15 else str(v)


def parse_number_text(text: str) -> tuple[float | None, bool]:
    """('96.5%' → 96.5, True).  Returns (number or None, had_percent_sign); None = not a number.

    Accepts NFKC (full-width) digits, thousands commas, surrounding spaces, a unit
    suffix (円, 件, 事業所…), a leading ¥, and Japanese negative marks △/▲.  Other decimal
    digits (Arabic-Indic ٦٤, Devanagari…) are not read as a number: NFKC keeps them, and
    float() would accept them, so only ASCII digits pass.
    """
    s = unicodedata.normalize("NFKC", text).strip().replace(" ", "").replace("\u3000", "")
    s = s.replace("−", "-").replace("ー", "-") if s[:1] in ("−", "ー") else s
    negative = False
    if s[:1] in ("△", "▲"):
        negative, s = True, s[1:]
    s = s.lstrip("¥\\")
    had_percent = False
    for suffix in UNIT_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            had_percent = suffix in ("%", "％")
            s = s[: -len(suffix)]
            break
    if not _NUMBER_RE.match(s):
        return None, False
    number = float(s.replace(",", ""))
    if not math.isfinite(number):
        return None, False
    return (-number if negative else number), had_percent


def is_empty_mark(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, str) and unicodedata.normalize("NFKC", value).strip() in EMPTY_MARKS


def normalise_number(raw: Any, number_format: str | None, unit: str) -> Normalised:
    """A numeric input.  unit PERCENT: result in percentage points (96.5 = 96.5%); else as typed.

    Percent cells: what a number means is decided by the kind of input and the template's
    contract (a percent KPI's annual cell holds a fraction under a 0.0% format), not by whether
    the format survived: a number from -1 to 1 is a fraction (0.965 → 96.5), even when the file
    lost its styles or carries another format (`;;;`, General); a number above 1 cannot be a
    fraction of a 0–100% KPI and is read as points (with W306 when the % format is there:
    LibreOffice stores "96.5" typed in a 0.0% cell as 96.5).  Text is parsed ("96.5%",
    "９６．５", "96.5") as points with W305.  The reader then weighs the value against HQ's
    prefilled value and the KPI's plausible range (kpisheet.read.reader).
    """
    if is_empty_mark(raw):
        return Normalised(None)
    if isinstance(raw, bool):
        return Normalised(None, (Note("E304", raw, {"example": _example(unit)}),))
    if isinstance(raw, (datetime, date, time, timedelta)):
        shown = raw.isoformat() if hasattr(raw, "isoformat") else str(raw)
        return Normalised(None, (Note("E310", shown),))
    if isinstance(raw, (int, float)):
        return _from_number(float(raw), number_format, unit)
    text = str(raw)
    number, had_percent = parse_number_text(text)
    if number is None:
        return Normalised(None, (Note("E304", text.strip(), {"example": _example(unit)}),))
    if unit != PERCENT and had_percent:
        return Normalised(None, (Note("E304", text.strip(), {"example": _example(unit)}),))
    number = clean_number(number)
    shown = f"{_fmt(number)}%" if unit == PERCENT else _fmt(number)
    return Normalised(number, (Note("W305", text, {"normalised": shown}),))


def _from_number(number: float, number_format: str | None, unit: str) -> Normalised:
    if not math.isfinite(number):
        return Normalised(None, (Note("E304", str(number), {"example": _example(unit)}),))
    if unit != PERCENT:
        return Normalised(clean_number(number))
    if abs(number) > 1:
        if not is_percent_format(number_format):
            return Normalised(clean_number(number))
        shown = f"{_fmt(number * 100)}%"
        return Normalised(clean_number(number), (Note("W306", shown, {"normalised": _fmt(number)}),))
    return Normalised(clean_number(number * 100))


def _example(unit: str) -> str:
    return "96.5" if unit == PERCENT else "1170"


def normalise_text(raw: Any) -> Normalised:
    """Free text (事業内容, 備考, 課題): kept as typed; numbers become their text; blanks empty."""
    if raw is None:
        return Normalised(None)
    if isinstance(raw, bool):
        return Normalised("TRUE" if raw else "FALSE")
    if isinstance(raw, float) and raw.is_integer():
        return Normalised(str(int(raw)))
    if isinstance(raw, (datetime, date)):
        return Normalised(raw.strftime("%Y/%m/%d"))
    text = str(raw)
    if not text.strip():
        return Normalised(None)
    return Normalised(text)


def normalise_rating(raw: Any) -> Normalised:
    """A rating mark: '〇' → '○', 'x' → '×', '-' → '—' (W311); anything else kept for E407."""
    if raw is None:
        return Normalised(None)
    text = str(raw)
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        return Normalised(None)
    s = {"○": "○", "◎": "◎", "△": "△", "×": "×", "—": "—"}.get(s) or RATING_ALIASES.get(s, s)
    if s != text:
        return Normalised(s, (Note("W311", text, {"normalised": s}),))
    return Normalised(s)
