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

The package, by concern (each imports only `store`; this file re-exports their public names, so
`from kpisheet import ledger; ledger.opened(...)` is the way in):

* `store` — the schema and migrations, opening, creating and removing a ledger, the write
  transaction, and the records the others share (compact submissions, figures held, runs and
  files rows, closed months, revisions, last year's figures);
* `record` — a consolidation against the ledger: `attach` before the outputs, `record_run` after;
* `published` — a month's published run rebuilt from the ledger alone (`rebuild`, `--from-ledger`), and the
  previous month's run set beside a consolidation (`with_changes`: 前月からの変化);
* `plans` — branch plans (事業計画): `record_plans` (a new version only when a plan's content changes),
  `approve_plans`, `reopen_plan`, `approved_plans` / `current_plans` (PlanSubmissions rebuilt from the
  rows), `plan_versions` (the listing);
* `archive` — every figure recorded (`history`), a year's year-end values (`year_end_values`, next year's
  baseline), a kpi_values CSV imported, a month closed and reopened.
"""


from __future__ import annotations

from kpisheet.ledger.archive import (
    HISTORY_COLUMNS,
    IMPORT_COLUMNS,
    ImportResult,
    check_open,
    close_month,
    history,
    import_values,
    reopen_month,
    year_end_values,
)
from kpisheet.ledger.plans import (
    ApproveResult,
    PlanVersion,
    RecordedPlan,
    RecordedPlans,
    approve_plans,
    approved_plans,
    current_plans,
    plan_version,
    plan_versions,
    plans_in_use,
    record_plans,
    reopen_plan,
)
from kpisheet.ledger.published import (
    published_run,
    rebuild,
    recorded_outputs,
    with_changes,
)
from kpisheet.ledger.record import (
    RunPlan,
    RunRecord,
    attach,
    file_names,
    record_run,
)
from kpisheet.ledger.store import (
    APPLICATION_ID,
    BUSY_SECONDS,
    DEFAULT_NAME,
    ENV_VAR,
    MIGRATIONS,
    PUBLICATION_OPTION,
    RECORD_FORMAT,
    SCHEMA_VERSION,
    Held,
    Key,
    Ledger,
    closed_through,
    comparable_ids,
    create_ledger,
    decode_submission,
    encode_submission,
    finding_dict,
    finding_from_dict,
    held,
    last_year,
    ledger_path,
    open_ledger,
    opened,
    previous_year_values,
    publication_recorded,
    remove_ledger,
    remove_unused_ledger,
    revisions_of_month,
)

__all__ = [
    "APPLICATION_ID",
    "approve_plans",
    "approved_plans",
    "ApproveResult",
    "attach",
    "BUSY_SECONDS",
    "check_open",
    "close_month",
    "closed_through",
    "comparable_ids",
    "create_ledger",
    "current_plans",
    "decode_submission",
    "DEFAULT_NAME",
    "encode_submission",
    "ENV_VAR",
    "file_names",
    "finding_dict",
    "finding_from_dict",
    "Held",
    "held",
    "history",
    "HISTORY_COLUMNS",
    "IMPORT_COLUMNS",
    "import_values",
    "ImportResult",
    "Key",
    "last_year",
    "Ledger",
    "ledger_path",
    "MIGRATIONS",
    "open_ledger",
    "opened",
    "plan_version",
    "plan_versions",
    "PlanVersion",
    "plans_in_use",
    "previous_year_values",
    "PUBLICATION_OPTION",
    "publication_recorded",
    "published_run",
    "with_changes",
    "rebuild",
    "record_plans",
    "RecordedPlan",
    "RecordedPlans",
    "RECORD_FORMAT",
    "record_run",
    "recorded_outputs",
    "remove_ledger",
    "remove_unused_ledger",
    "reopen_month",
    "reopen_plan",
    "revisions_of_month",
    "RunPlan",
    "RunRecord",
    "SCHEMA_VERSION",
    "year_end_values",
]
