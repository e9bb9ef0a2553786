"""Every file fails alone: one broken or unforeseen branch file never stops, fools or empties the run."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.check import rules, validation
from kpisheet.check.validation import validate
from kpisheet.consolidate import branches
from kpisheet.consolidate.model import Consolidation
from kpisheet.consolidate.model import STATUS_ERRORS, STATUS_MISSING, STATUS_OK, STATUS_UNREADABLE
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.model import is_readable
from kpisheet.month import consolidate
from kpisheet.read.reader import read_workbook
from kpisheet.write.report import write_national
from tests.builders.sample import sample_values

from .consolidate_helpers import copy, filled, num, sample_inbox

FY, SEP = 2024, date(2024, 9, 1)
CODES = ["10", "11", "13"]
SAITAMA = "11_埼玉支部_FY2024_KPI入力.xlsx"


def status_of(cons: Consolidation) -> dict[str, str]:
    return {s.code: s.status for s in cons.statuses}


def corrupt_zip(path: Path) -> Path:
    """A file that starts like a zip and is garbage after: what a broken mail attachment looks like."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Plausible filled workbooks of three branches, to copy into each test's inbox."""
    root = tmp_path_factory.mktemp("good")
    return {p.name[:2]: p for p in sample_inbox(root, root / "inbox", FY, CODES, SEP)}


def inbox_of(tmp_path: Path, good: dict[str, Path], codes: list[str]) -> Path:
    inbox = tmp_path / "inbox"
    for code in codes:
        copy(good[code], inbox / good[code].name)
    return inbox


# ---------------------------------------------------------------- an exception in the reader
def test_a_reader_that_raises_is_e110_attributed_by_file_name(tmp_path, good, monkeypatch):
    import zlib

    def read(path):
        if Path(path).name == SAITAMA:
            raise zlib.error("Error -3 while decompressing data: invalid stored block lengths")
        return read_workbook(path)

    monkeypatch.setattr(validation, "read_workbook", read)
    result = validate([inbox_of(tmp_path, good, CODES)], fiscal_year=FY, as_of=SEP)
    assert [(Path(f.file).name, f.branch, f.context["reason"]) for f in result.findings if f.is_error] == [
        (SAITAMA, "11", "error: Error -3 while decompressing data: invalid stored block lengths")]
    assert [s.branch_code for s in result.submissions] == ["10", "13"]
    assert [(s.branch_code, s.sha256) for s in result.unreadable] == [
        ("11", hashlib.sha256(good["11"].read_bytes()).hexdigest())]


# ---------------------------------------------------------------- an exception in a rule
def test_a_rule_that_raises_is_e190_on_that_file_and_the_others_go_on(tmp_path, good, monkeypatch):
    real = rules.check_submission

    def check(sub, cat, *, as_of=None):
        if sub.branch_code == "11":
            raise ZeroDivisionError("float division by zero")
        return real(sub, cat, as_of=as_of)

    monkeypatch.setattr(rules, "check_submission", check)
    inbox = inbox_of(tmp_path, good, CODES)
    cons = consolidate(inbox, fiscal_year=FY, month=SEP)
    e190 = [f for f in cons.findings if f.code == "E190"]
    assert [(Path(f.file).name, f.branch, f.context["reason"]) for f in e190] == [
        (SAITAMA, "11", "ZeroDivisionError: float division by zero")]
    assert status_of(cons)["11"] == STATUS_UNREADABLE
    assert not any(k[0] == "11" for k in cons.branch_kpis)
    assert cons.national["K6-2-07"].covered == ("10", "13")
    stub = next(s for s in cons.submissions if s.branch_code == "11")
    assert not is_readable(stub) and stub.kpis == {} and "E190" in [f.code for f in stub.findings]


def test_the_outlier_check_failing_on_one_file_is_e190_on_it(tmp_path, good, monkeypatch):
    real = rules.outliers_across_branches

    def outliers(subs):
        if any(s.branch_code == "13" for s in subs):
            raise ValueError("math domain error")
        return real(subs)

    monkeypatch.setattr(rules, "outliers_across_branches", outliers)
    result = validate([inbox_of(tmp_path, good, CODES)], fiscal_year=FY, as_of=SEP)
    assert [(f.code, f.branch) for f in result.findings if f.code == "E190"] == [("E190", "13")]
    assert [s.branch_code for s in result.submissions] == ["10", "11"]
    assert [s.branch_code for s in result.unreadable] == ["13"]
    assert [s.branch_code for s in result.every_submission] == CODES


