"""The change feed published to a NATS JetStream stream, for systems that share a broker.

The broker is one more subscription with its own cursor (``nats:<stream>``), served by the
same delivery worker as the webhooks: each event is published, as the same CloudEvent bytes,
to ``<subject>.<type>`` (``ledger.events.case.granted``) with the ledger position as
``Nats-Msg-Id``, and the cursor moves only once JetStream acknowledged it. A publish repeated
after a crash carries the same id, and JetStream drops it within its duplicate window.

Without ``LEDGER_NATS_URL`` nothing here runs. The connection is made on the first publish
and again after it is lost, so a broker that is down only delays the stream (its attempts
back off like a webhook's) and never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nats
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from api.core.settings import Settings
from api.services.cloudevents import CONTENT_TYPE
from api.services.delivery import DeliveryFailedError
from projections.reads.feed import Change
from projections.storage.subscriptions import Subscription, SubscriptionStore

log = logging.getLogger(__name__)

NATS = "nats"
CONNECT_SECONDS = 2.0
PUBLISH_SECONDS = 5.0


class JetStreamPublisher:
    """Publishes to one stream from a thread of its own, where the NATS client's event loop
    runs; ``send`` is called from the delivery worker's threads."""

    kind = NATS

    def __init__(self, url: str, stream: str, subject: str) -> None:
        self.url = url
        self.stream = stream
        self.subject = subject
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats", daemon=True)
        self._thread.start()
        self._client: Any = None
        self._js: Any = None

    def _run(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _connect(self) -> None:
        if self._client is not None and self._client.is_connected:
            return
        if self._client is not None:
            await self._client.close()
        self._client = await nats.connect(
            self.url,
            connect_timeout=CONNECT_SECONDS,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            name="social-assistance-ledger",
        )
        self._js = self._client.jetstream(timeout=PUBLISH_SECONDS)
        config = StreamConfig(name=self.stream, subjects=[f"{self.subject}.>"])
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(config)

    async def _publish(self, subject: str, body: bytes, message_id: str) -> Any:
        await self._connect()
        headers = {"Nats-Msg-Id": message_id, "Content-Type": CONTENT_TYPE}
        return await self._js.publish(subject, body, stream=self.stream, headers=headers)

    def send(self, subscription: Subscription, change: Change, body: bytes) -> int | None:
        subject = f"{self.subject}.{change.type}"
        try:
            self._run(self._publish(subject, body, str(change.position)), PUBLISH_SECONDS * 2)
        except Exception as error:  # the client raises many kinds; each is a failed attempt
            self._forget()
            raise DeliveryFailedError(f"JetStream did not acknowledge: {error!r}") from None
        return None

    def _forget(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                self._run(client.close(), CONNECT_SECONDS)
            except Exception:
                log.debug("closing a failed NATS connection failed", exc_info=True)

    def close(self) -> None:
        self._forget()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONNECT_SECONDS)


def broker_subscription_id(stream: str) -> str:
    return f"nats:{stream}"


@contextmanager
def broker_transport(
    settings: Settings, store: SubscriptionStore
) -> Iterator[JetStreamPublisher | None]:
    """The JetStream publisher when ``LEDGER_NATS_URL`` is set (its subscription created
    the first time, from position 0: the stream holds the whole ledger), else None."""
    if not settings.nats_url:
        yield None
        return
    store.ensure(
        broker_subscription_id(settings.nats_stream),
        NATS,
        settings.nats_subject,
        settings.nats_role,
        after=0,
    )
    publisher = JetStreamPublisher(settings.nats_url, settings.nats_stream, settings.nats_subject)
    try:
        yield publisher
    finally:
        publisher.close()
