"""The KPI入力 sheet: one block per KPI (target, previous-year value, 4月…3月 inputs, 入力チェック)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


from kpisheet.check import selfcheck as sc
from kpisheet.domain.catalogue import Kpi, Part
from kpisheet.domain.display import fits, number_format
from kpisheet.domain.ratings import plan_target
from kpisheet.domain.fiscal import fiscal_months, month_compact, month_label, wareki_fiscal_year, wareki_month
from kpisheet.read.names import (
    CHECK_COUNT_NAME,
    INFO_LABELS,
    KEY_COLUMN,
    KEY_ROW,
    SHEET_KPI,
    SHEET_MEASURES,
    TEXT_LIMITS,
    info_key,
    kpi_key,
)
from kpisheet.template.book import (
    SMALL_FONT_WIDTH,
    Book,
    _lines,
    _rating_validation,
    _row_height,
    _summary_formula,
    _text_validation,
    xl_range_abs,
)
from kpisheet.template.layout import (
    CARRY_OFFSET,
    CHECK_HOW_JA,
    CHECK_OFFSET,
    CHECK_RIGHT_JA,
    CHECK_SEND_JA,
    FLOW_JA,
    INPUT_ROW_HEIGHT,
    KPI_CHECK_COL,
    KPI_FIRST_MONTH_COL,
    KPI_FIRST_ROW,
    KPI_HEAD_ROWS,
    KPI_INFO_ROWS,
    KPI_PRINT_SCALE,
    KPI_SECOND_PAGE_COL,
    KPI_SIDE_MARGIN,
    KPI_SPAN_LAST_COL,
    KPI_SPAN_WIDTH,
    KPI_SHEET_NOTE,
    KPI_VALUE_COL,
    KPI_WIDTHS,
    MEASURE_COUNT_CELL,
    OVERWRITE_JA,
    QUALITATIVE_TEXT_HEIGHT,
    RATING_MEANINGS,
    TAG_FLOW,
    TAG_LEVEL,
    TAG_POPULATION,
)
from kpisheet.xlsx_write import cell_reference


# ================================================================ flows and stocks, as a branch reads them
def part_tag(kpi: Kpi, part: Part) -> str:
    """累計 | 年度の数 | 月末時点: what a monthly cell of `part` holds (the tag after its row label)."""
    if part.is_flow:
        return TAG_FLOW
    return TAG_POPULATION if kpi.grows_in_year else TAG_LEVEL


def part_entry_ja(kpi: Kpi, part: Part) -> str:
    """「4月から各月末までの累計」「年度の対象者数（各月とも同じ値で可）」「各月末時点の数（…）」."""
    tag = part_tag(kpi, part)
    if tag == TAG_FLOW:
        return FLOW_JA
    if tag == TAG_POPULATION:
        return f"年度の{part.label}（各月とも同じ値で可）"
    return "各月末時点の数（4月から足し上げない）"


def entry_ja(kpi: Kpi) -> str:
    """What to enter month by month, for the KPI's explanation line."""
    if kpi.kind == "qualitative":
        return "実施内容を文章で記入し、自己評価を選択"
    if kpi.kind == "count":
        assert kpi.value_part
        return f"{part_entry_ja(kpi, kpi.value_part)}を入力"
    assert kpi.numerator and kpi.denominator
    num, den = part_entry_ja(kpi, kpi.numerator), part_entry_ja(kpi, kpi.denominator)
    if num == den:
        return f"分子・分母とも{num}を入力（率は自動計算）"
    return (f"分子（{kpi.numerator.label}）は{num}、分母（{kpi.denominator.label}）は{den}を入力"
            "（率は自動計算）")


def part_prompt(kpi: Kpi, part: Part) -> tuple[str, str]:
    """(title, message) of the input prompt over a part's monthly cells."""
    later = "データが届いていない月は空欄のままで構いません。" if kpi.lag_months or kpi.lag_annual else ""
    tag = part_tag(kpi, part)
    if tag == TAG_FLOW:
        return "累計を入力", (f"{part.label}：4月から当月末までの累計を、数字だけで入力してください"
                            f"（単位は付けない）。{later}")
    if tag == TAG_POPULATION:
        return "年度の数を入力", (f"{part.label}：年度の{part.label}を、数字だけで入力してください"
                              f"（4月から足し上げない。各月とも同じ値で可。単位は付けない）。{later}")
    return "月末時点の数を入力", (f"{part.label}：当月末時点の数を、数字だけで入力してください"
                             f"（4月から足し上げない。単位は付けない）。{later}")


