"""The national workbook and the lists workbook: sheets, Excel tables, text stays text, deterministic cells,
atomic writes, opens in LibreOffice; every result names its data month, 進捗 is a separate figure, targets say
where they came from, ranks read n/m, 概要 counts marks and names the branches behind."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime, timezone

import openpyxl
import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.display import shown
from kpisheet.domain.ratings import TARGET_SOURCES
from kpisheet.fileio import OutputExistsError
from kpisheet.month import consolidate
from kpisheet.write import report
from tests.builders.sample import sample_values

from .consolidate_helpers import den, filled, mfield, num
from .lo import convert, requires_soffice

OCT24 = date(2024, 10, 1)
CODES = ("10", "11")
NASTY = {"=1+1": ("6-1-I", 1), "+81-3-1234-5678": ("6-1-I", 2), "-5": ("6-1-II-1", 1), "@SUM(A1)": ("6-1-II-1", 2),
         "http://example.com/x": ("6-1-II-2", 1), "{=A1}": ("6-1-II-2", 2)}
FIXED = datetime(2024, 11, 5, 9, 30, tzinfo=timezone.utc)
AUG24, SEP24 = date(2024, 8, 1), date(2024, 9, 1)
LATE = "K6-2-01"  # 埼玉's health-check data reach August only (within the KPI's lag)


def _shown_fraction(kpi_id: str, value: float) -> float:
    """What a percent cell holds: the value as shown (half up at the KPI's decimals), as a fraction."""
    return float(shown(load_catalogue(6).kpi(kpi_id), value)) / 100


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


@pytest.fixture(scope="module")
def lists(cons, tmp_path_factory):
    path = tmp_path_factory.mktemp("lists") / "lists.xlsx"
    return report.write_lists(cons, path, force=False, created=FIXED)


def test_japanese_sheets_in_order_run_details_hidden(national):
    wb = openpyxl.load_workbook(national)
    assert wb.sheetnames == list(report.SHEETS)
    assert [ws.title for ws in wb if ws.sheet_state != "visible"] == ["実行情報"]
    assert wb.active.title == "概要"


def test_branch_text_stays_text(lists):
    ws = openpyxl.load_workbook(lists)["取組状況"]
    notes = {c.value: c.data_type for row in ws.iter_rows() for c in row if c.value in NASTY}
    assert notes == {text: "s" for text in NASTY}
    with zipfile.ZipFile(lists) as z:
        assert not any(n.startswith("xl/worksheets/_rels") and b"hyperlink" in z.read(n) for n in z.namelist())
        for n in z.namelist():
            if n.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in z.read(n), n  # no formulas anywhere


def _tables(path) -> dict[str, str]:
    """Excel table name → the sheet it is on (from the workbook's parts)."""
    wb = openpyxl.load_workbook(path)
    return {name: ws.title for ws in wb for name in ws.tables}


def test_one_excel_table_per_list_sheet(national, lists):
    assert _tables(lists) == {name: name for name in ("評価一覧", "取組状況", "課題", "施策別の結果", "前年度実績と目標")}
    on = _tables(national)
    for sheet in ("提出状況", "全国KPI", "月次推移", "第5期→第6期対応表", "第5期→第6期施策対応", "検証結果", "修正履歴"):
        assert list(on.values()).count(sheet) == 1, sheet


def test_a4_print_titles_and_frozen_headers(national, lists):
    for path in (national, lists):
        wb = openpyxl.load_workbook(path)
        for ws in wb:
            assert ws.page_setup.paperSize in (9, "9"), ws.title
            if ws.title != "概要":
                assert ws.print_title_rows, ws.title
            if ws.title not in ("概要", "実行情報"):
                assert ws.freeze_panes, ws.title


def test_font_is_yu_gothic(national):
    with zipfile.ZipFile(national) as z:
        assert "游ゴシック" in z.read("xl/styles.xml").decode("utf-8")


def _table(ws, first_title: str) -> tuple[list[str], list[tuple]]:
    """The table whose header row starts with `first_title`: its header and its rows (up to a blank)."""
    rows = list(ws.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == first_title)
    body = []
    for r in rows[at + 1:]:
        if not any(v not in (None, "") for v in r):
            break
        body.append(r)
    return list(rows[at]), body


def _by_kpi(ws, first_title: str = "KPI ID") -> dict[str, dict]:
    head, body = _table(ws, first_title)
    return {r[0]: dict(zip(head, r, strict=True)) for r in body if r[0]}


def _overview(ws) -> dict[str, dict]:
    """概要's KPI table by KPI ID (its first column reads 「K6-1-01 サービススタンダード」)."""
    head, body = _table(ws, "KPI")
    return {r[0].split(" ", 1)[0]: dict(zip(head, r, strict=True)) for r in body if r[0]}


def test_national_kpi_sheet_matches_the_consolidation(national, cons):
    rows = _by_kpi(openpyxl.load_workbook(national)["全国KPI"])
    n = cons.national["K6-1-01"]
    assert (rows["K6-1-01"]["分子（合計）"], rows["K6-1-01"]["分母（合計）"]) == (n.numerator, n.denominator)
    assert rows["K6-1-01"]["全国の実績"] == pytest.approx(_shown_fraction("K6-1-01", n.value))  # the shown value
    assert rows["K6-1-01"]["データ時点"] == "R6.10"
    assert rows["K6-1-01"]["評価"] == n.rating.mark
    assert rows["K6-1-01"]["第6期末目標（参考）"] == "100.0%以上"
    assert "集計した支部" not in rows["K6-1-01"]  # the covered branches are counted, not listed


def test_overview_counts_marks_and_names_the_branches_behind(national, cons):
    """Per KPI the ◎○△— counts, and who is behind: below 95% of the pace on a KPI that grows through the
    year (slowest first, with its 進捗), the △ branches on the others."""
    from kpisheet.consolidate.branches import rank_basis

    rows = _overview(openpyxl.load_workbook(national)["概要"])
    paced = 0
    for kpi in cons.kpis:
        if kpi.scope != "branch":
            continue
        marks = [cons.branch_kpis[(c, kpi.id)].rating.mark for c in CODES]
        row = rows[kpi.id]
        assert [row[m] for m in "◎○△"] == [marks.count(m) for m in "◎○△"], kpi.id
        assert row["—"] == 47 - sum(marks.count(m) for m in "◎○△"), kpi.id  # branches without a value
        names = (("10", "群馬"), ("11", "埼玉"))
        if rank_basis(kpi) == "progress":
            slow = sorted((cons.branch_kpis[(c, kpi.id)].progress, n) for c, n in names
                          if (cons.branch_kpis[(c, kpi.id)].progress or 1) < 0.95)
            assert row["遅れている支部"] == "進捗95%未満：" + ("、".join(f"{n} {p:.0%}" for p, n in slow) or "なし"), kpi.id
            paced += 1
        else:
            behind = [n for c, n in names if cons.branch_kpis[(c, kpi.id)].rating.mark == "△"]
            assert row["遅れている支部"] == "△：" + ("、".join(behind) or "なし"), kpi.id
    assert paced >= 4
    assert re.fullmatch(r"\d+\.\d%（R6\.\d+現在）\n目標 \d+\.\d%以上", rows["K6-2-01"]["全国の実績（データ時点）・年間目標"])
    national_sheet = _by_kpi(openpyxl.load_workbook(national)["全国KPI"])
    assert national_sheet["K6-2-01"]["◎の基準"].startswith("目標×1.1以上")
    assert national_sheet["K6-3-01"]["◎の基準"].startswith("目標×0.9以下")


def test_overview_names_a_branch_behind_pace_below_hqs_share(national, cons):
    """A branch whose 進捗 is below HQ's behind_pace_share is named, with its 進捗; raising the share
    names more."""
    from dataclasses import replace

    from kpisheet.consolidate.changes import behind
    from kpisheet.domain.settings import example_settings
    from kpisheet.write.report.national import behind_ja, branch_names

    kpi = cons.catalogue.kpi("K6-2-01")
    pace = {c: cons.branch_kpis[(c, kpi.id)].progress for c in CODES}
    assert all(p is not None for p in pace.values())
    share = max(pace.values()) + 0.01  # both below it
    strict = replace(cons, settings=replace(example_settings(), behind_pace_share=share))
    basis, found = behind(strict, kpi, share)
    assert basis == "progress" and [b.branch_code for b in found] == sorted(CODES, key=lambda c: pace[c])
    text = behind_ja(strict, kpi, branch_names())
    assert text.startswith(f"進捗{share:.0%}未満：") and all(f"{n} {pace[c]:.0%}" in text
                                                          for c, n in (("10", "群馬"), ("11", "埼玉")))
    assert behind(cons, kpi, min(pace.values()) - 0.01) == ("progress", [])


def test_overview_names_missing_branches(national):
    ws = openpyxl.load_workbook(national)["概要"]
    facts = {r[0]: r[1] for r in ws.iter_rows(min_row=2, max_row=9, values_only=True) if r[0]}
    assert facts["未提出"].startswith("本部、北海道、青森")  # 45 of 48 have not sent in this small inbox
    assert "群馬" not in facts["未提出"] and "埼玉" not in facts["未提出"]


def test_national_generic_figure_is_branches_that_met_their_condition(national, cons):
    """K6-2-08 nationally: 「n/m支部」 with its mark; the pooled rate only beside it as 参考."""
    n = cons.national["K6-2-08"]
    met, reporting = n.branches_met
    assert reporting == len(CODES)
    wb = openpyxl.load_workbook(national)
    row = _by_kpi(wb["全国KPI"])["K6-2-08"]
    assert (row["全国の実績"], row["評価"], row["年間目標"]) == (f"{met}/{reporting}支部", n.rating.mark, "全支部")
    assert re.search(r"参考：全国のジェネリック使用割合 \d+\.\d%（R6\.10診療）", row["判定の根拠"])
    overview = _overview(wb["概要"])["K6-2-08"]
    assert overview["全国の実績（データ時点）・年間目標"] == f"{met}/{reporting}支部（R6.10診療）\n目標 全支部が条件を満たすこと"
    assert overview["評価"] == n.rating.mark


def test_marks_matrix_shows_every_branchs_mark(national, cons):
    ws = openpyxl.load_workbook(national)["支部別評価"]
    head, body = _table(ws, "支部コード")
    rows = {r[0] or r[1]: dict(zip(head, r, strict=True)) for r in body}
    assert len([c for c in rows if re.fullmatch(r"\d\d", c)]) == 47
    assert rows["△の支部数"][next(h for h in head if h and h.startswith("2-01"))] == sum(
        cons.branch_kpis[(c, "K6-2-01")].rating.mark == "△" for c in CODES)
    col = next(h for h in head if h == "2-01")
    assert rows["11"][col] == cons.branch_kpis[("11", "K6-2-01")].rating.mark
    assert rows["全国"][col] == cons.national["K6-2-01"].rating.mark
    assert rows["01"][col] == "—"  # 北海道 did not send
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth or 1, ws.page_setup.fitToHeight) == (1, 2)  # 1 is the default; size: test_print


