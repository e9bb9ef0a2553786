"""The README's main command prints what the README says it prints.

The kpisheet parts of the first set-up command (`kpisheet ledger import …` and `kpisheet consolidate
examples/inbox_FY2024 …`) are read from README.md, so the command tested is the command shown. They
run as the installed console script (a subprocess, as a user runs them) in a temporary folder where
`examples` points at the shipped examples, so the relative paths they print are those of the README.
Their stdout must equal the block under "What the main command prints" line for line; nothing in it
is volatile today (no times, relative paths), so nothing is masked except trailing spaces. The
sentences around the block are checked too: five G107 warnings on stderr, and a second run that adds
nothing.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_main_commands() -> list[list[str]]:
    """The kpisheet invocations of the README's main command, as argument lists without `kpisheet`."""
    line = next(line.strip() for line in README.splitlines() if "kpisheet consolidate examples/" in line)
    runs = [shlex.split(part) for part in line.split(" && ") if part.strip().startswith(".venv/bin/kpisheet ")]
    return [args[1:] for args in runs]


def readme_printed_output() -> str:
    """The fenced block after 'What the main command prints'."""
    after = README.split("What the main command prints", 1)[1]
    match = re.search(r"^```\n(.*?)^```$", after, flags=re.M | re.S)
    assert match, "README: no output block after 'What the main command prints'"
    return match.group(1)


def _kpisheet() -> list[str]:
    script = Path(sys.executable).with_name("kpisheet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kpisheet"]


def _run(folder: Path, commands: list[list[str]]) -> tuple[str, str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("KPISHEET_LEDGER", None)
    out, err = [], []
    for args in commands:
        done = subprocess.run([*_kpisheet(), *args], cwd=folder, env=env, capture_output=True, text=True,
                              encoding="utf-8", stdin=subprocess.DEVNULL, timeout=600)
        assert done.returncode == 0, f"kpisheet {shlex.join(args)} exited {done.returncode}:\n{done.stderr}"
        out.append(done.stdout)
        err.append(done.stderr)
    return "".join(out), "".join(err)


def _mask(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("readme_run")
    (folder / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    commands = readme_main_commands()
    return {"first": _run(folder, commands), "again": _run(folder, commands)}


def test_the_readme_main_command_is_an_import_then_a_consolidation() -> None:
    commands = readme_main_commands()
    # (that its example files exist is tests/test_docs.py's test_readme_main_command_runs_consolidation_…)
    assert [args[:2] for args in commands] == [["ledger", "import"], ["consolidate", "examples/inbox_FY2024"]]


def test_it_prints_what_the_readme_shows(runs: dict[str, tuple[str, str]]) -> None:
    stdout, _ = runs["first"]
    assert _mask(stdout) == _mask(readme_printed_output())


def test_stderr_has_the_five_g107_warnings_the_readme_mentions(runs: dict[str, tuple[str, str]]) -> None:
    assert "five G107 warnings about `examples/baseline_FY2023.csv`" in README
    _, stderr = runs["first"]
    assert stderr.count("G107") == 5, stderr


def test_run_again_it_adds_nothing_as_the_readme_says(runs: dict[str, tuple[str, str]]) -> None:
    said = re.search(r"run again, it says 「(.+?)」 and the last line 「(.+?)」", README)
    assert said, "README: the sentence about running the command again is gone"
    stdout, _ = runs["again"]
    lines = _mask(stdout)
    assert said.group(1) in lines[0]
    assert said.group(2) in lines[-1]
    first = _mask(runs["first"][0])
    assert lines[1:-1] == first[1:-1]  # the same report, only the ledger lines differ
