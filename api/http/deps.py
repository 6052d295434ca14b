"""The request dependencies, as ``Annotated`` aliases: the runtime, the caller, what is known.

The caller's dependency (``Caseworker``, ``Staff``, ``Anyone``, ... and the writers built on
them) checks the role, then the region: a region in the path, or the region of the case or
relief the path names, must be one the caller serves (``api.core.identities.check_region``),
else 403. A decision's body naming a region is checked by its writer (``api.http.writes``);
reads that span regions keep only the caller's.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.core.bootstrap import Runtime
from api.core.identities import (
    InvalidTokenError,
    OutsideRegionsError,
    Role,
    TokenKeysUnavailableError,
    User,
    check_region,
)
from api.http.problems import INVALID_REQUEST, RETRY_AFTER_SECONDS, HTTPProblem
from api.services.fields import MONTH_PATTERN
from api.services.verification_jobs import VerificationJobs
from domain.months import Month, parse_month
from projections.reads.known_at import KnownAt, KnownAtError, reach
from projections.reads.read_side import ReadSide
from projections.storage.database import SQLiteViews, ViewDatabase
from projections.storage.replicas import RoutedViews

_bearer = HTTPBearer(auto_error=False, description="A token from `ledger token USER ROLE`.")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_runtime(request: Request) -> Runtime:
    """The service's runtime; 503 while its database is unreachable. The caller's and the
    knowledge's dependencies await it themselves rather than depend on it: FastAPI's work
    per dependency, not the check, is what a dependency costs."""
    runtime: Runtime = request.app.state.runtime
    if not runtime.database_reachable:
        raise HTTPException(
            503,
            "the ledger's database is unreachable; nothing was recorded, retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_verifications(request: Request) -> VerificationJobs:
    jobs: VerificationJobs = request.app.state.verifications
    return jobs


VerificationsDep = Annotated[VerificationJobs, Depends(get_verifications)]


async def get_user(request: Request, credentials: BearerCredentials) -> User:
    runtime = await get_runtime(request)  # 503 before 401, as a dependency on it answered
    if credentials is None:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    token = credentials.credentials
    user = runtime.tokens.recall(token)
    if user is None:
        try:  # a provider's keys may have to be fetched: not on the event loop
            user = await run_in_threadpool(runtime.tokens.read, token)
        except InvalidTokenError as error:
            raise HTTPException(
                401,
                f"the bearer token is not accepted (expired, unsigned, altered or of another "
                f"issuer): {error}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        except TokenKeysUnavailableError as error:
            raise HTTPException(
                503, str(error), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            ) from None
    request.state.user = user.name  # for the access log
    return user


def allowed(
    *roles: Role, identify: Callable[..., Awaitable[User]] = get_user
) -> Callable[..., Awaitable[User]]:
    """A dependency giving the caller, as ``identify`` finds them (a bearer token; the pages
    pass their session's), once their role and the path's regions are checked. ``identify``
    answers 503 first while the database is unreachable (``get_runtime``).

    The bearer's caller is read in the check itself, which depends on the token alone: every
    query and decision then solves one dependency fewer (FastAPI's work per dependency, not
    the check, is what one costs). The refusals and the OpenAPI document are the same."""
    if identify is get_user:

        async def check_bearer(request: Request, credentials: BearerCredentials) -> User:
            user = await get_user(request, credentials)
            await authorize(request, await get_runtime(request), user, roles)
            return user

        return check_bearer

    # ``identify`` is local: FastAPI could not resolve it in a (postponed) annotation.
    async def check(request: Request, user: User = Depends(identify)) -> User:  # noqa: B008
        await authorize(request, await get_runtime(request), user, roles)
        return user

    return check


async def authorize(
    request: Request, runtime: Runtime, user: User, roles: Collection[Role]
) -> None:
    """403 unless ``user`` acts in one of ``roles`` and serves the region the path names."""
    if user.role not in roles:
        names = ", ".join(role.value for role in roles)
        raise HTTPException(403, f"this needs the role {names}; you act as {user.role}")
    if user.regions is not None:
        await _check_path_regions(request, runtime, user)


# The path parameters that name a case or a relief, whose region the caller must serve.
_SUBJECTS_IN_PATHS: tuple[tuple[Literal["case", "relief"], str], ...] = (
    ("case", "case_id"),
    ("relief", "relief_id"),
)


async def _check_path_regions(request: Request, runtime: Runtime, user: User) -> None:
    """The region the path names, or the region of its case or relief, is the user's."""
    params = request.path_params
    regions = [params["region"]] if "region" in params else []
    subjects = [(kind, params[name]) for kind, name in _SUBJECTS_IN_PATHS if name in params]
    for kind, text in subjects:
        try:
            subject = UUID(text)
        except ValueError:
            continue  # malformed: the route's own validation answers
        regions.append(await run_in_threadpool(runtime.region_of, kind, subject))
    for region in regions:
        refuse_outside(runtime, user, region)


def refuse_outside(runtime: Runtime, user: User, region: str) -> None:
    """403 unless ``user`` serves ``region``; a region of no catalogue is a 422 as ever."""
    try:
        check_region(user, region)
    except OutsideRegionsError as error:
        runtime.ledger.regions.check(region)
        raise HTTPException(403, str(error)) from None


# Who may do what: the roles of each kind of caller, shared by the API and the pages.
CASEWORKERS = (Role.CASEWORKER,)
APPROVERS = (Role.APPROVER,)
REVIEWERS = (Role.CASEWORKER, Role.APPROVER)
FINANCE = (Role.FINANCE,)
AUDITORS = (Role.AUDITOR,)
ACCOUNTANTS = (Role.FINANCE, Role.AUDITOR)
OVERSEERS = (Role.APPROVER, Role.AUDITOR)
STAFF = (Role.CASEWORKER, Role.APPROVER, Role.FINANCE, Role.AUDITOR)
EVERYONE = tuple(Role)

Caseworker = Annotated[User, Depends(allowed(*CASEWORKERS))]
Approver = Annotated[User, Depends(allowed(*APPROVERS))]
Reviewer = Annotated[User, Depends(allowed(*REVIEWERS))]
Finance = Annotated[User, Depends(allowed(*FINANCE))]
Auditor = Annotated[User, Depends(allowed(*AUDITORS))]
Accountant = Annotated[User, Depends(allowed(*ACCOUNTANTS))]
Overseer = Annotated[User, Depends(allowed(*OVERSEERS))]
Staff = Annotated[User, Depends(allowed(*STAFF))]
Anyone = Annotated[User, Depends(allowed(*EVERYONE))]


PRIMARY = "primary"


@dataclass
class Knowledge:
    """Which month a query asks about, as known at which ledger position, and the views
    that answer it (``read``, ``views``): the primary's, or those of a hot standby that has
    reached the position asked for (``_read_source``).

    The position is read when the endpoint first asks for it: in a worker thread when
    reading ``may_wait``, which must not block the event loop."""

    runtime: Runtime
    as_of: Month
    known: KnownAt
    wait_for_position: int | None
    read: ReadSide
    views: ViewDatabase
    _position: int | None = field(default=None, init=False)

    @property
    def may_wait(self) -> bool:
        """Whether finding the position to read at may wait: for the views to reach a
        position asked for, or on a database server, for the position a moment was known at
        (or the views', when no poller tells it). Otherwise the read is awaited on the event
        loop (``ReadSide.entitlements_on_loop``); on the embedded SQLite file each of these
        lookups takes tens of microseconds, less than a hop to a worker thread and back."""
        if self.wait_for_position is not None or self.known.position is not None:
            return True
        if isinstance(self.views, SQLiteViews):
            return False
        return self.known.moment is not None or not self.read.knows_position

    @property
    def position(self) -> int:
        if self._position is None:
            self._position = self._read_position()
        return self._position

    def _read_position(self) -> int:
        read = self.read
        ledger = self.runtime.ledger
        try:
            if self.wait_for_position is not None:
                reach(read, "wait_for_position", self.wait_for_position, lambda: ledger.position)
            return self.known.position_in(read, lambda: ledger.position)
        except KnownAtError as error:
            raise _unknowable(error) from None


class KnowledgeQuery(BaseModel):
    """The query parameters of every read: which month, as known when.

    ``get_knowledge`` reads them from the query itself, in one validation: declared as the
    dependency's own parameters, FastAPI would resolve them one at a time on every request,
    a tenth of an entitlement search's time. ``document_knowledge`` lists them on every
    operation that reads them, as FastAPI lists the parameters it resolves."""

    model_config = ConfigDict(frozen=True)

    as_of: str | None = Field(
        None, pattern=MONTH_PATTERN, description="The month, YYYY-MM; default this month."
    )
    known_at: str | None = Field(
        None,
        max_length=40,
        description="As known at this date (YYYY-MM-DD: its end, Asia/Shanghai) or "
        "timestamp with its time zone (2019-08-31T18:00:00+08:00); default now.",
    )
    known_at_position: int | None = Field(
        None, ge=0, le=2**62, description="As known at this ledger position."
    )
    wait_for_position: int | None = Field(
        None, ge=0, le=2**62, description="Wait until the views reach this position first."
    )


_KNOWLEDGE_NAMES = tuple(KnowledgeQuery.model_fields)
_NOTHING_ASKED = KnowledgeQuery()


def _asked_knowledge(request: Request) -> KnowledgeQuery:
    """The knowledge parameters of the request's query (the last of a repeated one, as
    FastAPI takes it); a 422 naming each one at fault (``query.as_of``)."""
    query = request.query_params
    given = {name: query[name] for name in _KNOWLEDGE_NAMES if name in query}
    if not given:
        return _NOTHING_ASKED
    try:
        return KnowledgeQuery.model_validate(given)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("query", *item["loc"])} for item in error.errors(include_url=False)]
        ) from None


