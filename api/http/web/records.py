"""A case on both time axes with its account, the standards and their history, and the
payroll periods with their lines, digests and CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import (
    Knowledge,
    RuntimeDep,
)
from api.http.formats import Format
from api.http.pages import MAX_LIMIT, Page
from api.http.problems import INVALID_REQUEST, HTTPProblem
from api.http.routers import periods as period_routes
from api.http.web.forms import (
    ROWS_PER_PAGE,
    AccountantPage,
    StaffPage,
    endpoint_file,
    given,
    in_thread,
    knowledge_asked,
    offset_asked,
    programme_asked,
    region_asked,
    served_regions,
)
from api.http.web.templating import render
from domain.cases.programmes import STANDARD_PARAMETERS, Programme
from domain.months import BUREAU_TIME_ZONE, Month
from projections.reads import standards
from projections.reads.period_accounts import Accounts, case_account

router = APIRouter()


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case(case_id: UUID, request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    knowledge = await knowledge_asked(request)
    return await in_thread(_case_page, request, runtime, user, case_id, knowledge)


@dataclass(frozen=True)
class DecisionRow:
    version: int
    kind: str
    effective: Month | None
    recorded_at: datetime
    actor: str
    reason: str | None
    late: bool  # recorded after the month it takes effect


def _case_page(
    request: Request, runtime: Runtime, user: User, case_id: UUID, knowledge: Knowledge
) -> Response:
    ledger, read = runtime.ledger, knowledge.read
    position = knowledge.position
    version = read.version_at(case_id.hex, position)
    if version is None:
        raise HTTPException(404, f"no case {case_id} was known at position {position}")
    found = ledger.case(case_id, version)
    recorded = []
    event: Any
    for event in ledger.events.get(case_id, lte=version):
        effective = getattr(event, "effective", None)
        moment = event.timestamp.astimezone(BUREAU_TIME_ZONE)
        recorded.append(
            DecisionRow(
                event.originator_version,
                type(event).__name__,
                effective,
                moment,
                event.actor,
                getattr(event, "reason", None),
                effective is not None and effective < Month.at(moment),
            )
        )
    last = Month(10**6)
    in_effect = sorted(recorded, key=lambda d: (d.effective or last, d.version))
    account = case_account(knowledge.views, case_id.hex, position, knowledge.as_of)
    zero = Decimal("0.00")
    closed = [m for m in account.months if m.closed] if account else []
    sums = {
        "entitled": sum((m.entitled for m in account.months), zero) if account else zero,
        "paid": sum((m.paid or zero for m in closed), zero),
        "arrears": sum((m.arrears or zero for m in closed), zero),
        "recoveries": sum((m.recoveries or zero for m in closed), zero),
        "outstanding": sum((m.outstanding or zero for m in closed), zero),
    }
    return render(
        request,
        "case.html",
        {
            "user": user,
            "case": found,
            "names": [p["name"].reveal() for p in found.persons],
            "position": position,
            "as_of": knowledge.as_of,
            "in_effect": in_effect,
            "recorded": recorded,
            "account": account,
            "sums": sums,
        },
    )


@router.get("/standards", response_class=HTMLResponse)
async def standards_page(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    programme = programme_asked(given(request, "programme"))
    region = region_asked(request, runtime, user)
    knowledge = await knowledge_asked(request)
    if programme not in STANDARD_PARAMETERS:
        raise HTTPProblem(
            INVALID_REQUEST, f"{programme} has no standards schedule", field="query.programme"
        )
    ledger = runtime.ledger
    found = await in_thread(
        standards.schedule,
        ledger.recorder,
        ledger.mapper,
        knowledge.views,
        programme,
        region,
        knowledge.as_of,
        knowledge.position,
    )
    return render(
        request,
        "standards.html",
        {
            "user": user,
            "programmes": [p for p in Programme if p in STANDARD_PARAMETERS],
            "regions": served_regions(runtime, user),
            "programme": programme,
            "region": region,
            "schedule": found,
        },
    )


@router.get("/periods", response_class=HTMLResponse)
async def periods(request: Request, runtime: RuntimeDep, user: AccountantPage) -> Response:
    programme = programme_asked(given(request, "programme"))
    region = region_asked(request, runtime, user)
    knowledge = await knowledge_asked(request)
    accounts = Accounts(knowledge.views)
    found = await in_thread(accounts.periods, knowledge.position, programme, region)
    return render(
        request,
        "periods.html",
        {
            "user": user,
            "programmes": list(Programme),
            "regions": served_regions(runtime, user),
            "programme": programme,
            "region": region,
            "periods": list(reversed(found)),
            "position": knowledge.position,
        },
    )


@router.get("/periods/{programme}/{region}/{month}", response_class=HTMLResponse)
async def period(
    programme: str,
    region: str,
    month: str,
    request: Request,
    runtime: RuntimeDep,
    user: AccountantPage,
) -> Response:
    """A closed period with its lines, a page at a time, as ``GET /periods/...`` gives it."""
    knowledge = await knowledge_asked(request)
    offset = offset_asked(request)
    answer = await in_thread(
        period_routes.read_period,
        programme_asked(programme),
        region,
        month,
        request,
        runtime,
        user,
        knowledge,
        Page(offset, ROWS_PER_PAGE),
        Format.JSON,
        Response(),
    )
    return render(
        request,
        "period.html",
        {"user": user, "period": answer, "offset": offset, "rows_per_page": ROWS_PER_PAGE},
    )


@router.get("/periods/{programme}/{region}/{month}.csv")
async def period_csv(
    programme: str,
    region: str,
    month: str,
    request: Request,
    runtime: RuntimeDep,
    user: AccountantPage,
) -> Response:
    """The API's own CSV of a period's lines."""
    knowledge = await knowledge_asked(request)
    answer = await in_thread(
        period_routes.read_period,
        programme_asked(programme),
        region,
        month,
        request,
        runtime,
        user,
        knowledge,
        Page(0, MAX_LIMIT),
        Format.CSV,
        Response(),
    )
    return endpoint_file(answer)
