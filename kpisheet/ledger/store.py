"""The submission ledger: what every consolidation read, used, published and closed, kept in SQLite.

One file (`--ledger PATH`, else the environment variable KPISHEET_LEDGER, else
`kpisheet.sqlite` in the working folder) that opens in the `sqlite3` shell and
in pandas.  It records, per run, the input files (by sha256: the same bytes are
one file), the values read from the files that were used (a new row only when a
value differs from the one held), the outputs with their sha256, and what a
later `--from-ledger` rebuild needs.  From it a consolidation learns:

* **revisions** — a value a branch changed for a month the ledger already held
  (the national workbook's 修正履歴, the branch's feedback), marked 締め後 when
  the month had been closed;
* **前年同月比** — the same month of the previous fiscal year, through the
  term-5 → term-6 mapping where the fiscal years lie in different terms (only
  where the mapping says the old figure is a valid baseline).

Writes: one writer at a time, one transaction per run (`BEGIN IMMEDIATE` …
`COMMIT`), WAL journal; an interrupted or failed run rolls back and leaves the
ledger as it was.  The schema is versioned (`PRAGMA user_version`, MIGRATIONS);
a ledger of a newer kpisheet is refused (L102), a damaged file (L101) or a busy
one (L103) is a clear message, never a traceback.

Submissions are stored compactly: every input that holds something, with the
cell it came from, and each month of a KPI only when one of its inputs holds
something (a wholly blank month reads exactly like a missing one).  That, the
findings and the options of the run are enough for `build_consolidation` to
give the same Consolidation again; last year's figures are read as the ledger
held them when the run was recorded (rows are only ever added, never changed).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import sqlite3
import tempfile
import zlib
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

from kpisheet import __version__
from kpisheet.consolidate.build import NATIONAL_CODE, Consolidation, MonthValue, Revision, build_consolidation
from kpisheet.domain.catalogue import Catalogue, Kpi, catalogue_for_fy, load_branches, load_mapping
from kpisheet.domain.findings import Finding, KpisheetError, finding, sets_aside
from kpisheet.domain.fiscal import month_key, parse_month
from kpisheet.domain.model import (
    EMPTY,
    InputValue,
    KpiEntry,
    KpiMonth,
    MeasureEntry,
    MeasureRow,
    Source,
    Submission,
    is_readable,
)
from kpisheet.fileio import new_file_mode, sha256_or_empty

CODES = frozenset({"L101", "L102", "L103", "L104", "L105", "L106", "L107", "L108"})  # L109: write.outputs

DEFAULT_NAME = "kpisheet.sqlite"
ENV_VAR = "KPISHEET_LEDGER"
APPLICATION_ID = 0x6B707368  # 'kpsh': marks the file as a kpisheet ledger (PRAGMA application_id)
BUSY_SECONDS = 5.0  # a second writer waits this long, then gives up (L103)
RECORD_FORMAT = 1  # of the compact submission record and the run snapshot

# ---------------------------------------------------------------- schema
# Each entry migrates from version i to i + 1.  Never edit a released entry: append one.
MIGRATIONS: list[str] = ["""
-- kpisheet submission ledger.  Months are 'YYYY-MM', times ISO 8601 with their UTC offset.
-- Values are in display units as in the kpi_values CSV: percent in points (96.5), yen, counts.
CREATE TABLE runs (  -- one row per consolidation or import that recorded something
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('consolidate', 'import')),
    fiscal_year INTEGER NOT NULL,
    month TEXT NOT NULL,               -- the reporting month; an import: the last month it holds
    started_at TEXT NOT NULL,
    kpisheet_version TEXT NOT NULL,
    catalogue_digest TEXT NOT NULL,    -- digest of the fiscal year's KPI catalogue (its layout)
    options TEXT NOT NULL,             -- JSON: inbox, --baseline / --targets (path, sha256), output folder
    fingerprint TEXT NOT NULL,         -- sha256 of all the outputs depend on: the same again records nothing
    snapshot BLOB                      -- zlib JSON: what --from-ledger rebuilds the month from
);
CREATE TABLE run_outputs (  -- every file a run wrote, with its sha256
    run_id INTEGER NOT NULL REFERENCES runs(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE TABLE files (  -- every distinct input file ever read: the same bytes are one file
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,                -- the file's name when first seen
    size INTEGER,                      -- bytes
    branch_code TEXT,                  -- '11'; NULL when no branch could be told
    fiscal_year INTEGER,
    saved_at TEXT,                     -- the workbook's own last-saved time (docProps/core.xml)
    saved_by TEXT,                     -- the application that last saved it
    received_at TEXT,                  -- the file's modification time when first seen
    first_run_id INTEGER NOT NULL REFERENCES runs(id),
    record BLOB                        -- zlib JSON: what was read from it (inputs, their cells, findings)
);
CREATE TABLE run_files (  -- the files each run found and what it did with each
    run_id INTEGER NOT NULL REFERENCES runs(id),
    file_id INTEGER NOT NULL REFERENCES files(id),
    path TEXT NOT NULL,                -- where the run found it
    role TEXT NOT NULL CHECK (role IN ('used', 'set_aside', 'identical', 'unreadable', 'not_used')),
    PRIMARY KEY (run_id, path)
);
CREATE TABLE kpi_values (  -- each figure as recorded; a new row only when it differs from the last one
    id INTEGER PRIMARY KEY,
    fiscal_year INTEGER NOT NULL,
    branch_code TEXT NOT NULL,         -- '11', or 'ALL' for the national figure
    kpi_id TEXT NOT NULL,
    month TEXT NOT NULL,               -- the month the figure is for
    numerator REAL,
    denominator REAL,
    value REAL,
    status TEXT NOT NULL,              -- ok | missing | excluded | zero_denominator
    run_id INTEGER NOT NULL REFERENCES runs(id),
    run_month TEXT NOT NULL,           -- the recording run's month: the current row is the last by (run_month, id)
    file_id INTEGER REFERENCES files(id)  -- the file it came from; NULL for national figures
);
CREATE INDEX kpi_values_by_key ON kpi_values (fiscal_year, branch_code, kpi_id, month, run_month, id);
CREATE TABLE revisions (  -- a branch changed a figure the ledger held (修正履歴)
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    fiscal_year INTEGER NOT NULL,
    branch_code TEXT NOT NULL,
    kpi_id TEXT NOT NULL,
    month TEXT NOT NULL,               -- the month whose figure changed
    old_value_id INTEGER NOT NULL REFERENCES kpi_values(id),
    new_value_id INTEGER NOT NULL REFERENCES kpi_values(id),
    after_close INTEGER NOT NULL       -- 1: the month was closed when the revision came (締め後)
);
CREATE TABLE closed_months (  -- closed months (締め): final as published, not consolidated again
    fiscal_year INTEGER NOT NULL,
    month TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),  -- the consolidation that was published and closed
    PRIMARY KEY (fiscal_year, month)
);
CREATE TABLE period_log (  -- every close and reopen, with its reason
    id INTEGER PRIMARY KEY,
    fiscal_year INTEGER NOT NULL,
    month TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('close', 'reopen')),
    at TEXT NOT NULL,
    reason TEXT,
    run_id INTEGER REFERENCES runs(id)
);
CREATE VIEW current_values AS  -- the figure each (fiscal year, branch, KPI, month) holds now
    SELECT v.* FROM kpi_values v
    WHERE v.id = (SELECT w.id FROM kpi_values w
                  WHERE w.fiscal_year = v.fiscal_year AND w.branch_code = v.branch_code
                    AND w.kpi_id = v.kpi_id AND w.month = v.month
                  ORDER BY w.run_month DESC, w.id DESC LIMIT 1);
