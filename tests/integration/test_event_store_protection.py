"""DESIGN section 8: the service role cannot change recorded events, and tampering by anyone
who can (a superuser bypassing the triggers, or anyone with the SQLite file) is named by the
audit chain at the position it happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError
from psycopg import sql

from domain.application.ledger import Ledger
from domain.cases.programmes import Programme
from domain.months import Month
from projections.engine.projector import Projector
from projections.engine.rebuild import rebuild_and_compare
from projections.reads.audit_chain import extend, verify
from projections.reads.checkpointing import Checkpointer
from projections.storage.database import PostgresViews, SQLiteViews, ViewDatabase
from projections.storage.event_table import EventTable as StoredEvents
from projections.storage.opening import open_views
from projections.storage.protection import (
    EVENT_COLUMNS,
    REBUILD_SCHEMA,
    create_service_role,
    protect_event_store,
)
from projections.storage.schema import CREATE_AUDIT_CHAIN
from projections.storage.signing import EventSignatures, UnverifiedEventError, signatures_of
from tests.integration.conftest import Roles, postgres_ledger
from tests.integration.event_tables import EventTable, PostgresAsSuperuser, SQLiteFile
from tests.support import QIBIN, ledger_at, person, set_reference_standards, verified_household

THREADS = 10
RAISED = b'"650.00"'
FORGED = b'"950.00"'
EVENTS = "public.ledger_events"
CHECKPOINTS = "public.ledger_checkpoints"
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES")
ROLE_ATTRIBUTES = "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles"


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(f"SELECT * FROM {EVENTS} ORDER BY notification_id").fetchall()


def checkpoint_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(f"SELECT * FROM {CHECKPOINTS} ORDER BY position").fetchall()


def signatures(ledger: Ledger) -> EventSignatures:
    found = signatures_of(ledger.mapper)
    assert found is not None
    return found


def record_history(ledger: Ledger) -> int:
    """Standards, a raise and two grants after it; the raise's position."""
    set_reference_standards(ledger)
    raised = ledger.set_standard(
        "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="finance-1", reason="raise"
    ).position
    couple = [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)]
    ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-08",
        couple,
        actor="cw-1",
        reason="household below the standard",
        income="300",
        verification_id=verified_household(ledger, couple, "300"),
    )
    ledger.grant(
        "elderly-allowance",
        QIBIN,
        "2020-08",
        [person(date(1930, 3, 3), 3)],
        actor="cw-1",
        reason="80+",
    )
    assert ledger.position > raised + 2
    return raised


def dibao_urban_standard(ledger: Ledger, month: str) -> Decimal:
    parameters = ledger.standards_in_force(Programme.DIBAO_URBAN, QIBIN, Month.parse(month))
    assert parameters is not None
    return parameters["standard"]


def keep_chain(views: ViewDatabase, ledger: Ledger) -> None:
    """The audit chain as the views keep it, over every event recorded so far."""
    with views.transaction() as cursor:
        for statement in CREATE_AUDIT_CHAIN:
            cursor.execute(statement)
        extend(cursor, StoredEvents.of(ledger.recorder).rows(1, ledger.position))


@pytest.mark.postgres
def test_service_and_owner_roles_are_plain_login_roles(roles: Roles, postgres_url: str) -> None:
    create_service_role(postgres_url, roles.service)  # again: idempotent
    with psycopg.connect(postgres_url) as admin:
        for role in (roles.owner, roles.service):
            attributes = admin.execute(f"{ROLE_ATTRIBUTES} WHERE rolname = %s", (role,))
            assert attributes.fetchall() == [(False, False, False, True)]


