"""What each event means for the views: one handler per event class.

A handler states the rule; the batch it is given keeps and writes the rows
(``projections.engine.rows``) and prices cases with the standards it knows. Handlers are
chosen by the event's class, a subclass falling back on its base's handler (a
``StandardCorrected`` is projected as a ``StandardSet``); an event no handler is registered
for changes nothing in the views. Every event, handled or not, still gets its position and
its link in the audit chain from the projector.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import singledispatch
from typing import Any, Protocol

from domain.cases.case import Case
from domain.cases.fold import Decision
from domain.cases.programmes import MEMBERS_JOINING, MEMBERS_LEAVING, Programme
from domain.months import Month
from domain.payroll_periods import PayrollPeriods, PayrollSummary
from domain.relief import REVIEW_DAYS, Relief, ReliefKind, ReviewOutcome
from domain.standards import StandardSchedule
from domain.verification.household_verification import HouseholdVerification
from domain.verification.rules import review_due
from projections.engine.case_state import CaseState
from projections.engine.relief_state import ReliefState
from projections.engine.rows import RowStore
from projections.engine.segments import Segment
from projections.engine.standards_table import StandardsTable
from projections.reads.approvals import ApprovalRequest, Awaiting
from projections.reads.payroll_lines import lines_of

RELIEF_GRANTED = "granted"
VERIFIED_PROGRAMMES = (Programme.DIBAO_URBAN, Programme.DIBAO_RURAL, Programme.TEKUN)


class Batch(Protocol):
    """What a handler works on: the batch's rows and the standards it knows."""

    @property
    def rows(self) -> RowStore: ...

    @property
    def standards(self) -> StandardsTable: ...

    def resegment_case(
        self, case_id: str, position: int, changed_from: Month | None = None
    ) -> None:
        """Make the segments of the case's fold, priced with the standards known, its rows;
        with ``changed_from``, pricing only the months from it on again, as a decision
        effective then changes no month before it."""

    def repriced_from(self, month: Month, case_ids: Sequence[str], position: int) -> None:
        """The same for many cases after a standard from ``month`` on changed, as many at a
        time as the batch chooses, pricing only their months from ``month`` on again."""


@singledispatch
def project(event: object, batch: Batch, position: int) -> None:
    """An event the views do not show (a person indexed, a schedule or payroll opened)
    changes nothing in them."""


# Cases.


@project.register
def _granted(event: Case.Granted, batch: Batch, position: int) -> None:
    """A grant opens the case with its facts from its effective month, for its persons."""
    case_id = event.originator_id.hex
    state = CaseState(Programme(event.programme), event.region)
    state.decisions.append(Case.granted_decision(event.effective, event.facts))
    batch.rows.put(case_id, state.programme.value, state.region, state)
    references = [p["reference"] for p in event.persons]
    batch.rows.add_persons(case_id, references, event.effective, position)
    batch.resegment_case(case_id, position)
    if state.programme in VERIFIED_PROGRAMMES:
        _cited(case_id, event.verification, event.effective, batch, position)


def _cited(
    case_id: str, verification: dict[str, Any] | None, effective: Month, batch: Batch, position: int
) -> None:
    """A dibao or tekun decision citing a verification: the household's next review is due
    the months after it that the decision recorded. A grant citing none (history from
    before verifications) is due for its first review from its own month."""
    if verification is None:
        batch.rows.household_verified(case_id, None, None, effective, False, position)
        return
    made_on = verification["made_on"]
    batch.rows.household_verified(
        case_id,
        verification["id"],
        made_on,
        review_due(made_on, verification["review_months"]),
        verification["at_or_above_standard"],
        position,
    )


@project.register
def _dated_decision(event: Case.DatedDecision, batch: Batch, position: int) -> None:
    """A reassessment, suspension, resumption, gradual exit or exit joins the case's fold
    at its effective month, and the case's months are priced again."""
    case_id = event.originator_id.hex
    case = batch.rows.case(case_id)
    case.decisions.append(event.as_decision())
    batch.rows.put(case_id, case.programme.value, case.region, case)
    batch.resegment_case(case_id, position, changed_from=event.effective)


