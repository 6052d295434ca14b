"""For the finance office: close a month, its payroll, the totals, the year's reconciliation,
the charts and the standards in force."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from api.cli.opening import open_ledger
from api.cli.options import (
    as_of_option,
    known_options,
    known_position,
    output_options,
    read_known,
    read_month,
    region_name,
    region_names,
    write_rows,
)
from api.cli.progress import bar
from api.cli.tables import Format, Report, total_row
from api.services.closing import close_period
from domain.cases.programmes import STANDARD_PARAMETERS, parse_programme
from domain.errors import LedgerRefusal
from domain.months import BUREAU_TIME_ZONE, Month
from projections.reads.period_accounts import Accounts, month_totals
from projections.reads.period_accounts import reconcile as reconcile_accounts
from projections.reads.standards import schedule


@click.command("close-period")
@click.argument("programme")
@click.argument("region")
@click.argument("month")
@click.option("--actor", required=True, help="Who closes it (finance office).")
def close_period_command(programme: str, region: str, month: str, actor: str) -> None:
    """Freeze what is paid for a month: compute the payroll lines and record the close.

    Example: ledger close-period dibao-urban 410611 2020-08 --actor finance-1
    """
    closing = read_month(month)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        try:
            receipt = close_period(
                runtime.ledger, runtime.views, programme, region, closing, actor=actor
            )
        except LedgerRefusal as refusal:
            raise click.ClickException(refusal.message) from None
        runtime.projector.catch_up()
        period = Accounts(runtime.views).periods(receipt.position, programme, region)[-1]
    click.echo(
        f"closed {programme} {region} {period.month}: {period.line_count} lines, "
        f"{period.month_total} for the month, {period.arrears} arrears, "
        f"{period.recoveries} to recover (position {receipt.position})"
    )


@click.command()
@click.argument("programme")
@click.argument("region")
@click.argument("month")
@known_options
@output_options
def payroll(
    programme: str,
    region: str,
    month: str,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """The payroll lines of a closed period (MONTH): case, person reference, the month's
    amount, arrears, recoveries to collect, the total to pay, and what a line held after a
    bank's return holds. A period's lines never change once closed; as known before its
    close there are none.

    Example: ledger payroll dibao-urban 410611 2020-08 --format csv --output august.csv
    """
    period = read_month(month)
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        name = region_name(runtime, region)
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        accounts = Accounts(runtime.views)
        closed = any(p.month == period for p in accounts.periods(position, programme, region))
        lines = accounts.lines(programme, region, period) if closed else []
    if not closed:
        raise click.ClickException(
            f"{programme} {region} {period} is not closed as known at position {position}"
        )
    rows = [
        (
            line.subject_id,
            holder,
            line.amount,
            line.arrears,
            line.recoveries,
            line.to_pay,
            line.held,
        )
        for line, holder in lines
    ]
    report = Report(
        ["case", "person_reference", "amount", "arrears", "recoveries", "total_to_pay", "held"],
        rows,
        position,
        title=f"Payroll of {programme} {region} {name}, {period}, as known at position {position}",
        total=total_row(rows, range(2, 7), f"total: {len(rows)} lines"),
    )
    write_rows(report, fmt, output, f"payroll-{programme}-{region}-{period}")


@click.command()
@as_of_option
@click.option("--programme", help="Only this programme.")
@click.option("--region", help="Only this region.")
@known_options
@output_options
def totals(
    as_of: str,
    programme: str | None,
    region: str | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """Entitled amount and case count per programme and region for a month, and for a closed
    month what was paid, settled since and is outstanding.

    Example: ledger totals --as-of 2020-07 --programme dibao-urban
    """
    month = read_month(as_of)
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        named = region_names(runtime)
        rows = [
            (
                t.programme,
                t.region,
                named(t.region),
                t.cases,
                t.entitled,
                t.paid,
                t.settled,
                t.outstanding,
            )
            for t in month_totals(runtime.views, month, position, programme, region)
        ]
    report = Report(
        [
            "programme",
            "region",
            "region_name",
            "cases",
            "entitled",
            "paid",
            "settled",
            "outstanding",
        ],
        rows,
        position,
        title=f"Totals of {month}, as known at position {position} (paid, settled and "
        "outstanding once a month is closed)",
        total=total_row(rows, range(3, 8)),
    )
    write_rows(report, fmt, output, f"totals-{month}")


@click.command()
@click.option("--year", type=int, help="Only this year.")
@known_options
@output_options
def reconcile(
    year: int | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """Per programme and year of closed months: entitled, paid, arrears, recoveries and
    outstanding (paid and arrears net of the bank's returns), and beside them what returns
    undid, what held lines held back and what was reissued after a return, as known now or
    at --known-at / --known-at-position.

    Example: ledger reconcile --year 2020 --format parquet --output reconciliation-2020.parquet
    """
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        accounts = Accounts(runtime.views).closed_months(position)
    rows = [
        (
            r.programme,
            r.year,
            r.entitled,
            r.paid,
            r.arrears,
            r.recoveries,
            r.outstanding,
            r.returned,
            r.held,
            r.reissued,
        )
        for r in reconcile_accounts(accounts)
        if year is None or r.year == year
    ]
    report = Report(
        [
            "programme",
            "year",
            "entitled",
            "paid",
            "arrears",
            "recoveries",
            "outstanding",
            "returned",
            "held",
            "reissued",
        ],
        rows,
        position,
        title=f"Closed months{f' of {year}' if year else ''} per programme and year, as known "
        f"at position {position}",
        total=total_row(rows, range(2, 10)),
    )
    write_rows(report, fmt, output, f"reconciliation-{year or 'all'}")


@click.command("report")
@click.option(
    "--year",
    type=click.IntRange(1900, 9999),
    required=True,
    help="The year of the monthly totals chart.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where the PNG files go (default: the current directory).",
)
@known_options
def report_command(
    year: int, output_dir: Path, known_at: str | None, known_at_position: int | None
) -> None:
    """Write two PNG charts: the monthly totals per programme in --year (paid for closed months,
    entitled for months not closed) and the roll size (open cases) per programme in every
    month that has a case.

    Example: ledger report --year 2020 --output-dir charts
    """
    # matplotlib is slow to import: only the charts pay for it.
    from api.cli.charts import months_to_read, write_charts  # noqa: PLC0415

    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        months = months_to_read(runtime.views, year, position)
        with bar("Reading the months' totals", months, "months") as advance:
            charts = write_charts(runtime.views, year, position, output_dir, advance)
    for chart in charts:
        click.echo(f"wrote {chart.path}")
    click.echo(f"as known at position {position}")


@click.command("standards")
@click.argument("programme")
@click.argument("region")
@click.option("--as-of", help="The month whose standard is in force (default: this month).")
@known_options
@output_options
def standards_command(
    programme: str,
    region: str,
    as_of: str | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """The standard in force in a month, and the history of the schedule's sets and
    corrections: who, why, from which month, recorded when and at which position.

    Example: ledger standards dibao-urban 410611 --as-of 2020-07 --known-at 2020-08-31
    """
    month = read_month(as_of) if as_of else Month.at(datetime.now(UTC))
    try:
        schedule_of = parse_programme(programme)
    except LedgerRefusal as refusal:
        raise click.BadParameter(refusal.message, param_hint="PROGRAMME") from None
    if schedule_of not in STANDARD_PARAMETERS:
        raise click.BadParameter(f"{programme} has no standards schedule", param_hint="PROGRAMME")
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        name = region_name(runtime, region)
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        found = schedule(
            runtime.ledger.recorder,
            runtime.ledger.mapper,
            runtime.views,
            schedule_of,
            region,
            month,
            position,
        )
    names = STANDARD_PARAMETERS[schedule_of]
    rows = [
        (
            change.recorded_at.astimezone(BUREAU_TIME_ZONE).strftime("%Y-%m-%d %H:%M"),
            change.position,
            change.kind,
            str(change.effective),
            *(change.parameters.get(parameter) for parameter in names),
            change.actor,
            change.reason,
        )
        for change in found.history
    ]
    report = Report(
        ["recorded", "position", "kind", "effective", *names, "actor", "reason"],
        rows,
        position,
        title=f"Standards of {programme} {region} {name}: every set and correction, as known "
        f"at position {position}",
    )
    write_rows(report, fmt, output, f"standards-{programme}-{region}")
    if found.in_force is None:
        click.echo(f"{programme} {region} {name}: no standard in force in {month}")
    else:
        parameters = ", ".join(f"{k} {v}" for k, v in found.in_force.parameters.items())
        click.echo(
            f"{programme} {region} {name}, in force in {month}: {parameters} "
            f"(from {found.in_force.effective}, recorded at position {found.in_force.position})"
        )


COMMANDS = (
    close_period_command,
    payroll,
    totals,
    reconcile,
    report_command,
    standards_command,
)
