"""HQ's settings as data: the monthly deadline and whom branches return their workbooks to.

templates/hq_settings.json (schema: schemas/hq_settings.schema.json) holds the
department, contact person, phone and mail shown in every branch workbook, the
feedback workbooks and the national workbook's 概要, and the deadline rule: the
report for month M is due on `deadline_day` of month M+1, moved off a weekend as
`weekend` says; and `national_coverage`, how a national count summed over fewer
branches than its national target counts is rated (COVERAGE_RULES; optional,
default like_for_like); and `behind_pace_share`, the share of the pace (進捗) below which the
national workbook's 概要 names a branch as behind on a KPI that grows through the year
(optional, default 0.95).  kpisheet ships the file with 【要記入】 placeholders, since only
HQ knows its contact: `generate` refuses to write workbooks while one remains
(D005), `consolidate` runs and warns.

`load_settings()` reads the file given, else $KPISHEET_HQ_SETTINGS, else the
shipped file.  A broken file raises SettingsError with D001/D002 findings
naming the file and the JSON path; a missing one D006.
"""

from __future__ import annotations

import json
import os
from calendar import monthrange
from dataclasses import dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kpisheet.domain.catalogue import DATA_FILE_INVALID, DATA_FILE_UNREADABLE
from kpisheet.domain.findings import Finding, KpisheetError, Severity, finding
from kpisheet.domain.fiscal import next_month, wareki_date
from kpisheet.resources import data_dir
from kpisheet.schema_check import iter_errors

CODES = frozenset({"D005", "D006"})  # and D001 / D002 (kpisheet.domain.catalogue) for its file

SETTINGS_FILE = "hq_settings.json"
SCHEMA = "hq_settings.schema.json"
DEFAULT_SETTINGS_PATH: Path = data_dir("templates") / SETTINGS_FILE
ENV_VAR = "KPISHEET_HQ_SETTINGS"
PLACEHOLDER = "【要記入】"
TEXT_FIELDS = ("department", "contact_person", "phone", "mail")
FIELD_LABELS_JA = {"department": "担当部署", "contact_person": "担当者", "phone": "電話", "mail": "メール"}
# how a national count summed over fewer branches than its target covers is rated (README "Ratings"):
# like_for_like compares it with the same branches' previous-year values where the national target is
# last year's total, else 集計中; pending always shows 集計中（n/47支部） until every branch is in
COVERAGE_RULES = ("like_for_like", "pending")
DEFAULT_COVERAGE = "like_for_like"
# 概要 names a branch behind pace on a KPI that grows through the year when its 進捗 is below this
# share of the pace (1.0 = on pace); the documents name no threshold: 95% is kpisheet's choice
DEFAULT_BEHIND_PACE_SHARE = 0.95
WEEKEND_RULES_JA = {"before": "（土日の場合は前の金曜日）", "after": "（土日の場合は次の月曜日）", "keep": ""}


DEFAULT_TAISHOHYO_LEGEND = "（傍線部分は変更部分）"


@dataclass(frozen=True)
class PlanSettings:
    """The plan season's settings (the file's optional `plan` object)."""

    # the 新旧対照表: the document number printed top right (「資料 2-3」; "" for none) and the legend
    taishohyo_label: str = ""
    taishohyo_legend: str = DEFAULT_TAISHOHYO_LEGEND

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PlanSettings:
        d = d or {}
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class SettingsError(KpisheetError):
    """The settings file cannot be used; `findings` say which file, where in it and what to do."""


@dataclass(frozen=True)
class HqSettings:
    department: str  # e.g. 本部 企画部 事業計画グループ
    contact_person: str
    phone: str
    mail: str
    deadline_day: int  # the report for month M is due on this day of month M+1
    weekend: str  # before | after | keep: a deadline on Sat/Sun moves to the Friday before / Monday after / stays
    source: str  # path of the file it was read from
    national_coverage: str = DEFAULT_COVERAGE  # a COVERAGE_RULES value
    behind_pace_share: float = DEFAULT_BEHIND_PACE_SHARE  # 進捗 below this share of the pace: behind
    plan: PlanSettings = PlanSettings()  # the plan season (`plan`: the 新旧対照表's document number and legend)

    def deadline(self, month: date) -> date:
        """Due date of the report for the reporting month `month` (any day in it)."""
        following = next_month(month)
        due = following.replace(day=min(self.deadline_day, monthrange(following.year, following.month)[1]))
        if due.weekday() >= 5 and self.weekend == "before":
            return due - timedelta(days=due.weekday() - 4)
        if due.weekday() >= 5 and self.weekend == "after":
            return due + timedelta(days=7 - due.weekday())
        return due

    def deadline_ja(self, month: date | None = None) -> str:
        """「翌月10日（土日の場合は前の金曜日）」, or for a reporting month 「令和6年11月8日（金）」."""
        if month is None:
            return f"翌月{self.deadline_day}日{WEEKEND_RULES_JA[self.weekend]}"
        due = self.deadline(month)
        return wareki_date(due, weekday=True)

    def contact_ja(self) -> str:
        """「本部 企画部 事業計画グループ　担当：…　電話：…　メール：…」 on one line."""
        return f"{self.department}　担当：{self.contact_person}　電話：{self.phone}　メール：{self.mail}"

    def placeholders(self) -> list[str]:
        """Names of the fields still holding a 【要記入】 placeholder ([] when HQ filled them all)."""
        return [name for name in TEXT_FIELDS if PLACEHOLDER in getattr(self, name)]

    def placeholder_finding(self, severity: Severity | None = None) -> Finding | None:
        """D005 naming this file and its unfilled fields; None when there are none."""
        missing = self.placeholders()
        if not missing:
            return None
        shown = ", ".join(f"{name}（{FIELD_LABELS_JA[name]}）" for name in missing)
        return finding("D005", data_file=self.source, fields=shown, severity=severity)


def settings_path(path: Path | str | None = None) -> Path:
    """The file to read: `path`, else $KPISHEET_HQ_SETTINGS, else the shipped templates/hq_settings.json."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_SETTINGS_PATH


def load_settings(path: Path | None = None) -> HqSettings:
    """HQ's settings from `path` (see settings_path), checked against the schema; raise SettingsError."""
    file = settings_path(path)
    data = _read_json(file)
    errors = sorted(iter_errors(SCHEMA, data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise SettingsError([finding(DATA_FILE_INVALID, data_file=str(file), schema=SCHEMA,
                                     json_path=_json_path(e.absolute_path), reason=e.message) for e in errors])
    return HqSettings(**{f.name: data[f.name] for f in fields(HqSettings)
                         if f.name in data and f.name not in ("source", "plan")},
                      source=str(file), plan=PlanSettings.from_dict(data.get("plan")))


def example_settings() -> HqSettings:
    """Filled, clearly invented settings for tests and benchmarks (not HQ's contact)."""
    return HqSettings(department="本部 企画部 事業計画グループ", contact_person="協会 太郎（例）",
                      phone="03-0000-0000", mail="kpi-plan@example.jp", deadline_day=10, weekend="before",
                      source="(example)")


def settings_json(settings: HqSettings) -> str:
    """The settings as the JSON text of a settings file (for tests writing one)."""
    data = {f.name: getattr(settings, f.name) for f in fields(HqSettings) if f.name not in ("source", "plan")}
    data["plan"] = settings.plan.to_dict()
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError([finding("D006", data_file=str(file))]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError([finding(DATA_FILE_UNREADABLE, data_file=str(file), reason=str(exc))]) from None


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out
