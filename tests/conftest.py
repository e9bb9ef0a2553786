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

import pytest

from kpisheet.domain.settings import ENV_VAR, example_settings, settings_json


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


@pytest.fixture(scope="session")
def readme_books(tmp_path_factory):
    """The workbooks the README's main command writes (tests/books.readme_outputs), built once per
    session for the tests that only read or print them (print sizes, cell widths, council papers):
    {"national", "lists", "plan_status", "values_xlsx": path, "feedback": [paths]}. Read-only."""
    from tests.books import readme_outputs

    return readme_outputs(tmp_path_factory.mktemp("readme_books"))
