"""Payroll periods: closing a programme's month in a region freezes what is paid for it.

The caller computes the payroll lines from the read side at a ledger position P and passes
them in. The ledger checks them and records ``PeriodClosed`` with P, the line count, the
totals and a SHA-256 digest of the lines in case order, so that the lines can always be
recomputed from P and checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.cases.programmes import Programme
from domain.errors import CaseStateError, InvalidInputError
from domain.money import ZERO, require_money
from domain.months import Month

_PERIODS_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:payroll-periods")


class PayrollLine(NamedTuple):  # a tuple: a close makes one for each of its cases
    """What one case (or relief) is paid in a period: the month's own amount, arrears for
    earlier closed months, and recoveries to collect (never netted against payment). A line
    held after a bank's return pays, settles and lists nothing: ``held`` is what it would
    have paid (the month's amount plus arrears), which stays outstanding."""

    subject_id: str
    amount: Decimal
    arrears: Decimal
    recoveries: Decimal
    held: Decimal = ZERO

    @property
    def to_pay(self) -> Decimal:
        return self.amount + self.arrears

    def encoded(self, written: Callable[[Decimal], str] = "{:.2f}".format) -> str:
        # A held line has a fifth field; lines of ledgers without returns read as before.
        held = f",{written(self.held)}" if self.held else ""
        return (
            f"{self.subject_id},{written(self.amount)},{written(self.arrears)},"
            f"{written(self.recoveries)}{held}\n"
        )


class _Amounts:
    """The amounts of one run of lines, each distinct Decimal object checked and written
    once: a period's lines share a few amount objects (the read side makes one per amount,
    and most fields are zero), and doing it again for each of thousands of fields cost more
    than the lines' SQL. Objects are told apart by identity, which is sound while the lines
    hold them."""

    def __init__(self) -> None:
        self._checked: set[int] = set()
        self._written: dict[int, str] = {}

    def check(self, amount: Decimal, field: str) -> None:
        if id(amount) not in self._checked:
            require_money(amount, field)
            self._checked.add(id(amount))

    def written(self, amount: Decimal) -> str:
        text = self._written.get(id(amount))
        if text is None:
            text = self._written[id(amount)] = f"{amount:.2f}"
        return text


@dataclass(frozen=True, slots=True)
class PayrollSummary:
    line_count: int
    month_total: Decimal
    arrears_total: Decimal
    recoveries_total: Decimal
    digest: str

    @classmethod
    def of(cls, lines: Sequence[PayrollLine]) -> PayrollSummary:
        written = _Amounts().written
        digest = hashlib.sha256("".join(line.encoded(written) for line in lines).encode("ascii"))
        return cls(
            len(lines),
            sum((line.amount for line in lines), ZERO),
            sum((line.arrears for line in lines), ZERO),
            sum((line.recoveries for line in lines), ZERO),
            digest.hexdigest(),
        )


def check_lines(lines: Sequence[PayrollLine]) -> None:
    """Lines come in case order, once per case, with amounts of money that are not negative."""
    for earlier, later in pairwise(lines):
        if earlier.subject_id >= later.subject_id:
            raise InvalidInputError(
                "payroll lines are given once per case, in case order", field="lines"
            )
    amounts = _Amounts()
    for line in lines:
        amounts.check(line.amount, "lines.amount")
        amounts.check(line.arrears, "lines.arrears")
        amounts.check(line.recoveries, "lines.recoveries")
        amounts.check(line.held, "lines.held")
        if line.held and (line.amount or line.arrears or line.recoveries):
            raise InvalidInputError(
                "a held line pays, settles and lists nothing but what it holds", field="lines"
            )


@dataclass(frozen=True, slots=True)
class LastClose:
    """The latest close of a programme and region. The next period's lines settle what
    changed since its position, for the months from the first one ever closed."""

    first_month: Month
    month: Month
    position: int


class PayrollPeriods(Aggregate):
    """The closed periods of one programme in one region, closed in month order, each once,
    each with lines computed after the close before it."""

    class Event(Aggregate.Event):
        pass

    class Opened(Event, Aggregate.Created):
        programme: str
        region: str

    class PeriodClosed(Event):
        programme: str
        region: str
        month: Month
        position: int  # the ledger position the lines were computed at
        line_count: int
        month_total: Decimal
        arrears_total: Decimal
        recoveries_total: Decimal
        digest: str
        actor: str

        def apply(self, periods: PayrollPeriods) -> None:
            periods.first_closed = periods.first_closed or self.month
            periods.last_closed = self.month
            periods.last_position = self.position

    def __init__(self, programme: str, region: str) -> None:
        self.programme = Programme(programme)
        self.region = region
        self.first_closed: Month | None = None
        self.last_closed: Month | None = None
        self.last_position = 0

    def __str__(self) -> str:
        return f"the {self.programme} payroll periods of region {self.region}"

    @property
    def last_close(self) -> LastClose | None:
        if self.first_closed is None or self.last_closed is None:
            return None
        return LastClose(self.first_closed, self.last_closed, self.last_position)

    @staticmethod
    def id_for(programme: Programme, region: str) -> UUID:
        return uuid5(_PERIODS_NAMESPACE, f"{programme.value}/{region}")

    @classmethod
    def open(cls, programme: Programme, region: str, at: datetime) -> PayrollPeriods:
        return cls._create(
            cls.Opened,
            id=cls.id_for(programme, region),
            programme=programme.value,
            region=region,
            timestamp=at,
        )

    def close(
        self,
        month: Month,
        position: int,
        previous: Month | None,
        summary: PayrollSummary,
        actor: str,
        at: datetime,
    ) -> None:
        """Close ``month`` with lines computed at ``position``, after the close of
        ``previous`` (None: after none)."""
        if self.last_closed is not None and month <= self.last_closed:
            raise CaseStateError(
                f"period {month} of {self.programme} {self.region} is already closed; the next "
                f"period to close is {self.last_closed + 1}"
            )
        if self.last_closed is not None and month != self.last_closed + 1:
            raise CaseStateError(
                f"{self.programme} in {self.region} closed {self.last_closed} last; the next "
                f"period to close is {self.last_closed + 1}, not {month}"
            )
        if position < self.last_position:
            raise CaseStateError(
                f"the lines were computed at position {position}, before the previous close "
                f"at {self.last_position}"
            )
        if previous != self.last_closed:
            after = "no close" if previous is None else f"the close of {previous}"
            last = "no period" if self.last_closed is None else f"{self.last_closed} last"
            raise CaseStateError(
                f"the lines were computed after {after}, but {self.programme} in {self.region} "
                f"closed {last}; they would settle arrears twice or not at all, compute them "
                "again"
            )
        self.trigger_event(
            self.PeriodClosed,
            programme=self.programme.value,
            region=self.region,
            month=month,
            position=position,
            line_count=summary.line_count,
            month_total=summary.month_total,
            arrears_total=summary.arrears_total,
            recoveries_total=summary.recoveries_total,
            digest=summary.digest,
            actor=actor,
            timestamp=at,
        )
