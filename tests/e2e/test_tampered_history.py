"""A decision over a history someone changed outside the ledger is refused with a 503 and an
alarm, never obeyed; the auditors' verification names the position."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.core.identities import Role
from api.core.settings import Settings
from domain.months import Month
from projections.reads.checkpointing import export
from projections.storage.signing import signatures_of
from tests.e2e.service import Service, running
from tests.integration.event_tables import (
    EventTable,
    PostgresAsSuperuser,
    SQLiteFile,
    forged_exit,
)
from tests.support import (
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    person,
    set_reference_standards,
    verified_household,
)

NAME = "王秀英"


class TamperedHistory:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def events(self, database_url: str) -> EventTable:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            set_reference_standards(service.runtime.ledger)
            yield service

    def test_a_decision_over_a_forged_exit_is_refused_with_an_alarm(
        self, service: Service, events: EventTable, caplog: pytest.LogCaptureFixture
    ) -> None:
        ledger = service.runtime.ledger
        applicant = person(date(1980, 1, 1), 1, NAME)
        case = ledger.grant(
            "dibao-urban",
            QIBIN,
            "2020-08",
            [applicant],
            actor="cw-1",
            reason="x",
            income="300",
            verification_id=verified_household(ledger, [applicant], "300"),
        ).id
        events.drop_position_guard()
        events.insert(-1, forged_exit(ledger, case, Month.parse("2020-09")))
        position = ledger.position

        with caplog.at_level(logging.CRITICAL):
            answer = service.post(
                f"/cases/{case}/suspensions",
                {"effective": "2020-10", "reason": "moved away"},
                Role.CASEWORKER,
            )
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["title"] == "Ledger integrity alarm"
        assert "changed outside the ledger" in problem["detail"]
        assert "Retry-After" not in answer.headers
        assert ledger.position == position
        alarms = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
        assert any(
            message.startswith("ALARM: refused a request over an event that does not verify")
            and f"of {case} at position -1" in message
            for message in alarms
        ), alarms
        assert not any(NAME in m or applicant.identity_number in m for m in alarms)

        verification = service.get("/audit/verification", Role.AUDITOR)
        assert verification.status_code == 200, verification.text
        assert verification.json()["ok"] is False
        assert verification.json()["first_difference"] == -1


class TestTamperedHistoryOnSQLite(OnSQLite, TamperedHistory):
    @pytest.fixture
    def events(self, database_url: str) -> EventTable:
        return SQLiteFile(Path(database_url.removeprefix("sqlite:///")))


class TestTamperedHistoryOnPostgreSQL(OnPostgreSQL, TamperedHistory):
    @pytest.fixture
    def events(self, database_url: str) -> EventTable:
        return PostgresAsSuperuser(database_url)


def test_the_service_signs_checkpoints_as_it_records(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, checkpoint_every=10)
    with TestClient(create_app(settings)) as client:
        service = Service(client, settings)
        ledger = service.runtime.ledger
        set_reference_standards(ledger)  # 14 events
        signatures = signatures_of(ledger.mapper)
        assert signatures is not None
        deadline = time.monotonic() + 30
        while not (taken := export(ledger.recorder, signatures)):
            assert time.monotonic() < deadline, "no checkpoint was taken"
            time.sleep(0.05)
    # The poller may look between the saves of those events: the checkpoint is at the head
    # it found once 10 or more events were recorded, over every event up to it.
    ((position, count),) = [(c.position, c.count) for c in taken]
    assert 10 <= position <= 14
    assert count == position
    assert taken[0].problem(signatures.keyring) is None
