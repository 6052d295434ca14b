"""Resident identity numbers (GB 11643-1999) and the keyed reference that stands for a person."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from domain.errors import InvalidIdentityNumberError

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# The first two digits name a province-level division of GB/T 2260 (83: the residence
# permits of Taiwan residents, numbered like identity cards).
PROVINCE_CODES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    }
)
_CHECK_CHARACTERS = "10X98765432"


def check_character(first_17_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_17_digits, _WEIGHTS, strict=True)
    )
    return _CHECK_CHARACTERS[total % 11]


@dataclass(frozen=True, slots=True)
class IdentityNumber:
    """A validated 18-character resident identity number. Its repr never shows the number."""

    value: str

    @classmethod
    def parse(cls, text: str, *, birth_date: date | None = None) -> IdentityNumber:
        """Validate ``text``; when ``birth_date`` is given it must match digits 7-14."""
        number = text.strip().upper()
        if len(number) != 18 or not (number[:17].isascii() and number[:17].isdigit()):
            raise InvalidIdentityNumberError(
                "an identity number has 17 digits and a check character (0-9 or X)",
                field="identity_number",
            )
        if number[:2] not in PROVINCE_CODES:
            raise InvalidIdentityNumberError(
                f"an identity number begins with a province's division code; {number[:2]} is "
                "no province's (GB/T 2260): please re-type the number",
                field="identity_number",
            )
        if number[17] != check_character(number[:17]):
            raise InvalidIdentityNumberError(
                "the identity number's check character is wrong: please re-type the number",
                field="identity_number",
            )
        try:
            embedded = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            raise InvalidIdentityNumberError(
                "digits 7 to 14 of the identity number are not a valid birth date",
                field="identity_number",
            ) from None
        if birth_date is not None and birth_date != embedded:
            raise InvalidIdentityNumberError(
                "the birth date given disagrees with the one in the identity number",
                field="birth_date",
            )
        return cls(number)

    @property
    def birth_date(self) -> date:
        return date(int(self.value[6:10]), int(self.value[10:12]), int(self.value[12:14]))

    def __repr__(self) -> str:
        return "IdentityNumber(***)"

    __str__ = __repr__


class PersonReferences:
    """Derives the stable, keyed reference (HMAC-SHA256) under which a person is looked up."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the person reference key must be at least 16 bytes")
        self._key = key

    def reference(self, number: IdentityNumber) -> str:
        return hmac.new(self._key, number.value.encode("ascii"), hashlib.sha256).hexdigest()
