from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, status

from api.http.deps import KnowledgeDep, RuntimeDep, Staff
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import (
    CaseAccountPublic,
    CaseMonthPublic,
    CasePublic,
    DecisionPublic,
    PersonPublic,
    Recorded,
)
from api.http.writes import ApproverWriter, CaseworkerWriter
from api.services import decisions
from api.services.decisions import CaseGrant, DatedDecision, GradualExit, Reasoned, Reassessment
from domain.cases.programmes import Programme
from projections.reads.period_accounts import case_account

router = APIRouter(prefix="/cases", tags=["cases"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
def grant(body: CaseGrant, write: CaseworkerWriter) -> Recorded:
    """Grant a programme to a person, or dibao to a household (list every member)."""
    return write(
        body, lambda ledger, actor, uow: decisions.grant(ledger, body, actor=actor, uow=uow)
    )


@router.get("/{case_id}")
def read_case(
    case_id: UUID, runtime: RuntimeDep, user: Staff, knowledge: KnowledgeDep
) -> CasePublic:
    """A case with its history, and its status and amount in ``as_of``, all as known at the
    position asked for (default: now)."""
    ledger, read = runtime.ledger, knowledge.read
    version = read.version_at(case_id.hex, knowledge.position)
    if version is None:
        raise HTTPException(404, f"no case {case_id} was known at position {knowledge.position}")
    case = ledger.case(case_id, version)
    entry = read.subject_month(case_id.hex, knowledge.as_of, knowledge.position)
    state = case.month(knowledge.as_of)
    closed = case.closed_from
    return CasePublic(
        id=case.id,
        programme=case.programme,
        region=case.region,
        persons=[
            PersonPublic(reference=p["reference"], name=p["name"].reveal()) for p in case.persons
        ],
        granted_from=str(case.granted_from),
        closed_from=str(closed) if closed is not None else None,
        members=list(state.members),
        rescinded=case.rescinded,
        rescission_requested_by=case.rescission_requested_by,
        rescission_approved_by=case.rescission_approved_by,
        as_of=str(knowledge.as_of),
        position=knowledge.position,
        status=entry.status if entry else state.status.value,
        amount=entry.amount if entry else Decimal("0.00"),
        history=[_decision(event) for event in ledger.events.get(case_id, lte=version)],
    )


@router.get("/{case_id}/account")
def read_account(
    case_id: UUID, runtime: RuntimeDep, user: Staff, knowledge: KnowledgeDep
) -> CaseAccountPublic:
    """A case's account, month by month up to ``as_of``: entitled, and once the month is
    closed what was paid, settled since as arrears or listed as recoveries, and what is
    outstanding, all as known at the position asked for (default: now)."""
    position = knowledge.position
    account = case_account(knowledge.views, case_id.hex, position, knowledge.as_of)
    if account is None:
        raise HTTPException(404, f"no case {case_id} was known at position {position}")
    closed = [month for month in account.months if month.closed]
    zero = Decimal("0.00")
    return CaseAccountPublic(
        case_id=case_id,
        programme=Programme(account.programme),
        region=account.region,
        as_of=str(knowledge.as_of),
        position=position,
        entitled=sum((month.entitled for month in account.months), zero),
        paid=sum((month.paid or zero for month in closed), zero),
        arrears=sum((month.arrears or zero for month in closed), zero),
        recoveries=sum((month.recoveries or zero for month in closed), zero),
        outstanding=sum((month.outstanding or zero for month in closed), zero),
        months=[
            CaseMonthPublic(
                month=str(month.month),
                status=month.status,
                entitled=month.entitled,
                closed=month.closed,
                paid=month.paid,
                arrears=month.arrears,
                recoveries=month.recoveries,
                settled=month.settled,
                outstanding=month.outstanding,
            )
            for month in account.months
        ],
    )


def _decision(event: Any) -> DecisionPublic:
    effective = getattr(event, "effective", None)
    facts = {**getattr(event, "facts", {}), **getattr(event, "changes", {})}
    details: dict[str, str | list[str]] = {
        name: [_item(item) for item in value] if isinstance(value, list | tuple) else str(value)
        for name, value in facts.items()
    }
    if hasattr(event, "months"):
        details["months"] = str(event.months)
    cited = getattr(event, "verification", None)
    if cited is not None:  # the household verification the decision cites
        details["verification_id"] = str(UUID(cited["id"]))
        if "income_reason" in cited:
            details["income_difference"] = cited["income_difference"].reveal()
            details["income_reason"] = cited["income_reason"]
    return DecisionPublic(
        kind=type(event).__name__,
        effective=str(effective) if effective is not None else None,
        actor=event.actor,
        reason=event.reason,
        recorded_at=event.timestamp,
        details=details,
    )


def _item(item: Any) -> str:
    """A household member (a person joining, by reference, never by name or number), or
    a plain value."""
    return str(item["reference"]) if isinstance(item, dict) else str(item)


@router.post("/{case_id}/reassessments", status_code=status.HTTP_201_CREATED)
def reassess(case_id: UUID, body: Reassessment, write: CaseworkerWriter) -> Recorded:
    """New facts from a month (income, area, care tier, grade or orphan care). A dibao
    household may also change from that month: ``changes.members_joining`` lists persons
    who join (identity number, name, optional birth date; refused with 409 if one holds a
    programme that excludes dibao, naming their place in the list), and
    ``changes.members_leaving`` the identity numbers of members who leave. The amount of
    each month counts that month's members; the income changes only when given."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.reassess(ledger, case_id, body, actor=actor, uow=uow),
    )


@router.post("/{case_id}/suspensions", status_code=status.HTTP_201_CREATED)
def suspend(case_id: UUID, body: DatedDecision, write: CaseworkerWriter) -> Recorded:
    """Stop payment from a month; suspended months are not paid later."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.suspend(ledger, case_id, body, actor=actor, uow=uow),
    )


@router.post("/{case_id}/resumptions", status_code=status.HTTP_201_CREATED)
def resume(case_id: UUID, body: DatedDecision, write: CaseworkerWriter) -> Recorded:
    """Pay a suspended case again from a month."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.resume(ledger, case_id, body, actor=actor, uow=uow),
    )


@router.post("/{case_id}/gradual-exits", status_code=status.HTTP_201_CREATED)
def start_gradual_exit(case_id: UUID, body: GradualExit, write: CaseworkerWriter) -> Recorded:
    """A dibao household leaves over N months, paid the amount of the month before."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.start_gradual_exit(
            ledger, case_id, body, actor=actor, uow=uow
        ),
    )


