"""How the ledger records: the clock, import batches, idempotency and saving.

A decision is stamped with the server's clock, or, on the import path only, with its
original time, which is never earlier than the latest stored one. An import saves its
decisions in batches, in the order they were made. A request with an idempotency key saves
the record of its answer with the decision. A save that loses a race to another raises
``ConcurrentDecisionError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording

from domain.application.idempotency import IdempotencyRecord
from domain.application.import_progress import ImportProgress
from domain.errors import (
    ConcurrentDecisionError,
    EffectiveMonthError,
    InvalidInputError,
    RecordTimeError,
)
from domain.months import Month, parse_month

MAX_IMPORT_AGGREGATES = 50_000

A = TypeVar("A")

_original_time: ContextVar[datetime | None] = ContextVar("original_time", default=None)


@dataclass(frozen=True)
class IdempotentRequest:
    actor: str
    key: str
    request_hash: str


_idempotent_request: ContextVar[IdempotentRequest | None] = ContextVar(
    "idempotent_request", default=None
)


@dataclass
class _ImportBatch:
    """Decisions being imported: their events in the order they happened, and the aggregates
    they read or changed, so that later decisions in the batch see them before they are
    saved, and each is read from the store once. As outside an import, a change another
    writer makes meanwhile to an aggregate the import then saves makes that save fail."""

    latest_time: datetime | None
    events: list[Any] = field(default_factory=list)
    aggregates: dict[UUID, Any] = field(default_factory=dict)
    missing: set[UUID] = field(default_factory=set)  # looked for, and not stored

    def forget(self) -> None:
        self.aggregates.clear()
        self.missing.clear()


_import_batch: ContextVar[_ImportBatch | None] = ContextVar("import_batch", default=None)


def _apply_in_turn(aggregate: Any, events: Iterable[Any]) -> Any:
    """Rebuild an aggregate from its events: the library's projector function without its
    runtime protocol assertion on every event, which is slow on Python 3.11."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@dataclass(frozen=True)
class Receipt:
    """What a recorded decision answers: the aggregate it changed and its ledger position."""

    id: UUID
    position: int


class RecordingApplication(Application[UUID]):
    """The eventsourcing Application with the ledger's ways of recording."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # ``_store`` saves without taking snapshots or updating an aggregate cache; with a
        # cache, later decisions would read aggregates older than the store's.
        if self.snapshots is not None or self.repository.cache is not None:
            raise ValueError(
                "the ledger keeps no snapshots and no aggregate cache: unset "
                "IS_SNAPSHOTTING_ENABLED and AGGREGATE_CACHE_MAXSIZE"
            )

    # Time.

    @contextmanager
    def original_time(self, at: datetime) -> Iterator[None]:
        """Record the decisions made inside with ``at`` as their time (the import path)."""
        if at.tzinfo is None:
            raise InvalidInputError("an original decision time needs a time zone", field="at")
        batch = _import_batch.get()
        latest = batch.latest_time if batch is not None else self.latest_recorded_time()
        if latest is not None and at < latest:
            raise RecordTimeError(
                f"an imported decision at {at.isoformat()} is earlier than the latest stored "
                f"one at {latest.isoformat()}; the ledger's record time never goes back"
            )
        if batch is not None:
            batch.latest_time = at
        token = _original_time.set(at)
        try:
            yield
        finally:
            _original_time.reset(token)

    @contextmanager
    def importing(self) -> Iterator[None]:
        """Import mode: decisions made inside are saved together, in the order they were
        made, when ``flush()`` is called and when the block ends. Receipts then carry
        position 0, as positions are known only once saved. A refused decision raises
        before anything of it is kept; what was flushed before stays."""
        batch = _ImportBatch(self.latest_recorded_time())
        token = _import_batch.set(batch)
        try:
            yield
            self.flush()
        finally:
            _import_batch.reset(token)

    def flush(self) -> int:
        """Save the decisions imported so far; the ledger position reached."""
        batch = _import_batch.get()
        if batch is None or not batch.events:
            return self.position
        try:
            recordings = self._store(batch.events)
        except BaseException:
            batch.forget()
            raise
        finally:
            batch.events.clear()
        # Aggregates stay at hand for the next decisions, up to a bound on memory.
        if len(batch.aggregates) + len(batch.missing) > MAX_IMPORT_AGGREGATES:
            batch.forget()
        return recordings[-1].notification.id

    def imported_through(self, digest: str) -> int:
        """The last line of the file with this SHA-256 that an import saved (0: none)."""
        progress = self._load(ImportProgress, ImportProgress.id_for(digest))
        return progress.through_line if progress is not None else 0

    def record_import_progress(self, digest: str, through_line: int) -> None:
        """Note, with the decisions imported so far, how far the file has come."""
        at = self._now()
        progress = self._load(ImportProgress, ImportProgress.id_for(digest))
        progress = progress or ImportProgress.start(digest, at)
        progress.advance(through_line, at)
        self._save(progress)

    def _load(self, kind: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        """An aggregate of ``kind``, from the import batch or the store (None: no such one)."""
        batch = _import_batch.get()
        if batch is None or version is not None:
            found = self._stored(aggregate_id, version)
        elif aggregate_id in batch.aggregates:
            found = batch.aggregates[aggregate_id]
        elif aggregate_id in batch.missing:
            return None
        else:
            found = self._stored(aggregate_id, None)
            if found is None:
                batch.missing.add(aggregate_id)
            else:
                batch.aggregates[aggregate_id] = found
        return found if isinstance(found, kind) else None

    def _stored(self, aggregate_id: UUID, version: int | None) -> Any:
        try:
            return self.repository.get(aggregate_id, version=version, projector_func=_apply_in_turn)
        except AggregateNotFoundError:
            return None

    def _store(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Store events in one transaction, as ``save()`` does, without its check of every
        object against the library's runtime protocols: on Python 3.11 those checks cost a
        small decision as much as its domain rules. The ledger takes no snapshots and keeps
        no aggregate cache (``__init__`` refuses both), which ``save()`` would also see to."""
        return self.events.put(events)

    def _now(self) -> datetime:
        return _original_time.get() or datetime.now(UTC)

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

    @contextmanager
    def idempotent(self, actor: str, key: str, request_hash: str) -> Iterator[None]:
        """Save an ``IdempotencyRecord`` with the decision made inside, in the same save."""
        token = _idempotent_request.set(IdempotentRequest(actor, key, request_hash))
        try:
            yield
        finally:
            _idempotent_request.reset(token)

    def idempotency_record(self, actor: str, key: str) -> IdempotencyRecord | None:
        return self._load(IdempotencyRecord, IdempotencyRecord.id_for(actor, key))

    def _save(self, *aggregates: Any) -> int:
        batch = _import_batch.get()
        if batch is not None:
            for aggregate in aggregates:
                batch.events.extend(aggregate.collect_events())
                batch.aggregates[aggregate.id] = aggregate
            return 0
        request = _idempotent_request.get()
        if request is not None:
            record = IdempotencyRecord.answer(
                request.actor, request.key, request.request_hash, aggregates[0].id, self._now()
            )
            aggregates = (*aggregates, record)
        try:
            recordings = self._store(
                [event for aggregate in aggregates for event in aggregate.collect_events()]
            )
        except IntegrityError:
            raise ConcurrentDecisionError(
                "another decision about the same case or person was recorded at the same "
                "time; reload and try again"
            ) from None
        # The position of the decision: the record, when there is one, is saved after it.
        return recordings[-2 if request is not None else -1].notification.id
