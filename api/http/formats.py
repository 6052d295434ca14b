"""What the service reads and writes: JSON bodies in, JSON or CSV out.

A request body is JSON and says so (``Content-Type: application/json``); any other is 415
before anything else is read into it. Rolls, totals and payroll periods are also given as
CSV, for the spreadsheets a bureau keeps: the ``Accept`` header chooses (RFC 9110 12.5.1,
with its q-values; JSON when it is absent, ``*/*`` or a tie), and one that allows neither is
406. A CSV answer has a header row, money as decimal strings ("1200.00"), the ledger
position it was drawn at in the ``Ledger-Position`` header and in the file name its
``Content-Disposition`` gives.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.http.problems import NOT_ACCEPTABLE, UNSUPPORTED_MEDIA_TYPE, HTTPProblem

POSITION_HEADER = "Ledger-Position"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"


async def json_bodies_only(request: Request) -> None:
    """Refuse, with 415, a body sent to an operation that takes one, unless it is JSON."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        said = f"not {media_type}" if media_type else "and this request did not say what it is"
        raise HTTPProblem(
            UNSUPPORTED_MEDIA_TYPE,
            f"the body is JSON, sent with Content-Type: application/json, {said}",
            field="header.Content-Type",
        )


class Format(StrEnum):
    JSON = "application/json"
    CSV = "text/csv"


def accepted_format(request: Request) -> Format:
    """JSON or CSV, as the ``Accept`` header prefers; 406 when it allows neither."""
    header = request.headers.get("accept", "")
    if not header.strip():
        return Format.JSON
    ranges = list(_media_ranges(header))
    best = max(Format, key=lambda offer: _quality(offer, ranges))  # JSON first on a tie
    if _quality(best, ranges) <= 0:
        raise HTTPProblem(
            NOT_ACCEPTABLE,
            f"this is given as application/json or text/csv, not {header[:100]}",
            field="header.Accept",
        )
    return best


AcceptedFormat = Annotated[Format, Depends(accepted_format)]


def _media_ranges(header: str) -> Iterable[tuple[str, str, float]]:
    for item in header.split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        main, _, sub = media_range.lower().partition("/")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        if main and sub:
            yield main, sub, quality


def _quality(offer: Format, ranges: Sequence[tuple[str, str, float]]) -> float:
    """The q-value of the most specific range that matches ``offer`` (0: none does)."""
    main, sub = offer.value.split("/")
    specificity, quality = -1, 0.0
    for range_main, range_sub, range_quality in ranges:
        if (range_main, range_sub) == (main, sub):
            matched = 2
        elif (range_main, range_sub) == (main, "*"):
            matched = 1
        elif (range_main, range_sub) == ("*", "*"):
            matched = 0
        else:
            continue
        if matched > specificity:
            specificity, quality = matched, range_quality
    return quality


def json_response(answer: BaseModel, headers: Mapping[str, str] | None = None) -> Response:
    """``answer`` as JSON, serialized once by pydantic. A model returned to FastAPI would be
    validated again against the operation's ``response_model`` before it is serialized; a
    model built here was validated as it was built. The operation still names its
    ``response_model``, which the OpenAPI document describes."""
    return Response(
        answer.model_dump_json(by_alias=True), media_type="application/json", headers=headers
    )


def csv_response(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    name: str,
    position: int,
    part: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """A CSV file of ``rows`` under ``header``, named ``NAME-at-POSITION[PART].csv`` (the
    part of a paged answer: ``-501-to-1000``). None is an empty cell; a Decimal is its
    string, as money travels in JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(header)
    writer.writerows(["" if value is None else str(value) for value in row] for row in rows)
    filename = re.sub(r"[^A-Za-z0-9._-]", "-", f"{name}-at-{position}{part}.csv")
    return Response(
        out.getvalue(),
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            POSITION_HEADER: str(position),
            **(headers or {}),
        },
    )


def csv_responses(example: str, headers: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of an operation that also answers in CSV, with ``headers``
    beside those of every CSV answer."""
    return {
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
            "headers": {
                **headers,
                POSITION_HEADER: {
                    "description": "The ledger position the answer was drawn at",
                    "schema": {"type": "integer"},
                },
                "Content-Disposition": {
                    "description": "A CSV file's name, with the position it was drawn at",
                    "schema": {"type": "string"},
                },
            },
        }
    }
