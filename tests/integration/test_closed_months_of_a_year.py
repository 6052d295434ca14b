"""A year's closed months read alone are the same as the same months read with every other:
what was settled for them, paid later as arrears or listed as recoveries in a period of the
next year, counts as it does when the whole history is read."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from api.services.closing import close_period
from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.months import Month
from projections.engine.projector import Projector
from projections.reads.period_accounts import Accounts
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from tests.support import (
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    at,
    grant_reference_household,
    ledger_at,
)


class YearOnStore:
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

    def test_a_years_months_settled_in_the_next_year_read_alike_alone_and_with_every_other(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "600"},
            actor="f",
            reason="notice",
            uow=SaveAt(ledger, at("2020-01-02 09:00")),
        )
        grant_reference_household(ledger)
        positions = []

        def close(month: str, when: str) -> None:
            Projector(ledger.recorder, ledger.mapper, views).catch_up()
            uow = SaveAt(ledger, at(when))
            close_period(
                ledger, views, "dibao-urban", QIBIN, Month.parse(month), actor="f", uow=uow
            )
            Projector(ledger.recorder, ledger.mapper, views).catch_up()
            positions.append(ledger.position)

        for number in range(3, 13):
            close(f"2020-{number:02d}", f"2020-{number:02d}-28 20:00")
        ledger.set_standard(  # a raise from November 2020 announced in January 2021
            "dibao-urban",
            QIBIN,
            "2020-11",
            {"standard": "650"},
            actor="f",
            reason="late notice",
            uow=SaveAt(ledger, at("2021-01-10 09:00")),
        )
        close("2021-01", "2021-01-28 20:00")
        accounts = Accounts(views)

        for position in (positions[-2], ledger.position):
            every = accounts.closed_months(position)
            for year in (2020, 2021):
                alone = accounts.closed_months(position, year=year)
                assert alone == [a for a in every if a.month.year == year]
        assert len(accounts.closed_months(ledger.position, year=2021)) == 1
        november = accounts.closed_months(ledger.position, year=2020)[-2]
        assert (str(november.month), november.arrears, november.outstanding) == (
            "2020-11",
            Decimal("150.00"),
            Decimal("0.00"),
        )


class TestOnSQLite(YearOnStore, OnSQLite):
    pass


class TestOnPostgreSQL(YearOnStore, OnPostgreSQL):
    pass
