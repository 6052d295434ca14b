"""A replay of every event by several worker processes, one share of the partitions each.

It gives the same rows, superseded rows and record times included, as one projector
replaying every event in order (``rebuild.replay``), because the partitions
(``projections.engine.partitions``) are independent once each sees the standards it is
priced with. In four steps:

1. One pass over every event in order, in this process, places each in its partitions
   (only the first event of a case, relief, schedule, payroll or verification is decoded to
   place it) while the workers start, and walks the chain up to the latest signed
   checkpoint, to tell how far it vouches for the signatures
   (``audit_chain.CheckpointReach``).
2. Each worker projects the events of its partitions, in order, and decodes, and so checks,
   its part of the events no partition holds. Partitions are dealt largest first, each to
   the worker with the least work yet, so that the loads even out. Each worker also writes
   every event it decoded into its ``positions``, with the event's own time. The first
   worker replays into the scratch views themselves and writes the audit chain too (it
   reads every event anyway); the others into views of their own beside them (an SQLite
   file, or a PostgreSQL schema).
3. The other workers' rows are copied into the scratch views; a dibao standard projected by
   two workers (its partition's and the tekun partition's) is copied once.
4. The record time of each position becomes the running maximum of the events' times, as
   the projector keeps it, and the tracking position the last event's.

An event whose signature does not verify stops the replay with ``UnverifiedEventError``,
as it stops a projector; an event no partition can be found for, with
``UnplacedEventError``.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import queue
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from projections.engine.batch_gc import rare_collections
from projections.engine.partitions import Partition, Placement
from projections.engine.projector import (
    POSITION_COLUMNS,
    STATISTICS_AFTER,
    PartitionBatches,
)
from projections.reads import audit_chain
from projections.reads.audit_chain import CheckpointReach
from projections.storage.database import Cursor, PostgresViews, SQLiteViews, ViewDatabase
from projections.storage.event_table import PAGE, EventTable, notification_of
from projections.storage.record_time import microseconds
from projections.storage.schema import TABLES, TRACKING_NAME, create_views, drop_views
from projections.storage.signing import (
    UnverifiedEventError,
    decoded_unchecked,
    read_once,
    signatures_of,
)

CHECK_SHARE = 2_000  # events no partition holds, dealt to the workers this many at a time
CHECK_WEIGHT = 0.3  # what checking an event costs beside projecting one, roughly
CHAIN_WEIGHT = 0.05  # what chaining an event costs beside projecting one, roughly
POLL_SECONDS = 1.0
# Copied as they are: a row of these belongs to one partition, so to one worker.
COPIED = tuple(t for t in TABLES if t not in {"tracking", "positions", "standards", "audit_chain"})


class ReplaySource(Protocol):
    """What a worker process opens for itself, given by the composition root. It is sent to
    the worker, so it must pickle: settings, not open connections."""

    def events(self) -> AbstractContextManager[tuple[ApplicationRecorder, Mapper[UUID]]]:
        """The ledger's recorder and mapper, closed on leaving."""

    def part_views(self, worker: int) -> ViewDatabase:
        """The views worker ``worker`` replays into: for worker 0 the scratch views
        themselves, for the others views of their own beside them."""


@dataclass(frozen=True)
class Share:
    """A worker's part of a replay: the positions it projects and those it only checks."""

    worker: int
    until: int
    batch_size: int
    chains: bool  # writes the audit chain of every event
    vouched_through: int  # the signatures up to here are not checked (``read_once``)
    partitions: tuple[Partition, ...]
    projected: frozenset[int]
    checked: frozenset[int]


