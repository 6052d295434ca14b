"""Money: Decimal yuan to the fen, rounded half up, never a float, capped far above any payment."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidInputError
from domain.money import require_money, round_to_fen


def test_an_amount_is_kept_to_the_fen_whether_given_as_text_or_decimal() -> None:
    assert str(require_money("600", "standard")) == "600.00"
    assert str(require_money("12.3", "standard")) == "12.30"
    assert str(require_money(Decimal("7.05"), "standard")) == "7.05"
    assert str(require_money(0, "standard")) == "0.00"


def test_a_case_month_is_rounded_half_up_to_the_fen() -> None:
    assert round_to_fen(Decimal("520.065")) == Decimal("520.07")
    assert round_to_fen(Decimal("520.0649")) == Decimal("520.06")
    assert round_to_fen(Decimal("2.675")) == Decimal("2.68")
    assert str(round_to_fen(Decimal("1200"))) == "1200.00"


def test_one_hundred_million_yuan_is_accepted_and_a_fen_more_is_refused() -> None:
    assert require_money("100000000.00", "amount") == Decimal("100000000.00")
    with pytest.raises(InvalidInputError) as refusal:
        require_money("100000000.01", "amount")
    assert refusal.value.message == "amount is larger than 100000000.00 yuan"
    assert refusal.value.field == "amount"


def test_a_float_is_refused_even_when_its_value_is_exact() -> None:
    with pytest.raises(InvalidInputError) as refusal:
        require_money(600.0, "parameters.standard")
    assert refusal.value.message == "parameters.standard must be a decimal string, not a float"
    assert refusal.value.field == "parameters.standard"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("six hundred", "income is not an amount of money"),
        ("NaN", "income is not an amount of money"),
        ("Infinity", "income is not an amount of money"),
        (Decimal("-Infinity"), "income is not an amount of money"),
        ("-0.01", "income cannot be negative"),
        ("12.345", "income has more than two decimal places (fen)"),
    ],
)
def test_what_is_not_an_amount_of_money_is_refused_naming_the_field(
    value: object, message: str
) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        require_money(value, "income")
    assert (refusal.value.message, refusal.value.field) == (message, "income")
