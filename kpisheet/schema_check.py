"""JSON Schema checks of our data: fastjsonschema says valid / not valid, jsonschema lists the errors.

Every run checks the catalogues, the mapping, the branch list and 48 submission
records.  Nearly all are valid, so the compiled check (fastjsonschema, ~15x
faster) decides first; only for invalid data is jsonschema imported and asked
for every error with its path — it stays the authority on what is wrong.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from typing import Any, Iterator

import fastjsonschema

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(text: str) -> bool:
    """'format': 'date' as jsonschema's FormatChecker decides it (YYYY-MM-DD and a real day)."""
    try:
        return bool(_DATE_RE.match(text)) and bool(date.fromisoformat(text))
    except ValueError:
        return False


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """A schema from schemas/ with its local "#/$defs/x" references inlined.

    The schemas have no cycles; with references inlined neither checker spends
    time resolving them (a third of jsonschema's cost here), and the 2020-12
    schema becomes one draft-07 can read (no 2020-12-only keyword is used).
    """
    from .catalogue import data_dir

    schema = json.loads((data_dir("schemas") / name).read_text(encoding="utf-8"))
    return _inline_refs(schema, schema.get("$defs", {}))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/") and len(node) == 1:
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@lru_cache(maxsize=None)
def _compiled(name: str) -> Any:
    schema = {**load_schema(name), "$schema": "http://json-schema.org/draft-07/schema#"}
    return fastjsonschema.compile(schema, formats={"date": _is_date})


@lru_cache(maxsize=None)
def _validator(name: str) -> Any:
    import jsonschema  # only for invalid data: ~45 ms to import

    return jsonschema.Draft202012Validator(load_schema(name), format_checker=jsonschema.FormatChecker())


def is_valid(name: str, data: Any) -> bool:
    try:
        _compiled(name)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def iter_errors(name: str, data: Any) -> Iterator[Any]:
    """Every jsonschema ValidationError of `data`; none (without importing jsonschema) when valid."""
    if is_valid(name, data):
        return iter(())
    return _validator(name).iter_errors(data)
