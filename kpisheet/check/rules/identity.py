"""Identity rules: whose workbook it is, for which fiscal year and template (E202–E206), and which of a
branch's several workbooks is used (W207 / W208 on the others, E207 when none is newer).

The reader's identity findings (E201 not a kpisheet workbook, E208 damaged metadata) are the
reader's (kpisheet.read.reader); these compare what it read with what the run expects.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kpisheet import TEMPLATE_VERSION
from kpisheet.domain.catalogue import Catalogue
from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.fiscal import jst_text
from kpisheet.domain.model import Submission

CODES = frozenset({"E202", "E203", "E204", "E205", "E206", "E207", "W207", "W208", "W423"})

# A workbook's saved time (docProps) later than the run by more than this is a wrong PC clock (W423):
# that time decides nothing — neither which of a branch's files is newest nor whether it came late.
# The tolerance absorbs a few minutes of difference between the branch's clock and HQ's.
FUTURE_SAVED = "W423"
CLOCK_TOLERANCE = timedelta(minutes=10)

SUPPORTED_TEMPLATE_VERSIONS = (TEMPLATE_VERSION,)
_BRANCH_IN_NAME = re.compile(r"^(\d{2})(?=[_\-\s.　]|$)")
_FY_PATTERNS = (re.compile(r"(?<!\d)(?:FY|fy)?(20\d{2})(?:年度)(?!\d)"),
                re.compile(r"(?<![A-Za-z\d])FY(20\d{2})(?!\d)", re.IGNORECASE),
                re.compile(r"令和(元|\d{1,2})年度"),
                re.compile(r"(?<![A-Za-z])R(\d{1,2})年度"))


def names_from_path(path: Path) -> tuple[str | None, int | None]:
    """(branch code, FY) that the file name — or its folder's name — says, if any."""
    branch = m.group(1) if (m := _BRANCH_IN_NAME.match(path.name)) else None
    fy = _fy_in(path.stem) or _fy_in(path.parent.name)
    return branch, fy


def _fy_in(text: str) -> int | None:
    for i, pattern in enumerate(_FY_PATTERNS):
        if m := pattern.search(text):
            n = m.group(1)
            if i >= 2:
                return 2018 + (1 if n == "元" else int(n))
            return int(n)
    return None


def identity_findings(sub: Submission, catalogue: Catalogue, *, fiscal_year: int | None,
                      expected_branch: str | None = None, now: datetime | None = None) -> list[Finding]:
    where: dict[str, Any] = {"file": sub.path, "branch": sub.branch_code, "sheet": "_meta"}
    out: list[Finding] = []
    if saved_in_future(sub, now):
        out.append(finding(FUTURE_SAVED, file=sub.path, branch=sub.branch_code, value=jst_text(sub.saved_at),
                           expected=jst_text(now or datetime.now(timezone.utc))))
    if sub.template_version not in SUPPORTED_TEMPLATE_VERSIONS:
        out.append(finding("E202", value=sub.template_version,
                           expected=", ".join(map(str, SUPPORTED_TEMPLATE_VERSIONS)), **where))
    if sub.catalogue_digest and not catalogue.digest.startswith(sub.catalogue_digest[:12]):
        out.append(finding("E203", value=sub.catalogue_digest[:12], expected=catalogue.short_digest, **where))
    if fiscal_year is not None and sub.fiscal_year != fiscal_year:
        out.append(finding("E204", value=sub.fiscal_year, expected=fiscal_year, **where))
    name_branch, name_fy = names_from_path(Path(sub.path))
    if name_fy is not None and sub.fiscal_year != name_fy:
        out.append(finding("E205", value=sub.fiscal_year, expected=name_fy, **where))
    expected = expected_branch or name_branch
    if expected is not None and sub.branch_code != expected:
        out.append(finding("E206", value=f"{sub.branch_code} {sub.branch_name or ''}".strip(),
                           expected=expected, **where))
    return out


@dataclass
class Resubmissions:
    """Which file of each branch (and fiscal year) is used when a branch sent several.

    Identical files (same sha256) count once: the one that came first is kept, the others get W208.
    Of different files the newest is used — by the workbook's own saved time (docProps), then
    the file's modification time — and the others get W207 naming it.  When the newest cannot be
    told (the same times), every file of the branch gets E207 and none is used.
    """

    findings: list[Finding] = field(default_factory=list)
    not_used: list[Submission] = field(default_factory=list)


def saved_in_future(sub: Submission, now: datetime | None = None) -> bool:
    """The workbook's saved time is later than `now` (the run; default: this moment) by more than
    CLOCK_TOLERANCE: the branch PC's clock is wrong, and the time is not trusted (W423)."""
    t = _saved_time(sub)
    return t is not None and t > (now or datetime.now(timezone.utc)) + CLOCK_TOLERANCE


def resubmissions(subs: list[Submission], now: datetime | None = None) -> Resubmissions:
    out = Resubmissions()
    by_branch: dict[tuple[str | None, int | None], list[Submission]] = {}
    for sub in subs:
        by_branch.setdefault((sub.branch_code, sub.fiscal_year), []).append(sub)
    for (code, _), group in by_branch.items():
        if len(group) > 1 and code:
            _choose_newest(code, group, out, now)
    return out


def _choose_newest(code: str, group: list[Submission], out: Resubmissions, now: datetime | None = None) -> None:
    where: dict[str, Any] = {"branch": code, "sheet": "_meta"}
    distinct: dict[str, Submission] = {}
    # of identical copies the one that came first is kept (then the shorter name): later copies are the extras
    for sub in sorted(group, key=lambda s: (_mtime_ns(s.path), len(Path(s.path).name), Path(s.path).name)):
        kept = distinct.setdefault(sub.sha256 or sub.path, sub)
        if kept is not sub:
            out.findings.append(finding("W208", file=sub.path, used=Path(kept.path).name, **where))
            out.not_used.append(sub)
    if len(distinct) < 2:
        return
    key = _newness(list(distinct.values()), now)
    ranked = sorted(distinct.values(), key=key, reverse=True)
    if key(ranked[0]) == key(ranked[1]):
        for sub in ranked:
            others = ", ".join(Path(o.path).name for o in ranked if o is not sub)
            out.findings.append(finding("E207", file=sub.path, others=others, **where))
        out.not_used.extend(ranked)
        return
    used = ranked[0]
    for sub in ranked[1:]:
        out.findings.append(finding("W207", file=sub.path, used=Path(used.path).name, value=_saved_text(sub),
                                    expected=_saved_text(used), **where))
        out.not_used.append(sub)


def _newness(group: list[Submission], now: datetime | None = None) -> Any:
    """Sort key: (saved time, file time) when every file has a saved time it can be trusted with
    (none in the future, W423), else the file time alone."""
    saved = {id(s): None if saved_in_future(s, now) else _saved_time(s) for s in group}
    use_saved = all(saved.values())

    def key(sub: Submission) -> tuple[Any, ...]:
        mtime = _mtime_ns(sub.path)
        return (saved[id(sub)], mtime) if use_saved else (mtime,)
    return key


def _saved_time(sub: Submission) -> Any:
    try:
        t = datetime.fromisoformat((sub.saved_at or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _saved_text(sub: Submission) -> str:
    """The saved time as people read it (local time), else the file's time, said so."""
    t = _saved_time(sub)
    if t is not None:
        return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    mtime = _mtime_ns(sub.path)
    return datetime.fromtimestamp(mtime / 1e9).strftime("%Y-%m-%d %H:%M:%S（ファイルの日時）") if mtime else "不明"
