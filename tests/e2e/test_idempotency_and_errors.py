"""Idempotency keys, and refusals that explain themselves and store nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

CW, FI = Role.CASEWORKER, Role.FINANCE


def grant_body(serial: int = 1, **changes: Any) -> dict[str, Any]:
    body = {
        "programme": "disability-living",
        "region": QIBIN,
        "effective": "2020-01",
        "grade": 1,
        "persons": [{"identity_number": identity_number(date(1960, 1, 1), serial), "name": "某人"}],
        "reason": "certificate",
    }
    return body | changes


class IdempotencyAndErrors:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            service.runtime.ledger.set_standard(
                "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
            )
            yield service

    def test_a_retry_with_the_same_key_returns_the_first_answer_and_records_nothing(
        self, service: Service
    ) -> None:
        first = service.post("/cases", grant_body(), CW, **{"Idempotency-Key": "grant-1"})
        position = service.runtime.ledger.position
        again = service.post("/cases", grant_body(), CW, **{"Idempotency-Key": "grant-1"})
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert service.runtime.ledger.position == position

    def test_the_same_key_with_another_body_is_refused(self, service: Service) -> None:
        first = service.post("/cases", grant_body(), CW, **{"Idempotency-Key": "k"})
        other = service.post("/cases", grant_body(2), CW, **{"Idempotency-Key": "k"})
        assert other.status_code == 422
        problem = other.json()
        assert problem["type"] == "/problems/idempotency-key-reused"
        assert problem["field"] == "header.Idempotency-Key"
        assert "different request" in problem["detail"]
        assert first.json()["id"] in problem["detail"]  # the decision the key was used for

    def test_keys_are_scoped_to_the_caller(self, service: Service) -> None:
        mine = service.post("/cases", grant_body(1), CW, user="wang", **{"Idempotency-Key": "k"})
        theirs = service.post("/cases", grant_body(2), CW, user="li", **{"Idempotency-Key": "k"})
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert mine.json()["id"] != theirs.json()["id"]

    def test_racing_retries_with_one_key_record_one_decision(self, service: Service) -> None:
        answers: list[dict[str, Any]] = []
        barrier = threading.Barrier(8)

        def send() -> None:
            barrier.wait()
            answer = service.post("/cases", grant_body(), CW, **{"Idempotency-Key": "race"})
            answers.append({"status": answer.status_code, **answer.json()})

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert {a["status"] for a in answers} == {201}
        assert len({(a["id"], a["position"]) for a in answers}) == 1

    def test_refusals_explain_themselves_and_store_nothing(self, service: Service) -> None:
        service.post("/cases", grant_body(7), CW)
        position = service.runtime.ledger.position
        holder = "body.persons[0].identity_number"
        cases = [
            (grant_body(7), 409, holder, "already holds disability-living"),
            (grant_body(region="999999"), 422, "body.region", "not in the region catalogue"),
            (grant_body(programme="lottery"), 422, "body.programme", "programme"),
            (grant_body(effective="2020-13"), 422, "body.effective", "a month is written YYYY-MM"),
            (grant_body(grade="one"), 422, "body.grade", "grade"),
            (grant_body(extra="field"), 422, "body.extra", "extra"),
            (grant_body(effective="2099-01"), 422, "body.effective", "no later than"),
            (grant_body(programme="dibao-urban", income="12.345"), 422, "body.income", "two"),
            (grant_body(programme="dibao-urban", income="-1"), 422, "body.income", "income"),
            (grant_body(persons=[]), 422, "body.persons", "persons"),
        ]
        for body, status, field, words in cases:
            answer = service.post("/cases", body, CW)
            assert answer.status_code == status, (body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert words in problem["detail"], problem
            assert problem["field"] == field, problem
            assert problem["errors"][0]["field"] == field, problem
        assert service.runtime.ledger.position == position

    def test_malformed_and_oversized_bodies_and_unknown_cases(self, service: Service) -> None:
        position = service.runtime.ledger.position
        headers = {**service.as_(CW), "Content-Type": "application/json"}
        malformed = service.client.post("/cases", content=b'{"programme": ', headers=headers)
        huge = service.client.post("/cases", content=b"x" * 200_000, headers=headers)
        unknown = service.get("/cases/00000000-0000-4000-8000-000000000000", CW)
        assert (malformed.status_code, huge.status_code, unknown.status_code) == (422, 413, 404)
        assert service.runtime.ledger.position == position

    def test_a_write_answers_with_its_position_and_a_query_can_wait_for_it(
        self, service: Service
    ) -> None:
        written = service.post("/cases", grant_body(9), CW)
        position = written.json()["position"]
        roll = service.get(
            f"/rolls/disability-living/{QIBIN}",
            Role.VIEWER,
            as_of="2020-01",
            wait_for_position=position,
        )
        assert roll.json()["position"] >= position
        assert written.json()["id"].replace("-", "") in [
            e["case_id"] for e in roll.json()["entries"]
        ]

    @pytest.mark.parametrize("known_at", ["9999-12-31", "0001-01-01T00:00:00+14:00"])
    def test_a_known_at_out_of_the_calendars_range_is_a_422_naming_it_for_every_role(
        self, service: Service, known_at: str
    ) -> None:
        case = service.post("/cases", grant_body(11), CW).json()["id"]
        for path, role in (
            (f"/rolls/disability-living/{QIBIN}", Role.VIEWER),
            (f"/cases/{case}", CW),
            ("/totals", FI),
            ("/reconciliation", Role.AUDITOR),
            (f"/cases/{case}", Role.APPROVER),
        ):
            answer = service.get(path, role, known_at=known_at)
            assert answer.status_code == 422, (path, role, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"].startswith("known_at: "), answer.text
            assert answer.json()["field"] == "query.known_at"
            assert "out of range" in answer.json()["detail"]


class TestIdempotencyAndErrorsOnSQLite(OnSQLite, IdempotencyAndErrors):
    pass


class TestIdempotencyAndErrorsOnPostgreSQL(OnPostgreSQL, IdempotencyAndErrors):
    pass
