"""Request and response bodies, named by role: ``CaseGrant`` in, ``CasePublic`` out.

Money travels as a decimal string with at most two places ("1200.00"), never a float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.services.inputs import (
    Area,
    Body,
    CaseChanges,
    CaseProgramme,
    MoneyText,
    MonthText,
    PersonIn,
    RegionCode,
)
from domain.cases.programmes import Programme

TEXT_PATTERN = (
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # no control characters but tab and line breaks
)
Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True, pattern=TEXT_PATTERN),
]
AnyProgramme = Annotated[Programme, Field(examples=["dibao-urban"])]


class StandardIn(Body):
    effective: MonthText
    parameters: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")], MoneyText] = (
        Field(max_length=10, examples=[{"standard": "650.00"}])
    )
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
    tier: Literal["self", "partial", "full"] | None = Field(
        default=None, description="tekun: care tier"
    )
    grade: int | None = Field(default=None, ge=1, le=4, description="disability certificate grade")
    care: Literal["institutional", "dispersed"] | None = Field(default=None, description="orphan")
    reason: Reason


class Reassessment(Body):
    effective: MonthText
    changes: CaseChanges
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
    kind: Literal["emergency", "expenditure"]
    relief_date: date
    household_size: int = Field(ge=1, le=30)
    amount: MoneyText
    person: PersonIn
    reason: Reason


class ReliefReview(Body):
    outcome: Literal["confirmed", "rescinded"]
    reason: Reason


class IdentityQuery(Body):
    identity_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$")]


class Recorded(BaseModel):
    """A recorded decision: what it changed, and its ledger position."""

    id: UUID
    position: int


class PersonPublic(BaseModel):
    reference: str
    name: str


class DecisionPublic(BaseModel):
    kind: str
    effective: str | None
    actor: str
    reason: str
    recorded_at: datetime
    details: dict[str, str]


class CasePublic(BaseModel):
    id: UUID
    programme: Programme
    region: str
    persons: list[PersonPublic]
    granted_from: str
    closed_from: str | None
    rescinded: bool
    rescission_requested_by: str | None
    as_of: str
    position: int
    status: str
    amount: Decimal
    history: list[DecisionPublic]


class ReliefPublic(BaseModel):
    id: UUID
    region: str
    area: str
    kind: str
    relief_date: date
    household_size: int
    amount: Decimal
    cap: Decimal
    granted: bool
    review: str | None
    review_due: date | None
    to_recover: Decimal


class RollEntryPublic(BaseModel):
    case_id: str
    amount: Decimal
    status: str


class RollPublic(BaseModel):
    programme: Programme
    region: str
    as_of: str
    position: int
    total: int
    entitled: Decimal
    offset: int
    limit: int
    entries: list[RollEntryPublic]


class EntitlementPublic(BaseModel):
    subject_id: str
    programme: str
    region: str
    amount: Decimal
    status: str


class EntitlementsPublic(BaseModel):
    as_of: str
    position: int
    entitlements: list[EntitlementPublic]


class TotalPublic(BaseModel):
    programme: str
    region: str
    cases: int
    entitled: Decimal
    paid: Decimal | None = None
    settled: Decimal | None = None
    outstanding: Decimal | None = None


class TotalsPublic(BaseModel):
    as_of: str
    position: int
    totals: list[TotalPublic]


class PayrollLinePublic(BaseModel):
    case_id: str
    person_reference: str
    amount: Decimal
    arrears: Decimal
    recoveries: Decimal
    total_to_pay: Decimal


class PeriodPublic(BaseModel):
    programme: str
    region: str
    month: str
    position: int
    line_count: int
    month_total: Decimal
    arrears: Decimal
    recoveries: Decimal
    digest: str
    digest_matches: bool
    lines: list[PayrollLinePublic]


class ReconciliationRow(BaseModel):
    programme: str
    year: int
    entitled: Decimal
    paid: Decimal
    arrears: Decimal
    recoveries: Decimal
    outstanding: Decimal


class ReconciliationPublic(BaseModel):
    position: int
    rows: list[ReconciliationRow]


class OverdueReviewPublic(BaseModel):
    relief_id: str
    region: str
    relief_date: date
    due: date


class OverdueReviewsPublic(BaseModel):
    today: date
    reliefs: list[OverdueReviewPublic]


class VerificationPublic(BaseModel):
    ok: bool
    head: str
    explanation: str
    first_difference: int | None
    periods: int
    periods_with_other_digest: list[str]
    months_not_balancing: list[str]


class HealthPublic(BaseModel):
    status: str
    ledger_position: int | None = None
    views_position: int | None = None
