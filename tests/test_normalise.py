"""Value normalisation: examples from the issue plus hypothesis properties."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpisheet.read.normalise import (
    PERCENT,
    PLAIN,
    is_percent_format,
    normalise_number,
    normalise_rating,
    normalise_text,
    parse_number_text,
)


@pytest.mark.parametrize("raw, fmt, unit, value, codes", [
    ("96.5%", "0.0%", PERCENT, 96.5, ["W305"]),
    ("96.5％", "0.0%", PERCENT, 96.5, ["W305"]),
    ("９６．５", "0.0%", PERCENT, 96.5, ["W305"]),
    (" 96.5 ", "0.0%", PERCENT, 96.5, ["W305"]),
    ("1,170", "#,##0", PLAIN, 1170.0, ["W305"]),
    ("1,170事業所", "#,##0", PLAIN, 1170.0, ["W305"]),
    ("8,364円", "#,##0", PLAIN, 8364.0, ["W305"]),
    ("△5", "General", PLAIN, -5.0, ["W305"]),
    (0.965, "0.0%", PERCENT, 96.5, []),        # a percent cell stores the fraction
    (0.0031, "0.000%", PERCENT, 0.31, []),     # 査定率 0.310%
    (96.5, "0.0%", PERCENT, 96.5, ["W306"]),   # LibreOffice: 96.5 typed in a 0.0% cell
    (96.5, "General", PERCENT, 96.5, []),      # format removed: points
    (1170.0, "#,##0", PLAIN, 1170.0, []),
    ("—", "0.0%", PERCENT, None, []), ("-", "#,##0", PLAIN, None, []), ("－", "#,##0", PLAIN, None, []),
    ("ー", "#,##0", PLAIN, None, []), ("", "#,##0", PLAIN, None, []), ("  ", "#,##0", PLAIN, None, []),
    (None, "#,##0", PLAIN, None, []),
    ("約100", "#,##0", PLAIN, None, ["E304"]),
    ("96.5%", "#,##0", PLAIN, None, ["E304"]),   # a percent typed into a count
    (True, "General", PLAIN, None, ["E304"]),
    (datetime(2024, 10, 1), "yyyy/m/d", PLAIN, None, ["E310"]),
])
def test_examples(raw, fmt, unit, value, codes) -> None:
    got = normalise_number(raw, fmt, unit)
    assert got.value == value
    assert [n.code for n in got.notes] == codes


def test_percent_format_detection() -> None:
    assert is_percent_format("0.0%") and is_percent_format("#,##0.000%")
    assert not is_percent_format('0.0"%"') and not is_percent_format("#,##0") and not is_percent_format(None)


@pytest.mark.parametrize("raw, value, codes", [
    ("○", "○", []), ("〇", "○", ["W311"]), ("◯", "○", ["W311"]), (" ◎ ", "◎", ["W311"]),
    ("x", "×", ["W311"]), ("-", "—", ["W311"]), ("—", "—", []), ("A", "A", []), (None, None, []),
])
def test_ratings(raw, value, codes) -> None:
    got = normalise_rating(raw)
    assert got.value == value and [n.code for n in got.notes] == codes


def test_text_kept_as_typed() -> None:
    assert normalise_text("  説明 ").value == "  説明 "
    assert normalise_text(123.0).value == "123"
    assert normalise_text("   ").value is None


decimals = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)


@given(decimals)
def test_typed_number_text_round_trips(d) -> None:
    number = float(d)
    for text in (f"{number:,.3f}", f"{number:.3f}", f" {number:.3f}　"):
        parsed, _ = parse_number_text(text)
        assert parsed == pytest.approx(number)


@given(decimals, st.sampled_from(["", "円", "件", "人", "事業所"]))
def test_full_width_and_units_parse_like_ascii(d, unit) -> None:
    ascii_text = f"{float(d):,.2f}"
    full = ascii_text.translate(str.maketrans("0123456789,.", "０１２３４５６７８９，．"))
    assert parse_number_text(full + unit)[0] == parse_number_text(ascii_text)[0]


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_percent_cell_fraction_is_points_never_silently_rescaled(x) -> None:
    got = normalise_number(x, "0.0%", PERCENT)
    assert got.value == pytest.approx(x * 100) and got.notes == ()
    text = normalise_number(f"{x * 100:.4f}%", "0.0%", PERCENT)
    assert text.value == pytest.approx(round(x * 100, 4)) and [n.code for n in text.notes] == ["W305"]


@given(st.floats(min_value=1.0001, max_value=100, allow_nan=False))
def test_points_in_percent_cell_flagged_ambiguous(x) -> None:
    got = normalise_number(x, "0.0%", PERCENT)
    assert got.value == pytest.approx(x) and [n.code for n in got.notes] == ["W306"]


@given(st.text(max_size=12))
def test_never_raises_and_value_is_number_or_none(text) -> None:
    got = normalise_number(text, "General", PLAIN)
    assert got.value is None or isinstance(got.value, float)
    assert all(n.code in ("W305", "E304") for n in got.notes)
