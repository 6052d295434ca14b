"""A decision citing a household verification: the checks, and what the decision records.

The case's event keeps the verification's id and date, when the household's next review is
due and whether the verified income is at or above the standard; where the declared income
was recorded over the verified one, the difference (sealed) and the reason given for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.errors import VerificationHouseholdError
from domain.people.personal_data import PersonalData
from domain.verification.household_verification import HouseholdVerification
from domain.verification.rules import allowed_difference, check_fresh, income_used


@dataclass(frozen=True)
class Citation:
    """What a decision records of the verification it cites; ``income`` is the per-capita
    income the amount uses (None for a programme without one)."""

    income: Decimal | None
    event: dict[str, Any]


@dataclass(frozen=True)
class VerificationPolicy:
    validity_days: int
    margin: Decimal


def cite(
    verification: HouseholdVerification,
    *,
    household: Sequence[str],
    case_id: UUID | None,
    decided_on: date,
    policy: VerificationPolicy,
    standard: Decimal | None,
    declared: Decimal | None,
    income_reason: str | None,
    uses_income: bool,
    review_months: int,
) -> Citation:
    """Check that ``verification`` covers ``household`` (member references) and is fresh on
    ``decided_on``; the income the decision uses, as the margin around ``standard`` allows."""
    name = str(verification.id)
    answer = verification.answered()
    if sorted(verification.member_refs) != sorted(household):
        raise VerificationHouseholdError(
            f"verification {name} covers {len(verification.member_refs)} member(s) who are "
            f"not the {len(household)} member(s) of this decision's household; cite a "
            "verification of the same household",
            field="verification_id",
        )
    if verification.case_id is not None and verification.case_id != case_id:
        raise VerificationHouseholdError(
            f"verification {name} was made for case {verification.case_id}, not this one",
            field="verification_id",
        )
    check_fresh(name, answer.made_on, decided_on, policy.validity_days)
    verified = verification.per_capita_income
    income: Decimal | None = None
    difference: Decimal | None = None
    if uses_income and standard is not None:
        allowed = allowed_difference(standard, policy.margin)
        income = income_used(name, declared, verified, allowed, income_reason)
        if income != verified:
            difference = income - verified
    event: dict[str, Any] = {
        "id": verification.id.hex,
        "made_on": answer.made_on,
        "review_months": review_months,
        "at_or_above_standard": standard is not None and verified >= standard,
    }
    if difference is not None:
        event["income_difference"] = PersonalData(str(difference))
        event["income_reason"] = (income_reason or "").strip()
    return Citation(income, event)