# The data a lagging KPI waits for, by a word of the catalogue's lag note (else just データ).
_LAG_SUBJECTS = (("診療月", "レセプトのデータ（診療月ベース）"), ("保健指導", "特定保健指導のデータ"),
                 ("健診", "健診データ"))


def lag_ja(kpi: Kpi) -> str | None:
    """「※健診データは通常2か月程度遅れて届きます。…」 for a KPI whose data trail the month; else None."""
    if kpi.lag_annual:
        return ("※この指標は年度が終わってから集計されます（年度中の値はありません）。"
                "値が届くまで月別の欄は空欄のままで構いません。")
    if not kpi.lag_months:
        return None
    subject = next((ja for word, ja in _LAG_SUBJECTS if word in (kpi.lag_note or "")), "この指標のデータ")
    return (f"※{subject}は通常{kpi.lag_months}か月程度遅れて届きます。届いた月まで入力し、"
            "以降の月は空欄のままで構いません。")


def branch_note(note: str) -> str:
    """A catalogue note as a branch reads it: a bracketed developer reference an older catalogue carried
    (「（seed …）」) left out; notes now name documents by title, which stays."""
    out: list[str] = []
    depth = start = kept = 0
    for i, ch in enumerate(note):
        if ch == "（":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "）" and depth:
            depth -= 1
            if depth == 0 and "seed " in note[start:i]:
                out.append(note[kept:start])
                kept = i + 1
    out.append(note[kept:])
    return "".join(out).strip()


@dataclass
class _Prefill:
    value: float | None
    note: str
    prefilled: bool
    from_plan: bool = False  # the approved 事業計画's target (_meta prefill_sources)


PLAN_KEEP_JA = "変更した場合は変更後の値で評価し、事業計画の目標と異なる旨を確認事項でお知らせします"


# ================================================================ the sheet
def write_kpi_sheet(book: Book) -> None:
    ws = book.sheets[SHEET_KPI]
    months = fiscal_months(book.fy)
    last_col = KPI_FIRST_MONTH_COL + len(months) - 1
    _kpi_columns(book, ws, months)
    book.title_rows(ws)
    _info_rows(book, ws)
    # within D..J, the first printed page (the heading colour needs no swatch: the headings show it)
    book.legend(ws, 5, 2, [(3, 4, "input_plain", "入力欄（入力してください）"),
                           (5, 6, "prefill_plain", "本部記入済み（修正可）"),
                           (7, 7, "calc_plain", "自動計算・対象外"), (8, 9, "problem_plain", "要確認（入力チェック）")])
    ws.merge_range(6, 1, 6, KPI_SPAN_LAST_COL, KPI_SHEET_NOTE, book.fmt("note"))
    book.height(ws, 6, _row_height(_lines(KPI_SHEET_NOTE, KPI_SPAN_WIDTH * SMALL_FONT_WIDTH), 12))
    _kpi_heads(book, ws, months, last_col)
    row, pillar = KPI_FIRST_ROW, None
    if not book.kpis:
        ws.write_string(row, 2, "この年度に入力するKPIはありません。", book.fmt("note"))
        row += 1
    for kpi in book.kpis:
        measure = book.catalogue.measure(kpi.measure_id)
        first = row
        if measure.pillar != pillar:
            pillar = measure.pillar
            row = book.pillar_band(ws, row, KPI_CHECK_COL, pillar)
        row = _kpi_block(book, ws, row, kpi, months)
        book.blocks[SHEET_KPI].append((first, row - 1))
    last_input = max(row - 1, KPI_FIRST_ROW)
    row = _kpi_footnotes(book, ws, row + 1, KPI_SPAN_LAST_COL)
    _kpi_check_area(book, ws, last_input)
    ws.freeze_panes(KPI_FIRST_ROW, KPI_VALUE_COL)
    book.page_setup(ws, KPI_CHECK_COL - 1, KPI_HEAD_ROWS, row, KPI_WIDTHS, second_page_col=KPI_SECOND_PAGE_COL,
                    scale=KPI_PRINT_SCALE, side_margin=KPI_SIDE_MARGIN, second_rows=(KPI_HEAD_ROWS[0], last_input))


