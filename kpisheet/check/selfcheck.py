"""The workbook's own 入力チェック (self-check): the validator's rules as worksheet formulas.

A branch learns of a slip while typing, not a month later from HQ's feedback: every input
cell of KPI入力 and 取組状況 has a hidden helper cell holding, by formula, why it is wrong
(「分子が分母を超えています。」) or "" — the cell turns red (conditional formatting), its row's
「確認」 column says why in words, and the count of cells with a problem is shown at the top
of KPI入力 and 入力の手引き and held by the workbook-level name `check_count`.

Each check is one of the validator's rules (kpisheet.check.rules, kpisheet.read.reader), decided on the
same cell, so a workbook whose 入力チェック shows 0 gets none of these codes from
`kpisheet validate` (SELF_CHECK_CODES).  Rules that need what a workbook cannot know are left
to the validator: the run month (E405, W413 and W421 for a month past its data lag), other branches
(W412), HQ's intent (W416, W417) and how sharply a level may move (W411).

The formulas are plain Excel 2007 functions that Excel and LibreOffice evaluate alike: IF,
AND, OR, NOT, ISNUMBER, ISTEXT, ISERROR, MATCH, LEN, TRIM, COUNTA, SUMPRODUCT — no dynamic
arrays, no LET/LAMBDA, no wildcards.  Excel's AND evaluates every argument, so a division
sits inside an IF that has checked its denominator first.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpisheet.domain.catalogue import Kpi

# the validator codes the 入力チェック mirrors (the same cells; see the module docstring)
# (E319, the reader's refusal of a percent 100 times off, is a W419 cell the workbook flags as outside the range)
SELF_CHECK_CODES = frozenset({"E304", "W305", "W306", "E401", "E402", "E403", "E404", "E406", "E408", "E410",
                              "W413", "W414", "W415", "W418", "W419", "E319", "W421", "W502"})

# what the reader treats as an empty cell although it holds text (normalise.EMPTY_MARKS, NFKC'd)
EMPTY_MARKS = ("—", "-", "－", "ー", "―", "‐", "−", "–", "─", "ｰ", "なし", "無し", "該当なし", "n/a", "N/A")
_EMPTY_MARKS = "{" + ",".join(f'"{m}"' for m in EMPTY_MARKS) + "}"
NEEDS_REMARK = ("△", "×")

# what the 確認 column says (short: one line beside the months)
TEXT_AS_TEXT = "文字が入っています（数字で入力）。"
NEGATIVE = "マイナスの値です。"
OVER_100 = "0%〜100%の範囲外です。"
NO_PERCENT_SIGN = "％が付いていません（「96.5%」のように入力）。"
TOO_SMALL = "小さすぎます（％の付け方を確認）。"
FALLS = "前の月より小さい値です（4月からの累計）。"
NUM_OVER_DEN = "分子が分母を超えています。"
NO_DENOMINATOR = "分母が空欄か0です。"
NO_NUMERATOR = "分母はありますが分子が空欄です（後の月の分子は入力済み）。"  # W421's words
GAP = "空欄です（後の月は入力済み）。"
TARGET_MISSING = "年間目標を入力してください。"
BASELINE_MISSING = "前年度実績を入力してください（目標に使います）。"
RATING_WITHOUT_TEXT = "事業内容が空欄です。"
NO_REMARK = "△・×の理由を備考に記入してください。"


def out_of_range(kpi: Kpi) -> str:
    """「通常の範囲（0.100%〜1.000%）の外です（％の付け方や桁を確認）。」"""
    assert kpi.plausible is not None
    hint = "％の付け方や桁を確認" if kpi.is_percent else "桁を確認"
    return f"通常の範囲（{kpi.format_value(kpi.plausible.low)}〜{kpi.format_value(kpi.plausible.high)}）の外です（{hint}）。"


def rate_out_of_range(kpi: Kpi) -> str:
    assert kpi.plausible is not None
    return (f"率が通常の範囲（{kpi.format_value(kpi.plausible.low)}〜{kpi.format_value(kpi.plausible.high)}）"
            "の外です（分子・分母の桁を確認）。")


Reason = tuple[str, str]  # (condition formula without "=", text shown when it holds)


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def reasons_formula(reasons: list[Reason]) -> str:
    """=IF(c1,"text1","")&IF(c2,"text2","") — every reason that holds, in order; "" when none."""
    if not reasons:
        return '=""'
    return "=" + "&".join(f'IF({cond},{_q(text)},"")' for cond, text in reasons)


def is_text(cell: str) -> str:
    """Text the reader does not take for an empty cell (「－」「なし」 are read as empty)."""
    return f"AND(ISTEXT({cell}),ISERROR(MATCH(TRIM({cell}),{_EMPTY_MARKS},0)))"


def blank(cell: str) -> str:
    return f"LEN({cell})=0"


def number(cell: str, condition: str) -> str:
    """`condition` on a cell holding a number; FALSE for text or a blank.  (AND would evaluate ABS(text)
    and x*100 anyway, and its #VALUE! would spread to the count: Excel and LibreOffice alike.)"""
    return f"IF(ISNUMBER({cell}),{condition},FALSE)"


# ------------------------------------------------------------------ KPI入力: target and last year's value
@dataclass(frozen=True)
class AnnualCells:
    cell: str  # the target or baseline cell
    target: str  # the KPI's target cell (W415 / W418 ask for last year's value only when it is empty too)


def annual_reasons(kpi: Kpi, field: str, cells: AnnualCells, *, asks_baseline: bool) -> list[Reason]:
    """numbers._annual, targets.check (E406, W415, W418) and the reader's W305/W306 on one annual cell.

    A percent cell stores a fraction (0.965); the reader takes a number above 1 there for points
    typed without % (W306), so the checks run on the value the reader makes of it: points p.
    """
    x = cells.cell
    out: list[Reason] = [(is_text(x), TEXT_AS_TEXT)]
    if kpi.is_percent:
        p = f"IF(ABS({x})>1,{x},{x}*100)"
        out.append((number(x, f"ABS({x})>1"), NO_PERCENT_SIGN))
        out.append((number(x, f"OR({p}<0,{p}>100)"), OVER_100))
    else:
        p = x
        out.append((number(x, f"{x}<0"), NEGATIVE))
    valid = f"{p}>=0" + (f",{p}<=100" if kpi.is_percent else "")
    if kpi.plausible is not None:
        low, high = kpi.plausible.low, kpi.plausible.high
        out.append((number(x, f"AND({valid},OR({p}<{low:g},{p}>{high:g}))"), out_of_range(kpi)))
    elif kpi.is_percent and kpi.decimals < 3:
        out.append((number(x, f"AND({p}>0,{p}<1)"), TOO_SMALL))
    if field == "target" and kpi.target.rule == "branch":
        out.append((blank(x), TARGET_MISSING))
    if field == "baseline" and asks_baseline:
        out.append((f"AND({blank(x)},{blank(cells.target)})", BASELINE_MISSING))
    return out


# ------------------------------------------------------------------ KPI入力: one month of a part
@dataclass(frozen=True)
class MonthCells:
    cell: str  # this part's cell of the month
    previous: str | None  # this part's carry cell of the month before (last number so far), None in April
    numerator: str | None = None  # ratio KPIs: the month's numerator and denominator cells
    denominator: str | None = None
    later: tuple[str, ...] = ()  # ranges of the later months of this KPI's rows (the gap check)
    later_numerator: str | None = None  # ratio KPIs: the range of the later months' numerators (W421)


def carry_formula(cell: str, previous: str | None) -> str:
    """The last number of the part's row up to this month ("" before the first): E404 compares with it."""
    return f'=IF(ISNUMBER({cell}),{cell},{previous if previous else chr(34) * 2})'


def month_reasons(kpi: Kpi, field: str, cells: MonthCells) -> list[Reason]:
    """numbers._month, months._falling, months._not_reported and months._numerator_missing (their
    gap: a later month filled) on one monthly cell."""
    x = cells.cell
    out: list[Reason] = [(is_text(x), TEXT_AS_TEXT), (number(x, f"{x}<0"), NEGATIVE)]
    part = {"num": kpi.numerator, "den": kpi.denominator, "val": kpi.value_part}[field]
    if part is not None and part.is_flow and cells.previous:
        prev = cells.previous
        out.append((f"AND(ISNUMBER({x}),ISNUMBER({prev}),{x}<{prev})", FALLS))
    if field == "num":
        out += _ratio_reasons(kpi, x, cells.denominator or "")
        if cells.later_numerator and cells.denominator:  # W421: a denominator, no numerator, a later numerator
            d = cells.denominator
            out.append((f"AND({blank(x)},ISNUMBER({d}),COUNTA({cells.later_numerator})>0)", NO_NUMERATOR))
    if field in ("num", "val") and cells.later:
        own = x if field == "val" else f"{x},{cells.denominator}"
        later = ",".join(cells.later)
        out.append((f"AND(COUNTA({own})=0,COUNTA({later})>0)", GAP))
    return out


def _ratio_reasons(kpi: Kpi, n: str, d: str) -> list[Reason]:
    out: list[Reason] = [(f"AND(ISNUMBER({n}),OR({blank(d)},AND(ISNUMBER({d}),{d}=0)))", NO_DENOMINATOR)]
    both = f"ISNUMBER({n}),ISNUMBER({d})"
    if kpi.is_percent:
        out.append((f"AND({both},{d}>0,{n}>{d})", NUM_OVER_DEN))
    if kpi.plausible is not None:
        rate = f"{n}/{d}*100" if kpi.is_percent else f"{n}/{d}"
        high = f"{rate}>{kpi.plausible.high:g}"
        outside = high if kpi.grows_in_year else f"OR({rate}<{kpi.plausible.low:g},{high})"
        within_den = f"{n}<={d}," if kpi.is_percent else ""
        out.append((f"IF(AND({both}),IF(AND({d}>0,{n}>=0,{within_den}TRUE),{outside},FALSE),FALSE)",
                    rate_out_of_range(kpi)))
    return out


# ------------------------------------------------------------------ 取組状況
def rating_reasons(text: str, rating: str) -> list[Reason]:
    """E408: a rating (other than —) without 事業内容."""
    return [(f'AND(LEN({rating})>0,{rating}<>"—",LEN(TRIM({text}))=0)', RATING_WITHOUT_TEXT)]


def note_reasons(rating: str, note: str) -> list[Reason]:
    """W502: △ or × without a remark."""
    marks = ",".join(f'{rating}="{m}"' for m in NEEDS_REMARK)
    return [(f"AND(OR({marks}),LEN(TRIM({note}))=0)", NO_REMARK)]


# ------------------------------------------------------------------ what a row and the sheet say
def row_summary_formula(helpers: list[tuple[str, str]]) -> str:
    """The 確認 column: the first problem of the row with its month, and how many more.

    `helpers` are (label, helper cell): ("", S9) for an annual cell, ("4月", T12) … for months.
    """
    if not helpers:
        return '=""'
    if len(helpers) == 1:
        return f"={helpers[0][1]}"
    first = '""'
    for label, cell in reversed(helpers):
        shown = f'"{label}："&{cell}' if label else cell
        first = f"IF(LEN({cell})>0,{shown},{first})"
    count = "+".join(f"(LEN({cell})>0)" for _, cell in helpers)
    more = f'IF(({count})>1,"（ほか"&(({count})-1)&"か所）","")'
    return f"={first}&{more}"


def count_formula(ranges: list[str]) -> str:
    """How many helper cells hold a reason: the number of cells with a problem."""
    if not ranges:
        return "=0"
    return "=" + "+".join(f"SUMPRODUCT((LEN({r})>0)*1)" for r in ranges)
