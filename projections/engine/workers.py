"""Projection workers: processes, on one host or several, that share the live views' work.

The work is cut into units. The serial unit writes what belongs to no partition: each
position with its record time, and the audit chain; it keeps the views' own tracking row
(``TRACKING_NAME``). Every other unit is a partition of the event stream
(``projections.engine.partitions``), but for the dibao and tekun partitions of a region,
which are one unit: tekun is priced from the region's dibao standards, and a standard
re-prices the dibao and tekun cases of its region in one handler, so the three are projected
together and each standard row is written once.

Each worker claims units through PostgreSQL (``projections.storage.claims``), a fair share
each: ceil(units / live workers). A worker above its share (a worker joined) releases the
excess; one below it (a worker died, and PostgreSQL released its claims with its session)
claims free units. Claims only share the work: a batch locks its unit's tracking row
(SELECT ... FOR UPDATE), projects the unit's events after that position and advances it in
the same transaction, so a unit taken over, or projected by two workers at once, never has
an event projected twice or skipped.

Each worker places every event itself, in order (only the first event of an aggregate is
decoded), so it knows every unit's events without asking another. A unit's tracking row
moves to the last position the worker has placed even when none of its events came, so
that the least tracking position over all units is how far the views have come: reads take
that (``projections.reads.read_side.views_position``).

When workers first take over views a single projector kept, every unit's tracking row
starts at that projector's position; a unit whose first event comes later starts at 0.
While unit rows exist, the views belong to the workers: the service's poller only follows
them, and ``ledger project`` refuses.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from domain.cases.programmes import Programme
from projections.engine.partitions import Partition, Placement
from projections.engine.projector import PartitionBatches, record_positions
from projections.reads.followed_ledger import refuse_views_of_another_ledger
from projections.storage.claims import Claims
from projections.storage.database import Cursor, ViewDatabase
from projections.storage.event_table import EventTable, notification_of
from projections.storage.schema import TRACKING_NAME, create_views
from projections.storage.signing import UnverifiedEventError, decoded_unchecked

SERIAL_UNIT = TRACKING_NAME
PRICED_TOGETHER = frozenset({Programme.DIBAO_URBAN, Programme.DIBAO_RURAL, Programme.TEKUN})
IDLE_SECONDS = 0.2


class WorkersNeedPostgresError(Exception):
    """Projection workers claim their work through PostgreSQL."""

    def __init__(self) -> None:
        super().__init__(
            "projection workers claim their work through PostgreSQL: on SQLite the views are "
            "kept by one projector (ledger project, or the service's own)"
        )


def unit_of(partition: Partition) -> str:
    """The unit a partition is projected in: its own, but ``dibao-tekun/<region>`` for the
    dibao and tekun partitions of a region."""
    if partition.programme in PRICED_TOGETHER:
        return f"dibao-tekun/{partition.region}"
    return partition.name


def projected_by_workers(views: ViewDatabase) -> bool:
    """Whether workers keep these views: a unit besides the serial one has a tracking row."""
    rows = views.fetchall("SELECT 1 FROM tracking WHERE name <> ? LIMIT 1", (SERIAL_UNIT,))
    return bool(rows)


class UnitEvents:
    """Every event placed so far, in order, and the positions each unit holds."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._placement = Placement(partial(decoded_unchecked, mapper))
        self.placed = 0  # the last position placed
        self.positions: dict[str, list[int]] = defaultdict(list)

    def place(self, recorder: ApplicationRecorder) -> None:
        """Place every event recorded since the last call."""
        for page in EventTable.of(recorder).pages(self.placed + 1):
            for row in page:
                units = {unit_of(p) for p in self._placement.place(row)}
                for unit in units:
                    self.positions[unit].append(row.position)
            self.placed = page[-1].position

    @property
    def units(self) -> list[str]:
        """The serial unit and every unit an event was placed in, in name order."""
        return sorted({SERIAL_UNIT, *self.positions})

    def after(self, unit: str, position: int, limit: int) -> list[int]:
        """Up to ``limit`` of the unit's positions after ``position``."""
        held = self.positions.get(unit, [])
        start = bisect_right(held, position)
        return held[start : start + limit]


