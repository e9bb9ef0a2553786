"""The defined-name scheme of input cells — the contract between template and reader.

Every input cell of a generated workbook carries one workbook-level defined name:

    in_<KPI>_target              annual target            in_K6_2_01_target
    in_<KPI>_baseline            previous-year value      in_K6_2_01_baseline
    in_<KPI>_num_<YYYYMM>        ratio numerator (YTD)    in_K6_2_01_num_202410
    in_<KPI>_den_<YYYYMM>        ratio denominator (YTD)  in_K6_2_01_den_202410
    in_<KPI>_val_<YYYYMM>        count (YTD or level)     in_K6_2_07_val_202410
    in_<KPI>_text / _rating      qualitative KPI          in_K5_2_10_text
    in_M_<measure>_<n>_text|rating|note   n-th 事業内容 row of a measure
    in_M_<measure>_issue         課題 of a measure
    in_info_preparer / _contact  記入者 and 連絡先 (top of KPI入力)

Besides the inputs, one workbook-level name holds a result: `check_count`, the
number of cells the workbook's own 入力チェック (self-check) finds a problem in
(kpisheet.template.kpi_sheet).  It is no input: parse_name does not know it and the reader
never reads it.

<KPI> is the KPI id with "-" replaced by "_"; <measure> likewise.  Every name
contains "_", so none can be mistaken for a cell reference (see
docs/excel-behaviour.md, "Names, sheets and limits Excel enforces").

The same key is also written as text in a hidden key column of the input row
("K6-2-01|num"), with the month in a hidden key row ("202410"), so an input
whose name was broken can still be found by its id on the sheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from kpisheet.domain.fiscal import month_label

if TYPE_CHECKING:
    from kpisheet.domain.catalogue import Kpi

MEASURE_FIELDS = ("text", "rating", "note")


@dataclass(frozen=True)
class InputKey:
    """What an input cell holds, independent of where it is."""

    kind: str  # "kpi" | "measure" | "info"
    subject: str  # KPI id (K6-2-01), measure id (6-1-II-2) or info field (preparer, contact)
    field: str  # target|baseline|num|den|val|text|rating|note|issue
    month: date | None = None
    n: int | None = None  # row number within a measure (1-based)

    @cached_property  # keys are shared (kpi_key, parse_name cache them): each text is made once
    def name(self) -> str:
        sid = self.subject.replace("-", "_")
        if self.kind == "info":
            return f"in_info_{sid}"
        if self.kind == "kpi":
            if self.month is not None:
                return f"in_{sid}_{self.field}_{self.month.year:04d}{self.month.month:02d}"
            return f"in_{sid}_{self.field}"
        if self.field == "issue":
            return f"in_M_{sid}_issue"
        return f"in_M_{sid}_{self.n}_{self.field}"

    @cached_property
    def sheet_key(self) -> str:
        """Text in the hidden key column of the row: 'K6-2-01|num', '6-1-II-2|3', '6-1-II-2|issue', 'info|preparer'."""
        if self.kind == "info":
            return f"info|{self.subject}"
        if self.kind == "kpi":
            return f"{self.subject}|{self.field}"
        if self.field == "issue":
            return f"{self.subject}|issue"
        return f"{self.subject}|{self.n}"

    @cached_property  # asked for up to three times for each input a workbook is read for
    def column_key(self) -> str:
        """Text in the hidden key row over the input's column (see column_key)."""
        if self.kind == "kpi":
            return f"{self.month.year:04d}{self.month.month:02d}" if self.month else VALUE_COLUMN_KEY
        if self.kind == "info":
            return "info"
        return "text" if self.field == "issue" else self.field


@lru_cache(maxsize=65536)
def kpi_key(kpi_id: str, field: str, month: date | None = None) -> InputKey:
    return InputKey("kpi", kpi_id, field, month)


@lru_cache(maxsize=65536)
def measure_key(measure_id: str, field: str, n: int | None = None) -> InputKey:
    return InputKey("measure", measure_id, field, None, n)


INFO_FIELDS = ("preparer", "contact")  # 記入者, 連絡先
INFO_LABELS = {"preparer": "記入者", "contact": "連絡先"}
CHECK_COUNT_NAME = "check_count"  # workbook-level name of the 入力チェック's count of open problems


@lru_cache(maxsize=8)
def info_key(field: str) -> InputKey:
    """記入者 / 連絡先: free text (field "text", so it is read as text), named in_info_preparer / in_info_contact."""
    return InputKey("info", field, "text")


