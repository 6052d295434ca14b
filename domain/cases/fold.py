"""The fold of a case's decisions: what holds in a month, and whether a history is valid.

Decisions are folded in order of (effective month, position), so a backdated decision
lands where it takes effect. A rescission voids every month; an exit, the end of a gradual
exit and an orphan's 18th birthday month close the case, after which decisions have no
effect. A dibao reassessment may change who is in the household from its month, and each
month's amount counts that month's members; during a gradual exit such a change is kept
(it decides who holds dibao) but the amount stays the one frozen when the exit began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.cases.amounts import orphan_last_month
from domain.cases.programmes import (
    MEMBERS_JOINING,
    MEMBERS_LEAVING,
    MEMBERSHIP_CHANGES,
    CaseFacts,
    Programme,
)
from domain.errors import CaseStateError
from domain.months import Month


class DecisionKind(StrEnum):
    GRANTED = "granted"
    REASSESSED = "reassessed"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    GRADUAL_EXIT_STARTED = "gradual-exit-started"
    EXITED = "exited"


@dataclass(frozen=True, slots=True)
class Decision:
    """One dated decision on a case; ``position`` orders decisions recorded for one month."""

    kind: DecisionKind
    effective: Month
    position: int
    changes: tuple[tuple[str, Any], ...] = ()  # granted and reassessed: the facts given
    months: int = 0  # gradual exit: how many months it lasts

    @property
    def changes_members(self) -> bool:
        """Whether the decision is a reassessment by which members join or leave."""
        return any(name in MEMBERSHIP_CHANGES for name, _ in self.changes)


class Status(StrEnum):
    NOT_OPEN = "not-open"  # before the grant takes effect
    PAYING = "paying"
    SUSPENDED = "suspended"
    LEAVING = "leaving"  # in a gradual exit, paid the amount of the month before it began
    CLOSED = "closed"
    RESCINDED = "rescinded"


PAYABLE = (Status.PAYING, Status.LEAVING)


@dataclass(frozen=True, slots=True)
class CaseMonth:
    """A case as folded for one month.

    ``facts`` and ``priced_month`` say what the month's amount is computed from: for a case
    leaving gradually, the facts and standards of the month before the exit began.
    ``members`` are the household's members (person references) in the month itself.
    """

    status: Status
    facts: CaseFacts | None = None
    priced_month: Month | None = None
    members: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in (Status.PAYING, Status.SUSPENDED, Status.LEAVING)

    @property
    def is_payable(self) -> bool:
        return self.status in PAYABLE


@dataclass(slots=True)
class _FoldState:
    facts: CaseFacts | None = None
    granted_from: Month | None = None
    suspended: bool = False
    suspended_from: Month | None = None
    leaving_from: Month | None = None
    closed_from: Month | None = None


def _in_order(decisions: Sequence[Decision]) -> list[Decision]:
    return sorted(decisions, key=lambda d: (d.effective, d.position))


def _no_effect(state: _FoldState, decision: Decision) -> str | None:
    """Why ``decision`` has no effect in ``state``, or None when it takes effect."""
    if state.closed_from is not None and decision.effective >= state.closed_from:
        return f"the case is closed from {state.closed_from}"
    if (
        decision.kind is DecisionKind.REASSESSED
        and state.leaving_from is not None
        and decision.effective >= state.leaving_from
        and not decision.changes_members
    ):
        return f"the case is leaving gradually from {state.leaving_from}"
    return None


def _apply(programme: Programme, state: _FoldState, decision: Decision) -> None:
    """Fold one decision into ``state``; raise CaseStateError if it is not valid there."""
    kind = decision.kind
    if kind is DecisionKind.GRANTED:
        if state.granted_from is not None:
            raise CaseStateError(f"the case is granted already, from {state.granted_from}")
        state.granted_from = decision.effective
        state.facts = CaseFacts().updated(dict(decision.changes))
        if programme is Programme.ORPHAN:
            state.closed_from = orphan_last_month(state.facts) + 1
        return
    if state.granted_from is None or state.facts is None:
        raise CaseStateError(
            f"a {kind} decision effective {decision.effective} would take effect before "
            "the case is granted"
        )
    if kind is DecisionKind.REASSESSED:
        changes = dict(decision.changes)
        _check_membership(state.facts.members, changes, decision.effective)
        state.facts = state.facts.reassessed(changes)
    elif kind is DecisionKind.SUSPENDED:
        if state.suspended:
            raise CaseStateError(
                f"the case is already suspended in {decision.effective} (suspended from "
                f"{state.suspended_from})"
            )
        state.suspended, state.suspended_from = True, decision.effective
    elif kind is DecisionKind.RESUMED:
        if not state.suspended:
            raise CaseStateError(f"the case is not suspended in {decision.effective}")
        state.suspended, state.suspended_from = False, None
    elif kind is DecisionKind.GRADUAL_EXIT_STARTED:
        if state.leaving_from is not None:
            raise CaseStateError(f"a gradual exit already started in {state.leaving_from}")
        if decision.effective <= state.granted_from:
            raise CaseStateError(
                f"a gradual exit starts after the case's first month, {state.granted_from}"
            )
        state.leaving_from = decision.effective
        state.closed_from = decision.effective + decision.months
    elif kind is DecisionKind.EXITED:
        state.closed_from = decision.effective


def _check_membership(members: Sequence[str], changes: dict[str, Any], month: Month) -> None:
    """Refuse members leaving who are not in the household in ``month``, members joining who
    are, and a household left empty (that is an exit). Members are named by their place in
    the decision, never by their identity."""
    leaving = changes.get(MEMBERS_LEAVING, ())
    joining = changes.get(MEMBERS_JOINING, ())
    for number, reference in enumerate(leaving, start=1):
        if reference not in members:
            raise CaseStateError(f"leaving member {number} is not in the household in {month}")
    for number, reference in enumerate(joining, start=1):
        if reference in members:
            raise CaseStateError(f"joining member {number} is in the household in {month} already")
    if leaving and not joining and all(member in leaving for member in members):
        raise CaseStateError(
            f"every member would leave the household in {month}: a household keeps at least "
            "one member; record an exit instead"
        )


def check_history(programme: Programme, decisions: Sequence[Decision]) -> None:
    """Refuse a history whose fold is invalid at any step, or whose newest decision
    (the highest position) would have no effect."""
    newest = max(d.position for d in decisions)
    granted = [d.effective for d in decisions if d.kind is DecisionKind.GRANTED]
    state = _FoldState()
    for decision in _in_order(decisions):
        if granted and decision.effective < granted[0]:
            raise CaseStateError(
                f"a {decision.kind} decision effective {decision.effective} would take effect "
                f"before the case is granted, from {granted[0]}"
            )
        reason = _no_effect(state, decision)
        if reason is not None:
            if decision.position == newest:
                raise CaseStateError(
                    f"{reason}: a {decision.kind} decision effective {decision.effective} "
                    "would have no effect"
                )
            continue
        _apply(programme, state, decision)


def fold_month(
    programme: Programme, decisions: Sequence[Decision], month: Month, *, rescinded: bool
) -> CaseMonth:
    """The case as it stands in ``month``, from a valid history."""
    return fold_months(programme, decisions, [month], rescinded=rescinded)[0]


def fold_months(
    programme: Programme, decisions: Sequence[Decision], months: Sequence[Month], *, rescinded: bool
) -> list[CaseMonth]:
    """The case in each of ``months`` (ascending), folding the decisions once."""
    if rescinded:
        return [CaseMonth(Status.RESCINDED) for _ in months]
    ordered = _in_order(decisions)
    state = _FoldState()
    facts_before: CaseFacts | None = None  # the facts in force before the month being folded
    folding: Month | None = None
    leaving_facts: CaseFacts | None = None
    next_decision = 0
    out = []
    for month in months:
        while next_decision < len(ordered) and ordered[next_decision].effective <= month:
            decision = ordered[next_decision]
            next_decision += 1
            if decision.effective != folding:
                folding, facts_before = decision.effective, state.facts
            if _no_effect(state, decision) is None:
                _apply(programme, state, decision)
                if decision.kind is DecisionKind.GRADUAL_EXIT_STARTED:
                    leaving_facts = facts_before  # a gradual exit pays the month before it
        out.append(_month_of(state, month, leaving_facts))
    return out


def _month_of(state: _FoldState, month: Month, leaving_facts: CaseFacts | None) -> CaseMonth:
    if state.granted_from is None or state.facts is None:
        return CaseMonth(Status.NOT_OPEN)
    if state.closed_from is not None and month >= state.closed_from:
        return CaseMonth(Status.CLOSED)
    members = state.facts.members
    if state.suspended:
        return CaseMonth(Status.SUSPENDED, state.facts, month, members)
    if state.leaving_from is not None:
        return CaseMonth(Status.LEAVING, leaving_facts, state.leaving_from - 1, members)
    return CaseMonth(Status.PAYING, state.facts, month, members)


def closing_month(programme: Programme, decisions: Sequence[Decision]) -> Month | None:
    """The first month the case is closed (exit, end of a gradual exit, orphan's end)."""
    state = _FoldState()
    for decision in _in_order(decisions):
        if _no_effect(state, decision) is None:
            _apply(programme, state, decision)
    return state.closed_from
