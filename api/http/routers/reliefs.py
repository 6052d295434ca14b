from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from api.http.deps import KnowledgeDep, RuntimeDep, Staff
from api.http.formats import POSITION_HEADER
from api.http.pages import LINK_HEADER, PageDep, link_header
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import (
    OverdueReviewPublic,
    OverdueReviewsPublic,
    Recorded,
    ReliefPublic,
    ReliefRecorded,
)
from api.http.writes import ApproverWriter, CaseworkerWriter, ReviewerWriter
from api.services import decisions
from api.services.decisions import Reasoned, ReliefIn, ReliefReview
from domain.months import BUREAU_TIME_ZONE
from domain.relief import ReliefKind, ReliefStatus

router = APIRouter(prefix="/reliefs", tags=["temporary relief"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
def grant_relief(body: ReliefIn, write: CaseworkerWriter, response: Response) -> ReliefRecorded:
    """Grant temporary relief: at once up to the cap (cap multiple x the dibao standard x
    household size), else as a request for a second person's approval. ``state`` says
    which (``granted`` or ``awaiting_approval``); ``Location`` names the relief."""
    recorded = write(
        body,
        lambda ledger, actor, uow: decisions.grant_relief(ledger, body, actor=actor, uow=uow),
    )
    # As it was asked for: a retry with the same Idempotency-Key gets the first answer.
    asked = write.runtime.ledger.relief(recorded.id, version=1)
    response.headers["Location"] = f"{router.prefix}/{recorded.id}"
    state = "granted" if asked.status is ReliefStatus.GRANTED else "awaiting_approval"
    return ReliefRecorded(id=recorded.id, position=recorded.position, state=state)


@router.get("/overdue-reviews", responses={200: {"headers": LINK_HEADER}})
def overdue_reviews(
    request: Request,
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    page: PageDep,
    response: Response,
    today: Annotated[date | None, Query(description="Default: today in Asia/Shanghai")] = None,
) -> OverdueReviewsPublic:
    """Emergency relief paid but not reviewed within 30 days of its date, in the regions you
    serve, as known at the position asked for, in order of due date, a page at a time."""
    day = today or datetime.now(BUREAU_TIME_ZONE).date()
    read, position = knowledge.read, knowledge.position
    total = read.overdue_review_count(day, position, user.regions)
    links = page.links(request, total, {"today": day.isoformat(), "known_at_position": position})
    response.headers.update({POSITION_HEADER: str(position), **link_header(links)})
    return OverdueReviewsPublic(
        today=day,
        position=position,
        total=total,
        offset=page.offset,
        limit=page.limit,
        links=links,
        reliefs=[
            OverdueReviewPublic(
                relief_id=r.relief_id, region=r.region, relief_date=r.relief_date, due=r.due
            )
            for r in read.overdue_reviews(day, position, page.offset, page.limit, user.regions)
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
        state=relief.status.value,
        granted=relief.granted,
        requested_by=relief.requested_by,
        requested_at=relief.created_on,
        approved_by=relief.approved_by,
        approved_at=relief.approved_at,
        refused_by=relief.refused_by,
        refused_at=relief.refused_at,
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


@router.post("/{relief_id}/refusals", status_code=status.HTTP_201_CREATED)
def refuse_relief(relief_id: UUID, body: Reasoned, write: ApproverWriter) -> Recorded:
    """Refuse relief above the cap, with the reason; not by the person who requested it.
    A refused relief is never paid."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.refuse_relief(
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
