"""Payment to the bank and the bank's returns, through the HTTP service, on SQLite and
PostgreSQL: the payment file, a returned line undone and held, reissued to a corrected
card after a payee change, the same return file imported twice, and the refusals."""

from __future__ import annotations

import csv
import importlib.resources
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID
from xml.etree import ElementTree

import pytest
import xmlschema

from api.core.identities import Role
from api.services.payment_files import PAIN_001, payment_id
from api.services.verification import verify
from domain.cases.payee import luhn_valid
from domain.months import Month
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

NS = {"p": PAIN_001}
PAIN_001_SCHEMA = importlib.resources.files("sepaxml") / "schemas" / "pain.001.001.09.xsd"


def card(start: str) -> str:
    """A 19-digit UnionPay card number beginning ``start``, ending in its check digit."""
    body = start.ljust(18, "0")
    (number,) = [body + digit for digit in "0123456789" if luhn_valid(body + digit)]
    return number


FIRST_CARD, CORRECTED_CARD, OTHER_CARD = card("6222020200"), card("6217000011"), card("6228480")


def grant_household(
    service: Service, serial: int, income: str, card_number: str | None, size: int = 3
) -> str:
    """An urban dibao household of ``size`` in Qibin from 2020-03, with its first member
    paid into ``card_number`` (None: no payee)."""
    persons = [
        {"identity_number": identity_number(date(1970, 1, 1), serial * 10 + n), "name": f"户{n}"}
        for n in range(size)
    ]
    body: dict[str, Any] = {
        "programme": "dibao-urban",
        "region": QIBIN,
        "effective": "2020-03",
        "persons": persons,
        "income": income,
        "verification_id": service.verified(persons, income),
        "reason": "household assessed",
    }
    if card_number is not None:
        body["payee"] = {"account": card_number}
    answer = service.post("/cases", body, Role.CASEWORKER)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def pain_002(*rejected: tuple[str, str, str]) -> bytes:
    """A pain.002.001.10 status report rejecting each (end-to-end id, reference, reason)."""
    transactions = "".join(
        f"<TxInfAndSts><StsId>{reference}</StsId><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId>"
        f"<TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>{reason}</Cd></Rsn></StsRsnInf></TxInfAndSts>"
        for e2e, reference, reason in rejected
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>BANK-STS-1</MsgId><CreDtTm>2020-06-03T09:00:00</CreDtTm></GrpHdr>"
        "<OrgnlGrpInfAndSts><OrgnlMsgId>dibao-urban/410611/2020-05</OrgnlMsgId>"
        "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>"
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>dibao-urban/410611/2020-05</OrgnlPmtInfId>"
        f"{transactions}</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"
    ).encode()


@dataclass
class Ledger:
    service: Service
    returned: str  # the household whose May payment comes back
    other: str

    @property
    def caught_up(self) -> dict[str, int]:
        """Read what was recorded so far."""
        return {"wait_for_position": self.service.runtime.ledger.position}

    def close(self, month: str) -> None:
        answer = self.service.post(
            f"/periods/dibao-urban/{QIBIN}/{month}/close", None, Role.FINANCE
        )
        assert answer.status_code == 201, answer.text

    def months(self, case_id: str) -> dict[str, dict[str, Any]]:
        answer = self.service.get(
            f"/cases/{case_id}/account", Role.FINANCE, as_of="2020-08", **self.caught_up
        )
        assert answer.status_code == 200, answer.text
        return {m["month"]: m for m in answer.json()["months"]}

    def payments(self, month: str) -> ElementTree.Element:
        answer = self.service.get(
            f"/periods/dibao-urban/{QIBIN}/{month}/payments.xml", Role.FINANCE, **self.caught_up
        )
        assert answer.status_code == 200, answer.text
        xmlschema.XMLSchema(str(PAIN_001_SCHEMA)).validate(answer.content)
        return ElementTree.fromstring(answer.content)

    def import_returns(self, body: bytes, media_type: str) -> Any:
        return self.service.client.post(
            "/payments/returns",
            content=body,
            headers={**self.service.as_(Role.FINANCE), "Content-Type": media_type},
        )

    def line(self, month: str, case_id: str) -> dict[str, Any]:
        answer = self.service.get(
            f"/periods/dibao-urban/{QIBIN}/{month}", Role.FINANCE, **self.caught_up
        )
        assert answer.status_code == 200, answer.text
        (found,) = [line for line in answer.json()["lines"] if line["case_id"] == UUID(case_id).hex]
        return dict(found)


def transfers(document: ElementTree.Element) -> dict[str, tuple[str, str, str]]:
    """Each transfer's end-to-end id: its amount, creditor name and account."""
    return {
        item.findtext("p:PmtId/p:EndToEndId", namespaces=NS) or "": (
            item.findtext("p:Amt/p:InstdAmt", namespaces=NS) or "",
            item.findtext("p:Cdtr/p:Nm", namespaces=NS) or "",
            item.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) or "",
        )
        for item in document.iterfind(".//p:CdtTrfTxInf", NS)
    }


