"""Recording a decision from a request: once, even when the client retries.

With an ``Idempotency-Key`` header the answer is stored with the decision, in the same save;
a retry with the same key and body gets the first answer, the same key with another body
gets 422.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from pydantic import BaseModel

from api.core.bootstrap import Runtime
from api.core.identities import Role, User
from api.http.deps import RuntimeDep, allowed
from api.http.schemas import Recorded
from domain.application.idempotency import IdempotencyRecord
from domain.application.ledger import Ledger
from domain.application.recording import Receipt
from domain.errors import ConflictError

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


Command = Callable[[Ledger, str], Receipt]  # the ledger, and the actor's name


@dataclass(frozen=True)
class Decider:
    """Records one request's decision, as the caller, once per idempotency key."""

    runtime: Runtime
    user: User
    request: Request
    key: str | None

    def __call__(self, body: BaseModel | None, command: Command) -> Recorded:
        fingerprint = request_hash(self.request, body)
        return decide(
            self.runtime,
            self.user,
            self.key,
            fingerprint,
            lambda: command(self.runtime.ledger, self.user.name),
        )


def decider_for(*roles: Role) -> Callable[..., Awaitable[Decider]]:
    # This module has no ``from __future__ import annotations``: FastAPI reads the
    # annotations below at run time, and ``check`` is local to this function.
    check = allowed(*roles)

    async def make(
        request: Request,
        runtime: RuntimeDep,
        user: Annotated[User, Depends(check)],
        idempotency_key: IdempotencyKey = None,
    ) -> Decider:
        return Decider(runtime, user, request, idempotency_key)

    return make


CaseworkerDecision = Annotated[Decider, Depends(decider_for(Role.CASEWORKER))]
ApproverDecision = Annotated[Decider, Depends(decider_for(Role.APPROVER))]
ReviewerDecision = Annotated[Decider, Depends(decider_for(Role.CASEWORKER, Role.APPROVER))]
FinanceDecision = Annotated[Decider, Depends(decider_for(Role.FINANCE))]


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
