"""Stage 1 — the action-plan catalogues, term mapping and branch list, as data.

The JSON files live in the repository's templates/ folder (HQ edits them) and
their JSON Schemas in schemas/.  Every file is checked against its schema when
loaded; a broken file raises KpisheetError with one D0xx finding naming the
file, the path inside it and what is wrong — never a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from kpisheet.domain.findings import KpisheetError, finding
from kpisheet.domain.fiscal import fiscal_months
from kpisheet.resources import data_dir
from kpisheet.schema_check import iter_errors

CODES = frozenset({"D001", "D002", "D003", "D004"})
DATA_FILE_UNREADABLE, DATA_FILE_INVALID = "D001", "D002"  # also for HQ's settings file (domain.settings)

CATALOGUE_FILES = {5: "catalogue_term5.json", 6: "catalogue_term6.json"}
MAPPING_FILE = "mapping_term5_term6.json"
BRANCHES_FILE = "branches.json"
HQ_CODE = "00"


# ---------------------------------------------------------------- loading data
def _load_json(name: str, schema_name: str) -> dict[str, Any]:
    path = data_dir("templates") / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KpisheetError([finding("D001", data_file=str(path), reason=str(exc))]) from None
    errors = sorted(iter_errors(schema_name, data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise KpisheetError([finding("D002", data_file=str(path), schema=schema_name,
                                     json_path=_json_path(e.absolute_path), reason=e.message)
                             for e in errors])
    return data


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _inconsistent(name: str, json_path: str, reason: str) -> KpisheetError:
    path = data_dir("templates") / name
    return KpisheetError([finding("D003", data_file=str(path), json_path=json_path, reason=reason)])


# ---------------------------------------------------------------- model
FLOW, STOCK = "flow", "stock"


@dataclass(frozen=True)
class Part:
    """A numerator, denominator or counted value: a year-to-date flow or a stock at the month's end."""

    label: str
    unit: str
    nature: str = FLOW  # flow | stock

    @property
    def is_flow(self) -> bool:
        return self.nature == FLOW


@dataclass(frozen=True)
class Target:
    rule: str  # fixed | branch | baseline | generic_conditional | fixed_text
    value: float | None = None
    text: str | None = None
    year_end: bool = False  # the 対前年度 comparison is made at the year's end (「年度末時点で前年度（x）以上」)

    def describe_ja(self, kpi: "Kpi") -> str:
        """How a person reads the rule: 「64.8%以上」「対前年度以上」「支部で設定」."""
        cmp = "以上" if kpi.direction == ">=" else "以下"
        if self.rule == "fixed" and self.value is not None:
            return f"{kpi.format_value(self.value)}{cmp}"
        if self.rule == "baseline":
            return f"対前年度{cmp}"
        if self.rule == "generic_conditional":
            return (f"{kpi.format_value(self.value or 0)}以上（{kpi.format_value(self.value or 0)}以上の支部は"
                    f"対前年度以上）")
        if self.rule == "fixed_text":
            return self.text or ""
        return "支部で設定"


@dataclass(frozen=True)
class Measure:
    id: str
    pillar: int
    section: str | None
    number: str
    label: str
    note: str | None = None
    scope: str = "branch"  # branch | hq (本部 alone carries it out: only 本部's workbook asks for it)
    plan_required: bool = True  # a branch's 事業計画 must write something for it (catalogue `plan_required`)

    @property
    def heading(self) -> str:
        """'II) ② サービス水準の向上' — numbered as the printed plan numbers it (docs/domain-notes.md)."""
        sec = self.section.split(" ", 1)[0] + " " if self.section else ""
        return f"{sec}{self.number} {self.label}"


# The largest number any input of a KPI without a catalogue `ceiling` could ever be: 10^14, a
# hundred trillion — more than ten times the association's yearly medical spending in yen (a
# denominator of 査定率), and more than a million times its members.  Above it a value is a slip
# (9E+307, a row of 9s), refused (E411) and left out; below it Σ over 47 branches and 12 months
# stays a finite number (README, decisions).
INPUT_CEILING = 1e14


@dataclass(frozen=True)
class Plausible:
    """Where a real value of a KPI lies, in display units (percentage points, yen).

    A value outside is most likely a slip — a percent typed without %, a digit too many —
    and is warned about (workbook data validation, 入力チェック, W419), never refused."""

    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class PlanCounts:
    """What a 事業計画 states beside a KPI's target (catalogue `plan`): the population and the planned
    people its rate rests on, and the sentence the target prints as.  Not part of the layout digest."""

    population_label: str | None = None  # 対象者数 / 勧奨対象者数; None: the KPI takes no counts
    planned_label: str | None = None  # 受診見込者数 / 実施見込者数 / 取得見込者数
    shared_with: str | None = None  # a KPI id whose 対象者数 this KPI shares
    sentence: str | None = None  # 「…を年度末時点で{target}以上とする」; None: the default sentence

    @property
    def takes_counts(self) -> bool:
        return self.population_label is not None and self.planned_label is not None


