"""For the operators who keep other systems informed: run the delivery worker, see how far
each subscription is delivered, redeliver."""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import closing
from types import FrameType

import click

from api.cli.opening import open_ledger
from api.cli.tables import echo_table
from api.services.broker import broker_transport
from api.services.dci import DCI, DciNotifyTransport
from api.services.delivery import (
    WEBHOOK,
    Connections,
    DeliveryWorker,
    RetryPolicy,
    Transport,
    WebhookTransport,
)
from projections.storage.subscriptions import CursorPastLedgerEndError


@click.command()
@click.option(
    "--project/--no-project",
    default=True,
    show_default=True,
    help="Also keep the views current (safe beside ledger serve).",
)
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 1000))
def deliver(project: bool, batch: int) -> None:
    """Deliver the change feed to every webhook subscription, and to the JetStream stream
    when LEDGER_NATS_URL is set, until stopped (SIGTERM or Ctrl-C).

    Example: LEDGER_NATS_URL=nats://127.0.0.1:4222 ledger deliver
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open_ledger(project=project) as runtime:
        settings = runtime.settings
        connections = Connections(settings.delivery_timeout_seconds)
        transports: dict[str, Transport] = {
            WEBHOOK: WebhookTransport(connections),
            DCI: DciNotifyTransport(connections),
        }
        with broker_transport(settings, runtime.subscriptions) as nats, closing(connections):
            if nats is not None:
                transports[nats.kind] = nats
            worker = DeliveryWorker(
                runtime.feed,
                runtime.subscriptions,
                transports,
                RetryPolicy(
                    settings.delivery_retry_base_seconds,
                    settings.delivery_retry_max_seconds,
                    settings.delivery_max_attempts,
                ),
                batch=batch,
            )
            click.echo(f"delivering as {worker.name} ({', '.join(transports)})")
            worker.run(stopping)


@click.command()
@click.argument("subscription_id", required=False)
@click.option("--after", default=0, show_default=True, type=int, help="Attempts after this.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def deliveries(subscription_id: str | None, after: int, limit: int) -> None:
    """List the subscriptions and how far each is delivered; with SUBSCRIPTION_ID, its
    delivery attempts (delivered, failed, dead-lettered).

    Example: ledger deliveries 3f2a... --after 1200
    """
    with open_ledger() as runtime:
        store = runtime.subscriptions
        if subscription_id is None:
            views = runtime.read_side.position
            rows = [
                (
                    s.id,
                    s.kind,
                    s.target,
                    s.state,
                    s.acknowledged,
                    views - s.acknowledged,
                    s.attempts,
                    s.dead_position,
                    s.last_error,
                )
                for s in store.all(("webhook", "dci", "nats"))
            ]
            echo_table(
                (
                    "id",
                    "kind",
                    "target",
                    "state",
                    "delivered",
                    "behind",
                    "failures",
                    "dead at",
                    "last error",
                ),
                rows,
            )
            return
        if store.get(subscription_id) is None:
            raise click.ClickException(f"no subscription {subscription_id}")
        attempts = store.attempts(subscription_id, after, limit)
        echo_table(
            ("position", "attempt", "outcome", "status", "error", "ms"),
            [
                (
                    a.position,
                    a.attempt,
                    a.outcome,
                    a.status,
                    a.error,
                    None if a.latency_us is None else round(a.latency_us / 1000),
                )
                for a in attempts
            ],
        )


@click.command()
@click.argument("subscription_id")
@click.option(
    "--after",
    type=click.IntRange(min=0),
    help="Deliver again after this position, at most the ledger's (default: the dead letter).",
)
def redeliver(subscription_id: str, after: int | None) -> None:
    """Deliver again from a position, making a dead-lettered subscription active again.

    Example: ledger redeliver 3f2a... --after 1200
    """
    with open_ledger() as runtime:
        try:
            again = runtime.subscriptions.redeliver(subscription_id, after, runtime.ledger.position)
        except CursorPastLedgerEndError as error:
            raise click.ClickException(f"{error}; nothing was changed") from error
        if again is None:
            raise click.ClickException(f"no subscription {subscription_id}")
        click.echo(f"{again.id} is {again.state}; delivering after position {again.acknowledged}")


COMMANDS = (deliver, deliveries, redeliver)
