"""Delivers the change feed to each subscription: webhooks (Standard Webhooks, signed) and
the broker stream, at least once, in order per subscription, each on its own thread.

Each subscription has a cursor (``projections.storage.subscriptions``): the worker reads the
feed after it, sends one event at a time on the subscription's kept-alive connection, and
moves the cursor past an event only once the receiver acknowledged it (a 2xx, or the
broker's ack), a run of them in one transaction. A worker killed before the cursor moved
sends that run again on restart: at least once, with the position as ``webhook-id`` so that
a receiver deduplicating by it sees each event once. A failure waits before the next attempt
(exponential, with jitter) and after ``max_attempts`` failures in a row the event is
dead-lettered: the subscription stops there, in order, until someone redelivers.

A cursor is a position in the ledger it was delivered from. The ledger may be replaced
beside the delivery database (a new ledger, or one restored from an older backup): a cursor
ahead of its end would then deliver nothing new until the ledger passed it, and then events
of another history as if they went on from the old one. So a subscription whose cursor is
past the ledger's end (checked before each page), or whose last delivery is of a position
whose event this ledger recorded after that delivery (checked when a thread takes the
subscription up), is stopped, dead as after a dead letter, with the reason as its last error
and the remedy: ``ledger redeliver`` from a position of this ledger.

A slow or dead receiver holds only its own thread; decisions never wait for any of this.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx2
from eventsourcing.persistence import Notification

from api.core.identities import Role
from api.services.cloudevents import CONTENT_TYPE, encoded, feed_filter
from api.services.webhook_signatures import signed_headers
from projections.reads.feed import Change, ChangeFeed
from projections.storage.subscriptions import (
    ACTIVE,
    Attempt,
    Subscription,
    SubscriptionStore,
    now_us,
)

log = logging.getLogger(__name__)

WEBHOOK = "webhook"
# How much later than its delivery an event's own time may be, for clocks of the hosts that
# record and deliver that differ a little, before the event is taken for another history's.
CLOCK_TOLERANCE_SECONDS = 5.0


class DeliveryFailedError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Transport(Protocol):
    def send(self, subscription: Subscription, change: Change, body: bytes) -> int | None:
        """Deliver one event; the receiver's status, or raise ``DeliveryFailedError``."""


ANSWER_READ_BYTES = 64 * 1024  # of a receiver's answer; a longer one closes the connection


