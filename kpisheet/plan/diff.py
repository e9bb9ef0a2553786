"""The 新旧対照表's content: a branch's plan of one year beside another year's, aligned and marked.

Pure: two `PlanSubmission`s in, a `PlanDiff` out (no IO; the catalogue and the term mapping are
read through kpisheet.domain.catalogue's cached loaders).  kpisheet.plan.taishohyo writes it.

Alignment, never by printed numbering:
- **Measures** by catalogue measure id; when the two years fall in different terms, through the
  term mapping (継続 / 名称変更 pair; 統合 stacks the old measures opposite the one new; 分離 puts the
  old measure opposite its first successor; 廃止 old only; 新設 new only).  A branch's own measure
  ('B-…') pairs by id, else by heading similarity (≥ 0.5).
- **Items** within a measure: first by `origin` (the old item a row was prefilled from, kept when
  the texts are ≥ 0.2 similar), then `difflib.SequenceMatcher(autojunk=False)` on normalised texts;
  inside a non-equal block items pair greedily in order at similarity ≥ 0.5, and a following old
  item as similar to the same new item is shown in the same row (a merge).
- **KPIs** by KPI id (across terms through the mapping's successor).

Marking inside a pair is by tokens: a number with its separators and %, an ASCII word, else one
character (Japanese has no spaces, so word diffs do not work).  Tokens compare NFKC-normalised;
whitespace and a closing 「。」 are ignored unless `strict`.  An equal run of ≤ 2 characters between
two changes, without punctuation or brackets, is absorbed into one change (「［強化を図］る」,
not scattered single characters).  A renumbered heading is marked on its number only (MOVED).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Iterable, Sequence

from kpisheet.domain.catalogue import Catalogue, Kpi, TermMapping, load_catalogue, load_mapping, term_for_fy
from kpisheet.domain.display import format_figure, format_value, shown
from kpisheet.domain.findings import KpisheetError
from kpisheet.domain.model import EMPTY
from kpisheet.domain.plan import PlanItem, PlanKpi, PlanMeasure, PlanSubmission

SAME, CHANGED, MOVED = 0, 1, 2  # a span's mark: none, underline (changed), double underline (renumbered)
ROW_KINDS = ("pillar", "heading", "subheading", "item", "kpi_head", "kpi", "volume")
ROW_STATUSES = ("same", "changed", "renumbered", "added", "dropped")
KPI_HEAD = "《ＫＰＩ》"
BULLETS = ("○", "◯", "●", "■", "□", "◆", "◇")  # a level printed with a space after it
KPI_BULLET = "・"
ITEM_ORIGIN_MIN = 0.2  # a carried item stays paired with its origin at this similarity
ITEM_PAIR_MIN = 0.5  # other items pair at this similarity
MEASURE_PAIR_MIN = 0.5  # branch-own measures without a common id pair at this heading similarity
ABSORB_CHARS = 2  # an equal run this short between two changes joins them
_PUNCT = set("、。，．,.「」『』（）()【】〈〉《》［］[]<>＜＞・：:；;！？!?〜～-－→")

_TOKEN = re.compile(r"[0-9０-９]+(?:[,，][0-9０-９]{3})*(?:[.．][0-9０-９]+)?(?:[ \u3000]*[%％])?"
                    r"|[A-Za-zＡ-Ｚａ-ｚ]+|\s+|.", re.S)


# ---------------------------------------------------------------- spans and rows
@dataclass(frozen=True)
class Span:
    text: str
    mark: int = SAME


Cell = tuple[Span, ...]


def cell_text(cell: Cell | None) -> str:
    return "" if cell is None else "".join(s.text for s in cell)


def marked(cell: Cell | None, mark: int | None = None) -> list[str]:
    """The marked spans of a cell (all marks, or only `mark`)."""
    return [s.text for s in cell or () if s.mark and (mark is None or s.mark == mark)]


@dataclass(frozen=True)
class DiffRow:
    """One row of the 新旧対照表: the new year's text (left) and the old year's (right)."""

    kind: str  # one of ROW_KINDS
    status: str  # one of ROW_STATUSES
    new: Cell | None  # None: nothing opposite (added on the other side)
    old: Cell | None
    measure_id: str | None = None  # the new measure's id (the old one's for a dropped measure)
    key: str | None = None  # KPI id, or item number(s)

    @property
    def new_text(self) -> str:
        return cell_text(self.new)

    @property
    def old_text(self) -> str:
        return cell_text(self.old)


@dataclass(frozen=True)
class MeasurePair:
    new_id: str | None
    old_ids: tuple[str, ...]  # several when the mapping merges (統合) old measures into one
    status: str  # same | changed | renumbered | added | dropped
    new_label: str = ""  # numbering + heading as printed
    old_label: str = ""
    new_number: str = ""
    old_number: str = ""


@dataclass(frozen=True)
class TargetChange:
    kpi_id: str  # the new KPI id (the old one's when dropped)
    label: str
    change: str  # raised | lowered | unchanged | wording (same target, sentence reworded) | reworded | kind | added | dropped
    new: str  # the target as printed ('90.0%', '対前年度以上', the wording); '' when absent
    old: str
    new_value: float | None = None
    old_value: float | None = None


@dataclass(frozen=True)
class CountChange:
    kpi_id: str
    label: str  # KPI label, and the 内訳 label for a part
    what: str  # 対象者数 / 見込者数 (or the catalogue's label) / 実施率 of a part
    new: float | None
    old: float | None


@dataclass(frozen=True)
class RatePair:
    """A printed rate beside the counts it rests on: planned ÷ population should show as the rate."""

    side: str  # new | old
    fiscal_year: int | None
    kpi_id: str
    label: str  # what the pair is: the KPI's label, and the 内訳 label for a part
    rate: float
    planned: float
    population: float
    decimals: int

    @property
    def computed(self) -> Decimal:
        return shown(self.decimals, self.planned / self.population * 100)

    @property
    def agrees(self) -> bool:
        return self.computed == shown(self.decimals, self.rate)

    def describe_ja(self) -> str:
        rate = f"{shown(self.decimals, self.rate)}%"
        return (f"{self.label}：{rate}（{format_figure(self.planned)}人 ÷ {format_figure(self.population)}人"
                f" = {self.computed}%）")


@dataclass
class PlanDiff:
    old: PlanSubmission
    new: PlanSubmission
    rows: list[DiffRow]
    measures: list[MeasurePair]
    targets: list[TargetChange]
    counts: list[CountChange]
    pairs: list[RatePair]  # every rate/count pair of both plans, checked at its printed precision
    strict: bool = False

    @property
    def branch_code(self) -> str | None:
        return self.new.branch_code or self.old.branch_code

    @property
    def branch_name(self) -> str | None:
        return self.new.branch_name or self.old.branch_name


@dataclass
class ChangeSummary:
    branch_code: str | None
    branch_name: str | None
    new_year: int | None
    old_year: int | None
    raised: list[TargetChange] = field(default_factory=list)
    lowered: list[TargetChange] = field(default_factory=list)
    unchanged: list[TargetChange] = field(default_factory=list)
    reworded: list[TargetChange] = field(default_factory=list)  # text targets reworded, or the kind changed
    wording: list[TargetChange] = field(default_factory=list)  # the same target, its sentence reworded
    targets_added: list[TargetChange] = field(default_factory=list)
    targets_dropped: list[TargetChange] = field(default_factory=list)
    measures_added: list[MeasurePair] = field(default_factory=list)
    measures_dropped: list[MeasurePair] = field(default_factory=list)
    measures_renumbered: list[MeasurePair] = field(default_factory=list)
    measures_reworded: list[MeasurePair] = field(default_factory=list)
    items_added: int = 0
    items_dropped: int = 0
    items_changed: int = 0
    counts: list[CountChange] = field(default_factory=list)  # 対象者数 / 見込者数 that moved
    inconsistent: list[RatePair] = field(default_factory=list)
    pairs_checked: int = 0

    @property
    def targets_kept(self) -> int:
        """Targets the same as last year's (their sentence reworded or not)."""
        return len(self.unchanged) + len(self.wording)

    def to_dict(self) -> dict[str, Any]:
        def t(c: TargetChange) -> dict[str, Any]:
            return {"kpi_id": c.kpi_id, "label": c.label, "new": c.new, "old": c.old}

        def m(p: MeasurePair) -> dict[str, Any]:
            return {"new_id": p.new_id, "old_ids": list(p.old_ids), "new": p.new_label, "old": p.old_label}

        return {"branch_code": self.branch_code, "new_year": self.new_year, "old_year": self.old_year,
                "targets": {k: [t(c) for c in getattr(self, k)] for k in
                            ("raised", "lowered", "unchanged", "wording", "reworded", "targets_added",
                             "targets_dropped")},
                "measures": {k: [m(p) for p in getattr(self, k)] for k in
                             ("measures_added", "measures_dropped", "measures_renumbered", "measures_reworded")},
                "items": {"added": self.items_added, "dropped": self.items_dropped, "changed": self.items_changed},
                "counts": [{"kpi_id": c.kpi_id, "label": c.label, "what": c.what, "new": c.new, "old": c.old}
                           for c in self.counts],
                "inconsistent": [{"side": p.side, "kpi_id": p.kpi_id, "label": p.label, "rate": p.rate,
                                  "planned": p.planned, "population": p.population,
                                  "computed": str(p.computed)} for p in self.inconsistent],
                "pairs_checked": self.pairs_checked}


