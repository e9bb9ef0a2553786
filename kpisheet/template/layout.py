"""Where things go in a branch workbook, and the words and colours its sheets share.

Cell positions of the KPI入力 and 取組状況 sheets (the reader finds inputs by their defined
names, not by these), column widths, row heights, the page and the fills.
"""

# What a monthly cell holds, as a short tag after the row label (also in the heading and the guide).
TAG_FLOW, TAG_POPULATION, TAG_LEVEL = "累計", "年度の数", "月末時点"
FLOW_JA = "4月から各月末までの累計"
MONTHLY_TAGS = ((TAG_FLOW, f"{FLOW_JA}（例：10月の欄には4月〜10月の合計）"),
                (TAG_LEVEL, "その月末時点の数（4月から足し上げない）"),
                (TAG_POPULATION, "年度の対象者数など（4月から足し上げない。各月とも同じ値で可）"))
MONTHLY_JA = "項目名の末尾が" + "、".join(f"「{tag}」の行は{text}" for tag, text in MONTHLY_TAGS) + "を入力します。"
KPI_SHEET_NOTE = ("※割合（％）は「96.5%」のように％を付けて、人数・件数・金額は数字だけ（単位は付けない）で入力してください。"
                  f"月別の欄は、{MONTHLY_JA}詳しくは「入力の手引き」シートをご覧ください。")
OVERWRITE_JA = "支部の事業計画で別の目標を定めた場合は上書きしてください（上書きした値で評価します）"
RATING_MEANINGS = {"◎": "計画を大幅に上回る", "○": "計画通り", "△": "計画を下回る", "×": "未実施",
                   "—": "評価できない（実績がまだない等）"}
# The 入力チェック (kpisheet.check.selfcheck), as the top of each sheet explains it.
CHECK_SEND_JA = "0件になったら送付してください"
CHECK_HOW_JA = ("入力チェック：入力した値をブックが自動で確認します。問題のあるセルは赤くなり、同じ行の右端の「確認」欄に"
                f"理由が出ます。{CHECK_SEND_JA}。")
CHECK_RIGHT_JA = "値が正しいのに表示が消えないとき（実績が本当に通常の範囲外など）は、そのまま送付してください。"

FONT = "游ゴシック"
INPUT_FILL = "#FFF2CC"  # 入力欄
PREFILL_FILL = "#DDEBF7"  # 本部記入済み（修正可）
CALC_FILL = "#D9D9D9"  # 自動計算・対象外
HEAD_FILL = "#1F3864"  # 見出し（白文字）
BLOCK_FILL = "#D9E1F2"  # KPI・施策の見出し
PROBLEM_FILL, PROBLEM_FONT = "#FF9B9B", "#9C0006"  # 入力チェック: a cell with a problem (red)
OK_FILL = "#C6EFCE"  # 入力チェック: nothing found (green)

# KPI入力: A key | B ID | C 項目 | D 年間値 (column key "value") | E..P 4月…3月 | Q 確認
# and, hidden beyond the print area, each input's 入力チェック helper (its column + CHECK_OFFSET)
# and each month's last number so far (its column + CARRY_OFFSET, for the year-to-date check).
KPI_VALUE_COL = 3
KPI_FIRST_MONTH_COL = 4
KPI_CHECK_COL = KPI_FIRST_MONTH_COL + 12  # Q: what the row's problems are, in words
KPI_INFO_ROWS = (3, 4)  # 記入者, 連絡先 (with the 入力チェック's count beside them)
KPI_HEAD_ROWS = (7, 8)
KPI_FIRST_ROW = 9
CHECK_OFFSET = 15  # D..P -> S..AE
CARRY_OFFSET = 28  # E..P -> AG..AR
# 取組状況: A key | B 番号 | C 具体的施策 | D No. | E 事業内容 | F 評価 | G 備考 | H 確認 | (hidden) M..O helpers
MEASURE_COLS = {"text": 4, "rating": 5, "note": 6}
MEASURE_CHECK_COL = 7
MEASURE_CHECK_OFFSET = 8  # E..G -> M..O
MEASURE_HEAD_ROW = 6
MEASURE_FIRST_ROW = 7
MEASURE_COUNT_CELL = (5, MEASURE_COLS["text"] + MEASURE_CHECK_OFFSET)  # hidden: this sheet's 入力チェック count
# column widths of the printed columns B.. (characters of the default font)
# KPI入力 prints two pages wide, each at 8 pt and more: B..J (ID, 項目, 年間目標, 4月〜9月), then B:C again with
# 10月〜3月.  A month column shows a branch's largest figure whole (a branch's 医療費 in yen,
# 「148,243,284,254」: 15 characters), so twelve of them cannot share one readable page.  The 確認 columns
# (the 入力チェック's reasons, often longer than a line) are for the screen: the printed pages end before
# them and show the cells to check in red.
KPI_MONTH_WIDTH = 15
KPI_WIDTHS = (8, 20, 15) + (KPI_MONTH_WIDTH,) * 12 + (28,)
KPI_FIRST_PAGE_MONTHS = 6  # 4月〜9月 on the first page, 10月〜3月 on the second
KPI_SECOND_PAGE_COL = 4 + KPI_FIRST_PAGE_MONTHS  # the page breaks before this column (10月)
KPI_SPAN_LAST_COL = KPI_SECOND_PAGE_COL - 1  # a text written across the sheet stops at the first page's edge
KPI_SPAN_WIDTH = sum(KPI_WIDTHS[:KPI_SPAN_LAST_COL])  # B..J
KPI_PRINT_SCALE = 90  # both pages fit A4 landscape (narrow side margins); 9 pt prints at 8.1 pt
KPI_SIDE_MARGIN = 0.25  # inches
# 取組状況: B..G, 122 characters, print one page wide at about 96% (9 pt prints at 8.6 pt); H 確認 on screen only
MEASURE_WIDTHS = (6, 24, 4, 50, 6, 32, 30)
QUALITATIVE_TEXT_HEIGHT = 110
DEFAULT_ROW_HEIGHT = 14.0  # a row left to its font (LibreOffice prints ~12.3 pt, Excel ~13.5 pt at 10 pt)
INPUT_ROW_HEIGHT = 15.0  # the rows of a KPI block (set, so that Excel and LibreOffice agree on the pages)
# A4 landscape (points) less the margins set in _page_setup, and what one column-width unit prints as
PAGE_WIDTH, PAGE_HEIGHT = 842 - 0.8 * 72, 595 - 1.1 * 72
POINTS_PER_WIDTH_UNIT, POINTS_PER_COLUMN = 7 * 0.75, 5 * 0.75
PAGE_FILL = 0.97  # plan pages this full (measured: LibreOffice prints the rows about 5% shorter than planned)
