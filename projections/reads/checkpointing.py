"""Taking signed checkpoints of the audit chain, and adopting a ledger stored before signing.

A checkpoint is taken from the events themselves, not from the views: the chain is
recomputed from the latest validly signed checkpoint stored (or from the first event) up to
the head, every event's signature checked on the way, and the head signed. The service takes
one every ``every_events`` events or ``every_seconds`` (the poller asks after each batch);
``ledger checkpoint`` takes one on demand. Stored checkpoints can be deleted by whoever
writes the database; exported ones (``ledger checkpoints export``) cannot, and are what an
auditor verifies against.

``adopt`` covers a ledger stored before signing: it recomputes the chain from the first
event, checks it against a head recorded elsewhere (``ledger verify`` printed it before the
upgrade), refuses when an unsigned event follows that head, and signs an adoption
checkpoint there: every event up to it may be unsigned; none after it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder

from projections.reads.audit_chain import GENESIS_HEAD, Head, all_notifications, link
from projections.storage.checkpoints import Checkpoint, latest_signed, store
from projections.storage.checkpoints import stored as stored_checkpoints
from projections.storage.event_table import EventTable, stored_row
from projections.storage.signing import EventSignatures, UnverifiedEventError, open_envelope

log = logging.getLogger(__name__)

EVERY_EVENTS = 1_000
EVERY_SECONDS = 300.0


class AdoptionRefusedError(Exception):
    """The ledger cannot be adopted as it is: the reason says why."""


@dataclass(frozen=True)
class _Start:
    head: Head
    count: int


class Checkpointer:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        signatures: EventSignatures,
        every_events: int = EVERY_EVENTS,
        every_seconds: float = EVERY_SECONDS,
    ) -> None:
        self.recorder = recorder
        self.signatures = signatures
        self.table = EventTable.of(recorder)
        self.every_events = every_events
        self.every_seconds = every_seconds
        self._lock = threading.Lock()
        self._last: tuple[int, float] | None = None  # position, monotonic time taken

    def latest(self) -> Checkpoint | None:
        """The latest stored checkpoint signed with a key this installation accepts."""
        return latest_signed(self.table, self.signatures.keyring)

    def take(self) -> Checkpoint | None:
        """Sign the chain's head as recomputed from the events since the latest checkpoint;
        the latest one when nothing was recorded since; None for an empty ledger. Raises
        ``UnverifiedEventError`` at the first event that does not verify."""
        with self._lock:
            latest = self.latest()
            start = (
                _Start(Head(latest.position, latest.head), latest.count)
                if latest is not None
                else _Start(GENESIS_HEAD, 0)
            )
            head, count = self._chain_from(start)
            if head.position == start.head.position:
                self._last = (head.position, time.monotonic())
                return latest
            checkpoint = Checkpoint.sign(self.signatures.keyring, head.position, head.hash, count)
            store(self.table, checkpoint)
            self._last = (head.position, time.monotonic())
            return checkpoint

    def sign_verified(self, head: Head, count: int) -> Checkpoint | None:
        """Sign and store a checkpoint at ``head``, the chain over ``count`` events that a
        verification has just recomputed, every signature up to it checked (by it, or
        before a checkpoint the chain passed through): the next verification need not check
        them again. None when the latest checkpoint is at ``head`` already."""
        with self._lock:
            latest = self.latest()
            if latest is not None and latest.position >= head.position:
                return None
            checkpoint = Checkpoint.sign(self.signatures.keyring, head.position, head.hash, count)
            store(self.table, checkpoint)
            self._last = (head.position, time.monotonic())
            return checkpoint

    def due(self) -> bool:
        position = self.recorder.max_notification_id() or 0
        if self._last is None:
            latest = self.latest()
            self._last = (latest.position if latest else 0, time.monotonic())
        last_position, last_time = self._last
        if position <= last_position:
            return False
        return (
            position - last_position >= self.every_events
            or time.monotonic() - last_time >= self.every_seconds
        )

    def take_if_due(self) -> Checkpoint | None:
        """Take a checkpoint when one is due; an event that does not verify is logged as an
        alarm, and no checkpoint is taken over it."""
        if not self.due():
            return None
        try:
            return self.take()
        except UnverifiedEventError as error:
            log.critical("ALARM: no checkpoint taken: %s", error)
            self._last = (self._last[0] if self._last else 0, time.monotonic())
            return None

    def _chain_from(self, start: _Start) -> tuple[Head, int]:
        head, count = start.head, start.count
        for notification in all_notifications(self.recorder, start.head.position + 1):
            self.signatures.inner_state(notification)  # raises when it does not verify
            head = Head(notification.id, link(head.hash, head.position, stored_row(notification)))
            count += 1
        return head, count


def adopt(recorder: ApplicationRecorder, signatures: EventSignatures, expected: Head) -> Checkpoint:
    """Sign an adoption checkpoint at ``expected``, the head of a ledger stored before
    signing; from then on, unsigned events are accepted up to it and refused after it."""
    table = EventTable.of(recorder)
    keyring = signatures.keyring
    for checkpoint in stored_checkpoints(table, adoptions_only=True):
        if isinstance(checkpoint, Checkpoint) and checkpoint.problem(keyring) is None:
            raise AdoptionRefusedError(
                f"this ledger was adopted already: {checkpoint}; an adoption is made once"
            )
    extent = table.extent()
    if extent.lowest is not None and extent.lowest < 1:
        raise AdoptionRefusedError(
            f"an event is stored at position {extent.lowest}, outside the chain: run ledger verify"
        )
    head, count, adopted = GENESIS_HEAD, 0, None
    for notification in all_notifications(recorder):
        envelope = open_envelope(notification.state)
        if envelope is not None or adopted is not None:
            problem = signatures.problem(notification) if envelope is not None else None
            if envelope is None:
                problem = "it is not signed, and it follows the head adopted"
            if problem is not None:
                raise AdoptionRefusedError(
                    f"the event at position {notification.id} does not verify: {problem}"
                )
        head = Head(notification.id, link(head.hash, head.position, stored_row(notification)))
        count += 1
        if head.position == expected.position:
            if head != expected:
                raise AdoptionRefusedError(
                    f"the chain at position {expected.position} is {head}, not the expected "
                    f"head {expected}: the ledger changed since that head was recorded"
                )
            adopted = Checkpoint.sign(keyring, head.position, head.hash, count, adoption=True)
    if adopted is None:
        raise AdoptionRefusedError(
            f"the ledger holds no event at position {expected.position}; it ends at {head.position}"
        )
    if count != extent.count:
        raise AdoptionRefusedError(
            f"the event table holds {extent.count} rows and the chain {count}: run ledger verify"
        )
    store(table, adopted)
    signatures.unsigned_through = max(signatures.unsigned_through, adopted.position)
    return adopted


def export(recorder: ApplicationRecorder, signatures: EventSignatures) -> list[Checkpoint]:
    """The stored checkpoints signed with a key this installation accepts, in position
    order, to be kept where whoever writes the database cannot reach them."""
    return [
        checkpoint
        for checkpoint in stored_checkpoints(EventTable.of(recorder))
        if isinstance(checkpoint, Checkpoint) and checkpoint.problem(signatures.keyring) is None
    ]