async def get_knowledge(request: Request) -> Knowledge:
    asked = _asked_knowledge(request)
    return await knowledge_of(
        request, asked.as_of, asked.known_at, asked.known_at_position, asked.wait_for_position
    )


async def knowledge_of(
    request: Request,
    as_of: str | None,
    known_at: str | None,
    known_at_position: int | None,
    wait_for_position: int | None,
) -> Knowledge:
    """What a query asks, given its parameters (already checked against ``KnowledgeQuery``'s
    rules, or, on the pages, read from their form)."""
    runtime = await get_runtime(request)
    try:
        known = KnownAt.parse(known_at, known_at_position)
    except KnownAtError as error:
        raise _unknowable(error) from None
    month = parse_month(as_of, "as_of") if as_of else Month.at(datetime.now().astimezone())
    needed = [p for p in (wait_for_position, known.position) if p is not None]
    read, views = _read_source(request, runtime, max(needed, default=None))
    return Knowledge(runtime, month, known, wait_for_position, read, views)


def document_knowledge(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """List ``KnowledgeQuery``'s parameters in the app's OpenAPI document on every operation
    of ``routers`` that reads them (through ``get_knowledge``), after the operation's own
    parameters, where FastAPI lists those of a dependency."""
    reading = {
        (route.path_format, method.lower()): _own_parameters(route.dependant)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and _depends_on(route.dependant, get_knowledge)
        for method in route.methods or ()
    }
    properties = KnowledgeQuery.model_json_schema()["properties"]
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {key: value for key, value in schema.items() if key != "default"},
            "description": schema["description"],
        }
        for name, schema in properties.items()
    ]
    document = app.openapi

    def with_knowledge() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = document()  # which FastAPI keeps as app.openapi_schema
        for (path, method), own in reading.items():
            operation = schema["paths"][path][method]
            listed = operation.get("parameters", [])
            at = sum(1 for parameter in listed if parameter["name"] in own)
            operation["parameters"] = [*listed[:at], *copy.deepcopy(parameters), *listed[at:]]
        return schema

    app.openapi = with_knowledge  # type: ignore[method-assign]