CREATE VIEW revision_list AS  -- revisions with the old and new figures and files, as 修正履歴 lists them
    SELECT r.id, r.fiscal_year, run.month AS reporting_month, r.branch_code, r.kpi_id, r.month,
           o.numerator AS old_numerator, o.denominator AS old_denominator, o.value AS old_value,
           n.numerator AS new_numerator, n.denominator AS new_denominator, n.value AS new_value,
           n.status AS new_status, fo.name AS old_file, fn.name AS new_file, r.after_close, run.started_at
    FROM revisions r
    JOIN runs run ON run.id = r.run_id
    JOIN kpi_values o ON o.id = r.old_value_id
    JOIN kpi_values n ON n.id = r.new_value_id
    LEFT JOIN files fo ON fo.id = o.file_id
    LEFT JOIN files fn ON fn.id = n.file_id;
"""]
SCHEMA_VERSION = len(MIGRATIONS)


def ledger_path(option: Path | str | None = None) -> Path:
    """--ledger, else $KPISHEET_LEDGER, else kpisheet.sqlite in the working folder."""
    if option:
        return Path(option)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.cwd() / DEFAULT_NAME


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _error(code: str, path: Path, **context: Any) -> KpisheetError:
    return KpisheetError([finding(code, path=str(path), **context)])


# ---------------------------------------------------------------- opening
class Ledger:
    """An open ledger.  Use `open_ledger`; every method turns SQLite errors into L101 / L103."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        """SQLite errors as findings: busy (L103), anything else damaged (L101)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise _error("L103", self.path) from None
            raise _error("L101", self.path, reason=str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise _error("L101", self.path, reason=str(exc)) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One writer: BEGIN IMMEDIATE (waits BUSY_SECONDS for another), COMMIT, or ROLLBACK on any way out."""
        with self.guarded():
            self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        with self.guarded():
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.guarded():
            return self.conn.execute(sql, tuple(params)).fetchall()


def open_ledger(path: Path, *, create: bool) -> Ledger:
    """Open (and migrate) the ledger at `path`; create it when `create`, else L106 when it is missing."""
    path = Path(path)
    if not path.exists() and not create:
        raise _error("L106", path)
    if path.exists() and not path.is_file():
        raise _error("L101", path, reason="ファイルではありません / not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_SECONDS, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise _error("L101", path, reason=getattr(exc, "strerror", None) or str(exc)) from None
    ledger = Ledger(conn, path)
    try:
        with ledger.guarded():
            _migrate(ledger)
    except BaseException:
        conn.close()
        raise
    return ledger


def _migrate(ledger: Ledger) -> None:
    conn = ledger.conn
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise _error("L102", ledger.path, value=version, expected=SCHEMA_VERSION)
    if version == SCHEMA_VERSION:
        if app != APPLICATION_ID:
            raise _error("L101", ledger.path, reason="kpisheetの台帳ではありません / not a kpisheet ledger")
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if version == 0 and tables:
        raise _error("L101", ledger.path, reason="kpisheetの台帳ではありません / not a kpisheet ledger")
    if version == 0:
        conn.execute("PRAGMA journal_mode = WAL")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[target - 1]}\n"
                           f"PRAGMA application_id = {APPLICATION_ID};\nPRAGMA user_version = {target};\nCOMMIT;")


@contextlib.contextmanager
def opened(path: Path, *, create: bool = False) -> Iterator[Ledger]:
    ledger = open_ledger(path, create=create)
    try:
        yield ledger
    finally:
        ledger.close()


# ---------------------------------------------------------------- compact records
def _pack(obj: Any) -> bytes:
    return zlib.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode(), 6)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def _iv(iv: InputValue) -> Any:
    """An input as [value, sheet, cell, name] (a bare value when it came from nowhere)."""
    s = iv.source
    return iv.value if s is None else [iv.value, s.sheet, s.cell, s.name]


def _blank(a: InputValue, b: InputValue, c: InputValue) -> bool:
    return (a.value is None and a.raw is None and b.value is None and b.raw is None
            and c.value is None and c.raw is None)


def encode_submission(sub: Submission) -> dict[str, Any]:
    """The submission as consolidation reads it: inputs that hold something (with their cells) and
    the findings of reading; a wholly blank month or 取組 row is left out (it reads the same as none)."""
    kpis = []
    for kpi_id, e in sub.kpis.items():
        months = []
        for key, m in e.months.items():
            n, d, v = m.numerator, m.denominator, m.value
            if n.value is None and d.value is None and v.value is None and _blank(n, d, v):
                continue
            months.append([key, _iv(n), _iv(d), _iv(v)])
        kpis.append([kpi_id, _iv(e.target), _iv(e.baseline), _iv(e.text), _iv(e.rating), months])
    measures = [[mid, _iv(m.issue), [[r.n, _iv(r.text), _iv(r.rating), _iv(r.note)] for r in m.rows
                                     if not _blank(r.text, r.rating, r.note)]]
                for mid, m in sub.measures.items()]
    meta = {f.name: getattr(sub, f.name) for f in fields(sub) if f.name not in ("kpis", "measures", "findings")}
    return {"format": RECORD_FORMAT, "meta": meta, "kpis": kpis, "measures": measures,
            "findings": [finding_dict(f) for f in sub.findings]}


def _input(x: Any) -> InputValue:
    if isinstance(x, list):
        return InputValue(x[0], Source(x[1], x[2], x[3]))
    return EMPTY if x is None else InputValue(x)


def decode_submission(record: dict[str, Any], path: str) -> Submission:
    """The Submission `encode_submission` stored, found at `path` in this run."""
    meta = dict(record["meta"])
    old_path = meta.get("path")
    known = {f.name for f in fields(Submission)}
    sub = Submission(**{k: v for k, v in meta.items() if k in known})
    sub.path = path
    for kpi_id, target, baseline, text, rating, months in record["kpis"]:
        sub.kpis[kpi_id] = KpiEntry(kpi_id, _input(target), _input(baseline),
                                    {m[0]: KpiMonth(m[0], _input(m[1]), _input(m[2]), _input(m[3])) for m in months},
                                    _input(text), _input(rating))
    for mid, issue, rows in record["measures"]:
        sub.measures[mid] = MeasureEntry(mid, [MeasureRow(n, _input(t), _input(r), _input(o))
                                               for n, t, r, o in rows], _input(issue))
    sub.findings = [_moved(finding_from_dict(d), old_path, path) for d in record["findings"]]
    return sub


def _moved(f: Finding, old: str | None, new: str) -> Finding:
    return replace(f, file=new) if f.file is not None and f.file == old else f


_FINDING_FIELDS = tuple(x.name for x in fields(Finding))


def finding_dict(f: Finding) -> dict[str, Any]:
    """Finding.to_dict with its context (the message's parts), without dataclasses.asdict's deep copy."""
    return {name: getattr(f, name) for name in _FINDING_FIELDS}


def finding_from_dict(d: dict[str, Any]) -> Finding:
    known = {x.name for x in fields(Finding)}
    return Finding(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- figures held
Key = tuple[str, str, str]  # (branch code or 'ALL', KPI id, month)


class Held(NamedTuple):
    """The figure the ledger holds for one key."""

    id: int
    numerator: float | None
    denominator: float | None
    value: float | None
    status: str
    file_id: int | None

    @property
    def has_numbers(self) -> bool:
        return any(x is not None for x in (self.numerator, self.denominator, self.value))


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _numbers_differ(held: Held, mv: MonthValue | _ImportRow) -> bool:
    return not (_same(held.numerator, mv.numerator) and _same(held.denominator, mv.denominator)
                and _same(held.value, mv.value))


def _worth_recording(held: Held | None, mv: MonthValue | _ImportRow) -> bool:
    """A new row when the figure differs from the one held; a first figure only when it has numbers."""
    if held is None:
        return any(x is not None for x in (mv.numerator, mv.denominator, mv.value))
    return _numbers_differ(held, mv) or held.status != mv.status


def _is_revision(held: Held | None, mv: MonthValue) -> bool:
    """A branch's published number changed (a first report, or one after an excluded value, is not)."""
    return mv.branch_code != NATIONAL_CODE and held is not None and held.has_numbers and _numbers_differ(held, mv)


@dataclass
class RunPlan:
    """What `attach` found before the outputs are written: what the consolidation gets from the
    ledger (`applied_to`) and what `record_run` will store."""

    held: dict[Key, Held]
    new_revisions: list[tuple[Revision, int]]  # (revision, id of the row it replaces)
    closed_through: str | None
    last_year_mark: int = 0  # the newest row of the previous fiscal year: last year's figures as used
    revisions: list[Revision] = field(default_factory=list)  # the month's revisions, earlier runs' and this one's
    previous_year: dict[Key, float] = field(default_factory=dict)  # last year's figures (Consolidation.previous_year)
    no_comparison: dict[str, tuple[str, str]] = field(default_factory=dict)  # KPI id -> why no 前年同月比

    def applied_to(self, cons: Consolidation) -> Consolidation:
        """A new Consolidation: `cons` with the ledger's revisions and last year's figures."""
        return replace(cons, revisions=self.revisions, previous_year=self.previous_year,
                       no_comparison=self.no_comparison)


def held(ledger: Ledger, fiscal_year: int, as_of: str | None = None) -> dict[Key, Held]:
    """The current figure of every key of a fiscal year, as the runs up to month `as_of` left it
    (and of the months up to it: later ones do not concern such a run)."""
    sql = ("SELECT id, branch_code, kpi_id, month, numerator, denominator, value, status, file_id "
           "FROM kpi_values WHERE fiscal_year = ?")
    params: list[Any] = [fiscal_year]
    if as_of is not None:
        sql += " AND run_month <= ? AND month <= ?"
        params += [as_of, as_of]
    with ledger.guarded():
        rows = ledger.conn.execute(sql + " ORDER BY run_month, id", params).fetchall()
    return {(r[1], r[2], r[3]): Held._make((r[0], *r[4:])) for r in rows}  # later rows win


def last_year(ledger: Ledger, fiscal_year: int, through: str, up_to_run: int | None = None) -> dict[Key, float]:
    """The value of every key of a fiscal year up to month `through` whose status is ok, as the ledger
    holds it now (or held it when run `up_to_run` was recorded: rows are only ever added)."""
    sql = ("SELECT branch_code, kpi_id, month, value, status FROM kpi_values "
           "WHERE fiscal_year = ? AND month <= ?")
    params: list[Any] = [fiscal_year, through]
    if up_to_run is not None:
        sql += " AND run_id <= ?"
        params.append(up_to_run)
    with ledger.guarded():
        rows = ledger.conn.execute(sql + " ORDER BY run_month, id", params).fetchall()
    current = {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}
    return {k: v for k, (v, status) in current.items() if status == "ok" and v is not None}


def closed_through(ledger: Ledger, fiscal_year: int) -> tuple[str, str] | None:
    """(latest closed month, when it was closed) of a fiscal year, or None."""
    rows = ledger.query("SELECT month, closed_at FROM closed_months WHERE fiscal_year = ? "
                        "ORDER BY month DESC LIMIT 1", [fiscal_year])
    return (rows[0][0], rows[0][1]) if rows else None


def check_open(ledger: Ledger, fiscal_year: int, month: str) -> None:
    """L104 when `month` is closed, or a later month of the fiscal year is (its report covers this one)."""
    closed = closed_through(ledger, fiscal_year)
    if closed and month <= closed[0]:
        raise _error("L104", ledger.path, fiscal_year=fiscal_year, month=month, value=closed[0],
                     closed_at=closed[1][:16].replace("T", " "))


def revisions_of_month(ledger: Ledger, fiscal_year: int, month: str, up_to_run: int | None = None
                       ) -> list[Revision]:
    """The revisions the runs of a reporting month found (up to one run), in the order found."""
    sql = ("SELECT rl.branch_code, rl.kpi_id, rl.month, old_numerator, old_denominator, old_value, "
           "new_numerator, new_denominator, new_value, new_status, new_file, old_file, rl.after_close, "
           "reporting_month FROM revision_list rl JOIN revisions r ON r.id = rl.id "
           "WHERE rl.fiscal_year = ? AND reporting_month = ?")
    params: list[Any] = [fiscal_year, month]
    if up_to_run is not None:
        sql += " AND r.run_id <= ?"
        params.append(up_to_run)
    rows = ledger.query(sql + " ORDER BY rl.id", params)
    return [Revision(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10] or "", r[11] or "",
                     bool(r[12]), r[13]) for r in rows]


def _revision_order(revisions: list[Revision]) -> list[Revision]:
    return sorted(revisions, key=lambda r: (r.branch_code, r.kpi_id, r.month))  # stable: found order within


# ---------------------------------------------------------------- 前年同月比
def _month_shift(month: str, years: int) -> str:
    return f"{int(month[:4]) + years:04d}{month[4:]}"


def comparable_ids(cat: Catalogue, kpis: list[Kpi], fiscal_year: int
                   ) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """({previous year's KPI id: this year's}, {this year's KPI id: (ja, en) why there is no comparison}).

    Within a term the id is the same KPI.  Across the term change only where the mapping says the
    old figure is a valid baseline of the new KPI (the definition did not change)."""
    reasons: dict[str, tuple[str, str]] = {}
    try:
        previous = catalogue_for_fy(fiscal_year - 1)
    except KpisheetError:
        return {}, {k.id: ("前年度のKPI一覧なし", "no catalogue for the previous fiscal year") for k in kpis}
    forward: dict[str, str] = {}
    mapping = load_mapping() if previous.term != cat.term else None
    for kpi in kpis:
        if kpi.kind == "qualitative":
            reasons[kpi.id] = ("定性的KPIのため比較なし", "qualitative KPI: no comparison")
        elif mapping is None:
            if previous.has_kpi(kpi.id):
                forward[kpi.id] = kpi.id
            else:
                reasons[kpi.id] = ("前年度にないKPI", "not a KPI the previous year")
        else:
            link = mapping.predecessor(kpi.id)
            if link is None or link.from_id is None:
                reasons[kpi.id] = (f"第{previous.term}期に対応するKPIがないため比較なし",
                                   f"no term-{previous.term} KPI to compare with")
            elif not link.baseline_valid:
                reasons[kpi.id] = (f"第{previous.term}期から定義が変わったため比較なし（{link.relation}、"
                                   f"第5期→第6期対応表を参照）",
                                   f"definition changed from term {previous.term} ({link.relation}): not comparable")
            else:
                forward[link.from_id] = kpi.id
    return forward, reasons


def previous_year_values(values: dict[Key, float], forward: dict[str, str], through: str) -> dict[Key, float]:
    """{(branch, this year's KPI, this year's month): last year's value} for months up to `through`."""
    out: dict[Key, float] = {}
    for (code, old_id, month), value in values.items():
        new_id = forward.get(old_id)
        if new_id is None:
            continue
        this_month = _month_shift(month, 1)
        if this_month <= through:
            out[(code, new_id, this_month)] = value
    return out


# ---------------------------------------------------------------- a consolidation against the ledger
def attach(ledger: Ledger, cons: Consolidation) -> RunPlan:
    """What the ledger knows about `cons` — the month's revisions (earlier runs' and this one's) and
    last year's figures — and what `record_run` will store.  Reads only; `cons` is left as it is
    (`RunPlan.applied_to(cons)` is the consolidation with them)."""
    fy, month = cons.fiscal_year, cons.month_key
    now = held(ledger, fy, as_of=month)
    closed = closed_through(ledger, fy)
    names = file_names(ledger, [h.file_id for h in now.values()])
    found: list[tuple[Revision, int]] = []
    for mv in cons.month_values.values():
        h = now.get((mv.branch_code, mv.kpi_id, mv.month))
        if h is None or not _is_revision(h, mv):
            continue
        found.append((Revision(mv.branch_code, mv.kpi_id, mv.month, h.numerator, h.denominator, h.value,
                               mv.numerator, mv.denominator, mv.value, mv.status,
                               Path(cons.used.get(mv.branch_code, "")).name, names.get(h.file_id or -1, ""),
                               bool(closed and mv.month <= closed[0]), month), h.id))
    revisions = _revision_order([*revisions_of_month(ledger, fy, month), *(r for r, _ in found)])
    forward, no_comparison = comparable_ids(cons.catalogue, cons.kpis, fy)
    previous = previous_year_values(last_year(ledger, fy - 1, _month_shift(month, -1)), forward, month) \
        if forward else {}
    (mark,), = ledger.query("SELECT coalesce(max(id), 0) FROM kpi_values WHERE fiscal_year = ?", [fy - 1])
    return RunPlan(now, found, closed[0] if closed else None, int(mark), revisions, previous, no_comparison)


def file_names(ledger: Ledger, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update((r[0], r[1]) for r in ledger.query(f"SELECT id, name FROM files WHERE id IN ({marks})", chunk))
    return out


@dataclass
class RunRecord:
    """What a run left in the ledger (the CLI's summary line)."""

    path: str
    run_id: int | None  # None: the same inputs as the month's last run, nothing recorded
    new_files: int = 0
    known_files: int = 0
    values: int = 0
    revisions: int = 0
    revisions_after_close: int = 0
    previous_year: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "recorded": self.run_id is not None, "run_id": self.run_id,
                "new_files": self.new_files, "known_files": self.known_files, "values": self.values,
                "revisions": self.revisions, "revisions_after_close": self.revisions_after_close,
                "previous_year": self.previous_year}


def _role(cons: Consolidation, sub: Submission, aside: dict[str, str]) -> str:
    if not is_readable(sub):
        return "unreadable"
    if sub.branch_code and cons.used.get(sub.branch_code) == sub.path:
        return "used"
    return {"W207": "set_aside", "W208": "identical"}.get(aside.get(sub.path, ""), "not_used")


def _fingerprint(cons: Consolidation, roles: list[tuple[str, str]], plan: RunPlan) -> str:
    """Everything a run's outputs depend on: the same fingerprint again records nothing."""
    data = {"fy": cons.fiscal_year, "month": cons.month_key, "version": __version__,
            "digest": cons.catalogue.digest, "files": sorted(roles),
            "baselines": sorted(cons.baselines.items()), "targets": sorted(cons.targets.items()),
            "last_year": plan.last_year_mark}
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()


def record_run(ledger: Ledger, cons: Consolidation, plan: RunPlan, outputs: Iterable[Path],
               options: dict[str, Any]) -> RunRecord:
    """Store the run (inside the caller's transaction): files, changed figures, revisions, outputs,
    snapshot.  Nothing when the month's last run had the same fingerprint."""
    aside = {f.file or "": f.code for f in cons.findings if sets_aside(f)}
    roles = [(sub.sha256 or sub.path, _role(cons, sub, aside)) for sub in cons.submissions]
    fingerprint = _fingerprint(cons, roles, plan)
    record = RunRecord(str(ledger.path), None, previous_year=bool(plan.previous_year))
    last = ledger.query("SELECT fingerprint FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? AND month = ? "
                        "ORDER BY id DESC LIMIT 1", [cons.fiscal_year, cons.month_key])
    if last and last[0][0] == fingerprint:
        record.known_files = len(cons.submissions)
        return record
    with ledger.guarded():
        run_id = _insert_run(ledger, "consolidate", cons.fiscal_year, cons.month_key, cons.catalogue.digest,
                             options, fingerprint)
        record.run_id = run_id
        file_ids = _record_files(ledger, cons, run_id, [r for _, r in roles], record)
        record.values = _record_values(ledger, cons, plan, run_id, file_ids)
        record.revisions = len(plan.new_revisions)
        record.revisions_after_close = sum(1 for r, _ in plan.new_revisions if r.after_close)
        _record_outputs(ledger, run_id, outputs)
        ledger.conn.execute("UPDATE runs SET snapshot = ? WHERE id = ?", (_snapshot(cons, file_ids), run_id))
    return record


def _insert_run(ledger: Ledger, kind: str, fiscal_year: int, month: str, digest: str, options: dict[str, Any],
                fingerprint: str) -> int:
    cur = ledger.conn.execute(
        "INSERT INTO runs (kind, fiscal_year, month, started_at, kpisheet_version, catalogue_digest, options, "
        "fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, fiscal_year, month, _now(), __version__, digest,
         json.dumps(options, ensure_ascii=False, default=str, sort_keys=True), fingerprint))
    return _inserted_id(cur)


