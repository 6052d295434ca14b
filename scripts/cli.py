"""The ``ledger`` command line for operators and auditors.

Settings come from the environment (LEDGER_DATABASE_URL and the rest; see the README).
"""

from __future__ import annotations

import sys

import click

from projections import audit_chain
from projections.event_store_protection import create_service_role, protect_event_store
from projections.rebuild import rebuild_and_compare
from projections.schema import drop_views
from projections.views import open_views
from scripts.runtime import opened


@click.group()
def main() -> None:
    """Social assistance ledger: operate, verify and rebuild.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@127.0.0.1/ledger ledger verify
    """


@main.command()
def project() -> None:
    """Bring the views up to date with every recorded decision.

    Example: ledger project
    """
    with opened() as runtime:
        projected = runtime.projector.catch_up()
        click.echo(f"projected {projected} events; the views are at {runtime.read_side.position}")


@main.command()
@click.option(
    "--expected-head",
    help="POSITION:HASH recorded elsewhere earlier; detects events removed from the end.",
)
def verify(expected_head: str | None) -> None:
    """Recompute the audit chain from the events and compare it with the kept chain.

    Prints the head (position:hash) to record elsewhere; exits 1 naming the first position
    that differs.

    Example: ledger verify --expected-head 1200:9f86d081884c7d65...
    """
    with opened() as runtime:
        runtime.projector.catch_up()
        expected = audit_chain.Head.parse(expected_head) if expected_head else None
        result = audit_chain.verify(runtime.ledger.recorder, runtime.views, expected)
    click.echo(f"head {result.head}")
    click.echo(result.explanation)
    if not result.ok:
        click.echo(f"first position that differs: {result.first_difference}", err=True)
        sys.exit(1)


@main.command()
@click.option("--replace", is_flag=True, help="Drop the live views and replay them from 0.")
def rebuild(replace: bool) -> None:
    """Replay every event into empty views and compare them with the live views.

    Exits 1 and lists the rows that differ. With --replace the live views themselves are
    dropped and replayed (after a difference was found, say).

    Example: ledger rebuild
    """
    with opened() as runtime:
        if replace:
            drop_views(runtime.views)
        runtime.projector.catch_up()
        scratch = open_views(runtime.ledger.env, schema="ledger_rebuild")
        try:
            differences = rebuild_and_compare(runtime.ledger, runtime.views, scratch)
        finally:
            scratch.close()
        position = runtime.read_side.position
    if differences:
        for difference in differences:
            click.echo(difference, err=True)
        click.echo(f"the rebuilt views differ from the live views at position {position}")
        sys.exit(1)
    click.echo(f"the rebuilt views equal the live views at position {position}")


@main.command()
@click.option("--admin-url", required=True, help="A role that may create roles.")
@click.option("--owner-url", required=True, help="The role that created the event tables.")
@click.option("--service-role", required=True, help="The role the service runs as.")
def protect(admin_url: str, owner_url: str, service_role: str) -> None:
    """On PostgreSQL: create the service role and make the event table append-only for it.

    Example: ledger protect --admin-url postgresql://postgres@/ledger
    --owner-url postgresql://ledger_owner@/ledger --service-role ledger_service
    """
    create_service_role(admin_url, service_role)
    protect_event_store(owner_url, service_role)
    click.echo(f"{service_role} may read and append events; nobody may change or delete them")
