"""Household economic verifications: recorded as the platform answered them, or requested of
the platform through the outbox (docs/verification.md). The figures are shown to staff only,
in answers, never in a URL, a log line or a feed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from fastapi import APIRouter, status
from pydantic import BaseModel

from api.http.deps import RuntimeDep, Staff, refuse_outside
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import Recorded
from api.http.writes import CaseworkerWriter
from api.services import household_checks
from api.services.household_checks import VerificationIn, VerificationRequestIn

router = APIRouter(
    prefix="/verifications", tags=["household verification"], responses=PROBLEM_RESPONSES
)
requests_router = APIRouter(
    prefix="/verification-requests", tags=["household verification"], responses=PROBLEM_RESPONSES
)


class VerifiedMemberPublic(BaseModel):
    reference: str
    income: Decimal | None


class VerificationPublic(BaseModel):
    """A verification: ``state`` is ``requested`` until the platform's answer is recorded,
    then ``answered`` with what it found."""

    id: UUID
    case_id: UUID | None
    state: str
    requested_by: str
    members: list[VerifiedMemberPublic]
    sources: list[str]
    made_on: date | None
    level: str | None
    report_id: str | None
    total_income: Decimal | None
    per_capita_income: Decimal | None


@router.post("", status_code=status.HTTP_201_CREATED)
def record_verification(body: VerificationIn, write: CaseworkerWriter) -> Recorded:
    """Record a verification a platform answered out of band: every member of the household
    with their verified monthly income, the sources checked, the day it was made, the
    platform's level and report id, and the case for a re-verification. Cite its ``id`` as
    ``verification_id`` in a dibao or tekun grant or reassessment."""
    if body.case_id is not None:
        refuse_outside(write.runtime, write.user, write.runtime.region_of("case", body.case_id))
    return write(
        body,
        lambda ledger, actor, uow: household_checks.record_verification(
            ledger, body, actor=actor, uow=uow
        ),
    )


@router.get("/{verification_id}")
def read_verification(
    verification_id: UUID, runtime: RuntimeDep, user: Staff
) -> VerificationPublic:
    """A verification with what the platform found, once it answered."""
    verification = runtime.ledger.verification(verification_id)
    answer = verification.answer
    incomes = (
        {item["reference"]: Decimal(item["income"].reveal()) for item in answer.incomes}
        if answer is not None
        else {}
    )
    return VerificationPublic(
        id=verification.id,
        case_id=verification.case_id,
        state="answered" if answer is not None else "requested",
        requested_by=verification.requested_by,
        members=[
            VerifiedMemberPublic(reference=ref, income=incomes.get(ref))
            for ref in verification.member_refs
        ],
        sources=list(answer.sources) if answer is not None else [],
        made_on=answer.made_on if answer is not None else None,
        level=answer.level if answer is not None else None,
        report_id=answer.report_id if answer is not None else None,
        total_income=Decimal(answer.total.reveal()) if answer is not None else None,
        per_capita_income=Decimal(answer.per_capita.reveal()) if answer is not None else None,
    )


@requests_router.post("", status_code=status.HTTP_201_CREATED)
def request_verification(body: VerificationRequestIn, write: CaseworkerWriter) -> Recorded:
    """Ask the verification platform to check a household: its members' identity numbers,
    and its case for a re-verification. The request is stored at once and sent by the
    outbox (``ledger verify-households``), retried until the platform answers; then
    ``GET /verifications/{id}`` shows the answer, and a decision may cite it."""
    if body.case_id is not None:
        refuse_outside(write.runtime, write.user, write.runtime.region_of("case", body.case_id))
    return write(
        body,
        lambda ledger, actor, uow: household_checks.request_verification(
            ledger, body, actor=actor, uow=uow
        ),
    )
