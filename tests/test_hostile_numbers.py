"""Hostile numbers, clocks and names, in a real monthly run (README, "Reliability: hostile inputs and faults").

Each case builds the odd workbook, CSV or inbox inline, runs the month through the library
(consolidate, then write_outputs) or the CLI, and asserts the finding (code and cell or line),
the branch's status, that the run went on, and that the national figures are those of the same
inbox without the refused value.  The property test at the end feeds consolidation generated
numbers of every kind (nan, ±inf, 9E+307, 1E-300, negatives) and asserts it never raises and
states only finite numbers.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sqlite3
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpisheet import ledger as led
from kpisheet.check.rules.identity import CLOCK_TOLERANCE, saved_in_future
from kpisheet.check.validation import validate, validate_submission
from kpisheet.cli import cli
from kpisheet.consolidate.model import STATUS_ERRORS, STATUS_OK, STATUS_UNREADABLE, Consolidation
from kpisheet.consolidate.build import build_consolidation
from kpisheet.domain.catalogue import INPUT_CEILING, catalogue_for_fy
from kpisheet.domain.display import printable
from kpisheet.domain.findings import KpisheetError
from kpisheet.domain.model import InputValue
from kpisheet.domain.ratings import RATIO_CEILING
from kpisheet.domain.settings import example_settings
from kpisheet.month import consolidate
from kpisheet.read.reader import read_workbook
from kpisheet.write.csvout import csv_rows
from kpisheet.write.outputs import write_outputs

from .consolidate_helpers import den, field, num, sample_inbox, val
from .helpers import rewrite_zip

FY, MONTH, KEY = 2024, date(2024, 9, 1), "2024-09"
GOOD, BAD = "10", "11"
COUNT, RATE, YEN = "K6-2-07", "K6-2-01", "K6-1-04"


def _inbox(tmp_path: Path, edits: dict[str, dict[str, Any]] | None = None, name: str = "inbox") -> Path:
    sample_inbox(tmp_path, tmp_path / name, FY, [GOOD, BAD], MONTH, edits)
    return tmp_path / name


def _run(inbox: Path, out: Path) -> Consolidation:
    cons = consolidate(inbox, fiscal_year=FY, month=MONTH, settings=example_settings())
    write_outputs(cons, out, force=False)
    assert (out / f"national_FY{FY}_{KEY}.xlsx").is_file()
    return cons


def _status(cons: Consolidation, code: str) -> str:
    return next(s.status for s in cons.statuses if s.code == code)


def _found(cons: Consolidation, code: str) -> list[tuple[str | None, str | None, str | None]]:
    """(branch, cell, defined name) of every finding with `code`."""
    return sorted((f.branch, f.cell, f.name) for f in cons.findings if f.code == code)


def _cell_of(cons: Consolidation, branch: str, name: str) -> str:
    sub = next(s for s in cons.submissions if s.branch_code == branch)
    for entry in sub.kpis.values():
        for iv in [entry.target, entry.baseline, *(x for m in entry.months.values()
                                                     for x in (m.numerator, m.denominator, m.value))]:
            if iv.source is not None and iv.source.name == name:
                return iv.source.cell
    raise AssertionError(name)


def _all_finite(cons: Consolidation) -> None:
    """Every number the consolidation states, and every number of the analysts' CSV, is finite."""
    numbers: list[Any] = []
    for mv in [*cons.month_values.values(), *cons.national_months.values()]:
        numbers += [mv.numerator, mv.denominator, mv.value, mv.annual_target, mv.rating.effective_target]
    for bk in [*cons.branch_kpis.values(), *cons.national.values()]:
        numbers += [getattr(bk, a, None) for a in ("value", "numerator", "denominator", "annual_target",
                                                     "achievement", "progress", "baseline")]
    for row in csv_rows(cons):
        numbers += [v for v in row if isinstance(v, float)]
    bad = [v for v in numbers if isinstance(v, float) and not math.isfinite(v)]
    assert not bad, bad


