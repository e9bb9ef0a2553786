"""The ledger's history and periods: every figure it recorded (`history`), last year's figures
imported from a kpi_values CSV (`import_values`), and closing and reopening a month."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from kpisheet.consolidate.model import NATIONAL_CODE
from kpisheet.domain.catalogue import Kpi, catalogue_for_fy, load_branches
from kpisheet.domain.findings import Finding, KpisheetError, finding
from kpisheet.domain.fiscal import jst_label, month_key, parse_month, wareki_fiscal_year
from kpisheet.fileio import sha256_or_empty
from kpisheet.ledger.store import (
    Ledger,
    _error,
    _file_facts,
    _ImportRow,
    _inserted_id,
    _insert_run,
    _last_run,
    _now,
    _worth_recording,
    closed_through,
    held,
)

CODES = frozenset({"L104", "L107", "L108", "L110", "L111", "G112"})


def check_open(ledger: Ledger, fiscal_year: int, month: str) -> None:
    """L104 when `month` is closed, or a later month of the fiscal year is (its report covers this one)."""
    closed = closed_through(ledger, fiscal_year)
    if closed and month <= closed[0]:
        raise _error("L104", ledger.path, fiscal_year=fiscal_year, month=month, value=closed[0],
                     closed_at=jst_label(closed[1]))



# ---------------------------------------------------------------- close and reopen
def close_month(ledger: Ledger, fiscal_year: int, month: str) -> tuple[bool, str]:
    """Close a reporting month at its last consolidation: (newly closed?, closed at)."""
    with ledger.transaction():
        rows = ledger.query("SELECT closed_at FROM closed_months WHERE fiscal_year = ? AND month = ?",
                            [fiscal_year, month])
        if rows:
            return False, rows[0][0]
        run = _last_run(ledger, fiscal_year, month)
        at = _now()
        ledger.conn.execute("INSERT INTO closed_months (fiscal_year, month, closed_at, run_id) VALUES (?, ?, ?, ?)",
                            (fiscal_year, month, at, run))
        ledger.conn.execute("INSERT INTO period_log (fiscal_year, month, action, at, reason, run_id) "
                            "VALUES (?, ?, 'close', ?, NULL, ?)", (fiscal_year, month, at, run))
    return True, at


def reopen_month(ledger: Ledger, fiscal_year: int, month: str, reason: str) -> str:
    """Reopen a closed month, logging why; L108 when it is not closed."""
    with ledger.transaction():
        rows = ledger.query("SELECT run_id FROM closed_months WHERE fiscal_year = ? AND month = ?",
                            [fiscal_year, month])
        if not rows:
            raise _error("L108", ledger.path, fiscal_year=fiscal_year, month=month)
        at = _now()
        ledger.conn.execute("DELETE FROM closed_months WHERE fiscal_year = ? AND month = ?", (fiscal_year, month))
        ledger.conn.execute("INSERT INTO period_log (fiscal_year, month, action, at, reason, run_id) "
                            "VALUES (?, ?, 'reopen', ?, ?, ?)", (fiscal_year, month, at, reason, rows[0][0]))
    return at



# ---------------------------------------------------------------- history
HISTORY_COLUMNS = ["fiscal_year", "month", "branch_code", "kpi_id", "numerator", "denominator", "value", "status",
                   "recorded_month", "source", "revision"]


def history(ledger: Ledger, *, branch: str | None = None, kpi: str | None = None,
            fiscal_year: int | None = None) -> list[dict[str, Any]]:
    """Every figure the ledger recorded (each change a row), oldest first per key."""
    sql = ("SELECT v.fiscal_year, v.month, v.branch_code, v.kpi_id, v.numerator, v.denominator, v.value, "
           "v.status, v.run_month, COALESCE(f.name, CASE WHEN run.kind = 'import' THEN 'import' ELSE '' END), "
           "rv.after_close FROM kpi_values v JOIN runs run ON run.id = v.run_id "
           "LEFT JOIN files f ON f.id = v.file_id LEFT JOIN revisions rv ON rv.new_value_id = v.id WHERE 1 = 1")
    params: list[Any] = []
    for column, wanted in (("v.branch_code", branch), ("v.kpi_id", kpi), ("v.fiscal_year", fiscal_year)):
        if wanted is not None:
            sql += f" AND {column} = ?"
            params.append(wanted)
    sql += " ORDER BY v.fiscal_year, v.branch_code, v.kpi_id, v.month, v.run_month, v.id"
    out = []
    for r in ledger.query(sql, params):
        mark = "" if r[10] is None else ("修正（締め後）" if r[10] else "修正")
        out.append(dict(zip(HISTORY_COLUMNS, [*r[:10], mark], strict=True)))
    return out


# ---------------------------------------------------------------- year-end values (next year's baseline)
def year_end_values(ledger: Ledger, fiscal_year: int) -> list[tuple[str, str, str, float]]:
    """(branch code or 'ALL', KPI id, month, value) of every branch × KPI of a fiscal year, at the year's
    shown result: the latest month the ledger holds a figure for (not 'missing'), when that figure is
    usable ('ok'), as consolidation takes a branch's latest result.  G112 when the ledger holds nothing."""
    latest: dict[tuple[str, str], tuple[str, Any]] = {}
    for (code, kpi_id, month), figure in held(ledger, fiscal_year).items():
        if figure.status != "missing" and month >= latest.get((code, kpi_id), ("", None))[0]:
            latest[(code, kpi_id)] = (month, figure)
    if not latest:
        raise _error("G112", ledger.path, fiscal_year=fiscal_year, fiscal_year_ja=wareki_fiscal_year(fiscal_year))
    return sorted((code, kpi_id, month, figure.value) for (code, kpi_id), (month, figure) in latest.items()
                  if figure.status == "ok" and figure.value is not None)


