"""Builders for the consolidation / report / feedback tests: filled inboxes from the real templates."""

from __future__ import annotations

import shutil
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.read.names import kpi_key, measure_key
from kpisheet.template.build import generate
from tests.builders.sample import fill_by_names, sample_values


@lru_cache(maxsize=None)
def _templates(fy: int, codes: tuple[str, ...], root: str) -> dict[str, Path]:
    res = generate(fy, list(codes), Path(root) / f"tpl_{fy}", force=True)
    return {p.name[:2]: p for p in res.paths}


def template(tmp_root: Path, fy: int, code: str, all_codes: tuple[str, ...] | None = None) -> Path:
    return _templates(fy, all_codes or (code,), str(tmp_root))[code]


def filled(tmp_root: Path, inbox: Path, fy: int, code: str, values: dict[str, Any],
           all_codes: tuple[str, ...] | None = None) -> Path:
    tpl = template(tmp_root, fy, code, all_codes)
    inbox.mkdir(parents=True, exist_ok=True)
    out = inbox / tpl.name
    fill_by_names(tpl, out, values)
    return out


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
