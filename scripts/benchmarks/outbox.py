"""What announcing decisions costs a decision: the same grants recorded one by one while
the delivery worker delivers every event to webhook subscribers, beside the same grants on
a ledger with no subscription; in the same run, taking turns, the best round of each
counting.

The outbox is the event log read through the change feed, with a cursor per subscription
(``projections.storage.subscriptions``), so a decision writes nothing more for it; what it
can cost a decision is the worker's share of the machine while both run: its feed reads,
its HTTP posts and its cursor's commits. Both ledgers keep their views current with a
poller, as the service does. The worker runs here as a thread of the process that records,
so it competes for the interpreter too; ``ledger deliver`` is a process of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services.delivery import (
    WEBHOOK,
    Connections,
    DeliveryWorker,
    RetryPolicy,
    WebhookTransport,
)
from api.services.webhook_signatures import new_secret
from domain.application.ledger import Ledger
from domain.months import Month
from scripts.benchmarks.databases import BenchDatabase
from scripts.benchmarks.figures import Comparison, seconds_of
from scripts.benchmarks.workload import GrantRequest, Grants, set_standards

ROUNDS = 3
SUBSCRIBERS = 2


class Receiver:
    """A webhook receiver on loopback (HTTP/1.1, so connections are kept alive) that
    answers 204 and counts what it was given."""

    def __init__(self) -> None:
        self.received = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    receiver.received += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def delivering(runtime: Runtime, receiver: Receiver) -> Iterator[None]:
    """The delivery worker serving ``SUBSCRIBERS`` webhook subscriptions to ``receiver``,
    each from the first position, until the block ends."""
    for _ in range(SUBSCRIBERS):
        runtime.subscriptions.create(
            WEBHOOK, receiver.url, new_secret(), "bench", "auditor", None, {}, 0
        )
    connections = Connections(timeout_seconds=5)
    worker = DeliveryWorker(
        runtime.feed,
        runtime.subscriptions,
        {WEBHOOK: WebhookTransport(connections)},
        RetryPolicy(),
        poll_seconds=0.05,
    )
    stopping = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stopping, 0.2), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join()
        connections.close()


def decisions(
    delivered_db: BenchDatabase,
    plain_db: BenchDatabase,
    count: int,
    effective: Month,
    rounds: int = ROUNDS,
) -> list[Comparison]:
    ours, theirs = [], []
    with (
        Receiver() as receiver,
        opened(Settings(database_url=delivered_db.ledger_url), project=True) as announced,
        opened(Settings(database_url=plain_db.ledger_url), project=True) as plain,
    ):
        set_standards(announced.ledger)
        set_standards(plain.ledger)
        with delivering(announced, receiver):
            for round_number in range(rounds):
                requests = Grants(effective, count * round_number).take(count)
                ours.append(seconds_of(_record_all, requests, announced.ledger))
                theirs.append(seconds_of(_record_all, requests, plain.ledger))
            received = receiver.received
    return [
        Comparison(
            "outbox",
            delivered_db.store,
            f"{count} grants, one save each, while {SUBSCRIBERS} webhook subscribers are "
            "delivered every event",
            "grants/s",
            count / min(ours),
            "the same grants, no subscription",
            count / min(theirs),
            note=(
                f"delivering costs a grant {1000 * (min(ours) - min(theirs)) / count:.3f} ms "
                f"({min(ours) / min(theirs) - 1:+.0%}); {received} deliveries made during "
                "the rounds"
            ),
        )
    ]


def _record_all(requests: Sequence[GrantRequest], ledger: Ledger) -> None:
    for request in requests:
        request.record(ledger)
