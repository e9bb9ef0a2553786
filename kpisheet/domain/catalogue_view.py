"""Readable and JSON views of a catalogue and the term mapping (for `kpisheet catalogue`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from kpisheet.domain.catalogue import Catalogue, Kpi, Part, TermMapping, load_catalogue
from kpisheet.domain.fiscal import wareki_date, wareki_fiscal_year

KIND_JA = {"ratio": "割合", "count": "件数", "qualitative": "定性"}
SCOPE_JA = {"branch": "支部", "national": "本部（全国のみ）"}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def kpi_dict(kpi: Kpi, fiscal_year: int | None = None) -> dict[str, Any]:
    d = _jsonable(asdict(kpi))
    d["target_ja"] = kpi.target.describe_ja(kpi)
    d["term_goal_ja"] = kpi.term_goal.describe_ja(kpi)
    d["grows_in_year"], d["is_level"] = kpi.grows_in_year, kpi.is_level
    if fiscal_year is not None:
        d["months"] = [f"{m.year:04d}-{m.month:02d}" for m in kpi.months(fiscal_year)]
    return d


def catalogue_dict(cat: Catalogue, fiscal_year: int | None = None) -> dict[str, Any]:
    return {"term": cat.term, "title": cat.title, "fiscal_years": [cat.first_fy, cat.last_fy],
            "fiscal_year": fiscal_year, "digest": cat.digest, "source_file": cat.source_file,
            "pillars": [asdict(p) for p in cat.pillars],
            "measures": [asdict(m) for m in cat.measures],
            "kpis": [kpi_dict(k, fiscal_year) for k in cat.kpis
                     if fiscal_year is None or k.applies_to(fiscal_year)]}


def catalogue_text(cat: Catalogue, fiscal_year: int) -> str:
    lines = [f"{wareki_fiscal_year(fiscal_year)}（FY{fiscal_year}） {cat.title}  KPI一覧",
             f"catalogue {cat.source_file}  digest {cat.short_digest}", ""]
    for pillar in cat.pillars:
        lines.append(f"{pillar.no}. {pillar.label}")
        for kpi in cat.kpis:
            if cat.measure(kpi.measure_id).pillar != pillar.no or not kpi.applies_to(fiscal_year):
                continue
            m = cat.measure(kpi.measure_id)
            extra = []
            if kpi.lag_annual:
                extra.append("年度終了後に集計（年度中の値なし）")
            elif kpi.lag_months:
                extra.append(f"データは約{kpi.lag_months}か月遅れ")
            if kpi.valid_until:
                extra.append(f"{wareki_date(kpi.valid_until)}まで")
            if kpi.scope == "national":
                extra.append(SCOPE_JA["national"])
            suffix = f"  ※{'、'.join(extra)}" if extra else ""
            lines.append(f"  {kpi.id}  {kpi.label}")
            year, goal = kpi.target.describe_ja(kpi), kpi.term_goal.describe_ja(kpi)
            goal = "" if goal == year else f"（第{cat.term}期末目標：{goal}）"
            lines.append(f"           目標：{year}{goal}  "
                         f"単位：{kpi.unit_label or '—'}  {KIND_JA[kpi.kind]}{_natures_ja(kpi)}  "
                         f"◎基準：{kpi.excellent_threshold:.0%}  施策：{m.heading}{suffix}")
        lines.append("")
    lines.append(f"KPI {sum(1 for k in cat.kpis if k.applies_to(fiscal_year))}件 / 具体的施策 {len(cat.measures)}件")
    return "\n".join(lines)


def _nature_ja(part: Part) -> str:
    return "累計" if part.is_flow else "時点"


def _natures_ja(kpi: Kpi) -> str:
    """'・累計÷時点' for a ratio, '・時点' for a count, '' for a qualitative KPI: what each monthly cell holds."""
    if kpi.kind == "ratio" and kpi.numerator and kpi.denominator:
        return f"・{_nature_ja(kpi.numerator)}÷{_nature_ja(kpi.denominator)}"
    return f"・{_nature_ja(kpi.value_part)}" if kpi.value_part else ""


def mapping_dict(mapping: TermMapping) -> dict[str, Any]:
    return {"from_term": mapping.from_term, "to_term": mapping.to_term,
            "measures": [asdict(m) for m in mapping.measures], "kpis": [asdict(k) for k in mapping.kpis]}


def mapping_text(mapping: TermMapping) -> str:
    old, new = load_catalogue(mapping.from_term), load_catalogue(mapping.to_term)
    lines = [f"第{mapping.from_term}期 → 第{mapping.to_term}期 対応表", "", "■ 具体的施策"]
    for link in mapping.measures:
        src = f"{link.from_id} {old.measure(link.from_id).label}" if link.from_id else "（なし）"
        dst = "、".join(f"{t} {new.measure(t).label}" for t in link.to_ids) or "（なし）"
        lines.append(f"  [{link.relation}] {src} → {dst}" + (f"  ※{link.note}" if link.note else ""))
    lines += ["", "■ KPI"]
    for k in mapping.kpis:
        src = f"{k.from_id} {old.kpi(k.from_id).short_label}" if k.from_id else "（なし）"
        dst = f"{k.to_id} {new.kpi(k.to_id).short_label}" if k.to_id else "（なし）"
        valid = "前年度値を基準値に使用可" if k.baseline_valid else "前年度値は基準値に使えない"
        lines.append(f"  [{k.relation}] {src} → {dst}  （{valid}）" + (f"  ※{k.note}" if k.note else ""))
    return "\n".join(lines)
