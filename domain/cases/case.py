"""A case: one programme granted to one person or household, and every decision on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.cases.fold import (
    CaseMonth,
    Decision,
    DecisionKind,
    check_history,
    closing_month,
    fold_month,
)
from domain.cases.programmes import CaseFacts, Programme
from domain.errors import CaseStateError, FourEyesError
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
        KIND = DecisionKind.REASSESSED
        changes: dict[str, Any]

        def as_decision(self) -> Decision:
            changes = tuple(sorted(self.changes.items()))
            return Decision(self.KIND, self.effective, self.originator_version, changes)

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

    class RescissionApproved(Event):
        """The second person's approval; from it on, every month of the case is void."""

        reason: str

        def apply(self, case: Case) -> None:
            case.rescinded = True

    def __init__(
        self,
        programme: str,
        region: str,
        effective: Month,
        facts: dict[str, Any],
        persons: list[dict[str, Any]],
        actor: str,
        reason: str,
    ) -> None:
        self.programme = Programme(programme)
        self.region = region
        self.persons = persons
        self.person_refs: tuple[str, ...] = tuple(p["reference"] for p in persons)
        self.decisions: list[Decision] = [self.granted_decision(effective, facts)]
        self.rescission_requested_by: str | None = None
        self.rescinded = False

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
            timestamp=at,
        )

    # Decisions with an effective month.

    def reassess(
        self, effective: Month, changes: dict[str, Any], actor: str, reason: str, at: datetime
    ) -> None:
        changed = tuple(sorted(changes.items()))
        self._decide(Decision(DecisionKind.REASSESSED, effective, self.version + 1, changed))
        self.trigger_event(
            self.Reassessed,
            effective=effective,
            changes=changes,
            actor=actor,
            reason=reason,
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
        self._refuse_if_rescinded()
        if self.rescission_requested_by is None:
            raise CaseStateError("no rescission of this case is waiting for approval")
        if actor == self.rescission_requested_by:
            raise FourEyesError(
                f"{actor} requested this rescission; a rescission is approved by someone other "
                "than its requester"
            )
        self.trigger_event(self.RescissionApproved, actor=actor, reason=reason, timestamp=at)

    def _refuse_if_rescinded(self) -> None:
        if self.rescinded:
            raise CaseStateError("the case was rescinded; no further decision can be recorded")

    # Queries.

    def month(self, month: Month) -> CaseMonth:
        return fold_month(self.programme, self.decisions, month, rescinded=self.rescinded)

    @property
    def granted_from(self) -> Month:
        return self.decisions[0].effective

    @property
    def closed_from(self) -> Month | None:
        """The first month the case is closed, or None while it has no end."""
        return closing_month(self.programme, self.decisions)
