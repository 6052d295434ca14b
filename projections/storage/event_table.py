"""The ledger's event table as stored, beyond what the library's recorder reads of it.

The library reads events by aggregate, whatever their position, and by position from 1
up. Verify must account for every stored row: a row forged at position -1 is read when its
aggregate is loaded, and never by a walk from 1. So this adapter tells the table's extent
(its rows, its lowest and highest position), reads the rows from any position as the
columns the audit chain and the signatures cover (the library's notifications cost more to
build than the rows cost to read), finds where an event read by aggregate is stored, and
keeps the signed checkpoints of the chain in ``ledger_checkpoints``, created with the
event table by the ledger's recorders (``projections.storage.event_store``).
"""

from __future__ import annotations

import sqlite3
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, Notification, OperationalError
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

CHECKPOINTS_TABLE = "ledger_checkpoints"
PAGE = 5_000  # rows read at a time by a walk over the table


@dataclass(frozen=True)
class Extent:
    """How many rows the event table holds, and its lowest and highest position."""

    count: int
    lowest: int | None
    highest: int | None


class StoredRow(NamedTuple):
    """An event as stored: the columns the audit chain and the signatures cover."""

    position: int
    originator: bytes  # the originator id's 16 bytes
    version: int
    topic: str
    state: bytes


def stored_row(notification: Notification) -> StoredRow:
    return StoredRow(
        notification.id,
        _uuid(notification.originator_id).bytes,
        notification.originator_version,
        notification.topic,
        notification.state,
    )


def notification_of(row: StoredRow) -> Notification:
    """``row`` as the library's mapper decodes it."""
    return Notification(
        id=row.position,
        originator_id=UUID(bytes=row.originator),
        originator_version=row.version,
        topic=row.topic,
        state=row.state,
    )


class EventTable(ABC):
    @staticmethod
    def of(recorder: ApplicationRecorder) -> EventTable:
        if isinstance(recorder, SQLiteApplicationRecorder):
            return _SQLiteTable(recorder)
        if isinstance(recorder, PostgresApplicationRecorder):
            return _PostgresTable(recorder)
        if isinstance(recorder, POPOApplicationRecorder):
            return _MemoryTable(recorder)
        raise TypeError(f"no event table adapter for {type(recorder).__name__}")

    @abstractmethod
    def extent(self) -> Extent: ...

    @abstractmethod
    def rows(self, start: int, limit: int) -> list[StoredRow]:
        """Up to ``limit`` rows from position ``start`` on, in position order."""

    def pages(self, start: int = 1, until: int | None = None) -> Iterator[list[StoredRow]]:
        """Every row from position ``start`` on (up to ``until``), in position order, a
        page of ``PAGE`` rows at a time."""
        while page := self.rows(start, PAGE):
            if until is not None and page[-1].position > until:
                page = [row for row in page if row.position <= until]
                if page:
                    yield page
                return
            yield page
            start = page[-1].position + 1

    @abstractmethod
    def position_of(self, originator_id: UUID | str, version: int) -> int | None:
        """Where the event ``version`` of ``originator_id`` is stored (None: nowhere)."""

    @abstractmethod
    def checkpoint_lines(self, *, adoptions_only: bool = False) -> list[str]:
        """The stored checkpoints, as JSON lines, in position order."""

    @abstractmethod
    def add_checkpoint(self, position: int, adoption: bool, line: str) -> None: ...


def _uuid(originator_id: UUID | str) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)


def _stored_uuid_bytes(text: str) -> bytes:
    # The library stores an id as its 32 hexadecimal digits; a row written otherwise is
    # read as the library reads it.
    return bytes.fromhex(text) if len(text) == 32 else UUID(text).bytes


class _SQLiteTable(EventTable):
    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self.recorder = recorder
        self.table = recorder.events_table_name

    def extent(self) -> Extent:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT count(*), min(rowid), max(rowid) FROM {self.table}")
            count, lowest, highest = cursor.fetchone()
        return Extent(int(count), lowest, highest)

    def rows(self, start: int, limit: int) -> list[StoredRow]:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT rowid, originator_id, originator_version, topic, state"
                f" FROM {self.table} WHERE rowid >= ? ORDER BY rowid LIMIT ?",
                (start, limit),
            )
            return [
                StoredRow(position, _stored_uuid_bytes(originator), version, topic, state)
                for position, originator, version, topic, state in cursor.fetchall()
            ]

    def position_of(self, originator_id: UUID | str, version: int) -> int | None:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT rowid FROM {self.table}"
                " WHERE originator_id = ? AND originator_version = ?",
                (_uuid(originator_id).hex, version),
            )
            row = cursor.fetchone()
        return None if row is None else int(row[0])

    def checkpoint_lines(self, *, adoptions_only: bool = False) -> list[str]:
        where = " WHERE adoption = 1" if adoptions_only else ""
        try:
            with self.recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT record FROM {CHECKPOINTS_TABLE}{where} ORDER BY position, rowid"
                )
                return [str(row[0]) for row in cursor.fetchall()]
        except (sqlite3.OperationalError, OperationalError) as error:
            if "no such table" in str(error):
                return []
            raise

    def add_checkpoint(self, position: int, adoption: bool, line: str) -> None:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {CHECKPOINTS_TABLE} (position, adoption, record) VALUES (?, ?, ?)",
                (position, int(adoption), line),
            )


