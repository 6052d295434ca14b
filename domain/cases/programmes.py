"""The programmes the bureau pays, their standard parameters and the facts a case carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.errors import InvalidInputError
from domain.money import require_money


class Programme(StrEnum):
    DIBAO_URBAN = "dibao-urban"
    DIBAO_RURAL = "dibao-rural"
    TEKUN = "tekun"
    ELDERLY_ALLOWANCE = "elderly-allowance"
    DISABILITY_LIVING = "disability-living"
    DISABILITY_NURSING = "disability-nursing"
    ORPHAN = "orphan"
    TEMPORARY_RELIEF = "temporary-relief"

    @property
    def is_dibao(self) -> bool:
        return self in (Programme.DIBAO_URBAN, Programme.DIBAO_RURAL)

    @property
    def exclusion_group(self) -> str:
        """Urban and rural dibao count as one programme for who-may-hold-what."""
        return "dibao" if self.is_dibao else self.value


CASE_PROGRAMMES = tuple(p for p in Programme if p is not Programme.TEMPORARY_RELIEF)

# Pairs of exclusion groups a person may not hold in the same month (besides the same group).
EXCLUSIVE_GROUPS = frozenset({frozenset({"dibao", "tekun"}), frozenset({"orphan", "tekun"})})

STANDARD_PARAMETERS: dict[Programme, tuple[str, ...]] = {
    Programme.DIBAO_URBAN: ("standard",),
    Programme.DIBAO_RURAL: ("standard",),
    Programme.TEKUN: ("basic_urban", "basic_rural", "care_self", "care_partial", "care_full"),
    Programme.ELDERLY_ALLOWANCE: ("age_80_89", "age_90_99", "age_100_plus"),
    Programme.DISABILITY_LIVING: ("standard",),
    Programme.DISABILITY_NURSING: ("standard",),
    Programme.ORPHAN: ("institutional", "dispersed"),
}

AREAS = ("urban", "rural")
CARE_TIERS = ("self", "partial", "full")
ORPHAN_CARE = ("institutional", "dispersed")


def dibao_programme_for(area: str) -> Programme:
    return Programme.DIBAO_URBAN if area == "urban" else Programme.DIBAO_RURAL


def parse_programme(text: str) -> Programme:
    try:
        return Programme(text)
    except ValueError:
        known = ", ".join(p.value for p in Programme)
        raise InvalidInputError(
            f"unknown programme {text!r}; the programmes are {known}", field="programme"
        ) from None


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """The facts of a case that its monthly amount depends on; unused fields stay None."""

    members: tuple[str, ...] = ()  # dibao: person references of every household member
    income: Decimal | None = None  # dibao: assessed per-capita monthly income
    area: str | None = None  # tekun: urban or rural
    tier: str | None = None  # tekun: care tier
    birth_date: date | None = None  # elderly allowance, orphan
    grade: int | None = None  # disability certificate grade
    care: str | None = None  # orphan: institutional or dispersed

    def to_event(self) -> dict[str, Any]:
        """The facts as plain values for an event, leaving out those not set."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None or value == ():
                continue
            out[field.name] = list(value) if field.name == "members" else value
        return out

    def updated(self, data: dict[str, Any]) -> CaseFacts:
        changes = dict(data)
        if "members" in changes:
            changes["members"] = tuple(changes["members"])
        return replace(self, **changes)

    def reassessed(self, changes: Mapping[str, Any]) -> CaseFacts:
        """The facts after a reassessment: the facts it gives replace those before; members
        joining (by reference) are added after the others, members leaving are taken out.
        A join or a leave changes the members only, never the per-capita income."""
        values = dict(changes)
        joining = tuple(values.pop(MEMBERS_JOINING, ()))
        leaving = frozenset(values.pop(MEMBERS_LEAVING, ()))
        facts = self.updated(values)
        if not joining and not leaving:
            return facts
        staying = tuple(m for m in facts.members if m not in leaving)
        return replace(facts, members=staying + joining)


# A reassessment of a dibao household may change who is in it, from its effective month.
MEMBERS_JOINING = "members_joining"  # in the event, each joining person; in the fold, refs
MEMBERS_LEAVING = "members_leaving"  # the references of the members who leave
MEMBERSHIP_CHANGES = (MEMBERS_JOINING, MEMBERS_LEAVING)


# Which facts each programme requires, and which a reassessment may change.
REQUIRED_FACTS: dict[Programme, tuple[str, ...]] = {
    Programme.DIBAO_URBAN: ("members", "income"),
    Programme.DIBAO_RURAL: ("members", "income"),
    Programme.TEKUN: ("area", "tier"),
    Programme.ELDERLY_ALLOWANCE: ("birth_date",),
    Programme.DISABILITY_LIVING: ("grade",),
    Programme.DISABILITY_NURSING: ("grade",),
    Programme.ORPHAN: ("birth_date", "care"),
}
REASSESSABLE_FACTS: dict[Programme, tuple[str, ...]] = {
    Programme.DIBAO_URBAN: ("income",),
    Programme.DIBAO_RURAL: ("income",),
    Programme.TEKUN: ("area", "tier"),
    Programme.ELDERLY_ALLOWANCE: (),
    Programme.DISABILITY_LIVING: ("grade",),
    Programme.DISABILITY_NURSING: ("grade",),
    Programme.ORPHAN: ("care",),
}


def check_facts(programme: Programme, facts: CaseFacts) -> None:
    """Refuse facts that are missing or out of range for the programme."""
    for name in REQUIRED_FACTS[programme]:
        if getattr(facts, name) in (None, ()):
            raise InvalidInputError(f"{programme} needs {name}", field=name)
    if facts.income is not None:
        require_money(facts.income, "income")
    if facts.area is not None and facts.area not in AREAS:
        raise InvalidInputError("area must be urban or rural", field="area")
    if facts.tier is not None and facts.tier not in CARE_TIERS:
        raise InvalidInputError("care tier must be self, partial or full", field="tier")
    if facts.care is not None and facts.care not in ORPHAN_CARE:
        raise InvalidInputError("orphan care must be institutional or dispersed", field="care")
    if facts.grade is not None:
        highest = 2 if programme is Programme.DISABILITY_NURSING else 4
        if not 1 <= facts.grade <= highest:
            raise InvalidInputError(
                f"{programme} needs a disability grade from 1 to {highest}, not {facts.grade}",
                field="grade",
            )
    if len(set(facts.members)) != len(facts.members):
        raise InvalidInputError("a household lists each member once", field="members")
