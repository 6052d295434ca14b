"""A case's own account (entitled, paid, arrears, recoveries, outstanding per month), on SQLite
and PostgreSQL: the accounts of a programme's and region's cases add up to its month totals,
at every position of a history with a retroactive raise, a rescission and a late exit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services.closing import close_period
from domain.application.recording import SaveAt
from domain.months import Month
from projections.reads.period_accounts import (
    Accounts,
    CaseMonth,
    MonthTotal,
    case_account,
    month_totals,
)
from tests.support import (
    HESHAN,
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    at,
    grant_reference_disability_case,
    grant_reference_household,
    person,
    rescind_in_september_2019,
    verified_household,
)

M = Month.parse
D = Decimal
ZERO = D("0.00")
LAST_MONTH = M("2020-09")


@dataclass(frozen=True)
class AccountsHistory:
    """The cases of ``record_a_history_with_settlements`` and the ledger's positions after
    each of its steps."""

    rescinded: UUID  # disability living subsidy 500 from 2019-04, rescinded in 2019-09
    kept: UUID  # disability living subsidy 500 from 2019-06
    raised: UUID  # reference household: 1200 from 2020-03, July raised to 1350 in August
    left: UUID  # dibao household of 2, 600 from 2020-03, exit from 2020-06 recorded in August
    positions: list[int]


def record_a_history_with_settlements(runtime: Runtime) -> AccountsHistory:
    """Two disability cases in Qibin with periods closed 2019-04 to 2019-09, one rescinded
    in September; two urban dibao households with periods closed 2020-03 to 2020-08, a
    raise of July recorded on 2020-08-20, a late exit from June recorded on 2020-08-25,
    and a raise of August recorded after August closed (outstanding, not yet settled)."""
    ledger, views = runtime.ledger, runtime.views
    positions: list[int] = []

    def when(text: str) -> SaveAt:
        return SaveAt(ledger, at(text))

    def catch_up() -> None:
        if runtime.poller is None:
            runtime.projector.catch_up()
        else:  # the service's own poller projects
            runtime.read_side.wait_for(ledger.position)

    def step() -> None:
        catch_up()
        positions.append(ledger.position)

    def close(programme: str, month: str, day: str) -> None:
        catch_up()
        uow = when(f"{month}-{day} 18:00")
        close_period(ledger, views, programme, QIBIN, M(month), actor="finance-1", uow=uow)
        step()

    ledger.set_standard(
        "disability-living",
        QIBIN,
        "2019-04",
        {"standard": "500"},
        actor="finance-1",
        reason="notice",
        uow=when("2019-04-01 09:00"),
    )
    rescinded = grant_reference_disability_case(ledger)
    step()
    close("disability-living", "2019-04", "30")
    close("disability-living", "2019-05", "31")
    kept = ledger.grant(
        "disability-living",
        QIBIN,
        "2019-06",
        [person(date(1966, 6, 6), 5)],
        grade=1,
        actor="cw-1",
        reason="certificate",
        uow=when("2019-06-04 10:00"),
    ).id
    step()
    for month, day in (("06", "30"), ("07", "31"), ("08", "31")):
        close("disability-living", f"2019-{month}", day)
    rescind_in_september_2019(ledger, rescinded)
    step()
    close("disability-living", "2019-09", "30")

    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-01",
        {"standard": "600"},
        actor="finance-1",
        reason="notice",
        uow=when("2020-01-02 09:00"),
    )
    raised = grant_reference_household(ledger)
    couple = [person(date(1970, 1, 1), 6), person(date(1972, 2, 2), 7)]
    uow = when("2020-03-05 10:00")
    left = ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-03",
        couple,
        income="300",
        verification_id=verified_household(ledger, couple, "300", uow=uow),
        actor="cw-1",
        reason="applied",
        uow=uow,
    ).id
    step()
    for month, day in (("03", "31"), ("04", "30"), ("05", "31"), ("06", "30"), ("07", "31")):
        close("dibao-urban", f"2020-{month}", day)
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-07",
        {"standard": "650"},
        actor="finance-1",
        reason="raise announced late",
        uow=when("2020-08-20 10:00"),
    )
    step()
    ledger.exit(left, "2020-06", actor="cw-1", reason="moved away", uow=when("2020-08-25 10:00"))
    step()
    close("dibao-urban", "2020-08", "31")
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-08",
        {"standard": "700"},
        actor="finance-1",
        reason="raise announced late",
        uow=when("2020-09-10 10:00"),
    )
    step()
    return AccountsHistory(rescinded, kept, raised, left, positions)


def months_of(
    runtime: Runtime, case: UUID, position: int, as_of: str = "2020-09"
) -> dict[str, CaseMonth]:
    """The case's months, none when it was not known at ``position``."""
    account = case_account(runtime.views, case.hex, position, M(as_of))
    return {} if account is None else {str(month.month): month for month in account.months}


