"""A case: one programme granted to one person or household, and every decision on it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.actors import same_person
from domain.cases.fold import (
    CaseMonth,
    Decision,
    DecisionKind,
    check_history,
    closing_month,
    fold_month,
)
from domain.cases.payee import Payee
from domain.cases.programmes import MEMBERS_JOINING, MEMBERSHIP_CHANGES, CaseFacts, Programme
from domain.errors import CaseStateError, FourEyesError, InvalidInputError
from domain.months import Month


class Case(Aggregate):
    """Decisions are appended only after the whole fold, with them, is checked valid."""

    class Event(Aggregate.Event):
        actor: str

    class Granted(Event, Aggregate.Created):
        programme: str
        region: str
        effective: Month
        facts: dict[str, Any]
        persons: list[dict[str, Any]]  # reference, and the sealed identity number and name
        reason: str
        # The household verification cited (domain.verification.citation); None before
        # verifications were recorded, and for programmes that cite none.
        verification: dict[str, Any] | None = None

    class DatedDecision(Event):
        """A decision that takes effect from a month; it joins the case's fold."""

        KIND: ClassVar[DecisionKind]
        effective: Month
        reason: str

        def as_decision(self) -> Decision:
            return Decision(self.KIND, self.effective, self.originator_version)

        def apply(self, case: Case) -> None:
            case.decisions.append(self.as_decision())

    class Reassessed(DatedDecision):
        """New facts from a month. For dibao, ``changes`` may also name members joining the
        household (each a person: reference, and the sealed identity number and name) and
        members leaving it (their references)."""

        KIND = DecisionKind.REASSESSED
        changes: dict[str, Any]
        verification: dict[str, Any] | None = None  # as a grant's

        def as_decision(self) -> Decision:
            return Decision(
                self.KIND, self.effective, self.originator_version, folded_changes(self.changes)
            )

        def apply(self, case: Case) -> None:
            super().apply(case)
            case.persons.extend(self.changes.get(MEMBERS_JOINING, ()))

    class Suspended(DatedDecision):
        KIND = DecisionKind.SUSPENDED

    class Resumed(DatedDecision):
        KIND = DecisionKind.RESUMED

    class GradualExitStarted(DatedDecision):
        KIND = DecisionKind.GRADUAL_EXIT_STARTED
        months: int

        def as_decision(self) -> Decision:
            return Decision(self.KIND, self.effective, self.originator_version, (), self.months)

    class Exited(DatedDecision):
        KIND = DecisionKind.EXITED

    class RescissionRequested(Event):
        reason: str

        def apply(self, case: Case) -> None:
            case.rescission_requested_by = self.actor

    class RescissionRefused(Event):
        """The second person's refusal: the case goes on, and may be asked about again."""

        reason: str

        def apply(self, case: Case) -> None:
            case.rescission_requested_by = None

    class RescissionApproved(Event):
        """The second person's approval; from it on, every month of the case is void."""

        reason: str

        def apply(self, case: Case) -> None:
            case.rescinded = True
            case.rescission_approved_by = self.actor

    class PayeeChanged(Event):
        """Who is paid, and into which card, from this decision on: a person of the case
        (by reference) and the card number, sealed."""

        payee: dict[str, Any]
        reason: str

        def apply(self, case: Case) -> None:
            case.payee = Payee.from_event(self.payee)

    class PaymentReturned(Event):
        """The bank returned the case's line of a closed period whole: what it sent for
        each month is outstanding again, and the case is held until its payee changes."""

        period: Month
        bank_reference: str
        reason: str  # the bank's reason code (AC04 closed account, MD07 deceased, ...)
        amount: Decimal  # what the line sent to the bank

        def apply(self, case: Case) -> None:
            case.returned_periods.add(self.period)

    def __init__(
        self,
        programme: str,
        region: str,
        effective: Month,
        facts: dict[str, Any],
        persons: list[dict[str, Any]],
        actor: str,
        reason: str,
        verification: dict[str, Any] | None = None,
    ) -> None:
        self.programme = Programme(programme)
        self.region = region
        self.persons = list(persons)  # everyone ever named: granted, then joining
        self.decisions: list[Decision] = [self.granted_decision(effective, facts)]
        self.rescission_requested_by: str | None = None
        self.rescission_approved_by: str | None = None
        self.rescinded = False
        self.payee: Payee | None = None
        self.returned_periods: set[Month] = set()  # the periods whose line the bank returned

    def __str__(self) -> str:
        return f"case {self.id}"

    @staticmethod
    def granted_decision(effective: Month, facts: dict[str, Any]) -> Decision:
        return Decision(DecisionKind.GRANTED, effective, 1, tuple(sorted(facts.items())))

    @classmethod
    def grant(
        cls,
        *,
        programme: Programme,
        region: str,
        effective: Month,
        facts: CaseFacts,
        persons: list[dict[str, Any]],
        actor: str,
        reason: str,
        at: datetime,
        case_id: UUID | None = None,
        verification: dict[str, Any] | None = None,
    ) -> Case:
        return cls._create(
            cls.Granted,
            id=case_id,
            programme=programme.value,
            region=region,
            effective=effective,
            facts=facts.to_event(),
            persons=persons,
            actor=actor,
            reason=reason,
            verification=verification,
            timestamp=at,
        )

    # Decisions with an effective month.

    def check_reassessment(self, effective: Month, changes: dict[str, Any]) -> None:
        """Refuse the reassessment unless the whole fold, with it, stays valid."""
        changed = folded_changes(changes)
        if any(name in MEMBERSHIP_CHANGES for name, _ in changed) and not self.programme.is_dibao:
            raise CaseStateError("only a dibao household's members join or leave")
        self._decide(Decision(DecisionKind.REASSESSED, effective, self.version + 1, changed))

    def reassess(
        self,
        effective: Month,
        changes: dict[str, Any],
        actor: str,
        reason: str,
        at: datetime,
        verification: dict[str, Any] | None = None,
    ) -> None:
        self.check_reassessment(effective, changes)
        self.trigger_event(
            self.Reassessed,
            effective=effective,
            changes=changes,
            actor=actor,
            reason=reason,
            verification=verification,
            timestamp=at,
        )

    def suspend(self, effective: Month, actor: str, reason: str, at: datetime) -> None:
        self._record(self.Suspended, effective, actor, reason, at)

    def resume(self, effective: Month, actor: str, reason: str, at: datetime) -> None:
        self._record(self.Resumed, effective, actor, reason, at)

    def exit(self, effective: Month, actor: str, reason: str, at: datetime) -> None:
        self._record(self.Exited, effective, actor, reason, at)

    def start_gradual_exit(
        self, effective: Month, months: int, actor: str, reason: str, at: datetime
    ) -> None:
        if not self.programme.is_dibao:
            raise CaseStateError(
                f"this is a {self.programme} case; only a dibao case leaves gradually"
            )
        kind = DecisionKind.GRADUAL_EXIT_STARTED
        self._decide(Decision(kind, effective, self.version + 1, (), months))
        self.trigger_event(
            self.GradualExitStarted,
            effective=effective,
            months=months,
            actor=actor,
            reason=reason,
            timestamp=at,
        )

    def _record(
        self,
        event_class: type[DatedDecision],
        effective: Month,
        actor: str,
        reason: str,
        at: datetime,
    ) -> None:
        self._decide(Decision(event_class.KIND, effective, self.version + 1))
        self.trigger_event(
            event_class, effective=effective, actor=actor, reason=reason, timestamp=at
        )

    def _decide(self, decision: Decision) -> None:
        """Refuse ``decision`` unless the whole fold, with it, stays valid."""
        self._refuse_if_rescinded()
        check_history(self.programme, [*self.decisions, decision])

    # Rescission, with four eyes.

    def request_rescission(self, actor: str, reason: str, at: datetime) -> None:
        self._refuse_if_rescinded()
        if self.rescission_requested_by is not None:
            raise CaseStateError(
                "a rescission of this case requested by "
                f"{self.rescission_requested_by} is already waiting for approval"
            )
        self.trigger_event(self.RescissionRequested, actor=actor, reason=reason, timestamp=at)

    def approve_rescission(self, actor: str, reason: str, at: datetime) -> None:
        self._check_rescission_decidable(actor, "approved")
        self.trigger_event(self.RescissionApproved, actor=actor, reason=reason, timestamp=at)

    def refuse_rescission(self, actor: str, reason: str, at: datetime) -> None:
        self._check_rescission_decidable(actor, "refused")
        self.trigger_event(self.RescissionRefused, actor=actor, reason=reason, timestamp=at)

    def _check_rescission_decidable(self, actor: str, decision: str) -> None:
        self._refuse_if_rescinded()
        if self.rescission_requested_by is None:
            raise CaseStateError("no rescission of this case is waiting for approval")
        if same_person(actor, self.rescission_requested_by):
            raise FourEyesError(
                f"{self.rescission_requested_by} requested this rescission; a rescission is "
                f"{decision} by someone other than its requester (names are compared ignoring "
                "case, width and spaces)"
            )

    # Payment.

    def change_payee(self, payee: Payee, actor: str, reason: str, at: datetime) -> None:
        # Allowed on an exited or rescinded case too: a held case's arrears, or its
        # recoveries, are settled only after a payee change.
        if payee.recipient not in self.person_refs:
            raise InvalidInputError(
                "the recipient is paid as a person of the case: name a household member",
                field="recipient",
            )
        self.trigger_event(
            self.PayeeChanged, payee=payee.to_event(), actor=actor, reason=reason, timestamp=at
        )

    def record_return(
        self,
        period: Month,
        bank_reference: str,
        reason: str,
        amount: Decimal,
        actor: str,
        at: datetime,
    ) -> bool:
        """Record the bank's return of the line of ``period``; False (nothing recorded) when
        that line's return is already recorded."""
        if period in self.returned_periods:
            return False
        self.trigger_event(
            self.PaymentReturned,
            period=period,
            bank_reference=bank_reference,
            reason=reason,
            amount=amount,
            actor=actor,
            timestamp=at,
        )
        return True

    def _refuse_if_rescinded(self) -> None:
        if self.rescinded:
            raise CaseStateError("the case was rescinded; no further decision can be recorded")

    # Queries.

    def month(self, month: Month) -> CaseMonth:
        return fold_month(self.programme, self.decisions, month, rescinded=self.rescinded)

    @property
    def person_refs(self) -> tuple[str, ...]:
        """The references of everyone ever named in the case, in the order named."""
        return tuple(p["reference"] for p in self.persons)

    @property
    def granted_from(self) -> Month:
        return self.decisions[0].effective

    @property
    def closed_from(self) -> Month | None:
        """The first month the case is closed, or None while it has no end."""
        return closing_month(self.programme, self.decisions)


def folded_changes(changes: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A reassessment's changes as the fold takes them: members joining by reference."""
    values = dict(changes)
    if MEMBERS_JOINING in values:
        values[MEMBERS_JOINING] = [p["reference"] for p in values[MEMBERS_JOINING]]
    return tuple(sorted(values.items()))
