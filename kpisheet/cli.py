"""Command-line interface: every click command, every exit code.

Each command checks its arguments (usage errors exit 2 before anything is
read), calls the stage functions, prints their results and chooses the exit
code.  KpisheetError becomes a message on stderr and exit 1.  No traceback
reaches a user: anything unexpected is reported as one line with exit 1 (set
KPISHEET_DEBUG=1 to see the traceback).

SIGINT, SIGTERM and SIGHUP (the terminal was closed) end a run cleanly: forked
workers and children are ended, temporary and staging files removed, and the
command exits 130, 143 or 129.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import sys
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import click

from kpisheet import __version__
from kpisheet.domain.display import printable, text_width
from kpisheet.domain.failures import is_internal
from kpisheet.domain.findings import Finding, KpisheetError, format_text
from kpisheet import runtime
from kpisheet.runtime import interruptible

SETTINGS_HELP = ("本部の設定ファイル（提出期限・連絡先。schemas/hq_settings.schema.json）。省略時は環境変数 "
                 "KPISHEET_HQ_SETTINGS、なければ templates/hq_settings.json / HQ's settings file (deadline, contact); "
                 "default: $KPISHEET_HQ_SETTINGS, else templates/hq_settings.json.")


def _echo(message: Any = None, **kwargs: Any) -> None:
    """click.echo with every control character of the text escaped (display.printable): a file
    name holding an escape sequence or a carriage return reaches the terminal as \\u001b, \\u000d."""
    click.echo(printable(message) if isinstance(message, str) else message, **kwargs)


def _fail(exc: KpisheetError) -> None:
    _echo(findings_text(exc.findings), err=True)
    sys.exit(1)


# ---------------------------------------------------------------- signals
def _interrupted_exit(signum: int) -> None:
    """The message and exit status (130, 143, 129) of a command that SIGINT, SIGTERM or SIGHUP ended."""
    name = signal.Signals(signum).name
    _echo(f"kpisheet: 中断しました（{name}）。書きかけの出力は残していません。\n"
               f"Interrupted ({name}); no partial output was left.", err=True)
    sys.exit(128 + signum)


# ---------------------------------------------------------------- argument checks
def _check_fy(fiscal_year: int, param: str = "--fy") -> None:
    """A fiscal year some catalogue covers, else a usage error (exit 2)."""
    from kpisheet.domain.catalogue import catalogue_for_fy

    try:
        catalogue_for_fy(fiscal_year)
    except KpisheetError as exc:
        f = exc.findings[0]
        if f.code != "D004":  # a broken catalogue file is not the user's argument
            _fail(exc)
        raise _bad(f.text_ja, f.text_en, param) from None


def _month(text: str, fiscal_year: int | None, param: str) -> date:
    """The month `text` names; with `fiscal_year`, it must lie in that fiscal year (April-March)."""
    from kpisheet.domain.fiscal import fiscal_months, month_key, parse_month, wareki_fiscal_year

    try:
        month = parse_month(text)
    except ValueError:
        raise _bad(f"「{text}」は年月ではありません（例：2024-10）。", f"{text!r} is not a month (YYYY-MM)",
                   param) from None
    if fiscal_year is not None and month not in (months := fiscal_months(fiscal_year)):
        span = f"{month_key(months[0])}〜{month_key(months[-1])}"
        raise _bad(f"{text} は{wareki_fiscal_year(fiscal_year)}（FY{fiscal_year}：{span}）の月ではありません。",
                   f"{text} is not a month of FY{fiscal_year} ({span})", param)
    return month


def _check_outdir(inbox: Path, outdir: Path) -> None:
    """The output folder may not be the inbox or inside it (nor may the inbox be the feedback folder)."""
    i, o = inbox.resolve(), outdir.resolve()
    if o == i or i in o.parents or i == o / "feedback" or o / "feedback" in i.parents:
        raise _bad(f"出力フォルダ {outdir} が受信箱 {inbox} と重なっています。受信箱の外を指定してください。",
                   "the output folder must be outside the inbox", "-o / --output")


def _load_settings(path: Path | None) -> Any:
    """HQ's settings (--settings, $KPISHEET_HQ_SETTINGS or templates/hq_settings.json); a broken file exits 1."""
    from kpisheet.domain.settings import load_settings

    try:
        return load_settings(path)
    except KpisheetError as exc:
        _fail(exc)


def _filled_settings(path: Path | None) -> Any:
    """HQ's settings for `generate`: while they hold 【要記入】 placeholders nothing is written (exit 2)."""
    settings = _load_settings(path)
    unfilled = settings.placeholder_finding()
    if unfilled is not None:
        _echo(f"{format_text([unfilled])}\n"
                   f"kpisheet: 本部の設定ファイル {settings.source} を記入するまで、ブックは作成しません。何も書き込んでいません。\n"
                   f"No workbook is written until HQ fills in {settings.source}. Nothing was written.", err=True)
        sys.exit(2)
    return settings


def _settings_warning(settings: Any) -> None:
    """One line on stderr when the settings consolidate uses still hold placeholders (it runs anyway)."""
    from kpisheet.domain.findings import Severity

    unfilled = settings.placeholder_finding(Severity.WARNING)
    if unfilled is not None:
        _echo(f"{unfilled.code} 警告: {unfilled.message_ja}", err=True)


# ---------------------------------------------------------------- branches in messages
def branch_label(code: str | None) -> str:
    """'11 埼玉支部', '00 本部', 'ALL' -> '全国': a branch as every human message names it."""
    from kpisheet.domain.catalogue import load_branches

    if not code:
        return ""
    if code == "ALL":
        return "全国"
    known = {b.code: b.display_name for b in load_branches()}
    return f"{code} {known[code]}" if code in known else code


def findings_text(findings: list[Finding], branch_of_file: dict[str, str] | None = None) -> str:
    """format_text with each file's heading naming its branch: '■ 11_….xlsx（11 埼玉支部）  エラー 1件 / 警告 0件'."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file or "", []).append(f)
    blocks = []
    for file, group in by_file.items():
        text = format_text(group)
        code = (branch_of_file or {}).get(file) or next((f.branch for f in group if f.branch), None)
        if file and code:
            head = f"■ {Path(file).name}"
            text = text.replace(head, f"{head}（{branch_label(code)}）", 1)
        blocks.append(text)
    return "\n".join(blocks)


# ---------------------------------------------------------------- click in Japanese
# Everything click itself prints (help headings, usage lines, its usage errors) is shown
# Japanese first with English second, as findings are.  Usage errors keep exit code 2.
HELP_OPTION_HELP = "このヘルプを表示して終了します / Show this help and exit."
_SECTIONS = {"Options": "オプション / Options", "Commands": "コマンド / Commands",
             "Positional arguments": "引数 / Arguments"}
_KINDS = {"File": "ファイル", "Directory": "フォルダ", "Path": "パス", "file": "ファイル", "directory": "フォルダ",
          "path": "パス"}


class BilingualUsageError(click.UsageError):
    """A usage error (exit 2) shown as the usage line, a Japanese line and its English line."""

    def __init__(self, ja: str, en: str, ctx: click.Context | None = None) -> None:
        super().__init__(en, ctx)
        self.ja, self.en = ja, en

    def format_message(self) -> str:
        return f"{self.ja}\n{self.en}"

    def show(self, file: Any = None) -> None:
        stream = file if file is not None else sys.stderr
        if self.ctx is not None:
            path = self.ctx.command_path
            _echo(f"{self.ctx.get_usage()}\n"
                       f"「{path} --help」で使い方を表示します / Try '{path} --help' for help.\n", file=stream)
        _echo(f"エラー: {self.ja}\nError: {self.en}", file=stream)


class BilingualBadParameter(click.BadParameter):
    """A bad value of one option or argument, said in Japanese (`ja`) and English (`en`)."""

    def __init__(self, ja: str, en: str, param_hint: str | None = None) -> None:
        super().__init__(en, param_hint=param_hint)
        self.ja = ja


def _usage(ja: str, en: str) -> BilingualUsageError:
    return BilingualUsageError(ja, en)


def _bad(ja: str, en: str, param: str) -> BilingualBadParameter:
    return BilingualBadParameter(ja, en, param_hint=param)


def _param_names(exc: click.BadParameter) -> str:
    """「-o / --output」, 「FILE」: the parameter an error is about, as the user typed it."""
    if exc.param_hint is not None:
        hint = exc.param_hint
        return hint if isinstance(hint, str) else " / ".join(hint)
    param = exc.param
    if isinstance(param, click.Option):
        return " / ".join(param.opts)
    return param.human_readable_name if param is not None else ""


_Rules = list[tuple[str, Any]]  # (pattern of click's English message, its Japanese from the match)


def _translated(rules: _Rules, message: str, fallback: str) -> str:
    """The Japanese of the first rule whose pattern matches `message`, else `fallback`."""
    for pattern, ja in rules:
        found = re.match(pattern, message, flags=re.S)
        if found:
            return str(ja(found))
    return fallback


def _value_ja(message: str) -> str:
    """click's message about a value (from its parameter types), in Japanese."""
    rules: _Rules = [
        (r"^'(.*)' is not a valid integer\.?$", lambda m: f"「{m[1]}」は整数ではありません（例：2024）。"),
        (r"^'(.*)' is not a valid (float|number)\.?$", lambda m: f"「{m[1]}」は数値ではありません。"),
        (r"^'(.*)' is not a valid boolean\.?$", lambda m: f"「{m[1]}」は真偽値ではありません。"),
        (r"^(\w+) '(.*)' does not exist\.?$", lambda m: f"{_KINDS.get(m[1], m[1])}「{m[2]}」がありません。"),
        (r"^(\w+) '(.*)' is a file\.?$", lambda m: f"「{m[2]}」はファイルです。フォルダを指定してください。"),
        (r"^(\w+) '(.*)' is a directory\.?$", lambda m: f"「{m[2]}」はフォルダです。ファイルを指定してください。"),
        (r"^(\w+) '(.*)' is not readable\.?$", lambda m: f"{_KINDS.get(m[1], m[1])}「{m[2]}」を読めません（権限がありません）。"),
        (r"^(\w+) '(.*)' is not writable\.?$", lambda m: f"{_KINDS.get(m[1], m[1])}「{m[2]}」に書き込めません（権限がありません）。"),
        (r"^'(.*)' is not (?:one of )?(.*)\.$",
         lambda m: f"「{m[1]}」は選べません。選べる値：{m[2].replace(chr(39), '')}"),
        (r"^(.*) is not in the range (.*)\.$", lambda m: f"{m[1]} は範囲 {m[2]} の外です。"),
    ]
    return _translated(rules, message, f"値が正しくありません（{message}）。")


