"""Replay: 埼玉支部 FY2023 (seed 003) through the branch workbook, consolidated at 2024-03, read back
from the 実施状況 sheet of 埼玉's feedback workbook.

tests/data/seed003_saitama.json restates seed 003's table rows for 埼玉 (measure headings, activity
texts and marks, KPI targets, results and marks, 課題).  The workbook is filled with those
activities, self-ratings and 課題, and with the KPI values of tests/test_replays.py (each result
only up to the month its data reached).  The sheet shows seed 003's title, legend, pillar headings,
activity rows in seed order with seed 003's marks, KPI rows with seed 003's targets, results (with
our data month: 「42.6%（R6.1現在）」) and marks, and the 課題 under each measure.

What the term-5 catalogue and the branch workbook cannot hold as seed 003 prints it:

* Seed 003 numbers 埼玉's own measures (1)…(12); the catalogue has the national plan's measures.
  Seed measures are filed under the catalogue measure they belong to (the "catalogue_measure" of
  each in the JSON); two seed measures share one catalogue measure five times —
  1-(6)+(7) → ⑧ 返納金債権発生防止…債権回収業務の推進, 2-(5)+(6) → ② 広報活動や健康保険委員…,
  2-(7)+(9) → ③ ジェネリック医薬品の使用促進, 2-(10)+(11) → ⑥ 地域の医療提供体制等への働きかけ…,
  3-(1)+(7) → I) ① 人事制度の適正な運用… — so their activities are numbered on from the first,
  and 2-(9) 医療費適正化 comes before 2-(8) インセンティブ, 3-(7) 健康づくり before 3-(2).
  Headings are the catalogue's (「④ 現金給付の適正化の推進」, not 「(4) 現金給付の適正化の推進」).
  2-(9) 医療費適正化の取組みの推進 has no measure of its own in the term-5 plan; 3-(7) 支部における
  健康づくりの推進 neither (filed under 人事制度, the closest).
* A KPI is a row of its own after the measure's activities: seed 003 prints pillar 1's KPIs inside
  the activity row (「② …郵送化率を96.5%以上とする | 96.5%以上 | 96.5% | ○」) and pillar 2's KPI
  rows between sub-groups (●被保険者 … KPI, ◆被扶養者 … KPI); here the activity row keeps the
  seed's text and mark, and the KPI follows with its own.  K5-1-05 (柔整) sits under ⑥ 柔道整復
  施術療養費の照会業務の強化 in the catalogue, not under (4) as in the seed.
* Seed 003 subdivides 2-(1) and 2-(2) (●被保険者・◆被扶養者); the workbook has one list of up to
  ten activities per measure, without sub-group headings.
* Two 課題 cells of one catalogue measure are one 課題 here (joined by a line break); 2-(9)'s
  課題 repeats 2-(7)'s word for word and is filled once.
* Wording: the KPI sentence is built from the catalogue's label (SENTENCE_GAPS), targets and
  results carry the KPI's decimals (TARGET_GAPS, RESULT_GAPS).  Generic 82.9% is 「R5.11診療」 as seed
  003 writes it (the catalogue marks its data months as months of care).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.fiscal import parse_month
from kpisheet.domain.ratings import as_of_ja
from kpisheet.month import consolidate
from kpisheet.write.feedback.build import write_feedback

from .consolidate_helpers import field, filled, mfield
from .test_replays import SAITAMA_AS_REPORTED, saitama_kpi_values

SEED = json.loads((Path(__file__).parent / "data" / "seed003_saitama.json").read_text(encoding="utf-8"))
DATA_MONTH = {r[0]: r[5] for r in SAITAMA_AS_REPORTED}
CIRCLED = re.compile("^[①-⑳] ")
# where our cell differs from seed 003's wording (see the module docstring)
SENTENCE_GAPS = {"K5-2-04": "被保険者の特定保健指導実施率を36.9%以上とする",
                 "K5-2-05": "被扶養者の特定保健指導実施率を15.1%以上とする",
                 "K5-3-01": "一般競争入札に占める一者応札案件の割合を20.0%以下とする"}
TARGET_GAPS = {"K5-1-01": "100.0%以上", "K5-1-08": "94.0%以上", "K5-3-01": "20.0%以下"}
RESULT_GAPS = {"K5-1-01": "100.0%（R6.3現在）", "K5-2-06": "—（年度終了後に集計）"}


def _is_activity(r: dict) -> bool:
    """A seed row that is an activity (pillar 1's may carry a KPI too), not a KPI row of its own."""
    return r["kind"] == "activity"


def _seed_rows() -> list[tuple[dict, dict]]:
    return [(m, r) for m in SEED["measures"] for r in m["rows"]]


def _values() -> dict:
    values = saitama_kpi_values()
    activities: dict[str, list[dict]] = {}
    issues: dict[str, list[str]] = {}
    for m, r in _seed_rows():
        if r.get("kpi") == "K5-2-10":  # the qualitative KPI: its result text and self-rating
            values[field("K5-2-10", "text")], values[field("K5-2-10", "rating")] = r["result"], r["mark"]
        if _is_activity(r):
            activities.setdefault(m["catalogue_measure"], []).append(r)
    for m in SEED["measures"]:
        for text in m["issues"]:
            if text not in issues.setdefault(m["catalogue_measure"], []):
                issues[m["catalogue_measure"]].append(text)
    for measure_id, rows in activities.items():
        for n, r in enumerate(rows, 1):
            values[mfield(measure_id, "text", n)], values[mfield(measure_id, "rating", n)] = r["text"], r["mark"]
    for measure_id, texts in issues.items():
        values[mfield(measure_id, "issue")] = "\n".join(texts)
    return values


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    root = tmp_path_factory.mktemp("saitama_sheet")
    filled(root, root / "inbox", 2023, "11", _values())
    cons = consolidate(root / "inbox", fiscal_year=2023, month=parse_month(SEED["consolidated_at"]))
    sub = next(s for s in cons.submissions if s.branch_code == "11")
    path = write_feedback(cons, sub, root / "out", force=False)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == "実施状況"
    rows = [tuple("" if v is None else v for v in row[:5]) for row in wb["実施状況"].iter_rows(values_only=True)]
    return cons, rows


def _blocks(rows: list[tuple]) -> list[tuple[str, list[tuple]]]:
    """(measure heading, its rows) in sheet order: a block opens where the first column names a measure."""
    blocks: list[tuple[str, list[tuple]]] = []
    for row in rows:
        first = row[0]
        if first in ("具体的な施策", "") and not row[1] or re.match(r"^\d、", str(first)) or not blocks and not row[1]:
            continue
        if first and first not in ("課題", "具体的な施策"):
            blocks.append((first, []))
        if blocks and first != "具体的な施策":
            blocks[-1][1].append(row)
    return blocks


def test_title_legend_and_pillars_as_seed_003(sheet):
    _, rows = sheet
    firsts = [r[0] for r in rows]
    assert firsts[0] == SEED["title"] == "令和5年度埼玉支部事業計画実施状況（概要版）"
    assert SEED["legend"] in firsts
    assert [f for f in firsts if re.match(r"^\d、", str(f))] == list(SEED["pillars"].values())


def test_activities_in_seed_order_with_seed_marks(sheet):
    cons, rows = sheet
    order = {m.id: i for i, m in enumerate(cons.catalogue.measures)}
    seed = [(m["catalogue_measure"], r["text"], r["mark"]) for m, r in _seed_rows() if _is_activity(r)]
    expected = sorted(seed, key=lambda t: order[t[0]])  # stable: seed order within a catalogue measure
    shown = [(heading, CIRCLED.sub("", row[1]), row[4]) for heading, block in _blocks(rows) for row in block
             if row[2] == "—" and row[3] == "—"]
    headings = {cons.catalogue.measure(mid).heading: mid for mid in order}
    assert [(headings[h], text, mark) for h, text, mark in shown] == expected
    assert len(expected) == 92  # every activity row of seed 003's tables (103 rows less 11 KPI rows)


def test_each_measure_heading_opens_its_block(sheet):
    cons, rows = sheet
    headings = [h for h, _ in _blocks(rows)]
    assert headings == [m.heading for m in cons.catalogue.measures_for("11")]
    filed = {m["catalogue_measure"] for m in SEED["measures"]}
    blank = [h for h, block in _blocks(rows) if block[0][1] == "（記入なし）"]
    assert blank == [m.heading for m in cons.catalogue.measures if m.id not in filed
                     and not cons.catalogue.kpis_of_measure(m.id)]


@pytest.mark.parametrize("kpi_id", [r["kpi"] for _, r in _seed_rows() if "kpi" in r])
def test_kpi_rows_show_seed_targets_results_and_marks(sheet, kpi_id):
    cons, rows = sheet
    kpi = cons.catalogue.kpi(kpi_id)
    seed = next(r for _, r in _seed_rows() if r.get("kpi") == kpi_id)
    heading, row = next((h, row) for h, block in _blocks(rows) for row in block
                        if row[1].startswith((kpi.label, f"【KPI】{kpi.label}")) and row[2] != "—")
    assert heading == cons.catalogue.measure(kpi.measure_id).heading
    assert row[2] == TARGET_GAPS.get(kpi_id, seed["target"]), f"seed 003:{seed['line']}"
    assert row[3] == RESULT_GAPS.get(kpi_id, _with_data_month(kpi_id, seed["result"])), f"seed 003:{seed['line']}"
    assert row[4] == seed["mark"], f"seed 003:{seed['line']}"
    if not _is_activity(seed):  # a KPI row of its own in seed 003: its sentence
        assert row[1] == SENTENCE_GAPS.get(kpi_id, seed["text"]), f"seed 003:{seed['line']}"


def _with_data_month(kpi_id: str, seed_result: str) -> str:
    """Seed 003's result with the month its data reach: 「42.6%（R6.1現在）」 (kept where the seed says it)."""
    if "現在" in seed_result or "診療" in seed_result:
        return seed_result.replace(" (", "（").replace(")", "）")
    if kpi_id not in DATA_MONTH:  # qualitative: the branch's own words
        return seed_result
    return f"{seed_result}（{as_of_ja(parse_month(DATA_MONTH[kpi_id]), load_catalogue(5).kpi(kpi_id))}）"


def test_issues_under_their_measure(sheet):
    cons, rows = sheet
    blocks = dict(_blocks(rows))
    for m in SEED["measures"]:
        block = blocks[cons.catalogue.measure(m["catalogue_measure"]).heading]
        issue_rows = [row for row in block if row[0] == "課題"]
        for text in m["issues"]:
            assert len(issue_rows) == 1 and text in issue_rows[0][1], m["seed_heading"]
            assert block[-1] is issue_rows[0]  # after the measure's activities and KPIs
