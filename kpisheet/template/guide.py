"""The 入力の手引き sheet: how to fill the workbook (Japanese, printable), with the 入力チェック's count."""

from __future__ import annotations

from typing import Any

from kpisheet.domain.catalogue import HQ_CODE
from kpisheet.domain.fiscal import fiscal_months, month_label, wareki_date, wareki_fiscal_year
from kpisheet.read.names import CHECK_COUNT_NAME, SHEET_GUIDE, SHEET_KPI, SHEET_MEASURES
from kpisheet.template.book import (
    BODY_FONT_WIDTH,
    GUIDE_TEXT_WIDTH,
    Book,
    _lines,
    _row_height,
    _summary_formula,
)
from kpisheet.template.layout import (
    CHECK_RIGHT_JA,
    CHECK_SEND_JA,
    KPI_CHECK_COL,
    KPI_INFO_ROWS,
    MEASURE_COUNT_CELL,
    MONTHLY_TAGS,
    RATING_MEANINGS,
)
from kpisheet.xlsx_write import cell_reference


def write_guide_sheet(book: Book) -> None:
    ws = book.sheets[SHEET_GUIDE]
    ws.set_column(0, 0, 2)
    ws.set_column(1, 1, 24)
    ws.set_column(2, 2, GUIDE_TEXT_WIDTH)
    ws.write_string(1, 1, f"{book.title}　入力の手引き", book.fmt("title"))
    book.height(ws, 1, 24)
    ws.write_string(2, 1, f"作成日：{wareki_date(book.generated_at.date())}", book.fmt("small"))
    ws.write_string(3, 1, "入力チェック", book.fmt("head"))
    kpi = f"'{SHEET_KPI}'!{cell_reference(KPI_INFO_ROWS[0], KPI_CHECK_COL + 1, row_abs=True, col_abs=True)}"
    measures = f"'{SHEET_MEASURES}'!{cell_reference(*MEASURE_COUNT_CELL, row_abs=True, col_abs=True)}"
    ws.write_formula(3, 2, _summary_formula(CHECK_COUNT_NAME, [("KPI入力", kpi), ("取組状況", measures)]),
                     book.fmt("summary", "border"), "")
    book.height(ws, 3, 22)
    book.traffic_light(ws, (3, 2), (3, 2), CHECK_COUNT_NAME)
    row = 5
    breaks: list[int] = []
    for heading, items in _guide_sections(book):
        if heading.startswith(("3", "4")):
            breaks.append(row)  # 入力のしかた with its 入力例, and さわらないでください with 提出, each start a page
        ws.merge_range(row, 1, row, 2, heading, book.fmt("head", align="left"))
        book.height(ws, row, 18)
        row += 1
        for label, text in items:
            ws.write_string(row, 1, label, book.fmt("label", "top", bold=True))
            ws.write_string(row, 2, text, book.fmt("label", "top"))
            book.height(ws, row, _text_height(text))
            row += 1
        if heading.startswith("3"):
            row = _guide_example(book, ws, row + 1)
        row += 1
    book.manual_breaks[SHEET_GUIDE] = breaks
    book.page_setup(ws, 2, None, row, (24, GUIDE_TEXT_WIDTH))


