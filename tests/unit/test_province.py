"""The province's reads across cities, as pure functions of each city's figures (totals
summed to the fen, a person held in two cities listed only where the programmes exclude each
other), its names for a city's database, and the keys it opens a city with."""

from __future__ import annotations

import base64
from decimal import Decimal

import click
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from api.cli import main
from api.cli.province import province
from api.services.province import city_env, reference_check
from domain.application.ledger import Ledger
from domain.months import Month
from projections.province.consolidation import (
    CityTotals,
    Holding,
    conflicts,
    provincial_totals,
)
from projections.province.replication import city_database, city_name
from projections.reads.period_accounts import MonthTotal
from projections.storage.keys import public_key_text
from projections.storage.signing import signatures_of

MARCH = Month.parse("2024-03")


def _total(programme: str, region: str, cases: int, entitled: str, paid: str | None) -> MonthTotal:
    """A month's total; ``paid`` None: the month is open, else closed with nothing settled
    and the rest outstanding."""
    if paid is None:
        return MonthTotal(programme, region, MARCH, cases, Decimal(entitled), None, None, None)
    outstanding = Decimal(entitled) - Decimal(paid)
    return MonthTotal(
        programme, region, MARCH, cases, Decimal(entitled), Decimal(paid), Decimal("0.00"),
        outstanding,
    )  # fmt: skip


def test_the_provincial_totals_sum_each_programme_over_the_cities_to_the_fen() -> None:
    hebi = CityTotals("hebi", 40, [_total("dibao-urban", "410602", 2, "800.10", "800.10")])
    anyang = CityTotals(
        "anyang",
        17,
        [
            _total("dibao-urban", "410502", 1, "400.05", None),  # March open in Anyang
            _total("tekun", "410502", 1, "800.00", "700.00"),
        ],
    )
    (dibao, tekun) = provincial_totals([hebi, anyang])
    assert (dibao.programme, dibao.cases, dibao.entitled) == ("dibao-urban", 3, Decimal("1200.15"))
    assert (dibao.paid, dibao.outstanding) == (Decimal("800.10"), Decimal("0.00"))
    assert (tekun.paid, tekun.outstanding) == (Decimal("700.00"), Decimal("100.00"))


def test_a_person_held_in_two_cities_is_a_conflict_only_where_the_programmes_exclude() -> None:
    hebi = {
        "p1": [Holding("hebi", "dibao-urban", "410602", "c1")],
        "p2": [Holding("hebi", "elderly-allowance", "410602", "c2")],
        "p3": [Holding("hebi", "orphan", "410602", "c3")],
    }
    anyang = {
        "p1": [Holding("anyang", "tekun", "410502", "c4")],  # dibao and tekun exclude
        "p2": [Holding("anyang", "disability-living", "410502", "c5")],  # these do not
        "p3": [Holding("anyang", "orphan", "410502", "c6")],  # one programme twice
    }
    found = conflicts({"hebi": hebi, "anyang": anyang})
    assert [(c.person_ref, [(h.city, h.case_id) for h in c.holdings]) for c in found] == [
        ("p1", [("anyang", "c4"), ("hebi", "c1")]),
        ("p3", [("anyang", "c6"), ("hebi", "c3")]),
    ]


def test_cases_of_one_person_within_one_city_are_no_provincial_conflict() -> None:
    # A household member leaving one dibao case for another in the same city is the
    # city's own business, checked by its ledger.
    hebi = {
        "p1": [
            Holding("hebi", "dibao-urban", "410602", "c1"),
            Holding("hebi", "dibao-rural", "410602", "c2"),
        ]
    }
    assert conflicts({"hebi": hebi, "anyang": {}}) == []


def test_the_reference_key_check_tells_keys_apart_and_not_the_key() -> None:
    key = "a2V5LW9mLXRoZS1wcm92aW5jZS0zMi1ieXRlcy0hISE="
    assert reference_check(key) == reference_check(key)
    assert reference_check(key) != reference_check("b3RoZXIta2V5LW9mLWEtY2l0eS0zMi1ieXRlcy0hISE=")
    assert key not in reference_check(key)


@pytest.mark.parametrize("name", ["", "Hebi", "1city", "he-bi", "x" * 41, "hebi; drop"])
def test_a_city_name_that_cannot_name_a_database_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="a city's name is 1 to 40"):
        city_name(name)


def test_each_city_has_a_database_of_its_own_at_the_province() -> None:
    assert city_database("hebi") == "province_city_hebi"


def test_a_city_is_opened_at_the_province_with_its_keys_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signing key in the environment the province's command runs in is never taken for a
    city's: the province verifies a city's events, it cannot sign one."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    monkeypatch.setenv("LEDGER_SIGNING_KEY", base64.b64encode(raw).decode())
    monkeypatch.setenv("LEDGER_SIGNING_KEY_ID", "the-operators")
    city_key = public_key_text(Ed25519PrivateKey.generate().public_key())
    ledger = Ledger(city_env("memory:", {"hebi-2024": city_key}, create=True))
    try:
        signatures = signatures_of(ledger.mapper)
        assert signatures is not None
        assert signatures.keyring.private is None
        assert list(signatures.keyring.public) == ["hebi-2024"]
    finally:
        ledger.close()


def test_every_province_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    commands = province.list_commands(click.Context(province))
    assert commands == [
        "conflicts", "follow", "publish", "roll", "status", "subscribe", "totals", "verify",
    ]  # fmt: skip
    for command in commands:
        result = runner.invoke(main, ["province", command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Example:" in result.output
