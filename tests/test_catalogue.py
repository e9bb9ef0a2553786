"""Stage 1: the catalogues, the term mapping and the branch list as data."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.domain import catalogue as cat
from kpisheet.domain.findings import KpisheetError

# The term-6 KPI list of the plan's KPI overview (「第6期保険者機能強化アクションプランの概要について」, 「第6期保険者機能強化アクションプラン KPI一覧」): id -> (rule of a branch's
# annual target, the term goal as printed or None for 対前年度以上).
TERM6 = {
    "K6-1-01": ("fixed", 100.0), "K6-1-02": ("baseline", None), "K6-1-03": ("baseline", None),
    "K6-1-04": ("baseline", None), "K6-1-05": ("baseline", None), "K6-1-06": ("baseline", None),
    "K6-2-01": ("branch", 64.8), "K6-2-02": ("branch", 9.2), "K6-2-03": ("branch", 32.9),
    "K6-2-04": ("branch", 27.1), "K6-2-05": ("branch", 20.7), "K6-2-06": ("baseline", None),
    "K6-2-07": ("branch", 110000), "K6-2-08": ("generic_conditional", 80.0), "K6-2-09": ("fixed", 25.0),
    "K6-2-10": ("fixed", 142000000), "K6-2-11": ("branch", 50.0), "K6-2-12": ("baseline", None),
    "K6-3-01": ("fixed", 15.0),
}

# Term-5 KPIs the branches' term-5 plans report on, by a distinctive part of their label.
TERM5_LABELS = ["サービススタンダード", "郵送化率", "支払基金と合算", "再審査レセプト1件当たり", "柔道整復",
                "保険証回収率", "資格喪失後受診に係る", "確認書の提出率", "生活習慣病予防健診", "事業者健診データ",
                "被扶養者の特定健診", "被保険者の特定保健指導", "被扶養者の特定保健指導", "受診勧奨後3か月以内",
                "健康宣言事業所数", "ジェネリック", "健康保険委員が委嘱", "意見発信", "一者応札"]


def test_term6_kpis_are_exactly_the_domain_list():
    c = cat.load_catalogue(6)
    assert [k.id for k in c.kpis] == list(TERM6)
    for kpi in c.kpis:
        rule, value = TERM6[kpi.id]
        assert kpi.target.rule == rule, kpi.id
        if value is not None:
            assert kpi.term_goal.value == value, kpi.id
        else:
            assert kpi.term_goal.rule == "baseline", kpi.id


def test_term6_special_kpis():
    c = cat.load_catalogue(6)
    assert c.kpi("K6-3-01").direction == "<="
    assert c.kpi("K6-1-03").decimals == 3
    assert c.kpi("K6-1-04").display == "yen"
    assert c.kpi("K6-2-10").scope == "national"
    assert [k.id for k in c.kpis_for(2024, "00")] == ["K6-2-10"]
    assert "K6-2-10" not in [k.id for k in c.kpis_for(2024, "11")]
    months = c.kpi("K6-1-06").months(2024)
    assert months[0].isoformat() == "2024-04-01" and months[-1].isoformat() == "2024-12-01"
    assert not c.kpi("K6-1-06").applies_to(2025)
    assert all(k.excellent_threshold == 0.10 for k in c.kpis)
    assert {k.id for k in c.kpis if k.grows_in_year} == {"K6-2-01", "K6-2-02", "K6-2-03", "K6-2-04", "K6-2-05", "K6-2-10"}


@pytest.mark.parametrize("term", [5, 6])
def test_every_kpi_declares_flow_or_stock_for_its_parts_and_its_lag(term):
    for kpi in cat.load_catalogue(term).kpis:
        expected = {"ratio": 2, "count": 1, "qualitative": 0}[kpi.kind]
        assert len(kpi.parts) == expected, kpi.id
        assert all(p.nature in ("flow", "stock") for p in kpi.parts), kpi.id
        assert 0 <= kpi.lag_months <= 11, kpi.id


def test_populations_are_stocks_and_levels_are_never_flows():
    c = cat.load_catalogue(6)
    for kpi_id in ("K6-2-01", "K6-2-02", "K6-2-03", "K6-2-04", "K6-2-05"):  # 対象者数: the year's population
        assert c.kpi(kpi_id).numerator.is_flow and not c.kpi(kpi_id).denominator.is_flow, kpi_id
    assert not c.kpi("K6-2-11").denominator.is_flow  # 全被保険者数
    assert not c.kpi("K6-2-09").denominator.is_flow  # 全体の成分数
    for kpi_id in ("K6-2-07", "K6-2-12", "K6-2-08", "K6-2-11"):  # 事業所数, shares at the month's end
        assert c.kpi(kpi_id).is_level, kpi_id
    assert not c.kpi("K6-1-02").is_level  # 郵送化率: flow over flow


def test_lags_follow_the_data_months_of_the_saitama_status_report():
    c5 = cat.load_catalogue(5)
    # 令和5年度 埼玉支部事業計画実施状況（概要版） 2、(1)【実績の集計】 and (7): at the March run, data reach
    # 1月, 2月, 12月, and 11月診療
    lags = {"K5-2-01": 2, "K5-2-02": 1, "K5-2-03": 3, "K5-2-04": 3, "K5-2-05": 3, "K5-2-08": 4, "K5-1-05": 1}
    assert {k: c5.kpi(k).lag_months for k in lags} == lags
    assert "1月分まで" in c5.kpi("K5-2-01").lag_note
    assert _raw_kpi(5, "K5-2-01")["data_lag"]["evidence"].startswith(
        "「令和5年度 埼玉支部事業計画実施状況（概要版）」 2、戦略的保険者機能関係 (1) 特定健診実施率・事業者健診データ取得率の向上 "
        "【実績の集計】「生活習慣病予防健診は、4月～1月」")


def _raw_kpi(term: int, kpi_id: str) -> dict:
    data = json.loads((cat.data_dir("templates") / cat.CATALOGUE_FILES[term]).read_text(encoding="utf-8"))
    return next(k for k in data["kpis"] if k["id"] == kpi_id)


def test_what_users_see_names_no_source_line():
    """Notes are shown to branches and HQ; the document and section a fact rests on is kept apart in `evidence`."""
    for term in (5, 6):
        for kpi in cat.load_catalogue(term).kpis:
            assert "seed" not in (kpi.note or "") + (kpi.lag_note or ""), kpi.id
    for link in cat.load_mapping().kpis:
        assert "seed" not in (link.note or ""), link.to_id


def test_fixes_rest_on_the_documents():
    c5, c6 = cat.load_catalogue(5), cat.load_catalogue(6)
    generic = c5.kpi("K5-2-08")  # 熊本支部 説明資料 「年度末時点で対前年度以上」, 埼玉 実施状況 2、(7) 「前年度（81.9%）以上」
    assert generic.target.rule == "baseline"
    assert ("「令和5年度 埼玉支部事業計画実施状況（概要版）」 2、戦略的保険者機能関係 (7) ジェネリック医薬品のさらなる使用促進"
            "「前年度（81.9%）以上」") in _raw_kpi(5, "K5-2-08")["evidence"]
    assert c5.kpi("K5-2-10").label.startswith("効率的・効果的な医療提供体制の構築に向けて、")  # 埼玉 実施状況 2、(11)
    bids = c6.measure(c6.kpi("K6-3-01").measure_id)  # KPI一覧 3. 「II) 内部統制等 ⑤」
    assert (bids.id, bids.heading) == ("6-3-II-6", "II) ⑤ 費用対効果を踏まえたコスト削減等")


def test_term5_holds_every_kpi_the_branch_plans_use():
    c = cat.load_catalogue(5)
    labels = [k.label for k in c.kpis]
    for part in TERM5_LABELS:
        assert any(part in label for label in labels), part
    qualitative = [k for k in c.kpis if k.kind == "qualitative"]
    assert [k.id for k in qualitative] == ["K5-2-10"]
    assert c.kpi("K5-1-05").direction == "<=" and c.kpi("K5-3-01").target.value == 20.0


def test_every_kpi_belongs_to_a_measure_of_its_term():
    for term in (5, 6):
        c = cat.load_catalogue(term)
        ids = {m.id for m in c.measures}
        assert all(k.measure_id in ids for k in c.kpis)


def test_fiscal_years_pick_the_right_term():
    assert [cat.term_for_fy(fy) for fy in range(2021, 2027)] == [5, 5, 5, 6, 6, 6]
    with pytest.raises(KpisheetError) as exc:
        cat.term_for_fy(2030)
    assert exc.value.findings[0].code == "D004"


def test_mapping_covers_every_measure_and_kpi_of_both_terms():
    m = cat.load_mapping()
    old, new = cat.load_catalogue(5), cat.load_catalogue(6)
    assert {link.from_id for link in m.measures} - {None} == {x.id for x in old.measures}
    assert set().union(*(link.to_ids for link in m.measures)) == {x.id for x in new.measures}
    assert {link.from_id for link in m.kpis} - {None} == {k.id for k in old.kpis}
    assert {link.to_id for link in m.kpis} - {None} == {k.id for k in new.kpis}
    assert {link.relation for link in m.measures} >= {"継続", "名称変更", "統合", "分離", "廃止", "新設"}


@pytest.mark.parametrize("old,new,relation,valid", [
    ("K5-1-03", "K6-1-03", "新設", False),  # KPI一覧 1. II) ④ 【新設】: 支払基金と合算 -> 協会のみ
    ("K5-2-06", "K6-2-06", "新設", False),  # KPI一覧 2. II) ④ 【新設】: 3 months -> 10 months
    ("K5-1-07", "K6-1-05", "新設", False),  # KPI一覧 1. II) ⑤ 【新設】: 返納金 scope widened
    ("K5-2-01", "K6-2-01", "継続", True),
    ("K5-3-01", "K6-3-01", "継続", True),
    ("K5-2-09", "K6-2-11", "継続", True),
])
def test_kpi_successors_and_baseline_validity(old, new, relation, valid):
    link = cat.load_mapping().successor(old)
    assert (link.to_id, link.relation, link.baseline_valid) == (new, relation, valid)


def test_abolished_and_new():
    m = cat.load_mapping()
    assert m.successor("K5-1-05").relation == "廃止" and m.successor("K5-1-05").to_id is None
    # where the term-6 KPI一覧 prints 【新設】 (1. II) ④⑤, 2. II) ④, III) ①, IV)); the predecessor, if any, in the note
    assert {k.to_id for k in m.kpis if k.relation == "新設"} == {"K6-1-03", "K6-1-05", "K6-2-06", "K6-2-09", "K6-2-10"}
    assert all(k.from_id in k.note for k in m.kpis if k.relation == "新設" and k.from_id)
    hired = m.predecessor("K6-2-12")  # KPI一覧 2. IV): a 令和4年度 reference, no 【新設】: last year's count is valid
    assert (hired.relation, hired.baseline_valid) == ("追加", True)
    head_office = next(x for x in m.measures if x.from_id == "5-3-I-4")  # 全体像（第5期から第6期の変更点） (3) I) ④: not abolished
    assert head_office.relation == "統合" and set(head_office.to_ids) == {"6-2-I-1", "6-2-I-2", "6-2-I-3", "6-3-I-2"}
    limit = next(x for x in m.measures if x.from_id == "5-1-3")
    assert limit.relation == "廃止" and limit.to_ids == ()


def test_branches_are_hq_and_47_prefectures():
    offices = cat.load_branches()
    assert [b.code for b in offices] == [f"{i:02d}" for i in range(48)]
    assert cat.branch("10").display_name == "群馬支部" and cat.branch("00").display_name == "本部"
    assert cat.branch("47").name == "沖縄"


@pytest.fixture
def broken_templates(tmp_path, monkeypatch):
    """A copy of templates/ that a test may break; the loader reads it instead."""
    tdir = tmp_path / "templates"
    shutil.copytree(cat.data_dir("templates"), tdir)
    schemas = cat.data_dir("schemas")
    monkeypatch.setattr(cat, "data_dir", lambda kind: tdir if kind == "templates" else schemas)
    for f in (cat.load_catalogue, cat.load_mapping, cat.load_branches):
        f.cache_clear()
    yield tdir
    for f in (cat.load_catalogue, cat.load_mapping, cat.load_branches):
        f.cache_clear()


def test_schema_violation_is_one_finding_with_file_and_path(broken_templates):
    path = broken_templates / "catalogue_term6.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["kpis"][3]["direction"] = "=>"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(KpisheetError) as exc:
        cat.load_catalogue(6)
    (f,) = exc.value.findings
    assert f.code == "D002"
    assert "catalogue_term6.json" in f.message_en and "$.kpis[3].direction" in f.message_en
    assert "$.kpis[3].direction" in f.message_ja


def test_syntax_error_is_a_finding(broken_templates):
    (broken_templates / "mapping_term5_term6.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(KpisheetError) as exc:
        cat.load_mapping()
    assert exc.value.findings[0].code == "D001"


def test_unknown_measure_reference_is_a_finding(broken_templates):
    path = broken_templates / "catalogue_term5.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["kpis"][0]["measure"] = "5-9-9"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(KpisheetError) as exc:
        cat.load_catalogue(5)
    f = exc.value.findings[0]
    assert f.code == "D003" and "$.kpis[0].measure" in f.message_en and "5-9-9" in f.message_en


def test_broken_catalogue_reaches_the_cli_as_a_message_not_a_traceback(broken_templates):
    (broken_templates / "catalogue_term6.json").write_text("[]", encoding="utf-8")
    result = CliRunner().invoke(cli, ["catalogue", "--fy", "2024"])
    assert result.exit_code == 1
    assert "D002" in result.output and "catalogue_term6.json" in result.output
    assert "Traceback" not in result.output


def test_catalogue_cli_text_json_and_mapping():
    runner = CliRunner()
    text = runner.invoke(cli, ["catalogue", "--fy", "2024"])
    assert text.exit_code == 0
    assert "令和6年度" in text.output and "K6-2-01  生活習慣病予防健診実施率" in text.output
    assert "K6-1-06" in text.output and "令和6年12月1日まで" in text.output and "2024-12-01" not in text.output
    data = json.loads(runner.invoke(cli, ["catalogue", "--fy", "2023", "--json"]).output)
    assert data["term"] == 5 and len(data["kpis"]) == 19
    assert data["digest"] == cat.load_catalogue(5).digest
    mapping = runner.invoke(cli, ["catalogue", "--mapping"])
    assert mapping.exit_code == 0 and "[新設] K5-1-03" in mapping.output
    assert runner.invoke(cli, ["catalogue"]).exit_code == 2


def test_data_files_are_valid_against_their_schemas():
    # load everything once without caches, as a fresh process would
    for f in (cat.load_catalogue, cat.load_mapping, cat.load_branches):
        f.cache_clear()
    assert cat.load_catalogue(5).term == 5 and cat.load_catalogue(6).term == 6
    assert cat.load_mapping().to_term == 6
    assert len(cat.load_branches()) == 48


def _edit_term6(tdir, change) -> str:
    path = tdir / "catalogue_term6.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    cat.load_catalogue.cache_clear()
    return cat.load_catalogue(6).digest


def test_digest_covers_the_layout_not_the_wording(broken_templates):
    """A fixed label, note, target rule or lag keeps distributed workbooks valid (no E203);
    a change to which cells exist does not."""
    before = cat.load_catalogue(6).digest

    def wording(data):
        k = data["kpis"][0]
        k["label"] += "（修正）"
        k["note"] = "注記を修正"
        k["data_lag"]["months"] = 2
        k["excellent_threshold"] = 0.2

    assert _edit_term6(broken_templates, wording) == before

    def layout(data):
        data["kpis"][0]["valid_until"] = "2025-03-31"

    assert _edit_term6(broken_templates, layout) != before