@project.register
def _reassessed(event: Case.Reassessed, batch: Batch, position: int) -> None:
    """Members joining a household are among its persons from the reassessment's month,
    members leaving no longer; then the reassessment joins the fold like any decision."""
    case_id = event.originator_id.hex
    case = batch.rows.case(case_id)
    joining = [p["reference"] for p in event.changes.get(MEMBERS_JOINING, ())]
    leaving = event.changes.get(MEMBERS_LEAVING, ())
    if leaving:
        batch.rows.remove_persons(case_id, leaving, event.effective, position)
    if joining:
        named = persons_named(case.decisions)
        batch.rows.add_persons(case_id, joining, event.effective, position, first_ordinal=named)
    _dated_decision(event, batch, position)
    if event.verification is not None:
        _cited(case_id, event.verification, event.effective, batch, position)


def persons_named(decisions: Sequence[Decision]) -> int:
    """How many persons a case's decisions name: its grant's, then those joining."""
    named = 0
    for decision in decisions:
        changes = dict(decision.changes)
        named += len(changes.get("members", ())) + len(changes.get(MEMBERS_JOINING, ()))
    return max(named, 1)  # a grant to one person names no household members


@project.register
def _rescission_requested(event: Case.RescissionRequested, batch: Batch, position: int) -> None:
    """A requested rescission waits in the approvers' queue; the case is paid meanwhile."""
    case_id = event.originator_id.hex
    case = batch.rows.case(case_id)
    request = ApprovalRequest(
        case_id,
        Awaiting.RESCISSION,
        case.programme.value,
        case.region,
        event.actor,
        event.timestamp,
        event.reason,
    )
    batch.rows.await_approval(request, position)


@project.register
def _rescission_approved(event: Case.RescissionApproved, batch: Batch, position: int) -> None:
    """A rescinded case was never owed anything: every month of it becomes 0."""
    case_id = event.originator_id.hex
    case = batch.rows.case(case_id)
    case.rescinded = True
    batch.rows.put(case_id, case.programme.value, case.region, case)
    batch.resegment_case(case_id, position)
    batch.rows.approval_given(case_id, position)


@project.register
def _rescission_refused(event: Case.RescissionRefused, batch: Batch, position: int) -> None:
    """A refused rescission leaves the approvers' queue; the case goes on as it was."""
    batch.rows.approval_given(event.originator_id.hex, position)


@project.register
def _payee_changed(event: Case.PayeeChanged, batch: Batch, position: int) -> None:
    """A payee decision is known from its position: a case held after a return is paid
    again at the next close computed after it."""
    recipient = str(event.payee["recipient"])
    batch.rows.payee_changed(event.originator_id.hex, recipient, event.originator_version, position)


@project.register
def _payment_returned(event: Case.PaymentReturned, batch: Batch, position: int) -> None:
    """A returned line: what it sent is outstanding again, and the case is held at the
    closes computed after it until its payee changes (``payroll_lines``)."""
    case_id = event.originator_id.hex
    batch.rows.case(case_id)  # the case's programme and region
    batch.rows.payment_returned(
        case_id, event.period, event.bank_reference, event.reason, event.amount, position
    )


# Standards.


@project.register
def _standard_set(event: StandardSchedule.StandardSet, batch: Batch, position: int) -> None:
    """A standard set or corrected from a month supersedes the entry for that month, and
    re-prices the cases of its region open from then: those of its programme, and tekun
    cases too for a dibao standard, since tekun is priced from dibao."""
    programme, region = Programme(event.programme), event.region
    batch.rows.set_standard(programme, region, event.effective, event.parameters, position)
    batch.standards.put(programme, region, event.effective, event.parameters)
    affected = [programme, Programme.TEKUN] if programme.is_dibao else [programme]
    cases = batch.rows.cases_open_from(region, affected, event.effective)
    batch.repriced_from(event.effective, cases, position)


# Temporary relief.


@project.register
def _relief_asked(event: Relief.Asked, batch: Batch, position: int) -> None:
    """A relief asked for above the cap is known, with its persons, but pays nothing until
    a second person approves it."""
    relief_id = event.originator_id.hex
    relief = ReliefState(event.relief_date, event.amount, event.kind)
    batch.rows.put(relief_id, Programme.TEMPORARY_RELIEF.value, event.region, relief)
    references = [p["reference"] for p in event.persons]
    batch.rows.add_persons(relief_id, references, relief.month, position)


