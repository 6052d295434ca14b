"""The library's own recorder test cases, run on the recorders as the service configures
them: from the ledger's settings, and on PostgreSQL with the database monitor's guard on
every connection attempt. They include the check that concurrent writers never let a
reader of the notification log miss an event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from api.database_health import DatabaseHealth
from domain.ledger import Ledger
from tests.support import OnPostgreSQL, OnSQLite, ledger_at


class _ServiceRecorders:
    """Each test gets a new, empty store, opened the way the service opens it."""

    url: str
    _ledgers: list[Ledger]
    _monitors: list[DatabaseHealth]

    @pytest.fixture(autouse=True)
    def _opened(self, database_url: str) -> Iterator[None]:
        self.url = database_url
        self._ledgers, self._monitors = [], []
        yield
        for monitor in self._monitors:
            monitor.stop()
        for ledger in self._ledgers:
            ledger.close()

    def create_recorder(self) -> Any:
        ledger = ledger_at(self.url)
        monitor = DatabaseHealth(ledger.env)
        monitor.guard(getattr(ledger.factory, "datastore", None))
        monitor.start()
        self._ledgers.append(ledger)
        self._monitors.append(monitor)
        recorder: ApplicationRecorder = ledger.factory.application_recorder()
        assert getattr(recorder, "datastore", None) is getattr(ledger.factory, "datastore", None)
        return recorder


class TestApplicationRecorderOnSQLite(
    OnSQLite, _ServiceRecorders, ApplicationRecorderTestCase[ApplicationRecorder]
):
    pass


class TestNonInterleavingOnSQLite(
    OnSQLite, _ServiceRecorders, NonInterleavingNotificationIDsBaseCase
):
    pass


class TestApplicationRecorderOnPostgreSQL(
    OnPostgreSQL, _ServiceRecorders, ApplicationRecorderTestCase[ApplicationRecorder]
):
    pass


class TestNonInterleavingOnPostgreSQL(
    OnPostgreSQL, _ServiceRecorders, NonInterleavingNotificationIDsBaseCase
):
    pass
