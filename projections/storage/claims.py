"""Claims of projection work, held as PostgreSQL session-level advisory locks.

Each projection worker keeps one connection of its own for its claims. On it, it announces
itself with a lock on its own backend id (the workers' lock class), and claims each unit
of work it projects with a lock on the unit's key (the units' lock class). PostgreSQL
releases a session's locks when the session ends, so a worker that is killed, or cut off
until its connection's keepalives give up, leaves its units free and stops being counted
as live at once: no lease to expire, no clock to trust. Who is live and who holds what is
read from ``pg_locks`` (and the worker's name from ``pg_stat_activity``).

A claim only shares the work out. That an event is projected exactly once is kept by the
unit's tracking row, locked by each batch (``projections.engine.workers``), so two
workers that believe they hold the same unit still never project an event twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import psycopg

APPLICATION_NAME = "ledger project-worker"
KEEPALIVE_SECONDS = 5  # idle seconds before the server's peer is probed, and between probes


def lock_key(name: str) -> int:
    """A stable, non-negative 32-bit key for an advisory lock (one of its two keys). Two
    names that share a key only make two units exclusive of each other."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


class ClaimsSeen:
    """The workers of ``namespace`` (the views' schema) and their claims, as PostgreSQL
    holds them, read on a connection of its own."""

    def __init__(self, conninfo: str, namespace: str, application_name: str = "") -> None:
        self._units = lock_key(f"{namespace} projection units")
        self._workers = lock_key(f"{namespace} projection workers")
        self._connection = psycopg.connect(
            conninfo,
            autocommit=True,
            application_name=application_name[:63],
            keepalives=1,
            keepalives_idle=KEEPALIVE_SECONDS,
            keepalives_interval=KEEPALIVE_SECONDS,
            keepalives_count=2,
            connect_timeout=10,
        )

    def close(self) -> None:
        """Leave: the connection ends, and with it every lock it held."""
        self._connection.close()

    def live_workers(self) -> int:
        """How many workers of this namespace hold their session now, this one included."""
        row = self._connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 2 AND classid::bigint = %s",
            (self._workers,),
        ).fetchone()
        return int(row[0]) if row else 0

    def claimants(self, units: Iterable[str]) -> dict[str, str]:
        """Which worker (by name) holds each of ``units`` that a live worker holds."""
        by_key = {lock_key(unit): unit for unit in units}
        rows = self._connection.execute(
            "SELECT l.objid::bigint, a.application_name FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND l.classid::bigint = %s",
            (self._units,),
        ).fetchall()
        prefix = f"{APPLICATION_NAME} "
        return {by_key[key]: name.removeprefix(prefix) for key, name in rows if key in by_key}


class Claims(ClaimsSeen):
    """A worker's claims, on a connection that lives as long as the worker: it announces
    the worker (a lock on its backend id) as it opens."""

    def __init__(self, conninfo: str, namespace: str, worker_name: str) -> None:
        super().__init__(conninfo, namespace, f"{APPLICATION_NAME} {worker_name}")
        self.worker_name = worker_name
        self.held: set[str] = set()
        self._connection.execute("SELECT pg_advisory_lock(%s, pg_backend_pid())", (self._workers,))

    def close(self) -> None:
        super().close()
        self.held.clear()

    def claim(self, unit: str) -> bool:
        """Claim ``unit`` if no live worker holds it; whether this worker holds it now."""
        if unit not in self.held:
            row = self._connection.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (self._units, lock_key(unit))
            ).fetchone()
            if row and row[0]:
                self.held.add(unit)
        return unit in self.held

    def release(self, unit: str) -> None:
        if unit in self.held:
            self._connection.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (self._units, lock_key(unit))
            )
            self.held.discard(unit)
