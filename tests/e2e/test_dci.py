"""The DCI social registry interface over HTTP: search by identifier in the standard's
envelope, as of a month and as known at a time; the asynchronous flow and its transaction
status; a subscription to enrolments notified to a callback of the test's own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from api.core.identities import Role
from api.services.dci import DCI, DciNotifyTransport
from api.services.delivery import Connections, DeliveryWorker, RetryPolicy
from api.services.webhook_signatures import verify
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number

CASEWORKER, VIEWER = Role.CASEWORKER, Role.VIEWER
NUMBER = identity_number(date(1950, 5, 5), 7)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    with running(request.getfixturevalue(f"{request.param}_url")) as service:
        service.runtime.ledger.set_standard(
            "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        yield service


@pytest.fixture
def callback() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/on", received
    server.shutdown()
    server.server_close()


def envelope(action: str, message: dict[str, Any], sender_uri: str | None = None) -> dict[str, Any]:
    header = {
        "version": "1.0.0",
        "message_id": f"m-{action}",
        "message_ts": "2020-07-31T10:00:00+08:00",
        "action": action,
        "sender_id": "province.example.org",
        "receiver_id": "social-assistance-ledger",
        "total_count": 1,
        "is_msg_encrypted": False,
    }
    if sender_uri:
        header["sender_uri"] = sender_uri
    return {"signature": None, "header": header, "message": message}


def search_message(number: str, **criteria: str) -> dict[str, Any]:
    return {
        "transaction_id": "T-1",
        "search_request": [
            {
                "reference_id": "R-1",
                "timestamp": "2020-07-31T10:00:00+08:00",
                "search_criteria": {
                    "version": "1.0.0",
                    "query_type": "idtype-value",
                    "query": {"type": "UIN", "value": number},
                    **criteria,
                },
            }
        ],
    }


def grant(service: Service) -> dict[str, Any]:
    answer = service.post(
        "/cases",
        {
            "programme": "disability-living",
            "region": QIBIN,
            "effective": "2020-01",
            "grade": 1,
            "persons": [{"identity_number": NUMBER, "name": "某人"}],
            "reason": "certificate",
        },
        CASEWORKER,
    )
    assert answer.status_code == 201, answer.text
    service.runtime.read_side.wait_for(answer.json()["position"])
    body: dict[str, Any] = answer.json()
    return body


def test_a_search_by_identity_number_answers_the_programmes_and_amounts_as_known_then(
    service: Service,
) -> None:
    case = grant(service)
    answer = service.post(
        "/dci/registry/sync/search",
        envelope("search", search_message(NUMBER, as_of="2020-07")),
        VIEWER,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["header"]["action"], body["header"]["status"]) == ("on-search", "succ")
    assert body["header"]["receiver_id"] == "province.example.org"
    assert body["message"]["transaction_id"] == "T-1"
    item = body["message"]["search_response"][0]
    assert (item["reference_id"], item["status"]) == ("R-1", "succ")
    [record] = item["data"]["reg_records"]
    assert [(p["programme"], p["amount"], p["subject_id"]) for p in record["programmes"]] == [
        ("disability-living", "500.00", case["id"].replace("-", ""))
    ]
    assert NUMBER not in answer.text

    before = service.post(
        "/dci/registry/sync/search",
        envelope("search", search_message(NUMBER, as_of="2020-07", known_at="2019-12-31")),
        VIEWER,
    ).json()
    assert before["message"]["search_response"][0]["data"]["reg_records"] == []

    wrong = service.post(
        "/dci/registry/sync/search", envelope("search", search_message("12345")), VIEWER
    ).json()
    assert wrong["header"]["status"] == "rjct"
    assert wrong["message"]["search_response"][0]["status_reason_code"] == "rjct.query.invalid"


def test_an_asynchronous_search_is_acknowledged_called_back_and_kept_for_its_status(
    service: Service, callback: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    grant(service)
    url, received = callback
    ack = service.post(
        "/dci/registry/search",
        envelope("search", search_message(NUMBER, as_of="2020-07"), url),
        VIEWER,
    )
    assert ack.status_code == 200, ack.text
    assert (ack.json()["ack_status"], ack.json()["correlation_id"]) == ("ACK", "T-1")
    [(_, body)] = received
    on_search = json.loads(body)
    assert on_search["header"]["action"] == "on-search"
    assert on_search["message"]["search_response"][0]["data"]["reg_records"]

    status = service.post(
        "/dci/registry/sync/txn/status",
        envelope(
            "txn-status",
            {
                "transaction_id": "S-1",
                "txnstatus_request": {
                    "reference_id": "Q-1",
                    "txn_type": "search",
                    "attribute_type": "transaction_id",
                    "attribute_value": "T-1",
                },
            },
        ),
        VIEWER,
    ).json()
    assert status["header"]["status"] == "succ"
    [kept] = status["message"]["txnstatus_response"]["txn_status"]
    assert kept["response"]["message"]["search_response"] == on_search["message"]["search_response"]

    # Another user naming the same sender and transaction is told of nothing.
    theirs = service.client.post(
        "/dci/registry/sync/txn/status",
        json=status_request("search", "T-1"),
        headers=service.as_(VIEWER, "someone-else"),
    ).json()
    assert theirs["header"]["status"] == "rjct"
    assert theirs["message"]["txnstatus_response"]["txn_status"] == []


def status_request(txn_type: str, transaction_id: str) -> dict[str, Any]:
    return envelope(
        "txn-status",
        {
            "transaction_id": "S-1",
            "txnstatus_request": {
                "reference_id": "Q-1",
                "txn_type": txn_type,
                "attribute_type": "transaction_id",
                "attribute_value": transaction_id,
            },
        },
    )


def test_a_subscriber_to_enrolments_is_notified_of_each_grant_signed_and_can_unsubscribe(
    service: Service, callback: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = callback
    subscribe = {
        "transaction_id": "T-2",
        "subscribe_request": [
            {
                "reference_id": "R-2",
                "timestamp": "2020-07-31T10:00:00+08:00",
                "subscribe_criteria": {
                    "reg_event_type": "enrolment",
                    "filter": {"regions": [QIBIN]},
                },
            }
        ],
    }
    ack = service.post("/dci/registry/subscribe", envelope("subscribe", subscribe, url), VIEWER)
    assert ack.json()["ack_status"] == "ACK"
    on_subscribe = json.loads(received.pop()[1])
    [made] = on_subscribe["message"]["subscribe_response"][0]["subscriptions"]
    code, secret = made["code"], made["secret"]

    # The secret is shown once: the kept answer has the subscription without it, and the
    # database holds it sealed with the personal-data key.
    status = service.post(
        "/dci/registry/sync/txn/status", status_request("subscribe", "T-2"), VIEWER
    )
    [kept] = status.json()["message"]["txnstatus_response"]["txn_status"]
    [kept_made] = kept["response"]["message"]["subscribe_response"][0]["subscriptions"]
    assert kept_made["code"] == code
    assert "secret" not in kept_made
    [(sealed,)] = service.runtime.subscriptions.views.fetchall(
        "SELECT sealed_secret FROM subscriptions WHERE id = ?", (code,)
    )
    assert secret not in sealed
    assert secret.removeprefix("whsec_") not in sealed

    case = grant(service)
    runtime = service.runtime
    worker = DeliveryWorker(
        runtime.feed,
        runtime.subscriptions,
        {DCI: DciNotifyTransport(Connections(5))},
        RetryPolicy(),
    )
    assert runtime.subscriptions.lease(code, worker.name, 30)
    subscription = runtime.subscriptions.get(code)
    assert subscription is not None
    worker.deliver_page(subscription)
    [(headers, body)] = received
    verify(secret, headers, body)
    notify = json.loads(body)
    assert notify["header"]["action"] == "notify"
    [event] = notify["message"]["notify_event"]
    assert event["data"]["reg_event_type"] == "enrolment"
    assert event["data"]["reg_records"][0]["case_id"] == case["id"].replace("-", "")
    assert NUMBER not in body.decode()

    gone = service.post(
        "/dci/registry/unsubscribe",
        envelope("unsubscribe", {"transaction_id": "T-3", "subscription_codes": [code]}, url),
        VIEWER,
    )
    assert gone.json()["ack_status"] == "ACK"
    assert json.loads(received[-1][1])["message"]["subscription_status"][0]["status"] == (
        "unsubscribe"
    )
    cancelled = runtime.subscriptions.get(code)
    assert cancelled is not None and cancelled.state == "cancelled"
