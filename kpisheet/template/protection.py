"""The workbook structure lock XlsxWriter cannot write: a zip patch of xl/workbook.xml."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Literal

import xlsxwriter

from kpisheet import xlsx_write
from kpisheet.template.book import TemplateLintError


def lock_structure(xlsx: bytes, password: str | None = None) -> bytes:
    """Add <workbookProtection lockStructure="1"/> after <workbookPr/> (XlsxWriter cannot lock the structure itself)."""
    attrs = b' lockStructure="1"'
    if password:
        attrs = f' workbookPassword="{_password_hash(password)}"'.encode() + attrs
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zin, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=xlsx_write.DEFLATE_LEVEL) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data, n = re.subn(rb"(<workbookPr\b[^>]*/>)", rb"\1<workbookProtection" + attrs + rb"/>", data,
                                  count=1)
                if n != 1:
                    raise TemplateLintError("xl/workbook.xml has no <workbookPr/> to put the structure lock after")
            zout.writestr(info, data, compresslevel=xlsx_write.DEFLATE_LEVEL)
    return out.getvalue()


def locked_workbook(buf: io.BytesIO, options: dict, password: str | None = None) -> xlsxwriter.Workbook:
    """An XlsxWriter workbook that writes the structure lock itself, right after <workbookPr/>, as
    lock_structure would put it: the same bytes, without unzipping and deflating every part again
    (a tenth of a workbook's time).  `is_locked` tells whether it did (XlsxWriter's own writer of
    <workbookPr/> is what it extends); build_template falls back to lock_structure if not."""
    attrs = [("lockStructure", "1")]
    if password:
        attrs.insert(0, ("workbookPassword", _password_hash(password)))
    return _LockedWorkbook(buf, options, attrs)


class _LockedWorkbook(xlsx_write.Workbook):
    def __init__(self, buf: io.BytesIO, options: dict, lock: list[tuple[str, str]]):
        super().__init__(buf, options)
        self._kpisheet_lock = lock

    def _write_workbook_pr(self) -> None:
        super()._write_workbook_pr()
        self._xml_empty_tag("workbookProtection", self._kpisheet_lock)

    def define_name(self, name: str, formula: str) -> Literal[0, -1]:
        """A workbook-level input name (in_…, ~1,400 per workbook) as XlsxWriter would record it, without
        its four regular expressions per name: such a name cannot hold characters Excel refuses nor look
        like a cell (its underscores), and the template's lint checks every one.  Any other name is
        XlsxWriter's to check."""
        if _INPUT_NAME.fullmatch(name):
            self.defined_names.append([name, -1, formula.lstrip("="), False])
            return 0
        return super().define_name(name, formula)


_INPUT_NAME = re.compile(r"in_[A-Za-z0-9_]{1,200}")


def is_locked(xlsx: bytes) -> bool:
    """xl/workbook.xml holds the structure lock right after <workbookPr/>."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        return re.search(rb"<workbookPr\b[^>]*/><workbookProtection ", z.read("xl/workbook.xml")) is not None


def _password_hash(password: str) -> str:
    """Excel's legacy 16-bit password hash (the one sheet protection uses too)."""
    h = 0
    for i, ch in enumerate(password, start=1):
        v = ord(ch) << i
        h ^= (v & 0x7FFF) | (v >> 15)
    h ^= len(password) ^ 0xCE4B
    return f"{h:X}"
