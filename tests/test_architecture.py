"""The package's shape, read from its imports (tools/import_graph.py): no cycle, each layer imports only downward."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import import_graph as ig  # noqa: E402


def test_the_import_graph_has_no_cycle() -> None:
    assert ig.cycles(ig.graph()) == []


def test_every_import_goes_down_the_layers() -> None:
    assert ig.upward(ig.graph()) == []


def test_every_module_belongs_to_a_layer() -> None:
    assert {ig.layer(m) for m in ig.graph()} <= set(ig.LAYERS)


def test_the_ledger_imports_no_writer() -> None:
    g = ig.graph()
    assert {b for a, targets in g.items() if ig.layer(a) == "ledger" for b in targets if ig.layer(b) == "write"} == set()


def test_the_readme_draws_the_graph_the_code_has() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    drawn = re.search(r"```mermaid\n.*?```", readme, re.S)
    assert drawn, "README.md has no mermaid import graph; paste `python tools/import_graph.py`"
    assert drawn.group(0) == ig.mermaid(ig.graph()), "README's import graph is stale: paste `python tools/import_graph.py`"


def test_the_tool_finds_a_cycle_and_an_upward_import() -> None:
    g = {"kpisheet.domain.a": {"kpisheet.write.b"}, "kpisheet.write.b": {"kpisheet.domain.a"}}
    assert ig.cycles(g) == [["kpisheet.domain.a", "kpisheet.write.b"]]
    assert ig.upward(g) == [("kpisheet.domain.a", "kpisheet.write.b")]


def _layout_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Layout")
    return readme[start:readme.index("\n### ", start + 1)]


def test_the_readme_layout_names_every_module_and_only_modules_that_exist() -> None:
    section = _layout_section()
    named = {n for n in re.findall(r"`([\w/]+\.py)`", section) if not n.startswith(("tests/", "tools/"))}
    modules = {str(p.relative_to(ROOT / "kpisheet")) for p in (ROOT / "kpisheet").rglob("*.py")
               if p.name != "__init__.py"}
    assert sorted(modules - named) == [], "modules missing from README's layout table"
    assert sorted(named - modules) == [], "README's layout table names modules that do not exist"
