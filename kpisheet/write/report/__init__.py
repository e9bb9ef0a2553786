"""Stage 7 — what HQ reads: the national workbook (national.py), the lists workbook (lists.py).

layout.py lays out tables (columns of title, width, value, format; row heights; print set-up);
texts.py says how a figure is written (formats, data months, targets, 前年同月比).
"""

from kpisheet.write.report.layout import (
                    FONT,
                    MARK_COLOURS,
                    Column,
                    Sheet,
                    Styles,
                    lines_of,
                    put,
                    row_height,
                    workbook_options,
)
from kpisheet.write.report.lists import build_lists, lists_name, write_lists
from kpisheet.write.report.national import JST, SHEETS, build_national, jst, write_national
from kpisheet.write.report.texts import (
                    LEGEND_JA,
                    PROGRESS_FORMAT,
                    PROGRESS_JA,
                    RANK_NOTE_JA,
                    RULE_JA,
                    branch_names,
                    change_ja,
                    coverage_ja,
                    data_month_ja,
                    kpi_result_text,
                    kpi_sentence_ja,
                    num_format,
                    result_ja,
                    source_ja,
                    stored,
                    target_text,
                    term_goal_ja,
                    year_on_year_note,
)

__all__ = ["FONT", "MARK_COLOURS", "Column", "Sheet", "Styles", "lines_of", "put", "row_height",
           "workbook_options", "build_lists", "lists_name", "write_lists", "JST", "SHEETS", "build_national", "jst",
           "write_national", "LEGEND_JA", "PROGRESS_FORMAT", "PROGRESS_JA", "RANK_NOTE_JA", "RULE_JA", "branch_names", "change_ja",
           "coverage_ja",
           "data_month_ja", "kpi_result_text", "kpi_sentence_ja", "num_format", "result_ja", "source_ja", "stored", "target_text",
           "term_goal_ja", "year_on_year_note"]
