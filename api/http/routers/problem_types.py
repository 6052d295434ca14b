"""The kinds of problem the service answers with, each at the URI its problems' ``type``
names (``/problems/not-eligible``): what it means and what to do about it. Open to anyone,
as documentation is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.http.problems import PROBLEM_RESPONSES, PROBLEM_TYPE_NAMED, PROBLEM_TYPES, ProblemType
from api.http.schemas import ProblemTypePublic

router = APIRouter(
    prefix="/problems",
    tags=["problem types"],
    responses={status: PROBLEM_RESPONSES[status] for status in (404, 422)},
)


@router.get("")
def problem_types() -> list[ProblemTypePublic]:
    """Every kind of problem, as `type` names it in a problem's body."""
    return [_public(kind) for kind in PROBLEM_TYPES]


@router.get("/{name}")
def problem_type(
    name: Annotated[str, Path(pattern=r"^[a-z-]{1,40}$", examples=["not-eligible"])],
) -> ProblemTypePublic:
    """What one kind of problem means, and what to do about it."""
    kind = PROBLEM_TYPE_NAMED.get(name)
    if kind is None:
        raise HTTPException(404, f"no problem type {name}; GET /problems lists them")
    return _public(kind)


def _public(kind: ProblemType) -> ProblemTypePublic:
    return ProblemTypePublic(
        type=kind.uri, title=kind.title, status=kind.status, description=kind.meaning
    )
