"""Development tools, not shipped: the benchmark and the load test.

python -m scripts.dev bench --quick
python -m scripts.dev loadtest --url http://127.0.0.1:8000 --clients 8 --seconds 60
python -m scripts.dev loadtest --clients 8 --seconds 30 --replicas
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import cast

import click

from api.core.identities import CITY_WIDE_ROLES, Role, mint_token
from api.core.settings import Settings
from domain.regions import RegionCatalogue
from scripts.benchmarks import run as benchmark_runs
from scripts.benchmarks.databases import Store, postgres_available, postgres_server_url
from scripts.loadtest import run as load
from scripts.loadtest_replicas import ReplicaWatcher
from scripts.loadtest_subscriber import LoadSubscriber


@click.group()
def main() -> None:
    """Development tools: measure the ledger (bench) and load a running service (loadtest)."""


@main.command()
@click.option("--quick", is_flag=True, help="A small run that finishes in under a minute.")
@click.option("--scale", type=float, help="The decade's scale (default: 1, quick 0.003).")
@click.option(
    "--store",
    "stores",
    type=click.Choice(["sqlite", "postgresql"]),
    multiple=True,
    help="Measure only this store (repeatable; default both, PostgreSQL when reachable).",
)
@click.option(
    "--section",
    "section_names",
    type=click.Choice(benchmark_runs.SECTION_NAMES),
    multiple=True,
    help="Measure only this section, by its short name or as the table names it "
    "(repeatable; default all).",
)
@click.option("--http-seconds", type=float, help="How long each HTTP load runs.")
@click.option(
    "--clients",
    type=click.IntRange(min=1),
    help="The HTTP section's client threads (default 8, quick 4).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/bench"),
    show_default=True,
    help="Where the decisions file and the SQLite databases go.",
)
def bench(
    quick: bool,
    scale: float | None,
    stores: tuple[str, ...],
    section_names: tuple[str, ...],
    http_seconds: float | None,
    clients: int | None,
    json_path: Path | None,
    markdown_path: Path | None,
    folder: Path,
) -> None:
    """Measure the ledger beside raw sqlite3 and psycopg programs doing the same work, and
    print the ratios as a markdown table. PostgreSQL is the server of
    LEDGER_BENCH_POSTGRES_URL (default postgresql://root@127.0.0.1:5432/test), whose role
    must be allowed to create databases.

    Example: ./scripts/bench --quick --json bench.json

    Example: ./scripts/bench --section http --scale 0.02 --store sqlite --clients 4
    """
    plan = benchmark_runs.QUICK if quick else benchmark_runs.FULL
    if scale is not None:
        plan = dataclasses.replace(plan, scale=scale)
    if http_seconds is not None:
        plan = dataclasses.replace(plan, http_seconds=http_seconds)
    if clients is not None:
        plan = dataclasses.replace(plan, clients=clients)
    chosen: list[Store] = [cast(Store, s) for s in stores] or ["sqlite", "postgresql"]
    if "postgresql" in chosen and not postgres_available(postgres_server_url()):
        if stores:
            raise click.ClickException("PostgreSQL is not reachable (LEDGER_BENCH_POSTGRES_URL)")
        click.echo("PostgreSQL is not reachable: measuring SQLite only.", err=True)
        chosen.remove("postgresql")
    folder.mkdir(parents=True, exist_ok=True)
    result = benchmark_runs.run(
        plan,
        chosen,
        folder,
        lambda text: click.echo(text, err=True),
        quick=quick,
        sections=benchmark_runs.chosen_sections(section_names),
    )
    markdown = result.to_markdown()
    click.echo(markdown)
    if markdown_path is not None:
        markdown_path.write_text(markdown, encoding="utf-8")
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The service.")
@click.option("--clients", type=int, default=8, show_default=True)
@click.option("--seconds", type=float, default=60.0, show_default=True)
@click.option(
    "--subscriber",
    is_flag=True,
    help="Also run a webhook subscriber (needs `ledger deliver` beside the service) and "
    "report the events delivered per second and the delivery lag.",
)
@click.option(
    "--replicas",
    is_flag=True,
    help="Also sample each read replica's lag from /ready and report its percentiles.",
)
def loadtest(url: str, clients: int, seconds: float, subscriber: bool, replicas: bool) -> None:
    """Send mixed decisions and queries from concurrent clients to a running service, then
    print, as Markdown, the grants acknowledged beside the cases stored, the throughput and
    the latency percentiles. Tokens are signed with this environment's LEDGER_JWT_SECRET (or
    its development keys file), caseworkers' for every region of the catalogue.

    Exits 1 when a grant acknowledged is not stored exactly once or any answer was a 5xx.

    Example: ./scripts/loadtest --url http://127.0.0.1:8000 --clients 8 --seconds 60 --subscriber
    """
    settings = Settings()
    secret = settings.jwt_secret
    if secret is None:
        raise click.ClickException("no token signing key is configured (LEDGER_JWT_SECRET)")
    regions = RegionCatalogue.load(settings.region_catalogue).names

    def tokens(user: str, role: str) -> str:
        acting = Role(role)
        served = None if acting in CITY_WIDE_ROLES else regions
        return mint_token(secret.get_secret_value(), user, acting, 24 * 60, regions=served)

    listener = LoadSubscriber(url, tokens) if subscriber else None
    if listener is not None:
        listener.start()
    watcher = ReplicaWatcher(url, tokens) if replicas else None
    if watcher is not None:
        watcher.start()
    result = load(url, tokens, clients, seconds)
    if watcher is not None:
        watcher.stop()
    click.echo(result.markdown())
    if watcher is not None:
        click.echo(watcher.markdown())
    if listener is not None:
        drained = listener.drain()
        click.echo(listener.markdown(drained))
        listener.stop()
    if result.acknowledged_grants != result.stored_grants or result.tally.server_errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
