"""Listing the inbox: which files are read as returned workbooks, and what is said about the rest.

`list_inbox(paths)` expands folders (sorted, recursive; hidden folders are not
entered) and sorts every file it meets into one of four kinds:

- read: spreadsheet-like extensions (.xlsx, .xlsm, .xls, .xlsb, .ods, .csv)
  and lock files (``~$…``, ``.~lock.…#``), which the reader reports (E102);
- skipped silently: Thumbs.db, desktop.ini, .DS_Store and other hidden
  dot-files (what the operating system leaves in folders);
- kpisheet's own outputs (the national workbook, the analysts' CSV, feedback
  workbooks, a run's ``feedback/`` folder, staging and lock files
  ``.kpisheet…``): W102, not read — so an output folder inside the inbox
  does not make the next run read its own results;
- anything else (no extension, .pdf, .txt, .xlsx.bak, a FIFO…): W101 naming
  the file, so nothing HQ put in the inbox disappears without a word;
- a folder named like a workbook (``11_埼玉.xlsx/``, what unpacking a workbook as a zip
  leaves): W101, not entered — its parts are no submission, and a workbook that only looks
  like one must not pass in silence.

A file given by name is always read (unless it is not a regular file), whatever it is called.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from kpisheet.domain.findings import Finding, finding
from kpisheet.read.preflight import LOCK_PREFIXES

CODES = frozenset({"W101", "W102"})

WORKBOOK_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv"})
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
STAGING_PREFIX = ".kpisheet"
FEEDBACK_FOLDER = "feedback"
_OWN_OUTPUTS = (  # (pattern of the file name, what it is, for W102's reason)
    (re.compile(r"^national_FY\d{4}_\d{4}-\d{2}(?!\d).*\.xlsx$", re.IGNORECASE), "全国集計表 / national workbook"),
    (re.compile(r"^kpi_values_FY\d{4}(?!\d).*\.(csv|xlsx)$", re.IGNORECASE), "分析用CSV / analysts' CSV"),
    (re.compile(r"_確認事項.*\.xlsx$", re.IGNORECASE), "確認事項ブック / feedback workbook"),
)


def list_inbox(paths: Iterable[Path | str]) -> tuple[list[Path], list[Finding]]:
    """(files to read, in order; W101/W102 findings about the files that are not read)."""
    files: list[Path] = []
    findings: list[Finding] = []
    for p in map(Path, paths):
        if p.is_dir():
            _walk(p, files, findings)
        elif p.exists() and not p.is_file():
            findings.append(finding("W101", file=p, reason=_NOT_REGULAR))
        else:
            files.append(p)  # named explicitly (or missing: the reader says so)
    return files, findings


_NOT_REGULAR = "通常のファイルではありません / not a regular file"
_WORKBOOK_NAMED_FOLDER = "ブックの名前のフォルダです / a folder named like a workbook"


def _walk(folder: Path, files: list[Path], findings: list[Finding]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        findings.append(finding("W101", file=folder, reason=exc.strerror or type(exc).__name__))
        return
    for entry in entries:
        path = Path(entry.path)
        if _is_dir(entry):
            if entry.name.startswith("."):
                continue
            if _is_feedback_folder(path):
                findings.append(finding("W102", file=path, reason="確認事項の出力フォルダ / feedback folder"))
                continue
            if Path(entry.name).suffix.lower() in WORKBOOK_EXTENSIONS:
                findings.append(finding("W101", file=path, reason=_WORKBOOK_NAMED_FOLDER))
                continue
            _walk(path, files, findings)
            continue
        kind, reason = classify(entry.name)
        if kind in ("read", "other") and not _is_regular(entry):
            kind, reason = "other", _NOT_REGULAR
        if kind == "read":
            files.append(path)
        elif kind == "output":
            findings.append(finding("W102", file=path, reason=reason))
        elif kind == "other":
            findings.append(finding("W101", file=path, reason=reason))


def classify(name: str) -> tuple[str, str]:
    """('read' | 'skip' | 'output' | 'other', reason) for a file met in an inbox folder."""
    if name.lower() in SYSTEM_FILES:
        return "skip", ""
    if name.startswith(LOCK_PREFIXES):
        return "read", ""
    if name.startswith(STAGING_PREFIX):
        return "output", "作業用・ロックファイル / staging or lock file"
    if name.startswith("."):
        return "skip", ""
    for pattern, what in _OWN_OUTPUTS:
        if pattern.search(name):
            return "output", what
    suffix = Path(name).suffix.lower()
    if suffix in WORKBOOK_EXTENSIONS:
        return "read", ""
    return "other", f"拡張子 {suffix} / extension" if suffix else "拡張子なし / no extension"


def _is_feedback_folder(path: Path) -> bool:
    """A run's feedback/ folder: beside a national workbook or CSV, or holding feedback workbooks."""
    if path.name.lower() != FEEDBACK_FOLDER:
        return False
    try:
        siblings = [e.name for e in os.scandir(path.parent)]
        children = [e.name for e in os.scandir(path)]
    except OSError:
        return False
    own = [p for p, _ in _OWN_OUTPUTS]
    return (any(own[0].search(n) or own[1].search(n) for n in siblings)
            or any(own[2].search(n) for n in children))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
