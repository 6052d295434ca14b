"""Resident identity numbers: GB 11643 check character and the embedded birth date."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import InvalidIdentityNumberError
from domain.people.identity import IdentityNumber, PersonReferences, check_character
from tests.support import identity_number


def test_the_published_example_number_has_check_character_x() -> None:
    # The example in GB 11643-1999: 11010519491231002X.
    assert check_character("11010519491231002") == "X"
    assert IdentityNumber.parse("11010519491231002x").value == "11010519491231002X"


def test_a_valid_number_carries_its_birth_date() -> None:
    number = IdentityNumber.parse(identity_number(date(1932, 5, 15)))
    assert number.birth_date == date(1932, 5, 15)


def test_a_wrong_check_character_is_refused() -> None:
    good = identity_number(date(1980, 1, 1))
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidIdentityNumberError, match="check character"):
        IdentityNumber.parse(wrong)


@pytest.mark.parametrize("text", ["", "12345", "41061119800101001", "4106111980010100AX"])
def test_a_number_of_the_wrong_shape_is_refused(text: str) -> None:
    with pytest.raises(InvalidIdentityNumberError, match="17 digits"):
        IdentityNumber.parse(text)


@pytest.mark.parametrize("division", ["990101", "000000", "190000", "801234"])
def test_a_number_whose_division_code_is_no_province_is_refused(division: str) -> None:
    with pytest.raises(InvalidIdentityNumberError, match="no province") as refusal:
        IdentityNumber.parse(identity_number(date(1980, 1, 1), region=division))
    assert refusal.value.field == "identity_number"


@pytest.mark.parametrize("division", ["110105", "410611", "650102", "810000", "830000"])
def test_numbers_of_every_kind_of_province_are_accepted(division: str) -> None:
    assert IdentityNumber.parse(identity_number(date(1980, 1, 1), region=division))


def test_an_impossible_birth_date_is_refused() -> None:
    first_17 = "41061119810229001"  # 1981 is a common year
    with pytest.raises(InvalidIdentityNumberError, match="not a valid birth date"):
        IdentityNumber.parse(first_17 + check_character(first_17))


def test_a_birth_date_that_disagrees_with_the_number_is_refused() -> None:
    with pytest.raises(InvalidIdentityNumberError, match="disagrees") as refusal:
        IdentityNumber.parse(identity_number(date(1980, 1, 1)), birth_date=date(1980, 1, 2))
    assert refusal.value.field == "birth_date"


def test_the_number_never_shows_in_its_repr() -> None:
    text = identity_number(date(1980, 1, 1))
    assert text not in repr(IdentityNumber.parse(text))


def test_references_are_stable_per_key_and_differ_between_keys() -> None:
    number = IdentityNumber.parse(identity_number(date(1980, 1, 1)))
    one, other = PersonReferences(b"k" * 32), PersonReferences(b"j" * 32)
    assert one.reference(number) == one.reference(number)
    assert one.reference(number) != other.reference(number)
    assert number.value not in one.reference(number)


def test_a_number_in_fullwidth_digits_is_refused_rather_than_becoming_another_person() -> None:
    good = identity_number(date(1980, 1, 1))
    fullwidth = good.translate({ord("0") + n: 0xFF10 + n for n in range(10)})
    with pytest.raises(InvalidIdentityNumberError, match="17 digits"):
        IdentityNumber.parse(fullwidth)
