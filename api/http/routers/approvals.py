"""The approvers' queue: reliefs above their cap and rescissions waiting for a second person."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.http.deps import KnowledgeDep, Overseer, RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import ApprovalsPublic, PendingApprovalPublic
from projections.reads.approvals import Awaiting, PendingApproval, pending_approvals

router = APIRouter(prefix="/approvals", tags=["approvals"], responses=PROBLEM_RESPONSES)

APPROVE_AT = {
    Awaiting.RELIEF: "/reliefs/{}/approvals",
    Awaiting.RESCISSION: "/cases/{}/rescission-approvals",
}
REFUSE_AT = {
    Awaiting.RELIEF: "/reliefs/{}/refusals",
    Awaiting.RESCISSION: "/cases/{}/rescission-refusals",
}


@router.get("")
def pending(
    runtime: RuntimeDep,
    user: Overseer,
    knowledge: KnowledgeDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> ApprovalsPublic:
    """What waits for a second person's approval, oldest first, as known at the position
    asked for (default: now): reliefs above their cap and requested rescissions, each with
    who requested it, when and why. For approvers, and for auditors to read."""
    position = knowledge.position
    found = pending_approvals(knowledge.views, position, region)
    return ApprovalsPublic(position=position, pending=[_public(p) for p in found])


def _public(pending: PendingApproval) -> PendingApprovalPublic:
    request = pending.request
    subject = UUID(request.subject_id)
    return PendingApprovalPublic(
        what=request.what.value,
        subject_id=subject,
        approve=APPROVE_AT[request.what].format(subject),
        refuse=REFUSE_AT[request.what].format(subject),
        programme=request.programme,
        region=request.region,
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        requested_position=pending.position,
        reason=request.reason,
        amount=request.amount,
        cap=request.cap,
    )
