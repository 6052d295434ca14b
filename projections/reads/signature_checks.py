"""Every event's signature checked over all the machine's cores, while the chain is walked.

Checking an Ed25519 signature costs about 40 µs (``projections.storage.keys``): at a
city's scale the checks are most of a verification. The audit chain is serial (each link
hashes the one before) but cheap. So the walk hands each batch of rows to worker processes
that check the signatures, and goes on hashing. Workers are spawned, not forked: the
service that asks runs threads of its own. A worker is sent a row's stored columns only,
its aggregate's id as 16 bytes: they pickle in a third of the time the library's objects
take, and are all the check reads.

A batch's answer is the first position in it that does not verify (if any), how many
events were adopted unsigned and which keys signed the others. Few events are checked in
the walking process itself: starting the workers costs about a second.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from projections.storage.event_table import StoredRow
from projections.storage.keys import Keyring
from projections.storage.signing import EventSignatures

# A row's stored columns as a plain tuple: a named tuple pickles in twice the time.
_Columns = tuple[int, bytes, int, str, bytes]

IN_PROCESS_BELOW = 20_000  # events: fewer are checked by the walking process itself
BATCHES_IN_FLIGHT = 4  # per worker: enough to keep it busy, few enough to bound memory


@dataclass
class Findings:
    """What the signature checks found, over the events given to them."""

    problem: tuple[int, str] | None = None  # the lowest position that does not verify, why
    checked: int = 0
    unsigned: int = 0  # of which adopted unsigned
    keys: set[str] = field(default_factory=set)

    def add(self, other: Findings) -> None:
        if other.problem is not None and (
            self.problem is None or other.problem[0] < self.problem[0]
        ):
            self.problem = other.problem
        self.checked += other.checked
        self.unsigned += other.unsigned
        self.keys |= other.keys


def check(signatures: EventSignatures, rows: Iterable[_Columns]) -> Findings:
    """The signatures of ``rows`` (in position order), up to the first that does not verify."""
    found = Findings()
    for position, originator, version, topic, state in rows:
        problem, key_id = signatures.row_problem(position, originator, version, topic, state)
        if problem is not None:
            found.problem = (position, f"the event at position {position}: {problem}")
            return found
        found.checked += 1
        if key_id is None:
            found.unsigned += 1
        else:
            found.keys.add(key_id)
    return found


_worker_signatures: EventSignatures | None = None


def _start_worker(public: Mapping[str, bytes], unsigned_through: int) -> None:
    global _worker_signatures  # noqa: PLW0603 (one keyring per worker process, set once)
    keys = {key_id: Ed25519PublicKey.from_public_bytes(raw) for key_id, raw in public.items()}
    _worker_signatures = EventSignatures(Keyring(None, None, keys), unsigned_through)


def _check_in_worker(rows: list[_Columns]) -> Findings:
    if _worker_signatures is None:
        raise RuntimeError("the signature worker was not started with its keys")
    return check(_worker_signatures, rows)


class SignatureChecks:
    """Checks the signatures of the batches given to ``submit``; ``finish`` waits for every
    answer, and a problem already known is in ``findings`` as soon as it is found. The
    checks run in ``processes`` worker processes (1: in this one); None: one per core when
    ``events`` (how many there will be) make it worth starting them."""

    def __init__(
        self, signatures: EventSignatures, events: int, processes: int | None = None
    ) -> None:
        self.signatures = signatures
        self.findings = Findings()
        if processes is None:
            processes = (os.cpu_count() or 1) if events >= IN_PROCESS_BELOW else 1
        self.processes = processes if processes > 1 else 0  # 0: the walking process checks
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[Future[Findings]] = deque()
        self._in_flight = processes * BATCHES_IN_FLIGHT
        if self.processes:
            public = dict(signatures.keyring.public_bytes)
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(public, signatures.unsigned_through),
            )

    def submit(self, rows: Sequence[StoredRow]) -> None:
        if self._pool is None:
            self.findings.add(check(self.signatures, rows))
            return
        while len(self._pending) >= self._in_flight or (self._pending and self._pending[0].done()):
            self.findings.add(self._pending.popleft().result())
        columns = [(p, o, v, t, s) for p, o, v, t, s in rows]
        self._pending.append(self._pool.submit(_check_in_worker, columns))

    def finish(self) -> Findings:
        while self._pending:
            self.findings.add(self._pending.popleft().result())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return self.findings