def _file_facts(path: str) -> tuple[int | None, str | None]:
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="seconds")


def _record_files(ledger: Ledger, cons: Consolidation, run_id: int, roles: list[str],
                  record: RunRecord) -> list[int | None]:
    """A files row for every new file (its record kept when it was read), run_files for all.
    Returns each submission's file id (None for a file without content, e.g. a folder)."""
    ids: list[int | None] = []
    known = _known_files(ledger, [s.sha256 for s in cons.submissions if s.sha256])
    for sub in cons.submissions:
        row = known.get(sub.sha256) if sub.sha256 else None
        if not sub.sha256:
            ids.append(None)
        elif row is None:
            file_id = _insert_file(ledger, sub, run_id)
            ids.append(file_id)
            known[sub.sha256] = (file_id, not is_readable(sub))  # an identical copy later in the run
            record.new_files += 1
        else:
            if row[1] and is_readable(sub):  # first seen unreadable, read now
                ledger.conn.execute("UPDATE files SET record = ? WHERE id = ?", (_pack(encode_submission(sub)), row[0]))
            ids.append(row[0])
            record.known_files += 1
    ledger.conn.executemany("INSERT OR REPLACE INTO run_files (run_id, file_id, path, role) VALUES (?, ?, ?, ?)",
                            [(run_id, fid, sub.path, role) for sub, fid, role in zip(cons.submissions, ids, roles, strict=True)
                             if fid is not None])
    return ids


