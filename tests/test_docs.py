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


# ---------------------------------------------------------------- citations users can follow
SEED_CITATION = re.compile(r"\bseeds?\s*[:#]?\s*\d", re.IGNORECASE)  # 「seed 003:142」, 「seeds 000, 001」


def _files_users_read() -> list[Path]:
    """README, docs/, the JSON files HQ edits or reads (templates, schemas, examples), the workbook goldens."""
    found = [ROOT / "README.md", *(p for p in (ROOT / "docs").rglob("*") if p.suffix in {".md", ".txt", ".json"})]
    for folder in ("templates", "schemas", "examples"):
        found += sorted((ROOT / folder).glob("*.json"))
    found += sorted((ROOT / "tests" / "golden").rglob("*.txt"))  # every text the workbooks print
    return found


def test_no_file_users_read_cites_a_seed_number():
    files = _files_users_read()
    assert len(files) > 10 and ROOT / "docs" / "sources.md" in files
    cited = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:80]}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if SEED_CITATION.search(line)]
    assert not cited, "name the document by its title and section (docs/sources.md):\n" + "\n".join(cited)


def test_no_string_kpisheet_shows_cites_a_seed_number():
    """Every string literal in kpisheet/ (workbook texts, legends, CLI messages, findings) — docstrings aside."""
    import ast

    cited = []
    for path in sorted((ROOT / "kpisheet").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        cited += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings and SEED_CITATION.search(node.value)]
    assert not cited, cited


def test_the_seed_check_finds_what_it_is_for():
    assert SEED_CITATION.search("plausible range (seed 003:142)")
    assert SEED_CITATION.search("(seeds 000, 001, 003)")
    assert not SEED_CITATION.search("reproducible (fixed seed): 45 branches")
    assert not SEED_CITATION.search("deterministic per seed, magnitudes scaled")


def test_sources_lists_every_document_by_title():
    sources = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    for title in ("「令和5年度 埼玉支部事業計画実施状況（概要版）」", "「第6期保険者機能強化アクションプランの概要について」",
                  "「令和3年度 事業計画（群馬支部）」", "熊本支部 令和3年度 説明資料",
                  "「平成31年度 事業計画（鹿児島支部）新旧対照表（案）」"):
        assert sources.count(title) >= 2, title  # in the table and as a section of its own
    catalogues = "".join((ROOT / "templates" / n).read_text(encoding="utf-8")
                         for n in ("catalogue_term5.json", "catalogue_term6.json", "mapping_term5_term6.json"))
    assert "「令和5年度 埼玉支部事業計画実施状況（概要版）」 2、戦略的保険者機能関係 (7) ジェネリック医薬品のさらなる使用促進" in catalogues
