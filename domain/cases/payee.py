"""A case's payee: the household member the bank pays, and the bank card paid into.

Card numbers follow the rule Chinese banks issue them by: 16 to 19 digits (ISO/IEC 7812
primary account numbers as UnionPay and the domestic banks number them). A number whose
issuer prefix is UnionPay's (it begins with 62) must end in its Luhn check digit, as every
UnionPay card does; other domestic numbers of that length are taken on their length alone,
because older passbook-linked cards of some banks were numbered without a Luhn digit and the
bank itself is the last word on them (its return says AC01 or AC04 when a number is wrong).
The number is personal data: events carry it sealed, and only a payment file reveals it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.errors import InvalidBankAccountError
from domain.months import Month
from domain.people.personal_data import PersonalData

CARD_DIGITS = range(16, 20)
UNIONPAY_PREFIX = "62"


def luhn_valid(digits: str) -> bool:
    """Whether the last digit of ``digits`` is the Luhn (ISO/IEC 7812-1) check digit."""
    total = 0
    for place, char in enumerate(reversed(digits)):
        value = int(char)
        if place % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def check_bank_card(text: str, field: str = "account") -> str:
    """The card number without spaces, or a refusal that says which rule it fails."""
    digits = "".join(text.split())
    if not digits.isascii() or not digits.isdigit():
        raise InvalidBankAccountError(
            "a bank card number is made of digits only (spaces between groups are ignored)",
            field=field,
        )
    if len(digits) not in CARD_DIGITS:
        raise InvalidBankAccountError(
            f"a bank card number has 16 to 19 digits; this one has {len(digits)}", field=field
        )
    if digits.startswith(UNIONPAY_PREFIX) and not luhn_valid(digits):
        raise InvalidBankAccountError(
            "this UnionPay card number's last digit is not its check digit: please re-type "
            "the number from the card",
            field=field,
        )
    return digits


@dataclass(frozen=True, slots=True)
class Payee:
    """Who is paid (a person of the case, by reference) and into which card."""

    recipient: str
    account: PersonalData

    def to_event(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "account": self.account}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> Payee:
        return cls(str(data["recipient"]), data["account"])


@dataclass(frozen=True, slots=True)
class PayeeInput:
    """A payee as a decision gives it: the recipient's identity number (None: the case's
    first person) and the card number."""

    account: str
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class BankReturn:
    """The bank's return of one line: the case, the period's month, the bank's reference
    and reason code, and what the line sent (its month's amount plus arrears)."""

    case_id: UUID
    period: Month
    bank_reference: str
    reason: str
    amount: Decimal


def luhn_completed(digits: str) -> str:
    """``digits`` followed by their Luhn check digit."""
    total = 0
    for place, char in enumerate(reversed(digits)):
        value = int(char)
        if place % 2 == 0:  # doubled, once the check digit follows
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return digits + str(-total % 10)
