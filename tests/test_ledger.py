"""The submission ledger: a month closed, a revision after it, a corrected copy beside the original,
reruns that add nothing, a closed month rebuilt from the ledger alone, 前年同月比 across the term
change, and a ledger that is damaged, newer or busy.

The story (module fixture `story`): 群馬 (10) and 埼玉 (11) report September; HQ consolidates and
closes it; in October 埼玉 sends its file twice — the original, and later a corrected copy in which
August's 郵送化率 numerator is higher — and HQ consolidates October.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.fiscal import month_compact
from kpisheet import ledger as led
from kpisheet.month import consolidate
from tests.builders.sample import sample_values

from .consolidate_helpers import filled, num

ROOT = Path(__file__).resolve().parents[1]
FY = 2024
AUG, SEP, OCT = date(2024, 8, 1), date(2024, 9, 1), date(2024, 10, 1)
CODES = ("10", "11")
REVISED = "K6-1-02"  # 郵送化率: 埼玉 raises August's numerator in its corrected October file
ORIGINAL = "11_埼玉支部_FY2024_KPI入力.xlsx"
CORRECTED = "11_埼玉支部_FY2024_KPI入力【修正版】.xlsx"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def through(values: dict, month: date) -> dict:
    """October's values without the months after `month` (the same figures, reported earlier)."""
    later = {month_compact(m) for m in (SEP, OCT) if m > month}
    return {k: v for k, v in values.items() if not any(k.endswith(f"_{m}") for m in later)}


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}


def sheet_rows(path: Path, sheet: str, first_title: str) -> list[dict]:
    """The rows of the table whose header starts with `first_title`, as dicts."""
    rows = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == first_title)
    return [dict(zip(rows[at], r, strict=True)) for r in rows[at + 1:] if r[0]]


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    root = tmp_path_factory.mktemp("ledger_story")
    cat = load_catalogue(6)
    october = {code: sample_values(cat, FY, code, OCT) for code in CODES}
    sep_box, oct_box = root / "inbox_2024-09", root / "inbox_2024-10"
    for code in CODES:
        filled(root, sep_box, FY, code, through(october[code], SEP), CODES)
    ledger = root / "hq" / "kpisheet.sqlite"
    sep = run("consolidate", sep_box, "--fy", FY, "--month", "2024-09", "-o", root / "out_sep", "--ledger", ledger)
    assert sep.exit_code == 0, sep.output
    closed = run("close", "--ledger", ledger, "--fy", FY, "--month", "2024-09")
    assert closed.exit_code == 0, closed.output
    for code in CODES:
        filled(root, oct_box, FY, code, october[code], CODES)
    original = oct_box / ORIGINAL
    old = original.stat().st_mtime_ns - 3600 * 10**9  # the original arrived an hour before the copy
    os.utime(original, ns=(old, old))
    corrected = dict(october["11"])
    corrected[num(REVISED, AUG)] += 10
    filled(root, root / "corrected", FY, "11", corrected, CODES)
    shutil.move(root / "corrected" / ORIGINAL, oct_box / CORRECTED)
    counts_before = table_counts(ledger)
    result = run("consolidate", oct_box, "--fy", FY, "--month", "2024-10", "-o", root / "out_oct", "--ledger", ledger)
    assert result.exit_code == 0, result.output
    return {"root": root, "ledger": ledger, "sep": sep, "oct": result, "oct_box": oct_box, "sep_box": sep_box,
            "october": october, "counts_before_october": counts_before}


# ---------------------------------------------------------------- resubmissions
def test_a_corrected_copy_beside_the_original_is_used_and_the_original_named(story):
    cons = consolidate(story["oct_box"], fiscal_year=FY, month=OCT)
    assert Path(cons.used["11"]).name == CORRECTED
    (aside,) = [f for f in cons.findings if f.branch == "11" and f.code in ("W207", "W208", "E207")]
    assert (Path(aside.file).name, aside.code, aside.context["used"]) == (ORIGINAL, "W207", CORRECTED)
    assert not aside.is_error and CORRECTED in aside.text_ja
    status = {s.code: s for s in cons.statuses}["11"]
    assert status.status == "提出済" and len(status.files) == 2
    assert f"「{CORRECTED}」を使用、「{ORIGINAL}」は使っていません" in story["oct"].output
    nat = sheet_rows(story["root"] / "out_oct" / "national_FY2024_2024-10.xlsx", "検証結果", "支部コード")
    assert [(r["ファイル"], r["コード"]) for r in nat if r["コード"] == "W207"] == [(ORIGINAL, "W207")]


