"""The ledger file itself: schema and migrations, opening, creating and removing a ledger, the
write transaction, and the low-level records the other ledger modules share — the compact
submission record, the figures held, runs and files rows, closed months, revisions and
last year's figures (`kpisheet.ledger` describes the ledger as a whole)."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import sqlite3
import tempfile
import time
import zlib
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

from kpisheet import __version__
from kpisheet.consolidate.model import MonthValue, Revision
from kpisheet.domain.catalogue import (
    CATALOGUE_FILES,
    Catalogue,
    Kpi,
    catalogue_for_fy,
    load_branches,
    load_catalogue,
    load_mapping,
)
from kpisheet.domain.findings import Finding, KpisheetError, finding
from kpisheet.domain.model import (
    EMPTY,
    InputValue,
    KpiEntry,
    KpiMonth,
    MeasureEntry,
    MeasureRow,
    Source,
    Submission,
)
from kpisheet.fileio import new_file_mode

CODES = frozenset({"L101", "L102", "L103", "L105", "L106", "L115", "L116"})  # L104, L107, L108: ledger.archive; L109: write.outputs

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
""", """
-- version 2: names and labels, so that codes join to what people read (filled from templates/, kept current
-- by every run that records something: describe_codes)
CREATE TABLE branches (  -- every branch code the figures use
    code TEXT PRIMARY KEY,             -- '01'..'47', '00' 本部, 'ALL' the nation
    name TEXT NOT NULL,                -- 北海道
    display_name TEXT NOT NULL         -- 北海道支部 (全国 for 'ALL')
);
CREATE TABLE kpis (  -- every KPI of every term's catalogue
    kpi_id TEXT PRIMARY KEY,           -- K6-2-01 (ids differ between terms: K5-…, K6-…)
    term INTEGER NOT NULL,             -- 5, 6: the action plan's term
    label TEXT NOT NULL,               -- the KPI's name as the plan writes it
    short_label TEXT NOT NULL,
    unit TEXT NOT NULL,                -- '%' (values in points), '円', '事業所', …
    decimals INTEGER NOT NULL,         -- shown with this many decimals
    direction TEXT NOT NULL,           -- '>=' higher is better, '<=' lower is better
    kind TEXT NOT NULL,                -- ratio | count | qualitative
    scope TEXT NOT NULL,               -- branch | national (本部 alone reports it)
    measure_id TEXT NOT NULL,
    measure TEXT NOT NULL              -- the measure (施策) it belongs to, as numbered in the plan
);
CREATE VIEW current_values_named AS  -- current_values with the branch's name and the KPI's label and unit
    SELECT v.fiscal_year, v.month, v.branch_code, b.display_name AS branch_name, v.kpi_id, k.label AS kpi_label,
           k.unit, v.numerator, v.denominator, v.value, v.status, v.run_month
    FROM current_values v
    LEFT JOIN branches b ON b.code = v.branch_code
    LEFT JOIN kpis k ON k.kpi_id = v.kpi_id;
""", """
-- version 3: the plan season (事業計画).  Tables of their own: the monthly tables are untouched (runs.kind has a
-- CHECK SQLite cannot alter, files.first_run_id must name a monthly run).  Rows are only ever added: a branch's
-- plan gets a new version only when its content changes, and which version is approved is what plan_log says
-- last (kpisheet.ledger.plans).  Values of plan_targets and plan_target_parts keep the type they were read with
-- (no declared type): a number stays a number, 61 and 61.0 stay apart, so a plan rebuilt from the rows has the
-- content_sha256 it was recorded with.
CREATE TABLE plan_runs (  -- one row per `plan collect` that recorded something
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('collect', 'import')),
    fiscal_year INTEGER NOT NULL,      -- the plans' fiscal year
    started_at TEXT NOT NULL,
    kpisheet_version TEXT NOT NULL,
    catalogue_digest TEXT NOT NULL,
    options TEXT NOT NULL,             -- JSON: inbox, output folder, the publication token
    fingerprint TEXT NOT NULL          -- the same plan files again record nothing
);
CREATE TABLE plan_run_outputs (  -- every file a plan run wrote, with its sha256
    plan_run_id INTEGER NOT NULL REFERENCES plan_runs(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (plan_run_id, path)
);
CREATE TABLE plan_files (  -- every distinct plan workbook read (the same bytes are one file)
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    size INTEGER,
    branch_code TEXT,
    fiscal_year INTEGER,
    saved_at TEXT,
    saved_by TEXT,
    received_at TEXT,
    first_plan_run_id INTEGER NOT NULL REFERENCES plan_runs(id),
    record BLOB                        -- zlib JSON: PlanSubmission.to_dict() with its cells and findings
);
CREATE TABLE plan_run_files (  -- the plan files each run found and what it did with each
    plan_run_id INTEGER NOT NULL REFERENCES plan_runs(id),
    plan_file_id INTEGER NOT NULL REFERENCES plan_files(id),
    path TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('new_version', 'unchanged', 'set_aside', 'other_year', 'unreadable')),
    PRIMARY KEY (plan_run_id, path)
);
CREATE TABLE plan_versions (  -- a branch's plan for a fiscal year as HQ holds it: a new row only when its content changes
    id INTEGER PRIMARY KEY,
    fiscal_year INTEGER NOT NULL,
    branch_code TEXT NOT NULL,
    seq INTEGER NOT NULL,              -- 1, 2, ... per branch and fiscal year (第1版, 第2版)
    content_sha256 TEXT NOT NULL,      -- PlanSubmission.content_sha256(): the plan, not its cells or save time
    plan_file_id INTEGER REFERENCES plan_files(id),
    plan_run_id INTEGER NOT NULL REFERENCES plan_runs(id),
    recorded_at TEXT NOT NULL,
    errors INTEGER NOT NULL,           -- error findings on the plan when recorded (approval refuses them: P602)
    warnings INTEGER NOT NULL,
    error_codes TEXT NOT NULL,         -- JSON list of those errors' codes
    branch_name TEXT, term INTEGER, plan_template_version INTEGER, layout_digest TEXT, generated_at TEXT,
    saved_at TEXT, saved_by TEXT, preparer TEXT, contact TEXT,
    prefilled TEXT,                    -- JSON: what HQ prefilled in the plan workbook
    UNIQUE (fiscal_year, branch_code, seq)
);
CREATE TABLE plan_measures (  -- per version and measure (catalogue id, or B-<pillar>-<n> for the branch's own)
    version_id INTEGER NOT NULL REFERENCES plan_versions(id),
    measure_id TEXT NOT NULL,
    ord INTEGER NOT NULL,              -- order in the plan
    numbering TEXT, heading TEXT, group_name TEXT,
    focus INTEGER NOT NULL,            -- 1: 重点
    covered_by TEXT,                   -- the measure whose heading holds this one's work
    PRIMARY KEY (version_id, measure_id)
);
CREATE TABLE plan_items (  -- 事業内容, in order
    version_id INTEGER NOT NULL REFERENCES plan_versions(id),
    measure_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    n INTEGER NOT NULL,
    text TEXT, level TEXT, subheading TEXT, group_name TEXT,
    flag TEXT,                         -- 継続 | 新規 | 拡充 | 見直し
    origin TEXT,                       -- '<fiscal year>:<measure>:<n>' of last year's item it was prefilled from
    PRIMARY KEY (version_id, measure_id, ord)
);
CREATE TABLE plan_targets (  -- one row per KPI; numbers in display units (percent in points), people for counts
    version_id INTEGER NOT NULL REFERENCES plan_versions(id),
    kpi_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL,                -- value | previous_year | text
    target,                            -- value: the number; text: the wording; previous_year: none
    expected,                          -- last year's value as the plan states it
    expected_status TEXT,              -- 見込み | 暫定 | 確定
    expected_as_of TEXT,
    population,                        -- 対象者数
    planned,                           -- 見込者数
    reason TEXT,                       -- 目標の考え方
    sentence TEXT,                     -- the KPI sentence as a document made before kpisheet printed it
    PRIMARY KEY (version_id, kpi_id)
);
CREATE TABLE plan_target_parts (  -- 内訳 rows of a KPI's counts
    version_id INTEGER NOT NULL REFERENCES plan_versions(id),
    kpi_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    n INTEGER NOT NULL,
    label TEXT,
    population,
    planned,
    rate,                              -- the part's own printed rate, where the plan prints one
    PRIMARY KEY (version_id, kpi_id, ord)
);
CREATE TABLE plan_log (  -- every approve and reopen, with its reason: the approved version is the last approve's
    id INTEGER PRIMARY KEY,
    fiscal_year INTEGER NOT NULL,
    branch_code TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('approve', 'reopen')),
    at TEXT NOT NULL,
    reason TEXT,
    version_id INTEGER NOT NULL REFERENCES plan_versions(id)
);
CREATE VIEW approved_plans AS  -- the version in force per fiscal year and branch (the last one approved)
    SELECT v.* FROM plan_versions v
    WHERE v.id = (SELECT l.version_id FROM plan_log l
                  WHERE l.fiscal_year = v.fiscal_year AND l.branch_code = v.branch_code AND l.action = 'approve'
                  ORDER BY l.id DESC LIMIT 1);
CREATE VIEW current_plans AS  -- the latest version per fiscal year and branch, approved or not
    SELECT v.* FROM plan_versions v
    WHERE v.seq = (SELECT max(w.seq) FROM plan_versions w
                   WHERE w.fiscal_year = v.fiscal_year AND w.branch_code = v.branch_code);
CREATE VIEW plan_target_list AS  -- every version's targets with the branch's name and the KPI's label
    SELECT v.fiscal_year, v.branch_code, b.display_name AS branch_name, v.seq, t.kpi_id, k.label AS kpi_label,
           k.unit, t.kind, t.target, t.expected, t.expected_status, t.population, t.planned, t.reason,
           v.id AS version_id, (v.id IN (SELECT id FROM approved_plans)) AS approved
    FROM plan_targets t
    JOIN plan_versions v ON v.id = t.version_id
    LEFT JOIN branches b ON b.code = v.branch_code
    LEFT JOIN kpis k ON k.kpi_id = t.kpi_id;
"""]
SCHEMA_VERSION = len(MIGRATIONS)
NAMED_SINCE = 2  # the schema version that added the branches and kpis tables
PLANS_SINCE = 3  # the schema version that added the plan tables (kpisheet.ledger.plans)


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