# ---------------------------------------------------------------- text: tokens and marks
def normalise(text: str) -> str:
    """NFKC without whitespace: what two texts are compared on."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def similarity(a: str, b: str) -> float:
    na, nb = normalise(a), normalise(b)
    if not na and not nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _keys(toks: list[str], strict: bool) -> list[str]:
    keys = [unicodedata.normalize("NFKC", t) if strict else normalise(t) for t in toks]
    if not strict:  # a 「。」 closing the text or one of its lines
        for i, key in enumerate(keys):
            if key != "。":
                continue
            rest = toks[i + 1:]
            end = next((j for j, t in enumerate(rest) if not t.isspace() or "\n" in t), len(rest))
            if end == len(rest) or rest[end].isspace():
                keys[i] = ""
    return keys


def _absorb(ops: list[list[Any]], a_toks: list[str]) -> list[list[Any]]:
    """The readability pass: a short equal run between two changes becomes part of one change."""
    out = [list(o) for o in ops]
    changed = True
    while changed:
        changed = False
        for k in range(1, len(out) - 1):
            tag, i1, i2 = out[k][0], out[k][1], out[k][2]
            if tag != "equal" or out[k - 1][0] == "equal" or out[k + 1][0] == "equal":
                continue
            run = "".join(a_toks[i1:i2])
            if len(run) <= ABSORB_CHARS and not (set(run) & _PUNCT):
                prev, nxt = out[k - 1], out[k + 1]
                out[k - 1:k + 2] = [["replace", prev[1], nxt[2], prev[3], nxt[4]]]
                changed = True
                break
    return out


def _spans(toks: list[str], keys: list[str], hit: set[int]) -> Cell:
    """Tokens to spans; an ignored token (whitespace, a closing 「。」) is marked only between two marked ones."""
    compared = [i for i, k in enumerate(keys) if k]
    marks = [SAME] * len(toks)
    for i in hit:
        marks[i] = CHANGED
    for i, k in enumerate(keys):
        if k:
            continue
        before = [j for j in compared if j < i]
        after = [j for j in compared if j > i]
        if before and after and before[-1] in hit and after[0] in hit:
            marks[i] = CHANGED
    spans: list[Span] = []
    for t, m in zip(toks, marks, strict=True):
        if spans and spans[-1].mark == m:
            spans[-1] = Span(spans[-1].text + t, m)
        else:
            spans.append(Span(t, m))
    return tuple(s for s in spans if s.text)


def mark_pair(new: str, old: str, *, strict: bool = False) -> tuple[Cell, Cell]:
    """The two texts as spans, changed tokens marked on both sides."""
    nt, ot = tokens(new), tokens(old)
    nk, ok = _keys(nt, strict), _keys(ot, strict)
    ni = [i for i, k in enumerate(nk) if k]
    oi = [i for i, k in enumerate(ok) if k]
    sm = difflib.SequenceMatcher(None, [ok[i] for i in oi], [nk[i] for i in ni], autojunk=False)
    ops = _absorb([list(o) for o in sm.get_opcodes()], [ot[i] for i in oi])
    new_hit: set[int] = set()
    old_hit: set[int] = set()
    for tag, i1, i2, j1, j2 in ops:
        if tag != "equal":
            old_hit.update(oi[i1:i2])
            new_hit.update(ni[j1:j2])
    return _spans(nt, nk, new_hit), _spans(ot, ok, old_hit)


def coalesce(spans: Iterable[Span]) -> Cell:
    """Neighbouring spans of one mark as one span, empty ones dropped."""
    out: list[Span] = []
    for s in spans:
        if not s.text:
            continue
        if out and out[-1].mark == s.mark:
            out[-1] = Span(out[-1].text + s.text, s.mark)
        else:
            out.append(s)
    return tuple(out)


def whole(text: str, mark: int = CHANGED) -> Cell:
    return (Span(text, mark),) if text else ()


def _has_marks(*cells: Cell | None) -> bool:
    return any(s.mark for c in cells for s in c or ())


# ---------------------------------------------------------------- what each plan prints
@dataclass
class _Side:
    plan: PlanSubmission
    catalogue: Catalogue | None

    def kpi(self, kpi_id: str) -> Kpi | None:
        if self.catalogue is not None and self.catalogue.has_kpi(kpi_id):
            return self.catalogue.kpi(kpi_id)
        return None

    def measure_of_kpi(self, kpi_id: str) -> str | None:
        k = self.kpi(kpi_id)
        if k is not None:
            return k.measure_id
        # a KPI no catalogue knows belongs to the measure its id extends: K<measure id>-<n>
        found = [m for m in self.plan.measures if kpi_id.startswith(f"K{m}-")]
        return max(found, key=len) if found else None

    def pillar_of(self, measure_id: str) -> int | None:
        if self.catalogue is not None:
            for m in self.catalogue.measures:
                if m.id == measure_id:
                    return m.pillar
        return None

    def pillar_label(self, no: int) -> str:
        assert self.catalogue is not None
        return f"（{no}）{self.catalogue.pillar(no).label}"


def _value(v: Any) -> str:
    return "" if v is None else str(v)


def heading_parts(side: _Side, m: PlanMeasure) -> tuple[str, str]:
    """(printed number, heading with 【group】) of a measure as the branch wrote it (the catalogue's when blank)."""
    number, heading = _value(m.numbering.value), _value(m.heading.value)
    if not heading and side.catalogue is not None:
        cm = next((x for x in side.catalogue.measures if x.id == m.measure_id), None)
        if cm is not None:
            heading, number = cm.label, number or cm.number
    group = _value(m.group.value)
    return number, heading + (f"【{group}】" if group else "")


def item_text(item: PlanItem) -> str:
    level, text = _value(item.level.value), _value(item.text.value)
    if level and level in BULLETS:
        return f"{level} {text}"
    return f"{level}{text}"


def _decimals_of(raw: Any, kpi: Kpi | None) -> int:
    if isinstance(raw, str):
        m = re.search(r"[0-9０-９]+[.．]([0-9０-９]+)", raw)
        if m:
            return len(m.group(1))
        if re.search(r"[0-9０-９]", raw):
            return 0
    return kpi.decimals if kpi is not None else 1


def _percent_text(v: float, raw: Any, kpi: Kpi | None) -> str:
    if kpi is not None:
        return format_value(kpi, v)
    d = _decimals_of(raw, None)
    return f"{shown(d, v)}%"


def target_text(side: _Side, k: PlanKpi) -> str:
    """The target as the 概要 prints it: '90.0%', '対前年度以上', the text of a qualitative KPI."""
    ck = side.kpi(k.kpi_id)
    word = "以下" if _direction(side, k) == "<=" else "以上"
    if k.kind == "previous_year":
        return f"対前年度{word}"
    v = k.target.value
    if v is None:
        return ""
    if k.kind == "text" or isinstance(v, str):
        return str(v)
    text = _percent_text(float(v), k.target.raw, ck) if ck is None or ck.display == "percent" \
        else format_value(ck, float(v))
    return text + word


_TARGET_IN_SENTENCE = re.compile(r"[\s\u3000]*(?:を|について[、，]?)?[\s\u3000]*"
                                 r"(?:[0-9０-９][0-9０-９,，.．]*[\s\u3000]*[%％]|対前年度?)(?:以上|以下)?とする")


def kpi_label(side: _Side, k: PlanKpi) -> str:
    """The catalogue's label; for a KPI no catalogue knows, its printed sentence up to the target."""
    ck = side.kpi(k.kpi_id)
    if ck is not None:
        return ck.label
    s = _value(k.sentence.value).split("\n")[0]
    m = _TARGET_IN_SENTENCE.search(s)
    head = s[:m.start()] if m else s
    return re.sub(r"[。、\s\u3000]+$", "", head) or k.kpi_id


def _direction(side: _Side, k: PlanKpi) -> str:
    ck = side.kpi(k.kpi_id)
    if ck is not None:
        return ck.direction
    return "<=" if "以下" in _value(k.sentence.value) else ">="


def kpi_sentence(side: _Side, k: PlanKpi) -> str:
    """The KPI sentence: as the document printed it, else the catalogue's `plan.sentence`, else
    「{label}を{target}以上とする」 (以下 for a ≤ KPI; 「対前年度以上」 for a previous_year target)."""
    printed = _value(k.sentence.value)
    if printed:
        return printed
    ck = side.kpi(k.kpi_id)
    label = ck.label if ck is not None else k.kpi_id
    if k.kind == "text":
        return _value(k.target.value) or label
    full = target_text(side, k)
    word = full[-2:] if full.endswith(("以上", "以下")) else ""
    target = full[:-2] if word else full
    template = ck.plan.sentence if ck is not None and ck.plan is not None and ck.plan.sentence else None
    if template:
        return template.replace("{label}", label).replace("{target}", target) + "。"
    return f"{label}を{target}{word}とする。"


def volume_lines(side: _Side, k: PlanKpi) -> list[str]:
    """The 対象者数 / 見込者数 lines of a KPI whose plan states them as data (not in a printed document)."""
    if _value(k.sentence.value):
        return []  # a document's volumes are in its own text, among the items
    ck = side.kpi(k.kpi_id)
    pop_label = (ck.plan.population_label if ck is not None and ck.plan is not None else None) or "対象者数"
    planned_label = (ck.plan.planned_label if ck is not None and ck.plan is not None else None) or "見込者数"
    lines = []
    pop, planned = k.population.value, k.planned.value
    shared = ck.plan.shared_with if ck is not None and ck.plan is not None else None
    if shared and shared in side.plan.kpis and side.plan.kpis[shared].population.value == pop:
        pop = None  # printed once, under the KPI whose 対象者数 this one shares
    if isinstance(pop, (int, float)) or isinstance(planned, (int, float)):
        parts = []
        if isinstance(pop, (int, float)):
            parts.append(f"{pop_label}：{format_figure(pop)}人")
        if isinstance(planned, (int, float)):
            parts.append(f"{planned_label}：{format_figure(planned)}人")
        lines.append(f"（{'　'.join(parts)}）")
    for p in k.parts:
        bits = [_value(p.label.value)]
        if isinstance(p.rate.value, (int, float)):
            bits.append(_percent_text(float(p.rate.value), p.rate.raw, None))
        if isinstance(p.population.value, (int, float)):
            bits.append(f"（{pop_label}：{format_figure(p.population.value)}人）")
        if isinstance(p.planned.value, (int, float)):
            bits.append(f"（{planned_label}：{format_figure(p.planned.value)}人）")
        lines.append("（内訳）" + " ".join(b for b in bits if b))
    return lines


# ---------------------------------------------------------------- alignment
def _catalogue_for(plan: PlanSubmission) -> Catalogue | None:
    try:
        term = plan.term or (term_for_fy(plan.fiscal_year) if plan.fiscal_year else None)
        return load_catalogue(term) if term else None
    except (KpisheetError, KeyError, ValueError, FileNotFoundError):
        return None


def _term(plan: PlanSubmission, cat: Catalogue | None) -> int | None:
    return plan.term or (cat.term if cat is not None else None)


def _pair_measures(old: _Side, new: _Side, mapping: TermMapping | None) -> dict[str, list[str]]:
    """new measure id → the old measure ids printed opposite it."""
    pairs: dict[str, list[str]] = {}
    taken: set[str] = set()
    old_ids = list(old.plan.measures)
    if mapping is not None:
        for link in mapping.measures:
            if link.from_id is None or link.from_id not in old.plan.measures or not link.to_ids:
                continue
            first = next((t for t in link.to_ids if t in new.plan.measures), None)
            if first is not None:
                pairs.setdefault(first, []).append(link.from_id)
                taken.add(link.from_id)
    for mid in new.plan.measures:
        if mid in pairs:
            continue
        if mid in old.plan.measures and mid not in taken and (mapping is None or mid.startswith("B-")):
            pairs[mid] = [mid]
            taken.add(mid)
    for mid, m in new.plan.measures.items():  # branch-own measures without a common id: by heading
        if mid in pairs or not mid.startswith("B-"):
            continue
        text = heading_parts(new, m)[1]
        best = max(((similarity(text, heading_parts(old, old.plan.measures[o])[1]), o) for o in old_ids
                    if o.startswith("B-") and o not in taken), default=None)
        if best is not None and best[0] >= MEASURE_PAIR_MIN:
            pairs[mid] = [best[1]]
            taken.add(best[1])
    return pairs


def _interleave(new_ids: Sequence[str], old_ids: Sequence[str],
                pairs: dict[str, list[str]]) -> list[tuple[str | None, list[str]]]:
    """The printed order: the new plan's, each unpaired old entry just after the old entry before it."""
    out: list[tuple[str | None, list[str]]] = []
    placed: set[str] = set()
    index = {o: i for i, o in enumerate(old_ids)}
    for nid in new_ids:
        olds = pairs.get(nid, [])
        if olds:
            first = min(index[o] for o in olds)
            for o in old_ids[:first]:
                if o not in placed and not any(o in v for v in pairs.values()):
                    out.append((None, [o]))
                    placed.add(o)
        out.append((nid, olds))
        placed.update(olds)
    for o in old_ids:
        if o not in placed and not any(o in v for v in pairs.values()):
            out.append((None, [o]))
    return out


def _align_items(new_items: Sequence[PlanItem], old_items: Sequence[PlanItem],
                 old_origins: Sequence[str]) -> list[tuple[int | None, list[int]]]:
    """Rows of (new item index, old item indexes) in print order; `old_origins` names each old item as a
    carried item's `origin` names it ('<fiscal_year>:<measure_id>:<n>')."""
    nt = [item_text(i) for i in new_items]
    ot = [item_text(i) for i in old_items]
    origin_of = {key: j for j, key in enumerate(old_origins)}
    anchors: list[tuple[int, int]] = []
    last = -1
    for i, it in enumerate(new_items):
        j = origin_of.get(it.origin or "")
        if j is not None and j > last and similarity(nt[i], ot[j]) >= ITEM_ORIGIN_MIN:
            anchors.append((i, j))
            last = j
    rows: list[tuple[int | None, list[int]]] = []
    bounds = [(-1, -1), *anchors, (len(new_items), len(old_items))]
    for (a_i, a_j), (b_i, b_j) in zip(bounds, bounds[1:], strict=False):
        rows.extend(_align_segment(nt, ot, range(a_i + 1, b_i), range(a_j + 1, b_j)))
        if b_i < len(new_items):
            rows.append((b_i, [b_j]))
    return rows


def _align_segment(nt: list[str], ot: list[str], ni: range, oi: range) -> list[tuple[int | None, list[int]]]:
    nk = [normalise(nt[i]) for i in ni]
    ok = [normalise(ot[j]) for j in oi]
    rows: list[tuple[int | None, list[int]]] = []
    sm = difflib.SequenceMatcher(None, ok, nk, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        olds = [oi[x] for x in range(i1, i2)]
        news = [ni[x] for x in range(j1, j2)]
        if tag == "equal":
            rows.extend((n, [o]) for n, o in zip(news, olds, strict=True))
            continue
        rows.extend(_greedy(nt, ot, news, olds))
    return rows


def _greedy(nt: list[str], ot: list[str], news: list[int], olds: list[int]) -> list[tuple[int | None, list[int]]]:
    rows: list[tuple[int | None, list[int]]] = []
    pos = 0  # first old not yet placed
    for k, n in enumerate(news):
        found = next((x for x in range(pos, len(olds)) if similarity(nt[n], ot[olds[x]]) >= ITEM_PAIR_MIN), None)
        if found is None:
            rows.append((n, []))
            continue
        rows.extend((None, [o]) for o in olds[pos:found])
        group = [olds[found]]
        nxt = news[k + 1] if k + 1 < len(news) else None
        x = found + 1
        while x < len(olds):
            s = similarity(nt[n], ot[olds[x]])
            if s < ITEM_PAIR_MIN or (nxt is not None and similarity(nt[nxt], ot[olds[x]]) > s):
                break
            group.append(olds[x])
            x += 1
        rows.append((n, group))
        pos = x
    rows.extend((None, [o]) for o in olds[pos:])
    return rows


# ---------------------------------------------------------------- the rows
class _Builder:
    def __init__(self, old: _Side, new: _Side, strict: bool, mapping: TermMapping | None):
        self.old, self.new, self.strict, self.mapping = old, new, strict, mapping
        self.rows: list[DiffRow] = []

    def text_row(self, kind: str, new: str | None, old: str | None, mid: str | None, key: str | None = None,
                 ) -> None:
        if new is not None and old is not None:
            n, o = mark_pair(new, old, strict=self.strict)
            status = "changed" if _has_marks(n, o) else "same"
            self.rows.append(DiffRow(kind, status, n, o, mid, key))
        elif new is not None:
            self.rows.append(DiffRow(kind, "added", whole(new), None, mid, key))
        elif old is not None:
            self.rows.append(DiffRow(kind, "dropped", None, whole(old), mid, key))

    def heading(self, new_m: PlanMeasure | None, old_ms: list[PlanMeasure], mid: str | None) -> MeasurePair:
        nn, nh = heading_parts(self.new, new_m) if new_m else ("", "")
        olds = [heading_parts(self.old, m) for m in old_ms]
        on, oh = olds[0] if olds else ("", "")
        old_ids = tuple(m.measure_id for m in old_ms)
        if new_m is None:
            self.text_row("heading", None, on + oh, mid)
            return MeasurePair(None, old_ids, "dropped", "", on + oh, "", on)
        if not old_ms:
            self.text_row("heading", nn + nh, None, mid)
            return MeasurePair(mid, (), "added", nn + nh, "", nn, "")
        renumbered = normalise(nn) != normalise(on)
        hn, ho = mark_pair(nh, oh, strict=self.strict)
        num_mark = MOVED if renumbered else SAME
        ncell = coalesce((Span(nn, num_mark), *hn))
        ocell = coalesce((Span(on, num_mark), *ho))
        reworded = _has_marks(hn, ho)
        status = "changed" if reworded else "renumbered" if renumbered else "same"
        self.rows.append(DiffRow("heading", status, ncell, ocell, mid))
        for extra_n, extra_h in olds[1:]:  # 統合: the other old measures under the first
            self.text_row("heading", None, extra_n + extra_h, mid)
        pair_status = "renumbered" if renumbered else "changed" if reworded else "same"
        return MeasurePair(mid, old_ids, pair_status, nn + nh, on + oh, nn, on)

    def items(self, new_m: PlanMeasure | None, old_ms: list[PlanMeasure], mid: str | None) -> None:
        new_items = list(new_m.items) if new_m else []
        old_items = [i for m in old_ms for i in m.items]
        fy = self.old.plan.fiscal_year
        aligned = _align_items(new_items, old_items, [f"{fy}:{m.measure_id}:{i.n}" for m in old_ms for i in m.items])
        last_new: str | None = None
        last_old: str | None = None
        for n, olds in aligned:
            ni = new_items[n] if n is not None else None
            ois = [old_items[j] for j in olds]
            ns = _value(ni.subheading.value) if ni else None
            os_ = _value(ois[0].subheading.value) if ois else None
            sub_new = ns if ns is not None and ns != last_new and ns else None
            sub_old = os_ if os_ is not None and os_ != last_old and os_ else None
            if sub_new or sub_old:
                self.text_row("subheading", sub_new, sub_old, mid)
            if ns is not None:
                last_new = ns
            if os_ is not None:
                last_old = os_
            key = ",".join([str(ni.n) if ni else "", *[str(o.n) for o in ois]])
            self.text_row("item", item_text(ni) if ni else None,
                          "\n".join(item_text(o) for o in ois) if ois else None, mid, key)

    def kpis(self, mid: str | None, new_kpis: list[PlanKpi], old_kpis: list[PlanKpi],
             targets: list[TargetChange], counts: list[CountChange]) -> None:
        if not new_kpis and not old_kpis:
            return
        self.text_row("kpi_head", KPI_HEAD if new_kpis else None, KPI_HEAD if old_kpis else None, mid)
        old_by_new = {}
        for k in old_kpis:
            succ = self.mapping.successor(k.kpi_id) if self.mapping is not None else None
            old_by_new[succ.to_id if succ is not None and succ.to_id else k.kpi_id] = k
        order = _interleave([k.kpi_id for k in new_kpis], list(old_by_new),
                            {k.kpi_id: [k.kpi_id] for k in new_kpis if k.kpi_id in old_by_new})
        new_by_id = {k.kpi_id: k for k in new_kpis}
        for nid, olds in order:
            nk = new_by_id.get(nid) if nid else None
            ok = old_by_new.get(olds[0]) if olds else None
            key = nk.kpi_id if nk else ok.kpi_id if ok else None
            self.text_row("kpi", KPI_BULLET + kpi_sentence(self.new, nk) if nk else None,
                          KPI_BULLET + kpi_sentence(self.old, ok) if ok else None, mid, key)
            sentence_changed = self.rows[-1].status == "changed"
            nv = volume_lines(self.new, nk) if nk else []
            ov = volume_lines(self.old, ok) if ok else []
            for x in range(max(len(nv), len(ov))):
                self.text_row("volume", nv[x] if x < len(nv) else None, ov[x] if x < len(ov) else None, mid, key)
            change = _target_change(self.new, self.old, nk, ok, self.strict)
            if change.change == "unchanged" and sentence_changed:
                change = replace(change, change="wording")
            targets.append(change)
            if nk and ok:
                counts.extend(_count_changes(self.new, nk, ok))


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _target_change(new: _Side, old: _Side, nk: PlanKpi | None, ok: PlanKpi | None, strict: bool) -> TargetChange:
    side, k = (new, nk) if nk is not None else (old, ok)
    assert k is not None
    label = kpi_label(side, k)
    nt = target_text(new, nk) if nk else ""
    ot = target_text(old, ok) if ok else ""
    if nk is None or ok is None:
        return TargetChange(k.kpi_id, label, "added" if ok is None else "dropped", nt, ot,
                            _number(nk.target.value) if nk else None, _number(ok.target.value) if ok else None)
    nv, ov = _number(nk.target.value), _number(ok.target.value)
    if nk.kind != ok.kind:
        change = "kind"
    elif nk.kind == "value" and nv is not None and ov is not None:
        ck = new.kpi(nk.kpi_id)
        d = max(_decimals_of(nk.target.raw, ck), _decimals_of(ok.target.raw, ck))
        a, b = shown(d, nv), shown(d, ov)
        change = "raised" if a > b else "lowered" if a < b else "unchanged"
    else:
        change = "reworded" if _has_marks(*mark_pair(nt, ot, strict=strict)) else "unchanged"
    return TargetChange(nk.kpi_id, label, change, nt, ot, nv, ov)


def _count_changes(side: _Side, nk: PlanKpi, ok: PlanKpi) -> list[CountChange]:
    ck = side.kpi(nk.kpi_id)
    pop_label = (ck.plan.population_label if ck is not None and ck.plan is not None else None) or "対象者数"
    planned_label = (ck.plan.planned_label if ck is not None and ck.plan is not None else None) or "見込者数"
    label = kpi_label(side, nk)
    out = []
    for what, a, b in ((pop_label, nk.population, ok.population), (planned_label, nk.planned, ok.planned)):
        na, nb = _number(a.value), _number(b.value)
        if (na, nb) != (None, None) and na != nb:
            out.append(CountChange(nk.kpi_id, label, what, na, nb))
    old_parts = {normalise(_value(p.label.value)): p for p in ok.parts}
    for p in nk.parts:
        q = old_parts.pop(normalise(_value(p.label.value)), None)
        plabel = f"{label}（{_value(p.label.value)}）"
        for what, a, b in ((pop_label, p.population, q.population if q else EMPTY),
                           (planned_label, p.planned, q.planned if q else EMPTY)):
            na, nb = _number(a.value), _number(b.value)
            if (na, nb) != (None, None) and na != nb:
                out.append(CountChange(nk.kpi_id, plabel, what, na, nb))
    for q in old_parts.values():
        plabel = f"{label}（{_value(q.label.value)}）"
        for what, b in ((pop_label, q.population), (planned_label, q.planned)):
            if _number(b.value) is not None:
                out.append(CountChange(nk.kpi_id, plabel, what, None, _number(b.value)))
    return out


def rate_pairs(plan: PlanSubmission, *, side: str = "new", catalogue: Catalogue | None = None) -> list[RatePair]:
    """Every printed rate with its 見込者数 and 対象者数: a KPI's target and each 内訳 that states a rate."""
    s = _Side(plan, catalogue)
    out = []
    for k in plan.kpis.values():
        ck = s.kpi(k.kpi_id)
        if k.kind != "value" or (ck is not None and ck.display != "percent"):
            continue
        label = kpi_label(s, k)
        rate, planned, pop = _number(k.target.value), _number(k.planned.value), _number(k.population.value)
        if rate is not None and planned is not None and pop:
            out.append(RatePair(side, plan.fiscal_year, k.kpi_id, label, rate, planned, pop,
                                _decimals_of(k.target.raw, ck)))
        for p in k.parts:
            rate, planned, pop = _number(p.rate.value), _number(p.planned.value), _number(p.population.value)
            if rate is not None and planned is not None and pop:
                out.append(RatePair(side, plan.fiscal_year, k.kpi_id, f"{label}（{_value(p.label.value)}）",
                                    rate, planned, pop, _decimals_of(p.rate.raw, ck)))
    return out


def _kpis_by_measure(side: _Side) -> dict[str | None, list[PlanKpi]]:
    out: dict[str | None, list[PlanKpi]] = {}
    for k in side.plan.kpis.values():
        out.setdefault(side.measure_of_kpi(k.kpi_id), []).append(k)
    return out


def diff_plans(old: PlanSubmission, new: PlanSubmission, *, mapping: TermMapping | None = None,
               strict: bool = False) -> PlanDiff:
    """The 新旧対照表 of `new` (left) against `old` (right): rows aligned by catalogue id, marked.

    `mapping` is the term mapping used when the two plans fall in different terms (default: the
    shipped one, kpisheet.domain.catalogue.load_mapping, when its terms are the plans')."""
    o = _Side(old, _catalogue_for(old))
    n = _Side(new, _catalogue_for(new))
    ot, nt = _term(old, o.catalogue), _term(new, n.catalogue)
    use_mapping: TermMapping | None = None
    if ot is not None and nt is not None and ot != nt:
        use_mapping = mapping
        if use_mapping is None:
            shipped = load_mapping()
            if (shipped.from_term, shipped.to_term) == (ot, nt):
                use_mapping = shipped
    b = _Builder(o, n, strict, use_mapping)
    pairs = _pair_measures(o, n, use_mapping)
    order = _interleave(list(new.measures), list(old.measures), pairs)
    new_kpis, old_kpis = _kpis_by_measure(n), _kpis_by_measure(o)
    measures: list[MeasurePair] = []
    targets: list[TargetChange] = []
    counts: list[CountChange] = []
    last_pillar: tuple[int | None, int | None] = (None, None)
    for nid, oids in order:
        nm = new.measures[nid] if nid else None
        oms = [old.measures[x] for x in oids]
        np_ = n.pillar_of(nid) if nid else None
        op_ = o.pillar_of(oids[0]) if oids else None
        show_new = np_ is not None and np_ != last_pillar[0]
        show_old = op_ is not None and op_ != last_pillar[1]
        if show_new or show_old:
            b.text_row("pillar", n.pillar_label(np_) if show_new and np_ else None,
                       o.pillar_label(op_) if show_old and op_ else None, None)
        last_pillar = (np_ if np_ is not None else last_pillar[0], op_ if op_ is not None else last_pillar[1])
        mid = nid or (oids[0] if oids else None)
        measures.append(b.heading(nm, oms, mid))
        b.items(nm, oms, mid)
        nks = new_kpis.pop(nid, []) if nid else []
        oks = [k for x in oids for k in old_kpis.pop(x, [])]
        b.kpis(mid, nks, oks, targets, counts)
    # KPIs whose measure neither plan has (a catalogue KPI the branch wrote under no measure)
    rest_new = [k for ks in new_kpis.values() for k in ks]
    rest_old = [k for ks in old_kpis.values() for k in ks]
    b.kpis(None, rest_new, rest_old, targets, counts)
    pairs_checked = rate_pairs(new, side="new", catalogue=n.catalogue) + \
        rate_pairs(old, side="old", catalogue=o.catalogue)
    return PlanDiff(old, new, b.rows, measures, targets, counts, pairs_checked, strict)


def change_summary(diff: PlanDiff) -> ChangeSummary:
    """What changed, in the categories HQ reads: targets, measures, items, counts, rate/count slips."""
    s = ChangeSummary(diff.branch_code, diff.branch_name, diff.new.fiscal_year, diff.old.fiscal_year)
    buckets = {"raised": s.raised, "lowered": s.lowered, "unchanged": s.unchanged, "reworded": s.reworded,
               "wording": s.wording,
               "kind": s.reworded, "added": s.targets_added, "dropped": s.targets_dropped}
    for t in diff.targets:
        buckets[t.change].append(t)
    for m in diff.measures:
        {"added": s.measures_added, "dropped": s.measures_dropped, "renumbered": s.measures_renumbered,
         "changed": s.measures_reworded, "same": []}[m.status].append(m)
        if m.status == "renumbered" and m.new_label and m.old_label and \
                normalise(m.new_label[len(m.new_number):]) != normalise(m.old_label[len(m.old_number):]):
            s.measures_reworded.append(m)
    for r in diff.rows:
        if r.kind != "item":
            continue
        if r.status == "added":
            s.items_added += 1
        elif r.status == "dropped":
            s.items_dropped += 1
        elif r.status == "changed":
            s.items_changed += 1
    s.counts = list(diff.counts)
    s.inconsistent = [p for p in diff.pairs if not p.agrees]
    s.pairs_checked = len(diff.pairs)
    return s