def _insert_file(ledger: Ledger, sub: Submission, run_id: int) -> int:
    size, received = _file_facts(sub.path)
    blob = _pack(encode_submission(sub)) if is_readable(sub) else None
    cur = ledger.conn.execute(
        "INSERT INTO files (sha256, name, size, branch_code, fiscal_year, saved_at, saved_by, received_at, "
        "first_run_id, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sub.sha256, Path(sub.path).name, size, sub.branch_code, sub.fiscal_year, sub.saved_at, sub.saved_by,
         received, run_id, blob))
    return _inserted_id(cur)


def _known_files(ledger: Ledger, digests: list[str]) -> dict[str, tuple[int, bool]]:
    """{sha256: (file id, its record is missing)} of the files the ledger has already seen."""
    out: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(digests), 500):
        chunk = digests[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update((r[0], (r[1], bool(r[2]))) for r in ledger.conn.execute(
            f"SELECT sha256, id, record IS NULL FROM files WHERE sha256 IN ({marks})", chunk))
    return out


def _record_values(ledger: Ledger, cons: Consolidation, plan: RunPlan, run_id: int,
                   file_ids: list[int | None]) -> int:
    by_path = {sub.path: fid for sub, fid in zip(cons.submissions, file_ids, strict=True)}
    file_of = {code: by_path.get(path) for code, path in cons.used.items()}
    rows = []
    for mv in [*cons.month_values.values(), *cons.national_months.values()]:
        if _worth_recording(plan.held.get((mv.branch_code, mv.kpi_id, mv.month)), mv):
            rows.append((cons.fiscal_year, mv.branch_code, mv.kpi_id, mv.month, mv.numerator, mv.denominator,
                         mv.value, mv.status, run_id, cons.month_key, file_of.get(mv.branch_code)))
    ledger.conn.executemany(
        "INSERT INTO kpi_values (fiscal_year, branch_code, kpi_id, month, numerator, denominator, value, status, "
        "run_id, run_month, file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    new_ids = {(r[0], r[1], r[2]): r[3] for r in ledger.conn.execute(
        "SELECT branch_code, kpi_id, month, id FROM kpi_values WHERE run_id = ?", (run_id,))}
    ledger.conn.executemany(
        "INSERT INTO revisions (run_id, fiscal_year, branch_code, kpi_id, month, old_value_id, new_value_id, "
        "after_close) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, cons.fiscal_year, r.branch_code, r.kpi_id, r.month, old_id,
          new_ids[(r.branch_code, r.kpi_id, r.month)], int(r.after_close)) for r, old_id in plan.new_revisions])
    return len(rows)


