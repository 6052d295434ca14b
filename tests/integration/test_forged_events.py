"""Forged rows written by a superuser, who can write any row but holds no signing key: a
decision inserted below position 1 or appended after the head, an event signed with another
key, an altered event laundered by replaying the views, an event moved to the end, stored
checkpoints deleted. ``ledger verify`` names the position of each, and the command side
refuses to act on any of them. A superuser who holds the key is caught only by the
checkpoints exported before the rewrite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import Recording, StoredEvent

from api.core.replay_source import LedgerReplaySource
from domain.application.ledger import Ledger
from domain.months import Month
from projections.engine.parallel_replay import replay_in_processes
from projections.engine.projector import Projector
from projections.engine.rebuild import replay
from projections.reads.audit_chain import Head, Verification, verify
from projections.reads.checkpointing import Checkpointer
from projections.reads.read_side import ReadSide
from projections.storage import event_table
from projections.storage.checkpoints import Checkpoint
from projections.storage.checkpoints import store as store_checkpoint
from projections.storage.database import PostgresViews, SQLiteViews, ViewDatabase
from projections.storage.keys import Keyring
from projections.storage.opening import open_views
from projections.storage.schema import TRACKING_NAME, create_views, drop_views
from projections.storage.signing import (
    EVENT_CONTEXT,
    EventSignatures,
    UnverifiedEventError,
    open_envelope,
    seal,
    signatures_of,
)
from tests.integration.event_tables import (
    EventTable,
    PostgresAsSuperuser,
    SQLiteFile,
    another_key,
    forged_exit,
)
from tests.support import QIBIN, ledger_at, person, set_reference_standards, verified_household

EXIT = Month.parse("2020-09")
SCRATCH = "ledger_rebuild"


def signatures(ledger: Ledger) -> EventSignatures:
    found = signatures_of(ledger.mapper)
    assert found is not None
    return found


def grant_case(ledger: Ledger) -> UUID:
    """Standards, and an urban dibao household granted from 2020-08."""
    set_reference_standards(ledger)
    couple = [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)]
    return ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-08",
        couple,
        actor="cw-1",
        reason="household below the standard",
        income="300",
        verification_id=verified_household(ledger, couple, "300"),
    ).id


def position_of(ledger: Ledger, kind: str) -> int:
    """The position of the only event of ``kind`` (``Class.Event``)."""
    (found,) = [
        n.id
        for n in ledger.recorder.select_notifications(start=1, limit=ledger.position)
        if n.topic.endswith(f":{kind}")
    ]
    return found


def project(ledger: Ledger, views: ViewDatabase) -> Projector:
    projector = Projector(ledger.recorder, ledger.mapper, views)
    projector.catch_up()
    return projector


def check(
    ledger: Ledger,
    views: ViewDatabase,
    expected: Head | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> Verification:
    return verify(ledger.recorder, ledger.mapper, views, expected, checkpoints=checkpoints)


def on_roll(views: ViewDatabase, case: UUID, position: int) -> bool:
    roll = ReadSide(views).roll("dibao-urban", QIBIN, Month.parse("2020-10"), position)
    return case.hex in {entry.subject_id for entry in roll}


def checkpointed_then_altered(ledger: Ledger, events: EventTable) -> tuple[Checkpoint, int]:
    """A case granted and a checkpoint taken, then the grant's income altered in the
    store: the checkpoint, and the grant's position."""
    grant_case(ledger)
    checkpoint = Checkpointer(ledger.recorder, signatures(ledger)).take()
    assert checkpoint is not None
    granted = position_of(ledger, "Case.Granted")
    state = events.state(granted)
    events.replace_state(granted, state.replace(b'"300.00"', b'"100.00"'))
    return checkpoint, granted


def replayed_checking(
    ledger: Ledger, views: ViewDatabase, end: int, monkeypatch: pytest.MonkeyPatch
) -> int:
    """Replay the events up to ``end`` as ``ledger rebuild`` does; the signatures of events
    it checked."""
    checked: list[bytes] = []
    problem = Keyring.problem

    def counted(keyring: Keyring, key_id: str, context: bytes, *rest: bytes) -> str | None:
        if context == EVENT_CONTEXT:
            checked.append(rest[0])
        return problem(keyring, key_id, context, *rest)

    rebuilding = Ledger(ledger.env)  # as ledger rebuild opens it: nothing checked yet
    try:
        with monkeypatch.context() as patched:
            patched.setattr(Keyring, "problem", counted)
            assert replay(rebuilding.recorder, rebuilding.mapper, views, end) == end
    finally:
        rebuilding.close()
    return len(checked)


