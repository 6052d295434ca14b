"""A standards schedule as the finance office reads it: the parameters in force in a month,
every entry by its effective month, and the history of sets and corrections (who, why, when
recorded and at which position), each as known at a ledger position.

What is in force comes from the views' bitemporal ``standards`` rows. Who decided and why is
kept only in the events, so the history reads the schedule's events (a recorder and a
mapper, as the projector does) and takes each one's position and record time from the
views' ``positions``: no view row holds personal or free text it would have to keep in step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from domain.cases.programmes import Programme
from domain.months import Month
from domain.standards import StandardSchedule
from projections.storage.database import ViewDatabase

KNOWN = "known_from <= ? AND (known_to IS NULL OR known_to > ?)"


@dataclass(frozen=True)
class StandardEntry:
    """The parameters in force from ``effective``, as known at a position; ``position`` is
    where the ledger learnt them (a set, or the correction that replaced it)."""

    effective: Month
    parameters: dict[str, Decimal]
    position: int


@dataclass(frozen=True)
class StandardChange:
    kind: str  # "set" or "corrected"
    effective: Month
    parameters: dict[str, Decimal]
    actor: str
    reason: str
    position: int
    recorded_at: datetime  # the ledger's record time of the position


def entries(
    views: ViewDatabase, programme: Programme, region: str, position: int
) -> list[StandardEntry]:
    """Every entry of the schedule, in effective-month order, as known at ``position``."""
    rows = views.fetchall(
        "SELECT effective, parameters, known_from FROM standards"
        f" WHERE programme = ? AND region = ? AND {KNOWN} ORDER BY effective",
        (programme.value, region, position, position),
    )
    return [
        StandardEntry(
            Month(int(effective)),
            {name: Decimal(value) for name, value in json.loads(parameters).items()},
            int(known_from),
        )
        for effective, parameters, known_from in rows
    ]


def in_force(entries_known: list[StandardEntry], month: Month) -> StandardEntry | None:
    """The entry in force in ``month``: the latest that takes effect by it."""
    found = [entry for entry in entries_known if entry.effective <= month]
    return found[-1] if found else None


def history(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    views: ViewDatabase,
    programme: Programme,
    region: str,
    position: int,
) -> list[StandardChange]:
    """The schedule's sets and corrections recorded by ``position``, in the order recorded."""
    schedule = StandardSchedule.id_for(programme, region)
    recorded = {
        int(version): (int(at), int(us))
        for version, at, us in views.fetchall(
            "SELECT originator_version, position, recorded_at_us FROM positions"
            " WHERE originator_id = ? AND position <= ?",
            (schedule.hex, position),
        )
    }
    changes = []
    for stored in recorder.select_events(schedule):
        if stored.originator_version not in recorded:
            continue  # recorded after the position, or not yet projected
        event = mapper.to_domain_event(stored)
        if not isinstance(event, StandardSchedule.StandardSet):
            continue
        at, microseconds = recorded[stored.originator_version]
        changes.append(
            StandardChange(
                "corrected" if isinstance(event, StandardSchedule.StandardCorrected) else "set",
                event.effective,
                dict(event.parameters),
                event.actor,
                event.reason,
                at,
                datetime.fromtimestamp(microseconds / 1_000_000, UTC),
            )
        )
    return changes


@dataclass(frozen=True)
class Schedule:
    programme: Programme
    region: str
    as_of: Month
    position: int
    in_force: StandardEntry | None  # in ``as_of``
    entries: list[StandardEntry]
    history: list[StandardChange]


def schedule(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    views: ViewDatabase,
    programme: Programme,
    region: str,
    as_of: Month,
    position: int,
) -> Schedule:
    """The schedule of ``programme`` in ``region`` as known at ``position``: what is in force
    in ``as_of``, every entry, and the history of its sets and corrections."""
    known = entries(views, programme, region, position)
    return Schedule(
        programme,
        region,
        as_of,
        position,
        in_force(known, as_of),
        known,
        history(recorder, mapper, views, programme, region, position),
    )
