"""One way to show a number (kpisheet.domain.display): the shown value, its text, its cell, the ◎ threshold
and the mark never disagree — for any numerator, denominator, target, precision and direction."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kpisheet.domain import display
from kpisheet.domain.catalogue import load_catalogue
from kpisheet.domain.display import (
    difference,
    excellent_threshold,
    format_change,
    format_value,
    number_format,
    shown,
    stored,
    text_width,
)
from kpisheet.domain.ratings import AnnualTarget, mark_for, rate_kpi
from kpisheet.write.report.texts import excellent_ja

T6 = load_catalogue(6)
BASES = {"percent": T6.kpi("K6-2-01"), "yen": T6.kpi("K6-1-04"), "count": T6.kpi("K6-2-07")}
OCT_2024 = date(2024, 10, 1)


def half_up(value: float, decimals: int) -> Fraction:
    """An independent oracle: the float's printed decimal (repr), rounded half up with exact fractions."""
    x, scale = Fraction(repr(float(value))), Fraction(10) ** decimals
    return Fraction(math.floor(x * scale + Fraction(1, 2))) / scale


def excel_shows(cell: float, kpi) -> Fraction:
    """What Excel or LibreOffice shows for a number cell: the double to 15 significant digits, half up."""
    x = Fraction(Decimal(f"{cell:.15g}")) * (100 if kpi.display == "percent" else 1)
    scale = Fraction(10) ** kpi.decimals
    return Fraction(math.floor(x * scale + Fraction(1, 2))) / scale


def number_in(text: str) -> Fraction:
    """The one number printed in a text such as 「全国 70.6%以上」 or 「1,170事業所」."""
    (found,) = re.findall(r"-?[\d,]+(?:\.\d+)?", text)
    return Fraction(Decimal(found.replace(",", "")))


@st.composite
def kpis(draw):
    display_ = draw(st.sampled_from(sorted(BASES)))
    decimals = draw(st.integers(0, 3)) if display_ == "percent" else 0
    return replace(BASES[display_], decimals=decimals, direction=draw(st.sampled_from([">=", "<="])),
                   excellent_threshold=draw(st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.25])))