@pytest.mark.postgres
def test_service_role_records_decisions_without_creating_tables(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    record_history(service_ledger)
    assert dibao_urban_standard(service_ledger, "2020-07") == Decimal("650.00")
    with psycopg.connect(postgres_url) as admin:
        may_create, owned = admin.execute(
            "SELECT has_schema_privilege(%s, 'public', 'CREATE'),"
            " (SELECT count(*) FROM pg_class WHERE relowner = %s::regrole)",
            (roles.service, roles.service),
        ).fetchone() or (None, None)
    assert (may_create, owned) == (False, 0)


@pytest.mark.postgres
def test_service_role_records_decisions_from_many_threads_at_once(
    service_ledger: Ledger,
) -> None:
    set_reference_standards(service_ledger)
    before = service_ledger.position
    barrier = threading.Barrier(THREADS)
    positions: list[int] = []
    errors: list[BaseException] = []

    def grant(serial: int) -> None:
        barrier.wait()
        try:
            positions.append(
                service_ledger.grant(
                    "elderly-allowance",
                    QIBIN,
                    "2020-01",
                    [person(date(1930, 1, 1), serial)],
                    actor="cw-1",
                    reason="80+",
                ).position
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=grant, args=(serial,)) for serial in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(set(positions)) == THREADS
    recorded = service_ledger.recorder.select_notifications(start=before + 1, limit=1000)
    # Positions have no gaps, and each grant's events (its case, its person's index) are
    # consecutive: the exclusive table lock serialised the writers.
    ids = [n.id for n in recorded]
    assert ids == list(range(before + 1, before + 1 + len(ids)))
    per_grant = len(ids) // THREADS
    ends = sorted(positions)
    assert ends == list(range(before + per_grant, before + 1 + len(ids), per_grant))
    assert service_ledger.position == recorded[-1].id == max(positions)


@pytest.mark.postgres
def test_the_library_table_lock_is_why_the_service_role_has_update(
    service_ledger: Ledger, roles: Roles
) -> None:
    with psycopg.connect(roles.owner_url) as owner:
        owner.execute(
            sql.SQL("REVOKE UPDATE ON {} FROM {}").format(
                sql.Identifier("public", "ledger_events"), sql.Identifier(roles.service)
            )
        )
    with pytest.raises(ProgrammingError, match="permission denied"):
        set_reference_standards(service_ledger)
    assert service_ledger.position == 0


@pytest.mark.postgres
def test_service_role_cannot_update_delete_or_truncate_events(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    record_history(service_ledger)
    before = rows(postgres_url)
    refusals = {
        f"UPDATE {EVENTS} SET state = '\\x00'": "ledger events are immutable: UPDATE refused",
        f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state)"
        f" SELECT originator_id, originator_version, topic, '\\x00' FROM {EVENTS}"
        " ON CONFLICT (originator_id, originator_version) DO UPDATE SET state = excluded.state": (
            "ledger events are immutable: UPDATE refused"
        ),
        f"DELETE FROM {EVENTS}": "permission denied for table ledger_events",
        f"TRUNCATE {EVENTS}": "permission denied for table ledger_events",
    }
    with psycopg.connect(roles.service_url, autocommit=True) as service:
        for statement, message in refusals.items():
            with pytest.raises(psycopg.Error, match=message):
                service.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
    assert rows(postgres_url) == before


@pytest.mark.postgres
def test_the_triggers_refuse_changes_even_from_the_owner(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    record_history(service_ledger)
    before = rows(postgres_url)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        for statement, operation in (
            (f"UPDATE {EVENTS} SET state = '\\x00'", "UPDATE"),
            (f"DELETE FROM {EVENTS}", "DELETE"),
            (f"TRUNCATE {EVENTS}", "TRUNCATE"),
        ):
            with pytest.raises(
                psycopg.errors.RaiseException,
                match=f"ledger events are immutable: {operation} refused on ledger_events",
            ):
                owner.execute(statement)
    assert rows(postgres_url) == before


@pytest.mark.postgres
def test_protecting_twice_grants_the_service_role_only_what_the_library_needs(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    protect_event_store(postgres_url, roles.owner_url, roles.service)
    service_ledger.set_standard(
        "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="finance-1", reason="notice"
    )
    Checkpointer(service_ledger.recorder, signatures(service_ledger)).take()
    with psycopg.connect(postgres_url) as admin:
        granted = {
            table: {
                privilege
                for privilege in TABLE_PRIVILEGES
                if admin.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", (roles.service, table, privilege)
                ).fetchone()
                == (True,)
            }
            for table in (EVENTS, CHECKPOINTS)
        }
        insertable = [
            column
            for column in (*EVENT_COLUMNS, "notification_id")
            if admin.execute(
                "SELECT has_column_privilege(%s, %s, %s, 'INSERT')", (roles.service, EVENTS, column)
            ).fetchone()
            == (True,)
        ]
        sequence_privileges = admin.execute(
            "SELECT has_sequence_privilege(%(role)s, %(seq)s, 'USAGE'),"
            " has_sequence_privilege(%(role)s, %(seq)s, 'SELECT'),"
            " has_sequence_privilege(%(role)s, %(seq)s, 'UPDATE')",
            {"role": roles.service, "seq": "public.ledger_events_notification_id_seq"},
        ).fetchone()
        triggers = admin.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
            " WHERE tgrelid IN (%s::regclass, %s::regclass) AND NOT tgisinternal ORDER BY 1, 2",
            (EVENTS, CHECKPOINTS),
        ).fetchall()
        guards = admin.execute(
            "SELECT evtname, evtevent FROM pg_event_trigger ORDER BY evtname"
        ).fetchall()
    # INSERT only in the columns the library writes: never at a position of one's choosing.
    assert granted == {EVENTS: {"SELECT", "UPDATE"}, CHECKPOINTS: {"SELECT", "INSERT"}}
    assert insertable == list(EVENT_COLUMNS)
    assert sequence_privileges == (True, False, False)
    assert triggers == [
        ("ledger_checkpoints", "ledger_checkpoints_refuse_truncate"),
        ("ledger_checkpoints", "ledger_checkpoints_refuse_update_delete"),
        ("ledger_events", "ledger_events_refuse_truncate"),
        ("ledger_events", "ledger_events_refuse_update_delete"),
    ]
    assert guards == [("ledger_guard_ddl", "ddl_command_end"), ("ledger_guard_drop", "sql_drop")]


@pytest.mark.postgres
def test_the_service_role_cannot_insert_at_a_position_or_change_a_checkpoint(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    record_history(service_ledger)
    Checkpointer(service_ledger.recorder, signatures(service_ledger)).take()
    before = rows(postgres_url), checkpoint_rows(postgres_url)
    with psycopg.connect(roles.service_url, autocommit=True) as service:
        for position in (-1, 0, 10_000):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                service.execute(
                    f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state,"
                    " notification_id) SELECT originator_id, originator_version + 1000, topic,"
                    f" state, %s FROM {EVENTS} LIMIT 1",
                    (position,),
                )
        for statement in (
            f"UPDATE {CHECKPOINTS} SET record = ''",
            f"DELETE FROM {CHECKPOINTS}",
            f"TRUNCATE {CHECKPOINTS}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                service.execute(statement)
    assert (rows(postgres_url), checkpoint_rows(postgres_url)) == before


@pytest.mark.postgres
def test_the_owner_cannot_disable_drop_or_replace_what_refuses_changes(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    record_history(service_ledger)
    Checkpointer(service_ledger.recorder, signatures(service_ledger)).take()
    before = rows(postgres_url), checkpoint_rows(postgres_url)
    refused = (
        f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER",
        f"ALTER TABLE {EVENTS} DISABLE TRIGGER ledger_events_refuse_update_delete",
        f"ALTER TABLE {EVENTS} ENABLE REPLICA TRIGGER ledger_events_refuse_update_delete",
        f"DROP TRIGGER ledger_events_refuse_update_delete ON {EVENTS}",
        f"ALTER TABLE {EVENTS} DROP CONSTRAINT ledger_events_positions_start_at_1",
        f"CREATE RULE hide AS ON INSERT TO {EVENTS} DO INSTEAD NOTHING",
        f"CREATE TRIGGER rewrite BEFORE INSERT ON {EVENTS}"
        " FOR EACH ROW EXECUTE FUNCTION public.ledger_refuse_event_change()",
        f"ALTER TABLE {EVENTS} RENAME TO ledger_events_before",
        f"DROP TABLE {EVENTS}",
        f"ALTER TABLE {CHECKPOINTS} DISABLE TRIGGER USER",
        f"DROP TABLE {CHECKPOINTS}",
        "CREATE OR REPLACE FUNCTION public.ledger_refuse_event_change() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "DROP FUNCTION public.ledger_refuse_event_change() CASCADE",
        "DROP EVENT TRIGGER ledger_guard_ddl",
    )
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                owner.execute(statement)
        for statement in (
            f"UPDATE {EVENTS} SET state = '\\x00'",
            f"DELETE FROM {EVENTS}",
            f"DELETE FROM {CHECKPOINTS}",
            f"TRUNCATE {CHECKPOINTS}",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="ledger events are immutable"):
                owner.execute(statement)
        with pytest.raises(psycopg.errors.CheckViolation):
            owner.execute(
                f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state,"
                " notification_id) SELECT originator_id, originator_version + 1000, topic,"
                f" state, -1 FROM {EVENTS} LIMIT 1"
            )
    assert (rows(postgres_url), checkpoint_rows(postgres_url)) == before


@pytest.mark.postgres
def test_the_owner_still_opens_the_ledger_creating_its_tables_after_protect(
    service_ledger: Ledger, roles: Roles
) -> None:
    record_history(service_ledger)
    owner = postgres_ledger(roles.owner_url, create_tables=True)
    try:
        assert owner.position == service_ledger.position
    finally:
        owner.close()


@pytest.mark.postgres
def test_protect_refuses_an_admin_who_is_not_a_superuser(roles: Roles) -> None:
    postgres_ledger(roles.owner_url, create_tables=True).close()
    with pytest.raises(PermissionError, match="protect needs a superuser"):
        protect_event_store(roles.owner_url, roles.owner_url, roles.service)


@pytest.mark.postgres
def test_the_service_role_keeps_and_rebuilds_its_views_without_create_on_the_database(
    service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    record_history(service_ledger)
    with psycopg.connect(postgres_url) as admin:
        may_create = admin.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE')", (roles.service,)
        ).fetchone()
    assert may_create == (False,)
    views = open_views(service_ledger.env)
    scratch = open_views(service_ledger.env, schema=REBUILD_SCHEMA)
    try:
        projected = Projector(service_ledger.recorder, service_ledger.mapper, views).catch_up()
        assert projected == service_ledger.position
        differences = rebuild_and_compare(
            service_ledger.recorder, service_ledger.mapper, views, scratch
        )
    finally:
        scratch.close()
        views.close()
    assert differences == []


# Tampering that bypasses the triggers is found by the audit chain and the signatures.


class TamperDetection:
    @pytest.fixture
    def ledger(self) -> Ledger:
        raise NotImplementedError

    @pytest.fixture
    def views(self) -> ViewDatabase:
        raise NotImplementedError

    @pytest.fixture
    def events(self) -> EventTable:
        raise NotImplementedError

    def test_an_altered_event_is_named_by_its_position(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        raised = record_history(ledger)
        keep_chain(views, ledger)
        assert verify(ledger.recorder, ledger.mapper, views).ok
        state = events.state(raised)
        assert state.count(RAISED) == 1
        events.replace_state(raised, state.replace(RAISED, FORGED))

        # The ledger refuses to read the forged standard, whose signature no longer fits.
        with pytest.raises(UnverifiedEventError, match=f"at position {raised}|does not verify"):
            dibao_urban_standard(ledger, "2020-07")
        verification = verify(ledger.recorder, ledger.mapper, views)
        assert verification.first_difference == raised
        assert verification.explanation == (
            f"the event at position {raised}: its signature does not match key 'development'"
        )

    def test_a_deleted_event_is_named_by_its_position(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        raised = record_history(ledger)
        keep_chain(views, ledger)
        events.delete(raised)

        assert dibao_urban_standard(ledger, "2020-07") == Decimal("600.00")
        verification = verify(ledger.recorder, ledger.mapper, views)
        assert verification.first_difference == raised
        assert verification.explanation == f"position {raised} was deleted"

    def test_removing_the_last_events_is_found_only_against_an_expected_head(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        raised = record_history(ledger)
        keep_chain(views, ledger)
        expected = verify(ledger.recorder, ledger.mapper, views).head
        assert expected.position == ledger.position
        # Whoever can delete events can usually delete the kept chain's links as well.
        for position in range(raised + 1, ledger.position + 1):
            events.delete(position)
        with views.transaction() as cursor:
            cursor.execute("DELETE FROM audit_chain WHERE position > ?", (raised,))

        assert verify(ledger.recorder, ledger.mapper, views).ok
        verification = verify(ledger.recorder, ledger.mapper, views, expected)
        assert verification.first_difference == expected.position
        assert verification.head.position == raised
        assert "events were removed from the end" in verification.explanation


@pytest.mark.postgres
class TestTamperDetectionOnPostgreSQL(TamperDetection):
    @pytest.fixture
    def ledger(self, service_ledger: Ledger) -> Ledger:
        return service_ledger

    @pytest.fixture
    def views(self, postgres_url: str) -> Iterator[ViewDatabase]:
        views = PostgresViews(postgres_url)
        yield views
        views.close()

    @pytest.fixture
    def events(self, postgres_url: str) -> EventTable:
        return PostgresAsSuperuser(postgres_url)


class TestTamperDetectionOnSQLite(TamperDetection):
    @pytest.fixture
    def ledger(self, sqlite_url: str, tmp_path: Path) -> Iterator[Ledger]:
        assert sqlite_url.endswith(str(tmp_path / "ledger.db"))
        ledger = ledger_at(sqlite_url)
        yield ledger
        ledger.close()

    @pytest.fixture
    def views(self, tmp_path: Path) -> Iterator[ViewDatabase]:
        views = SQLiteViews(tmp_path / "views.db")
        yield views
        views.close()

    @pytest.fixture
    def events(self, tmp_path: Path) -> EventTable:
        return SQLiteFile(tmp_path / "ledger.db")