# What SQLite or the file system says when the ledger's disk is full (L115) or the ledger or its
# folder cannot be written (L116): neither means the ledger is damaged, and neither is told to
# restore a backup (L101).  SQLite's error name is used where Python gives it (3.11+), else its text.
_FULL_NAMES = ("SQLITE_FULL",)
_FULL_TEXTS = ("database or disk is full", "no space left")
_READONLY_NAMES = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")
_READONLY_TEXTS = ("readonly database", "read-only", "unable to open database file", "permission denied",
                   "access permission")
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READONLY_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def storage_code(exc: BaseException) -> str | None:
    """L115 (disk full) or L116 (read-only, no permission) for an SQLite or OS error, else None."""
    if isinstance(exc, OSError):
        return "L115" if exc.errno in _FULL_ERRNOS else "L116" if exc.errno in _READONLY_ERRNOS else None
    if not isinstance(exc, sqlite3.Error):
        return None
    name, text = str(getattr(exc, "sqlite_errorname", "") or ""), str(exc).lower()
    if name.startswith(_FULL_NAMES) or any(t in text for t in _FULL_TEXTS):
        return "L115"
    if name.startswith(_READONLY_NAMES) or any(t in text for t in _READONLY_TEXTS):
        return "L116"
    return None


def _storage_or_damage(path: Path, exc: BaseException) -> KpisheetError:
    """The finding for an error opening or writing the ledger: L115 / L116, anything else L101."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return _error(storage_code(exc) or "L101", path, reason=reason)


# ---------------------------------------------------------------- opening
class Ledger:
    """An open ledger.  Use `open_ledger`; every method turns SQLite errors into L101 / L103 / L115 / L116."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        """SQLite errors as findings: busy (L103), a full disk (L115), a ledger or folder that cannot be
        written (L116), anything else damaged (L101)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise _error("L103", self.path) from None
            raise _storage_or_damage(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            raise _storage_or_damage(self.path, exc) from None

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
        raise _storage_or_damage(path, exc) from None
    ledger = Ledger(conn, path)
    try:
        with ledger.guarded():
            _migrate(ledger)
    except BaseException:
        conn.close()
        raise
    return ledger


def _migrate(ledger: Ledger) -> None:
    """Bring the ledger to SCHEMA_VERSION.

    Two runs can open a new ledger at the same moment (two imports into a new ledger; two
    consolidations where create_ledger cannot link and both fill the claimed empty file): what the
    file holds is therefore read again holding the write lock, so one run creates the tables and the
    other finds them (deciding on a version read before the lock, the second run tried to create
    them too and failed with L101 "table runs already exists").
    """
    conn = ledger.conn
    if _version(ledger) == SCHEMA_VERSION:  # the usual case: nothing to do, no lock taken
        return
    if not _table_count(conn):  # a new, empty file
        _to_wal(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(ledger)
        if version == 0 and _table_count(conn):
            raise _error("L101", ledger.path, reason="kpisheetの台帳ではありません / not a kpisheet ledger")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[target - 1]):
                conn.execute(statement)
            if target == NAMED_SINCE:
                describe_codes(conn)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _version(ledger: Ledger) -> int:
    """The schema version (PRAGMA user_version); L102 for a newer kpisheet's ledger, L101 for a file of
    the current version that is not a kpisheet ledger."""
    version = ledger.conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise _error("L102", ledger.path, value=version, expected=SCHEMA_VERSION)
    if version == SCHEMA_VERSION and ledger.conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
        raise _error("L101", ledger.path, reason="kpisheetの台帳ではありません / not a kpisheet ledger")
    return version


def _to_wal(conn: sqlite3.Connection) -> None:
    """PRAGMA journal_mode = WAL, waiting up to BUSY_SECONDS for other connections.

    While another connection reads the new file, SQLite refuses the switch at once ("database is
    locked") instead of calling the busy handler: this statement reads the file itself first, and
    waiting while holding that read could deadlock.  Between attempts it holds nothing."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone())


def _table_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]


def _statements(script: str) -> list[str]:
    """The statements of a migration script, in order: run one by one inside the migration's transaction
    (executescript would first commit it, releasing the write lock)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if current.strip():
        statements.append(current)
    return statements


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


# ---------------------------------------------------------------- names and labels
def describe_codes(conn: sqlite3.Connection) -> None:
    """Fill the branches and kpis tables from templates/ (branches.json and every term's catalogue); a row
    is written only where it is new or changed, so a run with unchanged catalogues writes nothing here."""
    names = [(b.code, b.name, b.display_name) for b in load_branches()] + [("ALL", "全国", "全国")]
    conn.executemany(
        "INSERT INTO branches (code, name, display_name) VALUES (?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
        "name = excluded.name, display_name = excluded.display_name "
        "WHERE name IS NOT excluded.name OR display_name IS NOT excluded.display_name", names)
    columns = ("term", "label", "short_label", "unit", "decimals", "direction", "kind", "scope", "measure_id",
               "measure")
    rows = []
    for term in sorted(CATALOGUE_FILES):
        cat = load_catalogue(term)
        headings = {m.id: m.heading for m in cat.measures}
        rows += [(k.id, term, k.label, k.short_label, k.unit, k.decimals, k.direction, k.kind, k.scope,
                  k.measure_id, headings.get(k.measure_id, "")) for k in cat.kpis]
    changed = " OR ".join(f"{c} IS NOT excluded.{c}" for c in columns)
    conn.executemany(
        f"INSERT INTO kpis (kpi_id, {', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 1))}) "
        f"ON CONFLICT (kpi_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)} WHERE {changed}",
        rows)


# ---------------------------------------------------------------- runs and files rows
def _insert_run(ledger: Ledger, kind: str, fiscal_year: int, month: str, digest: str, options: dict[str, Any],
                fingerprint: str) -> int:
    describe_codes(ledger.conn)  # names and labels as the catalogues now say them
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


def _last_run(ledger: Ledger, fiscal_year: int, month: str) -> int:
    rows = ledger.query("SELECT id FROM runs WHERE kind = 'consolidate' AND fiscal_year = ? AND month = ? "
                        "ORDER BY id DESC LIMIT 1", [fiscal_year, month])
    if not rows:
        raise _error("L105", ledger.path, fiscal_year=fiscal_year, month=month)
    return int(rows[0][0])


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid of the row the INSERT on `cur` just added (typed optional: None before any INSERT)."""
    if cur.lastrowid is None:
        raise RuntimeError("the INSERT added no row")
    return cur.lastrowid


class _ImportRow(NamedTuple):
    """A row of a kpi_values CSV being imported (history.IMPORT_COLUMNS, numbers as floats)."""

    branch_code: str
    kpi_id: str
    month: str
    numerator: float | None
    denominator: float | None
    value: float | None
    status: str


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
        raise _storage_or_damage(path, exc) from None
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
        if _has_table(conn, "plan_runs") and conn.execute("SELECT count(*) FROM plan_runs").fetchone()[0]:
            return False
        remove_ledger(path)
        return True
    except sqlite3.Error:  # busy (another run writes to it) or not a ledger: not ours to delete
        return False
    finally:
        conn.close()



# ---------------------------------------------------------------- a publication cut short
PUBLICATION_OPTION = "publication"  # the key, in a run's options, of its publication token


def publication_recorded(path: Path, token: str) -> bool | None:
    """Whether the ledger at `path` holds the run whose options carry publication `token` (its run was
    committed before its outputs were published); None when the ledger cannot be read just now.

    Read by the next run into an output folder that finds a publication cut short: only a recorded
    run's outputs are published then (kpisheet.write.outputs.repair)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        fragment = json.dumps({PUBLICATION_OPTION: token})[1:-1]  # as _insert_run writes it (sort_keys)
        (count,), = conn.execute("SELECT count(*) FROM runs WHERE instr(options, ?) > 0", (fragment,)).fetchall()
        if not count and _has_table(conn, "plan_runs"):  # a `plan collect` publishes the same way
            (count,), = conn.execute("SELECT count(*) FROM plan_runs WHERE instr(options, ?) > 0",
                                     (fragment,)).fetchall()
        return bool(count)
    except sqlite3.Error:
        return None
    finally:
        conn.close()
