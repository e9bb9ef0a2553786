"""The reporting month must be there, and --month must match the inbox.

A file holding no figure for the reporting month is one finding (W422), one feedback item (the
month's and the lagging KPIs' W413 folded into it), a status of its own (報告月の入力なし) with the
month the file reaches (最終報告月).  A --month the workbooks do not hold stops the run before
anything is written (E209, exit 2), naming the month they hold.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet.cli import cli, summary_text
from kpisheet.consolidate.model import STATUS_NO_MONTH, STATUS_OK
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.month import WrongMonth, run_month
from kpisheet.write.feedback.items import fold
from tests.builders.sample import sample_values

from .consolidate_helpers import filled

FY, SEP, OCT = 2024, date(2024, 9, 1), date(2024, 10, 1)
CODES = ("10", "11", "12")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """群馬 and 埼玉 through October, 千葉 through September only."""
    root = tmp_path_factory.mktemp("repmonth")
    cat = load_catalogue(6)
    for code in CODES:
        filled(root, root / "inbox", FY, code, sample_values(cat, FY, code, SEP if code == "12" else OCT), CODES)
    return root / "inbox"


@pytest.fixture(scope="module")
def october(inbox: Path, tmp_path_factory: pytest.TempPathFactory):
    return run_month(inbox, FY, "2024-10", tmp_path_factory.mktemp("out"))


def test_a_file_without_the_reporting_month_has_a_status_of_its_own_and_its_last_month(october) -> None:
    statuses = {s.code: s for s in october.consolidation.statuses}
    assert (statuses["12"].status, statuses["12"].last_month) == (STATUS_NO_MONTH, "2024-09")
    assert (statuses["10"].status, statuses["10"].last_month) == (STATUS_OK, "2024-10")
    branches = october.to_dict()["branches"]
    assert (branches["no_reporting_month"], branches["no_reporting_month_codes"]) == (1, ["12"])
    assert "/ 報告月の入力なし 1（12 千葉支部） /" in summary_text(october.to_dict()).splitlines()[1]


def test_its_feedback_has_one_item_about_the_month(october) -> None:
    cons = october.consolidation
    chiba = next(s.path for s in cons.submissions if s.branch_code == "12")
    mine = [f for f in cons.findings if f.file == chiba]
    w421 = [f for f in mine if f.code == "W422"]
    assert len(w421) == 1 and w421[0].sheet == "KPI入力" and w421[0].cell
    assert w421[0].text_ja.startswith("10月分が入力されていません（9月分までのファイルです）。10月分を入力して再提出してください。")
    assert any(f.code == "W413" for f in mine)  # the per-KPI findings are still there, folded
    items = fold(mine, cons.catalogue)
    about_october = [i for i in items if "10月" in i.text_ja]
    assert len(about_october) == 1 and about_october[0].codes == "W422（W413）"
    assert [i for i in items if i.finding.code == "W413"] == []  # every missing month was due with October
    assert not any(f.code == "W422" for f in cons.findings if f.file != chiba)


def test_the_feedback_workbook_asks_for_the_month_not_for_nothing(october) -> None:
    path = next(p for p in october.outputs.paths if "12_千葉支部" in p.name and p.suffix == ".xlsx")
    rows = [[c for c in r if c is not None] for r in openpyxl.load_workbook(path)["確認事項"].iter_rows(values_only=True)]
    texts = ["".join(map(str, r)) for r in rows]
    assert any("10月分を入力して再提出してください" in t for t in texts[:4])  # the outcome line at the top
    assert not any("再提出は不要です" in t for t in texts)
    items = [r for r in rows if r and isinstance(r[0], int)]
    assert sum(1 for r in items if "10月" in str(r[1])) == 1


def test_the_national_workbook_shows_the_status_and_the_last_month(october) -> None:
    national = next(p for p in october.outputs.paths if p.name.startswith("national_"))
    wb = openpyxl.load_workbook(national)
    table = [r for r in wb["提出状況"].iter_rows(values_only=True)]
    head = next(i for i, r in enumerate(table) if r and "最終報告月" in r)
    col, status = table[head].index("最終報告月"), table[head].index("状況")
    rows = {r[0]: r for r in table[head + 1:] if r and r[0] in CODES}
    assert (rows["12"][status], rows["12"][col]) == (STATUS_NO_MONTH, "9月")
    assert (rows["10"][status], rows["10"][col]) == (STATUS_OK, "10月")
    facts = {r[0]: r[1] for r in wb["概要"].iter_rows(values_only=True) if r and r[0]}
    assert facts[STATUS_NO_MONTH] == "千葉（9月分まで）"
    assert f"{STATUS_NO_MONTH} 1" in facts["提出状況"]


# ---------------------------------------------------------------- a wrong --month
@pytest.mark.parametrize("month, after, holding", [("2024-09", 2, 3), ("2024-11", 0, 0)])
def test_a_wrong_month_stops_before_anything_is_written(inbox: Path, tmp_path: Path, month: str, after: int,
                                                        holding: int) -> None:
    out, ledger = tmp_path / "out", tmp_path / "kpisheet.sqlite"
    with pytest.raises(WrongMonth) as stopped:
        run_month(inbox, FY, month, out, ledger=ledger)
    f = stopped.value.finding
    assert (f.code, f.value, stopped.value.held, stopped.value.after) == ("E209", month, OCT, after)
    assert stopped.value.with_month == holding
    assert "--month 2024-10 を指定して再実行してください" in f.message_ja and "--month 2024-10" in f.message_en
    assert not out.exists() and not ledger.exists()  # no output, no ledger record


def test_a_month_most_files_hold_runs(inbox: Path, tmp_path: Path) -> None:
    # 2 of 3 files reach October, 1 holds September: October is the month; September would stop
    result = run_month(inbox, FY, "2024-10", tmp_path / "out", ledger=tmp_path / "kpisheet.sqlite")
    assert result.record is not None and result.outputs.paths


def test_the_month_check_can_be_turned_off_for_an_earlier_month(inbox: Path, tmp_path: Path) -> None:
    result = run_month(inbox, FY, "2024-09", tmp_path / "out", month_check=False)
    assert result.consolidation.month == SEP and result.outputs.paths


def test_cli_exits_2_naming_the_month_and_writes_nothing(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", "2024", "--month", "2024-09", "-o", str(out),
                                      "--ledger", str(tmp_path / "kpisheet.sqlite")])
    assert result.exit_code == 2, result.output
    assert "E209" in result.stderr and "--month 2024-10 を指定して再実行してください" in result.stderr
    assert "--any-month" in result.stderr
    assert not out.exists() and not (tmp_path / "kpisheet.sqlite").exists()


@pytest.mark.skipif(not (ROOT / "examples" / "inbox_FY2024").is_dir(), reason="examples not built")
def test_the_shipped_examples_with_september_stop_with_the_hint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["consolidate", str(ROOT / "examples" / "inbox_FY2024"), "--fy", "2024",
                                      "--month", "2024-09", "-o", str(out), "--no-ledger"])
    assert result.exit_code == 2, result.output
    assert "令和6年10月分までの値を入力しています。--month 2024-10 を指定して再実行してください。" in result.stderr
    assert not out.exists()


def test_last_reported_month_is_the_latest_month_with_any_figure_up_to_as_of() -> None:
    """Any KPI's figure (or text typed where one belongs) makes a month reported; months after
    `as_of` do not count; a file without figures has none."""
    from kpisheet.check.rules.months import last_reported_month
    from kpisheet.domain.model import InputValue, KpiEntry, KpiMonth, Submission

    def sub(**months: dict[str, InputValue]) -> Submission:
        s = Submission("f.xlsx", "", 1, None, 6, 2024, "11", "埼玉支部")
        for kpi_id, by_month in months.items():
            s.kpis[kpi_id] = KpiEntry(kpi_id, months={k: KpiMonth(k, value=v) for k, v in by_month.items()})
        return s

    blank = InputValue(None)
    one = sub(A={"2024-04": InputValue(3.0), "2024-05": blank, "2024-06": blank},
              B={"2024-04": blank, "2024-05": InputValue(None, raw="あ"), "2024-06": blank},
              C={"2024-07": InputValue(1.0)})
    assert last_reported_month(one) == date(2024, 7, 1)
    assert last_reported_month(one, date(2024, 6, 1)) == date(2024, 5, 1)  # text typed counts as reported
    assert last_reported_month(one, date(2024, 3, 1)) is None
    assert last_reported_month(sub(A={"2024-04": blank})) is None
