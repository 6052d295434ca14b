"""What the ledger asks of its store, decision by decision, for a raw program to repeat.

The recorder's reads and writes are noted as plain operations; each write carries the rows
the ledger stored, with their events' attributes as a plain dict for the raw program to
encode as JSON itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application.ledger import Ledger


@dataclass(frozen=True)
class ReadAggregate:
    originator_id: UUID
    after_version: int | None
    through_version: int | None
    newest_first: bool
    limit: int | None


@dataclass(frozen=True)
class ReadPosition:
    """The ledger position (the highest notification id)."""


@dataclass(frozen=True)
class ReadLog:
    start: int | None
    limit: int


@dataclass(frozen=True)
class RawRow:
    originator_id: UUID
    version: int
    topic: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Write:
    rows: list[RawRow]


Operation = ReadAggregate | ReadPosition | ReadLog | Write
TRACED = ("select_events", "insert_events", "max_notification_id", "select_notifications")


def as_raw_row(ledger: Ledger, stored: StoredEvent) -> RawRow:
    event = ledger.mapper.to_domain_event(stored)
    return RawRow(
        UUID(str(stored.originator_id)), stored.originator_version, stored.topic, vars(event)
    )


class StorageTrace:
    """Notes every recorder call the ledger makes until ``stop()``."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._recorder: Any = ledger.recorder
        self.operations: list[Operation] = []
        self._wrap("select_events", self._on_select_events)
        self._wrap("insert_events", self._on_insert_events)
        self._wrap("max_notification_id", lambda *a, **k: ReadPosition())
        self._wrap("select_notifications", self._on_select_notifications)

    def take(self) -> list[Operation]:
        taken, self.operations = self.operations, []
        return taken

    def stop(self) -> None:
        for name in TRACED:
            vars(self._recorder).pop(name, None)

    def _wrap(self, name: str, note: Callable[..., Operation]) -> None:
        original = getattr(self._recorder, name)

        def traced(*args: Any, **kwargs: Any) -> Any:
            self.operations.append(note(*args, **kwargs))
            return original(*args, **kwargs)

        setattr(self._recorder, name, traced)

    @staticmethod
    def _on_select_events(
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Operation:
        return ReadAggregate(UUID(str(originator_id)), gt, lte, desc, limit)

    def _on_insert_events(self, stored_events: list[StoredEvent], **_: Any) -> Operation:
        return Write([as_raw_row(self._ledger, stored) for stored in stored_events])

    @staticmethod
    def _on_select_notifications(start: int | None, limit: int, *_: Any, **__: Any) -> Operation:
        return ReadLog(start, limit)
