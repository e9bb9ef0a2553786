"""kpisheet.month from Python: the rules of a month's run hold without the CLI.

A closed month is refused to a library caller exactly as to `kpisheet consolidate`; the ledger
adds to a new Consolidation and leaves the one it was given alone; a failed first run removes
only a ledger it created itself (review R5).
"""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from click.testing import CliRunner

from kpisheet.cli import cli, findings_text
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.findings import KpisheetError
from kpisheet.fileio import OutputExistsError
from kpisheet import ledger as led
from kpisheet.month import NothingReadable, consolidate, run_month
from kpisheet.write.outputs import output_names
from tests.builders.sample import sample_values

from .consolidate_helpers import filled

FY, OCT = 2024, date(2024, 10, 1)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("month")
    filled(root, root / "inbox", FY, "10", sample_values(load_catalogue(6), FY, "10", OCT))
    return root / "inbox"


def test_a_closed_month_is_refused_to_a_python_caller_as_to_the_cli(inbox, tmp_path):
    ledger = tmp_path / "kpisheet.sqlite"
    run_month(inbox, FY, "2024-10", tmp_path / "first", ledger=ledger)
    with led.opened(ledger) as book:
        led.close_month(book, FY, "2024-10")
    with pytest.raises(KpisheetError) as refused:
        run_month(inbox, FY, "2024-10", tmp_path / "again", ledger=ledger)
    assert [f.code for f in refused.value.findings] == ["L104"]
    assert not (tmp_path / "again").exists()  # refused before anything was read or written
    result = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", str(FY), "--month", "2024-10",
                                      "-o", str(tmp_path / "again"), "--ledger", str(ledger)])
    assert result.exit_code == 1 and findings_text(refused.value.findings) in result.stderr
    assert not (tmp_path / "again").exists()


def test_the_ledger_adds_to_a_new_consolidation_and_leaves_the_given_one_alone(inbox, tmp_path):
    ledger = tmp_path / "kpisheet.sqlite"
    run_month(inbox, FY, "2024-10", tmp_path / "first", ledger=ledger)
    cons = consolidate(inbox, fiscal_year=FY, month=OCT)
    with led.opened(ledger) as book:
        plan = led.attach(book, cons)
    attached = plan.applied_to(cons)
    assert cons.previous_year is None and cons.no_comparison == {}  # as built: no ledger
    assert attached is not cons and attached.previous_year == {} and attached.no_comparison
    assert attached.year_on_year("10", "K6-2-01").reason_ja != "台帳なし"
    assert cons.year_on_year("10", "K6-2-01").reason_ja == "台帳なし"


def test_nothing_readable_is_an_exception_and_nothing_is_written(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "memo.txt").write_text("not a workbook")
    with pytest.raises(NothingReadable):
        run_month(tmp_path / "inbox", FY, "2024-10", tmp_path / "out", ledger=tmp_path / "kpisheet.sqlite")
    assert not (tmp_path / "out").exists() and not (tmp_path / "kpisheet.sqlite").exists()


def test_a_failed_first_run_removes_the_ledger_it_created(inbox, tmp_path):
    out, ledger = tmp_path / "out", tmp_path / "new" / "kpisheet.sqlite"
    out.mkdir()
    (out / output_names(FY, OCT)["national"]).write_bytes(b"published")
    with pytest.raises(OutputExistsError):
        run_month(inbox, FY, "2024-10", out, ledger=ledger)
    assert not ledger.exists() and not list(ledger.parent.iterdir())  # nor a -wal, -shm or temporary file


def test_a_failed_first_run_leaves_a_ledger_another_run_is_writing_to(inbox, tmp_path, monkeypatch):
    """R5: this run created the ledger, another run opened it and holds its write lock; this run
    gives up (L103) and must not delete the file under the other one."""
    ledger = tmp_path / "kpisheet.sqlite"
    other: list[sqlite3.Connection] = []
    real_create = led.create_ledger

    def create_then_another_run_begins(path):
        created = real_create(path)
        other.append(sqlite3.connect(path, isolation_level=None))
        other[0].execute("BEGIN IMMEDIATE")
        return created

    monkeypatch.setattr(led, "create_ledger", create_then_another_run_begins)
    monkeypatch.setattr(led, "BUSY_SECONDS", 0.2)
    with pytest.raises(KpisheetError) as busy:
        run_month(inbox, FY, "2024-10", tmp_path / "out", ledger=ledger)
    assert [f.code for f in busy.value.findings] == ["L103"]
    other[0].execute("INSERT INTO runs (kind, fiscal_year, month, started_at, kpisheet_version, catalogue_digest, "
                     "options, fingerprint) VALUES ('import', 2023, '2024-03', '', '', '', '{}', '')")
    other[0].execute("COMMIT")
    other[0].close()
    assert ledger.exists()
    with led.opened(ledger) as book:
        assert book.query("SELECT count(*) FROM runs") == [(1,)]  # the other run's commit is in the file


def test_create_ledger_says_whether_this_call_made_the_file(tmp_path):
    ledger = tmp_path / "kpisheet.sqlite"
    assert led.create_ledger(ledger) is True
    assert led.create_ledger(ledger) is False  # another run's (or an earlier) ledger is never ours
    with led.opened(ledger) as book:
        assert book.query("SELECT count(*) FROM runs") == [(0,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kpisheet.sqlite"]
