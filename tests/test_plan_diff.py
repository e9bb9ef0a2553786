"""kpisheet.plan.diff: measures aligned by catalogue id (never by printed numbering, across terms
through the mapping), items by origin then by similarity, KPI targets compared as numbers, changed
tokens marked; and the 新旧対照表 cells that XlsxWriter's rich strings would refuse."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText

from kpisheet.domain.catalogue import load_catalogue, load_mapping
from kpisheet.domain.model import EMPTY, InputValue
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission
from kpisheet.plan.diff import (CHANGED, MOVED, Span, _Side, change_summary, diff_plans, kpi_sentence, mark_pair,
                                marked, rate_pairs)
from kpisheet.plan.taishohyo import SHEET, page_breaks, write_taishohyo


def iv(v: object, raw: object = None) -> InputValue:
    return EMPTY if v is None else InputValue(v, None, raw)


def item(n: int, text: str, origin: str | None = None, sub: str | None = None) -> PlanItem:
    return PlanItem(n, iv(text), iv("○"), iv(sub), origin=origin)


def measure(mid: str, number: str = "", heading: str = "", *texts: str, origins: tuple[str | None, ...] = ()
            ) -> PlanMeasure:
    return PlanMeasure(mid, iv(number or None), iv(heading or None),
                       items=tuple(item(i, t, origins[i - 1] if i <= len(origins) else None)
                                   for i, t in enumerate(texts, 1)))


def plan(fy: int, measures: list[PlanMeasure], kpis: list[PlanKpi] = (), term: int | None = None) -> PlanSubmission:
    return PlanSubmission(f"test:{fy}", None, fy, "46", "鹿児島", term=term,
                          measures={m.measure_id: m for m in measures}, kpis={k.kpi_id: k for k in kpis})


def show(cell) -> str:
    return "".join(f"［{s.text}］" if s.mark == CHANGED else f"《{s.text}》" if s.mark == MOVED else s.text
                   for s in cell or ())


# ---------------------------------------------------------------- tokens
@pytest.mark.parametrize("new, old, want_new, want_old", [
    ("取組み強化を図る。", "取組みを強化する。", "取組み［強化を図］る。", "取組み［を強化す］る。"),
    ("回収率を 95.4％以上とする。", "回収率を 95.0％以上とする", "回収率を ［95.4％］以上とする。", "回収率を ［95.0％］以上とする"),
    ("郵送化率を 90.0％以上とする。", "郵送化率 87.0％以上とする", "郵送化率［を 90.0％］以上とする。", "郵送化率 ［87.0％］以上とする"),
    ("二次勧奨 1,500人", "二次勧奨 1,000人", "二次勧奨 ［1,500］人", "二次勧奨 ［1,000］人"),
    ("ＯＪＴの実施率 55％", "OJTの実施率 55%", "ＯＪＴの実施率 55％", "OJTの実施率 55%"),  # NFKC: same
    ("iv）コラボヘルスの推進", "iv）健康経営（コラボヘルスの推進）", "iv）コラボヘルスの推進", "iv）［健康経営（］コラボヘルスの推進［）］"),
])
def test_changed_tokens_are_marked_as_a_person_marks_them(new, old, want_new, want_old):
    n, o = mark_pair(new, old)
    assert (show(n), show(o)) == (want_new, want_old)


def test_whitespace_and_a_closing_full_stop_count_only_when_strict():
    assert marked(mark_pair("取組を実施する。", "取組を 実施する")[0]) == []
    n, o = mark_pair("取組を実施する。", "取組を 実施する", strict=True)
    assert marked(n) == ["。"] and marked(o) == [" "]


def test_a_frequent_character_is_never_junked_in_a_long_text():
    long = "の".join(f"項目{i}" for i in range(150))  # > 200 tokens: autojunk would drop 「の」
    n, o = mark_pair(long + "を追加", long)
    assert marked(n) == ["を追加"] and marked(o) == []


# ---------------------------------------------------------------- alignment
def test_measures_align_by_id_and_a_renumbered_number_is_marked_alone():
    old = plan(2024, [measure("B-1-1", "①", "保険証の回収", "催告を行う。"), measure("B-1-2", "②", "点検", "点検する。")])
    new = plan(2025, [measure("B-1-0", "①", "新しい施策", "始める。"), measure("B-1-1", "②", "保険証の回収", "催告を行う。"),
                      measure("B-1-2", "③", "点検", "点検する。")])
    d = diff_plans(old, new)
    heads = [(show(r.new), show(r.old), r.status) for r in d.rows if r.kind == "heading"]
    assert heads == [("［①新しい施策］", "", "added"), ("《②》保険証の回収", "《①》保険証の回収", "renumbered"),
                     ("《③》点検", "《②》点検", "renumbered")]
    s = change_summary(d)
    assert [m.new_id for m in s.measures_renumbered] == ["B-1-1", "B-1-2"] and s.measures_reworded == []


def test_a_dropped_measure_stays_where_it_stood_in_the_old_plan():
    old = plan(2024, [measure("B-1-1", "①", "一"), measure("B-1-2", "②", "二"), measure("B-1-3", "③", "三")])
    new = plan(2025, [measure("B-1-1", "①", "一"), measure("B-1-3", "②", "三")])
    rows = [(show(r.new), show(r.old)) for r in diff_plans(old, new).rows]
    assert rows == [("①一", "①一"), ("", "［②二］"), ("《②》三", "《③》三")]


def test_across_the_term_change_measures_pair_through_the_mapping():
    mapping = load_mapping()
    link = next(m for m in mapping.measures if m.from_id and len(m.to_ids) == 1 and m.from_id != m.to_ids[0])
    old = plan(2023, [measure(link.from_id, "", "", "同じ取組を行う。")], term=5)
    new = plan(2024, [measure(link.to_ids[0], "", "", "同じ取組を行う。")], term=6)
    rows = [r for r in diff_plans(old, new).rows if r.kind in ("heading", "item")]
    assert [r.status for r in rows][1:] == ["same"]
    assert rows[0].new is not None and rows[0].old is not None  # one row: the old measure opposite its successor
    assert load_catalogue(6).measure(link.to_ids[0]).label in show(rows[0].new)


def test_items_pair_with_their_origin_then_by_similarity_and_a_merge_shares_a_row():
    old = plan(2024, [measure("B-1-1", "①", "点検", "負傷原因届の提出勧奨を行う。",
                              "第三者行為届未提出者へ文書・電話等による二次、三次催告を実施する。",
                              "支払遅延の損保会社および加害者へ早期回収のため文書・電話等による二次、三次催告を実施する。",
                              "まったく別の取組を行う。")])
    new = plan(2025, [measure("B-1-1", "①", "点検", "回収率の向上を図る。",
                              "第三者行為届未提出者および支払遅延の損保会社、加害者へ早期回収のため"
                              "文書・電話等による催告強化を図る。", origins=("2024:B-1-1:1",))])
    rows = [(r.key, r.status) for r in diff_plans(old, new).rows if r.kind == "item"]
    # the carried item keeps its origin (old 1) though the texts differ; the merged row holds old 2 and 3
    assert rows == [("1,1", "changed"), ("2,2,3", "changed"), (",4", "dropped")]


def test_items_that_cross_cannot_both_pair_in_a_two_column_table():
    old = plan(2024, [measure("B-1-1", "①", "点検", "負傷原因届の提出勧奨を行う。", "保険証の回収を催告する。")])
    new = plan(2025, [measure("B-1-1", "①", "点検", "保険証の回収を催告する。", "負傷原因届の提出勧奨を行う。")])
    rows = [(r.key, r.status) for r in diff_plans(old, new).rows if r.kind == "item"]
    assert rows == [("1", "added"), ("2,1", "same"), (",2", "dropped")]


def test_a_subheading_row_comes_where_the_subheading_changes():
    old = plan(2024, [PlanMeasure("B-1-1", iv("①"), iv("点検"), items=(item(1, "一", sub="【資格点検】"),
                                                                       item(2, "二", sub="【外傷点検】")))])
    new = plan(2025, [PlanMeasure("B-1-1", iv("①"), iv("点検"), items=(item(1, "一", sub="【資格点検】"),
                                                                       item(2, "二", sub="【外傷点検】")))])
    kinds = [(r.kind, show(r.new)) for r in diff_plans(old, new).rows]
    assert kinds == [("heading", "①点検"), ("subheading", "【資格点検】"), ("item", "○ 一"),
                     ("subheading", "【外傷点検】"), ("item", "○ 二")]


# ---------------------------------------------------------------- KPIs
def test_targets_compare_as_numbers_at_their_printed_precision():
    def k(kid: str, v: float, raw: str) -> PlanKpi:
        return PlanKpi(kid, "value", iv(v, raw))

    old = plan(2024, [], [k("K6-1-02", 96.0, "96.0%"), k("K6-2-08", 83.0, "83.0%"), k("K6-2-01", 61.0, "61.0%")])
    new = plan(2025, [], [k("K6-1-02", 96.9, "96.9%"), k("K6-2-08", 82.5, "82.5%"), k("K6-2-01", 61.04, "61.0%")])
    s = change_summary(diff_plans(old, new))
    assert [t.kpi_id for t in s.raised] == ["K6-1-02"]
    assert [t.kpi_id for t in s.lowered] == ["K6-2-08"]
    assert [t.kpi_id for t in s.unchanged] == ["K6-2-01"]  # 61.04 prints as 61.0


def test_the_kpi_sentence_is_the_catalogues_and_its_number_is_the_one_marked():
    cat = load_catalogue(6)
    kpi = cat.kpi("K6-1-02")
    old = plan(2024, [measure(kpi.measure_id)], [PlanKpi("K6-1-02", "value", iv(96.0))])
    new = plan(2025, [measure(kpi.measure_id)], [PlanKpi("K6-1-02", "value", iv(96.9))])
    row = next(r for r in diff_plans(old, new).rows if r.kind == "kpi")
    expected = kpi_sentence(_Side(new, cat), new.kpis["K6-1-02"])
    if kpi.plan is None or kpi.plan.sentence is None:
        assert expected == f"{kpi.label}を96.9%以上とする。"
    assert row.new_text == "・" + expected and marked(row.new) == ["96.9%"] and marked(row.old) == ["96.0%"]


def test_a_catalogue_sentence_replaces_the_default_one():
    from dataclasses import replace

    from kpisheet.domain.catalogue import PlanCounts

    cat = load_catalogue(6)
    kpi = replace(cat.kpi("K6-2-08"), plan=PlanCounts(sentence="{label}を年度末時点で{target}以上とする"))

    class Cat:
        def has_kpi(self, kid: str) -> bool:
            return kid == kpi.id

        def kpi(self, kid: str):
            return kpi

    side = _Side(plan(2025, [], [PlanKpi(kpi.id, "value", iv(83.0))]), Cat())  # type: ignore[arg-type]
    assert kpi_sentence(side, side.plan.kpis[kpi.id]) == f"{kpi.label}を年度末時点で83.0%以上とする。"


def test_counts_print_as_volume_rows_and_a_rate_that_does_not_agree_is_named():
    def k(pop: int, planned: int, part_planned: int) -> PlanKpi:
        return PlanKpi("K6-2-04", "value", iv(25.0, "25.0%"), population=iv(pop), planned=iv(planned),
                       parts=(PlanPart(1, iv("協会保健師実施分"), iv(pop), iv(part_planned), iv(16.0, "16.0%")),))

    old = plan(2024, [], [k(29003, 7289, 4640)])  # 7,289 ÷ 29,003 = 25.13% → 25.1 ≠ 25.0
    new = plan(2025, [], [k(30698, 7675, 4912)])
    d = diff_plans(old, new)
    volumes = [(r.new_text, r.old_text) for r in d.rows if r.kind == "volume"]
    assert volumes[0][0].startswith("（") and "30,698人" in volumes[0][0] and "29,003人" in volumes[0][1]
    s = change_summary(d)
    assert [(p.side, p.label, str(p.computed)) for p in s.inconsistent] == [("old", p.label, "25.1")
                                                                               for p in s.inconsistent]
    assert len(s.inconsistent) == 1 and s.pairs_checked == 4
    assert {(c.what, c.old, c.new) for c in s.counts} >= {("対象者数", 29003, 30698), ("実施見込者数", 7289, 7675)}
    assert [p.rate for p in rate_pairs(new)] == [25.0, 16.0]


# ---------------------------------------------------------------- cells XlsxWriter would refuse
def test_cells_rich_strings_would_refuse_are_written_plainly(tmp_path: Path):
    old = plan(2024, [measure("B-1-1", "①", ""), measure("B-1-2", "②", "=SUM(A1)", "=1+1")])
    new = plan(2025, [measure("B-1-1", "②", ""), measure("B-1-2", "③", "=SUM(A1)", "=1+2")])
    d = diff_plans(old, new)
    assert [s.mark for s in d.rows[0].new] == [MOVED]  # only a double-underlined number: one fragment
    out = write_taishohyo(d, tmp_path / "t.xlsx", label=None, placeholders=True)
    ws = openpyxl.load_workbook(out, rich_text=True)[SHEET]
    a5 = ws["A5"]
    assert a5.value == "②" and a5.font.u == "single"
    assert ws["A6"].data_type == "s" and isinstance(ws["A6"].value, CellRichText)  # 《③》=SUM(A1): text, not formula
    assert ws["A7"].data_type == "s" and str(ws["A7"].value).startswith("○ =1+")


def test_placeholders_stand_opposite_added_and_dropped_entries(tmp_path: Path):
    d = diff_plans(plan(2024, [measure("B-1-1", "①", "保険証の回収")]), plan(2025, [measure("B-1-2", "①", "健診の勧奨")]))
    ws = openpyxl.load_workbook(write_taishohyo(d, tmp_path / "p.xlsx", placeholders=True))[SHEET]
    assert [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in (5, 6)] == [("①健診の勧奨", "（削除）"),
                                                                            ("（新設）", "①保険証の回収")]


def test_a_page_breaks_before_a_measure_that_would_not_fit_in_what_is_left():
    rows = diff_plans(plan(2024, []), plan(2025, [measure(f"B-1-{i}", "①", f"施策{i}", *["取組" * 30] * 3)
                                                  for i in range(1, 6)])).rows
    breaks = page_breaks(rows, 4, page=200.0)
    assert breaks and all(rows[b - 4].kind == "heading" for b in breaks)


def test_spans_never_hold_empty_text():
    n, o = mark_pair("", "削除された文")
    assert n == () and o == (Span("削除された文", CHANGED),)


def test_measures_the_mapping_merges_stand_opposite_their_one_successor_and_a_split_one_its_first():
    mapping = load_mapping()
    merged = [m.from_id for m in mapping.measures if m.relation == "統合" and m.to_ids == ("6-1-II-3",)][:2]
    split = next(m for m in mapping.measures if m.relation == "分離" and len(m.to_ids) == 2)
    old = plan(2023, [measure(merged[0], "", "", "現金給付の審査を行う。"), measure(merged[1], "", "", "柔整の照会を行う。"),
                      measure(split.from_id, "", "", "分析する。")], term=5)
    new = plan(2024, [measure("6-1-II-3", "", "", "現金給付の審査を行う。", "柔整の照会を行う。"),
                      measure(split.to_ids[0], "", "", "分析する。"), measure(split.to_ids[1], "", "", "新しく始める。")],
               term=6)
    d = diff_plans(old, new)
    heads = [(r.new is not None, r.old is not None, r.measure_id) for r in d.rows if r.kind == "heading"]
    assert heads == [(True, True, "6-1-II-3"), (False, True, "6-1-II-3"), (True, True, split.to_ids[0]),
                     (True, False, split.to_ids[1])]
    items = [(r.new_text, r.old_text, r.status) for r in d.rows if r.kind == "item"]
    assert items[:2] == [("○ 現金給付の審査を行う。", "○ 現金給付の審査を行う。", "same"),
                         ("○ 柔整の照会を行う。", "○ 柔整の照会を行う。", "same")]  # the merged measures' items, pooled
    s = change_summary(d)
    assert [m.old_ids for m in d.measures][0] == tuple(merged) and s.measures_dropped == []
    assert [m.new_id for m in s.measures_added] == [split.to_ids[1]]


def test_a_shared_population_prints_once_under_the_kpi_it_belongs_to():
    from dataclasses import replace

    from kpisheet.domain.catalogue import PlanCounts
    from kpisheet.plan.diff import volume_lines

    cat = load_catalogue(6)
    kpis = {"K6-2-01": replace(cat.kpi("K6-2-01"), plan=PlanCounts("対象者数", "受診見込者数")),
            "K6-2-02": replace(cat.kpi("K6-2-02"), plan=PlanCounts("対象者数", "取得見込者数", shared_with="K6-2-01"))}

    class Cat:
        def has_kpi(self, kid: str) -> bool:
            return kid in kpis

        def kpi(self, kid: str):
            return kpis[kid]

    p = plan(2025, [], [PlanKpi("K6-2-01", "value", iv(63.0), population=iv(237452), planned=iv(149595)),
                        PlanKpi("K6-2-02", "value", iv(11.0), population=iv(237452), planned=iv(26120))])
    side = _Side(p, Cat())  # type: ignore[arg-type]
    assert volume_lines(side, p.kpis["K6-2-01"]) == ["（対象者数：237,452人　受診見込者数：149,595人）"]
    assert volume_lines(side, p.kpis["K6-2-02"]) == ["（取得見込者数：26,120人）"]


def test_a_text_longer_than_a_row_goes_on_in_continuation_rows_with_its_marks(tmp_path: Path):
    from kpisheet.plan.taishohyo import ROW_LINES, TEXT_WIDTH, display_rows
    from kpisheet.write.report.layout import lines_of

    long_old = "保険証の回収を文書と電話で催告する。" * 100
    long_new = long_old.replace("電話", "訪問", 1) + "未回収者には再度催告する。"
    d = diff_plans(plan(2024, [measure("B-1-1", "①", "回収", long_old)]),
                   plan(2025, [measure("B-1-1", "①", "回収", long_new)]))
    rows = display_rows(d)
    kinds = [r.kind for r in rows]
    assert kinds[:2] == ["heading", "item"] and set(kinds[2:]) == {"continued"} and len(rows) > 3
    assert all(lines_of(r.new_text, TEXT_WIDTH) <= ROW_LINES and lines_of(r.old_text, TEXT_WIDTH) <= ROW_LINES
               for r in rows)
    assert "".join(r.new_text for r in rows[1:]) == "○ " + long_new  # nothing lost, cut after a 「。」
    assert all(r.new_text.endswith("。") for r in rows[1:])
    assert marked(rows[1].new) == ["訪問"] and "未回収者には再度催告する" in "".join(marked(rows[-1].new))
    assert all(marked(r.new) == [] for r in rows[2:-1])
    out = write_taishohyo(d, tmp_path / "long.xlsx", placeholders=True)
    ws = openpyxl.load_workbook(out)[SHEET]
    assert "（新設）" not in [ws.cell(r, 2).value for r in range(5, 5 + len(rows))]


def test_an_origin_names_its_own_measure_among_merged_ones():
    mapping = load_mapping()
    merged = [m.from_id for m in mapping.measures if m.relation == "統合" and m.to_ids == ("6-1-II-3",)][:2]
    old = plan(2023, [measure(merged[0], "", "", "柔整の照会を文書で行う。"), measure(merged[1], "", "", "柔整の照会を電話で行う。")],
               term=5)
    new = plan(2024, [measure("6-1-II-3", "", "", "柔整の照会を電話と訪問で行う。", origins=(f"2023:{merged[1]}:1",))],
               term=6)
    rows = [(r.new_text, r.old_text) for r in diff_plans(old, new).rows if r.kind == "item"]
    assert rows == [("", "○ 柔整の照会を文書で行う。"), ("○ 柔整の照会を電話と訪問で行う。", "○ 柔整の照会を電話で行う。")]
