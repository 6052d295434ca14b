"""The stored events as a superuser sees them: read, change, delete and insert rows at any
position, bypassing the ledger, its triggers and its constraints; and forged events to
insert: a decision the ledger never took, unsigned or signed with another key."""

from __future__ import annotations

import base64
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent

from domain.application.ledger import Ledger
from domain.application.recording import UnitOfWork
from domain.months import Month
from projections.storage.keys import DEVELOPMENT_KEY_ID, Keyring
from projections.storage.signing import seal

EVENTS = "public.ledger_events"


class EventTable(Protocol):
    """Direct access to the stored events, bypassing the ledger and any trigger."""

    def state(self, position: int) -> bytes: ...

    def row(self, position: int) -> StoredEvent: ...

    def replace_state(self, position: int, state: bytes) -> None: ...

    def delete(self, position: int) -> None: ...

    def insert(self, position: int | None, event: StoredEvent) -> int:
        """Insert ``event`` at ``position`` (None: the next one); its position."""

    def drop_position_guard(self) -> None:
        """Drop what refuses positions below 1 (a superuser may)."""

    def delete_checkpoints(self) -> None: ...


class PostgresAsSuperuser:
    def __init__(self, admin_url: str) -> None:
        self._url = admin_url

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self._url, autocommit=True) as connection:
            connection.execute("SET session_replication_role = replica")
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def state(self, position: int) -> bytes:
        return self.row(position).state

    def row(self, position: int) -> StoredEvent:
        (found,) = self._execute(
            f"SELECT originator_id, originator_version, topic, state FROM {EVENTS}"
            " WHERE notification_id = %s",
            (position,),
        )
        return StoredEvent(found[0], found[1], found[2], bytes(found[3]))

    def replace_state(self, position: int, state: bytes) -> None:
        self._execute(
            f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s", (state, position)
        )

    def delete(self, position: int) -> None:
        self._execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (position,))

    def insert(self, position: int | None, event: StoredEvent) -> int:
        columns = "originator_id, originator_version, topic, state"
        values: tuple[Any, ...] = (
            event.originator_id,
            event.originator_version,
            event.topic,
            event.state,
        )
        if position is not None:
            columns += ", notification_id"
            values += (position,)
        marks = ", ".join(["%s"] * len(values))
        ((inserted,),) = self._execute(
            f"INSERT INTO {EVENTS} ({columns}) VALUES ({marks}) RETURNING notification_id", values
        )
        return int(inserted)

    def drop_position_guard(self) -> None:
        self._execute(
            f"ALTER TABLE {EVENTS} DROP CONSTRAINT IF EXISTS ledger_events_positions_start_at_1"
        )

    def delete_checkpoints(self) -> None:
        self._execute("DELETE FROM public.ledger_checkpoints")


class SQLiteFile:
    """The library's SQLite table is ``stored_events``; a position is its rowid."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self._path)
        try:
            with connection:
                return connection.execute(statement, params).fetchall()
        finally:
            connection.close()

    def state(self, position: int) -> bytes:
        return self.row(position).state

    def row(self, position: int) -> StoredEvent:
        (found,) = self._execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events"
            " WHERE rowid = ?",
            (position,),
        )
        return StoredEvent(UUID(found[0]), found[1], found[2], bytes(found[3]))

    def replace_state(self, position: int, state: bytes) -> None:
        self._execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, position))

    def delete(self, position: int) -> None:
        self._execute("DELETE FROM stored_events WHERE rowid = ?", (position,))

    def insert(self, position: int | None, event: StoredEvent) -> int:
        originator = UUID(str(event.originator_id)).hex
        values = (originator, event.originator_version, event.topic, event.state)
        if position is None:
            self._execute(
                "INSERT INTO stored_events (originator_id, originator_version, topic, state)"
                " VALUES (?, ?, ?, ?)",
                values,
            )
        else:
            self._execute(
                "INSERT INTO stored_events (rowid, originator_id, originator_version, topic,"
                " state) VALUES (?, ?, ?, ?, ?)",
                (position, *values),
            )
        ((inserted,),) = self._execute(
            "SELECT rowid FROM stored_events WHERE originator_id = ? AND originator_version = ?",
            (originator, event.originator_version),
        )
        return int(inserted)

    def drop_position_guard(self) -> None:
        for trigger in ("positions_start_at_1", "positions_stay_above_0"):
            self._execute(f"DROP TRIGGER IF EXISTS stored_events_{trigger}")

    def delete_checkpoints(self) -> None:
        self._execute("DELETE FROM ledger_checkpoints")


class Capture(UnitOfWork):
    """A unit of work that keeps a decision's events instead of saving them."""

    def __init__(self, app: Ledger) -> None:
        super().__init__(app)
        self.events: list[Any] = []

    def time(self) -> datetime:
        return datetime.now(UTC)

    def save(self, *aggregates: Any) -> int:
        self.events += [event for aggregate in aggregates for event in aggregate.collect_events()]
        return 0


def forged_exit(ledger: Ledger, case_id: UUID, effective: Month) -> StoredEvent:
    """A ``Case.Exited`` the ledger never recorded, encoded as the ledger encodes, unsigned:
    what a superuser without the signing key can write."""
    capture = Capture(ledger)
    ledger.exit(case_id, effective, actor="nobody", reason="forged", uow=capture)
    (exited,) = [e for e in capture.events if type(e).__qualname__ == "Case.Exited"]
    unsigned = Mapper[UUID](transcoder=ledger.mapper.transcoder)
    return unsigned.to_stored_event(exited)


def another_key() -> Keyring:
    """A key the ledger does not hold, under the ledger's own key id."""
    return Keyring.from_env(
        {
            "LEDGER_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
            "LEDGER_SIGNING_KEY_ID": DEVELOPMENT_KEY_ID,
        }
    )


def signed_with(keyring: Keyring, event: StoredEvent) -> StoredEvent:
    return seal(event, keyring)
