"""The national workbook: 9 sheets, text stays text, deterministic cells, atomic writes, opens in LibreOffice."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, timezone

import openpyxl
import pytest

from kpisheet import report
from kpisheet.catalogue import load_catalogue
from kpisheet.consolidation import consolidate
from kpisheet.fileio import OutputExistsError
from kpisheet.sample import sample_values

from .consolidate_helpers import filled, mfield
from .lo import convert, requires_soffice

OCT24 = date(2024, 10, 1)
CODES = ("10", "11")
NASTY = {"=1+1": ("6-1-I", 1), "+81-3-1234-5678": ("6-1-I", 2), "-5": ("6-1-II-1", 1), "@SUM(A1)": ("6-1-II-1", 2),
         "http://example.com/x": ("6-1-II-2", 1), "{=A1}": ("6-1-II-2", 2)}
FIXED = datetime(2024, 11, 5, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def cons(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    cat = load_catalogue(6)
    for code in CODES:
        values = sample_values(cat, 2024, code, OCT24)
        if code == "11":
            for text, (measure, n) in NASTY.items():
                values[mfield(measure, "text", n)] = "活動"
                values[mfield(measure, "rating", n)] = "△"
                values[mfield(measure, "note", n)] = text
        filled(root, root / "inbox", 2024, code, values, CODES)
    return consolidate(root / "inbox", fiscal_year=2024, month=OCT24)


@pytest.fixture(scope="module")
def national(cons, tmp_path_factory):
    path = tmp_path_factory.mktemp("nat") / "national.xlsx"
    return report.write_national(cons, path, force=False, created=FIXED)


def test_nine_japanese_sheets_in_order(national):
    assert openpyxl.load_workbook(national).sheetnames == list(report.SHEETS)


def test_branch_text_stays_text(national):
    ws = openpyxl.load_workbook(national)["取組状況"]
    notes = {c.value: c.data_type for row in ws.iter_rows(min_row=5, max_col=7) for c in row if c.value in NASTY}
    assert notes == {text: "s" for text in NASTY}
    with zipfile.ZipFile(national) as z:
        assert not any(n.startswith("xl/worksheets/_rels") and b"hyperlink" in z.read(n) for n in z.namelist())
        for n in z.namelist():
            if n.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in z.read(n), n  # no formulas anywhere


def test_frozen_headers_filters_and_a4_landscape(national):
    wb = openpyxl.load_workbook(national)
    for name in report.SHEETS:
        ws = wb[name]
        assert ws.freeze_panes, name
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize in (9, "9"), name
    for name in ("提出状況", "全国KPI", "支部別KPI", "評価一覧", "取組状況", "月次推移", "検証結果"):
        assert wb[name].auto_filter.ref, name


def test_font_is_yu_gothic(national):
    with zipfile.ZipFile(national) as z:
        assert "游ゴシック" in z.read("xl/styles.xml").decode("utf-8")


def test_national_kpi_sheet_matches_the_consolidation(national, cons):
    ws = openpyxl.load_workbook(national)["全国KPI"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=5, values_only=True) if r[0]}
    n = cons.national["K6-2-01"]
    assert rows["K6-2-01"][3:6] == (n.numerator, n.denominator, pytest.approx(n.value / 100))
    assert rows["K6-2-01"][8] == n.rating.mark


def test_trend_sheet_has_native_charts(national):
    with zipfile.ZipFile(national) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
    kpis = [k for k in load_catalogue(6).kpis if k.kind != "qualitative"]
    assert len(charts) >= len(kpis) + 1


def test_same_inputs_same_bytes(cons, tmp_path):
    a = report.write_national(cons, tmp_path / "a.xlsx", force=False, created=FIXED)
    b = report.write_national(cons, tmp_path / "b.xlsx", force=False, created=FIXED)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.namelist() == zb.namelist()
        for name in za.namelist():
            assert za.read(name) == zb.read(name), name


def test_only_the_overview_carries_the_run_time(cons, tmp_path):
    a = report.write_national(cons, tmp_path / "a.xlsx", force=False, created=FIXED)
    b = report.write_national(cons, tmp_path / "b.xlsx", force=False,
                              created=datetime(2025, 1, 1, tzinfo=timezone.utc))
    wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
    for name in report.SHEETS[1:]:
        assert list(wa[name].values) == list(wb[name].values), name
    assert list(wa["概要"].values) != list(wb["概要"].values)


def test_existing_output_is_not_replaced_without_force(cons, tmp_path):
    path = tmp_path / "n.xlsx"
    path.write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        report.write_national(cons, path, force=False, created=FIXED)
    assert path.read_bytes() == b"old"
    report.write_national(cons, path, force=True, created=FIXED)
    assert path.read_bytes()[:2] == b"PK"


def test_interrupted_write_leaves_no_partial_file(cons, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full half-way")

    monkeypatch.setattr(report, "sheet_trend", boom)
    with pytest.raises(RuntimeError):
        report.write_national(cons, tmp_path / "n.xlsx", force=False, created=FIXED)
    assert list(tmp_path.iterdir()) == []


@requires_soffice
def test_opens_in_libreoffice(national, tmp_path):
    pdf = convert(national, "pdf", tmp_path)
    assert pdf.stat().st_size > 10_000
