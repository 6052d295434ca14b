"""Response bodies, named by role (``CasePublic``), and the bodies of queries.

The bodies of decisions (``CaseGrant`` and the rest) are the decisions' own data, in
``api.services.decisions``, shared with the import; their field types are in
``api.services.fields``. Money travels as a decimal string with at most two places
("1200.00"), never a float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.services.fields import Body, IdentityNumberText
from domain.cases.programmes import Programme


class IdentityQuery(Body):
    identity_number: IdentityNumberText


class Recorded(BaseModel):
    """A recorded decision: what it changed, and its ledger position."""

    id: UUID
    position: int


class ReliefRecorded(Recorded):
    """A relief asked for: granted at once up to its cap, else awaiting a second person's
    approval (``Location`` names the relief)."""

    state: Literal["granted", "awaiting_approval"]


class PersonPublic(BaseModel):
    reference: str
    name: str


class DecisionPublic(BaseModel):
    kind: str
    effective: str | None
    actor: str
    reason: str
    recorded_at: datetime
    details: dict[str, str | list[str]]  # household members are a list of person references


class CasePublic(BaseModel):
    id: UUID
    programme: Programme
    region: str
    persons: list[PersonPublic]
    granted_from: str
    closed_from: str | None
    members: list[str] = Field(
        description="dibao: the references of the household's members in as_of"
    )
    rescinded: bool
    rescission_requested_by: str | None
    rescission_approved_by: str | None
    as_of: str
    position: int
    status: str
    amount: Decimal
    history: list[DecisionPublic]


class CaseMonthPublic(BaseModel):
    """A month of a case's account. Until its programme and region close the month only
    ``entitled`` is known; ``paid``, ``arrears``, ``recoveries``, ``settled`` and
    ``outstanding`` are null."""

    month: str = Field(examples=["2020-07"])
    status: str | None = Field(
        description="The case's status in the month (paying, suspended, leaving); null when "
        "it is not open in it (after an exit or a rescission)"
    )
    entitled: Decimal = Field(description="What the case is entitled to for the month")
    closed: bool = Field(description="Whether the month's payroll period is closed")
    paid: Decimal | None = Field(description="The month's own amount on its period's line")
    arrears: Decimal | None = Field(description="Paid for the month by later periods")
    recoveries: Decimal | None = Field(
        description="Listed to recover for the month by later periods (never netted)"
    )
    settled: Decimal | None = Field(description="arrears - recoveries")
    outstanding: Decimal | None = Field(
        description="entitled - paid - settled: what the next close settles"
    )


class CaseAccountPublic(BaseModel):
    """A case's account month by month up to ``as_of``, as known at ``position``. The
    accounts of a programme's and region's cases add up to its totals (GET /totals)."""

    case_id: UUID
    programme: Programme
    region: str
    as_of: str
    position: int
    entitled: Decimal = Field(description="Summed over the months listed")
    paid: Decimal = Field(description="Summed over the closed months listed")
    arrears: Decimal
    recoveries: Decimal
    outstanding: Decimal
    months: list[CaseMonthPublic]


class StandardEntryPublic(BaseModel):
    effective: str = Field(description="The month the parameters take effect from")
    parameters: dict[str, Decimal] = Field(examples=[{"standard": "650.00"}])
    position: int = Field(description="The ledger position that recorded these parameters")


class StandardChangePublic(BaseModel):
    kind: Literal["set", "corrected"]
    effective: str
    parameters: dict[str, Decimal]
    actor: str
    reason: str
    recorded_at: datetime = Field(description="The ledger's record time of the change")
    position: int


class StandardsPublic(BaseModel):
    """A standards schedule as known at ``position``: the parameters in force in ``as_of``
    (null before its first entry), every entry by effective month, and every set and
    correction in the order recorded. A tekun amount uses the higher of its basic standard
    and 1.3 times the dibao standard of the same region and area."""

    programme: Programme
    region: str
    region_name: str
    as_of: str
    position: int
    in_force: StandardEntryPublic | None
    entries: list[StandardEntryPublic]
    history: list[StandardChangePublic]


class ReliefPublic(BaseModel):
    id: UUID
    region: str
    area: str
    kind: str
    relief_date: date
    household_size: int
    amount: Decimal
    cap: Decimal
    state: str
    granted: bool
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    refused_by: str | None
    refused_at: datetime | None
    review: str | None
    review_due: date | None
    to_recover: Decimal


class PageLinks(BaseModel):
    """Relative URLs of the first, previous and next pages (None past either end), as known
    at the position of the page they are on."""

    first: str
    prev: str | None
    next: str | None


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
    links: PageLinks
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
    held: Decimal = Field(
        default=Decimal("0.00"),
        description="A line held after a bank's return: what it would have paid (the month's "
        "amount plus arrears), still outstanding; it pays, settles and lists nothing",
    )


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
    offset: int
    limit: int
    links: PageLinks
    lines: list[PayrollLinePublic]


class ReconciliationRow(BaseModel):
    programme: str
    year: int
    entitled: Decimal
    paid: Decimal
    arrears: Decimal
    recoveries: Decimal
    outstanding: Decimal
    returned: Decimal = Field(description="What the bank's returns undid")
    held: Decimal = Field(description="What lines held after a return would have paid")
    reissued: Decimal = Field(description="Arrears paid after a return of the case")


class ReconciliationPublic(BaseModel):
    position: int
    rows: list[ReconciliationRow]


class MonthReconciliationRow(BaseModel):
    """A closed month of a programme in a region: ``entitled = paid + settled +
    outstanding``, and beside it what the bank's returns undid, what held lines would have
    paid and what was reissued after a return, under the month they were for."""

    programme: str
    region: str
    month: str
    entitled: Decimal
    paid: Decimal
    arrears: Decimal
    recoveries: Decimal
    settled: Decimal
    outstanding: Decimal
    returned: Decimal
    held: Decimal
    reissued: Decimal


class MonthReconciliationPublic(BaseModel):
    position: int
    months: list[MonthReconciliationRow]


class OverdueReviewPublic(BaseModel):
    relief_id: str
    region: str
    relief_date: date
    due: date


class OverdueReviewsPublic(BaseModel):
    today: date
    position: int
    total: int
    offset: int
    limit: int
    links: PageLinks
    reliefs: list[OverdueReviewPublic]


class PendingApprovalPublic(BaseModel):
    what: str = Field(description="relief (above its cap) or rescission (of a case)")
    subject_id: UUID = Field(description="The relief or the case")
    approve: str = Field(description="Where an approver posts the approval")
    refuse: str = Field(description="Where an approver posts the refusal")
    programme: str
    region: str
    requested_by: str
    requested_at: datetime
    requested_position: int
    reason: str
    amount: Decimal | None = Field(description="A relief's amount; null for a rescission")
    cap: Decimal | None = Field(description="A relief's cap; null for a rescission")


class ApprovalsPublic(BaseModel):
    position: int
    pending: list[PendingApprovalPublic]


class VerificationPublic(BaseModel):
    ok: bool
    head: str
    explanation: str
    first_difference: int | None
    periods: int
    periods_with_other_digest: list[str]
    months_not_balancing: list[str]


class ProblemTypePublic(BaseModel):
    """A kind of problem: ``type`` is the URI a problem of this kind names."""

    type: str
    title: str
    status: int
    description: str


class ReplicaPublic(BaseModel):
    """A hot standby queries may be read from: whether it answers, the position its views
    have reached, and how far it is behind the primary (ledger positions, WAL bytes)."""

    name: str
    state: Literal["up", "down"]
    views_position: int | None
    lag_positions: int | None
    lag_bytes: int | None


class HealthPublic(BaseModel):
    status: str
    ledger_position: int | None = None
    views_position: int | None = None
    replicas: list[ReplicaPublic] | None = None


class VerificationJobPublic(BaseModel):
    """A verification running in the background: how far it has come and, once finished,
    what it found."""

    id: UUID
    state: Literal["running", "finished", "failed"]
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    target_position: int
    reached_position: int
    percent: int
    result: VerificationPublic | None
    failure: str | None
