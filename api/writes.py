"""Recording a decision from a request: once, even when the client retries.

With an ``Idempotency-Key`` header the answer is stored with the decision, in the same save;
a retry with the same key and body gets the first answer, the same key with another body
gets 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, HTTPException, Request
from pydantic import BaseModel

from api.auth import User
from api.runtime import Runtime
from api.schemas import Recorded
from domain.errors import ConflictError
from domain.idempotency import IdempotencyRecord
from domain.ledger import Receipt

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key returns the first answer and records nothing "
        "twice.",
    ),
]


def request_hash(request: Request, body: BaseModel | None) -> str:
    payload = body.model_dump(mode="json") if body is not None else None
    text = json.dumps([request.method, request.url.path, payload], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decide(
    runtime: Runtime,
    user: User,
    key: str | None,
    fingerprint: str,
    command: Callable[[], Receipt],
) -> Recorded:
    """Run ``command`` (a Ledger call) once per idempotency key."""
    ledger = runtime.ledger
    if key is None:
        receipt = command()
        return Recorded(id=receipt.id, position=receipt.position)
    earlier = ledger.idempotency_record(user.name, key)
    if earlier is not None:
        return _replay(runtime, earlier, fingerprint)
    try:
        with ledger.idempotent(user.name, key, fingerprint):
            receipt = command()
    except ConflictError:
        # A racing request with this key may have won, which is what made this one conflict.
        earlier = ledger.idempotency_record(user.name, key)
        if earlier is None:
            raise
        return _replay(runtime, earlier, fingerprint)
    return Recorded(id=receipt.id, position=receipt.position)


def _replay(runtime: Runtime, earlier: IdempotencyRecord, fingerprint: str) -> Recorded:
    if earlier.request_hash != fingerprint:
        raise HTTPException(422, "this Idempotency-Key was already used for a different request")
    read = runtime.read_side
    read.wait_for(runtime.ledger.position, timeout=5)
    position = read.position_before(earlier.id.hex)
    if position is None:
        raise HTTPException(503, "the first answer is not readable yet; retry shortly")
    return Recorded(id=earlier.subject_id, position=position)
