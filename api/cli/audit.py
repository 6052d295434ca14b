"""For auditors: verify that nothing recorded or paid was changed afterwards."""

from __future__ import annotations

import sys

import click

from api.cli.opening import open_ledger
from api.cli.progress import bar
from api.services.verification import verify as verify_ledger
from projections.reads import audit_chain


def _head(_: click.Context, __: click.Parameter, text: str | None) -> audit_chain.Head | None:
    if text is None:
        return None
    try:
        return audit_chain.Head.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@click.option(
    "--expected-head",
    callback=_head,
    help="POSITION:HASH recorded elsewhere earlier; detects events removed from the end.",
)
def verify(expected_head: audit_chain.Head | None) -> None:
    """Recompute the audit chain from the events, every closed period's lines from its
    position, and the balance of every closed month.

    Prints the head (position:hash) to record elsewhere; exits 1 naming the first position
    that differs, a period whose digest differs, or a month that does not balance.

    Example: ledger verify --expected-head 1200:9f86d081884c7d65...
    """
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = runtime.read_side.position
        with bar("Recomputing the audit chain", runtime.ledger.position, "events") as advance:
            result = verify_ledger(
                runtime.ledger, runtime.views, position, expected_head, progress=advance
            )
    click.echo(f"head {result.chain.head}")
    click.echo(result.chain.explanation)
    for period in result.wrong_digests:
        click.echo(
            f"period {period.programme} {period.region} {period.month}: its lines recomputed "
            f"at position {period.position} do not match the recorded digest",
            err=True,
        )
    for account in result.unbalanced:
        click.echo(
            f"{account.programme} {account.region} {account.month}: entitled "
            f"{account.entitled} != paid {account.paid} + settled {account.settled} + "
            f"outstanding {account.outstanding}",
            err=True,
        )
    periods, months = len(result.periods), len(result.months)
    click.echo(
        f"{periods - len(result.wrong_digests)} of {periods} closed periods match their "
        f"digest; {months - len(result.unbalanced)} of {months} closed months balance"
    )
    if not result.chain.ok:
        click.echo(f"first position that differs: {result.chain.first_difference}", err=True)
    if not result.ok:
        sys.exit(1)


COMMANDS = (verify,)
