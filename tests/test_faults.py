"""A run killed, or the ledger's disk full or read-only, at each point of recording and publishing.

A kill (SIGKILL: nothing runs on the way out) is injected in a forked child that runs
`run_month` and kills itself at the point under test: while the outputs are staged, after the
journal is written but before the ledger's COMMIT, after COMMIT before the first rename, and
between two renames.  The test then looks at what is visible in the output folder, what the
ledger holds, what `close` says, and what the next run into the folder does: it completes a
publication whose run was recorded, removes every other leftover staging folder, and the month
can then be closed.  Disk full and read-only ledgers are simulated at the SQLite call (the tests
run as any user, root included, for whom a read-only folder is writable).
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from kpisheet import ledger as led
from kpisheet.cli import cli
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.findings import KpisheetError
from kpisheet.fileio import OutputExistsError, sha256_or_empty
from kpisheet.ledger import store
from kpisheet.month import run_month
from kpisheet.write import outputs
from kpisheet.write.outputs import JOURNAL, STAGING_PREFIX, output_names
from tests.builders.sample import sample_values

from .consolidate_helpers import filled

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

FY, OCT = 2024, date(2024, 10, 1)
NAMES = output_names(FY, OCT)


@pytest.fixture(scope="module")
def inboxes(tmp_path_factory) -> tuple[Path, Path]:
    """Two inboxes of one branch whose analysts' CSVs differ (one figure changed)."""
    root = tmp_path_factory.mktemp("faults")
    values = sample_values(load_catalogue(6), FY, "10", OCT)
    filled(root, root / "a", FY, "10", values)
    changed = dict(values)
    changed["in_K6_1_01_num_202404"] = values["in_K6_1_01_num_202404"] - 10
    filled(root, root / "b", FY, "10", changed)
    return root / "a", root / "b"


def visible(out: Path) -> dict[str, str]:
    """sha256 of the HQ outputs visible in `out` (national workbook and CSV)."""
    return {k: sha256_or_empty(out / NAMES[k]) for k in ("national", "csv")}


def stagings(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX))


def runs(ledger: Path) -> list[tuple[int, dict[str, str]]]:
    """(run id, {output name: sha256}) of every consolidation the ledger recorded."""
    with led.opened(ledger) as book:
        ids = [r[0] for r in book.query("SELECT id FROM runs WHERE kind = 'consolidate' ORDER BY id")]
        return [(i, led.recorded_outputs(book, i)) for i in ids]


def killed_at(inject: Callable[[pytest.MonkeyPatch], None], inbox: Path, out: Path, ledger: Path) -> int:
    """Run `run_month` in a forked child that `inject` makes kill itself (SIGKILL) at a point; its exit code."""
    def child() -> None:
        with pytest.MonkeyPatch.context() as mp:
            inject(mp)
            run_month(inbox, FY, "2024-10", out, ledger=ledger, force=True)
        os._exit(0)  # the kill point was never reached

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(120)
    return proc.exitcode if proc.exitcode is not None else 999


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def close(ledger: Path) -> Any:
    return CliRunner().invoke(cli, ["close", "--ledger", str(ledger), "--fy", str(FY), "--month", "2024-10"])


@pytest.fixture
def published(inboxes, tmp_path) -> tuple[Path, Path, dict[str, str]]:
    """Run A (inbox a) published and recorded: (output folder, ledger, what is visible)."""
    out, ledger = tmp_path / "out", tmp_path / "kpisheet.sqlite"
    run_month(inboxes[0], FY, "2024-10", out, ledger=ledger)
    return out, ledger, visible(out)


# ---------------------------------------------------------------- kills
def test_a_kill_between_renames_is_refused_by_close_and_completed_by_the_next_run(inboxes, published):
    out, ledger, before = published

    def after_the_first_rename(mp: pytest.MonkeyPatch) -> None:
        def commit(pairs: list[tuple[Path, Path]]) -> list[Path]:
            os.replace(*pairs[0])  # the national workbook is renamed first
            die()
            return []
        mp.setattr(outputs, "_commit", commit)

    assert killed_at(after_the_first_rename, inboxes[1], out, ledger) == -signal.SIGKILL
    (_, first), (_, second) = runs(ledger)  # run B was committed before publishing
    assert visible(out) == {"national": second[NAMES["national"]], "csv": first[NAMES["csv"]]}  # a mix, for now
    assert first[NAMES["csv"]] != second[NAMES["csv"]]
    assert [json.loads((s / JOURNAL).read_text())["token"] is not None for s in stagings(out)] == [True]

    refused = close(ledger)
    assert refused.exit_code == 1 and "L117" in refused.output and "公開が途中で止まっています" in refused.output
    with pytest.raises(OutputExistsError):  # the next run into the folder completes B first, then stops
        run_month(inboxes[1], FY, "2024-10", out, ledger=ledger)
    assert visible(out) == {"national": second[NAMES["national"]], "csv": second[NAMES["csv"]]}
    assert stagings(out) == []
    assert close(ledger).exit_code == 0


