"""What the reporting commands share: the month, what is known, and where the rows go.

A bad value is a usage error naming its option, said before the database is opened where it
can be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from api.cli.tables import FORMATS, Format, Report, format_for, report
from api.core.bootstrap import Runtime
from domain.errors import LedgerRefusal
from domain.months import Month
from projections.reads.known_at import KnownAt, KnownAtError

Command = TypeVar("Command", bound=Callable[..., None])

as_of_option = click.option("--as-of", required=True, help="The month, YYYY-MM.")


def known_options(command: Command) -> Command:
    """--known-at and --known-at-position, for every command that reads the views."""
    command = click.option(
        "--known-at-position", type=int, help="As known at this ledger position."
    )(command)
    return click.option(
        "--known-at", help="As known at this date (end of day, Asia/Shanghai) or timestamp."
    )(command)


def output_options(command: Command) -> Command:
    """--format and --output, for every command that reports rows."""
    command = click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The file a csv or parquet report is written to; its extension (.csv, .parquet) "
        "chooses the format when --format is not given (default: a name the command prints, "
        "in the current directory).",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        help="Print an aligned table (the default without --output), or write CSV or Parquet "
        "(money as decimal(18,2)); a file holds the position it was drawn at (CSV: the "
        "known_at_position column; Parquet: the ledger_position metadata key).",
    )(command)


def read_month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def region_name(runtime: Runtime, region: str) -> str:
    """The catalogue's name of REGION; a usage error when the catalogue has no such code."""
    try:
        return runtime.ledger.regions.names[runtime.ledger.regions.check(region)]
    except LedgerRefusal as refusal:
        raise click.BadParameter(refusal.message, param_hint="REGION") from None


def region_names(runtime: Runtime) -> Callable[[str], str]:
    """The name of a region code, for a table's region name column (blank if unknown)."""
    names = dict(runtime.ledger.regions.names)
    return lambda code: names.get(code, "")


def read_known(known_at: str | None, known_at_position: int | None) -> KnownAt:
    """What --known-at or --known-at-position ask for (see projections/reads/known_at.py)."""
    try:
        return KnownAt.parse(known_at, known_at_position)
    except KnownAtError as error:
        raise _bad_option(error) from None


def known_position(runtime: Runtime, known: KnownAt) -> int:
    """The position a report reads at, once the views have caught up."""
    try:
        return known.position_in(runtime.read_side, lambda: runtime.ledger.position)
    except KnownAtError as error:
        raise _bad_option(error) from None


def _bad_option(error: KnownAtError) -> click.BadParameter:
    option = f"--{error.parameter.replace('_', '-')}" if error.parameter else None
    return click.BadParameter(error.reason, param_hint=option)


def write_rows(rows: Report, fmt: Format | None, output: Path | None, default_stem: str) -> None:
    """Print the rows as a table, or write them to --output (or ``default_stem``.csv, say)."""
    chosen = format_for(fmt, output)
    if chosen == "table":
        if output is not None:
            raise click.UsageError("--output needs --format csv or parquet")
        report(rows, chosen)
        return
    path = output if output is not None else Path(f"{default_stem}.{chosen}")
    report(rows, chosen, path)
    click.echo(f"wrote {len(rows.rows)} rows to {path}, as known at position {rows.position}")