def _record_outputs(ledger: Ledger, run_id: int, outputs: Iterable[Path]) -> None:
    ledger.conn.executemany("INSERT OR REPLACE INTO run_outputs (run_id, path, sha256) VALUES (?, ?, ?)",
                            [(run_id, str(p), sha256_or_empty(Path(p))) for p in outputs])


def _snapshot(cons: Consolidation, file_ids: list[int | None]) -> bytes:
    """What `rebuild` needs besides the files' records: stubs of unreadable files, the findings the
    consolidation was given, --baseline / --targets values, the inputs list, why KPIs have no 前年同月比."""
    subs = [[fid, sub.path, None if fid is not None and is_readable(sub) else encode_submission(sub)]
            for sub, fid in zip(cons.submissions, file_ids, strict=True)]
    return _pack({"format": RECORD_FORMAT, "fiscal_year": cons.fiscal_year, "month": cons.month_key,
                  "submissions": subs, "findings": [finding_dict(f) for f in cons.given_findings],
                  "baselines": [[*k, v] for k, v in cons.baselines.items()],
                  "targets": [[*k, v] for k, v in cons.targets.items()],
                  "inputs": [list(x) for x in cons.inputs],
                  "no_comparison": {k: list(v) for k, v in cons.no_comparison.items()}})


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