def _guide_sections(book: Book) -> list[tuple[str, list[tuple[str, str]]]]:
    fy = wareki_fiscal_year(book.fy)
    national = any(k.scope == "national" for k in book.kpis)
    who = ("本部が入力する全国のみの指標（例：ホームページアクセス数）を入力します。" if national else
           f"{book.branch.display_name}の{fy}のKPIと取組状況を入力します。")
    ratings = "　".join(f"{r}：{t}" for r, t in RATING_MEANINGS.items())
    return [
        ("1. このブックについて", [
            ("対象", f"{fy}（{_plan_title(book)}）　{book.branch.display_name}（支部コード {book.branch.code}）"),
            ("目的", f"{who}本部はこのブックを集計して全国の状況をまとめます。"),
            ("シート", "「KPI入力」：KPIごとの年間目標・前年度実績と、4月〜3月の月別実績。\n"
                      "「取組状況」：具体的施策ごとの事業内容・評価・備考と、施策ごとの課題。"),
        ]),
        ("2. 入力するもの", [
            ("年間目標", "支部の事業計画の年間目標を入力します。全国共通の目標は本部で記入済み（青色）です。"
                        "誤りがあるとき、または支部の事業計画で別の目標を定めたときは"
                        "上書きしてください（上書きした値で評価します）。各KPIの説明にある"
                        f"第{book.catalogue.term}期末目標は参考です（年間目標とは別です）。"
                        "目標が「対前年度以上」のKPIは年間目標を空欄のままにしてください。評価のときに前年度実績を"
                        "目標とします（前年度実績が後から訂正されても、訂正後の値で評価します）。"),
            ("前年度実績", "前年度の年度末の実績です。本部で記入済みの場合は確認のみで結構です（評価には本部の値を使います。"
                          "誤りがあれば本部に連絡してください）。記入済みでない場合は入力してください。"),
            ("月別実績", "毎月、前月末までの実績を入力します。何を入力するかは、各行の項目名の末尾に書いてあります。\n"
                        + "".join(f"・「{tag}」：{text}\n" for tag, text in MONTHLY_TAGS) +
                        "データが遅れて届くKPI（健診・ジェネリックなど）は、届いた月まで入力し、以降の月は空欄のままで"
                        "構いません（各KPIの説明に書いてあります）。"
                        "割合のKPIは分子と分母をそれぞれ入力すると、率が自動計算されます（灰色の行）。"),
            ("取組状況", f"具体的施策ごとに、事業内容を1行に1件（最大{book.rows_per_measure}件）記入し、評価を選び、"
                        "評価の理由（特に△・×の理由）を備考に記入します。施策全体の課題は「課題」欄へ。"),
            ("評価", f"リストから選択します。{ratings}"),
            ("記入者・連絡先", "「KPI入力」シートの上部に、入力した方の所属・氏名と連絡先（内線・メール）を入力してください。"
                             "内容の確認のため本部から連絡することがあります。"),
        ]),
        ("3. 入力のしかた", [
            ("割合（％）", "「96.5%」のように、必ず％を付けて入力します。セルは％表示になっています。"
                         "％を付けずに「96.5」とだけ入力すると9650％に、「0.310」とだけ入力すると31.0％になることが"
                         "あります。査定率のように小数第3位まである割合は「0.310%」のように入力します。"
                         "KPIごとに通常ありえる範囲を外れると、確認のメッセージが出て、セルが赤くなります。"),
            ("人数・件数・金額", "数字だけを入力します（「1170」または「1,170」）。「人」「件」「事業所」「円」などの単位や、"
                             "「約」「見込み」などの文字は付けません。全角数字でも入力できますが、半角を推奨します。"),
            ("文章", "事業内容・備考・課題・実施内容は文章で記入します。セル内で改行するときは Alt＋Enter を押します。"),
            ("分からない値", "空欄のままにしてください。「－」や「不明」などは入力しないでください。"),
            ("入力チェック", "入力した値はブックが自動で確認します（分子が分母を超えている、累計が前の月より小さい、"
                           "通常ありえる範囲の外、途中の月が空欄、評価があるのに事業内容が空欄、△・×なのに備考が空欄 など）。"
                           "問題のあるセルは赤くなり、同じ行の右端の「確認」欄に理由が出ます。このシートの上と各シートの上に"
                           f"件数が出ます。{CHECK_SEND_JA}。{CHECK_RIGHT_JA}"
                           "本部の集計でも同じ確認を行い、指摘を「確認事項」としてお返しします。"),
        ]),
        ("4. さわらないでください", [
            ("灰色のセル", "自動計算や対象外の欄です。入力は不要です（保護されていて入力できません）。"),
            ("行・列・シート", "行や列の挿入・削除、セルの結合、シート名の変更、シートの追加・削除はしないでください。"
                            "本部の集計はセルの位置と名前で値を読み取ります。"),
            ("貼り付け", "他のファイルから貼り付けるときは「値の貼り付け」を使ってください（書式や入力規則が壊れるため）。"),
            ("非表示のシート", "管理用の非表示シートがあります。表示したり変更したりしないでください。"),
            ("ファイル", "ファイル名を変えずに、Excelブック（*.xlsx）形式のまま保存してください。"
                        "パスワードの設定やマクロ付きブック（*.xlsm）での保存はしないでください。"),
        ]),
        ("5. 提出", _submission_items(book)),
    ]


