"""What a branch's feedback lists: one item per thing to fix, not one row per rule that fired.

The validator reports every rule on every cell it concerns.  A branch acting on that would
read one typo four times — E401 on the typed cell, W411 and W412 on the same cell, and an E404
or W411 on the next month's *correct* cell, which only differs from the typo — and a branch that
stopped in September would read one 未入力 row per month and KPI.  So the feedback folds:

* every finding on one cell into one item (the most severe speaks; the others are named);
* a finding a wrong cell caused on the next month of its row (E404 "falls", W411 "jumps" — the
  correct value compared with the typo) into the wrong cell's item: that cell is not
  highlighted, and the item says the other month's check clears when this cell is fixed;
* the months of one KPI reported missing (W413) into one item naming the months;
* a file holding no figures for the reporting month (W422) is one item: every W413 the file
  would not have if it were judged at the month it reaches (that month's, and a lagging KPI's
  months that fell due with it) is folded into it — the branch has one thing to do: enter the
  month.  Its cells are all highlighted with the item's text.

Findings are never dropped: each is the primary of an item or folded into one (`Item.folded`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from kpisheet.domain.catalogue import Catalogue
from kpisheet.domain.findings import Finding, cell_order
from kpisheet.domain.fiscal import month_label, parse_month
from kpisheet.read.names import parse_name

CAUSED_BY_PREVIOUS_MONTH = frozenset({"E404", "W411"})  # compare a month with the one before
MISSING_MONTH = "W413"
REPORTING_MONTH_MISSING = "W422"  # no figures for the reporting month: folds that month's W413


@dataclass
class Item:
    """One thing for the branch to look at: where, what, how to fix, and what it explains."""

    finding: Finding  # the primary finding (its code, severity, sheet)
    cells: list[str]  # the cells to look at (one; or the missing months of a KPI)
    text_ja: str  # what the branch reads
    folded: list[Finding] = field(default_factory=list)  # findings this item answers too

    @property
    def is_error(self) -> bool:
        """An error when any finding it answers is one (a value left out of the national figures)."""
        return self.finding.is_error or any(f.is_error for f in self.folded)

    @property
    def codes(self) -> str:
        """「E401（W411・W412）」: the primary code, the folded ones in brackets."""
        others = [f.code for f in self.folded if f.code != self.finding.code]
        others = list(dict.fromkeys(others))
        return f"{self.finding.code}（{'・'.join(others)}）" if others else self.finding.code

    @property
    def cells_ja(self) -> str:
        """「I22」「H30・I30・J30」: the cells, as the 確認事項 list shows them (at most five)."""
        shown = "・".join(self.cells[:5])
        return shown + (f" ほか{len(self.cells) - 5}か所" if len(self.cells) > 5 else "")

    def highlights(self) -> list[Highlight]:
        """One highlight per cell to colour and comment in the branch's workbook, carrying the item's text."""
        return [Highlight(replace(self.finding, cell=cell), self.text_ja, self.is_error) for cell in self.cells]


@dataclass(frozen=True)
class Highlight:
    """One cell to colour and comment: the item's primary finding moved to that cell, and the item's text."""

    finding: Finding
    text_ja: str  # the item's text (the finding's own, with what it folds)
    is_error: bool  # the item's: an error when any finding it answers is one

    @property
    def code(self) -> str:
        return self.finding.code

    @property
    def sheet(self) -> str | None:
        return self.finding.sheet

    @property
    def cell(self) -> str | None:
        return self.finding.cell

    @property
    def severity(self) -> str:
        return "error" if self.is_error else self.finding.severity


def highlights(findings: list[Finding], catalogue: Catalogue | None) -> list[Highlight]:
    """The cells to colour and comment in the branch's workbook: one per item cell, with the item's text."""
    return [h for item in fold(findings, catalogue) for h in item.highlights()]


def fold(findings: list[Finding], catalogue: Catalogue | None) -> list[Item]:
    """The items of one file's findings (errors first, then by sheet and cell).  The catalogue names the
    KPIs of missing months (W413); findings of a file that has no months (a 事業計画) need none."""
    unique = list(dict.fromkeys(findings))  # the same finding twice (two checks that agree) is one
    whole_month = {f.file: f for f in unique if f.code == REPORTING_MONTH_MISSING}
    into_month = {id(f): whole_month[f.file] for f in unique
                  if f.code == MISSING_MONTH and f.file in whole_month
                  and _due_with_the_month(f, whole_month[f.file], catalogue)}
    missing = [f for f in unique if f.code == MISSING_MONTH and f.cell and id(f) not in into_month]
    rest = [f for f in unique if f not in missing and id(f) not in into_month
            and f.code != REPORTING_MONTH_MISSING]
    by_cell: dict[tuple[str | None, str | None], list[Finding]] = {}
    loose: list[Finding] = []
    for f in rest:
        if f.sheet and f.cell:
            by_cell.setdefault((f.sheet, f.cell), []).append(f)
        else:
            loose.append(f)
    caused = _caused(by_cell)
    items: list[Item] = []
    for (sheet, cell), group in by_cell.items():
        own = [f for f in group if id(f) not in caused]
        if own:
            items.append(_cell_item(cell or "", own, [c for c, into in caused.items_for(sheet, cell)]))
    items += _missing_months(missing, catalogue)
    for f in whole_month.values():
        folded = [g for g in unique if into_month.get(id(g)) is f]
        cells = list(dict.fromkeys([c for c in (f.cell, *(g.cell for g in folded)) if c]))
        text = f.text_ja + (f"（入力が必要な{len(cells)}か所に色を付けています。データが遅れて届くKPIの前の月の分も含みます。）"
                            if len(cells) > 1 else "")
        items.append(Item(f, cells, text, folded))
    items += [Item(f, [], f.text_ja) for f in loose]
    return sorted(items, key=lambda i: (i.finding.code != REPORTING_MONTH_MISSING, not i.is_error, i.finding.sheet or "",
                                        cell_order(i.cells[0] if i.cells else None), i.finding.code))


class _Caused(dict):
    """id(finding on a next month) -> (sheet, cell) of the wrong cell it is folded into."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: dict[int, Finding] = {}

    def add(self, f: Finding, into: tuple[str, str]) -> None:
        self[id(f)] = into
        self.findings[id(f)] = f

    def items_for(self, sheet: str | None, cell: str | None) -> list[tuple[Finding, tuple[str, str]]]:
        return [(self.findings[k], into) for k, into in self.items() if into == (sheet, cell)]


