"""Why a file could not be handled: the file is damaged (E110) or kpisheet failed (E190).

Every stage guards each file on its own (reading, checking, consolidating a branch,
writing its feedback), so one file never stops a run.  What such a guard caught is
classified here, by the exception's type:

* E110: the file itself is damaged — the zip, its compression or its XML is broken, or
  it cannot be read from disk.  The branch saves it again and resends it.
* E190: anything else is a failure inside kpisheet.  It is not the branch's fault: the
  message is for HQ, names the exception type, and the run exits non-zero.

The reader's own BookError (kpisheet.read.xlsx_read) carries its code and never gets here.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

from kpisheet.domain.findings import Finding, finding

CORRUPT = "E110"
INTERNAL = "E190"
CODES = frozenset({CORRUPT, INTERNAL})

# what a damaged file raises: the zip layer (NotImplementedError: an unknown compression method),
# inflating, XML parsing, reading the disk; a nesting or size no parser survives (RecursionError,
# MemoryError) comes from the file, not from kpisheet
DAMAGE: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error, EOFError, OSError, ExpatError,
    ParseError, UnicodeDecodeError, RecursionError, MemoryError)


def corrupt(path: Path | str, reason: str, **place: Any) -> Finding:
    """E110 on `path`: the file is damaged, for `reason`."""
    return finding(CORRUPT, file=path, reason=reason, **place)


def reason_of(exc: BaseException, limit: int = 120) -> str:
    """'TypeError: text of the exception' on one line (the type alone when it says nothing)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


def is_damage(exc: BaseException) -> bool:
    return isinstance(exc, DAMAGE)


def failure_finding(path: Path | str, exc: BaseException, **place: Any) -> Finding:
    """The finding for an exception a per-file guard caught: E110 for damage, else E190."""
    return finding(CORRUPT if is_damage(exc) else INTERNAL, file=path, reason=reason_of(exc), **place)


def is_internal(f: Finding) -> bool:
    """A failure inside kpisheet (E190): HQ's to report, and the run exits non-zero."""
    return f.code == INTERNAL