@dataclass
class Plan:
    """Where every event up to ``until`` belongs: each partition's positions, and those of
    events no partition holds."""

    until: int = 0
    members: dict[Partition, list[int]] = field(default_factory=lambda: defaultdict(list))
    unplaced: list[int] = field(default_factory=list)
    vouched_through: int = 0  # a signed checkpoint vouches for the signatures up to here

    def sizes(self) -> dict[Partition, int]:
        """Each partition's event count, largest first."""
        counted = {partition: len(positions) for partition, positions in self.members.items()}
        return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))

    def shares(self, workers: int, batch_size: int) -> list[Share]:
        """The partitions dealt largest first, each to the worker with the least work so
        far (the first has the audit chain to write); then the events to check only, a
        slice at a time, the same way."""
        loads = [(CHAIN_WEIGHT * self.until, 0), *((0.0, w) for w in range(1, workers))]
        dealt: list[list[Partition]] = [[] for _ in range(workers)]
        checked: list[list[int]] = [[] for _ in range(workers)]
        for partition, size in self.sizes().items():
            load, worker = heapq.heappop(loads)
            dealt[worker].append(partition)
            heapq.heappush(loads, (load + size, worker))
        for start in range(0, len(self.unplaced), CHECK_SHARE):
            part = self.unplaced[start : start + CHECK_SHARE]
            load, worker = heapq.heappop(loads)
            checked[worker] += part
            heapq.heappush(loads, (load + CHECK_WEIGHT * len(part), worker))
        return [
            Share(
                worker,
                self.until,
                batch_size,
                worker == 0,
                self.vouched_through,
                tuple(dealt[worker]),
                frozenset(p for partition in dealt[worker] for p in self.members[partition]),
                frozenset(checked[worker]),
            )
            for worker in range(workers)
        ]


def place(recorder: ApplicationRecorder, mapper: Mapper[UUID], until: int) -> Plan:
    """The serial pass: the partitions of every event up to ``until``, and how far a signed
    checkpoint vouches for their signatures."""
    # Each event is checked by the worker that is given it; placing needs no check.
    placement = Placement(partial(decoded_unchecked, mapper))
    table = EventTable.of(recorder)
    signatures = signatures_of(mapper)
    reach = None if signatures is None else CheckpointReach(table, signatures.keyring, until)
    plan = Plan()
    members, unplaced = plan.members, plan.unplaced
    for page in table.pages(until=until):
        for row in page:
            placed = placement.place(row)
            for partition in placed:
                members[partition].append(row.position)
            if not placed:
                unplaced.append(row.position)
            if reach is not None:
                reach.see(row)
        plan.until = page[-1].position
    plan.vouched_through = 0 if reach is None else reach.vouched_through
    return plan


@dataclass(frozen=True)
class ReplayReport:
    """How a replay by processes went: where it reached, the partitions' event counts, how
    far a checkpoint vouched for the signatures, the seconds of each step (placing the
    events and walking the chain to the checkpoint, in this process while the workers
    start; the workers' replay; copying their rows), and each worker's processor seconds."""

    reached: int
    sizes: dict[Partition, int]
    unplaced: int
    vouched_through: int  # the signatures up to here were vouched for by a checkpoint
    placing_seconds: float
    replaying_seconds: float
    copying_seconds: float
    worker_cpu_seconds: tuple[float, ...]

    @property
    def serial_seconds(self) -> float:
        """The seconds only this process worked."""
        return self.placing_seconds + self.copying_seconds