# ---------------------------------------------------------------- importing a kpi_values CSV
IMPORT_COLUMNS = ("branch_code", "kpi_id", "month", "numerator", "denominator", "value", "status")
NO_FIGURE_STATUSES = frozenset({"not_submitted", "unreadable", "not_used"})  # rows of branches without a used file


@dataclass
class ImportResult:
    path: str
    fiscal_year: int | None
    rows: int
    added: int
    already: bool  # the same file was imported (or read) before: nothing added


def import_values(ledger: Ledger, path: Path, *, today: date | None = None) -> ImportResult:
    """Record the figures of a kpi_values CSV kpisheet wrote (one fiscal year), e.g. last year's.

    Refused whole, nothing recorded: a CSV that is not one (L107); one with a figure no KPI can
    have — inf or nan, a negative count, a rate over 100% or a numerator above its denominator
    where that is impossible, a value beyond the KPI's ceiling — one L110 per such line; and a
    CSV of a fiscal year that is not over (by `today`) or that this ledger consolidates itself
    (L111): its figures would stand beside the branches' own as revisions they never made."""
    path = Path(path)
    digest = sha256_or_empty(path)
    rows, fiscal_year = _read_values_csv(path)
    with ledger.transaction():
        if ledger.query("SELECT 1 FROM files WHERE sha256 = ?", [digest]):
            return ImportResult(str(path), fiscal_year, len(rows), 0, True)
        _check_year_over(ledger, path, fiscal_year, today or date.today())
        last = max(r[2] for r in rows)
        cat = catalogue_for_fy(fiscal_year)
        run_id = _insert_run(ledger, "import", fiscal_year, last, cat.digest, {"file": str(path), "sha256": digest},
                             digest)
        size, received = _file_facts(str(path))
        cur = ledger.conn.execute(
            "INSERT INTO files (sha256, name, size, fiscal_year, received_at, first_run_id) VALUES (?, ?, ?, ?, ?, ?)",
            (digest, path.name, size, fiscal_year, received, run_id))
        file_id = _inserted_id(cur)
        now = held(ledger, fiscal_year)
        new = [(fiscal_year, *r, run_id, last, file_id) for r in rows
               if _worth_recording(now.get((r.branch_code, r.kpi_id, r.month)), r)]
        ledger.conn.executemany(
            "INSERT INTO kpi_values (fiscal_year, branch_code, kpi_id, month, numerator, denominator, value, "
            "status, run_id, run_month, file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", new)
    return ImportResult(str(path), fiscal_year, len(rows), len(new), False)


