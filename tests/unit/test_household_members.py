"""Who is in a dibao household, month by month: members join and leave by reassessment, each
month's amount counts that month's members, and who-may-hold-what follows them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.application.ledger import Ledger
from domain.cases.amounts import monthly_amount
from domain.cases.fold import Decision, DecisionKind, Status, check_history, fold_months
from domain.cases.programmes import MEMBERS_JOINING, MEMBERS_LEAVING, CaseFacts, Programme
from domain.errors import CaseStateError, ExclusiveHoldingError, InvalidInputError
from domain.months import Month
from domain.people.person import PersonInput
from projections.engine.segments import case_segments
from tests.support import QIBIN, identity_number, memory_ledger, person, set_reference_standards
from tests.unit.test_case_segments import reference_standards

M = Month.parse
DIBAO = Programme.DIBAO_URBAN
STANDARD = {"standard": Decimal("600")}


def standards(programme: Programme, region: str, month: Month) -> dict[str, Decimal]:
    return STANDARD


def granted(*members: str, month: str = "2020-03", income: str = "200") -> Decision:
    facts = {"members": list(members), "income": Decimal(income)}
    return Decision(DecisionKind.GRANTED, M(month), 1, tuple(sorted(facts.items())))


def reassessed(month: str, position: int, **changes: object) -> Decision:
    return Decision(DecisionKind.REASSESSED, M(month), position, tuple(sorted(changes.items())))


def amounts(decisions: list[Decision], *months: str) -> list[str]:
    out = []
    for state in fold_months(DIBAO, decisions, [M(m) for m in months], rescinded=False):
        if state.is_payable and state.facts is not None and state.priced_month is not None:
            out.append(
                str(monthly_amount(DIBAO, QIBIN, state.facts, state.priced_month, standards))
            )
        else:
            out.append("0.00")
    return out


# The fold and the amounts, with no ledger.


def test_a_birth_joins_the_household_and_the_amount_rises_from_its_month() -> None:
    history = [granted("a", "b"), reassessed("2021-02", 2, **{MEMBERS_JOINING: ["baby"]})]
    assert amounts(history, "2021-01", "2021-02", "2022-01") == ["800.00", "1200.00", "1200.00"]
    states = fold_months(DIBAO, history, [M("2021-01"), M("2021-02")], rescinded=False)
    assert [s.members for s in states] == [("a", "b"), ("a", "b", "baby")]


def test_a_death_leaves_the_household_and_the_amount_falls_from_its_month() -> None:
    history = [granted("a", "b", "c"), reassessed("2021-05", 2, **{MEMBERS_LEAVING: ["b"]})]
    assert amounts(history, "2021-04", "2021-05") == ["1200.00", "800.00"]


def test_a_join_keeps_the_income_and_a_reassessment_may_change_both() -> None:
    history = [
        granted("a", "b"),
        reassessed("2021-02", 2, **{MEMBERS_JOINING: ["c"]}),
        reassessed("2021-06", 3, income=Decimal("300"), **{MEMBERS_LEAVING: ["a"]}),
    ]
    (february, june) = fold_months(DIBAO, history, [M("2021-02"), M("2021-06")], rescinded=False)
    assert (february.facts, june.facts) == (
        CaseFacts(members=("a", "b", "c"), income=Decimal("200")),
        CaseFacts(members=("b", "c"), income=Decimal("300")),
    )
    assert amounts(history, "2021-02", "2021-06") == ["1200.00", "600.00"]


def test_a_backdated_join_lands_in_its_month_before_later_decisions() -> None:
    history = [
        granted("a"),
        reassessed("2021-06", 2, income=Decimal("400")),
        reassessed("2021-02", 3, **{MEMBERS_JOINING: ["b"]}),
    ]
    check_history(DIBAO, history)
    assert amounts(history, "2021-01", "2021-02", "2021-06") == ["400.00", "800.00", "400.00"]


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({MEMBERS_LEAVING: ["z"]}, "leaving member 1 is not in the household in 2021-02"),
        ({MEMBERS_JOINING: ["x", "b"]}, "joining member 2 is in the household in 2021-02 already"),
        ({MEMBERS_LEAVING: ["a", "b"]}, "a household keeps at least one member"),
    ],
)
def test_a_household_change_that_does_not_fit_the_household_is_refused(
    changes: dict[str, list[str]], refusal: str
) -> None:
    with pytest.raises(CaseStateError, match=refusal):
        check_history(DIBAO, [granted("a", "b"), reassessed("2021-02", 2, **changes)])


def test_a_backdated_leave_that_would_undo_a_later_leave_is_refused() -> None:
    history = [granted("a", "b", "c"), reassessed("2021-06", 2, **{MEMBERS_LEAVING: ["b"]})]
    with pytest.raises(CaseStateError, match="leaving member 1 is not in the household in 2021-06"):
        check_history(DIBAO, [*history, reassessed("2021-02", 3, **{MEMBERS_LEAVING: ["b"]})])


def test_a_member_who_left_may_join_again_later() -> None:
    history = [
        granted("a", "b"),
        reassessed("2021-02", 2, **{MEMBERS_LEAVING: ["b"]}),
        reassessed("2021-08", 3, **{MEMBERS_JOINING: ["b"]}),
    ]
    check_history(DIBAO, history)
    assert amounts(history, "2021-01", "2021-02", "2021-08") == ["800.00", "400.00", "800.00"]


def test_members_who_change_during_a_gradual_exit_leave_its_frozen_amount_alone() -> None:
    exit_starts = Decision(DecisionKind.GRADUAL_EXIT_STARTED, M("2021-01"), 2, (), 6)
    history = [
        granted("a", "b", "c"),
        exit_starts,
        reassessed("2021-03", 3, **{MEMBERS_LEAVING: ["c"]}),
        reassessed("2021-04", 4, **{MEMBERS_JOINING: ["d", "e"]}),
    ]
    check_history(DIBAO, history)
    assert amounts(history, "2020-12", "2021-03", "2021-04", "2021-06", "2021-07") == [
        "1200.00",
        "1200.00",
        "1200.00",
        "1200.00",
        "0.00",
    ]
    (april,) = fold_months(DIBAO, history, [M("2021-04")], rescinded=False)
    assert (april.status, april.members) == (Status.LEAVING, ("a", "b", "d", "e"))
    with pytest.raises(CaseStateError, match="leaving gradually"):
        check_history(DIBAO, [*history, reassessed("2021-05", 5, income=Decimal("100"))])


def test_the_views_price_each_month_with_its_members() -> None:
    history = [
        granted("a", "b"),
        reassessed("2021-02", 2, **{MEMBERS_JOINING: ["c"]}),
        reassessed("2021-05", 3, **{MEMBERS_LEAVING: ["a"]}),
    ]
    segments = case_segments(DIBAO, QIBIN, history, reference_standards(), rescinded=False)
    assert [(str(s.valid_from), str(s.valid_to), str(s.amount)) for s in segments] == [
        ("2020-03", "2021-02", "800.00"),
        ("2021-02", "2021-05", "1200.00"),
        ("2021-05", "None", "800.00"),
    ]


# The ledger in memory: the members' identities, and who may hold what.


@pytest.fixture
def ledger() -> Ledger:
    ledger = memory_ledger()
    set_reference_standards(ledger)
    return ledger


def household(ledger: Ledger, *serials: int) -> UUID:
    members = [person(date(1980, 1, 1), serial) for serial in serials]
    return ledger.grant(
        "dibao-urban", QIBIN, "2020-03", members, income="200", actor="cw", reason="applied"
    ).id


def money(ledger: Ledger, case: UUID, *months: str) -> list[str]:
    return [str(ledger.monthly_amount(case, month)) for month in months]


def test_a_newborn_joins_with_a_checked_identity_and_the_ledger_pays_for_three(
    ledger: Ledger,
) -> None:
    case = household(ledger, 1, 2)
    baby = PersonInput(identity_number(date(2021, 1, 15), 3), "小宝", date(2021, 1, 15))
    ledger.reassess(case, "2021-02", {}, joining=[baby], actor="cw", reason="birth")
    assert money(ledger, case, "2021-01", "2021-02") == ["800.00", "1200.00"]
    assert [p["name"].reveal() for p in ledger.case(case).persons][-1] == "小宝"
    wrong_birth = PersonInput(identity_number(date(2021, 1, 15), 4), "小二", date(2021, 1, 16))
    with pytest.raises(InvalidInputError, match="birth date"):
        ledger.reassess(case, "2021-03", {}, joining=[wrong_birth], actor="cw", reason="birth")


def test_a_member_named_by_identity_number_leaves_and_the_amount_falls(ledger: Ledger) -> None:
    case = household(ledger, 1, 2, 3)
    leaving = identity_number(date(1980, 1, 1), 2)
    ledger.reassess(case, "2021-05", {}, leaving=[leaving], actor="cw", reason="death")
    assert money(ledger, case, "2021-04", "2021-05") == ["1200.00", "800.00"]


def test_an_empty_household_is_an_exit_not_a_reassessment(ledger: Ledger) -> None:
    case = household(ledger, 1)
    position = ledger.position
    with pytest.raises(CaseStateError, match="record an exit instead"):
        ledger.reassess(
            case,
            "2021-05",
            {},
            leaving=[identity_number(date(1980, 1, 1), 1)],
            actor="cw",
            reason="moved",
        )
    assert ledger.position == position


def test_only_a_dibao_household_changes_members(ledger: Ledger) -> None:
    case = ledger.grant(
        "disability-living",
        QIBIN,
        "2020-01",
        [person(date(1960, 1, 1), 9)],
        grade=1,
        actor="cw",
        reason="x",
    ).id
    with pytest.raises(InvalidInputError, match="only a dibao household"):
        ledger.reassess(
            case, "2021-01", {}, joining=[person(date(1990, 1, 1), 8)], actor="cw", reason="x"
        )


def test_a_person_who_holds_tekun_may_not_join_a_household(ledger: Ledger) -> None:
    someone = person(date(1950, 6, 6), 7)
    ledger.grant(
        "tekun", QIBIN, "2020-01", [someone], area="urban", tier="self", actor="cw", reason="x"
    )
    case = household(ledger, 1, 2)
    position = ledger.position
    with pytest.raises(ExclusiveHoldingError) as refusal:
        ledger.reassess(case, "2021-02", {}, joining=[someone], actor="cw", reason="moved in")
    assert "joining member 1 already holds tekun" in refusal.value.message
    assert someone.identity_number not in refusal.value.message
    assert ledger.position == position


def test_a_person_in_one_household_may_not_join_another(ledger: Ledger) -> None:
    first, second = household(ledger, 1, 2), household(ledger, 3)
    with pytest.raises(ExclusiveHoldingError, match="joining member 2 already holds dibao-urban"):
        ledger.reassess(
            second,
            "2021-02",
            {},
            joining=[person(date(1990, 1, 1), 4), person(date(1980, 1, 1), 2)],
            actor="cw",
            reason="moved in",
        )
    ledger.reassess(
        first, "2021-02", {}, leaving=[identity_number(date(1980, 1, 1), 2)], actor="cw", reason="x"
    )
    ledger.reassess(
        second, "2021-02", {}, joining=[person(date(1980, 1, 1), 2)], actor="cw", reason="moved"
    )
    assert money(ledger, first, "2021-02") == ["400.00"]
    assert money(ledger, second, "2021-01", "2021-02") == ["400.00", "800.00"]


def test_a_member_who_left_may_take_tekun_from_the_month_they_left(ledger: Ledger) -> None:
    case = household(ledger, 1, 2)
    leaver = person(date(1980, 1, 1), 2)
    ledger.reassess(
        case, "2021-05", {}, leaving=[leaver.identity_number], actor="cw", reason="moved out"
    )
    with pytest.raises(
        ExclusiveHoldingError, match=r"holds dibao-urban case \S+ from 2020-03 until 2021-04"
    ):
        ledger.grant(
            "tekun", QIBIN, "2021-04", [leaver], area="urban", tier="self", actor="cw", reason="x"
        )
    ledger.grant(
        "tekun", QIBIN, "2021-05", [leaver], area="urban", tier="self", actor="cw", reason="x"
    )


def test_a_joining_member_holds_dibao_until_the_household_exits(ledger: Ledger) -> None:
    case = household(ledger, 1)
    joiner = person(date(1990, 1, 1), 5)
    ledger.reassess(case, "2021-02", {}, joining=[joiner], actor="cw", reason="married in")
    ledger.exit(case, "2021-09", actor="cw", reason="moved away")
    with pytest.raises(ExclusiveHoldingError, match="until 2021-08"):
        ledger.grant(
            "tekun", QIBIN, "2021-08", [joiner], area="urban", tier="self", actor="cw", reason="x"
        )
    ledger.grant(
        "tekun", QIBIN, "2021-09", [joiner], area="urban", tier="self", actor="cw", reason="x"
    )


def test_a_rescinded_household_frees_the_members_who_joined_it(ledger: Ledger) -> None:
    case = household(ledger, 1)
    joiner = person(date(1990, 1, 1), 5)
    ledger.reassess(case, "2021-02", {}, joining=[joiner], actor="cw", reason="married in")
    ledger.request_rescission(case, actor="cw", reason="forged")
    ledger.approve_rescission(case, actor="approver", reason="confirmed")
    ledger.grant(
        "tekun", QIBIN, "2021-02", [joiner], area="urban", tier="self", actor="cw", reason="x"
    )
