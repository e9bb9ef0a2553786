"""Pre-flight: checks on a returned file before any spreadsheet parser sees it.

A branch may send anything: an Excel lock file, an old .xls, an encrypted
workbook, an .xlsm, a CSV renamed .xlsx, a zip bomb or XML with entity tricks.
Each gets one clear E1xx finding here, using only the zip directory and the
first bytes of each part, so the reader only ever opens a plausible .xlsx.
The reader itself refuses DTDs in every part it parses and counts the bytes it
actually inflates (kpisheet.read.xlsx_read); the checks here are the cheap first
line: declared sizes, compression methods, DTDs at the head of any XML part.
preflight() never raises and never blocks on a FIFO or device.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from pathlib import Path

from kpisheet.domain.failures import corrupt, failure_finding
from kpisheet.domain.findings import Finding, finding
from kpisheet.read.xlsx_read import TOO_LARGE, UNSAFE_XML

CODES = frozenset({"E101", "E102", "E103", "E104", "E105", "E106", "E109", "E111"})  # and E107 / E108 (xlsx_read), E110 (domain.failures)

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ENCRYPTED_MARKER = "EncryptedPackage".encode("utf-16-le")
MAX_FILE_BYTES = 20 * 2**20  # a filled template is ~100 KB
MAX_PARTS = 1000
MAX_UNCOMPRESSED_BYTES = 100 * 2**20
MAX_PART_RATIO = 200  # declared size / compressed size of one part
RATIO_FLOOR_BYTES = 2 * 2**20  # parts smaller than this may compress as well as they like
XML_SCAN_BYTES = 4096  # a DOCTYPE must come before the root element
LOCK_PREFIXES = ("~$", ".~lock.")

def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"

def preflight(path: Path) -> list[Finding]:
    """Findings (E101–E111) that stop `path` from being parsed; [] when it looks like a safe .xlsx.

    Never raises: a damaged file is E110 with its reason; a failure of kpisheet itself is E190.
    """
    path = Path(path)
    try:
        return _preflight(path)
    except Exception as exc:  # no input should get here: a failure of kpisheet (E190), never a traceback
        return [failure_finding(path, exc)]

def _preflight(path: Path) -> list[Finding]:
    if path.name.startswith(LOCK_PREFIXES):  # by its name alone: never opened
        return [finding("E102", file=path)]
    try:
        st = os.stat(path)
    except OSError as exc:
        return [corrupt(path, exc.strerror or type(exc).__name__)]
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block the first read; a folder cannot be read
        return [corrupt(path, "通常のファイルではありません / not a regular file")]
    size = st.st_size
    if size == 0:
        return [finding("E101", file=path)]
    if size > MAX_FILE_BYTES:
        return [finding("E111", file=path, size=_mb(size), limit=_mb(MAX_FILE_BYTES))]
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        return [corrupt(path, exc.strerror or type(exc).__name__)]
    if head == OLE_MAGIC:
        code = "E105" if ENCRYPTED_MARKER in path.read_bytes() else "E104"
        return [finding(code, file=path)]
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK\x03\x04"):  # a zip that was cut short (mail, copy)
            return [corrupt(path, "ファイルが途中で切れています / truncated archive")]
        return [finding("E109", file=path, reason=_guess_kind(head, path))]
    return _check_zip(path)

def _guess_kind(head: bytes, path: Path) -> str:
    if head.lstrip().lower().startswith((b"<html", b"<!doc", b"<?xml")):
        return "HTML/XML"
    if head.startswith(b"%PDF"):
        return "PDF"
    if path.suffix.lower() == ".csv" or b"," in head:
        return "CSV/text"
    return "zip形式ではありません / not a zip archive"

def _check_zip(path: Path) -> list[Finding]:
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
            if problem := _size_problem(infos):
                return [finding(TOO_LARGE, file=path, reason=problem)]
            if problem := _member_problem(infos):  # before any member is opened
                return [corrupt(path, problem)]
            if "xl/workbook.xml" not in names:
                kind = "OpenDocument (.ods)" if "content.xml" in names else "xl/workbook.xml がありません / no xl/workbook.xml"
                return [finding("E109", file=path, reason=kind)]
            if _has_macros(z, names) or path.suffix.lower() == ".xlsm":
                return [finding("E106", file=path)]
            if bad := _xml_with_entities(z, infos):
                return [finding(UNSAFE_XML, file=path, reason=bad)]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error,
            RuntimeError, NotImplementedError) as exc:
        return [corrupt(path, f"{type(exc).__name__}: {str(exc)[:200]}")]
    if path.suffix.lower() != ".xlsx":
        return [finding("E103", file=path, reason=f"拡張子 {path.suffix or '(なし)'} / extension")]
    return []

def _size_problem(infos: list[zipfile.ZipInfo]) -> str | None:
    if len(infos) > MAX_PARTS:
        return f"{len(infos)} parts > {MAX_PARTS}"
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        return f"展開後 {_mb(total)} > {_mb(MAX_UNCOMPRESSED_BYTES)}"
    for i in infos:
        if i.file_size > RATIO_FLOOR_BYTES and i.file_size > MAX_PART_RATIO * max(i.compress_size, 1):
            return f"{i.filename}: 圧縮率 / ratio {i.file_size // max(i.compress_size, 1)}:1"
    return None

def _member_problem(infos: list[zipfile.ZipInfo]) -> str | None:
    """A member that cannot be read safely: encrypted, or compressed other than stored/deflated
    (zipfile inflates bzip2 and LZMA without a bound; Excel never writes them)."""
    for i in infos:
        if i.flag_bits & 0x1:
            return f"{i.filename}: 暗号化されたパート / encrypted part"
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return f"{i.filename}: 未対応の圧縮方式 / unsupported compression method {i.compress_type}"
    return None

def _has_macros(z: zipfile.ZipFile, names: set[str]) -> bool:
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        return True
    if "[Content_Types].xml" in names:
        with z.open("[Content_Types].xml") as f:
            return b"macroenabled" in f.read(64 * 1024).lower()
    return False

def _xml_with_entities(z: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> str | None:
    """Name of the first XML part that declares a DOCTYPE or ENTITY (billion laughs, XXE)."""
    for info in infos:
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        with z.open(info) as f:
            head = f.read(XML_SCAN_BYTES)
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head or _utf16_doctype(head):
            return info.filename
    return None

def _utf16_doctype(head: bytes) -> bool:
    return "<!DOCTYPE".encode("utf-16-le") in head or "<!ENTITY".encode("utf-16-le") in head
