"""GET /standards/{programme}/{region}: the standard in force and the schedule's history, as of
a month and as known at a time or position, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite

PATH = f"/standards/dibao-urban/{QIBIN}"


class StandardsOverHTTP:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            yield service

    @pytest.fixture
    def positions(self, service: Service) -> list[int]:
        """600 from 2020-01, raised to 650 from 2020-07, corrected to 640 from 2020-07."""
        recorded = []
        for path, effective, standard, reason in (
            (PATH, "2020-01", "600", "notice 2019-12"),
            (PATH, "2020-07", "650", "notice 2020-08"),
            (f"{PATH}/corrections", "2020-07", "640", "650 was a typing error"),
        ):
            answer = service.post(
                path,
                {"effective": effective, "parameters": {"standard": standard}, "reason": reason},
                Role.FINANCE,
                user="li.finance",
            )
            assert answer.status_code == 201, answer.text
            recorded.append(answer.json()["position"])
        service.runtime.read_side.wait_for(recorded[-1])
        return recorded

    def test_the_standard_in_force_and_every_change_with_who_why_and_when(
        self, service: Service, positions: list[int]
    ) -> None:
        answer = service.get(PATH, Role.FINANCE, as_of="2020-08")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["region_name"], body["as_of"]) == ("Qibin District", "2020-08")
        assert body["in_force"] == {
            "effective": "2020-07",
            "parameters": {"standard": "640.00"},
            "position": positions[2],
        }
        assert [(e["effective"], e["parameters"]["standard"]) for e in body["entries"]] == [
            ("2020-01", "600.00"),
            ("2020-07", "640.00"),
        ]
        assert [
            (c["kind"], c["effective"], c["parameters"], c["actor"], c["reason"], c["position"])
            for c in body["history"]
        ] == [
            (
                "set",
                "2020-01",
                {"standard": "600.00"},
                "li.finance",
                "notice 2019-12",
                positions[0],
            ),
            (
                "set",
                "2020-07",
                {"standard": "650.00"},
                "li.finance",
                "notice 2020-08",
                positions[1],
            ),
            (
                "corrected",
                "2020-07",
                {"standard": "640.00"},
                "li.finance",
                "650 was a typing error",
                positions[2],
            ),
        ]
        assert all(c["recorded_at"] for c in body["history"])
        june = service.get(PATH, Role.CASEWORKER, as_of="2020-06").json()
        assert june["in_force"]["parameters"] == {"standard": "600.00"}

    def test_as_known_at_a_position_before_the_correction(
        self, service: Service, positions: list[int]
    ) -> None:
        body = service.get(
            PATH, Role.AUDITOR, as_of="2020-08", known_at_position=positions[1]
        ).json()
        assert body["in_force"]["parameters"] == {"standard": "650.00"}
        assert [c["kind"] for c in body["history"]] == ["set", "set"]
        before = service.get(PATH, Role.APPROVER, as_of="2020-08", known_at="2001-01-01").json()
        assert (before["in_force"], before["entries"], before["history"]) == (None, [], [])

    def test_an_unknown_region_or_a_programme_without_standards_is_422(
        self, service: Service
    ) -> None:
        region = service.get("/standards/dibao-urban/999999", Role.FINANCE)
        assert (region.status_code, region.json()["field"]) == (422, "path.region")
        relief = service.get(f"/standards/temporary-relief/{QIBIN}", Role.FINANCE)
        assert (relief.status_code, relief.json()["field"]) == (422, "path.programme")
        assert "has no standards schedule" in relief.json()["detail"]
        assert service.get(PATH, Role.VIEWER).status_code == 403

    def test_the_standards_read_is_documented_in_openapi(self, service: Service) -> None:
        document = service.client.get("/openapi.json").json()
        operation = document["paths"]["/standards/{programme}/{region}"]["get"]
        assert "in force" in operation["description"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"programme", "region", "as_of", "known_at", "known_at_position"} <= names
        assert "StandardsPublic" in document["components"]["schemas"]


class TestStandardsOverHTTPOnSQLite(OnSQLite, StandardsOverHTTP):
    pass


class TestStandardsOverHTTPOnPostgreSQL(OnPostgreSQL, StandardsOverHTTP):
    pass
