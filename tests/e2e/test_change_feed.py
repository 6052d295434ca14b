"""The change feed over HTTP: CloudEvents in ledger order with the months and amounts that
moved, person references only, filters, roles, and the same feed as server-sent events
resuming from ``Last-Event-ID``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from api.core.identities import Role
from api.services.cloudevents import TYPE_PREFIX
from api.services.delivery import DeliveryWorker, RetryPolicy
from projections.reads.feed import Change
from projections.storage.subscriptions import Subscription
from tests.e2e.service import Service, running
from tests.support import HESHAN, QIBIN, identity_number

CASEWORKER, FINANCE, VIEWER, AUDITOR = Role.CASEWORKER, Role.FINANCE, Role.VIEWER, Role.AUDITOR
NUMBERS = [identity_number(date(1960, 1, 1), serial) for serial in range(1, 4)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    with running(request.getfixturevalue(f"{request.param}_url")) as service:
        for region in (QIBIN, HESHAN):
            service.post(
                f"/standards/dibao-urban/{region}",
                {"effective": "2020-01", "parameters": {"standard": "600"}, "reason": "notice"},
                FINANCE,
            )
        yield service


def grant(service: Service, serial: int, region: str = QIBIN) -> dict[str, Any]:
    """The one dibao grant of these tests, citing a verification of the household."""
    persons = [{"identity_number": NUMBERS[serial], "name": "王芳"}]
    answer = service.post(
        "/cases",
        {
            "programme": "dibao-urban",
            "region": region,
            "effective": "2020-03",
            "income": "200",
            "persons": persons,
            "verification_id": service.verified(persons),
            "reason": "application",
        },
        CASEWORKER,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def feed(service: Service, role: Role = AUDITOR, **params: Any) -> tuple[list[Any], int]:
    answer = service.get("/events", role, **params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/cloudevents-batch+json")
    events: list[Any] = answer.json()
    return events, int(answer.headers["Feed-Next-After"])


def caught_up(service: Service, position: int) -> None:
    service.runtime.read_side.wait_for(position)


def test_a_reassessment_is_announced_with_the_months_and_amounts_it_moved(
    service: Service,
) -> None:
    case = grant(service, 0)
    verified = service.verified([{"identity_number": NUMBERS[0]}], "300", case_id=case["id"])
    reassessed = service.post(
        f"/cases/{case['id']}/reassessments",
        {
            "effective": "2020-07",
            "changes": {"income": "300"},
            "verification_id": verified,
            "reason": "new job",
        },
        CASEWORKER,
    )
    assert reassessed.status_code == 201, reassessed.text
    caught_up(service, reassessed.json()["position"])

    events, _ = feed(service)
    kinds = [e["type"].removeprefix(TYPE_PREFIX) for e in events]
    assert kinds == ["standard.set", "standard.set", "case.granted", "case.reassessed"]
    last = events[-1]
    assert int(last["id"]) <= reassessed.json()["position"]
    assert last["subject"] == f"cases/{case['id'].replace('-', '')}"
    assert (last["programme"], last["region"], last["specversion"]) == (
        "dibao-urban",
        QIBIN,
        "1.0",
    )
    assert last["data"]["effect"]["months"] == [
        {
            "from": "2020-07",
            "to": None,
            "amount_before": "400.00",
            "amount_after": "300.00",
            "status_before": "paying",
            "status_after": "paying",
        }
    ]
    granted = events[2]["data"]
    assert granted["effect"]["months"][0]["from"] == "2020-03"
    assert granted["effect"]["months"][0]["amount_after"] == "400.00"
    assert len(granted["persons"]) == 1
    text = json.dumps(events, ensure_ascii=False)
    assert NUMBERS[0] not in text and "王芳" not in text and "new job" not in text


def test_a_consumer_that_resumes_after_its_last_position_misses_and_repeats_nothing(
    service: Service,
) -> None:
    positions = [grant(service, serial)["position"] for serial in range(3)]
    caught_up(service, positions[-1])
    seen: list[int] = []
    after = 0
    for _ in range(20):
        events, after = feed(service, after=after, limit=1)
        seen.extend(int(e["id"]) for e in events)
        if after == service.runtime.read_side.position:
            break
    everything, _ = feed(service, limit=1000)
    assert seen == [int(e["id"]) for e in everything]
    assert seen == sorted(set(seen))
    granted = [int(e["id"]) for e in everything if e["type"].endswith("case.granted")]
    bounds = [0, *positions]  # a decision answers the last position of its save
    assert [bounds[i] < granted[i] <= bounds[i + 1] for i in range(3)] == [True] * 3


def test_filters_by_programme_region_and_type_and_the_role_decides_what_is_seen(
    service: Service,
) -> None:
    grant(service, 0, QIBIN)
    heshan = grant(service, 1, HESHAN)
    requested = service.post(
        f"/cases/{heshan['id']}/rescission-requests", {"reason": "check"}, CASEWORKER
    )
    caught_up(service, requested.json()["position"])

    in_heshan, _ = feed(service, region=HESHAN)
    assert [e["type"].removeprefix(TYPE_PREFIX) for e in in_heshan] == [
        "standard.set",
        "case.granted",
        "case.rescission_requested",
    ]
    grants, _ = feed(service, type=f"{TYPE_PREFIX}case.granted")
    assert [e["region"] for e in grants] == [QIBIN, HESHAN]
    assert feed(service, programme="tekun")[0] == []
    viewer, _ = feed(service, VIEWER, region=HESHAN)
    assert "case.rescission_requested" not in {e["type"].removeprefix(TYPE_PREFIX) for e in viewer}

    unknown = service.get("/events", AUDITOR, type="case.vanished")
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "query.type"
    assert service.client.get("/events").status_code == 401


def test_a_reader_of_some_regions_sees_only_their_events_and_so_do_their_subscriptions(
    service: Service,
) -> None:
    grant(service, 0, QIBIN)
    caught_up(service, grant(service, 1, HESHAN)["position"])
    qibin_only = {"Authorization": f"Bearer {service.token(CASEWORKER, 'qb', [QIBIN])}"}

    answer = service.client.get("/events", headers=qibin_only)
    assert answer.status_code == 200, answer.text
    assert {e["region"] for e in answer.json()} == {QIBIN}
    outside = service.client.get("/events", params={"region": HESHAN}, headers=qibin_only)
    assert outside.status_code == 403
    assert HESHAN in outside.json()["detail"]

    created = service.client.post(
        "/subscriptions", json={"url": "http://127.0.0.1:9/hook", "after": 0}, headers=qibin_only
    )
    assert created.status_code == 201, created.text
    assert created.json()["served"] == [QIBIN]
    secret = created.json()["secret"]
    shown_again = service.client.get(f"/subscriptions/{created.json()['id']}", headers=qibin_only)
    assert "secret" not in shown_again.json()
    [(sealed,)] = service.runtime.subscriptions.views.fetchall(
        "SELECT sealed_secret FROM subscriptions WHERE id = ?", (created.json()["id"],)
    )
    assert secret.removeprefix("whsec_") not in sealed
    stored = service.runtime.subscriptions.get(created.json()["id"])
    assert stored is not None and stored.secret == secret
    refused = service.client.post(
        "/subscriptions",
        json={"url": "http://127.0.0.1:9/hook", "regions": [HESHAN]},
        headers=qibin_only,
    )
    assert refused.status_code == 403
    city_wide = service.client.post(
        "/subscriptions",
        json={"url": "http://127.0.0.1:9/hook", "after": 0},
        headers=service.as_(AUDITOR),
    )
    assert city_wide.json()["served"] is None

    delivered = {
        created.json()["id"]: deliver(service, created.json()["id"]),
        city_wide.json()["id"]: deliver(service, city_wide.json()["id"]),
    }
    assert [c.region for c in delivered[created.json()["id"]]] == [QIBIN, QIBIN]
    assert {c.region for c in delivered[city_wide.json()["id"]]} == {QIBIN, HESHAN}


def test_a_subscription_or_redelivery_past_the_ledgers_end_is_refused_and_stores_nothing(
    service: Service,
) -> None:
    end = grant(service, 0)["position"]
    caught_up(service, end)
    hook = "http://127.0.0.1:9/hook"
    past = f"position {end + 1} is past the ledger's end: the ledger is at position {end}"

    refused = service.post("/subscriptions", {"url": hook, "after": end + 1}, AUDITOR)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["type"], problem["field"]) == ("/problems/invalid-request", "body.after")
    assert past in problem["detail"]
    assert service.get("/subscriptions", AUDITOR).json() == []

    created = service.post("/subscriptions", {"url": hook, "after": end}, AUDITOR)
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    shown = service.get(f"/subscriptions/{subscription_id}", AUDITOR).json()
    again = service.post(
        f"/subscriptions/{subscription_id}/redeliveries", {"after": end + 1}, AUDITOR
    )
    assert again.status_code == 422
    assert (again.json()["field"], again.json()["type"]) == ("body.after", problem["type"])
    assert past in again.json()["detail"]
    assert service.get(f"/subscriptions/{subscription_id}", AUDITOR).json() == shown

    later = grant(service, 1)["position"]
    caught_up(service, later)
    announced = [c.position for c in service.runtime.feed.read(end, 100).changes]
    assert announced and end < announced[0] and announced[-1] <= later
    assert [c.position for c in deliver(service, subscription_id)] == announced


class Received:
    """A receiver that takes every delivery: what it was given, in order."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def send(self, subscription: Subscription, change: Change, body: bytes) -> int | None:
        self.changes.append(change)
        return 204


