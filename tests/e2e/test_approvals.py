"""Four eyes an approver can work with, over HTTP: a relief above its cap says it waits, the
approvers' queue lists what waits as known at any position, and requester and approver are
shown on the relief and the case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number

CASEWORKER, APPROVER, AUDITOR = Role.CASEWORKER, Role.APPROVER, Role.AUDITOR


@pytest.fixture
def service(sqlite_url: str) -> Iterator[Service]:
    with running(sqlite_url) as service:
        ledger = service.runtime.ledger
        for programme, parameters in (
            ("disability-living", {"standard": "500"}),
            ("dibao-urban", {"standard": "600"}),
        ):
            ledger.set_standard(programme, QIBIN, "2019-01", parameters, actor="f", reason="n")
        yield service


def relief(amount: str, serial: int = 1) -> dict[str, Any]:
    return {
        "region": QIBIN,
        "area": "urban",
        "kind": "expenditure",
        "relief_date": "2020-05-01",
        "household_size": 2,
        "amount": amount,
        "person": {"identity_number": identity_number(date(1970, 1, 1), serial), "name": "某人"},
        "reason": "medical bills",
    }


def queue(service: Service, role: Role = APPROVER, **params: Any) -> list[dict[str, Any]]:
    answer = service.get("/approvals", role, **params)
    assert answer.status_code == 200, answer.text
    pending: list[dict[str, Any]] = answer.json()["pending"]
    return pending


def test_a_relief_above_the_cap_answers_that_it_awaits_approval_and_where_it_is(
    service: Service,
) -> None:
    at_cap = service.post("/reliefs", relief("7200.00"), CASEWORKER, "alice")
    above = service.post("/reliefs", relief("7200.01", 2), CASEWORKER, "alice")
    assert (at_cap.status_code, above.status_code) == (201, 201)
    assert at_cap.json()["state"] == "granted"
    assert above.json()["state"] == "awaiting_approval"
    for answer in (at_cap, above):
        assert answer.headers["Location"] == f"/reliefs/{answer.json()['id']}"
        assert service.get(answer.headers["Location"], CASEWORKER).status_code == 200


def test_a_retry_with_the_same_key_answers_the_state_it_was_asked_in(service: Service) -> None:
    body = relief("8000")
    first = service.post("/reliefs", body, CASEWORKER, "alice", **{"Idempotency-Key": "k1"})
    service.post(f"/reliefs/{first.json()['id']}/approvals", {"reason": "ok"}, APPROVER, "bob")
    again = service.post("/reliefs", body, CASEWORKER, "alice", **{"Idempotency-Key": "k1"})
    assert again.status_code == 201, again.text
    assert (again.json()["id"], again.json()["state"]) == (first.json()["id"], "awaiting_approval")


def test_the_queue_lists_what_waits_with_who_asked_when_and_why_as_known_at_any_position(
    service: Service,
) -> None:
    above = service.post("/reliefs", relief("7200.01"), CASEWORKER, "alice")
    relief_id = above.json()["id"]
    granted = service.post(
        "/cases",
        {
            "programme": "disability-living",
            "region": QIBIN,
            "effective": "2020-01",
            "grade": 1,
            "persons": [{"identity_number": identity_number(date(1955, 5, 5), 3), "name": "甲"}],
            "reason": "certificate",
        },
        CASEWORKER,
    )
    case_id = granted.json()["id"]
    requested = service.post(
        f"/cases/{case_id}/rescission-requests",
        {"reason": "forged certificate"},
        CASEWORKER,
        "carol",
    )
    position = requested.json()["position"]

    waiting = queue(service, wait_for_position=position)
    assert [
        (p["what"], p["subject_id"], p["requested_by"], p["reason"], p["amount"], p["cap"])
        for p in waiting
    ] == [
        ("relief", relief_id, "alice", "medical bills", "7200.01", "7200.00"),
        ("rescission", case_id, "carol", "forged certificate", None, None),
    ]
    assert [p["approve"] for p in waiting] == [
        f"/reliefs/{relief_id}/approvals",
        f"/cases/{case_id}/rescission-approvals",
    ]
    assert waiting[0]["requested_position"] == above.json()["position"]
    assert waiting[1]["programme"] == "disability-living"
    assert queue(service, AUDITOR, wait_for_position=position) == waiting
    assert service.get("/approvals", CASEWORKER).status_code == 403

    approved = service.post(f"/reliefs/{relief_id}/approvals", {"reason": "ok"}, APPROVER, "bob")
    assert approved.status_code == 201, approved.text
    rescinded = service.post(
        f"/cases/{case_id}/rescission-approvals", {"reason": "confirmed"}, APPROVER, "dave"
    )
    assert rescinded.status_code == 201, rescinded.text
    assert queue(service, wait_for_position=rescinded.json()["position"]) == []
    assert queue(service, known_at_position=position) == waiting
    assert queue(service, known_at_position=approved.json()["position"]) == waiting[1:]


def test_the_relief_and_the_case_show_who_requested_and_who_approved(service: Service) -> None:
    relief_id = service.post("/reliefs", relief("9000"), CASEWORKER, "alice").json()["id"]
    waiting = service.get(f"/reliefs/{relief_id}", AUDITOR).json()
    assert (waiting["state"], waiting["requested_by"], waiting["approved_by"]) == (
        "awaiting_approval",
        "alice",
        None,
    )
    service.post(f"/reliefs/{relief_id}/approvals", {"reason": "ok"}, APPROVER, "bob")
    approved = service.get(f"/reliefs/{relief_id}", AUDITOR).json()
    assert (approved["state"], approved["requested_by"], approved["approved_by"]) == (
        "granted",
        "alice",
        "bob",
    )
    assert approved["approved_at"] >= approved["requested_at"]

    case_id = service.post(
        "/cases",
        {
            "programme": "disability-living",
            "region": QIBIN,
            "effective": "2020-01",
            "grade": 1,
            "persons": [{"identity_number": identity_number(date(1955, 5, 5), 4), "name": "乙"}],
            "reason": "certificate",
        },
        CASEWORKER,
    ).json()["id"]
    service.post(f"/cases/{case_id}/rescission-requests", {"reason": "forged"}, CASEWORKER, "carol")
    last = service.post(
        f"/cases/{case_id}/rescission-approvals", {"reason": "ok"}, APPROVER, "dave"
    )
    case = service.get(f"/cases/{case_id}", AUDITOR, wait_for_position=last.json()["position"])
    assert (case.json()["rescission_requested_by"], case.json()["rescission_approved_by"]) == (
        "carol",
        "dave",
    )


@pytest.mark.parametrize("spelling", ["Alice", "alice ", "ALICE", "\uff41lice"])
def test_the_requester_spelled_another_way_is_refused_as_approver(
    service: Service, spelling: str
) -> None:
    relief_id = service.post("/reliefs", relief("9000"), CASEWORKER, "alice").json()["id"]
    answer = service.post(f"/reliefs/{relief_id}/approvals", {"reason": "ok"}, APPROVER, spelling)
    assert answer.status_code == 409, answer.text
    assert "someone other than its requester" in answer.json()["detail"]