def _kpi_columns(book: Book, ws: Any, months: list[date]) -> None:
    ws.set_column(0, 0, 14, None, {"hidden": True})
    for col, width in enumerate(KPI_WIDTHS, 1):
        ws.set_column(col, col, width)
    ws.set_column(KPI_CHECK_COL + 1, KPI_CHECK_COL + CARRY_OFFSET, 8, None, {"hidden": True})
    ws.set_row(KEY_ROW - 1, None, None, {"hidden": True})
    ws.write_string(KEY_ROW - 1, KEY_COLUMN - 1, "key")
    ws.write_string(KEY_ROW - 1, KPI_VALUE_COL - 1, "info")
    ws.write_string(KEY_ROW - 1, KPI_VALUE_COL, "value")
    for i, m in enumerate(months):
        ws.write_string(KEY_ROW - 1, KPI_FIRST_MONTH_COL + i, month_compact(m))


def _kpi_heads(book: Book, ws: Any, months: list[date], last_col: int) -> None:
    head = book.fmt("head")
    h0, h1 = KPI_HEAD_ROWS
    ws.merge_range(h0, 1, h1, 1, "KPI ID", head)
    ws.merge_range(h0, 2, h1, 2, "項目（単位・入力する値）", head)
    ws.merge_range(h0, 3, h1, 3, "年間目標\n前年度実績", head)
    for first, last in ((KPI_FIRST_MONTH_COL, KPI_SECOND_PAGE_COL - 1), (KPI_SECOND_PAGE_COL, last_col)):  # a page each
        ws.merge_range(h0, first, h0, last,
                       f"月別実績（項目名の「{TAG_FLOW}」「{TAG_LEVEL}」「{TAG_POPULATION}」のとおりに入力）", head)
    for i, m in enumerate(months):
        ws.write_string(h1, KPI_FIRST_MONTH_COL + i, month_label(m), head)
    ws.merge_range(h0, KPI_CHECK_COL, h1, KPI_CHECK_COL, "確認\n（入力チェック）", head)
    book.height(ws, h0, 18)
    book.height(ws, h1, 18)


def _info_rows(book: Book, ws: Any) -> None:
    """記入者 and 連絡先 (inputs, read back), and beside them the 入力チェック's count of problems."""
    for row, field in zip(KPI_INFO_ROWS, ("preparer", "contact"), strict=True):
        ws.write_string(row, 1, INFO_LABELS[field], book.fmt("label", "center", bold=True))
        book.input(SHEET_KPI, row, 2, info_key(field), None, book.fmt("input", "text"))
        book.validate(SHEET_KPI, (row, 2), (row, 2), _info_validation(field))
        book.height(ws, row, 18)
    top, bottom = KPI_INFO_ROWS
    ws.write_string(top, 3, "入力チェック", book.fmt("head", font_size=9))
    kpi_count = cell_reference(top, KPI_CHECK_COL + 1)
    measure_count = f"'{SHEET_MEASURES}'!{cell_reference(*MEASURE_COUNT_CELL, row_abs=True, col_abs=True)}"
    ws.write_formula(bottom, 3, f"={kpi_count}+{measure_count}", book.fmt("count"), "")
    total = cell_reference(bottom, 3, row_abs=True, col_abs=True)  # absolute: the colour rule covers E:J too
    book.wb.define_name(CHECK_COUNT_NAME, f"='{SHEET_KPI}'!{cell_reference(bottom, 3, row_abs=True, col_abs=True)}")
    ws.merge_range(top, 4, top, KPI_SPAN_LAST_COL, CHECK_HOW_JA, book.fmt("note", valign="vcenter"))
    ws.merge_range(bottom, 4, bottom, KPI_SPAN_LAST_COL, "", book.fmt("summary"))
    ws.write_formula(bottom, 4, _summary_formula(total, [("KPI入力", kpi_count), ("取組状況", measure_count)]),
                     book.fmt("summary"), "")
    book.traffic_light(ws, (bottom, 3), (bottom, KPI_SPAN_LAST_COL), total)


