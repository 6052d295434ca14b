"""An approver refuses, with a reason, what waits for a second person, over the API and on
the approvals page: the same four-eyes rule as an approval, and a refused relief is never
paid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.e2e.test_web_pages import csrf_token, relief_awaiting_approval, sign_in
from tests.support import QIBIN, identity_number

CASEWORKER, APPROVER, AUDITOR = Role.CASEWORKER, Role.APPROVER, Role.AUDITOR


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    with running(request.getfixturevalue(fixture)) as service:
        ledger = service.runtime.ledger
        for programme, parameters in (
            ("dibao-urban", {"standard": "600"}),
            ("disability-living", {"standard": "500"}),
        ):
            ledger.set_standard(programme, QIBIN, "2019-01", parameters, actor="f", reason="n")
        yield service


def pending(service: Service, **params: Any) -> list[dict[str, Any]]:
    answer = service.get("/approvals", AUDITOR, **params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["pending"]
    return found


def test_a_refused_relief_leaves_the_queue_and_is_never_paid(service: Service) -> None:
    relief_id = relief_awaiting_approval(service)
    asked_at = service.runtime.ledger.position
    [waiting] = pending(service, wait_for_position=asked_at)
    assert waiting["refuse"] == f"/reliefs/{relief_id}/refusals"

    own = service.post(waiting["refuse"], {"reason": "withdrawn"}, APPROVER, "alice")
    assert own.status_code == 409, own.text
    assert "someone other than its requester" in own.json()["detail"]
    assert service.post(waiting["refuse"], {"reason": "no"}, CASEWORKER, "carl").status_code == 403

    refused = service.post(waiting["refuse"], {"reason": "not in need"}, APPROVER, "bob")
    assert refused.status_code == 201, refused.text
    position = refused.json()["position"]
    relief = service.get(f"/reliefs/{relief_id}", AUDITOR).json()
    assert (relief["state"], relief["refused_by"], relief["granted"]) == ("refused", "bob", False)
    assert pending(service, wait_for_position=position) == []
    assert [p["subject_id"] for p in pending(service, known_at_position=asked_at)] == [relief_id]
    totals = service.get(
        "/totals",
        AUDITOR,
        as_of="2020-05",
        programme="temporary-relief",
        wait_for_position=position,
    ).json()["totals"]
    assert totals == []
    again = service.post(f"/reliefs/{relief_id}/approvals", {"reason": "ok"}, APPROVER, "carol")
    assert again.status_code == 409, again.text


def test_a_refused_rescission_leaves_the_case_on_the_roll(service: Service) -> None:
    grant = {
        "programme": "disability-living",
        "region": QIBIN,
        "effective": "2019-04",
        "persons": [{"identity_number": identity_number(date(1960, 6, 6), 7), "name": "某甲"}],
        "grade": 1,
        "reason": "certificate",
    }
    case_id = service.post("/cases", grant, CASEWORKER, "alice").json()["id"]
    asked = service.post(
        f"/cases/{case_id}/rescission-requests", {"reason": "forged?"}, CASEWORKER, "alice"
    )
    assert asked.status_code == 201, asked.text
    refused = service.post(
        f"/cases/{case_id}/rescission-refusals", {"reason": "genuine"}, APPROVER, "bob"
    )
    assert refused.status_code == 201, refused.text
    position = refused.json()["position"]
    assert pending(service, wait_for_position=position) == []
    case = service.get(f"/cases/{case_id}", AUDITOR, as_of="2019-05").json()
    assert (case["rescinded"], case["amount"]) == (False, "500.00")
    assert [d["kind"] for d in case["history"]][-1] == "RescissionRefused"


def test_an_approver_refuses_on_the_approvals_page(service: Service) -> None:
    relief_id = relief_awaiting_approval(service)
    client = sign_in(service, APPROVER, "bob")
    token = csrf_token(client, "/web/approvals")
    form = {"csrf_token": token, "reason": "duplicate request"}
    neither = client.post(f"/web/approvals/reliefs/{relief_id}", data=form)
    assert neither.status_code == 422
    answer = client.post(f"/web/approvals/reliefs/{relief_id}", data={**form, "decision": "refuse"})
    assert answer.status_code == 200, answer.text
    assert "已记录" in answer.text and relief_id not in answer.text
    relief = service.get(f"/reliefs/{relief_id}", AUDITOR).json()
    assert (relief["state"], relief["refused_by"]) == ("refused", "bob")
