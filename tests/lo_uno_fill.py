#!/usr/bin/python3
"""Type into a workbook through LibreOffice Calc over UNO, the way a person would.

This script is run by ``tests/lo.py::lo_fill`` with Debian's ``/usr/bin/python3``
(the only interpreter where ``import uno`` works; a virtualenv cannot import it).
It uses the standard library and ``uno`` only.

Usage::

    /usr/bin/python3 tests/lo_uno_fill.py JOB.json

``JOB.json`` holds::

    {
      "src": "/abs/in.xlsx", "dst": "/abs/out.xlsx", "result": "/abs/result.json",
      "locale": "ja-JP",                      # Calc's locale setting (input parsing)
      "typed": {"name": {"kind": "string", "value": "96.5%"},
                "name2": {"kind": "value", "value": 1170.0},
                "name3": {"kind": "clear"}},
      "sheet_ops": [{"op": "rename_sheet", "old": "入力", "new": "入力(東京)"},
                    {"op": "insert_rows", "sheet": "入力", "before_row": 3, "count": 2}],
      "connect_timeout": 30
    }

The script starts its own ``soffice`` (own temporary profile, own pipe name), loads
``src``, applies ``sheet_ops`` through the API, refuses (without saving anything)
if any typed name points to a locked cell on a protected sheet, types strings
with the dispatcher (``.uno:GoToCell`` + ``.uno:EnterString``, i.e. Calc's own
input handling: cell number format and locale apply), sets floats with
``setValue``, clears cells for ``None``, saves ``dst`` with the
"Calc MS Excel 2007 XML" filter, closes the document, and terminates only the
soffice process group it started.

It always tries to write ``result`` as JSON::

    {"ok": true, "cells": {name: {"type": "VALUE", "value": 0.965,
                                  "string": "96.5%", "address": "$入力.$C$2"}},
     "timings": {...}}
    {"ok": false, "error": "...", "refused": ["in_x", ...]}

Exit codes: 0 ok, 2 refused (locked cells), 1 any other failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]
from com.sun.star.lang import IllegalArgumentException  # type: ignore[import-not-found]

CALC_XLSX_FILTER = "Calc MS Excel 2007 XML"

# com.sun.star.sheet.CellFlags: what the Delete key removes (keeps formatting).
_CLEAR_FLAGS = 1 | 2 | 4 | 16  # VALUE | DATETIME | STRING | FORMULA

class Refused(Exception):
    """A person could not do what the job asks (e.g. type into a locked cell)."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


def _prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def _soffice_binary() -> str:
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("soffice not found on PATH")


def _seed_profile(profile: Path, locale: str | None) -> None:
    """Pre-seed the fresh user profile: set the locale, skip first-start dialogs."""
    user = profile / "user"
    user.mkdir(parents=True, exist_ok=True)
    items = [
        '<item oor:path="/org.openoffice.Setup/Office"><prop oor:name="ooSetupInstCompleted" '
        'oor:op="fuse"><value>true</value></prop></item>',
        '<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" '
        'oor:op="fuse"><value>false</value></prop></item>',
    ]
    items += [
        # Calc's AutoInput (AutoComplete) runs on timers while typing.
        '<item oor:path="/org.openoffice.Office.Calc/Input"><prop oor:name="AutoInput" '
        'oor:op="fuse"><value>false</value></prop></item>',
        '<item oor:path="/org.openoffice.Office.Linguistic/SpellChecking"><prop '
        'oor:name="IsSpellAuto" oor:op="fuse"><value>false</value></prop></item>',
    ]
    if locale:
        items.append(
            '<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" '
            f'oor:op="fuse"><value>{locale}</value></prop></item>'
        )
        items.append(
            '<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooLocale" '
            f'oor:op="fuse"><value>{locale}</value></prop></item>'
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + "\n".join(items)
        + "\n</oor:items>\n"
    )
    (user / "registrymodifications.xcu").write_text(xml, encoding="utf-8")


