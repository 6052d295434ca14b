"""Projects the ledger's events into the views, one batch per transaction.

Each batch reads the tracking position, applies its events, extends the audit chain and
advances the tracking position in one transaction, so that every event is projected exactly
once even if the process dies mid-batch or two projectors run at once. An event whose
signature does not verify is never projected: the views stop just before it, and the batch
raises ``UnverifiedEventError`` naming it.

The projector needs only the events: the event table's rows, read in position order
(``projections.storage.event_table``), and the mapper that turns a stored event back into a
domain event. What each event means for the views is in
``projections.engine.handlers``; the rows a batch keeps and writes, in
``projections.engine.rows``.

What a batch held (the subjects used most recently, their open rows, the standards) is
carried into the next, so that it does not read back what the one before wrote. It is
carried only from a batch that committed to a batch that finds the tracking position where
that one left it: a batch another projector took, or one that failed, starts afresh from the
views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification, Recording

from domain.cases.case import Case
from domain.months import Month
from domain.relief import Relief
from projections.engine.handlers import project
from projections.engine.rows import RowStore, standards_known
from projections.engine.segments import case_segments, repriced_from
from projections.engine.standards_table import StandardsTable
from projections.reads import audit_chain
from projections.reads.followed_ledger import refuse_views_of_another_ledger
from projections.reads.payroll_lines import ComputedItems
from projections.storage.database import Cursor, ViewDatabase
from projections.storage.event_table import EventTable, StoredRow, notification_of
from projections.storage.record_time import microseconds
from projections.storage.schema import TABLES, TRACKING_NAME, create_views
from projections.storage.signing import UnverifiedEventError, decode_all, originator_bytes

DEFAULT_BATCH_SIZE = 1_000
RAISE_CHUNK = 2_000  # cases a standard raise re-segments before writing them
HELD_SUBJECTS = 100_000  # subjects whose state and open rows are carried between batches
STATISTICS_AFTER = 5_000  # events projected before the first refresh of statistics
OFFERED_EVENTS = 50_000  # events saved in this process and offered to its projector, at most
_SUBJECTS = (Case.Event, Relief.Event)  # the events of the views' subjects


POSITION_COLUMNS = ("position", "recorded_at_us", "originator_id", "originator_version")


def record_positions(
    cursor: Cursor,
    rows: Sequence[StoredRow],
    events: Sequence[Any],
    tracking_name: str,
) -> None:
    """Give each event its position with its record time, link it into the audit chain, and
    move ``tracking_name`` to the last: the serial part of projecting a run of events.

    Record time never goes back: each position's is the latest of its event's time and its
    predecessor's record time."""
    found = cursor.fetchall("SELECT recorded_at_us FROM positions ORDER BY position DESC LIMIT 1")
    recorded = int(found[0][0]) if found else 0
    positions = []
    for row, event in zip(rows, events, strict=True):
        recorded = max(recorded, microseconds(event.timestamp))
        positions.append((row.position, recorded, row.originator.hex(), row.version))
    cursor.insert("positions", POSITION_COLUMNS, positions)
    audit_chain.extend(cursor, rows)
    cursor.execute(
        "UPDATE tracking SET position = ? WHERE name = ?", (rows[-1].position, tracking_name)
    )


class _Batch:
    """One batch's work: its rows, the standards it prices cases with, and the
    re-segmenting of cases, a chunk at a time when a standard reaches many.

    It is the ``Batch`` the handlers are written against.
    """

    def __init__(self, rows: RowStore, standards: StandardsTable) -> None:
        self.rows = rows
        self.standards = standards

    def apply(self, position: int, event: object) -> None:
        project(event, self, position)

    def resegment_case(
        self, case_id: str, position: int, changed_from: Month | None = None
    ) -> None:
        case = self.rows.case(case_id)
        if changed_from is None:
            segments = case_segments(
                case.programme,
                case.region,
                case.decisions,
                self.standards,
                rescinded=case.rescinded,
            )
        else:
            segments = repriced_from(
                changed_from,
                self.rows.segments_of(case_id),
                case.programme,
                case.region,
                case.decisions,
                self.standards,
                rescinded=case.rescinded,
            )
        self.rows.resegment(case_id, segments, position)

    def repriced_from(self, month: Month, case_ids: Sequence[str], position: int) -> None:
        # A region's open cases can be many: they are re-segmented a chunk at a time, written
        # after each chunk, and those used least recently let go, so that memory follows
        # the chunk and the subjects held, not the caseload.
        for start in range(0, len(case_ids), RAISE_CHUNK):
            chunk = case_ids[start : start + RAISE_CHUNK]
            self.rows.prefetch(chunk)
            for case_id in chunk:
                self.resegment_case(case_id, position, changed_from=month)
            self.rows.flush()
            self.rows.trim(HELD_SUBJECTS)


@dataclass
class _Held:
    """What the views held after the batch that ended at ``position``."""

    rows: RowStore
    standards: StandardsTable
    position: int


class PartitionBatches:
    """Applies events to views that only it changes, batch after batch: each batch's rows
    alone, without positions, audit chain or tracking position, as a replay of some
    partitions does (``parallel_replay``). Like the projector, it carries the subjects it
    holds and the standards from one batch to the next."""

    def __init__(self) -> None:
        self._held: _Held | None = None

    def apply(self, cursor: Cursor, events: Sequence[tuple[int, Any]]) -> None:
        """Apply ``events`` (each with its position, in position order) in ``cursor``'s
        transaction."""
        if self._held is None:
            self._held = _Held(RowStore(cursor), standards_known(cursor), 0)
        rows = self._held.rows
        rows.carry_to(cursor)
        batch = _Batch(rows, self._held.standards)
        rows.prefetch([e.originator_id.hex for _, e in events if isinstance(e, _SUBJECTS)])
        for position, event in events:
            batch.apply(position, event)
        rows.flush()
        rows.trim(HELD_SUBJECTS)


