"""Household economic verification over HTTP, on SQLite and PostgreSQL: a dibao or tekun
grant cites a fresh verification of the same household, a declared income beyond the margin
needs a reason, reviews fall due after the last verification and an income at or above the
standard lists the case for exit; the figures are sealed at rest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from api.core.identities import Role
from domain.months import BUREAU_TIME_ZONE, Month
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

CASEWORKER = Role.CASEWORKER
TEKUN = {
    "basic_urban": "700",
    "basic_rural": "500",
    "care_self": "100",
    "care_partial": "300",
    "care_full": "600",
}


def member(serial: int, born: date = date(1980, 1, 1)) -> dict[str, str]:
    return {"identity_number": identity_number(born, serial), "name": f"成员{serial}"}


def today() -> date:
    return datetime.now(BUREAU_TIME_ZONE).date()


class VerificationOverHTTP:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            ledger = service.runtime.ledger
            ledger.set_standard(
                "dibao-urban", QIBIN, "2019-01", {"standard": "600"}, actor="f", reason="n"
            )
            ledger.set_standard("tekun", QIBIN, "2019-01", TEKUN, actor="f", reason="n")
            yield service

    @property
    def month(self) -> Month:
        return Month.containing(today())

    def grant(self, service: Service, persons: list[dict[str, str]], **body: Any) -> Any:
        return service.post(
            "/cases",
            {
                "programme": "dibao-urban",
                "region": QIBIN,
                "effective": str(self.month),
                "persons": persons,
                "income": "200",
                "reason": "applied",
                **body,
            },
            CASEWORKER,
        )

    def problem(self, answer: Any, kind: str) -> dict[str, Any]:
        assert answer.status_code == 422, answer.text
        found: dict[str, Any] = answer.json()
        assert found["type"] == f"/problems/{kind}", found
        return found

    def amount(self, service: Service, case: str) -> Decimal:
        service.runtime.read_side.wait_for(service.runtime.ledger.position)
        found = service.get(f"/cases/{case}", CASEWORKER, as_of=str(self.month))
        assert found.status_code == 200, found.text
        return Decimal(found.json()["amount"])

    def test_a_grant_without_a_verification_is_refused_and_nothing_is_stored(
        self, service: Service
    ) -> None:
        before = service.runtime.ledger.position
        refused = self.problem(self.grant(service, [member(1), member(2)]), "verification-required")
        assert refused["field"] == "body.verification_id"
        assert service.runtime.ledger.position == before
        unknown = self.grant(
            service, [member(1)], verification_id="00000000-0000-4000-8000-000000000000"
        )
        self.problem(unknown, "verification-required")

    def test_a_stale_verification_is_refused_naming_it_and_a_fresh_one_is_cited(
        self, service: Service
    ) -> None:
        household = [member(1), member(2), member(3)]
        stale = service.verified(household, made_on=today() - timedelta(days=91))
        refused = self.problem(
            self.grant(service, household, verification_id=stale), "verification-stale"
        )
        assert stale in refused["detail"] and "90 days" in refused["detail"]
        at_the_limit = service.verified(household, made_on=today() - timedelta(days=90))
        granted = self.grant(service, household, verification_id=at_the_limit)
        assert granted.status_code == 201, granted.text
        assert self.amount(service, granted.json()["id"]) == Decimal("1200.00")

    def test_stated_totals_must_be_what_the_members_incomes_make(self, service: Service) -> None:
        body = {
            "members": [
                {"identity_number": member(n)["identity_number"], "income": income}
                for n, income in ((1, "1000.00"), (2, "0.00"), (3, "0.00"))
            ],
            "sources": ["wages"],
            "made_on": today().isoformat(),
            "level": "province",
            "report_id": "HA-1",
        }
        wrong = service.post("/verifications", body | {"per_capita_income": "333.34"}, CASEWORKER)
        assert self.problem(wrong, "invalid-request")["field"] == "body.per_capita_income"
        right = body | {"per_capita_income": "333.33", "total_income": "1000.00"}
        recorded = service.post("/verifications", right, CASEWORKER)
        assert recorded.status_code == 201, recorded.text
        shown = service.get(f"/verifications/{recorded.json()['id']}", CASEWORKER).json()
        assert (shown["total_income"], shown["per_capita_income"]) == ("1000.00", "333.33")
        assert shown["state"] == "answered" and shown["level"] == "province"

    def test_a_verification_of_another_household_is_refused(self, service: Service) -> None:
        verification = service.verified([member(1), member(2)])
        refused = self.grant(service, [member(1), member(3)], verification_id=verification)
        assert verification in self.problem(refused, "verification-of-another-household")["detail"]

    def test_a_declared_income_beyond_the_margin_needs_a_reason_and_then_is_what_is_paid(
        self, service: Service
    ) -> None:
        household = [member(1), member(2), member(3)]
        verification = service.verified(household, "200")
        # The margin is 5 % of the standard 600: 30.00.
        refused = self.problem(
            self.grant(service, household, income="240", verification_id=verification),
            "income-differs-from-verification",
        )
        assert verification in refused["detail"] and "40.00" in refused["detail"]
        assert refused["field"] == "body.income"
        granted = self.grant(
            service,
            household,
            income="240",
            verification_id=verification,
            income_reason="the platform still counts a pension stopped in October",
        )
        assert granted.status_code == 201, granted.text
        assert self.amount(service, granted.json()["id"]) == Decimal("1080.00")
        history = service.get(f"/cases/{granted.json()['id']}", CASEWORKER).json()["history"]
        assert history[0]["details"]["income"] == "240.00"
        assert history[0]["details"]["verification_id"] == verification
        assert history[0]["details"]["income_difference"] == "40.00"
        assert history[0]["details"]["income_reason"].startswith("the platform still counts")

    def test_within_the_margin_the_verified_income_is_what_is_paid(self, service: Service) -> None:
        household = [member(1), member(2), member(3)]
        verification = service.verified(household, "200")
        granted = self.grant(service, household, income="230", verification_id=verification)
        assert granted.status_code == 201, granted.text
        assert self.amount(service, granted.json()["id"]) == Decimal("1200.00")

    def test_a_reassessment_of_the_income_cites_a_verification_and_a_tekun_tier_change_none(
        self, service: Service
    ) -> None:
        household = [member(1), member(2)]
        case = self.grant(service, household, verification_id=service.verified(household))
        assert case.status_code == 201, case.text

        def reassess(case_id: str, changes: dict[str, Any], **body: Any) -> Any:
            return service.post(
                f"/cases/{case_id}/reassessments",
                {"effective": str(self.month), "changes": changes, "reason": "review"} | body,
                CASEWORKER,
            )

        position = service.runtime.ledger.position
        self.problem(reassess(case.json()["id"], {"income": "300"}), "verification-required")
        stale = service.verified(household, "300", made_on=today() - timedelta(days=91))
        assert service.runtime.ledger.position > position
        refused = reassess(case.json()["id"], {"income": "300"}, verification_id=stale)
        self.problem(refused, "verification-stale")
        fresh = service.verified(household, "300", case_id=case.json()["id"])
        reassessed = reassess(case.json()["id"], {"income": "300"}, verification_id=fresh)
        assert reassessed.status_code == 201, reassessed.text
        assert self.amount(service, case.json()["id"]) == Decimal("600.00")

        loner = [member(5)]
        tekun = service.post(
            "/cases",
            {
                "programme": "tekun",
                "region": QIBIN,
                "effective": str(self.month),
                "persons": loner,
                "area": "urban",
                "tier": "self",
                "reason": "no one to support them",
                "verification_id": service.verified(loner, "0"),
            },
            CASEWORKER,
        )
        assert tekun.status_code == 201, tekun.text
        tier = reassess(tekun.json()["id"], {"tier": "full"})
        assert tier.status_code == 201, tier.text

    def test_reviews_fall_due_after_the_last_verification_and_high_income_lists_an_exit(
        self, service: Service
    ) -> None:
        earlier = today() - timedelta(days=80)
        first_due = Month.containing(earlier) + 6
        young = [member(1), member(2)]
        old = [member(3, date(1940, 1, 1)), member(4, date(1945, 6, 1))]
        young_case = self.grant(
            service, young, verification_id=service.verified(young, made_on=earlier)
        ).json()["id"]
        old_case = self.grant(service, old, verification_id=service.verified(old)).json()["id"]
        loner = [member(5)]
        tekun = service.post(
            "/cases",
            {
                "programme": "tekun",
                "region": QIBIN,
                "effective": str(self.month),
                "persons": loner,
                "area": "urban",
                "tier": "self",
                "reason": "no one to support them",
                "verification_id": service.verified(loner, "0"),
            },
            CASEWORKER,
        )
        assert tekun.status_code == 201, tekun.text
        tekun_case = tekun.json()["id"]
        service.runtime.read_side.wait_for(service.runtime.ledger.position)

        def listed(as_of: Month, path: str = "/reviews/due") -> dict[str, str]:
            answer = service.get(path, CASEWORKER, as_of=str(as_of))
            assert answer.status_code == 200, answer.text
            assert answer.json()["total"] == len(answer.json()["reviews"])
            return {r["case_id"]: r["state"] for r in answer.json()["reviews"]}

        assert listed(first_due - 1) == {}
        assert listed(first_due) == {young_case: "due"}
        assert listed(first_due + 1) == {young_case: "overdue"}
        # Households of members all 60 or over, and tekun, are reviewed yearly.
        assert listed(self.month + 12) == {
            young_case: "overdue",
            old_case: "due",
            tekun_case: "due",
        }
        assert listed(self.month, "/reviews/exit-candidates") == {}

        # A re-verification of the young household today finds an income above the standard.
        service.verified(young, "650", case_id=young_case)
        service.runtime.read_side.wait_for(service.runtime.ledger.position)
        assert listed(first_due) == {}
        assert listed(self.month + 6) == {young_case: "due"}
        candidates = service.get("/reviews/exit-candidates", CASEWORKER, as_of=str(self.month))
        assert [r["case_id"] for r in candidates.json()["reviews"]] == [young_case]
        assert candidates.json()["reviews"][0]["exit_candidate"] is True
        # A list for the caseworker: the case is paid as before until someone decides.
        assert self.amount(service, young_case) == Decimal("800.00")

    def test_the_figures_and_numbers_are_sealed_in_the_stored_events(
        self, service: Service
    ) -> None:
        household = [member(7), member(8)]
        verification = service.verified(household, "4321.87")
        shown = service.get(f"/verifications/{verification}", CASEWORKER)
        assert shown.json()["per_capita_income"] == "4321.87"
        recorder = service.runtime.ledger.recorder
        states = [n.state for n in recorder.select_notifications(start=1, limit=1000)]
        verified = [s for s in states if b"report_id" in s]
        assert len(verified) == 1 and b"HB-" in verified[0]
        for state in states:
            assert b"4321.87" not in state and b"8643.74" not in state
            for person in household:
                assert person["identity_number"].encode() not in state


class TestOnSQLite(OnSQLite, VerificationOverHTTP):
    pass


class TestOnPostgreSQL(OnPostgreSQL, VerificationOverHTTP):
    pass