def _last_run(ledger: Ledger, fiscal_year: int, month: str) -> int:
    rows = ledger.query("SELECT id FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? AND month = ? "
                        "ORDER BY id DESC LIMIT 1", [fiscal_year, month])
    if not rows:
        raise _error("L105", ledger.path, fiscal_year=fiscal_year, month=month)
    return int(rows[0][0])


def published_run(ledger: Ledger, fiscal_year: int, month: str) -> int:
    """The run a month's report is rebuilt from: the one it was closed at, else its last one."""
    rows = ledger.query("SELECT run_id FROM closed_months WHERE fiscal_year = ? AND month = ?", [fiscal_year, month])
    return int(rows[0][0]) if rows else _last_run(ledger, fiscal_year, month)


# ---------------------------------------------------------------- rebuilding a month
def _received_times(ledger: Ledger, subs: list[Submission]) -> dict[str, str]:
    """Submission path → the arrival time the ledger recorded for its file."""
    digests = [s.sha256 for s in subs if s.sha256]
    if not digests:
        return {}
    marks = ",".join("?" * len(digests))
    seen = dict(ledger.query(f"SELECT sha256, received_at FROM files WHERE sha256 IN ({marks})", digests))
    return {s.path: seen[s.sha256] for s in subs if seen.get(s.sha256)}


