"""Every stored event is signed by the service with a key the database never holds.

A hash chain computed from the database can be recomputed by whoever writes the database;
a signature cannot be made without the key. So the mapper signs each event as it encodes
it (Ed25519, from ``cryptography``) and refuses, as it decodes, any event whose signature
is missing, does not match, or was made with a key it does not know. The command side, the
projector and ``ledger verify`` all decode through it, so none of them acts on an event
that verify would reject.

The stored state of a signed event is an envelope around the library's own encoding::

    b"LSG\\x01" || u8 len(key id) || key id || signature (64 bytes) || inner state

and the signature is over ``EVENT_CONTEXT || originator id (16 bytes) || u64be(version) ||
u32be(len(topic)) || topic || u8 len(key id) || key id || inner state``: an event's
signature does not fit another aggregate, version or class. The audit chain hashes the
stored bytes, envelope included.

Keys come from the environment the Ledger is built with (``api.core.settings``):
``LEDGER_SIGNING_KEY`` (base64 of the 32 raw bytes of an Ed25519 private key),
``LEDGER_SIGNING_KEY_ID`` (default: the public key's fingerprint) and
``LEDGER_VERIFY_KEYS`` (a JSON object, key id → base64 public key: the keys of earlier
rotations). The key id travels in each envelope, so keys rotate without re-signing.

Events stored before signing existed carry no envelope. They are accepted only at
positions the ledger adopted (``projections.reads.checkpointing.adopt``): a signed
adoption checkpoint says "every event up to position P may be unsigned". Anywhere else
an unsigned event is refused.
"""

from __future__ import annotations

import copy
import hashlib
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    Notification,
    StoredEvent,
)

from projections.storage.checkpoints import adopted_through
from projections.storage.event_table import EventTable, StoredRow
from projections.storage.keys import SIGNATURE_BYTES, Keyring, SignatureCheck

MAGIC = b"LSG\x01"  # "ledger signature", envelope version 1
EVENT_CONTEXT = b"social-assistance-ledger event v1\x00"
# Signatures already checked (or made here), by digest of what they sign, the least recently
# used dropped first: about 160 bytes each, and as many as an import at scale 1 reads back.
VERIFIED_CACHE = 1_000_000
_VERSION_AND_TOPIC_LENGTH = struct.Struct(">QI")
_KEY_LENGTH = struct.Struct(">B")


class UnverifiedEventError(Exception):
    """A stored event whose signature is missing, wrong or made with an unknown key.

    Raised instead of decoding it: nothing may act on an event that ``ledger verify``
    would reject. The message names the aggregate, version and (when known) position,
    never the event's contents."""

    def __init__(
        self, originator_id: UUID, originator_version: int, position: int | None, reason: str
    ) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(
            f"the event {originator_version} of {originator_id}{where} does not verify: {reason}"
        )
        self.originator_id = originator_id
        self.originator_version = originator_version
        self.position = position
        self.reason = reason


def originator_bytes(originator_id: UUID | str) -> bytes:
    return (originator_id if isinstance(originator_id, UUID) else UUID(originator_id)).bytes


def event_message(stored: StoredEvent, key_id: str, inner: bytes) -> bytes:
    return signed_message(
        originator_bytes(stored.originator_id),
        stored.originator_version,
        stored.topic,
        key_id,
        inner,
    )


def signed_message(originator: bytes, version: int, topic: str, key_id: str, inner: bytes) -> bytes:
    """What an event's signature is over, after ``EVENT_CONTEXT``: ``originator`` is the
    16 bytes of its aggregate's id."""
    topic_bytes = topic.encode("utf-8")
    key = key_id.encode("ascii")
    return b"".join(
        (
            originator,
            _VERSION_AND_TOPIC_LENGTH.pack(version, len(topic_bytes)),
            topic_bytes,
            _KEY_LENGTH.pack(len(key)),
            key,
            inner,
        )
    )


def seal(stored: StoredEvent, keyring: Keyring) -> StoredEvent:
    """``stored`` with its state wrapped in a signed envelope."""
    return seal_all([stored], keyring)[0].stored


@dataclass(frozen=True)
class Sealed:
    stored: StoredEvent
    message: bytes  # what the signature is over, after EVENT_CONTEXT
    signature: bytes


