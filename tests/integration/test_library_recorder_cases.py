"""The library's own recorder test cases, run on the recorders as the service configures
them: from the ledger's settings, and on PostgreSQL with the database monitor's guard on
every connection attempt. They include the check that concurrent writers never let a
reader of the notification log miss an event. On PostgreSQL the recorder is the ledger's
own, which saves in one round trip; on both, the ledger's recorders refuse positions below
1 and keep the signed checkpoints' table."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from domain.application.ledger import Ledger
from projections.storage.event_store import LedgerPostgresRecorder, LedgerSQLiteRecorder
from projections.storage.health import DatabaseHealth
from tests.support import OnPostgreSQL, OnSQLite, ledger_at


class _ServiceRecorders:
    """Each test gets a new, empty store, opened the way the service opens it."""

    url: str
    recorder_class: type[ApplicationRecorder]
    _ledgers: list[Ledger]
    _monitors: list[DatabaseHealth]

    @pytest.fixture(autouse=True)
    def _opened(self, database_url: str) -> Iterator[None]:
        self.url = database_url
        self._ledgers, self._monitors = [], []
        before = set(threading.enumerate())
        yield
        for monitor in self._monitors:
            monitor.stop()
        # The library's cases stop their reader threads without joining them; a reader
        # still inside SQLite when its connection closes would crash the interpreter.
        for thread in set(threading.enumerate()) - before:
            if not thread.daemon:  # the pools' own workers are daemons, ended by close()
                thread.join(timeout=30)
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
        assert type(recorder) is self.recorder_class
        assert getattr(recorder, "datastore", None) is getattr(ledger.factory, "datastore", None)
        return recorder


class TestApplicationRecorderOnSQLite(
    OnSQLite, _ServiceRecorders, ApplicationRecorderTestCase[ApplicationRecorder]
):
    recorder_class = LedgerSQLiteRecorder


class TestNonInterleavingOnSQLite(
    OnSQLite, _ServiceRecorders, NonInterleavingNotificationIDsBaseCase
):
    recorder_class = LedgerSQLiteRecorder


class TestApplicationRecorderOnPostgreSQL(
    OnPostgreSQL, _ServiceRecorders, ApplicationRecorderTestCase[ApplicationRecorder]
):
    recorder_class = LedgerPostgresRecorder


class TestNonInterleavingOnPostgreSQL(
    OnPostgreSQL, _ServiceRecorders, NonInterleavingNotificationIDsBaseCase
):
    recorder_class = LedgerPostgresRecorder


class TestEachSaveIsContiguousOnPostgreSQL(OnPostgreSQL, _ServiceRecorders):
    """A sharper race than the library's: many writers, many small saves. Each save's
    notification ids must be consecutive, as they are only when saves take the lock."""

    recorder_class = LedgerPostgresRecorder

    def test_concurrent_saves_never_interleave(self) -> None:
        recorder = self.create_recorder()
        start = threading.Barrier(4)
        saved: list[Sequence[int]] = []
        errors: list[BaseException] = []

        def write() -> None:
            try:
                start.wait()
                for _ in range(25):
                    originator = uuid4()
                    events = [
                        StoredEvent(originator, version, "contiguity-test", b"{}")
                        for version in range(1, 21)
                    ]
                    ids = recorder.insert_events(events)
                    assert ids is not None
                    saved.append(ids)
            except BaseException as error:
                errors.append(error)

        writers = [threading.Thread(target=write) for _ in range(4)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert errors == []
        assert len(saved) == 100
        for ids in saved:
            assert list(ids) == list(range(ids[0], ids[0] + 20))
