"""GET /cases/{id}/account: a case's months as a caseworker or the finance office reads them,
as of any month and as known at any time or position, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.integration.test_case_account import (
    AccountsHistory,
    record_a_history_with_settlements,
)
from tests.support import OnPostgreSQL, OnSQLite


def month(answer: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [m for m in answer["months"] if m["month"] == name]
    return {key: value for key, value in found.items() if key != "month"}


class CaseAccountOverHTTP:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            yield service

    @pytest.fixture
    def history(self, service: Service) -> AccountsHistory:
        return record_a_history_with_settlements(service.runtime)

    def test_a_retroactive_raise_is_read_as_arrears_of_the_month_it_corrects(
        self, service: Service, history: AccountsHistory
    ) -> None:
        answer = service.get(f"/cases/{history.raised}/account", Role.CASEWORKER, as_of="2020-09")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["programme"], body["region"], body["as_of"]) == (
            "dibao-urban",
            "410611",
            "2020-09",
        )
        assert month(body, "2020-07") == {
            "status": "paying",
            "entitled": "1350.00",
            "closed": True,
            "paid": "1200.00",
            "arrears": "150.00",
            "recoveries": "0.00",
            "settled": "150.00",
            "outstanding": "0.00",
        }
        assert month(body, "2020-09") == {
            "status": "paying",
            "entitled": "1500.00",
            "closed": False,
            "paid": None,
            "arrears": None,
            "recoveries": None,
            "settled": None,
            "outstanding": None,
        }
        # March to June 1200, July 1350, August 1500 (raised after it closed), September 1500.
        assert (body["entitled"], body["paid"], body["arrears"], body["outstanding"]) == (
            "9150.00",
            "7350.00",
            "150.00",
            "150.00",
        )

    def test_as_known_on_a_date_the_raise_is_not_there_yet(
        self, service: Service, history: AccountsHistory
    ) -> None:
        before = service.get(
            f"/cases/{history.raised}/account",
            Role.FINANCE,
            as_of="2020-07",
            known_at="2020-08-19",
        ).json()
        assert [m["month"] for m in before["months"]] == [
            "2020-03",
            "2020-04",
            "2020-05",
            "2020-06",
            "2020-07",
        ]
        assert (month(before, "2020-07")["entitled"], month(before, "2020-07")["outstanding"]) == (
            "1200.00",
            "0.00",
        )
        at_position = service.get(
            f"/cases/{history.raised}/account",
            Role.AUDITOR,
            as_of="2020-07",
            known_at_position=history.positions[-4],
        ).json()
        assert month(at_position, "2020-07")["outstanding"] == "150.00"
        assert at_position["position"] == history.positions[-4]

    def test_a_rescinded_case_shows_what_is_to_recover(
        self, service: Service, history: AccountsHistory
    ) -> None:
        body = service.get(
            f"/cases/{history.rescinded}/account", Role.APPROVER, as_of="2019-12"
        ).json()
        assert {m["status"] for m in body["months"]} == {None}
        assert (body["entitled"], body["paid"], body["recoveries"], body["outstanding"]) == (
            "0.00",
            "2500.00",
            "2500.00",
            "0.00",
        )

    def test_an_unknown_case_is_404_and_a_viewer_is_refused(
        self, service: Service, history: AccountsHistory
    ) -> None:
        unknown = service.get("/cases/00000000-0000-4000-8000-000000000000/account", Role.FINANCE)
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        before_grant = service.get(
            f"/cases/{history.raised}/account", Role.FINANCE, known_at="2020-03-01"
        )
        assert before_grant.status_code == 404
        viewer = service.get(f"/cases/{history.raised}/account", Role.VIEWER)
        assert viewer.status_code == 403

    def test_the_account_is_documented_in_openapi(self, service: Service) -> None:
        document = service.client.get("/openapi.json").json()
        operation = document["paths"]["/cases/{case_id}/account"]["get"]
        assert "outstanding" in operation["description"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"case_id", "as_of", "known_at", "known_at_position"} <= names
        schema = document["components"]["schemas"]["CaseMonthPublic"]
        assert "entitled - paid - settled" in schema["properties"]["outstanding"]["description"]


class TestCaseAccountOverHTTPOnSQLite(OnSQLite, CaseAccountOverHTTP):
    pass


class TestCaseAccountOverHTTPOnPostgreSQL(OnPostgreSQL, CaseAccountOverHTTP):
    pass