# ------------------------------------------------------------------ numbers
def test_9e307_typed_by_two_branches_is_refused_at_its_cells_and_the_month_goes_on(tmp_path: Path):
    huge = 9e307
    edits = {c: {val(COUNT, MONTH): huge, num(RATE, MONTH): huge, den(RATE, MONTH): huge} for c in (GOOD, BAD)}
    cons = _run(_inbox(tmp_path, edits), tmp_path / "out")
    names = [val(COUNT, MONTH), num(RATE, MONTH), den(RATE, MONTH)]
    assert _found(cons, "E411") == sorted((c, _cell_of(cons, c, n), n) for c in (GOOD, BAD) for n in names)
    assert _status(cons, GOOD) == _status(cons, BAD) == STATUS_ERRORS
    for c in (GOOD, BAD):
        assert cons.month_values[(c, COUNT, KEY)].status == "excluded"
        assert cons.month_values[(c, RATE, KEY)].status == "excluded"
    _all_finite(cons)
    text = (tmp_path / "out" / f"kpi_values_FY{FY}_{KEY}.csv").read_text(encoding="utf-8-sig")
    assert not re.search(r"(?i)\b(inf|nan)\b", text)
    # validate says what consolidate does: the same refusals, before anything is written
    checked = validate([_inbox(tmp_path, edits, "again")], fiscal_year=FY, as_of=MONTH)
    assert sorted((f.branch, f.cell, f.name) for f in checked.findings if f.code == "E411") == _found(cons, "E411")


@pytest.mark.parametrize("stored", ["NaN", "-1E+999", "inf"])
def test_a_non_finite_number_stored_in_a_cell_is_refused_at_its_cell(stored: str, tmp_path: Path):
    import zipfile

    from kpisheet.read import names as nm
    from kpisheet.read.xlsx_read import Book

    inbox = _inbox(tmp_path)
    src = next(inbox.glob(f"{BAD}_*.xlsx"))
    name = val(COUNT, MONTH)
    with Book(src) as book:
        part = next(e.part for e in book.sheet_entries if e.title == nm.SHEET_KPI)
        ref = book.defined_names[name].split("!")[1].replace("$", "")
    with zipfile.ZipFile(src) as z:
        xml = z.read(part).decode("utf-8")
    body, n = re.subn(rf'<c r="{ref}"([^>]*?)(?:/>|>.*?</c>)', rf'<c r="{ref}"\1><v>{stored}</v></c>', xml,
                      count=1, flags=re.S)
    assert n == 1
    src.write_bytes(rewrite_zip(src, tmp_path / "x.xlsx", {part: body.encode("utf-8")}).read_bytes())
    blank = _run(_inbox(tmp_path, {BAD: {name: None}}, "blank"), tmp_path / "o2")
    cons = _run(inbox, tmp_path / "out")
    assert [(f.code, f.cell) for f in cons.findings if f.branch == BAD and f.code == "E304"] == [("E304", ref)]
    assert cons.month_values[(BAD, COUNT, KEY)].status == "excluded"
    assert _status(cons, BAD) == STATUS_ERRORS and _status(cons, GOOD) == STATUS_OK
    assert cons.national_months[(COUNT, KEY)].value == blank.national_months[(COUNT, KEY)].value
    _all_finite(cons)


def test_an_absurd_count_is_set_aside_and_the_national_figure_is_that_of_the_others(tmp_path: Path):
    ceiling = catalogue_for_fy(FY).kpi(COUNT).input_ceiling
    assert ceiling == 3_000_000  # the catalogue's ceiling (templates/catalogue_term6.json, with its note)
    absurd = _run(_inbox(tmp_path, {BAD: {val(COUNT, MONTH): 5_000_000}}, "absurd"), tmp_path / "o1")
    blank = _run(_inbox(tmp_path, {BAD: {val(COUNT, MONTH): None}}, "blank"), tmp_path / "o2")
    assert _found(absurd, "E411") == [(BAD, _cell_of(absurd, BAD, val(COUNT, MONTH)), val(COUNT, MONTH))]
    assert _status(absurd, BAD) == STATUS_ERRORS and _status(absurd, GOOD) == STATUS_OK
    assert absurd.month_values[(BAD, COUNT, KEY)].status == "excluded"
    assert absurd.national_months[(COUNT, KEY)].value == blank.national_months[(COUNT, KEY)].value
    assert absurd.national_months[(COUNT, KEY)].value < ceiling
    assert absurd.national[COUNT].value == blank.national[COUNT].value


def test_a_count_at_its_ceiling_is_kept(tmp_path: Path):
    cons = _run(_inbox(tmp_path, {BAD: {val(COUNT, MONTH): 3_000_000}}), tmp_path / "out")
    assert "E411" not in {f.code for f in cons.findings}
    assert cons.month_values[(BAD, COUNT, KEY)].value == 3_000_000


def test_a_tiny_target_gives_a_finite_pace_and_achievement(tmp_path: Path):
    cons = _run(_inbox(tmp_path, {BAD: {field(COUNT, "target"): 1e-300}}), tmp_path / "out")
    bk = cons.branch_kpis[(BAD, COUNT)]
    assert bk.annual_target == 1e-300
    assert bk.progress is None or bk.progress <= RATIO_CEILING
    assert bk.achievement is None or bk.achievement <= RATIO_CEILING
    assert _status(cons, GOOD) == STATUS_OK
    _all_finite(cons)


