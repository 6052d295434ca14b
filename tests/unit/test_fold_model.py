"""The fold against a plain month-by-month model, over random histories in random orders.

The model walks the calendar one month at a time and applies that month's decisions in
the order they were recorded. The fold under test sorts decisions instead. Both must agree
on which decisions are accepted and on every month's status and amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.cases.amounts import monthly_amount
from domain.cases.case import Case
from domain.cases.programmes import CaseFacts, Programme
from domain.errors import CaseStateError
from domain.months import Month

START = Month.parse("2020-01")
HORIZON = 30  # months covered by a history
REGION = "410611"
AT = datetime(2020, 1, 1, tzinfo=UTC)


def standard_in(month: Month) -> Decimal:
    """A dibao standard that rises every few months."""
    return Decimal(500 + 25 * ((month.index - START.index) // 5))


def standards(programme: Programme, region: str, month: Month) -> Mapping[str, Decimal]:
    return {"standard": standard_in(month)}


@dataclass(frozen=True)
class Command:
    kind: str
    offset: int  # effective month, as months after START
    income: int = 0
    months: int = 0


@dataclass
class ModelCase:
    """What a caseworker would work out on paper, month by month; walked once."""

    income: int
    granted_from: int
    commands: list[Command] = field(default_factory=list)
    suspended: bool = False
    leaving_from: int | None = None
    closed_from: int | None = None

    def walk(self) -> tuple[list[str], list[int]]:
        """Each month's status and amount; raises CaseStateError for an invalid history
        or a newest command without effect."""
        statuses: list[str] = []
        amounts: list[int] = []
        paid_while_leaving = 0
        for month in range(HORIZON + 8):
            income_before = self.income
            for number, command in enumerate(self.commands):
                if command.offset == month:
                    self.apply(command, month, newest=number == len(self.commands) - 1)
            if self.leaving_from == month:
                paid_while_leaving = max(0, int(standard_in(START + month - 1)) - income_before)
            if month < self.granted_from:
                status, amount = "not-open", 0
            elif self.closed_from is not None and month >= self.closed_from:
                status, amount = "closed", 0
            elif self.suspended:
                status, amount = "suspended", 0
            elif self.leaving_from is not None:
                status, amount = "leaving", paid_while_leaving
            else:
                status, amount = "paying", max(0, int(standard_in(START + month)) - self.income)
            statuses.append(status)
            amounts.append(amount)
        return statuses, amounts

    def apply(self, command: Command, month: int, *, newest: bool) -> None:
        closed = self.closed_from is not None and month >= self.closed_from
        if closed or (command.kind == "reassess" and self.leaving_from is not None):
            if newest:
                raise CaseStateError("no effect")
            return
        if month < self.granted_from:
            raise CaseStateError("before grant")
        if command.kind == "reassess":
            self.income = command.income
        elif command.kind == "suspend":
            if self.suspended:
                raise CaseStateError("suspended twice")
            self.suspended = True
        elif command.kind == "resume":
            if not self.suspended:
                raise CaseStateError("not suspended")
            self.suspended = False
        elif command.kind == "gradual":
            if self.leaving_from is not None or month == self.granted_from:
                raise CaseStateError("gradual exit not allowed")
            self.leaving_from, self.closed_from = month, month + command.months
        elif command.kind == "exit":
            self.closed_from = month


commands = st.lists(
    st.one_of(
        st.builds(
            Command,
            kind=st.just("reassess"),
            offset=st.integers(0, HORIZON),
            income=st.integers(0, 800),
        ),
        st.builds(
            Command,
            kind=st.sampled_from(["suspend", "resume", "exit"]),
            offset=st.integers(0, HORIZON),
        ),
        st.builds(
            Command,
            kind=st.just("gradual"),
            offset=st.integers(0, HORIZON),
            months=st.integers(1, 6),
        ),
    ),
    max_size=12,
)


def record(case: Case, command: Command) -> None:
    effective = START + command.offset
    if command.kind == "reassess":
        case.reassess(effective, {"income": Decimal(command.income)}, "cw", "r", AT)
    elif command.kind == "suspend":
        case.suspend(effective, "cw", "r", AT)
    elif command.kind == "resume":
        case.resume(effective, "cw", "r", AT)
    elif command.kind == "gradual":
        case.start_gradual_exit(effective, command.months, "cw", "r", AT)
    else:
        case.exit(effective, "cw", "r", AT)


@settings(max_examples=300, deadline=None)
@given(
    granted_from=st.integers(0, 10),
    income=st.integers(0, 499),
    history=commands,
)
def test_fold_agrees_with_a_month_by_month_model(
    granted_from: int, income: int, history: list[Command]
) -> None:
    case = Case.grant(
        programme=Programme.DIBAO_URBAN,
        region=REGION,
        effective=START + granted_from,
        facts=CaseFacts(members=("a",), income=Decimal(income)),
        persons=[],
        actor="cw",
        reason="r",
        at=AT,
    )
    accepted: list[Command] = []
    for command in history:
        try:
            ModelCase(income, granted_from, [*accepted, command]).walk()
            model_accepts = True
        except CaseStateError:
            model_accepts = False
        try:
            record(case, command)
            fold_accepts = True
        except CaseStateError:
            fold_accepts = False
        assert fold_accepts == model_accepts, (command, accepted)
        if model_accepts:
            accepted.append(command)

    statuses, expected = ModelCase(income, granted_from, accepted).walk()
    for offset in range(HORIZON + 8):
        state = case.month(START + offset)
        amount = Decimal(0)
        if state.is_payable and state.facts is not None and state.priced_month is not None:
            amount = monthly_amount(
                Programme.DIBAO_URBAN, REGION, state.facts, state.priced_month, standards
            )
        assert (state.status.value, amount) == (statuses[offset], Decimal(expected[offset])), offset
