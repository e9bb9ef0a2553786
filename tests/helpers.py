"""Workbook builders for the reader / validation tests: templates, filled copies and odd files.

`make_template` uses the real generator (kpisheet.template.build) when it exists and
otherwise a small stand-in that follows the layout contract of kpisheet/read/names.py
(hidden key column A and key row 1, `_meta` key/value rows, kpisheet_* custom
properties, percent targets as fractions in `0.0%` cells).  The odd files (lock
file, encrypted blob, zip bomb, billion laughs…) are built byte by byte here,
one function per case, so each test shows what it feeds the reader.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter

from kpisheet.domain.catalogue import branch as branch_info
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.fiscal import fiscal_months, month_compact
from kpisheet.read import names as nm
from tests.builders.sample import fill_by_names

FY = 2024


def real_generator() -> Any | None:
    try:
        from kpisheet.template import build as template
    except ImportError:
        return None
    return template if hasattr(template, "generate") else None


def make_template(tmp_path: Path, fy: int = FY, branch: str = "10", *, standin: bool = False) -> Path:
    """A freshly generated (never opened) workbook for one branch."""
    gen = None if standin else real_generator()
    outdir = tmp_path / f"tpl_{fy}_{branch}{'_s' if standin else ''}"
    if gen is not None:
        result = gen.generate(fy, [branch], outdir)
        return Path(result.paths[0])
    outdir.mkdir(parents=True, exist_ok=True)
    return build_contract_workbook(outdir / f"{branch}_{branch_info(branch).name}_{fy}.xlsx", fy, branch)


def fill(template: Path, out: Path, values: dict[str, Any]) -> Path:
    fill_by_names(template, out, values)
    return out


# ------------------------------------------------------------------ the contract stand-in
def build_contract_workbook(path: Path, fy: int, branch: str, *, meta: dict[str, Any] | None = None,
                            meta_state: str = "very_hidden") -> Path:
    cat = catalogue_for_fy(fy)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    inp = {"percent": wb.add_format({"locked": False, "num_format": "0.0%", "bg_color": "#FFF2CC"}),
           "num": wb.add_format({"locked": False, "num_format": "#,##0", "bg_color": "#FFF2CC"}),
           "text": wb.add_format({"locked": False, "bg_color": "#FFF2CC", "text_wrap": True})}
    guide = wb.add_worksheet(nm.SHEET_GUIDE)
    guide.write_string(0, 0, "入力の手引き")
    ws = wb.add_worksheet(nm.SHEET_KPI)
    months = fiscal_months(fy)
    ws.write_string(0, 2, nm.VALUE_COLUMN_KEY)
    for j, m in enumerate(months):
        ws.write_string(0, 3 + j, month_compact(m))
        ws.write_string(1, 3 + j, f"{m.month}月")
    row = 2

    def put(key: nm.InputKey, col: int, fmt: Any, label: str) -> None:
        ws.write_string(row, 0, key.sheet_key)
        ws.write_string(row, 1, label)
        ws.write_blank(row, col, None, fmt)
        wb.define_name(key.name, f"='{nm.SHEET_KPI}'!${_col(col)}${row + 1}")

    for kpi in cat.kpis_for(fy, branch):
        if kpi.kind == "qualitative":
            for f in ("text", "rating"):
                put(nm.kpi_key(kpi.id, f), 2, inp["text"], f"{kpi.short_label} {f}")
                row += 1
            continue
        pct = inp["percent"] if kpi.is_percent else inp["num"]
        for f in ("target", "baseline"):
            put(nm.kpi_key(kpi.id, f), 2, pct, f"{kpi.short_label} {f}")
            row += 1
        for f in (("num", "den") if kpi.kind == "ratio" else ("val",)):
            ws.write_string(row, 0, nm.kpi_key(kpi.id, f).sheet_key)
            ws.write_string(row, 1, f"{kpi.short_label} {f}")
            for j, m in enumerate(months):
                if kpi.applies_in(m):
                    key = nm.kpi_key(kpi.id, f, m)
                    ws.write_blank(row, 3 + j, None, inp["num"])
                    wb.define_name(key.name, f"='{nm.SHEET_KPI}'!${_col(3 + j)}${row + 1}")
            row += 1
    ws.set_row(0, None, None, {"hidden": True})
    ws.set_column(0, 0, None, None, {"hidden": True})

    ms = wb.add_worksheet(nm.SHEET_MEASURES)
    for j, key in enumerate(("text", "rating", "note")):
        ms.write_string(0, 2 + j, key)
    row = 1
    for measure in cat.measures:
        for n in range(1, nm.ROWS_PER_MEASURE + 1):
            ms.write_string(row, 0, nm.measure_key(measure.id, "text", n).sheet_key)
            ms.write_string(row, 1, f"{measure.heading} {n}")
            for j, f in enumerate(("text", "rating", "note")):
                ms.write_blank(row, 2 + j, None, inp["text"])
                wb.define_name(nm.measure_key(measure.id, f, n).name, f"='{nm.SHEET_MEASURES}'!${_col(2 + j)}${row + 1}")
            row += 1
        ms.write_string(row, 0, nm.measure_key(measure.id, "issue").sheet_key)
        ms.write_blank(row, 2, None, inp["text"])
        wb.define_name(nm.measure_key(measure.id, "issue").name, f"='{nm.SHEET_MEASURES}'!$C${row + 1}")
        row += 1
    ms.set_row(0, None, None, {"hidden": True})
    ms.set_column(0, 0, None, None, {"hidden": True})

    values = {"format": "kpisheet-template", "template_version": 1, "kpisheet_version": "0.1.0",
              "term": cat.term, "catalogue_file": cat.source_file, "catalogue_digest": cat.digest,
              "fiscal_year": fy, "branch_code": branch, "branch_name": branch_info(branch).display_name,
              "generated_at": "2024-04-01T09:00:00+09:00", "rows_per_measure": nm.ROWS_PER_MEASURE}
    values.update(meta or {})
    meta_ws = wb.add_worksheet(nm.SHEET_META)
    for i, (k, v) in enumerate(values.items()):
        meta_ws.write_string(i, 0, k)
        if v is not None:
            meta_ws.write_string(i, 1, str(v))
    getattr(meta_ws, "very_hidden" if meta_state == "very_hidden" else "hide")()
    for k in ("fiscal_year", "branch_code", "template_version"):
        wb.set_custom_property(f"kpisheet_{k}", str(values[k]))
    wb.set_properties({"created": datetime(2024, 4, 1, 9, 0, 0)})
    wb.close()
    return path


def _col(index0: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(index0 + 1)


# ------------------------------------------------------------------ editing a copy (openpyxl)
def edit(src: Path, dst: Path, fn: Any) -> Path:
    """Load `src` with openpyxl, let fn(wb) change it, save as `dst` (tests only: our own files)."""
    wb = openpyxl.load_workbook(src)
    fn(wb)
    wb.save(dst)
    return dst


def cell_of(path: Path, name: str) -> tuple[str, str]:
    """(sheet, A1) a defined name points at (names read once per file version)."""
    return _name_cells(str(path), Path(path).stat().st_mtime_ns)[name]


@lru_cache(maxsize=32)
def _name_cells(path: str, _mtime: int) -> dict[str, tuple[str, str]]:
    from openpyxl.utils import get_column_letter

    from kpisheet.read.reader import _destination
    from kpisheet.read.xlsx_read import Book
    out = {}
    with Book(Path(path)) as book:
        for name, value in book.defined_names.items():
            if dest := _destination(book, value):
                out[name] = (dest[0], f"{get_column_letter(dest[2])}{dest[1]}")
    return out


def rewrite_zip(src: Path, dst: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> Path:
    """Copy an xlsx part by part, replacing (bytes) or dropping (None) parts; add new ones."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    zout.writestr(info.filename, change[info.filename])
                continue
            zout.writestr(info, zin.read(info.filename))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst



def set_cached_value(src: Path, dst: Path, cell: str, cached: str) -> Path:
    """Give an openpyxl-written formula in `cell` a cached result, as a spreadsheet program would."""
    with zipfile.ZipFile(src) as z:
        part = next(n for n in z.namelist() if n.startswith("xl/worksheets/") and
                    f'<c r="{cell}"' in z.read(n).decode() and "<f>" in z.read(n).decode())
        xml = z.read(part).decode()
    # an empty <v/> or <v></v>: openpyxl writes one or the other with and without lxml
    xml, n = re.subn(rf'(<c r="{cell}"[^>]*>)<f>([^<]*)</f><v(?:\s*/>|>\s*</v>)', rf"\1<f>\2</f><v>{cached}</v>", xml)
    assert n == 1, "the cached value was not set"
    return rewrite_zip(src, dst, {part: xml.encode()})

# ------------------------------------------------------------------ odd files, one per case
def empty_file(d: Path) -> Path:
    p = d / "10_群馬_empty.xlsx"
    p.write_bytes(b"")
    return p


def lock_file(d: Path) -> Path:
    p = d / "~$10_群馬.xlsx"
    p.write_bytes(b"\x06user      " + b"\x00" * 150)
    return p


def csv_renamed(d: Path) -> Path:
    p = d / "10_群馬_csv.xlsx"
    p.write_text("kpi,value\nK6-2-01,96.5\n", encoding="utf-8")
    return p