def _kpi_block(book: Book, ws: Any, row: int, kpi: Kpi, months: list[date]) -> int:
    # Columns B:C print again beside 10月〜3月, so what B:C hold fits them: the short label in C (wrapped
    # when long), the full label and the explanation written from D across the first page only.
    band = book.fmt("block")
    ws.write_string(row, 1, kpi.id, band)
    ws.write_string(row, 2, kpi.short_label, book.fmt("block", text_wrap=True))
    ws.write_blank(row, 3, None, band)
    if kpi.label != kpi.short_label:
        ws.write_string(row, 3, kpi.label, book.fmt("block", bold=False))
    for c in range(4, KPI_CHECK_COL + 1):
        ws.write_blank(row, c, None, band)
    book.height(ws, row, 18 if fits(kpi.short_label, KPI_WIDTHS[1]) else _row_height(_lines(kpi.short_label, KPI_WIDTHS[1])))
    row += 1
    info = _kpi_info(book, kpi)
    ws.write_string(row, 2, INFO_CAPTION, book.fmt("info"))
    ws.merge_range(row, KPI_VALUE_COL, row, KPI_SPAN_LAST_COL, info, book.fmt("info"))
    ws.write_blank(row, 1, None, book.fmt("info"))
    for c in range(KPI_SPAN_LAST_COL + 1, KPI_CHECK_COL + 1):
        ws.write_blank(row, c, None, book.fmt("info"))
    book.height(ws, row, _row_height(_lines(info, KPI_INFO_WIDTH * SMALL_FONT_WIDTH), 13))
    row += 1
    if kpi.kind == "qualitative":
        return _qualitative_rows(book, ws, row, kpi) + 1
    row = _annual_rows(book, ws, row, kpi)
    valid = [m for m in months if kpi.applies_in(m)]
    if kpi.kind == "ratio":
        assert kpi.numerator and kpi.denominator
        rows = {"num": row, "den": row + 1}
        _month_row(book, ws, row, kpi, "num", "分子", kpi.numerator, months, valid, rows)
        _month_row(book, ws, row + 1, kpi, "den", "分母", kpi.denominator, months, valid, rows)
        _rate_row(book, ws, row + 2, kpi, row, row + 1, months, set(valid))
        row += 3
    else:
        assert kpi.value_part
        _month_row(book, ws, row, kpi, "val", "実績", kpi.value_part, months, valid, {"val": row})
        row += 1
    book.height(ws, row, 6)
    return row + 1


def _kpi_info(book: Book, kpi: Kpi) -> str:
    """The grey explanation line of a KPI block: target (with the term goal), direction, what to enter."""
    direction = "高いほど良い（目標以上で達成）" if kpi.direction == ">=" else "低いほど良い（目標以下で達成）"
    parts = [f"目標：{_target_ja(book, kpi)}", f"評価の向き：{direction}", entry_ja(kpi)]
    if kpi.kind == "qualitative":
        parts = [f"目標：{_target_ja(book, kpi)}", entry_ja(kpi)]
    text = "　／　".join(parts)
    if (lag := lag_ja(kpi)) is not None:
        text += f"\n{lag}"
    if kpi.valid_until:
        last = kpi.months(book.fy)[-1] if kpi.months(book.fy) else None
        if last:
            text += f"\n※{wareki_month(last)}分まで入力（それ以降の月は対象外）"
    if kpi.note:
        text += f"\n※{branch_note(kpi.note)}"
    return text


INFO_CAPTION = "目標・入力方法"  # column C of a KPI's grey explanation row (the text itself is in D:J)
KPI_INFO_WIDTH = KPI_SPAN_WIDTH - KPI_WIDTHS[0] - KPI_WIDTHS[1]  # D..J


def _target_ja(book: Book, kpi: Kpi) -> str:
    """「支部で設定（第6期末目標 64.8%以上）」: the year's target rule, with the term goal as reference."""
    year = kpi.target.describe_ja(kpi)
    if kpi.kind == "qualitative" or kpi.term_goal.rule == "branch":
        return year
    goal = kpi.term_goal.describe_ja(kpi)
    nation = "全国の" if kpi.kind == "count" and kpi.term_goal.rule == "fixed" else ""
    term = f"{nation}第{book.catalogue.term}期末目標"
    return f"{year}（{term}と同じ）" if goal == year else f"{year}（{term} {goal}）"


