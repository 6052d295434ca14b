"""The views' database: an SQLite file of their own, or the ledger's PostgreSQL database.

SQL is written once, with ``?`` placeholders and portable types; the PostgreSQL connection
rewrites placeholders to ``%s`` and ``BLOB`` to ``BYTEA``. Every write happens inside
``transaction()``, so a batch of view updates and its tracking position commit together.
Reads take ``fetchall()`` for one query and ``reading()`` for several on one connection;
the service awaits a short read on its event loop with ``fetchall_on_loop()``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypedDict

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import AsyncConnectionPool, ConnectionPool

# Pages the views' write-ahead log may hold before a commit copies it back itself, as
# SQLite's default (1,000 pages) has every commit do that fills it. Above what one batch
# writes (a batch of 10,000 events writes some 40,000 pages at scale 1), so that the copy
# is left to ``_Checkpoints``; the bound holds only if that thread falls behind.
LOG_PAGES_AT_MOST = 200_000
# The page cache of a connection that writes the views, in KiB (SQLite's default is 2,000):
# a projector walks the segments' and subjects' indexes across the whole file, and with the
# default it read most pages again from the operating system on every batch.
WRITER_CACHE_KIB = 131_072
Row = tuple[Any, ...]
Statement = tuple[str, Sequence[Any]]  # SQL and its parameters


class Reader(Protocol):
    """What reads: a cursor, or the views themselves."""

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def execute_in_order(self, statements: Sequence[Statement]) -> None:
        """Run ``statements`` one after the other, in as few round trips as the database
        allows."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Add ``rows`` to ``table``, the fastest way the database has."""

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class ViewDatabase(Protocol):
    dialect: str

    @contextmanager
    def transaction(self) -> Iterator[Cursor]: ...

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """Several reads on one connection, in no transaction that would hold up a writer.
        On PostgreSQL each read sees the views as they are when it runs: what belongs here
        is what later projection cannot change, the rows as known at a position the views
        have reached (a close's lines)."""
        ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchall_on_loop(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """``fetchall`` awaited on the running event loop, for a short read that would cost
        less than the hop to a worker thread and back: on PostgreSQL through connections
        of the loop's own, which wait on the network without holding it up."""
        ...

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """Let the query planner know how the tables have grown."""

    def close(self) -> None: ...

    async def close_on_loop(self) -> None:
        """Close what ``fetchall_on_loop`` opened, on the loop it ran on, before ``close``."""


class _SQLiteCursor:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    def execute_in_order(self, statements: Sequence[Statement]) -> None:
        for sql, params in statements:
            self._connection.execute(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()


class SQLiteViews:
    """Views in their own SQLite file (WAL), so that readers never hold up the ledger.

    Each thread has its own connection, so a reader never sees a projector's transaction
    half done.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, timeout_seconds: float = 5) -> None:
        self.path = str(path)
        self._timeout = timeout_seconds
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._checkpoints: _Checkpoints | None = None
        if self.path == ":memory:":
            # One in-memory database shared by every thread needs a single connection.
            self.path = f"file:views-{id(self)}?mode=memory&cache=shared"
        else:
            self._checkpoints = _Checkpoints(self._connect)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path,
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=self.path.startswith("file:"),
        )

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            if self._checkpoints is not None:
                # _Checkpoints copies the log back; a commit does it only past this bound.
                connection.execute(f"PRAGMA wal_autocheckpoint={LOG_PAGES_AT_MOST}")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        connection = self._connection()
        if not getattr(self._local, "writes", False):
            connection.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._local.writes = True
        changes = connection.total_changes
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteCursor(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        if self._checkpoints is not None and connection.total_changes != changes:
            self._checkpoints.due()

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        connection = self._connection()
        if connection.in_transaction:
            yield _SQLiteCursor(connection)
            return
        connection.execute("BEGIN")  # deferred: a snapshot, and no lock a projector waits on
        try:
            yield _SQLiteCursor(connection)
        finally:
            connection.execute("COMMIT")

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection().execute(sql, params).fetchall()

    async def fetchall_on_loop(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The read itself, on the loop's thread: a lookup in the file takes tens of
        microseconds, and a reader of the write-ahead log waits for no writer."""
        return self.fetchall(sql, params)

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """Nothing: SQLite plans the views' queries from their indexes alone."""

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    async def close_on_loop(self) -> None:
        """Nothing: the loop's reads used the loop thread's connection, which ``close``
        closes."""

    def remove_file(self) -> bool:
        """Close every connection and delete the file with its log, so that the views are
        empty at the next use: no time however large they grew, where dropping each table
        walks every page of it. Only for views no other process holds open, as a replay's
        scratch views. False for views in memory, which have no file."""
        if self._checkpoints is None:
            return False
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(self.path + suffix).unlink(missing_ok=True)
        return True


class _Checkpoints:
    """Copies the views' write-ahead log back into their file on a thread of its own, after
    each commit that wrote (SQLite's PASSIVE checkpoint, which waits for no reader and no
    writer), instead of in the commit that fills the log: the copy and its fsync then take
    the other core, as SQLite lets go of the GIL meanwhile, while the projector goes on."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def due(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="views-checkpoints", daemon=True
                )
                self._thread.start()
        self._due.set()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._due.wait()
                if self._stopping:
                    return
                self._due.clear()
                # A checkpoint that could not copy everything (another process's was under
                # way, the file is gone) leaves the rest to the next one, or to the close.
                with contextlib.suppress(sqlite3.Error):
                    connection = connection or self._connect()
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        """Stop the thread, if one runs; a later commit starts another."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._stopping = True
            self._due.set()
            thread.join()
            self._stopping = False
            self._due.clear()


_PLACEHOLDER = re.compile(r"\?")


def _postgres_sql(sql: str) -> str:
    return _PLACEHOLDER.sub("%s", sql).replace(" BLOB", " BYTEA")


class _PostgresCursor:
    def __init__(self, cursor: psycopg.Cursor[Row]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(_postgres_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # psycopg would still make a round trip for none
            self._cursor.executemany(_postgres_sql(sql), rows)

    def execute_in_order(self, statements: Sequence[Statement]) -> None:
        """In a pipeline: one round trip, where each statement would make one."""
        if not statements:
            return
        with self._cursor.connection.pipeline():
            for sql, params in statements:
                self._cursor.execute(_postgres_sql(sql), params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY: one round trip, where executemany makes a statement of every row."""
        if not rows:
            return
        statement = SQL("COPY {} ({}) FROM STDIN").format(
            Identifier(table), SQL(", ").join(map(Identifier, columns))
        )
        with self._cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(_postgres_sql(sql), params)
        return self._cursor.fetchall()


class _PoolSettings(TypedDict):
    """What the views' two pools of connections share."""

    min_size: int
    max_size: int
    timeout: float
    kwargs: dict[str, Any]


class PostgresViews:
    """Views in a schema of their own in the ledger's PostgreSQL database.

    Connections come from a pool, so a reader never shares a projector's transaction.
    """

    dialect = "postgres"

    def __init__(
        self,
        conninfo: str,
        schema: str = "ledger_views",
        timeout_seconds: float = 5,
        max_connections: int = 8,
        answer_within_seconds: float | None = None,
    ) -> None:
        self.schema = schema
        self._answer_within = answer_within_seconds
        with psycopg.connect(conninfo, connect_timeout=_whole_seconds(timeout_seconds)) as c:
            # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema
            # exists; the service role has none where ``ledger protect`` made its schemas.
            if c.execute("SELECT to_regnamespace(%s)", (schema,)).fetchone() == (None,):
                c.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        pools = _PoolSettings(
            min_size=1,
            max_size=max_connections,
            timeout=timeout_seconds,
            kwargs={
                "autocommit": True,
                "connect_timeout": _whole_seconds(timeout_seconds),
                "options": f"-c search_path={schema}",
            },
        )
        self._pool = ConnectionPool(conninfo, open=True, **pools)
        # Opened by the first read on an event loop, on that loop.
        self._loop_pool = AsyncConnectionPool(conninfo, open=False, **pools)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as connection:
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    yield _PostgresCursor(cursor)
            except psycopg.errors.ReadOnlySqlTransaction:
                # The server was demoted to a standby: the pool replaces a closed connection,
                # and the next one goes to whichever server is primary now.
                connection.close()
                raise

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        # The pool's connections commit each statement: no BEGIN and COMMIT round trips.
        with self._pool.connection() as connection, connection.cursor() as cursor:
            yield _PostgresCursor(cursor)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with (
            self._pool.connection() as connection,
            answered_within(connection, self._answer_within),
            connection.cursor() as cursor,
        ):
            cursor.execute(_postgres_sql(sql), params)
            return cursor.fetchall()

    async def fetchall_on_loop(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._loop_pool.closed:
            await self._loop_pool.open()  # a second call, meanwhile, does nothing
        async with self._loop_pool.connection() as connection, connection.cursor() as cursor:
            await cursor.execute(_postgres_sql(sql), params)
            return await cursor.fetchall()

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """ANALYZE: without it, plans made for small tables stay after a bulk load
        (an entitlement lookup scanned every current segment)."""
        with self._pool.connection() as connection:
            connection.execute(SQL("ANALYZE {}").format(SQL(", ").join(map(Identifier, tables))))

    def close(self) -> None:
        self._pool.close()

    async def close_on_loop(self) -> None:
        if not self._loop_pool.closed:
            await self._loop_pool.close()


@contextmanager
def answered_within(connection: psycopg.Connection[Any], seconds: float | None) -> Iterator[None]:
    """Break ``connection`` if the block has not finished within ``seconds`` (None: no
    limit), so that what it waits for fails with ``psycopg.OperationalError``. A server that
    stopped (a frozen machine, a network that drops everything) never answers, and neither a
    statement timeout nor a cancel request reaches it: only the client can give up."""
    if seconds is None:
        yield
        return
    lock = threading.Lock()
    finished = False

    def cut() -> None:
        with lock:
            if finished:
                return
            with contextlib.suppress(OSError, psycopg.Error):
                duplicate = os.dup(connection.fileno())
                with socket.socket(fileno=duplicate) as shared:
                    shared.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting on it

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            finished = True
        timer.cancel()


def writable_session(host: str) -> dict[str, str]:
    """The libpq options that make a connection to one of several hosts (``a,b``: a primary
    and its standbys, in any order) reach the one that accepts writes, whichever it is
    now; none for a single host, which is asked as it is."""
    return {"target_session_attrs": "read-write"} if "," in host else {}


def _whole_seconds(seconds: float) -> int:
    return max(1, round(seconds))