def replay_in_processes(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    scratch: ViewDatabase,
    until: int,
    workers: int,
    source: ReplaySource,
    batch_size: int = 1_000,
    progress: Callable[[int], None] = lambda _: None,
) -> ReplayReport:
    """Empty ``scratch`` and replay every event up to ``until`` into it with ``workers``
    processes, the first of which opens ``scratch`` itself (``source.part_views(0)``). The
    processes start first: they import and open the ledger and empty their views while this
    one places the events."""
    steps = [time.perf_counter()]
    try:
        with _Workers(source, workers) as pool:
            plan = place(recorder, mapper, until)
            steps.append(time.perf_counter())
            worker_cpu = pool.replay(plan.shares(workers, batch_size), progress, plan.until)
            steps.append(time.perf_counter())
        for worker in range(1, workers):
            _copy_rows(scratch, source.part_views(worker))
    finally:
        for worker in range(1, workers):
            _discard(scratch, source.part_views(worker))
    with scratch.transaction() as cursor:
        _running_record_time(cursor)
        cursor.execute(
            "UPDATE tracking SET position = ? WHERE name = ?", (plan.until, TRACKING_NAME)
        )
    scratch.refresh_statistics(TABLES)
    steps.append(time.perf_counter())
    placing, replaying, copying = (b - a for a, b in itertools.pairwise(steps))
    return ReplayReport(
        plan.until,
        plan.sizes(),
        len(plan.unplaced),
        plan.vouched_through,
        placing,
        replaying,
        copying,
        tuple(worker_cpu),
    )


class _Workers:
    """Worker processes, started at once and each given its share when it is known; all
    stopped on leaving, whatever happened."""

    def __init__(self, source: ReplaySource, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.messages: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
        self.inboxes: list[multiprocessing.Queue[Share]] = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(
                target=replay_share, args=(source, worker, inbox, self.messages), daemon=True
            )
            for worker, inbox in enumerate(self.inboxes)
        ]

    def __enter__(self) -> _Workers:
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join()
        self.messages.close()
        for inbox in self.inboxes:
            inbox.close()

    def replay(
        self, shares: Sequence[Share], progress: Callable[[int], None], until: int
    ) -> list[float]:
        """Give each worker its share and wait for all; raise what stopped one. The
        processor seconds of each."""
        for share in shares:
            self.inboxes[share.worker].put(share)
        done: dict[int, float] = {}
        replayed = 0
        while len(done) < len(self.processes):
            try:
                message = self.messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                for worker, process in enumerate(self.processes):
                    if worker not in done and not process.is_alive():
                        raise RuntimeError(
                            f"replay worker {worker} ended with exit code {process.exitcode} "
                            "before finishing its partitions"
                        ) from None
                continue
            kind, worker, *details = message
            if kind == "progress":
                replayed += details[0]
                progress(min(replayed, until))
            elif kind == "done":
                done[worker] = details[0]
            elif kind == "unverified":
                raise UnverifiedEventError(*details)
            else:
                raise RuntimeError(f"replay worker {worker} failed:\n{details[0]}")
        return [done[worker] for worker in range(len(self.processes))]


