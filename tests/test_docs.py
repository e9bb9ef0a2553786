"""The README stays true: its commands are the ones CI runs, and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpisheet.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    (cmd,) = re.findall(r'^TEST_CMD="(.+)"$', ci, flags=re.M)
    assert cmd in README


def test_readme_main_command_runs_consolidation_on_the_shipped_examples():
    main = next(line.strip() for line in README.splitlines() if "kpisheet consolidate examples/" in line)
    assert "pip install" in main
    for path in re.findall(r"(examples/\S+)", main):
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_and_is_in_the_readme(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert f"kpisheet {command}" in README


def test_every_finding_code_is_listed_in_the_readme():
    from kpisheet.domain.findings import CODES

    missing = [code for code in CODES if code not in README]
    assert not missing, f"document these finding codes in README.md: {missing}"


def test_every_schema_file_is_used_by_code():
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "kpisheet").rglob("*.py"))
    for schema in (ROOT / "schemas").glob("*.json"):
        assert schema.name in code, f"{schema.name} is never loaded"
