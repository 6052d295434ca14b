"""A person named in a decision: validated, then carried sealed and looked up by reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.ages import age_on
from domain.errors import ImplausibleBirthDateError, InvalidInputError
from domain.people.identity import IdentityNumber, PersonReferences
from domain.people.personal_data import PersonalData

MAX_NAME_LENGTH = 100
DEFAULT_MAX_AGE_YEARS = 130  # older than anyone known to have lived


@dataclass(frozen=True)
class PersonInput:
    """A person as a caseworker enters them; the birth date, when given, is cross-checked."""

    identity_number: str
    name: str
    birth_date: date | None = None

    def __repr__(self) -> str:
        return "PersonInput(***)"


@dataclass(frozen=True)
class Person:
    reference: str
    identity_number: IdentityNumber
    name: str

    @property
    def birth_date(self) -> date:
        return self.identity_number.birth_date

    def to_event(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "identity_number": PersonalData(self.identity_number.value),
            "name": PersonalData(self.name),
        }


def identify(person: PersonInput, references: PersonReferences) -> Person:
    number = IdentityNumber.parse(person.identity_number, birth_date=person.birth_date)
    name = person.name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInputError(
            f"a name is 1 to {MAX_NAME_LENGTH} printable characters", field="name"
        )
    return Person(references.reference(number), number, name)


def check_lifetime(birth_date: date, day: date, max_age_years: int, *, field: str) -> None:
    """Refuse a person born after ``day`` (the decision's) or older than ``max_age_years``
    on it: such a birth date is a mistyped identity number, not a person to pay."""
    if birth_date > day:
        raise ImplausibleBirthDateError(
            f"the birth date in the identity number is after the day of the decision ({day}): "
            "please re-type the number",
            field=field,
        )
    if age_on(day, birth_date) > max_age_years:
        raise ImplausibleBirthDateError(
            f"the birth date in the identity number makes the person older than "
            f"{max_age_years} on the day of the decision ({day}): please re-type the number",
            field=field,
        )
