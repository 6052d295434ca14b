"""How a city's events reach the province: a publication at the city, a database per city
at the province receiving them by a subscription, and the catalogue of the province's cities.

PostgreSQL's logical replication matches a published table by its schema and name, and every
city's events are ``public.ledger_events``; so each city has a database of its own at the
province (``province_city_<name>``), holding the replicated event table, its signed
checkpoints and the city's views. The province's own database keeps the catalogue: which
cities it subscribes to, in which database, and the public keys their events are signed with.

A city also publishes ``ledger_reference_key``: one row, a check value of the key its person
references are made with (an HMAC of a fixed label, which tells nothing of the key). Cities
whose check values agree make the same reference of the same person, so the province can
see one person holding cases in two of them; identity numbers never leave a city.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier, Literal

from projections.storage.event_table import CHECKPOINTS_TABLE
from projections.storage.protection import EVENTS_TABLE, SCHEMA

PUBLICATION = "ledger_province"
REFERENCE_KEY_TABLE = "ledger_reference_key"
PUBLISHED_TABLES = (EVENTS_TABLE, CHECKPOINTS_TABLE, REFERENCE_KEY_TABLE)
CATALOGUE_SCHEMA = "province"
CITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
CONNECT_TIMEOUT_SECONDS = 5

_CREATE_REFERENCE_KEY = SQL(
    "CREATE TABLE IF NOT EXISTS {} (check_value text PRIMARY KEY, published_at timestamptz"
    " NOT NULL DEFAULT now())"
).format(Identifier(SCHEMA, REFERENCE_KEY_TABLE))


class NotPublishedError(Exception):
    """The city's database does not publish what the province subscribes to."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name}'s database does not publish its ledger to the province: run ledger "
            "province publish at the city first (nothing was kept at the province)"
        )


