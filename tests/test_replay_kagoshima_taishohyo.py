"""Replay: 鹿児島支部's 平成30年度 and 平成31年度 事業計画, typed from their 新旧対照表（案） (資料 2-3) into
plan JSON (tests/data/plan_kagoshima_h30.json, _h31.json; tests/data/make_plan_kagoshima.py says which
lines of the document each text is), give back that document: its 新 and 旧 columns, the changes
underlined and nothing else, renumbered headings marked on the number, and the two rate/count pairs of
the document that do not agree.  Everything is read back from the written xlsx."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock

from kpisheet.domain.plan import PlanSubmission
from kpisheet.plan.diff import KPI_BULLET, PlanDiff, change_summary, diff_plans, normalise
from kpisheet.plan.taishohyo import SHEET, SUMMARY_SHEET, display_rows, write_taishohyo

DATA = Path(__file__).parent / "data"
FIRST_ROW = 5  # 1-based: label, title, legend, column heads above


def _plan(name: str) -> PlanSubmission:
    return PlanSubmission.from_dict(json.loads((DATA / name).read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanDiff, list[tuple[str, list, list]]]:
    diff = diff_plans(_plan("plan_kagoshima_h30.json"), _plan("plan_kagoshima_h31.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # XlsxWriter warns (and writes nothing) for a rich string it refuses
        out = write_taishohyo(diff, tmp_path_factory.mktemp("taishohyo") / "46.xlsx", label="資料 2-3")
    ws = openpyxl.load_workbook(out, rich_text=True)[SHEET]
    assert display_rows(diff) == diff.rows  # no text so long it goes on in a second row
    rows = [(r.kind, _runs(ws.cell(FIRST_ROW + i, 1)), _runs(ws.cell(FIRST_ROW + i, 2)))
            for i, r in enumerate(diff.rows)]
    return diff, rows


def _runs(cell: openpyxl.cell.cell.Cell) -> list[tuple[str, str | None]]:
    """(text, underline) runs of a cell: a rich string's blocks, or the cell's one text and font."""
    v = cell.value
    if v is None:
        return []
    if isinstance(v, CellRichText):
        return [(b.text, b.font.u) if isinstance(b, TextBlock) else (str(b), None) for b in v]
    return [(str(v), cell.font.u)]


def _text(runs: list) -> str:
    return "".join(t for t, _ in runs)


def _under(runs: list, kind: str = "single") -> list[str]:
    return [t for t, u in runs if u == kind]


def _column(rows: list, side: int) -> str:
    texts = []
    for kind, *cells in rows:
        t = _text(cells[side])
        if kind == "kpi" and t.startswith(KPI_BULLET):  # the document's bullet glyph is lost in its text copy
            t = t[len(KPI_BULLET):]
        texts.append(t)
    return normalise("".join(texts))


@pytest.mark.parametrize("side, name", [(0, "new"), (1, "old")])
def test_each_column_is_the_documents_column(replay, side, name):
    columns = json.loads((DATA / "plan_kagoshima_columns.json").read_text(encoding="utf-8"))
    assert _column(replay[1], side) == normalise("".join(c["text"] for c in columns[name]))


def _closing_free(text: str) -> str:
    return normalise(re.sub(r"。(?=[ \u3000]*(\n|$))", "", text))


def test_underlines_cover_every_change_and_only_changes(replay):
    _, rows = replay
    paired = 0
    for _, new, old in rows:
        if new and old:  # what is not underlined reads the same on both sides
            paired += 1
            keep_new = "".join(t for t, u in new if u is None)  # a renumbered number is double-underlined
            keep_old = "".join(t for t, u in old if u is None)
            assert _closing_free(keep_new) == _closing_free(keep_old), _text(new)
            if _closing_free(_text(new)) == _closing_free(_text(old)):
                assert _under(new) == [] and _under(old) == [], _text(new)
        else:  # an added or dropped entry is underlined whole, opposite an empty cell
            runs = new or old
            assert [u for _, u in runs] == ["single"] and (new == [] or old == []), _text(runs)
    assert paired > 100


PROTOTYPE = [  # (start of the 新 text, underlined in 新, underlined in 旧)
    ("○ 傷病手当金", ["等と"], []),
    ("○ 喪失後受診に対する取組み", ["強化を図"], ["を強化す"]),
    ("・日本年金機構回収分", ["95.4％"], ["95.0％"]),
    ("・医療給付費総額に占める", [], ["度"]),
    ("・現金給付等の申請に係る郵送化率", ["を 90.0％"], ["87.0％"]),
    ("○ 事業主や健康保険委員等", ["や市町村"], []),
    ("事業所単位での健康・医療データ提供等", ["等"], []),
    ("地域の医療提供体制への働きかけ", [], ["医療データの分析に基づく"]),
    ("・他の被用者保険者との連携", ["者", "83.7％"], ["79.8％"]),
    ("○ セミナー開催や", ["等"], []),
    ("健診全体の実施率目標", ["55.5%", "168,420"], ["55.0％", "161,390"]),
    ("（内訳）協会保健師実施分", ["16.0％", "4,890"], ["17.0％", "4,931"]),
    ("iv）コラボヘルスの推進", [], ["健康経営（", "）"]),
    ("ii）特定保健指導の実施率の向上", [], ["及び平成 30 年度からの制度見直しへの対応"]),
    ("（3）組織・運営体制関係", ["・運営"], []),
    ("ＯＪＴを中心とした人材育成", ["ＯＪＴを中心とした"], ["等"]),
    ("事業の進捗管理の徹底", ["事業の", "の徹底"], ["支部業績評価に向けた事業"]),
]


@pytest.mark.parametrize("start, new_marks, old_marks", PROTOTYPE)
def test_a_change_is_underlined_where_it_is(replay, start, new_marks, old_marks):
    found = [(n, o) for _, n, o in replay[1] if _text(n).lstrip("①②③④⑤⑥⑦⑧⑨").startswith(start)]
    assert len(found) == 1
    new, old = found[0]
    assert _under(new) == new_marks and _under(old) == old_marks


RAISED = {"95.4％": "95.0％", "90.0％": "87.0％", "84.0％": "83.0％", "43.3％": "38.0％", "11.0％": "10.6％",
          "24.2％": "24.0％", "12.0％": "11.5％", "41.3％": "37.5％", "83.0％": "80.2％", "83.7％": "79.8％"}


def test_the_ten_raised_targets_are_underlined_and_no_unchanged_kpi_sentence_is(replay):
    diff, rows = replay
    kpi_rows = [(r, n, o) for r, (kind, n, o) in zip(diff.rows, rows, strict=True) if kind == "kpi"]
    raised = {}
    for r, new, old in kpi_rows:
        numbers_new = [t.strip(" を") for t in _under(new) if re.search(r"\d", t)]
        numbers_old = [t for t in _under(old) if re.search(r"\d", t)]
        if numbers_new:
            raised[numbers_new[-1]] = numbers_old[-1]
        if r.status == "same":
            assert _under(new) == [] and _under(old) == [] and _under(new, "double") == []
    assert raised == RAISED
    unchanged = [r for r, _, _ in kpi_rows if r.status == "same"]
    assert len(unchanged) == 9  # 査定率, 柔整, 返納金債権回収率, サービススタンダード, 確認書, 健診, 被扶養者健診, 理解率, 見える化
    summary = change_summary(diff)
    assert sorted(t.new for t in summary.raised) == sorted(f"{v.rstrip('％')}%以上" for v in RAISED)
    assert summary.lowered == [] and [t.kpi_id for t in summary.targets_added] == ["K4-3-03-1"]
    # the same target, its sentence reworded: 「対前年以下」 (度 dropped, a slip of the document)
    assert [t.kpi_id for t in summary.wording] == ["K4-1-05-3"] and summary.targets_kept == 10


def test_renumbered_headings_are_double_underlined_on_their_number_only(replay):
    diff, rows = replay
    marked = [(_under(n, "double"), _under(o, "double"), _under(n), _under(o))
              for r, (kind, n, o) in zip(diff.rows, rows, strict=True) if kind == "heading" and _under(n, "double")]
    assert marked == [(["⑤"], ["④"], [], []), (["⑥"], ["⑤"], [], []), (["⑦"], ["⑥"], [], []),
                      (["⑧"], ["⑦"], [], []), (["⑨"], ["⑧"], [], [])]
    summary = change_summary(diff)
    assert [m.new_id for m in summary.measures_renumbered] == ["4-1-05", "4-1-06", "4-1-07", "4-1-08", "4-1-09"]
    assert [m.new_id for m in summary.measures_added] == ["4-1-04", "4-3-04", "4-3-05"]


def test_items_pair_as_the_document_aligns_them(replay):
    diff, rows = replay
    texts = [(_text(n), _text(o)) for _, n, o in rows]
    # 外傷点検: the new second item stands opposite the old second and third (merged into it)
    merged = [t for t in texts if t[0].startswith("○ 第三者行為届未提出者および")]
    assert merged and merged[0][1].count("○") == 2
    # 内容点検: one new item opposite the old first; the other five dropped
    assert ("○ レセプト内容点検効果向上計画に基づき、システムを最大限活用した効果的なレセプト点検を推進する。",
            "○ システムを活用した効果的なレセプト点検を推進する。") in texts
    # 資格点検: the old second item dropped, opposite an empty cell
    assert ("", "○ 喪失後受診に対する返納金で高額債権者については、初回納付書に保険者間調整の案内文書及び同意書を"
                "同封することで、早期の対策を行う。") in texts


def test_the_consistency_check_names_exactly_the_two_pairs_that_disagree(replay, tmp_path):
    diff, _ = replay
    summary = change_summary(diff)
    assert [(p.side, p.label, str(p.computed)) for p in summary.inconsistent] == [
        ("new", "特定保健指導の実施率（協会保健師実施分）", "15.9"), ("old", "特定保健指導の実施率（被保険者）", "25.1")]
    assert summary.pairs_checked == 14
    out = write_taishohyo(diff, tmp_path / "46.xlsx")
    ws = openpyxl.load_workbook(out)[SUMMARY_SHEET]
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value]
    named = [c for c in cells if "人 ÷ " in c]
    assert named == ["特定保健指導の実施率（協会保健師実施分）：16.0%（4,890人 ÷ 30,698人 = 15.9%）",
                     "特定保健指導の実施率（被保険者）：25.0%（7,289人 ÷ 29,003人 = 25.1%）"]


def test_the_counts_of_health_checks_moved(replay):
    summary = change_summary(replay[0])
    moved = {(c.label, c.what): (c.old, c.new) for c in summary.counts}
    assert moved[("生活習慣病予防健診実施率", "対象者数")] == (228013, 237452)
    assert moved[("特定保健指導の実施率（被扶養者）", "見込者数")] == (65, 85)
    assert len(moved) == 15