def test_a_kill_after_commit_before_the_first_rename_is_completed_by_the_next_run(inboxes, published):
    out, ledger, before = published
    real_publish = outputs.publish

    def before_publishing(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(outputs, "publish", lambda staged: (die(), real_publish(staged))[1])

    assert killed_at(before_publishing, inboxes[1], out, ledger) == -signal.SIGKILL
    (_, first), (_, second) = runs(ledger)
    assert visible(out) == before == {"national": first[NAMES["national"]], "csv": first[NAMES["csv"]]}
    refused = close(ledger)  # the ledger's last run is B, the folder shows A: not sealed
    assert refused.exit_code == 1 and "L117" in refused.output
    with pytest.raises(OutputExistsError):
        run_month(inboxes[0], FY, "2024-10", out, ledger=ledger)
    assert visible(out) == {"national": second[NAMES["national"]], "csv": second[NAMES["csv"]]}
    assert close(ledger).exit_code == 0


def test_a_kill_before_commit_publishes_nothing_and_its_staging_folder_is_removed(inboxes, published):
    """Killed with the journal written but the run not committed (the moment a publish-then-record
    order would have had outputs visible and no record): nothing of B is visible or recorded, `close`
    seals A (the run printed), and the next run removes B's staging folder instead of publishing it."""
    out, ledger, before = published
    real_mark = outputs.mark_ready

    def before_commit(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(outputs, "mark_ready", lambda staged, **kw: (real_mark(staged, **kw), die()))

    assert killed_at(before_commit, inboxes[1], out, ledger) == -signal.SIGKILL
    assert len(runs(ledger)) == 1
    assert visible(out) == before and len(stagings(out)) == 1
    assert not outputs.publication_pending(out)  # its run is not in the ledger
    with pytest.raises(OutputExistsError):
        run_month(inboxes[1], FY, "2024-10", out, ledger=ledger)
    assert visible(out) == before and stagings(out) == []
    closed = close(ledger)
    assert closed.exit_code == 0, closed.output
    with led.opened(ledger) as book:
        assert book.query("SELECT run_id FROM closed_months") == [(runs(ledger)[0][0],)]


def test_a_kill_while_staging_leaves_the_outputs_and_the_next_run_removes_its_staging_folder(inboxes, published):
    out, ledger, before = published

    def while_writing_the_csv(mp: pytest.MonkeyPatch) -> None:
        real = outputs.write_value_tables
        run = os.getpid()

        def write(*args: Any) -> list[Path]:
            if os.getpid() == run:  # the run's own process (not the forked writer of the HQ workbooks)
                die()
            return real(*args)
        mp.setattr(outputs, "write_value_tables", write)

    assert killed_at(while_writing_the_csv, inboxes[1], out, ledger) == -signal.SIGKILL
    assert len(runs(ledger)) == 1 and visible(out) == before
    leftover = stagings(out)
    assert len(leftover) == 1 and not (leftover[0] / JOURNAL).exists()
    result = run_month(inboxes[1], FY, "2024-10", out, ledger=ledger, force=True)
    assert stagings(out) == [] and result.record is not None and result.record.run_id == 2
    assert visible(out)["csv"] == runs(ledger)[1][1][NAMES["csv"]]


def test_a_run_without_a_ledger_killed_between_renames_is_completed_too(inboxes, tmp_path):
    out = tmp_path / "out"
    run_month(inboxes[0], FY, "2024-10", out)

    def after_the_first_rename(mp: pytest.MonkeyPatch) -> None:
        def commit(pairs: list[tuple[Path, Path]]) -> list[Path]:
            os.replace(*pairs[0])
            die()
            return []
        mp.setattr(outputs, "_commit", commit)

    def child() -> None:
        with pytest.MonkeyPatch.context() as mp:
            after_the_first_rename(mp)
            run_month(inboxes[1], FY, "2024-10", out, force=True)

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL
    staged_csv = stagings(out)[0] / NAMES["csv"]
    want = sha256_or_empty(staged_csv)
    assert sha256_or_empty(out / NAMES["csv"]) != want  # the CSV is still the first run's
    outputs.repair(out)
    assert sha256_or_empty(out / NAMES["csv"]) == want and stagings(out) == []


# ---------------------------------------------------------------- disk full, read-only
class _FailingCommit(sqlite3.Connection):
    message = ""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.strip().upper() == "COMMIT" and self.message:
            raise sqlite3.OperationalError(self.message)
        return super().execute(sql, *args)


@pytest.mark.parametrize(("message", "code", "says"), [
    ("database or disk is full", "L115", "ディスクがいっぱい"),
    ("attempt to write a readonly database", "L116", "読み取り専用"),
])
def test_a_full_or_read_only_ledger_at_commit_publishes_nothing_and_says_so(inboxes, published, monkeypatch,
                                                                             message, code, says):
    out, ledger, before = published
    real_connect = sqlite3.connect
    failing = type("Failing", (_FailingCommit,), {"message": message})
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **{**k, "factory": failing}))
    result = CliRunner().invoke(cli, ["consolidate", str(inboxes[1]), "--fy", str(FY), "--month", "2024-10",
                                      "-o", str(out), "--ledger", str(ledger), "--force"])
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert result.exit_code == 1, result.output
    assert code in result.output and says in result.output and "台帳は壊れていません" in result.output
    assert "L101" not in result.output and "バックアップから戻すか" not in result.output
    assert visible(out) == before and stagings(out) == []  # nothing unrecorded was published
    assert len(runs(ledger)) == 1


