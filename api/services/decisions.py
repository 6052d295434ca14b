"""Each kind of decision: the data it takes, and the Ledger command it makes.

The HTTP service and the import both record decisions through these functions, so a
request body and a line of a decisions file mean the same command. The ids a decision is
about (a case, a relief, a programme's schedule) come beside the data: from the URL, or
derived from the file's own keys. The caller chooses the unit of work: saved now, under an
idempotency key, or within an import batch.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from api.services.fields import (
    Area,
    Body,
    Care,
    CaseChanges,
    CaseProgramme,
    IdentityNumberText,
    MoneyText,
    MonthText,
    ParameterName,
    PersonIn,
    Reason,
    RegionCode,
    ReliefKind,
    ReviewOutcome,
    Tier,
)
from domain.application.ledger import Ledger
from domain.application.recording import Receipt, UnitOfWork
from domain.cases.payee import PayeeInput
from domain.people.person import PersonInput


class StandardIn(Body):
    effective: MonthText
    parameters: dict[ParameterName, MoneyText] = Field(
        max_length=10, examples=[{"standard": "650.00"}]
    )
    reason: Reason


class PayeeIn(Body):
    account: Annotated[
        str,
        StringConstraints(min_length=1, max_length=40, strip_whitespace=True),
        Field(
            description="Bank card number: 16 to 19 digits (spaces between groups are "
            "ignored); a UnionPay card (beginning 62) must end in its Luhn check digit",
            examples=["6222020200112345679"],
        ),
    ]
    recipient: IdentityNumberText | None = Field(
        default=None,
        description="The identity number of the household member paid (default: the case's "
        "first person)",
    )


class PayeeChange(PayeeIn):
    reason: Reason


class CaseGrant(Body):
    programme: CaseProgramme
    region: RegionCode
    effective: MonthText
    persons: list[PersonIn] = Field(
        min_length=1,
        max_length=30,
        description="Every household member for dibao; one person otherwise",
    )
    income: MoneyText | None = Field(default=None, description="dibao: per-capita monthly income")
    area: Area | None = Field(default=None, description="tekun: urban or rural")
    tier: Tier | None = Field(default=None, description="tekun: care tier")
    grade: int | None = Field(default=None, ge=1, le=4, description="disability certificate grade")
    care: Care | None = Field(default=None, description="orphan")
    payee: PayeeIn | None = Field(
        default=None,
        description="Who is paid and into which card; a case granted without one has its "
        "lines left out of the bank's payment file until one is recorded",
    )
    verification_id: UUID | None = Field(
        default=None,
        description="dibao and tekun: the household's verification (docs/verification.md)",
    )
    income_reason: Reason | None = Field(
        default=None,
        description="dibao: why the declared income, beyond the margin around the verified "
        "one, is recorded",
    )
    reason: Reason


class Reassessment(Body):
    effective: MonthText
    changes: CaseChanges
    verification_id: UUID | None = Field(
        default=None,
        description="dibao, when the income or the members change: the household's "
        "verification as it is from the effective month",
    )
    income_reason: Reason | None = Field(
        default=None, description="as a grant's: why a declared income beyond the margin"
    )
    reason: Reason


class DatedDecision(Body):
    effective: MonthText
    reason: Reason


class GradualExit(Body):
    effective: MonthText
    months: int = Field(ge=1, le=12)
    reason: Reason


class Reasoned(Body):
    reason: Reason


class ReliefIn(Body):
    region: RegionCode
    area: Area
    kind: ReliefKind
    relief_date: date
    household_size: int = Field(ge=1, le=30)
    amount: MoneyText
    person: PersonIn
    reason: Reason


class ReliefReview(Body):
    outcome: ReviewOutcome
    reason: Reason


def person_input(person: PersonIn) -> PersonInput:
    return PersonInput(person.identity_number, person.name, person.birth_date)


# Standards.


def set_standard(
    ledger: Ledger,
    programme: str,
    region: str,
    data: StandardIn,
    *,
    correction: bool,
    actor: str,
    uow: UnitOfWork,
) -> Receipt:
    return ledger.set_standard(
        programme,
        region,
        data.effective,
        data.parameters,
        actor=actor,
        reason=data.reason,
        correction=correction,
        uow=uow,
    )


# Cases.


def grant(
    ledger: Ledger,
    data: CaseGrant,
    *,
    actor: str,
    uow: UnitOfWork,
    case_id: UUID | None = None,
) -> Receipt:
    return ledger.grant(
        data.programme,
        data.region,
        data.effective,
        [person_input(p) for p in data.persons],
        actor=actor,
        reason=data.reason,
        income=data.income,
        area=data.area,
        tier=data.tier,
        grade=data.grade,
        care=data.care,
        payee=payee_input(data.payee) if data.payee is not None else None,
        verification_id=data.verification_id,
        income_reason=data.income_reason,
        case_id=case_id,
        uow=uow,
    )


def payee_input(data: PayeeIn) -> PayeeInput:
    return PayeeInput(data.account, data.recipient)


def change_payee(
    ledger: Ledger, case_id: UUID, data: PayeeChange, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.change_payee(case_id, payee_input(data), actor=actor, reason=data.reason, uow=uow)


def reassess(
    ledger: Ledger, case_id: UUID, data: Reassessment, *, actor: str, uow: UnitOfWork
) -> Receipt:
    members = {"members_joining", "members_leaving"}
    changes = data.changes.model_dump(exclude_none=True, exclude=members)
    return ledger.reassess(
        case_id,
        data.effective,
        changes,
        actor=actor,
        reason=data.reason,
        joining=[person_input(p) for p in data.changes.members_joining or ()],
        leaving=list(data.changes.members_leaving or ()),
        verification_id=data.verification_id,
        income_reason=data.income_reason,
        uow=uow,
    )


def suspend(
    ledger: Ledger, case_id: UUID, data: DatedDecision, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.suspend(case_id, data.effective, actor=actor, reason=data.reason, uow=uow)


def resume(
    ledger: Ledger, case_id: UUID, data: DatedDecision, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.resume(case_id, data.effective, actor=actor, reason=data.reason, uow=uow)


def exit_case(
    ledger: Ledger, case_id: UUID, data: DatedDecision, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.exit(case_id, data.effective, actor=actor, reason=data.reason, uow=uow)


def start_gradual_exit(
    ledger: Ledger, case_id: UUID, data: GradualExit, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.start_gradual_exit(
        case_id, data.effective, data.months, actor=actor, reason=data.reason, uow=uow
    )


def request_rescission(
    ledger: Ledger, case_id: UUID, data: Reasoned, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.request_rescission(case_id, actor=actor, reason=data.reason, uow=uow)


def approve_rescission(
    ledger: Ledger, case_id: UUID, data: Reasoned, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.approve_rescission(case_id, actor=actor, reason=data.reason, uow=uow)


def refuse_rescission(
    ledger: Ledger, case_id: UUID, data: Reasoned, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.refuse_rescission(case_id, actor=actor, reason=data.reason, uow=uow)


# Temporary relief.


def grant_relief(
    ledger: Ledger,
    data: ReliefIn,
    *,
    actor: str,
    uow: UnitOfWork,
    relief_id: UUID | None = None,
) -> Receipt:
    return ledger.grant_relief(
        data.region,
        data.area,
        data.kind,
        data.relief_date,
        data.household_size,
        data.amount,
        person_input(data.person),
        actor=actor,
        reason=data.reason,
        relief_id=relief_id,
        uow=uow,
    )


def approve_relief(
    ledger: Ledger, relief_id: UUID, data: Reasoned, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.approve_relief(relief_id, actor=actor, reason=data.reason, uow=uow)


def refuse_relief(
    ledger: Ledger, relief_id: UUID, data: Reasoned, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.refuse_relief(relief_id, actor=actor, reason=data.reason, uow=uow)


def review_relief(
    ledger: Ledger, relief_id: UUID, data: ReliefReview, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.review_relief(relief_id, data.outcome, actor=actor, reason=data.reason, uow=uow)