class PaymentsOverHTTP:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            yield service

    @pytest.fixture
    def ledger(self, service: Service) -> Ledger:
        """Standard 600 from 2020-01; a household of 3 at income 200 (1200.00 a month) and
        one of 2 at income 300 (600.00); March and April closed; a raise to 650 from April
        recorded after April closed (150.00 of April outstanding); May closed (1350.00 plus
        150.00 arrears)."""
        standard = {"effective": "2020-01", "parameters": {"standard": "600"}, "reason": "notice"}
        answer = service.post(f"/standards/dibao-urban/{QIBIN}", standard, Role.FINANCE)
        assert answer.status_code == 201, answer.text
        found = Ledger(
            service,
            grant_household(service, 1, "200", FIRST_CARD),
            grant_household(service, 2, "300", OTHER_CARD, size=2),
        )
        found.close("2020-03")
        found.close("2020-04")
        raise_ = {"effective": "2020-04", "parameters": {"standard": "650"}, "reason": "raise"}
        assert (
            service.post(f"/standards/dibao-urban/{QIBIN}", raise_, Role.FINANCE).status_code == 201
        )
        found.close("2020-05")
        return found

    def test_the_payment_file_pays_each_line_with_its_count_and_control_sum(
        self, ledger: Ledger
    ) -> None:
        document = ledger.payments("2020-05")
        assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
        # 1350.00 + 150.00 arrears, and 700.00 + 100.00 arrears
        assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == (
            "2300.00"
        )
        assert document.findtext(".//p:PmtInf/p:CtrlSum", namespaces=NS) == "2300.00"
        found = transfers(document)
        key = payment_id(Month.parse("2020-05"), UUID(ledger.returned))
        assert found[key] == ("1500.00", "户0", FIRST_CARD)
        as_csv = ledger.service.client.get(
            f"/periods/dibao-urban/{QIBIN}/2020-05/payments.csv",
            params=ledger.caught_up,
            headers=ledger.service.as_(Role.FINANCE),
        )
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [row["record"] for row in rows] == ["transfer", "transfer", "control"]
        assert (rows[-1]["count"], rows[-1]["control_sum"]) == ("2", "2300.00")

    def test_the_card_number_is_stored_only_encrypted(self, ledger: Ledger) -> None:
        recorder = ledger.service.runtime.ledger.recorder
        stored = recorder.select_notifications(start=1, limit=10_000)
        assert stored[-1].id == ledger.service.runtime.ledger.position
        for card_number in (FIRST_CARD, OTHER_CARD):
            assert not [n.id for n in stored if card_number.encode() in n.state]
        payee = ledger.service.get(f"/cases/{ledger.returned}/payee", Role.CASEWORKER)
        assert payee.json()["account_ending"] == FIRST_CARD[-4:]

    def test_a_returned_payment_is_held_then_reissued_to_the_corrected_card(
        self, ledger: Ledger
    ) -> None:
        may = payment_id(Month.parse("2020-05"), UUID(ledger.returned))
        before = ledger.service.runtime.ledger.position
        answer = ledger.import_returns(pain_002((may, "RTN0001", "AC04")), "application/xml")
        assert answer.status_code == 200, answer.text
        assert (answer.json()["recorded"], answer.json()["end_to_end_ids"]) == (1, [may])
        assert answer.json()["position"] > before

        months = ledger.months(ledger.returned)
        # May's own 1350.00 and April's 150.00 arrears are outstanding again.
        assert (months["2020-05"]["paid"], months["2020-05"]["outstanding"]) == (
            "0.00",
            "1350.00",
        )
        assert (months["2020-04"]["paid"], months["2020-04"]["arrears"]) == ("1200.00", "0.00")
        assert months["2020-04"]["outstanding"] == "150.00"

        ledger.close("2020-06")  # held: nothing paid, nothing settled
        june = ledger.line("2020-06", ledger.returned)
        assert (june["amount"], june["arrears"], june["held"]) == ("0.00", "0.00", "2850.00")
        assert may.split("-")[1] not in "".join(transfers(ledger.payments("2020-06")))
        held = ledger.service.post(
            f"/periods/dibao-urban/{QIBIN}/2020-06/returns",
            {"case_id": ledger.returned, "bank_reference": "RTN0002", "reason": "AC04"},
            Role.FINANCE,
        )
        assert (held.status_code, held.json()["type"]) == (409, "/problems/held-line"), held.text

        change = {"account": CORRECTED_CARD, "reason": "the household opened a new account"}
        answer = ledger.service.post(
            f"/cases/{ledger.returned}/payee-changes", change, Role.CASEWORKER
        )
        assert answer.status_code == 201, answer.text
        ledger.close("2020-07")
        july = ledger.line("2020-07", ledger.returned)
        # June 1350 + May 1350 + April 150 as arrears, beside July's own 1350.
        assert (july["amount"], july["arrears"], july["held"]) == ("1350.00", "2850.00", "0.00")
        key = payment_id(Month.parse("2020-07"), UUID(ledger.returned))
        assert transfers(ledger.payments("2020-07"))[key] == ("4200.00", "户0", CORRECTED_CARD)
        months = ledger.months(ledger.returned)
        for name in ("2020-03", "2020-04", "2020-05", "2020-06", "2020-07"):
            assert months[name]["outstanding"] == "0.00", (name, months[name])
        assert (months["2020-05"]["paid"], months["2020-05"]["arrears"]) == ("0.00", "1350.00")

        answer = ledger.service.get("/reconciliation/months", Role.AUDITOR, **ledger.caught_up)
        assert answer.status_code == 200, answer.text
        accounts = {row["month"]: row for row in answer.json()["months"]}
        columns = ("entitled", "paid", "settled", "outstanding", "returned", "held", "reissued")
        # Both households: the other is paid 700.00 from April (100.00 of April as arrears).
        assert {month: tuple(accounts[month][c] for c in columns) for month in accounts} == {
            "2020-03": ("1800.00", "1800.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
            "2020-04": ("2050.00", "1800.00", "250.00", "0.00", "150.00", "150.00", "150.00"),
            "2020-05": ("2050.00", "700.00", "1350.00", "0.00", "1350.00", "1350.00", "1350.00"),
            "2020-06": ("2050.00", "700.00", "1350.00", "0.00", "0.00", "1350.00", "1350.00"),
            "2020-07": ("2050.00", "2050.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
        }
        runtime = ledger.service.runtime
        position = runtime.read_side.wait_for(runtime.ledger.position)
        result = verify(runtime.ledger, runtime.views, position)
        assert result.ok and not result.unbalanced and not result.wrong_digests

    def test_the_same_return_file_imported_twice_changes_nothing(self, ledger: Ledger) -> None:
        may = payment_id(Month.parse("2020-05"), UUID(ledger.other))
        text = f"end_to_end_id,bank_reference,reason\r\n{may},RTN0003,MD07\r\n".encode()
        first = ledger.import_returns(text, "text/csv")
        assert first.status_code == 200, first.text
        position = ledger.service.runtime.ledger.position
        again = ledger.import_returns(text, "text/csv")
        assert again.status_code == 200, again.text
        assert (again.json()["recorded"], again.json()["already_recorded"]) == (0, 1)
        assert again.json()["position"] == position == ledger.service.runtime.ledger.position

    def test_a_returns_file_with_a_bad_line_is_refused_whole(self, ledger: Ledger) -> None:
        may = payment_id(Month.parse("2020-05"), UUID(ledger.other))
        position = ledger.service.runtime.ledger.position
        text = f"end_to_end_id,bank_reference,reason\r\n{may},R1,AC04\r\nnot-an-id,R2,AC04\r\n"
        answer = ledger.import_returns(text.encode(), "text/csv")
        assert (answer.status_code, answer.json()["type"]) == (422, "/problems/invalid-request")
        assert answer.json()["detail"].startswith("line 3:"), answer.json()
        assert answer.json()["field"] == "body.end_to_end_id"
        assert ledger.service.runtime.ledger.position == position
        other = ledger.import_returns(b"{}", "application/json")
        assert (other.status_code, other.json()["type"]) == (
            415,
            "/problems/unsupported-media-type",
        )

    def test_a_return_of_a_period_not_closed_is_refused_and_nothing_is_recorded(
        self, ledger: Ledger
    ) -> None:
        position = ledger.service.runtime.ledger.position
        answer = ledger.service.post(
            f"/periods/dibao-urban/{QIBIN}/2020-06/returns",
            {"case_id": ledger.returned, "bank_reference": "RTN0004", "reason": "AC04"},
            Role.FINANCE,
        )
        assert (answer.status_code, answer.json()["type"]) == (409, "/problems/period-not-closed")
        assert ledger.service.runtime.ledger.position == position

    def test_a_return_of_a_case_not_in_the_period_is_refused(self, ledger: Ledger) -> None:
        answer = ledger.service.post(
            f"/periods/dibao-urban/{QIBIN}/2020-05/returns",
            {
                "case_id": "0b6f9c1e4f2a4d4e9a7c3b2d1e0f9a8b",
                "bank_reference": "R5",
                "reason": "AC04",
            },
            Role.FINANCE,
        )
        assert (answer.status_code, answer.json()["type"]) == (409, "/problems/not-in-period")

    def test_a_bank_card_with_a_wrong_check_digit_is_refused(self, ledger: Ledger) -> None:
        wrong = FIRST_CARD[:-1] + str((int(FIRST_CARD[-1]) + 1) % 10)
        answer = ledger.service.post(
            f"/cases/{ledger.returned}/payee-changes",
            {"account": wrong, "reason": "new card"},
            Role.CASEWORKER,
        )
        assert (answer.status_code, answer.json()["type"]) == (
            422,
            "/problems/invalid-bank-account",
        )
        assert answer.json()["field"] == "body.account"


class TestPaymentsOnSQLite(OnSQLite, PaymentsOverHTTP):
    pass


class TestPaymentsOnPostgreSQL(OnPostgreSQL, PaymentsOverHTTP):
    pass