@project.register
def _relief_granted(event: Relief.ReliefGranted, batch: Batch, position: int) -> None:
    """A relief up to the cap is asked for and granted at once."""
    _relief_asked(event, batch, position)
    relief_id = event.originator_id.hex
    _grant_relief(batch, relief_id, batch.rows.relief(relief_id), position)


@project.register
def _relief_requested(event: Relief.ReliefRequested, batch: Batch, position: int) -> None:
    """A relief asked for above its cap waits in the approvers' queue."""
    _relief_asked(event, batch, position)
    request = ApprovalRequest(
        event.originator_id.hex,
        Awaiting.RELIEF,
        Programme.TEMPORARY_RELIEF.value,
        event.region,
        event.actor,
        event.timestamp,
        event.reason,
        event.amount,
        event.cap,
    )
    batch.rows.await_approval(request, position)


@project.register
def _relief_approved(event: Relief.ReliefApproved, batch: Batch, position: int) -> None:
    """An approved relief is granted as asked for, and leaves the approvers' queue."""
    relief_id = event.originator_id.hex
    _grant_relief(batch, relief_id, batch.rows.relief(relief_id), position)
    batch.rows.approval_given(relief_id, position)


@project.register
def _relief_refused(event: Relief.ReliefRefused, batch: Batch, position: int) -> None:
    """A refused relief is never paid, and leaves the approvers' queue."""
    batch.rows.approval_given(event.originator_id.hex, position)


def _grant_relief(batch: Batch, relief_id: str, relief: ReliefState, position: int) -> None:
    """A granted relief pays its amount once, in the month of its date; an emergency
    relief is paid first and is due for review within ``REVIEW_DAYS`` of its date."""
    segment = Segment(relief.month, relief.month + 1, relief.amount, RELIEF_GRANTED)
    batch.rows.resegment(relief_id, [segment], position)
    if relief.kind == ReliefKind.EMERGENCY:
        due = relief.relief_date + timedelta(days=REVIEW_DAYS)
        region = batch.rows.region_of(relief_id)
        batch.rows.review_due(relief_id, region, relief.relief_date, due, position)


@project.register
def _relief_reviewed(event: Relief.ReliefReviewed, batch: Batch, position: int) -> None:
    """A review is recorded; a relief rescinded on review was never owed: its payment
    becomes an amount to recover."""
    relief_id = event.originator_id.hex
    batch.rows.review_done(relief_id, event.outcome, position)
    if event.outcome == ReviewOutcome.RESCINDED:
        batch.rows.resegment(relief_id, [], position)


# Payroll periods.


@project.register
def _period_closed(event: PayrollPeriods.PeriodClosed, batch: Batch, position: int) -> None:
    """A closed period keeps its lines recomputed from the views at its position, and the
    digest they give beside the one recorded, so that any difference is visible."""
    batch.rows.flush()  # the period's lines are computed from the rows written so far
    items, closes_own = batch.rows.payroll_items(
        event.programme, event.region, event.month, event.position
    )
    # The close's own items, computed from these views at the same position, are the
    # lines whose digest it recorded.
    digest = event.digest if closes_own else PayrollSummary.of(lines_of(items)).digest
    batch.rows.keep_period(event, position, digest, items)


# Household verifications.


@project.register
def _verification_requested(
    event: HouseholdVerification.Requested, batch: Batch, position: int
) -> None:
    """A request waits for the platform's answer (the outbox's list of what to send)."""
    batch.rows.verification_requested(event.originator_id.hex, position)


@project.register
def _household_verified(event: HouseholdVerification.Verified, batch: Batch, position: int) -> None:
    """The platform answered; a verification of a case is a review of it: the next one is
    due the months after it that the ledger decided when it recorded the answer."""
    batch.rows.verification_answered(event.originator_id.hex, position)
    review = event.review
    if review is not None:
        batch.rows.household_verified(
            review["case_id"],
            event.originator_id.hex,
            event.made_on,
            review_due(event.made_on, review["months"]),
            review["at_or_above_standard"],
            position,
        )
