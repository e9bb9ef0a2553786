"""The package's import graph, read from the code: cycles, layers, and a drawing for the README.

    python tools/import_graph.py            # the package graph as a Mermaid block (as in README.md)
    python tools/import_graph.py --check    # exit 1 on a module cycle or an import that climbs a layer
    python tools/import_graph.py --modules  # every module and the kpisheet modules it imports

Every `import`/`from … import` of kpisheet counts, at module level or inside a function.
A module belongs to the layer of its first package under kpisheet/ (kpisheet/read/reader.py
is in `read`); the top-level helper modules form the bottom layer `base`.  A module may
import its own layer and the layers below it, never one above (LAYERS, lowest first).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kpisheet"

LAYERS = ["base", "domain", "read", "check", "consolidate", "ledger", "write", "template", "plan", "month", "cli"]
TOP_LEVEL = {"month": "month", "cli": "cli", "__main__": "cli"}  # other top-level modules are `base`


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(mod: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_package else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(mod: str, path: Path, known: set[str]) -> set[str]:
    """The kpisheet modules `mod` imports (a name imported from a package counts as the submodule if it is one)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kpisheet"))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, path.name == "__init__.py", node)
            if not target.startswith("kpisheet"):
                continue
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            found.update(subs or {target})
    return {m for m in found if m in known and m != mod}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def layer(mod: str) -> str:
    parts = mod.split(".")
    if len(parts) == 1:
        return "base"
    if parts[1] in TOP_LEVEL:
        return TOP_LEVEL[parts[1]]
    return parts[1] if parts[1] in LAYERS else "base"


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def upward(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a module to a module of a higher layer."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted((a, b) for a, targets in g.items() for b in targets if rank[layer(b)] > rank[layer(a)])


def layer_edges(g: dict[str, set[str]]) -> dict[tuple[str, str], int]:
    edges: dict[tuple[str, str], int] = {}
    for a, targets in g.items():
        for b in targets:
            key = (layer(a), layer(b))
            if key[0] != key[1]:
                edges[key] = edges.get(key, 0) + 1
    return edges


def mermaid(g: dict[str, set[str]]) -> str:
    """The layers and the imports between them, highest layer first; the number is how many module imports."""
    counts: dict[str, int] = {}
    for m in g:
        counts[layer(m)] = counts.get(layer(m), 0) + 1
    lines = ["```mermaid", "flowchart TD"]
    for name in reversed(LAYERS):
        label = "kpisheet/*.py helpers" if name == "base" else f"{name}{'.py' if name in ('month', 'cli') else '/'}"
        lines.append(f'    {name}["{label} ({counts.get(name, 0)})"]')
    order = {name: -i for i, name in enumerate(LAYERS)}
    for (a, b), n in sorted(layer_edges(g).items(), key=lambda e: (order[e[0][0]], order[e[0][1]])):
        lines.append(f"    {a} -->|{n}| {b}")
    lines.append("```")
    return "\n".join(lines)


def _print_modules(g: dict[str, set[str]]) -> Iterable[str]:
    for m in sorted(g, key=lambda m: (LAYERS.index(layer(m)), m)):
        yield f"{layer(m):12} {m}: {', '.join(sorted(g[m])) or '-'}"


def main(argv: list[str]) -> int:
    g = graph()
    if "--check" in argv:
        problems = [f"cycle: {' <-> '.join(c)}" for c in cycles(g)]
        problems += [f"upward import: {a} ({layer(a)}) -> {b} ({layer(b)})" for a, b in upward(g)]
        print("\n".join(problems) or f"{len(g)} modules, no cycle, no upward import")
        return 1 if problems else 0
    print("\n".join(_print_modules(g)) if "--modules" in argv else mermaid(g))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