def _message_ja(message: str) -> str:
    """A usage error click raised with only a message (parser, groups), in Japanese."""
    rules: _Rules = [
        (r"^Option '(.*)' requires an argument\.$", lambda m: f"オプション「{m[1]}」には値が必要です。"),
        (r"^Option '(.*)' requires (\d+) arguments\.$", lambda m: f"オプション「{m[1]}」には値が{m[2]}つ必要です。"),
        (r"^Option '(.*)' does not take a value\.$", lambda m: f"オプション「{m[1]}」は値をとりません。"),
        (r"^Argument '(.*)' takes (\d+) values\.$", lambda m: f"引数「{m[1]}」には値が{m[2]}つ必要です。"),
        (r"^Got unexpected extra arguments? \((.*)\)$", lambda m: f"余分な引数があります：{m[1]}"),
        (r"^No such command '(.*)'\.(?: Did you mean '?(.*?)'?\?)?$",
         lambda m: f"コマンド「{m[1]}」はありません。" + (f"もしかして: {m[2]}" if m[2] else "")),
        (r"^Missing command\.$", lambda m: "コマンドを指定してください。"),
    ]
    return _translated(rules, message, f"コマンドの使い方に誤りがあります（{message}）。")


def usage_error_ja(exc: click.UsageError) -> str:
    """The Japanese line of any usage error click or kpisheet raises."""
    if isinstance(exc, BilingualUsageError):
        return exc.ja
    if isinstance(exc, click.MissingParameter):
        names = _param_names(exc)
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "parameter")
        what = {"option": "オプション", "argument": "引数"}.get(kind, "指定")
        return f"{what}「{names}」がありません。必ず指定してください。"
    if isinstance(exc, click.BadParameter):
        names = _param_names(exc)
        text = exc.ja if isinstance(exc, BilingualBadParameter) else _value_ja(exc.message)
        return f"{names} の値が正しくありません：{text}" if names else text
    possible = getattr(exc, "possibilities", None)
    near = f"もしかして: {'、'.join(possible)}" if possible else ""
    if isinstance(exc, click.NoSuchOption):
        return f"オプション「{exc.option_name}」はありません。{near}"
    return _message_ja(exc.message) + near


@contextlib.contextmanager
def _bilingual_usage_errors() -> Iterator[None]:
    """Every usage error raised inside becomes a BilingualUsageError (exit code 2 kept)."""
    try:
        yield
    except BilingualUsageError:
        raise
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2: `kpisheet` alone prints the help
            raise
        raise BilingualUsageError(usage_error_ja(exc), exc.format_message(), exc.ctx) from None


class BilingualFormatter(click.HelpFormatter):
    """Help pages with Japanese headings: 「使い方 / Usage:」, 「オプション / Options」."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "使い方 / Usage: " if prefix is None else prefix)

    def section(self, name: str) -> Any:
        return super().section(_SECTIONS.get(name, name))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, text.replace("[required]", "[必須 / required]")) for term, text in rows],
                         col_max, col_spacing)


class BilingualContext(click.Context):
    formatter_class = BilingualFormatter


def _with_context(parse: Any, ctx: click.Context, args: list[str]) -> list[str]:
    """Parse the command line; a usage error the parser raised without its context (「--fy」 with no value)
    gets it, so that the message shows the command's usage line like every other."""
    try:
        return list(parse(ctx, args))
    except click.UsageError as exc:
        if exc.ctx is None:
            exc.ctx = ctx
        raise


class BilingualCommand(click.Command):
    """A command whose help option and help page are Japanese first."""

    context_class = BilingualContext

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION_HELP
        return option

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _with_context(super().parse_args, ctx, args)


class BilingualGroup(click.Group):
    """The kpisheet group: its commands are BilingualCommands, click's usage errors are bilingual."""

    context_class = BilingualContext
    command_class = BilingualCommand
    group_class = type  # subgroups are BilingualGroups too

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION_HELP
        return option

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _with_context(super().parse_args, ctx, args)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        with _bilingual_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _bilingual_usage_errors():
            return super().invoke(ctx)


# ---------------------------------------------------------------- commands
@click.group(cls=BilingualGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kpisheet", message="%(prog)s 版 / version %(version)s",
                      help="版を表示して終了します / Show the version and exit.")
def cli() -> None:
    """kpisheet — 協会けんぽ 事業計画KPIブックの作成・検証・全国集計。

    支部の入力ブックを作成し、返送されたブックを読み込んで検証し、全国集計表にまとめます。
    各コマンドの使い方は「kpisheet コマンド --help」で表示します。

    Generate branch input workbooks, read and validate returned ones, and
    consolidate them into the national workbook.
    """


@cli.command(short_help="KPI一覧・期の対応表を表示 / Show the KPI catalogue or the term mapping.")
@click.option("--fy", "fiscal_year", type=int, default=None,
              help="年度（西暦、2021〜2026。例：2024＝令和6年度）。その期のKPI一覧を表示します / "
                   "Fiscal year (2021-2026); its term's catalogue is shown.")
@click.option("--mapping", is_flag=True, help="第5期→第6期の施策・KPIの対応表を表示します / "
                                              "Show the term-5 -> term-6 mapping of measures and KPIs.")
@click.option("--json", "as_json", is_flag=True, help="KPI一覧（または対応表）全体をJSONで出力します / "
                                                      "Print the whole catalogue (or mapping) as JSON.")
def catalogue(fiscal_year: int | None, mapping: bool, as_json: bool) -> None:
    """年度のアクションプランKPI一覧、または第5期→第6期の対応表を表示します。

    Show the action-plan KPI catalogue of a fiscal year, or the term mapping.
    """
    from kpisheet.domain import catalogue as cat
    from kpisheet.domain.catalogue_view import catalogue_dict, catalogue_text, mapping_dict, mapping_text

    try:
        if mapping:
            m = cat.load_mapping()
            _echo(json.dumps(mapping_dict(m), ensure_ascii=False, indent=2) if as_json else mapping_text(m))
            return
        if fiscal_year is None:
            raise _usage("--fy 年度（例：--fy 2024）または --mapping を指定してください。",
                         "give --fy YEAR (e.g. --fy 2024) or --mapping")
        _check_fy(fiscal_year)
        c = cat.catalogue_for_fy(fiscal_year)
        _echo(json.dumps(catalogue_dict(c, fiscal_year), ensure_ascii=False, indent=2) if as_json
                   else catalogue_text(c, fiscal_year))
    except KpisheetError as exc:
        _fail(exc)


LEDGER_HELP = ("提出台帳（SQLite）。省略時は環境変数 KPISHEET_LEDGER、なければ作業フォルダの kpisheet.sqlite / "
               "The submission ledger (SQLite); default: $KPISHEET_LEDGER, else kpisheet.sqlite in the working folder.")


@cli.command(short_help="支部の入力ブックを作成 / Write the branches' input workbooks.")
@click.option("--fy", "fiscal_year", type=int, required=True,
              help="年度（西暦。例：2024＝令和6年度）/ Fiscal year, e.g. 2024.")
@click.option("--branch", "branches", multiple=True,
              help="支部コード（01〜47、00＝本部）。繰り返し指定可、省略時は全支部 / "
                   "Branch code (01-47, 00 = 本部); repeatable. Default: all.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="前年度実績：CSVまたはxlsx（branch, kpi_id, value の行）/ "
                   "Previous-year values: CSV or xlsx rows (branch, kpi_id, value).")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="年間目標：CSVまたはxlsx（branch, kpi_id, value の行）/ "
                   "Annual targets: CSV or xlsx rows (branch, kpi_id, value).")
@click.option("--password", default=None, help="シート保護のパスワード（省略時はパスワードなしで保護）/ "
                                               "Sheet-protection password (default: protection without password).")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="出力フォルダ / Output folder.")
@click.option("--force", is_flag=True, help="出力フォルダに既にあるブックを置き換えます / "
                                            "Replace workbooks that already exist in the output folder.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=SETTINGS_HELP)
@click.option("--plan", "use_plan", is_flag=True,
              help="台帳の承認済みの事業計画から年間目標と取組状況の事業内容を記入します（承認済みの計画がない支部は P601）/ "
                   "Prefill annual targets and 取組状況 items from each branch's approved 事業計画 in the ledger "
                   "(P601 for a branch without one).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
def generate(fiscal_year: int, branches: tuple[str, ...], baseline: Path | None, targets: Path | None,
             password: str | None, outdir: Path, force: bool, settings_file: Path | None, use_plan: bool,
             ledger: Path | None) -> None:
    """年度の入力ブックを支部ごとに1つ作成します（本部の設定ファイルの記入が必要です）。

    Write one input workbook per branch for a fiscal year (HQ's settings must be filled in).
    """
    _check_fy(fiscal_year)
    settings = _filled_settings(settings_file)
    plans = _approved_plans(ledger, fiscal_year) if use_plan else None
    with interruptible(_interrupted_exit):
        try:
            generate_cli(fiscal_year=fiscal_year, branches=branches, baseline=baseline, targets=targets,
                         password=password, outdir=outdir, force=force, settings=settings, plans=plans)
        except KpisheetError as exc:
            _fail(exc)


@cli.command(short_help="返送されたブックを1つ読み込んで表示 / Read one returned workbook.")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="提出内容をJSONで出力します（schemas/submission.schema.json）/ "
                                                      "Print the submission record as JSON.")
def read(file: Path, as_json: bool) -> None:
    """支部から返送されたブック FILE を1つ読み込み、提出内容を表示します。

    Read one returned workbook FILE and print its submission record.
    """
    with interruptible(_interrupted_exit):
        read_cli(file, as_json=as_json)


@cli.command(short_help="返送されたブックを検証 / Validate returned workbooks.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--fy", "fiscal_year", type=int, default=None,
              help="ブックが対象とすべき年度（西暦）/ Fiscal year the files must be for.")
@click.option("--as-of", "as_of", default=None,
              help="報告月（YYYY-MM）。これより後の月は空欄であること / Reporting month YYYY-MM; later months must be empty.")
@click.option("--json", "as_json", is_flag=True, help="検証結果をJSONで出力します / Print findings as JSON.")
def validate(paths: tuple[Path, ...], fiscal_year: int | None, as_of: str | None, as_json: bool) -> None:
    """返送されたブック（ファイルまたはフォルダ PATHS）を検証します。エラーがあれば終了コード1。

    Validate returned workbooks (files or folders); exit 1 when there are errors.
    """
    with interruptible(_interrupted_exit):
        validate_cli(list(paths), fiscal_year=fiscal_year, as_of=as_of, as_json=as_json)


@cli.command(short_help="月次の全国集計 / Consolidate a month into the national workbook.")
@click.argument("inbox", type=click.Path(path_type=Path), required=False)
@click.option("--fy", "fiscal_year", type=int, required=True, help="年度（西暦。例：2024）/ Fiscal year, e.g. 2024.")
@click.option("--month", required=True, help="報告月（YYYY-MM。例：2024-10）/ Reporting month YYYY-MM, e.g. 2024-10.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="前年度実績（branch, kpi_id, value）。branch が ALL の行は全国 / "
                   "Previous-year values (branch, kpi_id, value); branch ALL = national.")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="本部の年間目標（branch, kpi_id, value）。ブックの目標が空欄のときに使います。branch が ALL の行は全国 / "
                   "HQ's annual targets (branch, kpi_id, value), used where a workbook's target is empty; "
                   "branch ALL = national.")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="出力フォルダ / Output folder.")
