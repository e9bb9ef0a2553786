"""The national workbook: 9 sheets, text stays text, deterministic cells, atomic writes, opens in LibreOffice;
every result names its data month, 進捗 is a separate figure, targets say where they came from."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime, timezone

import openpyxl
import pytest

from kpisheet import report
from kpisheet.catalogue import load_catalogue
from kpisheet.consolidation import consolidate
from kpisheet.fileio import OutputExistsError
from kpisheet.ratings import TARGET_SOURCES
from kpisheet.sample import sample_values

from .consolidate_helpers import den, filled, mfield, num
from .lo import convert, requires_soffice

OCT24 = date(2024, 10, 1)
CODES = ("10", "11")
NASTY = {"=1+1": ("6-1-I", 1), "+81-3-1234-5678": ("6-1-I", 2), "-5": ("6-1-II-1", 1), "@SUM(A1)": ("6-1-II-1", 2),
         "http://example.com/x": ("6-1-II-2", 1), "{=A1}": ("6-1-II-2", 2)}
FIXED = datetime(2024, 11, 5, 9, 30, tzinfo=timezone.utc)
AUG24, SEP24 = date(2024, 8, 1), date(2024, 9, 1)
LATE = "K6-2-01"  # 埼玉's health-check data reach August only (within the KPI's lag)


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
            for month in (SEP24, OCT24):
                values.pop(num(LATE, month)), values.pop(den(LATE, month))
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


def _table(ws, head_row: int) -> tuple[list[str], list[tuple]]:
    rows = list(ws.iter_rows(min_row=head_row, values_only=True))
    return list(rows[0]), [r for r in rows[1:] if r[0]]


def test_national_kpi_sheet_matches_the_consolidation(national, cons):
    head, body = _table(openpyxl.load_workbook(national)["全国KPI"], 4)
    rows = {r[0]: dict(zip(head, r)) for r in body}
    n = cons.national["K6-1-01"]
    assert (rows["K6-1-01"]["分子（合計）"], rows["K6-1-01"]["分母（合計）"]) == (n.numerator, n.denominator)
    assert rows["K6-1-01"]["全国の実績"] == pytest.approx(n.value / 100)
    assert rows["K6-1-01"]["データ時点"] == "R6.10"
    assert rows["K6-1-01"]["評価"] == n.rating.mark
    assert rows["K6-1-01"]["第6期末目標（参考）"] == "100.0%以上"
    assert "判定目標" not in head and "基準月" not in head


def test_national_generic_figure_is_branches_that_met_their_condition(national, cons):
    """K6-2-08 nationally: 「n/m支部」 with its mark; the pooled rate only beside it as 参考."""
    n = cons.national["K6-2-08"]
    met, reporting = n.branches_met
    assert reporting == len(CODES)
    wb = openpyxl.load_workbook(national)
    head, body = _table(wb["全国KPI"], 4)
    row = dict(zip(head, next(r for r in body if r[0] == "K6-2-08")))
    assert (row["全国の実績"], row["評価"], row["年間目標"]) == (f"{met}/{reporting}支部", n.rating.mark, "全支部")
    assert re.search(r"参考：全国のジェネリック使用割合 \d+\.\d%（R6\.10現在）", row["判定の根拠"])
    head, body = _table(wb["概要"], 12)
    overview = dict(zip(head, next(r for r in body if r[0] == "K6-2-08")))
    assert (overview["全国の実績"], overview["評価"]) == (f"{met}/{reporting}支部", n.rating.mark)
    assert "参考：全国のジェネリック使用割合" in overview["判定の根拠"]


def _ratings(national) -> dict[tuple[str, str], dict]:
    head, body = _table(openpyxl.load_workbook(national)["評価一覧"], 4)
    assert head[2:7] == ["具体的な施策", "事業内容（KPI）", "KPI目標", "KPI結果", "結果"]  # seed 003's table
    return {(r[0], r[3]): dict(zip(head, r)) for r in body if r[3].startswith("【KPI】")}


def test_ratings_results_name_their_data_month(national, cons):
    rows = _ratings(national)
    cat = cons.catalogue
    late = rows[("11", f"【KPI】{cat.kpi(LATE).label}")]
    assert cons.branch_kpis[("11", LATE)].data_month == "2024-08"
    assert re.fullmatch(r"\d+\.\d%（R6\.8現在）", late["KPI結果"]), late["KPI結果"]
    on_time = rows[("10", f"【KPI】{cat.kpi(LATE).label}")]
    assert on_time["KPI結果"].endswith("（R6.10現在）")
    for (code, _), row in rows.items():
        if row["KPI結果"] and row["KPI結果"][0].isdigit():
            assert re.search(r"（R6\.\d+現在）$", row["KPI結果"]), (code, row)


def test_progress_only_for_kpis_that_grow_in_the_year(national, cons):
    rows = _ratings(national)
    for kpi in cons.kpis:
        if kpi.scope != "branch" or kpi.kind == "qualitative":
            continue
        bk = cons.branch_kpis[("10", kpi.id)]
        shown = rows[("10", f"【KPI】{kpi.label}")]["進捗（参考）"]
        if kpi.grows_in_year:
            assert shown == pytest.approx(bk.progress) and 0.5 < shown < 1.5, kpi.id
        else:
            assert shown is None, kpi.id
    head, body = _table(openpyxl.load_workbook(national)["全国KPI"], 4)
    pace = {r[0]: dict(zip(head, r))["進捗（参考）"] for r in body}
    assert pace["K6-2-01"] == pytest.approx(cons.national["K6-2-01"].progress)
    assert pace["K6-1-01"] is None and pace["K6-2-08"] is None


def test_progress_cells_are_percent_numbers(national):
    ws = openpyxl.load_workbook(national)["評価一覧"]
    col = [c.value for c in ws[4]].index("進捗（参考）") + 1
    cells = [ws.cell(row=r, column=col) for r in range(5, ws.max_row + 1)]
    assert [c for c in cells if c.value is not None]
    assert all(c.number_format == "0%" and isinstance(c.value, float) for c in cells if c.value is not None)


def test_ratings_show_where_each_target_came_from_and_the_term_goal(national, cons):
    rows = _ratings(national)
    cat = cons.catalogue
    for kpi in cons.kpis:
        if kpi.scope != "branch" or kpi.kind == "qualitative":
            continue
        bk = cons.branch_kpis[("11", kpi.id)]
        row = rows[("11", f"【KPI】{kpi.label}")]
        assert row["第6期末目標（参考）"] == kpi.term_goal.describe_ja(kpi), kpi.id
        assert row["目標の設定"] == (TARGET_SOURCES[bk.target_source][0] if bk.target_source else None), kpi.id
    assert rows[("11", f"【KPI】{cat.kpi('K6-2-01').label}")]["第6期末目標（参考）"] == "64.8%以上"
    assert rows[("11", f"【KPI】{cat.kpi('K6-2-01').label}")]["目標の設定"]


def test_branch_matrix_names_each_values_month(national, cons):
    ws = openpyxl.load_workbook(national)["支部別KPI"]
    subs = [c.value for c in ws[4]]
    assert subs[2:6] == ["実績", "時点", "評価", "順位"]
    heads = [c.value for c in ws[3]]
    col = heads.index(next(h for h in heads if h and h.startswith(LATE)))
    rows = {r[0]: r for r in ws.iter_rows(min_row=5, values_only=True) if r[0]}
    assert rows["11"][col:col + 3] == (pytest.approx(cons.branch_kpis[("11", LATE)].value / 100), "R6.8",
                                       cons.branch_kpis[("11", LATE)].rating.mark)
    assert rows["10"][col + 1] == "R6.10"


def _strings(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/sharedStrings.xml").decode("utf-8")
    return re.findall(r"<t[^>]*>([^<]*)</t>", xml)


def test_no_text_says_targets_are_pro_rated(national):
    strings = _strings(national)
    assert [s for s in strings if "按分" in s and "按分しません" not in s] == []
    assert not [s for s in strings if "経過月数" in s or "判定目標" in s or "年度初めからの累計" in s]
    assert "評価は、データが届いている最新月の実績を年間目標と比べて行います（按分しません）。進捗は参考値です。" in strings


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


def test_status_sheet_shows_who_filled_the_workbook(tmp_path):
    """記入者 and 連絡先 typed at the top of KPI入力 reach 提出状況, as text (a formula-looking name stays text)."""
    from datetime import date

    import openpyxl

    from kpisheet.catalogue import catalogue_for_fy
    from kpisheet.consolidation import consolidate
    from kpisheet.outputs import write_outputs
    from kpisheet.sample import sample_values

    from .consolidate_helpers import filled

    month = date(2024, 6, 1)
    values = sample_values(catalogue_for_fy(2024), 2024, "11", month)
    who, contact = "in_info_preparer", "in_info_contact"
    values[who], values[contact] = "=埼玉 花子", "企画総務グループ 048-000-0000"
    filled(tmp_path, tmp_path / "inbox", 2024, "11", values)
    cons = consolidate(tmp_path / "inbox", fiscal_year=2024, month=month)
    path = write_outputs(cons, tmp_path / "out", force=False).paths[0]
    ws = openpyxl.load_workbook(path)["提出状況"]
    header = [c.value for c in ws[3]]
    row = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == "11")
    assert (row[header.index("記入者")], row[header.index("連絡先")]) == ("=埼玉 花子", "企画総務グループ 048-000-0000")
