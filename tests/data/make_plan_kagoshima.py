"""Writes plan_kagoshima_h30.json, plan_kagoshima_h31.json and plan_kagoshima_columns.json from the
plain-text copy of 「平成31年度 事業計画（鹿児島支部）新旧対照表（案）」 (資料 2-3).

The text copy lists each page's 新 column, then its 旧 column; the specs below say, per year, which
lines make which heading, 小見出し, item and KPI sentence.  Every text is the document's own lines
joined ('a-b' joins wrapped lines, ';' keeps a line break, '+' joins a text continued on the next
page).  Each value's Source names the column (sheet) and the lines (cell).

Measure ids: the document is of the 4th term (平成30–令和2年度), before the catalogue's terms (5 and 6),
so its measures have no catalogue id.  They are keyed '4-<pillar>-<nn>' in the document's order of
平成31年度 (a measure the 旧 column shares gets the same id), i）–iv） under ② as '4-2-02-<n>', and a
pillar's heading as a measure '4-<pillar>' with the pillar's own text as its items.  A KPI is keyed
'K<measure id>-<n>', which is how kpisheet.plan.diff places a KPI no catalogue knows.

Run: python tests/data/make_plan_kagoshima.py SEED_TEXT_FILE
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from kpisheet.domain.model import EMPTY, InputValue, Source
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanPart, PlanSubmission

HERE = Path(__file__).parent

NEW = """
M 4-1 | 7
M 4-1-01 | 9
I 11-17
I 19
M 4-1-02 | 23
S 25
I 27-31
S 39
I 41
I 43-45
S 51
I 53-55
K K4-1-02-1 previous_year | 116-118;120-122
M 4-1-03 | 126
I 128-132
K K4-1-03-1 previous_year | 136-138
M 4-1-04 | 142
I 144-148
M 4-1-05 | 152-154
I 156-158+213
I 215-217
K K4-1-05-1 95.4％ | 247-249
K K4-1-05-2 previous_year | 251-253
K K4-1-05-3 previous_year | 255-257
M 4-1-06 | 261
I 263-265
I 320-322
K K4-1-06-1 100％ | 326
K K4-1-06-2 90.0％ | 328
M 4-1-07 | 332
I 334-338
K K4-1-07-1 84.0％ | 342-344
M 4-1-08 | 348
I 350-352
K K4-1-08-1 93.0％ | 356-358
M 4-1-09 | 362
I 364-366
K K4-1-09-1 43.3％ | 372+427
M 4-2 | 431
S 433
I 435
I 437
I 439
I 441
M 4-2-01 | 445
I 447-449
I 451-455
M 4-2-02 | 459-461
S 463
I 465
I 467
S 469
I 471
I 473-475
I 477-479
I 534
M 4-2-02-1 | 550
I 552
I 554;556
I 558;560
I 562;564
I 566
I 568;570
I 572
S 574
I 576-580
I 582
I 584
S 586
I 641;643
I 645
S 647
I 649
I 651
I 653
K K4-2-02-1-1 53.0％ | 685
K K4-2-02-1-2 11.0％ | 687
K K4-2-02-1-3 25.0％ | 689
M 4-2-02-2 | 693
I 748
I 750
I 752;754
I 756;758
I 760;762
I 764
I 766;768
I 770
S 772
I 774
I 776-778
I 780
I 782-784
I 786-788
S 790
I 792-794
I 796-798
S 853
I 855-859
K K4-2-02-2-1 24.2％ | 881
M 4-2-02-3 | 885
I 887;889
I 891
I 893
I 895
I 897-899
I 901
K K4-2-02-3-1 12.0％ | 962-964
M 4-2-02-4 | 968
I 970-974
I 976-980
M 4-2-03 | 984-986
I 988-990
I 992-996+1051
I 1053-1055
I 1057-1063
K K4-2-03-1 previous_year | 1083
K K4-2-03-2 41.3％ | 1085-1087
M 4-2-04 | 1091
I 1093-1095
I 1097-1099
I 1101-1103
I 1105-1107
I 1158-1162
I 1164-1166
K K4-2-04-1 83.0％ | 1170
M 4-2-05 | 1174
S 1176
I 1178-1182
S 1184
I 1186-1192
S 1194
I 1196-1200
I 1202-1208
K K4-2-05-1 83.7％ | 1241-1243
K K4-2-05-2 text | 1245-1247
M 4-3 | 1253
M 4-3-01 | 1255
I 1257-1259
M 4-3-02 | 1273
I 1275-1277
M 4-3-03 | 1287
I 1289
K K4-3-03-1 previous_year | 1346-1348
M 4-3-04 | 1352
I 1354-1356
M 4-3-05 | 1360
I 1362-1364
"""

OLD = """
M 4-1 | 57
M 4-1-01 | 59
I 61-67
I 69
M 4-1-02 | 73
S 75
I 77-81
I 83-87
S 89
I 91
I 93-95
I 97-99
S 101
I 103
I 105
I 106-108
I 160-162
I 164
I 166
K K4-1-02-1 previous_year | 170-172;174-176
M 4-1-03 | 180
I 182-186
K K4-1-03-1 previous_year | 190-192
M 4-1-05 | 206-208
I 210-212+267
I 269-271
I 273-275
I 277-281
I 283-285
I 287
I 289-291
I 293
I 295-297
K K4-1-05-1 95.0％ | 301-303
K K4-1-05-2 previous_year | 305-307
K K4-1-05-3 previous_year | 309-311
M 4-1-06 | 315
I 317-319
I 374-376
K K4-1-06-1 100％ | 380
K K4-1-06-2 87.0％ | 382
M 4-1-07 | 386
I 388-392
K K4-1-07-1 83.0％ | 396-398
M 4-1-08 | 402
I 404-406
K K4-1-08-1 93.0％ | 410-412
M 4-1-09 | 416
I 418-422
K K4-1-09-1 38.0％ | 426+481
M 4-2 | 485
S 487
I 489
I 491
I 493
I 495
M 4-2-01 | 499
I 501-503
I 505-507
M 4-2-02 | 513-515
S 517
I 519-521
S 523
I 525-527
I 529-533
I 588-592
I 594-596
I 598-600
M 4-2-02-1 | 604
I 606
I 608;610
I 612;614
I 616;618
I 620
I 622;624
I 626
S 628
I 630-634
I 636
I 638-640
S 695
I 697-699
I 701-703
I 705-709
S 711
I 713-715
I 717-719
I 721-723
I 725
I 727-735
K K4-2-02-1-1 53.0％ | 739
K K4-2-02-1-2 10.6％ | 741
K K4-2-02-1-3 25.0％ | 743
M 4-2-02-2 | 747+800
I 802
I 804
I 806;808
I 810;812
I 814;816
I 818
I 820;822
I 824
S 826
I 828;830
I 832-834
I 836-838
I 840
I 842-844
S 846
I 848-850
I 852+907
I 909
I 911-913
I 915
I 917
I 919-921
I 923-925
I 927
I 929-931
K K4-2-02-2-1 24.0％ | 935
M 4-2-02-3 | 939
I 941-943;945
I 947
I 949;951
I 953-955
I 957-959+998
I 1000-1004
I 1006-1008
I 1010-1012
K K4-2-02-3-1 11.5％ | 1016-1018
M 4-2-02-4 | 1022
I 1024-1028
I 1030-1034
M 4-2-03 | 1038-1040
I 1042-1044
I 1046-1048
I 1050
I 1109-1117
I 1119-1125
I 1127-1133
K K4-2-03-1 previous_year | 1137
K K4-2-03-2 37.5％ | 1139-1141
M 4-2-04 | 1145
I 1147-1149
I 1151-1153
I 1155-1157
I 1212-1216
K K4-2-04-1 80.2％ | 1224
M 4-2-05 | 1228-1230
I 1232-1238
K K4-2-05-1 79.8％ | 1295-1297
K K4-2-05-2 text | 1299-1301
M 4-3 | 1307
M 4-3-01 | 1309
I 1311-1315
I 1317-1319
I 1321-1323
M 4-3-02 | 1327
I 1329-1333
I 1335-1337
M 4-3-03 | 1341
I 1343-1345
I 1368
I 1370-1372
"""

# 対象者数 / 見込者数 and 内訳, the numbers the volume lines print: KPI id → (population, planned, parts);
# each number is (value, printed text, line); a part is (label, rate, population, planned)
VOLUMES = {
    "new": {
        "K4-2-02-1-1": ((237452, "237,452人", 556), (125850, "125,850人", 560), ()),
        "K4-2-02-1-2": ((237452, "237,452人", 556), (26120, "26,120人", 564), ()),
        "K4-2-02-1-3": ((65800, "65,800人", 566), (16450, "16,450人", 570), ()),
        "K4-2-02-2-1": (None, (7760, "7,760人", 748), (
            ("被保険者", (25.0, "25.0％", 752), (30698, "30,698人", 750), (7675, "7,675人", 754)),
            ("協会保健師実施分", (16.0, "16.0％", 756), (30698, "30,698人", 750), (4890, "4,890人", 758)),
            ("アウトソーシング分", (9.1, "9.1％", 760), (30698, "30,698人", 750), (2785, "2,785人", 762)),
            ("被扶養者", (6.0, "6.0％", 766), (1415, "1,415人", 764), (85, "85人", 768)))),
    },
    "old": {
        "K4-2-02-1-1": ((228013, "228,013人", 610), (120846, "120,846人", 614), ()),
        "K4-2-02-1-2": ((228013, "228,013人", 610), (24169, "24,169人", 618), ()),
        "K4-2-02-1-3": ((65423, "65,423人", 620), (16375, "16,375人", 624), ()),
        "K4-2-02-2-1": (None, (7354, "7,354人", 802), (
            ("被保険者", (25.0, "25.0％", 806), (29003, "29,003人", 804), (7289, "7,289人", 808)),
            ("協会保健師実施分", (17.0, "17.0％", 810), (29003, "29,003人", 804), (4931, "4,931人", 812)),
            ("アウトソーシング分", (8.1, "8.1％", 814), (29003, "29,003人", 804), (2358, "2,358人", 816)),
            ("被扶養者", (4.0, "4.0％", 820), (1637, "1,637人", 818), (65, "65人", 822)))),
    },
}

# the columns of each page, as line ranges of the text copy (for plan_kagoshima_columns.json)
COLUMNS = {
    "new": [(7, 55), (110, 158), (213, 265), (320, 372), (427, 479), (534, 586), (641, 693), (748, 798),
            (853, 905), (960, 996), (1051, 1107), (1158, 1210), (1239, 1291), (1346, 1366)],
    "old": [(57, 108), (160, 212), (267, 319), (374, 426), (481, 533), (588, 640), (695, 747), (800, 852),
            (907, 959), (998, 1050), (1109, 1157), (1212, 1238), (1293, 1345), (1368, 1372)],
}
SHEETS = {"new": "新（31年度）", "old": "旧（30年度）"}
NUMBER = re.compile(r"^(（[0-9０-９]+）|[①-⑳]|[ivxⅰⅱⅲⅳ]+）)")
GROUP = re.compile(r"【([^【】]*G[^【】]*)】$")


def text_of(lines: list[str], spec: str) -> str:
    out = []
    for part in spec.split(";"):
        chunk = []
        for piece in part.split("+"):
            a, _, b = piece.partition("-")
            lo, hi = int(a), int(b or a)
            chunk.extend(lines[n - 1].strip() for n in range(lo, hi + 1) if lines[n - 1].strip())
        out.append("".join(chunk))
    return "\n".join(out)


def iv(value: object, side: str, spec: str, raw: object = None) -> InputValue:
    return InputValue(value, Source(SHEETS[side], spec, "資料2-3"), raw)


def build(lines: list[str], side: str, spec_text: str, fiscal_year: int) -> PlanSubmission:
    measures: dict[str, PlanMeasure] = {}
    kpis: dict[str, PlanKpi] = {}
    mid = ""
    subheading = EMPTY
    items: list[PlanItem] = []

    def close() -> None:
        if mid:
            measures[mid] = PlanMeasure(measures[mid].measure_id, measures[mid].numbering, measures[mid].heading,
                                        measures[mid].group, items=tuple(items))

    for row in spec_text.strip().splitlines():
        tag, rest = row.split(" ", 1)
        if tag == "M":
            close()
            mid, spec = (x.strip() for x in rest.split("|"))
            text = text_of(lines, spec)
            number = NUMBER.match(text)
            num = number.group(1) if number else ""
            text = text[len(num):].strip()
            group = GROUP.search(text)
            grp = group.group(1) if group else ""
            if group:
                text = text[:group.start()]
            measures[mid] = PlanMeasure(mid, iv(num, side, spec) if num else EMPTY, iv(text, side, spec),
                                        iv(grp, side, spec) if grp else EMPTY)
            items, subheading = [], EMPTY
        elif tag == "S":
            spec = rest.strip()
            subheading = iv(text_of(lines, spec), side, spec)
        elif tag == "I":
            spec = rest.strip()
            text = text_of(lines, spec)
            level = EMPTY
            if text[:1] in ("○", "・"):
                level, text = iv(text[:1], side, spec), text[1:].strip()
            items.append(PlanItem(len(items) + 1, iv(text, side, spec), level, subheading))
        elif tag == "K":
            head, spec = (x.strip() for x in rest.split("|"))
            kpi_id, target = head.split(" ", 1)
            sentence = iv(text_of(lines, spec), side, spec)
            if target in ("previous_year", "text"):
                kind = target
                value = iv(sentence.value if kind == "text" else None, side, spec)
            else:
                kind = "value"
                value = iv(float(target.rstrip("％")), side, spec, target)
            population, planned, parts = EMPTY, EMPTY, ()
            vol = VOLUMES[side].get(kpi_id)
            if vol:
                pop, pl, prts = vol
                population = iv(pop[0], side, str(pop[2]), pop[1]) if pop else EMPTY
                planned = iv(pl[0], side, str(pl[2]), pl[1])
                parts = tuple(PlanPart(n, iv(label, side, str(r[2])), iv(p[0], side, str(p[2]), p[1]),
                                       iv(q[0], side, str(q[2]), q[1]), iv(r[0], side, str(r[2]), r[1]))
                              for n, (label, r, p, q) in enumerate(prts, 1))
            kpis[kpi_id] = PlanKpi(kpi_id, kind, value, population=population, planned=planned, parts=parts,
                                   sentence=sentence)
    close()
    return PlanSubmission(f"資料2-3 {SHEETS[side]}", None, fiscal_year, "46", "鹿児島", term=4,
                          measures=measures, kpis=kpis)


def main(seed: Path) -> None:
    lines = seed.read_text(encoding="utf-8").splitlines()
    for side, spec, fy, name in (("new", NEW, 2019, "plan_kagoshima_h31.json"),
                                 ("old", OLD, 2018, "plan_kagoshima_h30.json")):
        plan = build(lines, side, spec, fy)
        (HERE / name).write_text(json.dumps(plan.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    columns = {side: [{"lines": f"{a}-{b}", "text": "".join(lines[n - 1].strip() for n in range(a, b + 1))}
                      for a, b in ranges] for side, ranges in COLUMNS.items()}
    columns["source"] = "平成31年度 事業計画（鹿児島支部）新旧対照表（案）: each page's 新 and 旧 column, line ranges of its text copy"
    (HERE / "plan_kagoshima_columns.json").write_text(json.dumps(columns, ensure_ascii=False, indent=1) + "\n",
                                                      encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
