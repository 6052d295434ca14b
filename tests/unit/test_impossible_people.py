"""Nobody born after the decision, or older than the oldest people living, is granted anything;
the elderly allowance of a centenarian still is."""

from __future__ import annotations

from datetime import date

import pytest

from api.core.settings import Settings
from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.errors import ImplausibleBirthDateError
from domain.people.person import PersonInput
from tests.support import QIBIN, at, identity_number, memory_ledger, set_reference_standards

DECIDED = "2021-03-02 10:00"  # the decisions' record time


@pytest.fixture
def ledger() -> Ledger:
    ledger = memory_ledger()
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    return ledger


def grant_disability(ledger: Ledger, *births: date, birth_date: date | None = None) -> None:
    persons = [
        PersonInput(identity_number(birth, n), f"某{n}", birth_date)
        for n, birth in enumerate(births, start=1)
    ]
    programme = "dibao-urban" if len(persons) > 1 else "disability-living"
    ledger.grant(
        programme,
        QIBIN,
        "2021-03",
        persons,
        grade=1 if programme == "disability-living" else None,
        income="100" if programme == "dibao-urban" else None,
        actor="cw",
        reason="r",
        uow=SaveAt(ledger, at(DECIDED)),
    )


@pytest.mark.parametrize("birth", [date(2099, 1, 1), date(2021, 3, 3), date(1800, 1, 1)])
def test_a_grant_to_someone_born_after_the_decision_or_long_dead_is_refused(
    ledger: Ledger, birth: date
) -> None:
    before = ledger.position
    with pytest.raises(ImplausibleBirthDateError) as refused:
        grant_disability(ledger, birth)
    assert refused.value.field == "persons[0].identity_number"
    assert ledger.position == before


def test_the_refusal_names_the_household_member_and_the_field_they_gave(ledger: Ledger) -> None:
    with pytest.raises(ImplausibleBirthDateError) as refused:
        grant_disability(ledger, date(1980, 1, 1), date(2030, 6, 1))
    assert refused.value.field == "persons[1].identity_number"
    with pytest.raises(ImplausibleBirthDateError) as refused:
        grant_disability(ledger, date(2030, 6, 1), birth_date=date(2030, 6, 1))
    assert refused.value.field == "persons[0].birth_date"


def test_someone_born_on_the_day_of_the_decision_or_aged_exactly_the_limit_is_granted(
    ledger: Ledger,
) -> None:
    grant_disability(ledger, date(2021, 3, 2))
    grant_disability(ledger, date(1890, 3, 3))  # 130, and 131 the day after the decision
    with pytest.raises(ImplausibleBirthDateError, match="older than 130"):
        grant_disability(ledger, date(1890, 3, 2))  # 131 on the day of the decision


def test_relief_to_an_impossible_person_is_refused_naming_the_person(ledger: Ledger) -> None:
    with pytest.raises(ImplausibleBirthDateError) as refused:
        ledger.grant_relief(
            QIBIN,
            "urban",
            "expenditure",
            date(2021, 3, 1),
            1,
            "100",
            PersonInput(identity_number(date(2099, 1, 1), 9), "某"),
            actor="cw",
            reason="r",
            uow=SaveAt(ledger, at(DECIDED)),
        )
    assert refused.value.field == "person.identity_number"


def test_the_elderly_allowance_of_a_centenarian_is_granted(ledger: Ledger) -> None:
    case = ledger.grant(
        "elderly-allowance",
        QIBIN,
        "2021-03",
        [PersonInput(identity_number(date(1920, 1, 1), 5), "寿星")],
        actor="cw",
        reason="r",
        uow=SaveAt(ledger, at(DECIDED)),
    ).id
    assert str(ledger.monthly_amount(case, "2021-03")) == "300.00"


def test_the_age_limit_is_a_setting() -> None:
    env = Settings(database_url="memory:", max_age_years=100).ledger_env()
    strict = Ledger(env)
    set_reference_standards(strict, uow=SaveAt(strict, at("2019-01-02 09:00")))
    with pytest.raises(ImplausibleBirthDateError, match="older than 100"):
        grant_disability(strict, date(1920, 1, 1))
