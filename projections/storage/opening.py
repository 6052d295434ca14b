"""Where a ledger and its views live: a SQLite file and the views' file beside it, or a
PostgreSQL database and a schema in it; whether a ledger is stored there already.

Only the entry points that may create a ledger (an import, the demo, the service) prepare
its place; every other one first asks whether a ledger is there, so that a read from the
wrong folder, or through a misspelt path, creates nothing and says where it looked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

import psycopg
from eventsourcing.utils import get_topic
from psycopg.conninfo import make_conninfo

from projections.storage.database import (
    PostgresViews,
    SQLiteViews,
    ViewDatabase,
    writable_session,
)
from projections.storage.event_store import POSTGRES_OPTIONS, LedgerPostgresFactory
from projections.storage.protection import EVENT_TABLES, SCHEMA
from projections.storage.schema import VIEWS_SCHEMA

SQLITE_EVENT_TABLE = "stored_events"  # the library's name for the application's events
POSTGRES_EVENT_TABLE = f"{SCHEMA}.{EVENT_TABLES[0]}"


def is_postgres(env: Mapping[str, str]) -> bool:
    """Whether ``env`` (the Ledger's environment) keeps the ledger in PostgreSQL."""
    return env.get("PERSISTENCE_MODULE") == get_topic(LedgerPostgresFactory)


def views_path(ledger_path: str) -> Path:
    path = Path(ledger_path)
    return path.with_name(f"{path.stem}-views{path.suffix or '.db'}")


def postgres_conninfo(env: Mapping[str, str], **options: str | int) -> str:
    """The libpq connection string of the ledger's PostgreSQL database, from its env; where
    it lists several hosts, the one that accepts writes (``writable_session``)."""
    host = env.get("POSTGRES_HOST", "127.0.0.1")
    return make_conninfo(
        env.get(POSTGRES_OPTIONS, ""),
        dbname=env["POSTGRES_DBNAME"],
        host=host,
        port=env.get("POSTGRES_PORT", "5432"),
        user=env.get("POSTGRES_USER", ""),
        password=env.get("POSTGRES_PASSWORD", ""),
        **writable_session(host),
        **options,
    )


def open_views(env: Mapping[str, str], *, schema: str = VIEWS_SCHEMA) -> ViewDatabase:
    """Open the views of the ledger configured by ``env`` (the Ledger's environment)."""
    module = env.get("PERSISTENCE_MODULE", "")
    timeout = float(env.get("SQLITE_LOCK_TIMEOUT") or env.get("POSTGRES_CONNECT_TIMEOUT") or 5)
    if module == "eventsourcing.sqlite":
        path = views_path(env["SQLITE_DBNAME"])
        if schema != VIEWS_SCHEMA:
            path = path.with_name(f"{path.stem}-{schema}{path.suffix}")
        return SQLiteViews(path, timeout)
    if is_postgres(env):
        return PostgresViews(postgres_conninfo(env), schema, timeout)
    if module == "eventsourcing.popo":
        return SQLiteViews(":memory:")
    raise ValueError(f"no views for persistence module {module!r}")


def prepare_ledger_place(env: Mapping[str, str]) -> None:
    """Make the folder of the ledger's SQLite file; on PostgreSQL, check that the database
    answers (an error then says why not, where the library's pool says only that it got
    no connection)."""
    module = env.get("PERSISTENCE_MODULE", "")
    if module == "eventsourcing.sqlite":
        Path(env["SQLITE_DBNAME"]).parent.mkdir(parents=True, exist_ok=True)
    elif is_postgres(env):
        _postgres_has_events(env)


def ledger_exists(env: Mapping[str, str]) -> bool:
    """Whether a ledger (its event table) is stored where ``env`` points; nothing is
    created to find out. A PostgreSQL database that does not answer raises psycopg's
    error, which says why."""
    module = env.get("PERSISTENCE_MODULE", "")
    if module == "eventsourcing.sqlite":
        path = Path(env["SQLITE_DBNAME"])
        if not path.is_file():
            return False
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (SQLITE_EVENT_TABLE,),
            ).fetchall()
        finally:
            connection.close()
        return bool(rows)
    if is_postgres(env):
        return _postgres_has_events(env)
    return True  # in memory: there is only ever the one being made


def _postgres_has_events(env: Mapping[str, str]) -> bool:
    timeout = max(1, round(float(env.get("POSTGRES_CONNECT_TIMEOUT") or 5)))
    with psycopg.connect(postgres_conninfo(env, connect_timeout=timeout)) as connection:
        row = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (POSTGRES_EVENT_TABLE,)
        ).fetchone()
    return bool(row and row[0])