def test_an_exception_while_consolidating_one_branch_leaves_only_its_values_out(tmp_path, good, monkeypatch):
    real = branches._measures

    def measures(cons, sub, ex):
        if sub.branch_code == "13":
            raise KeyError("5-1-1")
        return real(cons, sub, ex)

    monkeypatch.setattr(branches, "_measures", measures)
    cons = consolidate(inbox_of(tmp_path, good, CODES), fiscal_year=FY, month=SEP)
    e190 = [f for f in cons.findings if f.code == "E190"]
    assert [(Path(f.file).name[:2], f.branch, f.context["reason"]) for f in e190] == [("13", "13", "KeyError: '5-1-1'")]
    assert not any(k[0] == "13" for k in [*cons.branch_kpis, *cons.month_values])
    assert not any(r.branch_code == "13" for r in cons.measure_ratings)
    assert cons.national["K6-2-07"].covered == ("10", "11")
    assert status_of(cons)["13"] == STATUS_UNREADABLE
    assert status_of(cons)["10"] in (STATUS_OK, STATUS_ERRORS)


# ---------------------------------------------------------------- a branch whose only file is unreadable
@pytest.fixture(scope="module")
def unreadable_run(tmp_path_factory, good):
    root = tmp_path_factory.mktemp("unreadable")
    inbox = root / "inbox"
    copy(good["10"], inbox / good["10"].name)
    corrupt_zip(inbox / SAITAMA)
    return consolidate(inbox, fiscal_year=FY, month=SEP), root


def test_only_file_unreadable_is_its_own_status(unreadable_run):
    cons, _ = unreadable_run
    status = {s.code: s for s in cons.statuses}
    assert status["11"].status == STATUS_UNREADABLE
    assert [Path(f).name for f in status["11"].files] == [SAITAMA]
    assert status["11"].errors == 1 and status["11"].sha256[0]
    assert status["11"].left_out == ("ブックを読み込めないため全体を除外（E110）",)
    assert status["12"].status == STATUS_MISSING
    assert ("11", "E110") in [(f.branch, f.code) for f in cons.findings]
    assert cons.unattributed == []


def test_only_file_unreadable_is_a_stub_submission_for_feedback(unreadable_run):
    cons, _ = unreadable_run
    stub = next(s for s in cons.submissions if s.branch_code == "11")
    assert Path(stub.path).name == SAITAMA and stub.branch_name == "埼玉支部"
    assert not is_readable(stub) and stub.kpis == {} and stub.term is None
    assert [f.code for f in stub.findings] == ["E110"] and stub.findings[0].branch == "11"


def test_only_file_unreadable_in_the_summary(unreadable_run):
    b = unreadable_run[0].summary()["branches"]
    assert (b["unreadable"], b["unreadable_codes"], b["unreadable_names"]) == (1, ["11"], ["11 埼玉支部"])
    assert b["submitted"] + b["with_errors"] == 1
    assert "11" not in b["missing_codes"] and "12 千葉支部" in b["missing_names"]
    assert b["missing"] == len(b["missing_codes"]) == len(b["missing_names"])


def test_only_file_unreadable_in_the_national_workbook(unreadable_run):
    cons, root = unreadable_run
    path = write_national(cons, root / "national.xlsx", force=True)
    wb = openpyxl.load_workbook(path, read_only=True)
    table = list(wb["提出状況"].iter_rows(values_only=True))
    at = next(i for i, r in enumerate(table) if r[0] == "支部コード")
    rows = {r[0]: dict(zip(table[at], r, strict=True)) for r in table[at + 1:] if r[0]}
    assert (rows["11"]["支部"], rows["11"]["状況"], rows["11"]["ファイル"]) == ("埼玉支部", STATUS_UNREADABLE, SAITAMA)
    assert rows["12"]["状況"] == STATUS_MISSING
    facts = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, max_row=9, values_only=True) if r[0]}
    assert f"{STATUS_UNREADABLE} 1" in facts["提出状況"]
    assert facts[STATUS_UNREADABLE] == "埼玉"


def test_lock_file_is_never_attributed(tmp_path, good):
    inbox = inbox_of(tmp_path, good, ["10"])
    (inbox / f"~${SAITAMA}").write_bytes(b"\x06user" + b"\x00" * 100)
    cons = consolidate(inbox, fiscal_year=FY, month=SEP)
    assert status_of(cons)["11"] == STATUS_MISSING
    assert [(Path(f).name, n) for f, n in cons.unattributed] == [(f"~${SAITAMA}", 1)]
    assert not any(s.branch_code == "11" for s in cons.submissions)


