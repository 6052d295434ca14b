"""Reviews of dibao and tekun households: who is due for re-verification in a month, and
whose last verification puts the income at or above the standard (candidates for a gradual
exit, for a caseworker to decide; nothing is decided here)."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.http.deps import KnowledgeDep, RuntimeDep, Staff
from api.http.formats import POSITION_HEADER
from api.http.pages import LINK_HEADER, PageDep, link_header
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import PageLinks
from domain.months import Month
from projections.reads.read_side import HouseholdReview

router = APIRouter(prefix="/reviews", tags=["household verification"], responses=PROBLEM_RESPONSES)


class HouseholdReviewPublic(BaseModel):
    case_id: UUID
    programme: str
    region: str
    verified_on: date | None  # None: never verified (granted before verifications)
    verification_id: UUID | None
    due: str  # YYYY-MM
    state: Literal["due", "overdue"]
    exit_candidate: bool


class HouseholdReviewsPublic(BaseModel):
    as_of: str
    position: int
    total: int
    offset: int
    limit: int
    links: PageLinks
    reviews: list[HouseholdReviewPublic]


def _public(review: HouseholdReview, as_of: Month) -> HouseholdReviewPublic:
    return HouseholdReviewPublic(
        case_id=UUID(review.case_id),
        programme=review.programme,
        region=review.region,
        verified_on=review.verified_on,
        verification_id=UUID(review.verification_id) if review.verification_id else None,
        due=str(review.due),
        state="due" if review.due >= as_of else "overdue",
        exit_candidate=review.at_or_above_standard,
    )


def _reviews(
    request: Request,
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    page: PageDep,
    response: Response,
    *,
    exit_candidates: bool,
) -> HouseholdReviewsPublic:
    read, position, as_of = knowledge.read, knowledge.position, knowledge.as_of
    total = read.household_review_count(
        as_of, position, exit_candidates=exit_candidates, regions=user.regions
    )
    links = page.links(request, total, {"as_of": str(as_of), "known_at_position": position})
    response.headers.update({POSITION_HEADER: str(position), **link_header(links)})
    found = read.household_reviews(
        as_of,
        position,
        exit_candidates=exit_candidates,
        offset=page.offset,
        limit=page.limit,
        regions=user.regions,
    )
    return HouseholdReviewsPublic(
        as_of=str(as_of),
        position=position,
        total=total,
        offset=page.offset,
        limit=page.limit,
        links=links,
        reviews=[_public(review, as_of) for review in found],
    )


@router.get("/due", responses={200: {"headers": LINK_HEADER}})
def reviews_due(
    request: Request,
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    page: PageDep,
    response: Response,
) -> HouseholdReviewsPublic:
    """Dibao and tekun cases open in ``as_of`` (YYYY-MM, default this month) and due for
    re-verification then (``due``) or earlier (``overdue``): the review falls due
    ``review_months`` after the last verification. In the regions you serve, as known at
    the position asked for, in order of due month, a page at a time."""
    return _reviews(request, runtime, user, knowledge, page, response, exit_candidates=False)


@router.get("/exit-candidates", responses={200: {"headers": LINK_HEADER}})
def exit_candidates(
    request: Request,
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    page: PageDep,
    response: Response,
) -> HouseholdReviewsPublic:
    """Dibao and tekun cases open in ``as_of`` (not already leaving) whose last verification
    found a per-capita income at or above the standard: candidates for a gradual exit, for a
    caseworker to decide (``POST /cases/{case_id}/gradual-exits``). Nothing is decided
    automatically."""
    return _reviews(request, runtime, user, knowledge, page, response, exit_candidates=True)