class UnknownCityError(Exception):
    """The province subscribes to no city of that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        cities = ", ".join(known) or "none yet"
        super().__init__(
            f"the province subscribes to no city {name!r} (its cities: {cities}); "
            "ledger province subscribe adds one"
        )


def city_name(text: str) -> str:
    """A city's name as the province's databases and subscriptions are named after it."""
    if not CITY_NAME.fullmatch(text):
        raise ValueError(
            f"a city's name is 1 to 40 lower-case letters, digits or _, beginning with a "
            f"letter; {text!r} is not"
        )
    return text


def city_database(name: str) -> str:
    return f"province_city_{city_name(name)}"


def subscription_name(name: str) -> str:
    return f"province_{city_name(name)}"


def _connect(conninfo: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)


# The city.


def publish(city_conninfo: str, reference_check: str) -> None:
    """At a city: publish its events, signed checkpoints and person reference key check.
    Run again, it makes the publication hold these tables (and only these) and replaces the
    check value (a city whose reference key changed)."""
    tables = SQL(", ").join(Identifier(SCHEMA, table) for table in PUBLISHED_TABLES)
    with _connect(city_conninfo) as connection, connection.transaction():
        level = connection.execute("SHOW wal_level").fetchone()
        if level is None or level[0] != "logical":
            raise ValueError(
                f"the city's server has wal_level = {level[0] if level else '?'}: logical "
                "replication needs wal_level = logical (set it and restart the server)"
            )
        if connection.execute(
            "SELECT to_regclass(%s)", (f"{SCHEMA}.{EVENTS_TABLE}",)
        ).fetchone() == (None,):
            raise ValueError("there is no ledger in this database to publish")
        connection.execute(_CREATE_REFERENCE_KEY)
        connection.execute(SQL("DELETE FROM {}").format(Identifier(SCHEMA, REFERENCE_KEY_TABLE)))
        connection.execute(
            SQL("INSERT INTO {} (check_value) VALUES (%s)").format(
                Identifier(SCHEMA, REFERENCE_KEY_TABLE)
            ),
            (reference_check,),
        )
        exists = connection.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)
        ).fetchone()
        verb = (
            "ALTER PUBLICATION {} SET TABLE {}" if exists else "CREATE PUBLICATION {} FOR TABLE {}"
        )
        connection.execute(SQL(verb).format(Identifier(PUBLICATION), tables))


# The province.


@dataclass(frozen=True)
class City:
    """A city the province subscribes to: its name, its database at the province and the
    public keys (key id -> base64) its events are signed with."""

    name: str
    verify_keys: dict[str, str]

    @property
    def database(self) -> str:
        return city_database(self.name)

    @property
    def subscription(self) -> str:
        return subscription_name(self.name)


_CREATE_CATALOGUE = (
    SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(CATALOGUE_SCHEMA)),
    SQL(
        "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, verify_keys text NOT NULL,"
        " subscribed_at timestamptz NOT NULL DEFAULT now())"
    ).format(Identifier(CATALOGUE_SCHEMA, "cities")),
)


class Catalogue:
    """The province's cities, kept in the province's own database."""

    def __init__(self, province_conninfo: str) -> None:
        self.conninfo = province_conninfo

    def cities(self) -> list[City]:
        with _connect(self.conninfo) as connection:
            if connection.execute(
                "SELECT to_regclass(%s)", (f"{CATALOGUE_SCHEMA}.cities",)
            ).fetchone() == (None,):
                return []
            rows = connection.execute(
                SQL("SELECT name, verify_keys FROM {} ORDER BY name").format(
                    Identifier(CATALOGUE_SCHEMA, "cities")
                )
            ).fetchall()
        return [City(str(name), json.loads(str(keys))) for name, keys in rows]

    def city(self, name: str) -> City:
        cities = self.cities()
        for city in cities:
            if city.name == name:
                return city
        raise UnknownCityError(name, [c.name for c in cities])

    def city_conninfo(self, name: str) -> str:
        """Where the province keeps ``name``'s events and views."""
        return make_conninfo(self.conninfo, dbname=city_database(name))

    def prepare(self, city: City) -> str:
        """Record ``city`` in the catalogue and make its database at the province (its
        tables are made by whoever opens its event store there); the database's conninfo."""
        with _connect(self.conninfo) as connection:
            for statement in _CREATE_CATALOGUE:
                connection.execute(statement)
            connection.execute(
                SQL(
                    "INSERT INTO {} (name, verify_keys) VALUES (%s, %s) ON CONFLICT (name)"
                    " DO UPDATE SET verify_keys = EXCLUDED.verify_keys"
                ).format(Identifier(CATALOGUE_SCHEMA, "cities")),
                (city.name, json.dumps(city.verify_keys, sort_keys=True)),
            )
            if (
                connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (city.database,)
                ).fetchone()
                is None
            ):
                connection.execute(SQL("CREATE DATABASE {}").format(Identifier(city.database)))
        return self.city_conninfo(city.name)

    def subscribe(self, city: City, city_source: str) -> bool:
        """Subscribe ``city``'s database at the province to the city's publication, once its
        event store is there: the events stored so far are copied, then every new one
        follows as the city commits it. Subscribing again changes where the city is and
        takes the tables it publishes now. Whether the city publishes every table the
        province needs (a city not yet published publishes none)."""
        with _connect(self.city_conninfo(city.name)) as connection:
            connection.execute(_CREATE_REFERENCE_KEY)
            exists = connection.execute(
                "SELECT 1 FROM pg_subscription WHERE subname = %s", (city.subscription,)
            ).fetchone()
            name, source = Identifier(city.subscription), Literal(city_source)
            if exists:
                connection.execute(SQL("ALTER SUBSCRIPTION {} CONNECTION {}").format(name, source))
                connection.execute(SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(name))
            else:
                connection.execute(
                    SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
                        name, source, Identifier(PUBLICATION)
                    )
                )
            subscribed = connection.execute(
                "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s"
                " ON s.oid = r.srsubid WHERE s.subname = %s",
                (city.subscription,),
            ).fetchone()
        return subscribed is not None and subscribed[0] == len(PUBLISHED_TABLES)

    def forget(self, city: City) -> None:
        """Drop ``city``'s subscription (and its slot at the city), its database at the
        province and its row in the catalogue."""
        with _connect(self.city_conninfo(city.name)) as connection:
            if connection.execute(
                "SELECT 1 FROM pg_subscription WHERE subname = %s", (city.subscription,)
            ).fetchone():
                connection.execute(
                    SQL("DROP SUBSCRIPTION {}").format(Identifier(city.subscription))
                )
        with _connect(self.conninfo) as connection:
            connection.execute(
                SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(city.database))
            )
            connection.execute(
                SQL("DELETE FROM {} WHERE name = %s").format(
                    Identifier(CATALOGUE_SCHEMA, "cities")
                ),
                (city.name,),
            )


@dataclass(frozen=True)
class Replication:
    """How a city's subscription stands at the province."""

    connected: bool  # its apply worker is receiving from the city now
    copied: bool  # the events stored before it subscribed are all copied
    received: int  # the last position the province holds
    last_heard: datetime | None  # when the city last sent anything
    reference_check: str | None  # the check value of the city's person reference key


def replication(city_conninfo: str, subscription: str) -> Replication:
    """The subscription of the city whose database at the province is ``city_conninfo``."""
    with _connect(city_conninfo) as connection:
        worker = connection.execute(
            "SELECT pid IS NOT NULL, last_msg_receipt_time FROM pg_stat_subscription"
            " WHERE subname = %s AND relid IS NULL",
            (subscription,),
        ).fetchone()
        pending = connection.execute(
            "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s"
            " ON s.oid = r.srsubid WHERE s.subname = %s AND r.srsubstate <> 'r'",
            (subscription,),
        ).fetchone()
        received = connection.execute(
            SQL("SELECT COALESCE(max(notification_id), 0) FROM {}").format(
                Identifier(SCHEMA, EVENTS_TABLE)
            )
        ).fetchone()
        check = connection.execute(
            SQL("SELECT check_value FROM {}").format(Identifier(SCHEMA, REFERENCE_KEY_TABLE))
        ).fetchone()
    return Replication(
        connected=bool(worker and worker[0]),
        copied=pending is not None and pending[0] == 0,
        received=int(received[0]) if received else 0,
        last_heard=worker[1] if worker else None,
        reference_check=check[0] if check else None,
    )
