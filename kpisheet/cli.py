"""Command-line interface: thin click commands over the stage functions.

Each command parses options, calls one library function and prints its
result.  KpisheetError becomes a message on stderr and exit 1; click's usage
errors exit 2.  No traceback reaches a user: anything unexpected is reported
as one line with exit 1 (set KPISHEET_DEBUG=1 to see the traceback).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from datetime import date
from typing import Any

import click

from . import __version__
from .findings import KpisheetError, format_text


def _fail(exc: KpisheetError) -> None:
    click.echo(format_text(exc.findings), err=True)
    sys.exit(1)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kpisheet")
def cli() -> None:
    """kpisheet — 協会けんぽ 事業計画KPIブックの作成・検証・全国集計。

    Generate branch input workbooks, read and validate returned ones, and
    consolidate them into the national workbook.
    """


# ---------------------------------------------------------------- catalogue
@cli.command()
@click.option("--fy", "fiscal_year", type=int, default=None, help="Fiscal year (2021-2026); its term's catalogue is shown.")
@click.option("--mapping", is_flag=True, help="Show the term-5 -> term-6 mapping of measures and KPIs.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole catalogue (or mapping) as JSON.")
def catalogue(fiscal_year: int | None, mapping: bool, as_json: bool) -> None:
    """Show the action-plan KPI catalogue of a fiscal year, or the term mapping."""
    from . import catalogue as cat
    from .catalogue_view import catalogue_dict, catalogue_text, mapping_dict, mapping_text

    try:
        if mapping:
            m = cat.load_mapping()
            click.echo(json.dumps(mapping_dict(m), ensure_ascii=False, indent=2) if as_json else mapping_text(m))
            return
        if fiscal_year is None:
            raise click.UsageError("give --fy YEAR (e.g. --fy 2024) or --mapping")
        c = cat.catalogue_for_fy(fiscal_year)
        click.echo(json.dumps(catalogue_dict(c, fiscal_year), ensure_ascii=False, indent=2) if as_json
                   else catalogue_text(c, fiscal_year))
    except KpisheetError as exc:
        _fail(exc)


# ---------------------------------------------------------------- generate (issue: templates)
@cli.command()
@click.option("--fy", "fiscal_year", type=int, required=True, help="Fiscal year, e.g. 2024 (令和6年度).")
@click.option("--branch", "branches", multiple=True, help="Branch code (01-47, 00 = 本部); repeatable. Default: all.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Previous-year values: CSV or xlsx rows (branch, kpi_id, value).")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Annual targets: CSV or xlsx rows (branch, kpi_id, value).")
@click.option("--password", default=None, help="Sheet-protection password (default: protection without password).")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
def generate(fiscal_year: int, branches: tuple[str, ...], baseline: Path | None, targets: Path | None,
             password: str | None, outdir: Path) -> None:
    """Write one input workbook per branch for a fiscal year."""
    try:
        generate_cli(fiscal_year=fiscal_year, branches=branches, baseline=baseline, targets=targets,
                     password=password, outdir=outdir)
    except KpisheetError as exc:
        _fail(exc)


# ---------------------------------------------------------------- read / validate (issue: reader)
@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the submission record as JSON (schemas/submission.schema.json).")
def read(file: Path, as_json: bool) -> None:
    """Read one returned workbook and print its submission record."""
    read_cli(file, as_json=as_json)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--fy", "fiscal_year", type=int, default=None, help="Fiscal year the files must be for.")
@click.option("--as-of", "as_of", default=None, help="Reporting month YYYY-MM; later months must be empty.")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
def validate(paths: tuple[Path, ...], fiscal_year: int | None, as_of: str | None, as_json: bool) -> None:
    """Validate returned workbooks (files or folders); exit 1 when there are errors."""
    validate_cli(list(paths), fiscal_year=fiscal_year, as_of=as_of, as_json=as_json)


# ---------------------------------------------------------------- consolidate (issue: consolidation)
@cli.command()
@click.argument("inbox", type=click.Path(path_type=Path))
@click.option("--fy", "fiscal_year", type=int, required=True, help="Fiscal year, e.g. 2024.")
@click.option("--month", required=True, help="Reporting month YYYY-MM, e.g. 2024-10.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Previous-year values (branch, kpi_id, value).")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--force", is_flag=True, help="Replace existing outputs.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def consolidate(inbox: Path, fiscal_year: int, month: str, baseline: Path | None, outdir: Path,
                force: bool, as_json: bool) -> None:
    """Consolidate a month's returned workbooks into the national workbook."""
    consolidate_cli(inbox, fiscal_year=fiscal_year, month=month, baseline=baseline, outdir=outdir,
                    force=force, as_json=as_json)

