"""Knows, at once, whether the ledger's database answers.

The library retries a failed database call several times before giving up, so a request
that reaches an unreachable database would wait many seconds. A monitor pings the database
every second with a short timeout instead, and while it does not answer, requests are
refused at once with 503 and a Retry-After, and a request already waiting on the library's
retries stops at its next attempt with the same answer.

Over a host list with ``target_session_attrs=read-write`` the ping connects only to a
primary, so "no primary" (during a failover) is an outage like any other. A connection
made before a primary was demoted may still reach it as a read-only standby: the write is
refused the same way, and the connection closed so that the pool makes a new one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from projections.storage.opening import is_postgres, postgres_conninfo

log = logging.getLogger(__name__)

PING_INTERVAL_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 1


class DatabaseUnreachableError(Exception):
    """The monitor found the database unreachable; the library does not retry this."""


class NoPrimaryError(DatabaseUnreachableError):
    """The server a pooled connection reaches is read-only now (a standby)."""


class DatabaseHealth:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._conninfo: str | None = None
        if is_postgres(env):
            self._conninfo = postgres_conninfo(env, connect_timeout=PING_TIMEOUT_SECONDS)
        self.reachable = True
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="database-health", daemon=True)

    def start(self) -> None:
        if self._conninfo is not None:  # an embedded SQLite file is always there
            self._thread.start()

    def guard(self, datastore: Any) -> None:
        """Make each attempt of the library's retries on ``datastore`` (its PostgreSQL
        datastore) first ask the monitor, so that an outage ends them early."""
        if self._conninfo is None or datastore is None:
            return
        connect: Callable[[], AbstractContextManager[Any]] = datastore.get_connection

        @contextmanager
        def get_connection() -> Iterator[Any]:
            if not self.reachable:
                raise DatabaseUnreachableError
            with connect() as connection:
                try:
                    yield connection
                except psycopg.errors.ReadOnlySqlTransaction as error:
                    connection.close()  # a closed connection is not given back by the pool
                    raise NoPrimaryError(str(error)) from error

        datastore.get_connection = get_connection

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stopping.wait(PING_INTERVAL_SECONDS):
            reachable = self._ping()
            if reachable != self.reachable:
                log.warning("database %s", "reachable again" if reachable else "unreachable")
            self.reachable = reachable

    def _ping(self) -> bool:
        try:
            with psycopg.connect(self._conninfo or "", autocommit=True) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True
