"""Example data: plausible filled branch workbooks, for the examples, the benchmarks and the tests.

This is kpisheet's public example generator.  `examples/make_examples.py`
uses it to build the shipped example inbox (the workbooks branches and HQ
returned, one of them late, a few with typing mistakes), the scripts in benchmarks/ use it to make their
input, and the tests use it for a realistic clean workbook:

    values = sample_values(catalogue_for_fy(2024), 2024, "10", date(2024, 9, 1))
    fill_by_names(template, out, values)

`sample_values` gives every input of one branch's workbook through a month,
keyed by defined name, with magnitudes scaled from real figures (see
docs/domain-notes.md, "Example data"); the same seed always gives the same
values.  `fill_by_names` writes them with openpyxl into a copy of a template
kpisheet generated itself — never into a branch's file.  Nothing in the
monthly run imports this module.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import openpyxl

from kpisheet.domain.catalogue import Catalogue, Kpi
from kpisheet.read.names import kpi_key, measure_key


def fill_by_names(template: Path, out: Path, values: dict[str, Any]) -> None:
    """Copy `template` to `out`, putting values[name] into the cell each defined name points at.

    A value of None clears the cell.  Strings are written as text (data_type 's'),
    so '=1+1' stays text.  Unknown names raise KeyError (a test bug, not user input).
    """
    wb = openpyxl.load_workbook(template)
    write_by_names(wb, values, template)
    wb.save(out)


def write_by_names(wb: Any, values: Mapping[str, Any], source: Path, *, absent_blank_ok: bool = False) -> None:
    """Put values[name] into the cell each defined name of the loaded workbook `wb` points at (strings as
    text); an unknown name raises KeyError, unless `absent_blank_ok` and its value is None (nothing to clear)."""
    for name, value in values.items():
        if name not in wb.defined_names:
            if absent_blank_ok and value is None:
                continue
            raise KeyError(f"no defined name {name!r} in {source}")
        (sheet, ref), = wb.defined_names[name].destinations
        cell = wb[sheet][ref.replace("$", "")]
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"


# --------------------------------------------------------------------------- realistic values
# Population in millions (2020 census, rounded), by JIS prefecture code 01..47.
POPULATION = [5.22, 1.24, 1.21, 2.30, 0.96, 1.07, 1.83, 2.87, 1.93, 1.94, 7.34, 6.28, 14.05, 9.24, 2.20,
              1.03, 1.13, 0.77, 0.81, 2.05, 1.98, 3.63, 7.54, 1.77, 1.41, 2.58, 8.84, 5.47, 1.32, 0.92,
              0.55, 0.67, 1.89, 2.80, 1.34, 0.72, 0.95, 1.33, 0.69, 5.14, 0.81, 1.31, 1.74, 1.12, 1.07,
              1.59, 1.47]

# kpi id suffix -> (denominator per million people per year or fixed, annual rate in % (low, high))
_RATIO_PROFILE: dict[str, tuple[float, tuple[float, float]]] = {
    "1-01": (60_000, (99.5, 100.0)),      # 支給件数 / year
    "1-02": (55_000, (93.5, 98.5)),       # 申請件数 / year
    "1-03": (48_000_000_000, (0.22, 0.45)),  # 医療費総額 (円) / year
    "1-04": (2_400, (7_000, 10_500)),     # 再審査件数 / year -> 円 per case
    "1-05": (90_000_000, (52.0, 70.0)),   # 返納金債権額 (円) / year
    "1-06": (50_000, (78.0, 90.0)),       # 資格喪失者の保険証枚数 / year
    "2-01": (134_000, (48.0, 66.0)),      # 健診対象者 (annual, constant)
    "2-02": (134_000, (5.0, 14.0)),
    "2-03": (37_700, (22.0, 36.0)),
    "2-04": (20_300, (14.0, 32.0)),
    "2-05": (2_000, (9.0, 24.0)),
    "2-06": (9_000, (28.0, 38.0)),
    "2-08": (9_000_000, (78.5, 86.0)),    # 数量
    "2-09": (0, (15.0, 40.0)),            # 成分数 (fixed 40)
    "2-11": (200_000, (38.0, 62.0)),      # 全被保険者数 (constant)
    "3-01": (40, (0.0, 18.0)),            # 入札件数 / year
}
_COUNT_PROFILE = {"2-07": 750, "2-12": 2_200, "2-10": 142_000_000}  # per million people (2-10: national)

TEXT_POOL = [
    "評議会において丁寧な説明をしたうえで、保険料率に関する議論を行った",
    "加入者や事業主に対して、ホームページや定期広報誌等で情報を提供した",
    "お客様満足度調査結果を分析し、課題抽出と改善の取組を行った",
    "健診・保健指導カルテ等から勧奨対象者を選定し受診を促進した",
    "自治体と連携し集団健診の実施を推進した",
    "ICTを活用した特定保健指導を推進した",
    "未治療者に対する受診勧奨を実施した",
    "健康宣言事業所へのサポートの充実を図った",
    "ジェネリック医薬品に切り替えた場合の自己負担軽減額の周知広報を実施した",
    "関係会議等においてデータを活用した効果的な意見発信を行った",
    "自主点検を年2回実施し、法令遵守を組織に浸透させた",
    "調達における競争性を高めるため、多くの業者が参加しやすい環境を整備した",
]


def _scale(code: str) -> float:
    return POPULATION[int(code) - 1] if code != "00" else sum(POPULATION)


def _ratio_month_values(kpi: Kpi, code: str, k: int, rng: random.Random, rate: float) -> tuple[float, float]:
    """Numerator and denominator after k months: flows year-to-date (they only grow), stocks at the
    month's end (a population stays; a level moves a little either way)."""
    suffix = kpi.id.split("-", 1)[1]
    per_million, _ = _RATIO_PROFILE.get(suffix, (10_000, (50.0, 60.0)))
    size = _scale(code)
    factor = 1 / 100 if kpi.display == "percent" else 1.0
    if suffix == "2-09":
        den = 40.0
        return float(round(den * rate / 100)), den
    assert kpi.numerator and kpi.denominator
    if kpi.grows_in_year:  # a flow over the year's population: the population stays, the flow climbs
        den = round(per_million * size)
        progress = k / 12 * (1 + rng.uniform(-0.04, 0.04))
        return float(min(den, round(den * rate / 100 * progress))), float(den)
    if not kpi.denominator.is_flow:  # a level (two stocks): about constant, a little either way
        den = round(per_million * size * (1 + rng.uniform(-0.01, 0.01)))
        num = round(den * rate * factor * (1 + rng.uniform(-0.005, 0.005)))
    else:  # two flows: both grow month by month
        den = max(1, round(per_million * size * k / 12 * (1 + rng.uniform(-0.03, 0.03))))
        num = round(den * rate * factor * (1 + rng.uniform(-0.01, 0.01)))
    if kpi.display == "percent":
        num = min(num, den)
    return float(num), float(den)


