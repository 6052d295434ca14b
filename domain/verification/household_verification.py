"""A household economic verification: requested of the platform, answered once.

A verification is requested for a household (its members, and its case when it has one)
and answered by the platform with what it found: the sources checked, each member's
verified monthly income, the date the check was made, the platform's level and its report
id. A verification recorded directly (a platform that answered out of band) is requested
and answered in one save. The answer never changes: a new check is a new verification.
Identity numbers and every figure are personal data, sealed in the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import CaseStateError, InvalidInputError, VerificationRequiredError
from domain.people.personal_data import PersonalData
from domain.verification.rules import PlatformLevel, Source, household_total, per_capita


@dataclass(frozen=True)
class VerifiedIncome:
    """One member's verified monthly income, the member named by reference."""

    reference: str
    income: Decimal


@dataclass(frozen=True)
class Review:
    """What a verification of a case means for its reviews: when the next is due, and
    whether the income verified is at or above the standard (a candidate for exit)."""

    case_id: UUID
    months: int
    at_or_above_standard: bool

    def to_event(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id.hex,
            "months": self.months,
            "at_or_above_standard": self.at_or_above_standard,
        }


class HouseholdVerification(Aggregate):
    class Event(Aggregate.Event):
        actor: str

    class Requested(Event, Aggregate.Created):
        members: list[dict[str, Any]]  # reference, and the sealed identity number
        case_id: str | None  # the household's case, when it has one

    class Verified(Event):
        sources: list[str]
        incomes: list[dict[str, Any]]  # reference, and the sealed income
        total: PersonalData
        per_capita: PersonalData
        made_on: date
        level: str
        report_id: str
        review: dict[str, Any] | None  # a verification of a case: ``Review.to_event()``

        def apply(self, verification: HouseholdVerification) -> None:
            verification.answer = self

    def __init__(self, members: list[dict[str, Any]], case_id: str | None, actor: str) -> None:
        self.members = list(members)
        self.case_id = UUID(case_id) if case_id is not None else None
        self.requested_by = actor
        self.answer: HouseholdVerification.Verified | None = None

    def __str__(self) -> str:
        return f"verification {self.id}"

    @classmethod
    def request(
        cls,
        *,
        members: list[dict[str, Any]],
        case_id: UUID | None,
        actor: str,
        at: datetime,
        verification_id: UUID | None = None,
    ) -> HouseholdVerification:
        if not members:
            raise InvalidInputError("a verification covers at least one member", field="members")
        return cls._create(
            cls.Requested,
            id=verification_id,
            members=members,
            case_id=case_id.hex if case_id is not None else None,
            actor=actor,
            timestamp=at,
        )

    def record_answer(
        self,
        *,
        sources: Sequence[str],
        incomes: Sequence[VerifiedIncome],
        made_on: date,
        level: str,
        report_id: str,
        review: Review | None,
        actor: str,
        at: datetime,
        recorded_on: date,
    ) -> None:
        """Record what the platform found. ``incomes`` names every member requested, once."""
        if self.answer is not None:
            raise CaseStateError(
                f"{self} was already answered by {self.answer.level} report "
                f"{self.answer.report_id}; a new check is a new verification"
            )
        checked_sources = _sources(sources)
        if level not in set(PlatformLevel):
            raise InvalidInputError(
                "the platform level is ministry, province or city", field="level"
            )
        if not report_id.strip():
            raise InvalidInputError("the platform's report id is missing", field="report_id")
        if made_on > recorded_on:
            raise InvalidInputError(
                f"a verification made on {made_on} cannot be recorded on {recorded_on}, "
                "before it was made",
                field="made_on",
            )
        given = [item.reference for item in incomes]
        if sorted(given) != sorted(self.member_refs) or len(set(given)) != len(given):
            raise InvalidInputError(
                "the verified incomes name each member of the household once, and no one else",
                field="members",
            )
        figures = [item.income for item in incomes]
        self.trigger_event(
            self.Verified,
            sources=checked_sources,
            incomes=[
                {"reference": item.reference, "income": PersonalData(str(item.income))}
                for item in incomes
            ],
            total=PersonalData(str(household_total(figures))),
            per_capita=PersonalData(str(per_capita(figures))),
            made_on=made_on,
            level=level,
            report_id=report_id.strip(),
            review=review.to_event() if review is not None else None,
            actor=actor,
            timestamp=at,
        )

    @property
    def member_refs(self) -> tuple[str, ...]:
        return tuple(member["reference"] for member in self.members)

    def answered(self) -> Verified:
        """The answer, or a refusal to rely on a verification the platform has not answered."""
        if self.answer is None:
            raise VerificationRequiredError(
                f"{self} was requested and the platform has not answered yet; cite it once "
                "it is answered",
                field="verification_id",
            )
        return self.answer

    @property
    def per_capita_income(self) -> Decimal:
        return Decimal(self.answered().per_capita.reveal())


def _sources(sources: Sequence[str]) -> list[str]:
    known = {source.value for source in Source}
    unknown = [source for source in sources if source not in known]
    if not sources or unknown:
        raise InvalidInputError(
            "the sources checked are one or more of " + ", ".join(sorted(known)),
            field="sources",
        )
    if len(set(sources)) != len(sources):
        raise InvalidInputError("each source is named once", field="sources")
    return list(sources)
