"""Four eyes: a request is approved by another person, however the requester spells their
name; who requested and who approved is kept."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from domain.actors import canonical_identity, same_person
from domain.application.ledger import Ledger
from domain.errors import FourEyesError
from domain.relief import ReliefStatus
from tests.support import QIBIN, memory_ledger, person, set_reference_standards

# How "alice" may come back spelled when she tries to approve her own request.
SAME_PERSON = [
    "alice",
    "Alice",
    "ALICE",
    "alice ",
    " alice",
    "\talice\n",
    "\uff41\uff4c\uff49\uff43\uff45",  # full-width letters
    "\uff21\uff4c\uff49\uff43\uff45",  # full-width, capitalised
    "alice\u200b",  # a zero-width space
    "al\u00adice",  # a soft hyphen
    "alice\u3000",  # an ideographic space
]


@pytest.fixture
def ledger() -> Ledger:
    ledger = memory_ledger()
    set_reference_standards(ledger)
    return ledger


def relief_above_the_cap(ledger: Ledger, requester: str) -> UUID:
    return ledger.grant_relief(
        QIBIN,
        "urban",
        "expenditure",
        date(2020, 5, 1),
        2,
        "7200.01",
        person(date(1970, 1, 1)),
        actor=requester,
        reason="medical bills",
    ).id


def rescission_requested(ledger: Ledger, requester: str) -> UUID:
    case = ledger.grant(
        "disability-living",
        QIBIN,
        "2019-04",
        [person(date(1955, 5, 5))],
        grade=1,
        actor="cw-1",
        reason="x",
    ).id
    ledger.request_rescission(case, actor=requester, reason="forged certificate")
    return case


@pytest.mark.parametrize("spelling", SAME_PERSON)
def test_each_spelling_of_a_name_is_the_same_identity(spelling: str) -> None:
    assert canonical_identity(spelling) == "alice"
    assert same_person(spelling, "alice")


def test_a_case_folded_german_sharp_s_and_inner_spaces_compare_alike() -> None:
    assert same_person("STRASSE", "straße")
    assert same_person("wang  fang", "Wang Fang")
    assert not same_person("alice", "alicia")
    assert not same_person("alice", None)


@pytest.mark.parametrize("spelling", SAME_PERSON)
def test_the_requester_spelled_another_way_may_not_approve_a_relief_above_the_cap(
    ledger: Ledger, spelling: str
) -> None:
    relief = relief_above_the_cap(ledger, "alice")
    position = ledger.position
    with pytest.raises(FourEyesError, match="someone other than its requester"):
        ledger.approve_relief(relief, actor=spelling, reason="mine")
    assert ledger.position == position
    assert ledger.relief(relief).status is ReliefStatus.AWAITING_APPROVAL


@pytest.mark.parametrize("spelling", SAME_PERSON)
def test_the_requester_spelled_another_way_may_not_approve_a_rescission(
    ledger: Ledger, spelling: str
) -> None:
    case = rescission_requested(ledger, "alice")
    position = ledger.position
    with pytest.raises(FourEyesError, match="someone other than its requester"):
        ledger.approve_rescission(case, actor=spelling, reason="mine")
    assert ledger.position == position
    assert not ledger.case(case).rescinded


def test_a_relief_keeps_who_requested_it_and_who_approved_it(ledger: Ledger) -> None:
    relief = relief_above_the_cap(ledger, "Alice ")
    ledger.approve_relief(relief, actor="bob", reason="checked")
    approved = ledger.relief(relief)
    assert (approved.requested_by, approved.approved_by) == ("Alice ", "bob")
    assert approved.status is ReliefStatus.GRANTED
    assert approved.approved_at is not None
    assert ledger.relief(relief, version=1).status is ReliefStatus.AWAITING_APPROVAL


def test_a_relief_up_to_the_cap_is_granted_by_its_requester_alone(ledger: Ledger) -> None:
    relief = ledger.grant_relief(
        QIBIN,
        "urban",
        "expenditure",
        date(2020, 5, 1),
        2,
        "7200.00",
        person(date(1970, 1, 1)),
        actor="alice",
        reason="medical bills",
    ).id
    granted = ledger.relief(relief)
    assert (granted.status, granted.requested_by, granted.approved_by) == (
        ReliefStatus.GRANTED,
        "alice",
        None,
    )


def test_a_case_keeps_who_requested_its_rescission_and_who_approved_it(ledger: Ledger) -> None:
    case = rescission_requested(ledger, "alice")
    ledger.approve_rescission(case, actor="bob", reason="confirmed")
    rescinded = ledger.case(case)
    assert (rescinded.rescission_requested_by, rescinded.rescission_approved_by) == (
        "alice",
        "bob",
    )
