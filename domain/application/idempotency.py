"""Idempotency records: the first answer to a request, saved with the decision it made.

A client that retries a request with the same Idempotency-Key gets the first answer, and
the ledger records nothing twice: the record and the decision are saved in one ``save()``,
so either both exist or neither does.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

_IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:idempotency")


class IdempotencyRecord(Aggregate):
    class Answered(Aggregate.Created):
        actor: str
        key: str
        request_hash: str
        subject_id: UUID  # the case, relief, schedule or payroll the request decided on

    def __init__(self, actor: str, key: str, request_hash: str, subject_id: UUID) -> None:
        self.actor = actor
        self.key = key
        self.request_hash = request_hash
        self.subject_id = subject_id

    @staticmethod
    def id_for(actor: str, key: str) -> UUID:
        """Keys are scoped to the caller: two callers may use the same key."""
        return uuid5(_IDEMPOTENCY_NAMESPACE, f"{actor}\x00{key}")

    @classmethod
    def answer(
        cls, actor: str, key: str, request_hash: str, subject_id: UUID, at: datetime
    ) -> IdempotencyRecord:
        return cls._create(
            cls.Answered,
            id=cls.id_for(actor, key),
            actor=actor,
            key=key,
            request_hash=request_hash,
            subject_id=subject_id,
            timestamp=at,
        )