def test_a_denominator_too_small_for_a_rate_is_refused(tmp_path: Path):
    name = den(YEN, MONTH)
    cons = _run(_inbox(tmp_path, {BAD: {name: 1e-300}}), tmp_path / "out")
    assert _found(cons, "E412") == [(BAD, _cell_of(cons, BAD, name), name)]
    assert "W419" not in {f.code for f in cons.findings if f.branch == BAD and f.subject == YEN}
    assert cons.month_values[(BAD, YEN, KEY)].status == "excluded"
    assert _status(cons, BAD) == STATUS_ERRORS
    _all_finite(cons)


def test_validate_and_consolidate_agree_on_a_refused_value_on_the_command_line(tmp_path: Path):
    inbox = _inbox(tmp_path, {BAD: {val(COUNT, MONTH): 9e307}})
    checked = CliRunner().invoke(cli, ["validate", str(inbox), "--fy", str(FY)])
    assert checked.exit_code == 1 and "E411" in checked.output, checked.output
    ran = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", str(FY), "--month", KEY,
                                   "-o", str(tmp_path / "out"), "--ledger", str(tmp_path / "l.sqlite")])
    assert ran.exit_code == 0, ran.output
    assert "予期しないエラー" not in ran.output
    assert (tmp_path / "out" / f"national_FY{FY}_{KEY}.xlsx").is_file()


# ------------------------------------------------------------------ ledger import
def _history(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["branch_code", "branch_name", "kpi_id", "month", "numerator", "denominator", "value", "status"])
        w.writerows(rows)
    return path


def _values_in(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    with sqlite3.connect(ledger) as conn:
        return int(conn.execute("SELECT count(*) FROM kpi_values").fetchone()[0])


def test_ledger_import_refuses_impossible_figures_naming_each_line(tmp_path: Path):
    src = _history(tmp_path / "h.csv", [
        ("11", "埼玉支部", "K5-1-02", "2023-10", 900, 1000, 90.0, "ok"),          # line 2: fine
        ("11", "埼玉支部", "K5-1-02", "2023-11", "nan", 1000, 90.0, "ok"),        # 3: nan
        ("12", "千葉支部", "K5-1-02", "2023-11", 900, "inf", 90.0, "ok"),         # 4: inf
        ("13", "東京支部", "K5-2-07", "2023-11", "", "", -5, "ok"),               # 5: a negative count
        ("14", "神奈川支部", "K5-1-02", "2023-11", 1500, 1000, 150.0, "ok"),      # 6: 150%
        ("15", "新潟支部", "K5-2-07", "2023-11", "", "", 9e307, "ok"),            # 7: beyond the ceiling
        ("16", "富山支部", "K5-1-02", "2023-11", "-inf", 1000, 90.0, "ok")])      # 8: -inf
    result = CliRunner().invoke(cli, ["ledger", "import", str(src), "--ledger", str(tmp_path / "l.sqlite")])
    assert result.exit_code == 1
    assert re.findall(r"L110 エラー: 【(\d+)行目】", result.output) == ["3", "4", "5", "6", "7", "8"]
    assert "Traceback" not in result.output and "予期しないエラー" not in result.output
    assert _values_in(tmp_path / "l.sqlite") == 0


def test_ledger_import_refuses_a_year_that_is_not_over(tmp_path: Path):
    src = _history(tmp_path / "h.csv", [("11", "埼玉支部", "K6-1-02", "2024-10", 900, 1000, 90.0, "ok")])
    with led.opened(tmp_path / "l.sqlite", create=True) as book:
        with pytest.raises(KpisheetError) as refused:
            led.import_values(book, src, today=date(2025, 3, 31))  # FY2024 ends on 31 March 2025
        assert [(f.code, f.context["fiscal_year"]) for f in refused.value.findings] == [("L111", 2024)]
        assert led.import_values(book, src, today=date(2025, 4, 1)).added == 1


def test_ledger_import_refuses_a_year_the_ledger_consolidates(tmp_path: Path):
    inbox = _inbox(tmp_path)
    ledger = tmp_path / "l.sqlite"
    ran = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", str(FY), "--month", KEY,
                                   "-o", str(tmp_path / "out"), "--ledger", str(ledger)])
    assert ran.exit_code == 0, ran.output
    before = _values_in(ledger)
    src = _history(tmp_path / "h.csv", [(BAD, "埼玉支部", "K6-1-02", "2024-09", 1, 1000, 0.1, "ok")])
    result = CliRunner().invoke(cli, ["ledger", "import", str(src), "--ledger", str(ledger)])
    assert result.exit_code == 1 and "L111" in result.output and "この台帳がこの年度を集計" in result.output
    assert _values_in(ledger) == before  # no figure a branch never sent stands as its revision