def branch_rate(kpi: Kpi, code: str, seed: int = 0) -> float:
    """A branch's year-end level for a ratio KPI (percent points or yen), stable per branch."""
    rng = random.Random(f"{seed}-{code}-{kpi.id}-rate")
    low, high = _RATIO_PROFILE.get(kpi.id.split("-", 1)[1], (0, (50.0, 60.0)))[1]
    return rng.uniform(low, high)


def sample_values(cat: Catalogue, fiscal_year: int, code: str, through: date, *,
                  seed: int = 0, fill_targets: bool = True) -> dict[str, Any]:
    """Plausible inputs of one branch's workbook through month `through`, keyed by defined name.

    Percent targets are written as fractions (0.538), the way a percent cell stores them.
    """
    rng = random.Random(f"{seed}-{code}-{fiscal_year}")
    values: dict[str, Any] = {}
    for kpi in cat.kpis_for(fiscal_year, code):
        months = [m for m in kpi.months(fiscal_year) if m <= through]
        if kpi.kind == "ratio":
            rate = branch_rate(kpi, code, seed)
            for k, month in enumerate(months, 1):
                num, den = _ratio_month_values(kpi, code, k, rng, rate)
                values[kpi_key(kpi.id, "num", month).name] = num
                values[kpi_key(kpi.id, "den", month).name] = den
            if fill_targets and kpi.target.rule == "branch":
                target = round(rate * rng.uniform(0.94, 1.01), kpi.decimals)  # most branches meet their plan
                values[kpi_key(kpi.id, "target").name] = target / 100 if kpi.is_percent else target
        elif kpi.kind == "count":
            base = _COUNT_PROFILE.get(kpi.id.split("-", 1)[1], 1000) * (_scale(code) if code != "00" else 1)
            flow = bool(kpi.value_part and kpi.value_part.is_flow)
            for k, month in enumerate(months, 1):
                if flow:  # year-to-date: grows month by month
                    v = round(base * k / 12 * (1 + rng.uniform(-0.02, 0.02)))
                else:  # a count at the month's end: drifts up a little, now and then down
                    v = round(base * (0.97 + 0.004 * k) * (1 + rng.uniform(-0.004, 0.004)))
                values[kpi_key(kpi.id, "val", month).name] = float(v)
            if fill_targets and kpi.target.rule == "branch":
                values[kpi_key(kpi.id, "target").name] = float(round(base * 1.08, -1))
        else:  # qualitative
            values[kpi_key(kpi.id, "text").name] = "地域医療構想調整会議において医療データを活用した意見発信を実施"
            values[kpi_key(kpi.id, "rating").name] = "○"
    for measure in cat.measures_for(code):
        for n in range(1, 1 + rng.choice([1, 2, 2, 3])):
            mark = rng.choices(["○", "◎", "△"], weights=[8, 1, 1])[0]
            values[measure_key(measure.id, "text", n).name] = rng.choice(TEXT_POOL)
            values[measure_key(measure.id, "rating", n).name] = mark
            if mark == "△":
                values[measure_key(measure.id, "note", n).name] = "実施時期が遅れたため下期に集中して実施する"
        if rng.random() < 0.3:
            values[measure_key(measure.id, "issue").name] = "周知が不足している可能性があり、広報の方法を見直す"
    return values
