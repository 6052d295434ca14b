"""Signed checkpoints of the audit chain: "at position P the chain's hash was H, over N
events", signed with the service's key.

A checkpoint is one JSON line, the same stored in ``ledger_checkpoints`` and exported to a
file (``ledger checkpoints export``)::

    {"adoption": false, "count": 1200, "head": "9f86…", "key_id": "…", "position": 1200,
     "signature": "<base64>", "taken_at": "2024-05-01T08:00:00+00:00", "version": 1}

The signature is over ``CHECKPOINT_CONTEXT`` and the line's other fields as canonical JSON
(sorted keys, no spaces). Whoever writes the database can delete stored checkpoints but
cannot make one; an auditor who kept an exported line can show that the history since has
only grown (``ledger verify --checkpoints FILE``).

An adoption checkpoint (``"adoption": true``) covers a ledger stored before signing: every
event at a position up to its own may be unsigned (``projections.reads.checkpointing``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.storage.event_table import EventTable
from projections.storage.keys import Keyring

CHECKPOINT_CONTEXT = b"social-assistance-ledger checkpoint v1\x00"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    position: int
    head: bytes  # the chain's hash at ``position``
    count: int  # events in the chain up to ``position``
    taken_at: str  # ISO 8601, UTC
    adoption: bool
    key_id: str
    signature: bytes

    @classmethod
    def sign(
        cls,
        keyring: Keyring,
        position: int,
        head: bytes,
        count: int,
        *,
        adoption: bool = False,
        taken_at: datetime | None = None,
    ) -> Checkpoint:
        moment = (taken_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        unsigned = cls(position, head, count, moment, adoption, keyring.signing_key_id(), b"")
        return cls(
            position,
            head,
            count,
            moment,
            adoption,
            unsigned.key_id,
            keyring.sign(CHECKPOINT_CONTEXT, unsigned.body()),
        )

    def _fields(self) -> dict[str, Any]:
        return {
            "adoption": self.adoption,
            "count": self.count,
            "head": self.head.hex(),
            "key_id": self.key_id,
            "position": self.position,
            "taken_at": self.taken_at,
            "version": VERSION,
        }

    def body(self) -> bytes:
        """What the signature is over."""
        return json.dumps(self._fields(), sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        fields = {**self._fields(), "signature": base64.b64encode(self.signature).decode()}
        return json.dumps(fields, sort_keys=True, separators=(", ", ": "))

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """A checkpoint from its JSON line; ``ValueError`` saying what is wrong."""
        try:
            fields = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError("a checkpoint is one JSON object per line") from None
        if not isinstance(fields, dict) or fields.get("version") != VERSION:
            raise ValueError(f"a checkpoint is a JSON object of version {VERSION}")
        try:
            position, count = fields["position"], fields["count"]
            head, taken_at, key_id = fields["head"], fields["taken_at"], fields["key_id"]
            adoption, signature = fields["adoption"], fields["signature"]
        except KeyError as missing:
            raise ValueError(f"a checkpoint needs {missing.args[0]!r}") from None
        if not (
            type(position) is int
            and type(count) is int
            and position >= 0
            and count >= 0
            and isinstance(head, str)
            and re.fullmatch(r"[0-9a-f]{64}", head)
            and isinstance(taken_at, str)
            and isinstance(key_id, str)
            and type(adoption) is bool
            and isinstance(signature, str)
        ):
            raise ValueError("a checkpoint's fields have the wrong types")
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a checkpoint's signature is not base64") from None
        return cls(position, bytes.fromhex(head), count, taken_at, adoption, key_id, raw_signature)

    def problem(self, keyring: Keyring) -> str | None:
        """Why this checkpoint is not signed by a key ``keyring`` accepts (None: it is)."""
        return keyring.problem(self.key_id, CHECKPOINT_CONTEXT, self.body(), self.signature)

    def __str__(self) -> str:
        kind = "adoption checkpoint" if self.adoption else "checkpoint"
        return f"the {kind} at position {self.position} taken at {self.taken_at}"


def stored(table: EventTable, *, adoptions_only: bool = False) -> list[Checkpoint | str]:
    """The stored checkpoints, in position order; a line that does not parse stays a line."""
    found: list[Checkpoint | str] = []
    for line in table.checkpoint_lines(adoptions_only=adoptions_only):
        try:
            found.append(Checkpoint.parse(line))
        except ValueError:
            found.append(line)
    return found


def store(table: EventTable, checkpoint: Checkpoint) -> None:
    table.add_checkpoint(checkpoint.position, checkpoint.adoption, checkpoint.line())


def adopted_through(table: EventTable, keyring: Keyring) -> int:
    """The last position a validly signed adoption checkpoint covers (0: none)."""
    positions = [
        checkpoint.position
        for checkpoint in stored(table, adoptions_only=True)
        if isinstance(checkpoint, Checkpoint)
        and checkpoint.adoption
        and checkpoint.problem(keyring) is None
    ]
    return max(positions, default=0)


def latest_signed(
    table: EventTable, keyring: Keyring, at_most: int | None = None
) -> Checkpoint | None:
    """The latest stored checkpoint signed with a key ``keyring`` accepts (at a position up
    to ``at_most``, when given)."""
    for checkpoint in reversed(stored(table)):
        if (
            isinstance(checkpoint, Checkpoint)
            and (at_most is None or checkpoint.position <= at_most)
            and checkpoint.problem(keyring) is None
        ):
            return checkpoint
    return None
