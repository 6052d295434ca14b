"""The raw baselines: plain sqlite3 and psycopg programs that do what the ledger asks of its
store, the straightforward way. Events are rows of (id, originator_id, version, topic, JSON
payload); a write is one transaction; reads decode the JSON. The views' final rows are
written into empty copies of the views' tables (``create_view_tables``), with their
indexes, a table at a time in one transaction each."""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from projections.storage.schema import CREATE as CREATE_VIEWS
from projections.storage.schema import TABLES as VIEW_TABLES
from scripts.benchmarks.trace import (
    Operation,
    RawRow,
    ReadAggregate,
    ReadLog,
    ReadPosition,
    Write,
)

Row = Sequence[Any]
TABLE = "raw_events"
READ_PAGE = 5_000
VIEW_TABLES_SCHEMA = "raw_views"  # PostgreSQL: the copies of the views' tables


def encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, default=str, ensure_ascii=False)


def _as_tuple(row: RawRow) -> tuple[str, int, str, str]:
    return (str(row.originator_id), row.version, row.topic, encode(row.payload))


def batched(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


class RawStore(ABC):
    """One raw event table and the operations the benchmark repeats on it."""

    mark: str  # the driver's parameter placeholder

    @abstractmethod
    def create(self) -> None: ...

    @abstractmethod
    def executemany(self, rows: Sequence[RawRow]) -> None:
        """Insert ``rows`` in one transaction with executemany."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

    @abstractmethod
    def read_and_decode(self) -> int:
        """Read every row in order through a cursor and decode its JSON; rows read."""

    @abstractmethod
    def truncate(self) -> None:
        """Empty the table and restart its ids."""

    @abstractmethod
    def create_view_tables(self) -> None:
        """Empty copies of the views' tables and indexes, as the views' schema makes them."""

    @abstractmethod
    def write_view_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert ``rows`` into the copy of a view table in one transaction, the fastest way
        the database has (SQLite: executemany; PostgreSQL: COPY)."""

    @abstractmethod
    def close(self) -> None: ...

    def execute(self, operation: Operation) -> None:
        """Repeat one of the ledger's store operations (a write is one transaction)."""
        mark = self.mark
        if isinstance(operation, Write):
            self.executemany(operation.rows)
        elif isinstance(operation, ReadAggregate):
            _decode_all(self.query(*_aggregate_query(operation, mark)))
        elif isinstance(operation, ReadPosition):
            self.query(f"SELECT max(id) FROM {TABLE}", ())
        elif isinstance(operation, ReadLog):
            rows = self.query(
                f"SELECT id, originator_id, version, topic, payload FROM {TABLE} "
                f"WHERE id >= {mark} ORDER BY id LIMIT {mark}",
                (operation.start or 1, operation.limit),
            )
            _decode_all(rows)

    def repeat(self, operations: Iterable[Operation]) -> None:
        """Repeat the store operations of one decision."""
        for operation in operations:
            self.execute(operation)


class RawSQLite(RawStore):
    """sqlite3 in WAL mode, autocommit, with explicit transactions for writes."""

    mark = "?"

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")

    def create(self) -> None:
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "originator_id TEXT NOT NULL, version INTEGER NOT NULL, topic TEXT NOT NULL, "
            "payload TEXT NOT NULL, UNIQUE (originator_id, version))"
        )

    def executemany(self, rows: Sequence[RawRow]) -> None:
        self.connection.execute("BEGIN")
        self.connection.executemany(
            f"INSERT INTO {TABLE} (originator_id, version, topic, payload) VALUES (?, ?, ?, ?)",
            [_as_tuple(row) for row in rows],
        )
        self.connection.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.connection.execute(sql, params).fetchall()

    def read_and_decode(self) -> int:
        count = 0
        cursor = self.connection.execute(
            f"SELECT id, originator_id, version, topic, payload FROM {TABLE} ORDER BY id"
        )
        while rows := cursor.fetchmany(READ_PAGE):
            count += _decode_all(rows)
        return count

    def truncate(self) -> None:
        self.connection.execute(f"DELETE FROM {TABLE}")
        self.connection.execute("DELETE FROM sqlite_sequence WHERE name = ?", (TABLE,))

    def create_view_tables(self) -> None:
        for table in VIEW_TABLES:
            self.connection.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in CREATE_VIEWS:
            self.connection.execute(statement)

    def write_view_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join("?" for _ in columns)
        self.connection.execute("BEGIN")
        self.connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )
        self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


class RawPostgres(RawStore):
    """psycopg 3, autocommit, with explicit transactions for writes."""

    mark = "%s"

    def __init__(self, conninfo: str) -> None:
        self.connection = psycopg.connect(conninfo, autocommit=True)

    def create(self) -> None:
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, "
            "originator_id UUID NOT NULL, version BIGINT NOT NULL, topic TEXT NOT NULL, "
            "payload TEXT NOT NULL, UNIQUE (originator_id, version))"
        )

    def executemany(self, rows: Sequence[RawRow]) -> None:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (originator_id, version, topic, payload) "
                "VALUES (%s, %s, %s, %s)",
                [_as_tuple(row) for row in rows],
            )

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.connection.execute(sql, params).fetchall()

    def copy(self, batch: Sequence[RawRow]) -> None:
        """Insert a batch of rows in one transaction with COPY."""
        statement = f"COPY {TABLE} (originator_id, version, topic, payload) FROM STDIN"
        with (
            self.connection.transaction(),
            self.connection.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in batch:
                copy.write_row(_as_tuple(row))

    def read_and_decode(self) -> int:
        count = 0
        with self.connection.transaction(), self.connection.cursor(name="raw_read") as cursor:
            cursor.itersize = READ_PAGE
            cursor.execute(
                f"SELECT id, originator_id, version, topic, payload FROM {TABLE} ORDER BY id"
            )
            while rows := cursor.fetchmany(READ_PAGE):
                count += _decode_all(rows)
        return count

    def truncate(self) -> None:
        self.connection.execute(f"TRUNCATE {TABLE} RESTART IDENTITY")

    def create_view_tables(self) -> None:
        schema = sql.Identifier(VIEW_TABLES_SCHEMA)
        with self.connection.transaction():
            self.connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            self.connection.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            self.connection.execute(sql.SQL("SET LOCAL search_path = {}").format(schema))
            for statement in CREATE_VIEWS:
                self.connection.execute(statement.replace(" BLOB", " BYTEA"))

    def write_view_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(VIEW_TABLES_SCHEMA, table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
        )
        with (
            self.connection.transaction(),
            self.connection.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self.connection.close()


def _aggregate_query(read: ReadAggregate, mark: str) -> tuple[str, list[Any]]:
    sql = f"SELECT version, topic, payload FROM {TABLE} WHERE originator_id = {mark}"
    params: list[Any] = [str(read.originator_id)]
    if read.after_version is not None:
        sql += f" AND version > {mark}"
        params.append(read.after_version)
    if read.through_version is not None:
        sql += f" AND version <= {mark}"
        params.append(read.through_version)
    sql += " ORDER BY version" + (" DESC" if read.newest_first else "")
    if read.limit is not None:
        sql += f" LIMIT {mark}"
        params.append(read.limit)
    return sql, params


def _decode_all(rows: Sequence[Sequence[Any]]) -> int:
    for row in rows:
        json.loads(row[-1])
    return len(rows)
