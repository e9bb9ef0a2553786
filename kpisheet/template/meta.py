"""What the workbook says about itself: the hidden _lists and very hidden _meta sheets, the document properties."""

from __future__ import annotations

import json

from kpisheet import TEMPLATE_FORMAT, TEMPLATE_VERSION, __version__
from kpisheet.domain.plan import PlanSubmission
from kpisheet.read.names import RATING_NAME, RATINGS, SHEET_LISTS, SHEET_META
from kpisheet.template.book import Book
from kpisheet.template.kpi_sheet import prefill
from kpisheet.template.layout import RATING_MEANINGS


def write_properties(book: Book) -> None:
    book.wb.set_properties({
        "title": book.title, "subject": f"{TEMPLATE_FORMAT} v{TEMPLATE_VERSION}",
        "author": "全国健康保険協会 本部", "company": "全国健康保険協会",
        "comments": f"kpisheet {__version__} で作成", "created": book.generated_at,
    })
    for name, value in (("kpisheet_format", TEMPLATE_FORMAT),
                        ("kpisheet_template_version", str(TEMPLATE_VERSION)),
                        ("kpisheet_branch_code", book.branch.code),
                        ("kpisheet_fiscal_year", str(book.fy)),
                        ("kpisheet_catalogue_digest", book.catalogue.digest)):
        book.wb.set_custom_property(name, value, "text")


def write_lists_sheet(book: Book) -> None:
    ws = book.sheets[SHEET_LISTS]
    for i, r in enumerate(RATINGS):
        ws.write_string(i, 0, r)
        ws.write_string(i, 1, RATING_MEANINGS[r])
    book.wb.define_name(RATING_NAME, f"='{SHEET_LISTS}'!$A$1:$A${len(RATINGS)}")
    ws.protect(book.password or "")
    ws.hide()


def write_meta_sheet(book: Book) -> None:
    ws = book.sheets[SHEET_META]
    for i, (key, value) in enumerate(meta(book).items()):
        ws.write_string(i, 0, key)
        ws.write_string(i, 1, value)
    ws.set_column(0, 1, 30)
    ws.protect(book.password or "")
    ws.very_hidden()


def meta(book: Book) -> dict[str, str]:
    out = _meta(book)
    if book.plan is not None:  # only workbooks generated with --plan: others' _meta stays as it was
        out["prefill_sources"] = json.dumps(prefill_sources(book), ensure_ascii=True, separators=(",", ":"))
        out["plan"] = f"plan:{plan_version(book.plan)}"
    return out


def plan_version(plan: PlanSubmission) -> str:
    """The approved version a plan is: the ledger's version id ('ledger:<id>' plans), else the digest of its content."""
    return plan.path.removeprefix("ledger:") if plan.path.startswith("ledger:") else plan.content_sha256()[:16]


def prefill_sources(book: Book) -> dict[str, str]:
    """{KPI id: 'plan:<version>'} of the targets prefilled from the branch's approved 事業計画
    (the reader's Submission.prefill_sources: a kept value is rated as 「事業計画の目標」)."""
    if book.plan is None:
        return {}
    source = f"plan:{plan_version(book.plan)}"
    return {kpi.id: source for kpi in book.kpis if kpi.kind != "qualitative" and prefill(book, kpi)[0].from_plan}


def _meta(book: Book) -> dict[str, str]:
    return {"format": TEMPLATE_FORMAT, "template_version": str(TEMPLATE_VERSION),
            "kpisheet_version": __version__, "term": str(book.catalogue.term),
            "catalogue_file": book.catalogue.source_file, "catalogue_digest": book.catalogue.digest,
            "fiscal_year": str(book.fy), "branch_code": book.branch.code,
            "branch_name": book.branch.display_name, "generated_at": book.generated_at.isoformat(),
            "rows_per_measure": str(book.rows_per_measure),
            "prefilled_targets": json.dumps(prefilled_targets(book), ensure_ascii=True, separators=(",", ":")),
            "prefilled_baselines": json.dumps(prefilled_baselines(book), ensure_ascii=True, separators=(",", ":"))}


def prefilled_targets(book: Book) -> dict[str, float | int]:
    """{KPI id: target HQ wrote into its target cell}, display units (the reader's Submission.prefilled_targets)."""
    return _prefilled(book, 0)


def prefilled_baselines(book: Book) -> dict[str, float | int]:
    """{KPI id: previous-year value HQ wrote into its 前年度実績 cell}, display units (Submission.prefilled_baselines):
    the rating uses HQ's value, and a branch's change to it is W420."""
    return _prefilled(book, 1)


def _prefilled(book: Book, which: int) -> dict[str, float | int]:
    """The values HQ prefilled, of each quantitative KPI: which=0 its target, 1 its previous-year value (prefill's pair)."""
    out: dict[str, float | int] = {}
    for kpi in book.kpis:
        if kpi.kind == "qualitative":
            continue
        cell = prefill(book, kpi)[which]
        if cell.prefilled and cell.value is not None:
            out[kpi.id] = int(cell.value) if float(cell.value).is_integer() else cell.value
    return out
