"""Seeded random byte corruptions of a real filled branch file never make write_feedback raise.

The consolidation is built once from a clean inbox; each corrupted copy is then given to
write_feedback as that branch's submission (with the clean file's findings), so every
way of writing feedback - patch, openpyxl, 確認事項 alone - is reached.  Each output must
be a workbook openpyxl opens, 確認事項 first.
"""

from __future__ import annotations

import dataclasses
import io
import random
import zipfile
from datetime import date

import openpyxl
import pytest

from kpisheet.catalogue import load_catalogue
from kpisheet.consolidation import consolidate
from kpisheet.feedback import write_feedback
from kpisheet.sample import sample_values

from .consolidate_helpers import den, filled, num

OCT24 = date(2024, 10, 1)
CASES = 200


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzfb")
    values = sample_values(load_catalogue(6), 2024, "11", OCT24)
    values[num("K6-2-01", OCT24)] = values[den("K6-2-01", OCT24)] + 5
    src = filled(root, root / "inbox", 2024, "11", values)
    return consolidate(root / "inbox", fiscal_year=2024, month=OCT24), src.read_bytes()


def corrupt(data: bytes, rng: random.Random) -> bytes:
    """Every other case corrupts the zip's bytes; the rest one XML part's text (re-zipped intact)."""
    if rng.random() < 0.5:
        return _spoil(data, rng)
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        infos = zin.infolist()
        victim = rng.choice([i for i in infos if i.filename.endswith((".xml", ".rels"))])
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in infos:
                body = zin.read(info)
                zout.writestr(info, _spoil(body, rng) if info is victim else body)
    return out.getvalue()


def _spoil(data: bytes, rng: random.Random) -> bytes:
    """One of: flipped bytes, a zeroed run, a cut-off tail, a duplicated slice."""
    out = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == 1:
        start = rng.randrange(len(out))
        out[start: start + rng.randint(1, 64)] = bytes(min(64, len(out) - start))
    elif kind == 2:
        del out[rng.randrange(len(out)):]
    else:
        start = rng.randrange(len(out))
        out[start:start] = out[start: start + rng.randint(1, 256)]
    return bytes(out)


def test_no_corruption_makes_feedback_raise(clean, tmp_path):
    cons, data = clean
    sub = cons.submissions[0]
    outcomes = {"patched": 0, "fallback": 0}
    for seed in range(CASES):
        bad = tmp_path / f"11_埼玉支部_FY2024_KPI入力_{seed}.xlsx"
        bad.write_bytes(corrupt(data, random.Random(seed)))
        moved = [dataclasses.replace(f, file=str(bad)) if f.file == sub.path else f for f in cons.findings]
        sub2 = dataclasses.replace(sub, path=str(bad))
        cons2 = dataclasses.replace(cons, submissions=[sub2], findings=moved)
        out = write_feedback(cons2, sub2, tmp_path / "out", force=True)
        wb = openpyxl.load_workbook(out, read_only=True)
        assert wb.sheetnames[0] == "確認事項", seed
        outcomes["patched" if len(wb.sheetnames) > 1 else "fallback"] += 1
        wb.close()
        bad.unlink()
    assert outcomes["patched"] and outcomes["fallback"]  # both ways were exercised