def _ratings(lists) -> dict[tuple[str, str], dict]:
    head, body = _table(openpyxl.load_workbook(lists)["評価一覧"], "支部コード")
    assert head[3:9] == ["具体的な施策", "KPI ID", "事業内容（KPI）", "KPI目標", "KPI結果", "結果"]  # seed 003's columns
    return {(r[0], r[4]): dict(zip(head, r, strict=True)) for r in body}


def test_every_list_row_names_its_pillar(lists):
    wb = openpyxl.load_workbook(lists)
    for name in ("評価一覧", "取組状況", "課題"):
        head, body = _table(wb[name], "支部コード")
        pillars = {r[head.index("柱")] for r in body}
        assert body and None not in pillars and all(re.fullmatch(r"[123] \S+", p) for p in pillars), name


def test_wrapped_rows_are_tall_enough(lists, cons):
    ws = openpyxl.load_workbook(lists)["評価一覧"]
    head, _ = _table(ws, "支部コード")
    col = head.index("判定の根拠") + 1
    width = next(c.width for c in report.lists.ratings_columns(cons) if c.title == "判定の根拠")
    checked = 0
    for r in range(1, ws.max_row + 1):
        text = ws.cell(row=r, column=col).value
        if r > 4 and isinstance(text, str):
            lines = report.lines_of(text, width)
            height = ws.row_dimensions[r].height or 15
            assert height >= report.row_height(lines) - 0.5, (r, text)  # heights are kept in whole pixels
            checked += lines > 1
    assert checked  # some rows needed more than one line


