"""A closed period's own amounts are not stored: the views derive them from the segments
known at its position, beside the arrears, recoveries and held amounts they store. Every
line, balance and case account read from them is what it was when every amount was stored:
the figures frozen here were read from views that stored them, for the same histories."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.demo.decade import run as run_demo
from domain.payroll_periods import PayrollSummary
from projections.reads.payroll_lines import AMOUNT
from projections.reads.period_accounts import Accounts, case_account
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from tests.integration.test_payment_returns_properties import (
    RETURN_HISTORY,
    Step,
    play,
)
from tests.integration.test_read_side_properties import fresh_postgres
from tests.support import ledger_at, set_reference_standards

# Closes, a return and a held line, a raise reaching back over closed months (arrears), an
# exit backdated over closed months and a suspension (recoveries), a new card, and closes.
HISTORY = [
    *RETURN_HISTORY,
    Step("close", 1, 0),
    Step("close", 1, 0),
    Step("exit", 1, 1),
    Step("suspend", 2, 1),
    Step("close", 0, 0),
    Step("close", 1, 0),
    Step("return", 3, 0),
    Step("close", 1, 0),
]

# Read from views that stored every amount, by the code before they stopped.
HISTORY_TOTALS = {
    "paid": "10600.00",
    "arrears": "4140.00",
    "recoveries": "2960.00",
    "outstanding": "0.00",
    "returned": "1500.00",
    "held": "6080.00",
    "reissued": "4080.00",
}
HISTORY_DIGEST = "2572c279ee11b2878a11b5222e2330e880cdee655153a69377a0275f3fb06f5a"
DECADE_DIGEST = "4a9525735483b6c3c30770d316179137bc215f52dde8d411495bb23d313aa815"  # seed 1
DECADE_SCALE = 0.005


def accounts_read(views: ViewDatabase, position: int) -> tuple[dict[str, str], str]:
    """Every closed month's account and every case's account as the views give them at
    ``position``: the sums of the months' figures, and a digest of both, in which a case
    is named by the position of its grant (case ids differ from run to run)."""
    accounts = Accounts(views)
    months = accounts.closed_months(position)
    totals = {name: str(sum(getattr(month, name) for month in months)) for name in HISTORY_TOTALS}
    text = [repr(month) for month in months]
    last = max(period.month for period in accounts.periods(position))
    for subject_id, granted_at in views.fetchall(
        "SELECT s.subject_id, MIN(p.position) FROM subjects s JOIN positions p"
        " ON p.originator_id = s.subject_id GROUP BY s.subject_id"
    ):
        account = case_account(views, subject_id, position, last)
        if account is not None:  # a relief is not a case
            text += [f"{granted_at} {month!r}" for month in account.months]
    return totals, hashlib.sha256("\n".join(sorted(text)).encode()).hexdigest()


def check_lines(views: ViewDatabase, position: int) -> None:
    """Every closed period's lines, read from the views, have the digest its close
    recorded for the lines it computed; and the views store no own amount."""
    accounts = Accounts(views)
    for period in accounts.periods(position):
        lines = [line for line, _ in accounts.lines(period.programme, period.region, period.month)]
        assert PayrollSummary.of(lines).digest == period.digest, period
        assert accounts.line_count(period.programme, period.region, period.month) == len(lines)
        paged = accounts.lines(period.programme, period.region, period.month, 1, 2)
        assert [line for line, _ in paged] == lines[1:3]
    assert views.fetchall("SELECT 1 FROM payroll_items WHERE kind = ?", (AMOUNT,)) == []


def check_history(database_url: str) -> None:
    ledger = ledger_at(database_url)
    views = open_views(ledger.env)
    try:
        set_reference_standards(ledger)
        play(ledger, views, HISTORY)
        check_lines(views, ledger.position)
        stored = {kind for (kind,) in views.fetchall("SELECT DISTINCT kind FROM payroll_items")}
        assert stored == {"arrears", "recovery", "held"}
        assert accounts_read(views, ledger.position) == (HISTORY_TOTALS, HISTORY_DIGEST)
    finally:
        views.close()
        ledger.close()


def test_a_history_of_returns_holds_and_corrections_reads_as_when_amounts_were_stored(
    tmp_path: Path,
) -> None:
    check_history(f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.mark.postgres
def test_the_same_on_postgresql(postgres_admin_url: str) -> None:
    with fresh_postgres(postgres_admin_url) as url:
        check_history(url)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with opened(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")) as runtime:
        yield runtime


def test_the_decade_reads_as_when_amounts_were_stored(runtime: Runtime) -> None:
    result = run_demo(runtime, 1, DECADE_SCALE, lambda _: None)
    assert result.verified
    check_lines(runtime.views, result.events)
    assert accounts_read(runtime.views, result.events)[1] == DECADE_DIGEST
