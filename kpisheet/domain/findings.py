"""Findings: every problem kpisheet reports is a value, never a raised string.

One bilingual catalogue (CODES) holds each stable code with its severity and
its Japanese and English message templates.  Each message says what is wrong
and how to fix it; `where` (file, sheet, cell) is prefixed by one formatter,
so every message has the same shape.

Code ranges:
  D0xx  catalogue / data files of kpisheet itself (templates/*.json)
  G1xx  --baseline / --targets input files of `kpisheet generate`
  E1xx  a returned file that cannot be read as a workbook (pre-flight); E190: kpisheet itself
        failed while handling the file (not the branch's fault, see kpisheet.domain.failures)
  E2xx  identity: whose workbook it is, for which FY, which template
  E3xx / W3xx  finding and normalising the inputs, schema errors
  E4xx / W4xx  domain rules on the values
  W5xx  consistency of self-ratings with KPI results (needs ratings)
  L1xx  the submission ledger (kpisheet.ledger)
  P1xx–P7xx  the plan season (事業計画 workbooks: kpisheet.plan), E for errors and W for warnings by severity
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Detail:
    severity: Severity
    title: str  # short English title
    ja: str  # Japanese template: what is wrong and how to fix it
    en: str  # English template
    label_ja: str = ""  # a few words for the check, where feedback names it beside another (「前の月より小さい」)


E, W = Severity.ERROR, Severity.WARNING

CODES: dict[str, Detail] = {
    # --- D: kpisheet's own data files -------------------------------------------------
    "D001": Detail(E, "Data file unreadable",
                   "データファイル {data_file} を読み込めません（{reason}）。JSONの書式を確認してください。",
                   "Data file {data_file} cannot be read ({reason}). Check its JSON syntax."),
    "D002": Detail(E, "Data file violates its schema",
                   "データファイル {data_file} の {json_path} が不正です：{reason}。スキーマ {schema} に合わせて修正してください。",
                   "Data file {data_file} at {json_path}: {reason}. Fix it to match schema {schema}."),
    "D003": Detail(E, "Data file inconsistent",
                   "データファイル {data_file} の {json_path} が不正です：{reason}。",
                   "Data file {data_file} at {json_path}: {reason}."),
    "D004": Detail(E, "No catalogue for fiscal year",
                   "{fiscal_year}年度に対応するKPIカタログがありません（対応年度：{known}）。",
                   "No KPI catalogue covers FY{fiscal_year} (covered: {known})."),
    "D005": Detail(E, "HQ settings not filled in",
                   "本部の設定ファイル {data_file} の {fields} が「【要記入】」のままです。このファイルを開いて本部の担当部署・担当者・電話・メールを記入してから、もう一度実行してください（--settings で別の設定ファイルも指定できます）。",
                   "HQ settings file {data_file}: {fields} still hold the 【要記入】 placeholder. Open the file, fill in HQ's department, contact person, phone and mail, and run again (--settings names another settings file)."),
    "D006": Detail(E, "HQ settings file missing",
                   "本部の設定ファイル {data_file} がありません。templates/hq_settings.json を写して本部の連絡先と提出期限を記入し、--settings で指定してください。",
                   "There is no HQ settings file at {data_file}. Copy templates/hq_settings.json, fill in HQ's contact and deadline, and give it with --settings."),
    # --- G: baseline / target files given to `generate` ------------------------------
    "G101": Detail(E, "Input file unreadable",
                   "ファイルを読み込めません（{reason}）。CSV（UTF-8）またはxlsxで、列「branch, kpi_id, value」を用意してください。",
                   "The file cannot be read ({reason}). Provide CSV (UTF-8) or xlsx with columns branch, kpi_id, value."),
    "G102": Detail(E, "Missing columns",
                   "見出し行に列 {missing} がありません。1行目を「branch, kpi_id, value」にしてください。",
                   "The header row lacks column(s) {missing}. Make the first row 'branch, kpi_id, value'."),
    "G103": Detail(E, "Unknown branch code",
                   "支部コード「{value}」は不明です。00（本部）または01〜47の2桁で記入してください。",
                   "Branch code '{value}' is unknown. Use 00 (HQ) or 01-47, two digits."),
    "G104": Detail(E, "Unknown KPI id",
                   "KPI ID「{value}」は{fiscal_year}年度のKPI一覧にありません（前年度実績のファイルに限り前期のIDも使えます）。`kpisheet catalogue --fy {fiscal_year}` でIDを確認してください。",
                   "KPI id '{value}' is not in the FY{fiscal_year} catalogue (baseline files may also use the previous term's ids). List ids with `kpisheet catalogue --fy {fiscal_year}`."),
    "G105": Detail(E, "Value is not a number",
                   "値「{value}」を数値として読めません。数値（割合は96.5のように％の数値）を記入してください。",
                   "Value '{value}' is not a number. Enter a number (percentages as points, e.g. 96.5)."),
    "G106": Detail(E, "Duplicate row",
                   "支部 {branch} の {subject} が{first_line}行目と重複しています。1行にまとめてください。",
                   "Branch {branch} KPI {subject} repeats line {first_line}. Keep one row."),
    "G107": Detail(W, "Baseline not carried over",
                   "{subject} の値（この行以降の同じKPIの行を含む）は、第6期の前年度実績（{to}）としては使えません（{relation}：{note}）。これらの行は使われません。",
                   "Values for {subject} (this row and later rows of the same KPI) are not a valid baseline for term-6 KPI {to} ({relation}: {note}); they are ignored."),
    "G108": Detail(E, "Value out of range",
                   "値 {value} が範囲外です（{low}〜{high}）。",
                   "Value {value} is outside {low}..{high}."),
    "G109": Detail(E, "No HQ workbook in this fiscal year",
                   "{fiscal_year}年度には本部（00）が入力する全国のみのKPIがないため、本部のブックは作成しません。--branch から 00 を外してください。",
                   "FY{fiscal_year} has no national-only KPIs, so there is no HQ (00) workbook. Drop 00 from --branch."),
    "G110": Detail(E, "kpi_values file of another fiscal year",
                   "このファイルは{given_ja}のKPI値（kpisheetの分析用CSV）です。{fiscal_year_ja}の前年度実績には{expected_ja}の値が要ります。{expected_ja}3月分の集計で書かれた {expected_name} を指定してください（何も使っていません）。",
                   "This is kpisheet's kpi_values file of FY{given}; the baseline of FY{fiscal_year} is FY{expected}'s values. Give {expected_name}, the CSV of FY{expected}'s March run (nothing was used)."),
    "G111": Detail(W, "kpi_values file ends before the year end",
                   "このファイルの値は{last_ja}分まで（年度末の3月分がありません）。前年度実績には各支部・各KPIの{last_ja}時点の値を使います。年度末の値を使うには、3月分の集計で書かれた {expected_name} を指定してください。",
                   "The file's values run to {last} (no March): each branch's and KPI's latest value is used as the baseline. For year-end values give {expected_name}, the CSV of the March run."),
    "G112": Detail(E, "No figures of the fiscal year in the ledger",
                   "台帳 {path} に{fiscal_year_ja}の値がありません。その年度を集計した台帳（--ledger）を指定するか、その年度の kpi_values CSV を `kpisheet ledger import` で取り込んでください。",
                   "The ledger {path} holds no figures of FY{fiscal_year}. Name the ledger that consolidated that year (--ledger), or import the year's kpi_values CSV with `kpisheet ledger import`."),
    # --- E1: the file itself --------------------------------------------------------
    "W101": Detail(W, "Not a workbook: not read",
                   "受信箱のこのファイルはExcelブック（.xlsx）ではないため読み込みませんでした（{reason}）。支部のブックであれば「Excelブック(*.xlsx)」で保存して置き直してください。",
                   "This file in the inbox is not an .xlsx workbook and was not read ({reason}). If it is a branch workbook, save it as 'Excel Workbook (*.xlsx)' and put it back."),
    "W102": Detail(W, "kpisheet output: not read",
                   "このファイルはkpisheetが作成した出力（{reason}）のため、提出ブックとして読み込みませんでした。受信箱には支部から届いたブックだけを置いてください。",
                   "This file is an output kpisheet wrote ({reason}) and was not read as a submission. Keep only the branches' returned workbooks in the inbox."),
    "E101": Detail(E, "Empty file",
                   "ファイルが空（0バイト）です。保存し直して再送してください。",
                   "The file is empty (0 bytes). Save it again and resend."),
    "E102": Detail(E, "Excel lock file",
                   "これはExcelが編集中に作る一時ファイル（~$…）で、ブックではありません。ブックを閉じてから本体のファイルを送ってください。",
                   "This is a lock file Excel creates while a workbook is open (~$...), not a workbook. Close the workbook and send the real file."),
    "E103": Detail(E, "Not an xlsx workbook",
                   "xlsx形式のブックとして開けません（{reason}）。本部から配布されたブックをExcelで開き「Excelブック(*.xlsx)」で保存してください。",
                   "The file is not an .xlsx workbook ({reason}). Open the distributed workbook in Excel and save it as 'Excel Workbook (*.xlsx)'."),
    "E104": Detail(E, "Legacy .xls file",
                   "古い形式（.xls）のファイルです。Excelで「Excelブック(*.xlsx)」形式で保存し直して送ってください。",
                   "This is a legacy .xls file. Save it as 'Excel Workbook (*.xlsx)' and resend."),
    "E105": Detail(E, "Password-protected file",
                   "ファイルにパスワード（暗号化）が設定されているため読めません。「ファイル＞情報＞ブックの保護」でパスワードを解除して送ってください。",
                   "The file is encrypted with a password. Remove it (File > Info > Protect Workbook) and resend."),
    "E106": Detail(E, "Macro-enabled workbook",
                   "マクロ付きブック（.xlsm またはマクロを含むファイル）は受け付けません。「Excelブック(*.xlsx)」で保存し直して送ってください。",
                   "Macro-enabled workbooks (.xlsm or files containing macros) are not accepted. Save as 'Excel Workbook (*.xlsx)' and resend."),
    "E107": Detail(E, "Oversized or suspicious archive",
                   "ファイルの内部サイズが大きすぎます（{reason}）。不正なファイルの可能性があるため読み込みません。本部から配布されたブックに入力し直してください。",
                   "The workbook's contents are too large ({reason}); it may be malicious and is not read. Re-enter the data in the distributed workbook."),
    "E108": Detail(E, "Unsafe XML",
                   "ファイル内のXMLに危険な構造（エンティティ定義）があるため読み込みません。本部から配布されたブックに入力し直してください。",
                   "The workbook's XML contains entity declarations (unsafe) and is not read. Re-enter the data in the distributed workbook."),
    "E109": Detail(E, "Not a spreadsheet",
                   "Excelのブックではありません（{reason}）。本部から配布されたxlsxファイルを送ってください。",
                   "This is not an Excel workbook ({reason}). Send the distributed .xlsx file."),
    "E110": Detail(E, "Corrupt workbook",
                   "ブックが壊れていて読み込めません（{reason}）。Excelで開けるか確認し、保存し直して送ってください。",
                   "The workbook is corrupt and cannot be read ({reason}). Check it opens in Excel, save it again and resend."),
    "E111": Detail(E, "File too large",
                   "ファイルが大きすぎます（{size}、上限 {limit}）。不要なシートや画像を削除してください。",
                   "The file is too large ({size}, limit {limit}). Remove extra sheets or images."),
    "E112": Detail(E, "Strict Open XML workbook",
                   "このブックは「Strict Open XML スプレッドシート」形式で保存されているため読み込めません。Excelの「名前を付けて保存」で「Excelブック(*.xlsx)」を選んで保存し直し、再送してください。",
                   "This workbook is saved as 'Strict Open XML Spreadsheet', which is not read. In Excel use Save As > 'Excel Workbook (*.xlsx)' and resend."),
    "E113": Detail(E, "Shared-string index past the table",
                   "ファイルが壊れています：シート「{sheet}」のセル {cell} が、ブック内の文字列の表にない番号の文字列を指しています（{reason}）。空欄として読むと値を取り違えるおそれがあるため、このブックは読み込みませんでした。Excelで開いて保存し直すか、本部から配布されたブックに入力し直して送ってください。",
                   "The file is damaged: cell {cell} of sheet '{sheet}' refers to a string past the workbook's string table ({reason}). Reading it as a blank could mix up values, so the workbook was not read. Open and save it again in Excel, or re-enter the data in the distributed workbook."),
    "E190": Detail(E, "kpisheet internal error",
                   "kpisheetの内部エラーのため、このファイルを処理できませんでした（{reason}）。支部のファイルの問題ではありません。本部のkpisheet担当者は、このメッセージと対象のファイルを添えてkpisheetの保守担当に報告してください。",
                   "kpisheet failed internally while handling this file ({reason}). This is not the branch's fault. HQ: report it to kpisheet's maintainers with this message and the file.",
                   label_ja="kpisheetの内部エラー"),
    # --- E2: identity ---------------------------------------------------------------
    "E201": Detail(E, "Not a kpisheet workbook",
                   "本部が配布した入力ブックではありません（本部が書き込んだ管理用の情報が見つかりません）。本部から配布されたブックに入力してください。",
                   "This is not a kpisheet input workbook (no metadata sheet). Enter the data in the workbook HQ distributed."),
    "E202": Detail(E, "Unknown template version",
                   "ブックの様式の版「{value}」は読み込めません（読み込める版：{expected}）。最新の様式を本部から受け取ってください。",
                   "Template version '{value}' is not supported (supported: {expected}). Ask HQ for the current template."),
    "E203": Detail(E, "Catalogue changed",
                   "このブックは現在とは異なるKPI一覧（{value}）で作成されています（現在：{expected}）。本部から配布された最新の様式に入力し直してください。",
                   "The workbook was generated from a different KPI catalogue ({value}; current {expected}). Re-enter the data in the current template."),
    "E204": Detail(E, "Fiscal year differs",
                   "ブックの年度（{value}年度）が処理対象の{expected}年度と異なります。{expected}年度の様式で提出してください。",
                   "The workbook is for FY{value}, but FY{expected} is being processed. Submit the FY{expected} workbook."),
    "E205": Detail(E, "Fiscal year differs from file or folder name",
                   "ブックの年度（{value}年度）がファイル名またはフォルダ名の年度（{expected}年度）と一致しません。正しいファイルか確認してください。",
                   "The workbook is for FY{value}, but its file or folder name says FY{expected}. Check it is the right file."),
    "E206": Detail(E, "Branch differs from file name",
                   "ブックの支部（{value}）がファイル名の支部コード（{expected}）と一致しません。自支部のブックか、ファイル名が正しいか確認してください。",
                   "The workbook belongs to branch {value}, but its file name says {expected}. Check it is your branch's workbook and the file name is right."),
    "E207": Detail(E, "Two files for one branch, neither newer",
                   "同じ支部（{branch}）の内容の異なるブックが複数あり、保存日時もファイルの日時も同じため、どれが新しいか判断できません：{others}。受信箱に残すファイルを1つにしてください。",
                   "Several different workbooks for the same branch ({branch}) with the same saved and file times, so none is the newer: {others}. Keep only one in the inbox."),
    "W207": Detail(W, "Resubmission: older file set aside",
                   "同じ支部（{branch}）のより新しいブック「{used}」（保存 {expected}）を集計に使い、このブック（保存 {value}）は使いませんでした。このブックを使う場合は、新しい方を受信箱から外してください。",
                   "The newer workbook of the same branch ({branch}), '{used}' (saved {expected}), was used; this one (saved {value}) was set aside. To use this one, take the newer one out of the inbox."),
    "W208": Detail(W, "Identical copy counted once",
                   "このブックは「{used}」と内容が同じ（同一のファイル）のため、1件として扱いました。",
                   "This workbook is identical to '{used}' and was counted once."),
    "E209": Detail(E, "Reporting month does not match the inbox",
                   "集計月 --month {value} は受信箱のブックと合いません（{reason}）。ブックの多くは{expected}分までの値を入力しています。--month {expected_key} を指定して再実行してください。何も書き込んでいません。",
                   "The reporting month --month {value} does not match the workbooks in the inbox ({reason_en}); most of them hold figures through {expected_key}. Run again with --month {expected_key}. Nothing was written."),
    "E208": Detail(E, "Metadata damaged",
                   "ブックの管理用の情報（{field}）が読めません（{value}）。本部から配布されたブックに入力し直してください。",
                   "Metadata field '{field}' is unreadable ({value}). Re-enter the data in the distributed workbook."),
    # --- E3/W3: finding and reading inputs -------------------------------------------
    "E301": Detail(E, "Input cell removed",
                   "入力欄「{label}」が見つかりません（行や列、シートが削除された可能性があります）。本部から配布されたブックの該当欄を元に戻して入力してください。",
                   "Input '{label}' is missing (a row, column or sheet may have been deleted). Restore it from the distributed workbook."),
    "W302": Detail(W, "Input found by its id, not its name",
                   "入力欄「{label}」の名前定義が壊れていたため、シート上のIDから位置を特定しました。値は読み込みましたが、行や列の挿入・削除は避けてください。",
                   "Input '{label}' was located by its id on the sheet because its defined name was broken. The value was read; please avoid inserting or deleting rows and columns."),
    "E303": Detail(E, "Sheet missing",
                   "シート「{value}」が見つかりません。シートを削除しないでください。本部から配布されたブックに入力し直してください。",
                   "Sheet '{value}' is missing. Do not delete sheets; re-enter the data in the distributed workbook."),
    "E304": Detail(E, "Not a number",
                   "「{label}」に数値として読めない値「{value}」が入っています。数字だけを入力してください（例：{example}）。",
                   "'{label}' holds '{value}', which is not a number. Enter digits only (e.g. {example})."),
    "W305": Detail(W, "Value normalised",
                   "「{label}」の値「{value}」を {normalised} として読み取りました（この値で集計します）。次回からは「入力の手引き」のとおり、割合は「96.5%」のように％を付けて、人数・件数・金額は数字だけで入力してください。",
                   "'{label}': '{value}' was read as {normalised} (used as such). Next time follow the guide: percentages with a % sign (96.5%), counts and amounts as digits only.",
                   label_ja="文字で入力"),
    "W306": Detail(W, "Ambiguous percentage",
                   "「{label}」の値 {value} は％の入力として解釈があいまいです。{normalised}％として読み取りました。正しければそのまま、違う場合は「96.5%」のように％を付けて入力し直してください。",
                   "'{label}': {value} is ambiguous as a percentage; read as {normalised}%. If wrong, re-enter it with a % sign, e.g. 96.5%.",
                   label_ja="％の付け方"),
    "W307": Detail(W, "Formula without cached value",
                   "「{label}」に数式が入っていますが計算結果が保存されていないため、空欄として扱いました。数式ではなく値を入力してください。",
                   "'{label}' holds a formula with no saved result; it is treated as empty. Enter a value, not a formula."),
    "W308": Detail(W, "Formula value used",
                   "「{label}」は数式（{value}）です。保存されていた計算結果 {normalised} を使いました。数式ではなく値の入力をお願いします。",
                   "'{label}' is a formula ({value}); its saved result {normalised} was used. Please enter values, not formulas."),
    "E309": Detail(E, "Schema violation",
                   "「{label}」の値が不正です：{reason}。",
                   "'{label}' is invalid: {reason}."),
    "E310": Detail(E, "Date where a number belongs",
                   "「{label}」に日付「{value}」が入っています（自動的に日付に変換された可能性があります）。数値を入力し、セルの書式を変えないでください。",
                   "'{label}' holds a date ('{value}'), probably converted automatically. Enter a number and keep the cell format."),
    "W311": Detail(W, "Rating mark normalised",
                   "「{label}」の評価「{value}」を「{normalised}」として読み取りました。次回からはセルのリスト（◎ ○ △ × —）から選んでください。",
                   "'{label}': rating '{value}' was read as '{normalised}'. Next time choose from the cell's list (◎ ○ △ × —)."),
    "E312": Detail(E, "Defined name points elsewhere",
                   "入力欄「{label}」の名前定義が本来の入力欄ではなく {value} を指しているため、この値は使いませんでした（本来のセル：{expected}）。名前定義を変更せず、本部から配布されたブックの入力欄に入力してください。",
                   "The defined name of input '{label}' points at {value}, not at its own input cell; the value was not used (its own cell: {expected}). Do not change defined names; enter the value in the distributed workbook's input cell."),
    "E313": Detail(E, "Defined name duplicated",
                   "入力欄「{label}」の名前定義が{value}個あるため、どれが正しいか判断できず、この値は使いませんでした。本部から配布されたブックに入力し直してください。",
                   "Input '{label}' has {value} defined names, so which one holds the value is unclear; the value was not used. Re-enter the data in the distributed workbook."),
    "E314": Detail(E, "Input sheet hidden",
                   "入力シート「{value}」が非表示になっているため、このシートの値は使いませんでした。シート見出しを右クリックして「再表示」し、保存し直して送ってください。",
                   "Input sheet '{value}' is hidden, so its values were not used. Right-click a sheet tab, choose Unhide, save and resend."),
    "E315": Detail(E, "Two sheets with an input sheet's name",
                   "入力シートと同じ名前（または紛らわしい名前）のシートが複数あります（{value}）。どれが正しいか判断できないため、このシートの値は使いませんでした。余分なシートを削除して送ってください。",
                   "Several sheets carry an input sheet's name ({value}); which one is right is unclear, so its values were not used. Delete the extra sheet and resend."),
    "W316": Detail(W, "Input names copied onto another sheet",
                   "シート「{sheet}」に入力欄の名前定義の写し（シート単位、{value}個）があります。シートのコピー（「移動またはコピー」など）で作られたものです。値は入力シート「{input_sheet}」から読み取りました。不要なシート「{sheet}」を削除して保存し直してください。",
                   "Sheet '{sheet}' carries sheet-level copies of {value} input names, made by copying a sheet (Move or Copy). The values were read from the input sheet '{input_sheet}'. Delete the extra sheet '{sheet}' and save again."),
    "E317": Detail(E, "Figures on a copy of the input sheet",
                   "シート「{sheet}」は入力シート「{input_sheet}」のコピーで、「{input_sheet}」の空欄に当たる入力欄に値が{value}個あります（最初はセル {cell}）。コピーのシートの値は使いませんでした。値を「{input_sheet}」に入力し、シート「{sheet}」を削除して送ってください。",
                   "Sheet '{sheet}' is a copy of the input sheet '{input_sheet}' and holds {value} value(s) where '{input_sheet}' is blank (first at {cell}). Values on a copy are not used. Enter them on '{input_sheet}' and delete sheet '{sheet}'."),
    "E318": Detail(E, "Input not shown",
                   "入力欄「{label}」の値は{reason_ja}ため、シート上に表示されていません。表示されていない値は使いませんでした。{fix_ja}",
                   "The value of input '{label}' is not shown on the sheet ({reason_en}); a value that is not shown is not used. {fix_en}"),
    "W318": Detail(W, "Number format hides the value",
                   "入力欄「{label}」の値は、セルの表示形式（「;;;」など）のためシート上に表示されていません。値は読み取って集計に使いました（割合は入力欄の種類どおり、0.644 を 64.4% として読みます）。セルの表示形式を元に戻して、表示される値を確かめてください。",
                   "The value of input '{label}' is not shown on the sheet because of its number format (such as ;;;). The value was read and used (a percentage as its cell's kind says: 0.644 as 64.4%). Restore the cell's number format and check the value it shows."),
    "W317": Detail(W, "Percentage read as HQ's prefilled value",
                   "「{label}」の値 {value} は本部が記入した値 {normalised} のちょうど100分の1です（％の書式が失われたか、小数で入力されたため）。{normalised} として読み取りました。違う場合は「96.5%」のように％を付けて入力し直してください。",
                   "'{label}': {value} is exactly 1/100 of the value HQ prefilled ({normalised}), as when the % format is lost or a fraction is typed; read as {normalised}. If wrong, re-enter it with a % sign, e.g. 96.5%."),
    "E319": Detail(E, "Percentage off by 100",
                   "「{label}」の値 {value} はこの指標では考えにくい値です（想定 {low}〜{high}）。{other} の誤り（％の付け方や書式の違い）と思われますが、どちらか判断できないため、この値は使いませんでした。「96.5%」のように％を付けて入力し直してください。",
                   "'{label}': {value} is implausible for this KPI (expected {low} to {high}); it is probably {other} (a % sign or format slip), but which is unclear, so the value was not used. Re-enter it with a % sign, e.g. 96.5%."),
    # --- E4/W4: domain rules --------------------------------------------------------
    "E401": Detail(E, "Numerator exceeds denominator",
                   "「{label}」（{value}）が分母「{denominator_label}」（{expected}）を超えています。分子と分母を確認してください。",
                   "{month}: '{label}' ({value}) exceeds the denominator '{denominator_label}' ({expected}). Check numerator and denominator.",
                   label_ja="分子が分母を超えている"),
    "E402": Detail(E, "Percentage out of range",
                   "「{label}」の値 {value}％ が0〜100％の範囲外です。割合を％で入力してください（例：96.5%）。",
                   "'{label}' is {value}%, outside 0-100%. Enter the rate as a percentage (e.g. 96.5%)."),
    "E403": Detail(E, "Negative value",
                   "「{label}」に負の値 {value} が入っています。0以上の数値を入力してください。",
                   "'{label}' is negative ({value}). Enter 0 or more.",
                   label_ja="マイナスの値"),
    "E404": Detail(E, "Year-to-date value falls",
                   "「{label}」が{previous_month}の {expected} から{month}の {value} に減っています。この欄は4月からの累計（年度初めからの合計）なので、前の月より小さくなりません。累計を入力してください。",
                   "'{label}' falls from {expected} in {previous_month} to {value} in {month}. Enter year-to-date totals.",
                   label_ja="前の月より小さい"),
    "E405": Detail(E, "Value for a future month",
                   "「{label}」に値 {value} がありますが、集計対象は{expected}までです。未来の月の値は削除してください。",
                   "'{label}' has a value ({value}) for {month}, after the reporting month {expected}. Delete values for future months."),
    "E406": Detail(E, "Target missing",
                   "{subject}「{label}」の年間目標が未入力です。支部の事業計画の目標値を入力してください。",
                   "{subject} '{label}': the annual target is empty. Enter the target from the branch business plan."),
    "E407": Detail(E, "Invalid rating",
                   "評価「{value}」は使えません。◎ ○ △ × — のいずれかをリストから選んでください。",
                   "Rating '{value}' is not allowed. Choose one of ◎ ○ △ × — from the list."),
    "E408": Detail(E, "Rating without text",
                   "{measure} の{n}行目に評価「{value}」がありますが事業内容が空欄です。事業内容を記入するか、評価を消してください。",
                   "{measure} row {n} is rated '{value}' but has no description. Describe the activity or clear the rating."),
    "E409": Detail(E, "Text too long",
                   "「{label}」の文章が{value}文字あり、上限の{expected}文字を超えています。要点を{expected}文字以内にまとめてください。",
                   "'{label}' has {value} characters, more than the limit of {expected}. Shorten it."),
    "E410": Detail(E, "Numerator without denominator",
                   "「{label}」に分子 {value} がありますが分母「{denominator_label}」が{reason}です。分母を入力してください。",
                   "{month}: '{label}' has numerator {value} but the denominator '{denominator_label}' is {reason}. Enter the denominator.",
                   label_ja="分母がない"),
    "E411": Detail(E, "Value beyond what the KPI could ever be",
                   "「{label}」の値 {value} は、このKPIでありえる上限（{high}）を超えています。桁の誤りなどの入力誤りと考えられるため、この値は集計に使いませんでした。正しい値を入力して再提出してください。",
                   "'{label}' is {value}, above anything this KPI could ever be ({high}); it is taken for a slip and was left out of every figure. Enter the right value and resubmit.",
                   label_ja="ありえない大きさ"),
    "E412": Detail(E, "Rate too large to compute",
                   "「{label}」の値 {value} が小さすぎるため、分子 {numerator} を割った率がこのKPIでありえる大きさを超えます。この月の値は集計に使いませんでした。分母を確認して入力し直してください。",
                   "'{label}' is {value}: divided into the numerator {numerator} it gives a rate beyond anything this KPI could be, so the month was left out. Check the denominator and resubmit.",
                   label_ja="分母が小さすぎる"),
    "W411": Detail(W, "Outlier against previous month",
                   "「{label}」（{value}）が前月（{expected}）から大きく変化しています。入力誤りがないか確認してください（値が正しければ対応は不要です）。",
                   "{month}: '{label}' ({value}) differs sharply from the previous month ({expected}). Check for a typing error.",
                   label_ja="前月から大きく変化"),
    "W412": Detail(W, "Outlier against other branches",
                   "「{label}」（{value}）が他支部の中央値（{expected}）から大きく離れています。入力誤りがないか確認してください（値が正しければ対応は不要です）。",
                   "{month}: '{label}' ({value}) is far from the other branches' median ({expected}). Check for a typing error.",
                   label_ja="他支部から大きく離れている"),
    "W413": Detail(W, "Month not reported",
                   "「{label}」が未入力です。{expected}を入力してください（データが届いていない月は、届いた時点で入力してください）。",
                   "'{label}' is empty for {month}. Enter {expected_en} (for data that has not arrived yet, enter it when it does)."),
    "W414": Detail(W, "Percentage entered as a fraction?",
                   "「{label}」の値 {value} は非常に小さく、100分の1になっている可能性があります（{example} のつもりで％を付けずに入力した等）。正しいか確認し、誤りであれば「{example}」のように％を付けて入力し直してください。",
                   "'{label}' is {value}, very small: it may be 100 times too small ({example} typed without a % sign). Check it; if wrong, enter e.g. {example}.",
                   label_ja="値が小さすぎる"),
    "W415": Detail(W, "No previous-year value",
                   "{subject}「{label}」は目標が「対前年度以上」ですが、前年度実績が未入力のため評価できません（評価は「—」になります）。前年度の実績が分かる場合は前年度実績欄に入力してください。",
                   "{subject} '{label}' is judged against last year's value, which is empty, so it cannot be rated (mark —). Enter last year's result if you know it."),
    "W416": Detail(W, "Target changed from HQ's value",
                   "{subject}「{label}」の年間目標が、本部が記入した {expected} から {value} に変更されています。変更後の {value} で評価します。本部の値と異なる目標を使う理由を本部に連絡してください。誤りであれば {expected} に戻してください。",
                   "{subject} '{label}': the annual target was changed from HQ's {expected} to {value}; {value} is used. Tell HQ why the target differs from HQ's value; if it is a slip, restore {expected}."),
    "W417": Detail(W, "Target easier than last year's value",
                   "{subject}「{label}」は目標が「対前年度{reason}」ですが、入力された年間目標 {value} は前年度実績 {expected} より低い水準です。目標 {value} で評価します。前年度実績{reason}の値でよいか確認してください。",
                   "{subject} '{label}' must be no worse than last year's value ({expected}), but the typed target {value} is easier. {value} is used; check it."),
    "W418": Detail(W, "Previous-year value missing for a conditional target",
                   "{subject}「{label}」は、前年度実績が80%以上なら「対前年度以上」、80%未満なら「80%以上」が目標ですが、前年度実績が未入力のため80%で評価しています。前年度実績を前年度実績欄に入力してください。",
                   "{subject} '{label}': the target is last year's value where that was 80% or more, else 80%; last year's value is empty, so 80% is used. Enter last year's value."),
    "W419": Detail(W, "Value outside the KPI's plausible range",
                   "「{label}」の値 {value} は、このKPIで通常ありえる範囲（{low}〜{high}）の外です。{hint}正しい値であれば、このままで構いません。",
                   "'{label}' is {value}, outside the range usual for this KPI ({low} to {high}). {hint_en} If the value is right, leave it.",
                   label_ja="通常の範囲外"),
    "W420": Detail(W, "Previous-year value changed from HQ's",
                   "{subject}「{label}」の前年度実績が、本部が記入した {expected} から {value} に変更されています。評価（対前年度の目標）には本部の値 {expected} を使います（本部が新しい前年度実績を渡した場合はその値）。本部の値に誤りがある場合は本部に連絡してください（本部が前年度実績を訂正します）。誤って変更した場合は {expected} に戻してください。",
                   "{subject} '{label}': last year's value was changed from HQ's {expected} to {value}. The rating (the 対前年度 target) uses HQ's {expected} (or HQ's newer --baseline value), not the changed one. If HQ's value is wrong, tell HQ (HQ corrects it); if the change was a slip, restore {expected}.",
                   label_ja="前年度実績が本部の値と異なる"),
    "W421": Detail(W, "Denominator without numerator",
                   "{month}は分母はありますが分子が空欄です：分子「{label}」が空欄、分母「{denominator_label}」は {value}（{reason}）。分子を入力してください（分母だけでは率を計算できません）。",
                   "{month}: the numerator '{label}' is empty but the denominator '{denominator_label}' holds {value} ({reason_en}). Enter the numerator (a denominator alone gives no rate).",
                   label_ja="分子がない"),
    "W422": Detail(W, "Reporting month not entered",
                   "{month}分が入力されていません（{reached}）。{month}分を入力して再提出してください。",
                   "The file holds no figures for the reporting month {month_en} ({reached_en}). Enter {month_en} and submit the file again."),
    "W423": Detail(W, "Saved time in the future",
                   "このブックの保存日時（{value}）が集計の実行日時（{expected}）より後になっています。ブックを保存したパソコンの日付・時刻が狂っている可能性があります。この保存日時は、どのブックが新しいかの判断にも期限後の判定にも使わず、ファイルの日時で判断しました。パソコンの日付と時刻を正しく設定してください。",
                   "This workbook's saved time ({value}) is later than the run ({expected}): the clock of the PC that saved it is probably wrong. That time was used neither to tell which workbook is newest nor for lateness; the file's time was. Set the PC's date and time right."),
    # --- W5: consistency with ratings -------------------------------------------------
    "W424": Detail(W, "Target changed from the plan's",
                   "{subject}「{label}」の年間目標が、事業計画の目標 {expected} から {value} に変更されています。変更後の {value} で評価します。事業計画の目標は承認された {expected} です。誤りであれば {expected} に戻してください。事業計画を変更する場合は、本部に事業計画の変更を申し出てください。",
                   "{subject} '{label}': the annual target was changed from the approved 事業計画's {expected} to {value}; {value} is used. The plan's target is {expected}: if the change is a slip, restore {expected}; to change the plan, ask HQ to revise the 事業計画.",
                   label_ja="年間目標が事業計画と異なる"),
    "W425": Detail(W, "HQ's target file differs from the plan",
                   "本部の目標値ファイル（--targets）の{branch_name}「{label}」の目標 {value} が、承認された事業計画の目標 {expected} と異なります。目標値ファイルの {value} で評価します。事業計画の目標で評価する場合は、目標値ファイルのこの行を {expected} に直すか削除してください。",
                   "HQ's --targets file gives branch {branch} '{label}' the target {value}, but its approved 事業計画 says {expected}. {value} is used; to rate against the plan, correct the file's row to {expected} or delete it.",
                   label_ja="目標値ファイルが事業計画と異なる"),
    "W502": Detail(W, "Low rating without remark",
                   "{subject} の{n}行目は評価「{value}」ですが備考が空欄です。下回った理由・未実施の理由を備考に記入してください。",
                   "{subject} row {n} is rated '{value}' with no remark. Explain why in the remarks."),
    # --- L1: the submission ledger ------------------------------------------------------
    "L101": Detail(E, "Ledger unreadable",
                   "台帳 {path} を開けません（{reason}）。壊れているか台帳ではないファイルです。バックアップから戻すか、--ledger で別の台帳を指定してください。何も記録していません。",
                   "The ledger {path} cannot be opened ({reason}): it is damaged or not a ledger. Restore it from a backup or give another one with --ledger. Nothing was recorded."),
    "L102": Detail(E, "Ledger of a newer kpisheet",
                   "台帳 {path} は新しい版のkpisheetが作成したものです（台帳の版 {value}、この版で扱えるのは {expected} まで）。kpisheetを更新してください。何も記録していません。",
                   "The ledger {path} was written by a newer kpisheet (schema version {value}; this one knows up to {expected}). Update kpisheet. Nothing was recorded."),
    "L103": Detail(E, "Ledger busy",
                   "台帳 {path} は別のkpisheetが使用中です。終わってから再実行してください。何も記録していません。",
                   "The ledger {path} is in use by another kpisheet run. Run again when it has finished. Nothing was recorded."),
    "L104": Detail(E, "Month closed",
                   "{fiscal_year}年度の {month} は締め済みです（{closed_at} 締め、{value} まで確定）。締めた月の集計は作り直せません。再集計が必要なら `kpisheet reopen --fy {fiscal_year} --month {value} --reason 理由` で締めを解除してください。台帳からの再作成は `--from-ledger` です。",
                   "FY{fiscal_year} {month} is closed (closed {closed_at}; final through {value}). A closed month is not consolidated again: reopen it with `kpisheet reopen --fy {fiscal_year} --month {value} --reason TEXT`, or rebuild it with --from-ledger."),
    "L105": Detail(E, "Month not in the ledger",
                   "台帳 {path} に {fiscal_year}年度 {month} の集計の記録がありません。先に `kpisheet consolidate` でこの月を集計してください。",
                   "The ledger {path} holds no consolidation of FY{fiscal_year} {month}. Consolidate that month first."),
    "L106": Detail(E, "Ledger missing",
                   "台帳 {path} がありません。集計（`kpisheet consolidate`）で作成されます。--ledger または環境変数 KPISHEET_LEDGER で台帳を指定してください。",
                   "There is no ledger at {path}. Consolidating creates it; give the ledger with --ledger or the environment variable KPISHEET_LEDGER."),
    "L107": Detail(E, "Not a kpi_values CSV",
                   "{path} はkpisheetが書いたKPI値のCSV（kpi_values_…csv）として読めません（{reason}）。列 branch_code, kpi_id, month, numerator, denominator, value, status が必要です。何も取り込んでいません。",
                   "{path} cannot be read as a kpi_values CSV written by kpisheet ({reason}). It needs the columns branch_code, kpi_id, month, numerator, denominator, value, status. Nothing was imported."),
    "L108": Detail(E, "Month not closed",
                   "{fiscal_year}年度の {month} は締められていません。締めを解除する必要はありません。",
                   "FY{fiscal_year} {month} is not closed; there is nothing to reopen."),
    "L115": Detail(E, "Ledger disk full",
                   "台帳 {path} のあるディスクがいっぱいで、台帳に書き込めません（{reason}）。台帳は壊れていません（バックアップから戻す必要はありません）。ディスクの空きを作ってから再実行してください。何も記録していません。集計の出力は、記録できなかったため公開していません。",
                   "The disk of the ledger {path} is full ({reason}). The ledger is not damaged (do not restore a backup): free some space and run again. Nothing was recorded; a consolidation's outputs, not recorded, were not published."),
    "L116": Detail(E, "Ledger not writable",
                   "台帳 {path} に書き込めません（{reason}）。台帳またはそのフォルダが読み取り専用か、書き込む権限がありません。台帳は壊れていません（バックアップから戻す必要はありません）。書き込めるようにするか、--ledger で書き込める場所の台帳を指定して再実行してください。何も記録していません。集計の出力は、記録できなかったため公開していません。",
                   "The ledger {path} cannot be written ({reason}): it or its folder is read-only, or this user may not write there. The ledger is not damaged (do not restore a backup): make it writable, or give a writable ledger with --ledger, and run again. Nothing was recorded; a consolidation's outputs, not recorded, were not published."),
    "L117": Detail(E, "Published outputs are not the recorded run's",
                   "{fiscal_year}年度 {month} は締められません。台帳に記録された最後の集計（実行番号 {value}）の出力と、{folder} にある出力が一致しません（{reason}）。集計が公開の途中で中断された可能性があります。`kpisheet consolidate` でこの月を集計し直し（途中の公開は自動で完了します）、出力を確かめてから締めてください。",
                   "FY{fiscal_year} {month} cannot be closed: the outputs in {folder} are not those of the last run recorded in the ledger (run {value}): {reason_en}. A run was probably interrupted while publishing. Consolidate the month again (an interrupted publication is completed first), check the outputs, then close it."),
    "L110": Detail(E, "Impossible figure in an imported CSV",
                   "{path} の {subject} の値 {value} はこのKPIではありえません（{reason}）。CSVのこの行を直してから取り込み直してください。何も取り込んでいません。",
                   "{path}: {subject} {value} is impossible for this KPI ({reason}). Correct this line of the CSV and import it again. Nothing was imported."),
    "L111": Detail(E, "Fiscal year not closed for import",
                   "{path} は{fiscal_year}年度の値です（{reason}）。取り込めるのは終わった年度で、この台帳が集計していない年度の値だけです（取り込んだ値が支部の修正のように見えないように）。何も取り込んでいません。",
                   "{path} holds FY{fiscal_year} figures ({reason}). Only a finished fiscal year that this ledger does not consolidate can be imported (so imported figures never look like a branch's revisions). Nothing was imported."),
    # --- P6: plans in the ledger (kpisheet.ledger.plans) -------------------------------
    "P602": Detail(E, "Plan with errors not approved",
                   "{who}の{fiscal_year_ja}の事業計画（第{seq}版）にはエラーが {value}件あります（{codes}）。エラーのある版は確定できません。支部に修正を依頼し、修正したブックを `kpisheet plan collect` で記録してから確定してください。",
                   "The FY{fiscal_year} plan of {who} (version {seq}) has {value} error(s) ({codes}); a version with errors is not approved. Have the branch correct it, record the corrected workbook with `kpisheet plan collect`, then approve it."),
    "P603": Detail(E, "No plan recorded",
                   "{who}の{fiscal_year_ja}の事業計画は台帳に記録されていません。先に `kpisheet plan collect` で支部のブックを記録してください（--fy と --branch も確かめてください）。",
                   "No FY{fiscal_year} plan of {who} is recorded in the ledger. Record the branch's workbook with `kpisheet plan collect` first (and check --fy and --branch)."),
    "P604": Detail(E, "Approved plan not reopened",
                   "{who}の{fiscal_year_ja}の事業計画は第{approved}版で確定しています。その後に記録された第{value}版を確定するには、先に `kpisheet plan reopen --fy {fiscal_year} --branch {branch} --reason 理由` で確定を解除してください（解除しても、新しい版を確定するまで第{approved}版が使われます）。",
                   "The FY{fiscal_year} plan of {who} is approved at version {approved}. To approve version {value}, recorded since, reopen it first with `kpisheet plan reopen --fy {fiscal_year} --branch {branch} --reason TEXT` (version {approved} stays in use until another is approved)."),
    "P605": Detail(W, "Plan changed after approval",
                   "{who}の{fiscal_year_ja}の事業計画は第{approved}版で確定していますが、内容の変わったブックが届いたため第{value}版として記録しました。年度に使われるのは確定した第{approved}版のままです。変更を採用する場合は `kpisheet plan reopen`（理由を記録）のあと `kpisheet plan approve` で確定してください。",
                   "The FY{fiscal_year} plan of {who} is approved at version {approved}; a workbook with changed content was recorded as version {value}. The year keeps using version {approved}: to adopt the change, `kpisheet plan reopen` (with a reason), then `kpisheet plan approve`."),
    "P606": Detail(E, "Plan not approved",
                   "{who}の{fiscal_year_ja}の事業計画は確定を解除できません（{reason}）。確定は `kpisheet plan approve` で行います。",
                   "The FY{fiscal_year} plan of {who} cannot be reopened ({reason_en}). Plans are approved with `kpisheet plan approve`."),
    "P607": Detail(W, "Two plans of one branch",
                   "同じ支部の事業計画のブックが複数あります。後に保存された「{used}」を記録し、このブック「{value}」は使っていません。不要なブックは受信箱から除いてください。",
                   "Several plan workbooks of the same branch: '{used}', saved last, was recorded and this one ('{value}') was not used. Remove the unwanted workbook from the inbox."),
    "P608": Detail(W, "Plan of another fiscal year",
                   "このブックは{value_ja}の事業計画です。{fiscal_year_ja}の収集では記録していません。{value_ja}として収集するか、受信箱から除いてください。",
                   "This workbook is a plan for FY{value}; it was not recorded by this FY{fiscal_year} collection. Collect it for FY{value}, or remove it from the inbox."),
    "L109": Detail(W, "Rebuilt month differs from the record",
                   "台帳から再作成した {month} の {value} は、記録された出力と内容が異なります（{reason}）。集計時とkpisheetの版またはKPI一覧が異なる可能性があります。",
                   "The {value} rebuilt from the ledger for {month} differs from the recorded output ({reason}); kpisheet or the KPI catalogue may have changed since."),
    # --- P4/P5: a 事業計画's targets, volumes and measures (kpisheet.plan.rules) ----------
    "P401": Detail(E, "Plan target missing",
                   "{subject}「{label}」の年間目標が未入力です{why_ja}。{fix_ja}",
                   "{subject} '{label}': the year's target is empty{why_en}. {fix_en}",
                   label_ja="年間目標が未入力"),
    "P402": Detail(W, "Plan target below the year's reference",
                   "{subject}「{label}」の年間目標 {value} は、{reference_ja} {expected} より低い水準です。{advice_ja}",
                   "{subject} '{label}': the target {value} is easier than {reference_en} {expected}. {advice_en}",
                   label_ja="見込み・実績を下回る目標"),
    "P403": Detail(W, "Plan target laxer than the national fixed target",
                   "{subject}「{label}」の年間目標 {value} は、全国共通の目標 {expected} より低い水準です。{advice_ja}",
                   "{subject} '{label}': the target {value} is easier than the association's fixed target {expected}. {advice_en}",
                   label_ja="全国共通の目標より低い"),
    "P404": Detail(W, "Volumes disagree with the target",
                   "{subject}「{label}」の{planned_label}÷{population_label}（{planned} ÷ {population} = {rate}）が年間目標 {value} と一致しません。年間目標か{planned_label}・{population_label}を見直してください。",
                   "{subject} '{label}': planned ÷ population ({planned} ÷ {population} = {rate}) does not match the target {value}. Correct the target or the counts.",
                   label_ja="見込者数÷対象者数が目標と不一致"),
    "P405": Detail(E, "Planned people exceed the population",
                   "{subject}「{label}」の{planned_label}（{value}）が{population_label}（{expected}）を超えています。人数を確認してください。",
                   "{subject} '{label}': the planned people ({value}) exceed the population ({expected}). Check the counts.",
                   label_ja="見込者数が対象者数を超えている"),
    "P406": Detail(W, "Breakdown does not add up",
                   "{subject}「{label}」の内訳の{what_ja}の合計（{parts}）が全体の{what_ja}（{expected}）と一致しません。内訳または全体の人数を確認してください。",
                   "{subject} '{label}': the breakdown's {what_en} add up to {parts}, not the whole's {expected}. Check the breakdown or the whole.",
                   label_ja="内訳の合計が全体と不一致"),
    "P407": Detail(W, "Generic-drug condition not met",
                   "{subject}「{label}」の年間目標 {value} は、全支部の目標「{rule_ja}」を満たしていません（{why_ja}）。{advice_ja}",
                   "{subject} '{label}': the target {value} does not meet the rule for every branch, {rule_en} ({why_en}). {advice_en}",
                   label_ja="80%の条件を満たさない目標"),
    "P408": Detail(W, "Plan target below last year's plan target",
                   "{subject}「{label}」の年間目標 {value} は、前年度の事業計画の目標 {expected} より低い水準です。{advice_ja}",
                   "{subject} '{label}': the target {value} is easier than last year's plan target {expected}. {advice_en}",
                   label_ja="前年度の計画の目標を下回る"),
    "P409": Detail(W, "Plan target far from the other branches'",
                   "{subject}「{label}」の年間目標 {value} が他支部の目標の中央値（{expected}、{count}支部）から大きく離れています。入力誤りがないか確認してください（値が正しければ対応は不要です）。",
                   "{subject} '{label}': the target {value} is far from the branches' median target ({expected}, {count} branches). Check for a typing error.",
                   label_ja="他支部の目標から大きく離れている"),
    "P501": Detail(W, "Measure with nothing written",
                   "{measure} に事業内容が記入されていません。事業内容を1行以上記入してください（他の施策に含めて記載した場合は、記載先にその施策を選んでください）。",
                   "Nothing is written for the measure {measure}. Write at least one activity, or choose the measure it is written under.",
                   label_ja="事業内容が未記入の施策"),
    "P502": Detail(W, "More activities than the monthly sheet holds",
                   "{measure} の事業内容が{value}行あり、毎月の取組状況の行数（1施策{expected}行）を超えています。{expected}行を超えた分（{first_over}行目から）は毎月の取組状況に載りません。{expected}行以内にまとめてください。",
                   "The measure {measure} has {value} activities, more than the {expected} rows the monthly 取組状況 holds per measure; those from row {first_over} on do not reach it. Keep to {expected}.",
                   label_ja="取組状況の行数を超える事業内容"),
    # --- P7: the 新旧対照表 (kpisheet plan diff) ---------------------------------------------
    "P701": Detail(E, "Plan file unreadable",
                   "事業計画のファイル {data_file} を読み込めません（{reason}）。支部が返送した事業計画の作成シート（.xlsx）か、kpisheet が書いた事業計画のJSONファイル（1支部1年度）、またはそれらを入れたフォルダを指定してください。新旧対照表は作っていません。",
                   "The plan file {data_file} cannot be read ({reason}). Give a plan workbook a branch returned (.xlsx), a plan JSON file kpisheet wrote (one branch, one year), or a folder of them. No 新旧対照表 was written."),
    "P702": Detail(W, "Plan of one year only",
                   "{branch_label} の事業計画が{side}の側（{data_file}）にだけあり、もう一方の年度にありません。この支部の新旧対照表は作っていません。もう一方の年度の事業計画を同じフォルダに入れて再実行してください。",
                   "{branch_label}'s plan is only on the {side_en} side ({data_file}), not in the other year: no 新旧対照表 was written for it. Put the other year's plan in that folder and run again."),
    "P703": Detail(E, "Two plans of one branch on one side",
                   "{branch_label} の事業計画が{side}の側に2つ以上あります（{files}）。どれと比べるか決められないため、この支部の新旧対照表は作っていません。比べる1つだけをフォルダに残して再実行してください。",
                   "{branch_label} has more than one plan on the {side_en} side ({files}): which to compare is unclear, so no 新旧対照表 was written for it. Leave the one to compare in the folder and run again."),
    "P704": Detail(E, "Old plan not of an earlier year",
                   "{branch_label} の旧の事業計画（{old_year}年度）が新（{new_year}年度）より前の年度ではありません。OLD と NEW の順（前年度、今年度の順）を確かめてください。この支部の新旧対照表は作っていません。",
                   "{branch_label}'s old plan (FY{old_year}) is not of an earlier year than the new one (FY{new_year}). Check the order of OLD and NEW (last year first). No 新旧対照表 was written for it."),
    # --- P1: reading 事業計画 workbooks (kpisheet.plan.reader; P101 in the monthly reader) -------------
    "P101": Detail(W, "Plan workbook among monthly workbooks",
                   "このファイルは事業計画の作成シート（{value}）で、月次の入力ブックではありません。月次の集計には使いませんでした。事業計画は「kpisheet plan read」「kpisheet plan validate」で確認し、月次の受信フォルダから移してください。",
                   "This file is a 事業計画 (plan) workbook ({value}), not a monthly input workbook; it was not used for the month. Check plans with `kpisheet plan read` / `kpisheet plan validate` and move it out of the monthly inbox."),
    "P102": Detail(W, "Monthly workbook given as a plan",
                   "このファイルは月次の入力ブックで、事業計画の作成シートではありません。事業計画としては読み込みませんでした。本部が配布した事業計画の作成シート（…_事業計画.xlsx）を指定してください。",
                   "This file is a monthly input workbook, not a 事業計画 (plan) workbook; it was not read as a plan. Give the plan workbook HQ distributed (…_事業計画.xlsx)."),
    "P103": Detail(E, "Target kind unreadable",
                   "「{label}」の目標の種類「{value}」が読めないため、年間目標を読み込みませんでした。リストから「{expected}」のどちらかを選んでください。",
                   "The target kind '{value}' of '{label}' cannot be read, so its target was not read. Choose {expected} from the list."),
    "P104": Detail(W, "Status of last year's value unreadable",
                   "「{label}」の前年度の見込み・実績の区分「{value}」が読めないため、区分なしとして読みました。リストから見込み・暫定・確定のいずれかを選んでください。",
                   "The status '{value}' of last year's value of '{label}' cannot be read; it was read as blank. Choose 見込み, 暫定 or 確定 from the list."),
    "P105": Detail(W, "記載先 names no measure",
                   "施策 {label} の記載先「{value}」がどの施策か分からないため、この施策に記載したものとして読みました。リストから記載先の施策を選んでください。",
                   "The 記載先 '{value}' of measure {label} names no measure of the action plan; it was read as written under this measure. Choose the measure from the list."),
    "P106": Detail(W, "区分 of an activity unreadable",
                   "「{label}」の区分「{value}」が読めないため、区分なしとして読みました。リストから継続・新規・拡充・見直しのいずれかを選んでください。",
                   "The 区分 '{value}' of '{label}' cannot be read; it was read as blank. Choose 継続, 新規, 拡充 or 見直し from the list."),
    # --- P6: the approved 事業計画 driving the monthly workbooks ----------------------------
    "P601": Detail(W, "No approved plan for the branch",
                   "{branch_name}の{fiscal_year_ja}の事業計画が承認されていません（台帳に承認済みの版がありません）。この支部の月次のKPI入力シートは事業計画を使わずに作成しました（目標・取組状況は従来どおり）。事業計画を承認（`kpisheet plan approve`）してから、この支部のシートを --plan --force で作り直してください。",
                   "{branch_name} has no approved 事業計画 for FY{fiscal_year} in the ledger. Its monthly workbook was generated without a plan (targets and 取組状況 as before). Approve its plan (`kpisheet plan approve`), then generate this branch's workbook again with --plan --force.",
                   label_ja="承認済みの事業計画なし"),
    "P620": Detail(W, "Plan measure without a place in the monthly workbook",
                   "{branch_name}の事業計画の独自の施策「{value}」は、どの具体的施策の下に記載するかが指定されていないため、月次のKPI入力シートの取組状況に事業内容を記入していません。事業計画でこの施策を記載する具体的施策を指定（承認し直し）してから --plan --force で作り直すか、支部に取組状況の空いている行へ記入するよう伝えてください。",
                   "{branch_name}'s plan has a measure of its own, '{value}', that names no action-plan measure to be written under, so its activities were not prefilled in the monthly workbook's 取組状況. Name that measure in the plan (and approve it again), then generate with --plan --force, or ask the branch to write them in free rows.",
                   label_ja="月次シートに載らない独自の施策"),
}


@dataclass(frozen=True)
class Finding:
    """One problem at one place: plain data, with its messages computed from the catalogue.

    code and severity; the place (file, branch, sheet, cell, defined name, subject, line);
    the offending value; and `context`, the other values the catalogue's templates name.
    `message_ja` / `message_en` / `text_ja` / `text_en` are derived each time, so
    `dataclasses.replace(f, cell="B7")` gives a finding whose message names B7.
    Two findings are equal when their data and their messages are.
    """

    code: str
    severity: str
    file: str | None = None
    branch: str | None = None
    sheet: str | None = None
    cell: str | None = None
    name: str | None = None  # workbook defined name of the input, if any
    subject: str | None = None  # KPI id or measure id
    line: int | None = None  # line in a CSV / data file, if any
    value: str | None = None  # offending value as text
    context: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def detail(self) -> Detail:
        return CODES[self.code]

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR.value

    @property
    def text_ja(self) -> str:
        """What is wrong and how to fix it, without the place (message_ja = 【place】 + text_ja)."""
        return self.detail.ja.format_map(self._fields())

    @property
    def text_en(self) -> str:
        """The English text: a context field `X_en` (an English reason, a month as 2024-10) stands for `X`."""
        fields = self._fields()
        fields.update({k[:-3]: v for k, v in list(fields.items()) if k.endswith("_en") and len(k) > 3})
        return self.detail.en.format_map(fields)

    @property
    def message_ja(self) -> str:
        where = self.where_ja()
        return f"【{where}】{self.text_ja}" if where else self.text_ja

    @property
    def message_en(self) -> str:
        where = self.where_en()
        return f"[{where}] {self.text_en}" if where else self.text_en

    @property
    def label_ja(self) -> str:
        """The catalogue's few words for this check (「前の月より小さい」), else the code."""
        return self.detail.label_ja or self.code

    def _fields(self) -> _Blank:
        ctx = _Blank({k: ("—" if v is None else v) for k, v in self.context.items()})
        ctx.update(value="—" if self.value is None else self.value, subject=self.subject or "—",
                   branch=self.branch or "—")
        return ctx

    def _key(self) -> tuple[Any, ...]:
        return (self.code, self.severity, self.file, self.branch, self.sheet, self.cell, self.name,
                self.subject, self.line, self.value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return self._key() == other._key() and (self.text_ja, self.text_en) == (other.text_ja, other.text_en)

    def __hash__(self) -> int:
        return hash(self._key())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`--json`): the data and the four message texts, without the context."""
        return {"code": self.code, "severity": self.severity, "message_ja": self.message_ja,
                "message_en": self.message_en, "file": self.file, "branch": self.branch, "sheet": self.sheet,
                "cell": self.cell, "name": self.name, "subject": self.subject, "line": self.line,
                "value": self.value, "text_ja": self.text_ja, "text_en": self.text_en}

    def where_ja(self) -> str:
        return _where(self, ja=True)

    def where_en(self) -> str:
        return _where(self, ja=False)


def _where(f: Finding, ja: bool) -> str:
    parts: list[str] = []
    if f.file:
        parts.append(Path(f.file).name)
    if f.sheet and f.sheet.startswith("_"):  # a hidden sheet (_meta) is no place a branch can look at
        pass
    elif f.sheet and f.cell:
        parts.append(f"'{f.sheet}'!{f.cell}")
    elif f.sheet:
        parts.append(f"'{f.sheet}'")
    elif f.cell:
        parts.append(f.cell)
    if f.line is not None:
        parts.append(f"{f.line}行目" if ja else f"line {f.line}")
    return " › ".join(parts)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def finding(code: str, *, file: str | Path | None = None, branch: str | None = None,
            sheet: str | None = None, cell: str | None = None, name: str | None = None,
            subject: str | None = None, line: int | None = None, value: Any = None,
            severity: Severity | None = None, **context: Any) -> Finding:
    """Build a Finding from the catalogue.  Unknown codes are a programming error."""
    detail = CODES[code]
    return Finding(code=code, severity=(severity or detail.severity).value,
                   file=str(file) if file is not None else None, branch=branch, sheet=sheet,
                   cell=cell, name=name, subject=subject, line=line,
                   value=None if value is None else str(value), context=dict(context))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.is_error for f in findings)


# The one definition of which findings are fatal, and for what.
UNREADABLE_CODES = frozenset({"E201"})  # besides every E1xx


def makes_unreadable(f: Finding) -> bool:
    """The file cannot be read as a kpisheet workbook at all (pre-flight, corrupt, not ours)."""
    return f.code.startswith("E1") or f.code in UNREADABLE_CODES


def excludes_whole_file(f: Finding) -> bool:
    """An error that keeps every value of its file out of the national figures.

    Unreadable files, identity problems (E2xx: wrong FY, wrong branch, wrong template) and
    errors that name no cell, defined name or subject.
    """
    if not f.is_error:
        return False
    return f.code.startswith(("E1", "E2")) or not (f.name or f.cell or f.subject)


SET_ASIDE_CODES = frozenset({"W207", "W208"})  # a resubmitted branch's other files


def sets_aside(f: Finding) -> bool:
    """The file is not used because its branch sent a newer (W207) or the same (W208) file beside it."""
    return f.code in SET_ASIDE_CODES


def flatten(findings: Iterable[Finding], keys: list[str]) -> list[list[Any]]:
    """[[f.cell, f.code], ...]: findings as plain rows, the shape tests compare."""
    return [[getattr(f, k) for k in keys] for f in findings]


class KpisheetError(Exception):
    """A problem that stops a command; carries findings for the user."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("\n".join(f.message_en for f in findings))


