from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.http.deps import Auditor, RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import VerificationPublic
from projections.reads import audit_chain
from projections.reads.period_accounts import Accounts

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
    read.wait_for(runtime.ledger.position, timeout=5)
    head = audit_chain.Head.parse(expected_head) if expected_head else None
    result = audit_chain.verify(runtime.ledger.recorder, runtime.views, head)
    accounts = Accounts(runtime.views)
    periods = accounts.periods(read.position)
    other_digest = [f"{p.programme} {p.region} {p.month}" for p in periods if not p.digest_matches]
    unbalanced = [
        f"{a.programme} {a.region} {a.month}"
        for a in accounts.closed_months(read.position)
        if not a.balances
    ]
    return VerificationPublic(
        ok=result.ok and not other_digest and not unbalanced,
        head=str(result.head),
        explanation=result.explanation,
        first_difference=result.first_difference,
        periods=len(periods),
        periods_with_other_digest=other_digest,
        months_not_balancing=unbalanced,
    )
