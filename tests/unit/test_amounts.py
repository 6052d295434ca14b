"""The monthly amount of every programme, computed with no database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import pytest

from domain.ages import age_in, first_month_aged
from domain.cases.amounts import elderly_band, monthly_amount, orphan_last_month
from domain.cases.programmes import CaseFacts, Programme
from domain.errors import StandardNotInForceError
from domain.months import Month

REGION = "410611"


def standards_table(
    table: Mapping[Programme, Mapping[str, str]],
) -> StandardsFromTable:
    return StandardsFromTable(
        {p: {k: Decimal(v) for k, v in ps.items()} for p, ps in table.items()}
    )


class StandardsFromTable:
    """The same standards in every month, in REGION only."""

    def __init__(self, table: Mapping[Programme, Mapping[str, Decimal]]) -> None:
        self.table = table

    def __call__(
        self, programme: Programme, region: str, month: Month
    ) -> Mapping[str, Decimal] | None:
        return self.table.get(programme) if region == REGION else None


M = Month.parse


def test_dibao_pays_the_shortfall_times_the_household() -> None:
    standards = standards_table({Programme.DIBAO_URBAN: {"standard": "600"}})
    facts = CaseFacts(members=("a", "b", "c"), income=Decimal("200.00"))
    amount = monthly_amount(Programme.DIBAO_URBAN, REGION, facts, M("2020-03"), standards)
    assert amount == Decimal("1200.00")


def test_dibao_with_income_at_or_above_the_standard_pays_nothing() -> None:
    standards = standards_table({Programme.DIBAO_RURAL: {"standard": "400"}})
    facts = CaseFacts(members=("a",), income=Decimal("450.00"))
    assert monthly_amount(Programme.DIBAO_RURAL, REGION, facts, M("2020-03"), standards) == 0


def test_tekun_basic_is_never_below_1_3_times_the_dibao_standard() -> None:
    tekun = {
        "basic_urban": "700",
        "basic_rural": "500",
        "care_self": "100",
        "care_partial": "300",
        "care_full": "600",
    }
    low_dibao = standards_table(
        {Programme.TEKUN: tekun, Programme.DIBAO_URBAN: {"standard": "500"}}
    )
    high_dibao = standards_table(
        {Programme.TEKUN: tekun, Programme.DIBAO_URBAN: {"standard": "600.50"}}
    )
    facts = CaseFacts(area="urban", tier="partial")
    # 1.3 x 500 = 650 is below the scheduled 700: 700 + 300.
    assert monthly_amount(Programme.TEKUN, REGION, facts, M("2021-01"), low_dibao) == Decimal(
        "1000.00"
    )
    # 1.3 x 600.50 = 780.65 is above 700: 780.65 + 300.
    assert monthly_amount(Programme.TEKUN, REGION, facts, M("2021-01"), high_dibao) == Decimal(
        "1080.65"
    )


def test_tekun_rounds_half_up_once_per_case_month() -> None:
    standards = standards_table(
        {
            Programme.TEKUN: {
                "basic_urban": "0",
                "basic_rural": "0",
                "care_self": "0",
                "care_partial": "0",
                "care_full": "0",
            },
            Programme.DIBAO_RURAL: {"standard": "400.05"},
        }
    )
    facts = CaseFacts(area="rural", tier="self")
    # 1.3 x 400.05 = 520.065, rounded half up to 520.07.
    assert monthly_amount(Programme.TEKUN, REGION, facts, M("2021-01"), standards) == Decimal(
        "520.07"
    )


def test_reference_case_3_elderly_band_changes_in_the_month_after_the_90th_birthday() -> None:
    standards = standards_table(
        {
            Programme.ELDERLY_ALLOWANCE: {
                "age_80_89": "100",
                "age_90_99": "200",
                "age_100_plus": "300",
            }
        }
    )
    facts = CaseFacts(birth_date=date(1932, 5, 15))
    may = monthly_amount(Programme.ELDERLY_ALLOWANCE, REGION, facts, M("2022-05"), standards)
    june = monthly_amount(Programme.ELDERLY_ALLOWANCE, REGION, facts, M("2022-06"), standards)
    centenarian = monthly_amount(
        Programme.ELDERLY_ALLOWANCE, REGION, facts, M("2032-06"), standards
    )
    assert (may, june, centenarian) == (Decimal("100.00"), Decimal("200.00"), Decimal("300.00"))


def test_a_29_february_birthday_falls_on_1_march_in_common_years() -> None:
    born = date(1940, 2, 29)
    assert age_in(M("2021-02"), born) == 80
    assert age_in(M("2021-03"), born) == 81
    assert first_month_aged(80, born) == M("2020-03")
    # The 18th birthday of someone born 29 February 2004 falls on 1 March 2022.
    assert orphan_last_month(CaseFacts(birth_date=date(2004, 2, 29))) == M("2022-03")
    assert age_in(M("2022-03"), date(2004, 2, 29)) == 18
    assert age_in(M("2022-02"), date(2004, 2, 29)) == 17


def test_a_person_born_on_the_first_is_80_in_their_birthday_month() -> None:
    assert first_month_aged(80, date(1942, 6, 1)) == M("2022-06")
    assert first_month_aged(80, date(1942, 6, 2)) == M("2022-07")


def test_orphan_is_paid_through_the_month_of_the_18th_birthday_not_after() -> None:
    standards = standards_table({Programme.ORPHAN: {"institutional": "1500", "dispersed": "1100"}})
    facts = CaseFacts(birth_date=date(2004, 7, 20), care="dispersed")
    july = monthly_amount(Programme.ORPHAN, REGION, facts, M("2022-07"), standards)
    august = monthly_amount(Programme.ORPHAN, REGION, facts, M("2022-08"), standards)
    assert (july, august) == (Decimal("1100.00"), Decimal("0.00"))


@pytest.mark.parametrize("programme", [Programme.DISABILITY_LIVING, Programme.DISABILITY_NURSING])
def test_disability_subsidies_pay_a_flat_standard(programme: Programme) -> None:
    standards = standards_table({programme: {"standard": "88.88"}})
    facts = CaseFacts(grade=1)
    assert monthly_amount(programme, REGION, facts, M("2019-04"), standards) == Decimal("88.88")


def test_no_standard_in_force_is_refused_by_name() -> None:
    standards = standards_table({})
    with pytest.raises(StandardNotInForceError, match="no disability-living standard"):
        monthly_amount(
            Programme.DISABILITY_LIVING, REGION, CaseFacts(grade=2), M("2019-04"), standards
        )


ELDERLY = standards_table(
    {Programme.ELDERLY_ALLOWANCE: {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"}}
)


@pytest.mark.parametrize(
    ("born", "month", "amount"),
    [
        (date(1942, 6, 1), "2022-05", "0.00"),  # 79 on 1 May
        (date(1942, 6, 1), "2022-06", "100.00"),  # exactly 80 on 1 June
        (date(1942, 6, 2), "2022-06", "0.00"),  # 80 on 2 June: priced from July
        (date(1942, 6, 2), "2022-07", "100.00"),
        (date(1932, 6, 1), "2022-05", "100.00"),  # 89
        (date(1932, 6, 1), "2022-06", "200.00"),  # exactly 90
        (date(1922, 6, 1), "2022-05", "200.00"),  # 99
        (date(1922, 6, 1), "2022-06", "300.00"),  # exactly 100
        (date(1912, 6, 1), "2022-06", "300.00"),  # 110
    ],
)
def test_the_elderly_allowance_is_priced_by_the_age_on_the_first_of_the_month(
    born: date, month: str, amount: str
) -> None:
    facts = CaseFacts(birth_date=born)
    priced = monthly_amount(Programme.ELDERLY_ALLOWANCE, REGION, facts, M(month), ELDERLY)
    assert priced == Decimal(amount)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (80, "age_80_89"),
        (89, "age_80_89"),
        (90, "age_90_99"),
        (99, "age_90_99"),
        (100, "age_100_plus"),
    ],
)
def test_elderly_bands_begin_at_80_90_and_100(age: int, band: str) -> None:
    assert elderly_band(age) == band


def test_tekun_compares_its_basic_with_the_dibao_of_its_own_area() -> None:
    tekun = {
        "basic_urban": "700",
        "basic_rural": "500",
        "care_self": "100",
        "care_partial": "300",
        "care_full": "600",
    }
    standards = standards_table(
        {
            Programme.TEKUN: tekun,
            Programme.DIBAO_URBAN: {"standard": "1000"},
            Programme.DIBAO_RURAL: {"standard": "400"},
        }
    )
    rural = CaseFacts(area="rural", tier="full")
    urban = CaseFacts(area="urban", tier="self")
    # Rural: 1.3 x 400 = 520 is above the scheduled 500: 520 + 600.
    assert monthly_amount(Programme.TEKUN, REGION, rural, M("2021-01"), standards) == Decimal(
        "1120.00"
    )
    # Urban: 1.3 x 1000 = 1300 is above the scheduled 700: 1300 + 100.
    assert monthly_amount(Programme.TEKUN, REGION, urban, M("2021-01"), standards) == Decimal(
        "1400.00"
    )
    # Where no dibao standard is in force, the scheduled basic stands.
    alone = standards_table({Programme.TEKUN: tekun})
    assert monthly_amount(Programme.TEKUN, REGION, rural, M("2021-01"), alone) == Decimal("1100.00")


def test_an_institutional_orphan_is_paid_its_standard_through_the_birthday_month() -> None:
    standards = standards_table({Programme.ORPHAN: {"institutional": "1500", "dispersed": "1100"}})
    facts = CaseFacts(birth_date=date(2004, 7, 1), care="institutional")
    assert [
        monthly_amount(Programme.ORPHAN, REGION, facts, M(m), standards)
        for m in ("2022-06", "2022-07", "2022-08")
    ] == [Decimal("1500.00"), Decimal("1500.00"), Decimal("0.00")]


def test_a_missing_standard_is_refused_naming_the_effective_month() -> None:
    with pytest.raises(StandardNotInForceError) as refusal:
        monthly_amount(
            Programme.DISABILITY_LIVING,
            REGION,
            CaseFacts(grade=2),
            M("2019-04"),
            standards_table({Programme.DIBAO_URBAN: {"standard": "600"}}),
        )
    assert (refusal.value.message, refusal.value.field) == (
        f"no disability-living standard is in force in region {REGION} for 2019-04",
        "effective",
    )


def test_facts_a_programme_needs_are_required() -> None:
    standards = standards_table({Programme.DIBAO_URBAN: {"standard": "600"}})
    with pytest.raises(ValueError, match=r"^the case facts lack a value its programme requires$"):
        monthly_amount(
            Programme.DIBAO_URBAN, REGION, CaseFacts(members=("a",)), M("2020-01"), standards
        )