@router.post("/{case_id}/exits", status_code=status.HTTP_201_CREATED)
def exit_case(case_id: UUID, body: DatedDecision, write: CaseworkerWriter) -> Recorded:
    """Close the case from a month (the last paid month is the one before); may be backdated."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.exit_case(ledger, case_id, body, actor=actor, uow=uow),
    )


@router.post("/{case_id}/rescission-requests", status_code=status.HTTP_201_CREATED)
def request_rescission(case_id: UUID, body: Reasoned, write: CaseworkerWriter) -> Recorded:
    """Ask for the case to be rescinded (void from the start); a second person approves."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.request_rescission(
            ledger, case_id, body, actor=actor, uow=uow
        ),
    )


@router.post("/{case_id}/rescission-approvals", status_code=status.HTTP_201_CREATED)
def approve_rescission(case_id: UUID, body: Reasoned, write: ApproverWriter) -> Recorded:
    """Approve a requested rescission; not by the person who requested it."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.approve_rescission(
            ledger, case_id, body, actor=actor, uow=uow
        ),
    )


@router.post("/{case_id}/rescission-refusals", status_code=status.HTTP_201_CREATED)
def refuse_rescission(case_id: UUID, body: Reasoned, write: ApproverWriter) -> Recorded:
    """Refuse a requested rescission, with the reason; not by the person who requested it.
    The case goes on, and its rescission may be requested again."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.refuse_rescission(
            ledger, case_id, body, actor=actor, uow=uow
        ),
    )
