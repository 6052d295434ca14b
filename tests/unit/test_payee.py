"""Bank card numbers of a payee: 16 to 19 digits, and a UnionPay card's Luhn check digit;
the end-to-end id of a payment file's transfer; a held line in the payroll digest."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.services.bank_returns import returns_from_pain_002
from api.services.payment_files import parse_payment_id, payment_id
from domain.cases.payee import check_bank_card, luhn_completed, luhn_valid
from domain.errors import InvalidBankAccountError, InvalidInputError
from domain.months import Month
from domain.payroll_periods import PayrollLine, PayrollSummary, check_lines


def test_the_luhn_check_digit_of_a_known_card_number() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert luhn_completed("622202020011234567") == "6222020200112345679"


@given(st.text(alphabet="0123456789", min_size=1, max_size=24))
def test_the_completed_digit_is_the_one_digit_that_passes_the_check(digits: str) -> None:
    completed = luhn_completed(digits)
    assert completed[:-1] == digits
    assert [d for d in "0123456789" if luhn_valid(digits + d)] == [completed[-1]]


def test_a_unionpay_card_is_taken_with_its_spaces_removed() -> None:
    assert check_bank_card("6222 0202 0011 2345 679") == "6222020200112345679"


def test_a_unionpay_card_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidBankAccountError, match="check digit"):
        check_bank_card("6222020200112345675")


def test_a_domestic_card_outside_unionpay_is_checked_by_length_only() -> None:
    assert check_bank_card("4367421234567890123") == "4367421234567890123"


@pytest.mark.parametrize(
    ("number", "reason"),
    [("622202020011234", "has 15"), ("62220202001123456789", "has 20"), ("6222-0202", "digits")],
)
def test_a_card_number_of_the_wrong_shape_is_refused(number: str, reason: str) -> None:
    with pytest.raises(InvalidBankAccountError, match=reason):
        check_bank_card(number)


def test_an_end_to_end_id_names_the_month_and_the_case_in_35_characters_or_fewer() -> None:
    case_id = UUID("0b6f9c1e-4f2a-4d4e-9a7c-3b2d1e0f9a8b")
    text = payment_id(Month.parse("2020-08"), case_id)
    assert len(text) <= 35 and text.startswith("202008-")
    assert parse_payment_id(text, "id") == (Month.parse("2020-08"), case_id)
    with pytest.raises(InvalidInputError):
        parse_payment_id("202013-" + text[7:], "id")


def test_a_line_without_a_hold_is_encoded_as_before_and_a_held_line_with_a_fifth_field() -> None:
    paid = PayrollLine("a", Decimal("1200.00"), Decimal("150.00"), Decimal("0.00"))
    held = PayrollLine("b", Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("2850.00"))
    assert paid.encoded() == "a,1200.00,150.00,0.00\n"
    assert held.encoded() == "b,0.00,0.00,0.00,2850.00\n"
    assert PayrollSummary.of([paid, held]).month_total == Decimal("1200.00")


def test_a_held_line_that_also_pays_is_refused() -> None:
    line = PayrollLine("a", Decimal("1.00"), Decimal("0.00"), Decimal("0.00"), Decimal("2.00"))
    with pytest.raises(InvalidInputError, match="held line"):
        check_lines([line])


def test_a_status_report_rejecting_a_whole_file_without_its_transactions_is_refused() -> None:
    report = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>'
        b"<OrgnlGrpInfAndSts><OrgnlMsgId>dibao-urban/410611/2020-05</OrgnlMsgId>"
        b"<GrpSts>RJCT</GrpSts></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>"
    )
    with pytest.raises(InvalidInputError, match="without naming its transactions"):
        returns_from_pain_002(report)
