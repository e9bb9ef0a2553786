"""Builders for the consolidation / report / feedback tests: filled inboxes from the real templates."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.settings import ENV_VAR
from kpisheet.read.names import kpi_key, measure_key
from kpisheet.template.build import generate
from tests.builders.sample import fill_by_names, sample_values


# Templates and filled workbooks are made once per test process and copied where a test wants them:
# most tests fill the same branches with the same sample values (generating two templates and filling
# them cost ~2 s of CPU per test).  Tests only ever get a copy, so none can change another's.
@lru_cache(maxsize=1)
def _made() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kpisheet-test-books-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _settings_key() -> str:
    """HQ's settings the templates are generated with (KPISHEET_HQ_SETTINGS and what it holds)."""
    path = os.environ.get(ENV_VAR, "")
    try:
        held = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""
    except OSError:
        held = ""
    return f"{path}:{held}"


@lru_cache(maxsize=None)
def _templates(fy: int, codes: tuple[str, ...], settings: str) -> dict[str, Path]:
    folder = _made() / f"tpl_{fy}_{'_'.join(codes)}_{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
    res = generate(fy, list(codes), folder, force=True)
    return {p.name[:2]: p for p in res.paths}


def template(tmp_root: Path, fy: int, code: str, all_codes: tuple[str, ...] | None = None) -> Path:
    """The template of branch `code` as `generate` writes it (with `all_codes` generated together), copied
    into `tmp_root`."""
    made = _templates(fy, all_codes or (code,), _settings_key())[code]
    return copy(made, Path(tmp_root) / f"tpl_{fy}" / made.name)


def filled(tmp_root: Path, inbox: Path, fy: int, code: str, values: dict[str, Any],
           all_codes: tuple[str, ...] | None = None) -> Path:
    tpl = _templates(fy, all_codes or (code,), _settings_key())[code]
    key = hashlib.sha256(repr((str(tpl), sorted(values.items()))).encode()).hexdigest()
    made = _made() / "filled" / key / tpl.name
    if not made.is_file():
        made.parent.mkdir(parents=True, exist_ok=True)
        part = made.with_name("part-" + made.name)
        fill_by_names(tpl, part, values)
        part.replace(made)
    return copy(made, inbox / tpl.name)


def sample_inbox(tmp_root: Path, inbox: Path, fy: int, codes: list[str], through: date,
                 edits: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """Plausible filled workbooks for `codes`; edits[code] overrides single inputs by defined name."""
    cat = catalogue_for_fy(fy)
    paths = []
    for code in codes:
        values = sample_values(cat, fy, code, through)
        values.update((edits or {}).get(code, {}))
        paths.append(filled(tmp_root, inbox, fy, code, values, tuple(codes)))
    return paths


def num(kpi_id: str, month: date) -> str:
    return kpi_key(kpi_id, "num", month).name


def den(kpi_id: str, month: date) -> str:
    return kpi_key(kpi_id, "den", month).name


def val(kpi_id: str, month: date) -> str:
    return kpi_key(kpi_id, "val", month).name


def field(kpi_id: str, name: str) -> str:
    return kpi_key(kpi_id, name).name


def mfield(measure_id: str, name: str, n: int | None = None) -> str:
    return measure_key(measure_id, name, n).name


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def one_branch_with_e401(root: Path, month: date) -> tuple[Any, Path]:
    """(consolidation, file) of branch 11 alone, filled through `month`, with an E401 at K6-2-01's numerator."""
    from kpisheet.month import consolidate

    values = sample_values(catalogue_for_fy(2024), 2024, "11", month)
    values[num("K6-2-01", month)] = values[den("K6-2-01", month)] + 5
    src = filled(root, root / "inbox", 2024, "11", values)
    return consolidate(root / "inbox", fiscal_year=2024, month=month), src


def e401_run(root: Path, month: date = date(2024, 10, 1)) -> tuple[Any, Path, Any]:
    """(consolidation, file, its E401 finding): branch 11 alone with an E401 at a numerator cell."""
    cons, src = one_branch_with_e401(root, month)
    return cons, src, next(f for f in cons.findings if f.code == "E401")


def pointed(cons: Any, path: Path, findings: list[Any] | None = None) -> tuple[Any, Any]:
    """The consolidation with its one submission pointed at another file (its findings moved along)."""
    import dataclasses

    sub = cons.submissions[0]
    moved = [dataclasses.replace(f, file=str(path)) if f.file == sub.path else f
             for f in (cons.findings if findings is None else findings)]
    sub2 = dataclasses.replace(sub, path=str(path))
    used = {code: str(path) if p == sub.path else p for code, p in cons.used.items()}
    return dataclasses.replace(cons, submissions=[sub2], findings=moved, used=used), sub2
