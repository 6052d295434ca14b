"""Errors as ``application/problem+json`` (RFC 9457), written for the person who asked.

Every problem has a ``type``: a relative URI the service serves (``/problems/not-eligible``)
that says what kind of problem it is and what to do about it; its ``title`` is that kind's,
the same every time, and ``detail`` is this occurrence's. A problem caused by input names
the input in ``field`` (the first) and ``errors`` (each), in one scheme whatever refused it:
where the input was sent (``body``, ``query``, ``path``, ``header``), then the path to it
within, ``body.persons[0].identity_number``, ``query.as_of``, ``path.case_id``. The
ledger's refusals name their fields as its commands' arguments do (``persons[1].name``);
here they are placed: a path or query parameter of the route if they name one, else the
body.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.services.fields import TEXT_PATTERN
from domain.errors import (
    ConcurrentDecisionError,
    ConflictError,
    ExclusiveHoldingError,
    FourEyesError,
    HeldLineError,
    IncomeAboveStandardError,
    IncomeDiffersFromVerificationError,
    InvalidBankAccountError,
    InvalidInputError,
    LedgerRefusal,
    NotEligibleError,
    NotFoundError,
    NotInPeriodError,
    PayeeMissingError,
    PeriodNotClosedError,
    RecordTimeError,
    StaleVerificationError,
    StandardNotInForceError,
    StandardNotRaisedError,
    VerificationHouseholdError,
    VerificationRequiredError,
)
from projections.reads.read_side import NotYetProjectedError
from projections.storage.health import DatabaseUnreachableError
from projections.storage.keys import NoSigningKeyError
from projections.storage.signing import UnverifiedEventError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEMS_PATH = "/problems"
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_ERRORS = (
    DatabaseUnreachableError,
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    PoolTimeout,
    sqlite3.OperationalError,
    NotYetProjectedError,
)


@dataclass(frozen=True)
class ProblemType:
    """A kind of problem: its name in ``/problems/{name}``, its title and status, and what it
    means for the person who asked."""

    name: str
    title: str
    status: int
    meaning: str

    @property
    def uri(self) -> str:
        return f"{PROBLEMS_PATH}/{self.name}"


INVALID_REQUEST = ProblemType(
    "invalid-request",
    "Invalid request",
    422,
    "A field is missing, malformed or out of range, or names something the ledger does not "
    "know (a region, a programme, a month). `field` and `errors` name each field at fault. "
    "Correct it and send the request again; nothing was recorded.",
)
NOT_ELIGIBLE = ProblemType(
    "not-eligible",
    "Not eligible",
    422,
    "The request is well formed, but the person or household does not meet the programme's "
    "conditions in that month: per-capita income at or above the standard, an age not yet "
    "reached, an orphan past the month of the 18th birthday. Nothing was recorded.",
)
NO_STANDARD_IN_FORCE = ProblemType(
    "no-standard-in-force",
    "No standard in force",
    422,
    "No standard of the programme is set for the region and month, so no amount can be "
    "computed. Finance sets one first (`POST /standards/{programme}/{region}`).",
)
VERIFICATION_REQUIRED = ProblemType(
    "verification-required",
    "Household verification required",
    422,
    "A dibao or tekun grant, or a dibao reassessment of the income or the members, cites a "
    "verification of the household (`verification_id`), and none was given, none with that "
    "id is recorded, or the platform has not answered it yet. Record one "
    "(`POST /verifications`) or request one (`POST /verification-requests`), then cite it. "
    "Nothing was recorded.",
)
VERIFICATION_HOUSEHOLD = ProblemType(
    "verification-of-another-household",
    "Verification of another household",
    422,
    "The verification cited covers other members than the decision's household (as it is "
    "from the decision's month), or was made for another case. `detail` names the "
    "verification. Cite a verification of the same household. Nothing was recorded.",
)
VERIFICATION_STALE = ProblemType(
    "verification-stale",
    "Verification too old",
    422,
    "The verification cited was made more than `verification_validity_days` (90 by default) "
    "before the decision, or is dated after it. `detail` names the verification and its "
    "date. Request a new verification of the household and cite it. Nothing was recorded.",
)
INCOME_DIFFERS = ProblemType(
    "income-differs-from-verification",
    "Declared income differs from the verified one",
    422,
    "The declared per-capita income differs from the one verified by more than the margin "
    "(`verification_margin` of the standard in force, 5 % by default). `detail` names the "
    "verification, both figures and the difference. Declare the verified income, or give "
    "`income_reason` to record the declared one. Nothing was recorded.",
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "idempotency-key-reused",
    "Idempotency-Key reused",
    422,
    "You already sent another request with this `Idempotency-Key` (another path or body); "
    "a retry must repeat the first request exactly. Use a new key for a new request.",
)
STATE_CONFLICT = ProblemType(
    "state-conflict",
    "Conflicts with the record",
    409,
    "The history of the case, relief or payroll period forbids the decision, and `detail` "
    "names what it conflicts with: the case is closed from a month, already suspended, "
    "rescinded; the relief was already reviewed; the period is already closed.",
)
EXCLUSIVE_HOLDING = ProblemType(
    "exclusive-holding",
    "Already holds an excluding case",
    409,
    "A person of the grant already holds a case that excludes the programme for some of "
    "the months asked (one dibao at a time; dibao excludes tekun). `detail` names the "
    "person by their place in the request and the case they hold; `field` points at them. "
    "Exit that case first, or grant from the month after it ends.",
)
FOUR_EYES = ProblemType(
    "four-eyes",
    "A second person must approve",
    409,
    "A rescission, or relief above the cap, is approved by someone other than the person "
    "who requested it.",
)
STANDARD_NOT_RAISED = ProblemType(
    "standard-not-raised",
    "Standards only rise",
    409,
    "A standard may only rise over time: `detail` names the parameter and the value in "
    "force it would go below (or above, before a later entry). A mistaken entry is fixed "
    "with a correction (`POST /standards/{programme}/{region}/corrections`).",
)
RECORD_TIME = ProblemType(
    "record-time",
    "Record time goes back",
    409,
    "An imported decision is dated before the latest one stored; the ledger's record time "
    "never goes back.",
)
CONCURRENT_DECISION = ProblemType(
    "concurrent-decision",
    "Another decision came first",
    409,
    "Another decision about the same case, relief, standards or person was recorded at the "
    "same moment. Reload what it concerns and decide again; nothing of this request was "
    "recorded.",
)
NOT_FOUND = ProblemType(
    "not-found",
    "Not found",
    404,
    "No case, relief, closed period or standard entry with that identifier, as known at "
    "the position asked for; or no such path.",
)
INVALID_BANK_ACCOUNT = ProblemType(
    "invalid-bank-account",
    "Invalid bank card number",
    422,
    "A payee's bank card number has 16 to 19 digits, and a UnionPay card's (beginning 62) "
    "last digit is its Luhn check digit. `detail` says which rule the number fails; re-type "
    "it from the card. Nothing was recorded.",
)
PERIOD_NOT_CLOSED = ProblemType(
    "period-not-closed",
    "Period not closed",
    409,
    "A bank's return names a payroll period its case's programme and region has not "
    "closed: nothing of it went to the bank. Check the period in the return (its month is "
    "the first six digits of the end-to-end id). Nothing of the request was recorded.",
)
HELD_LINE = ProblemType(
    "held-line",
    "Line was held",
    409,
    "A bank's return names a line that was held after an earlier return: it sent nothing "
    "to the bank, so nothing of it can come back. Nothing of the request was recorded.",
)
NOT_IN_PERIOD = ProblemType(
    "not-in-period",
    "Case not paid in the period",
    409,
    "A bank's return names a case that has no line paying anything in that period (no such "
    "case, a case of another programme or region, or a line of recoveries only). Nothing of "
    "the request was recorded.",
)
PAYEE_MISSING = ProblemType(
    "payee-missing",
    "Payee missing",
    409,
    "The period has lines to pay whose cases have no payee, so no bank could pay them; "
    "`detail` names them. Record each case's payee (`POST /cases/{case_id}/payee-changes`) and ask "
    "for the file again.",
)
BAD_REQUEST = ProblemType(
    "bad-request", "Bad request", 400, "The request could not be read as HTTP asks."
)
UNAUTHORIZED = ProblemType(
    "unauthorized",
    "Unauthorized",
    401,
    "No bearer token, or one that is expired, unsigned or altered. Get one with "
    "`ledger token USER ROLE`.",
)
FORBIDDEN = ProblemType(
    "forbidden",
    "Forbidden",
    403,
    "The caller's role may not do this; `detail` names the roles that may.",
)
METHOD_NOT_ALLOWED = ProblemType(
    "method-not-allowed", "Method not allowed", 405, "The path does not take this method."
)
NOT_ACCEPTABLE = ProblemType(
    "not-acceptable",
    "Not acceptable",
    406,
    "The `Accept` header asks for a format the resource cannot give. Rolls, totals and "
    "payroll periods are given as `application/json` or `text/csv`; everything else as "
    "`application/json`.",
)
REQUEST_TOO_LARGE = ProblemType(
    "request-too-large",
    "Request too large",
    413,
    "The request body is larger than the service accepts (`LEDGER_MAX_BODY_BYTES`), "
    "whether its size was declared (`Content-Length`) or not (chunked).",
)
UNSUPPORTED_MEDIA_TYPE = ProblemType(
    "unsupported-media-type",
    "Unsupported media type",
    415,
    "A request body is JSON, sent with `Content-Type: application/json`.",
)
INTERNAL_ERROR = ProblemType(
    "internal-error",
    "Internal error",
    500,
    "The ledger could not answer, and recorded nothing. The service's log has the cause.",
)
UNAVAILABLE = ProblemType(
    "unavailable",
    "Service unavailable",
    503,
    "The ledger's database is unreachable, or the views have not caught up with the "
    "position asked for. Retry after the `Retry-After` delay; nothing was recorded.",
)
INTEGRITY_ALARM = ProblemType(
    "integrity-alarm",
    "Ledger integrity alarm",
    503,
    "An event the request depends on does not verify: it was changed outside the ledger. "
    "Nothing was recorded, the operators were alerted, and `ledger verify` names the event. "
    "Retrying does not help until someone acts.",
)
CANNOT_RECORD = ProblemType(
    "cannot-record",
    "Cannot record",
    503,
    "This installation holds no signing key, so it can verify but not record decisions.",
)

PROBLEM_TYPES = (
    INVALID_REQUEST,
    NOT_ELIGIBLE,
    NO_STANDARD_IN_FORCE,
    VERIFICATION_REQUIRED,
    VERIFICATION_HOUSEHOLD,
    VERIFICATION_STALE,
    INCOME_DIFFERS,
    IDEMPOTENCY_KEY_REUSED,
    STATE_CONFLICT,
    EXCLUSIVE_HOLDING,
    FOUR_EYES,
    STANDARD_NOT_RAISED,
    RECORD_TIME,
    CONCURRENT_DECISION,
    NOT_FOUND,
    INVALID_BANK_ACCOUNT,
    PERIOD_NOT_CLOSED,
    HELD_LINE,
    NOT_IN_PERIOD,
    PAYEE_MISSING,
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    REQUEST_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    INTERNAL_ERROR,
    UNAVAILABLE,
    INTEGRITY_ALARM,
    CANNOT_RECORD,
)
PROBLEM_TYPE_NAMED = {kind.name: kind for kind in PROBLEM_TYPES}

# Each named refusal of the ledger as a kind of problem; a refusal is the kind of the nearest
# class in its MRO found here.
REFUSAL_TYPES: dict[type[LedgerRefusal], ProblemType] = {
    IncomeAboveStandardError: NOT_ELIGIBLE,
    InvalidBankAccountError: INVALID_BANK_ACCOUNT,
    PeriodNotClosedError: PERIOD_NOT_CLOSED,
    HeldLineError: HELD_LINE,
    NotInPeriodError: NOT_IN_PERIOD,
    PayeeMissingError: PAYEE_MISSING,
    NotEligibleError: NOT_ELIGIBLE,
    StandardNotInForceError: NO_STANDARD_IN_FORCE,
    VerificationRequiredError: VERIFICATION_REQUIRED,
    VerificationHouseholdError: VERIFICATION_HOUSEHOLD,
    StaleVerificationError: VERIFICATION_STALE,
    IncomeDiffersFromVerificationError: INCOME_DIFFERS,
    InvalidInputError: INVALID_REQUEST,
    ExclusiveHoldingError: EXCLUSIVE_HOLDING,
    FourEyesError: FOUR_EYES,
    StandardNotRaisedError: STANDARD_NOT_RAISED,
    RecordTimeError: RECORD_TIME,
    ConcurrentDecisionError: CONCURRENT_DECISION,
    ConflictError: STATE_CONFLICT,
    NotFoundError: NOT_FOUND,
    LedgerRefusal: INVALID_REQUEST,
}
# The kind of an HTTPException raised with only a status.
STATUS_TYPES = {
    kind.status: kind
    for kind in (
        BAD_REQUEST,
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        NOT_ACCEPTABLE,
        STATE_CONFLICT,
        REQUEST_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        INVALID_REQUEST,
        INTERNAL_ERROR,
        UNAVAILABLE,
    )
}


def refusal_type(refusal: LedgerRefusal) -> ProblemType:
    for kind in type(refusal).__mro__:
        if kind in REFUSAL_TYPES:
            return REFUSAL_TYPES[kind]
    return INVALID_REQUEST


class HTTPProblem(StarletteHTTPException):
    """A problem of a given kind raised by the HTTP layer itself, with the field it is
    about (already placed: ``query.known_at``)."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(kind.status, detail, headers)
        self.kind = kind
        self.field = field


