"""Rebuild examples/: an FY2023 baseline file and an FY2024 inbox returned through 2024-10.

    python examples/make_examples.py

Reproducible: fixed seed and fixed generation time, so running it twice gives the
same workbook contents.  The inbox imitates a real month at HQ:

* 45 of 47 branches returned a workbook (島根 32 and 沖縄 47 have not), plus 本部 00
  with the national-only KPI (ホームページアクセス数);
* 新潟 (15) is late: its figures stop at September;
* data arrive with each KPI's usual lag (catalogue data_lag): health checks through
  August or September, ジェネリック and バイオシミラー through June (診療月), the rest
  through October — so every result names its own data month; a KPI with no in-year
  figure (data_lag annual: 10か月以内受診割合) has none;
* the baseline carries FY2023 values under the new definitions of the KPIs that term 6
  redefined or added (査定率, 返納金債権回収率, 10か月以内受診割合), as HQ computes them;
* a few branches made the mistakes branch staff make (listed in MISTAKES below), so the
  run shows findings; an Excel lock file (~$...) lies in the folder too;
* the workbooks show the contact and deadline of examples/hq_settings.json (invented
  values), and each returned workbook was last saved by its branch before the deadline
  (令和6年11月8日（金）), except 新潟's, saved on 11月12日 — the saved time inside the
  workbook (docProps/core.xml), which is what 期限後 is judged by, so a git checkout
  (which does not keep file times) changes nothing.  The files' own times are set the
  same way for people who look at the folder.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.builders

from kpisheet.domain.catalogue import catalogue_for_fy, load_catalogue, load_mapping, prefecture_branches
from kpisheet.domain.settings import load_settings
from kpisheet.month import consolidate
from kpisheet.read.names import kpi_key, measure_key
from kpisheet.template.build import generate
from tests.builders.sample import POPULATION, branch_rate, fill_by_names, sample_values

HERE = Path(__file__).resolve().parent
FY = 2024
THROUGH = date(2024, 10, 1)
SEED = 2024
GENERATED_AT = datetime(2024, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
INBOX = HERE / f"inbox_FY{FY}"
BASELINE = HERE / f"baseline_FY{FY - 1}.csv"
SETTINGS = HERE / "hq_settings.json"
JST = timezone(timedelta(hours=9))
ARRIVED = datetime(2024, 11, 7, 17, 30, tzinfo=JST)
ARRIVED_LATE = {"15": datetime(2024, 11, 12, 10, 0, tzinfo=JST)}

NOT_SUBMITTED = {"32", "47"}
LATE = {"15": date(2024, 9, 1)}


def _mistakes() -> dict[str, dict[str, Any]]:
    """Branch code -> defined name -> what the branch typed instead."""
    return {
        # 東京: full-width digits and a percent sign typed as text; a remark that looks like a formula
        "13": {kpi_key("K6-2-01", "target").name: "６２．０％",
               measure_key("6-2-IV", "note", 1).name: '=HYPERLINK("http://example.com","詳細")'},
        # 神奈川: unit typed into a count cell
        "14": {kpi_key("K6-2-07", "val", date(2024, 10, 1)).name: "1,170事業所"},
        # 愛知: the year-to-date 健診 numerator falls in August (its data reach August)
        "23": {kpi_key("K6-2-01", "num", date(2024, 8, 1)).name: 1000.0},
        # 大阪: numerator larger than the denominator
        "27": {kpi_key("K6-1-02", "num", date(2024, 8, 1)).name: 999_999.0},
        # 兵庫: forgot the branch's own target
        "28": {kpi_key("K6-2-03", "target").name: None},
        # 福岡: a rating that is not on the list, and a rating without a description
        "40": {measure_key("6-1-II-2", "rating", 1).name: "良",
               measure_key("6-2-I-1", "text", 1).name: None,
               measure_key("6-2-I-1", "rating", 1).name: "○"},
        # 北海道: typed November already
        "01": {kpi_key("K6-2-07", "val", date(2024, 11, 1)).name: 4_000.0},
    }


def write_baseline(path: Path) -> None:
    """FY2023 year-end values under term-5 KPI ids, as HQ exports them."""
    old, new, mapping = load_catalogue(5), load_catalogue(6), load_mapping()
    rows = []
    offices = [b.code for b in prefecture_branches()]
    for kpi in old.kpis:
        if kpi.kind == "qualitative":
            continue
        link = mapping.successor(kpi.id)
        successor = new.kpi(link.to_id) if link and link.to_id else None
        values = {}
        for code in offices:
            rng = random.Random(f"{SEED}-{code}-{kpi.id}-baseline")
            if kpi.kind == "count":
                values[code] = round(750 * POPULATION[int(code) - 1] * rng.uniform(0.9, 1.0))
            else:
                level = branch_rate(successor, code, SEED) if successor else rng.uniform(0.5, 1.5)
                value = level * rng.uniform(0.95, 1.01)
                values[code] = round(min(value, 100.0) if kpi.display == "percent" else value, kpi.decimals)
        total = sum(POPULATION)
        national = (sum(values.values()) if kpi.kind == "count"
                    else sum(v * POPULATION[int(c) - 1] for c, v in values.items()) / total)
        values["ALL"] = round(national, kpi.decimals)  # the national previous-year value
        rows += [(code, kpi.id, values[code]) for code in ["ALL", *offices]]
    rows += _hired_offices(offices)
    rows += _new_definitions(offices)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["branch", "kpi_id", "value"])
        w.writerows(rows)


def _as_the_data_arrive(cat: Any, values: dict[str, Any], through: date) -> dict[str, Any]:
    """Blank the months a KPI's data have not reached yet (its catalogue data_lag)."""
    out = dict(values)
    for kpi in cat.kpis:
        for month in kpi.months(FY):
            index = through.year * 12 + through.month - 1 - kpi.lag_months
            if kpi.lag_annual or month <= through and (month.year * 12 + month.month - 1) > index:
                for part in ("num", "den", "val"):
                    out.pop(kpi_key(kpi.id, part, month).name, None)
    return out


