"""Errors as ``application/problem+json`` (RFC 9457), written for the person who asked."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.services.fields import TEXT_PATTERN
from domain.errors import LedgerRefusal
from projections.reads.read_side import NotYetProjectedError
from projections.storage.health import DatabaseUnreachableError
from projections.storage.keys import NoSigningKeyError
from projections.storage.signing import UnverifiedEventError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
STATUS_OF_REFUSAL = {"invalid": 422, "conflict": 409, "not_found": 404, "refused": 422}
UNAVAILABLE = (
    DatabaseUnreachableError,
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    PoolTimeout,
    sqlite3.OperationalError,
    NotYetProjectedError,
)


class FieldProblem(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """An error: ``title`` says what kind, ``detail`` what to do about it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldProblem] | None = None


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, field=field, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in {
        401: "No valid bearer token",
        403: "The caller's role may not do this",
        404: "No such case, relief or period",
        409: "The ledger's state forbids the decision, or another decision came first",
        413: "The request body is too large",
        422: "The request is invalid; the field and the reason are named",
        503: "The database is unreachable or the views are behind (retry after the delay), "
        "or a recorded event the request depends on does not verify (an alarm was raised)",
    }.items()
}


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerRefusal)
    def refused(_: Request, error: LedgerRefusal) -> JSONResponse:
        status = STATUS_OF_REFUSAL.get(error.status, 422)
        titles = {422: "Invalid request", 409: "Conflict", 404: "Not found"}
        return problem(status, titles[status], error.message, field=error.field)

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [FieldProblem(field=_field(item), reason=_reason(item)) for item in error.errors()]
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(
            error.status_code,
            _title(error.status_code),
            str(error.detail),
            headers=dict(error.headers or {}),
        )

    @app.exception_handler(UnverifiedEventError)
    def unverified(_: Request, error: UnverifiedEventError) -> JSONResponse:
        # Never act on what verify would reject (docs/reliability.md, "Tamper").
        log.critical("ALARM: refused a request over an event that does not verify: %s", error)
        return problem(
            503,
            "Ledger integrity alarm",
            "an event this request depends on does not verify: it was changed outside the "
            "ledger. Nothing was recorded; the operators were alerted, and `ledger verify` "
            "names the event",
        )

    @app.exception_handler(NoSigningKeyError)
    def unsigned(_: Request, error: NoSigningKeyError) -> JSONResponse:
        log.critical("refused a decision: %s", error)
        return problem(503, "Service unavailable", "this installation cannot record decisions")

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("unexpected %s while handling a request", type(error).__name__)
        return problem(500, "Internal error", "the ledger could not answer; nothing was recorded")


# What a pattern means, said the way a caseworker would.
PATTERN_MEANINGS = {
    r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$": "a month is written YYYY-MM",
    r"^[0-9]{1,9}(\.[0-9]{1,2})?$": "yuan as a string with at most two decimal places (1200.00)",
    r"^[0-9]{17}[0-9Xx]$": "an identity number has 17 digits and a check character (0-9 or X)",
    r"^[0-9]{6}$": "a region is a six-digit administrative code",
    TEXT_PATTERN: "text may not hold control characters other than tab and line breaks",
}


def _field(item: Any) -> str:
    if item.get("type") == "json_invalid":  # its location is a character offset, not a field
        return "body"
    return ".".join(str(part) for part in item["loc"] if part != "body") or "body"


def _reason(item: Any) -> str:
    if item.get("type") == "json_invalid":
        offset = item["loc"][-1] if len(item["loc"]) > 1 else "?"
        return f"the body is not valid JSON (at character {offset})"
    pattern = (item.get("ctx") or {}).get("pattern")
    if item.get("type") == "string_pattern_mismatch" and pattern in PATTERN_MEANINGS:
        return PATTERN_MEANINGS[pattern]
    return str(item["msg"])


def _unavailable(_: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(error).__name__)
    return problem(
        503,
        "Service unavailable",
        "the ledger's database is unreachable or the views are catching up; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _title(status: int) -> str:
    return {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Request too large",
        422: "Invalid request",
        503: "Service unavailable",
    }.get(status, "Error")
