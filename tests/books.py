"""The workbooks the README's main command writes, and a branch template, made through the library.

`readme_outputs(out)` runs what the README's main command runs — `kpisheet ledger import
examples/history_FY2023.csv` then `kpisheet consolidate examples/inbox_FY2024 --fy 2024 --month
2024-10 --baseline examples/baseline_FY2023.csv --settings examples/hq_settings.json` — as cli.py
does, and returns the paths it wrote.  `branch_template(out)` is `kpisheet generate --fy 2024
--branch 11 --baseline examples/baseline_FY2023.csv` with the same settings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MONTH = date(2024, 10, 1)


def readme_outputs(out: Path) -> dict[str, Path | list[Path]]:
    """{"national", "lists", "plan_status", "values_xlsx": path, "feedback": [paths]} written into `out`."""
    from kpisheet import ledger
    from kpisheet.domain.settings import load_settings
    from kpisheet.month import consolidate
    from kpisheet.write.outputs import output_names, write_outputs

    book_path = out / "kpisheet.sqlite"
    with ledger.opened(book_path, create=True) as book:
        ledger.import_values(book, EXAMPLES / "history_FY2023.csv")
    cons = consolidate(EXAMPLES / "inbox_FY2024", fiscal_year=2024, month=MONTH,
                       baseline_path=EXAMPLES / "baseline_FY2023.csv",
                       settings=load_settings(EXAMPLES / "hq_settings.json"))
    with ledger.opened(book_path) as book, book.transaction():
        plan = ledger.attach(book, cons)
        cons = plan.applied_to(cons)
        written = write_outputs(cons, out, force=True)
        ledger.record_run(book, cons, plan, written.paths, options={})
    names = output_names(2024, MONTH)
    found: dict[str, Path | list[Path]] = {key: out / names[key] for key in ("national", "lists", "plan_status")
                                           if key in names}
    if "values_xlsx" in names:  # the analysts' table as xlsx
        found["values_xlsx"] = out / names["values_xlsx"]
    found["feedback"] = sorted(p for p in written.paths if p.parent.name == "feedback")
    return found


def branch_template(out: Path, code: str = "11") -> Path:
    """The FY2024 workbook of branch `code` as `kpisheet generate` writes it (with last year's figures)."""
    from kpisheet.domain.settings import load_settings
    from kpisheet.template.build import generate

    result = generate(2024, [code], out, baseline_path=EXAMPLES / "baseline_FY2023.csv",
                      generated_at=datetime(2024, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))),
                      settings=load_settings(EXAMPLES / "hq_settings.json"), force=True)
    (path,) = result.paths
    return path
