"""The audit chain's state and a verification of the whole ledger run in the background,
its progress polled by the page.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import (
    RuntimeDep,
    VerificationsDep,
)
from api.http.routers.audit import job_public
from api.http.web.forms import (
    PREFIX,
    AuditorPage,
    given,
    in_thread,
    redirect,
)
from api.http.web.templating import render
from api.services.verification_jobs import VerificationJobs, start_verification
from projections.reads import audit_chain

router = APIRouter()


@router.get("/verification", response_class=HTMLResponse)
async def verification(
    request: Request, runtime: RuntimeDep, user: AuditorPage, jobs: VerificationsDep
) -> Response:
    return await in_thread(_verification_page, request, runtime, user, jobs)


def _verification_page(
    request: Request, runtime: Runtime, user: User, jobs: VerificationJobs
) -> Response:
    head = audit_chain.stored_head(runtime.views)
    checkpointer = runtime.checkpointer
    checkpoint = checkpointer.latest() if checkpointer is not None else None
    job_text = given(request, "job")
    job = jobs.get(UUID(job_text)) if job_text and _is_uuid(job_text) else jobs.latest()
    return render(
        request,
        "verification.html",
        {
            "user": user,
            "ledger_position": runtime.ledger.position,
            "views_position": runtime.read_side.position,
            "head": head,
            "checkpoint": checkpoint,
            "job": job_public(job) if job else None,
        },
    )


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


@router.post("/verification")
def start(
    request: Request, runtime: RuntimeDep, user: AuditorPage, jobs: VerificationsDep
) -> Response:
    job = start_verification(jobs, runtime, user.name)
    return redirect(request, f"{PREFIX}/verification?job={job.id}")


@router.get("/verification/{job_id}", response_class=HTMLResponse)
def verification_progress(
    job_id: UUID, request: Request, user: AuditorPage, jobs: VerificationsDep
) -> Response:
    """The job's progress, as a fragment the verification page polls."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no verification {job_id} is known to this service")
    return render(request, "verification_job.html", {"job": job_public(job)})
