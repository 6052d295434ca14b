"""The ledger, its views and their poller, opened from the settings for every entry point."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from api.core.identities import TokenReader
from api.core.settings import Settings
from domain.application.ledger import Ledger
from projections.engine.poller import Poller
from projections.engine.projector import Projector
from projections.reads.feed import ChangeFeed
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase
from projections.storage.health import DatabaseHealth
from projections.storage.opening import open_views
from projections.storage.subscriptions import SubscriptionStore


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    views: ViewDatabase
    poller: Poller | None = field(default=None)
    health: DatabaseHealth | None = field(default=None)

    @property
    def database_reachable(self) -> bool:
        return self.health is None or self.health.reachable

    @property
    def projector(self) -> Projector:
        return Projector(self.ledger.recorder, self.ledger.mapper, self.views)

    @property
    def read_side(self) -> ReadSide:
        return ReadSide(self.views, self.poller.reached if self.poller else None)

    @property
    def feed(self) -> ChangeFeed:
        """The change feed, never past the position the views have reached."""
        read = self.read_side
        return ChangeFeed(
            self.ledger.recorder, self.ledger.mapper, self.views, lambda: read.position
        )

    @cached_property
    def subscriptions(self) -> SubscriptionStore:
        """Webhook and broker subscriptions and how far each is delivered."""
        return SubscriptionStore(self.views)

    @cached_property
    def tokens(self) -> TokenReader:
        if self.settings.jwt_secret is None:
            raise ValueError("settings were built without a token signing key")
        return TokenReader(self.settings.jwt_secret.get_secret_value())


@contextmanager
def opened(settings: Settings | None = None, *, project: bool = False) -> Iterator[Runtime]:
    """Open the ledger and its views; with ``project`` (the service) a poller keeps the
    views current and a monitor watches the database."""
    settings = settings or Settings()
    ledger = Ledger(settings.ledger_env())
    views = open_views(ledger.env)
    runtime = Runtime(settings, ledger, views)
    if project:
        runtime.poller = Poller(runtime.projector)
        runtime.poller.start()
        runtime.health = DatabaseHealth(ledger.env)
        runtime.health.guard(getattr(ledger.factory, "datastore", None))
        runtime.health.start()
    try:
        yield runtime
    finally:
        if runtime.health is not None:
            runtime.health.stop()
        if runtime.poller is not None:
            runtime.poller.stop()
        views.close()
        ledger.close()
