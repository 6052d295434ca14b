"""The audit chain: a SHA-256 hash chain over every stored event, in ledger order.

``h_0`` is 32 zero bytes and ``h_n = SHA-256(h_{n-1} || u64be(position) ||
u64be(previous position) || originator id (16 bytes) || u64be(version) ||
u32be(len(topic)) || topic || u32be(len(state)) || state)``, where state is the stored
bytes. Including the previous position makes a deleted row visible even though positions
may have gaps. The chain is kept per position in the views (``audit_chain``), extended in
the same transaction as the other views, and verified by recomputing it from the events.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from projections.storage.database import Cursor, ViewDatabase

GENESIS = bytes(32)
VERIFY_BATCH = 2_000


def link(previous_hash: bytes, previous_position: int, notification: Notification) -> bytes:
    """The chain hash at ``notification``, following ``previous_hash``."""
    originator = notification.originator_id
    originator_bytes = (originator if isinstance(originator, UUID) else UUID(originator)).bytes
    topic = notification.topic.encode("utf-8")
    return hashlib.sha256(
        b"".join(
            (
                previous_hash,
                struct.pack(">QQ", notification.id, previous_position),
                originator_bytes,
                struct.pack(">Q", notification.originator_version),
                struct.pack(">I", len(topic)),
                topic,
                struct.pack(">I", len(notification.state)),
                notification.state,
            )
        )
    ).digest()


@dataclass(frozen=True)
class Head:
    position: int
    hash: bytes

    def __str__(self) -> str:
        return f"{self.position}:{self.hash.hex()}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """``POSITION:HASH`` as ``ledger verify`` prints it: a position of 0 or more and the
        64 hexadecimal digits of a SHA-256 hash."""
        position, colon, digest = text.strip().partition(":")
        if not (colon and position.isdigit() and re.fullmatch(r"[0-9a-fA-F]{64}", digest)):
            raise ValueError(
                f"{text!r} is not a head: expected POSITION:HASH, a position and the 64 "
                "hexadecimal digits of its hash, as `ledger verify` prints them"
            )
        return cls(int(position), bytes.fromhex(digest))


GENESIS_HEAD = Head(0, GENESIS)


def stored_head(cursor: Cursor) -> Head:
    rows = cursor.fetchall("SELECT position, hash FROM audit_chain ORDER BY position DESC LIMIT 1")
    return Head(rows[0][0], bytes(rows[0][1])) if rows else GENESIS_HEAD


def extend(cursor: Cursor, notifications: Sequence[Notification]) -> None:
    """Append the chain links of ``notifications`` (in position order) to ``audit_chain``."""
    head = stored_head(cursor)
    rows = []
    for notification in notifications:
        digest = link(head.hash, head.position, notification)
        rows.append((notification.id, head.position, digest))
        head = Head(notification.id, digest)
    cursor.insert("audit_chain", ("position", "previous_position", "hash"), rows)


@dataclass(frozen=True)
class Verification:
    """The chain recomputed from the events, compared with the chain kept in the views."""

    head: Head
    first_difference: int | None
    explanation: str

    @property
    def ok(self) -> bool:
        return self.first_difference is None


def all_notifications(recorder: ApplicationRecorder) -> Iterator[Notification]:
    start = 1
    while True:
        batch = recorder.select_notifications(start=start, limit=VERIFY_BATCH)
        if not batch:
            return
        yield from batch
        start = batch[-1].id + 1


def verify(
    recorder: ApplicationRecorder,
    views: ViewDatabase,
    expected_head: Head | None = None,
    progress: Callable[[int], None] = lambda _: None,
) -> Verification:
    """Recompute the chain from every stored event and name the first position that differs
    from the kept chain (an altered, deleted or inserted row), or from ``expected_head``;
    ``progress`` is told the position reached every batch of events."""
    kept = _kept_links(views)
    kept_end = int(views.fetchall("SELECT COALESCE(MAX(position), 0) FROM audit_chain")[0][0])
    pending = next(kept, None)
    head = GENESIS_HEAD
    matched_expected = expected_head == GENESIS_HEAD
    reported = 0
    for notification in all_notifications(recorder):
        if pending is not None and pending[0] < notification.id:
            return Verification(head, pending[0], f"position {pending[0]} was deleted")
        digest = link(head.hash, head.position, notification)
        if pending is not None and pending[0] == notification.id:
            if pending[1] != digest:
                return Verification(
                    head, notification.id, f"the event at position {notification.id} was altered"
                )
            pending = next(kept, None)
        elif notification.id <= kept_end:
            return Verification(
                head, notification.id, f"an event was inserted at position {notification.id}"
            )
        head = Head(notification.id, digest)
        if expected_head is not None and head.position == expected_head.position:
            matched_expected = head == expected_head
        if head.position - reported >= VERIFY_BATCH:
            progress(reported := head.position)
    progress(head.position)
    if pending is not None:
        return Verification(head, pending[0], f"position {pending[0]} was deleted")
    if expected_head is None:
        return Verification(head, None, "the chain verifies")
    if expected_head.position > head.position:
        return Verification(
            head,
            expected_head.position,
            f"the ledger ends at position {head.position}, before the expected head at "
            f"{expected_head.position}: events were removed from the end",
        )
    if not matched_expected:
        return Verification(
            head,
            expected_head.position,
            f"the chain at position {expected_head.position} differs from the expected head",
        )
    return Verification(head, None, "the chain verifies and contains the expected head")


def _kept_links(views: ViewDatabase) -> Iterator[tuple[int, bytes]]:
    after = 0
    while True:
        rows = views.fetchall(
            "SELECT position, hash FROM audit_chain WHERE position > ? ORDER BY position LIMIT ?",
            (after, VERIFY_BATCH),
        )
        if not rows:
            return
        for position, digest in rows:
            yield int(position), bytes(digest)
        after = int(rows[-1][0])