# ---------------------------------------------------------------- command bodies
def generate_cli(*, fiscal_year: int, branches: tuple[str, ...], baseline: Path | None, targets: Path | None,
                 password: str | None, outdir: Path) -> None:
    """`kpisheet generate`: progress bar on a terminal, the written files on stdout."""
    from .catalogue import catalogue_for_fy
    from .fiscal import wareki_fiscal_year
    from .template import generate as generate_books, workbook_branches

    catalogue = catalogue_for_fy(fiscal_year)
    total = len(branches) or len(workbook_branches(catalogue, fiscal_year))
    if sys.stderr.isatty():
        with click.progressbar(length=total, label="ブックを作成中", file=sys.stderr) as bar:
            result = generate_books(fiscal_year, branches or None, outdir, baseline_path=baseline,
                                    targets_path=targets, password=password, progress=lambda _path: bar.update(1))
    else:
        result = generate_books(fiscal_year, branches or None, outdir, baseline_path=baseline,
                                targets_path=targets, password=password)
    if result.findings:
        click.echo(format_text(result.findings), err=True)
    for path in result.paths:
        click.echo(str(path))
    term = catalogue.term
    click.echo(f"{len(result.paths)}件のブックを作成しました（{wareki_fiscal_year(fiscal_year)}・第{term}期）"
               f" / wrote {len(result.paths)} workbook(s) for FY{fiscal_year} (term {term})", err=True)


