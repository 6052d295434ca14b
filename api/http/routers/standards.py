from __future__ import annotations

from fastapi import APIRouter, status

from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import AnyProgramme, Recorded, StandardIn
from api.http.writes import FinanceDecision
from api.services.inputs import RegionCode

router = APIRouter(prefix="/standards", tags=["standards"], responses=PROBLEM_RESPONSES)


@router.post("/{programme}/{region}", status_code=status.HTTP_201_CREATED)
def set_standard(
    programme: AnyProgramme, region: RegionCode, body: StandardIn, decide: FinanceDecision
) -> Recorded:
    """Set a standard from a month; every parameter may only rise over time."""
    return decide(
        body,
        lambda ledger, actor: ledger.set_standard(
            programme, region, body.effective, body.parameters, actor=actor, reason=body.reason
        ),
    )


@router.post("/{programme}/{region}/corrections", status_code=status.HTTP_201_CREATED)
def correct_standard(
    programme: AnyProgramme, region: RegionCode, body: StandardIn, decide: FinanceDecision
) -> Recorded:
    """Correct a mistaken entry (it may go down); the reason is kept for the auditors."""
    return decide(
        body,
        lambda ledger, actor: ledger.correct_standard(
            programme, region, body.effective, body.parameters, actor=actor, reason=body.reason
        ),
    )
