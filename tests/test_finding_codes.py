"""Findings as data: each code has one home module and a test; a finding's text follows its data.

Every module that emits findings declares the codes it emits (`CODES = frozenset({...})`).  "Emits"
is read from the source: a code literal passed to a call (`finding("E404", …)`, `at(sub, iv, "E404", …)`,
`BookError("E107", …)`), chosen in a conditional expression, returned or held as a dict value.  A code
the module only looks at — compared (`f.code == "E207"`), a dict key, a member of a set, or a named
constant (`MISSING_MONTH = "W413"`) — is not an emission.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from kpisheet.domain.findings import CODES as CATALOGUE
from kpisheet.domain.findings import finding

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kpisheet"
CODE = re.compile(r"^[DGEWLP]\d{3}$")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":  # running it is running the CLI
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def declared() -> dict[str, frozenset[str]]:
    """module name -> its CODES, for every module that declares a frozenset of codes."""
    out = {}
    for name in MODULES:
        codes = getattr(importlib.import_module(name), "CODES", None)
        if isinstance(codes, frozenset):
            out[name] = codes
    return out


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _referred_only(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """The literal is looked at or named, not emitted (see the module docstring)."""
    parent = parents.get(node)
    while isinstance(parent, (ast.Tuple, ast.List)):  # ("E404", "W411") in …, a, b = "D001", "D002"
        node, parent = parent, parents.get(parent)
    if isinstance(parent, (ast.Compare, ast.Set)):
        return True
    if isinstance(parent, ast.Dict) and any(k is node for k in parent.keys):
        return True
    if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is node:
        return True
    return isinstance(parent, ast.Expr)  # a docstring


def emitted(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = _parents(tree)
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value)
            and not _referred_only(node, parents)}


# ---------------------------------------------------------------- code -> module
def test_every_catalogue_code_is_declared_by_exactly_one_module():
    homes: dict[str, list[str]] = {}
    for module, codes in declared().items():
        for code in codes:
            homes.setdefault(code, []).append(module)
    assert {c: m for c, m in homes.items() if len(m) > 1} == {}
    assert sorted(set(CATALOGUE) - set(homes)) == []  # a code no module says it emits
    assert sorted(set(homes) - set(CATALOGUE)) == []  # a declared code the catalogue lacks


def test_every_code_a_module_emits_is_in_its_codes():
    codes = declared()
    wrong = {name: sorted(emitted(path) - codes.get(name, frozenset())) for name, path in MODULES.items()}
    assert {name: c for name, c in wrong.items() if c} == {}


def test_the_emission_scan_tells_emitting_from_looking():
    """The scan itself: what it counts as emitted and what as only looked at."""
    source = '''
CODES = frozenset({"E401"})
NAMED = "W413"
A, B = "D001", "D002"
def f(x, flag):
    "E999 in a docstring"
    if x.code == "E207" or x.code in ("E404", "W411"):
        return {"W207": 1}.get(x)
    out = finding("E401", value=1)
    code = "E105" if flag else "E104"
    return at(x, "W412"), {"enum": "E407"}
'''
    path = Path(__file__).parent / "data" / "_emission_scan_probe.py"
    try:
        path.write_text(source, encoding="utf-8")
        assert emitted(path) == {"E401", "E105", "E104", "W412", "E407"}
    finally:
        path.unlink(missing_ok=True)


def test_the_rule_modules_of_the_validator_declare_the_identity_and_schema_rules():
    codes = declared()
    assert codes["kpisheet.check.rules.identity"] >= {"E202", "E203", "E204", "E205", "E206", "E207", "W207", "W208"}
    assert codes["kpisheet.check.rules.schema"] == {"E309", "E407", "E409"}
    assert "kpisheet.check.validation" not in codes  # the runner emits only what domain.failures classifies


# ---------------------------------------------------------------- code -> test
# Codes no test file names, each with the reason a test cannot produce it.
UNTESTABLE: dict[str, str] = {}


def _test_text() -> str:
    here = Path(__file__).resolve()
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests").rglob("*.py")) if p != here)


def test_every_code_is_named_by_a_test():
    text = _test_text()
    untested = [code for code in CATALOGUE if not re.search(rf"\b{code}\b", text) and code not in UNTESTABLE]
    assert untested == []
    assert sorted(set(UNTESTABLE) - set(CATALOGUE)) == []


# ---------------------------------------------------------------- a finding is data
def _e404(**place):
    return finding("E404", file="/in/11_埼玉支部.xlsx", sheet="KPI入力", cell="H22", subject="K6-1-01",
                   label="特定健診 受診者数（9月）", previous_month="8月", month="9月", expected="1,200",
                   value="1,100", **place)


def test_replace_moves_the_message_with_the_place():
    f = _e404()
    moved = replace(f, cell="I22", severity="warning")
    assert f.message_ja.startswith("【11_埼玉支部.xlsx › 'KPI入力'!H22】")
    assert moved.message_ja.startswith("【11_埼玉支部.xlsx › 'KPI入力'!I22】")
    assert moved.message_en.startswith("[11_埼玉支部.xlsx › 'KPI入力'!I22] ")
    assert moved.text_ja == f.text_ja and not moved.is_error
    assert moved != f and replace(moved, cell="H22", severity="error") == f


def test_the_text_is_the_catalogue_template_filled_from_context_and_value():
    f = _e404()
    assert f.text_ja == ("「特定健診 受診者数（9月）」が8月の 1,200 から9月の 1,100 に減っています。この欄は4月からの累計"
                         "（年度初めからの合計）なので、前の月より小さくなりません。累計を入力してください。")
    assert replace(f, value="900").text_ja.count("900") == 1
    assert finding("E404").text_ja.startswith("「—」が—の — から")  # a missing part is shown as —


def test_json_form_keeps_its_keys_and_values():
    f = _e404(branch="11", name="K6_1_01_num_2024_09")
    d = f.to_dict()
    assert list(d) == ["code", "severity", "message_ja", "message_en", "file", "branch", "sheet", "cell", "name",
                       "subject", "line", "value", "text_ja", "text_en"]
    assert d["message_ja"] == f"【{f.where_ja()}】{f.text_ja}" and d["value"] == "1,100" and d["severity"] == "error"
    assert json.loads(json.dumps(d, ensure_ascii=False)) == d


def test_findings_that_read_alike_are_one_and_hash_alike():
    a, b = _e404(), _e404()
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != replace(a, context={**a.context, "expected": "1,300"})  # the message differs


def test_short_labels_are_a_catalogue_field():
    labelled = {code for code, d in CATALOGUE.items() if d.label_ja}
    assert {"E401", "E403", "E404", "E410", "W305", "W306", "W411", "W412", "W414", "W419", "E190"} <= labelled
    assert finding("E404").label_ja == "前の月より小さい" and finding("E406").label_ja == "E406"


@pytest.mark.parametrize("code", ["E110", "E190"])
def test_failure_codes_are_errors_that_make_the_file_unreadable(code):
    from kpisheet.domain.findings import makes_unreadable

    f = finding(code, file="x.xlsx", reason="TypeError: boom")
    assert f.is_error and makes_unreadable(f) and "TypeError: boom" in f.message_ja
