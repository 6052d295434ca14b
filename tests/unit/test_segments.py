"""A case's entitlement over valid time as segments: one per run of months with the same
amount and status, split where a decision, a standard or a birthday changes either."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.cases.fold import Decision, DecisionKind
from domain.cases.programmes import Programme
from domain.months import Month
from projections.engine.segments import Segment, case_segments
from projections.engine.standards_table import StandardsTable

M = Month.parse
D = Decimal
K = DecisionKind
REGION = "410611"
HOUSEHOLD = (("income", D("200.00")), ("members", ("a", "b", "c")))


def table(*entries: tuple[Programme, str, dict[str, str]]) -> StandardsTable:
    standards = StandardsTable()
    for programme, effective, parameters in entries:
        standards.put(programme, REGION, M(effective), {k: D(v) for k, v in parameters.items()})
    return standards


DIBAO = table(
    (Programme.DIBAO_URBAN, "2020-01", {"standard": "600"}),
    (Programme.DIBAO_URBAN, "2020-07", {"standard": "650"}),
)
ELDERLY_BANDS = {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"}


def household(*later: Decision) -> list[Decision]:
    return [Decision(K.GRANTED, M("2020-03"), 1, HOUSEHOLD), *later]


def segments(
    programme: Programme,
    decisions: list[Decision],
    standards: StandardsTable,
    *,
    rescinded: bool = False,
) -> list[tuple[str, str | None, str, str]]:
    return [
        (str(s.valid_from), str(s.valid_to) if s.valid_to else None, str(s.amount), s.status)
        for s in case_segments(programme, REGION, decisions, standards, rescinded=rescinded)
    ]


def test_a_household_is_paid_from_its_grant_and_more_from_a_raise() -> None:
    assert segments(Programme.DIBAO_URBAN, household(), DIBAO) == [
        ("2020-03", "2020-07", "1200.00", "paying"),
        ("2020-07", None, "1350.00", "paying"),
    ]


def test_a_suspension_pays_nothing_until_resumed_and_an_exit_ends_the_case() -> None:
    decisions = household(
        Decision(K.SUSPENDED, M("2020-04"), 2),
        Decision(K.RESUMED, M("2020-06"), 3),
        Decision(K.EXITED, M("2020-09"), 4),
    )
    assert segments(Programme.DIBAO_URBAN, decisions, DIBAO) == [
        ("2020-03", "2020-04", "1200.00", "paying"),
        ("2020-04", "2020-06", "0.00", "suspended"),
        ("2020-06", "2020-07", "1200.00", "paying"),
        ("2020-07", "2020-09", "1350.00", "paying"),
    ]


def test_a_gradual_exit_pays_the_month_before_it_for_its_months_then_ends() -> None:
    decisions = household(
        Decision(K.REASSESSED, M("2020-09"), 2, (("income", D("700.00")),)),
        Decision(K.GRADUAL_EXIT_STARTED, M("2020-09"), 3, (), 3),
    )
    assert segments(Programme.DIBAO_URBAN, decisions, DIBAO) == [
        ("2020-03", "2020-07", "1200.00", "paying"),
        ("2020-07", "2020-09", "1350.00", "paying"),
        ("2020-09", "2020-12", "1350.00", "leaving"),
    ]


def test_what_changes_neither_amount_nor_status_does_not_split_a_segment() -> None:
    decisions = household(
        Decision(K.REASSESSED, M("2020-05"), 2, (("income", D("200.00")),)),
        Decision(K.EXITED, M("2020-10"), 3),
    )
    standards = table(
        (Programme.DIBAO_URBAN, "2020-01", {"standard": "600"}),
        (Programme.DIBAO_URBAN, "2020-02", {"standard": "600"}),
        (Programme.DIBAO_URBAN, "2020-08", {"standard": "600"}),
    )
    assert segments(Programme.DIBAO_URBAN, decisions, standards) == [
        ("2020-03", "2020-10", "1200.00", "paying")
    ]


def test_the_elderly_allowance_changes_band_after_the_90th_and_100th_birthdays() -> None:
    granted = Decision(K.GRANTED, M("2012-01"), 1, (("birth_date", date(1922, 5, 15)),))
    standards = table(
        (Programme.ELDERLY_ALLOWANCE, "2011-01", ELDERLY_BANDS),
        # A raise of the 100+ band only, while the person is in their nineties.
        (Programme.ELDERLY_ALLOWANCE, "2015-01", {**ELDERLY_BANDS, "age_100_plus": "350"}),
    )
    assert segments(Programme.ELDERLY_ALLOWANCE, [granted], standards) == [
        ("2012-01", "2012-06", "100.00", "paying"),
        ("2012-06", "2022-06", "200.00", "paying"),
        ("2022-06", None, "350.00", "paying"),
    ]


def test_an_orphan_is_paid_through_the_month_of_the_18th_birthday() -> None:
    granted = Decision(
        K.GRANTED, M("2020-01"), 1, (("birth_date", date(2002, 4, 30)), ("care", "dispersed"))
    )
    standards = table((Programme.ORPHAN, "2019-01", {"institutional": "1500", "dispersed": "1100"}))
    assert segments(Programme.ORPHAN, [granted], standards) == [
        ("2020-01", "2020-05", "1100.00", "paying")
    ]


def test_tekun_follows_the_dibao_standard_of_its_region() -> None:
    granted = Decision(K.GRANTED, M("2020-03"), 1, (("area", "urban"), ("tier", "self")))
    tekun = {
        "basic_urban": "700",
        "basic_rural": "500",
        "care_self": "100",
        "care_partial": "300",
        "care_full": "600",
    }
    standards = table(
        (Programme.TEKUN, "2020-01", tekun),
        (Programme.DIBAO_URBAN, "2020-01", {"standard": "600"}),
        (Programme.DIBAO_URBAN, "2020-07", {"standard": "650"}),
    )
    # 1.3 x 600 = 780 and 1.3 x 650 = 845, above the scheduled 700.
    assert segments(Programme.TEKUN, [granted], standards) == [
        ("2020-03", "2020-07", "880.00", "paying"),
        ("2020-07", None, "945.00", "paying"),
    ]


def test_a_rescinded_case_has_no_segment() -> None:
    assert segments(Programme.DIBAO_URBAN, household(), DIBAO, rescinded=True) == []
    assert case_segments(Programme.DIBAO_URBAN, REGION, [], DIBAO, rescinded=False) == []


def test_a_segment_is_months_from_up_to_not_including_its_end() -> None:
    [first, _] = case_segments(Programme.DIBAO_URBAN, REGION, household(), DIBAO, rescinded=False)
    assert first == Segment(M("2020-03"), M("2020-07"), D("1200.00"), "paying")
