"""DESIGN section 8: the service role cannot change recorded events, and tampering by anyone
who can (a superuser bypassing the triggers, or anyone with the SQLite file) is named by the
audit chain at the position it happened."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError
from psycopg import sql

from api.core.settings import Settings
from domain.application.ledger import Ledger
from domain.cases.programmes import Programme
from domain.months import Month
from projections.reads.audit_chain import extend, verify
from projections.storage.database import PostgresViews, SQLiteViews, ViewDatabase
from projections.storage.protection import create_service_role, protect_event_store
from projections.storage.schema import CREATE_AUDIT_CHAIN
from tests.support import QIBIN, ledger_at, person, set_reference_standards

THREADS = 10
RAISED = b'"650.00"'
FORGED = b'"950.00"'
EVENTS = "public.ledger_events"
ROLE_ATTRIBUTES = "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles"


def url_as(url: str, role: str, password: str) -> str:
    """``url`` with ``role`` and ``password`` as its user."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{host}")
    )


def postgres_ledger(url: str, *, create_tables: bool) -> Ledger:
    return Ledger(Settings(database_url=url, create_tables=create_tables).ledger_env())


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(f"SELECT * FROM {EVENTS} ORDER BY notification_id").fetchall()


def record_history(ledger: Ledger) -> int:
    """Standards, a raise and two grants after it; the raise's position."""
    set_reference_standards(ledger)
    raised = ledger.set_standard(
        "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="finance-1", reason="raise"
    ).position
    ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-08",
        [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)],
        actor="cw-1",
        reason="household below the standard",
        income="300",
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
        extend(cursor, ledger.recorder.select_notifications(start=1, limit=ledger.position))


# PostgreSQL roles: an owner that creates the tables and a service role that records.


@dataclass(frozen=True)
class Roles:
    owner: str
    owner_url: str
    service: str
    service_url: str


@pytest.fixture
def roles(postgres_url: str) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:12]
    owner, service = f"ledger_own_{suffix}", f"ledger_svc_{suffix}"
    password = secrets.token_hex(16)
    try:
        for role in (owner, service):
            create_service_role(postgres_url, role, password)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # PostgreSQL < 15
            admin.execute(
                sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(owner))
            )
        yield Roles(
            owner,
            url_as(postgres_url, owner, password),
            service,
            url_as(postgres_url, service, password),
        )
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            for role in (service, owner):
                if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                    admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def service_ledger(roles: Roles) -> Iterator[Ledger]:
    """A Ledger running as the service role on tables the owner created and protected."""
    postgres_ledger(roles.owner_url, create_tables=True).close()
    protect_event_store(roles.owner_url, roles.service)
    ledger = postgres_ledger(roles.service_url, create_tables=False)
    yield ledger
    ledger.close()


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
    protect_event_store(roles.owner_url, roles.service)
    service_ledger.set_standard(
        "dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="finance-1", reason="notice"
    )
    table_privileges = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES")
    with psycopg.connect(postgres_url) as admin:
        granted = {
            privilege
            for privilege in table_privileges
            if admin.execute(
                "SELECT has_table_privilege(%s, %s, %s)", (roles.service, EVENTS, privilege)
            ).fetchone()
            == (True,)
        }
        sequence_privileges = admin.execute(
            "SELECT has_sequence_privilege(%(role)s, %(seq)s, 'USAGE'),"
            " has_sequence_privilege(%(role)s, %(seq)s, 'SELECT'),"
            " has_sequence_privilege(%(role)s, %(seq)s, 'UPDATE')",
            {"role": roles.service, "seq": "public.ledger_events_notification_id_seq"},
        ).fetchone()
        triggers = admin.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal"
            " ORDER BY tgname",
            (EVENTS,),
        ).fetchall()
    assert granted == {"SELECT", "INSERT", "UPDATE"}
    assert sequence_privileges == (True, False, False)
    assert triggers == [
        ("ledger_events_refuse_truncate",),
        ("ledger_events_refuse_update_delete",),
    ]


# Tampering that bypasses the triggers is found by the audit chain.


class EventTable(Protocol):
    """Direct access to the stored events, bypassing the ledger and any trigger."""

    def state(self, position: int) -> bytes: ...

    def replace_state(self, position: int, state: bytes) -> None: ...

    def delete(self, position: int) -> None: ...


class PostgresAsSuperuser:
    def __init__(self, admin_url: str) -> None:
        self._url = admin_url

    def _execute(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(self._url, autocommit=True) as connection:
            connection.execute("SET session_replication_role = replica")
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def state(self, position: int) -> bytes:
        found = self._execute(f"SELECT state FROM {EVENTS} WHERE notification_id = %s", (position,))
        return bytes(found[0][0])

    def replace_state(self, position: int, state: bytes) -> None:
        self._execute(
            f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s", (state, position)
        )

    def delete(self, position: int) -> None:
        self._execute(f"DELETE FROM {EVENTS} WHERE notification_id = %s", (position,))


class SQLiteFile:
    """The library's SQLite table is ``stored_events``; a position is its rowid."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _execute(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self._path)
        try:
            with connection:
                return connection.execute(statement, params).fetchall()
        finally:
            connection.close()

    def state(self, position: int) -> bytes:
        found = self._execute("SELECT state FROM stored_events WHERE rowid = ?", (position,))
        return bytes(found[0][0])

    def replace_state(self, position: int, state: bytes) -> None:
        self._execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, position))

    def delete(self, position: int) -> None:
        self._execute("DELETE FROM stored_events WHERE rowid = ?", (position,))


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
        assert verify(ledger.recorder, views).ok
        state = events.state(raised)
        assert state.count(RAISED) == 1
        events.replace_state(raised, state.replace(RAISED, FORGED))

        # The ledger itself cannot tell: it now reads the forged standard.
        assert dibao_urban_standard(ledger, "2020-07") == Decimal("950.00")
        verification = verify(ledger.recorder, views)
        assert verification.first_difference == raised
        assert verification.explanation == f"the event at position {raised} was altered"

    def test_a_deleted_event_is_named_by_its_position(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        raised = record_history(ledger)
        keep_chain(views, ledger)
        events.delete(raised)

        assert dibao_urban_standard(ledger, "2020-07") == Decimal("600.00")
        verification = verify(ledger.recorder, views)
        assert verification.first_difference == raised
        assert verification.explanation == f"position {raised} was deleted"

    def test_removing_the_last_events_is_found_only_against_an_expected_head(
        self, ledger: Ledger, views: ViewDatabase, events: EventTable
    ) -> None:
        raised = record_history(ledger)
        keep_chain(views, ledger)
        expected = verify(ledger.recorder, views).head
        assert expected.position == ledger.position
        # Whoever can delete events can usually delete the kept chain's links as well.
        for position in range(raised + 1, ledger.position + 1):
            events.delete(position)
        with views.transaction() as cursor:
            cursor.execute("DELETE FROM audit_chain WHERE position > ?", (raised,))

        assert verify(ledger.recorder, views).ok
        verification = verify(ledger.recorder, views, expected)
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
