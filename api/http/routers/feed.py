"""The change feed: ``GET /events`` (a CloudEvents batch) and ``GET /events/stream``
(server-sent events), in ledger order, never past what the views can answer.

A consumer keeps the position it has handled and asks for what comes after it; each answer
says in ``Feed-Next-After`` how far the ledger was read (past bookkeeping events that are not
announced), which is where the next request starts. Nothing is missed or reordered however
often either side restarts: the feed is the event log itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import Anyone, RuntimeDep, refuse_outside
from api.http.formats import POSITION_HEADER
from api.http.problems import INVALID_REQUEST, PROBLEM_RESPONSES, HTTPProblem
from api.services.cloudevents import (
    BATCH_CONTENT_TYPE,
    TYPE_PREFIX,
    cloud_event,
    feed_filter,
    short_type,
)
from domain.cases.programmes import Programme
from projections.reads.feed import TYPES, FeedFilter

router = APIRouter(prefix="/events", tags=["change feed"], responses=PROBLEM_RESPONSES)

NEXT_AFTER_HEADER = "Feed-Next-After"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
STREAM_POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0

After = Annotated[
    int,
    Query(ge=0, le=2**62, description="The last position handled; the feed starts after it."),
]
Types = Annotated[
    list[str] | None,
    Query(
        alias="type",
        description="Only these types (repeatable), with or without the "
        f"`{TYPE_PREFIX}` prefix: " + ", ".join(f"`{t}`" for t in TYPES),
    ),
]
Programmes = Annotated[
    list[Programme] | None, Query(alias="programme", description="Only these programmes.")
]
Regions = Annotated[
    list[Annotated[str, Query(pattern=r"^[0-9]{6}$")]] | None,
    Query(alias="region", description="Only these region codes."),
]

BATCH_EXAMPLE = [
    {
        "specversion": "1.0",
        "id": "1042",
        "source": "urn:social-assistance-ledger",
        "type": TYPE_PREFIX + "case.reassessed",
        "subject": "cases/0b6f9c1e4f2a4d4e9a7c3b2d1e0f9a8b",
        "time": "2020-07-02T02:00:00Z",
        "datacontenttype": "application/json",
        "ledgerposition": 1042,
        "programme": "dibao-urban",
        "region": "410611",
        "data": {
            "case_id": "0b6f9c1e4f2a4d4e9a7c3b2d1e0f9a8b",
            "effective": "2020-07",
            "changes": {"income": "300"},
            "effect": {
                "months": [
                    {
                        "from": "2020-07",
                        "to": None,
                        "amount_before": "1200.00",
                        "amount_after": "900.00",
                        "status_before": "paying",
                        "status_after": "paying",
                    }
                ]
            },
        },
    }
]


def _where(
    runtime: Runtime,
    user: User,
    types: list[str] | None,
    programmes: list[Programme] | None,
    regions: list[str] | None,
) -> FeedFilter:
    unknown = [t for t in types or () if short_type(t) not in TYPES]
    if unknown:
        raise HTTPProblem(INVALID_REQUEST, f"no such event type: {unknown[0]}", field="query.type")
    for region in regions or ():
        refuse_outside(runtime, user, region)
    return feed_filter(
        user.role,
        user.regions,
        list(types or ()),
        [p.value for p in programmes or ()],
        list(regions or ()),
    )


@router.get(
    "",
    response_class=Response,
    responses={
        200: {
            "description": "A CloudEvents JSON batch, in ledger order (possibly empty).",
            "content": {BATCH_CONTENT_TYPE: {"example": BATCH_EXAMPLE}},
            "headers": {
                NEXT_AFTER_HEADER: {
                    "description": "Where the next request starts (`after`).",
                    "schema": {"type": "integer"},
                },
                POSITION_HEADER: {
                    "description": "The position the views have reached.",
                    "schema": {"type": "integer"},
                },
            },
        }
    },
)
def events(
    runtime: RuntimeDep,
    user: Anyone,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    types: Types = None,
    programmes: Programmes = None,
    regions: Regions = None,
) -> Response:
    """The decisions after position `after`, as CloudEvents (`id` is the ledger position,
    `subject` the case, relief, schedule or period, `time` the record time, `data` what
    changed and its effect on months and amounts, with person references only). Store the
    `Feed-Next-After` header and pass it as `after` next time. A viewer sees the decisions
    in force; requests, reviews and payroll closes are for staff."""
    where = _where(runtime, user, types, programmes, regions)
    page = runtime.feed.read(after, limit, where)
    body = json.dumps([cloud_event(c) for c in page.changes], ensure_ascii=False)
    return Response(
        body,
        media_type=BATCH_CONTENT_TYPE,
        headers={NEXT_AFTER_HEADER: str(page.through), POSITION_HEADER: str(page.views_position)},
    )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `id` the position, `event` the type, `data` "
            "the CloudEvent.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream(
    request: Request,
    runtime: RuntimeDep,
    user: Anyone,
    after: After = 0,
    limit: Annotated[
        int | None, Query(ge=1, le=2**31, description="Close the stream after this many events.")
    ] = None,
    types: Types = None,
    programmes: Programmes = None,
    regions: Regions = None,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^[0-9]{1,19}$",
            description="Resume after this position (sent by an EventSource on reconnect).",
        ),
    ] = None,
) -> StreamingResponse:
    """The same feed as server-sent events, open-ended: new decisions arrive as the views
    reach them. On reconnect the browser's `Last-Event-ID` resumes after the last one seen
    (it wins over `after`); a comment every 15 s keeps idle connections open."""
    where = _where(runtime, user, types, programmes, regions)
    start = int(last_event_id) if last_event_id is not None else after
    feed = runtime.feed

    async def frames() -> AsyncIterator[str]:
        position, sent = start, 0
        idle = 0.0
        yield f": after {position}\n\n"
        while limit is None or sent < limit:
            if await request.is_disconnected():
                return
            wanted = DEFAULT_LIMIT if limit is None else min(DEFAULT_LIMIT, limit - sent)
            page = await run_in_threadpool(feed.read, position, wanted, where)
            position = page.through
            for change in page.changes:
                data = json.dumps(cloud_event(change), ensure_ascii=False)
                yield f"id: {change.position}\nevent: {TYPE_PREFIX}{change.type}\ndata: {data}\n\n"
                sent += 1
            if page.changes:
                idle = 0.0
                continue
            if position < page.views_position:
                continue
            await asyncio.sleep(STREAM_POLL_SECONDS)
            idle += STREAM_POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield f": through {position}\n\n"

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
