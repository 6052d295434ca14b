from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.deps import Finance, RuntimeDep
from api.problems import PROBLEM_RESPONSES
from api.schemas import AnyProgramme, Recorded, RegionCode, StandardIn
from api.writes import IdempotencyKey, decide, request_hash

router = APIRouter(prefix="/standards", tags=["standards"], responses=PROBLEM_RESPONSES)


@router.post("/{programme}/{region}", status_code=status.HTTP_201_CREATED)
def set_standard(
    programme: AnyProgramme,
    region: RegionCode,
    body: StandardIn,
    request: Request,
    runtime: RuntimeDep,
    user: Finance,
    idempotency_key: IdempotencyKey = None,
) -> Recorded:
    """Set a standard from a month; every parameter may only rise over time."""
    return decide(
        runtime,
        user,
        idempotency_key,
        request_hash(request, body),
        lambda: runtime.ledger.set_standard(
            programme, region, body.effective, body.parameters, actor=user.name, reason=body.reason
        ),
    )


@router.post("/{programme}/{region}/corrections", status_code=status.HTTP_201_CREATED)
def correct_standard(
    programme: AnyProgramme,
    region: RegionCode,
    body: StandardIn,
    request: Request,
    runtime: RuntimeDep,
    user: Finance,
    idempotency_key: IdempotencyKey = None,
) -> Recorded:
    """Correct a mistaken entry (it may go down); the reason is kept for the auditors."""
    return decide(
        runtime,
        user,
        idempotency_key,
        request_hash(request, body),
        lambda: runtime.ledger.correct_standard(
            programme, region, body.effective, body.parameters, actor=user.name, reason=body.reason
        ),
    )
