"""Webhook subscriptions whose cursors were delivered from a ledger since replaced (a new
ledger, or one restored from an older backup) are stopped with the reason and the remedy
as their last error, and nothing of the other history reaches their receivers;
`ledger redeliver ... --after POSITION` makes them deliver this ledger's events. A matching
ledger and delivery database go on from where they were.

Each receiver is a real HTTP server on loopback, checking every delivery's signature; the
delivery worker sends to it with the shipped webhook transport.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.bootstrap import opened
from api.core.settings import Settings, sqlite_path
from api.services.cloudevents import encoded
from api.services.delivery import (
    WEBHOOK,
    Connections,
    DeliveryWorker,
    RetryPolicy,
    WebhookTransport,
)
from api.services.webhook_signatures import verify
from domain.application.recording import SaveAt
from projections.storage.subscriptions import ACTIVE, DEAD, Subscription
from tests.integration.replaced_ledger import (
    OnTheCommandLine,
    drop_postgres_ledger,
    grant_more,
    record_history,
    remove_sqlite_ledger,
)
from tests.support import (
    OnPostgreSQL,
    OnSQLite,
    at,
    ledger_at,
    set_reference_standards,
)

SECRET = "whsec_c2VjcmV0LW9mLXRoZS10ZXN0cw=="


def new_ledger(database_url: str) -> int:
    """A new ledger with the standards only; its last position."""
    ledger = ledger_at(database_url)
    try:
        set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
        return ledger.position
    finally:
        ledger.close()


class Receiver:
    """A webhook receiver on loopback: the bodies it was given, by ``webhook-id``, in order."""

    def __init__(self) -> None:
        received: list[tuple[int, bytes]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                message_id = verify(SECRET, dict(self.headers.items()), body)
                received.append((int(message_id), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.server.shutdown()
    receiving.server.server_close()


def announced(database_url: str) -> dict[int, bytes]:
    """What the ledger's feed announces, by position, as delivered."""
    with opened(Settings(database_url=database_url), create=False) as runtime:
        runtime.projector.catch_up()
        page = runtime.feed.read(0, 10_000)
        return {change.position: encoded(change) for change in page.changes}


def subscribe(database_url: str, url: str) -> str:
    with opened(Settings(database_url=database_url), create=False) as runtime:
        return runtime.subscriptions.create(
            WEBHOOK, url, SECRET, "auditor", "auditor", None, {}, 0
        ).id


class LookedWorker(DeliveryWorker):
    """The delivery worker, telling when it has looked at its subscriptions' cursors."""

    looked = threading.Event()

    def follows_the_ledger(self, subscription: Subscription, *, delivered_too: bool) -> bool:
        follows = super().follows_the_ledger(subscription, delivered_too=delivered_too)
        self.looked.set()
        return follows


def deliver(database_url: str, subscription_id: str) -> Subscription:
    """Run the delivery worker until the subscription is stopped, or the worker has looked at
    it and delivered it up to the views; the subscription then. Events recorded at once after a
    delivery are taken for another history's (no tolerance for clocks that differ)."""
    with opened(Settings(database_url=database_url), create=False) as runtime:
        runtime.projector.catch_up()
        views = runtime.read_side.position
        connections = Connections(5.0)
        worker = LookedWorker(
            runtime.feed,
            runtime.subscriptions,
            {WEBHOOK: WebhookTransport(connections)},
            RetryPolicy(0.05, 0.1, 3),
            poll_seconds=0.02,
            clock_tolerance_seconds=0.0,
        )
        worker.looked = threading.Event()
        stopping = threading.Event()
        running = threading.Thread(target=worker.run, args=(stopping, 0.05))
        running.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = runtime.subscriptions.get(subscription_id)
                assert found is not None
                if found.state != ACTIVE or (
                    worker.looked.is_set() and found.acknowledged >= views
                ):
                    break
                time.sleep(0.05)
        finally:
            stopping.set()
            running.join()
            connections.close()
        found = runtime.subscriptions.get(subscription_id)
        assert found is not None
        return found


def rebuild_views() -> None:
    rebuilt = CliRunner().invoke(main, ["rebuild", "--replace"])
    assert rebuilt.exit_code == 0, rebuilt.output


def redeliver(subscription_id: str, after: int) -> None:
    again = CliRunner().invoke(main, ["redeliver", subscription_id, "--after", str(after)])
    assert again.exit_code == 0, again.output
    assert f"is active; delivering after position {after}" in again.stdout


