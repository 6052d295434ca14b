"""Streaming-replication hot standbys of the ledger's PostgreSQL database, read from.

A physical standby holds the events and the views (their tracking position included) as of
its replay position, so a query at ledger position P may be answered there once the
standby's views have reached P: every read names its position, and the rows of a position
never change, so the answer is the primary's own.

A monitor probes each standby every half second: whether it answers, how far it has
replayed the primary's WAL (bytes behind ``pg_current_wal_lsn()``) and the position its
views have reached (positions behind the primary's views). ``choose`` picks, without I/O,
the standby that may answer a query needing position P: up, its views at P or past it, and
no more than the limit behind; else None, and the primary answers. A standby that refuses
connections or times out, in a probe or under a query (one that stopped answering is given
up on by the client: ``answered_within``), is marked down for a while and not chosen; a
query it failed is asked again of the primary (``RoutedViews``), so no caller sees its
error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import PoolTimeout

from projections.storage.database import (
    Cursor,
    PostgresViews,
    Reader,
    Row,
    ViewDatabase,
    answered_within,
)
from projections.storage.schema import VIEWS_SCHEMA

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS = 0.5
DOWN_SECONDS = 5.0  # a standby that failed is not probed nor chosen again before this
# A query a standby has not answered in this time is taken for lost (the standby froze, or
# the network to it drops everything) and asked of the primary.
READ_WITHIN_SECONDS = 10.0
# A query on a standby can be cancelled by the replay of a change it conflicts with
# (SQLSTATE 40001, "conflict with recovery"): the primary answers it instead.
_RETRY_ELSEWHERE = (psycopg.OperationalError, psycopg.errors.SerializationFailure, PoolTimeout)


def lsn_bytes(lsn: str) -> int:
    """The byte offset of a WAL location written ``X/Y`` (two hexadecimal numbers)."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class ReplicaState:
    """What the last probe found of a standby; positions and bytes None while it is down
    or before it was first reached."""

    name: str
    up: bool
    views_position: int | None
    lag_positions: int | None
    lag_bytes: int | None


class Replica:
    """One standby: its name (``replica-1``, never a host), its connection string, and
    what the last probe found."""

    def __init__(self, name: str, conninfo: str, timeout_seconds: float) -> None:
        self.name = name
        self.conninfo = conninfo
        self.timeout_seconds = timeout_seconds
        self.up = False
        self.down_until = 0.0
        self.views_position: int | None = None
        self.replay_lsn: int | None = None
        self._probe: psycopg.Connection[Row] | None = None
        self._views: PostgresViews | None = None
        self._lock = threading.Lock()

    @property
    def views(self) -> PostgresViews:
        """The standby's views, opened at the first probe that reached it."""
        if self._views is None:
            raise RuntimeError(f"{self.name} was never reached")
        return self._views

    def probe(self) -> None:
        """Read the standby's replay location and views' position; down if it fails."""
        if time.monotonic() < self.down_until:
            return
        try:
            if self._probe is None or self._probe.closed:
                self._probe = psycopg.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(self.timeout_seconds)),
                )
            with answered_within(self._probe, self.timeout_seconds):
                row = self._probe.execute(
                    "SELECT COALESCE(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text, "
                    # The least tracking row: projection workers keep one per unit.
                    f"(SELECT MIN(position) FROM {VIEWS_SCHEMA}.tracking)",
                ).fetchone()
            if self._views is None:
                self._views = PostgresViews(
                    self.conninfo,
                    VIEWS_SCHEMA,
                    self.timeout_seconds,
                    answer_within_seconds=READ_WITHIN_SECONDS,
                )
        except (psycopg.Error, PoolTimeout) as error:
            self.fail(error)
            return
        if row is None:
            return
        self.replay_lsn = lsn_bytes(row[0])
        self.views_position = int(row[1] or 0)
        if not self.up:
            log.warning("read replica %s is read from", self.name)
        self.up = True

    def fail(self, error: BaseException) -> None:
        """Mark the standby down for ``DOWN_SECONDS``; its probe connection is dropped."""
        with self._lock:
            if self.up or self.down_until == 0.0:
                log.warning("read replica %s is skipped: %s", self.name, error)
            self.up = False
            self.down_until = time.monotonic() + DOWN_SECONDS
            probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
        if self._views is not None:
            self._views.close()


