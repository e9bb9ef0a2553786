"""Plans in the ledger: recorded as versions only when their content changes, approved, reopened, given back
with the content they were recorded with; the year's targets file, and consolidation using it; the
ledger migration that adds the plan tables leaving every monthly row as it was; the plan commands."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpisheet import ledger as led
from kpisheet.cli import cli
from kpisheet.domain.catalogue import catalogue_for_fy, load_catalogue
from kpisheet.domain.findings import KpisheetError, finding
from kpisheet.fileio import OutputExistsError
from kpisheet.ledger import store
from kpisheet.plan import season
from kpisheet.read.value_tables import read_value_table
from tests.builders.plan_ledger import nation, plan

FY = 2025
PLAN_TABLES = ("plan_runs", "plan_run_outputs", "plan_files", "plan_run_files", "plan_versions", "plan_measures",
               "plan_items", "plan_targets", "plan_target_parts", "plan_log")


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


# ---------------------------------------------------------------- recording
def test_a_recorded_plan_comes_back_with_the_content_it_was_recorded_with(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    given = plan()
    recorded = led.record_plans(book, [given], FY, options={"inbox": "/inbox"})
    assert [(p.branch_code, p.role, p.seq) for p in recorded.plans] == [("10", "new_version", 1)]
    back = led.current_plans(book, FY)["10"]
    assert back.content_sha256() == given.content_sha256()
    assert back.content() == given.content()
    assert back.kpis["K6-2-01"].population.value == 259725 and isinstance(back.kpis["K6-2-01"].population.value, int)
    assert back.kpis["K6-2-01"].parts[0].planned.value == 4890.0
    assert back.kpis["K6-2-01"].target.source is None and back.path == f"ledger:{recorded.plans[0].version_id}"
    assert (back.sha256, back.saved_by, back.prefilled) == (given.sha256, "Microsoft Excel", {"targets": {"K6-2-01": 60.5}})
    assert back.measures["6-2-I-1"].focus is True and back.measures["6-2-I-2"].covered_by == "6-2-I-1"
    assert led.approved_plans(book, FY) == {}
    # the rows are the plan, for the sqlite3 shell and pandas
    assert rows(book, "SELECT branch_code, kpi_id, kind, target, population, planned FROM plan_target_list "
                      "WHERE kpi_id = 'K6-2-01'") == [("10", "K6-2-01", "value", 61.0, 259725, 158432)]
    assert rows(book, "SELECT n, text, flag FROM plan_items ORDER BY ord") == [
        (1, "健診の受診勧奨を行う", "継続"), (2, "GISで受診率の低い地域に勧奨する", "新規")]


def test_the_same_files_again_record_nothing(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    led.record_plans(book, [plan("10"), plan("11")], FY)
    before = {t: rows(book, f"SELECT count(*) FROM {t}")[0][0] for t in PLAN_TABLES}
    again = led.record_plans(book, [plan("11"), plan("10")], FY)
    assert again.run_id is None and [p.role for p in again.plans] == ["unchanged", "unchanged"]
    assert {t: rows(book, f"SELECT count(*) FROM {t}")[0][0] for t in PLAN_TABLES} == before


def test_a_resaved_workbook_saying_the_same_plan_is_a_file_not_a_version(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    first = led.record_plans(book, [plan("10")], FY)
    resaved = replace(plan("10"), sha256="other-bytes", saved_at="2025-02-11T09:00:00+09:00")
    second = led.record_plans(book, [resaved], FY)
    assert second.run_id is not None and second.new_files == 1
    assert [(p.role, p.version_id) for p in second.plans] == [("unchanged", first.plans[0].version_id)]
    assert rows(book, "SELECT count(*) FROM plan_versions") == [(1,)]
    assert rows(book, "SELECT role FROM plan_run_files WHERE plan_run_id = ?", (second.run_id,)) == [("unchanged",)]


def test_a_changed_plan_is_a_new_version_and_the_old_one_is_kept(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    v1 = plan("10")
    led.record_plans(book, [v1], FY)
    v2 = plan("10", target=61.5, planned=159731)
    recorded = led.record_plans(book, [v2], FY)
    assert [(p.role, p.seq) for p in recorded.plans] == [("new_version", 2)]
    listing = led.plan_versions(book, FY)
    assert [(v.seq, v.status, v.status_ja) for v in listing] == [(1, "replaced", "差し替え済み"), (2, "pending", "未確定")]
    assert led.plan_version(book, listing[0].id).content_sha256() == v1.content_sha256()
    assert led.current_plans(book, FY)["10"].content_sha256() == v2.content_sha256()


def test_an_unreadable_plan_is_kept_as_a_file_not_as_a_version(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    broken = replace(plan("10"), measures={}, kpis={},
                     findings=[finding("E101", file="/inbox/10_FY2025_事業計画.xlsx", reason="zip")])
    recorded = led.record_plans(book, [broken], FY)
    assert [p.role for p in recorded.plans] == ["unreadable"] and recorded.new_files == 1
    assert rows(book, "SELECT count(*) FROM plan_versions") == [(0,)]


def test_two_plans_of_one_branch_record_the_one_saved_last_P607(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    old = plan("10", path="/inbox/10_事業計画.xlsx", saved_at="2025-02-01T09:00:00+09:00")
    new = plan("10", target=62.0, path="/inbox/10_事業計画【修正版】.xlsx", saved_at="2025-02-20T09:00:00+09:00")
    recorded = led.record_plans(book, [new, old], FY)
    assert [(Path(p.path).name, p.role) for p in recorded.plans] == [
        ("10_事業計画【修正版】.xlsx", "new_version"), ("10_事業計画.xlsx", "set_aside")]
    (aside,) = recorded.findings
    assert (aside.code, aside.file, aside.branch, aside.value, aside.context["used"]) == (
        "P607", "/inbox/10_事業計画.xlsx", "10", "10_事業計画.xlsx", "10_事業計画【修正版】.xlsx")
    assert not aside.is_error and "【修正版】" in aside.text_ja
    assert led.current_plans(book, FY)["10"].kpis["K6-2-01"].target.value == 62.0


def test_a_plan_of_another_year_is_not_recorded_P608(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    recorded = led.record_plans(book, [plan("10", fy=2024)], FY)
    assert [p.role for p in recorded.plans] == ["other_year"]
    (f,) = recorded.findings
    assert (f.code, f.file, f.branch, f.value) == ("P608", "/inbox/10_FY2024_事業計画.xlsx", "10", "2024")
    assert "令和6年度の事業計画です。令和7年度の収集では" in f.text_ja and rows(book, "SELECT count(*) FROM plan_versions") == [(0,)]


# ---------------------------------------------------------------- approving and reopening
def test_approving_makes_the_version_the_one_the_year_uses_and_a_later_change_waits_P604_P605(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    v1 = plan("10")
    led.record_plans(book, [v1], FY)
    result = led.approve_plans(book, FY)
    assert [(v.branch_code, v.seq) for v in result.approved] == [("10", 1)] and not result.refused
    assert led.approved_plans(book, FY)["10"].content_sha256() == v1.content_sha256()
    assert [v.seq for v in led.approve_plans(book, FY, ["10"]).already] == [1]  # again: nothing changes

    v2 = plan("10", target=63.0)
    recorded = led.record_plans(book, [v2], FY)
    (changed,) = recorded.findings
    assert (changed.code, changed.branch, changed.value, changed.context["approved"]) == ("P605", "10", "2", 1)
    assert led.approved_plans(book, FY)["10"].content_sha256() == v1.content_sha256()  # still in force
    assert [(v.seq, v.status) for v in led.plan_versions(book, FY, "10")] == [(1, "approved"), (2, "pending")]

    refused = led.approve_plans(book, FY, ["10"])
    (f,) = refused.refused
    assert (f.code, f.branch, f.value, f.context["approved"]) == ("P604", "10", "2", 1) and not refused.approved
    assert "kpisheet plan reopen --fy 2025 --branch 10" in f.text_ja

    reopened = led.reopen_plan(book, FY, "10", "受診率の見込みを見直したため")
    assert (reopened.seq, reopened.reopened) == (1, "受診率の見込みを見直したため")
    assert led.approved_plans(book, FY)["10"].content_sha256() == v1.content_sha256()  # until another is approved
    assert [v.seq for v in led.approve_plans(book, FY, ["10"]).approved] == [2]
    assert led.approved_plans(book, FY)["10"].content_sha256() == v2.content_sha256()
    assert [(v.seq, v.status) for v in led.plan_versions(book, FY, "10")] == [(1, "superseded"), (2, "approved")]
    assert rows(book, "SELECT action, reason FROM plan_log ORDER BY id") == [
        ("approve", None), ("reopen", "受診率の見込みを見直したため"), ("approve", None)]


def test_a_version_with_errors_is_not_approved_P602(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    bad = plan("11")
    error = finding("E409", file=bad.path, sheet="施策と事業内容", cell="D14", subject="6-2-I-1", value="x" * 600,
                    label="事業内容", limit=500)
    led.record_plans(book, [bad, plan("10")], FY, findings={bad.path: [error]})
    result = led.approve_plans(book, FY)
    assert [v.branch_code for v in result.approved] == ["10"]
    (f,) = result.refused
    assert (f.code, f.branch, f.value, f.context["seq"], f.context["codes"]) == ("P602", "11", "1", 1, "E409")
    assert f.file == Path(bad.path).name and f.is_error and "11 埼玉支部" in f.text_ja
    assert "11" not in led.approved_plans(book, FY)
    back = led.current_plans(book, FY)["11"]  # the findings come back with the version, their messages whole
    assert [(g.code, g.cell, g.text_ja) for g in back.findings] == [("E409", "D14", error.text_ja)]


def test_approving_without_a_recorded_plan_is_refused_P603(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    led.record_plans(book, [plan("10")], FY)
    (f,) = led.approve_plans(book, FY, ["12"]).refused
    assert (f.code, f.branch, f.value) == ("P603", "12", "12") and "12 千葉支部" in f.text_ja
    (none,) = led.approve_plans(book, 2026).refused
    assert (none.code, none.branch, none.context["fiscal_year"]) == ("P603", None, 2026)


def test_reopening_a_plan_that_is_not_approved_is_refused_P606(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    led.record_plans(book, [plan("10")], FY)
    with pytest.raises(KpisheetError) as exc:
        led.reopen_plan(book, FY, "10", "理由")
    (f,) = exc.value.findings
    assert (f.code, f.branch, f.context["reason"]) == ("P606", "10", "確定した版がありません")
    led.approve_plans(book, FY)
    led.reopen_plan(book, FY, "10", "見直し")
    with pytest.raises(KpisheetError) as again:
        led.reopen_plan(book, FY, "10", "もう一度")
    assert [(g.code, g.context["reason"]) for g in again.value.findings] == [("P606", "確定はすでに解除されています")]


# ---------------------------------------------------------------- the migration
def _dump(path: Path, tables: list[str]) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}


def test_a_ledger_of_todays_monthly_runs_migrates_with_every_monthly_row_unchanged(tmp_path, monkeypatch):
    """A version-2 ledger made by today's code (two consolidations, a close, a revision) opens, gains the
    plan tables, and holds every monthly row as it was."""
    from kpisheet.domain.fiscal import month_compact
    from kpisheet.month import close_month, consolidate
    from tests.builders.sample import sample_values

    from .consolidate_helpers import filled, num

    def month_run(inbox: Path, month: date) -> None:  # what run_month records, without writing the workbooks
        cons = consolidate(inbox, fiscal_year=2024, month=month)
        with led.opened(path, create=True) as book, book.transaction():
            plan_ = led.attach(book, cons)
            led.record_run(book, plan_.applied_to(cons), plan_, sorted(inbox.iterdir()), {"inbox": str(inbox)})

    path = tmp_path / "v2.sqlite"
    with monkeypatch.context() as m:
        m.setattr(store, "MIGRATIONS", store.MIGRATIONS[:2])
        m.setattr(store, "SCHEMA_VERSION", 2)
        values = sample_values(load_catalogue(6), 2024, "11", date(2024, 10, 1))
        sep = {k: v for k, v in values.items() if not k.endswith(f"_{month_compact(date(2024, 10, 1))}")}
        filled(tmp_path, tmp_path / "sep", 2024, "11", sep)
        month_run(tmp_path / "sep", date(2024, 9, 1))
        with led.opened(path) as book:
            close_month(book, 2024, "2024-09")
        values[num("K6-1-02", date(2024, 8, 1))] += 10  # a revision of the closed August
        filled(tmp_path, tmp_path / "oct", 2024, "11", values)
        month_run(tmp_path / "oct", date(2024, 10, 1))
        assert rows(path, "PRAGMA user_version") == [(2,)]
    monthly = [r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    before = _dump(path, monthly)
    assert before["revisions"] and before["closed_months"] and len(before["runs"]) == 2 and before["kpi_values"]
    assert before["run_outputs"] and before["files"] and before["kpis"] and before["period_log"]
    with led.opened(path) as book:
        assert book.query("PRAGMA user_version") == [(store.SCHEMA_VERSION,)] == [(3,)]
    assert _dump(path, monthly) == before
    tables = {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert set(PLAN_TABLES) | {"approved_plans", "current_plans", "plan_target_list"} <= tables
    led.record_plans(path, [plan("11")], 2024 + 1)
    assert _dump(path, monthly) == before  # recording plans touches no monthly table


# ---------------------------------------------------------------- the targets file
def test_the_targets_rows_carry_value_targets_and_the_implied_national_ones():
    plans = {p.branch_code: p for p in nation()}
    plans["10"] = plan("10")  # 群馬: 158,432 of 259,725, 1,100 事業所
    targets = season.plan_targets_rows(plans, FY)  # type: ignore[arg-type]
    by_key = {(r.branch, r.kpi_id): r for r in targets.rows}
    assert by_key[("10", "K6-2-01")].value == 61.0 and by_key[("10", "K6-2-07")].value == 1100
    assert not any(k[1] in ("K6-1-02", "K6-2-09") for k in by_key)  # previous_year and text: not exported
    population, planned = 46 * 2000 + 259725, 46 * 1000 + 158432
    national = by_key[("ALL", "K6-2-01")]
    assert (national.value, national.branches, national.population, national.planned) == (
        round(planned / population * 100, 1), 47, population, planned)
    assert by_key[("ALL", "K6-2-07")].value == 46 * 100 + 1100 and by_key[("ALL", "K6-2-07")].basis == "sum_of_targets"


def test_an_implied_national_target_resting_on_some_branches_is_not_written():
    plans = {p.branch_code: p for p in nation()}
    plans["47"] = plan("47", population=None, planned=None)
    targets = season.plan_targets_rows(plans, FY)  # type: ignore[arg-type]
    (k1,) = [n for n in targets.national if n.kpi_id == "K6-2-01"]
    assert (k1.complete, len(k1.branches), len(k1.expected), k1.missing, k1.value) == (False, 46, 47, ("47",), 50.0)
    assert ("ALL", "K6-2-01") not in {(r.branch, r.kpi_id) for r in targets.rows}
    assert ("ALL", "K6-2-07") in {(r.branch, r.kpi_id) for r in targets.rows}
    fewer = season.plan_targets_rows(plans, FY, national_min_branches=46)  # type: ignore[arg-type]
    assert ("ALL", "K6-2-01") in {(r.branch, r.kpi_id) for r in fewer.rows}


def test_the_targets_file_reads_back_through_the_targets_reader(tmp_path):
    plans = {p.branch_code: p for p in nation()}
    path = season.write_plan_targets_csv(season.plan_targets_rows(plans, FY), tmp_path / "t.csv")  # type: ignore[arg-type]
    table = read_value_table(path, FY, kind="targets")
    assert table.findings == []
    assert table.get("01", "K6-2-01") == 50.0 and table.get("ALL", "K6-2-01") == 50.0
    assert table.get("ALL", "K6-2-07") == 4700.0 and len(table.values) == 47 * 2 + 2


def test_consolidate_with_the_plans_targets_file_judges_against_the_plans(tmp_path):
    from kpisheet.month import consolidate
    from tests.builders.sample import sample_values

    from .consolidate_helpers import filled

    plans = nation()
    plans[9] = plan("10")  # 群馬 sets 61.0%
    result = season.collect_plans(plans, {}, FY, tmp_path / "out", ledger=tmp_path / "kpisheet.sqlite")
    csv_path = tmp_path / "out" / "plan_targets_FY2025.csv"
    assert result.outputs == [csv_path, tmp_path / "out" / "全国_事業計画_FY2025.xlsx"]  # and the national summary
    values = sample_values(catalogue_for_fy(FY), FY, "10", date(2025, 9, 1), fill_targets=False)
    filled(tmp_path, tmp_path / "inbox", FY, "10", values)
    cons = consolidate(tmp_path / "inbox", fiscal_year=FY, month=date(2025, 9, 1), targets_path=csv_path)
    gunma = cons.branch_kpis[("10", "K6-2-01")]
    assert (gunma.annual_target, gunma.target_source) == (61.0, "targets_file")
    assert cons.branch_kpis[("10", "K6-2-07")].annual_target == 1100
    national = {r.kpi_id: r.value for r in result.targets.rows if r.branch == "ALL"}
    assert cons.national["K6-2-01"].annual_target == national["K6-2-01"]
    assert "本部の目標値ファイル" in cons.national["K6-2-01"].target_basis
    assert cons.national["K6-2-07"].annual_target == 46 * 100 + 1100


def test_generate_with_the_plans_targets_file_prefills_the_branch_targets(tmp_path):
    from kpisheet.read.reader import read_workbook
    from kpisheet.template.build import generate

    season.collect_plans([plan("10"), plan("11", target=55.5)], {}, FY, tmp_path / "out", ledger=tmp_path / "l.sqlite")
    made = generate(FY, ["10"], tmp_path / "books", targets_path=tmp_path / "out" / "plan_targets_FY2025.csv")
    sub = read_workbook(made.paths[0])
    assert sub.kpis["K6-2-01"].target.value == 61.0 and sub.prefilled_targets["K6-2-01"] == 61.0
    assert sub.kpis["K6-2-07"].target.value == 1100


# ---------------------------------------------------------------- collect
def test_collect_records_and_writes_all_or_nothing_and_again_records_nothing(tmp_path):
    book, out = tmp_path / "kpisheet.sqlite", tmp_path / "out"
    first = season.collect_plans([plan("10"), plan("11")], {}, FY, out, ledger=book, options={"inbox": "/inbox"})
    assert first.recorded is not None and len(first.recorded.new_versions) == 2
    (run_id, options), = rows(book, "SELECT id, options FROM plan_runs")
    token = json.loads(options)[led.PUBLICATION_OPTION]
    assert led.publication_recorded(book, token) is True  # a publication cut short is completed by the next run
    assert sorted(rows(book, "SELECT path FROM plan_run_outputs WHERE plan_run_id = ?", (run_id,))) == [
        (str(out / "plan_targets_FY2025.csv"),), (str(out / "全国_事業計画_FY2025.xlsx"),)]
    with pytest.raises(OutputExistsError):
        season.collect_plans([plan("10")], {}, FY, out, ledger=book)
    assert rows(book, "SELECT count(*) FROM plan_runs") == [(1,)]  # refused before anything was recorded
    again = season.collect_plans([plan("10"), plan("11")], {}, FY, out, ledger=book, force=True)
    assert again.recorded is not None and again.recorded.run_id is None
    only_one = season.collect_plans([plan("12")], {}, FY, out, ledger=book, force=True)
    assert sorted(only_one.held) == ["10", "11", "12"]  # the outputs are of every branch's latest version
    with open(out / "plan_targets_FY2025.csv", encoding="utf-8-sig") as f:
        assert {r["branch"] for r in csv.DictReader(f)} == {"10", "11", "12"}


def test_collect_without_a_ledger_writes_the_given_plans_targets(tmp_path):
    result = season.collect_plans([plan("10")], {}, FY, tmp_path / "out")
    assert result.recorded is None and (tmp_path / "out" / "plan_targets_FY2025.csv").is_file()
    assert result.to_dict()["branches"]["submitted"] == ["10"] and "ledger" not in result.to_dict()


# ---------------------------------------------------------------- the commands
def test_plan_collect_prints_its_summary_and_json_is_the_library_result(tmp_path, monkeypatch):
    bad = plan("11")
    error = finding("E409", file=bad.path, sheet="施策と事業内容", cell="D14", subject="6-2-I-1", value="x")
    monkeypatch.setattr(season, "read_plan_inbox", lambda inbox, fy, ledger=None: ([plan("10"), bad], {bad.path: [error]}))
    (tmp_path / "inbox").mkdir()
    book = tmp_path / "kpisheet.sqlite"
    res = run("plan", "collect", tmp_path / "inbox", "--fy", FY, "-o", tmp_path / "out", "--ledger", book)
    assert res.exit_code == 0, res.output
    assert "令和7年度（FY2025） 事業計画の収集" in res.output and "エラーあり 1（11 埼玉支部）" in res.output
    assert "未提出 45（01 北海道支部, 02 青森支部," in res.output and "本部" not in res.output  # the 47 branches
    assert "新しい版 2件" in res.output and "全国の目標なし K6-2-01: 対象者数と見込者数のある支部 2/47" in res.output
    assert "■ 11_FY2025_事業計画.xlsx（11 埼玉支部）  エラー 1件" in res.output  # the findings, by file
    res = run("plan", "collect", tmp_path / "inbox", "--fy", FY, "-o", tmp_path / "out", "--ledger", book,
              "--force", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["ledger"]["recorded"] is False and data["findings"]["errors"] == 1
    assert data["findings"]["items"][0]["cell"] == "D14"
    res = run("plan", "collect", tmp_path / "inbox", "--fy", FY, "-o", tmp_path / "out", "--ledger", book)
    assert res.exit_code == 1 and "--force" in res.output


def test_plan_approve_reopen_and_versions_commands(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    bad = plan("11")
    led.record_plans(book, [plan("10"), bad], FY, findings={bad.path: [finding("E409", file=bad.path, cell="D14")]})
    res = run("plan", "approve", "--fy", FY, "--ledger", book)
    assert res.exit_code == 1
    assert "10 群馬支部: 令和7年度（FY2025）の事業計画 第1版を確定しました" in res.output
    assert "P602" in res.output and "確定 1件・確定済み 0件・確定できず 1件" in res.output
    res = run("plan", "approve", "--fy", FY, "--branch", "10", "--ledger", book, "--json")
    assert res.exit_code == 0 and json.loads(res.output) == {**json.loads(res.output), "approved": [], "refused": []}
    assert [v["seq"] for v in json.loads(res.output)["already"]] == [1]
    res = run("plan", "versions", "--fy", FY, "--ledger", book)
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split() == ["支部", "版", "状態", "記録日時", "確定日時", "エラー", "警告", "ファイル"]
    assert "10 群馬支部  第1版  確定（使用中）" in lines[1] and "11 埼玉支部  第1版  未確定" in lines[2]
    listed = json.loads(run("plan", "versions", "--fy", FY, "--branch", "11", "--ledger", book, "--json").output)
    assert listed == [v.to_dict() for v in led.plan_versions(book, FY, "11")]
    res = run("plan", "reopen", "--fy", FY, "--branch", "10", "--reason", " ", "--ledger", book)
    assert res.exit_code == 2
    res = run("plan", "reopen", "--fy", FY, "--branch", "11", "--reason", "見直し", "--ledger", book)
    assert res.exit_code == 1 and "P606" in res.output
    res = run("plan", "reopen", "--fy", FY, "--branch", "10", "--reason", "見直し", "--ledger", book)
    assert res.exit_code == 0 and "事業計画（第1版）の確定を解除しました（理由：見直し）" in res.output
    assert "10 群馬支部  第1版  確定（使用中）・解除中" in run("plan", "versions", "--fy", FY, "--ledger", book).output
    assert run("plan", "approve", "--fy", FY, "--branch", "ALL", "--ledger", book).exit_code == 2
    assert run("plan", "versions", "--fy", FY, "--ledger", tmp_path / "none.sqlite").exit_code == 1  # L106


def test_plan_export_targets_command(tmp_path):
    book = tmp_path / "kpisheet.sqlite"
    led.record_plans(book, nation(), FY)
    out = tmp_path / "targets.csv"
    res = run("plan", "export-targets", "--fy", FY, "--approved-only", "-o", out, "--ledger", book)
    assert res.exit_code == 1 and "P603" in res.output and not out.exists()
    res = run("plan", "export-targets", "--fy", FY, "-o", out, "--ledger", book, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data == {**data, "path": str(out), "fiscal_year": FY} and {"branch": "ALL", "kpi_id": "K6-2-01"}.items() <= data["rows"][-2].items()
    assert read_value_table(out, FY, kind="targets").get("ALL", "K6-2-07") == 4700.0
    res = run("plan", "export-targets", "--fy", FY, "-o", out, "--ledger", book)
    assert res.exit_code == 1 and "--force" in res.output
    led.approve_plans(book, FY, ["01"])
    res = run("plan", "export-targets", "--fy", FY, "--approved-only", "-o", out, "--ledger", book, "--force")
    assert res.exit_code == 0 and "確定した版" in res.output and "全国の目標なし K6-2-01: 対象者数と見込者数のある支部 1/47" in res.output


def test_a_collect_that_fails_while_writing_records_nothing_and_publishes_nothing(tmp_path, monkeypatch):
    book, out = tmp_path / "kpisheet.sqlite", tmp_path / "out"

    def broken(*args: object) -> list[Path]:
        raise RuntimeError("the summary failed")

    monkeypatch.setattr(season, "write_summary_and_feedback", broken)
    with pytest.raises(RuntimeError):
        season.collect_plans([plan("10")], {}, FY, out, ledger=book)
    assert not book.exists()  # the ledger this run created holds nothing: removed
    assert [p.name for p in out.iterdir() if not p.name.startswith(".kpisheet.lock")] == []
    led.record_plans(book, [plan("11")], FY)  # a ledger that holds plans is kept, and left as it was
    with pytest.raises(RuntimeError):
        season.collect_plans([plan("10")], {}, FY, out, ledger=book)
    assert rows(book, "SELECT branch_code FROM plan_versions") == [("11",)]
    assert rows(book, "SELECT count(*) FROM plan_runs") == [(1,)]


def test_collect_with_no_readable_plan_of_the_year_records_and_writes_nothing(tmp_path, monkeypatch):
    book, out = tmp_path / "kpisheet.sqlite", tmp_path / "out"
    broken = replace(plan("10"), findings=[finding("E101", file="/inbox/10.xlsx", reason="zip")])
    with pytest.raises(season.NoPlans) as exc:
        season.collect_plans([broken, plan("11", fy=2024)], {}, FY, out, ledger=book)
    assert exc.value.years == [2024] and not book.exists() and not out.exists()
    monkeypatch.setattr(season, "read_plan_inbox", lambda inbox, fy, ledger=None: ([plan("11", fy=2024)], {}))
    (tmp_path / "inbox").mkdir()
    res = run("plan", "collect", tmp_path / "inbox", "--fy", FY, "-o", out, "--ledger", book)
    assert res.exit_code == 1 and "--fy 2024 を指定してください" in res.output and not book.exists()
