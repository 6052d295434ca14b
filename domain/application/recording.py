"""How the ledger records: the unit of work a decision is stamped, read and saved through.

The caller chooses the unit of work and hands it to the command, as cosmicpython hands one
to each handler; nothing ambient decides what a save does:
- ``SaveNow``: stamped with the server's clock and saved at once (the default of every
  command);
- ``SaveIdempotently``: the same, with the record of the request's answer saved with the
  decision, so a retry with the same key records nothing twice;
- ``ImportBatch.at(time)``: on the import path only, stamped with the decision's original
  time, which is never earlier than the latest stored one, and buffered with the decisions
  before it, to be saved together, in the order they were made;
- ``SaveAt``: stamped with an original time and saved at once (tests that load history).
A decision's aggregates are saved together in one call of the event store's ``put``, one
transaction. A save that loses a race to another raises ``ConcurrentDecisionError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification, Recording, StoredEvent

from domain.application.idempotency import IdempotencyRecord
from domain.application.import_progress import ImportProgress
from domain.errors import (
    ConcurrentDecisionError,
    EffectiveMonthError,
    InvalidInputError,
    RecordTimeError,
)
from domain.months import Month, parse_month
from domain.people.index import PersonIndex

# The aggregates an import keeps at hand, the least recently used dropped first: about 4 KB
# each, so at most some 800 MB. A decade at scale 1 touches about 120,000 a year.
MAX_IMPORT_AGGREGATES = 200_000

A = TypeVar("A")


@dataclass(frozen=True)
class Receipt:
    """What a recorded decision answers: the aggregate it changed and its ledger position."""

    id: UUID
    position: int


class UnitOfWork(ABC):
    """How one decision is stamped, read and saved. A command takes its time from ``time()``
    once, reads the aggregates it decides on through ``load`` and saves them with one
    ``save``."""

    def __init__(self, app: RecordingApplication) -> None:
        self.app = app

    @abstractmethod
    def time(self) -> datetime:
        """The decision's time, stamped on its events."""

    def load(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """An aggregate of ``kind`` as this unit of work sees it (None: no such one)."""
        return self.app.stored(kind, aggregate_id)

    @abstractmethod
    def save(self, *aggregates: Any) -> int:
        """Save the decision's aggregates together; its ledger position (0: not yet known)."""


class SaveNow(UnitOfWork):
    """Stamped with the server's clock and saved at once, in one put of the event store."""

    def time(self) -> datetime:
        return datetime.now(UTC)

    def save(self, *aggregates: Any) -> int:
        return self._put(aggregates)[-1].notification.id

    def _put(self, aggregates: Sequence[Any]) -> list[Recording[UUID]]:
        try:
            return self.app.store(
                [e for aggregate in aggregates for e in aggregate.collect_events()]
            )
        except IntegrityError:
            raise ConcurrentDecisionError(
                f"another decision about {_about(aggregates)} was recorded at the same time; "
                "reload and try again"
            ) from None


class SaveAt(SaveNow):
    """Stamped with an original time, never earlier than the latest stored one, and saved at
    once: history loaded by tests as it was known on a past date."""

    def __init__(self, app: RecordingApplication, at: datetime) -> None:
        super().__init__(app)
        _check_original_time(at, app.latest_recorded_time())
        self._at = at

    def time(self) -> datetime:
        return self._at


class SaveIdempotently(SaveNow):
    """Stamped with the server's clock and saved at once, with an ``IdempotencyRecord`` of the
    request's answer in the same put: either both are stored or neither is."""

    def __init__(self, app: RecordingApplication, actor: str, key: str, request_hash: str) -> None:
        super().__init__(app)
        self.actor = actor
        self.key = key
        self.request_hash = request_hash

    def save(self, *aggregates: Any) -> int:
        record = IdempotencyRecord.answer(
            self.actor, self.key, self.request_hash, aggregates[0].id, self.time()
        )
        # The position of the decision: the record is saved after it.
        return self._put((*aggregates, record))[-2].notification.id


class ImportBatch:
    """Decisions being imported: their events in the order they happened, and the aggregates
    they read or changed, so that later decisions in the batch see them before they are
    saved, and each is read from the store once while it is among the most recently used
    (``MAX_IMPORT_AGGREGATES``). As outside an import, a change another
    writer makes meanwhile to an aggregate the import then saves makes that save fail.

    ``at(time)`` is the unit of work of one decision made at ``time``; its receipt carries
    position 0, as positions are known only once saved. ``flush()`` saves what was decided
    so far, and so does the end of a ``with`` block that raised nothing. A refused decision
    raises before anything of it is kept; what was flushed before stays."""

    def __init__(
        self,
        app: RecordingApplication,
        saved: Callable[[Sequence[Recording[UUID]]], None] | None = None,
    ) -> None:
        """``saved`` is given what each flush saved."""
        self.app = app
        self.saved = saved
        self.latest_time = app.latest_recorded_time()
        self.events: list[Any] = []
        # Read or changed, the least recently used first; None: looked for, and not stored.
        self.aggregates: OrderedDict[UUID, Any | None] = OrderedDict()

    def __enter__(self) -> ImportBatch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.flush()

    def at(self, time: datetime) -> UnitOfWork:
        """The unit of work of a decision made at ``time``, which may not be earlier than
        the latest decision stored or imported before it."""
        _check_original_time(time, self.latest_time)
        self.latest_time = time
        return _Imported(self, time)

    def load(self, kind: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id in self.aggregates:
            self.aggregates.move_to_end(aggregate_id)
            found = self.aggregates[aggregate_id]
        else:
            found = self.app.stored(object, aggregate_id)
            self.aggregates[aggregate_id] = found
        return found if isinstance(found, kind) else None

    def expect(self, aggregate_ids: Iterable[UUID]) -> None:
        """Ask in one query which of ``aggregate_ids`` are stored, before the decisions that
        look for them: those that are not are then known not stored, as after a lookup
        that found nothing, without a lookup each."""
        unknown = list(dict.fromkeys(i for i in aggregate_ids if i not in self.aggregates))
        stored = self.app.stored_among(unknown) if unknown else set()
        if stored is None:
            return
        for aggregate_id in unknown:
            if aggregate_id not in stored:
                self.aggregates[aggregate_id] = None

    def add(self, aggregates: Iterable[Any]) -> None:
        for aggregate in aggregates:
            self.events.extend(aggregate.collect_events())
            self.aggregates[aggregate.id] = aggregate
            self.aggregates.move_to_end(aggregate.id)

    def flush(self) -> int:
        """Save the decisions imported so far; the ledger position reached."""
        if not self.events:
            return self.app.position
        try:
            recordings = self.app.store(self.events)
        except BaseException:
            self.forget()
            raise
        finally:
            self.events.clear()
        if self.saved is not None:
            self.saved(recordings)
        # Aggregates stay at hand for the next decisions, up to a bound on memory. Only
        # saved ones are dropped: an unsaved change is never lost to the bound.
        while len(self.aggregates) > MAX_IMPORT_AGGREGATES:
            self.aggregates.popitem(last=False)
        return recordings[-1].notification.id

    def forget(self) -> None:
        self.aggregates.clear()


class _Imported(UnitOfWork):
    """One decision of an import batch, stamped with its original time."""

    def __init__(self, batch: ImportBatch, at: datetime) -> None:
        super().__init__(batch.app)
        self._batch = batch
        self._at = at

    def time(self) -> datetime:
        return self._at

    def load(self, kind: type[A], aggregate_id: UUID) -> A | None:
        return self._batch.load(kind, aggregate_id)

    def save(self, *aggregates: Any) -> int:
        self._batch.add(aggregates)
        return 0


def _about(aggregates: Sequence[Any]) -> str:
    """What a decision's aggregates are about, in words: its case, relief, standards or
    payroll periods, and the persons it names (never by their identity numbers)."""
    persons = any(isinstance(a, PersonIndex) for a in aggregates)
    main = [str(a) for a in aggregates if not isinstance(a, PersonIndex | IdempotencyRecord)]
    if not main:
        return "the same persons"
    return main[0] + (" or a person it names" if persons else "")


def _check_original_time(at: datetime, latest: datetime | None) -> None:
    if at.tzinfo is None:
        raise InvalidInputError("an original decision time needs a time zone", field="at")
    if latest is not None and at < latest:
        raise RecordTimeError(
            f"an imported decision at {at.isoformat()} is earlier than the latest stored "
            f"one at {latest.isoformat()}; the ledger's record time never goes back"
        )


def _apply_in_turn(aggregate: Any, events: Iterable[Any]) -> Any:
    """Rebuild an aggregate from its events: the library's projector function without its
    runtime protocol assertion on every event, which is slow on Python 3.11."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class RecordingApplication(Application[UUID]):
    """The eventsourcing Application with the ledger's ways of recording."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self._reached = 0  # a position the ledger has reached (``reached``)
        # A mapper chosen by MAPPER_TOPIC that needs the ledger's settings and recorder (the
        # one that signs and checks every event) is given them once both exist.
        bind = getattr(self.mapper, "bind", None)
        if callable(bind):
            bind(self.env, self.recorder)
        # ``store`` saves without taking snapshots or updating an aggregate cache; with a
        # cache, later decisions would read aggregates older than the store's.
        if self.snapshots is not None or self.repository.cache is not None:
            raise ValueError(
                "the ledger keeps no snapshots and no aggregate cache: unset "
                "IS_SNAPSHOTTING_ENABLED and AGGREGATE_CACHE_MAXSIZE"
            )

    def _unit(self, uow: UnitOfWork | None) -> UnitOfWork:
        """The unit of work a command was given; by default saved now, by the server's clock."""
        if uow is None:
            return SaveNow(self)
        if uow.app is not self:
            raise ValueError("a unit of work saves to the ledger it was made for")
        return uow

    def stored(self, kind: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        """An aggregate of ``kind`` as stored, now or at ``version`` (None: no such one)."""
        try:
            found = self.repository.get(
                aggregate_id, version=version, projector_func=_apply_in_turn
            )
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def stored_among(self, aggregate_ids: Sequence[UUID]) -> set[UUID] | None:
        """Which of ``aggregate_ids`` are stored, asked in one query; None when the
        recorder cannot tell in one (the in-memory one)."""
        among = getattr(self.recorder, "stored_among", None)
        return set(among(aggregate_ids)) if callable(among) else None

    def store(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Store events in one transaction, as ``save()`` does, without its check of every
        object against the library's runtime protocols: on Python 3.11 those checks cost a
        small decision as much as its domain rules. The ledger takes no snapshots and keeps
        no aggregate cache (``__init__`` refuses both), which ``save()`` would also see to."""
        stored = self._stored_forms(events)
        positions = self.recorder.insert_events(stored)
        if positions is None:
            raise TypeError("the ledger's recorder gives each event its position")
        return [
            Recording(
                event,
                Notification(
                    originator_id=form.originator_id,
                    originator_version=form.originator_version,
                    topic=form.topic,
                    state=form.state,
                    id=position,
                ),
            )
            for event, form, position in zip(events, stored, positions, strict=True)
        ]

    def _stored_forms(self, events: Sequence[Any]) -> list[StoredEvent]:
        # A mapper that encodes a save's events together (the signing one signs a long
        # run on two threads) is given them together.
        together = getattr(self.mapper, "to_stored_events", None)
        if callable(together):
            return list(together(events))
        return [self.mapper.to_stored_event(event) for event in events]

    # Imports.

    def imported_through(self, digest: str) -> int:
        """The last line of the file with this SHA-256 that an import saved (0: none)."""
        progress = self.stored(ImportProgress, ImportProgress.id_for(digest))
        return progress.through_line if progress is not None else 0

    def record_import_progress(self, digest: str, through_line: int, uow: UnitOfWork) -> None:
        """Note, with the decisions imported so far, how far the file has come."""
        uow = self._unit(uow)
        at = uow.time()
        progress = uow.load(ImportProgress, ImportProgress.id_for(digest))
        progress = progress or ImportProgress.start(digest, at)
        progress.advance(through_line, at)
        uow.save(progress)

    # Idempotency.

    def idempotency_record(self, actor: str, key: str) -> IdempotencyRecord | None:
        return self.stored(IdempotencyRecord, IdempotencyRecord.id_for(actor, key))

    # Time and position.

    def latest_recorded_time(self) -> datetime | None:
        position = self.position
        if not position:
            return None
        (notification,) = self.recorder.select_notifications(start=position, limit=1)
        event = self.mapper.to_domain_event(notification)
        recorded: datetime = getattr(event, "timestamp")  # noqa: B009
        return recorded

    @property
    def position(self) -> int:
        """The ledger position of the latest recorded event (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def reached(self, position: int) -> bool:
        """Whether ``position`` is 0 or a position the ledger has reached. Positions only
        grow, so the database is asked only about one beyond the last it answered."""
        if not 0 <= position <= self._reached:
            self._reached = self.position
        return 0 <= position <= self._reached

    def _effective(self, effective: str | Month, at: datetime) -> Month:
        month = parse_month(effective)
        latest = Month.at(at) + 1
        if month > latest:
            raise EffectiveMonthError(
                f"a decision recorded in {Month.at(at)} takes effect no later than {latest}, "
                f"not {month}",
                field="effective",
            )
        return month