@click.option("--force", is_flag=True, help="既存の出力を置き換えます（同じ月の古い出力も削除）/ "
                                            "Replace existing outputs (and remove stale ones of the same month).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--no-ledger", "no_ledger", is_flag=True,
              help="台帳を読みも書きもしません（修正履歴・前年同月比なし）/ "
                   "Neither read nor write a ledger (no history, no 前年同月比).")
@click.option("--from-ledger", "from_ledger", is_flag=True,
              help="その月の全国集計表とCSVを台帳の記録だけから作り直します（INBOX なし）/ "
                   "Rebuild the month's national workbook and CSV from the ledger alone (no INBOX).")
@click.option("--json", "as_json", is_flag=True, help="実行結果の要約をJSONで出力します / Print the run summary as JSON.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=SETTINGS_HELP)
@click.option("--any-month", "any_month", is_flag=True,
              help="ブックの大半が後の月まで入力済み、またはどのブックにもその月がなくても --month を集計します（E209）/ "
                   "Consolidate --month even when the workbooks mostly hold later months or none holds it (E209).")
@click.option("--plan", "use_plan", is_flag=True,
              help="台帳の承認済みの事業計画の目標で評価します（目標の設定「事業計画の目標」、全国は事業計画から算出）/ "
                   "Rate against the approved 事業計画 in the ledger (target source 事業計画の目標; the nation's "
                   "target implied by the plans).")
def consolidate(inbox: Path | None, fiscal_year: int, month: str, baseline: Path | None, targets: Path | None,
                outdir: Path, force: bool, ledger: Path | None, no_ledger: bool, from_ledger: bool,
                as_json: bool, settings_file: Path | None, any_month: bool, use_plan: bool) -> None:
    """受信箱 INBOX の返送ブックを報告月ごとに全国集計表へまとめ、台帳に記録します。

    Consolidate a month's returned workbooks in INBOX into the national workbook (and record it in the ledger).
    """
    with interruptible(_interrupted_exit):
        if from_ledger:
            rebuild_cli(fiscal_year=fiscal_year, month=month, outdir=outdir, force=force, ledger=ledger,
                        as_json=as_json, extra=(inbox, baseline, targets, no_ledger), settings_file=settings_file)
            return
        if inbox is None:
            raise _usage("受信箱のフォルダ INBOX を指定してください（または --from-ledger）。",
                         "give INBOX (or --from-ledger)")
        if use_plan and no_ledger:
            raise _usage("--plan は台帳の承認済みの事業計画を使うため、--no-ledger とは併用できません。",
                         "--plan takes the approved plans from the ledger: it cannot be used with --no-ledger")
        consolidate_cli(inbox, fiscal_year=fiscal_year, month=month, baseline=baseline, targets=targets,
                        outdir=outdir, force=force, as_json=as_json,
                        ledger=None if no_ledger else ledger_path_of(ledger), settings_file=settings_file,
                        month_check=not any_month,
                        plans=_approved_plans(ledger, fiscal_year) if use_plan else None)


@cli.command(name="close", short_help="集計した月を締める / Close a consolidated month.")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--fy", "fiscal_year", type=int, required=True, help="年度（西暦。例：2024）/ Fiscal year, e.g. 2024.")
@click.option("--month", required=True, help="締める報告月（YYYY-MM。例：2024-09）/ Reporting month YYYY-MM to close, e.g. 2024-09.")
def close_command(ledger: Path | None, fiscal_year: int, month: str) -> None:
    """集計した月を締めます。その月の報告は確定し、後の修正は「締め後」と記録されます。

    Close a consolidated month: its report is final; later revisions to it are marked 締め後.
    """
    from kpisheet.month import close_month

    _check_fy(fiscal_year)
    key = _month_key(month, fiscal_year)
    path = ledger_path_of(ledger)
    new, at = _in_ledger(path, lambda book: close_month(book, fiscal_year, key))
    when, year = _jst(at), _year_ja(fiscal_year)
    _echo(f"{year} {key} を締めました（{when}）。台帳: {path}" if new else
               f"{year} {key} は締め済みです（{when}）。台帳: {path}")


@cli.command(name="reopen", short_help="締めを解除する / Reopen a closed month.")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--fy", "fiscal_year", type=int, required=True, help="年度（西暦。例：2024）/ Fiscal year, e.g. 2024.")
@click.option("--month", required=True, help="締めを解除する月（YYYY-MM）/ Closed month YYYY-MM to reopen.")
@click.option("--reason", required=True, help="解除の理由（台帳の period_log に残ります）/ "
                                              "Why the month is reopened (kept in the ledger's period_log).")
def reopen_command(ledger: Path | None, fiscal_year: int, month: str, reason: str) -> None:
    """締めた月を解除し、再び集計できるようにします。理由は台帳に記録されます。

    Reopen a closed month so that it can be consolidated again; the reason is logged.
    """
    from kpisheet import ledger as led

    _check_fy(fiscal_year)
    key = _month_key(month, fiscal_year)
    if not reason.strip():
        raise _bad("理由を書いてください。", "give a reason", "--reason")
    path = ledger_path_of(ledger)
    at = _in_ledger(path, lambda book: led.reopen_month(book, fiscal_year, key, reason.strip()))
    _echo(f"{_year_ja(fiscal_year)} {key} の締めを解除しました（{_jst(at)}、理由：{reason.strip()}）。"
               f"台帳: {path}")


@cli.command(name="history", short_help="台帳に記録された値の履歴 / Print the ledger's figures.")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--branch", default=None, help="支部コード（01〜47、00＝本部、ALL＝全国）/ "
                                             "Branch code (01-47, 00 = 本部, ALL = national).")
