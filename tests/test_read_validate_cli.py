"""`kpisheet read` / `kpisheet validate`: exit codes, output grouped by file, --json equal to the library."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from kpisheet.check.validation import validate
from kpisheet.cli import cli
from kpisheet.read.reader import read_workbook
from kpisheet.resources import data_dir
from tests import helpers as h
from tests.test_validation import clean_values


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder like HQ's: one good workbook, one with a typing error, a lock file and an old .xls."""
    base = tmp_path_factory.mktemp("cli")
    tpl = h.make_template(base, h.FY, "10")
    folder = base / "inbox"
    folder.mkdir()
    h.fill(tpl, folder / tpl.name, {"in_K6_2_07_val_202404": "1,170事業所", "in_K6_2_11_target": 0.5})
    tpl11 = h.make_template(base, h.FY, "11")
    h.fill(tpl11, folder / tpl11.name, {"in_K6_2_11_target": 0.5, "in_M_6_1_I_1_rating": "A"})
    h.lock_file(folder)
    h.ole_blob(folder, encrypted=False, name="12_千葉.xls")
    clean = base / "clean"
    clean.mkdir()
    values = clean_values()
    values["in_K6_2_07_val_202404"] = f"{values['in_K6_2_07_val_202404']:,.0f}事業所"  # one W305
    h.fill(tpl, clean / tpl.name, values)
    return folder


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args))


def test_read_json_conforms_to_schema(inbox: Path) -> None:
    path = next(inbox.glob("10_*.xlsx"))
    result = invoke("read", str(path), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    schema = json.loads((data_dir("schemas") / "submission.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(record)
    assert record == json.loads(json.dumps(read_workbook(path).to_dict(), ensure_ascii=False))
    assert "W305" in result.stderr  # warnings go to stderr


def test_read_text_summary(inbox: Path) -> None:
    result = invoke("read", str(next(inbox.glob("10_*.xlsx"))))
    assert result.exit_code == 0
    assert "群馬支部（10） 令和6年度（FY2024） 第6期" in result.stdout
    assert "e+0" not in result.stdout  # numbers as the display module shows them, never 「7.78046e+08」
    assert re.search(r"K6-1-01  目標 \d+\.\d%", result.stdout), result.stdout  # a percent KPI's target with its unit


@pytest.mark.parametrize("name, code", [("~$10_群馬.xlsx", "E102"), ("12_千葉.xls", "E104")])
def test_read_unreadable_exits_1(inbox: Path, name: str, code: str) -> None:
    result = invoke("read", str(inbox / name))
    assert result.exit_code == 1
    assert code in result.stderr and "Traceback" not in result.output


def test_read_usage_errors_exit_2(tmp_path: Path) -> None:
    assert invoke("read").exit_code == 2
    assert invoke("read", str(tmp_path / "nothing.xlsx")).exit_code == 2


def test_validate_folder_groups_by_file_and_exits_1(inbox: Path) -> None:
    result = invoke("validate", str(inbox), "--fy", "2024", "--as-of", "2024-04")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "Traceback" not in out
    for name in ("~$10_群馬.xlsx", "12_千葉.xls", "11_埼玉支部_FY2024_KPI入力.xlsx"):
        assert f"■ {name}" in out
    assert "E407 エラー: 【11_埼玉支部_FY2024_KPI入力.xlsx › '取組状況'!" in out
    assert "4ファイル / files" in out


def test_validate_json_equals_library(inbox: Path) -> None:
    result = invoke("validate", str(inbox), "--as-of", "2024-04", "--json")
    assert result.exit_code == 1
    lib = validate([inbox], as_of="2024-04").to_dict()
    assert json.loads(result.stdout) == json.loads(json.dumps(lib, ensure_ascii=False))
    for f in json.loads(result.stdout)["findings"]:
        assert set(f) >= {"file", "branch", "sheet", "cell", "name", "subject", "code", "severity",
                          "message_ja", "message_en"}


def test_validate_clean_file_exits_0(inbox: Path) -> None:
    result = invoke("validate", str(inbox.parent / "clean"), "--fy", "2024", "--as-of", "2024-09")
    assert result.exit_code == 0, result.output  # the W305 warning does not fail the run
    assert "W305 警告" in result.stdout


@pytest.mark.parametrize("args", [["--as-of", "2024/13"], ["--fy", "1999"], []])
def test_validate_usage_errors_exit_2(inbox: Path, tmp_path: Path, args: list[str]) -> None:
    paths = [] if not args else [str(inbox)]
    assert invoke("validate", *paths, *args).exit_code == 2
    assert invoke("validate", str(tmp_path / "missing")).exit_code == 2
