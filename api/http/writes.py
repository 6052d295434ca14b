"""Recording a decision from a request: once, even when the client retries.

The request chooses the unit of work its decision is saved through: without an
``Idempotency-Key`` header, saved now; with one, the answer is stored with the decision, in
the same save, a retry with the same key and body gets the first answer and the same key
with another body gets 422 (``/problems/idempotency-key-reused``, as the IETF draft on the
Idempotency-Key header advises), naming the decision the key was first used for.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from pydantic import BaseModel

from api.core.bootstrap import Runtime
from api.core.identities import Role, User
from api.http.deps import (
    APPROVERS,
    CASEWORKERS,
    FINANCE,
    REVIEWERS,
    RuntimeDep,
    allowed,
    get_user,
    refuse_outside,
)
from api.http.problems import IDEMPOTENCY_KEY_REUSED, HTTPProblem
from api.http.schemas import Recorded
from domain.application.idempotency import IdempotencyRecord
from domain.application.ledger import Ledger
from domain.application.recording import Receipt, SaveIdempotently, SaveNow, UnitOfWork
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


# The ledger, the actor's name, and the unit of work to record the decision through.
Command = Callable[[Ledger, str, UnitOfWork], Receipt]


@dataclass(frozen=True)
class Writer:
    """Writes one request's decision to the ledger, as the caller, once per idempotency
    key, in a region the caller serves (the path's, its case's or relief's, or the body's)."""

    runtime: Runtime
    user: User
    request: Request
    key: str | None

    def __call__(self, body: BaseModel | None, command: Command) -> Recorded:
        region = getattr(body, "region", None)
        if isinstance(region, str):  # a grant or relief names where it is decided
            refuse_outside(self.runtime, self.user, region)
        fingerprint = request_hash(self.request, body)
        return write_once(self.runtime, self.user, self.key, fingerprint, command)


def writer_for(
    *roles: Role, identify: Callable[..., Awaitable[User]] = get_user
) -> Callable[..., Awaitable[Writer]]:
    """A dependency giving a ``Writer`` for the caller, as ``identify`` finds them (a bearer
    token; the pages pass their session's), once their role and region are checked."""
    # This module has no ``from __future__ import annotations``: FastAPI reads the
    # annotations below at run time, and ``check`` is local to this function.
    check = allowed(*roles, identify=identify)

    async def make(
        request: Request,
        runtime: RuntimeDep,
        user: Annotated[User, Depends(check)],
        idempotency_key: IdempotencyKey = None,
    ) -> Writer:
        return Writer(runtime, user, request, idempotency_key)

    return make


CaseworkerWriter = Annotated[Writer, Depends(writer_for(*CASEWORKERS))]
ApproverWriter = Annotated[Writer, Depends(writer_for(*APPROVERS))]
ReviewerWriter = Annotated[Writer, Depends(writer_for(*REVIEWERS))]
FinanceWriter = Annotated[Writer, Depends(writer_for(*FINANCE))]


def request_hash(request: Request, body: BaseModel | None) -> str:
    payload = body.model_dump(mode="json") if body is not None else None
    text = json.dumps([request.method, request.url.path, payload], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_once(
    runtime: Runtime,
    user: User,
    key: str | None,
    fingerprint: str,
    command: Command,
) -> Recorded:
    """Run ``command`` (a Ledger call) once per idempotency key."""
    ledger = runtime.ledger
    if key is None:
        receipt = command(ledger, user.name, SaveNow(ledger))
        return Recorded(id=receipt.id, position=receipt.position)
    earlier = ledger.idempotency_record(user.name, key)
    if earlier is not None:
        return _replay(runtime, earlier, fingerprint)
    try:
        receipt = command(ledger, user.name, SaveIdempotently(ledger, user.name, key, fingerprint))
    except ConflictError:
        # A racing request with this key may have won, which is what made this one conflict.
        earlier = ledger.idempotency_record(user.name, key)
        if earlier is None:
            raise
        return _replay(runtime, earlier, fingerprint)
    return Recorded(id=receipt.id, position=receipt.position)


def _replay(runtime: Runtime, earlier: IdempotencyRecord, fingerprint: str) -> Recorded:
    if earlier.request_hash != fingerprint:
        used = earlier.created_on.astimezone(UTC)
        raise HTTPProblem(
            IDEMPOTENCY_KEY_REUSED,
            f"this Idempotency-Key was already used on {used:%Y-%m-%d %H:%M} UTC "
            f"for a different request, which decided on {earlier.subject_id}; use a new key "
            "for a new request",
            field="header.Idempotency-Key",
        )
    read = runtime.read_side
    read.wait_for(runtime.ledger.position, timeout=5)
    position = read.position_before(earlier.id.hex)
    if position is None:
        raise HTTPException(503, "the first answer is not readable yet; retry shortly")
    return Recorded(id=earlier.subject_id, position=position)
