"""Deterministic decisions for the benchmark: standards, then grants to new people.

Every grant names people no other grant names, so the same list can be recorded on any
store, and a load generator can make as many as it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.application.ledger import Ledger
from domain.months import BUREAU_TIME_ZONE, Month
from domain.people.identity import check_character
from domain.people.person import PersonInput

REGION = "410611"
STANDARDS_FROM = "2019-01"
STANDARDS: dict[str, dict[str, str]] = {
    "dibao-urban": {"standard": "600"},
    "elderly-allowance": {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"},
    "disability-living": {"standard": "500"},
}
# Identity numbers of this benchmark's people carry a county code the decade's generator
# never uses, so they never meet a person of an imported decade.
PEOPLE_AREA = "410699"
FIRST_ELDER_BIRTH = date(1931, 1, 1)
FIRST_ADULT_BIRTH = date(1960, 1, 1)
SERIALS_PER_DAY = 1_000


def identity_number(birth: date, serial: int) -> str:
    first_17 = f"{PEOPLE_AREA}{birth:%Y%m%d}{serial:03d}"
    return first_17 + check_character(first_17)


def person_number(index: int, first_birth: date) -> str:
    """The ``index``-th person born on or after ``first_birth`` (unique per index)."""
    days, serial = divmod(index, SERIALS_PER_DAY)
    return identity_number(first_birth + timedelta(days=days), serial)


@dataclass(frozen=True)
class GrantRequest:
    """A grant as the API takes it (``body``) and as the Ledger takes it (``record``)."""

    body: dict[str, Any]

    @property
    def is_dibao(self) -> bool:
        return str(self.body["programme"]).startswith("dibao")

    def verify(self, ledger: Ledger) -> UUID:
        """Record the household's verification, made today, which a dibao grant cites."""
        income = self.body["income"]
        return ledger.record_verification(
            [(p["identity_number"], income) for p in self.body["persons"]],
            sources=["wages", "pensions"],
            made_on=datetime.now(BUREAU_TIME_ZONE).date(),
            level="city",
            report_id=f"BENCH-{self.body['persons'][0]['identity_number'][-8:]}",
            actor="bench-caseworker",
        ).id

    def record(self, ledger: Ledger) -> None:
        """The grant, after the verification a dibao grant cites (its own save)."""
        persons = [PersonInput(p["identity_number"], p["name"], None) for p in self.body["persons"]]
        options: dict[str, Any] = {k: self.body[k] for k in ("income", "grade") if k in self.body}
        if self.is_dibao:
            options["verification_id"] = self.verify(ledger)
        ledger.grant(
            self.body["programme"],
            self.body["region"],
            self.body["effective"],
            persons,
            actor="bench-caseworker",
            reason=self.body["reason"],
            **options,
        )


@dataclass
class Grants:
    """Grants in a repeating mix: two elderly allowances, a disability subsidy, a dibao
    household of three. ``start`` lets two generators share a database."""

    effective: Month
    start: int = 0
    _next: int = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.start

    def take(self, count: int) -> list[GrantRequest]:
        return [self.next() for _ in range(count)]

    def next(self) -> GrantRequest:
        index = self._next
        self._next += 1
        kind = index % 4
        common = {"region": REGION, "effective": str(self.effective), "reason": "application"}
        if kind in (0, 1):
            return GrantRequest(
                {
                    **common,
                    "programme": "elderly-allowance",
                    "persons": [_person(index * 3, FIRST_ELDER_BIRTH)],
                }
            )
        if kind == 2:
            return GrantRequest(
                {
                    **common,
                    "programme": "disability-living",
                    "grade": 2,
                    "persons": [_person(index * 3, FIRST_ADULT_BIRTH)],
                }
            )
        return GrantRequest(
            {
                **common,
                "programme": "dibao-urban",
                "income": "150.00",
                "persons": [_person(index * 3 + k, FIRST_ADULT_BIRTH) for k in range(3)],
            }
        )


def _person(index: int, first_birth: date) -> dict[str, str]:
    return {"identity_number": person_number(index, first_birth), "name": f"受益人{index}"}


def set_standards(ledger: Ledger) -> None:
    for programme, parameters in STANDARDS.items():
        ledger.set_standard(
            programme, REGION, STANDARDS_FROM, parameters, actor="bench-finance", reason="notice"
        )