class Replicas:
    """The standbys, probed in a thread of their own, and the choice of one for a query."""

    def __init__(
        self,
        conninfos: Sequence[str],
        primary_conninfo: str,
        primary_views_position: Callable[[], int],
        max_lag_positions: int,
        timeout_seconds: float = 2,
    ) -> None:
        self.replicas = [
            Replica(f"replica-{number}", conninfo, timeout_seconds)
            for number, conninfo in enumerate(conninfos, start=1)
        ]
        self.max_lag_positions = max_lag_positions
        self._primary_conninfo = make_conninfo(
            primary_conninfo, connect_timeout=max(1, round(timeout_seconds))
        )
        self._primary_views_position = primary_views_position
        self._primary_lsn: int | None = None
        self._primary_position = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="read-replicas", daemon=True)

    def start(self) -> None:
        self.probe()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for replica in self.replicas:
            replica.close()

    def _watch(self) -> None:
        while not self._stopping.wait(PROBE_INTERVAL_SECONDS):
            try:
                self.probe()
            except Exception:  # the monitor must outlive any one probe
                log.exception("probing the read replicas failed")

    def probe(self) -> None:
        """Probe every standby, after the primary: a standby's lag is measured against
        where the primary was just before, so it is never understated."""
        try:
            self._primary_position = self._primary_views_position()
            with psycopg.connect(self._primary_conninfo, autocommit=True) as connection:
                row = connection.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            self._primary_lsn = lsn_bytes(row[0]) if row else None
        except psycopg.Error:
            self._primary_lsn = None  # the primary's own monitor reports it
        for replica in self.replicas:
            replica.probe()

    def states(self) -> list[ReplicaState]:
        return [self._state(replica) for replica in self.replicas]

    def _state(self, replica: Replica) -> ReplicaState:
        if not replica.up or replica.views_position is None:
            return ReplicaState(replica.name, False, None, None, None)
        lag_bytes = None
        if self._primary_lsn is not None and replica.replay_lsn is not None:
            lag_bytes = max(0, self._primary_lsn - replica.replay_lsn)
        return ReplicaState(
            replica.name,
            True,
            replica.views_position,
            max(0, self._primary_position - replica.views_position),
            lag_bytes,
        )

    def choose(self, needed: int | None) -> Replica | None:
        """The standby to answer a query that needs the views at position ``needed`` (None:
        any position within the limit): the one furthest ahead among those up, at
        ``needed`` or past it and no more than ``max_lag_positions`` behind the primary's
        views; None when there is none."""
        best: Replica | None = None
        for replica in self.replicas:
            state = self._state(replica)
            if not state.up or state.views_position is None or state.lag_positions is None:
                continue
            if state.lag_positions > self.max_lag_positions:
                continue
            if needed is not None and state.views_position < needed:
                continue
            if best is None or state.views_position > (best.views_position or 0):
                best = replica
        return best


def split_urls(text: str) -> list[str]:
    """The connection URLs of a comma-separated list. A URL may itself list several hosts
    (``postgresql://a:5432,b:5432/ledger``): only a comma followed by a new URL's scheme
    separates two."""
    urls: list[str] = []
    for part in text.split(","):
        piece = part.strip()
        if not piece:
            continue
        if urls and not piece.startswith(("postgresql://", "postgres://")):
            urls[-1] = f"{urls[-1]},{piece}"
        else:
            urls.append(piece)
    for number, url in enumerate(urls, start=1):
        try:
            conninfo_to_dict(url)  # libpq's own parser
        except psycopg.ProgrammingError as error:
            raise ValueError(f"replica URL {number} is not a connection URL: {error}") from None
    return urls


class RoutedViews:
    """The views of a standby for one query, falling back to the primary's: a read the
    standby fails (it went away, timed out, or cancelled the query for a conflict with
    recovery) is asked again of the primary, and ``on_fallback`` is told. Writes always go
    to the primary."""

    dialect = "postgres"

    def __init__(
        self, replica: Replica, primary: ViewDatabase, on_fallback: Callable[[], None]
    ) -> None:
        self.replica = replica
        self.primary = primary
        self._on_fallback = on_fallback
        self._fell_back = False

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.primary.transaction() as cursor:
            yield cursor

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        with self.primary.reading() as reader:
            yield reader

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if not self._fell_back:
            try:
                return self.replica.views.fetchall(sql, params)
            except _RETRY_ELSEWHERE as error:
                if not isinstance(error, psycopg.errors.SerializationFailure):
                    self.replica.fail(error)
                self._fell_back = True
                self._on_fallback()
        return self.primary.fetchall(sql, params)

    async def fetchall_on_loop(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """``fetchall`` in a worker thread: a standby's read is cut off by a timer when it
        does not answer in time, and asked again of the primary."""
        return await asyncio.to_thread(self.fetchall, sql, params)

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        self.primary.refresh_statistics(tables)

    def close(self) -> None:
        """Nothing: the standby's and the primary's pools outlive a query."""

    async def close_on_loop(self) -> None:
        """Nothing: see ``close``."""
