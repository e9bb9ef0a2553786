"""Shared test set-up: no test writes a submission ledger into the working folder.

`kpisheet consolidate` records every run in a ledger (by default kpisheet.sqlite
in the working folder, see kpisheet.ledger).  Every test gets its own ledger in
a temporary folder through KPISHEET_LEDGER; subprocesses inherit it.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _ledger_outside_the_repository(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("KPISHEET_LEDGER", str(tmp_path_factory.mktemp("ledger") / "kpisheet.sqlite"))
