"""The change feed: the ledger's decisions in ledger order, as other systems may see them.

Every entry is one stored event, read from the recorder's notification log and decoded with
the mapper, up to the position the views have reached and never past it: an entry's effect
(the months and amounts that moved) is read from the views' rows at that position, and a
consumer told of a position can query the views at it at once. A position the ledger holds
is never skipped (positions may have gaps on PostgreSQL, where a sequence value can be
used by a transaction that rolled back, but those hold nothing).

An entry carries person references only: never an identity number, a name, or the free text
(reasons) and user names (actors) a decision was recorded with, which may name people.
Events that are the ledger's own bookkeeping (each person's index of holdings, idempotency
records, the opening of a schedule) are read past and not announced; the page says how far
it read (``through``), so that a consumer resumes after it and never scans them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from domain.cases.case import Case
from domain.cases.programmes import MEMBERS_JOINING, MEMBERS_LEAVING
from domain.months import Month
from domain.payroll_periods import PayrollPeriods
from domain.relief import Relief
from domain.standards import StandardSchedule
from projections.storage.database import ViewDatabase

SCAN_FACTOR = 20  # notifications read per entry asked for, at most, before a page ends
REMEMBERED = 20_000  # entries a feed remembers, the latest positions it read

# The decisions announced, by event class, with their type (the CloudEvents ``type`` is
# this with a prefix). Subclasses come before their bases.
KINDS: tuple[tuple[type[Any], str], ...] = (
    (Case.Granted, "case.granted"),
    (Case.Reassessed, "case.reassessed"),
    (Case.Suspended, "case.suspended"),
    (Case.Resumed, "case.resumed"),
    (Case.GradualExitStarted, "case.gradual_exit_started"),
    (Case.Exited, "case.exited"),
    (Case.RescissionRequested, "case.rescission_requested"),
    (Case.RescissionApproved, "case.rescinded"),
    (StandardSchedule.StandardCorrected, "standard.corrected"),
    (StandardSchedule.StandardSet, "standard.set"),
    (PayrollPeriods.PeriodClosed, "period.closed"),
    (Relief.ReliefGranted, "relief.granted"),
    (Relief.ReliefRequested, "relief.requested"),
    (Relief.ReliefApproved, "relief.approved"),
    (Relief.ReliefReviewed, "relief.reviewed"),
)
TYPES: tuple[str, ...] = tuple(kind for _, kind in KINDS)


def kind_of(event: object) -> str | None:
    for cls, kind in KINDS:
        if isinstance(event, cls):
            return kind
    return None


@dataclass(frozen=True)
class FeedFilter:
    """Which entries a reader asks for (empty: all), within the types its role may see and
    the regions it serves (``served`` None: the whole city)."""

    types: Collection[str] = ()
    programmes: Collection[str] = ()
    regions: Collection[str] = ()
    visible: Collection[str] = TYPES
    served: Collection[str] | None = None

    def admits(self, change: Change) -> bool:
        return (
            change.type in self.visible
            and (self.served is None or change.region in self.served)
            and (not self.types or change.type in self.types)
            and (not self.programmes or change.programme in self.programmes)
            and (not self.regions or change.region in self.regions)
        )


@dataclass(frozen=True)
class Change:
    position: int
    type: str
    subject: str  # "cases/<id>", "reliefs/<id>", "standards/<programme>/<region>", ...
    programme: str
    region: str
    recorded_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedPage:
    changes: list[Change]
    through: int  # the last position read: resume after it
    views_position: int  # how far the ledger can be read now


def json_safe(value: Any) -> Any:
    """Decimals and months as strings, dates in ISO form; no floats for money."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Decimal | Month | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(originator_id).hex


def _fen(amount: int | None) -> str | None:
    return None if amount is None else str((Decimal(amount) / 100).quantize(Decimal("0.01")))


