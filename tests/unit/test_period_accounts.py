"""The accounts of closed months, as an auditor reads them: what balances, what a digest
mismatch looks like, and the yearly reconciliation over regions."""

from __future__ import annotations

from decimal import Decimal

from domain.months import Month
from projections.reads.period_accounts import MonthAccount, Period, Reconciliation, reconcile

D = Decimal
M = Month.parse


def account(
    programme: str, region: str, month: str, *figures: str, outstanding: str = "0"
) -> MonthAccount:
    entitled, paid, arrears, recoveries = (D(f) for f in figures)
    return MonthAccount(
        programme, region, M(month), entitled, paid, arrears, recoveries, D(outstanding)
    )


def test_a_month_balances_when_entitled_is_paid_plus_settled_plus_outstanding() -> None:
    # 1350 entitled: 1200 paid, 150 arrears settled later, nothing outstanding.
    july = account("dibao-urban", "410611", "2020-07", "1350", "1200", "150", "0")
    assert (july.settled, july.balances) == (D("150"), True)
    # Rescinded: 0 entitled, 1200 paid and 150 arrears, all of it recovered.
    rescinded = account("dibao-urban", "410611", "2020-07", "0", "1200", "150", "1350")
    assert (rescinded.settled, rescinded.balances) == (D("-1200"), True)
    # A raise not settled yet is outstanding.
    raised = account(
        "dibao-urban", "410611", "2020-07", "1400", "1200", "150", "0", outstanding="50"
    )
    assert raised.balances
    unexplained = account("dibao-urban", "410611", "2020-07", "1400", "1200", "150", "0")
    assert not unexplained.balances


def test_a_period_whose_recorded_digest_differs_from_its_lines_is_visible() -> None:
    def period(digest: str, recomputed: str) -> Period:
        return Period(
            "dibao-urban",
            "410611",
            M("2020-07"),
            10,
            11,
            1,
            D("1"),
            D("0"),
            D("0"),
            digest,
            recomputed,
        )

    assert period("ab", "ab").digest_matches
    assert not period("ab", "ac").digest_matches


def test_the_reconciliation_sums_closed_months_per_programme_and_year_over_regions() -> None:
    accounts = [
        account("dibao-urban", "410611", "2020-12", "100", "90", "10", "0"),
        account("dibao-urban", "410602", "2020-11", "50", "50", "0", "5", outstanding="5"),
        account("dibao-urban", "410611", "2021-01", "70", "70", "0", "0"),
        account("disability-living", "410611", "2020-12", "500", "500", "0", "0"),
    ]
    assert reconcile(accounts) == [
        Reconciliation("dibao-urban", 2020, D("150"), D("140"), D("10"), D("5"), D("5")),
        Reconciliation("dibao-urban", 2021, D("70"), D("70"), D("0"), D("0"), D("0")),
        Reconciliation("disability-living", 2020, D("500"), D("500"), D("0"), D("0"), D("0")),
    ]
    assert reconcile([]) == []