def seal_all(stored_events: Sequence[StoredEvent], keyring: Keyring) -> list[Sealed]:
    """Each of ``stored_events`` with its state wrapped in a signed envelope."""
    key_id = keyring.signing_key_id()
    key = key_id.encode("ascii")
    messages = [event_message(stored, key_id, stored.state) for stored in stored_events]
    signatures = keyring.sign_all(EVENT_CONTEXT, messages)
    return [
        Sealed(
            StoredEvent(
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                state=b"".join((MAGIC, _KEY_LENGTH.pack(len(key)), key, signature, stored.state)),
            ),
            message,
            signature,
        )
        for stored, message, signature in zip(stored_events, messages, signatures, strict=True)
    ]


@dataclass(frozen=True)
class Envelope:
    key_id: str
    signature: bytes
    inner: bytes


def open_envelope(state: bytes) -> Envelope | None:
    """The envelope of a signed state; None for a state with none (unsigned)."""
    if not state.startswith(MAGIC):
        return None
    at = len(MAGIC)
    if len(state) < at + 1:
        return Envelope("", b"", b"")
    size = state[at]
    key = state[at + 1 : at + 1 + size]
    signature = state[at + 1 + size : at + 1 + size + SIGNATURE_BYTES]
    inner = state[at + 1 + size + SIGNATURE_BYTES :]
    try:
        key_id = key.decode("ascii")
    except UnicodeDecodeError:
        key_id = key.decode("latin-1")
    return Envelope(key_id, signature, inner)