def test_ratings_results_name_their_data_month(lists, cons):
    rows = _ratings(lists)
    late = rows[("11", LATE)]
    assert cons.branch_kpis[("11", LATE)].data_month == "2024-08"
    assert re.fullmatch(r"\d+\.\d%（R6\.8現在）", late["KPI結果"]), late["KPI結果"]
    assert rows[("10", LATE)]["KPI結果"].endswith("（R6.10現在）")
    for (code, kpi_id), row in rows.items():
        if row["KPI結果"] and row["KPI結果"][0].isdigit():
            said = "診療" if cons.catalogue.kpi(kpi_id).lag_claims else "現在"  # ジェネリック, バイオシミラー: months of care
            assert re.search(rf"（R6\.\d+{said}）$", row["KPI結果"]), (code, row)


def test_ranks_by_achievement_read_n_of_m(lists, national, cons):
    rows = _ratings(lists)
    bk = cons.branch_kpis[("11", "K6-2-07")]
    cell_rank = rows[("11", "K6-2-07")]["順位"]
    assert cell_rank == bk.rank and bk.rank_of == 2
    ws = openpyxl.load_workbook(national)["支部別KPI"]
    formats = {c.number_format for row in ws.iter_rows() for c in row if c.number_format.startswith('0"/')}
    assert formats == {'0"/2"'}


