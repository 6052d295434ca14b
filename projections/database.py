"""The views' database: an SQLite file of their own, or the ledger's PostgreSQL database.

SQL is written once, with ``?`` placeholders and portable types; the PostgreSQL connection
rewrites placeholders to ``%s`` and ``BLOB`` to ``BYTEA``. Every write happens inside
``transaction()``, so a batch of view updates and its tracking position commit together.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg
import psycopg.sql

Row = tuple[Any, ...]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class ViewDatabase(Protocol):
    dialect: str

    @contextmanager
    def transaction(self) -> Iterator[Cursor]: ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def close(self) -> None: ...


class _SQLiteCursor:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()


class SQLiteViews:
    """Views in their own SQLite file (WAL), so that readers never hold up the ledger."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, timeout_seconds: float = 5) -> None:
        self.path = Path(path)
        self._connection = sqlite3.connect(
            self.path, timeout=timeout_seconds, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteCursor(self._connection)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    def close(self) -> None:
        self._connection.close()


_PLACEHOLDER = re.compile(r"\?")


def _postgres_sql(sql: str) -> str:
    return _PLACEHOLDER.sub("%s", sql).replace(" BLOB", " BYTEA")


class _PostgresCursor:
    def __init__(self, cursor: psycopg.Cursor[Row]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(_postgres_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(_postgres_sql(sql), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(_postgres_sql(sql), params)
        return self._cursor.fetchall()


class PostgresViews:
    """Views in a schema of their own in the ledger's PostgreSQL database."""

    dialect = "postgres"

    def __init__(
        self, conninfo: str, schema: str = "ledger_views", timeout_seconds: float = 5
    ) -> None:
        self._conninfo = conninfo
        self.schema = schema
        self._timeout = timeout_seconds
        self._connection = self._connect()

    def _connect(self) -> psycopg.Connection[Row]:
        connection = psycopg.connect(
            self._conninfo, connect_timeout=max(1, int(self._timeout)), autocommit=True
        )
        connection.execute(
            psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                psycopg.sql.Identifier(self.schema)
            )
        )
        connection.execute(
            psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(self.schema))
        )
        return connection

    def _live(self) -> psycopg.Connection[Row]:
        if self._connection.closed or self._connection.broken:
            self._connection = self._connect()
        return self._connection

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        connection = self._live()
        with connection.transaction(), connection.cursor() as cursor:
            yield _PostgresCursor(cursor)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._live().cursor() as cursor:
            cursor.execute(_postgres_sql(sql), params)
            return cursor.fetchall()

    def close(self) -> None:
        self._connection.close()