class Projector:
    """Feeds the views from the ledger's notification log, batch by batch."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        views: ViewDatabase,
        batch_size: int = DEFAULT_BATCH_SIZE,
        computed: ComputedItems | None = None,
    ) -> None:
        """With ``computed``, the closes this projector records take the items their
        command computed there, instead of computing them again. Views built from another
        ledger are refused (``ViewsOfAnotherLedgerError``)."""
        self.recorder = recorder
        self.table = EventTable.of(recorder)
        self.mapper = mapper
        self.views = views
        self.batch_size = batch_size
        self.computed = computed
        create_views(views, TRACKING_NAME)
        refuse_views_of_another_ledger(recorder, views)
        self.reached = self.position
        self._statistics_at = self.reached
        self._since_statistics = 0
        self._held: _Held | None = None
        self._offered: dict[int, Recording[UUID]] = {}

    def offer(self, recordings: Sequence[Recording[UUID]]) -> None:
        """Events this process has just saved, each with what was stored: a batch that
        reads one back with the very bytes it was stored with takes the event as it is,
        instead of decoding it and checking its signature again (it was signed here, over
        those bytes). Anything else read, another writer's events included, is decoded."""
        for recording in recordings:
            self._offered[recording.notification.id] = recording
        # The oldest let go in one pass: a dict keeps the places of the entries taken from
        # its front until it grows again, and each new iterator walks past them all.
        excess = len(self._offered) - OFFERED_EVENTS
        for notification_id in list(islice(self._offered, max(excess, 0))):
            del self._offered[notification_id]

    @property
    def position(self) -> int:
        rows = self.views.fetchall("SELECT position FROM tracking WHERE name = ?", (TRACKING_NAME,))
        return int(rows[0][0]) if rows else 0

    def run_batch(self) -> int:
        """Project the next batch of events; the number projected (0 when caught up)."""
        self.reached = self.position
        start = self.reached + 1
        rows = self.table.rows(start, self.batch_size)
        if not rows:
            return 0
        events, refusal = self._decode(rows)
        rows = rows[: len(events)]
        if rows:
            # Held only between batches that committed: a failure below leaves nothing held.
            held, self._held = self._held, None
            with self.views.transaction() as cursor:
                if (tracked := self._tracked(cursor)) != start - 1:
                    return 0  # another projector took this batch
                if held is None or held.position != tracked:
                    # The standards are read in the batch's transaction, so that they are
                    # those at its start even when another projector took the batches
                    # before it.
                    held = _Held(RowStore(cursor, self.computed), standards_known(cursor), tracked)
                held.rows.carry_to(cursor)
                self._project(_Batch(held.rows, held.standards), rows, events)
                held.rows.trim(HELD_SUBJECTS)
            held.position = rows[-1].position
            self._held = held
            self.reached = rows[-1].position
            self._note_growth(rows[-1].position, len(rows))
        if refusal is not None:
            raise refusal
        return len(rows)

    def _decode(self, rows: Sequence[StoredRow]) -> tuple[list[Any], UnverifiedEventError | None]:
        """The batch's events, up to the first that does not verify (and why it does not):
        the views take every event before it, and never it."""
        handed: list[Any] = []  # an event this process saved and offered, or None
        for row in rows:
            offered = self._offered.pop(row.position, None)
            if offered is not None and _stored_alike(offered.notification, row):
                handed.append(offered.domain_event)
            else:
                handed.append(None)
        unread = [
            notification_of(row) for row, event in zip(rows, handed, strict=True) if event is None
        ]
        read, refusal = decode_all(self.mapper, unread)
        events, decoded = [], iter(read)
        for event in handed:
            taken = event if event is not None else next(decoded, None)
            if taken is None:
                break  # the one refused
            events.append(taken)
        return events, refusal

    def _note_growth(self, position: int, projected: int) -> None:
        """Refresh the planner's statistics each time the views have doubled or so."""
        self._since_statistics += projected
        if self._since_statistics >= max(STATISTICS_AFTER, self._statistics_at):
            self.views.refresh_statistics(TABLES)
            self._statistics_at, self._since_statistics = position, 0

    def catch_up(self) -> int:
        """Project every event recorded so far; the number projected."""
        total = 0
        while projected := self.run_batch():
            total += projected
        return total

    def _project(self, batch: _Batch, rows: Sequence[StoredRow], events: Sequence[Any]) -> None:
        batch.rows.prefetch([e.originator_id.hex for e in events if isinstance(e, _SUBJECTS)])
        for row, event in zip(rows, events, strict=True):
            batch.apply(row.position, event)
        batch.rows.flush()
        record_positions(batch.rows.cursor, rows, events, TRACKING_NAME)

    def _tracked(self, cursor: Cursor) -> int:
        lock = " FOR UPDATE" if self.views.dialect == "postgres" else ""
        rows = cursor.fetchall(
            f"SELECT position FROM tracking WHERE name = ?{lock}", (TRACKING_NAME,)
        )
        return int(rows[0][0]) if rows else 0


def _stored_alike(saved: Notification, row: StoredRow) -> bool:
    return (
        saved.state == row.state
        and saved.originator_version == row.version
        and saved.topic == row.topic
        and originator_bytes(saved.originator_id) == row.originator
    )
