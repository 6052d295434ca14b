"""The roll of a programme and region in a month, as known now, or as known then beside
now with what changed marked; and its CSV, the API's own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import (
    Knowledge,
    RuntimeDep,
)
from api.http.formats import Format
from api.http.pages import MAX_LIMIT, Page
from api.http.routers import reads as read_routes
from api.http.web.forms import (
    ROWS_PER_PAGE,
    Signed,
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
from domain.cases.programmes import Programme
from domain.months import Month

router = APIRouter()


@dataclass(frozen=True)
class RollRow:
    case_id: str
    amount_then: Decimal | None
    amount_now: Decimal | None
    status_then: str | None
    status_now: str | None
    difference: str | None  # joined_late, amount_changed, rescinded, left_late; None: same


@router.get("/rolls", response_class=HTMLResponse)
async def roll(request: Request, runtime: RuntimeDep, user: Signed) -> Response:
    """A roll, as known now or, given a date or position, as known then beside now."""
    programme = programme_asked(given(request, "programme"))
    region = region_asked(request, runtime, user)
    knowledge = await knowledge_asked(request)
    then_asked = given(request, "known_at") or given(request, "known_at_position")
    return await in_thread(
        _roll_page, request, runtime, user, programme, region, knowledge, bool(then_asked)
    )


def _roll_page(
    request: Request,
    runtime: Runtime,
    user: User,
    programme: Programme,
    region: str,
    knowledge: Knowledge,
    compare: bool,
) -> Response:
    read, month = knowledge.read, knowledge.as_of
    then = knowledge.position
    now = read.position
    offset = offset_asked(request)
    if compare:
        rows = _compared(runtime, programme, region, month, then, now)
        shown = rows[offset : offset + ROWS_PER_PAGE]
        total = len(rows)
    else:
        entries = read.roll(programme, region, month, now, offset, ROWS_PER_PAGE)
        shown = [RollRow(e.subject_id, None, e.amount, None, e.status, None) for e in entries]
        total = read.roll_summary(programme, region, month, now).cases
    summary_now = read.roll_summary(programme, region, month, now)
    summary_then = read.roll_summary(programme, region, month, then) if compare else None
    differences: dict[str, int] = defaultdict(int)
    if compare:
        for row in rows:
            if row.difference:
                differences[row.difference] += 1
    csv_query = {"programme": programme.value, "region": region, "as_of": str(month)}
    return render(
        request,
        "roll.html",
        {
            "user": user,
            "programmes": list(Programme),
            "regions": served_regions(runtime, user),
            "programme": programme,
            "region": region,
            "month": month,
            "known_at": given(request, "known_at") or "",
            "known_at_position": given(request, "known_at_position") or "",
            "compare": compare,
            "then": then,
            "now": now,
            "rows": shown,
            "total": total,
            "offset": offset,
            "rows_per_page": ROWS_PER_PAGE,
            "summary_now": summary_now,
            "summary_then": summary_then,
            "differences": dict(differences),
            "csv_now": {**csv_query, "known_at_position": now},
            "csv_then": {**csv_query, "known_at_position": then},
        },
    )


def _compared(
    runtime: Runtime, programme: Programme, region: str, month: Month, then: int, now: int
) -> list[RollRow]:
    """The roll as known at ``then`` beside the roll as known ``now``, every case of either,
    in case order, each marked with how it differs."""
    read = runtime.read_side
    before = {e.subject_id: e for e in read.roll(programme, region, month, then)}
    after = {e.subject_id: e for e in read.roll(programme, region, month, now)}
    rows = []
    for case_id in sorted(before.keys() | after.keys()):
        old, new = before.get(case_id), after.get(case_id)
        if old is None:
            difference: str | None = "joined_late"
        elif new is None:
            rescinded = runtime.ledger.case(UUID(case_id)).rescinded
            difference = "rescinded" if rescinded else "left_late"
        elif old.amount != new.amount:
            difference = "amount_changed"
        else:
            difference = None
        rows.append(
            RollRow(
                case_id,
                old.amount if old else None,
                new.amount if new else None,
                old.status if old else None,
                new.status if new else None,
                difference,
            )
        )
    return rows


@router.get("/rolls.csv")
async def roll_csv(request: Request, runtime: RuntimeDep, user: Signed) -> Response:
    """The API's own CSV of the roll (``GET /rolls/...`` with ``Accept: text/csv``)."""
    programme = programme_asked(given(request, "programme"))
    region = region_asked(request, runtime, user)
    knowledge = await knowledge_asked(request)
    answer = await in_thread(
        read_routes.roll,
        programme,
        region,
        request,
        runtime,
        user,
        knowledge,
        Page(0, MAX_LIMIT),
        Format.CSV,
    )
    return endpoint_file(answer)