def ole_blob(d: Path, *, encrypted: bool, name: str) -> Path:
    body = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504
    if encrypted:
        body += "EncryptedInfo".encode("utf-16-le") + b"\x00" * 16 + "EncryptedPackage".encode("utf-16-le")
    body += b"\x00" * 1024
    p = d / name
    p.write_bytes(body)
    return p


def broken_zip(d: Path, template: Path) -> Path:
    p = d / "10_群馬_truncated.xlsx"
    data = template.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def ods_like(d: Path) -> Path:
    p = d / "10_群馬_ods.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    return p


def docx_like(d: Path) -> Path:
    p = d / "10_群馬_docx.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return p


def zip_bomb(d: Path) -> Path:
    """A small zip whose one part inflates to 150 MB of zeros (declared in the directory)."""
    p = d / "10_群馬_bomb.xlsx"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            chunk = b"\x00" * (1 << 20)
            for _ in range(150):
                f.write(chunk)
    p.write_bytes(buf.getvalue())
    return p


def xlsm_with_macros(d: Path, template: Path) -> Path:
    p = d / "10_群馬_macro.xlsx"
    return rewrite_zip(template, p, {}, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 64})


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
                  b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
                  b'<si><t>&lol3;</t></si></sst>')


def billion_laughs(d: Path, template: Path) -> Path:
    p = d / "10_群馬_entities.xlsx"
    with zipfile.ZipFile(template) as z:
        target = "xl/sharedStrings.xml" if "xl/sharedStrings.xml" in z.namelist() else "docProps/app.xml"
    return rewrite_zip(template, p, {target: BILLION_LAUGHS})


def make_corpus_value(kind: str) -> Any:
    """Sample typed values used across tests."""
    return {"date": datetime(2024, 10, 1), "day": date(2024, 10, 1)}[kind]


def readme_example(heading: str, tmp_path: Path) -> tuple[list[str], str]:
    """The first command block under README `heading` and the output block after it: (the command's
    arguments after `kpisheet`, what the README shows it prints).  The shipped examples are copied into
    `tmp_path`, from which the caller runs it (monkeypatch.chdir)."""
    import re
    import shlex
    import shutil

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(heading):]
    command, shown = re.findall(r"```\n(.*?)```", section, re.S)[:2]
    shutil.copytree(root / "examples", tmp_path / "examples")
    args = shlex.split(command.strip())
    assert args[0] == "kpisheet", command
    return args[1:], shown
