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

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from projections.reads.signature_checks import Findings, SignatureChecks
from projections.storage.checkpoints import Checkpoint, latest_signed
from projections.storage.checkpoints import stored as stored_checkpoints
from projections.storage.database import Cursor, Reader, ViewDatabase
from projections.storage.event_table import EventTable, StoredRow
from projections.storage.keys import Keyring
from projections.storage.schema import CREATE_AUDIT_CHAIN
from projections.storage.signing import EventSignatures, signatures_of

GENESIS = bytes(32)
VERIFY_BATCH = 2_000


# A link's fixed fields: position, previous position, originator id, version, topic length.
_LINK_HEADER = struct.Struct(">QQ16sQI")


def link(previous_hash: bytes, previous_position: int, row: StoredRow) -> bytes:
    """The chain hash at ``row``, following ``previous_hash``."""
    position, originator, version, topic_text, state = row
    topic = topic_text.encode("utf-8")
    header = _LINK_HEADER.pack(position, previous_position, originator, version, len(topic))
    return hashlib.sha256(
        b"".join((previous_hash, header, topic, struct.pack(">I", len(state)), state))
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


def stored_head(cursor: Reader) -> Head:
    rows = cursor.fetchall("SELECT position, hash FROM audit_chain ORDER BY position DESC LIMIT 1")
    return Head(rows[0][0], bytes(rows[0][1])) if rows else GENESIS_HEAD


def extend(cursor: Cursor, rows: Sequence[StoredRow]) -> None:
    """Append the chain links of ``rows`` (in position order) to ``audit_chain``."""
    head = stored_head(cursor)
    links = []
    for row in rows:
        digest = link(head.hash, head.position, row)
        links.append((row.position, head.position, digest))
        head = Head(row.position, digest)
    cursor.insert("audit_chain", ("position", "previous_position", "hash"), links)


class CheckpointReach:
    """Whether the rows up to the latest signed checkpoint (at ``until`` at the latest) are
    byte for byte those it signed: the chain recomputed from the first row, row by row,
    passes through it. Taking a checkpoint checked every signature up to it (or up to the
    one before, which the chain passed through), so a reader of every event need not check
    those signatures again (``signing.read_once``)."""

    def __init__(self, table: EventTable, keyring: Keyring, until: int | None = None) -> None:
        self.checkpoint = latest_signed(table, keyring, at_most=until)
        self.position = self.checkpoint.position if self.checkpoint is not None else 0
        self._hash, self._at, self._count = GENESIS, 0, 0  # the chain's head so far

    def see(self, row: StoredRow) -> None:
        """The next row, in position order from the first."""
        if row.position <= self.position:
            self._hash = link(self._hash, self._at, row)
            self._at = row.position
            self._count += 1

    @property
    def vouched_through(self) -> int:
        """The checkpoint's position if the rows seen pass through it; else 0."""
        checkpoint = self.checkpoint
        if checkpoint is None or (self._at, self._hash, self._count) != (
            checkpoint.position,
            checkpoint.head,
            checkpoint.count,
        ):
            return 0
        return checkpoint.position


def signatures_vouched_through(
    recorder: ApplicationRecorder, mapper: Mapper[UUID], until: int | None = None
) -> int:
    """The last position up to which a signed checkpoint (at ``until`` at the latest)
    vouches for every event's signature, the chain over the rows as stored passing through
    it (``CheckpointReach``); 0 when none does, or the ledger does not sign."""
    signatures = signatures_of(mapper)
    if signatures is None:
        return 0
    table = EventTable.of(recorder)
    reach = CheckpointReach(table, signatures.keyring, until)
    if reach.position:
        for page in table.pages(until=reach.position):
            for row in page:
                reach.see(row)
    return reach.vouched_through


@dataclass(frozen=True)
class Verification:
    """The chain recomputed from the events, compared with the chain kept in the views, the
    signed checkpoints and the expected head; with what the walk found."""

    head: Head
    first_difference: int | None
    explanation: str
    events: int = 0  # rows walked
    unsigned: int = 0  # of the signatures checked, events adopted unsigned
    checkpoints: int = 0  # signed checkpoints the chain was checked against
    keys: tuple[str, ...] = ()  # the key ids the events checked were signed with
    signatures_checked: int = 0  # events whose signature was checked in this walk
    checked_earlier_through: int = 0  # signatures up to here were checked before (0: none)

    @property
    def ok(self) -> bool:
        return self.first_difference is None


def all_notifications(recorder: ApplicationRecorder, start: int = 1) -> Iterator[Notification]:
    while batch := recorder.select_notifications(start=start, limit=VERIFY_BATCH):
        yield from batch
        start = batch[-1].id + 1


class _ChainBrokenError(Exception):
    def __init__(self, position: int, explanation: str) -> None:
        super().__init__(explanation)
        self.position = position
        self.explanation = explanation


def verify(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    views: ViewDatabase,
    expected_head: Head | None = None,
    progress: Callable[[int], None] = lambda _: None,
    *,
    checkpoints: Sequence[Checkpoint] = (),
    full: bool = True,
    processes: int | None = None,
) -> Verification:
    """Recompute the chain from every stored row, wherever its position, and name the first
    position that fails: a row outside the chain (position below 1), an event whose
    signature is missing or wrong, a link that differs from the kept chain (an altered,
    deleted or inserted row), the chain at a signed checkpoint (stored, or ``checkpoints``
    exported earlier) or at ``expected_head``; then the table's row count and extent
    against what was walked. ``progress`` is told the position reached every batch.

    Unless ``full``, the signatures up to the latest signed checkpoint are not checked
    again: the chain must pass through that checkpoint, so those rows are byte for byte
    the ones whose signatures were checked before it was signed (by the service as it
    took it, or by the verification that left it). Signatures are checked by
    ``processes`` worker processes while the chain is walked (1: by this process; None:
    one per core, once there are enough events to check)."""
    walk = _Walk(recorder, mapper, views, expected_head, checkpoints, progress)
    try:
        explanation = walk.run(full, processes)
        failure = None
    except _ChainBrokenError as failed:
        failure = failed
    finally:
        findings = walk.signature_findings()
    if findings.problem is not None and (
        failure is None or findings.problem[0] <= failure.position
    ):
        return walk.result(*findings.problem)
    if failure is not None:
        return walk.result(failure.position, failure.explanation)
    return walk.result(None, explanation)


class _Walk:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        views: ViewDatabase,
        expected_head: Head | None,
        exported: Sequence[Checkpoint],
        progress: Callable[[int], None],
    ) -> None:
        self.progress = progress
        self.views = views
        self.expected_head = expected_head
        self.table = EventTable.of(recorder)
        bound = signatures_of(mapper)
        self.keyring = bound.keyring if bound is not None else None
        self.exported = exported
        self.signatures: EventSignatures | None = None
        self.checks: SignatureChecks | None = None
        self.findings = Findings()
        self.checked_earlier_through = 0
        self.head = GENESIS_HEAD
        self.events = 0
        self.checkpoints: dict[int, list[Checkpoint]] = {}
        self._checkpoint_positions: list[int] = []

    def result(self, position: int | None, explanation: str) -> Verification:
        return Verification(
            self.head,
            position,
            explanation,
            self.events,
            self.findings.unsigned,
            sum(len(c) for c in self.checkpoints.values()),
            tuple(sorted(self.findings.keys)),
            self.findings.checked,
            self.checked_earlier_through,
        )

    def signature_findings(self) -> Findings:
        if self.checks is not None:
            self.findings = self.checks.finish()
            self.checks = None
        return self.findings

    def run(self, full: bool, processes: int | None) -> str:
        extent = self.table.extent()
        self._check_checkpoints()
        if self.signatures is not None:
            if not full:
                self.checked_earlier_through = max(
                    (p for p in self._checkpoint_positions if p <= (extent.highest or 0)),
                    default=0,
                )
            self.checks = SignatureChecks(
                self.signatures,
                (extent.highest or 0) - self.checked_earlier_through,
                processes,
            )
        with self.views.transaction() as cursor:  # views never built keep an empty chain
            for statement in CREATE_AUDIT_CHAIN:
                cursor.execute(statement)
        kept = _kept_links(self.views)
        kept_end = int(
            self.views.fetchall("SELECT COALESCE(MAX(position), 0) FROM audit_chain")[0][0]
        )
        pending = next(kept, None)
        matched_expected = self.expected_head == GENESIS_HEAD
        start = min(extent.lowest or 1, 1)
        highest = extent.highest if extent.highest is not None else 0
        for batch in self.table.pages(start, until=highest):  # not what was stored since
            self._check_signatures(batch)
            for row in batch:
                position = row.position
                if position < 1:
                    raise _ChainBrokenError(
                        position,
                        f"an event is stored at position {position}, outside the chain "
                        "(positions start at 1): the command side would act on it",
                    )
                if pending is not None and pending[0] < position:
                    raise _ChainBrokenError(pending[0], f"position {pending[0]} was deleted")
                digest = link(self.head.hash, self.head.position, row)
                if pending is not None and pending[0] == position:
                    if pending[1] != digest:
                        raise _ChainBrokenError(
                            position, f"the event at position {position} was altered"
                        )
                    pending = next(kept, None)
                elif position <= kept_end:
                    raise _ChainBrokenError(
                        position, f"an event was inserted at position {position}"
                    )
                self.head = Head(position, digest)
                self.events += 1
                self._check_at_checkpoints()
                if self.expected_head is not None and position == self.expected_head.position:
                    matched_expected = self.head == self.expected_head
            self._stop_at_a_signature_problem()
            self.progress(self.head.position)
            if self.head.position >= highest:
                break
        if pending is not None:
            raise _ChainBrokenError(pending[0], f"position {pending[0]} was deleted")
        self._check_checkpoints_reached()
        if self.events != extent.count:
            raise _ChainBrokenError(
                self.head.position,
                f"the event table holds {extent.count} rows from position {extent.lowest} to "
                f"{extent.highest}, and the chain walked {self.events}",
            )
        if self.expected_head is None:
            return "the chain verifies"
        if self.expected_head.position > self.head.position:
            raise _ChainBrokenError(
                self.expected_head.position,
                f"the ledger ends at position {self.head.position}, before the expected head "
                f"at {self.expected_head.position}: events were removed from the end",
            )
        if not matched_expected:
            raise _ChainBrokenError(
                self.expected_head.position,
                f"the chain at position {self.expected_head.position} differs from the "
                "expected head",
            )
        return "the chain verifies and contains the expected head"

    def _check_signatures(self, batch: Sequence[StoredRow]) -> None:
        if self.checks is None:
            return
        through = max(self.checked_earlier_through, 0)  # a row below 1 fails the walk first
        unchecked = [row for row in batch if row.position > through]
        if unchecked:
            self.checks.submit(unchecked)

    def _stop_at_a_signature_problem(self) -> None:
        """A signature found wrong ends the walk at the batch it is in."""
        if self.checks is not None and self.checks.findings.problem is not None:
            raise _ChainBrokenError(*self.checks.findings.problem)

    def _check_checkpoints(self) -> None:
        """Every checkpoint, stored or exported, must be signed with a known key."""
        if self.keyring is None:
            return
        found: list[tuple[str, Checkpoint | str]] = [
            ("stored", c) for c in stored_checkpoints(self.table)
        ]
        found += [("exported", c) for c in self.exported]
        adopted = 0
        for where, checkpoint in found:
            if isinstance(checkpoint, str):
                raise _ChainBrokenError(0, f"a stored checkpoint is not one: {checkpoint[:80]!r}")
            problem = checkpoint.problem(self.keyring)
            if problem is not None:
                raise _ChainBrokenError(
                    checkpoint.position, f"{checkpoint} ({where}) is forged: {problem}"
                )
            at_position = self.checkpoints.setdefault(checkpoint.position, [])
            if checkpoint not in at_position:  # stored and exported: the same checkpoint
                at_position.append(checkpoint)
            if checkpoint.adoption:
                adopted = max(adopted, checkpoint.position)
        self.signatures = EventSignatures(self.keyring, unsigned_through=adopted)
        for checkpoint in self.checkpoints.pop(0, []):
            if (checkpoint.head, checkpoint.count) != (GENESIS, 0):
                raise _ChainBrokenError(0, f"{checkpoint} is not of an empty ledger")
        self._checkpoint_positions = sorted(self.checkpoints)

    def _check_at_checkpoints(self) -> None:
        """The chain where a checkpoint was taken must be the one it signed; a checkpoint's
        position the walk went past was deleted."""
        while self._checkpoint_positions and self._checkpoint_positions[0] <= self.head.position:
            position = self._checkpoint_positions.pop(0)
            checkpoint = self.checkpoints[position][0]
            if position < self.head.position:
                raise _ChainBrokenError(
                    position, f"position {position}, where {checkpoint}, was deleted"
                )
            for checkpoint in self.checkpoints[position]:
                if (checkpoint.head, checkpoint.count) != (self.head.hash, self.events):
                    raise _ChainBrokenError(
                        position,
                        f"the chain at position {position} differs from {checkpoint}: the "
                        "history up to it was rewritten",
                    )

    def _check_checkpoints_reached(self) -> None:
        if self._checkpoint_positions:
            position = self._checkpoint_positions[0]
            raise _ChainBrokenError(
                position,
                f"the ledger ends at position {self.head.position}, before "
                f"{self.checkpoints[position][0]}: events were removed from the end",
            )


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
