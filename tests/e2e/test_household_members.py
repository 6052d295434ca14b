"""A dibao household's members join and leave over HTTP: the amount counts each month's
members, entitlements find a member only while they are in the household (as known at any
position), and who-may-hold-what holds for a joining person, even under racing requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

CASEWORKER, VIEWER, AUDITOR = Role.CASEWORKER, Role.VIEWER, Role.AUDITOR


def member(serial: int, born: date = date(1980, 1, 1), **extra: str) -> dict[str, str]:
    return {"identity_number": identity_number(born, serial), "name": f"成员{serial}", **extra}


class HouseholdOverHTTP:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            ledger = service.runtime.ledger
            for programme, parameters in (
                ("dibao-urban", {"standard": "600"}),
                (
                    "tekun",
                    {
                        "basic_urban": "700",
                        "basic_rural": "500",
                        "care_self": "100",
                        "care_partial": "300",
                        "care_full": "600",
                    },
                ),
            ):
                ledger.set_standard(programme, QIBIN, "2019-01", parameters, actor="f", reason="n")
            yield service

    def household(self, service: Service, *serials: int) -> str:
        persons = [member(serial) for serial in serials]
        granted = service.post(
            "/cases",
            {
                "programme": "dibao-urban",
                "region": QIBIN,
                "effective": "2020-03",
                "persons": persons,
                "income": "200",
                "verification_id": service.verified(persons),
                "reason": "applied",
            },
            CASEWORKER,
        )
        assert granted.status_code == 201, granted.text
        case: str = granted.json()["id"]
        return case

    def reassess(
        self,
        service: Service,
        case: str,
        month: str,
        verification: str | None = None,
        **changes: Any,
    ) -> Any:
        """A reassessment; ``verification``: of the household as it is from ``month``."""
        cited = {"verification_id": verification} if verification else {}
        return service.post(
            f"/cases/{case}/reassessments",
            {"effective": month, "changes": changes, "reason": "household changed"} | cited,
            CASEWORKER,
        )

    def entitled(self, service: Service, person: dict[str, str], **params: Any) -> list[str]:
        answer = service.client.post(
            "/entitlements/search",
            json={"identity_number": person["identity_number"]},
            params=params,
            headers=service.as_(VIEWER),
        )
        assert answer.status_code == 200, answer.text
        return [e["subject_id"] for e in answer.json()["entitlements"]]

    def test_a_birth_raises_the_amount_and_a_death_lowers_it_from_their_months(
        self, service: Service
    ) -> None:
        case = self.household(service, 1, 2)
        baby = member(3, date(2021, 1, 20), birth_date="2021-01-20")
        three = service.verified([member(1), member(2), baby])
        before_birth = service.runtime.ledger.position
        born = self.reassess(service, case, "2021-02", three, members_joining=[baby])
        assert born.status_code == 201, born.text
        two = service.verified([member(1), baby])
        died = self.reassess(
            service, case, "2021-06", two, members_leaving=[member(2)["identity_number"]]
        )
        assert died.status_code == 201, died.text
        position = died.json()["position"]

        def read(month: str) -> tuple[str, int]:
            answer = service.get(f"/cases/{case}", AUDITOR, as_of=month, wait_for_position=position)
            assert answer.status_code == 200, answer.text
            return answer.json()["amount"], len(answer.json()["members"])

        assert [read(m) for m in ("2021-01", "2021-02", "2021-05", "2021-06")] == [
            ("800.00", 2),
            ("1200.00", 3),
            ("1200.00", 3),
            ("800.00", 2),
        ]
        history = service.get(f"/cases/{case}", AUDITOR).json()["history"]
        joined = history[1]["details"]["members_joining"]
        assert len(joined) == 1 and baby["identity_number"] not in str(history)
        assert [p["name"] for p in service.get(f"/cases/{case}", AUDITOR).json()["persons"]] == [
            "成员1",
            "成员2",
            "成员3",
        ]

        case_id = case.replace("-", "")
        assert self.entitled(service, baby, as_of="2021-01", wait_for_position=position) == []
        assert self.entitled(service, baby, as_of="2021-02") == [case_id]
        assert self.entitled(service, member(2), as_of="2021-05") == [case_id]
        assert self.entitled(service, member(2), as_of="2021-06") == []
        # As known before the death was recorded, the member was still in the household.
        before = born.json()["position"]
        assert self.entitled(service, member(2), as_of="2021-06", known_at_position=before) == [
            case_id
        ]
        assert self.entitled(service, baby, as_of="2021-02", known_at_position=before_birth) == []

    def test_a_person_holding_tekun_is_refused_by_their_place_in_the_list_not_their_number(
        self, service: Service
    ) -> None:
        tekun = service.post(
            "/cases",
            {
                "programme": "tekun",
                "region": QIBIN,
                "effective": "2020-01",
                "persons": [member(9, date(1950, 1, 1))],
                "area": "urban",
                "tier": "self",
                "verification_id": service.verified([member(9, date(1950, 1, 1))], "0"),
                "reason": "alone",
            },
            CASEWORKER,
        )
        assert tekun.status_code == 201, tekun.text
        case = self.household(service, 1)
        joining = [member(4), member(9, date(1950, 1, 1))]
        verification = service.verified([member(1), *joining])
        position = service.runtime.ledger.position
        refused = self.reassess(service, case, "2021-02", verification, members_joining=joining)
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert "joining member 2 already holds tekun" in detail
        assert member(9, date(1950, 1, 1))["identity_number"] not in refused.text
        assert service.runtime.ledger.position == position

    def test_changes_that_do_not_fit_the_household_are_refused_and_store_nothing(
        self, service: Service
    ) -> None:
        case = self.household(service, 1, 2)
        position = service.runtime.ledger.position
        refusals: list[tuple[dict[str, Any], int, str]] = [
            ({"members_leaving": [member(7)["identity_number"]]}, 409, "not in the household"),
            ({"members_joining": [member(2)]}, 409, "in the household in 2021-02 already"),
            (
                {"members_leaving": [member(1)["identity_number"], member(2)["identity_number"]]},
                409,
                "record an exit instead",
            ),
            ({"members_joining": [member(5, birth_date="1999-09-09")]}, 422, "birth date"),
            ({"members_joining": []}, 422, "members_joining"),
        ]
        for changes, status, words in refusals:
            answer = self.reassess(service, case, "2021-02", **changes)
            assert answer.status_code == status, (changes, answer.text)
            assert words in answer.text, (changes, answer.text)
        assert service.runtime.ledger.position == position


class TestHouseholdOnSQLite(OnSQLite, HouseholdOverHTTP):
    pass


class TestHouseholdOnPostgreSQL(OnPostgreSQL, HouseholdOverHTTP):
    def test_two_racing_joins_of_one_person_into_two_households_end_with_one_success(
        self, service: Service
    ) -> None:
        first, second = self.household(service, 1), self.household(service, 2)
        newcomer = member(3, date(1990, 1, 1))
        verified = {
            first: service.verified([member(1), newcomer]),
            second: service.verified([member(2), newcomer]),
        }
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def join(case: str) -> None:
            barrier.wait()
            joined = self.reassess(
                service, case, "2021-02", verified[case], members_joining=[newcomer]
            )
            statuses.append(joined.status_code)

        threads = [threading.Thread(target=join, args=(case,)) for case in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses) == [201, 409]
        position = service.runtime.ledger.position
        found = self.entitled(service, newcomer, as_of="2021-02", wait_for_position=position)
        assert len(found) == 1