@dataclass(frozen=True)
class Kpi:
    id: str
    label: str
    short_label: str
    measure_id: str
    kind: str  # ratio | count | qualitative
    display: str  # percent | yen | count | text
    unit: str
    decimals: int
    direction: str  # >= | <=
    target: Target  # how a branch's annual target is set when neither branch nor HQ gives one
    term_goal: Target  # the goal for the end of the plan term (第6期末目標), shown as reference
    scope: str  # branch | national
    excellent_threshold: float
    numerator: Part | None = None
    denominator: Part | None = None
    value_part: Part | None = None  # count KPIs: what is counted
    lag_months: int = 0  # months the data usually trail the run month
    lag_note: str | None = None
    lag_annual: bool = False  # no in-year figure: the value arrives after the year ends (no month is overdue)
    lag_claims: bool = False  # the data months are months of care (claims): a result says 「（R6.6診療）」
    valid_from: date | None = None
    valid_until: date | None = None
    reference: dict[str, Any] | None = None
    note: str | None = None
    plausible: Plausible | None = None  # not part of the layout digest
    ceiling: float | None = None  # the catalogue's `ceiling`: no input of the KPI can be larger (E411)
    plan: PlanCounts | None = None  # the catalogue's `plan`: what a 事業計画 states beside the target

    @property
    def is_percent(self) -> bool:
        return self.display == "percent"

    @property
    def unit_label(self) -> str:
        """Unit for headings: （％）（円）（事業所）."""
        return {"%": "％"}.get(self.unit, self.unit)

    def months(self, fiscal_year: int) -> list[date]:
        """Months of the FY in which the KPI is reported (respecting validity dates)."""
        # asked ~60,000 times a consolidation: worked out once per FY, kept beside the fields
        # (self.__dict__: the instance is frozen; equality, hashing and repr see only the fields)
        if type(fiscal_year) is not int:
            return [m for m in fiscal_months(fiscal_year) if self.applies_in(m)]
        known = self.__dict__.setdefault("_months_of_fy", {})
        if fiscal_year not in known:
            known[fiscal_year] = tuple(m for m in fiscal_months(fiscal_year) if self.applies_in(m))
        return list(known[fiscal_year])

    def applies_in(self, month: date) -> bool:
        if self.valid_until and month > self.valid_until:
            return False
        if self.valid_from and month < self.valid_from.replace(day=1):
            return False
        return True

    def applies_to(self, fiscal_year: int) -> bool:
        months = self.__dict__.get("_months_of_fy", {}).get(fiscal_year) if type(fiscal_year) is int else None
        return bool(months if months is not None else self.months(fiscal_year))

    @property
    def parts(self) -> tuple[Part, ...]:
        return tuple(p for p in (self.numerator, self.denominator, self.value_part) if p is not None)

    @property
    def grows_in_year(self) -> bool:
        """The result climbs through the year by design (受診者数 ÷ 対象者数, アクセス数):
        a flow over a stock, or a counted flow.  Only these have an in-year pace (進捗)."""
        if self.kind == "ratio":
            return bool(self.numerator and self.numerator.is_flow and self.denominator
                        and not self.denominator.is_flow)
        return self.kind == "count" and bool(self.value_part and self.value_part.is_flow)

    @property
    def is_level(self) -> bool:
        """A level at the month's end (事業所数, 使用割合): never called 累計."""
        return self.kind != "qualitative" and not any(p.is_flow for p in self.parts)

    @property
    def input_ceiling(self) -> float:
        """The largest any input of the KPI (a count, numerator, denominator, target or previous-year
        value) could ever be: the catalogue's `ceiling`, else INPUT_CEILING.  Above it is E411."""
        return self.ceiling if self.ceiling is not None else INPUT_CEILING

    def rate(self, numerator: float, denominator: float) -> float | None:
        """Display value of a ratio: percent points or yen per case; None without one (a denominator
        of 0, or a quotient too large to be a number: never inf or nan)."""
        if not denominator:
            return None
        try:
            r = numerator / denominator
            r = r * 100 if self.is_percent else r
        except (OverflowError, ZeroDivisionError):
            return None
        return r if math.isfinite(r) else None

    def format_value(self, value: float | None) -> str:
        """How the value is printed for people: '96.5%', '8,364円', '1,170事業所' (display.format_value)."""
        from kpisheet.domain.display import format_value

        return format_value(self, value)