@st.composite
def results(draw, kpi):
    """A result as kpisheet computes it: numerator ÷ denominator for a rate, else a count or yen amount."""
    if kpi.display == "percent":
        den = draw(st.integers(1, 200_000))
        return kpi.rate(draw(st.integers(0, den * 3 // 2)), den)
    return float(draw(st.integers(0, 10_000_000))) / draw(st.sampled_from([1, 2, 3, 7, 40]))


@st.composite
def cases(draw):
    kpi = draw(kpis())
    result = draw(results(kpi))
    # targets: typed at shown precision, or a pooled figure with more digits, near the result
    target = draw(st.one_of(
        st.builds(lambda n: n / 10 ** kpi.decimals, st.integers(1, 2_000_000)),
        st.floats(0.001, 100_000, allow_nan=False, allow_infinity=False),
        st.builds(lambda f: result * f, st.floats(0.8, 1.2)).filter(lambda t: t > 0),
    ))
    return kpi, result, target


def step(kpi) -> Fraction:
    return Fraction(1, 10 ** kpi.decimals)


@settings(max_examples=400, deadline=None)
@given(cases())
@example((replace(BASES["percent"], decimals=1), 1001 / 1040 * 100, 96.3))  # 96.25 against 96.3: ○, 「96.3%」
@example((replace(BASES["percent"], decimals=1), 70.5, 64.1))  # ◎ line 70.51 → shown 70.6
@example((replace(BASES["percent"], decimals=1, direction="<="), 6.25, 6.9))
def test_shown_result_target_threshold_and_mark_never_disagree(case):
    kpi, result, target = case
    r, g, line = half_up(result, kpi.decimals), half_up(target, kpi.decimals), excellent_threshold(kpi, target)
    mark = mark_for(kpi, result, target)
    better_or_equal = (lambda a, b: a >= b) if kpi.direction == ">=" else (lambda a, b: a <= b)

    # the one rounding is half up on what Python prints for the float
    assert Fraction(shown(kpi, result)) == r and Fraction(shown(kpi, target)) == g
    # the mark follows the shown result and the shown target only
    assert (mark == "△") == (not better_or_equal(r, g))
    assert (mark == "◎") == better_or_equal(r, Fraction(line))
    assert mark_for(kpi, float(r), float(g)) == mark

    # the ◎ line: a shown value that gets ◎; one step short of it does not
    assert Fraction(line) % step(kpi) == 0
    assert mark_for(kpi, float(line), target) == "◎"
    short = Fraction(line) - step(kpi) if kpi.direction == ">=" else Fraction(line) + step(kpi)
    assert mark_for(kpi, float(short), target) != "◎"

    # the text shows exactly the shown value; the cell holds it, so Excel shows the same
    assert number_in(format_value(kpi, result)) == r
    assert excel_shows(stored(kpi, result), kpi) == r
    assert Fraction(Decimal(repr(stored(kpi, result)))) == (r / 100 if kpi.display == "percent" else r)

    # the rating's basis names the shown result; 概要's ◎ figure is the line, and it gets ◎
    rating = rate_kpi(kpi, result=result, target=AnnualTarget(target, "catalogue", "目標", "target"),
                      data_month=OCT_2024)
    assert rating.mark == mark and f"実績 {format_value(kpi, result)}で判定" in rating.basis_ja
    if kpi.excellent_threshold:
        printed = number_in(excellent_ja(kpi, target).split("全国", 1)[1])
        assert printed == Fraction(line) and mark_for(kpi, float(printed), target) == "◎"


@settings(max_examples=200, deadline=None)
@given(kpis(), st.data())
def test_a_difference_is_the_difference_of_the_shown_values(kpi, data):
    new, old = data.draw(results(kpi)), data.draw(results(kpi))
    change = difference(kpi, new, old)
    assert Fraction(repr(change)) == half_up(new, kpi.decimals) - half_up(old, kpi.decimals)
    text = format_change(kpi, change)
    sign = "±" if change == 0 else "+" if change > 0 else "-"
    assert text.startswith(sign) and number_in(text.lstrip("±+-")) == abs(Fraction(repr(change)))


def test_the_contradictions_of_the_issue_are_gone():
    pct = replace(BASES["percent"], decimals=1, direction=">=", excellent_threshold=0.1)
    assert format_value(pct, 1001 / 1040 * 100) == "96.3%" and mark_for(pct, 1001 / 1040 * 100, 96.3) == "○"
    assert format_value(pct, 6.25) == "6.3%" and stored(pct, 6.25) == 0.063  # 秋田 K6-2-05 in the README run
    assert excellent_ja(pct, 64.1) == "目標×1.1以上（全国 70.6%以上）"  # 70.51 → 70.6: 70.5% is ○
    assert (mark_for(pct, 70.5, 64.1), mark_for(pct, 70.6, 64.1)) == ("○", "◎")
    low = replace(pct, direction="<=")
    assert excellent_ja(low, 6.9) == "目標×0.9以下（全国 6.2%以下）"  # 6.21 → 6.2: 6.3% is ○
    assert (mark_for(low, 6.3, 6.9), mark_for(low, 6.2, 6.9)) == ("○", "◎")
    assert format_change(pct, difference(pct, 96.25, 95.04)) == "+1.3ポイント"  # 96.3% − 95.0%


def test_text_without_a_sign_never_shows_minus_zero():
    assert format_value(BASES["percent"], -0.04) == "0.0%" and format_change(BASES["percent"], -0.04) == "±0.0ポイント"


@pytest.mark.parametrize("kind, unit, suffix, expected", [
    ("percent", "yen", "", "0.0%"),
    ("percent", "all", "以上", '0.0%"以上"'),
    ("yen", "yen", "", '#,##0"円"'),
    ("yen", "none", "", "#,##0"),
    ("count", "yen", "", "#,##0"),
    ("count", "all", "以上", '#,##0"事業所以上"'),
])
def test_one_number_format_builder(kind, unit, suffix, expected):
    assert number_format(BASES[kind], unit=unit, suffix=suffix) == expected
    assert number_format(replace(BASES["percent"], decimals=3)) == "0.000%"
    assert number_format(replace(BASES["percent"], decimals=0)) == "0%"


@pytest.mark.parametrize("text, width", [
    ("abc", 3), ("全国", 4), ("ｶﾅ", 2), ("９６．５％", 10),
    ("◎○△", 6), ("目標×1.1以上", 13),  # ambiguous characters are drawn full width by Japanese fonts
    ("", 0),
])
def test_one_text_width(text, width):
    assert text_width(text) == width


def test_the_old_helpers_are_gone():
    """One module measures and formats: the copies in the report, the template, feedback and the CLI are deleted."""
    from kpisheet import cli
    from kpisheet.template import book as template
    from kpisheet.write.feedback import summary as feedback
    from kpisheet.write.report import layout, texts

    assert not hasattr(layout, "display_width") and not hasattr(template, "_display_width")
    assert not hasattr(cli, "_width")
    assert feedback.number_format is display.number_format and feedback.stored is display.stored
    assert texts.num_format is display.number_format and texts.stored is display.stored
    assert texts.change_ja is display.format_change and texts.change_format is display.change_format


# ---------------------------------------------------------------- a number through its Excel format
@pytest.mark.parametrize(("value", "code", "text"), [
    (11380, '#,##0"事業所以上"', "11,380事業所以上"),
    (0.963, "0.0%", "96.3%"),
    (1.02, "0%", "102%"),
    (0.00344, "0.000%", "0.344%"),
    (1.4, '+0.0"pt";-0.0"pt";0.0"pt"', "+1.4pt"),
    (-1.4, '+0.0"pt";-0.0"pt";0.0"pt"', "-1.4pt"),
    (0, '+#,##0"円";-#,##0"円";0"円"', "0円"),
    (-120, "#,##0", "-120"),
    (3431167794555, "#,##0", "3,431,167,794,555"),
    (12, '0"/45"', "12/45"),
    (7, '0"件"', "7件"),
    (2.5, "0", "3"),  # half up, as Excel rounds
    (5, "[Red]0.0", "5.0"),
    (12345.678, None, "12345.678"),
    (0.1 + 0.2, "General", "0.3"),
    (45000, "yyyy/mm/dd", "yyyy/mm/dd"),  # a date: as wide as its pattern
])
def test_format_number_shows_what_a_spreadsheet_shows(value: float, code: str | None, text: str) -> None:
    assert display.format_number(value, code) == text


def test_fits_leaves_the_cell_margin_free() -> None:
    # xlsxwriter's set_column(13) stores 13.71: 13 characters fit, 「11,380事業所以上」 (16) does not
    assert display.fits("1,234,567,890", 13.71) and not display.fits("11,380事業所以上", 13.71)
    assert display.fits("11,380事業所以上", display.width_for("11,380事業所以上") + display.CELL_MARGIN)
