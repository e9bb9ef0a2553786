"""Seeded random byte corruptions of a real filled branch file never make writing its feedback an internal error.

The consolidation is built once from a clean inbox; each corrupted copy is then given to
the guarded writer of one branch's feedback (outputs.feedback_guarded, which turns an exception into
E190) as that branch's submission (with the clean file's findings), so every
way of writing feedback - patch, openpyxl, 実施状況 and 確認事項 alone - is reached.  Each output must
be a workbook openpyxl opens, 実施状況 and 確認事項 first (or, when the branch's file held values openpyxl
refuses in well-formed XML, a patched copy of it with them first).
"""

from __future__ import annotations

import dataclasses
import io
import random
import zipfile
from datetime import date

import openpyxl
import pytest
from lxml import etree

from kpisheet.write.outputs import feedback_guarded

from .consolidate_helpers import one_branch_with_e401

OCT24 = date(2024, 10, 1)
CASES = 200
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    cons, src = one_branch_with_e401(tmp_path_factory.mktemp("fuzzfb"), OCT24)
    return cons, src.read_bytes()


def corrupt(data: bytes, rng: random.Random) -> bytes:
    """The zip's bytes (40%), one XML part's bytes (30%) or, keeping it well-formed, a few attribute
    values of one XML part (30%); a changed part is re-zipped intact."""
    draw = rng.random()
    if draw < 0.4:
        return _spoil(data, rng)
    spoil = _spoil if draw < 0.7 else _odd_values
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        infos = zin.infolist()
        victim = rng.choice([i for i in infos if i.filename.endswith((".xml", ".rels"))])
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in infos:
                body = zin.read(info)
                zout.writestr(info, spoil(body, rng) if info is victim else body)
    return out.getvalue()


ODD_VALUES = ["", "0", "-1", "1e9", "99999", "A0", "XFE1048577", "A1048577", "$A$1", "rId999", "x:y",
              "/xl/../../x.xml", "\u3000", "確認事項", "&<>\"'"]


def _odd_values(part: bytes, rng: random.Random) -> bytes:
    """The part with one to six attribute values replaced by odd ones: hostile, but still XML."""
    root = etree.fromstring(part)
    elements = [e for e in root.iter() if isinstance(e.tag, str) and e.attrib]
    for _ in range(rng.randint(1, 6) if elements else 0):
        element = rng.choice(elements)
        element.set(rng.choice(sorted(element.attrib)), rng.choice(ODD_VALUES))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


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


def test_no_corruption_makes_feedback_an_internal_error(clean, tmp_path):
    cons, data = clean
    sub = cons.submissions[0]
    outcomes = {"patched": 0, "openpyxl copy": 0, "our sheets alone": 0, "as broken as the branch's file": 0}
    for seed in range(CASES):
        bad = tmp_path / f"11_埼玉支部_FY2024_KPI入力_{seed}.xlsx"
        bad.write_bytes(corrupt(data, random.Random(seed)))
        moved = [dataclasses.replace(f, file=str(bad)) if f.file == sub.path else f for f in cons.findings]
        sub2 = dataclasses.replace(sub, path=str(bad))
        cons2 = dataclasses.replace(cons, submissions=[sub2], findings=moved, used={"11": str(bad)})
        out, failed = feedback_guarded(cons2, sub2, tmp_path / "out")
        assert failed is None, (seed, failed.code, failed.context.get("reason"))
        outcomes[_outcome(out, bad, seed)] += 1
        bad.unlink()
    assert outcomes["patched"] and outcomes["openpyxl copy"] and outcomes["our sheets alone"], outcomes


def _outcome(out, bad, seed) -> str:
    """Which way wrote the feedback file; it opens with 実施状況 and 確認事項 unless the branch's own file
    held values openpyxl refuses (in well-formed XML), which a patched copy carries over."""
    with zipfile.ZipFile(out) as z:
        patched = "xl/worksheets/kpisheet_feedback.xml" in z.namelist()
        first = etree.fromstring(z.read("xl/workbook.xml")).find(f"{{{MAIN}}}sheets")[0].get("name")
    assert first == "実施状況", seed  # the branch's values were used: 実施状況, then 確認事項
    try:
        wb = openpyxl.load_workbook(out, read_only=True)
    except Exception:  # noqa: BLE001 - then the branch's file must be as unreadable to openpyxl
        assert patched, seed
        with pytest.raises(Exception):  # noqa: B017 - whatever openpyxl's parser hits: it need only fail too
            openpyxl.load_workbook(bad, read_only=True).close()
        return "as broken as the branch's file"
    sheets = wb.sheetnames
    wb.close()
    assert sheets[:2] == ["実施状況", "確認事項"], seed
    return "patched" if patched else "openpyxl copy" if len(sheets) > 2 else "our sheets alone"


def test_the_guard_reports_a_failure_of_kpisheet_as_e190(clean, tmp_path, monkeypatch):
    """What the fuzz test rules out: an exception inside the feedback writer is E190 on the branch's file."""
    from kpisheet.write import outputs

    def broken(*_, **__):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(outputs, "write_feedback", broken)
    cons, _ = clean
    sub = cons.submissions[0]
    path, failed = feedback_guarded(cons, sub, tmp_path / "out")
    assert path is None and (failed.code, failed.file, failed.branch) == ("E190", sub.path, "11")
    assert failed.context["reason"].startswith("TypeError: unsupported operand")
