from __future__ import annotations

from fastapi import APIRouter

from api.http.deps import RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import HealthPublic, ReplicaPublic

router = APIRouter(tags=["health"], responses={503: PROBLEM_RESPONSES[503]})


@router.get("/health")
def health() -> HealthPublic:
    """The process is up."""
    return HealthPublic(status="ok")


@router.get("/ready")
def ready(runtime: RuntimeDep) -> HealthPublic:
    """The database answers and the views are being fed; each read replica's state and lag
    (a replica down does not make the service unready: the primary answers its queries)."""
    replicas = None
    if runtime.replicas is not None:
        replicas = [
            ReplicaPublic(
                name=state.name,
                state="up" if state.up else "down",
                views_position=state.views_position,
                lag_positions=state.lag_positions,
                lag_bytes=state.lag_bytes,
            )
            for state in runtime.replicas.states()
        ]
    return HealthPublic(
        status="ready",
        ledger_position=runtime.ledger.position,
        views_position=runtime.read_side.position,
        replicas=replicas,
    )
