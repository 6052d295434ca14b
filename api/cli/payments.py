"""For the finance office and caseworkers: a case's payee, a closed period's payment file
for the bank, and the bank's returns."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import click

from api.cli.opening import open_ledger
from api.cli.options import known_options, known_position, read_known, read_month
from api.services.bank_returns import record_returns, returns_from_csv, returns_from_pain_002
from api.services.payment_files import pain_001, payment_file, payment_id, payments_csv
from domain.application.recording import SaveNow
from domain.cases.payee import PayeeInput
from domain.errors import LedgerRefusal


@click.command("change-payee")
@click.argument("case_id", type=click.UUID)
@click.option("--account", required=True, help="The bank card number (16 to 19 digits).")
@click.option(
    "--recipient", help="Identity number of the household member paid (default: the first)."
)
@click.option("--actor", required=True, help="Who decides (caseworker).")
@click.option("--reason", required=True, help="Why the payee changes.")
def change_payee(
    case_id: UUID, account: str, recipient: str | None, actor: str, reason: str
) -> None:
    """Record who is paid, and into which bank card, from now on. A case held after a
    bank's return is paid again at the next close.

    Example: ledger change-payee 0b6f9c1e-... --account 6217000011000000001 --actor cw-1
    --reason "new account after the return of 2020-05"
    """
    with open_ledger() as runtime:
        try:
            receipt = runtime.ledger.change_payee(
                case_id, PayeeInput(account, recipient), actor=actor, reason=reason
            )
        except LedgerRefusal as refusal:
            raise click.ClickException(refusal.message) from None
    click.echo(f"payee of case {case_id} recorded (position {receipt.position})")


@click.command("payment-file")
@click.argument("programme")
@click.argument("region")
@click.argument("month")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xml", "csv"]),
    default="xml",
    show_default=True,
    help="ISO 20022 pain.001.001.09, or CSV.",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@known_options
def payment_file_command(
    programme: str,
    region: str,
    month: str,
    fmt: str,
    output: Path,
    known_at: str | None,
    known_at_position: int | None,
) -> None:
    """Write a closed period's payment file for the bank: one transfer per line that pays
    something, to its case's payee, with the count and control sum.

    Example: ledger payment-file dibao-urban 410611 2020-08 --output 2020-08.xml
    """
    period = read_month(month)
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        try:
            file = payment_file(runtime.ledger, runtime.views, programme, region, period, position)
        except LedgerRefusal as refusal:
            raise click.ClickException(refusal.message) from None
        if fmt == "xml":
            output.write_bytes(pain_001(file, runtime.settings))
        else:
            output.write_text(payments_csv(file), encoding="utf-8")
    click.echo(
        f"{output}: {file.count} transfers, control sum {file.control_sum:.2f} "
        f"({file.message_id}, as known at position {position})"
    )


@click.command("import-returns")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", required=True, help="Who imports them (finance office).")
def import_returns(file: Path, actor: str) -> None:
    """Import the bank's returns: a pain.002 status report (.xml) or a CSV of returns
    (end_to_end_id, bank_reference, reason). Taken whole or not at all; returns recorded
    before are passed over, so importing the same file again changes nothing.

    Example: ledger import-returns returns-2020-08.xml --actor finance-1
    """
    data = file.read_bytes()
    try:
        if data.lstrip().startswith(b"<"):
            given = returns_from_pain_002(data)
        else:
            given = returns_from_csv(data.decode("utf-8-sig"))
    except LedgerRefusal as refusal:
        raise click.ClickException(f"{file}: {refusal.message}") from None
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        ledger = runtime.ledger
        try:
            done = record_returns(ledger, runtime.views, given, actor=actor, uow=SaveNow(ledger))
        except LedgerRefusal as refusal:
            where = f" ({refusal.field})" if refusal.field else ""
            raise click.ClickException(f"{file}{where}: {refusal.message}") from None
        runtime.projector.catch_up()
    for one in done.recorded:
        click.echo(f"returned: {payment_id(one.period, one.case_id)} {one.reason} {one.amount}")
    click.echo(
        f"{len(done.recorded)} returns recorded, {done.already} recorded before "
        f"(position {done.position})"
    )


COMMANDS = (change_payee, payment_file_command, import_returns)