def replay_share(
    source: ReplaySource,
    worker: int,
    inbox: multiprocessing.Queue[Share],
    messages: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """A worker process: open the ledger and empty views of its own, wait for its share,
    replay it, telling ``messages`` how far it got, and then that it is done or what
    stopped it."""
    try:
        with rare_collections(), source.events() as (recorder, mapper):
            views = source.part_views(worker)
            try:
                drop_views(views)
                create_views(views, TRACKING_NAME)
                share = _share_for(inbox)
                once = read_once(mapper, share.vouched_through)
                _replay(recorder, once, views, share, messages)
            finally:
                views.close()
        messages.put(("done", worker, time.process_time()))
    except UnverifiedEventError as refusal:
        messages.put(
            (
                "unverified",
                worker,
                refusal.originator_id,
                refusal.originator_version,
                refusal.position,
                refusal.reason,
            )
        )
    except BaseException:
        messages.put(("failed", worker, traceback.format_exc()))


def _share_for(inbox: multiprocessing.Queue[Share]) -> Share:
    """The share this worker is sent."""
    while True:
        try:
            return inbox.get(timeout=POLL_SECONDS)
        except queue.Empty:
            _end_if_orphaned()


def _end_if_orphaned() -> None:
    """A worker whose parent died has no one to replay for: it ends."""
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():
        raise SystemExit(1)


def _replay(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    views: ViewDatabase,
    share: Share,
    messages: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    events: list[tuple[int, Any]] = []
    positions: list[tuple[int, int, str, int]] = []
    growth = _Growth(views)
    batches = PartitionBatches()

    def write() -> None:
        _end_if_orphaned()
        with views.transaction() as cursor:
            batches.apply(cursor, events)
            cursor.insert("positions", POSITION_COLUMNS, positions)
        messages.put(("progress", share.worker, len(positions)))
        growth.note(len(events))
        events.clear()
        positions.clear()

    for page in EventTable.of(recorder).pages(until=share.until):
        if share.chains:
            with views.transaction() as cursor:
                audit_chain.extend(cursor, page)
        for row in page:
            projected = row.position in share.projected
            if not projected and row.position not in share.checked:
                continue
            event: Any = mapper.to_domain_event(notification_of(row))
            positions.append(
                (row.position, microseconds(event.timestamp), row.originator.hex(), row.version)
            )
            if projected:
                events.append((row.position, event))
            if len(events) >= share.batch_size or len(positions) >= PAGE:
                write()
    write()


class _Growth:
    """Refreshes the planner's statistics each time the views have doubled or so, as the
    projector does."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.at = 0
        self.since = 0

    def note(self, projected: int) -> None:
        self.since += projected
        if self.since >= max(STATISTICS_AFTER, self.at):
            self.views.refresh_statistics(TABLES)
            self.at, self.since = self.at + self.since, 0


def _copy_rows(scratch: ViewDatabase, part: ViewDatabase) -> None:
    """Copy a worker's rows into ``scratch``: a schedule's standards only if ``scratch``
    has none of it yet, and the positions of events it has not."""
    with closing(part), _attached(scratch, part) as source, scratch.transaction() as cursor:
        for table in COPIED:
            cursor.execute(f"INSERT INTO {table} SELECT * FROM {source}.{table}")
        cursor.execute(
            f"INSERT INTO standards SELECT * FROM {source}.standards s WHERE NOT EXISTS"
            " (SELECT 1 FROM standards t WHERE t.programme = s.programme"
            " AND t.region = s.region)"
        )
        cursor.execute(
            f"INSERT INTO positions SELECT * FROM {source}.positions s WHERE NOT EXISTS"
            " (SELECT 1 FROM positions t WHERE t.position = s.position)"
        )


@contextmanager
def _attached(scratch: ViewDatabase, part: ViewDatabase) -> Iterator[str]:
    """The name ``scratch``'s connection reaches a worker's views by: an attached SQLite
    file, or a schema of the same PostgreSQL database."""
    if isinstance(scratch, SQLiteViews) and isinstance(part, SQLiteViews):
        scratch.fetchall("ATTACH DATABASE ? AS part", (part.path,))
        try:
            yield "part"
        finally:
            scratch.fetchall("DETACH DATABASE part")
    elif isinstance(scratch, PostgresViews) and isinstance(part, PostgresViews):
        yield '"' + part.schema.replace('"', '""') + '"'
    else:
        raise TypeError(f"cannot copy rows from {part!r} into {scratch!r}")


def _discard(scratch: ViewDatabase, part: ViewDatabase) -> None:
    """Remove a worker's views after the replay, copied or not: its file, or its schema."""
    part.close()
    if isinstance(part, SQLiteViews):
        part.remove_file()
    elif isinstance(part, PostgresViews):
        with scratch.transaction() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{part.schema}" CASCADE')


def _running_record_time(cursor: Cursor) -> None:
    """Each position's record time becomes the latest event time up to it: the workers
    wrote each event's own time, and record time never goes back."""
    cursor.execute(
        "UPDATE positions SET recorded_at_us = r.recorded_at_us FROM"
        " (SELECT position, MAX(recorded_at_us) OVER (ORDER BY position) AS recorded_at_us"
        " FROM positions) AS r"
        " WHERE positions.position = r.position AND positions.recorded_at_us < r.recorded_at_us"
    )
