"""The pages, one route per page, each reading through the same read side and the same role
and region rules as the JSON API (``api.http.deps``), and writing through the same
``Writer`` and ``api.services.decisions`` functions (so the four-eyes rule is the ledger's,
enforced once). Where a page offers a file, it is the API endpoint's own answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from api.core.bootstrap import Runtime
from api.core.identities import InvalidTokenError, TokenKeysUnavailableError, User
from api.http.deps import (
    ACCOUNTANTS,
    APPROVERS,
    AUDITORS,
    EVERYONE,
    OVERSEERS,
    STAFF,
    Knowledge,
    RuntimeDep,
    VerificationsDep,
    allowed,
    get_knowledge,
    refuse_outside,
)
from api.http.formats import Format
from api.http.pages import MAX_LIMIT, Page
from api.http.problems import INVALID_REQUEST, HTTPProblem
from api.http.routers import periods as period_routes
from api.http.routers import reads as read_routes
from api.http.routers.approvals import pending as pending_approvals
from api.http.routers.audit import job_public
from api.http.web import session
from api.http.web.charts import Series, line_chart
from api.http.web.labels import LANGUAGES
from api.http.web.templating import labels_of, render
from api.http.writes import Writer, writer_for
from api.services import decisions
from api.services.decisions import Reasoned
from api.services.verification_jobs import VerificationJobs, start_verification
from domain.cases.programmes import STANDARD_PARAMETERS, Programme
from domain.months import BUREAU_TIME_ZONE, Month
from projections.reads import audit_chain, standards
from projections.reads.period_accounts import Accounts, case_account

PREFIX = "/web"
T = TypeVar("T")
ROWS_PER_PAGE = 50

router = APIRouter(prefix=PREFIX, dependencies=[Depends(session.check_csrf)])


Signed = Annotated[User, Depends(allowed(*EVERYONE, identify=session.session_user))]
StaffPage = Annotated[User, Depends(allowed(*STAFF, identify=session.session_user))]
OverseerPage = Annotated[User, Depends(allowed(*OVERSEERS, identify=session.session_user))]
AccountantPage = Annotated[User, Depends(allowed(*ACCOUNTANTS, identify=session.session_user))]
AuditorPage = Annotated[User, Depends(allowed(*AUDITORS, identify=session.session_user))]
ApproverWrite = Annotated[Writer, Depends(writer_for(*APPROVERS, identify=session.session_user))]


# Reading a page's query: an empty field of a form is a parameter not given.


def _given(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """Reads may wait on the database: never on the event loop."""
    return await run_in_threadpool(function, *args)


async def _knowledge(request: Request, runtime: Runtime) -> Knowledge:
    """What the API's ``Knowledge`` dependency reads, from the page's form; after a write,
    its position (``recorded``) is waited for, so that the page shows it."""
    return await get_knowledge(
        runtime,
        _given(request, "as_of"),
        _given(request, "known_at"),
        _position(request, "known_at_position"),
        _position(request, "recorded"),
    )


def _position(request: Request, name: str) -> int | None:
    text = _given(request, name)
    if text is not None and not text.isdigit():
        raise HTTPProblem(
            INVALID_REQUEST, "a ledger position is a whole number", field=f"query.{name}"
        )
    return int(text) if text is not None else None


def _programme(text: str | None, default: Programme = Programme.DIBAO_URBAN) -> Programme:
    if text is None:
        return default
    try:
        return Programme(text)
    except ValueError:
        names = ", ".join(p.value for p in Programme)
        raise HTTPProblem(
            INVALID_REQUEST, f"{text!r} is not a programme: one of {names}", field="query.programme"
        ) from None


def _region(request: Request, runtime: Runtime, user: User) -> str:
    """The region the form names (default: the first the user serves), checked as the API
    checks it."""
    served = _served_regions(runtime, user)
    region = _given(request, "region") or (served[0] if served else "")
    runtime.ledger.regions.check(region)
    refuse_outside(runtime, user, region)
    return region


def _served_regions(runtime: Runtime, user: User) -> list[str]:
    return [code for code in runtime.ledger.regions.names if user.serves(code)]


def _offset(request: Request) -> int:
    text = _given(request, "offset") or "0"
    return int(text) if text.isdigit() else 0


# Signing in and out.


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


def _login_page(request: Request, failure: str | None = None) -> Response:
    """The sign-in form; with why the last sign-in failed, if it did (401)."""
    runtime: Runtime = request.app.state.runtime
    provider = runtime.settings.oidc_sign_in() is not None
    context = {"failure": failure, "provider": provider}
    return render(request, "login.html", context, status_code=401 if failure else 200)


@router.get("/login/provider")
def login_at_provider(request: Request, runtime: RuntimeDep) -> Response:
    """Send the browser to the OpenID Connect provider to sign in."""
    provider = runtime.settings.oidc_sign_in()
    if provider is None:
        raise HTTPException(404, "no OpenID Connect provider is set for signing in")
    state, verifier = session.begin_provider_sign_in(request)
    target = provider.redirect(_provider_return(request), state, verifier)
    return _redirect(request, target)


@router.get("/login/provider/return")
async def provider_return(request: Request, runtime: RuntimeDep) -> Response:
    """Where the provider sends the browser back, with a code for the access token."""
    provider = runtime.settings.oidc_sign_in()
    if provider is None:
        raise HTTPException(404, "no OpenID Connect provider is set for signing in")
    verifier = session.provider_verifier(request, _given(request, "state") or "")
    code = _given(request, "code")
    if code is None:
        said = _given(request, "error_description") or _given(request, "error") or "no code"
        return _login_page(request, f"the identity provider did not sign you in: {said}")
    try:
        token = await _in_thread(provider.exchange, code, verifier, _provider_return(request))
        await session.sign_in(request, token)
    except InvalidTokenError as error:
        return _login_page(request, str(error))
    except TokenKeysUnavailableError as error:
        raise HTTPException(503, str(error)) from None
    return _redirect(request, f"{PREFIX}/")


def _provider_return(request: Request) -> str:
    return str(request.url_for("provider_return"))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token", "")).strip()
    try:
        await session.sign_in(request, token)
    except InvalidTokenError as error:
        return _login_page(request, str(error))
    return _redirect(request, f"{PREFIX}/")


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    session.forget(response)
    return response


@router.get("/language/{language}")
def language(language: str, request: Request) -> Response:
    """Switch the pages' language; back to the page it was asked from."""
    if language not in LANGUAGES:
        raise HTTPException(404, f"no labels in {language!r}: {', '.join(LANGUAGES)}")
    current = session.session_of(request)
    current.language = language
    current.changed = True
    back = request.headers.get("referer", "")
    target = back if back.startswith(str(request.base_url)) else f"{PREFIX}/"
    return _redirect(request, target)