def _label_height(label: str) -> float:
    """An input row as tall as its wrapped label (column C) needs."""
    return max(INPUT_ROW_HEIGHT, _row_height(_lines(label, KPI_WIDTHS[1])) - 4)


def _annual_rows(book: Book, ws: Any, row: int, kpi: Kpi) -> int:
    target, baseline = prefill(book, kpi)
    unit = f"（{kpi.unit_label}）"
    target_cell = cell_reference(row, KPI_VALUE_COL)
    for offset, (fieldname, label, pre) in enumerate((("target", f"年間目標{unit}", target),
                                                      ("baseline", f"前年度実績{unit}", baseline))):
        r = row + offset
        ws.write_string(r, 1, "目標" if fieldname == "target" else "前年度", book.fmt("label", "center"))
        book.height(ws, r, _label_height(label))
        ws.write_string(r, 2, label, book.fmt("label"))
        cell_value = None if pre.value is None else (pre.value / 100 if kpi.is_percent else pre.value)
        book.input(SHEET_KPI, r, KPI_VALUE_COL, kpi_key(kpi.id, fieldname), cell_value,
                   _number_format(book, kpi, prefilled=pre.prefilled, annual=True))
        book.validate(SHEET_KPI, (r, KPI_VALUE_COL), (r, KPI_VALUE_COL), _number_validation(book, kpi, True))
        ws.write_string(r, KPI_VALUE_COL + 1, pre.note, book.fmt("hint"))
        cells = sc.AnnualCells(cell_reference(r, KPI_VALUE_COL), target_cell)
        reasons = sc.annual_reasons(kpi, fieldname, cells, asks_baseline=_asks_baseline(book, kpi))
        book.check(ws, r, KPI_VALUE_COL, "", reasons)
    return row + 2


def _asks_baseline(book: Book, kpi: Kpi) -> bool:
    """W415 / W418: the target follows from last year's value (also for a KPI new or redefined this term:
    HQ can compute last year's value under the new definition)."""
    return kpi.target.rule in ("baseline", "generic_conditional")


def prefill(book: Book, kpi: Kpi) -> tuple[_Prefill, _Prefill]:
    code = book.branch.code
    base = book.baselines.get(code, kpi.id)
    previous = wareki_fiscal_year(book.fy - 1)
    rule = kpi.target.rule
    if base is not None:
        origin = book.baselines.origin(code, kpi.id)
        via = f"、{origin}（第{book.catalogue.term - 1}期）の値を引継ぎ" if origin and origin != kpi.id else ""
        fix = ("評価には本部の値を使います。誤りがあれば本部に連絡してください"
               if rule in ("baseline", "generic_conditional") else "誤りがあれば修正してください")
        baseline = _Prefill(base, f"← 本部記入済み（{previous}実績{via}）。{fix}", True)
    else:
        uses = "（目標にも使います）" if rule in ("baseline", "generic_conditional") else ""
        baseline = _Prefill(None, f"← {previous}の実績を入力してください{uses}{_baseline_caveat(book, kpi)}", False)
    given = book.targets.get(code, kpi.id)
    planned = plan_target(book.plan, kpi.id)
    if given is not None:
        target = _Prefill(given, f"← 本部記入済み（本部から提示された目標値）。{OVERWRITE_JA}", True)
    elif planned is not None:  # the approved 事業計画's target (a 対前年度 target keeps the rule, below)
        target = _Prefill(planned, f"← 本部記入済み（{wareki_fiscal_year(book.fy)}事業計画の目標）。{PLAN_KEEP_JA}", True,
                          from_plan=True)
    elif rule == "fixed" and kpi.target.value is not None:
        target = _Prefill(kpi.target.value, f"← 本部記入済み（全国共通の目標）。{OVERWRITE_JA}", True)
    elif rule == "baseline":  # the rule, applied when rating: never a number frozen here (README, "Ratings")
        target = _Prefill(None, "← 空欄のままで構いません（下の前年度実績を目標として評価します）。"
                                "支部の事業計画で別の目標を定めた場合は入力してください", False)
    elif rule == "generic_conditional":
        floor = kpi.format_value(kpi.target.value or 0)
        target = _Prefill(None, f"← 空欄のままで構いません（前年度実績が{floor}以上ならその値、未満なら{floor}を"
                                "目標として評価します）", False)
    else:
        target = _Prefill(None, f"← 支部の事業計画の年間目標を入力してください（例：{_example(kpi)}）", False)
    return target, baseline


