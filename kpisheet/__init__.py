"""kpisheet: action-plan KPI workbooks for Kyokai Kenpo's 47 branches and HQ.

Stages (one module each): catalogue -> template -> reader -> validation ->
ratings -> consolidation -> report.  The click CLI (kpisheet.cli) is a thin
layer over these library functions.
"""

__version__ = "0.1.0"
TEMPLATE_FORMAT = "kpisheet-template"
TEMPLATE_VERSION = 1
