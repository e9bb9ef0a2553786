"""The checks on a 事業計画 (P4xx targets and volumes, P5xx measures): pure functions over a
PlanSubmission and the catalogue, each finding at the cell its value was read from.

    validate_plan(plan)                                  # the branch's own check (plan validate)
    validate_plan(plan, previous=approved_last_year,     # HQ's run: also against last year's plan
                  others=other_branches_plans)           # and the other branches' targets

What each code rests on (README, "Checks on a plan"):

P401 E  a target the branch sets is empty: rule `branch` (支部で設定), whatever the kind but text;
        rules `baseline` / `generic_conditional` only when the branch chose a number (kind value).
P402 W  a number below the year's reference — the branch's 見込み (`expected`), else the final value
        of the year before (`finals`) — for ≥ KPIs, above it for ≤ KPIs.  Not for the fixed KPIs'
        laxer targets (P403) or K6-2-08 (P407), whose rules say more.
P403 W  a number laxer than the catalogue's fixed target (100%, 25%, 15%以下 …).
P404 W  見込者数 ÷ 対象者数 at the KPI's shown precision (display.shown, half up) ≠ the target as shown.
P405 E  見込者数 > 対象者数 (also within a 内訳 row).
P406 W  the 内訳 rows' 見込者数 do not add up to the whole's; their 対象者数 neither add up to the
        whole's nor each equal it (seed layout: parts of one population share it).
P407 W  K6-2-08's condition, read from the catalogue's `generic_conditional` target: below its value,
        or below the reference when the reference is already at or above it.
P408 W  a number below last year's approved plan target (`previous`; across the term change through
        the term mapping where last year's value is a valid baseline).
P409 W  a rate target far from the other branches' median target (`others`): W412's thresholds.
P501 W  a measure the branch carries out (`measures_for`, `plan_required`) with no activity and not
        written under another measure (`covered_by`).
P502 W  a catalogue measure with more activities than the monthly 取組状況 has rows (names.ROWS_PER_MEASURE).
E409 E  an activity, heading or 目標の考え方 longer than names.TEXT_LIMITS (check.rules.schema.text_too_long).

P402, P403, P407 and P408 are warnings whether or not 目標の考え方 is filled: with a reason the
message says no action is needed and the finding's context has `reason_given` True, so HQ's lists
show the departure with its reason and the workbook's own 入力チェック need not count it.
A 'previous_year' kind (「対前年度以上」) states the rule and no number, and a 'text' kind or a
qualitative KPI states no number either: none of the number checks applies to them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from kpisheet.check.rules.outliers import MAD_FACTOR, MIN_BRANCHES, MIN_RELATIVE
from kpisheet.check.rules.schema import text_too_long
from kpisheet.domain.catalogue import (
    CATALOGUE_FILES,
    HQ_CODE,
    Catalogue,
    Kpi,
    load_catalogue,
    load_mapping,
    term_for_fy,
)
from kpisheet.domain.display import format_figure, shown
from kpisheet.domain.findings import Finding, KpisheetError, finding
from kpisheet.domain.fiscal import wareki_fiscal_year
from kpisheet.domain.model import InputValue
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanSubmission
from kpisheet.plan.reader import is_plan_read
from kpisheet.read.names import ROWS_PER_MEASURE, TEXT_LIMITS, measure_heading

CODES = frozenset({"P401", "P402", "P403", "P404", "P405", "P406", "P407", "P408", "P409", "P501", "P502"})

NO_NUMBER_KINDS = ("previous_year", "text")  # a target stated as the rule, or as words


def validate_plan(plan: PlanSubmission, *, catalogue: Catalogue | None = None,
                  previous: PlanSubmission | None = None, others: Iterable[PlanSubmission] = (),
                  finals: Mapping[str, float] | None = None) -> list[Finding]:
    """Every P4xx / P5xx finding (and E409) of one plan.

    catalogue: the plan's (default: its term's, else its fiscal year's); previous: the branch's
    approved plan of the year before (P408); others: the other branches' plans of the same year
    (P409; the plan itself and other years are left out); finals: final values of the year before
    the 見込み year (FY−2 of the plan, 「令和5年度実績」 for a 令和7年度 plan), display units, the
    reference of P402 / P407 where the branch gave no 見込み.  Never raises on odd values."""
    cat = catalogue or _catalogue(plan)
    if cat is None:
        return []
    ctx = _Context(plan, cat, finals or {})
    out: list[Finding] = []
    for kpi in _kpis(plan, cat):
        pk = plan.kpis.get(kpi.id) or _absent(kpi)
        out.extend(_kpi_checks(ctx, kpi, pk))
        if previous is not None:
            out.extend(_below_last_plan(ctx, kpi, pk, previous))
    out.extend(_far_from_others(ctx, others))
    out.extend(_measure_checks(ctx))
    return out


def validate_plans(plans: Sequence[PlanSubmission], *, previous: Mapping[str, PlanSubmission] | None = None
                   ) -> dict[str, list[Finding]]:
    """{path: findings of validate_plan} for every plan of `plans` that was read, each checked with the
    other plans of its year and with `previous[branch]` (last year's approved plan, when given)."""
    read = [p for p in plans if is_plan_read(p)]
    return {p.path: validate_plan(p, previous=(previous or {}).get(p.branch_code or ""),
                                  others=[o for o in read if o is not p and o.fiscal_year == p.fiscal_year])
            for p in read}


# ---------------------------------------------------------------- context
class _Context:
    def __init__(self, plan: PlanSubmission, cat: Catalogue, finals: Mapping[str, float]):
        self.plan, self.cat, self.finals = plan, cat, finals

    def at(self, iv: InputValue | None, code: str, subject: str, fallback: InputValue | None = None, /,
           **context: Any) -> Finding:
        """The finding at iv's cell (else fallback's): the place of the value the branch typed."""
        src = (iv.source if iv is not None else None) or (fallback.source if fallback is not None else None)
        return finding(code, file=self.plan.path, branch=self.plan.branch_code,
                       sheet=src.sheet if src else None, cell=src.cell if src else None,
                       name=src.name if src else None, subject=subject, **context)

    def reference(self, kpi: Kpi, pk: PlanKpi) -> tuple[float, str, str] | None:
        """(value, Japanese name, English name) of the year's reference: the branch's 見込み, else
        the final value of the year before it."""
        fy = _int(self.plan.fiscal_year)
        expected = number(pk.expected)
        if expected is not None:
            status = pk.expected_status.value if pk.expected_status.value in ("見込み", "暫定") else None
            word = status or ("実績" if pk.expected_status.value == "確定" else "見込み")
            year = wareki_fiscal_year(fy - 1) if fy and fy - 1 >= 1989 else "前年度"
            as_of = f"（{str(pk.expected_as_of.value).strip()}）" if _filled(pk.expected_as_of) else ""
            return (expected, f"{year}{word}{as_of}",
                    f"last year's {'value' if word == '実績' else 'expected value'}{as_of}")
        final = self.finals.get(kpi.id)
        final = final if isinstance(final, (int, float)) and not isinstance(final, bool) else None
        if final is not None and math.isfinite(final):
            year = wareki_fiscal_year(fy - 2) if fy and fy - 2 >= 1989 else "前々年度"
            return float(final), f"{year}実績", "the final value of the year before"
        return None


def _absent(kpi: Kpi) -> PlanKpi:
    """What a plan that says nothing of a KPI states: its rule where it has one, else no number."""
    rule = kpi.target.rule in ("baseline", "generic_conditional")
    return PlanKpi(kpi.id, "previous_year" if rule else "text" if kpi.kind == "qualitative" else "value")


def _catalogue(plan: PlanSubmission) -> Catalogue | None:
    try:
        if plan.term in CATALOGUE_FILES:
            return load_catalogue(plan.term)
        fy = _int(plan.fiscal_year)
        return load_catalogue(term_for_fy(fy)) if fy is not None else None
    except KpisheetError:  # a year no catalogue covers: the reader's identity finding
        return None


def _kpis(plan: PlanSubmission, cat: Catalogue) -> list[Kpi]:
    fy = _int(plan.fiscal_year)
    code = plan.branch_code if isinstance(plan.branch_code, str) else "01"
    if fy is None or not 1989 <= fy <= 9998:  # no year of a calendar: every KPI of the scope
        scope = "national" if code == HQ_CODE else "branch"
        return [k for k in cat.kpis if k.scope == scope]
    return cat.kpis_for(fy, code)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def number(iv: InputValue) -> float | None:
    """The value as a finite number, else None (text, an unreadable cell, nan, inf)."""
    v = iv.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _filled(iv: InputValue) -> bool:
    v = iv.value
    return v is not None and not (isinstance(v, str) and not v.strip())


def _empty(iv: InputValue) -> bool:
    return not _filled(iv) and (iv.raw is None or (isinstance(iv.raw, str) and not iv.raw.strip()))


def _easier(kpi: Kpi, target: float, reference: float) -> bool:
    """The target asks less than the reference, compared as both are shown."""
    t, r = shown(kpi, target), shown(kpi, reference)
    return t > r if kpi.direction == "<=" else t < r


def _advice(pk: PlanKpi, fix_ja: str = "この目標でよいか確認し、", fix_en: str = "Check the target and ") -> dict[str, Any]:
    """What the branch is asked: nothing when 目標の考え方 gives the reason (context reason_given), else
    to check the target (or fix_ja: to set another) and give the reason."""
    if _filled(pk.reason):
        return {"reason_given": True, "reason": str(pk.reason.value),
                "advice_ja": "目標の考え方が記入されているため、対応は不要です（本部の一覧に目標の考え方とともに載ります）。",
                "advice_en": "目標の考え方 gives the reason: nothing to do (HQ's lists show it with the reason)."}
    return {"reason_given": False, "advice_ja": f"{fix_ja}目標の考え方にその理由を記入してください。",
            "advice_en": f"{fix_en}give the reason in 目標の考え方."}


# ---------------------------------------------------------------- one KPI
def _kpi_checks(ctx: _Context, kpi: Kpi, pk: PlanKpi) -> Iterator[Finding]:
    too_long = text_too_long(pk.reason, TEXT_LIMITS["note"], label=f"{kpi.id} {kpi.short_label} 目標の考え方",
                             file=ctx.plan.path, branch=ctx.plan.branch_code, subject=kpi.id)
    if too_long is not None:
        yield too_long
    if kpi.kind == "qualitative" or kpi.target.rule == "fixed_text" or pk.kind == "text":
        return
    yield from _missing(ctx, kpi, pk)
    yield from _volumes(ctx, kpi, pk)
    if pk.kind in NO_NUMBER_KINDS:
        return
    target = number(pk.target)
    if target is None:
        return
    fmt, label = kpi.format_value, kpi.short_label
    rule = kpi.target.rule
    laxer = False
    if rule == "fixed" and kpi.target.value is not None and _easier(kpi, target, kpi.target.value):
        laxer = True
        fixed = fmt(kpi.target.value)
        yield ctx.at(pk.target, "P403", kpi.id, label=label, value=fmt(target), expected=fixed,
                     **_advice(pk, f"全国共通の目標（{fixed}）と同じかそれより厳しい目標にするか、",
                               f"Set {fixed} or a stricter target, or "))
    ref = ctx.reference(kpi, pk)
    if rule == "generic_conditional":
        yield from _generic(ctx, kpi, pk, target, ref)
    elif ref is not None and not laxer and _easier(kpi, target, ref[0]):
        yield ctx.at(pk.target, "P402", kpi.id, label=label, value=fmt(target), expected=fmt(ref[0]),
                     reference_ja=ref[1], reference_en=ref[2], **_advice(pk))
    yield from _against_counts(ctx, kpi, pk, target)


def _missing(ctx: _Context, kpi: Kpi, pk: PlanKpi) -> Iterator[Finding]:
    """P401: rule `branch` needs a number; a 対前年度 rule KPI only when the branch chose a number."""
    if not _empty(pk.target):
        return
    rule = kpi.target.rule
    if rule == "branch":
        if pk.kind == "previous_year":
            why = {"why_ja": "（目標の種類が「対前年度以上」ですが、このKPIの目標は支部が数値で定めます）",
                   "why_en": " (its kind is 対前年度以上, but this KPI's target is a number the branch sets)"}
        else:
            why = {"why_ja": "", "why_en": ""}
        goal = kpi.term_goal.describe_ja(kpi) if kpi.term_goal.rule == "fixed" else ""
        fix = f"支部の事業計画の目標値を数値で入力してください{f'（第{ctx.cat.term}期末目標 {goal}）' if goal else ''}。"
        yield ctx.at(pk.target, "P401", kpi.id, label=kpi.short_label, **why, fix_ja=fix,
                     fix_en="Enter the branch plan's target as a number.")
    elif rule in ("baseline", "generic_conditional") and pk.kind not in NO_NUMBER_KINDS:
        yield ctx.at(pk.target, "P401", kpi.id, label=kpi.short_label,
                     why_ja="（目標の種類は「数値」です）", why_en=" (its kind is a number)",
                     fix_ja=f"目標の値を入力するか、目標の種類を「{kpi.target.describe_ja(kpi)}」にしてください。",
                     fix_en="Enter the number, or choose the rule (対前年度) as the kind of target.")


def _generic(ctx: _Context, kpi: Kpi, pk: PlanKpi, target: float,
             ref: tuple[float, str, str] | None) -> Iterator[Finding]:
    """P407: below the catalogue's value, or below the reference where that is already at or above it."""
    floor = kpi.target.value
    if floor is None:
        return
    fmt = kpi.format_value
    common = {"label": kpi.short_label, "value": fmt(target), "rule_ja": kpi.target.describe_ja(kpi),
              "rule_en": f"{fmt(floor)} or more, and no less than last year's value where that is {fmt(floor)} or more"}
    if _easier(kpi, target, floor):
        yield ctx.at(pk.target, "P407", kpi.id, expected=fmt(floor), why_ja=f"{fmt(floor)}未満",
                     why_en=f"below {fmt(floor)}", **common, **_advice(pk))
    elif ref is not None and not _easier(kpi, ref[0], floor) and _easier(kpi, target, ref[0]):
        yield ctx.at(pk.target, "P407", kpi.id, expected=fmt(ref[0]),
                     why_ja=f"{ref[1]} {fmt(ref[0])} が{fmt(floor)}以上のため、目標は {fmt(ref[0])} 以上",
                     why_en=f"{ref[2]} {fmt(ref[0])} is {fmt(floor)} or more, so the target is at least {fmt(ref[0])}",
                     **common, **_advice(pk))


# ---------------------------------------------------------------- 対象者数 and 見込者数
def _labels(kpi: Kpi) -> dict[str, Any]:
    plan = kpi.plan
    return {"population_label": (plan.population_label if plan and plan.population_label else "対象者数"),
            "planned_label": (plan.planned_label if plan and plan.planned_label else "見込者数")}


def _population(ctx: _Context, kpi: Kpi, pk: PlanKpi) -> InputValue:
    """The KPI's own 対象者数, else the one it shares (catalogue plan.shared_with: 事業者健診 shares 生活習慣病予防健診's)."""
    if _filled(pk.population) or kpi.plan is None or not kpi.plan.shared_with:
        return pk.population
    other = ctx.plan.kpis.get(kpi.plan.shared_with)
    return other.population if other is not None else pk.population


def _takes_counts(kpi: Kpi) -> bool:
    if kpi.plan is not None:
        return kpi.plan.takes_counts
    return kpi.kind == "ratio" and kpi.is_percent  # before the catalogue says: wherever the branch wrote them


def _volumes(ctx: _Context, kpi: Kpi, pk: PlanKpi) -> Iterator[Finding]:
    """P405 見込者数 > 対象者数 (the whole and each 内訳 row), P406 内訳 that does not add up."""
    if not (_takes_counts(kpi) or pk.parts):
        return
    labels = _labels(kpi)
    pop_iv = _population(ctx, kpi, pk)
    rows = [(kpi.short_label, pop_iv, pk.planned)]
    rows += [(f"{kpi.short_label}（内訳：{p.label.value if _filled(p.label) else p.n}）", p.population, p.planned)
             for p in pk.parts]
    for label, pop_iv_row, planned_iv in rows:
        pop, planned = number(pop_iv_row), number(planned_iv)
        if pop is not None and planned is not None and shown(0, planned) > shown(0, pop):
            yield ctx.at(planned_iv, "P405", kpi.id, label=label, value=format_figure(planned),
                         expected=format_figure(pop), **labels)
    if not pk.parts:
        return
    part_planned = [number(p.planned) for p in pk.parts]
    whole_planned = number(pk.planned)
    if whole_planned is not None and all(v is not None for v in part_planned):
        total = _sum([v for v in part_planned if v is not None])
        if total != shown(0, whole_planned):
            yield ctx.at(pk.planned, "P406", kpi.id, label=kpi.short_label, what_ja=labels["planned_label"],
                         what_en="planned people", parts=format_figure(total), expected=format_figure(whole_planned))
    part_pop = [number(p.population) for p in pk.parts]
    whole_pop = number(pop_iv)
    if whole_pop is not None and all(v is not None for v in part_pop):
        values = [v for v in part_pop if v is not None]
        total = _sum(values)
        whole = shown(0, whole_pop)
        shared = all(shown(0, v) == whole for v in values)  # each part of the one population (協会保健師 / 委託)
        if total != whole and not shared:
            yield ctx.at(pop_iv, "P406", kpi.id, label=kpi.short_label, what_ja=labels["population_label"],
                         what_en="populations", parts=format_figure(total), expected=format_figure(whole_pop))


def _sum(values: list[float]) -> Decimal:
    """Σ of counts as shown (whole people): each rounded once, the one way, then added exactly."""
    total = Decimal(0)
    for v in values:
        total += shown(0, v)
    return total


def _against_counts(ctx: _Context, kpi: Kpi, pk: PlanKpi, target: float) -> Iterator[Finding]:
    """P404: 見込者数 ÷ 対象者数 as shown ≠ the target as shown."""
    if not (_takes_counts(kpi) and kpi.kind == "ratio"):
        return
    pop_iv = _population(ctx, kpi, pk)
    pop, planned = number(pop_iv), number(pk.planned)
    if pop is None or planned is None or pop <= 0 or planned < 0:
        return
    if shown(0, planned) > shown(0, pop):
        return  # P405 says it: a rate over the whole population is no second finding
    rate = kpi.rate(planned, pop)
    if rate is None or shown(kpi, rate) == shown(kpi, target):
        return
    yield ctx.at(pk.target, "P404", kpi.id, pk.planned, label=kpi.short_label,
                 value=kpi.format_value(target), rate=kpi.format_value(rate), planned=format_figure(planned),
                 population=format_figure(pop), **_labels(kpi))


# ---------------------------------------------------------------- against last year's plan, other branches
def _below_last_plan(ctx: _Context, kpi: Kpi, pk: PlanKpi, previous: PlanSubmission) -> Iterator[Finding]:
    """P408: a number easier than last year's approved plan's number for the same KPI."""
    if kpi.kind == "qualitative" or pk.kind in NO_NUMBER_KINDS:
        return
    target = number(pk.target)
    old = _previous_kpi(ctx, kpi, previous)
    if target is None or old is None or old.kind in NO_NUMBER_KINDS:
        return
    before = number(old.target)
    if before is not None and _easier(kpi, target, before):
        yield ctx.at(pk.target, "P408", kpi.id, label=kpi.short_label, value=kpi.format_value(target),
                     expected=kpi.format_value(before), **_advice(pk))


def _previous_kpi(ctx: _Context, kpi: Kpi, previous: PlanSubmission) -> PlanKpi | None:
    if kpi.id in previous.kpis:
        return previous.kpis[kpi.id]
    if previous.term == ctx.cat.term or previous.term is None:
        return None
    try:
        link = load_mapping().predecessor(kpi.id)
    except KpisheetError:
        return None
    if link is None or not link.baseline_valid or link.from_id is None:
        return None  # redefined across the term change: last year's number measures something else
    return previous.kpis.get(link.from_id)


def _far_from_others(ctx: _Context, others: Iterable[PlanSubmission]) -> Iterator[Finding]:
    """P409: a rate target more than W412's distance from the median of the branches' targets."""
    plan = ctx.plan
    peers = [o for o in others if o is not plan and o.fiscal_year == plan.fiscal_year
             and o.branch_code != plan.branch_code and o.branch_code != HQ_CODE]
    if not peers or plan.branch_code == HQ_CODE:
        return
    for kpi in _kpis(plan, ctx.cat):
        pk = plan.kpis.get(kpi.id)
        if pk is None or kpi.kind != "ratio" or pk.kind in NO_NUMBER_KINDS:
            continue  # counts scale with the prefecture: their spread says nothing (as W412)
        own = number(pk.target)
        if own is None:
            continue
        levels = [own]
        for o in peers:
            opk = o.kpis.get(kpi.id)
            v = number(opk.target) if opk is not None and opk.kind not in NO_NUMBER_KINDS else None
            if v is not None:
                levels.append(v)
        if len(levels) < MIN_BRANCHES:
            continue
        median = statistics.median(levels)
        mad = statistics.median(abs(v - median) for v in levels) * 1.4826
        gap = abs(own - median)
        if gap > MAD_FACTOR * mad and gap > MIN_RELATIVE * max(abs(median), 1e-9):
            yield ctx.at(pk.target, "P409", kpi.id, label=kpi.short_label, value=kpi.format_value(own),
                         expected=kpi.format_value(median), count=len(levels))


# ---------------------------------------------------------------- measures
def _measure_checks(ctx: _Context) -> Iterator[Finding]:
    plan, cat = ctx.plan, ctx.cat
    code = plan.branch_code if isinstance(plan.branch_code, str) else "01"
    known = {m.id for m in cat.measures} | set(plan.measures)
    for measure in cat.measures_for(code):
        if not measure.plan_required:
            continue
        pm = plan.measures.get(measure.id) or PlanMeasure(measure.id)  # a plan that says nothing of it
        written = _written(pm)
        covered = isinstance(pm.covered_by, str) and pm.covered_by != measure.id and pm.covered_by in known
        if not written and not covered:
            first = pm.items[0].text if pm.items else None
            yield ctx.at(first, "P501", measure.id, pm.heading, measure=measure_heading(measure.id))
        if len(written) > ROWS_PER_MEASURE:
            over = written[ROWS_PER_MEASURE]
            yield ctx.at(over.text, "P502", measure.id, measure=measure_heading(measure.id), value=len(written),
                         expected=ROWS_PER_MEASURE, first_over=ROWS_PER_MEASURE + 1)
    for pm in plan.measures.values():
        yield from _long_texts(ctx, pm)


def _written(pm: PlanMeasure) -> list[PlanItem]:
    return [item for item in pm.items if _filled(item.text)]


def _long_texts(ctx: _Context, pm: PlanMeasure) -> Iterator[Finding]:
    heading = measure_heading(pm.measure_id)
    where = {"file": ctx.plan.path, "branch": ctx.plan.branch_code, "subject": pm.measure_id}
    checks = [(pm.heading, TEXT_LIMITS["note"], f"{heading} の見出し")]
    for item in pm.items:
        checks.append((item.text, TEXT_LIMITS["text"], f"{heading} の{item.n}行目の事業内容"))
        checks.append((item.subheading, TEXT_LIMITS["note"], f"{heading} の{item.n}行目の小見出し"))
    for iv, limit, label in checks:
        f = text_too_long(iv, limit, label=label, **where)
        if f is not None:
            yield f
