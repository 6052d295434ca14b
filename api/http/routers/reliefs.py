from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from api.http.deps import KnowledgeDep, RuntimeDep, Staff
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import OverdueReviewPublic, OverdueReviewsPublic, Recorded, ReliefPublic
from api.http.writes import ApproverWriter, CaseworkerWriter, ReviewerWriter
from api.services import decisions
from api.services.decisions import Reasoned, ReliefIn, ReliefReview
from domain.months import BUREAU_TIME_ZONE
from domain.relief import ReliefKind

router = APIRouter(prefix="/reliefs", tags=["temporary relief"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
def grant_relief(body: ReliefIn, write: CaseworkerWriter) -> Recorded:
    """Grant temporary relief: at once up to the cap (cap multiple x the dibao standard x
    household size), else as a request for a second person's approval."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.grant_relief(ledger, body, actor=actor, uow=uow),
    )


@router.get("/overdue-reviews")
def overdue_reviews(
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    today: Annotated[date | None, Query(description="Default: today in Asia/Shanghai")] = None,
) -> OverdueReviewsPublic:
    """Emergency relief paid but not reviewed within 30 days of its date, in the regions you
    serve, as known at the position asked for."""
    day = today or datetime.now(BUREAU_TIME_ZONE).date()
    read = runtime.read_side
    return OverdueReviewsPublic(
        today=day,
        reliefs=[
            OverdueReviewPublic(
                relief_id=r.relief_id, region=r.region, relief_date=r.relief_date, due=r.due
            )
            for r in read.overdue_reviews(day, knowledge.position)
            if user.serves(r.region)
        ],
    )


@router.get("/{relief_id}")
def read_relief(relief_id: UUID, runtime: RuntimeDep, user: Staff) -> ReliefPublic:
    relief = runtime.ledger.relief(relief_id)
    return ReliefPublic(
        id=relief.id,
        region=relief.region,
        area=relief.area,
        kind=relief.kind.value,
        relief_date=relief.relief_date,
        household_size=relief.household_size,
        amount=relief.amount,
        cap=relief.cap,
        granted=relief.granted,
        review=relief.review.value if relief.review else None,
        review_due=relief.review_due if relief.kind is ReliefKind.EMERGENCY else None,
        to_recover=relief.to_recover,
    )


@router.post("/{relief_id}/approvals", status_code=status.HTTP_201_CREATED)
def approve_relief(relief_id: UUID, body: Reasoned, write: ApproverWriter) -> Recorded:
    """Approve relief above the cap; not by the person who requested it."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.approve_relief(
            ledger, relief_id, body, actor=actor, uow=uow
        ),
    )


@router.post("/{relief_id}/reviews", status_code=status.HTTP_201_CREATED)
def review_relief(relief_id: UUID, body: ReliefReview, write: ReviewerWriter) -> Recorded:
    """Review emergency relief after payment: confirmed, or rescinded (then recovered)."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.review_relief(
            ledger, relief_id, body, actor=actor, uow=uow
        ),
    )
