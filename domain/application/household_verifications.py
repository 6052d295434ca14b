"""The household verification commands of the ledger, and the check of the verification a
dibao or tekun decision cites (docs/verification.md).

A verification is requested (the platform's outbox sends it) and answered once, or recorded
directly, requested and answered in one save. A dibao or tekun grant, and a dibao
reassessment of the income or the members, cites one; ``_citation`` checks it and says what
the decision records. Settings from the environment: LEDGER_VERIFICATION_VALIDITY_DAYS
(default 90), LEDGER_VERIFICATION_MARGIN (default 0.05 of the standard),
LEDGER_REVIEW_MONTHS_DIBAO (6), LEDGER_REVIEW_MONTHS_DIBAO_STABLE (12),
LEDGER_REVIEW_MONTHS_TEKUN (12) and LEDGER_VERIFICATION_REQUIRED_FROM (a date: dibao and
tekun decisions made before it, imported history, need not cite a verification; unset:
every one does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from domain.application.recording import Receipt, RecordingApplication, UnitOfWork
from domain.cases.case import Case
from domain.cases.programmes import AREAS, Programme, dibao_programme_for
from domain.errors import (
    CaseStateError,
    InvalidInputError,
    NotFoundError,
    VerificationHouseholdError,
    VerificationRequiredError,
)
from domain.money import require_money
from domain.months import BUREAU_TIME_ZONE, Month
from domain.people.identity import IdentityNumber, PersonReferences
from domain.people.index import PersonIndex
from domain.people.personal_data import PersonalData
from domain.standards import StandardSchedule
from domain.verification.citation import Citation, VerificationPolicy, cite
from domain.verification.household_verification import (
    HouseholdVerification,
    Review,
    VerifiedIncome,
)
from domain.verification.rules import (
    DEFAULT_MARGIN,
    DEFAULT_VALIDITY_DAYS,
    ReviewSchedule,
    is_stable,
    per_capita,
)

MAX_HOUSEHOLD = 30
VERIFIED_PROGRAMMES = (Programme.DIBAO_URBAN, Programme.DIBAO_RURAL, Programme.TEKUN)


class HouseholdVerifications(RecordingApplication):
    """The ledger's verification commands; the ``Ledger`` is one."""

    references: PersonReferences  # set by the Ledger

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.verification_policy = VerificationPolicy(
            validity_days=int(
                self.env.get("LEDGER_VERIFICATION_VALIDITY_DAYS", str(DEFAULT_VALIDITY_DAYS))
            ),
            margin=Decimal(self.env.get("LEDGER_VERIFICATION_MARGIN", str(DEFAULT_MARGIN))),
        )
        self.review_schedule = ReviewSchedule(
            dibao=int(self.env.get("LEDGER_REVIEW_MONTHS_DIBAO", "6")),
            dibao_stable=int(self.env.get("LEDGER_REVIEW_MONTHS_DIBAO_STABLE", "12")),
            tekun=int(self.env.get("LEDGER_REVIEW_MONTHS_TEKUN", "12")),
        )
        required_from = self.env.get("LEDGER_VERIFICATION_REQUIRED_FROM")
        self.verification_required_from = (
            date.fromisoformat(required_from) if required_from else None
        )

    def _verification_required(self, at: datetime) -> bool:
        required_from = self.verification_required_from
        return required_from is None or at.astimezone(BUREAU_TIME_ZONE).date() >= required_from

    def _citation(
        self,
        programme: Programme,
        region: str,
        verification_id: UUID | None,
        at: datetime,
        *,
        household: Sequence[str],
        birth_dates: Sequence[date],
        case_id: UUID | None,
        effective: str | Month,
        declared: Decimal | None,
        income_reason: str | None,
        uow: UnitOfWork,
        area: str | None = None,
    ) -> Citation | None:
        """The verification a dibao or tekun decision cites, checked; None where the
        decision needs none (another programme, or history from before verifications)."""
        if programme not in VERIFIED_PROGRAMMES:
            if verification_id is not None or income_reason is not None:
                raise InvalidInputError(
                    "only dibao and tekun decisions cite a household verification",
                    field="verification_id",
                )
            return None
        days = self.verification_policy.validity_days
        if verification_id is None:
            if not self._verification_required(at):
                return None
            raise VerificationRequiredError(
                f"a {programme} decision cites a verification of the household made at most "
                f"{days} days before it (verification_id): request one of the platform "
                "(POST /verification-requests) or record its answer (POST /verifications)",
                field="verification_id",
            )
        verification = uow.load(HouseholdVerification, verification_id)
        if verification is None:
            raise VerificationRequiredError(
                f"no verification {verification_id} is recorded", field="verification_id"
            )
        month = self._effective(effective, at)
        standard = self._standard_for(programme, region, month, area, uow)
        disabled = [self._severely_disabled(ref, month, uow) for ref in household]
        stable = is_stable(birth_dates, disabled, month)
        return cite(
            verification,
            household=household,
            case_id=case_id,
            decided_on=at.astimezone(BUREAU_TIME_ZONE).date(),
            policy=self.verification_policy,
            standard=standard,
            declared=declared,
            income_reason=income_reason,
            uses_income=programme.is_dibao,
            review_months=self.review_schedule.months_for(
                tekun=programme is Programme.TEKUN, stable=stable
            ),
        )

    def _standard_for(
        self, programme: Programme, region: str, month: Month, area: str | None, uow: UnitOfWork
    ) -> Decimal | None:
        """The dibao standard a household's verified income is held against: the case's
        own, or for tekun the dibao standard of its area; None when none is in force."""
        if programme is Programme.TEKUN:
            if area not in AREAS:
                return None
            programme = dibao_programme_for(area)
        schedule = uow.load(StandardSchedule, StandardSchedule.id_for(programme, region))
        parameters = schedule.in_force(month) if schedule is not None else None
        return parameters["standard"] if parameters is not None else None

    def _severely_disabled(self, reference: str, month: Month, uow: UnitOfWork) -> bool:
        """Holding the disability nursing subsidy (grades 1 and 2) in ``month``."""
        index = uow.load(PersonIndex, PersonIndex.id_for(reference))
        return index is not None and index.holds(Programme.DISABILITY_NURSING, month)

    def request_verification(
        self,
        identity_numbers: Sequence[str],
        *,
        actor: str,
        case_id: UUID | None = None,
        verification_id: UUID | None = None,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Ask the platform to verify a household: its members' identity numbers, and its
        case when it has one. The request waits in the outbox until the answer is recorded
        (``answer_verification``)."""
        uow = self._unit(uow)
        at = uow.time()
        verification = self._new_verification(
            identity_numbers, case_id, actor, at, verification_id, uow
        )
        return Receipt(verification.id, uow.save(verification))

    def record_verification(
        self,
        members: Sequence[tuple[str, object]],
        *,
        sources: Sequence[str],
        made_on: date,
        level: str,
        report_id: str,
        actor: str,
        case_id: UUID | None = None,
        verification_id: UUID | None = None,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Record a verification the platform answered out of band: each member's identity
        number and verified monthly income, requested and answered in one save."""
        uow = self._unit(uow)
        at = uow.time()
        numbers = [number for number, _ in members]
        verification = self._new_verification(numbers, case_id, actor, at, verification_id, uow)
        self._answer(verification, members, sources, made_on, level, report_id, actor, at, uow)
        return Receipt(verification.id, uow.save(verification))

    def answer_verification(
        self,
        verification_id: UUID,
        members: Sequence[tuple[str, object]],
        *,
        sources: Sequence[str],
        made_on: date,
        level: str,
        report_id: str,
        actor: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Record the platform's answer to a request; a request is answered once."""
        uow = self._unit(uow)
        at = uow.time()
        verification = self._verification(verification_id, uow)
        self._answer(verification, members, sources, made_on, level, report_id, actor, at, uow)
        return Receipt(verification.id, uow.save(verification))

    def verification(self, verification_id: UUID) -> HouseholdVerification:
        found = self.stored(HouseholdVerification, verification_id)
        if found is None:
            raise NotFoundError(f"no verification {verification_id}")
        return found

    def _verification(self, verification_id: UUID, uow: UnitOfWork) -> HouseholdVerification:
        found = uow.load(HouseholdVerification, verification_id)
        if found is None:
            raise NotFoundError(f"no verification {verification_id}")
        return found

    def _household_case(self, case_id: UUID, uow: UnitOfWork) -> Case:
        found = uow.load(Case, case_id)
        if found is None:
            raise NotFoundError(f"no case {case_id}")
        return found

    def _new_verification(
        self,
        identity_numbers: Sequence[str],
        case_id: UUID | None,
        actor: str,
        at: datetime,
        verification_id: UUID | None,
        uow: UnitOfWork,
    ) -> HouseholdVerification:
        if not identity_numbers or len(identity_numbers) > MAX_HOUSEHOLD:
            raise InvalidInputError(
                f"a verification covers 1 to {MAX_HOUSEHOLD} members", field="members"
            )
        numbers = [_parsed_number(text, f"members[{n}]") for n, text in enumerate(identity_numbers)]
        references = [self.references.reference(number) for number in numbers]
        if len(set(references)) != len(references):
            raise InvalidInputError("a household lists each member once", field="members")
        if case_id is not None:
            case = self._household_case(case_id, uow)
            if case.programme not in VERIFIED_PROGRAMMES:
                raise InvalidInputError(
                    f"a {case.programme} case has no household verification", field="case_id"
                )
            now = max(Month.at(at), case.granted_from)
            household = case.month(now).members or case.person_refs[:1]
            if sorted(household) != sorted(references):
                raise VerificationHouseholdError(
                    f"the members named are not the {len(household)} member(s) of case "
                    f"{case_id} in {now}",
                    field="members",
                )
        if (
            verification_id is not None
            and uow.load(HouseholdVerification, verification_id) is not None
        ):
            raise CaseStateError(f"verification {verification_id} is already recorded")
        return HouseholdVerification.request(
            members=[
                {"reference": reference, "identity_number": PersonalData(number.value)}
                for reference, number in zip(references, numbers, strict=True)
            ],
            case_id=case_id,
            actor=actor,
            at=at,
            verification_id=verification_id,
        )

    def _answer(
        self,
        verification: HouseholdVerification,
        members: Sequence[tuple[str, object]],
        sources: Sequence[str],
        made_on: date,
        level: str,
        report_id: str,
        actor: str,
        at: datetime,
        uow: UnitOfWork,
    ) -> None:
        incomes = [
            VerifiedIncome(
                self.references.reference(_parsed_number(number, f"members[{n}]")),
                require_money(income, f"members[{n}].income"),
            )
            for n, (number, income) in enumerate(members)
        ]
        review = None
        if verification.case_id is not None:
            case = self._household_case(verification.case_id, uow)
            month = Month.containing(made_on)
            facts = case.month(max(month, case.granted_from)).facts
            standard = self._standard_for(
                case.programme, case.region, month, facts.area if facts else None, uow
            )
            births = [
                IdentityNumber.parse(member["identity_number"].reveal()).birth_date
                for member in verification.members
            ]
            disabled = [self._severely_disabled(r, month, uow) for r in verification.member_refs]
            months = self.review_schedule.months_for(
                tekun=case.programme is Programme.TEKUN,
                stable=is_stable(births, disabled, month),
            )
            verified = per_capita([item.income for item in incomes])
            review = Review(case.id, months, standard is not None and verified >= standard)
        verification.record_answer(
            sources=sources,
            incomes=incomes,
            made_on=made_on,
            level=level,
            report_id=report_id,
            review=review,
            actor=actor,
            at=at,
            recorded_on=at.astimezone(BUREAU_TIME_ZONE).date(),
        )


def _parsed_number(text: str, field: str) -> IdentityNumber:
    try:
        return IdentityNumber.parse(text)
    except InvalidInputError as refusal:
        raise refusal.within(field) from None


def birth_dates(case: Case, references: Sequence[str]) -> list[date]:
    """The birth dates of the case's members named by ``references``, from their sealed
    identity numbers."""
    numbers = {p["reference"]: p["identity_number"] for p in case.persons}
    return [IdentityNumber.parse(numbers[ref].reveal()).birth_date for ref in references]