def test_the_set_aside_file_is_recorded_with_its_role(story):
    with sqlite3.connect(story["ledger"]) as conn:
        roles = dict(conn.execute("SELECT f.name, rf.role FROM run_files rf JOIN files f ON f.id = rf.file_id "
                                  "JOIN runs r ON r.id = rf.run_id WHERE r.month = '2024-10'"))
    assert roles == {"10_群馬支部_FY2024_KPI入力.xlsx": "used", CORRECTED: "used", ORIGINAL: "set_aside"}


def test_identical_copies_count_once(story, tmp_path):
    box = tmp_path / "inbox"
    shutil.copytree(story["sep_box"], box)
    shutil.copy(box / ORIGINAL, box / "11_埼玉支部_FY2024_KPI入力 (2).xlsx")
    cons = consolidate(box, fiscal_year=FY, month=SEP)
    assert [(Path(f.file).name, f.code) for f in cons.findings if f.code in ("W207", "W208")] == \
        [("11_埼玉支部_FY2024_KPI入力 (2).xlsx", "W208")]
    assert Path(cons.used["11"]).name == ORIGINAL and "11" in cons.national[REVISED].covered


# ---------------------------------------------------------------- revisions and the close
def test_a_revision_of_a_closed_month_is_listed_once_marked_after_close(story):
    rows = sheet_rows(story["root"] / "out_oct" / "national_FY2024_2024-10.xlsx", "修正履歴", "支部コード")
    assert [(r["支部コード"], r["KPI ID"], r["対象月"], r["締め"], r["修正したファイル"], r["修正前のファイル"])
            for r in rows] == [("11", REVISED, "R6.8", "締め後", CORRECTED, ORIGINAL)]
    august = story["october"]["11"][num(REVISED, AUG)]
    assert rows[0]["修正前（分子／分母）"].startswith(f"{august:,.0f}／")
    assert rows[0]["修正後（分子／分母）"].startswith(f"{august + 10:,.0f}／")
    # 差 is the difference of the two values as shown (cells hold them; points for a percent KPI), so it never
    # contradicts them: +10 on the numerator may stay below the shown precision, and then it reads 0.0pt
    assert rows[0]["修正後"] >= rows[0]["修正前"]
    assert rows[0]["差"] == pytest.approx((rows[0]["修正後"] - rows[0]["修正前"]) * 100)
    assert "修正 1件（うち締め後 1件）" in story["oct"].output


def test_the_revision_is_applied_to_the_new_month(story):
    with sqlite3.connect(story["ledger"]) as conn:
        (value,) = conn.execute("SELECT numerator FROM current_values WHERE branch_code = '11' AND kpi_id = ? "
                                "AND month = '2024-08'", [REVISED]).fetchone()
        listed = conn.execute("SELECT reporting_month, after_close, old_file, new_file FROM revision_list").fetchall()
    assert value == story["october"]["11"][num(REVISED, AUG)] + 10
    assert listed == [("2024-10", 1, ORIGINAL, CORRECTED)]


def test_the_branch_feedback_names_its_own_revision(story):
    feedback = story["root"] / "out_oct" / "feedback"
    mine = next(feedback.glob("11_*【修正版】*確認事項.xlsx"))
    text = [row for row in openpyxl.load_workbook(mine)["確認事項"].values]
    listed = [r for r in text if r[0] == "R6.8"]
    assert len(listed) == 1 and listed[0][4] == "締め後" and CORRECTED in listed[0][1]
    other = next(feedback.glob("10_*確認事項.xlsx"))
    assert "修正はありません。" in [r[0] for r in openpyxl.load_workbook(other)["確認事項"].values]


def test_a_rerun_adds_nothing(story, tmp_path):
    before = table_counts(story["ledger"])
    again = run("consolidate", story["oct_box"], "--fy", FY, "--month", "2024-10", "-o", story["root"] / "out_oct",
                "--force", "--ledger", story["ledger"])
    assert again.exit_code == 0, again.output
    assert table_counts(story["ledger"]) == before
    assert "前回と同じ入力のため記録なし" in again.output
    rows = sheet_rows(story["root"] / "out_oct" / "national_FY2024_2024-10.xlsx", "修正履歴", "支部コード")
    assert len(rows) == 1  # still listed, once


