"""The fold's refusals, by name, and what it says a month is priced from.

The fold model test checks which histories are accepted over random histories; here each
refusal is stated with its message, as the caseworker reads it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.cases.fold import (
    CaseMonth,
    Decision,
    DecisionKind,
    Status,
    check_history,
    closing_month,
    fold_month,
    fold_months,
)
from domain.cases.programmes import CaseFacts, Programme
from domain.errors import CaseStateError
from domain.months import Month

M = Month.parse
K = DecisionKind
DIBAO = Programme.DIBAO_URBAN
FACTS = (("income", Decimal("200.00")), ("members", ("a", "b")))


def granted(
    effective: str, position: int = 1, changes: tuple[tuple[str, object], ...] = FACTS
) -> Decision:
    return Decision(K.GRANTED, M(effective), position, changes)


def decided(kind: DecisionKind, effective: str, position: int, months: int = 0) -> Decision:
    return Decision(kind, M(effective), position, (), months)


def reassessed(effective: str, position: int, income: str) -> Decision:
    return Decision(K.REASSESSED, M(effective), position, (("income", Decimal(income)),))


def refusal(programme: Programme, *decisions: Decision) -> str:
    with pytest.raises(CaseStateError) as refused:
        check_history(programme, decisions)
    return refused.value.message


def test_a_case_is_granted_once() -> None:
    assert refusal(DIBAO, granted("2020-01"), granted("2020-03", 2)) == (
        "the case is granted already, from 2020-01"
    )


def test_a_decision_before_the_grant_takes_effect_is_refused() -> None:
    assert refusal(DIBAO, granted("2020-03"), decided(K.SUSPENDED, "2020-02", 2)) == (
        "a suspended decision effective 2020-02 would take effect before the case is granted, "
        "from 2020-03"
    )


def test_a_decision_in_a_history_without_a_grant_is_refused() -> None:
    assert refusal(DIBAO, decided(K.SUSPENDED, "2020-02", 1)) == (
        "a suspended decision effective 2020-02 would take effect before the case is granted"
    )


def test_suspension_and_resumption_alternate() -> None:
    history = [granted("2020-01"), decided(K.SUSPENDED, "2020-03", 2)]
    assert refusal(DIBAO, *history, decided(K.SUSPENDED, "2020-04", 3)) == (
        "the case is already suspended in 2020-04 (suspended from 2020-03)"
    )
    assert refusal(DIBAO, granted("2020-01"), decided(K.RESUMED, "2020-04", 2)) == (
        "the case is not suspended in 2020-04"
    )


def test_a_gradual_exit_starts_once_and_after_the_first_month() -> None:
    assert refusal(DIBAO, granted("2020-01"), decided(K.GRADUAL_EXIT_STARTED, "2020-01", 2, 3)) == (
        "a gradual exit starts after the case's first month, 2020-01"
    )
    history = [granted("2020-01"), decided(K.GRADUAL_EXIT_STARTED, "2020-05", 2, 6)]
    assert refusal(DIBAO, *history, decided(K.GRADUAL_EXIT_STARTED, "2020-07", 3, 1)) == (
        "a gradual exit already started in 2020-05"
    )


def test_the_newest_decision_must_take_effect() -> None:
    exited = [granted("2020-01"), decided(K.EXITED, "2020-06", 2)]
    assert refusal(DIBAO, *exited, decided(K.SUSPENDED, "2020-06", 3)) == (
        "the case is closed from 2020-06: a suspended decision effective 2020-06 would have "
        "no effect"
    )
    leaving = [granted("2020-01"), decided(K.GRADUAL_EXIT_STARTED, "2020-05", 2, 6)]
    assert refusal(DIBAO, *leaving, reassessed("2020-07", 3, "100")) == (
        "the case is leaving gradually from 2020-05: a reassessed decision effective 2020-07 "
        "would have no effect"
    )
    # Before the exit begins, a reassessment still takes effect; a suspension during it too.
    check_history(DIBAO, [*leaving, reassessed("2020-04", 3, "100")])
    check_history(DIBAO, [*leaving, decided(K.SUSPENDED, "2020-07", 3)])


def test_an_earlier_decision_that_lost_its_effect_to_a_backdated_exit_stands() -> None:
    check_history(
        DIBAO,
        [granted("2020-01"), decided(K.SUSPENDED, "2020-08", 2), decided(K.EXITED, "2020-06", 3)],
    )


def test_an_orphan_case_takes_no_decision_after_the_month_of_the_18th_birthday() -> None:
    orphan = granted("2020-01", changes=(("birth_date", date(2002, 4, 30)), ("care", "dispersed")))
    assert refusal(Programme.ORPHAN, orphan, decided(K.SUSPENDED, "2020-05", 2)) == (
        "the case is closed from 2020-05: a suspended decision effective 2020-05 would have "
        "no effect"
    )
    check_history(Programme.ORPHAN, [orphan, decided(K.SUSPENDED, "2020-04", 2)])
    assert closing_month(Programme.ORPHAN, [orphan]) == M("2020-05")
    states = fold_months(Programme.ORPHAN, [orphan], [M("2020-04"), M("2020-05")], rescinded=False)
    assert [s.status for s in states] == [Status.PAYING, Status.CLOSED]
    assert fold_month(Programme.ORPHAN, [orphan], M("2020-05"), rescinded=False) == CaseMonth(
        Status.CLOSED
    )


def test_a_suspended_case_keeps_its_facts_for_a_reassessment() -> None:
    history = [granted("2020-01"), decided(K.SUSPENDED, "2020-03", 2)]
    suspended = fold_month(DIBAO, history, M("2020-04"), rescinded=False)
    assert suspended == CaseMonth(
        Status.SUSPENDED,
        CaseFacts(members=("a", "b"), income=Decimal("200.00")),
        M("2020-04"),
        members=("a", "b"),
    )
    assert (suspended.is_open, suspended.is_payable) == (True, False)


def test_a_gradual_exit_is_priced_from_the_month_before_it_with_the_facts_then() -> None:
    history = [
        granted("2020-01"),
        reassessed("2020-05", 2, "300"),
        decided(K.GRADUAL_EXIT_STARTED, "2020-05", 3, 2),
    ]
    months = [M("2020-04"), M("2020-05"), M("2020-06"), M("2020-07")]
    states = fold_months(DIBAO, history, months, rescinded=False)
    before = CaseFacts(members=("a", "b"), income=Decimal("200.00"))
    assert states == [
        CaseMonth(Status.PAYING, before, M("2020-04"), members=("a", "b")),
        CaseMonth(Status.LEAVING, before, M("2020-04"), members=("a", "b")),
        CaseMonth(Status.LEAVING, before, M("2020-04"), members=("a", "b")),
        CaseMonth(Status.CLOSED),
    ]
    assert [(s.is_open, s.is_payable) for s in states] == [
        (True, True),
        (True, True),
        (True, True),
        (False, False),
    ]
    assert closing_month(DIBAO, history) == M("2020-07")


def test_a_month_before_the_grant_and_a_rescinded_case_are_not_open() -> None:
    history = [granted("2020-03")]
    assert fold_month(DIBAO, history, M("2020-02"), rescinded=False) == CaseMonth(Status.NOT_OPEN)
    rescinded = fold_month(DIBAO, history, M("2020-03"), rescinded=True)
    assert (rescinded, rescinded.is_open) == (CaseMonth(Status.RESCINDED), False)
    assert closing_month(DIBAO, history) is None


def test_a_backdated_exit_closes_the_case_from_its_month() -> None:
    history = [
        granted("2020-01"),
        decided(K.SUSPENDED, "2020-08", 2),
        decided(K.EXITED, "2020-06", 3),
    ]
    assert closing_month(DIBAO, history) == M("2020-06")
    assert fold_month(DIBAO, history, M("2020-05"), rescinded=False).status is Status.PAYING
    assert fold_month(DIBAO, history, M("2020-09"), rescinded=False).status is Status.CLOSED
