"""The 群馬 令和3年度 事業計画 typed into a generated plan workbook (tests/data/plan_gunma_r3.json).

`gunma_values` gives {defined name: what a person types} for the plan workbook; `as_stored` turns a
typed percent ('61.0%') into what Excel stores in a 0.0% cell (0.61), for openpyxl fills.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.display import shown
from kpisheet.domain.plan import PlanSubmission
from kpisheet.plan import names as pn
from kpisheet.plan.template import covered_choice

GUNMA = Path(__file__).resolve().parents[1] / "data" / "plan_gunma_r3.json"


def gunma() -> dict[str, Any]:
    return json.loads(GUNMA.read_text(encoding="utf-8"))


def gunma_values(*, typed: bool) -> dict[str, str | float | None]:
    """{name: value}: `typed` True gives the strings a person types in LibreOffice ('61.0%', '259,725');
    False the values Excel would store (0.61, 259725) for an openpyxl fill."""
    data, cat = gunma(), load_catalogue(5)
    out: dict[str, str | float | None] = {pn.info_key("preparer").name: "群馬支部 企画総務グループ",
                                          pn.info_key("contact").name: "027-000-0000"}
    for m in data["measures"]:
        mid = m["measure_id"]
        if m.get("covered_by"):
            out[pn.measure_key(mid, "covered").name] = covered_choice(cat.measure(m["covered_by"]))
            continue
        out[pn.measure_key(mid, "numbering").name] = m["numbering"]
        out[pn.measure_key(mid, "heading").name] = m["heading"]
        for n, item in enumerate(m["items"], start=1):
            out[pn.item_key(mid, n, "text").name] = item["text"]
            if item.get("level"):
                out[pn.item_key(mid, n, "level").name] = item["level"]
            if item.get("subheading"):
                out[pn.item_key(mid, n, "sub").name] = item["subheading"]
            out[pn.item_key(mid, n, "flag").name] = "継続"
    for k in data["kpis"]:
        kid, kind = k["kpi_id"], k["kind"]
        if kind == "text":
            out[pn.kpi_key(kid, "target").name] = k["target"]
            continue
        kpi = cat.kpi(kid)
        if kind == "previous_year":
            out[pn.kpi_key(kid, "kind").name] = "対前年度以上" if kpi.direction == ">=" else "対前年度以下"
            continue
        out[pn.kpi_key(kid, "kind").name] = "数値"
        out[pn.kpi_key(kid, "target").name] = k["typed"] if typed else as_stored(k["typed"])
        if "population" in k:
            if not (kpi.plan and kpi.plan.shared_with):
                out[pn.kpi_key(kid, "pop").name] = f"{k['population']:,}" if typed else float(k["population"])
            out[pn.kpi_key(kid, "planned").name] = f"{k['planned']:,}" if typed else float(k["planned"])
    return out


def as_stored(text: str) -> float:
    number = float(text.rstrip("%").replace(",", ""))
    return round(number / 100, 10) if text.endswith("%") else number


def assert_gunma(plan: PlanSubmission) -> None:
    """Every target, kind and 対象者数/見込者数 pair of the document, and every measure's heading and items."""
    facts = gunma()["kpis"]
    assert len(facts) == 19 and list(plan.kpis) == [k["kpi_id"] for k in facts]
    cat = load_catalogue(5)
    for k in facts:
        got = plan.kpis[k["kpi_id"]]
        assert got.kind == k["kind"], k["kpi_id"]
        if k["kind"] == "value":
            assert got.target.value == pytest.approx(k["target"]), k["kpi_id"]
        if k["kind"] == "text":
            assert got.target.value == k["target"]
        if "population" in k:
            assert (got.population.value, got.planned.value) == (k["population"], k["planned"]), k["kpi_id"]
            # the document's pairs agree with its targets at the shown precision
            kpi = cat.kpi(k["kpi_id"])
            assert shown(kpi, got.planned.value / got.population.value * 100) == shown(kpi, got.target.value)
    pairs = [k for k in plan.kpis.values() if k.population.value is not None]
    assert len(pairs) == 6
    for m in gunma()["measures"]:
        got_m = plan.measures[m["measure_id"]]
        assert got_m.covered_by == m.get("covered_by")
        assert [i.text.value for i in got_m.items] == [i["text"] for i in m["items"]], m["measure_id"]
        if not m.get("covered_by"):
            assert (got_m.numbering.value, got_m.heading.value) == (m["numbering"], m["heading"])
