"""For caseworkers and viewers: who is on a roll, what a person is entitled to, and a case's
account."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

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
from api.cli.tables import Format, Report, total_row
from domain.errors import LedgerRefusal
from domain.months import Month
from domain.people.identity import IdentityNumber
from projections.reads.period_accounts import case_account


@click.command()
@click.argument("programme")
@click.argument("region")
@as_of_option
@known_options
@output_options
def roll(
    programme: str,
    region: str,
    as_of: str,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """The open cases of a programme in a region for a month, with their amounts.

    Example: ledger roll dibao-urban 410611 --as-of 2019-08 --known-at 2019-08-31
    """
    month = read_month(as_of)
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        name = region_name(runtime, region)
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        entries = runtime.read_side.roll(programme, region, month, position)
    rows = [(e.subject_id, e.amount, e.status) for e in entries]
    report = Report(
        ["case", "amount", "status"],
        rows,
        position,
        title=f"{programme} {region} {name}, {month}: open cases as known at position {position}",
        total=total_row(rows, [1], f"total: {len(rows)} cases"),
    )
    write_rows(report, fmt, output, f"roll-{programme}-{region}-{month}")


@click.command()
@click.argument("identity_number")
@as_of_option
@known_options
@output_options
def entitlements(
    identity_number: str,
    as_of: str,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """What a person is entitled to across programmes in a month. The person is looked up by
    the keyed reference of their identity number; the number itself is never printed.

    Example: ledger entitlements 410611198001010716 --as-of 2020-07 --known-at 2020-07-31
    """
    month = read_month(as_of)
    try:
        number = IdentityNumber.parse(identity_number)
    except LedgerRefusal as refusal:
        raise click.BadParameter(refusal.message, param_hint="IDENTITY_NUMBER") from None
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        reference = runtime.ledger.references.reference(number)
        found = runtime.read_side.entitlements(reference, month, position)
        named = region_names(runtime)
    rows = [
        (e.subject_id, e.programme, e.region, named(e.region), e.amount, e.status) for e in found
    ]
    report = Report(
        ["case", "programme", "region", "region_name", "amount", "status"],
        rows,
        position,
        title=f"Entitlements in {month}, as known at position {position}",
        total=total_row(rows, [4], f"total: {len(rows)} entitlements"),
    )
    write_rows(report, fmt, output, f"entitlements-{month}")


@click.command()
@click.argument("case")
@click.option("--as-of", help="The last month to list, YYYY-MM (default: this month).")
@known_options
@output_options
def account(
    case: str,
    as_of: str | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """A case's account, month by month up to --as-of: entitled, and once the month is closed
    what was paid, settled since as arrears or listed as recoveries, and what is outstanding
    (entitled - paid - settled).

    Example: ledger account 0b9e7f7c5d3a4e1f9a8b7c6d5e4f3a2b --as-of 2020-12 --known-at 2020-08-31
    """
    try:
        case_id = UUID(case)
    except ValueError:
        raise click.BadParameter("a case id: 32 hexadecimal digits", param_hint="CASE") from None
    month = read_month(as_of) if as_of else Month.at(datetime.now(UTC))
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        found = case_account(runtime.views, case_id.hex, position, month)
        named = region_names(runtime)
    if found is None:
        raise click.ClickException(f"no case {case_id.hex} was known at position {position}")
    rows = [
        (
            str(m.month),
            m.status,
            m.entitled,
            m.paid,
            m.arrears,
            m.recoveries,
            m.outstanding,
        )
        for m in found.months
    ]
    report = Report(
        ["month", "status", "entitled", "paid", "arrears", "recoveries", "outstanding"],
        rows,
        position,
        title=f"Case {case_id.hex}: {found.programme} {found.region} {named(found.region)}, "
        f"through {month}, as known at position {position}",
        total=total_row(rows, range(2, 7)),
    )
    write_rows(report, fmt, output, f"account-{case_id.hex}-{month}")


COMMANDS = (roll, entitlements, account)