def _baseline_caveat(book: Book, kpi: Kpi) -> str:
    if book.catalogue.term != 6 or book.fy != book.catalogue.first_fy:
        return ""
    from kpisheet.domain.catalogue import load_mapping
    link = load_mapping().predecessor(kpi.id)
    if link is None or link.relation == "新設":
        return "（今期の新しいKPI。分かる範囲で）"
    if not link.baseline_valid:
        return f"（前期の{link.from_id}とは定義が異なるため、新しい定義で）"
    return ""


def _example(kpi: Kpi) -> str:
    """A value as the branch would type it: the fixed target, else one in the plausible range (96.5%)."""
    if not kpi.is_percent:
        return "8364" if kpi.display == "yen" else "1170"
    if kpi.target.rule == "fixed" and kpi.target.value is not None:
        return kpi.format_value(kpi.target.value)
    if kpi.decimals > 2:
        return "0.310%"
    if kpi.plausible is not None and not kpi.plausible.holds(96.5):
        return kpi.format_value(float(f"{(kpi.plausible.low + kpi.plausible.high) / 2:.2g}"))
    return f"{96.5:.{max(kpi.decimals, 1)}f}%"


def _number_format(book: Book, kpi: Kpi, *, prefilled: bool, annual: bool) -> Any:
    style = "prefill" if prefilled else "input"
    return book.fmt(style, "number", num_format=number_format(kpi, unit="none") if annual else "#,##0")


def _number_validation(book: Book, kpi: Kpi, annual: bool) -> dict[str, Any]:
    if annual and kpi.plausible is not None:
        return _plausible_validation(book, kpi)
    if annual and kpi.is_percent:
        example = _example(kpi)
        return {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 1,
                "input_title": "割合（％）を入力",
                "input_message": f"「{example}」のように％を付けて入力してください（0%〜100%）。",
                "error_title": "割合を入力してください",
                "error_message": f"0%〜100%の割合を「{example}」のように％を付けて入力してください。"
                                 "％を付けずに数字だけを入力すると、このエラーになることがあります。"}
    unit = "円" if kpi.display == "yen" else (kpi.unit_label if annual else "単位")
    return {"validate": "decimal", "criteria": ">=", "value": 0,
            "input_title": "数値を入力",
            "input_message": f"数字だけを入力してください（{unit}や文字は付けない。例：{_example_plain(kpi)}）。",
            "error_title": "数字を入力してください",
            "error_message": "0以上の数値を、数字だけで入力してください（「円」「人」「事業所」などの単位や文字は付けません）。"}


def _plausible_validation(book: Book, kpi: Kpi) -> dict[str, Any]:
    """The KPI's plausible range (catalogue) as a warning: Excel asks before it keeps a value outside it,
    so a 100x slip of percent entry (0.310 → 31.0%) is caught while typing; a real outlier can still go in."""
    assert kpi.plausible is not None
    scale = 100 if kpi.is_percent else 1
    low, high = kpi.format_value(kpi.plausible.low), kpi.format_value(kpi.plausible.high)
    how = (f"「{_example(kpi)}」のように％を付けて入力してください" if kpi.is_percent
           else f"数字だけを入力してください（円は付けない。例：{_example_plain(kpi)}）")
    return {"validate": "decimal", "criteria": "between", "minimum": kpi.plausible.low / scale,
            "maximum": kpi.plausible.high / scale, "error_type": "warning",
            "input_title": "割合（％）を入力" if kpi.is_percent else "金額を入力",
            "input_message": f"{how}。通常は{low}〜{high}です。",
            "error_title": "通常の範囲外の値です",
            "error_message": f"このKPIの値は通常{low}〜{high}です。％の付け方や桁を確認してください"
                             "（例：「0.310」と入力すると31.0%になります）。正しい値であれば「はい」で続けてください。"}


