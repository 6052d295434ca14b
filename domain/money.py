"""Money is Decimal yuan with two places (fen), rounded half up once per case-month."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.errors import InvalidInputError

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAXIMUM = Decimal("100000000.00")  # far above any monthly or one-off amount


def round_to_fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def require_money(value: object, field: str) -> Decimal:
    """Accept a non-negative Decimal (or decimal string) of at most two places."""
    if isinstance(value, float):
        raise InvalidInputError(f"{field} must be a decimal string, not a float", field=field)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise InvalidInputError(f"{field} is not an amount of money", field=field) from None
    if not amount.is_finite():
        raise InvalidInputError(f"{field} is not an amount of money", field=field)
    if amount < 0:
        raise InvalidInputError(f"{field} cannot be negative", field=field)
    if amount > MAXIMUM:
        raise InvalidInputError(f"{field} is larger than {MAXIMUM} yuan", field=field)
    if amount != amount.quantize(FEN):
        raise InvalidInputError(f"{field} has more than two decimal places (fen)", field=field)
    return amount.quantize(FEN)