def deliver(service: Service, subscription_id: str) -> list[Change]:
    """One page of deliveries to a subscription, by the delivery worker."""
    runtime = service.runtime
    received = Received()
    worker = DeliveryWorker(
        runtime.feed, runtime.subscriptions, {"webhook": received}, RetryPolicy()
    )
    assert runtime.subscriptions.lease(subscription_id, worker.name, 30)
    subscription = runtime.subscriptions.get(subscription_id)
    assert subscription is not None
    worker.deliver_page(subscription)
    return received.changes


def test_the_stream_sends_server_sent_events_and_resumes_after_the_last_event_id(
    service: Service,
) -> None:
    positions = [grant(service, serial)["position"] for serial in range(3)]
    caught_up(service, positions[-1])
    headers = service.as_(AUDITOR)

    def stream(limit: int, **extra: str) -> list[tuple[str, str, dict[str, Any]]]:
        frames: list[tuple[str, str, dict[str, Any]]] = []
        with service.client.stream(
            "GET",
            "/events/stream",
            params={"limit": limit, "type": "case.granted"},
            headers={**headers, **extra},
        ) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            for block in answer.read().decode().split("\n\n"):
                fields = dict(
                    line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
                )
                if fields:
                    frames.append((fields["id"], fields["event"], json.loads(fields["data"])))
        return frames

    granted, _ = feed(service, type="case.granted")
    first = stream(2)
    assert [f[0] for f in first] == [e["id"] for e in granted[:2]]
    assert {f[1] for f in first} == {f"{TYPE_PREFIX}case.granted"}
    assert first[0][2]["id"] == first[0][0]
    resumed = stream(1, **{"Last-Event-ID": first[-1][0]})
    assert [f[0] for f in resumed] == [granted[2]["id"]]
