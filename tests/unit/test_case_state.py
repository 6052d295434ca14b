"""What the views keep of a case between batches: its decisions as JSON, read back exactly,
so that a case priced again after a restart is priced as before."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cases.case import Case
from domain.cases.fold import Decision, DecisionKind
from domain.cases.programmes import Programme
from domain.months import Month
from projections.engine.case_state import CaseState
from projections.engine.relief_state import ReliefState
from projections.engine.segments import case_segments
from tests.unit.test_case_segments import REGION, reference_standards

M = Month.parse


def household_history() -> list[Decision]:
    return [
        Case.granted_decision(
            M("2020-03"), {"members": ["person-1", "person-2"], "income": Decimal("200.50")}
        ),
        Decision(DecisionKind.REASSESSED, M("2020-07"), 2, (("income", Decimal("310.25")),)),
        Decision(DecisionKind.SUSPENDED, M("2020-09"), 3),
        Decision(DecisionKind.RESUMED, M("2020-11"), 4),
        Decision(DecisionKind.GRADUAL_EXIT_STARTED, M("2021-01"), 5, months=6),
        Decision(DecisionKind.EXITED, M("2021-05"), 6),
    ]


def read_back(state: CaseState) -> CaseState:
    return CaseState.from_json(state.programme.value, state.region, state.to_json())


def test_a_household_history_reads_back_with_every_decision_and_amount_to_the_fen() -> None:
    state = CaseState(Programme.DIBAO_URBAN, REGION, household_history())
    again = read_back(state)
    assert again == state
    assert dict(again.decisions[0].changes)["income"] == Decimal("200.50")
    assert dict(again.decisions[0].changes)["members"] == ["person-1", "person-2"]
    assert again.decisions[4].months == 6


@pytest.mark.parametrize(
    ("programme", "facts"),
    [
        (Programme.ELDERLY_ALLOWANCE, {"birth_date": date(1932, 2, 29)}),
        (Programme.TEKUN, {"area": "rural", "tier": "partial"}),
        (Programme.DISABILITY_LIVING, {"grade": 3}),
        (Programme.ORPHAN, {"birth_date": date(2004, 5, 20), "care": "dispersed"}),
    ],
    ids=["elderly", "tekun", "disability", "orphan"],
)
def test_the_facts_of_every_programme_read_back_as_granted(
    programme: Programme, facts: dict[str, Any]
) -> None:
    state = CaseState(programme, REGION, [Case.granted_decision(M("2020-03"), facts)])
    again = read_back(state)
    assert again == state
    assert dict(again.decisions[0].changes) == facts


def test_a_rescinded_case_stays_rescinded_when_read_back() -> None:
    state = CaseState(Programme.DIBAO_URBAN, REGION, household_history(), rescinded=True)
    assert read_back(state).rescinded


def test_a_case_read_back_is_priced_month_by_month_as_before() -> None:
    state = CaseState(Programme.DIBAO_URBAN, REGION, household_history())
    again = read_back(state)
    standards = reference_standards()
    before = case_segments(
        state.programme, REGION, state.decisions, standards, rescinded=state.rescinded
    )
    after = case_segments(
        again.programme, REGION, again.decisions, standards, rescinded=again.rescinded
    )
    assert after == before
    # (600 - 200.50) x 2 from March; (600 - 310.25) x 2 from July; nothing while suspended.
    assert [(str(s.valid_from), str(s.amount), s.status) for s in after][:3] == [
        ("2020-03", "799.00", "paying"),
        ("2020-07", "579.50", "paying"),
        ("2020-09", "0.00", "suspended"),
    ]


def test_money_is_kept_as_text_never_as_a_binary_float() -> None:
    text = CaseState(Programme.DIBAO_URBAN, REGION, household_history()).to_json()

    def refuse_floats(number: str) -> float:
        raise AssertionError(f"{number} is stored as a float")

    json.loads(text, parse_float=refuse_floats)


def test_a_relief_reads_back_with_its_date_amount_and_kind() -> None:
    relief = ReliefState(date(2020, 2, 29), Decimal("300.50"), "emergency")
    again = ReliefState.from_json(relief.to_json())
    assert again == relief
    assert str(again.month) == "2020-02"


references = st.text("0123456789abcdef", min_size=64, max_size=64)  # as HMAC digests
incomes = st.decimals(min_value=0, max_value=9999, places=2, allow_nan=False, allow_infinity=False)
changes = st.one_of(
    st.fixed_dictionaries({"income": incomes}),
    st.fixed_dictionaries({"members": st.lists(references, max_size=4)}),
    st.fixed_dictionaries({"birth_date": st.dates(date(1900, 1, 1), date(2030, 12, 31))}),
    st.fixed_dictionaries({"grade": st.integers(1, 4)}),
    st.fixed_dictionaries(
        {"area": st.sampled_from(["urban", "rural"]), "tier": st.sampled_from(["self", "full"])}
    ),
    st.fixed_dictionaries({"care": st.sampled_from(["institutional", "dispersed"])}),
)
decisions = st.builds(
    Decision,
    kind=st.sampled_from(list(DecisionKind)),
    effective=st.integers(1900 * 12, 2100 * 12).map(Month),
    position=st.integers(1, 10_000),
    changes=changes.map(lambda c: tuple(sorted(c.items()))),
    months=st.integers(0, 12),
)


@given(
    programme=st.sampled_from(list(Programme)),
    history=st.lists(decisions, max_size=8),
    rescinded=st.booleans(),
)
def test_any_case_state_reads_back_unchanged(
    programme: Programme, history: list[Decision], rescinded: bool
) -> None:
    state = CaseState(programme, REGION, history, rescinded)
    assert read_back(state) == state