def test_corrupt_file_beside_a_good_one_uses_the_good_one(tmp_path, good):
    inbox = inbox_of(tmp_path, good, ["10", "11"])
    corrupt_zip(inbox / "11_埼玉支部_FY2024_KPI入力 (2).xlsx")
    cons = consolidate(inbox, fiscal_year=FY, month=SEP)
    assert "11" in cons.national["K6-2-07"].covered
    assert cons.branch_kpis[("11", "K6-2-07")].value is not None
    status = {s.code: s for s in cons.statuses}
    assert status["11"].status == STATUS_ERRORS and len(status["11"].files) == 2
    assert not any(f.code == "E207" for f in cons.findings)


# ---------------------------------------------------------------- the --baseline file never changes a status
def test_baseline_findings_never_change_a_branchs_status(tmp_path):
    cat = load_catalogue(6)
    values = sample_values(cat, FY, "11", SEP)
    inbox = tmp_path / "inbox"
    filled(tmp_path, inbox, FY, "11", values)
    before = consolidate(inbox, fiscal_year=FY, month=SEP)
    assert status_of(before)["11"] == STATUS_OK, [f.code for f in before.findings if f.is_error]
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("branch,kpi_id,value\n11,K6-2-01,abc\n12,K6-2-01,xyz\n", encoding="utf-8")
    cons = consolidate(inbox, fiscal_year=FY, month=SEP, baseline_path=baseline)
    assert [(f.code, f.branch) for f in cons.findings if f.code.startswith("G")] == [("G105", "11"), ("G105", "12")]
    assert status_of(cons)["11"] == STATUS_OK
    assert status_of(cons)["12"] == STATUS_MISSING
    assert {s.code: s.errors for s in cons.statuses}["11"] == 0


# ---------------------------------------------------------------- serial and forked validation agree
@pytest.fixture(scope="module")
def big_inbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big")
    codes = ["10", "11", "12", "13", "14", "15", "16", "17"]
    paths = sample_inbox(root, root / "inbox", FY, codes, SEP, edits={"14": {num("K6-2-01", SEP): "abc"}})
    data = paths[3].read_bytes()
    paths[3].write_bytes(data[:2000] + b"\x00" * 4000 + data[6000:])  # 13: damaged in the middle
    return root / "inbox"


def findings_of(result: validation.ValidationResult) -> list[dict[str, Any]]:
    return [f.to_dict() for f in result.findings]


def run_serial(inbox: Path, monkeypatch) -> validation.ValidationResult:
    with monkeypatch.context() as m:
        m.setattr(validation, "PARALLEL_MIN_FILES", 10**9)
        return validate([inbox], fiscal_year=FY, as_of=SEP)


def run_forked(inbox: Path, monkeypatch) -> tuple[validation.ValidationResult, list[int]]:
    calls: list[int] = []
    real = validation._map_forked

    def spy(files, fiscal_year, month, workers):
        calls.append(workers)
        return real(files, fiscal_year, month, workers)

    with monkeypatch.context() as m:
        m.setattr(validation, "PARALLEL_MIN_FILES", 8)
        m.setattr(validation, "fork_cpus", lambda: 3)
        m.setattr(validation, "_map_forked", spy)
        return validate([inbox], fiscal_year=FY, as_of=SEP), calls


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_serial_and_forked_validation_give_the_same_findings(big_inbox, monkeypatch):
    serial = run_serial(big_inbox, monkeypatch)
    forked, calls = run_forked(big_inbox, monkeypatch)
    assert calls == [3]
    assert findings_of(forked) == findings_of(serial)
    assert [s.path for s in forked.submissions] == [s.path for s in serial.submissions]
    assert [(Path(s.path).name[:2], s.branch_code) for s in forked.unreadable] == [("13", "13")]
    assert any(f["code"] == "E304" and f["branch"] == "14" for f in findings_of(forked))
    assert len(serial.submissions) == 7 and mp.active_children() == []


_PARENT = os.getpid()


def _dies_in_a_worker(path: Path | str) -> Any:
    if os.getpid() != _PARENT and Path(path).name.startswith("13_"):
        os._exit(3)  # what the kernel's out-of-memory killer looks like from here
    return read_workbook(path)


_REAL_CHECK = validation._check_file
_IN_PARENT: list[str] = []


def _check_file_spy(path: Path, fiscal_year: int | None, month: date | None) -> Any:
    if os.getpid() == _PARENT:
        _IN_PARENT.append(Path(path).name[:2])
    return _REAL_CHECK(path, fiscal_year, month)


