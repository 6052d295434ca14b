"""The verification platform is outside the ledger: requests wait in the outbox while it is
down, slow or failing, decisions that do not need it go on, and a request completes once the
platform recovers, its answer recorded as the verification."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.core.identities import Role
from api.services.verification_platform import (
    Backoff,
    HttpVerificationPlatform,
    PlatformUnavailableError,
    VerificationOutbox,
)
from domain.months import BUREAU_TIME_ZONE, Month
from tests.e2e.fake_platform import FakePlatform, fake_platform
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

CASEWORKER = Role.CASEWORKER
TIMEOUT_SECONDS = 0.5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def household() -> list[dict[str, str]]:
    return [
        {"identity_number": identity_number(date(1980, 1, 1), n), "name": f"成员{n}"}
        for n in (1, 2)
    ]


class PlatformOutage:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            ledger = service.runtime.ledger
            for programme, parameters in (
                ("dibao-urban", {"standard": "600"}),
                ("disability-living", {"standard": "500"}),
            ):
                ledger.set_standard(programme, QIBIN, "2019-01", parameters, actor="f", reason="n")
            yield service

    @pytest.fixture
    def platform(self) -> Iterator[FakePlatform]:
        with fake_platform() as platform:
            yield platform

    def outbox(self, service: Service, url: str, clock: Clock) -> VerificationOutbox:
        runtime = service.runtime
        return VerificationOutbox(
            runtime.ledger,
            runtime.read_side,
            HttpVerificationPlatform(url, TIMEOUT_SECONDS),
            lambda: runtime.read_side.wait_for(runtime.ledger.position, timeout=10),
            backoff=Backoff(first=10, ceiling=60),
            clock=clock,
        )

    def dibao(self, service: Service, verification: str) -> Any:
        return service.post(
            "/cases",
            {
                "programme": "dibao-urban",
                "region": QIBIN,
                "effective": str(Month.at(datetime.now(BUREAU_TIME_ZONE))),
                "persons": household(),
                "income": "200",
                "verification_id": verification,
                "reason": "applied",
            },
            CASEWORKER,
        )

    def test_a_request_waits_out_errors_and_timeouts_and_completes_when_the_platform_recovers(
        self, service: Service, platform: FakePlatform
    ) -> None:
        requested = service.post(
            "/verification-requests",
            {"identity_numbers": [p["identity_number"] for p in household()]},
            CASEWORKER,
        )
        assert requested.status_code == 201, requested.text
        verification = requested.json()["id"]
        shown = service.get(f"/verifications/{verification}", CASEWORKER).json()
        assert shown["state"] == "requested" and shown["per_capita_income"] is None
        refused = self.dibao(service, verification)
        assert refused.status_code == 422
        assert "has not answered yet" in refused.json()["detail"]

        clock = Clock()
        outbox = self.outbox(service, platform.url, clock)
        platform.behaviours.extend(["error", "slow"])
        assert outbox.send_due().waiting == 1  # 503
        # A decision that needs no verification goes on while the platform is down.
        other = service.post(
            "/cases",
            {
                "programme": "disability-living",
                "region": QIBIN,
                "effective": str(Month.at(datetime.now(BUREAU_TIME_ZONE))),
                "grade": 2,
                "persons": [
                    {"identity_number": identity_number(date(1970, 1, 1), 9), "name": "甲"}
                ],
                "reason": "certificate",
            },
            CASEWORKER,
        )
        assert other.status_code == 201, other.text
        assert outbox.send_due().waiting == 1  # not asked again before its wait is over
        assert len(platform.requests) == 1
        clock.now += 10
        assert outbox.send_due().waiting == 1  # too slow: past the timeout
        assert len(platform.requests) == 2
        clock.now += 10
        assert outbox.send_due().waiting == 1  # waits twice as long after a second failure
        assert len(platform.requests) == 2
        clock.now += 10
        done = outbox.send_due()
        assert (done.answered, done.waiting) == (1, 0)
        assert len(platform.requests) == 3
        assert {r["request_id"] for r in platform.requests} == {verification}

        shown = service.get(f"/verifications/{verification}", CASEWORKER).json()
        assert shown["state"] == "answered"
        assert shown["per_capita_income"] == "200.00" and shown["level"] == "city"
        assert shown["report_id"] == f"CITY-{verification[:8]}"
        granted = self.dibao(service, verification)
        assert granted.status_code == 201, granted.text
        assert outbox.send_due().waiting == 0
        assert len(platform.requests) == 3

    def test_a_slow_answer_within_the_timeout_is_an_answer(self, platform: FakePlatform) -> None:
        platform.behaviours.append("slow")
        numbers = [p["identity_number"] for p in household()]
        answer = HttpVerificationPlatform(platform.url, timeout_seconds=10).verify(uuid4(), numbers)
        assert [m.identity_number for m in answer.members] == numbers
        assert answer.level == "city" and answer.made_on == platform.made_on

    def test_a_platform_that_cannot_be_reached_keeps_the_request(self, service: Service) -> None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        with pytest.raises(PlatformUnavailableError, match="unreachable"):
            HttpVerificationPlatform(url, TIMEOUT_SECONDS).verify(uuid4(), ["x"])
        requested = service.post(
            "/verification-requests",
            {"identity_numbers": [p["identity_number"] for p in household()]},
            CASEWORKER,
        )
        outbox = self.outbox(service, url, Clock())
        assert outbox.send_due().waiting == 1
        assert service.runtime.ledger.verification(UUID(requested.json()["id"])).answer is None


class TestOnSQLite(OnSQLite, PlatformOutage):
    pass


class TestOnPostgreSQL(OnPostgreSQL, PlatformOutage):
    pass
