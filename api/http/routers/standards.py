from __future__ import annotations

from fastapi import APIRouter, status

from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import Recorded
from api.http.writes import FinanceWriter
from api.services import decisions
from api.services.decisions import StandardIn
from api.services.fields import AnyProgramme, RegionCode

router = APIRouter(prefix="/standards", tags=["standards"], responses=PROBLEM_RESPONSES)


@router.post("/{programme}/{region}", status_code=status.HTTP_201_CREATED)
def set_standard(
    programme: AnyProgramme, region: RegionCode, body: StandardIn, write: FinanceWriter
) -> Recorded:
    """Set a standard from a month; every parameter may only rise over time."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.set_standard(
            ledger, programme, region, body, correction=False, actor=actor, uow=uow
        ),
    )


@router.post("/{programme}/{region}/corrections", status_code=status.HTTP_201_CREATED)
def correct_standard(
    programme: AnyProgramme, region: RegionCode, body: StandardIn, write: FinanceWriter
) -> Recorded:
    """Correct a mistaken entry (it may go down); the reason is kept for the auditors."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.set_standard(
            ledger, programme, region, body, correction=True, actor=actor, uow=uow
        ),
    )
