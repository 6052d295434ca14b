"""The approvers' queue, and approving or refusing through the API's own writer and
decision functions, so that the four-eyes rule is the ledger's.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.http.deps import (
    RuntimeDep,
)
from api.http.problems import INVALID_REQUEST, HTTPProblem
from api.http.routers.approvals import pending as pending_approvals
from api.http.web.forms import (
    PREFIX,
    ApproverWrite,
    OverseerPage,
    given,
    in_thread,
    knowledge_asked,
    redirect,
)
from api.http.web.templating import render
from api.services import decisions
from api.services.decisions import Reasoned

router = APIRouter()


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, runtime: RuntimeDep, user: OverseerPage) -> Response:
    knowledge = await knowledge_asked(request)
    region = given(request, "region")
    found = await in_thread(pending_approvals, runtime, user, knowledge, region)
    shown = [p for p in found.pending if user.serves(p.region)]
    return render(
        request,
        "approvals.html",
        {
            "user": user,
            "pending": shown,
            "position": found.position,
            "recorded": given(request, "recorded"),
        },
    )


async def _decision(request: Request) -> tuple[Reasoned, bool]:
    """The form's reason, and whether its approve button (not its refuse button) was used."""
    form = await request.form()
    decision = form.get("decision")
    if decision not in ("approve", "refuse"):
        raise HTTPProblem(
            INVALID_REQUEST, "the form says neither approve nor refuse", field="body.decision"
        )
    try:
        return Reasoned(reason=str(form.get("reason", ""))), decision == "approve"
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None


@router.post("/approvals/reliefs/{relief_id}")
async def decide_relief(relief_id: UUID, request: Request, write: ApproverWrite) -> Response:
    """Approve or refuse a relief above its cap, as ``POST /reliefs/{id}/approvals`` or
    ``/refusals`` does."""
    body, approve = await _decision(request)
    decide = decisions.approve_relief if approve else decisions.refuse_relief
    recorded = await in_thread(
        write,
        body,
        lambda ledger, actor, uow: decide(ledger, relief_id, body, actor=actor, uow=uow),
    )
    return redirect(request, f"{PREFIX}/approvals?recorded={recorded.position}")


@router.post("/approvals/rescissions/{case_id}")
async def decide_rescission(case_id: UUID, request: Request, write: ApproverWrite) -> Response:
    """Approve or refuse a requested rescission, as ``POST /cases/{id}/rescission-approvals``
    or ``/rescission-refusals`` does."""
    body, approve = await _decision(request)
    decide = decisions.approve_rescission if approve else decisions.refuse_rescission
    recorded = await in_thread(
        write,
        body,
        lambda ledger, actor, uow: decide(ledger, case_id, body, actor=actor, uow=uow),
    )
    return redirect(request, f"{PREFIX}/approvals?recorded={recorded.position}")