def rebuild(ledger: Ledger, fiscal_year: int, month: str, settings: Any = None) -> tuple[Consolidation, int]:
    """The Consolidation of a month's published run, from the ledger alone: (consolidation, run id).

    Files' arrival times are the ones the ledger recorded when it first saw them; `settings`
    (kpisheet.domain.settings.HqSettings) gives the deadline that marks late submissions."""
    run_id = published_run(ledger, fiscal_year, month)
    (blob,), = ledger.query("SELECT snapshot FROM runs WHERE id = ?", [run_id])
    snap = _unpack(blob)
    records = _file_records(ledger, [fid for fid, _, inline in snap["submissions"] if inline is None])
    subs = [decode_submission(inline if inline is not None else records[fid], path)
            for fid, path, inline in snap["submissions"]]
    cons = build_consolidation(subs, [finding_from_dict(d) for d in snap["findings"]], fiscal_year=fiscal_year,
                               month=parse_month(month), baselines={(b, k): v for b, k, v in snap["baselines"]},
                               targets={(b, k): v for b, k, v in snap["targets"]}, settings=settings,
                               received=_received_times(ledger, subs))
    forward, _ = comparable_ids(cons.catalogue, cons.kpis, fiscal_year)
    previous = previous_year_values(last_year(ledger, fiscal_year - 1, _month_shift(month, -1), run_id),
                                    forward, month) if forward else {}
    return replace(cons, inputs=[(f, h) for f, h in snap["inputs"]], previous_year=previous,
                   no_comparison={k: (v[0], v[1]) for k, v in snap["no_comparison"].items()},
                   revisions=_revision_order(revisions_of_month(ledger, fiscal_year, month, up_to_run=run_id))), run_id


