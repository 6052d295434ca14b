"""For the operators who run the ledger: serve it, keep its views, load it, secure it."""

from __future__ import annotations

import copy
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import click
import psycopg
import uvicorn
import uvicorn.config

from api.cli.opening import (
    announce,
    check_database,
    database_error,
    open_ledger,
    postgres_url,
)
from api.cli.progress import bar, catch_up_with_bar, import_with_bar, refused_file
from api.cli.tables import echo_table
from api.core.identities import CITY_WIDE_ROLES, Role, mint_token
from api.core.replay_source import LedgerReplaySource
from api.core.settings import Settings, is_loopback
from api.services.importing import BadFileError, ImportFailedError
from domain.errors import UnknownRegionError
from domain.regions import RegionCatalogue
from projections.engine.projector import DEFAULT_BATCH_SIZE
from projections.engine.rebuild import rebuild_and_compare
from projections.engine.workers import (
    ProjectionWorker,
    WorkersNeedPostgresError,
    projected_by_workers,
)
from projections.storage.claims import Claims
from projections.storage.database import PostgresViews
from projections.storage.opening import open_views, postgres_conninfo
from projections.storage.protection import create_service_role, protect_event_store
from projections.storage.schema import drop_views
from projections.storage.signing import UnverifiedEventError

REBUILD_SCHEMA = "ledger_rebuild"  # the scratch views a rebuild replays into


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs), with the projections running beside it.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@127.0.0.1/ledger ledger serve --port 8000
    """
    settings = Settings()  # refuses to start, with the reason, before the server starts
    if settings.environment == "development" and not is_loopback(host):
        raise click.BadParameter(
            f"{host} is not a loopback address: in development the service listens on this "
            "machine only (127.0.0.1); set LEDGER_ENVIRONMENT=production and its keys to serve "
            "others",
            param_hint="--host",
        )
    if settings.signing_key is None:
        raise click.ClickException("the service records decisions: it needs LEDGER_SIGNING_KEY")
    announce(settings)
    check_database(settings)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # the service writes its own: request id, user, route, duration
        log_config=log_config(),
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging, and the service's own loggers on stderr: ``ledger.access`` (a line
    per request, never a query string or body) at INFO, everything else from WARNING."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["ledger"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["ledger"] = {
        "class": "logging.StreamHandler",
        "formatter": "ledger",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["ledger"] = {"handlers": ["ledger"], "level": "INFO", "propagate": False}
    config["root"] = {"handlers": ["ledger"], "level": "WARNING"}
    return config


@click.command("settings")
def settings_command() -> None:
    """Show the settings in effect, from the environment or their defaults; keys are never
    shown, nor the database's password.

    Example: LEDGER_ENVIRONMENT=production ledger settings
    """
    settings = Settings()
    echo_table(["variable", "value", "from"], settings.shown())


@click.command()
def project() -> None:
    """Bring the views up to date with every recorded decision.

    Example: ledger project
    """
    with open_ledger() as runtime:
        projector = runtime.projector  # creates the views where there are none yet
        if projected_by_workers(projector.views):
            raise click.ClickException(
                "projection workers keep these views (ledger project-worker): they project "
                "every event; start another worker to add hands"
            )
        projected = catch_up_with_bar(runtime, "Projecting events")
        click.echo(f"projected {projected} events; the views are at {runtime.read_side.position}")


@click.command("project-worker")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Events of a unit projected in one transaction.",
)
def project_worker(batch_size: int) -> None:
    """Keep the views as one of several projection workers, until stopped (SIGTERM, Ctrl-C).
    PostgreSQL only.

    Start as many as wanted, on this host or others: each claims its fair share of the
    (programme, region) partitions and the serial unit (positions, audit chain) through
    PostgreSQL advisory locks, takes over those of a worker that died and gives some up to
    one that joins. Each claim and release is printed. Once workers have run, the service
    follows their views instead of projecting, and ledger project refuses.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@db/ledger ledger project-worker
    """
    with open_ledger() as runtime:
        views = runtime.views
        if not isinstance(views, PostgresViews):
            raise click.ClickException(str(WorkersNeedPostgresError()))
        name = f"{socket.gethostname()}:{os.getpid()}"
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        claims = Claims(postgres_conninfo(runtime.ledger.env), views.schema, name)
        worker = ProjectionWorker(
            runtime.ledger.recorder,
            runtime.ledger.mapper,
            views,
            claims,
            batch_size,
            told=lambda line: click.echo(f"{name} {line}"),
        )
        click.echo(f"{name} joined, {claims.live_workers()} workers live")
        try:
            worker.run(stopping)
        except UnverifiedEventError as refusal:
            raise click.ClickException(
                f"the views stop before an event that does not verify: {refusal}"
            ) from None
    click.echo(f"{name} stopped")


@click.command()
@click.option("--replace", is_flag=True, help="Drop the live views and replay them from 0.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes replaying the (programme, region) partitions side by side.",
)
def rebuild(replace: bool, workers: int) -> None:
    """Replay every event into empty views and compare them with the live views.

    Exits 1 and lists the rows that differ. With --replace the live views themselves are
    dropped and replayed (after a difference was found, say, or when they were built from
    another ledger, which every other command refuses). With --workers N, N processes
    replay the partitions, a share each, into the same rows.

    Example: ledger rebuild --workers 2
    """
    with open_ledger(replacing_views=replace) as runtime:
        if replace:
            drop_views(runtime.views)
        catch_up_with_bar(runtime, "Projecting the live views")
        position = runtime.read_side.position
        scratch = open_views(runtime.ledger.env, schema=REBUILD_SCHEMA)
        try:
            with bar("Replaying every event", position, "events") as advance:
                differences = rebuild_and_compare(
                    runtime.ledger.recorder,
                    runtime.ledger.mapper,
                    runtime.views,
                    scratch,
                    progress=advance,
                    workers=workers,
                    source=LedgerReplaySource.of(runtime.ledger, REBUILD_SCHEMA),
                )
        finally:
            scratch.close()
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
    with open_ledger(create=True) as runtime:
        try:
            result = import_with_bar(runtime, path)
        except BadFileError as bad:
            raise refused_file(bad) from None
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
    admin = postgres_url("--admin-url", admin_url)
    owner = postgres_url("--owner-url", owner_url)
    try:
        create_service_role(admin_url, service_role)
        protect_event_store(admin_url, owner_url, service_role)
    except psycopg.Error as error:
        raise database_error("--admin-url", admin_url, admin, error) from None
    except (PermissionError, LookupError, ValueError) as refused:
        raise click.ClickException(str(refused)) from None
    del owner  # checked above: a usable PostgreSQL URL
    click.echo(
        f"{service_role} may read and append events; only a superuser may change or delete "
        "them, and ledger verify names what one changed without the signing key"
    )


@click.command()
@click.argument("user")
@click.argument("role", type=click.Choice([role.value for role in Role]))
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="A region the user serves (repeatable); caseworkers, approvers and viewers need one, "
    "auditors and finance without it serve the whole city.",
)
@click.option("--minutes", type=int, help="How long the token is valid (default from settings).")
def token(user: str, role: str, regions: tuple[str, ...], minutes: int | None) -> None:
    """Mint a bearer token for a user acting in a role, in the regions they serve.

    Example: ledger token wang.fang caseworker --region 410611
    """
    settings = Settings()
    settings.announce()
    settings.keep_development_keys()
    if settings.jwt_secret is None:
        raise click.ClickException("no token signing key is configured (LEDGER_JWT_SECRET)")
    acting = Role(role)
    if not regions and acting not in CITY_WIDE_ROLES:
        raise click.BadParameter(f"a {role} serves named regions: give them", param_hint="--region")
    catalogue = RegionCatalogue.load(settings.region_catalogue)
    for region in regions:
        try:
            catalogue.check(region)
        except UnknownRegionError as error:
            raise click.BadParameter(error.message, param_hint="--region") from None
    click.echo(
        mint_token(
            settings.jwt_secret.get_secret_value(),
            user,
            acting,
            minutes or settings.token_minutes,
            regions=regions or None,
        )
    )


COMMANDS = (
    serve,
    project,
    project_worker,
    rebuild,
    import_command,
    protect,
    token,
    settings_command,
)