def _hired_offices(offices: list[str]) -> list[tuple[str, str, float]]:
    """委嘱事業所数 (K6-2-12) has no term-5 KPI, but HQ knows last year's count (the KPI list's
    令和4年度 reference is 270,116事業所), so the baseline file gives it under its term-6 id."""
    total = sum(POPULATION)
    counts = {c: round(270_116 * 1.02 * POPULATION[int(c) - 1] / total
                       * random.Random(f"{SEED}-{c}-K6-2-12").uniform(0.9, 1.1)) for c in offices}
    return [("ALL", "K6-2-12", sum(counts.values()))] + [(c, "K6-2-12", counts[c]) for c in offices]


def _new_definitions(offices: list[str]) -> list[tuple[str, str, float]]:
    """査定率 (K6-1-03), 返納金債権回収率 (K6-1-05) and 10か月以内受診割合 (K6-2-06) are 対前年度以上 from
    the first year of term 6, but their term-5 values count something else; HQ computes FY2023
    under the new definitions and gives them under their term-6 ids."""
    new, total, rows = load_catalogue(6), sum(POPULATION), []
    for kpi_id in ("K6-1-03", "K6-1-05", "K6-2-06"):
        kpi = new.kpi(kpi_id)
        values = {c: round(min(branch_rate(kpi, c, SEED) * random.Random(f"{SEED}-{c}-{kpi_id}-new").uniform(0.95, 1.01),
                               100.0), kpi.decimals) for c in offices}
        national = round(sum(v * POPULATION[int(c) - 1] for c, v in values.items()) / total, kpi.decimals)
        rows += [("ALL", kpi_id, national)] + [(c, kpi_id, values[c]) for c in offices]
    return rows


def _rate_like_a_careful_branch(filled: dict[Path, tuple[Path, dict[str, Any]]]) -> None:
    """A careful branch rates the first activity of a measure △ when the measure's KPI is behind
    plan, and says why; 福岡 (40) forgets the remark once, so the run shows W502."""
    run = consolidate(INBOX, fiscal_year=FY, month=f"{THROUGH:%Y-%m}", baseline_path=BASELINE)
    by_branch = {s.branch_code: Path(s.path) for s in run.submissions if s.branch_code}
    forgot = False
    for (code, kpi_id), bk in sorted(run.branch_kpis.items()):
        if bk.rating.mark != "△" or code not in by_branch:
            continue
        path = by_branch[code]
        template, values = filled[path]
        measure_id = run.catalogue.kpi(kpi_id).measure_id
        rating = measure_key(measure_id, "rating", 1).name
        if values.get(measure_key(measure_id, "text", 1).name) is None:
            continue
        values[rating] = "△"
        if code == "40" and not forgot:
            forgot = True
            values.pop(measure_key(measure_id, "note", 1).name, None)
        else:
            values[measure_key(measure_id, "note", 1).name] = "KPIの実績が計画を下回っているため、下期に受診勧奨・働きかけを強化する"
    for path, (template, values) in filled.items():
        fill_by_names(template, path, values)


def _saved_at(path: Path, when: datetime) -> None:
    """Set the workbook's own last-saved time (dcterms:modified in docProps/core.xml)."""
    import re
    import zipfile

    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            z.writestr(info, data)


def main() -> int:
    write_baseline(BASELINE)
    cat = catalogue_for_fy(FY)
    if INBOX.exists():
        shutil.rmtree(INBOX)
    INBOX.mkdir()
    mistakes = _mistakes()
    with tempfile.TemporaryDirectory() as tmp:
        result = generate(FY, [], Path(tmp), baseline_path=BASELINE, generated_at=GENERATED_AT,
                          settings=load_settings(SETTINGS))
        filled: dict[Path, tuple[Path, dict[str, Any]]] = {}
        for template in result.paths:
            code = template.name[:2]
            if code in NOT_SUBMITTED:
                continue
            values = sample_values(cat, FY, code, LATE.get(code, THROUGH), seed=SEED)
            values = _as_the_data_arrive(cat, values, LATE.get(code, THROUGH))
            values.update(mistakes.get(code, {}))
            fill_by_names(template, INBOX / template.name, values)
            filled[INBOX / template.name] = (template, values)
        _rate_like_a_careful_branch(filled)
    # Excel leaves a lock file next to a workbook that is open
    (INBOX / "~$11_埼玉支部_FY2024_KPI入力.xlsx").write_bytes(b"\x0bkyokai-user" + b"\x00" * 150)
    for path in INBOX.iterdir():
        arrived = ARRIVED_LATE.get(path.name[:2], ARRIVED)
        if path.suffix == ".xlsx" and not path.name.startswith("~$"):
            _saved_at(path, arrived)
        os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    print(f"wrote {BASELINE.relative_to(HERE.parent)} and {len(list(INBOX.iterdir()))} files in "
          f"{INBOX.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
