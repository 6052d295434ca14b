"""Clients of a server under test: bursts of grants with Idempotency-Keys, their retries,
and what the ledger says it holds for each person."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scripts.loadtest import (
    EFFECTIVE,
    PROGRAMME,
    REGION,
    Answer,
    Client,
    Decision,
    grant_body,
    identity_number,
)
from tests.processes import Server

GIVE_UP_SECONDS = 120


def set_standard(server: Server) -> None:
    client = Client(server.url, server.token("finance-1", "finance"))
    answer = client.request(
        "POST",
        f"/standards/{PROGRAMME}/{REGION}",
        {"effective": "2019-01", "parameters": {"standard": "500"}, "reason": "notice"},
    )
    client.close()
    assert answer.status == 201, answer


@dataclass
class Burst:
    """Client threads, each granting to new people until told to stop."""

    server: Server
    clients: int
    stop_on_no_answer: bool = False
    decisions: list[Decision] = field(default_factory=list)
    persons: dict[str, int] = field(default_factory=dict)  # key -> person index
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _next: int = 0

    def start(self) -> None:
        for number in range(self.clients):
            thread = threading.Thread(target=self._send, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(GIVE_UP_SECONDS)

    def _person(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def _send(self, number: int) -> None:
        user = f"caseworker-{number}"
        client = Client(self.server.url, self.server.token(user, "caseworker"), timeout=60)
        sent = 0
        while not self.stopping.is_set():
            sent += 1
            index = self._person()
            decision = Decision(user, f"burst-{number}-{sent}", "/cases", grant_body(index))
            decision.first = decision.final = client.request(
                "POST", "/cases", decision.body, {"Idempotency-Key": decision.key}
            )
            with self._lock:
                self.decisions.append(decision)
                self.persons[decision.key] = index
            if decision.first.status == 0 and self.stop_on_no_answer:
                break
            if decision.first.status == 503:
                time.sleep(0.2)
        client.close()

    def acknowledged(self) -> list[Decision]:
        with self._lock:
            return [d for d in self.decisions if d.first and 200 <= d.first.status < 300]

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(0.05)


def retry(server: Server, decision: Decision) -> Answer:
    """Send the decision again with its key until it is answered with anything but a 503."""
    client = Client(server.url, server.token(decision.user, "caseworker"), timeout=60)
    deadline = time.monotonic() + GIVE_UP_SECONDS
    try:
        while True:
            answer = client.request(
                "POST", decision.path, decision.body, {"Idempotency-Key": decision.key}
            )
            if answer.status not in (0, 503) or time.monotonic() > deadline:
                return answer
            time.sleep(0.5)
    finally:
        client.close()


def ledger_position(server: Server) -> int:
    client = Client(server.url, server.token("auditor-1", "auditor"))
    answer = client.request("GET", "/ready")
    client.close()
    assert answer.status == 200, answer
    position: int = answer.body["ledger_position"]
    return position


def cases_of(server: Server, person: int, position: int) -> list[str]:
    """The cases the person holds, read once the views reach ``position``."""
    client = Client(server.url, server.token("auditor-1", "auditor"), timeout=60)
    answer = client.request(
        "POST",
        f"/entitlements/search?as_of={EFFECTIVE}&wait_for_position={position}",
        {"identity_number": identity_number(person)},
    )
    client.close()
    assert answer.status == 200, answer
    return [e["subject_id"] for e in answer.body["entitlements"]]


def hex_id(answer: Answer | None) -> Any:
    assert answer is not None and answer.status == 201, answer
    return answer.body["id"].replace("-", "")