class Office:
    """One private soffice process, reachable over a named pipe."""

    def __init__(self, locale: str | None, connect_timeout: float) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="kpisheet-lo-profile-"))
        _seed_profile(self.profile, locale)
        self.pipe = "kpisheet_" + uuid.uuid4().hex
        self.log = open(self.profile / "soffice.log", "w+b")  # noqa: SIM115
        cmd = [
            _soffice_binary(),
            "--headless",
            "--invisible",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"-env:UserInstallation={self.profile.as_uri()}",
            f"--accept=pipe,name={self.pipe};urp;",
        ]
        # Own session => own process group: the shell wrapper execs oosplash,
        # which forks soffice.bin; killpg() then reaches exactly what we started.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ctx = self._connect(connect_timeout)
        smgr = self.ctx.ServiceManager
        self.desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)
        self.dispatcher = smgr.createInstanceWithContext(
            "com.sun.star.frame.DispatchHelper", self.ctx
        )

    def _connect(self, timeout: float):  # noqa: ANN202
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        url = f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext"
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"soffice exited with {self.proc.returncode} before accepting: {self.output()}"
                )
            try:
                return resolver.resolve(url)
            except NoConnectException as exc:
                last = exc
                time.sleep(0.25)
        raise RuntimeError(f"could not connect to soffice within {timeout}s: {last}; {self.output()}")

    def output(self) -> str:
        try:
            self.log.flush()
            self.log.seek(0)
            return self.log.read().decode("utf-8", "replace")[-4000:]
        except Exception:  # noqa: BLE001
            return ""

    def close(self) -> None:
        """Ask soffice to quit, then make sure our process group is gone."""
        try:
            self.desktop.terminate()
        except Exception:  # noqa: BLE001 - the bridge drops when soffice quits
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # our own group only (start_new_session)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
            # the wrapper is gone; give soffice.bin (same group) a moment too
            time.sleep(0.2)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def _sheet_protected_op(doc, sheet_name: str, password: str, fn) -> None:  # noqa: ANN001
    """Run fn(sheet) with the sheet unprotected if it was protected, then re-protect."""
    sheets = doc.Sheets
    if not sheets.hasByName(sheet_name):
        raise RuntimeError(f"no sheet named {sheet_name!r}; sheets: {list(sheets.ElementNames)}")
    sheet = sheets.getByName(sheet_name)
    was_protected = bool(sheet.isProtected())
    if was_protected:
        try:
            sheet.unprotect(password)  # IllegalArgumentException on a wrong password
        except IllegalArgumentException:
            pass
        if sheet.isProtected():
            raise Refused(f"wrong password for protected sheet {sheet_name!r}", [])
    try:
        fn(sheet)
    finally:
        if was_protected:
            sheet.protect(password)


def apply_sheet_op(doc, op: dict) -> None:  # noqa: ANN001
    kind = op.get("op")
    password = op.get("password") or ""
    if kind == "rename_sheet":
        sheets = doc.Sheets
        if not sheets.hasByName(op["old"]):
            raise RuntimeError(f"no sheet named {op['old']!r}; sheets: {list(sheets.ElementNames)}")
        structure_locked = bool(doc.isProtected())
        if structure_locked:
            try:
                doc.unprotect(password)
            except IllegalArgumentException:
                pass
            if doc.isProtected():
                raise Refused("workbook structure is protected; cannot rename a sheet", [])
        try:
            sheets.getByName(op["old"]).setName(op["new"])
        finally:
            if structure_locked:
                doc.protect(password)
    elif kind == "copy_sheet":  # what 「シートの移動/コピー」 does: a copy placed after the last sheet
        sheets = doc.Sheets
        if not sheets.hasByName(op["sheet"]):
            raise RuntimeError(f"no sheet named {op['sheet']!r}; sheets: {list(sheets.ElementNames)}")
        sheets.copyByName(op["sheet"], op["new"], int(op.get("position", sheets.getCount())))
    elif kind == "insert_rows":
        before = int(op["before_row"])
        count = int(op.get("count", 1))
        if before < 1 or count < 1:
            raise RuntimeError(f"bad insert_rows op: {op}")
        _sheet_protected_op(
            doc, op["sheet"], password, lambda s: s.Rows.insertByIndex(before - 1, count)
        )
    elif kind == "delete_rows":
        first = int(op["row"])
        count = int(op.get("count", 1))
        _sheet_protected_op(
            doc, op["sheet"], password, lambda s: s.Rows.removeByIndex(first - 1, count)
        )
    else:
        raise RuntimeError(f"unknown sheet op: {op!r}")


def _single_cell(doc, name: str):  # noqa: ANN001, ANN202
    names = doc.NamedRanges
    if not names.hasByName(name):
        raise RuntimeError(f"no workbook-level defined name {name!r}")
    rng = names.getByName(name).getReferredCells()
    if rng is None:
        raise RuntimeError(f"defined name {name!r} does not refer to cells")
    addr = rng.RangeAddress
    if addr.StartColumn != addr.EndColumn or addr.StartRow != addr.EndRow:
        raise RuntimeError(f"defined name {name!r} refers to a range, not one cell")
    sheet = doc.Sheets.getByIndex(addr.Sheet)
    return sheet, sheet.getCellByPosition(addr.StartColumn, addr.StartRow)


def _describe(cell) -> dict:  # noqa: ANN001
    """What the cell holds now: type (EMPTY/VALUE/TEXT/FORMULA), value, shown string."""
    return {
        "type": str(getattr(cell.Type, "value", cell.Type)),
        "value": cell.getValue(),
        "string": cell.getString(),
        "formula": cell.getFormula(),
        "address": cell.AbsoluteName,
    }