def figures(month: CaseMonth) -> tuple[Decimal | None, ...]:
    return (month.entitled, month.paid, month.arrears, month.recoveries, month.outstanding)


class CaseAccountOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def runtime(self, database_url: str) -> Iterator[Runtime]:
        with opened(Settings(database_url=database_url)) as runtime:
            yield runtime

    @pytest.fixture
    def history(self, runtime: Runtime) -> AccountsHistory:
        return record_a_history_with_settlements(runtime)

    def test_the_cases_accounts_add_up_to_the_month_totals_at_every_position(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        cases = {
            "disability-living": (history.rescinded, history.kept),
            "dibao-urban": (history.raised, history.left),
        }
        checked = 0
        for position in history.positions:
            for programme, ids in cases.items():
                accounts = [months_of(runtime, case, position) for case in ids]
                for total in (
                    t
                    for month in range(M("2019-03").index, LAST_MONTH.index + 1)
                    for t in month_totals(runtime.views, Month(month), position, programme, QIBIN)
                ):
                    rows = [a[str(total.month)] for a in accounts if str(total.month) in a]
                    summed = (
                        sum((r.entitled for r in rows), ZERO),
                        _sum([r.paid for r in rows]),
                        _sum([r.settled for r in rows]),
                        _sum([r.outstanding for r in rows]),
                    )
                    expected = (total.entitled, total.paid, total.settled, total.outstanding)
                    assert summed == expected, (position, programme, total.month)
                    checked += 1
        assert checked > 100

    def test_a_retroactive_raise_shows_as_outstanding_then_as_arrears(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        before_august_closed = history.positions[-4]
        july = months_of(runtime, history.raised, before_august_closed)["2020-07"]
        assert figures(july) == (D("1350.00"), D("1200.00"), ZERO, ZERO, D("150.00"))
        now = months_of(runtime, history.raised, runtime.read_side.position)
        assert figures(now["2020-07"]) == (D("1350.00"), D("1200.00"), D("150.00"), ZERO, ZERO)
        # August's raise came after August closed: outstanding until September closes.
        assert figures(now["2020-08"]) == (D("1500.00"), D("1350.00"), ZERO, ZERO, D("150.00"))
        assert figures(now["2020-09"]) == (D("1500.00"), None, None, None, None)
        assert now["2020-09"].status == "paying"

    def test_a_late_exit_lists_the_months_paid_after_it_as_recoveries(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        now = months_of(runtime, history.left, runtime.read_side.position)
        assert list(now) == ["2020-03", "2020-04", "2020-05", "2020-06", "2020-07"]
        assert figures(now["2020-05"]) == (D("600.00"), D("600.00"), ZERO, ZERO, ZERO)
        # July was raised to 700 and then exited: 600 paid, 600 listed to recover.
        for month in ("2020-06", "2020-07"):
            assert figures(now[month]) == (ZERO, D("600.00"), ZERO, D("600.00"), ZERO)
            assert now[month].status is None

    def test_a_rescinded_case_keeps_what_it_was_paid_and_what_is_to_recover(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        rescinded_not_closed = history.positions[7]
        then = months_of(runtime, history.rescinded, rescinded_not_closed, "2019-09")
        assert figures(then["2019-04"]) == (ZERO, D("500.00"), ZERO, ZERO, D("-500.00"))
        now = months_of(runtime, history.rescinded, runtime.read_side.position, "2019-12")
        assert list(now) == ["2019-04", "2019-05", "2019-06", "2019-07", "2019-08"]
        assert {figures(m) for m in now.values()} == {(ZERO, D("500.00"), ZERO, D("500.00"), ZERO)}
        known_before = months_of(runtime, history.rescinded, history.positions[6], "2019-12")
        assert figures(known_before["2019-08"]) == (D("500.00"), D("500.00"), ZERO, ZERO, ZERO)
        assert figures(known_before["2019-09"]) == (D("500.00"), None, None, None, None)

    def test_an_account_names_its_case_schedule_and_position(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        position = history.positions[-1]
        account = case_account(runtime.views, history.raised.hex, position, M("2020-09"))
        assert account is not None
        assert (account.subject_id, account.programme, account.region, account.position) == (
            history.raised.hex,
            "dibao-urban",
            QIBIN,
            position,
        )

    def test_a_case_is_settled_by_its_own_regions_closes_only(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        if runtime.poller is None:
            runtime.projector.catch_up()
        uow = SaveAt(runtime.ledger, at("2020-09-30 18:00"))
        close_period(
            runtime.ledger,
            runtime.views,
            "disability-living",
            HESHAN,
            M("2019-10"),
            actor="finance-2",
            uow=uow,
        )
        if runtime.poller is None:
            runtime.projector.catch_up()
        else:
            runtime.read_side.wait_for(runtime.ledger.position)
        now = months_of(runtime, history.kept, runtime.read_side.position, "2019-10")
        # Heshan closed October; Qibin did not: the Qibin case's October is still open.
        assert figures(now["2019-10"]) == (D("500.00"), None, None, None, None)
        assert figures(now["2019-09"]) == (D("500.00"), D("500.00"), ZERO, ZERO, ZERO)

    def test_as_of_limits_the_account_to_the_months_up_to_it(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        position = runtime.read_side.position
        assert list(months_of(runtime, history.kept, position, "2019-07")) == [
            "2019-06",
            "2019-07",
        ]
        assert months_of(runtime, history.raised, position, "2020-02") == {}
        assert case_account(runtime.views, "0" * 32, position, M("2020-01")) is None
        not_yet = history.positions[0]
        assert case_account(runtime.views, history.kept.hex, not_yet, M("2019-07")) is None

    def test_a_closed_month_whose_cases_all_left_still_totals_what_was_paid_and_to_recover(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        position = runtime.read_side.position
        # Only the rescinded case was open in April 2019: no case now, 500 paid, 500 to recover.
        assert month_totals(runtime.views, M("2019-04"), position, "disability-living") == [
            MonthTotal(
                "disability-living", QIBIN, M("2019-04"), 0, ZERO, D("500.00"), D("-500.00"), ZERO
            )
        ]
        # Before the rescission the month had its case and balanced.
        before = history.positions[6]
        assert month_totals(runtime.views, M("2019-04"), before, "disability-living") == [
            MonthTotal(
                "disability-living", QIBIN, M("2019-04"), 1, D("500.00"), D("500.00"), ZERO, ZERO
            )
        ]
        # No case and nothing closed: no total.
        assert month_totals(runtime.views, M("2019-04"), position, "dibao-urban") == []
        # A month with an open case and a close, and another region with neither.
        september = M("2019-09")
        assert month_totals(runtime.views, september, position, "disability-living", QIBIN) == [
            MonthTotal(
                "disability-living", QIBIN, september, 1, D("500.00"), D("500.00"), ZERO, ZERO
            )
        ]
        assert month_totals(runtime.views, september, position, "disability-living", HESHAN) == []

    def test_a_closed_periods_lines_are_paged_in_case_order_by_offset_and_limit(
        self, runtime: Runtime, history: AccountsHistory
    ) -> None:
        accounts = Accounts(runtime.views)
        august = M("2020-08")
        lines = accounts.lines("dibao-urban", QIBIN, august)
        assert sorted(
            (line.subject_id, line.amount, line.arrears, line.recoveries) for line, _ in lines
        ) == sorted(
            [
                (history.raised.hex, D("1350.00"), D("150.00"), ZERO),
                (history.left.hex, ZERO, ZERO, D("1200.00")),
            ]
        )
        assert [line.subject_id for line, _ in lines] == sorted(
            [history.raised.hex, history.left.hex]
        )
        assert accounts.line_count("dibao-urban", QIBIN, august) == 2
        assert accounts.lines("dibao-urban", QIBIN, august, offset=0, limit=1) == lines[:1]
        assert accounts.lines("dibao-urban", QIBIN, august, offset=1, limit=1) == lines[1:]
        assert accounts.lines("dibao-urban", QIBIN, august, offset=0, limit=5) == lines
        assert accounts.lines("dibao-urban", QIBIN, august, offset=2, limit=1) == []
        assert accounts.lines("dibao-urban", QIBIN, august, offset=0, limit=0) == []
        with pytest.raises(ValueError) as refused:
            accounts.lines("dibao-urban", QIBIN, august, offset=1)
        assert str(refused.value) == "an offset needs a limit"
        # Each line carries its applicant's reference, on every page alike.
        assert all(holder for _, holder in lines)


def _sum(values: list[Decimal | None]) -> Decimal | None:
    present = [value for value in values if value is not None]
    if not present:
        return None
    assert len(present) == len(values)  # a month is closed for every case of its schedule
    return sum(present, ZERO)


class TestCaseAccountOnSQLite(OnSQLite, CaseAccountOnStore):
    pass


class TestCaseAccountOnPostgreSQL(OnPostgreSQL, CaseAccountOnStore):
    pass
