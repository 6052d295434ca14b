"""Payroll periods on SQLite and PostgreSQL: arrears, recoveries and the balance identity."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from api.services.closing import close_period
from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.cases.programmes import Programme
from domain.errors import CaseStateError, EffectiveMonthError
from domain.months import Month
from domain.payroll_periods import PayrollLine, PayrollPeriods
from domain.people.identity import IdentityNumber
from domain.people.person import PersonInput
from projections.engine.projector import Projector
from projections.engine.rebuild import rebuild_and_compare
from projections.reads import payroll_lines
from projections.reads.period_accounts import Accounts, MonthAccount, Period
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from tests.support import (
    HESHAN,
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    at,
    grant_reference_disability_case,
    grant_reference_household,
    ledger_at,
    person,
    rescind_in_september_2019,
)

M = Month.parse
D = Decimal


class PayrollOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, database_url: str) -> Iterator[Ledger]:
        ledger = ledger_at(database_url)
        yield ledger
        ledger.close()

    @pytest.fixture
    def views(self, ledger: Ledger) -> Iterator[ViewDatabase]:
        views = open_views(ledger.env)
        yield views
        views.close()

    def close(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        programme: str,
        month: str,
        when: str,
        region: str = QIBIN,
    ) -> None:
        Projector(ledger.recorder, ledger.mapper, views).catch_up()
        uow = SaveAt(ledger, at(when))
        close_period(ledger, views, programme, region, M(month), actor="finance-1", uow=uow)
        Projector(ledger.recorder, ledger.mapper, views).catch_up()

    def lines(
        self, views: ViewDatabase, programme: str, month: str
    ) -> list[tuple[str, str, str, str]]:
        return [
            (str(line.amount), str(line.arrears), str(line.recoveries), str(line.to_pay))
            for line, _holder in Accounts(views).lines(programme, QIBIN, M(month))
        ]

    def recorded_closes(self, ledger: Ledger, programme: str) -> list[PayrollPeriods.PeriodClosed]:
        periods = PayrollPeriods.id_for(Programme(programme), QIBIN)
        return [e for e in ledger.events.get(periods) if isinstance(e, PayrollPeriods.PeriodClosed)]

    def check_recorded_closes(self, ledger: Ledger, views: ViewDatabase, programme: str) -> None:
        """What each close recorded (line count, totals, digest) is what its lines, as the
        views hold them, add up to: recomputed here, not by the code that made the close."""
        closes = self.recorded_closes(ledger, programme)
        assert closes
        for closed in closes:
            lines = [line for line, _ in Accounts(views).lines(programme, QIBIN, closed.month)]
            text = "".join(
                f"{line.subject_id},{line.amount},{line.arrears},{line.recoveries}\n"
                for line in lines
            )
            assert (
                closed.line_count,
                closed.month_total,
                closed.arrears_total,
                closed.recoveries_total,
                closed.digest,
            ) == (
                len(lines),
                sum((line.amount for line in lines), D("0.00")),
                sum((line.arrears for line in lines), D("0.00")),
                sum((line.recoveries for line in lines), D("0.00")),
                hashlib.sha256(text.encode("ascii")).hexdigest(),
            ), closed.month

    def accounts(self, views: ViewDatabase) -> dict[str, MonthAccount]:
        read = ReadSide(views)
        return {str(a.month): a for a in Accounts(views).closed_months(read.position)}

    def household_case(self, ledger: Ledger) -> UUID:
        uow = SaveAt(ledger, at("2020-01-02 09:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n", uow=uow
        )
        return grant_reference_household(ledger)

    def test_reference_case_1_a_retroactive_raise_is_paid_as_arrears_with_august(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        self.household_case(ledger)
        for month, day in (
            ("2020-03", "31"),
            ("2020-04", "30"),
            ("2020-05", "31"),
            ("2020-06", "30"),
            ("2020-07", "31"),
        ):
            self.close(ledger, views, "dibao-urban", month, f"{month}-{day} 18:00")
        assert self.lines(views, "dibao-urban", "2020-07") == [
            ("1200.00", "0.00", "0.00", "1200.00")
        ]
        uow = SaveAt(ledger, at("2020-08-20 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="raise", uow=uow
        )
        Projector(ledger.recorder, ledger.mapper, views).catch_up()
        july = self.accounts(views)["2020-07"]
        assert (july.entitled, july.paid, july.outstanding) == (
            D("1350.00"),
            D("1200.00"),
            D("150.00"),
        )
        self.close(ledger, views, "dibao-urban", "2020-08", "2020-08-31 18:00")
        assert self.lines(views, "dibao-urban", "2020-08") == [
            ("1350.00", "150.00", "0.00", "1500.00")
        ]
        july = self.accounts(views)["2020-07"]
        assert (july.paid, july.arrears, july.outstanding) == (D("1200.00"), D("150.00"), D("0.00"))
        assert all(account.balances for account in self.accounts(views).values())
        self.check_recorded_closes(ledger, views, "dibao-urban")

    def test_reference_case_4_a_rescinded_disability_subsidy_is_recovered_in_full(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2019-04-01 09:00"))
        ledger.set_standard(
            "disability-living",
            QIBIN,
            "2019-04",
            {"standard": "500"},
            actor="f",
            reason="n",
            uow=uow,
        )
        case = grant_reference_disability_case(ledger)
        for month, day in (
            ("2019-04", "30"),
            ("2019-05", "31"),
            ("2019-06", "30"),
            ("2019-07", "31"),
            ("2019-08", "31"),
        ):
            self.close(ledger, views, "disability-living", month, f"{month}-{day} 18:00")
        rescind_in_september_2019(ledger, case)
        self.close(ledger, views, "disability-living", "2019-09", "2019-09-30 18:00")
        assert self.lines(views, "disability-living", "2019-09") == [
            ("0.00", "0.00", "2500.00", "0.00")
        ]
        read = ReadSide(views)
        then = read.known_position(date(2019, 8, 31))
        assert [
            e.subject_id for e in read.roll("disability-living", QIBIN, M("2019-08"), then)
        ] == [case.hex]
        assert read.roll("disability-living", QIBIN, M("2019-08"), read.position) == []
        assert all(account.balances for account in self.accounts(views).values())
        self.check_recorded_closes(ledger, views, "disability-living")

    def test_a_raise_settled_then_rescinded_recovers_the_month_and_its_arrears(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        case = self.household_case(ledger)
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        uow = SaveAt(ledger, at("2020-04-10 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-03", {"standard": "650"}, actor="f", reason="raise", uow=uow
        )
        self.close(ledger, views, "dibao-urban", "2020-04", "2020-04-30 18:00")
        assert self.lines(views, "dibao-urban", "2020-04") == [
            ("1350.00", "150.00", "0.00", "1500.00")
        ]
        uow = SaveAt(ledger, at("2020-05-10 10:00"))
        ledger.request_rescission(case, actor="cw", reason="fraud", uow=uow)
        ledger.approve_rescission(case, actor="approver", reason="ok", uow=uow)
        self.close(ledger, views, "dibao-urban", "2020-05", "2020-05-31 18:00")
        # March: 1200 paid + 150 arrears; April: 1350 paid. All of it is recovered.
        assert self.lines(views, "dibao-urban", "2020-05") == [("0.00", "0.00", "2700.00", "0.00")]
        march = self.accounts(views)["2020-03"]
        assert (march.paid, march.arrears, march.recoveries, march.entitled) == (
            D("1200.00"),
            D("150.00"),
            D("1350.00"),
            D("0.00"),
        )
        self.check_recorded_closes(ledger, views, "dibao-urban")

    def test_a_standard_correction_after_a_close_is_recovered(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        self.household_case(ledger)
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        uow = SaveAt(ledger, at("2020-04-05 10:00"))
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "580"},
            actor="f",
            reason="typo",
            correction=True,
            uow=uow,
        )
        self.close(ledger, views, "dibao-urban", "2020-04", "2020-04-30 18:00")
        assert self.lines(views, "dibao-urban", "2020-04") == [
            ("1140.00", "0.00", "60.00", "1140.00")
        ]
        self.check_recorded_closes(ledger, views, "dibao-urban")

    def test_an_exit_backdated_over_two_closed_months_recovers_both(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        case = self.household_case(ledger)
        for month, day in (("2020-03", "31"), ("2020-04", "30"), ("2020-05", "31")):
            self.close(ledger, views, "dibao-urban", month, f"{month}-{day} 18:00")
        uow = SaveAt(ledger, at("2020-06-03 10:00"))
        ledger.exit(case, "2020-04", actor="cw", reason="moved away in March", uow=uow)
        self.close(ledger, views, "dibao-urban", "2020-06", "2020-06-30 18:00")
        assert self.lines(views, "dibao-urban", "2020-06") == [("0.00", "0.00", "2400.00", "0.00")]
        accounts = self.accounts(views)
        assert [(accounts[m].recoveries, accounts[m].entitled) for m in ("2020-04", "2020-05")] == [
            (D("1200.00"), D("0.00")),
            (D("1200.00"), D("0.00")),
        ]
        # The close of June records the two months recovered on the case's one line.
        june = self.recorded_closes(ledger, "dibao-urban")[-1]
        assert (june.line_count, june.month_total, june.arrears_total, june.recoveries_total) == (
            1,
            D("0.00"),
            D("0.00"),
            D("2400.00"),
        )
        line = f"{case.hex},0.00,0.00,2400.00\n"
        assert june.digest == hashlib.sha256(line.encode("ascii")).hexdigest()
        assert (june.actor, june.position) == ("finance-1", ledger.position - 1)
        self.check_recorded_closes(ledger, views, "dibao-urban")

    def test_a_rescinded_emergency_relief_is_recovered_at_the_next_relief_close(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        self.household_case(ledger)
        uow = SaveAt(ledger, at("2020-03-05 10:00"))
        relief = ledger.grant_relief(
            QIBIN,
            "urban",
            "emergency",
            date(2020, 3, 5),
            2,
            "3000",
            PersonInput(person(date(1970, 1, 1), 9).identity_number, "周八"),
            actor="cw",
            reason="fire",
            uow=uow,
        ).id
        self.close(ledger, views, "temporary-relief", "2020-03", "2020-03-31 18:00")
        assert self.lines(views, "temporary-relief", "2020-03") == [
            ("3000.00", "0.00", "0.00", "3000.00")
        ]
        uow = SaveAt(ledger, at("2020-04-02 10:00"))
        ledger.review_relief(relief, "rescinded", actor="approver", reason="no fire", uow=uow)
        self.close(ledger, views, "temporary-relief", "2020-04", "2020-04-30 18:00")
        assert self.lines(views, "temporary-relief", "2020-04") == [
            ("0.00", "0.00", "3000.00", "0.00")
        ]
        self.check_recorded_closes(ledger, views, "temporary-relief")

    def test_months_before_the_first_closed_period_get_no_arrears(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2020-01-02 09:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n", uow=uow
        )
        ledger.grant(
            "dibao-urban",
            QIBIN,
            "2020-01",
            [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)],
            income="200",
            actor="cw",
            reason="x",
            uow=uow,
        )
        # The ledger pays this programme from March: January and February were paid before.
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        uow = SaveAt(ledger, at("2020-04-10 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-01", {"standard": "650"}, actor="f", reason="raise", uow=uow
        )
        self.close(ledger, views, "dibao-urban", "2020-04", "2020-04-30 18:00")
        assert self.lines(views, "dibao-urban", "2020-04") == [
            ("900.00", "100.00", "0.00", "1000.00")
        ]
        assert list(self.accounts(views)) == ["2020-03", "2020-04"]
        self.check_recorded_closes(ledger, views, "dibao-urban")

    def test_closed_periods_are_read_per_programme_and_region_as_known_at_a_position(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2020-01-02 09:00"))
        for programme, region, standard in (
            ("dibao-urban", QIBIN, "600"),
            ("dibao-urban", HESHAN, "600"),
            ("disability-living", QIBIN, "500"),
        ):
            ledger.set_standard(
                programme, region, "2020-01", {"standard": standard}, actor="f", reason="n", uow=uow
            )
        ledger.grant(
            "dibao-urban",
            QIBIN,
            "2020-01",
            [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)],
            income="200",
            actor="cw",
            reason="x",
            uow=uow,
        )
        ledger.grant(
            "dibao-urban",
            HESHAN,
            "2020-01",
            [person(date(1970, 1, 1), 3)],
            income="100",
            actor="cw",
            reason="x",
            uow=uow,
        )
        ledger.grant(
            "disability-living",
            QIBIN,
            "2020-01",
            [person(date(1960, 1, 1), 4)],
            grade=1,
            actor="cw",
            reason="x",
            uow=uow,
        )
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:01", region=HESHAN)
        self.close(ledger, views, "disability-living", "2020-03", "2020-03-31 18:02")
        before_april = ReadSide(views).position
        self.close(ledger, views, "dibao-urban", "2020-04", "2020-04-30 18:00")
        now = ReadSide(views).position
        accounts = Accounts(views)

        def closed(periods: list[Period]) -> list[tuple[str, str, str, str]]:
            return [(p.programme, p.region, str(p.month), str(p.month_total)) for p in periods]

        assert closed(accounts.periods(now)) == [
            ("dibao-urban", HESHAN, "2020-03", "500.00"),
            ("dibao-urban", QIBIN, "2020-03", "800.00"),
            ("dibao-urban", QIBIN, "2020-04", "800.00"),
            ("disability-living", QIBIN, "2020-03", "500.00"),
        ]
        assert closed(accounts.periods(now, "dibao-urban", QIBIN)) == [
            ("dibao-urban", QIBIN, "2020-03", "800.00"),
            ("dibao-urban", QIBIN, "2020-04", "800.00"),
        ]
        assert closed(accounts.periods(now, region=HESHAN)) == [
            ("dibao-urban", HESHAN, "2020-03", "500.00")
        ]
        assert closed(accounts.periods(before_april, "dibao-urban")) == [
            ("dibao-urban", HESHAN, "2020-03", "500.00"),
            ("dibao-urban", QIBIN, "2020-03", "800.00"),
        ]
        applicant = ledger.references.reference(
            IdentityNumber.parse(person(date(1980, 1, 1), 1).identity_number)
        )
        assert [
            (str(line.amount), holder)
            for line, holder in accounts.lines("dibao-urban", QIBIN, M("2020-04"))
        ] == [("800.00", applicant)]
        april = accounts.periods(now, "dibao-urban", QIBIN)[-1]
        assert (april.position, april.closed_at, april.line_count) == (before_april, now, 1)
        assert (april.arrears, april.recoveries, april.digest_matches) == (
            D("0.00"),
            D("0.00"),
            True,
        )

        def months(position: int, *where: str) -> list[tuple[str, str, str, str, str]]:
            return [
                (a.programme, a.region, str(a.month), str(a.entitled), str(a.paid))
                for a in accounts.closed_months(position, *where)
            ]

        assert months(now, "dibao-urban", QIBIN) == [
            ("dibao-urban", QIBIN, "2020-03", "800.00", "800.00"),
            ("dibao-urban", QIBIN, "2020-04", "800.00", "800.00"),
        ]
        assert sorted(months(before_april)) == [
            ("dibao-urban", HESHAN, "2020-03", "500.00", "500.00"),
            ("dibao-urban", QIBIN, "2020-03", "800.00", "800.00"),
            ("disability-living", QIBIN, "2020-03", "500.00", "500.00"),
        ]

    @pytest.mark.parametrize("chunk", [1, 500])
    def test_a_retroactive_raise_pays_arrears_to_every_household_however_many_are_read_at_once(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        monkeypatch: pytest.MonkeyPatch,
        chunk: int,
    ) -> None:
        monkeypatch.setattr(payroll_lines, "CHUNK", chunk)
        uow = SaveAt(ledger, at("2020-01-02 09:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n", uow=uow
        )
        households: dict[str, str] = {}
        uow = SaveAt(ledger, at("2020-03-02 09:00"))
        for name, members, income in (("one", 1, "100"), ("two", 2, "300"), ("three", 1, "0")):
            households[name] = ledger.grant(
                "dibao-urban",
                QIBIN,
                "2020-03",
                [person(date(1980, 1, n + 1), 10 * len(households) + n) for n in range(members)],
                income=income,
                actor="cw",
                reason="x",
                uow=uow,
            ).id.hex
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        uow = SaveAt(ledger, at("2020-04-10 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-03", {"standard": "610"}, actor="f", reason="raise", uow=uow
        )
        self.close(ledger, views, "dibao-urban", "2020-04", "2020-04-30 18:00")
        lines = {
            line.subject_id: (str(line.amount), str(line.arrears), str(line.recoveries))
            for line, _ in Accounts(views).lines("dibao-urban", QIBIN, M("2020-04"))
        }
        assert lines == {
            households["one"]: ("510.00", "10.00", "0.00"),
            households["two"]: ("620.00", "20.00", "0.00"),
            households["three"]: ("610.00", "10.00", "0.00"),
        }
        self.check_recorded_closes(ledger, views, "dibao-urban")

    def test_a_raise_of_one_fen_is_paid_as_one_fen_of_arrears(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2019-04-01 09:00"))
        ledger.set_standard(
            "disability-living",
            QIBIN,
            "2019-04",
            {"standard": "500"},
            actor="f",
            reason="n",
            uow=uow,
        )
        grant_reference_disability_case(ledger)
        self.close(ledger, views, "disability-living", "2019-04", "2019-04-30 18:00")
        uow = SaveAt(ledger, at("2019-05-03 10:00"))
        ledger.set_standard(
            "disability-living",
            QIBIN,
            "2019-04",
            {"standard": "500.01"},
            actor="f",
            reason="n",
            uow=uow,
        )
        self.close(ledger, views, "disability-living", "2019-05", "2019-05-31 18:00")
        assert self.lines(views, "disability-living", "2019-05") == [
            ("500.01", "0.01", "0.00", "500.02")
        ]
        self.check_recorded_closes(ledger, views, "disability-living")

    def test_periods_close_in_month_order_each_once_and_not_before_they_begin(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        self.household_case(ledger)
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        position = ledger.position
        with pytest.raises(CaseStateError, match="the next period to close is 2020-04"):
            self.close(ledger, views, "dibao-urban", "2020-03", "2020-04-01 18:00")
        with pytest.raises(CaseStateError, match="not 2020-05"):
            self.close(ledger, views, "dibao-urban", "2020-05", "2020-05-31 18:00")
        with pytest.raises(EffectiveMonthError, match="before it begins"):
            self.close(ledger, views, "dibao-urban", "2020-04", "2020-03-31 19:00")
        assert ledger.position == position

    def test_a_close_recorded_with_other_lines_than_the_views_give_does_not_match(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        case_id = self.household_case(ledger)
        self.close(ledger, views, "dibao-urban", "2020-03", "2020-03-31 18:00")
        # Lines made up by the caller, not computed from the views: the ledger takes them
        # (it cannot know), and the projection recomputes the period and shows the mismatch.
        made_up = [PayrollLine(case_id.hex, Decimal("1.00"), Decimal("0.00"), Decimal("0.00"))]
        uow = SaveAt(ledger, at("2020-04-30 18:00"))
        ledger.close_period(
            "dibao-urban",
            QIBIN,
            "2020-04",
            ledger.position,
            made_up,
            previous=M("2020-03"),
            actor="finance-1",
            uow=uow,
        )
        Projector(ledger.recorder, ledger.mapper, views).catch_up()
        periods = Accounts(views).periods(ReadSide(views).position)
        assert [p.digest_matches for p in periods] == [True, False]

    def test_replay_reproduces_every_period_digest(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        self.household_case(ledger)
        for month, day in (("2020-03", "31"), ("2020-04", "30")):
            self.close(ledger, views, "dibao-urban", month, f"{month}-{day} 18:00")
        uow = SaveAt(ledger, at("2020-05-02 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-04", {"standard": "620"}, actor="f", reason="n", uow=uow
        )
        self.close(ledger, views, "dibao-urban", "2020-05", "2020-05-31 18:00")
        periods = Accounts(views).periods(ReadSide(views).position)
        assert [p.digest_matches for p in periods] == [True, True, True]
        self.check_recorded_closes(ledger, views, "dibao-urban")
        scratch = open_views(ledger.env, schema="ledger_rebuild")
        try:
            assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []
        finally:
            scratch.close()


class TestPayrollOnSQLite(OnSQLite, PayrollOnStore):
    pass


class TestPayrollOnPostgreSQL(OnPostgreSQL, PayrollOnStore):
    pass
