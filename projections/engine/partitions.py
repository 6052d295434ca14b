"""The partitions of the event stream: which (programme, region) each event is projected in.

The views of one programme in one region depend only on that schedule's cases or reliefs,
its payroll periods and the standards it is priced with, so the events of different
partitions can be projected apart, in any order between partitions, and give the same rows
as one projection of every event in ledger order. What couples them is only the standards:
tekun is priced from both dibao standards of its region, so a dibao standard belongs to its
own partition and to the region's tekun partition. The positions, their record times and
the audit chain belong to no partition: they are one cheap pass over every event in order.

An aggregate's partitions are decided by its first event and every later event of it
follows: a case's decisions, approvals, payees and returned payments follow the case, a
relief's approval and review follow the relief, a schedule's standards and a payroll's
closes follow the schedule. A household verification of a case follows the case (the
reviews it records are the case's); one requested for a household with no case yet writes
only its own row, so it may go anywhere: to one of ``UNCASED_BUCKETS`` partitions of
verifications, by its id. Aggregates the views do not show (a person's index, an
import's progress, an idempotency record) belong to none: their events are only checked
and given their positions. An event that fits none of these raises
``UnplacedEventError``: projecting it nowhere would quietly lose what it means.

A partition's name is stable, so a projector that claims a partition can keep its own
tracking position under that name and project each partition exactly once, in
transactions of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatch
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.utils import resolve_topic

from domain.cases.case import Case
from domain.cases.programmes import Programme
from domain.payroll_periods import PayrollPeriods
from domain.relief import Relief
from domain.standards import StandardSchedule
from domain.verification.household_verification import HouseholdVerification
from projections.engine.handlers import project
from projections.storage.event_table import StoredRow


class Partition(NamedTuple):
    programme: str
    region: str

    @property
    def name(self) -> str:
        """Stable, and fit for a tracking name: ``dibao-urban/410611``."""
        return f"{self.programme}/{self.region}"


UNCASED_VERIFICATIONS = "household-verification"  # in place of a programme
UNCASED_BUCKETS = 16  # in place of regions: the verification's id modulo 16, in hex

Placed = tuple[Partition, ...]  # empty: the views do not show the aggregate


class UnplacedEventError(Exception):
    """An event no partition is known for; the replay stops rather than drop it."""

    def __init__(self, row: StoredRow, reason: str) -> None:
        super().__init__(
            f"the event at position {row.position} ({row.topic}, version {row.version} of "
            f"{UUID(bytes=row.originator)}) cannot be placed in a partition: {reason}"
        )


@singledispatch
def partitions_of(created: object, placed: Callable[[UUID], Placed | None]) -> Placed:
    """The partitions of the aggregate that ``created`` (its first event) begins, given
    ``placed``, the partitions of the aggregates begun before it. Only the first events of
    aggregates the views do not show fall here."""
    return ()


@partitions_of.register
def _case(created: Case.Granted, placed: Callable[[UUID], Placed | None]) -> Placed:
    return (Partition(created.programme, created.region),)


@partitions_of.register
def _relief(created: Relief.Asked, placed: Callable[[UUID], Placed | None]) -> Placed:
    return (Partition(Programme.TEMPORARY_RELIEF.value, created.region),)


@partitions_of.register
def _schedule(created: StandardSchedule.Opened, placed: Callable[[UUID], Placed | None]) -> Placed:
    """A dibao schedule prices its region's tekun cases too."""
    own = Partition(created.programme, created.region)
    if Programme(created.programme).is_dibao:
        return (own, Partition(Programme.TEKUN.value, created.region))
    return (own,)


@partitions_of.register
def _periods(created: PayrollPeriods.Opened, placed: Callable[[UUID], Placed | None]) -> Placed:
    return (Partition(created.programme, created.region),)


@partitions_of.register
def _verification(
    created: HouseholdVerification.Requested, placed: Callable[[UUID], Placed | None]
) -> Placed:
    if created.case_id is None:
        bucket = created.originator_id.int % UNCASED_BUCKETS
        return (Partition(UNCASED_VERIFICATIONS, f"{bucket:x}"),)
    case = placed(UUID(created.case_id))
    if not case:
        raise LookupError(f"it is of case {created.case_id}, which no earlier event began")
    return case


def _needs_partition(event_class: type[Any]) -> bool:
    """Whether a class of first event decides partitions (rather than none)."""
    return partitions_of.dispatch(event_class) is not partitions_of.dispatch(object)


def _shown(event_class: type[Any]) -> bool:
    """Whether the views show events of this class (a handler is registered for it)."""
    return project.dispatch(event_class) is not project.dispatch(object)


class Placement:
    """Places events in ledger order, remembering each aggregate's partitions.

    Only the first events of aggregates that have partitions are decoded (with ``decode``);
    every other event is placed by its topic and its aggregate.
    """

    def __init__(self, decode: Callable[[StoredRow], Any]) -> None:
        self._decode = decode
        self._aggregates: dict[bytes, Placed] = {}
        self._kinds: dict[str, tuple[bool, bool]] = {}  # topic: decides partitions, shown

    def place(self, row: StoredRow) -> Placed:
        decides, shown = self._kind(row.topic)
        if row.version == 1:
            placed: Placed = ()
            if decides:
                try:
                    placed = partitions_of(self._decode(row), self._placed)
                except LookupError as missing:
                    raise UnplacedEventError(row, str(missing)) from None
            self._aggregates[row.originator] = placed
        elif row.originator not in self._aggregates:
            raise UnplacedEventError(row, "no earlier event began its aggregate")
        placed = self._aggregates[row.originator]
        if not placed and shown:
            raise UnplacedEventError(
                row, "the views show it, but its aggregate belongs to no partition"
            )
        return placed

    def _placed(self, aggregate: UUID) -> Placed | None:
        return self._aggregates.get(aggregate.bytes)

    def _kind(self, topic: str) -> tuple[bool, bool]:
        if topic not in self._kinds:
            event_class = resolve_topic(topic)
            self._kinds[topic] = (_needs_partition(event_class), _shown(event_class))
        return self._kinds[topic]
