"""The views kept by a projector in a process of its own, beside a long import.

An import decides and saves on one core; its events are projected meanwhile on another,
each save as it lands, instead of in the importing process before each run of closes. The
import then only waits, before a run of closes, for the views to reach the position it
saved last. The process is spawned, not forked (the caller may run threads), and opens the
ledger and its views from the ledger's environment. It computes each close's items from
the views itself.

Like every projector it decodes only events whose signatures it knows to be good. The
importing process tells it, with each save, the digests of the signatures it made for it
(``EventSignatures.take_made``), so it checks only those it was not told of, as the
importing process's own projector would; an event altered in the store since does not
match its digest and is checked in full.

It works on a SQLite file and on PostgreSQL; ``worth_a_process`` says where an import uses it.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Mapping
from types import TracebackType

from domain.application.ledger import Ledger
from projections.engine.projector import Projector
from projections.reads.read_side import views_position
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from projections.storage.schema import TRACKING_NAME, create_views
from projections.storage.signing import EventSignatures, signatures_of

BATCH_SIZE = 10_000  # events a projection batch takes at most
POLL_SECONDS = 0.01  # how often the importer looks at the views' position while it waits
ORPHAN_CHECK_SECONDS = 1.0

Saved = tuple[int, list[bytes]]  # a position saved, and the digests of the signatures made


def worth_a_process(env: Mapping[str, str]) -> bool:
    """Whether an import of the ledger of ``env`` (the Ledger's environment) projects in a
    process of its own: on a SQLite file. On PostgreSQL, whose server shares the cores, the
    second process cost a quarter more CPU than it saved where it was measured
    (docs/benchmarks.md, change 28); a ledger in memory cannot be opened by two processes."""
    name = env.get("SQLITE_DBNAME", "")
    return env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" and "memory" not in name


class ProjectionProcess:
    """A projector in a spawned process that projects what the ledger ``saved`` as it is
    told of it; on leaving the block, once it has projected everything it was told of."""

    def __init__(self, ledger: Ledger, views: ViewDatabase) -> None:
        """``views``: this process's own connection to the ledger's views, to see how far
        they have come; they are created here when there are none, before it looks."""
        create_views(views, TRACKING_NAME)
        context = multiprocessing.get_context("spawn")
        self._saved: multiprocessing.Queue[Saved | None] = context.Queue()
        self._process = context.Process(
            target=project_as_saved, args=(dict(ledger.env), self._saved), daemon=True
        )
        self._signatures = signatures_of(ledger.mapper)
        self._views = views
        self.reached = 0

    def __enter__(self) -> ProjectionProcess:
        if self._signatures is not None:
            self._signatures.take_made()  # keep them from here on
        self._process.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._signatures is not None:
            self._signatures.made = None
        if error is not None:
            self._process.terminate()
        else:
            self._saved.put(None)
        self._process.join()
        self._saved.close()
        if error is None and self._process.exitcode != 0:
            raise ProjectionStoppedError(self._process.exitcode)

    def saved(self, position: int) -> None:
        """The ledger saved every event up to ``position``: project them."""
        made = self._signatures.take_made() if self._signatures is not None else []
        self._saved.put((position, made))

    def reach(self, position: int) -> None:
        """Return once the views hold every event up to ``position``."""
        while (reached := views_position(self._views)) < position:
            if not self._process.is_alive():
                raise ProjectionStoppedError(self._process.exitcode)
            time.sleep(POLL_SECONDS)
        self.reached = reached


class ProjectionStoppedError(Exception):
    def __init__(self, exit_code: int | None) -> None:
        super().__init__(
            f"the projection process stopped (exit code {exit_code}); its error is above"
        )


def project_as_saved(env: dict[str, str], saves: multiprocessing.Queue[Saved | None]) -> None:
    """The spawned process: after each save it is told of, project every event recorded;
    end when told to (``None``), or when its parent is gone."""
    ledger = Ledger(env)
    views = open_views(ledger.env)
    try:
        projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=BATCH_SIZE)
        signatures = signatures_of(ledger.mapper)
        while (told := _next_saves(saves)) is not None:
            if signatures is not None:
                _remember(signatures, told)
            projector.catch_up()
    finally:
        views.close()
        ledger.close()


def _next_saves(saves: multiprocessing.Queue[Saved | None]) -> list[Saved] | None:
    """The saves told of since last asked, waiting for one; None: the end (after the saves
    told of before it)."""
    told: list[Saved] = []
    while not told:
        try:
            first = saves.get(timeout=ORPHAN_CHECK_SECONDS)
        except queue.Empty:
            parent = multiprocessing.parent_process()
            if parent is not None and not parent.is_alive():
                return None
            continue
        if first is None:
            return None
        told.append(first)
    while True:
        try:
            more = saves.get_nowait()
        except queue.Empty:
            return told
        if more is None:
            saves.put(None)  # ends the next wait, once these are projected
            return told
        told.append(more)


def _remember(signatures: EventSignatures, told: list[Saved]) -> None:
    for _, made in told:
        signatures.remember_made(made)
