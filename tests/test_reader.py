"""read_workbook: generate → fill → read returns what was filled, however the workbook was treated."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.model import InputValue, Submission
from kpisheet.read import names as nm
from kpisheet.domain.model import is_readable
from kpisheet.read.reader import read_workbook
from tests import helpers as h
from tests.builders.sample import sample_values

FY = h.FY
CAT = catalogue_for_fy(FY)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.make_template(tmp_path_factory.mktemp("tpl"), FY, "10")


def filled_values() -> dict[str, Any]:
    """Every input kind: percent / yen / count targets and baselines, monthly num/den/val, texts, ratings."""
    values = sample_values(CAT, FY, "10", date(2025, 3, 1))
    values["in_K6_1_02_baseline"] = 0.957  # percent baseline stored as a fraction
    values["in_K6_1_04_baseline"] = 8364.0  # yen
    values["in_K6_2_12_baseline"] = 2100.0  # count
    values["in_M_6_1_I_1_note"] = "備考：=SUM(A1) はただの文字"
    values["in_M_6_1_I_issue"] = "課題の文章"
    return values


def expected(name: str, value: Any) -> Any:
    key = nm.parse_name(name)
    assert key is not None
    if key.kind == "kpi" and key.field in ("target", "baseline") and CAT.kpi(key.subject).is_percent:
        return pytest.approx(value * 100)
    return value


def lookup(sub: Submission, name: str) -> InputValue:
    key = nm.parse_name(name)
    assert key is not None
    if key.kind == "kpi":
        entry = sub.kpis[key.subject]
        if key.month is not None:
            m = entry.months[f"{key.month:%Y-%m}"]
            return {"num": m.numerator, "den": m.denominator, "val": m.value}[key.field]
        return getattr(entry, key.field)
    entry = sub.measures[key.subject]
    if key.field == "issue":
        return entry.issue
    return getattr(entry.rows[key.n - 1], key.field)


def assert_reads_back(sub: Submission, values: dict[str, Any], path: Path) -> None:
    for name, value in values.items():
        iv = lookup(sub, name)
        assert iv.value == expected(name, value), name
        assert iv.source is not None and (iv.source.sheet, iv.source.cell) == h.cell_of(path, name), name


def codes(sub: Submission) -> list[str]:
    return sorted({f.code for f in sub.findings})


# ------------------------------------------------------------------ round trips
def test_never_opened_template_reads_clean(template: Path) -> None:
    sub = read_workbook(template)
    assert sub.findings == []
    assert (sub.fiscal_year, sub.branch_code, sub.term, sub.template_version) == (FY, "10", 6, 1)
    assert sub.catalogue_digest and CAT.digest.startswith(sub.catalogue_digest[:12])
    assert sub.saved_by and sub.saved_at
    assert set(sub.kpis) == {k.id for k in CAT.kpis_for(FY, "10")}
    assert len(sub.measures) == len(CAT.measures_for("10"))  # the measures 本部 alone carries out are not asked


def test_round_trip_every_input_kind(tmp_path: Path, template: Path) -> None:
    values = filled_values()
    path = h.fill(template, tmp_path / template.name, values)
    sub = read_workbook(path)
    assert sub.findings == []
    assert_reads_back(sub, values, path)
    assert sub.kpis["K6-1-02"].baseline.raw == 0.957


def test_sheet_renamed_with_names_following(tmp_path: Path, template: Path) -> None:
    """What Excel and LibreOffice do: names follow the rename (LibreOffice also drops the quotes)."""
    values = {"in_K6_2_01_num_202404": 100.0, "in_M_6_1_I_1_text": "実施"}

    def rename(wb: openpyxl.Workbook) -> None:
        wb[nm.SHEET_KPI].title = "KPI入力(群馬)"
        wb[nm.SHEET_MEASURES].title = "取組"
        for dn in wb.defined_names.values():
            dn.value = dn.value.replace(f"'{nm.SHEET_KPI}'", "KPI入力(群馬)").replace(f"'{nm.SHEET_MEASURES}'", "取組")

    path = h.edit(h.fill(template, tmp_path / "f.xlsx", values), tmp_path / "10_renamed.xlsx", rename)
    sub = read_workbook(path)
    assert sub.findings == []
    assert sub.kpis["K6-2-01"].months["2024-04"].numerator.source.sheet == "KPI入力(群馬)"
    assert lookup(sub, "in_M_6_1_I_1_text").value == "実施"


def test_rows_inserted_by_a_tool_that_keeps_names_is_e312(tmp_path: Path, template: Path) -> None:
    """openpyxl inserts rows without moving the defined names (Excel and LibreOffice move them).

    The names then point three rows above the cells their hidden keys mark: names and keys
    disagree, so which cell holds the value is not guessed — E312 at the cell the keys say,
    value not used.  Inputs above the inserted rows are untouched.
    """
    values = {"in_K6_2_01_num_202404": 100.0, "in_K6_2_01_den_202404": 400.0, "in_K6_2_01_target": 0.5,
              "in_K6_1_01_target": 0.6}
    path = h.edit(h.fill(template, tmp_path / "f.xlsx", values), tmp_path / "10_inserted.xlsx",
                  lambda wb: wb[nm.SHEET_KPI].insert_rows(15, 3))
    sub = read_workbook(path)

    def moved(name: str) -> str:
        cell = h.cell_of(template, name)[1]
        return f"{re.sub(r'[0-9]', '', cell)}{int(re.sub(r'[A-Z]', '', cell)) + 3}"

    for name in ("in_K6_2_01_num_202404", "in_K6_2_01_den_202404", "in_K6_2_01_target"):
        assert lookup(sub, name).value is None, name
        got = [(f.code, f.sheet, f.cell, f.context["expected"]) for f in sub.findings if f.name == name]
        assert got == [("E312", nm.SHEET_KPI, moved(name), f"'{nm.SHEET_KPI}'!${moved(name)[0]}${moved(name)[1:]}")]
    assert int(re.sub(r"[A-Z]", "", h.cell_of(template, "in_K6_1_01_target")[1])) < 15
    assert lookup(sub, "in_K6_1_01_target").value == pytest.approx(60.0)
    assert codes(sub) == ["E312"]
    assert all(f.sheet == nm.SHEET_KPI and int(re.sub(r"[A-Z]", "", f.cell)) >= 18 for f in sub.findings)


def test_deleted_name_found_by_keys(tmp_path: Path, template: Path) -> None:
    def drop(wb: openpyxl.Workbook) -> None:
        del wb.defined_names["in_K6_2_07_val_202406"]

    path = h.edit(h.fill(template, tmp_path / "f.xlsx", {"in_K6_2_07_val_202406": 1170.0}),
                  tmp_path / "10_noname.xlsx", drop)
    sub = read_workbook(path)
    _, cell = h.cell_of(template, "in_K6_2_07_val_202406")
    assert [(f.code, f.cell) for f in sub.findings] == [("W302", cell)]
    assert lookup(sub, "in_K6_2_07_val_202406").value == 1170.0


def test_removed_input_is_e301(tmp_path: Path, template: Path) -> None:
    """Name broken (#REF!) and its key row gone: the input is reported as removed."""
    def remove(wb: openpyxl.Workbook) -> None:
        ws = wb[nm.SHEET_KPI]
        _, cell = h.cell_of(template, "in_K6_2_07_target")
        row = int(re.sub(r"[A-Z]", "", cell))
        ws.cell(row, 1).value = None
        wb.defined_names["in_K6_2_07_target"].value = "#REF!"

    sub = read_workbook(h.edit(template, tmp_path / "10_removed.xlsx", remove))
    e301 = [f for f in sub.findings if f.code == "E301"]
    assert [(f.name, f.sheet) for f in e301] == [("in_K6_2_07_target", nm.SHEET_KPI)]
    assert is_readable(sub)


def test_missing_sheet_is_one_e303(tmp_path: Path, template: Path) -> None:
    def drop(wb: openpyxl.Workbook) -> None:
        del wb[nm.SHEET_MEASURES]
        for name in [n for n in wb.defined_names if n.startswith("in_M_")]:
            wb.defined_names[name].value = "#REF!"

    sub = read_workbook(h.edit(template, tmp_path / "10_nosheet.xlsx", drop))
    assert [(f.code, f.value) for f in sub.findings] == [("E303", nm.SHEET_MEASURES)]


def test_typed_text_dates_and_full_width(tmp_path: Path, template: Path) -> None:
    values = {"in_K6_2_01_num_202404": "abc", "in_K6_2_01_den_202404": "９６，５００",
              "in_K6_2_07_val_202404": "1,170事業所", "in_K6_1_04_baseline": "8,364円",
              "in_K6_2_11_target": "96.5%", "in_K6_2_01_num_202405": datetime(2024, 5, 1)}
    path = h.fill(template, tmp_path / "10_typed.xlsx", values)
    sub = read_workbook(path)
    got = {(f.code, f.cell) for f in sub.findings}
    cell = lambda n: h.cell_of(template, n)[1]  # noqa: E731
    assert got == {("E304", cell("in_K6_2_01_num_202404")), ("W305", cell("in_K6_2_01_den_202404")),
                   ("W305", cell("in_K6_2_07_val_202404")), ("W305", cell("in_K6_1_04_baseline")),
                   ("W305", cell("in_K6_2_11_target")), ("E310", cell("in_K6_2_01_num_202405"))}
    assert lookup(sub, "in_K6_2_01_num_202404").value is None
    assert lookup(sub, "in_K6_2_01_num_202404").raw == "abc"
    assert lookup(sub, "in_K6_2_01_den_202404").value == 96500.0
    assert lookup(sub, "in_K6_2_07_val_202404").value == 1170.0
    assert lookup(sub, "in_K6_1_04_baseline").value == 8364.0
    assert lookup(sub, "in_K6_2_11_target").value == 96.5


def test_points_typed_into_percent_cell_is_ambiguous(tmp_path: Path, template: Path) -> None:
    path = h.fill(template, tmp_path / "10_pts.xlsx", {"in_K6_2_11_target": 96.5})
    sub = read_workbook(path)
    assert [(f.code, f.cell) for f in sub.findings] == [("W306", h.cell_of(template, "in_K6_2_11_target")[1])]
    assert lookup(sub, "in_K6_2_11_target").value == 96.5


def test_formulas_cached_and_not(tmp_path: Path, template: Path) -> None:
    values = {"in_K6_2_07_val_202404": "=1000+170", "in_K6_2_07_val_202405": "=1000+200"}
    path = tmp_path / "f.xlsx"
    wb = openpyxl.load_workbook(template)
    for name, formula in values.items():
        sheet, ref = h.cell_of(template, name)
        wb[sheet][ref] = formula  # a real formula this time (not text)
    wb.save(path)
    cell_a, cell_b = (h.cell_of(template, n)[1] for n in values)
    path = h.set_cached_value(path, tmp_path / "10_formula.xlsx", cell_a, "1170")
    sub = read_workbook(path)
    assert sorted((f.code, f.cell) for f in sub.findings) == sorted([("W308", cell_a), ("W307", cell_b)])
    assert lookup(sub, "in_K6_2_07_val_202404").value == 1170.0
    assert lookup(sub, "in_K6_2_07_val_202405").value is None


def test_meta_hidden_or_renamed(tmp_path: Path, template: Path) -> None:
    def unhide_and_rename(wb: openpyxl.Workbook) -> None:
        wb[nm.SHEET_META].sheet_state = "hidden"
        wb[nm.SHEET_META].title = "管理"

    sub = read_workbook(h.edit(template, tmp_path / "10_meta.xlsx", unhide_and_rename))
    assert sub.findings == [] and sub.branch_code == "10" and sub.fiscal_year == FY


def test_no_meta_not_a_kpisheet_workbook(tmp_path: Path) -> None:
    path = tmp_path / "10_plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "ただの表"
    wb.save(path)
    sub = read_workbook(path)
    assert [f.code for f in sub.findings] == ["E201"] and not is_readable(sub)


def test_meta_damaged(tmp_path: Path, template: Path) -> None:
    def damage(wb: openpyxl.Workbook) -> None:
        ws = wb[nm.SHEET_META]
        for row in ws.iter_rows():
            if row[0].value == "fiscal_year":
                row[1].value = "令和六年"
        wb.custom_doc_props = openpyxl.packaging.custom.CustomPropertyList()

    sub = read_workbook(h.edit(template, tmp_path / "10_badmeta.xlsx", damage))
    assert [(f.code, f.context.get("field")) for f in sub.findings] == [("E208", "fiscal_year")]
    assert not is_readable(sub)


def test_standin_contract_workbook_reads_too(tmp_path: Path) -> None:
    """The contract of kpisheet/read/names.py alone (no generator) is enough to read a workbook."""
    tpl = h.make_template(tmp_path, FY, "13", standin=True)
    values = {"in_K6_2_01_num_202404": 10.0, "in_M_6_1_I_2_rating": "◎"}
    path = h.fill(tpl, tmp_path / "13_filled.xlsx", values)
    sub = read_workbook(path)
    assert sub.findings == []
    assert_reads_back(sub, values, path)


# ------------------------------------------------------------------ never raises, never loops to a row number
def test_cells_at_the_last_row_read_as_usual(tmp_path: Path, template: Path) -> None:
    """Keys and _meta are read from the cells that exist: a cell at row 1,048,576 changes nothing."""
    def far(wb: openpyxl.Workbook) -> None:
        for title in (nm.SHEET_KPI, nm.SHEET_MEASURES, nm.SHEET_META):
            wb[title].cell(1_048_576, 1).value = "遠く"
            wb[title].cell(3, 16_384).value = "遠く"

    values = {"in_K6_2_07_val_202404": 1170.0}
    path = h.edit(h.fill(template, tmp_path / "f.xlsx", values), tmp_path / "10_far.xlsx", far)
    sub = read_workbook(path)
    assert sub.findings == [] and is_readable(sub)
    assert lookup(sub, "in_K6_2_07_val_202404").value == 1170.0


def test_absurd_rows_per_measure_in_meta_is_ignored(tmp_path: Path, template: Path) -> None:
    def damage(wb: openpyxl.Workbook) -> None:
        for row in wb[nm.SHEET_META].iter_rows():
            if row[0].value == "rows_per_measure":
                row[1].value = "1000000000"

    sub = read_workbook(h.edit(template, tmp_path / "10_rows.xlsx", damage))
    assert sub.findings == []
    assert {len(m.rows) for m in sub.measures.values()} == {nm.ROWS_PER_MEASURE}


# ------------------------------------------------------------------ 取組状況 rows
def test_the_tenth_activity_row_reads_back(tmp_path: Path, template: Path) -> None:
    measure = CAT.measures_for("10")[-1].id
    values = {nm.measure_key(measure, "text", 10).name: "十件目の取組", nm.measure_key(measure, "rating", 10).name: "△",
              nm.measure_key(measure, "note", 10).name: "下期に実施"}
    path = h.fill(template, tmp_path / "10_row10.xlsx", values)
    sub = read_workbook(path)
    assert sub.findings == []
    assert {len(m.rows) for m in sub.measures.values()} == {10}
    assert_reads_back(sub, values, path)


def test_an_older_workbook_with_five_rows_per_measure_reads_clean(tmp_path: Path) -> None:
    """Workbooks sent before the tenth row keep being read: as many rows as _meta says — or, when
    _meta no longer says, as many as its names and keys show (never E301 for rows it never had)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nm, "ROWS_PER_MEASURE", 5)
        said = h.build_contract_workbook(tmp_path / "13_five.xlsx", FY, "13")
        unsaid = h.build_contract_workbook(tmp_path / "13_five_unsaid.xlsx", FY, "13", meta={"rows_per_measure": None})
    for path in (said, unsaid):
        sub = read_workbook(path)
        assert sub.findings == [], path.name
        assert {len(m.rows) for m in sub.measures.values()} == {5}, path.name
        assert sub.prefilled_targets == {}  # written before _meta recorded them


# ------------------------------------------------------------------ what HQ prefilled (_meta prefilled_targets)
def _with_prefilled(template: Path, dst: Path, text: str | None) -> Path:
    def put(wb: openpyxl.Workbook) -> None:
        for row in wb[nm.SHEET_META].iter_rows():
            if row[0].value == "prefilled_targets":
                row[1].value = text
                if text is None:
                    row[0].value = None

    return h.edit(template, dst, put)


@pytest.mark.parametrize("text, expected", [
    ('{"K6-1-01":100,"K6-2-01":61.5}', {"K6-1-01": 100.0, "K6-2-01": 61.5}),
    (None, {}),  # an older workbook: no such row
    ("{not json", {}),
    ("[1, 2, 3]", {}),
    ('{"K6-1-01":"100","K6-2-01":true,"K6-2-07":-5,"K6-2-08":1e999,"K6-2-09":NaN,"K6-2-11":1' + "0" * 400
     + ',"K9-9-99":1,"K5-2-01":50,"K6-3-01":{"v":15},"K6-1-02":95.7}', {"K6-1-02": 95.7}),
    ('{"K6-1-01":' + "[" * 5000 + "]" * 5000 + "}", {}),  # nested past the recursion limit
    ("{" + '"K6-1-01":1,' * 2000 + '"K6-2-01":2}', {}),  # longer than any template writes: not parsed
])
def test_prefilled_targets_are_read_defensively(tmp_path: Path, template: Path, text: str | None,
                                                expected: dict[str, float]) -> None:
    sub = read_workbook(_with_prefilled(template, tmp_path / "10_prefilled.xlsx", text))
    assert sub.findings == [] and is_readable(sub)
    assert sub.prefilled_targets == expected
    assert sub.to_dict(kpis=False, measures=False)["prefilled_targets"] == expected


def test_unexpected_exception_is_e110_and_debug_reraises(tmp_path: Path, template: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from kpisheet.read import reader

    def boom(self: Any) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(reader._Reader, "read", boom)
    monkeypatch.delenv("KPISHEET_DEBUG", raising=False)
    sub = read_workbook(template)
    assert [(f.code, f.context["reason"]) for f in sub.findings] == \
        [("E110", "RecursionError: maximum recursion depth exceeded")]
    assert not is_readable(sub) and not sub.kpis
    monkeypatch.setenv("KPISHEET_DEBUG", "1")
    with pytest.raises(RecursionError):
        read_workbook(template)


def test_book_error_keeps_its_code_even_in_debug_mode(template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpisheet.read import reader
    from kpisheet.read.xlsx_read import BookError

    def refuse(path: Path) -> None:
        raise BookError("E107", "xl/worksheets/sheet2.xml: 50 MB を超えます / over 50 MB")

    monkeypatch.setattr(reader, "Book", refuse)
    monkeypatch.setenv("KPISHEET_DEBUG", "1")
    sub = read_workbook(template)
    assert [(f.code, f.context["reason"]) for f in sub.findings] == \
        [("E107", "xl/worksheets/sheet2.xml: 50 MB を超えます / over 50 MB")]


def test_preflight_failure_is_a_finding(template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even the pre-flight runs inside the protection."""
    from kpisheet.read import reader

    def crash(path: Path) -> list:
        raise NotImplementedError("That compression method is not supported")

    monkeypatch.setattr(reader, "preflight", crash)
    monkeypatch.delenv("KPISHEET_DEBUG", raising=False)
    sub = read_workbook(template)
    assert [(f.code, f.context["reason"]) for f in sub.findings] == \
        [("E110", "NotImplementedError: That compression method is not supported")]


def test_read_summary_shows_the_save_time_in_japan_time():
    from kpisheet.domain.model import Submission
    from kpisheet.read.reader import submission_text

    sub = Submission("11.xlsx", "0" * 64, 3, None, 6, 2024, "11", "埼玉支部",
                     saved_at="2024-11-07T05:03:00Z")  # docProps/core.xml keeps UTC
    assert "保存: 2024-11-07 14:03（日本時間）" in submission_text(sub)


def test_workbooks_of_one_template_share_the_parse_of_their_names_and_read_as_alone(
        template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branches' workbooks carry one workbook.xml: its parse and the input names it defines are
    worked out once per process (xlsx_read._PARSES, reader._NAMES_OF), and each workbook reads
    exactly as it reads alone."""
    import json

    from kpisheet.read import reader, xlsx_read

    values = sample_values(catalogue_for_fy(h.FY), h.FY, "10", date(2024, 9, 1))
    a = h.fill(template, tmp_path / "10_a.xlsx", values)
    b = h.fill(template, tmp_path / "10_b.xlsx", {**values, "in_K6_2_07_val_202404": 999.0})

    def alone(path: Path) -> str:
        monkeypatch.setattr(xlsx_read, "_PARSES", {})
        monkeypatch.setattr(reader, "_NAMES_OF", {})
        return json.dumps(read_workbook(path).to_dict(), default=str)

    expected_a, expected_b = alone(a), alone(b)
    monkeypatch.setattr(xlsx_read, "_PARSES", {})
    monkeypatch.setattr(reader, "_NAMES_OF", {})
    got_a = json.dumps(read_workbook(a).to_dict(), default=str)
    assert len(reader._NAMES_OF) == 1
    got_b = json.dumps(read_workbook(b).to_dict(), default=str)
    assert len(reader._NAMES_OF) == 1 and len(xlsx_read._PARSES) == 2  # workbook.xml, styles.xml: not parsed again
    assert (got_a, got_b) == (expected_a, expected_b) and got_a != got_b
