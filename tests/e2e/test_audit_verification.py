"""``GET /audit/verification`` holds no request open over a large ledger: it sends it to a
verification in the background (303), and a verification asked for in full checks every
signature again, where one after a verification that passed checks only what follows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.support import OnPostgreSQL, OnSQLite, set_reference_standards


def finished(service: Service, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    job: dict[str, Any] = service.get(location, Role.AUDITOR).json()
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = service.get(location, Role.AUDITOR).json()
    assert job["state"] == "finished", job
    return job


class AuditVerification:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url, verify_inline_events=10) as service:
            set_reference_standards(service.runtime.ledger)  # 14 events
            yield service

    def test_a_ledger_above_the_inline_limit_is_sent_to_a_verification_in_the_background(
        self, service: Service
    ) -> None:
        asked = service.client.get(
            "/audit/verification", headers=service.as_(Role.AUDITOR), follow_redirects=False
        )
        assert asked.status_code == 303, asked.text
        location = asked.headers["location"]
        assert location.startswith("/audit/verifications/")
        job = finished(service, location)
        assert job["result"]["ok"] is True
        assert job["result"]["head"].startswith(f"{service.runtime.ledger.position}:")

    def test_a_full_verification_checks_every_signature_again(self, service: Service) -> None:
        first = service.client.post("/audit/verifications", headers=service.as_(Role.AUDITOR))
        assert first.status_code == 202, first.text
        head = finished(service, first.headers["location"])["result"]["head"]
        position = int(head.split(":")[0])

        again = service.client.post("/audit/verifications", headers=service.as_(Role.AUDITOR))
        result = finished(service, again.headers["location"])["result"]
        assert (result["ok"], result["signatures_checked_earlier_through"]) == (True, position)

        full = service.client.post(
            "/audit/verifications?full=true", headers=service.as_(Role.AUDITOR)
        )
        result = finished(service, full.headers["location"])["result"]
        assert (result["ok"], result["signatures_checked_earlier_through"]) == (True, 0)


class TestAuditVerificationOnSQLite(OnSQLite, AuditVerification):
    pass


class TestAuditVerificationOnPostgreSQL(OnPostgreSQL, AuditVerification):
    pass