class Forgeries:
    @pytest.fixture
    def ledger(self) -> Ledger:
        raise NotImplementedError

    @pytest.fixture
    def views(self) -> ViewDatabase:
        raise NotImplementedError

    @pytest.fixture
    def events(self) -> EventTable:
        raise NotImplementedError

    # Point 1: rows outside the chain.

    def test_the_table_refuses_a_row_below_position_1_even_from_a_superuser(
        self, ledger: Ledger, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        forged = forged_exit(ledger, case, EXIT)
        for position in (-1, 0):
            with pytest.raises(
                (sqlite3.IntegrityError, psycopg.errors.CheckViolation), match="positions"
            ):
                events.insert(position, forged)
        assert ledger.case(case).closed_from is None

    def test_a_forged_exit_at_position_minus_1_is_named_by_verify_with_the_expected_head(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        project(ledger, views)
        expected = check(ledger, views).head
        events.drop_position_guard()
        assert events.insert(-1, forged_exit(ledger, case, EXIT)) == -1

        for head in (None, expected):
            result = check(ledger, views, head)
            assert result.first_difference == -1
            assert result.explanation.startswith(
                "an event is stored at position -1, outside the chain"
            )

    def test_the_command_side_refuses_a_forged_exit_instead_of_obeying_it(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        events.drop_position_guard()
        events.insert(-1, forged_exit(ledger, case, EXIT))
        before = ledger.position

        # Before signatures, this was refused as "the case is closed from 2020-09" (409),
        # obeying the forgery, while the roll still listed the case.
        with pytest.raises(UnverifiedEventError) as refused:
            ledger.suspend(case, "2020-10", actor="cw-1", reason="review")
        assert refused.value.position == -1
        assert str(refused.value).endswith("at position -1 does not verify: it is not signed")
        assert ledger.position == before
        projector = project(ledger, views)
        assert on_roll(views, case, projector.position)

    # Point 2: appended forgeries, and laundering.

    def test_an_event_appended_after_the_head_is_named_with_or_without_the_expected_head(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        project(ledger, views)
        expected = check(ledger, views).head
        appended = events.insert(None, forged_exit(ledger, case, EXIT))
        assert appended == expected.position + 1

        for head in (None, expected):
            result = check(ledger, views, head)
            assert result.first_difference == appended
            assert result.explanation == f"the event at position {appended}: it is not signed"
        # The views stop before it, and the command side will not load the case.
        with pytest.raises(UnverifiedEventError, match=f"at position {appended}"):
            project(ledger, views)
        with pytest.raises(UnverifiedEventError):
            ledger.case(case)

    def test_an_event_signed_with_a_key_the_ledger_does_not_hold_is_named(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        appended = events.insert(None, seal(forged_exit(ledger, case, EXIT), another_key()))

        result = check(ledger, views)
        assert result.first_difference == appended
        assert result.explanation == (
            f"the event at position {appended}: its signature does not match key 'development'"
        )
        with pytest.raises(UnverifiedEventError, match="does not match key 'development'"):
            ledger.case(case)

    def test_an_altered_event_stays_named_after_the_views_are_replayed(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        project(ledger, views)
        granted = position_of(ledger, "Case.Granted")
        state = events.state(granted)
        assert b'"300.00"' in state
        events.replace_state(granted, state.replace(b'"300.00"', b'"100.00"'))
        assert check(ledger, views).first_difference == granted

        # ledger rebuild --replace: drop the views and replay them from the events.
        drop_views(views)
        with pytest.raises(UnverifiedEventError, match=f"at position {granted}"):
            project(ledger, views)
        result = check(ledger, views)
        assert result.first_difference == granted
        assert result.explanation == (
            f"the event at position {granted}: its signature does not match key 'development'"
        )
        assert not on_roll(views, case, granted - 1)

    def test_an_event_altered_after_it_was_handed_to_the_projector_is_read_back_and_refused(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        granted = position_of(ledger, "Case.Granted")
        projector = Projector(ledger.recorder, ledger.mapper, views)
        # As an import hands its projector the events it has just saved.
        saved = ledger.recorder.select_notifications(start=1, limit=ledger.position)
        projector.offer([Recording(ledger.mapper.to_domain_event(n), n) for n in saved])
        state = events.state(granted)
        events.replace_state(granted, state.replace(b'"300.00"', b'"100.00"'))
        with pytest.raises(UnverifiedEventError, match=f"at position {granted}"):
            projector.catch_up()
        assert projector.position == granted - 1
        assert not on_roll(views, case, granted - 1)

    def test_a_replay_checks_every_signature_and_remembers_none(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        case = grant_case(ledger)
        end = ledger.position
        granted = position_of(ledger, "Case.Granted")
        # as ledger rebuild opens it: nothing checked or signed yet
        rebuilding = Ledger(ledger.env)
        try:
            assert replay(rebuilding.recorder, rebuilding.mapper, views, end) == end
            assert on_roll(views, case, end)
            assert len(signatures(rebuilding)._verified) == 0

            state = events.state(granted)
            events.replace_state(granted, state.replace(b'"300.00"', b'"100.00"'))
            with pytest.raises(UnverifiedEventError, match=f"at position {granted}"):
                replay(rebuilding.recorder, rebuilding.mapper, views, end)
            assert len(signatures(rebuilding)._verified) == 0
            # the ledger's own reads still remember what they checked
            (first,) = rebuilding.recorder.select_notifications(start=1, limit=1)
            rebuilding.mapper.to_domain_event(first)
            assert len(signatures(rebuilding)._verified) == 1
        finally:
            rebuilding.close()

    # A replay leaves unchecked only the signatures of the very rows a checkpoint signed.

    def test_a_replay_checks_only_the_signatures_after_a_checkpoint_the_chain_passes_through(
        self, ledger: Ledger, views: ViewDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        case = grant_case(ledger)
        checkpoint = Checkpointer(ledger.recorder, signatures(ledger)).take()
        assert checkpoint is not None
        ledger.suspend(case, "2020-10", actor="cw-1", reason="review")
        end = ledger.position

        assert replayed_checking(ledger, views, end, monkeypatch) == end - checkpoint.position
        assert on_roll(views, case, checkpoint.position)
        # Replayed only up to before the checkpoint, nothing vouches for the events.
        before = checkpoint.position - 1
        assert replayed_checking(ledger, views, before, monkeypatch) == checkpoint.count - 1

    def test_a_replay_checks_every_signature_when_a_row_before_the_checkpoint_was_deleted(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        events: EventTable,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        grant_case(ledger)
        checkpoint = Checkpointer(ledger.recorder, signatures(ledger)).take()
        assert checkpoint is not None
        # an event of a person's index, which the views do not show
        events.delete(
            next(
                n.id
                for n in ledger.recorder.select_notifications(start=1, limit=checkpoint.position)
                if ":PersonIndex." in n.topic
            )
        )

        checked = replayed_checking(ledger, views, checkpoint.position, monkeypatch)
        assert checked == checkpoint.count - 1

    def test_a_replay_refuses_an_event_altered_before_a_checkpoint(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        checkpoint, granted = checkpointed_then_altered(ledger, events)
        with pytest.raises(UnverifiedEventError, match=f"at position {granted}"):
            replay(ledger.recorder, ledger.mapper, views, checkpoint.position)

    def test_a_replay_trusts_no_checkpoint_signed_with_a_key_it_does_not_hold(
        self, ledger: Ledger, views: ViewDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        grant_case(ledger)
        head = check(ledger, views).head
        forged = Checkpoint.sign(another_key(), head.position, head.hash, head.position)
        store_checkpoint(event_table.EventTable.of(ledger.recorder), forged)

        assert replayed_checking(ledger, views, head.position, monkeypatch) == head.position

    def test_an_event_moved_to_the_end_is_named_where_it_was(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        grant_case(ledger)
        project(ledger, views)
        checkpoint = Checkpointer(ledger.recorder, signatures(ledger)).take()
        assert checkpoint is not None
        moved = ledger.position - 1
        row = events.row(moved)
        events.delete(moved)
        assert events.insert(None, row) > checkpoint.position  # its signature still fits it
        result = check(ledger, views)
        assert (result.first_difference, result.explanation) == (
            moved,
            f"position {moved} was deleted",
        )

        # With the kept chain replayed from the events, the checkpoint after it says so.
        drop_views(views)
        project(ledger, views)
        result = check(ledger, views)
        assert result.first_difference == checkpoint.position
        assert result.explanation == (
            f"the chain at position {checkpoint.position} differs from {checkpoint}: the "
            "history up to it was rewritten"
        )

    def test_a_checkpoint_exported_earlier_names_a_deletion_when_the_stored_ones_are_gone(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        grant_case(ledger)
        exported = Checkpointer(ledger.recorder, signatures(ledger)).take()
        assert exported is not None
        removed = exported.position
        events.delete(removed)
        events.delete_checkpoints()
        project(ledger, views)  # a kept chain that never held the deleted event
        assert check(ledger, views).ok

        result = check(ledger, views, checkpoints=[exported])
        assert result.first_difference == removed
        assert "events were removed from the end" in result.explanation

    def test_a_forged_checkpoint_is_named(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        grant_case(ledger)
        head = check(ledger, views).head
        forged = Checkpoint.sign(another_key(), head.position, head.hash, 99)
        result = check(ledger, views, checkpoints=[forged])
        assert result.first_difference == head.position
        assert "is forged: its signature does not match key 'development'" in result.explanation

    # Whoever holds the key can rewrite history; only what was exported before says so.

    def test_a_superuser_with_the_signing_key_is_caught_only_by_an_exported_checkpoint(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        grant_case(ledger)
        exported = Checkpointer(ledger.recorder, signatures(ledger)).take()
        assert exported is not None
        granted = position_of(ledger, "Case.Granted")
        row = events.row(granted)
        envelope = open_envelope(row.state)
        assert envelope is not None
        inner = envelope.inner.replace(b'"300.00"', b'"100.00"')
        resigned = StoredEvent(row.originator_id, row.originator_version, row.topic, inner)
        events.replace_state(granted, seal(resigned, signatures(ledger).keyring).state)
        events.delete_checkpoints()
        drop_views(views)
        project(ledger, views)

        assert check(ledger, views).ok
        result = check(ledger, views, checkpoints=[exported])
        assert result.first_difference == exported.position
        assert "the history up to it was rewritten" in result.explanation


@pytest.mark.postgres
class TestForgeriesOnPostgreSQL(Forgeries):
    """As the service role on protected tables; the forger is the server's superuser."""

    @pytest.fixture
    def ledger(self, service_ledger: Ledger) -> Ledger:
        return service_ledger

    @pytest.fixture
    def views(self, postgres_url: str) -> Iterator[ViewDatabase]:
        views = PostgresViews(postgres_url)
        create_views(views, TRACKING_NAME)
        yield views
        views.close()

    @pytest.fixture
    def events(self, postgres_url: str) -> EventTable:
        return PostgresAsSuperuser(postgres_url)


class TestForgeriesOnSQLite(Forgeries):
    """The forger writes the file directly."""

    @pytest.fixture
    def ledger(self, sqlite_url: str) -> Iterator[Ledger]:
        ledger = ledger_at(sqlite_url)
        yield ledger
        ledger.close()

    @pytest.fixture
    def views(self, tmp_path: Path) -> Iterator[ViewDatabase]:
        views = SQLiteViews(tmp_path / "views.db")
        create_views(views, TRACKING_NAME)
        yield views
        views.close()

    @pytest.fixture
    def events(self, tmp_path: Path) -> EventTable:
        return SQLiteFile(tmp_path / "ledger.db")

    def test_worker_processes_refuse_an_event_altered_before_a_checkpoint(
        self, ledger: Ledger, events: EventTable
    ) -> None:
        # On SQLite only: on PostgreSQL the service role may not make the workers' schemas.
        checkpoint, granted = checkpointed_then_altered(ledger, events)
        scratch = open_views(ledger.env, schema=SCRATCH)
        try:
            with pytest.raises(UnverifiedEventError, match=f"at position {granted}"):
                replay_in_processes(
                    ledger.recorder,
                    ledger.mapper,
                    scratch,
                    checkpoint.position,
                    2,
                    LedgerReplaySource.of(ledger, SCRATCH),
                )
        finally:
            scratch.close()