def test_october_recorded_its_new_figures_only(story):
    before, after = story["counts_before_october"], table_counts(story["ledger"])
    assert after["runs"] == before["runs"] + 1 and after["revisions"] == 1
    assert after["files"] == before["files"] + 3  # 群馬's and 埼玉's two October files
    with sqlite3.connect(story["ledger"]) as conn:
        months = {r[0] for r in conn.execute("SELECT DISTINCT month FROM kpi_values WHERE run_month = '2024-10' "
                                             "AND branch_code <> 'ALL'")}
    assert months == {"2024-08", "2024-10"}  # the revision and the new month; September was held already


def test_a_closed_month_is_not_consolidated_again(story, tmp_path):
    before = table_counts(story["ledger"])
    result = run("consolidate", story["sep_box"], "--fy", FY, "--month", "2024-09", "-o", tmp_path / "out",
                 "--ledger", story["ledger"])
    assert result.exit_code == 1 and "L104" in result.stderr and "Traceback" not in result.output
    assert "kpisheet reopen" in result.stderr and not (tmp_path / "out").exists()
    earlier = run("consolidate", story["sep_box"], "--fy", FY, "--month", "2024-08", "-o", tmp_path / "out",
                  "--ledger", story["ledger"])
    assert earlier.exit_code == 1 and "L104" in earlier.stderr  # September's report covers August
    assert table_counts(story["ledger"]) == before


def test_from_ledger_rebuilds_the_closed_month(story, tmp_path):
    out = tmp_path / "rebuilt"
    result = run("consolidate", "--from-ledger", "--fy", FY, "--month", "2024-09", "-o", out,
                 "--ledger", story["ledger"])
    assert result.exit_code == 0, result.output
    assert "L109" not in result.output
    published = story["root"] / "out_sep"
    csv_name, national = "kpi_values_FY2024_2024-09.csv", "national_FY2024_2024-09.xlsx"
    assert (out / csv_name).read_bytes() == (published / csv_name).read_bytes()
    a, b = openpyxl.load_workbook(published / national), openpyxl.load_workbook(out / national)
    assert a.sheetnames == b.sheetnames
    for name in a.sheetnames[:-1]:
        assert list(a[name].values) == list(b[name].values), name
    differ = [(x, y) for x, y in zip(a["実行情報"].values, b["実行情報"].values, strict=True) if x != y]
    assert [x[0] for x, _ in differ] in ([], ["作成日時"])  # only the run time may differ
    assert not (out / "feedback").exists()


def _changes_block(path: Path) -> dict[str, str]:
    """概要's 「前月からの変化」 block: {heading: ..., label: text}."""
    rows = list(openpyxl.load_workbook(path)["概要"].values)
    at = next(i for i, r in enumerate(rows) if str(r[0]).startswith("前月からの変化"))
    block = {"heading": rows[at][0]}
    for r in rows[at + 1:]:
        if r[0] == "KPIごとの結果":
            break
        block[r[0]] = r[1]
    return block


