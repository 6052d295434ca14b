"""One index per person of the cases they hold, kept so that who-may-hold-what stays true.

Every command that opens, shortens or voids a case, or changes who is in a household, saves
the index of each person it concerns in the same ``save()``. Two racing decisions for one
person (two grants, or two households taking them in) then both write the index's next
version, and the database lets only one of them through.

A person may hold one case over several intervals: a member who leaves a household and
later joins it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.cases.programmes import EXCLUSIVE_GROUPS, Programme
from domain.errors import ExclusiveHoldingError
from domain.months import Month

_INDEX_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:person-index")


@dataclass(frozen=True, slots=True)
class Holding:
    """A case a person is in, open for the months ``start`` up to (not including) ``end``."""

    programme: Programme
    start: Month
    end: Month | None

    def overlaps(self, start: Month, end: Month | None) -> bool:
        return (self.end is None or start < self.end) and (end is None or self.start < end)


def excludes(held: Programme, wanted: Programme) -> bool:
    groups = {held.exclusion_group, wanted.exclusion_group}
    return len(groups) == 1 or frozenset(groups) in EXCLUSIVE_GROUPS


class PersonIndex(Aggregate):
    class Event(Aggregate.Event):
        pass

    class Started(Event, Aggregate.Created):
        pass

    class HoldingOpened(Event):
        case_id: UUID
        programme: str
        start: Month
        end: Month | None

        def apply(self, index: PersonIndex) -> None:
            held = Holding(Programme(self.programme), self.start, self.end)
            index.holdings.setdefault(self.case_id, []).append(held)

    class HoldingEnded(Event):
        """The case ends for the person from ``end``: every interval of it is cut there."""

        case_id: UUID
        end: Month

        def apply(self, index: PersonIndex) -> None:
            index.holdings[self.case_id] = [
                Holding(held.programme, held.start, self.end)
                if held.end is None or self.end < held.end
                else held
                for held in index.holdings[self.case_id]
                if held.start < self.end
            ]

    class HoldingReleased(Event):
        """The case was rescinded: it covers no month at all."""

        case_id: UUID

        def apply(self, index: PersonIndex) -> None:
            del index.holdings[self.case_id]

    def __init__(self) -> None:
        self.holdings: dict[UUID, list[Holding]] = {}  # each case's intervals

    @staticmethod
    def id_for(person_ref: str) -> UUID:
        return uuid5(_INDEX_NAMESPACE, person_ref)

    @classmethod
    def start(cls, person_ref: str, at: datetime) -> PersonIndex:
        return cls._create(cls.Started, id=cls.id_for(person_ref), timestamp=at)

    def open(
        self,
        case_id: UUID,
        programme: Programme,
        start: Month,
        end: Month | None,
        at: datetime,
        *,
        who: str = "the person",
    ) -> None:
        """Open ``case_id`` for the person from ``start`` up to ``end``, unless they hold a case
        then that excludes it; ``who`` names them in a refusal ("person 2 of the household"),
        never by their identity number."""
        for held_id, intervals in self.holdings.items():
            for held in intervals:
                if held.overlaps(start, end) and excludes(held.programme, programme):
                    until = f" until {held.end - 1}" if held.end is not None else ""
                    raise ExclusiveHoldingError(
                        f"{who} already holds {held.programme} case {held_id} from "
                        f"{held.start}{until}, which excludes {programme} from {start}"
                    )
        self.trigger_event(
            self.HoldingOpened,
            case_id=case_id,
            programme=programme.value,
            start=start,
            end=end,
            timestamp=at,
        )

    def end(self, case_id: UUID, end: Month, at: datetime) -> None:
        """The case ends for the person from ``end`` (the last month held is the one before),
        if it reached that far."""
        intervals = self.holdings.get(case_id, [])
        if any(held.end is None or end < held.end for held in intervals):
            self.trigger_event(self.HoldingEnded, case_id=case_id, end=end, timestamp=at)

    def holds(self, programme: Programme, month: Month) -> bool:
        """Whether the person holds a case of ``programme`` covering ``month``."""
        return any(
            held.programme is programme and held.overlaps(month, month + 1)
            for intervals in self.holdings.values()
            for held in intervals
        )

    def release(self, case_id: UUID, at: datetime) -> None:
        if case_id in self.holdings:
            self.trigger_event(self.HoldingReleased, case_id=case_id, timestamp=at)
