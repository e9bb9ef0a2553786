"""Schema rules: the submission record against schemas/submission.schema.json, each error mapped
back to the cell its value came from (E407 a rating not in the list, E409 text too long, E309 else).

`text_too_long` is E409 for a text of any record (a 事業計画's activities and 目標の考え方,
kpisheet.plan.rules): one code and one message for a text longer than its cell should hold."""

from __future__ import annotations

from typing import Any

from kpisheet.domain.findings import Finding, finding
from kpisheet.domain.model import InputValue, Submission
from kpisheet.schema_check import iter_errors

CODES = frozenset({"E309", "E407", "E409"})

def _blank(*inputs: InputValue) -> bool:
    return all(iv.value is None and iv.raw is None for iv in inputs)


def schema_record(sub: Submission) -> dict[str, Any]:
    """Submission.to_dict() without the months / 取組 rows whose inputs are all blank.

    Those carry nothing typed by a branch, only the coordinates the reader itself wrote,
    and they are ~80% of a record; leaving them out keeps jsonschema at ~10 ms per file.
    """
    record = sub.to_dict(kpis=False, measures=False)
    record["kpis"] = [{**k.to_dict(months=False),
                       "months": [m.to_dict() for m in k.months.values()
                                  if not _blank(m.numerator, m.denominator, m.value)]}
                      for k in sub.kpis.values()]
    record["measures"] = [{**m.to_dict(rows=False),
                           "rows": [r.to_dict() for r in m.rows if not _blank(r.text, r.rating, r.note)]}
                          for m in sub.measures.values()]
    return record


SUBMISSION_SCHEMA = "submission.schema.json"
SCHEMA_CODES = {"enum": "E407", "maxLength": "E409"}


def text_too_long(iv: InputValue, limit: int, *, label: str, file: str | None, branch: str | None,
                  subject: str | None) -> Finding | None:
    """E409 at the text's cell when it has more than `limit` characters (names.TEXT_LIMITS), else None."""
    text = iv.value
    if not isinstance(text, str) or len(text) <= limit:
        return None
    src = iv.source
    return finding("E409", file=file, branch=branch, sheet=src.sheet if src else None,
                   cell=src.cell if src else None, name=src.name if src else None, subject=subject,
                   value=len(text), label=label, expected=limit)


def schema_findings(sub: Submission) -> list[Finding]:
    """Each jsonschema error of the record as a finding at the cell the offending value came from."""
    record = schema_record(sub)
    out: list[Finding] = []
    errors = iter_errors(SUBMISSION_SCHEMA, record)
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        node = _input_node(record, path)
        source = (node or {}).get("source") or {}
        value = (node or {}).get("value")
        label = _label_for(record, path)
        code = SCHEMA_CODES.get(str(error.validator), "E309")
        context: dict[str, Any] = {"label": label, "reason": error.message[:200]}
        if code == "E409":
            context.update(expected=error.validator_value)
            value = len(value) if isinstance(value, str) else value
        out.append(finding(code, file=sub.path, branch=sub.branch_code, sheet=source.get("sheet"),
                           cell=source.get("cell"), name=source.get("name"), subject=_subject(record, path),
                           value=value if code != "E309" else _short(value), **context))
    return out


def _input_node(record: dict[str, Any], path: list[Any]) -> dict[str, Any] | None:
    """The innermost {value, raw, source} object on the path of a schema error."""
    node: Any = record
    found = None
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "source" in node and "value" in node:
            found = node
    return found


def _subject(record: dict[str, Any], path: list[Any]) -> str | None:
    if len(path) >= 2 and path[0] in ("kpis", "measures"):
        item = record[path[0]][path[1]]
        return item.get("kpi_id") or item.get("measure_id")
    return None


def _label_for(record: dict[str, Any], path: list[Any]) -> str:
    subject = _subject(record, path) or ""
    tail = ".".join(str(p) for p in path[2:] if not isinstance(p, int) and p != "value")
    return f"{subject} {tail}".strip() or ".".join(map(str, path)) or "record"


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:40]
