"""Property: over random histories of closes, bank returns, payee changes, retroactive
raises, exits and suspensions, every closed month balances, the views equal a rebuild,
every digest matches, and once every case has a new payee and one more period closes,
nothing is outstanding: the bank was sent exactly what was owed, to the fen."""

from __future__ import annotations

import tempfile
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.services.bank_returns import ReturnGiven, record_returns
from api.services.closing import close_period
from domain.application.ledger import Ledger
from domain.application.recording import SaveNow
from domain.cases.payee import PayeeInput, luhn_completed
from domain.errors import LedgerRefusal
from domain.months import Month
from projections.engine.projector import Projector
from projections.engine.rebuild import rebuild_and_compare
from projections.reads import payroll_lines
from projections.reads.period_accounts import Accounts, case_account
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from tests.integration.test_read_side_properties import fresh_postgres
from tests.support import (
    QIBIN,
    grant_paid_household,
    ledger_at,
    person,
    set_reference_standards,
)

MONTHS = [Month.parse("2019-01") + n for n in range(24)]
PROGRAMMES = ("dibao-urban", "disability-living")
CARDS = [luhn_completed(f"6222{n:014d}") for n in range(8)]
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Step:
    kind: str
    who: int
    number: int


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(
            ["close", "close", "close", "return", "return", "payee", "raise", "exit", "suspend"]
        ),
        who=st.integers(0, 3),
        number=st.integers(0, 11),
    ),
    min_size=1,
    max_size=30,
)


def grant_cases(ledger: Ledger) -> list[UUID]:
    """Two urban dibao households and two disability cases in Qibin from 2019-01, each
    paid into a card."""
    cases = []
    for n in range(2):
        household = [person(MONTHS[0].first_day.replace(year=1970), 10 * n + k) for k in range(2)]
        cases.append(
            grant_paid_household(ledger, str(MONTHS[0]), household, str(100 * (n + 1)), CARDS[n])
        )
    for n in range(2):
        someone = person(MONTHS[0].first_day.replace(year=1960), 50 + n)
        cases.append(
            ledger.grant(
                "disability-living",
                QIBIN,
                MONTHS[0],
                [someone],
                grade=2,
                payee=PayeeInput(CARDS[2 + n]),
                actor="cw",
                reason="r",
            ).id
        )
    return cases


def play(ledger: Ledger, views: ViewDatabase, history: list[Step]) -> None:
    projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=7)
    cases = grant_cases(ledger)
    next_close = dict.fromkeys(PROGRAMMES, MONTHS[0])
    raised = 0

    def close(programme: str) -> None:
        projector.catch_up()
        close_period(ledger, views, programme, QIBIN, next_close[programme], actor="f")
        next_close[programme] += 1

    for step in history:
        projector.catch_up()
        case = cases[step.who]
        programme = ledger.case(case).programme.value
        with suppress(LedgerRefusal):
            match step.kind:
                case "close":
                    close(PROGRAMMES[step.who % 2])
                case "return":
                    closed = next_close[programme].index - MONTHS[0].index
                    if closed:
                        month = MONTHS[step.number % closed]
                        given = ReturnGiven(month, case, f"R{step.number}", "AC04")
                        record_returns(ledger, views, [given], actor="f", uow=SaveNow(ledger))
                case "payee":
                    ledger.change_payee(
                        case, PayeeInput(CARDS[4 + step.number % 4]), actor="cw", reason="r"
                    )
                case "raise":
                    raised += 1
                    standard = {"standard": str(600 + 10 * raised)}
                    ledger.set_standard(
                        "dibao-urban", QIBIN, MONTHS[step.number], standard, actor="f", reason="r"
                    )
                case "exit":
                    ledger.exit(case, MONTHS[step.number + 1], actor="cw", reason="r")
                case "suspend":
                    ledger.suspend(case, MONTHS[step.number], actor="cw", reason="r")
    projector.catch_up()
    check_balanced(views, ledger.position)
    for case in cases:  # a new card for everyone, then one more close of each programme
        ledger.change_payee(case, PayeeInput(CARDS[-1]), actor="cw", reason="new card")
    for programme in PROGRAMMES:
        close(programme)
    projector.catch_up()
    check_balanced(views, ledger.position)
    months = Accounts(views).closed_months(ledger.position)
    assert [(a.month, a.outstanding) for a in months if a.outstanding] == []
    for case in cases:
        account = case_account(views, case.hex, ledger.position, MONTHS[-1])
        assert account is not None
        owed = [(m.month, m.outstanding) for m in account.months if m.closed and m.outstanding]
        assert owed == [], case


def check_balanced(views: ViewDatabase, position: int) -> None:
    accounts = Accounts(views)
    assert all(p.digest_matches for p in accounts.periods(position))
    months = accounts.closed_months(position)
    assert [a for a in months if not a.balances] == []
    for a in months:
        assert min(a.paid, a.arrears, a.recoveries, a.returned, a.held, a.reissued) >= ZERO


# Close two months, return the second's line, close while held, a raise reaching back, a
# new card, and close: the hold and the reissue, always exercised.
RETURN_HISTORY = [
    Step("close", 0, 0),
    Step("close", 0, 0),
    Step("return", 0, 1),
    Step("close", 0, 0),
    Step("raise", 0, 0),
    Step("close", 0, 0),
    Step("payee", 0, 1),
    Step("close", 0, 0),
]


# Both households' lines of the second month returned, held, then reissued.
TWO_RETURNS = [
    Step("close", 0, 0),
    Step("close", 0, 0),
    Step("return", 0, 1),
    Step("return", 1, 1),
    Step("close", 0, 0),
    Step("payee", 0, 1),
    Step("payee", 1, 2),
    Step("close", 0, 0),
]


def check_history(database_url: str, history: list[Step]) -> None:
    ledger = ledger_at(database_url)
    views = open_views(ledger.env)
    scratch = open_views(ledger.env, schema="ledger_rebuild")
    try:
        set_reference_standards(ledger)
        play(ledger, views, history)
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []
    finally:
        views.close()
        scratch.close()
        ledger.close()


@example(history=RETURN_HISTORY)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps)
def test_returns_keep_every_month_balanced_and_a_new_payee_settles_everything(
    history: list[Step],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_history(f"sqlite:///{Path(folder) / 'ledger.db'}", history)


@pytest.mark.postgres
@example(history=RETURN_HISTORY)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=steps)
def test_the_same_on_postgresql(postgres_admin_url: str, history: list[Step]) -> None:
    with fresh_postgres(postgres_admin_url) as url:
        check_history(url, history)


def test_the_cases_with_returns_are_read_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payroll_lines, "CHUNK", 1)
    check_history(f"sqlite:///{tmp_path / 'ledger.db'}", TWO_RETURNS)