def read_cli(path: Path, *, as_json: bool = False) -> None:
    """`kpisheet read FILE`: print the record; exit 0 when read (warnings on stderr), 1 when not."""
    from .reader import is_readable, read_workbook, submission_text

    if not Path(path).exists():
        raise click.UsageError(f"no such file: {path}")
    sub = read_workbook(path)
    if sub.findings:
        click.echo(format_text(sub.findings), err=True)
    if not is_readable(sub):
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(sub.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(submission_text(sub))


def validate_cli(paths: list[Path], *, fiscal_year: int | None = None, as_of: str | None = None,
                 as_json: bool = False) -> None:
    """`kpisheet validate`: findings grouped by file (or --json); exit 1 when there are errors."""
    from .catalogue import catalogue_for_fy
    from .fiscal import parse_month
    from .validation import validate as validate_files

    try:
        month = parse_month(as_of) if as_of is not None else None
    except ValueError:
        raise click.UsageError(f"--as-of must be YYYY-MM (e.g. 2024-10), not {as_of!r}") from None
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    if fiscal_year is not None:
        try:
            catalogue_for_fy(fiscal_year)
        except KpisheetError as exc:
            raise click.UsageError(exc.findings[0].message_en) from None
    result = validate_files(paths, fiscal_year=fiscal_year, as_of=month)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        if result.findings:
            click.echo(format_text(result.findings))
        n_err = sum(1 for f in result.findings if f.is_error)
        click.echo(f"{len(result.files)}ファイル / files: エラー {n_err}件、警告 {len(result.findings) - n_err}件")
    sys.exit(1 if result.has_errors else 0)


def consolidate_cli(inbox: Path, *, fiscal_year: int, month: str, baseline: Path | None, outdir: Path,
                    force: bool, as_json: bool) -> None:
    """Body of `kpisheet consolidate`: run, write, print.

    Exit 0 when the national workbook was written; 1 when it could not be
    (nothing readable, output not writable, existing output without --force);
    click's usage errors exit 2.  Findings in branch files do not fail the run.
    """
    from .fiscal import parse_month
    from .runtime import gc_paused

    try:
        as_of = parse_month(month)
    except ValueError:
        raise click.BadParameter(f"{month!r} は年月ではありません（例：2024-10）/ not a month (YYYY-MM)",
                                 param_hint="--month") from None
    if not Path(inbox).exists():
        raise click.BadParameter(f"{inbox} がありません / does not exist", param_hint="INBOX")
    with gc_paused():  # one pause from reading to the last output (see gc_paused)
        _consolidate_and_write(inbox, fiscal_year=fiscal_year, as_of=as_of, baseline=baseline, outdir=outdir,
                               force=force, as_json=as_json)


def _consolidate_and_write(inbox: Path, *, fiscal_year: int, as_of: date, baseline: Path | None, outdir: Path,
                           force: bool, as_json: bool) -> None:
    from .consolidation import consolidate as consolidate_inbox
    from .fileio import OutputExistsError
    from .outputs import write_outputs

    tty = sys.stderr.isatty()
    try:
        if tty:
            click.echo("読込・検証中… / reading and validating…", err=True)
        cons = consolidate_inbox(Path(inbox), fiscal_year=fiscal_year, month=as_of, baseline_path=baseline)
    except KpisheetError as exc:
        click.echo(format_text(exc.findings), err=True)
        sys.exit(1)
    if not any(s.branch_code for s in cons.submissions):
        if cons.findings:
            click.echo(format_text(cons.findings), err=True)
        click.echo(f"kpisheet: {inbox} に読み込めるブックがありません。全国集計表は作成しませんでした。\n"
                   f"No readable workbook in {inbox}; the national workbook was not written.", err=True)
        sys.exit(1)
    try:
        n_steps = 2 + sum(1 for s in cons.submissions if s.branch_code)
        if tty:
            with click.progressbar(length=n_steps, label="出力中 / writing", file=sys.stderr) as bar:
                outputs = write_outputs(cons, Path(outdir), force=force, progress=lambda _l: bar.update(1))
        else:
            outputs = write_outputs(cons, Path(outdir), force=force)
    except OutputExistsError as exc:
        click.echo(f"kpisheet: {exc.path} は既にあります。置き換えるには --force を付けてください。\n"
                   f"{exc.path} exists; use --force to replace it.", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"kpisheet: 出力を書き込めません：{exc.filename or outdir}（{exc.strerror or exc}）\n"
                   f"Cannot write the output: {exc.filename or outdir} ({exc.strerror or exc})", err=True)
        sys.exit(1)
    summary = cons.summary(outputs)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        click.echo(summary_text(summary))


def summary_text(summary: dict[str, Any]) -> str:
    """The human summary of a run (stdout of `kpisheet consolidate`)."""
    b, f = summary["branches"], summary["findings"]
    lines = [f"{summary['fiscal_year_ja']}（FY{summary['fiscal_year']}） {summary['month']} 全国集計",
             f"  提出済 {b['submitted']} / エラーあり {b['with_errors']} / 未提出 {b['missing']}"
             + (f"（{', '.join(b['missing_codes'])}）" if b["missing_codes"] else ""),
             f"  エラー {f['errors']}件 / 警告 {f['warnings']}件（詳細は全国集計表の「検証結果」シート）"]
    outs = summary["outputs"]
    if outs:
        lines.append(f"  全国集計表: {outs[0]}")
        lines.extend(f"  {p}" for p in outs[1:2])
        if len(outs) > 2:
            lines.append(f"  支部あて確認事項: {len(outs) - 2}件（{Path(outs[2]).parent}）")
    return "\n".join(lines)


def main() -> None:
    """Console entry point: no traceback ever reaches a user."""
    try:
        cli(standalone_mode=True)
    except SystemExit:
        raise
    except KpisheetError as exc:
        _fail(exc)
    except Exception as exc:  # pragma: no cover - last resort
        if os.environ.get("KPISHEET_DEBUG"):
            raise
        click.echo(f"kpisheet: 予期しないエラーが発生しました / unexpected error: {type(exc).__name__}: {exc}\n"
                   "KPISHEET_DEBUG=1 を付けて再実行すると詳細が表示されます。", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