_KPI_RE = re.compile(r"^in_(K\d+_\d_\d{2})_(target|baseline|text|rating)$")
_KPI_MONTH_RE = re.compile(r"^in_(K\d+_\d_\d{2})_(num|den|val)_(\d{4})(\d{2})$")
_MEASURE_RE = re.compile(r"^in_M_(.+)_(\d+)_(text|rating|note)$")
_ISSUE_RE = re.compile(r"^in_M_(.+)_issue$")
_INFO_RE = re.compile(r"^in_info_(preparer|contact)$")


def _kpi_id(s: str) -> str:
    return s.replace("_", "-")


@lru_cache(maxsize=65536)  # the same ~1,000 names recur in every branch's workbook
def parse_name(name: str) -> InputKey | None:
    """Inverse of InputKey.name; None for names that are not kpisheet inputs."""
    if m := _KPI_MONTH_RE.match(name):
        month = int(m.group(4))
        if not 1 <= month <= 12:
            return None
        return InputKey("kpi", _kpi_id(m.group(1)), m.group(2), date(int(m.group(3)), month, 1))
    if m := _KPI_RE.match(name):
        return InputKey("kpi", _kpi_id(m.group(1)), m.group(2))
    if m := _MEASURE_RE.match(name):
        return InputKey("measure", m.group(1).replace("_", "-"), m.group(3), None, int(m.group(2)))
    if m := _ISSUE_RE.match(name):
        return InputKey("measure", m.group(1).replace("_", "-"), "issue")
    if m := _INFO_RE.match(name):
        return info_key(m.group(1))
    return None


# Where inputs sit when found by id on the sheet (fallback for broken names):
# the hidden key column holds InputKey.sheet_key for the row, and the hidden key
# row holds a column key over each input column.
SHEET_KPI = "KPI入力"
SHEET_MEASURES = "取組状況"
SHEET_GUIDE = "入力の手引き"
SHEET_META = "_meta"
SHEET_LISTS = "_lists"
KEY_COLUMN = 1  # column A (hidden) of KPI入力 and 取組状況
KEY_ROW = 1  # row 1 (hidden) of KPI入力 and 取組状況
VALUE_COLUMN_KEY = "value"  # column key of target / baseline / text / rating of a KPI


@lru_cache(maxsize=65536)
def column_key(key: InputKey) -> str:
    """Text in the hidden key row over the input's column: '202410', 'value', 'text', 'rating', 'note'."""
    return key.column_key


# How an input is named to people in findings and feedback (label of its field).
FIELD_LABELS = {"target": "目標", "baseline": "前年度実績", "text": "実施内容", "rating": "評価",
                "note": "備考", "issue": "課題", "num": "分子", "den": "分母", "val": "実績"}


def input_label(kpi: Kpi, field_name: str, month: date | None = None) -> str:
    """'K6-2-01 生活習慣病予防健診実施率 10月 分子（受診者数）' — how a KPI input is named to people."""
    part = FIELD_LABELS[field_name]
    if field_name == "num" and kpi.numerator:
        part = f"分子（{kpi.numerator.label}）"
    elif field_name == "den" and kpi.denominator:
        part = f"分母（{kpi.denominator.label}）"
    when = f" {month_label(month)}" if month is not None else ""
    return f"{kpi.id} {kpi.short_label}{when} {part}"


def rate_label(kpi: Kpi, month: date | None = None) -> str:
    """'K6-1-02 郵送化率 8月（分子÷分母）' — the rate a ratio KPI's row 計算 shows, named to people."""
    when = f" {month_label(month)}" if month is not None else ""
    return f"{kpi.id} {kpi.short_label}{when}（分子÷分母）"


def measure_heading(measure_id: str) -> str:
    """'II) ② サービス水準の向上' — a measure as 取組状況 prints it (its id for an unknown measure)."""
    from kpisheet.domain.catalogue import load_catalogue  # names is imported by catalogue's users; load lazily

    try:
        return load_catalogue(int(measure_id.split("-", 1)[0])).measure(measure_id).heading
    except Exception:  # noqa: BLE001 - an unknown term or measure: a label must never fail a finding
        return measure_id


def measure_label(measure_id: str, field_name: str, n: int | None = None) -> str:
    """'II) ② サービス水準の向上 の3行目の評価' — how a measure input is named to people (as 取組状況 shows it)."""
    row = f" の{n}行目の" if n else " の"
    return f"{measure_heading(measure_id)}{row}{FIELD_LABELS[field_name]}"


RATINGS = ("◎", "○", "△", "×", "—")
RATING_NAME = "kpisheet_ratings"  # defined name of the rating list on _lists
TEXT_LIMITS = {"text": 1000, "note": 1000, "issue": 2000}  # characters a cell should hold
ROWS_PER_MEASURE = 10  # 事業内容 rows per measure on 取組状況 (recorded in _meta; the 埼玉 status report uses up to 9)
