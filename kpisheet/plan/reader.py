"""Read a returned 事業計画 workbook into a PlanSubmission, through the monthly reader's hardened path.

The file goes through the same pre-flight (kpisheet.read.preflight: E1xx) and the same XML reader
(kpisheet.read.xlsx_read: DTDs refused, inflated bytes counted); values through the same
normalisation (kpisheet.read.normalise: 「61.0%」「２５９，７２５」, W305/W306/E304).  What is read
is what is shown, as for a monthly workbook: each input is found by its defined name (`pl_…`,
kpisheet.plan.names); a name missing is E301, defined twice E313, pointing at another sheet E312;
an input sheet missing is E303, hidden E314; a value in a hidden row or column, under a merge or in
its fill colour is E318 and not used, one hidden by its number format W318; a formula is W308
(its saved result used) or W307.

A workbook that is not a plan: a monthly workbook is P102 (warning; nothing read), anything else
E201.  Values the lists offer but the branch typed otherwise: target kind P103 (error: the target
cannot be read), status of last year's value P104, 記載先 P105, 区分 P106 (warnings; read as blank).
read_plan never raises: anything unforeseen is E110 (damaged file) or E190 (kpisheet's own failure).
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any

from kpisheet import PLAN_FORMAT, PLAN_TEMPLATE_VERSION, TEMPLATE_FORMAT
from kpisheet.domain.catalogue import Catalogue, Kpi, load_branches, load_catalogue
from kpisheet.domain.failures import failure_finding
from kpisheet.domain.findings import KpisheetError, finding
from kpisheet.domain.model import EMPTY, InputValue, Source
from kpisheet.domain.plan import EXPECTED_STATUSES, ITEM_FLAGS, PlanItem, PlanKpi, PlanMeasure, PlanSubmission
from kpisheet.fileio import sha256_file
from kpisheet.plan import names as pn
from kpisheet.read.normalise import PERCENT, PLAIN, normalise_number, normalise_text
from kpisheet.read.preflight import preflight
from kpisheet.read.reader import NOT_SHOWN, meta_object, name_destination
from kpisheet.read.reader import Reading as R
from kpisheet.read.xlsx_read import Book, BookError
from kpisheet.xlsx_cells import column_letter

CODES = frozenset({"P102", "P103", "P104", "P105", "P106"})  # P101 and the reading codes (Reading): kpisheet.read.reader

_META_ROWS, _META_COLUMNS = 60, 4
_MAX_ROWS_PER_MEASURE = 50
_MAX_BRANCH_MEASURES = 20
_MAX_PREFILLED_TEXT = 200_000
KIND_OF_TEXT = {"数値": "value", "対前年度以上": "previous_year", "対前年度以下": "previous_year"}
COVERED_HERE = "この施策に記載"


def read_plan(path: Path | str) -> PlanSubmission:
    """The plan one returned workbook states; problems are in .findings, never raised."""
    path = Path(path)
    plan = PlanSubmission(path=str(path), sha256=None, fiscal_year=None, branch_code=None, branch_name=None)
    try:
        problems = preflight(path)
        if problems:
            plan.findings.extend(problems)
            return plan
        plan.sha256 = sha256_file(path)
        book = Book(path)
        try:
            _PlanReader(path, book, plan).read()
        finally:
            book.close()
    except BookError as exc:
        _drop(plan)
        plan.findings.append(finding(exc.code, file=path, sheet=exc.where.get("sheet"), cell=exc.where.get("cell"),
                                     reason=exc.reason))
    except KpisheetError as exc:
        plan.findings.extend(exc.findings)
    except Exception as exc:  # one finding, never a traceback
        if os.environ.get("KPISHEET_DEBUG"):
            raise
        _drop(plan)
        plan.findings.append(failure_finding(path, exc))
    return plan


def is_plan_read(plan: PlanSubmission) -> bool:
    """The workbook was read as a plan (its identity known); False for a file that is not one."""
    return plan.fiscal_year is not None and plan.branch_code is not None and plan.term is not None


def _drop(plan: PlanSubmission) -> None:
    plan.measures.clear()
    plan.kpis.clear()


def _fold(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    return "".join(ch for ch in text if not ch.isspace())


def _int(v: Any) -> int | None:
    try:
        if v is None or isinstance(v, bool):
            return None
        f = float(str(v).strip())
        return int(f) if f.is_integer() else None
    except ValueError:
        return None


class _PlanReader:
    def __init__(self, path: Path, book: Book, plan: PlanSubmission) -> None:
        self.path, self.book, self.plan = path, book, plan
        self.cat: Catalogue | None = None
        self.names: dict[str, list[Any]] = {}
        self.sheets: dict[str, str | None] = {}

    def add(self, code: str, **kw: Any) -> None:
        self.plan.findings.append(finding(code, file=self.path, branch=self.plan.branch_code, **kw))

    # --- identity
    def read(self) -> None:
        meta = self._meta()
        if meta.get("format") != PLAN_FORMAT:
            if meta.get("format") == TEMPLATE_FORMAT or self.book.custom_properties().get(
                    "kpisheet_format") == TEMPLATE_FORMAT:
                self.add("P102")
            else:
                self.add(R.NOT_OURS)
            return
        if not self._identity(meta):
            return
        self._saved()
        self.plan.prefilled = self._prefilled(meta.get("prefilled"))
        for sheet in pn.INPUT_SHEETS:
            self.sheets[sheet] = self._input_sheet(sheet)
        self._index_names()
        rows = _int(meta.get("rows_per_measure"))
        rows = rows if rows is not None and 1 <= rows <= _MAX_ROWS_PER_MEASURE else 10
        own = _int(meta.get("branch_measures_per_pillar"))
        own = own if own is not None and 0 <= own <= _MAX_BRANCH_MEASURES else 0
        self._read_measures(rows, own)
        self._read_kpis()
        for f in pn.INFO_FIELDS:
            v = self.value(pn.info_key(f), pn.SHEET_MEASURES, "記入者" if f == "preparer" else "連絡先",
                           required=False).value
            setattr(self.plan, f, None if v is None else str(v))

    def _meta(self) -> dict[str, Any]:
        candidates = [pn.SHEET_META] if pn.SHEET_META in self.book.sheetnames else []
        candidates += [t for t in self.book.sheetnames if t not in (pn.SHEET_META, *pn.INPUT_SHEETS, pn.SHEET_GUIDE)]
        for title in candidates:
            ws = self.book.sheet(title)
            if any(r > _META_ROWS or c > _META_COLUMNS for r, c in ws.cells):
                continue
            rows: dict[int, list[tuple[int, Any]]] = {}
            for (r, c), cell in ws.cells.items():
                if cell.value is not None:
                    rows.setdefault(r, []).append((c, cell.value))
            out: dict[str, Any] = {}
            for r in sorted(rows):
                cells = [v for _, v in sorted(rows[r], key=lambda cv: cv[0])]
                if len(cells) >= 2 and isinstance(cells[0], str):
                    out[cells[0].strip()] = cells[1]
            if out.get("format") in (PLAN_FORMAT, TEMPLATE_FORMAT):
                return out
        return {}

    def _identity(self, meta: dict[str, Any]) -> bool:
        plan = self.plan
        plan.plan_template_version = _int(meta.get("plan_template_version"))
        plan.layout_digest = None if meta.get("layout_digest") is None else str(meta["layout_digest"])
        plan.generated_at = None if meta.get("generated_at") is None else str(meta["generated_at"])
        plan.branch_name = None if meta.get("branch_name") is None else str(meta["branch_name"])
        ok = True
        code = _int(meta.get("branch_code"))
        branch_code = f"{code:02d}" if code is not None else None
        if branch_code is not None and not any(b.code == branch_code for b in load_branches()):
            branch_code = None
        for key, value in (("term", _int(meta.get("term"))), ("fiscal_year", _int(meta.get("fiscal_year"))),
                           ("branch_code", branch_code)):
            if value is None:
                self.add(R.METADATA, sheet=pn.SHEET_META, field=key, value=meta.get(key))
                ok = False
        if plan.plan_template_version is None:
            self.add(R.METADATA, sheet=pn.SHEET_META, field="plan_template_version", value=meta.get("plan_template_version"))
            ok = False
        elif plan.plan_template_version > PLAN_TEMPLATE_VERSION:
            self.add(R.METADATA, sheet=pn.SHEET_META, field="plan_template_version",
                     value=f"{plan.plan_template_version}（この版で読めるのは{PLAN_TEMPLATE_VERSION}まで）")
            ok = False
        if not ok:
            return False
        plan.term, plan.fiscal_year, plan.branch_code = _int(meta["term"]), _int(meta["fiscal_year"]), branch_code
        try:
            self.cat = load_catalogue(plan.term or 0)
        except KpisheetError:
            self.add(R.METADATA, sheet=pn.SHEET_META, field="term", value=plan.term)
            plan.term = None
            return False
        return True

    def _saved(self) -> None:
        core = self.book.core_properties()
        created, modified = core.get("created"), core.get("modified")
        self.plan.saved_at = modified or None
        app = self.book.application()
        if created and created == modified and (app or "").startswith("Microsoft Excel"):
            app = "kpisheet"
        self.plan.saved_by = app or core.get("lastModifiedBy") or None

    def _prefilled(self, text: Any) -> dict[str, Any]:
        return meta_object(text, _MAX_PREFILLED_TEXT)

    # --- sheets and names
    def _input_sheet(self, role: str) -> str | None:
        titles = self.book.sheetnames
        title = role if role in titles else next((t for t in titles if _fold(t) == _fold(role)), None)
        if title is None:
            self.add(R.SHEET_MISSING, value=role)
            return None
        claimants = [e.title for e in self.book.sheet_entries if _fold(e.title) == _fold(role)]
        if len(claimants) > 1:
            self.add(R.SHEET_TWICE, sheet=title, value="、".join(f"「{t}」" for t in claimants))
            return None
        if self.book.state(title) != "visible":
            self.add(R.SHEET_HIDDEN, sheet=title, value=title)
            return None
        return title

    def _index_names(self) -> None:
        """Every plan input name (workbook level; sheet-level copies left out), by its case-folded name."""
        for e in self.book.defined_name_entries:
            if e.local_sheet_id is None and pn.parse_plan_name(e.name) is not None:
                self.names.setdefault(e.name.casefold(), []).append(e)

    def value(self, key: pn.PlanKey, role: str, label: str, *, unit: str = PLAIN,
              required: bool = True, as_text: bool = False) -> InputValue:
        """Locate, read and normalise one input; findings go to the plan."""
        sheet = self.sheets.get(role)
        if sheet is None:
            return EMPTY
        entries = self.names.get(key.name.casefold(), [])
        if not entries:
            if required:
                self.add(R.NAME_MISSING, sheet=sheet, name=key.name, subject=key.subject, label=label)
            return EMPTY
        dest = name_destination(self.book, entries[0].value)
        if len(entries) > 1:
            cell = None if dest is None else f"{column_letter(dest[2])}{dest[1]}"
            self.add(R.NAME_TWICE, sheet=sheet, cell=cell, name=key.name, subject=key.subject, label=label,
                     value=len(entries))
            return EMPTY if cell is None else InputValue(None, Source(sheet, cell, key.name), None)
        if dest is None:
            self.add(R.NAME_MISSING, sheet=sheet, name=key.name, subject=key.subject, label=label)
            return EMPTY
        if dest[0] != sheet:
            self.add(R.NAME_ELSEWHERE, sheet=sheet, name=key.name, subject=key.subject, label=label,
                     value=f"'{dest[0]}'!{column_letter(dest[2])}{dest[1]}", expected="—")
            return EMPTY
        cell = f"{column_letter(dest[2])}{dest[1]}"
        where = {"sheet": sheet, "cell": cell, "name": key.name, "subject": key.subject, "label": label}
        ws = self.book.sheet(sheet)
        raw, fmt, formula = ws.cell(dest[1], dest[2])
        source = Source(sheet, cell, key.name)
        why = ws.why_not_shown(dest[1], dest[2]) if raw is not None or formula is not None else None
        if why == "format":
            self.add(R.FORMAT_HIDES, **where)
        elif why is not None:
            self.add(R.NOT_SHOWN, **NOT_SHOWN[why], **where)
            return InputValue(None, source, None)
        if formula is not None:
            if raw is None:
                self.add(R.FORMULA_NO_VALUE, **where)
                return InputValue(None, source, raw)
            self.add(R.FORMULA_VALUE, value=formula[:60], normalised=raw, **where)
        if raw is None:
            return InputValue(None, source, None)
        norm = normalise_text(raw) if key.is_text or as_text else normalise_number(raw, fmt, unit)
        for note in norm.notes:
            self.add(note.code, value=note.value, **note.context, **where)
        return InputValue(norm.value, source, raw)

    def _choice(self, iv: InputValue, allowed: tuple[str, ...], code: str, label: str) -> InputValue:
        """A list cell: its value when the list offers it, else `code` and blank."""
        if iv.value is None:
            return iv
        text = unicodedata.normalize("NFKC", str(iv.value)).strip()
        if text in allowed:
            return InputValue(text, iv.source, iv.raw)
        assert iv.source is not None
        self.add(code, sheet=iv.source.sheet, cell=iv.source.cell, name=iv.source.name, label=label, value=iv.value)
        return InputValue(None, iv.source, iv.raw)

    # --- 施策と事業内容
    def _read_measures(self, rows: int, own: int) -> None:
        assert self.cat is not None and self.plan.branch_code is not None
        measures = self.cat.measures_for(self.plan.branch_code)
        ids = {m.id for m in measures}
        found = self.plan.prefilled.get("items")
        origins: dict[str, Any] = found if isinstance(found, dict) else {}
        blocks: list[tuple[str, bool]] = [(m.id, True) for m in measures]
        for pillar in sorted({m.pillar for m in measures}):
            blocks += [(pn.branch_measure_id(pillar, n), False) for n in range(1, own + 1)]
        for mid, catalogue in blocks:
            heading = self.value(pn.measure_key(mid, "heading"), pn.SHEET_MEASURES, f"{mid} 見出し")
            numbering = self.value(pn.measure_key(mid, "numbering"), pn.SHEET_MEASURES, f"{mid} 番号")
            group = self.value(pn.measure_key(mid, "group"), pn.SHEET_MEASURES, f"{mid} 担当グループ")
            focus = self.value(pn.measure_key(mid, "focus"), pn.SHEET_MEASURES, f"{mid} 重点")
            covered_by = None
            if catalogue:
                cov = self.value(pn.measure_key(mid, "covered"), pn.SHEET_MEASURES, f"{mid} 記載先")
                text = None if cov.value is None else unicodedata.normalize("NFKC", str(cov.value)).strip()
                if text and text != COVERED_HERE:
                    target = text.split(" ", 1)[0]
                    if target in ids and target != mid:
                        covered_by = target
                    else:
                        assert cov.source is not None
                        self.add("P105", sheet=cov.source.sheet, cell=cov.source.cell, name=cov.source.name,
                                 label=mid, value=cov.value)
            items: list[PlanItem] = []
            listed = origins.get(mid)
            mine: list[Any] = listed if isinstance(listed, list) else []
            for n in range(1, rows + 1):
                got = {f: self.value(pn.item_key(mid, n, f), pn.SHEET_MEASURES, f"{mid} 事業内容 {n}行目の{f}")
                       for f in pn.ITEM_FIELDS}
                if all(got[f].value is None for f in ("text", "sub", "level")):
                    continue
                flag = self._choice(got["flag"], ITEM_FLAGS, "P106", f"{mid} 事業内容 {n}行目")
                origin = mine[n - 1] if n - 1 < len(mine) and isinstance(mine[n - 1], str) else None
                items.append(PlanItem(len(items) + 1, got["text"], got["level"], got["sub"], got["group"], flag,
                                      origin))
            if not catalogue and heading.value is None and not items:
                continue  # an unused block for the branch's own measure
            self.plan.measures[mid] = PlanMeasure(mid, numbering, heading, group, focus.value is not None,
                                                  covered_by, tuple(items))

    # --- 年間目標
    def _read_kpis(self) -> None:
        assert self.cat is not None and self.plan.branch_code is not None and self.plan.fiscal_year is not None
        pops: dict[str, InputValue] = {}
        for kpi in self.cat.kpis_for(self.plan.fiscal_year, self.plan.branch_code):
            self.plan.kpis[kpi.id] = self._kpi(kpi, pops)

    def _kpi(self, kpi: Kpi, pops: dict[str, InputValue]) -> PlanKpi:
        s = pn.SHEET_KPIS
        reason = self.value(pn.kpi_key(kpi.id, "reason"), s, f"{kpi.id} 目標の考え方")
        if kpi.kind == "qualitative":
            target = self.value(pn.kpi_key(kpi.id, "target"), s, f"{kpi.id} 目標", as_text=True)
            return PlanKpi(kpi.id, "text", target, reason=reason)
        unit = PERCENT if kpi.is_percent else PLAIN
        kind_iv = self.value(pn.kpi_key(kpi.id, "kind"), s, f"{kpi.id} 目標の種類")
        target = self.value(pn.kpi_key(kpi.id, "target"), s, f"{kpi.id} 年間目標", unit=unit)
        kind = "value"
        if kind_iv.value is not None:
            text = unicodedata.normalize("NFKC", str(kind_iv.value)).strip()
            allowed = ("数値", "対前年度以上" if kpi.direction == ">=" else "対前年度以下")
            if text in allowed:
                kind = KIND_OF_TEXT[text]
            else:
                assert kind_iv.source is not None
                self.add("P103", sheet=kind_iv.source.sheet, cell=kind_iv.source.cell, name=kind_iv.source.name,
                         label=f"{kpi.id} {kpi.short_label}", value=kind_iv.value, expected="・".join(allowed))
                target = InputValue(None, target.source, target.raw)
        expected = self.value(pn.kpi_key(kpi.id, "expected"), s, f"{kpi.id} 前年度の見込み・実績", unit=unit)
        status = self._choice(self.value(pn.kpi_key(kpi.id, "expected_status"), s, f"{kpi.id} 前年度の見込み・実績の区分"),
                              EXPECTED_STATUSES, "P104", f"{kpi.id} {kpi.short_label}")
        as_of = self.value(pn.kpi_key(kpi.id, "expected_as_of"), s, f"{kpi.id} 時点・注記")
        population = planned = EMPTY
        if kpi.plan is not None and kpi.plan.takes_counts:
            shared = kpi.plan.shared_with
            if shared and shared in pops:
                population = pops[shared]
            else:
                population = self.value(pn.kpi_key(kpi.id, "pop"), s, f"{kpi.id} {kpi.plan.population_label}")
                pops[kpi.id] = population
            planned = self.value(pn.kpi_key(kpi.id, "planned"), s, f"{kpi.id} {kpi.plan.planned_label}")
        return PlanKpi(kpi.id, kind, target, expected, status, as_of, population, planned, (), reason)


def plan_text(plan: PlanSubmission) -> str:
    """A short human summary of a read plan (what `kpisheet plan read` prints without --json): the year in
    和暦, each KPI's target as the plan prints it, its 対象者数 / 見込者数, and how many activities each
    measure has."""
    from kpisheet.domain.fiscal import jst_text, wareki_fiscal_year
    from kpisheet.plan.template import plan_sentence

    year = f"{wareki_fiscal_year(plan.fiscal_year)}（FY{plan.fiscal_year}）" if plan.fiscal_year else "年度不明"
    lines = [f"{Path(plan.path).name}: {plan.branch_name or '—'}（{plan.branch_code}） {year} 事業計画 "
             f"第{plan.term}期 様式v{plan.plan_template_version}",
             f"  保存: {jst_text(plan.saved_at) or '—'}（日本時間） / {plan.saved_by or '—'}",
             f"  記入者: {plan.preparer or '—'} / 連絡先: {plan.contact or '—'}"]
    cat = load_catalogue(plan.term) if plan.term else None
    for k in plan.kpis.values():
        kpi = cat.kpi(k.kpi_id) if cat is not None and cat.has_kpi(k.kpi_id) else None
        sentence = plan_sentence(kpi, k.kind, k.target.value) if kpi is not None else str(k.target.value)
        counts = ""
        if k.population.value is not None or k.planned.value is not None:
            counts = f"（対象者数 {_figure(k.population.value)}・見込者数 {_figure(k.planned.value)}）"
        lines.append(f"  {k.kpi_id}  {sentence or '目標なし'}{counts}")
    written = sum(1 for m in plan.measures.values() if m.items)
    covered = sum(1 for m in plan.measures.values() if m.covered_by)
    items = sum(len(m.items) for m in plan.measures.values())
    lines.append(f"  施策: {len(plan.measures)}（事業内容あり {written}・他の施策に記載 {covered}）、事業内容 {items}行")
    return "\n".join(lines)


def _figure(v: Any) -> str:
    from kpisheet.domain.display import format_figure

    return format_figure(v) if isinstance(v, (int, float)) else "—" if v is None else str(v)
