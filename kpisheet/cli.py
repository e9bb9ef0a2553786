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
    from .template import generate_cli

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
    from .reader import read_cli

    read_cli(file, as_json=as_json)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--fy", "fiscal_year", type=int, default=None, help="Fiscal year the files must be for.")
@click.option("--as-of", "as_of", default=None, help="Reporting month YYYY-MM; later months must be empty.")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
def validate(paths: tuple[Path, ...], fiscal_year: int | None, as_of: str | None, as_json: bool) -> None:
    """Validate returned workbooks (files or folders); exit 1 when there are errors."""
    from .validation import validate_cli

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
    from .consolidation import consolidate_cli

    consolidate_cli(inbox, fiscal_year=fiscal_year, month=month, baseline=baseline, outdir=outdir,
                    force=force, as_json=as_json)


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
