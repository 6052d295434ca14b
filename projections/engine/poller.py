"""Keeps the views current: a thread that projects new events as they are recorded.

The library has no subscription for SQLite, so the views are fed by polling the
notification log on every store; on PostgreSQL the table lock on insert makes positions
visible in order, so polling misses nothing there either. After each batch it has the
checkpointer, when given, take a signed checkpoint of the chain if one is due. An event that
does not verify stops the views just before it and raises an alarm in the log, repeated
until someone acts. Where projection workers keep the views (``ledger project-worker``), it
only follows how far they have come, and takes the checkpoints.
"""

from __future__ import annotations

import logging
import threading
import time

from projections.engine.projector import Projector
from projections.engine.workers import projected_by_workers
from projections.reads.checkpointing import Checkpointer
from projections.reads.read_side import views_position
from projections.storage.signing import UnverifiedEventError

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
ALARM_SECONDS = 30.0  # between alarms about an event that does not verify
CHECKPOINT_LOOK_SECONDS = 10.0  # when idle, between looks at whether a checkpoint is due


class Poller:
    def __init__(
        self,
        projector: Projector,
        interval: float = 0.05,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.projector = projector
        self.interval = interval
        self.checkpointer = checkpointer
        self._next_checkpoint_look = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="views-poller", daemon=True)

    def reached(self) -> int:
        """The position the views had reached when this poller last looked or wrote."""
        return self.projector.reached

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if projected_by_workers(self.projector.views):
                    # Projection workers keep these views: following them is all that is
                    # left, since projecting beside them would project events twice.
                    self.projector.reached = views_position(self.projector.views)
                    projected = 0
                else:
                    projected = self.projector.run_batch()
                if self.checkpointer is not None and (
                    projected or time.monotonic() >= self._next_checkpoint_look
                ):
                    self._next_checkpoint_look = time.monotonic() + CHECKPOINT_LOOK_SECONDS
                    self.checkpointer.take_if_due()
            except UnverifiedEventError as error:
                log.critical(
                    "ALARM: the views stop before an event that does not verify: %s", error
                )
                self._stopping.wait(ALARM_SECONDS)
                continue
            except Exception:
                log.exception("projecting a batch failed; retrying in %s s", RETRY_SECONDS)
                self._stopping.wait(RETRY_SECONDS)
                continue
            if not projected:
                self._stopping.wait(self.interval)