def format_text(findings: Iterable[Finding], *, lang: str = "ja",
                about: Callable[[str, list[Finding]], str] | None = None) -> str:
    """Human output: findings grouped by file, errors first, one line each.

    `about(file, its findings)` adds to a file's heading (the CLI names the file's branch)."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file or "", []).append(f)
    lines: list[str] = []
    for file, group in by_file.items():
        n_err = sum(1 for f in group if f.is_error)
        n_warn = len(group) - n_err
        head = Path(file).name if file else ("(全体)" if lang == "ja" else "(general)")
        head += about(file, group) if about else ""
        lines.append(f"■ {head}  エラー {n_err}件 / 警告 {n_warn}件" if lang == "ja"
                     else f"■ {head}  {n_err} error(s) / {n_warn} warning(s)")
        for f in sorted(group, key=lambda f: (not f.is_error, f.sheet or "", f.line or 0, cell_order(f.cell), f.code)):
            mark = ("エラー" if f.is_error else "警告") if lang == "ja" else f.severity
            msg = f.message_ja if lang == "ja" else f.message_en
            lines.append(f"  {f.code} {mark}: {msg}")
    return "\n".join(lines)


def cell_order(cell: str | None) -> tuple[int, str]:
    """Sort key of a cell reference: row first, then column letters (A2 before B2 before A10)."""
    if not cell:
        return (0, "")
    letters = "".join(c for c in cell if c.isalpha())
    digits = "".join(c for c in cell if c.isdigit())
    return (int(digits or 0), letters)
