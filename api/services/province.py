"""The province's side of its cities: each city's replicated events opened as a ledger that
only verifies (the city's public keys, no signing key), projected into the city's views at
the province, verified there, and read across cities.

A city's events are decoded with the ledger's own mapper, so the province refuses what the
city's ``ledger verify`` would. The other keys the province opens a city with are random and
never kept: personal data stays sealed in the events (the province reads no name or identity
number), and it makes no person reference of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from eventsourcing.utils import get_topic

from api.core.settings import persistence_env, postgres_url_with_dbname
from api.services.verification import Verification
from api.services.verification import verify as verify_ledger
from domain.application.ledger import Ledger
from domain.months import Month
from projections.engine.projector import Projector
from projections.province import consolidation
from projections.province.replication import (
    Catalogue,
    City,
    NotPublishedError,
    Replication,
    city_database,
    replication,
)
from projections.reads.read_side import ReadSide
from projections.storage.database import PostgresViews, ViewDatabase
from projections.storage.opening import postgres_conninfo
from projections.storage.schema import VIEWS_SCHEMA
from projections.storage.signing import SignedMapper

REFERENCE_CHECK_LABEL = b"social-assistance-ledger province person reference key check"
TIMEOUT_SECONDS = 5


def reference_check(person_ref_key: str) -> str:
    """The check value a city publishes of its person reference key (base64): equal in two
    cities exactly when they make the same reference of the same person."""
    key = base64.b64decode(person_ref_key)
    return hmac.new(key, REFERENCE_CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def _random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def city_env(url: str, verify_keys: dict[str, str], *, create: bool) -> dict[str, str]:
    """The environment of a city's ledger at the province (``url``: its database there)."""
    return {
        **persistence_env(url, TIMEOUT_SECONDS),
        "LEDGER_PERSONAL_DATA_KEY": _random_key(),
        "LEDGER_PERSON_REF_KEY": _random_key(),
        # Set empty, so that no key of the environment the command runs in is taken for
        # the city's: the province verifies a city's events, it never signs one.
        "LEDGER_SIGNING_KEY": "",
        "LEDGER_SIGNING_KEY_ID": "",
        "LEDGER_VERIFY_KEYS": json.dumps(verify_keys),
        "MAPPER_TOPIC": get_topic(SignedMapper),
        "CREATE_TABLE": "y" if create else "n",
    }


@dataclass
class CityAtProvince:
    """A city's replicated ledger at the province and its views there."""

    city: City
    ledger: Ledger
    views: ViewDatabase

    @property
    def name(self) -> str:
        return self.city.name

    @cached_property
    def projector(self) -> Projector:
        return Projector(self.ledger.recorder, self.ledger.mapper, self.views)

    @property
    def position(self) -> int:
        """The city's ledger position the views at the province reflect."""
        return ReadSide(self.views).position


@contextmanager
def _opened(url: str, city: City, *, create: bool = False) -> Iterator[CityAtProvince]:
    ledger = Ledger(city_env(url, city.verify_keys, create=create))
    try:
        views = PostgresViews(
            postgres_conninfo(ledger.env), VIEWS_SCHEMA, TIMEOUT_SECONDS, max_connections=2
        )
        try:
            yield CityAtProvince(city, ledger, views)
        finally:
            views.close()
    finally:
        ledger.close()


@dataclass(frozen=True)
class CityStatus:
    name: str
    position: int  # the city's ledger position its views at the province reflect
    recorded_at: datetime | None  # when the city recorded the event at that position
    replication: Replication

    @property
    def current(self) -> bool:
        """Connected to the city, with everything received from it projected."""
        return (
            self.replication.connected
            and self.replication.copied
            and self.position >= self.replication.received
        )


class Province:
    """The provincial database (``url``: its own database, which keeps the catalogue) and
    the cities it subscribes to; each city is opened once, when first asked for, and closed
    with the province."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.catalogue = Catalogue(url)
        self._opened = ExitStack()
        self._cities: dict[str, CityAtProvince] = {}

    def __enter__(self) -> Province:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._cities.clear()
        self._opened.close()

    def city_url(self, name: str) -> str:
        return postgres_url_with_dbname(self.url, city_database(name))

    def subscribe(self, name: str, city_source: str, verify_keys: dict[str, str]) -> None:
        """Receive ``name``'s events from ``city_source`` (the city's database, as the
        province's server connects to it), signed with ``verify_keys``; refused, and nothing
        kept for a new city, when the city does not publish them."""
        city = City(name, verify_keys)
        new = name not in self.names()
        self._cities.pop(name, None)
        self.catalogue.prepare(city)
        with _opened(self.city_url(name), city, create=True):
            pass  # the event store's tables, which the subscription fills
        if not self.catalogue.subscribe(city, city_source):
            if new:
                self.catalogue.forget(city)
            raise NotPublishedError(name)

    def city(self, name: str) -> CityAtProvince:
        opened = self._cities.get(name)
        if opened is None:
            city = self.catalogue.city(name)
            opened = self._opened.enter_context(_opened(self.city_url(name), city))
            self._cities[name] = opened
        return opened

    def names(self) -> list[str]:
        return [city.name for city in self.catalogue.cities()]

    def catch_up(self, name: str) -> int:
        """Project what the province has received of ``name``; the number projected."""
        return self.city(name).projector.catch_up()

    def project_batch(self, name: str) -> int:
        """Project the next batch ``name``'s events at the province hold; the number
        projected (0: its views are current)."""
        return self.city(name).projector.run_batch()

    def status(self, name: str) -> CityStatus:
        city = self.city(name)
        return CityStatus(
            name,
            city.position,
            consolidation.last_recorded(city.views),
            replication(self.city_url(name), city.city.subscription),
        )

    def totals(self, month: Month) -> list[consolidation.CityTotals]:
        """Every city's totals of ``month`` as far as its views at the province reach."""
        return [
            consolidation.city_totals(name, self.city(name).views, month) for name in self.names()
        ]

    def rolls(self, programme: str, month: Month) -> list[consolidation.CityRoll]:
        """Every city's rolls of ``programme`` in ``month``, region by region."""
        return [
            roll
            for name in self.names()
            for roll in consolidation.city_rolls(name, self.city(name).views, programme, month)
        ]

    def conflicts(self, month: Month) -> list[consolidation.Conflict]:
        """The persons holding, in two cities, cases that exclude each other in ``month``
        (seen among cities whose person references are made with one key)."""
        return consolidation.conflicts(
            {
                name: consolidation.holdings(name, self.city(name).views, month)
                for name in self.names()
            }
        )

    def reference_groups(self) -> list[list[str]]:
        """The cities grouped by the key their person references are made with: a person
        held in two cities is seen only when both are in one group."""
        groups: dict[str | None, list[str]] = {}
        for name in self.names():
            check = self.status(name).replication.reference_check
            groups.setdefault(check, []).append(name)
        return sorted(groups.values())

    def verify(self, name: str) -> Verification:
        """``name``'s audit chain recomputed from its events at the province, every
        signature checked with the city's keys, and its closed periods and months."""
        city = self.city(name)
        city.projector.catch_up()
        return verify_ledger(city.ledger, city.views, city.position)