def _redirect(request: Request, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    session.keep(request, response)
    return response


# Pages.


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Signed) -> Response:
    return render(request, "home.html", {"user": user})


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
    programme = _programme(_given(request, "programme"))
    region = _region(request, runtime, user)
    knowledge = await _knowledge(request, runtime)
    then_asked = _given(request, "known_at") or _given(request, "known_at_position")
    return await _in_thread(
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
    read, month = runtime.read_side, knowledge.as_of
    then = knowledge.position
    now = read.position
    offset = _offset(request)
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
            "regions": _served_regions(runtime, user),
            "programme": programme,
            "region": region,
            "month": month,
            "known_at": _given(request, "known_at") or "",
            "known_at_position": _given(request, "known_at_position") or "",
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
    programme = _programme(_given(request, "programme"))
    region = _region(request, runtime, user)
    knowledge = await _knowledge(request, runtime)
    answer = await _in_thread(
        read_routes.roll,
        programme,
        region,
        request,
        runtime,
        user,
        knowledge,
        Page(0, MAX_LIMIT),
        Format.CSV,
        Response(),
    )
    return _file(answer)


@router.get("/totals", response_class=HTMLResponse)
async def totals(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    knowledge = await _knowledge(request, runtime)
    year_text = _given(request, "year")
    if year_text is not None and not (year_text.isdigit() and 1900 <= int(year_text) <= 2999):
        raise HTTPProblem(INVALID_REQUEST, "a year is 1900 to 2999", field="query.year")
    year = int(year_text) if year_text else datetime.now(BUREAU_TIME_ZONE).year
    return await _in_thread(_totals_page, request, runtime, user, knowledge, year)


@dataclass(frozen=True)
class YearFigure:
    programme: str
    month: Month
    cases: int
    entitled: Decimal
    paid: Decimal | None
    settled: Decimal | None
    outstanding: Decimal | None
    drawn: Decimal  # what ``ledger report`` draws: paid where closed, entitled elsewhere
    final: bool  # every region with a figure has closed the month


def _totals_page(
    request: Request, runtime: Runtime, user: User, knowledge: Knowledge, year: int
) -> Response:
    figures = _year_figures(runtime, user, year, knowledge.position)
    months = [Month.of(year, m) for m in range(1, 13)]
    programmes = [p.value for p in Programme if any(f.programme == p.value for f in figures)]
    by_key = {(f.programme, f.month): f for f in figures}
    labels = labels_of(request)
    money_series = [
        Series(
            labels.get(f"programme.{p}", p),
            [by_key[(p, m)].drawn if (p, m) in by_key else Decimal("0.00") for m in months],
            [bool(by_key.get((p, m)) and by_key[(p, m)].final) for m in months],
        )
        for p in programmes
    ]
    case_series = [
        Series(
            labels.get(f"programme.{p}", p),
            [by_key[(p, m)].cases if (p, m) in by_key else 0 for m in months],
            [True] * 12,
        )
        for p in programmes
    ]
    x_labels = [f"{m.month}" for m in months]
    return render(
        request,
        "totals.html",
        {
            "user": user,
            "year": year,
            "position": knowledge.position,
            "figures": figures,
            "money_chart": line_chart(labels["chart_totals"], x_labels, money_series),
            "cases_chart": line_chart(labels["chart_cases"], x_labels, case_series),
        },
    )


def _year_figures(runtime: Runtime, user: User, year: int, position: int) -> list[YearFigure]:
    """Per programme and month of ``year``, in the regions ``user`` serves, summed over
    them: what ``GET /totals`` answers for each month."""
    read = runtime.read_side
    closed = {
        (a.programme, a.region, a.month): a
        for a in Accounts(runtime.views).closed_months(position, year=year)
        if user.serves(a.region)
    }
    zero = Decimal("0.00")
    sums: dict[tuple[str, Month], dict[str, Any]] = {}
    for number in range(1, 13):
        month = Month.of(year, number)
        open_cases = {
            (t.programme, t.region): t
            for t in read.totals(month, position)
            if user.serves(t.region)
        }
        closed_here = {(p, r): a for (p, r, m), a in closed.items() if m == month}
        for key in sorted(open_cases.keys() | closed_here.keys()):
            total, account = open_cases.get(key), closed_here.get(key)
            entry = sums.setdefault(
                (key[0], month),
                {
                    "cases": 0,
                    "entitled": zero,
                    "paid": None,
                    "settled": None,
                    "outstanding": None,
                    "drawn": zero,
                    "final": True,
                },
            )
            entry["cases"] += total.cases if total else 0
            entry["entitled"] += total.entitled if total else account.entitled if account else zero
            if account is None:
                entry["drawn"] += total.entitled if total else zero
                entry["final"] = False
                continue
            entry["drawn"] += account.paid
            for name, value in (
                ("paid", account.paid),
                ("settled", account.settled),
                ("outstanding", account.outstanding),
            ):
                entry[name] = (entry[name] or zero) + value
    order = {p.value: i for i, p in enumerate(Programme)}
    return [
        YearFigure(programme, month, **values)
        for (programme, month), values in sorted(
            sums.items(), key=lambda item: (order.get(item[0][0], 99), item[0][1])
        )
    ]


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case(case_id: UUID, request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    knowledge = await _knowledge(request, runtime)
    return await _in_thread(_case_page, request, runtime, user, case_id, knowledge)


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
    ledger, read = runtime.ledger, runtime.read_side
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
    account = case_account(runtime.views, case_id.hex, position, knowledge.as_of)
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


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, runtime: RuntimeDep, user: OverseerPage) -> Response:
    knowledge = await _knowledge(request, runtime)
    region = _given(request, "region")
    found = await _in_thread(pending_approvals, runtime, user, knowledge, region)
    shown = [p for p in found.pending if user.serves(p.region)]
    return render(
        request,
        "approvals.html",
        {
            "user": user,
            "pending": shown,
            "position": found.position,
            "recorded": _given(request, "recorded"),
        },
    )


async def _decision(request: Request) -> tuple[Reasoned, bool]:
    """The form's reason, and whether its approve button (not its refuse button) was used."""
    form = await request.form()
    decision = form.get("decision")
    if decision not in ("approve", "refuse"):
        raise HTTPProblem(
            INVALID_REQUEST, "the form says neither approve nor refuse", field="body.decision"
        )
    try:
        return Reasoned(reason=str(form.get("reason", ""))), decision == "approve"
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None


@router.post("/approvals/reliefs/{relief_id}")
async def decide_relief(relief_id: UUID, request: Request, write: ApproverWrite) -> Response:
    """Approve or refuse a relief above its cap, as ``POST /reliefs/{id}/approvals`` or
    ``/refusals`` does."""
    body, approve = await _decision(request)
    decide = decisions.approve_relief if approve else decisions.refuse_relief
    recorded = await _in_thread(
        write,
        body,
        lambda ledger, actor, uow: decide(ledger, relief_id, body, actor=actor, uow=uow),
    )
    return _redirect(request, f"{PREFIX}/approvals?recorded={recorded.position}")


@router.post("/approvals/rescissions/{case_id}")
async def decide_rescission(case_id: UUID, request: Request, write: ApproverWrite) -> Response:
    """Approve or refuse a requested rescission, as ``POST /cases/{id}/rescission-approvals``
    or ``/rescission-refusals`` does."""
    body, approve = await _decision(request)
    decide = decisions.approve_rescission if approve else decisions.refuse_rescission
    recorded = await _in_thread(
        write,
        body,
        lambda ledger, actor, uow: decide(ledger, case_id, body, actor=actor, uow=uow),
    )
    return _redirect(request, f"{PREFIX}/approvals?recorded={recorded.position}")


@router.get("/standards", response_class=HTMLResponse)
async def standards_page(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    programme = _programme(_given(request, "programme"))
    region = _region(request, runtime, user)
    knowledge = await _knowledge(request, runtime)
    if programme not in STANDARD_PARAMETERS:
        raise HTTPProblem(
            INVALID_REQUEST, f"{programme} has no standards schedule", field="query.programme"
        )
    ledger = runtime.ledger
    found = await _in_thread(
        standards.schedule,
        ledger.recorder,
        ledger.mapper,
        runtime.views,
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
            "regions": _served_regions(runtime, user),
            "programme": programme,
            "region": region,
            "schedule": found,
        },
    )


@router.get("/periods", response_class=HTMLResponse)
async def periods(request: Request, runtime: RuntimeDep, user: AccountantPage) -> Response:
    programme = _programme(_given(request, "programme"))
    region = _region(request, runtime, user)
    knowledge = await _knowledge(request, runtime)
    found = await _in_thread(Accounts(runtime.views).periods, knowledge.position, programme, region)
    return render(
        request,
        "periods.html",
        {
            "user": user,
            "programmes": list(Programme),
            "regions": _served_regions(runtime, user),
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
    knowledge = await _knowledge(request, runtime)
    offset = _offset(request)
    answer = await _in_thread(
        period_routes.read_period,
        _programme(programme),
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
    knowledge = await _knowledge(request, runtime)
    answer = await _in_thread(
        period_routes.read_period,
        _programme(programme),
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
    return _file(answer)


def _file(answer: BaseModel | Response) -> Response:
    """An endpoint's answer when a file was asked for."""
    if not isinstance(answer, Response):
        raise TypeError("an endpoint asked for CSV answered otherwise")
    return answer


@router.get("/verification", response_class=HTMLResponse)
async def verification(
    request: Request, runtime: RuntimeDep, user: AuditorPage, jobs: VerificationsDep
) -> Response:
    return await _in_thread(_verification_page, request, runtime, user, jobs)


def _verification_page(
    request: Request, runtime: Runtime, user: User, jobs: VerificationJobs
) -> Response:
    with runtime.views.transaction() as cursor:
        head = audit_chain.stored_head(cursor)
    checkpointer = runtime.checkpointer
    checkpoint = checkpointer.latest() if checkpointer is not None else None
    job_text = _given(request, "job")
    job = jobs.get(UUID(job_text)) if job_text and _is_uuid(job_text) else jobs.latest()
    return render(
        request,
        "verification.html",
        {
            "user": user,
            "ledger_position": runtime.ledger.position,
            "views_position": runtime.read_side.position,
            "head": head,
            "checkpoint": checkpoint,
            "job": job_public(job) if job else None,
        },
    )


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


@router.post("/verification")
def start(
    request: Request, runtime: RuntimeDep, user: AuditorPage, jobs: VerificationsDep
) -> Response:
    job = start_verification(jobs, runtime, user.name)
    return _redirect(request, f"{PREFIX}/verification?job={job.id}")


@router.get("/verification/{job_id}", response_class=HTMLResponse)
def verification_progress(
    job_id: UUID, request: Request, user: AuditorPage, jobs: VerificationsDep
) -> Response:
    """The job's progress, as a fragment the verification page polls."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no verification {job_id} is known to this service")
    return render(request, "verification_job.html", {"job": job_public(job)})
