from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, status

from api.http.deps import KnowledgeDep, RuntimeDep, Staff
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import (
    CaseGrant,
    CasePublic,
    DatedDecision,
    DecisionPublic,
    GradualExit,
    PersonPublic,
    Reasoned,
    Reassessment,
    Recorded,
)
from api.http.writes import ApproverDecision, CaseworkerDecision
from domain.people.person import PersonInput

router = APIRouter(prefix="/cases", tags=["cases"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
def grant(body: CaseGrant, decide: CaseworkerDecision) -> Recorded:
    """Grant a programme to a person, or dibao to a household (list every member)."""
    persons = [PersonInput(p.identity_number, p.name, p.birth_date) for p in body.persons]
    return decide(
        body,
        lambda ledger, actor: ledger.grant(
            body.programme,
            body.region,
            body.effective,
            persons,
            actor=actor,
            reason=body.reason,
            income=body.income,
            area=body.area,
            tier=body.tier,
            grade=body.grade,
            care=body.care,
        ),
    )


@router.get("/{case_id}")
def read_case(
    case_id: UUID, runtime: RuntimeDep, user: Staff, knowledge: KnowledgeDep
) -> CasePublic:
    """A case with its history, and its status and amount in ``as_of``, all as known at the
    position asked for (default: now)."""
    ledger, read = runtime.ledger, runtime.read_side
    version = read.version_at(case_id.hex, knowledge.position)
    if version is None:
        raise HTTPException(404, f"no case {case_id} was known at position {knowledge.position}")
    case = ledger.case(case_id, version)
    entry = read.subject_month(case_id.hex, knowledge.as_of, knowledge.position)
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
        rescinded=case.rescinded,
        rescission_requested_by=case.rescission_requested_by,
        as_of=str(knowledge.as_of),
        position=knowledge.position,
        status=entry.status if entry else case.month(knowledge.as_of).status.value,
        amount=entry.amount if entry else Decimal("0.00"),
        history=[_decision(event) for event in ledger.events.get(case_id, lte=version)],
    )


def _decision(event: Any) -> DecisionPublic:
    effective = getattr(event, "effective", None)
    facts = {**getattr(event, "facts", {}), **getattr(event, "changes", {})}
    details: dict[str, str | list[str]] = {
        name: [str(item) for item in value] if isinstance(value, list | tuple) else str(value)
        for name, value in facts.items()
    }
    if hasattr(event, "months"):
        details["months"] = str(event.months)
    return DecisionPublic(
        kind=type(event).__name__,
        effective=str(effective) if effective is not None else None,
        actor=event.actor,
        reason=event.reason,
        recorded_at=event.timestamp,
        details=details,
    )


@router.post("/{case_id}/reassessments", status_code=status.HTTP_201_CREATED)
def reassess(case_id: UUID, body: Reassessment, decide: CaseworkerDecision) -> Recorded:
    """New facts from a month (income, area, care tier, grade or orphan care)."""
    changes = body.changes.model_dump(exclude_none=True)
    return decide(
        body,
        lambda ledger, actor: ledger.reassess(
            case_id, body.effective, changes, actor=actor, reason=body.reason
        ),
    )


@router.post("/{case_id}/suspensions", status_code=status.HTTP_201_CREATED)
def suspend(case_id: UUID, body: DatedDecision, decide: CaseworkerDecision) -> Recorded:
    """Stop payment from a month; suspended months are not paid later."""
    return decide(
        body,
        lambda ledger, actor: ledger.suspend(
            case_id, body.effective, actor=actor, reason=body.reason
        ),
    )


@router.post("/{case_id}/resumptions", status_code=status.HTTP_201_CREATED)
def resume(case_id: UUID, body: DatedDecision, decide: CaseworkerDecision) -> Recorded:
    """Pay a suspended case again from a month."""
    return decide(
        body,
        lambda ledger, actor: ledger.resume(
            case_id, body.effective, actor=actor, reason=body.reason
        ),
    )


@router.post("/{case_id}/gradual-exits", status_code=status.HTTP_201_CREATED)
def start_gradual_exit(case_id: UUID, body: GradualExit, decide: CaseworkerDecision) -> Recorded:
    """A dibao household leaves over N months, paid the amount of the month before."""
    return decide(
        body,
        lambda ledger, actor: ledger.start_gradual_exit(
            case_id, body.effective, body.months, actor=actor, reason=body.reason
        ),
    )


@router.post("/{case_id}/exits", status_code=status.HTTP_201_CREATED)
def exit_case(case_id: UUID, body: DatedDecision, decide: CaseworkerDecision) -> Recorded:
    """Close the case from a month (the last paid month is the one before); may be backdated."""
    return decide(
        body,
        lambda ledger, actor: ledger.exit(case_id, body.effective, actor=actor, reason=body.reason),
    )


@router.post("/{case_id}/rescission-requests", status_code=status.HTTP_201_CREATED)
def request_rescission(case_id: UUID, body: Reasoned, decide: CaseworkerDecision) -> Recorded:
    """Ask for the case to be rescinded (void from the start); a second person approves."""
    return decide(
        body,
        lambda ledger, actor: ledger.request_rescission(case_id, actor=actor, reason=body.reason),
    )


@router.post("/{case_id}/rescission-approvals", status_code=status.HTTP_201_CREATED)
def approve_rescission(case_id: UUID, body: Reasoned, decide: ApproverDecision) -> Recorded:
    """Approve a requested rescission; not by the person who requested it."""
    return decide(
        body,
        lambda ledger, actor: ledger.approve_rescission(case_id, actor=actor, reason=body.reason),
    )
