"""Shared test set-up: no test writes a submission ledger into the working folder, and HQ's settings are filled.

`kpisheet consolidate` records every run in a ledger (by default kpisheet.sqlite
in the working folder, see kpisheet.ledger.store).  Every test gets its own ledger in
a temporary folder through KPISHEET_LEDGER; subprocesses inherit it.

templates/hq_settings.json ships with 【要記入】 placeholders, and `generate`
refuses them.  For the whole session KPISHEET_HQ_SETTINGS names a file holding
kpisheet.domain.settings.example_settings(), so every test (and subprocess) can
generate workbooks; tests of the placeholder refusal pass the shipped file.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, TypeVar, cast

import pytest

from kpisheet.domain.settings import ENV_VAR, example_settings, settings_json

T = TypeVar("T")


@pytest.fixture(scope="session", autouse=True)
def _filled_hq_settings(tmp_path_factory):
    path = tmp_path_factory.mktemp("hq_settings") / "hq_settings.json"
    path.write_text(settings_json(example_settings()), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, str(path))
        yield path


@pytest.fixture(autouse=True)
def _ledger_outside_the_repository(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("KPISHEET_LEDGER", str(tmp_path_factory.mktemp("ledger") / "kpisheet.sqlite"))


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """`build(folder)`'s result, built once per test run even when pytest-xdist runs the tests in
    several processes: the first process to ask builds it in a folder shared by all of them (under an
    exclusive lock, while the others wait) and keeps its result there as a pickle; the others read it.
    What `build` writes is read-only to the tests that share it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the base temporary folder of the whole run, shared by its workers
    folder = base / f"built-once-{name}"
    with open(base / f"built-once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = folder / "result.pickle"
        if result.is_file():
            return cast(T, pickle.loads(result.read_bytes()))
        shutil.rmtree(folder, ignore_errors=True)  # a build that failed part way, in another worker
        folder.mkdir()
        value = build(folder)
        result.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def readme_books(tmp_path_factory):
    """The workbooks the README's main command writes (tests/books.readme_outputs), built once per
    test run for the tests that only read or print them (print sizes, cell widths, council papers):
    {"national", "lists", "plan_status", "values_xlsx": path, "feedback": [paths]}. Read-only."""
    from tests.books import readme_outputs

    return built_once(tmp_path_factory, "readme_books", readme_outputs)


@pytest.fixture(scope="session")
def national_printed(readme_books, tmp_path_factory):
    """The README's national workbook printed to PDF by LibreOffice as Excel prints it, once per test
    run (one soffice run): {"whole": the PDF of every visible sheet, "sheets": {visible sheet: the
    PDF of that sheet printed alone}} (tests/printing.printed_pdfs). Read-only."""
    from tests.printing import printed_pdfs, skip_without_printing

    skip_without_printing()
    return built_once(tmp_path_factory, "national_printed",
                      lambda folder: printed_pdfs(readme_books["national"], folder, timeout=600))
