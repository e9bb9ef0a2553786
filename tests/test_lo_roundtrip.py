"""The same workbook typed into and saved by LibreOffice Calc reads back the same.

Two soffice runs in all: one plain re-save (never typed into), one where a person
types strings such as "96.5%" and "1,170", renames a sheet and inserts rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpisheet.read import names as nm
from kpisheet.read.reader import read_workbook
from tests import helpers as h
from tests.lo import convert, lo_fill, requires_soffice

pytestmark = requires_soffice


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), h.FY, "10")


def _flat(sub) -> dict:  # noqa: ANN001
    out = {}
    for kpi_id, e in sub.kpis.items():
        out[(kpi_id, "target")] = e.target.value
        out[(kpi_id, "baseline")] = e.baseline.value
        for m in e.months.values():
            out[(kpi_id, m.month)] = (m.numerator.value, m.denominator.value, m.value.value)
    for mid, e in sub.measures.items():
        out[(mid, "rows")] = [(r.text.value, r.rating.value, r.note.value) for r in e.rows]
        out[(mid, "issue")] = e.issue.value
    return out


def test_resaved_by_libreoffice_reads_the_same(template: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    filled = h.fill(template, tmp_path / "src" / template.name,
                    {"in_K6_2_11_target": 0.5, "in_K6_2_07_val_202404": 1170.0, "in_M_6_1_I_1_text": "実施した"})
    saved = convert(filled, "xlsx", tmp_path / "lo")
    a, b = read_workbook(filled), read_workbook(saved)
    assert b.findings == [] and a.findings == []
    assert _flat(a) == _flat(b)
    assert "LibreOffice" in (b.saved_by or "")


def test_typed_in_libreoffice_with_renamed_sheet_and_inserted_rows(template: Path, tmp_path: Path) -> None:
    typed = {"in_K6_2_11_target": "96.5%",       # stored 0.965 in the 0.0% cell
             "in_K6_2_07_val_202404": "1,170",   # stored 1170
             "in_K6_2_01_num_202404": "９６",     # full-width: Calc (ja-JP) stores 96; else text → W305
             "in_K6_2_01_den_202404": 400.0,
             "in_M_6_1_I_1_text": "説明会を開催した",
             "in_M_6_1_I_1_rating": "○"}
    out = tmp_path / "10_lo.xlsx"
    lo_fill(template, out, typed, sheet_ops=[
        {"op": "rename_sheet", "old": nm.SHEET_KPI, "new": "KPI入力（群馬）"},
        {"op": "insert_rows", "sheet": nm.SHEET_MEASURES, "before_row": 5, "count": 2},
    ])
    sub = read_workbook(out)
    assert sub.kpis["K6-2-11"].target.value == pytest.approx(96.5)
    assert sub.kpis["K6-2-11"].target.source.sheet == "KPI入力（群馬）"
    april = sub.kpis["K6-2-07"].months["2024-04"]
    assert april.value.value == 1170.0
    k201 = sub.kpis["K6-2-01"].months["2024-04"]
    assert (k201.numerator.value, k201.denominator.value) == (96.0, 400.0)
    row = sub.measures["6-1-I"].rows[0]
    assert (row.text.value, row.rating.value) == ("説明会を開催した", "○")
    # Calc moved the names with the rename and the inserted rows: nothing needed the keys (no W302).
    assert [(f.code, f.name) for f in sub.findings if f.code != "W305"] == []
    assert {f.name for f in sub.findings} <= {"in_K6_2_01_num_202404"}
