"""Arguments and outputs: usage errors before reading, one run per folder, all-or-nothing outputs.

Inboxes are filled copies of the real templates (tests/consolidate_helpers.py);
odd cases (a wrong fiscal year, a feedback writer that fails, a full disk, a
corrupted branch file) are built or simulated in each test.
"""

from __future__ import annotations

import csv

import errno
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpisheet.cli import cli, summary_text
from kpisheet.month import consolidate
from kpisheet.write import outputs
from kpisheet.write.outputs import LOCK_NAME, STAGING_PREFIX, output_lock, output_names, write_outputs

from .consolidate_helpers import sample_inbox

OCT24 = date(2024, 10, 1)
NAMES = output_names(2024, OCT24)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    """Filled FY2024 workbooks of 群馬 (10) and 埼玉 (11) through October."""
    root = tmp_path_factory.mktemp("outputs")
    sample_inbox(root, root / "inbox", 2024, ["10", "11"], OCT24)
    return root / "inbox"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def consolidate_args(inbox: Path, out: Path, *extra: str, fy: str = "2024", month: str = "2024-10") -> list[str]:
    return ["consolidate", str(inbox), "--fy", fy, "--month", month, "-o", str(out), *extra]


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (relative name -> bytes), the run lock left out."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def leftovers(folder: Path) -> list[str]:
    """Temporary files or staging folders left in `folder`."""
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(STAGING_PREFIX)]


# ---------------------------------------------------------------- arguments: exit 2 before reading
@pytest.mark.parametrize("month", ["2024-03", "2023-12", "2025-04"])
def test_month_outside_the_fiscal_year_is_a_usage_error(inbox, tmp_path, month):
    result = run(*consolidate_args(inbox, tmp_path / "out", month=month))
    assert result.exit_code == 2, result.output
    assert f"{month} は令和6年度（FY2024：2024-04〜2025-03）の月ではありません" in result.output
    assert not (tmp_path / "out").exists()


def test_first_and_last_month_of_the_fiscal_year_are_accepted(inbox, tmp_path):
    # the files hold April to October: both months are valid options, and --any-month runs them
    assert run(*consolidate_args(inbox, tmp_path / "a", month="2024-04"), "--any-month").exit_code == 0
    assert run(*consolidate_args(inbox, tmp_path / "b", month="2025-03"), "--any-month").exit_code == 0
    # without it, the month check (E209) stops them: the files hold later months, or none of March
    for month in ("2024-04", "2025-03"):
        result = run(*consolidate_args(inbox, tmp_path / "c", month=month))
        assert result.exit_code == 2 and "E209" in result.stderr and "--month 2024-10" in result.stderr
    assert not (tmp_path / "c").exists()


def test_not_a_month_is_a_usage_error(inbox, tmp_path):
    result = run(*consolidate_args(inbox, tmp_path / "out", month="2024-13"))
    assert result.exit_code == 2 and "は年月ではありません" in result.output