def test_progress_only_for_kpis_that_grow_in_the_year(lists, national, cons):
    rows = _ratings(lists)
    for kpi in cons.kpis:
        if kpi.scope != "branch" or kpi.kind == "qualitative":
            continue
        bk = cons.branch_kpis[("10", kpi.id)]
        shown = rows[("10", kpi.id)]["進捗（参考）"]
        if kpi.grows_in_year:
            assert shown == pytest.approx(bk.progress) and 0.5 < shown < 1.5, kpi.id
        else:
            assert shown is None, kpi.id
    pace = {k: r["進捗（参考）"] for k, r in _by_kpi(openpyxl.load_workbook(national)["全国KPI"]).items()}
    assert pace["K6-2-01"] == pytest.approx(cons.national["K6-2-01"].progress)
    assert pace["K6-1-01"] is None and pace["K6-2-08"] is None


def test_ratings_show_where_each_target_came_from_and_the_term_goal(lists, cons):
    rows = _ratings(lists)
    for kpi in cons.kpis:
        if kpi.scope != "branch" or kpi.kind == "qualitative":
            continue
        bk = cons.branch_kpis[("11", kpi.id)]
        row = rows[("11", kpi.id)]
        assert row["第6期末目標（参考）"] == kpi.term_goal.describe_ja(kpi), kpi.id
        assert row["目標の設定"] == (TARGET_SOURCES[bk.target_source][0] if bk.target_source else None), kpi.id
    assert rows[("11", "K6-2-01")]["第6期末目標（参考）"] == "64.8%以上"


def test_branch_matrix_names_each_values_month(national, cons):
    ws = openpyxl.load_workbook(national)["支部別KPI"]
    rows = list(ws.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == "支部コード")
    heads, subs = rows[at], rows[at + 1]
    assert subs[2:8] == ("実績", "時点", "評価", "進捗", "順位", "前年差")
    col = heads.index(next(h for h in heads if h and h.startswith(LATE)))
    body = {r[0]: r for r in rows[at + 2:] if r[0]}
    assert body["11"][col:col + 3] == (pytest.approx(_shown_fraction(LATE, cons.branch_kpis[("11", LATE)].value)), "R6.8",
                                       cons.branch_kpis[("11", LATE)].rating.mark)
    assert body["10"][col + 1] == "R6.10"
    assert body["10"][col + 3] == pytest.approx(cons.branch_kpis[("10", LATE)].progress)  # 進捗 beside the mark
    assert body["10"][col + 4] == cons.branch_kpis[("10", LATE)].rank
    assert ws.print_title_cols and ws.col_breaks.count >= 7  # two KPIs a page, branch names on each


