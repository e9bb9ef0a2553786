"""月次推移: the national figure month by month, beside the figure over a fixed set of branches.

Per KPI four rows — 全国（報告支部すべて）, 全国（毎月報告のn支部）, 報告支部数 and 報告支部の変化
(＋ joined, － left, against the previous month) — so a branch missing in a month is seen moving
the national count instead of being read as a change in the nation.  A line chart per KPI sits
to the right of the table, outside the print area.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from xlsxwriter.workbook import Workbook

from kpisheet.consolidate.model import Consolidation, KpiTrend
from kpisheet.domain.catalogue import Kpi
from kpisheet.domain.fiscal import fiscal_months, month_key, month_label
from kpisheet.domain.display import format_value, text_width
from kpisheet.write.report.layout import FONT, HEAD_BG, PAGE_UNITS, Column, Sheet, Styles, column_pages
from kpisheet.write.report.texts import branch_names, num_format, short_name, stored, title_ja

TREND_NOTE = ("各月の値はその月末までのデータによる全国の実績（受診者数などは4月からの累計、事業所数などはその月末の数）。"
              "「毎月報告の支部」は4月からデータ時点まで毎月値のある支部だけで計算した値で、報告する支部が変わっても"
              "月どうしを比べられます。「報告支部の変化」は前の月と比べて報告が増えた（＋）・欠けた（－）支部で、"
              "報告支部数の色付きのセルはその月に全国の値が支部の増減で動いたことを示します。"
              "データ時点（報告支部の半数以上にデータが届いている最新月）より後の月は空欄で、印刷は集計月までです。グラフは画面のみ（印刷範囲外）。")
ALL, FIXED, COUNT, CHANGE = "all", "fixed", "count", "change"
MAX_NAMES = 4  # more branches joined or left in one month: their count


def _kinds(trend: KpiTrend) -> list[str]:
    rows = [ALL, FIXED, COUNT]
    changed = any(p.changed for p in trend.points if trend.data_month and p.month <= trend.data_month)
    return rows + [CHANGE] if changed else rows


def trend_rows(cons: Consolidation) -> list[tuple[Kpi, KpiTrend, str]]:
    """(kpi, its trend, row kind) for every quantitative KPI with a trend."""
    return [(k, cons.trend[k.id], kind) for k in cons.kpis if k.id in cons.trend
            for kind in _kinds(cons.trend[k.id])]


def _label(row: tuple[Kpi, KpiTrend, str]) -> str:
    _kpi, trend, kind = row
    return {ALL: "全国（報告支部すべて）", FIXED: f"全国（毎月報告の{len(trend.fixed)}支部）",
            COUNT: "報告支部数", CHANGE: "報告支部の変化"}[kind]


def _month_value(row: tuple[Kpi, KpiTrend, str], key: str, names: dict[str, str]) -> Any:
    kpi, trend, kind = row
    p = trend.point(key)
    if p is None or trend.data_month is None or key > trend.data_month:
        return None  # beyond the national data month fewer than half the branches have data
    if kind == ALL:
        return stored(kpi, p.value)
    if kind == FIXED:
        return stored(kpi, p.fixed_value)
    if kind == COUNT:
        return len(p.reporting)
    return "\n".join(_change_ja("＋", p.joined, names) + _change_ja("－", p.left, names))


def _change_ja(sign: str, codes: tuple[str, ...], names: dict[str, str]) -> list[str]:
    """「＋新潟」 per branch, or 「－12支部」 when more than a few changed at once."""
    if len(codes) > MAX_NAMES:
        return [f"{sign}{len(codes)}支部"]
    return [f"{sign}{short_name(names, c)}" for c in codes]


def _month_format(kind_key: str) -> Any:
    def fmt(st: Styles, row: tuple[Kpi, KpiTrend, str]) -> Any:
        kpi, trend, kind = row
        if kind in (ALL, FIXED):
            return st.fmt(num_format(kpi), None, bold=kind == ALL)
        p = trend.point(kind_key)
        changed = p is not None and p.changed and trend.data_month is not None and kind_key <= trend.data_month
        if kind == COUNT:
            return st.fmt("0", None, align="center", **({"bg_color": "#FFF2CC"} if changed else {}))
        return st.fmt(None, None, text_wrap=True)
    return fmt


def cell_width(kpi: Kpi, value: float | None) -> float:
    """Column width a KPI value needs in a report cell (the table heads name units other than 円)."""
    if value is None:
        return 0.0
    unit = "" if kpi.display in ("percent", "yen") else kpi.unit
    text = format_value(kpi, value)
    return text_width(text.removesuffix(unit) if unit else text) + 1


def _widest(cons: Consolidation, part: str) -> float:
    """One width for every month column (part 'value') or the target column ('annual_target'): the
    widest figure of the sheet, at least MONTH_WIDTH."""
    return max([MONTH_WIDTH, *(cell_width(k, getattr(p, part)) for k in cons.kpis if k.id in cons.trend
                                for p in cons.trend[k.id].points)])


MONTH_WIDTH = 8.0
ONE_PAGE_SCALE = 84  # the months through the reporting month print on one page wide down to this scale
KEY_COLUMNS = 4  # KPI ID, KPI, 区分, 年間目標: repeated at the left of every printed page


def trend_columns(cons: Consolidation) -> list[Column]:
    names = branch_names()
    months = [month_key(m) for m in fiscal_months(cons.fiscal_year)]
    labels = [month_label(m) for m in fiscal_months(cons.fiscal_year)]
    width = _widest(cons, "value")
    cols = [Column("KPI ID", 7.5, lambda r: r[0].id), Column("KPI", 13, lambda r: r[0].short_label, "wrap"),
            Column("区分", 12, _label, "wrap"),
            Column("年間目標", _widest(cons, "annual_target"), lambda r: _target(r),
                   lambda st, r: st.fmt(num_format(r[0])))]
    for key, label in zip(months, labels, strict=True):
        cols.append(Column(label, width, partial(_month_value, key=key, names=names), _month_format(key),
                           wrap=True))
    return cols


def _target(row: tuple[Kpi, KpiTrend, str]) -> float | None:
    kpi, trend, kind = row
    if kind != ALL:
        return None
    targets = [p.annual_target for p in trend.points if p.annual_target is not None]
    return stored(kpi, targets[-1]) if targets else None


def write_trend(wb: Workbook, st: Styles, cons: Consolidation) -> None:
    """The table, printed through the reporting month (later months are blank): one landscape page
    wide through September, two (April–September, October–March, each with the KPI at the left) after."""
    sheet = Sheet(wb, st, "月次推移", title_ja(cons, "月次推移（全国）"))
    columns = trend_columns(cons)
    printed_months = fiscal_months(cons.fiscal_year).index(cons.month.replace(day=1)) + 1
    widths = [c.width for c in columns]
    one_page = sum(widths[:KEY_COLUMNS + printed_months]) <= PAGE_UNITS[True] * 100 / ONE_PAGE_SCALE
    per_page = printed_months if one_page else 6
    for i, c in enumerate(columns):
        sheet.set_width(i, i, c.width)
    sheet.note(TREND_NOTE, across=KEY_COLUMNS + min(per_page, printed_months))
    rows = trend_rows(cons)
    head, last = sheet.table(columns, rows, name="月次推移")
    sheet.ws.freeze_panes(head + 1, KEY_COLUMNS)
    _charts(wb, sheet, cons, rows, head, len(columns) + 1)
    groups = [KEY_COLUMNS] + [min(per_page, printed_months - start) for start in range(0, printed_months, per_page)]
    column_pages(sheet.ws, "月次推移", groups, widths, repeat=(head, head))
    sheet.ws.print_area(0, 0, last, KEY_COLUMNS + printed_months - 1)


def _charts(wb: Workbook, sheet: Sheet, cons: Consolidation, rows: list[tuple[Kpi, KpiTrend, str]], head: int,
            chart_col: int) -> None:
    first_of = {}
    for i, (kpi, _trend, kind) in enumerate(rows):
        if kind == ALL:
            first_of[kpi.id] = head + 1 + i
    m0 = KEY_COLUMNS
    for i, (kpi_id, r) in enumerate(first_of.items()):
        kpi = cons.catalogue.kpi(kpi_id)
        line = wb.add_chart({"type": "line"})
        for offset, name, style in ((0, "全国（報告支部すべて）", {"color": HEAD_BG, "width": 2.25}),
                                    (1, "毎月報告の支部", {"color": "#C00000", "dash_type": "dash", "width": 1.5})):
            line.add_series({"name": name, "categories": ["月次推移", head, m0, head, m0 + 11],
                             "values": ["月次推移", r + offset, m0, r + offset, m0 + 11],
                             "marker": {"type": "circle", "size": 4}, "line": style})
        line.set_title({"name": f"{kpi.id} {kpi.short_label}", "name_font": {"name": FONT, "size": 10, "bold": True}})
        line.set_legend({"position": "bottom", "font": {"name": FONT, "size": 8}})
        line.set_y_axis({"num_format": num_format(kpi), "num_font": {"name": FONT, "size": 8},
                         "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
        line.set_x_axis({"num_font": {"name": FONT, "size": 8}})
        sheet.ws.insert_chart(head + (i // 2) * 16, chart_col + (i % 2) * 8, line, {"x_scale": 1.0, "y_scale": 1.0})