@pytest.mark.parametrize("fy", ["1900", "2030"])
def test_fiscal_year_without_a_catalogue_is_a_usage_error_in_every_command(inbox, tmp_path, fy):
    msg = f"{fy}年度に対応するKPIカタログがありません"
    for args in (consolidate_args(inbox, tmp_path / "out", fy=fy, month=f"{fy}-10"),
                 ["validate", str(inbox), "--fy", fy],
                 ["generate", "--fy", fy, "-o", str(tmp_path / "gen")],
                 ["catalogue", "--fy", fy]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert msg in result.output, args
    assert not (tmp_path / "out").exists() and not (tmp_path / "gen").exists()


def test_validate_as_of_outside_the_fiscal_year_is_a_usage_error(inbox):
    result = run("validate", str(inbox), "--fy", "2024", "--as-of", "2025-04")
    assert result.exit_code == 2 and "--as-of" in result.output and "2025-04" in result.output
    assert run("validate", str(inbox), "--as-of", "2025-04").exit_code == 0  # no --fy: any month


def test_output_folder_in_or_equal_to_the_inbox_is_a_usage_error(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for out in (inbox, inbox / "out", inbox / "a" / "b"):
        result = run(*consolidate_args(inbox, out))
        assert result.exit_code == 2, result.output
        assert "受信箱の外を指定してください" in result.output
    assert sorted(p.name for p in inbox.iterdir()) == []


def test_missing_inbox_is_a_usage_error(tmp_path):
    result = run(*consolidate_args(tmp_path / "nowhere", tmp_path / "out"))
    assert result.exit_code == 2 and "nowhere がありません" in result.output


# ---------------------------------------------------------------- no workbook of --fy
def test_inbox_of_another_fiscal_year_exits_1_names_its_year_and_writes_nothing(inbox, tmp_path):
    out = tmp_path / "out"
    result = run(*consolidate_args(inbox, out, fy="2023", month="2023-10"))
    assert result.exit_code == 1, result.output
    assert "受信箱のブックは令和6年度（FY2024）です。--fy 2024 を指定してください。" in result.stderr
    assert files_under(out) == {}


def test_empty_inbox_still_exits_1(tmp_path):
    (tmp_path / "inbox").mkdir()
    result = run(*consolidate_args(tmp_path / "inbox", tmp_path / "out"))
    assert result.exit_code == 1 and "読み込めるブックがありません" in result.stderr
    assert files_under(tmp_path / "out") == {}


# ---------------------------------------------------------------- generate never overwrites
def test_generate_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "gen"
    out.mkdir()
    existing = out / "10_群馬支部_FY2024_KPI入力.xlsx"
    existing.write_bytes(b"a filled workbook the branch sent back")
    result = run("generate", "--fy", "2024", "--branch", "10", "--branch", "11", "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "既にあります" in result.stderr and str(existing) in result.stderr
    assert existing.read_bytes() == b"a filled workbook the branch sent back"
    assert sorted(p.name for p in out.iterdir()) == [existing.name]  # 11 not written either

    result = run("generate", "--fy", "2024", "--branch", "10", "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(existing)


def test_generate_library_raises_naming_every_existing_file(tmp_path):
    from kpisheet.fileio import OutputExistsError
    from kpisheet.template.build import generate

    first = generate(2024, ["10", "11"], tmp_path)
    with pytest.raises(OutputExistsError) as info:
        generate(2024, ["10", "11", "12"], tmp_path)
    assert list(info.value.paths) == first.paths
    assert not (tmp_path / "12_千葉支部_FY2024_KPI入力.xlsx").exists()


# ---------------------------------------------------------------- existing and stale outputs
def test_existing_outputs_without_force_exit_1_and_nothing_is_written(inbox, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / NAMES["csv"]).write_bytes(b"older csv")
    result = run(*consolidate_args(inbox, out))
    assert result.exit_code == 1
    assert str(out / NAMES["csv"]) in result.stderr and "--force" in result.stderr
    assert files_under(out) == {NAMES["csv"]: b"older csv"}
    assert leftovers(out) == []


def test_force_removes_the_stale_feedback_of_a_vanished_branch_and_nothing_else(inbox, tmp_path):
    box, out = tmp_path / "inbox", tmp_path / "out"
    shutil.copytree(inbox, box)
    assert run(*consolidate_args(box, out)).exit_code == 0
    stale = out / "feedback" / "11_埼玉支部_FY2024_2024-10_確認事項.xlsx"
    assert stale.is_file()
    unrelated = [out / "feedback" / "11_埼玉支部_FY2024_2024-09_確認事項.xlsx",  # another month
                 out / "feedback" / "11_埼玉支部_FY2023_2024-10_確認事項.xlsx",  # another year (made up)
                 out / "feedback" / "メモ.txt", out / "national_FY2024_2024-09.xlsx", out / "notes.xlsx"]
    for p in unrelated:
        p.write_bytes(b"keep me")
    next(box.glob("11_*")).unlink()

    result = run(*consolidate_args(box, out, "--force"))
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert (out / "feedback" / "10_群馬支部_FY2024_2024-10_確認事項.xlsx").is_file()
    assert all(p.read_bytes() == b"keep me" for p in unrelated)
    assert leftovers(out) == []


def test_outputs_keep_the_usual_file_permissions(inbox, tmp_path):
    out = tmp_path / "out"
    assert run(*consolidate_args(inbox, out)).exit_code == 0
    mask = os.umask(0o022)
    os.umask(mask)
    assert (out / NAMES["national"]).stat().st_mode & 0o777 == 0o666 & ~mask


# ---------------------------------------------------------------- one run per output folder
def test_second_run_exits_1_while_another_holds_the_folder(inbox, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(outputs, "LOCK_WAIT", 0.3)
    with output_lock(out, 0):
        result = run(*consolidate_args(inbox, out))
    assert result.exit_code == 1
    assert f"別の kpisheet が {out} に書き込み中です" in result.stderr
    assert files_under(out) == {} and leftovers(out) == []


def test_second_run_waits_for_the_first_to_finish(inbox, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    held, release = threading.Event(), threading.Event()

    def first_run() -> None:
        with output_lock(out, 0):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=first_run)
    holder.start()
    held.wait(10)
    cons = consolidate(inbox, fiscal_year=2024, month=OCT24)
    threading.Timer(0.2, release.set).start()
    result = write_outputs(cons, out, force=False, lock_wait=30)
    holder.join()
    assert (out / NAMES["national"]).is_file() and len(result.paths) == len(outputs.HQ_OUTPUTS) + 2 + 2  # + CSV and its xlsx copy, feedback


def test_two_runs_at_once_never_leave_outputs_of_both(inbox, tmp_path):
    """Two processes write different inboxes into one folder: the files left come from one run."""
    one, two, out = tmp_path / "one", tmp_path / "two", tmp_path / "out"
    one.mkdir()
    two.mkdir()
    shutil.copy(next(inbox.glob("10_*")), one)
    shutil.copy(next(inbox.glob("11_*")), two)
    procs = [subprocess.Popen([sys.executable, "-m", "kpisheet", *consolidate_args(box, out, "--force")],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for box in (one, two)]
    results = [(p.wait(120), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
    for code, err in results:  # the loser meets the output lock or, first, the ledger's (L103): both say so
        assert code == 0 or (code == 1 and ("書き込み中です" in err or "使用中です" in err)), err
    assert any(code == 0 for code, _ in results)
    feedback = sorted(p.name[:2] for p in (out / "feedback").iterdir())
    assert len(feedback) == 1  # the last run's branch only (--force removed the other's)
    with open(out / NAMES["csv"], encoding="utf-8-sig", newline="") as f:
        branches_with_values = {r["branch_code"] for r in csv.DictReader(f) if r["status"] == "ok"}
    assert branches_with_values - {"ALL"} == set(feedback)
    assert leftovers(out) == []


# ---------------------------------------------------------------- one feedback file fails alone
def test_a_failing_feedback_writer_is_an_E190_on_that_file_and_the_run_goes_on_and_exits_1(inbox, tmp_path,
                                                                                           monkeypatch):
    real = outputs.write_feedback

    def flaky(cons, sub, outdir, *, force):
        if sub.branch_code == "11":
            raise ValueError("broken drawing part")
        return real(cons, sub, outdir, force=force)

    monkeypatch.setattr(outputs, "write_feedback", flaky)
    out = tmp_path / "out"
    result = run(*consolidate_args(inbox, out))
    assert result.exit_code == 1, result.output  # kpisheet failed on a file: HQ must look
    assert "E190" in result.stderr and "ValueError: broken drawing part" in result.stderr
    assert "11_埼玉支部_FY2024_KPI入力.xlsx" in result.stderr
    assert "確認事項を書けなかった支部ブック: 1件（E190、上記参照）" in result.stdout
    assert "kpisheetの内部エラー（E190） 1件" in result.stdout
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["10_群馬支部_FY2024_2024-10_確認事項.xlsx"]
    assert (out / NAMES["national"]).is_file()

    cons = consolidate(inbox, fiscal_year=2024, month=OCT24)
    res = write_outputs(cons, tmp_path / "lib", force=False)
    assert [(f.code, Path(f.file or "").name, f.branch) for f in res.findings] == \
           [("E190", "11_埼玉支部_FY2024_KPI入力.xlsx", "11")]
    assert "ValueError: broken drawing part" in res.findings[0].text_en


# ---------------------------------------------------------------- a full disk
def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "kpi_values.csv")


def test_full_disk_exits_1_with_a_message_and_leaves_nothing(inbox, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(outputs, "write_kpi_values_csv", _disk_full)
    result = run(*consolidate_args(inbox, out))
    assert result.exit_code == 1
    assert "ディスクの空きが足りません" in result.stderr and "The disk is full" in result.stderr
    assert files_under(out) == {} and leftovers(out) == []


def test_full_disk_in_a_feedback_file_is_not_an_E110(inbox, tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "write_feedback", _disk_full)
    result = run(*consolidate_args(inbox, tmp_path / "out"))
    assert result.exit_code == 1 and "ディスクの空きが足りません" in result.stderr
    assert files_under(tmp_path / "out") == {}


def test_full_disk_in_the_forked_child_writing_the_national_workbook(inbox, tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "write_national", _disk_full)
    cons = consolidate(inbox, fiscal_year=2024, month=OCT24)
    with pytest.raises(OSError) as info:
        write_outputs(cons, tmp_path / "lib", force=False, parallel=True)
    assert info.value.errno == errno.ENOSPC
    assert files_under(tmp_path / "lib") == {} and leftovers(tmp_path / "lib") == []

    monkeypatch.setattr(outputs, "fork_cpus", lambda: 2)  # the CLI's default path forks too
    result = run(*consolidate_args(inbox, tmp_path / "out"))
    assert result.exit_code == 1 and "ディスクの空きが足りません" in result.stderr
    assert files_under(tmp_path / "out") == {} and leftovers(tmp_path / "out") == []


# ---------------------------------------------------------------- read: regular files only
def test_read_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "10_群馬支部_FY2024_KPI入力.xlsx"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    for target in (fifo, tmp_path, Path("/dev/zero")):
        result = run("read", str(target))
        assert result.exit_code == 1, (target, result.output)
        assert "通常のファイルではありません" in result.stderr
    assert run("read", str(tmp_path / "missing.xlsx")).exit_code == 2


# ---------------------------------------------------------------- summary text
def test_summary_text_names_the_branches_of_each_status():
    summary = {"fiscal_year": 2024, "fiscal_year_ja": "令和6年度", "month": "2024-10",
               "branches": {"submitted": 44, "with_errors": 1, "unreadable": 1, "unreadable_codes": ["13"],
                            "missing": 2, "missing_codes": ["32", "47"]},
               "findings": {"errors": 3, "warnings": 1}, "outputs": []}
    line = summary_text(summary).splitlines()[1]
    assert line == ("  提出済 44 / エラーあり 1 / 提出あり・読込不可 1（13 東京支部） / "
                    "未提出 2（32 島根支部, 47 沖縄支部）")
    summary["branches"]["missing_names"] = ["32 島根支部", "47 沖縄支部"]  # as Consolidation.summary gives them
    assert "未提出 2（32 島根支部, 47 沖縄支部）" in summary_text(summary)
    del summary["branches"]["unreadable"], summary["branches"]["unreadable_codes"]
    assert "提出あり・読込不可 0" in summary_text(summary)  # a summary without the key


def test_consolidate_prints_the_missing_branches_by_name(inbox, tmp_path):
    result = run(*consolidate_args(inbox, tmp_path / "out"))
    assert result.exit_code == 0
    assert "未提出 46（00 本部, 01 北海道支部, 02 青森支部," in result.stdout and "47 沖縄支部）" in result.stdout


# ---------------------------------------------------------------- two files of one branch
def test_a_copy_beside_the_original_gets_its_own_feedback_file(inbox, tmp_path):
    box, out = tmp_path / "inbox", tmp_path / "out"
    shutil.copytree(inbox, box)
    original = next(box.glob("10_*"))
    shutil.copy(original, box / f"{original.stem}(2).xlsx")
    result = run(*consolidate_args(box, out))
    assert result.exit_code == 0, result.output
    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(feedback) == 3 and len([n for n in feedback if n.startswith("10_")]) == 2
    assert "既にあります" not in result.stderr

    box.joinpath(f"{original.stem}(2).xlsx").unlink()  # the copy is withdrawn: its feedback is stale
    result = run(*consolidate_args(box, out, "--force"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        "10_群馬支部_FY2024_2024-10_確認事項.xlsx", "11_埼玉支部_FY2024_2024-10_確認事項.xlsx"]


# ---------------------------------------------------------------- the shipped inbox with one corrupt file
def test_shipped_inbox_with_one_corrupted_file_still_writes_everything_else(tmp_path):
    box = tmp_path / "inbox"
    shutil.copytree(ROOT / "examples" / "inbox_FY2024", box)
    victim = next(box.glob("13_*"))
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes((b ^ 0x5A) for b in data[middle:middle + 64])
    victim.write_bytes(bytes(data))

    cons = consolidate(box, fiscal_year=2024, month=OCT24)
    result = write_outputs(cons, tmp_path / "out", force=False)
    out = tmp_path / "out"
    assert (out / NAMES["national"]).is_file() and (out / NAMES["csv"]).is_file()
    written = {p.name[:2] for p in (out / "feedback").iterdir()}
    others = {p.name[:2] for p in box.glob("[0-4]*.xlsx")} - {"13"}
    assert len(others) == 45
    assert others <= written
    assert result.paths[0] == out / NAMES["national"]
    assert any(f.file and Path(f.file).name == victim.name and f.is_error for f in cons.findings)


# ---------------------------------------------------------------- --baseline findings
def test_findings_about_the_baseline_file_are_printed_and_the_run_goes_on(inbox, tmp_path):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("branch,kpi_id,value\n10,K6-2-01,abc\n", encoding="utf-8")
    result = run(*consolidate_args(inbox, tmp_path / "out", "--baseline", str(baseline)))
    assert result.exit_code == 0, result.output
    assert f"前年度値ファイル {baseline} について" in result.stderr and "G105" in result.stderr
    assert "提出済 2 / エラーあり 0" in result.stdout  # the branches' status is their own