@dataclass
class EventSignatures:
    """Checks the signature of a stored event; remembers the ones already checked.

    ``unsigned_through`` is the last position adopted unsigned (0: none); ``positions``
    finds an event's position when it was read without one (an aggregate's events);
    ``remember`` is False for a reader of each event once (a replay), which neither looks
    for a signature among those checked nor remembers it; ``vouched_through`` is the last
    position whose signature such a reader need not check (0: none), read by position, since
    a signed checkpoint vouches for every event up to it (``read_once``)."""

    keyring: Keyring
    unsigned_through: int = 0
    positions: EventTable | None = None
    remember: bool = True
    vouched_through: int = 0
    _verified: OrderedDict[bytes, None] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inner_state(self, stored: StoredEvent) -> bytes:
        """The state the library encoded, once ``stored``'s signature is checked; raises
        ``UnverifiedEventError`` when it does not verify."""
        problem, inner = self._check(stored, remember=self.remember)
        if problem is not None:
            raise UnverifiedEventError(
                _uuid(stored.originator_id),
                stored.originator_version,
                self._position(stored),
                problem,
            )
        return inner

    def inner_states(
        self, stored_events: Sequence[StoredEvent]
    ) -> tuple[list[bytes], UnverifiedEventError | None]:
        """``inner_state`` of each of ``stored_events`` up to the first that does not verify,
        and why that one does not (None: every one does). The signatures not among those
        checked before are checked together (``Keyring.problems``)."""
        found: list[tuple[str | None, bytes]] = []
        unchecked: list[tuple[int, SignatureCheck, bytes | None]] = []
        for index, stored in enumerate(stored_events):
            envelope = open_envelope(stored.state)
            if envelope is None:
                found.append((self._unsigned(stored), stored.state))
                continue
            problem = self._envelope_problem(envelope)
            if problem is not None:
                found.append((problem, b""))
                continue
            found.append((None, envelope.inner))
            if self._vouched_for(stored):
                continue
            message = event_message(stored, envelope.key_id, envelope.inner)
            digest = None
            if self.remember:
                digest = hashlib.sha256(message + envelope.signature).digest()
                if digest in self._verified:
                    self._remember(digest)
                    continue
            unchecked.append((index, (envelope.key_id, message, envelope.signature), digest))
        problems = self.keyring.problems(EVENT_CONTEXT, [check for _, check, _ in unchecked])
        for (index, _, digest), problem in zip(unchecked, problems, strict=True):
            if problem is not None:
                found[index] = (problem, b"")
            elif digest is not None:
                self._remember(digest)
        for index, (problem, _) in enumerate(found):
            if problem is not None:
                stored = stored_events[index]
                refusal = UnverifiedEventError(
                    _uuid(stored.originator_id),
                    stored.originator_version,
                    self._position(stored),
                    problem,
                )
                return [inner for _, inner in found[:index]], refusal
        return [inner for _, inner in found], None

    def _position(self, stored: StoredEvent) -> int | None:
        if isinstance(stored, Notification):
            return stored.id
        if self.positions is None:
            return None
        return self.positions.position_of(stored.originator_id, stored.originator_version)

    def problem(self, stored: StoredEvent, *, remember: bool = True) -> str | None:
        """Why ``stored`` does not verify (None: it does). A verification reads each event
        once, so it neither looks for the signature among those checked nor remembers it
        (``remember=False``)."""
        return self._check(stored, remember=remember)[0]

    def row_problem(
        self, position: int, originator: bytes, version: int, topic: str, state: bytes
    ) -> tuple[str | None, str | None]:
        """Why the event stored at ``position`` does not verify (None: it does), and the id
        of the key it is signed with (None: it is not signed). For a verification, which
        reads each event once and its stored columns only (``originator``: the 16 bytes of
        the aggregate's id): nothing is looked up among the signatures checked or
        remembered."""
        envelope = open_envelope(state)
        if envelope is None:
            return self._unsigned_at(position), None
        problem = self._envelope_problem(envelope)
        if problem is None:
            message = signed_message(originator, version, topic, envelope.key_id, envelope.inner)
            problem = self._signature_problem(envelope, message)
        return problem, envelope.key_id

    def _check(self, stored: StoredEvent, *, remember: bool = True) -> tuple[str | None, bytes]:
        envelope = open_envelope(stored.state)
        if envelope is None:
            return self._unsigned(stored), stored.state
        problem = self._envelope_problem(envelope)
        if problem is not None:
            return problem, b""
        if self._vouched_for(stored):
            return None, envelope.inner
        message = event_message(stored, envelope.key_id, envelope.inner)
        if not remember:
            return self._signature_problem(envelope, message), envelope.inner
        digest = hashlib.sha256(message + envelope.signature).digest()
        if digest in self._verified:
            self._remember(digest)
            return None, envelope.inner
        problem = self._signature_problem(envelope, message)
        if problem is None:
            self._remember(digest)
        return problem, envelope.inner

    def _envelope_problem(self, envelope: Envelope) -> str | None:
        if len(envelope.signature) != SIGNATURE_BYTES:
            return "its signature envelope is cut short"
        if envelope.key_id not in self.keyring.public:
            return f"it is signed with key {envelope.key_id!r}, which is not among the verify keys"
        return None

    def _vouched_for(self, stored: StoredEvent) -> bool:
        return isinstance(stored, Notification) and 1 <= stored.id <= self.vouched_through

    def _signature_problem(self, envelope: Envelope, message: bytes) -> str | None:
        return self.keyring.problem(envelope.key_id, EVENT_CONTEXT, message, envelope.signature)

    def signed(self, message: bytes, signature: bytes) -> None:
        """Remember the signature of an event this mapper has just sealed (``message`` is
        what it signs): it is known good (it was made here, over these very bytes), so
        reading the event back, as the projector does soon after an import's batch, need
        not check it again. The cache is keyed by the digest of what is signed, so an
        event altered in the store since does not match it and is checked in full."""
        self._remember(hashlib.sha256(message + signature).digest())

    def _remember(self, digest: bytes) -> None:
        if not self.remember:
            return
        with self._lock:
            self._verified[digest] = None
            self._verified.move_to_end(digest)
            if len(self._verified) > VERIFIED_CACHE:
                self._verified.popitem(last=False)

    def _unsigned(self, stored: StoredEvent) -> str | None:
        # an aggregate's event is found at its position by a query: only when it matters
        return self._unsigned_at(self._position(stored) if self.unsigned_through > 0 else None)

    def _unsigned_at(self, position: int | None) -> str | None:
        if self.unsigned_through <= 0:
            return "it is not signed"
        if position is None or not 1 <= position <= self.unsigned_through:
            return (
                f"it is not signed, and only the events up to position "
                f"{self.unsigned_through} were adopted unsigned"
            )
        return None