def _read_values_csv(path: Path) -> tuple[list[_ImportRow], int]:
    """(rows of IMPORT_COLUMNS with numbers as floats, the fiscal year); L107 on anything amiss."""
    def bad(reason: str) -> KpisheetError:
        return _error("L107", path, reason=reason)

    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            table = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise bad(str(exc)) from None
    if not table or any(c not in table[0] for c in IMPORT_COLUMNS):
        raise bad("列が足りません / missing columns")
    codes = {b.code for b in load_branches()} | {NATIONAL_CODE}
    # the unrounded figure where the CSV has one (kpisheet's CSV rounds `value` as shown since value_raw)
    value_column = "value_raw" if "value_raw" in table[0] else "value"
    out: list[_ImportRow] = []
    years = set()
    impossible: list[Finding] = []
    for line, row in enumerate(table, 2):
        if row["status"] in NO_FIGURE_STATUSES:
            continue  # a branch with no file used: nothing to record
        try:
            month = month_key(parse_month(row["month"]))
            fy = int(month[:4]) - (1 if int(month[5:]) < 4 else 0)
            if row["branch_code"] not in codes or not catalogue_for_fy(fy).has_kpi(row["kpi_id"]):
                raise ValueError(f"{row['branch_code']} {row['kpi_id']}")
            numerator, denominator, value = (float(row[c]) if row[c].strip() else None
                                             for c in ("numerator", "denominator", value_column))
        except (ValueError, KpisheetError, AttributeError) as exc:
            raise bad(f"{line}行目 / line {line}: {exc}") from None
        years.add(fy)
        status = "missing" if row["status"] == "not_due" else row["status"]  # the ledger keeps no lag
        kpi = catalogue_for_fy(fy).kpi(row["kpi_id"])
        impossible.extend(finding("L110", path=str(path), line=line, subject=kpi.id, value=shown_value, reason=why)
                          for shown_value, why in _impossible(kpi, numerator, denominator, value))
        out.append(_ImportRow(row["branch_code"], row["kpi_id"], month, numerator, denominator, value,
                              status or "ok"))
    if impossible:
        raise KpisheetError(impossible)
    if len(years) != 1:
        raise bad(f"年度が複数あります / several fiscal years: {sorted(years)}")
    return out, years.pop()


def _impossible(kpi: Kpi, numerator: float | None, denominator: float | None,
                value: float | None) -> list[tuple[str, str]]:
    """(value, reason) of each figure of an imported row its KPI could never have (see import_values)."""
    out = []
    for name, v in (("numerator", numerator), ("denominator", denominator), ("value", value)):
        if v is None:
            continue
        if not math.isfinite(v):
            out.append((f"{name}={v}", "数値ではありません / not a finite number"))
        elif v < 0:
            out.append((f"{name}={v:g}", "負の値です / negative"))
        elif name != "value" and v > kpi.input_ceiling:
            out.append((f"{name}={v:g}", f"上限 {kpi.input_ceiling:g} を超えています / above the KPI's ceiling"))
        elif name == "value" and kpi.kind == "count" and v > kpi.input_ceiling:
            out.append((f"{name}={v:g}", f"上限 {kpi.input_ceiling:g} を超えています / above the KPI's ceiling"))
        elif name == "value" and kpi.is_percent and v > 100:
            out.append((f"{name}={v:g}", "100%を超える率です / a rate above 100%"))
    if (kpi.is_percent and numerator is not None and denominator is not None and not out
            and numerator > denominator):
        out.append((f"numerator={numerator:g}", f"分母 {denominator:g} を超えています / above the denominator"))
    return out


def _check_year_over(ledger: Ledger, path: Path, fiscal_year: int, today: date) -> None:
    """L111 unless the CSV's fiscal year is over and this ledger has no consolidation of it."""
    over = today >= date(fiscal_year + 1, 4, 1)
    ran = ledger.query("SELECT 1 FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? LIMIT 1", [fiscal_year])
    if not over or ran:
        reason = ("年度がまだ終わっていません / the fiscal year is not over" if not over else
                  "この台帳がこの年度を集計しています / this ledger consolidates that year")
        raise _error("L111", path, fiscal_year=fiscal_year, reason=reason)