def _caused(by_cell: dict[tuple[str | None, str | None], list[Finding]]) -> _Caused:
    """E404 / W411 on a month whose previous month in the same row has a finding of its own."""
    rows: dict[tuple[str | None, str, str], dict[date, tuple[str, str]]] = {}
    for (sheet, cell), group in by_cell.items():
        for f in group:
            key = parse_name(f.name) if f.name else None
            if key is not None and key.kind == "kpi" and key.month is not None and sheet and cell:
                rows.setdefault((sheet, key.subject, key.field), {})[key.month] = (sheet, cell)
    out = _Caused()
    for (sheet, cell), group in by_cell.items():
        for f in group:
            key = parse_name(f.name) if f.name else None
            if f.code not in CAUSED_BY_PREVIOUS_MONTH or key is None or key.month is None:
                continue
            row = rows.get((sheet, key.subject, key.field), {})
            earlier = [m for m in row if m < key.month]
            if earlier and row[max(earlier)] != (sheet, cell):
                out.add(f, row[max(earlier)])
    return out


def _cell_item(cell: str, own: list[Finding], caused: list[Finding]) -> Item:
    primary = next((f for f in own if f.is_error), own[0])
    text = primary.text_ja
    same = [f for f in own if f is not primary and f.code != primary.code]
    if same:
        words = "、".join(dict.fromkeys(f.label_ja for f in same))
        text += f"（この欄はほかに「{words}」とも判定されています。この欄を直せば解消します。）"
    if caused:
        months = "・".join(dict.fromkeys(_month_of(f) for f in caused))
        text += (f"（この欄の値と比べるため、{months}の欄にも確認が出ています。{months}の値が正しければ、"
                 "この欄を直せば解消します。）")
    return Item(primary, [cell], text, [f for f in own if f is not primary] + caused)


def _due_with_the_month(missing: Finding, whole: Finding, catalogue: Catalogue | None) -> bool:
    """The W413 would not be there had the file been judged at the month it reaches (W422's value):
    its month is after that month less the KPI's data lag."""
    key = parse_name(missing.name) if missing.name else None
    if key is None or key.month is None:
        return False
    if whole.value is None:  # the file holds no month at all
        return True
    reached = parse_month(whole.value)
    lag = (catalogue.kpi(missing.subject).lag_months
           if catalogue is not None and missing.subject and catalogue.has_kpi(missing.subject) else 0)
    index = reached.year * 12 + reached.month - 1 - lag
    return key.month > date(index // 12, index % 12 + 1, 1)


def _month_of(f: Finding) -> str:
    key = parse_name(f.name) if f.name else None
    return month_label(key.month) if key is not None and key.month is not None else (f.cell or "")


def _missing_months(missing: list[Finding], catalogue: Catalogue | None) -> list[Item]:
    """One item per KPI (and file) for the months reported missing."""
    groups: dict[tuple[str | None, str | None], list[Finding]] = {}
    for f in missing:
        groups.setdefault((f.file, f.subject), []).append(f)
    items = []
    for (_, subject), group in groups.items():
        keys = [parse_name(f.name) if f.name else None for f in group]
        months = sorted(k.month for k in keys if k is not None and k.month is not None)
        if not months or subject is None or catalogue is None or not catalogue.has_kpi(subject):
            items += [Item(f, [f.cell or ""], f.text_ja) for f in group]
            continue
        items.append(Item(group[0], [f.cell or "" for f in group], _missing_text(catalogue, subject, months),
                          group[1:]))
    return items


def _missing_text(catalogue: Catalogue, kpi_id: str, months: list[date]) -> str:
    kpi = catalogue.kpi(kpi_id)
    part = kpi.value_part if kpi.kind == "count" else kpi.numerator
    what = ("4月からその月までの累計" if part is not None and part.is_flow else "その月末時点の値")
    if kpi.kind == "ratio":
        what = f"分子・分母（分子は{what}）"
    return (f"{kpi.id}「{kpi.short_label}」の{_months_ja(months)}が未入力です（{len(months)}か月）。各月に{what}を"
            "入力してください（データが届いていない月は、届いた時点で入力してください）。")


def _months_ja(months: list[date]) -> str:
    """「7月〜9月」 for consecutive months, else 「5月・7月・9月」."""
    index = [m.year * 12 + m.month for m in months]
    if len(months) > 2 and index == list(range(index[0], index[0] + len(index))):
        return f"{month_label(months[0])}〜{month_label(months[-1])}"
    return "・".join(month_label(m) for m in months)
