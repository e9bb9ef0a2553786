"""Golden reference workbooks: build them deterministically and compare .xlsx files part by part.

Comparing (the way XlsxWriter's own test-suite does):

* :func:`xlsx_parts` unzips a workbook into ``{part name: normalised text}``. Each XML part
  is parsed and written out again one element per line, indented by depth, with its
  attributes sorted, so two parts compare equal when they mean the same and a
  difference shows as a line. Volatile content is replaced by a fixed placeholder:
  ``dcterms:created`` / ``dcterms:modified`` of docProps/core.xml, ``AppVersion`` of
  docProps/app.xml and the kpisheet version wherever it is written. Parts that are
  not XML compare by their sha256.
* :func:`assert_same_workbook` fails with the parts missing or extra, or with the
  first differing part (and the sheet it is), the element path of the first
  difference and a short unified diff, followed by the names of any other
  differing parts.

Building: :func:`build_all` writes the golden workbooks (see :data:`GOLDEN_NAMES`)
from small deterministic inputs — tests.builders.sample values (seed 0) of BRANCHES, HQ's
example settings, every file's time CREATED — with a fixed creation time, in a fixed
time zone.
``tests/test_golden.py`` rebuilds them and compares with ``tests/golden/``;
``python tools/update_golden.py`` rewrites ``tests/golden/`` after an intended change.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import os
import re
import shutil
import tempfile
import time
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from lxml import etree

GOLDEN_DIR = Path(__file__).resolve().with_name("golden")

#: Fixed creation time of every golden workbook (docProps and the 作成日 / 作成日時 cells).
CREATED = datetime(2024, 11, 5, 9, 30, 0, tzinfo=timezone.utc)
#: Time zone the goldens are built in (概要 shows 作成日時 in local time).
TIME_ZONE = "UTC"
FISCAL_YEAR = 2024
MONTH = date(2024, 10, 1)
#: Branches of the small consolidation; the feedback golden is that of FEEDBACK_BRANCH.
BRANCHES = ("11", "13", "27")
FEEDBACK_BRANCH = "11"
#: (branch, KPI) whose numerator exceeds its denominator in MONTH: the feedback lists a finding.
NUMERATOR_OVER = ("11", "K6-2-01")

GOLDEN_NAMES = ("national.xlsx", "lists.xlsx", "plan_status.xlsx", "template_11.xlsx", "feedback_11.xlsx")

PLACEHOLDER = "<volatile>"
_VOLATILE_TAGS = {
    "{http://purl.org/dc/terms/}created",
    "{http://purl.org/dc/terms/}modified",
    "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}AppVersion",
}
_XML_SUFFIXES = (".xml", ".rels", ".vml")
DIFF_LINES = 24


# ================================================================ normalising
def xlsx_parts(path: Path) -> dict[str, str]:
    """{part name: normalised text} of every member of the .xlsx zip at `path`."""
    with zipfile.ZipFile(path) as zf:
        return {name: _normalise(name, zf.read(name)) for name in sorted(zf.namelist())}


def _normalise(name: str, data: bytes) -> str:
    if not name.endswith(_XML_SUFFIXES):
        return f"sha256 {hashlib.sha256(data).hexdigest()} ({len(data)} bytes)"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:  # not well-formed (legacy VML can be): compare its lines as written
        return data.decode("utf-8", "replace")
    lines: list[str] = []
    _lines(root, 0, lines)
    return "\n".join(_unversioned(line) for line in lines)


def _lines(el: etree._Element, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    attrs = " ".join(f'{_qname(el, k)}="{v}"' for k, v in sorted(el.attrib.items()))
    out.append(f"{pad}<{_qname(el, el.tag)}{' ' + attrs if attrs else ''}>")
    text = PLACEHOLDER if el.tag in _VOLATILE_TAGS else el.text
    if text is not None and (text.strip() or len(el) == 0):
        out.append(f"{pad}  {text!r}")
    for child in el:
        if isinstance(child.tag, str):
            _lines(child, depth + 1, out)


def _qname(el: etree._Element, tag: str) -> str:
    """`{ns}local` as `prefix:local` with the prefix the document gives the namespace."""
    q = etree.QName(tag)
    if q.namespace is None:
        return q.localname
    prefix = next((p for p, uri in el.nsmap.items() if uri == q.namespace), None)
    if prefix is None and q.namespace == "http://www.w3.org/XML/1998/namespace":
        prefix = "xml"
    return f"{prefix}:{q.localname}" if prefix else q.localname if el.nsmap.get(None) == q.namespace else tag


def _unversioned(line: str) -> str:
    from kpisheet import __version__

    return line.replace(f"kpisheet {__version__}", "kpisheet <version>")


# ================================================================ comparing
def assert_same_workbook(actual: Path, golden: Path) -> None:
    """Raise AssertionError naming the first differing part of two .xlsx files (None if they match)."""
    message = workbook_difference(actual, golden)
    if message:
        raise AssertionError(message)


def workbook_difference(actual: Path, golden: Path) -> str:
    """'' when `actual` and `golden` have the same normalised parts, else a readable account."""
    got, want = xlsx_parts(actual), xlsx_parts(golden)
    head = f"{Path(actual).name} differs from golden {golden}"
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or extra:
        return (f"{head}: the parts differ.\n  missing (in golden only): {_few(missing)}\n"
                f"  extra (not in golden): {_few(extra)}")
    differing = [name for name in want if got[name] != want[name]]
    if not differing:
        return ""
    first = differing[0]
    sheets = sheet_parts(golden)
    where = f" (sheet {sheets[first]})" if first in sheets else ""
    w_lines, g_lines = want[first].splitlines(), got[first].splitlines()
    diff = list(difflib.unified_diff(w_lines, g_lines, "golden/" + first, "actual/" + first, n=2, lineterm=""))
    more = f"\n  other differing parts: {differing[1:]}" if len(differing) > 1 else ""
    return (f"{head}: part {first}{where} differs at {_first_path(w_lines, g_lines)}\n"
            + "\n".join(diff[:DIFF_LINES]) + ("\n  ..." if len(diff) > DIFF_LINES else "") + more)


def _few(names: list[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{names[:shown]}{more}"


def _first_path(golden: list[str], actual: list[str]) -> str:
    """The element path (with r="..." cell/row references) of the first differing golden line."""
    ops = [op for op in difflib.SequenceMatcher(None, golden, actual, autojunk=False).get_opcodes() if op[0] != "equal"]
    i = min(ops[0][1], len(golden) - 1) if ops else 0
    path, depth = [], _indent(golden[i]) + 1
    for line in reversed(golden[: i + 1]):
        if line.lstrip().startswith("<") and _indent(line) < depth:
            depth = _indent(line)
            path.append(_step(line.strip()))
    return "/".join(reversed(path))


def _indent(line: str) -> int:
    return (len(line) - len(line.lstrip(" "))) // 2


def _step(line: str) -> str:
    tag = line[1:-1].split(" ", 1)[0]
    ref = next((a for a in line[1:-1].split(" ")[1:] if a.startswith(("r=", "name=", "sheetId="))), "")
    return f"{tag}[{ref}]" if ref else tag


def sheet_parts(path: Path) -> dict[str, str]:
    """{worksheet part name: sheet name} from xl/workbook.xml and its relationships."""
    ns_r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path) as zf:
        wb = etree.fromstring(zf.read("xl/workbook.xml"))
        rels = etree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    out = {}
    for sheet in wb.iter("{*}sheet"):
        target = targets.get(sheet.get(f"{{{ns_r}}}id"), "")
        out[target.lstrip("/") if target.startswith("/") else "xl/" + target] = sheet.get("name")
    return out


def rewrite_part(src: Path, dst: Path, part: str | None, change: Callable[[bytes], bytes] | None) -> Path:
    """Copy the zip `src` to `dst` with `part` changed by `change` (or left out when `change` is None)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                if change is None:
                    continue
                data = change(data)
            zout.writestr(info, data)
    return dst


