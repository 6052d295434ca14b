"""Problems name what went wrong one way: the field at fault by where it was sent and its
path within, every conflict what it conflicts with, every kind of problem a type served at
its URI; a body that is not JSON is 415, and one over the limit 413 however it is sent."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from api.core.identities import Role
from api.http.problems import PROBLEM_TYPES
from api.services.fields import MONTH_PATTERN
from domain.months import BUREAU_TIME_ZONE
from tests.e2e.service import Service, running
from tests.processes import serving
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

CW, FI, VI = Role.CASEWORKER, Role.FINANCE, Role.VIEWER
ROOT = Path(__file__).resolve().parents[2]


def member(serial: int, born: date = date(1980, 1, 1)) -> dict[str, str]:
    return {"identity_number": identity_number(born, serial), "name": f"成员{serial}"}


def dibao(
    *persons: dict[str, str], effective: str = "2020-03", verification: str | None = None
) -> dict[str, Any]:
    return {
        "programme": "dibao-urban",
        "region": QIBIN,
        "effective": effective,
        "persons": list(persons),
        "income": "100",
        "reason": "applied",
    } | ({"verification_id": verification} if verification else {})


def verification_of(*persons: dict[str, str]) -> dict[str, Any]:
    """A verification body: the household of ``persons``, 100 a month each."""
    return {
        "members": [{"identity_number": p["identity_number"], "income": "100"} for p in persons],
        "sources": ["wages"],
        "made_on": datetime.now(BUREAU_TIME_ZONE).date().isoformat(),
        "level": "city",
        "report_id": "HB-1",
    }


class Problems:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            for programme in ("dibao-urban", "dibao-rural"):
                answer = service.post(
                    f"/standards/{programme}/{QIBIN}",
                    {"effective": "2019-01", "parameters": {"standard": "600"}, "reason": "n"},
                    FI,
                )
                assert answer.status_code == 201, answer.text
            yield service

    def problem(self, answer: Any, status: int, kind: str) -> dict[str, Any]:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        found: dict[str, Any] = answer.json()
        assert found["type"] == f"/problems/{kind}", found
        return found

    def test_a_field_is_named_by_where_it_was_sent_and_its_path_within(
        self, service: Service
    ) -> None:
        refused_member = member(2)
        refused_member["identity_number"] = refused_member["identity_number"][:17] + "Y"
        short_member = member(3)
        short_member["identity_number"] = short_member["identity_number"][:17]
        roll = f"/rolls/dibao-urban/{QIBIN}"
        standard = {"effective": "2020-01", "parameters": {"standard": "1"}, "reason": "r"}
        refused_by_ledger = service.post("/cases", dibao(member(1), refused_member), CW)
        fields = [
            ("body.persons[1].identity_number", refused_by_ledger),
            (
                "body.persons[1].identity_number",  # refused by the request's schema
                service.post("/cases", dibao(member(1), short_member), CW),
            ),
            ("body.persons[0].name", service.post("/cases", dibao(member(1) | {"name": " "}), CW)),
            ("query.as_of", service.get(roll, VI, as_of="2020-13")),
            ("query.known_at", service.get(roll, VI, known_at="yesterday")),
            ("query.known_at_position", service.get(roll, VI, known_at_position=10**9)),
            ("path.case_id", service.get("/cases/not-a-case", CW)),
            ("path.region", service.get("/rolls/dibao-urban/000000", VI)),
            ("path.programme", service.post("/standards/lottery/410611", standard, FI)),
            ("path.region", service.post("/standards/dibao-urban/999999", standard, FI)),
            (
                "body.parameters.standard",
                service.post(
                    f"/standards/dibao-urban/{QIBIN}",
                    standard | {"parameters": {"standard": "-1"}},
                    FI,
                ),
            ),
            (
                "header.Idempotency-Key",
                service.post("/cases", dibao(member(1)), CW, **{"Idempotency-Key": "a b"}),
            ),
        ]
        for field, answer in fields:
            problem = self.problem(answer, 422, "invalid-request")
            assert problem["field"] == field, problem
            assert problem["errors"][0]["field"] == field, problem
        assert refused_member["identity_number"] not in refused_by_ledger.text

    def test_every_read_documents_the_knowledge_it_checks(self, service: Service) -> None:
        """The month and the knowledge a read asks for are read from the query by the
        service itself: the document lists them on every read as FastAPI lists its own
        parameters, with the rules they are refused by; a query at fault is answered
        before the body is looked at."""
        document = service.client.get("/openapi.json").json()
        reads = {
            (path, method): [parameter["name"] for parameter in operation["parameters"]]
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if any(p["name"] == "as_of" for p in operation.get("parameters", []))
        }
        knowledge = ["as_of", "known_at", "known_at_position", "wait_for_position"]
        assert reads[("/rolls/{programme}/{region}", "get")] == [
            "programme",
            "region",
            *knowledge,
            "offset",
            "limit",
        ]
        assert reads[("/entitlements/search", "post")] == knowledge
        assert len(reads) > 10
        for names in reads.values():
            at = names.index("as_of")
            assert names[at : at + 4] == knowledge
        (as_of,) = [
            p for p in document["paths"]["/totals"]["get"]["parameters"] if p["name"] == "as_of"
        ]
        assert as_of["schema"]["anyOf"][0]["pattern"] == MONTH_PATTERN
        searched = service.client.post(
            "/entitlements/search",
            params={"known_at_position": "-1"},
            json={"identity_number": "not a number"},
            headers=service.as_(VI),
        )
        problem = self.problem(searched, 422, "invalid-request")
        assert [e["field"] for e in problem["errors"]] == ["query.known_at_position"]

    def test_a_member_already_holding_a_case_is_named_with_the_case_never_the_number(
        self, service: Service
    ) -> None:
        seven = service.verified([member(7)], "100")
        held = service.post(
            "/cases",
            dibao(member(7), verification=seven)
            | {"programme": "dibao-rural", "effective": "2020-01"},
            CW,
        )
        assert held.status_code == 201, held.text
        household = (member(1), member(7), member(8))
        verification = service.verified(household, "100")
        answer = service.post("/cases", dibao(*household, verification=verification), CW)
        problem = self.problem(answer, 409, "exclusive-holding")
        assert problem["detail"].startswith(
            f"person 2 of the household already holds dibao-rural case {held.json()['id']} "
            "from 2020-01"
        ), problem
        assert problem["field"] == "body.persons[1].identity_number"
        assert member(7)["identity_number"] not in answer.text

    def test_every_conflict_names_what_it_conflicts_with(self, service: Service) -> None:
        verification = service.verified([member(1)], "100")
        case = service.post("/cases", dibao(member(1), verification=verification), CW).json()["id"]
        exited = service.post(
            f"/cases/{case}/exits", {"effective": "2020-05", "reason": "moved"}, CW
        )
        assert exited.status_code == 201, exited.text
        suspended = service.post(
            f"/cases/{case}/suspensions", {"effective": "2020-06", "reason": "x"}, CW
        )
        problem = self.problem(suspended, 409, "state-conflict")
        assert "the case is closed from 2020-05" in problem["detail"]

        service.runtime.read_side.wait_for(service.runtime.ledger.position)
        close = f"/periods/dibao-urban/{QIBIN}/2020-03/close"
        assert service.post(close, None, FI).status_code == 201
        again = self.problem(service.post(close, None, FI), 409, "state-conflict")
        assert f"period 2020-03 of dibao-urban {QIBIN} is already closed" in again["detail"]

    def test_every_problem_type_is_served_at_its_uri_and_documented(self, service: Service) -> None:
        listed = service.client.get("/problems").json()
        assert [t["type"] for t in listed] == [kind.uri for kind in PROBLEM_TYPES]
        described = service.client.get("/openapi.json").json()["info"]["description"]
        documented = (ROOT / "docs" / "problems.md").read_text(encoding="utf-8")
        for kind in PROBLEM_TYPES:
            served = service.client.get(kind.uri)
            assert served.status_code == 200, kind
            assert served.json() == {
                "type": kind.uri,
                "title": kind.title,
                "status": kind.status,
                "description": kind.meaning,
            }
            assert kind.uri in described
            assert f"`{kind.uri}`" in documented
        unknown = service.client.get("/problems/no-such-kind")
        self.problem(unknown, 404, "not-found")
        for answer, status, name in (
            (service.client.get("/totals"), 401, "unauthorized"),
            (service.get("/totals", VI), 403, "forbidden"),
            (
                service.get(f"/rolls/dibao-urban/{QIBIN}", VI, as_of="2020-13"),
                422,
                "invalid-request",
            ),
            (service.client.delete("/totals"), 405, "method-not-allowed"),
        ):
            problem = self.problem(answer, status, name)
            served = service.client.get(problem["type"]).json()
            assert (served["title"], served["status"]) == (problem["title"], problem["status"])

    def test_a_body_that_is_not_json_is_415_and_a_json_one_with_a_charset_is_read(
        self, service: Service
    ) -> None:
        verification = service.verified([member(1)], "100")
        position = service.runtime.ledger.position
        body = json.dumps(dibao(member(1), verification=verification)).encode("utf-8")
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = service.as_(CW)
            if content_type is not None:
                headers["Content-Type"] = content_type
            answer = service.client.post("/cases", content=body, headers=headers)
            problem = self.problem(answer, 415, "unsupported-media-type")
            assert problem["field"] == "header.Content-Type"
            assert "application/json" in problem["detail"]
        assert service.runtime.ledger.position == position
        headers = {**service.as_(CW), "Content-Type": "application/json; charset=utf-8"}
        assert service.client.post("/cases", content=body, headers=headers).status_code == 201
        no_body = service.post(f"/periods/dibao-urban/{QIBIN}/2020-03/close", None, FI)
        assert no_body.status_code == 201, no_body.text  # an operation without a body


class TestProblemsOnSQLite(OnSQLite, Problems):
    pass


class TestProblemsOnPostgreSQL(OnPostgreSQL, Problems):
    pass


def chunked_post(url: str, path: str, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``body`` in chunks of 8 kB, with no Content-Length, as a streaming client does."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        chunks = (body[start : start + 8192] for start in range(0, len(body), 8192))
        connection.request(
            "POST",
            path,
            body=chunks,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def test_a_chunked_body_over_the_limit_is_413_and_one_within_it_is_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    with serving(sqlite_url, tmp_path / "server.log") as server:
        finance, caseworker = server.token("f-1", "finance"), server.token("cw-1", "caseworker")
        standard = {"effective": "2019-01", "parameters": {"standard": "600"}, "reason": "n"}
        status, _ = chunked_post(
            server.url, f"/standards/dibao-urban/{QIBIN}", finance, json.dumps(standard).encode()
        )
        assert status == 201
        huge = dibao(member(1)) | {"reason": "理" * 40_000}  # 120 kB of UTF-8, over 64 KiB
        status, problem = chunked_post(server.url, "/cases", caseworker, json.dumps(huge).encode())
        assert (status, problem["type"]) == (413, "/problems/request-too-large"), problem
        status, verified = chunked_post(
            server.url,
            "/verifications",
            caseworker,
            json.dumps(verification_of(member(1))).encode(),
        )
        assert status == 201, verified
        within = dibao(member(1), verification=verified["id"])
        status, recorded = chunked_post(
            server.url, "/cases", caseworker, json.dumps(within).encode()
        )
        assert status == 201, recorded
