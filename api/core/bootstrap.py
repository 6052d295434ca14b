"""The ledger, its views and their poller, opened from the settings for every entry point."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal
from uuid import UUID

from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from api.core.identities import TokenReader
from api.core.settings import Settings
from domain.application.ledger import Ledger
from projections.engine.poller import Poller
from projections.engine.projector import Projector
from projections.reads.checkpointing import Checkpointer
from projections.reads.feed import ChangeFeed
from projections.reads.followed_ledger import refuse_views_of_another_ledger
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase
from projections.storage.health import DatabaseHealth
from projections.storage.opening import (
    ledger_exists,
    open_views,
    postgres_conninfo,
    prepare_ledger_place,
)
from projections.storage.replicas import Replicas
from projections.storage.signing import signatures_of
from projections.storage.subscriptions import DELIVERY_SCHEMA, SubscriptionStore


class LedgerNotFoundError(Exception):
    """No ledger is stored where the settings point, and the caller may not create one."""

    def __init__(self, label: str) -> None:
        super().__init__(f"there is no ledger at {label}")
        self.label = label


REMEMBERED_REGIONS = 100_000


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    views: ViewDatabase
    poller: Poller | None = field(default=None)
    health: DatabaseHealth | None = field(default=None)
    replicas: Replicas | None = field(default=None)  # hot standbys queries may be read from
    _regions: dict[tuple[str, UUID], str] = field(default_factory=dict, repr=False)

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

    @property
    def feed(self) -> ChangeFeed:
        """The change feed, never past the position the views have reached."""
        read = self.read_side
        return ChangeFeed(
            self.ledger.recorder, self.ledger.mapper, self.views, lambda: read.position
        )

    @cached_property
    def subscriptions(self) -> SubscriptionStore:
        """Webhook and broker subscriptions and how far each is delivered; their secrets
        sealed with the personal-data key."""
        key = self.settings.ledger_env()["LEDGER_PERSONAL_DATA_KEY"]
        return SubscriptionStore(
            open_views(self.ledger.env, schema=DELIVERY_SCHEMA),
            AESCipher(Environment(env={"CIPHER_KEY": key})),
        )

    def close(self) -> None:
        """Close the databases opened since the runtime was (the ledger and views are
        closed by ``opened``)."""
        store = self.__dict__.pop("subscriptions", None)
        if store is not None:
            store.views.close()

    @cached_property
    def tokens(self) -> TokenReader:
        secret = self.settings.jwt_secret
        provider = self.settings.oidc_provider()
        if secret is None and provider is None:
            raise ValueError("settings were built without a token signing key or provider")
        return TokenReader(secret.get_secret_value() if secret else None, provider)

    def region_of(self, kind: Literal["case", "relief"], subject_id: UUID) -> str:
        """The region of a case or relief (it never changes), remembered once read."""
        key = (kind, subject_id)
        region = self._regions.get(key)
        if region is None:
            ledger = self.ledger
            region = (ledger.case if kind == "case" else ledger.relief)(subject_id).region
            if len(self._regions) >= REMEMBERED_REGIONS:
                self._regions.clear()
            self._regions[key] = region
        return region


@contextmanager
def opened(
    settings: Settings | None = None,
    *,
    project: bool = False,
    create: bool = True,
    replacing_views: bool = False,
) -> Iterator[Runtime]:
    """Open the ledger and its views; with ``project`` (the service) a poller keeps the
    views current and a monitor watches the database. Without ``create`` the ledger must
    be stored already (``LedgerNotFoundError``): reading creates nothing. Views built from
    another ledger are refused (``ViewsOfAnotherLedgerError``), unless ``replacing_views``:
    the caller drops them before anything reads them (``ledger rebuild --replace``)."""
    settings = settings or Settings()
    settings.announce()
    ledger, views = _ledger_and_views(settings, create=create, replacing_views=replacing_views)
    runtime = Runtime(settings, ledger, views)
    if project:
        runtime.poller = Poller(runtime.projector, checkpointer=runtime.checkpointer)
        runtime.poller.start()
        runtime.health = DatabaseHealth(ledger.env)
        runtime.health.guard(getattr(ledger.factory, "datastore", None))
        runtime.health.start()
        if settings.replicas:
            runtime.replicas = Replicas(
                settings.replicas,
                postgres_conninfo(ledger.env),
                lambda: runtime.read_side.position,
                settings.replica_max_lag_positions,
                settings.database_timeout_seconds,
            )
            runtime.replicas.start()
    try:
        yield runtime
    finally:
        if runtime.replicas is not None:
            runtime.replicas.stop()
        if runtime.health is not None:
            runtime.health.stop()
        if runtime.poller is not None:
            runtime.poller.stop()
        runtime.close()
        views.close()
        ledger.close()


def refuse_views_of_another_ledger_at_start(settings: Settings) -> None:
    """Open the ledger (creating it, as the service would) and its views, refuse views built
    from another ledger (``ViewsOfAnotherLedgerError``), and close both: for a command that
    hands the ledger to another process (``serve``), so that it refuses before that starts."""
    ledger, views = _ledger_and_views(settings, create=True, replacing_views=False)
    views.close()
    ledger.close()


def _ledger_and_views(
    settings: Settings, *, create: bool, replacing_views: bool
) -> tuple[Ledger, ViewDatabase]:
    if create:
        settings.keep_development_keys()
    env = settings.ledger_env()
    if create:
        prepare_ledger_place(env)
    elif not ledger_exists(env):
        raise LedgerNotFoundError(settings.database_label)
    ledger = Ledger(env)
    views = open_views(ledger.env)
    if not replacing_views:
        try:
            refuse_views_of_another_ledger(ledger.recorder, views)
        except BaseException:
            views.close()
            ledger.close()
            raise
    return ledger, views