# ================================================================ building
@contextlib.contextmanager
def fixed_time_zone(name: str = TIME_ZONE) -> Iterator[None]:
    """Run the body with TZ=`name` (restored afterwards), so local-time cells do not depend on the machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def build_template(outdir: Path) -> Path:
    """The FY2024 template of branch FEEDBACK_BRANCH, made at CREATED."""
    from kpisheet.domain.settings import example_settings
    from kpisheet.template.build import generate

    result = generate(FISCAL_YEAR, [FEEDBACK_BRANCH], Path(outdir), generated_at=CREATED, force=True,
                      settings=example_settings())
    return result.paths[0]


def build_inbox(work: Path) -> Path:
    """work/inbox: the BRANCHES' templates filled with tests.builders.sample values (seed 0) through MONTH."""
    from kpisheet.domain.catalogue import catalogue_for_fy
    from kpisheet.domain.settings import example_settings
    from kpisheet.read.names import kpi_key
    from kpisheet.template.build import generate
    from tests.builders.sample import fill_by_names, sample_values

    templates = generate(FISCAL_YEAR, list(BRANCHES), work / "templates", generated_at=CREATED, force=True,
                         settings=example_settings())
    inbox = work / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    cat = catalogue_for_fy(FISCAL_YEAR)
    stamp = CREATED.timestamp()
    for tpl in templates.paths:
        code = tpl.name[:2]
        values = sample_values(cat, FISCAL_YEAR, code, MONTH, seed=0)
        if code == NUMERATOR_OVER[0]:
            kpi_id = NUMERATOR_OVER[1]
            values[kpi_key(kpi_id, "num", MONTH).name] = values[kpi_key(kpi_id, "den", MONTH).name] + 5
        out = inbox / tpl.name
        fill_by_names(tpl, out, values)
        _settle(out)
        os.utime(out, (stamp, stamp))
    return inbox