class ChangeFeed:
    """Reads the feed from the recorder, bounded by the views' position. One feed serves
    many threads at once (the delivery worker's, a thread per subscription): a read keeps
    what it looks up to itself, and the feed remembers the last entries it made, by
    position, for the next reader of the same events. An entry never changes once the views
    have reached its position (its effect is read from rows written when it was
    projected), so each subscription does not decode and check every event again."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        views: ViewDatabase,
        views_position: Callable[[], int],
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.views = views
        self.views_position = views_position
        self._remembered: OrderedDict[int, Change | None] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, after: int, limit: int, where: FeedFilter | None = None) -> FeedPage:
        """Up to ``limit`` entries after position ``after`` that ``where`` admits, in ledger
        order; at most ``limit * SCAN_FACTOR`` notifications are read for one page."""
        where = where or FeedFilter()
        stop = self.views_position()
        changes: list[Change] = []
        through = after
        budget = max(limit, 1) * SCAN_FACTOR
        while len(changes) < limit and through < stop and budget > 0:
            notifications = self.recorder.select_notifications(
                start=through + 1, limit=min(budget, 500), stop=stop
            )
            if not notifications:
                through = stop  # only gaps up to the views' position
                break
            budget -= len(notifications)
            known = self._recall(notifications)
            chunk = _Chunk.of(self.views, [n for n in notifications if n.id not in known])
            for notification in notifications:
                if notification.id in known:
                    change = known[notification.id]
                else:
                    event = self.mapper.to_domain_event(notification)
                    change = self._change(notification.id, event, chunk)
                    self._remember(notification.id, change)
                through = notification.id
                if change is not None and where.admits(change):
                    changes.append(change)
                    if len(changes) == limit:
                        break
        return FeedPage(changes, through, stop)

    def _recall(self, notifications: Sequence[Notification]) -> dict[int, Change | None]:
        with self._lock:
            return {n.id: self._remembered[n.id] for n in notifications if n.id in self._remembered}

    def _remember(self, position: int, change: Change | None) -> None:
        with self._lock:
            self._remembered[position] = change
            if len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)

    def follow(self, after: int, where: FeedFilter, limit: int = 100) -> Iterator[FeedPage]:
        """Successive pages from ``after``; a page may be empty when nothing is new."""
        while True:
            page = self.read(after, limit, where)
            after = page.through
            yield page

    # Each event as an entry.

    def _change(self, position: int, event: object, chunk: _Chunk) -> Change | None:
        kind = kind_of(event)
        if kind is None:
            return None
        recorded = chunk.recorded_at(position, event)
        if isinstance(event, Case.Event):
            return self._case_change(position, kind, event, recorded, chunk)
        if isinstance(event, Relief.Event):
            return self._relief_change(position, kind, event, recorded, chunk)
        if isinstance(event, StandardSchedule.StandardSet):
            data = {
                "effective": str(event.effective),
                "parameters": json_safe(event.parameters),
                "effect": {"cases_repriced": self._repriced(event, position)},
            }
            subject = f"standards/{event.programme}/{event.region}"
            return Change(position, kind, subject, event.programme, event.region, recorded, data)
        if isinstance(event, PayrollPeriods.PeriodClosed):
            data = {
                "month": str(event.month),
                "computed_at_position": event.position,
                "lines": event.line_count,
                "month_total": str(event.month_total),
                "arrears_total": str(event.arrears_total),
                "recoveries_total": str(event.recoveries_total),
                "digest": event.digest,
            }
            subject = f"periods/{event.programme}/{event.region}/{event.month}"
            return Change(position, kind, subject, event.programme, event.region, recorded, data)
        return None

    def _case_change(
        self, position: int, kind: str, event: Case.Event, recorded: datetime, chunk: _Chunk
    ) -> Change:
        case_id = event.originator_id.hex
        programme, region = chunk.subject(case_id, position)
        data: dict[str, Any] = {"case_id": case_id}
        if isinstance(event, Case.Granted):
            data["effective"] = str(event.effective)
            data["facts"] = json_safe(event.facts)
            data["persons"] = [p["reference"] for p in event.persons]
        elif isinstance(event, Case.DatedDecision):
            data["effective"] = str(event.effective)
        if isinstance(event, Case.Reassessed):
            changes = {
                k: v
                for k, v in event.changes.items()
                if k not in (MEMBERS_JOINING, MEMBERS_LEAVING)
            }
            data["changes"] = json_safe(changes)
            joining = [p["reference"] for p in event.changes.get(MEMBERS_JOINING, ())]
            leaving = list(event.changes.get(MEMBERS_LEAVING, ()))
            if joining:
                data["members_joining"] = joining
            if leaving:
                data["members_leaving"] = leaving
        if isinstance(event, Case.GradualExitStarted):
            data["months"] = event.months
        data["effect"] = {"months": self.months_moved(case_id, position)}
        return Change(position, kind, f"cases/{case_id}", programme, region, recorded, data)

    def _relief_change(
        self, position: int, kind: str, event: Relief.Event, recorded: datetime, chunk: _Chunk
    ) -> Change:
        relief_id = event.originator_id.hex
        programme, region = chunk.subject(relief_id, position)
        data: dict[str, Any] = {"relief_id": relief_id}
        if isinstance(event, Relief.Asked):
            data.update(
                kind=str(event.kind),
                relief_date=event.relief_date.isoformat(),
                household_size=event.household_size,
                amount=str(event.amount),
                cap=str(event.cap),
                persons=[p["reference"] for p in event.persons],
            )
        if isinstance(event, Relief.ReliefReviewed):
            data["outcome"] = str(event.outcome)
        data["effect"] = {"months": self.months_moved(relief_id, position)}
        return Change(position, kind, f"reliefs/{relief_id}", programme, region, recorded, data)

    # What the views say of a position.

    def _repriced(self, event: StandardSchedule.StandardSet, position: int) -> int:
        rows = self.views.fetchall(
            "SELECT COUNT(DISTINCT subject_id) FROM segments "
            "WHERE programme = ? AND region = ? AND known_from = ?",
            (event.programme, event.region, position),
        )
        return int(rows[0][0]) if rows else 0

    def months_moved(self, subject_id: str, position: int) -> list[dict[str, Any]]:
        """The months whose amount or status this position changed: the segments it wrote
        beside those it superseded, as runs of months with the amount before and after."""
        rows = self.views.fetchall(
            "SELECT valid_from, valid_to, amount_fen, status, known_from FROM segments "
            "WHERE subject_id = ? AND (known_from = ? OR known_to = ?)",
            (subject_id, position, position),
        )
        after = [(r[0], r[1], r[2], r[3]) for r in rows if r[4] == position]
        before = [(r[0], r[1], r[2], r[3]) for r in rows if r[4] != position]
        return _runs(before, after)


class SubjectMissingError(Exception):
    """The views have reached a position but hold no case or relief for its event: the
    views are not those of this ledger, or were damaged. The feed stops there rather than
    read past a decision it cannot place."""


@dataclass(frozen=True)
class _Chunk:
    """A chunk of notifications' record times and subjects, read in two queries rather
    than two an event."""

    views: ViewDatabase
    times: dict[int, int]  # record time (microseconds), by position
    places: dict[str, tuple[str, str]]  # programme and region, by subject id

    @classmethod
    def of(cls, views: ViewDatabase, notifications: Sequence[Notification]) -> _Chunk:
        if not notifications:
            return cls(views, {}, {})
        rows = views.fetchall(
            "SELECT position, recorded_at_us FROM positions WHERE position BETWEEN ? AND ?",
            (notifications[0].id, notifications[-1].id),
        )
        times = {int(r[0]): int(r[1]) for r in rows}
        ids = sorted({_hex(n.originator_id) for n in notifications})
        places: dict[str, tuple[str, str]] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" for _ in part)
            found = views.fetchall(
                f"SELECT subject_id, programme, region FROM subjects WHERE subject_id IN ({marks})",
                part,
            )
            places.update({str(r[0]): (str(r[1]), str(r[2])) for r in found})
        return cls(views, times, places)

    def subject(self, subject_id: str, position: int) -> tuple[str, str]:
        place = self.places.get(subject_id)
        if place is None:
            raise SubjectMissingError(
                f"the views hold no case or relief {subject_id} for position {position}"
            )
        return place

    def recorded_at(self, position: int, event: object) -> datetime:
        recorded = self.times.get(position)
        if recorded is not None:
            return datetime.fromtimestamp(recorded / 1_000_000, UTC)
        stamp: datetime = getattr(event, "timestamp")  # noqa: B009
        return stamp.astimezone(UTC)


Segment = tuple[int, int | None, int, str]  # valid_from, valid_to (exclusive), fen, status


def _at(segments: Sequence[Segment], month: int) -> tuple[int, str] | None:
    for start, end, fen, status in segments:
        if start <= month and (end is None or month < end):
            return fen, status
    return None


def _runs(before: Sequence[Segment], after: Sequence[Segment]) -> list[dict[str, Any]]:
    bounds = sorted({b for s in (*before, *after) for b in (s[0], s[1]) if b is not None})
    runs: list[dict[str, Any]] = []
    for index, start in enumerate(bounds):
        end = bounds[index + 1] if index + 1 < len(bounds) else None
        if end is None and not any(s[1] is None for s in (*before, *after)):
            break
        was, now = _at(before, start), _at(after, start)
        if was == now:
            continue
        previous = runs[-1] if runs else None
        if previous is not None and previous["_end"] == start and previous["_pair"] == (was, now):
            previous["_end"] = end
            continue
        runs.append({"_start": start, "_end": end, "_pair": (was, now)})
    return [_run(run) for run in runs]


def _run(run: dict[str, Any]) -> dict[str, Any]:
    was, now = run["_pair"]
    end = run["_end"]
    return {
        "from": str(Month(run["_start"])),
        "to": str(Month(end - 1)) if end is not None else None,
        "amount_before": _fen(was[0]) if was else None,
        "amount_after": _fen(now[0]) if now else None,
        "status_before": was[1] if was else None,
        "status_after": now[1] if now else None,
    }
