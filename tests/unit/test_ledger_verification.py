"""Verifications on the command side, in memory: recorded once per request, checked for
the household, and what a dibao or tekun decision citing one records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.cases.case import Case
from domain.errors import (
    CaseStateError,
    IncomeDiffersFromVerificationError,
    InvalidInputError,
    StaleVerificationError,
    VerificationHouseholdError,
    VerificationRequiredError,
)
from domain.months import BUREAU_TIME_ZONE
from domain.people.person import PersonInput
from tests.support import (
    QIBIN,
    at,
    memory_ledger,
    person,
    set_reference_standards,
    verified_household,
)

HOUSEHOLD = [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)]


@pytest.fixture
def ledger() -> Ledger:
    ledger = memory_ledger(verifications_required=True)
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    return ledger


def grant(ledger: Ledger, persons: list[PersonInput], when: str, **options: Any) -> UUID:
    return ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-03",
        persons,
        actor="cw",
        reason="applied",
        uow=SaveAt(ledger, at(when)),
        **options,
    ).id


def test_a_dibao_or_tekun_grant_without_a_verification_is_refused(ledger: Ledger) -> None:
    position = ledger.position
    with pytest.raises(VerificationRequiredError):
        grant(ledger, HOUSEHOLD, "2020-03-02 10:00", income="200")
    with pytest.raises(VerificationRequiredError):
        ledger.grant(
            "tekun",
            QIBIN,
            "2020-03",
            HOUSEHOLD[:1],
            area="urban",
            tier="self",
            actor="cw",
            reason="alone",
            uow=SaveAt(ledger, at("2020-03-02 10:00")),
        )
    assert ledger.position == position


def test_history_before_the_day_verifications_began_needs_none() -> None:
    ledger = Ledger({**memory_ledger().env, "LEDGER_VERIFICATION_REQUIRED_FROM": "2021-01-01"})
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    grant(ledger, HOUSEHOLD, "2020-12-31 23:00", income="200")
    with pytest.raises(VerificationRequiredError):
        grant(ledger, [person(date(1990, 1, 1), 5)], "2021-01-01 00:30", income="200")


def test_the_grant_uses_the_verified_income_unless_a_reason_covers_the_difference(
    ledger: Ledger,
) -> None:
    uow = SaveAt(ledger, at("2020-03-02 10:00"))
    verification = verified_household(ledger, HOUSEHOLD, "200", uow=uow)
    within = grant(
        ledger, HOUSEHOLD, "2020-03-02 10:00", income="225", verification_id=verification
    )
    assert ledger.monthly_amount(within, "2020-03") == Decimal("800.00")
    others = [person(date(1970, 1, 1), 3), person(date(1971, 1, 1), 4)]
    verification = verified_household(ledger, others, "200", uow=uow)
    with pytest.raises(IncomeDiffersFromVerificationError):
        grant(ledger, others, "2020-03-02 10:00", income="240", verification_id=verification)
    declared = grant(
        ledger,
        others,
        "2020-03-02 10:00",
        income="240",
        verification_id=verification,
        income_reason="a pension stopped",
    )
    assert ledger.monthly_amount(declared, "2020-03") == Decimal("720.00")
    (event,) = [e for e in ledger.events.get(declared) if isinstance(e, Case.Granted)]
    assert event.verification is not None
    assert event.verification["income_reason"] == "a pension stopped"
    assert event.verification["income_difference"].reveal() == "40.00"
    assert event.verification["review_months"] == 6


def test_a_verification_older_than_the_validity_is_refused_naming_it(ledger: Ledger) -> None:
    verification = verified_household(ledger, HOUSEHOLD, uow=SaveAt(ledger, at("2020-01-02 10:00")))
    with pytest.raises(StaleVerificationError, match=str(verification)):
        grant(ledger, HOUSEHOLD, "2020-04-02 10:00", income="200", verification_id=verification)


def test_a_verification_of_another_household_is_refused(ledger: Ledger) -> None:
    uow = SaveAt(ledger, at("2020-03-02 10:00"))
    verification = verified_household(ledger, HOUSEHOLD[:1], uow=uow)
    with pytest.raises(VerificationHouseholdError):
        grant(ledger, HOUSEHOLD, "2020-03-02 10:00", income="200", verification_id=verification)


def test_a_request_is_answered_once_and_incomes_name_every_member_once(ledger: Ledger) -> None:
    numbers = [p.identity_number for p in HOUSEHOLD]
    requested = ledger.request_verification(numbers, actor="cw").id
    with pytest.raises(VerificationRequiredError, match="has not answered yet"):
        grant(ledger, HOUSEHOLD, "2099-01-01 10:00", income="200", verification_id=requested)

    def answer(incomes: list[tuple[str, object]], sources: list[str]) -> None:
        ledger.answer_verification(
            requested,
            incomes,
            sources=sources,
            made_on=datetime.now(BUREAU_TIME_ZONE).date(),
            level="province",
            report_id="P-1",
            actor="platform",
        )

    with pytest.raises(InvalidInputError, match="each member"):
        answer([(numbers[0], "100")], ["wages"])
    with pytest.raises(InvalidInputError, match="sources"):
        answer([(n, "100") for n in numbers], ["lottery"])
    answer([(numbers[0], "150"), (numbers[1], "50")], ["wages", "pensions"])
    assert ledger.verification(requested).per_capita_income == Decimal("100.00")
    with pytest.raises(CaseStateError, match="already answered by province report P-1"):
        answer([(n, "100") for n in numbers], ["wages"])
