"""fastjsonschema and jsonschema decide alike on every schema, for real records and mutated ones.

schema_check trusts fastjsonschema's "valid" and asks jsonschema only for the
errors of invalid data, so a record one calls valid and the other invalid would
slip through unreported.  The property test feeds both the real data (the
catalogues, mapping and branch list in templates/, submission records read from
filled workbooks) and copies broken the ways people and files break them.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from kpisheet import schema_check as sc
from kpisheet.check.validation import schema_record
from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.read import names as nm
from kpisheet.read.reader import read_workbook
from kpisheet.resources import data_dir
from tests import helpers as h
from tests.builders.sample import sample_values

DATA_FILES = {"catalogue_term5.json": "catalogue.schema.json", "catalogue_term6.json": "catalogue.schema.json",
              "mapping_term5_term6.json": "mapping.schema.json", "branches.json": "branches.schema.json",
              "hq_settings.json": "hq_settings.schema.json"}
SUBMISSION = "submission.schema.json"


def _both(name: str, record: Any) -> tuple[bool, bool]:
    """(fastjsonschema says valid, jsonschema finds no error)."""
    return sc.is_valid(name, record), not any(True for _ in sc.validator(name).iter_errors(record))


# ---------------------------------------------------------------- real records
def _submission_records(tmp: Path) -> list[dict[str, Any]]:
    """A clean filled workbook and one with typing mistakes (so findings and odd raw values appear)."""
    cat = catalogue_for_fy(h.FY)
    template = h.make_template(tmp, h.FY, "10")
    clean = sample_values(cat, h.FY, "10", date(2024, 9, 1))
    measure = cat.measures[0].id
    kpi = next(k for k in cat.kpis_for(h.FY, "10") if k.kind == "ratio")
    sloppy = {**clean, nm.kpi_key(kpi.id, "num", date(2024, 5, 1)).name: "約１２０件",
              nm.kpi_key(kpi.id, "target").name: "96.5%",
              nm.measure_key(measure, "rating", 1).name: "X?",
              nm.measure_key(measure, "note", 1).name: "長" * 1200}
    records = []
    for label, values in (("clean", clean), ("sloppy", sloppy)):
        path = h.fill(template, tmp / f"{label}_{template.name}", values)
        records.append(schema_record(read_workbook(path)))
    return records


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any]]:
    out = [(schema, json.loads((data_dir("templates") / f).read_text(encoding="utf-8")))
           for f, schema in DATA_FILES.items()]
    out += [(SUBMISSION, r) for r in _submission_records(tmp_path_factory.mktemp("sub"))]
    return out


def test_real_records_are_judged_alike(records: list[tuple[str, Any]]) -> None:
    """All valid but the sloppy workbook's record (a rating outside the list, a note too long)."""
    expected = [(True, True)] * (len(records) - 1) + [(False, False)]
    assert [_both(name, r) for name, r in records] == expected
    assert records[-1][1]["findings"], "the sloppy workbook should carry reader findings"
    errors = {e.validator for e in sc.validator(SUBMISSION).iter_errors(records[-1][1])}
    assert errors == {"enum", "maxLength"}


# ---------------------------------------------------------------- mutations
def _paths(node: Any, path: tuple[Any, ...] = (), *, strings: bool = False) -> list[tuple[Any, ...]]:
    """Every place in a record (strings=True: only its texts, where patterns, enums and lengths bite)."""
    out = [path] if not strings or isinstance(node, str) else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k), strings=strings)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i), strings=strings)
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
ANY_JSON = st.recursive(JSON_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                        max_leaves=6)
TRICKY_TEXT = st.sampled_from([
    "", "x", "K6-2-01", "K6-2-01\n", "K6-2-1", "k6-2-01", "K10-2-01", "10", "10\n", "48", "47", "00", "1O",
    "A1", "a1", "XFD1048576", "AAAA1", "A0", "2024-10", "2024-13", "2024-10\n", "2024-02-29", "2023-02-29",
    "2024-1-01", "２０２４-01-01", "2024-01-01\n", "2024-04-01T00:00", "E101", "e101", "W5011", "◎", "〇",
    "error", "warning", "fixed", "branch", "baseline", "fixed_text", "generic_conditional", "ratio", "count",
    "qualitative", "percent", "yen", "text", ">=", "<=", "national", "継続", "廃止", "6-1-II-2", "6-1-ii",
    "a" * 64, "0" * 64, "f" * 63, "g" * 64])
TRICKY_NUMBER = st.sampled_from([0, -1, 1, 1.0, 1.5, 0.1, 0.0, -0.0, 4, 5, 1999, 2000, 2100, 2101, 10**20, 1e-9,
                                 True, False])
STRING_EDITS = {  # how a typed or copied value goes wrong
    "newline": lambda s: s + "\n", "space": lambda s: " " + s, "upper": str.upper, "lower": str.lower,
    "shorter": lambda s: s[:-1], "longer": lambda s: s + s[-1:], "full-width": lambda s: s.translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}), "extra-digit": lambda s: s + "1"}
LONG_TEXT = st.sampled_from([39, 40, 41, 999, 1000, 1001, 1999, 2000, 2001]).map(lambda n: "字" * n)


