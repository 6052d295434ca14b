"""Keeps the views current: a thread that projects new events as they are recorded.

The library has no subscription for SQLite, so the views are fed by polling the
notification log on every store; on PostgreSQL the table lock on insert makes positions
visible in order, so polling misses nothing there either.
"""

from __future__ import annotations

import logging
import threading

from projections.engine.projector import Projector

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class Poller:
    def __init__(self, projector: Projector, interval: float = 0.05) -> None:
        self.projector = projector
        self.interval = interval
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
                projected = self.projector.run_batch()
            except Exception:
                log.exception("projecting a batch failed; retrying in %s s", RETRY_SECONDS)
                self._stopping.wait(RETRY_SECONDS)
                continue
            if not projected:
                self._stopping.wait(self.interval)
