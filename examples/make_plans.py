"""Rebuild examples/plans_FY2024 and examples/plans_FY2025: two years' 事業計画 of two branches, as plan
JSON files (PlanSubmission.to_dict), for `kpisheet plan diff`.

    python examples/make_plans.py

The texts are invented in the style of the branches' plans (measures keyed by the term-6 catalogue's ids);
between the years targets rise, 対象者数 and 見込者数 move, items are added, dropped and reworded, and
鹿児島 adds a measure of its own.  群馬's 令和7年度 plan holds one 内訳 whose rate does not agree with its
counts, so the change summary has a slip to name.
"""

from __future__ import annotations

import json
from pathlib import Path

from kpisheet.domain.model import EMPTY, InputValue
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission

HERE = Path(__file__).parent

ITEMS = {
    "6-1-II-2": ["現金給付の申請受付から支給までの標準期間（サービススタンダード：10日間）を遵守する。",
                 "お客様満足度調査の結果を踏まえ、窓口と電話の応対を改善する。"],
    "6-1-II-3": ["不正の疑いのある事案については、保険給付適正化プロジェクトチームで議論し、事業主への立入検査を行う。",
                 "傷病手当金と障害年金の併給調整について、確実に実施する。"],
    "6-1-II-4": ["システムを活用した効果的なレセプト点検を推進する。",
                 "点検員の査定事例の集約・共有化を図り、点検技術の向上に繋げる。"],
    "6-1-II-5": ["日本年金機構の資格喪失処理後２週間以内に、保険証未回収者に対する返納催告を行う。",
                 "発生した債権の早期回収に取り組み、保険者間調整および法的手続きを積極的に実施する。"],
    "6-2-II-2": ["生活習慣病予防健診未利用事業所への勧奨を、職員による訪問と文書で行う。",
                 "事業者健診データの提供について、労働局との連名通知により周知を図る。",
                 "被扶養者の受診券を自宅に直接送付する。"],
    "6-2-II-3": ["保健指導委託機関を拡充し、健診当日の初回面談を推進する。",
                 "未利用事業所への利用勧奨を行う。"],
    "6-2-III-1": ["ジェネリック医薬品に切替えた場合の自己負担額の軽減効果を通知するサービスを、年度内に2回実施する。",
                  "医療機関や調剤薬局ごとの使用割合のデータを活用し、使用促進の働きかけを実施する。"],
    "6-2-IV": ["健康保険委員の委嘱拡大に取り組み、研修会を開催する。"],
}

# FY2024 → FY2025: item texts reworded (measure id, index, new text), items added, items dropped
REWORD = {("6-1-II-3", 1): "傷病手当金と障害年金等との併給調整について、確実に実施する。",
          ("6-2-II-2", 0): "生活習慣病予防健診未利用事業所への勧奨を、職員による訪問と文書、電話で強化する。"}
ADD = {"6-2-III-1": "関係団体と連携してリーフレットを作成し、メディアを活用した広報を実施する。",
       "6-1-II-5": "保険証未回収が多い事業所へは、文書と電話で資格喪失届への保険証添付を周知する。"}
DROP = {("6-1-II-4", 1)}

