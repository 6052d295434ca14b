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
from tests.support import ledger_at


class _ServiceRecorders:
    """Each test gets a new, empty store, opened the way the service opens it."""

    database_url: str
    _ledgers: list[Ledger]
    _monitors: list[DatabaseHealth]

    @pytest.fixture(autouse=True)
    def _opened(self, database_url: str) -> Iterator[None]:
        self.database_url = database_url
        self._ledgers, self._monitors = [], []
        yield
        for monitor in self._monitors:
            monitor.stop()
        for ledger in self._ledgers:
            ledger.close()

    def create_recorder(self) -> Any:
        ledger = ledger_at(self.database_url)
        monitor = DatabaseHealth(ledger.env)
        monitor.guard(getattr(ledger.factory, "datastore", None))
        monitor.start()
        self._ledgers.append(ledger)
        self._monitors.append(monitor)
        recorder: ApplicationRecorder = ledger.factory.application_recorder()
        assert getattr(recorder, "datastore", None) is getattr(ledger.factory, "datastore", None)
        return recorder


class _OnSQLiteFile:
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class _OnPostgreSQL:
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


class TestApplicationRecorderOnSQLite(
    _OnSQLiteFile, _ServiceRecorders, ApplicationRecorderTestCase[ApplicationRecorder]
):
    pass


class TestNonInterleavingOnSQLite(
    _OnSQLiteFile, _ServiceRecorders, NonInterleavingNotificationIDsBaseCase
):
    pass


@pytest.mark.postgres
class TestApplicationRecorderOnPostgreSQL(
    _OnPostgreSQL, _ServiceRecorders, ApplicationRecorderTestCase[ApplicationRecorder]
):
    pass


@pytest.mark.postgres
class TestNonInterleavingOnPostgreSQL(
    _OnPostgreSQL, _ServiceRecorders, NonInterleavingNotificationIDsBaseCase
):
    pass