@click.option("--kpi", "kpi_id", default=None, help="KPI番号（例：K6-2-01）/ KPI id, e.g. K6-2-01.")
@click.option("--fy", "fiscal_year", type=int, default=None, help="年度（西暦）/ Fiscal year.")
@click.option("--json", "as_json", is_flag=True, help="JSONで出力します / Print the rows as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="CSVで出力します / Print the rows as CSV.")
def history_command(ledger: Path | None, branch: str | None, kpi_id: str | None, fiscal_year: int | None,
            as_json: bool, as_csv: bool) -> None:
    """台帳に記録された値を、変更ごとに1行で表示します（修正の印は修正された値）。

    Print the figures the ledger recorded, each change a row (修正 marks a revision).
    """
    from kpisheet import ledger as led

    if as_json and as_csv:
        raise _usage("--json と --csv はどちらか一方だけを指定してください。", "--json or --csv, not both")
    if fiscal_year is not None:
        _check_fy(fiscal_year)
    branch = _known_branch(branch)
    kpi_id = _known_kpi(kpi_id, fiscal_year)
    rows = _in_ledger(ledger_path_of(ledger),
                      lambda book: led.history(book, branch=branch, kpi=kpi_id, fiscal_year=fiscal_year))
    _echo(history_text(rows, "json" if as_json else "csv" if as_csv else "table"), nl=False)


def _known_branch(text: str | None) -> str | None:
    """--branch as a code the ledger holds ('all' is ALL); anything else exits 2 naming the branches it may mean."""
    from kpisheet.domain.catalogue import branch_suggestions, load_branches

    if text is None:
        return None
    code = text.strip()
    if code.upper() == "ALL":
        return "ALL"
    if code in {b.code for b in load_branches()}:
        return code
    near = branch_suggestions(code)
    hint_ja = (f"もしかして: {'、'.join(f'{b.code} {b.display_name}' for b in near)}" if near else
               "支部コードは 01〜47（00＝本部、ALL＝全国）です。")
    hint_en = (f"Did you mean: {', '.join(b.code for b in near)}?" if near else
               "Branch codes are 01-47 (00 = 本部, ALL = national).")
    raise _bad(f"支部コード「{code}」はありません。{hint_ja}", f"no branch code '{code}'. {hint_en}", "--branch")


def _known_kpi(text: str | None, fiscal_year: int | None) -> str | None:
    """--kpi as a KPI id of the catalogues (of --fy's term when given); anything else exits 2 with the close ones."""
    from kpisheet.domain.catalogue import CATALOGUE_FILES, catalogue_for_fy, kpi_suggestions, load_catalogue

    if text is None:
        return None
    catalogues = ([catalogue_for_fy(fiscal_year)] if fiscal_year is not None else
                  [load_catalogue(term) for term in sorted(CATALOGUE_FILES)])
    kpi_id = text.strip()
    if any(cat.has_kpi(kpi_id) for cat in catalogues):
        return kpi_id
    near = kpi_suggestions(kpi_id, catalogues)
    hint_ja = (f"もしかして: {'、'.join(f'{k.id} {k.short_label}' for k in near)}" if near else
               "KPI番号は「kpisheet catalogue --fy 年度」で確かめてください。")
    hint_en = (f"Did you mean: {', '.join(k.id for k in near)}?" if near else
               "See `kpisheet catalogue --fy YEAR` for the KPI ids.")
    raise _bad(f"KPI番号「{kpi_id}」はありません。{hint_ja}", f"no KPI id '{kpi_id}'. {hint_en}", "--kpi")


@cli.group(name="ledger", short_help="提出台帳（過年度の値の取込）/ The submission ledger.")
def ledger_group() -> None:
    """提出台帳：過年度の値を取り込みます。

    The submission ledger: import earlier years' figures.
    """


@ledger_group.command(name="import", short_help="kpi_values CSV を台帳に取り込む / Import a kpi_values CSV.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
def ledger_import(file: Path, ledger: Path | None) -> None:
    """kpisheet が書いた kpi_values CSV（FILE。例：前年度のもの）の値を台帳に記録します。

    Record the figures of a kpi_values CSV kpisheet wrote (e.g. last year's) in the ledger.
    """
    from kpisheet import ledger as led

    path = ledger_path_of(ledger)
    result = _in_ledger(path, lambda book: led.import_values(book, file), create=True)
    if result.already:
        _echo(f"{file} は取込済みです。何も追加していません。台帳: {path}")
    else:
        year = _year_ja(result.fiscal_year) if result.fiscal_year else ""
        _echo(f"{file}: {year}の {result.rows:,}行を読み、{result.added:,}件の値を記録しました"
                   f"（空欄の行と記録済みの値を除く）。台帳: {path}")


@cli.group(name="plan", short_help="事業計画（支部の年度計画）/ The branches' annual plans (事業計画).")
def plan_group() -> None:
    """事業計画：支部の事業計画を作成・読込・検証・収集・確定し、新旧対照表と年度の目標値ファイルを作ります。

    The plan season: generate, read, check, collect and approve the branches' plans, and write each
    branch's 新旧対照表 and the year's targets file.
    """


@plan_group.command(name="diff", short_help="新旧対照表を作る / Write each branch's 新旧対照表.")
@click.argument("old", type=click.Path(exists=True, path_type=Path), required=False)
@click.argument("new", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--fy", "fiscal_year", type=int, default=None,
              help="台帳から：この年度の事業計画を前年度の計画と比べます（OLD・NEW の代わり）/ "
                   "From the ledger: this year's plans against last year's (instead of OLD NEW).")
@click.option("--branch", "branches", multiple=True,
              help="--fy で：支部コード（繰り返し可。省略時は全支部）/ With --fy: branch code (repeatable; default: all).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="新旧対照表を書くフォルダ / Folder to write the 新旧対照表 to.")
@click.option("--label", default=None,
              help="右上の資料番号（例：「資料 2-3」）。省略時は本部の設定の plan.taishohyo_label / "
                   "The document number printed top right; default: the settings' plan.taishohyo_label.")
@click.option("--final", is_flag=True, help="表題に「（案）」を付けません（確定した計画）/ Leave 「（案）」 out of the title.")
@click.option("--placeholders", is_flag=True,
              help="相手のない欄に「（新設）」「（削除）」と書きます / Write （新設）/（削除） opposite an added or dropped entry.")
@click.option("--strict", is_flag=True,
              help="空白と文末の「。」の違いも変更とします / Count whitespace and a closing 「。」 as changes.")
@click.option("--force", is_flag=True, help="既にある出力を置き換えます / Replace existing outputs.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=SETTINGS_HELP)
def plan_diff(old: Path | None, new: Path | None, fiscal_year: int | None, branches: tuple[str, ...],
              ledger: Path | None, outdir: Path, label: str | None, final: bool, placeholders: bool, strict: bool,
              force: bool, settings_file: Path | None) -> None:
    """OLD（前年度）と NEW（今年度）の事業計画から、支部ごとの新旧対照表（新が左、旧が右、変更に下線）と、
    本部向けの支部別の変更一覧を書きます。OLD と NEW は事業計画のブック・JSONファイルか、それを入れたフォルダです
    （フォルダでは支部番号で組にします）。--fy YEAR では台帳から、各支部のその年度の計画（確定した版、なければ最新の版）を
    前年度の計画と比べます。確定した版の表題には「（案）」を付けません。

    Write each branch's 新旧対照表 of NEW against OLD (plan workbooks or JSON files, or folders of them
    paired by branch code) and HQ's summary across branches; with --fy YEAR, from the ledger: each
    branch's approved (else latest) plan of YEAR against its plan of YEAR-1.
    """
    from kpisheet.fileio import OutputExistsError
    from kpisheet.plan.taishohyo import ledger_sides, plans_at, taishohyo_options, write_taishohyo_set

    if (fiscal_year is None) == (old is None or new is None) or (old is None) != (new is None):
        raise _usage("OLD と NEW の2つ、または --fy YEAR のどちらかを指定してください。",
                     "Give either OLD and NEW, or --fy YEAR.")
    settings = _load_settings(settings_file)
    options = taishohyo_options(settings, label=label)
    try:
        if fiscal_year is not None:
            _check_fy(fiscal_year)
            sides = ledger_sides(ledger_path_of(ledger), fiscal_year, [_plan_branch(b) for b in branches] or None)
            old_plans, new_plans, approved = sides.old, sides.new, sides.final
        else:
            assert old is not None and new is not None
            old_plans, new_plans, approved = plans_at(old), plans_at(new), set()
        run = write_taishohyo_set(old_plans, new_plans, outdir, label=options.label, legend=options.legend,
                                  draft=not final, placeholders=placeholders, strict=strict, force=force,
                                  final=approved)
    except KpisheetError as exc:
        _fail(exc)
    except OutputExistsError as exc:
        _exists_exit(exc)
    for f in run.findings:
        _echo(f"{f.code} {'エラー' if f.is_error else '警告'}: {f.message_ja}", err=True)
    for path, s in zip(run.written, run.summaries, strict=True):
        _echo(f"{branch_label(s.branch_code)}: 目標 引上げ {len(s.raised)}・引下げ {len(s.lowered)}・"
              f"据置き {s.targets_kept}・新設 {len(s.targets_added)}・削除 {len(s.targets_dropped)}、"
              f"施策 新設 {len(s.measures_added)}・削除 {len(s.measures_dropped)}・番号変更 {len(s.measures_renumbered)}、"
              f"率と人数の合わない組 {len(s.inconsistent)} → {path}")
    if run.summary is not None:
        _echo(f"支部別の変更: {run.summary}")
    else:
        _echo("新旧対照表を作れる支部がありませんでした。 / No branch's 新旧対照表 could be written.", err=True)
        sys.exit(1)
    if any(f.is_error for f in run.findings):
        sys.exit(1)


# ---------------------------------------------------------------- the plan season: recording and approving plans
@plan_group.command(name="collect", short_help="事業計画を収集して台帳に記録 / Collect and record the plans.")
@click.argument("inbox", type=click.Path(path_type=Path))
@click.option("--fy", "fiscal_year", type=int, required=True, help="計画の年度（西暦。例：2025）/ The plans' fiscal year.")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="出力フォルダ / Output folder.")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--no-ledger", "no_ledger", is_flag=True,
              help="台帳に記録しません（目標値ファイルは受信箱の計画から）/ Record nothing; the outputs are of the inbox's plans.")
@click.option("--force", is_flag=True, help="既存の出力を置き換えます / Replace existing outputs.")
@click.option("--national-min-branches", "national_min_branches", type=click.IntRange(min=1), default=None,
              help="全国の目標（ALL行）を書くのに必要な支部数（省略時は全支部）/ "
                   "Branches an implied national target must rest on (default: all).")
@click.option("--json", "as_json", is_flag=True, help="実行結果をJSONで出力します / Print the result as JSON.")
def plan_collect(inbox: Path, fiscal_year: int, outdir: Path, ledger: Path | None, no_ledger: bool, force: bool,
                 national_min_branches: int | None, as_json: bool) -> None:
    """受信箱（INBOX）の事業計画のブックを読み込んで検証し、台帳に記録して（内容が変わった支部だけ新しい版）、
    目標値ファイル plan_targets_FY年度.csv を書きます。

    Read and validate the plan workbooks of INBOX, record them in the ledger (a new version only where a
    plan changed) and write the targets file plan_targets_FY<year>.csv.
    """
    from kpisheet.plan.season import read_plan_inbox

    _check_fy(fiscal_year)
    if ledger is not None and no_ledger:
        raise _usage("--ledger と --no-ledger はどちらか一方だけを指定してください。", "--ledger or --no-ledger, not both")
    if not Path(inbox).exists():
        raise _bad(f"{inbox} がありません。", f"{inbox} does not exist", "INBOX")
    _check_outdir(Path(inbox), Path(outdir))
    used = None if no_ledger else ledger_path_of(ledger)
    with interruptible(_interrupted_exit):
        plans, found = read_plan_inbox(Path(inbox), fiscal_year, ledger=used)
    plan_collect_cli(plans, found, fiscal_year=fiscal_year, outdir=Path(outdir), inbox=Path(inbox),
                     ledger=used, force=force,
                     national_min_branches=national_min_branches, as_json=as_json)


def plan_collect_cli(plans: list[Any], found: dict[str, list[Finding]], *, fiscal_year: int, outdir: Path,
                     inbox: Path, ledger: Path | None, force: bool, national_min_branches: int | None,
                     as_json: bool) -> None:
    """Body of `plan collect` once the plans are read: collect (kpisheet.plan.season.collect_plans), print.

    Exit 0 when the outputs were written (findings in the plans are the report's content, not a failure);
    1 when they could not be (existing outputs without --force, another run writing, a full disk, a
    ledger that cannot be used); 2 for usage errors, before anything is read."""
    from kpisheet.fileio import OutputExistsError
    from kpisheet.plan.season import NoPlans, PlanWriteError, collect_plans
    from kpisheet.write.outputs import OutputLockedError

    try:
        result = collect_plans(plans, found, fiscal_year, outdir, ledger=ledger, force=force,
                               options={"inbox": str(inbox)}, national_min_branches=national_min_branches)
    except KpisheetError as exc:
        _fail(exc)
    except NoPlans as exc:
        if exc.findings:
            _echo(findings_text(exc.findings), err=True)
        if exc.years:
            _wrong_year_exit(inbox, fiscal_year, exc.years)
        _echo(f"kpisheet: {inbox} に読み込める{_year_ja(fiscal_year)}の事業計画のブックがありません。何も書き込んでいません。\n"
              f"No readable FY{fiscal_year} plan workbook in {inbox}; nothing was written.", err=True)
        sys.exit(1)
    except OutputExistsError as exc:
        _exists_exit(exc)
    except OutputLockedError:
        _locked_exit(outdir, False)
    except PlanWriteError as exc:
        _write_error_exit(exc.error, outdir, pending=exc.pending)
    summary = result.to_dict()
    if result.findings and not as_json:  # every finding, by file, until the plan summary workbook lists them
        _echo(findings_text(result.findings, {p.path: p.branch_code for p in result.plans if p.branch_code}),
              err=True)
    _echo(json.dumps(summary, ensure_ascii=False, indent=2) if as_json else plan_collect_text(summary))


def plan_collect_text(summary: dict[str, Any]) -> str:
    """The human summary of `plan collect`."""
    b, f = summary["branches"], summary["findings"]
    lines = [f"{summary['fiscal_year_ja']}（FY{summary['fiscal_year']}） 事業計画の収集",
             f"  提出 {len(b['submitted'])} / エラーあり {len(b['with_errors'])}"
             f"{'（' + _named(b['with_errors'], None) + '）' if b['with_errors'] else ''} / 未提出 {len(b['missing'])}"
             f"{'（' + _named(b['missing'], None) + '）' if b['missing'] else ''}",
             f"  エラー {f['errors']}件 / 警告 {f['warnings']}件",
             *plan_targets_lines(summary["targets"])]
    lines += [f"  目標値ファイル: {p}" for p in summary["outputs"] if Path(p).suffix == ".csv"]
    lines += [f"  出力: {p}" for p in summary["outputs"] if Path(p).suffix != ".csv"]
    led = summary.get("ledger")
    if led:
        if not led["recorded"]:
            what = "前回と同じファイルのため記録なし"
        else:
            what = f"新しい版 {led['new_versions']}件・新しいファイル {led['new_files']}件・記録済み {led['known_files']}件"
        lines.append(f"  台帳: {led['path']}（{what}）")
    return "\n".join(lines)


def plan_targets_lines(targets: dict[str, Any]) -> list[str]:
    """'  目標 支部 120件・全国 5件' and one line per implied national target not written (too few branches)."""
    rows = targets["rows"]
    branch_rows = sum(1 for r in rows if r["branch"] != "ALL")
    lines = [f"  目標 支部 {branch_rows}件・全国 {len(rows) - branch_rows}件"]
    for n in targets["national"]:
        if not n["written"]:
            what = "対象者数と見込者数のある支部" if n["basis"] == "planned_over_population" else "目標の数値のある支部"
            lines.append(f"  全国の目標なし {n['kpi_id']}: {what} {n['branches']}/{n['expected']}")
    return lines


@plan_group.command(name="approve", short_help="事業計画を確定 / Approve the branches' plans.")
@click.option("--fy", "fiscal_year", type=int, required=True, help="計画の年度（西暦。例：2025）/ The plans' fiscal year.")
@click.option("--branch", "branches", multiple=True,
              help="支部コード（繰り返し可。省略時は記録のある全支部）/ Branch code (repeatable; default: every branch recorded).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--json", "as_json", is_flag=True, help="結果をJSONで出力します / Print the result as JSON.")
def plan_approve(fiscal_year: int, branches: tuple[str, ...], ledger: Path | None, as_json: bool) -> None:
    """支部の事業計画の最新の版を確定します。確定した版がその年度に使われます。エラーのある版（P602）、
    記録のない支部（P603）、確定を解除していない支部（P604）は確定しません（終了コード1）。

    Approve each branch's latest plan version: the approved version is the one the year uses.
    """
    from kpisheet.ledger.plans import approve_plans

    _check_fy(fiscal_year)
    codes = [_plan_branch(b) for b in branches]
    path = ledger_path_of(ledger)
    result = _in_ledger(path, lambda book: approve_plans(book, fiscal_year, codes or None))
    if result.refused and not as_json:
        _echo(findings_text(result.refused), err=True)
    if as_json:
        _echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        year = _year_ja(fiscal_year)
        for v in result.approved:
            _echo(f"{branch_label(v.branch_code)}: {year}の事業計画 第{v.seq}版を確定しました（{_jst(v.approved_at or '')}）")
        for v in result.already:
            _echo(f"{branch_label(v.branch_code)}: 第{v.seq}版は確定済みです（{_jst(v.approved_at or '')}）")
        _echo(f"確定 {len(result.approved)}件・確定済み {len(result.already)}件・確定できず {len(result.refused)}件。"
              f"台帳: {path}")
    sys.exit(1 if result.refused else 0)


@plan_group.command(name="reopen", short_help="事業計画の確定を解除 / Reopen an approved plan.")
@click.option("--fy", "fiscal_year", type=int, required=True, help="計画の年度（西暦。例：2025）/ The plan's fiscal year.")
@click.option("--branch", "branch", required=True, help="支部コード / Branch code.")
@click.option("--reason", required=True, help="解除の理由（台帳の plan_log に残ります）/ "
                                              "Why the plan is reopened (kept in the ledger's plan_log).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--json", "as_json", is_flag=True, help="結果をJSONで出力します / Print the result as JSON.")
def plan_reopen(fiscal_year: int, branch: str, reason: str, ledger: Path | None, as_json: bool) -> None:
    """確定した事業計画の確定を解除します（理由は台帳に記録）。新しい版を確定するまで、確定していた版が使われます。

    Reopen a branch's approved plan (the reason is logged); the approved version stays in use until
    another is approved.
    """
    from kpisheet.ledger.plans import reopen_plan

    _check_fy(fiscal_year)
    code = _plan_branch(branch)
    if not reason.strip():
        raise _bad("理由を書いてください。", "give a reason", "--reason")
    path = ledger_path_of(ledger)
    version = _in_ledger(path, lambda book: reopen_plan(book, fiscal_year, code, reason))
    if as_json:
        _echo(json.dumps(version.to_dict(), ensure_ascii=False, indent=2))
        return
    _echo(f"{branch_label(code)}: {_year_ja(fiscal_year)}の事業計画（第{version.seq}版）の確定を解除しました"
          f"（理由：{reason.strip()}）。新しい版を確定するまで第{version.seq}版が使われます。台帳: {path}")


@plan_group.command(name="versions", short_help="記録された事業計画の版の一覧 / List the recorded plan versions.")
@click.option("--fy", "fiscal_year", type=int, required=True, help="計画の年度（西暦。例：2025）/ The plans' fiscal year.")
@click.option("--branch", "branch", default=None, help="支部コード / Branch code.")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--json", "as_json", is_flag=True, help="一覧をJSONで出力します / Print the list as JSON.")
def plan_versions_command(fiscal_year: int, branch: str | None, ledger: Path | None, as_json: bool) -> None:
    """台帳に記録された事業計画の版を、支部ごとに状態（確定（使用中）・未確定・確定（旧）・差し替え済み）とともに表示します。

    List the plan versions the ledger recorded, each with its status.
    """
    from kpisheet.ledger.plans import plan_versions

    _check_fy(fiscal_year)
    code = _plan_branch(branch) if branch is not None else None
    rows = _in_ledger(ledger_path_of(ledger), lambda book: plan_versions(book, fiscal_year, code))
    if as_json:
        _echo(json.dumps([v.to_dict() for v in rows], ensure_ascii=False, indent=2))
        return
    _echo(plan_versions_text(rows, fiscal_year), nl=False)


def plan_versions_text(rows: list[Any], fiscal_year: int) -> str:
    """The versions as a table for a terminal (columns aligned by display width)."""
    if not rows:
        return f"{_year_ja(fiscal_year)}の事業計画は台帳に記録されていません。\n"
    head = ["支部", "版", "状態", "記録日時", "確定日時", "エラー", "警告", "ファイル"]
    table = [head] + [[branch_label(v.branch_code), f"第{v.seq}版",
                       v.status_ja + ("・解除中" if v.reopened else ""), _jst(v.recorded_at),
                       _jst(v.approved_at) if v.approved_at else "", str(v.errors), str(v.warnings), v.file_name or ""]
                      for v in rows]
    widths = [max(text_width(r[i]) for r in table) for i in range(len(head))]
    lines = ["  ".join(c + " " * (w - text_width(c)) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return "\n".join(lines) + "\n"


@plan_group.command(name="export-targets", short_help="事業計画の目標値ファイルを書く / Write the plans' targets file.")
@click.option("--fy", "fiscal_year", type=int, required=True, help="計画の年度（西暦。例：2025）/ The plans' fiscal year.")
@click.option("--approved-only", "approved_only", is_flag=True,
              help="確定した版だけを使います（省略時は各支部の最新の版）/ Approved versions only (default: each branch's latest).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="書き出す目標値ファイル（CSV）/ The targets file to write (CSV).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--force", is_flag=True, help="ファイルが既にあれば置き換えます / Replace the file if it exists.")
@click.option("--national-min-branches", "national_min_branches", type=click.IntRange(min=1), default=None,
              help="全国の目標（ALL行）を書くのに必要な支部数（省略時は全支部）/ "
                   "Branches an implied national target must rest on (default: all).")
@click.option("--json", "as_json", is_flag=True, help="結果をJSONで出力します / Print the result as JSON.")
def plan_export_targets(fiscal_year: int, approved_only: bool, output: Path, ledger: Path | None, force: bool,
                        national_min_branches: int | None, as_json: bool) -> None:
    """台帳の事業計画から、generate と consolidate の --targets に使える目標値ファイルを書きます
    （数値の目標のみ。ALL行は全国の目標：Σ見込者数÷Σ対象者数、件数のKPIは目標の合計）。

    Write a --targets file from the ledger's plans (value targets; ALL rows: the implied national targets).
    """
    from kpisheet.fileio import OutputExistsError
    from kpisheet.plan.season import export_plan_targets

    _check_fy(fiscal_year)
    try:
        targets = export_plan_targets(ledger_path_of(ledger), fiscal_year, output, approved_only=approved_only,
                                      force=force, national_min_branches=national_min_branches)
    except KpisheetError as exc:
        _fail(exc)
    except OutputExistsError as exc:
        _exists_exit(exc, "ファイル")
    if as_json:
        _echo(json.dumps(targets.to_dict(), ensure_ascii=False, indent=2))
        return
    which = "確定した版" if approved_only else "各支部の最新の版"
    _echo("\n".join([f"{_year_ja(fiscal_year)}の事業計画（{which}）の目標値ファイルを書きました: {output}",
                     *plan_targets_lines(targets.to_dict()),
                     f"使うには: kpisheet consolidate 受信箱 --fy {fiscal_year} --month YYYY-MM --targets {output} -o 出力"]))


def _plan_branch(text: str) -> str:
    """--branch of a plan command: a branch code (not ALL)."""
    code = _known_branch(text)
    if code == "ALL":
        raise _bad("事業計画は支部ごとです。支部コードを指定してください。", "plans are per branch: give a branch code",
                   "--branch")
    return str(code)


@cli.command(name="baseline", short_help="年度末の値を次年度の前年度値ファイルに書く / Write next year's baseline file.")
@click.option("--from-ledger", "from_ledger", is_flag=True, required=True,
              help="提出台帳の値から作ります（今は台帳だけが元です）/ Take the values from the submission ledger.")
@click.option("--fy", "fiscal_year", type=int, required=True,
              help="年度末の値を書く年度（西暦。例：2024）/ The fiscal year whose year-end values to write, e.g. 2024.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="書き出す前年度値ファイル（CSV。例：FY2024実績.csv）/ The baseline file to write (CSV).")
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None, help=LEDGER_HELP)
@click.option("--force", is_flag=True, help="ファイルが既にあれば置き換えます / Replace the file if it exists.")
def baseline_command(from_ledger: bool, fiscal_year: int, output: Path, ledger: Path | None, force: bool) -> None:
    """台帳が記録した年度の年度末の値（支部・KPIごとの最新の実績）を、次年度の --baseline に使う前年度値ファイルに書きます。

    Write a fiscal year's year-end values from the ledger as next year's --baseline file.
    """
    from kpisheet.fileio import OutputExistsError
    from kpisheet.write.csvout import write_baseline_from_ledger

    _check_fy(fiscal_year)
    try:
        made = write_baseline_from_ledger(ledger_path_of(ledger), fiscal_year, output, force=force)
    except KpisheetError as exc:
        _fail(exc)
    except OutputExistsError as exc:
        _exists_exit(exc, "ファイル")
    early = (f"（うち {made.before_march:,}件は3月より前の月の値：データの遅れるKPI、または年度の途中までの台帳）"
             if made.before_march else "")
    _echo(f"{_year_ja(fiscal_year)}の年度末の値 {made.rows:,}件を書きました{early}: {made.path}\n"
               f"次年度の配布に使うには: kpisheet generate --fy {fiscal_year + 1} --baseline {made.path} -o 配布")


def _in_ledger(path: Path, action: Any, *, create: bool = False) -> Any:
    """Run action(ledger) on the opened ledger; a ledger problem (L1xx) is a message and exit 1."""
    from kpisheet import ledger as led

    try:
        with led.opened(path, create=create) as book:
            return action(book)
    except KpisheetError as exc:
        _fail(exc)


def _approved_plans(ledger: Path | None, fiscal_year: int) -> Any:
    """The approved 事業計画 of `fiscal_year` in the ledger (generate --plan, consolidate --plan)."""
    from kpisheet.month import approved_plans_from_ledger

    try:
        return approved_plans_from_ledger(ledger_path_of(ledger), fiscal_year)
    except KpisheetError as exc:
        _fail(exc)


def ledger_path_of(option: Path | None) -> Path:
    from kpisheet.ledger import ledger_path

    return ledger_path(option)


def _jst(at: str) -> str:
    """An instant the ledger recorded, as every command prints it: 「2024-11-08 17:05 JST」."""
    from kpisheet.domain.fiscal import jst_label

    return jst_label(at) or at


def _year_ja(fiscal_year: int) -> str:
    from kpisheet.domain.fiscal import wareki_fiscal_year

    return f"{wareki_fiscal_year(fiscal_year)}（FY{fiscal_year}）"


def _month_key(text: str, fiscal_year: int) -> str:
    from kpisheet.domain.fiscal import month_key

    return month_key(_month(text, fiscal_year, "--month"))


def history_text(rows: list[dict[str, Any]], form: str) -> str:
    """The history rows as a table (columns aligned for a terminal), JSON or CSV."""
    from kpisheet.ledger import HISTORY_COLUMNS

    if form == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if form == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        writer.writerows([[_plain(r[c]) for c in HISTORY_COLUMNS] for r in rows])
        return buf.getvalue()
    table = [[HISTORY_HEADINGS[c] for c in HISTORY_COLUMNS],
             *[[_history_cell(c, r) for c in HISTORY_COLUMNS] for r in rows]]
    widths = [max(text_width(str(row[i])) for row in table) for i in range(len(HISTORY_COLUMNS))]
    lines = ["  ".join(str(v) + " " * (w - text_width(str(v))) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in table]
    return "\n".join(lines) + f"\n{len(rows)}行 / rows\n"


HISTORY_HEADINGS = {"fiscal_year": "年度", "month": "月", "branch_code": "支部", "kpi_id": "KPI", "numerator": "分子",
                    "denominator": "分母", "value": "値", "status": "状態", "recorded_month": "記録した集計月",
                    "source": "ファイル", "revision": "修正"}


def _history_cell(column: str, row: dict[str, Any]) -> str:
    """One cell of the history table: the year in 和暦, the branch named, figures as the display module
    shows them (a KPI's value with its unit, numerators and denominators with every digit)."""
    from kpisheet.domain.catalogue import catalogue_for_fy
    from kpisheet.domain.display import format_figure, format_value
    from kpisheet.domain.fiscal import wareki_fiscal_year

    v = row[column]
    if v is None or v == "":
        return ""
    if column == "fiscal_year" and isinstance(v, int):
        return wareki_fiscal_year(v)
    if column == "branch_code":
        return branch_label(v)
    if column in ("numerator", "denominator") and isinstance(v, (int, float)):
        return format_figure(v)
    if column == "value" and isinstance(v, (int, float)):
        try:
            cat = catalogue_for_fy(int(row["fiscal_year"]))
        except (KpisheetError, TypeError, ValueError):
            return format_figure(v)
        return format_value(cat.kpi(row["kpi_id"]), v) if cat.has_kpi(row["kpi_id"]) else format_figure(v)
    return str(v)


def _plain(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return int(v)
    return "" if v is None else v


# ---------------------------------------------------------------- command bodies
def generate_cli(*, fiscal_year: int, branches: tuple[str, ...], baseline: Path | None, targets: Path | None,
                 password: str | None, outdir: Path, force: bool = False, settings: Any = None,
                 plans: Any = None) -> None:
    """`kpisheet generate`: progress bar on a terminal, the written files on stdout."""
    from kpisheet.domain.catalogue import catalogue_for_fy
    from kpisheet.domain.fiscal import wareki_fiscal_year
    from kpisheet.fileio import OutputExistsError
    from kpisheet.template.build import generate as generate_books
    from kpisheet.template.build import workbook_branches

    catalogue = catalogue_for_fy(fiscal_year)
    total = len(branches) or len(workbook_branches(catalogue, fiscal_year))
    options: dict[str, Any] = {"baseline_path": baseline, "targets_path": targets, "password": password,
                               "force": force, "settings": settings, "plans": plans}
    try:
        if sys.stderr.isatty():
            with click.progressbar(length=total, label="ブックを作成中", file=sys.stderr) as bar:
                result = generate_books(fiscal_year, branches or None, outdir, **options,
                                        progress=lambda _path: bar.update(1))
        else:
            result = generate_books(fiscal_year, branches or None, outdir, **options)
    except OutputExistsError as exc:
        _exists_exit(exc, "ブック（支部が記入して返送したものかもしれません）")
    if result.findings:
        _echo(findings_text(result.findings), err=True)
    for path in result.paths:
        _echo(str(path))
    term = catalogue.term
    _echo(f"{len(result.paths)}件のブックを作成しました（{wareki_fiscal_year(fiscal_year)}・第{term}期）"
               f" / wrote {len(result.paths)} workbook(s) for FY{fiscal_year} (term {term})", err=True)


def _exists_exit(exc: Any, what: str = "出力") -> None:
    shown = [f"  {p}" for p in exc.paths[:5]]
    if len(exc.paths) > 5:
        shown.append(f"  ほか{len(exc.paths) - 5}件 / and {len(exc.paths) - 5} more")
    names = "\n".join(shown)
    _echo(f"kpisheet: 次の{what}は既にあります。何も書き込んでいません。置き換えるには --force を付けてください。\n"
               f"These files exist; nothing was written. Use --force to replace them.\n{names}", err=True)
    sys.exit(1)


def read_cli(path: Path, *, as_json: bool = False) -> None:
    """`kpisheet read FILE`: print the record; exit 0 when read (warnings on stderr), 1 when not."""
    from kpisheet.domain.model import is_readable
    from kpisheet.read.reader import read_workbook, submission_text

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise _bad(f"ファイル「{path}」がありません。", f"no such file: {path}", "FILE") from None
    except OSError as exc:
        _echo(f"kpisheet: {path} を開けません（{exc.strerror}）/ cannot open {path} ({exc.strerror})", err=True)
        sys.exit(1)
    if not stat.S_ISREG(mode):
        _echo(f"kpisheet: {path} は通常のファイルではありません（フォルダ・パイプ・デバイスなど）。"
                   f"ブック（.xlsx）を指定してください。\n"
                   f"{path} is not a regular file (a folder, pipe or device); give a workbook (.xlsx).", err=True)
        sys.exit(1)
    sub = read_workbook(path)
    if sub.findings:
        _echo(findings_text(sub.findings, {str(sub.path): sub.branch_code} if sub.branch_code else None),
                   err=True)
    if not is_readable(sub):
        sys.exit(1)
    if as_json:
        _echo(json.dumps(sub.to_dict(), ensure_ascii=False, indent=2))
    else:
        _echo(submission_text(sub))


def validate_cli(paths: list[Path], *, fiscal_year: int | None = None, as_of: str | None = None,
                 as_json: bool = False) -> None:
    """`kpisheet validate`: findings grouped by file (or --json); exit 1 when there are errors."""
    from kpisheet.check.validation import validate as validate_files
    from kpisheet.runtime import gc_paused

    if fiscal_year is not None:
        _check_fy(fiscal_year)
    month = _month(as_of, fiscal_year, "--as-of") if as_of is not None else None
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise _bad(f"ファイルまたはフォルダ「{'」「'.join(missing)}」がありません。",
                   f"no such file or folder: {', '.join(missing)}", "PATHS")
    with gc_paused():  # the one pause of the command (see runtime.gc_paused)
        result = validate_files(paths, fiscal_year=fiscal_year, as_of=month)
    if as_json:
        _echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        if result.findings:
            _echo(findings_text(result.findings, {s.path: s.branch_code for s in result.every_submission
                                                       if s.branch_code}))
        n_err = sum(1 for f in result.findings if f.is_error)
        _echo(f"{len(result.files)}ファイル / files: エラー {n_err}件、警告 {len(result.findings) - n_err}件")
        for line in internal_error_lines([f.to_dict() for f in result.findings if is_internal(f)]):
            _echo(line)
    sys.exit(1 if result.has_errors else 0)


def consolidate_cli(inbox: Path, *, fiscal_year: int, month: str, baseline: Path | None, outdir: Path,
                    force: bool, as_json: bool, targets: Path | None = None, ledger: Path | None = None,
                    settings_file: Path | None = None, month_check: bool = True, plans: Any = None) -> None:
    """Body of `kpisheet consolidate`: check the arguments, run the month (kpisheet.month), print.

    Exit 0 when the national workbook was written; 1 when it could not be
    (nothing readable, no workbook of --fy, another run writing, existing
    output without --force, a full disk, a closed month, a ledger that cannot
    be used); 2 for usage errors, before anything is read, and for a --month the workbooks do not
    hold (E209, after reading; nothing is written).  Findings in branch
    files do not fail the run.  HQ's settings (`settings_file`, see
    kpisheet.domain.settings) give the deadline; placeholders in them are one
    warning line, a broken file exit 1.
    """
    from kpisheet.month import run_month

    _check_fy(fiscal_year)
    as_of = _month(month, fiscal_year, "--month")
    if not Path(inbox).exists():
        raise _bad(f"{inbox} がありません。", f"{inbox} does not exist", "INBOX")
    _check_outdir(Path(inbox), Path(outdir))
    settings = _load_settings(settings_file)
    _settings_warning(settings)
    with _month_failures(Path(outdir)):
        result = run_month(Path(inbox), fiscal_year, as_of, Path(outdir), baseline=baseline, targets=targets,
                           settings=settings, ledger=ledger, force=force, month_check=month_check, plans=plans,
                           hooks=_Terminal(baseline, targets, tty=sys.stderr.isatty()))
    if result.outputs.findings:
        _echo(findings_text(result.outputs.findings), err=True)
    summary = result.to_dict()
    _echo(json.dumps(summary, ensure_ascii=False, indent=2) if as_json else summary_text(summary))
    if summary["internal_errors"]:  # outputs written, but kpisheet failed on a file: HQ must look
        sys.exit(1)


class _Terminal:
    """kpisheet.month.Hooks for the CLI: the findings about --baseline / --targets once the month
    is consolidated, and on a terminal a line while reading and a progress bar while writing."""

    def __init__(self, baseline: Path | None, targets: Path | None, *, tty: bool):
        self.baseline, self.targets, self.tty = baseline, targets, tty

    def reading(self) -> None:
        if self.tty:
            _echo("読込・検証中… / reading and validating…", err=True)

    def consolidated(self, cons: Any) -> None:
        _echo_baseline_findings(cons.findings, self.baseline, "前年度値ファイル", "--baseline")
        _echo_baseline_findings(cons.findings, self.targets, "目標値ファイル", "--targets")

    @contextlib.contextmanager
    def writing(self, steps: int) -> Iterator[Any]:
        if not self.tty:
            yield None
            return
        with click.progressbar(length=steps, label="出力中 / writing", file=sys.stderr) as bar:
            yield lambda _label: bar.update(1)


@contextlib.contextmanager
def _month_failures(outdir: Path, *, rebuilt: bool = False) -> Iterator[None]:
    """Each way a month's run fails, as a message and exit 1."""
    from kpisheet.fileio import OutputExistsError
    from kpisheet.month import NothingReadable, OutputWriteError, WrongFiscalYear, WrongMonth
    from kpisheet.write.outputs import OutputLockedError

    try:
        yield
    except KpisheetError as exc:
        _fail(exc)
    except NothingReadable as exc:
        _nothing_readable_exit(exc)
    except WrongFiscalYear as exc:
        _wrong_year_exit(exc.inbox, exc.fiscal_year, exc.years)
    except WrongMonth as exc:  # a usage error found by reading: exit 2, like a --month outside --fy
        _echo(f"kpisheet: E209 {exc.finding.message_ja}\n{exc.finding.message_en}\n"
                   "（意図して別の月を集計する場合は --any-month / use --any-month to consolidate it anyway）", err=True)
        sys.exit(2)
    except OutputExistsError as exc:
        _exists_exit(exc)
    except OutputLockedError:
        _locked_exit(outdir, rebuilt)
    except OutputWriteError as exc:
        if rebuilt:  # reported as the unexpected error it is there
            raise exc.error from None
        _write_error_exit(exc.error, outdir, pending=exc.pending)


def _nothing_readable_exit(exc: Any) -> None:
    if exc.findings:
        _echo(findings_text(exc.findings), err=True)
    _echo(f"kpisheet: {exc.inbox} に読み込めるブックがありません。全国集計表は作成しませんでした。\n"
               f"No readable workbook in {exc.inbox}; the national workbook was not written.", err=True)
    sys.exit(1)


def _locked_exit(outdir: Path, rebuilt: bool) -> None:
    if rebuilt:
        _echo(f"kpisheet: 別の kpisheet が {outdir} に書き込み中です。何も書き込んでいません。\n"
                   f"Another kpisheet run is writing into {outdir}. Nothing was written.", err=True)
    else:
        _echo(f"kpisheet: 別の kpisheet が {outdir} に書き込み中です。終わってから再実行してください。"
                   f"何も書き込んでいません。\n"
                   f"Another kpisheet run is writing into {outdir}; run again when it has finished. "
                   f"Nothing was written.", err=True)
    sys.exit(1)


def _write_error_exit(exc: OSError, outdir: Path, *, pending: bool = False) -> None:
    from kpisheet.fileio import is_disk_full

    where = exc.filename or outdir
    if pending:
        _echo(f"kpisheet: 出力の公開が途中で止まりました：{where}（{exc.strerror or exc}）。集計は台帳に記録済みです。"
                   f"書き込めるようにしてから同じ出力先へ集計し直すと、公開を完了します（それまで締めはできません）。\n"
                   f"Publishing the outputs stopped part way: {where} ({exc.strerror or exc}). The run is recorded; "
                   f"consolidate into the same folder again once it can be written, and the publication is "
                   f"completed (the month cannot be closed until then).", err=True)
    elif is_disk_full(exc):
        _echo(f"kpisheet: ディスクの空きが足りません（{where}）。出力は何も書き込んでいません。"
                   f"空きを作ってから再実行してください。\n"
                   f"The disk is full ({where}); no output was written. Free some space and run again.",
                   err=True)
    else:
        _echo(f"kpisheet: 出力を書き込めません：{where}（{exc.strerror or exc}）\n"
                   f"Cannot write the output: {where} ({exc.strerror or exc})", err=True)
    sys.exit(1)


def rebuild_cli(*, fiscal_year: int, month: str, outdir: Path, force: bool, ledger: Path | None, as_json: bool,
                extra: tuple[Any, ...] = (), settings_file: Path | None = None) -> None:
    """`kpisheet consolidate --from-ledger`: the month's national workbook and CSV from the ledger alone
    (kpisheet.month.rebuild_month)."""
    from kpisheet.month import rebuild_month

    if any(x for x in extra):
        raise _usage("--from-ledger には INBOX・--baseline・--targets・--no-ledger を付けられません。"
                     "月の集計に使ったものは台帳にあります。",
                     "--from-ledger takes no INBOX, --baseline, --targets or --no-ledger: "
                     "the ledger holds what the month was built from")
    _check_fy(fiscal_year)
    key = _month_key(month, fiscal_year)
    path = ledger_path_of(ledger)
    settings = _load_settings(settings_file)
    _settings_warning(settings)
    with _month_failures(Path(outdir), rebuilt=True):
        result = rebuild_month(fiscal_year, key, Path(outdir), ledger=path, settings=settings, force=force)
    if result.mismatches:
        _echo(findings_text(result.mismatches), err=True)
    summary = result.to_dict()
    run_id = summary["rebuilt_from"]["run_id"]
    _echo(json.dumps(summary, ensure_ascii=False, indent=2) if as_json else
               summary_text(summary) + f"\n  台帳 {path} の記録（run {run_id}）から再作成しました。")


def _echo_baseline_findings(findings: list[Finding], path: Path | None, what_ja: str, option: str) -> None:
    """Findings about a --baseline / --targets file go to stderr (they never change a branch's status)."""
    if path is None:
        return
    mine = [f for f in findings if f.file and Path(f.file) == Path(path)]
    if mine:
        _echo(f"{what_ja} {path} について / about the {option} file:\n{format_text(mine)}", err=True)


def _wrong_year_exit(inbox: Path, fiscal_year: int, years: list[int]) -> None:
    from kpisheet.domain.fiscal import wareki_fiscal_year

    found = "、".join(f"{wareki_fiscal_year(y)}（FY{y}）" for y in years)
    hint_ja = f"--fy {years[0]} を指定してください。" if len(years) == 1 else "--fy を確かめてください。"
    hint_en = f"give --fy {years[0]}" if len(years) == 1 else "check --fy"
    _echo(f"kpisheet: 受信箱のブックは{found}です。{hint_ja}"
               f"{wareki_fiscal_year(fiscal_year)}（FY{fiscal_year}）のブックはありません。何も書き込んでいません。\n"
               f"The workbooks in {inbox} are for FY{', FY'.join(map(str, years))}, none for FY{fiscal_year}; "
               f"{hint_en}. Nothing was written.", err=True)
    sys.exit(1)


def _named(codes: list[str], names: list[str] | None) -> str:
    """'32 島根支部, 47 沖縄支部': the summary's names when it has them, else looked up."""
    return ", ".join(names) if names else ", ".join(branch_label(c) for c in codes)


def summary_text(summary: dict[str, Any]) -> str:
    """The human summary of a run (stdout of `kpisheet consolidate`)."""
    b, f = summary["branches"], summary["findings"]
    parts = [f"提出済 {b.get('submitted', 0)}"]
    for label, key in (("エラーあり", "with_errors"), ("報告月の入力なし", "no_reporting_month"),
                       ("提出あり・読込不可", "unreadable"), ("未提出", "missing")):
        if key == "no_reporting_month" and not b.get(key):
            continue  # said only when a branch is in it
        parts.append(f"{label} {b.get(key, 0)}{_listed(b, key)}")
    lines = [f"{summary['fiscal_year_ja']}（FY{summary['fiscal_year']}） {summary['month']} 全国集計",
             "  " + " / ".join(parts),
             f"  エラー {f['errors']}件 / 警告 {f['warnings']}件（詳細は全国集計表の「検証結果」シート）"]
    if summary.get("deadline"):
        lines.append(f"  提出期限 {_date_ja(summary['deadline'])} / 期限後の提出 {b.get('late', 0)}{_listed(b, 'late')}")
    if summary.get("output_findings"):
        codes = "・".join(dict.fromkeys(f["code"] for f in summary["output_findings"]))
        lines.append(f"  確認事項を書けなかった支部ブック: {len(summary['output_findings'])}件（{codes}、上記参照）")
    lines.extend(internal_error_lines(summary.get("internal_errors") or []))
    for aside in summary.get("set_aside") or []:
        what = "同一内容のため1件として扱いました" if aside.get("code") == "W208" else "より新しいブックを使いました"
        lines.append(f"  再提出 {branch_label(aside.get('branch'))}: 「{Path(aside.get('used') or '').name}」を使用、"
                     f"「{Path(aside['file']).name}」は使っていません（{what}）")
    lines.extend(output_lines(summary["outputs"]))
    if summary.get("ledger"):
        lines.append(ledger_line(summary["ledger"], summary.get("revisions", 0),
                                 summary.get("revisions_after_close", 0)))
    return "\n".join(lines)


def internal_error_lines(found: list[dict[str, Any]]) -> list[str]:
    """The summary's lines naming kpisheet's internal errors (E190), which make the run exit 1."""
    if not found:
        return []
    lines = [f"  kpisheetの内部エラー（E190） {len(found)}件：支部のファイルの問題ではありません。"
             "このメッセージと対象のファイルをkpisheetの保守担当に報告してください / "
             f"{len(found)} internal error(s) of kpisheet: not the branches' fault; report them"]
    lines += [f"    {Path(f['file'] or '').name}（{branch_label(f.get('branch'))}）：{f['text_ja']}" for f in found]
    return lines


def _listed(branches: dict[str, Any], key: str) -> str:
    """'（11 埼玉支部, 47 沖縄支部）' for the branches of one status in the summary; '' when none."""
    codes = list(branches.get(f"{key}_codes") or [])
    return f"（{_named(codes, branches.get(f'{key}_names'))}）" if codes else ""


def _date_ja(iso: str) -> str:
    """'2024-11-08' -> '令和6年11月8日（金）' (fiscal.wareki_date, the one way a date is shown)."""
    from kpisheet.domain.fiscal import wareki_date

    return wareki_date(date.fromisoformat(iso), weekday=True)


OUTPUT_LABELS = (("national_", "全国集計表"), ("全支部_評価一覧_", "全支部の評価一覧"),
                 ("全支部_実施状況_", "全支部の実施状況"), ("kpi_values_", "分析用CSV"))
XLSX_COPY_LABEL = "分析用CSVの表計算用コピー（支部コードは文字列）"  # kpi_values_….xlsx


def output_lines(outputs: list[str]) -> list[str]:
    """One line per HQ output with what it is, and the feedback files counted with their folder."""
    lines, feedback = [], []
    for out in outputs:
        path = Path(out)
        label = next((ja for prefix, ja in OUTPUT_LABELS if path.name.startswith(prefix)), None)
        if label == "分析用CSV" and path.suffix == ".xlsx":
            label = XLSX_COPY_LABEL
        if label is None:
            feedback.append(path)
        else:
            lines.append(f"  {label}: {out}")
    if feedback:
        lines.append(f"  支部あて確認事項: {len(feedback)}件（{feedback[0].parent}）")
    return lines


def ledger_line(led: dict[str, Any], revisions: int, after_close: int) -> str:
    """'  台帳: out/kpisheet.sqlite（新しいファイル 46件、修正 1件（うち締め後 1件）、前年同月比あり）'"""
    if not led.get("recorded"):
        what = "前回と同じ入力のため記録なし"
    else:
        what = f"新しいファイル {led.get('new_files', 0)}件・記録済み {led.get('known_files', 0)}件"
    fixed = f"修正 {revisions}件" + (f"（うち締め後 {after_close}件）" if after_close else "")
    previous = "前年同月比あり" if led.get("previous_year") else "前年同月の記録なし"
    return f"  台帳: {led.get('path')}（{what}、{fixed}、{previous}）"


# ================================================================ plan season (事業計画)
@plan_group.command(name="generate", short_help="支部の事業計画作成シートを作成 / Write the plan workbooks.")
@click.option("--fy", "fiscal_year", type=int, required=True,
              help="計画の年度（西暦。例：2025＝令和7年度）/ Fiscal year of the plan, e.g. 2025.")
@click.option("--branch", "branches", multiple=True,
              help="支部コード（01〜47、00＝本部）。繰り返し指定可、省略時は全支部 / "
                   "Branch code (01-47, 00 = 本部); repeatable. Default: all.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="前年度の見込み・実績：CSVまたはxlsx（branch, kpi_id, value の行）/ "
                   "Last year's values: CSV or xlsx rows (branch, kpi_id, value).")
@click.option("--baseline-status", "baseline_status", type=click.Choice(["見込み", "暫定", "確定"]), default="確定",
              show_default=True, help="前年度の見込み・実績の区分 / Status of those values.")
@click.option("--as-of", "as_of", default=None,
              help="前年度の見込み・実績の時点・注記（例：R7.1現在）/ As-of note of those values, e.g. R7.1現在.")
@click.option("--password", default=None, help="シート保護のパスワード（省略時はパスワードなしで保護）/ "
                                               "Sheet-protection password (default: protection without password).")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="出力フォルダ / Output folder.")
@click.option("--force", is_flag=True, help="出力フォルダに既にあるシートを置き換えます / "
                                            "Replace workbooks that already exist in the output folder.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=SETTINGS_HELP)
@click.option("--ledger", "ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="前年度の承認済み事業計画と前年度の値を取る提出台帳。省略時は環境変数 KPISHEET_LEDGER、なければ作業フォルダの "
                   "kpisheet.sqlite（あるときだけ）/ The ledger to take last year's approved plans and values from; "
                   "default: $KPISHEET_LEDGER, else kpisheet.sqlite in the working folder when it exists.")
@click.option("--no-ledger", "no_ledger", is_flag=True,
              help="台帳を使いません / Do not use a ledger.")
def plan_generate(fiscal_year: int, branches: tuple[str, ...], baseline: Path | None, baseline_status: str,
                  as_of: str | None, password: str | None, outdir: Path, force: bool,
                  settings_file: Path | None, ledger: Path | None, no_ledger: bool) -> None:
    """年度の事業計画作成シートを支部ごとに1つ作成します（本部の設定ファイルの記入が必要です）。

    Write one 事業計画 workbook per branch for a fiscal year (HQ's settings must be filled in).
    """
    from kpisheet.domain.fiscal import wareki_fiscal_year
    from kpisheet.fileio import OutputExistsError
    from kpisheet.plan.template import generate_plans

    _check_fy(fiscal_year)
    if ledger is not None and no_ledger:
        raise _usage("--ledger と --no-ledger はどちらか一方だけを指定してください。", "--ledger or --no-ledger, not both")
    settings = _filled_settings(settings_file)
    prefill = _plan_prefill(ledger, fiscal_year, with_values=baseline is None, use=not no_ledger)
    with interruptible(_interrupted_exit):
        try:
            paths = generate_plans(fiscal_year, outdir, branches=branches or None, baseline_path=baseline,
                                   results_status=baseline_status, results_as_of=as_of, password=password,
                                   force=force, settings=settings, previous=prefill.previous,
                                   results=prefill.results if baseline is None else None,
                                   results_notes=prefill.notes if baseline is None else None)
        except OutputExistsError as exc:
            _exists_exit(exc, "事業計画作成シート（支部が記入して返送したものかもしれません）")
        except KpisheetError as exc:
            _fail(exc)
    for path in paths:
        _echo(str(path))
    _echo(f"{len(paths)}件の事業計画作成シートを作成しました（{wareki_fiscal_year(fiscal_year)}）"
          f" / wrote {len(paths)} plan workbook(s) for FY{fiscal_year}", err=True)


def _plan_prefill(option: Path | None, fiscal_year: int, *, with_values: bool, use: bool) -> Any:
    """The ledger's part of the plan workbooks (kpisheet.plan.prefill): from --ledger, else from the
    default ledger when it exists; nothing with --no-ledger (`use` False)."""
    from kpisheet.plan.prefill import LedgerPrefill, from_ledger

    path = ledger_path_of(option)
    if not use or (option is None and not path.exists()):
        return LedgerPrefill()
    try:
        found = from_ledger(path, fiscal_year)
    except KpisheetError as exc:
        _fail(exc)
    values = f"、前年度の値 {len(found.results):,}件" if with_values else "（前年度の値は --baseline から）"
    _echo(f"台帳 {path} から: 前年度の承認済み事業計画 {len(found.previous)}支部{values} / "
          f"from the ledger: {len(found.previous)} approved plan(s) of FY{fiscal_year - 1}"
          + (f", {len(found.results):,} value(s)" if with_values else ""), err=True)
    return found


@plan_group.command(name="read", short_help="返送された事業計画を1つ読み込んで表示 / Read one returned plan.")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="計画の内容をJSONで出力します / Print the plan as JSON.")
def plan_read(file: Path, as_json: bool) -> None:
    """支部から返送された事業計画作成シート FILE を1つ読み込み、内容を表示します（読めなければ終了コード1）。

    Read one returned plan workbook FILE and print it (exit 1 when it cannot be read as a plan).
    """
    from kpisheet.plan.reader import is_plan_read, plan_text, read_plan

    if not file.exists():
        raise _bad(f"ファイル「{file}」がありません。", f"no such file: {file}", "FILE")
    with interruptible(_interrupted_exit):
        plan = read_plan(file)
    if plan.findings:
        _echo(findings_text(plan.findings, {plan.path: plan.branch_code} if plan.branch_code else None), err=True)
    if not is_plan_read(plan):
        sys.exit(1)
    if as_json:
        _echo(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
    else:
        _echo(plan_text(plan))


@plan_group.command(name="validate", short_help="返送された事業計画を検証 / Validate returned plans.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="検証結果をJSONで出力します / Print findings as JSON.")
def plan_validate(paths: tuple[Path, ...], as_json: bool) -> None:
    """返送された事業計画作成シート（ファイルまたはフォルダ PATHS）を検証します。エラーがあれば終了コード1。

    Validate returned plan workbooks (files or folders); exit 1 when there are errors.
    """
    from kpisheet.plan.reader import read_plan
    from kpisheet.plan.rules import validate_plans

    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise _bad(f"ファイルまたはフォルダ「{'」「'.join(missing)}」がありません。",
                   f"no such file or folder: {', '.join(missing)}", "PATHS")
    files = sorted({f for p in paths for f in (sorted(Path(p).glob("*.xlsx")) if Path(p).is_dir() else [Path(p)])})
    with interruptible(_interrupted_exit):
        plans = [read_plan(f) for f in files]
    # the reading findings, then the checks on each plan read (with the other plans of its year given)
    checked = validate_plans(plans)
    findings = [f for plan in plans for f in (*plan.findings, *checked.get(plan.path, []))]
    if as_json:
        _echo(json.dumps({"files": [str(f) for f in files], "findings": [f.to_dict() for f in findings]},
                         ensure_ascii=False, indent=2))
    else:
        if findings:
            _echo(findings_text(findings, {p.path: p.branch_code for p in plans if p.branch_code}))
        n_err = sum(1 for f in findings if f.is_error)
        _echo(f"{len(files)}ファイル / files: エラー {n_err}件、警告 {len(findings) - n_err}件")
    sys.exit(1 if any(f.is_error for f in findings) else 0)


def main() -> None:
    """Console entry point: no traceback ever reaches a user."""
    runtime.ONE_SHOT_PROCESS = True  # the process ends with the command (see runtime.gc_paused)
    try:
        cli(standalone_mode=True)
    except SystemExit:
        raise
    except KpisheetError as exc:
        _fail(exc)
    except Exception as exc:  # pragma: no cover - last resort
        if os.environ.get("KPISHEET_DEBUG"):
            raise
        _echo(f"kpisheet: 予期しないエラーが発生しました / unexpected error: {type(exc).__name__}: {exc}\n"
                   "KPISHEET_DEBUG=1 を付けて再実行すると詳細が表示されます。", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