class DeliveriesFollowTheLedger(OnTheCommandLine):
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def replace_ledger(self, database_url: str) -> None:
        """Remove the ledger's events and checkpoints, and leave its views and deliveries."""
        raise NotImplementedError

    @pytest.fixture
    def delivered(self, database_url: str, receiver: Receiver) -> tuple[str, int]:
        """A subscription delivered all of a ledger's feed; its id and cursor."""
        record_history(database_url, more=3)
        old = announced(database_url)
        subscription_id = subscribe(database_url, receiver.url)
        found = deliver(database_url, subscription_id)
        assert found.state == ACTIVE
        assert dict(receiver.received) == old
        return subscription_id, found.acknowledged

    def test_a_matching_ledger_and_deliveries_go_on_after_a_restart(
        self, database_url: str, receiver: Receiver, delivered: tuple[str, int]
    ) -> None:
        subscription_id, cursor = delivered
        before = len(receiver.received)
        grant_more(database_url, 2)
        found = deliver(database_url, subscription_id)
        assert found.state == ACTIVE and found.acknowledged > cursor
        assert dict(receiver.received) == announced(database_url)
        assert len(receiver.received) == before + 2

    def test_a_cursor_past_a_new_ledgers_end_is_stopped_until_redelivered(
        self, database_url: str, receiver: Receiver, delivered: tuple[str, int]
    ) -> None:
        subscription_id, cursor = delivered
        before = len(receiver.received)
        self.replace_ledger(database_url)
        new_ledger(database_url)
        rebuild_views()
        position = grant_more(database_url, 2)
        assert position < cursor

        found = deliver(database_url, subscription_id)
        assert found.state == DEAD
        assert found.last_error is not None
        assert (
            f"subscription {subscription_id} is not delivered: its cursor is at position "
            f"{cursor}, and the ledger ends at {position}"
        ) in found.last_error
        assert f"`ledger redeliver {subscription_id} --after POSITION`" in found.last_error
        listed = CliRunner().invoke(main, ["deliveries"])
        assert listed.exit_code == 0 and f"its cursor is at position {cursor}" in listed.stdout

        # The new ledger passes the old cursor: still nothing of it as the old history's.
        assert grant_more(database_url, cursor - position + 2) > cursor
        assert deliver(database_url, subscription_id).state == DEAD
        assert len(receiver.received) == before

        redeliver(subscription_id, 0)
        found = deliver(database_url, subscription_id)
        assert found.state == ACTIVE
        new = announced(database_url)
        assert receiver.received[before:] == sorted(new.items())

    def test_a_redelivery_past_the_ledgers_end_is_refused_and_changes_nothing(
        self, database_url: str, receiver: Receiver, delivered: tuple[str, int]
    ) -> None:
        subscription_id, cursor = delivered
        before = len(receiver.received)
        self.replace_ledger(database_url)
        position = new_ledger(database_url)
        rebuild_views()
        assert position < cursor
        stopped = deliver(database_url, subscription_id)
        assert stopped.state == DEAD

        # past the end by one, at the old ledger's cursor, and by default (the cursor too)
        for asked, after in ((position + 1, ["--after", str(position + 1)]), (cursor, [])):
            refused = CliRunner().invoke(main, ["redeliver", subscription_id, *after])
            assert refused.exit_code == 1
            assert (
                f"position {asked} is past the ledger's end: the ledger is at position {position}"
            ) in refused.output
            assert "nothing was changed" in refused.output
            with opened(Settings(database_url=database_url), create=False) as runtime:
                assert runtime.subscriptions.get(subscription_id) == stopped

        redeliver(subscription_id, position)
        grant_more(database_url, 2)
        assert deliver(database_url, subscription_id).state == ACTIVE
        new = announced(database_url)
        assert receiver.received[before:] == [(p, new[p]) for p in sorted(new) if p > position]
        assert len(receiver.received) == before + 2

    def test_a_last_delivery_of_another_history_is_stopped_until_redelivered(
        self, database_url: str, receiver: Receiver, delivered: tuple[str, int]
    ) -> None:
        subscription_id, cursor = delivered
        before = len(receiver.received)
        self.replace_ledger(database_url)
        new_ledger(database_url)
        # Recorded after the deliveries, past the cursor, before any worker looks.
        position = grant_more(database_url, cursor + 2)
        rebuild_views()

        found = deliver(database_url, subscription_id)
        assert found.state == DEAD
        assert found.last_error is not None
        assert "before the ledger's event there was recorded" in found.last_error
        assert f"and the ledger ends at {position}" in found.last_error
        assert len(receiver.received) == before

        redeliver(subscription_id, position)
        assert deliver(database_url, subscription_id).state == ACTIVE
        assert len(receiver.received) == before
        grant_more(database_url, 1)
        assert deliver(database_url, subscription_id).state == ACTIVE
        new = announced(database_url)
        assert receiver.received[before:] == [(p, new[p]) for p in sorted(new) if p > position]
        assert len(receiver.received) == before + 1


class TestOnSQLite(OnSQLite, DeliveriesFollowTheLedger):
    def replace_ledger(self, database_url: str) -> None:
        remove_sqlite_ledger(database_url)

    def test_a_ledger_restored_from_an_older_backup_is_stopped_until_redelivered(
        self, database_url: str, receiver: Receiver, tmp_path: Path
    ) -> None:
        ledger_file = sqlite_path(database_url)
        first = record_history(database_url, more=1)
        backup = tmp_path / "backup.db"
        with sqlite3.connect(ledger_file) as source, sqlite3.connect(backup) as copy:
            source.backup(copy)
        grant_more(database_url, 2)
        subscription_id = subscribe(database_url, receiver.url)
        cursor = deliver(database_url, subscription_id).acknowledged
        before = len(receiver.received)
        self.replace_ledger(database_url)
        shutil.copyfile(backup, ledger_file)
        rebuild_views()

        found = deliver(database_url, subscription_id)
        assert found.state == DEAD and found.last_error is not None
        assert f"its cursor is at position {cursor}, and the ledger ends at {first}" in (
            found.last_error
        )
        redeliver(subscription_id, first)
        grant_more(database_url, 3)
        assert deliver(database_url, subscription_id).state == ACTIVE
        new = announced(database_url)
        assert receiver.received[before:] == [(p, new[p]) for p in sorted(new) if p > first]
        assert len(receiver.received) == before + 3


class TestOnPostgreSQL(OnPostgreSQL, DeliveriesFollowTheLedger):
    def replace_ledger(self, database_url: str) -> None:
        drop_postgres_ledger(database_url)
