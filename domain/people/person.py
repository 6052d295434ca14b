"""A person named in a decision: validated, then carried sealed and looked up by reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.errors import InvalidInputError
from domain.people.identity import IdentityNumber, PersonReferences
from domain.people.personal_data import PersonalData

MAX_NAME_LENGTH = 100


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