def _mutate(draw: st.DrawFn, node: Any) -> Any:
    """`node` broken one way that fits what it is; dicts and lists are changed in place."""
    if isinstance(node, dict):
        kind = draw(st.sampled_from(["drop", "extra", "replace"]))
        if kind == "drop" and node:
            del node[draw(st.sampled_from(sorted(node)))]
        elif kind == "extra":
            node[draw(st.text(max_size=6))] = draw(JSON_LEAVES)
        return draw(ANY_JSON) if kind == "replace" else node
    if isinstance(node, list):
        kind = draw(st.sampled_from(["empty", "pop", "dup", "replace"]))
        if kind == "empty":
            node.clear()
        elif kind in ("pop", "dup") and node:
            node.pop() if kind == "pop" else node.append(copy.deepcopy(node[0]))
        return draw(ANY_JSON) if kind == "replace" else node
    if isinstance(node, str):
        kind = draw(st.sampled_from(["edit", "edit", "text", "long", "number", "replace"]))
        if kind == "edit":
            return STRING_EDITS[draw(st.sampled_from(sorted(STRING_EDITS)))](node)
    else:
        kind = draw(st.sampled_from(["number", "text", "replace"]))
    return draw({"text": TRICKY_TEXT, "long": LONG_TEXT, "number": TRICKY_NUMBER, "replace": ANY_JSON}[kind])


@st.composite
def mutated(draw: st.DrawFn, records: list[tuple[str, Any]]) -> tuple[str, Any]:
    """A real record, copied and broken at 0-3 places (texts, where most rules bite, half the time)."""
    name, original = draw(st.sampled_from(records))
    record = copy.deepcopy(original)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(record, strings=draw(st.booleans()))))
        before = _get(record, path)
        after = _mutate(draw, before)
        note(f"at {path}: {before!r:.60} -> {after!r:.60}")
        record = _set(record, path, after)
    return name, record


def test_both_checkers_agree_on_real_and_broken_records(records: list[tuple[str, Any]]) -> None:
    seen: set[tuple[bool, bool]] = set()

    @settings(derandomize=True, max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated(records))
    def agree(case: tuple[str, Any]) -> None:
        name, record = case
        verdicts = _both(name, record)
        seen.add(verdicts)
        assert verdicts[0] == verdicts[1], f"{name}: fastjsonschema valid={verdicts[0]}, jsonschema valid={verdicts[1]}"

    agree()
    assert seen == {(True, True), (False, False)}  # both valid and invalid records were tried


# ---------------------------------------------------------------- cases that once disagreed
@pytest.mark.parametrize("value", ["00\n", "1O", "123"])
def test_pattern_end_means_end_of_text_for_both(value: str) -> None:
    office = {"code": value, "name": "本部", "display_name": "本部"}
    record = {"headquarters": office, "branches": [{"code": "01", "name": "北海道", "display_name": "北海道支部"}]}
    assert _both("branches.schema.json", record) == (False, False)


@pytest.mark.parametrize("value,valid", [("2024-02-29", True), ("2023-02-29", False), ("2024-2-29", False),
                                         ("2024-02-29\n", False), ("２０２４-02-29", False)])
def test_date_format_is_one_check_for_both(records: list[tuple[str, Any]], value: str, valid: bool) -> None:
    catalogue = copy.deepcopy(records[1][1])
    catalogue["kpis"][0]["valid_until"] = value
    assert _both("catalogue.schema.json", catalogue) == (valid, valid)


# ---------------------------------------------------------------- the load-time guard
def _schema(**extra: Any) -> dict[str, Any]:
    return {"$schema": sc.DRAFT, "type": "object", "properties": {"a": {"type": "string", **extra}}}


@pytest.mark.parametrize("schema", [
    {**_schema(), "unevaluatedProperties": False},
    {**_schema(), "dependentRequired": {"a": ["b"]}},
    {"$schema": sc.DRAFT, "type": "array", "prefixItems": [{"type": "string"}]},
    {"$schema": sc.DRAFT, "$defs": {"x": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/x"}}},
    {"$schema": sc.DRAFT, "definitions": {"x": {"type": "string"}},
     "properties": {"a": {"$ref": "#/definitions/x", "maxLength": 3}}},
    {"$schema": sc.DRAFT, "properties": {"a": {"$ref": "#/definitions/missing"}}},
    _schema(format="email"),
    _schema(maxLenght=3),
    {**_schema(), "$schema": "https://json-schema.org/draft/2020-12/schema"},
    {"$schema": sc.DRAFT, "allOf": [{"if": {"properties": {"a": {"const": 1}}},
                                     "then": {"dependentSchemas": {}}}]},
], ids=["unevaluatedProperties", "dependentRequired", "prefixItems", "$defs", "ref-with-sibling",
        "ref-missing", "format-email", "misspelt", "draft-2020-12", "nested-in-then"])
def test_guard_rejects_keywords_outside_the_allow_list(schema: dict[str, Any]) -> None:
    with pytest.raises(sc.SchemaError):
        sc.prepare_schema(schema, "test.schema.json")


def test_every_shipped_schema_passes_the_guard() -> None:
    names = sorted(p.name for p in data_dir("schemas").glob("*.schema.json"))
    assert names == sorted({*DATA_FILES.values(), SUBMISSION})
    for name in names:
        assert sc.load_schema(name)["$schema"] == sc.DRAFT
