"""Verification of the whole ledger: at once (``GET /audit/verification``, for a ledger of
up to ``verify_inline_events`` events; a larger one is sent to a verification in the
background), or in the background (``POST /audit/verifications``, then poll the job it
names). Both check only the signatures after the latest signed checkpoint, unless a full
verification is asked for."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import RedirectResponse

from api.http.deps import Auditor, RuntimeDep, VerificationsDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import VerificationJobPublic, VerificationPublic
from api.services.verification import Verification, verify
from api.services.verification_jobs import VerificationJob, start_verification
from projections.reads import audit_chain
from projections.reads.read_side import NotYetProjectedError

router = APIRouter(prefix="/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


@router.get(
    "/verification",
    response_model=VerificationPublic,
    responses={303: {"description": "A large ledger: see the verification started for it"}},
)
def verification(
    runtime: RuntimeDep,
    user: Auditor,
    jobs: VerificationsDep,
    expected_head: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}:[0-9a-f]{64}$",
            description="POSITION:HASH recorded elsewhere earlier, to detect truncation",
        ),
    ] = None,
) -> VerificationPublic | RedirectResponse:
    """Recompute the audit chain, every closed period's digest and every month's balance.
    A ledger larger than ``verify_inline_events`` is verified in the background instead
    (or by the verification already running): the answer is 303, to that job."""
    if expected_head is None and runtime.ledger.position > runtime.settings.verify_inline_events:
        job = start_verification(jobs, runtime, user.name)
        return RedirectResponse(
            f"{router.prefix}/verifications/{job.id}", status.HTTP_303_SEE_OTHER
        )
    read = runtime.read_side
    with suppress(NotYetProjectedError):
        # Views that stop before an event that does not verify never catch up: the chain,
        # recomputed from the events, names that event all the same.
        read.wait_for(runtime.ledger.position, timeout=5)
    head = audit_chain.Head.parse(expected_head) if expected_head else None
    return verification_public(
        verify(runtime.ledger, runtime.views, read.position, head, mark=runtime.checkpointer)
    )


@router.post("/verifications", status_code=status.HTTP_202_ACCEPTED)
def start(
    runtime: RuntimeDep,
    user: Auditor,
    jobs: VerificationsDep,
    response: Response,
    full: Annotated[
        bool,
        Query(
            description="Check every event's signature, not only those after the latest "
            "signed checkpoint"
        ),
    ] = False,
) -> VerificationJobPublic:
    """Start verifying the whole ledger in the background (or answer the verification
    already running); poll ``Location`` until its ``state`` is ``finished``."""
    job = start_verification(jobs, runtime, user.name, full=full)
    response.headers["Location"] = f"{router.prefix}/verifications/{job.id}"
    return job_public(job)


@router.get("/verifications/{job_id}")
def progress(job_id: UUID, user: Auditor, jobs: VerificationsDep) -> VerificationJobPublic:
    """How far a verification has come, and what it found once finished."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no verification {job_id} is known to this service")
    return job_public(job)


def verification_public(result: Verification) -> VerificationPublic:
    return VerificationPublic(
        ok=result.ok,
        head=str(result.chain.head),
        explanation=result.chain.explanation,
        first_difference=result.chain.first_difference,
        signatures_checked_earlier_through=result.chain.checked_earlier_through,
        periods=len(result.periods),
        periods_with_other_digest=[
            f"{p.programme} {p.region} {p.month}" for p in result.wrong_digests
        ],
        months_not_balancing=[f"{a.programme} {a.region} {a.month}" for a in result.unbalanced],
    )


def job_public(job: VerificationJob) -> VerificationJobPublic:
    return VerificationJobPublic(
        id=job.id,
        state=job.state.value,
        started_by=job.started_by,
        started_at=job.started_at,
        finished_at=job.finished_at,
        target_position=job.target,
        reached_position=job.reached,
        percent=job.percent,
        result=verification_public(job.result) if job.result else None,
        failure=job.failure,
    )
