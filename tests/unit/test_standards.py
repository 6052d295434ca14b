"""Standards schedules: raise-only per parameter, same-month replacement, corrections."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.cases.programmes import Programme
from domain.errors import InvalidInputError, NotFoundError, StandardNotRaisedError
from domain.months import Month
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