class _PostgresTable(EventTable):
    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        self.recorder = recorder
        schema = recorder.datastore.schema
        self.table = Identifier(schema, recorder.events_table_name)
        self.checkpoints = Identifier(schema, CHECKPOINTS_TABLE)

    @contextmanager
    def _cursor(self, *, commit: bool) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def extent(self) -> Extent:
        with self._cursor(commit=False) as cursor:
            cursor.execute(
                SQL(
                    "SELECT count(*) AS count, min(notification_id) AS lowest,"
                    " max(notification_id) AS highest FROM {}"
                ).format(self.table)
            )
            row = cursor.fetchone()
        return Extent(int(row["count"]), row["lowest"], row["highest"])

    def rows(self, start: int, limit: int) -> list[StoredRow]:
        with self._cursor(commit=False) as cursor:
            cursor.execute(
                SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state"
                    " FROM {} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
                ).format(self.table),
                (start, limit),
            )
            return [
                StoredRow(
                    row["notification_id"],
                    _uuid(row["originator_id"]).bytes,
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]

    def position_of(self, originator_id: UUID | str, version: int) -> int | None:
        with self._cursor(commit=False) as cursor:
            cursor.execute(
                SQL(
                    "SELECT notification_id FROM {} WHERE originator_id = %s"
                    " AND originator_version = %s"
                ).format(self.table),
                (_uuid(originator_id), version),
            )
            row = cursor.fetchone()
        return None if row is None else int(row["notification_id"])

    def checkpoint_lines(self, *, adoptions_only: bool = False) -> list[str]:
        where = SQL(" WHERE adoption") if adoptions_only else SQL("")
        try:
            with self._cursor(commit=False) as cursor:
                cursor.execute(
                    SQL("SELECT record FROM {}{} ORDER BY position, ctid").format(
                        self.checkpoints, where
                    )
                )
                return [str(row["record"]) for row in cursor.fetchall()]
        except psycopg.errors.UndefinedTable:
            return []

    def add_checkpoint(self, position: int, adoption: bool, line: str) -> None:
        with self._cursor(commit=True) as cursor:
            cursor.execute(
                SQL("INSERT INTO {} (position, adoption, record) VALUES (%s, %s, %s)").format(
                    self.checkpoints
                ),
                (position, adoption, line),
            )


_MEMORY_CHECKPOINTS: weakref.WeakKeyDictionary[POPOApplicationRecorder, list[tuple[int, bool, str]]]
_MEMORY_CHECKPOINTS = weakref.WeakKeyDictionary()


class _MemoryTable(EventTable):
    """The library's in-memory recorder: positions are list indexes from 1, and its
    checkpoints live as long as it does."""

    def __init__(self, recorder: POPOApplicationRecorder) -> None:
        self.recorder = recorder

    def extent(self) -> Extent:
        highest = self.recorder.max_notification_id()
        return Extent(highest or 0, 1 if highest else None, highest)

    def rows(self, start: int, limit: int) -> list[StoredRow]:
        return [stored_row(n) for n in self.recorder.select_notifications(start, limit)]

    def position_of(self, originator_id: UUID | str, version: int) -> int | None:
        for notification in self.recorder.select_notifications(start=1, limit=2**62):
            if (
                _uuid(notification.originator_id) == _uuid(originator_id)
                and notification.originator_version == version
            ):
                return notification.id
        return None

    def checkpoint_lines(self, *, adoptions_only: bool = False) -> list[str]:
        stored = sorted(_MEMORY_CHECKPOINTS.get(self.recorder, []), key=lambda c: c[0])
        return [line for _, adoption, line in stored if adoption or not adoptions_only]

    def add_checkpoint(self, position: int, adoption: bool, line: str) -> None:
        _MEMORY_CHECKPOINTS.setdefault(self.recorder, []).append((position, adoption, line))