def _own_parameters(dependant: Dependant) -> set[str]:
    own = (*dependant.path_params, *dependant.query_params, *dependant.header_params)
    return {parameter.alias for parameter in (*own, *dependant.cookie_params)}


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def _read_source(
    request: Request, runtime: Runtime, needed: int | None
) -> tuple[ReadSide, ViewDatabase]:
    """The views a query needing position ``needed`` reads: a standby's that has reached it
    and is within the lag limit, else the primary's. The answer's ``Ledger-Read-From``
    header (``api.http.observability``) names which; it says ``primary`` again if the
    standby fails the query and the primary answers it."""
    replica = runtime.replicas.choose(needed) if runtime.replicas is not None else None
    if replica is None:
        request.state.read_from = PRIMARY
        return runtime.read_side, runtime.views
    request.state.read_from = replica.name

    def on_fallback() -> None:
        request.state.read_from = PRIMARY

    views = RoutedViews(replica, runtime.views, on_fallback)
    return ReadSide(views), views


KnowledgeDep = Annotated[Knowledge, Depends(get_knowledge)]


def _unknowable(error: KnownAtError) -> HTTPProblem:
    field = f"query.{error.parameter}" if error.parameter else None
    return HTTPProblem(INVALID_REQUEST, str(error), field=field)
