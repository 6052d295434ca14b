"""Standards schedules: raise-only per parameter, same-month replacement, corrections."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from domain.cases.programmes import Programme
from domain.errors import InvalidInputError, NotFoundError, StandardNotRaisedError
from domain.months import Month
from domain.payroll_periods import PayrollPeriods
from domain.standards import StandardSchedule, check_parameters
from tests.support import QIBIN, memory_ledger

TEKUN = {
    "basic_urban": "700",
    "basic_rural": "500",
    "care_self": "100",
    "care_partial": "300",
    "care_full": "600",
}


def test_a_standard_is_in_force_from_its_effective_month() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    ledger.set_standard("dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="n")
    lookup = ledger.standards_in_force
    assert lookup(Programme.DIBAO_URBAN, QIBIN, Month.parse("2019-12")) is None
    assert lookup(Programme.DIBAO_URBAN, QIBIN, Month.parse("2020-06")) == {
        "standard": Decimal("600.00")
    }
    assert lookup(Programme.DIBAO_URBAN, QIBIN, Month.parse("2020-07")) == {
        "standard": Decimal("650.00")
    }


def test_a_parameter_below_the_one_in_force_before_is_refused_and_nothing_stored() -> None:
    ledger = memory_ledger()
    ledger.set_standard("tekun", QIBIN, "2020-01", TEKUN, actor="f", reason="n")
    position = ledger.position
    with pytest.raises(StandardNotRaisedError, match=r"care_full 550\.00 is below the 600\.00"):
        ledger.set_standard(
            "tekun",
            QIBIN,
            "2020-07",
            {**TEKUN, "basic_urban": "800", "care_full": "550"},
            actor="f",
            reason="n",
        )
    assert ledger.position == position


def test_a_parameter_above_a_later_entry_is_refused() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-rural", QIBIN, "2020-07", {"standard": "450"}, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError, match=r"above the 450\.00 set from 2020-07"):
        ledger.set_standard(
            "dibao-rural", QIBIN, "2020-01", {"standard": "460"}, actor="f", reason="n"
        )
    ledger.set_standard("dibao-rural", QIBIN, "2020-01", {"standard": "440"}, actor="f", reason="n")


def test_a_second_standard_for_the_same_month_replaces_it_only_when_raising() -> None:
    ledger = memory_ledger()
    ledger.set_standard("tekun", QIBIN, "2020-01", TEKUN, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError, match="already set"):
        ledger.set_standard("tekun", QIBIN, "2020-01", TEKUN, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError, match="care_self would go down"):
        ledger.set_standard(
            "tekun",
            QIBIN,
            "2020-01",
            {**TEKUN, "care_self": "90", "care_full": "700"},
            actor="f",
            reason="n",
        )
    ledger.set_standard(
        "tekun", QIBIN, "2020-01", {**TEKUN, "care_full": "700"}, actor="f", reason="n"
    )


def test_a_correction_may_go_down_and_later_raises_are_checked_against_it() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-01",
        {"standard": "560"},
        actor="f",
        reason="typo in notice",
        correction=True,
    )
    ledger.set_standard("dibao-urban", QIBIN, "2020-07", {"standard": "580"}, actor="f", reason="n")


def test_a_correction_needs_an_existing_entry_and_a_reason() -> None:
    ledger = memory_ledger()
    with pytest.raises(NotFoundError, match="a correction fixes an existing entry"):
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "1"},
            actor="f",
            reason="why",
            correction=True,
        )
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    with pytest.raises(InvalidInputError, match="needs a reason"):
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "1"},
            actor="f",
            reason="  ",
            correction=True,
        )


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "missing standard"),
        ({"standard": "600", "bonus": "1"}, "unknown bonus"),
        ({"standard": "-1"}, "cannot be negative"),
        ({"standard": "600.001"}, "more than two decimal places"),
        ({"standard": "six hundred"}, "not an amount of money"),
    ],
)
def test_malformed_parameters_are_refused(parameters: dict[str, str], message: str) -> None:
    ledger = memory_ledger()
    with pytest.raises(InvalidInputError, match=message):
        ledger.set_standard("dibao-urban", QIBIN, "2020-01", parameters, actor="f", reason="n")
    assert ledger.position == 0


def test_a_standard_effective_beyond_next_month_is_refused() -> None:
    ledger = memory_ledger()
    with pytest.raises(InvalidInputError, match="no later than"):
        ledger.set_standard(
            "dibao-urban", QIBIN, "2999-01", {"standard": "1"}, actor="f", reason="n"
        )


def test_a_standard_below_the_one_set_the_month_before_is_refused() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError) as refusal:
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-02", {"standard": "599.99"}, actor="f", reason="n"
        )
    assert refusal.value.message == (
        "standard 599.99 is below the 600.00 in force before 2020-02; standards are only "
        "raised (use a correction to fix a mistake)"
    )
    # The same standard again from the next month changes nothing and is accepted.
    ledger.set_standard("dibao-urban", QIBIN, "2020-02", {"standard": "600"}, actor="f", reason="n")


def test_a_standard_equal_to_a_later_entry_is_accepted_and_one_a_fen_above_refused() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-rural", QIBIN, "2020-07", {"standard": "450"}, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError) as refusal:
        ledger.set_standard(
            "dibao-rural", QIBIN, "2020-06", {"standard": "450.01"}, actor="f", reason="n"
        )
    assert refusal.value.message == (
        "standard 450.01 is above the 450.00 set from 2020-07; standards never decrease over time"
    )
    ledger.set_standard("dibao-rural", QIBIN, "2020-06", {"standard": "450"}, actor="f", reason="n")


def test_a_standard_between_two_entries_lies_between_their_values() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    ledger.set_standard("dibao-urban", QIBIN, "2020-03", {"standard": "650"}, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError, match=r"^standard 590\.00 is below the 600\.00 in"):
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-02", {"standard": "590"}, actor="f", reason="n"
        )
    ledger.set_standard("dibao-urban", QIBIN, "2020-02", {"standard": "620"}, actor="f", reason="n")
    assert ledger.standards_in_force(Programme.DIBAO_URBAN, QIBIN, Month.parse("2020-02")) == {
        "standard": Decimal("620.00")
    }


def test_an_entry_set_before_a_later_one_is_in_force_until_the_later_one() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="n")
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    ledger.set_standard("dibao-urban", QIBIN, "2020-04", {"standard": "620"}, actor="f", reason="n")
    in_force = [
        ledger.standards_in_force(Programme.DIBAO_URBAN, QIBIN, Month.parse(m))
        for m in ("2019-12", "2020-01", "2020-03", "2020-04", "2020-06", "2020-07", "2030-01")
    ]
    assert in_force == [
        None,
        {"standard": Decimal("600.00")},
        {"standard": Decimal("600.00")},
        {"standard": Decimal("620.00")},
        {"standard": Decimal("620.00")},
        {"standard": Decimal("650.00")},
        {"standard": Decimal("650.00")},
    ]


def test_every_later_entry_bounds_a_new_one_as_corrected() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-03", {"standard": "500"}, actor="f", reason="n")
    ledger.set_standard("dibao-urban", QIBIN, "2020-07", {"standard": "600"}, actor="f", reason="n")
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-07",
        {"standard": "480"},
        actor="f",
        reason="typo",
        correction=True,
    )
    with pytest.raises(StandardNotRaisedError, match=r"above the 480\.00 set from 2020-07"):
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-01", {"standard": "490"}, actor="f", reason="n"
        )


def test_a_replacement_names_every_parameter_that_would_go_down() -> None:
    ledger = memory_ledger()
    ledger.set_standard("tekun", QIBIN, "2020-01", TEKUN, actor="f", reason="n")
    with pytest.raises(StandardNotRaisedError) as refusal:
        ledger.set_standard(
            "tekun",
            QIBIN,
            "2020-01",
            {**TEKUN, "basic_urban": "690", "care_partial": "290", "care_full": "700"},
            actor="f",
            reason="n",
        )
    assert refusal.value.message == (
        "a tekun standard for 2020-01 is already set; a second one replaces it only by raising "
        "at least one parameter and lowering none (basic_urban, care_partial would go down)"
    )
    with pytest.raises(StandardNotRaisedError) as refusal:
        ledger.set_standard("tekun", QIBIN, "2020-01", TEKUN, actor="f", reason="n")
    assert refusal.value.message == (
        "a tekun standard for 2020-01 is already set; a second one replaces it only by raising "
        "at least one parameter and lowering none"
    )


def test_a_replacement_takes_effect_in_its_month() -> None:
    ledger = memory_ledger()
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "610"}, actor="f", reason="n")
    assert ledger.standards_in_force(Programme.DIBAO_URBAN, QIBIN, Month.parse("2020-01")) == {
        "standard": Decimal("610.00")
    }


def test_standards_and_corrections_record_who_decided_and_why() -> None:
    ledger = memory_ledger()
    ledger.set_standard(
        "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="finance-1", reason="notice 3"
    )
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-01",
        {"standard": "580"},
        actor="finance-2",
        reason="typo",
        correction=True,
    )
    schedule_id = StandardSchedule.id_for(Programme.DIBAO_URBAN, QIBIN)
    recorded = [
        (type(e).__name__, e.programme, e.region, str(e.effective), e.parameters, e.actor, e.reason)
        for e in ledger.events.get(schedule_id)
        if isinstance(e, StandardSchedule.StandardSet)
    ]
    assert recorded == [
        (
            "StandardSet",
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": Decimal("600.00")},
            "finance-1",
            "notice 3",
        ),
        (
            "StandardCorrected",
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": Decimal("580.00")},
            "finance-2",
            "typo",
        ),
    ]


def test_corrections_are_refused_by_name() -> None:
    ledger = memory_ledger()
    with pytest.raises(NotFoundError) as missing:
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "1"},
            actor="f",
            reason="why",
            correction=True,
        )
    assert missing.value.message == (
        f"no dibao-urban standard for region {QIBIN} takes effect in 2020-01; a correction "
        "fixes an existing entry"
    )
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    with pytest.raises(InvalidInputError) as no_reason:
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "1"},
            actor="f",
            reason="",
            correction=True,
        )
    assert (no_reason.value.message, no_reason.value.field) == (
        "a correction needs a reason",
        "reason",
    )


@pytest.mark.parametrize(
    ("programme", "parameters", "message", "field"),
    [
        (
            "tekun",
            {**TEKUN, "bonus": "1", "extra": "2"},
            "tekun standards take exactly basic_urban, basic_rural, care_self, care_partial, "
            "care_full; unknown bonus, extra",
            "parameters",
        ),
        (
            "tekun",
            {"basic_urban": "1", "care_self": "1", "bonus": "1"},
            "tekun standards take exactly basic_urban, basic_rural, care_self, care_partial, "
            "care_full; missing basic_rural, care_partial, care_full; unknown bonus",
            "parameters",
        ),
        (
            "dibao-rural",
            {},
            "dibao-rural standards take exactly standard; missing standard",
            "parameters",
        ),
        (
            "temporary-relief",
            {"standard": "1"},
            "temporary-relief has no standards schedule",
            "programme",
        ),
        (
            "orphan",
            {"institutional": "1500", "dispersed": 1100.0},
            "parameters.dispersed must be a decimal string, not a float",
            "parameters.dispersed",
        ),
    ],
)
def test_parameters_are_checked_by_name(
    programme: str, parameters: dict[str, object], message: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        check_parameters(Programme(programme), parameters)
    assert (refusal.value.message, refusal.value.field) == (message, field)


def test_a_schedule_keeps_the_identity_earlier_ledgers_recorded_it_under() -> None:
    assert StandardSchedule.id_for(Programme.DIBAO_URBAN, QIBIN) == UUID(
        "25568a59-e830-517e-b3af-d26821cb5cf5"
    )
    assert PayrollPeriods.id_for(Programme.DIBAO_URBAN, QIBIN) == UUID(
        "834e85e0-29be-5587-a30b-cd133d3f410d"
    )