def _uuid(originator_id: UUID | str) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)


class SignedMapper(Mapper[UUID]):
    """The library's mapper, with every event signed as it is stored and checked as it is
    read. Chosen by ``MAPPER_TOPIC``; the Ledger binds it to its keys and its recorder
    (``bind``) once both exist."""

    signatures: EventSignatures | None = None

    def bind(self, env: Mapping[str, str], recorder: ApplicationRecorder) -> None:
        table = EventTable.of(recorder)
        signatures = EventSignatures(Keyring.from_env(env), positions=table)
        signatures.unsigned_through = adopted_through(table, signatures.keyring)
        self.signatures = signatures

    @property
    def bound(self) -> EventSignatures:
        if self.signatures is None:
            raise RuntimeError("the signing mapper was not bound to its keys")
        return self.signatures

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return self.to_stored_events([domain_event])[0]

    def to_stored_events(self, domain_events: Sequence[Any]) -> list[StoredEvent]:
        """The stored forms of the events a save records together, sealed: a long run's
        signatures are made on two threads (``Keyring.sign_all``)."""
        signatures, encode = self.bound, super().to_stored_event
        sealed = seal_all([encode(event) for event in domain_events], signatures.keyring)
        for each in sealed:
            signatures.signed(each.message, each.signature)
        return [each.stored for each in sealed]

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self._decoded(stored_event, self.bound.inner_state(stored_event))

    def to_domain_events(
        self, stored_events: Sequence[StoredEvent]
    ) -> tuple[list[Any], UnverifiedEventError | None]:
        """The events up to the first that does not verify, and why that one does not
        (None: every one does); a long run's signatures are checked on two threads."""
        inner, refusal = self.bound.inner_states(stored_events)
        events = [self._decoded(s, state) for s, state in zip(stored_events, inner, strict=False)]
        return events, refusal

    def _decoded(self, stored: StoredEvent, inner: bytes) -> Any:
        return super().to_domain_event(
            StoredEvent(
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                state=inner,
            )
        )


def decode_all(
    mapper: Mapper[UUID], stored_events: Sequence[StoredEvent]
) -> tuple[list[Any], UnverifiedEventError | None]:
    """The events of ``stored_events`` up to the first that does not verify, and why that
    one does not (None: every one does)."""
    if isinstance(mapper, SignedMapper):
        return mapper.to_domain_events(stored_events)
    return [mapper.to_domain_event(stored) for stored in stored_events], None


def read_once(mapper: Mapper[UUID], vouched_through: int = 0) -> Mapper[UUID]:
    """``mapper`` for a reader of each event once, as a replay is: every signature is checked
    as ``mapper`` checks it, and none is looked for among those checked or remembered, so
    that a replay of the whole ledger does not fill the checked signatures' cache
    (``VERIFIED_CACHE`` digests) with events it will not read again. The signatures of the
    events up to position ``vouched_through`` are not checked: only for a reader that
    found the chain over those very rows signed in a checkpoint
    (``audit_chain.signatures_vouched_through``), as taking it checked them."""
    if not isinstance(mapper, SignedMapper):
        return mapper
    bound = mapper.bound
    once = copy.copy(mapper)
    once.signatures = EventSignatures(
        bound.keyring,
        bound.unsigned_through,
        bound.positions,
        remember=False,
        vouched_through=vouched_through,
    )
    return once


def decoded_unchecked(mapper: Mapper[UUID], row: StoredRow) -> Any:
    """``row`` decoded without checking its signature. Only for deciding where an event
    goes when whoever acts on it decodes it again, checked (a partitioned replay places
    events so, and each worker checks those it is given)."""
    signed = isinstance(mapper, SignedMapper)
    envelope = open_envelope(row.state) if signed else None
    stored = StoredEvent(
        originator_id=UUID(bytes=row.originator),
        originator_version=row.version,
        topic=row.topic,
        state=row.state if envelope is None else envelope.inner,
    )
    return Mapper.to_domain_event(mapper, stored) if signed else mapper.to_domain_event(stored)


def signatures_of(mapper: object) -> EventSignatures | None:
    """The signature checks of a ledger's mapper; None when it does not sign."""
    return mapper.signatures if isinstance(mapper, SignedMapper) else None