def test_october_overview_says_what_changed_since_the_closed_september(story, tmp_path):
    """October against September's closed run: 埼玉's revision (締め後) and the marks that moved; September
    itself had no month before it in the ledger; the October rebuilt from the ledger says the same."""
    october = _changes_block(story["root"] / "out_oct" / "national_FY2024_2024-10.xlsx")
    assert october["heading"] == "前月からの変化（令和6年9月分の集計と比べて）"
    assert october["修正"] == "1件（うち締め後 1件）：「修正履歴」シート"
    assert october["新たな遅れ・未提出"] == "期限後：なし\u3000未提出：なし"
    with led.opened(story["ledger"]) as book:
        sep, _ = led.rebuild(book, FY, "2024-09")
        octo, _ = led.rebuild(book, FY, "2024-10")
    moved = [(c.code, c.kpi_id, c.before, c.after) for c in octo.changes.branches]
    expected = [(code, kpi_id, sep.branch_kpis[(code, kpi_id)].rating.mark, b.rating.mark)
                for (code, kpi_id), b in sorted(octo.branch_kpis.items(), key=lambda kv: (kv[0][1], kv[0][0]))
                if code in CODES and (code, kpi_id) in sep.branch_kpis
                and sep.branch_kpis[(code, kpi_id)].rating.mark != b.rating.mark]
    assert moved == expected
    assert october["支部の評価の変化"] == ("なし" if not moved else october["支部の評価の変化"])
    if moved:
        assert october["支部の評価の変化"].startswith(f"{len(moved)}件（")
    assert _changes_block(story["root"] / "out_sep" / "national_FY2024_2024-09.xlsx")["前月との比較"] == \
        "前月の記録なし（台帳に前月の集計がありません）。"
    out = tmp_path / "rebuilt_oct"
    result = run("consolidate", "--from-ledger", "--fy", FY, "--month", "2024-10", "-o", out, "--ledger", story["ledger"])
    assert result.exit_code == 0, result.output
    assert _changes_block(out / "national_FY2024_2024-10.xlsx") == october


def test_the_rebuilt_month_is_byte_identical_with_the_same_run_time(story, tmp_path):
    from datetime import datetime, timezone

    from kpisheet.write.report import write_national

    fixed = datetime(2024, 10, 3, 9, 0, tzinfo=timezone.utc)
    cons = consolidate(story["sep_box"], fiscal_year=FY, month=SEP)
    with led.opened(story["ledger"]) as book:
        rebuilt, _ = led.rebuild(book, FY, "2024-09")
        cons.previous_year, cons.no_comparison = rebuilt.previous_year, rebuilt.no_comparison
        cons.changes = rebuilt.changes  # 前月からの変化: the ledger has no August, as when September ran
    a = write_national(cons, tmp_path / "a.xlsx", force=False, created=fixed)
    b = write_national(rebuilt, tmp_path / "b.xlsx", force=False, created=fixed)
    assert a.read_bytes() == b.read_bytes()


def test_history_imported_after_the_close_does_not_change_the_closed_month(story, tmp_path):
    ledger = tmp_path / "copy.sqlite"
    shutil.copy(story["ledger"], ledger)
    src = history_csv(tmp_path / "fy2023.csv", [("ALL", "全国", "K5-1-02", "2023-09", 9000, 10000, 90.0, "ok")])
    assert run("ledger", "import", src, "--ledger", ledger).exit_code == 0
    with led.opened(ledger) as book:
        rebuilt, _ = led.rebuild(book, FY, "2024-09")
        cons = consolidate(story["sep_box"], fiscal_year=FY, month=SEP)
        cons = led.attach(book, cons).applied_to(cons)  # a new run of September would see it
    assert rebuilt.year_on_year("ALL", REVISED).previous is None
    assert cons.year_on_year("ALL", REVISED).previous == 90.0


def test_reopen_logs_the_reason_and_the_month_can_be_consolidated_again(story, tmp_path):
    ledger = tmp_path / "copy.sqlite"
    shutil.copy(story["ledger"], ledger)
    assert run("reopen", "--ledger", ledger, "--fy", FY, "--month", "2024-09").exit_code == 2  # a reason is required
    result = run("reopen", "--ledger", ledger, "--fy", FY, "--month", "2024-09", "--reason", "新潟の9月分が遅着")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(ledger) as conn:
        log = conn.execute("SELECT action, reason FROM period_log ORDER BY id").fetchall()
    assert log == [("close", None), ("reopen", "新潟の9月分が遅着")]
    again = run("reopen", "--ledger", ledger, "--fy", FY, "--month", "2024-09", "--reason", "x")
    assert again.exit_code == 1 and "L108" in again.stderr
    rerun = run("consolidate", story["sep_box"], "--fy", FY, "--month", "2024-09", "-o", tmp_path / "out",
                "--ledger", ledger)
    assert rerun.exit_code == 0, rerun.output


def test_closing_twice_is_harmless_and_an_unconsolidated_month_cannot_be_closed(story, tmp_path):
    ledger = tmp_path / "copy.sqlite"
    shutil.copy(story["ledger"], ledger)
    twice = run("close", "--ledger", ledger, "--fy", FY, "--month", "2024-09")
    assert twice.exit_code == 0 and "締め済み" in twice.output
    never = run("close", "--ledger", ledger, "--fy", FY, "--month", "2024-12")
    assert never.exit_code == 1 and "L105" in never.stderr


