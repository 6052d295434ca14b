"""A verification that passes leaves a signed checkpoint, and the next one checks only the
signatures after it; the chain is still recomputed from the first event, so a row altered
before that checkpoint is refused all the same, and ``--full`` checks every signature.
Signatures checked in worker processes find what the walking process finds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services.verification import verify
from domain.application.recording import SaveAt
from domain.months import Month
from projections.reads import audit_chain
from projections.storage.checkpoints import stored
from projections.storage.event_table import EventTable as StoredEvents
from projections.storage.signing import seal
from tests.integration.event_tables import (
    EventTable,
    PostgresAsSuperuser,
    SQLiteFile,
    another_key,
    forged_exit,
)
from tests.integration.test_read_side import record_a_small_history
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, at, person, set_reference_standards


def grant_another(runtime: Runtime, number: int) -> UUID:
    """An elderly allowance granted from 2020-03."""
    return runtime.ledger.grant(
        "elderly-allowance",
        QIBIN,
        "2020-03",
        [person(date(1935, 3, 1), 900 + number)],
        actor="cw-1",
        reason="over 80",
    ).id


def checkpoints_stored(runtime: Runtime) -> list[int]:
    return [
        checkpoint.position
        for checkpoint in stored(StoredEvents.of(runtime.ledger.recorder))
        if not isinstance(checkpoint, str)
    ]


class IncrementalVerification:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def events(self, database_url: str) -> EventTable:
        raise NotImplementedError

    @pytest.fixture
    def runtime(self, database_url: str) -> Iterator[Runtime]:
        settings = Settings(database_url=database_url, verification_required_from=date(2021, 1, 1))
        with opened(settings, create=True) as runtime:
            ledger = runtime.ledger
            set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
            record_a_small_history(ledger)
            runtime.projector.catch_up()
            yield runtime

    def check(self, runtime: Runtime, *, full: bool = False) -> audit_chain.Verification:
        runtime.projector.catch_up()
        result = verify(
            runtime.ledger,
            runtime.views,
            runtime.read_side.position,
            full=full,
            mark=runtime.checkpointer,
        )
        return result.chain

    def test_the_next_verification_checks_only_the_signatures_after_the_last(
        self, runtime: Runtime
    ) -> None:
        first = self.check(runtime)
        assert first.ok, first.explanation
        assert (first.checked_earlier_through, first.signatures_checked) == (0, first.events)
        assert checkpoints_stored(runtime) == [first.head.position]

        grant_another(runtime, 1)
        grant_another(runtime, 2)
        second = self.check(runtime)
        assert second.ok, second.explanation
        assert second.checked_earlier_through == first.head.position
        assert second.signatures_checked == second.events - first.events > 0
        assert checkpoints_stored(runtime) == [first.head.position, second.head.position]

        full = self.check(runtime, full=True)
        assert full.ok
        assert (full.checked_earlier_through, full.signatures_checked) == (0, full.events)

    def test_an_event_altered_before_the_last_verification_is_refused_all_the_same(
        self, runtime: Runtime, events: EventTable
    ) -> None:
        verified = self.check(runtime)
        assert verified.ok
        grant_another(runtime, 1)
        altered = next(
            n.id
            for n in runtime.ledger.recorder.select_notifications(start=1, limit=1_000)
            if n.topic.endswith(":Case.Granted")
        )
        assert altered < verified.head.position
        state = events.state(altered)
        assert b'"actor":"' in state
        events.replace_state(altered, state.replace(b'"actor":"', b'"actor":"x', 1))

        result = self.check(runtime)
        assert result.first_difference == altered
        assert result.explanation == f"the event at position {altered} was altered"
        full = self.check(runtime, full=True)
        assert full.first_difference == altered
        assert "its signature does not match key 'development'" in full.explanation

    def test_worker_processes_name_the_event_signed_with_another_key(
        self, runtime: Runtime, events: EventTable
    ) -> None:
        case = grant_another(runtime, 1)
        forged = seal(forged_exit(runtime.ledger, case, Month.parse("2020-09")), another_key())
        appended = events.insert(None, forged)
        grant_another(runtime, 2)  # the forgery is not the last event

        for processes in (2, 1):
            result = audit_chain.verify(
                runtime.ledger.recorder, runtime.ledger.mapper, runtime.views, processes=processes
            )
            assert result.first_difference == appended, processes
            assert result.explanation == (
                f"the event at position {appended}: its signature does not match key 'development'"
            )


class TestIncrementalVerificationOnSQLite(OnSQLite, IncrementalVerification):
    @pytest.fixture
    def events(self, database_url: str) -> EventTable:
        return SQLiteFile(Path(database_url.removeprefix("sqlite:///")))


class TestIncrementalVerificationOnPostgreSQL(OnPostgreSQL, IncrementalVerification):
    @pytest.fixture
    def events(self, database_url: str) -> EventTable:
        return PostgresAsSuperuser(database_url)


def test_ledger_verify_full_checks_every_signature_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    with opened(Settings(database_url=url), create=True) as runtime:
        set_reference_standards(runtime.ledger)
    runner = CliRunner()
    first = runner.invoke(main, ["verify"])
    assert first.exit_code == 0, first.output
    head = first.stdout.split()[1]
    events = int(head.split(":")[0])
    assert f"{events} events: {events} signed (keys: development)" in first.output

    again = runner.invoke(main, ["verify"])
    assert again.exit_code == 0, again.output
    assert (
        f"{events} events: the signatures up to position {events} checked before its signed "
        "checkpoint, the 0 after it now" in again.output
    )
    full = runner.invoke(main, ["verify", "--full"])
    assert full.exit_code == 0, full.output
    assert f"{events} events: {events} signed (keys: development)" in full.output
