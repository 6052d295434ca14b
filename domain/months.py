"""Calendar months, the unit of entitlement time, and the bureau's clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.errors import InvalidInputError

BUREAU_TIME_ZONE = ZoneInfo("Asia/Shanghai")

_MONTH_PATTERN = re.compile(r"^([0-9]{4})-([0-9]{2})$")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month, ordered and countable: ``Month.parse("2020-03") + 1``."""

    index: int  # months since year 0: year * 12 + (month - 1)

    @classmethod
    def of(cls, year: int, month: int) -> Month:
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1 to 12, not {month}")
        return cls(year * 12 + month - 1)

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH_PATTERN.match(text)
        if match is None:
            raise ValueError(f"a month is written YYYY-MM, not {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if year < 1900 or not 1 <= month <= 12:
            raise ValueError(f"{text!r} is not a calendar month")
        return cls.of(year, month)

    @classmethod
    def containing(cls, day: date) -> Month:
        return cls.of(day.year, day.month)

    @classmethod
    def at(cls, moment: datetime) -> Month:
        """The month of ``moment`` on the bureau's calendar (Asia/Shanghai)."""
        return cls.containing(moment.astimezone(BUREAU_TIME_ZONE).date())

    @property
    def year(self) -> int:
        return self.index // 12

    @property
    def month(self) -> int:
        return self.index % 12 + 1

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def __add__(self, months: int) -> Month:
        return Month(self.index + months)

    def __sub__(self, months: int) -> Month:
        return Month(self.index - months)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(value: str | Month, field: str = "effective") -> Month:
    """A month from a request: refused by name (``InvalidInputError``) when it is not one."""
    if isinstance(value, Month):
        return value
    try:
        return Month.parse(value)
    except ValueError as error:
        raise InvalidInputError(str(error), field=field) from None
