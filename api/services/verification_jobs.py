"""Verifications run in the background, so that no request is held open while a decade of
events is recomputed (minutes at a city's scale).

A job walks the chain in a thread of its own and tells how far it has come; whoever started
it polls it. One verification runs at a time: asking for another while one runs answers the
running one, since two would only compete for the same disk and give the same answer.
Finished jobs are kept (the latest few) for their results to be read.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from api.core.bootstrap import Runtime
from api.services.verification import Verification, verify
from projections.reads.read_side import NotYetProjectedError

KEPT = 20
CATCH_UP_SECONDS = 60


class JobState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass
class VerificationJob:
    id: uuid.UUID
    started_by: str
    started_at: datetime
    target: int  # the ledger position when it started: the chain is walked up to it
    reached: int = 0
    state: JobState = JobState.RUNNING
    result: Verification | None = None
    failure: str | None = None
    finished_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def percent(self) -> int:
        if self.state is not JobState.RUNNING:
            return 100
        if self.target <= 0:
            return 0
        return min(99, self.reached * 100 // self.target)

    def advance(self, position: int) -> None:
        with self._lock:
            self.reached = max(self.reached, position)


class VerificationJobs:
    """The verifications of one service. ``run`` is the verification itself, told where to
    report its progress: it is ``api.services.verification.verify`` bound to the runtime."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[uuid.UUID, VerificationJob] = OrderedDict()
        self._lock = threading.Lock()

    def start(
        self, started_by: str, target: int, run: Callable[[Callable[[int], None]], Verification]
    ) -> VerificationJob:
        """A new job, running; or the one already running."""
        with self._lock:
            for job in self._jobs.values():
                if job.state is JobState.RUNNING:
                    return job
            job = VerificationJob(uuid.uuid4(), started_by, datetime.now(UTC), target)
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT:
                self._jobs.popitem(last=False)
        thread = threading.Thread(
            target=self._run, args=(job, run), name=f"verification-{job.id}", daemon=True
        )
        thread.start()
        return job

    def get(self, job_id: uuid.UUID) -> VerificationJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def latest(self) -> VerificationJob | None:
        with self._lock:
            return next(reversed(self._jobs.values()), None)

    @staticmethod
    def _run(job: VerificationJob, run: Callable[[Callable[[int], None]], Verification]) -> None:
        try:
            result = run(job.advance)
        except Exception as error:  # the job reports any failure; the service runs on
            job.failure = f"{type(error).__name__}: {error}"
            job.state = JobState.FAILED
        else:
            job.result = result
            job.reached = max(job.reached, result.chain.head.position)
            job.state = JobState.FINISHED
        job.finished_at = datetime.now(UTC)


def start_verification(
    jobs: VerificationJobs, runtime: Runtime, started_by: str, *, full: bool = False
) -> VerificationJob:
    """Verify the whole ledger in the background, as ``GET /audit/verification`` does at
    once: the chain up to the position recorded now, the periods and months as the views
    know them once they have caught up with it (or as far as they can: views that stop
    before an event that does not verify never catch up, and the chain names that event).
    Every signature is checked when ``full``; else those after the latest signed
    checkpoint."""
    target = runtime.ledger.position

    def run(progress: Callable[[int], None]) -> Verification:
        read = runtime.read_side
        with suppress(NotYetProjectedError):
            read.wait_for(target, timeout=CATCH_UP_SECONDS)
        return verify(
            runtime.ledger,
            runtime.views,
            read.position,
            progress=progress,
            full=full,
            mark=runtime.checkpointer,
        )

    return jobs.start(started_by, target, run)
