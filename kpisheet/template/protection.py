"""The workbook structure lock XlsxWriter cannot write: a zip patch of xl/workbook.xml."""

from __future__ import annotations

import io
import re
import zipfile

from kpisheet.template.book import TemplateLintError


def lock_structure(xlsx: bytes, password: str | None = None) -> bytes:
    """Add <workbookProtection lockStructure="1"/> after <workbookPr/> (XlsxWriter cannot lock the structure itself)."""
    attrs = b' lockStructure="1"'
    if password:
        attrs = f' workbookPassword="{_password_hash(password)}"'.encode() + attrs
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data, n = re.subn(rb"(<workbookPr\b[^>]*/>)", rb"\1<workbookProtection" + attrs + rb"/>", data,
                                  count=1)
                if n != 1:
                    raise TemplateLintError("xl/workbook.xml has no <workbookPr/> to put the structure lock after")
            zout.writestr(info, data)
    return out.getvalue()


def _password_hash(password: str) -> str:
    """Excel's legacy 16-bit password hash (the one sheet protection uses too)."""
    h = 0
    for i, ch in enumerate(password, start=1):
        v = ord(ch) << i
        h ^= (v & 0x7FFF) | (v >> 15)
    h ^= len(password) ^ 0xCE4B
    return f"{h:X}"
