"""Peak memory and time of `kpisheet consolidate` when one of 47 files is hostile.

    .venv/bin/python benchmarks/bench_memory.py [--runs 1] [--ref 6b3d100] [--inbox DIR] [--keep DIR] [--only CASE]

Builds the 47-file inbox of bench_read_validate.py (benchlib.build_inbox), then
runs the CLI (`python -P -m kpisheet consolidate ... --force`, the current tree
on PYTHONPATH) on it as it is and with 東京's workbook (13) replaced, in turn, by

* lying-zip    — its input worksheet member declares its original small size
                 but inflates to ~2 GB (--inflate-gb) of legal XML: whitespace
                 before `</worksheet>`.  The deflate stream is built piecewise
                 (one compressed 1 MiB block of spaces, full-flushed so it can
                 be repeated) and the sizes are patched into the local header
                 and the central directory, so this script never holds 2 GB;
* big-sheet    — a legal ~95 MB (--sheet-mb) input worksheet: its own rows,
                 then rows of ten numeric cells;
* many-strings — a sharedStrings part of 2,200,000 (--strings) tiny distinct
                 strings (~48 MB, just under a 50 MB part budget) followed by
                 the input sheet's own texts, which its cells now reference;
* flagged-sheet — a ~45 MB (--flagged-mb) input worksheet of empty styled
                 cells (`<c r="A10001" s="1"/>`: nothing the reader keeps, so
                 within every reading budget; a ~4 MB file) with its tab
                 selected, so that the feedback step must edit it: parsed
                 whole into an lxml tree it cost 1.4 GB; it is now copied
                 unpatched (kpisheet.write.feedback.patch.PATCH_PART_BYTES).

For each inbox it reports wall time, peak memory of the process tree (the
polled sum of RSS, an upper bound, and the exact ru_maxrss of the largest single
process; see benchlib.py) and the exit code, and which finding codes
`kpisheet validate --json` gives the hostile file alone (a decompressed-bytes
budget answers E107).  Reading limits of kpisheet.read.xlsx_read are printed when
the package has them (MAX_* constants); nothing here depends on them.
With --ref the same inboxes are also consolidated by that git ref's code (a
temporary worktree, as in compare.py), one run of each in turn.  Goal: under
500 MB for every inbox.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import benchlib
from benchlib import (
    REPO,
    Run,
    add_worktree,
    check_import,
    child_env,
    current_label,
    fresh_dir,
    git,
    kpisheet_cmd,
    mb,
    measure,
    remove_worktree,
)

CHUNK = 1 << 20
VICTIM = "13"  # 東京
INPUT_SHEET = "KPI入力"
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
      "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


# ------------------------------------------------------------------ zip helpers
def input_sheet_member(z: zipfile.ZipFile) -> str:
    """The zip member of the input sheet (by the workbook's relationships), else the largest sheet."""
    try:
        book = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        rid = next(s.get(f"{{{NS['r']}}}id") for s in book.iterfind("m:sheets/m:sheet", NS)
                   if s.get("name") == INPUT_SHEET)
        target = next(r.get("Target") for r in rels.iter(f"{PKG_RELS}Relationship") if r.get("Id") == rid)
        return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    except (KeyError, StopIteration, ET.ParseError):
        sheets = [i for i in z.infolist() if i.filename.startswith("xl/worksheets/")]
        return max(sheets, key=lambda i: i.file_size).filename


def copy_except(zin: zipfile.ZipFile, zout: zipfile.ZipFile, skip: set[str]) -> None:
    for info in zin.infolist():
        if info.filename not in skip:
            zout.writestr(info, zin.read(info.filename))


def write_streamed(zout: zipfile.ZipFile, name: str, pieces: Iterator[bytes]) -> int:
    total, info = 0, zipfile.ZipInfo(name, (2024, 10, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zout.open(info, "w") as w:
        for piece in pieces:
            w.write(piece)
            total += len(piece)
    return total


# ------------------------------------------------------------------ (a) lying sizes
def _raw_deflate(data: bytes, mode: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(mode)


def lying_zip(src: Path, dst: Path, inflate_bytes: int) -> str:
    """`src` with its input sheet last, declared at its true small size, inflating to ~inflate_bytes."""
    with zipfile.ZipFile(src) as zin:
        member = input_sheet_member(zin)
        original = zin.read(member)
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
            copy_except(zin, zout, {member})
            zout.writestr(member, original)
    end = original.rindex(b"</worksheet>")
    head, tail = original[:end], original[end:]
    pad = b" " * CHUNK
    repeats = max(1, (inflate_bytes - len(original)) // CHUNK)
    body = [_raw_deflate(head, zlib.Z_FULL_FLUSH), _raw_deflate(pad, zlib.Z_FULL_FLUSH),
            _raw_deflate(tail, zlib.Z_FINISH)]
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(pad, crc)
    crc = zlib.crc32(tail, crc)
    size = len(body[0]) + repeats * len(body[1]) + len(body[2])
    _splice(dst, member, body, repeats, crc, size)
    return f"{member} declares {len(original):,} bytes, inflates to {len(head) + repeats * CHUNK + len(tail):,}"


def _splice(path: Path, member: str, body: list[bytes], repeats: int, crc: int, size: int) -> None:
    """Replace the last member's data by head + pad*repeats + tail; patch CRC and compressed size."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    lh = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[lh + 26:lh + 30])
    start = lh + 30 + name_len + extra_len
    central = bytearray(data[start + info.compress_size:])
    local = bytearray(data[lh:start])
    struct.pack_into("<II", local, 14, crc, size)  # uncompressed size (22) keeps the lie
    _patch_central(central, member, crc, size, start + size)
    with path.open("wb") as f:
        f.write(data[:lh])
        f.write(local)
        f.write(body[0])
        for _ in range(repeats):
            f.write(body[1])
        f.write(body[2])
        f.write(central)


def _patch_central(central: bytearray, member: str, crc: int, size: int, cd_offset: int) -> None:
    pos = 0
    while central[pos:pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack("<HHH", central[pos + 28:pos + 34])
        if central[pos + 46:pos + 46 + n].decode("utf-8") == member:
            struct.pack_into("<II", central, pos + 16, crc, size)
        pos += 46 + n + m + k
    assert central[pos:pos + 4] == b"PK\x05\x06", "unexpected zip layout"
    struct.pack_into("<I", central, pos + 16, cd_offset)


# ------------------------------------------------------------------ (b) a big legal sheet
def big_sheet(src: Path, dst: Path, target_bytes: int) -> str:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        member = input_sheet_member(zin)
        original = zin.read(member).decode("utf-8")
        copy_except(zin, zout, {member})
        cut = original.index("</sheetData>")
        last = max((int(r) for r in re.findall(r'<row[^>]*\br="(\d+)"', original)), default=0)
        size = write_streamed(zout, member, _rows(original[:cut], original[cut:], last + 1, target_bytes))
    return f"{member}: {size / 1e6:.0f} MB of XML"


def _rows(head: str, tail: str, first: int, target_bytes: int) -> Iterator[bytes]:
    yield head.encode()
    written, row = len(head), first
    while written < target_bytes and row < 1_048_000:
        block = "".join(f'<row r="{r}">' + "".join(f'<c r="{col}{r}"><v>{r}.{i}</v></c>'
                                                   for i, col in enumerate("ABCDEFGHIJ")) + "</row>"
                        for r in range(row, row + 1000)).encode()
        written, row = written + len(block), row + 1000
        yield block
    yield tail.encode()


# ------------------------------------------------------------------ (d) a flagged sheet of empty cells
def flagged_sheet(src: Path, dst: Path, target_bytes: int) -> str:
    """`src` whose input sheet, tab selected, grows to ~target_bytes of empty styled cells."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        member = input_sheet_member(zin)
        original = re.sub(r"<sheetView\b(?![^>]*tabSelected)", '<sheetView tabSelected="1"',
                          zin.read(member).decode("utf-8"), count=1)
        copy_except(zin, zout, {member})
        cut = original.index("</sheetData>")
        last = max((int(r) for r in re.findall(r'<row[^>]*\br="(\d+)"', original)), default=0)
        size = write_streamed(zout, member, _empty_rows(original[:cut], original[cut:], last + 1, target_bytes))
    return f"{member}: {size / 1e6:.0f} MB of XML, empty styled cells, tab selected; file {dst.stat().st_size / 1e6:.1f} MB"


def _empty_rows(head: str, tail: str, first: int, target_bytes: int) -> Iterator[bytes]:
    yield head.encode()
    written, row = len(head), first
    while written < target_bytes and row < 1_048_000:
        block = "".join(f'<row r="{r}">' + "".join(f'<c r="{col}{r}" s="1"/>' for col in "ABCDEFGHIJKLMNOPQRST")
                        + "</row>" for r in range(row, row + 1000)).encode()
        written, row = written + len(block), row + 1000
        yield block
    yield tail.encode()


# ------------------------------------------------------------------ (c) many shared strings
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def many_strings(src: Path, dst: Path, count: int) -> str:
    """`src` whose shared strings are `count` tiny ones plus its input sheet's own texts.

    The input sheet's inline strings become references to the last entries, so
    the workbook says the same and a reader has to take in the whole part.
    """
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        member = input_sheet_member(zin)
        sst = (zin.read("xl/sharedStrings.xml").decode("utf-8") if "xl/sharedStrings.xml" in zin.namelist()
               else f'<sst xmlns="{NS["m"]}" count="0" uniqueCount="0"></sst>')
        sst = re.sub(r"<sst\b([^>]*)/>", r"<sst\1></sst>", sst, count=1)
        known = len(re.findall(r"<si\b", sst))
        sheet, texts = _shared(zin.read(member).decode("utf-8"), known + count)
        skip = {member, "xl/sharedStrings.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"}
        copy_except(zin, zout, skip)
        _declare_sst(zin, zout, "xl/sharedStrings.xml" not in zin.namelist())
        zout.writestr(member, sheet)
        total = known + count + len(texts)
        sst = re.sub(r'\b(count|uniqueCount)="\d+"', lambda m: f'{m[1]}="{total}"', sst)
        cut = sst.rindex("</sst>")
        size = write_streamed(zout, "xl/sharedStrings.xml", _strings(sst[:cut], sst[cut:], count, texts))
    return (f"xl/sharedStrings.xml: {count:,} tiny strings + {known + len(texts):,} of the workbook, "
            f"{size / 1e6:.0f} MB of XML")


INLINE = re.compile(r'<c ([^>]*?)\s*\bt="inlineStr"([^>]*)><is><t((?: [^>]*)?)>([^<]*)</t></is></c>')


def _shared(sheet: str, first: int) -> tuple[str, list[str]]:
    """The sheet with its inline strings turned into shared-string indexes from `first` on."""
    texts: list[str] = []

    def share(m: re.Match[str]) -> str:
        texts.append(f"<si><t{m[3]}>{m[4]}</t></si>")
        return f'<c {m[1]} t="s"{m[2]}><v>{first + len(texts) - 1}</v></c>'

    return INLINE.sub(share, sheet), texts


def _declare_sst(zin: zipfile.ZipFile, zout: zipfile.ZipFile, add: bool) -> None:
    """Copy the content types and workbook relationships, declaring a new sharedStrings part if `add`."""
    types = zin.read("[Content_Types].xml").decode("utf-8")
    rels = zin.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    if add:
        types = types.replace(
            "</Types>", f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}"/></Types>')
        rels = rels.replace("</Relationships>", f'<Relationship Id="rIdBenchSst" Type="{SST_REL}" '
                                                f'Target="sharedStrings.xml"/></Relationships>')
    zout.writestr("[Content_Types].xml", types)
    zout.writestr("xl/_rels/workbook.xml.rels", rels)


def _strings(head: str, tail: str, count: int, texts: list[str]) -> Iterator[bytes]:
    yield head.encode()
    for start in range(0, count, 100_000):
        yield "".join(f"<si><t>{i:06x}</t></si>" for i in range(start, min(count, start + 100_000))).encode()
    yield "".join(texts).encode()
    yield tail.encode()


# ------------------------------------------------------------------ running
def hostile_inbox(base: Path, root: Path, case: str, build: Callable[[Path, Path], str]) -> tuple[Path, Path, str]:
    inbox = root / f"inbox-{case}"
    shutil.copytree(base, inbox)
    victim = next(inbox.glob(f"{VICTIM}_*.xlsx"))
    src = root / f"original-{victim.name}"
    victim.replace(src)
    how = build(src, victim)
    src.unlink()
    return inbox, victim, how


def consolidate(inbox: Path, root: Path, tree: Path) -> Run:
    args = ("consolidate", str(inbox), "--fy", str(benchlib.FY), "--month", f"{benchlib.MONTH:%Y-%m}",
            "--force", "-o", str(fresh_dir(root, "out-")))
    return measure(kpisheet_cmd(*args), child_env(tree), root)


def codes_of(victim: Path, root: Path, tree: Path) -> str:
    """Finding codes `kpisheet validate --json` gives the one file (or how the command failed)."""
    run = measure(kpisheet_cmd("validate", str(victim), "--fy", str(benchlib.FY), "--json"),
                  child_env(tree), root, keep_output=True)
    codes = sorted(set(re.findall(r'"code":\s*"([A-Z]\d{3})"', run.stdout)))
    if not codes and run.returncode not in (0, 1):
        return f"exit {run.returncode}: {' '.join(run.stderr.strip().splitlines()[-1:])[:120]}"
    return ", ".join(codes) or "none"


def limits() -> str:
    try:
        import kpisheet.read.xlsx_read as wx
    except Exception as exc:  # noqa: BLE001 — a package mid-change must not stop the benchmark
        return f"kpisheet.read.xlsx_read not importable ({exc})"
    found = {k: getattr(wx, k) for k in dir(wx) if k.isupper() and re.search("MAX|BUDGET|LIMIT", k)}
    return ", ".join(f"{k} = {v:,}" if isinstance(v, int) else f"{k} = {v!r}" for k, v in found.items()) \
        or "none (no MAX_/BUDGET/LIMIT constants in kpisheet.read.xlsx_read)"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.strip().splitlines()[1:]))
    ap.add_argument("--runs", type=int, default=1, help="consolidations per inbox and tree (default 1)")
    ap.add_argument("--ref", help="also run the code of this git ref (e.g. 6b3d100), from a temporary worktree")
    ap.add_argument("--inbox", type=Path, help="reuse a 47-file inbox built before (DIR/inbox of --keep)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep the inboxes")
    ap.add_argument("--only", action="append", choices=["plain", *CASES], help="run only this inbox (repeatable)")
    ap.add_argument("--inflate-gb", type=float, default=2.0, help="lying-zip: inflated size (default 2)")
    ap.add_argument("--sheet-mb", type=float, default=95.0, help="big-sheet: worksheet size (default 95)")
    ap.add_argument("--strings", type=int, default=2_200_000, help="many-strings: extra strings (default 2,200,000)")
    ap.add_argument("--flagged-mb", type=float, default=45.0, help="flagged-sheet: worksheet size (default 45)")
    return ap.parse_args()


CASES: dict[str, Callable[[argparse.Namespace], Callable[[Path, Path], str]]] = {
    "lying-zip": lambda a: lambda s, d: lying_zip(s, d, int(a.inflate_gb * 1e9)),
    "big-sheet": lambda a: lambda s, d: big_sheet(s, d, int(a.sheet_mb * 1e6)),
    "many-strings": lambda a: lambda s, d: many_strings(s, d, a.strings),
    "flagged-sheet": lambda a: lambda s, d: flagged_sheet(s, d, int(a.flagged_mb * 1e6)),
}


Row = tuple[str, str, dict[str, list[Run]], dict[str, str]]


def measure_case(case: str, base: Path, root: Path, sides: dict[str, Path], args: argparse.Namespace) -> Row:
    """Build the case's inbox, then per side: the hostile file's codes and `runs` consolidations (interleaved)."""
    if case == "plain":
        inbox, what, codes = base, "47 files as built", {side: "—" for side in sides}
    else:
        inbox, victim, what = hostile_inbox(base, root, case, CASES[case](args))
        codes = {side: codes_of(victim, root, tree) for side, tree in sides.items()}
    runs: dict[str, list[Run]] = {side: [] for side in sides}
    for _ in range(args.runs):
        for side, tree in sides.items():
            runs[side].append(consolidate(inbox, root, tree))
    if case != "plain" and args.keep is None:
        shutil.rmtree(inbox)
    return case, what, runs, codes


def report(rows: list[Row], labels: dict[str, str]) -> None:
    sides = list(labels)
    head = " | ".join(f"{labels[s]}: wall | {labels[s]}: peak Pss (tree / largest) | {labels[s]}: exit, "
                      f"findings on the file" for s in sides)
    print(f"\n| inbox (one file of 47 replaced) | {head} |\n|---|" + "---|---|---|" * len(sides))
    for case, what, runs, codes in rows:
        cells = []
        for side in sides:
            rs = runs[side]
            exits = "/".join(str(c) for c in sorted({r.returncode for r in rs}))
            cells.append(f"{statistics.median(r.wall for r in rs):.1f} s | {mb(max(r.pss_kb for r in rs))} "
                         f"({mb(max(r.tree_kb for r in rs))} / "
                         f"{mb(max(r.largest_kb for r in rs))}) | {exits}; {codes[side]}")
        print(f"| {case}: {what} | {' | '.join(cells)} |")
    print("\ngoal: every inbox under 500 MB (tree); tree = polled summed RSS of the process tree (upper bound), "
          "largest = exact ru_maxrss of one process; findings from `kpisheet validate --json` on the file alone")
    for case, _, runs, _ in rows:
        for side, rs in runs.items():
            failed = next((r for r in rs if r.returncode != 0), None)
            if failed:
                tail = " ".join(failed.stderr.strip().splitlines()[-2:])[:300]
                print(f"note: {case}, {labels[side]}: exit {failed.returncode} — {tail}")


def main() -> None:
    args = parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kpisheet-memory-"))
    root.mkdir(parents=True, exist_ok=True)
    sides, labels = {"current": REPO}, {"current": current_label()}
    try:
        if args.ref:
            sides = {"ref": add_worktree(args.ref, root), **sides}
            labels = {"ref": git("rev-parse", "--short", args.ref), **labels}
        for tree in sides.values():
            check_import(tree, root)
        base = args.inbox or benchlib.build_inbox_with(root, REPO)
        print(f"machine: {benchlib.machine()}")
        print(f"trees: {', '.join(f'{labels[s]} ({t})' for s, t in sides.items())}")
        print(f"reading limits of the current tree: {limits()}\n")
        rows = []
        for case in args.only or ["plain", *CASES]:
            rows.append(measure_case(case, base, root, sides, args))
            _, what, runs, codes = rows[-1]
            print(f"  {case}: {what}; " + "; ".join(
                f"{labels[s]} {statistics.median(r.wall for r in runs[s]):.1f} s "
                f"{mb(max(r.tree_kb for r in runs[s]))} [{codes[s]}]" for s in sides), flush=True)
        report(rows, labels)
    finally:
        if "ref" in sides:
            remove_worktree(sides["ref"])
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