def _settle(path: Path) -> None:
    """Give a workbook saved by openpyxl fixed zip timestamps and document dates (its sha256 is shown)."""
    stamp = CREATED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, body)
            zout.writestr(zipfile.ZipInfo(info.filename, CREATED.timetuple()[:6]), body, zipfile.ZIP_DEFLATED)


def build_outputs(work: Path) -> dict[str, Path]:
    """The HQ workbooks and the feedback workbook of FEEDBACK_BRANCH of the small consolidation, under `work`,
    by golden name."""
    from kpisheet.consolidate.build import consolidate
    from kpisheet.domain.settings import example_settings
    from kpisheet.write.outputs import write_outputs

    inbox = build_inbox(work)
    cons = consolidate(inbox, fiscal_year=FISCAL_YEAR, month=MONTH, settings=example_settings())
    written = write_outputs(cons, work / "out", force=True, parallel=False, created=CREATED)
    def named(prefix: str) -> Path:
        return next(p for p in written.paths if p.parent.name == "out" and p.name.startswith(prefix))

    return {"national.xlsx": named("national_"), "lists.xlsx": named("全支部_評価一覧_"),
            "plan_status.xlsx": named("全支部_実施状況_"),
            "feedback_11.xlsx": next(p for p in written.paths
                                     if p.parent.name == "feedback" and p.name.startswith(FEEDBACK_BRANCH))}


def build_all(outdir: Path) -> dict[str, Path]:
    """Build every golden workbook into `outdir` as {golden name: path} (see GOLDEN_NAMES)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kpisheet-golden-"))
    try:
        with fixed_time_zone():
            built = build_outputs(work)
            built["template_11.xlsx"] = build_template(work / "template")
            return {name: Path(shutil.copyfile(src, outdir / name)) for name, src in built.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