# ---------------------------------------------------------------- reading the ledger
@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_the_ledger_opens_in_the_sqlite3_shell(story):
    done = subprocess.run(["sqlite3", "-readonly", str(story["ledger"]), ".tables",
                           "SELECT branch_code, kpi_id, month, after_close FROM revision_list;"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for table in ("runs", "files", "run_files", "kpi_values", "revisions", "closed_months", "period_log"):
        assert table in done.stdout
    assert f"11|{REVISED}|2024-08|1" in done.stdout


def test_pandas_reads_the_ledger(story):
    import pandas as pd

    with sqlite3.connect(story["ledger"]) as conn:
        df = pd.read_sql("SELECT * FROM current_values WHERE branch_code = '11'", conn)
    assert set(df["kpi_id"]) >= {REVISED, "K6-2-01"} and (df["fiscal_year"] == FY).all()


def test_history_prints_each_change(story):
    table = run("history", "--ledger", story["ledger"], "--branch", "11", "--kpi", REVISED)
    assert table.exit_code == 0, table.output
    augusts = [line for line in table.output.splitlines() if line.split()[:2] == ["令和6年度", "2024-08"]]
    assert len(augusts) == 2 and "修正（締め後）" in augusts[1] and CORRECTED in augusts[1]
    rows = json.loads(run("history", "--ledger", story["ledger"], "--branch", "11", "--kpi", REVISED,
                          "--json").output)
    assert [r["month"] for r in rows] == ["2024-04", "2024-05", "2024-06", "2024-07", "2024-08", "2024-08",
                                          "2024-09", "2024-10"]
    assert rows[5]["revision"] == "修正（締め後）" and rows[4]["revision"] == ""
    lines = run("history", "--ledger", story["ledger"], "--kpi", REVISED, "--csv").output.splitlines()
    assert lines[0] == ",".join(led.HISTORY_COLUMNS) and len(lines) == 1 + 8 + 7 + 8  # 11, 10, ALL (August moved)
    assert {r[2] for r in csv.reader(lines[1:])} == {"10", "11", "ALL"}


# ---------------------------------------------------------------- 前年同月比
def history_csv(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["branch_code", "branch_name", "kpi_id", "month", "numerator", "denominator", "value", "status"])
        w.writerows(rows)
    return path


def test_last_year_enters_by_import_and_shows_across_the_term_change(story, tmp_path):
    ledger = tmp_path / "l.sqlite"
    src = history_csv(tmp_path / "kpi_values_FY2023_2024-03.csv", [
        ("11", "埼玉支部", "K5-1-02", "2023-10", 900, 1000, 90.0, "ok"),   # 継続 → K6-1-02
        ("ALL", "全国", "K5-1-02", "2023-10", 9000, 10000, 90.0, "ok"),
        ("11", "埼玉支部", "K5-1-03", "2023-10", 3, 1000, 0.3, "ok"),      # K6-1-03 新設: not comparable
        ("11", "埼玉支部", "K5-1-02", "2023-11", 950, 1000, 95.0, "ok")])  # a month not reached yet
    first = run("ledger", "import", src, "--ledger", ledger)
    assert first.exit_code == 0 and "令和5年度（FY2023）の 4行" in first.output and "4件の値" in first.output, \
        first.output
    again = run("ledger", "import", src, "--ledger", ledger)
    assert again.exit_code == 0 and "取込済み" in again.output
    result = run("consolidate", story["oct_box"], "--fy", FY, "--month", "2024-10", "-o", tmp_path / "out",
                 "--ledger", ledger)
    assert result.exit_code == 0, result.output
    assert "前年同月比あり" in result.output
    rows = {r["KPI ID"]: r for r in sheet_rows(tmp_path / "out" / "national_FY2024_2024-10.xlsx", "全国KPI", "KPI ID")}
    assert rows["K6-1-02"]["前年同月"] == pytest.approx(0.9) and rows["K6-1-02"]["前年同月比の注記"] == "R5.10と比較"
    assert rows["K6-1-03"]["前年同月"] is None and "定義が変わった" in rows["K6-1-03"]["前年同月比の注記"]
    assert rows["K6-2-09"]["前年同月"] is None and "対応するKPIがない" in rows["K6-2-09"]["前年同月比の注記"]
    cons = consolidate(story["oct_box"], fiscal_year=FY, month=OCT)
    with led.opened(ledger) as book:
        cons = led.attach(book, cons).applied_to(cons)
    yoy = cons.year_on_year("11", "K6-1-02")
    assert (yoy.month, yoy.previous_month, yoy.previous) == ("2024-10", "2023-10", 90.0)
    shown_now = round(cons.branch_kpis[("11", "K6-1-02")].value, 1)  # 96.21…% is shown 96.2% (no tie here)
    assert yoy.change == pytest.approx(shown_now - 90.0)  # the difference of the shown values
    assert cons.year_on_year("10", "K6-1-02").reason_ja == "前年同月の値なし"
    matrix = openpyxl.load_workbook(tmp_path / "out" / "national_FY2024_2024-10.xlsx")["支部別KPI"]
    rows = list(matrix.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == "支部コード")
    heads = rows[at]
    col = heads.index(next(h for h in heads if h and h.startswith("K6-1-02")))
    assert list(rows[at + 1][col:col + 6]) == ["実績", "時点", "評価", "進捗", "順位", "前年差"]
    saitama = next(r for r in rows[at + 2:] if r[0] == "11")
    assert saitama[col + 5] == pytest.approx(yoy.change)
    previous = heads.index("前年同月（画面のみ）")  # 前年同月 of every KPI, right of the print area
    assert saitama[previous + rows[at + 1][previous:].index("K6-1-02")] == pytest.approx(0.9)


def test_an_import_that_is_not_a_kpi_values_csv_is_refused(tmp_path):
    ledger = tmp_path / "l.sqlite"
    bad = tmp_path / "bad.csv"
    bad.write_text("branch,kpi_id,value\n11,K5-1-02,90\n", encoding="utf-8")
    result = run("ledger", "import", bad, "--ledger", ledger)
    assert result.exit_code == 1 and "L107" in result.stderr and "Traceback" not in result.output
    unknown = history_csv(tmp_path / "u.csv", [("11", "埼玉支部", "K9-9-99", "2023-10", 1, 2, 50.0, "ok")])
    result = run("ledger", "import", unknown, "--ledger", ledger)
    assert result.exit_code == 1 and "2行目" in result.stderr
    assert table_counts(ledger)["kpi_values"] == 0


# ---------------------------------------------------------------- a ledger that cannot be used
def test_a_damaged_ledger_is_a_clear_message(story, tmp_path):
    ledger = tmp_path / "broken.sqlite"
    ledger.write_bytes(b"this is not a database, just text" * 100)
    result = run("consolidate", story["sep_box"], "--fy", FY, "--month", "2024-09", "-o", tmp_path / "out",
                 "--ledger", ledger)
    assert result.exit_code == 1 and "L101" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_ledger_where_none_can_be_made_is_a_clear_message(story, tmp_path):
    (tmp_path / "a_file").write_text("x")
    history = ROOT / "examples" / "history_FY2023.csv"
    below_a_file = run("ledger", "import", history, "--ledger", tmp_path / "a_file" / "kpisheet.sqlite")
    assert below_a_file.exit_code == 1 and "L101" in below_a_file.stderr
    assert "Traceback" not in below_a_file.output
    assert run("ledger", "import", history, "--ledger", tmp_path).exit_code == 2  # a folder: a usage error


def test_a_ledger_of_a_newer_kpisheet_is_refused(story, tmp_path):
    ledger = tmp_path / "newer.sqlite"
    shutil.copy(story["ledger"], ledger)
    with sqlite3.connect(ledger) as conn:
        conn.execute(f"PRAGMA user_version = {led.SCHEMA_VERSION + 1}")
    result = run("history", "--ledger", ledger)
    assert result.exit_code == 1 and "L102" in result.stderr


def test_a_busy_ledger_is_a_clear_message_and_nothing_is_written(story, tmp_path, monkeypatch):
    monkeypatch.setattr(led, "BUSY_SECONDS", 0.2)
    ledger = tmp_path / "busy.sqlite"
    shutil.copy(story["ledger"], ledger)
    holder = sqlite3.connect(ledger, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = run("consolidate", story["oct_box"], "--fy", FY, "--month", "2024-10", "-o", tmp_path / "out",
                     "--ledger", ledger)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1 and "L103" in result.stderr
    assert not (tmp_path / "out" / "national_FY2024_2024-10.xlsx").exists()


def _open_together(barrier, path: Path) -> str:
    """In a forked child: open (create) the ledger at `path` the moment every other child is ready too."""
    from kpisheet.domain.findings import KpisheetError

    barrier.wait(60)
    try:
        led.open_ledger(path, create=True).close()
    except KpisheetError as exc:
        return f"{exc.findings[0].code} {exc.findings[0].context.get('reason', '')}"
    return "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_runs_that_open_a_new_ledger_at_the_same_moment_all_get_it(tmp_path):
    """Runs that open one new ledger together (two imports; two consolidations where create_ledger
    cannot link and both fill the name it claimed): one creates the tables, the others find them (a run
    that had read the empty file before another created them failed with L101 "table runs already
    exists")."""
    import multiprocessing
    from functools import partial

    from kpisheet.runtime import fork_map

    for attempt in range(10):
        path = tmp_path / str(attempt) / "kpisheet.sqlite"
        barrier = multiprocessing.get_context("fork").Barrier(4)
        assert fork_map(partial(_open_together, barrier), [path] * 4, 4) == ["ok"] * 4
        assert table_counts(path)["runs"] == 0


def test_a_failed_run_leaves_the_ledger_as_it_was(story, tmp_path, monkeypatch):
    from kpisheet.write import outputs

    ledger = tmp_path / "l.sqlite"
    shutil.copy(story["ledger"], ledger)
    before = table_counts(ledger)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "stage", interrupted)
    result = run("consolidate", story["oct_box"], "--fy", FY, "--month", "2024-11", "-o", tmp_path / "out",
                 "--ledger", ledger)
    assert result.exit_code != 0
    assert table_counts(ledger) == before
    fresh = tmp_path / "new" / "kpisheet.sqlite"
    result = run("consolidate", story["oct_box"], "--fy", FY, "--month", "2024-11", "-o", tmp_path / "out",
                 "--ledger", fresh)
    assert result.exit_code != 0 and not fresh.exists()  # a ledger this failed run created is not left behind


def test_no_ledger_means_no_history_and_says_so(story, tmp_path):
    result = run("consolidate", story["sep_box"], "--fy", FY, "--month", "2024-09", "-o", tmp_path / "out",
                 "--no-ledger")
    assert result.exit_code == 0 and "台帳" not in result.output
    rows = openpyxl.load_workbook(tmp_path / "out" / "national_FY2024_2024-09.xlsx")["修正履歴"].values
    assert "台帳を使わずに集計したため、修正は記録していません。" in [r[0] for r in rows]


def test_the_ledger_path_comes_from_the_option_the_environment_or_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(led.ENV_VAR, str(tmp_path / "env.sqlite"))
    assert led.ledger_path(tmp_path / "opt.sqlite") == tmp_path / "opt.sqlite"
    assert led.ledger_path(None) == tmp_path / "env.sqlite"
    monkeypatch.delenv(led.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    assert led.ledger_path(None) == tmp_path / "kpisheet.sqlite"


def test_history_of_a_missing_ledger_creates_nothing(tmp_path):
    result = run("history", "--ledger", tmp_path / "none.sqlite")
    assert result.exit_code == 1 and "L106" in result.stderr and not (tmp_path / "none.sqlite").exists()


# ---------------------------------------------------------------- the stored record
def test_a_submission_record_gives_the_same_consolidation(story):
    """The compact record keeps what consolidation reads: the same month values and findings again."""
    from kpisheet.consolidate.build import build_consolidation

    cons = consolidate(story["oct_box"], fiscal_year=FY, month=OCT)
    subs = [led.decode_submission(json.loads(json.dumps(led.encode_submission(s), default=str)), s.path)
            for s in cons.submissions]
    again = build_consolidation(subs, cons.given_findings, fiscal_year=FY, month=OCT)
    assert again.month_values == cons.month_values
    assert [f.to_dict() for f in again.findings] == [f.to_dict() for f in cons.findings]
    assert again.statuses == cons.statuses
    assert again.measure_ratings == cons.measure_ratings