def run(job: dict) -> dict:
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    office = Office(job.get("locale"), float(job.get("connect_timeout", 30)))
    timings["start"] = round(time.monotonic() - t0, 3)
    doc = None
    try:
        src_url = Path(job["src"]).resolve().as_uri()
        doc = office.desktop.loadComponentFromURL(
            src_url, "_blank", 0, (_prop("Hidden", True),)
        )
        if doc is None or not hasattr(doc, "Sheets"):
            raise RuntimeError(f"LibreOffice could not load {job['src']} as a spreadsheet")
        timings["load"] = round(time.monotonic() - t0, 3)

        for op in job.get("sheet_ops") or []:
            apply_sheet_op(doc, op)

        typed: dict[str, dict] = job.get("typed") or {}
        targets = {name: _single_cell(doc, name) for name in typed}
        locked = [
            f"{name} ({cell.AbsoluteName})"
            for name, (sheet, cell) in targets.items()
            if sheet.isProtected() and cell.CellProtection.IsLocked
        ]
        if locked:
            raise Refused(
                "cannot type into locked cells on protected sheets: " + ", ".join(locked),
                [entry.split(" ", 1)[0] for entry in locked],
            )

        # Values and clears first (plain API calls), strings last: every
        # dispatcher call arms a LibreOffice timer (about 0.3 s after the last
        # dispatch) that crashes headless soffice 7.4 (SIGABRT in
        # vcl::Window::GetCursor from the scheduler; measured). So the document
        # is stored right after the last string is typed, and nothing else is
        # asked of soffice before that.
        ordered = sorted(typed.items(), key=lambda item: item[1]["kind"] == "string")
        controller = doc.CurrentController
        frame = controller.Frame
        for name, spec in ordered:
            sheet, cell = targets[name]
            kind = spec["kind"]
            if kind == "string":
                controller.setActiveSheet(sheet)
                office.dispatcher.executeDispatch(
                    frame, ".uno:GoToCell", "", 0, (_prop("ToPoint", cell.AbsoluteName),)
                )
                here = getattr(controller.getSelection(), "AbsoluteName", None)
                # a merged input cell is selected whole: its range starts at the named cell
                if here != cell.AbsoluteName and not str(here).startswith(cell.AbsoluteName + ":"):
                    raise RuntimeError(
                        f"GoToCell for {name!r} landed on {here!r}, not {cell.AbsoluteName!r}"
                    )
                office.dispatcher.executeDispatch(
                    frame, ".uno:EnterString", "", 0, (_prop("StringName", str(spec["value"])),)
                )
            elif kind == "value":
                cell.setValue(float(spec["value"]))
            elif kind == "clear":
                cell.clearContents(_CLEAR_FLAGS)
            else:
                raise RuntimeError(f"bad typed spec for {name!r}: {spec!r}")
        timings["typed"] = round(time.monotonic() - t0, 3)

        dst = Path(job["dst"]).resolve()
        dst.parent.mkdir(parents=True, exist_ok=True)
        doc.storeToURL(dst.as_uri(), (_prop("FilterName", CALC_XLSX_FILTER), _prop("Overwrite", True)))
        timings["saved"] = round(time.monotonic() - t0, 3)

        # Best effort, for diagnostics only: the file is already written, and
        # soffice may die from the timer above at any moment now.
        cells_out: dict[str, dict] = {}
        result: dict = {"ok": True, "cells": cells_out, "timings": timings}
        try:
            for name, (_sheet, cell) in targets.items():
                cells_out[name] = _describe(cell)
        except Exception as exc:  # noqa: BLE001
            result["readback_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return result
    except Refused:
        raise
    except Exception as exc:
        time.sleep(0.2)
        alive = office.proc.poll() is None
        raise RuntimeError(
            f"{type(exc).__name__}: {exc} (soffice {'running' if alive else 'exited with ' + str(office.proc.returncode)}; "
            f"soffice output: {office.output().strip()!r})"
        ) from exc
    finally:
        if doc is not None:
            try:
                doc.close(True)
            except Exception:  # noqa: BLE001
                try:
                    doc.dispose()
                except Exception:  # noqa: BLE001
                    pass
        office.close()
        timings["total"] = round(time.monotonic() - t0, 3)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 1
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result_path = Path(job["result"])
    code = 0
    try:
        result = run(job)
    except Refused as exc:
        result = {"ok": False, "error": str(exc), "refused": exc.names}
        code = 2
    except Exception as exc:  # noqa: BLE001
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(), "refused": []}
        code = 1
    result_path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if not result.get("ok"):
        print(result["error"], file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
