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
from projections.reads.checkpointing import Checkpointer
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase
from projections.storage.health import DatabaseHealth
from projections.storage.opening import open_views
from projections.storage.signing import signatures_of


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

    @cached_property
    def checkpointer(self) -> Checkpointer | None:
        """Takes signed checkpoints of the audit chain; None when this installation holds
        no signing key."""
        signatures = signatures_of(self.ledger.mapper)
        if signatures is None or signatures.keyring.private is None:
            return None
        return Checkpointer(
            self.ledger.recorder, signatures, every_events=self.settings.checkpoint_every
        )

    @property
    def read_side(self) -> ReadSide:
        return ReadSide(self.views, self.poller.reached if self.poller else None)

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
        runtime.poller = Poller(runtime.projector, checkpointer=runtime.checkpointer)
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
