"""``ledger demo``: a decade of a city loaded into the ledger, with progress bars."""

from __future__ import annotations

import sys

import click

from api.cli.opening import open_ledger
from api.cli.progress import bar, refused_file
from api.cli.tables import echo_table
from api.demo.decade import LedgerInUseError, run, summary_rows
from api.demo.generator import FIRST, LAST
from api.services.importing import BadFileError, ImportFailedError


@click.command()
@click.option("--scale", type=float, default=1.0, show_default=True, help="1 is the city.")
@click.option("--seed", type=int, default=1, show_default=True)
def demo(scale: float, seed: int) -> None:
    """Load a decade of a city's assistance (2012-10 to 2022-09) into the ledger, build the
    projections, verify everything and print the decade's totals beside the published
    figures. Running it again reuses what is loaded.

    Example: ledger demo --scale 0.1
    """
    if scale <= 0:
        raise click.BadParameter("the scale is more than 0", param_hint="--scale")
    with open_ledger(create=True) as runtime:
        try:
            result = run(runtime, seed, scale, click.echo, bar)
        except LedgerInUseError as refused:
            raise click.ClickException(str(refused)) from None
        except BadFileError as bad:
            raise refused_file(bad) from None
        except ImportFailedError as failed:
            raise click.ClickException(str(failed)) from None
        click.echo(
            f"\nThe decade {FIRST} to {LAST}, paid and settled, beside the published figures:"
        )
        echo_table(["", "this ledger", "published", "ratio"], summary_rows(result, scale))
    click.echo(
        f"\n{result.events:,} events, verified: {'yes' if result.verified else 'NO'}; "
        f"took {result.seconds:.0f} s. Next: `ledger serve` (then /docs), "
        "`ledger report --year 2020`, `ledger reconcile --year 2020` (from a checkout: "
        "`./scripts/ledger serve` and so on)."
    )
    if not result.verified:
        sys.exit(1)


COMMANDS = (demo,)