# ------------------------------------------------------------------ clocks
def _saved_at(src: Path, dst: Path, when: str) -> Path:
    import zipfile

    with zipfile.ZipFile(src) as z:
        core = z.read("docProps/core.xml").decode("utf-8")
    core, n = re.subn(r"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rf"\g<1>{when}\g<2>", core)
    assert n == 1
    return rewrite_zip(src, dst, {"docProps/core.xml": core.encode("utf-8")})


def _mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_a_file_saved_in_2099_wins_nothing_and_is_not_late(tmp_path: Path):
    clean = _inbox(tmp_path, name="clean")
    bad_clean = next(clean.glob(f"{BAD}_*.xlsx"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = inbox / next(clean.glob(f"{GOOD}_*.xlsx")).name
    good.write_bytes(next(clean.glob(f"{GOOD}_*.xlsx")).read_bytes())
    stale = _saved_at(bad_clean, inbox / bad_clean.name.replace(".xlsx", "_誤り.xlsx"), "2099-01-01T00:00:00Z")
    corrected = _saved_at(bad_clean, inbox / bad_clean.name.replace(".xlsx", "_修正版.xlsx"), "2024-10-08T01:00:00Z")
    _mtime(stale, datetime(2024, 10, 3, 9, 0, tzinfo=timezone.utc))
    _mtime(corrected, datetime(2024, 10, 8, 10, 0, tzinfo=timezone.utc))
    _mtime(good, datetime(2024, 10, 7, 10, 0, tzinfo=timezone.utc))
    cons = _run(inbox, tmp_path / "out")
    assert [(f.file, f.value) for f in cons.findings if f.code == "W423"] == [(str(stale), "2099-01-01 09:00")]
    assert cons.used[BAD] == str(corrected)
    assert [f.file for f in cons.findings if f.code == "W207"] == [str(stale)]
    status = next(s for s in cons.statuses if s.code == BAD)
    assert status.late is False  # deadline 10 October 2024: neither 2099 nor the mtime of 3 October is late


def test_a_lone_file_saved_in_the_future_is_judged_by_its_file_time(tmp_path: Path):
    clean = _inbox(tmp_path, name="clean")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in clean.glob("*.xlsx"):
        dst = _saved_at(p, inbox / p.name, "2099-12-31T00:00:00Z") if p.name.startswith(BAD) else inbox / p.name
        if not dst.exists():
            dst.write_bytes(p.read_bytes())
        _mtime(dst, datetime(2024, 10, 4, 9, 0, tzinfo=timezone.utc))
    cons = _run(inbox, tmp_path / "out")
    assert {f.branch for f in cons.findings if f.code == "W423"} == {BAD}
    assert _status(cons, BAD) == STATUS_OK  # a warning: the values count
    assert next(s for s in cons.statuses if s.code == BAD).late is False


def test_the_clock_tolerance_absorbs_a_few_minutes():
    from kpisheet.domain.model import Submission

    now = datetime(2024, 10, 8, 12, 0, tzinfo=timezone.utc)
    sub = Submission("x.xlsx", "", None, None, None, None, None, None)
    for minutes, future in ((0, False), (9, False), (11, True), (60 * 24 * 365, True)):
        at = now + CLOCK_TOLERANCE * minutes / 10
        sub.saved_at = at.isoformat()
        assert saved_in_future(sub, now) is future, minutes


# ------------------------------------------------------------------ names
def test_a_folder_named_like_a_workbook_is_w101_and_not_entered(tmp_path: Path):
    inbox = _inbox(tmp_path)
    folder = inbox / f"{BAD}_埼玉支部_展開.xlsx"
    (folder / "xl").mkdir(parents=True)
    (folder / "xl" / "workbook.xml").write_text("<workbook/>", encoding="utf-8")
    cons = _run(inbox, tmp_path / "out")
    assert [(f.code, f.file) for f in cons.findings if f.code == "W101"] == [("W101", str(folder))]
    assert "フォルダ" in next(f for f in cons.findings if f.code == "W101").message_ja
    assert _status(cons, BAD) == _status(cons, GOOD) == STATUS_OK


def test_control_characters_in_a_file_name_reach_the_terminal_escaped(tmp_path: Path):
    inbox = _inbox(tmp_path)
    src = next(inbox.glob(f"{BAD}_*.xlsx"))
    hostile = src.with_name(f"{BAD}_\x1b[2J\x1b[31m赤\r\u202eスキーム.xlsx")
    src.rename(hostile)
    (inbox / "メモ\x07.txt").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(inbox), "--fy", str(FY)])
    shown = result.output  # stdout and stderr as the terminal shows them
    assert "W101" in shown
    for raw in ("\x1b", "\r", "\u202e", "\x07"):
        assert raw not in shown, repr(raw)
    assert "\\u001b[2J\\u001b[31m赤\\u000d\\u202eスキーム" in shown and "メモ\\u0007.txt" in shown


def test_printable_keeps_japanese_and_layout_and_escapes_the_rest():
    assert printable("11_埼玉支部　確認.xlsx\n\tok") == "11_埼玉支部　確認.xlsx\n\tok"
    assert printable("a\x1b[0mb\x00c\x7f\u2028") == "a\\u001b[0mb\\u0000c\\u007f\\u2028"
    name = "11_\x7f\u202e.xlsx"
    assert json.loads(printable(json.dumps({"file": name}, ensure_ascii=False))) == {"file": name}


def test_an_inbox_of_unreadable_files_gives_each_branch_its_status(tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / f"{BAD}_埼玉支部_KPI_2024年度.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (inbox / f"{GOOD}_群馬支部.xlsx").write_bytes(b"garbage")
    cons = _run(inbox, tmp_path / "out")
    assert _status(cons, BAD) == _status(cons, GOOD) == STATUS_UNREADABLE
    assert (tmp_path / "out" / "feedback").is_dir() and len(list((tmp_path / "out" / "feedback").iterdir())) == 2
    result = CliRunner().invoke(cli, ["consolidate", str(inbox), "--fy", str(FY), "--month", KEY,
                                      "-o", str(tmp_path / "cli"), "--ledger", str(tmp_path / "l.sqlite")])
    assert result.exit_code == 0, result.output
    assert "受信箱のブックは" not in result.output and "提出あり・読込不可 2" in result.output


# ------------------------------------------------------------------ property: consolidation never raises
_ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([9e307, -9e307, 1e-300, 5e-324, 0.0, -0.0, INPUT_CEILING, INPUT_CEILING * 1.01, 1e15]),
    st.floats(min_value=0, max_value=1e7),
    st.none())


@pytest.fixture(scope="module")
def read_pair(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    root = tmp_path_factory.mktemp("pair")
    sample_inbox(root, root / "inbox", FY, [GOOD, BAD], MONTH)
    return [read_workbook(p) for p in sorted((root / "inbox").glob("*.xlsx"))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(values=[(RATE, "target", 0, 101.0)], hq={(GOOD, RATE): 9.090909090909097e+26})  # found: ◎ line of 1E+26
@given(values=st.lists(st.tuples(st.sampled_from([COUNT, RATE, YEN, "K6-3-01", "K6-2-12"]),
                                 st.sampled_from(["num", "den", "val", "target", "baseline"]),
                                 st.sampled_from([0, 1]), _ANY_NUMBER), min_size=1, max_size=12),
       hq=st.dictionaries(st.sampled_from([(BAD, COUNT), (GOOD, RATE), ("ALL", COUNT)]), _ANY_NUMBER.filter(
           lambda v: v is not None), max_size=3))
def test_no_consolidation_of_finite_or_refused_inputs_raises(read_pair: list[Any], values: list[Any], hq: dict):
    cat = catalogue_for_fy(FY)
    subs = []
    for i, original in enumerate(read_pair):
        kpis = {k: replace(e, months={m: replace(km) for m, km in e.months.items()}) for k, e in original.kpis.items()}
        sub = replace(original, kpis=kpis, findings=list(original.findings))
        for kpi_id, what, who, v in values:
            if who != i or kpi_id not in sub.kpis:
                continue
            entry = sub.kpis[kpi_id]
            if what in ("target", "baseline"):
                setattr(entry, what, InputValue(v, getattr(entry, what).source))
            elif KEY in entry.months:
                km = entry.months[KEY]
                attr = {"num": "numerator", "den": "denominator", "val": "value"}[what]
                setattr(km, attr, InputValue(v, getattr(km, attr).source))
        subs.append(sub)
    findings = [f for s in subs for f in [*s.findings, *validate_submission(s, cat, fiscal_year=FY, as_of=MONTH)]]
    cons = build_consolidation(subs, findings, fiscal_year=FY, month=MONTH, baselines=hq, targets=hq)
    assert not [f.context for f in cons.findings if f.code in ("E190", "E110")]
    _all_finite(cons)