def _example_plain(kpi: Kpi) -> str:
    return "8364" if kpi.display == "yen" else "1170"


def _month_row(book: Book, ws: Any, row: int, kpi: Kpi, fieldname: str, role: str, part: Part,
               months: list[date], valid: list[date], rows: dict[str, int]) -> None:
    label = f"{part.label}（{part.unit}・{part_tag(kpi, part)}）"
    ws.write_string(row, 1, role, book.fmt("label", "center"))
    ws.write_string(row, 2, label, book.fmt("label"))
    book.height(ws, row, _label_height(label))
    ws.write_blank(row, KPI_VALUE_COL, None, book.fmt("calc_plain", "border"))
    cell_format = book.fmt("input", "number", num_format="#,##0")
    cols = []
    for i, m in enumerate(months):
        col = KPI_FIRST_MONTH_COL + i
        if m in valid:
            book.input(SHEET_KPI, row, col, kpi_key(kpi.id, fieldname, m), None, cell_format)
            cols.append(col)
        else:
            ws.write_string(row, col, "対象外", book.fmt("calc_plain", "border", align="center"))
    for k, (m, col) in enumerate(zip(valid, cols, strict=True)):
        _month_check(book, ws, kpi, fieldname, row, col, cols[k + 1:], rows, m, first=k == 0)
    if cols:
        options = _number_validation(book, kpi, annual=False)
        options["input_title"], options["input_message"] = part_prompt(kpi, part)
        book.validate(SHEET_KPI, (row, cols[0]), (row, cols[-1]), options)


def _month_check(book: Book, ws: Any, kpi: Kpi, fieldname: str, row: int, col: int, later: list[int],
                 rows: dict[str, int], month: date, *, first: bool) -> None:
    """One monthly cell's 入力チェック: its helper, and for a year-to-date flow its carry (last number so far)."""
    cell = cell_reference(row, col)
    previous = None
    part = {"num": kpi.numerator, "den": kpi.denominator, "val": kpi.value_part}[fieldname]
    if part is not None and part.is_flow:  # only a flow is compared with the month before (E404)
        previous = None if first else cell_reference(row, col - 1 + CARRY_OFFSET)
        ws.write_formula(row, col + CARRY_OFFSET, sc.carry_formula(cell, previous), None, "")
    parts = [rows[f] for f in ("num", "den", "val") if f in rows]
    later_ranges = tuple(f"{cell_reference(r, later[0])}:{cell_reference(r, later[-1])}"
                         for r in parts) if later else ()
    cells = sc.MonthCells(cell, previous,
                          numerator=cell_reference(rows["num"], col) if "num" in rows else None,
                          denominator=cell_reference(rows["den"], col) if "den" in rows else None,
                          later=later_ranges,
                          later_numerator=later_ranges[0] if "num" in rows and later_ranges else None)
    book.check(ws, row, col, month_label(month), sc.month_reasons(kpi, fieldname, cells))


def _rate_row(book: Book, ws: Any, row: int, kpi: Kpi, num_row: int, den_row: int, months: list[date],
              valid: set[date]) -> None:
    ws.write_string(row, 1, "計算", book.fmt("calc_plain", "border", align="center"))
    label = f"{kpi.short_label}（{kpi.unit_label}）"
    book.height(ws, row, _label_height(label))
    ws.write_string(row, 2, label, book.fmt("calc_plain", "border", text_wrap=True))
    ws.write_blank(row, KPI_VALUE_COL, None, book.fmt("calc_plain", "border"))
    calc = book.fmt("calc", num_format=number_format(kpi, unit="none"))
    for i, m in enumerate(months):
        col = KPI_FIRST_MONTH_COL + i
        if m not in valid:
            ws.write_string(row, col, "対象外", book.fmt("calc_plain", "border", align="center"))
            continue
        n = cell_reference(num_row, col)
        d = cell_reference(den_row, col)
        ws.write_formula(row, col, f'=IF(OR({n}="",{d}=""),"",IFERROR({n}/{d},""))', calc, "")