# KPI → (FY2024 target, FY2025 target) per branch; counts: KPI → (population, planned) per year
TARGETS = {
    "46": {"K6-1-01": (100.0, 100.0), "K6-1-02": (96.0, 96.9), "K6-1-06": (95.0, 95.4), "K6-2-01": (61.0, 63.0),
           "K6-2-02": (10.6, 11.0), "K6-2-03": (25.0, 25.0), "K6-2-04": (24.0, 24.2), "K6-2-08": (80.2, 83.0),
           "K6-2-11": (41.3, 43.0)},
    "10": {"K6-1-01": (100.0, 100.0), "K6-1-02": (95.5, 96.0), "K6-1-06": (94.0, 94.0), "K6-2-01": (58.0, 59.5),
           "K6-2-02": (9.0, 9.5), "K6-2-03": (26.0, 27.0), "K6-2-04": (20.0, 21.5), "K6-2-08": (82.0, 81.5),
           "K6-2-11": (50.1, 51.0)},
}
COUNTS = {
    "46": {"K6-2-01": ((228013, 139088), (237452, 149595)), "K6-2-02": ((228013, 24169), (237452, 26120)),
           "K6-2-03": ((65423, 16356), (65800, 16450)), "K6-2-04": ((29003, 6961), (30698, 7429))},
    "10": {"K6-2-01": ((259725, 150641), (262400, 156128)), "K6-2-02": ((259725, 23375), (262400, 24928)),
           "K6-2-03": ((70240, 18262), (69800, 18846)), "K6-2-04": ((33410, 6682), (34120, 7336))},
}
# 内訳 of 被保険者特定保健指導: (label, rate, planned) per year; 群馬 FY2025's 協会保健師実施分 is the slip
PARTS = {
    "46": ([("協会保健師実施分", 14.0, 4060), ("アウトソーシング分", 10.0, 2901)],
           [("協会保健師実施分", 14.0, 4298), ("アウトソーシング分", 10.2, 3131)]),
    "10": ([("協会保健師実施分", 12.0, 4009), ("アウトソーシング分", 8.0, 2673)],
           [("協会保健師実施分", 13.0, 4094), ("アウトソーシング分", 8.5, 2900)]),
}
NAMES = {"46": "鹿児島", "10": "群馬"}
OWN = PlanMeasure("B-2-1", InputValue("⑥"), InputValue("県・市町村と連携した働く世代の健康づくり"), InputValue("保健G"),
                  items=(PlanItem(1, InputValue("県・市町村と共同で、クーポン付きの健診と健康教育を実施する。"), InputValue("○")),))


def _iv(v: object) -> InputValue:
    return EMPTY if v is None else InputValue(v)


def plan(code: str, year: int) -> PlanSubmission:
    late = year == 2025
    measures: dict[str, PlanMeasure] = {}
    for mid, texts in ITEMS.items():
        rows = [REWORD.get((mid, i), t) if late else t for i, t in enumerate(texts)
                if not (late and (mid, i) in DROP)]
        if late and mid in ADD:
            rows.append(ADD[mid])
        items = tuple(PlanItem(n, InputValue(t), InputValue("○"),
                               origin=f"2024:{mid}:{n}" if late and n <= len(texts) else None)
                      for n, t in enumerate(rows, 1))
        measures[mid] = PlanMeasure(mid, items=items)
    if late and code == "46":
        measures[OWN.measure_id] = OWN
    kpis: dict[str, PlanKpi] = {}
    for kpi_id, pair in TARGETS[code].items():
        target = pair[1] if late else pair[0]
        counts = COUNTS[code].get(kpi_id)
        pop, planned = (counts[1] if late else counts[0]) if counts else (None, None)
        parts: tuple[PlanPart, ...] = ()
        if kpi_id == "K6-2-04":
            parts = tuple(PlanPart(n, InputValue(label), _iv(pop), InputValue(p), InputValue(rate, None, f"{rate:.1f}%"))
                          for n, (label, rate, p) in enumerate(PARTS[code][1 if late else 0], 1))
        kpis[kpi_id] = PlanKpi(kpi_id, "value", InputValue(target, None, f"{target:.1f}%"), population=_iv(pop),
                               planned=_iv(planned), parts=parts)
    return PlanSubmission(f"examples/plans_FY{year}/{code}_{NAMES[code]}支部_FY{year}_事業計画.json", None, year, code,
                          NAMES[code], term=6, measures=measures, kpis=kpis)


def main() -> None:
    for year in (2024, 2025):
        folder = HERE / f"plans_FY{year}"
        folder.mkdir(exist_ok=True)
        for code in NAMES:
            p = plan(code, year)
            (folder / f"{code}_{NAMES[code]}支部_FY{year}_事業計画.json").write_text(
                json.dumps(p.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
