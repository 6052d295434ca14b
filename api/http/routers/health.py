from __future__ import annotations

from fastapi import APIRouter

from api.http.deps import RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import HealthPublic

router = APIRouter(tags=["health"], responses={503: PROBLEM_RESPONSES[503]})


@router.get("/health")
def health() -> HealthPublic:
    """The process is up."""
    return HealthPublic(status="ok")


@router.get("/ready")
def ready(runtime: RuntimeDep) -> HealthPublic:
    """The database answers and the views are being fed."""
    return HealthPublic(
        status="ready",
        ledger_position=runtime.ledger.position,
        views_position=runtime.read_side.position,
    )
