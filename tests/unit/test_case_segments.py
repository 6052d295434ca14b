"""How a case's decisions become the rows of the views: months with one amount each,
computed with no database. A row reads (first month, first month after it, yuan, status);
no end month means the case is still open."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.cases.case import Case
from domain.cases.fold import Decision, DecisionKind
from domain.cases.programmes import Programme
from domain.errors import CaseStateError
from domain.months import Month
from projections.engine.segments import Segment, case_segments, repriced_from
from projections.engine.standards_table import StandardsTable

REGION = "410611"
HOUSEHOLD = ["person-1", "person-2", "person-3"]
M = Month.parse

Row = tuple[str, str | None, str, str]


def reference_standards() -> StandardsTable:
    """The reference standards of Qibin from 2019-01 (dibao-urban 600 a month)."""
    table = StandardsTable()
    for programme, parameters in {
        Programme.DIBAO_URBAN: {"standard": "600"},
        Programme.DIBAO_RURAL: {"standard": "400"},
        Programme.TEKUN: {
            "basic_urban": "700",
            "basic_rural": "500",
            "care_self": "100",
            "care_partial": "300",
            "care_full": "600",
        },
        Programme.ELDERLY_ALLOWANCE: {
            "age_80_89": "100",
            "age_90_99": "200",
            "age_100_plus": "300",
        },
        Programme.DISABILITY_LIVING: {"standard": "500"},
        Programme.ORPHAN: {"institutional": "1500", "dispersed": "1100"},
    }.items():
        raise_standard(table, programme, "2019-01", **parameters)
    return table


def raise_standard(table: StandardsTable, programme: Programme, month: str, **values: str) -> None:
    table.put(programme, REGION, M(month), {k: Decimal(v) for k, v in values.items()})


def granted(month: str, **facts: Any) -> Decision:
    return Case.granted_decision(M(month), facts)


def household_granted(month: str = "2020-03", income: str = "200") -> Decision:
    """An urban dibao household of three with a per-capita income of ``income``."""
    return granted(month, members=HOUSEHOLD, income=Decimal(income))


def decided(kind: DecisionKind, month: str, position: int, **changes: Any) -> Decision:
    months = changes.pop("months", 0)
    return Decision(kind, M(month), position, tuple(sorted(changes.items())), months)


def rows(
    programme: Programme,
    decisions: Sequence[Decision],
    standards: StandardsTable | None = None,
    *,
    rescinded: bool = False,
) -> list[Row]:
    segments = case_segments(
        programme, REGION, decisions, standards or reference_standards(), rescinded=rescinded
    )
    return [as_row(s) for s in segments]


def as_row(segment: Segment) -> Row:
    end = str(segment.valid_to) if segment.valid_to is not None else None
    return (str(segment.valid_from), end, str(segment.amount), segment.status)


def paid_in(rows_: Sequence[Row], *months: str) -> Mapping[str, str | None]:
    """What each month pays, as a caseworker reads it off the rows (None: not open)."""
    paid: dict[str, str | None] = {}
    for month in months:
        paid[month] = None
        for first, end, amount, _ in rows_:
            if M(first) <= M(month) and (end is None or M(month) < M(end)):
                paid[month] = amount
    return paid


def test_a_granted_household_is_paid_the_shortfall_for_each_member_from_its_grant() -> None:
    # (600 - 200) x 3 members.
    assert rows(Programme.DIBAO_URBAN, [household_granted()]) == [
        ("2020-03", None, "1200.00", "paying")
    ]


def test_a_reassessment_changes_the_amount_from_its_effective_month() -> None:
    history = [
        household_granted(),
        decided(DecisionKind.REASSESSED, "2020-07", 2, income=Decimal("300")),
    ]
    assert rows(Programme.DIBAO_URBAN, history) == [
        ("2020-03", "2020-07", "1200.00", "paying"),
        ("2020-07", None, "900.00", "paying"),
    ]


def test_an_income_reassessed_to_the_standard_pays_nothing_and_keeps_the_case_open() -> None:
    history = [
        household_granted(),
        decided(DecisionKind.REASSESSED, "2020-06", 2, income=Decimal("600")),
    ]
    assert rows(Programme.DIBAO_URBAN, history) == [
        ("2020-03", "2020-06", "1200.00", "paying"),
        ("2020-06", None, "0.00", "paying"),
    ]


def test_a_reassessment_that_changes_no_amount_leaves_one_unbroken_row() -> None:
    history = [
        household_granted(),
        decided(DecisionKind.REASSESSED, "2020-07", 2, income=Decimal("200.00")),
    ]
    assert rows(Programme.DIBAO_URBAN, history) == [("2020-03", None, "1200.00", "paying")]


def test_suspended_months_are_unpaid_and_payment_returns_with_the_resumption() -> None:
    history = [
        household_granted(),
        decided(DecisionKind.SUSPENDED, "2020-05", 2),
        decided(DecisionKind.RESUMED, "2020-08", 3),
    ]
    assert rows(Programme.DIBAO_URBAN, history) == [
        ("2020-03", "2020-05", "1200.00", "paying"),
        ("2020-05", "2020-08", "0.00", "suspended"),
        ("2020-08", None, "1200.00", "paying"),
    ]


def test_a_retroactive_raise_changes_the_amount_from_its_effective_month() -> None:
    standards = reference_standards()
    raise_standard(standards, Programme.DIBAO_URBAN, "2020-07", standard="650")
    # (650 - 200) x 3 from July.
    assert rows(Programme.DIBAO_URBAN, [household_granted()], standards) == [
        ("2020-03", "2020-07", "1200.00", "paying"),
        ("2020-07", None, "1350.00", "paying"),
    ]


def test_reference_case_2_a_gradual_exit_pays_the_amount_before_it_for_six_months() -> None:
    standards = reference_standards()
    raise_standard(standards, Programme.DIBAO_URBAN, "2020-07", standard="650")
    history = [
        household_granted(),
        decided(DecisionKind.REASSESSED, "2021-01", 2, income=Decimal("700")),
        decided(DecisionKind.GRADUAL_EXIT_STARTED, "2021-01", 3, months=6),
    ]
    found = rows(Programme.DIBAO_URBAN, history, standards)
    assert found == [
        ("2020-03", "2020-07", "1200.00", "paying"),
        ("2020-07", "2021-01", "1350.00", "paying"),
        ("2021-01", "2021-07", "1350.00", "leaving"),
    ]
    assert paid_in(found, "2020-12", "2021-01", "2021-06", "2021-07") == {
        "2020-12": "1350.00",
        "2021-01": "1350.00",
        "2021-06": "1350.00",
        "2021-07": None,
    }


def test_a_raise_during_a_gradual_exit_does_not_move_its_frozen_amount() -> None:
    standards = reference_standards()
    raise_standard(standards, Programme.DIBAO_URBAN, "2021-03", standard="700")
    history = [
        household_granted(),
        decided(DecisionKind.GRADUAL_EXIT_STARTED, "2021-01", 2, months=6),
    ]
    assert rows(Programme.DIBAO_URBAN, history, standards) == [
        ("2020-03", "2021-01", "1200.00", "paying"),
        ("2021-01", "2021-07", "1200.00", "leaving"),
    ]


def test_an_exit_makes_the_month_before_it_the_last_paid() -> None:
    history = [household_granted(), decided(DecisionKind.EXITED, "2020-12", 2)]
    found = rows(Programme.DIBAO_URBAN, history)
    assert found == [("2020-03", "2020-12", "1200.00", "paying")]
    assert paid_in(found, "2020-11", "2020-12") == {"2020-11": "1200.00", "2020-12": None}


def test_a_backdated_exit_takes_away_the_effect_of_later_decisions() -> None:
    history = [
        household_granted(),
        decided(DecisionKind.REASSESSED, "2020-09", 2, income=Decimal("100")),
        decided(DecisionKind.EXITED, "2020-06", 3),
    ]
    assert rows(Programme.DIBAO_URBAN, history) == [("2020-03", "2020-06", "1200.00", "paying")]


def test_a_rescinded_case_has_no_month_at_all() -> None:
    history = [
        household_granted(),
        decided(DecisionKind.REASSESSED, "2020-07", 2, income=Decimal("300")),
    ]
    assert rows(Programme.DIBAO_URBAN, history, rescinded=True) == []


def test_the_elderly_allowance_rises_in_the_first_month_the_person_is_90_and_100() -> None:
    # Born on 15 June 1930: 90 on 1 July 2020, so July pays the 90-99 band; the 100+ band
    # is known ahead, from July 2030, with no event recorded for it.
    history = [granted("2019-01", birth_date=date(1930, 6, 15))]
    assert rows(Programme.ELDERLY_ALLOWANCE, history) == [
        ("2019-01", "2020-07", "100.00", "paying"),
        ("2020-07", "2030-07", "200.00", "paying"),
        ("2030-07", None, "300.00", "paying"),
    ]


def test_a_90th_birthday_on_the_first_of_a_month_raises_that_month() -> None:
    history = [granted("2019-01", birth_date=date(1930, 6, 1))]
    assert rows(Programme.ELDERLY_ALLOWANCE, history) == [
        ("2019-01", "2020-06", "100.00", "paying"),
        ("2020-06", "2030-06", "200.00", "paying"),
        ("2030-06", None, "300.00", "paying"),
    ]


def test_someone_born_on_29_february_turns_90_on_1_march_in_a_common_year() -> None:
    # 2022 is a common year: the birthday is 1 March. 2032 is a leap year: 29 February,
    # so the 100+ band starts on the next 1st, in March.
    history = [granted("2019-01", birth_date=date(1932, 2, 29))]
    assert rows(Programme.ELDERLY_ALLOWANCE, history) == [
        ("2019-01", "2022-03", "100.00", "paying"),
        ("2022-03", "2032-03", "200.00", "paying"),
        ("2032-03", None, "300.00", "paying"),
    ]


def test_the_elderly_allowance_of_someone_granted_at_98_rises_at_100() -> None:
    history = [granted("2019-01", birth_date=date(1920, 3, 10))]
    assert rows(Programme.ELDERLY_ALLOWANCE, history) == [
        ("2019-01", "2020-04", "200.00", "paying"),
        ("2020-04", None, "300.00", "paying"),
    ]


def test_an_orphan_is_paid_through_the_month_of_the_18th_birthday_and_not_after() -> None:
    history = [granted("2020-01", birth_date=date(2004, 5, 20), care="dispersed")]
    found = rows(Programme.ORPHAN, history)
    assert found == [("2020-01", "2022-06", "1100.00", "paying")]
    assert paid_in(found, "2022-05", "2022-06") == {"2022-05": "1100.00", "2022-06": None}


def test_an_orphan_moved_into_an_institution_is_paid_its_rate_until_the_18th_birthday() -> None:
    history = [
        granted("2020-01", birth_date=date(2004, 5, 20), care="dispersed"),
        decided(DecisionKind.REASSESSED, "2021-01", 2, care="institutional"),
    ]
    assert rows(Programme.ORPHAN, history) == [
        ("2020-01", "2021-01", "1100.00", "paying"),
        ("2021-01", "2022-06", "1500.00", "paying"),
    ]


def test_tekun_follows_a_raise_of_the_dibao_standard_of_its_area() -> None:
    standards = reference_standards()
    raise_standard(standards, Programme.DIBAO_URBAN, "2019-01", standard="500")
    raise_standard(standards, Programme.DIBAO_URBAN, "2020-07", standard="600")
    history = [granted("2020-03", area="urban", tier="self")]
    # 700 scheduled + 100 care; from July 1.3 x 600 = 780 is above 700: 780 + 100.
    assert rows(Programme.TEKUN, history, standards) == [
        ("2020-03", "2020-07", "800.00", "paying"),
        ("2020-07", None, "880.00", "paying"),
    ]


def test_standards_changed_before_the_grant_give_no_rows_before_it() -> None:
    standards = reference_standards()
    raise_standard(standards, Programme.DISABILITY_LIVING, "2019-06", standard="520")
    history = [granted("2020-03", grade=2)]
    assert rows(Programme.DISABILITY_LIVING, history, standards) == [
        ("2020-03", None, "520.00", "paying")
    ]


def test_repricing_only_the_months_from_a_raise_gives_the_rows_of_pricing_every_month() -> None:
    histories = {
        Programme.DIBAO_URBAN: [
            household_granted(),
            decided(DecisionKind.SUSPENDED, "2020-09", 2),
            decided(DecisionKind.RESUMED, "2020-11", 3),
            decided(DecisionKind.REASSESSED, "2021-01", 4, income=Decimal("700")),
            decided(DecisionKind.GRADUAL_EXIT_STARTED, "2021-01", 5, months=6),
        ],
        Programme.TEKUN: [granted("2020-03", area="urban", tier="self")],
        Programme.ELDERLY_ALLOWANCE: [granted("2020-03", birth_date=date(1931, 5, 1))],
        Programme.DISABILITY_LIVING: [
            granted("2020-03", grade=2),
            decided(DecisionKind.EXITED, "2021-06", 2),
        ],
    }
    # Raises that change amounts, one that changes nothing (600), one that ends the pay.
    raises: dict[Programme, list[dict[str, str]]] = {
        Programme.DIBAO_URBAN: [{"standard": v} for v in ("600", "640", "560", "900")],
        Programme.ELDERLY_ALLOWANCE: [
            {"age_80_89": "100", "age_90_99": v, "age_100_plus": "300"} for v in ("200", "250")
        ],
        Programme.DISABILITY_LIVING: [{"standard": v} for v in ("500", "520")],
    }
    months = [M("2019-06"), M("2020-03"), M("2020-07"), M("2020-10"), M("2021-01")]
    months += [M("2021-03"), M("2021-06"), M("2021-12"), M("2023-01")]

    def fen(segments: Sequence[Segment]) -> list[tuple[Month, Month | None, int, str]]:
        return [(s.valid_from, s.valid_to, int(s.amount * 100), s.status) for s in segments]

    checked = 0
    for raised, entries in raises.items():
        for month in months:
            for parameters in entries:
                before, after = reference_standards(), reference_standards()
                raise_standard(after, raised, str(month), **parameters)
                for programme, history in histories.items():
                    if programme is not raised and not (
                        raised.is_dibao and programme is Programme.TEKUN
                    ):
                        continue
                    known = case_segments(programme, REGION, history, before, rescinded=False)
                    expected = case_segments(programme, REGION, history, after, rescinded=False)
                    repriced = repriced_from(
                        month, known, programme, REGION, history, after, rescinded=False
                    )
                    assert fen(repriced) == fen(expected), (programme, month, parameters)
                    checked += 1
    assert checked == len(months) * (4 * 2 + 2 + 2)


dated_decisions = st.lists(
    st.tuples(
        st.sampled_from(
            [
                DecisionKind.REASSESSED,
                DecisionKind.SUSPENDED,
                DecisionKind.RESUMED,
                DecisionKind.GRADUAL_EXIT_STARTED,
                DecisionKind.EXITED,
            ]
        ),
        st.integers(0, 30),  # months after the grant, retroactive ones among them
        st.integers(0, 800),  # a reassessed income
        st.integers(1, 6),  # months of a gradual exit
    ),
    max_size=6,
)


@given(dated_decisions, st.lists(st.tuples(st.integers(0, 30), st.integers(450, 900)), max_size=3))
def test_a_decision_reprices_only_the_months_from_its_effective_month(
    decided_later: list[tuple[DecisionKind, int, int, int]], raises: list[tuple[int, int]]
) -> None:
    # The projector prices a decision's months only from its effective month on: the rows
    # it gets must be those of pricing every month, whatever the decisions before it.
    standards = reference_standards()
    for offset, standard in raises:
        raise_standard(
            standards, Programme.DIBAO_URBAN, str(M("2020-01") + offset), standard=str(standard)
        )
    history = [household_granted("2020-01")]
    for position, (kind, offset, income, months) in enumerate(decided_later, start=2):
        changes: dict[str, Any] = (
            {"income": Decimal(income)} if kind is DecisionKind.REASSESSED else {}
        )
        decision = decided(kind, str(M("2020-01") + offset), position, months=months, **changes)
        known = case_segments(Programme.DIBAO_URBAN, REGION, history, standards, rescinded=False)
        try:
            expected = case_segments(
                Programme.DIBAO_URBAN, REGION, [*history, decision], standards, rescinded=False
            )
        except CaseStateError:
            continue  # refused by the case: the projector never sees it
        history.append(decision)
        repriced = repriced_from(
            decision.effective,
            known,
            Programme.DIBAO_URBAN,
            REGION,
            history,
            standards,
            rescinded=False,
        )
        assert [as_row(s) for s in repriced] == [as_row(s) for s in expected], history