def test_a_ledger_in_a_folder_that_cannot_be_written_is_l116_not_damage(inboxes, tmp_path, monkeypatch):
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store.tempfile, "mkstemp", refused)
    with pytest.raises(KpisheetError) as exc:
        run_month(inboxes[0], FY, "2024-10", tmp_path / "out", ledger=tmp_path / "ro" / "kpisheet.sqlite")
    assert [f.code for f in exc.value.findings] == ["L116"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("error", "code"), [
    (sqlite3.OperationalError("database or disk is full"), "L115"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "L116"),
    (sqlite3.OperationalError("unable to open database file"), "L116"),
    (OSError(errno.ENOSPC, "No space left on device"), "L115"),
    (OSError(errno.EROFS, "Read-only file system"), "L116"),
    (sqlite3.DatabaseError("file is not a database"), None),
    (sqlite3.OperationalError("no such table: runs"), None),
])
def test_storage_errors_are_told_from_damage(error, code):
    assert store.storage_code(error) == code


def test_guarded_turns_a_full_disk_into_l115_and_damage_into_l101(tmp_path):
    ledger = store.Ledger(sqlite3.connect(":memory:"), tmp_path / "k.sqlite")
    for error, code in [(sqlite3.OperationalError("database or disk is full"), "L115"),
                        (sqlite3.DatabaseError("database disk image is malformed"), "L101")]:
        with pytest.raises(KpisheetError) as exc, ledger.guarded():
            raise error
        assert [f.code for f in exc.value.findings] == [code]


def test_a_rename_that_fails_after_commit_keeps_the_publication_for_the_next_run(inboxes, published, monkeypatch):
    out, ledger, before = published
    real_replace = os.replace
    calls: list[int] = []

    def second_rename_refused(src: Any, dst: Any) -> None:
        if STAGING_PREFIX in str(src) and STAGING_PREFIX not in str(dst):  # a publishing rename
            calls.append(1)
            if len(calls) == 2:
                raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_refused)
    result = CliRunner().invoke(cli, ["consolidate", str(inboxes[1]), "--fy", str(FY), "--month", "2024-10",
                                      "-o", str(out), "--ledger", str(ledger), "--force"])
    monkeypatch.setattr(os, "replace", real_replace)
    assert result.exit_code == 1
    assert "出力の公開が途中で止まりました" in result.output and "台帳に記録済み" in result.output
    (_, first), (_, second) = runs(ledger)
    assert visible(out) == {"national": second[NAMES["national"]], "csv": first[NAMES["csv"]]}
    assert outputs.publication_pending(out)
    assert "L117" in close(ledger).output
    with pytest.raises(OutputExistsError):
        run_month(inboxes[1], FY, "2024-10", out, ledger=ledger)
    assert visible(out) == {"national": second[NAMES["national"]], "csv": second[NAMES["csv"]]}
    assert close(ledger).exit_code == 0