def _file_records(ledger: Ledger, ids: list[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update((r[0], _unpack(r[1])) for r in
                   ledger.query(f"SELECT id, record FROM files WHERE id IN ({marks})", chunk))
    return out


def recorded_outputs(ledger: Ledger, run_id: int) -> dict[str, str]:
    """{file name: sha256} of what a run wrote."""
    return {Path(r[0]).name: r[1] for r in ledger.query("SELECT path, sha256 FROM run_outputs WHERE run_id = ?",
                                                        [run_id])}


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


# ---------------------------------------------------------------- importing a kpi_values CSV
IMPORT_COLUMNS = ("branch_code", "kpi_id", "month", "numerator", "denominator", "value", "status")


@dataclass
class ImportResult:
    path: str
    fiscal_year: int | None
    rows: int
    added: int
    already: bool  # the same file was imported (or read) before: nothing added


def import_values(ledger: Ledger, path: Path) -> ImportResult:
    """Record the figures of a kpi_values CSV kpisheet wrote (one fiscal year), e.g. last year's."""
    path = Path(path)
    digest = sha256_or_empty(path)
    rows, fiscal_year = _read_values_csv(path)
    with ledger.transaction():
        if ledger.query("SELECT 1 FROM files WHERE sha256 = ?", [digest]):
            return ImportResult(str(path), fiscal_year, len(rows), 0, True)
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


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid of the row the INSERT on `cur` just added (typed optional: None before any INSERT)."""
    if cur.lastrowid is None:
        raise RuntimeError("the INSERT added no row")
    return cur.lastrowid


class _ImportRow(NamedTuple):
    """A row of a kpi_values CSV being imported (IMPORT_COLUMNS, numbers as floats)."""

    branch_code: str
    kpi_id: str
    month: str
    numerator: float | None
    denominator: float | None
    value: float | None
    status: str


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
    out: list[_ImportRow] = []
    years = set()
    for line, row in enumerate(table, 2):
        try:
            month = month_key(parse_month(row["month"]))
            fy = int(month[:4]) - (1 if int(month[5:]) < 4 else 0)
            if row["branch_code"] not in codes or not catalogue_for_fy(fy).has_kpi(row["kpi_id"]):
                raise ValueError(f"{row['branch_code']} {row['kpi_id']}")
            numerator, denominator, value = (float(row[c]) if row[c].strip() else None
                                             for c in ("numerator", "denominator", "value"))
        except (ValueError, KpisheetError, AttributeError) as exc:
            raise bad(f"{line}行目 / line {line}: {exc}") from None
        years.add(fy)
        out.append(_ImportRow(row["branch_code"], row["kpi_id"], month, numerator, denominator, value,
                              row["status"] or "ok"))
    if len(years) != 1:
        raise bad(f"年度が複数あります / several fiscal years: {sorted(years)}")
    return out, years.pop()


def remove_ledger(path: Path) -> None:
    """Delete a ledger file and its WAL companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(f"{path}{suffix}").unlink()


# ---------------------------------------------------------------- a ledger a run creates
def create_ledger(path: Path) -> bool:
    """Create an empty ledger at `path` unless a file is there; True when this call created it.

    The ledger is built under a temporary name and linked into place, so it never appears half
    made, and a run knows for sure whether the file is its own: another run may create the same
    path at the same moment, and only the run that created a ledger may remove it
    (`remove_unused_ledger`)."""
    path = Path(path)
    if path.exists():
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _error("L101", path, reason=exc.strerror or str(exc)) from None
    tmp = Path(name)
    try:
        os.chmod(tmp, new_file_mode())  # mkstemp's 0600 would keep colleagues from reading the ledger
        open_ledger(tmp, create=True).close()
        return _claim(tmp, path)
    finally:
        remove_ledger(tmp)


def _claim(made: Path, path: Path) -> bool:
    """Link the ledger `made` in as `path`; False when another run's file got there first."""
    try:
        os.link(made, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system: claim the name, open_ledger fills the file
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, new_file_mode()))
            return True
        except FileExistsError:
            return False


def remove_unused_ledger(path: Path) -> bool:
    """Delete a ledger a failed run created (`create_ledger`), unless it records a run or another
    run is writing to it (held under the write lock while deleting); True when deleted."""
    try:
        conn = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT count(*) FROM runs").fetchone()[0]:
            return False
        remove_ledger(path)
        return True
    except sqlite3.Error:  # busy (another run writes to it) or not a ledger: not ours to delete
        return False
    finally:
        conn.close()