class FieldProblem(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """An error: ``type`` and ``title`` say what kind, ``detail`` what happened and what to
    do about it, ``field`` and ``errors`` which input is at fault."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldProblem] | None = None


def problem(
    kind: ProblemType,
    detail: str,
    *,
    errors: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=kind.uri,
        title=kind.title,
        status=kind.status,
        detail=detail,
        field=errors[0].field if errors else None,
        errors=list(errors) or None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=body.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _response(description: str) -> dict[str, Any]:
    return {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: _response(description)
    for status, description in {
        401: "No valid bearer token",
        403: "The caller's role may not do this",
        404: "No such case, relief or period",
        409: "The ledger's state forbids the decision, or another decision came first",
        413: "The request body is too large",
        415: "A request body that is not `application/json`",
        422: "The request is invalid; the field and the reason are named",
        503: "The database is unreachable or the views are behind (retry after the delay), "
        "or a recorded event the request depends on does not verify (an alarm was raised)",
    }.items()
}
NOT_ACCEPTABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    406: _response("The Accept header asks for neither application/json nor text/csv")
}


def types_in_markdown() -> str:
    """The problem types as a Markdown list, for the OpenAPI description."""
    return "\n".join(
        f"- [`{kind.uri}`]({kind.uri}) ({kind.status}, {kind.title}): {kind.meaning}"
        for kind in PROBLEM_TYPES
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerRefusal)
    def refused(request: Request, error: LedgerRefusal) -> JSONResponse:
        kind = refusal_type(error)
        field = _placed(request, error.field) if error.field else None
        errors = [FieldProblem(field=field, reason=error.message)] if field else []
        return problem(kind, error.message, errors=errors)

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [FieldProblem(field=_field(item), reason=_reason(item)) for item in error.errors()]
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        return problem(INVALID_REQUEST, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if isinstance(error, HTTPProblem):
            errors = [FieldProblem(field=error.field, reason=error.detail)] if error.field else []
            return problem(error.kind, error.detail, errors=errors, headers=headers)
        kind = STATUS_TYPES.get(error.status_code)
        if kind is None:
            return _untyped(error.status_code, error.detail, headers)
        return problem(kind, str(error.detail), headers=headers)

    @app.exception_handler(UnverifiedEventError)
    def unverified(_: Request, error: UnverifiedEventError) -> JSONResponse:
        # Never act on what verify would reject (docs/reliability.md, "Tamper").
        log.critical("ALARM: refused a request over an event that does not verify: %s", error)
        return problem(
            INTEGRITY_ALARM,
            "an event this request depends on does not verify: it was changed outside the "
            "ledger. Nothing was recorded; the operators were alerted, and `ledger verify` "
            "names the event",
        )

    @app.exception_handler(NoSigningKeyError)
    def unsigned(_: Request, error: NoSigningKeyError) -> JSONResponse:
        log.critical("refused a decision: %s", error)
        return problem(CANNOT_RECORD, "this installation cannot record decisions")

    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("unexpected %s while handling a request", type(error).__name__)
        return problem(INTERNAL_ERROR, "the ledger could not answer; nothing was recorded")


def _untyped(status: int, detail: str, headers: dict[str, str]) -> JSONResponse:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(type="about:blank", title=title, status=status, detail=str(detail))
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


# What a pattern means, said the way a caseworker would.
PATTERN_MEANINGS = {
    r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$": "a month is written YYYY-MM",
    r"^[0-9]{1,9}(\.[0-9]{1,2})?$": "yuan as a string with at most two decimal places (1200.00)",
    r"^[0-9]{17}[0-9Xx]$": "an identity number has 17 digits and a check character (0-9 or X)",
    r"^[0-9]{6}$": "a region is a six-digit administrative code",
    TEXT_PATTERN: "text may not hold control characters other than tab and line breaks",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEAD = re.compile(r"[^.\[]*")


def located(location: Sequence[str | int]) -> str:
    """A location as one field name: ``("body", "persons", 0, "name")`` is
    ``body.persons[0].name``; a key that is not a plain name is quoted (``["a.b"]``)."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _NAME.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _placed(request: Request, field: str) -> str:
    """A refusal's field (named as the command's arguments are) placed in the request: a
    path or query parameter of the route when it names one, else a field of the body."""
    head = _HEAD.match(field)
    name = head.group(0) if head else field
    if name in request.path_params:
        return f"path.{field}"
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and name in _query_names(route.dependant):
        return f"query.{field}"
    return f"body.{field}"


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters of a route, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


def _field(item: Any) -> str:
    if item.get("type") == "json_invalid":  # its location is a character offset, not a field
        return "body"
    return located(item["loc"]) or "body"


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
        UNAVAILABLE,
        "the ledger's database is unreachable or the views are catching up; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