@dataclass(frozen=True)
class Pillar:
    no: int
    label: str


@dataclass(frozen=True)
class Catalogue:
    term: int
    title: str
    first_fy: int
    last_fy: int
    pillars: tuple[Pillar, ...]
    measures: tuple[Measure, ...]
    kpis: tuple[Kpi, ...]
    digest: str  # sha256 of the canonical JSON
    source_file: str

    def kpi(self, kpi_id: str) -> Kpi:
        by_id = self._memo("kpi_by_id", lambda: {k.id: k for k in reversed(self.kpis)})  # the first of an id
        try:
            return by_id[kpi_id]
        except (KeyError, TypeError):
            raise KeyError(kpi_id) from None

    def _memo(self, key: Any, make: Any) -> Any:
        """What `make()` returns, worked out once per catalogue: the lists below are asked for per branch,
        per KPI and per measure tens of thousands of times a run.  Kept in self.__dict__ (the instance
        is frozen; equality, hashing and repr see only the fields)."""
        memo = self.__dict__.setdefault("_memos", {})
        if key not in memo:
            memo[key] = make()
        return memo[key]

    def measure(self, measure_id: str) -> Measure:
        for m in self.measures:
            if m.id == measure_id:
                return m
        raise KeyError(measure_id)

    def has_kpi(self, kpi_id: str) -> bool:
        return any(k.id == kpi_id for k in self.kpis)

    def kpis_for(self, fiscal_year: int, branch_code: str) -> list[Kpi]:
        """KPIs a workbook for this branch and FY asks for (national-only ones go to 本部)."""
        scope = "national" if branch_code == HQ_CODE else "branch"
        if type(fiscal_year) is not int:
            return [k for k in self.kpis if k.scope == scope and k.applies_to(fiscal_year)]
        return list(self._memo(("kpis_for", fiscal_year, scope), lambda: tuple(
            k for k in self.kpis if k.scope == scope and k.applies_to(fiscal_year))))

    def measures_for(self, branch_code: str) -> list[Measure]:
        """Measures a workbook for this branch asks about: every one for 本部, none scoped "hq" for a branch."""
        hq = branch_code == HQ_CODE
        return list(self._memo(("measures_for", hq), lambda: tuple(
            m for m in self.measures if hq or m.scope != "hq")))

    def kpis_of_measure(self, measure_id: str) -> list[Kpi]:
        by_measure = self._memo("kpis_of_measure", lambda: _group(self.kpis, lambda k: k.measure_id))
        return list(by_measure.get(measure_id, ()))

    def pillar(self, no: int) -> Pillar:
        """The pillar numbered `no` (KeyError for none): asked once per row of HQ's lists."""
        return self._memo("pillar_by_no", lambda: {p.no: p for p in self.pillars})[no]

    @property
    def short_digest(self) -> str:
        return self.digest[:12]


def _group(items: tuple[Any, ...], key: Any) -> dict[Any, tuple[Any, ...]]:
    out: dict[Any, list[Any]] = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return {k: tuple(v) for k, v in out.items()}


def _part(d: dict[str, Any] | None) -> Part | None:
    return Part(d["label"], d["unit"], d["nature"]) if d else None


def _target(d: dict[str, Any]) -> Target:
    """A target or term goal of the catalogue (the schema requires both for every KPI)."""
    return Target(d["rule"], float(d["value"]) if "value" in d else None, d.get("text"), bool(d.get("year_end", False)))


