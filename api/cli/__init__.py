"""The ``ledger`` command line, one module per audience: ``operate`` (serve, keep the views,
import, secure), ``audit`` (verify), ``finance`` (close months, payroll, totals,
reconciliation, charts), ``reading`` (rolls and entitlements, for caseworkers and viewers),
``province`` (the province over its cities) and ``demo``. What the reporting commands share
is in ``options``; tables and files in ``tables``, charts in ``charts``, progress bars in
``progress``.

Settings come from the environment (LEDGER_DATABASE_URL and the rest; see the README).
"""

from __future__ import annotations

import click
from pydantic import ValidationError

from api.cli import (
    approvals,
    audit,
    delivery,
    demo,
    finance,
    households,
    operate,
    payments,
    province,
    reading,
)
from api.core.settings import Settings
from projections.storage.keys import NoSigningKeyError
from projections.storage.signing import UnverifiedEventError


class LedgerCommands(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ValidationError as error:
            if error.title != Settings.__name__:
                raise
            # Said in one line, without the values: the database URL may hold a password.
            reasons = "; ".join(_reason(e["loc"], str(e["msg"])) for e in error.errors())
            raise click.ClickException(f"the settings are not usable: {reasons}") from None
        except UnverifiedEventError as error:
            hint = "ledger verify names what was changed"
            if error.reason == "it is not signed":
                hint += (
                    "; a ledger stored before events were signed is adopted once with "
                    "ledger adopt-signing --expected-head POSITION:HASH"
                )
            raise click.ClickException(f"{error}; {hint}") from None
        except NoSigningKeyError as error:
            raise click.ClickException(str(error)) from None


def _reason(location: tuple[int | str, ...], message: str) -> str:
    """The setting's variable and what is wrong with it (never its value)."""
    reason = message.removeprefix("Value error, ")
    return f"LEDGER_{str(location[0]).upper()}: {reason}" if location else reason


@click.group(cls=LedgerCommands)
@click.version_option(package_name="social-assistance-ledger", prog_name="ledger")
def main() -> None:
    """Social assistance ledger: operate, verify and rebuild.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@127.0.0.1/ledger ledger verify
    """


for audience in (
    operate,
    delivery,
    audit,
    finance,
    payments,
    reading,
    households,
    approvals,
    province,
    demo,
):
    for command in audience.COMMANDS:
        main.add_command(command)

__all__ = ["main"]
