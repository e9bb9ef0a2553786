"""JSON Schema checks of our data: fastjsonschema says valid / not valid, jsonschema lists the errors.

Every run checks the catalogues, the mapping, the branch list and 48 submission
records.  Nearly all are valid, so the compiled check (fastjsonschema, ~15x
faster) decides first; only for invalid data is jsonschema imported and asked
for every error with its path — it stays the authority on what is wrong.

That split is only sound if both libraries decide alike.  So the schemas are
JSON Schema draft-07 (the newest draft fastjsonschema implements), both
libraries are told so, and a schema may use only the keywords listed in
KEYWORDS, which both implement the same way; anything else (a newer draft's
keyword, a misspelling, a format only one library knows) raises SchemaError
when the schema is loaded.  "format": "date" is decided by one function for
both, and a pattern's "$" means the end of the text in both (fastjsonschema
reads it as Python's "\\Z"; jsonschema is given the same).
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from typing import Any, Callable, Iterator

import fastjsonschema

from kpisheet.resources import data_dir

DRAFT = "http://json-schema.org/draft-07/schema#"

# Keywords whose value is a subschema, a list of subschemas, or a map of name -> subschema.
_SUBSCHEMA = {"not", "if", "then", "else", "additionalProperties", "items"}
_SUBSCHEMA_LIST = {"allOf", "anyOf", "oneOf"}
_SUBSCHEMA_MAP = {"properties", "definitions"}
# Keywords that only constrain or describe the value.
_PLAIN = {"$schema", "$id", "$ref", "$comment", "title", "description", "default", "examples",
          "type", "enum", "const", "required", "minLength", "maxLength", "pattern", "format",
          "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"}
KEYWORDS = frozenset(_SUBSCHEMA | _SUBSCHEMA_LIST | _SUBSCHEMA_MAP | _PLAIN)
FORMATS = frozenset({"date"})

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DOLLAR = re.compile(r"(?<!\\)\$")  # an unescaped "$", as fastjsonschema finds it
_REF_PREFIX = "#/definitions/"


class SchemaError(ValueError):
    """A schema in schemas/ that the two checkers might read differently."""


def _is_date(value: Any) -> bool:
    """'format': 'date' for both checkers: YYYY-MM-DD and a real day; non-strings are not its business."""
    if not isinstance(value, str):
        return True
    if not _DATE_RE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """A schema from schemas/, checked against the allow-list, with its references inlined.

    The schemas have no cycles; with "#/definitions/x" references inlined
    neither checker spends time resolving them (a third of jsonschema's cost).
    """
    schema = json.loads((data_dir("schemas") / name).read_text(encoding="utf-8"))
    return prepare_schema(schema, name)


def prepare_schema(schema: dict[str, Any], name: str = "schema") -> dict[str, Any]:
    """Check `schema` (raises SchemaError) and return it inlined, with end-of-text patterns."""
    if schema.get("$schema") != DRAFT:
        raise SchemaError(f"{name}: $schema must be {DRAFT!r}, not {schema.get('$schema')!r}")
    defs = schema.get("definitions", {})
    _check_node(schema, defs, name, "#")
    return _inline(schema, defs)


def _check_node(node: Any, defs: dict[str, Any], name: str, where: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise SchemaError(f"{name}: {where} is not a schema")
    for key, value in node.items():
        at = f"{where}/{key}"
        if key not in KEYWORDS:
            raise SchemaError(f"{name}: {at}: keyword {key!r} is not one both checkers implement alike")
        if key == "format" and value not in FORMATS:
            raise SchemaError(f"{name}: {at}: format {value!r} is not checked alike by both checkers")
        if key == "$ref" and (len(node) != 1 or not value.startswith(_REF_PREFIX)
                              or value.removeprefix(_REF_PREFIX) not in defs):
            raise SchemaError(f"{name}: {at}: only a lone reference to {_REF_PREFIX}<name> is allowed")
        for sub_at, sub in _subschemas(key, value, at):
            _check_node(sub, defs, name, sub_at)


def _subschemas(key: str, value: Any, at: str) -> Iterator[tuple[str, Any]]:
    if key in _SUBSCHEMA_MAP:
        yield from ((f"{at}/{k}", v) for k, v in value.items())
    elif key in _SUBSCHEMA_LIST or (key == "items" and isinstance(value, list)):
        yield from ((f"{at}/{i}", v) for i, v in enumerate(value))
    elif key in _SUBSCHEMA:
        yield at, value


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """A copy of a (checked) schema node with references replaced by what they name."""
    if isinstance(node, bool):
        return node
    if "$ref" in node:
        return _inline(defs[node["$ref"].removeprefix(_REF_PREFIX)], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "definitions":
            continue
        if key == "pattern":
            out[key] = _DOLLAR.sub(r"\\Z", value)
        elif key in _SUBSCHEMA_MAP:
            out[key] = {k: _inline(v, defs) for k, v in value.items()}
        elif key in _SUBSCHEMA_LIST or (key == "items" and isinstance(value, list)):
            out[key] = [_inline(v, defs) for v in value]
        elif key in _SUBSCHEMA:
            out[key] = _inline(value, defs)
        else:
            out[key] = value
    return out


@lru_cache(maxsize=None)
def _compiled(name: str) -> Callable[[Any], Any]:
    """fastjsonschema's validator of a schema, compiled once and kept in the user's cache (schema_cache)."""
    from kpisheet.schema_cache import compiled

    return compiled(load_schema(name), {"date": _is_date})


@lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """The jsonschema Draft7Validator of a schema: the authority on what is wrong."""
    import jsonschema  # only for invalid data: ~45 ms to import

    formats = jsonschema.FormatChecker(formats=())
    formats.checks("date")(_is_date)
    return jsonschema.Draft7Validator(load_schema(name), format_checker=formats)


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
    return validator(name).iter_errors(data)