def _strings(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/sharedStrings.xml").decode("utf-8")
    return re.findall(r"<t[^>]*>([^<]*)</t>", xml)


def test_no_text_says_targets_are_pro_rated(national):
    strings = _strings(national)
    assert [s for s in strings if "按分" in s and "按分しません" not in s] == []
    assert not [s for s in strings if "経過月数" in s or "判定目標" in s or "年度初めからの累計" in s]
    assert any("評価は、データが届いている最新月の実績を年間目標と比べて行います（按分しません）。" in s for s in strings)


def test_trend_shows_the_fixed_set_and_flags_coverage_changes(national, cons):
    ws = openpyxl.load_workbook(national)["月次推移"]
    head, body = _table(ws, "KPI ID")
    rows = {(r[0], r[2]): dict(zip(head, r, strict=True)) for r in body}
    trend = cons.trend[LATE]
    assert (LATE, f"全国（毎月報告の{len(trend.fixed)}支部）") in rows
    assert rows[(LATE, "報告支部数")]["8月"] == 2
    assert rows[("K6-1-01", "全国（報告支部すべて）")]["10月"] == pytest.approx(
        _shown_fraction("K6-1-01", cons.national["K6-1-01"].value))
    with zipfile.ZipFile(national) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == len(cons.trend)
    assert ws.print_area  # the charts stay on screen


def test_same_inputs_same_bytes(cons, tmp_path):
    a = report.write_national(cons, tmp_path / "a.xlsx", force=False, created=FIXED)
    b = report.write_national(cons, tmp_path / "b.xlsx", force=False, created=FIXED)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.namelist() == zb.namelist()
        for name in za.namelist():
            assert za.read(name) == zb.read(name), name


def test_only_the_run_details_carry_the_run_time_in_jst(cons, tmp_path):
    a = report.write_national(cons, tmp_path / "a.xlsx", force=False, created=FIXED)
    b = report.write_national(cons, tmp_path / "b.xlsx", force=False,
                              created=datetime(2025, 1, 1, tzinfo=timezone.utc))
    wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
    for name in report.SHEETS[:-1]:
        assert list(wa[name].values) == list(wb[name].values), name
    run = {r[0]: r[1] for r in wa["実行情報"].iter_rows(values_only=True) if r[0]}
    assert run["作成日時"] == "2024-11-05 18:30:00 JST"


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

    monkeypatch.setattr(report.national, "write_trend", boom)
    with pytest.raises(RuntimeError):
        report.write_national(cons, tmp_path / "n.xlsx", force=False, created=FIXED)
    assert list(tmp_path.iterdir()) == []


@requires_soffice
def test_both_workbooks_open_in_libreoffice(national, lists, tmp_path):
    for path in (national, lists):
        pdf = convert(path, "pdf", tmp_path)
        assert pdf.stat().st_size > 10_000, path.name


def test_status_sheet_shows_who_filled_the_workbook(tmp_path):
    """記入者 and 連絡先 typed at the top of KPI入力 reach 提出状況, as text (a formula-looking name stays text)."""
    from datetime import date

    import openpyxl

    from kpisheet.month import consolidate
    from kpisheet.domain.catalogue import catalogue_for_fy
    from kpisheet.write.outputs import write_outputs
    from tests.builders.sample import sample_values

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


def test_lists_put_hq_after_the_branches(cons):
    from kpisheet.write.report.lists import branch_order

    assert sorted(["11", "00", "10"], key=branch_order) == ["10", "11", "00"]


def test_overview_names_late_branches_and_hqs_contact_from_the_settings(cons):
    from dataclasses import replace

    from kpisheet.domain.settings import example_settings
    from kpisheet.write.report.national import overview_facts

    settings = example_settings()
    statuses = [replace(s, late=s.code == "11") for s in cons.statuses]
    facts = dict(overview_facts(replace(cons, settings=settings, statuses=statuses)))
    assert facts["期限後の提出"] == f"埼玉（提出期限：{settings.deadline_ja(OCT24)}）"
    assert facts["本部の連絡先"] == settings.contact_ja()
    unset = dict(overview_facts(cons))
    assert unset["期限後の提出"] == "（提出期限が設定されていないため判定していません）" and "本部の連絡先" not in unset


def test_one_national_mark_in_csv_overview_national_sheet_and_feedback(national, cons, tmp_path):
    """The nation's mark of every KPI is one value: the CSV's national row at the national data month,
    概要, 全国KPI and each branch's feedback say the same (K6-2-08 once said — in the CSV, △ in 概要)."""
    import csv

    from kpisheet.write.csvout import write_kpi_values_csv
    from kpisheet.write.feedback.build import write_feedback

    path = write_kpi_values_csv(cons, tmp_path / "values.csv", force=False)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    wb = openpyxl.load_workbook(national)
    overview, national_sheet = _overview(wb["概要"]), _by_kpi(wb["全国KPI"])
    fb = openpyxl.load_workbook(write_feedback(cons, cons.submissions[0], tmp_path / "fb", force=False))
    fb_rows = list(fb["確認事項"].values)
    at = next(i for i, r in enumerate(fb_rows) if r[0] == "KPI ID")
    feedback = {r[0]: dict(zip(fb_rows[at], r, strict=True)) for r in fb_rows[at + 1:] if r[0]}
    checked = 0
    for kpi in cons.kpis:
        n = cons.national[kpi.id]
        if kpi.kind == "qualitative" or n.data_month is None:
            continue
        csv_mark = next(r["mark"] for r in rows
                        if (r["branch_code"], r["kpi_id"], r["month"]) == ("ALL", kpi.id, n.data_month))
        marks = {"csv": csv_mark, "概要": overview[kpi.id]["評価"], "全国KPI": national_sheet[kpi.id]["評価"],
                 "feedback": feedback[kpi.id]["全国の評価"]}
        assert set(marks.values()) == {n.rating.mark}, (kpi.id, marks)
        checked += 1
    assert checked >= 15 and "K6-2-08" in {k.id for k in cons.kpis}


def test_the_legend_says_why_a_mark_is_a_dash(national, cons):
    """「—」 names its reasons (no baseline was given to this run: 前年度実績なし), never 「データなし」."""
    wb = openpyxl.load_workbook(national)
    texts = [str(c.value) for name in ("概要", "支部別評価") for row in wb[name].iter_rows() for c in row
             if isinstance(c.value, str) and "—は評価できない" in c.value]
    assert len(texts) == 2 and all("前年度実績なし" in t and "データなし" not in t for t in texts)
    assert any(b.rating.reason_code == "no_baseline" for b in cons.branch_kpis.values())


def test_changes_since_the_previous_month_name_moved_marks_and_new_late_or_missing_branches(cons):
    """month_changes against the previous month's Consolidation: a branch mark and a national mark that
    moved, a branch newly late, one newly 未提出; 概要 says them under 「前月からの変化」."""
    import copy
    from dataclasses import replace

    from kpisheet.consolidate.changes import month_changes
    from kpisheet.write.report.national import changes_facts, changes_head

    previous = copy.deepcopy(cons)
    moved = previous.branch_kpis[("10", "K6-1-01")]
    before = "◎" if moved.rating.mark != "◎" else "○"
    moved.rating = replace(moved.rating, mark=before)
    n = previous.national["K6-2-01"]
    national_before = "○" if n.rating.mark != "○" else "◎"
    n.rating = replace(n.rating, mark=national_before)
    previous.statuses = [replace(s, status="提出済") if s.code == "01" else s for s in previous.statuses]
    now = replace(cons, statuses=[replace(s, late=s.code == "11") for s in cons.statuses])
    changes = month_changes(now, previous, "2024-09")
    assert [(c.code, c.kpi_id, c.before, c.after) for c in changes.branches] == [
        ("10", "K6-1-01", before, cons.branch_kpis[("10", "K6-1-01")].rating.mark)]
    assert [(c.kpi_id, c.before) for c in changes.national] == [("K6-2-01", national_before)]
    assert changes.newly_late == ("11",) and changes.newly_missing == ("01",)
    facts = dict(changes_facts(replace(now, changes=changes)))
    assert changes_head(replace(now, changes=changes)) == "前月からの変化（令和6年9月分の集計と比べて）"
    assert facts["全国の評価の変化"] == f"K6-2-01 {national_before}→{cons.national['K6-2-01'].rating.mark}"
    assert facts["支部の評価の変化"] == (f"1件（1KPI）\nK6-1-01：群馬 {before}→"
                                   f"{cons.branch_kpis[('10', 'K6-1-01')].rating.mark}")
    assert facts["新たな遅れ・未提出"] == "期限後：埼玉\u3000未提出：北海道"
    assert facts["修正"] == "なし"
    # no run of the month before in the ledger, and no ledger at all
    none = dict(changes_facts(replace(cons, changes=month_changes(cons, None, "2024-09"))))
    assert none["前月との比較"] == "前月の記録なし（台帳に前月の集計がありません）。"
    assert dict(changes_facts(cons))["前月との比較"] == "台帳を使わずに集計したため、前月とは比べていません。"
