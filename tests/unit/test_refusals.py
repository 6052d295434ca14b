"""A request waiting for a second person may be refused, with a reason, by someone other
than its requester: a refused relief is never paid and cannot be approved later; a case
whose rescission is refused goes on, and its rescission may be requested again."""

from __future__ import annotations

import pytest

from domain.application.ledger import Ledger
from domain.errors import CaseStateError, FourEyesError
from domain.relief import ReliefStatus
from tests.support import memory_ledger, set_reference_standards
from tests.unit.test_four_eyes import relief_above_the_cap, rescission_requested


@pytest.fixture
def ledger() -> Ledger:
    ledger = memory_ledger()
    set_reference_standards(ledger)
    return ledger


def test_a_refused_relief_keeps_who_refused_it_and_can_no_longer_be_approved(
    ledger: Ledger,
) -> None:
    relief = relief_above_the_cap(ledger, "alice")
    ledger.refuse_relief(relief, actor="bob", reason="not in need")
    refused = ledger.relief(relief)
    assert (refused.status, refused.refused_by, refused.granted) == (
        ReliefStatus.REFUSED,
        "bob",
        False,
    )
    assert refused.refused_at is not None
    position = ledger.position
    with pytest.raises(CaseStateError, match="refused already, by bob"):
        ledger.approve_relief(relief, actor="carol", reason="changed my mind")
    with pytest.raises(CaseStateError, match="refused already"):
        ledger.refuse_relief(relief, actor="carol", reason="again")
    assert ledger.position == position


def test_the_requester_may_not_refuse_their_own_relief(ledger: Ledger) -> None:
    relief = relief_above_the_cap(ledger, "alice")
    with pytest.raises(FourEyesError, match="refused by someone other than its requester"):
        ledger.refuse_relief(relief, actor="ALICE", reason="withdrawn")
    assert ledger.relief(relief).status is ReliefStatus.AWAITING_APPROVAL


def test_a_granted_relief_cannot_be_refused(ledger: Ledger) -> None:
    relief = relief_above_the_cap(ledger, "alice")
    ledger.approve_relief(relief, actor="bob", reason="checked")
    with pytest.raises(CaseStateError, match="granted already"):
        ledger.refuse_relief(relief, actor="carol", reason="too late")


def test_a_refused_rescission_leaves_the_case_paid_and_may_be_requested_again(
    ledger: Ledger,
) -> None:
    case = rescission_requested(ledger, "alice")
    with pytest.raises(FourEyesError, match="refused by someone other than its requester"):
        ledger.refuse_rescission(case, actor="alice", reason="mine")
    ledger.refuse_rescission(case, actor="bob", reason="the certificate is genuine")
    kept = ledger.case(case)
    assert (kept.rescinded, kept.rescission_requested_by) == (False, None)
    assert ledger.monthly_amount(case, "2019-05") > 0
    with pytest.raises(CaseStateError, match="no rescission of this case is waiting"):
        ledger.approve_rescission(case, actor="bob", reason="refused, so nothing waits")
    ledger.request_rescission(case, actor="dave", reason="new evidence")
    ledger.approve_rescission(case, actor="bob", reason="confirmed")
    assert ledger.case(case).rescinded
    assert ledger.monthly_amount(case, "2019-05") == 0
