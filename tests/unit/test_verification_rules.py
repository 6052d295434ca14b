"""The pure rules of household verification: freshness, the income margin, per-capita
income, review months and due months."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.errors import IncomeDiffersFromVerificationError, StaleVerificationError
from domain.months import Month
from domain.verification.rules import (
    ReviewSchedule,
    allowed_difference,
    check_fresh,
    income_used,
    is_stable,
    per_capita,
    review_due,
)

D = Decimal


def test_a_verification_is_fresh_up_to_the_validity_and_not_after_the_decision() -> None:
    check_fresh("v", date(2026, 1, 1), date(2026, 4, 1), 90)  # 90 days: still fresh
    with pytest.raises(StaleVerificationError, match="more than 90 days"):
        check_fresh("v", date(2026, 1, 1), date(2026, 4, 2), 90)
    with pytest.raises(StaleVerificationError, match="after the decision"):
        check_fresh("v", date(2026, 4, 2), date(2026, 4, 1), 90)


def test_the_margin_is_a_share_of_the_standard_rounded_to_the_fen() -> None:
    assert allowed_difference(D("600"), D("0.05")) == D("30.00")
    assert allowed_difference(D("645"), D("0.05")) == D("32.25")
    assert allowed_difference(D("333"), D("0.05")) == D("16.65")


def test_the_verified_income_is_used_within_the_margin_or_without_a_declared_one() -> None:
    assert income_used("v", None, D("200.00"), D("30.00"), None) == D("200.00")
    assert income_used("v", D("230.00"), D("200.00"), D("30.00"), None) == D("200.00")
    assert income_used("v", D("170.00"), D("200.00"), D("30.00"), None) == D("200.00")


def test_beyond_the_margin_a_reason_records_the_declared_income_and_none_is_refused() -> None:
    with pytest.raises(IncomeDiffersFromVerificationError, match=r"by 30\.01, more than"):
        income_used("v-1", D("230.01"), D("200.00"), D("30.00"), None)
    with pytest.raises(IncomeDiffersFromVerificationError, match="verification v-1"):
        income_used("v-1", D("100.00"), D("200.00"), D("30.00"), "  ")
    assert income_used("v", D("100.00"), D("200.00"), D("30.00"), "job lost") == D("100.00")


def test_the_per_capita_income_is_the_household_total_over_its_members_to_the_fen() -> None:
    assert per_capita([D("1000.00"), D("0.00"), D("0.00")]) == D("333.33")
    assert per_capita([D("0.01"), D("0.00")]) == D("0.01")  # half a fen rounds up
    assert per_capita([D("650.00")]) == D("650.00")


def test_households_of_the_old_or_severely_disabled_are_reviewed_yearly() -> None:
    schedule = ReviewSchedule()
    month = Month.of(2026, 3)
    sixty = date(1966, 3, 1)  # 60 on the 1st of 2026-03
    younger = date(1966, 3, 2)
    assert is_stable([sixty, date(1940, 1, 1)], [False, False], month)
    assert not is_stable([sixty, younger], [False, False], month)
    assert is_stable([sixty, younger], [False, True], month)
    assert schedule.months_for(tekun=False, stable=False) == 6
    assert schedule.months_for(tekun=False, stable=True) == 12
    assert schedule.months_for(tekun=True, stable=False) == 12
    assert ReviewSchedule(dibao=3).months_for(tekun=False, stable=False) == 3


def test_a_review_is_due_the_months_after_the_month_of_the_verification() -> None:
    assert review_due(date(2026, 1, 31), 6) == Month.of(2026, 7)
    assert review_due(date(2026, 8, 1), 6) == Month.of(2027, 2)
