"""DESIGN's reference cases over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from api.core.identities import Role
from api.services.closing import close_period
from domain.application.recording import SaveAt
from domain.months import Month
from tests.e2e.service import Service, running
from tests.support import (
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    at,
    grant_reference_disability_case,
    grant_reference_household,
    identity_number,
    rescind_in_september_2019,
)

M = Month.parse
FINANCE, CASEWORKER, APPROVER, AUDITOR, VIEWER = (
    Role.FINANCE,
    Role.CASEWORKER,
    Role.APPROVER,
    Role.AUDITOR,
    Role.VIEWER,
)


def household() -> list[dict[str, str]]:
    return [
        {"identity_number": identity_number(date(1980, 1, 1), n), "name": f"成员{n}"}
        for n in (1, 2, 3)
    ]


class ReferenceCasesOverHTTP:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            yield service

    def standard(self, service: Service, programme: str, parameters: dict[str, str]) -> None:
        answer = service.post(
            f"/standards/{programme}/{QIBIN}",
            {"effective": "2019-01", "parameters": parameters, "reason": "notice"},
            FINANCE,
        )
        assert answer.status_code == 201, answer.text

    def test_reference_case_1_arrears_are_paid_with_august(self, service: Service) -> None:
        ledger = service.runtime.ledger
        uow = SaveAt(ledger, at("2020-01-02 09:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n", uow=uow
        )
        grant_reference_household(ledger)
        for month, day in (
            ("2020-03", "31"),
            ("2020-04", "30"),
            ("2020-05", "31"),
            ("2020-06", "30"),
            ("2020-07", "31"),
        ):
            uow = SaveAt(ledger, at(f"{month}-{day} 18:00"))
            close_period(
                ledger, service.runtime.views, "dibao-urban", QIBIN, M(month), actor="f", uow=uow
            )
        uow = SaveAt(ledger, at("2020-08-20 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="raise", uow=uow
        )
        # August closes over HTTP, now.
        service.runtime.read_side.wait_for(ledger.position)
        closed = service.post(f"/periods/dibao-urban/{QIBIN}/2020-08/close", None, FINANCE)
        assert closed.status_code == 201, closed.text
        period = service.get(
            f"/periods/dibao-urban/{QIBIN}/2020-08",
            AUDITOR,
            wait_for_position=closed.json()["position"],
        )
        assert period.status_code == 200, period.text
        (line,) = period.json()["lines"]
        assert (line["amount"], line["arrears"], line["total_to_pay"]) == (
            "1350.00",
            "150.00",
            "1500.00",
        )
        july = service.get(
            "/totals",
            FINANCE,
            as_of="2020-07",
            programme="dibao-urban",
            wait_for_position=closed.json()["position"],
        )
        assert july.json()["totals"][0] | {} == {
            "programme": "dibao-urban",
            "region": QIBIN,
            "cases": 1,
            "entitled": "1350.00",
            "paid": "1200.00",
            "settled": "150.00",
            "outstanding": "0.00",
        }

    def test_reference_case_2_and_3_amounts_over_http(self, service: Service) -> None:
        self.standard(service, "dibao-urban", {"standard": "600"})
        self.standard(
            service,
            "elderly-allowance",
            {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"},
        )
        granted = service.post(
            "/cases",
            {
                "programme": "dibao-urban",
                "region": QIBIN,
                "effective": "2020-03",
                "persons": household(),
                "income": "200",
                "verification_id": service.verified(household()),
                "reason": "applied",
            },
            CASEWORKER,
        )
        assert granted.status_code == 201, granted.text
        case = granted.json()["id"]
        service.post(
            f"/standards/dibao-urban/{QIBIN}",
            {"effective": "2020-07", "parameters": {"standard": "650"}, "reason": "raise"},
            FINANCE,
        )
        service.post(
            f"/cases/{case}/reassessments",
            {
                "effective": "2021-01",
                "changes": {"income": "700"},
                "verification_id": service.verified(household(), "700"),
                "reason": "job",
            },
            CASEWORKER,
        )
        last = service.post(
            f"/cases/{case}/gradual-exits",
            {"effective": "2021-01", "months": 6, "reason": "income"},
            CASEWORKER,
        )
        assert last.status_code == 201, last.text
        position = last.json()["position"]

        def roll(month: str) -> list[tuple[str, str]]:
            answer = service.get(
                f"/rolls/dibao-urban/{QIBIN}", VIEWER, as_of=month, wait_for_position=position
            )
            assert answer.status_code == 200, answer.text
            return [(e["amount"], e["status"]) for e in answer.json()["entries"]]

        assert roll("2021-06") == [("1350.00", "leaving")]
        assert roll("2021-07") == []
        elderly = {"identity_number": identity_number(date(1932, 5, 15), 7), "name": "老人"}
        granted = service.post(
            "/cases",
            {
                "programme": "elderly-allowance",
                "region": QIBIN,
                "effective": "2022-01",
                "persons": [elderly],
                "reason": "80+",
            },
            CASEWORKER,
        )
        assert granted.status_code == 201, granted.text

        def entitled(month: str) -> list[str]:
            answer = service.client.post(
                "/entitlements/search",
                json={"identity_number": elderly["identity_number"]},
                params={"as_of": month, "wait_for_position": granted.json()["position"]},
                headers=service.as_(VIEWER),
            )
            assert answer.status_code == 200, answer.text
            return [e["amount"] for e in answer.json()["entitlements"]]

        assert (entitled("2022-05"), entitled("2022-06")) == (["100.00"], ["200.00"])

    def test_a_household_grant_lists_its_members_as_a_json_list(self, service: Service) -> None:
        self.standard(service, "dibao-urban", {"standard": "600"})
        granted = service.post(
            "/cases",
            {
                "programme": "dibao-urban",
                "region": QIBIN,
                "effective": "2020-03",
                "persons": household(),
                "income": "200",
                "verification_id": service.verified(household()),
                "reason": "applied",
            },
            CASEWORKER,
        )
        assert granted.status_code == 201, granted.text
        case = service.get(
            f"/cases/{granted.json()['id']}",
            AUDITOR,
            wait_for_position=granted.json()["position"],
        ).json()
        members = case["history"][0]["details"]["members"]
        assert members == [person["reference"] for person in case["persons"]]
        assert case["history"][0]["details"]["income"] == "200.00"

    def test_reference_case_4_roll_as_known_on_2019_08_31(self, service: Service) -> None:
        ledger = service.runtime.ledger
        uow = SaveAt(ledger, at("2019-04-01 09:00"))
        ledger.set_standard(
            "disability-living",
            QIBIN,
            "2019-04",
            {"standard": "500"},
            actor="f",
            reason="n",
            uow=uow,
        )
        case = grant_reference_disability_case(ledger)
        rescind_in_september_2019(ledger, case)
        then = service.get(
            f"/rolls/disability-living/{QIBIN}",
            AUDITOR,
            as_of="2019-08",
            known_at="2019-08-31",
            wait_for_position=ledger.position,
        )
        now = service.get(f"/rolls/disability-living/{QIBIN}", AUDITOR, as_of="2019-08")
        assert [e["case_id"] for e in then.json()["entries"]] == [case.hex]
        assert now.json()["entries"] == []
        case_then = service.get(f"/cases/{case}", AUDITOR, as_of="2019-08", known_at="2019-08-31")
        case_now = service.get(f"/cases/{case}", AUDITOR, as_of="2019-08")
        assert (case_then.json()["amount"], case_then.json()["rescinded"]) == ("500.00", False)
        assert (case_now.json()["amount"], case_now.json()["rescinded"]) == ("0.00", True)
        assert [d["kind"] for d in case_now.json()["history"]] == [
            "Granted",
            "RescissionRequested",
            "RescissionApproved",
        ]
        assert len(case_then.json()["history"]) == 1

    def test_totals_of_a_closed_month_show_what_a_rescission_leaves_to_recover(
        self, service: Service
    ) -> None:
        ledger = service.runtime.ledger
        ledger.set_standard(
            "disability-living",
            QIBIN,
            "2019-04",
            {"standard": "500"},
            actor="f",
            reason="n",
            uow=SaveAt(ledger, at("2019-04-01 09:00")),
        )
        case = grant_reference_disability_case(ledger)
        for month in ("2019-04", "2019-05"):
            closed = service.post(f"/periods/disability-living/{QIBIN}/{month}/close", {}, FINANCE)
            assert closed.status_code == 201, closed.text
        requested = service.post(
            f"/cases/{case}/rescission-requests", {"reason": "forged certificate"}, CASEWORKER
        )
        assert requested.status_code == 201, requested.text
        approved = service.post(
            f"/cases/{case}/rescission-approvals", {"reason": "confirmed"}, APPROVER
        )
        assert approved.status_code == 201, approved.text
        may = service.get(
            "/totals", FINANCE, as_of="2019-05", wait_for_position=approved.json()["position"]
        )
        assert may.json()["totals"] == [
            {
                "programme": "disability-living",
                "region": QIBIN,
                "cases": 0,
                "entitled": "0.00",
                "paid": "500.00",
                "settled": "0.00",
                "outstanding": "-500.00",
            }
        ]

    def test_reference_case_5_relief_above_the_cap_needs_a_second_person(
        self, service: Service
    ) -> None:
        self.standard(service, "dibao-urban", {"standard": "600"})

        def relief(amount: str) -> str:
            answer = service.post(
                "/reliefs",
                {
                    "region": QIBIN,
                    "area": "urban",
                    "kind": "expenditure",
                    "relief_date": "2020-05-01",
                    "household_size": 2,
                    "amount": amount,
                    "person": {
                        "identity_number": identity_number(date(1970, 1, 1)),
                        "name": "孙丽",
                    },
                    "reason": "medical bills",
                },
                CASEWORKER,
                user="wang",
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        at_cap, above_cap = relief("7200.00"), relief("7200.01")
        assert service.get(f"/reliefs/{at_cap}", AUDITOR).json()["granted"] is True
        assert service.get(f"/reliefs/{above_cap}", AUDITOR).json()["granted"] is False
        own = service.post(
            f"/reliefs/{above_cap}/approvals", {"reason": "mine"}, APPROVER, user="wang"
        )
        assert own.status_code == 409
        assert own.headers["content-type"] == "application/problem+json"
        other = service.post(
            f"/reliefs/{above_cap}/approvals", {"reason": "checked"}, APPROVER, user="li"
        )
        assert other.status_code == 201
        assert service.get(f"/reliefs/{above_cap}", AUDITOR).json()["granted"] is True

    def test_reference_case_6_a_wrong_check_character_is_422_and_nothing_stored(
        self, service: Service
    ) -> None:
        self.standard(service, "disability-living", {"standard": "500"})
        good = identity_number(date(1950, 1, 1))
        wrong = good[:17] + ("1" if good[17] == "0" else "0")
        before = service.runtime.ledger.position
        answer = service.post(
            "/cases",
            {
                "programme": "disability-living",
                "region": QIBIN,
                "effective": "2020-01",
                "grade": 2,
                "persons": [{"identity_number": wrong, "name": "王五"}],
                "reason": "x",
            },
            CASEWORKER,
        )
        assert answer.status_code == 422
        assert answer.json()["field"] == "body.persons[0].identity_number"
        assert "check character" in answer.json()["detail"]
        assert wrong not in answer.text
        assert service.runtime.ledger.position == before


class TestReferenceCasesOverHTTPOnSQLite(OnSQLite, ReferenceCasesOverHTTP):
    pass


class TestReferenceCasesOverHTTPOnPostgreSQL(OnPostgreSQL, ReferenceCasesOverHTTP):
    pass
