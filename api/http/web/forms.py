"""What every page shares: who may open it (the API's roles, the caller found by the
session), and reading its form, where an empty field is a parameter not given, by the
API's own rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import (
    ACCOUNTANTS,
    APPROVERS,
    AUDITORS,
    EVERYONE,
    OVERSEERS,
    STAFF,
    Knowledge,
    allowed,
    knowledge_of,
    refuse_outside,
)
from api.http.problems import INVALID_REQUEST, HTTPProblem
from api.http.web import session
from api.http.writes import Writer, writer_for
from domain.cases.programmes import Programme

PREFIX = "/web"
T = TypeVar("T")
ROWS_PER_PAGE = 50

Signed = Annotated[User, Depends(allowed(*EVERYONE, identify=session.session_user))]
StaffPage = Annotated[User, Depends(allowed(*STAFF, identify=session.session_user))]
OverseerPage = Annotated[User, Depends(allowed(*OVERSEERS, identify=session.session_user))]
AccountantPage = Annotated[User, Depends(allowed(*ACCOUNTANTS, identify=session.session_user))]
AuditorPage = Annotated[User, Depends(allowed(*AUDITORS, identify=session.session_user))]
ApproverWrite = Annotated[Writer, Depends(writer_for(*APPROVERS, identify=session.session_user))]


# Reading a page's query: an empty field of a form is a parameter not given.


def given(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Reads may wait on the database: never on the event loop."""
    return await run_in_threadpool(function, *args)


async def knowledge_asked(request: Request) -> Knowledge:
    """What the API's ``Knowledge`` dependency reads, from the page's form; after a write,
    its position (``recorded``) is waited for, so that the page shows it."""
    return await knowledge_of(
        request,
        given(request, "as_of"),
        given(request, "known_at"),
        position_asked(request, "known_at_position"),
        position_asked(request, "recorded"),
    )


def position_asked(request: Request, name: str) -> int | None:
    text = given(request, name)
    if text is not None and not text.isdigit():
        raise HTTPProblem(
            INVALID_REQUEST, "a ledger position is a whole number", field=f"query.{name}"
        )
    return int(text) if text is not None else None


def programme_asked(text: str | None, default: Programme = Programme.DIBAO_URBAN) -> Programme:
    if text is None:
        return default
    try:
        return Programme(text)
    except ValueError:
        names = ", ".join(p.value for p in Programme)
        raise HTTPProblem(
            INVALID_REQUEST, f"{text!r} is not a programme: one of {names}", field="query.programme"
        ) from None


def region_asked(request: Request, runtime: Runtime, user: User) -> str:
    """The region the form names (default: the first the user serves), checked as the API
    checks it."""
    served = served_regions(runtime, user)
    region = given(request, "region") or (served[0] if served else "")
    runtime.ledger.regions.check(region)
    refuse_outside(runtime, user, region)
    return region


def served_regions(runtime: Runtime, user: User) -> list[str]:
    return [code for code in runtime.ledger.regions.names if user.serves(code)]


def offset_asked(request: Request) -> int:
    text = given(request, "offset") or "0"
    return int(text) if text.isdigit() else 0


def redirect(request: Request, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    session.keep(request, response)
    return response


def endpoint_file(answer: BaseModel | Response) -> Response:
    """An endpoint's answer when a file was asked for."""
    if not isinstance(answer, Response):
        raise TypeError("an endpoint asked for CSV answered otherwise")
    return answer
