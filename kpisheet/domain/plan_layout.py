"""Where an approved 事業計画's headings and items stand in the monthly workbook's 取組状況 and in 実施状況.

The monthly workbook has one block per catalogue measure; a branch's plan may give a measure two
headings of its own (「(6) 返納金債権発生防止のための保険証回収強化」 and 「(7) 債権管理回収業務の推進」 for
one action-plan measure, as 「令和5年度 埼玉支部事業計画実施状況（概要版）」 does).  The second is a
measure of the branch's own ('B-<pillar>-<n>') whose `covered_by` names the catalogue measure it is
written under: its items follow that measure's own items in the measure's block, in plan order.

`filed_items(plan, measure_id)` is that order: row n of the block is the n-th (heading, item).  The
template prefills the rows in it (kpisheet.template.measure_sheet) and 実施状況 reads the rows back
in it (kpisheet.write.report.plan_status), so a row's heading and 小見出し are known from its number.
Pure functions, no IO.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpisheet.domain.plan import PlanItem, PlanMeasure, PlanSubmission

PLAN_SPARE_ROWS = 2  # 事業内容 rows left free under the plan's items of its largest measure


@dataclass(frozen=True)
class FiledItem:
    """One row of a measure's block as the plan fills it: the heading it stands under and the item."""

    n: int  # 1-based row of the block
    heading: PlanMeasure  # the catalogue measure's own plan entry, or a B- measure filed under it
    item: PlanItem

    @property
    def text(self) -> str | None:
        return text_of(self.item.text.value)

    @property
    def subheading(self) -> str | None:
        return text_of(self.item.subheading.value)

    @property
    def level(self) -> str | None:
        return text_of(self.item.level.value)


def text_of(value: object) -> str | None:
    """A plan cell's text, stripped; None for blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def filed_under(plan: PlanSubmission, measure_id: str) -> list[PlanMeasure]:
    """The plan entries written in `measure_id`'s block: its own (if the plan has it), then the branch's
    own measures ('B-…') whose covered_by is `measure_id`, in plan order."""
    own = [plan.measures[measure_id]] if measure_id in plan.measures else []
    return own + [m for mid, m in plan.measures.items() if mid.startswith("B-") and m.covered_by == measure_id]


def filed_items(plan: PlanSubmission | None, measure_id: str) -> list[FiledItem]:
    """The rows of `measure_id`'s block the plan fills, in order (items without text are skipped)."""
    if plan is None:
        return []
    out: list[FiledItem] = []
    for heading in filed_under(plan, measure_id):
        for item in heading.items:
            if text_of(item.text.value) is not None:
                out.append(FiledItem(len(out) + 1, heading, item))
    return out


def heading_text(measure: PlanMeasure | None) -> tuple[str | None, str | None]:
    """(numbering, heading) the branch gave a measure, each None where blank."""
    if measure is None:
        return None, None
    return text_of(measure.numbering.value), text_of(measure.heading.value)


def rows_per_measure(plan: PlanSubmission | None, catalogue_measures: list[str], base: int) -> int:
    """事業内容 rows per measure of a workbook: `base`; with a plan, enough for the block the plan fills
    most plus PLAN_SPARE_ROWS (never fewer than `base`)."""
    if plan is None:
        return base
    most = max((len(filed_items(plan, mid)) for mid in catalogue_measures), default=0)
    return max(base, most + PLAN_SPARE_ROWS)
