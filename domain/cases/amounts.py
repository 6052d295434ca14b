"""The monthly amount of a case: a pure function of its facts and the standards in force."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol, TypeVar

from domain.ages import age_in, month_of_birthday
from domain.cases.programmes import CaseFacts, Programme, dibao_programme_for
from domain.errors import StandardNotInForceError
from domain.money import ZERO, round_to_fen
from domain.months import Month

TEKUN_DIBAO_MULTIPLE = Decimal("1.3")
ORPHAN_LAST_AGE = 18
ELDERLY_FIRST_AGE = 80
T = TypeVar("T")


class StandardsLookup(Protocol):
    """The parameters in force for a programme and region in a month, or None."""

    def __call__(
        self, programme: Programme, region: str, month: Month
    ) -> Mapping[str, Decimal] | None: ...


def parameters_in_force(
    standards: StandardsLookup, programme: Programme, region: str, month: Month
) -> Mapping[str, Decimal]:
    parameters = standards(programme, region, month)
    if parameters is None:
        raise StandardNotInForceError(
            f"no {programme} standard is in force in region {region} for {month}",
            field="effective",
        )
    return parameters


def monthly_amount(
    programme: Programme,
    region: str,
    facts: CaseFacts,
    month: Month,
    standards: StandardsLookup,
) -> Decimal:
    """The amount a case with ``facts`` is entitled to for ``month``, rounded to the fen."""
    parameters = parameters_in_force(standards, programme, region, month)
    return round_to_fen(_unrounded_amount(programme, region, facts, month, parameters, standards))


def _unrounded_amount(
    programme: Programme,
    region: str,
    facts: CaseFacts,
    month: Month,
    parameters: Mapping[str, Decimal],
    standards: StandardsLookup,
) -> Decimal:
    if programme.is_dibao:
        shortfall = parameters["standard"] - _required(facts.income)
        return max(ZERO, shortfall * len(facts.members))
    if programme is Programme.TEKUN:
        area = _required(facts.area)
        basic = parameters[f"basic_{area}"]
        dibao = standards(dibao_programme_for(area), region, month)
        if dibao is not None:
            basic = max(basic, TEKUN_DIBAO_MULTIPLE * dibao["standard"])
        return basic + parameters[f"care_{_required(facts.tier)}"]
    if programme is Programme.ELDERLY_ALLOWANCE:
        age = age_in(month, _required(facts.birth_date))
        return parameters[elderly_band(age)] if age >= ELDERLY_FIRST_AGE else ZERO
    if programme is Programme.ORPHAN:
        if month > orphan_last_month(facts):
            return ZERO
        return parameters[_required(facts.care)]
    return parameters["standard"]


def _required(value: T | None) -> T:
    if value is None:
        raise ValueError("the case facts lack a value its programme requires")
    return value


def elderly_band(age: int) -> str:
    if age >= 100:
        return "age_100_plus"
    if age >= 90:
        return "age_90_99"
    return "age_80_89"


def orphan_last_month(facts: CaseFacts) -> Month:
    """An orphan is paid through the month of the 18th birthday, not after."""
    return month_of_birthday(ORPHAN_LAST_AGE, _required(facts.birth_date))