class Connections:
    """One kept-alive HTTP connection per subscription (an ``httpx2`` client each), so
    that a subscription's events follow one another without a new connection each; no
    proxy from the environment, no redirect followed (a redirect is an answer that is not
    2xx: a failure)."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._clients: dict[str, httpx2.Client] = {}
        self._lock = threading.Lock()

    def _client(self, subscription_id: str) -> httpx2.Client:
        with self._lock:
            client = self._clients.get(subscription_id)
            if client is None:
                client = httpx2.Client(
                    timeout=self.timeout_seconds,
                    follow_redirects=False,
                    trust_env=False,
                    limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
                )
                self._clients[subscription_id] = client
        return client

    def post(self, subscription_id: str, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body``; the receiver's 2xx status, or raise ``DeliveryFailedError``."""
        client = self._client(subscription_id)
        try:
            with client.stream("POST", url, content=body, headers=dict(headers)) as answer:
                read = 0
                for chunk in answer.iter_raw():
                    read += len(chunk)
                    if read >= ANSWER_READ_BYTES:
                        break
                status = answer.status_code
        except httpx2.TimeoutException:
            raise DeliveryFailedError("no answer: timed out") from None
        except httpx2.HTTPError as error:
            raise DeliveryFailedError(f"no answer: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryFailedError(f"answered {status}", status)
        return status

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


class WebhookTransport:
    """POSTs the CloudEvent (structured mode) with the Standard Webhooks headers."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def send(self, subscription: Subscription, change: Change, body: bytes) -> int | None:
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": "social-assistance-ledger-webhooks",
            **signed_headers(subscription.secret, str(change.position), body),
        }
        return self.connections.post(subscription.id, subscription.target, body, headers)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 600.0
    max_attempts: int = 12

    def delay(self, attempt: int) -> float:
        """The wait after the ``attempt``-th failure in a row: doubling, capped, and
        between half and all of it at random, so that receivers coming back are not hit
        by every worker at once."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        return float(ceiling * random.uniform(0.5, 1.0))


class DeliveryWorker:
    """Serves every active subscription of the given kinds, one thread each."""

    def __init__(
        self,
        feed: ChangeFeed,
        store: SubscriptionStore,
        transports: Mapping[str, Transport],
        policy: RetryPolicy,
        *,
        batch: int = 100,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.2,
        name: str | None = None,
        clock_tolerance_seconds: float = CLOCK_TOLERANCE_SECONDS,
    ) -> None:
        self.feed = feed
        self.store = store
        self.transports = transports
        self.policy = policy
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.clock_tolerance_us = int(clock_tolerance_seconds * 1_000_000)
        self._threads: dict[str, threading.Thread] = {}

    @property
    def kinds(self) -> Sequence[str]:
        return tuple(self.transports)

    def run(self, stopping: threading.Event, look_every: float = 1.0) -> None:
        """Until ``stopping`` is set: start a thread for each active subscription that has
        none (new ones, and those redelivered after a dead letter)."""
        while not stopping.is_set():
            try:
                for subscription in self.store.active(self.kinds):
                    thread = self._threads.get(subscription.id)
                    if thread is None or not thread.is_alive():
                        thread = threading.Thread(
                            target=self._serve,
                            args=(subscription.id, stopping),
                            name=f"delivery-{subscription.id[:8]}",
                            daemon=True,
                        )
                        self._threads[subscription.id] = thread
                        thread.start()
            except Exception:
                log.exception("listing the subscriptions failed; trying again")
            stopping.wait(look_every)
        for thread in self._threads.values():
            thread.join(self.lease_seconds)

    def _serve(self, subscription_id: str, stopping: threading.Event) -> None:
        taken_up = False
        try:
            while not stopping.is_set():
                if not self.store.lease(subscription_id, self.name, self.lease_seconds):
                    return  # another worker serves it, or it is no longer active
                subscription = self.store.get(subscription_id)
                if subscription is None or subscription.state != ACTIVE:
                    return
                if not self.follows_the_ledger(subscription, delivered_too=not taken_up):
                    return
                taken_up = True
                waiting = (subscription.next_attempt_us - now_us()) / 1_000_000
                if waiting > 0:
                    stopping.wait(min(waiting, self.lease_seconds / 3))
                    continue
                if not self.deliver_page(subscription):
                    stopping.wait(self.poll_seconds)
        except Exception:
            log.exception(
                "delivering to subscription %s failed; it will be taken up again", subscription_id
            )
        finally:
            try:
                self.store.release(subscription_id, self.name)
            except Exception:
                log.exception("releasing subscription %s failed", subscription_id)

    def follows_the_ledger(self, subscription: Subscription, *, delivered_too: bool) -> bool:
        """Whether the subscription's cursor is a position of this ledger; if not, it is
        refused (stopped, with the reason and the remedy as its last error). With
        ``delivered_too``, also whether its last delivery is of this ledger's event there."""
        recorder = self.feed.recorder
        ledger_end = recorder.max_notification_id() or 0
        mismatch = None
        if subscription.acknowledged > ledger_end:
            mismatch = f"its cursor is at position {subscription.acknowledged}"
        elif delivered_too:
            delivered = self.store.last_delivered(subscription)
            if delivered is not None:
                found = recorder.select_notifications(start=delivered.position, limit=1)
                if not found or found[0].id != delivered.position:
                    mismatch = f"it delivered position {delivered.position}, which holds no event"
                elif self._recorded_us(found[0]) > delivered.at_us + self.clock_tolerance_us:
                    mismatch = (
                        f"it delivered position {delivered.position} before the ledger's event "
                        "there was recorded"
                    )
        if mismatch is None:
            return True
        reason = (
            f"subscription {subscription.id} is not delivered: {mismatch}, and the ledger ends "
            f"at {ledger_end}. The ledger was replaced, or restored from an older backup, "
            "after it was delivered; nothing more is sent to it until `ledger redeliver "
            f"{subscription.id} --after POSITION` (POSITION {ledger_end}: only what this "
            "ledger records from now on; 0: all of this ledger's events)"
        )
        log.error("%s", reason)
        self.store.refuse(subscription.id, self.name, reason)
        return False

    def _recorded_us(self, notification: Notification) -> int:
        """When the event at ``notification`` was recorded, by its own time (0: unknown)."""
        recorded = getattr(self.feed.mapper.to_domain_event(notification), "timestamp", None)
        return int(recorded.timestamp() * 1_000_000) if isinstance(recorded, datetime) else 0

    def deliver_page(self, subscription: Subscription) -> bool:
        """Send the next page of events after the cursor; whether anything moved.

        The cursor moves, and the deliveries are logged, in one transaction for a run of
        delivered events: at the end of the page, before a failure is recorded, and at
        least every third of the lease (which each acknowledgement renews). A worker killed
        in between sends that run again: at least once, as ever."""
        filters = subscription.filters
        where = feed_filter(
            Role(subscription.role),
            subscription.served,
            filters.get("types", []),
            filters.get("programmes", []),
            filters.get("regions", []),
        )
        page = self.feed.read(subscription.acknowledged, self.batch, where)
        transport = self.transports[subscription.kind]
        attempt_number = subscription.attempts + 1
        delivered: list[Attempt] = []
        acknowledged_at = time.monotonic()
        for change in page.changes:
            started = time.monotonic()
            try:
                status = transport.send(subscription, change, encoded(change))
            except DeliveryFailedError as error:
                if delivered and not self._acknowledge(
                    subscription, delivered[-1].position, delivered
                ):
                    return False
                self._failed(subscription, change, attempt_number, error, started)
                return True
            latency = int((time.monotonic() - started) * 1_000_000)
            delivered.append(
                Attempt(
                    change.position, attempt_number, now_us(), "delivered", status, None, latency
                )
            )
            attempt_number = 1
            if time.monotonic() - acknowledged_at >= self.lease_seconds / 3:
                if not self._acknowledge(subscription, change.position, delivered):
                    return False
                delivered, acknowledged_at = [], time.monotonic()
        if page.through > subscription.acknowledged or delivered:
            return self._acknowledge(subscription, page.through, delivered)
        return bool(page.changes)

    def _acknowledge(
        self, subscription: Subscription, position: int, delivered: Sequence[Attempt]
    ) -> bool:
        """Whether the cursor moved; False when the lease went to another worker, which
        goes on from the cursor."""
        return self.store.acknowledge(
            subscription.id, self.name, position, delivered, self.lease_seconds
        )

    def _failed(
        self,
        subscription: Subscription,
        change: Change,
        attempt_number: int,
        error: DeliveryFailedError,
        started: float,
    ) -> None:
        latency = int((time.monotonic() - started) * 1_000_000)
        dead = attempt_number >= self.policy.max_attempts
        attempt = Attempt(
            change.position,
            attempt_number,
            now_us(),
            "dead" if dead else "failed",
            error.status,
            str(error),
            latency,
        )
        retry_at = None if dead else now_us() + int(self.policy.delay(attempt_number) * 1e6)
        self.store.failed(subscription.id, self.name, attempt, retry_at)
        log.warning(
            "delivering position %s to subscription %s failed (attempt %s): %s%s",
            change.position,
            subscription.id,
            attempt_number,
            error,
            "; dead-lettered" if dead else "",
        )
