"""list_inbox(): what an inbox folder yields to the reader, and what it says about everything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kpisheet.check.inbox import list_inbox


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(files: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in files]


def said(findings: list, root: Path) -> list[tuple[str, str, str]]:
    return [(f.code, Path(f.file).relative_to(root).as_posix(), f.context["reason"]) for f in findings]


def test_workbooks_are_read_sorted_and_recursively(tmp_path: Path) -> None:
    for n in ["12_b.xlsx", "11_a.xlsx", "sub/13_c.XLSX", "sub/deeper/14_d.xls", "15_e.xlsm", "16.ods", "17.csv",
              "18.xlsb"]:
        touch(tmp_path / n)
    files, findings = list_inbox([tmp_path])
    assert names(files, tmp_path) == ["11_a.xlsx", "12_b.xlsx", "15_e.xlsm", "16.ods", "17.csv", "18.xlsb",
                                      "sub/13_c.XLSX", "sub/deeper/14_d.xls"]
    assert findings == []


def test_system_and_hidden_files_and_hidden_folders_are_skipped_silently(tmp_path: Path) -> None:
    for n in ["Thumbs.db", "desktop.ini", ".DS_Store", "._11_a.xlsx", ".hidden", ".git/config",
              ".secret/12_b.xlsx", "11_a.xlsx"]:
        touch(tmp_path / n)
    files, findings = list_inbox([tmp_path])
    assert names(files, tmp_path) == ["11_a.xlsx"]
    assert findings == []


def test_lock_files_are_kept_for_the_reader(tmp_path: Path) -> None:
    touch(tmp_path / "~$11_a.xlsx")
    touch(tmp_path / ".~lock.11_a.xlsx#")
    files, findings = list_inbox([tmp_path])
    assert names(files, tmp_path) == [".~lock.11_a.xlsx#", "~$11_a.xlsx"]
    assert findings == []


@pytest.mark.parametrize("name, reason", [
    ("11_埼玉支部_FY2024_KPI入力", "拡張子なし / no extension"),
    ("説明資料.pdf", "拡張子 .pdf / extension"),
    ("メモ.TXT", "拡張子 .txt / extension"),
    ("11_埼玉支部_FY2024_KPI入力.xlsx.bak", "拡張子 .bak / extension"),
    ("11_埼玉支部_FY2024_KPI入力.xlsx_", "拡張子 .xlsx_ / extension"),
])
def test_every_other_file_gets_w101_naming_it(tmp_path: Path, name: str, reason: str) -> None:
    touch(tmp_path / name)
    files, findings = list_inbox([tmp_path])
    assert files == []
    assert said(findings, tmp_path) == [("W101", name, reason)]
    assert findings[0].severity == "warning" and findings[0].branch is None
    assert name in findings[0].message_ja


@pytest.mark.parametrize("name", ["national_FY2024_2024-10.xlsx", "national_FY2024_2024-10 (2).xlsx",
                                  "kpi_values_FY2024_2024-10.csv", "kpi_values_FY2024_2024-10.xlsx",
                                  "11_埼玉支部_FY2024_2024-10_確認事項.xlsx",
                                  ".kpisheet-abc123.xlsx.tmp", ".kpisheet.lock"])
def test_kpisheet_outputs_get_w102_and_are_not_read(tmp_path: Path, name: str) -> None:
    touch(tmp_path / name)
    touch(tmp_path / "11_a.xlsx")
    files, findings = list_inbox([tmp_path])
    assert names(files, tmp_path) == ["11_a.xlsx"]
    assert [(f.code, Path(f.file).name) for f in findings] == [("W102", name)]


def test_a_runs_feedback_folder_is_one_w102_and_not_entered(tmp_path: Path) -> None:
    touch(tmp_path / "out/national_FY2024_2024-10.xlsx")
    touch(tmp_path / "out/feedback/11_埼玉支部_FY2024_2024-10_確認事項.xlsx")
    touch(tmp_path / "out/feedback/11_copy.xlsx")
    touch(tmp_path / "11_a.xlsx")
    files, findings = list_inbox([tmp_path])
    assert names(files, tmp_path) == ["11_a.xlsx"]
    assert [(f.code, Path(f.file).relative_to(tmp_path).as_posix()) for f in findings] == [
        ("W102", "out/feedback"), ("W102", "out/national_FY2024_2024-10.xlsx")]


def test_a_folder_merely_called_feedback_is_read(tmp_path: Path) -> None:
    touch(tmp_path / "feedback/11_a.xlsx")
    files, findings = list_inbox([tmp_path])
    assert names(files, tmp_path) == ["feedback/11_a.xlsx"]
    assert findings == []


@pytest.mark.parametrize("name", ["national_FY2024_2024-10.xlsx", "notes.pdf", "11_a", "~$11_a.xlsx",
                                  ".hidden.xlsx"])
def test_a_file_named_explicitly_is_always_read(tmp_path: Path, name: str) -> None:
    path = touch(tmp_path / name)
    assert list_inbox([path]) == ([path], [])


def test_missing_explicit_path_is_passed_on_for_the_reader(tmp_path: Path) -> None:
    missing = tmp_path / "11_a.xlsx"
    assert list_inbox([missing]) == ([missing], [])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "11_a.xlsx"
    os.mkfifo(fifo)
    files, findings = list_inbox([tmp_path])
    assert files == []
    assert said(findings, tmp_path) == [("W101", "11_a.xlsx", "通常のファイルではありません / not a regular file")]
    files, findings = list_inbox([fifo])
    assert files == [] and [f.code for f in findings] == ["W101"]


def test_folders_and_files_mixed_keep_argument_order(tmp_path: Path) -> None:
    a = touch(tmp_path / "b/12_b.xlsx")
    b = touch(tmp_path / "a.xlsx")
    files, _ = list_inbox([tmp_path / "b", b])
    assert files == [a, b]