def _plan_title(book: Book) -> str:
    """「第6期保険者機能強化アクションプラン」: the catalogue's title, with its term only once."""
    term = f"第{book.catalogue.term}期"
    return book.catalogue.title if book.catalogue.title.startswith(term) else f"{term} {book.catalogue.title}"


def _submission_items(book: Book) -> list[tuple[str, str]]:
    hq = book.settings
    deadline = deadline_text(book)
    if book.branch.code == HQ_CODE:  # 本部 fills its own workbook: nothing to send to itself
        return [("提出期限", deadline),
                ("保存先", f"入力したブックは、月次集計の受信フォルダに保存してください（{hq.department}）。")]
    return [("提出期限", deadline),
            ("返送先", f"{hq.contact_ja()}　（{CHECK_SEND_JA}。メールに添付して返送してください。）"),
            ("お問い合わせ", f"入力方法が分からないときや、記入済みの値に誤りがあるときは、{hq.department}の"
                            f"{hq.contact_person}（電話：{hq.phone}、メール：{hq.mail}）までご連絡ください。")]


def deadline_text(book: Book) -> str:
    """「翌月10日（土日の場合は前の金曜日）まで。例：4月分は令和6年5月10日（金）まで」: the rule and its first month."""
    first = fiscal_months(book.fy)[0]
    return (f"各月の実績を{book.settings.deadline_ja()}までに提出してください。"
            f"例：{month_label(first)}分は{book.settings.deadline_ja(first)}まで")


def _guide_example(book: Book, ws: Any, row: int) -> int:
    ws.merge_range(row, 1, row, 2, "入力例（10月分を入力する場合：生活習慣病予防健診実施率と健康宣言事業所数）", book.fmt("block"))
    row += 1
    example = (("年間目標（％）", "「61.0%」と入力（％を付ける）", "input_plain"),
               ("受診者数（人）", "10月の欄に、4月〜10月の累計「158432」または「158,432」と入力（「人」は付けない）",
                "input_plain"),
               ("対象者数（人）", "10月の欄に、年度の対象者数「259725」と入力（4月から足し上げない。各月とも同じ値で可）",
                "input_plain"),
               ("実施率（％）", "自動計算で「61.0%」と表示されます（入力不要）", "calc_plain"),
               ("健康宣言事業所数", "（月末時点の数のKPI）10月の欄に、10月末時点の事業所数「1170」と入力（4月から足し上げない）",
                "input_plain"),
               ("評価（取組状況）", "リストから「○」を選択し、備考に理由を記入", "input_plain"),
               ("入力チェック", "分子に分母より大きい数を入れると、そのセルが赤くなり、右端の「確認」欄に"
                              "「10月：分子が分母を超えています。」と出ます（直すと消えます）", "problem_plain"))
    for label, text, style in example:
        ws.write_string(row, 1, label, book.fmt(style, "border", locked=True))
        ws.write_string(row, 2, text, book.fmt("label"))
        book.height(ws, row, _text_height(text))  # a text that wraps gets the lines it needs
        row += 1
    return row


def _text_height(text: str) -> float:
    """The height of a row whose text column (C) holds `text`, wrapped to the lines it needs."""
    return _row_height(_lines(text, GUIDE_TEXT_WIDTH * BODY_FONT_WIDTH))