def _date(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None


def _kpi(d: dict[str, Any]) -> Kpi:
    return Kpi(id=d["id"], label=d["label"], short_label=d["short_label"], measure_id=d["measure"],
               kind=d["kind"], display=d["display"], unit=d["unit"], decimals=d["decimals"],
               direction=d["direction"], target=_target(d["target"]),
               term_goal=_target(d["term_goal"]),
               scope=d["scope"], excellent_threshold=float(d["excellent_threshold"]),
               numerator=_part(d.get("numerator")), denominator=_part(d.get("denominator")),
               value_part=_part(d.get("value")), lag_months=int(d["data_lag"]["months"]),
               lag_note=d["data_lag"].get("note"), lag_annual=bool(d["data_lag"].get("annual", False)),
               lag_claims=bool(d["data_lag"].get("claims_month", False)),
               valid_from=_date(d.get("valid_from")), valid_until=_date(d.get("valid_until")),
               reference=d.get("reference"), note=d.get("note"),
               plausible=Plausible(float(d["plausible"]["low"]), float(d["plausible"]["high"]))
               if "plausible" in d else None,
               ceiling=float(d["ceiling"]["value"]) if "ceiling" in d else None,
               plan=_plan_counts(d["plan"]) if "plan" in d else None)


def _plan_counts(d: dict[str, Any]) -> PlanCounts:
    return PlanCounts(d.get("population", {}).get("label"), d.get("planned", {}).get("label"),
                      d.get("population", {}).get("shared_with"), d.get("sentence"))


# What decides the cells of a workbook: a distributed workbook stays valid when only labels,
# notes, targets, thresholds or lags change (those are read from the catalogue at run time).
LAYOUT_KEYS = {"catalogue": ("term", "fiscal_years"), "measure": ("id", "pillar"),
               "kpi": ("id", "measure", "kind", "scope", "valid_from", "valid_until")}


def _digest(data: dict[str, Any]) -> str:
    """sha256 of the layout-defining fields only (LAYOUT_KEYS), so a fixed label or note does not
    make every distributed workbook E203; any change to which cells exist does."""
    layout = {"catalogue": {k: data.get(k) for k in LAYOUT_KEYS["catalogue"]},
              "measures": [{k: m.get(k) for k in LAYOUT_KEYS["measure"]} for m in data["measures"]],
              "kpis": [{**{k: x.get(k) for k in LAYOUT_KEYS["kpi"]},
                        "parts": [p for p in ("numerator", "denominator", "value") if p in x]}
                       for x in data["kpis"]]}
    canonical = json.dumps(layout, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_catalogue(name: str, data: dict[str, Any]) -> None:
    measure_ids = [m["id"] for m in data["measures"]]
    kpi_ids = [k["id"] for k in data["kpis"]]
    pillars = {p["no"] for p in data["pillars"]}
    for what, ids in (("measures", measure_ids), ("kpis", kpi_ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise _inconsistent(name, f"$.{what}", f"duplicate id {', '.join(dup)}")
    for i, m in enumerate(data["measures"]):
        if m["pillar"] not in pillars:
            raise _inconsistent(name, f"$.measures[{i}].pillar", f"unknown pillar {m['pillar']}")
    for i, k in enumerate(data["kpis"]):
        if k["measure"] not in measure_ids:
            raise _inconsistent(name, f"$.kpis[{i}].measure", f"unknown measure {k['measure']}")
        if not k["id"].startswith(f"K{data['term']}-"):
            raise _inconsistent(name, f"$.kpis[{i}].id", f"id must start with K{data['term']}-")
        if "plausible" in k and not k["plausible"]["low"] < k["plausible"]["high"]:
            raise _inconsistent(name, f"$.kpis[{i}].plausible", "low must be below high")


@lru_cache(maxsize=None)
def load_catalogue(term: int) -> Catalogue:
    if term not in CATALOGUE_FILES:
        raise KpisheetError([finding("D004", fiscal_year=term, known=_known_years())])
    name = CATALOGUE_FILES[term]
    data = _load_json(name, "catalogue.schema.json")
    _check_catalogue(name, data)
    return Catalogue(term=data["term"], title=data["title"], first_fy=data["fiscal_years"][0],
                     last_fy=data["fiscal_years"][1],
                     pillars=tuple(Pillar(p["no"], p["label"]) for p in data["pillars"]),
                     measures=tuple(Measure(m["id"], m["pillar"], m["section"], m["number"], m["label"],
                                            m.get("note"), m.get("scope", "branch"), m.get("plan_required", True))
                              for m in data["measures"]),
                     kpis=tuple(_kpi(k) for k in data["kpis"]), digest=_digest(data), source_file=name)


def _known_years() -> str:
    return "FY2021〜FY2026"


def term_for_fy(fiscal_year: int) -> int:
    for term in sorted(CATALOGUE_FILES):
        cat = load_catalogue(term)
        if cat.first_fy <= fiscal_year <= cat.last_fy:
            return term
    raise KpisheetError([finding("D004", fiscal_year=fiscal_year, known=_known_years())])


def catalogue_for_fy(fiscal_year: int) -> Catalogue:
    return load_catalogue(term_for_fy(fiscal_year))


# ---------------------------------------------------------------- term mapping
@dataclass(frozen=True)
class MeasureLink:
    from_id: str | None
    to_ids: tuple[str, ...]
    relation: str
    note: str | None = None


@dataclass(frozen=True)
class KpiLink:
    from_id: str | None
    to_id: str | None
    relation: str
    baseline_valid: bool
    note: str | None = None


@dataclass(frozen=True)
class TermMapping:
    from_term: int
    to_term: int
    measures: tuple[MeasureLink, ...]
    kpis: tuple[KpiLink, ...]

    def successor(self, old_kpi_id: str) -> KpiLink | None:
        return next((k for k in self.kpis if k.from_id == old_kpi_id), None)

    def predecessor(self, new_kpi_id: str) -> KpiLink | None:
        return next((k for k in self.kpis if k.to_id == new_kpi_id), None)


@lru_cache(maxsize=None)
def load_mapping() -> TermMapping:
    data = _load_json(MAPPING_FILE, "mapping.schema.json")
    old, new = load_catalogue(data["from_term"]), load_catalogue(data["to_term"])
    for i, m in enumerate(data["measures"]):
        if m["from"] is not None and m["from"] not in {x.id for x in old.measures}:
            raise _inconsistent(MAPPING_FILE, f"$.measures[{i}].from", f"unknown measure {m['from']}")
        for t in m["to"]:
            if t not in {x.id for x in new.measures}:
                raise _inconsistent(MAPPING_FILE, f"$.measures[{i}].to", f"unknown measure {t}")
    for i, k in enumerate(data["kpis"]):
        if k["from"] is not None and not old.has_kpi(k["from"]):
            raise _inconsistent(MAPPING_FILE, f"$.kpis[{i}].from", f"unknown KPI {k['from']}")
        if k["to"] is not None and not new.has_kpi(k["to"]):
            raise _inconsistent(MAPPING_FILE, f"$.kpis[{i}].to", f"unknown KPI {k['to']}")
    return TermMapping(data["from_term"], data["to_term"],
                       tuple(MeasureLink(m["from"], tuple(m["to"]), m["relation"], m.get("note"))
                             for m in data["measures"]),
                       tuple(KpiLink(k["from"], k["to"], k["relation"], k["baseline_valid"], k.get("note"))
                             for k in data["kpis"]))


# ---------------------------------------------------------------- branches
@dataclass(frozen=True)
class Branch:
    code: str
    name: str  # 群馬
    display_name: str  # 群馬支部 / 本部


@lru_cache(maxsize=None)
def load_branches() -> tuple[Branch, ...]:
    """HQ (00) first, then the 47 branches in JIS order."""
    data = _load_json(BRANCHES_FILE, "branches.schema.json")
    offices = [data["headquarters"], *data["branches"]]
    return tuple(Branch(o["code"], o["name"], o["display_name"]) for o in offices)


def branch(code: str) -> Branch:
    for b in load_branches():
        if b.code == code:
            return b
    raise KeyError(code)


def prefecture_branches() -> list[Branch]:
    return [b for b in load_branches() if b.code != HQ_CODE]


# ---------------------------------------------------------------- codes people mistype
def branch_suggestions(text: str, limit: int = 3) -> list[Branch]:
    """The branches a code that is not one may mean: '埼玉' or '埼玉支部' → 11, '1' → 01, '111' → 11."""
    wanted = text.strip()
    offices = load_branches()
    if wanted.isdigit():  # a code without its zero, or with one too many
        return [b for b in offices if b.code == wanted.lstrip("0").zfill(2)]
    found = [b for b in offices if wanted and wanted in b.display_name]
    found = found or [b for b in offices if wanted and b.name in wanted]
    if not found:
        near = difflib.get_close_matches(wanted.upper(), [b.code for b in offices], n=limit, cutoff=0.5)
        found = [b for b in offices if b.code in near]
    return found[:limit]


def kpi_suggestions(text: str, catalogues: list[Catalogue], limit: int = 3) -> list[Kpi]:
    """The KPIs a KPI id that is not one may mean: 'K6-1-2' → K6-1-02, 'ジェネリック' → K6-2-08."""
    wanted = text.strip()
    kpis = list({k.id: k for cat in catalogues for k in cat.kpis}.values())
    head, _, last = wanted.upper().rpartition("-")
    padded = [k for k in kpis if head and last.isdigit() and k.id == f"{head}-{int(last):02d}"]
    if padded:  # 'k6-1-2' is K6-1-02
        return padded
    by_label = [k for k in kpis if wanted and (wanted in k.label or wanted in k.short_label)]
    near = difflib.get_close_matches(wanted.upper(), [k.id for k in kpis], n=limit, cutoff=0.6)
    by_id = [k for i in near for k in kpis if k.id == i]
    return list({k.id: k for k in by_id + by_label}.values())[:limit]
