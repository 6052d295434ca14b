"""For the operators who run the ledger: serve it, keep its views, load it, secure it."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import uvicorn

from api.cli.progress import import_with_bar
from api.core.bootstrap import opened
from api.core.identities import Role, mint_token
from api.core.settings import Settings
from api.services.importing import BadFileError, ImportFailedError
from projections.engine.rebuild import rebuild_and_compare
from projections.storage.opening import open_views
from projections.storage.protection import create_service_role, protect_event_store
from projections.storage.schema import drop_views


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs), with the projections running beside it.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@127.0.0.1/ledger ledger serve --port 8000
    """
    settings = Settings()  # refuses to start, with the reason, before the server starts
    if settings.signing_key is None:
        raise click.ClickException("the service records decisions: it needs LEDGER_SIGNING_KEY")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="info")


@click.command()
def project() -> None:
    """Bring the views up to date with every recorded decision.

    Example: ledger project
    """
    with opened() as runtime:
        projected = runtime.projector.catch_up()
        click.echo(f"projected {projected} events; the views are at {runtime.read_side.position}")


@click.command()
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
            differences = rebuild_and_compare(
                runtime.ledger.recorder, runtime.ledger.mapper, runtime.views, scratch
            )
        finally:
            scratch.close()
        position = runtime.read_side.position
    if differences:
        for difference in differences:
            click.echo(difference, err=True)
        click.echo(f"the rebuilt views differ from the live views at position {position}")
        sys.exit(1)
    click.echo(f"the rebuilt views equal the live views at position {position}")


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Load decisions from a JSON Lines file (docs/import-format.md), with their original
    times. The whole file is checked first: bad lines are listed with their number and
    reason, and then nothing is stored. An interrupted import resumes where it stopped.

    Example: ledger import decisions.jsonl
    """
    with opened() as runtime:
        try:
            result = import_with_bar(runtime, path)
        except BadFileError as bad:
            for line in bad.bad:
                click.echo(f"line {line.number}: {line.reason}", err=True)
            raise click.ClickException(str(bad)) from None
        except ImportFailedError as failed:
            raise click.ClickException(str(failed)) from None
    click.echo(
        f"{result.imported} decisions imported, {result.already_imported} imported before; "
        f"the ledger is at position {result.position}"
    )


@click.command()
@click.option("--admin-url", required=True, help="A superuser, in the ledger's database.")
@click.option("--owner-url", required=True, help="The role that created the event tables.")
@click.option("--service-role", required=True, help="The role the service runs as.")
def protect(admin_url: str, owner_url: str, service_role: str) -> None:
    """On PostgreSQL: create the service role, make the event tables append-only for every
    role but a superuser, and create the views' schemas for the service.

    The service may read and append events, never at a position of its choosing; triggers
    refuse updates, deletes and truncation from every role, the owner included, and a
    guard refuses the owner's (or anyone's but a superuser's) changes to the tables, their
    triggers and constraints. What a superuser changes without the signing key, ledger
    verify names.

    Example: ledger protect --admin-url postgresql://postgres@/ledger
    --owner-url postgresql://ledger_owner@/ledger --service-role ledger_service
    """
    create_service_role(admin_url, service_role)
    try:
        protect_event_store(admin_url, owner_url, service_role)
    except (PermissionError, LookupError, ValueError) as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(
        f"{service_role} may read and append events; only a superuser may change or delete "
        "them, and ledger verify names what one changed without the signing key"
    )


@click.command()
@click.argument("user")
@click.argument("role", type=click.Choice([role.value for role in Role]))
@click.option("--minutes", type=int, help="How long the token is valid (default from settings).")
def token(user: str, role: str, minutes: int | None) -> None:
    """Mint a bearer token for a user acting in a role.

    Example: ledger token wang.fang caseworker
    """
    settings = Settings()
    if settings.jwt_secret is None:
        raise click.ClickException("no token signing key is configured (LEDGER_JWT_SECRET)")
    click.echo(
        mint_token(
            settings.jwt_secret.get_secret_value(),
            user,
            Role(role),
            minutes or settings.token_minutes,
        )
    )


COMMANDS = (serve, project, rebuild, import_command, protect, token)
