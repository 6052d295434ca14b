"""The pure rules of household economic verification.

A dibao or tekun decision cites a verification of the same household made at most
``validity_days`` before it; a declared per-capita income that differs from the verified one
by more than the margin (a share of the standard in force) needs a reason, and without one
the verified figure is what the amount uses. Reviews fall due a number of months after the
last verification, fewer for households whose income may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.ages import age_in
from domain.errors import IncomeDiffersFromVerificationError, StaleVerificationError
from domain.money import round_to_fen
from domain.months import Month

DEFAULT_VALIDITY_DAYS = 90
DEFAULT_MARGIN = Decimal("0.05")
STABLE_AGE = 60  # a household whose members are all this old or older changes little


class Source(StrEnum):
    WAGES = "wages"
    PENSIONS = "pensions"
    REAL_ESTATE = "real-estate"
    VEHICLES = "vehicles"
    DEPOSITS_AND_SECURITIES = "deposits-and-securities"
    BUSINESS_REGISTRATION = "business-registration"
    PROVIDENT_FUND = "provident-fund"


class PlatformLevel(StrEnum):
    MINISTRY = "ministry"
    PROVINCE = "province"
    CITY = "city"


@dataclass(frozen=True)
class ReviewSchedule:
    """Months from a verification to the next review, per kind of household."""

    dibao: int = 6
    dibao_stable: int = 12  # every member 60 or over, or severely disabled
    tekun: int = 12

    def months_for(self, *, tekun: bool, stable: bool) -> int:
        if tekun:
            return self.tekun
        return self.dibao_stable if stable else self.dibao


def household_total(incomes: Sequence[Decimal]) -> Decimal:
    return sum(incomes, Decimal("0.00"))


def per_capita(incomes: Sequence[Decimal]) -> Decimal:
    """The household's verified monthly income per member, rounded half up to the fen."""
    return round_to_fen(household_total(incomes) / len(incomes))


def check_fresh(verification: str, made_on: date, decided_on: date, validity_days: int) -> None:
    """Refuse a decision on ``decided_on`` citing a verification made more than
    ``validity_days`` before it, or after it."""
    if made_on > decided_on:
        raise StaleVerificationError(
            f"verification {verification} is dated {made_on}, after the decision "
            f"({decided_on}); cite a verification made by the day of the decision",
            field="verification_id",
        )
    if decided_on - made_on > timedelta(days=validity_days):
        raise StaleVerificationError(
            f"verification {verification} was made on {made_on}, more than {validity_days} "
            f"days before the decision ({decided_on}); request a new verification of the "
            "household and cite it",
            field="verification_id",
        )


def allowed_difference(standard: Decimal, margin: Decimal) -> Decimal:
    """How far a declared per-capita income may differ from the verified one without a
    reason: ``margin`` of the standard in force."""
    return round_to_fen(standard * margin)


def income_used(
    verification: str,
    declared: Decimal | None,
    verified: Decimal,
    allowed: Decimal,
    reason: str | None,
) -> Decimal:
    """The per-capita income a decision records: the verified one, unless the declared one
    differs by more than ``allowed`` and a reason for the difference is given. Such a
    difference without a reason is refused, naming the verification."""
    if declared is None or abs(declared - verified) <= allowed:
        return verified
    if reason is None or not reason.strip():
        raise IncomeDiffersFromVerificationError(
            f"the declared per-capita income {declared} differs from {verified} verified by "
            f"verification {verification} by {abs(declared - verified)}, more than the "
            f"{allowed} allowed; give income_reason to record the declared figure, or "
            "declare the verified one",
            field="income",
        )
    return declared


def review_due(made_on: date, months: int) -> Month:
    """The month a household verified on ``made_on`` is due for review."""
    return Month.containing(made_on) + months


def is_stable(birth_dates: Sequence[date], severely_disabled: Sequence[bool], month: Month) -> bool:
    """Whether every member is 60 or over on the 1st of ``month`` or severely disabled: a
    household reviewed less often."""
    return all(
        age_in(month, born) >= STABLE_AGE or disabled
        for born, disabled in zip(birth_dates, severely_disabled, strict=True)
    )