def _qualitative_rows(book: Book, ws: Any, row: int, kpi: Kpi) -> int:
    ws.write_string(row, 1, "実施内容", book.fmt("label", "center"))
    ws.write_string(row, 2, "実施内容・結果（文章で記入）", book.fmt("label"))
    limit = TEXT_LIMITS["text"]
    last_col = KPI_SPAN_LAST_COL  # the text box stays on the first printed page
    book.input(SHEET_KPI, row, KPI_VALUE_COL, kpi_key(kpi.id, "text"), None, book.fmt("input", "text"),
               merge_to=last_col)
    for c in range(last_col + 1, KPI_CHECK_COL):
        ws.write_blank(row, c, None, book.fmt("calc_plain", "border"))
    book.validate(SHEET_KPI, (row, KPI_VALUE_COL), (row, last_col), _text_validation(limit))
    book.height(ws, row, QUALITATIVE_TEXT_HEIGHT)
    row += 1
    ws.write_string(row, 1, "自己評価", book.fmt("label", "center"))
    ws.write_string(row, 2, "自己評価（◎ ○ △ × —）", book.fmt("label"))
    book.height(ws, row, _label_height("自己評価（◎ ○ △ × —）"))
    book.input(SHEET_KPI, row, KPI_VALUE_COL, kpi_key(kpi.id, "rating"), None, book.fmt("input", "rating"))
    book.validate(SHEET_KPI, (row, KPI_VALUE_COL), (row, KPI_VALUE_COL), _rating_validation())
    ws.write_string(row, KPI_VALUE_COL + 1, "← リストから選択：" + "　".join(f"{r} {t}" for r, t in RATING_MEANINGS.items()),
                    book.fmt("hint"))
    row += 1
    book.height(ws, row, 6)
    return row


def _kpi_footnotes(book: Book, ws: Any, row: int, last_col: int) -> int:
    notes = ["※黄色のセルに入力してください。青色のセルは本部で記入済みです（目標に誤りがあれば修正してください。"
             "目標を上書きした場合は、上書きした値で評価します。前年度実績は本部の値で評価します）。灰色のセルは自動計算または対象外のため入力不要です。",
             f"※赤いセルは入力チェックで問題が見つかったセルです。理由は同じ行の「確認」欄にあります。{CHECK_SEND_JA}。"
             f"{CHECK_RIGHT_JA}",
             "※割合の月別の値は入力不要です（分子・分母から自動計算されます）。",
             "※データが遅れて届くKPI（健診・ジェネリックなど）は、届いた月まで入力し、以降の月は空欄のままで構いません。",
             "※行・列の挿入や削除、シート名の変更はしないでください。貼り付けは「値の貼り付け」を使ってください。"]
    for text in notes:
        ws.merge_range(row, 1, row, last_col, text, book.fmt("note"))
        book.height(ws, row, _row_height(_lines(text, KPI_SPAN_WIDTH * SMALL_FONT_WIDTH), 12))
        row += 1
    return row - 1


def _kpi_check_area(book: Book, ws: Any, last_row: int) -> None:
    """確認 cells (the row's problems in words), the red rule over the inputs and the sheet's count."""
    book.row_summaries(ws, KPI_CHECK_COL)
    first_helper = cell_reference(KPI_FIRST_ROW, KPI_VALUE_COL + CHECK_OFFSET)
    ws.conditional_format(KPI_FIRST_ROW, KPI_VALUE_COL, last_row, KPI_FIRST_MONTH_COL + 11,
                          {"type": "formula", "criteria": f"=LEN({first_helper})>0", "format": book.cond("problem")})
    helpers = xl_range_abs(KPI_FIRST_ROW, KPI_VALUE_COL + CHECK_OFFSET, last_row,
                           KPI_FIRST_MONTH_COL + 11 + CHECK_OFFSET)
    ws.write_formula(KPI_INFO_ROWS[0], KPI_CHECK_COL + 1, sc.count_formula([helpers]), None, "")


def _info_validation(field: str) -> dict[str, Any]:
    what = "入力した方の所属・氏名（例：企画総務グループ 山田）" if field == "preparer" else "連絡先の内線・電話・メールアドレス"
    return {"validate": "length", "criteria": "<=", "value": 100, "input_title": f"{INFO_LABELS[field]}を入力",
            "input_message": f"{what}を入力してください。", "error_title": "文字数が多すぎます",
            "error_message": "100文字以内で入力してください。"}
