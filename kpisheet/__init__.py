"""kpisheet: action-plan KPI workbooks for Kyokai Kenpo's 47 branches and HQ.

Stages (one module each): catalogue -> template -> reader -> validation ->
ratings -> consolidation -> report.  kpisheet.month runs a month through them
(run_month, rebuild_month); the click CLI (kpisheet.cli) is a thin layer over
these library functions.
"""

__version__ = "0.1.0"
TEMPLATE_FORMAT = "kpisheet-template"
TEMPLATE_VERSION = 1
PLAN_FORMAT = "kpisheet-plan"  # the 事業計画 workbook (kpisheet.plan): never read as a monthly workbook
PLAN_TEMPLATE_VERSION = 1
