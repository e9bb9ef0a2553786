"""A worksheet part's cells found in its bytes, where that is safe: the reader's pruning and feedback's patching.

A filled template's input sheet is ~750 KB of XML, nearly all of it inside <sheetData>.  Two
stages need only a few of its cells: the reader (which cuts the cells it will not use before
expat parses the rest: kpisheet.read.xlsx_read) and the feedback copy (which restyles the
flagged cells and edits the rest of the sheet as a tree: kpisheet.write.feedback.patch).
Both find the cells with the regular expressions here, in C, and only when the text makes
that safe: where every '<' starts an element (no comment, CDATA, DTD or processing
instruction, whose text could hold anything) and every cell names its own reference as its
first attribute (a cell without `r` stands after the previous one: only counting places it).
"""

from __future__ import annotations

import re
from typing import NamedTuple

REF = rb"[A-Z]{1,3}[1-9][0-9]{0,6}"
WS = rb"[ \t\r\n]"
# a start tag's attributes, each quoted value whole (one may hold '>' or '/>'), then any white space;
# possessive, so a tag that does not match costs no backtracking
ATTRS = (rb"(?:" + WS + rb"++[^ \t\r\n=<>/\"']++" + WS + rb"*+=" + WS + rb"""*+(?:"[^"<]*+"|'[^'<]*+'))*+"""
         + WS + rb"*+")
# one attribute of a start tag: (white space, name, '=' with its white space, the value in its quotes)
ATTR = re.compile(rb"(" + WS + rb"++)([^ \t\r\n=<>/\"']++)(" + WS + rb"""*+=""" + WS + rb"""*+)("[^"<]*+"|'[^'<]*+')""")

# what makes finding elements by their text unsafe (one pass each): a comment, CDATA, DTD or processing
# instruction anywhere, and in <sheetData> a cell whose reference is not its first attribute (or an
# element <c…> of another name)
UNSAFE_OUTSIDE = re.compile(rb"<[!?]")
UNSAFE_INSIDE = re.compile(rb'<(?:[!?]|c(?! r="))')

_OPEN, _CLOSE = b"<sheetData>", b"</sheetData>"


class SheetText(NamedTuple):
    """A worksheet part cut at its <sheetData>: head + body + tail == the part."""

    head: bytes  # up to and including <sheetData>
    body: bytes  # the rows
    tail: bytes  # from </sheetData> on


def split_sheet_data(data: bytes) -> SheetText | None:
    """The part cut around the rows of its <sheetData>, or None where finding cells by text is unsafe
    (see the module docstring) or the part has no unprefixed <sheetData> with rows."""
    start, end = data.find(_OPEN), data.rfind(_CLOSE)
    if start < 0 or end < start:
        return None
    declaration = data.find(b"?>") + 2 if data.lstrip(b"\xef\xbb\xbf").startswith(b"<?xml") else 0
    body_at = start + len(_OPEN)
    if (UNSAFE_OUTSIDE.search(data, declaration, start) or UNSAFE_OUTSIDE.search(data, end)
            or UNSAFE_INSIDE.search(data, body_at, end)):
        return None
    return SheetText(data[:body_at], data[body_at:end], data[end:])