def _interrupted_in_a_worker(path: Path | str) -> Any:
    if Path(path).name.startswith("12_"):
        raise KeyboardInterrupt
    return read_workbook(path)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_a_dead_worker_does_not_kill_the_run(big_inbox, monkeypatch):
    serial = run_serial(big_inbox, monkeypatch)
    monkeypatch.setattr(validation, "read_workbook", _dies_in_a_worker)
    monkeypatch.setattr(validation, "_check_file", _check_file_spy)
    _IN_PARENT.clear()
    forked, calls = run_forked(big_inbox, monkeypatch)
    assert calls == [3]
    assert "13" in _IN_PARENT  # the pool broke; what it left undone was checked here
    assert findings_of(forked) == findings_of(serial)
    assert [s.path for s in forked.every_submission] == [s.path for s in serial.every_submission]
    assert mp.active_children() == []


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_an_interrupt_ends_the_workers_before_it_is_raised(big_inbox, monkeypatch):
    monkeypatch.setattr(validation, "read_workbook", _interrupted_in_a_worker)
    with pytest.raises(KeyboardInterrupt):
        run_forked(big_inbox, monkeypatch)
    assert mp.active_children() == []


def test_validate_lists_files_it_does_not_read(tmp_path, good):
    inbox = inbox_of(tmp_path, good, ["10"])
    (inbox / "説明.pdf").write_bytes(b"%PDF-1.4")
    (inbox / "national_FY2024_2024-09.xlsx").write_bytes(b"PK")
    result = validate([inbox], fiscal_year=FY, as_of=SEP)
    assert [Path(f).name for f in result.files] == [good["10"].name]
    assert [(f.code, Path(f.file).name) for f in result.findings if f.code in ("W101", "W102")] == [
        ("W102", "national_FY2024_2024-09.xlsx"), ("W101", "説明.pdf")]


# ---------------------------------------------------------------- a failure of kpisheet itself (E190)
def _reader_fails_on_saitama(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside the reader (a TypeError) that shows on one file only."""
    from kpisheet.read import reader

    real = reader._Reader._saved

    def saved(self):
        if Path(self.path).name == SAITAMA:
            raise TypeError("'NoneType' object is not subscriptable")
        return real(self)

    monkeypatch.setattr(reader._Reader, "_saved", saved)
    monkeypatch.delenv("KPISHEET_DEBUG", raising=False)


def test_a_bug_in_the_reader_is_e190_not_the_branchs_fault_and_validate_exits_1(tmp_path, good, monkeypatch):
    from click.testing import CliRunner

    from kpisheet.cli import cli

    _reader_fails_on_saitama(monkeypatch)
    inbox = inbox_of(tmp_path, good, CODES)
    result = validate([inbox], fiscal_year=FY, as_of=SEP)
    internal = [f for f in result.findings if f.code == "E190"]
    assert [(Path(f.file).name, f.branch, f.context["reason"]) for f in internal] == [
        (SAITAMA, "11", "TypeError: 'NoneType' object is not subscriptable")]
    assert "E110" not in [f.code for f in result.findings]
    assert "支部のファイルの問題ではありません" in internal[0].message_ja and SAITAMA in internal[0].message_ja
    assert [s.branch_code for s in result.submissions] == ["10", "13"]  # the others were read and checked
    run = CliRunner().invoke(cli, ["validate", str(inbox), "--fy", str(FY), "--as-of", "2024-09"])
    assert run.exit_code == 1, run.output
    assert "kpisheetの内部エラー（E190） 1件" in run.output and f"{SAITAMA}（11 埼玉支部）" in run.output


def test_a_bug_in_the_reader_lets_consolidate_write_everything_and_exit_1(tmp_path, good, monkeypatch):
    import json

    from click.testing import CliRunner

    from kpisheet.cli import cli

    _reader_fails_on_saitama(monkeypatch)
    inbox, out = inbox_of(tmp_path, good, CODES), tmp_path / "out"
    run = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", str(FY), "--month", "2024-09", "-o", str(out),
                                   "--no-ledger", "--json"])
    assert run.exit_code == 1, run.output
    summary = json.loads(run.output[run.output.index("{"):])
    assert [(Path(f["file"]).name, f["code"]) for f in summary["internal_errors"]] == [(SAITAMA, "E190")]
    assert summary["branches"]["unreadable_codes"] == ["11"]
    assert (out / "feedback" / "10_群馬支部_FY2024_2024-09_確認事項.xlsx").is_file()  # the run went on
    assert (out / "feedback" / "13_東京支部_FY2024_2024-09_確認事項.xlsx").is_file()
    text = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", str(FY), "--month", "2024-09",
                                    "-o", str(tmp_path / "out2"), "--no-ledger"])
    assert text.exit_code == 1 and "kpisheetの内部エラー（E190） 1件" in text.output
