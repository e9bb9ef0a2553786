"""Seeded random corruptions of a real filled branch workbook: no internal error, ever.

Each seed damages one copy of the same file in one of five ways — bytes flipped or
overwritten (1–8), the file cut short, a byte range duplicated, or bytes changed inside a
decompressed part that is then zipped again (so the XML parser, not the zip CRC, meets the
damage).  Whatever happens, the answer is a Submission that either carries findings (all
from the catalogue, none of them E190: damage is the file's, never "kpisheet failed") or is a
readable record.  random.Random(seed) makes every case
reproducible: a failure names its seed.
"""

from __future__ import annotations

import random
import zipfile
from datetime import date
from pathlib import Path

import pytest

from kpisheet.domain.failures import is_internal
from kpisheet.domain.findings import CODES
from kpisheet.domain.model import Submission
from kpisheet.domain.model import is_readable
from kpisheet.read.reader import read_workbook
from tests import consolidate_helpers as ch
from tests import helpers as h

SEEDS = range(300)
MODES = ("flip", "overwrite", "truncate", "duplicate", "part")


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("fuzz")
    (path,) = ch.sample_inbox(root, root / "inbox", h.FY, ["10"], date(2024, 10, 1))
    sub = read_workbook(path)
    assert sub.findings == [] and is_readable(sub)  # the undamaged file is clean
    return path.read_bytes()


def _positions(rng: random.Random, size: int) -> list[int]:
    """1–8 offsets; half the time inside the zip's central directory (its last 2 KB)."""
    low = max(0, size - 2048) if rng.random() < 0.5 else 0
    return [rng.randrange(low, size) for _ in range(rng.randint(1, 8))]


def corrupt(data: bytes, seed: int, tmp: Path) -> tuple[str, bytes]:
    """(mode, damaged bytes) for one seed."""
    rng = random.Random(seed)
    mode = MODES[seed % len(MODES)]
    out = bytearray(data)
    if mode == "flip":
        for i in _positions(rng, len(out)):
            out[i] ^= rng.randint(1, 255)
    elif mode == "overwrite":
        for i in _positions(rng, len(out)):
            out[i] = rng.randrange(256)
    elif mode == "truncate":
        del out[rng.randrange(1, len(out)):]
    elif mode == "duplicate":
        start = rng.randrange(len(out))
        piece = out[start:start + rng.randint(1, 4096)]
        at = rng.randrange(len(out))
        out[at:at] = piece
    else:
        return mode, _damaged_part(data, rng, tmp)
    return mode, bytes(out)


def _damaged_part(data: bytes, rng: random.Random, tmp: Path) -> bytes:
    """Zip again with 1–8 bytes of one decompressed part changed (the CRC then matches)."""
    src, dst = tmp / "src.xlsx", tmp / "part.xlsx"
    src.write_bytes(data)
    with zipfile.ZipFile(src) as z:
        member = rng.choice(sorted(n for n in z.namelist() if n.endswith((".xml", ".rels"))))
        part = bytearray(z.read(member))
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(part))
        part[i] = rng.choice(b'<>/"=&; \n0123456789AZaz\xff\x00') if rng.random() < 0.7 else rng.randrange(256)
    h.rewrite_zip(src, dst, {member: bytes(part)})
    return dst.read_bytes()


@pytest.mark.parametrize("seed", SEEDS)
def test_corrupted_file_is_never_an_internal_error(original: bytes, tmp_path: Path, seed: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPISHEET_DEBUG", raising=False)  # debug mode re-raises on purpose
    mode, damaged = corrupt(original, seed, tmp_path)
    path = tmp_path / "10_群馬支部_FY2024_KPI入力.xlsx"
    path.write_bytes(damaged)
    sub = read_workbook(path)
    assert isinstance(sub, Submission), (seed, mode)
    assert all(f.code in CODES for f in sub.findings), (seed, mode)
    assert [f.context.get("reason") for f in sub.findings if is_internal(f)] == [], (seed, mode)
    assert sub.findings or is_readable(sub), (seed, mode)
    if not is_readable(sub):  # a file that could not be read keeps no value of it
        assert not sub.kpis and not sub.measures, (seed, mode)


def test_the_corruptions_differ(original: bytes, tmp_path: Path) -> None:
    """The seeds really damage the file, in every mode, and not all alike."""
    damaged = {corrupt(original, seed, tmp_path)[1] for seed in range(50)}
    assert len(damaged - {original}) > 40
