"""HQ's settings file: schema findings, placeholders, the deadline rule, and what generate does with them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kpisheet.cli import cli
from kpisheet.domain.settings import (
    DEFAULT_SETTINGS_PATH,
    ENV_VAR,
    HqSettings,
    SettingsError,
    example_settings,
    load_settings,
    settings_json,
)
from kpisheet.template.build import generate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hq_settings.json"


def write(tmp_path: Path, **changes: object) -> Path:
    data = json.loads(settings_json(example_settings()))
    data.update(changes)
    path = tmp_path / "hq_settings.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def settings(day: int = 10, weekend: str = "before") -> HqSettings:
    return HqSettings("本部 企画部", "担当 一郎", "03-1111-2222", "a@example.jp", day, weekend, "(test)")


# ---------------------------------------------------------------- the file
def test_the_shipped_file_is_valid_and_holds_placeholders_in_every_contact_field():
    shipped = load_settings(DEFAULT_SETTINGS_PATH)
    assert shipped.placeholders() == ["department", "contact_person", "phone", "mail"]
    assert (shipped.deadline_day, shipped.weekend) == (10, "before")
    assert shipped.source == str(DEFAULT_SETTINGS_PATH)


def test_behind_pace_share_is_95_percent_unless_hq_sets_it(tmp_path):
    """The share of the pace below which 概要 names a branch behind: 0.95 shipped and by default."""
    assert load_settings(DEFAULT_SETTINGS_PATH).behind_pace_share == 0.95
    assert load_settings(EXAMPLE).behind_pace_share == 0.95  # the example file does not set it
    assert load_settings(write(tmp_path, behind_pace_share=0.9)).behind_pace_share == 0.9


def test_the_example_file_is_filled():
    example = load_settings(EXAMPLE)
    assert example.placeholders() == []
    assert example.mail.endswith("@example.jp")


@pytest.mark.parametrize("field", ["department", "contact_person", "phone", "mail"])
def test_a_placeholder_is_found_in_each_field_alone(tmp_path, field):
    path = write(tmp_path, **{field: "【要記入】ここに記入"})
    assert load_settings(path).placeholders() == [field]


@pytest.mark.parametrize("changes, json_path", [
    ({"deadline_day": 31}, "$.deadline_day"),
    ({"deadline_day": "10"}, "$.deadline_day"),
    ({"weekend": "friday"}, "$.weekend"),
    ({"mail": "not a mail"}, "$.mail"),
    ({"phone": "電話してください"}, "$.phone"),
    ({"department": ""}, "$.department"),
    ({"fax": "03-0000-0000"}, "$"),
    ({"behind_pace_share": 0}, "$.behind_pace_share"),
    ({"behind_pace_share": "95%"}, "$.behind_pace_share"),
])
def test_a_schema_violation_is_d002_naming_the_file_and_the_json_path(tmp_path, changes, json_path):
    path = write(tmp_path, **changes)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    [f] = err.value.findings
    assert (f.code, f.context["json_path"], f.context["data_file"]) == ("D002", json_path, str(path))
    assert str(path) in f.message_ja and json_path in f.message_en


def test_a_missing_field_is_d002_at_the_top(tmp_path):
    path = tmp_path / "s.json"
    data = json.loads(settings_json(example_settings()))
    del data["mail"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert [(f.code, f.context["json_path"]) for f in err.value.findings] == [("D002", "$")]
    assert "'mail' is a required property" in err.value.findings[0].message_en


def test_bad_json_is_d001_and_a_missing_file_d006(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{\"department\": ", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(broken)
    assert [f.code for f in err.value.findings] == ["D001"] and str(broken) in err.value.findings[0].message_ja
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path / "nowhere.json")
    assert [f.code for f in err.value.findings] == ["D006"]


def test_the_environment_names_the_file_when_no_path_is_given(tmp_path, monkeypatch):
    path = write(tmp_path, contact_person="環境 花子")
    monkeypatch.setenv(ENV_VAR, str(path))
    assert load_settings().contact_person == "環境 花子"
    monkeypatch.delenv(ENV_VAR)
    assert load_settings().source == str(DEFAULT_SETTINGS_PATH)


# ---------------------------------------------------------------- the deadline rule
@pytest.mark.parametrize("weekend, due", [("before", date(2024, 11, 8)), ("after", date(2024, 11, 11)),
                                          ("keep", date(2024, 11, 10))])
def test_a_deadline_on_a_sunday_moves_as_the_rule_says(weekend, due):
    assert settings(10, weekend).deadline(date(2024, 10, 1)) == due  # 2024-11-10 is a Sunday


@pytest.mark.parametrize("weekend, due", [("before", date(2024, 8, 9)), ("after", date(2024, 8, 12)),
                                          ("keep", date(2024, 8, 10))])
def test_a_deadline_on_a_saturday_moves_as_the_rule_says(weekend, due):
    assert settings(10, weekend).deadline(date(2024, 7, 31)) == due  # 2024-08-10 is a Saturday


def test_a_weekday_deadline_stays_and_december_is_due_in_january():
    assert settings(10, "before").deadline(date(2024, 6, 15)) == date(2024, 7, 10)  # a Wednesday
    assert settings(10, "before").deadline(date(2024, 12, 1)) == date(2025, 1, 10)  # a Friday
    assert settings(5, "after").deadline(date(2024, 12, 31)) == date(2025, 1, 6)  # Sunday 5 Jan -> Monday


def test_deadline_and_contact_as_people_read_them():
    s = settings()
    assert s.deadline_ja() == "翌月10日（土日の場合は前の金曜日）"
    assert settings(15, "keep").deadline_ja() == "翌月15日"
    assert s.deadline_ja(date(2024, 10, 1)) == "令和6年11月8日（金）"
    assert s.contact_ja() == "本部 企画部　担当：担当 一郎　電話：03-1111-2222　メール：a@example.jp"


# ---------------------------------------------------------------- generate
def test_generate_cli_refuses_placeholders_writes_nothing_and_names_the_file(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["generate", "--fy", "2024", "--branch", "11", "-o", str(out),
                                      "--settings", str(DEFAULT_SETTINGS_PATH)])
    assert result.exit_code == 2
    assert "D005 エラー" in result.stderr and str(DEFAULT_SETTINGS_PATH) in result.stderr
    assert "department（担当部署）, contact_person（担当者）, phone（電話）, mail（メール）" in result.stderr
    assert "ブックは作成しません。何も書き込んでいません。" in result.stderr
    assert not out.exists()


def test_generate_cli_refuses_the_shipped_file_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR)
    result = CliRunner().invoke(cli, ["generate", "--fy", "2024", "--branch", "11", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and str(DEFAULT_SETTINGS_PATH) in result.stderr
    assert not (tmp_path / "o").exists()


def test_generate_cli_with_a_broken_settings_file_exits_1_naming_the_path(tmp_path):
    path = write(tmp_path, weekend="sometimes")
    result = CliRunner().invoke(cli, ["generate", "--fy", "2024", "--branch", "11", "-o", str(tmp_path / "o"),
                                      "--settings", str(path)])
    assert result.exit_code == 1 and "D002" in result.stderr and "$.weekend" in result.stderr
    assert not (tmp_path / "o").exists()


def test_library_generate_refuses_placeholders_before_writing(tmp_path):
    shipped = load_settings(DEFAULT_SETTINGS_PATH)
    with pytest.raises(SettingsError) as err:
        generate(2024, ["11"], tmp_path / "o", settings=shipped)
    assert [f.code for f in err.value.findings] == ["D005"]
    assert not (tmp_path / "o").exists()


def _guide_rows(path: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path)["入力の手引き"]
    return {r[1].value: r[2].value for r in ws.iter_rows(min_row=1) if len(r) > 2 and r[1].value}


def test_the_guide_shows_the_settings_contact_and_deadline(tmp_path):
    s = example_settings()
    [path] = generate(2024, ["11"], tmp_path, settings=s).paths
    guide = _guide_rows(path)
    assert guide["提出期限"] == ("各月の実績を翌月10日（土日の場合は前の金曜日）までに提出してください。"
                             "例：4月分は令和6年5月10日（金）まで")
    assert guide["返送先"] == ("本部 企画部 事業計画グループ　担当：協会 太郎（例）　電話：03-0000-0000　"
                            "メール：kpi-plan@example.jp　（0件になったら送付してください。メールに添付して返送してください。）")
    assert guide["お問い合わせ"] == ("入力方法が分からないときや、記入済みの値に誤りがあるときは、本部 企画部 事業計画グループの"
                                "協会 太郎（例）（電話：03-0000-0000、メール：kpi-plan@example.jp）までご連絡ください。")
    kpi_sheet = openpyxl.load_workbook(path)["KPI入力"]
    assert kpi_sheet["B3"].value.endswith("提出期限：翌月10日（土日の場合は前の金曜日）　　"
                                          "返送先：本部 企画部 事業計画グループ（kpi-plan@example.jp）")


def test_generate_cli_uses_the_settings_file_given(tmp_path):
    path = write(tmp_path, contact_person="指定 次郎", deadline_day=15, weekend="after")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["generate", "--fy", "2024", "--branch", "11", "-o", str(out),
                                      "--settings", str(path)])
    assert result.exit_code == 0, result.output
    guide = _guide_rows(out / "11_埼玉支部_FY2024_KPI入力.xlsx")
    assert "指定 次郎" in guide["返送先"]
    assert guide["提出期限"].startswith("各月の実績を翌月15日（土日の場合は次の月曜日）までに")
