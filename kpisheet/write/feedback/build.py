"""Branch feedback: `feedback/<code>_<支部名>_FY2024_2024-10_確認事項.xlsx`.

A copy of the branch's own workbook with every finding's cell highlighted and a
comment saying what to fix, opening with two sheets: 実施状況 (kpisheet.write.report.plan_status: the
branch's plan measure by measure as the 埼玉 status report lays it out; only in the feedback of the file
whose values the consolidation used) and 確認事項, which lists the findings
(sheet, cell, message) and the branch's own KPI rows beside the national figures:
annual target, result with the month its data reach (「42.6%（R6.1現在）」), mark,
進捗 as a separate reference figure (KPIs that grow through the year only), where
the target came from, and the term goal as reference.  With a ledger it also lists
the branch's own revisions of values it reported before (締め後 where the month was
closed) and each result beside the same month of the previous fiscal year.

How the copy is made, each way tried only when the one before fails:

1. Patch the branch's zip.  The parts that change (workbook.xml, its rels,
   [Content_Types].xml, styles.xml, the flagged sheets and their rels) are
   parsed into element trees by a hardened lxml parser (no DOCTYPE, no
   entities, nothing fetched), edited by namespace and element name, written
   back with every namespace declaration where the branch's file had it (so
   the prefixes `mc:Ignorable` names stay declared) and parsed back before
   the zip is written.  Comment parts and the 実施状況 and 確認事項 sheets are added; every
   other member is copied unchanged (inflated, checked when it is XML, and
   deflated again by `zipfile`).  Images,
   charts and x14 extensions a branch's Excel may add survive.
   A flagged sheet too large to parse (patch.PATCH_PART_BYTES) is copied
   unpatched, with a note on 確認事項; any other part that large makes the
   file too big to patch (3. follows, openpyxl is not tried): memory stays
   bounded whatever the branch's file holds within the reading budgets.
2. openpyxl load, annotate and save (it drops images and charts; the
   確認事項 sheet says so).
3. A workbook with only the 実施状況 and 確認事項 sheets, saying in one line why the
   branch's own file could not be copied.  A file the reader could not read
   at all goes straight to this way.

The open tab is 確認事項 when the file has findings (what to fix comes first), else 実施状況.
Nothing about the branch's file makes `write_feedback` raise; only an OSError
writing the output does.

This module names the file and tries the ways in turn; the 確認事項 sheet's texts and
layout are in kpisheet.write.feedback.summary (findings folded into its items in
.items), the first way in .patch, the second and third in .fallback.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from lxml import etree

from kpisheet.domain.findings import Finding, makes_unreadable
from kpisheet.domain.model import Submission
from kpisheet.fileio import atomic_path
from kpisheet.write.feedback.fallback import _openpyxl_feedback, _scratch_feedback
from kpisheet.write.feedback.patch import TooBigToPatch, _PatchError, patch_workbook, too_big_to_load
from kpisheet.write.feedback.summary import _branch_name, _clean, _safe_name

if TYPE_CHECKING:
    from kpisheet.consolidate.model import Consolidation


# ================================================================ names
def feedback_path(cons: Consolidation, sub: Submission, outdir: Path) -> Path:
    """`<code>_<支部名>_FY<fy>_<month>_確認事項.xlsx`; with the file's stem when one branch sent several files.

    Files of no known branch always carry their stem; two stems that clean to the same text get -1, -2, ...
    """
    head = f"{sub.branch_code or 'xx'}_{_branch_name(sub)}_FY{cons.fiscal_year}_{cons.month_key}"
    group = [s for s in cons.submissions if s.branch_code == sub.branch_code]
    if not any(s is sub for s in group):
        group.append(sub)
    if sub.branch_code is not None and len(group) == 1:
        return Path(outdir) / "feedback" / f"{head}_確認事項.xlsx"
    stems = [_safe_name(Path(s.path).stem) for s in group]
    mine = next(i for i, s in enumerate(group) if s is sub)
    stem = stems[mine]
    if stems.count(stem) > 1:
        stem += f"-{stems[:mine + 1].count(stem)}"
    return Path(outdir) / "feedback" / f"{head}_{stem}_確認事項.xlsx"


def feedback_name_pattern(fiscal_year: int, month_key: str) -> re.Pattern[str]:
    """Every name feedback_path can give a feedback file of this fiscal year and month."""
    return re.compile(rf"(?:\d{{2}}|xx)_.+_FY{fiscal_year}_{re.escape(month_key)}(?:_.+)?_確認事項\.xlsx")


def branch_findings(cons: Consolidation, sub: Submission) -> list[Finding]:
    return [f for f in cons.findings if f.file == sub.path or (f.file is None and f.branch == sub.branch_code)]


# ================================================================ writing, with its fallbacks
def write_feedback(cons: Consolidation, sub: Submission, outdir: Path, *, force: bool) -> Path:
    """Write one branch's feedback workbook atomically; return its path.

    Whatever the branch's file holds, a workbook is written (see the module docstring);
    only an OSError writing it (disk full, permission) propagates.
    """
    final = feedback_path(cons, sub, outdir)
    data = feedback_bytes(cons, sub, branch_findings(cons, sub))
    with atomic_path(final, force=force) as tmp:
        tmp.write_bytes(data)
    return final


NOTE_UNREADABLE = "※ 提出ファイルを読み込めなかったため、確認事項のみを記載しています（理由は下の指摘事項のとおりです）。"


def feedback_bytes(cons: Consolidation, sub: Submission, findings: list[Finding]) -> bytes:
    """The feedback workbook: patched copy, else openpyxl copy, else the 確認事項 sheet alone."""
    return copy_with_fallbacks(sub.path, findings, lambda data: patch_workbook(data, cons, sub, findings),
                               lambda data: _openpyxl_feedback(cons, sub, findings, data),
                               lambda notes: _scratch_feedback(cons, sub, findings, notes))


def copy_with_fallbacks(path: str, findings: list[Finding], patch: Callable[[bytes], bytes],
                        loaded: Callable[[bytes], bytes], scratch: Callable[[list[str]], bytes]) -> bytes:
    """The ways of making any feedback copy of the branch's file at `path`, each tried when the one before
    fails: patch(its bytes), loaded(its bytes) (openpyxl), scratch(notes saying why) (no copy)."""
    if any(makes_unreadable(f) for f in findings):
        return scratch([NOTE_UNREADABLE])
    data: bytes | None = None
    try:
        data = Path(path).read_bytes()
        return patch(data)
    except Exception as exc:  # noqa: BLE001 - anything in the branch's file: try the next way
        why = exc
    if data is not None and not isinstance(why, TooBigToPatch) and not too_big_to_load(data):
        try:  # openpyxl loads every part whole: not for a file with a part too big to patch
            return loaded(data)
        except Exception:  # noqa: BLE001 - the first reason is the one worth telling
            pass
    return scratch([f"※ 提出ファイルを確認用の写しに複製できなかったため、確認事項のみを記載しています（{_why_ja(why)}）。"])


def _why_ja(exc: Exception) -> str:
    kinds: list[tuple[type[BaseException], str]] = [
        (TooBigToPatch, "ブックの一部が大きすぎます"), (_PatchError, "ブックの構成が想定外です"), (zipfile.BadZipFile, "zipファイルとして壊れています"),
        (zlib.error, "圧縮データが壊れています"), (NotImplementedError, "未対応の圧縮形式の部分があります"),
        (RuntimeError, "暗号化などで読めない部分があります"), (etree.XMLSyntaxError, "XMLが壊れています"),
        (OSError, "ファイルを読めません")]
    label = next((text for kind, text in kinds if isinstance(exc, kind)), "読み込めない部分があります")
    detail = _clean(str(exc)).replace("\n", " ")[:60]
    return f"{label}：{detail}" if detail else label
