"""Temporary relief: a dated one-off payment, capped, with four eyes above the cap.

The cap is computed once, when the relief is asked for, from the standards known then, and
stored in the event. Emergency relief is paid first and reviewed within 30 days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.actors import same_person
from domain.errors import CaseStateError, FourEyesError, InvalidInputError

REVIEW_DAYS = 30


class ReliefKind(StrEnum):
    EMERGENCY = "emergency"
    EXPENDITURE = "expenditure"


class ReviewOutcome(StrEnum):
    CONFIRMED = "confirmed"
    RESCINDED = "rescinded"


class ReliefStatus(StrEnum):
    """Where a relief stands: above the cap it awaits a second person's approval."""

    AWAITING_APPROVAL = "awaiting_approval"
    GRANTED = "granted"
    REFUSED = "refused"  # by a second person: nothing is paid, ever


class Relief(Aggregate):
    class Event(Aggregate.Event):
        actor: str

    class Asked(Event, Aggregate.Created):
        """Fields shared by a relief granted at once and one requested above the cap."""

        region: str
        area: str
        kind: str
        relief_date: date
        household_size: int
        amount: Decimal
        cap: Decimal
        persons: list[dict[str, Any]]
        reason: str

    class ReliefGranted(Asked):
        def apply(self, relief: Relief) -> None:
            relief.granted = True

    class ReliefRequested(Asked):
        """Above the cap: nothing is paid until a second person approves."""

    class ReliefApproved(Event):
        reason: str

        def apply(self, relief: Relief) -> None:
            relief.granted = True
            relief.approved_by = self.actor
            relief.approved_at = self.timestamp

    class ReliefRefused(Event):
        """The second person's refusal: the relief is never paid."""

        reason: str

        def apply(self, relief: Relief) -> None:
            relief.refused_by = self.actor
            relief.refused_at = self.timestamp

    class ReliefReviewed(Event):
        outcome: str
        reason: str

        def apply(self, relief: Relief) -> None:
            relief.review = ReviewOutcome(self.outcome)

    def __init__(
        self,
        region: str,
        area: str,
        kind: str,
        relief_date: date,
        household_size: int,
        amount: Decimal,
        cap: Decimal,
        persons: list[dict[str, Any]],
        actor: str,
        reason: str,
    ) -> None:
        self.region = region
        self.area = area
        self.kind = ReliefKind(kind)
        self.relief_date = relief_date
        self.household_size = household_size
        self.amount = amount
        self.cap = cap
        self.persons = persons
        self.granted = False
        self.requested_by = actor  # who asked for it, whether granted at once or not
        self.approved_by: str | None = None
        self.approved_at: datetime | None = None
        self.refused_by: str | None = None
        self.refused_at: datetime | None = None
        self.review: ReviewOutcome | None = None

    def __str__(self) -> str:
        return f"relief {self.id}"

    @classmethod
    def ask(
        cls,
        *,
        region: str,
        area: str,
        kind: ReliefKind,
        relief_date: date,
        household_size: int,
        amount: Decimal,
        cap: Decimal,
        persons: list[dict[str, Any]],
        actor: str,
        reason: str,
        at: datetime,
        relief_id: UUID | None = None,
    ) -> Relief:
        """Granted at once up to the cap; above it, requested and waiting for approval."""
        if amount <= 0:
            raise InvalidInputError("a relief amount is more than zero", field="amount")
        event_class = cls.ReliefGranted if amount <= cap else cls.ReliefRequested
        return cls._create(
            event_class,
            id=relief_id,
            region=region,
            area=area,
            kind=kind.value,
            relief_date=relief_date,
            household_size=household_size,
            amount=amount,
            cap=cap,
            persons=persons,
            actor=actor,
            reason=reason,
            timestamp=at,
        )

    def approve(self, actor: str, reason: str, at: datetime) -> None:
        self._check_decidable(actor, "approved")
        self.trigger_event(self.ReliefApproved, actor=actor, reason=reason, timestamp=at)

    def refuse(self, actor: str, reason: str, at: datetime) -> None:
        self._check_decidable(actor, "refused")
        self.trigger_event(self.ReliefRefused, actor=actor, reason=reason, timestamp=at)

    def _check_decidable(self, actor: str, decision: str) -> None:
        """A relief above the cap is approved or refused once, by a second person."""
        if self.granted:
            raise CaseStateError("this relief is granted already")
        if self.refused_by is not None:
            raise CaseStateError(f"this relief was refused already, by {self.refused_by}")
        if same_person(actor, self.requested_by):
            raise FourEyesError(
                f"{self.requested_by} requested this relief; relief above the cap {self.cap} is "
                f"{decision} by someone other than its requester (names are compared ignoring "
                "case, width and spaces)"
            )

    def record_review(self, outcome: ReviewOutcome, actor: str, reason: str, at: datetime) -> None:
        if self.kind is not ReliefKind.EMERGENCY:
            raise CaseStateError(
                f"this is {self.kind} relief; only emergency relief is reviewed after payment"
            )
        if not self.granted:
            raise CaseStateError("this relief has not been granted, so there is nothing to review")
        if self.review is not None:
            raise CaseStateError(f"this relief was already reviewed: {self.review}")
        self.trigger_event(
            self.ReliefReviewed, outcome=outcome.value, actor=actor, reason=reason, timestamp=at
        )

    @property
    def status(self) -> ReliefStatus:
        if self.granted:
            return ReliefStatus.GRANTED
        return ReliefStatus.REFUSED if self.refused_by else ReliefStatus.AWAITING_APPROVAL

    @property
    def review_due(self) -> date:
        return self.relief_date + timedelta(days=REVIEW_DAYS)

    def is_review_overdue(self, today: date) -> bool:
        return (
            self.kind is ReliefKind.EMERGENCY
            and self.granted
            and self.review is None
            and today > self.review_due
        )

    @property
    def to_recover(self) -> Decimal:
        """A rescinded emergency relief becomes an amount to recover."""
        return self.amount if self.review is ReviewOutcome.RESCINDED else Decimal("0.00")