class ProjectionWorker:
    """One worker: places the events, keeps its fair share of the units claimed, and
    projects a batch of each unit it holds per round."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        views: ViewDatabase,
        claims: Claims,
        batch_size: int = 1_000,
        told: Callable[[str], None] = lambda _: None,
    ) -> None:
        if views.dialect != "postgres":
            raise WorkersNeedPostgresError
        self.recorder = recorder
        self.table = EventTable.of(recorder)
        self.mapper = mapper
        self.views = views
        self.claims = claims
        self.batch_size = batch_size
        self.told = told
        self.events = UnitEvents(mapper)
        self._rows = {SERIAL_UNIT}  # units whose tracking row is known to exist
        create_views(views, TRACKING_NAME)
        refuse_views_of_another_ledger(recorder, views)
        self.events.place(recorder)
        self._take_over_from_projector()

    def run(self, stopping: threading.Event) -> None:
        """Rounds until ``stopping`` is set; idle a moment when a round projected nothing."""
        try:
            while not stopping.is_set():
                if not self.round():
                    stopping.wait(IDLE_SECONDS)
        finally:
            self.claims.close()

    def round(self) -> int:
        """Place new events, rebalance the claims, and project a batch of each unit held;
        the events projected (positions, for the serial unit)."""
        self.events.place(self.recorder)
        self._add_rows()
        projected = 0
        self.balance()
        for unit in sorted(self.claims.held):
            # Balanced before each batch too, so that the units of a worker that died are
            # taken over within a batch, not a round.
            self.balance()
            if unit in self.claims.held:
                projected += self._serial_batch() if unit == SERIAL_UNIT else self._unit_batch(unit)
        return projected

    def balance(self) -> None:
        """Hold ceil(units / live workers) units: release the excess, claim free ones."""
        units = self.events.units
        share = math.ceil(len(units) / max(1, self.claims.live_workers()))
        for unit in sorted(self.claims.held, reverse=True)[: max(0, len(self.claims.held) - share)]:
            self.claims.release(unit)
            self.told(f"released {unit}")
        if len(self.claims.held) >= share:
            return
        # Start at a place of this worker's own, so that workers joining together try
        # different units first.
        taken = self.claims.claimants(units)
        free = [unit for unit in units if unit not in taken]
        start = hash(self.claims.worker_name) % max(1, len(free))
        for unit in free[start:] + free[:start]:
            if self.claims.claim(unit):
                self.told(f"claimed {unit}")
                if len(self.claims.held) >= share:
                    return

    def _take_over_from_projector(self) -> None:
        """On the first start of workers over these views, every unit known starts where
        the single projector had come; the serial row is locked meanwhile so it cannot."""
        with self.views.transaction() as cursor:
            reached = _tracked(cursor, SERIAL_UNIT)
            if cursor.fetchall("SELECT 1 FROM tracking WHERE name <> ? LIMIT 1", (SERIAL_UNIT,)):
                return
            units = [unit for unit in self.events.units if unit != SERIAL_UNIT]
            cursor.executemany(
                "INSERT INTO tracking (name, position) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                [(unit, reached) for unit in units],
            )
            self._rows.update(units)

    def _add_rows(self) -> None:
        """A tracking row for every unit placed, before the serial unit passes its events:
        so rows exist for every unit with an event below the serial position, and a first
        take-over (above) never finds the serial unit ahead of units it would skip."""
        new = [unit for unit in self.events.units if unit not in self._rows]
        if new:
            with self.views.transaction() as cursor:
                cursor.executemany(
                    "INSERT INTO tracking (name, position) VALUES (?, 0)"
                    " ON CONFLICT (name) DO NOTHING",
                    [(unit,) for unit in new],
                )
            self._rows.update(new)

    def _unit_batch(self, unit: str) -> int:
        """Project the unit's next events and move its tracking row, in one transaction."""
        refusal: UnverifiedEventError | None = None
        with self.views.transaction() as cursor:
            tracked = _tracked(cursor, unit)
            positions = self.events.after(unit, tracked, self.batch_size)
            reach = positions[-1] if len(positions) == self.batch_size else self.events.placed
            if reach <= tracked:
                return 0
            events, refusal = self._decoded(positions)
            if refusal is not None:
                reach = refusal.position - 1 if refusal.position else tracked
            if events:
                # A fresh state each batch: nothing is carried from the last one, since
                # another worker may have projected the unit since.
                PartitionBatches().apply(cursor, events)
            cursor.execute("UPDATE tracking SET position = ? WHERE name = ?", (reach, unit))
        if refusal is not None:
            raise refusal
        return len(events)

    def _decoded(self, positions: Sequence[int]) -> tuple[list[tuple[int, Any]], Any]:
        """The events at ``positions``, up to the first that does not verify (and why)."""
        events: list[tuple[int, Any]] = []
        if not positions:
            return events, None
        wanted = set(positions)
        for page in self.table.pages(positions[0], until=positions[-1]):
            for row in page:
                if row.position in wanted:
                    try:
                        event = self.mapper.to_domain_event(notification_of(row))
                    except UnverifiedEventError as refusal:
                        return events, refusal
                    events.append((row.position, event))
        return events, None

    def _serial_batch(self) -> int:
        """The next positions with their record times, and the audit chain's next links."""
        refusal: UnverifiedEventError | None = None
        with self.views.transaction() as cursor:
            start = _tracked(cursor, SERIAL_UNIT) + 1
            if start > self.events.placed:
                return 0
            # Positions and chain links are cheap beside the partitions' rows: a page at a
            # time, so that the serial unit does not hold the views' position back.
            rows = next(self.table.pages(start, until=self.events.placed), [])
            events: list[Any] = []
            for row in rows:
                try:
                    events.append(self.mapper.to_domain_event(notification_of(row)))
                except UnverifiedEventError as stopped:
                    refusal = stopped
                    break
            rows = rows[: len(events)]
            if rows:
                record_positions(cursor, rows, events, SERIAL_UNIT)
        if refusal is not None:
            raise refusal
        return len(rows)


def _tracked(cursor: Cursor, unit: str) -> int:
    rows = cursor.fetchall("SELECT position FROM tracking WHERE name = ? FOR UPDATE", (unit,))
    return int(rows[0][0]) if rows else 0
