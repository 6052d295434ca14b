from __future__ import annotations

from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Query

from api.http.deps import Auditor, RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import VerificationPublic
from api.services.verification import verify
from projections.reads import audit_chain
from projections.reads.read_side import NotYetProjectedError

router = APIRouter(prefix="/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


@router.get("/verification")
def verification(
    runtime: RuntimeDep,
    user: Auditor,
    expected_head: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}:[0-9a-f]{64}$",
            description="POSITION:HASH recorded elsewhere earlier, to detect truncation",
        ),
    ] = None,
) -> VerificationPublic:
    """Recompute the audit chain, every closed period's digest and every month's balance."""
    read = runtime.read_side
    with suppress(NotYetProjectedError):
        # Views that stop before an event that does not verify never catch up: the chain,
        # recomputed from the events, names that event all the same.
        read.wait_for(runtime.ledger.position, timeout=5)
    head = audit_chain.Head.parse(expected_head) if expected_head else None
    result = verify(runtime.ledger, runtime.views, read.position, head)
    return VerificationPublic(
        ok=result.ok,
        head=str(result.chain.head),
        explanation=result.chain.explanation,
        first_difference=result.chain.first_difference,
        periods=len(result.periods),
        periods_with_other_digest=[
            f"{p.programme} {p.region} {p.month}" for p in result.wrong_digests
        ],
        months_not_balancing=[f"{a.programme} {a.region} {a.month}" for a in result.unbalanced],
    )
